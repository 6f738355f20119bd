//! `chatty server`: the flags, the settings built from them, and the
//! signals a running server answers (SIGINT/SIGTERM stop it, SIGHUP
//! rereads the key file).

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::irc::IrcOptions;
use crate::membership::MembershipConfig;
use crate::net::{ClusterConfig, Lossy, TransportConfig, UdpTransport};
use crate::protocol::DEFAULT_PORT;
use crate::seal::{Keyring, SealConfig, DEFAULT_MAX_CLOCK_SKEW};
use crate::server::{RateLimit, Server, ServerConfig, ServerTls};

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
pub(super) struct Secs(pub(super) Duration);

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

/// The flag that sets a [`ServerConfig`] field named in a [`crate::server::config::ConfigError`].
fn flag_of(field: &str) -> &'static str {
    match field {
        "rate_limit.per_sec" => "--rate-limit",
        "rate_limit.burst" => "--burst",
        "client_queue" => "--client-queue",
        "keepalive" => "--keepalive",
        "idle_timeout" => "--idle-timeout",
        "history_on_join" => "--history",
        "cluster.name" => "--cluster",
        "cluster.membership" => "--heartbeat-ms, --suspect-ms and --dead-ms:",
        "cluster.seal.max_clock_skew" => "--max-clock-skew",
        _ => "a setting",
    }
}

#[derive(Debug, Args)]
pub(super) struct ServerArgs {
    /// Address for client connections (port 0 picks a free port).
    #[arg(long, env = "CHATTY_LISTEN", default_value_t = format!("0.0.0.0:{DEFAULT_PORT}"))]
    listen: String,
    /// Requests per second each client may make (0 = no limit).
    #[arg(long, value_name = "PER_SEC", default_value_t = defaults().rate_limit.per_sec)]
    rate_limit: f64,
    /// Requests a client may make in a burst.
    #[arg(long, value_name = "N", default_value_t = defaults().rate_limit.burst)]
    burst: u32,
    /// Frames that may queue for one client before it is dropped as too slow.
    #[arg(long, value_name = "FRAMES", default_value_t = defaults().client_queue)]
    client_queue: usize,
    /// Seconds of silence after which the server pings a client.
    #[arg(long, value_name = "SECS", default_value_t = Secs(defaults().keepalive))]
    keepalive: Secs,
    /// Seconds of silence after which the server drops a client.
    #[arg(long, value_name = "SECS", default_value_t = Secs(defaults().idle_timeout))]
    idle_timeout: Secs,
    /// Recent messages of a room a client is shown when it joins or enters it
    /// (0 = none; at most 1000, the messages a server keeps per room).
    #[arg(long, value_name = "N", default_value_t = defaults().history_on_join)]
    history: usize,
    /// Interface address to send and join multicast on (default: the system's choice).
    #[arg(long, env = "CHATTY_IFACE", value_name = "IP")]
    iface: Option<Ipv4Addr>,
    /// Multicast group and port for discovery.
    #[arg(long, value_name = "IP:PORT", default_value_t = TransportConfig::default().group)]
    group: SocketAddrV4,
    /// Cluster name: servers with another name ignore each other.
    #[arg(long, env = "CHATTY_CLUSTER", default_value_t = ClusterConfig::default().name)]
    cluster: String,
    /// Another server's UDP address (its --udp-port), for networks without
    /// multicast. Repeatable.
    #[arg(long = "peer", value_name = "HOST:PORT")]
    peers: Vec<String>,
    /// Fixed UDP port for cluster traffic, so others can name this server with --peer (0 = any).
    #[arg(long, value_name = "PORT", default_value_t = TransportConfig::default().udp_port)]
    udp_port: u16,
    /// Do not use multicast; find servers through --peer only.
    #[arg(long)]
    no_multicast: bool,
    /// Milliseconds between heartbeats.
    #[arg(long, value_name = "MS", default_value_t = millis(membership_defaults().heartbeat_interval))]
    heartbeat_ms: u64,
    /// Milliseconds of silence before a server is shown as suspect.
    #[arg(long, value_name = "MS", default_value_t = millis(membership_defaults().suspect_after))]
    suspect_ms: u64,
    /// Milliseconds of silence before a server is removed.
    #[arg(long, value_name = "MS", default_value_t = millis(membership_defaults().dead_after))]
    dead_ms: u64,
    /// PEM certificate chain (leaf first): serve clients over TLS instead of
    /// plain TCP. Needs --tls-key.
    #[arg(
        long,
        env = "CHATTY_TLS_CERT",
        value_name = "PATH",
        requires = "tls_key"
    )]
    tls_cert: Option<PathBuf>,
    /// PEM private key belonging to --tls-cert.
    #[arg(
        long,
        env = "CHATTY_TLS_KEY",
        value_name = "PATH",
        requires = "tls_cert"
    )]
    tls_key: Option<PathBuf>,
    /// Most client connections at once (0 = no limit).
    #[arg(long, value_name = "N", default_value_t = defaults().max_connections)]
    max_connections: usize,
    /// Most client connections at once from one address (0 = no limit).
    #[arg(long, value_name = "N", default_value_t = defaults().max_per_ip)]
    max_per_ip: usize,
    /// Seconds a new connection has to say hello and join before it is closed.
    #[arg(long, value_name = "SECS", default_value_t = Secs(defaults().join_timeout))]
    join_timeout: Secs,
    /// Threads serving clients (0 = one per CPU core). Fan-out is ordered
    /// under one lock, so extra threads mostly spread the socket writes; on
    /// a machine the server shares with other busy processes, 1 can be
    /// faster (BENCHMARKS.md).
    #[arg(long, value_name = "N", default_value_t = 0, env = "CHATTY_THREADS")]
    pub(super) threads: usize,
    /// Testing aid: drop this percentage of outgoing cluster datagrams, to
    /// see loss repaired (fault tests, benchmarks). Never needed in use.
    #[arg(long, value_name = "PERCENT", default_value_t = 0.0)]
    inject_loss: f64,
    /// Cluster keyring file (one 64-hex-digit key per line, the first seals;
    /// `chatty keygen` makes one; reread on SIGHUP). Without it, cluster
    /// traffic is neither authenticated nor encrypted.
    #[arg(long, env = "CHATTY_KEY_FILE", value_name = "PATH")]
    key_file: Option<PathBuf>,
    /// Serve the web client, its WebSocket, /cluster, /metrics and /healthz
    /// on this address (e.g. 0.0.0.0:7880; port 0 picks a free port). Off
    /// by default (README says why). HTTPS when --tls-cert is given.
    #[arg(long, env = "CHATTY_HTTP", value_name = "ADDR")]
    http: Option<String>,
    /// With a key: seconds a datagram's send time may differ from this
    /// server's clock before it is refused as stale (replay protection).
    #[arg(long, value_name = "SECS", default_value_t = Secs(DEFAULT_MAX_CLOCK_SKEW))]
    max_clock_skew: Secs,
    /// Also serve IRC clients on this address (IRC.md); over TLS when
    /// --tls-cert is given. Off unless given.
    #[arg(long, value_name = "ADDR")]
    irc: Option<String>,
    /// The server name the IRC gateway uses in its replies (default: the host name).
    #[arg(long, value_name = "NAME")]
    irc_name: Option<String>,
    /// IRC users start in no channel, as on other IRC servers, instead of
    /// in #lobby with every Chatty member (Chatty clients then see them
    /// join and leave #lobby at once).
    #[arg(long)]
    irc_no_lobby: bool,
}

/// Binds the client listener and the cluster sockets, each failure naming
/// what it was binding.
async fn start(args: &ServerArgs, config: ServerConfig) -> Result<Server, String> {
    let listener = TcpListener::bind(&args.listen).await.map_err(|e| {
        format!(
            "cannot listen for clients on {} (--listen): {e}",
            args.listen
        )
    })?;
    let Some(cluster) = &config.cluster else {
        return Server::from_listener(listener, config).map_err(|e| e.to_string());
    };
    let t = &cluster.transport;
    let udp = UdpTransport::bind(t).map_err(|e| {
        format!(
            "cannot open the cluster sockets (--iface {}, --group {}, --udp-port {}): {e}",
            t.iface, t.group, t.udp_port
        )
    })?;
    let loss = (args.inject_loss / 100.0).clamp(0.0, 1.0);
    let server = if loss > 0.0 {
        warn!(
            percent = args.inject_loss,
            "testing aid: dropping outgoing cluster datagrams"
        );
        Server::with_transport(
            listener,
            config,
            Lossy::new(udp, loss, 0.0, fastrand::u64(..)),
        )
    } else {
        Server::with_transport(listener, config, udp)
    };
    server.map_err(|e| e.to_string())
}

/// Builds the cluster settings from the flags, resolving `--peer` names.
async fn cluster_config(args: &ServerArgs) -> Result<ClusterConfig, String> {
    let seal = match &args.key_file {
        None => None,
        Some(path) => {
            let (keyring, warning) =
                Keyring::load(path).map_err(|e| format!("--key-file {}: {e}", path.display()))?;
            if let Some(warning) = warning {
                warn!("{warning}");
            }
            Some(SealConfig {
                max_clock_skew: args.max_clock_skew.0,
                updates: reload_on_sighup(path.clone(), &keyring),
                ..SealConfig::new(keyring)
            })
        }
    };
    let mut peers = Vec::new();
    for peer in &args.peers {
        let addr = tokio::net::lookup_host(peer)
            .await
            .map_err(|e| format!("--peer {peer}: {e}"))?
            .find(SocketAddr::is_ipv4)
            .ok_or_else(|| format!("--peer {peer}: no IPv4 address"))?;
        peers.push(addr);
    }
    let membership = MembershipConfig {
        heartbeat_interval: Duration::from_millis(args.heartbeat_ms),
        suspect_after: Duration::from_millis(args.suspect_ms),
        dead_after: Duration::from_millis(args.dead_ms),
        ..MembershipConfig::default()
    };
    Ok(ClusterConfig {
        seal,
        name: args.cluster.clone(),
        transport: TransportConfig {
            iface: args.iface.unwrap_or(Ipv4Addr::UNSPECIFIED),
            udp_port: args.udp_port,
            group: args.group,
            multicast: !args.no_multicast,
        },
        peers,
        membership,
        ..ClusterConfig::default()
    })
}

pub(super) async fn serve(args: ServerArgs) -> i32 {
    let cluster = match cluster_config(&args).await {
        Ok(cluster) => cluster,
        Err(err) => {
            eprintln!("chatty: {err}");
            return 2;
        }
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => match ServerTls::load(cert, key) {
            Ok(tls) => Some(tls),
            Err(err) => {
                eprintln!("chatty: TLS: {err}");
                return 2;
            }
        },
        _ => None,
    };
    let config = ServerConfig {
        rate_limit: RateLimit {
            per_sec: args.rate_limit.max(0.0),
            burst: args.burst.max(1),
        },
        client_queue: args.client_queue.max(1),
        keepalive: args.keepalive.0,
        idle_timeout: args.idle_timeout.0.max(args.keepalive.0),
        history_on_join: args.history,
        join_timeout: args.join_timeout.0,
        max_connections: args.max_connections,
        max_per_ip: args.max_per_ip,
        tls,
        cluster: Some(cluster),
        ..ServerConfig::default()
    };
    if let Err(err) = config.validate() {
        eprintln!("chatty: {} {}", flag_of(err.field), err.problem);
        return 2;
    }
    // Bound before the server, whose heartbeats announce the address.
    let http = match &args.http {
        None => None,
        Some(addr) => match TcpListener::bind(addr).await {
            Ok(listener) => Some(listener),
            Err(e) => {
                eprintln!("chatty: cannot listen for web clients on {addr} (--http): {e}");
                return 1;
            }
        },
    };
    let config = ServerConfig {
        web_addr: http.as_ref().and_then(|l| l.local_addr().ok()),
        ..config
    };
    let server = match start(&args, config).await {
        Ok(server) => server,
        Err(err) => {
            eprintln!("chatty: {err}");
            return 1;
        }
    };
    let irc = match &args.irc {
        None => None,
        Some(addr) => match TcpListener::bind(addr).await {
            Ok(listener) => Some(listener),
            Err(e) => {
                eprintln!("chatty: cannot listen for IRC clients on {addr} (--irc): {e}");
                return 1;
            }
        },
    };
    println!("listening on {}", server.local_addr());
    if let Some(listener) = http {
        match crate::web::spawn(listener, &server.sessions()) {
            Ok(addr) => println!("http listening on {addr}"),
            Err(err) => {
                eprintln!("chatty: cannot serve web clients (--http): {err}");
                return 1;
            }
        }
    }
    if let Some(listener) = irc {
        let options = IrcOptions {
            server_name: args.irc_name.clone().unwrap_or_else(crate::irc::host_name),
            motd: Vec::new(),
            lobby: !args.irc_no_lobby,
            tls: server.sessions().config().tls.is_some(),
        };
        match crate::irc::start(listener, server.sessions(), options) {
            Ok(addr) => println!("irc listening on {addr}"),
            Err(e) => {
                eprintln!("chatty: IRC gateway: {e}");
                return 1;
            }
        }
    }
    if let Some(udp) = server.udp_addr() {
        info!(%udp, advertised = %server.advertised_addr(), "cluster traffic");
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();
    match server.run(shutdown_signal()).await {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("chatty: server failed: {err:#}");
            1
        }
    }
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Rereads the key file on every SIGHUP and passes a good keyring on, so
/// keys can be rolled without a restart. A bad file is reported and the
/// keys in use are kept.
#[cfg(unix)]
fn reload_on_sighup(
    path: PathBuf,
    current: &Keyring,
) -> Option<tokio::sync::watch::Receiver<Arc<Keyring>>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(err) => {
            warn!(cause = %err, "cannot watch for SIGHUP; the key file is read only at start");
            return None;
        }
    };
    let (tx, rx) = tokio::sync::watch::channel(Arc::new(current.clone()));
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            match Keyring::load(&path) {
                Ok((ring, warning)) => {
                    if let Some(warning) = warning {
                        warn!("{warning}");
                    }
                    info!(file = %path.display(), "SIGHUP: key file reloaded");
                    if tx.send(Arc::new(ring)).is_err() {
                        return;
                    }
                }
                Err(err) => tracing::error!(
                    file = %path.display(),
                    "SIGHUP: key file not reloaded, keeping the current keys: {err}"
                ),
            }
        }
    });
    Some(rx)
}

#[cfg(not(unix))]
fn reload_on_sighup(
    _path: PathBuf,
    _current: &Keyring,
) -> Option<tokio::sync::watch::Receiver<Arc<Keyring>>> {
    None
}
