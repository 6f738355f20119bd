//! The idle-scale workload: many subscribed, silent connections, and what
//! they cost the server in resident memory.

use std::time::Duration;

use futures_util::{stream, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::conn::{Conn, Event};
use crate::stats;
use crate::workload::{Target, CONNECT_PARALLEL, OPEN_TIMEOUT};

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
