//! The messages of the client protocol, as Rust types.
//!
//! Every message is a MessagePack map whose `"type"` key names the variant
//! (snake_case); the other keys are the variant's fields. Receivers ignore
//! keys they do not know, so fields can be added without a version bump.
//! PROTOCOL.md is the normative description; this file must agree with it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ids::{MessageId, ServerId};
use super::rate::RateLimit;

/// Messages a client sends to a server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    /// First message on every connection: the protocol version the client speaks.
    Hello {
        /// Protocol version; the server refuses anything but [`super::PROTOCOL_VERSION`].
        version: u16,
        /// Free-form client software name, for logs (at most 64 bytes).
        #[serde(default)]
        agent: String,
        /// Optional protocol features the client would like (see
        /// [`super::FEATURES`]); the server's `hello` says which it accepted.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        features: Vec<String>,
    },
    /// Take a name and enter the chat.
    Join {
        /// The requested name (1–32 characters, no control characters).
        name: String,
    },
    /// Join again after losing a server: like `join`, but instead of
    /// history the server sends every recent `message` newer than
    /// `last_seen` (the newest event id the client saw from each origin).
    Rejoin {
        /// The name to take (normally the one held before).
        name: String,
        /// Newest id seen per origin.
        #[serde(default)]
        last_seen: Vec<MessageId>,
    },
    /// Say something to everyone.
    Send {
        /// Non-empty UTF-8, at most [`super::MAX_TEXT_BYTES`] bytes.
        text: String,
        /// A client-chosen id for this line, unique for the client's whole
        /// session (across failovers): servers deduplicate on (sender, cid)
        /// cluster-wide, and with the `ack` feature answer with `ack`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cid: Option<u64>,
    },
    /// Leave the chat. A member gets `left` about itself as confirmation;
    /// either way the server then closes the connection.
    Leave,
    /// Ask what the server knows; answered by `status_reply`.
    Status,
    /// Keepalive probe; answered by `pong` with the same nonce.
    Ping {
        /// Echoed back in the pong.
        nonce: u64,
    },
    /// Answer to a server `ping`.
    Pong {
        /// The nonce of the ping being answered.
        nonce: u64,
    },
}

/// Messages a server sends to a client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// Answer to the client's `hello`: the handshake succeeded.
    Hello {
        /// The protocol version the server speaks (equal to the client's).
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
        /// The flood limit on `join`, `send` and `status`, so a client can
        /// pace itself instead of being refused; absent when there is none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rate: Option<RateLimit>,
    },
    /// Answer to a successful `join`.
    Welcome {
        /// The server the client is connected to.
        server: ServerId,
        /// The name the client now holds.
        name: String,
        /// Everyone in the chat at the moment of joining, the new client included.
        members: Vec<Member>,
        /// Client addresses (`ip:port`) of every live server, this one
        /// first: where to go if this server is lost.
        #[serde(default)]
        servers: Vec<String>,
        /// The watermark: the newest message id per origin in this
        /// server's history at the moment of joining. A client that fails
        /// over before hearing anything sends these as `rejoin.last_seen`,
        /// so it is sent only what came after its own welcome.
        #[serde(default)]
        seen: Vec<MessageId>,
    },
    /// The live servers changed; sent to members whenever the list does.
    Servers {
        /// Client addresses of every live server, this one first.
        servers: Vec<String>,
    },
    /// Someone entered the chat.
    Joined {
        /// Event id.
        id: MessageId,
        /// The member's name.
        name: String,
        /// The server the member is connected to.
        server: ServerId,
    },
    /// Someone left the chat.
    Left {
        /// Event id.
        id: MessageId,
        /// The member's name.
        name: String,
        /// The server the member was connected to.
        server: ServerId,
        /// Why they left.
        reason: LeaveReason,
    },
    /// A chat message.
    Message {
        /// Event id; unique cluster-wide.
        id: MessageId,
        /// The sender's name.
        from: String,
        /// The text.
        text: String,
    },
    /// A chat message from before the client joined, replayed right after
    /// `welcome` (oldest first) so a newcomer sees the recent conversation.
    History {
        /// Event id of the original message.
        id: MessageId,
        /// The sender's name.
        from: String,
        /// The text.
        text: String,
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
        "status_reply",
        "notice",
        "servers",
        "shutdown",
        "ping",
        "pong",
    ];
}

/// One person in the chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Their name.
    pub name: String,
    /// The server they are connected to.
    pub server: ServerId,
}

/// What a server knows, as returned by `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    /// The answering server.
    pub id: ServerId,
    /// Every server it knows, itself included.
    pub servers: Vec<ServerInfo>,
    /// Everyone in the chat, sorted by name.
    pub members: Vec<Member>,
    /// Named counters since the server started (connections refused by the
    /// caps, datagrams dropped or refused by cause), for operators. Names are
    /// listed in PROTOCOL.md; clients must accept names they do not know.
    #[serde(default)]
    pub counters: BTreeMap<String, u64>,
}

/// One server as seen by the answering server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerInfo {
    /// The server's incarnation id.
    pub id: ServerId,
    /// Where clients connect to it (`ip:port`).
    pub addr: String,
    /// `alive`, `suspect` or `dead`.
    pub state: String,
    /// Milliseconds since the answering server last heard from it (0 for itself).
    #[serde(default)]
    pub last_heard_ms: u64,
}

/// Why a member left. Unknown reasons from newer servers decode as `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaveReason {
    /// The client asked to leave.
    Leave,
    /// The connection closed without a `leave`.
    Disconnected,
    /// The client stopped answering keepalives.
    Timeout,
    /// The client did not read fast enough and its queue overflowed.
    TooSlow,
    /// The client broke the protocol and was disconnected.
    ProtocolError,
    /// The member's server shut down.
    Shutdown,
    /// The member's server crashed or became unreachable.
    ServerLost,
    /// Someone took the same name on another server at the same moment and
    /// won the tie; this member must choose another name.
    NameConflict,
    /// The reason was in relay traffic that was lost beyond repair.
    Unknown,
    /// A reason this build does not know.
    #[serde(other)]
    Other,
}

impl LeaveReason {
    /// The suffix a chat client prints after `left the chat`, if any.
    pub fn describe(self) -> Option<&'static str> {
        match self {
            LeaveReason::Leave => None,
            LeaveReason::Disconnected => Some("connection lost"),
            LeaveReason::Timeout => Some("timed out"),
            LeaveReason::TooSlow => Some("too slow"),
            LeaveReason::ProtocolError => Some("protocol error"),
            LeaveReason::Shutdown => Some("server shut down"),
            LeaveReason::ServerLost => Some("server lost"),
            LeaveReason::NameConflict => Some("name conflict"),
            LeaveReason::Unknown => Some("reason unknown"),
            LeaveReason::Other => Some("unknown reason"),
        }
    }
}

/// Error codes carried by `error` frames. Numbers are stable; see PROTOCOL.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ErrorCode(pub u16);

impl ErrorCode {
    /// The frame was not a valid message (not MessagePack, not a map, unknown type, bad fields).
    pub const BAD_FRAME: ErrorCode = ErrorCode(100);
    /// The length prefix exceeded the frame limit.
    pub const FRAME_TOO_LARGE: ErrorCode = ErrorCode(101);
    /// The client's protocol version is not supported.
    pub const UNSUPPORTED_VERSION: ErrorCode = ErrorCode(102);
    /// The first message was not `hello`, or `hello` came twice.
    pub const HANDSHAKE_REQUIRED: ErrorCode = ErrorCode(103);
    /// A string was not valid UTF-8.
    pub const INVALID_UTF8: ErrorCode = ErrorCode(104);
    /// The handshake did not complete in time.
    pub const HANDSHAKE_TIMEOUT: ErrorCode = ErrorCode(105);
    /// A plain-TCP client connected to a server that requires TLS. Sent in
    /// the clear, since the client speaks no TLS.
    pub const TLS_REQUIRED: ErrorCode = ErrorCode(106);
    /// `send` before a successful `join`.
    pub const NOT_JOINED: ErrorCode = ErrorCode(200);
    /// `join` while already joined.
    pub const ALREADY_JOINED: ErrorCode = ErrorCode(201);
    /// The name breaks the naming rules.
    pub const NAME_INVALID: ErrorCode = ErrorCode(210);
    /// Someone already holds that name.
    pub const NAME_TAKEN: ErrorCode = ErrorCode(211);
    /// The text is empty, too long or contains control characters.
    pub const TEXT_INVALID: ErrorCode = ErrorCode(220);
    /// The client is sending faster than its rate limit; the message was dropped.
    pub const RATE_LIMITED: ErrorCode = ErrorCode(230);
    /// The client did not read fast enough; its outbound queue overflowed.
    pub const TOO_SLOW: ErrorCode = ErrorCode(240);
    /// The client stopped answering keepalives.
    pub const KEEPALIVE_TIMEOUT: ErrorCode = ErrorCode(241);
    /// The connection did not complete `hello` and `join` in time.
    pub const JOIN_TIMEOUT: ErrorCode = ErrorCode(242);
    /// The server is shutting down and accepts no new joins.
    pub const SHUTTING_DOWN: ErrorCode = ErrorCode(250);
    /// The server has as many connections as it accepts; try another server.
    pub const TOO_MANY_CONNECTIONS: ErrorCode = ErrorCode(260);
    /// The client's address has as many connections as one address may have.
    pub const TOO_MANY_FROM_ADDRESS: ErrorCode = ErrorCode(261);

    /// A short stable name for logs and client output.
    pub fn name(self) -> &'static str {
        match self {
            Self::BAD_FRAME => "bad_frame",
            Self::FRAME_TOO_LARGE => "frame_too_large",
            Self::UNSUPPORTED_VERSION => "unsupported_version",
            Self::HANDSHAKE_REQUIRED => "handshake_required",
            Self::INVALID_UTF8 => "invalid_utf8",
            Self::HANDSHAKE_TIMEOUT => "handshake_timeout",
            Self::TLS_REQUIRED => "tls_required",
            Self::NOT_JOINED => "not_joined",
            Self::ALREADY_JOINED => "already_joined",
            Self::NAME_INVALID => "name_invalid",
            Self::NAME_TAKEN => "name_taken",
            Self::TEXT_INVALID => "text_invalid",
            Self::RATE_LIMITED => "rate_limited",
            Self::TOO_SLOW => "too_slow",
            Self::KEEPALIVE_TIMEOUT => "keepalive_timeout",
            Self::JOIN_TIMEOUT => "join_timeout",
            Self::SHUTTING_DOWN => "shutting_down",
            Self::TOO_MANY_CONNECTIONS => "too_many_connections",
            Self::TOO_MANY_FROM_ADDRESS => "too_many_from_address",
            _ => "unknown",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.0, self.name())
    }
}
