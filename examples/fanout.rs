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
//! The example does not build the server binary: run
//!
//! ```text
//! cargo build --release && cargo run --release --example fanout -- --help
//! ```
//!
//! See BENCHMARKS.md for the exact command and the measured numbers.

#[path = "support/mod.rs"]
mod support;

use support::{
    base, clock_ticks_per_sec, cpu_ticks, loopback_group, now_ns, parse_digits, peak_rss_kib,
    put_digits, server_binary, system_busy_ticks, thousands, KillOnDrop,
};

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chatty::client::{Client, ClientError};
use chatty::protocol::{encode_frame, ClientMsg, ServerMsg};
use clap::Parser;
use hdrhistogram::Histogram;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;
use tokio::time::timeout_at;

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
    /// Connections opened concurrently during setup.
    #[arg(long, default_value_t = 64)]
    connect_parallel: usize,
}

/// Fixed layout of a message text: `CCCCCCCCCC TTTTTTTTTTTTTTTTTTTT xxx…`,
/// a 10-digit counter and a 20-digit send time in ns since [`base`].
const COUNTER_DIGITS: usize = 10;
const TIME_AT: usize = COUNTER_DIGITS + 1;
const TIME_DIGITS: usize = 20;
const MIN_SIZE: usize = TIME_AT + TIME_DIGITS + 1;
const PUBLISHER: &str = "pub";

/// The `send` frame for a `size`-byte text, and where the text starts in it.
fn template_frame(size: usize) -> anyhow::Result<(Vec<u8>, usize)> {
    let mut text = vec![b'x'; size];
    put_digits(&mut text[..COUNTER_DIGITS], 0);
    text[COUNTER_DIGITS] = b' ';
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

// ---------------------------------------------------------------- server

/// The server child process; killed (and reaped) when dropped, whatever happens.
struct ServerProc {
    child: KillOnDrop,
    addr: SocketAddr,
}

fn start_server(bin: &PathBuf, client_queue: usize) -> anyhow::Result<ServerProc> {
    // A lone server, but `chatty server` always takes part in discovery:
    // keep its multicast on loopback and in a group port of its own.
    let mut child = Command::new(bin)
        .args(["server", "--listen", "127.0.0.1:0", "--rate-limit", "0"])
        // Every simulated client comes from 127.0.0.1: lift the per-address cap.
        .args(["--max-per-ip", "0"])
        .args(["--iface", "127.0.0.1", "--group"])
        .arg(loopback_group()?)
        .arg("--client-queue")
        .arg(client_queue.to_string())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("cannot start {}", bin.display()))?;
    let stdout = child.stdout.take().expect("piped stdout");
    // From here on the guard kills the child on every exit path.
    let mut server = ServerProc {
        child: KillOnDrop(child),
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
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

/// The soft and hard open-file limits of this process (inherited by the server).
fn open_file_limits() -> Option<(String, String)> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let mut words = line["Max open files".len()..].split_whitespace();
    Some((words.next()?.to_string(), words.next()?.to_string()))
}

// ---------------------------------------------------------------- clients

/// What one receiver saw.
struct Received {
    /// Latency in µs of every message received.
    hist: Histogram<u64>,
    /// Distinct messages received.
    unique: u64,
    duplicates: u64,
    /// Messages that arrived after one with a higher counter.
    reordered: u64,
    /// When the last message arrived.
    finished: Option<Instant>,
    error: Option<String>,
    /// Kept so the connection closes only after the measurement.
    client: Option<Client>,
}

enum Setup {
    Joined,
    Failed(String),
    /// The receiver saw the publisher join: it has drained the join backlog.
    Ready,
}

fn histogram() -> Histogram<u64> {
    // 1 µs .. 10 min at 2 significant digits: ~24 KiB per receiver.
    Histogram::new_with_bounds(1, 600_000_000, 2).expect("valid histogram bounds")
}

fn describe(err: &ClientError) -> String {
    let text = err.to_string();
    if text.contains("Too many open files") {
        format!("{text} — raise the open-file limit, e.g. `ulimit -n 4096`")
    } else {
        text
    }
}

async fn receiver(
    addr: String,
    name: String,
    messages: u64,
    connect_slots: Arc<Semaphore>,
    setup: mpsc::UnboundedSender<Setup>,
    deadline: tokio::time::Instant,
) -> Received {
    let mut out = Received {
        hist: histogram(),
        unique: 0,
        duplicates: 0,
        reordered: 0,
        finished: None,
        error: None,
        client: None,
    };
    let connected = {
        let _slot = connect_slots.acquire().await;
        timeout_at(deadline, async {
            let mut client = Client::connect(&addr).await?;
            client.join(&name).await?;
            Ok::<_, ClientError>(client)
        })
        .await
    };
    let mut client = match connected {
        Ok(Ok(client)) => client,
        Ok(Err(err)) => {
            let why = format!("{name}: {}", describe(&err));
            let _ = setup.send(Setup::Failed(why.clone()));
            out.error = Some(why);
            return out;
        }
        Err(_) => {
            let why = format!("{name}: setup timed out");
            let _ = setup.send(Setup::Failed(why.clone()));
            out.error = Some(why);
            return out;
        }
    };
    let _ = setup.send(Setup::Joined);
    let mut seen = vec![0u64; (messages as usize).div_ceil(64)];
    let mut highest: Option<u64> = None;
    loop {
        let msg = match timeout_at(deadline, client.recv()).await {
            Err(_) => {
                out.error = Some(format!("{name}: timed out"));
                break;
            }
            Ok(Err(err)) => {
                out.error = Some(format!("{name}: {err}"));
                break;
            }
            Ok(Ok(None)) => {
                out.error = Some(format!("{name}: the server closed the connection"));
                break;
            }
            Ok(Ok(Some(msg))) => msg,
        };
        match msg {
            ServerMsg::Message { from, text, .. } if from == PUBLISHER => {
                let now = now_ns();
                let bytes = text.as_bytes();
                let parsed = (bytes.len() >= MIN_SIZE)
                    .then(|| {
                        Some((
                            parse_digits(&bytes[..COUNTER_DIGITS])?,
                            parse_digits(&bytes[TIME_AT..TIME_AT + TIME_DIGITS])?,
                        ))
                    })
                    .flatten();
                let Some((counter, sent)) = parsed.filter(|&(c, _)| c < messages) else {
                    out.error = Some(format!("{name}: malformed message text {text:?}"));
                    break;
                };
                out.hist.saturating_record(now.saturating_sub(sent) / 1000);
                let (word, bit) = ((counter / 64) as usize, 1u64 << (counter % 64));
                if seen[word] & bit != 0 {
                    out.duplicates += 1;
                } else {
                    seen[word] |= bit;
                    out.unique += 1;
                    if highest.is_some_and(|h| counter < h) {
                        out.reordered += 1;
                    }
                    highest = highest.max(Some(counter));
                }
                // Delivery is in order, so the last message means we are done
                // (anything missing is counted, not waited for).
                if counter == messages - 1 {
                    out.finished = Some(Instant::now());
                    break;
                }
            }
            ServerMsg::Joined { name: joined, .. } if joined == PUBLISHER => {
                let _ = setup.send(Setup::Ready);
            }
            ServerMsg::Ping { nonce } => {
                if let Err(err) = client.send_msg(&ClientMsg::Pong { nonce }).await {
                    out.error = Some(format!("{name}: {err}"));
                    break;
                }
            }
            ServerMsg::Error {
                code, text, fatal, ..
            } => {
                out.error = Some(format!("{name}: server error {code}: {text}"));
                if fatal {
                    break;
                }
            }
            ServerMsg::Shutdown { reason, .. } => {
                out.error = Some(format!("{name}: server shut down: {reason}"));
                break;
            }
            _ => {}
        }
    }
    out.client = Some(client);
    out
}

/// Result of one (N, size) run.
struct Row {
    clients: usize,
    size: usize,
    messages: usize,
    elapsed: Option<Duration>,
    latency: Option<Histogram<u64>>,
    cpu_secs: Option<f64>,
    peak_rss_kib: Option<u64>,
    complete: String,
}

impl Row {
    fn markdown(&self) -> String {
        let dash = || "–".to_string();
        let deliveries = (self.clients * self.messages) as f64;
        let (dps, mps) = match self.elapsed {
            Some(e) => (
                thousands(deliveries / e.as_secs_f64()),
                thousands(self.messages as f64 / e.as_secs_f64()),
            ),
            None => (dash(), dash()),
        };
        let (p50, p99, max) = match &self.latency {
            Some(h) if !h.is_empty() => (
                thousands(h.value_at_quantile(0.50) as f64),
                thousands(h.value_at_quantile(0.99) as f64),
                thousands(h.max() as f64),
            ),
            _ => (dash(), dash(), dash()),
        };
        let cpu = match (self.cpu_secs, self.elapsed) {
            (Some(secs), Some(_)) => format!("{:.2}", secs * 1e6 / deliveries),
            _ => dash(),
        };
        let rss = self
            .peak_rss_kib
            .map_or_else(dash, |k| format!("{:.1}", k as f64 / 1024.0));
        format!(
            "| {} | {} B | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            self.clients,
            self.size,
            thousands(self.messages as f64),
            dps,
            mps,
            p50,
            p99,
            max,
            cpu,
            rss,
            self.complete
        )
    }
}

async fn run_one(
    bin: &PathBuf,
    args: &Args,
    clients: usize,
    size: usize,
    messages: usize,
) -> anyhow::Result<Row> {
    let mut row = Row {
        clients,
        size,
        messages,
        elapsed: None,
        latency: None,
        cpu_secs: None,
        peak_rss_kib: None,
        complete: "no".into(),
    };
    let started = tokio::time::Instant::now();
    let deadline = started + Duration::from_secs(args.timeout);
    // Every receiver may fall behind by the whole run, plus the join events.
    let queue = args.client_queue.unwrap_or(messages + clients + 1024);
    let server = start_server(bin, queue)?;
    let addr = server.addr.to_string();

    // Receivers, each reading from the moment it has joined.
    let (setup_tx, mut setup_rx) = mpsc::unbounded_channel();
    let slots = Arc::new(Semaphore::new(args.connect_parallel.max(1)));
    let mut receivers = JoinSet::new();
    for i in 0..clients {
        receivers.spawn(receiver(
            addr.clone(),
            format!("r{i}"),
            messages as u64,
            slots.clone(),
            setup_tx.clone(),
            deadline,
        ));
    }
    drop(setup_tx);
    let mut setup_failure = None;
    let mut joined = 0;
    while joined < clients && setup_failure.is_none() {
        match timeout_at(deadline, setup_rx.recv()).await {
            Ok(Some(Setup::Joined)) => joined += 1,
            Ok(Some(Setup::Ready)) => {}
            Ok(Some(Setup::Failed(why))) => setup_failure = Some(why),
            Ok(None) => setup_failure = Some("receivers ended during setup".into()),
            Err(_) => setup_failure = Some(format!("only {joined}/{clients} receivers joined")),
        }
    }
    if let Some(why) = setup_failure {
        receivers.abort_all();
        row.complete = format!("no (setup failed: {why})");
        return Ok(row);
    }
    eprintln!(
        "  {clients} receivers joined in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // The publisher.
    let mut publisher = timeout_at(deadline, async {
        let mut client = Client::connect(&addr).await?;
        client.join(PUBLISHER).await?;
        Ok::<_, ClientError>(client)
    })
    .await
    .map_err(|_| anyhow::anyhow!("publisher setup timed out"))?
    .map_err(|err| anyhow::anyhow!("publisher: {}", describe(&err)))?;
    let mut ready = 0;
    while ready < clients {
        match timeout_at(deadline, setup_rx.recv()).await {
            Ok(Some(Setup::Ready)) => ready += 1,
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    if ready < clients {
        receivers.abort_all();
        row.complete = format!("no (only {ready}/{clients} receivers saw the publisher join)");
        return Ok(row);
    }
    // The publisher's own `joined` echo must not count as a message echo.
    loop {
        match timeout_at(deadline, publisher.next_reply()).await {
            Ok(Ok(ServerMsg::Joined { name, .. })) if name == PUBLISHER => break,
            Ok(Ok(_)) => {}
            Ok(Err(err)) => bail!("publisher: {err}"),
            Err(_) => bail!("publisher never saw its own join"),
        }
    }

    let ticks_before = cpu_ticks(server.child.pid())?;
    let own_ticks_before = cpu_ticks(std::process::id())?;
    let system_before = system_busy_ticks();
    let (mut pub_reader, mut pub_writer) = publisher.split();
    let window = Arc::new(Semaphore::new(args.window.max(1)));
    let echoes = Arc::new(AtomicU64::new(0));

    let echo_task = tokio::spawn({
        let window = window.clone();
        let echoes = echoes.clone();
        async move {
            let mut error = None;
            while echoes.load(Ordering::Relaxed) < messages as u64 {
                match timeout_at(deadline, pub_reader.recv()).await {
                    Ok(Ok(Some(ServerMsg::Message { from, .. }))) if from == PUBLISHER => {
                        echoes.fetch_add(1, Ordering::Relaxed);
                        window.add_permits(1);
                    }
                    Ok(Ok(Some(ServerMsg::Error { code, text, .. }))) => {
                        error = Some(format!("publisher: server error {code}: {text}"));
                    }
                    Ok(Ok(Some(_))) => {}
                    Ok(Ok(None)) => {
                        error = Some("publisher: the server closed the connection".into());
                        break;
                    }
                    Ok(Err(err)) => {
                        error = Some(format!("publisher: {err}"));
                        break;
                    }
                    Err(_) => {
                        error = Some("publisher: timed out waiting for echoes".into());
                        break;
                    }
                }
            }
            (pub_reader, error)
        }
    });

    let (template, text_at) = template_frame(size)?;
    let batch_max = args.batch.max(1);
    let first_send = Instant::now();
    let send_task = tokio::spawn({
        let window = window.clone();
        async move {
            let mut buf = Vec::with_capacity(template.len() * batch_max);
            let mut sent = 0usize;
            while sent < messages {
                match timeout_at(deadline, window.acquire()).await {
                    Ok(Ok(permit)) => permit.forget(),
                    _ => {
                        let why = Some("publisher: window timed out".into());
                        return (pub_writer, sent, why, None);
                    }
                }
                let mut n = 1;
                while n < batch_max && sent + n < messages {
                    match window.try_acquire() {
                        Ok(permit) => permit.forget(),
                        Err(_) => break,
                    }
                    n += 1;
                }
                buf.clear();
                let now = now_ns();
                for counter in sent..sent + n {
                    let start = buf.len();
                    buf.extend_from_slice(&template);
                    let text = &mut buf[start + text_at..];
                    put_digits(&mut text[..COUNTER_DIGITS], counter as u64);
                    put_digits(&mut text[TIME_AT..TIME_AT + TIME_DIGITS], now);
                }
                if let Err(err) = pub_writer.send_raw(&buf).await {
                    return (pub_writer, sent, Some(format!("publisher: {err}")), None);
                }
                sent += n;
            }
            (pub_writer, sent, None, Some(Instant::now()))
        }
    });

    let mut results = Vec::with_capacity(clients);
    while let Some(joined) = receivers.join_next().await {
        results.push(joined.context("receiver task failed")?);
    }
    let (pub_writer, sent, send_error, sent_all) =
        send_task.await.context("publisher task failed")?;
    let (pub_reader, echo_error) = echo_task.await.context("publisher task failed")?;
    let ticks_after = cpu_ticks(server.child.pid())?;
    let own_ticks_after = cpu_ticks(std::process::id())?;
    let system_after = system_busy_ticks();
    row.peak_rss_kib = peak_rss_kib(server.child.pid());
    // Kill the server before the clients hang up, so their departures are not measured.
    drop(server);
    drop((pub_writer, pub_reader));

    let mut latency = histogram();
    let mut missing = 0u64;
    let mut duplicates = 0u64;
    let mut reordered = 0u64;
    let mut errors: Vec<String> = Vec::new();
    let mut last_finish = None;
    for r in &mut results {
        latency.add(&r.hist).expect("same histogram bounds");
        missing += messages as u64 - r.unique;
        duplicates += r.duplicates;
        reordered += r.reordered;
        errors.extend(r.error.take());
        last_finish = last_finish.max(r.finished);
        r.client.take();
    }
    errors.extend(send_error);
    errors.extend(echo_error);
    let all_finished = results.iter().all(|r| r.finished.is_some());
    if all_finished {
        row.elapsed = last_finish.map(|t| t.duration_since(first_send));
    }
    row.latency = Some(latency);
    let tck = clock_ticks_per_sec() as f64;
    let server_cpu = ticks_after.saturating_sub(ticks_before) as f64 / tck;
    let own_cpu = own_ticks_after.saturating_sub(own_ticks_before) as f64 / tck;
    row.cpu_secs = Some(server_cpu);
    if let Some(elapsed) = row.elapsed {
        let secs = elapsed.as_secs_f64();
        let sent_at = sent_all.map_or_else(
            || "–".into(),
            |t| format!("{:.2} s", t.duration_since(first_send).as_secs_f64()),
        );
        // Anything else running on the machine skews the numbers: say so.
        let others = match (system_before, system_after) {
            (Some(before), Some(after)) => {
                let all = after.saturating_sub(before) as f64 / tck;
                format!("{:.2}", ((all - server_cpu - own_cpu) / secs).max(0.0))
            }
            _ => "?".into(),
        };
        eprintln!(
            "  elapsed {secs:.2} s (publisher done sending at {sent_at}); \
             CPU cores busy: server {:.2}, load generator {:.2}, everything else {others}",
            server_cpu / secs,
            own_cpu / secs
        );
    }
    let echoed = echoes.load(Ordering::Relaxed);
    let ok = errors.is_empty()
        && missing == 0
        && duplicates == 0
        && reordered == 0
        && sent == messages
        && echoed == messages as u64;
    row.complete = if ok {
        "yes".into()
    } else {
        for err in errors.iter().take(5) {
            eprintln!("  error: {err}");
        }
        if errors.len() > 5 {
            eprintln!("  … and {} more errors", errors.len() - 5);
        }
        let timed_out = if tokio::time::Instant::now() >= deadline {
            format!("timed out after {} s; ", args.timeout)
        } else {
            String::new()
        };
        format!(
            "no ({timed_out}missing {missing}, duplicated {duplicates}, reordered {reordered}, \
             sent {sent}, echoed {echoed}, {} errors)",
            errors.len()
        )
    };
    Ok(row)
}

fn default_messages(args: &Args, clients: usize) -> usize {
    args.messages
        .unwrap_or_else(|| (args.deliveries / clients.max(1)).clamp(2_000, 500_000))
        .max(1)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("fanout: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(args));
    // Do not wait for tasks still parked on a deadline.
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("fanout: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    base();
    if let Some(bad) = args.size.iter().find(|&&s| !(MIN_SIZE..=1000).contains(&s)) {
        bail!("--size {bad}: message sizes must be {MIN_SIZE}..=1000 bytes");
    }
    if args.clients.contains(&0) {
        bail!("--clients: every count must be at least 1");
    }
    let bin = server_binary()?;
    // Each process (this one and the server, which inherits the limit)
    // needs one descriptor per client plus a few.
    let most = args.clients.iter().copied().max().unwrap_or(0);
    if let Some((soft, hard)) = open_file_limits() {
        if let Ok(soft_n) = soft.parse::<usize>() {
            if soft_n < most + 64 {
                bail!(
                    "the open-file limit is {soft} (hard limit {hard}) but {most} clients need \
                     about {} sockets in this process and as many in the server.\n\
                     Raise it first, e.g. `ulimit -n 4096` (at most the hard limit), and rerun.",
                    most + 64
                );
            }
        }
    }
    eprintln!(
        "fanout: server {}, window {}, batch {}, timeout {} s",
        bin.display(),
        args.window,
        args.batch,
        args.timeout
    );
    println!(
        "| clients | msg size | messages | deliveries/s | msgs/s | p50 µs | p99 µs | max µs \
         | server CPU µs/delivery | server peak RSS MiB | complete |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---|");
    let mut failed = false;
    for &size in &args.size {
        for &clients in &args.clients {
            let messages = default_messages(&args, clients);
            eprintln!("run: {clients} receivers, {size} B, {messages} messages");
            let row = match run_one(&bin, &args, clients, size, messages).await {
                Ok(row) => row,
                Err(err) => {
                    eprintln!("  failed: {err:#}");
                    Row {
                        clients,
                        size,
                        messages,
                        elapsed: None,
                        latency: None,
                        cpu_secs: None,
                        peak_rss_kib: None,
                        complete: format!("no ({err})"),
                    }
                }
            };
            failed |= row.complete != "yes";
            println!("{}", row.markdown());
        }
    }
    if failed {
        bail!("at least one run was incomplete");
    }
    Ok(())
}
