use std::future::Future;
use std::io::IoSlice;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::*;

/// A waker that counts its wakes.
#[derive(Default)]
struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counting() -> (Arc<Count>, Waker) {
    let count = Arc::new(Count::default());
    (count.clone(), Waker::from(count))
}

/// Polls `fut` once with `waker`.
fn poll_once<F: Future>(fut: Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(waker))
}

/// Bytes the direction `end` reads from has allocated.
fn allocated(end: &Pipe) -> usize {
    end.reader.dir.lock().buf.capacity()
}

#[tokio::test]
async fn bytes_arrive_in_order_both_ways() {
    let (mut a, mut b) = pipe(64);
    a.write_all(b"hello ").await.unwrap();
    a.write_all(b"world").await.unwrap();
    b.write_all(b"back").await.unwrap();
    let mut got = [0u8; 11];
    b.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"hello world");
    let mut got = [0u8; 4];
    a.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"back");
}

#[tokio::test]
async fn a_short_read_leaves_the_rest_in_order() {
    let (mut a, mut b) = pipe(64);
    a.write_all(b"abcdefgh").await.unwrap();
    let mut three = [0u8; 3];
    assert_eq!(b.read(&mut three).await.unwrap(), 3);
    assert_eq!(&three, b"abc");
    a.write_all(b"ij").await.unwrap();
    let mut rest = [0u8; 16];
    let n = b.read(&mut rest).await.unwrap();
    assert_eq!(&rest[..n], b"defghij");
}

#[tokio::test]
async fn a_write_takes_only_what_fits() {
    let (mut a, mut b) = pipe(8);
    assert_eq!(a.write(b"0123456789").await.unwrap(), 8);
    let mut got = [0u8; 8];
    b.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"01234567");
}

#[tokio::test]
async fn a_vectored_write_keeps_slice_order_and_stops_at_the_bound() {
    let (mut a, mut b) = pipe(7);
    let slices = [
        IoSlice::new(b"ab"),
        IoSlice::new(b""),
        IoSlice::new(b"cde"),
        IoSlice::new(b"fghij"),
    ];
    assert!(a.is_write_vectored());
    assert_eq!(a.write_vectored(&slices).await.unwrap(), 7);
    let mut got = [0u8; 7];
    b.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"abcdefg");
}

#[tokio::test]
async fn a_full_direction_holds_the_writer_until_read() {
    let (mut a, mut b) = pipe(4);
    a.write_all(b"full").await.unwrap();
    let (wakes, waker) = counting();
    let mut write = pin!(a.write(b"more"));
    assert!(
        poll_once(write.as_mut(), &waker).is_pending(),
        "full: waits"
    );
    let mut two = [0u8; 2];
    b.read_exact(&mut two).await.unwrap();
    assert_eq!(wakes.0.load(Ordering::SeqCst), 1, "a read wakes the writer");
    match poll_once(write.as_mut(), &waker) {
        Poll::Ready(Ok(n)) => assert_eq!(n, 2, "as much as was read"),
        other => panic!("expected a write, got {other:?}"),
    }
    let mut rest = [0u8; 4];
    b.read_exact(&mut rest).await.unwrap();
    assert_eq!(&rest, b"llmo");
}

#[tokio::test]
async fn a_waiting_reader_is_woken_by_a_write() {
    let (mut a, mut b) = pipe(16);
    let (wakes, waker) = counting();
    let mut buf = [0u8; 4];
    let mut read = pin!(b.read(&mut buf));
    assert!(poll_once(read.as_mut(), &waker).is_pending());
    a.write_all(b"hi").await.unwrap();
    assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
    assert!(matches!(
        poll_once(read.as_mut(), &waker),
        Poll::Ready(Ok(2))
    ));
}

#[tokio::test]
async fn shutdown_is_end_of_file_after_the_rest() {
    let (mut a, mut b) = pipe(16);
    a.write_all(b"last").await.unwrap();
    a.shutdown().await.unwrap();
    let mut got = Vec::new();
    b.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"last");
    assert!(a.write(b"x").await.is_err(), "no writes after shutdown");
    // The other direction stays open.
    b.write_all(b"reply").await.unwrap();
    let mut reply = [0u8; 5];
    a.read_exact(&mut reply).await.unwrap();
    assert_eq!(&reply, b"reply");
}

#[tokio::test]
async fn shutdown_wakes_a_waiting_reader() {
    let (mut a, mut b) = pipe(16);
    let (wakes, waker) = counting();
    let mut buf = [0u8; 4];
    let mut read = pin!(b.read(&mut buf));
    assert!(poll_once(read.as_mut(), &waker).is_pending());
    a.shutdown().await.unwrap();
    assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
    assert!(matches!(
        poll_once(read.as_mut(), &waker),
        Poll::Ready(Ok(0))
    ));
}

#[tokio::test]
async fn dropping_an_end_closes_both_directions() {
    let (mut a, b) = pipe(16);
    a.write_all(b"unread").await.unwrap();
    drop(b);
    let err = a.write(b"x").await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    let mut got = Vec::new();
    a.read_to_end(&mut got).await.unwrap();
    assert!(got.is_empty(), "end of file");
    assert_eq!(allocated(&a), 0, "nothing was read from a's side either");
}

#[tokio::test]
async fn dropping_the_reader_wakes_a_waiting_writer_with_an_error() {
    let (a, b) = pipe(2);
    let (mut a_read, mut a_write) = a.into_split();
    a_write.write_all(b"xx").await.unwrap();
    let (wakes, waker) = counting();
    {
        let mut write = pin!(a_write.write(b"y"));
        assert!(poll_once(write.as_mut(), &waker).is_pending());
        drop(b);
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
        match poll_once(write.as_mut(), &waker) {
            Poll::Ready(Err(e)) => assert_eq!(e.kind(), io::ErrorKind::BrokenPipe),
            other => panic!("expected BrokenPipe, got {other:?}"),
        }
    }
    let mut buf = [0u8; 1];
    assert_eq!(a_read.read(&mut buf).await.unwrap(), 0);
}

#[tokio::test]
async fn dropping_the_writing_half_alone_is_end_of_file() {
    let (a, mut b) = pipe(16);
    let (a_read, mut a_write) = a.into_split();
    a_write.write_all(b"bye").await.unwrap();
    drop(a_write);
    let mut got = Vec::new();
    b.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"bye");
    // a's reading half still takes what b says.
    b.write_all(b"ok").await.unwrap();
    let mut a_read = a_read;
    let mut ok = [0u8; 2];
    a_read.read_exact(&mut ok).await.unwrap();
    assert_eq!(&ok, b"ok");
}

#[tokio::test]
async fn a_drained_direction_holds_no_buffer() {
    let (mut a, mut b) = pipe(64 * 1024);
    assert_eq!(allocated(&b), 0, "a new pipe holds nothing");
    a.write_all(&[7u8; 40_000]).await.unwrap();
    assert!(allocated(&b) >= 40_000);
    assert!(allocated(&b) <= 64 * 1024, "never more than the bound");
    let mut sink = vec![0u8; 30_000];
    b.read_exact(&mut sink).await.unwrap();
    assert!(allocated(&b) > 0, "not drained yet");
    b.read_exact(&mut sink[..10_000]).await.unwrap();
    assert_eq!(allocated(&b), 0, "drained: given back");
}

#[tokio::test]
async fn small_writes_start_small() {
    let (mut a, b) = pipe(64 * 1024);
    a.write_all(b"ping").await.unwrap();
    assert_eq!(allocated(&b), FIRST_ALLOCATION);
}

#[tokio::test]
async fn a_large_transfer_across_tasks_arrives_whole() {
    let (a, b) = pipe(1000);
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let expected = data.clone();
    let writer = tokio::spawn(async move {
        let (_r, mut w) = a.into_split();
        for chunk in data.chunks(777) {
            w.write_all(chunk).await.unwrap();
        }
    });
    let (mut r, _w) = b.into_split();
    let mut got = Vec::new();
    r.read_to_end(&mut got).await.unwrap();
    writer.await.unwrap();
    assert_eq!(got, expected);
}

#[tokio::test]
async fn empty_reads_and_writes_return_at_once() {
    let (mut a, mut b) = pipe(1);
    a.write_all(b"x").await.unwrap();
    assert_eq!(a.write(b"").await.unwrap(), 0, "even when full");
    let mut none = [0u8; 0];
    assert_eq!(b.read(&mut none).await.unwrap(), 0);
}

#[tokio::test]
async fn readable_waits_for_bytes_or_the_end() {
    let (a, b) = pipe(16);
    let (_a_read, mut a_write) = a.into_split();
    let (b_read, _b_write) = b.into_split();
    let (wakes, waker) = counting();
    {
        let mut ready = pin!(b_read.readable());
        assert!(poll_once(ready.as_mut(), &waker).is_pending());
        a_write.write_all(b"x").await.unwrap();
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
        assert!(poll_once(ready.as_mut(), &waker).is_ready());
    }
    let mut b_read = b_read;
    let mut one = [0u8; 1];
    b_read.read_exact(&mut one).await.unwrap();
    {
        let mut ready = pin!(b_read.readable());
        assert!(poll_once(ready.as_mut(), &waker).is_pending(), "drained");
        drop(a_write);
        assert!(poll_once(ready.as_mut(), &waker).is_ready(), "the end");
    }
}
