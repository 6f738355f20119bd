//! Histograms and number formatting for the Markdown tables.

use std::time::Duration;

use hdrhistogram::Histogram;

/// The latency histogram every benchmark uses: 1 µs to 10 min at 2
/// significant digits (about 24 KiB), so histograms of different tasks can
/// be added up.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 2).expect("valid histogram bounds")
}

/// `1234567.8` as `1,234,568`.
pub fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// An empty table cell.
pub fn dash() -> String {
    "–".to_string()
}

/// Whole milliseconds: `805 ms`.
pub fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

/// The median and the maximum of repeated timings (sorted in place); `None`
/// without samples.
pub fn median_max(samples: &mut [Duration]) -> Option<(Duration, Duration)> {
    samples.sort();
    Some((*samples.get(samples.len() / 2)?, *samples.last()?))
}

/// `runs 20, median 760 ms, max 805 ms, min 750 ms` (sorts `samples`).
pub fn runs_summary(samples: &mut [Duration]) -> String {
    let Some((median, max)) = median_max(samples) else {
        return "no runs".into();
    };
    format!(
        "runs {}, median {}, max {}, min {}",
        samples.len(),
        ms(median),
        ms(max),
        ms(samples[0])
    )
}

/// Shows the first few of a run's errors on stderr, and how many more.
pub fn print_errors(errors: &[String]) {
    for err in errors.iter().take(5) {
        eprintln!("  error: {err}");
    }
    if errors.len() > 5 {
        eprintln!("  … and {} more errors", errors.len() - 5);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1_234_567.8), "1,234,568");
    }
}
