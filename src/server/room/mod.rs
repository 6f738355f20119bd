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
//! and the `remote` module applies what the relay delivers from other servers.

mod dedupe;
mod queue;
mod remote;
mod state;

pub use dedupe::{ClientId, DEDUPE_WINDOW};
pub use queue::{frame_queue, FrameReceiver, FrameSender, Wakes};

use crate::protocol::LOBBY;
use state::{backfill, watermark, Conn, RoomState};
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::admission::Admission;
use crate::net::ClusterView;
use crate::protocol::validate::name_key;
use crate::protocol::{
    encode_frame, LeaveReason, MessageId, ServerId, ServerInfo, ServerMsg, StatusReport,
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
    pub outbound: FrameReceiver,
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
    /// Connection caps, whose refusal counts `status` reports.
    admission: Option<Arc<Admission>>,
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
            admission: None,
        }
    }

    /// Lets `status` report the connection caps' counts from `admission`.
    pub fn with_admission(mut self, admission: Arc<Admission>) -> Self {
        self.admission = Some(admission);
        self
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
        let (tx, outbound) = frame_queue(self.queue_capacity);
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
        self.finish(&mut state);
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
        state.claim_local(conn, name, self.id);
        let seen = watermark(&state.recent);
        let welcome = state.welcome_frame(self.id, name, &self.server_addrs(), &seen);
        state.push(conn, welcome);
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
                            room: LOBBY.into(),
                            action: false,
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
                        room: LOBBY.into(),
                        action: false,
                    })
                })
                .collect(),
        };
        for frame in replay {
            state.push(conn, frame);
        }
        state.emit(
            self.id,
            ChatEvent::Joined {
                name: name.to_string(),
            },
        );
        self.finish(&mut state);
        Ok(())
    }

    /// Broadcasts a chat message from member `conn` (text already validated).
    pub fn say(&self, conn: ConnId, text: String) -> Result<MessageId, NotJoined> {
        self.say_then_wake(conn, text, None, &mut Wakes::default())
    }

    /// Like [`Room::say`], but leaves the recipients' writers on `wakes`
    /// instead of waking them: a session handling a burst of messages wakes
    /// each writer once, when the burst is done. A line with a client id
    /// is numbered once cluster-wide (see [`ClientId`]): a resend of one
    /// already numbered is only acknowledged, with the original id.
    pub fn say_then_wake(
        &self,
        conn: ConnId,
        text: String,
        cid: Option<ClientId>,
        wakes: &mut Wakes,
    ) -> Result<MessageId, NotJoined> {
        let mut state = self.lock();
        let from = state
            .conns
            .get(&conn)
            .and_then(|c| c.name.clone())
            .ok_or(NotJoined)?;
        if let Some(original) = state.resent(self.id, conn, &from, &text, cid) {
            self.settle(&mut state);
            wakes.append(&mut state.wakes);
            return Ok(original);
        }
        let (id, _) = state.emit(
            self.id,
            ChatEvent::Message {
                from,
                text,
                cid: cid.map_or(0, |c| c.cid),
            },
        );
        state.ack(conn, cid, id);
        self.settle(&mut state);
        wakes.append(&mut state.wakes);
        Ok(id)
    }

    /// Ends `conn`'s membership. Everyone still here hears `left`; for a
    /// voluntary leave the leaver hears it too, as confirmation.
    pub fn leave(&self, conn: ConnId, reason: LeaveReason) -> Result<(), NotJoined> {
        let mut state = self.lock();
        state.end_membership(conn, reason, self.id)?;
        self.finish(&mut state);
        Ok(())
    }

    /// Removes a connection for good, ending its membership first if it has one.
    /// Safe to call twice and after an eviction.
    pub fn unregister(&self, conn: ConnId, reason: LeaveReason) {
        let mut state = self.lock();
        state.remove_conn(conn, reason, self.id);
        self.finish(&mut state);
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
        let me = self.id;
        state.roster.retain(|_, server| *server != me);
        state.overflowed.clear();
        state.wakes.wake_all();
    }

    /// Queues `last` as the connection's final frame and removes the
    /// connection in the same step, so nothing can be queued after it.
    /// Others hear `left` with `reason` if it was a member.
    pub fn close_with(&self, conn: ConnId, last: Bytes, reason: LeaveReason) {
        let mut state = self.lock();
        state.push(conn, last);
        state.remove_conn(conn, reason, self.id);
        self.finish(&mut state);
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
        self.finish(&mut state);
    }

    /// What this server knows, for `status`.
    pub fn status(&self) -> StatusReport {
        let mut servers = vec![ServerInfo {
            id: self.id,
            addr: self.addr.clone(),
            state: "alive".into(),
            last_heard_ms: 0,
        }];
        let mut counters = BTreeMap::new();
        if let Some(admission) = &self.admission {
            let refused = admission.refused();
            counters.insert("connections_open".into(), admission.open() as u64);
            counters.insert("connections_refused_total_cap".into(), refused.total_cap);
            counters.insert(
                "connections_refused_per_address_cap".into(),
                refused.per_address_cap,
            );
        }
        if let Some(view) = &self.cluster {
            let view = view.borrow();
            cluster_counters(&view, &mut counters);
            servers.extend(view.members.iter().map(|m| ServerInfo {
                id: m.info.id,
                addr: m.info.client_addr.to_string(),
                state: m.health.as_str().into(),
                last_heard_ms: m.last_heard.elapsed().as_millis() as u64,
            }));
        }
        let state = self.lock();
        counters.insert("duplicate_sends".into(), state.sent.duplicate_sends);
        counters.insert("duplicate_relayed".into(), state.sent.duplicate_relayed);
        StatusReport {
            id: self.id,
            servers,
            members: state.members(),
            counters,
            rooms: Vec::new(),
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

    /// Ends an operation: evicts whoever overflowed, then wakes the writers
    /// that were given frames.
    fn finish(&self, state: &mut RoomState) {
        self.settle(state);
        state.wakes.wake_all();
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
            state.release_local(&name);
            tracing::warn!(conn, name = %name, "evicting client: outbound queue full");
            if !state.closing {
                state.emit(
                    self.id,
                    ChatEvent::Left {
                        name,
                        reason: LeaveReason::TooSlow,
                    },
                );
            }
        }
    }
}

/// The cluster's datagram counters, under the names PROTOCOL.md lists.
fn cluster_counters(view: &ClusterView, out: &mut BTreeMap<String, u64>) {
    let d = view.drops;
    let s = view.seal;
    let r = view.relay;
    for (name, value) in [
        ("relay_delivered", r.delivered),
        ("relay_duplicates", r.duplicates),
        ("relay_nacks_sent", r.nacks_sent),
        ("relay_nacks_answered", r.nacks_answered),
        ("relay_resent", r.retransmitted),
        ("relay_resyncs", r.resyncs),
        ("relay_lost", r.lost),
        ("relay_dropped", r.dropped),
        ("datagrams_malformed", d.malformed),
        ("datagrams_foreign", d.foreign),
        ("datagrams_stale_member", d.stale),
        ("seal_opened", s.opened),
        ("seal_malformed", s.malformed),
        ("seal_unsealed", s.unsealed),
        ("seal_sealed_without_key", s.sealed_without_key),
        ("seal_unknown_key", s.unknown_key),
        ("seal_bad_tag", s.bad_tag),
        ("seal_stale", s.stale),
        ("seal_replayed", s.replayed),
        ("seal_table_full", s.table_full),
        ("seal_foreign", s.foreign),
    ] {
        out.insert(name.into(), value);
    }
}
