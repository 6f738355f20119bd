//! Detection, convergence, failover and relay latency on the virtual LAN
//! (`chatty_harness::vlan`: every server on a network namespace of its own,
//! multicast over a private bridge), each without faults and with 10 % loss
//! (in and out) on every host. Prints a Markdown table for BENCHMARKS.md.
//!
//! Times are taken by polling every server's status over TCP from its own
//! host every 5 ms, so they include up to one polling round (a few ms).
//! Servers run with `--rate-limit 0` so that polling is not throttled.
//! Needs root, iproute2 and nftables:
//!
//! ```text
//! cargo build --release -p chatty -p chatty-bench --bin chatty --bin vlan
//! sudo target/release/vlan          # about 1 minute
//! ```

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chatty_bench::api::{Client, ClientMsg, ServerId, ServerMsg};
use chatty_bench::report::{median_max, ms};
use chatty_bench::stamp::{now_ns, parse_digits, put_digits};
use chatty_harness::client::wait_for;
use chatty_harness::vlan::{self, sorted_ids, Lan};
use clap::Parser;

/// Virtual-LAN benchmark: convergence, detection, failover, relay latency.
#[derive(Debug, Parser)]
#[command(name = "vlan")]
struct Args {
    /// Hosts on the LAN.
    #[arg(long, default_value_t = 5)]
    hosts: usize,
    /// Repetitions of detection, convergence and failover per condition.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Seconds of relay traffic per latency measurement.
    #[arg(long, default_value_t = 15)]
    latency_secs: u64,
    /// Loss percentage of the lossy condition.
    #[arg(long, default_value_t = 10)]
    loss: u8,
}

/// Anything slower than this is a failure, not a figure.
const LIMIT: Duration = Duration::from_secs(30);

fn main() -> ExitCode {
    chatty_bench::run::main("vlan", run(Args::parse()))
}

async fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(args.hosts >= 3, "--hosts must be at least 3");
    if let Some(reason) = vlan::unavailable() {
        bail!("the virtual LAN cannot run here: {reason}");
    }
    let bin = chatty_harness::binary::beside_current_exe()?;
    let bin = bin.as_path();
    let started = Instant::now();
    let mut rows = Vec::new();
    let mut latency_rows = Vec::new();
    for loss in [0, args.loss] {
        eprintln!("== loss {loss} %");
        let conv = repeat(args.runs, || convergence(bin, args.hosts, loss)).await?;
        rows.push(row("convergence (start → all see all)", loss, &conv));
        let det = detection(bin, args.hosts, loss, args.runs).await?;
        rows.push(row("detection (SIGKILL → removed on all)", loss, &det));
        let fail = repeat(args.runs, || failover(bin, args.hosts, loss)).await?;
        rows.push(row("failover (SIGKILL → chatting again)", loss, &fail));
        latency_rows.push(latency(bin, args.hosts, loss, args.latency_secs).await?);
    }
    println!("\n{} hosts, {} runs each\n", args.hosts, args.runs);
    println!("| measure | loss | runs | median | max |");
    println!("|---|---|---|---|---|");
    for line in rows {
        println!("{line}");
    }
    println!(
        "\nRelay latency, one sender on host 0 at 20 msgs/s for {} s, a receiver on each other host:\n",
        args.latency_secs
    );
    println!("| loss | samples | p50 | p90 | p99 | max | not delivered |");
    println!("|---|---|---|---|---|---|---|");
    for line in latency_rows {
        println!("{line}");
    }
    println!("\ntotal time {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

fn row(what: &str, loss: u8, samples: &[Duration]) -> String {
    let mut sorted = samples.to_vec();
    let (median, max) = median_max(&mut sorted)
        .map_or(("–".into(), "–".into()), |(median, max)| {
            (ms(median), ms(max))
        });
    format!(
        "| {what} | {loss} % | {} | {median} | {max} |",
        sorted.len()
    )
}

async fn repeat<F, Fut>(runs: usize, mut f: F) -> anyhow::Result<Vec<Duration>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Duration>>,
{
    let mut out = Vec::new();
    for _ in 0..runs {
        let d = f().await?;
        eprintln!("  {}", ms(d));
        out.push(d);
    }
    Ok(out)
}

/// A LAN with `loss` on every host, nothing started.
fn lossy_lan(bin: &Path, hosts: usize, loss: u8) -> anyhow::Result<Lan> {
    let mut lan = Lan::new(hosts, bin)?;
    // Status polls every 5 ms would hit the per-client rate limit.
    lan.set_server_flags(&["--rate-limit", "0"]);
    for i in 0..hosts {
        lan.set_loss(i, loss)?;
    }
    Ok(lan)
}

/// Waits until every host in `hosts` lists exactly `want`; the time taken.
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
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue 'poll;
            }
        }
        return Ok(Instant::now());
    }
}

async fn own_ids(lan: &Lan) -> anyhow::Result<Vec<ServerId>> {
    let mut ids = Vec::new();
    for i in 0..lan.hosts() {
        ids.push(lan.status(i).await?.id);
    }
    Ok(ids)
}

/// Starts every server; the time until each lists all.
async fn convergence(bin: &Path, hosts: usize, loss: u8) -> anyhow::Result<Duration> {
    let mut lan = lossy_lan(bin, hosts, loss)?;
    let t0 = Instant::now();
    lan.start_all().await?;
    let ids = own_ids(&lan).await?;
    let all: Vec<usize> = (0..hosts).collect();
    Ok(until_lists(&lan, &all, &ids).await? - t0)
}

/// SIGKILLs host 1..=runs (cycling, never host 0) in turn on one LAN; the
/// time until every other server has removed it. Restarts it in between.
async fn detection(
    bin: &Path,
    hosts: usize,
    loss: u8,
    runs: usize,
) -> anyhow::Result<Vec<Duration>> {
    let mut lan = lossy_lan(bin, hosts, loss)?;
    lan.start_all().await?;
    let all: Vec<usize> = (0..hosts).collect();
    let mut ids = own_ids(&lan).await?;
    until_lists(&lan, &all, &ids).await?;
    let mut out = Vec::new();
    for run in 0..runs {
        let victim = 1 + run % (hosts - 1);
        let others: Vec<usize> = all.iter().copied().filter(|&h| h != victim).collect();
        let rest: Vec<ServerId> = others.iter().map(|&h| ids[h]).collect();
        let t0 = Instant::now();
        lan.kill(victim);
        let d = until_lists(&lan, &others, &rest).await? - t0;
        eprintln!("  {}", ms(d));
        out.push(d);
        lan.start(victim).await?;
        ids[victim] = lan.status(victim).await?.id;
        until_lists(&lan, &all, &ids).await?;
    }
    Ok(out)
}

/// A terminal client on host 0 (server 0) and a library client on host 1;
/// SIGKILLs server 0 and times until the terminal client's first message
/// after reconnecting reaches the other client.
async fn failover(bin: &Path, hosts: usize, loss: u8) -> anyhow::Result<Duration> {
    let mut lan = lossy_lan(bin, hosts, loss)?;
    lan.start_all().await?;
    let all: Vec<usize> = (0..hosts).collect();
    let ids = own_ids(&lan).await?;
    until_lists(&lan, &all, &ids).await?;
    let mut leo = lan
        .chatty_in(0)
        .env("RUST_LOG", "off")
        .deadline(LIMIT)
        .spawn(["client", &lan.addr(0).to_string(), "--name", "Leo"])?;
    leo.until("[JOIN] Leo joined the chat").await?;
    let mut bob = lan.client(1, 1).await?;
    bob.join("Bob").await?;
    // Leo has the whole server list once he has seen Bob join via his server.
    leo.until("[JOIN] Bob joined the chat").await?;
    until_members(&lan, &all, 2).await?;
    let t0 = Instant::now();
    lan.kill(0);
    leo.until_match("a reconnect", |l| l.starts_with("[SERVER] reconnected to "))
        .await?;
    leo.write("back\n").await?;
    wait_for(
        &mut bob,
        "the message after failover",
        LIMIT,
        |m| matches!(m, ServerMsg::Message { from, text, .. } if from == "Leo" && text == "back"),
    )
    .await?;
    Ok(t0.elapsed())
}

async fn until_members(lan: &Lan, hosts: &[usize], count: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + LIMIT;
    for &i in hosts {
        while lan.status(i).await?.members.len() != count {
            anyhow::ensure!(Instant::now() < deadline, "members never agreed");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    Ok(())
}

/// One sender on host 0, one receiver on every other host; 20 messages a
/// second carrying their send time. Percentiles of send → receive.
async fn latency(bin: &Path, hosts: usize, loss: u8, secs: u64) -> anyhow::Result<String> {
    let mut lan = lossy_lan(bin, hosts, loss)?;
    lan.start_all().await?;
    let all: Vec<usize> = (0..hosts).collect();
    let ids = own_ids(&lan).await?;
    until_lists(&lan, &all, &ids).await?;
    let count = (secs * 20) as usize;
    let mut receivers = Vec::new();
    for i in 1..hosts {
        let mut client = lan.client(i, i).await?;
        client.join(&format!("r{i}")).await?;
        receivers.push(tokio::spawn(receive(client, count)));
    }
    let mut sender = lan.client(0, 0).await?;
    sender.join("s").await?;
    until_members(&lan, &all, hosts).await?;
    let (mut drain, mut tx) = sender.split();
    tokio::spawn(async move { while let Ok(Some(_)) = drain.recv().await {} });
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let mut text = [0u8; 20];
    for _ in 0..count {
        tick.tick().await;
        put_digits(&mut text, now_ns());
        tx.say(std::str::from_utf8(&text)?).await?;
    }
    let mut samples = Vec::new();
    let mut missing = 0;
    for task in receivers {
        let got = task.await??;
        missing += count - got.len();
        samples.extend(got);
    }
    samples.sort();
    let pct = |p: f64| -> String {
        let i = ((samples.len() as f64 * p) as usize).min(samples.len().saturating_sub(1));
        samples.get(i).map_or("-".into(), |d| ms_fine(*d))
    };
    let line = format!(
        "| {loss} % | {} | {} | {} | {} | {} | {missing} |",
        samples.len(),
        pct(0.5),
        pct(0.9),
        pct(0.99),
        samples.last().map_or("-".into(), |d| ms_fine(*d)),
    );
    eprintln!("  {line}");
    Ok(line)
}

fn ms_fine(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Latencies of the first `count` messages from "s".
async fn receive(mut client: Client, count: usize) -> anyhow::Result<Vec<Duration>> {
    let mut got = Vec::new();
    let read = async {
        while got.len() < count {
            match client.recv().await? {
                Some(ServerMsg::Message { from, text, .. }) if from == "s" => {
                    let sent = parse_digits(text.as_bytes()).context("timestamp")?;
                    got.push(Duration::from_nanos(now_ns().saturating_sub(sent)));
                }
                Some(ServerMsg::Ping { nonce }) => {
                    client.send_msg(&ClientMsg::Pong { nonce }).await?
                }
                Some(_) => {}
                None => bail!("server closed"),
            }
        }
        anyhow::Ok(())
    };
    // Whatever has not arrived by then counts as lost.
    let _ = tokio::time::timeout(LIMIT, read).await;
    Ok(got)
}
