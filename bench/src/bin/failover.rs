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
//! cargo build --release && cargo run --release --example failover -- 20
//! ```

#[path = "support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chatty::client::Client;
use chatty::protocol::ServerMsg;
use support::{loopback_group, server_binary, KillOnDrop};

/// Spawns `chatty` with piped stdio; returns the process, its stdin and a
/// channel of its stdout lines.
fn spawn(
    bin: &PathBuf,
    args: &[&str],
) -> anyhow::Result<(KillOnDrop, ChildStdin, mpsc::Receiver<String>)> {
    let mut child = Command::new(bin)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdin = child.stdin.take().context("stdin")?;
    let stdout = child.stdout.take().context("stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Ok((KillOnDrop(child), stdin, rx))
}

fn wait_line(
    rx: &mpsc::Receiver<String>,
    what: &str,
    pred: impl Fn(&str) -> bool,
) -> anyhow::Result<String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .with_context(|| format!("waiting for {what}"))?;
        if pred(&line) {
            return Ok(line);
        }
    }
}

fn server(bin: &PathBuf, group: &str) -> anyhow::Result<(KillOnDrop, String)> {
    let args = [
        "server",
        "--listen",
        "127.0.0.1:0",
        "--iface",
        "127.0.0.1",
        "--group",
        group,
    ];
    let (proc, _stdin, rx) = spawn(bin, &args)?;
    let first = wait_line(&rx, "listening", |l| l.starts_with("listening on "))?;
    Ok((proc, first["listening on ".len()..].to_string()))
}

async fn one_run(bin: &PathBuf, run: usize) -> anyhow::Result<Duration> {
    let group = loopback_group()?;
    let (a, addr_a) = server(bin, &group)?;
    let (_b, addr_b) = server(bin, &group)?;
    let (_c, _addr_c) = server(bin, &group)?;
    let (_leo, mut leo_in, leo_out) = spawn(bin, &["client", &addr_a, "--name", "Leo"])?;
    wait_line(&leo_out, "Leo joined", |l| {
        l == "[JOIN] Leo joined the chat"
    })?;
    let mut bob = Client::connect(&addr_b).await?;
    bob.join("Bob").await?;
    wait_line(&leo_out, "Bob seen by Leo", |l| {
        l == "[JOIN] Bob joined the chat"
    })?;
    // Let the server list reach Leo, as it would in a running chat.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let text = format!("back after failover {run}");
    let t0 = Instant::now();
    drop(a); // SIGKILL
    let line = tokio::task::block_in_place(|| {
        wait_line(&leo_out, "reconnected", |l| {
            l.starts_with("[SERVER] reconnected to ")
        })
    })?;
    writeln!(leo_in, "{text}")?;
    leo_in.flush()?;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, bob.recv()).await {
            Ok(Ok(Some(ServerMsg::Message { from, text: t, .. })))
                if from == "Leo" && t == text =>
            {
                let took = t0.elapsed();
                eprintln!(
                    "run {run}: {line} -> chatting again after {} ms",
                    took.as_millis()
                );
                return Ok(took);
            }
            Ok(Ok(Some(ServerMsg::Ping { nonce }))) => {
                bob.send_msg(&chatty::protocol::ClientMsg::Pong { nonce })
                    .await?;
            }
            Ok(Ok(Some(_))) => {}
            _ => bail!("run {run}: Bob never heard Leo again"),
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let runs: usize = std::env::args().nth(1).map_or(Ok(20), |a| a.parse())?;
    let bin = server_binary()?;
    let mut ms = Vec::new();
    for run in 0..runs {
        ms.push(one_run(&bin, run).await?.as_secs_f64() * 1000.0);
    }
    ms.sort_by(|a, b| a.total_cmp(b));
    println!(
        "SIGKILL -> client chatting again on another server: runs {}, median {:.0} ms, max {:.0} ms, min {:.0} ms",
        ms.len(),
        ms[ms.len() / 2],
        ms[ms.len() - 1],
        ms[0]
    );
    Ok(())
}
