//! Side-by-side load generator: drives Chatty, nats-server, redis-server and
//! ngircd through their own protocols with the same workloads, and prints
//! one Markdown table per workload with Chatty's ratio to each peer.
//!
//! The servers are started by `scripts/bench-peers.sh`, which passes their
//! addresses and process ids: `--fanout chatty=127.0.0.1:7000@1234`, and for
//! multi-server set-ups a comma-separated list (`--chat nats=a@p1,b@p2,c@p3`).
//! Systems of one workload run interleaved (all systems at N = 10, then all
//! at N = 100, …) so that a disturbance on the shared machine hits them alike;
//! `--rounds` repeats each fan-out row in alternating order (fanout.rs).

mod chatty;
mod clients;
mod conn;
mod fanout;
mod idle;
mod irc;
mod nats;
mod redis;
mod stats;
mod workload;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;

use chatty_bench::report::thousands;
use conn::System;
use workload::{ChatSpec, FanoutSpec, Outcome, Target};

#[derive(Debug, Parser)]
#[command(about = "Compare Chatty with NATS, Redis pub/sub and IRC on one workload")]
struct Args {
    /// Fan-out target: SYSTEM[:NOTE]=ADDR@PID (system: chatty, nats, redis, irc; the note labels a configuration, e.g. `chatty:1 thread`). Repeatable.
    #[arg(long)]
    fanout: Vec<String>,
    /// Chat target: SYSTEM=ADDR@PID[,ADDR@PID…] (clients spread over the servers). Repeatable.
    #[arg(long)]
    chat: Vec<String>,
    /// Join-storm / idle-scale target: SYSTEM=ADDR@PID[,ADDR@PID…] (clients
    /// spread round-robin over the servers). Repeatable.
    #[arg(long)]
    idle: Vec<String>,
    /// Fan-out subscriber counts.
    #[arg(long, value_delimiter = ',', default_value = "10,100,1000")]
    subscribers: Vec<usize>,
    /// Fan-out message sizes (payload bytes).
    #[arg(long, value_delimiter = ',', default_value = "64,512")]
    sizes: Vec<usize>,
    /// Seconds the fan-out publisher sends.
    #[arg(long, default_value_t = 3.0)]
    duration: f64,
    /// Most messages the publisher may be ahead of the slowest subscriber.
    #[arg(long, default_value_t = 512)]
    window: u64,
    /// Most messages per publisher write.
    #[arg(long, default_value_t = 64)]
    batch: u64,
    /// Times each fan-out row is run, the targets' order reversed every
    /// other round; the table shows medians (see fanout.rs).
    #[arg(long, default_value_t = 1, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=15))]
    rounds: usize,
    /// Chat clients (spread over the chat target's servers).
    #[arg(long, default_value_t = 1000)]
    chat_clients: usize,
    /// Messages per second each chat client sends.
    #[arg(long, default_value_t = 0.2)]
    chat_rate: f64,
    /// Chat message size.
    #[arg(long, default_value_t = 64)]
    chat_size: usize,
    /// Seconds the chat clients send.
    #[arg(long, default_value_t = 10.0)]
    chat_duration: f64,
    /// Idle clients.
    #[arg(long, default_value_t = 20_000)]
    idle_clients: usize,
    /// Seconds the idle clients may take to connect and join, per target;
    /// those not confirmed by then count as lost ("no answer in time").
    #[arg(long, default_value_t = 400.0)]
    idle_limit: f64,
    /// Seconds to let idle connections settle before measuring (a server
    /// may return a burst's memory only after it is over).
    #[arg(long, default_value_t = 5.0)]
    settle: f64,
    /// Seconds everything may take to arrive after the last send.
    #[arg(long, default_value_t = 10.0)]
    drain: f64,
}

fn parse_target(spec: &str) -> anyhow::Result<Target> {
    let (name, servers) = spec
        .split_once('=')
        .with_context(|| format!("{spec:?}: expected SYSTEM[:NOTE]=ADDR@PID"))?;
    // `chatty:1 thread` is Chatty, shown as "chatty (1 thread)": one system
    // run in two configurations side by side.
    let (system, note) = match name.split_once(':') {
        Some((system, note)) => (system, Some(note)),
        None => (name, None),
    };
    // `chatty-irc` is Chatty's IRC gateway: the IRC workload, labelled so.
    let (system, shown) = match system {
        "chatty-irc" => (System::Irc, "chatty IRC gateway"),
        other => {
            let system = System::parse_name(other)?;
            (system, system.label())
        }
    };
    let label = match note {
        Some(note) => format!("{shown} ({note})"),
        None => shown.to_string(),
    };
    let mut addrs = Vec::new();
    let mut pids = Vec::new();
    for server in servers.split(',') {
        let (addr, pid) = server
            .split_once('@')
            .with_context(|| format!("{server:?}: expected ADDR@PID"))?;
        if !addr.starts_with("127.") {
            bail!("{addr}: the benchmark only talks to loopback servers");
        }
        addrs.push(addr.to_string());
        pids.push(
            pid.parse()
                .with_context(|| format!("bad pid in {server:?}"))?,
        );
    }
    Ok(Target {
        system,
        label,
        addrs,
        pids,
    })
}

fn us(o: &Outcome, q: f64) -> String {
    thousands(o.tally.hist.value_at_quantile(q) as f64)
}

/// p99 of the deliveries whose sender is on the receiver's server: what a
/// cluster's relay adds shows in the gap to [`relayed_p99`].
fn same_server_p99(o: &Outcome) -> String {
    let mut local = o.tally.hist.clone();
    if local.subtract(&o.tally.relayed).is_err() || local.is_empty() {
        return "–".into();
    }
    thousands(local.value_at_quantile(0.99) as f64)
}

/// p99 of the deliveries relayed from another server ("–" on one server).
fn relayed_p99(o: &Outcome) -> String {
    if o.tally.relayed.is_empty() {
        return "–".into();
    }
    thousands(o.tally.relayed.value_at_quantile(0.99) as f64)
}

fn status(o: &Outcome) -> String {
    if o.complete() {
        return "yes".into();
    }
    let mut s = format!(
        "no: {} of {} delivered, {} gaps, {} out of order",
        o.tally.delivered, o.expected, o.tally.gaps, o.tally.out_of_order
    );
    if let Some(e) = o.errors.first() {
        s.push_str(&format!("; {}", e.replace('|', "/")));
    }
    s
}

fn main() -> ExitCode {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    match rt.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("compare: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<bool> {
    chatty_bench::stamp::base();
    let parse_all = |specs: &[String]| {
        specs
            .iter()
            .map(|s| parse_target(s))
            .collect::<anyhow::Result<Vec<_>>>()
    };
    let fanout = parse_all(&args.fanout)?;
    let chat = parse_all(&args.chat)?;
    let idle = parse_all(&args.idle)?;
    let drain = Duration::from_secs_f64(args.drain);
    let mut ok = true;

    if !fanout.is_empty() {
        let table = fanout::Table {
            subscribers: args.subscribers.clone(),
            sizes: args.sizes.clone(),
            rounds: args.rounds,
            spec: FanoutSpec {
                subscribers: 0,
                size: 0,
                duration: Duration::from_secs_f64(args.duration),
                window: args.window,
                batch: args.batch,
                drain,
            },
        };
        ok &= fanout::table(&fanout, &table).await;
    }

    if !chat.is_empty() {
        println!("### Chat: {} clients, each sending {} msg/s of {} B for {} s, everyone hears everyone\n", args.chat_clients, args.chat_rate, args.chat_size, args.chat_duration);
        println!("| system | servers | messages | deliveries | deliveries/s | p50 µs | p99 µs | max µs | p99 µs, sender on the same server | p99 µs, sender on another server | server CPU s per M deliveries | largest server peak RSS MiB | complete | this p99 ÷ Chatty p99 |");
        println!("|:---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---|---:|");
        let mut rows = Vec::new();
        for target in &chat {
            eprintln!("chat {} on {} server(s)…", target.label, target.addrs.len());
            let spec = ChatSpec {
                clients: args.chat_clients,
                rate: args.chat_rate,
                size: args.chat_size,
                duration: Duration::from_secs_f64(args.chat_duration),
                drain,
            };
            let limit = Duration::from_secs_f64(args.chat_duration + args.drain + 90.0);
            let result = tokio::time::timeout(limit, workload::chat(target, spec))
                .await
                .unwrap_or_else(|_| Err(format!("run timed out after {limit:?}")));
            if let Err(e) = &result {
                eprintln!("  failed: {e}");
            }
            rows.push((target, result));
        }
        let chatty_p99 = rows
            .iter()
            .find(|(t, _)| t.system == System::Chatty)
            .and_then(|(_, r)| r.as_ref().ok())
            .map(|o| o.tally.hist.value_at_quantile(0.99) as f64);
        for (target, result) in &rows {
            match result {
                Ok(o) => {
                    ok &= o.complete();
                    let ratio = chatty_p99.map_or("–".into(), |c| {
                        format!(
                            "{:.2}",
                            o.tally.hist.value_at_quantile(0.99) as f64 / c.max(1.0)
                        )
                    });
                    println!(
                        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.2} | {:.1} | {} | {} |",
                        target.label,
                        target.addrs.len(),
                        thousands(o.messages as f64),
                        thousands(o.tally.delivered as f64),
                        thousands(o.deliveries_per_sec()),
                        us(o, 0.5),
                        us(o, 0.99),
                        thousands(o.tally.hist.max() as f64),
                        same_server_p99(o),
                        relayed_p99(o),
                        o.cpu_per_million(),
                        o.peak_kib as f64 / 1024.0,
                        status(o),
                        ratio
                    );
                }
                Err(e) => {
                    ok = false;
                    println!(
                        "| {} | {} | | | | | | | | | | | {} | |",
                        target.label,
                        target.addrs.len(),
                        e.replace('|', "/")
                    );
                }
            }
        }
        println!();
    }

    if !idle.is_empty() {
        println!(
            "### Join storm and idle scale: {} clients connect and join, then stay silent\n",
            args.idle_clients
        );
        println!("Clients spread round-robin over the servers, 64 connecting at a time, each read continuously from its confirmation on. Lost: clients that were refused, got no confirmation within {} s, or were disconnected before the end of the {} s settle, by cause.\n", args.idle_limit, args.settle);
        println!("| system | servers | clients | kept | connect + join s | this ÷ Redis | lost | server RSS before MiB | server RSS after MiB | RSS per idle client KiB |");
        println!("|:---|---:|---:|---:|---:|---:|:---|---:|---:|---:|");
        let mut rows = Vec::new();
        for target in &idle {
            eprintln!(
                "idle {} × {} on {} server(s)…",
                target.label,
                args.idle_clients,
                target.addrs.len()
            );
            let o = idle::idle(
                target,
                args.idle_clients,
                Duration::from_secs_f64(args.settle),
                Duration::from_secs_f64(args.idle_limit),
            )
            .await;
            eprintln!("  {:.1} s, lost: {}", o.connect_secs, o.losses.summary());
            for e in &o.losses.examples {
                eprintln!("  e.g. {e}");
            }
            rows.push((target, o));
        }
        let redis = rows
            .iter()
            .find(|(t, o)| t.system == System::Redis && o.losses.total() == 0)
            .map(|(_, o)| o.connect_secs);
        for (target, o) in &rows {
            ok &= o.losses.total() == 0 && !o.timed_out;
            let lost = if o.timed_out {
                format!("{} (timed out)", o.losses.summary())
            } else {
                o.losses.summary()
            };
            println!(
                "| {} | {} | {} | {} | {:.1} | {} | {} | {:.1} | {:.1} | {:.2} |",
                target.label,
                target.addrs.len(),
                thousands(o.clients as f64),
                thousands(o.kept as f64),
                o.connect_secs,
                redis.map_or("–".into(), |r| format!(
                    "{:.2}",
                    o.connect_secs / r.max(1e-9)
                )),
                lost.replace('|', "/"),
                o.rss_before_kib as f64 / 1024.0,
                o.rss_after_kib as f64 / 1024.0,
                o.rss_per_client(),
            );
        }
        println!();
    }
    Ok(ok)
}
