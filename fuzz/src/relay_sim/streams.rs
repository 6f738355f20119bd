//! What each receiver was delivered of each origin's stream, checked as
//! it arrives.

use std::collections::BTreeSet;

use chatty::relay::{ChatEvent, Delivery};

use super::World;

/// One run of an origin's stream at a receiver, `Synced` to `OriginGone`.
#[derive(Debug, Default, Clone)]
pub(super) struct Stream {
    pub(super) synced: bool,
    /// The origin's last sequence number when the snapshot arrived: the
    /// snapshot is at most this new.
    pub(super) bound: u64,
    pub(super) last: Option<u64>,
    pub(super) delivered: u64,
    /// Reported lost after the snapshot (gaps must fit in this).
    pub(super) lost: u64,
    pub(super) gaps: u64,
    pub(super) members: BTreeSet<String>,
}

impl World {
    pub(super) fn check_delivery(&mut self, slot: usize, delivery: Delivery) {
        let node = &mut self.nodes[slot];
        let honest = !node.tainted;
        match delivery {
            Delivery::Synced {
                origin, members, ..
            } => {
                assert!(node.up.contains(&origin), "sync from an origin not up");
                let stream = node.streams.entry(origin).or_default();
                assert!(!stream.synced, "a second first sync for one stream");
                stream.synced = true;
                stream.bound = self.history.get(&origin).map_or(0, |h| h.len() as u64);
                stream.members = members.into_iter().map(|m| m.name).collect();
            }
            Delivery::Event { origin, seq, event } => {
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
                project(&mut stream.members, &event);
                if honest {
                    let truth = self.history.get(&origin).and_then(|h| {
                        let index = usize::try_from(seq.checked_sub(1)?).ok()?;
                        h.get(index)
                    });
                    assert_eq!(truth, Some(&event), "event {seq} is not what was sent");
                }
            }
            Delivery::Lost { origin, count } => {
                // Before the snapshot it counts what a late sync skipped;
                // after it, gaps.
                let stream = node.streams.entry(origin).or_default();
                if stream.synced {
                    stream.lost = stream.lost.saturating_add(count);
                }
            }
            Delivery::Resynced {
                origin, members, ..
            } => {
                let stream = node.streams.entry(origin).or_default();
                assert!(stream.synced, "resync before the first snapshot");
                stream.members = members.into_iter().map(|m| m.name).collect();
            }
            Delivery::OriginGone { origin, .. } => {
                assert!(!node.up.contains(&origin), "gone while still a member");
                // The stream ends; a later Up starts a new one.
                node.streams.remove(&origin);
            }
        }
    }
}

/// Applies a membership event to a member list.
pub(super) fn project(members: &mut BTreeSet<String>, event: &ChatEvent) {
    event.update_names(members);
}
