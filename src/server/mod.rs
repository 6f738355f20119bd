//! The TCP chat server.
//!
//! [`Server::bind`] opens the listener; [`Server::run`] accepts connections
//! until the `shutdown` future completes, then tells every client the server
//! is going away, waits (bounded) for their queues to flush, and returns.
//! Each connection runs as a [`session`] task plus a [`writer`] task; all of
//! them meet in the [`room::Room`].

pub mod config;
pub mod rate_limit;
pub mod room;
pub mod session;
pub mod writer;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, ToSocketAddrs};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

pub use config::{RateLimit, ServerConfig};
use room::Room;

use crate::protocol::ServerId;

/// A bound, not yet running, chat server.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    room: Arc<Room>,
    config: Arc<ServerConfig>,
}

impl Server {
    /// Binds the client listener. Port 0 picks a free port; see [`Server::local_addr`].
    pub async fn bind(addr: impl ToSocketAddrs, config: ServerConfig) -> io::Result<Server> {
        Server::from_listener(TcpListener::bind(addr).await?, config)
    }

    /// Wraps an already bound listener.
    pub fn from_listener(listener: TcpListener, config: ServerConfig) -> io::Result<Server> {
        let addr = listener.local_addr()?;
        let room = Room::new(ServerId::random(), addr.to_string(), config.client_queue);
        Ok(Server {
            listener,
            room: Arc::new(room),
            config: Arc::new(config),
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// This server's incarnation id.
    pub fn id(&self) -> ServerId {
        self.room.id()
    }

    /// Serves clients until `shutdown` completes, then notifies and drains them.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let Server {
            listener,
            room,
            config,
        } = self;
        info!(server = %room.id(), addr = %listener.local_addr()?, "serving clients");
        let stop = CancellationToken::new();
        let tasks = TaskTracker::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        tasks.spawn(session::serve(
                            stream, peer, room.clone(), config.clone(), stop.clone()));
                    }
                    Err(err) => {
                        // Usually EMFILE: back off instead of spinning.
                        warn!(cause = %err, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
            }
        }
        drop(listener);
        info!(
            connections = room.connection_count(),
            "shutting down: notifying clients"
        );
        room.begin_shutdown("the server is shutting down");
        stop.cancel();
        tasks.close();
        if tokio::time::timeout(config.shutdown_grace, tasks.wait())
            .await
            .is_err()
        {
            warn!(
                remaining = tasks.len(),
                "some connections did not close in time"
            );
        }
        info!("stopped");
        Ok(())
    }
}
