//! The IO shell of one IRC connection: reads lines (bounded), feeds them
//! and the Chatty session's frames to the [`Translator`], and writes what
//! it says, with a bounded output buffer.
//!
//! The shell always reads its session, whatever the IRC client does: the
//! slow party must be the IRC client, never the gateway's own pipe (a
//! session evicted as a slow reader would lose the user every room at
//! once, and the publisher's session, whose acks the shell reads, would be
//! evicted for someone else's slowness). As on other IRC servers, a client
//! whose output passes its send queue limit ([`SEND_QUEUE`]) is closed
//! with `ERROR :Closing link: SendQ exceeded`; one that reads nothing for
//! the idle timeout is closed too.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{interval, Instant};
use tokio_util::codec::Decoder;
use tracing::{debug, trace};

use crate::protocol::{encode_frame, ClientMsg, FrameDecoder, ServerMsg, MAX_SERVER_FRAME};
use crate::server::admission::Refusal;

use super::translator::{Output, Translator};
use super::{Gateway, Presence};

/// Longest line read: 8,191 bytes of tags and 512 of message (IRCv3
/// message-tags). A longer one is dropped with 417.
pub const MAX_IN_LINE: usize = 8191 + 512;

/// IRC output a client may leave unread before it is closed ("SendQ
/// exceeded"): about 3,000 chat lines.
pub const SEND_QUEUE: usize = 256 * 1024;

/// Requests for the session written ahead before the shell stops reading
/// the IRC client.
const PIPE_OUT_LIMIT: usize = 16 * 1024;

/// How much more to read from a busy session at once.
const PIPE_READ_BURST: usize = 16 * 1024;

/// The IRC client's read buffer, while it talks.
const IRC_READ: usize = 512;

/// The first read buffer for the session's frames.
const PIPE_READ_FIRST: usize = 1024;

/// Buffer capacity kept between bursts; a burst's larger one is freed
/// (and every buffer once the connection is quiet for a tick).
const IDLE_OUT: usize = 4096;

/// Now, in Unix milliseconds.
pub(super) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Serves one IRC client on `stream` until either side ends.
pub(super) async fn serve<S>(stream: S, peer: SocketAddr, gw: Arc<Gateway>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut irc_r, mut irc_w) = tokio::io::split(stream);
    let pipe = match gw.sessions.open(peer) {
        Ok(pipe) => pipe,
        Err(refusal) => {
            let why = match refusal {
                Refusal::Total { limit } => format!("the server is full ({limit} connections)"),
                Refusal::PerAddress { limit } => {
                    format!("too many connections from your address ({limit})")
                }
            };
            let line = format!("ERROR :Closing link: {why}\r\n");
            let _ = tokio::time::timeout(Duration::from_secs(2), irc_w.write_all(line.as_bytes()))
                .await;
            return;
        }
    };
    let (mut pipe_r, mut pipe_w) = pipe.into_split();
    let mut t = Translator::new(gw.info.clone(), gw.board.clone(), now_ms());
    let mut board_rx = gw.board.subscribe();
    let mut published: Option<(String, Presence)> = None;
    let mut presence_seen = t.presence_version();

    // Small to start: most connections are idle most of the time; freed
    // when quiet (a read waiting on an empty one takes 64 bytes).
    let mut irc_in = BytesMut::with_capacity(IRC_READ);
    let mut discarding = false;
    // Allocated when the session says something, freed when idle.
    let mut pipe_in = BytesMut::new();
    let mut active = false;
    let mut frames = FrameDecoder::new(MAX_SERVER_FRAME);
    let mut irc_out = BytesMut::new();
    let mut pipe_out = BytesMut::new();
    let mut need_flush = false;
    let mut closing = false;
    let mut pipe_open = true;
    let mut last_progress = Instant::now();
    let stall = Duration::from_millis(gw.info.idle_timeout_ms.max(1000));
    let mut tick = interval(Duration::from_millis(gw.info.keepalive_ms.clamp(100, 1000)));
    let stopping = gw.sessions.stopping();
    tokio::pin!(stopping);
    let mut stop_deadline: Option<Instant> = None;

    loop {
        while let Some(out) = t.poll() {
            match out {
                // The status report lists every member of the cluster:
                // through the pipe it would leave the pipe's buffer grown
                // to its size for the connection's life (64 KiB at 1,000
                // members). The server's own report, taken in place, is
                // the same answer.
                Output::Chatty(ClientMsg::Status) if t.status_is_next() => {
                    t.chatty(ServerMsg::StatusReply(gw.sessions.status()), now_ms());
                }
                Output::Chatty(msg) => pipe_out.extend_from_slice(&encode_frame(&msg)),
                Output::Close => closing = true,
            }
        }
        t.take_irc(&mut irc_out);
        if t.presence_version() != presence_seen {
            presence_seen = t.presence_version();
            let presence = t.presence();
            if presence != published {
                if let Some((name, _)) = published.take() {
                    gw.board.set(&name, None);
                }
                if let Some((name, p)) = &presence {
                    gw.board.set(name, Some(p));
                }
                published = presence;
            }
        }
        if closing && irc_out.is_empty() && (pipe_out.is_empty() || !pipe_open) {
            break;
        }
        if irc_out.len() > SEND_QUEUE {
            debug!(%peer, queued = irc_out.len(), "irc: client's send queue exceeded; closed");
            irc_out.extend_from_slice(b"ERROR :Closing link: SendQ exceeded\r\n");
            break;
        }
        if irc_out.is_empty() {
            last_progress = Instant::now();
        }
        tokio::select! {
            // A client sending faster than its session takes it waits (TCP
            // flow control), so that its sends cannot pile up here while
            // their acks pile up in the session's queue and evict it.
            read = irc_r.read_buf(&mut irc_in), if !closing && pipe_out.len() < PIPE_OUT_LIMIT => {
                active = true;
                match read {
                    Ok(0) | Err(_) => break, // the client went away
                    Ok(_) => {
                        // Filled: the client is talking; back to full bites.
                        let filled = irc_in.len() == irc_in.capacity();
                        take_lines(&mut irc_in, &mut discarding, &mut t);
                        if filled {
                            irc_in.reserve(IRC_READ);
                        }
                    }
                }
            }
            // Waits without a buffer; the read then takes what is there.
            () = pipe_r.readable(), if pipe_open => {
                active = true;
                if pipe_in.capacity() == 0 {
                    pipe_in.reserve(PIPE_READ_FIRST);
                }
                match pipe_r.read_buf(&mut pipe_in).await {
                    Ok(0) | Err(_) => {
                        pipe_open = false;
                        t.session_closed();
                    }
                    Ok(_) => {
                        // A read that filled the buffer: the session is
                        // busy (a publisher's acks and echoes, a room's
                        // traffic); read it in larger bites from now on,
                        // or it outruns us and evicts itself.
                        let filled = pipe_in.len() == pipe_in.capacity();
                        if !take_frames(&mut pipe_in, &mut frames, &mut t) {
                            pipe_open = false;
                            t.session_closed();
                        } else if filled {
                            pipe_in.reserve(PIPE_READ_BURST);
                        }
                    }
                }
            }
            wrote = async {
                if irc_out.is_empty() {
                    irc_w.flush().await.map(|()| 0)
                } else {
                    irc_w.write(&irc_out).await
                }
            }, if !irc_out.is_empty() || need_flush => {
                match wrote {
                    Err(_) => break,
                    Ok(0) if !irc_out.is_empty() => break,
                    Ok(_) if irc_out.is_empty() => need_flush = false,
                    Ok(n) => {
                        irc_out.advance(n);
                        need_flush = true;
                        last_progress = Instant::now();
                    }
                }
            }
            wrote = pipe_w.write(&pipe_out), if !pipe_out.is_empty() && pipe_open => {
                match wrote {
                    Ok(0) | Err(_) => {
                        pipe_open = false;
                        t.session_closed();
                    }
                    Ok(n) => pipe_out.advance(n),
                }
            }
            _ = tick.tick() => {
                t.tick(now_ms());
                // Give back what a burst grew, once it is over, and all
                // of it once nothing happened for a tick.
                let quiet = !std::mem::take(&mut active);
                if irc_in.is_empty() && quiet {
                    irc_in = BytesMut::new();
                }
                if irc_out.is_empty() && (quiet || irc_out.capacity() > IDLE_OUT) {
                    irc_out = BytesMut::new();
                }
                if pipe_in.is_empty() && (quiet || pipe_in.capacity() > IDLE_OUT) {
                    pipe_in = BytesMut::new();
                }
                if pipe_out.is_empty() && (quiet || pipe_out.capacity() > IDLE_OUT) {
                    pipe_out = BytesMut::new();
                }
                if quiet {
                    t.shrink_idle();
                }
                if !irc_out.is_empty() && last_progress.elapsed() > stall {
                    debug!(%peer, "irc: client stopped reading; closed");
                    break;
                }
                if stop_deadline.is_some_and(|d| Instant::now() > d) {
                    break;
                }
            }
            changed = board_rx.recv() => {
                if let Ok(change) = changed {
                    t.presence_changed(&change);
                }
            }
            _ = &mut stopping, if stop_deadline.is_none() => {
                // The session sends its shutdown notice; give it a moment.
                stop_deadline = Some(Instant::now() + Duration::from_secs(2));
            }
        }
    }
    if let Some((name, _)) = published {
        gw.board.set(&name, None);
    }
    // Both at once: the IRC client may never read its last lines, and
    // meanwhile the session must still be read (and ended by our close),
    // or it would be evicted as too slow for the client's slowness.
    let flush_irc = async {
        let _ = irc_w.write_all(&irc_out).await;
        let _ = irc_w.shutdown().await;
    };
    let close_session = async {
        if pipe_open {
            let _ = pipe_w.write_all(&pipe_out).await;
            let _ = pipe_w.shutdown().await;
            // What it still says goes nowhere; it ends on our close.
            // (Into the heap buffer we have: an array here would sit in
            // every connection's task for its whole life.)
            pipe_in.clear();
            while matches!(pipe_r.read_buf(&mut pipe_in).await, Ok(n) if n > 0) {
                pipe_in.clear();
            }
        }
    };
    // Boxed: this last step's futures would otherwise set the size of
    // every connection's task for its whole life (they outweigh the main
    // loop's by a few hundred bytes, one allocator size class).
    let _ = Box::pin(tokio::time::timeout(Duration::from_secs(1), async {
        tokio::join!(flush_irc, close_session)
    }))
    .await;
}

/// Hands every complete frame in `buf` to the translator, with one clock
/// read for all. False if the framing broke (the session is unusable).
fn take_frames(buf: &mut BytesMut, frames: &mut FrameDecoder, t: &mut Translator) -> bool {
    let now = now_ms();
    loop {
        match frames.decode(buf) {
            Ok(Some(body)) => {
                if let Err(err) = t.chatty_frame(&body, now) {
                    debug!(cause = %err, "irc: a frame this build cannot read; skipped");
                }
            }
            Ok(None) => return true,
            Err(_) => return false,
        }
    }
}

/// Hands every complete line in `buf` to the translator; a line longer
/// than [`MAX_IN_LINE`] is dropped (417) up to its end.
fn take_lines(buf: &mut BytesMut, discarding: &mut bool, t: &mut Translator) {
    while let Some(end) = buf.iter().position(|b| *b == b'\n') {
        let line = buf.split_to(end + 1);
        if std::mem::take(discarding) {
            continue;
        }
        let mut line = &line[..end];
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        if line.len() > MAX_IN_LINE {
            t.line_too_long(now_ms());
            continue;
        }
        let line = String::from_utf8_lossy(line);
        trace!(line = %line, "irc: in");
        t.irc_line(&line, now_ms());
        if t.is_closed() {
            buf.clear();
            return;
        }
    }
    if buf.len() > MAX_IN_LINE {
        buf.clear();
        if !*discarding {
            t.line_too_long(now_ms());
        }
        *discarding = true;
    }
}
