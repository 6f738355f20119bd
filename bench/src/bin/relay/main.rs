//! Multi-server relay benchmark.
//!
//! Starts three real `chatty` servers as separate processes on 127.0.0.1,
//! all in one private multicast group on loopback, so they find each other
//! and relay chat between them over UDP. C clients join each server (3·C in
//! all) and every client receives every message. Two workloads, each run on
//! three fresh server processes:
//!
//! 1. **Throughput.** The senders (by default every client; `--senders 1`
//!    is one publisher per server) send as fast as the cluster delivers,
//!    with a bounded window: a message counts as in flight until *every*
//!    client in the cluster has it, and at most `--inflight` messages (split
//!    evenly among the senders) are in flight at once.
//! 2. **Loss.** Every client sends at a fixed rate (`--rate` in total, 500
//!    msg/s by default) while each server drops `--inject-loss` % of its
//!    outgoing cluster datagrams (0 % as the baseline, then 5 % and 20 %).
//!    The relay must repair all of it; the extra cross-server latency is the
//!    cost of the repair.
//!
//! Every message text carries the sender's index, a per-sender counter and
//! the send time. Each receiver checks that it got every message of every
//! sender exactly once and in order, and records the send→receive latency,
//! separately for senders on its own server and on other servers.
//!
//! Cargo does not build the server binary for it: run
//!
//! ```text
//! cargo build --release --bin chatty && cargo run --release -p chatty-bench --bin relay -- --help
//! ```
//!
//! See BENCHMARKS.md for the exact command and the measured numbers.

mod cluster;
mod receiver;
mod run;
mod sender;
mod tables;
mod tally;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use chatty_bench::procfs::ensure_open_files;
use chatty_bench::stamp::{base, Layout};
use chatty_harness::Chatty;
use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;

use run::RunSpec;
use sender::Mode;
use tables::{loss_row, throughput_row, LOSS_HEADER, THROUGHPUT_HEADER};

/// Relay benchmark: three servers, C clients on each, everyone hears everyone.
#[derive(Debug, Parser)]
#[command(name = "relay")]
struct Args {
    /// Which workloads to run.
    #[arg(long, value_enum, default_value_t = Workload::All)]
    workload: Workload,
    /// Clients per server (there are always 3 servers).
    #[arg(long, default_value_t = 10)]
    clients: usize,
    /// Throughput workload: senders per server, comma separated, one run
    /// each (clamped to --clients).
    #[arg(long, value_delimiter = ',', default_value = "10,1")]
    senders: Vec<usize>,
    /// Message text size in bytes (37..=1000).
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Throughput workload: messages in flight in the whole cluster (sent but
    /// not yet received by every client), split evenly among the senders.
    #[arg(long, default_value_t = 240)]
    inflight: usize,
    /// Throughput workload: most frames a sender writes with one syscall.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// Throughput workload: seconds the senders keep sending.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Most messages one sender sends in one run.
    #[arg(long, default_value_t = 100_000)]
    max_messages: usize,
    /// Loss workload: total send rate of the whole cluster, msg/s (every
    /// client sends an equal share at evenly spaced times).
    #[arg(long, default_value_t = 500.0)]
    rate: f64,
    /// Loss workload: seconds each run keeps sending.
    #[arg(long, default_value_t = 10.0)]
    rate_duration: f64,
    /// Loss workload: the servers' --inject-loss percentages, one run each.
    /// Include 0: it is the baseline the others are compared with.
    #[arg(long, value_delimiter = ',', default_value = "0,5,20")]
    loss: Vec<f64>,
    /// Throughput workload: the servers' --inject-loss (percent).
    #[arg(long, default_value_t = 0.0)]
    throughput_loss: f64,
    /// Also print (on stderr) how the cross-server latencies above 2 ms are spread.
    #[arg(long)]
    buckets: bool,
    /// Seconds after the sending time that all messages may take to arrive
    /// before the run is reported as incomplete.
    #[arg(long, default_value_t = 10.0)]
    drain: f64,
    /// Seconds one run (setup included) may take before it is reported as failed.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// The servers' --client-queue (large, so that a stall is not an eviction).
    #[arg(long, default_value_t = 65_536)]
    client_queue: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Workload {
    All,
    Throughput,
    Loss,
}

const SERVERS: usize = 3;
/// Cross-server deliveries slower than this are counted.
const SLOW_US: u64 = 10_000;

/// A message text: the sender's index (4 digits), its counter (10) and the
/// send time in ns since [`base`] (20), padded with `x`.
const LAYOUT: Layout = Layout {
    widths: &[4, 10, 20],
};

fn main() -> ExitCode {
    chatty_bench::run::main("relay", run(Args::parse()))
}

async fn run(args: Args) -> anyhow::Result<()> {
    base();
    let min = LAYOUT.min_size();
    if !(min..=1000).contains(&args.size) {
        bail!("--size {}: must be {min}..=1000 bytes", args.size);
    }
    if args.clients == 0 || args.senders.contains(&0) {
        bail!("--clients and --senders must be at least 1");
    }
    if SERVERS * args.clients.max(1) > 10_000 {
        bail!("--clients: at most {} per server", 10_000 / SERVERS);
    }
    if !(args.rate > 0.0 && args.duration > 0.0 && args.rate_duration > 0.0 && args.drain > 0.0) {
        bail!("--rate, --duration, --rate-duration and --drain must be positive");
    }
    if args
        .loss
        .iter()
        .chain([&args.throughput_loss])
        .any(|l| !(0.0..=100.0).contains(l))
    {
        bail!("--loss: percentages must be 0..=100");
    }
    let chatty = Chatty::beside_current_exe()?;
    // This process holds every client socket.
    let clients = SERVERS * args.clients;
    ensure_open_files(clients + SERVERS + 64, clients)?;
    eprintln!(
        "relay: server {}, {SERVERS} servers × {} clients, {} B messages, timeout {} s",
        chatty.bin().display(),
        args.clients,
        args.size,
        args.timeout
    );
    let mut failed = false;
    if args.workload != Workload::Loss {
        println!(
            "\nThroughput: {SERVERS} servers × {} clients, {} B, closed loop for {} s, \
             {} messages in flight in the cluster\n",
            args.clients, args.size, args.duration, args.inflight
        );
        println!("{THROUGHPUT_HEADER}");
        for &spp in &args.senders {
            let spp = spp.min(args.clients);
            eprintln!("run: throughput, {spp} sender(s) per server");
            let spec = RunSpec {
                loss: args.throughput_loss,
                senders_per_server: spp,
                mode: Mode::Closed {
                    duration: Duration::from_secs_f64(args.duration),
                },
            };
            match run::run_one(&chatty, &args, &spec).await {
                Ok(outcome) => {
                    failed |= outcome.complete != "yes";
                    println!("{}", throughput_row(&outcome, spp));
                }
                Err(err) => {
                    eprintln!("  failed: {err:#}");
                    failed = true;
                    println!(
                        "| {} ({spp}/server) | | | | | | | | | | | | | no ({err}) |",
                        spp * SERVERS
                    );
                }
            }
        }
    }
    if args.workload != Workload::Throughput {
        println!(
            "\nLoss: {SERVERS} servers × {} clients, all sending, {} msg/s in total for {} s, {} B\n",
            args.clients, args.rate, args.rate_duration, args.size
        );
        println!("{LOSS_HEADER}");
        let mut baseline: Option<Histogram<u64>> = None;
        for &loss in &args.loss {
            eprintln!("run: {} msg/s, --inject-loss {loss}", args.rate);
            let spec = RunSpec {
                loss,
                senders_per_server: args.clients,
                mode: Mode::Paced {
                    rate: args.rate,
                    duration: Duration::from_secs_f64(args.rate_duration),
                },
            };
            match run::run_one(&chatty, &args, &spec).await {
                Ok(outcome) => {
                    failed |= outcome.complete != "yes";
                    println!("{}", loss_row(loss, &outcome, baseline.as_ref()));
                    if loss == 0.0 && baseline.is_none() {
                        baseline = Some(outcome.cross);
                    }
                }
                Err(err) => {
                    eprintln!("  failed: {err:#}");
                    failed = true;
                    println!("| {loss} % | | | | | | | | | | | no ({err}) |");
                }
            }
        }
    }
    if failed {
        bail!("at least one run was incomplete");
    }
    Ok(())
}
