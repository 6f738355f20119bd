//! Multi-server chat over the real relay: servers on loopback, each test on
//! its own multicast group port. (Chat across servers exactly once and in
//! order is in tests/cluster/transports.rs, run over UDP and in memory.)

use crate::common;

use chatty::client::{Client, ClientError};
use chatty::protocol::{ErrorCode, LeaveReason, ServerMsg};
use common::{
    clustered, free_udp_port, joined, loopback_cluster, wait_for, wait_members_named, TestServer,
};

async fn cluster_of(n: usize) -> (Vec<TestServer>, u16) {
    let port = free_udp_port();
    let mut servers = Vec::new();
    for _ in 0..n {
        servers.push(TestServer::start(clustered(loopback_cluster("r", port))).await);
    }
    for s in &servers {
        s.wait_members("membership", |m| m.len() == n - 1).await;
    }
    (servers, port)
}

#[tokio::test]
async fn names_are_unique_across_servers() {
    let (servers, _) = cluster_of(2).await;
    let _leo = joined(&servers[0], "Leo").await;
    wait_members_named(&servers[1], &["Leo"]).await;
    let mut other = Client::connect(&servers[1].addr_string()).await.unwrap();
    match other.join("LEO").await {
        Err(ClientError::Refused {
            code, fatal: false, ..
        }) => assert_eq!(code, ErrorCode::NAME_TAKEN),
        r => panic!("a name held on another server must be refused: {r:?}"),
    }
    let welcome = other.join("Max").await.unwrap();
    let names: Vec<_> = welcome
        .members
        .iter()
        .map(|m| (m.name.as_str(), m.server))
        .collect();
    assert_eq!(
        names,
        [("Leo", servers[0].id), ("Max", servers[1].id)],
        "welcome lists the cluster"
    );
}

#[tokio::test]
async fn a_crashed_servers_members_leave_everywhere_once() {
    let (mut servers, _) = cluster_of(3).await;
    let _gone1 = joined(&servers[2], "gone1").await;
    let _gone2 = joined(&servers[2], "gone2").await;
    let mut watchers = [
        joined(&servers[0], "w0").await,
        joined(&servers[1], "w1").await,
    ];
    for s in &servers {
        wait_members_named(s, &["gone1", "gone2", "w0", "w1"]).await;
    }
    let dead = servers.pop().unwrap();
    let dead_id = dead.id;
    dead.crash().await;
    for w in watchers.iter_mut() {
        let mut left = Vec::new();
        while left.len() < 2 {
            match wait_for(w, "server lost", |m| matches!(m, ServerMsg::Left { .. })).await {
                ServerMsg::Left {
                    name,
                    reason,
                    server,
                    ..
                } => {
                    assert_eq!(reason, LeaveReason::ServerLost);
                    assert_eq!(server, dead_id);
                    left.push(name);
                }
                _ => unreachable!(),
            }
        }
        left.sort();
        assert_eq!(left, ["gone1", "gone2"]);
        // Exactly once: nothing more about them follows a fresh message.
        w.say("after").await.unwrap();
        let extra = wait_for(w, "own message", |m| {
            matches!(m, ServerMsg::Left { .. } | ServerMsg::Message { .. })
        })
        .await;
        assert!(
            matches!(extra, ServerMsg::Message { .. }),
            "no second leave: {extra:?}"
        );
    }
    for s in &servers {
        wait_members_named(s, &["w0", "w1"]).await;
    }
}

#[tokio::test]
async fn a_server_added_mid_conversation_gets_members_and_later_messages() {
    let (mut servers, port) = cluster_of(2).await;
    let mut ann = joined(&servers[0], "ann").await;
    let _bob = joined(&servers[1], "bob").await;
    wait_members_named(&servers[0], &["ann", "bob"]).await;
    ann.say("before").await.unwrap();
    let late = TestServer::start(clustered(loopback_cluster("r", port))).await;
    late.wait_members("membership", |m| m.len() == 2).await;
    wait_members_named(&late, &["ann", "bob"]).await;
    let mut cat = Client::connect(&late.addr_string()).await.unwrap();
    let welcome = cat.join("cat").await.unwrap();
    let names: Vec<_> = welcome.members.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        ["ann", "bob", "cat"],
        "state sync gave the late server the members"
    );
    ann.say("after").await.unwrap();
    let got = wait_for(&mut cat, "a later message", |m| {
        matches!(m, ServerMsg::Message { .. })
    })
    .await;
    assert!(
        matches!(got, ServerMsg::Message { text, from, .. } if text == "after" && from == "ann"),
        "the earlier message is not replayed; the later one arrives"
    );
    servers.push(late);
}

#[tokio::test]
async fn a_stopped_servers_members_leave_as_shut_down() {
    let (mut servers, _) = cluster_of(2).await;
    let _bye = joined(&servers[1], "bye").await;
    let mut w = joined(&servers[0], "w").await;
    wait_members_named(&servers[0], &["bye", "w"]).await;
    servers.pop().unwrap().shutdown().await.unwrap();
    let left = wait_for(&mut w, "leave", |m| matches!(m, ServerMsg::Left { .. })).await;
    assert!(
        matches!(left, ServerMsg::Left { name, reason: LeaveReason::Shutdown, .. } if name == "bye")
    );
}

/// History covers relayed messages too: a newcomer on one server sees what
/// was said on another.
#[tokio::test]
async fn history_includes_messages_relayed_from_other_servers() {
    let (servers, _) = cluster_of(2).await;
    let mut ann = joined(&servers[0], "ann").await;
    let mut watcher = joined(&servers[1], "watcher").await;
    wait_members_named(&servers[1], &["ann", "watcher"]).await;
    ann.say("said on server 0").await.unwrap();
    wait_for(&mut watcher, "relayed", |m| {
        matches!(m, ServerMsg::Message { .. })
    })
    .await;
    let mut late = Client::connect(&servers[1].addr_string()).await.unwrap();
    late.join("late").await.unwrap();
    let h = wait_for(&mut late, "history", |m| {
        matches!(m, ServerMsg::History { .. })
    })
    .await;
    assert!(
        matches!(h, ServerMsg::History { text, id, .. } if text == "said on server 0" && id.origin == servers[0].id)
    );
}

/// Clients learn where the other servers are: in the welcome, on every
/// change, and in the shutdown notice.
#[tokio::test]
async fn clients_are_told_the_live_servers() {
    let (mut servers, port) = cluster_of(2).await;
    let mut c = chatty::client::Client::connect(&servers[0].addr_string())
        .await
        .unwrap();
    let welcome = c.join("leo").await.unwrap();
    assert_eq!(
        welcome.servers,
        [servers[0].addr_string(), servers[1].addr_string()]
    );
    let third = TestServer::start(clustered(loopback_cluster("r", port))).await;
    let update = wait_for(
        &mut c,
        "servers update",
        |m| matches!(m, ServerMsg::Servers { servers, .. } if servers.len() == 3),
    )
    .await;
    assert!(
        matches!(update, ServerMsg::Servers { servers: s, .. } if s[0] == servers[0].addr_string())
    );
    servers.push(third);
    let first = servers.remove(0);
    let expected: Vec<String> = servers.iter().map(|s| s.addr_string()).collect();
    first.shutdown().await.unwrap();
    let notice = wait_for(&mut c, "shutdown", |m| {
        matches!(m, ServerMsg::Shutdown { .. })
    })
    .await;
    match notice {
        ServerMsg::Shutdown {
            servers: alternatives,
            ..
        } => {
            let mut got = alternatives;
            got.sort();
            let mut want = expected;
            want.sort();
            assert_eq!(got, want, "the notice names the alternatives");
        }
        _ => unreachable!(),
    }
}
