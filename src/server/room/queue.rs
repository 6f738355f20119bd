//! A connection's bounded outbound queue: the room pushes shared frames
//! without ever waiting, and the connection's writer takes them in batches.
//!
//! Like a tokio `mpsc` channel with `try_send`, but sized for many idle
//! connections: an empty queue holds no allocation (an `mpsc` channel keeps
//! at least one 32-slot block, about 1 KiB, per connection), and a batch is
//! taken under one lock instead of one atomic hand-off per frame.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::mpsc::error::{TryRecvError, TrySendError};
use tokio::sync::Notify;

/// Frame slots an empty queue may keep; beyond this an idle queue gives its
/// memory back.
const IDLE_SLOTS: usize = 4;

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// Wakes the writer when the queue stops being empty or closes.
    ready: Notify,
}

#[derive(Debug)]
struct State {
    frames: VecDeque<Bytes>,
    sender_alive: bool,
    receiver_alive: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A queue holding at most `capacity` frames.
pub fn frame_queue(capacity: usize) -> (FrameSender, FrameReceiver) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            frames: VecDeque::new(),
            sender_alive: true,
            receiver_alive: true,
        }),
        ready: Notify::new(),
    });
    (
        FrameSender {
            shared: shared.clone(),
            capacity: capacity.max(1),
        },
        FrameReceiver { shared },
    )
}

/// The room's end. Dropping it closes the queue once drained.
#[derive(Debug)]
pub struct FrameSender {
    shared: Arc<Shared>,
    capacity: usize,
}

impl FrameSender {
    /// Queues a frame; fails at once if the queue is full or the writer is gone.
    pub fn try_send(&self, frame: Bytes) -> Result<(), TrySendError<Bytes>> {
        let mut state = self.shared.lock();
        if !state.receiver_alive {
            return Err(TrySendError::Closed(frame));
        }
        if state.frames.len() >= self.capacity {
            return Err(TrySendError::Full(frame));
        }
        state.frames.push_back(frame);
        let first = state.frames.len() == 1;
        drop(state);
        // The writer only ever waits on an empty queue.
        if first {
            self.shared.ready.notify_one();
        }
        Ok(())
    }
}

impl Drop for FrameSender {
    fn drop(&mut self) {
        self.shared.lock().sender_alive = false;
        self.shared.ready.notify_one();
    }
}

/// The writer's end.
#[derive(Debug)]
pub struct FrameReceiver {
    shared: Arc<Shared>,
}

impl FrameReceiver {
    /// The next frame; `None` once the sender is gone and the queue drained.
    pub async fn recv(&mut self) -> Option<Bytes> {
        loop {
            {
                let mut state = self.shared.lock();
                if let Some(frame) = state.frames.pop_front() {
                    return Some(frame);
                }
                if !state.sender_alive {
                    return None;
                }
                // About to idle: give back what a burst grew.
                if state.frames.capacity() > IDLE_SLOTS {
                    state.frames = VecDeque::new();
                }
            }
            // A push after the check leaves a permit, so this cannot miss it.
            self.shared.ready.notified().await;
        }
    }

    /// A frame if one is queued.
    pub fn try_recv(&mut self) -> Result<Bytes, TryRecvError> {
        let mut state = self.shared.lock();
        match state.frames.pop_front() {
            Some(frame) => Ok(frame),
            None if state.sender_alive => Err(TryRecvError::Empty),
            None => Err(TryRecvError::Disconnected),
        }
    }

    /// Moves up to `max` queued frames to the end of `out`, under one lock.
    pub fn take_into(&mut self, out: &mut VecDeque<Bytes>, max: usize) -> usize {
        let mut state = self.shared.lock();
        let n = state.frames.len().min(max);
        out.extend(state.frames.drain(..n));
        n
    }
}

impl Drop for FrameReceiver {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.receiver_alive = false;
        state.frames = VecDeque::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_ordered_and_closed_by_either_end() {
        let (tx, mut rx) = frame_queue(2);
        tx.try_send(Bytes::from_static(b"a")).unwrap();
        tx.try_send(Bytes::from_static(b"b")).unwrap();
        assert!(matches!(
            tx.try_send(Bytes::from_static(b"c")),
            Err(TrySendError::Full(_))
        ));
        let mut out = VecDeque::new();
        assert_eq!(rx.take_into(&mut out, 64), 2);
        assert_eq!(out, [&b"a"[..], b"b"]);
        assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)));
        drop(rx);
        assert!(matches!(
            tx.try_send(Bytes::from_static(b"d")),
            Err(TrySendError::Closed(_))
        ));
    }

    #[tokio::test]
    async fn the_writer_wakes_for_frames_and_sees_the_close_after_them() {
        let (tx, mut rx) = frame_queue(16);
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(frame) = rx.recv().await {
                got.push(frame);
            }
            got
        });
        for i in 0..10u8 {
            tx.try_send(Bytes::from(vec![i])).unwrap();
            tokio::task::yield_now().await;
        }
        drop(tx);
        let got = reader.await.unwrap();
        assert_eq!(got.len(), 10);
        assert!(got.iter().enumerate().all(|(i, f)| f[0] == i as u8));
    }
}
