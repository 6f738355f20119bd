//! The timed workloads, written once for every system: fan-out (one
//! publisher, N subscribers) and chat (everyone sends at a fixed rate and
//! hears everyone). Idle scale is in `idle.rs`.
//!
//! Every loop is bounded by a message count or a deadline; a run that misses
//! its deadline is reported incomplete with what was missing, never hangs.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

use crate::clients::{connect_all, finish, probe, Client, Shared, Writer};
use crate::conn::System;
use crate::stats::{self, ProcSample, Tally};

/// Connections opened at once while setting up.
pub const CONNECT_PARALLEL: usize = 64;
/// How long one connection may take to be confirmed.
pub const OPEN_TIMEOUT: Duration = Duration::from_secs(30);

/// The servers of one system under test.
#[derive(Debug, Clone)]
pub struct Target {
    pub system: System,
    /// How it is shown in the tables: the system's name, plus a note for a
    /// second configuration of the same system.
    pub label: String,
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
    /// The load generator's own CPU over the same window, in seconds.
    pub client_cpu_secs: f64,
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

    pub fn client_cpu_per_million(&self) -> f64 {
        self.client_cpu_secs / (self.tally.delivered.max(1) as f64 / 1e6)
    }
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
    let own_ticks = after.own_ticks.saturating_sub(before.own_ticks);
    let per_sec = chatty_bench::procfs::clock_ticks_per_sec() as f64;
    Outcome {
        elapsed: Duration::from_nanos(tally.last_ns.saturating_sub(start_ns)),
        tally,
        expected,
        messages,
        cpu_secs: ticks as f64 / per_sec,
        client_cpu_secs: own_ticks as f64 / per_sec,
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
