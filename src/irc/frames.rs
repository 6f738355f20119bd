//! The two frames an IRC connection's session sends most — a room
//! `message` and the `ack` of one of our own sends — read straight from
//! the bytes, borrowing the strings.
//!
//! serde's internally tagged enums buffer the whole map and allocate every
//! string before choosing the variant; at a thousand subscribers that was
//! most of the gateway's CPU per delivery. A body with exactly the keys
//! serde would write for these two frames (any order) is read here;
//! anything else — another type, another key, another encoding of a field —
//! returns `None` and goes through [`crate::protocol::decode`], so what the
//! translator sees never differs (the tests check both ways agree).

use crate::protocol::fast::{msgpack_str, msgpack_uint};
use crate::protocol::{MessageId, ServerId};

/// A frame read without serde.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Skimmed<'a> {
    /// `message`: a line said in a room.
    Message {
        id: MessageId,
        from: &'a str,
        room: &'a str,
        text: &'a str,
        action: bool,
    },
    /// `ack`: one of our sends was numbered.
    Ack { cid: u64, id: MessageId },
}

/// Reads `body` if it is a plainly encoded `message` or `ack`.
pub(super) fn skim(body: &[u8]) -> Option<Skimmed<'_>> {
    let (&marker, mut rest) = body.split_first()?;
    let keys = match marker {
        0x80..=0x8f => marker & 0x0f,
        _ => return None,
    };
    let (mut kind, mut id, mut cid) = (None, None, None);
    let (mut from, mut room, mut text, mut action) = (None, None, None, None);
    for _ in 0..keys {
        let (key, after) = msgpack_str(rest)?;
        rest = match key {
            b"type" if kind.is_none() => {
                let (v, after) = msgpack_str(after)?;
                kind = Some(v);
                after
            }
            b"id" if id.is_none() => {
                let (v, after) = message_id(after)?;
                id = Some(v);
                after
            }
            b"cid" if cid.is_none() => {
                let (v, after) = msgpack_uint(after)?;
                cid = Some(v);
                after
            }
            b"from" if from.is_none() => {
                let (v, after) = utf8(after)?;
                from = Some(v);
                after
            }
            b"room" if room.is_none() => {
                let (v, after) = utf8(after)?;
                room = Some(v);
                after
            }
            b"text" if text.is_none() => {
                let (v, after) = utf8(after)?;
                text = Some(v);
                after
            }
            b"action" if action.is_none() => {
                let (&b, after) = after.split_first()?;
                action = Some(match b {
                    0xc2 => false,
                    0xc3 => true,
                    _ => return None,
                });
                after
            }
            _ => return None,
        };
    }
    if !rest.is_empty() {
        return None;
    }
    match kind? {
        b"message" if cid.is_none() => Some(Skimmed::Message {
            id: id?,
            from: from?,
            room: room?,
            text: text?,
            action: action.unwrap_or(false),
        }),
        b"ack" if from.is_none() && room.is_none() && text.is_none() && action.is_none() => {
            Some(Skimmed::Ack { cid: cid?, id: id? })
        }
        _ => None,
    }
}

/// `{origin: bin 16, seq: uint}` (either order).
fn message_id(bytes: &[u8]) -> Option<(MessageId, &[u8])> {
    let (&0x82, mut rest) = bytes.split_first()? else {
        return None;
    };
    let (mut origin, mut seq) = (None, None);
    for _ in 0..2 {
        let (key, after) = msgpack_str(rest)?;
        rest = match key {
            b"origin" if origin.is_none() => {
                let (&[0xc4, 16], after) = (after.get(..2)?, &after[2..]) else {
                    return None;
                };
                let raw: [u8; 16] = after.get(..16)?.try_into().ok()?;
                origin = Some(ServerId::from_bytes(raw));
                &after[16..]
            }
            b"seq" if seq.is_none() => {
                let (v, after) = msgpack_uint(after)?;
                seq = Some(v);
                after
            }
            _ => return None,
        };
    }
    Some((
        MessageId {
            origin: origin?,
            seq: seq?,
        },
        rest,
    ))
}

/// A MessagePack string, as valid UTF-8.
fn utf8(bytes: &[u8]) -> Option<(&str, &[u8])> {
    let (s, rest) = msgpack_str(bytes)?;
    Some((std::str::from_utf8(s).ok()?, rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{decode, encode_frame, ServerMsg};

    fn id(seq: u64) -> MessageId {
        MessageId {
            origin: ServerId::from_bytes([9; 16]),
            seq,
        }
    }

    /// What serde makes of the body, as a `Skimmed` would say it.
    fn agrees(msg: &ServerMsg) {
        let frame = encode_frame(msg);
        let body = &frame[4..];
        let skimmed = skim(body).expect("the fast path takes what serde writes");
        let back: ServerMsg = decode(body).unwrap();
        let same = match (skimmed, back) {
            (
                Skimmed::Message {
                    id,
                    from,
                    room,
                    text,
                    action,
                },
                ServerMsg::Message {
                    id: i,
                    from: f,
                    room: r,
                    text: t,
                    action: a,
                    ..
                },
            ) => id == i && from == f && room == r && text == t && action == a,
            (Skimmed::Ack { cid, id }, ServerMsg::Ack { cid: c, id: i }) => cid == c && id == i,
            _ => false,
        };
        assert!(same, "{msg:?}");
    }

    #[test]
    fn reads_what_serde_writes() {
        for text in [
            "",
            "hi",
            &"é".repeat(40),
            &"x".repeat(300),
            &"y".repeat(70_000),
        ] {
            for action in [false, true] {
                for seq in [0, 1, 127, 128, 70_000, u64::MAX] {
                    agrees(&ServerMsg::Message {
                        id: id(seq),
                        from: "ålice".into(),
                        room: "#bench".into(),
                        text: text.into(),
                        action,
                        cid: None,
                    });
                }
            }
        }
        for cid in [0, 1, 300, u64::MAX] {
            agrees(&ServerMsg::Ack { cid, id: id(cid) });
        }
    }

    #[test]
    fn leaves_everything_else_to_serde() {
        for msg in [
            ServerMsg::Ping { nonce: 1 },
            ServerMsg::Notice { text: "x".into() },
            ServerMsg::Private {
                id: id(1),
                from: "a".into(),
                to: "b".into(),
                text: "c".into(),
                action: false,
                cid: None,
            },
            ServerMsg::History {
                id: id(1),
                from: "a".into(),
                room: "#r".into(),
                text: "c".into(),
                action: false,
                cid: None,
            },
        ] {
            let frame = encode_frame(&msg);
            assert_eq!(skim(&frame[4..]), None, "{msg:?}");
        }
        // Odd encodings, extra or repeated keys, bad UTF-8, truncation.
        let odd = [
            serde_json::json!({"type": "message", "id": {"origin": [1], "seq": 1},
                "from": "a", "room": "#r", "text": "t"}),
            serde_json::json!({"type": "message", "id": {"seq": -1}, "from": "a",
                "room": "#r", "text": "t"}),
            serde_json::json!({"type": "ack", "cid": 1}),
            serde_json::json!({"type": "ack", "cid": 1.5, "id": 3}),
            serde_json::json!({"type": "message", "from": "a", "room": "#r", "text": "t",
                "extra": 1}),
        ];
        for value in odd {
            let body = rmp_serde::to_vec_named(&value).unwrap();
            assert_eq!(skim(&body), None, "{value}");
        }
        let good = encode_frame(&ServerMsg::Message {
            id: id(5),
            from: "a".into(),
            room: "#r".into(),
            text: "hello".into(),
            action: false,
            cid: None,
        });
        let body = &good[4..];
        for cut in 0..body.len() {
            assert_eq!(skim(&body[..cut]), None, "cut at {cut}");
        }
        let mut bad = body.to_vec();
        let at = bad.len() - 2;
        bad[at] = 0xff; // inside "hello"
        assert_eq!(skim(&bad), None);
        let mut longer = body.to_vec();
        longer.push(0xc0);
        assert_eq!(skim(&longer), None, "trailing bytes");
    }
}
