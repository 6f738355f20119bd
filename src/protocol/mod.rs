//! The client protocol: wire types, framing and the rules both ends enforce.
//!
//! A connection carries frames: a u32 big-endian length followed by that many
//! bytes holding one MessagePack map (see [`messages`]). This module owns the
//! bytes-to-types boundary and never touches a socket; the server and client
//! modules drive it.

pub mod codec;
pub mod errors;
pub mod fast;
pub mod ids;
pub mod messages;
pub mod parts;
pub mod rate;
pub mod reasons;
pub mod requests;
pub mod skim;
pub mod validate;

pub use codec::{
    decode, encode_frame, encode_frame_into, encode_frame_sized, DecodeError, FrameDecoder,
    FrameError,
};
pub use fast::decode_client;
pub use ids::{MessageId, ServerId};
pub use messages::{
    ClientMsg, ClusterEvent, ErrorCode, LeaveReason, Member, RoomInfo, RoomState, ServerInfo,
    ServerMsg, StatusReport, TopicInfo, LOBBY,
};
pub use rate::RateLimit;

/// The optional feature `ack`: the server answers every `send` that carries
/// a `cid` with `ack` once it is numbered.
pub const FEATURE_ACK: &str = "ack";

/// Every optional feature this build knows, as named in `hello.features`.
pub const FEATURES: &[&str] = &[FEATURE_ACK];

/// The highest protocol version this build speaks: 2 adds rooms, private
/// messages, nick changes and topics.
pub const PROTOCOL_VERSION: u16 = 2;

/// The oldest protocol version this build still speaks: a version-1
/// client is in `#lobby` only and sees exactly the frames it always did.
pub const MIN_PROTOCOL_VERSION: u16 = 1;

/// The version a server speaks with a client that asked for `client`
/// (the highest it speaks): the highest both speak, or `None` if none.
pub fn negotiate(client: u16) -> Option<u16> {
    (client >= MIN_PROTOCOL_VERSION).then(|| client.min(PROTOCOL_VERSION))
}

/// Most rooms one member may be in at once.
pub const MAX_ROOMS_PER_MEMBER: usize = 32;

/// Longest room name, `#` included, in Unicode scalar values.
pub const MAX_ROOM_CHARS: usize = 50;

/// Longest topic, in UTF-8 bytes.
pub const MAX_TOPIC_BYTES: usize = 300;

/// Longest text of a `part` or `leave` (why one parts or leaves), in UTF-8
/// bytes: as long as a topic.
pub const MAX_REASON_BYTES: usize = 300;

/// Largest frame body a server accepts from a client (64 KiB).
pub const MAX_CLIENT_FRAME: usize = 64 * 1024;

/// Largest frame body a client accepts from a server. Larger than the client
/// limit because a `welcome` or `status_reply` lists every member.
pub const MAX_SERVER_FRAME: usize = 16 * 1024 * 1024;

/// Longest name, in Unicode scalar values.
pub const MAX_NAME_CHARS: usize = 32;

/// Longest message text, in UTF-8 bytes: small enough that one message always
/// fits one relay datagram.
pub const MAX_TEXT_BYTES: usize = 1000;

/// Longest `agent` string in `hello`, in bytes; longer ones are truncated in logs.
pub const MAX_AGENT_BYTES: usize = 64;

/// The server's default TCP port for clients.
pub const DEFAULT_PORT: u16 = 7878;

/// Software name and version sent in `hello`.
pub const AGENT: &str = concat!("chatty/", env!("CARGO_PKG_VERSION"));
