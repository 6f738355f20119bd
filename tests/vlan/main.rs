//! Fault scenarios on a virtual LAN: every server on a host of its own
//! (a network namespace), real multicast over a bridge, loss, duplication,
//! partitions and crashes (`chatty_harness::vlan`).
//!
//! Needs root, iproute2 and nftables; without them every test prints
//! `SKIPPED: <reason>` and passes. The tests of this file run in parallel,
//! each on its own LAN.

mod ipv6;
mod lossy;
mod restart_join;

use std::collections::BTreeMap;
use std::time::Duration;

use chatty::client::Client;
use chatty::protocol::{ErrorCode, LeaveReason, ServerId, ServerMsg};
use chatty_harness::vlan::{self, eventually, Lan};

/// Discovery, detection and rejoin deadline. Default timings remove a silent
/// server after 0.8 s; the rest is slack for a loaded 2-core machine.
const DEADLINE: Duration = Duration::from_secs(10);

/// A LAN of `hosts` hosts with a server on each, every server listing
/// every other, and the servers' own ids by host. `None` where the LAN
/// cannot run here: the test then says SKIPPED and passes.
async fn converged(test: &str, hosts: usize) -> Option<(Lan, Vec<ServerId>)> {
    converged_with(test, hosts, &[]).await
}

/// Like [`converged`], every server started with `flags` too (and any
/// restarted later).
async fn converged_with(test: &str, hosts: usize, flags: &[&str]) -> Option<(Lan, Vec<ServerId>)> {
    if !vlan::available(test) {
        return None;
    }
    let mut lan = Lan::new(hosts, env!("CARGO_BIN_EXE_chatty")).expect("build the virtual LAN");
    lan.set_server_flags(flags);
    lan.start_all().await.unwrap();
    let all: Vec<usize> = (0..hosts).collect();
    let ids = own_ids(&lan, &all).await;
    wait_lists(
        &lan,
        &all,
        &ids,
        DEADLINE,
        "every server to list every other",
    )
    .await;
    Some((lan, ids))
}

/// Each running server's own id, by host.
async fn own_ids(lan: &Lan, hosts: &[usize]) -> Vec<ServerId> {
    let mut ids = Vec::new();
    for &i in hosts {
        ids.push(lan.status(i).await.expect("status").id);
    }
    ids
}

/// Waits until every server in `hosts` lists exactly `want` (itself included).
async fn wait_lists(lan: &Lan, hosts: &[usize], want: &[ServerId], limit: Duration, what: &str) {
    let mut want = want.to_vec();
    want.sort();
    eventually(what, limit, || async {
        for &i in hosts {
            let seen = lan.servers_seen_by(i).await.map_err(|e| e.to_string())?;
            if seen != want {
                return Err(format!("host {i} lists {seen:?}, want {want:?}"));
            }
        }
        Ok(())
    })
    .await
}

/// Waits until every server in `hosts` lists exactly the members `want`,
/// each on the server given.
async fn wait_members(
    lan: &Lan,
    hosts: &[usize],
    want: &[(&str, ServerId)],
    limit: Duration,
    what: &str,
) {
    let want: BTreeMap<String, ServerId> = want.iter().map(|(n, s)| (n.to_string(), *s)).collect();
    eventually(what, limit, || async {
        for &i in hosts {
            let report = lan.status(i).await.map_err(|e| e.to_string())?;
            let seen: BTreeMap<String, ServerId> = report
                .members
                .into_iter()
                .map(|m| (m.name, m.server))
                .collect();
            if seen != want {
                return Err(format!("host {i} has members {seen:?}, want {want:?}"));
            }
        }
        Ok(())
    })
    .await
}

/// Reads messages until one matches `pred`; panics at the deadline.
async fn wait_for(client: &mut Client, what: &str, pred: impl Fn(&ServerMsg) -> bool) -> ServerMsg {
    chatty_harness::client::wait_for(client, what, DEADLINE, pred)
        .await
        .unwrap_or_else(|err| panic!("{err:#}"))
}

async fn joined(lan: &Lan, host: usize, name: &str) -> Client {
    let mut client = lan.client(host, host).await.expect("connect");
    client.join(name).await.expect("join");
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hosts_discover_each_other_by_multicast() {
    let Some((lan, ids)) = converged("five_hosts_discover_each_other_by_multicast", 5).await else {
        return;
    };
    let all = [0, 1, 2, 3, 4];
    for i in all {
        let report = lan.status(i).await.unwrap();
        for server in &report.servers {
            let host = ids.iter().position(|id| *id == server.id).unwrap();
            assert_eq!(
                server.addr,
                lan.addr(host).to_string(),
                "host {i} knows host {host} by its own address"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_is_removed_everywhere_and_rejoins_after_restart() {
    let Some((mut lan, mut ids)) = converged(
        "a_killed_server_is_removed_everywhere_and_rejoins_after_restart",
        5,
    )
    .await
    else {
        return;
    };
    let all = [0, 1, 2, 3, 4];

    lan.kill(2);
    let old = ids[2];
    let survivors = [0, 1, 3, 4];
    let without: Vec<ServerId> = ids.iter().copied().filter(|id| *id != old).collect();
    wait_lists(
        &lan,
        &survivors,
        &without,
        Duration::from_secs(5),
        "the killed server to be removed on all others",
    )
    .await;

    lan.start(2).await.unwrap();
    ids[2] = lan.status(2).await.unwrap().id;
    assert_ne!(ids[2], old, "a restarted server is a new incarnation");
    wait_lists(
        &lan,
        &all,
        &ids,
        DEADLINE,
        "the restarted server everywhere",
    )
    .await;
    // No ghost: the old incarnation must not come back while the lists are
    // watched for a while (heartbeats every 50 ms; 2 s is 40 rounds).
    let watch_until = tokio::time::Instant::now() + Duration::from_secs(2);
    let mut want = ids.clone();
    want.sort();
    while tokio::time::Instant::now() < watch_until {
        for i in all {
            assert_eq!(lan.servers_seen_by(i).await.unwrap(), want, "host {i}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_splits_the_lists_and_healing_merges_them() {
    let Some((mut lan, ids)) =
        converged("a_partition_splits_the_lists_and_healing_merges_them", 5).await
    else {
        return;
    };
    let all = [0, 1, 2, 3, 4];
    let (side_a, side_b) = ([0, 1], [2, 3, 4]);
    // One observer on each side's first host.
    let mut ann = joined(&lan, 0, "Ann").await;
    let mut bea = joined(&lan, 2, "Bea").await;
    let both = [("Ann", ids[0]), ("Bea", ids[2])];
    wait_members(&lan, &all, &both, DEADLINE, "Ann and Bea everywhere").await;

    lan.partition(&[&side_a, &side_b]).unwrap();
    wait_lists(&lan, &side_a, &ids[0..2], DEADLINE, "side A alone").await;
    wait_lists(&lan, &side_b, &ids[2..5], DEADLINE, "side B alone").await;
    wait_members(&lan, &side_a, &[("Ann", ids[0])], DEADLINE, "Bea gone on A").await;
    wait_members(&lan, &side_b, &[("Bea", ids[2])], DEADLINE, "Ann gone on B").await;

    // The same name on both sides while they cannot hear each other.
    let mut leo_a = joined(&lan, 0, "Leo").await;
    let mut leo_b = joined(&lan, 2, "Leo").await;
    let (winner, loser_host) = if ids[0] < ids[2] {
        (ids[0], 2)
    } else {
        (ids[2], 0)
    };

    lan.heal().unwrap();
    wait_lists(&lan, &all, &ids, DEADLINE, "the lists to merge").await;
    let merged = [("Ann", ids[0]), ("Bea", ids[2]), ("Leo", winner)];
    wait_members(&lan, &all, &merged, DEADLINE, "the member lists to merge").await;

    // The loser, and only the loser, is told with a non-fatal 211.
    let (loser, winner_client, loser_peer) = if loser_host == 0 {
        (&mut leo_a, &mut leo_b, &mut ann)
    } else {
        (&mut leo_b, &mut leo_a, &mut bea)
    };
    match wait_for(loser, "error 211 for the losing Leo", |m| {
        matches!(m, ServerMsg::Error { .. })
    })
    .await
    {
        ServerMsg::Error { code, fatal, .. } => {
            assert_eq!(code, ErrorCode::NAME_TAKEN);
            assert!(!fatal, "losing a name keeps the connection");
        }
        _ => unreachable!(),
    }
    // The loser's neighbours see it leave with reason name_conflict.
    wait_for(loser_peer, "Leo's name_conflict leave", |m| {
        matches!(m, ServerMsg::Left { name, reason: LeaveReason::NameConflict, .. } if name == "Leo")
    })
    .await;
    // The winner keeps chatting; the loser's peer hears it.
    winner_client.say("still here").await.unwrap();
    let from = wait_for(
        loser_peer,
        "the winner's message",
        |m| matches!(m, ServerMsg::Message { text, .. } if text == "still here"),
    )
    .await;
    assert!(matches!(from, ServerMsg::Message { from, .. } if from == "Leo"));
    // The winner was never told anything: its own echo comes with no error before it.
    wait_for(winner_client, "the winner's echo", |m| {
        assert!(
            !matches!(m, ServerMsg::Error { .. }),
            "the winning Leo got {m:?}"
        );
        matches!(m, ServerMsg::Message { text, .. } if text == "still here")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_fails_over_to_another_hosts_server() {
    let Some((mut lan, ids)) = converged("a_client_fails_over_to_another_hosts_server", 3).await
    else {
        return;
    };
    let all = [0, 1, 2];

    // Leo: the terminal client, on host 0, connected to host 0's server.
    let mut leo = lan
        .chatty_in(0)
        .deadline(DEADLINE)
        .spawn(["client", &lan.addr(0).to_string(), "--name", "Leo"])
        .expect("run the client in host 0");
    leo.until("[JOIN] Leo joined the chat").await.unwrap();
    let mut bob = joined(&lan, 1, "Bob").await;
    leo.until("[JOIN] Bob joined the chat").await.unwrap();
    // Leo knows all servers (welcome and updates) before his server dies.
    wait_members(
        &lan,
        &all,
        &[("Bob", ids[1]), ("Leo", ids[0])],
        DEADLINE,
        "both members everywhere",
    )
    .await;

    lan.kill(0);
    let out = leo
        .until_match("a reconnect", |l| l.starts_with("[SERVER] reconnected to "))
        .await
        .unwrap();
    let line = out.last().unwrap();
    assert!(
        line.contains(&lan.addr(1).to_string()) || line.contains(&lan.addr(2).to_string()),
        "reconnected to another host's server: {line}"
    );
    leo.write("after the crash\n").await.unwrap();
    wait_for(&mut bob, "Leo's message after failover", |m| {
        matches!(m, ServerMsg::Message { from, text, .. } if from == "Leo" && text == "after the crash")
    })
    .await;
    bob.say("welcome back").await.unwrap();
    leo.until("[Bob] welcome back").await.unwrap();
    leo.write("exit\n").await.unwrap();
    let status = leo.wait().await.unwrap();
    assert!(status.success(), "the client exits cleanly: {status}");
}
