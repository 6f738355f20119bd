//! Read-only sizes of the relay's buffers, so tests and fuzzing can check
//! that whatever peers send, each buffer stays within its bound.

use super::Relay;

/// Sizes of a relay's internal buffers.
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
    /// Early events kept from origins not yet up (bounded; see `Stash`).
    pub stashed: usize,
    /// Ended streams remembered for resuming (at most `MAX_ENDED`).
    pub ended: usize,
    /// Start snapshots held for peers (at most one per peer).
    pub start_snapshots: usize,
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
            stashed: self.stash.len(),
            ended: self.ended.len(),
            start_snapshots: self.peers.values().filter(|p| p.start.is_some()).count(),
            transmits: self.transmits.len(),
            deliveries: self.deliveries.len(),
        }
    }
}
