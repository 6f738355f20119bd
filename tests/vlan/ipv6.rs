//! The cluster over IPv6 on the virtual LAN: servers named by interface
//! (`--iface eth0`), discovery over a link-local IPv6 multicast group
//! (ff12::), IPv6 cluster and client addresses, crash and restart, and
//! hosts that have both families: one dual-stack listener takes IPv4 and
//! IPv6 clients, and they chat across servers.

use std::time::Duration;

use chatty::protocol::{ServerId, ServerMsg};
use chatty_harness::vlan::{self, Lan};

use super::{own_ids, wait_for, wait_lists, DEADLINE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hosts_discover_each_other_over_ipv6_and_chat_on_both_families() {
    if !vlan::available("three_hosts_discover_each_other_over_ipv6_and_chat_on_both_families") {
        return;
    }
    let mut lan = Lan::new(3, env!("CARGO_BIN_EXE_chatty")).expect("build the virtual LAN");
    lan.use_ipv6();
    lan.start_all().await.unwrap();
    let all = [0, 1, 2];
    let mut ids = own_ids(&lan, &all).await;
    wait_lists(&lan, &all, &ids, DEADLINE, "every server over IPv6").await;
    let report = lan.status(0).await.unwrap();
    for server in &report.servers {
        let host = ids.iter().position(|id| *id == server.id).unwrap();
        assert_eq!(
            server.addr,
            lan.addr(host).to_string(),
            "announced by its IPv6 address"
        );
        assert!(server.addr.starts_with("[fd77:"), "{}", server.addr);
    }

    // Crash and restart: a new incarnation, seen everywhere.
    lan.kill(2);
    let old = ids[2];
    let without: Vec<ServerId> = ids.iter().copied().filter(|id| *id != old).collect();
    wait_lists(
        &lan,
        &[0, 1],
        &without,
        Duration::from_secs(5),
        "host 2 removed",
    )
    .await;
    lan.start(2).await.unwrap();
    ids[2] = lan.status(2).await.unwrap().id;
    assert_ne!(ids[2], old);
    wait_lists(
        &lan,
        &all,
        &ids,
        DEADLINE,
        "host 2 back as a new incarnation",
    )
    .await;

    // Ann reaches host 0 over IPv4, Bob host 2 over IPv6.
    let mut ann = lan.client_at(0, lan.addr4(0)).await.expect("IPv4 client");
    ann.join("Ann").await.unwrap();
    let mut bob = lan.client(2, 2).await.expect("IPv6 client");
    bob.join("Bob").await.unwrap();
    wait_for(
        &mut ann,
        "Bob's join",
        |m| matches!(m, ServerMsg::Joined { name, .. } if name == "Bob"),
    )
    .await;
    bob.say("hello from IPv6").await.unwrap();
    wait_for(
        &mut ann,
        "Bob's message",
        |m| matches!(m, ServerMsg::Message { text, .. } if text == "hello from IPv6"),
    )
    .await;
}
