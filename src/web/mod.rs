//! The web front-end: one HTTP listener (`chatty server --http ADDR`) that
//! serves the browser client, its WebSocket, the live cluster view, and
//! `/metrics` and `/healthz`.
//!
//! It sits above [`crate::server`] and speaks no chat of its own: each
//! WebSocket opens an ordinary session through [`Sessions`] and only
//! re-frames ([`socket`]), so caps, the rate limit, slow-reader eviction and
//! shutdown notices are the session's. With a certificate (the server's
//! TLS settings) the listener speaks only HTTPS/WSS, as the client port
//! speaks only TLS.
//!
//! * [`assets`] — the page, compiled into the binary from `web/`.
//! * [`socket`] — `/ws`: the Origin check and the frame bridge.
//! * [`cluster`] — `/cluster`: membership changes as a timeline, pushed as
//!   server-sent events.
//! * [`metrics`] — `/metrics` (Prometheus text) and `/healthz`.

pub mod assets;
pub mod cluster;
pub mod metrics;
pub mod socket;

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::routing::get;
use axum::{Extension, Router};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::either::Either;
use tracing::{debug, info, warn};

use crate::server::Sessions;

/// What every handler shares.
#[derive(Clone)]
pub struct Web {
    sessions: Sessions,
    cluster: cluster::Feed,
}

/// The peer of an HTTP connection, for the session it may open.
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub SocketAddr);

/// The routes, without a listener: the tests drive it directly too.
pub fn router(sessions: Sessions) -> Router {
    let web = Web {
        cluster: cluster::Feed::start(&sessions),
        sessions,
    };
    Router::new()
        .route("/", get(assets::index))
        .route("/cluster", get(assets::cluster_page))
        .route("/assets/{file}", get(assets::file))
        .route("/ws", get(socket::upgrade))
        .route("/cluster/events", get(cluster::events))
        .route("/cluster.json", get(cluster::snapshot))
        .route("/metrics", get(metrics::metrics))
        .route("/healthz", get(metrics::healthz))
        .with_state(web)
}

/// Serves `listener` until the server begins shutting down, every
/// connection as a task the server waits for. Returns the bound address.
pub fn spawn(listener: TcpListener, sessions: &Sessions) -> io::Result<SocketAddr> {
    let addr = listener.local_addr()?;
    let app = router(sessions.clone());
    let accepting = sessions.clone();
    sessions.spawn(accept_loop(listener, app, accepting));
    info!(%addr, tls = sessions.config().tls.is_some(), "serving the web client");
    Ok(addr)
}

async fn accept_loop(listener: TcpListener, app: Router, sessions: Sessions) {
    let stopping = sessions.stopping();
    tokio::pin!(stopping);
    loop {
        tokio::select! {
            _ = &mut stopping => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let app = app.clone().layer(Extension(Peer(peer)));
                    sessions.spawn(serve_connection(stream, peer, app, sessions.clone()));
                }
                Err(err) => {
                    // Usually EMFILE: back off instead of spinning.
                    warn!(cause = %err, "http accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
}

/// One HTTP connection (HTTP/1.1 with upgrades, or HTTP/2), over TLS when
/// the server has a certificate. Ends soon after the server starts to stop.
async fn serve_connection(stream: TcpStream, peer: SocketAddr, app: Router, sessions: Sessions) {
    let config = sessions.config();
    let io = match &config.tls {
        None => Either::Left(stream),
        Some(tls) => {
            let deadline = tokio::time::Instant::now() + config.handshake_timeout;
            match tls.handshake(stream, deadline).await {
                Some(stream) => Either::Right(stream),
                None => return,
            }
        }
    };
    let mut builder = Builder::new(TokioExecutor::new());
    // A connection that never finishes its request head holds a task:
    // bounded like a chat connection that never says hello.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(config.handshake_timeout);
    let conn =
        builder.serve_connection_with_upgrades(TokioIo::new(io), TowerToHyperService::new(app));
    tokio::pin!(conn);
    let stopping = sessions.stopping();
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(err) = result {
                debug!(%peer, cause = %err, "http connection ended with an error");
            }
        }
        _ = stopping => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(1), conn).await;
        }
    }
}
