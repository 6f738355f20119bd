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
//! The example does not build the server binary: run
//!
//! ```text
//! cargo build --release && cargo run --release --example relay_bench -- --help
//! ```
//!
//! See BENCHMARKS.md for the exact command and the measured numbers.

#[path = "support/mod.rs"]
mod support;

use support::{
    base, clock_ticks_per_sec, cpu_ticks, loopback_group, now_ns, parse_digits, peak_rss_kib,
    put_digits, server_binary, system_busy_ticks, thousands, KillOnDrop,
};

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use chatty::client::{Client, ClientError, ClientReader, ClientWriter};
use chatty::protocol::{encode_frame, ClientMsg, ServerId, ServerMsg};
use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;
use tokio::time::timeout_at;
use tokio_util::sync::CancellationToken;

/// Relay benchmark: three servers, C clients on each, everyone hears everyone.
#[derive(Debug, Parser)]
#[command(name = "relay_bench")]
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

/// Fixed layout of a message text:
/// `SSSS CCCCCCCCCC TTTTTTTTTTTTTTTTTTTT xxx…`: the sender's index, its
/// counter, and the send time in ns since [`base`].
const SENDER_DIGITS: usize = 4;
const COUNTER_AT: usize = SENDER_DIGITS + 1;
const COUNTER_DIGITS: usize = 10;
const TIME_AT: usize = COUNTER_AT + COUNTER_DIGITS + 1;
const TIME_DIGITS: usize = 20;
const MIN_SIZE: usize = TIME_AT + TIME_DIGITS + 1;

/// (sender, counter, sent ns) from a message text.
fn parse_text(text: &[u8]) -> Option<(usize, u64, u64)> {
    if text.len() < MIN_SIZE {
        return None;
    }
    Some((
        parse_digits(&text[..SENDER_DIGITS])? as usize,
        parse_digits(&text[COUNTER_AT..COUNTER_AT + COUNTER_DIGITS])?,
        parse_digits(&text[TIME_AT..TIME_AT + TIME_DIGITS])?,
    ))
}

/// The `send` frame of `sender` for a `size`-byte text, and where the text starts in it.
fn template_frame(size: usize, sender: usize) -> anyhow::Result<(Vec<u8>, usize)> {
    let mut text = vec![b'x'; size];
    put_digits(&mut text[..SENDER_DIGITS], sender as u64);
    text[SENDER_DIGITS] = b' ';
    put_digits(&mut text[COUNTER_AT..COUNTER_AT + COUNTER_DIGITS], 0);
    text[COUNTER_AT + COUNTER_DIGITS] = b' ';
    put_digits(&mut text[TIME_AT..TIME_AT + TIME_DIGITS], 0);
    text[TIME_AT + TIME_DIGITS] = b' ';
    let text = String::from_utf8(text).expect("ASCII");
    let frame = encode_frame(&ClientMsg::Send {
        text: text.clone(),
        cid: None,
    })
    .to_vec();
    // The text is the last field of the map, so it ends the frame.
    let at = frame.len() - size;
    if &frame[at..] != text.as_bytes() {
        bail!("unexpected encoding of a send frame");
    }
    Ok((frame, at))
}

/// Writes `counter` and the current time into a copy of `template` at the end of `buf`.
fn push_frame(buf: &mut Vec<u8>, template: &[u8], text_at: usize, counter: u64, now: u64) {
    let start = buf.len();
    buf.extend_from_slice(template);
    let text = &mut buf[start + text_at..];
    put_digits(&mut text[COUNTER_AT..COUNTER_AT + COUNTER_DIGITS], counter);
    put_digits(&mut text[TIME_AT..TIME_AT + TIME_DIGITS], now);
}

// ---------------------------------------------------------------- servers

/// A server child process; killed (and reaped) when dropped, whatever happens.
struct ServerProc {
    child: KillOnDrop,
    addr: SocketAddr,
    /// Lines the server logged on stderr (RUST_LOG=warn: warnings and errors).
    log_lines: Arc<AtomicU64>,
}

/// Starts server number `index` on loopback, in the multicast `group`
/// (see `loopback_group`) on loopback, dropping `loss` % of its
/// outgoing cluster datagrams.
fn start_server(
    bin: &Path,
    index: usize,
    group: &str,
    loss: f64,
    client_queue: usize,
) -> anyhow::Result<ServerProc> {
    let mut child = Command::new(bin)
        .args(["server", "--listen", "127.0.0.1:0", "--rate-limit", "0"])
        // Every simulated client comes from 127.0.0.1: lift the per-address cap.
        .args(["--max-per-ip", "0"])
        .args(["--iface", "127.0.0.1", "--group"])
        .arg(group)
        .arg("--client-queue")
        .arg(client_queue.to_string())
        .arg("--inject-loss")
        .arg(loss.to_string())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {}", bin.display()))?;
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");
    // From here on the guard kills the child on every exit path.
    let mut server = ServerProc {
        child: KillOnDrop(child),
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        log_lines: Arc::new(AtomicU64::new(0)),
    };
    // Count (and show the first few of) the server's warnings; the thread
    // ends when the process does.
    let log_lines = server.log_lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if log_lines.fetch_add(1, Ordering::Relaxed) < 10 {
                eprintln!("  [server {index}] {line}");
            }
        }
    });
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let _ = tx.send(line);
        // Keep draining, so the server never writes into a closed pipe.
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    });
    let line = rx
        .recv_timeout(Duration::from_secs(10))
        .context("the server did not print its address within 10 s")?;
    let addr = line
        .trim_end()
        .strip_prefix("listening on ")
        .with_context(|| format!("unexpected first line from the server: {line:?}"))?;
    let addr: SocketAddr = addr
        .parse()
        .with_context(|| format!("bad address from the server: {addr:?}"))?;
    if !addr.ip().is_loopback() {
        bail!("the server is listening on {addr}, not on loopback");
    }
    server.addr = addr;
    Ok(server)
}

fn servers_cpu_ticks(servers: &[ServerProc]) -> anyhow::Result<u64> {
    servers.iter().map(|s| cpu_ticks(s.child.pid())).sum()
}

/// UDP datagrams the kernel dropped because a socket's receive buffer was
/// full (`RcvbufErrors` in /proc/net/snmp; machine-wide).
fn udp_rcvbuf_errors() -> Option<u64> {
    let snmp = std::fs::read_to_string("/proc/net/snmp").ok()?;
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let names = udp.next()?;
    let values = udp.next()?;
    let at = names.split_whitespace().position(|n| n == "RcvbufErrors")?;
    values.split_whitespace().nth(at)?.parse().ok()
}

/// The soft open-file limit of this process (inherited by the servers).
fn open_file_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

// ---------------------------------------------------------------- clients

/// What every client task can see.
struct Shared {
    /// Clients in the cluster: a message is delivered when this many have it.
    receivers: u32,
    /// Each sender's name and server index.
    senders: Vec<(String, usize)>,
    /// Each server's id, to check the origin of what clients receive.
    server_ids: Vec<ServerId>,
    /// acks[sender][counter]: receivers that have the message.
    acks: Vec<Vec<AtomicU32>>,
    /// Each sender's window: a permit per message it may still have in flight.
    windows: Vec<Semaphore>,
}

fn histogram() -> Histogram<u64> {
    // 1 µs .. 10 min at 2 significant digits.
    Histogram::new_with_bounds(1, 600_000_000, 2).expect("valid histogram bounds")
}

/// What one receiver saw.
struct Received {
    same: Histogram<u64>,
    cross: Histogram<u64>,
    /// Cross-server deliveries slower than [`SLOW_US`].
    slow_cross: u64,
    /// Distinct messages received, per sender.
    unique: Vec<u64>,
    duplicates: u64,
    /// Messages that arrived after a later one of the same sender.
    reordered: u64,
    /// When the last new message arrived.
    last_new: Option<Instant>,
    /// Things that should not happen during a run (notices, leaves, errors).
    anomalies: Vec<String>,
    anomaly_count: u64,
}

impl Received {
    fn anomaly(&mut self, what: String) {
        self.anomaly_count += 1;
        if self.anomalies.len() < 3 {
            self.anomalies.push(what);
        }
    }
}

struct RecvCtx {
    name: String,
    server: usize,
    shared: Arc<Shared>,
    pongs: mpsc::UnboundedSender<u64>,
    stop: CancellationToken,
    deadline: tokio::time::Instant,
}

/// Reads until told to stop; hands the reader back so the connection
/// closes only after the servers are gone.
async fn receiver(mut reader: ClientReader, ctx: RecvCtx) -> (Received, ClientReader) {
    let shared = &*ctx.shared;
    let senders = shared.senders.len();
    let mut out = Received {
        same: histogram(),
        cross: histogram(),
        slow_cross: 0,
        unique: vec![0; senders],
        duplicates: 0,
        reordered: 0,
        last_new: None,
        anomalies: Vec::new(),
        anomaly_count: 0,
    };
    let mut seen: Vec<Vec<u64>> = vec![Vec::new(); senders];
    let mut highest: Vec<Option<u64>> = vec![None; senders];
    let timeout = tokio::time::sleep_until(ctx.deadline);
    tokio::pin!(timeout);
    loop {
        let msg = tokio::select! {
            biased;
            _ = ctx.stop.cancelled() => break,
            msg = reader.recv() => msg,
            _ = &mut timeout => {
                out.anomaly(format!("{}: timed out", ctx.name));
                break;
            }
        };
        let msg = match msg {
            Ok(Some(msg)) => msg,
            Ok(None) => {
                out.anomaly(format!("{}: the server closed the connection", ctx.name));
                break;
            }
            Err(err) => {
                out.anomaly(format!("{}: {err}", ctx.name));
                break;
            }
        };
        match msg {
            ServerMsg::Message { id, from, text } => {
                let now = now_ns();
                let parsed = parse_text(text.as_bytes()).filter(|&(s, _, _)| s < senders);
                let Some((s, counter, sent)) = parsed else {
                    out.anomaly(format!("{}: unexpected message {text:?}", ctx.name));
                    continue;
                };
                let (sender_name, sender_server) = &shared.senders[s];
                if from != *sender_name || id.origin != shared.server_ids[*sender_server] {
                    out.anomaly(format!(
                        "{}: message {counter} of {sender_name} came as from {from:?} with origin {}",
                        ctx.name,
                        id.origin.short()
                    ));
                    continue;
                }
                let Some(ack) = shared.acks[s].get(counter as usize) else {
                    out.anomaly(format!("{}: counter {counter} out of range", ctx.name));
                    continue;
                };
                let (word, bit) = ((counter / 64) as usize, 1u64 << (counter % 64));
                let words = &mut seen[s];
                if word >= words.len() {
                    words.resize(word + 1, 0);
                }
                if words[word] & bit != 0 {
                    out.duplicates += 1;
                    continue;
                }
                words[word] |= bit;
                out.unique[s] += 1;
                if highest[s].is_some_and(|h| counter < h) {
                    out.reordered += 1;
                }
                highest[s] = highest[s].max(Some(counter));
                let micros = now.saturating_sub(sent) / 1000;
                if *sender_server == ctx.server {
                    out.same.saturating_record(micros);
                } else {
                    out.cross.saturating_record(micros);
                    if micros > SLOW_US {
                        out.slow_cross += 1;
                    }
                }
                out.last_new = Some(Instant::now());
                if ack.fetch_add(1, Ordering::AcqRel) + 1 == shared.receivers {
                    shared.windows[s].add_permits(1);
                }
            }
            ServerMsg::Ping { nonce } => {
                let _ = ctx.pongs.send(nonce);
            }
            // Backlog from setup and server-list updates; harmless.
            ServerMsg::Joined { .. }
            | ServerMsg::Pong { .. }
            | ServerMsg::Servers { .. }
            | ServerMsg::History { .. } => {}
            ServerMsg::Left { name, reason, .. } => {
                out.anomaly(format!("{}: {name} left ({reason:?})", ctx.name));
            }
            ServerMsg::Notice { text } => {
                out.anomaly(format!("{}: notice: {text}", ctx.name));
            }
            ServerMsg::Error {
                code, text, fatal, ..
            } => {
                out.anomaly(format!("{}: server error {code}: {text}", ctx.name));
                if fatal {
                    break;
                }
            }
            ServerMsg::Shutdown { reason, .. } => {
                out.anomaly(format!("{}: server shut down: {reason}", ctx.name));
                break;
            }
            other => {
                out.anomaly(format!("{}: unexpected {other:?}", ctx.name));
            }
        }
    }
    (out, reader)
}

/// How a sender paces itself.
#[derive(Debug, Clone, Copy)]
enum Mode {
    /// As fast as its window allows, for this long.
    Closed { duration: Duration },
    /// The whole cluster sends `rate` msg/s, every sender an equal share at
    /// evenly spaced times, for `duration`.
    Paced { rate: f64, duration: Duration },
}

/// What one sender is to send.
struct SendPlan {
    /// The sender's index (in its message texts and in [`Shared`]).
    index: usize,
    /// How many senders there are.
    senders: usize,
    /// Its turn in the paced rotation, which alternates between servers so
    /// that each server's own stream is evenly spaced too.
    slot: usize,
    template: Vec<u8>,
    text_at: usize,
    /// Its window, in messages.
    window: usize,
    /// Most messages it may send.
    max: usize,
    /// Most frames per write (closed loop).
    batch: usize,
    /// How long after its sending time it waits for its messages to arrive.
    drain: Duration,
    mode: Mode,
    start: Instant,
}

/// What one sender reports once all it sent has arrived everywhere (or the deadline passed).
struct SendReport {
    /// The sender's index.
    index: usize,
    sent: u64,
    /// When it stopped sending.
    done_sending: Instant,
    /// When every message it sent had reached every client.
    drained: Option<Instant>,
    /// How far behind its schedule a paced sender fell at worst.
    max_late: Duration,
    error: Option<String>,
}

struct WriterCtx {
    name: String,
    plan: Option<SendPlan>,
    shared: Arc<Shared>,
    pongs: mpsc::UnboundedReceiver<u64>,
    reports: mpsc::UnboundedSender<SendReport>,
    stop: CancellationToken,
    deadline: tokio::time::Instant,
}

/// Sends (if this client is a sender), reports, then answers keepalive pings
/// until the run ends. Hands the writer back so the connection closes only
/// after the servers are gone.
async fn writer_task(mut writer: ClientWriter, mut ctx: WriterCtx) -> ClientWriter {
    if let Some(plan) = ctx.plan.take() {
        let window = &ctx.shared.windows[plan.index];
        let mut report = SendReport {
            index: plan.index,
            sent: 0,
            done_sending: Instant::now(),
            drained: None,
            max_late: Duration::ZERO,
            error: None,
        };
        let sent = send_all(
            &mut writer,
            &plan,
            window,
            &mut ctx.pongs,
            ctx.deadline,
            &mut report,
        )
        .await;
        report.done_sending = Instant::now();
        if let Err(err) = sent {
            report.error = Some(format!("{}: {err}", ctx.name));
        }
        // Every permit back means every message sent has reached every client.
        let drain_limit = ctx.deadline.min(tokio::time::Instant::from_std(
            report.done_sending + plan.drain,
        ));
        loop {
            tokio::select! {
                drained = timeout_at(drain_limit, window.acquire_many(plan.window as u32)) => {
                    match drained {
                        Ok(Ok(permits)) => {
                            permits.forget();
                            report.drained = Some(Instant::now());
                        }
                        _ => {
                            report.error.get_or_insert_with(|| {
                                format!("{}: not every message reached every client in time", ctx.name)
                            });
                        }
                    }
                    break;
                }
                Some(nonce) = ctx.pongs.recv() => {
                    let _ = writer.send_msg(&ClientMsg::Pong { nonce }).await;
                }
            }
        }
        let _ = ctx.reports.send(report);
    }
    loop {
        tokio::select! {
            _ = ctx.stop.cancelled() => break,
            nonce = ctx.pongs.recv() => match nonce {
                Some(nonce) => {
                    if writer.send_msg(&ClientMsg::Pong { nonce }).await.is_err() {
                        break;
                    }
                }
                None => break,
            },
        }
    }
    writer
}

async fn answer_pings(
    writer: &mut ClientWriter,
    pongs: &mut mpsc::UnboundedReceiver<u64>,
) -> Result<(), ClientError> {
    while let Ok(nonce) = pongs.try_recv() {
        writer.send_msg(&ClientMsg::Pong { nonce }).await?;
    }
    Ok(())
}

async fn send_all(
    writer: &mut ClientWriter,
    plan: &SendPlan,
    window: &Semaphore,
    pongs: &mut mpsc::UnboundedReceiver<u64>,
    deadline: tokio::time::Instant,
    report: &mut SendReport,
) -> anyhow::Result<()> {
    let mut buf = Vec::with_capacity(plan.template.len() * plan.batch.max(1));
    match plan.mode {
        Mode::Closed { duration } => {
            let until = plan.start + duration;
            // A window that stays shut until the end of the sending time ends
            // the sending, not the run: the drain then says what is missing.
            let limit = deadline.min(tokio::time::Instant::from_std(until));
            while (report.sent as usize) < plan.max && Instant::now() < until {
                answer_pings(writer, pongs).await?;
                match timeout_at(limit, window.acquire()).await {
                    Ok(Ok(permit)) => permit.forget(),
                    Ok(Err(_)) => bail!("window closed"),
                    Err(_) if Instant::now() >= until => break,
                    Err(_) => bail!("window timed out"),
                }
                let mut n = 1;
                while n < plan.batch && report.sent as usize + n < plan.max {
                    match window.try_acquire() {
                        Ok(permit) => permit.forget(),
                        Err(_) => break,
                    }
                    n += 1;
                }
                buf.clear();
                let now = now_ns();
                for counter in report.sent..report.sent + n as u64 {
                    push_frame(&mut buf, &plan.template, plan.text_at, counter, now);
                }
                writer.send_raw(&buf).await?;
                report.sent += n as u64;
            }
        }
        Mode::Paced { rate, duration } => {
            // The sender in slot i sends its k-th message at (k + i/n)·n/rate:
            // together the n senders send evenly spaced, `rate` per second.
            let interval = plan.senders as f64 / rate;
            let offset = plan.slot as f64 / rate;
            let limit = deadline.min(tokio::time::Instant::from_std(
                plan.start + duration + plan.drain,
            ));
            for k in 0..plan.max {
                let when = offset + k as f64 * interval;
                if when >= duration.as_secs_f64() {
                    break;
                }
                let at = plan.start + Duration::from_secs_f64(when);
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at.into()) => break,
                        Some(nonce) = pongs.recv() => {
                            writer.send_msg(&ClientMsg::Pong { nonce }).await?;
                        }
                    }
                }
                match timeout_at(limit, window.acquire()).await {
                    Ok(Ok(permit)) => permit.forget(),
                    _ => bail!("window timed out"),
                }
                report.max_late = report
                    .max_late
                    .max(Instant::now().saturating_duration_since(at));
                buf.clear();
                push_frame(&mut buf, &plan.template, plan.text_at, k as u64, now_ns());
                writer.send_raw(&buf).await?;
                report.sent += 1;
            }
        }
    }
    Ok(())
}

/// Waits until every server's status lists every member, each on its own
/// server: then the relay streams between all servers are established.
async fn wait_for_members(
    addrs: &[String],
    expected: &[(String, usize)],
    server_ids: &[ServerId],
    deadline: tokio::time::Instant,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let limit = deadline.min(tokio::time::Instant::now() + Duration::from_secs(20));
    let mut probes = Vec::with_capacity(addrs.len());
    for addr in addrs {
        let probe = timeout_at(limit, Client::connect(addr))
            .await
            .map_err(|_| anyhow!("status connection to {addr} timed out"))?
            .map_err(|err| anyhow!("status connection to {addr}: {err}"))?;
        probes.push(probe);
    }
    let mut lacking = String::new();
    loop {
        let mut all = true;
        for (i, probe) in probes.iter_mut().enumerate() {
            let report = timeout_at(limit, probe.status())
                .await
                .map_err(|_| anyhow!("status of server {i} timed out"))?
                .map_err(|err| anyhow!("status of server {i}: {err}"))?;
            let listed: HashMap<&str, ServerId> = report
                .members
                .iter()
                .map(|m| (m.name.as_str(), m.server))
                .collect();
            let missing = expected
                .iter()
                .filter(|(name, s)| listed.get(name.as_str()) != Some(&server_ids[*s]))
                .count();
            if missing > 0 {
                all = false;
                lacking = format!(
                    "server {i} lists {} servers and lacks {missing} of the {} members",
                    report.servers.len(),
                    expected.len()
                );
            }
        }
        if all {
            return Ok(started.elapsed());
        }
        if tokio::time::Instant::now() + Duration::from_millis(20) >= limit {
            bail!("the servers did not sync their members in time: {lacking}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------- runs

struct RunSpec {
    /// The servers' --inject-loss, in percent.
    loss: f64,
    senders_per_server: usize,
    mode: Mode,
}

/// The result of one run.
struct Outcome {
    senders: usize,
    window: usize,
    messages: u64,
    /// First send → the last client has the last message.
    elapsed: Option<Duration>,
    /// First send → the last sender stopped sending.
    sending: Option<Duration>,
    same: Histogram<u64>,
    cross: Histogram<u64>,
    slow_cross: u64,
    /// CPU seconds of all three servers during the timed window.
    server_cpu: f64,
    /// Length of the timed window (first send → every sender drained, or the end).
    window_secs: f64,
    /// The largest peak RSS of the three servers.
    rss_kib: Option<u64>,
    udp_drops: Option<u64>,
    /// Cores busy with anything but the servers and this process.
    others: Option<f64>,
    log_lines: u64,
    complete: String,
}

/// A running cluster: three servers and their joined clients.
struct Cluster {
    /// Killed when dropped.
    servers: Vec<ServerProc>,
    /// (name, server index, connection), server by server.
    clients: Vec<(String, usize, Client)>,
    server_ids: Vec<ServerId>,
}

/// Starts three servers in one private group on loopback, joins `per_server`
/// clients to each, and waits until every server lists every member.
async fn start_cluster(
    bin: &Path,
    args: &Args,
    loss: f64,
    deadline: tokio::time::Instant,
) -> anyhow::Result<Cluster> {
    let group = loopback_group()?;
    let mut servers = Vec::with_capacity(SERVERS);
    for index in 0..SERVERS {
        servers.push(start_server(bin, index, &group, loss, args.client_queue)?);
    }
    let addrs: Vec<String> = servers.iter().map(|s| s.addr.to_string()).collect();
    let per_server = args.clients;
    let mut clients = Vec::with_capacity(SERVERS * per_server);
    for (server, addr) in addrs.iter().enumerate() {
        for j in 0..per_server {
            let name = format!("s{server}c{j}");
            let client = timeout_at(deadline, async {
                let mut client = Client::connect(addr).await?;
                client.join(&name).await?;
                Ok::<_, ClientError>(client)
            })
            .await
            .map_err(|_| anyhow!("{name}: setup timed out"))?
            .map_err(|err| anyhow!("{name}: {err}"))?;
            clients.push((name, server, client));
        }
    }
    let server_ids: Vec<ServerId> = (0..SERVERS)
        .map(|s| clients[s * per_server].2.server_id())
        .collect();
    let expected: Vec<(String, usize)> = clients.iter().map(|(n, s, _)| (n.clone(), *s)).collect();
    let synced = wait_for_members(&addrs, &expected, &server_ids, deadline).await?;
    eprintln!(
        "  {} clients joined; every server listed all of them {} ms after the last join",
        clients.len(),
        synced.as_millis()
    );
    Ok(Cluster {
        servers,
        clients,
        server_ids,
    })
}

async fn run_one(bin: &Path, args: &Args, spec: &RunSpec) -> anyhow::Result<Outcome> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.timeout);
    let Cluster {
        servers,
        clients,
        server_ids,
    } = start_cluster(bin, args, spec.loss, deadline).await?;
    let per_server = args.clients;

    let spp = spec.senders_per_server.clamp(1, per_server);
    let senders: Vec<(String, usize)> = (0..SERVERS)
        .flat_map(|s| (0..spp).map(move |j| (format!("s{s}c{j}"), s)))
        .collect();
    let n_senders = senders.len();
    let window = (args.inflight / n_senders).max(1);
    let max = match spec.mode {
        Mode::Closed { .. } => args.max_messages,
        Mode::Paced { rate, duration } => {
            let share = duration.as_secs_f64() * rate / n_senders as f64;
            (share.ceil() as usize).min(args.max_messages)
        }
    }
    .max(1);
    let mut templates = Vec::with_capacity(n_senders);
    for index in 0..n_senders {
        templates.push(template_frame(args.size, index)?);
    }
    let sender_index: HashMap<String, usize> = senders
        .iter()
        .enumerate()
        .map(|(i, (name, _))| (name.clone(), i))
        .collect();
    let shared = Arc::new(Shared {
        receivers: clients.len() as u32,
        senders,
        server_ids,
        acks: (0..n_senders)
            .map(|_| (0..max).map(|_| AtomicU32::new(0)).collect())
            .collect(),
        windows: (0..n_senders).map(|_| Semaphore::new(window)).collect(),
    });

    let ticks_before = servers_cpu_ticks(&servers)?;
    let own_before = cpu_ticks(std::process::id())?;
    let system_before = system_busy_ticks();
    let udp_before = udp_rcvbuf_errors();
    let stop = CancellationToken::new();
    let (report_tx, mut report_rx) = mpsc::unbounded_channel();
    let mut receivers = JoinSet::new();
    let mut writers = JoinSet::new();
    let start = Instant::now();
    for (name, server, client) in clients {
        let (reader, writer) = client.split();
        let (pong_tx, pong_rx) = mpsc::unbounded_channel();
        receivers.spawn(receiver(
            reader,
            RecvCtx {
                name: name.clone(),
                server,
                shared: shared.clone(),
                pongs: pong_tx,
                stop: stop.clone(),
                deadline,
            },
        ));
        let plan = sender_index.get(&name).map(|&index| {
            let (template, text_at) = std::mem::take(&mut templates[index]);
            SendPlan {
                index,
                senders: n_senders,
                // index = server·spp + j  →  slot = j·SERVERS + server
                slot: (index % spp) * SERVERS + index / spp,
                template,
                text_at,
                window,
                max,
                batch: args.batch.max(1),
                drain: Duration::from_secs_f64(args.drain),
                mode: spec.mode,
                start,
            }
        });
        writers.spawn(writer_task(
            writer,
            WriterCtx {
                name,
                plan,
                shared: shared.clone(),
                pongs: pong_rx,
                reports: report_tx.clone(),
                stop: stop.clone(),
                deadline,
            },
        ));
    }
    drop(report_tx);

    // Every sender reports by the deadline (its drain is bounded by it).
    let mut reports = Vec::with_capacity(n_senders);
    while reports.len() < n_senders {
        match timeout_at(deadline + Duration::from_secs(2), report_rx.recv()).await {
            Ok(Some(report)) => reports.push(report),
            Ok(None) | Err(_) => break,
        }
    }
    let window_secs = start.elapsed().as_secs_f64();
    // A server that died makes the run incomplete anyway: count it as idle here.
    let ticks_after = servers_cpu_ticks(&servers).unwrap_or(ticks_before);
    let own_after = cpu_ticks(std::process::id()).unwrap_or(own_before);
    let system_after = system_busy_ticks();
    let udp_after = udp_rcvbuf_errors();
    let all_drained = reports.len() == n_senders && reports.iter().all(|r| r.drained.is_some());
    if all_drained {
        // A little longer, so that duplicates would be seen.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.cancel();
    let mut results = Vec::with_capacity(SERVERS * per_server);
    while let Some(done) = receivers.join_next().await {
        results.push(done.context("receiver task failed")?);
    }
    let mut kept_writers = Vec::with_capacity(SERVERS * per_server);
    while let Some(done) = writers.join_next().await {
        kept_writers.push(done.context("writer task failed")?);
    }
    let rss_kib = servers
        .iter()
        .filter_map(|s| peak_rss_kib(s.child.pid()))
        .max();
    let log_lines: u64 = servers
        .iter()
        .map(|s| s.log_lines.load(Ordering::Relaxed))
        .sum();
    // Kill the servers before the clients hang up.
    drop(servers);
    drop(kept_writers);

    let mut errors: Vec<String> = reports.iter().filter_map(|r| r.error.clone()).collect();
    if reports.len() < n_senders {
        errors.push(format!(
            "only {}/{n_senders} senders reported",
            reports.len()
        ));
    }
    let mut same = histogram();
    let mut cross = histogram();
    let mut slow_cross = 0;
    let mut duplicates = 0;
    let mut reordered = 0;
    let mut anomalies = 0;
    let mut last_new = None;
    // What each sender sent is what every client must have.
    let mut sent = vec![0u64; n_senders];
    for report in &reports {
        sent[report.index] = report.sent;
    }
    let mut missing = 0u64;
    for (r, _reader) in &results {
        same.add(&r.same).expect("same histogram bounds");
        cross.add(&r.cross).expect("same histogram bounds");
        slow_cross += r.slow_cross;
        duplicates += r.duplicates;
        reordered += r.reordered;
        anomalies += r.anomaly_count;
        errors.extend(r.anomalies.iter().cloned());
        last_new = last_new.max(r.last_new);
        for (s, &n) in sent.iter().enumerate() {
            missing += n.saturating_sub(r.unique[s]);
        }
    }
    drop(results);
    let messages: u64 = sent.iter().sum();
    let tck = clock_ticks_per_sec() as f64;
    let server_cpu = ticks_after.saturating_sub(ticks_before) as f64 / tck;
    let own_cpu = own_after.saturating_sub(own_before) as f64 / tck;
    // Anything else running on the machine skews the numbers: say so.
    let others = system_before.zip(system_after).map(|(before, after)| {
        let all = after.saturating_sub(before) as f64 / tck;
        ((all - server_cpu - own_cpu) / window_secs).max(0.0)
    });
    let udp_drops = udp_before.zip(udp_after).map(|(b, a)| a.saturating_sub(b));
    let sending = reports
        .iter()
        .map(|r| r.done_sending)
        .max()
        .map(|t| t.duration_since(start));
    let max_late = reports.iter().map(|r| r.max_late).max().unwrap_or_default();
    eprintln!(
        "  window {window}/sender; sending {:.2} s, last delivery {:.2} s; CPU cores busy: \
         servers {:.2}, load generator {:.2}, everything else {}; kernel UDP receive-buffer \
         drops {}; server log lines {log_lines}{}",
        sending.map_or(0.0, |d| d.as_secs_f64()),
        last_new.map_or(0.0, |t| t.duration_since(start).as_secs_f64()),
        server_cpu / window_secs,
        own_cpu / window_secs,
        cores(others),
        udp_drops.map_or_else(|| "?".into(), |d| d.to_string()),
        match spec.mode {
            Mode::Paced { .. } => format!("; worst send lateness {} ms", max_late.as_millis()),
            Mode::Closed { .. } => String::new(),
        }
    );
    if args.buckets && !cross.is_empty() {
        eprintln!("  cross-server deliveries slower than 2 ms, in 2 ms buckets:");
        for v in cross.iter_linear(2000) {
            let n = v.count_since_last_iteration();
            if n > 0 && v.value_iterated_to() >= 2000 {
                eprintln!(
                    "    ≤ {:>7} µs: {n}",
                    thousands(v.value_iterated_to() as f64)
                );
            }
        }
    }
    if !cross.is_empty() {
        let q = |q: f64| thousands(cross.value_at_quantile(q) as f64);
        eprintln!(
            "  cross-server latency µs: p50 {} p90 {} p95 {} p96 {} p97 {} p98 {} p99 {} p99.9 {}",
            q(0.5),
            q(0.9),
            q(0.95),
            q(0.96),
            q(0.97),
            q(0.98),
            q(0.99),
            q(0.999)
        );
    }
    let ok = errors.is_empty()
        && anomalies == 0
        && missing == 0
        && duplicates == 0
        && reordered == 0
        && all_drained
        && messages > 0;
    let complete = if ok {
        "yes".to_string()
    } else {
        for err in errors.iter().take(5) {
            eprintln!("  error: {err}");
        }
        if errors.len() > 5 {
            eprintln!("  … and {} more", errors.len() - 5);
        }
        format!(
            "no (missing {missing}, duplicated {duplicates}, reordered {reordered}, \
             {anomalies} anomalies, {} errors)",
            errors.len()
        )
    };
    Ok(Outcome {
        senders: n_senders,
        window,
        messages,
        elapsed: last_new
            .filter(|_| all_drained)
            .map(|t| t.duration_since(start)),
        sending,
        same,
        cross,
        slow_cross,
        server_cpu,
        window_secs,
        rss_kib,
        udp_drops,
        others,
        log_lines,
        complete,
    })
}

// ---------------------------------------------------------------- tables

fn dash() -> String {
    "–".to_string()
}

/// `p50 / p99 / max` in µs.
fn quantiles(h: &Histogram<u64>) -> String {
    if h.is_empty() {
        return dash();
    }
    format!(
        "{} / {} / {}",
        thousands(h.value_at_quantile(0.50) as f64),
        thousands(h.value_at_quantile(0.99) as f64),
        thousands(h.max() as f64)
    )
}

fn signed(value: i64) -> String {
    let sign = if value < 0 { "−" } else { "+" };
    format!("{sign}{}", thousands(value.unsigned_abs() as f64))
}

fn cores(value: Option<f64>) -> String {
    value.map_or_else(|| "?".into(), |v| format!("{v:.2}"))
}

fn drops(o: &Outcome) -> String {
    o.udp_drops.map_or_else(|| "?".into(), |d| d.to_string())
}

const THROUGHPUT_HEADER: &str = "| senders | window/sender | messages | msgs/s | deliveries/s \
    | cross-server deliveries/s | same-server p50 / p99 / max µs \
    | cross-server p50 / p99 / max µs | server CPU µs/delivery | server peak RSS MiB \
    | kernel UDP drops | server warnings | other load (cores) | complete |\n\
    |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---|";

fn throughput_row(o: &Outcome, per_server: usize) -> String {
    let deliveries = (o.same.len() + o.cross.len()) as f64;
    let (mps, dps, xps) = match o.elapsed {
        Some(e) => {
            let secs = e.as_secs_f64();
            (
                thousands(o.messages as f64 / secs),
                thousands(deliveries / secs),
                thousands(o.cross.len() as f64 / secs),
            )
        }
        None => (dash(), dash(), dash()),
    };
    let cpu = if deliveries > 0.0 {
        format!("{:.2}", o.server_cpu * 1e6 / deliveries)
    } else {
        dash()
    };
    format!(
        "| {} ({per_server}/server) | {} | {} | {mps} | {dps} | {xps} | {} | {} | {cpu} | {} | {} | {} | {} | {} |",
        o.senders,
        o.window,
        thousands(o.messages as f64),
        quantiles(&o.same),
        quantiles(&o.cross),
        o.rss_kib
            .map_or_else(dash, |k| format!("{:.1}", k as f64 / 1024.0)),
        drops(o),
        o.log_lines,
        cores(o.others),
        o.complete
    )
}

const LOSS_HEADER: &str = "| inject loss | messages | msgs/s | same-server p50 / p99 / max µs \
    | cross-server p50 / p99 / max µs | extra cross-server vs 0 % (p50 / p99 / max µs) \
    | cross-server > 10 ms | server CPU (cores, 3 servers) | kernel UDP drops \
    | server warnings | other load (cores) | complete |\n\
    |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---|";

fn loss_row(loss: f64, o: &Outcome, baseline: Option<&Histogram<u64>>) -> String {
    let mps = o
        .sending
        .filter(|d| !d.is_zero())
        .map_or_else(dash, |d| thousands(o.messages as f64 / d.as_secs_f64()));
    let extra = match baseline {
        Some(b) if !b.is_empty() && !o.cross.is_empty() => {
            let diff = |q: f64| o.cross.value_at_quantile(q) as i64 - b.value_at_quantile(q) as i64;
            format!(
                "{} / {} / {}",
                signed(diff(0.50)),
                signed(diff(0.99)),
                signed(o.cross.max() as i64 - b.max() as i64)
            )
        }
        _ => dash(),
    };
    let slow = if o.cross.is_empty() {
        dash()
    } else {
        format!(
            "{} of {} ({:.2} %)",
            thousands(o.slow_cross as f64),
            thousands(o.cross.len() as f64),
            o.slow_cross as f64 * 100.0 / o.cross.len() as f64
        )
    };
    format!(
        "| {loss} % | {} | {mps} | {} | {} | {extra} | {slow} | {:.3} | {} | {} | {} | {} |",
        thousands(o.messages as f64),
        quantiles(&o.same),
        quantiles(&o.cross),
        o.server_cpu / o.window_secs,
        drops(o),
        o.log_lines,
        cores(o.others),
        o.complete
    )
}

// ---------------------------------------------------------------- main

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("relay_bench: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    // On Ctrl-C or SIGTERM the run is dropped, and with it every server guard.
    let result = runtime.block_on(async {
        tokio::select! {
            result = run(args) => result,
            _ = interrupted() => Err(anyhow!("interrupted; the servers were stopped")),
        }
    });
    // Do not wait for tasks still parked on a deadline.
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("relay_bench: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Completes on SIGINT or SIGTERM.
async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

async fn run(args: Args) -> anyhow::Result<()> {
    base();
    if !(MIN_SIZE..=1000).contains(&args.size) {
        bail!("--size {}: must be {MIN_SIZE}..=1000 bytes", args.size);
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
    let bin = server_binary()?;
    // This process holds every client socket.
    let needed = SERVERS * args.clients + SERVERS + 64;
    if let Some(soft) = open_file_limit() {
        if soft < needed {
            bail!(
                "the open-file limit is {soft} but {} clients need about {needed} sockets; \
                 raise it (e.g. `ulimit -n 4096`) and rerun",
                SERVERS * args.clients
            );
        }
    }
    eprintln!(
        "relay_bench: server {}, {SERVERS} servers × {} clients, {} B messages, timeout {} s",
        bin.display(),
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
            match run_one(&bin, &args, &spec).await {
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
            match run_one(&bin, &args, &spec).await {
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
