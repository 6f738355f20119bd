//! One table row: the result of one (N, size) run.

use std::time::Duration;

use chatty_bench::report::{dash, thousands};
use hdrhistogram::Histogram;

/// The table's header.
pub(crate) const HEADER: &str = "| clients | msg size | acked | messages | deliveries/s \
    | msgs/s | p50 µs | p99 µs | max µs | server CPU µs/delivery | server peak RSS MiB \
    | complete |\n\
    |---:|---:|:---|---:|---:|---:|---:|---:|---:|---:|---:|:---|";

/// Result of one (N, size) run.
pub(crate) struct Row {
    pub(crate) clients: usize,
    pub(crate) size: usize,
    /// Whether the publisher's lines were acknowledged.
    pub(crate) acked: bool,
    pub(crate) messages: usize,
    /// First send → the last receiver has the last message.
    pub(crate) elapsed: Option<Duration>,
    pub(crate) latency: Option<Histogram<u64>>,
    /// The server's CPU seconds over the timed part.
    pub(crate) cpu_secs: Option<f64>,
    pub(crate) peak_rss_kib: Option<u64>,
    /// `yes`, or `no (why)`.
    pub(crate) complete: String,
}

impl Row {
    /// A run that has measured nothing yet.
    pub(crate) fn empty(clients: usize, size: usize, acked: bool, messages: usize) -> Row {
        Row {
            clients,
            size,
            acked,
            messages,
            elapsed: None,
            latency: None,
            cpu_secs: None,
            peak_rss_kib: None,
            complete: "no".into(),
        }
    }

    /// A run that measured nothing, for `why`.
    pub(crate) fn failed(
        clients: usize,
        size: usize,
        acked: bool,
        messages: usize,
        why: String,
    ) -> Row {
        let complete = format!("no ({why})");
        Row {
            complete,
            ..Row::empty(clients, size, acked, messages)
        }
    }

    /// The row as Markdown.
    pub(crate) fn markdown(&self) -> String {
        let deliveries = (self.clients * self.messages) as f64;
        let (dps, mps) = match self.elapsed {
            Some(e) => (
                thousands(deliveries / e.as_secs_f64()),
                thousands(self.messages as f64 / e.as_secs_f64()),
            ),
            None => (dash(), dash()),
        };
        let (p50, p99, max) = match &self.latency {
            Some(h) if !h.is_empty() => (
                thousands(h.value_at_quantile(0.50) as f64),
                thousands(h.value_at_quantile(0.99) as f64),
                thousands(h.max() as f64),
            ),
            _ => (dash(), dash(), dash()),
        };
        let cpu = match (self.cpu_secs, self.elapsed) {
            (Some(secs), Some(_)) => format!("{:.2}", secs * 1e6 / deliveries),
            _ => dash(),
        };
        let rss = self
            .peak_rss_kib
            .map_or_else(dash, |k| format!("{:.1}", k as f64 / 1024.0));
        format!(
            "| {} | {} B | {} | {} | {dps} | {mps} | {p50} | {p99} | {max} | {cpu} | {rss} | {} |",
            self.clients,
            self.size,
            if self.acked { "yes" } else { "no" },
            thousands(self.messages as f64),
            self.complete
        )
    }
}
