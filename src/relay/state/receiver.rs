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

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str) -> SnapshotMember {
        SnapshotMember {
            name: name.into(),
            rooms: vec!["#lobby".into()],
        }
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// What the node does: open the envelope, hand it over.
    fn feed(relay: &mut Relay, bytes: &[u8], now: Instant) {
        let env = envelope::open(bytes).unwrap();
        relay.handle(addr(2), &env, now).unwrap();
    }

    /// A relay with one peer up, not yet synced with it, and that peer's id.
    fn with_peer(now: Instant) -> (Relay, ServerId) {
        let peer = ServerId::from_bytes([2; 16]);
        let mut relay = Relay::new(
            ServerId::from_bytes([1; 16]),
            addr(1),
            "c",
            RelayConfig::default(),
            now,
        );
        relay.peer_up(peer, addr(2), now);
        (relay, peer)
    }

    /// A relay synced (at event 0) with one peer, and that peer's id.
    fn synced_with_peer(now: Instant) -> (Relay, ServerId) {
        let (mut relay, peer) = with_peer(now);
        let snapshot = Snapshot {
            origin: peer,
            seq: 0,
            part: 0,
            parts: 1,
            members: vec![],
            from: None,
            topics: vec![],
        };
        let bytes = envelope::seal(Kind::RelaySnapshot, "c", &snapshot).unwrap();
        feed(&mut relay, &bytes, now);
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
        feed(&mut relay, &bytes, now);
        let data = Data {
            origin: peer,
            events: vec![WireEvent::new(5, &ChatEvent::Joined { name: "a".into() })],
        };
        let bytes = envelope::seal(Kind::RelayData, "c", &data).unwrap();
        feed(&mut relay, &bytes, now);
        relay.peer_down(peer, false);
        let deliveries: Vec<Delivery> = std::iter::from_fn(|| relay.poll_delivery()).collect();
        assert!(matches!(deliveries[0], Delivery::Event { seq: 5, .. }));
        assert_eq!(
            deliveries[1],
            Delivery::Lost {
                origin: peer,
                count: u64::MAX - 1,
            }
        );
        assert!(matches!(deliveries[2], Delivery::OriginGone { .. }));
    }

    #[test]
    fn a_snapshot_claiming_too_many_parts_is_ignored() {
        // Unbounded, forged parts of a never-ending snapshot would pile up
        // while the receiver waits for the rest.
        let now = Instant::now();
        let (mut relay, peer) = with_peer(now);
        for part in 0..10 {
            let snapshot = Snapshot {
                origin: peer,
                seq: 0,
                part,
                parts: MAX_SNAPSHOT_PARTS + 1,
                members: vec![member(&format!("n{part}"))],
                from: None,
                topics: vec![],
            };
            let bytes = envelope::seal(Kind::RelaySnapshot, "c", &snapshot).unwrap();
            feed(&mut relay, &bytes, now);
        }
        assert_eq!(relay.footprint().snapshot_parts, 0);
        assert_eq!(relay.poll_delivery(), None);
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
        feed(&mut relay, &bytes, now);
        for seq in [u64::MAX - 1, u64::MAX] {
            let snapshot = Snapshot {
                origin: peer,
                seq,
                part: 0,
                parts: 1,
                members: vec![member("a")],
                from: None,
                topics: vec![],
            };
            let bytes = envelope::seal(Kind::RelaySnapshot, "c", &snapshot).unwrap();
            feed(&mut relay, &bytes, now);
        }
        let deliveries: Vec<Delivery> = std::iter::from_fn(|| relay.poll_delivery()).collect();
        assert_eq!(
            deliveries,
            vec![
                Delivery::Lost {
                    origin: peer,
                    count: u64::MAX - 1,
                },
                Delivery::Resynced {
                    origin: peer,
                    members: vec![member("a")],
                    topics: vec![],
                }
            ]
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
        feed(&mut relay, &bytes, now);
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
}
