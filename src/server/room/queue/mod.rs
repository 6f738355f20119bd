//! A connection's bounded outbound queue: the room pushes shared frames
//! without ever waiting, and the connection's writer takes them in batches.
//!
//! Like a tokio `mpsc` channel with `try_send`, but sized for many idle
//! connections: an empty queue holds no allocation (an `mpsc` channel keeps
//! at least one 32-slot block, about 1 KiB, per connection), and a batch is
//! taken under one lock instead of one atomic hand-off per frame.
//!
//! Waking the writer is left to the caller, through [`Wakes`]: a publisher
//! that queues a burst of messages wakes each writer once, after the burst,
//! so the writer finds the whole burst and writes it with one syscall
//! instead of racing the publisher for the first frame.
//!
//! A plain TCP connection's queue also holds its socket, so whoever queued
//! a burst can write it out at once, from its own thread, instead of waking
//! the connection's task to do it ([`Wakes::flush_all`], `direct`): that
//! is one syscall per recipient and burst, as before, without a task wake
//! and two polls of the connection's future. The writer task is woken only
//! when the direct write cannot finish (the socket is full, or the writer
//! holds frames of its own).
//!
//! An entry may hold several messages at once: a run of one member's lines
//! to a room, encoded back to back and shared by every other member
//! (`run` in the room). It costs a member one push and one reference,
//! not one per line, and counts as the lines it holds: the bound is in
//! messages, whatever the entries.
//!
//! The queue also carries the room's eviction of a slow reader
//! ([`FrameSender::evict`]): the connection's task learns of it where it
//! waits for frames, with no token or future of its own per connection.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use futures_util::task::AtomicWaker;
use tokio::net::TcpStream;
use tokio::sync::mpsc::error::{TryRecvError, TrySendError};

mod direct;

pub use direct::consume;

/// Frame slots an empty queue may keep; beyond this an idle queue gives its
/// memory back.
const IDLE_SLOTS: usize = 4;

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// The connection's task, woken when the queue stops being empty,
    /// closes, or is evicted.
    waker: AtomicWaker,
    /// Set by the room when it evicts the connection as too slow.
    evicted: AtomicBool,
    /// Set when the room's end is dropped: the connection is over for the
    /// room (it is shutting down, or the session ended). A lock-free copy
    /// of `State::sender_alive`, written only with it (in the sender's
    /// drop), for the session's check once per frame; the lock-protected
    /// one stays the truth for pushes and takes.
    closed: AtomicBool,
}

#[derive(Debug)]
struct State {
    frames: VecDeque<Bytes>,
    /// The entries of `frames` that hold more than one message, while any
    /// is queued: a queue that never holds a run pays one pointer.
    heavy: Option<Box<Heavy>>,
    sender_alive: bool,
    receiver_alive: bool,
    /// The connection's socket, for direct writes (plain TCP only).
    direct: Option<Arc<TcpStream>>,
    /// The writer holds frames it took from the queue and has not written
    /// yet: until it has, nobody else may write to the socket.
    writer_busy: bool,
    /// The front frame was partly written by a direct write.
    front_cut: bool,
    /// A direct write left the queue holding a burst's slots and woke the
    /// writer to have them given back later; not again until they are.
    slots_noted: bool,
    /// ...and the writer has not seen that note yet.
    slot_note_unseen: bool,
}

/// Where the entries holding several messages are in a queue, and how
/// many messages beyond one each holds.
#[derive(Debug, Default)]
struct Heavy {
    /// The position of the queue's front entry, counted from when this
    /// was made.
    front: u64,
    /// (position, messages beyond the first) of each such entry, in order.
    entries: VecDeque<(u64, u32)>,
    /// Their sum.
    extra: usize,
}

impl State {
    /// The messages queued: what the capacity bounds.
    fn queued(&self) -> usize {
        self.frames.len() + self.heavy.as_ref().map_or(0, |h| h.extra)
    }

    /// Notes that the entry just pushed holds `messages`.
    fn pushed(&mut self, messages: u32) {
        if messages > 1 {
            let heavy = self.heavy.get_or_insert_with(Default::default);
            let at = heavy.front + self.frames.len() as u64 - 1;
            heavy.entries.push_back((at, messages - 1));
            heavy.extra += messages as usize - 1;
        }
    }

    /// Takes the front entry out.
    fn pop_front(&mut self) -> Option<Bytes> {
        let frame = self.frames.pop_front()?;
        forget_front(&mut self.heavy, 1);
        Some(frame)
    }
}

/// Notes that `n` entries left the queue's front (a free function for a
/// caller holding another field of the state borrowed).
fn forget_front(heavy: &mut Option<Box<Heavy>>, n: usize) {
    let Some(h) = heavy else {
        return;
    };
    h.front += n as u64;
    while let Some(&(at, extra)) = h.entries.front() {
        if at >= h.front {
            break;
        }
        h.entries.pop_front();
        h.extra -= extra as usize;
    }
    if h.entries.is_empty() {
        *heavy = None;
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn wake(&self) {
        self.waker.wake();
    }
}

/// A queue holding at most `capacity` frames.
pub fn frame_queue(capacity: usize) -> (FrameSender, FrameReceiver) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            frames: VecDeque::new(),
            heavy: None,
            sender_alive: true,
            receiver_alive: true,
            direct: None,
            writer_busy: false,
            front_cut: false,
            slots_noted: false,
            slot_note_unseen: false,
        }),
        waker: AtomicWaker::new(),
        evicted: AtomicBool::new(false),
        closed: AtomicBool::new(false),
    });
    (
        FrameSender {
            shared: shared.clone(),
            capacity: capacity.max(1),
        },
        FrameReceiver {
            shared,
            took_cut: false,
            slot_note: false,
        },
    )
}

/// The room's end. Dropping it closes the queue once drained.
#[derive(Debug)]
pub struct FrameSender {
    shared: Arc<Shared>,
    capacity: usize,
}

/// Writers that have frames waiting but have not been woken yet. Waking
/// happens in [`Wakes::wake_all`], or when the list is dropped, so a frame
/// can never be left queued with its writer asleep.
#[derive(Debug, Default)]
pub struct Wakes {
    writers: Vec<Arc<Shared>>,
    /// Messages queued since the last wake, a measure of the work done.
    queued: usize,
    /// The most recipients any one frame had since the last wake.
    widest: usize,
}

impl Wakes {
    /// Wakes every writer on the list and empties it (keeping its capacity).
    pub fn wake_all(&mut self) {
        for shared in self.writers.drain(..) {
            shared.wake();
        }
        self.queued = 0;
        self.widest = 0;
    }

    /// Writes each listed queue straight onto its socket where it can
    /// (see `direct`), and wakes the writers of the others; empties the
    /// list. Call with no lock held: this makes syscalls.
    pub fn flush_all(&mut self) {
        if self.widest.max(self.writers.len()) <= direct::DIRECT_MAX {
            self.writers.retain(|shared| !shared.flush());
        }
        self.wake_all();
    }

    /// Notes a frame about to be queued for `recipients` connections: a
    /// fan-out to more than [`direct::DIRECT_MAX`] is left to the writers.
    pub fn note_fanout(&mut self, recipients: usize) {
        self.widest = self.widest.max(recipients);
    }

    /// Moves `other`'s writers onto this list.
    pub fn append(&mut self, other: &mut Wakes) {
        self.writers.append(&mut other.writers);
        self.queued += std::mem::take(&mut other.queued);
        self.widest = self.widest.max(std::mem::take(&mut other.widest));
    }

    /// Counts `deliveries` that will be queued later (a run's, when it is
    /// sealed) in [`Wakes::queued`] now, so a burst's size is seen as it grows.
    pub fn count(&mut self, deliveries: usize) {
        self.queued += deliveries;
    }

    /// Messages queued since the last [`Wakes::wake_all`].
    pub fn queued(&self) -> usize {
        self.queued
    }
}

impl Drop for Wakes {
    fn drop(&mut self) {
        self.wake_all();
    }
}

impl FrameSender {
    /// Queues a frame; fails at once if the queue is full or the writer is
    /// gone. If the writer may be waiting for it, it goes on `wakes`.
    pub fn try_send(&self, frame: Bytes, wakes: &mut Wakes) -> Result<(), TrySendError<Bytes>> {
        push(&self.shared, self.capacity, frame, 1, wakes)?;
        wakes.queued += 1;
        Ok(())
    }

    /// A handle that pushes onto this queue without owning it: the queue
    /// still closes when this sender is dropped, and pushes through the
    /// handle fail from then on. What a room keeps per local member, so a
    /// fan-out pushes without looking the connection up.
    pub fn pusher(&self) -> Pusher {
        Pusher {
            shared: self.shared.clone(),
            capacity: self.capacity,
        }
    }
}

impl FrameSender {
    /// Marks the connection evicted (too slow) and wakes its task, which
    /// ends the session on seeing it. Frames already queued stay readable.
    pub fn evict(&self) {
        self.shared.evicted.store(true, Ordering::Release);
        self.shared.wake();
    }
}

/// See [`FrameSender::pusher`].
#[derive(Debug, Clone)]
pub struct Pusher {
    shared: Arc<Shared>,
    capacity: usize,
}

impl Pusher {
    /// As [`FrameSender::try_send`]; `Closed` once the sender is gone too.
    pub fn try_send(&self, frame: Bytes, wakes: &mut Wakes) -> Result<(), TrySendError<Bytes>> {
        push(&self.shared, self.capacity, frame, 1, wakes)?;
        wakes.queued += 1;
        Ok(())
    }

    /// Queues one entry holding `messages` frames back to back (a run):
    /// all of them or, if they do not all fit, none (`Full`). They are not
    /// counted on `wakes` again: the room counted them as it took each
    /// line in ([`Wakes::count`]).
    pub fn try_send_run(
        &self,
        frames: Bytes,
        messages: u32,
        wakes: &mut Wakes,
    ) -> Result<(), TrySendError<Bytes>> {
        push(&self.shared, self.capacity, frames, messages, wakes)
    }
}

fn push(
    shared: &Arc<Shared>,
    capacity: usize,
    frame: Bytes,
    messages: u32,
    wakes: &mut Wakes,
) -> Result<(), TrySendError<Bytes>> {
    let mut state = shared.lock();
    if !state.receiver_alive || !state.sender_alive {
        return Err(TrySendError::Closed(frame));
    }
    let messages = messages.max(1);
    if state.queued() + messages as usize > capacity {
        return Err(TrySendError::Full(frame));
    }
    state.frames.push_back(frame);
    state.pushed(messages);
    let first = state.frames.len() == 1;
    drop(state);
    // The writer only ever waits on an empty queue. (What is queued is
    // counted by the callers: a run's lines were counted as they came.)
    if first {
        wakes.writers.push(shared.clone());
    }
    Ok(())
}

impl Drop for FrameSender {
    fn drop(&mut self) {
        self.shared.lock().sender_alive = false;
        self.shared.closed.store(true, Ordering::Release);
        self.shared.wake();
    }
}

/// The writer's end.
#[derive(Debug)]
pub struct FrameReceiver {
    shared: Arc<Shared>,
    /// The last take began with a frame a direct write had cut short.
    took_cut: bool,
    /// A direct write's note about slots, picked up by the last take that
    /// found the queue empty (so the writer's check costs no lock).
    slot_note: bool,
}

impl FrameReceiver {
    /// Lets whoever queues a burst write it straight onto `socket` (see
    /// [`Wakes::flush_all`]). The socket stays open until this receiver is
    /// dropped.
    pub fn set_direct(&self, socket: Arc<TcpStream>) {
        self.shared.lock().direct = Some(socket);
    }

    /// Whether the last take began with a frame partly written already,
    /// by a direct write; reading this resets it.
    pub fn took_cut_frame(&mut self) -> bool {
        std::mem::take(&mut self.took_cut)
    }

    /// Whether the queue's front frame was partly written by a direct
    /// write (and not yet taken): nothing else may be written before it.
    pub fn front_cut(&self) -> bool {
        self.shared.lock().front_cut
    }

    /// Whether a direct write has asked, since the last call, that the
    /// queue's slots be given back once it has been idle a while.
    pub fn take_slot_note(&mut self) -> bool {
        std::mem::take(&mut self.slot_note)
    }

    /// Registers the connection's task to be woken by the next push into
    /// an empty queue, the close, or an eviction. Call before looking at the
    /// queue, so nothing that happens after the look is missed.
    pub fn register(&self, waker: &Waker) {
        self.shared.waker.register(waker);
    }

    /// Whether the room evicted the connection.
    pub fn is_evicted(&self) -> bool {
        self.shared.evicted.load(Ordering::Acquire)
    }

    /// Whether the room dropped its end: nothing more will be queued
    /// (what was queued is still readable).
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }

    /// Like [`FrameReceiver::take_into`], but `Pending` (with the task
    /// registered) while the queue is empty and open, and `Ready(None)`
    /// once it is closed and drained.
    pub fn poll_take_into(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut VecDeque<Bytes>,
        max: usize,
    ) -> Poll<Option<usize>> {
        self.register(cx.waker());
        let mut state = self.shared.lock();
        match take(&mut state, out, max, &mut self.took_cut) {
            0 if state.sender_alive => {
                self.slot_note |= std::mem::take(&mut state.slot_note_unseen);
                Poll::Pending
            }
            0 => Poll::Ready(None),
            n => Poll::Ready(Some(n)),
        }
    }

    /// The next frame; `None` once the sender is gone and the queue drained.
    pub async fn recv(&mut self) -> Option<Bytes> {
        let mut one = VecDeque::new();
        std::future::poll_fn(|cx| self.poll_take_into(cx, &mut one, 1))
            .await
            .and_then(|_| one.pop_front())
    }

    /// A frame if one is queued.
    pub fn try_recv(&mut self) -> Result<Bytes, TryRecvError> {
        let mut state = self.shared.lock();
        match state.pop_front() {
            Some(frame) => Ok(frame),
            None if state.sender_alive => Err(TryRecvError::Empty),
            None => Err(TryRecvError::Disconnected),
        }
    }

    /// Moves up to `max` queued frames to the end of `out`, under one lock.
    /// If `out` is empty and all of them fit, the two buffers trade places
    /// instead: nothing is copied, and both keep their slots for the next
    /// burst.
    pub fn take_into(&mut self, out: &mut VecDeque<Bytes>, max: usize) -> usize {
        take(&mut self.shared.lock(), out, max, &mut self.took_cut)
    }

    /// Gives back the queue's slots if it is empty and holds more than an
    /// idle queue needs. The writer calls this once it has been idle a while,
    /// not every time it waits, so a busy stream of bursts keeps its slots.
    pub fn release_idle_slots(&mut self) {
        let mut state = self.shared.lock();
        if state.frames.is_empty() && state.frames.capacity() > IDLE_SLOTS {
            state.frames = VecDeque::new();
        }
        state.slots_noted = false;
    }

    /// Whether the queue holds more slots than an idle queue needs.
    pub fn holds_slots(&self) -> bool {
        self.shared.lock().frames.capacity() > IDLE_SLOTS
    }
}

/// See [`FrameReceiver::take_into`]. The writer holds what `out` holds:
/// while that is anything, no direct write may happen.
fn take(state: &mut State, out: &mut VecDeque<Bytes>, max: usize, took_cut: &mut bool) -> usize {
    let n = state.frames.len().min(max);
    if n > 0 && std::mem::take(&mut state.front_cut) {
        *took_cut = true;
    }
    if out.is_empty() && n == state.frames.len() {
        std::mem::swap(out, &mut state.frames);
    } else {
        out.extend(state.frames.drain(..n));
    }
    forget_front(&mut state.heavy, n);
    state.writer_busy = !out.is_empty();
    n
}

impl Drop for FrameReceiver {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.receiver_alive = false;
        state.frames = VecDeque::new();
        state.heavy = None;
        // The connection is over: its socket closes with its task.
        state.direct = None;
    }
}

#[cfg(test)]
mod tests;
