//! `/ws`: a browser's chat session. Each binary WebSocket message is one
//! client frame without its length prefix, and each server frame goes out
//! as one binary message (PROTOCOL.md, "WebSocket"). The bridge adds and
//! strips the four-byte prefix and nothing else: it never decodes a chat
//! frame, so whatever a browser sends is judged by the session exactly as
//! the same bytes from a TCP client would be.
//!
//! Browsers send an `Origin` with every WebSocket; a page from another
//! site must not chat in the user's name, so only pages of this cluster's
//! servers may connect (the page fails over to the others' sockets).
//! Clients that send no Origin (not browsers) are let in, like TCP clients.

use std::net::SocketAddr;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use bytes::{BufMut, Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::codec::Decoder;
use tracing::debug;

use super::{Peer, Web};
use crate::protocol::codec::FrameDecoder;
use crate::protocol::{MAX_CLIENT_FRAME, MAX_SERVER_FRAME};
use crate::server::pipe::{Pipe, PipeReader, PipeWriter};

/// The largest WebSocket message taken in. Bigger than any valid client
/// frame, so that an oversized one reaches the session and is refused
/// there with error 101, as on TCP; far bigger ones end the socket.
pub const MAX_WS_MESSAGE: usize = 4 * MAX_CLIENT_FRAME;

/// `GET /ws`: checks the Origin, opens a session, upgrades.
pub async fn upgrade(
    State(web): State<Web>,
    Extension(Peer(peer)): Extension<Peer>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if let Err(refusal) = check_origin(&headers, &web) {
        debug!(%peer, %refusal, "websocket refused");
        return (StatusCode::FORBIDDEN, refusal).into_response();
    }
    // Counted under the connection caps like a TCP client.
    let pipe = match web.sessions.open(peer) {
        Ok(pipe) => pipe,
        Err(refusal) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("{refusal:?}: this server is full; try another"),
            )
                .into_response()
        }
    };
    let sessions = web.sessions.clone();
    ws.max_message_size(MAX_WS_MESSAGE)
        .max_frame_size(MAX_WS_MESSAGE)
        .on_upgrade(move |socket| async move {
            // The server waits for this task at shutdown, so the browser
            // gets its `shutdown` frame before the process exits.
            let (done, wait) = tokio::sync::oneshot::channel::<()>();
            sessions.spawn(async move {
                let _ = wait.await;
            });
            bridge(socket, pipe, peer).await;
            drop(done);
        })
}

/// Whether a browser page at the request's `Origin` may open a session:
/// a page of this server (the Origin is the Host asked for), or of any
/// server the cluster has announced, dead ones included, since their
/// pages fail over here.
pub fn check_origin(headers: &HeaderMap, web: &Web) -> Result<(), String> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin
        .to_str()
        .map_err(|_| "unreadable Origin".to_string())?;
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .ok_or_else(|| format!("Origin {origin:?} is not a web page of this cluster"))?;
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    if host.is_some_and(|h| h.eq_ignore_ascii_case(authority)) {
        return Ok(());
    }
    if web.cluster.knows_web(authority) {
        Ok(())
    } else {
        Err(format!(
            "Origin {origin:?} is not a web page of this cluster"
        ))
    }
}

/// Moves frames both ways until either side ends, then closes both.
pub async fn bridge(socket: WebSocket, pipe: Pipe, peer: SocketAddr) {
    let (to_browser, from_browser) = socket.split();
    // Halves of one pipe: dropping both (when either direction ends)
    // closes the session's end, as a closed TCP connection would.
    let (from_session, to_session) = pipe.into_split();
    tokio::select! {
        _ = upstream(from_browser, to_session, peer) => {}
        _ = downstream(from_session, to_browser) => {}
    }
}

/// Browser → session: each binary message gets its length prefix.
async fn upstream(
    mut from_browser: futures_util::stream::SplitStream<WebSocket>,
    mut to_session: PipeWriter,
    peer: SocketAddr,
) {
    while let Some(message) = from_browser.next().await {
        let body = match message {
            Ok(Message::Binary(body)) => body,
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(Message::Ping(_) | Message::Pong(_)) => continue,
            // Not a frame of this protocol: passed on as the one frame that
            // is never valid (length 0), so the session answers error 100
            // `bad_frame` and closes, as it would for any bad frame.
            Ok(Message::Text(_)) => {
                debug!(%peer, "text message on the chat socket");
                Bytes::new()
            }
        };
        let prefix = prefixed(&body);
        // An oversized frame is judged on its prefix alone, as on TCP; the
        // session answers 101 and closes, so nothing more goes in.
        let oversized = body.len() > MAX_CLIENT_FRAME;
        let written = if oversized {
            to_session.write_all(&prefix[..4]).await
        } else {
            to_session.write_all(&prefix).await
        };
        if written.is_err() || oversized {
            break;
        }
    }
    let _ = to_session.shutdown().await;
    // Wait for the session to finish answering (say, its error for a bad
    // frame): the downstream half ends this task when the session closes.
    std::future::pending::<()>().await;
}

/// `body` with its four-byte big-endian length in front.
pub fn prefixed(body: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(4 + body.len());
    out.put_u32(u32::try_from(body.len()).unwrap_or(u32::MAX));
    out.put_slice(body);
    out.freeze()
}

/// Session → browser: each frame, without its prefix, as one binary message.
async fn downstream(
    mut from_session: PipeReader,
    mut to_browser: futures_util::stream::SplitSink<WebSocket, Message>,
) {
    let mut decoder = FrameDecoder::new(MAX_SERVER_FRAME);
    let mut buf = BytesMut::with_capacity(16 * 1024);
    loop {
        match decoder.decode(&mut buf) {
            Ok(Some(body)) => {
                if to_browser
                    .send(Message::Binary(body.freeze()))
                    .await
                    .is_err()
                {
                    return;
                }
                continue;
            }
            Ok(None) => {}
            // The session writes only whole, valid frames.
            Err(_) => break,
        }
        match from_session.read_buf(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    let _ = to_browser
        .send(Message::Close(Some(CloseFrame {
            code: axum::extract::ws::close_code::NORMAL,
            reason: "the session ended".into(),
        })))
        .await;
}
