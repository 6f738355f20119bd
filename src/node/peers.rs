//! Static peers (`--peer`) that never answer, reported so that a typo or a
//! firewall does not pass silently: a warning once a peer has been silent
//! for [`UNREACHABLE_AFTER`], repeated at most every [`REWARN_EVERY`], and
//! a note when it answers after all.
//!
//! Sans-IO: [`PeerWatch::check`] is fed the time and returns what to say;
//! the node logs it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A static peer silent this long (since start, or since it was last
/// heard) is reported.
pub const UNREACHABLE_AFTER: Duration = Duration::from_secs(5);

/// A peer that stays silent is reported again at most this often.
pub const REWARN_EVERY: Duration = Duration::from_secs(300);

/// What the node should log about a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerNotice {
    /// Nothing heard from it for this long.
    Silent(SocketAddr, Duration),
    /// Heard from it after it had been reported silent.
    Answered(SocketAddr),
}

#[derive(Debug)]
struct Peer {
    addr: SocketAddr,
    /// Last datagram from it, or the start.
    heard: Instant,
    /// When it was last reported silent, if it has been since last heard.
    warned: Option<Instant>,
}

/// The static peers and when each was last heard.
#[derive(Debug)]
pub struct PeerWatch {
    peers: Vec<Peer>,
}

impl PeerWatch {
    /// Watches `peers` from `now` on.
    pub fn new(peers: &[SocketAddr], now: Instant) -> PeerWatch {
        PeerWatch {
            peers: peers
                .iter()
                .map(|&addr| Peer {
                    addr,
                    heard: now,
                    warned: None,
                })
                .collect(),
        }
    }

    /// A datagram (that opened) came from `from`. Returns a notice if that
    /// peer had been reported silent.
    pub fn heard(&mut self, from: SocketAddr, now: Instant) -> Option<PeerNotice> {
        let peer = self.peers.iter_mut().find(|p| same(p.addr, from))?;
        peer.heard = now;
        peer.warned.take().map(|_| PeerNotice::Answered(peer.addr))
    }

    /// What is due to be reported at `now`.
    pub fn check(&mut self, now: Instant) -> Vec<PeerNotice> {
        let mut out = Vec::new();
        for p in &mut self.peers {
            let silent = now.saturating_duration_since(p.heard);
            let due = match p.warned {
                None => silent >= UNREACHABLE_AFTER,
                Some(at) => now.saturating_duration_since(at) >= REWARN_EVERY,
            };
            if due {
                p.warned = Some(now);
                out.push(PeerNotice::Silent(p.addr, silent));
            }
        }
        out
    }

    /// When [`PeerWatch::check`] next has something to say, if ever.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.peers
            .iter()
            .map(|p| match p.warned {
                None => p.heard + UNREACHABLE_AFTER,
                Some(at) => at + REWARN_EVERY,
            })
            .min()
    }
}

/// One peer address: IPv4-mapped IPv6 sources count as their IPv4 address.
fn same(a: SocketAddr, b: SocketAddr) -> bool {
    let canon = |s: SocketAddr| (s.ip().to_canonical(), s.port());
    canon(a) == canon(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "127.0.0.1:7001";
    const B: &str = "127.0.0.1:7002";

    #[test]
    fn a_silent_peer_is_reported_once_then_rarely() {
        let t0 = Instant::now();
        let (a, b) = (A.parse().unwrap(), B.parse().unwrap());
        let mut watch = PeerWatch::new(&[a, b], t0);
        assert!(watch.check(t0 + Duration::from_secs(4)).is_empty());
        assert_eq!(watch.heard(b, t0 + Duration::from_secs(4)), None);
        let at5 = t0 + UNREACHABLE_AFTER;
        assert_eq!(
            watch.check(at5),
            vec![PeerNotice::Silent(a, UNREACHABLE_AFTER)]
        );
        assert_eq!(
            watch.next_deadline(),
            Some(t0 + Duration::from_secs(9)),
            "b's turn"
        );
        assert!(
            watch.check(at5 + Duration::from_secs(1)).is_empty(),
            "not again soon"
        );
        let later = at5 + REWARN_EVERY;
        assert_eq!(watch.heard(b, later), None, "b keeps talking");
        let notices = watch.check(later);
        assert_eq!(notices, vec![PeerNotice::Silent(a, later - t0)], "a, again");
    }

    #[test]
    fn a_peer_that_answers_is_noted_and_watched_afresh() {
        let t0 = Instant::now();
        let a: SocketAddr = A.parse().unwrap();
        let mut watch = PeerWatch::new(&[a], t0);
        assert_eq!(watch.check(t0 + UNREACHABLE_AFTER).len(), 1);
        let t1 = t0 + Duration::from_secs(7);
        assert_eq!(watch.heard(a, t1), Some(PeerNotice::Answered(a)));
        assert_eq!(watch.heard(a, t1), None, "said once");
        assert!(watch.check(t1 + Duration::from_secs(4)).is_empty());
        assert_eq!(watch.check(t1 + UNREACHABLE_AFTER).len(), 1, "silent again");
    }

    #[test]
    fn mapped_addresses_are_the_same_peer() {
        let t0 = Instant::now();
        let a: SocketAddr = A.parse().unwrap();
        let mut watch = PeerWatch::new(&[a], t0);
        watch.check(t0 + UNREACHABLE_AFTER);
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:7001".parse().unwrap();
        assert_eq!(
            watch.heard(mapped, t0 + UNREACHABLE_AFTER),
            Some(PeerNotice::Answered(a))
        );
        assert!(PeerWatch::new(&[], t0).next_deadline().is_none());
    }
}
