//! The room's state behind its lock: connections, names, the roster in
//! name order, recent messages, and the fan-out of encoded frames into the
//! members' queues. Everything here runs with the room lock held.

use crate::protocol::LOBBY;
use std::collections::{BTreeMap, HashMap, VecDeque};

use bytes::Bytes;
use serde::{Serialize, Serializer};
use tokio::sync::mpsc::{self, error::TrySendError};

use super::dedupe::SentLines;
use super::queue::{FrameSender, Wakes};
use tokio_util::sync::CancellationToken;

use super::{ConnId, NotJoined, RECENT_MESSAGES};
use crate::protocol::validate::name_key;
use crate::protocol::{
    encode_frame, encode_frame_sized, LeaveReason, Member, MessageId, ServerId, ServerMsg,
};
use crate::relay::ChatEvent;

#[derive(Debug, Default)]
pub(super) struct RoomState {
    pub(super) next_conn: ConnId,
    pub(super) last_seq: u64,
    pub(super) conns: HashMap<ConnId, Conn>,
    /// name key → local holder
    pub(super) names: HashMap<String, ConnId>,
    /// name key → member on another server
    pub(super) remote: HashMap<String, Member>,
    /// Everyone in the chat, local and remote, by name: the order `welcome`
    /// and `status` list them in, kept up to date so a join need not sort.
    pub(super) roster: BTreeMap<String, ServerId>,
    /// Local events to relay to the other servers, with their sequence numbers.
    pub(super) relay: Option<mpsc::UnboundedSender<(u64, ChatEvent)>>,
    /// The last [`RECENT_MESSAGES`] chat messages, local and relayed, oldest first.
    pub(super) recent: VecDeque<(MessageId, String, String)>,
    /// How many of them a joining client is shown.
    pub(super) history_on_join: usize,
    /// Recent lines by (sender, client id), so a resend is shown once.
    pub(super) sent: SentLines,
    pub(super) closing: bool,
    /// Connections whose queue overflowed during the current operation.
    pub(super) overflowed: Vec<ConnId>,
    /// Writers given frames during the current operation, to wake at its end.
    pub(super) wakes: Wakes,
}

#[derive(Debug)]
pub(super) struct Conn {
    pub(super) tx: FrameSender,
    pub(super) evicted: CancellationToken,
    pub(super) name: Option<String>,
}

/// The recent messages a client that saw up to `seen` (newest id per
/// origin) has missed, in this server's order. For an origin it named:
/// everything newer. For an origin it never heard from: everything after the
/// earliest point where the ring meets what it saw (all of the ring if it
/// has been away longer than the ring reaches).
pub(super) fn backfill<'a>(
    recent: &'a VecDeque<(MessageId, String, String)>,
    seen: &'a [MessageId],
) -> impl Iterator<Item = &'a (MessageId, String, String)> + 'a {
    let newest = |origin: ServerId| {
        seen.iter()
            .filter(|s| s.origin == origin)
            .map(|s| s.seq)
            .max()
    };
    let cutoff = recent.iter().position(|(id, _, _)| seen.contains(id));
    recent
        .iter()
        .enumerate()
        .filter(move |(pos, (id, _, _))| match newest(id.origin) {
            Some(last) => id.seq > last,
            None => cutoff.is_none_or(|c| *pos > c),
        })
        .map(|(_, entry)| entry)
}

/// The newest message id per origin among the recent messages: what a
/// joining client has, in effect, seen (`welcome.seen`).
pub(super) fn watermark(recent: &VecDeque<(MessageId, String, String)>) -> Vec<MessageId> {
    let mut newest: BTreeMap<ServerId, u64> = BTreeMap::new();
    for (id, _, _) in recent {
        let seq = newest.entry(id.origin).or_default();
        *seq = (*seq).max(id.seq);
    }
    newest
        .into_iter()
        .map(|(origin, seq)| MessageId { origin, seq })
        .collect()
}

impl RoomState {
    pub(super) fn next_id(&mut self, origin: ServerId) -> MessageId {
        self.last_seq += 1;
        MessageId {
            origin,
            seq: self.last_seq,
        }
    }

    /// Remembers a chat message for history and backfill.
    pub(super) fn record(&mut self, id: MessageId, from: String, text: String) {
        if self.recent.len() == RECENT_MESSAGES {
            self.recent.pop_front();
        }
        self.recent.push_back((id, from, text));
    }

    /// The one path of a local event: number it, encode it once, keep it
    /// for history (a message), hand it to the relay (if clustered) and fan
    /// the frame out to every member. Returns its id and frame.
    pub(super) fn emit(&mut self, me: ServerId, event: ChatEvent) -> (MessageId, Bytes) {
        let id = self.next_id(me);
        let frame = match &event {
            ChatEvent::Joined { name } => encode_frame(&ServerMsg::Joined {
                id,
                name: name.clone(),
                server: me,
                room: LOBBY.into(),
            }),
            ChatEvent::Left { name, reason } => encode_frame(&ServerMsg::Left {
                id,
                name: name.clone(),
                server: me,
                reason: *reason,
                room: LOBBY.into(),
            }),
            ChatEvent::Message { from, text, cid } => {
                self.remember_line(from, *cid, id);
                Self::message_frame(id, from, text)
            }
            ChatEvent::Unknown { .. } => Bytes::new(),
        };
        // Strings are copied only when both history and the relay need them.
        match (event, self.relay.is_some()) {
            (ChatEvent::Message { from, text, .. }, false) => self.record(id, from, text),
            (event, _) => {
                if let ChatEvent::Message { from, text, .. } = &event {
                    self.record(id, from.clone(), text.clone());
                }
                self.relay_out(id.seq, event);
            }
        }
        if !frame.is_empty() {
            self.broadcast(frame.clone());
        }
        (id, frame)
    }

    /// Hands a numbered local event to the relay, if clustered.
    pub(super) fn relay_out(&self, seq: u64, event: ChatEvent) {
        if let Some(relay) = &self.relay {
            let _ = relay.send((seq, event));
        }
    }

    /// A `message` frame, encoded from borrowed strings into a buffer of
    /// the right size (the same bytes as `ServerMsg::Message`).
    pub(super) fn message_frame(id: MessageId, from: &str, text: &str) -> Bytes {
        #[derive(Serialize)]
        #[serde(tag = "type", rename = "message")]
        struct Message<'a> {
            id: MessageId,
            from: &'a str,
            room: &'a str,
            text: &'a str,
        }
        let room = LOBBY;
        encode_frame_sized(
            &Message {
                id,
                from,
                room,
                text,
            },
            64 + from.len() + text.len() + room.len(),
        )
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

    /// `welcome` for `name`, encoded straight from the roster: the same
    /// bytes as `encode_frame(&ServerMsg::Welcome { .. })` without cloning
    /// every member first (a join storm would otherwise copy the roster per join).
    pub(super) fn welcome_frame(
        &self,
        server: ServerId,
        name: &str,
        servers: &[String],
        seen: &[MessageId],
    ) -> Bytes {
        #[derive(Serialize)]
        #[serde(tag = "type", rename = "welcome")]
        struct Welcome<'a> {
            server: ServerId,
            name: &'a str,
            members: Roster<'a>,
            servers: &'a [String],
            seen: &'a [MessageId],
            room: &'a str,
        }
        struct Roster<'a>(&'a BTreeMap<String, ServerId>);
        #[derive(Serialize)]
        struct MemberRef<'a> {
            name: &'a str,
            server: ServerId,
        }
        impl Serialize for Roster<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_seq(
                    self.0
                        .iter()
                        .map(|(name, &server)| MemberRef { name, server }),
                )
            }
        }
        encode_frame(&Welcome {
            server,
            name,
            members: Roster(&self.roster),
            servers,
            seen,
            room: LOBBY,
        })
    }

    /// Gives local connection `conn` the name `name` (already checked free).
    pub(super) fn claim_local(&mut self, conn: ConnId, name: &str, me: ServerId) {
        self.names.insert(name_key(name), conn);
        self.roster.insert(name.to_string(), me);
        if let Some(entry) = self.conns.get_mut(&conn) {
            entry.name = Some(name.to_string());
        }
    }

    /// Frees a local member's name.
    pub(super) fn release_local(&mut self, name: &str) {
        self.names.remove(&name_key(name));
        self.roster.remove(name);
    }

    /// Records that `member` holds its name on another server.
    pub(super) fn set_remote(&mut self, key: String, member: Member) {
        self.roster.insert(member.name.clone(), member.server);
        let name = member.name.clone();
        if let Some(old) = self.remote.insert(key, member) {
            // Same key, possibly another spelling of the name.
            if old.name != name {
                self.roster.remove(&old.name);
            }
        }
    }

    /// Forgets the remote holder of name key `key`.
    pub(super) fn drop_remote(&mut self, key: &str) -> Option<Member> {
        let member = self.remote.remove(key)?;
        self.roster.remove(&member.name);
        Some(member)
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

    pub(super) fn broadcast(&mut self, frame: Bytes) {
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
    pub(super) fn remove_conn(&mut self, conn: ConnId, reason: LeaveReason, server: ServerId) {
        if !self.closing {
            let _ = self.end_membership(conn, reason, server);
        }
        if let Some(entry) = self.conns.remove(&conn) {
            if let Some(name) = entry.name {
                self.release_local(&name);
            }
        }
    }

    pub(super) fn end_membership(
        &mut self,
        conn: ConnId,
        reason: LeaveReason,
        server: ServerId,
    ) -> Result<(), NotJoined> {
        let entry = self.conns.get_mut(&conn).ok_or(NotJoined)?;
        let name = entry.name.take().ok_or(NotJoined)?;
        self.release_local(&name);
        let (_, frame) = self.emit(server, ChatEvent::Left { name, reason });
        if reason == LeaveReason::Leave {
            // The leaver is no longer a member, so the fan-out missed it.
            self.push(conn, frame);
        }
        Ok(())
    }
}
