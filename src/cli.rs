//! The `chatty` command line: argument parsing and dispatch.
//!
//! Logs go to stderr (filter with `RUST_LOG`); stdout carries only what a
//! user or script reads: the `listening on` line, chat lines, status output.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::client::{status, terminal};
use crate::protocol::DEFAULT_PORT;
use crate::server::{RateLimit, Server, ServerConfig};

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
}

#[derive(Debug, Args)]
struct ClientArgs {
    /// Server address (host:port).
    addr: String,
    /// Your name in the chat (1–32 characters).
    #[arg(long, short)]
    name: String,
}

#[derive(Debug, Args)]
struct StatusArgs {
    /// Server address (host:port).
    addr: String,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
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
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("chatty: cannot start the async runtime: {err}");
            return 1;
        }
    };
    let code = runtime.block_on(async {
        match cli.command {
            Command::Server(args) => serve(args).await,
            Command::Client(args) => terminal::run(&args.addr, &args.name).await,
            Command::Status(args) => show_status(args).await,
        }
    });
    // Don't wait for the blocking stdin reader thread: it cannot be cancelled.
    runtime.shutdown_timeout(Duration::from_millis(100));
    code
}

async fn serve(args: ServerArgs) -> i32 {
    let config = ServerConfig {
        rate_limit: RateLimit {
            per_sec: args.rate_limit.max(0.0),
            burst: args.burst.max(1),
        },
        client_queue: args.client_queue.max(1),
        keepalive: args.keepalive,
        idle_timeout: args.idle_timeout.max(args.keepalive),
        ..ServerConfig::default()
    };
    let server = match Server::bind(&args.listen, config).await {
        Ok(server) => server,
        Err(err) => {
            eprintln!("chatty: cannot listen on {}: {err}", args.listen);
            return 1;
        }
    };
    println!("listening on {}", server.local_addr());
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

async fn show_status(args: StatusArgs) -> i32 {
    match status::fetch(&args.addr).await {
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
