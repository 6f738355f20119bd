//! The outbound half of a connection: drains the client's queue onto the socket.
//!
//! Driven from the connection's one task (see `session`), not a task of its
//! own: an idle connection then costs one task, not two.
//!
//! Frames arrive already encoded and shared with other recipients. Whatever
//! has piled up is written with one vectored `write` (up to [`MAX_BATCH`]
//! frames), so a busy client costs one syscall per batch, not per message.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::room::{consume, FrameReceiver};
use crate::protocol::{encode_frame, ErrorCode, ServerMsg};

/// Most frames gathered into one vectored write.
pub const MAX_BATCH: usize = 256;

/// Most vectored writes in one [`Writer::poll_drive`].
const WRITES_PER_POLL: usize = 8;

/// Frame slots an idle writer keeps.
const IDLE_SLOTS: usize = 4;

/// How long a writer must be idle before it gives back the slots a burst
/// grew. Not at once: a client receiving a steady stream goes idle between
/// every two bursts, and would otherwise regrow its buffers each time.
pub const RELEASE_SLOTS_AFTER: Duration = Duration::from_millis(50);

/// How long an evicted client gets to accept its error frame.
const EVICTION_NOTICE_TIMEOUT: Duration = Duration::from_millis(200);

/// How long a half-closed socket may take to accept a FIN.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(1);

/// How the writer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriterExit {
    /// The queue closed and everything in it was written.
    Drained,
    /// The room evicted the client.
    Evicted,
    /// The socket failed.
    Failed,
}

/// What [`Writer::poll_drive`] has to tell its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Everything queued is written, and the writer holds the slots of a
    /// burst: call [`Writer::release_if_idle`] if nothing comes for
    /// [`RELEASE_SLOTS_AFTER`].
    Idle,
    /// The room closed the queue (it is shutting down): the session ends,
    /// then [`Writer::drain`] writes what is left.
    Closed,
    /// The writer is done.
    Exit(WriterExit),
}

/// The write half of a connection and its queue, driven from the
/// connection's own task (one task per connection: its session polls
/// [`Writer::poll_drive`] beside its reads and timers).
pub struct Writer<W> {
    socket: W,
    outbound: FrameReceiver,
    /// Frames taken from the queue, not yet (fully) written.
    pending: VecDeque<Bytes>,
    /// True while `pending.front()` has been partly written.
    mid_frame: bool,
    /// Bytes written since the last flush (TLS may hold them as ciphertext).
    dirty: bool,
    /// This batch already let the thread's other tasks run once.
    yielded: bool,
    /// [`Step::Idle`] was reported since the last write.
    idle_told: bool,
    /// Writing out the rest after the session ended ([`Writer::drain`]).
    draining: bool,
}

impl<W: AsyncWrite + Unpin> Writer<W> {
    /// A writer of `outbound`'s frames onto `socket`.
    pub fn new(socket: W, outbound: FrameReceiver) -> Self {
        Writer {
            socket,
            outbound,
            pending: VecDeque::new(),
            mid_frame: false,
            dirty: false,
            yielded: false,
            idle_told: false,
            draining: false,
        }
    }

    /// Whether the session should stop reading: the room evicted the
    /// connection or closed its queue.
    pub fn is_over(&self) -> bool {
        self.outbound.is_evicted() || self.outbound.is_closed()
    }

    /// Writes what is queued until the socket would block or the queue is
    /// empty. `Pending` while there is nothing to do (the task is woken by
    /// the queue or the socket); `Ready` to tell of an idle burst buffer or
    /// the end.
    pub fn poll_drive(&mut self, cx: &mut Context<'_>) -> Poll<Step> {
        // Registered on every poll, so an eviction wakes the task even while
        // it waits on the socket.
        self.outbound.register(cx.waker());
        let mut writes = 0;
        loop {
            if self.outbound.is_evicted() {
                return Poll::Ready(Step::Exit(WriterExit::Evicted));
            }
            if !self.draining && self.outbound.is_closed() {
                return Poll::Ready(Step::Closed);
            }
            let room = MAX_BATCH.saturating_sub(self.pending.len());
            if self.pending.is_empty() {
                match self.outbound.poll_take_into(cx, &mut self.pending, room) {
                    // A direct write may have begun the first frame.
                    Poll::Ready(Some(_)) => self.mid_frame = self.outbound.took_cut_frame(),
                    Poll::Ready(None) => {
                        return self.poll_flush(cx).map(|r| match r {
                            Ok(()) => Step::Exit(WriterExit::Drained),
                            Err(()) => Step::Exit(WriterExit::Failed),
                        })
                    }
                    Poll::Pending => {
                        match self.poll_flush(cx) {
                            Poll::Ready(Ok(())) => {}
                            Poll::Ready(Err(())) => {
                                return Poll::Ready(Step::Exit(WriterExit::Failed))
                            }
                            Poll::Pending => return Poll::Pending,
                        }
                        // Holding a burst's slots: the connection gives
                        // them back if nothing comes for a while, so an idle
                        // client costs no more than a fresh one. Direct
                        // writes (which this writer did not see) say so
                        // through the queue.
                        if self.outbound.take_slot_note() {
                            self.idle_told = false;
                        }
                        if !self.idle_told
                            && (self.pending.capacity() > IDLE_SLOTS || self.outbound.holds_slots())
                        {
                            self.idle_told = true;
                            return Poll::Ready(Step::Idle);
                        }
                        return Poll::Pending;
                    }
                }
            } else {
                self.outbound.take_into(&mut self.pending, room);
            }
            // A small batch: let the tasks already queued on this thread
            // run first (typically the publisher's next burst), then take
            // what they add, so the syscall carries more. A task that wakes
            // itself goes to the back of its thread's queue. Halved the
            // writes per delivery at 10 subscribers.
            if self.pending.len() < MAX_BATCH / 4 && !self.yielded {
                self.yielded = true;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            // A reader that keeps up with a heavy stream could keep this
            // loop going for ever; after a few batches the session's reads
            // and timers get their turn.
            if writes == WRITES_PER_POLL {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            writes += 1;
            match poll_write_batch(&mut self.socket, &self.pending, cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(n)) => {
                    self.mid_frame = consume(&mut self.pending, n);
                    self.dirty = true;
                    self.yielded = false;
                    self.idle_told = false;
                }
                Poll::Ready(Err(err)) => {
                    tracing::debug!(cause = %err, "client write failed");
                    return Poll::Ready(Step::Exit(WriterExit::Failed));
                }
            }
        }
    }

    /// Flushes written bytes (TLS may still hold them as ciphertext; on
    /// plain TCP this is a no-op).
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ()>> {
        if !self.dirty {
            return Poll::Ready(Ok(()));
        }
        match Pin::new(&mut self.socket).poll_flush(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(())) => {
                self.dirty = false;
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(err)) => {
                tracing::debug!(cause = %err, "client flush failed");
                Poll::Ready(Err(()))
            }
        }
    }

    /// Gives back a burst's slots if nothing has been queued since the
    /// writer went idle.
    pub fn release_if_idle(&mut self) {
        if self.pending.is_empty() {
            self.pending = VecDeque::new();
            self.outbound.release_idle_slots();
        }
    }

    /// Writes everything still queued, until the queue closes (the room
    /// dropped the connection), the client is evicted or the socket fails.
    pub async fn drain(&mut self) -> WriterExit {
        self.draining = true;
        loop {
            if let Step::Exit(exit) = std::future::poll_fn(|cx| self.poll_drive(cx)).await {
                return exit;
            }
        }
    }

    /// Ends the connection's output after `exit`: an evicted client gets a
    /// last error frame if no frame was cut short, and the socket is
    /// half-closed unless it failed.
    pub async fn close(&mut self, exit: WriterExit) {
        if exit == WriterExit::Evicted && !self.mid_frame && !self.outbound.front_cut() {
            let notice = encode_frame(&ServerMsg::Error {
                code: ErrorCode::TOO_SLOW,
                text: "you were not reading fast enough; disconnected".into(),
                fatal: true,
                cid: None,
            });
            let _ =
                tokio::time::timeout(EVICTION_NOTICE_TIMEOUT, self.socket.write_all(&notice)).await;
        }
        if exit != WriterExit::Failed {
            let _ = tokio::time::timeout(SHUTDOWN_TIMEOUT, self.socket.shutdown()).await;
        }
    }
}

/// Drives a writer on its own until the queue closes, the client is
/// evicted, or the socket fails; then ends the output. For tests and tools:
/// a session drives its writer itself.
pub async fn run<W: AsyncWrite + Unpin>(socket: W, outbound: FrameReceiver) -> WriterExit {
    let mut writer = Writer::new(socket, outbound);
    let exit = writer.drain().await;
    writer.close(exit).await;
    exit
}

/// One vectored write of the front of `pending`. Returns bytes written.
/// The slice array lives on the stack only while polling, never in the
/// connection's state: an idle connection does not carry 4 KiB of
/// `IoSlice`s. A short queue (chat: one line at a time) gets a short array,
/// since filling all [`MAX_BATCH`] slots cost more than the frame.
fn poll_write_batch<W: AsyncWrite + Unpin>(
    socket: &mut W,
    pending: &VecDeque<Bytes>,
    cx: &mut Context<'_>,
) -> Poll<io::Result<usize>> {
    if pending.len() <= SHORT_BATCH {
        poll_write_slices::<W, SHORT_BATCH>(socket, pending, cx)
    } else {
        poll_write_slices::<W, MAX_BATCH>(socket, pending, cx)
    }
}

/// Slots of the short array of [`poll_write_batch`].
const SHORT_BATCH: usize = 8;

fn poll_write_slices<W: AsyncWrite + Unpin, const N: usize>(
    socket: &mut W,
    pending: &VecDeque<Bytes>,
    cx: &mut Context<'_>,
) -> Poll<io::Result<usize>> {
    let mut slices = [IoSlice::new(&[]); N];
    let mut count = 0;
    for (slot, frame) in slices.iter_mut().zip(pending.iter()) {
        *slot = IoSlice::new(frame);
        count += 1;
    }
    match Pin::new(&mut *socket).poll_write_vectored(cx, &slices[..count]) {
        Poll::Ready(Ok(0)) => Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
        other => other,
    }
}

#[cfg(test)]
mod direct_tests;
#[cfg(test)]
mod tests;
