//! Exactly once from the user's point of view: chat lines deduplicated on
//! (sender, client id) across the whole cluster.
//!
//! A client that negotiated `ack` gives every line a `cid` and sends the
//! unacknowledged ones again after failing over. The resend may reach a
//! server that already has the line — because the client's old server
//! numbered it and relayed it here before dying — or one that does not,
//! and the dead server may have relayed it to some survivors and not to
//! others. The `cid` travels with the relayed event, so every server can
//! tell, and this window is consulted twice:
//!
//! * a local member sends a line with a cid the room has seen from that
//!   name: it is not shown again; the sender gets `ack` with the original
//!   id. If the original came from another server, the line is relayed
//!   once more (numbered in this server's stream, not shown here), so a
//!   survivor the dead server never reached gets it, and one it did reach
//!   drops it;
//! * a relayed message carries a cid the room has seen from that name: it
//!   was shown already, under another id, and is not shown again.
//!
//! The window holds the last [`DEDUPE_WINDOW`] lines that carried a cid,
//! oldest evicted first. A resend that arrives after its line has left the
//! window is shown a second time: a duplicate, never a loss.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use super::frames::ack_frame;
use super::state::{NameHash, RoomState};
use super::ConnId;
use crate::protocol::validate::name_key;
use crate::protocol::MessageId;
use crate::relay::ChatEvent;

/// How many (sender, cid) pairs a room remembers: minutes of a busy LAN
/// chat, and far more than arrive during one failover (about a second).
/// Each entry holds a shared reference to its sender's name key (at most
/// 128 bytes, once per sender), a cid and an id, twice: under 1 MB when full.
pub const DEDUPE_WINDOW: usize = 8192;

/// A line's client-chosen id, as a session hands it to the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientId {
    /// The `cid` of the `send`.
    pub cid: u64,
    /// Whether the sender negotiated `ack` and is to be told the line's id.
    pub ack: bool,
}

/// A line's place in the window: its sender's name key (shared by all of
/// the sender's entries, so a line costs no copy of it) and its cid.
type LineKey = (Arc<str>, u64);

/// The ids of recent lines that carried a cid, by (sender's name key, cid).
#[derive(Debug, Default)]
pub(super) struct SentLines {
    ids: HashMap<LineKey, MessageId, NameHash>,
    order: VecDeque<LineKey>,
    /// Local sends recognised as already numbered.
    pub(super) duplicate_sends: u64,
    /// Relayed messages not shown because they had been shown already.
    pub(super) duplicate_relayed: u64,
    /// Name keys of recent senders: a key costs NFKC, case folding and the
    /// confusables map, too much to redo for every line of a fast talker.
    keys: HashMap<String, Arc<str>, NameHash>,
}

/// Most senders whose name keys are remembered; the cache starts over when
/// full (it only saves work).
const KEY_CACHE: usize = 4096;

impl SentLines {
    /// The window's key for a line from `from`; `None` for lines without a
    /// cid (cid 0 is "none" on the relay).
    fn line_key(&mut self, from: &str, cid: u64) -> Option<LineKey> {
        if cid == 0 {
            return None;
        }
        if let Some(key) = self.keys.get(from) {
            return Some((key.clone(), cid));
        }
        if self.keys.len() >= KEY_CACHE {
            self.keys.clear();
        }
        let key: Arc<str> = name_key(from).into();
        self.keys.insert(from.to_string(), key.clone());
        Some((key, cid))
    }

    /// The id the line `(key, cid)` was numbered with, if it is in the window.
    pub(super) fn original(&self, key: &LineKey) -> Option<MessageId> {
        self.ids.get(key).copied()
    }

    /// Remembers that `(key, cid)` was numbered `id`, evicting the oldest
    /// entry when full. A pair already present keeps its first id.
    pub(super) fn remember(&mut self, key: LineKey, id: MessageId) {
        let Entry::Vacant(slot) = self.ids.entry(key) else {
            return;
        };
        self.order.push_back(slot.key().clone());
        slot.insert(id);
        if self.order.len() > DEDUPE_WINDOW {
            if let Some(oldest) = self.order.pop_front() {
                self.ids.remove(&oldest);
            }
        }
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.ids.len()
    }
}

impl RoomState {
    /// Handles a local send of a line (a message or a private message,
    /// `event`) already numbered somewhere in the cluster: acknowledges it
    /// with the original id (relaying it once more if the original came
    /// from another server) and returns that id. `None` means the line is
    /// new: number and show it.
    pub(super) fn resent(
        &mut self,
        conn: ConnId,
        cid: Option<ClientId>,
        event: &ChatEvent,
    ) -> Option<MessageId> {
        let cid = cid?;
        let (ChatEvent::Message { from, .. } | ChatEvent::Private { from, .. }) = event else {
            return None;
        };
        let key = self.sent.line_key(from, cid.cid)?;
        let original = self.sent.original(&key)?;
        self.sent.duplicate_sends += 1;
        if original.origin != self.me {
            // Relayed once more under our numbering (shown nowhere here):
            // the dead server may have reached some survivors and not others.
            let id = self.next_id();
            self.relay_out(id.seq, event.clone());
        }
        self.ack(conn, Some(cid), original);
        Some(original)
    }

    /// Remembers a line just numbered `id` here, if it carried a cid.
    pub(super) fn remember_line(&mut self, from: &str, cid: u64, id: MessageId) {
        if let Some(key) = self.sent.line_key(from, cid) {
            self.sent.remember(key, id);
        }
    }

    /// Tells the sender its line was numbered `id`, if it asked to be told.
    /// Called right after the broadcast, under the same lock, so the
    /// sender's own copy of the message always comes first (at the seal of
    /// its open run, if the line went into one).
    pub(super) fn ack(&mut self, conn: ConnId, cid: Option<ClientId>, id: MessageId) {
        if let Some(ClientId { cid, ack: true }) = cid {
            self.push_after_lines(conn, ack_frame(cid, id));
        }
    }

    /// Whether a message relayed from another server as `id` was shown here
    /// already under another id; if not, remembers it.
    pub(super) fn shown_already(&mut self, from: &str, cid: u64, id: MessageId) -> bool {
        let Some(key) = self.sent.line_key(from, cid) else {
            return false;
        };
        if self.sent.original(&key).is_some() {
            self.sent.duplicate_relayed += 1;
            return true;
        }
        self.sent.remember(key, id);
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ServerId, ServerMsg};
    use crate::relay::Delivery;
    use crate::server::room::tests::{drain, id};
    use crate::server::room::{ChatLine, Registration, Room, Wakes};
    use tokio::sync::mpsc;

    fn acked(cid: u64) -> Option<ClientId> {
        Some(ClientId { cid, ack: true })
    }

    fn say(room: &Room, reg: &Registration, text: &str, cid: Option<ClientId>) -> MessageId {
        let line = ChatLine::lobby(text.into());
        let mut wakes = Wakes::default();
        let id = room.say_then_wake(reg.id, line, cid, &mut wakes).unwrap();
        room.end_burst(&mut wakes);
        id
    }

    fn relayed(origin: ServerId, seq: u64, from: &str, text: &str, cid: u64) -> Delivery {
        Delivery::Event {
            origin,
            seq,
            event: ChatEvent::Message {
                from: from.into(),
                text: text.into(),
                room: "#lobby".into(),
                cid,
                action: false,
            },
        }
    }

    fn texts(msgs: &[ServerMsg]) -> Vec<&str> {
        msgs.iter()
            .filter_map(|m| match m {
                ServerMsg::Message { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_window_is_bounded_and_evicts_the_oldest_first() {
        let mut window = SentLines::default();
        let msg = |seq| MessageId { origin: id(1), seq };
        for n in 1..=DEDUPE_WINDOW as u64 + 10 {
            window.remember(("leo".into(), n), msg(n));
        }
        assert_eq!(window.len(), DEDUPE_WINDOW);
        assert_eq!(window.original(&("leo".into(), 10)), None, "evicted");
        assert_eq!(window.original(&("leo".into(), 11)), Some(msg(11)));
        // The same pair again keeps its first id and takes no second slot.
        window.remember(("leo".into(), 11), msg(999));
        assert_eq!(window.original(&("leo".into(), 11)), Some(msg(11)));
        assert_eq!(window.len(), DEDUPE_WINDOW);
    }

    #[test]
    fn the_ack_follows_the_senders_own_copy() {
        let room = Room::new(id(5), "a:1".into(), 64);
        let mut leo = room.register();
        room.join(leo.id, "Leo").unwrap();
        drain(&mut leo);
        let mid = say(&room, &leo, "hi", acked(77));
        let got = drain(&mut leo);
        assert!(matches!(&got[0], ServerMsg::Message { id, .. } if *id == mid));
        assert_eq!(got[1], ServerMsg::Ack { cid: 77, id: mid });
        assert_eq!(got.len(), 2);
        // Without `ack` negotiated the cid still dedupes but nobody is told.
        say(
            &room,
            &leo,
            "quiet",
            Some(ClientId {
                cid: 78,
                ack: false,
            }),
        );
        assert_eq!(texts(&drain(&mut leo)), ["quiet"]);
    }

    #[test]
    fn a_resend_is_acknowledged_with_the_original_id_and_not_shown_again() {
        let room = Room::new(id(5), "a:1".into(), 64);
        let mut leo = room.register();
        let mut ann = room.register();
        room.join(leo.id, "Leo").unwrap();
        room.join(ann.id, "Ann").unwrap();
        let first = say(&room, &leo, "once", acked(1));
        drain(&mut leo);
        drain(&mut ann);
        // Leo's connection broke; on a new one the same name sends it again.
        room.unregister(leo.id, crate::protocol::LeaveReason::Disconnected);
        let mut leo2 = room.register();
        room.rejoin(leo2.id, "LEO", &[first]).unwrap();
        drain(&mut leo2);
        drain(&mut ann);
        assert_eq!(say(&room, &leo2, "once", acked(1)), first);
        assert_eq!(drain(&mut leo2), [ServerMsg::Ack { cid: 1, id: first }]);
        assert!(texts(&drain(&mut ann)).is_empty(), "not shown twice");
    }

    #[test]
    fn a_relayed_duplicate_is_hidden() {
        // Leo's server 9 relayed "a" here, died, and Leo resent "a" through
        // server 7, which had not heard it: 7 numbered it again.
        let room = Room::new(id(5), "a:1".into(), 64);
        let mut ann = room.register();
        room.join(ann.id, "Ann").unwrap();
        drain(&mut ann);
        room.apply(relayed(id(9), 4, "Leo", "a", 1));
        room.apply(relayed(id(7), 12, "Leo", "a", 1));
        room.apply(relayed(id(7), 13, "Leo", "b", 2));
        // Lines without a cid are never taken for duplicates.
        room.apply(relayed(id(7), 14, "Leo", "b", 0));
        room.apply(relayed(id(7), 15, "Leo", "b", 0));
        assert_eq!(texts(&drain(&mut ann)), ["a", "b", "b", "b"]);
        // Another sender may use the same cid.
        room.apply(relayed(id(7), 16, "Bob", "a", 1));
        assert_eq!(texts(&drain(&mut ann)), ["a"]);
        assert_eq!(room.status().counters["duplicate_relayed"], 1);
    }

    #[test]
    fn a_resend_of_a_line_from_a_lost_server_is_relayed_once_more() {
        // Server 9 numbered Leo's line and relayed it here, but maybe not to
        // every survivor: the resend goes out in our stream, not to our
        // clients. Another survivor shows it or drops it as a duplicate.
        let (tx, mut relayed_out) = mpsc::unbounded_channel();
        let room = Room::new(id(5), "a:1".into(), 64).with_relay(tx);
        let mut ann = room.register();
        room.join(ann.id, "Ann").unwrap();
        room.apply(relayed(id(9), 4, "Leo", "a", 1));
        let mut leo = room.register();
        room.rejoin(leo.id, "Leo", &[]).unwrap();
        drain(&mut ann);
        drain(&mut leo);
        while relayed_out.try_recv().is_ok() {}
        let original = MessageId {
            origin: id(9),
            seq: 4,
        };
        assert_eq!(say(&room, &leo, "a", acked(1)), original);
        assert_eq!(
            drain(&mut leo),
            [ServerMsg::Ack {
                cid: 1,
                id: original
            }]
        );
        assert!(drain(&mut ann).is_empty());
        let (_, event) = relayed_out.try_recv().expect("relayed again");
        assert_eq!(
            event,
            ChatEvent::Message {
                from: "Leo".into(),
                text: "a".into(),
                room: "#lobby".into(),
                cid: 1,
                action: false,
            }
        );
        // A resend of a line numbered here is in our stream already.
        let mine = say(&room, &leo, "b", acked(2));
        while relayed_out.try_recv().is_ok() {}
        assert_eq!(say(&room, &leo, "b", acked(2)), mine);
        assert!(relayed_out.try_recv().is_err(), "not relayed twice");
        assert_eq!(room.status().counters["duplicate_sends"], 2);
    }
}
