//! Room state across a server's crash and restart, and across a partition
//! and its heal: after either, every server shows the same members in the
//! same rooms and the same topics. Three servers on loopback, each test on
//! its own multicast group port; the partition cuts one server off inside
//! its own transport (it sends nothing and hears nothing), so no datagram
//! goes anywhere but loopback.

use crate::common;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chatty::client::Client;
use chatty::net::{Transport, UdpTransport};
use chatty::protocol::{ClientMsg, ServerMsg, LOBBY};
use chatty::wire::{Destination, Via};
use common::rooms::{enter, member, send, servers, wait_answer, wait_who};
use common::{clustered, free_udp_port, loopback_cluster, wait_for, TestServer};

/// A transport that can be cut off: while `cut`, nothing is sent and
/// everything received is dropped.
struct Cuttable {
    inner: UdpTransport,
    cut: Arc<AtomicBool>,
}

impl Transport for Cuttable {
    async fn send(&self, to: Destination, bytes: &[u8]) -> io::Result<()> {
        if self.cut.load(Ordering::SeqCst) {
            return Ok(());
        }
        self.inner.send(to, bytes).await
    }

    async fn recv(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr, Via)> {
        loop {
            let got = self.inner.recv(buf).await?;
            if !self.cut.load(Ordering::SeqCst) {
                return Ok(got);
            }
        }
    }

    fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr()
    }

    fn multicast(&self) -> bool {
        self.inner.multicast()
    }
}

/// Waits until every server shows `room`'s topic as `text`.
async fn wait_topic(servers: &[&TestServer], room: &str, text: &str) {
    for server in servers {
        let ask = ClientMsg::Topic {
            room: room.into(),
            text: None,
        };
        wait_answer(
            server,
            &format!("topic {text:?}"),
            ask,
            |m| matches!(m, ServerMsg::Topic { text: t, .. } if t == text),
        )
        .await;
    }
}

/// Sets `room`'s topic as `client` and returns its stamp's `at`.
async fn set_topic(client: &mut Client, room: &str, text: &str) -> u64 {
    send(
        client,
        ClientMsg::Topic {
            room: room.into(),
            text: Some(text.into()),
        },
    )
    .await;
    match wait_for(
        client,
        "own topic",
        |m| matches!(m, ServerMsg::Topic { text: t, .. } if t == text),
    )
    .await
    {
        ServerMsg::Topic { at, .. } => at,
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn room_memberships_are_right_everywhere_after_a_server_restarts() {
    let port = free_udp_port();
    let mut s = servers(3, port).await;
    let mut dan = member(&s[0], "Dan").await;
    let mut eve = member(&s[2], "Eve").await;
    enter(&mut dan, "#dev").await;
    enter(&mut dan, "#ops").await;
    enter(&mut eve, "#dev").await;
    wait_who(&s, "#dev", &["Dan", "Eve"]).await;
    let crashed = s.pop().unwrap();
    crashed.crash().await;
    drop(eve);
    wait_who(&s, "#dev", &["Dan"]).await;
    // A new incarnation, and its clients at once: Eve comes back to her
    // rooms, Fay is new.
    s.push(TestServer::start(clustered(loopback_cluster("rooms", port))).await);
    let mut eve = Client::connect(&s[2].addr_string()).await.unwrap();
    send(
        &mut eve,
        ClientMsg::Rejoin {
            name: "Eve".into(),
            last_seen: Vec::new(),
            rooms: vec!["#dev".into(), "#qa".into()],
        },
    )
    .await;
    wait_for(&mut eve, "welcome", |m| {
        matches!(m, ServerMsg::Welcome { .. })
    })
    .await;
    let mut fay = member(&s[2], "Fay").await;
    enter(&mut fay, "#ops").await;
    wait_who(&s, "#dev", &["Dan", "Eve"]).await;
    wait_who(&s, "#ops", &["Dan", "Fay"]).await;
    wait_who(&s, "#qa", &["Eve"]).await;
    wait_who(&s, LOBBY, &["Dan", "Eve", "Fay"]).await;
    // Dan, on a server that never went away, hears the new members arrive.
    wait_for(
        &mut dan,
        "Fay in #ops",
        |m| matches!(m, ServerMsg::Joined { name, room, .. } if name == "Fay" && room == "#ops"),
    )
    .await;
}

#[tokio::test]
async fn rooms_and_topics_converge_when_a_partition_heals() {
    let port = free_udp_port();
    let cut = Arc::new(AtomicBool::new(false));
    let cluster = loopback_cluster("rooms", port);
    let transport = Cuttable {
        inner: UdpTransport::bind(&cluster.transport).expect("bind"),
        cut: cut.clone(),
    };
    let west = TestServer::start_on(clustered(cluster), transport).await;
    let east = servers(2, port).await;
    let all = [&west, &east[0], &east[1]];
    let mut ann = member(&west, "Ann").await;
    let mut bob = member(&east[0], "Bob").await;
    let mut cat = member(&east[1], "Cat").await;
    for c in [&mut ann, &mut bob, &mut cat] {
        enter(c, "#dev").await;
    }
    for s in all {
        wait_who(std::slice::from_ref(s), "#dev", &["Ann", "Bob", "Cat"]).await;
    }
    cut.store(true, Ordering::SeqCst);
    wait_who(std::slice::from_ref(&west), "#dev", &["Ann"]).await;
    wait_who(&east, "#dev", &["Bob", "Cat"]).await;
    // Each side changes the room on its own.
    let ann_at = set_topic(&mut ann, "#dev", "set in the west").await;
    enter(&mut ann, "#west").await;
    let bob_at = set_topic(&mut bob, "#dev", "set in the east").await;
    send(
        &mut cat,
        ClientMsg::Part {
            room: "#dev".into(),
            text: None,
        },
    )
    .await;
    wait_who(&east, "#dev", &["Bob"]).await;
    cut.store(false, Ordering::SeqCst);
    let winner = if (ann_at, west.id) > (bob_at, east[0].id) {
        "set in the west"
    } else {
        "set in the east"
    };
    for s in all {
        let one = std::slice::from_ref(s);
        wait_who(one, "#dev", &["Ann", "Bob"]).await;
        wait_who(one, "#west", &["Ann"]).await;
    }
    wait_topic(&all, "#dev", winner).await;
}
