//! The relay's promises, checked from the record of what every node was
//! delivered (see [`super::streams`]).
//!
//! * **Complete:** between running servers every stream, once synced,
//!   carries every event after its start, in order, exactly once.
//! * **The speaker's view** (issue 14): every event an origin submitted
//!   while it listed a receiver's members (had synced with it) reaches that
//!   receiver, or the receiver reports it lost.
//! * **Exact:** a receiver's stream starts right after the origin's last
//!   event when the origin saw the receiver come up, and what it delivered
//!   plus what it reported lost is exactly the rest.

use std::collections::BTreeSet;
use std::time::Duration;

use chatty::protocol::ServerId;
use chatty::relay::Delivery;

use super::streams::Epoch;
use super::{Cluster, MS};

/// The origin a delivery is about.
pub fn origin_of(delivery: &Delivery) -> ServerId {
    match delivery {
        Delivery::Synced { origin, .. }
        | Delivery::Event { origin, .. }
        | Delivery::Lost { origin, .. }
        | Delivery::Resynced { origin, .. }
        | Delivery::OriginGone { origin, .. } => *origin,
    }
}

impl Cluster {
    /// Running (receiver slot, origin slot) pairs.
    fn pairs(&self) -> Vec<(usize, usize)> {
        let running = self.sim.running();
        let mut pairs = Vec::new();
        for &r in &running {
            pairs.extend(running.iter().filter(|o| **o != r).map(|&o| (r, o)));
        }
        pairs
    }

    /// Every running server lists every other one's members.
    pub fn all_synced(&self) -> bool {
        self.pairs()
            .into_iter()
            .all(|(r, o)| self.stream(r, self.id(o)).listing())
    }

    /// Runs until [`Cluster::all_synced`], at most `limit`.
    pub fn run_until_synced(&mut self, limit: Duration) {
        let start = self.sim.elapsed();
        while !self.all_synced() {
            assert!(
                self.sim.elapsed() - start < limit,
                "seed {}: not synced within {limit:?}",
                self.seed
            );
            self.run(10 * MS);
        }
    }

    /// The epoch in which the receiver in slot `r` lists the origin in slot
    /// `o` now; panics (with the seed) if it does not list it.
    fn listing_epoch(&self, r: usize, o: usize) -> &Epoch {
        self.stream(r, self.id(o))
            .current()
            .filter(|e| e.listing())
            .unwrap_or_else(|| panic!("seed {}: {r} does not list {o}", self.seed))
    }

    /// Every running receiver got every running origin's events after its
    /// sync point: exactly `first..=last`, no gaps, no duplicates, no
    /// resyncs, no losses; and it lists the origin's members as they are.
    pub fn assert_complete(&self) {
        for (r, o) in self.pairs() {
            let origin = self.id(o);
            let epoch = self.listing_epoch(r, o);
            let last = self.truth.last_seq(origin);
            let first = epoch.seqs.first().copied().unwrap_or(last + 1);
            let expected: Vec<u64> = (first..=last).collect();
            assert_eq!(
                epoch.seqs, expected,
                "seed {}: stream {o} -> {r}",
                self.seed
            );
            assert!(
                epoch.resyncs.is_empty() && epoch.lost_total() == 0,
                "seed {}: stream {o} -> {r} resynced or lost: {epoch:?}",
                self.seed
            );
            self.assert_members_agree(r, o);
        }
    }

    /// Every running receiver lists every running origin again and has
    /// caught up with it: its stream goes on to the origin's last event,
    /// and every number it skipped (events relayed while the two could not
    /// hear each other) was reported lost; members agree. What a partition
    /// that heals must leave behind.
    pub fn assert_caught_up(&self) {
        for (r, o) in self.pairs() {
            let origin = self.id(o);
            let stream = self.stream(r, origin);
            let epoch = self.listing_epoch(r, o);
            assert_eq!(
                epoch.seqs.last().copied(),
                Some(self.truth.last_seq(origin)),
                "seed {}: stream {o} -> {r} has not caught up",
                self.seed
            );
            stream.check_gaps(origin);
            self.assert_members_agree(r, o);
        }
    }

    /// The receiver in slot `r` lists the members of the origin in slot
    /// `o` exactly as the origin has them.
    pub fn assert_members_agree(&self, r: usize, o: usize) {
        let origin = self.id(o);
        let seen = self.stream(r, origin).current().map(|e| &e.members);
        assert_eq!(
            seen,
            Some(&self.truth.members.get(&origin).cloned().unwrap_or_default()),
            "seed {}: {r} lists other members of {o}",
            self.seed
        );
    }

    /// The speaker's view: each event an origin submitted while it listed
    /// a receiver was delivered there, or is covered by a reported loss.
    /// Only pairs whose two incarnations still run are held to it (a
    /// crashed receiver's clients are gone). Returns how many (event,
    /// receiver) promises were checked.
    pub fn assert_promises_kept(&self) -> usize {
        let running: BTreeSet<ServerId> = self.running_ids().into_iter().collect();
        let mut checked = 0;
        for ((origin, receiver), seqs) in &self.promises {
            if !running.contains(origin) || !running.contains(receiver) {
                continue;
            }
            let stream = self
                .streams
                .get(&(*receiver, *origin))
                .cloned()
                .unwrap_or_default();
            let delivered = stream.delivered();
            let missing: Vec<u64> = seqs
                .iter()
                .copied()
                .filter(|s| !delivered.contains(s))
                .collect();
            assert!(
                missing.len() as u64 <= stream.lost_total(),
                "seed {}: {receiver} silently missed {} events of {origin} that were \
                 sent while {origin} listed it (first {:?}); {} reported lost; {stream:?}",
                self.seed,
                missing.len(),
                &missing[..missing.len().min(10)],
                stream.lost_total(),
            );
            checked += seqs.len();
        }
        checked
    }

    /// Exactness, for running pairs that saw each other come up once: the
    /// receiver's stream of the origin starts after the origin's last event
    /// at that moment (`since`), and its deliveries plus its reported
    /// losses are exactly `since+1..=last`. Returns the pairs checked.
    /// Restarted receivers are checked too: a sync request names its
    /// requester, so an origin never serves a new incarnation its
    /// predecessor's stream (`tests/sim/node.rs`).
    pub fn assert_exact(&self) -> usize {
        let mut checked = 0;
        for (r, o) in self.pairs() {
            let (receiver, origin) = (self.id(r), self.id(o));
            let ups = |a, b| self.ups.get(&(a, b)).map_or(0, Vec::len);
            let stream = self.stream(r, origin);
            if ups(origin, receiver) != 1 || ups(receiver, origin) != 1 || stream.epochs.len() != 1
            {
                continue;
            }
            let since = self.ups[&(origin, receiver)][0];
            let last = self.truth.last_seq(origin);
            let epoch = &stream.epochs[0];
            assert!(
                epoch.seqs.first().is_none_or(|first| *first > since),
                "seed {}: stream {o} -> {r} starts before {since}: {epoch:?}",
                self.seed
            );
            assert_eq!(
                epoch.seqs.len() as u64 + epoch.lost_total(),
                last - since,
                "seed {}: stream {o} -> {r} from {since} to {last}: {epoch:?}",
                self.seed
            );
            checked += 1;
        }
        checked
    }

    /// Each node's relay has one origin per live member, no more: every
    /// Down reached it, and every Up.
    pub fn assert_relay_follows_membership(&self) {
        for slot in self.sim.running() {
            let node = self.node(slot);
            assert_eq!(
                node.footprint().origins,
                node.members().len(),
                "seed {}: relay origins of {slot} != its members",
                self.seed
            );
        }
    }

    /// No receiver was delivered one event twice, even across epochs (an
    /// origin lost and found again): exactly once, as users see it.
    pub fn assert_exactly_once(&self) {
        for ((receiver, origin), stream) in &self.streams {
            let all: Vec<u64> = stream.epochs.iter().flat_map(|e| e.seqs.clone()).collect();
            let distinct = stream.delivered();
            assert_eq!(
                all.len(),
                distinct.len(),
                "seed {}: {receiver} was delivered events of {origin} twice: {stream:?}",
                self.seed
            );
        }
    }

    /// Losses reported between running servers, over all streams.
    pub fn lost_between_running(&self) -> u64 {
        self.pairs()
            .into_iter()
            .map(|(r, o)| self.stream(r, self.id(o)).lost_total())
            .sum()
    }
}
