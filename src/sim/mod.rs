//! A deterministic network simulator for real nodes (the `sim` feature).
//!
//! Nodes are sans-IO [`crate::node::Node`]s, or anything else that is a
//! [`SimNode`]. The simulator owns the clock (simulated: an `Instant` base
//! plus an offset, and a wall clock that moves with it; nothing ever
//! sleeps), a seeded RNG, and the network: every datagram is the real
//! encoded (and, with a key, sealed) bytes, checked against the datagram
//! size limit, and may be lost, duplicated or delayed (which reorders it)
//! on its way. Links can be cut to make partitions. Same seed, same run, so
//! a failing seed can be replayed exactly.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::node::{Node, Now};
use crate::wire::{Destination, Transmit, Via, MAX_DATAGRAM};

/// The simulated wall clock at the start of every run (Unix ms, in 2027):
/// fixed, so sealed runs replay exactly too.
pub const SIM_EPOCH_MS: u64 = 1_800_000_000_000;

/// A state machine the simulator can drive.
pub trait SimNode {
    /// The node's unicast address.
    fn addr(&self) -> SocketAddr;
    /// A datagram arrives.
    fn on_datagram(&mut self, from: SocketAddr, via: Via, bytes: &[u8], now: Now);
    /// Time passes.
    fn on_tick(&mut self, now: Now);
    /// When the node next wants `on_tick`. It may change only with an
    /// input (`on_datagram`, `on_tick`, or whatever a caller does through
    /// [`Simulator::node_mut`]): the simulator asks again only then.
    fn deadline(&self) -> Instant;
    /// The next datagram the node wants to send.
    fn transmit(&mut self) -> Option<Transmit>;
}

impl SimNode for Node {
    fn addr(&self) -> SocketAddr {
        self.me().udp_addr
    }
    fn on_datagram(&mut self, from: SocketAddr, via: Via, bytes: &[u8], now: Now) {
        self.handle_datagram(from, via, bytes, now);
    }
    fn on_tick(&mut self, now: Now) {
        self.handle_tick(now);
    }
    fn deadline(&self) -> Instant {
        self.next_deadline()
    }
    fn transmit(&mut self) -> Option<Transmit> {
        self.poll_transmit()
    }
}

/// How the simulated network misbehaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NetConfig {
    /// Probability that a datagram is lost.
    pub loss: f64,
    /// Probability that a datagram is delivered twice.
    pub duplicate: f64,
    /// Shortest one-way delay.
    pub min_delay: Duration,
    /// Longest one-way delay; a spread reorders datagrams.
    pub max_delay: Duration,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            loss: 0.0,
            duplicate: 0.0,
            min_delay: Duration::from_micros(100),
            max_delay: Duration::from_micros(500),
        }
    }
}

/// Network counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Datagrams handed to the network.
    pub sent: u64,
    /// Datagrams delivered.
    pub delivered: u64,
    /// Datagrams dropped at random.
    pub lost: u64,
    /// Datagrams dropped by a cut link.
    pub cut: u64,
}

struct InFlight {
    at: Duration,
    order: u64,
    to: usize,
    from: SocketAddr,
    via: Via,
    bytes: Vec<u8>,
}

impl PartialEq for InFlight {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.order) == (other.at, other.order)
    }
}
impl Eq for InFlight {}
impl PartialOrd for InFlight {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for InFlight {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.order).cmp(&(other.at, other.order))
    }
}

/// The simulated world.
pub struct Simulator<N: SimNode> {
    base: Instant,
    elapsed: Duration,
    rng: fastrand::Rng,
    net: NetConfig,
    nodes: Vec<Option<N>>,
    /// Each slot's `deadline()` as of its last input, so a step does not
    /// ask every node (each asks every member it tracks): with fifty nodes
    /// that was most of a simulation's time. `None`: crashed, or to be
    /// asked again (after outside access through `node_mut`).
    deadlines: Vec<Option<Instant>>,
    on_group: Vec<bool>,
    cut: HashSet<(usize, usize)>,
    in_flight: BinaryHeap<Reverse<InFlight>>,
    order: u64,
    stats: NetStats,
}

impl<N: SimNode> Simulator<N> {
    /// An empty world with its own seeded RNG.
    pub fn new(seed: u64, net: NetConfig) -> Self {
        Simulator {
            base: Instant::now(),
            elapsed: Duration::ZERO,
            rng: fastrand::Rng::with_seed(seed),
            net,
            nodes: Vec::new(),
            deadlines: Vec::new(),
            on_group: Vec::new(),
            cut: HashSet::new(),
            in_flight: BinaryHeap::new(),
            order: 0,
            stats: NetStats::default(),
        }
    }

    /// The simulated current time.
    pub fn now(&self) -> Instant {
        self.base + self.elapsed
    }

    /// The simulated time as a node takes it: monotonic and wall clock.
    pub fn clock(&self) -> Now {
        Now {
            mono: self.now(),
            unix_ms: SIM_EPOCH_MS + self.elapsed.as_millis() as u64,
        }
    }

    /// Simulated time since the start.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// A random number from the simulator's RNG (for scenario choices).
    pub fn rng(&mut self) -> &mut fastrand::Rng {
        &mut self.rng
    }

    /// Changes the network's behaviour from now on.
    pub fn set_net(&mut self, net: NetConfig) {
        self.net = net;
    }

    /// Network counters so far.
    pub fn stats(&self) -> NetStats {
        self.stats
    }

    /// Adds a node; `on_group` says whether it is on the multicast group.
    /// Returns its slot.
    pub fn add(&mut self, node: N, on_group: bool) -> usize {
        self.nodes.push(Some(node));
        self.deadlines.push(None);
        self.on_group.push(on_group);
        self.nodes.len() - 1
    }

    /// Puts a new node in an existing slot (a restart: same address, new state).
    pub fn replace(&mut self, slot: usize, node: N) {
        self.nodes[slot] = Some(node);
        self.deadlines[slot] = None;
    }

    /// Kills a node on the spot (SIGKILL): it sends and receives nothing more.
    pub fn crash(&mut self, slot: usize) -> Option<N> {
        self.nodes[slot].take()
    }

    /// The node in `slot`, if running.
    pub fn node(&self, slot: usize) -> Option<&N> {
        self.nodes.get(slot).and_then(Option::as_ref)
    }

    /// The node in `slot`, mutably, if running.
    pub fn node_mut(&mut self, slot: usize) -> Option<&mut N> {
        if let Some(deadline) = self.deadlines.get_mut(slot) {
            *deadline = None; // the caller may give it input
        }
        self.nodes.get_mut(slot).and_then(Option::as_mut)
    }

    /// The deadline of the node in `slot`, asking it only after an input.
    fn deadline(&mut self, slot: usize) -> Option<Instant> {
        let node = self.nodes[slot].as_ref()?;
        Some(*self.deadlines[slot].get_or_insert_with(|| node.deadline()))
    }

    /// Slots of running nodes.
    pub fn running(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|i| self.nodes[*i].is_some())
            .collect()
    }

    /// Cuts every link between the two groups of slots, both ways.
    pub fn partition(&mut self, a: &[usize], b: &[usize]) {
        for &x in a {
            for &y in b {
                self.cut.insert((x, y));
                self.cut.insert((y, x));
            }
        }
    }

    /// Restores every link.
    pub fn heal(&mut self) {
        self.cut.clear();
    }

    /// Runs the world for `d` of simulated time.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.elapsed + d;
        // A node whose deadline stays in the past after its tick would spin
        // forever at one instant; fail loudly instead of hanging the test.
        let mut same_instant = 0u32;
        let mut last_instant = self.elapsed;
        loop {
            let base = self.base;
            let next_node = (0..self.nodes.len())
                .filter_map(|slot| self.deadline(slot))
                .map(|d| d.saturating_duration_since(base))
                .min();
            let next_packet = self.in_flight.peek().map(|Reverse(p)| p.at);
            let next = match (next_node, next_packet) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) => a,
                (None, Some(b)) => b,
                (None, None) => end,
            };
            if next > end {
                self.elapsed = end;
                return;
            }
            self.elapsed = self.elapsed.max(next);
            if self.elapsed == last_instant {
                same_instant += 1;
                assert!(
                    same_instant < 10_000,
                    "livelock at {:?}: a node's deadline does not advance",
                    self.elapsed
                );
            } else {
                same_instant = 0;
                last_instant = self.elapsed;
            }
            let now = self.clock();
            while let Some(Reverse(p)) = self.in_flight.peek() {
                if p.at > self.elapsed {
                    break;
                }
                let Reverse(p) = self.in_flight.pop().expect("peeked");
                if let Some(node) = self.nodes[p.to].as_mut() {
                    self.stats.delivered += 1;
                    node.on_datagram(p.from, p.via, &p.bytes, now);
                    self.deadlines[p.to] = None;
                }
            }
            for slot in 0..self.nodes.len() {
                if self.deadline(slot).is_some_and(|d| d <= now.mono) {
                    if let Some(node) = self.nodes[slot].as_mut() {
                        node.on_tick(now);
                        self.deadlines[slot] = None;
                    }
                }
            }
            self.collect_transmits();
        }
    }

    fn collect_transmits(&mut self) {
        for from in 0..self.nodes.len() {
            while let Some(node) = self.nodes[from].as_mut() {
                let Some(tx) = node.transmit() else { break };
                let src = node.addr();
                assert!(
                    tx.bytes.len() <= MAX_DATAGRAM,
                    "node {from} sent a {}-byte datagram",
                    tx.bytes.len()
                );
                match tx.to {
                    Destination::Group => {
                        if self.on_group[from] {
                            for to in 0..self.nodes.len() {
                                if to != from && self.on_group[to] {
                                    self.send(from, to, src, Via::Multicast, &tx.bytes);
                                }
                            }
                        }
                    }
                    Destination::Unicast(addr) => {
                        let target = (0..self.nodes.len())
                            .find(|&i| self.nodes[i].as_ref().is_some_and(|n| n.addr() == addr));
                        if let Some(to) = target {
                            self.send(from, to, src, Via::Unicast, &tx.bytes);
                        } else {
                            self.stats.sent += 1;
                            self.stats.lost += 1; // nobody there
                        }
                    }
                }
            }
        }
    }

    fn send(&mut self, from: usize, to: usize, src: SocketAddr, via: Via, bytes: &[u8]) {
        self.stats.sent += 1;
        if self.cut.contains(&(from, to)) {
            self.stats.cut += 1;
            return;
        }
        if self.rng.f64() < self.net.loss {
            self.stats.lost += 1;
            return;
        }
        let copies = if self.rng.f64() < self.net.duplicate {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let spread = self.net.max_delay.saturating_sub(self.net.min_delay);
            let delay = self.net.min_delay + spread.mul_f64(self.rng.f64());
            self.order += 1;
            self.in_flight.push(Reverse(InFlight {
                at: self.elapsed + delay,
                order: self.order,
                to,
                from: src,
                via,
                bytes: bytes.to_vec(),
            }));
        }
    }
}
