//! Membership in the deterministic simulator: simulated clock, seeded RNG,
//! real encoded datagrams. Every scenario is reproducible from its seed; a
//! failing random scenario prints the seed, and `CHATTY_SEED=N` replays it.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use chatty::cluster::envelope::{seal, Kind};
use chatty::cluster::messages::{Gossip, GossipEntry};
use chatty::cluster::{DownReason, Event, MemberInfo, Membership, MembershipConfig, Via};
use chatty::protocol::ServerId;
use chatty::sim::{NetConfig, Simulator};

const MS: Duration = Duration::from_millis(1);
/// The product requirement: a crashed server is gone from every list within 1 s.
const DETECTION_BOUND: Duration = Duration::from_secs(1);

/// A simulated cluster whose nodes get deterministic, time-ordered ids
/// (like UUID v7) and one address pair per slot.
struct World {
    sim: Simulator<Membership>,
    config: MembershipConfig,
    multicast: bool,
    /// Peers-only worlds: every node is told about slot 0 only.
    hub_only: bool,
    next_id: u64,
    slots: usize,
    seed: u64,
}

impl World {
    fn new(seed: u64, net: NetConfig) -> World {
        World {
            sim: Simulator::new(seed, net),
            config: MembershipConfig::default(),
            multicast: true,
            hub_only: false,
            next_id: 0,
            slots: 0,
            seed,
        }
    }

    fn peers_only(mut self) -> World {
        self.multicast = false;
        self.hub_only = true;
        self
    }

    fn make(&mut self, slot: usize) -> Membership {
        self.next_id += 1;
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.next_id.to_be_bytes()); // time-ordered prefix
        bytes[8..].copy_from_slice(&self.sim.rng().u64(..).to_be_bytes());
        let info = MemberInfo {
            id: ServerId::from_bytes(bytes),
            client_addr: addr(10_000 + slot),
            udp_addr: addr(20_000 + slot),
        };
        let peers = if self.hub_only && slot != 0 {
            vec![addr(20_000)]
        } else {
            vec![]
        };
        let seed = self.seed ^ (self.next_id << 32);
        Membership::new(
            self.config.clone(),
            "sim",
            info,
            self.multicast,
            peers,
            seed,
            self.sim.now(),
        )
    }

    /// Adds `n` new nodes, each in a fresh slot.
    fn spawn(&mut self, n: usize) -> Vec<usize> {
        (0..n)
            .map(|_| {
                let node = self.make(self.slots);
                self.slots += 1;
                self.sim.add(node, self.multicast)
            })
            .collect()
    }

    /// SIGKILL then start again in the same slot: same addresses, new id.
    fn restart(&mut self, slot: usize) -> MemberInfo {
        self.sim.crash(slot);
        let node = self.make(slot);
        let info = node.me();
        self.sim.replace(slot, node);
        info
    }

    fn id(&self, slot: usize) -> ServerId {
        self.sim.node(slot).expect("running").me().id
    }

    fn listed_by(&self, slot: usize) -> BTreeSet<ServerId> {
        self.sim
            .node(slot)
            .expect("running")
            .members()
            .iter()
            .map(|m| m.info.id)
            .collect()
    }

    /// Every running node lists exactly the other running nodes.
    fn converged(&self) -> bool {
        let running = self.sim.running();
        let all: BTreeSet<ServerId> = running.iter().map(|s| self.id(*s)).collect();
        running.iter().all(|s| {
            let mut expected = all.clone();
            expected.remove(&self.id(*s));
            self.listed_by(*s) == expected
        })
    }

    fn assert_converged(&self, when: &str) {
        if !self.converged() {
            let sizes: Vec<_> = self
                .sim
                .running()
                .iter()
                .map(|s| (*s, self.listed_by(*s).len()))
                .collect();
            panic!(
                "seed {}: not converged {when} at {:?}; (slot, listed) = {sizes:?}",
                self.seed,
                self.sim.elapsed()
            );
        }
    }

    /// Runs until converged, at most `limit`; returns how long it took.
    fn run_until_converged(&mut self, limit: Duration) -> Duration {
        let start = self.sim.elapsed();
        while !self.converged() {
            if self.sim.elapsed() - start >= limit {
                self.assert_converged(&format!("within {limit:?}"));
            }
            self.sim.run_for(10 * MS);
        }
        self.sim.elapsed() - start
    }

    /// No node lists itself, or two ids on one address (a ghost).
    fn assert_no_ghosts(&self) {
        for slot in self.sim.running() {
            let mut addrs = BTreeSet::new();
            for m in self.sim.node(slot).unwrap().members() {
                assert!(
                    addrs.insert(m.info.client_addr),
                    "seed {}: node {slot} lists two servers on {} at {:?}",
                    self.seed,
                    m.info.client_addr,
                    self.sim.elapsed()
                );
                assert_ne!(m.info.id, self.id(slot), "a node lists itself");
            }
        }
    }

    fn events(&mut self, slot: usize) -> Vec<Event> {
        let node = self.sim.node_mut(slot).expect("running");
        std::iter::from_fn(|| node.poll_event()).collect()
    }

    /// Steps until no running node lists `gone`; returns how long that took.
    fn time_until_forgotten(&mut self, gone: ServerId, limit: Duration) -> Duration {
        let start = self.sim.elapsed();
        loop {
            let someone_lists = self
                .sim
                .running()
                .iter()
                .any(|s| self.listed_by(*s).contains(&gone));
            if !someone_lists {
                return self.sim.elapsed() - start;
            }
            assert!(
                self.sim.elapsed() - start <= limit,
                "seed {}: {gone:?} still listed {limit:?} later",
                self.seed
            );
            self.sim.run_for(5 * MS);
        }
    }
}

fn addr(port: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port as u16))
}

fn lossy(loss: f64) -> NetConfig {
    NetConfig {
        loss,
        duplicate: 0.01,
        min_delay: Duration::from_micros(50),
        max_delay: Duration::from_millis(3),
    }
}

#[test]
fn servers_discover_each_other_by_multicast() {
    let mut w = World::new(1, NetConfig::default());
    w.spawn(3);
    let took = w.run_until_converged(Duration::from_secs(1));
    assert!(
        took <= 100 * MS,
        "first heartbeats introduce everyone ({took:?})"
    );
    for slot in w.sim.running() {
        let ups = w
            .events(slot)
            .into_iter()
            .filter(|e| matches!(e, Event::Up(_)))
            .count();
        assert_eq!(ups, 2, "one Up per other server, never twice");
    }
}

#[test]
fn a_crashed_server_is_removed_everywhere_within_one_second() {
    for loss in [0.0, 0.1] {
        let mut w = World::new(2, lossy(loss));
        w.spawn(5);
        w.run_until_converged(Duration::from_secs(2));
        w.sim.run_for(Duration::from_secs(2));
        let victim = w.id(2);
        w.sim.crash(2);
        let took = w.time_until_forgotten(victim, DETECTION_BOUND);
        assert!(
            took >= Duration::from_millis(700),
            "not removed early ({took:?})"
        );
        for slot in w.sim.running() {
            assert!(w
                .events(slot)
                .iter()
                .any(|e| matches!(e, Event::Down(info, DownReason::Dead) if info.id == victim)));
        }
        w.assert_converged("after the crash");
    }
}

#[test]
fn suspect_comes_before_dead_and_recovers_when_heard_again() {
    let mut w = World::new(3, NetConfig::default());
    w.spawn(2);
    w.run_until_converged(Duration::from_secs(1));
    // Cut node 1 off for 400 ms: suspect (250 ms) but not dead (800 ms).
    w.sim.partition(&[0], &[1]);
    w.sim.run_for(400 * MS);
    let seen = w.sim.node(0).unwrap().members();
    assert_eq!(seen[0].health.as_str(), "suspect");
    w.sim.heal();
    w.sim.run_for(100 * MS);
    assert_eq!(w.sim.node(0).unwrap().members()[0].health.as_str(), "alive");
    let events = w.events(0);
    assert!(events.iter().any(|e| matches!(e, Event::Suspect(_))));
    assert!(events.iter().any(|e| matches!(e, Event::Recovered(_))));
    assert!(!events.iter().any(|e| matches!(e, Event::Down(..))));
}

#[test]
fn no_false_removals_under_sustained_loss() {
    for (seed, loss) in [(10, 0.10), (11, 0.20)] {
        let mut w = World::new(seed, lossy(loss));
        w.spawn(5);
        w.run_until_converged(Duration::from_secs(2));
        for slot in w.sim.running() {
            w.events(slot);
        }
        w.sim.run_for(Duration::from_secs(300));
        for slot in w.sim.running() {
            let downs: Vec<_> = w
                .events(slot)
                .into_iter()
                .filter(|e| matches!(e, Event::Down(..)))
                .collect();
            assert!(downs.is_empty(), "loss {loss}: false removals {downs:?}");
        }
        w.assert_converged("after 5 lossy minutes");
        assert!(
            w.sim.stats().lost > 1000,
            "the network really lost datagrams"
        );
    }
}

#[test]
fn a_graceful_leave_is_seen_at_once() {
    let mut w = World::new(4, lossy(0.1));
    w.spawn(4);
    w.run_until_converged(Duration::from_secs(2));
    let leaver = w.id(1);
    let now = w.sim.now();
    w.sim.node_mut(1).unwrap().leave(now);
    w.sim.run_for(100 * MS);
    assert!(w.sim.node(1).unwrap().leave_done());
    w.sim.crash(1); // the process exits
    for slot in w.sim.running() {
        assert!(
            !w.listed_by(slot).contains(&leaver),
            "removed well before the detector would"
        );
        assert!(w
            .events(slot)
            .iter()
            .any(|e| matches!(e, Event::Down(info, DownReason::Left) if info.id == leaver)));
    }
}

#[test]
fn a_restarted_server_replaces_its_old_incarnation_without_a_ghost() {
    let mut w = World::new(5, lossy(0.05));
    w.spawn(4);
    w.run_until_converged(Duration::from_secs(2));
    let old = w.id(3);
    let new = w.restart(3).id;
    // Step finely: at no instant may a node list both incarnations.
    for _ in 0..200 {
        w.sim.run_for(5 * MS);
        w.assert_no_ghosts();
    }
    for slot in w.sim.running() {
        assert!(!w.listed_by(slot).contains(&old));
    }
    w.assert_converged("after the restart");
    let events = w.events(0);
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::Down(info, DownReason::Replaced) if info.id == old)));
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::Up(info) if info.id == new)));
}

#[test]
fn concurrent_joins_leaves_crashes_and_restarts_converge() {
    let mut w = World::new(6, lossy(0.1));
    w.spawn(6);
    w.run_until_converged(Duration::from_secs(2));
    // All at the same instant.
    let now = w.sim.now();
    w.sim.node_mut(0).unwrap().leave(now);
    w.sim.crash(1);
    w.restart(2);
    w.spawn(2);
    w.sim.run_for(100 * MS);
    w.sim.crash(0); // the leaver exits
    w.run_until_converged(DETECTION_BOUND + 200 * MS);
    w.assert_no_ghosts();
}

#[test]
fn a_partition_splits_the_lists_and_healing_merges_them() {
    let mut w = World::new(7, lossy(0.05));
    w.spawn(5);
    w.run_until_converged(Duration::from_secs(2));
    w.sim.partition(&[0, 1], &[2, 3, 4]);
    w.sim.run_for(DETECTION_BOUND);
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
}

#[test]
fn a_cluster_joined_only_through_peers_converges_and_detects_crashes() {
    let mut w = World::new(8, lossy(0.05)).peers_only();
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
    w.sim.run_for(Duration::from_secs(2));
    w.assert_converged("after the hub crashed");
}

#[test]
fn fifty_servers_converge_by_multicast_and_by_peers() {
    let mut w = World::new(9, lossy(0.05));
    w.spawn(50);
    let took = w.run_until_converged(Duration::from_secs(2));
    assert!(took <= 200 * MS, "multicast: {took:?}");
    // Everyone was told only about the hub; gossip spreads the other 48.
    let mut w = World::new(9, lossy(0.05)).peers_only();
    w.spawn(50);
    let took = w.run_until_converged(Duration::from_secs(5));
    assert!(took <= Duration::from_secs(3), "peers only: {took:?}");
}

#[test]
fn tombstones_stay_bounded_through_many_restarts() {
    let mut w = World::new(12, NetConfig::default());
    w.config.max_tombstones = 16;
    w.spawn(3);
    w.run_until_converged(Duration::from_secs(1));
    for _ in 0..100 {
        w.restart(2);
        w.sim.run_for(60 * MS);
        w.assert_no_ghosts();
    }
    w.run_until_converged(Duration::from_secs(2));
    for slot in w.sim.running() {
        assert!(w.sim.node(slot).unwrap().tombstone_count() <= 16);
    }
}

#[test]
fn stale_gossip_cannot_resurrect_a_dead_server() {
    let mut w = World::new(13, NetConfig::default());
    w.spawn(3);
    w.run_until_converged(Duration::from_secs(1));
    let victim = w.sim.node(2).unwrap().me();
    let last = w.sim.node(0).unwrap().members()[1].info; // any: we only need addresses
    let _ = last;
    w.sim.crash(2);
    w.time_until_forgotten(victim.id, DETECTION_BOUND);
    // A late gossip datagram about the victim with a fresh-looking age, but
    // an old counter, arrives at node 0.
    let gossip = Gossip {
        from: w.id(1),
        entries: vec![GossipEntry {
            id: victim.id,
            client_addr: victim.client_addr.to_string(),
            udp_addr: victim.udp_addr.to_string(),
            heartbeat: 1,
            age_ms: 0,
        }],
    };
    let bytes = seal(Kind::Gossip, "sim", &gossip).unwrap();
    let now = w.sim.now();
    let node = w.sim.node_mut(0).unwrap();
    node.handle_datagram(addr(20_001), Via::Unicast, &bytes, now);
    assert!(!node.is_member(&victim.id));
    assert_eq!(node.drops().stale, 1);
}

#[test]
fn junk_and_foreign_datagrams_are_dropped_and_counted() {
    let mut w = World::new(14, NetConfig::default());
    w.spawn(2);
    w.run_until_converged(Duration::from_secs(1));
    let now = w.sim.now();
    let node = w.sim.node_mut(0).unwrap();
    let me = node.me();
    let mut rng = fastrand::Rng::with_seed(14);
    for _ in 0..2000 {
        let len = rng.usize(0..1500);
        let junk: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
        node.handle_datagram(addr(9), Via::Multicast, &junk, now);
    }
    let foreign = seal(
        Kind::Heartbeat,
        "other-cluster",
        &chatty::cluster::messages::Heartbeat {
            id: ServerId::from_bytes([9; 16]),
            client_addr: "127.0.0.1:1".into(),
            udp_addr: "127.0.0.1:2".into(),
            heartbeat: 1,
        },
    )
    .unwrap();
    node.handle_datagram(addr(9), Via::Multicast, &foreign, now);
    let drops = node.drops();
    assert_eq!(drops.malformed, 2000);
    assert_eq!(drops.foreign, 1);
    assert_eq!(node.members().len(), 1);
    assert_eq!(node.me(), me);
}

/// One random lossy run: nodes come and go (crash, restart, leave, join)
/// while the network loses 10–20 % and duplicates 1 % of datagrams. Checks:
/// no server is ever listed twice; no crashed server is listed after the
/// detection bound; no live server is ever removed; and every live server
/// ends up listing exactly the live set.
fn lossy_scenario(seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let loss = 0.10 + rng.f64() * 0.10;
    let mut w = World::new(seed, lossy(loss));
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
                let now = w.sim.now();
                w.sim.node_mut(victim).unwrap().leave(now);
                w.sim.run_for(100 * MS);
                w.sim.crash(victim);
            }
            _ => {
                w.spawn(1);
            }
        }
        let until = w.sim.elapsed() + Duration::from_secs(2);
        while w.sim.elapsed() < until {
            w.sim.run_for(20 * MS);
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
        let live: BTreeSet<ServerId> = w.sim.running().iter().map(|s| w.id(*s)).collect();
        for slot in w.sim.running() {
            for event in w.events(slot) {
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

fn run_seeds(seeds: std::ops::Range<u64>) {
    if let Ok(seed) = std::env::var("CHATTY_SEED") {
        let seed: u64 = seed.parse().expect("CHATTY_SEED is a number");
        if seeds.contains(&seed) {
            lossy_scenario(seed);
        }
        return;
    }
    for seed in seeds {
        if let Err(panic) = std::panic::catch_unwind(|| lossy_scenario(seed)) {
            eprintln!("lossy scenario failed with seed {seed}; replay with CHATTY_SEED={seed}");
            std::panic::resume_unwind(panic);
        }
    }
}

// 1,000 seeds in four tests so they spread over the test threads.
#[test]
fn lossy_random_scenarios_seeds_0_250() {
    run_seeds(0..250);
}
#[test]
fn lossy_random_scenarios_seeds_250_500() {
    run_seeds(250..500);
}
#[test]
fn lossy_random_scenarios_seeds_500_750() {
    run_seeds(500..750);
}
#[test]
fn lossy_random_scenarios_seeds_750_1000() {
    run_seeds(750..1000);
}
