//! What each receiver was delivered of each origin's stream, checked as it
//! arrives against what the origin really submitted.

use std::collections::{BTreeMap, BTreeSet};

use chatty::protocol::ServerId;
use chatty::relay::{ChatEvent, Delivery};

/// One run of an origin's stream at one receiver: from its first delivery
/// (a `Synced`, or a `Lost` just before it) to its `OriginGone`. A receiver
/// that loses an origin and finds a new incarnation, or finds the same one
/// after it forgot it, starts a new epoch; one that finds the same
/// incarnation again soon resumes the epoch where it stopped (events,
/// losses and a `Resynced`, no `Synced`), and must deliver nothing twice.
#[derive(Debug, Default, Clone)]
pub struct Epoch {
    /// A `Synced` arrived.
    pub synced: bool,
    /// Events reported lost before the `Synced`: a late first sync.
    pub lost_at_sync: u64,
    /// The origin's members as delivered: the snapshot, then the events.
    pub members: BTreeSet<String>,
    /// Sequence numbers delivered, in delivery order.
    pub seqs: Vec<u64>,
    /// Loss reports after the `Synced` (overruns, an origin gone with gaps).
    pub lost: Vec<u64>,
    /// Member lists of the resyncs.
    pub resyncs: Vec<Vec<String>>,
    /// `Some(graceful)` once the origin is gone.
    pub gone: Option<bool>,
    /// How many times the stream resumed after the origin was gone.
    pub resumed: u32,
    /// Numbers skipped between two delivered events.
    gaps: u64,
}

impl Epoch {
    /// Every loss reported in this epoch.
    pub fn lost_total(&self) -> u64 {
        self.lost_at_sync + self.lost.iter().sum::<u64>()
    }

    /// Synced and not gone: the receiver lists the origin's members.
    pub fn listing(&self) -> bool {
        self.synced && self.gone.is_none()
    }
}

/// Every epoch of one origin's stream at one receiver.
#[derive(Debug, Default, Clone)]
pub struct Stream {
    /// Oldest first; never empty once anything arrived.
    pub epochs: Vec<Epoch>,
    /// Losses reported after an `OriginGone` and before the stream went on
    /// (a `Synced`: a new epoch, or an event or `Resynced`: resumed).
    pending_lost: u64,
}

impl Stream {
    /// Nothing arrived yet.
    pub const EMPTY: Stream = Stream {
        epochs: Vec::new(),
        pending_lost: 0,
    };

    /// The latest epoch, if anything arrived.
    pub fn current(&self) -> Option<&Epoch> {
        self.epochs.last()
    }

    /// The receiver lists the origin's members now.
    pub fn listing(&self) -> bool {
        self.current().is_some_and(Epoch::listing)
    }

    /// Sequence numbers delivered in any epoch.
    pub fn delivered(&self) -> BTreeSet<u64> {
        self.epochs
            .iter()
            .flat_map(|e| e.seqs.iter().copied())
            .collect()
    }

    /// Losses reported in any epoch.
    pub fn lost_total(&self) -> u64 {
        self.epochs.iter().map(Epoch::lost_total).sum()
    }

    /// Sequence numbers delivered in the current epoch.
    pub fn seqs(&self) -> &[u64] {
        self.current().map_or(&[], |e| &e.seqs)
    }
}

/// What every origin submitted, and its own member list.
#[derive(Debug, Default)]
pub struct Truth {
    /// Each incarnation's events, by sequence number - 1.
    pub history: BTreeMap<ServerId, Vec<ChatEvent>>,
    /// Each incarnation's members, as its own events say.
    pub members: BTreeMap<ServerId, BTreeSet<String>>,
}

impl Truth {
    /// Records that `origin` submitted `event`; returns its sequence number.
    pub fn submitted(&mut self, origin: ServerId, event: &ChatEvent) -> u64 {
        project(self.members.entry(origin).or_default(), event);
        let history = self.history.entry(origin).or_default();
        history.push(event.clone());
        history.len() as u64
    }

    /// The highest sequence number `origin` has submitted.
    pub fn last_seq(&self, origin: ServerId) -> u64 {
        self.history.get(&origin).map_or(0, |h| h.len() as u64)
    }

    /// The event `origin` submitted as `seq`.
    pub fn event(&self, origin: ServerId, seq: u64) -> Option<&ChatEvent> {
        let index = usize::try_from(seq.checked_sub(1)?).ok()?;
        self.history.get(&origin)?.get(index)
    }
}

/// Applies a membership event to a member list.
pub fn project(members: &mut BTreeSet<String>, event: &ChatEvent) {
    event.update_names(members);
}

impl Stream {
    /// Files one delivery, checking it as it comes: no event before the
    /// sync, strictly increasing numbers (in order, exactly once), each
    /// event what its origin submitted, and no gap left unreported.
    pub fn record(&mut self, origin: ServerId, delivery: Delivery, truth: &Truth) {
        let ended = self.epochs.last().is_none_or(|e| e.gone.is_some());
        if ended {
            match &delivery {
                Delivery::Lost { count, .. } => {
                    self.pending_lost += count;
                    return;
                }
                Delivery::Event { .. } | Delivery::Resynced { .. } if !self.epochs.is_empty() => {
                    let epoch = self.epochs.last_mut().expect("not empty");
                    epoch.gone = None;
                    epoch.resumed += 1;
                    epoch.lost.push(std::mem::take(&mut self.pending_lost));
                }
                _ => {
                    self.epochs.push(Epoch {
                        lost_at_sync: std::mem::take(&mut self.pending_lost),
                        ..Epoch::default()
                    });
                }
            }
        }
        let epoch = self.epochs.last_mut().expect("just ensured");
        match delivery {
            Delivery::Synced { members, .. } => {
                assert!(!epoch.synced, "a second first sync of {origin}");
                epoch.synced = true;
                epoch.members = members.into_iter().map(|m| m.name).collect();
            }
            Delivery::Event { seq, event, .. } => {
                assert!(epoch.synced, "event {seq} of {origin} before its sync");
                if let Some(&last) = epoch.seqs.last() {
                    assert!(seq > last, "event {seq} of {origin} after {last}");
                    epoch.gaps += seq - last - 1;
                }
                assert_eq!(
                    truth.event(origin, seq),
                    Some(&event),
                    "event {seq} of {origin} is not what it submitted"
                );
                project(&mut epoch.members, &event);
                epoch.seqs.push(seq);
            }
            Delivery::Lost { count, .. } if epoch.synced => epoch.lost.push(count),
            Delivery::Lost { count, .. } => epoch.lost_at_sync += count,
            Delivery::Resynced { members, .. } => {
                assert!(epoch.synced, "a resync of {origin} before its sync");
                let names: Vec<String> = members.into_iter().map(|m| m.name).collect();
                epoch.members = names.iter().cloned().collect();
                epoch.resyncs.push(names);
            }
            Delivery::OriginGone { graceful, .. } => epoch.gone = Some(graceful),
        }
    }

    /// Every number skipped between delivered events was reported lost.
    /// Checked once a batch of deliveries is in: a loss report can follow
    /// the events around the gap (an origin gone).
    pub fn check_gaps(&self, origin: ServerId) {
        for epoch in &self.epochs {
            let reported: u64 = epoch.lost.iter().sum();
            assert!(
                epoch.gaps <= reported,
                "{} events of {origin} skipped but {reported} reported lost",
                epoch.gaps
            );
        }
    }
}
