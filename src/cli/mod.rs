//! The `chatty` command line: argument parsing and dispatch.
//!
//! Logs go to stderr ([`logging`]: `-v`/`-q`, `RUST_LOG`, `--log-format`);
//! stdout carries only what a user or script reads: the `listening on`
//! line, chat lines, status output, completions and the man page.

mod client;
mod logging;
mod manual;
mod server;

use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand};

use client::{ClientArgs, StatusArgs, WatchArgs};
use logging::LogArgs;
use server::ServerArgs;

const EXAMPLES: &str = "\
Examples:
  chatty server                           # on every host of the LAN; they find each other
  chatty client 10.0.0.1                  # chat as your login name (port 7878)
  chatty client 10.0.0.1 10.0.0.2 -n Leo  # tried in turn; more are learned for failover
  chatty status 10.0.0.1 --json           # what that server sees
  chatty watch 10.0.0.1                   # …live, with a timeline of servers coming and going
  chatty completions bash > ~/.local/share/bash-completion/completions/chatty";

/// Zero-configuration chat for local networks.
#[derive(Debug, Parser)]
#[command(name = "chatty", version, about, long_about = None, after_help = EXAMPLES)]
pub struct Cli {
    #[command(flatten)]
    log: LogArgs,
    #[command(subcommand)]
    command: Command,
}

// One value per process, parsed once: the size of its largest variant costs
// nothing, and boxing it would only make matching on it noisier.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Run a chat server.
    // The last of a repeated flag wins, so a wrapper script's defaults can
    // be overridden by appending (`--peer` still accumulates).
    #[command(after_help = server::EXAMPLES, args_override_self = true)]
    Server(ServerArgs),
    /// Chat: join a server under a name, send what you type.
    #[command(after_help = client::EXAMPLES, args_override_self = true)]
    Client(ClientArgs),
    /// Show what a server knows: servers and members.
    Status(StatusArgs),
    /// Watch a server's view of the cluster live: servers, rooms, members,
    /// and a timeline of servers joining, suspected and removed (Ctrl-C quits).
    Watch(WatchArgs),
    /// Print a fresh random cluster key, as a key-file line (for --key-file).
    Keygen,
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) of chatty or of one command.
    Man {
        /// A command (server, client, status, …); the overview without one.
        command: Option<String>,
    },
}

/// Parses the command line, runs the command, and returns the exit status.
pub fn main() -> i32 {
    let cli = Cli::parse();
    match &cli.command {
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(*shell, &mut cmd, "chatty", &mut std::io::stdout());
            return 0;
        }
        Command::Man { command } => return manual::print(Cli::command(), command.as_deref()),
        _ => {}
    }
    let default_log = match cli.command {
        Command::Server(_) => "info",
        _ => "warn",
    };
    cli.log.init(default_log);
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all().thread_name("chatty-worker");
    if let Command::Server(args) = &cli.command {
        if args.limits.threads > 0 {
            builder.worker_threads(args.limits.threads);
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
            Command::Server(args) => server::serve(args).await,
            Command::Client(args) => client::chat(args).await,
            Command::Status(args) => client::show_status(args).await,
            Command::Watch(args) => client::watch(args).await,
            Command::Keygen => client::keygen(),
            Command::Completions { .. } | Command::Man { .. } => unreachable!("handled above"),
        }
    });
    // Don't wait for the blocking stdin reader thread: it cannot be cancelled.
    runtime.shutdown_timeout(Duration::from_millis(100));
    code
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }
}
