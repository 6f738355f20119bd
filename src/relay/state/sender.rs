//! The sending side of the relay: packing this server's events into
//! datagrams for every peer, answering NACKs from the retransmit buffer,
//! and serving member snapshots.

use super::projection::SnapshotPart;
use super::*;
use crate::wire::envelope::MAX_CLUSTER_NAME;

/// The members of this server (with their rooms) as of event `seq`, and
/// the topics it knew then, split into datagram-sized parts: what a
/// snapshot serves.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct StartSnapshot {
    pub(crate) seq: u64,
    pub(crate) parts: Vec<SnapshotPart>,
    /// The topic changes it includes (`Projection::topics_seen`).
    pub(crate) topics_seen: u64,
}

/// Whether `event`, whatever its number, fits one `RelayData` datagram of
/// any cluster (the longest cluster name, a seal). The room refuses a
/// local event that does not, since it could never be relayed: only a
/// message or private line with long multi-byte names, room and text can
/// fail (PROTOCOL.md 17.4, CLUSTER.md 5.3).
pub fn fits_one_datagram(event: &ChatEvent) -> bool {
    let budget = MAX_DATAGRAM - envelope::overhead("") - MAX_CLUSTER_NAME - DATA_OVERHEAD;
    event.size_bound() <= budget
}

/// A server this one relays its events to.
#[derive(Debug)]
pub(crate) struct Peer {
    pub(crate) addr: SocketAddr,
    /// The snapshot as of the moment it came up (its stream from us starts
    /// right after), until it is no longer useful; see the module docs.
    pub(crate) start: Option<Arc<StartSnapshot>>,
    /// Our last event when it came up: where its stream from us starts.
    pub(crate) since: u64,
    pub(crate) up_at: Instant,
}

impl Relay {
    /// The snapshot as of our last event, built at most once per event.
    /// Never rebuilt for the same event: a receiver may be assembling it
    /// part by part, and its parts must not shift.
    pub(super) fn current_snapshot(&mut self) -> Arc<StartSnapshot> {
        if let Some(cached) = &self.snapshot_cache {
            if cached.seq == self.last_seq {
                return cached.clone();
            }
        }
        let snapshot = Arc::new(self.build_snapshot());
        self.snapshot_cache = Some(snapshot.clone());
        snapshot
    }

    /// The snapshot a peer coming up now is to be served: the current one,
    /// or, if topics were learned since it was built (they are not part of
    /// our stream, so no event marked it stale), one of its own with them.
    pub(super) fn start_snapshot(&mut self) -> Arc<StartSnapshot> {
        let current = self.current_snapshot();
        if current.topics_seen == self.projection.topics_seen {
            return current;
        }
        Arc::new(self.build_snapshot())
    }

    fn build_snapshot(&self) -> StartSnapshot {
        StartSnapshot {
            seq: self.last_seq,
            parts: self.projection.split(),
            topics_seen: self.projection.topics_seen,
        }
    }

    /// The peer whose relay address is `addr`.
    pub(super) fn peer_at(&self, addr: SocketAddr) -> Option<ServerId> {
        self.peers
            .iter()
            .find_map(|(id, p)| (p.addr == addr).then_some(*id))
    }

    pub(super) fn on_nack(&mut self, from: SocketAddr, ranges: &[(u64, u64)]) {
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
        if !resend.is_empty() {
            self.stats.nacks_answered += 1;
        }
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

    /// Serves (parts of) a snapshot to `peer` at `from`. A fresh request
    /// (`seq` 0, no parts) gets the peer's start snapshot while that can
    /// still be followed by repair, a current one otherwise; a request for
    /// missing parts gets them from the snapshot it names, if still held.
    pub(super) fn on_sync_request(
        &mut self,
        peer: ServerId,
        from: SocketAddr,
        request: &SyncRequest,
        now: Instant,
    ) {
        let (seq, parts) = (request.seq, &request.parts[..]);
        let oldest = self.oldest_retained();
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        // Past the TTL, or once `since + 1` is no longer held, the start
        // snapshot would only lead to an overrun: let it go.
        let followable = now.saturating_duration_since(p.up_at) < START_SNAPSHOT_TTL
            && oldest <= p.since.saturating_add(1);
        if !followable {
            p.start = None;
        }
        let since = p.since;
        // A requester that resumes (after an overrun, or after it removed
        // us and found us again) is past the start: a current snapshot.
        let start = p.start.clone().filter(|_| request.resume == 0);
        let continuing = !parts.is_empty();
        let snapshot = match start {
            Some(start) if !continuing || start.seq == seq => start,
            _ => match &self.snapshot_cache {
                Some(cached) if continuing && cached.seq == seq => cached.clone(),
                _ => self.current_snapshot(),
            },
        };
        let total = snapshot.parts.len() as u32;
        let wanted: Vec<u32> = if continuing && snapshot.seq == seq {
            parts.iter().copied().filter(|p| *p < total).collect()
        } else {
            (0..total).collect()
        };
        let mut out = Vec::new();
        for part in wanted {
            let entries = &snapshot.parts[part as usize];
            let body = Snapshot {
                origin: self.me,
                seq: snapshot.seq,
                part,
                parts: total,
                members: entries.members.clone(),
                from: Some(since),
                topics: entries.topics.clone(),
            };
            if let Ok(bytes) = envelope::seal(Kind::RelaySnapshot, &self.cluster, &body) {
                out.push(bytes);
            }
        }
        for bytes in out {
            self.send(Destination::Unicast(from), bytes);
        }
    }

    pub(super) fn flush_unsent(&mut self) {
        if self.unsent.is_empty() {
            return;
        }
        let events = std::mem::take(&mut self.unsent);
        if self.peers.is_empty() {
            return;
        }
        for bytes in self.pack(&events) {
            let peers: Vec<SocketAddr> = self.peers.values().map(|p| p.addr).collect();
            for addr in peers {
                self.send(Destination::Unicast(addr), bytes.clone());
            }
        }
        self.news_sent(self.last_now);
    }

    /// Packs events into as few `RelayData` datagrams as fit.
    pub(super) fn pack(&self, events: &[WireEvent]) -> Vec<Vec<u8>> {
        let budget = MAX_DATAGRAM - envelope::overhead(&self.cluster) - DATA_OVERHEAD;
        let mut out = Vec::new();
        let mut batch: Vec<WireEvent> = Vec::new();
        let mut used = 0;
        for ev in events {
            let size = ev.size_bound();
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

    pub(super) fn seal_data(&self, events: Vec<WireEvent>) -> Option<Vec<u8>> {
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

    pub(super) fn send(&mut self, to: Destination, bytes: Vec<u8>) {
        self.transmits.push_back(Transmit { to, bytes });
    }

    pub(super) fn oldest_retained(&self) -> u64 {
        self.retained
            .front()
            .map_or(self.last_seq + 1, |ev| ev.seq())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::MAX_ENVELOPE;

    #[test]
    fn the_largest_event_fits_a_datagram() {
        // The longest name, room and text in two-byte characters fit; the
        // room refuses what does not (fits_one_datagram).
        let events = [
            ChatEvent::Message {
                from: "é".repeat(32),
                text: "x".repeat(1000),
                room: format!("#{}", "é".repeat(49)),
                cid: u64::MAX,
                action: true,
            },
            ChatEvent::Private {
                from: "\u{4e00}".repeat(32),
                to: "\u{4e00}".repeat(32),
                text: "x".repeat(1000),
                cid: u64::MAX,
                action: true,
            },
        ];
        let me = ServerId::from_bytes([1; 16]);
        let relay = Relay::new(
            me,
            "127.0.0.1:1".parse().unwrap(),
            &"c".repeat(64),
            RelayConfig::default(),
            Instant::now(),
        );
        for event in events {
            assert!(fits_one_datagram(&event), "{event:?}");
            let ev = WireEvent::new(u64::MAX, &event);
            let packed = relay.pack(&[ev.clone(), ev.clone(), ev]);
            assert_eq!(packed.len(), 3, "one per datagram");
            assert!(packed.iter().all(|d| d.len() <= MAX_ENVELOPE));
        }
        let too_long = ChatEvent::Message {
            from: "\u{4e00}".repeat(32),
            text: "x".repeat(1000),
            room: format!("#{}", "\u{4e00}".repeat(49)),
            cid: 0,
            action: false,
        };
        assert!(!fits_one_datagram(&too_long));
    }
}
