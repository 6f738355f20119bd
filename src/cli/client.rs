//! `chatty client`, `chatty status` and `chatty keygen`: the flags and
//! the small glue around the client library.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::server::Secs;
use crate::client::terminal::DEFAULT_FAILOVER_TIMEOUT;
use crate::client::{status, terminal, ClientTls, Connector};
use crate::seal::ClusterKey;

#[derive(Debug, Args)]
pub(super) struct ClientArgs {
    /// Server addresses (host:port), tried in turn; more are learned from
    /// the server, for failover.
    #[arg(required = true, num_args = 1..)]
    addrs: Vec<String>,
    /// Seconds to keep trying other servers after losing the current one.
    #[arg(long, value_name = "SECS", default_value_t = Secs(DEFAULT_FAILOVER_TIMEOUT))]
    failover_timeout: Secs,
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
pub(super) struct StatusArgs {
    /// Server address (host:port).
    addr: String,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    tls: ClientTlsArgs,
}

/// Runs the terminal client; returns the exit status.
pub(super) async fn chat(args: ClientArgs) -> i32 {
    match args.tls.connector() {
        Ok(connector) => {
            terminal::run(&args.addrs, &args.name, args.failover_timeout.0, connector).await
        }
        Err(err) => {
            eprintln!("chatty: {err}");
            2
        }
    }
}

/// Prints a new key as a ready-to-use key file.
pub(super) fn keygen() -> i32 {
    let key = ClusterKey::generate();
    println!("# chatty cluster key, id {}", key.id());
    println!("{}", key.to_hex());
    0
}

pub(super) async fn show_status(args: StatusArgs) -> i32 {
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
