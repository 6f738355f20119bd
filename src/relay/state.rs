//! The relay state machine: every server's chat events reach every other
//! server exactly once, in their origin's order, over lossy UDP.
//!
//! Sans-IO, like membership: inputs are [`Relay::submit`] (a local event),
//! [`Relay::peer_up`]/[`Relay::peer_down`] (from membership),
//! [`Relay::handle_datagram`] and [`Relay::handle_tick`]; outputs are
//! datagrams ([`Relay::poll_transmit`]) and in-order deliveries
//! ([`Relay::poll_delivery`]).
//!
//! How it stays exact:
//! * **Sender.** Each origin numbers its events 1, 2, 3… (a restarted server
//!   is a new origin with a new numbering). New events are packed into
//!   `RelayData` datagrams for every peer, and the last `retransmit_capacity`
//!   are kept for repair. Every `status_interval` a `RelayStatus` tells peers
//!   the range `[oldest, highest]` still held, so loss at the tail of a
//!   burst is noticed too.
//! * **Receiver.** It starts from a snapshot of the origin's members as of
//!   some event `s` (so a server joining mid-stream starts at the origin's
//!   current sequence with no bogus gap), then delivers `s+1, s+2, …` in
//!   order. Duplicates are dropped. Early events wait in a bounded buffer,
//!   and gaps are requested with a `RelayNack` of the missing ranges.
//! * **Overrun.** If a receiver needs events older than the origin still
//!   holds, it cannot be repaired. It fetches a fresh snapshot, delivers
//!   what it does have in order, and reports a [`Delivery::Resynced`] with
//!   the exact number of events lost. Nothing is lost silently.
//! * **Peer loss.** `peer_down` ends the origin's stream with
//!   [`Delivery::OriginGone`] listing its members, so the application can
//!   show them as having left.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tracing::{debug, warn};

use super::messages::{ChatEvent, Data, Nack, Snapshot, Status, SyncRequest, WireEvent};
use crate::cluster::envelope::{self, EnvelopeError, Kind, MAX_DATAGRAM};
use crate::cluster::{Destination, Transmit};
use crate::protocol::ServerId;

/// Relay tuning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayConfig {
    /// Events an origin keeps for repair. At most ~1.2 KB each, so the
    /// default bounds the buffer near 5 MB.
    pub retransmit_capacity: usize,
    /// How often an origin announces the range it holds.
    pub status_interval: Duration,
    /// Least time between two NACKs for one origin.
    pub nack_interval: Duration,
    /// How often an unanswered snapshot request is repeated.
    pub sync_retry: Duration,
    /// Early (out-of-order) events held per origin; beyond this they are
    /// dropped and fetched again later.
    pub max_buffered: usize,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            retransmit_capacity: 4096,
            status_interval: Duration::from_millis(100),
            nack_interval: Duration::from_millis(20),
            sync_retry: Duration::from_millis(100),
            max_buffered: 8192,
        }
    }
}

/// What the relay hands the application, per origin in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The first snapshot of `origin`: these members are there now.
    Synced {
        /// The origin.
        origin: ServerId,
        /// Its members.
        members: Vec<String>,
    },
    /// The next event from `origin`.
    Event {
        /// The origin.
        origin: ServerId,
        /// Its sequence number.
        seq: u64,
        /// The event.
        event: ChatEvent,
    },
    /// `lost` events from `origin` could not be recovered; the member list
    /// was brought up to date (`joined` are new, `left` are gone).
    Resynced {
        /// The origin.
        origin: ServerId,
        /// How many events were lost.
        lost: u64,
        /// Members that appeared during the lost stretch.
        joined: Vec<String>,
        /// Members that disappeared during the lost stretch.
        left: Vec<String>,
    },
    /// `origin` is gone (crashed, left or replaced); these were its members.
    OriginGone {
        /// The origin.
        origin: ServerId,
        /// Its members at the end.
        members: Vec<String>,
        /// True if it left gracefully (shut down), false if it was lost.
        graceful: bool,
    },
}

/// Counters for logs, status and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayStats {
    /// Events delivered to the application.
    pub delivered: u64,
    /// Duplicate events dropped.
    pub duplicates: u64,
    /// NACK datagrams sent.
    pub nacks_sent: u64,
    /// Events resent in answer to NACKs.
    pub retransmitted: u64,
    /// Overruns resolved by a snapshot.
    pub resyncs: u64,
    /// Events lost to overruns (and reported).
    pub lost: u64,
    /// Datagrams dropped as malformed, foreign or from unknown origins.
    pub dropped: u64,
}

#[derive(Debug, Default)]
struct SyncState {
    /// The snapshot being assembled, once its first part arrived.
    seq: Option<u64>,
    parts: u32,
    got: BTreeMap<u32, Vec<String>>,
    last_request: Option<Instant>,
    /// True after an overrun: the result is a resync, not a first sync.
    resync: bool,
}

#[derive(Debug)]
struct Origin {
    addr: SocketAddr,
    /// `Some` while waiting for a snapshot.
    sync: Option<SyncState>,
    /// Next sequence number to deliver (once synced).
    next: u64,
    /// Highest sequence number known to exist.
    highest: u64,
    buffer: BTreeMap<u64, ChatEvent>,
    members: BTreeSet<String>,
    last_nack: Option<Instant>,
}

/// The relay state of one server.
#[derive(Debug)]
pub struct Relay {
    me: ServerId,
    addr: SocketAddr,
    cluster: String,
    config: RelayConfig,
    last_seq: u64,
    local_members: BTreeSet<String>,
    retained: VecDeque<WireEvent>,
    unsent: Vec<WireEvent>,
    peers: BTreeMap<ServerId, SocketAddr>,
    origins: BTreeMap<ServerId, Origin>,
    snapshot_cache: Option<(u64, Vec<Vec<String>>)>,
    next_status: Instant,
    last_now: Instant,
    transmits: VecDeque<Transmit>,
    deliveries: VecDeque<Delivery>,
    stats: RelayStats,
}

/// Room left in a datagram for the envelope and the body's fixed fields.
const DATA_OVERHEAD: usize = 48;
/// Upper bound of an event's encoding beyond its two strings.
const EVENT_OVERHEAD: usize = 24;
/// Most NACK ranges in one datagram.
const MAX_NACK_RANGES: usize = 64;
/// Most events resent in answer to one NACK.
const MAX_RESEND: usize = 4096;
/// Most snapshot parts asked for in one request (each costs up to 5 bytes).
const MAX_PARTS_PER_REQUEST: usize = 200;
/// Bytes of names per snapshot part.
const SNAPSHOT_PART_BYTES: usize = 1100;
/// The highest sequence number accepted from the network. No origin creates
/// 2^64 - 1 events; refusing the very last number keeps "one past the last
/// delivered" representable, so no forged number can overflow it.
const LAST_SEQ: u64 = u64::MAX - 1;

impl Relay {
    /// The relay of server `me`, reachable at `addr`, in `cluster`.
    pub fn new(
        me: ServerId,
        addr: SocketAddr,
        cluster: &str,
        config: RelayConfig,
        now: Instant,
    ) -> Relay {
        Relay {
            me,
            addr,
            cluster: cluster.to_string(),
            config,
            last_seq: 0,
            local_members: BTreeSet::new(),
            retained: VecDeque::new(),
            unsent: Vec::new(),
            peers: BTreeMap::new(),
            origins: BTreeMap::new(),
            snapshot_cache: None,
            next_status: now,
            last_now: now,
            transmits: VecDeque::new(),
            deliveries: VecDeque::new(),
            stats: RelayStats::default(),
        }
    }

    /// This server's id.
    pub fn id(&self) -> ServerId {
        self.me
    }

    /// This server's relay address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Counters so far.
    pub fn stats(&self) -> RelayStats {
        self.stats
    }

    /// The highest sequence number this server has created.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next delivery for the application.
    pub fn poll_delivery(&mut self) -> Option<Delivery> {
        self.deliveries.pop_front()
    }

    /// Relays a local event. `seq` must be the next number (1, 2, …).
    pub fn submit(&mut self, seq: u64, event: &ChatEvent) {
        if seq != self.last_seq + 1 {
            warn!(
                seq,
                last = self.last_seq,
                "relay: local events out of sequence"
            );
        }
        self.last_seq = seq;
        match event {
            ChatEvent::Joined { name } => {
                self.local_members.insert(name.clone());
            }
            ChatEvent::Left { name, .. } => {
                self.local_members.remove(name);
            }
            ChatEvent::Message { .. } | ChatEvent::Unknown { .. } => {}
        }
        let wire = WireEvent::new(seq, event);
        self.retained.push_back(wire.clone());
        while self.retained.len() > self.config.retransmit_capacity.max(1) {
            self.retained.pop_front();
        }
        self.unsent.push(wire);
        self.snapshot_cache = None;
    }

    /// Membership says `id` is up at relay address `addr`: start syncing
    /// from it, and send it our events from now on.
    pub fn peer_up(&mut self, id: ServerId, addr: SocketAddr) {
        if id == self.me {
            return;
        }
        self.peers.insert(id, addr);
        self.origins
            .entry(id)
            .and_modify(|o| o.addr = addr)
            .or_insert_with(|| Origin {
                addr,
                sync: Some(SyncState::default()),
                next: 0,
                highest: 0,
                buffer: BTreeMap::new(),
                members: BTreeSet::new(),
                last_nack: None,
            });
    }

    /// Membership says `id` is gone (`graceful` if it announced a leave):
    /// its stream ends here.
    ///
    /// Events already received but held back by a gap are delivered (in
    /// order, skipping the gap); the missing ones can no longer be had from
    /// anyone, so they are counted and reported as a [`Delivery::Resynced`]
    /// before [`Delivery::OriginGone`]: nothing is lost silently.
    pub fn peer_down(&mut self, id: ServerId, graceful: bool) {
        self.peers.remove(&id);
        let Some(mut origin) = self.origins.remove(&id) else {
            return;
        };
        // Synced, or resyncing after an overrun (then `next` is still where
        // delivery stopped); a server never synced with had no stream here.
        let streaming = origin.sync.as_ref().is_none_or(|s| s.resync);
        if streaming && origin.next > 0 && origin.highest >= origin.next {
            // Walk the events held, not the announced range: `highest`
            // comes from the network, and a huge one must cost nothing.
            let (next, highest) = (origin.next, origin.highest);
            let mut delivered = 0;
            let held = std::mem::take(&mut origin.buffer);
            for (seq, event) in held
                .into_iter()
                .filter(|(s, _)| (next..=highest).contains(s))
            {
                apply_member_change(&mut origin.members, &event);
                self.stats.delivered += 1;
                self.deliveries.push_back(Delivery::Event {
                    origin: id,
                    seq,
                    event,
                });
                delivered += 1;
            }
            let lost = highest - next + 1 - delivered;
            if lost > 0 {
                self.stats.lost = self.stats.lost.saturating_add(lost);
                warn!(origin = %id, lost, "relay: server gone with events unrepaired");
                self.deliveries.push_back(Delivery::Resynced {
                    origin: id,
                    lost,
                    joined: Vec::new(),
                    left: Vec::new(),
                });
            }
        }
        self.deliveries.push_back(Delivery::OriginGone {
            origin: id,
            members: origin.members.into_iter().collect(),
            graceful,
        });
    }

    /// When [`Relay::handle_tick`] next has something to do.
    pub fn next_deadline(&self) -> Instant {
        if !self.unsent.is_empty() {
            return self.last_now;
        }
        let mut next = self.next_status;
        for o in self.origins.values() {
            let due = match &o.sync {
                Some(sync) => sync
                    .last_request
                    .map_or(self.last_now, |t| t + self.config.sync_retry),
                None if o.highest >= o.next => o
                    .last_nack
                    .map_or(self.last_now, |t| t + self.config.nack_interval),
                None => continue,
            };
            next = next.min(due);
        }
        next
    }

    /// Sends what is due: new events, status, NACKs, snapshot requests.
    pub fn handle_tick(&mut self, now: Instant) {
        self.last_now = now;
        self.flush_unsent();
        if now >= self.next_status {
            let status = Status {
                origin: self.me,
                highest: self.last_seq,
                oldest: self.oldest_retained(),
            };
            self.send_to_all_peers(Kind::RelayStatus, &status);
            self.next_status = now + self.config.status_interval;
        }
        let ids: Vec<ServerId> = self.origins.keys().copied().collect();
        for id in ids {
            self.chase(id, now);
        }
    }

    /// Processes one relay datagram (membership kinds are ignored).
    pub fn handle_datagram(&mut self, from: SocketAddr, datagram: &[u8], now: Instant) {
        self.last_now = now;
        if let Err(err) = self.accept(from, datagram) {
            self.stats.dropped += 1;
            debug!(%from, cause = %err, "relay: dropped datagram");
        }
    }

    fn accept(&mut self, from: SocketAddr, datagram: &[u8]) -> Result<(), EnvelopeError> {
        let env = envelope::open(datagram)?;
        if env.cluster != self.cluster {
            self.stats.dropped += 1;
            return Ok(());
        }
        match env.kind {
            Kind::RelayData => {
                let data: Data = env.body()?;
                self.on_data(data);
            }
            Kind::RelayStatus => {
                let status: Status = env.body()?;
                self.on_status(status);
            }
            // Requests are answered only to known peers' addresses: a
            // forged source must not turn a small NACK into thousands of
            // events sent to a bystander. A peer not known yet retries.
            Kind::RelayNack => {
                let nack: Nack = env.body()?;
                if nack.origin == self.me && self.is_peer_addr(from) {
                    self.on_nack(from, &nack.ranges);
                }
            }
            Kind::RelaySyncRequest => {
                let request: SyncRequest = env.body()?;
                if request.origin == self.me && self.is_peer_addr(from) {
                    self.on_sync_request(from, request.seq, &request.parts);
                }
            }
            Kind::RelaySnapshot => {
                let snapshot: Snapshot = env.body()?;
                self.on_snapshot(snapshot);
            }
            Kind::Heartbeat | Kind::Gossip | Kind::Leave => {}
        }
        Ok(())
    }

    fn on_data(&mut self, data: Data) {
        let max_buffered = self.config.max_buffered;
        let Some(o) = self.origins.get_mut(&data.origin) else {
            self.stats.dropped += 1;
            return;
        };
        for wire in data.events {
            let event = wire.event();
            let seq = wire.seq();
            if seq > LAST_SEQ {
                self.stats.dropped += 1;
                continue;
            }
            o.highest = o.highest.max(seq);
            let old = o.sync.is_none() && seq < o.next;
            if old || o.buffer.contains_key(&seq) {
                self.stats.duplicates += 1;
            } else if o.buffer.len() < max_buffered {
                o.buffer.insert(seq, event);
            }
        }
        self.deliver_ready(data.origin);
    }

    fn on_status(&mut self, status: Status) {
        let Some(o) = self.origins.get_mut(&status.origin) else {
            return;
        };
        o.highest = o.highest.max(status.highest);
        if o.sync.is_none() && o.next < status.oldest && !o.buffer.contains_key(&o.next) {
            warn!(origin = %status.origin, next = o.next, oldest = status.oldest,
                "relay: events lost beyond repair; resynchronising");
            o.sync = Some(SyncState {
                resync: true,
                ..SyncState::default()
            });
        }
    }

    fn on_nack(&mut self, from: SocketAddr, ranges: &[(u64, u64)]) {
        let oldest = self.oldest_retained();
        let mut resend = Vec::new();
        let mut overrun = false;
        for &(first, last) in ranges.iter().take(MAX_NACK_RANGES) {
            let last = last.min(self.last_seq);
            if first > last {
                continue;
            }
            if first < oldest {
                overrun = true;
            }
            let start = first.max(oldest);
            for seq in start..=last {
                if resend.len() >= MAX_RESEND {
                    break;
                }
                if let Some(ev) = self.retained.get((seq - oldest) as usize) {
                    resend.push(ev.clone());
                }
            }
        }
        self.stats.retransmitted += resend.len() as u64;
        for bytes in self.pack(&resend) {
            self.send(Destination::Unicast(from), bytes);
        }
        if overrun {
            // Tell the requester what is left, so it resynchronises.
            let status = Status {
                origin: self.me,
                highest: self.last_seq,
                oldest,
            };
            if let Ok(bytes) = envelope::seal(Kind::RelayStatus, &self.cluster, &status) {
                self.send(Destination::Unicast(from), bytes);
            }
        }
    }

    fn on_sync_request(&mut self, from: SocketAddr, seq: u64, parts: &[u32]) {
        let reuse = !parts.is_empty() && self.snapshot_cache.as_ref().is_some_and(|c| c.0 == seq);
        if !reuse {
            self.snapshot_cache = Some((self.last_seq, split_names(&self.local_members)));
        }
        let Some((seq, chunks)) = &self.snapshot_cache else {
            return;
        };
        let total = chunks.len() as u32;
        let wanted: Vec<u32> = if reuse {
            parts.iter().copied().filter(|p| *p < total).collect()
        } else {
            (0..total).collect()
        };
        let mut out = Vec::new();
        for part in wanted {
            let snapshot = Snapshot {
                origin: self.me,
                seq: *seq,
                part,
                parts: total,
                names: chunks[part as usize].clone(),
            };
            if let Ok(bytes) = envelope::seal(Kind::RelaySnapshot, &self.cluster, &snapshot) {
                out.push(bytes);
            }
        }
        for bytes in out {
            self.send(Destination::Unicast(from), bytes);
        }
    }

    fn on_snapshot(&mut self, snap: Snapshot) {
        let Some(o) = self.origins.get_mut(&snap.origin) else {
            return;
        };
        let Some(sync) = o.sync.as_mut() else {
            return; // already synced: a late duplicate
        };
        if snap.parts == 0 || snap.part >= snap.parts || snap.seq > LAST_SEQ {
            return;
        }
        // A resync must move forward: a delayed snapshot older than what was
        // already delivered is ignored.
        if sync.resync && snap.seq < o.next {
            return;
        }
        match sync.seq {
            Some(seq) if seq == snap.seq => {}
            Some(seq) if seq > snap.seq => return, // older than the one in progress
            _ => {
                sync.seq = Some(snap.seq);
                sync.parts = snap.parts;
                sync.got.clear();
            }
        }
        sync.got.insert(snap.part, snap.names);
        if sync.got.len() as u32 == sync.parts {
            self.apply_snapshot(snap.origin);
        }
    }

    /// A complete snapshot: jump to it, deliver what can be, report losses.
    fn apply_snapshot(&mut self, id: ServerId) {
        let Some(o) = self.origins.get_mut(&id) else {
            return;
        };
        let Some(sync) = o.sync.take() else { return };
        let seq = sync.seq.unwrap_or(0);
        let members: BTreeSet<String> = sync.got.into_values().flatten().collect();
        if !sync.resync {
            o.buffer = o.buffer.split_off(&(seq + 1));
            o.next = seq + 1;
            o.members = members.clone();
            self.deliveries.push_back(Delivery::Synced {
                origin: id,
                members: members.into_iter().collect(),
            });
        } else {
            // Deliver, in order, whatever we hold up to the snapshot; the
            // rest of that stretch is lost. (Walk what is held: `seq` comes
            // from the network, and on_snapshot ensured `seq >= next`.)
            let mut held = std::mem::take(&mut o.buffer);
            o.buffer = held.split_off(&(seq + 1));
            let mut delivered = 0;
            for (s, event) in held.into_iter().filter(|(s, _)| *s >= o.next) {
                apply_member_change(&mut o.members, &event);
                self.stats.delivered += 1;
                self.deliveries.push_back(Delivery::Event {
                    origin: id,
                    seq: s,
                    event,
                });
                delivered += 1;
            }
            let lost = seq + 1 - o.next - delivered;
            o.next = seq + 1;
            let joined = members.difference(&o.members).cloned().collect();
            let left = o.members.difference(&members).cloned().collect();
            o.members = members;
            self.stats.resyncs += 1;
            self.stats.lost = self.stats.lost.saturating_add(lost);
            warn!(origin = %id, lost, "relay: resynchronised");
            self.deliveries.push_back(Delivery::Resynced {
                origin: id,
                lost,
                joined,
                left,
            });
        }
        self.deliver_ready(id);
    }

    fn deliver_ready(&mut self, id: ServerId) {
        let Some(o) = self.origins.get_mut(&id) else {
            return;
        };
        if o.sync.is_some() {
            return;
        }
        while let Some(event) = o.buffer.remove(&o.next) {
            apply_member_change(&mut o.members, &event);
            self.stats.delivered += 1;
            self.deliveries.push_back(Delivery::Event {
                origin: id,
                seq: o.next,
                event,
            });
            o.next += 1;
        }
    }

    /// Asks an origin for what is missing: a snapshot, or a gap's events.
    fn chase(&mut self, id: ServerId, now: Instant) {
        let (nack_interval, sync_retry) = (self.config.nack_interval, self.config.sync_retry);
        let Some(o) = self.origins.get_mut(&id) else {
            return;
        };
        let addr = o.addr;
        let request = if let Some(sync) = o.sync.as_mut() {
            if sync.last_request.is_some_and(|t| now < t + sync_retry) {
                return;
            }
            sync.last_request = Some(now);
            let (seq, parts) = match sync.seq {
                Some(seq) => (
                    seq,
                    (0..sync.parts)
                        .filter(|p| !sync.got.contains_key(p))
                        // so the request always fits one datagram
                        .take(MAX_PARTS_PER_REQUEST)
                        .collect(),
                ),
                None => (0, Vec::new()),
            };
            envelope::seal(
                Kind::RelaySyncRequest,
                &self.cluster,
                &SyncRequest {
                    origin: id,
                    seq,
                    parts,
                },
            )
        } else {
            if o.highest < o.next || o.last_nack.is_some_and(|t| now < t + nack_interval) {
                return;
            }
            o.last_nack = Some(now);
            let ranges = missing_ranges(o.next, o.highest, &o.buffer);
            self.stats.nacks_sent += 1;
            envelope::seal(Kind::RelayNack, &self.cluster, &Nack { origin: id, ranges })
        };
        if let Ok(bytes) = request {
            self.send(Destination::Unicast(addr), bytes);
        }
    }

    fn flush_unsent(&mut self) {
        if self.unsent.is_empty() {
            return;
        }
        let events = std::mem::take(&mut self.unsent);
        if self.peers.is_empty() {
            return;
        }
        for bytes in self.pack(&events) {
            let peers: Vec<SocketAddr> = self.peers.values().copied().collect();
            for addr in peers {
                self.send(Destination::Unicast(addr), bytes.clone());
            }
        }
    }

    /// Packs events into as few `RelayData` datagrams as fit.
    fn pack(&self, events: &[WireEvent]) -> Vec<Vec<u8>> {
        let budget = MAX_DATAGRAM - envelope::overhead(&self.cluster) - DATA_OVERHEAD;
        let mut out = Vec::new();
        let mut batch: Vec<WireEvent> = Vec::new();
        let mut used = 0;
        for ev in events {
            let size = ev.2.len() + ev.3.len() + EVENT_OVERHEAD;
            if !batch.is_empty() && used + size > budget {
                out.extend(self.seal_data(std::mem::take(&mut batch)));
                used = 0;
            }
            used += size;
            batch.push(ev.clone());
        }
        if !batch.is_empty() {
            out.extend(self.seal_data(batch));
        }
        out
    }

    fn seal_data(&self, events: Vec<WireEvent>) -> Option<Vec<u8>> {
        let data = Data {
            origin: self.me,
            events,
        };
        match envelope::seal(Kind::RelayData, &self.cluster, &data) {
            Ok(bytes) => Some(bytes),
            Err(err) => {
                warn!(cause = %err, "relay: could not encode a data datagram");
                None
            }
        }
    }

    fn send_to_all_peers<T: serde::Serialize>(&mut self, kind: Kind, body: &T) {
        if let Ok(bytes) = envelope::seal(kind, &self.cluster, body) {
            let peers: Vec<SocketAddr> = self.peers.values().copied().collect();
            for addr in peers {
                self.send(Destination::Unicast(addr), bytes.clone());
            }
        }
    }

    fn send(&mut self, to: Destination, bytes: Vec<u8>) {
        self.transmits.push_back(Transmit { to, bytes });
    }

    fn is_peer_addr(&self, addr: SocketAddr) -> bool {
        self.peers.values().any(|a| *a == addr)
    }

    fn oldest_retained(&self) -> u64 {
        self.retained
            .front()
            .map_or(self.last_seq + 1, |ev| ev.seq())
    }
}

/// Sizes of a relay's internal buffers, for tests and fuzzing: whatever
/// peers send, each stays within its bound.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Footprint {
    /// Own events kept for repair (at most `retransmit_capacity`).
    pub retained: usize,
    /// Own events not yet packed into datagrams (none after a tick).
    pub unsent: usize,
    /// Origins tracked: one per peer that is up.
    pub origins: usize,
    /// The largest per-origin buffer of early events (at most `max_buffered`).
    pub max_buffered: usize,
    /// Snapshot parts held while assembling snapshots, over all origins.
    pub snapshot_parts: usize,
    /// Datagrams waiting for [`Relay::poll_transmit`].
    pub transmits: usize,
    /// Deliveries waiting for [`Relay::poll_delivery`].
    pub deliveries: usize,
}

impl Relay {
    /// The sizes of the internal buffers (see [`Footprint`]).
    pub fn footprint(&self) -> Footprint {
        let origins = self.origins.values();
        Footprint {
            retained: self.retained.len(),
            unsent: self.unsent.len(),
            origins: self.origins.len(),
            max_buffered: origins.clone().map(|o| o.buffer.len()).max().unwrap_or(0),
            snapshot_parts: origins
                .filter_map(|o| o.sync.as_ref())
                .map(|s| s.got.len())
                .sum(),
            transmits: self.transmits.len(),
            deliveries: self.deliveries.len(),
        }
    }
}

fn apply_member_change(members: &mut BTreeSet<String>, event: &ChatEvent) {
    match event {
        ChatEvent::Joined { name } => {
            members.insert(name.clone());
        }
        ChatEvent::Left { name, .. } => {
            members.remove(name);
        }
        ChatEvent::Message { .. } | ChatEvent::Unknown { .. } => {}
    }
}

/// The inclusive ranges in `next..=highest` not present in `buffer`.
fn missing_ranges(next: u64, highest: u64, buffer: &BTreeMap<u64, ChatEvent>) -> Vec<(u64, u64)> {
    let mut ranges = Vec::new();
    let mut start = next;
    for &seq in buffer.range(next..=highest).map(|(s, _)| s) {
        if seq > start {
            ranges.push((start, seq - 1));
        }
        start = seq + 1;
        if ranges.len() >= MAX_NACK_RANGES {
            return ranges;
        }
    }
    if start <= highest {
        ranges.push((start, highest));
    }
    ranges
}

/// Splits names into snapshot parts that each fit a datagram.
fn split_names(names: &BTreeSet<String>) -> Vec<Vec<String>> {
    let mut parts = vec![Vec::new()];
    let mut used = 0;
    for name in names {
        let size = name.len() + 3;
        if used + size > SNAPSHOT_PART_BYTES && !parts.last().is_some_and(Vec::is_empty) {
            parts.push(Vec::new());
            used = 0;
        }
        used += size;
        parts
            .last_mut()
            .expect("one part at least")
            .push(name.clone());
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// A relay synced (at event 0) with one peer, and that peer's id.
    fn synced_with_peer(now: Instant) -> (Relay, ServerId) {
        let peer = ServerId::from_bytes([2; 16]);
        let mut relay = Relay::new(
            ServerId::from_bytes([1; 16]),
            addr(1),
            "c",
            RelayConfig::default(),
            now,
        );
        relay.peer_up(peer, addr(2));
        let snapshot = Snapshot {
            origin: peer,
            seq: 0,
            part: 0,
            parts: 1,
            names: vec![],
        };
        let bytes = envelope::seal(Kind::RelaySnapshot, "c", &snapshot).unwrap();
        relay.handle_datagram(addr(2), &bytes, now);
        assert!(matches!(
            relay.poll_delivery(),
            Some(Delivery::Synced { .. })
        ));
        (relay, peer)
    }

    #[test]
    fn a_forged_highest_does_not_stall_peer_down() {
        // Found by fuzzing (relay_state): peer_down walked every number up
        // to the announced highest, 2^64 of them.
        let now = Instant::now();
        let (mut relay, peer) = synced_with_peer(now);
        let status = Status {
            origin: peer,
            highest: u64::MAX,
            oldest: 1,
        };
        let bytes = envelope::seal(Kind::RelayStatus, "c", &status).unwrap();
        relay.handle_datagram(addr(2), &bytes, now);
        let data = Data {
            origin: peer,
            events: vec![WireEvent::new(5, &ChatEvent::Joined { name: "a".into() })],
        };
        let bytes = envelope::seal(Kind::RelayData, "c", &data).unwrap();
        relay.handle_datagram(addr(2), &bytes, now);
        relay.peer_down(peer, false);
        let deliveries: Vec<Delivery> = std::iter::from_fn(|| relay.poll_delivery()).collect();
        assert!(matches!(deliveries[0], Delivery::Event { seq: 5, .. }));
        assert_eq!(
            deliveries[1],
            Delivery::Resynced {
                origin: peer,
                lost: u64::MAX - 1,
                joined: vec![],
                left: vec![],
            }
        );
        assert!(matches!(deliveries[2], Delivery::OriginGone { .. }));
    }

    #[test]
    fn a_forged_resync_snapshot_costs_nothing() {
        // A RelayStatus claiming the origin no longer holds event 1 starts
        // a resync; a snapshot "as of event u64::MAX" then completed it by
        // counting every number in between as lost, one by one.
        let now = Instant::now();
        let (mut relay, peer) = synced_with_peer(now);
        let status = Status {
            origin: peer,
            highest: 10,
            oldest: 10,
        };
        let bytes = envelope::seal(Kind::RelayStatus, "c", &status).unwrap();
        relay.handle_datagram(addr(2), &bytes, now);
        for seq in [u64::MAX - 1, u64::MAX] {
            let snapshot = Snapshot {
                origin: peer,
                seq,
                part: 0,
                parts: 1,
                names: vec!["a".into()],
            };
            let bytes = envelope::seal(Kind::RelaySnapshot, "c", &snapshot).unwrap();
            relay.handle_datagram(addr(2), &bytes, now);
        }
        let deliveries: Vec<Delivery> = std::iter::from_fn(|| relay.poll_delivery()).collect();
        assert_eq!(
            deliveries,
            vec![Delivery::Resynced {
                origin: peer,
                lost: u64::MAX - 1,
                joined: vec!["a".into()],
                left: vec![],
            }]
        );
        // The stream stays usable: nothing past the end of the numbers.
        let data = Data {
            origin: peer,
            events: vec![WireEvent::new(
                u64::MAX,
                &ChatEvent::Joined { name: "b".into() },
            )],
        };
        let bytes = envelope::seal(Kind::RelayData, "c", &data).unwrap();
        relay.handle_datagram(addr(2), &bytes, now);
        relay.handle_tick(now);
        assert_eq!(relay.poll_delivery(), None);
    }

    #[test]
    fn missing_ranges_skip_what_is_buffered() {
        let ev = ChatEvent::Joined { name: "x".into() };
        let buffer: BTreeMap<u64, ChatEvent> =
            [4, 5, 9].into_iter().map(|s| (s, ev.clone())).collect();
        assert_eq!(
            missing_ranges(2, 10, &buffer),
            vec![(2, 3), (6, 8), (10, 10)]
        );
        assert_eq!(missing_ranges(4, 5, &buffer), vec![]);
        assert_eq!(missing_ranges(1, 1, &BTreeMap::new()), vec![(1, 1)]);
    }

    #[test]
    fn snapshots_split_to_fit_datagrams() {
        let names: BTreeSet<String> = (0..2000)
            .map(|i| format!("user-{i:05}-{}", "é".repeat(10)))
            .collect();
        let parts = split_names(&names);
        assert!(parts.len() > 10);
        assert_eq!(parts.iter().map(Vec::len).sum::<usize>(), 2000);
        let me = ServerId::from_bytes([1; 16]);
        for (i, chunk) in parts.iter().enumerate() {
            let snap = Snapshot {
                origin: me,
                seq: 7,
                part: i as u32,
                parts: parts.len() as u32,
                names: chunk.clone(),
            };
            envelope::seal(Kind::RelaySnapshot, &"c".repeat(64), &snap).expect("fits one datagram");
        }
        assert_eq!(split_names(&BTreeSet::new()), vec![Vec::<String>::new()]);
    }

    #[test]
    fn the_largest_event_fits_a_datagram() {
        let ev = WireEvent::new(
            u64::MAX,
            &ChatEvent::Message {
                from: "é".repeat(32),
                text: "x".repeat(1000),
            },
        );
        let me = ServerId::from_bytes([1; 16]);
        let relay = Relay::new(
            me,
            "127.0.0.1:1".parse().unwrap(),
            &"c".repeat(64),
            RelayConfig::default(),
            Instant::now(),
        );
        let packed = relay.pack(&[ev.clone(), ev.clone(), ev]);
        assert_eq!(packed.len(), 3, "one per datagram");
        assert!(packed.iter().all(|d| d.len() <= MAX_DATAGRAM));
    }
}
