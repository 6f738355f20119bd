//! One running `chatty`, driven the way a user or a script drives it: piped
//! stdin, stdout lines, signals, exit status.
//!
//! Every wait is bounded by the process's deadline and fails with what the
//! process wrote to stderr. Dropping a [`Process`] kills and reaps it, so a
//! test that panics or a benchmark that bails leaves nothing running.

use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, ChildStdin};
use tokio::sync::{mpsc, watch};

use crate::output::Captured;

/// How long reaping a SIGKILLed process may take before it is given up on.
/// SIGKILL cannot be caught, so this is only a bound, never a wait.
const REAP_LIMIT: Duration = Duration::from_secs(5);

/// Lines of stderr a failure message quotes.
const QUOTED_LINES: usize = 20;

/// A signal to send to a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGKILL: a crash; nothing runs after it.
    Kill,
    /// SIGTERM: a graceful shutdown.
    Term,
    /// SIGINT: Ctrl-C, also a graceful shutdown.
    Int,
    /// SIGHUP: a server rereads its key file.
    Hup,
    /// SIGSTOP: the process freezes (a hung server that still holds its sockets).
    Stop,
    /// SIGCONT: a stopped process goes on.
    Cont,
}

impl Signal {
    fn number(self) -> libc::c_int {
        match self {
            Signal::Kill => libc::SIGKILL,
            Signal::Term => libc::SIGTERM,
            Signal::Int => libc::SIGINT,
            Signal::Hup => libc::SIGHUP,
            Signal::Stop => libc::SIGSTOP,
            Signal::Cont => libc::SIGCONT,
        }
    }
}

/// Where the process's stderr went.
#[derive(Debug)]
pub(crate) enum StderrSink {
    Captured(watch::Receiver<Captured>),
    File(PathBuf),
    Inherited,
}

/// A running `chatty` process; killed and reaped when dropped.
#[derive(Debug)]
pub struct Process {
    /// `chatty server --listen …`, for messages.
    name: String,
    child: Child,
    pid: u32,
    /// Set once reaped.
    exited: Option<ExitStatus>,
    stdin: Option<ChildStdin>,
    stdout: mpsc::UnboundedReceiver<String>,
    stderr: StderrSink,
    /// Stderr lines [`Process::wait_stderr`] has looked at already.
    stderr_seen: usize,
    deadline: Duration,
}

impl Process {
    pub(crate) fn new(
        name: String,
        mut child: Child,
        stdout: mpsc::UnboundedReceiver<String>,
        stderr: StderrSink,
        deadline: Duration,
    ) -> Process {
        Process {
            name,
            pid: child.id().expect("a child that was just spawned has a pid"),
            stdin: child.stdin.take(),
            child,
            exited: None,
            stdout,
            stderr,
            stderr_seen: 0,
            deadline,
        }
    }

    /// The process id (the server's own, also behind `ip netns exec`).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The next stdout line, or `None` at end of output.
    pub async fn next_line(&mut self) -> anyhow::Result<Option<String>> {
        match tokio::time::timeout(self.deadline, self.stdout.recv()).await {
            Ok(line) => Ok(line),
            Err(_) => Err(self.failure(&format!("no output within {:?}", self.deadline))),
        }
    }

    /// Reads stdout lines until one equals `want`; returns all it read.
    pub async fn until(&mut self, want: &str) -> anyhow::Result<Vec<String>> {
        self.until_match(&format!("{want:?}"), |line| line == want)
            .await
    }

    /// Reads stdout lines until one satisfies `pred` (`what` names it in
    /// errors); returns all it read, that line last.
    pub async fn until_match(
        &mut self,
        what: &str,
        pred: impl Fn(&str) -> bool,
    ) -> anyhow::Result<Vec<String>> {
        let mut seen = Vec::new();
        loop {
            let line = self
                .next_line()
                .await
                .with_context(|| format!("waiting for {what} after {seen:?}"))?;
            let Some(line) = line else {
                return Err(self.failure(&format!("output ended before {what}; got {seen:?}")));
            };
            let done = pred(&line);
            seen.push(line);
            if done {
                return Ok(seen);
            }
        }
    }

    /// Every stdout line up to the end of output.
    pub async fn rest(&mut self) -> anyhow::Result<Vec<String>> {
        let mut lines = Vec::new();
        while let Some(line) = self.next_line().await? {
            lines.push(line);
        }
        Ok(lines)
    }

    /// Writes `text` to stdin.
    pub async fn write(&mut self, text: &str) -> anyhow::Result<()> {
        let stdin = self.stdin.as_mut().context("stdin is closed")?;
        stdin.write_all(text.as_bytes()).await?;
        stdin.flush().await?;
        Ok(())
    }

    /// Takes stdin, for a task that writes to it on its own schedule.
    pub fn take_stdin(&mut self) -> Option<tokio::process::ChildStdin> {
        self.stdin.take()
    }

    /// Closes stdin: the end of input.
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Sends `signal`; an error if the process has already been reaped.
    pub fn signal(&self, signal: Signal) -> anyhow::Result<()> {
        if self.exited.is_some() {
            bail!("{} (pid {}) has already exited", self.name, self.pid);
        }
        // SAFETY: kill(2) has no memory-safety preconditions; the pid is our
        // own unreaped child, so it cannot belong to another process.
        if unsafe { libc::kill(self.pid as libc::pid_t, signal.number()) } != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("kill -{signal:?} {}", self.pid));
        }
        Ok(())
    }

    /// Waits for the process to exit.
    pub async fn wait(&mut self) -> anyhow::Result<ExitStatus> {
        if let Some(status) = self.exited {
            return Ok(status);
        }
        match tokio::time::timeout(self.deadline, self.child.wait()).await {
            Ok(status) => {
                let status = status.context("wait for the child")?;
                self.exited = Some(status);
                Ok(status)
            }
            Err(_) => Err(self.failure(&format!("did not exit within {:?}", self.deadline))),
        }
    }

    /// Waits for the process to exit by itself; its exit code.
    pub async fn exit_code(&mut self) -> anyhow::Result<i32> {
        let status = self.wait().await?;
        status
            .code()
            .ok_or_else(|| anyhow!("{} was ended by a signal: {status}", self.name))
    }

    /// SIGTERM, then waits up to `limit` for a graceful exit; SIGKILL and an
    /// error if it does not come.
    pub async fn terminate(&mut self, limit: Duration) -> anyhow::Result<ExitStatus> {
        self.signal(Signal::Term)?;
        match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(status) => {
                let status = status.context("wait for the child")?;
                self.exited = Some(status);
                Ok(status)
            }
            Err(_) => {
                self.kill();
                Err(self.failure(&format!("ignored SIGTERM for {limit:?}; killed")))
            }
        }
    }

    /// SIGKILL, and reaps it: when this returns, the process is gone and
    /// its ports are free. Does nothing if it has already exited.
    pub fn kill(&mut self) {
        if self.exited.is_some() {
            return;
        }
        let _ = self.child.start_kill();
        let until = Instant::now() + REAP_LIMIT;
        while Instant::now() < until {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    self.exited = Some(status);
                    return;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(1)), // exit is imminent
                Err(_) => return,
            }
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        if self.exited.is_none() {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.exited = Some(status);
            }
        }
        self.exited.is_none()
    }

    /// The stderr lines captured so far (empty unless stderr is captured),
    /// and how many lines there were in all.
    pub fn stderr(&self) -> (Vec<String>, u64) {
        match &self.stderr {
            StderrSink::Captured(log) => {
                let log = log.borrow();
                (log.lines.clone(), log.total)
            }
            _ => (Vec::new(), 0),
        }
    }

    /// Waits for a captured stderr line that satisfies `pred`, after the
    /// one the previous call returned; returns it.
    pub async fn wait_stderr(
        &mut self,
        what: &str,
        pred: impl Fn(&str) -> bool,
    ) -> anyhow::Result<String> {
        let StderrSink::Captured(log) = &self.stderr else {
            bail!("stderr of {} is not captured", self.name);
        };
        let mut log = log.clone();
        let from = self.stderr_seen;
        let mut found = None;
        let wait = log.wait_for(|log| {
            let new = &log.lines[from.min(log.lines.len())..];
            found = new
                .iter()
                .position(|line| pred(line))
                .map(|i| (from + i, new[i].clone()));
            found.is_some()
        });
        // Only whether it was found: the log stays unlocked from here on.
        let outcome = tokio::time::timeout(self.deadline, wait)
            .await
            .map(|found| found.is_ok());
        match (outcome, found) {
            (Ok(true), Some((at, line))) => {
                self.stderr_seen = at + 1;
                Ok(line)
            }
            (Ok(_), _) => Err(self.failure(&format!("stderr ended before {what}"))),
            (Err(_), _) => {
                Err(self.failure(&format!("no {what} on stderr within {:?}", self.deadline)))
            }
        }
    }

    /// An error about this process: `what`, how it exited if it did, and
    /// the end of its stderr.
    pub(crate) fn failure(&mut self, what: &str) -> anyhow::Error {
        let running = self.is_running();
        let state = match self.exited {
            Some(status) if !running => format!("exited with {status}"),
            _ => "still running".to_string(),
        };
        let stderr = match &self.stderr {
            StderrSink::Captured(log) => format!("stderr:\n{}", log.borrow().tail(QUOTED_LINES)),
            StderrSink::File(path) => {
                format!("log {}:\n{}", path.display(), file_tail(path, QUOTED_LINES))
            }
            StderrSink::Inherited => "stderr: see above".to_string(),
        };
        anyhow!(
            "{} (pid {}): {what}; {state}; {stderr}",
            self.name,
            self.pid
        )
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The last `n` lines of the file at `path`, or why they cannot be read.
fn file_tail(path: &std::path::Path, n: usize) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(n)..].join("\n")
        }
        Err(err) => format!("(unreadable: {err})"),
    }
}
