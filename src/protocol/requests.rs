//! The requests of the client protocol, as Rust types: what a client sends
//! to a server. (What a server sends is in [`super::messages`].)
//!
//! Every message is a MessagePack map whose `"type"` key names the variant
//! (snake_case); the other keys are the variant's fields. Receivers ignore
//! keys they do not know, so fields can be added without a version bump.
//! PROTOCOL.md is the normative description; this file must agree with it.

use serde::{Deserialize, Serialize};

use super::ids::MessageId;
use super::parts::is_false;

/// Messages a client sends to a server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    /// First message on every connection: the protocol version the client speaks.
    Hello {
        /// The highest protocol version the client speaks; the server
        /// answers with the version both speak ([`super::negotiate`]).
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
        /// Version 2: the rooms to enter again besides `#lobby` (each gets
        /// its backfill newer than `last_seen`). Invalid names are skipped.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        rooms: Vec<String>,
    },
    /// Say something to a room (version 1: to everyone, in `#lobby`).
    Send {
        /// Non-empty UTF-8, at most [`super::MAX_TEXT_BYTES`] bytes.
        text: String,
        /// Version 2: the room; `#lobby` when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        /// Version 2: an action (`/me waves`), shown as `* Leo waves`.
        #[serde(default, skip_serializing_if = "is_false")]
        action: bool,
        /// A client-chosen id for this line, unique for the client's whole
        /// session (across failovers): servers deduplicate on (sender, cid)
        /// cluster-wide, and with the `ack` feature answer with `ack`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cid: Option<u64>,
    },
    /// Version 2: enter a room (created on first entry). Answered with
    /// `room_state` and the room's history; then everyone in it, the
    /// enterer included, gets `joined`.
    Enter {
        /// The room, `#name`.
        room: String,
    },
    /// Version 2: leave a room; everyone in it, the parter included, gets
    /// `left` with reason `leave` (and `text`, if given).
    Part {
        /// The room.
        room: String,
        /// Why, for people ([`super::validate::validate_reason`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
    },
    /// Version 2: a private message to one member anywhere in the cluster.
    Private {
        /// The addressee's name.
        to: String,
        /// As for `send`.
        text: String,
        /// As for `send`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cid: Option<u64>,
        /// As for `send`.
        #[serde(default, skip_serializing_if = "is_false")]
        action: bool,
    },
    /// Version 2: change one's name; everyone who shares a room with the
    /// member, and the member, gets `nick`.
    Nick {
        /// The new name.
        name: String,
    },
    /// Version 2: set a room's topic (`text`), or ask for it (no `text`).
    Topic {
        /// The room.
        room: String,
        /// The new topic; empty clears it; absent asks.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
    },
    /// Version 2: who is in a room; answered by `who_reply`.
    Who {
        /// The room.
        room: String,
        /// Only members whose names sort after this one (the `next` of the
        /// previous page).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<String>,
    },
    /// Version 2: every room in the cluster; answered by `rooms_reply`.
    Rooms,
    /// Version 2: where a member is; answered by `whois_reply`.
    Whois {
        /// The member's name.
        name: String,
    },
    /// Leave the chat. A member gets `left` about itself as confirmation;
    /// either way the server then closes the connection.
    Leave {
        /// Why, for people, shown with the `left` the others get.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
    },
    /// Ask what the server knows; answered by `status_reply`.
    Status,
    /// Version 2: subscribe to the server's view of the cluster. Answered
    /// by `watching`, then `watch_event` for every membership change and
    /// `watch_update` at least once a second, until the connection closes.
    /// Needs no `join`: a watcher is not a member.
    Watch,
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

impl ClientMsg {
    /// Whether `self` needs protocol version 2: a request about rooms,
    /// private messages, nick changes or topics, or a `send` to a room
    /// other than `#lobby` or as an action. A version-1 server cannot take it.
    pub fn needs_version_2(&self) -> bool {
        match self {
            ClientMsg::Send { room, action, .. } => room.is_some() || *action,
            ClientMsg::Enter { .. }
            | ClientMsg::Part { .. }
            | ClientMsg::Private { .. }
            | ClientMsg::Nick { .. }
            | ClientMsg::Topic { .. }
            | ClientMsg::Who { .. }
            | ClientMsg::Rooms
            | ClientMsg::Whois { .. }
            | ClientMsg::Watch => true,
            ClientMsg::Hello { .. }
            | ClientMsg::Join { .. }
            | ClientMsg::Rejoin { .. }
            | ClientMsg::Leave { .. }
            | ClientMsg::Status
            | ClientMsg::Ping { .. }
            | ClientMsg::Pong { .. } => false,
        }
    }
}
