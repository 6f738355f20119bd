//! `chatty server`: the settings built from the flags ([`args`],
//! [`cluster`]), starting with errors that name the flag at fault, and the
//! signals a running server answers (SIGINT/SIGTERM stop it, SIGHUP
//! rereads the key file, [`keys`]).

mod args;
mod cluster;
mod keys;

use tokio::net::TcpListener;
use tracing::{info, warn};

pub(super) use args::{Secs, ServerArgs, EXAMPLES};

use crate::irc::IrcOptions;
use crate::net::{Lossy, UdpTransport};
use crate::server::{RateLimit, Server, ServerConfig, ServerTls};

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

/// Binds the client listener and the cluster sockets, each failure naming
/// its flag and what to do.
async fn start(args: &ServerArgs, config: ServerConfig) -> Result<Server, String> {
    let listen = &args.network.listen;
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| listen_error(listen, &e))?;
    let Some(cluster) = &config.cluster else {
        return Server::from_listener(listener, config).map_err(|e| e.to_string());
    };
    let udp = UdpTransport::bind(&cluster.transport).map_err(|e| e.to_string())?;
    let percent = args.testing.inject_loss;
    let loss = (percent / 100.0).clamp(0.0, 1.0);
    let server = if loss > 0.0 {
        warn!(percent, "testing aid: dropping outgoing cluster datagrams");
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

fn listen_error(listen: &str, err: &std::io::Error) -> String {
    let fix = match err.kind() {
        std::io::ErrorKind::AddrInUse => {
            "; another program (another chatty server?) listens there: stop it, or pick \
             another port (port 0 picks a free one)"
        }
        std::io::ErrorKind::AddrNotAvailable => {
            "; this host has no such address: give one of its addresses, or 0.0.0.0 for all"
        }
        std::io::ErrorKind::PermissionDenied => {
            "; ports below 1024 need privileges: pick a higher one"
        }
        _ => "",
    };
    format!("--listen {listen}: cannot listen for clients: {err}{fix}")
}

pub(super) async fn serve(args: ServerArgs) -> i32 {
    let cluster = match cluster::cluster_config(&args).await {
        Ok(cluster) => cluster,
        Err(err) => {
            eprintln!("chatty: {err}");
            return 2;
        }
    };
    let tls = match (&args.tls.tls_cert, &args.tls.tls_key) {
        (Some(cert), Some(key)) => match ServerTls::load(cert, key) {
            Ok(tls) => Some(tls),
            Err(err) => {
                eprintln!("chatty: TLS: {err}");
                return 2;
            }
        },
        _ => None,
    };
    let l = &args.limits;
    let config = ServerConfig {
        rate_limit: RateLimit {
            per_sec: l.rate_limit.max(0.0),
            burst: l.burst.max(1),
        },
        client_queue: l.client_queue.max(1),
        keepalive: l.keepalive.0,
        idle_timeout: l.idle_timeout.0.max(l.keepalive.0),
        history_on_join: l.history,
        large_room: l.large_room,
        join_timeout: l.join_timeout.0,
        max_connections: l.max_connections,
        max_per_ip: l.max_per_ip,
        tls,
        cluster: Some(cluster),
        ..ServerConfig::default()
    };
    if let Err(err) = config.validate() {
        eprintln!("chatty: {} {}", flag_of(err.field), err.problem);
        return 2;
    }
    // Bound before the server, whose heartbeats announce the address.
    let http = match &args.network.http {
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
    let irc = match &args.irc.irc {
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
    if let Some(listener) = irc {
        let options = IrcOptions {
            server_name: args
                .irc
                .irc_name
                .clone()
                .unwrap_or_else(crate::irc::host_name),
            motd: Vec::new(),
            lobby: !args.irc.irc_no_lobby,
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
    if let Some(listener) = http {
        match crate::web::spawn(listener, &server.sessions()) {
            Ok(addr) => println!("http listening on {addr}"),
            Err(err) => {
                eprintln!("chatty: cannot serve web clients (--http): {err}");
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
