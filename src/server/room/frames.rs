//! The frames the room sends, encoded once each. The hot ones (`message`,
//! `history`, `welcome`) are encoded from borrowed strings into a buffer of
//! the right size: the same bytes as the `ServerMsg` variant, without
//! cloning every string (or the whole member list) first.

use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};
use serde::{Serialize, Serializer};

use crate::protocol::codec::write;
use crate::protocol::parts::RoomState as RoomView;
use crate::protocol::{encode_frame, LeaveReason, MessageId, ServerId, ServerMsg};

/// A `message` or `history` frame's fields, borrowed.
struct Line<'a> {
    kind: &'static str,
    id: MessageId,
    from: &'a str,
    room: &'a str,
    text: &'a str,
    action: bool,
    cid: u64,
}

impl Line<'_> {
    /// About the frame's size: a good first buffer.
    fn size(&self) -> usize {
        90 + self.from.len() + self.text.len() + self.room.len()
    }

    /// Appends the frame to `buf`, by hand: the bytes serde would write for
    /// `ServerMsg::Message` (or `History`), fields in its order (`room`
    /// before `text`; `action` and `cid` only when set), without a call
    /// through `io::Write` per key and value. The unit tests compare the two.
    fn encode_into(&self, buf: &mut BytesMut) {
        buf.reserve(self.size());
        write::frame(buf, |buf| {
            let fields = 5 + u32::from(self.action) + u32::from(self.cid != 0);
            write::map_len(buf, fields);
            write::str(buf, "type");
            write::str(buf, self.kind);
            write::str(buf, "id");
            write_id(buf, self.id);
            write::str(buf, "from");
            write::str(buf, self.from);
            write::str(buf, "room");
            write::str(buf, self.room);
            write::str(buf, "text");
            write::str(buf, self.text);
            if self.action {
                write::str(buf, "action");
                write::bool(buf, true);
            }
            if self.cid != 0 {
                write::str(buf, "cid");
                write::uint(buf, self.cid);
            }
        });
    }
}

/// A `message` (live) or `history` (replayed) frame.
pub(super) fn line_frame(
    kind: &'static str,
    id: MessageId,
    from: &str,
    text: &str,
    room: &str,
    action: bool,
    cid: u64,
) -> Bytes {
    let line = Line {
        kind,
        id,
        from,
        room,
        text,
        action,
        cid,
    };
    let mut buf = BytesMut::new();
    line.encode_into(&mut buf);
    buf.freeze()
}

/// A live `message` frame, appended to `buf` (see `run`).
pub(super) fn message_frame_into(
    buf: &mut BytesMut,
    id: MessageId,
    from: &str,
    text: &str,
    room: &str,
    action: bool,
    cid: u64,
) {
    let line = Line {
        kind: "message",
        id,
        from,
        room,
        text,
        action,
        cid,
    };
    line.encode_into(buf);
}

/// `ack` for the line a sender numbered `cid`, now event `id`: by hand,
/// as [`Line`], since every line of a client that asks for acks has one.
pub(super) fn ack_frame(cid: u64, id: MessageId) -> Bytes {
    let mut buf = BytesMut::with_capacity(48);
    write::frame(&mut buf, |buf| {
        write::map_len(buf, 3);
        write::str(buf, "type");
        write::str(buf, "ack");
        write::str(buf, "cid");
        write::uint(buf, cid);
        write::str(buf, "id");
        write_id(buf, id);
    });
    buf.freeze()
}

/// An event id, as serde writes `MessageId`.
fn write_id(buf: &mut BytesMut, id: MessageId) {
    write::map_len(buf, 2);
    write::str(buf, "origin");
    write::bin8(buf, id.origin.as_bytes());
    write::str(buf, "seq");
    write::uint(buf, id.seq);
}

/// `joined` for `name` in `room`.
pub(super) fn joined_frame(id: MessageId, name: &str, server: ServerId, room: &str) -> Bytes {
    encode_frame(&ServerMsg::Joined {
        id,
        name: name.to_string(),
        server,
        room: room.to_string(),
    })
}

/// `left` for `name` from `room`, with what it said as it went (`text`),
/// and whether it left the chat (`quit`) or only the room.
pub(super) fn left_frame(
    id: MessageId,
    name: &str,
    server: ServerId,
    reason: LeaveReason,
    room: &str,
    text: Option<&str>,
    quit: bool,
) -> Bytes {
    encode_frame(&ServerMsg::Left {
        id,
        name: name.to_string(),
        server,
        reason,
        room: room.to_string(),
        text: text.map(str::to_string),
        quit,
    })
}

/// A non-fatal error frame.
pub(super) fn error_frame(code: crate::protocol::ErrorCode, text: String) -> Bytes {
    encode_frame(&ServerMsg::Error {
        code,
        text,
        fatal: false,
        cid: None,
    })
}

/// What `welcome` carries besides the members.
pub(super) struct Welcome<'a> {
    pub(super) server: ServerId,
    pub(super) name: &'a str,
    pub(super) servers: &'a [String],
    pub(super) seen: &'a [MessageId],
    pub(super) web: &'a [String],
    pub(super) room: &'a str,
    /// Version 2: the rooms the member is in (empty for version 1).
    pub(super) rooms: &'a [RoomView],
}

/// `welcome`, its members encoded straight from `members` (the room's, by
/// name): the same bytes as `encode_frame(&ServerMsg::Welcome { .. })`
/// without cloning every member first (a join storm would otherwise copy
/// the member list per join).
pub(super) fn welcome_frame(w: &Welcome<'_>, members: &BTreeMap<String, ServerId>) -> Bytes {
    #[derive(Serialize)]
    #[serde(tag = "type", rename = "welcome")]
    struct Frame<'a> {
        server: ServerId,
        name: &'a str,
        members: Roster<'a>,
        servers: &'a [String],
        seen: &'a [MessageId],
        #[serde(skip_serializing_if = "<[String]>::is_empty")]
        web: &'a [String],
        room: &'a str,
        #[serde(skip_serializing_if = "<[RoomView]>::is_empty")]
        rooms: &'a [RoomView],
    }
    struct Roster<'a>(&'a BTreeMap<String, ServerId>);
    #[derive(Serialize)]
    struct MemberRef<'a> {
        name: &'a str,
        server: ServerId,
    }
    impl Serialize for Roster<'_> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.collect_seq(
                self.0
                    .iter()
                    .map(|(name, &server)| MemberRef { name, server }),
            )
        }
    }
    encode_frame(&Frame {
        server: w.server,
        name: w.name,
        members: Roster(members),
        servers: w.servers,
        seen: w.seen,
        web: w.web,
        room: w.room,
        rooms: w.rooms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Member, TopicInfo};

    fn id() -> MessageId {
        MessageId {
            origin: ServerId::from_bytes([7; 16]),
            seq: 1 << 40,
        }
    }

    /// Every field at the edges of its encodings: the hand-written frames
    /// are serde's bytes.
    #[test]
    fn line_frames_encode_like_the_message_types() {
        let texts = [0, 1, 31, 32, 255, 256, 1000].map(|n| "é".repeat(n / 2) + &"x".repeat(n % 2));
        let names = ["A", "Ann", &"n".repeat(32)];
        let rooms = ["#lobby", "#dev", &format!("#{}", "r".repeat(49))];
        let seqs = [1, 0x7f, 0x80, 0x1_0000, 1 << 40, u64::MAX];
        let flags = [(false, 0), (true, 0), (false, 7), (true, u64::MAX)];
        for (i, text) in texts.iter().enumerate() {
            for (j, (from, room)) in names.iter().zip(rooms).enumerate() {
                let seq = seqs[(i + j) % seqs.len()];
                let id = MessageId {
                    origin: ServerId::from_bytes([i as u8; 16]),
                    seq,
                };
                for (action, cid) in flags {
                    let wire_cid = (cid != 0).then_some(cid);
                    let expected = encode_frame(&ServerMsg::Message {
                        id,
                        from: from.to_string(),
                        text: text.clone(),
                        room: room.to_string(),
                        action,
                        cid: wire_cid,
                    });
                    assert_eq!(
                        line_frame("message", id, from, text, room, action, cid),
                        expected
                    );
                    // Appended after a frame already there (a run), the same bytes.
                    let mut run = BytesMut::from(&expected[..]);
                    message_frame_into(&mut run, id, from, text, room, action, cid);
                    assert_eq!(&run[expected.len()..], &expected[..]);
                    let expected = encode_frame(&ServerMsg::History {
                        id,
                        from: from.to_string(),
                        text: text.clone(),
                        room: room.to_string(),
                        action,
                        cid: wire_cid,
                    });
                    assert_eq!(
                        line_frame("history", id, from, text, room, action, cid),
                        expected
                    );
                }
            }
        }
    }

    #[test]
    fn ack_frames_encode_like_the_message_type() {
        for (cid, seq) in [(1, 1), (0x80, 0x1_0000), (u64::MAX, u64::MAX)] {
            let id = MessageId {
                origin: ServerId::from_bytes([3; 16]),
                seq,
            };
            assert_eq!(
                ack_frame(cid, id),
                encode_frame(&ServerMsg::Ack { cid, id })
            );
        }
    }

    #[test]
    fn welcome_encodes_like_the_message_type() {
        let s = ServerId::from_bytes([1; 16]);
        let members: BTreeMap<String, ServerId> =
            [("Bob".to_string(), s), ("ann".to_string(), s)].into();
        let servers = vec!["127.0.0.1:1".to_string()];
        let seen = vec![id()];
        let lobby = RoomView {
            room: "#lobby".into(),
            topic: Some(TopicInfo {
                text: "hi".into(),
                by: "Bob".into(),
                at: 5,
            }),
            members: vec![Member {
                name: "Bob".into(),
                server: s,
            }],
            count: None,
        };
        for (rooms, web) in [
            (vec![], vec![]),
            (vec![lobby], vec!["127.0.0.1:2".to_string()]),
        ] {
            let expected = encode_frame(&ServerMsg::Welcome {
                server: s,
                name: "ann".into(),
                members: members
                    .iter()
                    .map(|(name, &server)| Member {
                        name: name.clone(),
                        server,
                    })
                    .collect(),
                servers: servers.clone(),
                seen: seen.clone(),
                web: web.clone(),
                room: "#lobby".into(),
                rooms: rooms.clone(),
            });
            let w = Welcome {
                server: s,
                name: "ann",
                servers: &servers,
                seen: &seen,
                web: &web,
                room: "#lobby",
                rooms: &rooms,
            };
            assert_eq!(welcome_frame(&w, &members), expected);
        }
    }
}
