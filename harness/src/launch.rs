//! How to run `chatty`: [`Chatty`] holds everything that is the same for
//! every process a test or benchmark starts, and starts them.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::net::SocketAddrV4;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;

use crate::loopback;
use crate::output::{stderr_log, stdout_lines};
use crate::process::{Process, StderrSink};
use crate::server::Server;

/// How long one wait may take unless [`Chatty::deadline`] says otherwise:
/// a line, a start, an exit. Generous, for a loaded 2-core machine.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(15);

/// Where a child's stderr goes.
#[derive(Debug, Clone, Default)]
pub enum Stderr {
    /// Read into memory: quoted when the process fails, and available to
    /// [`Process::stderr`] and [`Process::wait_stderr`].
    #[default]
    Capture,
    /// This program's own stderr, as the child writes it.
    Inherit,
    /// Appended to this file, which failure messages quote the end of.
    File(PathBuf),
}

/// A way to run the `chatty` binary. Cheap to clone; each `spawn` or
/// `server` call starts one process.
#[derive(Debug, Clone)]
pub struct Chatty {
    bin: PathBuf,
    /// Program and arguments that run `chatty` (e.g. `ip netns exec NS`).
    prefix: Vec<OsString>,
    /// Set (`Some`) or removed (`None`) in the child's environment.
    env: Vec<(OsString, Option<OsString>)>,
    stderr: Stderr,
    deadline: Duration,
}

impl Chatty {
    /// Runs `bin` with `RUST_LOG=warn` (so that a test's output holds only
    /// what went wrong), stderr captured, and [`DEFAULT_DEADLINE`].
    pub fn new(bin: impl Into<PathBuf>) -> Chatty {
        Chatty {
            bin: bin.into(),
            prefix: Vec::new(),
            env: vec![("RUST_LOG".into(), Some("warn".into()))],
            stderr: Stderr::Capture,
            deadline: DEFAULT_DEADLINE,
        }
    }

    /// The binary of this program's own build ([`crate::binary`]), for
    /// examples and benchmarks.
    pub fn beside_current_exe() -> anyhow::Result<Chatty> {
        Ok(Chatty::new(crate::binary::beside_current_exe()?))
    }

    /// The `chatty` binary this runs.
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// Runs `chatty` through `prefix`, e.g. `["ip", "netns", "exec", NS]`.
    /// The prefix must exec `chatty` (not fork it), so that signals reach
    /// the server itself.
    pub fn through<S: AsRef<OsStr>>(mut self, prefix: impl IntoIterator<Item = S>) -> Chatty {
        self.prefix = prefix.into_iter().map(|s| s.as_ref().to_owned()).collect();
        self
    }

    /// Sets `key` in the child's environment (the rest is inherited).
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Chatty {
        let key = key.as_ref().to_owned();
        self.env.retain(|(k, _)| *k != key);
        self.env.push((key, Some(value.as_ref().to_owned())));
        self
    }

    /// Removes `key` from the child's environment.
    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Chatty {
        let key = key.as_ref().to_owned();
        self.env.retain(|(k, _)| *k != key);
        self.env.push((key, None));
        self
    }

    /// Where the child's stderr goes.
    pub fn stderr(mut self, stderr: Stderr) -> Chatty {
        self.stderr = stderr;
        self
    }

    /// How long any single wait on a started process may take.
    pub fn deadline(mut self, deadline: Duration) -> Chatty {
        self.deadline = deadline;
        self
    }

    /// `chatty ARGS` as a command to run to completion (`.output()`), for
    /// one-shot subcommands such as `status`. Killed if dropped while
    /// running.
    pub fn command<S: AsRef<OsStr>>(
        &self,
        args: impl IntoIterator<Item = S>,
    ) -> tokio::process::Command {
        let mut cmd = match self.prefix.split_first() {
            Some((program, rest)) => {
                let mut cmd = tokio::process::Command::new(program);
                cmd.args(rest).arg(&self.bin);
                cmd
            }
            None => tokio::process::Command::new(&self.bin),
        };
        cmd.args(args).kill_on_drop(true);
        for (key, value) in &self.env {
            match value {
                Some(value) => cmd.env(key, value),
                None => cmd.env_remove(key),
            };
        }
        cmd
    }

    /// Starts `chatty ARGS` with piped stdin and stdout.
    pub fn spawn<S: AsRef<OsStr>>(
        &self,
        args: impl IntoIterator<Item = S>,
    ) -> anyhow::Result<Process> {
        let args: Vec<OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let name = describe(&args);
        let mut cmd = self.command(&args);
        let (stdout, stdout_pipe) = std::io::pipe().context("stdout pipe")?;
        cmd.stdin(Stdio::piped()).stdout(stdout_pipe);
        let stderr_pipe = match &self.stderr {
            Stderr::Capture => {
                let (reader, writer) = std::io::pipe().context("stderr pipe")?;
                cmd.stderr(writer);
                Some(reader)
            }
            Stderr::Inherit => {
                cmd.stderr(Stdio::inherit());
                None
            }
            Stderr::File(path) => {
                let file = File::options()
                    .create(true)
                    .append(true)
                    .open(path)
                    .with_context(|| format!("cannot open {}", path.display()))?;
                cmd.stderr(file);
                None
            }
        };
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {name} ({})", self.bin.display()))?;
        // The command holds the pipes' write ends: without dropping it, the
        // readers would never see the end of output.
        drop(cmd);
        let stderr = match (&self.stderr, stderr_pipe) {
            (_, Some(pipe)) => StderrSink::Captured(stderr_log(pipe, &name)),
            (Stderr::File(path), None) => StderrSink::File(path.clone()),
            _ => StderrSink::Inherited,
        };
        let stdout = stdout_lines(stdout, &name);
        Ok(Process::new(name, child, stdout, stderr, self.deadline))
    }

    /// Starts `chatty server FLAGS` and waits until it prints its client
    /// address ([`Server`]).
    pub async fn server<S: AsRef<OsStr>>(
        &self,
        flags: impl IntoIterator<Item = S>,
    ) -> anyhow::Result<Server> {
        let args = [OsString::from("server")]
            .into_iter()
            .chain(flags.into_iter().map(|f| f.as_ref().to_owned()));
        Server::start(self.spawn(args)?).await
    }

    /// Starts a server on a free loopback port with its multicast on
    /// loopback in `group` ([`loopback::server_flags`]), plus `extra` flags;
    /// fails unless it listens on a loopback address.
    pub async fn loopback_server(
        &self,
        group: SocketAddrV4,
        extra: &[&str],
    ) -> anyhow::Result<Server> {
        let flags = loopback::server_flags(group)
            .into_iter()
            .chain(extra.iter().map(|f| f.to_string()));
        let server = self.server(flags).await?;
        let addr = server.addr();
        anyhow::ensure!(
            addr.ip().is_loopback() && addr.port() != 0,
            "the server listens on {addr}, not on a loopback port"
        );
        Ok(server)
    }
}

/// `chatty server --listen …`, for messages.
fn describe(args: &[OsString]) -> String {
    let mut name = String::from("chatty");
    for arg in args.iter().take(4) {
        name.push(' ');
        name.push_str(&arg.to_string_lossy());
    }
    if args.len() > 4 {
        name.push_str(" …");
    }
    name
}
