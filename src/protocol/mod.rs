//! The client protocol: wire types, framing and the rules both ends enforce.
//!
//! A connection carries frames: a u32 big-endian length followed by that many
//! bytes holding one MessagePack map (see [`messages`]). This module owns the
//! bytes-to-types boundary and never touches a socket; the server and client
//! modules drive it.

pub mod codec;
pub mod fast;
pub mod ids;
pub mod messages;
pub mod rate;
pub mod skim;
pub mod validate;

pub use codec::{decode, encode_frame, encode_frame_sized, DecodeError, FrameDecoder, FrameError};
pub use fast::decode_client;
pub use ids::{MessageId, ServerId};
pub use messages::{
    ClientMsg, ErrorCode, LeaveReason, Member, ServerInfo, ServerMsg, StatusReport,
};
pub use rate::RateLimit;

/// The optional feature `ack`: the server answers every `send` that carries
/// a `cid` with `ack` once it is numbered.
pub const FEATURE_ACK: &str = "ack";

/// Every optional feature this build knows, as named in `hello.features`.
pub const FEATURES: &[&str] = &[FEATURE_ACK];

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u16 = 1;

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
