//! Two failovers in a row: the real terminal client types on while its
//! server is SIGKILLed, and then the survivor it moved to is SIGKILLed too,
//! the moment it has taken the client in (while the client is still
//! sending again what the first server never confirmed).

use std::time::Duration;

use chatty::client::status;
use chatty::protocol::ServerId;

use crate::common;

use common::free_udp_port;
use common::proc::{drain, loopback_server, spawn, Server};
use common::typist::type_lines;
use common::watcher::{wait_cluster, wait_member, Watcher, CONVERSATION};

/// The index, among `servers`, of the one that holds Leo as its own
/// member, skipping `gone`; waits for it.
async fn leos_server(servers: &[Server], ids: &[ServerId], gone: &[usize]) -> usize {
    let deadline = tokio::time::Instant::now() + CONVERSATION;
    loop {
        for (i, server) in servers.iter().enumerate() {
            if gone.contains(&i) {
                continue;
            }
            let Ok(report) = status::fetch(&server.addr().to_string()).await else {
                continue;
            };
            if report
                .members
                .iter()
                .any(|m| m.name == "Leo" && m.server == ids[i])
            {
                return i;
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "Leo never rejoined");
        tokio::time::sleep(Duration::from_millis(20)).await; // poll, bounded by the deadline
    }
}

/// Four servers; Bob on C and Cat on D listen to Leo, a terminal client
/// on A who types `line n` every 50 ms. A is SIGKILLed after 20 lines;
/// the server Leo moves to is SIGKILLed as soon as it lists him. Every
/// listener whose server survives hears each line once, in order, and
/// Leo sees each of his own once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_line_arrives_once_in_order_through_two_failovers_in_a_row() {
    const LINES: usize = 120;
    let port = free_udp_port();
    let mut servers = Vec::new();
    for _ in 0..4 {
        servers.push(loopback_server(port, &[]).await);
    }
    let addrs: Vec<String> = servers.iter().map(|s| s.addr().to_string()).collect();
    wait_cluster(&addrs.iter().collect::<Vec<_>>()).await;
    let mut ids = Vec::new();
    for addr in &addrs {
        ids.push(status::fetch(addr).await.expect("status").id);
    }
    let mut listeners = vec![
        (2, Watcher::join(&addrs[2], "Bob", "Leo").await),
        (3, Watcher::join(&addrs[3], "Cat", "Leo").await),
    ];
    // A settled cluster: every server follows the others' streams.
    for addr in &addrs {
        for name in ["Bob", "Cat"] {
            wait_member(addr, name).await;
        }
    }
    let mut leo = spawn(&["client", &addrs[0], "--name", "Leo"]);
    leo.until("[JOIN] Leo joined the chat").await.unwrap();
    for (_, watcher) in &mut listeners {
        watcher
            .wait("Leo to join", |l, _| {
                l.first().is_some_and(|j| j == "<joined>")
            })
            .await;
    }
    let stdin = leo.take_stdin().expect("piped stdin");
    let (typist, mut written) = type_lines(stdin, LINES, |n| format!("line {n}"));
    tokio::time::timeout(CONVERSATION, written.wait_for(|n| *n >= 20))
        .await
        .expect("typing")
        .unwrap();
    servers[0].kill();
    let second = leos_server(&servers, &ids, &[0]).await;
    servers[second].kill();
    let out = drain(leo);
    let third = leos_server(&servers, &ids, &[0, second]).await;
    eprintln!("Leo went from server 0 to {second}, then to {third}");
    let want: Vec<String> = (1..=LINES).map(|n| format!("line {n}")).collect();
    for (at, watcher) in &mut listeners {
        if *at == second {
            continue; // the listener went down with its server
        }
        let all = watcher.wait("Leo to leave", |_, left| left).await;
        let heard: Vec<String> = all.into_iter().filter(|l| l != "<joined>").collect();
        assert_eq!(heard, want, "the listener on server {at}");
    }
    let _stdin = typist.await.unwrap();
    let (leo, code) = out.await.unwrap();
    assert_eq!(code, 0, "{leo:?}");
    assert!(!leo.iter().any(|l| l.starts_with("[ERROR]")), "{leo:?}");
    let reconnects = leo
        .iter()
        .filter(|l| l.starts_with("[SERVER] reconnected to "))
        .count();
    assert_eq!(reconnects, 2, "{leo:?}");
    let echoed: Vec<&String> = leo.iter().filter(|l| l.starts_with("[Leo] ")).collect();
    let want_echo: Vec<String> = want.iter().map(|l| format!("[Leo] {l}")).collect();
    assert_eq!(
        echoed,
        want_echo.iter().collect::<Vec<_>>(),
        "Leo sees each of his lines once"
    );
}
