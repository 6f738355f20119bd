//! The `chatty` command line: argument parsing and dispatch.
//!
//! Logs go to stderr (filter with `RUST_LOG`); stdout carries only what a
//! user or script reads: the `listening on` line, chat lines, status output.

mod client;
mod server;

use std::time::Duration;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use client::{ClientArgs, StatusArgs};
use server::ServerArgs;

/// Zero-configuration chat for local networks.
#[derive(Debug, Parser)]
#[command(name = "chatty", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

// One value per process, parsed once: the size of its largest variant costs
// nothing, and boxing it would only make matching on it noisier.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Run a chat server. (Boxed: its flags outweigh the other commands'.)
    Server(Box<ServerArgs>),
    /// Chat: join a server under a name, send what you type.
    Client(ClientArgs),
    /// Show what a server knows: servers and members.
    Status(StatusArgs),
    /// Print a fresh random cluster key, as a key-file line (for --key-file).
    Keygen,
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
    if let Command::Server(args) = &cli.command {
        if args.threads > 0 {
            builder.worker_threads(args.threads);
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
            Command::Server(args) => server::serve(*args).await,
            Command::Client(args) => client::chat(args).await,
            Command::Status(args) => client::show_status(args).await,
            Command::Keygen => client::keygen(),
        }
    });
    // Don't wait for the blocking stdin reader thread: it cannot be cancelled.
    runtime.shutdown_timeout(Duration::from_millis(100));
    code
}
