//! The relay state machine in the deterministic simulator: loss,
//! reordering, duplication, tail loss, overrun, mid-stream joins, origin
//! restarts, peer death during repair, and 10 servers × 10,000 messages at
//! 20 % loss. Every stream must arrive complete, in order, exactly once.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chatty::cluster::envelope::{seal, Kind};
use chatty::cluster::Via;
use chatty::protocol::{LeaveReason, ServerId};
use chatty::relay::messages::Status;
use chatty::relay::{ChatEvent, Delivery, Relay, RelayConfig};
use chatty::sim::{NetConfig, SimNode, Simulator};

const MS: Duration = Duration::from_millis(1);

/// What one receiver got from one origin.
#[derive(Debug, Default, Clone)]
struct Stream {
    synced_at: Option<u64>,
    members: BTreeSet<String>,
    events: Vec<(u64, ChatEvent)>,
    resyncs: Vec<(u64, Vec<String>, Vec<String>)>,
    gone: bool,
}

struct Cluster {
    sim: Simulator<Relay>,
    config: RelayConfig,
    next_id: u64,
    slots: usize,
    /// received[receiver slot][origin id]
    received: BTreeMap<usize, BTreeMap<ServerId, Stream>>,
    seed: u64,
}

impl Cluster {
    fn new(seed: u64, net: NetConfig) -> Cluster {
        Cluster {
            sim: Simulator::new(seed, net),
            config: RelayConfig::default(),
            next_id: 0,
            slots: 0,
            received: BTreeMap::new(),
            seed,
        }
    }

    fn make(&mut self, slot: usize) -> Relay {
        self.next_id += 1;
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.next_id.to_be_bytes());
        Relay::new(
            ServerId::from_bytes(bytes),
            addr(slot),
            "sim",
            self.config.clone(),
            self.sim.now(),
        )
    }

    /// Adds `n` servers and introduces them to everyone running.
    fn spawn(&mut self, n: usize) -> Vec<usize> {
        let slots: Vec<usize> = (0..n)
            .map(|_| {
                let relay = self.make(self.slots);
                self.slots += 1;
                self.sim.add(relay, false)
            })
            .collect();
        for &new in &slots {
            self.introduce(new);
        }
        slots
    }

    /// What membership would do when `slot` comes up: peer_up both ways.
    fn introduce(&mut self, slot: usize) {
        let (id, a) = {
            let r = self.sim.node(slot).unwrap();
            (r.id(), SimNode::addr(r))
        };
        for other in self.sim.running() {
            if other == slot {
                continue;
            }
            let (oid, oaddr) = {
                let r = self.sim.node(other).unwrap();
                (r.id(), SimNode::addr(r))
            };
            self.sim.node_mut(other).unwrap().peer_up(id, a);
            self.sim.node_mut(slot).unwrap().peer_up(oid, oaddr);
        }
    }

    /// What membership would do when `slot` is declared gone.
    fn bury(&mut self, id: ServerId) {
        for other in self.sim.running() {
            self.sim.node_mut(other).unwrap().peer_down(id, false);
        }
    }

    fn id(&self, slot: usize) -> ServerId {
        self.sim.node(slot).unwrap().id()
    }

    fn say(&mut self, slot: usize, text: String) {
        let from = format!("u{slot}");
        self.submit(slot, ChatEvent::Message { from, text, cid: 0 });
    }

    fn submit(&mut self, slot: usize, event: ChatEvent) {
        let relay = self.sim.node_mut(slot).unwrap();
        let seq = relay.last_seq() + 1;
        relay.submit(seq, event);
    }

    fn run(&mut self, d: Duration) {
        self.sim.run_for(d);
        self.drain();
    }

    fn drain(&mut self) {
        for slot in self.sim.running() {
            let relay = self.sim.node_mut(slot).unwrap();
            let mut out = Vec::new();
            while let Some(d) = relay.poll_delivery() {
                out.push(d);
            }
            let streams = self.received.entry(slot).or_default();
            for d in out {
                match d {
                    Delivery::Synced { origin, members } => {
                        let s = streams.entry(origin).or_default();
                        assert!(s.synced_at.is_none(), "seed {}: synced twice", self.seed);
                        s.synced_at = Some(s.events.last().map_or(0, |e| e.0));
                        s.members = members.into_iter().collect();
                    }
                    Delivery::Event { origin, seq, event } => {
                        let s = streams.entry(origin).or_default();
                        assert!(
                            s.synced_at.is_some(),
                            "seed {}: event before sync",
                            self.seed
                        );
                        if let Some((last, _)) = s.events.last() {
                            assert!(
                                seq > *last,
                                "seed {}: out of order {seq} after {last}",
                                self.seed
                            );
                        }
                        match &event {
                            ChatEvent::Joined { name } => {
                                s.members.insert(name.clone());
                            }
                            ChatEvent::Left { name, .. } => {
                                s.members.remove(name);
                            }
                            ChatEvent::Message { .. } | ChatEvent::Unknown { .. } => {}
                        }
                        s.events.push((seq, event));
                    }
                    Delivery::Resynced {
                        origin,
                        lost,
                        joined,
                        left,
                        ..
                    } => {
                        let s = streams.entry(origin).or_default();
                        for name in &joined {
                            s.members.insert(name.clone());
                        }
                        for name in &left {
                            s.members.remove(name);
                        }
                        s.resyncs.push((lost, joined, left));
                    }
                    Delivery::OriginGone { origin, .. } => {
                        streams.entry(origin).or_default().gone = true;
                    }
                }
            }
        }
    }

    /// Runs until every running server has synced with every other one.
    fn run_until_synced(&mut self, limit: Duration) {
        let start = self.sim.elapsed();
        loop {
            let running = self.sim.running();
            let all_synced = running.iter().all(|r| {
                running
                    .iter()
                    .filter(|o| *o != r)
                    .all(|o| self.stream(*r, self.id(*o)).synced_at.is_some())
            });
            if all_synced {
                return;
            }
            assert!(
                self.sim.elapsed() - start < limit,
                "seed {}: not synced within {limit:?}",
                self.seed
            );
            self.run(10 * MS);
        }
    }

    fn stream(&self, receiver: usize, origin: ServerId) -> Stream {
        self.received
            .get(&receiver)
            .and_then(|m| m.get(&origin))
            .cloned()
            .unwrap_or_default()
    }

    /// Every running receiver got every running origin's events after its
    /// sync point: exactly `from..=last`, no gaps, no duplicates, no resyncs.
    fn assert_complete(&self) {
        for r in self.sim.running() {
            for o in self.sim.running() {
                if r == o {
                    continue;
                }
                let origin = self.sim.node(o).unwrap();
                let s = self.stream(r, origin.id());
                let synced = s
                    .synced_at
                    .unwrap_or_else(|| panic!("seed {}: {r} never synced with {o}", self.seed));
                let seqs: Vec<u64> = s.events.iter().map(|e| e.0).collect();
                let first = seqs.first().copied().unwrap_or(origin.last_seq() + 1);
                let expected: Vec<u64> = (first..=origin.last_seq()).collect();
                assert_eq!(
                    seqs, expected,
                    "seed {}: stream {o} -> {r} (synced at {synced})",
                    self.seed
                );
                assert!(
                    s.resyncs.is_empty(),
                    "seed {}: unexpected resync {o} -> {r}",
                    self.seed
                );
            }
        }
    }
}

fn addr(slot: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 30_000 + slot as u16))
}

fn lossy(loss: f64, duplicate: f64) -> NetConfig {
    NetConfig {
        loss,
        duplicate,
        min_delay: Duration::from_micros(50),
        max_delay: Duration::from_millis(5), // wide spread: heavy reordering
    }
}

#[test]
fn loss_reordering_and_duplication_are_repaired_exactly() {
    let mut c = Cluster::new(1, lossy(0.2, 0.05));
    c.spawn(3);
    c.run_until_synced(Duration::from_secs(2));
    for n in 0..3000 {
        c.say(n % 3, format!("m{n}"));
        c.run(Duration::from_micros(500));
    }
    c.run(Duration::from_secs(3));
    c.assert_complete();
    // Every stream starts at 1: the servers synced before anyone spoke.
    for r in 0..3 {
        for o in 0..3 {
            if r != o {
                assert_eq!(c.stream(r, c.id(o)).events.len(), 1000);
            }
        }
    }
    let stats = c.sim.node(0).unwrap().stats();
    assert!(stats.duplicates > 0 && stats.nacks_sent > 0, "{stats:?}");
}

#[test]
fn loss_at_the_tail_is_noticed_by_status_and_repaired() {
    let mut c = Cluster::new(2, NetConfig::default());
    c.spawn(2);
    c.run(300 * MS);
    c.sim.partition(&[0], &[1]);
    for n in 0..5 {
        c.say(0, format!("tail{n}"));
    }
    c.run(10 * MS); // the data datagrams are lost on the cut link
    c.sim.heal();
    assert!(c.stream(1, c.id(0)).events.is_empty());
    c.run(300 * MS); // nothing new is sent; the next status reveals the gap
    c.assert_complete();
    assert_eq!(c.stream(1, c.id(0)).events.len(), 5);
}

#[test]
fn an_overrun_resyncs_and_reports_exactly_what_was_lost() {
    let mut c = Cluster::new(3, NetConfig::default());
    c.config.retransmit_capacity = 16;
    c.spawn(2);
    c.run_until_synced(Duration::from_secs(1));
    c.submit(0, ChatEvent::Joined { name: "ann".into() });
    c.submit(0, ChatEvent::Joined { name: "bob".into() });
    c.run(300 * MS);
    assert_eq!(c.stream(1, c.id(0)).events.len(), 2);
    c.sim.partition(&[0], &[1]);
    for n in 0..100 {
        c.say(0, format!("lost{n}"));
    }
    c.submit(0, ChatEvent::Joined { name: "cat".into() });
    c.submit(
        0,
        ChatEvent::Left {
            name: "ann".into(),
            reason: LeaveReason::Leave,
        },
    );
    c.run(50 * MS);
    c.sim.heal();
    c.run(500 * MS);
    let s = c.stream(1, c.id(0));
    assert_eq!(s.resyncs.len(), 1, "{:?}", s.resyncs);
    let (lost, joined, left) = &s.resyncs[0];
    assert_eq!(
        *lost, 102,
        "100 messages and 2 membership changes never arrived"
    );
    assert_eq!(joined, &vec!["cat".to_string()]);
    assert_eq!(left, &vec!["ann".to_string()]);
    assert_eq!(
        s.members,
        ["bob", "cat"].into_iter().map(String::from).collect()
    );
    // Afterwards the stream carries on normally.
    c.say(0, "after".into());
    c.run(100 * MS);
    let s = c.stream(1, c.id(0));
    assert_eq!(s.events.last().unwrap().0, 105);
    assert_eq!(c.sim.node(1).unwrap().stats().lost, 102);
}

#[test]
fn a_server_joining_mid_stream_starts_at_the_current_sequence() {
    let mut c = Cluster::new(4, lossy(0.1, 0.0));
    c.spawn(2);
    c.submit(0, ChatEvent::Joined { name: "ann".into() });
    for n in 0..200 {
        c.say(0, format!("early{n}"));
        c.run(MS);
    }
    let late = c.spawn(1)[0];
    c.run(300 * MS);
    let s = c.stream(late, c.id(0));
    assert_eq!(s.synced_at, Some(0), "synced before receiving any event");
    assert!(s.events.is_empty(), "no replay of the past, no bogus gap");
    assert!(s.resyncs.is_empty());
    assert_eq!(
        s.members,
        ["ann".to_string()].into_iter().collect(),
        "state sync carries the members"
    );
    for n in 0..50 {
        c.say(0, format!("late{n}"));
        c.run(MS);
    }
    c.run(500 * MS);
    let s = c.stream(late, c.id(0));
    assert_eq!(s.events.len(), 50);
    assert_eq!(s.events[0].0, 202);
    c.assert_complete();
}

#[test]
fn a_restarted_origin_starts_a_new_sequence_space() {
    let mut c = Cluster::new(5, lossy(0.1, 0.01));
    c.spawn(2);
    c.run_until_synced(Duration::from_secs(2));
    c.submit(0, ChatEvent::Joined { name: "ann".into() });
    for n in 0..10 {
        c.say(0, format!("old{n}"));
    }
    c.run(300 * MS);
    let old = c.id(0);
    c.sim.crash(0);
    c.bury(old);
    c.drain();
    let s = c.stream(1, old);
    assert!(s.gone);
    assert_eq!(s.events.len(), 11);
    let restarted = c.make(0);
    let new = restarted.id();
    c.sim.replace(0, restarted);
    c.received.remove(&0); // a new process: what the old one received is gone
    c.introduce(0);
    c.run_until_synced(Duration::from_secs(2));
    for n in 0..10 {
        c.say(0, format!("new{n}"));
        c.run(MS);
    }
    c.run(500 * MS);
    let s = c.stream(1, new);
    assert_eq!(
        s.events.iter().map(|e| e.0).collect::<Vec<_>>(),
        (1..=10).collect::<Vec<_>>()
    );
    c.assert_complete();
}

#[test]
fn a_peer_that_dies_during_repair_is_no_longer_chased() {
    let mut c = Cluster::new(6, NetConfig::default());
    c.spawn(2);
    c.run(300 * MS);
    let dead = c.id(0);
    c.sim.crash(0);
    // A status from before the crash says events 1..=10 exist.
    let status = Status {
        origin: dead,
        highest: 10,
        oldest: 1,
    };
    let bytes = seal(Kind::RelayStatus, "sim", &status).unwrap();
    let now = c.sim.now();
    c.sim
        .node_mut(1)
        .unwrap()
        .on_datagram(addr(0), Via::Unicast, &bytes, now);
    c.run(200 * MS);
    let chasing = c.sim.node(1).unwrap().stats().nacks_sent;
    assert!(
        chasing >= 3,
        "NACKs repeat while the origin is believed alive ({chasing})"
    );
    c.bury(dead);
    c.run(Duration::from_secs(1));
    assert_eq!(
        c.sim.node(1).unwrap().stats().nacks_sent,
        chasing,
        "no NACKs after peer_down"
    );
    assert!(c.stream(1, dead).gone);
}

#[test]
fn ten_servers_ten_thousand_messages_each_at_twenty_percent_loss() {
    let mut c = Cluster::new(7, lossy(0.2, 0.01));
    c.spawn(10);
    c.run_until_synced(Duration::from_secs(3));
    // Bursts of 5 per origin every 5 ms: 10 × 10,000 messages in 10 s.
    for round in 0..2000 {
        for origin in 0..10 {
            for k in 0..5 {
                c.say(origin, format!("{origin}-{round}-{k}"));
            }
        }
        c.run(5 * MS);
    }
    c.run(Duration::from_secs(3));
    c.assert_complete();
    for r in 0..10 {
        for o in 0..10 {
            if r != o {
                assert_eq!(c.stream(r, c.id(o)).events.len(), 10_000);
            }
        }
    }
}

#[test]
fn junk_relay_datagrams_never_panic() {
    let mut c = Cluster::new(8, NetConfig::default());
    c.spawn(2);
    c.run(300 * MS);
    let now = c.sim.now();
    let relay = c.sim.node_mut(1).unwrap();
    let mut rng = fastrand::Rng::with_seed(8);
    let good = seal(
        Kind::RelayNack,
        "sim",
        &chatty::relay::messages::Nack {
            origin: relay.id(),
            ranges: vec![(1, u64::MAX)],
        },
    )
    .unwrap();
    relay.handle_datagram(addr(0), &good, now); // a huge range is clamped, not a crash
    for _ in 0..5000 {
        let mut d = good.clone();
        for _ in 0..rng.usize(1..4) {
            let i = rng.usize(..d.len());
            d[i] = rng.u8(..);
        }
        relay.handle_datagram(addr(0), &d, now);
    }
    let _ = Instant::now();
}

#[test]
fn a_server_that_dies_with_a_gap_unrepaired_reports_the_loss() {
    let mut c = Cluster::new(9, NetConfig::default());
    c.spawn(2);
    c.run_until_synced(Duration::from_secs(1));
    let origin = c.id(0);
    // Events 1..=3 arrive, 4..=5 are lost, 6 arrives; then the origin dies
    // before it can resend.
    let events: Vec<_> = (1..=6u64)
        .map(|seq| {
            chatty::relay::messages::WireEvent::new(
                seq,
                &ChatEvent::Message {
                    from: "a".into(),
                    text: format!("m{seq}"),
                    cid: 0,
                },
            )
        })
        .collect();
    let keep: Vec<_> = events
        .iter()
        .filter(|e| ![4, 5].contains(&e.seq()))
        .cloned()
        .collect();
    let data = chatty::relay::messages::Data {
        origin,
        events: keep,
    };
    let bytes = seal(Kind::RelayData, "sim", &data).unwrap();
    c.sim.crash(0);
    let now = c.sim.now();
    c.sim
        .node_mut(1)
        .unwrap()
        .on_datagram(addr(0), Via::Unicast, &bytes, now);
    c.bury(origin);
    c.drain();
    let s = c.stream(1, origin);
    assert_eq!(
        s.events.iter().map(|e| e.0).collect::<Vec<_>>(),
        [1, 2, 3, 6],
        "what arrived is delivered, in order"
    );
    assert_eq!(s.resyncs.len(), 1);
    assert_eq!(
        s.resyncs[0].0, 2,
        "the two missing events are reported, not silently dropped"
    );
    assert!(s.gone);
}

#[test]
fn an_event_kind_from_a_newer_server_keeps_its_place() {
    let mut c = Cluster::new(10, NetConfig::default());
    c.spawn(2);
    c.run_until_synced(Duration::from_secs(1));
    c.submit(0, ChatEvent::Unknown { kind: 42 });
    c.say(0, "after the unknown kind".into());
    c.run(200 * MS);
    let s = c.stream(1, c.id(0));
    assert_eq!(s.events.len(), 2, "no gap: the stream carries on");
    assert!(matches!(s.events[0].1, ChatEvent::Unknown { kind: 42 }));
    assert_eq!(c.sim.node(1).unwrap().stats().nacks_sent, 0);
}

#[test]
fn requests_from_strangers_are_not_answered() {
    let mut c = Cluster::new(11, NetConfig::default());
    c.spawn(2);
    c.run_until_synced(Duration::from_secs(1));
    for n in 0..50 {
        c.say(0, format!("m{n}"));
    }
    c.run(100 * MS);
    let origin = c.id(0);
    let now = c.sim.now();
    let nack = seal(
        Kind::RelayNack,
        "sim",
        &chatty::relay::messages::Nack {
            origin,
            ranges: vec![(1, 50)],
        },
    )
    .unwrap();
    let stranger: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let relay = c.sim.node_mut(0).unwrap();
    while relay.poll_transmit().is_some() {}
    let before = relay.stats().retransmitted;
    relay.handle_datagram(stranger, &nack, now);
    assert!(
        relay.poll_transmit().is_none(),
        "a forged source gets nothing back"
    );
    relay.handle_datagram(addr(1), &nack, now);
    assert!(relay.poll_transmit().is_some(), "a known peer is answered");
    assert_eq!(relay.stats().retransmitted - before, 50);
}
