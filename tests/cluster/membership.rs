//! Membership over real UDP on loopback: multicast discovery, crash and
//! leave, restarts, foreign clusters, static peers. Each test uses its own
//! multicast port on 127.0.0.1, so tests run in parallel without hearing
//! each other.

use crate::common;

use std::collections::BTreeSet;

use chatty::client::Client;
use chatty::protocol::ServerId;
use common::{clustered, free_udp_port, loopback_cluster, TestServer};

async fn start_many(n: usize, name: &str, port: u16) -> Vec<TestServer> {
    let mut servers = Vec::new();
    for _ in 0..n {
        servers.push(TestServer::start(clustered(loopback_cluster(name, port))).await);
    }
    servers
}

fn ids(servers: &[TestServer]) -> BTreeSet<ServerId> {
    servers.iter().map(|s| s.id).collect()
}

/// Waits until every server lists exactly the others.
async fn converged(servers: &[TestServer]) {
    let all = ids(servers);
    for s in servers {
        let mut expected = all.clone();
        expected.remove(&s.id);
        s.wait_members("convergence", |m| {
            m.iter().copied().collect::<BTreeSet<_>>() == expected
        })
        .await;
    }
}

#[tokio::test]
async fn servers_find_each_other_by_multicast_and_status_lists_them() {
    let servers = start_many(3, "t", free_udp_port()).await;
    converged(&servers).await;
    let mut probe = Client::connect(&servers[0].addr_string()).await.unwrap();
    let report = probe.status().await.unwrap();
    assert_eq!(report.servers.len(), 3);
    for s in &servers {
        let listed = report
            .servers
            .iter()
            .find(|i| i.id == s.id)
            .expect("listed");
        assert_eq!(listed.addr, s.addr_string(), "client address, not 0.0.0.0");
        assert_eq!(listed.state, "alive");
    }
}

#[tokio::test]
async fn a_crashed_server_is_removed_and_a_stopped_one_leaves() {
    let mut servers = start_many(4, "t", free_udp_port()).await;
    converged(&servers).await;
    let crashed = servers.remove(3);
    let crashed_id = crashed.id;
    crashed.crash().await;
    for s in &servers {
        s.wait_members("crashed server removed", |m| !m.contains(&crashed_id))
            .await;
    }
    let stopped = servers.remove(2);
    let stopped_id = stopped.id;
    stopped.shutdown().await.unwrap();
    for s in &servers {
        s.wait_members("stopped server removed", |m| !m.contains(&stopped_id))
            .await;
    }
    converged(&servers).await;
}

#[tokio::test]
async fn a_server_restarted_on_its_address_replaces_the_old_one() {
    let port = free_udp_port();
    let mut servers = start_many(2, "t", port).await;
    let first = TestServer::start(clustered(loopback_cluster("t", port))).await;
    let listen = first.addr_string();
    servers.push(first);
    converged(&servers).await;
    let old = servers.pop().unwrap();
    let old_id = old.id;
    old.crash().await;
    let new = TestServer::start_at(&listen, clustered(loopback_cluster("t", port))).await;
    assert_eq!(new.addr_string(), listen, "same client address");
    assert!(new.id > old_id, "a restart sorts after its old incarnation");
    // Replacement does not wait for the failure detector, and no one ever
    // shows both incarnations.
    for s in &servers {
        s.wait_members("the new incarnation, never beside the old", |ids| {
            assert!(
                !(ids.contains(&old_id) && ids.contains(&new.id)),
                "ghost: both incarnations listed"
            );
            ids.contains(&new.id)
        })
        .await;
    }
    servers.push(new);
    converged(&servers).await;
}

#[tokio::test]
async fn clusters_with_different_names_ignore_each_other() {
    let port = free_udp_port();
    let a = start_many(2, "alpha", port).await;
    let b = start_many(2, "beta", port).await;
    converged(&a).await;
    converged(&b).await;
    // Both clusters share the group, so each has heard (and dropped) the other.
    let view = a[0].view.as_ref().unwrap();
    let fut = async {
        let mut view = view.clone();
        while view.borrow_and_update().drops.foreign == 0 {
            view.changed().await.unwrap();
        }
    };
    tokio::time::timeout(common::DEADLINE, fut)
        .await
        .expect("foreign datagrams counted");
    assert_eq!(a[0].members().len(), 1);
}

#[tokio::test]
async fn static_peers_without_multicast_converge_through_gossip() {
    let port = free_udp_port();
    let mut hub_cluster = loopback_cluster("p", port);
    hub_cluster.transport.multicast = false;
    let hub = TestServer::start(clustered(hub_cluster.clone())).await;
    let hub_udp = hub.udp_addr.unwrap();
    let mut servers = vec![hub];
    for _ in 0..3 {
        let mut c = hub_cluster.clone();
        c.peers = vec![hub_udp]; // each knows only the hub
        servers.push(TestServer::start(clustered(c)).await);
    }
    converged(&servers).await;
    // Crash a non-hub server: detected via direct unicast heartbeats.
    let gone = servers.pop().unwrap();
    let gone_id = gone.id;
    gone.crash().await;
    for s in &servers {
        s.wait_members("peer crash detected", |m| !m.contains(&gone_id))
            .await;
    }
}
