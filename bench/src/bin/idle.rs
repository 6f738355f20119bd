//! The heartbeat cost of idle servers on the virtual LAN (issue 19): N
//! servers, each on a host of its own (`chatty_harness::vlan`), no clients.
//! Once all list all and a settling pause has passed, it reads every host's
//! LAN interface counters over a window and reports what one server sends
//! per second: bytes and packets on the link, and the UDP datagrams by kind
//! and destination (group or unicast), counted by nftables. Then it kills
//! servers one at a time and times their removal on all others, so each
//! figure comes with the detection time of the same build.
//!
//! `--bin` may be given several times (e.g. the previous main's binary and
//! the new one) to measure them side by side in one run. Needs root,
//! iproute2 and nftables:
//!
//! ```text
//! cargo build --release -p chatty -p chatty-bench --bin chatty --bin idle
//! sudo target/release/idle --bin /work/hb-base-chatty --bin target/release/chatty
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::bail;
use chatty_bench::api::ServerId;
use chatty_bench::report::{median_max, ms};
use chatty_harness::vlan::meter::{self, Count, Reading};
use chatty_harness::vlan::{self, sorted_ids, Lan};
use clap::Parser;

/// Heartbeat cost of idle servers on the virtual LAN.
#[derive(Debug, Parser)]
#[command(name = "idle")]
struct Args {
    /// Cluster sizes to measure.
    #[arg(long, value_delimiter = ',', default_value = "3,5,10")]
    sizes: Vec<usize>,
    /// `chatty` binaries to measure, in order (default: the one beside
    /// this program).
    #[arg(long = "bin")]
    bins: Vec<PathBuf>,
    /// Seconds of counting per cluster.
    #[arg(long, default_value_t = 10)]
    secs: u64,
    /// Seconds between "all see all" and the start of counting.
    #[arg(long, default_value_t = 2)]
    settle: u64,
    /// Crashes timed per cluster (0: none).
    #[arg(long, default_value_t = 3)]
    kills: usize,
}

/// Anything slower than this is a failure, not a figure.
const LIMIT: Duration = Duration::from_secs(30);

fn main() -> ExitCode {
    chatty_bench::run::main("idle", run(Args::parse()))
}

async fn run(args: Args) -> anyhow::Result<()> {
    if let Some(reason) = vlan::unavailable() {
        bail!("the virtual LAN cannot run here: {reason}");
    }
    let bins = if args.bins.is_empty() {
        vec![chatty_harness::binary::beside_current_exe()?]
    } else {
        args.bins.clone()
    };
    let started = Instant::now();
    println!("load average at start: {}", loadavg());
    let mut rows = Vec::new();
    let mut kinds = Vec::new();
    for bin in &bins {
        for &n in &args.sizes {
            anyhow::ensure!((2..=200).contains(&n), "--sizes: 2 to 200 hosts");
            eprintln!("== {} with {n} servers", bin.display());
            let (cost, detection) = measure(bin, n, &args).await?;
            let label = bin.display().to_string();
            rows.push(cost_row(&label, n, &cost, args.secs, &detection));
            kinds.push(kind_rows(&label, n, &cost, args.secs));
        }
    }
    println!(
        "\nPer server, idle, {} s window after all see all (+{} s settling); link = eth0 tx \
         counters (Ethernet frames, all traffic), UDP = cluster datagrams (IP bytes)\n",
        args.secs, args.settle
    );
    println!("| binary | servers | link KB/s | link packets/s | UDP group pkts/s | UDP unicast pkts/s | detection median | max |");
    println!("|---|---|---|---|---|---|---|---|");
    for line in rows {
        println!("{line}");
    }
    println!("\nBy kind (per server, packets/s and bytes/s):\n");
    println!("| binary | servers | destination | kind | packets/s | bytes/s |");
    println!("|---|---|---|---|---|---|");
    for line in kinds.into_iter().flatten() {
        println!("{line}");
    }
    println!("\nload average at end: {}", loadavg());
    println!("total time {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// Starts `n` servers of `bin`; the per-host counts over the window, and
/// the detection times of `args.kills` crashes.
async fn measure(
    bin: &Path,
    n: usize,
    args: &Args,
) -> anyhow::Result<(Vec<Reading>, Vec<Duration>)> {
    let mut lan = Lan::new(n, bin)?;
    // Status polls every 5 ms would hit the per-client rate limit.
    lan.set_server_flags(&["--rate-limit", "0"]);
    for i in 0..n {
        meter::install(&lan.net().host(i))?;
    }
    lan.start_all().await?;
    let all: Vec<usize> = (0..n).collect();
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(lan.status(i).await?.id);
    }
    until_lists(&lan, &all, &ids).await?;
    tokio::time::sleep(Duration::from_secs(args.settle)).await; // a fixed settling pause, not a wait for a condition
    let read_all = |lan: &Lan| -> anyhow::Result<Vec<Reading>> {
        (0..n).map(|i| meter::read(&lan.net().host(i))).collect()
    };
    let before = read_all(&lan)?;
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.secs)).await; // the counting window itself
    let after = read_all(&lan)?;
    let took = t0.elapsed().as_secs_f64();
    // Scale to exactly `secs` so rows compare.
    let scale = args.secs as f64 / took;
    let cost = after
        .iter()
        .zip(&before)
        .map(|(a, b)| scaled(&a.since(b), scale))
        .collect();
    let mut detection = Vec::new();
    for run in 0..args.kills {
        let victim = 1 + run % (n - 1);
        let others: Vec<usize> = all.iter().copied().filter(|&h| h != victim).collect();
        let rest: Vec<ServerId> = others.iter().map(|&h| ids[h]).collect();
        let t0 = Instant::now();
        lan.kill(victim);
        let d = until_lists(&lan, &others, &rest).await? - t0;
        eprintln!("  detection {}", ms(d));
        detection.push(d);
        lan.start(victim).await?;
        ids[victim] = lan.status(victim).await?.id;
        until_lists(&lan, &all, &ids).await?;
    }
    Ok((cost, detection))
}

fn scaled(r: &Reading, scale: f64) -> Reading {
    let s = |c: Count| Count {
        packets: (c.packets as f64 * scale).round() as u64,
        bytes: (c.bytes as f64 * scale).round() as u64,
    };
    Reading {
        link: s(r.link),
        by_kind: r.by_kind.iter().map(|(k, c)| (k.clone(), s(*c))).collect(),
    }
}

/// The mean over hosts of `f`, per second.
fn per_server(cost: &[Reading], secs: u64, f: impl Fn(&Reading) -> u64) -> f64 {
    cost.iter().map(f).sum::<u64>() as f64 / cost.len() as f64 / secs as f64
}

fn udp_packets(r: &Reading, dest: &str) -> u64 {
    r.by_kind
        .iter()
        .filter(|((d, _), _)| d == dest)
        .map(|(_, c)| c.packets)
        .sum()
}

fn cost_row(bin: &str, n: usize, cost: &[Reading], secs: u64, detection: &[Duration]) -> String {
    let kb = per_server(cost, secs, |r| r.link.bytes) / 1000.0;
    let pkts = per_server(cost, secs, |r| r.link.packets);
    let group = per_server(cost, secs, |r| udp_packets(r, "group"));
    let unicast = per_server(cost, secs, |r| udp_packets(r, "unicast"));
    let mut sorted = detection.to_vec();
    let (median, max) =
        median_max(&mut sorted).map_or(("–".into(), "–".into()), |(m, x)| (ms(m), ms(x)));
    format!("| {bin} | {n} | {kb:.2} | {pkts:.1} | {group:.1} | {unicast:.1} | {median} | {max} |")
}

fn kind_rows(bin: &str, n: usize, cost: &[Reading], secs: u64) -> Vec<String> {
    let mut keys: Vec<&(String, String)> = cost.iter().flat_map(|r| r.by_kind.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|key| {
            let get = |r: &Reading| r.by_kind.get(key).copied().unwrap_or_default();
            let pkts = per_server(cost, secs, |r| get(r).packets);
            let bytes = per_server(cost, secs, |r| get(r).bytes);
            (pkts > 0.0).then(|| {
                format!(
                    "| {bin} | {n} | {} | {} | {pkts:.1} | {bytes:.0} |",
                    key.0, key.1
                )
            })
        })
        .collect()
}

/// Waits until every host in `hosts` lists exactly `want`; the time then.
async fn until_lists(lan: &Lan, hosts: &[usize], want: &[ServerId]) -> anyhow::Result<Instant> {
    let mut want = want.to_vec();
    want.sort();
    let deadline = Instant::now() + LIMIT;
    let mut clients = Vec::new();
    for &i in hosts {
        clients.push(lan.client(i, i).await?);
    }
    'poll: loop {
        for client in &mut clients {
            if sorted_ids(&client.status().await?) != want {
                if Instant::now() > deadline {
                    bail!("no agreement within {LIMIT:?}");
                }
                tokio::time::sleep(Duration::from_millis(5)).await; // poll, bounded by the deadline
                continue 'poll;
            }
        }
        return Ok(Instant::now());
    }
}
