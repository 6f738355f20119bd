//! The fast path for the one message clients send most: `send`.
//!
//! serde's internally tagged enums buffer a whole map before choosing the
//! variant, which costs several allocations per message. A `send` body that
//! is exactly `{type: "send", text: <str>}`, optionally with `cid: <uint>`,
//! is read here straight from the bytes; anything else goes through
//! [`decode`], so the result never differs.

use super::codec::{decode, DecodeError};
use super::ClientMsg;

/// Decodes a client message. `send`, nearly all client traffic, is read
/// straight from the bytes when it has exactly the keys `type` and `text`
/// (and optionally `cid`, as an unsigned integer) and valid UTF-8; anything
/// else (other keys, other types, errors) goes through [`decode`], so the
/// result is always the same. serde's internally tagged enums buffer the
/// whole map first, which costs several allocations per message.
pub fn decode_client(body: &[u8]) -> Result<ClientMsg, DecodeError> {
    if let Some((text, cid)) = send_fields(body) {
        return Ok(ClientMsg::Send {
            text: text.to_owned(),
            cid,
            room: None,
            action: false,
        });
    }
    decode(body)
}

/// The text and cid of a body that is exactly `{type: "send", text: <str>}`
/// or `{type: "send", text: <str>, cid: <uint>}`, keys in any order.
fn send_fields(body: &[u8]) -> Option<(&str, Option<u64>)> {
    let (&marker, mut rest) = body.split_first()?;
    let keys = match marker {
        0x82 => 2,
        0x83 => 3,
        _ => return None,
    };
    let (mut kind, mut text, mut cid) = (None, None, None);
    for _ in 0..keys {
        let (key, after_key) = msgpack_str(rest)?;
        match key {
            b"type" if kind.is_none() => {
                let (value, after) = msgpack_str(after_key)?;
                (kind, rest) = (Some(value), after);
            }
            b"text" if text.is_none() => {
                let (value, after) = msgpack_str(after_key)?;
                (text, rest) = (Some(value), after);
            }
            b"cid" if cid.is_none() => {
                let (value, after) = msgpack_uint(after_key)?;
                (cid, rest) = (Some(value), after);
            }
            _ => return None,
        }
    }
    if !rest.is_empty() || kind? != b"send" {
        return None;
    }
    Some((std::str::from_utf8(text?).ok()?, cid))
}

/// An unsigned MessagePack integer at the front of `bytes`, and what
/// follows it. Other integer forms take the slow path. (The IRC gateway's
/// frame reader shares it.)
pub(crate) fn msgpack_uint(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let (&marker, rest) = bytes.split_first()?;
    let width = match marker {
        0x00..=0x7f => return Some((u64::from(marker), rest)),
        0xcc => 1,
        0xcd => 2,
        0xce => 4,
        0xcf => 8,
        _ => return None,
    };
    let (digits, rest) = (rest.get(..width)?, &rest[width..]);
    let value = digits
        .iter()
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    Some((value, rest))
}

/// A MessagePack string at the front of `bytes`, and what follows it.
pub(crate) fn msgpack_str(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&marker, rest) = bytes.split_first()?;
    let (len, rest) = match marker {
        0xa0..=0xbf => (usize::from(marker & 0x1f), rest),
        0xd9 => {
            let (&len, rest) = rest.split_first()?;
            (usize::from(len), rest)
        }
        0xda => {
            let len = rest.get(..2)?;
            (
                usize::from(u16::from_be_bytes([len[0], len[1]])),
                &rest[2..],
            )
        }
        0xdb => {
            let len = rest.get(..4)?;
            let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]);
            (usize::try_from(len).ok()?, &rest[4..])
        }
        _ => return None,
    };
    (rest.len() >= len).then(|| rest.split_at(len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::encode_frame;

    fn body(frame: &bytes::Bytes) -> &[u8] {
        &frame[4..]
    }

    #[test]
    fn the_send_fast_path_agrees_with_serde() {
        for text in [
            "",
            "hi",
            &"é".repeat(40),
            &"x".repeat(300),
            &"y".repeat(1000),
        ] {
            for cid in [
                None,
                Some(0),
                Some(127),
                Some(128),
                Some(70_000),
                Some(u64::MAX),
            ] {
                let msg = ClientMsg::Send {
                    text: text.into(),
                    cid,
                    action: false,
                    room: None,
                };
                let frame = encode_frame(&msg);
                assert_eq!(decode_client(body(&frame)).unwrap(), msg);
                assert!(send_fields(body(&frame)).is_some(), "fast path taken");
            }
        }
        // The cid first, as another encoder may order the keys.
        let reordered = rmp_serde::to_vec_named(&serde_json::json!(
            {"cid": 9, "text": "a", "type": "send"}))
        .unwrap();
        assert_eq!(send_fields(&reordered), Some(("a", Some(9))));
        // A negative or float cid is not an unsigned integer: the slow path
        // refuses it like any other bad field.
        let negative = rmp_serde::to_vec_named(&serde_json::json!(
            {"type": "send", "text": "a", "cid": -1}))
        .unwrap();
        assert!(send_fields(&negative).is_none());
        assert!(decode_client(&negative).is_err());
        // Extra keys, other types, duplicates and bad UTF-8 take the slow path.
        let extra = rmp_serde::to_vec_named(&serde_json::json!(
            {"type": "send", "text": "a", "x": 1}))
        .unwrap();
        assert!(send_fields(&extra).is_none());
        assert!(matches!(decode_client(&extra), Ok(ClientMsg::Send { .. })));
        let dup = [
            &[0x82u8, 0xa4][..],
            b"type",
            &[0xa4],
            b"send",
            &[0xa4],
            b"type",
            &[0xa4],
            b"send",
        ]
        .concat();
        assert!(send_fields(&dup).is_none());
        let bad = [
            &[0x82u8, 0xa4][..],
            b"type",
            &[0xa4],
            b"send",
            &[0xa4],
            b"text",
            &[0xa1, 0xff],
        ]
        .concat();
        assert!(send_fields(&bad).is_none());
        assert!(matches!(decode_client(&bad), Err(DecodeError::InvalidUtf8)));
        let leave = encode_frame(&ClientMsg::Leave { text: None });
        assert_eq!(
            decode_client(body(&leave)).unwrap(),
            ClientMsg::Leave { text: None }
        );
    }
}
