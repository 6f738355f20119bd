//! The two tables: throughput, and the cost of repairing loss.

use chatty_bench::report::{dash, thousands};
use hdrhistogram::Histogram;

use crate::run::Outcome;

/// `p50 / p99 / max` in µs.
fn quantiles(h: &Histogram<u64>) -> String {
    if h.is_empty() {
        return dash();
    }
    format!(
        "{} / {} / {}",
        thousands(h.value_at_quantile(0.50) as f64),
        thousands(h.value_at_quantile(0.99) as f64),
        thousands(h.max() as f64)
    )
}

fn signed(value: i64) -> String {
    let sign = if value < 0 { "−" } else { "+" };
    format!("{sign}{}", thousands(value.unsigned_abs() as f64))
}

fn cores(value: Option<f64>) -> String {
    value.map_or_else(|| "?".into(), |v| format!("{v:.2}"))
}

fn drops(o: &Outcome) -> String {
    o.udp_drops.map_or_else(|| "?".into(), |d| d.to_string())
}

pub(crate) const THROUGHPUT_HEADER: &str =
    "| senders | window/sender | messages | msgs/s | deliveries/s \
    | cross-server deliveries/s | same-server p50 / p99 / max µs \
    | cross-server p50 / p99 / max µs | server CPU µs/delivery | server peak RSS MiB \
    | kernel UDP drops | server warnings | other load (cores) | complete |\n\
    |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---|";

pub(crate) fn throughput_row(o: &Outcome, per_server: usize) -> String {
    let deliveries = (o.same.len() + o.cross.len()) as f64;
    let (mps, dps, xps) = match o.elapsed {
        Some(e) => {
            let secs = e.as_secs_f64();
            (
                thousands(o.messages as f64 / secs),
                thousands(deliveries / secs),
                thousands(o.cross.len() as f64 / secs),
            )
        }
        None => (dash(), dash(), dash()),
    };
    let cpu = if deliveries > 0.0 {
        format!("{:.2}", o.server_cpu * 1e6 / deliveries)
    } else {
        dash()
    };
    format!(
        "| {} ({per_server}/server) | {} | {} | {mps} | {dps} | {xps} | {} | {} | {cpu} | {} | {} | {} | {} | {} |",
        o.senders,
        o.window,
        thousands(o.messages as f64),
        quantiles(&o.same),
        quantiles(&o.cross),
        o.rss_kib
            .map_or_else(dash, |k| format!("{:.1}", k as f64 / 1024.0)),
        drops(o),
        o.log_lines,
        cores(o.others),
        o.complete
    )
}

pub(crate) const LOSS_HEADER: &str =
    "| inject loss | messages | msgs/s | same-server p50 / p99 / max µs \
    | cross-server p50 / p99 / max µs | extra cross-server vs 0 % (p50 / p99 / max µs) \
    | cross-server > 10 ms | server CPU (cores, 3 servers) | kernel UDP drops \
    | server warnings | other load (cores) | complete |\n\
    |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---|";

pub(crate) fn loss_row(loss: f64, o: &Outcome, baseline: Option<&Histogram<u64>>) -> String {
    let mps = o
        .sending
        .filter(|d| !d.is_zero())
        .map_or_else(dash, |d| thousands(o.messages as f64 / d.as_secs_f64()));
    let extra = match baseline {
        Some(b) if !b.is_empty() && !o.cross.is_empty() => {
            let diff = |q: f64| o.cross.value_at_quantile(q) as i64 - b.value_at_quantile(q) as i64;
            format!(
                "{} / {} / {}",
                signed(diff(0.50)),
                signed(diff(0.99)),
                signed(o.cross.max() as i64 - b.max() as i64)
            )
        }
        _ => dash(),
    };
    let slow = if o.cross.is_empty() {
        dash()
    } else {
        format!(
            "{} of {} ({:.2} %)",
            thousands(o.slow_cross as f64),
            thousands(o.cross.len() as f64),
            o.slow_cross as f64 * 100.0 / o.cross.len() as f64
        )
    };
    format!(
        "| {loss} % | {} | {mps} | {} | {} | {extra} | {slow} | {:.3} | {} | {} | {} | {} |",
        thousands(o.messages as f64),
        quantiles(&o.same),
        quantiles(&o.cross),
        o.server_cpu / o.window_secs,
        drops(o),
        o.log_lines,
        cores(o.others),
        o.complete
    )
}
