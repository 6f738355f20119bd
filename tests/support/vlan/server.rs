//! A real `chatty server` process inside a host namespace.
//!
//! `ip netns exec` enters the namespace and then execs `chatty`, so the child's
//! pid is the server's own: SIGKILL and SIGTERM reach it directly.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// Port every server listens on for clients (each host has its own address).
pub const CLIENT_PORT: u16 = 7878;

/// A running server; killed (and reaped) when dropped.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    /// Kept open: a server writing to a closed pipe would fail.
    _stdout: BufReader<ChildStdout>,
    /// Where clients connect.
    pub addr: SocketAddr,
}

impl ServerProcess {
    /// Starts `bin server` in namespace `ns` on interface address `ip`, with
    /// multicast group `group` and `extra` flags; logs go to `log`. Returns
    /// once it prints its `listening on` line.
    pub fn spawn(
        bin: &Path,
        ns: &str,
        ip: Ipv4Addr,
        group: SocketAddrV4,
        extra: &[String],
        log: &Path,
    ) -> anyhow::Result<ServerProcess> {
        let listen = SocketAddr::from((ip, CLIENT_PORT));
        let log_file = File::options()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("cannot open {}", log.display()))?;
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(bin)
            .args(["server", "--iface", &ip.to_string()])
            .args(["--listen", &listen.to_string()])
            .args(["--group", &group.to_string()])
            .args(extra)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or("info".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .context("cannot run ip netns exec")?;
        let stdout = child.stdout.take().context("stdout")?;
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        // The first line comes within milliseconds, or EOF if it failed.
        stdout.read_line(&mut line)?;
        if line.trim() != format!("listening on {listen}") {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "server in {ns} did not start (stdout {line:?}); see {}",
                log.display()
            );
        }
        Ok(ServerProcess {
            child,
            _stdout: stdout,
            addr: listen,
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: a crash, no goodbye to anyone. Returns once it is reaped.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM: a graceful shutdown. Waits up to `limit`, then kills it.
    /// Returns whether it exited by itself with status 0.
    pub fn stop(mut self, limit: Duration) -> bool {
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(status)) => return status.success(),
                Ok(None) => std::thread::sleep(Duration::from_millis(20)), // poll, bounded
                Err(_) => break,
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        false
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
