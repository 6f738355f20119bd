//! Valid inputs built with Chatty's own encoders, so the fuzzer starts from
//! real frames and datagrams instead of having to discover the formats.
//! The state-machine targets take `arbitrary` operation lists and need none.

use chatty::membership::messages::{Gossip, GossipEntry, Heartbeat, Leave};
use chatty::protocol::{
    encode_frame, ClientMsg, ErrorCode, LeaveReason, Member, MessageId, ServerInfo, ServerMsg,
    StatusReport,
};
use chatty::relay::messages::{
    Data, Nack, Snapshot, SnapshotMember, Status, SyncRequest, TopicEntry, WireEvent,
};
use chatty::relay::ChatEvent;
use chatty::wire::envelope::{seal, Kind};

use crate::datagrams::{me, peer, peer_addr, CLUSTER};
use crate::frames::{input, Reader};

/// Every client message kind, valid and at the limits.
pub fn client_messages() -> Vec<ClientMsg> {
    let id = MessageId {
        origin: peer(),
        seq: 7,
    };
    vec![
        ClientMsg::Hello {
            version: 1,
            agent: "chatty/0.1.0".into(),
            features: vec!["ack".into()],
        },
        ClientMsg::Join { name: "Leo".into() },
        ClientMsg::Join {
            name: "é".repeat(32),
        },
        ClientMsg::Rejoin {
            name: "Léa".into(),
            last_seen: vec![id, id],
            rooms: vec!["#dev".into()],
        },
        ClientMsg::Send {
            text: "hello".into(),
            cid: None,
            room: None,
            action: false,
        },
        ClientMsg::Send {
            text: "x".repeat(1000),
            cid: Some(u64::MAX),
            action: false,
            room: None,
        },
        ClientMsg::Leave { text: None },
        ClientMsg::Status,
        ClientMsg::Ping { nonce: 1 },
        ClientMsg::Pong { nonce: u64::MAX },
    ]
}

/// Every server message kind.
pub fn server_messages() -> Vec<ServerMsg> {
    let server = peer();
    let id = MessageId {
        origin: server,
        seq: 3,
    };
    let member = Member {
        name: "Leo".into(),
        server,
    };
    vec![
        ServerMsg::Hello {
            version: 1,
            server,
            agent: "chatty/0.1.0".into(),
            keepalive_ms: 5000,
            features: vec!["ack".into()],
            rate: Some(chatty::protocol::RateLimit::default()),
        },
        ServerMsg::Welcome {
            web: vec![],
            server,
            name: "Leo".into(),
            members: vec![member.clone()],
            servers: vec!["127.0.0.1:7878".into()],
            seen: vec![],
            room: "#lobby".into(),
            rooms: Vec::new(),
        },
        ServerMsg::Servers {
            web: vec![],
            servers: vec!["127.0.0.1:7878".into(), "127.0.0.1:7879".into()],
        },
        ServerMsg::Joined {
            id,
            name: "Leo".into(),
            server,
            room: "#lobby".into(),
        },
        ServerMsg::Left {
            id,
            name: "Leo".into(),
            server,
            reason: LeaveReason::ServerLost,
            room: "#lobby".into(),
            text: None,
            quit: false,
        },
        ServerMsg::Message {
            id,
            from: "Leo".into(),
            text: "hi \u{1b}[2J".into(),
            action: false,
            room: "#lobby".into(),
            cid: None,
        },
        ServerMsg::History {
            id,
            from: "Leo".into(),
            text: "earlier".into(),
            action: false,
            room: "#lobby".into(),
            cid: None,
        },
        ServerMsg::Error {
            code: ErrorCode::NAME_TAKEN,
            text: "taken".into(),
            fatal: false,
            cid: Some(7),
        },
        ServerMsg::Ack { cid: 7, id },
        ServerMsg::StatusReply(StatusReport {
            id: server,
            servers: vec![ServerInfo {
                id: server,
                addr: "127.0.0.1:7878".into(),
                state: "alive".into(),
                last_heard_ms: 12,
            }],
            members: vec![member],
            counters: [("seal_replayed".to_string(), 2)].into_iter().collect(),
            rooms: Vec::new(),
        }),
        ServerMsg::Notice {
            text: "3 messages lost".into(),
        },
        ServerMsg::Shutdown {
            reason: "bye".into(),
            servers: vec![],
        },
        ServerMsg::Ping { nonce: 9 },
        ServerMsg::Pong { nonce: 9 },
    ]
}

/// `client_frame` inputs: each message alone, and a whole conversation,
/// with several chunkings.
pub fn frame_streams() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let client: Vec<Vec<u8>> = client_messages()
        .iter()
        .map(|m| encode_frame(m).to_vec())
        .collect();
    let server: Vec<Vec<u8>> = server_messages()
        .iter()
        .map(|m| encode_frame(m).to_vec())
        .collect();
    for (i, frame) in client.iter().enumerate() {
        out.push(input(Reader::Server, (i % 4) as u8, i as u16, frame));
    }
    for (i, frame) in server.iter().enumerate() {
        out.push(input(Reader::Client, (i % 4) as u8, i as u16, frame));
    }
    for sel in 0..4 {
        out.push(input(Reader::Server, sel, 99, &client.concat()));
        out.push(input(Reader::Client, sel, 99, &server.concat()));
    }
    out
}

/// `datagram` inputs: every kind, as the real peers send it.
pub fn datagrams() -> Vec<Vec<u8>> {
    let peer_addr = peer_addr().to_string();
    let hb = Heartbeat {
        web_addr: None,
        id: peer(),
        client_addr: "127.0.0.1:7879".into(),
        udp_addr: peer_addr.clone(),
        heartbeat: 5,
    };
    let gossip = Gossip {
        from: peer(),
        entries: vec![GossipEntry {
            web_addr: None,
            id: peer(),
            client_addr: "127.0.0.1:7879".into(),
            udp_addr: peer_addr,
            heartbeat: 5,
            age_ms: 30,
        }],
    };
    let events = [
        ChatEvent::Joined { name: "Leo".into() },
        ChatEvent::Message {
            from: "Leo".into(),
            text: "hi".into(),
            room: "#lobby".into(),
            cid: 9,
            action: false,
        },
        ChatEvent::Entered {
            name: "Leo".into(),
            room: "#dev".into(),
        },
        ChatEvent::Private {
            from: "Leo".into(),
            to: "Léa".into(),
            text: "psst".into(),
            cid: 10,
            action: false,
        },
        ChatEvent::Topic {
            room: "#dev".into(),
            text: "releases".into(),
            by: "Leo".into(),
            at: 1_700_000_000_000,
        },
        ChatEvent::Nick {
            old: "Leo".into(),
            new: "Leonardo".into(),
        },
        ChatEvent::Left {
            name: "Leo".into(),
            reason: LeaveReason::Timeout,
            text: None,
        },
        ChatEvent::Unknown { kind: 9 },
    ];
    let data = Data {
        origin: peer(),
        events: events
            .iter()
            .enumerate()
            .map(|(i, e)| WireEvent::new(i as u64 + 1, e))
            .collect(),
    };
    let sealed = [
        seal(Kind::Heartbeat, CLUSTER, &hb),
        seal(Kind::Gossip, CLUSTER, &gossip),
        seal(
            Kind::Leave,
            CLUSTER,
            &Leave {
                id: peer(),
                heartbeat: 6,
            },
        ),
        seal(Kind::RelayData, CLUSTER, &data),
        seal(
            Kind::RelayStatus,
            CLUSTER,
            &Status {
                origin: peer(),
                highest: 4,
                oldest: 1,
            },
        ),
        seal(
            Kind::RelayNack,
            CLUSTER,
            &Nack {
                origin: me(),
                ranges: vec![(1, 1)],
            },
        ),
        seal(
            Kind::RelaySyncRequest,
            CLUSTER,
            &SyncRequest {
                origin: me(),
                seq: 0,
                parts: vec![],
                requester: Default::default(),
                resume: Default::default(),
            },
        ),
        seal(
            Kind::RelaySnapshot,
            CLUSTER,
            &Snapshot {
                origin: peer(),
                seq: 2,
                part: 0,
                parts: 1,
                members: vec![
                    SnapshotMember {
                        name: "Leo".into(),
                        rooms: vec!["#lobby".into(), "#dev".into()],
                    },
                    SnapshotMember {
                        name: "Léa".into(),
                        rooms: vec!["#lobby".into()],
                    },
                ],
                from: Some(1),
                topics: vec![TopicEntry {
                    room: "#dev".into(),
                    text: "releases".into(),
                    by: "Leo".into(),
                    at: 1_700_000_000_000,
                    origin: peer(),
                }],
            },
        ),
    ];
    sealed
        .into_iter()
        .map(|d| d.expect("seed datagrams fit"))
        .collect()
}

/// Seeds for the keyed target ([`crate::sealed`]): each datagram seed both
/// sealed with the test key (mode 0: arrives from the network) and as the
/// plaintext a keyed sender seals (mode 1).
pub fn sealed_datagrams() -> Vec<Vec<u8>> {
    let mut sender = crate::sealed::sender();
    let mut out = Vec::new();
    for plain in datagrams() {
        if let Some(sealed) = sender.seal(&plain, crate::datagrams::NOW_MS) {
            out.push([&[0u8][..], &sealed].concat());
        }
        out.push([&[1u8][..], &plain].concat());
    }
    out
}
