//! What all receivers of a run saw together, and whether it was complete.

use std::time::Instant;

use chatty_bench::api::ClientReader;
use chatty_bench::report::{histogram, print_errors, thousands};
use hdrhistogram::Histogram;

use crate::receiver::Received;
use crate::sender::SendReport;

/// The receivers' results merged, checked against what was sent.
pub(crate) struct Tally {
    pub(crate) same: Histogram<u64>,
    pub(crate) cross: Histogram<u64>,
    pub(crate) slow_cross: u64,
    duplicates: u64,
    reordered: u64,
    anomalies: u64,
    /// Deliveries some client should have had and did not.
    missing: u64,
    /// Messages sent in all.
    pub(crate) messages: u64,
    /// When the last new message arrived anywhere.
    pub(crate) last_new: Option<Instant>,
    errors: Vec<String>,
}

impl Tally {
    /// Merges `results`; every client must have what each sender reported
    /// having sent.
    pub(crate) fn of(
        results: &[(Received, ClientReader)],
        reports: &[SendReport],
        senders: usize,
    ) -> Tally {
        let mut errors: Vec<String> = reports.iter().filter_map(|r| r.error.clone()).collect();
        if reports.len() < senders {
            errors.push(format!("only {}/{senders} senders reported", reports.len()));
        }
        let mut sent = vec![0u64; senders];
        for report in reports {
            sent[report.index] = report.sent;
        }
        let mut tally = Tally {
            same: histogram(),
            cross: histogram(),
            slow_cross: 0,
            duplicates: 0,
            reordered: 0,
            anomalies: 0,
            missing: 0,
            messages: sent.iter().sum(),
            last_new: None,
            errors,
        };
        for (r, _reader) in results {
            tally.same.add(&r.same).expect("same histogram bounds");
            tally.cross.add(&r.cross).expect("same histogram bounds");
            tally.slow_cross += r.slow_cross;
            tally.duplicates += r.duplicates;
            tally.reordered += r.reordered;
            tally.anomalies += r.anomaly_count;
            tally.errors.extend(r.anomalies.iter().cloned());
            tally.last_new = tally.last_new.max(r.last_new);
            for (s, &n) in sent.iter().enumerate() {
                tally.missing += n.saturating_sub(r.unique[s]);
            }
        }
        tally
    }

    /// Shows more cross-server quantiles on stderr, and with `buckets` how
    /// the deliveries slower than 2 ms are spread.
    pub(crate) fn print_cross_latency(&self, buckets: bool) {
        let cross = &self.cross;
        if cross.is_empty() {
            return;
        }
        if buckets {
            eprintln!("  cross-server deliveries slower than 2 ms, in 2 ms buckets:");
            for v in cross.iter_linear(2000) {
                let n = v.count_since_last_iteration();
                if n > 0 && v.value_iterated_to() >= 2000 {
                    eprintln!(
                        "    ≤ {:>7} µs: {n}",
                        thousands(v.value_iterated_to() as f64)
                    );
                }
            }
        }
        let q = |q: f64| thousands(cross.value_at_quantile(q) as f64);
        eprintln!(
            "  cross-server latency µs: p50 {} p90 {} p95 {} p96 {} p97 {} p98 {} p99 {} p99.9 {}",
            q(0.5),
            q(0.9),
            q(0.95),
            q(0.96),
            q(0.97),
            q(0.98),
            q(0.99),
            q(0.999)
        );
    }

    /// `yes`, or `no (…)` with the counts (and the first errors on stderr).
    pub(crate) fn verdict(&self, all_drained: bool) -> String {
        let ok = self.errors.is_empty()
            && self.anomalies == 0
            && self.missing == 0
            && self.duplicates == 0
            && self.reordered == 0
            && all_drained
            && self.messages > 0;
        if ok {
            return "yes".to_string();
        }
        print_errors(&self.errors);
        format!(
            "no (missing {}, duplicated {}, reordered {}, {} anomalies, {} errors)",
            self.missing,
            self.duplicates,
            self.reordered,
            self.anomalies,
            self.errors.len()
        )
    }
}
