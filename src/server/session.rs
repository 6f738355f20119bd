//! One client connection: handshake, requests, keepalive, and a clean close.
//!
//! The session owns the read half and the protocol state of one connection;
//! a [`super::writer`] task owns the write half. Everything the session says
//! goes through the room's queue for this connection, so replies and
//! broadcasts reach the client in one order.
//!
//! Bad input affects only this connection: a fatal error frame is queued,
//! the session ends, and the room tells the others that this member left.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use futures_util::{FutureExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::{interval_at, sleep_until, Instant, MissedTickBehavior};
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, Instrument};

use super::admission::Permit;
use super::closing::linger;
use super::config::ServerConfig;
use super::room::{ClientId, ConnId, JoinError, Room, Wakes};
use super::writer;
use crate::protocol::rate::TokenBucket;
use crate::protocol::validate::{validate_name, validate_text};
use crate::protocol::{
    decode_client, encode_frame, ClientMsg, ErrorCode, FrameDecoder, FrameError, LeaveReason,
    ServerMsg, AGENT, FEATURES, FEATURE_ACK, MAX_AGENT_BYTES, MAX_CLIENT_FRAME, PROTOCOL_VERSION,
};

/// Initial read buffer: small, so idle connections stay cheap; it grows for
/// larger frames.
const READ_BUFFER: usize = 512;

/// Most buffered frames handled in a row before the session looks at its
/// timers and tokens again and wakes the writers of what it queued. Long
/// bursts let each writer send more frames per syscall.
const BURST_FRAMES: usize = 256;

/// Most frames a burst may queue for all recipients together before it
/// ends: bounds how long one publisher holds its thread when every message
/// goes to a thousand members (about a millisecond of work).
const BURST_DELIVERIES: usize = 16 * 1024;

/// How much of a refused line a rate-limit error quotes, in bytes.
const QUOTE_BYTES: usize = 40;

/// How long to wait for the writer to flush the last frames.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// Serves one accepted connection until it closes. `permit` is its slot
/// under the connection caps, held until the end. Never panics on input.
pub async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    permit: Permit,
    room: Arc<Room>,
    config: Arc<ServerConfig>,
    shutdown: CancellationToken,
) {
    // Every deadline counts from here, so a TLS handshake cannot stretch them.
    let accepted = Instant::now();
    let _ = stream.set_nodelay(true);
    let span = tracing::info_span!("session", conn = tracing::field::Empty, %peer);
    async move {
        let _permit = permit;
        // Plain TCP keeps its own split halves (no lock between reader and
        // writer); TLS needs `io::split`. Both monomorphise the same code.
        match config.tls.clone() {
            None => {
                let (read_half, write_half) = stream.into_split();
                serve_stream(read_half, write_half, accepted, room, config, shutdown).await
            }
            // Boxed: the TLS handshake's state is large, and unboxed it
            // would sit in every plain connection's task as well.
            Some(tls) => {
                Box::pin(async move {
                    let deadline = accepted + config.handshake_timeout;
                    let handshake = tokio::select! {
                        _ = shutdown.cancelled() => None,
                        stream = tls.handshake(stream, deadline) => stream,
                    };
                    if let Some(stream) = handshake {
                        let (read_half, write_half) = tokio::io::split(stream);
                        serve_stream(read_half, write_half, accepted, room, config, shutdown).await
                    }
                })
                .await
            }
        }
    }
    .instrument(span)
    .await
}

/// Serves the chat protocol over an established byte stream.
async fn serve_stream<R, W>(
    read_half: R,
    write_half: W,
    accepted: Instant,
    room: Arc<Room>,
    config: Arc<ServerConfig>,
    shutdown: CancellationToken,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let reg = room.register();
    let conn = reg.id;
    tracing::Span::current().record("conn", conn);
    let writer = tokio::spawn(writer::run(write_half, reg.outbound, reg.evicted.clone()));
    let now = Instant::now();
    let mut session = Session {
        conn,
        room: room.clone(),
        bucket: TokenBucket::new(config.rate_limit, now.into_std()),
        config,
        greeted: false,
        acks: false,
        name: None,
        ever_joined: false,
        last_heard: now,
        pings_sent: 0,
        wakes: Wakes::default(),
    };
    let mut frames =
        FramedRead::with_capacity(read_half, FrameDecoder::new(MAX_CLIENT_FRAME), READ_BUFFER);
    let end = session
        .run(&mut frames, accepted, &reg.evicted, &shutdown)
        .await;
    debug!(?end, "session ended");
    room.unregister(conn, end.reason());
    // The room dropped our queue's sender: the writer flushes what is left
    // (a final error or shutdown notice) and half-closes.
    let flushed = tokio::time::timeout(FLUSH_TIMEOUT, writer).await;
    if end.lingers() && matches!(flushed, Ok(Ok(writer::WriterExit::Drained))) {
        linger(frames.into_inner()).await;
    }
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The client sent `leave`.
    Left,
    /// The client closed the connection (or it broke).
    Closed,
    /// The client broke the protocol; an error frame was queued.
    ProtocolError,
    /// Keepalive, handshake or join deadline expired; an error frame was queued.
    TimedOut,
    /// The room evicted the client as too slow.
    Evicted,
    /// The server is shutting down.
    Shutdown,
}

impl End {
    fn reason(self) -> LeaveReason {
        match self {
            End::Left => LeaveReason::Leave,
            End::Closed => LeaveReason::Disconnected,
            End::ProtocolError => LeaveReason::ProtocolError,
            End::TimedOut => LeaveReason::Timeout,
            End::Evicted => LeaveReason::TooSlow,
            End::Shutdown => LeaveReason::Shutdown,
        }
    }

    fn lingers(self) -> bool {
        matches!(
            self,
            End::ProtocolError | End::TimedOut | End::Left | End::Shutdown
        )
    }
}

struct Session {
    conn: ConnId,
    room: Arc<Room>,
    config: Arc<ServerConfig>,
    bucket: TokenBucket,
    greeted: bool,
    /// Whether the client negotiated `ack`: its sends with a cid are
    /// answered with `ack` once numbered.
    acks: bool,
    name: Option<String>,
    /// Whether this connection ever joined: sending before the first join is
    /// a protocol error, sending after losing the name is not.
    ever_joined: bool,
    last_heard: Instant,
    pings_sent: u64,
    /// Writers given this burst's messages, woken when the burst is done.
    wakes: Wakes,
}

impl Session {
    async fn run<R: AsyncRead + Unpin>(
        &mut self,
        frames: &mut FramedRead<R, FrameDecoder>,
        accepted: Instant,
        evicted: &CancellationToken,
        shutdown: &CancellationToken,
    ) -> End {
        let handshake_deadline = accepted + self.config.handshake_timeout;
        // Until it joins, a connection holds a slot without being in the
        // chat; slowloris-style clients that never get there are reaped.
        let join_deadline = accepted + self.config.join_timeout;
        let period = self.config.keepalive.max(Duration::from_millis(10));
        let mut keepalive = interval_at(Instant::now() + period, period);
        keepalive.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // Made once for the session's life, not once per frame: each of
        // these registers with the token or the timer when first polled.
        let evicted_now = evicted.cancelled();
        let shutting_down = shutdown.cancelled();
        let handshake_over = sleep_until(handshake_deadline);
        let join_over = sleep_until(join_deadline);
        tokio::pin!(evicted_now, shutting_down, handshake_over, join_over);
        loop {
            tokio::select! {
                _ = &mut evicted_now => return End::Evicted,
                _ = &mut shutting_down => return End::Shutdown,
                _ = &mut handshake_over, if !self.greeted => {
                    return self.fatal(ErrorCode::HANDSHAKE_TIMEOUT, format!(
                        "no hello within {} ms", self.config.handshake_timeout.as_millis()));
                }
                _ = &mut join_over, if !self.ever_joined => {
                    return self.fatal(ErrorCode::JOIN_TIMEOUT, format!(
                        "not joined within {} ms of connecting", self.config.join_timeout.as_millis()));
                }
                _ = keepalive.tick() => {
                    if let Some(end) = self.keepalive() {
                        return end;
                    }
                }
                frame = frames.next() => {
                    let end = self.on_burst(frame, frames, evicted, shutdown);
                    // The burst's messages are all queued: now wake their
                    // writers, once each.
                    self.wakes.wake_all();
                    if let Some(end) = end {
                        return end;
                    }
                }
            }
        }
    }

    /// Handles `first` and then the frames already buffered behind it,
    /// without another trip through `select!`, whose timer and token
    /// futures cost more than a small frame (publishers send dozens per read).
    fn on_burst<R: AsyncRead + Unpin>(
        &mut self,
        first: Option<Result<BytesMut, FrameError>>,
        frames: &mut FramedRead<R, FrameDecoder>,
        evicted: &CancellationToken,
        shutdown: &CancellationToken,
    ) -> Option<End> {
        // Once per burst: the clock is read for keepalive only.
        self.last_heard = Instant::now();
        if let Some(end) = self.on_frame(first) {
            return Some(end);
        }
        for _ in 0..BURST_FRAMES {
            if self.wakes.queued() >= BURST_DELIVERIES
                || evicted.is_cancelled()
                || shutdown.is_cancelled()
            {
                break;
            }
            let frame = frames.next().now_or_never()?;
            if let Some(end) = self.on_frame(frame) {
                return Some(end);
            }
        }
        None
    }

    /// Handles what the framing layer produced: a frame, an error or the end.
    fn on_frame(&mut self, frame: Option<Result<BytesMut, FrameError>>) -> Option<End> {
        match frame {
            None => Some(End::Closed),
            Some(Err(err)) => {
                debug!(cause = %err, "framing error");
                Some(match err.code() {
                    Some(code) => self.fatal(code, err.to_string()),
                    None => End::Closed,
                })
            }
            Some(Ok(body)) => {
                let msg = match decode_client(&body) {
                    Ok(msg) => msg,
                    Err(err) => return Some(self.fatal(err.code(), err.to_string())),
                };
                self.handle(msg)
            }
        }
    }

    /// Pings an idle client; gives up on a silent one.
    fn keepalive(&mut self) -> Option<End> {
        let idle = self.last_heard.elapsed();
        if idle >= self.config.idle_timeout {
            return Some(self.fatal(
                ErrorCode::KEEPALIVE_TIMEOUT,
                format!("nothing heard for {} ms", idle.as_millis()),
            ));
        }
        // Before the handshake the client may not speak our protocol yet:
        // the handshake deadline covers it instead of pings.
        if self.greeted && idle >= self.config.keepalive {
            self.pings_sent += 1;
            self.reply(&ServerMsg::Ping {
                nonce: self.pings_sent,
            });
        }
        None
    }

    fn handle(&mut self, msg: ClientMsg) -> Option<End> {
        if !self.greeted {
            return self.handshake(msg);
        }
        match msg {
            ClientMsg::Hello { .. } => Some(self.fatal(
                ErrorCode::HANDSHAKE_REQUIRED,
                "hello was already received on this connection".into(),
            )),
            ClientMsg::Join { name } => {
                if self.rate_limited() {
                    return None;
                }
                self.join(name, None);
                None
            }
            ClientMsg::Rejoin { name, last_seen } => {
                if self.rate_limited() {
                    return None;
                }
                self.join(name, Some(&last_seen));
                None
            }
            ClientMsg::Send { text, cid } => self.send(text, cid),
            ClientMsg::Leave => {
                if self.name.take().is_some() {
                    let _ = self.room.leave(self.conn, LeaveReason::Leave);
                }
                Some(End::Left)
            }
            ClientMsg::Status => {
                if !self.rate_limited() {
                    self.reply(&ServerMsg::StatusReply(self.room.status()));
                }
                None
            }
            ClientMsg::Ping { nonce } => {
                self.reply(&ServerMsg::Pong { nonce });
                None
            }
            ClientMsg::Pong { .. } => None,
        }
    }

    /// A chat line. A resend of a line already numbered (same name, same
    /// cid) costs a token like any send: the session cannot tell it from a
    /// new one before the room looks, and a client pacing to `rate` counts
    /// its resends too.
    fn send(&mut self, text: String, cid: Option<u64>) -> Option<End> {
        if self.name.is_none() && !self.ever_joined {
            return Some(self.fatal(
                ErrorCode::NOT_JOINED,
                "join with a name before sending messages".into(),
            ));
        }
        if !self.take_token() {
            let limit = self.config.rate_limit;
            self.error_about(
                ErrorCode::RATE_LIMITED,
                format!(
                    "slow down: at most {} messages per second (bursts of {}); \
                     this line was dropped: {}",
                    limit.per_sec,
                    limit.burst,
                    quote(&text)
                ),
                cid,
            );
            return None;
        }
        if let Err(why) = validate_text(&text) {
            self.error_about(ErrorCode::TEXT_INVALID, why, cid);
            return None;
        }
        let cid = cid.map(|cid| ClientId {
            cid,
            ack: self.acks,
        });
        if self
            .room
            .say_then_wake(self.conn, text, cid, &mut self.wakes)
            .is_err()
        {
            // The room took the name back: a same-moment claim on
            // another server won (the client was told with 211).
            self.name = None;
            self.error_about(
                ErrorCode::NOT_JOINED,
                "you are no longer in the chat; join again with another name".into(),
                cid.map(|c| c.cid),
            );
        }
        None
    }

    fn handshake(&mut self, msg: ClientMsg) -> Option<End> {
        match msg {
            ClientMsg::Hello {
                version,
                agent,
                features,
            } if version == PROTOCOL_VERSION => {
                self.greeted = true;
                let agent = truncate_bytes(&agent, MAX_AGENT_BYTES);
                // Only what this build knows, in its own spelling and order.
                let accepted: Vec<String> = FEATURES
                    .iter()
                    .filter(|known| features.iter().any(|asked| asked == *known))
                    .map(|known| known.to_string())
                    .collect();
                self.acks = accepted.iter().any(|f| f == FEATURE_ACK);
                debug!(%agent, ?accepted, "handshake complete");
                let limit = self.config.rate_limit;
                self.reply(&ServerMsg::Hello {
                    version: PROTOCOL_VERSION,
                    server: self.room.id(),
                    agent: AGENT.into(),
                    keepalive_ms: self.config.keepalive.as_millis() as u64,
                    features: accepted,
                    rate: limit.is_on().then_some(limit),
                });
                None
            }
            ClientMsg::Hello { version, .. } => Some(self.fatal(
                ErrorCode::UNSUPPORTED_VERSION,
                format!(
                    "unsupported protocol version {version}; this server speaks version {PROTOCOL_VERSION}"
                ),
            )),
            _ => Some(self.fatal(
                ErrorCode::HANDSHAKE_REQUIRED,
                "the first message must be hello".into(),
            )),
        }
    }

    fn join(&mut self, name: String, last_seen: Option<&[crate::protocol::MessageId]>) {
        if let Err(why) = validate_name(&name) {
            self.error(ErrorCode::NAME_INVALID, why);
            return;
        }
        let joined = match last_seen {
            None => self.room.join(self.conn, &name),
            Some(seen) => self.room.rejoin(self.conn, &name, seen),
        };
        match joined {
            Ok(()) => {
                info!(name = %name, "joined");
                self.name = Some(name);
                self.ever_joined = true;
            }
            Err(err @ JoinError::NameTaken(_)) => {
                self.error(ErrorCode::NAME_TAKEN, format!("{err}; choose another"))
            }
            Err(err @ JoinError::AlreadyJoined(_)) => {
                self.error(ErrorCode::ALREADY_JOINED, err.to_string())
            }
            Err(err @ JoinError::ShuttingDown) => {
                self.error(ErrorCode::SHUTTING_DOWN, err.to_string())
            }
        }
    }

    /// Takes a token from the flood limit's bucket.
    fn take_token(&mut self) -> bool {
        // The burst's arrival time: frames read together arrived together.
        self.bucket.try_take(self.last_heard.into_std())
    }

    /// Takes a token; on failure tells the client and returns true.
    fn rate_limited(&mut self) -> bool {
        if self.take_token() {
            return false;
        }
        let limit = self.config.rate_limit;
        self.error(
            ErrorCode::RATE_LIMITED,
            format!(
                "slow down: at most {} messages per second (bursts of {}); this one was dropped",
                limit.per_sec, limit.burst
            ),
        );
        true
    }

    fn reply(&self, msg: &ServerMsg) {
        self.room.send_to(self.conn, encode_frame(msg));
    }

    fn error(&self, code: ErrorCode, text: String) {
        self.error_about(code, text, None);
    }

    /// A non-fatal error about the `send` with this `cid`, if it had one.
    fn error_about(&self, code: ErrorCode, text: String, cid: Option<u64>) {
        debug!(%code, %text, ?cid, "client error");
        self.reply(&ServerMsg::Error {
            code,
            text,
            fatal: false,
            cid,
        });
    }

    /// Queues a fatal error as the connection's last frame, removes it from
    /// the room, and says how the session ends.
    fn fatal(&self, code: ErrorCode, text: String) -> End {
        info!(%code, %text, "closing connection");
        let timed_out = [
            ErrorCode::KEEPALIVE_TIMEOUT,
            ErrorCode::HANDSHAKE_TIMEOUT,
            ErrorCode::JOIN_TIMEOUT,
        ];
        let end = if timed_out.contains(&code) {
            End::TimedOut
        } else {
            End::ProtocolError
        };
        let frame = encode_frame(&ServerMsg::Error {
            code,
            text,
            fatal: true,
            cid: None,
        });
        self.room.close_with(self.conn, frame, end.reason());
        end
    }
}

/// The start of a refused line, quoted for an error text, so the sender
/// can tell which line it was.
fn quote(text: &str) -> String {
    let start = truncate_bytes(text, QUOTE_BYTES);
    let more = if start.len() < text.len() { "…" } else { "" };
    format!("\"{start}{more}\"")
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn truncate_bytes(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::{quote, truncate_bytes};

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate_bytes("abc", 64), "abc");
        assert_eq!(truncate_bytes("ééé", 3), "é");
        assert_eq!(truncate_bytes(&"x".repeat(100), 64).len(), 64);
    }

    #[test]
    fn a_quote_shows_the_start_of_the_line() {
        assert_eq!(quote("line 7"), "\"line 7\"");
        let long = format!("{}é tail", "x".repeat(39));
        assert_eq!(quote(&long), format!("\"{}…\"", "x".repeat(39)));
    }
}
