//! The publisher, as two tasks on one connection: a writer that sends
//! pre-encoded `send` frames while the window allows, and a reader that
//! counts the echoes of its own messages and opens the window again.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use chatty_bench::api::{Client, ClientReader, ClientWriter, ServerMsg};
use chatty_bench::stamp::{now_ns, CID_BASE};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio::time::{timeout_at, Instant as Deadline};

use crate::{LAYOUT, PUBLISHER};

/// How the publisher sends.
pub(crate) struct Plan {
    pub(crate) messages: usize,
    pub(crate) size: usize,
    /// Most messages sent but not yet echoed.
    pub(crate) window: usize,
    /// Most frames per write.
    pub(crate) batch: usize,
    /// Send every line with a cid, so the server acknowledges each one.
    pub(crate) acked: bool,
    pub(crate) deadline: Deadline,
}

/// The running publisher.
pub(crate) struct Publisher {
    echoes: Arc<AtomicU64>,
    echo_task: JoinHandle<(ClientReader, Option<String>)>,
    send_task: JoinHandle<(ClientWriter, Sent)>,
    /// When the first message went out.
    pub(crate) first_send: Instant,
}

/// What the writer did.
pub(crate) struct Sent {
    pub(crate) sent: usize,
    pub(crate) error: Option<String>,
    /// When it had sent every message.
    pub(crate) done: Option<Instant>,
}

/// What the publisher did, once both tasks are done.
pub(crate) struct Published {
    pub(crate) sent: Sent,
    pub(crate) echoed: u64,
    pub(crate) echo_error: Option<String>,
    /// Held, not read: the connection closes only when this is dropped,
    /// after the server is gone.
    _connection: (ClientWriter, ClientReader),
}

impl Publisher {
    /// Starts sending on `client`, which has joined and seen its own join.
    pub(crate) fn start(client: Client, plan: Plan) -> anyhow::Result<Publisher> {
        let (reader, writer) = client.split();
        let window = Arc::new(Semaphore::new(plan.window.max(1)));
        let echoes = Arc::new(AtomicU64::new(0));
        let echo_task = tokio::spawn(count_echoes(
            reader,
            window.clone(),
            echoes.clone(),
            plan.messages as u64,
            plan.deadline,
        ));
        let (template, text_at, cid_at) = if plan.acked {
            let (frame, text, cid) = LAYOUT.send_frame_with_cid(plan.size, &[0, 0])?;
            (frame, text, Some(cid))
        } else {
            let (frame, text) = LAYOUT.send_frame(plan.size, &[0, 0])?;
            (frame, text, None)
        };
        let first_send = Instant::now();
        let send_task = tokio::spawn(send(writer, window, (template, text_at, cid_at), plan));
        Ok(Publisher {
            echoes,
            echo_task,
            send_task,
            first_send,
        })
    }

    /// Waits for both tasks (each bounded by the deadline).
    pub(crate) async fn finish(self) -> anyhow::Result<Published> {
        let (writer, sent) = self.send_task.await.context("publisher task failed")?;
        let (reader, echo_error) = self.echo_task.await.context("publisher task failed")?;
        Ok(Published {
            sent,
            echoed: self.echoes.load(Ordering::Relaxed),
            echo_error,
            _connection: (writer, reader),
        })
    }
}

/// Counts the publisher's own echoes, a window permit back for each.
async fn count_echoes(
    mut reader: ClientReader,
    window: Arc<Semaphore>,
    echoes: Arc<AtomicU64>,
    messages: u64,
    deadline: Deadline,
) -> (ClientReader, Option<String>) {
    let mut error = None;
    while echoes.load(Ordering::Relaxed) < messages {
        match timeout_at(deadline, reader.recv()).await {
            Ok(Ok(Some(ServerMsg::Message { from, .. }))) if from == PUBLISHER => {
                echoes.fetch_add(1, Ordering::Relaxed);
                window.add_permits(1);
            }
            Ok(Ok(Some(ServerMsg::Error { code, text, .. }))) => {
                error = Some(format!("publisher: server error {code}: {text}"));
            }
            Ok(Ok(Some(_))) => {}
            Ok(Ok(None)) => {
                error = Some("publisher: the server closed the connection".into());
                break;
            }
            Ok(Err(err)) => {
                error = Some(format!("publisher: {err}"));
                break;
            }
            Err(_) => {
                error = Some("publisher: timed out waiting for echoes".into());
                break;
            }
        }
    }
    (reader, error)
}

/// Sends `plan.messages` copies of `template` with their counter and send
/// time filled in, as many per write as the window and the batch allow.
async fn send(
    mut writer: ClientWriter,
    window: Arc<Semaphore>,
    (template, text_at, cid_at): (Vec<u8>, usize, Option<usize>),
    plan: Plan,
) -> (ClientWriter, Sent) {
    let batch_max = plan.batch.max(1);
    let mut buf = Vec::with_capacity(template.len() * batch_max);
    let mut sent = 0usize;
    let stopped = |sent, why: &str| Sent {
        sent,
        error: Some(format!("publisher: {why}")),
        done: None,
    };
    while sent < plan.messages {
        match timeout_at(plan.deadline, window.acquire()).await {
            Ok(Ok(permit)) => permit.forget(),
            _ => return (writer, stopped(sent, "window timed out")),
        }
        let mut n = 1;
        while n < batch_max && sent + n < plan.messages {
            match window.try_acquire() {
                Ok(permit) => permit.forget(),
                Err(_) => break,
            }
            n += 1;
        }
        buf.clear();
        let now = now_ns();
        for counter in sent..sent + n {
            let start = buf.len();
            buf.extend_from_slice(&template);
            if let Some(at) = cid_at {
                let cid = CID_BASE + counter as u64;
                buf[start + at..start + at + 8].copy_from_slice(&cid.to_be_bytes());
            }
            let text = &mut buf[start + text_at..];
            LAYOUT.put(text, 0, counter as u64);
            LAYOUT.put(text, 1, now);
        }
        if let Err(err) = writer.send_raw(&buf).await {
            return (writer, stopped(sent, &err.to_string()));
        }
        sent += n;
    }
    let done = Some(Instant::now());
    (
        writer,
        Sent {
            sent,
            error: None,
            done,
        },
    )
}
