//! What every benchmark message carries and what a receiver checks.
//!
//! A payload is `#B` (or `#P` for a connectivity probe), the publisher id
//! (6 digits), its sequence number (10 digits) and the send time in ns since
//! the shared [`chatty_bench::stamp::base`] (16 digits), padded with `x` to the message
//! size. It is plain ASCII, so it is valid in every protocol here (a Chatty
//! text, a NATS or Redis payload, an IRC trailing parameter).

use hdrhistogram::Histogram;

use chatty_bench::report::histogram;
use chatty_bench::stamp::{now_ns, parse_digits, put_digits};

/// Bytes of a payload before the padding.
pub const HEADER: usize = 34;
const PUB_AT: usize = 2;
const SEQ_AT: usize = 8;
const TIME_AT: usize = 18;

/// Writes a benchmark payload into `out` (whose length is the message size).
pub fn fill(out: &mut [u8], probe: bool, publisher: u32, seq: u64, sent_ns: u64) {
    out[0] = b'#';
    out[1] = if probe { b'P' } else { b'B' };
    put_digits(&mut out[PUB_AT..SEQ_AT], u64::from(publisher));
    put_digits(&mut out[SEQ_AT..TIME_AT], seq);
    put_digits(&mut out[TIME_AT..HEADER], sent_ns);
}

/// A payload of `size` bytes with the padding in place.
pub fn template(size: usize) -> Vec<u8> {
    let mut out = vec![b'x'; size.max(HEADER)];
    fill(&mut out, false, 0, 0, 0);
    out
}

/// Where a receiver sits among a set-up's servers. Clients are spread
/// round-robin, and a publisher's id is its client index, so publisher `p`
/// is on server `p % servers`.
#[derive(Debug, Clone, Copy)]
pub struct Home {
    pub server: usize,
    pub servers: usize,
}

/// What one receiving connection saw.
#[derive(Debug)]
pub struct Tally {
    /// Latency of each delivery, in µs.
    pub hist: Histogram<u64>,
    /// Latency of the deliveries whose publisher is on another server than
    /// the receiver (relayed between servers), in µs; empty on one server.
    pub relayed: Histogram<u64>,
    /// Where this receiver sits (`None`: a merged total).
    home: Option<Home>,
    /// Next expected sequence number per publisher.
    next: Vec<u64>,
    /// Benchmark messages received.
    pub delivered: u64,
    /// Sequence numbers skipped (lost or not yet arrived when the run ended).
    pub gaps: u64,
    /// Messages at or below an already-seen sequence number.
    pub out_of_order: u64,
    /// Payloads that did not parse.
    pub malformed: u64,
    /// Bit i set: a probe from publisher i arrived (publishers < 64).
    pub probes: u64,
    /// When the last benchmark message arrived (ns on the shared clock).
    pub last_ns: u64,
}

impl Tally {
    /// An empty tally for messages from `publishers` publishers, received
    /// at `home`.
    pub fn new(publishers: usize, home: Option<Home>) -> Self {
        Tally {
            hist: histogram(),
            relayed: histogram(),
            home,
            next: vec![0; publishers],
            delivered: 0,
            gaps: 0,
            out_of_order: 0,
            malformed: 0,
            probes: 0,
            last_ns: 0,
        }
    }

    /// Checks and records one payload received at `now` (ns).
    pub fn record(&mut self, payload: &[u8], now: u64) {
        let parsed = payload
            .get(..HEADER)
            .filter(|p| p[0] == b'#')
            .and_then(|p| {
                Some((
                    p[1] == b'P',
                    parse_digits(&p[PUB_AT..SEQ_AT])? as usize,
                    parse_digits(&p[SEQ_AT..TIME_AT])?,
                    parse_digits(&p[TIME_AT..HEADER])?,
                ))
            });
        let Some((probe, publisher, seq, sent)) = parsed else {
            self.malformed += 1;
            return;
        };
        if probe {
            if publisher < 64 {
                self.probes |= 1 << publisher;
            }
            return;
        }
        let Some(next) = self.next.get_mut(publisher) else {
            self.malformed += 1;
            return;
        };
        if seq >= *next {
            self.gaps += seq - *next;
            *next = seq + 1;
        } else {
            self.out_of_order += 1;
        }
        self.delivered += 1;
        self.last_ns = now;
        let us = now.saturating_sub(sent) / 1000;
        self.hist.saturating_record(us);
        if let Some(home) = self.home {
            if publisher % home.servers != home.server {
                self.relayed.saturating_record(us);
            }
        }
    }

    /// Adds another receiver's counts into this one (histograms merged).
    pub fn absorb(&mut self, other: &Tally) {
        let _ = self.hist.add(&other.hist);
        let _ = self.relayed.add(&other.relayed);
        self.delivered += other.delivered;
        self.gaps += other.gaps;
        self.out_of_order += other.out_of_order;
        self.malformed += other.malformed;
        self.last_ns = self.last_ns.max(other.last_ns);
    }
}

/// The shared clock ([`chatty_bench::stamp::now_ns`]).
pub fn now() -> u64 {
    now_ns()
}

/// CPU ticks, current RSS and peak RSS of a set of server processes, and
/// the load generator's own CPU ticks.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcSample {
    pub ticks: u64,
    pub rss_kib: u64,
    pub peak_kib: u64,
    /// This process (the clients): on a shared machine, what the servers
    /// under test cannot use.
    pub own_ticks: u64,
}

/// Sums `/proc` figures over `pids`; missing processes count as zero.
pub fn sample(pids: &[u32]) -> ProcSample {
    let mut out = ProcSample::default();
    for &pid in pids {
        out.ticks += chatty_bench::procfs::cpu_ticks(pid).unwrap_or(0);
        out.rss_kib += status_kib(pid, "VmRSS:").unwrap_or(0);
        out.peak_kib = out.peak_kib.max(status_kib(pid, "VmHWM:").unwrap_or(0));
    }
    out.own_ticks = chatty_bench::procfs::cpu_ticks(std::process::id()).unwrap_or(0);
    out
}

fn status_kib(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Resets the processes' peak RSS (`VmHWM`) so each run reports its own
/// peak; needs Linux ≥ 4.0 and permission to write `clear_refs`.
pub fn reset_peak(pids: &[u32]) {
    for pid in pids {
        let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(publisher: u32, seq: u64, sent_ns: u64) -> Vec<u8> {
        let mut out = template(64);
        fill(&mut out, false, publisher, seq, sent_ns);
        out
    }

    #[test]
    fn deliveries_from_another_server_are_counted_apart() {
        // Receiver on server 1 of 3: publishers 1 and 4 share its server.
        let home = Home {
            server: 1,
            servers: 3,
        };
        let mut tally = Tally::new(5, Some(home));
        for (publisher, latency_us) in [(0, 900), (1, 100), (2, 700), (4, 200)] {
            tally.record(
                &payload(publisher, 0, 1_000_000),
                1_000_000 + latency_us * 1000,
            );
        }
        assert_eq!(tally.delivered, 4);
        assert_eq!(tally.hist.len(), 4);
        assert_eq!(tally.relayed.len(), 2);
        assert!(tally.relayed.min() >= 690, "{}", tally.relayed.min());

        let mut total = Tally::new(5, None);
        total.absorb(&tally);
        total.absorb(&tally);
        assert_eq!((total.hist.len(), total.relayed.len()), (8, 4));
        // A merged total records nothing as relayed by itself.
        total.record(&payload(0, 1, 0), 1_000);
        assert_eq!(total.relayed.len(), 4);
    }
}
