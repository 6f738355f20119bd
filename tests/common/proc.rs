//! The real `chatty` binary as a child process, driven the way a user or a
//! script drives it: piped stdin, stdout lines, exit codes, signals.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// How long a child may take to print a line or to exit.
pub const PROC_DEADLINE: Duration = Duration::from_secs(15);

pub fn chatty() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chatty"));
    cmd.env("RUST_LOG", "warn").kill_on_drop(true);
    cmd
}

/// Starts `chatty server` on a free loopback port, with multicast on the
/// loopback interface only and group port `group_port` (one per test, so
/// parallel tests never hear each other), plus `extra` flags; returns it
/// and its client address.
pub async fn server_proc(group_port: u16, extra: &[&str]) -> (Proc, String) {
    let mut cmd = chatty();
    let group = format!("239.255.77.77:{group_port}");
    cmd.args([
        "server",
        "--listen",
        "127.0.0.1:0",
        "--iface",
        "127.0.0.1",
        "--group",
        &group,
    ]);
    cmd.args(extra);
    let mut proc = Proc::spawn(cmd);
    let first = proc.line().await.expect("server prints its address");
    let addr = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line must be 'listening on ADDR', got {first:?}"))
        .to_string();
    assert!(
        addr.starts_with("127.0.0.1:") && !addr.ends_with(":0"),
        "{addr}"
    );
    (proc, addr)
}

pub struct Proc {
    pub child: Child,
    out: Lines<BufReader<ChildStdout>>,
}

impl Proc {
    pub fn spawn(mut cmd: Command) -> Proc {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn chatty");
        let out = BufReader::new(child.stdout.take().unwrap()).lines();
        Proc { child, out }
    }

    /// The next output line, without a deadline (the caller sets one).
    pub async fn out_line(&mut self) -> std::io::Result<Option<String>> {
        self.out.next_line().await
    }

    pub async fn line(&mut self) -> Option<String> {
        tokio::time::timeout(PROC_DEADLINE, self.out.next_line())
            .await
            .expect("output in time")
            .expect("readable stdout")
    }

    /// Reads lines until one equals `want`; returns everything read.
    pub async fn until(&mut self, want: &str) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            match self.line().await {
                Some(line) => {
                    let done = line == want;
                    seen.push(line);
                    if done {
                        return seen;
                    }
                }
                None => panic!("output ended before {want:?}; got {seen:?}"),
            }
        }
    }

    /// Sends `signal` (`"KILL"`, `"TERM"`) to the process.
    pub async fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("running").to_string();
        let sent = Command::new("kill")
            .args([format!("-{signal}"), pid])
            .status()
            .await
            .unwrap();
        assert!(sent.success(), "kill -{signal}");
    }

    pub async fn write(&mut self, text: &str) {
        let stdin = self.child.stdin.as_mut().expect("stdin open");
        stdin.write_all(text.as_bytes()).await.unwrap();
        stdin.flush().await.unwrap();
    }

    pub fn close_stdin(&mut self) {
        drop(self.child.stdin.take());
    }

    pub async fn exit_code(&mut self) -> i32 {
        tokio::time::timeout(PROC_DEADLINE, self.child.wait())
            .await
            .expect("exits in time")
            .unwrap()
            .code()
            .expect("exited normally")
    }

    pub async fn rest(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        while let Some(line) = self.line().await {
            lines.push(line);
        }
        lines
    }
}

/// Reads lines until one satisfies `pred`; returns everything read.
pub async fn until_match(proc: &mut Proc, what: &str, pred: impl Fn(&str) -> bool) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        match proc.line().await {
            Some(line) => {
                let done = pred(&line);
                seen.push(line);
                if done {
                    return seen;
                }
            }
            None => panic!("output ended before {what}; got {seen:?}"),
        }
    }
}
