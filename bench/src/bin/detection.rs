//! Measures how long a SIGKILLed server stays in its peers' lists.
//!
//! Starts three real `chatty server` processes on loopback (multicast on the
//! loopback interface, in a private group), waits until they list each
//! other, SIGKILLs one and polls the survivors' status until it is gone.
//! Repeats `RUNS` times (default 10) and prints each time, the median and
//! the maximum.
//!
//! ```text
//! cargo build --release --bin chatty && cargo run --release -p chatty-bench --bin detection -- 20
//! ```

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::bail;
use chatty_bench::api::status;
use chatty_bench::report::runs_summary;
use chatty_harness::{loopback, Chatty};

/// How long discovery and removal may take before a run fails.
const LIMIT: Duration = Duration::from_secs(10);

fn main() -> ExitCode {
    chatty_bench::run::main("detection", run())
}

async fn run() -> anyhow::Result<()> {
    let runs: usize = std::env::args().nth(1).map_or(Ok(10), |a| a.parse())?;
    let chatty = Chatty::beside_current_exe()?;
    let mut times = Vec::new();
    for run in 0..runs {
        times.push(one_run(&chatty, run).await?);
    }
    println!(
        "SIGKILL -> gone from both survivors' status (ms): {:?}",
        times.iter().map(|d| d.as_millis()).collect::<Vec<_>>()
    );
    println!("{}", runs_summary(&mut times));
    Ok(())
}

/// Three servers; the time from SIGKILLing the third until neither of the
/// others lists it.
async fn one_run(chatty: &Chatty, run: usize) -> anyhow::Result<Duration> {
    let group = loopback::private_group()?;
    let mut servers = Vec::new();
    for _ in 0..3 {
        servers.push(chatty.loopback_server(group, &[]).await?);
    }
    let addrs: Vec<String> = servers.iter().map(|s| s.addr().to_string()).collect();
    let deadline = Instant::now() + LIMIT;
    while listed(&addrs[0]).await?.len() < 3 || listed(&addrs[1]).await?.len() < 3 {
        if Instant::now() > deadline {
            bail!("run {run}: servers did not find each other");
        }
        tokio::time::sleep(Duration::from_millis(10)).await; // poll, bounded by the deadline
    }
    // A few heartbeat rounds, so that the victim's last one is not its first.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut victim = servers.pop().expect("three servers");
    let t0 = Instant::now();
    victim.kill();
    loop {
        let a = listed(&addrs[0]).await?;
        let b = listed(&addrs[1]).await?;
        if !a.contains(&addrs[2]) && !b.contains(&addrs[2]) {
            return Ok(t0.elapsed());
        }
        if t0.elapsed() > LIMIT {
            bail!("run {run}: the killed server was never removed");
        }
        tokio::time::sleep(Duration::from_millis(5)).await; // poll, bounded by LIMIT
    }
}

/// The client addresses of the servers `at` lists.
async fn listed(at: &str) -> anyhow::Result<Vec<String>> {
    Ok(status::fetch(at)
        .await?
        .servers
        .into_iter()
        .map(|s| s.addr)
        .collect())
}
