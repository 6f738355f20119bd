//! The cluster key against a LAN attacker, on real UDP (loopback, a private
//! group per test) and on the in-memory network: forged announcements and
//! relay datagrams, bit flips, replays, wrong keys, foreign clusters, key
//! rotation. Every refusal must be counted in the seal stats. (Keyed
//! clusters chatting exactly as unkeyed ones do, under loss, is checked by
//! the keyed variants in `tests/cluster/transports.rs`.)

use crate::common;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use std::time::Duration;

use chatty::membership::messages::Heartbeat;
use chatty::net::{ClusterConfig, Transport, TransportConfig, UdpTransport};
use chatty::protocol::{ServerId, ServerMsg};
use chatty::relay::messages::{Data, WireEvent};
use chatty::relay::ChatEvent;
use chatty::seal::{ClusterKey, Keyring, SealConfig, SealStats};
use chatty::wire::envelope::{self, Kind};
use chatty::wire::{Destination, Via};
use chatty_harness::loopback::GROUP_IP;
use common::proc::{Server, Signal};
use common::{
    clustered, free_udp_port, joined, loopback_cluster, wait_for, wait_members_named, TestServer,
    DEADLINE,
};

fn key(byte: u8) -> ClusterKey {
    ClusterKey::from_bytes([byte; 32])
}

fn ring(keys: &[&ClusterKey]) -> SealConfig {
    SealConfig::new(Keyring::new(keys.iter().map(|k| (*k).clone()).collect()).unwrap())
}

fn keyed(name: &str, group_port: u16, seal: Option<SealConfig>) -> ClusterConfig {
    ClusterConfig {
        seal,
        ..loopback_cluster(name, group_port)
    }
}

async fn start(config: ClusterConfig) -> TestServer {
    TestServer::start(clustered(config)).await
}

fn seal_stats(server: &TestServer) -> SealStats {
    server.view.as_ref().expect("clustered").borrow().seal
}

/// Waits until `pred` holds for `server`'s seal stats.
async fn wait_seal(server: &TestServer, what: &str, pred: impl Fn(&SealStats) -> bool) {
    let mut view = server.view.clone().expect("clustered");
    let fut = async {
        while !pred(&view.borrow_and_update().seal) {
            view.changed().await.expect("cluster task alive");
        }
    };
    tokio::time::timeout(DEADLINE, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}: {:?}", seal_stats(server)));
}

/// A raw socket on loopback, to play the attacker.
fn attacker() -> std::net::UdpSocket {
    std::net::UdpSocket::bind("127.0.0.1:0").expect("bind attacker socket")
}

/// Another server's announcement, forged: plain, as any unkeyed server sends.
fn forged_heartbeat(cluster: &str) -> Vec<u8> {
    let hb = Heartbeat {
        web_addr: None,
        id: ServerId::random(),
        client_addr: "127.0.0.1:1".into(),
        udp_addr: "127.0.0.1:2".into(),
        heartbeat: 1,
    };
    envelope::seal(Kind::Heartbeat, cluster, &hb).unwrap()
}

#[tokio::test]
async fn forged_announcements_are_refused_and_counted() {
    let port = free_udp_port();
    let a = key(1);
    let server = start(keyed("sec", port, Some(ring(&[&a])))).await;
    let udp = server.udp_addr.unwrap();
    let evil = attacker();
    // Plain, as an unkeyed server would send it, to unicast and to the group.
    evil.send_to(&forged_heartbeat("sec"), udp).unwrap();
    sniffer(port)
        .send(Destination::Group, &forged_heartbeat("sec"))
        .await
        .unwrap();
    // Sealed-looking, with the real key id, but no key behind it.
    let mut fake = vec![0u8; 200];
    fake[..6].copy_from_slice(b"CHTY\x01\x80");
    fake[6..10].copy_from_slice(&a.id().0);
    evil.send_to(&fake, udp).unwrap();
    // Junk.
    evil.send_to(b"hello?", udp).unwrap();
    wait_seal(&server, "refusals", |s| {
        s.unsealed >= 2 && s.bad_tag >= 1 && s.malformed >= 1
    })
    .await;
    assert!(server.members().is_empty(), "no forged member admitted");
    assert_eq!(server.view.as_ref().unwrap().borrow().drops.malformed, 0);
}

/// Chat event forged as if from a real server: accepted by an unkeyed
/// cluster (the control), refused by a keyed one.
async fn forge_relay(seal: Option<SealConfig>) -> (String, TestServer) {
    let port = free_udp_port();
    let s1 = start(keyed("sec", port, seal.clone())).await;
    let s2 = start(keyed("sec", port, seal)).await;
    let mut ann = joined(&s1, "ann").await;
    let mut watcher = joined(&s2, "watcher").await;
    wait_members_named(&s2, &["ann", "watcher"]).await;
    // s1's events so far: 1 = ann joined. Forge event 2 from s1.
    let forged = Data {
        origin: s1.id,
        events: vec![WireEvent::new(
            2,
            &ChatEvent::Message {
                from: "mallory".into(),
                text: "forged".into(),
                room: "#lobby".into(),
                cid: 0,
                action: false,
            },
        )],
    };
    let bytes = envelope::seal(Kind::RelayData, "sec", &forged).unwrap();
    attacker().send_to(&bytes, s2.udp_addr.unwrap()).unwrap();
    ann.say("genuine").await.unwrap();
    let got = wait_for(&mut watcher, "a message", |m| {
        matches!(m, ServerMsg::Message { .. })
    })
    .await;
    let ServerMsg::Message { text, .. } = got else {
        unreachable!()
    };
    // Keep ann's connection open until the message is in.
    drop(ann.say("bye").await);
    (text, s2)
}

#[tokio::test]
async fn a_forged_relay_datagram_works_without_a_key() {
    let (text, _) = forge_relay(None).await;
    assert_eq!(text, "forged", "control: without a key, forgery succeeds");
}

#[tokio::test]
async fn a_forged_relay_datagram_is_refused_with_a_key() {
    let (text, s2) = forge_relay(Some(ring(&[&key(1)]))).await;
    assert_eq!(text, "genuine");
    wait_seal(&s2, "the forgery counted", |s| s.unsealed >= 1).await;
}

/// Opens a sniffer on the test's group: what a LAN attacker hears.
fn sniffer(group_port: u16) -> UdpTransport {
    UdpTransport::bind(&TransportConfig {
        iface: Ipv4Addr::LOCALHOST.into(),
        iface_index: 0,
        udp_port: 0,
        group: SocketAddrV4::new(Ipv4Addr::new(239, 255, 77, 77), group_port).into(),
        multicast: true,
    })
    .expect("bind sniffer")
}

async fn capture(sniffer: &UdpTransport, from: SocketAddr) -> Vec<u8> {
    let mut buf = vec![0u8; 1500];
    let fut = async {
        loop {
            let (n, src, via) = sniffer.recv(&mut buf).await.expect("recv");
            if src == from && via == Via::Multicast {
                return buf[..n].to_vec();
            }
        }
    };
    tokio::time::timeout(DEADLINE, fut)
        .await
        .expect("captured a datagram")
}

#[tokio::test]
async fn replayed_datagrams_are_refused_and_a_ghost_stays_dead() {
    let port = free_udp_port();
    let mut seal = ring(&[&key(1)]);
    seal.max_clock_skew = Duration::from_secs(2);
    let victim = start(keyed("sec", port, Some(seal.clone()))).await;
    let observer = start(keyed("sec", port, Some(seal))).await;
    observer.wait_members("victim", |m| m == [victim.id]).await;
    let ears = sniffer(port);
    let captured = capture(&ears, victim.udp_addr.unwrap()).await;
    assert!(
        !captured.windows(3).any(|w| w == b"sec"),
        "sealed: nothing legible"
    );
    // Resent three times: at most one copy of a datagram is ever accepted.
    let before = seal_stats(&observer).replayed;
    for _ in 0..3 {
        ears.send(Destination::Unicast(observer.udp_addr.unwrap()), &captured)
            .await
            .unwrap();
    }
    wait_seal(&observer, "replays counted", |s| s.replayed >= before + 2).await;
    // ...and an operator sees them in `status`.
    let report = chatty::client::status::fetch(&observer.addr_string())
        .await
        .expect("status");
    assert!(
        report.counters["seal_replayed"] >= before + 2,
        "{:?}",
        report.counters
    );
    assert!(report.counters["seal_opened"] > 0, "{:?}", report.counters);

    // The victim dies; its captured heartbeat must not bring it back, even
    // after the observer has forgotten its session (then the stamp is stale).
    victim.crash().await;
    observer.wait_members("victim gone", |m| m.is_empty()).await;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while seal_stats(&observer).stale == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "stale never counted"
        );
        ears.send(Destination::Unicast(observer.udp_addr.unwrap()), &captured)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await; // resend pace, bounded by the deadline
    }
    assert!(observer.members().is_empty(), "no ghost");
}

#[tokio::test]
async fn a_server_started_later_is_not_fooled_by_a_dead_servers_heartbeat() {
    let port = free_udp_port();
    let seal = ring(&[&key(1)]);
    let victim = start(keyed("sec", port, Some(seal.clone()))).await;
    let ears = sniffer(port);
    let captured = capture(&ears, victim.udp_addr.unwrap()).await;
    victim.crash().await;
    // Send times have millisecond resolution, and all of this can happen
    // within one: let the clock move on, so the newcomer starts strictly
    // after the capture was sent.
    tokio::time::sleep(Duration::from_millis(20)).await;
    // A server that starts now has no replay window for the victim; the
    // capture is well within the clock-skew tolerance, yet predates it.
    let newcomer = start(keyed("sec", port, Some(seal))).await;
    ears.send(Destination::Unicast(newcomer.udp_addr.unwrap()), &captured)
        .await
        .unwrap();
    wait_seal(&newcomer, "the capture refused as stale", |s| s.stale >= 1).await;
    assert!(newcomer.members().is_empty(), "no ghost");
}

/// Waits until `a` has refused enough of `b`'s traffic to be sure, then
/// checks neither admitted the other.
async fn never_meet(a: &TestServer, b: &TestServer, what: &str, refused: fn(&SealStats) -> u64) {
    // 20 heartbeats is a full second of traffic: far past the time a real
    // member is admitted (one heartbeat).
    wait_seal(a, what, |s| refused(s) >= 20).await;
    assert!(a.members().is_empty(), "{what}: {:?}", a.members());
    assert!(b.members().is_empty(), "{what}: {:?}", b.members());
}

#[tokio::test]
async fn servers_with_different_keys_never_meet() {
    let port = free_udp_port();
    let a = start(keyed("sec", port, Some(ring(&[&key(1)])))).await;
    let b = start(keyed("sec", port, Some(ring(&[&key(2)])))).await;
    never_meet(&a, &b, "different keys", |s| s.unknown_key).await;
    assert!(seal_stats(&b).unknown_key > 0);
}

#[tokio::test]
async fn keyed_and_unkeyed_servers_never_meet() {
    let port = free_udp_port();
    let keyed_one = start(keyed("sec", port, Some(ring(&[&key(1)])))).await;
    let open_one = start(keyed("sec", port, None)).await;
    never_meet(&keyed_one, &open_one, "keyed vs unkeyed", |s| s.unsealed).await;
    wait_seal(&open_one, "sealed traffic counted", |s| {
        s.sealed_without_key >= 20
    })
    .await;
}

#[tokio::test]
async fn same_key_other_cluster_never_meet() {
    let port = free_udp_port();
    let seal = ring(&[&key(1)]);
    let a = start(keyed("red", port, Some(seal.clone()))).await;
    let b = start(keyed("blue", port, Some(seal))).await;
    never_meet(&a, &b, "foreign cluster", |s| s.foreign).await;
}

#[tokio::test]
async fn a_rolling_key_change_keeps_the_cluster_together() {
    let (old, new) = (key(1), key(2));
    let port = free_udp_port();
    // Mid-rotation: one server already seals with the new key, one still
    // with the old; both hold both.
    let a = start(keyed("sec", port, Some(ring(&[&old, &new])))).await;
    let b = start(keyed("sec", port, Some(ring(&[&new, &old])))).await;
    a.wait_members("b", |m| m == [b.id]).await;
    b.wait_members("a", |m| m == [a.id]).await;
    let mut ann = joined(&a, "ann").await;
    let mut bob = joined(&b, "bob").await;
    wait_members_named(&a, &["ann", "bob"]).await;
    ann.say("across keys").await.unwrap();
    let got = wait_for(&mut bob, "message", |m| {
        matches!(m, ServerMsg::Message { .. })
    })
    .await;
    assert!(matches!(got, ServerMsg::Message { text, .. } if text == "across keys"));
    assert_eq!(seal_stats(&a).rejected(), 0, "{:?}", seal_stats(&a));
    drop(bob.say("ok").await);
}

#[tokio::test]
async fn keys_roll_on_running_servers_without_losing_a_member() {
    let (old, new) = (key(1), key(2));
    let port = free_udp_port();
    let (tx1, rx1) = tokio::sync::watch::channel(ring(&[&old]).keyring);
    let (tx2, rx2) = tokio::sync::watch::channel(ring(&[&old]).keyring);
    let with_updates = |rx| SealConfig {
        updates: Some(rx),
        ..ring(&[&old])
    };
    let a = start(keyed("sec", port, Some(with_updates(rx1)))).await;
    let b = start(keyed("sec", port, Some(with_updates(rx2)))).await;
    a.wait_members("b", |m| m == [b.id]).await;
    b.wait_members("a", |m| m == [a.id]).await;
    let mut ann = joined(&a, "ann").await;
    let mut bob = joined(&b, "bob").await;
    wait_members_named(&a, &["ann", "bob"]).await;
    // The procedure of SECURITY.md, each step on both servers in turn, with
    // a second of traffic (20 heartbeats each way) after every change.
    for step in [vec![&old, &new], vec![&new, &old], vec![&new]] {
        for tx in [&tx1, &tx2] {
            let seen = seal_stats(&a).opened + seal_stats(&b).opened;
            tx.send(ring(&step).keyring).unwrap();
            wait_seal(&a, "traffic after the change", |_| {
                seal_stats(&a).opened + seal_stats(&b).opened >= seen + 40
            })
            .await;
        }
    }
    // Had a lost b on the way, ann would have been told: bob leaving, or a
    // new server list. Neither came before her next message.
    ann.say("after").await.unwrap();
    let got = wait_for(&mut ann, "own message back", |m| {
        matches!(
            m,
            ServerMsg::Message { .. } | ServerMsg::Left { .. } | ServerMsg::Servers { .. }
        )
    })
    .await;
    assert!(
        matches!(&got, ServerMsg::Message { text, .. } if text == "after"),
        "membership changed during the roll: {got:?}"
    );
    let got = wait_for(&mut bob, "message", |m| {
        matches!(m, ServerMsg::Message { .. })
    })
    .await;
    assert!(matches!(got, ServerMsg::Message { text, .. } if text == "after"));
    assert_eq!(seal_stats(&a).unknown_key + seal_stats(&b).unknown_key, 0);
    // Both now seal with the new key only: a server with just that key joins.
    let c = start(keyed("sec", port, Some(ring(&[&new])))).await;
    c.wait_members("a and b", |m| m.len() == 2).await;
}

/// `chatty` with `args`, never reaching the network: each case fails on a
/// flag before any socket opens.
fn chatty(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_chatty"))
        .args(args)
        .env("CHATTY_IFACE", "127.0.0.1")
        .env_remove("CHATTY_KEY_FILE")
        .env_remove("RUST_LOG")
        .output()
        .expect("run chatty")
}

#[test]
fn keygen_makes_a_usable_key_file_and_bad_files_are_refused() {
    let dir = std::env::temp_dir().join(format!("chatty-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = chatty(&["keygen"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let ring = Keyring::parse(&text).expect("keygen output is a key file");
    assert!(
        text.contains(&ring.primary().id().to_string()),
        "names the key id"
    );
    assert_ne!(
        chatty(&["keygen"]).stdout,
        text.as_bytes(),
        "fresh each time"
    );

    let cases = [
        ("empty", "# no key here\n", "holds no key"),
        ("short", "abcd\n", "line 1: a key must be 64 hex digits"),
        ("nothex", &"zz".repeat(32), "hex digits only"),
    ];
    for (name, content, want) in cases {
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        let out = chatty(&["server", "--key-file", path.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(
            err.contains("--key-file") && err.contains(want),
            "{name}: {err}"
        );
    }
    let missing = dir.join("missing");
    let out = chatty(&["server", "--key-file", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read the key file"));

    // A readable-by-all key file is used, with a warning (here the empty
    // cluster name stops the server before it opens a socket).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join("open");
        std::fs::write(&path, &text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let out = chatty(&[
            "server",
            "--key-file",
            path.to_str().unwrap(),
            "--cluster",
            "",
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("readable by other users"), "{err}");
        assert!(err.contains("--cluster must be"), "{err}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Waits for the server's next log line that contains `want`.
async fn logged(server: &mut Server, want: &str) -> String {
    let found = server.wait_stderr(want, |line| line.contains(want)).await;
    found.unwrap()
}

#[tokio::test]
async fn sighup_reloads_the_key_file_and_keeps_the_keys_if_it_is_bad() {
    let dir = std::env::temp_dir().join(format!("chatty-hup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("cluster.key");
    let (a, b) = (ClusterKey::generate(), ClusterKey::generate());
    std::fs::write(&path, format!("{}\n", a.to_hex())).unwrap();
    let mut server = common::proc::chatty()
        .env("RUST_LOG", "info")
        .loopback_server(
            SocketAddrV4::new(GROUP_IP, free_udp_port()),
            &["--key-file", path.to_str().unwrap()],
        )
        .await
        .expect("start chatty server");
    let started = logged(&mut server, "cluster traffic is sealed").await;
    assert!(started.contains(&a.id().to_string()), "{started}");

    std::fs::write(&path, "not a key\n").unwrap();
    server.signal(Signal::Hup).unwrap();
    let refused = logged(&mut server, "key file not reloaded").await;
    assert!(refused.contains("line 1"), "{refused}");

    std::fs::write(&path, format!("{}\n{}\n", b.to_hex(), a.to_hex())).unwrap();
    server.signal(Signal::Hup).unwrap();
    logged(&mut server, "key file reloaded").await;
    let replaced = logged(&mut server, "cluster keyring replaced").await;
    assert!(
        replaced.contains(&format!("{},{}", b.id(), a.id())),
        "{replaced}"
    );
    assert!(server.is_running(), "SIGHUP did not stop it");
    drop(server); // killed and reaped
    std::fs::remove_dir_all(&dir).unwrap();
}
