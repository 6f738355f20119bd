//! The chat loop's connection: a joined server, or the failover task
//! looking for one. Either way it is one cancel-safe source of events, so
//! the loop can poll it beside the console.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::connect::{GaveUp, Rejoined};
use super::outbox::RELAY_GRACE;
use super::{Client, ClientError, ClientReader};
use crate::protocol::rate::TokenBucket;
use crate::protocol::{ClientMsg, ServerMsg};

/// The connection, or the search for one.
pub enum Link {
    /// Connected and joined.
    Up(Conn),
    /// Lost; the failover task is looking for another server.
    Down(JoinHandle<Result<Rejoined, GaveUp>>),
}

/// What the link produced.
pub enum LinkEvent {
    /// A frame from the server, or the end of the connection.
    Frame(Result<Option<ServerMsg>, ClientError>),
    /// The failover task's result: a new connection, or why none in time.
    Rejoined(Result<Box<Rejoined>, GaveUp>),
}

impl Link {
    /// The next thing the link has to say. Cancel-safe.
    pub async fn next(&mut self) -> LinkEvent {
        match self {
            Link::Up(conn) => LinkEvent::Frame(conn.reader.recv().await),
            Link::Down(task) => LinkEvent::Rejoined(match task.await {
                Ok(found) => found.map(Box::new),
                Err(_) => Err(GaveUp::Unreachable),
            }),
        }
    }
}

/// One joined connection. Frames to the server go through a writer task,
/// so a slow socket never holds up the console.
pub struct Conn {
    reader: ClientReader,
    out: mpsc::UnboundedSender<ClientMsg>,
    writer: JoinHandle<()>,
    /// Whether the server acknowledges sends (`ack` negotiated).
    pub acks: bool,
    /// The protocol version agreed: 1 has no rooms.
    pub version: u16,
    /// The server's flood limit, mirrored: a send goes only with a token.
    pub pacer: Option<TokenBucket>,
    /// Three missed keepalives: the server is gone even if TCP has not noticed.
    pub silence_limit: Duration,
    /// When the server was last heard from.
    pub last_heard: Instant,
    /// The instant the last liveness probe was sent for (see [`Conn::probe_due`]).
    probed: Option<Instant>,
    pings: u64,
}

impl Conn {
    /// Takes over a joined client (whose join cost a token).
    pub fn open(client: Client) -> Conn {
        let now = Instant::now();
        let acks = client.acks();
        let version = client.version();
        let pacer = client.rate().map(|rate| {
            let mut bucket = TokenBucket::new(rate, now.into_std());
            bucket.try_take(now.into_std());
            bucket
        });
        let silence_limit = match client.keepalive() {
            d if d.is_zero() => Duration::from_secs(60),
            d => d * 3,
        };
        let (reader, mut writer) = client.split();
        let (out, mut queued) = mpsc::unbounded_channel::<ClientMsg>();
        let writer = tokio::spawn(async move {
            while let Some(msg) = queued.recv().await {
                if writer.send_msg(&msg).await.is_err() {
                    break;
                }
            }
        });
        Conn {
            reader,
            out,
            writer,
            acks,
            version,
            pacer,
            silence_limit,
            last_heard: now,
            probed: None,
            pings: 0,
        }
    }

    /// Queues a frame for the writer task.
    pub fn send(&self, msg: ClientMsg) {
        let _ = self.out.send(msg);
    }

    /// When to ask the server for a sign of life, if at all: a line
    /// acknowledged at `acked` counts as relayed once the server has been
    /// heard from [`RELAY_GRACE`] later, and a quiet server may say nothing
    /// for a whole keepalive interval. One probe per such instant.
    pub fn probe_due(&self, acked: Option<std::time::Instant>) -> Option<Instant> {
        probe_due(self.last_heard, self.probed, Instant::from_std(acked?))
    }

    /// Sends the probe for `due`: a `ping`, whose `pong` is the sign of life.
    pub fn probe(&mut self, due: Instant) {
        self.pings += 1;
        self.send(ClientMsg::Ping { nonce: self.pings });
        self.probed = Some(due);
    }

    /// Whether the pacer has a token for one more send now.
    pub fn may_send(&mut self, now: Instant) -> bool {
        self.pacer
            .as_mut()
            .is_none_or(|p| p.try_take(now.into_std()))
    }
}

impl Drop for Conn {
    /// Closes the connection at once: if that server still runs (only the
    /// connection broke), this frees our name there without waiting for
    /// its idle timeout.
    fn drop(&mut self) {
        self.writer.abort();
    }
}

/// When to probe for the line acknowledged at `acked`: [`RELAY_GRACE`]
/// later, unless the server has been heard from since then or the probe
/// for that instant has been sent.
fn probe_due(last_heard: Instant, probed: Option<Instant>, acked: Instant) -> Option<Instant> {
    let due = acked + RELAY_GRACE;
    (last_heard < due && probed != Some(due)).then_some(due)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quiet_server_is_probed_once_per_grace_end() {
        let acked = Instant::now();
        let due = acked + RELAY_GRACE;
        assert_eq!(probe_due(acked, None, acked), Some(due));
        assert_eq!(probe_due(acked, Some(due), acked), None, "sent already");
        // A later line's grace ends later: a new probe.
        let later = acked + Duration::from_millis(300);
        assert_eq!(
            probe_due(acked, Some(due), later),
            Some(later + RELAY_GRACE)
        );
        // Heard from after the grace ended: nothing to ask.
        assert_eq!(probe_due(due, None, acked), None);
    }
}
