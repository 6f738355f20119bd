//! One client connection: handshake, requests, keepalive, and a clean close.
//!
//! One task per connection: the session owns the protocol state and both
//! halves of the socket, and drives its [`Writer`] beside its reads and
//! timers in one `select!`. Everything the session says goes through the
//! room's queue for this connection, so replies and broadcasts reach the
//! client in one order.
//!
//! Bad input affects only this connection: a fatal error frame is queued,
//! the session ends, and the room tells the others that this member left.
//! This module runs the connection; `requests` answers each message.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use futures_util::{FutureExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::{sleep_until, Instant};
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, Instrument};

mod burst;
mod chat;
mod requests;
mod watch;

use super::admission::Permit;
use super::closing::linger;
use super::config::ServerConfig;
use super::room::{ConnId, Room};
use super::socket::SharedHalf;
use super::writer::{self, Step, Writer, WriterExit};
use crate::protocol::rate::Tokens;
use crate::protocol::{
    decode_client, ErrorCode, FrameDecoder, FrameError, LeaveReason, ServerMsg, MAX_CLIENT_FRAME,
};

/// Initial read buffer: small, so idle connections stay cheap; it grows for
/// larger frames, and an idle connection gives it back.
const READ_BUFFER: usize = crate::protocol::codec::IDLE_BUFFER;

/// Most buffered frames handled in a row before the session looks at its
/// timers and tokens again and wakes the writers of what it queued. Long
/// bursts let each writer send more frames per syscall.
const BURST_FRAMES: usize = 256;

/// Most frames a burst may queue for all recipients together before it
/// ends: bounds how long one publisher holds its thread when every message
/// goes to a thousand members (about a millisecond of work).
const BURST_DELIVERIES: usize = 16 * 1024;

/// How long to wait for the writer to flush the last frames.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// Serves one accepted connection until it closes. `permit` is its slot
/// under the connection caps, held until the end. Never panics on input.
///
/// The future is the connection's whole cost while it is idle (one task
/// per connection), so its layers are plain functions returning one
/// `async move` block each: an `async fn` would keep a second copy of
/// every argument in its state.
pub fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    permit: Permit,
    room: Arc<Room>,
    config: Arc<ServerConfig>,
    shutdown: CancellationToken,
) -> impl Future<Output = ()> + Send {
    // Every deadline counts from here, so a TLS handshake cannot stretch them.
    let accepted = Instant::now();
    let _ = stream.set_nodelay(true);
    let span = tracing::info_span!("session", conn = tracing::field::Empty, %peer);
    // Shared with the room's fan-out, which writes a burst out directly
    // when this task is not writing (see `room::queue`). Made before the
    // future, which then holds the `Arc` alone, not a dead copy of the
    // stream beside it.
    let stream = Arc::new(stream);
    async move {
        // Plain TCP keeps its own split halves (no lock between reader and
        // writer); TLS needs `io::split`. Both monomorphise the same code.
        // (An `if`, not a `match` on the `Option`: a plain connection's
        // task would keep the matched `None` for its whole life.)
        if config.tls.is_none() {
            // Borrowed halves: both live in this one task, so they need no
            // shared ownership of the socket.
            let half = SharedHalf(&stream);
            serve_stream(half, half, accepted, room, config, Some(stream.clone())).await
        } else if let (Some(tls), Some(stream)) = (config.tls.clone(), Arc::into_inner(stream)) {
            // Boxed: the TLS handshake's state is large, and unboxed it
            // would sit in every plain connection's task as well. Nobody
            // else holds the stream yet, so it comes out of its `Arc`.
            Box::pin(async move {
                let deadline = accepted + config.handshake_timeout;
                let handshake = tokio::select! {
                    _ = shutdown.cancelled() => None,
                    stream = tls.handshake(stream, deadline) => stream,
                };
                if let Some(stream) = handshake {
                    let (read_half, write_half) = tokio::io::split(stream);
                    serve_stream(read_half, write_half, accepted, room, config, None).await
                }
            })
            .await
        }
        drop(permit);
    }
    .instrument(span)
}

/// Serves one bridged connection (see `bridge.rs`) until it closes: the
/// same session over an in-process pipe instead of a socket.
pub(crate) fn serve_pipe<S>(
    pipe: S,
    peer: SocketAddr,
    permit: Permit,
    room: Arc<Room>,
    config: Arc<ServerConfig>,
) -> impl Future<Output = ()> + Send
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let accepted = Instant::now();
    let span = tracing::info_span!("session", conn = tracing::field::Empty, %peer, bridged = true);
    async move {
        let (read_half, write_half) = tokio::io::split(pipe);
        serve_stream(read_half, write_half, accepted, room, config, None).await;
        drop(permit);
    }
    .instrument(span)
}

/// Serves the chat protocol over an established byte stream; `direct` is
/// the plain TCP socket under it, if it is one, for the room's direct
/// writes. (Not an `async fn`, which would keep its arguments twice: see
/// [`serve`].)
#[allow(clippy::manual_async_fn)]
fn serve_stream<R, W>(
    read_half: R,
    write_half: W,
    accepted: Instant,
    room: Arc<Room>,
    config: Arc<ServerConfig>,
    direct: Option<Arc<TcpStream>>,
) -> impl Future<Output = ()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    // Everything the session holds is made here, when the caller first
    // polls (a connection's task, after the accept or the TLS handshake),
    // and moved into the future whole: made inside it, each part would sit
    // in the task twice, as an argument and as the local built from it.
    let reg = room.register();
    let conn = reg.id;
    if let Some(socket) = direct {
        reg.outbound.set_direct(socket);
    }
    tracing::Span::current().record("conn", conn);
    let mut writer = Writer::new(write_half, reg.outbound);
    let now = Instant::now();
    let keepalive = now + keepalive_period(&config);
    let mut session = Session {
        conn,
        room,
        bucket: Tokens::full(&config.rate_limit, now.into_std()),
        nick_bucket: Tokens::full(&config.nick_limit, now.into_std()),
        config,
        greeted: false,
        version: 0,
        acks: false,
        name: None,
        ever_joined: false,
        last_heard: now,
        pings_sent: 0,
        said: false,
        watcher: None,
        deadlines: Deadlines {
            accepted,
            keepalive,
            release: None,
        },
    };
    let mut frames =
        FramedRead::with_capacity(read_half, FrameDecoder::new(MAX_CLIENT_FRAME), READ_BUFFER);
    async move {
        let end = session.run(&mut frames, &mut writer).await;
        debug!(?end, "session ended");
        if let Some(name) = session.name.as_deref() {
            info!(name = %name, reason = ?end.reason(), "left");
        }
        session.room.unregister(session.conn, end.reason());
        // The room dropped our queue's sender: the writer flushes what is left
        // (a final error or shutdown notice) and half-closes.
        let exit = match end {
            End::Evicted => WriterExit::Evicted,
            End::WriteFailed => WriterExit::Failed,
            _ => tokio::time::timeout(FLUSH_TIMEOUT, writer.drain())
                .await
                .unwrap_or(WriterExit::Failed),
        };
        writer.close(exit).await;
        if end.lingers() && exit == WriterExit::Drained {
            linger(frames.into_inner()).await;
        }
    }
}

/// How often a silent connection is checked (and pinged).
fn keepalive_period(config: &ServerConfig) -> Duration {
    config.keepalive.max(Duration::from_millis(10))
}

/// Gives back an empty read buffer (the next read regrows it), so a quiet
/// connection holds none.
fn release_read_buffer<R>(frames: &mut FramedRead<R, FrameDecoder>) {
    if frames.read_buffer().is_empty() && frames.read_buffer().capacity() > 0 {
        *frames.read_buffer_mut() = BytesMut::new();
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
    /// Writing to the client failed (the connection broke).
    WriteFailed,
    /// The server is shutting down.
    Shutdown,
}

impl End {
    fn reason(self) -> LeaveReason {
        match self {
            End::Left => LeaveReason::Leave,
            End::Closed | End::WriteFailed => LeaveReason::Disconnected,
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

/// A session's deadlines, served by one timer.
struct Deadlines {
    /// When the connection was accepted: `hello` and `join` (not for
    /// watchers) must come within their timeouts of it.
    accepted: Instant,
    /// The next silence check (and ping).
    keepalive: Instant,
    /// When the writer may give back a burst's slots, if it stays idle.
    release: Option<Instant>,
}

impl Session {
    /// `hello` must have come by then.
    fn handshake_deadline(&self) -> Instant {
        self.deadlines.accepted + self.config.handshake_timeout
    }

    /// `join` must have come by then: until it joins, a connection holds a
    /// slot without being in the chat, and slowloris-style clients that
    /// never get there are reaped.
    fn join_deadline(&self) -> Instant {
        self.deadlines.accepted + self.config.join_timeout
    }

    /// The earliest deadline that still applies.
    fn next_deadline(&self) -> Instant {
        let mut next = self.deadlines.keepalive;
        if !self.greeted {
            next = next.min(self.handshake_deadline());
        }
        if self.awaits_join() {
            next = next.min(self.join_deadline());
        }
        if let Some(release) = self.deadlines.release {
            next = next.min(release);
        }
        next
    }
}

struct Session {
    conn: ConnId,
    room: Arc<Room>,
    config: Arc<ServerConfig>,
    /// The flood limit's tokens (the limit is `config.rate_limit`).
    bucket: Tokens,
    /// Nick changes' own limit (bursts of 3, then one per 10 s by default).
    nick_bucket: Tokens,
    greeted: bool,
    /// The protocol version agreed in the handshake (1 or 2).
    version: u16,
    /// Whether the client negotiated `ack`: its sends with a cid are
    /// answered with `ack` once numbered.
    acks: bool,
    name: Option<Box<str>>,
    /// Whether this connection ever joined: sending before the first join is
    /// a protocol error, sending after losing the name is not.
    ever_joined: bool,
    last_heard: Instant,
    pings_sent: u64,
    /// This burst said a line: its run in the room ends with the burst.
    said: bool,
    /// When the timer is due next, and why.
    deadlines: Deadlines,
    /// The status subscription, once the client sent `watch`.
    /// (Boxed: few connections watch, and every one would carry it.)
    watcher: Option<Box<watch::Watcher>>,
}

impl Session {
    /// Runs the connection until it ends. (Not an `async fn`: see [`serve`].)
    #[allow(clippy::manual_async_fn)]
    fn run<'a, R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
        &'a mut self,
        frames: &'a mut FramedRead<R, FrameDecoder>,
        writer: &'a mut Writer<W>,
    ) -> impl Future<Output = End> + 'a {
        async move {
            // Made once for the session's life, not once per frame: each of
            // these registers with the token or the timer when first polled.
            // One timer serves every deadline (each `Sleep` is part of every
            // connection's task, idle ones included).
            let timer = sleep_until(self.next_deadline());
            tokio::pin!(timer);
            loop {
                tokio::select! {
                    // In this order when several are ready: a silent connection
                    // whose handshake and join deadlines fall together (both
                    // 10 s by default) always gets 105, never 242 at random.
                    // The writer comes first: it also tells of an eviction.
                    biased;
                    step = std::future::poll_fn(|cx| writer.poll_drive(cx)) => match step {
                        Step::Idle => {
                            self.deadlines.release = Some(Instant::now() + writer::RELEASE_SLOTS_AFTER);
                            timer.as_mut().reset(self.next_deadline());
                        }
                        // The room closes a running session's queue only when
                        // the server shuts down (after queueing its notice).
                        Step::Closed => return End::Shutdown,
                        Step::Exit(WriterExit::Evicted) => return End::Evicted,
                        Step::Exit(_) => return End::WriteFailed,
                    },
                    _ = &mut timer => {
                        let now = Instant::now();
                        if !self.greeted && now >= self.handshake_deadline() {
                            return self.fatal(ErrorCode::HANDSHAKE_TIMEOUT, format!(
                                "no hello within {} ms", self.config.handshake_timeout.as_millis()));
                        }
                        if self.awaits_join() && now >= self.join_deadline() {
                            return self.fatal(ErrorCode::JOIN_TIMEOUT, format!(
                                "not joined within {} ms of connecting", self.config.join_timeout.as_millis()));
                        }
                        if self.deadlines.release.is_some_and(|at| now >= at) {
                            self.deadlines.release = None;
                            writer.release_if_idle();
                        }
                        if now >= self.deadlines.keepalive {
                            // As a tokio interval with `Delay`: the next check a
                            // whole period after this one.
                            self.deadlines.keepalive = now + keepalive_period(&self.config);
                            if let Some(end) = self.keepalive() {
                                return end;
                            }
                        }
                        // Quiet since at least the last deadline: an empty read
                        // buffer goes back (the next read regrows it), so an
                        // idle connection holds none.
                        release_read_buffer(frames);
                        timer.as_mut().reset(self.next_deadline());
                    }
                    _ = watch::next(&mut self.watcher) => {
                        if let Some(watcher) = &mut self.watcher {
                            for msg in watcher.due(&self.room) {
                                self.reply(&msg);
                            }
                        }
                    }
                    frame = frames.next() => {
                        let joined_before = self.ever_joined;
                        let end = self.on_burst(frame, frames, writer);
                        // The burst's messages are all queued (its lines to a
                        // room's others with the last of them): now write them
                        // out (or wake their writers), once per recipient.
                        let said = std::mem::take(&mut self.said);
                        burst::with(|wakes| {
                            if said {
                                self.room.end_burst(wakes);
                            }
                            wakes.flush_all();
                        });
                        if let Some(end) = end {
                            return end;
                        }
                        // Most clients go quiet once joined: the buffer the
                        // handshake was read into goes back now rather than
                        // at the next deadline.
                        if !joined_before && self.ever_joined {
                            release_read_buffer(frames);
                        }
                        // A hello or join makes a deadline moot: the timer then
                        // wakes once early and is set again (no reset per frame).
                    }
                }
            }
        }
    }

    /// Whether the join deadline still applies: not joined yet, and not a
    /// watcher (which never joins: it is not in the chat).
    fn awaits_join(&self) -> bool {
        !self.ever_joined && self.watcher.is_none()
    }

    /// Handles `first` and then the frames already buffered behind it,
    /// without another trip through `select!`, whose timer and token
    /// futures cost more than a small frame (publishers send dozens per read).
    fn on_burst<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
        &mut self,
        first: Option<Result<BytesMut, FrameError>>,
        frames: &mut FramedRead<R, FrameDecoder>,
        writer: &Writer<W>,
    ) -> Option<End> {
        // Once per burst: the clock is read for keepalive only.
        self.last_heard = Instant::now();
        if let Some(end) = self.on_frame(first) {
            return Some(end);
        }
        for _ in 0..BURST_FRAMES {
            if burst::with(|wakes| wakes.queued()) >= BURST_DELIVERIES || writer.is_over() {
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
}

#[cfg(test)]
mod tests;
