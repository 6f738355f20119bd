//! Direct writes over real loopback sockets: order, the hand-over to the
//! writer, and what stays the writer's.

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::task::{Wake, Waker};

use bytes::Bytes;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use super::super::{frame_queue, FrameReceiver, FrameSender, Wakes};
use crate::server::socket::loopback_pair;

/// A connected pair: the server's end (shared, as a session holds it)
/// and the client's.
async fn pair() -> (Arc<TcpStream>, TcpStream) {
    let (server, client) = loopback_pair().await;
    (Arc::new(server), client)
}

/// Counts the writer's wakes.
#[derive(Default)]
struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A queue on `server`, with a writer that only counts its wakes.
fn queue_on(server: &Arc<TcpStream>, capacity: usize) -> (FrameSender, FrameReceiver, Arc<Count>) {
    let (tx, rx) = frame_queue(capacity);
    rx.set_direct(server.clone());
    let count = Arc::new(Count::default());
    rx.register(&Waker::from(count.clone()));
    (tx, rx, count)
}

fn wakes_of(count: &Count) -> usize {
    count.0.load(std::sync::atomic::Ordering::SeqCst)
}

fn push_all(tx: &FrameSender, frames: &[&'static [u8]]) -> Wakes {
    let mut wakes = Wakes::default();
    for frame in frames {
        tx.try_send(Bytes::from_static(frame), &mut wakes).unwrap();
    }
    wakes
}

async fn read_n(client: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut got = vec![0u8; n];
    client.read_exact(&mut got).await.unwrap();
    got
}

#[tokio::test]
async fn a_burst_goes_out_at_once_and_the_writer_sleeps_on() {
    let (server, mut client) = pair().await;
    let (tx, _rx, count) = queue_on(&server, 16);
    push_all(&tx, &[b"one;", b"two;", b"three;"]).flush_all();
    assert_eq!(wakes_of(&count), 0, "written by the flush, not the writer");
    assert_eq!(read_n(&mut client, 14).await, b"one;two;three;");
}

#[tokio::test]
async fn a_single_frame_is_left_to_the_writer() {
    let (server, _client) = pair().await;
    let (tx, mut rx, count) = queue_on(&server, 16);
    push_all(&tx, &[b"alone;"]).flush_all();
    assert_eq!(wakes_of(&count), 1);
    assert_eq!(rx.try_recv().unwrap(), &b"alone;"[..], "still queued");
}

#[tokio::test]
async fn a_run_of_lines_in_one_entry_is_a_burst_too() {
    let (server, mut client) = pair().await;
    let (tx, _rx, count) = queue_on(&server, 16);
    let mut wakes = Wakes::default();
    tx.pusher()
        .try_send_run(Bytes::from_static(b"one;two;"), 2, &mut wakes)
        .unwrap();
    wakes.flush_all();
    assert_eq!(wakes_of(&count), 0, "written by the flush, not the writer");
    assert_eq!(read_n(&mut client, 8).await, b"one;two;");
}

#[tokio::test]
async fn frames_the_writer_holds_keep_direct_writes_off() {
    let (server, mut client) = pair().await;
    let (tx, mut rx, count) = queue_on(&server, 16);
    push_all(&tx, &[b"a;"]).wake_all();
    let mut pending = std::collections::VecDeque::new();
    assert_eq!(rx.take_into(&mut pending, 8), 1, "the writer took a frame");
    // A woken waker is spent; the writer registers again when it waits.
    rx.register(&Waker::from(count.clone()));
    push_all(&tx, &[b"b;", b"c;"]).flush_all();
    assert_eq!(wakes_of(&count), 2, "the writer is woken instead");
    // The writer writes its frame first, then what came after it.
    pending.clear();
    server.try_write(b"a;").unwrap();
    assert_eq!(rx.take_into(&mut pending, 8), 2);
    for frame in pending.drain(..) {
        server.try_write(&frame).unwrap();
    }
    assert_eq!(read_n(&mut client, 6).await, b"a;b;c;");
}

#[tokio::test]
async fn a_full_socket_hands_the_rest_to_the_writer() {
    let (server, _client) = pair().await;
    socket2::SockRef::from(&*server)
        .set_send_buffer_size(4096)
        .unwrap();
    let (tx, mut rx, count) = queue_on(&server, 4096);
    let mut wakes = Wakes::default();
    // Far more than the socket takes while nobody reads.
    for _ in 0..1000 {
        let frame = Bytes::from(vec![b'z'; 1000]);
        tx.try_send(frame, &mut wakes).unwrap();
    }
    wakes.flush_all();
    assert_eq!(wakes_of(&count), 1, "the writer takes over");
    let mut rest = std::collections::VecDeque::new();
    let left = rx.take_into(&mut rest, 1000);
    assert!(
        left > 0 && left < 1000,
        "part written, the rest queued: {left}"
    );
    assert_eq!(
        rx.took_cut_frame(),
        rest.front().unwrap().len() < 1000,
        "the writer hears of a frame cut short"
    );
}

#[tokio::test]
async fn the_socket_closes_with_the_receiver() {
    let (server, mut client) = pair().await;
    let (_tx, rx, _count) = queue_on(&server, 16);
    drop(server);
    drop(rx);
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty(), "EOF: the queue kept no copy of the socket");
}
