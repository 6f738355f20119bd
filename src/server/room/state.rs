//! The room's state behind its lock: connections, names, the roster in
//! name order, the rooms, and the fan-out of encoded frames into the
//! members' queues. Everything here runs with the room lock held.
//!
//! [`RoomState::emit`] is the one path of a local event; [`RoomState::show`]
//! is the one fan-out of an event, local or relayed: the state must be as
//! it is when the event happens (after a join, entry or nick change took
//! effect, before a leave or part does).

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use bytes::Bytes;
use tokio::sync::mpsc::{self, error::TrySendError};

use super::dedupe::SentLines;
use super::frames::{joined_frame, left_frame, line_frame};
use super::history::Line;
use super::queue::{FrameSender, Wakes};
use super::rooms::{Rooms, Slot};
use super::run::RunLine;
use super::shadows::Shadows;
use super::ConnId;
use crate::protocol::validate::name_key;
use crate::protocol::{encode_frame, LeaveReason, Member, MessageId, ServerId, ServerMsg, LOBBY};
use crate::relay::ChatEvent;

/// Hashes connection ids (small sequential numbers) with one multiply:
/// the fan-out looks up every member's connection, so this is on the hot
/// path, and ids come from the server, never from a client.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct ConnIdHasher(u64);

impl Hasher for ConnIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// The hasher of maps and sets keyed by connection id.
pub(super) type IdHash = BuildHasherDefault<ConnIdHasher>;

/// The hasher of maps keyed by names (rooms', members'), which clients
/// choose: randomly seeded, and a third of SipHash's cost on short keys.
pub(super) type NameHash = foldhash::fast::RandomState;

#[derive(Debug)]
pub(super) struct RoomState {
    /// This server.
    pub(super) me: ServerId,
    pub(super) next_conn: ConnId,
    pub(super) last_seq: u64,
    pub(super) conns: HashMap<ConnId, Conn, IdHash>,
    /// name key → local holder
    pub(super) names: HashMap<String, ConnId, NameHash>,
    /// name key → member on another server
    pub(super) remote: HashMap<String, Remote, NameHash>,
    /// Claims on names that lost here, kept until their origin withdraws
    /// them (see `shadows`).
    pub(super) shadows: Shadows,
    /// Everyone in the chat, local and remote, by name: the order `status`
    /// lists them in, kept up to date so nothing need sort.
    pub(super) roster: BTreeMap<String, ServerId>,
    /// The rooms, their histories and topics.
    pub(super) rooms: Rooms,
    /// Local events to relay to the other servers, with their sequence numbers.
    pub(super) relay: Option<mpsc::UnboundedSender<(u64, ChatEvent)>>,
    /// How many recent messages a client sees on joining or entering a room.
    pub(super) history_on_join: usize,
    /// Recent lines by (sender, client id), so a resend is shown once.
    pub(super) sent: SentLines,
    pub(super) closing: bool,
    /// Connections whose queue overflowed during the current operation.
    pub(super) overflowed: Vec<ConnId>,
    /// Writers given frames during the current operation, to wake at its end.
    pub(super) wakes: Wakes,
    /// One member's lines to one room not yet shown to the others (`run`).
    pub(super) run: Option<super::run::Run>,
}

#[derive(Debug)]
pub(super) struct Conn {
    pub(super) tx: FrameSender,
    pub(super) name: Option<String>,
    /// The protocol version of the connection (1 or 2), known once joined.
    pub(super) version: u16,
    /// The rooms the member is in, by key.
    pub(super) rooms: super::keys::RoomKeys,
    /// The name held before the last nick change: taken back if another
    /// server wins a same-moment claim on the new one.
    pub(super) previous: Option<String>,
}

impl Conn {
    pub(super) fn new(tx: FrameSender) -> Conn {
        Conn {
            tx,
            name: None,
            version: 1,
            rooms: Default::default(),
            previous: None,
        }
    }
}

/// A member on another server, as shown here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Remote {
    pub(super) name: String,
    pub(super) server: ServerId,
    /// Its rooms, by key.
    pub(super) rooms: super::keys::RoomKeys,
    /// As for [`Conn::previous`]: what to show if its nick loses a tie.
    pub(super) previous: Option<String>,
}

impl RoomState {
    /// The empty state of server `me`.
    pub(super) fn new(me: ServerId) -> RoomState {
        RoomState {
            me,
            next_conn: 0,
            last_seq: 0,
            conns: HashMap::default(),
            names: HashMap::default(),
            remote: HashMap::default(),
            shadows: Shadows::default(),
            roster: BTreeMap::new(),
            rooms: Rooms::default(),
            relay: None,
            history_on_join: 0,
            sent: SentLines::default(),
            closing: false,
            overflowed: Vec::new(),
            wakes: Wakes::default(),
            run: None,
        }
    }

    pub(super) fn next_id(&mut self) -> MessageId {
        self.last_seq += 1;
        MessageId {
            origin: self.me,
            seq: self.last_seq,
        }
    }

    /// The one path of a local event: number it, show it (encoding each
    /// frame once), keep it for history (a message) and hand it to the
    /// relay (if clustered). Returns its id.
    pub(super) fn emit(&mut self, event: ChatEvent) -> MessageId {
        self.emit_from(event, None)
    }

    /// As [`RoomState::emit`], for an event of local member `sender` if
    /// given: its chat line goes to the others with its run (`run`).
    pub(super) fn emit_from(&mut self, event: ChatEvent, sender: Option<ConnId>) -> MessageId {
        let id = self.next_id();
        if let ChatEvent::Message { from, cid, .. } | ChatEvent::Private { from, cid, .. } = &event
        {
            self.remember_line(from, *cid, id);
        }
        match sender.and_then(|sender| RunLine::of(id, sender, &event)) {
            Some(line) => self.show_own_line(line),
            None => self.show(id, self.me, &event),
        }
        // Strings are copied only when both history and the relay need them.
        if self.relay.is_none() {
            self.record(id, event);
        } else {
            if matches!(event, ChatEvent::Message { .. }) {
                self.record(id, event.clone());
            }
            self.relay_out(id.seq, event);
        }
        id
    }

    /// Remembers a message (event `id`) for history and backfill.
    pub(super) fn record(&mut self, id: MessageId, event: ChatEvent) {
        if let ChatEvent::Message {
            from,
            text,
            room,
            action,
            cid,
        } = event
        {
            let line = Line {
                id,
                from,
                text,
                action,
                cid,
            };
            self.rooms.record(&room, line);
        }
    }

    /// Hands a numbered local event to the relay, if clustered.
    pub(super) fn relay_out(&self, seq: u64, event: ChatEvent) {
        if let Some(relay) = &self.relay {
            let _ = relay.send((seq, event));
        }
    }

    /// Shows event `id` of `server` to the local members it concerns.
    pub(super) fn show(&mut self, id: MessageId, server: ServerId, event: &ChatEvent) {
        match event {
            ChatEvent::Joined { name } => {
                let lobby = self.rooms.lobby().to_string();
                let frame = joined_frame(id, name, server, LOBBY);
                self.fan_presence(&lobby, &frame, name, server, None);
            }
            ChatEvent::Left { name, reason, text } => {
                self.show_left(id, server, name, *reason, text.as_deref())
            }
            ChatEvent::Entered { name, room } => {
                let key = self.rooms.key_of(room).into_owned();
                let room = self.rooms.name(&key).unwrap_or(room);
                let frame = joined_frame(id, name, server, room);
                self.fan_presence(&key, &frame, name, server, None);
            }
            ChatEvent::Parted { name, room, text } => {
                let key = self.rooms.key_of(room).into_owned();
                let room = self.rooms.name(&key).unwrap_or(room);
                let frame = left_frame(
                    id,
                    name,
                    server,
                    LeaveReason::Leave,
                    room,
                    text.as_deref(),
                    false,
                );
                self.fan_presence(&key, &frame, name, server, None);
            }
            ChatEvent::Message {
                from,
                room,
                text,
                action,
                cid,
            } => {
                // The hot path: no key is copied, one frame is encoded.
                let key = self.rooms.key_of(room);
                let Some(channel) = self.rooms.get(&key) else {
                    return;
                };
                let frame = line_frame("message", id, from, text, &channel.name, *action, *cid);
                let to = Recipients {
                    wakes: &mut self.wakes,
                    overflowed: &mut self.overflowed,
                };
                to.deliver(&channel.local, &frame, false, None);
            }
            ChatEvent::Private { .. } => self.show_private(id, server, event),
            ChatEvent::Nick { old, new } => self.show_nick(id, server, old, new),
            ChatEvent::Topic { room, text, by, at } => {
                let key = self.rooms.key_of(room).into_owned();
                let frame = encode_frame(&ServerMsg::Topic {
                    room: self.rooms.name(&key).unwrap_or(room).to_string(),
                    text: text.clone(),
                    by: by.clone(),
                    at: *at,
                });
                self.fan_out(&key, &frame, true, None);
            }
            // A newer server's event kind: nothing to show, but it kept its place.
            ChatEvent::Unknown { .. } => {}
        }
    }

    /// `left` in each room the member was in; the member itself hears it
    /// only when it asked to leave (as confirmation; in `#lobby` if it was
    /// in no room at all).
    fn show_left(
        &mut self,
        id: MessageId,
        server: ServerId,
        name: &str,
        reason: LeaveReason,
        text: Option<&str>,
    ) {
        let (rooms, conn) = self.rooms_of(name, server);
        let quit = reason == LeaveReason::Leave;
        let except = if quit { None } else { conn };
        for key in &rooms {
            let Some(room) = self.rooms.name(key) else {
                continue;
            };
            let frame = left_frame(id, name, server, reason, room, text, quit);
            self.fan_presence(key, &frame, name, server, except);
        }
        if let (true, true, Some(conn)) = (rooms.is_empty(), quit, conn) {
            let frame = left_frame(id, name, server, reason, LOBBY, text, quit);
            self.push(conn, frame);
        }
    }

    /// The rooms (by key) of the member `name` of `server`, and its
    /// connection if it is local.
    pub(super) fn rooms_of(&self, name: &str, server: ServerId) -> (Vec<String>, Option<ConnId>) {
        let key = name_key(name);
        if server == self.me {
            if let Some(&conn) = self.names.get(&key) {
                if let Some(entry) = self.conns.get(&conn) {
                    return (entry.rooms.iter().cloned().collect(), Some(conn));
                }
            }
        } else if let Some(member) = self.remote.get(&key).filter(|m| m.server == server) {
            return (member.rooms.iter().cloned().collect(), None);
        }
        (Vec::new(), None)
    }

    /// What a room keeps of local connection `conn` to reach it.
    pub(super) fn slot(&self, conn: ConnId) -> Option<(ConnId, Slot)> {
        let entry = self.conns.get(&conn)?;
        let slot = Slot {
            pusher: entry.tx.pusher(),
            v2: entry.version >= 2,
        };
        Some((conn, slot))
    }

    /// Queues `frame` for every local member of the room with key `key`
    /// (version-2 connections only if `only_v2`), but `except`.
    pub(super) fn fan_out(
        &mut self,
        key: &str,
        frame: &Bytes,
        only_v2: bool,
        except: Option<ConnId>,
    ) {
        let Some(channel) = self.rooms.get(key) else {
            return;
        };
        let to = Recipients {
            wakes: &mut self.wakes,
            overflowed: &mut self.overflowed,
        };
        to.deliver(&channel.local, frame, only_v2, except);
    }

    /// Everyone in the chat, on this server and the others, by name.
    pub(super) fn members(&self) -> Vec<Member> {
        self.roster
            .iter()
            .map(|(name, &server)| Member {
                name: name.clone(),
                server,
            })
            .collect()
    }

    pub(super) fn push(&mut self, conn: ConnId, frame: Bytes) {
        let Some(entry) = self.conns.get(&conn) else {
            return;
        };
        match entry.tx.try_send(frame, &mut self.wakes) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => self.overflowed.push(conn),
            // The writer is gone (socket error); its session will unregister.
            Err(TrySendError::Closed(_)) => {}
        }
    }

    /// Queues `frame` for every member, whatever its rooms.
    pub(super) fn broadcast(&mut self, frame: Bytes) {
        self.wakes.note_fanout(self.conns.len());
        for (id, entry) in &self.conns {
            if entry.name.is_none() {
                continue;
            }
            if let Err(TrySendError::Full(_)) = entry.tx.try_send(frame.clone(), &mut self.wakes) {
                self.overflowed.push(*id);
            }
        }
    }

    /// Ends `conn`'s membership (telling the others, unless shutting down)
    /// and forgets the connection; its queue closes once drained.
    pub(super) fn remove_conn(&mut self, conn: ConnId, reason: LeaveReason) {
        if !self.closing {
            let _ = self.end_membership(conn, reason, None);
        }
        self.forget_member(conn);
        self.conns.remove(&conn);
    }

    /// Ends `conn`'s membership: everyone sharing a room with it hears
    /// `left` (the member too, for a voluntary leave, with what it said as
    /// it left: `text`), then its rooms and name are freed.
    pub(super) fn end_membership(
        &mut self,
        conn: ConnId,
        reason: LeaveReason,
        text: Option<String>,
    ) -> Result<(), super::NotJoined> {
        let name = self
            .conns
            .get(&conn)
            .and_then(|c| c.name.clone())
            .ok_or(super::NotJoined)?;
        let key = name_key(&name);
        self.emit(ChatEvent::Left { name, reason, text });
        self.forget_member(conn);
        // A name lost to a claim elsewhere goes to that claim, not to one
        // kept from before (`shadows`).
        if reason != LeaveReason::NameConflict {
            self.promote(&key);
        }
        Ok(())
    }

    /// Takes a local member out of its rooms and frees its name, telling nobody.
    pub(super) fn forget_member(&mut self, conn: ConnId) {
        let Some(entry) = self.conns.get_mut(&conn) else {
            return;
        };
        let Some(name) = entry.name.take() else {
            return;
        };
        let rooms = std::mem::take(&mut entry.rooms);
        entry.previous = None;
        for key in rooms {
            self.rooms.remove(&key, &name, Some(conn));
        }
        self.release_local(&name);
    }
}

/// The state a fan-out writes to, borrowed apart from the rooms it reads.
pub(super) struct Recipients<'a> {
    pub(super) wakes: &'a mut Wakes,
    pub(super) overflowed: &'a mut Vec<ConnId>,
}

impl Recipients<'_> {
    /// One push per recipient (version-2 ones only if `only_v2`), but
    /// `except`; a full queue marks its connection for eviction.
    fn deliver(
        self,
        to: &HashMap<ConnId, Slot, IdHash>,
        frame: &Bytes,
        only_v2: bool,
        except: Option<ConnId>,
    ) {
        self.wakes.note_fanout(to.len());
        for (&id, slot) in to {
            if Some(id) == except || (only_v2 && !slot.v2) {
                continue;
            }
            if let Err(TrySendError::Full(_)) = slot.pusher.try_send(frame.clone(), self.wakes) {
                self.overflowed.push(id);
            }
        }
    }

    /// One entry holding `lines` frames (a run) for every recipient but
    /// `sender`; a queue without room for all of them marks its
    /// connection for eviction.
    pub(super) fn deliver_run(
        &mut self,
        to: &HashMap<ConnId, Slot, IdHash>,
        frames: &Bytes,
        lines: u32,
        sender: ConnId,
    ) {
        self.wakes.note_fanout(to.len());
        for (&id, slot) in to {
            if id == sender {
                continue;
            }
            self.push_run(slot, id, frames.clone(), lines);
        }
    }

    /// One entry holding `lines` frames for member `id` (already counted on
    /// the wakes); false if its queue had no room for them, which marks the
    /// connection for eviction.
    pub(super) fn push_run(&mut self, slot: &Slot, id: ConnId, frames: Bytes, lines: u32) -> bool {
        let sent = slot.pusher.try_send_run(frames, lines, self.wakes);
        if let Err(TrySendError::Full(_)) = sent {
            self.overflowed.push(id);
            return false;
        }
        true
    }
}
