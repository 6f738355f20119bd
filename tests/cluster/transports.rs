//! One suite, two transports: the same multi-server scenarios run over real
//! UDP on loopback and over the in-memory network (seeded loss, duplication
//! and reordering, every datagram still encoded and size-checked). Each is
//! also run with 20 % of datagrams lost, so repair is exercised for real.
//! A few run again with a cluster key, every datagram sealed.

use crate::common;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use chatty::client::Client;
use chatty::net::{ClusterConfig, Impairment, Lossy, MemoryNetwork, UdpTransport};
use chatty::protocol::{LeaveReason, ServerMsg};
use chatty::seal::{ClusterKey, Keyring, SealConfig};
use common::{
    clustered, free_udp_port, joined, loopback_cluster, wait_for, wait_members_named, TestServer,
    DEADLINE,
};

/// Which network the servers of one test share.
#[derive(Clone)]
enum Net {
    Udp {
        group_port: u16,
        loss: f64,
    },
    Memory(MemoryNetwork),
    /// Either of the above, with every datagram sealed under one key.
    Keyed(Box<Net>, SealConfig),
}

impl Net {
    fn udp(loss: f64) -> Net {
        Net::Udp {
            group_port: free_udp_port(),
            loss,
        }
    }

    fn memory(seed: u64, loss: f64) -> Net {
        Net::Memory(MemoryNetwork::new(
            seed,
            Impairment {
                loss,
                duplicate: 0.02,
                max_delay: Duration::from_millis(3),
            },
        ))
    }

    fn keyed(self) -> Net {
        let key = ClusterKey::generate();
        Net::Keyed(
            Box::new(self),
            SealConfig::new(Keyring::new(vec![key]).unwrap()),
        )
    }

    fn config(&self) -> ClusterConfig {
        match self {
            Net::Keyed(net, seal) => ClusterConfig {
                seal: Some(seal.clone()),
                ..net.config()
            },
            Net::Udp { group_port, .. } => loopback_cluster("suite", *group_port),
            Net::Memory(_) => loopback_cluster("suite", 0),
        }
    }

    /// The network without the key: where the sockets come from.
    fn base(&self) -> &Net {
        match self {
            Net::Keyed(net, _) => net.base(),
            net => net,
        }
    }

    async fn server(&self) -> TestServer {
        let config = self.config();
        match self.base() {
            Net::Udp { loss, .. } => {
                let udp = UdpTransport::bind(&config.transport).expect("bind udp");
                let lossy = Lossy::new(udp, *loss, 0.0, fastrand::u64(..));
                TestServer::start_on(clustered(config), lossy).await
            }
            Net::Memory(network) => {
                TestServer::start_on(clustered(config), network.attach(true)).await
            }
            Net::Keyed(..) => unreachable!("base() strips the key"),
        }
    }

    async fn servers(&self, n: usize) -> Vec<TestServer> {
        let mut servers = Vec::new();
        for _ in 0..n {
            servers.push(self.server().await);
        }
        for s in &servers {
            s.wait_members("membership", |m| m.len() == n - 1).await;
        }
        servers
    }
}

async fn chat_exactly_once_in_order(net: Net) {
    let servers = net.servers(3).await;
    let names = ["ann", "bob", "cat"];
    let mut clients = Vec::new();
    for (s, name) in servers.iter().zip(names) {
        clients.push(joined(s, name).await);
    }
    for s in &servers {
        wait_members_named(s, &names).await;
    }
    const PER: usize = 50;
    let (mut readers, mut writers): (Vec<_>, Vec<_>) =
        clients.into_iter().map(Client::split).unzip();
    for (i, w) in writers.iter_mut().enumerate() {
        for n in 0..PER {
            w.say(&format!("{}-{n}", names[i])).await.unwrap();
        }
    }
    for (i, r) in readers.iter_mut().enumerate() {
        let mut got: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut ids = HashSet::new();
        let collect = async {
            while got.values().map(Vec::len).sum::<usize>() < 3 * PER {
                if let ServerMsg::Message { id, from, text, .. } =
                    r.recv().await.unwrap().expect("open")
                {
                    assert!(ids.insert(id), "duplicate {id:?}");
                    let sender = names.iter().position(|n| *n == from).expect("known sender");
                    assert_eq!(
                        id.origin, servers[sender].id,
                        "the id names the origin server"
                    );
                    got.entry(from).or_default().push(text);
                }
            }
        };
        tokio::time::timeout(DEADLINE, collect)
            .await
            .unwrap_or_else(|_| panic!("{} missed messages: {got:?}", names[i]));
        for name in names {
            let expected: Vec<String> = (0..PER).map(|n| format!("{name}-{n}")).collect();
            assert_eq!(
                got[name], expected,
                "{}: {name}'s messages complete and in order",
                names[i]
            );
        }
    }
}

async fn crashed_servers_members_leave(net: Net) {
    let mut servers = net.servers(3).await;
    let _gone = joined(&servers[2], "gone").await;
    let mut watcher = joined(&servers[0], "watcher").await;
    wait_members_named(&servers[0], &["gone", "watcher"]).await;
    servers.pop().unwrap().crash().await;
    let left = wait_for(&mut watcher, "server lost", |m| {
        matches!(m, ServerMsg::Left { .. })
    })
    .await;
    assert!(
        matches!(left, ServerMsg::Left { name, reason: LeaveReason::ServerLost, .. } if name == "gone")
    );
    wait_members_named(&servers[1], &["watcher"]).await;
}

async fn late_server_syncs(net: Net) {
    let servers = net.servers(2).await;
    let mut ann = joined(&servers[0], "ann").await;
    let _bob = joined(&servers[1], "bob").await;
    wait_members_named(&servers[1], &["ann", "bob"]).await;
    let late = net.server().await;
    wait_members_named(&late, &["ann", "bob"]).await;
    let mut cat = joined(&late, "cat").await;
    ann.say("hello late").await.unwrap();
    let got = wait_for(&mut cat, "relayed message", |m| {
        matches!(m, ServerMsg::Message { .. })
    })
    .await;
    assert!(matches!(got, ServerMsg::Message { text, .. } if text == "hello late"));
    drop(servers);
}

#[tokio::test]
async fn udp_chat_exactly_once_in_order() {
    chat_exactly_once_in_order(Net::udp(0.0)).await;
}
#[tokio::test]
async fn udp_chat_exactly_once_in_order_at_20_percent_loss() {
    chat_exactly_once_in_order(Net::udp(0.2)).await;
}
#[tokio::test]
async fn memory_chat_exactly_once_in_order() {
    chat_exactly_once_in_order(Net::memory(1, 0.0)).await;
}
#[tokio::test]
async fn memory_chat_exactly_once_in_order_at_20_percent_loss() {
    chat_exactly_once_in_order(Net::memory(2, 0.2)).await;
}
#[tokio::test]
async fn udp_crashed_servers_members_leave() {
    crashed_servers_members_leave(Net::udp(0.0)).await;
}
#[tokio::test]
async fn memory_crashed_servers_members_leave() {
    crashed_servers_members_leave(Net::memory(3, 0.1)).await;
}
#[tokio::test]
async fn udp_late_server_syncs() {
    late_server_syncs(Net::udp(0.0)).await;
}
#[tokio::test]
async fn memory_late_server_syncs() {
    late_server_syncs(Net::memory(4, 0.1)).await;
}

#[tokio::test]
async fn keyed_udp_chat_exactly_once_in_order_at_20_percent_loss() {
    chat_exactly_once_in_order(Net::udp(0.2).keyed()).await;
}
#[tokio::test]
async fn keyed_memory_chat_exactly_once_in_order_at_20_percent_loss() {
    chat_exactly_once_in_order(Net::memory(5, 0.2).keyed()).await;
}
#[tokio::test]
async fn keyed_udp_crashed_servers_members_leave() {
    crashed_servers_members_leave(Net::udp(0.0).keyed()).await;
}
#[tokio::test]
async fn keyed_memory_late_server_syncs() {
    late_server_syncs(Net::memory(6, 0.1).keyed()).await;
}
