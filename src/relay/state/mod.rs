//! The relay state machine: every server's chat events reach every other
//! server exactly once, in their origin's order, over lossy UDP.
//!
//! Sans-IO, like membership: inputs are [`Relay::submit`] (a local event,
//! numbered by the room), [`Relay::peer_up`]/[`Relay::peer_down`] (routed
//! from membership by the node), [`Relay::handle`] (an opened envelope of a
//! relay kind) and [`Relay::handle_tick`]; outputs are datagrams
//! ([`Relay::poll_transmit`]) and in-order deliveries
//! ([`Relay::poll_delivery`]).
//!
//! How it stays exact:
//! * **Sender.** Each origin's events arrive numbered 1, 2, 3… (a restarted
//!   server is a new origin with a new numbering). New events are packed
//!   into `RelayData` datagrams for every peer, and the last
//!   `retransmit_capacity` are kept for repair. A `RelayStatus` tells
//!   peers the range `[oldest, highest]` still held, so loss at the tail of
//!   a burst is noticed too: every `status_interval` while there is news,
//!   then only a slow keepalive, by multicast to the peers the group
//!   reaches (see `status.rs`).
//! * **The sync point.** When a peer comes up, the sender notes the last
//!   event it has (`since`) and keeps a snapshot of its members as of that
//!   event. Everything after `since` is relayed to the peer, so that is
//!   where the peer's stream must start: the snapshot it is served is the
//!   one as of `since`, however long its request took to get through
//!   under loss, and the peer repairs `since+1…` by NACK. Only if the
//!   request comes so late that the sender no longer holds `since+1` (or
//!   after [`START_SNAPSHOT_TTL`]) is a current snapshot served instead;
//!   it names `since` too, so the receiver reports the skipped stretch as
//!   [`Delivery::Lost`] with the exact count.
//! * **Receiver.** It starts from that snapshot, then delivers `s+1, s+2, …`
//!   in order. Duplicates are dropped. Early events wait in a bounded
//!   buffer (events from an origin not yet known wait in a small stash),
//!   and gaps are requested with a `RelayNack` of the missing ranges.
//! * **Overrun.** If a receiver needs events older than the origin still
//!   holds, it cannot be repaired. It fetches a fresh snapshot, delivers
//!   what it does have in order, reports [`Delivery::Lost`] with the exact
//!   number of events lost and [`Delivery::Resynced`] with the member list.
//!   Nothing is lost silently.
//! * **Peer loss.** `peer_down` ends the origin's stream with
//!   [`Delivery::OriginGone`]; the application knows who was there.
//!
//! The relay keeps no copy of other servers' members: the room owns them.
//! It keeps the local stream's members (with their rooms) only to serve
//! snapshots, as a projection of the events it was given, and the topics
//! this server knows, for the same snapshots (see `projection`).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tracing::warn;

mod ended;
mod footprint;
mod projection;
mod receiver;
mod sender;
mod stash;
mod status;
#[cfg(test)]
mod tests;

pub use footprint::Footprint;
pub use sender::fits_one_datagram;

use std::sync::Arc;

use super::messages::{
    ChatEvent, Data, Nack, Snapshot, SnapshotMember, Status, SyncRequest, TopicEntry, WireEvent,
};
use crate::protocol::ServerId;
use crate::wire::{envelope, Destination, Envelope, EnvelopeError, Kind, Transmit, MAX_DATAGRAM};
use ended::Ended;
use projection::Projection;
use receiver::Origin;
use sender::{Peer, StartSnapshot};
use stash::Stash;

/// Relay tuning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayConfig {
    /// Events an origin keeps for repair. At most ~1.2 KB each, so the
    /// default bounds the buffer near 5 MB.
    pub retransmit_capacity: usize,
    /// How often an origin announces the range it holds while it has news:
    /// after new events went out (see `status.rs`).
    pub status_interval: Duration,
    /// How many announcements follow the last new event, one per
    /// `status_interval`, so that the loss of a burst's last event is
    /// noticed even when some announcements are lost too.
    pub status_repeats: u32,
    /// How often an idle origin announces its range anyway: the backstop
    /// if every repeat was lost.
    pub status_keepalive: Duration,
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
            status_repeats: 5,
            status_keepalive: Duration::from_secs(1),
            nack_interval: Duration::from_millis(20),
            sync_retry: Duration::from_millis(100),
            max_buffered: 8192,
        }
    }
}

/// What the relay hands the application, per origin in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The first snapshot of `origin`: these members are there now, in
    /// these rooms, and it knows these topics.
    Synced {
        /// The origin.
        origin: ServerId,
        /// Its members, by name, each once.
        members: Vec<SnapshotMember>,
        /// The topics it knows.
        topics: Vec<TopicEntry>,
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
    /// `count` events from `origin` can never be delivered: repair came too
    /// late (an overrun, a sync served late) or the origin died first.
    Lost {
        /// The origin.
        origin: ServerId,
        /// How many events, exactly.
        count: u64,
    },
    /// After an overrun: `origin`'s members are now exactly these, in
    /// these rooms (the joins, leaves, entries and parts in between were
    /// among the lost events), and it knows these topics.
    Resynced {
        /// The origin.
        origin: ServerId,
        /// Its members, by name, each once.
        members: Vec<SnapshotMember>,
        /// The topics it knows.
        topics: Vec<TopicEntry>,
    },
    /// `origin` is gone (crashed, left or replaced); its stream ends here.
    OriginGone {
        /// The origin.
        origin: ServerId,
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
    /// NACKs from peers answered with at least one resent event.
    pub nacks_answered: u64,
    /// Events resent in answer to NACKs.
    pub retransmitted: u64,
    /// Overruns resolved by a snapshot.
    pub resyncs: u64,
    /// Events reported lost (overruns, late syncs, origins gone).
    pub lost: u64,
    /// Relay datagrams dropped here: events numbered 0 or past the last
    /// number, and data of origins neither up nor stashable. (Malformed and
    /// foreign datagrams are counted by the node.)
    pub dropped: u64,
}

/// The relay state of one server.
#[derive(Debug)]
pub struct Relay {
    me: ServerId,
    addr: SocketAddr,
    cluster: String,
    config: RelayConfig,
    last_seq: u64,
    /// The local stream's members as of `last_seq`, and the topics known:
    /// what snapshots show.
    projection: Projection,
    retained: VecDeque<WireEvent>,
    unsent: Vec<WireEvent>,
    peers: BTreeMap<ServerId, Peer>,
    origins: BTreeMap<ServerId, Origin>,
    /// Data from origins not (yet) up, kept briefly: see [`Stash`].
    stash: Stash,
    /// Where recently ended streams would resume: see `ended.rs`.
    ended: Ended,
    /// The snapshot as of `last_seq`, once built; shared by every peer
    /// that comes up before the next event.
    snapshot_cache: Option<Arc<StartSnapshot>>,
    next_status: Instant,
    /// Announcements still due at `status_interval` pace (news went out).
    announcements_left: u32,
    /// Peers the multicast group reaches, as membership last said.
    on_group: BTreeSet<ServerId>,
    last_now: Instant,
    transmits: VecDeque<Transmit>,
    deliveries: VecDeque<Delivery>,
    stats: RelayStats,
}

/// Room left in a `RelayData` body beyond its events: the body's array
/// header, the origin id (18) and the events' array header (up to 3).
const DATA_OVERHEAD: usize = 24;
/// Most NACK ranges in one datagram.
const MAX_NACK_RANGES: usize = 64;
/// Most events resent in answer to one NACK.
const MAX_RESEND: usize = 4096;
/// Most snapshot parts asked for in one request (each costs up to 5 bytes).
const MAX_PARTS_PER_REQUEST: usize = 200;
/// Bytes of entries (members, topics) per snapshot part.
const SNAPSHOT_PART_BYTES: usize = 1100;
/// The highest sequence number accepted from the network. No origin creates
/// 2^64 - 1 events; refusing the very last number keeps "one past the last
/// delivered" representable, so no forged number can overflow it.
const LAST_SEQ: u64 = u64::MAX - 1;
/// Most parts a snapshot may have. A server's members fill at most a few
/// hundred parts (10,000 members with 32-character names in `#lobby` and
/// three 10-character rooms take about 800), so a claim beyond this is
/// forged, and refusing it bounds what a receiver holds while assembling
/// one snapshot (about 5 MiB). The largest snapshot that fits is 4.5 MB of
/// entries: about 680 members in 32 rooms if every name and room were as
/// long as the rules allow in four-byte characters, or 2,600 with
/// ASCII names of the longest kind (CLUSTER.md 5.3).
const MAX_SNAPSHOT_PARTS: u32 = 4096;
/// How long a peer's start snapshot is kept for it. A sync normally
/// completes within a few round trips; a request later than this is
/// served a current snapshot, and the receiver counts the gap as lost.
pub const START_SNAPSHOT_TTL: Duration = Duration::from_secs(30);

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
            projection: Projection::default(),
            retained: VecDeque::new(),
            unsent: Vec::new(),
            peers: BTreeMap::new(),
            origins: BTreeMap::new(),
            stash: Stash::default(),
            ended: Ended::default(),
            snapshot_cache: None,
            next_status: now,
            announcements_left: 0,
            on_group: BTreeSet::new(),
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

    /// Relays a local event. The room numbers events (1, 2, …, in the
    /// order it fans them out); the relay records the stream as given.
    pub fn submit(&mut self, seq: u64, event: ChatEvent) {
        debug_assert_eq!(seq, self.last_seq + 1, "the room numbers events in order");
        self.last_seq = seq;
        self.projection.apply_local(self.me, &event);
        let wire = WireEvent::from_event(seq, event);
        // With no peer, the next flush would drop it unsent anyway: a peer
        // that comes up later syncs from a snapshot taken after this event.
        // A lone server copies nothing.
        if !self.peers.is_empty() {
            self.unsent.push(wire.clone());
        }
        self.retained.push_back(wire);
        while self.retained.len() > self.config.retransmit_capacity.max(1) {
            self.retained.pop_front();
        }
        self.snapshot_cache = None;
    }

    /// Membership says `id` is up at relay address `addr`: start syncing
    /// from it, and send it our events from now on. Its stream from us
    /// starts after our last event: the snapshot it will be served is the
    /// one as of now (see the module docs).
    pub fn peer_up(&mut self, id: ServerId, addr: SocketAddr, now: Instant) {
        if id == self.me {
            return;
        }
        let start = self.start_snapshot();
        self.peers.insert(
            id,
            Peer {
                addr,
                start: Some(start),
                since: self.last_seq,
                up_at: now,
            },
        );
        let ended = &mut self.ended;
        let origin = self
            .origins
            .entry(id)
            .or_insert_with(|| match ended.resume(id) {
                Some(next) => Origin::resuming(addr, next),
                None => Origin::new(addr),
            });
        origin.addr = addr;
        let early = self.stash.take(id);
        for wire in early {
            self.take_event(id, wire);
        }
        self.deliver_ready(id);
    }

    /// Membership says `id` is gone (`graceful` if it announced a leave):
    /// its stream ends here.
    ///
    /// Events already received but held back by a gap are delivered (in
    /// order, skipping the gap); the missing ones can no longer be had from
    /// anyone, so they are counted and reported as a [`Delivery::Lost`]
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
                self.deliver_event(id, seq, event);
                delivered += 1;
            }
            let lost = highest - next + 1 - delivered;
            if lost > 0 {
                warn!(origin = %id, lost, "relay: server gone with events unrepaired");
                self.report_lost(id, lost);
            }
        }
        if streaming && origin.next > 0 {
            // Everything up to `highest` is delivered or reported now.
            let resume = origin.next.max(origin.highest.saturating_add(1));
            self.ended.end(id, resume, self.last_now);
        }
        self.deliveries.push_back(Delivery::OriginGone {
            origin: id,
            graceful,
        });
    }

    /// Counts and reports `count` events of `origin` as lost.
    fn report_lost(&mut self, origin: ServerId, count: u64) {
        self.stats.lost = self.stats.lost.saturating_add(count);
        self.deliveries.push_back(Delivery::Lost { origin, count });
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
        self.announce_if_due(now);
        let ids: Vec<ServerId> = self.origins.keys().copied().collect();
        for id in ids {
            self.chase(id, now);
        }
        self.stash.expire(now);
        self.ended.expire(now);
        for peer in self.peers.values_mut() {
            if now.saturating_duration_since(peer.up_at) >= START_SNAPSHOT_TTL {
                peer.start = None;
            }
        }
    }

    /// Processes one envelope of a relay kind from `from`, already opened
    /// and checked to be of this cluster by the node. A body that does not
    /// parse is an error (the node counts it); membership kinds are ignored.
    pub fn handle(
        &mut self,
        from: SocketAddr,
        env: &Envelope<'_>,
        now: Instant,
    ) -> Result<(), EnvelopeError> {
        self.last_now = now;
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
                if nack.origin == self.me && self.peer_at(from).is_some() {
                    self.on_nack(from, &nack.ranges);
                }
            }
            Kind::RelaySyncRequest => {
                let request: SyncRequest = env.body()?;
                let peer = match request.requester {
                    Some(id) => self.peers.get(&id).filter(|p| p.addr == from).map(|_| id),
                    None => self.peer_at(from),
                };
                if let (true, Some(peer)) = (request.origin == self.me, peer) {
                    self.on_sync_request(peer, from, &request, now);
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
}
