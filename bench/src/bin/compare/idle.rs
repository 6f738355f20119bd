//! The idle-scale workload: many subscribed, silent connections, and what
//! they cost the server in resident memory.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chatty_bench::losses::Losses;
use futures_util::{stream, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::conn::{Conn, Event};
use crate::stats;
use crate::workload::{Target, CONNECT_PARALLEL, OPEN_TIMEOUT};

/// The outcome of the idle workload.
#[derive(Debug)]
pub struct IdleOutcome {
    /// Clients asked for.
    pub clients: usize,
    /// Clients confirmed (`welcome`, `+subscribe`) and still there after
    /// the settle.
    pub kept: usize,
    pub connect_secs: f64,
    pub rss_before_kib: u64,
    pub rss_after_kib: u64,
    /// Clients lost while connecting or settling, by cause.
    pub losses: Losses,
    /// Whether connecting did not finish within the limit.
    pub timed_out: bool,
}

impl IdleOutcome {
    /// Server RSS growth per client kept, KiB.
    pub fn rss_per_client(&self) -> f64 {
        self.rss_after_kib.saturating_sub(self.rss_before_kib) as f64 / self.kept.max(1) as f64
    }
}

/// Opens `clients` subscribed connections, spread round-robin over the
/// target's servers, lets everything settle, and measures how much the
/// servers' RSS grew per connection. Connecting may take `limit` at most;
/// the clients not confirmed by then count as timed out.
pub async fn idle(
    target: &Target,
    clients: usize,
    settle: Duration,
    limit: Duration,
) -> IdleOutcome {
    let before = stats::sample(&target.pids);
    let started = Instant::now();
    let stop = CancellationToken::new();
    let system = target.system;
    type Opened = Result<JoinHandle<Option<String>>, String>;
    let opened: Arc<Mutex<Vec<Opened>>> = Arc::new(Mutex::new(Vec::with_capacity(clients)));
    // Each connection is drained from the moment it is confirmed (the
    // drain task is spawned inside the opening future, not after the whole
    // batch): a client that stopped reading during the join storm would be
    // evicted as slow, and the benchmark would measure itself.
    let opening = stream::iter(0..clients).for_each_concurrent(CONNECT_PARALLEL, |i| {
        let addr = target.addrs[i % target.addrs.len()].clone();
        let stop = stop.clone();
        let opened = opened.clone();
        async move {
            let result = Conn::open(
                system,
                &addr,
                &format!("idle{i}"),
                true,
                1024,
                OPEN_TIMEOUT * 4,
            )
            .await
            .map(|conn| tokio::spawn(drain_idle(conn, stop)))
            .map_err(|e| format!("{e:#}"));
            opened.lock().expect("not poisoned").push(result);
        }
    });
    let timed_out = tokio::time::timeout(limit, opening).await.is_err();
    let connect_secs = started.elapsed().as_secs_f64();
    let opened = std::mem::take(&mut *opened.lock().expect("not poisoned"));
    let mut losses = Losses::default();
    for _ in opened.len()..clients {
        losses.record(&format!("not confirmed within the limit of {limit:?}"));
    }
    let mut tasks = Vec::new();
    for result in opened {
        match result {
            Ok(task) => tasks.push(task),
            Err(e) => losses.record(&e),
        }
    }
    tokio::time::sleep(settle).await;
    let after = stats::sample(&target.pids);
    stop.cancel();
    let mut kept = 0;
    for task in tasks {
        match task.await {
            Ok(None) => kept += 1,
            Ok(Some(e)) => losses.record(&e),
            Err(e) => losses.record(&format!("drain task: {e}")),
        }
    }
    IdleOutcome {
        clients,
        kept,
        connect_secs,
        rss_before_kib: before.rss_kib,
        rss_after_kib: after.rss_kib,
        losses,
        timed_out,
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
