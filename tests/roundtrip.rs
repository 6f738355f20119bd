//! Property tests for every encoder/decoder pair: client messages, framing,
//! datagram envelopes and bodies, and the naming and text rules.
//!
//! Strings range over all of Unicode, control and direction-changing
//! characters included, and over lengths inside and outside the limits:
//! decoding must give back exactly what was encoded whether or not the
//! content would pass validation, which is a separate, later step.
//! Case counts are kept modest (see `CASES`) so `cargo test` stays fast.

use std::net::SocketAddr;

use bytes::BytesMut;
use chatty::membership::messages::{Gossip, GossipEntry, Heartbeat, Leave};
use chatty::protocol::validate::{
    name_key, validate_name, validate_room, validate_text, validate_topic,
};
use chatty::protocol::{
    decode, encode_frame, ClientMsg, ErrorCode, FrameDecoder, LeaveReason, Member, MessageId,
    RateLimit, RoomInfo, RoomState, ServerId, ServerInfo, ServerMsg, StatusReport, TopicInfo,
    MAX_CLIENT_FRAME, MAX_NAME_CHARS, MAX_ROOM_CHARS, MAX_TEXT_BYTES, MAX_TOPIC_BYTES,
};
use chatty::relay::messages::{
    Data, Nack, Snapshot, SnapshotMember, Status, SyncRequest, TopicEntry, WireEvent,
};
use chatty::relay::ChatEvent;
use chatty::wire::envelope::{self, EnvelopeError, Kind, MAX_CLUSTER_NAME, MAX_ENVELOPE};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio_util::codec::Decoder;

const CASES: u32 = 128;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        // Shrunk failures are printed; nothing is written next to the tests.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Any string of up to `max` characters, biased toward the characters the
/// rules care about: ASCII, controls (C0, C1), format/bidi, and the rest.
fn text(max: usize) -> impl Strategy<Value = String> + Clone {
    let ch = prop_oneof![
        4 => proptest::char::range(' ', '~'),
        1 => proptest::char::range('\0', '\u{1f}'),
        1 => proptest::char::range('\u{7f}', '\u{9f}'),
        1 => proptest::sample::select(vec![
            '\u{200b}', '\u{200e}', '\u{202e}', '\u{2066}', '\u{feff}', '\u{00ad}', ' ', '\t'
        ]),
        2 => any::<char>(),
    ];
    vec(ch, 0..=max).prop_map(|chars| chars.into_iter().collect())
}

fn server_id() -> impl Strategy<Value = ServerId> {
    any::<[u8; 16]>().prop_map(ServerId::from_bytes)
}

fn message_id() -> impl Strategy<Value = MessageId> {
    (server_id(), any::<u64>()).prop_map(|(origin, seq)| MessageId { origin, seq })
}

fn leave_reason() -> impl Strategy<Value = LeaveReason> {
    proptest::sample::select(vec![
        LeaveReason::Leave,
        LeaveReason::Disconnected,
        LeaveReason::Timeout,
        LeaveReason::TooSlow,
        LeaveReason::ProtocolError,
        LeaveReason::Shutdown,
        LeaveReason::ServerLost,
        LeaveReason::NameConflict,
        LeaveReason::Unknown,
        LeaveReason::Other,
    ])
}

fn client_msg() -> impl Strategy<Value = ClientMsg> {
    prop_oneof![
        (any::<u16>(), text(80), vec(text(8), 0..3)).prop_map(|(version, agent, features)| {
            ClientMsg::Hello {
                version,
                agent,
                features,
            }
        }),
        text(40).prop_map(|name| ClientMsg::Join { name }),
        (text(40), vec(message_id(), 0..6)).prop_map(|(name, last_seen)| ClientMsg::Rejoin {
            name,
            last_seen,
            rooms: Vec::new(),
        }),
        (text(1100), proptest::option::of(any::<u64>())).prop_map(|(text, cid)| ClientMsg::Send {
            text,
            cid,
            action: false,
            room: None,
        }),
        (
            text(1100),
            proptest::option::of(text(60)),
            any::<bool>(),
            any::<u64>()
        )
            .prop_map(|(text, room, action, cid)| ClientMsg::Send {
                text,
                cid: Some(cid),
                action,
                room,
            }),
        (text(40), vec(message_id(), 0..6), vec(text(60), 0..4)).prop_map(
            |(name, last_seen, rooms)| ClientMsg::Rejoin {
                name,
                last_seen,
                rooms,
            }
        ),
        v2_client_msg(),
        Just(ClientMsg::Leave { text: None }),
        Just(ClientMsg::Status),
        any::<u64>().prop_map(|nonce| ClientMsg::Ping { nonce }),
        any::<u64>().prop_map(|nonce| ClientMsg::Pong { nonce }),
    ]
}

/// The requests of protocol version 2.
fn v2_client_msg() -> impl Strategy<Value = ClientMsg> {
    prop_oneof![
        text(60).prop_map(|room| ClientMsg::Enter { room }),
        (text(60), proptest::option::of(text(60)))
            .prop_map(|(room, text)| ClientMsg::Part { room, text }),
        (
            text(40),
            text(1100),
            proptest::option::of(any::<u64>()),
            any::<bool>()
        )
            .prop_map(|(to, text, cid, action)| ClientMsg::Private {
                to,
                text,
                cid,
                action
            }),
        text(40).prop_map(|name| ClientMsg::Nick { name }),
        (text(60), proptest::option::of(text(320)))
            .prop_map(|(room, text)| ClientMsg::Topic { room, text }),
        (text(60), proptest::option::of(text(40)))
            .prop_map(|(room, after)| ClientMsg::Who { room, after }),
        Just(ClientMsg::Rooms),
        text(40).prop_map(|name| ClientMsg::Whois { name }),
    ]
}

fn member() -> impl Strategy<Value = Member> {
    (text(40), server_id()).prop_map(|(name, server)| Member { name, server })
}

fn server_msg() -> impl Strategy<Value = ServerMsg> {
    let addrs = vec(text(24), 0..4);
    prop_oneof![
        (
            (any::<u16>(), server_id(), text(40), any::<u64>()),
            vec(text(8), 0..3),
            proptest::option::of((0.0f64..1e6, any::<u32>()))
        )
            .prop_map(|((version, server, agent, keepalive_ms), features, rate)| {
                ServerMsg::Hello {
                    version,
                    server,
                    agent,
                    keepalive_ms,
                    features,
                    rate: rate.map(|(per_sec, burst)| RateLimit { per_sec, burst }),
                }
            }),
        (
            server_id(),
            text(40),
            vec(member(), 0..5),
            addrs.clone(),
            vec(message_id(), 0..4)
        )
            .prop_map(
                |(server, name, members, servers, seen)| ServerMsg::Welcome {
                    web: vec![],
                    server,
                    name,
                    members,
                    servers,
                    seen,
                    room: "#lobby".into(),
                    rooms: Vec::new(),
                }
            ),
        addrs.clone().prop_map(|servers| ServerMsg::Servers {
            servers,
            web: vec![]
        }),
        (message_id(), text(40), server_id()).prop_map(|(id, name, server)| ServerMsg::Joined {
            id,
            name,
            server,
            room: "#lobby".into(),
        }),
        (message_id(), text(40), server_id(), leave_reason()).prop_map(
            |(id, name, server, reason)| ServerMsg::Left {
                id,
                name,
                server,
                reason,
                room: "#lobby".into(),
                text: None,
                quit: false,
            }
        ),
        (message_id(), text(40), text(1100)).prop_map(|(id, from, text)| ServerMsg::Message {
            id,
            from,
            text,
            action: false,
            room: "#lobby".into(),
            cid: None,
        }),
        (message_id(), text(40), text(200)).prop_map(|(id, from, text)| ServerMsg::History {
            id,
            from,
            text,
            action: false,
            room: "#lobby".into(),
            cid: None,
        }),
        (
            any::<u16>(),
            text(100),
            any::<bool>(),
            proptest::option::of(any::<u64>())
        )
            .prop_map(|(code, text, fatal, cid)| ServerMsg::Error {
                code: ErrorCode(code),
                text,
                fatal,
                cid,
            }),
        (any::<u64>(), message_id()).prop_map(|(cid, id)| ServerMsg::Ack { cid, id }),
        (
            server_id(),
            vec((server_id(), text(24), text(8), any::<u64>()), 0..4),
            vec(member(), 0..5),
            btree_map(text(40), any::<u64>(), 0..4)
        )
            .prop_map(|(id, servers, members, counters)| {
                let servers = servers
                    .into_iter()
                    .map(|(id, addr, state, last_heard_ms)| ServerInfo {
                        id,
                        addr,
                        state,
                        last_heard_ms,
                    })
                    .collect();
                ServerMsg::StatusReply(StatusReport {
                    id,
                    servers,
                    members,
                    counters,
                    rooms: Vec::new(),
                })
            }),
        v2_server_msg(),
        text(100).prop_map(|text| ServerMsg::Notice { text }),
        (text(100), addrs).prop_map(|(reason, servers)| ServerMsg::Shutdown { reason, servers }),
        any::<u64>().prop_map(|nonce| ServerMsg::Ping { nonce }),
        any::<u64>().prop_map(|nonce| ServerMsg::Pong { nonce }),
    ]
}

fn topic_info() -> impl Strategy<Value = TopicInfo> {
    (text(320), text(40), any::<u64>()).prop_map(|(text, by, at)| TopicInfo { text, by, at })
}

fn room_state() -> impl Strategy<Value = RoomState> {
    (
        text(60),
        proptest::option::of(topic_info()),
        vec(member(), 0..5),
        proptest::option::of(any::<u32>()),
    )
        .prop_map(|(room, topic, members, count)| RoomState {
            room,
            topic,
            members,
            count,
        })
}

fn room_info() -> impl Strategy<Value = RoomInfo> {
    (text(60), any::<u32>(), text(320)).prop_map(|(room, members, topic)| RoomInfo {
        room,
        members,
        topic,
    })
}

/// The frames of protocol version 2, and the version-1 frames with rooms.
fn v2_server_msg() -> impl Strategy<Value = ServerMsg> {
    prop_oneof![
        (
            server_id(),
            text(40),
            vec(member(), 0..5),
            text(60),
            vec(room_state(), 0..3)
        )
            .prop_map(|(server, name, members, room, rooms)| ServerMsg::Welcome {
                web: vec![],
                server,
                name,
                members,
                servers: Vec::new(),
                seen: Vec::new(),
                room,
                rooms,
            }),
        (
            message_id(),
            text(40),
            server_id(),
            text(60),
            leave_reason()
        )
            .prop_map(|(id, name, server, room, reason)| ServerMsg::Left {
                id,
                name,
                server,
                reason,
                quit: reason == chatty::protocol::LeaveReason::Leave,
                text: Some(room.clone()),
                room,
            }),
        (message_id(), text(40), text(1100), text(60), any::<bool>()).prop_map(
            |(id, from, text, room, action)| ServerMsg::Message {
                id,
                from,
                text,
                room,
                action,
                cid: None,
            }
        ),
        (
            message_id(),
            text(40),
            text(40),
            text(1100),
            any::<bool>(),
            any::<Option<u64>>()
        )
            .prop_map(|(id, from, to, text, action, cid)| ServerMsg::Private {
                id,
                from,
                to,
                text,
                action,
                cid,
            }),
        (message_id(), text(40), text(40), server_id()).prop_map(|(id, old, new, server)| {
            ServerMsg::Nick {
                id,
                old,
                new,
                server,
            }
        }),
        (text(60), text(320), text(40), any::<u64>())
            .prop_map(|(room, text, by, at)| ServerMsg::Topic { room, text, by, at }),
        room_state().prop_map(ServerMsg::RoomState),
        (
            text(60),
            vec(member(), 0..5),
            proptest::option::of(any::<u32>()),
            proptest::option::of(text(40)),
        )
            .prop_map(|(room, members, count, next)| ServerMsg::WhoReply {
                room,
                members,
                count,
                next,
            }),
        vec(room_info(), 0..5).prop_map(|rooms| ServerMsg::RoomsReply { rooms }),
        (text(40), server_id(), vec(text(60), 0..4)).prop_map(|(name, server, rooms)| {
            ServerMsg::WhoisReply {
                name,
                server,
                rooms,
            }
        }),
        (server_id(), vec(member(), 0..5), vec(room_info(), 0..5)).prop_map(
            |(id, members, rooms)| ServerMsg::StatusReply(StatusReport {
                id,
                servers: Vec::new(),
                members,
                counters: Default::default(),
                rooms,
            })
        ),
    ]
}

fn frame_round_trip<T>(msg: &T) -> Result<(), TestCaseError>
where
    T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let frame = encode_frame(msg);
    let len = u32::from_be_bytes(frame[..4].try_into().unwrap()) as usize;
    prop_assert_eq!(len, frame.len() - 4, "prefix must be the body length");
    let back: T = decode(&frame[4..]).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&back, msg);
    Ok(())
}

/// A stream cut at the given points (taken modulo its length).
fn chunks(stream: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
    points.push(0);
    points.push(stream.len());
    points.sort_unstable();
    points.dedup();
    points
        .windows(2)
        .map(|w| stream[w[0]..w[1]].to_vec())
        .collect()
}

fn addr_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<([u8; 4], u16)>().prop_map(|(ip, port)| SocketAddr::from((ip, port)).to_string()),
        text(30),
    ]
}

fn cluster_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => vec(proptest::char::range('a', 'z'), 0..=MAX_CLUSTER_NAME)
            .prop_map(|chars| chars.into_iter().collect()),
        1 => text(70),
    ]
}

fn chat_event() -> impl Strategy<Value = ChatEvent> {
    prop_oneof![
        text(40).prop_map(|name| ChatEvent::Joined { name }),
        (text(40), leave_reason(), proptest::option::of(text(60)))
            .prop_map(|(name, reason, text)| ChatEvent::Left { name, reason, text }),
        (text(40), text(1100), text(60), any::<u64>(), any::<bool>()).prop_map(
            |(from, text, room, cid, action)| ChatEvent::Message {
                from,
                text,
                room,
                cid,
                action,
            }
        ),
        (text(40), text(60)).prop_map(|(name, room)| ChatEvent::Entered { name, room }),
        (text(40), text(60), proptest::option::of(text(60)))
            .prop_map(|(name, room, text)| ChatEvent::Parted { name, room, text }),
        (text(40), text(40), text(1100), any::<u64>(), any::<bool>()).prop_map(
            |(from, to, text, cid, action)| ChatEvent::Private {
                from,
                to,
                text,
                cid,
                action,
            }
        ),
        (text(40), text(40)).prop_map(|(old, new)| ChatEvent::Nick { old, new }),
        (text(60), text(320), text(40), any::<u64>())
            .prop_map(|(room, text, by, at)| ChatEvent::Topic { room, text, by, at }),
        (9u8..=255).prop_map(|kind| ChatEvent::Unknown { kind }),
    ]
}

/// Seals `body`; if the encoder says it fits, it fits and opens to the same
/// value. The only other outcome is "too large" (or a bad cluster name).
fn datagram_round_trip<T>(kind: Kind, cluster: &str, body: &T) -> Result<(), TestCaseError>
where
    T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    match envelope::seal(kind, cluster, body) {
        Ok(bytes) => {
            prop_assert!(bytes.len() <= MAX_ENVELOPE);
            let env = envelope::open(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(env.kind, kind);
            prop_assert_eq!(env.cluster, cluster);
            let back: T = env.body().map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&back, body);
        }
        Err(EnvelopeError::ClusterName) => prop_assert!(cluster.len() > MAX_CLUSTER_NAME),
        Err(EnvelopeError::TooLargeToSend(n)) => prop_assert!(n > MAX_ENVELOPE),
        Err(other) => prop_assert!(false, "unexpected seal error {other}"),
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn client_messages_round_trip(msg in client_msg()) {
        frame_round_trip(&msg)?;
    }

    #[test]
    fn server_messages_round_trip(msg in server_msg()) {
        frame_round_trip(&msg)?;
    }

    #[test]
    fn frame_decoder_reassembles_any_chunking(
        msgs in vec(client_msg(), 1..8),
        cuts in vec(any::<usize>(), 0..40),
    ) {
        let stream: Vec<u8> = msgs.iter().flat_map(|m| encode_frame(m).to_vec()).collect();
        let mut decoder = FrameDecoder::new(MAX_CLIENT_FRAME);
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for chunk in chunks(&stream, &cuts) {
            buf.extend_from_slice(&chunk);
            while let Some(body) = decoder.decode(&mut buf).unwrap() {
                got.push(decode::<ClientMsg>(&body).unwrap());
            }
        }
        prop_assert!(decoder.decode_eof(&mut buf).unwrap().is_none());
        prop_assert_eq!(got, msgs);
    }

    #[test]
    fn membership_datagrams_round_trip(
        cluster in cluster_name(),
        id in server_id(),
        client_addr in addr_text(),
        udp_addr in addr_text(),
        heartbeat in any::<u64>(),
        entries in vec((server_id(), addr_text(), addr_text(), any::<u64>(), any::<u32>()), 0..30),
    ) {
        let hb = Heartbeat { web_addr: None,  id, client_addr, udp_addr, heartbeat };
        datagram_round_trip(Kind::Heartbeat, &cluster, &hb)?;
        let entries = entries
            .into_iter()
            .map(|(id, client_addr, udp_addr, heartbeat, age_ms)| GossipEntry { web_addr: None,
                id, client_addr, udp_addr, heartbeat, age_ms,
            })
            .collect();
        datagram_round_trip(Kind::Gossip, &cluster, &Gossip { from: id, entries })?;
        datagram_round_trip(Kind::Leave, &cluster, &Leave { id, heartbeat })?;
    }

    #[test]
    fn relay_datagrams_round_trip(
        cluster in cluster_name(),
        origin in server_id(),
        events in vec((any::<u64>(), chat_event()), 0..6),
        (highest, oldest, seq) in any::<(u64, u64, u64)>(),
        ranges in vec(any::<(u64, u64)>(), 0..80),
        parts in vec(any::<u32>(), 0..250),
        (part, total) in any::<(u32, u32)>(),
        members in vec((text(32), vec(text(50), 0..4)), 0..30),
        topics in vec((text(50), text(300), text(32), any::<u64>(), server_id()), 0..3),
        from in any::<Option<u64>>(),
    ) {
        for (seq, event) in &events {
            let wire = WireEvent::new(*seq, event);
            prop_assert_eq!(wire.seq(), *seq);
            prop_assert_eq!(&wire.event(), event);
        }
        let events = events.iter().map(|(s, e)| WireEvent::new(*s, e)).collect();
        datagram_round_trip(Kind::RelayData, &cluster, &Data { origin, events })?;
        datagram_round_trip(Kind::RelayStatus, &cluster, &Status { origin, highest, oldest })?;
        datagram_round_trip(Kind::RelayNack, &cluster, &Nack { origin, ranges })?;
        datagram_round_trip(Kind::RelaySyncRequest, &cluster, &SyncRequest { origin, seq, parts, requester: Default::default(), resume: Default::default(), })?;
        let members = members
            .into_iter()
            .map(|(name, rooms)| SnapshotMember { name, rooms })
            .collect();
        let topics = topics
            .into_iter()
            .map(|(room, text, by, at, origin)| TopicEntry { room, text, by, at, origin })
            .collect();
        let snapshot = Snapshot { origin, seq, part, parts: total, members, from, topics };
        datagram_round_trip(Kind::RelaySnapshot, &cluster, &snapshot)?;
    }

    #[test]
    fn accepted_names_keep_the_rules(name in text(40)) {
        if validate_name(&name).is_ok() {
            let chars = name.chars().count();
            prop_assert!((1..=MAX_NAME_CHARS).contains(&chars));
            prop_assert!(!name.chars().any(char::is_control));
            for invisible in ['\u{200b}', '\u{200e}', '\u{202e}', '\u{2066}', '\u{feff}', '\u{00ad}'] {
                prop_assert!(!name.contains(invisible), "accepted {:?}", name);
            }
            prop_assert_eq!(name.trim(), name.as_str());
        }
        let key = name_key(&name);
        prop_assert_eq!(name_key(&key), key.clone(), "name_key is idempotent");
        prop_assert_eq!(name_key(&name.to_ascii_uppercase()), name_key(&name.to_ascii_lowercase()));
    }

    #[test]
    fn accepted_texts_keep_the_rules(text in text(1100)) {
        if validate_text(&text).is_ok() {
            prop_assert!(!text.is_empty() && text.len() <= MAX_TEXT_BYTES);
            prop_assert!(!text.chars().any(|c| c.is_control() && c != '\t'));
        }
    }

    #[test]
    fn accepted_rooms_keep_the_rules(room in text(60)) {
        if validate_room(&room).is_ok() {
            let chars = room.chars().count();
            prop_assert!(room.starts_with('#') && (2..=MAX_ROOM_CHARS).contains(&chars));
            prop_assert!(!room.chars().any(|c| c.is_control() || c.is_whitespace() || c == ','));
            for invisible in ['\u{200b}', '\u{200e}', '\u{202e}', '\u{2066}', '\u{feff}', '\u{00ad}'] {
                prop_assert!(!room.contains(invisible), "accepted {:?}", room);
            }
        }
        let hashed = format!("#{room}");
        prop_assert_eq!(name_key(&hashed.to_ascii_uppercase()), name_key(&hashed.to_ascii_lowercase()));
    }

    #[test]
    fn accepted_topics_keep_the_rules(topic in text(320)) {
        if validate_topic(&topic).is_ok() {
            prop_assert!(topic.len() <= MAX_TOPIC_BYTES);
            prop_assert!(!topic.chars().any(char::is_control));
        }
    }
}
