//! Private messages, room lines, topics and nick changes cross the cluster
//! like every other event: with a cluster key, sealed. Two servers on
//! loopback UDP (their own multicast group port), each transport wrapped to
//! keep a copy of every datagram it sends; the PM arrives, and not one
//! datagram carries its text, the room's line, the topic or the new name in
//! the clear. Without a key the same bytes are visible (the check sees
//! plaintext when it is there).

use crate::common;

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use chatty::net::{ClusterConfig, Transport, UdpTransport};
use chatty::protocol::{ClientMsg, ServerMsg};
use chatty::seal::{ClusterKey, Keyring, SealConfig};
use chatty::wire::{Destination, Via};
use common::rooms::{enter, member, say, send};
use common::{clustered, free_udp_port, loopback_cluster, wait_for, TestServer};

/// A UDP transport that keeps a copy of what it sends.
struct Recording {
    inner: UdpTransport,
    sent: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Transport for Recording {
    async fn send(&self, to: Destination, bytes: &[u8]) -> io::Result<()> {
        self.sent.lock().unwrap().push(bytes.to_vec());
        self.inner.send(to, bytes).await
    }

    async fn recv(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr, Via)> {
        self.inner.recv(buf).await
    }

    fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr()
    }

    fn multicast(&self) -> bool {
        self.inner.multicast()
    }
}

async fn recorded(cluster: ClusterConfig) -> (TestServer, Arc<Mutex<Vec<Vec<u8>>>>) {
    let sent = Arc::new(Mutex::new(Vec::new()));
    let inner = UdpTransport::bind(&cluster.transport).expect("bind UDP");
    let transport = Recording {
        inner,
        sent: sent.clone(),
    };
    (
        TestServer::start_on(clustered(cluster), transport).await,
        sent,
    )
}

/// What crosses the cluster: a PM, a room line, a topic, a nick change.
/// Returns every datagram both servers sent meanwhile.
async fn talk(seal: Option<SealConfig>) -> Vec<Vec<u8>> {
    let cluster = ClusterConfig {
        seal,
        ..loopback_cluster("sealed", free_udp_port())
    };
    let (s1, sent1) = recorded(cluster.clone()).await;
    let (s2, sent2) = recorded(cluster).await;
    let mut ann = member(&s1, "Ann").await;
    let mut bob = member(&s2, "Bob").await;
    wait_for(
        &mut ann,
        "Bob through the cluster",
        |m| matches!(m, ServerMsg::Joined { name, .. } if name == "Bob"),
    )
    .await;
    enter(&mut ann, "#hidden-room").await;
    enter(&mut bob, "#hidden-room").await;
    wait_for(&mut ann, "Bob in the room", |m| {
        matches!(m, ServerMsg::Joined { name, room, .. } if name == "Bob" && room == "#hidden-room")
    })
    .await;

    ann.private("Bob", "pm-plaintext-marker").await.expect("PM");
    say(&mut ann, "#hidden-room", "room-plaintext-marker").await;
    send(
        &mut ann,
        ClientMsg::Topic {
            room: "#hidden-room".into(),
            text: Some("topic-plaintext-marker".into()),
        },
    )
    .await;
    send(
        &mut ann,
        ClientMsg::Nick {
            name: "NickPlaintextMarker".into(),
        },
    )
    .await;
    wait_for(
        &mut bob,
        "the PM",
        |m| matches!(m, ServerMsg::Private { text, .. } if text == "pm-plaintext-marker"),
    )
    .await;
    wait_for(
        &mut bob,
        "the nick change",
        |m| matches!(m, ServerMsg::Nick { new, .. } if new == "NickPlaintextMarker"),
    )
    .await;
    let mut all = sent1.lock().unwrap().clone();
    all.extend(sent2.lock().unwrap().iter().cloned());
    all
}

fn carries(datagrams: &[Vec<u8>], text: &str) -> bool {
    datagrams
        .iter()
        .any(|d| d.windows(text.len()).any(|w| w == text.as_bytes()))
}

const MARKERS: [&str; 5] = [
    "pm-plaintext-marker",
    "room-plaintext-marker",
    "topic-plaintext-marker",
    "NickPlaintextMarker",
    "#hidden-room",
];

#[tokio::test]
async fn with_a_cluster_key_no_event_crosses_in_the_clear() {
    let key = ClusterKey::from_bytes([7; 32]);
    let seal = SealConfig::new(Keyring::new(vec![key]).expect("one key"));
    let datagrams = talk(Some(seal)).await;
    assert!(!datagrams.is_empty());
    for marker in MARKERS {
        assert!(
            !carries(&datagrams, marker),
            "{marker:?} crossed the cluster in the clear"
        );
    }
}

#[tokio::test]
async fn without_a_key_the_check_sees_the_plaintext() {
    let datagrams = talk(None).await;
    for marker in MARKERS {
        assert!(carries(&datagrams, marker), "{marker:?} was relayed");
    }
}
