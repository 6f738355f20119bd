//! The fan-out table: every target at every (subscribers, size) row, in
//! rounds that alternate the order of the targets.
//!
//! One run per target is at the mercy of the moment it happens to run in:
//! on a shared machine a few seconds of steal time (another guest's CPU)
//! can cut one system's figure by a third while the next system runs
//! clean. With `--rounds R` each row is run R times, forward and then in
//! reverse, so no system is always first or last; the table shows each
//! target's median round and Chatty's ratio as the median of the ratios
//! between runs adjacent in time, with their range.

use std::time::Duration;

use chatty_bench::report::thousands;

use crate::conn::System;
use crate::workload::{self, FanoutSpec, Outcome, Target};
use crate::{status, us};

/// What the table needs beyond the targets.
pub struct Table {
    pub subscribers: Vec<usize>,
    pub sizes: Vec<usize>,
    pub rounds: usize,
    pub spec: FanoutSpec,
}

/// Runs and prints the table; false if any run failed or was incomplete.
pub async fn table(targets: &[Target], table: &Table) -> bool {
    println!("### Fan-out: 1 publisher → N subscribers, one server each\n");
    let spec = &table.spec;
    print!(
        "Publisher at most {} messages ahead of the slowest subscriber, up to {} per write, sending for {} s.",
        spec.window,
        spec.batch,
        spec.duration.as_secs_f64()
    );
    if table.rounds > 1 {
        print!(
            " Each row run {} times, the targets' order reversed every other round; each figure is the target's median round, the ratio the median of the rounds' ratios (range in brackets).",
            table.rounds
        );
    }
    println!("\n");
    println!("| subscribers | size | system | msgs/s | deliveries/s | p50 µs | p99 µs | max µs | server CPU s per M deliveries | clients' CPU s per M deliveries | server peak RSS MiB | complete | Chatty deliveries/s ÷ this |");
    println!("|---:|---:|:---|---:|---:|---:|---:|---:|---:|---:|---:|:---|---:|");
    let mut ok = true;
    for &size in &table.sizes {
        for &n in &table.subscribers {
            let spec = FanoutSpec {
                subscribers: n,
                size,
                ..table.spec
            };
            let runs = row(targets, spec, table.rounds).await;
            ok &= print_row(targets, &runs, n, size);
        }
    }
    println!();
    ok
}

/// Every round of one row: `runs[t][r]` is target `t` in round `r`.
async fn row(
    targets: &[Target],
    spec: FanoutSpec,
    rounds: usize,
) -> Vec<Vec<Result<Outcome, String>>> {
    let mut runs: Vec<Vec<Result<Outcome, String>>> = targets.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds.max(1) {
        for t in order(targets.len(), round) {
            let target = &targets[t];
            if let Some(max) = target.system.max_payload().filter(|&max| spec.size > max) {
                if round == 0 {
                    runs[t].push(Err(format!(
                        "n/a: payload > {max} B does not fit an IRC line"
                    )));
                }
                continue;
            }
            eprintln!(
                "fan-out {} N={} size={} (round {} of {rounds})…",
                target.label,
                spec.subscribers,
                spec.size,
                round + 1
            );
            let result =
                tokio::time::timeout(Duration::from_secs(120), workload::fanout(target, spec))
                    .await
                    .unwrap_or_else(|_| Err("run timed out after 120 s".into()));
            if let Err(e) = &result {
                eprintln!("  failed: {e}");
            }
            runs[t].push(result);
        }
    }
    runs
}

/// The order of `targets` in round `round`: forward, then reversed.
fn order(targets: usize, round: usize) -> Vec<usize> {
    if round.is_multiple_of(2) {
        (0..targets).collect()
    } else {
        (0..targets).rev().collect()
    }
}

/// Deliveries per second of each round, `None` where it failed or was
/// incomplete (a figure from an incomplete run is not comparable).
fn rates(runs: &[Result<Outcome, String>]) -> Vec<Option<f64>> {
    runs.iter()
        .map(|r| {
            r.as_ref()
                .ok()
                .filter(|o| o.complete())
                .map(Outcome::deliveries_per_sec)
        })
        .collect()
}

/// Chatty's ratio to a target, round by round: (median, min, max) over the
/// rounds where both completed.
fn ratio(chatty: &[Option<f64>], other: &[Option<f64>]) -> Option<(f64, f64, f64)> {
    let mut ratios: Vec<f64> = chatty
        .iter()
        .zip(other)
        .filter_map(|(c, o)| Some(c.as_ref()? / o.as_ref()?))
        .collect();
    ratios.sort_by(f64::total_cmp);
    let median = median(&ratios)?;
    Some((median, ratios[0], ratios[ratios.len() - 1]))
}

/// The median of sorted `values` (the mean of the middle two for an even
/// count), `None` if there are none.
fn median(values: &[f64]) -> Option<f64> {
    let n = values.len();
    match n {
        0 => None,
        _ if !n.is_multiple_of(2) => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

/// The round to show for a target: the first that failed or was
/// incomplete, so that no problem hides behind a median; else the round
/// with the median rate (the lower middle for an even count).
fn shown(rates: &[Option<f64>]) -> Option<usize> {
    if let Some(bad) = rates.iter().position(Option::is_none) {
        return Some(bad);
    }
    let mut by_rate: Vec<usize> = (0..rates.len()).collect();
    by_rate.sort_by(|&a, &b| rates[a].unwrap_or(0.0).total_cmp(&rates[b].unwrap_or(0.0)));
    by_rate.get((by_rate.len().max(1) - 1) / 2).copied()
}

/// Prints one row's lines; false if any round failed or was incomplete
/// (a target that cannot run this row, "n/a", is not a failure).
fn print_row(
    targets: &[Target],
    runs: &[Vec<Result<Outcome, String>>],
    n: usize,
    size: usize,
) -> bool {
    let rounds = runs.iter().map(Vec::len).max().unwrap_or(0);
    // The ratios are to the first Chatty target's figures.
    let chatty = targets
        .iter()
        .position(|t| t.system == System::Chatty)
        .map(|c| rates(&runs[c]));
    let mut ok = true;
    for (target, runs) in targets.iter().zip(runs) {
        ok &= runs.iter().all(|r| match r {
            Ok(o) => o.complete(),
            Err(e) => e.starts_with("n/a"),
        });
        let own = rates(runs);
        let Some(i) = shown(&own) else { continue };
        match &runs[i] {
            Ok(o) => {
                let ratio = match chatty.as_deref().and_then(|c| ratio(c, &own)) {
                    None => "–".to_string(),
                    Some((median, _, _)) if rounds == 1 => format!("{median:.2}"),
                    Some((median, lo, hi)) => format!("{median:.2} ({lo:.2}–{hi:.2})"),
                };
                let complete = match status(o) {
                    s if rounds > 1 && s != "yes" => format!("round {}: {s}", i + 1),
                    s => s,
                };
                println!(
                    "| {n} | {size} B | {} | {} | {} | {} | {} | {} | {:.2} | {:.2} | {:.1} | {} | {} |",
                    target.label,
                    thousands(o.messages as f64 / o.elapsed.as_secs_f64().max(1e-9)),
                    thousands(o.deliveries_per_sec()),
                    us(o, 0.5),
                    us(o, 0.99),
                    thousands(o.tally.hist.max() as f64),
                    o.cpu_per_million(),
                    o.client_cpu_per_million(),
                    o.peak_kib as f64 / 1024.0,
                    complete,
                    ratio
                );
            }
            Err(e) => println!(
                "| {n} | {size} B | {} | | | | | | | | | {} | |",
                target.label,
                e.replace('|', "/")
            ),
        }
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_alternate_the_order_of_the_targets() {
        assert_eq!(order(3, 0), [0, 1, 2]);
        assert_eq!(order(3, 1), [2, 1, 0]);
        assert_eq!(order(3, 2), [0, 1, 2]);
        assert!(order(0, 1).is_empty());
    }

    #[test]
    fn the_median_of_odd_and_even_counts() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[2.0]), Some(2.0));
        assert_eq!(median(&[1.0, 2.0, 9.0]), Some(2.0));
        assert_eq!(median(&[1.0, 2.0, 4.0, 9.0]), Some(3.0));
    }

    #[test]
    fn ratios_pair_rounds_adjacent_in_time_and_skip_failed_ones() {
        // Round 2 is slow for both (a disturbance hit the whole round): the
        // paired ratios stay level where medians of rates alone would not.
        let chatty = [Some(300.0), Some(150.0), Some(330.0), None];
        let redis = [Some(200.0), Some(100.0), Some(200.0), Some(200.0)];
        let (median, lo, hi) = ratio(&chatty, &redis).expect("three paired rounds");
        assert_eq!((median, lo, hi), (1.5, 1.5, 1.65));
        assert_eq!(ratio(&[None], &[Some(1.0)]), None);
    }

    #[test]
    fn the_shown_round_is_the_median_unless_one_failed() {
        assert_eq!(shown(&[]), None);
        assert_eq!(shown(&[Some(5.0)]), Some(0));
        assert_eq!(shown(&[Some(9.0), Some(1.0), Some(5.0)]), Some(2));
        assert_eq!(
            shown(&[Some(9.0), Some(1.0), Some(5.0), Some(7.0)]),
            Some(2)
        );
        assert_eq!(shown(&[Some(9.0), None, Some(5.0)]), Some(1));
    }
}
