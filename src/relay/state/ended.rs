//! Streams that membership ended, remembered for a while.
//!
//! Membership can remove a server that is still alive: a partition, a
//! one-sided loss of heartbeats, a stall longer than `dead_after`. When
//! the same incarnation is found again, its stream must go on from where
//! this server stopped delivering it, not start over: starting at the
//! origin's old sync point would deliver events a second time, and
//! starting at a new one would skip, unreported, whatever the origin
//! relayed while the two disagreed. So the next event this server needs is
//! remembered per incarnation; a stream found again resumes there, as a
//! resync (a current snapshot, the events it still gets, the rest counted
//! as lost). Bounded: at most [`MAX_ENDED`] streams for [`ENDED_TTL`] —
//! past that, a returning server is treated as new, as before.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::protocol::ServerId;

/// How long an ended stream is remembered; as long as membership keeps the
/// tombstone that stops stale news of a removed server.
pub(super) const ENDED_TTL: Duration = Duration::from_secs(60);
/// Most ended streams remembered; the oldest go first.
pub(super) const MAX_ENDED: usize = 1024;

#[derive(Debug, Default)]
pub(super) struct Ended {
    streams: BTreeMap<ServerId, (u64, Instant)>,
}

impl Ended {
    /// `origin`'s stream ended at `now`; `next` is the first event not
    /// delivered (nor reported lost).
    pub(super) fn end(&mut self, origin: ServerId, next: u64, now: Instant) {
        if self.streams.len() >= MAX_ENDED && !self.streams.contains_key(&origin) {
            let oldest = self
                .streams
                .iter()
                .min_by_key(|(_, (_, at))| *at)
                .map(|(id, _)| *id);
            if let Some(oldest) = oldest {
                self.streams.remove(&oldest);
            }
        }
        self.streams.insert(origin, (next, now));
    }

    /// Where `origin`'s stream resumes, if it ended here recently.
    pub(super) fn resume(&mut self, origin: ServerId) -> Option<u64> {
        self.streams.remove(&origin).map(|(next, _)| next)
    }

    /// Forgets streams ended longer than [`ENDED_TTL`] ago.
    pub(super) fn expire(&mut self, now: Instant) {
        self.streams
            .retain(|_, (_, at)| now.saturating_duration_since(*at) < ENDED_TTL);
    }

    /// How many are remembered.
    pub(super) fn len(&self) -> usize {
        self.streams.len()
    }
}
