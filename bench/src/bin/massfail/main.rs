//! Mass failover: three servers with 1,000 clients each, all in `#lobby`;
//! one server is SIGKILLed while some clients keep chatting. Measures how
//! long until every client of the lost server is chatting again on the
//! survivors, and checks that every client saw every line exactly once.
//!
//! ```text
//! cargo build --release -p chatty -p chatty-bench --bin chatty --bin massfail
//! ulimit -n 16384; target/release/massfail --runs 5
//! target/release/massfail --chatty target/release/chatty --chatty baseline=/work/bench-base-chatty
//! ```
//!
//! * `cluster.rs`: the servers of one run.
//! * `wire.rs`: one client connection, decoding only what it acts on.
//! * `rejoin.rs`: finding a survivor, as the terminal client does.
//! * `member.rs`: one client's life (read, check, type, fail over).
//! * `run.rs`: one run, from start to verdict.

mod cluster;
mod member;
mod rejoin;
mod run;
mod wire;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;

use chatty_bench::report::ms;
use chatty_harness::Chatty;
use rejoin::Spread;
use run::{RunOutcome, RunSpec};

#[derive(Debug, Parser)]
#[command(
    about = "Mass failover: SIGKILL one of three loaded servers; time until all its clients chat again, and exactly-once delivery across it",
    long_about = "Starts three `chatty server` processes on loopback (private multicast group), joins \
--clients clients spread round-robin over them (all in #lobby), lets --senders of them type lines \
(the whole chat hears them), SIGKILLs the first server, and measures until every one of its clients \
has rejoined a survivor and a private line it sent from there reached an observer on a survivor. \
Every client checks that it was shown every line exactly once (by the sender's own counter in the \
text, so a line numbered anew after a resend is still the same line). Each run has fresh servers; \
every process is killed at the end, on error and on Ctrl-C."
)]
struct Args {
    /// A `chatty` binary to measure, as PATH or LABEL=PATH; repeat for an
    /// A/B in one invocation (runs alternate between them). Default: the
    /// one beside this program (or $CHATTY_BIN).
    #[arg(long)]
    chatty: Vec<String>,
    /// Runs per binary.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Clients in all, spread round-robin over the three servers.
    #[arg(long, default_value_t = 3000)]
    clients: usize,
    /// Clients that type lines (spread over the servers like the rest).
    #[arg(long, default_value_t = 24)]
    senders: usize,
    /// Lines per second each sender types.
    #[arg(long, default_value_t = 1.0)]
    rate: f64,
    /// Seconds of chat before the kill.
    #[arg(long, default_value_t = 3.0)]
    before: f64,
    /// Seconds of chat after the last client is back.
    #[arg(long, default_value_t = 2.0)]
    after: f64,
    /// Seconds every client of the lost server may take to be back.
    #[arg(long, default_value_t = 30.0)]
    limit: f64,
    /// Seconds the lines may take to be acknowledged, and again to reach
    /// everyone, once typing stops; a line not shown by then is missed.
    #[arg(long, default_value_t = 10.0)]
    drain: f64,
    /// Where a failed-over client starts its round of survivors: library
    /// (the client library's own choice, a turn drawn per client), rotate
    /// (spread by index) or first (everyone at the first announced
    /// survivor: the terminal client's order before it spread).
    #[arg(long, value_enum, default_value_t = Spread::Library)]
    spread: Spread,
    /// Joins under way at once while setting up.
    #[arg(long, default_value_t = 64)]
    parallel: usize,
    /// Further flags for every server, whitespace-separated, e.g.
    /// "--client-queue 8192" to tell a burst larger than the queue from a
    /// reader that is too slow.
    #[arg(long, default_value = "", allow_hyphen_values = true)]
    server_args: String,
}

fn main() -> ExitCode {
    chatty_bench::run::main("massfail", run(Args::parse()))
}

fn binaries(args: &Args) -> anyhow::Result<Vec<(String, Chatty)>> {
    if args.chatty.is_empty() {
        return Ok(vec![("chatty".into(), Chatty::beside_current_exe()?)]);
    }
    args.chatty
        .iter()
        .map(|spec| {
            let (label, path) = match spec.split_once('=') {
                Some((label, path)) => (label.to_string(), PathBuf::from(path)),
                None => ("chatty".to_string(), PathBuf::from(spec)),
            };
            if !path.is_file() {
                bail!("{}: no such binary", path.display());
            }
            Ok((label, Chatty::new(path).deadline(Duration::from_secs(30))))
        })
        .collect()
}

async fn run(args: Args) -> anyhow::Result<()> {
    let binaries = binaries(&args)?;
    check_fd_limit(args.clients)?;
    let spec = RunSpec {
        clients: args.clients,
        senders: args.senders.min(args.clients.saturating_sub(2)),
        period: Duration::from_secs_f64(1.0 / args.rate.max(0.01)),
        before: Duration::from_secs_f64(args.before),
        after: Duration::from_secs_f64(args.after),
        limit: Duration::from_secs_f64(args.limit),
        spread: args.spread,
        parallel: args.parallel.max(1),
        drain: Duration::from_secs_f64(args.drain),
        server_args: args
            .server_args
            .split_whitespace()
            .map(String::from)
            .collect(),
    };
    let mut outcomes: Vec<Vec<RunOutcome>> = binaries.iter().map(|_| Vec::new()).collect();
    for n in 0..args.runs {
        // Alternate binaries run by run, so a disturbance hits them alike.
        for (b, (label, chatty)) in binaries.iter().enumerate() {
            eprintln!("run {n} of {label}…");
            let outcome = tokio::time::timeout(spec.bound(), run::one(chatty, &spec, n))
                .await
                .with_context(|| format!("run {n} of {label} took over {:?}", spec.bound()))??;
            eprintln!("  {}", outcome.line());
            outcomes[b].push(outcome);
        }
    }
    println!(
        "### Mass failover: {} clients on 3 servers, SIGKILL one; {} senders × {} lines/s; spread {:?}{}\n",
        args.clients,
        spec.senders,
        args.rate,
        args.spread,
        if args.server_args.is_empty() {
            String::new()
        } else {
            format!("; servers with `{}`", args.server_args)
        }
    );
    println!("| binary | run | clients of the lost server | landed per survivor | all chatting again | reconnect p50 | reconnect p99 | chatting p50 | chatting p99 | 211 answers | lines typed | missed | shown twice | not shown (id seen) | connections lost, survivors | lost, by cause | stranded |");
    println!(
        "|:---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---|---:|"
    );
    let mut ok = true;
    for ((label, _), runs) in binaries.iter().zip(&outcomes) {
        for (n, o) in runs.iter().enumerate() {
            ok &= o.clean();
            println!("| {label} | {n} | {} |", o.cells());
        }
    }
    println!();
    println!("| binary | runs | all chatting again: median | max | every line exactly once |");
    println!("|:---|---:|---:|---:|:---|");
    for ((label, _), runs) in binaries.iter().zip(&outcomes) {
        let mut all: Vec<Duration> = runs.iter().filter_map(|o| o.all_back).collect();
        all.sort();
        let median = all.get(all.len() / 2).copied();
        let max = all.last().copied();
        let exact = runs.iter().all(|o| o.verdict.exact());
        println!(
            "| {label} | {} of {} complete | {} | {} | {} |",
            all.len(),
            runs.len(),
            median.map_or("–".into(), ms),
            max.map_or("–".into(), ms),
            if exact { "yes" } else { "no" }
        );
    }
    if !ok {
        bail!("some run lost, repeated or stranded something (see the tables)");
    }
    Ok(())
}

/// Every client is a socket here and in a server, and during the failover
/// the survivors hold old and new ones: refuse to start rather than fail
/// half-way with EMFILE.
fn check_fd_limit(clients: usize) -> anyhow::Result<()> {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let soft = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse::<usize>().ok());
    if let Some(soft) = soft {
        if soft < clients + 512 {
            bail!(
                "the open-file limit is {soft}, too low for {clients} clients: run `ulimit -n {}` first",
                clients * 2 + 1024
            );
        }
    }
    Ok(())
}
