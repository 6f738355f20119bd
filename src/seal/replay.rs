//! Replay rejection for sealed datagrams: a sliding window of datagram
//! counters per sender session, and a bounded table of sessions.
//!
//! Every sealing server picks a random 16-byte *session* id at start and
//! numbers its datagrams 1, 2, 3 … within it. A receiver accepts a counter
//! once: anything newer than the highest seen moves the window forward; an
//! older one within [`WINDOW`] is accepted if not seen yet (UDP reorders);
//! anything older is refused. This is the IPsec / WireGuard anti-replay
//! scheme (RFC 6479's bitmap indexed by counter modulo the window).
//!
//! A session's entry must outlive every chance of a replay passing the
//! freshness check, or a replay after expiry would look new. The freshness
//! check refuses a datagram stamped `ts` once the receiver's clock passes
//! `ts + tolerance`; so an entry is kept until the receiver's clock passes
//! `newest stamp seen + tolerance`, and only then dropped. The table holds at
//! most `max_senders` live entries; only authenticated datagrams create one.
//!
//! Pure: no clock, no I/O. Times are milliseconds since the Unix epoch,
//! passed in.

use std::collections::HashMap;

/// Counters tracked behind the newest one.
pub const WINDOW: u64 = 1024;
const WORDS: usize = (WINDOW / 64) as usize;

/// A sender session id: random per sealing process.
pub type SessionId = [u8; 16];

/// Why a counter was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayError {
    /// Seen before (within the window), or counter 0, which no sender uses.
    Replayed,
    /// Older than the window can tell.
    TooOld,
    /// A new session, but the table is full of live ones.
    TableFull,
}

/// The anti-replay window of one session.
#[derive(Debug, Clone)]
pub struct ReplayWindow {
    highest: u64,
    seen: [u64; WORDS],
}

impl Default for ReplayWindow {
    fn default() -> Self {
        ReplayWindow {
            highest: 0,
            seen: [0; WORDS],
        }
    }
}

impl ReplayWindow {
    /// Whether `counter` would be accepted. Changes nothing.
    pub fn check(&self, counter: u64) -> Result<(), ReplayError> {
        if counter == 0 {
            return Err(ReplayError::Replayed);
        }
        if counter > self.highest {
            return Ok(());
        }
        if self.highest - counter >= WINDOW {
            return Err(ReplayError::TooOld);
        }
        if self.bit(counter) {
            Err(ReplayError::Replayed)
        } else {
            Ok(())
        }
    }

    /// Records `counter` as seen; call only after [`ReplayWindow::check`]
    /// passed and the datagram was authenticated.
    pub fn accept(&mut self, counter: u64) {
        if counter > self.highest {
            let advance = counter - self.highest;
            if advance >= WINDOW {
                self.seen = [0; WORDS];
            } else {
                for c in self.highest + 1..counter {
                    self.clear(c);
                }
            }
            self.highest = counter;
        }
        let (word, bit) = slot(counter);
        self.seen[word] |= 1 << bit;
    }

    fn bit(&self, counter: u64) -> bool {
        let (word, bit) = slot(counter);
        self.seen[word] & (1 << bit) != 0
    }

    fn clear(&mut self, counter: u64) {
        let (word, bit) = slot(counter);
        self.seen[word] &= !(1 << bit);
    }
}

fn slot(counter: u64) -> (usize, u32) {
    let index = counter % WINDOW;
    ((index / 64) as usize, (index % 64) as u32)
}

#[derive(Debug, Clone)]
struct Sender {
    window: ReplayWindow,
    /// Newest send stamp accepted from this session (ms since the epoch).
    newest_stamp: u64,
}

/// The replay windows of every sender session heard recently.
#[derive(Debug)]
pub struct Senders {
    sessions: HashMap<SessionId, Sender>,
    max_senders: usize,
    tolerance_ms: u64,
}

impl Senders {
    /// An empty table of at most `max_senders` live sessions, for a
    /// freshness tolerance of `tolerance_ms`.
    pub fn new(max_senders: usize, tolerance_ms: u64) -> Senders {
        Senders {
            sessions: HashMap::new(),
            max_senders: max_senders.max(1),
            tolerance_ms,
        }
    }

    /// Whether `(session, counter)` would be accepted at `now_ms`. Changes
    /// nothing.
    pub fn check(&self, session: &SessionId, counter: u64, now_ms: u64) -> Result<(), ReplayError> {
        match self.sessions.get(session) {
            Some(s) => s.window.check(counter),
            None if counter == 0 => Err(ReplayError::Replayed),
            None if self.sessions.len() < self.max_senders => Ok(()),
            None if self.sessions.values().any(|s| self.expired(s, now_ms)) => Ok(()),
            None => Err(ReplayError::TableFull),
        }
    }

    /// Records an authenticated, fresh datagram that passed
    /// [`Senders::check`].
    pub fn accept(&mut self, session: SessionId, counter: u64, stamp: u64, now_ms: u64) {
        if !self.sessions.contains_key(&session) && self.sessions.len() >= self.max_senders {
            self.expire(now_ms);
        }
        let sender = self.sessions.entry(session).or_insert_with(|| Sender {
            window: ReplayWindow::default(),
            newest_stamp: stamp,
        });
        sender.window.accept(counter);
        sender.newest_stamp = sender.newest_stamp.max(stamp);
    }

    /// Drops sessions that no replay could reach any more.
    pub fn expire(&mut self, now_ms: u64) {
        let tolerance = self.tolerance_ms;
        self.sessions
            .retain(|_, s| now_ms <= s.newest_stamp.saturating_add(tolerance));
    }

    /// How many sessions are tracked.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// True if no session is tracked.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    fn expired(&self, s: &Sender, now_ms: u64) -> bool {
        now_ms > s.newest_stamp.saturating_add(self.tolerance_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(w: &mut ReplayWindow, c: u64) -> Result<(), ReplayError> {
        w.check(c)?;
        w.accept(c);
        Ok(())
    }

    #[test]
    fn accepts_each_counter_once_in_any_order_within_the_window() {
        let mut w = ReplayWindow::default();
        assert_eq!(take(&mut w, 0), Err(ReplayError::Replayed));
        for c in [5, 3, 4, 1, 2, 10, 7] {
            assert_eq!(take(&mut w, c), Ok(()), "first sight of {c}");
        }
        for c in [1, 2, 3, 4, 5, 7, 10] {
            assert_eq!(take(&mut w, c), Err(ReplayError::Replayed), "replay of {c}");
        }
        assert_eq!(take(&mut w, 6), Ok(()));
        assert_eq!(take(&mut w, 10 + WINDOW - 1), Ok(()));
        // 10 is now the oldest still in the window, 9 is behind it.
        assert_eq!(take(&mut w, 10), Err(ReplayError::Replayed));
        assert_eq!(take(&mut w, 9), Err(ReplayError::TooOld));
        assert_eq!(take(&mut w, 11), Ok(()), "never seen, still inside");
    }

    #[test]
    fn a_big_jump_forgets_everything_behind_it() {
        let mut w = ReplayWindow::default();
        for c in 1..=2000 {
            take(&mut w, c).unwrap();
        }
        take(&mut w, 1_000_000).unwrap();
        assert_eq!(take(&mut w, 2000), Err(ReplayError::TooOld));
        assert_eq!(take(&mut w, 1_000_000 - 5), Ok(()));
        assert_eq!(take(&mut w, 1_000_000), Err(ReplayError::Replayed));
        take(&mut w, u64::MAX).unwrap();
        assert_eq!(take(&mut w, u64::MAX), Err(ReplayError::Replayed));
    }

    #[test]
    fn matches_a_simple_model_under_random_reordering() {
        let mut rng = fastrand::Rng::with_seed(11);
        let mut w = ReplayWindow::default();
        let mut seen = std::collections::HashSet::new();
        let mut highest = 0u64;
        for _ in 0..50_000 {
            let c = (highest + 3).saturating_sub(rng.u64(0..1500)).max(1);
            let want = if seen.contains(&c) {
                Err(ReplayError::Replayed)
            } else if highest >= WINDOW && c <= highest - WINDOW {
                Err(ReplayError::TooOld)
            } else {
                Ok(())
            };
            assert_eq!(take(&mut w, c), want, "counter {c}, highest {highest}");
            if want.is_ok() {
                seen.insert(c);
                highest = highest.max(c);
            }
        }
    }

    #[test]
    fn sessions_are_bounded_and_expire_after_the_tolerance() {
        let mut t = Senders::new(2, 1000);
        t.accept([1; 16], 1, 10_000, 10_000);
        t.accept([2; 16], 1, 10_000, 10_000);
        assert_eq!(t.check(&[3; 16], 1, 10_500), Err(ReplayError::TableFull));
        assert_eq!(t.check(&[1; 16], 1, 10_500), Err(ReplayError::Replayed));
        // Past newest stamp + tolerance, no replay of those sessions could
        // pass the freshness check, so their slots may be reused.
        assert_eq!(t.check(&[3; 16], 1, 11_001), Ok(()));
        t.accept([3; 16], 1, 11_001, 11_001);
        assert!(t.len() <= 2);
        t.expire(20_000);
        assert!(t.is_empty());
    }
}
