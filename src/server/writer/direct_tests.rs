//! The writer beside the room's direct writes (`room::queue`'s `direct`),
//! over real loopback sockets: whoever writes, every byte once, in order.

use std::sync::Arc;

use bytes::Bytes;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use super::{run, WriterExit};
use crate::server::room::{frame_queue, Wakes};
use crate::server::socket::{loopback_pair, SharedHalf};

/// A connected pair: the server's end (shared, as a session holds it,
/// with a small send buffer so direct writes stop part-way) and the
/// client's.
async fn pair() -> (Arc<TcpStream>, TcpStream) {
    let (server, client) = loopback_pair().await;
    socket2::SockRef::from(&server)
        .set_send_buffer_size(4096)
        .unwrap();
    (Arc::new(server), client)
}

#[tokio::test]
async fn a_full_socket_leaves_the_rest_to_the_writer_in_order() {
    let (server, mut client) = pair().await;
    let (tx, rx) = frame_queue(4096);
    rx.set_direct(server.clone());
    // Far more than the socket takes while nobody reads: the direct write
    // stops part-way, likely inside a frame.
    let frames: Vec<Bytes> = (0..2000u32)
        .map(|i| Bytes::from(format!("frame {i:05} {};", "x".repeat(i as usize % 300))))
        .collect();
    let expected: Vec<u8> = frames.iter().flat_map(|f| f.iter().copied()).collect();
    let mut wakes = Wakes::default();
    for frame in &frames {
        tx.try_send(frame.clone(), &mut wakes).unwrap();
    }
    wakes.flush_all();
    assert!(
        rx.front_cut() || rx.holds_slots(),
        "the socket took only part"
    );
    let shared = server.clone();
    let writer = tokio::spawn(async move { run(SharedHalf(&shared), rx).await });
    drop(tx);
    let mut got = Vec::new();
    client.read_to_end(&mut got).await.unwrap();
    assert_eq!(writer.await.unwrap(), WriterExit::Drained);
    assert!(got == expected, "every byte, once, in order");
}

/// Publishers on several threads flush one member's queue while its
/// writer runs: every publisher's frames arrive whole, once and in the
/// order it sent them. Seeded; the seed is printed on failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_flushes_and_the_writer_keep_each_publisher_s_order() {
    const PUBLISHERS: u32 = 3;
    const FRAMES: u32 = 20000;
    let seed = fastrand::u64(..);
    let (server, mut client) = pair().await;
    let (tx, rx) = frame_queue(1 << 16);
    rx.set_direct(server.clone());
    let shared = server.clone();
    let writer = tokio::spawn(async move { run(SharedHalf(&shared), rx).await });
    let tx = Arc::new(tx);
    let publishers: Vec<_> = (0..PUBLISHERS)
        .map(|p| {
            let pusher = tx.pusher();
            std::thread::spawn(move || {
                let mut rng = fastrand::Rng::with_seed(seed + u64::from(p));
                let mut seq = 0;
                while seq < FRAMES {
                    let mut wakes = Wakes::default();
                    for _ in 0..rng.u32(1..8).min(FRAMES - seq) {
                        let frame = format!("{p}:{seq}:{};", "y".repeat(rng.usize(0..200)));
                        pusher.try_send(Bytes::from(frame), &mut wakes).unwrap();
                        seq += 1;
                    }
                    wakes.flush_all();
                }
            })
        })
        .collect();
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        got
    });
    for publisher in publishers {
        publisher.join().unwrap();
    }
    drop(Arc::into_inner(tx).expect("the only sender"));
    assert_eq!(writer.await.unwrap(), WriterExit::Drained);
    let got = String::from_utf8(reader.await.unwrap()).expect("whole frames, seed {seed}");
    let mut next = vec![0u32; PUBLISHERS as usize];
    for frame in got.split_terminator(';') {
        let mut parts = frame.split(':');
        let p: usize = parts.next().unwrap().parse().unwrap();
        let seq: u32 = parts.next().unwrap().parse().unwrap();
        assert_eq!(seq, next[p], "publisher {p} out of order (seed {seed})");
        assert!(
            parts.next().unwrap().bytes().all(|b| b == b'y'),
            "seed {seed}"
        );
        next[p] += 1;
    }
    assert_eq!(next, vec![FRAMES; PUBLISHERS as usize], "seed {seed}");
}
