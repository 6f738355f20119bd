//! Two or three sans-IO relays on a network the fuzzer drives: it decides
//! which datagram arrives next, which is dropped or duplicated, when time
//! passes, when membership says a peer came or went, when a server restarts,
//! and it injects forged, corrupted and raw datagrams.
//!
//! Invariants checked after every step, per receiver and origin:
//! * no event before the first snapshot, and one first snapshot per stream;
//! * event sequence numbers strictly increase (in order, exactly once), and
//!   every skipped number is covered by a reported loss (`Resynced.lost`);
//! * buffers stay within their bounds ([`Relay::footprint`]); every datagram
//!   sent fits [`MAX_DATAGRAM`] and opens.
//!
//! For receivers that only ever saw honest traffic, also: every event equals
//! what its origin submitted, and after [`Op::Settle`] (membership converged,
//! network healthy) every stream is complete: each event since the snapshot
//! was delivered or reported lost, and the receiver's view of the origin's
//! members equals the origin's own.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use chatty::cluster::envelope::{self, Kind, MAX_DATAGRAM};
use chatty::cluster::Destination;
use chatty::protocol::{LeaveReason, ServerId};
use chatty::relay::messages::{Data, Nack, Snapshot, Status, SyncRequest, WireEvent};
use chatty::relay::{ChatEvent, Delivery, Relay, RelayConfig};

use crate::datagrams::CLUSTER;

/// Most datagrams in flight; the oldest are lost beyond this.
const MAX_IN_FLIGHT: usize = 512;
/// Simulated time [`Op::Settle`] gives the relays to converge.
const SETTLE: Duration = Duration::from_millis(1500);
const STEP: Duration = Duration::from_millis(10);
/// Snapshot parts a receiver may hold. The relay itself has no such cap
/// (parts come from the network); a scenario cannot reach it, so this only
/// catches parts piling up across snapshots.
const MAX_HELD_PARTS: usize = 4096;

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
    /// Time passes; every relay whose deadline came is ticked.
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
    /// Membership at `at` declares `of` gone.
    PeerDown { at: u8, of: u8, graceful: bool },
    /// Membership at `at` declares `of` up.
    PeerUp { at: u8, of: u8 },
    /// `node` crashes and restarts as a new incarnation at the same address.
    Restart { node: u8 },
    /// A well-formed datagram with forged contents, from a spoofed address.
    Forge { to: u8, from: u8, body: Forged },
    /// Raw bytes from a spoofed address.
    Raw { to: u8, from: u8, bytes: Vec<u8> },
    /// Everyone up, network healthy, time to converge; then completeness.
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

/// Who a forged datagram claims to be about.
#[derive(Debug, Arbitrary)]
pub enum Who {
    /// A running node's current incarnation.
    Node(u8),
    /// Some other id.
    Other([u8; 16]),
}

/// A sequence number, near the claimed origin's real one or anywhere.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum Seq {
    /// The origin's last sequence number plus an offset.
    Near(i8),
    /// Any number.
    Abs(u64),
}

/// A forged relay body.
#[derive(Debug, Arbitrary)]
pub enum Forged {
    /// Events.
    Data {
        origin: Who,
        events: Vec<(Seq, u8, u8)>,
    },
    /// A range announcement.
    Status {
        origin: Who,
        highest: Seq,
        oldest: Seq,
    },
    /// A repair request.
    Nack {
        origin: Who,
        ranges: Vec<(Seq, Seq)>,
    },
    /// A snapshot request.
    SyncRequest {
        origin: Who,
        seq: Seq,
        parts: Vec<u32>,
    },
    /// A snapshot part.
    Snapshot {
        origin: Who,
        seq: Seq,
        part: u32,
        parts: u32,
        names: Vec<u8>,
    },
}

/// What one receiver has seen of one origin's stream.
#[derive(Debug, Default, Clone)]
struct Stream {
    synced: bool,
    /// The origin's last sequence number when the snapshot arrived: the
    /// snapshot is at most this new.
    bound: u64,
    last: Option<u64>,
    delivered: u64,
    lost: u64,
    gaps: u64,
    members: BTreeSet<String>,
}

struct Node {
    relay: Relay,
    /// Origins membership has declared up here (current ids).
    up: BTreeSet<ServerId>,
    streams: BTreeMap<ServerId, Stream>,
    /// Received something not sent by an honest relay.
    tainted: bool,
}

struct Packet {
    from: SocketAddr,
    to: SocketAddr,
    bytes: Vec<u8>,
}

/// The simulated cluster and the truth to check it against.
pub struct World {
    nodes: Vec<Node>,
    config: RelayConfig,
    now: Instant,
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
        let config = if small {
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
            config,
            now: Instant::now(),
            in_flight: Vec::new(),
            next_incarnation: 0,
            history: BTreeMap::new(),
            local_members: BTreeMap::new(),
        };
        for slot in 0..count {
            let relay = world.incarnation(slot);
            world.nodes.push(Node {
                relay,
                up: BTreeSet::new(),
                streams: BTreeMap::new(),
                tainted: false,
            });
        }
        for a in 0..count {
            for b in 0..count {
                world.peer_up(a, b);
            }
        }
        world
    }

    fn incarnation(&mut self, slot: usize) -> Relay {
        self.next_incarnation += 1;
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&self.next_incarnation.to_be_bytes());
        id[15] = slot as u8;
        let id = ServerId::from_bytes(id);
        self.history.insert(id, Vec::new());
        self.local_members.insert(id, BTreeSet::new());
        Relay::new(id, addr(slot), CLUSTER, self.config.clone(), self.now)
    }

    fn slot(&self, n: u8) -> usize {
        usize::from(n) % self.nodes.len()
    }

    fn id(&self, slot: usize) -> ServerId {
        self.nodes[slot].relay.id()
    }

    fn step(&mut self, op: Op) {
        match op {
            Op::Submit { node, event } => {
                let slot = self.slot(node);
                let event = match event {
                    Local::Join { name: n } => ChatEvent::Joined { name: name(n) },
                    Local::Leave { name: n } => ChatEvent::Left {
                        name: name(n),
                        reason: LeaveReason::Leave,
                    },
                    Local::Say { name: n, len } => ChatEvent::Message {
                        from: name(n),
                        text: "x".repeat(usize::from(len) % 1001),
                        cid: u64::from(len),
                    },
                };
                let id = self.id(slot);
                let members = self.local_members.get_mut(&id).expect("known incarnation");
                match &event {
                    ChatEvent::Joined { name } => {
                        members.insert(name.clone());
                    }
                    ChatEvent::Left { name, .. } => {
                        members.remove(name);
                    }
                    _ => {}
                }
                let history = self.history.get_mut(&id).expect("known incarnation");
                history.push(event.clone());
                let seq = history.len() as u64;
                self.nodes[slot].relay.submit(seq, event);
                self.after_input(slot);
            }
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
                    let copy = Packet {
                        from: self.in_flight[i].from,
                        to: self.in_flight[i].to,
                        bytes: self.in_flight[i].bytes.clone(),
                    };
                    self.deliver(&copy, false);
                }
            }
            Op::DeliverAll => self.deliver_all(),
            Op::Corrupt { pick, at, xor } => {
                if let Some(i) = self.pick(pick) {
                    let packet = self.in_flight.remove(i);
                    let mut bytes = packet.bytes;
                    let at = usize::from(at) % bytes.len().max(1);
                    if let Some(b) = bytes.get_mut(at) {
                        *b ^= xor;
                    }
                    let corrupt = Packet {
                        from: packet.from,
                        to: packet.to,
                        bytes,
                    };
                    self.deliver(&corrupt, xor != 0);
                }
            }
            Op::PeerDown { at, of, graceful } => {
                let (at, of) = (self.slot(at), self.slot(of));
                self.peer_down(at, self.id(of), graceful);
            }
            Op::PeerUp { at, of } => {
                let (at, of) = (self.slot(at), self.slot(of));
                self.peer_up(at, of);
            }
            Op::Restart { node } => self.restart(self.slot(node)),
            Op::Forge { to, from, body } => {
                let to = self.slot(to);
                if let Some(bytes) = self.forge(body) {
                    let packet = Packet {
                        from: addr(self.slot(from)),
                        to: addr(to),
                        bytes,
                    };
                    self.deliver(&packet, true);
                }
            }
            Op::Raw { to, from, bytes } => {
                let packet = Packet {
                    from: addr(self.slot(from)),
                    to: addr(self.slot(to)),
                    bytes,
                };
                self.deliver(&packet, true);
            }
            Op::Settle => self.settle(),
        }
    }

    fn pick(&self, pick: u16) -> Option<usize> {
        (!self.in_flight.is_empty()).then(|| usize::from(pick) % self.in_flight.len())
    }

    fn peer_up(&mut self, at: usize, of: usize) {
        if at == of {
            return;
        }
        let id = self.id(of);
        let node = &mut self.nodes[at];
        node.relay.peer_up(id, addr(of));
        node.up.insert(id);
        self.after_input(at);
    }

    fn peer_down(&mut self, at: usize, id: ServerId, graceful: bool) {
        self.nodes[at].relay.peer_down(id, graceful);
        // The stream's last deliveries are checked while it is still up.
        while let Some(delivery) = self.nodes[at].relay.poll_delivery() {
            self.check_delivery(at, delivery);
        }
        self.check_losses(at);
        self.nodes[at].up.remove(&id);
        self.nodes[at].streams.remove(&id);
        self.after_input(at);
    }

    fn restart(&mut self, slot: usize) {
        let old = self.id(slot);
        let relay = self.incarnation(slot);
        self.nodes[slot] = Node {
            relay,
            up: BTreeSet::new(),
            streams: BTreeMap::new(),
            tainted: false,
        };
        for other in 0..self.nodes.len() {
            if other != slot {
                self.peer_down(other, old, false);
                self.peer_up(other, slot);
                self.peer_up(slot, other);
            }
        }
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
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
        let Some(slot) = (0..self.nodes.len()).find(|s| addr(*s) == packet.to) else {
            return;
        };
        if forged {
            self.nodes[slot].tainted = true;
        }
        let now = self.now;
        self.nodes[slot]
            .relay
            .handle_datagram(packet.from, &packet.bytes, now);
        self.after_input(slot);
    }

    /// What the driver does after every input: tick if due, send, deliver.
    fn after_input(&mut self, slot: usize) {
        let now = self.now;
        let node = &mut self.nodes[slot];
        if node.relay.next_deadline() <= now {
            node.relay.handle_tick(now);
            assert_eq!(
                node.relay.footprint().unsent,
                0,
                "a tick sends every new event"
            );
        }
        let footprint = node.relay.footprint();
        assert!(footprint.retained <= self.config.retransmit_capacity.max(1));
        assert!(footprint.max_buffered <= self.config.max_buffered);
        assert_eq!(footprint.origins, node.up.len(), "one origin per peer up");
        assert!(
            footprint.snapshot_parts <= MAX_HELD_PARTS,
            "snapshot parts held without bound: {}",
            footprint.snapshot_parts
        );
        while let Some(tx) = node.relay.poll_transmit() {
            assert!(tx.bytes.len() <= MAX_DATAGRAM, "oversized datagram");
            envelope::open(&tx.bytes).expect("a relay sent a datagram that does not open");
            let Destination::Unicast(to) = tx.to else {
                panic!("the relay only sends unicast");
            };
            self.in_flight.push(Packet {
                from: addr(slot),
                to,
                bytes: tx.bytes,
            });
        }
        if self.in_flight.len() > MAX_IN_FLIGHT {
            let excess = self.in_flight.len() - MAX_IN_FLIGHT;
            self.in_flight.drain(..excess);
        }
        while let Some(delivery) = self.nodes[slot].relay.poll_delivery() {
            self.check_delivery(slot, delivery);
        }
        self.check_losses(slot);
    }

    fn check_delivery(&mut self, slot: usize, delivery: Delivery) {
        let node = &mut self.nodes[slot];
        let honest = !node.tainted;
        match delivery {
            Delivery::Synced { origin, members } => {
                assert!(node.up.contains(&origin), "sync from an origin not up");
                let stream = node.streams.entry(origin).or_default();
                assert!(!stream.synced, "a second first-sync for one stream");
                stream.synced = true;
                stream.bound = self.history.get(&origin).map_or(0, |h| h.len() as u64);
                stream.members = members.into_iter().collect();
            }
            Delivery::Event { origin, seq, event } => {
                assert!(node.up.contains(&origin), "event from an origin not up");
                let stream = node.streams.entry(origin).or_default();
                assert!(stream.synced, "event before the first snapshot");
                if let Some(last) = stream.last {
                    assert!(
                        seq > last,
                        "event {seq} after {last}: out of order or twice"
                    );
                    stream.gaps += seq - last - 1;
                }
                stream.last = Some(seq);
                stream.delivered += 1;
                match &event {
                    ChatEvent::Joined { name } => {
                        stream.members.insert(name.clone());
                    }
                    ChatEvent::Left { name, .. } => {
                        stream.members.remove(name);
                    }
                    _ => {}
                }
                if honest {
                    let truth = self.history.get(&origin).and_then(|h| {
                        let index = usize::try_from(seq.checked_sub(1)?).ok()?;
                        h.get(index)
                    });
                    assert_eq!(truth, Some(&event), "event {seq} is not what was sent");
                }
            }
            Delivery::Resynced {
                origin,
                lost,
                joined,
                left,
            } => {
                assert!(node.up.contains(&origin), "resync of an origin not up");
                let stream = node.streams.entry(origin).or_default();
                assert!(stream.synced, "resync before the first snapshot");
                stream.lost = stream.lost.saturating_add(lost);
                stream.members.extend(joined);
                for name in left {
                    stream.members.remove(&name);
                }
            }
            Delivery::OriginGone { origin, .. } => {
                assert!(node.up.contains(&origin), "gone twice, or never up");
            }
        }
    }

    /// Every number skipped is reported lost, by the end of the batch of
    /// deliveries that skipped it (a loss report follows the events).
    fn check_losses(&self, slot: usize) {
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
        for a in 0..count {
            for b in 0..count {
                if a != b && !self.nodes[a].up.contains(&self.id(b)) {
                    self.peer_up(a, b);
                }
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
            for o in 0..count {
                if r == o {
                    continue;
                }
                let id = self.id(o);
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

    fn who(&self, who: &Who) -> ServerId {
        match who {
            Who::Node(n) => self.id(self.slot(*n)),
            Who::Other(bytes) => ServerId::from_bytes(*bytes),
        }
    }

    fn seq(&self, origin: ServerId, seq: Seq) -> u64 {
        match seq {
            Seq::Abs(n) => n,
            Seq::Near(offset) => {
                let last = self.history.get(&origin).map_or(0, |h| h.len() as u64);
                last.saturating_add_signed(i64::from(offset))
            }
        }
    }

    fn forge(&self, body: Forged) -> Option<Vec<u8>> {
        match body {
            Forged::Data { origin, events } => {
                let origin = self.who(&origin);
                let events = events
                    .into_iter()
                    .take(40)
                    .map(|(seq, kind, n)| {
                        WireEvent(
                            self.seq(origin, seq),
                            kind % 5,
                            name(n),
                            "t".into(),
                            kind / 5,
                            u64::from(kind),
                        )
                    })
                    .collect();
                envelope::seal(Kind::RelayData, CLUSTER, &Data { origin, events }).ok()
            }
            Forged::Status {
                origin,
                highest,
                oldest,
            } => {
                let origin = self.who(&origin);
                let status = Status {
                    origin,
                    highest: self.seq(origin, highest),
                    oldest: self.seq(origin, oldest),
                };
                envelope::seal(Kind::RelayStatus, CLUSTER, &status).ok()
            }
            Forged::Nack { origin, ranges } => {
                let origin = self.who(&origin);
                let ranges = ranges
                    .into_iter()
                    .take(80)
                    .map(|(a, b)| (self.seq(origin, a), self.seq(origin, b)))
                    .collect();
                envelope::seal(Kind::RelayNack, CLUSTER, &Nack { origin, ranges }).ok()
            }
            Forged::SyncRequest { origin, seq, parts } => {
                let origin = self.who(&origin);
                let request = SyncRequest {
                    origin,
                    seq: self.seq(origin, seq),
                    parts: parts.into_iter().take(200).collect(),
                };
                envelope::seal(Kind::RelaySyncRequest, CLUSTER, &request).ok()
            }
            Forged::Snapshot {
                origin,
                seq,
                part,
                parts,
                names,
            } => {
                let origin = self.who(&origin);
                let snapshot = Snapshot {
                    origin,
                    seq: self.seq(origin, seq),
                    part,
                    parts,
                    names: names.into_iter().take(40).map(name).collect(),
                };
                envelope::seal(Kind::RelaySnapshot, CLUSTER, &snapshot).ok()
            }
        }
    }
}
