//! The receiving side of the relay: one [`Origin`] per peer, delivering its
//! events in order, buffering early ones, chasing gaps with NACKs and
//! resynchronising from snapshots after an overrun.

use super::projection::merge_members;
use super::*;

#[derive(Debug, Default)]
pub(super) struct SyncState {
    /// The snapshot being assembled, once its first part arrived.
    pub(super) seq: Option<u64>,
    /// Where the origin began relaying to us, as its snapshot says.
    pub(super) from: Option<u64>,
    pub(super) parts: u32,
    pub(super) got: BTreeMap<u32, (Vec<SnapshotMember>, Vec<TopicEntry>)>,
    pub(super) last_request: Option<Instant>,
    /// True after an overrun: the result is a resync, not a first sync.
    pub(super) resync: bool,
}

#[derive(Debug)]
pub(super) struct Origin {
    pub(super) addr: SocketAddr,
    /// `Some` while waiting for a snapshot.
    pub(super) sync: Option<SyncState>,
    /// Next sequence number to deliver (once synced).
    pub(super) next: u64,
    /// Highest sequence number known to exist.
    pub(super) highest: u64,
    pub(super) buffer: BTreeMap<u64, ChatEvent>,
    pub(super) last_nack: Option<Instant>,
}

impl Origin {
    /// A new origin at `addr`, waiting for its first snapshot.
    pub(super) fn new(addr: SocketAddr) -> Origin {
        Origin {
            addr,
            sync: Some(SyncState::default()),
            next: 0,
            highest: 0,
            buffer: BTreeMap::new(),
            last_nack: None,
        }
    }

    /// An origin at `addr` whose stream this server followed before, up
    /// to `next`: it resumes there, as a resync (see `ended.rs`).
    pub(super) fn resuming(addr: SocketAddr, next: u64) -> Origin {
        Origin {
            sync: Some(SyncState {
                resync: true,
                ..SyncState::default()
            }),
            next,
            highest: next.saturating_sub(1),
            ..Origin::new(addr)
        }
    }
}

impl Relay {
    pub(super) fn on_data(&mut self, data: Data) {
        if !self.origins.contains_key(&data.origin) {
            if data.origin == self.me || !self.stash.keep(data.origin, data.events, self.last_now) {
                self.stats.dropped += 1;
            }
            return;
        }
        for wire in data.events {
            self.take_event(data.origin, wire);
        }
        self.deliver_ready(data.origin);
    }

    /// Files one received event of a known origin: a duplicate is counted,
    /// anything new is buffered (bounded) until it can be delivered.
    pub(super) fn take_event(&mut self, id: ServerId, wire: WireEvent) {
        let max_buffered = self.config.max_buffered;
        let Some(o) = self.origins.get_mut(&id) else {
            return;
        };
        let seq = wire.seq();
        if seq > LAST_SEQ || seq == 0 {
            self.stats.dropped += 1;
            return;
        }
        o.highest = o.highest.max(seq);
        let old = o.sync.is_none() && seq < o.next;
        if old || o.buffer.contains_key(&seq) {
            self.stats.duplicates += 1;
        } else if o.buffer.len() < max_buffered {
            o.buffer.insert(seq, wire.into_event());
        }
    }

    pub(super) fn on_status(&mut self, status: Status) {
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

    pub(super) fn on_snapshot(&mut self, snap: Snapshot) {
        let Some(o) = self.origins.get_mut(&snap.origin) else {
            return;
        };
        let Some(sync) = o.sync.as_mut() else {
            return; // already synced: a late duplicate
        };
        if snap.parts == 0
            || snap.parts > MAX_SNAPSHOT_PARTS
            || snap.part >= snap.parts
            || snap.seq > LAST_SEQ
        {
            return;
        }
        // A resync must not go back: a delayed snapshot older than what was
        // already delivered is ignored. (`seq = next - 1` is exact: the
        // origin said nothing since.)
        if sync.resync && snap.seq.saturating_add(1) < o.next {
            return;
        }
        match sync.seq {
            Some(seq) if seq == snap.seq => {}
            Some(seq) if seq > snap.seq => return, // older than the one in progress
            _ => {
                sync.seq = Some(snap.seq);
                sync.from = snap.from;
                sync.parts = snap.parts;
                sync.got.clear();
            }
        }
        sync.got.insert(snap.part, (snap.members, snap.topics));
        if sync.got.len() as u32 == sync.parts {
            self.apply_snapshot(snap.origin);
        }
    }

    /// A complete snapshot: jump to it, deliver what can be, report losses.
    pub(super) fn apply_snapshot(&mut self, id: ServerId) {
        let Some(o) = self.origins.get_mut(&id) else {
            return;
        };
        let Some(sync) = o.sync.take() else { return };
        let seq = sync.seq.unwrap_or(0);
        let (members, topics): (Vec<_>, Vec<_>) = sync.got.into_values().unzip();
        let members = merge_members(members);
        let topics: Vec<TopicEntry> = topics.into_iter().flatten().collect();
        for topic in &topics {
            self.projection.offer(topic.clone());
        }
        if !sync.resync {
            o.buffer = o.buffer.split_off(&(seq + 1));
            o.next = seq + 1;
            // Served late: the origin relayed `from+1..=seq` to us, and the
            // snapshot is past them. Say so, exactly.
            let skipped = sync.from.map_or(0, |from| seq.saturating_sub(from));
            if skipped > 0 {
                warn!(origin = %id, skipped, "relay: synchronised past events sent to us");
                self.report_lost(id, skipped);
            }
            self.deliveries.push_back(Delivery::Synced {
                origin: id,
                members,
                topics,
            });
        } else {
            // Deliver, in order, whatever we hold up to the snapshot; the
            // rest of that stretch is lost. (Walk what is held: `seq` comes
            // from the network, and on_snapshot ensured `seq >= next`.)
            let mut held = std::mem::take(&mut o.buffer);
            o.buffer = held.split_off(&(seq + 1));
            let mut delivered = 0;
            let next = o.next;
            o.next = seq + 1;
            for (s, event) in held.into_iter().filter(|(s, _)| *s >= next) {
                self.deliver_event(id, s, event);
                delivered += 1;
            }
            let lost = seq + 1 - next - delivered;
            self.stats.resyncs += 1;
            warn!(origin = %id, lost, "relay: resynchronised");
            if lost > 0 {
                self.report_lost(id, lost);
            }
            self.deliveries.push_back(Delivery::Resynced {
                origin: id,
                members,
                topics,
            });
        }
        self.deliver_ready(id);
    }

    pub(super) fn deliver_ready(&mut self, id: ServerId) {
        let Some(o) = self.origins.get_mut(&id) else {
            return;
        };
        if o.sync.is_some() {
            return;
        }
        let mut ready = Vec::new();
        while let Some(event) = o.buffer.remove(&o.next) {
            ready.push((o.next, event));
            o.next += 1;
        }
        for (seq, event) in ready {
            self.deliver_event(id, seq, event);
        }
    }

    /// Hands one event of `origin` to the application, noting a topic on
    /// the way (snapshots carry every topic this server knows).
    pub(super) fn deliver_event(&mut self, origin: ServerId, seq: u64, event: ChatEvent) {
        self.projection.note_topic(origin, &event);
        self.stats.delivered += 1;
        self.deliveries
            .push_back(Delivery::Event { origin, seq, event });
    }

    /// Asks an origin for what is missing: a snapshot, or a gap's events.
    pub(super) fn chase(&mut self, id: ServerId, now: Instant) {
        let (nack_interval, sync_retry) = (self.config.nack_interval, self.config.sync_retry);
        let Some(o) = self.origins.get_mut(&id) else {
            return;
        };
        let (addr, next) = (o.addr, o.next);
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
                    requester: Some(self.me),
                    resume: if sync.resync { next.max(1) } else { 0 },
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
}

/// The inclusive ranges in `next..=highest` not present in `buffer`.
pub(super) fn missing_ranges(
    next: u64,
    highest: u64,
    buffer: &BTreeMap<u64, ChatEvent>,
) -> Vec<(u64, u64)> {
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
