//! The chat itself, over real TCP on loopback: join, send, leave, names, status,
//! and many clients seeing the same messages in the same order.

use crate::common;

use std::collections::HashSet;

use chatty::client::{Client, ClientError};
use chatty::protocol::{encode_frame, ClientMsg, ErrorCode, LeaveReason, ServerMsg};
use chatty::server::{RateLimit, ServerConfig};
use common::{joined, wait_for, wait_for_text, TestServer, DEADLINE};

#[tokio::test]
async fn join_send_leave_with_echo_to_sender() {
    let server = TestServer::unlimited().await;
    let mut ann = joined(&server, "Ann").await;
    wait_for(
        &mut ann,
        "own join",
        |m| matches!(m, ServerMsg::Joined { name, .. } if name == "Ann"),
    )
    .await;

    let mut leo = Client::connect(&server.addr_string()).await.unwrap();
    let welcome = leo.join("Leo").await.unwrap();
    assert_eq!(welcome.server, server.id);
    let names: Vec<_> = welcome.members.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["Ann", "Leo"], "welcome lists everyone, sorted");
    wait_for(
        &mut ann,
        "Leo's join",
        |m| matches!(m, ServerMsg::Joined { name, .. } if name == "Leo"),
    )
    .await;

    leo.say("hello").await.unwrap();
    assert_eq!(
        wait_for_text(&mut leo, "hello").await,
        "Leo",
        "sender hears itself"
    );
    assert_eq!(wait_for_text(&mut ann, "hello").await, "Leo");

    leo.leave().await.unwrap();
    let left = wait_for(&mut ann, "Leo's leave", |m| {
        matches!(m, ServerMsg::Left { .. })
    })
    .await;
    assert!(
        matches!(left, ServerMsg::Left { name, reason: LeaveReason::Leave, .. } if name == "Leo")
    );
}

#[tokio::test]
async fn leave_is_confirmed_then_the_server_closes() {
    let server = TestServer::unlimited().await;
    let mut leo = joined(&server, "Leo").await;
    leo.send_msg(&chatty::protocol::ClientMsg::Leave { text: None })
        .await
        .unwrap();
    wait_for(
        &mut leo,
        "leave confirmation",
        |m| matches!(m, ServerMsg::Left { name, reason: LeaveReason::Leave, .. } if name == "Leo"),
    )
    .await;
    let end = tokio::time::timeout(DEADLINE, leo.recv()).await.unwrap();
    assert!(
        matches!(end, Ok(None)),
        "server closes after leave: {end:?}"
    );
}

#[tokio::test]
async fn a_dropped_connection_is_shown_as_left() {
    let server = TestServer::unlimited().await;
    let mut ann = joined(&server, "Ann").await;
    let leo = joined(&server, "Leo").await;
    drop(leo);
    let left = wait_for(&mut ann, "Leo's leave", |m| {
        matches!(m, ServerMsg::Left { .. })
    })
    .await;
    assert!(
        matches!(left, ServerMsg::Left { name, reason: LeaveReason::Disconnected, .. } if name == "Leo")
    );
}

#[tokio::test]
async fn names_are_unique_and_a_refused_name_can_be_retried() {
    let server = TestServer::unlimited().await;
    let _leo = joined(&server, "Leo").await;
    let mut other = Client::connect(&server.addr_string()).await.unwrap();
    for (name, code) in [
        ("Leo", ErrorCode::NAME_TAKEN),
        ("LEO", ErrorCode::NAME_TAKEN),
        ("", ErrorCode::NAME_INVALID),
        (
            "a-name-that-is-far-too-long-for-chatty",
            ErrorCode::NAME_INVALID,
        ),
        ("bell\u{7}", ErrorCode::NAME_INVALID),
        (" padded", ErrorCode::NAME_INVALID),
    ] {
        match other.join(name).await {
            Err(ClientError::Refused {
                code: c,
                fatal: false,
                ..
            }) => assert_eq!(c, code, "{name:?}"),
            other => panic!("{name:?} should be refused, got {other:?}"),
        }
    }
    // The same connection may try again.
    let welcome = other.join("Léa").await.unwrap();
    assert_eq!(welcome.name, "Léa");
    match other.join("Again").await {
        Err(ClientError::Refused {
            code, fatal: false, ..
        }) => assert_eq!(code, ErrorCode::ALREADY_JOINED),
        r => panic!("second join must be refused: {r:?}"),
    }
}

#[tokio::test]
async fn the_name_is_free_again_after_its_holder_leaves() {
    let server = TestServer::unlimited().await;
    let leo = joined(&server, "Leo").await;
    leo.leave().await.unwrap();
    let mut again = Client::connect(&server.addr_string()).await.unwrap();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        match again.join("Leo").await {
            Ok(_) => break,
            Err(ClientError::Refused { code, .. }) if code == ErrorCode::NAME_TAKEN => {
                assert!(tokio::time::Instant::now() < deadline, "name never freed");
                tokio::task::yield_now().await;
            }
            Err(err) => panic!("{err}"),
        }
    }
}

#[tokio::test]
async fn bad_text_is_refused_but_the_connection_stays() {
    let server = TestServer::unlimited().await;
    let mut leo = joined(&server, "Leo").await;
    for text in [String::new(), "x".repeat(1001), "esc\u{1b}[2J".to_string()] {
        leo.say(&text).await.unwrap();
        let err = wait_for(&mut leo, "text error", |m| {
            matches!(m, ServerMsg::Error { .. })
        })
        .await;
        assert!(
            matches!(
                err,
                ServerMsg::Error {
                    code: ErrorCode::TEXT_INVALID,
                    fatal: false,
                    ..
                }
            ),
            "{err:?}"
        );
    }
    let max = "é".repeat(500); // exactly 1,000 bytes
    leo.say(&max).await.unwrap();
    wait_for_text(&mut leo, &max).await;
}

#[tokio::test]
async fn status_lists_this_server_and_members() {
    let server = TestServer::unlimited().await;
    let _b = joined(&server, "Bob").await;
    let _a = joined(&server, "Ann").await;
    let mut probe = Client::connect(&server.addr_string()).await.unwrap();
    let report = probe.status().await.unwrap();
    assert_eq!(report.id, server.id);
    assert_eq!(report.servers.len(), 1);
    assert_eq!(report.servers[0].id, server.id);
    assert_eq!(report.servers[0].addr, server.addr_string());
    assert_eq!(report.servers[0].state, "alive");
    let names: Vec<_> = report.members.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["Ann", "Bob"]);
    assert!(report.members.iter().all(|m| m.server == server.id));
}

#[tokio::test]
async fn client_pings_are_answered() {
    let server = TestServer::unlimited().await;
    let mut leo = joined(&server, "Leo").await;
    leo.send_msg(&chatty::protocol::ClientMsg::Ping { nonce: 77 })
        .await
        .unwrap();
    wait_for(&mut leo, "pong", |m| {
        matches!(m, ServerMsg::Pong { nonce: 77 })
    })
    .await;
}

/// 200 clients, 10 of them sending 20 messages each at the same time: every
/// client receives all 200 messages exactly once, and all in the same order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_clients_see_every_message_once_in_one_order() {
    every_message_once_in_one_order(false).await;
}

/// The same with each sender's 20 lines pasted in one write: the server
/// reads them as one burst and keeps them together for the others (a
/// run), while the other senders' bursts land in between.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pasted_bursts_from_ten_senders_at_once_keep_one_order() {
    every_message_once_in_one_order(true).await;
}

async fn every_message_once_in_one_order(pasted: bool) {
    const CLIENTS: usize = 200;
    const SENDERS: usize = 10;
    const PER_SENDER: usize = 20;
    const TOTAL: usize = SENDERS * PER_SENDER;
    // All 200 come from 127.0.0.1: lift the per-address cap.
    let server = TestServer::start(ServerConfig {
        rate_limit: RateLimit::OFF,
        max_per_ip: 0,
        ..ServerConfig::default()
    })
    .await;

    let mut readers = Vec::new();
    let mut writers = Vec::new();
    for i in 0..CLIENTS {
        let client = joined(&server, &format!("user{i}")).await;
        let (reader, writer) = client.split();
        readers.push(reader);
        writers.push(writer);
    }
    // Everyone has joined before anyone sends.
    let collectors: Vec<_> = readers
        .into_iter()
        .map(|mut reader| {
            tokio::spawn(async move {
                let mut seen = Vec::with_capacity(TOTAL);
                while seen.len() < TOTAL {
                    match reader.recv().await {
                        Ok(Some(ServerMsg::Message { id, from, text, .. })) => {
                            seen.push((id, from, text))
                        }
                        Ok(Some(_)) => {}
                        other => panic!("reader ended early: {other:?}"),
                    }
                }
                seen
            })
        })
        .collect();
    // Dropping a write half would half-close that connection: keep them all.
    let idle_writers = writers.split_off(SENDERS);
    let senders: Vec<_> = writers
        .into_iter()
        .enumerate()
        .map(|(s, mut writer)| {
            tokio::spawn(async move {
                let lines = (0..PER_SENDER).map(|n| format!("s{s}-m{n}"));
                if pasted {
                    let paste: Vec<u8> = lines
                        .flat_map(|text| {
                            encode_frame(&ClientMsg::Send {
                                text,
                                room: None,
                                action: false,
                                cid: None,
                            })
                        })
                        .collect();
                    writer.send_raw(&paste).await.unwrap();
                } else {
                    for text in lines {
                        writer.say(&text).await.unwrap();
                    }
                }
                writer
            })
        })
        .collect();
    let mut keep_alive = Vec::new();
    for s in senders {
        keep_alive.push(s.await.unwrap());
    }

    let mut first: Option<Vec<_>> = None;
    let _keep = (keep_alive, idle_writers);
    for collector in collectors {
        let seen = tokio::time::timeout(DEADLINE * 3, collector)
            .await
            .expect("all delivered")
            .unwrap();
        let ids: HashSet<_> = seen.iter().map(|(id, _, _)| *id).collect();
        assert_eq!(ids.len(), TOTAL, "no duplicates");
        assert!(
            seen.windows(2).all(|w| w[0].0.seq < w[1].0.seq),
            "ids increase"
        );
        for s in 0..SENDERS {
            let from_s: Vec<_> = seen
                .iter()
                .filter(|(_, from, _)| *from == format!("user{s}"))
                .collect();
            let expected: Vec<_> = (0..PER_SENDER).map(|n| format!("s{s}-m{n}")).collect();
            let got: Vec<_> = from_s.iter().map(|(_, _, t)| t.clone()).collect();
            assert_eq!(
                got, expected,
                "each sender's messages complete and in its order"
            );
        }
        match &first {
            None => first = Some(seen),
            Some(reference) => {
                assert_eq!(&seen, reference, "every client sees the server's one order")
            }
        }
    }
}

/// A newcomer sees the last N messages (oldest first) marked as history,
/// then live traffic; history 0 shows none.
#[tokio::test]
async fn a_newcomer_sees_recent_history_then_live_messages() {
    let server = TestServer::start(chatty::server::ServerConfig {
        rate_limit: chatty::server::RateLimit::OFF,
        history_on_join: 5,
        ..Default::default()
    })
    .await;
    let mut ann = joined(&server, "Ann").await;
    for n in 0..8 {
        ann.say(&format!("m{n}")).await.unwrap();
    }
    wait_for_text(&mut ann, "m7").await;
    let mut late = Client::connect(&server.addr_string()).await.unwrap();
    late.join("Late").await.unwrap();
    let mut history = Vec::new();
    while history.len() < 5 {
        match late.recv().await.unwrap().unwrap() {
            ServerMsg::History { text, from, .. } => {
                assert_eq!(from, "Ann");
                history.push(text);
            }
            ServerMsg::Message { .. } => panic!("live traffic before the history ended"),
            _ => {}
        }
    }
    assert_eq!(history, ["m3", "m4", "m5", "m6", "m7"]);
    ann.say("live").await.unwrap();
    wait_for_text(&mut late, "live").await;

    let quiet = TestServer::start(chatty::server::ServerConfig {
        history_on_join: 0,
        ..Default::default()
    })
    .await;
    let mut a = joined(&quiet, "A").await;
    a.say("old").await.unwrap();
    wait_for_text(&mut a, "old").await;
    let mut b = joined(&quiet, "B").await;
    a.say("new").await.unwrap();
    let first = wait_for(&mut b, "first chat line", |m| {
        matches!(m, ServerMsg::History { .. } | ServerMsg::Message { .. })
    })
    .await;
    assert!(
        matches!(&first, ServerMsg::Message { text, .. } if text == "new"),
        "{first:?}"
    );
}
