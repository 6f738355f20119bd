//! The chat room: who is here, and the one order in which everyone hears things.
//!
//! Every event (join, leave, message) is numbered and encoded *once*, under a
//! single lock, and the same [`Bytes`] are pushed onto each member's bounded
//! outbound queue. Holding the lock across numbering and fan-out is what gives
//! every client the same order. Pushing never waits: a member whose queue is
//! full is evicted as too slow, so one stalled reader can neither grow server
//! memory nor hold up anyone else.
//!
//! The room never touches a socket; session tasks feed it and writer tasks
//! drain the queues it fills. In a cluster, every local event also goes to
//! the relay (under the same lock, so the relay's order is the room's order),
//! and [`remote`] applies what the relay delivers from other servers.

mod remote;

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::mpsc::{self, error::TrySendError};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::cluster::ClusterView;
use crate::protocol::validate::name_key;
use crate::protocol::{
    encode_frame, LeaveReason, Member, MessageId, ServerId, ServerInfo, ServerMsg, StatusReport,
};
use crate::relay::ChatEvent;

/// Identifies one connection within this server process.
pub type ConnId = u64;

/// Chat messages each server keeps, local and relayed (about 1 MB at most).
pub const RECENT_MESSAGES: usize = 1000;

/// What a session gets when it registers its connection.
#[derive(Debug)]
pub struct Registration {
    /// The connection's id.
    pub id: ConnId,
    /// Frames to write to the client, in order; closed when the room drops the connection.
    pub outbound: mpsc::Receiver<Bytes>,
    /// Cancelled when the room evicts the connection (too slow).
    pub evicted: CancellationToken,
}

/// Why a `join` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    /// Someone holds the name (compared without letter case).
    #[error("the name {0:?} is taken")]
    NameTaken(String),
    /// This connection already holds a name.
    #[error("already joined as {0:?}")]
    AlreadyJoined(String),
    /// The server is shutting down.
    #[error("the server is shutting down")]
    ShuttingDown,
}

/// The connection is not (or no longer) a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not joined")]
pub struct NotJoined;

/// The room shared by every session of one server.
#[derive(Debug)]
pub struct Room {
    id: ServerId,
    addr: String,
    queue_capacity: usize,
    state: Mutex<RoomState>,
    cluster: Option<watch::Receiver<ClusterView>>,
}

#[derive(Debug, Default)]
struct RoomState {
    next_conn: ConnId,
    last_seq: u64,
    conns: HashMap<ConnId, Conn>,
    /// name key → local holder
    names: HashMap<String, ConnId>,
    /// name key → member on another server
    remote: HashMap<String, Member>,
    /// Local events to relay to the other servers, with their sequence numbers.
    relay: Option<mpsc::UnboundedSender<(u64, ChatEvent)>>,
    /// The last [`RECENT_MESSAGES`] chat messages, local and relayed, oldest first.
    recent: VecDeque<(MessageId, String, String)>,
    /// How many of them a joining client is shown.
    history_on_join: usize,
    closing: bool,
    /// Connections whose queue overflowed during the current operation.
    overflowed: Vec<ConnId>,
}

#[derive(Debug)]
struct Conn {
    tx: mpsc::Sender<Bytes>,
    evicted: CancellationToken,
    name: Option<String>,
}

impl Room {
    /// An empty room for server `id`, reachable by clients at `addr`.
    pub fn new(id: ServerId, addr: String, queue_capacity: usize) -> Self {
        Room {
            id,
            addr,
            queue_capacity: queue_capacity.max(1),
            state: Mutex::new(RoomState::default()),
            cluster: None,
        }
    }

    /// Lets `status` list the cluster's other servers from `view`.
    pub fn with_cluster(mut self, view: watch::Receiver<ClusterView>) -> Self {
        self.cluster = Some(view);
        self
    }

    /// Shows joining clients up to `count` recent messages (0 = none).
    pub fn with_history(self, count: usize) -> Self {
        self.lock().history_on_join = count.min(RECENT_MESSAGES);
        self
    }

    /// Sends every local event, numbered, to the relay.
    pub fn with_relay(self, relay: mpsc::UnboundedSender<(u64, ChatEvent)>) -> Self {
        self.lock().relay = Some(relay);
        self
    }

    /// This server's id.
    pub fn id(&self) -> ServerId {
        self.id
    }

    fn lock(&self) -> MutexGuard<'_, RoomState> {
        // A panic while holding the lock would be a bug; keep serving anyway.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds a connection (not yet a member) and hands back its queue.
    pub fn register(&self) -> Registration {
        let (tx, outbound) = mpsc::channel(self.queue_capacity);
        let evicted = CancellationToken::new();
        let mut state = self.lock();
        state.next_conn += 1;
        let id = state.next_conn;
        state.conns.insert(
            id,
            Conn {
                tx,
                evicted: evicted.clone(),
                name: None,
            },
        );
        Registration {
            id,
            outbound,
            evicted,
        }
    }

    /// Queues a frame for one connection. Drops it silently if the connection
    /// is already gone; evicts the connection if its queue is full.
    pub fn send_to(&self, conn: ConnId, frame: Bytes) {
        let mut state = self.lock();
        state.push(conn, frame);
        self.settle(&mut state);
    }

    /// Makes `conn` a member named `name` (already validated). The new member
    /// gets `welcome` first, then everyone, the new member included, gets `joined`.
    pub fn join(&self, conn: ConnId, name: &str) -> Result<(), JoinError> {
        self.join_with(conn, name, None)
    }

    /// Like [`Room::join`] for a client moving here from a lost server:
    /// instead of history it gets, as `message`s, every recent message it
    /// has not seen. `last_seen` holds the newest id it saw from each origin.
    pub fn rejoin(
        &self,
        conn: ConnId,
        name: &str,
        last_seen: &[MessageId],
    ) -> Result<(), JoinError> {
        self.join_with(conn, name, Some(last_seen))
    }

    fn join_with(
        &self,
        conn: ConnId,
        name: &str,
        last_seen: Option<&[MessageId]>,
    ) -> Result<(), JoinError> {
        let mut state = self.lock();
        if state.closing {
            return Err(JoinError::ShuttingDown);
        }
        let Some(entry) = state.conns.get(&conn) else {
            return Err(JoinError::ShuttingDown);
        };
        if let Some(current) = &entry.name {
            return Err(JoinError::AlreadyJoined(current.clone()));
        }
        let key = name_key(name);
        if state.names.contains_key(&key) || state.remote.contains_key(&key) {
            return Err(JoinError::NameTaken(name.to_string()));
        }
        state.names.insert(key, conn);
        if let Some(entry) = state.conns.get_mut(&conn) {
            entry.name = Some(name.to_string());
        }
        let welcome = ServerMsg::Welcome {
            server: self.id,
            name: name.to_string(),
            members: state.members(self.id),
            servers: self.server_addrs(),
        };
        state.push(conn, encode_frame(&welcome));
        let replay: Vec<Bytes> = match last_seen {
            None => {
                let skip = state.recent.len().saturating_sub(state.history_on_join);
                state
                    .recent
                    .iter()
                    .skip(skip)
                    .map(|(id, from, text)| {
                        encode_frame(&ServerMsg::History {
                            id: *id,
                            from: from.clone(),
                            text: text.clone(),
                        })
                    })
                    .collect()
            }
            Some(seen) => backfill(&state.recent, seen)
                .map(|(id, from, text)| {
                    encode_frame(&ServerMsg::Message {
                        id: *id,
                        from: from.clone(),
                        text: text.clone(),
                    })
                })
                .collect(),
        };
        for frame in replay {
            state.push(conn, frame);
        }
        let id = state.next_id(self.id);
        state.relay_out(
            id.seq,
            ChatEvent::Joined {
                name: name.to_string(),
            },
        );
        state.broadcast(encode_frame(&ServerMsg::Joined {
            id,
            name: name.to_string(),
            server: self.id,
        }));
        self.settle(&mut state);
        Ok(())
    }

    /// Broadcasts a chat message from member `conn` (text already validated).
    pub fn say(&self, conn: ConnId, text: String) -> Result<MessageId, NotJoined> {
        let mut state = self.lock();
        let from = state
            .conns
            .get(&conn)
            .and_then(|c| c.name.clone())
            .ok_or(NotJoined)?;
        let id = state.next_id(self.id);
        state.relay_out(
            id.seq,
            ChatEvent::Message {
                from: from.clone(),
                text: text.clone(),
            },
        );
        state.record(id, &from, &text);
        state.broadcast(encode_frame(&ServerMsg::Message { id, from, text }));
        self.settle(&mut state);
        Ok(id)
    }

    /// Ends `conn`'s membership. Everyone still here hears `left`; for a
    /// voluntary leave the leaver hears it too, as confirmation.
    pub fn leave(&self, conn: ConnId, reason: LeaveReason) -> Result<(), NotJoined> {
        let mut state = self.lock();
        state.end_membership(conn, reason, self.id)?;
        self.settle(&mut state);
        Ok(())
    }

    /// Removes a connection for good, ending its membership first if it has one.
    /// Safe to call twice and after an eviction.
    pub fn unregister(&self, conn: ConnId, reason: LeaveReason) {
        let mut state = self.lock();
        state.remove_conn(conn, reason, self.id);
        self.settle(&mut state);
    }

    /// Stops new joins, queues a `shutdown` notice for every connection and
    /// closes every queue behind it, so the notice is each client's last frame.
    pub fn begin_shutdown(&self, reason: &str) {
        let mut alternatives = self.server_addrs();
        alternatives.retain(|a| *a != self.addr);
        let mut state = self.lock();
        state.closing = true;
        let frame = encode_frame(&ServerMsg::Shutdown {
            reason: reason.to_string(),
            servers: alternatives,
        });
        let ids: Vec<ConnId> = state.conns.keys().copied().collect();
        for id in ids {
            state.push(id, frame.clone());
        }
        state.conns.clear();
        state.names.clear();
        state.overflowed.clear();
    }

    /// Queues `last` as the connection's final frame and removes the
    /// connection in the same step, so nothing can be queued after it.
    /// Others hear `left` with `reason` if it was a member.
    pub fn close_with(&self, conn: ConnId, last: Bytes, reason: LeaveReason) {
        let mut state = self.lock();
        state.push(conn, last);
        state.remove_conn(conn, reason, self.id);
        self.settle(&mut state);
    }

    /// Client addresses of every live server, this one first, then the
    /// others in id order. What a client needs to fail over.
    pub fn server_addrs(&self) -> Vec<String> {
        let mut addrs = vec![self.addr.clone()];
        if let Some(view) = &self.cluster {
            addrs.extend(
                view.borrow()
                    .members
                    .iter()
                    .map(|m| m.info.client_addr.to_string()),
            );
        }
        addrs
    }

    /// Tells every member the live servers changed.
    pub fn announce_servers(&self, servers: Vec<String>) {
        let mut state = self.lock();
        if state.closing {
            return;
        }
        state.broadcast(encode_frame(&ServerMsg::Servers { servers }));
        self.settle(&mut state);
    }

    /// What this server knows, for `status`.
    pub fn status(&self) -> StatusReport {
        let mut servers = vec![ServerInfo {
            id: self.id,
            addr: self.addr.clone(),
            state: "alive".into(),
            last_heard_ms: 0,
        }];
        if let Some(view) = &self.cluster {
            let view = view.borrow();
            servers.extend(view.members.iter().map(|m| ServerInfo {
                id: m.info.id,
                addr: m.info.client_addr.to_string(),
                state: m.health.as_str().into(),
                last_heard_ms: m.last_heard.elapsed().as_millis() as u64,
            }));
        }
        let state = self.lock();
        StatusReport {
            id: self.id,
            servers,
            members: state.members(self.id),
        }
    }

    /// How many connections are registered (members or not).
    pub fn connection_count(&self) -> usize {
        self.lock().conns.len()
    }

    /// How many members are in the chat.
    pub fn member_count(&self) -> usize {
        self.lock().names.len()
    }

    /// Evicts every connection whose queue overflowed, telling the others.
    /// Evictions can overflow further queues, so this runs to a fixed point;
    /// each round removes a connection, so it ends.
    fn settle(&self, state: &mut RoomState) {
        while let Some(conn) = state.overflowed.pop() {
            let Some(entry) = state.conns.remove(&conn) else {
                continue;
            };
            entry.evicted.cancel();
            let Some(name) = entry.name else { continue };
            state.names.remove(&name_key(&name));
            tracing::warn!(conn, name = %name, "evicting client: outbound queue full");
            if !state.closing {
                let id = state.next_id(self.id);
                state.relay_out(
                    id.seq,
                    ChatEvent::Left {
                        name: name.clone(),
                        reason: LeaveReason::TooSlow,
                    },
                );
                state.broadcast(encode_frame(&ServerMsg::Left {
                    id,
                    name,
                    server: self.id,
                    reason: LeaveReason::TooSlow,
                }));
            }
        }
    }
}

/// The recent messages a client that saw up to `seen` (newest id per
/// origin) has missed, in this server's order. For an origin it named:
/// everything newer. For an origin it never heard from: everything after the
/// earliest point where the ring meets what it saw (all of the ring if it
/// has been away longer than the ring reaches).
fn backfill<'a>(
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

impl RoomState {
    fn next_id(&mut self, origin: ServerId) -> MessageId {
        self.last_seq += 1;
        MessageId {
            origin,
            seq: self.last_seq,
        }
    }

    /// Remembers a chat message for history and backfill.
    fn record(&mut self, id: MessageId, from: &str, text: &str) {
        if self.recent.len() == RECENT_MESSAGES {
            self.recent.pop_front();
        }
        self.recent
            .push_back((id, from.to_string(), text.to_string()));
    }

    /// Hands a local event to the relay, if clustered.
    fn relay_out(&self, seq: u64, event: ChatEvent) {
        if let Some(relay) = &self.relay {
            let _ = relay.send((seq, event));
        }
    }

    /// Everyone in the chat, on this server and the others.
    fn members(&self, server: ServerId) -> Vec<Member> {
        let mut members: Vec<Member> = self
            .conns
            .values()
            .filter_map(|c| c.name.clone())
            .map(|name| Member { name, server })
            .chain(self.remote.values().cloned())
            .collect();
        members.sort_by(|a, b| a.name.cmp(&b.name));
        members
    }

    fn push(&mut self, conn: ConnId, frame: Bytes) {
        let Some(entry) = self.conns.get(&conn) else {
            return;
        };
        match entry.tx.try_send(frame) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => self.overflowed.push(conn),
            // The writer is gone (socket error); its session will unregister.
            Err(TrySendError::Closed(_)) => {}
        }
    }

    fn broadcast(&mut self, frame: Bytes) {
        for (id, entry) in &self.conns {
            if entry.name.is_none() {
                continue;
            }
            if let Err(TrySendError::Full(_)) = entry.tx.try_send(frame.clone()) {
                self.overflowed.push(*id);
            }
        }
    }

    /// Ends `conn`'s membership (telling the others, unless shutting down)
    /// and forgets the connection; its queue closes once drained.
    fn remove_conn(&mut self, conn: ConnId, reason: LeaveReason, server: ServerId) {
        if !self.closing {
            let _ = self.end_membership(conn, reason, server);
        }
        if let Some(entry) = self.conns.remove(&conn) {
            if let Some(name) = entry.name {
                self.names.remove(&name_key(&name));
            }
        }
    }

    fn end_membership(
        &mut self,
        conn: ConnId,
        reason: LeaveReason,
        server: ServerId,
    ) -> Result<(), NotJoined> {
        let entry = self.conns.get_mut(&conn).ok_or(NotJoined)?;
        let name = entry.name.take().ok_or(NotJoined)?;
        self.names.remove(&name_key(&name));
        let id = self.next_id(server);
        self.relay_out(
            id.seq,
            ChatEvent::Left {
                name: name.clone(),
                reason,
            },
        );
        let frame = encode_frame(&ServerMsg::Left {
            id,
            name,
            server,
            reason,
        });
        if reason == LeaveReason::Leave {
            self.push(conn, frame.clone());
        }
        self.broadcast(frame);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{decode, ServerMsg};

    fn room(capacity: usize) -> Room {
        Room::new(ServerId::random(), "127.0.0.1:1".into(), capacity)
    }

    fn drain(reg: &mut Registration) -> Vec<ServerMsg> {
        let mut out = Vec::new();
        while let Ok(frame) = reg.outbound.try_recv() {
            out.push(decode(&frame[4..]).unwrap());
        }
        out
    }

    #[test]
    fn join_sends_welcome_then_joined_to_everyone() {
        let room = room(16);
        let mut a = room.register();
        let mut b = room.register();
        room.join(a.id, "Ann").unwrap();
        room.join(b.id, "Bob").unwrap();
        let to_a = drain(&mut a);
        let to_b = drain(&mut b);
        assert!(matches!(&to_a[0], ServerMsg::Welcome { members, .. } if members.len() == 1));
        assert!(matches!(&to_a[1], ServerMsg::Joined { name, .. } if name == "Ann"));
        assert!(matches!(&to_a[2], ServerMsg::Joined { name, .. } if name == "Bob"));
        assert!(matches!(&to_b[0], ServerMsg::Welcome { members, .. } if members.len() == 2));
        assert!(matches!(&to_b[1], ServerMsg::Joined { name, .. } if name == "Bob"));
        assert_eq!(
            to_b.len(),
            2,
            "Bob does not hear about joins before his own"
        );
    }

    #[test]
    fn names_are_unique_ignoring_case_and_freed_on_leave() {
        let room = room(16);
        let a = room.register();
        let b = room.register();
        room.join(a.id, "Leo").unwrap();
        assert_eq!(
            room.join(b.id, "leo"),
            Err(JoinError::NameTaken("leo".into()))
        );
        assert_eq!(
            room.join(a.id, "Max"),
            Err(JoinError::AlreadyJoined("Leo".into()))
        );
        room.leave(a.id, LeaveReason::Leave).unwrap();
        room.join(b.id, "LEO").unwrap();
    }

    #[test]
    fn events_carry_increasing_ids_and_the_same_order_for_all() {
        let room = room(64);
        let mut regs: Vec<_> = (0..3).map(|_| room.register()).collect();
        for (i, reg) in regs.iter().enumerate() {
            room.join(reg.id, &format!("u{i}")).unwrap();
        }
        for n in 0..5 {
            room.say(regs[n % 3].id, format!("m{n}")).unwrap();
        }
        let seen: Vec<Vec<u64>> = regs
            .iter_mut()
            .map(|r| {
                drain(r)
                    .into_iter()
                    .filter_map(|m| match m {
                        ServerMsg::Message { id, .. } => Some(id.seq),
                        _ => None,
                    })
                    .collect()
            })
            .collect();
        assert_eq!(seen[0].len(), 5);
        assert!(seen[0].windows(2).all(|w| w[1] == w[0] + 1));
        assert_eq!(seen[0], seen[1]);
        assert_eq!(seen[1], seen[2]);
    }

    #[test]
    fn a_full_queue_evicts_only_that_client() {
        let room = room(4);
        let mut fast = room.register();
        let slow = room.register();
        room.join(fast.id, "fast").unwrap();
        room.join(slow.id, "slow").unwrap();
        let mut heard_by_fast = Vec::new();
        for n in 0..10 {
            heard_by_fast.extend(drain(&mut fast));
            room.say(fast.id, format!("m{n}")).unwrap();
        }
        heard_by_fast.extend(drain(&mut fast));
        assert!(slow.evicted.is_cancelled());
        assert!(!fast.evicted.is_cancelled());
        assert_eq!(room.member_count(), 1);
        let left = heard_by_fast;
        assert!(left.iter().any(|m| matches!(
            m,
            ServerMsg::Left { name, reason: LeaveReason::TooSlow, .. } if name == "slow"
        )));
        // The evicted connection's queue is closed once drained.
        drop(slow);
        assert_eq!(room.connection_count(), 1);
    }

    #[test]
    fn leave_confirms_to_leaver_and_unregister_is_idempotent() {
        let room = room(16);
        let mut a = room.register();
        room.join(a.id, "Ann").unwrap();
        room.leave(a.id, LeaveReason::Leave).unwrap();
        let msgs = drain(&mut a);
        assert!(matches!(
            msgs.last(),
            Some(ServerMsg::Left {
                reason: LeaveReason::Leave,
                ..
            })
        ));
        assert_eq!(room.leave(a.id, LeaveReason::Leave), Err(NotJoined));
        room.unregister(a.id, LeaveReason::Disconnected);
        room.unregister(a.id, LeaveReason::Disconnected);
        assert_eq!(room.connection_count(), 0);
    }

    #[test]
    fn shutdown_notifies_every_connection_and_refuses_joins() {
        let room = room(16);
        let mut a = room.register();
        let mut b = room.register();
        room.join(a.id, "Ann").unwrap();
        room.begin_shutdown("bye");
        assert!(matches!(
            drain(&mut a).last(),
            Some(ServerMsg::Shutdown { .. })
        ));
        assert!(matches!(
            drain(&mut b).last(),
            Some(ServerMsg::Shutdown { .. })
        ));
        assert_eq!(room.join(b.id, "Bob"), Err(JoinError::ShuttingDown));
        // Nothing can follow the notice: the queues are closed.
        assert!(room.say(a.id, "late".into()).is_err());
        assert!(a.outbound.try_recv().is_err());
        assert_eq!(room.connection_count(), 0);
    }

    #[test]
    fn backfill_sends_exactly_what_was_missed() {
        let a = ServerId::from_bytes([1; 16]);
        let b = ServerId::from_bytes([2; 16]);
        let c = ServerId::from_bytes([3; 16]);
        let id = |origin, seq| MessageId { origin, seq };
        // The new server's order: a1 b1 a2 b2 c1 a3
        let recent: VecDeque<_> = [id(a, 1), id(b, 1), id(a, 2), id(b, 2), id(c, 1), id(a, 3)]
            .into_iter()
            .map(|i| (i, "x".to_string(), "t".to_string()))
            .collect();
        let missed = |seen: &[MessageId]| -> Vec<MessageId> {
            backfill(&recent, seen).map(|e| e.0).collect()
        };
        // Saw a up to 1 and b up to 2: a2, a3 and c1 (c unknown, after the cutoff at a1).
        assert_eq!(
            missed(&[id(a, 1), id(b, 2)]),
            [id(a, 2), id(c, 1), id(a, 3)]
        );
        // Saw everything: nothing.
        assert!(missed(&[id(a, 3), id(b, 2), id(c, 1)]).is_empty());
        // Away longer than the ring reaches: all of it.
        assert_eq!(
            missed(&[id(a, 0)]).len(),
            6,
            "all of a is newer; b and c unknown, no cutoff"
        );
    }

    #[test]
    fn a_fatal_error_is_the_last_frame() {
        let room = room(16);
        let mut a = room.register();
        let mut b = room.register();
        room.join(a.id, "Ann").unwrap();
        room.join(b.id, "Bob").unwrap();
        drain(&mut a);
        let last = encode_frame(&ServerMsg::Pong { nonce: 1 });
        room.close_with(a.id, last, LeaveReason::ProtocolError);
        room.say(b.id, "after".into()).unwrap();
        let to_a = drain(&mut a);
        assert!(
            matches!(to_a.last(), Some(ServerMsg::Pong { nonce: 1 })),
            "{to_a:?}"
        );
        let to_b = drain(&mut b);
        assert!(to_b.iter().any(|m| matches!(
            m,
            ServerMsg::Left {
                reason: LeaveReason::ProtocolError,
                ..
            }
        )));
    }
}
