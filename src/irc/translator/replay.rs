//! The room history Chatty replays on entering a room, as an IRC client
//! without `draft/chathistory` is shown it: as ordinary PRIVMSGs, but on a
//! rejoin within one connection only what this connection has not shown
//! yet (a bouncer's manners; a plain IRC server replays nothing, and a
//! client that shows the same lines on every rejoin looks broken).
//!
//! The gateway keeps, per room, one id: the last message of that room the
//! connection was given (live, replayed, or its own). A room's replay comes
//! oldest first in the server's delivery order, the same order the
//! connection was given the room's messages live; so what follows that id
//! in the replay is new, and what precedes it (and the id itself) was
//! shown. When the id is not among the replay at all, every line of it is
//! newer (more than `--history` messages came since), and all are shown.
//! Nothing else is kept: no per-message state, and rooms parted long ago
//! (past [`SEEN_ROOMS`]) get the whole replay again, as a new connection
//! does.

use crate::protocol::MessageId;

use super::history::Entry;
use super::Translator;

/// Parted rooms whose last shown message is remembered; the one parted
/// longest ago is forgotten first.
const SEEN_ROOMS: usize = 64;

/// The last message shown of rooms this connection has left.
#[derive(Debug, Default)]
pub(super) struct Seen(Vec<(String, MessageId)>);

impl Seen {
    /// Remembers that `last` was the last message of `key` shown.
    pub(super) fn left(&mut self, key: String, last: MessageId) {
        self.0.retain(|(k, _)| *k != key);
        if self.0.len() == SEEN_ROOMS {
            self.0.remove(0);
        }
        self.0.push((key, last));
    }

    /// The last message shown of `key`, forgotten here (the room is
    /// joined again and its channel holds it from now on).
    pub(super) fn take(&mut self, key: &str) -> Option<MessageId> {
        let at = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.remove(at).1)
    }
}

/// One room's replay on a rejoin: holds lines until it knows whether the
/// connection has shown them.
#[derive(Debug)]
pub(super) struct Replay {
    /// The room's name key.
    pub(super) key: String,
    /// The last message of the room the connection was shown.
    last: MessageId,
    /// Whether `last` has come by; from then on every line is new.
    found: bool,
    /// Lines before `last` was found: shown at the end if it never is.
    held: Vec<Entry>,
}

impl Replay {
    pub(super) fn new(key: String, last: MessageId) -> Replay {
        Replay {
            key,
            last,
            found: false,
            held: Vec::new(),
        }
    }

    /// One replayed line; returns it if it is to be shown now.
    pub(super) fn offer(&mut self, entry: Entry) -> Option<Entry> {
        if self.found {
            return Some(entry);
        }
        if entry.id == self.last {
            self.found = true;
            self.held = Vec::new();
        } else {
            self.held.push(entry);
        }
        None
    }

    /// The replay is over: the lines still held, all new if `last` never
    /// came.
    pub(super) fn finish(self) -> Vec<Entry> {
        self.held
    }
}

impl Translator {
    /// A `history` frame: kept for CHATHISTORY, dropped (`chatty/no-replay`),
    /// held by a rejoin's [`Replay`], or shown.
    pub(super) fn history_frame(
        &mut self,
        id: MessageId,
        from: String,
        room: String,
        text: String,
        action: bool,
    ) {
        let key = self.key(&room);
        if !self.channels.contains_key(&key) {
            return; // a room we are not shown in (e.g. #lobby, parted at start)
        }
        let entry = Entry {
            id,
            at: None,
            from,
            text,
            action,
        };
        // Kept only for a client that can ask for it (draft/chathistory);
        // one that asked for none sees none; any other sees the replay.
        if self.caps.chathistory {
            self.history.record_keyed(key, &room, entry);
            return;
        }
        if self.caps.no_replay {
            return;
        }
        let entry = match self.replay.as_mut() {
            Some(replay) if replay.key == key => replay.offer(entry),
            _ => Some(entry),
        };
        if let Some(entry) = entry {
            self.show_history(&room, &entry);
        }
    }

    /// Our own `joined` for `room` ends its replay: what is still held is new.
    pub(super) fn replay_done(&mut self, room: &str) {
        let key = self.key(room);
        if self.replay.as_ref().is_some_and(|r| r.key == key) {
            let replay = self.replay.take().expect("just checked");
            for entry in replay.finish() {
                self.show_history(room, &entry);
            }
        }
    }

    /// Starts the replay filter for `key`, just entered again, if this
    /// connection has shown some of it before; returns that last id.
    pub(super) fn rejoining(&mut self, key: &str) -> Option<MessageId> {
        let last = self.seen.take(key)?;
        if let Some(old) = self.replay.take() {
            let room = self.channels.get(&old.key).map(|c| c.name.clone());
            for entry in old.finish() {
                self.show_history(room.as_deref().unwrap_or(""), &entry);
            }
        }
        self.replay = Some(Box::new(Replay::new(key.to_string(), last)));
        Some(last)
    }

    /// Notes `id` as the last message of `room` shown; false if we are not
    /// in `room` (and it is not to be shown).
    pub(super) fn mark_shown(&self, room: &str, id: MessageId) -> bool {
        self.with_key(room, |k| {
            self.channels.get(k).map(|c| c.last.set(Some(id))).is_some()
        })
    }

    fn show_history(&mut self, room: &str, entry: &Entry) {
        if !self.mark_shown(room, entry.id) {
            return;
        }
        let nick = super::super::names::to_nick(&entry.from);
        let room = self.shown_room(room);
        self.show_line(&super::events::Line {
            id: entry.id,
            from: &nick,
            target: &room,
            text: &entry.text,
            action: entry.action,
            at: None,
            verb: "PRIVMSG",
            batch: None,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ServerId;

    fn id(seq: u64) -> MessageId {
        MessageId {
            origin: ServerId::from_bytes([7; 16]),
            seq,
        }
    }

    fn entry(seq: u64) -> Entry {
        Entry {
            id: id(seq),
            at: None,
            from: "Leo".into(),
            text: format!("line {seq}"),
            action: false,
        }
    }

    /// Feeds a replay of `seqs` to a rejoin whose last shown id is `last`;
    /// returns the seqs shown, in order.
    fn shown(last: u64, seqs: &[u64]) -> Vec<u64> {
        let mut replay = Replay::new("#dev".into(), id(last));
        let mut out: Vec<u64> = seqs
            .iter()
            .filter_map(|s| replay.offer(entry(*s)))
            .map(|e| e.id.seq)
            .collect();
        out.extend(replay.finish().into_iter().map(|e| e.id.seq));
        out
    }

    #[test]
    fn a_rejoin_shows_only_what_came_after_the_last_line_shown() {
        assert_eq!(shown(3, &[1, 2, 3, 4, 5]), vec![4, 5]);
    }

    #[test]
    fn nothing_new_shows_nothing() {
        assert_eq!(shown(5, &[1, 2, 3, 4, 5]), Vec::<u64>::new());
    }

    #[test]
    fn a_last_line_older_than_the_whole_replay_shows_all_of_it() {
        // More than --history messages came since: none of them was shown.
        assert_eq!(shown(2, &[10, 11, 12]), vec![10, 11, 12]);
    }

    #[test]
    fn an_empty_replay_shows_nothing() {
        assert_eq!(shown(2, &[]), Vec::<u64>::new());
    }

    #[test]
    fn order_is_the_replays_not_the_ids() {
        // Relayed lines of several origins: the replay's order decides.
        assert_eq!(shown(7, &[9, 7, 2, 8]), vec![2, 8]);
    }

    #[test]
    fn seen_rooms_are_bounded_and_taken_once() {
        let mut seen = Seen::default();
        for n in 0..(SEEN_ROOMS as u64 + 1) {
            seen.left(format!("#r{n}"), id(n));
        }
        assert_eq!(seen.take("#r0"), None, "the oldest is forgotten");
        assert_eq!(seen.take("#r1"), Some(id(1)));
        assert_eq!(seen.take("#r1"), None, "a rejoin takes it");
        seen.left("#r2".into(), id(99));
        assert_eq!(seen.take("#r2"), Some(id(99)), "a second part replaces it");
    }

    /// Leo's rig enters #dev: JOIN, its room_state, `replay` as `history`,
    /// its own joined. Returns the texts shown as PRIVMSGs.
    fn enter_dev(rig: &mut super::super::tests::Rig, replay: &[(MessageId, &str)]) -> Vec<String> {
        use crate::protocol::{RoomState, ServerMsg};
        let mut out = rig.lines(&["JOIN #dev"]);
        rig.take_chatty();
        out.extend(rig.frame(ServerMsg::RoomState(RoomState {
            room: "#dev".into(),
            topic: None,
            members: vec![],
            count: None,
        })));
        for (id, text) in replay {
            out.extend(rig.frame(ServerMsg::History {
                id: *id,
                from: "Ann".into(),
                room: "#dev".into(),
                text: text.to_string(),
                action: false,
                cid: None,
            }));
        }
        let id = rig.id();
        out.extend(rig.frame(ServerMsg::Joined {
            id,
            name: "Leo".into(),
            server: super::super::tests::server(),
            room: "#dev".into(),
        }));
        out.iter()
            .filter(|l| l.contains(" PRIVMSG #dev :"))
            .map(|l| l.rsplit_once(" :").unwrap().1.to_string())
            .collect()
    }

    fn live(rig: &mut super::super::tests::Rig, text: &str) -> MessageId {
        let id = rig.id();
        let out = rig.frame(crate::protocol::ServerMsg::Message {
            id,
            from: "Ann".into(),
            room: "#dev".into(),
            text: text.into(),
            action: false,
            cid: None,
        });
        assert_eq!(out.len(), 1, "{out:?}");
        id
    }

    fn part_dev(rig: &mut super::super::tests::Rig) {
        rig.lines(&["PART #dev"]);
        rig.take_chatty();
        let id = rig.id();
        let out = rig.frame(crate::protocol::ServerMsg::Left {
            id,
            name: "Leo".into(),
            server: super::super::tests::server(),
            reason: crate::protocol::LeaveReason::Leave,
            room: "#dev".into(),
            text: None,
            quit: false,
        });
        assert_eq!(out, vec![":Leo!u@chatty PART #dev"]);
    }

    #[test]
    fn a_connection_is_replayed_only_what_it_has_not_shown() {
        let mut rig = super::super::tests::Rig::registered("Leo", "");
        let (one, two) = (rig.id(), rig.id());
        let first = enter_dev(&mut rig, &[(one, "one"), (two, "two")]);
        assert_eq!(first, ["one", "two"], "a first join shows the history");
        let three = live(&mut rig, "three");
        part_dev(&mut rig);
        let four = rig.id();
        let again = enter_dev(
            &mut rig,
            &[(one, "one"), (two, "two"), (three, "three"), (four, "four")],
        );
        assert_eq!(again, ["four"], "a rejoin shows only what came since");
        part_dev(&mut rig);
        let again = enter_dev(&mut rig, &[(two, "two"), (three, "three"), (four, "four")]);
        assert!(again.is_empty(), "nothing new, nothing shown: {again:?}");
    }

    #[test]
    fn no_replay_shows_no_history_at_all() {
        let mut rig = super::super::tests::Rig::registered("Leo", "chatty/no-replay");
        let one = rig.id();
        assert!(enter_dev(&mut rig, &[(one, "one")]).is_empty());
        live(&mut rig, "live lines still come");
    }
}
