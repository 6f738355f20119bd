//! Two or three real nodes ([`Node`]: membership, relay and the seal gate,
//! as a server runs them) on a fuzzer-driven network (multicast group plus
//! unicast), with forged heartbeats, gossip and leaves, raw datagrams,
//! restarts and graceful leaves.
//!
//! Invariants after every step, per node:
//! * events tell a consistent story (`Up` only for a newcomer, `Suspect`
//!   only for an alive member, `Recovered` only for a suspect one, `Down`
//!   only for a member), and [`Node::members`] is exactly that story;
//! * the relay follows it: one relay origin per member;
//! * never itself as a member; no two members share an address, nor one
//!   with this server;
//! * tombstones stay within `max_tombstones`; every datagram sent fits
//!   [`MAX_DATAGRAM`] and opens.
//!
//! After [`Op::Settle`] in a run without forged input: every node that has
//! not left lists exactly the other such nodes' current incarnations, alive.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use chatty::membership::messages::{Gossip, GossipEntry, Heartbeat, Leave, MemberInfo};
use chatty::membership::{Event, Health, MembershipConfig};
use chatty::node::{Node, NodeConfig, Now};
use chatty::protocol::ServerId;
use chatty::relay::RelayConfig;
use chatty::wire::envelope::{self, Kind};
use chatty::wire::{Destination, Via, MAX_DATAGRAM};

use crate::datagrams::{later, CLUSTER, NOW_MS};

const MAX_IN_FLIGHT: usize = 512;
const SETTLE: Duration = Duration::from_millis(1500);
const STEP: Duration = Duration::from_millis(10);

/// A whole fuzz input.
#[derive(Debug, Arbitrary)]
pub struct Scenario {
    three: bool,
    ops: Vec<Op>,
}

/// One step.
#[derive(Debug, Arbitrary)]
pub enum Op {
    /// Time passes; every node whose deadline came is ticked.
    Advance { ms: u8 },
    /// Deliver one datagram in flight (reordering).
    Deliver { pick: u16 },
    /// Lose one datagram in flight.
    Drop { pick: u16 },
    /// Deliver a copy and keep the original in flight.
    Duplicate { pick: u16 },
    /// Deliver everything in flight, in order.
    DeliverAll,
    /// `node` crashes and restarts as a new incarnation at the same address.
    Restart { node: u8 },
    /// `node` leaves gracefully (it restarts on the next `Restart`).
    Leave { node: u8 },
    /// A well-formed datagram with forged contents.
    Forge {
        to: u8,
        multicast: bool,
        body: Forged,
    },
    /// Raw bytes.
    Raw {
        to: u8,
        multicast: bool,
        bytes: Vec<u8>,
    },
    /// Network healthy, time to converge; then everyone must agree.
    Settle,
}

/// Who a forged datagram speaks of.
#[derive(Debug, Arbitrary)]
pub enum Who {
    /// A node's current incarnation.
    Node(u8),
    /// Some other id.
    Other([u8; 16]),
}

/// A forged membership body. Ports pick one of a few addresses, so forged
/// members clash with real ones.
#[derive(Debug, Arbitrary)]
pub enum Forged {
    /// A heartbeat.
    Heartbeat {
        id: Who,
        client: u8,
        udp: u8,
        heartbeat: u64,
        /// A web address (port 0–3 of its own) or none.
        web: Option<u8>,
    },
    /// A gossip digest.
    Gossip {
        from: Who,
        entries: Vec<(Who, u8, u8, u64, u32)>,
    },
    /// A leave.
    Leave { id: Who, heartbeat: u64 },
}

struct Slot {
    node: Node,
    /// The members as told by events.
    view: BTreeMap<ServerId, Health>,
    left: bool,
}

struct Packet {
    from: SocketAddr,
    to: Destination,
    bytes: Vec<u8>,
}

/// The simulated cluster.
pub struct World {
    nodes: Vec<Slot>,
    config: NodeConfig,
    now: Now,
    in_flight: Vec<Packet>,
    next_incarnation: u64,
    forged: bool,
}

fn udp_addr(slot: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8000 + slot as u16))
}

fn client_addr(slot: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9000 + slot as u16))
}

/// Runs a scenario.
pub fn run(scenario: Scenario) {
    let mut world = World::new(if scenario.three { 3 } else { 2 });
    for op in scenario.ops.into_iter().take(2000) {
        world.step(op);
    }
    world.step(Op::Settle);
}

impl World {
    fn new(count: usize) -> World {
        let mut world = World {
            nodes: Vec::new(),
            config: NodeConfig {
                cluster: CLUSTER.into(),
                multicast: true,
                peers: Vec::new(),
                membership: MembershipConfig {
                    max_tombstones: 4,
                    ..MembershipConfig::default()
                },
                relay: RelayConfig::default(),
                seal: None,
            },
            now: Now {
                mono: Instant::now(),
                unix_ms: NOW_MS,
            },
            in_flight: Vec::new(),
            next_incarnation: 0,
            forged: false,
        };
        for slot in 0..count {
            let node = world.incarnation(slot);
            world.nodes.push(node);
        }
        world
    }

    /// A fresh incarnation; ids grow, as v7 ids do across restarts.
    fn incarnation(&mut self, slot: usize) -> Slot {
        self.next_incarnation += 1;
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&self.next_incarnation.to_be_bytes());
        id[15] = slot as u8;
        let me = MemberInfo {
            web_addr: None,
            id: ServerId::from_bytes(id),
            client_addr: client_addr(slot),
            udp_addr: udp_addr(slot),
        };
        Slot {
            node: Node::new(&self.config, me, self.next_incarnation, self.now),
            view: BTreeMap::new(),
            left: false,
        }
    }

    fn slot(&self, n: u8) -> usize {
        usize::from(n) % self.nodes.len()
    }

    fn step(&mut self, op: Op) {
        match op {
            Op::Advance { ms } => self.advance(Duration::from_millis(u64::from(ms))),
            Op::Deliver { pick } => {
                if let Some(i) = self.pick(pick) {
                    let packet = self.in_flight.remove(i);
                    self.deliver(&packet);
                }
            }
            Op::Drop { pick } => {
                if let Some(i) = self.pick(pick) {
                    self.in_flight.remove(i);
                }
            }
            Op::Duplicate { pick } => {
                if let Some(i) = self.pick(pick) {
                    let p = &self.in_flight[i];
                    let copy = Packet {
                        from: p.from,
                        to: p.to,
                        bytes: p.bytes.clone(),
                    };
                    self.deliver(&copy);
                }
            }
            Op::DeliverAll => {
                let batch = std::mem::take(&mut self.in_flight);
                for packet in &batch {
                    self.deliver(packet);
                }
            }
            Op::Restart { node } => {
                let slot = self.slot(node);
                self.nodes[slot] = self.incarnation(slot);
                self.after_input(slot);
            }
            Op::Leave { node } => {
                let slot = self.slot(node);
                let now = self.now;
                self.nodes[slot].node.leave(now);
                self.nodes[slot].left = true;
                self.after_input(slot);
            }
            Op::Forge {
                to,
                multicast,
                body,
            } => {
                let bytes = self.forge(body);
                self.inject(to, multicast, bytes);
            }
            Op::Raw {
                to,
                multicast,
                bytes,
            } => self.inject(to, multicast, bytes),
            Op::Settle => self.settle(),
        }
    }

    fn pick(&self, pick: u16) -> Option<usize> {
        (!self.in_flight.is_empty()).then(|| usize::from(pick) % self.in_flight.len())
    }

    fn inject(&mut self, to: u8, multicast: bool, bytes: Vec<u8>) {
        self.forged = true;
        let to = if multicast {
            Destination::Group
        } else {
            Destination::Unicast(udp_addr(self.slot(to)))
        };
        let packet = Packet {
            from: SocketAddr::from(([127, 0, 0, 1], 6666)),
            to,
            bytes,
        };
        self.deliver(&packet);
    }

    fn advance(&mut self, by: Duration) {
        self.now = later(self.now, by);
        for slot in 0..self.nodes.len() {
            self.after_input(slot);
        }
    }

    fn deliver(&mut self, packet: &Packet) {
        let now = self.now;
        for slot in 0..self.nodes.len() {
            let via = match packet.to {
                Destination::Group if udp_addr(slot) != packet.from => Via::Multicast,
                Destination::Unicast(to) if to == udp_addr(slot) => Via::Unicast,
                _ => continue,
            };
            self.nodes[slot]
                .node
                .handle_datagram(packet.from, via, &packet.bytes, now);
            self.after_input(slot);
        }
    }

    /// What the driver does after every input: tick if due, send, read events.
    fn after_input(&mut self, slot: usize) {
        let now = self.now;
        let max_tombstones = self.config.membership.max_tombstones;
        let slot_state = &mut self.nodes[slot];
        let (node, view) = (&mut slot_state.node, &mut slot_state.view);
        if node.next_deadline() <= now.mono {
            node.handle_tick(now);
        }
        while let Some(tx) = node.poll_transmit() {
            assert!(tx.bytes.len() <= MAX_DATAGRAM, "oversized datagram");
            envelope::open(&tx.bytes).expect("sent a datagram that does not open");
            self.in_flight.push(Packet {
                from: udp_addr(slot),
                to: tx.to,
                bytes: tx.bytes,
            });
        }
        if self.in_flight.len() > MAX_IN_FLIGHT {
            let excess = self.in_flight.len() - MAX_IN_FLIGHT;
            self.in_flight.drain(..excess);
        }
        while let Some(event) = node.poll_event() {
            match event {
                Event::Up(info) => {
                    let old = view.insert(info.id, Health::Alive);
                    assert!(old.is_none(), "up twice without a down");
                }
                Event::Suspect(id) => {
                    let old = view.insert(id, Health::Suspect);
                    assert_eq!(old, Some(Health::Alive), "suspect but not alive");
                }
                Event::Recovered(id) => {
                    let old = view.insert(id, Health::Alive);
                    assert_eq!(old, Some(Health::Suspect), "recovered but not suspect");
                }
                Event::Down(info, _) => {
                    assert!(view.remove(&info.id).is_some(), "down but not a member");
                }
            }
        }
        while node.poll_delivery().is_some() {}
        let me = node.me();
        let members = node.members();
        let listed: BTreeMap<ServerId, Health> =
            members.iter().map(|m| (m.info.id, m.health)).collect();
        assert_eq!(&listed, view, "members() disagrees with the events");
        assert_eq!(
            node.footprint().origins,
            members.len(),
            "one relay origin per member"
        );
        assert!(!listed.contains_key(&me.id), "lists itself");
        let mut clients = vec![me.client_addr];
        let mut udps = vec![me.udp_addr];
        for m in &members {
            assert!(
                !clients.contains(&m.info.client_addr),
                "two members, one client address"
            );
            assert!(
                !udps.contains(&m.info.udp_addr),
                "two members, one UDP address"
            );
            clients.push(m.info.client_addr);
            udps.push(m.info.udp_addr);
        }
        assert!(node.membership().tombstone_count() <= max_tombstones);
    }

    fn settle(&mut self) {
        let rounds = SETTLE.as_millis() / STEP.as_millis();
        for _ in 0..rounds {
            self.advance(STEP);
            while !self.in_flight.is_empty() {
                let batch = std::mem::take(&mut self.in_flight);
                for packet in &batch {
                    self.deliver(packet);
                }
            }
        }
        if self.forged {
            return;
        }
        let live: Vec<ServerId> = self
            .nodes
            .iter()
            .filter(|n| !n.left)
            .map(|n| n.node.me().id)
            .collect();
        for node in self.nodes.iter().filter(|n| !n.left) {
            let me = node.node.me().id;
            let expected: BTreeMap<ServerId, Health> = live
                .iter()
                .filter(|id| **id != me)
                .map(|id| (*id, Health::Alive))
                .collect();
            assert_eq!(node.view, expected, "membership did not converge");
        }
    }

    fn who(&self, who: &Who) -> ServerId {
        match who {
            Who::Node(n) => self.nodes[self.slot(*n)].node.me().id,
            Who::Other(bytes) => ServerId::from_bytes(*bytes),
        }
    }

    fn forge(&self, body: Forged) -> Vec<u8> {
        // Ports 0–3 of each kind: the nodes' own addresses, or one spare.
        let client = |p: u8| client_addr(usize::from(p % 4)).to_string();
        let udp = |p: u8| udp_addr(usize::from(p % 4)).to_string();
        let sealed = match body {
            Forged::Heartbeat {
                id,
                client: c,
                udp: u,
                heartbeat,
                web,
            } => {
                let hb = Heartbeat {
                    web_addr: web.map(|p| format!("127.0.0.1:{}", 7900 + u16::from(p % 4))),
                    id: self.who(&id),
                    client_addr: client(c),
                    udp_addr: udp(u),
                    heartbeat,
                };
                envelope::seal(Kind::Heartbeat, CLUSTER, &hb)
            }
            Forged::Gossip { from, entries } => {
                let gossip = Gossip {
                    from: self.who(&from),
                    entries: entries
                        .into_iter()
                        .take(12)
                        .map(|(id, c, u, heartbeat, age_ms)| GossipEntry {
                            web_addr: None,
                            id: self.who(&id),
                            client_addr: client(c),
                            udp_addr: udp(u),
                            heartbeat,
                            age_ms,
                        })
                        .collect(),
                };
                envelope::seal(Kind::Gossip, CLUSTER, &gossip)
            }
            Forged::Leave { id, heartbeat } => {
                let leave = Leave {
                    id: self.who(&id),
                    heartbeat,
                };
                envelope::seal(Kind::Leave, CLUSTER, &leave)
            }
        };
        sealed.unwrap_or_default()
    }
}
