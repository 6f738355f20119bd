//! The generator's side of the connections every timed workload uses:
//! receiving tasks that check and time each payload, the state they share
//! with publishers (progress for the publisher's window, probe bits), the
//! connectivity probe before the clock starts, and gathering the tallies.

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
use crate::stats::{self, Home, Tally};
use crate::workload::{Target, CONNECT_PARALLEL, OPEN_TIMEOUT};

/// Receive buffer per benchmark connection.
const RECV_BUFFER: usize = 64 * 1024;

/// How long everyone may take to receive the connectivity probes.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// State the receivers share with the publishers and the coordinator.
pub struct Shared {
    /// Benchmark messages each receiver has had.
    pub progress: Vec<AtomicU64>,
    /// Probe bits each receiver has seen.
    pub probes: Vec<AtomicU64>,
    /// Deliveries after which a receiver stops (u64::MAX until known).
    pub target: Vec<AtomicU64>,
    /// Set while a publisher waits for the slowest receiver.
    pub waiting: AtomicBool,
    pub notify: Notify,
    pub stop: CancellationToken,
}

impl Shared {
    pub fn new(receivers: usize) -> Arc<Self> {
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

    pub fn min_progress(&self) -> u64 {
        self.progress
            .iter()
            .map(|p| p.load(Relaxed))
            .min()
            .unwrap_or(0)
    }

    pub fn all_done(&self) -> bool {
        self.progress
            .iter()
            .zip(&self.target)
            .all(|(p, t)| p.load(Relaxed) >= t.load(Relaxed))
    }
}

pub type Writer = Arc<Mutex<OwnedWriteHalf>>;

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
    home: Home,
    size: usize,
) -> (Tally, Option<String>) {
    let mut tally = Tally::new(publishers, Some(home));
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
pub struct Client {
    pub writer: Writer,
    /// Whether its deliveries count (subscribers), or are only drained (a
    /// publisher's own echo, Redis publish replies).
    pub counted: bool,
    pub receiver: tokio::task::JoinHandle<(Tally, Option<String>)>,
}

/// Opens `count` connections (names `prefix0`…), spread over `target.addrs`,
/// each with a receiving task. `publishers`: senders whose order is checked.
#[allow(clippy::too_many_arguments)]
pub async fn connect_all(
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
            Home {
                server: i % target.addrs.len(),
                servers: target.addrs.len(),
            },
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
pub async fn probe(
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
pub async fn finish(
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
    let mut total = Tally::new(publishers, None);
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
