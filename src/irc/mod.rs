//! The IRC gateway: IRC clients (irssi, WeeChat, HexChat, …) on a Chatty
//! server, in the same chat as Chatty clients on every server of the
//! cluster. IRC.md documents it for users.
//!
//! * [`message`] — IRC lines parsed and written (tags, source, params).
//! * [`names`] — Chatty names as IRC nicks and back (one-to-one).
//! * [`text`] — formatting, CTCP ACTION, splitting long lines, timestamps.
//! * [`translator`] — one connection's IRC protocol as a sans-IO state
//!   machine between IRC lines and Chatty frames.
//! * `conn` — the IO shell around a translator; `away` — away messages
//!   shared by the gateway's connections.
//!
//! The gateway never reaches into the room: each IRC connection opens an
//! ordinary Chatty session through [`crate::server::Sessions`], so caps,
//! the flood limit, queues, slow-reader eviction and history are the
//! Chatty port's own.

mod away;
mod conn;
mod frames;
pub mod message;
pub mod names;
pub mod text;
pub mod translator;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tracing::{debug, warn};

use crate::server::Sessions;
pub use away::{Board, Presence, PresenceChange};
pub use conn::{MAX_IN_LINE, SEND_QUEUE};
pub use translator::{GatewayInfo, Output, Translator};

/// How the gateway presents itself.
#[derive(Debug, Clone)]
pub struct IrcOptions {
    /// The server name in replies (`--irc-name`).
    pub server_name: String,
    /// Message of the day lines (none: 422).
    pub motd: Vec<String>,
    /// Show IRC users in `#lobby` from the start (a forced JOIN), where
    /// every Chatty member starts; false parts it at registration, so IRC
    /// users start in no channel as on other IRC servers.
    pub lobby: bool,
    /// Speak TLS on the IRC port, with the server's certificate (it must
    /// have one).
    pub tls: bool,
}

/// What every connection of one gateway shares.
struct Gateway {
    sessions: Sessions,
    info: Arc<GatewayInfo>,
    board: Board,
}

/// The host name, for the default `--irc-name`.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty() && !h.contains(' '))
        .unwrap_or_else(|| "chatty".to_string())
}

/// Serves IRC on `listener` under the server behind `sessions`, until the
/// server stops. Returns the address bound.
pub fn start(
    listener: TcpListener,
    sessions: Sessions,
    options: IrcOptions,
) -> io::Result<SocketAddr> {
    let addr = listener.local_addr()?;
    let config = sessions.config();
    let tls = match (options.tls, &config.tls) {
        (false, _) => None,
        (true, Some(tls)) => Some(tls.acceptor().clone()),
        (true, None) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "IRC over TLS needs the server's certificate",
            ));
        }
    };
    let rate = config.rate_limit;
    let (lines_per_sec, lines_burst) = if rate.is_on() {
        (
            (rate.per_sec * 4.0).max(20.0),
            rate.burst.saturating_mul(4).max(60),
        )
    } else {
        (0.0, 1)
    };
    let info = GatewayInfo {
        server_name: options.server_name,
        network: "Chatty".to_string(),
        server_id: sessions.server_id(),
        created: text::timestamp(conn::now_ms()),
        motd: options.motd,
        keepalive_ms: config.keepalive.as_millis() as u64,
        idle_timeout_ms: config.idle_timeout.as_millis() as u64,
        lines_per_sec,
        lines_burst,
        lobby: options.lobby,
    };
    let gw = Arc::new(Gateway {
        sessions: sessions.clone(),
        info: Arc::new(info),
        board: Board::default(),
    });
    sessions.spawn(accept_loop(listener, gw, tls));
    Ok(addr)
}

async fn accept_loop(listener: TcpListener, gw: Arc<Gateway>, tls: Option<TlsAcceptor>) {
    let stopping = gw.sessions.stopping();
    tokio::pin!(stopping);
    loop {
        let accepted = tokio::select! {
            _ = &mut stopping => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                gw.sessions
                    .spawn(connection(stream, peer, gw.clone(), tls.clone()));
            }
            Err(err) => {
                // Out of file descriptors and the like: wait, do not spin.
                warn!(cause = %err, "irc: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// One accepted connection's task: the TLS handshake if the port speaks
/// TLS, then the IRC session, until it ends.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    gw: Arc<Gateway>,
    tls: Option<TlsAcceptor>,
) {
    match tls {
        None => conn::serve(stream, peer, gw).await,
        // Boxed: a TLS stream and its handshake take kilobytes, and
        // unboxed they would sit in every plain connection's task too.
        Some(acceptor) => {
            Box::pin(async move {
                if let Some(stream) = handshake(stream, &acceptor).await {
                    conn::serve(stream, peer, gw).await;
                }
            })
            .await
        }
    }
}

/// The TLS handshake within 10 s; a plain IRC client is told, in IRC.
async fn handshake(
    stream: TcpStream,
    acceptor: &TlsAcceptor,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    let deadline = Duration::from_secs(10);
    let mut first = [0u8; 1];
    match tokio::time::timeout(deadline, stream.peek(&mut first)).await {
        Ok(Ok(1)) if first[0] == crate::server::tls::TLS_HANDSHAKE_RECORD => {}
        Ok(Ok(1)) => {
            let mut stream = stream;
            let _ = stream
                .write_all(b"ERROR :Closing link: this port speaks IRC over TLS only\r\n")
                .await;
            return None;
        }
        _ => return None,
    }
    match tokio::time::timeout(deadline, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => Some(stream),
        other => {
            debug!(?other, "irc: TLS handshake failed");
            None
        }
    }
}

#[cfg(test)]
mod tests;
