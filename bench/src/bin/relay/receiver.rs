//! One receiving client: checks that every message of every sender arrives
//! exactly once, in the sender's order, from the right origin; times it
//! (same-server or cross-server); and gives the sender's window permit back
//! once every client in the cluster has the message.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Instant;

use chatty_bench::api::{ClientReader, ServerId, ServerMsg};
use chatty_bench::report::histogram;
use chatty_bench::seen::{Arrival, Seen};
use chatty_bench::stamp::now_ns;
use hdrhistogram::Histogram;
use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant as Deadline;
use tokio_util::sync::CancellationToken;

use crate::{LAYOUT, SLOW_US};

/// What every client task can see.
pub(crate) struct Shared {
    /// Clients in the cluster: a message is delivered when this many have it.
    pub(crate) receivers: u32,
    /// Each sender's name and server index.
    pub(crate) senders: Vec<(String, usize)>,
    /// Each server's id, to check the origin of what clients receive.
    pub(crate) server_ids: Vec<ServerId>,
    /// acks[sender][counter]: receivers that have the message.
    pub(crate) acks: Vec<Vec<AtomicU32>>,
    /// Each sender's window: a permit per message it may still have in flight.
    pub(crate) windows: Vec<Semaphore>,
}

/// What one receiver saw.
pub(crate) struct Received {
    pub(crate) same: Histogram<u64>,
    pub(crate) cross: Histogram<u64>,
    /// Cross-server deliveries slower than [`SLOW_US`].
    pub(crate) slow_cross: u64,
    /// Distinct messages received, per sender.
    pub(crate) unique: Vec<u64>,
    pub(crate) duplicates: u64,
    /// Messages that arrived after a later one of the same sender.
    pub(crate) reordered: u64,
    /// When the last new message arrived.
    pub(crate) last_new: Option<Instant>,
    /// Things that should not happen during a run (notices, leaves, errors).
    pub(crate) anomalies: Vec<String>,
    pub(crate) anomaly_count: u64,
}

impl Received {
    fn anomaly(&mut self, what: String) {
        self.anomaly_count += 1;
        if self.anomalies.len() < 3 {
            self.anomalies.push(what);
        }
    }
}

/// A receiver's place in the run.
pub(crate) struct RecvCtx {
    pub(crate) name: String,
    /// The index of its server.
    pub(crate) server: usize,
    pub(crate) shared: Arc<Shared>,
    /// Pings to answer, for the writer half of the same connection.
    pub(crate) pongs: mpsc::UnboundedSender<u64>,
    pub(crate) stop: CancellationToken,
    pub(crate) deadline: Deadline,
}

/// Reads until told to stop; hands the reader back so the connection
/// closes only after the servers are gone.
pub(crate) async fn receiver(mut reader: ClientReader, ctx: RecvCtx) -> (Received, ClientReader) {
    let senders = ctx.shared.senders.len();
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
    let mut seen = vec![Seen::default(); senders];
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
        if let Err(why) = out.take(msg, &ctx, &mut seen) {
            out.anomaly(format!("{}: {why}", ctx.name));
            if why.fatal {
                break;
            }
        }
    }
    (out, reader)
}

/// Something a receiver should not have seen.
struct Anomaly {
    what: String,
    /// The connection is over.
    fatal: bool,
}

impl std::fmt::Display for Anomaly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.what)
    }
}

fn anomaly(what: String) -> Result<(), Anomaly> {
    Err(Anomaly { what, fatal: false })
}

impl Received {
    /// Takes in one message from the server.
    fn take(&mut self, msg: ServerMsg, ctx: &RecvCtx, seen: &mut [Seen]) -> Result<(), Anomaly> {
        match msg {
            ServerMsg::Message { id, from, text, .. } => {
                let now = now_ns();
                let shared = &*ctx.shared;
                let parsed = LAYOUT.parse(text.as_bytes());
                let Some([s, counter, sent]) = parsed.filter(|&[s, _, _]| s < seen.len() as u64)
                else {
                    return anomaly(format!("unexpected message {text:?}"));
                };
                let s = s as usize;
                let (sender_name, sender_server) = &shared.senders[s];
                if from != *sender_name || id.origin != shared.server_ids[*sender_server] {
                    return anomaly(format!(
                        "message {counter} of {sender_name} came as from {from:?} with origin {}",
                        id.origin.short()
                    ));
                }
                let Some(ack) = shared.acks[s].get(counter as usize) else {
                    return anomaly(format!("counter {counter} out of range"));
                };
                match seen[s].record(counter) {
                    Arrival::Duplicate => {
                        self.duplicates += 1;
                        return Ok(());
                    }
                    Arrival::Reordered => self.reordered += 1,
                    Arrival::InOrder => {}
                }
                self.unique[s] += 1;
                let micros = now.saturating_sub(sent) / 1000;
                if *sender_server == ctx.server {
                    self.same.saturating_record(micros);
                } else {
                    self.cross.saturating_record(micros);
                    if micros > SLOW_US {
                        self.slow_cross += 1;
                    }
                }
                self.last_new = Some(Instant::now());
                if ack.fetch_add(1, Ordering::AcqRel) + 1 == shared.receivers {
                    shared.windows[s].add_permits(1);
                }
                Ok(())
            }
            ServerMsg::Ping { nonce } => {
                let _ = ctx.pongs.send(nonce);
                Ok(())
            }
            // Backlog from setup and server-list updates; harmless.
            ServerMsg::Joined { .. }
            | ServerMsg::Pong { .. }
            | ServerMsg::Servers { .. }
            | ServerMsg::History { .. }
            // A room past the member-list limit lists a count, not names.
            | ServerMsg::RoomState { .. }
            | ServerMsg::RoomCount { .. } => Ok(()),
            ServerMsg::Left { name, reason, .. } => anomaly(format!("{name} left ({reason:?})")),
            ServerMsg::Notice { text } => anomaly(format!("notice: {text}")),
            ServerMsg::Error {
                code, text, fatal, ..
            } => Err(Anomaly {
                what: format!("server error {code}: {text}"),
                fatal,
            }),
            ServerMsg::Shutdown { reason, .. } => Err(Anomaly {
                what: format!("server shut down: {reason}"),
                fatal: true,
            }),
            other => anomaly(format!("unexpected {other:?}")),
        }
    }
}
