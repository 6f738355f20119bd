//! Framing and MessagePack encoding.
//!
//! [`FrameDecoder`] splits a byte stream into frame bodies and enforces the
//! size limit *before* buffering a body, so a hostile length prefix costs
//! nothing. [`decode`] turns a body into a message and, when that fails, works
//! out a precise reason for the error frame. [`encode_frame`] produces a
//! complete frame (prefix included) as shared [`Bytes`], so a broadcast is
//! encoded once and the same bytes go to every recipient.
//!
//! Nothing here panics on input: every malformed byte sequence is an `Err`.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio_util::codec::Decoder;

use super::skim::{check_shape, ShapeError};
use super::ErrorCode;

/// Deepest container nesting accepted in a body. Protocol messages nest at
/// most three levels (`status_reply` → `servers` → server entry), so 16
/// leaves room for growth while keeping hostile nesting harmless.
pub const MAX_NESTING: usize = 16;

/// Size of the length prefix.
pub const PREFIX_LEN: usize = 4;

/// Why a byte stream could not be split into frames. Every variant ends the
/// connection: after a framing error the stream position is meaningless.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The length prefix announced more than the limit; the body was not read.
    #[error("frame of {len} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// Announced length.
        len: usize,
        /// The limit in force.
        max: usize,
    },
    /// A length prefix of zero: a frame must hold one message.
    #[error("empty frame")]
    Empty,
    /// The stream ended in the middle of a frame.
    #[error("connection closed in the middle of a frame ({0} bytes pending)")]
    Truncated(usize),
    /// The socket failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

impl FrameError {
    /// The error code to report to the peer, if the peer can still be told.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            FrameError::TooLarge { .. } => Some(ErrorCode::FRAME_TOO_LARGE),
            FrameError::Empty => Some(ErrorCode::BAD_FRAME),
            FrameError::Truncated(_) | FrameError::Io(_) => None,
        }
    }
}

/// Read-buffer size a connection grows to once it sends frames in bursts.
pub const BURST_BUFFER: usize = 16 * 1024;

/// Read-buffer size of a quiet connection: a read that fills at least this
/// much is taken as a burst. (A buffer an idle connection gave back regrows
/// to the size of one frame, which says nothing of bursts.)
pub const IDLE_BUFFER: usize = 512;

/// Splits a stream into frame bodies of at most `max` bytes.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    max: usize,
}

impl FrameDecoder {
    /// A decoder accepting bodies up to `max` bytes.
    pub fn new(max: usize) -> Self {
        FrameDecoder { max }
    }
}

impl Decoder for FrameDecoder {
    type Item = BytesMut;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, FrameError> {
        let Some(prefix) = src.get(..PREFIX_LEN) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
        if len == 0 {
            return Err(FrameError::Empty);
        }
        if len > self.max {
            return Err(FrameError::TooLarge { len, max: self.max });
        }
        if src.len() < PREFIX_LEN + len {
            // At least the idle size: a buffer an idle connection gave back
            // regrows from nothing, and one frame's worth would never be
            // filled by a read that carries a burst, so the burst would be
            // read a frame per syscall for the rest of the connection.
            src.reserve((PREFIX_LEN + len).max(IDLE_BUFFER) - src.len());
            return Ok(None);
        }
        // A read filled the whole buffer: the peer sends in bursts, and
        // reading them through an idle-sized buffer would cost a syscall per
        // few frames, so grow it once. Quiet connections keep the small one.
        let full = src.capacity() >= IDLE_BUFFER && src.len() + PREFIX_LEN >= src.capacity();
        src.advance(PREFIX_LEN);
        let frame = src.split_to(len);
        if full && src.capacity() < BURST_BUFFER {
            src.reserve(BURST_BUFFER.saturating_sub(src.len()));
        }
        Ok(Some(frame))
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<BytesMut>, FrameError> {
        match self.decode(buf)? {
            Some(frame) => Ok(Some(frame)),
            None if buf.is_empty() => Ok(None),
            None => Err(FrameError::Truncated(buf.len())),
        }
    }
}

/// Encodes one message as a complete frame: length prefix plus MessagePack
/// map. Encoding our own message types to memory cannot fail.
pub fn encode_frame<T: Serialize>(msg: &T) -> Bytes {
    encode_frame_sized(msg, 96)
}

/// Like [`encode_frame`], starting from a buffer of `capacity` bytes: a
/// good guess saves the buffer's regrowth on the message path.
pub fn encode_frame_sized<T: Serialize>(msg: &T, capacity: usize) -> Bytes {
    let mut buf = BytesMut::with_capacity(capacity.max(PREFIX_LEN + 1));
    encode_frame_into(msg, &mut buf);
    buf.freeze()
}

/// Appends one message's frame to `buf`, after whatever it holds: frames
/// put back to back this way read as that many frames.
pub fn encode_frame_into<T: Serialize>(msg: &T, buf: &mut BytesMut) {
    let start = buf.len();
    buf.put_u32(0);
    let mut writer = (&mut *buf).writer();
    rmp_serde::encode::write_named(&mut writer, msg)
        .expect("encoding a protocol message to memory cannot fail");
    let body_len = (buf.len() - start - PREFIX_LEN) as u32;
    buf[start..start + PREFIX_LEN].copy_from_slice(&body_len.to_be_bytes());
}

/// Why a frame body is not a valid message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes are not exactly one well-formed, shallow MessagePack value.
    #[error("malformed MessagePack: {0}")]
    Malformed(#[from] ShapeError),
    /// A string holds invalid UTF-8.
    #[error("a string is not valid UTF-8")]
    InvalidUtf8,
    /// The value is not a map.
    #[error("a message must be a MessagePack map")]
    NotAMap,
    /// The map has no `type` string.
    #[error("a message needs a \"type\" string")]
    NoType,
    /// The type is unknown, or its fields are missing or of the wrong kind.
    #[error("invalid {kind:?} message: {detail}")]
    BadMessage {
        /// The message's `type`.
        kind: String,
        /// What serde said.
        detail: String,
    },
}

impl DecodeError {
    /// The error code reported to the peer.
    pub fn code(&self) -> ErrorCode {
        match self {
            DecodeError::InvalidUtf8 => ErrorCode::INVALID_UTF8,
            _ => ErrorCode::BAD_FRAME,
        }
    }
}

/// Decodes one frame body into a message.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, DecodeError> {
    check_shape(body, MAX_NESTING)?;
    rmp_serde::from_slice::<T>(body).map_err(|err| explain::<T>(body, err))
}

/// Works out why `body` failed to decode. Only runs on the error path, so it
/// may decode the body a second time as a generic value.
fn explain<T: DeserializeOwned>(body: &[u8], err: rmp_serde::decode::Error) -> DecodeError {
    let mut rest = body;
    let value = match rmpv::decode::read_value(&mut rest) {
        Ok(value) => value,
        // check_shape accepted it, so rmpv should too; report serde's view.
        Err(_) => {
            return DecodeError::BadMessage {
                kind: String::new(),
                detail: err.to_string(),
            }
        }
    };
    if has_invalid_utf8(&value) {
        return DecodeError::InvalidUtf8;
    }
    let rmpv::Value::Map(entries) = value else {
        return DecodeError::NotAMap;
    };
    let kind = entries
        .iter()
        .find_map(|(k, v)| match (k.as_str(), v.as_str()) {
            (Some("type"), Some(kind)) => Some(kind.to_string()),
            _ => None,
        });
    let detail = err.to_string();
    match kind {
        None => DecodeError::NoType,
        Some(kind) => DecodeError::BadMessage {
            kind,
            detail: match culprit::<T>(&entries, &detail) {
                Some(field) => format!("field `{field}`: {detail}"),
                None => detail,
            },
        },
    }
}

/// The field of `entries` that made decoding fail with `detail`: serde
/// says what was wrong ("invalid type: string, expected u64") but not
/// where, inside a tagged message. The first field without which the map
/// decodes, or fails only for that field's absence, is the one. (Error
/// path only: one more decode per field.)
fn culprit<T: DeserializeOwned>(
    entries: &[(rmpv::Value, rmpv::Value)],
    detail: &str,
) -> Option<String> {
    // No message has this many fields; a hostile map of thousands would
    // cost a decode of thousands per entry.
    const MOST_FIELDS: usize = 16;
    if detail.starts_with("missing field") || entries.len() > MOST_FIELDS {
        return None; // serde named it already, or it is no message of ours
    }
    entries.iter().enumerate().find_map(|(i, (key, _))| {
        let name = key.as_str().filter(|k| *k != "type")?;
        let rest: Vec<_> = entries
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != i)
            .map(|(_, entry)| entry.clone())
            .collect();
        let mut buf = Vec::new();
        rmpv::encode::write_value(&mut buf, &rmpv::Value::Map(rest)).ok()?;
        let blamed = match rmp_serde::from_slice::<T>(&buf) {
            Ok(_) => true,
            Err(err) => err.to_string() == format!("missing field `{name}`"),
        };
        blamed.then(|| name.to_string())
    })
}

fn has_invalid_utf8(value: &rmpv::Value) -> bool {
    match value {
        rmpv::Value::String(s) => s.as_str().is_none(),
        rmpv::Value::Array(items) => items.iter().any(has_invalid_utf8),
        rmpv::Value::Map(entries) => entries
            .iter()
            .any(|(k, v)| has_invalid_utf8(k) || has_invalid_utf8(v)),
        _ => false,
    }
}

pub mod write;

#[cfg(test)]
mod tests;
