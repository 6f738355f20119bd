//! The `chatty` command line: argument parsing and dispatch.
//!
//! Logs go to stderr (filter with `RUST_LOG`); stdout carries only what a
//! user or script reads: the `listening on` line, chat lines, status output.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use tracing::{info, warn};
use tracing_subscriber::EnvFilter;

use crate::client::{status, terminal, ClientTls, Connector};
use crate::cluster::envelope::MAX_CLUSTER_NAME;
use crate::cluster::{
    ClusterConfig, ClusterKey, Keyring, MembershipConfig, SealConfig, TransportConfig,
    DEFAULT_CLUSTER, DEFAULT_GROUP,
};
use crate::protocol::DEFAULT_PORT;
use crate::server::config::{DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_PER_IP};
use crate::server::{RateLimit, Server, ServerConfig, ServerTls};

/// Zero-configuration chat for local networks.
#[derive(Debug, Parser)]
#[command(name = "chatty", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a chat server.
    Server(ServerArgs),
    /// Chat: join a server under a name, send what you type.
    Client(ClientArgs),
    /// Show what a server knows: servers and members.
    Status(StatusArgs),
    /// Print a fresh random cluster key, as a key-file line (for --key-file).
    Keygen,
}

#[derive(Debug, Args)]
struct ServerArgs {
    /// Address for client connections (port 0 picks a free port).
    #[arg(long, env = "CHATTY_LISTEN", default_value_t = format!("0.0.0.0:{DEFAULT_PORT}"))]
    listen: String,
    /// Messages per second each client may send (0 = no limit).
    #[arg(long, value_name = "PER_SEC", default_value_t = 10.0)]
    rate_limit: f64,
    /// Messages a client may send in a burst.
    #[arg(long, value_name = "N", default_value_t = 20)]
    burst: u32,
    /// Frames that may queue for one client before it is dropped as too slow.
    #[arg(long, value_name = "FRAMES", default_value_t = 1024)]
    client_queue: usize,
    /// Seconds of silence after which the server pings a client.
    #[arg(long, value_name = "SECS", default_value = "15", value_parser = parse_secs)]
    keepalive: Duration,
    /// Seconds of silence after which the server drops a client.
    #[arg(long, value_name = "SECS", default_value = "45", value_parser = parse_secs)]
    idle_timeout: Duration,
    /// Recent messages a client is shown when it joins (0 = none; at most 1000).
    #[arg(long, value_name = "N", default_value_t = 20)]
    history: usize,
    /// Interface address to send and join multicast on (default: the system's choice).
    #[arg(long, env = "CHATTY_IFACE", value_name = "IP")]
    iface: Option<Ipv4Addr>,
    /// Multicast group and port for discovery.
    #[arg(long, value_name = "IP:PORT", default_value_t = DEFAULT_GROUP)]
    group: SocketAddrV4,
    /// Cluster name: servers with another name ignore each other.
    #[arg(long, env = "CHATTY_CLUSTER", default_value = DEFAULT_CLUSTER)]
    cluster: String,
    /// Another server's UDP address (its --udp-port), for networks without
    /// multicast. Repeatable.
    #[arg(long = "peer", value_name = "HOST:PORT")]
    peers: Vec<String>,
    /// Fixed UDP port for cluster traffic, so others can name this server with --peer (0 = any).
    #[arg(long, value_name = "PORT", default_value_t = 0)]
    udp_port: u16,
    /// Do not use multicast; find servers through --peer only.
    #[arg(long)]
    no_multicast: bool,
    /// Milliseconds between heartbeats.
    #[arg(long, value_name = "MS", default_value_t = 50)]
    heartbeat_ms: u64,
    /// Milliseconds of silence before a server is shown as suspect.
    #[arg(long, value_name = "MS", default_value_t = 250)]
    suspect_ms: u64,
    /// Milliseconds of silence before a server is removed.
    #[arg(long, value_name = "MS", default_value_t = 800)]
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
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Most client connections at once from one address (0 = no limit).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_PER_IP)]
    max_per_ip: usize,
    /// Seconds a new connection has to say hello and join before it is closed.
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_secs)]
    join_timeout: Duration,
    /// Threads serving clients (0 = one per CPU core). Fan-out is ordered
    /// under one lock, so extra threads mostly spread the socket writes; on
    /// a machine the server shares with other busy processes, 1 can be
    /// faster (BENCHMARKS.md).
    #[arg(long, value_name = "N", default_value_t = 0, env = "CHATTY_THREADS")]
    threads: usize,
    /// Testing aid: drop this percentage of outgoing cluster datagrams, to
    /// see loss repaired (fault tests, benchmarks). Never needed in use.
    #[arg(long, value_name = "PERCENT", default_value_t = 0.0)]
    inject_loss: f64,
    /// Cluster keyring file (one 64-hex-digit key per line, the first seals;
    /// `chatty keygen` makes one; reread on SIGHUP). Without it, cluster
    /// traffic is neither authenticated nor encrypted.
    #[arg(long, env = "CHATTY_KEY_FILE", value_name = "PATH")]
    key_file: Option<PathBuf>,
    /// With a key: seconds a datagram's send time may differ from this
    /// server's clock before it is refused as stale (replay protection).
    #[arg(long, value_name = "SECS", default_value = "60", value_parser = parse_secs)]
    max_clock_skew: Duration,
}

#[derive(Debug, Args)]
struct ClientArgs {
    /// Server addresses (host:port), tried in turn; more are learned from
    /// the server, for failover.
    #[arg(required = true, num_args = 1..)]
    addrs: Vec<String>,
    /// Seconds to keep trying other servers after losing the current one.
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = parse_secs)]
    failover_timeout: Duration,
    /// Your name in the chat (1–32 characters).
    #[arg(long, short)]
    name: String,
    #[command(flatten)]
    tls: ClientTlsArgs,
}

/// How clients reach servers: plain TCP unless `--tls`.
#[derive(Debug, Args)]
struct ClientTlsArgs {
    /// Connect over TLS (to servers started with --tls-cert).
    #[arg(long)]
    tls: bool,
    /// PEM file of CA certificates to trust instead of the system's roots.
    #[arg(long, value_name = "PATH", requires = "tls")]
    tls_ca: Option<PathBuf>,
    /// Check every server's certificate for this name instead of the host
    /// dialled (useful when servers announce IP addresses for failover).
    #[arg(long, value_name = "NAME", requires = "tls")]
    tls_server_name: Option<String>,
}

impl ClientTlsArgs {
    fn connector(&self) -> Result<Connector, String> {
        if !self.tls {
            return Ok(Connector::Plain);
        }
        ClientTls::new(self.tls_ca.as_deref(), self.tls_server_name.as_deref())
            .map(|tls| Connector::Tls(Arc::new(tls)))
            .map_err(|err| err.to_string())
    }
}

#[derive(Debug, Args)]
struct StatusArgs {
    /// Server address (host:port).
    addr: String,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    tls: ClientTlsArgs,
}

fn parse_secs(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{s:?} is not a valid duration"))
}

/// Parses the command line, runs the command, and returns the exit status.
pub fn main() -> i32 {
    let cli = Cli::parse();
    let default_log = match cli.command {
        Command::Server(_) => "info",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_log)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all().thread_name("chatty-worker");
    if let Command::Server(ServerArgs { threads, .. }) = &cli.command {
        if *threads > 0 {
            builder.worker_threads(*threads);
        }
    }
    let runtime = match builder.build() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("chatty: cannot start the async runtime: {err}");
            return 1;
        }
    };
    let code = runtime.block_on(async {
        match cli.command {
            Command::Server(args) => serve(args).await,
            Command::Client(args) => match args.tls.connector() {
                Ok(connector) => {
                    terminal::run(&args.addrs, &args.name, args.failover_timeout, connector).await
                }
                Err(err) => {
                    eprintln!("chatty: {err}");
                    2
                }
            },
            Command::Status(args) => show_status(args).await,
            Command::Keygen => keygen(),
        }
    });
    // Don't wait for the blocking stdin reader thread: it cannot be cancelled.
    runtime.shutdown_timeout(Duration::from_millis(100));
    code
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
            if args.max_clock_skew < Duration::from_secs(1) {
                return Err("--max-clock-skew must be at least 1 second".into());
            }
            Some(SealConfig {
                max_clock_skew: args.max_clock_skew,
                updates: reload_on_sighup(path.clone(), &keyring),
                ..SealConfig::new(keyring)
            })
        }
    };
    if args.cluster.is_empty() || args.cluster.len() > MAX_CLUSTER_NAME {
        return Err(format!("--cluster must be 1 to {MAX_CLUSTER_NAME} bytes"));
    }
    if !(args.heartbeat_ms > 0
        && args.heartbeat_ms < args.suspect_ms
        && args.suspect_ms < args.dead_ms)
    {
        return Err("timings must satisfy 0 < --heartbeat-ms < --suspect-ms < --dead-ms".into());
    }
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
        memory: None,
        inject_loss: (args.inject_loss / 100.0).clamp(0.0, 1.0),
    })
}

async fn serve(args: ServerArgs) -> i32 {
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
        keepalive: args.keepalive,
        idle_timeout: args.idle_timeout.max(args.keepalive),
        history_on_join: args.history,
        join_timeout: args.join_timeout,
        max_connections: args.max_connections,
        max_per_ip: args.max_per_ip,
        tls,
        cluster: Some(cluster),
        ..ServerConfig::default()
    };
    let server = match Server::bind(&args.listen, config).await {
        Ok(server) => server,
        Err(err) => {
            eprintln!("chatty: cannot start on {}: {err}", args.listen);
            return 1;
        }
    };
    println!("listening on {}", server.local_addr());
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

/// Prints a new key as a ready-to-use key file.
fn keygen() -> i32 {
    let key = ClusterKey::generate();
    println!("# chatty cluster key, id {}", key.id());
    println!("{}", key.to_hex());
    0
}

async fn show_status(args: StatusArgs) -> i32 {
    let connector = match args.tls.connector() {
        Ok(connector) => connector,
        Err(err) => {
            eprintln!("chatty: {err}");
            return 2;
        }
    };
    match status::fetch_via(&args.addr, &connector).await {
        Ok(report) => {
            if args.json {
                println!("{}", status::to_json(&report));
            } else {
                print!("{}", status::to_table(&report));
            }
            0
        }
        Err(err) => {
            eprintln!("chatty: status of {}: {err}", args.addr);
            1
        }
    }
}
