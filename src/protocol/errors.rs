//! The error codes of `error` frames: stable numbers, grouped by hundreds
//! (1xx framing and handshake, 2xx requests and the connection's life).

use serde::{Deserialize, Serialize};

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
    /// Version 2: the room name breaks the rules.
    pub const ROOM_INVALID: ErrorCode = ErrorCode(270);
    /// Version 2: the member is in as many rooms as one may be.
    pub const TOO_MANY_ROOMS: ErrorCode = ErrorCode(271);
    /// Version 2: the member is not in that room.
    pub const NOT_IN_ROOM: ErrorCode = ErrorCode(272);
    /// Version 2: nobody holds that name.
    pub const NO_SUCH_NAME: ErrorCode = ErrorCode(273);
    /// Version 2: no such room (nobody is in it).
    pub const NO_SUCH_ROOM: ErrorCode = ErrorCode(274);
    /// Version 2: the topic is too long or has control characters.
    pub const TOPIC_INVALID: ErrorCode = ErrorCode(275);
    /// Version 2: a private message to oneself.
    pub const PRIVATE_TO_SELF: ErrorCode = ErrorCode(276);
    /// The text of a `part` or `leave` is too long or has control characters.
    pub const REASON_INVALID: ErrorCode = ErrorCode(277);

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
            Self::ROOM_INVALID => "room_invalid",
            Self::TOO_MANY_ROOMS => "too_many_rooms",
            Self::NOT_IN_ROOM => "not_in_room",
            Self::NO_SUCH_NAME => "no_such_name",
            Self::NO_SUCH_ROOM => "no_such_room",
            Self::TOPIC_INVALID => "topic_invalid",
            Self::PRIVATE_TO_SELF => "private_to_self",
            Self::REASON_INVALID => "reason_invalid",
            _ => "unknown",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.0, self.name())
    }
}
