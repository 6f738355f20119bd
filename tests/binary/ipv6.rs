//! IPv6 without root: two servers on ::1 that find each other through
//! `--peer` (multicast has no route on the loopback interface, so the
//! group is IPv6 only to choose the family), clients on both, chat and
//! status across them. IPv6 multicast discovery is tested on the virtual
//! LAN (tests/vlan/ipv6.rs).

use crate::common;

use std::net::UdpSocket;
use std::time::Duration;

use chatty::client::{status, Connector};
use common::proc::{chatty, spawn, DEADLINE};

/// A UDP port free on ::1 right now.
fn free_v6_port() -> u16 {
    UdpSocket::bind("[::1]:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until the server at `addr` lists `n` servers.
async fn wait_servers(addr: &str, n: usize) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let seen = status::fetch_via(addr, &Connector::Plain)
            .await
            .map(|r| r.servers.len())
            .unwrap_or(0);
        if seen == n {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{addr} sees {seen} servers, not {n}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn two_servers_on_ipv6_loopback_chat_through_peers() {
    let group = format!("[ff12::7877]:{}", free_v6_port());
    let udp_a = free_v6_port().to_string();
    let start = |extra: [&str; 2]| {
        let flags = [
            "--listen",
            "[::1]:0",
            "--iface",
            "::1",
            "--no-multicast",
            "--group",
            &group,
        ];
        let flags: Vec<String> = flags.iter().chain(&extra).map(|f| f.to_string()).collect();
        async move { chatty().server(flags).await.expect("start an IPv6 server") }
    };
    let a = start(["--udp-port", &udp_a]).await;
    let peer = format!("[::1]:{udp_a}");
    let b = start(["--peer", &peer]).await;
    let (addr_a, addr_b) = (a.addr().to_string(), b.addr().to_string());
    assert!(
        a.addr().is_ipv6() && b.addr().is_ipv6(),
        "{addr_a} {addr_b}"
    );
    wait_servers(&addr_a, 2).await;
    wait_servers(&addr_b, 2).await;

    let mut ann = spawn(&["client", &addr_a, "--name", "Ann"]);
    ann.until("[JOIN] Ann joined the chat").await.unwrap();
    let mut bob = spawn(&["client", &addr_b, "--name", "Bob"]);
    ann.until("[JOIN] Bob joined the chat").await.unwrap();
    bob.write("hello over IPv6\nexit\n").await.unwrap();
    ann.until("[Bob] hello over IPv6").await.unwrap();
    assert_eq!(bob.exit_code().await.unwrap(), 0);
    let report = status::fetch_via(&addr_a, &Connector::Plain).await.unwrap();
    assert!(
        report.servers.iter().all(|s| s.addr.starts_with("[::1]:")),
        "every server announced by its IPv6 address: {:?}",
        report.servers
    );
}
