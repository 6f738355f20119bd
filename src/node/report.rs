//! Refused datagrams summarised in one warning at most every
//! [`REFUSAL_REPORT`], with a hint at the usual cause, so a flood of
//! forged or foreign traffic cannot flood the log.

use std::time::{Duration, Instant};

use tracing::warn;

use crate::seal::SealStats;

/// Refused datagrams are summarised in one warning at most this often.
pub const REFUSAL_REPORT: Duration = Duration::from_secs(10);

/// The seal counters as of the last report.
#[derive(Debug)]
pub(super) struct Refusals {
    reported: SealStats,
    next: Instant,
}

impl Refusals {
    pub(super) fn new(now: Instant) -> Refusals {
        Refusals {
            reported: SealStats::default(),
            next: now + REFUSAL_REPORT,
        }
    }

    /// When the next report is due.
    pub(super) fn next(&self) -> Instant {
        self.next
    }

    /// Warns about the refusals since the last report, if one is due.
    pub(super) fn check(&mut self, stats: SealStats, now: Instant) {
        if now < self.next {
            return;
        }
        if stats.rejected() > self.reported.rejected() {
            report(&self.reported, &stats);
        }
        self.reported = stats;
        self.next = now + REFUSAL_REPORT;
    }
}

fn report(before: &SealStats, now: &SealStats) {
    let d = |a: u64, b: u64| a.saturating_sub(b);
    let hint = if now.stale > before.stale {
        "; stale ones mean clocks disagree by more than the tolerance: check NTP"
    } else if now.unknown_key > before.unknown_key
        || now.unsealed > before.unsealed
        || now.sealed_without_key > before.sealed_without_key
    {
        "; a server with another key, or none, may share the group"
    } else {
        ""
    };
    warn!(
        period_s = REFUSAL_REPORT.as_secs(),
        malformed = d(now.malformed, before.malformed),
        unsealed = d(now.unsealed, before.unsealed),
        sealed_without_key = d(now.sealed_without_key, before.sealed_without_key),
        unknown_key = d(now.unknown_key, before.unknown_key),
        bad_tag = d(now.bad_tag, before.bad_tag),
        stale = d(now.stale, before.stale),
        replayed = d(now.replayed, before.replayed),
        table_full = d(now.table_full, before.table_full),
        foreign = d(now.foreign, before.foreign),
        "refused cluster datagrams{hint}"
    );
}
