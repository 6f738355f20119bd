//! Measures client failover: the time from SIGKILLing a client's server to
//! that client chatting again on another server.
//!
//! Each run starts three real `chatty server` processes on loopback
//! (multicast on the loopback interface, in a private group), a real
//! `chatty client` ("Leo", piped) on the first, and a library client
//! ("Bob") on the second. It SIGKILLs Leo's server and, as soon as Leo
//! reports that it reconnected, has Leo say something. The time is taken
//! when Bob receives it. Repeats `RUNS` times (default 20).
//!
//! ```text
//! cargo build --release --bin chatty && cargo run --release -p chatty-bench --bin failover -- 20
//! ```

use std::process::ExitCode;
use std::time::{Duration, Instant};

use chatty_bench::api::{Client, ServerMsg};
use chatty_bench::report::runs_summary;
use chatty_harness::{client::wait_for, loopback, Chatty};

/// How long any one step may take before the run fails.
const LIMIT: Duration = Duration::from_secs(15);

fn main() -> ExitCode {
    chatty_bench::run::main("failover", run())
}

async fn run() -> anyhow::Result<()> {
    let runs: usize = std::env::args().nth(1).map_or(Ok(20), |a| a.parse())?;
    let chatty = Chatty::beside_current_exe()?.deadline(LIMIT);
    let mut times = Vec::new();
    for run in 0..runs {
        times.push(one_run(&chatty, run).await?);
    }
    println!(
        "SIGKILL -> client chatting again on another server: {}",
        runs_summary(&mut times)
    );
    Ok(())
}

async fn one_run(chatty: &Chatty, run: usize) -> anyhow::Result<Duration> {
    let group = loopback::private_group()?;
    let mut a = chatty.loopback_server(group, &[]).await?;
    let b = chatty.loopback_server(group, &[]).await?;
    let _c = chatty.loopback_server(group, &[]).await?;
    let addr_a = a.addr().to_string();
    let mut leo = chatty.spawn(["client", &addr_a, "--name", "Leo"])?;
    leo.until("[JOIN] Leo joined the chat").await?;
    let mut bob = Client::connect(&b.addr().to_string()).await?;
    bob.join("Bob").await?;
    leo.until("[JOIN] Bob joined the chat").await?;
    // Let the server list reach Leo, as it would in a running chat.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let text = format!("back after failover {run}");
    let t0 = Instant::now();
    a.kill();
    let out = leo
        .until_match("a reconnect", |l| l.starts_with("[SERVER] reconnected to "))
        .await?;
    leo.write(&format!("{text}\n")).await?;
    wait_for(
        &mut bob,
        "Leo's message after failover",
        LIMIT,
        |m| matches!(m, ServerMsg::Message { from, text: t, .. } if from == "Leo" && *t == text),
    )
    .await?;
    let took = t0.elapsed();
    let line = out.last().map_or("", String::as_str);
    eprintln!(
        "run {run}: {line} -> chatting again after {} ms",
        took.as_millis()
    );
    Ok(took)
}
