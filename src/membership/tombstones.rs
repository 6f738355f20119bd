//! Bounded memory of removed members, so stale news cannot resurrect them.
//!
//! A tombstone remembers the highest heartbeat counter seen from a removed
//! incarnation. News with a counter at or below it is stale; a higher
//! counter proves the incarnation is still running (a healed partition) and
//! re-admits it. Tombstones expire after a TTL and the oldest are dropped
//! beyond a cap, so they cannot accumulate forever (cf. chitchat#161).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::protocol::ServerId;

/// What is remembered about a removed member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tombstone {
    /// Highest heartbeat counter seen before removal.
    pub heartbeat: u64,
    /// When it was removed.
    pub since: Instant,
}

/// The set of tombstones, bounded in age and count.
#[derive(Debug)]
pub struct Tombstones {
    by_id: HashMap<ServerId, Tombstone>,
    order: VecDeque<(ServerId, Instant)>,
    ttl: Duration,
    max: usize,
}

impl Tombstones {
    /// An empty set keeping at most `max` tombstones for at most `ttl`.
    pub fn new(ttl: Duration, max: usize) -> Self {
        Tombstones {
            by_id: HashMap::new(),
            order: VecDeque::new(),
            ttl,
            max: max.max(1),
        }
    }

    /// Records (or refreshes) a tombstone.
    pub fn bury(&mut self, id: ServerId, heartbeat: u64, now: Instant) {
        let heartbeat = self
            .by_id
            .get(&id)
            .map_or(heartbeat, |t| t.heartbeat.max(heartbeat));
        self.by_id.insert(
            id,
            Tombstone {
                heartbeat,
                since: now,
            },
        );
        self.order.push_back((id, now));
        while self.by_id.len() > self.max {
            self.pop_oldest();
        }
    }

    /// The tombstone for `id`, if any.
    pub fn get(&self, id: &ServerId) -> Option<&Tombstone> {
        self.by_id.get(id)
    }

    /// Forgets `id` (it was re-admitted).
    pub fn remove(&mut self, id: &ServerId) {
        self.by_id.remove(id);
    }

    /// Drops tombstones older than the TTL.
    pub fn expire(&mut self, now: Instant) {
        while let Some((_, since)) = self.order.front() {
            if now.saturating_duration_since(*since) < self.ttl {
                break;
            }
            self.pop_oldest();
        }
        // Stale order entries (re-buried or removed ids) are skipped lazily;
        // keep the deque from growing without bound all the same.
        if self.order.len() > 4 * self.max {
            let by_id = &self.by_id;
            self.order
                .retain(|(id, since)| by_id.get(id).is_some_and(|t| t.since == *since));
        }
    }

    /// How many tombstones are held.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// True if none are held.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    fn pop_oldest(&mut self) {
        while let Some((id, since)) = self.order.pop_front() {
            if self.by_id.get(&id).is_some_and(|t| t.since == since) {
                self.by_id.remove(&id);
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> ServerId {
        ServerId::from_bytes([n; 16])
    }

    #[test]
    fn keeps_the_highest_counter() {
        let t0 = Instant::now();
        let mut t = Tombstones::new(Duration::from_secs(60), 10);
        t.bury(id(1), 5, t0);
        t.bury(id(1), 3, t0);
        assert_eq!(t.get(&id(1)).unwrap().heartbeat, 5);
    }

    #[test]
    fn bounded_by_count_and_age() {
        let t0 = Instant::now();
        let mut t = Tombstones::new(Duration::from_secs(60), 3);
        for n in 0..10 {
            t.bury(id(n), 1, t0 + Duration::from_secs(u64::from(n)));
        }
        assert_eq!(t.len(), 3);
        assert!(t.get(&id(9)).is_some() && t.get(&id(0)).is_none());
        t.expire(t0 + Duration::from_secs(68));
        assert_eq!(
            t.len(),
            1,
            "only the one buried at 9 s is younger than 60 s"
        );
        t.expire(t0 + Duration::from_secs(200));
        assert!(t.is_empty());
    }

    #[test]
    fn reburying_and_removing_do_not_leak() {
        let t0 = Instant::now();
        let mut t = Tombstones::new(Duration::from_secs(60), 4);
        for round in 0..1000u64 {
            t.bury(id(1), round, t0);
            t.remove(&id(1));
        }
        t.expire(t0);
        assert!(t.order.len() <= 16);
    }
}
