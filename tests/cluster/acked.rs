//! Acknowledged sends on the wire: feature negotiation, `ack` after the
//! echo, resends numbered once cluster-wide, rate-limit refusals that name
//! the line, the welcome watermark, and clients that know none of it.

use crate::common;

use chatty::protocol::{
    ClientMsg, ErrorCode, MessageId, RateLimit, ServerMsg, FEATURE_ACK, PROTOCOL_VERSION,
};
use chatty::server::ServerConfig;
use common::{
    clustered, free_udp_port, loopback_cluster, message_texts, wait_members_named, Raw, TestServer,
};

/// Connects and says hello asking for `features`; returns the server's hello.
async fn hello(server: &TestServer, features: &[&str]) -> (Raw, ServerMsg) {
    let mut raw = Raw::connect(server).await;
    raw.send(&ClientMsg::Hello {
        version: PROTOCOL_VERSION,
        agent: "acked-test".into(),
        features: features.iter().map(|f| f.to_string()).collect(),
    })
    .await;
    let reply = raw.next().await.expect("hello");
    (raw, reply)
}

/// A raw connection that negotiated `ack` and joined as `name`.
async fn acking(server: &TestServer, name: &str) -> Raw {
    let (mut raw, _) = hello(server, &[FEATURE_ACK]).await;
    raw.send(&ClientMsg::Join { name: name.into() }).await;
    until(
        &mut raw,
        "the own joined",
        |m| matches!(m, ServerMsg::Joined { name: n, .. } if n == name),
    )
    .await;
    raw
}

/// Reads until `pred` matches; returns everything read, the match last.
async fn until(raw: &mut Raw, what: &str, pred: impl Fn(&ServerMsg) -> bool) -> Vec<ServerMsg> {
    let mut seen = Vec::new();
    loop {
        let msg = raw
            .next()
            .await
            .unwrap_or_else(|| panic!("closed before {what}; got {seen:?}"));
        let done = pred(&msg);
        seen.push(msg);
        if done {
            return seen;
        }
    }
}

/// Sends `text` as line `cid`; returns the id its `ack` names.
async fn say_acked(raw: &mut Raw, text: &str, cid: u64) -> MessageId {
    raw.send(&send(text, Some(cid))).await;
    let got = until(raw, "the ack", |m| matches!(m, ServerMsg::Ack { .. })).await;
    match got.last() {
        Some(ServerMsg::Ack { cid: acked, id }) if *acked == cid => *id,
        other => panic!("ack of {cid}, got {other:?}"),
    }
}

/// Rejoins `server` as Leo on a new connection, as a client does after
/// failing over, and sends `resend` (cid `cid`) again, then `next`
/// (`cid + 1`). Asserts the resend is acknowledged with `original`;
/// returns what Leo got up to that ack.
async fn resend_as_leo(
    server: &TestServer,
    last_seen: Vec<MessageId>,
    (resend, next): (&str, &str),
    cid: u64,
    original: MessageId,
) -> Vec<ServerMsg> {
    let (mut leo, _) = hello(server, &[FEATURE_ACK]).await;
    leo.send(&ClientMsg::Rejoin {
        name: "Leo".into(),
        last_seen,
        rooms: Vec::new(),
    })
    .await;
    leo.send(&send(resend, Some(cid))).await;
    leo.send(&send(next, Some(cid + 1))).await;
    let got = until(
        &mut leo,
        "the ack of the resend",
        |m| matches!(m, ServerMsg::Ack { cid: c, .. } if *c == cid),
    )
    .await;
    assert_eq!(got.last(), Some(&ServerMsg::Ack { cid, id: original }));
    got
}

fn send(text: &str, cid: Option<u64>) -> ClientMsg {
    ClientMsg::Send {
        text: text.into(),
        cid,
        action: false,
        room: None,
    }
}

fn is_text(msg: &ServerMsg, want: &str) -> bool {
    matches!(msg, ServerMsg::Message { text, .. } if text == want)
}

#[tokio::test]
async fn hello_accepts_known_features_and_tells_the_rate() {
    let server = TestServer::start(ServerConfig::default()).await;
    let (_, reply) = hello(&server, &["hologram", FEATURE_ACK]).await;
    let ServerMsg::Hello { features, rate, .. } = reply else {
        panic!("{reply:?}");
    };
    assert_eq!(features, [FEATURE_ACK]);
    assert_eq!(rate, Some(RateLimit::default()));
    // A client that asks for nothing is told so, and the rate all the same.
    let (_, reply) = hello(&server, &[]).await;
    assert!(
        matches!(&reply, ServerMsg::Hello { features, rate: Some(_), .. } if features.is_empty()),
        "{reply:?}"
    );
    // No flood limit, no rate.
    let unlimited = TestServer::unlimited().await;
    let (_, reply) = hello(&unlimited, &[FEATURE_ACK]).await;
    assert!(
        matches!(&reply, ServerMsg::Hello { rate: None, .. }),
        "{reply:?}"
    );
}

#[tokio::test]
async fn an_acknowledged_line_is_echoed_first() {
    let server = TestServer::unlimited().await;
    let mut leo = acking(&server, "Leo").await;
    for cid in 1..=20u64 {
        leo.send(&send(&format!("line {cid}"), Some(cid))).await;
    }
    let mut echoed = None;
    for cid in 1..=20u64 {
        let echo = leo.next().await.unwrap();
        let ServerMsg::Message { id, text, .. } = &echo else {
            panic!("echo of {cid} first, got {echo:?}");
        };
        assert_eq!(*text, format!("line {cid}"));
        assert_eq!(leo.next().await.unwrap(), ServerMsg::Ack { cid, id: *id });
        assert!(echoed.is_none_or(|last: MessageId| last.seq < id.seq));
        echoed = Some(*id);
    }
}

#[tokio::test]
async fn a_resend_on_a_new_connection_gets_the_original_id_and_is_not_shown_again() {
    let server = TestServer::unlimited().await;
    let mut ann = acking(&server, "Ann").await;
    let mut leo = acking(&server, "Leo").await;
    let original = say_acked(&mut leo, "only once", 7).await;
    until(&mut ann, "the line", |m| is_text(m, "only once")).await;
    // Leo's connection breaks; he comes back and, not knowing whether the
    // line got through, sends it again.
    drop(leo);
    wait_members_named(&server, &["Ann"]).await;
    let got = resend_as_leo(&server, vec![], ("only once", "after"), 7, original).await;
    // Nothing about it in between but the backfilled original.
    assert_eq!(message_texts(&got), ["only once"], "{got:?}");
    let seen = until(&mut ann, "the next line", |m| is_text(m, "after")).await;
    assert_eq!(message_texts(&seen), ["after"], "not shown twice: {seen:?}");
}

/// Three servers: Leo's dies after relaying his line; he moves to another
/// and sends it again. Every survivor shows it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resend_through_another_server_is_shown_once_cluster_wide() {
    let port = free_udp_port();
    let a = TestServer::start(clustered(loopback_cluster("acked", port))).await;
    let b = TestServer::start(clustered(loopback_cluster("acked", port))).await;
    let c = TestServer::start(clustered(loopback_cluster("acked", port))).await;
    for (server, others) in [(&a, [b.id, c.id]), (&b, [a.id, c.id]), (&c, [a.id, b.id])] {
        server
            .wait_members("the others", |m| others.iter().all(|o| m.contains(o)))
            .await;
    }
    let mut ann = acking(&b, "Ann").await;
    let mut cat = acking(&c, "Cat").await;
    let mut leo = acking(&a, "Leo").await;
    for watcher in [&mut ann, &mut cat] {
        until(
            watcher,
            "Leo joined",
            |m| matches!(m, ServerMsg::Joined { name, .. } if name == "Leo"),
        )
        .await;
    }
    let original = say_acked(&mut leo, "through a", 41).await;
    for watcher in [&mut ann, &mut cat] {
        until(watcher, "the line", |m| is_text(m, "through a")).await;
    }
    drop(leo);
    a.crash().await;
    // C frees the name once it declares A dead; Leo rejoins there.
    wait_members_named(&c, &["Ann", "Cat"]).await;
    let pair = ("through a", "through c");
    resend_as_leo(&c, vec![original], pair, 41, original).await;
    for watcher in [&mut ann, &mut cat] {
        let seen = until(watcher, "the next line", |m| is_text(m, "through c")).await;
        assert_eq!(message_texts(&seen), ["through c"], "shown once: {seen:?}");
    }
}

#[tokio::test]
async fn a_rate_limited_line_is_named_in_the_refusal() {
    let server = TestServer::start(ServerConfig::default()).await;
    let mut leo = acking(&server, "Leo").await;
    // 40 lines in one write, far over the burst of 20. Each is 39 bytes,
    // then an "é" that the 40-byte quote must not cut in half.
    let line = |cid: u64| format!("{cid:02} {}é tail", "x".repeat(36));
    let mut burst = Vec::new();
    for cid in 1..=40u64 {
        burst.extend_from_slice(&chatty::protocol::encode_frame(&send(
            &line(cid),
            Some(cid),
        )));
    }
    leo.write(&burst).await;
    let got = until(&mut leo, "a refusal", |m| {
        matches!(m, ServerMsg::Error { .. })
    })
    .await;
    let Some(ServerMsg::Error {
        code,
        text,
        cid: Some(cid),
        ..
    }) = got.last()
    else {
        panic!("a refusal naming its line: {got:?}")
    };
    assert_eq!(*code, ErrorCode::RATE_LIMITED);
    assert!(*cid >= 20, "the join and 19 lines fit the burst: {cid}");
    let quoted = &line(*cid)[..39];
    assert!(
        text.ends_with(&format!("this line was dropped: \"{quoted}…\"")),
        "{text}"
    );
}

#[tokio::test]
async fn the_welcome_watermark_spares_a_rejoin_the_old_messages() {
    let server = TestServer::unlimited().await;
    let mut ann = acking(&server, "Ann").await;
    for n in 0..5 {
        ann.send(&send(&format!("old {n}"), None)).await;
    }
    let old = until(&mut ann, "the old lines", |m| is_text(m, "old 4")).await;
    let Some(ServerMsg::Message { id: newest, .. }) = old.last().cloned() else {
        unreachable!()
    };
    let (mut leo, _) = hello(&server, &[FEATURE_ACK]).await;
    leo.send(&ClientMsg::Join { name: "Leo".into() }).await;
    let Some(ServerMsg::Welcome { seen, .. }) = leo.next().await else {
        panic!("welcome")
    };
    assert_eq!(seen, [newest]);
    // Leo's connection breaks before anything new is said; he rejoins
    // with the watermark as what he has seen, and is sent nothing old.
    drop(leo);
    wait_members_named(&server, &["Ann"]).await;
    let (mut leo, _) = hello(&server, &[FEATURE_ACK]).await;
    leo.send(&ClientMsg::Rejoin {
        name: "Leo".into(),
        last_seen: seen,
        rooms: Vec::new(),
    })
    .await;
    ann.send(&send("new", None)).await;
    let got = until(&mut leo, "the new line", |m| is_text(m, "new")).await;
    assert_eq!(message_texts(&got), ["new"], "{got:?}");
}

/// A client from before acknowledged sends: no features, no cid.
#[tokio::test]
async fn an_old_client_works_as_before() {
    let server = TestServer::start(ServerConfig::default()).await;
    let mut old = Raw::greeted(&server).await;
    old.send(&ClientMsg::Join { name: "Old".into() }).await;
    // The exact bytes such a client sends: {type: "send", text: "hi"}.
    old.write_body(b"\x82\xa4type\xa4send\xa4text\xa2hi").await;
    old.send(&ClientMsg::Status).await;
    let got = until(&mut old, "status", |m| {
        matches!(m, ServerMsg::StatusReply(_))
    })
    .await;
    assert_eq!(message_texts(&got), ["hi"]);
    assert!(
        !got.iter().any(|m| matches!(m, ServerMsg::Ack { .. })),
        "{got:?}"
    );
    // Its refusals carry no cid, as before.
    for n in 0..25 {
        old.send(&send(&format!("m{n}"), None)).await;
    }
    let got = until(&mut old, "a refusal", |m| {
        matches!(m, ServerMsg::Error { .. })
    })
    .await;
    assert!(matches!(
        got.last(),
        Some(ServerMsg::Error {
            code: ErrorCode::RATE_LIMITED,
            cid: None,
            ..
        })
    ));
}
