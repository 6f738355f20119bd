//! The chat of one server: who is here, which rooms they are in, and the
//! one order in which everyone hears things.
//!
//! Every event (join, leave, entry, part, message, private message, nick
//! change, topic) is numbered and encoded *once*, under a single lock, and
//! the same [`Bytes`] are pushed onto each recipient's bounded outbound
//! queue. Holding the lock across numbering and fan-out is what gives every
//! client the same order. Pushing never waits: a member whose queue is full
//! is evicted as too slow, so one stalled reader can neither grow server
//! memory nor hold up anyone else.
//!
//! The room never touches a socket; session tasks feed it and writer tasks
//! drain the queues it fills. In a cluster, every local event also goes to
//! the relay (under the same lock, so the relay's order is the room's order),
//! and [`Room::apply`] applies what the relay delivers from other servers.
//!
//! A version-1 connection is in `#lobby` only and gets `#lobby`'s frames
//! only: `joined`, `left`, `message`, and for a nick change in `#lobby` the
//! old name's `left` and the new name's `joined`.
//!
//! The files: `state` (the state and the one fan-out), `members` (names
//! and the same-moment rule), `shadows` (claims that lost here), `rooms`
//! (the named rooms), `history`,
//! `frames`, and one file per request: `joining`, `enter`, `say`,
//! `private`, `nick`, `topics`, `queries`; `run` keeps a member's burst
//! of lines together for the others; `remote` applies deliveries;
//! `large` and `counts` keep large rooms O(1) per join.

mod counts;
mod dedupe;
mod enter;
mod frames;
mod history;
mod joining;
mod keys;
mod large;
mod members;
mod nick;
mod private;
mod queries;
mod queue;
mod remote;
mod rooms;
mod run;
mod say;
mod shadows;
mod state;
mod topics;

pub use counts::COUNT_EVERY;
pub use dedupe::{ClientId, DEDUPE_WINDOW};
pub use history::{MAX_HISTORIES, MAX_LINES, RECENT_MESSAGES};
pub use joining::Joining;
pub use queries::WHO_PAGE;
pub use queue::{consume, frame_queue, FrameReceiver, FrameSender, Pusher, Wakes};
pub use rooms::DEFAULT_LARGE_ROOM;
pub use say::ChatLine;

use state::{Conn, IdHash, NameHash, RoomState};
#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::sync::watch;

use super::admission::Admission;
use crate::net::ClusterView;
use crate::protocol::{
    encode_frame, ErrorCode, LeaveReason, ServerId, ServerMsg, MAX_ROOMS_PER_MEMBER,
};
use crate::relay::ChatEvent;

/// Identifies one connection within this server process.
pub type ConnId = u64;

/// What a session gets when it registers its connection.
#[derive(Debug)]
pub struct Registration {
    /// The connection's id.
    pub id: ConnId,
    /// Frames to write to the client, in order; closed when the room drops
    /// the connection, and marked when it evicts it (too slow).
    pub outbound: FrameReceiver,
}

/// Why a `join` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    /// Someone holds the name (or one that looks like it).
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

/// Why a version-2 request was refused. Every refusal leaves the state as
/// it was; each maps to one error code ([`RoomError::code`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomError {
    /// The connection is not (or no longer) a member.
    #[error("you are not in the chat; join first")]
    NotJoined,
    /// The room name breaks the rules (why).
    #[error("{0}")]
    RoomInvalid(String),
    /// The topic breaks the rules (why).
    #[error("{0}")]
    TopicInvalid(String),
    /// The text of a part or leave breaks the rules (why).
    #[error("{0}")]
    ReasonInvalid(String),
    /// Entering one more room would pass the cap.
    #[error("you are in {MAX_ROOMS_PER_MEMBER} rooms, as many as one may be in; part one first")]
    TooManyRooms,
    /// The member is not in that room.
    #[error("you are not in {0}")]
    NotInRoom(String),
    /// Nobody holds that name.
    #[error("nobody is called {0}")]
    NoSuchName(String),
    /// Nobody is in that room.
    #[error("there is no room {0} (nobody is in it)")]
    NoSuchRoom(String),
    /// A private message to oneself.
    #[error("that is you; a private message goes to someone else")]
    PrivateToSelf,
    /// Someone holds that name, or one that looks like it.
    #[error("the name {0:?} is taken")]
    NameTaken(String),
    /// With these names and this room the line could not be relayed in one
    /// datagram (only long multi-byte names, room and text get here).
    #[error("the message is too long to relay with these names and this room; shorten it")]
    TooLong,
}

impl RoomError {
    /// The error code a client is sent.
    pub fn code(&self) -> ErrorCode {
        match self {
            RoomError::NotJoined => ErrorCode::NOT_JOINED,
            RoomError::RoomInvalid(_) => ErrorCode::ROOM_INVALID,
            RoomError::TopicInvalid(_) => ErrorCode::TOPIC_INVALID,
            RoomError::ReasonInvalid(_) => ErrorCode::REASON_INVALID,
            RoomError::TooManyRooms => ErrorCode::TOO_MANY_ROOMS,
            RoomError::NotInRoom(_) => ErrorCode::NOT_IN_ROOM,
            RoomError::NoSuchName(_) => ErrorCode::NO_SUCH_NAME,
            RoomError::NoSuchRoom(_) => ErrorCode::NO_SUCH_ROOM,
            RoomError::PrivateToSelf => ErrorCode::PRIVATE_TO_SELF,
            RoomError::NameTaken(_) => ErrorCode::NAME_TAKEN,
            RoomError::TooLong => ErrorCode::TEXT_INVALID,
        }
    }
}

/// The chat shared by every session of one server.
#[derive(Debug)]
pub struct Room {
    id: ServerId,
    addr: String,
    /// Where this server serves the web client, if it does.
    web: Option<String>,
    queue_capacity: usize,
    state: Mutex<RoomState>,
    cluster: Option<watch::Receiver<ClusterView>>,
    /// Connection caps, whose refusal counts `status` reports.
    admission: Option<Arc<Admission>>,
}

impl Room {
    /// An empty chat for server `id`, reachable by clients at `addr`.
    pub fn new(id: ServerId, addr: String, queue_capacity: usize) -> Self {
        Room {
            id,
            addr,
            web: None,
            queue_capacity: queue_capacity.max(1),
            state: Mutex::new(RoomState::new(id)),
            cluster: None,
            admission: None,
        }
    }

    /// Lets `status` report the connection caps' counts from `admission`.
    pub fn with_admission(mut self, admission: Arc<Admission>) -> Self {
        self.admission = Some(admission);
        self
    }

    /// Lists `web` (this server's web address) first in `web_addrs`.
    pub fn with_web(mut self, web: Option<String>) -> Self {
        self.web = web;
        self
    }

    /// Lets `status` list the cluster's other servers from `view`.
    pub fn with_cluster(mut self, view: watch::Receiver<ClusterView>) -> Self {
        self.cluster = Some(view);
        self
    }

    /// The cluster view `status` reads, if clustered: watchers wait on it.
    pub fn cluster_view(&self) -> Option<watch::Receiver<ClusterView>> {
        self.cluster.clone()
    }

    /// Shows members joining or entering a room up to `count` of its
    /// recent messages (0 = none).
    pub fn with_history(self, count: usize) -> Self {
        self.lock().history_on_join = count.min(RECENT_MESSAGES);
        self
    }

    /// Makes rooms with more than `members` members large (0: never; see
    /// `large`).
    pub fn with_large_room(self, members: usize) -> Self {
        self.lock().rooms.large_above = members;
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

    /// The room's state, with any open run of lines shown first (`run`):
    /// whatever the caller does next comes after those lines for everyone.
    fn lock(&self) -> MutexGuard<'_, RoomState> {
        let mut state = self.lock_keeping_run();
        if state.run_open() {
            state.seal_run();
            // The run's writers: callers that push nothing leave the list
            // alone, so it is woken here.
            self.settle(&mut state);
            state.wakes.wake_all();
        }
        state
    }

    /// The room's state, as it is: for a line of the open run's sender and
    /// for sealing it.
    fn lock_keeping_run(&self) -> MutexGuard<'_, RoomState> {
        // A panic while holding the lock would be a bug; keep serving anyway.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds a connection (not yet a member) and hands back its queue.
    pub fn register(&self) -> Registration {
        let (tx, outbound) = frame_queue(self.queue_capacity);
        let mut state = self.lock();
        state.next_conn += 1;
        let id = state.next_conn;
        // After the shutdown notice went out, a new connection gets a queue
        // closed from the start: its session ends as if shut down.
        if !state.closing {
            state.conns.insert(id, Conn::new(tx));
        }
        Registration { id, outbound }
    }

    /// Queues a frame for one connection. Drops it silently if the connection
    /// is already gone; evicts the connection if its queue is full.
    pub fn send_to(&self, conn: ConnId, frame: Bytes) {
        let mut state = self.lock();
        state.push(conn, frame);
        self.finish(&mut state);
    }

    /// Ends `conn`'s membership. Everyone sharing a room with it hears
    /// `left` (with `text`, what the member said as it left, if any); for a
    /// voluntary leave the leaver hears it too, as confirmation. `text`
    /// must have passed [`crate::protocol::validate::validate_reason`].
    pub fn leave(
        &self,
        conn: ConnId,
        reason: LeaveReason,
        text: Option<String>,
    ) -> Result<(), NotJoined> {
        let mut state = self.lock();
        state.end_membership(conn, reason, text)?;
        self.finish(&mut state);
        Ok(())
    }

    /// Removes a connection for good, ending its membership first if it has one.
    /// Safe to call twice and after an eviction.
    pub fn unregister(&self, conn: ConnId, reason: LeaveReason) {
        let mut state = self.lock();
        state.remove_conn(conn, reason);
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
            state.forget_member(id);
        }
        state.conns.clear();
        state.names.clear();
        state.rooms.forget_local();
        state.overflowed.clear();
        state.wakes.wake_all();
    }

    /// Queues `last` as the connection's final frame and removes the
    /// connection in the same step, so nothing can be queued after it.
    /// Others hear `left` with `reason` if it was a member.
    pub fn close_with(&self, conn: ConnId, last: Bytes, reason: LeaveReason) {
        let mut state = self.lock();
        state.push(conn, last);
        state.remove_conn(conn, reason);
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

    /// Web addresses of every live server that serves the web client,
    /// this one first (if it does), then the others in id order.
    pub fn web_addrs(&self) -> Vec<String> {
        let mut addrs: Vec<String> = self.web.iter().cloned().collect();
        if let Some(view) = &self.cluster {
            addrs.extend(
                view.borrow()
                    .members
                    .iter()
                    .filter_map(|m| m.info.web_addr.map(|a| a.to_string())),
            );
        }
        addrs
    }

    /// Tells every member the live servers changed.
    pub fn announce_servers(&self, servers: Vec<String>, web: Vec<String>) {
        let mut state = self.lock();
        if state.closing {
            return;
        }
        state.broadcast(encode_frame(&ServerMsg::Servers { servers, web }));
        self.finish(&mut state);
    }

    /// How many connections are registered (members or not).
    pub fn connection_count(&self) -> usize {
        self.lock().conns.len()
    }

    /// How many members are in the chat on this server.
    pub fn member_count(&self) -> usize {
        self.lock().names.len()
    }

    /// Ends an operation: evicts whoever overflowed, then wakes the writers
    /// that were given frames.
    fn finish(&self, state: &mut RoomState) {
        self.finish_taking_wakes(state).wake_all();
    }

    /// As [`Room::finish`], but hands back the writers to wake instead of
    /// waking them, for the caller to flush once the lock is released.
    fn finish_taking_wakes(&self, state: &mut RoomState) -> Wakes {
        state.refresh_flipped();
        self.settle(state);
        // Evictions change rooms too.
        state.refresh_flipped();
        std::mem::take(&mut state.wakes)
    }

    /// Evicts every connection whose queue overflowed, telling the others.
    /// Evictions can overflow further queues, so this runs to a fixed point;
    /// each round removes a connection, so it ends.
    fn settle(&self, state: &mut RoomState) {
        // The evicted member's lines so far reach the others before its `left`.
        if !state.overflowed.is_empty() {
            state.seal_run();
        }
        while let Some(conn) = state.overflowed.pop() {
            let Some(entry) = state.conns.get(&conn) else {
                continue;
            };
            entry.tx.evict();
            if let Some(name) = &entry.name {
                tracing::warn!(conn, name = %name, "evicting client: outbound queue full");
            }
            state.remove_conn(conn, LeaveReason::TooSlow);
        }
    }
}
