//! Two or three real nodes ([`Node`]) on a network the fuzzer drives: it
//! decides which datagram arrives next, which is dropped or duplicated,
//! when time passes, when a server restarts or leaves, and it injects
//! forged, corrupted and raw datagrams. Membership is the nodes' own: peers
//! come up when heartbeats get through and go when they stop, so the relay
//! sees exactly the Up/Down a server would.
//!
//! Invariants checked after every step, per receiver and origin:
//! * one relay origin per member (the relay follows membership);
//! * an origin's stream at a receiver runs from a `Synced` to an
//!   `OriginGone`: no event before the first snapshot, one first snapshot
//!   per stream, sequence numbers strictly increasing (in order, exactly
//!   once), and every number skipped covered by a reported loss;
//! * buffers stay within their bounds ([`Footprint`]); every datagram
//!   sent fits [`MAX_DATAGRAM`] and opens.
//!
//! For receivers that only ever saw honest traffic, also: every event equals
//! what its origin submitted, and after [`Op::Settle`] (everyone running,
//! network healthy, time to converge) every server lists every other, each
//! stream is complete from its snapshot on (each later event delivered or
//! reported lost), and the receiver's view of the origin's members equals
//! the origin's own.
//!
//! [`Footprint`]: chatty::relay::Footprint

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use chatty::membership::messages::MemberInfo;
use chatty::membership::{Event, MembershipConfig};
use chatty::node::{Node, NodeConfig, Now};
use chatty::protocol::{LeaveReason, ServerId};
use chatty::relay::{ChatEvent, RelayConfig};
use chatty::wire::envelope;
use chatty::wire::{Destination, Via, MAX_DATAGRAM};

use crate::datagrams::{later, CLUSTER, NOW_MS};

mod forged;
mod streams;

pub use forged::{Forged, Seq, Who};
use streams::{project, Stream};

/// Most datagrams in flight; the oldest are lost beyond this.
const MAX_IN_FLIGHT: usize = 512;
/// Simulated time [`Op::Settle`] gives the nodes to converge: past the
/// failure detector's `dead_after`, with room for the syncs after it.
const SETTLE: Duration = Duration::from_millis(2500);
const STEP: Duration = Duration::from_millis(10);
/// Snapshot parts a receiver may hold. The relay itself has no such cap
/// (parts come from the network); a scenario cannot reach it, so this only
/// catches parts piling up across snapshots.
const MAX_HELD_PARTS: usize = 4096;
/// Events a relay may stash for origins not yet up (its own bound is 16
/// origins of 256 events).
const MAX_STASHED: usize = 16 * 256;

/// A whole fuzz input.
#[derive(Debug, Arbitrary)]
pub struct Scenario {
    three: bool,
    small_buffers: bool,
    ops: Vec<Op>,
}

/// One step.
#[derive(Debug, Arbitrary)]
pub enum Op {
    /// A local event on `node`.
    Submit { node: u8, event: Local },
    /// Time passes; every node whose deadline came is ticked.
    Advance { ms: u8 },
    /// Deliver one datagram in flight (any of them: reordering).
    Deliver { pick: u16 },
    /// Lose one datagram in flight.
    Drop { pick: u16 },
    /// Deliver a copy of one datagram and keep the original in flight.
    Duplicate { pick: u16 },
    /// Deliver everything in flight, in order.
    DeliverAll,
    /// Corrupt one byte of a datagram in flight.
    Corrupt { pick: u16, at: u16, xor: u8 },
    /// `node` crashes and restarts as a new incarnation at the same address.
    Restart { node: u8 },
    /// `node` leaves gracefully; it restarts at the next `Restart` of it
    /// or at `Settle`.
    Leave { node: u8 },
    /// A well-formed relay datagram with forged contents, from a spoofed
    /// address.
    Forge { to: u8, from: u8, body: Forged },
    /// Raw bytes from a spoofed address.
    Raw { to: u8, from: u8, bytes: Vec<u8> },
    /// Everyone running, network healthy, time to converge; then
    /// completeness.
    Settle,
}

/// A local event a server submits (always valid, as the room checks it).
#[derive(Debug, Arbitrary)]
pub enum Local {
    /// Someone joins.
    Join { name: u8 },
    /// Someone leaves.
    Leave { name: u8 },
    /// Someone says something of `len` bytes.
    Say { name: u8, len: u16 },
}

struct Slot {
    node: Node,
    /// Members as membership's events tell them.
    up: BTreeSet<ServerId>,
    /// Streams in progress, by origin.
    streams: BTreeMap<ServerId, Stream>,
    /// Received something not sent by an honest node.
    tainted: bool,
    left: bool,
}

struct Packet {
    from: SocketAddr,
    to: Destination,
    bytes: Vec<u8>,
}

/// The simulated cluster and the truth to check it against.
pub struct World {
    nodes: Vec<Slot>,
    config: NodeConfig,
    now: Now,
    in_flight: Vec<Packet>,
    next_incarnation: u64,
    /// Everything each incarnation submitted, by sequence number - 1.
    history: BTreeMap<ServerId, Vec<ChatEvent>>,
    /// Each incarnation's own member list.
    local_members: BTreeMap<ServerId, BTreeSet<String>>,
}

fn addr(slot: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 7000 + slot as u16))
}

fn name(n: u8) -> String {
    format!("user{}", n % 8)
}

/// Runs a scenario.
pub fn run(scenario: Scenario) {
    let mut world = World::new(if scenario.three { 3 } else { 2 }, scenario.small_buffers);
    for op in scenario.ops.into_iter().take(2000) {
        world.step(op);
    }
    world.step(Op::Settle);
}

impl World {
    fn new(count: usize, small: bool) -> World {
        let relay = if small {
            RelayConfig {
                retransmit_capacity: 8,
                max_buffered: 8,
                ..RelayConfig::default()
            }
        } else {
            RelayConfig::default()
        };
        let mut world = World {
            nodes: Vec::new(),
            config: NodeConfig {
                cluster: CLUSTER.into(),
                multicast: true,
                peers: Vec::new(),
                membership: MembershipConfig::default(),
                relay,
                seal: None,
            },
            now: Now {
                mono: Instant::now(),
                unix_ms: NOW_MS,
            },
            in_flight: Vec::new(),
            next_incarnation: 0,
            history: BTreeMap::new(),
            local_members: BTreeMap::new(),
        };
        for slot in 0..count {
            let slot = world.incarnation(slot);
            world.nodes.push(slot);
        }
        world
    }

    fn incarnation(&mut self, slot: usize) -> Slot {
        self.next_incarnation += 1;
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&self.next_incarnation.to_be_bytes());
        id[15] = slot as u8;
        let me = MemberInfo {
            web_addr: None,
            id: ServerId::from_bytes(id),
            client_addr: SocketAddr::from(([127, 0, 0, 1], 9000 + slot as u16)),
            udp_addr: addr(slot),
        };
        self.history.insert(me.id, Vec::new());
        self.local_members.insert(me.id, BTreeSet::new());
        Slot {
            node: Node::new(&self.config, me, self.next_incarnation, self.now),
            up: BTreeSet::new(),
            streams: BTreeMap::new(),
            tainted: false,
            left: false,
        }
    }

    fn slot(&self, n: u8) -> usize {
        usize::from(n) % self.nodes.len()
    }

    fn id(&self, slot: usize) -> ServerId {
        self.nodes[slot].node.me().id
    }

    fn step(&mut self, op: Op) {
        match op {
            Op::Submit { node, event } => self.submit(self.slot(node), event),
            Op::Advance { ms } => self.advance(Duration::from_millis(u64::from(ms))),
            Op::Deliver { pick } => {
                if let Some(i) = self.pick(pick) {
                    let packet = self.in_flight.remove(i);
                    self.deliver(&packet, false);
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
                    self.deliver(&copy, false);
                }
            }
            Op::DeliverAll => self.deliver_all(),
            Op::Corrupt { pick, at, xor } => {
                if let Some(i) = self.pick(pick) {
                    let mut packet = self.in_flight.remove(i);
                    let at = usize::from(at) % packet.bytes.len().max(1);
                    if let Some(b) = packet.bytes.get_mut(at) {
                        *b ^= xor;
                    }
                    self.deliver(&packet, xor != 0);
                }
            }
            Op::Restart { node } => self.restart(self.slot(node)),
            Op::Leave { node } => {
                let slot = self.slot(node);
                let now = self.now;
                self.nodes[slot].node.leave(now);
                self.nodes[slot].left = true;
                self.after_input(slot);
            }
            Op::Forge { to, from, body } => {
                if let Some(bytes) = self.forge(body) {
                    self.inject(to, from, bytes);
                }
            }
            Op::Raw { to, from, bytes } => self.inject(to, from, bytes),
            Op::Settle => self.settle(),
        }
    }

    fn pick(&self, pick: u16) -> Option<usize> {
        (!self.in_flight.is_empty()).then(|| usize::from(pick) % self.in_flight.len())
    }

    fn submit(&mut self, slot: usize, event: Local) {
        let event = match event {
            Local::Join { name: n } => ChatEvent::Joined { name: name(n) },
            Local::Leave { name: n } => ChatEvent::Left {
                name: name(n),
                reason: LeaveReason::Leave,
                text: None,
            },
            Local::Say { name: n, len } => ChatEvent::Message {
                from: name(n),
                text: "x".repeat(usize::from(len) % 1001),
                room: "#lobby".into(),
                cid: 0,
                action: false,
            },
        };
        let id = self.id(slot);
        let members = self.local_members.get_mut(&id).expect("known incarnation");
        project(members, &event);
        let history = self.history.get_mut(&id).expect("known incarnation");
        history.push(event.clone());
        let seq = history.len() as u64;
        let now = self.now;
        self.nodes[slot].node.submit(seq, event, now);
        self.after_input(slot);
    }

    fn inject(&mut self, to: u8, from: u8, bytes: Vec<u8>) {
        let packet = Packet {
            from: addr(self.slot(from)),
            to: Destination::Unicast(addr(self.slot(to))),
            bytes,
        };
        self.deliver(&packet, true);
    }

    fn restart(&mut self, slot: usize) {
        self.nodes[slot] = self.incarnation(slot);
        self.after_input(slot);
    }

    fn advance(&mut self, by: Duration) {
        self.now = later(self.now, by);
        for slot in 0..self.nodes.len() {
            self.after_input(slot);
        }
    }

    fn deliver_all(&mut self) {
        // New datagrams queued meanwhile wait for the next round.
        let batch = std::mem::take(&mut self.in_flight);
        for packet in &batch {
            self.deliver(packet, false);
        }
    }

    fn deliver(&mut self, packet: &Packet, forged: bool) {
        let now = self.now;
        for slot in 0..self.nodes.len() {
            let via = match packet.to {
                Destination::Group if addr(slot) != packet.from => Via::Multicast,
                Destination::Unicast(to) if to == addr(slot) => Via::Unicast,
                _ => continue,
            };
            self.nodes[slot].tainted |= forged;
            self.nodes[slot]
                .node
                .handle_datagram(packet.from, via, &packet.bytes, now);
            self.after_input(slot);
        }
    }

    /// What the driver does after every input: tick if due, send, read
    /// membership events and deliveries, check.
    fn after_input(&mut self, slot: usize) {
        let now = self.now;
        let relay = &self.config.relay;
        let node = &mut self.nodes[slot].node;
        if node.next_deadline() <= now.mono {
            node.handle_tick(now);
            assert_eq!(node.footprint().unsent, 0, "a tick sends every new event");
        }
        let footprint = node.footprint();
        assert!(footprint.retained <= relay.retransmit_capacity.max(1));
        assert!(footprint.max_buffered <= relay.max_buffered);
        assert!(footprint.stashed <= MAX_STASHED);
        assert!(footprint.start_snapshots <= footprint.origins);
        assert_eq!(
            footprint.origins,
            node.members().len(),
            "one relay origin per member"
        );
        assert!(
            footprint.snapshot_parts <= MAX_HELD_PARTS,
            "snapshot parts held without bound: {}",
            footprint.snapshot_parts
        );
        while let Some(tx) = node.poll_transmit() {
            assert!(tx.bytes.len() <= MAX_DATAGRAM, "oversized datagram");
            envelope::open(&tx.bytes).expect("a node sent a datagram that does not open");
            self.in_flight.push(Packet {
                from: addr(slot),
                to: tx.to,
                bytes: tx.bytes,
            });
        }
        if self.in_flight.len() > MAX_IN_FLIGHT {
            let excess = self.in_flight.len() - MAX_IN_FLIGHT;
            self.in_flight.drain(..excess);
        }
        while let Some(event) = self.nodes[slot].node.poll_event() {
            match event {
                Event::Up(info) => {
                    self.nodes[slot].up.insert(info.id);
                }
                Event::Down(info, _) => {
                    self.nodes[slot].up.remove(&info.id);
                }
                Event::Suspect(_) | Event::Recovered(_) => {}
            }
        }
        while let Some(delivery) = self.nodes[slot].node.poll_delivery() {
            self.check_delivery(slot, delivery);
        }
        for stream in self.nodes[slot].streams.values() {
            assert!(
                stream.gaps <= stream.lost,
                "{} events skipped but {} reported lost",
                stream.gaps,
                stream.lost
            );
        }
    }

    fn settle(&mut self) {
        let count = self.nodes.len();
        for slot in 0..count {
            if self.nodes[slot].left {
                self.restart(slot);
            }
        }
        let rounds = SETTLE.as_millis() / STEP.as_millis();
        for _ in 0..rounds {
            self.advance(STEP);
            while !self.in_flight.is_empty() {
                self.deliver_all();
            }
        }
        for r in 0..count {
            if self.nodes[r].tainted {
                continue;
            }
            for o in (0..count).filter(|o| *o != r) {
                let id = self.id(o);
                if self.nodes[o].tainted {
                    // Forged membership news may keep it out of r's list.
                    continue;
                }
                let sent = self.history[&id].len() as u64;
                let stream = self.nodes[r].streams.get(&id).cloned().unwrap_or_default();
                assert!(stream.synced, "node {r} never synced with node {o}");
                assert!(stream.last.unwrap_or(0) <= sent);
                assert!(
                    stream.delivered + stream.lost >= sent.saturating_sub(stream.bound),
                    "node {r} silently missed events of node {o}: {stream:?}, {sent} sent"
                );
                assert_eq!(
                    stream.members, self.local_members[&id],
                    "node {r} has the wrong member list for node {o}"
                );
            }
        }
    }
}
