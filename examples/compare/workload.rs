//! The three workloads, written once for every system: fan-out (one
//! publisher, N subscribers), chat (everyone sends at a fixed rate and hears
//! everyone) and idle scale (many connected, silent subscribers).
//!
//! Every loop is bounded by a message count or a deadline; a run that misses
//! its deadline is reported incomplete with what was missing, never hangs.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use futures_util::{stream, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{Mutex, Notify};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::conn::{Conn, Event, System};
use crate::stats::{self, ProcSample, Tally};

/// Connections opened at once while setting up.
const CONNECT_PARALLEL: usize = 64;
/// How long one connection may take to be confirmed.
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long everyone may take to receive the connectivity probes.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);
/// Receive buffer per benchmark connection.
const RECV_BUFFER: usize = 64 * 1024;

/// The servers of one system under test.
#[derive(Debug, Clone)]
pub struct Target {
    pub system: System,
    /// Client addresses; clients are spread over them round-robin.
    pub addrs: Vec<String>,
    /// Server process ids, for CPU and memory.
    pub pids: Vec<u32>,
}

/// The outcome of one workload run against one system.
#[derive(Debug)]
pub struct Outcome {
    pub tally: Tally,
    /// Deliveries every receiver should have had.
    pub expected: u64,
    pub messages: u64,
    /// First send → last delivery.
    pub elapsed: Duration,
    /// Server CPU over the timed window, in seconds (all processes).
    pub cpu_secs: f64,
    /// Largest peak RSS of the server processes during the run, KiB.
    pub peak_kib: u64,
    pub errors: Vec<String>,
}

impl Outcome {
    pub fn complete(&self) -> bool {
        self.errors.is_empty()
            && self.tally.delivered == self.expected
            && self.tally.gaps == 0
            && self.tally.out_of_order == 0
            && self.tally.malformed == 0
    }

    pub fn deliveries_per_sec(&self) -> f64 {
        self.tally.delivered as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn cpu_per_million(&self) -> f64 {
        self.cpu_secs / (self.tally.delivered.max(1) as f64 / 1e6)
    }
}

/// State the receivers share with the publishers and the coordinator.
struct Shared {
    /// Benchmark messages each receiver has had.
    progress: Vec<AtomicU64>,
    /// Probe bits each receiver has seen.
    probes: Vec<AtomicU64>,
    /// Deliveries after which a receiver stops (u64::MAX until known).
    target: Vec<AtomicU64>,
    /// Set while a publisher waits for the slowest receiver.
    waiting: AtomicBool,
    notify: Notify,
    stop: CancellationToken,
}

impl Shared {
    fn new(receivers: usize) -> Arc<Self> {
        let atomics = |v| (0..receivers).map(|_| AtomicU64::new(v)).collect();
        Arc::new(Shared {
            progress: atomics(0),
            probes: atomics(0),
            target: atomics(u64::MAX),
            waiting: AtomicBool::new(false),
            notify: Notify::new(),
            stop: CancellationToken::new(),
        })
    }

    fn min_progress(&self) -> u64 {
        self.progress
            .iter()
            .map(|p| p.load(Relaxed))
            .min()
            .unwrap_or(0)
    }

    fn all_done(&self) -> bool {
        self.progress
            .iter()
            .zip(&self.target)
            .all(|(p, t)| p.load(Relaxed) >= t.load(Relaxed))
    }
}

type Writer = Arc<Mutex<OwnedWriteHalf>>;

/// Numbers the runs, to keep client names unique across them.
static RUN: AtomicU64 = AtomicU64::new(0);

/// Reads one connection until its target, the stop signal or an error.
#[allow(clippy::too_many_arguments)]
async fn receive(
    system: System,
    mut read: OwnedReadHalf,
    mut buf: BytesMut,
    writer: Writer,
    index: Option<usize>,
    shared: Arc<Shared>,
    publishers: usize,
    size: usize,
) -> (Tally, Option<String>) {
    let mut tally = Tally::new(publishers);
    let mut reply = Vec::new();
    let mut error = None;
    loop {
        let now = stats::now();
        if let Err(e) = system.parse(
            &mut buf,
            size,
            &mut |event| match event {
                Event::Payload(p) => tally.record(p, now),
                Event::Error(e) => error = Some(e),
                Event::Ready => {}
            },
            &mut reply,
        ) {
            error = Some(e);
        }
        if error.is_some() {
            break;
        }
        if !reply.is_empty() {
            if let Err(e) = writer.lock().await.write_all(&reply).await {
                error = Some(format!("writing a reply: {e}"));
                break;
            }
            reply.clear();
        }
        if let Some(i) = index {
            shared.progress[i].store(tally.delivered, SeqCst);
            shared.probes[i].store(tally.probes, Relaxed);
            if shared.waiting.load(SeqCst) {
                shared.notify.notify_one();
            }
            if tally.delivered >= shared.target[i].load(Relaxed) {
                break;
            }
        }
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(RECV_BUFFER);
        }
        let read = tokio::select! {
            biased;
            _ = shared.stop.cancelled() => break,
            read = read.read_buf(&mut buf) => read,
        };
        match read {
            Ok(0) => {
                error = Some("the server closed the connection".into());
                break;
            }
            Ok(_) => {}
            Err(e) => {
                error = Some(format!("read: {e}"));
                break;
            }
        }
    }
    (tally, error)
}

/// One connected client: a receiving task and a shared writer.
struct Client {
    writer: Writer,
    /// Whether its deliveries count (subscribers), or are only drained (a
    /// publisher's own echo, Redis publish replies).
    counted: bool,
    receiver: tokio::task::JoinHandle<(Tally, Option<String>)>,
}

/// Opens `count` connections (names `prefix0`…), spread over `target.addrs`,
/// each with a receiving task. `publishers`: senders whose order is checked.
#[allow(clippy::too_many_arguments)]
async fn connect_all(
    target: &Target,
    prefix: &str,
    count: usize,
    subscribe: bool,
    index_base: Option<usize>,
    shared: &Arc<Shared>,
    publishers: usize,
    size: usize,
) -> Result<Vec<Client>, String> {
    // Names differ between runs: the last run's connections may still be closing.
    let run = RUN.fetch_add(1, Relaxed);
    let opened: Vec<anyhow::Result<Conn>> = stream::iter(0..count)
        .map(|i| {
            let addr = target.addrs[i % target.addrs.len()].clone();
            let name = format!("{prefix}{run}n{i}");
            let system = target.system;
            async move { Conn::open(system, &addr, &name, subscribe, 4096, OPEN_TIMEOUT).await }
        })
        .buffered(CONNECT_PARALLEL)
        .collect()
        .await;
    let mut clients = Vec::with_capacity(count);
    for (i, conn) in opened.into_iter().enumerate() {
        let conn = conn.map_err(|e| format!("{e:#}"))?;
        let writer = Arc::new(Mutex::new(conn.write));
        let receiver = tokio::spawn(receive(
            target.system,
            conn.read,
            conn.buf,
            writer.clone(),
            index_base.map(|b| b + i),
            shared.clone(),
            publishers,
            size,
        ));
        clients.push(Client {
            writer,
            receiver,
            counted: index_base.is_some(),
        });
    }
    Ok(clients)
}

/// Sends probes from `senders` (probe publisher id = position) until every
/// receiver has seen each it should, so the timed part starts with every
/// subscription in place on every server (NATS propagates interest across
/// routes asynchronously; Chatty receivers first drain the join backlog).
async fn probe(
    system: System,
    senders: &[Writer],
    shared: &Shared,
    size: usize,
    own: impl Fn(usize) -> Option<usize>,
) -> Result<(), String> {
    let deadline = Instant::now() + PROBE_TIMEOUT;
    let all = (1u64 << senders.len()) - 1;
    let mut payload = stats::template(size);
    loop {
        for (j, writer) in senders.iter().enumerate() {
            stats::fill(&mut payload, true, j as u32, 0, stats::now());
            let (frame, _) = system.publish_template(&payload);
            writer
                .lock()
                .await
                .write_all(&frame)
                .await
                .map_err(|e| format!("probe: {e}"))?;
        }
        let poll_until = Instant::now() + Duration::from_millis(200);
        while Instant::now() < poll_until {
            let missing = shared.probes.iter().enumerate().any(|(i, p)| {
                let mut need = all;
                if !system.self_echo() {
                    if let Some(j) = own(i) {
                        need &= !(1 << j);
                    }
                }
                p.load(Relaxed) & need != need
            });
            if !missing {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if Instant::now() > deadline {
            return Err(format!(
                "probes did not reach everyone in {PROBE_TIMEOUT:?}"
            ));
        }
    }
}

/// Waits until every receiver reached its target or `drain` passed, then
/// stops them and gathers their tallies.
async fn finish(
    shared: &Shared,
    clients: Vec<Client>,
    drain: Duration,
    publishers: usize,
    errors: &mut Vec<String>,
) -> Tally {
    let deadline = Instant::now() + drain;
    while !shared.all_done() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    if !shared.all_done() {
        errors.push(format!("not everything arrived within {drain:?}"));
    }
    shared.stop.cancel();
    let mut total = Tally::new(publishers);
    for client in clients {
        match client.receiver.await {
            Ok((tally, error)) => {
                if client.counted {
                    total.absorb(&tally);
                }
                if let Some(e) = error {
                    if errors.len() < 5 {
                        errors.push(e);
                    }
                }
            }
            Err(e) => errors.push(format!("receiver task: {e}")),
        }
    }
    total
}

/// Fan-out parameters.
#[derive(Debug, Clone, Copy)]
pub struct FanoutSpec {
    pub subscribers: usize,
    pub size: usize,
    pub duration: Duration,
    /// Most messages the publisher may be ahead of the slowest subscriber.
    pub window: u64,
    /// Most messages per write.
    pub batch: u64,
    pub drain: Duration,
}

/// One publisher → N subscribers, publisher as fast as the slowest
/// subscriber allows (bounded window), for a fixed time.
pub async fn fanout(target: &Target, spec: FanoutSpec) -> Result<Outcome, String> {
    let n = spec.subscribers;
    let echo = target.system.publisher_hears_itself();
    let shared = Shared::new(n + usize::from(echo));
    let subs = connect_all(target, "r", n, true, Some(0), &shared, 1, spec.size).await?;
    // The publisher's own receiving side (echoes, pings) is not counted as
    // deliveries, but an echo it must read bounds its window.
    let mut publisher = connect_all(
        target,
        "pub",
        1,
        false,
        echo.then_some(n),
        &shared,
        1,
        spec.size,
    )
    .await?;
    publisher[0].counted = false;
    let writer = publisher[0].writer.clone();
    probe(
        target.system,
        std::slice::from_ref(&writer),
        &shared,
        spec.size,
        |_| None,
    )
    .await?;

    let mut payload = stats::template(spec.size);
    let (template, at) = target.system.publish_template(&payload);
    let mut out = Vec::with_capacity(template.len() * spec.batch as usize);
    stats::reset_peak(&target.pids);
    let before = stats::sample(&target.pids);
    let start_ns = stats::now();
    let end = Instant::now() + spec.duration;
    let mut sent = 0u64;
    let mut errors = Vec::new();
    while Instant::now() < end {
        let mut floor = shared.min_progress();
        let mut stalled_since = None;
        while sent >= floor + spec.window {
            // SeqCst on both sides (flag here, progress in the receivers):
            // either the receiver sees the flag or this sees its progress.
            shared.waiting.store(true, SeqCst);
            floor = shared.min_progress();
            if sent < floor + spec.window {
                break;
            }
            let woken = tokio::time::timeout(Duration::from_millis(5), shared.notify.notified());
            if woken.await.is_err() {
                let since = *stalled_since.get_or_insert_with(Instant::now);
                if since.elapsed() > spec.drain {
                    errors.push("the slowest subscriber stopped making progress".into());
                    break;
                }
            }
            floor = shared.min_progress();
        }
        shared.waiting.store(false, SeqCst);
        if !errors.is_empty() {
            break;
        }
        let count = spec.batch.min(floor + spec.window - sent);
        out.clear();
        let now = stats::now();
        for _ in 0..count {
            stats::fill(&mut payload, false, 0, sent, now);
            out.extend_from_slice(&template[..at]);
            out.extend_from_slice(&payload);
            out.extend_from_slice(&template[at + payload.len()..]);
            sent += 1;
        }
        if let Err(e) = writer.lock().await.write_all(&out).await {
            errors.push(format!("publisher: {e}"));
            break;
        }
    }
    for t in &shared.target {
        t.store(sent, Relaxed);
    }
    let mut all = subs;
    all.extend(publisher);
    let tally = finish(&shared, all, spec.drain, 1, &mut errors).await;
    let after = stats::sample(&target.pids);
    Ok(outcome(
        tally,
        n as u64 * sent,
        sent,
        start_ns,
        before,
        after,
        errors,
    ))
}

fn outcome(
    tally: Tally,
    expected: u64,
    messages: u64,
    start_ns: u64,
    before: ProcSample,
    after: ProcSample,
    errors: Vec<String>,
) -> Outcome {
    let ticks = after.ticks.saturating_sub(before.ticks);
    Outcome {
        elapsed: Duration::from_nanos(tally.last_ns.saturating_sub(start_ns)),
        tally,
        expected,
        messages,
        cpu_secs: ticks as f64 / crate::support::clock_ticks_per_sec() as f64,
        peak_kib: after.peak_kib,
        errors,
    }
}

/// Chat parameters.
#[derive(Debug, Clone, Copy)]
pub struct ChatSpec {
    pub clients: usize,
    /// Messages per second each client sends.
    pub rate: f64,
    pub size: usize,
    pub duration: Duration,
    pub drain: Duration,
}

/// Every client sends at a fixed rate (staggered evenly) and receives
/// everything, with clients spread over the target's servers.
pub async fn chat(target: &Target, spec: ChatSpec) -> Result<Outcome, String> {
    let n = spec.clients;
    let system = target.system;
    let shared = Shared::new(n);
    let clients = connect_all(target, "c", n, true, Some(0), &shared, n, spec.size).await?;
    // Redis: a subscribed connection cannot publish, so each client has a
    // second connection for PUBLISH (its replies are drained unchecked).
    let (senders, extra): (Vec<Writer>, Vec<Client>) = if system.pubsub_on_one_connection() {
        (
            clients.iter().map(|c| c.writer.clone()).collect(),
            Vec::new(),
        )
    } else {
        let pubs = connect_all(target, "p", n, false, None, &shared, n, spec.size).await?;
        (pubs.iter().map(|c| c.writer.clone()).collect(), pubs)
    };
    // One prober per server: clients 0, 1, 2 sit on servers 0, 1, 2.
    let probers = target.addrs.len().min(n);
    probe(system, &senders[..probers], &shared, spec.size, |i| {
        (i < probers).then_some(i)
    })
    .await?;

    stats::reset_peak(&target.pids);
    let before = stats::sample(&target.pids);
    let start_ns = stats::now();
    let start = Instant::now() + Duration::from_millis(20);
    let period = Duration::from_secs_f64(1.0 / spec.rate);
    let end = start + spec.duration;
    let sent: Arc<Vec<AtomicU64>> = Arc::new((0..n).map(|_| AtomicU64::new(0)).collect());
    let tasks: Vec<_> = senders
        .iter()
        .enumerate()
        .map(|(i, writer)| {
            let writer = writer.clone();
            let sent = sent.clone();
            let offset = period.mul_f64(i as f64 / n as f64);
            let size = spec.size;
            tokio::spawn(async move {
                let mut payload = stats::template(size);
                let (mut frame, at) = system.publish_template(&payload);
                let mut next = start + offset;
                let mut seq = 0u64;
                while next < end {
                    tokio::time::sleep_until(next).await;
                    stats::fill(&mut payload, false, i as u32, seq, stats::now());
                    frame[at..at + size].copy_from_slice(&payload);
                    if let Err(e) = writer.lock().await.write_all(&frame).await {
                        return Some(format!("sender {i}: {e}"));
                    }
                    seq += 1;
                    sent[i].store(seq, Relaxed);
                    next += period;
                }
                None
            })
        })
        .collect();
    let mut errors = Vec::new();
    for task in tasks {
        if let Ok(Some(e)) = task.await {
            errors.push(e);
        }
    }
    let total: u64 = sent.iter().map(|s| s.load(Relaxed)).sum();
    let mut expected = 0;
    for (i, t) in shared.target.iter().enumerate() {
        let own = if system.self_echo() {
            0
        } else {
            sent[i].load(Relaxed)
        };
        t.store(total - own, Relaxed);
        expected += total - own;
    }
    let mut all = clients;
    all.extend(extra);
    let tally = finish(&shared, all, spec.drain, n, &mut errors).await;
    let after = stats::sample(&target.pids);
    Ok(outcome(
        tally, expected, total, start_ns, before, after, errors,
    ))
}

/// The outcome of the idle workload.
#[derive(Debug)]
pub struct IdleOutcome {
    pub clients: usize,
    pub connect_secs: f64,
    pub rss_before_kib: u64,
    pub rss_after_kib: u64,
    pub errors: Vec<String>,
}

/// Opens `clients` subscribed connections, lets everything settle, and
/// measures how much the server's RSS grew per connection.
pub async fn idle(target: &Target, clients: usize, settle: Duration) -> IdleOutcome {
    let before = stats::sample(&target.pids);
    let started = Instant::now();
    let stop = CancellationToken::new();
    let system = target.system;
    let addr = target.addrs[0].clone();
    // Each connection is drained from the moment it is confirmed: a client
    // that stopped reading during the join storm would be evicted as slow.
    let opened: Vec<anyhow::Result<_>> = stream::iter(0..clients)
        .map(|i| {
            let addr = addr.clone();
            let stop = stop.clone();
            async move {
                let conn = Conn::open(
                    system,
                    &addr,
                    &format!("idle{i}"),
                    true,
                    1024,
                    OPEN_TIMEOUT * 4,
                )
                .await?;
                Ok(tokio::spawn(drain_idle(conn, stop)))
            }
        })
        .buffered(CONNECT_PARALLEL)
        .collect()
        .await;
    let connect_secs = started.elapsed().as_secs_f64();
    let mut errors = Vec::new();
    let mut tasks = Vec::new();
    for task in opened {
        match task {
            Ok(task) => tasks.push(task),
            Err(e) => {
                if errors.len() < 3 {
                    errors.push(format!("{e:#}"));
                }
            }
        }
    }
    tokio::time::sleep(settle).await;
    let after = stats::sample(&target.pids);
    stop.cancel();
    for task in tasks {
        if let Ok(Some(e)) = task.await {
            if errors.len() < 5 {
                errors.push(e);
            }
        }
    }
    IdleOutcome {
        clients,
        connect_secs,
        rss_before_kib: before.rss_kib,
        rss_after_kib: after.rss_kib,
        errors,
    }
}

/// Keeps an idle connection alive: discards what arrives, answers pings.
async fn drain_idle(mut conn: Conn, stop: CancellationToken) -> Option<String> {
    let mut reply = Vec::new();
    loop {
        let mut error = None;
        if let Err(e) = conn.system.parse(
            &mut conn.buf,
            0,
            &mut |event| {
                if let Event::Error(e) = event {
                    error = Some(e);
                }
            },
            &mut reply,
        ) {
            return Some(e);
        }
        if error.is_some() {
            return error;
        }
        if !reply.is_empty() {
            if let Err(e) = conn.write.write_all(&reply).await {
                return Some(e.to_string());
            }
            reply.clear();
        }
        tokio::select! {
            _ = stop.cancelled() => return None,
            read = conn.fill() => if let Err(e) = read { return Some(format!("{e:#}")) },
        }
    }
}
