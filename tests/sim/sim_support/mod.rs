//! Shared scaffolding for the simulations of `tests/sim/`: a cluster of
//! real nodes ([`Node`]: membership, relay and the seal gate composed,
//! exactly what a server runs) in the deterministic simulator, the record
//! of everything they deliver, and the checks made from it.
//!
//! Simulated addresses are labels, but loopback ones (127.0.0.1:10000+slot
//! for clients, :20000+slot for UDP).
#![allow(dead_code)] // each simulation module uses its own part

pub mod checks;
pub mod rooms;
pub mod seeds;
pub mod streams;
pub mod views;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use chatty::membership::{Event, MemberInfo, MembershipConfig};
use chatty::node::{Node, NodeConfig};
use chatty::protocol::ServerId;
use chatty::relay::{ChatEvent, RelayConfig};
use chatty::sim::{NetConfig, Simulator};

use streams::{Stream, Truth};

/// The server in `slot`, incarnation `n` (counted over the whole world):
/// its id is time-ordered, like UUID v7, so a restarted server's id is
/// larger than its predecessor's; `noise` is the rest of it.
pub fn incarnation(n: u64, noise: u64, slot: usize) -> MemberInfo {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&n.to_be_bytes());
    bytes[8..].copy_from_slice(&noise.to_be_bytes());
    MemberInfo {
        web_addr: None,
        id: ServerId::from_bytes(bytes),
        client_addr: addr(10_000, slot),
        udp_addr: udp_addr(slot),
    }
}

/// One millisecond.
pub const MS: Duration = Duration::from_millis(1);
/// The cluster name every simulated node uses.
pub const CLUSTER: &str = "sim";

/// A simulated cluster of real nodes, and the truth to check it against.
pub struct Cluster {
    /// The simulated world.
    pub sim: Simulator<Node>,
    /// What new nodes are configured with (change it before `spawn`).
    pub config: NodeConfig,
    /// Peers-only worlds: every node is told about slot 0 only.
    pub hub_only: bool,
    /// The seed this run was made from.
    pub seed: u64,
    /// What every incarnation submitted.
    pub truth: Truth,
    next_id: u64,
    slots: usize,
    /// `streams[(receiver, origin)]`: what the receiver was delivered.
    streams: BTreeMap<(ServerId, ServerId), Stream>,
    /// Membership events per incarnation, not yet taken.
    events: BTreeMap<ServerId, Vec<Event>>,
    /// `ups[(server, peer)]`: the server's last sequence number each time
    /// its membership saw the peer come up. Its stream to that peer starts
    /// right after.
    ups: BTreeMap<(ServerId, ServerId), Vec<u64>>,
    /// `promises[(origin, receiver)]`: the events the origin submitted
    /// while it listed the receiver's members (had synced with it).
    promises: BTreeMap<(ServerId, ServerId), Vec<u64>>,
    /// Incarnations that replaced an earlier one in their slot.
    restarted: BTreeSet<ServerId>,
}

/// A loopback label for slot `slot`, port `base + slot`.
pub fn addr(base: u16, slot: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], base + slot as u16))
}

/// The UDP address of the node in `slot`.
pub fn udp_addr(slot: usize) -> SocketAddr {
    addr(20_000, slot)
}

/// A network that loses `loss`, duplicates `duplicate`, and reorders
/// (delays spread from 50 µs to `max_delay_ms`).
pub fn lossy(loss: f64, duplicate: f64, max_delay_ms: u64) -> NetConfig {
    NetConfig {
        loss,
        duplicate,
        min_delay: Duration::from_micros(50),
        max_delay: Duration::from_millis(max_delay_ms),
    }
}

/// Every node's configuration, on the multicast group, without a key.
pub fn node_config() -> NodeConfig {
    NodeConfig {
        cluster: CLUSTER.into(),
        multicast: true,
        peers: Vec::new(),
        membership: MembershipConfig::default(),
        relay: RelayConfig::default(),
        seal: None,
    }
}

impl Cluster {
    /// An empty cluster on a network that behaves as `net`.
    pub fn new(seed: u64, net: NetConfig) -> Cluster {
        Cluster {
            sim: Simulator::new(seed, net),
            config: node_config(),
            hub_only: false,
            seed,
            truth: Truth::default(),
            next_id: 0,
            slots: 0,
            streams: BTreeMap::new(),
            events: BTreeMap::new(),
            ups: BTreeMap::new(),
            promises: BTreeMap::new(),
            restarted: BTreeSet::new(),
        }
    }

    /// No multicast: nodes find each other through slot 0, the hub.
    pub fn peers_only(mut self) -> Cluster {
        self.config.multicast = false;
        self.hub_only = true;
        self
    }

    /// A new incarnation for `slot`. Ids are time-ordered, like UUID v7:
    /// a restarted server's id is larger than its predecessor's.
    fn make(&mut self, slot: usize) -> Node {
        self.next_id += 1;
        let me = incarnation(self.next_id, self.sim.rng().u64(..), slot);
        let mut config = self.config.clone();
        if self.hub_only && slot != 0 {
            config.peers = vec![udp_addr(0)];
        }
        let seed = self.seed ^ (self.next_id << 32);
        Node::new(&config, me, seed, self.sim.clock())
    }

    /// Starts `n` new nodes, each in a fresh slot.
    pub fn spawn(&mut self, n: usize) -> Vec<usize> {
        (0..n)
            .map(|_| {
                let node = self.make(self.slots);
                self.slots += 1;
                self.sim.add(node, self.config.multicast)
            })
            .collect()
    }

    /// SIGKILL, then start again in the same slot: same addresses, new id.
    pub fn restart(&mut self, slot: usize) -> MemberInfo {
        self.sim.crash(slot);
        let node = self.make(slot);
        let info = node.me();
        self.sim.replace(slot, node);
        self.restarted.insert(info.id);
        info
    }

    /// The node in `slot`.
    pub fn node(&self, slot: usize) -> &Node {
        self.sim.node(slot).expect("a running node")
    }

    /// The node in `slot`, mutably.
    pub fn node_mut(&mut self, slot: usize) -> &mut Node {
        self.sim.node_mut(slot).expect("a running node")
    }

    /// The current incarnation in `slot`.
    pub fn id(&self, slot: usize) -> ServerId {
        self.node(slot).me().id
    }

    /// The ids of the running nodes.
    pub fn running_ids(&self) -> Vec<ServerId> {
        self.sim.running().iter().map(|s| self.id(*s)).collect()
    }

    /// Runs the world for `d`, then files what every node delivered.
    pub fn run(&mut self, d: Duration) {
        self.sim.run_for(d);
        self.drain();
    }

    /// Files every node's membership events and relay deliveries.
    pub fn drain(&mut self) {
        for slot in self.sim.running() {
            let node = self.sim.node_mut(slot).expect("running");
            let me = node.me().id;
            let last_seq = node.relay().last_seq();
            let events: Vec<Event> = std::iter::from_fn(|| node.poll_event()).collect();
            let deliveries: Vec<_> = std::iter::from_fn(|| node.poll_delivery()).collect();
            for event in &events {
                if let Event::Up(info) = event {
                    // Nothing was submitted since the Up: `last_seq` is
                    // what the relay noted as this peer's starting point.
                    self.ups.entry((me, info.id)).or_default().push(last_seq);
                }
            }
            self.events.entry(me).or_default().extend(events);
            let mut origins = Vec::new();
            for delivery in deliveries {
                let origin = checks::origin_of(&delivery);
                let stream = self.streams.entry((me, origin)).or_default();
                stream.record(origin, delivery, &self.truth);
                origins.push(origin);
            }
            for origin in origins {
                self.streams[&(me, origin)].check_gaps(origin);
            }
        }
    }

    /// Takes the membership events of the node in `slot` so far.
    pub fn take_events(&mut self, slot: usize) -> Vec<Event> {
        let id = self.id(slot);
        self.events.remove(&id).unwrap_or_default()
    }

    /// The node in `slot` submits `event` (as its room would, numbered
    /// next), and promises it to every server whose members it lists.
    pub fn submit(&mut self, slot: usize, event: ChatEvent) -> u64 {
        let origin = self.id(slot);
        let seq = self.truth.submitted(origin, &event);
        let now = self.sim.clock();
        self.node_mut(slot).submit(seq, event, now);
        let listed: Vec<ServerId> = self
            .streams
            .iter()
            .filter(|((receiver, _), stream)| *receiver == origin && stream.listing())
            .map(|((_, listed), _)| *listed)
            .collect();
        for receiver in listed {
            self.promises
                .entry((origin, receiver))
                .or_default()
                .push(seq);
        }
        seq
    }

    /// The node in `slot` says `text`.
    pub fn say(&mut self, slot: usize, text: String) -> u64 {
        let from = format!("u{slot}");
        self.submit(
            slot,
            ChatEvent::Message {
                from,
                text,
                room: "#lobby".into(),
                cid: 0,
                action: false,
            },
        )
    }

    /// What the node in `slot` was delivered of `origin`.
    pub fn stream(&self, slot: usize, origin: ServerId) -> &Stream {
        const NOTHING: &Stream = &Stream::EMPTY;
        self.streams
            .get(&(self.id(slot), origin))
            .unwrap_or(NOTHING)
    }
}
