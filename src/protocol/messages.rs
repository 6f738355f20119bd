//! The messages of the client protocol, as Rust types: what a server sends
//! to a client (the client's requests are in [`super::requests`], and
//! re-exported here).
//!
//! Every message is a MessagePack map whose `"type"` key names the variant
//! (snake_case); the other keys are the variant's fields. Receivers ignore
//! keys they do not know, so fields can be added without a version bump.
//! PROTOCOL.md is the normative description; this file must agree with it.

use serde::{Deserialize, Serialize};

pub use super::errors::ErrorCode;
use super::ids::{MessageId, ServerId};
use super::parts::{is_false, lobby};
pub use super::parts::{
    ClusterEvent, Member, RoomInfo, RoomState, ServerInfo, StatusReport, TopicInfo, LOBBY,
};
use super::rate::RateLimit;
pub use super::reasons::LeaveReason;
pub use super::requests::ClientMsg;

/// Messages a server sends to a client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// Answer to the client's `hello`: the handshake succeeded.
    Hello {
        /// The version agreed: the highest both the client and the server speak.
        version: u16,
        /// The server's incarnation id.
        server: ServerId,
        /// Server software name and version.
        agent: String,
        /// The server sends a `ping` after this many milliseconds without
        /// traffic; a client may treat 3× this much silence as a dead server.
        keepalive_ms: u64,
        /// The client's requested features that the server accepted
        /// (always sent; empty for a client that asked for none).
        #[serde(default)]
        features: Vec<String>,
        /// The flood limit on every request but `hello`, `leave`, `ping`
        /// and `pong`, so a client can pace itself instead of being
        /// refused; absent when there is none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rate: Option<RateLimit>,
    },
    /// Answer to a successful `join`.
    Welcome {
        /// The server the client is connected to.
        server: ServerId,
        /// The name the client now holds.
        name: String,
        /// Everyone in `#lobby` at the moment of joining, the new client
        /// included (for version 1: everyone in the chat, but version-2
        /// members who parted `#lobby`).
        members: Vec<Member>,
        /// Client addresses (`ip:port`) of every live server, this one
        /// first: where to go if this server is lost.
        #[serde(default)]
        servers: Vec<String>,
        /// The watermark: the newest message id per origin in `#lobby`'s
        /// history on this server at the moment of joining. A client that fails
        /// over before hearing anything sends these as `rejoin.last_seen`,
        /// so it is sent only what came after its own welcome.
        #[serde(default)]
        seen: Vec<MessageId>,
        /// Web addresses of the live servers that serve the web client,
        /// as in `servers`; absent when none does.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        web: Vec<String>,
        /// Version 2: the room the member starts in (`#lobby`); `members`
        /// are that room's.
        #[serde(default = "lobby")]
        room: String,
        /// Version 2: the rooms the member is in now, with topic and members.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        rooms: Vec<RoomState>,
    },
    /// The live servers changed; sent to members whenever the list does.
    Servers {
        /// Client addresses of every live server, this one first.
        servers: Vec<String>,
        /// Web addresses (`ip:port`) of the live servers that serve the
        /// web client, this one first if it does; absent when none does.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        web: Vec<String>,
    },
    /// Someone entered a room (version 1: the chat, `#lobby`).
    Joined {
        /// Event id.
        id: MessageId,
        /// The member's name.
        name: String,
        /// The server the member is connected to.
        server: ServerId,
        /// The room (`#lobby` from servers that predate rooms).
        #[serde(default = "lobby")]
        room: String,
    },
    /// Someone left a room (version 1: the chat, `#lobby`).
    Left {
        /// Event id.
        id: MessageId,
        /// The member's name.
        name: String,
        /// The server the member was connected to.
        server: ServerId,
        /// Why they left.
        reason: LeaveReason,
        /// The room.
        #[serde(default = "lobby")]
        room: String,
        /// What the member said as it parted or left (`part`, `leave`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
        /// With reason `leave`: the member left the chat (`leave`), not
        /// only this room (`part`). Absent when false.
        #[serde(default, skip_serializing_if = "is_false")]
        quit: bool,
    },
    /// A chat message in a room.
    Message {
        /// Event id; unique cluster-wide.
        id: MessageId,
        /// The sender's name.
        from: String,
        /// The room. (Before `text`, so that in a frame without `action`
        /// the text is the last field: a receiver can take it from the
        /// frame's end without decoding, as the benchmarks do.)
        #[serde(default = "lobby")]
        room: String,
        /// The text.
        text: String,
        /// An action (`/me`); absent when false.
        #[serde(default, skip_serializing_if = "is_false")]
        action: bool,
        /// The sender's client id for the line, if it gave one: a line its
        /// sender resent after failing over may be numbered anew, and the
        /// same `(from, cid)` is then the same line (PROTOCOL.md 12.5).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cid: Option<u64>,
    },
    /// A chat message from before the client entered the room, replayed
    /// right after `welcome` or `room_state` (oldest first).
    History {
        /// Event id of the original message.
        id: MessageId,
        /// The sender's name.
        from: String,
        /// The room (before `text`, as in `message`).
        #[serde(default = "lobby")]
        room: String,
        /// The text.
        text: String,
        /// An action (`/me`); absent when false.
        #[serde(default, skip_serializing_if = "is_false")]
        action: bool,
        /// As in `message`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cid: Option<u64>,
    },
    /// Version 2: a private message, to its addressee and (as the echo)
    /// to its sender; no one else ever gets it.
    Private {
        /// Event id.
        id: MessageId,
        /// The sender.
        from: String,
        /// The addressee.
        to: String,
        /// The text.
        text: String,
        /// An action (`/me`); absent when false.
        #[serde(default, skip_serializing_if = "is_false")]
        action: bool,
        /// The sender's client id for the line, as in `message`: a private
        /// line resent after a failover and numbered anew is the same line
        /// (PROTOCOL.md 12.5).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cid: Option<u64>,
    },
    /// Version 2: a member changed name; to everyone who shares a room with
    /// it, and to the member.
    Nick {
        /// Event id.
        id: MessageId,
        /// The name held before.
        old: String,
        /// The name held now.
        new: String,
        /// The member's server.
        server: ServerId,
    },
    /// Version 2: a room's topic (set, changed or asked for).
    Topic {
        /// The room.
        room: String,
        /// The topic; empty when there is none.
        text: String,
        /// Who set it (empty when there is none).
        by: String,
        /// When, in Unix milliseconds (0 when there is none).
        at: u64,
    },
    /// Version 2: answer to `enter`: the room as the member finds it. Its
    /// history follows as `history` frames, then everyone gets `joined`.
    RoomState(RoomState),
    /// Version 2, unasked: how many members a large room has now, to its
    /// members, when its membership changed; at most about once a second
    /// per room, however many came and went meanwhile.
    RoomCount {
        /// The room.
        room: String,
        /// Its members, cluster-wide as the server knows them.
        count: u32,
    },
    /// Version 2: answer to `who`.
    WhoReply {
        /// The room.
        room: String,
        /// Its members, by name (one page of them for a large room).
        members: Vec<Member>,
        /// For a page of a large room: how many members the room has.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        count: Option<u32>,
        /// When more members follow: the `after` to ask for them with.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next: Option<String>,
    },
    /// Version 2: answer to `rooms`.
    RoomsReply {
        /// Every room with a member, by name.
        rooms: Vec<RoomInfo>,
    },
    /// Version 2: answer to `whois`.
    WhoisReply {
        /// The member's name.
        name: String,
        /// Its server.
        server: ServerId,
        /// The rooms it is in.
        rooms: Vec<String>,
    },
    /// Something went wrong; if `fatal`, the server closes the connection next.
    Error {
        /// Machine-readable code; see [`ErrorCode`].
        code: ErrorCode,
        /// Human-readable explanation.
        text: String,
        /// True if the server closes the connection after this frame.
        fatal: bool,
        /// The `cid` of the `send` this error refers to, if it had one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cid: Option<u64>,
    },
    /// A `send` with a `cid` was numbered: sent only to its sender, and only
    /// with the `ack` feature, right after the sender's own copy of the
    /// `message` (or at once, with the original id, for a resend of a line
    /// the cluster already numbered).
    Ack {
        /// The `cid` of the acknowledged `send`.
        cid: u64,
        /// The message's event id.
        id: MessageId,
    },
    /// Answer to `status`.
    StatusReply(StatusReport),
    /// Version 2: answer to `watch`: what the server knows now, and the
    /// membership changes it saw most recently (oldest first).
    Watching {
        /// As in `status_reply`.
        report: StatusReport,
        /// Up to the last 64 membership changes.
        events: Vec<ClusterEvent>,
    },
    /// Version 2, to a watcher: a membership change, sent as it happens.
    WatchEvent {
        /// The change.
        event: ClusterEvent,
    },
    /// Version 2, to a watcher: the report again, after membership changes
    /// and at least once a second (members, rooms, last-heard ages).
    WatchUpdate {
        /// As in `status_reply`.
        report: StatusReport,
    },
    /// Something the user should know that is not a chat event, e.g. that
    /// messages from another server were lost. Printed as `[SERVER] text`.
    Notice {
        /// Human-readable text.
        text: String,
    },
    /// The server is going away; the connection closes after this frame.
    Shutdown {
        /// Human-readable reason.
        reason: String,
        /// Client addresses of the other live servers, to move to at once.
        #[serde(default)]
        servers: Vec<String>,
    },
    /// Keepalive probe; answer with `pong` carrying the same nonce.
    Ping {
        /// Echo this back.
        nonce: u64,
    },
    /// Answer to a client `ping`.
    Pong {
        /// The nonce of the ping being answered.
        nonce: u64,
    },
}

impl ServerMsg {
    /// True for messages a server sends on its own initiative to a member
    /// (chat events, history, notices, server-list updates), as opposed to
    /// answers to a request. A client waiting for an answer passes these by.
    pub fn is_unsolicited(&self) -> bool {
        matches!(
            self,
            ServerMsg::Joined { .. }
                | ServerMsg::Left { .. }
                | ServerMsg::Message { .. }
                | ServerMsg::History { .. }
                | ServerMsg::Notice { .. }
                | ServerMsg::Servers { .. }
                | ServerMsg::Ack { .. }
                | ServerMsg::Private { .. }
                | ServerMsg::Nick { .. }
                | ServerMsg::Topic { .. }
                | ServerMsg::RoomCount { .. }
                | ServerMsg::WatchEvent { .. }
                | ServerMsg::WatchUpdate { .. }
        )
    }

    /// Every `type` a server may send in this version.
    pub const TYPES: &'static [&'static str] = &[
        "hello",
        "welcome",
        "joined",
        "left",
        "message",
        "history",
        "error",
        "ack",
        "private",
        "nick",
        "topic",
        "room_state",
        "room_count",
        "who_reply",
        "rooms_reply",
        "whois_reply",
        "status_reply",
        "watching",
        "watch_event",
        "watch_update",
        "notice",
        "servers",
        "shutdown",
        "ping",
        "pong",
    ];
}
