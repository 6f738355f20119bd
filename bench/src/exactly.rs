//! Checking that every chat line reached a client exactly once.
//!
//! A line is named by its sender's index and the sender's own counter
//! (0, 1, 2, … in the order typed), which the line's text carries, so the
//! check holds across failovers: a line resent after a rejoin and numbered
//! anew by another server (a new message id) is still the same line. Each
//! receiver keeps a [`Ledger`]; at the end it is compared with how many
//! lines each sender typed. A line shown twice is a duplicate, a line never
//! shown is missed.

use crate::seen::{Arrival, Seen};

/// The text of sender `sender`'s line number `counter`.
pub fn line_text(sender: usize, counter: u64) -> String {
    format!("L{sender}:{counter}")
}

/// The sender and counter of a line's text, if it is one.
pub fn parse_line(text: &str) -> Option<(usize, u64)> {
    let (sender, counter) = text.strip_prefix('L')?.split_once(':')?;
    Some((sender.parse().ok()?, counter.parse().ok()?))
}

/// The lines one receiver was shown.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    senders: Vec<Seen>,
    /// Lines shown more than once (each extra showing counts).
    pub duplicates: u64,
    /// Lines shown in all, duplicates included.
    pub shown: u64,
}

/// A receiver's ledger checked against what was typed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Lines typed but never shown.
    pub missed: u64,
    /// Extra showings of lines shown already.
    pub duplicates: u64,
}

impl Verdict {
    /// Adds another receiver's verdict.
    pub fn absorb(&mut self, other: Verdict) {
        self.missed += other.missed;
        self.duplicates += other.duplicates;
    }

    /// Nothing missed, nothing twice.
    pub fn exact(&self) -> bool {
        self.missed == 0 && self.duplicates == 0
    }
}

impl Ledger {
    /// Records that the line `counter` of `sender` was shown; `false` if it
    /// had been shown before.
    pub fn show(&mut self, sender: usize, counter: u64) -> bool {
        if sender >= self.senders.len() {
            self.senders.resize(sender + 1, Seen::default());
        }
        self.shown += 1;
        let first = self.senders[sender].record(counter) != Arrival::Duplicate;
        if !first {
            self.duplicates += 1;
        }
        first
    }

    /// Compares with `typed[s]`, the number of lines sender `s` typed
    /// (its counters `0..typed[s]`). A line above that (typed after the
    /// count was taken) is neither missed nor a duplicate.
    pub fn verdict(&self, typed: &[u64]) -> Verdict {
        let mut missed = 0;
        for (sender, &count) in typed.iter().enumerate() {
            let seen = self.senders.get(sender);
            missed += (0..count)
                .filter(|&c| !seen.is_some_and(|s| s.contains(c)))
                .count() as u64;
        }
        Verdict {
            missed,
            duplicates: self.duplicates,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_texts_round_trip() {
        assert_eq!(parse_line(&line_text(17, 4_000)), Some((17, 4_000)));
        assert_eq!(parse_line("back 3"), None);
        assert_eq!(parse_line("L1:x"), None);
        assert_eq!(parse_line("L:1"), None);
    }

    #[test]
    fn every_line_once_is_exact() {
        let mut ledger = Ledger::default();
        for c in 0..3 {
            assert!(ledger.show(0, c));
        }
        assert!(ledger.show(2, 0));
        let verdict = ledger.verdict(&[3, 0, 1]);
        assert!(verdict.exact(), "{verdict:?}");
        assert_eq!(ledger.shown, 4);
    }

    #[test]
    fn missed_and_repeated_lines_are_counted() {
        let mut ledger = Ledger::default();
        assert!(ledger.show(0, 0));
        assert!(ledger.show(0, 2));
        assert!(
            !ledger.show(0, 2),
            "the same line again, say under a new id"
        );
        assert!(!ledger.show(0, 2));
        // Sender 0 typed 4 (1 and 3 never shown), sender 1 typed 2 (none shown).
        assert_eq!(
            ledger.verdict(&[4, 2]),
            Verdict {
                missed: 4,
                duplicates: 2
            }
        );
    }

    #[test]
    fn a_line_typed_after_the_count_is_not_missed() {
        let mut ledger = Ledger::default();
        assert!(ledger.show(0, 0));
        assert!(ledger.show(0, 1));
        assert!(ledger.verdict(&[1]).exact());
    }
}
