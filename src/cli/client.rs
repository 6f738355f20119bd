//! `chatty client`, `chatty status` and `chatty keygen`: the flags and
//! the small glue around the client library.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::server::Secs;
use crate::client::terminal::DEFAULT_FAILOVER_TIMEOUT;
use crate::client::{status, terminal, ClientTls, Connector};
use crate::protocol::DEFAULT_PORT;
use crate::seal::ClusterKey;

/// Shown after `chatty client --help`.
pub(super) const EXAMPLES: &str = "\
Examples:
  chatty client 127.0.0.1                        # port 7878, your login name
  chatty client 10.0.0.1 10.0.0.2:7900 -n Leo    # tried in turn
  chatty client '[fd00::1]' --tls --tls-ca lan-ca.pem
  printf 'hello\\nexit\\n' | chatty client 127.0.0.1 -n Bot   # scripted: no prompt";

#[derive(Debug, Args)]
pub(super) struct ClientArgs {
    /// Server addresses (HOST or HOST:PORT; the port defaults to 7878), tried in turn;
    /// more are learned from the server, for failover.
    #[arg(required = true, num_args = 1.., value_name = "ADDR")]
    addrs: Vec<String>,
    /// Seconds to keep trying other servers after losing the current one.
    #[arg(long, value_name = "SECS", default_value_t = Secs(DEFAULT_FAILOVER_TIMEOUT))]
    failover_timeout: Secs,
    /// Your name in the chat (1–32 characters); defaults to your login name.
    #[arg(long, short)]
    name: Option<String>,
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
    /// Server address (HOST or HOST:PORT; the port defaults to 7878).
    addr: String,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    tls: ClientTlsArgs,
}

#[derive(Debug, Args)]
pub(super) struct WatchArgs {
    /// Server address (HOST or HOST:PORT; the port defaults to 7878).
    addr: String,
    #[command(flatten)]
    tls: ClientTlsArgs,
}

/// Runs `chatty watch`; returns the exit status.
pub(super) async fn watch(args: WatchArgs) -> i32 {
    match args.tls.connector() {
        Ok(connector) => {
            crate::client::watch::run(&with_default_port(&args.addr), &connector).await
        }
        Err(err) => {
            eprintln!("chatty: {err}");
            2
        }
    }
}

/// Runs the terminal client; returns the exit status.
pub(super) async fn chat(args: ClientArgs) -> i32 {
    let Some(name) = args.name.clone().or_else(login_name) else {
        eprintln!("chatty: --name is needed: your login name could not be found");
        return 2;
    };
    let addrs: Vec<String> = args.addrs.iter().map(|a| with_default_port(a)).collect();
    match args.tls.connector() {
        Ok(connector) => terminal::run(&addrs, &name, args.failover_timeout.0, connector).await,
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
    let addr = with_default_port(&args.addr);
    match status::fetch_via(&addr, &connector).await {
        Ok(report) => {
            if args.json {
                println!("{}", status::to_json(&report));
            } else {
                print!("{}", status::to_table(&report));
            }
            0
        }
        Err(err) => {
            eprintln!("chatty: status of {addr}: {err}");
            1
        }
    }
}

/// `addr` with `:7878` added when it names no port: `host`, `10.0.0.1`,
/// `[fd00::1]` and a bare `fd00::1` get it; `host:7900` and `[::1]:7900`
/// are kept.
pub(super) fn with_default_port(addr: &str) -> String {
    let addr = addr.trim();
    if addr.parse::<std::net::SocketAddr>().is_ok() {
        return addr.to_string();
    }
    if let Ok(ip) = addr.trim_matches(['[', ']']).parse::<std::net::IpAddr>() {
        return std::net::SocketAddr::new(ip, DEFAULT_PORT).to_string();
    }
    match addr.rsplit_once(':') {
        Some((_, port)) if port.parse::<u16>().is_ok() => addr.to_string(),
        _ => format!("{addr}:{DEFAULT_PORT}"),
    }
}

/// The user's login name, for `--name`'s default: `$USER`, `$LOGNAME`,
/// then the password database.
fn login_name() -> Option<String> {
    let from_env = ["USER", "LOGNAME"]
        .iter()
        .filter_map(|var| std::env::var(var).ok())
        .find(|name| !name.trim().is_empty());
    from_env.or_else(password_name)
}

#[cfg(unix)]
fn password_name() -> Option<String> {
    // SAFETY: getuid cannot fail; getpwuid returns null or a pointer to a
    // static record whose name is a NUL-terminated string, copied at once.
    unsafe {
        let record = libc::getpwuid(libc::getuid());
        if record.is_null() || (*record).pw_name.is_null() {
            return None;
        }
        let name = std::ffi::CStr::from_ptr((*record).pw_name);
        Some(name.to_string_lossy().into_owned())
    }
}

#[cfg(not(unix))]
fn password_name() -> Option<String> {
    None
}

#[cfg(test)]
mod tests {
    use super::with_default_port;

    #[test]
    fn addresses_without_a_port_get_7878() {
        assert_eq!(with_default_port("127.0.0.1"), "127.0.0.1:7878");
        assert_eq!(with_default_port("127.0.0.1:9"), "127.0.0.1:9");
        assert_eq!(with_default_port("chat.lan"), "chat.lan:7878");
        assert_eq!(with_default_port("chat.lan:80"), "chat.lan:80");
        assert_eq!(with_default_port("[::1]"), "[::1]:7878");
        assert_eq!(with_default_port("::1"), "[::1]:7878");
        assert_eq!(with_default_port("[::1]:9"), "[::1]:9");
        assert_eq!(with_default_port("fd00::1"), "[fd00::1]:7878");
    }
}
