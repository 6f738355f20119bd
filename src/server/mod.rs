//! The TCP chat server.
//!
//! [`Server::bind`] opens the listener; [`Server::run`] accepts connections
//! until the `shutdown` future completes, then tells every client the server
//! is going away, waits (bounded) for their queues to flush, and returns.
//! Each connection runs as a [`session`] task plus a [`writer`] task; all of
//! them meet in the [`room::Room`]. [`admission`] caps how many connections
//! there are; [`tls`] optionally wraps them in TLS.

pub mod admission;
pub mod bridge;
pub mod certs;
pub mod closing;
pub mod config;
pub mod pipe;
pub mod room;
pub mod session;
pub mod socket;
pub mod tls;
pub mod writer;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use admission::{Admission, Refusal};
pub use bridge::Sessions;
pub use config::{RateLimit, ServerConfig};
use room::Room;
pub use tls::{ServerTls, TlsSetupError};

use crate::membership::MemberInfo;
use crate::net::driver::{self, ClusterHandle, ClusterView, Wiring};
use crate::net::{Transport, UdpTransport};
use crate::node::Node;
use crate::protocol::{ErrorCode, ServerId};
use crate::relay::ChatEvent;

/// A bound, not yet running, chat server.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    room: Arc<Room>,
    config: Arc<ServerConfig>,
    advertised: SocketAddr,
    cluster: Option<PendingCluster>,
    admission: Arc<Admission>,
    /// Cancelled when shutdown begins: every session stops.
    stop: CancellationToken,
    /// Every session and gateway task, waited for at shutdown.
    tasks: TaskTracker,
}

/// The cluster side of a server, bound but not yet running: a node, its
/// transport (captured in `start`), and the channels to the room.
struct PendingCluster {
    udp_addr: SocketAddr,
    view_tx: watch::Sender<ClusterView>,
    view: watch::Receiver<ClusterView>,
    local: mpsc::UnboundedReceiver<(u64, ChatEvent)>,
    start: Box<dyn FnOnce(Wiring) -> ClusterHandle + Send>,
}

impl std::fmt::Debug for PendingCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingCluster")
            .field("udp_addr", &self.udp_addr)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Binds the client listener. Port 0 picks a free port; see [`Server::local_addr`].
    pub async fn bind(addr: impl ToSocketAddrs, config: ServerConfig) -> io::Result<Server> {
        Server::from_listener(TcpListener::bind(addr).await?, config)
    }

    /// Wraps an already bound listener. With a cluster configured, also
    /// opens its UDP sockets (so it must run inside a tokio runtime).
    pub fn from_listener(listener: TcpListener, config: ServerConfig) -> io::Result<Server> {
        match &config.cluster {
            None => Server::assemble(listener, config, None::<UdpTransport>),
            Some(cc) => {
                let transport = UdpTransport::bind(&cc.transport).map_err(io::Error::other)?;
                Server::assemble(listener, config, Some(transport))
            }
        }
    }

    /// Like [`Server::from_listener`], with the cluster on `transport`
    /// instead of UDP sockets opened from the config: fault injection
    /// ([`crate::net::Lossy`]) or an in-memory network in tests. The
    /// config's `cluster` must be set; its transport settings are unused.
    pub fn with_transport<T: Transport>(
        listener: TcpListener,
        config: ServerConfig,
        transport: T,
    ) -> io::Result<Server> {
        if config.cluster.is_none() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a transport was given but no cluster is configured",
            ));
        }
        Server::assemble(listener, config, Some(transport))
    }

    fn assemble<T: Transport>(
        listener: TcpListener,
        config: ServerConfig,
        transport: Option<T>,
    ) -> io::Result<Server> {
        config
            .validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        let id = ServerId::random();
        let local = listener.local_addr()?;
        let (advertised, cluster) = match (&config.cluster, transport) {
            (Some(cc), Some(transport)) => {
                let udp_addr = transport.local_addr();
                // Clients elsewhere cannot connect to 0.0.0.0: advertise the
                // interface address instead.
                let advertised = advertise(local, udp_addr);
                let me = MemberInfo {
                    id,
                    client_addr: advertised,
                    udp_addr,
                    web_addr: config.web_addr.map(|web| advertise(web, udp_addr)),
                };
                let node = Node::new(
                    &cc.node_config(transport.multicast()),
                    me,
                    fastrand::u64(..),
                    driver::now(),
                );
                let (view_tx, view) = watch::channel(ClusterView::of(&node));
                let (local_tx, local) = mpsc::unbounded_channel();
                let transport = Arc::new(transport);
                let pending = PendingCluster {
                    udp_addr,
                    view_tx,
                    view,
                    local,
                    start: Box::new(move |wiring| driver::spawn(node, transport, wiring)),
                };
                (advertised, Some((pending, local_tx)))
            }
            _ => (local, None),
        };
        let admission = Admission::new(config.max_connections, config.max_per_ip);
        let web = config.web_addr.map(|web| match &cluster {
            Some((pending, _)) => advertise(web, pending.udp_addr),
            None => web,
        });
        let mut room = Room::new(id, advertised.to_string(), config.client_queue)
            .with_history(config.history_on_join)
            .with_large_room(config.large_room)
            .with_admission(admission.clone())
            .with_web(web.map(|w| w.to_string()));
        if let Some((pending, local_tx)) = &cluster {
            room = room
                .with_cluster(pending.view.clone())
                .with_relay(local_tx.clone());
        }
        let cluster = cluster.map(|(pending, _)| pending);
        Ok(Server {
            listener,
            room: Arc::new(room),
            config: Arc::new(config),
            advertised,
            cluster,
            admission,
            stop: CancellationToken::new(),
            tasks: TaskTracker::new(),
        })
    }

    /// A handle for gateways (IRC, WebSockets) to open sessions on this
    /// server; valid until it has shut down.
    pub fn sessions(&self) -> Sessions {
        Sessions {
            room: self.room.clone(),
            config: self.config.clone(),
            admission: self.admission.clone(),
            stop: self.stop.clone(),
            tasks: self.tasks.clone(),
            view: self.cluster_view(),
        }
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The client address announced to the cluster (the bound address,
    /// with an unspecified IP replaced by the interface's).
    pub fn advertised_addr(&self) -> SocketAddr {
        self.advertised
    }

    /// The UDP address other servers reach this one at, if clustered.
    pub fn udp_addr(&self) -> Option<SocketAddr> {
        self.cluster.as_ref().map(|c| c.udp_addr)
    }

    /// A live view of the cluster's members, if clustered.
    pub fn cluster_view(&self) -> Option<watch::Receiver<ClusterView>> {
        self.cluster.as_ref().map(|c| c.view.clone())
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
            cluster,
            admission,
            stop,
            tasks,
            ..
        } = self;
        info!(server = %room.id(), addr = %listener.local_addr()?, tls = config.tls.is_some(), "serving clients");
        let cluster = cluster.map(|c| {
            // Members learn of server changes, so they know where to fail over.
            let mut view = c.view.clone();
            let announcer = room.clone();
            tokio::spawn(async move {
                let mut last = (announcer.server_addrs(), announcer.web_addrs());
                while view.changed().await.is_ok() {
                    let now = (announcer.server_addrs(), announcer.web_addrs());
                    if now != last {
                        announcer.announce_servers(now.0.clone(), now.1.clone());
                        last = now;
                    }
                }
            });
            let (deliveries_tx, mut deliveries) = mpsc::unbounded_channel();
            let remote_room = room.clone();
            // Ends when the cluster task (the only sender) ends. What has
            // arrived meanwhile is applied together, a bounded batch at a time.
            tokio::spawn(async move {
                let mut batch = Vec::with_capacity(DELIVERY_BATCH);
                while deliveries.recv_many(&mut batch, DELIVERY_BATCH).await > 0 {
                    remote_room.apply_all(batch.drain(..));
                }
            });
            (c.start)(Wiring {
                view_tx: c.view_tx,
                local: c.local,
                deliveries: deliveries_tx,
            })
        });
        spawn_counts(room.clone(), stop.clone());
        check_fd_limit(config.max_connections);
        let refusing = Arc::new(Semaphore::new(MAX_REFUSING));
        let mut last_refusal_log: Option<std::time::Instant> = None;
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => match admission.admit(peer.ip()) {
                        Ok(permit) => {
                            tasks.spawn(session::serve(
                                stream, peer, permit, room.clone(), config.clone(), stop.clone()));
                        }
                        Err(refusal) => {
                            turn_away(stream, refusal, config.tls.is_some(), &refusing);
                            if last_refusal_log.is_none_or(|t| t.elapsed() >= REFUSAL_LOG_EVERY) {
                                last_refusal_log = Some(std::time::Instant::now());
                                let refused = admission.refused();
                                warn!(
                                    %peer, ?refusal, open = admission.open(),
                                    refused_total_cap = refused.total_cap,
                                    refused_per_address_cap = refused.per_address_cap,
                                    "refusing connections over the cap"
                                );
                            }
                        }
                    },
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
        if let Some(cluster) = cluster {
            cluster.leave().await;
        }
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

/// The address others are told for `bound`: clients elsewhere cannot
/// connect to 0.0.0.0, so a wildcard IP becomes the cluster interface's.
fn advertise(bound: SocketAddr, udp_addr: SocketAddr) -> SocketAddr {
    if bound.ip().is_unspecified() {
        SocketAddr::new(udp_addr.ip(), bound.port())
    } else {
        bound
    }
}

/// Most refused connections being told why at once. Beyond this (a
/// connection storm), refused connections are closed without a word, so
/// refusing never costs more than this many sockets and tasks.
const MAX_REFUSING: usize = 64;

/// Most relay deliveries applied under one lock of the room: enough for a
/// datagram's worth of lines to reach each member as one entry, few enough
/// that a session waiting for the lock waits for a batch only.
const DELIVERY_BATCH: usize = 64;

/// Refusals are logged at most this often, with running totals.
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(1);

/// Tells a refused peer why, off the accept loop, or just closes.
fn turn_away(stream: TcpStream, refusal: Refusal, tls: bool, refusing: &Arc<Semaphore>) {
    // Over TLS a readable notice would need a full handshake first: work a
    // flood would get for free. The peer sees the connection closed.
    if tls {
        return;
    }
    let Ok(slot) = refusing.clone().try_acquire_owned() else {
        return;
    };
    let (code, text) = match refusal {
        Refusal::Total { limit } => (
            ErrorCode::TOO_MANY_CONNECTIONS,
            format!("this server is full ({limit} connections); try another server"),
        ),
        Refusal::PerAddress { limit } => (
            ErrorCode::TOO_MANY_FROM_ADDRESS,
            format!("too many connections from your address (at most {limit})"),
        ),
    };
    tokio::spawn(async move {
        closing::refuse(stream, code, text).await;
        drop(slot);
    });
}

/// Large rooms' live counts, batched: every [`room::COUNT_EVERY`], one
/// `room_count` to the members of each large room that changed.
fn spawn_counts(room: Arc<Room>, stop: CancellationToken) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(room::COUNT_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = every.tick() => room.publish_counts(),
            }
        }
    });
}

/// Warns if the open-files limit is below the connection cap: `accept`
/// would then fail with EMFILE before the cap is reached. Linux only.
fn check_fd_limit(max_connections: usize) {
    // Listener, UDP sockets, stdio, the runtime's own descriptors.
    const RESERVE: u64 = 64;
    let Some(soft) = open_files_limit() else {
        return;
    };
    let wanted = if max_connections == 0 {
        u64::MAX
    } else {
        max_connections as u64 + RESERVE
    };
    if soft < wanted {
        warn!(
            open_files_limit = soft,
            max_connections,
            "the open-files limit is below --max-connections; raise it (ulimit -n) \
             or lower the cap, or connections beyond the limit fail at accept"
        );
    }
}

/// The soft RLIMIT_NOFILE, read from /proc (no libc binding needed).
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}
