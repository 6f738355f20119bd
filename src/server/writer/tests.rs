//! The writer on its own, and beside the room's direct writes.

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
    let task = tokio::spawn(run(client, rx));
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
async fn a_closed_queue_is_told_then_drained() {
    let (client, mut server_side) = tokio::io::duplex(4); // tiny: the writer blocks
    let (tx, rx) = frame_queue(10);
    let mut writer = Writer::new(client, rx);
    tx.try_send(Bytes::from_static(b"goodbye"), &mut Wakes::default())
        .unwrap();
    drop(tx);
    // The session hears of the close before the frame is out...
    let step = std::future::poll_fn(|cx| writer.poll_drive(cx)).await;
    assert_eq!(step, Step::Closed);
    // ...and draining then writes it all, however slowly it is read.
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        server_side.read_to_end(&mut got).await.unwrap();
        got
    });
    let exit = writer.drain().await;
    assert_eq!(exit, WriterExit::Drained);
    writer.close(exit).await;
    assert_eq!(reader.await.unwrap(), b"goodbye");
}

#[tokio::test]
async fn an_idle_writer_with_a_burst_s_slots_says_so_once() {
    let (client, mut server_side) = tokio::io::duplex(1 << 16);
    let (tx, rx) = frame_queue(1000);
    let mut writer = Writer::new(client, rx);
    for _ in 0..100 {
        tx.try_send(Bytes::from_static(b"x"), &mut Wakes::default())
            .unwrap();
    }
    let step = std::future::poll_fn(|cx| writer.poll_drive(cx)).await;
    assert_eq!(step, Step::Idle, "everything written, slots still held");
    let mut got = [0u8; 100];
    server_side.read_exact(&mut got).await.unwrap();
    let again = std::future::poll_fn(|cx| Poll::Ready(writer.poll_drive(cx))).await;
    assert!(again.is_pending(), "told once per idle spell");
    writer.release_if_idle();
    assert!(!writer.outbound.holds_slots());
    assert!(writer.pending.capacity() <= IDLE_SLOTS);
}

#[tokio::test]
async fn eviction_stops_a_stuck_writer() {
    let (client, _server_side) = tokio::io::duplex(8); // nobody reads
    let (tx, rx) = frame_queue(10);
    let task = tokio::spawn(run(client, rx));
    tx.try_send(Bytes::from(vec![0u8; 1024]), &mut Wakes::default())
        .unwrap();
    tokio::task::yield_now().await;
    tx.evict();
    assert_eq!(task.await.unwrap(), WriterExit::Evicted);
}
