//! Single-server fan-out benchmark.
//!
//! Starts the real `chatty` server as a separate process on 127.0.0.1 (so
//! the load generator does not share the server's async runtime), then for
//! each client count N: connects N receivers and one publisher, has the
//! publisher send M messages as fast as the server echoes them back (at most
//! `--window` un-echoed), and has every receiver check that it got each
//! message exactly once and in order while recording the latency from send
//! to receipt. Prints one Markdown table row per (N, message size).
//!
//! Cargo does not build the server binary for it: run
//!
//! ```text
//! cargo build --release --bin chatty && cargo run --release -p chatty-bench --bin fanout -- --help
//! ```
//!
//! See BENCHMARKS.md for the exact command and the measured numbers.

mod publisher;
mod receiver;
mod row;
mod run;

use std::process::ExitCode;

use anyhow::bail;
use chatty_bench::procfs::ensure_open_files;
use chatty_bench::stamp::{base, Layout};
use chatty_harness::Chatty;
use clap::Parser;

use row::{Row, HEADER};

/// Fan-out benchmark: one publisher, N receivers, one server process.
#[derive(Debug, Parser)]
#[command(name = "fanout")]
struct Args {
    /// Receiver counts to run, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "10,100,1000")]
    clients: Vec<usize>,
    /// Message text sizes in bytes (32..=1000), comma separated.
    #[arg(long, value_delimiter = ',', default_value = "64")]
    size: Vec<usize>,
    /// Messages the publisher sends per run. Default: DELIVERIES / N,
    /// clamped to 2,000..=500,000.
    #[arg(long)]
    messages: Option<usize>,
    /// Target deliveries (messages x receivers) per run when --messages is not given.
    #[arg(long, default_value_t = 5_000_000)]
    deliveries: usize,
    /// Most messages the publisher may have sent but not yet seen echoed.
    #[arg(long, default_value_t = 256)]
    window: usize,
    /// Most frames the publisher writes with one syscall.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Seconds one run (setup included) may take before it is reported as failed.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
    /// The server's --client-queue. Default: messages + clients + 1024, so
    /// that a receiver that falls behind by the whole run is not evicted.
    #[arg(long)]
    client_queue: Option<usize>,
    /// Publisher modes to run, comma separated: `false` sends plain
    /// lines, `true` sends each with a cid, which the server acknowledges
    /// (`ack`), so both can be compared in one run.
    #[arg(long, value_delimiter = ',', default_value = "false")]
    acked: Vec<bool>,
    /// Connections opened concurrently during setup.
    #[arg(long, default_value_t = 64)]
    connect_parallel: usize,
}

/// A message text: a 10-digit counter and a 20-digit send time in ns since
/// [`base`], padded with `x`.
const LAYOUT: Layout = Layout { widths: &[10, 20] };
/// The publisher's name.
const PUBLISHER: &str = "pub";

fn main() -> ExitCode {
    chatty_bench::run::main("fanout", run(Args::parse()))
}

async fn run(args: Args) -> anyhow::Result<()> {
    base();
    let min = LAYOUT.min_size();
    if let Some(bad) = args.size.iter().find(|&&s| !(min..=1000).contains(&s)) {
        bail!("--size {bad}: message sizes must be {min}..=1000 bytes");
    }
    if args.clients.contains(&0) {
        bail!("--clients: every count must be at least 1");
    }
    let chatty = Chatty::beside_current_exe()?;
    // Each process (this one and the server, which inherits the limit)
    // needs one descriptor per client plus a few.
    let most = args.clients.iter().copied().max().unwrap_or(0);
    ensure_open_files(most + 64, most)?;
    eprintln!(
        "fanout: server {}, window {}, batch {}, timeout {} s",
        chatty.bin().display(),
        args.window,
        args.batch,
        args.timeout
    );
    println!("{HEADER}");
    let mut failed = false;
    for &size in &args.size {
        for &clients in &args.clients {
            for &acked in &args.acked {
                let messages = default_messages(&args, clients);
                eprintln!("run: {clients} receivers, {size} B, acked {acked}, {messages} messages");
                let row = match run::run_one(&chatty, &args, clients, size, acked, messages).await {
                    Ok(row) => row,
                    Err(err) => {
                        eprintln!("  failed: {err:#}");
                        Row::failed(clients, size, acked, messages, err.to_string())
                    }
                };
                failed |= row.complete != "yes";
                println!("{}", row.markdown());
            }
        }
    }
    if failed {
        bail!("at least one run was incomplete");
    }
    Ok(())
}

fn default_messages(args: &Args, clients: usize) -> usize {
    args.messages
        .unwrap_or_else(|| (args.deliveries / clients.max(1)).clamp(2_000, 500_000))
        .max(1)
}
