//! Direct writes: whoever queued a burst writes it onto a plain TCP
//! connection's socket itself, from its own thread, when nobody else is
//! writing to it ([`Wakes::flush_all`](super::Wakes::flush_all)).
//!
//! Order on the wire is the queue's order whoever writes: a direct write
//! happens under the queue's lock and takes frames from its front, and the
//! writer task writes only frames it has taken; while it holds any
//! (`writer_busy`), direct writes leave the socket to it. A frame cut short
//! by a direct write stays at the front, advanced, and its rest is written
//! first by whoever writes next (`front_cut` tells the writer, which must
//! not put an eviction notice after half a frame).
//!
//! The lock is only tried: a queue another thread is pushing to or taking
//! from is left to its writer, woken as before, rather than waited for.
//!
//! **When not to.** A direct write saves the recipient's task a wake and
//! two polls, but it writes *now*, with what is queued now. The writer,
//! woken, runs later, behind whatever the thread has to do, and takes
//! everything queued by then. Under load that wait is a batch, so direct
//! writes are kept to where they lose nothing:
//! * **A queue holding one frame is left to its writer**
//!   ([`DIRECT_MIN_FRAMES`]). Chat (1,000 clients on 3 servers, a line to
//!   everyone 200 times a second) on this 2-core machine: written
//!   directly, one frame per syscall, 3.4 times the syscalls, 1.75 times
//!   the CPU, and queues that grew until lines waited seconds; by the
//!   writers, about 4 frames per syscall. A burst of several frames is a
//!   batch already.
//! * **A burst to more than [`DIRECT_MAX`] members is left to their
//!   writers.** One thread writing to each in turn spends milliseconds on
//!   syscalls while the other workers idle; woken, the writers share the
//!   work over every worker and run behind the publisher's next bursts.
//!   One publisher to 1,000 subscribers: 15 frames per syscall directly,
//!   113 woken, a quarter of the deliveries per second directly.
//!
//! What is left is a publisher's burst to a few members, as fast as they
//! read (measured at 10 subscribers on a quiet machine: a quarter less
//! server CPU per delivery at 64 B, a sixth at 512 B; BENCHMARKS.md).

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::sync::atomic::Ordering;
use std::sync::TryLockError;

use bytes::{Buf, Bytes};
use tokio::net::TcpStream;

use super::{Shared, IDLE_SLOTS};

/// Fewest messages a queue must hold to be written directly; fewer are left
/// to its writer, which batches them under load (see the module's notes).
pub const DIRECT_MIN_FRAMES: usize = 2;

/// Most queues one flush writes directly; a flush to more wakes their
/// writers instead (see the module's notes).
pub const DIRECT_MAX: usize = 512;

/// Most vectored writes one direct flush makes before leaving the rest to
/// the writer: a reader that keeps up with a heavy stream must not keep
/// the publisher writing for it.
const DIRECT_WRITES: usize = 4;

/// Most frames in one vectored write (as the writer's `MAX_BATCH`).
const BATCH: usize = 256;

/// Frames in the short slice array a chat line (one frame) is written
/// from: filling all [`BATCH`] slots would cost more than the frame.
const SHORT_BATCH: usize = 8;

impl Shared {
    /// Writes what is queued onto the socket, if the queue has one and
    /// nobody else is writing to it. True if everything went and the writer
    /// need not be woken; false if it must take over (the socket is full,
    /// failed or is not shared; the writer holds frames; the queue is busy
    /// or was evicted; or its burst slots are to be given back later).
    pub(super) fn flush(&self) -> bool {
        let mut guard = match self.state.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return false,
        };
        let state = &mut *guard;
        if state.writer_busy || self.evicted.load(Ordering::Acquire) {
            return false;
        }
        let Some(socket) = state.direct.as_deref() else {
            return false;
        };
        if state.queued() < DIRECT_MIN_FRAMES {
            return state.frames.is_empty();
        }
        for _ in 0..DIRECT_WRITES {
            if state.frames.is_empty() {
                break;
            }
            match write_front(socket, &state.frames) {
                Ok(n) if n > 0 => {
                    let before = state.frames.len();
                    state.front_cut = consume(&mut state.frames, n);
                    let taken = before - state.frames.len();
                    super::forget_front(&mut state.heavy, taken);
                }
                // WouldBlock (tokio has cleared the write readiness, so the
                // writer waits for the socket), a failure (the writer
                // meets it too and ends the session) or nothing written.
                _ => return false,
            }
        }
        if !state.frames.is_empty() {
            return false;
        }
        // The writer gives a burst's slots back once idle for a while; it
        // must hear that there are some, once, since it wrote none of this.
        if state.frames.capacity() > IDLE_SLOTS && !state.slots_noted {
            state.slots_noted = true;
            state.slot_note_unseen = true;
            return false;
        }
        true
    }
}

/// One vectored write of the front of `frames` (the slice array on the
/// stack, short for a short queue).
fn write_front(socket: &TcpStream, frames: &VecDeque<Bytes>) -> io::Result<usize> {
    if frames.len() <= SHORT_BATCH {
        write_slices::<SHORT_BATCH>(socket, frames)
    } else {
        write_slices::<BATCH>(socket, frames)
    }
}

fn write_slices<const N: usize>(socket: &TcpStream, frames: &VecDeque<Bytes>) -> io::Result<usize> {
    let mut slices = [IoSlice::new(&[]); N];
    let mut count = 0;
    for (slot, frame) in slices.iter_mut().zip(frames.iter()) {
        *slot = IoSlice::new(frame);
        count += 1;
    }
    socket.try_write_vectored(&slices[..count])
}

/// Drops `n` written bytes from the front of `pending`. Returns true if the
/// new front frame has been partly written.
pub fn consume(pending: &mut VecDeque<Bytes>, mut n: usize) -> bool {
    while n > 0 {
        let Some(front) = pending.front_mut() else {
            break;
        };
        if n >= front.len() {
            n -= front.len();
            pending.pop_front();
        } else {
            front.advance(n);
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests;
