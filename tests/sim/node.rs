//! The node as a whole in the simulator: partitions that heal while
//! everyone talks, a sealed cluster, and how a stream restarts when
//! membership changes under it.

use crate::sim_support;

use std::time::Duration;

use chatty::membership::messages::Heartbeat;
use chatty::membership::Event;
use chatty::relay::state::START_SNAPSHOT_TTL;
use chatty::seal::{ClusterKey, Keyring, SealConfig};
use chatty::sim::NetConfig;
use chatty::wire::envelope::{self, seal, Kind};
use chatty::wire::{Destination, Via};

use sim_support::seeds::with_seed;
use sim_support::{addr, lossy, udp_addr, Cluster, CLUSTER, MS};

/// Every running server says something, then time passes.
fn talk(c: &mut Cluster, rounds: usize) {
    for round in 0..rounds {
        for slot in c.sim.running() {
            c.say(slot, format!("{slot}-{round}"));
        }
        c.run(5 * MS);
    }
}

#[test]
fn streams_survive_a_partition_and_its_healing() {
    with_seed(21, |seed| {
        let mut c = Cluster::new(seed, lossy(0.05, 0.01, 5));
        c.spawn(5);
        c.run_until_synced(Duration::from_secs(2));
        talk(&mut c, 40);
        // Long enough for each side to declare the other dead.
        c.sim.partition(&[0, 1], &[2, 3, 4]);
        talk(&mut c, 400);
        for r in [0, 1] {
            for o in [2, 3, 4] {
                assert!(!c.stream(r, c.id(o)).listing(), "{r} still lists {o}");
            }
        }
        c.sim.heal();
        talk(&mut c, 200);
        c.sim.set_net(NetConfig::default());
        c.run(Duration::from_secs(2));
        // Each side lists the other again: the streams resumed where they
        // stopped, what was relayed into the partition reported lost, and
        // nothing was delivered twice.
        c.assert_caught_up();
        c.assert_exactly_once();
        c.assert_relay_follows_membership();
    });
}

fn keyring(byte: u8) -> SealConfig {
    SealConfig::new(Keyring::new(vec![ClusterKey::from_bytes([byte; 32])]).expect("one key"))
}

#[test]
fn a_sealed_cluster_relays_exactly_and_ignores_the_unkeyed() {
    with_seed(22, |seed| {
        let mut c = Cluster::new(seed, lossy(0.1, 0.01, 5));
        c.config.seal = Some(keyring(7));
        c.spawn(3);
        c.run_until_synced(Duration::from_secs(2));
        assert!(c.node(0).is_keyed());
        talk(&mut c, 100);
        c.run(Duration::from_secs(1));
        c.assert_complete();
        assert_eq!(c.assert_exact(), 6);
        // A server without the key, and one with another key.
        c.config.seal = None;
        let plain = c.spawn(1)[0];
        c.config.seal = Some(keyring(8));
        let other = c.spawn(1)[0];
        c.run(Duration::from_secs(1));
        for slot in 0..3 {
            let listed = c.listed_by(slot);
            assert!(!listed.contains(&c.id(plain)) && !listed.contains(&c.id(other)));
            let stats = c.node(slot).seal_stats();
            assert!(stats.unsealed > 0 && stats.unknown_key > 0, "{stats:?}");
        }
        assert!(c.listed_by(plain).is_empty() && c.listed_by(other).is_empty());
        assert!(c.node(plain).seal_stats().sealed_without_key > 0);
    });
}

/// Hands every relay datagram the node in `from` has queued for the node
/// in `to` over to it, bypassing the simulated network (and its cuts);
/// the rest (heartbeats) is lost.
fn pass(c: &mut Cluster, from: usize, to: usize) {
    let now = c.sim.clock();
    let mut queued = Vec::new();
    while let Some(tx) = c.node_mut(from).poll_transmit() {
        queued.push(tx);
    }
    for tx in queued {
        if !envelope::open(&tx.bytes).is_ok_and(|e| e.kind.is_relay()) {
            continue;
        }
        let via = match tx.to {
            Destination::Group => Via::Multicast,
            Destination::Unicast(a) if a == udp_addr(to) => Via::Unicast,
            Destination::Unicast(_) => continue,
        };
        c.node_mut(to)
            .handle_datagram(udp_addr(from), via, &tx.bytes, now);
    }
    c.drain();
}

/// Server 0 talks to server 1, which restarts after `uptime`. The new
/// incarnation hears server 0 at once, but server 0 has not yet heard it
/// (its heartbeats are lost): the new server's sync request reaches server
/// 0, which answers it as the old incarnation's, found by address. Returns
/// the cluster healed and settled, and the number of events server 0 had
/// said before the restart.
fn restart_unheard(seed: u64, uptime: Duration) -> (Cluster, u64) {
    let mut c = Cluster::new(seed, NetConfig::default());
    c.spawn(2);
    c.run_until_synced(Duration::from_secs(1));
    for n in 0..20 {
        c.say(0, format!("before {n}"));
    }
    c.run(uptime);
    c.sim.partition(&[0], &[1]);
    c.restart(1);
    let heartbeat = Heartbeat {
        web_addr: None,
        id: c.id(0),
        client_addr: addr(10_000, 0).to_string(),
        udp_addr: udp_addr(0).to_string(),
        heartbeat: 1 << 40,
    };
    let bytes = seal(Kind::Heartbeat, CLUSTER, &heartbeat).unwrap();
    let now = c.sim.clock();
    let node = c.node_mut(1);
    node.handle_datagram(udp_addr(0), Via::Multicast, &bytes, now);
    node.handle_tick(now); // the new incarnation asks server 0 to sync
    pass(&mut c, 1, 0);
    pass(&mut c, 0, 1);
    c.sim.heal();
    c.run(Duration::from_secs(1));
    (c, 20)
}

/// Finding: a new incarnation is served its predecessor's start snapshot,
/// then repaired from there: it replays events said before it existed
/// (its clients would see them as new messages).
#[test]
fn a_restarted_server_is_not_served_its_predecessors_stream() {
    with_seed(23, |seed| {
        let (c, said) = restart_unheard(seed, 100 * MS);
        let stream = c.stream(1, c.id(0));
        assert!(
            stream.seqs().iter().all(|s| *s > said),
            "seed {seed}: the new incarnation replayed {:?}",
            stream.seqs()
        );
    });
}

/// Finding: the same, past the start snapshot's lifetime: the new
/// incarnation is served a current snapshot naming its predecessor's
/// sync point, and reports events it was never owed as lost.
#[test]
fn a_restarted_server_reports_no_loss_it_was_never_owed() {
    with_seed(24, |seed| {
        let (c, _) = restart_unheard(seed, START_SNAPSHOT_TTL + Duration::from_secs(1));
        let stream = c.stream(1, c.id(0));
        assert_eq!(
            stream.lost_total(),
            0,
            "seed {seed}: a notice of loss for events said before it existed"
        );
    });
}

/// Finding: when only one side of a pair declares the other dead and the
/// link comes back, the side that did re-syncs from the other's original
/// sync point (the other never saw it go) and is delivered those events a
/// second time.
#[test]
fn a_one_sided_removal_does_not_deliver_events_twice() {
    with_seed(25, |seed| {
        let mut c = Cluster::new(seed, NetConfig::default());
        c.spawn(1);
        // Server 1 gives up on silent peers sooner, so it alone removes
        // server 0 during the cut (as one-way loss would make it).
        c.config.membership.dead_after = 500 * MS;
        c.spawn(1);
        c.run_until_synced(Duration::from_secs(1));
        talk(&mut c, 10);
        c.sim.partition(&[0], &[1]);
        let a = c.id(0);
        while c.listed_by(1).contains(&a) {
            c.run(MS);
        }
        c.sim.heal();
        talk(&mut c, 10);
        c.run(Duration::from_secs(1));
        let downs = c.take_events(0).into_iter();
        assert_eq!(
            downs.filter(|e| matches!(e, Event::Down(..))).count(),
            0,
            "seed {seed}: server 0 never removed server 1"
        );
        c.assert_promises_kept();
        c.assert_exactly_once();
    });
}

/// Finding: events an origin relays to a peer between the peer's last
/// news of it and the moment membership ends the stream (a partition, up
/// to `dead_after`) are lost silently when the stream starts again: the
/// new sync point is after them, and the receiver never knew they existed.
#[test]
fn a_partition_loses_nothing_silently() {
    with_seed(26, |seed| {
        let mut c = Cluster::new(seed, NetConfig::default());
        c.spawn(2);
        c.run_until_synced(Duration::from_secs(1));
        talk(&mut c, 10);
        c.sim.partition(&[0], &[1]);
        talk(&mut c, 400);
        c.sim.heal();
        talk(&mut c, 10);
        c.run(Duration::from_secs(1));
        c.assert_promises_kept();
    });
}
