//! Which chat messages the client has shown: the newest seq per origin,
//! in each room.
//!
//! Each origin numbers all its events in one sequence, and a connected
//! client gets them in that order, so one watermark per origin is exact
//! for the whole session: that is what `rejoin.last_seen` sends. A replay
//! after failover, though, comes room by room (each room's backfill in
//! order, the rooms one after another), so what may be shown — nothing
//! twice — is decided per room: a watermark per (room, origin). Private
//! messages are a scope of their own.

use std::collections::{HashMap, HashSet, VecDeque};

use crate::protocol::validate::name_key;
use crate::protocol::{MessageId, ServerId, LOBBY};

/// Where a message was said, for deduplication: a room, or private.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope(String);

impl Scope {
    /// A room's messages (compared as the server compares room names).
    pub fn room(room: &str) -> Scope {
        Scope(name_key(room))
    }

    /// Private messages, to us and from us. (No room's key is empty.)
    pub fn private() -> Scope {
        Scope(String::new())
    }
}

/// How many recent lines (by sender and client id) are remembered: far
/// more than arrive during one failover.
const SEEN_LINES: usize = 4096;

/// The newest message seq shown per scope and origin, and the recent
/// lines shown by their sender's client id.
#[derive(Debug, Clone, Default)]
pub struct SeenIds {
    newest: HashMap<(Scope, ServerId), u64>,
    /// (sender's name key, cid) of recent lines shown: a line its sender
    /// resent after failing over may be numbered anew by a server that
    /// never had it, and come again under that id (PROTOCOL.md 12.5).
    lines: HashSet<(String, u64)>,
    order: VecDeque<(String, u64)>,
}

impl SeenIds {
    /// Starts from a server's `welcome.seen`: what it had at the moment of
    /// joining counts as seen in `#lobby`, where the member starts (the
    /// history shown after `welcome` is older still). A client lost before
    /// anything arrived then asks a new server only for what came after
    /// its own welcome, not for the whole store.
    pub fn from_watermark(watermark: &[MessageId]) -> SeenIds {
        let mut seen = SeenIds::default();
        let lobby = Scope::room(LOBBY);
        for id in watermark {
            seen.fresh(&lobby, *id);
        }
        seen
    }

    /// Whether a message with this id is new in `scope`; records it if so.
    /// Ids with seq 0 are notifications outside any stream: always new.
    pub fn fresh(&mut self, scope: &Scope, id: MessageId) -> bool {
        if id.seq == 0 {
            return true;
        }
        let newest = self.newest.entry((scope.clone(), id.origin)).or_insert(0);
        if id.seq <= *newest {
            return false;
        }
        *newest = id.seq;
        true
    }

    /// Like [`SeenIds::fresh`] for a chat line that carries its sender's
    /// client id: also not new if a line with the same `(from, cid)` was
    /// shown already, under whatever id. The id is recorded either way.
    pub fn fresh_line(
        &mut self,
        scope: &Scope,
        id: MessageId,
        from: &str,
        cid: Option<u64>,
    ) -> bool {
        if !self.fresh(scope, id) {
            return false;
        }
        let Some(cid) = cid else {
            return true;
        };
        let key = (name_key(from), cid);
        if self.lines.contains(&key) {
            return false;
        }
        if self.order.len() >= SEEN_LINES {
            if let Some(old) = self.order.pop_front() {
                self.lines.remove(&old);
            }
        }
        self.order.push_back(key.clone());
        self.lines.insert(key);
        true
    }

    /// Whether a message with this id was shown in `scope` (or is older
    /// than one that was).
    pub fn has_seen(&self, scope: &Scope, id: MessageId) -> bool {
        self.newest
            .get(&(scope.clone(), id.origin))
            .is_some_and(|n| id.seq <= *n)
    }

    /// The newest id per origin over every scope, as `rejoin.last_seen`
    /// wants it.
    pub fn last_seen(&self) -> Vec<MessageId> {
        let mut newest: HashMap<ServerId, u64> = HashMap::new();
        for ((_, origin), seq) in &self.newest {
            let at = newest.entry(*origin).or_insert(0);
            *at = (*at).max(*seq);
        }
        newest
            .into_iter()
            .map(|(origin, seq)| MessageId { origin, seq })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_resent_and_numbered_anew_is_shown_once() {
        let mut seen = SeenIds::default();
        let lobby = Scope::room(LOBBY);
        assert!(seen.fresh_line(&lobby, id(1, 5), "Ann", Some(77)));
        // The same line from another server's numbering, after a failover.
        assert!(!seen.fresh_line(&lobby, id(2, 9), "ann", Some(77)));
        // ... whose id still counts as seen, for `last_seen`.
        assert!(seen.has_seen(&lobby, id(2, 9)));
        // Another line of Ann's, and lines without a cid, are new.
        assert!(seen.fresh_line(&lobby, id(2, 10), "Ann", Some(78)));
        assert!(seen.fresh_line(&lobby, id(2, 11), "Ann", None));
        assert!(seen.fresh_line(&lobby, id(2, 12), "Bob", Some(77)));
    }

    #[test]
    fn the_line_window_is_bounded() {
        let mut seen = SeenIds::default();
        let lobby = Scope::room(LOBBY);
        for n in 0..(SEEN_LINES as u64 + 10) {
            seen.fresh_line(&lobby, id(1, n + 1), "Ann", Some(n));
        }
        assert_eq!(seen.lines.len(), SEEN_LINES);
        assert_eq!(seen.order.len(), SEEN_LINES);
    }

    fn id(origin: u8, seq: u64) -> MessageId {
        MessageId {
            origin: ServerId::from_bytes([origin; 16]),
            seq,
        }
    }

    fn sorted(mut ids: Vec<MessageId>) -> Vec<MessageId> {
        ids.sort();
        ids
    }

    #[test]
    fn each_message_is_fresh_once() {
        let lobby = Scope::room("#lobby");
        let mut seen = SeenIds::default();
        assert!(seen.fresh(&lobby, id(1, 1)));
        assert!(!seen.fresh(&lobby, id(1, 1)));
        assert!(seen.fresh(&lobby, id(1, 3)));
        assert!(!seen.fresh(&lobby, id(1, 2)), "older than one shown");
        assert!(seen.fresh(&lobby, id(2, 1)), "origins count separately");
        assert!(
            seen.fresh(&lobby, id(1, 0)) && seen.fresh(&lobby, id(1, 0)),
            "seq 0 is no event"
        );
        assert!(seen.has_seen(&lobby, id(1, 2)) && !seen.has_seen(&lobby, id(1, 4)));
        assert_eq!(sorted(seen.last_seen()), [id(1, 3), id(2, 1)]);
    }

    #[test]
    fn the_welcome_watermark_counts_as_seen_in_the_lobby() {
        let lobby = Scope::room("#Lobby");
        let mut seen = SeenIds::from_watermark(&[id(1, 67), id(2, 4)]);
        assert!(!seen.fresh(&lobby, id(1, 67)));
        assert!(seen.fresh(&lobby, id(1, 68)));
        assert_eq!(sorted(seen.last_seen()), [id(1, 68), id(2, 4)]);
    }

    #[test]
    fn a_backfill_room_by_room_shows_each_message_once() {
        // Live: lobby 5, dev 6, lobby 7, a private 8, all from origin 1.
        let (lobby, dev, private) = (Scope::room("#lobby"), Scope::room("#dev"), Scope::private());
        let mut seen = SeenIds::default();
        assert!(seen.fresh(&lobby, id(1, 5)));
        assert!(seen.fresh(&dev, id(1, 6)));
        assert!(seen.fresh(&lobby, id(1, 7)));
        assert!(seen.fresh(&private, id(1, 8)));
        assert_eq!(seen.last_seen(), [id(1, 8)], "the newest over every room");
        // A new server backfills the lobby, then #dev: 9 and 11, then 10.
        assert!(!seen.fresh(&lobby, id(1, 7)));
        assert!(seen.fresh(&lobby, id(1, 9)));
        assert!(seen.fresh(&lobby, id(1, 11)));
        assert!(!seen.fresh(&dev, id(1, 6)));
        assert!(
            seen.fresh(&Scope::room("#DEV"), id(1, 10)),
            "older than the lobby's newest"
        );
        assert!(!seen.has_seen(&private, id(1, 9)));
        assert_eq!(seen.last_seen(), [id(1, 11)]);
    }
}
