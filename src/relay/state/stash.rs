//! Early data from servers this one's membership has not seen come up yet.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::WireEvent;
use crate::protocol::ServerId;

/// Origins not (yet) up whose data is kept for when they are.
pub(super) const MAX_STASHED_ORIGINS: usize = 16;
/// Events kept per stashed origin.
pub(super) const MAX_STASHED_EVENTS: usize = 256;
/// How long stashed data is kept.
pub(super) const STASH_TTL: Duration = Duration::from_secs(2);

/// Data from servers that this one's membership has not seen come up yet.
///
/// Each side notices the other on its own heartbeat schedule, so an origin
/// often starts relaying to us a few milliseconds before we know it. Those
/// events would be repaired by NACK once we sync, but keeping a few saves
/// the round trip. Bounded in origins, events and time: data from a server
/// that never comes up costs at most [`MAX_STASHED_ORIGINS`] ×
/// [`MAX_STASHED_EVENTS`] events for [`STASH_TTL`].
#[derive(Debug, Default)]
pub(super) struct Stash {
    origins: BTreeMap<ServerId, (Instant, Vec<WireEvent>)>,
}

impl Stash {
    /// Keeps `events` of `origin`, received at `now`, within the bounds.
    pub(super) fn keep(&mut self, origin: ServerId, events: Vec<WireEvent>, now: Instant) -> bool {
        if !self.origins.contains_key(&origin) && self.origins.len() >= MAX_STASHED_ORIGINS {
            return false;
        }
        let (_, held) = self
            .origins
            .entry(origin)
            .or_insert_with(|| (now, Vec::new()));
        let room = MAX_STASHED_EVENTS.saturating_sub(held.len());
        held.extend(events.into_iter().take(room));
        true
    }

    /// Everything kept for `origin`.
    pub(super) fn take(&mut self, origin: ServerId) -> Vec<WireEvent> {
        self.origins
            .remove(&origin)
            .map(|(_, e)| e)
            .unwrap_or_default()
    }

    /// Forgets what has been kept longer than [`STASH_TTL`].
    pub(super) fn expire(&mut self, now: Instant) {
        self.origins
            .retain(|_, (since, _)| now.saturating_duration_since(*since) < STASH_TTL);
    }

    /// Events held, over all origins.
    pub(super) fn len(&self) -> usize {
        self.origins.values().map(|(_, e)| e.len()).sum()
    }
}
