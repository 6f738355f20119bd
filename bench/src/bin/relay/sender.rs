//! One sending client: sends its messages (as fast as its window allows, or
//! paced at a fixed rate), waits until every client has all of them, and
//! answers the server's keepalive pings throughout.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use chatty_bench::api::{ClientError, ClientMsg, ClientWriter};
use chatty_bench::stamp::now_ns;
use tokio::sync::{mpsc, Semaphore};
use tokio::time::{timeout_at, Instant as Deadline};
use tokio_util::sync::CancellationToken;

use crate::receiver::Shared;
use crate::LAYOUT;

/// How a sender paces itself.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Mode {
    /// As fast as its window allows, for this long.
    Closed { duration: Duration },
    /// The whole cluster sends `rate` msg/s, every sender an equal share at
    /// evenly spaced times, for `duration`.
    Paced { rate: f64, duration: Duration },
}

/// What one sender is to send.
pub(crate) struct SendPlan {
    /// The sender's index (in its message texts and in [`Shared`]).
    pub(crate) index: usize,
    /// How many senders there are.
    pub(crate) senders: usize,
    /// Its turn in the paced rotation, which alternates between servers so
    /// that each server's own stream is evenly spaced too.
    pub(crate) slot: usize,
    pub(crate) template: Vec<u8>,
    pub(crate) text_at: usize,
    /// Its window, in messages.
    pub(crate) window: usize,
    /// Most messages it may send.
    pub(crate) max: usize,
    /// Most frames per write (closed loop).
    pub(crate) batch: usize,
    /// How long after its sending time it waits for its messages to arrive.
    pub(crate) drain: Duration,
    pub(crate) mode: Mode,
    pub(crate) start: Instant,
}

/// What one sender reports once all it sent has arrived everywhere (or the deadline passed).
pub(crate) struct SendReport {
    /// The sender's index.
    pub(crate) index: usize,
    pub(crate) sent: u64,
    /// When it stopped sending.
    pub(crate) done_sending: Instant,
    /// When every message it sent had reached every client.
    pub(crate) drained: Option<Instant>,
    /// How far behind its schedule a paced sender fell at worst.
    pub(crate) max_late: Duration,
    pub(crate) error: Option<String>,
}

pub(crate) struct WriterCtx {
    pub(crate) name: String,
    pub(crate) plan: Option<SendPlan>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) pongs: mpsc::UnboundedReceiver<u64>,
    pub(crate) reports: mpsc::UnboundedSender<SendReport>,
    pub(crate) stop: CancellationToken,
    pub(crate) deadline: Deadline,
}

/// Sends (if this client is a sender), reports, then answers keepalive pings
/// until the run ends. Hands the writer back so the connection closes only
/// after the servers are gone.
pub(crate) async fn writer_task(mut writer: ClientWriter, mut ctx: WriterCtx) -> ClientWriter {
    if let Some(plan) = ctx.plan.take() {
        let window = &ctx.shared.windows[plan.index];
        let mut report = SendReport {
            index: plan.index,
            sent: 0,
            done_sending: Instant::now(),
            drained: None,
            max_late: Duration::ZERO,
            error: None,
        };
        let sent = send_all(
            &mut writer,
            &plan,
            window,
            &mut ctx.pongs,
            ctx.deadline,
            &mut report,
        )
        .await;
        report.done_sending = Instant::now();
        if let Err(err) = sent {
            report.error = Some(format!("{}: {err}", ctx.name));
        }
        // Every permit back means every message sent has reached every client.
        let drain_limit = ctx.deadline.min(tokio::time::Instant::from_std(
            report.done_sending + plan.drain,
        ));
        loop {
            tokio::select! {
                drained = timeout_at(drain_limit, window.acquire_many(plan.window as u32)) => {
                    match drained {
                        Ok(Ok(permits)) => {
                            permits.forget();
                            report.drained = Some(Instant::now());
                        }
                        _ => {
                            report.error.get_or_insert_with(|| {
                                format!("{}: not every message reached every client in time", ctx.name)
                            });
                        }
                    }
                    break;
                }
                Some(nonce) = ctx.pongs.recv() => {
                    let _ = writer.send_msg(&ClientMsg::Pong { nonce }).await;
                }
            }
        }
        let _ = ctx.reports.send(report);
    }
    loop {
        tokio::select! {
            _ = ctx.stop.cancelled() => break,
            nonce = ctx.pongs.recv() => match nonce {
                Some(nonce) => {
                    if writer.send_msg(&ClientMsg::Pong { nonce }).await.is_err() {
                        break;
                    }
                }
                None => break,
            },
        }
    }
    writer
}

async fn answer_pings(
    writer: &mut ClientWriter,
    pongs: &mut mpsc::UnboundedReceiver<u64>,
) -> Result<(), ClientError> {
    while let Ok(nonce) = pongs.try_recv() {
        writer.send_msg(&ClientMsg::Pong { nonce }).await?;
    }
    Ok(())
}

async fn send_all(
    writer: &mut ClientWriter,
    plan: &SendPlan,
    window: &Semaphore,
    pongs: &mut mpsc::UnboundedReceiver<u64>,
    deadline: Deadline,
    report: &mut SendReport,
) -> anyhow::Result<()> {
    let mut buf = Vec::with_capacity(plan.template.len() * plan.batch.max(1));
    match plan.mode {
        Mode::Closed { duration } => {
            let until = plan.start + duration;
            // A window that stays shut until the end of the sending time ends
            // the sending, not the run: the drain then says what is missing.
            let limit = deadline.min(tokio::time::Instant::from_std(until));
            while (report.sent as usize) < plan.max && Instant::now() < until {
                answer_pings(writer, pongs).await?;
                match timeout_at(limit, window.acquire()).await {
                    Ok(Ok(permit)) => permit.forget(),
                    Ok(Err(_)) => bail!("window closed"),
                    Err(_) if Instant::now() >= until => break,
                    Err(_) => bail!("window timed out"),
                }
                let mut n = 1;
                while n < plan.batch && report.sent as usize + n < plan.max {
                    match window.try_acquire() {
                        Ok(permit) => permit.forget(),
                        Err(_) => break,
                    }
                    n += 1;
                }
                buf.clear();
                let now = now_ns();
                for counter in report.sent..report.sent + n as u64 {
                    push_frame(&mut buf, plan, counter, now);
                }
                writer.send_raw(&buf).await?;
                report.sent += n as u64;
            }
        }
        Mode::Paced { rate, duration } => {
            // The sender in slot i sends its k-th message at (k + i/n)·n/rate:
            // together the n senders send evenly spaced, `rate` per second.
            let interval = plan.senders as f64 / rate;
            let offset = plan.slot as f64 / rate;
            let limit = deadline.min(tokio::time::Instant::from_std(
                plan.start + duration + plan.drain,
            ));
            for k in 0..plan.max {
                let when = offset + k as f64 * interval;
                if when >= duration.as_secs_f64() {
                    break;
                }
                let at = plan.start + Duration::from_secs_f64(when);
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at.into()) => break,
                        Some(nonce) = pongs.recv() => {
                            writer.send_msg(&ClientMsg::Pong { nonce }).await?;
                        }
                    }
                }
                match timeout_at(limit, window.acquire()).await {
                    Ok(Ok(permit)) => permit.forget(),
                    _ => bail!("window timed out"),
                }
                report.max_late = report
                    .max_late
                    .max(Instant::now().saturating_duration_since(at));
                buf.clear();
                push_frame(&mut buf, plan, k as u64, now_ns());
                writer.send_raw(&buf).await?;
                report.sent += 1;
            }
        }
    }
    Ok(())
}

/// Appends a copy of the plan's frame with `counter` and the send time `now`.
fn push_frame(buf: &mut Vec<u8>, plan: &SendPlan, counter: u64, now: u64) {
    let start = buf.len();
    buf.extend_from_slice(&plan.template);
    let text = &mut buf[start + plan.text_at..];
    LAYOUT.put(text, 1, counter);
    LAYOUT.put(text, 2, now);
}
