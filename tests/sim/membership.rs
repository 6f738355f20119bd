//! Membership in the deterministic simulator, on real nodes: simulated
//! clock, seeded RNG, real encoded datagrams. Every scenario is
//! reproducible from its seed; a failing one prints it, and
//! `CHATTY_SIM_SEED=N` replays it.

use crate::sim_support;

use std::collections::BTreeSet;
use std::time::Duration;

use chatty::membership::messages::{Gossip, GossipEntry, Heartbeat};
use chatty::membership::{DownReason, Event, MemberInfo};
use chatty::protocol::ServerId;
use chatty::sim::NetConfig;
use chatty::wire::envelope::{seal, Kind};
use chatty::wire::Via;

use sim_support::seeds::{for_seeds, with_seed};
use sim_support::{addr, lossy as net, udp_addr, Cluster, CLUSTER, MS};

/// The product requirement: a crashed server is gone from every list within 1 s.
const DETECTION_BOUND: Duration = Duration::from_secs(1);

fn lossy(loss: f64) -> NetConfig {
    net(loss, 0.01, 3)
}

fn ups(events: &[Event]) -> usize {
    events.iter().filter(|e| matches!(e, Event::Up(_))).count()
}

fn removed(events: &[Event], id: ServerId, why: DownReason) -> bool {
    events
        .iter()
        .any(|e| matches!(e, Event::Down(info, reason) if info.id == id && *reason == why))
}

/// No running member has seen anyone removed since its events were last
/// taken; `what` says which run, in the failure.
fn assert_no_false_removals(w: &mut Cluster, what: &str) {
    for slot in w.sim.running() {
        let downs: Vec<_> = w
            .take_events(slot)
            .into_iter()
            .filter(|e| matches!(e, Event::Down(..)))
            .collect();
        assert!(downs.is_empty(), "{what}: false removals {downs:?}");
    }
}

#[test]
fn servers_discover_each_other_by_multicast() {
    with_seed(1, |seed| {
        let mut w = Cluster::new(seed, NetConfig::default());
        w.spawn(3);
        let took = w.run_until_converged(Duration::from_secs(1));
        assert!(
            took <= 100 * MS,
            "first heartbeats introduce everyone ({took:?})"
        );
        w.run(Duration::from_secs(1));
        for slot in w.sim.running() {
            let events = w.take_events(slot);
            assert_eq!(ups(&events), 2, "one Up per other server, never twice");
        }
        // The node routes every Up into its relay: each server syncs with
        // each other one.
        assert!(w.all_synced(), "seed {seed}: relays follow membership");
    });
}

#[test]
fn a_crashed_server_is_removed_everywhere_within_one_second() {
    with_seed(2, |seed| {
        for loss in [0.0, 0.1] {
            let mut w = Cluster::new(seed, lossy(loss));
            w.spawn(5);
            w.run_until_converged(Duration::from_secs(2));
            w.run(Duration::from_secs(2));
            let victim = w.id(2);
            w.sim.crash(2);
            let took = w.time_until_forgotten(victim, DETECTION_BOUND);
            assert!(
                took >= Duration::from_millis(700),
                "not removed early ({took:?})"
            );
            for slot in w.sim.running() {
                assert!(removed(&w.take_events(slot), victim, DownReason::Dead));
                // ... and the relay ended the victim's stream.
                let gone = w.stream(slot, victim).current().and_then(|e| e.gone);
                assert_eq!(gone, Some(false), "seed {seed}: OriginGone, not graceful");
            }
            w.assert_converged("after the crash");
        }
    });
}

#[test]
fn suspect_comes_before_dead_and_recovers_when_heard_again() {
    with_seed(3, |seed| {
        let mut w = Cluster::new(seed, NetConfig::default());
        w.spawn(2);
        w.run_until_converged(Duration::from_secs(1));
        // Cut node 1 off for 400 ms: suspect (250 ms) but not dead (800 ms).
        w.sim.partition(&[0], &[1]);
        w.run(400 * MS);
        assert_eq!(w.node(0).members()[0].health.as_str(), "suspect");
        w.sim.heal();
        w.run(100 * MS);
        assert_eq!(w.node(0).members()[0].health.as_str(), "alive");
        let events = w.take_events(0);
        assert!(events.iter().any(|e| matches!(e, Event::Suspect(_))));
        assert!(events.iter().any(|e| matches!(e, Event::Recovered(_))));
        assert!(!events.iter().any(|e| matches!(e, Event::Down(..))));
    });
}

#[test]
fn no_false_removals_under_sustained_loss() {
    with_seed(10, |seed| {
        for (seed, loss) in [(seed, 0.10), (seed + 1, 0.20)] {
            let mut w = Cluster::new(seed, lossy(loss));
            w.spawn(5);
            w.run_until_converged(Duration::from_secs(2));
            for slot in w.sim.running() {
                w.take_events(slot);
            }
            w.run(Duration::from_secs(300));
            assert_no_false_removals(&mut w, &format!("loss {loss}"));
            w.assert_converged("after 5 lossy minutes");
            assert!(
                w.sim.stats().lost > 1000,
                "the network really lost datagrams"
            );
        }
    });
}

/// Issue 19: heartbeats go by multicast only, so loss on the group is all a
/// member has against false removal; at 10 and 50 servers too. (The 50
/// run is short in simulated time: it is 2,500 observer pairs.)
#[test]
fn no_false_removals_at_ten_percent_loss_with_ten_and_fifty_servers() {
    with_seed(15, |seed| {
        for (n, secs) in [(10, 30), (50, 5)] {
            let mut w = Cluster::new(seed, lossy(0.10));
            w.spawn(n);
            w.run_until_converged(Duration::from_secs(3));
            for slot in w.sim.running() {
                w.take_events(slot);
            }
            w.run(Duration::from_secs(secs));
            assert_no_false_removals(&mut w, &format!("{n} servers"));
            w.assert_converged("after the lossy run");
            // And a crash is still noticed within the bound.
            let victim = w.id(3);
            w.sim.crash(3);
            let took = w.time_until_forgotten(victim, DETECTION_BOUND);
            assert!(took >= Duration::from_millis(700), "{n}: early ({took:?})");
        }
    });
}

#[test]
fn a_graceful_leave_is_seen_at_once() {
    with_seed(4, |seed| {
        let mut w = Cluster::new(seed, lossy(0.1));
        w.spawn(4);
        w.run_until_converged(Duration::from_secs(2));
        let leaver = w.id(1);
        let now = w.sim.clock();
        w.node_mut(1).leave(now);
        w.run(100 * MS);
        assert!(w.node(1).leave_done());
        w.sim.crash(1); // the process exits
        for slot in w.sim.running() {
            assert!(
                !w.listed_by(slot).contains(&leaver),
                "removed well before the detector would"
            );
            assert!(removed(&w.take_events(slot), leaver, DownReason::Left));
            let gone = w.stream(slot, leaver).current().and_then(|e| e.gone);
            assert_eq!(gone, Some(true), "seed {seed}: a graceful OriginGone");
        }
    });
}

#[test]
fn a_restarted_server_replaces_its_old_incarnation_without_a_ghost() {
    with_seed(5, |seed| {
        let mut w = Cluster::new(seed, lossy(0.05));
        w.spawn(4);
        w.run_until_converged(Duration::from_secs(2));
        let old = w.id(3);
        let new = w.restart(3).id;
        // Step finely: at no instant may a node list both incarnations.
        for _ in 0..200 {
            w.run(5 * MS);
            w.assert_no_ghosts();
        }
        for slot in w.sim.running() {
            assert!(!w.listed_by(slot).contains(&old));
        }
        w.assert_converged("after the restart");
        let events = w.take_events(0);
        assert!(removed(&events, old, DownReason::Replaced));
        assert!(events
            .iter()
            .any(|e| matches!(e, Event::Up(info) if info.id == new)));
    });
}

#[test]
fn concurrent_joins_leaves_crashes_and_restarts_converge() {
    with_seed(6, |seed| {
        let mut w = Cluster::new(seed, lossy(0.1));
        w.spawn(6);
        w.run_until_converged(Duration::from_secs(2));
        // All at the same instant.
        let now = w.sim.clock();
        w.node_mut(0).leave(now);
        w.sim.crash(1);
        w.restart(2);
        w.spawn(2);
        w.run(100 * MS);
        w.sim.crash(0); // the leaver exits
        w.run_until_converged(DETECTION_BOUND + 200 * MS);
        w.assert_no_ghosts();
    });
}

#[test]
fn a_partition_splits_the_lists_and_healing_merges_them() {
    with_seed(7, |seed| {
        let mut w = Cluster::new(seed, lossy(0.05));
        w.spawn(5);
        w.run_until_converged(Duration::from_secs(2));
        w.sim.partition(&[0, 1], &[2, 3, 4]);
        w.run(DETECTION_BOUND);
        let left: BTreeSet<_> = [0, 1].iter().map(|s| w.id(*s)).collect();
        let right: BTreeSet<_> = [2, 3, 4].iter().map(|s| w.id(*s)).collect();
        for s in [0, 1] {
            assert!(
                w.listed_by(s).is_disjoint(&right),
                "each side sees the other leave"
            );
        }
        for s in [2, 3, 4] {
            assert!(w.listed_by(s).is_disjoint(&left));
        }
        w.sim.heal();
        let took = w.run_until_converged(Duration::from_secs(1));
        assert!(
            took <= 200 * MS,
            "tombstones re-admit live servers at once ({took:?})"
        );
    });
}

#[test]
fn a_cluster_joined_only_through_peers_converges_and_detects_crashes() {
    with_seed(8, |seed| {
        let mut w = Cluster::new(seed, lossy(0.05)).peers_only();
        w.spawn(8);
        let took = w.run_until_converged(Duration::from_secs(2));
        assert!(took <= Duration::from_secs(1), "{took:?}");
        // A non-hub member crashes: found within the bound, as with multicast.
        let victim = w.id(5);
        w.sim.crash(5);
        w.time_until_forgotten(victim, DETECTION_BOUND);
        // The hub crashes: the rest already know each other directly.
        let hub = w.id(0);
        w.sim.crash(0);
        w.time_until_forgotten(hub, DETECTION_BOUND);
        w.run(Duration::from_secs(2));
        w.assert_converged("after the hub crashed");
    });
}

#[test]
fn fifty_servers_converge_by_multicast_and_by_peers() {
    with_seed(9, |seed| {
        let mut w = Cluster::new(seed, lossy(0.05));
        w.spawn(50);
        let took = w.run_until_converged(Duration::from_secs(2));
        assert!(took <= 200 * MS, "multicast: {took:?}");
        // Everyone was told only about the hub; gossip spreads the other 48.
        let mut w = Cluster::new(seed, lossy(0.05)).peers_only();
        w.spawn(50);
        let took = w.run_until_converged(Duration::from_secs(5));
        assert!(took <= Duration::from_secs(3), "peers only: {took:?}");
    });
}

#[test]
fn tombstones_stay_bounded_through_many_restarts() {
    with_seed(12, |seed| {
        let mut w = Cluster::new(seed, NetConfig::default());
        w.config.membership.max_tombstones = 16;
        w.spawn(3);
        w.run_until_converged(Duration::from_secs(1));
        for _ in 0..100 {
            w.restart(2);
            w.run(60 * MS);
            w.assert_no_ghosts();
        }
        w.run_until_converged(Duration::from_secs(2));
        for slot in w.sim.running() {
            assert!(w.node(slot).membership().tombstone_count() <= 16);
            // One relay origin per live member: the dead incarnations'
            // streams were all ended.
            assert_eq!(w.node(slot).footprint().origins, 2);
        }
    });
}

#[test]
fn stale_gossip_cannot_resurrect_a_dead_server() {
    with_seed(13, |seed| {
        let mut w = Cluster::new(seed, NetConfig::default());
        w.spawn(3);
        w.run_until_converged(Duration::from_secs(1));
        let victim = w.node(2).me();
        w.sim.crash(2);
        w.time_until_forgotten(victim.id, DETECTION_BOUND);
        // A late gossip datagram about the victim with a fresh-looking age,
        // but an old counter, arrives at node 0.
        let gossip = Gossip {
            from: w.id(1),
            entries: vec![GossipEntry {
                web_addr: None,
                id: victim.id,
                client_addr: victim.client_addr.to_string(),
                udp_addr: victim.udp_addr.to_string(),
                heartbeat: 1,
                age_ms: 0,
            }],
        };
        let bytes = seal(Kind::Gossip, CLUSTER, &gossip).unwrap();
        let now = w.sim.clock();
        let node = w.node_mut(0);
        node.handle_datagram(udp_addr(1), Via::Unicast, &bytes, now);
        assert!(!node.membership().is_member(&victim.id));
        assert_eq!(node.drops().stale, 1);
        assert_eq!(node.footprint().origins, 1, "no relay stream for the dead");
    });
}

#[test]
fn junk_and_foreign_datagrams_are_dropped_and_counted() {
    with_seed(14, |seed| {
        let mut w = Cluster::new(seed, NetConfig::default());
        w.spawn(2);
        w.run_until_converged(Duration::from_secs(1));
        let now = w.sim.clock();
        let node = w.node_mut(0);
        let me: MemberInfo = node.me();
        let mut rng = fastrand::Rng::with_seed(seed);
        for _ in 0..2000 {
            let len = rng.usize(0..1500);
            let junk: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
            node.handle_datagram(addr(9, 0), Via::Multicast, &junk, now);
        }
        let foreign = seal(
            Kind::Heartbeat,
            "other-cluster",
            &Heartbeat {
                web_addr: None,
                id: ServerId::from_bytes([9; 16]),
                client_addr: "127.0.0.1:1".into(),
                udp_addr: "127.0.0.1:2".into(),
                heartbeat: 1,
            },
        )
        .unwrap();
        node.handle_datagram(addr(9, 0), Via::Multicast, &foreign, now);
        let drops = node.drops();
        assert_eq!(drops.malformed, 2000);
        assert_eq!(drops.foreign, 1);
        assert_eq!(node.members().len(), 1);
        assert_eq!(node.me(), me);
    });
}

/// One random lossy run: nodes come and go (crash, restart, leave, join)
/// while the network loses 10–20 % and duplicates 1 % of datagrams. Checks:
/// no server is ever listed twice; no crashed server is listed after the
/// detection bound; no live server is ever removed; and every live server
/// ends up listing exactly the live set.
fn lossy_scenario(seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let loss = 0.10 + rng.f64() * 0.10;
    let mut w = Cluster::new(seed, lossy(loss));
    if rng.u8(..4) == 0 {
        w = w.peers_only();
    }
    w.spawn(rng.usize(3..=6));
    w.run_until_converged(Duration::from_secs(2));
    let mut departed: Vec<(ServerId, Duration)> = Vec::new();
    for _ in 0..4 {
        let running = w.sim.running();
        let op = rng.u8(..4);
        let victim = running[rng.usize(..running.len())];
        // Keep the hub of a peers-only world, and at least two servers.
        let can_remove = running.len() > 2 && !(w.hub_only && victim == 0);
        match op {
            0 if can_remove => {
                departed.push((w.id(victim), w.sim.elapsed()));
                w.sim.crash(victim);
            }
            1 if can_remove => {
                departed.push((w.id(victim), w.sim.elapsed()));
                w.restart(victim);
            }
            2 if can_remove => {
                departed.push((w.id(victim), w.sim.elapsed()));
                let now = w.sim.clock();
                w.node_mut(victim).leave(now);
                w.run(100 * MS);
                w.sim.crash(victim);
            }
            _ => {
                w.spawn(1);
            }
        }
        let until = w.sim.elapsed() + Duration::from_secs(2);
        while w.sim.elapsed() < until {
            w.run(20 * MS);
            w.assert_no_ghosts();
            for (gone, since) in &departed {
                if w.sim.elapsed() - *since > DETECTION_BOUND {
                    for slot in w.sim.running() {
                        assert!(
                            !w.listed_by(slot).contains(gone),
                            "seed {seed}: {gone:?} listed by {slot} after the bound"
                        );
                    }
                }
            }
        }
        w.assert_converged("2 s after a change");
        let live: BTreeSet<ServerId> = w.running_ids().into_iter().collect();
        for slot in w.sim.running() {
            for event in w.take_events(slot) {
                if let Event::Down(info, reason) = event {
                    assert!(
                        !live.contains(&info.id),
                        "seed {seed}: live {:?} removed ({reason:?}) by {slot}",
                        info.id
                    );
                }
            }
        }
    }
}

// 1,000 seeds in four tests so they spread over the test threads.
#[test]
fn lossy_random_scenarios_seeds_0_250() {
    for_seeds(0..250, lossy_scenario);
}
#[test]
fn lossy_random_scenarios_seeds_250_500() {
    for_seeds(250..500, lossy_scenario);
}
#[test]
fn lossy_random_scenarios_seeds_500_750() {
    for_seeds(500..750, lossy_scenario);
}
#[test]
fn lossy_random_scenarios_seeds_750_1000() {
    for_seeds(750..1000, lossy_scenario);
}
