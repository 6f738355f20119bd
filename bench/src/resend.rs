//! A sender's lines until they are safe, the way PROTOCOL.md 12.5 asks a
//! client to keep them, so that a benchmark's senders lose nothing and
//! show nothing twice across a failover.
//!
//! Every line gets a `cid`. It is kept until its `ack`, and then until the
//! server has been heard from [`RELAY_GRACE`] after the ack (the relay has
//! sent it and repaired any loss). After a rejoin everything kept is sent
//! again, in the order typed; the servers' deduplication by (name, cid)
//! drops what the cluster had already numbered. The terminal client's own
//! outbox (`src/client/outbox`) is private to the library, hence this
//! small copy of its rule.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How long after its `ack` a line still counts as unsafe
/// (PROTOCOL.md 12.5, `RELAY_GRACE`).
pub const RELAY_GRACE: Duration = Duration::from_secs(1);

/// One kept line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kept {
    pub cid: u64,
    /// The sender's own counter of the line (what its text carries).
    pub counter: u64,
    /// When its `ack` came, on the current connection.
    acked: Option<Instant>,
}

/// The lines of one sender not yet known to be safe.
#[derive(Debug, Clone)]
pub struct Outbox {
    next_cid: u64,
    kept: VecDeque<Kept>,
}

impl Outbox {
    /// An outbox whose cids start at `first_cid` (random per session, never 0).
    pub fn new(first_cid: u64) -> Outbox {
        Outbox {
            next_cid: first_cid.max(1),
            kept: VecDeque::new(),
        }
    }

    /// Keeps line `counter`; returns its cid.
    pub fn push(&mut self, counter: u64) -> u64 {
        let cid = self.next_cid;
        self.next_cid = self.next_cid.wrapping_add(1).max(1);
        self.kept.push_back(Kept {
            cid,
            counter,
            acked: None,
        });
        cid
    }

    /// The server acknowledged `cid` at `now`.
    pub fn ack(&mut self, cid: u64, now: Instant) {
        if let Some(k) = self.kept.iter_mut().find(|k| k.cid == cid) {
            k.acked.get_or_insert(now);
        }
    }

    /// The server was heard from at `now`: lines acknowledged at least
    /// [`RELAY_GRACE`] before are safe and forgotten.
    pub fn heard(&mut self, now: Instant) {
        self.kept.retain(|k| {
            k.acked
                .is_none_or(|at| now.duration_since(at) < RELAY_GRACE)
        });
    }

    /// After a rejoin: every kept line, in the order typed, to send again
    /// (their acks from the lost server no longer count).
    pub fn resend(&mut self) -> Vec<Kept> {
        for k in &mut self.kept {
            k.acked = None;
        }
        self.kept.iter().copied().collect()
    }

    /// Lines not acknowledged yet (on this connection).
    pub fn unacked(&self) -> usize {
        self.kept.iter().filter(|k| k.acked.is_none()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_kept_until_heard_from_a_grace_after_its_ack() {
        let t0 = Instant::now();
        let mut out = Outbox::new(7);
        let a = out.push(0);
        let b = out.push(1);
        assert_eq!((a, b), (7, 8));
        out.ack(a, t0);
        out.heard(t0 + Duration::from_millis(500));
        assert_eq!(out.resend().len(), 2, "within the grace both are kept");
        out.ack(a, t0);
        out.heard(t0 + RELAY_GRACE);
        let again = out.resend();
        assert_eq!(again.len(), 1, "a is safe now");
        assert_eq!((again[0].cid, again[0].counter), (b, 1));
        assert_eq!(out.unacked(), 1);
    }

    #[test]
    fn a_resend_forgets_the_lost_servers_acks() {
        let t0 = Instant::now();
        let mut out = Outbox::new(0);
        let a = out.push(0);
        assert_eq!(a, 1, "cid 0 is never used");
        out.ack(a, t0);
        assert_eq!(out.unacked(), 0);
        assert_eq!(out.resend().len(), 1);
        assert_eq!(out.unacked(), 1, "to be acknowledged by the new server");
        out.heard(t0 + RELAY_GRACE * 5);
        assert_eq!(out.resend().len(), 1, "unacknowledged lines stay");
    }
}
