//! The flags of `chatty server`, grouped as `--help` shows them: network,
//! cluster, limits, TLS, testing aids. Defaults come from the library's
//! configuration types, so the help and the code cannot disagree.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::Args;

use crate::membership::MembershipConfig;
use crate::net::{ClusterConfig, TransportConfig};
use crate::protocol::DEFAULT_PORT;
use crate::seal::DEFAULT_MAX_CLOCK_SKEW;
use crate::server::ServerConfig;

/// The library's defaults, which the flags show and fall back to.
fn defaults() -> ServerConfig {
    ServerConfig::default()
}

fn membership_defaults() -> MembershipConfig {
    MembershipConfig::default()
}

fn millis(d: Duration) -> u64 {
    d.as_millis() as u64
}

/// A duration given in (possibly fractional) seconds on the command line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(in crate::cli) struct Secs(pub(in crate::cli) Duration);

impl FromStr for Secs {
    type Err = String;

    fn from_str(s: &str) -> Result<Secs, String> {
        let secs: f64 = s
            .parse()
            .map_err(|_| format!("{s:?} is not a number of seconds"))?;
        Duration::try_from_secs_f64(secs)
            .map(Secs)
            .map_err(|_| format!("{s:?} is not a valid duration"))
    }
}

impl fmt::Display for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.as_secs_f64())
    }
}

/// Shown after `chatty server --help`.
pub(in crate::cli) const EXAMPLES: &str = "\
Examples:
  chatty server                                   # LAN defaults: port 7878, multicast discovery
  chatty server --iface eth0                      # discovery on a chosen interface
  chatty server --iface eth0 --group '[ff12::7877]:7877' --listen '[::]:7878'   # IPv6
  chatty server --udp-port 7879 --no-multicast --peer 10.0.0.1:7879             # no multicast
  chatty server --key-file /etc/chatty/cluster.key --tls-cert cert.pem --tls-key key.pem";

#[derive(Debug, Args)]
pub(in crate::cli) struct ServerArgs {
    #[command(flatten)]
    pub(in crate::cli) network: NetworkArgs,
    #[command(flatten)]
    pub(in crate::cli) cluster: ClusterArgs,
    #[command(flatten)]
    pub(in crate::cli) limits: LimitArgs,
    #[command(flatten)]
    pub(in crate::cli) tls: TlsArgs,
    #[command(flatten)]
    pub(in crate::cli) irc: IrcArgs,
    #[command(flatten)]
    pub(in crate::cli) testing: TestingArgs,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "IRC gateway")]
pub(in crate::cli) struct IrcArgs {
    /// Also serve IRC clients on this address (IRC.md); over TLS when --tls-cert is given.
    /// Off unless given.
    #[arg(long, value_name = "ADDR")]
    pub(super) irc: Option<String>,
    /// The server name the IRC gateway uses in its replies (default: the host name).
    #[arg(long, value_name = "NAME")]
    pub(super) irc_name: Option<String>,
    /// IRC users start in no channel, as on other IRC servers, instead of in #lobby with
    /// every Chatty member (Chatty clients then see them join and leave #lobby at once).
    #[arg(long)]
    pub(super) irc_no_lobby: bool,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Network")]
pub(in crate::cli) struct NetworkArgs {
    /// Address for client connections (port 0 picks a free port; `[::]:7878` for IPv6 and IPv4).
    #[arg(long, env = "CHATTY_LISTEN", hide_env_values = true, value_name = "ADDR",
          default_value_t = format!("0.0.0.0:{DEFAULT_PORT}"))]
    pub(super) listen: String,
    /// Interface for multicast and cluster traffic: a name (eth0) or one of its addresses.
    /// Without it, the interface the system routes the group through (logged at start).
    #[arg(
        long,
        env = "CHATTY_IFACE",
        hide_env_values = true,
        value_name = "NAME|IP"
    )]
    pub(super) iface: Option<String>,
    /// Multicast group and port for discovery: IPv4 (239.255.0.0/16) or IPv6 ([ff12::…]:PORT).
    #[arg(long, value_name = "IP:PORT",
          default_value_t = TransportConfig::default().group)]
    pub(super) group: SocketAddr,
    /// Fixed UDP port for cluster traffic, so others can name this server with --peer (0 = any).
    #[arg(long, value_name = "PORT", default_value_t = TransportConfig::default().udp_port)]
    pub(super) udp_port: u16,
    /// Another server's UDP address (its --udp-port), for networks without multicast.
    /// Repeatable.
    #[arg(long = "peer", value_name = "HOST:PORT")]
    pub(super) peers: Vec<String>,
    /// Do not use multicast; find servers through --peer only.
    #[arg(long)]
    pub(super) no_multicast: bool,
    /// Serve the web client, its WebSocket, /cluster, /metrics and /healthz here
    /// (e.g. 0.0.0.0:7880; port 0 picks a free port). Off by default (README says why).
    /// HTTPS when --tls-cert is given.
    #[arg(long, env = "CHATTY_HTTP", hide_env_values = true, value_name = "ADDR")]
    pub(super) http: Option<String>,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Cluster")]
pub(in crate::cli) struct ClusterArgs {
    /// Cluster name: servers with another name ignore each other.
    #[arg(long, env = "CHATTY_CLUSTER", hide_env_values = true, value_name = "NAME",
          default_value_t = ClusterConfig::default().name)]
    pub(in crate::cli) cluster: String,
    /// Cluster keyring file (`chatty keygen` makes one; reread on SIGHUP). Without it,
    /// cluster traffic is neither authenticated nor encrypted.
    #[arg(
        long,
        env = "CHATTY_KEY_FILE",
        hide_env_values = true,
        value_name = "PATH"
    )]
    pub(super) key_file: Option<PathBuf>,
    /// With a key: seconds a datagram's send time may differ from this server's clock.
    #[arg(long, value_name = "SECS", default_value_t = Secs(DEFAULT_MAX_CLOCK_SKEW))]
    pub(super) max_clock_skew: Secs,
    /// Milliseconds between heartbeats.
    #[arg(long, value_name = "MS",
          default_value_t = millis(membership_defaults().heartbeat_interval))]
    pub(super) heartbeat_ms: u64,
    /// Milliseconds of silence before a server is shown as suspect.
    #[arg(long, value_name = "MS", default_value_t = millis(membership_defaults().suspect_after))]
    pub(super) suspect_ms: u64,
    /// Milliseconds of silence before a server is removed.
    #[arg(long, value_name = "MS", default_value_t = millis(membership_defaults().dead_after))]
    pub(super) dead_ms: u64,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Limits")]
pub(in crate::cli) struct LimitArgs {
    /// Requests per second each client may make (0 = no limit).
    #[arg(long, value_name = "PER_SEC", default_value_t = defaults().rate_limit.per_sec)]
    pub(super) rate_limit: f64,
    /// Requests a client may make in a burst.
    #[arg(long, value_name = "N", default_value_t = defaults().rate_limit.burst)]
    pub(super) burst: u32,
    /// Frames that may queue for one client before it is dropped as too slow.
    #[arg(long, value_name = "FRAMES", default_value_t = defaults().client_queue)]
    pub(super) client_queue: usize,
    /// Seconds of silence after which the server pings a client.
    #[arg(long, value_name = "SECS", default_value_t = Secs(defaults().keepalive))]
    pub(super) keepalive: Secs,
    /// Seconds of silence after which the server drops a client.
    #[arg(long, value_name = "SECS", default_value_t = Secs(defaults().idle_timeout))]
    pub(super) idle_timeout: Secs,
    /// Recent messages of a room a client is shown when it joins or enters it
    /// (0 = none; at most 1000, the messages a server keeps per room).
    #[arg(long, value_name = "N", default_value_t = defaults().history_on_join)]
    pub(super) history: usize,
    /// Rooms with more members than this are large: nobody is shown the
    /// others' joins and leaves there, and members are listed on request
    /// (`/who`), a page at a time (0 = never).
    #[arg(long, value_name = "N", default_value_t = defaults().large_room)]
    pub(super) large_room: usize,
    /// Most client connections at once (0 = no limit).
    #[arg(long, value_name = "N", default_value_t = defaults().max_connections)]
    pub(super) max_connections: usize,
    /// Most client connections at once from one address (0 = no limit).
    #[arg(long, value_name = "N", default_value_t = defaults().max_per_ip)]
    pub(super) max_per_ip: usize,
    /// Seconds a new connection has to say hello and join before it is closed.
    #[arg(long, value_name = "SECS", default_value_t = Secs(defaults().join_timeout))]
    pub(super) join_timeout: Secs,
    /// Threads serving clients (0 = one per CPU core; on a busy shared machine 1 can be
    /// faster, see BENCHMARKS.md).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 0,
        env = "CHATTY_THREADS",
        hide_env_values = true
    )]
    pub(in crate::cli) threads: usize,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "TLS")]
pub(in crate::cli) struct TlsArgs {
    /// PEM certificate chain (leaf first): serve clients over TLS. Needs --tls-key.
    #[arg(
        long,
        env = "CHATTY_TLS_CERT",
        hide_env_values = true,
        value_name = "PATH",
        requires = "tls_key"
    )]
    pub(super) tls_cert: Option<PathBuf>,
    /// PEM private key belonging to --tls-cert.
    #[arg(
        long,
        env = "CHATTY_TLS_KEY",
        hide_env_values = true,
        value_name = "PATH",
        requires = "tls_cert"
    )]
    pub(super) tls_key: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Testing aids")]
pub(in crate::cli) struct TestingArgs {
    /// Drop this percentage of outgoing cluster datagrams, to see loss repaired.
    #[arg(long, value_name = "PERCENT", default_value_t = 0.0)]
    pub(super) inject_loss: f64,
}
