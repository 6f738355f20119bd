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
            src.reserve(PREFIX_LEN + len - src.len());
            return Ok(None);
        }
        // A read filled the whole buffer: the peer sends in bursts, and
        // reading them through an idle-sized buffer would cost a syscall per
        // few frames, so grow it once. Quiet connections keep the small one.
        let full = src.len() + PREFIX_LEN >= src.capacity();
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
    buf.put_u32(0);
    let mut writer = (&mut buf).writer();
    rmp_serde::encode::write_named(&mut writer, msg)
        .expect("encoding a protocol message to memory cannot fail");
    let body_len = (buf.len() - PREFIX_LEN) as u32;
    buf[..PREFIX_LEN].copy_from_slice(&body_len.to_be_bytes());
    buf.freeze()
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
    rmp_serde::from_slice::<T>(body).map_err(|err| explain(body, err))
}

/// Works out why `body` failed to decode. Only runs on the error path, so it
/// may decode the body a second time as a generic value.
fn explain(body: &[u8], err: rmp_serde::decode::Error) -> DecodeError {
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
    match kind {
        None => DecodeError::NoType,
        Some(kind) => DecodeError::BadMessage {
            kind,
            detail: err.to_string(),
        },
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ClientMsg, MessageId, ServerId, ServerMsg};

    fn body(frame: &Bytes) -> &[u8] {
        let len = u32::from_be_bytes(frame[..4].try_into().unwrap()) as usize;
        assert_eq!(len, frame.len() - 4, "prefix must match body length");
        &frame[4..]
    }

    #[test]
    fn round_trips_every_client_message() {
        let msgs = [
            ClientMsg::Hello {
                version: 1,
                agent: "t".into(),
                features: Vec::new(),
            },
            ClientMsg::Join { name: "Leo".into() },
            ClientMsg::Send {
                text: "hi".into(),
                cid: None,
            },
            ClientMsg::Leave,
            ClientMsg::Status,
            ClientMsg::Ping { nonce: 9 },
            ClientMsg::Pong { nonce: u64::MAX },
        ];
        for msg in msgs {
            let frame = encode_frame(&msg);
            assert_eq!(decode::<ClientMsg>(body(&frame)).unwrap(), msg);
        }
    }

    #[test]
    fn round_trips_server_message_with_ids() {
        let msg = ServerMsg::Message {
            id: MessageId {
                origin: ServerId::random(),
                seq: 42,
            },
            from: "Leo".into(),
            text: "hello".into(),
        };
        let frame = encode_frame(&msg);
        assert_eq!(decode::<ServerMsg>(body(&frame)).unwrap(), msg);
    }

    #[test]
    fn server_types_list_every_variant() {
        use crate::protocol::{ErrorCode, LeaveReason, StatusReport};
        let server = ServerId::random();
        let id = MessageId {
            origin: server,
            seq: 1,
        };
        let all = [
            ServerMsg::Hello {
                version: 1,
                server,
                agent: String::new(),
                keepalive_ms: 1,
                features: vec!["ack".into()],
                rate: Some(crate::protocol::RateLimit::default()),
            },
            ServerMsg::Welcome {
                server,
                name: "a".into(),
                members: vec![],
                servers: vec![],
                seen: Vec::new(),
            },
            ServerMsg::Joined {
                id,
                name: "a".into(),
                server,
            },
            ServerMsg::Left {
                id,
                name: "a".into(),
                server,
                reason: LeaveReason::Leave,
            },
            ServerMsg::Message {
                id,
                from: "a".into(),
                text: "t".into(),
            },
            ServerMsg::History {
                id,
                from: "a".into(),
                text: "t".into(),
            },
            ServerMsg::Error {
                code: ErrorCode::BAD_FRAME,
                text: String::new(),
                fatal: true,
                cid: Some(3),
            },
            ServerMsg::Ack { cid: 3, id },
            ServerMsg::StatusReply(StatusReport {
                id: server,
                servers: vec![],
                members: vec![],
                counters: Default::default(),
            }),
            ServerMsg::Notice {
                text: String::new(),
            },
            ServerMsg::Shutdown {
                reason: String::new(),
                servers: vec![],
            },
            ServerMsg::Servers { servers: vec![] },
            ServerMsg::Ping { nonce: 1 },
            ServerMsg::Pong { nonce: 1 },
        ];
        assert_eq!(all.len(), ServerMsg::TYPES.len());
        let unsolicited: Vec<String> = all
            .iter()
            .filter(|m| m.is_unsolicited())
            .map(|m| {
                format!("{m:?}")
                    .split([' ', '('])
                    .next()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(
            unsolicited,
            ["Joined", "Left", "Message", "History", "Ack", "Notice", "Servers"],
            "what a client waiting for an answer passes by"
        );
        for msg in all {
            let frame = encode_frame(&msg);
            let value = rmpv::decode::read_value(&mut &frame[4..]).unwrap();
            let kind = value
                .as_map()
                .unwrap()
                .iter()
                .find(|(k, _)| k.as_str() == Some("type"))
                .unwrap()
                .1
                .as_str()
                .unwrap()
                .to_string();
            assert!(
                ServerMsg::TYPES.contains(&kind.as_str()),
                "{kind} missing from TYPES"
            );
        }
    }

    #[test]
    fn messages_are_maps_with_a_type_key() {
        let frame = encode_frame(&ClientMsg::Leave);
        // fixmap(1) "type" "leave"
        assert_eq!(&frame[4..], b"\x81\xa4type\xa5leave");
    }

    #[test]
    fn unknown_keys_are_ignored() {
        let value = rmpv::Value::Map(vec![
            ("type".into(), "join".into()),
            ("name".into(), "Leo".into()),
            ("colour".into(), "blue".into()),
        ]);
        let mut bytes = Vec::new();
        rmpv::encode::write_value(&mut bytes, &value).unwrap();
        assert_eq!(
            decode::<ClientMsg>(&bytes).unwrap(),
            ClientMsg::Join { name: "Leo".into() }
        );
    }

    #[test]
    fn explains_bad_bodies() {
        assert!(matches!(
            decode::<ClientMsg>(b"\xc1"),
            Err(DecodeError::Malformed(_))
        ));
        assert_eq!(decode::<ClientMsg>(b"\x01"), Err(DecodeError::NotAMap));
        assert_eq!(decode::<ClientMsg>(b"\x80"), Err(DecodeError::NoType));
        let unknown = b"\x81\xa4type\xa3zap";
        assert!(matches!(
            decode::<ClientMsg>(unknown),
            Err(DecodeError::BadMessage { kind, .. }) if kind == "zap"
        ));
        let missing_field = b"\x81\xa4type\xa4join";
        assert!(matches!(
            decode::<ClientMsg>(missing_field),
            Err(DecodeError::BadMessage { kind, .. }) if kind == "join"
        ));
        let mut trailing = encode_frame(&ClientMsg::Leave)[4..].to_vec();
        trailing.push(0);
        assert_eq!(
            decode::<ClientMsg>(&trailing),
            Err(DecodeError::Malformed(ShapeError::Trailing(1)))
        );
    }

    #[test]
    fn invalid_utf8_has_its_own_code() {
        // {"type": "send", "text": <str8 with 0xff>}
        let body = b"\x82\xa4type\xa4send\xa4text\xa2\xff\xfe";
        let err = decode::<ClientMsg>(body).unwrap_err();
        assert_eq!(err, DecodeError::InvalidUtf8);
        assert_eq!(err.code(), ErrorCode::INVALID_UTF8);
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let body = vec![0x91u8; 60_000]; // 60,000 nested one-element arrays
        assert!(decode::<ClientMsg>(&body).is_err());
        let mut map = b"\x82\xa4type\xa4send\xa4text".to_vec();
        map.extend(std::iter::repeat_n(0x91u8, 60_000));
        assert!(decode::<ClientMsg>(&map).is_err());
    }

    #[test]
    fn decoder_waits_for_whole_frames() {
        let frame = encode_frame(&ClientMsg::Join { name: "Leo".into() });
        let mut dec = FrameDecoder::new(1024);
        let mut buf = BytesMut::new();
        for (i, byte) in frame.iter().enumerate() {
            buf.put_u8(*byte);
            let out = dec.decode(&mut buf).unwrap();
            if i + 1 < frame.len() {
                assert!(out.is_none());
            } else {
                assert_eq!(&out.unwrap()[..], &frame[4..]);
            }
        }
        assert!(buf.is_empty());
    }

    #[test]
    fn decoder_rejects_oversized_and_empty_frames_before_buffering() {
        let mut dec = FrameDecoder::new(1024);
        let mut buf = BytesMut::from(&[0xff, 0xff, 0xff, 0xff][..]);
        assert!(matches!(
            dec.decode(&mut buf),
            Err(FrameError::TooLarge {
                len: 0xffff_ffff,
                max: 1024
            })
        ));
        let mut buf = BytesMut::from(&[0, 0, 0, 0][..]);
        assert!(matches!(dec.decode(&mut buf), Err(FrameError::Empty)));
    }

    #[test]
    fn decoder_reports_truncation_at_eof() {
        let mut dec = FrameDecoder::new(1024);
        let mut buf = BytesMut::from(&[0, 0, 0, 9, 1, 2][..]);
        assert!(matches!(
            dec.decode_eof(&mut buf),
            Err(FrameError::Truncated(6))
        ));
        assert!(dec.decode_eof(&mut BytesMut::new()).unwrap().is_none());
    }
}
