//! Which chat messages the client has shown: the newest seq per origin.
//!
//! Each origin's messages reach a client in that origin's order, so one
//! watermark per origin is exact. It decides what a replay after failover
//! may show (nothing twice) and is what `rejoin.last_seen` sends.

use std::collections::HashMap;

use crate::protocol::{MessageId, ServerId};

/// The newest message seq shown per origin.
#[derive(Debug, Clone, Default)]
pub struct SeenIds {
    newest: HashMap<ServerId, u64>,
}

impl SeenIds {
    /// Starts from a server's `welcome.seen`: what it had at the moment of
    /// joining counts as seen (the history shown after `welcome` is older
    /// still). A client lost before anything arrived then asks a new server
    /// only for what came after its own welcome, not for the whole store.
    pub fn from_watermark(watermark: &[MessageId]) -> SeenIds {
        let mut seen = SeenIds::default();
        for id in watermark {
            seen.fresh(*id);
        }
        seen
    }

    /// Whether a message with this id is new; records it if so. Ids with
    /// seq 0 are notifications outside any stream: always new.
    pub fn fresh(&mut self, id: MessageId) -> bool {
        if id.seq == 0 {
            return true;
        }
        let newest = self.newest.entry(id.origin).or_insert(0);
        if id.seq <= *newest {
            return false;
        }
        *newest = id.seq;
        true
    }

    /// Whether a message with this id was shown (or is older than one that was).
    pub fn has_seen(&self, id: MessageId) -> bool {
        self.newest.get(&id.origin).is_some_and(|n| id.seq <= *n)
    }

    /// The newest id per origin, as `rejoin.last_seen` wants it.
    pub fn last_seen(&self) -> Vec<MessageId> {
        self.newest
            .iter()
            .map(|(origin, seq)| MessageId {
                origin: *origin,
                seq: *seq,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(origin: u8, seq: u64) -> MessageId {
        MessageId {
            origin: ServerId::from_bytes([origin; 16]),
            seq,
        }
    }

    #[test]
    fn each_message_is_fresh_once() {
        let mut seen = SeenIds::default();
        assert!(seen.fresh(id(1, 1)));
        assert!(!seen.fresh(id(1, 1)));
        assert!(seen.fresh(id(1, 3)));
        assert!(!seen.fresh(id(1, 2)), "older than one shown");
        assert!(seen.fresh(id(2, 1)), "origins count separately");
        assert!(
            seen.fresh(id(1, 0)) && seen.fresh(id(1, 0)),
            "seq 0 is no event"
        );
        assert!(seen.has_seen(id(1, 2)) && !seen.has_seen(id(1, 4)));
        let mut last = seen.last_seen();
        last.sort();
        assert_eq!(last, [id(1, 3), id(2, 1)]);
    }

    #[test]
    fn the_welcome_watermark_counts_as_seen() {
        let mut seen = SeenIds::from_watermark(&[id(1, 67), id(2, 4)]);
        assert!(!seen.fresh(id(1, 67)));
        assert!(seen.fresh(id(1, 68)));
        let mut last = seen.last_seen();
        last.sort();
        assert_eq!(last, [id(1, 68), id(2, 4)]);
    }
}
