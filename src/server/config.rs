//! Server tuning knobs, with defaults fit for people typing on a LAN.

use std::time::Duration;

use super::tls::ServerTls;
use crate::cluster::ClusterConfig;
pub use crate::protocol::rate::RateLimit;

/// Default cap on open client connections. Comfortably above any LAN chat,
/// and low enough that the fds fit a raised `ulimit -n` (the server warns
/// at start if the limit is lower, because then `accept` fails with EMFILE
/// before the cap is reached).
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// Default cap per source address: a person needs one or two connections
/// (chat plus the odd `chatty status`); 64 leaves room for a room of people
/// behind one NAT address while stopping one host from taking every slot.
pub const DEFAULT_MAX_PER_IP: usize = 64;

/// Default time from accept to a successful `join`.
pub const DEFAULT_JOIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything the TCP server can be tuned with.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Flood limit applied to `join`, `send` and `status`.
    pub rate_limit: RateLimit,
    /// Frames that may wait for one client before it is disconnected as too
    /// slow. Frames are shared between clients, so this bounds memory per
    /// client by the frames' sizes, not by a copy each.
    pub client_queue: usize,
    /// Send a `ping` after this long without hearing from a client.
    pub keepalive: Duration,
    /// Close a connection after this long without hearing from it.
    pub idle_timeout: Duration,
    /// A connection must complete `hello` (and, with TLS, the TLS
    /// handshake) within this time of being accepted.
    pub handshake_timeout: Duration,
    /// A connection must have joined within this time of being accepted,
    /// or it is closed: idle half-open connections cost a slot each.
    pub join_timeout: Duration,
    /// Most client connections open at once (0 = no limit). Each costs a
    /// file descriptor; see [`DEFAULT_MAX_CONNECTIONS`].
    pub max_connections: usize,
    /// Most client connections open at once from one source address (an
    /// IPv6 /64 counts as one address; 0 = no limit).
    pub max_per_ip: usize,
    /// Serve clients over TLS instead of plain TCP.
    pub tls: Option<ServerTls>,
    /// How long shutdown waits for connections to flush their last frames.
    pub shutdown_grace: Duration,
    /// How many recent messages a client sees when it joins (0 = none).
    pub history_on_join: usize,
    /// Cluster membership; `None` runs a lone server with no UDP at all.
    pub cluster: Option<ClusterConfig>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            rate_limit: RateLimit::default(),
            client_queue: 1024,
            keepalive: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(45),
            handshake_timeout: Duration::from_secs(10),
            join_timeout: DEFAULT_JOIN_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_per_ip: DEFAULT_MAX_PER_IP,
            tls: None,
            shutdown_grace: Duration::from_secs(3),
            history_on_join: 20,
            cluster: None,
        }
    }
}
