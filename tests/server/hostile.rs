//! Hostile clients: connection floods (per address and in total), slowloris
//! (connect and say nothing, say hello and never join, trickle a frame),
//! the flood and slow-reader limits while under such an attack, and
//! attempts to speak as someone else. Throughout, a bystander from another
//! address keeps chatting.
//!
//! Linux routes all of 127.0.0.0/8 to the loopback interface, so binding a
//! client socket to 127.0.0.2 makes it a different source address.

use crate::common;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use chatty::protocol::{ClientMsg, ErrorCode, ServerMsg, PROTOCOL_VERSION};
use chatty::server::{RateLimit, ServerConfig};
use common::{
    flood_until_sloth_is_evicted, joined, member_names, wait_for_text, Raw, TestServer, DEADLINE,
};
use tokio::net::TcpSocket;
use tokio::time::Instant;

const ATTACKER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const BYSTANDER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// A raw connection from `local` (any port).
async fn raw_from(server: &TestServer, local: Ipv4Addr) -> Raw {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::from((local, 0)))
        .expect("bind a loopback source address");
    Raw::from_stream(socket.connect(server.addr).await.expect("connect"))
}

async fn hello(raw: &mut Raw) {
    raw.send(&ClientMsg::Hello {
        version: PROTOCOL_VERSION,
        agent: "hostile-test".into(),
        features: Vec::new(),
    })
    .await;
    match raw.next().await {
        Some(ServerMsg::Hello { .. }) => {}
        other => panic!("expected hello, got {other:?}"),
    }
}

/// A raw connection from `local` that has joined as `name`.
async fn joined_from(server: &TestServer, local: Ipv4Addr, name: &str) -> Raw {
    let mut raw = raw_from(server, local).await;
    hello(&mut raw).await;
    raw.send(&ClientMsg::Join { name: name.into() }).await;
    match raw.next().await {
        Some(ServerMsg::Welcome { .. }) => raw,
        other => panic!("{name} expected welcome, got {other:?}"),
    }
}

/// `raw` says `text` and sees it come back from the server.
async fn chats(raw: &mut Raw, text: &str) {
    raw.send(&ClientMsg::Send {
        text: text.into(),
        cid: None,
        action: false,
        room: None,
    })
    .await;
    loop {
        match raw.next().await {
            Some(ServerMsg::Message { text: t, .. }) if t == text => return,
            Some(ServerMsg::Ping { nonce }) => raw.send(&ClientMsg::Pong { nonce }).await,
            Some(_) => {}
            None => panic!("connection closed before {text:?} came back"),
        }
    }
}

/// Keeps opening connections from `local` until one is admitted (slots are
/// freed asynchronously when sessions end), greeting it.
async fn admitted_from(server: &TestServer, local: Ipv4Addr) -> Raw {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let mut raw = raw_from(server, local).await;
        raw.send(&ClientMsg::Hello {
            version: PROTOCOL_VERSION,
            agent: "retry".into(),
            features: Vec::new(),
        })
        .await;
        match raw.next().await {
            Some(ServerMsg::Hello { .. }) => return raw,
            Some(ServerMsg::Error { code, .. })
                if code == ErrorCode::TOO_MANY_FROM_ADDRESS
                    || code == ErrorCode::TOO_MANY_CONNECTIONS => {}
            other => panic!("unexpected answer {other:?}"),
        }
        assert!(Instant::now() < deadline, "no slot was freed");
        tokio::time::sleep(Duration::from_millis(10)).await; // retry pacing, bounded by the deadline
    }
}

/// One address cannot take more than its share; other addresses and the
/// connections already admitted are unaffected, and a closed connection
/// frees its slot.
#[tokio::test]
async fn a_flood_from_one_address_hits_its_cap_and_nobody_else() {
    const CAP: usize = 8;
    let server = TestServer::start(ServerConfig {
        rate_limit: RateLimit::OFF,
        max_per_ip: CAP,
        ..ServerConfig::default()
    })
    .await;
    let mut insider = joined_from(&server, ATTACKER, "Insider").await;
    let mut holders = Vec::new();
    for _ in 1..CAP {
        let mut raw = raw_from(&server, ATTACKER).await;
        hello(&mut raw).await;
        holders.push(raw);
    }
    for _ in 0..3 * CAP {
        let mut refused = raw_from(&server, ATTACKER).await;
        let text = refused
            .expect_error(ErrorCode::TOO_MANY_FROM_ADDRESS, true)
            .await;
        assert!(text.contains(&format!("at most {CAP}")), "{text}");
        refused.expect_closed().await;
    }
    let mut bystander = joined_from(&server, BYSTANDER, "Bystander").await;
    chats(&mut bystander, "I got in from elsewhere").await;
    chats(&mut insider, "and I was never disturbed").await;
    // An operator sees the refusals in `status`.
    bystander.send(&ClientMsg::Status).await;
    let counters = loop {
        match bystander.next().await {
            Some(ServerMsg::StatusReply(report)) => break report.counters,
            Some(_) => continue,
            None => panic!("closed before the status reply"),
        }
    };
    assert_eq!(
        counters["connections_refused_per_address_cap"],
        3 * CAP as u64
    );
    assert_eq!(counters["connections_refused_total_cap"], 0);
    assert_eq!(counters["connections_open"], CAP as u64 + 1);
    // A freed slot is usable again.
    drop(holders.pop());
    let mut late = admitted_from(&server, ATTACKER).await;
    late.send(&ClientMsg::Join {
        name: "Late".into(),
    })
    .await;
    assert!(matches!(late.next().await, Some(ServerMsg::Welcome { .. })));
}

/// The total cap counts every address; the refused are told to go elsewhere.
#[tokio::test]
async fn the_total_cap_refuses_newcomers_until_a_slot_frees() {
    const CAP: usize = 4;
    let server = TestServer::start(ServerConfig {
        rate_limit: RateLimit::OFF,
        max_connections: CAP,
        max_per_ip: 0,
        ..ServerConfig::default()
    })
    .await;
    let mut members = Vec::new();
    for n in 0..CAP {
        let from = Ipv4Addr::new(127, 0, 0, 10 + n as u8);
        members.push(joined_from(&server, from, &format!("m{n}")).await);
    }
    for n in 0..CAP {
        let mut refused = raw_from(&server, Ipv4Addr::new(127, 0, 1, n as u8)).await;
        let text = refused
            .expect_error(ErrorCode::TOO_MANY_CONNECTIONS, true)
            .await;
        assert!(text.contains("another server"), "{text}");
    }
    chats(&mut members[0], "the members still chat").await;
    let gone = members.pop().unwrap();
    drop(gone);
    let _late = admitted_from(&server, Ipv4Addr::new(127, 0, 1, 99)).await;
}

/// Slowloris: connections that send one byte, or hello but never join, are
/// closed at the join deadline (not before), freeing their slots, while a
/// bystander chats throughout.
#[tokio::test]
async fn connections_that_never_join_are_reaped_at_the_join_deadline() {
    const SILENT: usize = 15;
    const GREETED: usize = 15;
    let join_timeout = Duration::from_millis(500);
    let server = TestServer::start(ServerConfig {
        rate_limit: RateLimit::OFF,
        join_timeout,
        max_per_ip: SILENT + GREETED,
        ..ServerConfig::default()
    })
    .await;
    let mut bystander = joined_from(&server, BYSTANDER, "Bystander").await;
    let started = Instant::now();
    let mut attack = Vec::new();
    for _ in 0..SILENT {
        let mut raw = raw_from(&server, ATTACKER).await;
        raw.write(&[0]).await; // the first byte of a length prefix, and nothing more
        attack.push(raw);
    }
    for _ in 0..GREETED {
        let mut raw = raw_from(&server, ATTACKER).await;
        hello(&mut raw).await;
        attack.push(raw);
    }
    // Every slot from the attacker's address is taken.
    let mut refused = raw_from(&server, ATTACKER).await;
    refused
        .expect_error(ErrorCode::TOO_MANY_FROM_ADDRESS, true)
        .await;
    chats(&mut bystander, "during the attack").await;
    for raw in &mut attack {
        let text = raw.expect_error(ErrorCode::JOIN_TIMEOUT, true).await;
        assert!(text.contains("not joined"), "{text}");
        raw.expect_closed().await;
    }
    assert!(
        started.elapsed() >= join_timeout,
        "reaped before the deadline"
    );
    chats(&mut bystander, "after the attack").await;
    // The slots are free again: an honest client from that address gets in.
    let mut honest = admitted_from(&server, ATTACKER).await;
    honest
        .send(&ClientMsg::Join {
            name: "Honest".into(),
        })
        .await;
    assert!(matches!(
        honest.next().await,
        Some(ServerMsg::Welcome { .. })
    ));
}

/// A joined client trickling a frame byte by byte never completes it, so it
/// counts as silent and is closed at the idle timeout: a partial frame
/// cannot hold a connection open.
#[tokio::test]
async fn trickling_a_frame_does_not_keep_a_connection_alive() {
    let server = TestServer::start(ServerConfig {
        rate_limit: RateLimit::OFF,
        keepalive: Duration::from_millis(100),
        idle_timeout: Duration::from_millis(400),
        ..ServerConfig::default()
    })
    .await;
    let mut trickler = joined_from(&server, ATTACKER, "Trickler").await;
    let frame = chatty::protocol::encode_frame(&ClientMsg::Send {
        text: "x".repeat(200),
        cid: None,
        action: false,
        room: None,
    });
    let started = Instant::now();
    // The attacker's pace: one byte every 20 ms, far slower than the timeout
    // allows for the whole frame. Writes may fail once the server closes.
    for byte in frame.iter().take(100) {
        if trickler.stream.try_write(&[*byte]).is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let text = trickler
        .expect_error(ErrorCode::KEEPALIVE_TIMEOUT, true)
        .await;
    assert!(text.contains("nothing heard"), "{text}");
    trickler.expect_closed().await;
    assert!(started.elapsed() >= Duration::from_millis(400));
    // (A bystander that joined earlier would have to answer pings at this
    // keepalive; one joining now shows the server is unaffected.)
    let mut bystander = joined_from(&server, BYSTANDER, "Bystander").await;
    chats(&mut bystander, "the trickler is gone").await;
}

/// While slowloris connections hold slots, the flood limit still refuses
/// exactly the excess of a flooding member.
#[tokio::test]
async fn the_flood_limit_holds_during_a_slowloris_attack() {
    let server = TestServer::start(ServerConfig {
        // Effectively no refill during the test: exactly the burst gets through.
        rate_limit: RateLimit {
            per_sec: 0.001,
            burst: 20,
        },
        max_per_ip: 0,
        ..ServerConfig::default()
    })
    .await;
    let _attack = slowloris(&server, 40).await;
    let mut bystander = joined_from(&server, BYSTANDER, "Bystander").await;
    let mut flooder = joined_from(&server, ATTACKER, "Flood").await; // join took a token
    for n in 0..40 {
        flooder
            .send(&ClientMsg::Send {
                text: format!("m{n}"),
                cid: None,
                action: false,
                room: None,
            })
            .await;
    }
    let (mut delivered, mut refused) = (0, 0);
    while delivered + refused < 40 {
        match flooder.next().await.expect("the flooder stays connected") {
            ServerMsg::Message { .. } => delivered += 1,
            ServerMsg::Error {
                code, fatal: false, ..
            } => {
                assert_eq!(code, ErrorCode::RATE_LIMITED);
                refused += 1;
            }
            _ => {}
        }
    }
    assert_eq!((delivered, refused), (19, 21));
    chats(&mut bystander, "unbothered").await;
}

/// While slowloris connections hold slots, a member that stops reading is
/// still evicted as too slow and everyone else keeps receiving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_readers_are_evicted_during_a_slowloris_attack() {
    let server = TestServer::start(ServerConfig {
        rate_limit: RateLimit::OFF,
        client_queue: 32,
        max_per_ip: 0,
        ..ServerConfig::default()
    })
    .await;
    let _attack = slowloris(&server, 40).await;
    let _sloth = joined_from(&server, ATTACKER, "Sloth").await; // never reads
    flood_until_sloth_is_evicted(&server).await;
}

/// Slowloris connections that have said hello and then nothing, from
/// 127.0.0.3 (the tests' other clients are elsewhere). The default join
/// deadline (10 s) outlives these tests.
async fn slowloris(server: &TestServer, n: usize) -> Vec<Raw> {
    let mut conns = Vec::new();
    for _ in 0..n {
        let mut raw = raw_from(server, Ipv4Addr::new(127, 0, 0, 3)).await;
        hello(&mut raw).await;
        conns.push(raw);
    }
    conns
}

/// A session's text is always attributed to its joined name: extra fields
/// in `send` are ignored, server-only message types are refused, and a held
/// name cannot be taken by join, rejoin, case or invisible characters.
#[tokio::test]
async fn nobody_can_send_as_someone_else() {
    let server = TestServer::unlimited().await;
    let mut alice = joined(&server, "Alice").await;
    let mut mallory = Raw::greeted(&server).await;
    mallory
        .send(&ClientMsg::Join {
            name: "Mallory".into(),
        })
        .await;
    assert!(matches!(
        mallory.next().await,
        Some(ServerMsg::Welcome { .. })
    ));

    // `send` with every field a message carries, claiming to be Alice.
    let spoof = rmpv::Value::Map(vec![
        ("type".into(), "send".into()),
        ("text".into(), "I am Alice".into()),
        ("from".into(), "Alice".into()),
        ("name".into(), "Alice".into()),
        ("server".into(), rmpv::Value::Binary(vec![0; 16])),
    ]);
    let mut body = Vec::new();
    rmpv::encode::write_value(&mut body, &spoof).unwrap();
    mallory.write_body(&body).await;
    assert_eq!(wait_for_text(&mut alice, "I am Alice").await, "Mallory");

    // Impersonating the name itself.
    let mut eve = Raw::greeted(&server).await;
    for name in ["Alice", "alice", "ALICE"] {
        eve.send(&ClientMsg::Join { name: name.into() }).await;
        eve.expect_error(ErrorCode::NAME_TAKEN, false).await;
        eve.send(&ClientMsg::Rejoin {
            name: name.into(),
            last_seen: Vec::new(),
            rooms: Vec::new(),
        })
        .await;
        eve.expect_error(ErrorCode::NAME_TAKEN, false).await;
    }
    eve.send(&ClientMsg::Join {
        name: "Alice\u{200b}".into(),
    })
    .await;
    eve.expect_error(ErrorCode::NAME_INVALID, false).await;

    // A server-to-client `message` frame sent by a client is not a request.
    let forged = rmpv::Value::Map(vec![
        ("type".into(), "message".into()),
        ("from".into(), "Alice".into()),
        ("text".into(), "forged".into()),
    ]);
    let mut body = Vec::new();
    rmpv::encode::write_value(&mut body, &forged).unwrap();
    mallory.write_body(&body).await;
    mallory.expect_error(ErrorCode::BAD_FRAME, true).await;

    // Nothing else reached Alice before her own sentinel: neither the
    // forged `message` nor anything under her name.
    alice.say("sentinel").await.unwrap();
    let mut messages = Vec::new();
    let collect = async {
        loop {
            match alice.recv().await.expect("alice stays connected") {
                Some(ServerMsg::Message { from, text, .. }) => {
                    if text == "sentinel" {
                        return;
                    }
                    messages.push((from, text));
                }
                Some(_) => {}
                None => panic!("alice was disconnected"),
            }
        }
    };
    tokio::time::timeout(DEADLINE, collect)
        .await
        .expect("sentinel arrives");
    assert!(messages.is_empty(), "{messages:?}");
    let members = member_names(&server).await;
    assert_eq!(members, ["Alice"], "Mallory was closed, Eve never joined");
}
