//! Server tuning knobs, with defaults fit for people typing on a LAN.

use std::net::SocketAddr;
use std::time::Duration;

use super::tls::ServerTls;
use crate::net::ClusterConfig;
pub use crate::protocol::rate::RateLimit;
use crate::wire::envelope::MAX_CLUSTER_NAME;

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

/// The default limit on nick changes: 3 in a row, then one per 10 s.
pub const NICK_LIMIT: RateLimit = RateLimit {
    per_sec: 0.1,
    burst: 3,
};

/// Everything the TCP server can be tuned with.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Flood limit applied to every request but `ping`, `pong`, `hello`
    /// and `leave`.
    pub rate_limit: RateLimit,
    /// The limit on nick changes, apart from the flood limit: a burst of
    /// 3, then one per 10 s.
    pub nick_limit: RateLimit,
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
    /// How many recent messages of a room a client sees when it joins
    /// (`#lobby`) or enters the room (0 = none).
    pub history_on_join: usize,
    /// A room with more members than this is large: joins and leaves of
    /// others are not shown there, and its members are listed a page at a
    /// time on request (0 = no room is ever large). See PROTOCOL.md §17.11.
    pub large_room: usize,
    /// Cluster membership; `None` runs a lone server with no UDP at all.
    pub cluster: Option<ClusterConfig>,
    /// Where this server serves the web client (`--http`), bound by the
    /// caller before the server is built: announced to the cluster, so
    /// every page can fail over to every server's page. A wildcard IP is
    /// announced as the interface's, like the client address.
    pub web_addr: Option<SocketAddr>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            rate_limit: RateLimit::default(),
            nick_limit: NICK_LIMIT,
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
            large_room: super::room::DEFAULT_LARGE_ROOM,
            cluster: None,
            web_addr: None,
        }
    }
}

/// A setting that cannot work, named by its [`ServerConfig`] field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct ConfigError {
    /// The field at fault, as a path from [`ServerConfig`]
    /// (`cluster.membership.dead_after`); the command line maps it to its flag.
    pub field: &'static str,
    /// What is wrong and what would work.
    pub problem: String,
}

fn invalid(field: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        field,
        problem: problem.into(),
    }
}

impl ServerConfig {
    /// Checks that the settings can work together. [`crate::server::Server`]
    /// calls it before binding anything; the command line calls it to name
    /// the flag at fault.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let rate = self.rate_limit;
        if !rate.per_sec.is_finite() || rate.per_sec < 0.0 {
            return Err(invalid(
                "rate_limit.per_sec",
                "must be 0 (no limit) or more",
            ));
        }
        if rate.burst == 0 {
            return Err(invalid("rate_limit.burst", "must be at least 1"));
        }
        if self.client_queue == 0 {
            return Err(invalid("client_queue", "must be at least 1 frame"));
        }
        if self.keepalive.is_zero() {
            return Err(invalid("keepalive", "must be more than 0 seconds"));
        }
        if self.idle_timeout < self.keepalive {
            return Err(invalid(
                "idle_timeout",
                "must be at least the keepalive interval, or idle clients are dropped before they are pinged",
            ));
        }
        if self.history_on_join > super::room::RECENT_MESSAGES {
            return Err(invalid(
                "history_on_join",
                format!(
                    "at most {} (the messages a server keeps per room)",
                    super::room::RECENT_MESSAGES
                ),
            ));
        }
        if let Some(cluster) = &self.cluster {
            if cluster.name.is_empty() || cluster.name.len() > MAX_CLUSTER_NAME {
                return Err(invalid(
                    "cluster.name",
                    format!("must be 1 to {MAX_CLUSTER_NAME} bytes"),
                ));
            }
            let m = &cluster.membership;
            if !(!m.heartbeat_interval.is_zero()
                && m.heartbeat_interval < m.suspect_after
                && m.suspect_after < m.dead_after)
            {
                return Err(invalid(
                    "cluster.membership",
                    "timings must satisfy 0 < heartbeat < suspect < dead",
                ));
            }
            if let Some(seal) = &cluster.seal {
                if seal.max_clock_skew < Duration::from_secs(1) {
                    return Err(invalid(
                        "cluster.seal.max_clock_skew",
                        "must be at least 1 second",
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid() {
        ServerConfig::default().validate().unwrap();
        let clustered = ServerConfig {
            cluster: Some(ClusterConfig::default()),
            ..ServerConfig::default()
        };
        clustered.validate().unwrap();
    }

    #[test]
    fn each_bad_setting_is_named() {
        let bad = |edit: fn(&mut ServerConfig)| {
            let mut config = ServerConfig {
                cluster: Some(ClusterConfig::default()),
                ..ServerConfig::default()
            };
            edit(&mut config);
            config.validate().unwrap_err().field
        };
        assert_eq!(bad(|c| c.rate_limit.burst = 0), "rate_limit.burst");
        assert_eq!(
            bad(|c| c.rate_limit.per_sec = f64::NAN),
            "rate_limit.per_sec"
        );
        assert_eq!(bad(|c| c.client_queue = 0), "client_queue");
        assert_eq!(
            bad(|c| c.idle_timeout = Duration::from_secs(1)),
            "idle_timeout"
        );
        assert_eq!(bad(|c| c.history_on_join = 5000), "history_on_join");
        assert_eq!(
            bad(|c| c.cluster.as_mut().unwrap().name = "x".repeat(65)),
            "cluster.name"
        );
        assert_eq!(
            bad(|c| c.cluster.as_mut().unwrap().membership.dead_after = Duration::ZERO),
            "cluster.membership"
        );
    }
}
