//! The fast path for the one message clients send most: `send`.
//!
//! serde's internally tagged enums buffer a whole map before choosing the
//! variant, which costs several allocations per message. A `send` body that
//! is exactly `{type: "send", text: <str>}` is read here straight from the
//! bytes; anything else goes through [`decode`], so the result never differs.

use super::codec::{decode, DecodeError};
use super::ClientMsg;

/// Decodes a client message. `send`, nearly all client traffic, is read
/// straight from the bytes when it has exactly the two keys `type` and
/// `text` and valid UTF-8; anything else (other keys, other types, errors)
/// goes through [`decode`], so the result is always the same. serde's
/// internally tagged enums buffer the whole map first, which costs several
/// allocations per message.
pub fn decode_client(body: &[u8]) -> Result<ClientMsg, DecodeError> {
    if let Some(text) = send_text(body) {
        return Ok(ClientMsg::Send {
            text: text.to_owned(),
        });
    }
    decode(body)
}

/// The text of a body that is exactly `{type: "send", text: <str>}`.
fn send_text(body: &[u8]) -> Option<&str> {
    let (&marker, mut rest) = body.split_first()?;
    if marker != 0x82 {
        return None;
    }
    let (mut kind, mut text) = (None, None);
    for _ in 0..2 {
        let (key, after_key) = msgpack_str(rest)?;
        let (value, after_value) = msgpack_str(after_key)?;
        rest = after_value;
        match key {
            b"type" if kind.is_none() => kind = Some(value),
            b"text" if text.is_none() => text = Some(value),
            _ => return None,
        }
    }
    if !rest.is_empty() || kind? != b"send" {
        return None;
    }
    std::str::from_utf8(text?).ok()
}

/// A MessagePack string at the front of `bytes`, and what follows it.
fn msgpack_str(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
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
            let frame = encode_frame(&ClientMsg::Send { text: text.into() });
            assert_eq!(
                decode_client(body(&frame)).unwrap(),
                ClientMsg::Send { text: text.into() }
            );
            assert!(send_text(body(&frame)).is_some(), "fast path taken");
        }
        // Extra keys, other types, duplicates and bad UTF-8 take the slow path.
        let extra = rmp_serde::to_vec_named(&serde_json::json!(
            {"type": "send", "text": "a", "x": 1}))
        .unwrap();
        assert!(send_text(&extra).is_none());
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
        assert!(send_text(&dup).is_none());
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
        assert!(send_text(&bad).is_none());
        assert!(matches!(decode_client(&bad), Err(DecodeError::InvalidUtf8)));
        let leave = encode_frame(&ClientMsg::Leave);
        assert_eq!(decode_client(body(&leave)).unwrap(), ClientMsg::Leave);
    }
}
