//! The queue's own tests; the direct path's are in `direct`.

use super::*;

#[test]
fn bounded_ordered_and_closed_by_either_end() {
    let (tx, mut rx) = frame_queue(2);
    let mut wakes = Wakes::default();
    tx.try_send(Bytes::from_static(b"a"), &mut wakes).unwrap();
    tx.try_send(Bytes::from_static(b"b"), &mut wakes).unwrap();
    assert_eq!(wakes.writers.len(), 1, "only the first frame needs a wake");
    assert_eq!(wakes.queued(), 2);
    assert!(matches!(
        tx.try_send(Bytes::from_static(b"c"), &mut wakes),
        Err(TrySendError::Full(_))
    ));
    let mut out = VecDeque::new();
    assert_eq!(rx.take_into(&mut out, 64), 2);
    assert_eq!(out, [&b"a"[..], b"b"]);
    assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)));
    drop(rx);
    assert!(matches!(
        tx.try_send(Bytes::from_static(b"d"), &mut wakes),
        Err(TrySendError::Closed(_))
    ));
}

#[test]
fn a_run_counts_as_its_messages_until_taken() {
    let (tx, mut rx) = frame_queue(4);
    let mut wakes = Wakes::default();
    tx.pusher()
        .try_send_run(Bytes::from_static(b"abc"), 3, &mut wakes)
        .unwrap();
    assert_eq!(
        wakes.queued(),
        0,
        "counted by the room as it took the lines in"
    );
    assert!(
        matches!(
            tx.pusher()
                .try_send_run(Bytes::from_static(b"de"), 2, &mut wakes),
            Err(TrySendError::Full(_))
        ),
        "3 + 2 messages do not fit in 4, whatever the entries"
    );
    tx.try_send(Bytes::from_static(b"d"), &mut wakes).unwrap();
    assert!(matches!(
        tx.try_send(Bytes::from_static(b"e"), &mut wakes),
        Err(TrySendError::Full(_))
    ));
    // Taking the run (not all of the queue) frees its three.
    let mut out = VecDeque::new();
    assert_eq!(rx.take_into(&mut out, 1), 1);
    tx.pusher()
        .try_send_run(Bytes::from_static(b"efg"), 3, &mut wakes)
        .unwrap();
    assert_eq!(rx.try_recv().unwrap(), &b"d"[..]);
    tx.try_send(Bytes::from_static(b"h"), &mut wakes).unwrap();
    assert!(matches!(
        tx.try_send(Bytes::from_static(b"i"), &mut wakes),
        Err(TrySendError::Full(_))
    ));
    // Once no run is queued, the queue keeps nothing about runs.
    out.clear();
    assert_eq!(rx.take_into(&mut out, 64), 2);
    assert!(rx.shared.lock().heavy.is_none());
    tx.try_send(Bytes::from_static(b"j"), &mut wakes).unwrap();
    assert!(
        rx.shared.lock().heavy.is_none(),
        "single frames never make one"
    );
}

#[test]
fn a_pusher_does_not_keep_the_queue_open() {
    let (tx, mut rx) = frame_queue(4);
    let pusher = tx.pusher();
    let mut wakes = Wakes::default();
    pusher
        .try_send(Bytes::from_static(b"a"), &mut wakes)
        .unwrap();
    drop(tx);
    assert!(matches!(
        pusher.try_send(Bytes::from_static(b"b"), &mut wakes),
        Err(TrySendError::Closed(_))
    ));
    assert_eq!(rx.try_recv().unwrap(), &b"a"[..]);
    assert!(matches!(rx.try_recv(), Err(TryRecvError::Disconnected)));
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
        let mut wakes = Wakes::default();
        tx.try_send(Bytes::from(vec![i]), &mut wakes).unwrap();
        drop(wakes);
        tokio::task::yield_now().await;
    }
    drop(tx);
    let got = reader.await.unwrap();
    assert_eq!(got.len(), 10);
    assert!(got.iter().enumerate().all(|(i, f)| f[0] == i as u8));
}
