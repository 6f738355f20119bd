//! Measures how long a SIGKILLed server stays in its peers' lists.
//!
//! Starts three real `chatty server` processes on loopback (multicast on the
//! loopback interface, in a private group), waits until they list each
//! other, SIGKILLs one and polls the survivors' status until it is gone.
//! Repeats `RUNS` times (default 10) and prints each time, the median and
//! the maximum.
//!
//! ```text
//! cargo build --release && cargo run --release --example detection -- 20
//! ```

#[path = "support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chatty::client::status;
use support::{loopback_group, server_binary, KillOnDrop};

/// A server process, killed when dropped.
struct Server {
    /// Held for its `Drop`: the server dies with this value.
    _child: KillOnDrop,
    addr: String,
}

fn start(bin: &PathBuf, group: &str) -> anyhow::Result<Server> {
    let mut child = Command::new(bin)
        .args([
            "server",
            "--listen",
            "127.0.0.1:0",
            "--iface",
            "127.0.0.1",
            "--group",
            group,
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut line)?;
    let addr = line
        .strip_prefix("listening on ")
        .context("unexpected first line")?
        .trim()
        .to_string();
    Ok(Server {
        _child: KillOnDrop(child),
        addr,
    })
}

async fn listed(at: &str) -> anyhow::Result<Vec<String>> {
    Ok(status::fetch(at)
        .await?
        .servers
        .into_iter()
        .map(|s| s.addr)
        .collect())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let runs: usize = std::env::args().nth(1).map_or(Ok(10), |a| a.parse())?;
    let bin = server_binary()?;
    let mut times = Vec::new();
    for run in 0..runs {
        let group = loopback_group()?;
        let mut servers = (0..3)
            .map(|_| start(&bin, &group))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while listed(&servers[0].addr).await?.len() < 3 || listed(&servers[1].addr).await?.len() < 3
        {
            if Instant::now() > deadline {
                bail!("run {run}: servers did not find each other");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let victim = servers.pop().expect("three servers");
        let gone = victim.addr.clone();
        let t0 = Instant::now();
        drop(victim); // SIGKILL
        loop {
            let a = listed(&servers[0].addr).await?;
            let b = listed(&servers[1].addr).await?;
            if !a.contains(&gone) && !b.contains(&gone) {
                break;
            }
            if t0.elapsed() > Duration::from_secs(10) {
                bail!("run {run}: the killed server was never removed");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        times.push(t0.elapsed());
    }
    let mut ms: Vec<f64> = times.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    println!(
        "SIGKILL -> gone from both survivors' status (ms): {:?}",
        ms.iter().map(|m| m.round() as u64).collect::<Vec<_>>()
    );
    ms.sort_by(|a, b| a.total_cmp(b));
    println!(
        "runs {}, median {:.0} ms, max {:.0} ms",
        ms.len(),
        ms[ms.len() / 2],
        ms[ms.len() - 1]
    );
    Ok(())
}
