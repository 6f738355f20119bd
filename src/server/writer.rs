//! The outbound half of a connection: drains the client's queue onto the socket.
//!
//! Frames arrive already encoded and shared with other recipients. Whatever
//! has piled up is written with one vectored `write` (up to [`MAX_BATCH`]
//! frames), so a busy client costs one syscall per batch, not per message.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::time::Duration;

use bytes::{Buf, Bytes};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use super::room::FrameReceiver;
use crate::protocol::{encode_frame, ErrorCode, ServerMsg};

/// Most frames gathered into one vectored write.
pub const MAX_BATCH: usize = 256;

/// Frame slots an idle writer keeps.
const IDLE_SLOTS: usize = 4;

/// How long a writer must be idle before it gives back the slots a burst
/// grew. Not at once: a client receiving a steady stream goes idle between
/// every two bursts, and would otherwise regrow its buffers each time.
const RELEASE_SLOTS_AFTER: Duration = Duration::from_millis(50);

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

/// Writes queued frames until the queue closes, the client is evicted, or the
/// socket fails; then half-closes the socket.
pub async fn run<W: AsyncWrite + Unpin>(
    mut socket: W,
    mut outbound: FrameReceiver,
    evicted: CancellationToken,
) -> WriterExit {
    let mut pending: VecDeque<Bytes> = VecDeque::new();
    // True while `pending.front()` has been partly written.
    let mut mid_frame = false;
    // One registration with the token for the writer's life, not one per batch.
    let cancelled = evicted.cancelled();
    tokio::pin!(cancelled);
    let exit = loop {
        if pending.is_empty() {
            // TLS may still hold written bytes as ciphertext; push them out
            // before waiting for more. On plain TCP this is a no-op.
            let flushed = tokio::select! {
                biased;
                _ = &mut cancelled => break WriterExit::Evicted,
                flushed = socket.flush() => flushed,
            };
            if let Err(err) = flushed {
                tracing::debug!(cause = %err, "client flush failed");
                break WriterExit::Failed;
            }
            // Holding a burst's slots: give them back if nothing comes for a
            // while, so an idle client costs no more than a fresh one.
            let holding = pending.capacity() > IDLE_SLOTS || outbound.holds_slots();
            tokio::select! {
                biased;
                _ = &mut cancelled => break WriterExit::Evicted,
                frame = outbound.recv() => match frame {
                    Some(frame) => pending.push_back(frame),
                    None => break WriterExit::Drained,
                },
                _ = tokio::time::sleep(RELEASE_SLOTS_AFTER), if holding => {
                    pending = VecDeque::new();
                    outbound.release_idle_slots();
                    continue;
                }
            }
        }
        top_up(&mut outbound, &mut pending);
        // A small batch: let the tasks already queued on this thread run
        // first (typically the publisher's next burst) and take what they
        // add, so the syscall carries more. Costs one trip through the run
        // queue; halved the writes per delivery at 10 subscribers.
        if pending.len() < MAX_BATCH / 4 {
            tokio::task::yield_now().await;
            top_up(&mut outbound, &mut pending);
        }
        let written = tokio::select! {
            biased;
            _ = &mut cancelled => break WriterExit::Evicted,
            written = write_batch(&mut socket, &pending) => written,
        };
        match written {
            Ok(n) => mid_frame = consume(&mut pending, n),
            Err(err) => {
                tracing::debug!(cause = %err, "client write failed");
                break WriterExit::Failed;
            }
        }
    };
    if exit == WriterExit::Evicted && !mid_frame {
        let notice = encode_frame(&ServerMsg::Error {
            code: ErrorCode::TOO_SLOW,
            text: "you were not reading fast enough; disconnected".into(),
            fatal: true,
            cid: None,
        });
        let _ = tokio::time::timeout(EVICTION_NOTICE_TIMEOUT, socket.write_all(&notice)).await;
    }
    if exit != WriterExit::Failed {
        let _ = tokio::time::timeout(SHUTDOWN_TIMEOUT, socket.shutdown()).await;
    }
    exit
}

/// Moves queued frames into `pending`, up to [`MAX_BATCH`] in all.
fn top_up(outbound: &mut FrameReceiver, pending: &mut VecDeque<Bytes>) {
    outbound.take_into(pending, MAX_BATCH.saturating_sub(pending.len()));
}

/// One vectored write of the front of `pending`. Returns bytes written.
///
/// The slice array lives on the stack only while polling, never in the
/// future's state: a writer waiting on a slow socket does not carry 1 KiB
/// of `IoSlice`s in its task.
async fn write_batch<W: AsyncWrite + Unpin>(
    socket: &mut W,
    pending: &VecDeque<Bytes>,
) -> io::Result<usize> {
    let n = std::future::poll_fn(|cx| {
        let mut slices = [IoSlice::new(&[]); MAX_BATCH];
        let mut count = 0;
        for (slot, frame) in slices.iter_mut().zip(pending.iter()) {
            *slot = IoSlice::new(frame);
            count += 1;
        }
        Pin::new(&mut *socket).poll_write_vectored(cx, &slices[..count])
    })
    .await?;
    if n == 0 {
        return Err(io::ErrorKind::WriteZero.into());
    }
    Ok(n)
}

/// Drops `n` written bytes from the front of `pending`. Returns true if the
/// new front frame has been partly written.
fn consume(pending: &mut VecDeque<Bytes>, mut n: usize) -> bool {
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
mod tests {
    use super::*;
    use crate::server::room::{frame_queue, Wakes};
    use tokio::io::AsyncReadExt;

    #[test]
    fn consume_tracks_partial_frames() {
        let mut q: VecDeque<Bytes> = [&b"abc"[..], b"de", b"f"]
            .into_iter()
            .map(Bytes::from_static)
            .collect();
        assert!(consume(&mut q, 4), "one byte of 'de' written");
        assert_eq!(q.front().unwrap().as_ref(), b"e");
        assert!(!consume(&mut q, 1));
        assert_eq!(q.len(), 1);
        assert!(!consume(&mut q, 1));
        assert!(q.is_empty());
    }

    #[tokio::test]
    async fn writes_everything_in_order_then_half_closes() {
        let (client, mut server_side) = tokio::io::duplex(16); // tiny pipe: many partial writes
        let (tx, rx) = frame_queue(1000);
        let task = tokio::spawn(run(client, rx, CancellationToken::new()));
        let mut expected = Vec::new();
        for i in 0..500u32 {
            let frame = Bytes::from(format!("frame-{i};"));
            expected.extend_from_slice(&frame);
            tx.try_send(frame, &mut Wakes::default()).unwrap();
        }
        drop(tx);
        let mut got = Vec::new();
        server_side.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, expected);
        assert_eq!(task.await.unwrap(), WriterExit::Drained);
    }

    #[tokio::test]
    async fn eviction_stops_a_stuck_writer() {
        let (client, _server_side) = tokio::io::duplex(8); // nobody reads
        let (tx, rx) = frame_queue(10);
        let evicted = CancellationToken::new();
        let task = tokio::spawn(run(client, rx, evicted.clone()));
        tx.try_send(Bytes::from(vec![0u8; 1024]), &mut Wakes::default())
            .unwrap();
        evicted.cancel();
        assert_eq!(task.await.unwrap(), WriterExit::Evicted);
    }
}
