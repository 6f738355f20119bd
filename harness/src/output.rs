//! Draining a child's stdout and stderr on threads of their own.
//!
//! A child that writes into a full pipe stops, so both pipes are read from
//! the moment it starts, whatever the caller is doing: blocked, busy, or on
//! a runtime that is not being polled. Stdout lines go into a channel the
//! [`Process`](crate::Process) reads with deadlines; stderr lines into a
//! [`Captured`] log that failure messages quote and callers can wait on.

use std::io::{BufRead, BufReader, PipeReader};

use tokio::sync::{mpsc, watch};

/// Lines kept of one process's stderr; later ones are only counted.
const KEPT_LINES: usize = 10_000;

/// What a process wrote to stderr so far.
#[derive(Debug, Clone, Default)]
pub(crate) struct Captured {
    /// The first [`KEPT_LINES`] lines.
    pub(crate) lines: Vec<String>,
    /// Every line, kept or not.
    pub(crate) total: u64,
}

impl Captured {
    /// The last `n` kept lines, one per line, for a failure message.
    pub(crate) fn tail(&self, n: usize) -> String {
        let from = self.lines.len().saturating_sub(n);
        self.lines[from..].join("\n")
    }
}

/// Forwards every stdout line into the returned channel, which closes at
/// end of output.
pub(crate) fn stdout_lines(pipe: PipeReader, name: &str) -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    spawn_reader(pipe, name, "stdout", move |line| {
        // A receiver that is gone no longer cares; keep draining anyway.
        let _ = tx.send(line);
    });
    rx
}

/// Records every stderr line in the returned log.
pub(crate) fn stderr_log(pipe: PipeReader, name: &str) -> watch::Receiver<Captured> {
    let (tx, rx) = watch::channel(Captured::default());
    spawn_reader(pipe, name, "stderr", move |line| {
        tx.send_modify(|log| {
            log.total += 1;
            if log.lines.len() < KEPT_LINES {
                log.lines.push(line);
            }
        });
    });
    rx
}

/// Reads `pipe` line by line (invalid UTF-8 replaced, not fatal) until end
/// of output; the thread ends with it.
fn spawn_reader(
    pipe: PipeReader,
    name: &str,
    stream: &str,
    mut each: impl FnMut(String) + Send + 'static,
) {
    let spawned = std::thread::Builder::new()
        .name(format!("{name} {stream}"))
        .spawn(move || {
            let mut reader = BufReader::new(pipe);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match reader.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let line = String::from_utf8_lossy(&buf);
                        each(line.trim_end_matches(['\n', '\r']).to_string());
                    }
                }
            }
        });
    // Without a reader the child could block on a full pipe, and nothing
    // else works either when threads cannot be started.
    spawned.expect("start a pipe reader thread");
}
