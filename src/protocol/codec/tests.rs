//! The codec's unit tests: framing, decoding edge cases, every variant.

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
            action: false,
            room: None,
        },
        ClientMsg::Leave { text: None },
        ClientMsg::Status,
        ClientMsg::Watch,
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
        action: false,
        room: "#lobby".into(),
        cid: None,
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
    let report = StatusReport {
        id: server,
        servers: vec![],
        members: vec![],
        counters: Default::default(),
        rooms: Vec::new(),
    };
    let event = crate::protocol::ClusterEvent {
        at_ms: 1,
        kind: "joined".into(),
        server,
        addr: "127.0.0.1:7878".into(),
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
            web: vec![],
            server,
            name: "a".into(),
            members: vec![],
            servers: vec![],
            seen: Vec::new(),
            room: "#lobby".into(),
            rooms: Vec::new(),
        },
        ServerMsg::Joined {
            id,
            name: "a".into(),
            server,
            room: "#lobby".into(),
        },
        ServerMsg::Left {
            id,
            name: "a".into(),
            server,
            reason: LeaveReason::Leave,
            room: "#lobby".into(),
            text: None,
            quit: false,
        },
        ServerMsg::Message {
            id,
            from: "a".into(),
            text: "t".into(),
            action: false,
            room: "#lobby".into(),
            cid: None,
        },
        ServerMsg::History {
            id,
            from: "a".into(),
            text: "t".into(),
            action: false,
            room: "#lobby".into(),
            cid: None,
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
            rooms: Vec::new(),
        }),
        ServerMsg::Watching {
            report: report.clone(),
            events: vec![event.clone()],
        },
        ServerMsg::WatchEvent { event },
        ServerMsg::WatchUpdate { report },
        ServerMsg::Notice {
            text: String::new(),
        },
        ServerMsg::Shutdown {
            reason: String::new(),
            servers: vec![],
        },
        ServerMsg::Servers {
            servers: vec![],
            web: vec![],
        },
        ServerMsg::Ping { nonce: 1 },
        ServerMsg::Pong { nonce: 1 },
        ServerMsg::Private {
            id,
            from: "a".into(),
            to: "b".into(),
            text: "t".into(),
            action: false,
            cid: Some(7),
        },
        ServerMsg::Nick {
            id,
            old: "a".into(),
            new: "b".into(),
            server: id.origin,
        },
        ServerMsg::Topic {
            room: "#r".into(),
            text: "t".into(),
            by: "a".into(),
            at: 1,
        },
        ServerMsg::RoomState(crate::protocol::RoomState {
            room: "#r".into(),
            topic: None,
            members: vec![],
            count: None,
        }),
        ServerMsg::RoomCount {
            room: "#r".into(),
            count: 201,
        },
        ServerMsg::WhoReply {
            room: "#r".into(),
            members: vec![],
            count: None,
            next: None,
        },
        ServerMsg::RoomsReply { rooms: vec![] },
        ServerMsg::WhoisReply {
            name: "a".into(),
            server: id.origin,
            rooms: vec![],
        },
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
        [
            "Joined",
            "Left",
            "Message",
            "History",
            "Ack",
            "WatchEvent",
            "WatchUpdate",
            "Notice",
            "Servers",
            "Private",
            "Nick",
            "Topic",
            "RoomCount"
        ],
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
    let frame = encode_frame(&ClientMsg::Leave { text: None });
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
    // A field of the wrong kind is named, optional or required.
    for (body, field) in [
        (
            &b"\x83\xa4type\xa4send\xa4text\xa2hi\xa3cid\xa1x"[..],
            "`cid`",
        ),
        (b"\x82\xa4type\xa4join\xa4name\x05", "`name`"),
    ] {
        match decode::<ClientMsg>(body) {
            Err(DecodeError::BadMessage { detail, .. }) => {
                assert!(detail.starts_with(&format!("field {field}: ")), "{detail}")
            }
            other => panic!("{other:?}"),
        }
    }
    let mut trailing = encode_frame(&ClientMsg::Leave { text: None })[4..].to_vec();
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

/// A socket holding a burst: every read returns as much as asked for, and
/// the reads are counted.
struct Burst {
    data: Vec<u8>,
    reads: usize,
}

impl tokio::io::AsyncRead for Burst {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let n = buf.remaining().min(self.data.len());
        let rest = self.data.split_off(n);
        buf.put_slice(&std::mem::replace(&mut self.data, rest));
        self.reads += 1;
        std::task::Poll::Ready(Ok(()))
    }
}

#[tokio::test]
async fn a_burst_after_the_buffer_was_given_back_is_read_in_large_pieces() {
    use futures_util::StreamExt;
    let frame = encode_frame(&ClientMsg::Send {
        text: "x".repeat(64),
        cid: None,
        room: None,
        action: false,
    });
    let frames = 256;
    let burst = Burst {
        data: frame.repeat(frames),
        reads: 0,
    };
    // A connection that was idle gave its buffer back: it starts from none.
    let mut framed =
        tokio_util::codec::FramedRead::with_capacity(burst, FrameDecoder::new(1024), 0);
    for _ in 0..frames {
        assert_eq!(&framed.next().await.unwrap().unwrap()[..], &frame[4..]);
    }
    let reads = framed.get_ref().reads;
    assert!(
        reads <= 8,
        "{frames} frames of {} bytes took {reads} reads",
        frame.len()
    );
}

#[test]
fn the_private_frame_of_protocol_md_19_is_what_is_sent() {
    // PROTOCOL.md 19: the server's `private`, with the sender's cid last.
    let msg = ServerMsg::Private {
        id: MessageId {
            origin: ServerId::from_bytes([0x11; 16]),
            seq: 7,
        },
        from: "Leo".into(),
        to: "Ann".into(),
        text: "hi".into(),
        action: false,
        cid: Some(9),
    };
    let hex: String = encode_frame(&msg)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        hex,
        "0000004d86a474797065a770726976617465a2696482a66f726967696ec4101111111111111111\
         1111111111111111a373657107a466726f6da34c656fa2746fa3416e6ea474657874a26869a363696409"
    );
}
