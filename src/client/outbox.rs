//! Typed lines until they are safe: the client half of acknowledged sends.
//!
//! Every line gets a client id (`cid`) when it is typed: a random 64-bit
//! start, then +1 per line, so ids are unique for the whole session across
//! failovers and no two clients are likely to share one. A line is
//! *unsent* (waiting for a connection or for the pacer), *in flight* (sent,
//! not yet acknowledged) or *acknowledged*. After a failover everything the
//! outbox still holds is sent again, in the order it was typed and before
//! anything typed later; the servers' deduplication on (name, cid) makes
//! that safe.
//!
//! An acknowledged line is kept a little longer ([`RELAY_GRACE`]): the
//! server acknowledges a line once it is numbered, which can be a moment
//! before the line has left for the other servers. If the server dies in
//! that moment, only a resend saves the line; once the server has been
//! heard from [`RELAY_GRACE`] after the acknowledgement (the chat loop
//! pings a quiet one to find out), its relay has long sent (and, under
//! loss, repaired) it, and the line is dropped.
//! Pure: the caller passes the time.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How long after acknowledging a line a server must still be heard from
/// before the line counts as relayed: ten of the relay's 100 ms status
/// rounds, time for any loss to be noticed and repaired.
pub const RELAY_GRACE: Duration = Duration::from_secs(1);

/// Where a line is on its way to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not sent on the current connection yet.
    Unsent,
    /// Sent; no `ack` yet.
    InFlight,
    /// Acknowledged at this instant; kept until the server has been heard
    /// from for [`RELAY_GRACE`] after it.
    Acked(Instant),
}

/// One typed line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Its client id.
    pub cid: u64,
    /// What was typed.
    pub text: String,
    state: State,
    /// Whether the line is on screen as a chat line (its echo was shown).
    pub shown: bool,
    /// Whether it was shown as pending.
    pub pending_shown: bool,
}

/// The lines not yet known to be safe, in the order they were typed.
#[derive(Debug, Clone)]
pub struct Outbox {
    next_cid: u64,
    lines: VecDeque<Line>,
}

impl Outbox {
    /// An empty outbox whose first line gets `first_cid` (0 is "no cid" on
    /// the relay, so it is skipped).
    pub fn starting_at(first_cid: u64) -> Outbox {
        Outbox {
            next_cid: first_cid.max(1),
            lines: VecDeque::new(),
        }
    }

    /// An empty outbox with a random first cid, below 2^63 so the session
    /// can never wrap around.
    pub fn random() -> Outbox {
        Outbox::starting_at(fastrand::u64(1..1 << 63))
    }

    /// Adds a typed line; returns its cid.
    pub fn push(&mut self, text: String) -> u64 {
        let cid = self.next_cid;
        self.next_cid += 1;
        self.lines.push_back(Line {
            cid,
            text,
            state: State::Unsent,
            shown: false,
            pending_shown: false,
        });
        cid
    }

    /// The first unsent line, marked sent. With `ack` it is kept until
    /// acknowledged; without, there is nothing to wait for and it is dropped.
    pub fn send_next(&mut self, acks: bool) -> Option<(u64, String)> {
        let at = self.lines.iter().position(|l| l.state == State::Unsent)?;
        if !acks {
            return self.lines.remove(at).map(|l| (l.cid, l.text));
        }
        let line = &mut self.lines[at];
        line.state = State::InFlight;
        Some((line.cid, line.text.clone()))
    }

    /// Whether a line waits to be sent.
    pub fn has_unsent(&self) -> bool {
        self.lines.iter().any(|l| l.state == State::Unsent)
    }

    /// Whether a sent line waits for its `ack`.
    pub fn awaiting_ack(&self) -> bool {
        self.lines.iter().any(|l| l.state == State::InFlight)
    }

    /// How many lines have not been acknowledged (unsent or in flight).
    pub fn undelivered(&self) -> usize {
        self.lines
            .iter()
            .filter(|l| !matches!(l.state, State::Acked(_)))
            .count()
    }

    /// The line with this cid, if the outbox still holds it.
    pub fn get_mut(&mut self, cid: u64) -> Option<&mut Line> {
        self.lines.iter_mut().find(|l| l.cid == cid)
    }

    /// The oldest line in flight: the one the server answers next.
    pub fn first_in_flight(&mut self) -> Option<&mut Line> {
        self.lines.iter_mut().find(|l| l.state == State::InFlight)
    }

    /// The server numbered line `cid` at `now`. Returns the line, which
    /// stays for [`RELAY_GRACE`].
    pub fn acked(&mut self, cid: u64, now: Instant) -> Option<&mut Line> {
        let line = self.get_mut(cid)?;
        if line.state == State::InFlight {
            line.state = State::Acked(now);
        }
        Some(line)
    }

    /// The server refused line `cid` for good (invalid, or the name is
    /// gone): it leaves the outbox.
    pub fn refused(&mut self, cid: u64) -> Option<Line> {
        let at = self.lines.iter().position(|l| l.cid == cid)?;
        self.lines.remove(at)
    }

    /// The server dropped line `cid` for now (rate limit): send it again.
    pub fn retry(&mut self, cid: u64) {
        if let Some(line) = self.get_mut(cid) {
            line.state = State::Unsent;
        }
    }

    /// When the oldest acknowledged line still held was acknowledged: the
    /// server must be heard from [`RELAY_GRACE`] after that for it to leave.
    pub fn unconfirmed_since(&self) -> Option<Instant> {
        self.lines
            .iter()
            .filter_map(|l| match l.state {
                State::Acked(at) => Some(at),
                _ => None,
            })
            .min()
    }

    /// The server was heard from at `heard`: acknowledged lines that old
    /// enough are safe and leave.
    pub fn confirm(&mut self, heard: Instant) {
        self.lines.retain(|l| match l.state {
            State::Acked(at) => heard < at + RELAY_GRACE,
            _ => true,
        });
    }

    /// The connection is gone: everything held is to be sent again on the
    /// next one, in the order it was typed.
    pub fn resend_all(&mut self) {
        for line in &mut self.lines {
            line.state = State::Unsent;
        }
    }

    /// Unsent lines not on screen in any form yet, marked as shown pending:
    /// what a terminal prints as `[PENDING] text`.
    pub fn newly_pending(&mut self) -> Vec<String> {
        self.lines
            .iter_mut()
            .filter(|l| l.state == State::Unsent && !l.shown && !l.pending_shown)
            .map(|l| {
                l.pending_shown = true;
                l.text.clone()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(outbox: &mut Outbox, acks: bool) -> Vec<String> {
        std::iter::from_fn(|| outbox.send_next(acks).map(|(_, t)| t)).collect()
    }

    #[test]
    fn cids_count_up_from_the_start_and_skip_zero() {
        let mut outbox = Outbox::starting_at(0);
        assert_eq!(outbox.push("a".into()), 1);
        assert_eq!(outbox.push("b".into()), 2);
        let random = Outbox::random();
        assert!(random.next_cid >= 1 && random.next_cid < 1 << 63);
    }

    #[test]
    fn lines_go_out_in_order_and_leave_once_safe() {
        let t0 = Instant::now();
        let mut outbox = Outbox::starting_at(10);
        for text in ["a", "b", "c"] {
            outbox.push(text.into());
        }
        assert_eq!(outbox.send_next(true), Some((10, "a".into())));
        assert_eq!(outbox.send_next(true), Some((11, "b".into())));
        assert!(outbox.has_unsent() && outbox.awaiting_ack());
        assert_eq!(outbox.first_in_flight().unwrap().cid, 10);
        assert_eq!(outbox.unconfirmed_since(), None);
        outbox.acked(10, t0).unwrap();
        outbox.acked(11, t0 + Duration::from_millis(5)).unwrap();
        assert_eq!(outbox.unconfirmed_since(), Some(t0));
        assert_eq!(outbox.undelivered(), 1);
        // Heard from just before the grace ends: "a" stays, in case the
        // server dies before its relay sends it.
        outbox.confirm(t0 + RELAY_GRACE - Duration::from_millis(1));
        assert!(outbox.get_mut(10).is_some());
        outbox.confirm(t0 + RELAY_GRACE);
        assert!(outbox.get_mut(10).is_none());
        assert_eq!(
            outbox.unconfirmed_since(),
            Some(t0 + Duration::from_millis(5))
        );
        assert_eq!(texts(&mut outbox, true), ["c"]);
    }

    #[test]
    fn after_failover_everything_held_goes_again_before_new_lines() {
        let t0 = Instant::now();
        let mut outbox = Outbox::starting_at(1);
        for text in ["a", "b", "c"] {
            outbox.push(text.into());
        }
        texts(&mut outbox, true);
        outbox.acked(1, t0).unwrap().shown = true;
        // The server is lost; "d" is typed while reconnecting.
        outbox.resend_all();
        outbox.push("d".into());
        // "a" is on screen already; "b", "c" (never echoed) and "d" are pending.
        assert_eq!(outbox.newly_pending(), ["b", "c", "d"]);
        assert!(outbox.newly_pending().is_empty(), "shown as pending once");
        assert_eq!(texts(&mut outbox, true), ["a", "b", "c", "d"]);
    }

    #[test]
    fn refused_lines_leave_and_rate_limited_ones_go_again() {
        let mut outbox = Outbox::starting_at(1);
        outbox.push("bad".into());
        outbox.push("later".into());
        texts(&mut outbox, true);
        assert_eq!(outbox.refused(1).unwrap().text, "bad");
        outbox.retry(2);
        assert_eq!(texts(&mut outbox, true), ["later"]);
        assert!(outbox.refused(99).is_none() && outbox.acked(99, Instant::now()).is_none());
    }

    #[test]
    fn without_acks_a_sent_line_is_gone() {
        let mut outbox = Outbox::starting_at(1);
        outbox.push("a".into());
        assert_eq!(texts(&mut outbox, false), ["a"]);
        assert_eq!(outbox.undelivered(), 0);
        outbox.resend_all();
        assert!(!outbox.has_unsent());
    }
}
