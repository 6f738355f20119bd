//! Answering NACKs: from the retransmit buffer, only to known peers, and
//! counted in `nacks_answered` when at least one event goes back.

use super::*;

/// Server 1 with server 2 up and events 1..=`last` said; capacity `keep`.
fn origin(keep: usize, last: u64, now: Instant) -> Relay {
    let config = RelayConfig {
        retransmit_capacity: keep,
        ..RelayConfig::default()
    };
    let mut a = relay(1, config, now);
    a.peer_up(id(2), addr(2), now);
    for seq in 1..=last {
        a.submit(seq, message(seq));
    }
    a.handle_tick(now);
    while a.poll_transmit().is_some() {}
    a
}

fn nack(ranges: &[(u64, u64)]) -> Nack {
    Nack {
        origin: id(1),
        ranges: ranges.to_vec(),
    }
}

/// The sequence numbers resent to server 2.
fn resent(a: &mut Relay) -> Vec<u64> {
    sent::<Data>(a, Kind::RelayData)
        .into_iter()
        .inspect(|(to, _)| assert_eq!(*to, Destination::Unicast(addr(2))))
        .flat_map(|(_, d)| d.events.into_iter().map(|e| e.seq()))
        .collect()
}

#[test]
fn a_nack_from_a_peer_is_answered_and_counted() {
    let now = Instant::now();
    let mut a = origin(100, 5, now);
    send(&mut a, 2, Kind::RelayNack, &nack(&[(2, 3), (5, 5)]), now);
    assert_eq!(resent(&mut a), [2, 3, 5]);
    let stats = a.stats();
    assert_eq!((stats.nacks_answered, stats.retransmitted), (1, 3));
}

#[test]
fn a_nack_for_nothing_held_is_not_counted_as_answered() {
    let now = Instant::now();
    let mut a = origin(2, 5, now);
    // Beyond the last event: clamped to nothing.
    send(&mut a, 2, Kind::RelayNack, &nack(&[(7, 9)]), now);
    assert!(resent(&mut a).is_empty());
    // Older than what is held: nothing to resend, but a status says so.
    send(&mut a, 2, Kind::RelayNack, &nack(&[(1, 2)]), now);
    let status = sent::<Status>(&mut a, Kind::RelayStatus);
    assert_eq!(status.len(), 1);
    assert_eq!((status[0].1.oldest, status[0].1.highest), (4, 5));
    assert_eq!(a.stats().nacks_answered, 0);
    // Partly held: what is held goes back, and the status too.
    send(&mut a, 2, Kind::RelayNack, &nack(&[(1, 5)]), now);
    let out: Vec<Transmit> = std::iter::from_fn(|| a.poll_transmit()).collect();
    let kinds: Vec<Kind> = out
        .iter()
        .map(|t| envelope::open(&t.bytes).unwrap().kind)
        .collect();
    assert_eq!(kinds, [Kind::RelayData, Kind::RelayStatus]);
    assert_eq!((a.stats().nacks_answered, a.stats().retransmitted), (1, 2));
}

#[test]
fn a_nack_from_a_stranger_is_not_answered() {
    let now = Instant::now();
    let mut a = origin(100, 5, now);
    send(&mut a, 9, Kind::RelayNack, &nack(&[(1, 5)]), now);
    assert_eq!(a.poll_transmit(), None);
    assert_eq!(a.stats().nacks_answered, 0);
    // Nor once the peer is gone.
    a.peer_down(id(2), false);
    send(&mut a, 2, Kind::RelayNack, &nack(&[(1, 5)]), now);
    assert_eq!(a.poll_transmit(), None);
}
