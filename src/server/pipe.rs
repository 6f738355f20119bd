//! An in-process byte pipe between a bridged session and its gateway
//! (`bridge.rs`): two ends, each an `AsyncRead + AsyncWrite`, like
//! `tokio::io::duplex`, with the same bound on what one direction holds —
//! a writer whose reader stops reading waits, and the back-pressure
//! reaches the session's queue, which evicts a slow reader as it would on
//! TCP.
//!
//! Unlike `tokio::io::duplex`, whose buffer keeps the capacity of its
//! largest burst for the connection's life (64 KiB for a pipe that once
//! carried a channel's member list), a direction gives its buffer back as
//! soon as its reader has drained it: an idle pipe holds no buffer, only
//! its two small shared states.
//!
//! Closing: shutting down or dropping an end's writing half ends the
//! direction (its reader reads what is left, then end of file); dropping
//! an end's reading half makes writes into that direction fail with
//! `BrokenPipe`, as writing to a closed socket does.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

#[cfg(test)]
mod tests;

/// The least a direction allocates when it starts buffering: a burst of
/// small frames does not regrow the buffer for each one.
const FIRST_ALLOCATION: usize = 1024;

/// A pair of connected ends; each direction holds at most `max_buffered`
/// bytes not yet read.
pub fn pipe(max_buffered: usize) -> (Pipe, Pipe) {
    let max = max_buffered.max(1);
    let a_to_b = Arc::new(Direction::new(max));
    let b_to_a = Arc::new(Direction::new(max));
    let a = Pipe {
        reader: PipeReader {
            dir: b_to_a.clone(),
        },
        writer: PipeWriter {
            dir: a_to_b.clone(),
        },
    };
    let b = Pipe {
        reader: PipeReader { dir: a_to_b },
        writer: PipeWriter { dir: b_to_a },
    };
    (a, b)
}

/// One end of a [`pipe`]: reads what the other end writes, and the other
/// way round.
#[derive(Debug)]
pub struct Pipe {
    reader: PipeReader,
    writer: PipeWriter,
}

impl Pipe {
    /// The end's two halves, to read and write from different places
    /// without a lock between them (unlike `tokio::io::split`).
    pub fn into_split(self) -> (PipeReader, PipeWriter) {
        (self.reader, self.writer)
    }
}

/// The reading half of a [`Pipe`]. Dropping it makes the other end's
/// writes fail.
#[derive(Debug)]
pub struct PipeReader {
    dir: Arc<Direction>,
}

/// The writing half of a [`Pipe`]. Shutting it down or dropping it is the
/// end of file for the other end's reads.
#[derive(Debug)]
pub struct PipeWriter {
    dir: Arc<Direction>,
}

/// One direction: the bytes written and not yet read, and who waits.
#[derive(Debug)]
struct Direction {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// Written, not yet read. Empty means unallocated.
    buf: VecDeque<u8>,
    /// Most bytes `buf` may hold.
    max: usize,
    /// The writing half shut down or was dropped.
    write_closed: bool,
    /// The reading half was dropped.
    read_closed: bool,
    /// The reader, waiting for bytes or the end.
    reader: Option<Waker>,
    /// The writer, waiting for room.
    writer: Option<Waker>,
}

impl Direction {
    fn new(max: usize) -> Self {
        Direction {
            state: Mutex::new(State {
                buf: VecDeque::new(),
                max,
                write_closed: false,
                read_closed: false,
                reader: None,
                writer: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing here panics while holding the lock; if something did,
        // the state is still consistent (every change is one assignment).
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Remembers `cx`'s waker in `slot`, cloning only if it changed.
fn park(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(w) if w.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

impl State {
    /// Copies as much of `data` as there is room for. The buffer grows by
    /// doubling from [`FIRST_ALLOCATION`], never past `max`.
    fn push(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.max - self.buf.len());
        let needed = self.buf.len() + n;
        if needed > self.buf.capacity() {
            let target = needed
                .max(self.buf.capacity() * 2)
                .max(FIRST_ALLOCATION)
                .min(self.max);
            self.buf.reserve_exact(target - self.buf.len());
        }
        self.buf.extend(&data[..n]);
        n
    }

    /// Moves what fits into `out`; a drained buffer is freed.
    fn pull(&mut self, out: &mut ReadBuf<'_>) -> usize {
        let n = self.buf.len().min(out.remaining());
        let (front, back) = self.buf.as_slices();
        let from_front = n.min(front.len());
        out.put_slice(&front[..from_front]);
        out.put_slice(&back[..n - from_front]);
        if n == self.buf.len() {
            self.buf = VecDeque::new();
        } else {
            self.buf.drain(..n);
        }
        n
    }
}

impl PipeReader {
    /// Waits until a read would not wait: there are bytes, or the end. A
    /// reader that waits here, not in a read, needs no buffer meanwhile.
    pub async fn readable(&self) {
        std::future::poll_fn(|cx| {
            let mut state = self.dir.lock();
            if !state.buf.is_empty() || state.write_closed {
                return Poll::Ready(());
            }
            park(&mut state.reader, cx);
            Poll::Pending
        })
        .await
    }
}

impl AsyncRead for PipeReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if out.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        let mut state = self.dir.lock();
        if state.buf.is_empty() {
            if state.write_closed {
                return Poll::Ready(Ok(())); // end of file
            }
            park(&mut state.reader, cx);
            return Poll::Pending;
        }
        state.pull(out);
        let writer = state.writer.take();
        drop(state);
        if let Some(w) = writer {
            w.wake();
        }
        Poll::Ready(Ok(()))
    }
}

impl PipeWriter {
    /// Writes what fits of `slices`, in order; waits while the direction
    /// is full.
    fn write_slices(&self, cx: &Context<'_>, slices: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
        if slices.iter().all(|s| s.is_empty()) {
            return Poll::Ready(Ok(0));
        }
        let mut state = self.dir.lock();
        if state.read_closed || state.write_closed {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        if state.buf.len() == state.max {
            park(&mut state.writer, cx);
            return Poll::Pending;
        }
        let mut written = 0;
        for slice in slices {
            let n = state.push(slice);
            written += n;
            if n < slice.len() {
                break;
            }
        }
        let reader = state.reader.take();
        drop(state);
        if let Some(w) = reader {
            w.wake();
        }
        Poll::Ready(Ok(written))
    }

    /// Ends the direction; the reader is woken to see it.
    fn close(&self) {
        let mut state = self.dir.lock();
        state.write_closed = true;
        let reader = state.reader.take();
        drop(state);
        if let Some(w) = reader {
            w.wake();
        }
    }
}

impl AsyncWrite for PipeWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.write_slices(cx, &[IoSlice::new(data)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        slices: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.write_slices(cx, slices)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.close();
        Poll::Ready(Ok(()))
    }
}

impl Drop for PipeWriter {
    fn drop(&mut self) {
        self.close();
    }
}

impl Drop for PipeReader {
    fn drop(&mut self) {
        let mut state = self.dir.lock();
        state.read_closed = true;
        // Nobody will read it.
        state.buf = VecDeque::new();
        let writer = state.writer.take();
        drop(state);
        if let Some(w) = writer {
            w.wake();
        }
    }
}

impl AsyncRead for Pipe {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.reader).poll_read(cx, out)
    }
}

impl AsyncWrite for Pipe {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.writer).poll_write(cx, data)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        slices: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.writer).poll_write_vectored(cx, slices)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.writer).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.writer).poll_shutdown(cx)
    }
}
