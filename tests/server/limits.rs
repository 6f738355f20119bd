//! Protective limits: slow readers, floods, silent peers, slow handshakes,
//! and the shutdown notice.

use crate::common;

use std::time::Duration;

use chatty::client::Client;
use chatty::protocol::{ClientMsg, ErrorCode, LeaveReason, ServerMsg};
use chatty::server::{RateLimit, ServerConfig};
use common::{
    flood_until_sloth_is_evicted, joined, wait_for, wait_for_text, Raw, TestServer, DEADLINE,
};

/// A member that stops reading is evicted once its queue is full; the others
/// see it leave as too slow and keep receiving everything. The flood is paced
/// to the watcher's reading, so only the member that does not read falls behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_read_is_disconnected() {
    let server = TestServer::start(ServerConfig {
        rate_limit: RateLimit::OFF,
        client_queue: 32,
        ..ServerConfig::default()
    })
    .await;
    let mut slow = Raw::greeted(&server).await;
    slow.send(&ClientMsg::Join {
        name: "Sloth".into(),
    })
    .await;
    flood_until_sloth_is_evicted(&server).await;
    // The slow client, once it reads, finds its connection closed.
    let reader = async { while slow.next().await.is_some() {} };
    tokio::time::timeout(DEADLINE, reader)
        .await
        .expect("slow client is closed");
    // Others carry on.
    let mut after = joined(&server, "After").await;
    after.say("business as usual").await.unwrap();
    wait_for_text(&mut after, "business as usual").await;
}

/// A burst is allowed; beyond it each excess message gets an error, and the
/// connection stays usable.
#[tokio::test]
async fn flooding_is_refused_with_an_error_per_excess_message() {
    let server = TestServer::start(ServerConfig {
        // Effectively no refill during the test: exactly the burst gets through.
        rate_limit: RateLimit {
            per_sec: 0.001,
            burst: 20,
        },
        ..ServerConfig::default()
    })
    .await;
    let mut raw = Raw::greeted(&server).await;
    // join costs one token
    raw.send(&ClientMsg::Join {
        name: "Flood".into(),
    })
    .await;
    for n in 0..40 {
        raw.send(&ClientMsg::Send {
            text: format!("m{n}"),
            cid: None,
            action: false,
            room: None,
        })
        .await;
    }
    let (mut delivered, mut refused) = (0, 0);
    while delivered + refused < 40 {
        match raw.next().await.expect("connection stays open") {
            ServerMsg::Message { .. } => delivered += 1,
            ServerMsg::Error {
                code,
                fatal: false,
                text,
                ..
            } => {
                assert_eq!(code, ErrorCode::RATE_LIMITED);
                assert!(text.contains("per second"), "{text}");
                refused += 1;
            }
            _ => {}
        }
    }
    assert_eq!((delivered, refused), (19, 21));
    // Pings are never rate limited.
    raw.send(&ClientMsg::Ping { nonce: 5 }).await;
    loop {
        if let Some(ServerMsg::Pong { nonce: 5 }) = raw.next().await {
            break;
        }
    }
}

/// A half-open peer (it never answers pings) is reaped; one that answers stays.
#[tokio::test]
async fn keepalive_reaps_silent_clients_and_keeps_live_ones() {
    let server = TestServer::start(ServerConfig {
        keepalive: Duration::from_millis(100),
        // Generous: a test client starved of CPU on a loaded machine must
        // still answer a ping in time.
        idle_timeout: Duration::from_millis(1000),
        ..ServerConfig::default()
    })
    .await;
    let mut live = joined(&server, "Live").await;
    let mut silent = Raw::greeted(&server).await;
    silent
        .send(&ClientMsg::Join {
            name: "Silent".into(),
        })
        .await;
    // Live answers pings (wait_for does) while Silent is watched, and sees it go.
    let live_task = tokio::spawn(async move {
        let left = wait_for(&mut live, "Silent times out", |m| {
            matches!(m, ServerMsg::Left { .. })
        })
        .await;
        (live, left)
    });
    // The silent peer is pinged, never answers, and is closed with an error.
    let mut pings = 0;
    loop {
        match silent.next().await {
            Some(ServerMsg::Ping { .. }) => pings += 1,
            Some(ServerMsg::Error {
                code, fatal: true, ..
            }) => {
                assert_eq!(code, ErrorCode::KEEPALIVE_TIMEOUT);
                break;
            }
            Some(_) => {}
            None => panic!("closed without a keepalive error"),
        }
    }
    assert!(pings >= 2, "pinged before being dropped ({pings})");
    silent.expect_closed().await;
    // `wait_for` answers pings, so Live survives well past the idle timeout.
    let (mut live, left) = live_task.await.unwrap();
    assert!(
        matches!(left, ServerMsg::Left { name, reason: LeaveReason::Timeout, .. } if name == "Silent")
    );
    // Watch Live for two and a half idle timeouts: it answers every ping and must not
    // be dropped (wait_for panics if the connection closes).
    let survived = tokio::time::timeout(
        Duration::from_millis(2500),
        wait_for(&mut live, "nothing (survival window)", |_| false),
    )
    .await;
    assert!(
        survived.is_err(),
        "the window ran out with Live still connected"
    );
    live.say("still alive").await.unwrap();
    wait_for_text(&mut live, "still alive").await;
}

#[tokio::test]
async fn a_connection_that_never_says_hello_is_closed() {
    let server = TestServer::start(ServerConfig {
        handshake_timeout: Duration::from_millis(200),
        ..ServerConfig::default()
    })
    .await;
    let mut raw = Raw::connect(&server).await;
    raw.expect_error(ErrorCode::HANDSHAKE_TIMEOUT, true).await;
    raw.expect_closed().await;
}

/// With the handshake and join deadlines equal (as by default, 10 s each),
/// a silent connection is always told 105, never 242 by chance.
#[tokio::test]
async fn a_silent_connection_gets_105_when_both_deadlines_fall_together() {
    let server = TestServer::start(ServerConfig {
        handshake_timeout: Duration::from_millis(150),
        join_timeout: Duration::from_millis(150),
        ..ServerConfig::default()
    })
    .await;
    let mut silent = Vec::new();
    for _ in 0..24 {
        silent.push(Raw::connect(&server).await);
    }
    for raw in &mut silent {
        raw.expect_error(ErrorCode::HANDSHAKE_TIMEOUT, true).await;
    }
}

/// Graceful shutdown: every connection, joined or not, receives the notice
/// before the server closes it, and the server stops.
#[tokio::test]
async fn shutdown_notifies_every_client() {
    let server = TestServer::unlimited().await;
    let mut members = Vec::new();
    for i in 0..5 {
        members.push(joined(&server, &format!("m{i}")).await);
    }
    let mut lurker = Client::connect(&server.addr_string()).await.unwrap();
    let addr = server.addr;
    server.shutdown().await.expect("clean stop");
    for client in members.iter_mut().chain(std::iter::once(&mut lurker)) {
        let notice = tokio::time::timeout(DEADLINE, async {
            loop {
                match client.recv().await {
                    Ok(Some(ServerMsg::Shutdown { reason, .. })) => return reason,
                    Ok(Some(_)) => {}
                    other => panic!("no shutdown notice: {other:?}"),
                }
            }
        })
        .await
        .expect("notice arrives");
        assert!(notice.contains("shutting down"), "{notice}");
        let end = tokio::time::timeout(DEADLINE, client.recv()).await.unwrap();
        assert!(matches!(end, Ok(None)), "closed after the notice: {end:?}");
    }
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}

/// An idle connection gives its read buffer back at each keepalive check;
/// what it sends afterwards — a small frame, a large one, a frame split
/// across writes, several in one write — still arrives whole.
#[tokio::test]
async fn an_idle_connection_reads_whole_frames_after_giving_its_buffer_back() {
    let server = TestServer::start(ServerConfig {
        keepalive: Duration::from_millis(20),
        idle_timeout: Duration::from_secs(30),
        rate_limit: RateLimit::OFF,
        ..ServerConfig::default()
    })
    .await;
    let mut listener = joined(&server, "Ear").await;
    let mut raw = Raw::greeted(&server).await;
    raw.send(&ClientMsg::Join {
        name: "Idle".into(),
    })
    .await;
    let texts = [
        "x".to_string(),
        "y".repeat(900),
        "z".repeat(40),
        "w".to_string(),
    ];
    for (i, text) in texts.iter().enumerate() {
        // Several keepalive checks pass in silence: the buffer goes back.
        tokio::time::sleep(Duration::from_millis(70)).await;
        let frame = chatty::protocol::encode_frame(&ClientMsg::Send {
            text: text.clone(),
            room: None,
            action: false,
            cid: None,
        });
        match i {
            // Split: the prefix and a few bytes, then the rest.
            2 => {
                raw.write(&frame[..6]).await;
                tokio::time::sleep(Duration::from_millis(70)).await;
                raw.write(&frame[6..]).await;
            }
            _ => raw.write(&frame).await,
        }
        assert_eq!(wait_for_text(&mut listener, text).await, "Idle");
    }
    // Two frames in one write after a quiet spell.
    tokio::time::sleep(Duration::from_millis(70)).await;
    let mut both = Vec::new();
    for text in ["first of two", "second of two"] {
        both.extend_from_slice(&chatty::protocol::encode_frame(&ClientMsg::Send {
            text: text.into(),
            room: None,
            action: false,
            cid: None,
        }));
    }
    raw.write(&both).await;
    wait_for_text(&mut listener, "first of two").await;
    wait_for_text(&mut listener, "second of two").await;
}
