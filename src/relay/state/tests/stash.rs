//! Data from origins not yet up: kept (bounded in origins, events and
//! time) and used when the origin comes up, so the events need no NACK.

use super::*;
use crate::relay::state::stash::{MAX_STASHED_EVENTS, MAX_STASHED_ORIGINS, STASH_TTL};

/// Events `seqs` of server `origin`, as it relays them.
fn data(origin: u8, seqs: std::ops::RangeInclusive<u64>) -> Data {
    Data {
        origin: id(origin),
        events: seqs.map(|s| WireEvent::new(s, &message(s))).collect(),
    }
}

/// Server 1's first snapshot, at `seq`, as served to server 2.
fn first_snapshot(seq: u64) -> Snapshot {
    Snapshot {
        origin: id(1),
        seq,
        part: 0,
        parts: 1,
        members: vec![],
        from: Some(seq),
        topics: vec![],
    }
}

#[test]
fn data_from_an_origin_not_yet_up_waits_for_it() {
    let now = Instant::now();
    let mut b = relay(2, RelayConfig::default(), now);
    send(&mut b, 1, Kind::RelayData, &data(1, 1..=3), now);
    assert_eq!(b.footprint().stashed, 3);
    assert_eq!(b.stats().dropped, 0);
    assert_eq!(b.poll_delivery(), None, "nothing before the origin is up");
    b.peer_up(id(1), addr(1), now);
    assert_eq!(b.footprint().stashed, 0, "taken at peer_up");
    send(&mut b, 1, Kind::RelaySnapshot, &first_snapshot(0), now);
    let got = deliveries(&mut b);
    assert!(matches!(got[0], Delivery::Synced { .. }));
    let seqs: Vec<u64> = got[1..]
        .iter()
        .filter_map(|d| match d {
            Delivery::Event { seq, .. } => Some(*seq),
            _ => None,
        })
        .collect();
    assert_eq!(seqs, [1, 2, 3]);
    b.handle_tick(now + Duration::from_secs(1));
    assert_eq!(b.stats().nacks_sent, 0, "no round trip needed");
}

#[test]
fn the_stash_is_bounded_in_origins() {
    let now = Instant::now();
    let mut b = relay(2, RelayConfig::default(), now);
    let origins = 10..10 + MAX_STASHED_ORIGINS as u8 + 1;
    for origin in origins.clone() {
        send(&mut b, origin, Kind::RelayData, &data(origin, 1..=1), now);
    }
    assert_eq!(b.footprint().stashed, MAX_STASHED_ORIGINS);
    assert_eq!(b.stats().dropped, 1, "the origin beyond the bound");
    // More from an origin already kept is still kept.
    send(&mut b, 10, Kind::RelayData, &data(10, 2..=2), now);
    assert_eq!(b.footprint().stashed, MAX_STASHED_ORIGINS + 1);
}

#[test]
fn the_stash_is_bounded_in_events() {
    let now = Instant::now();
    let mut b = relay(2, RelayConfig::default(), now);
    let mut seq = 0;
    while seq < MAX_STASHED_EVENTS as u64 + 40 {
        send(
            &mut b,
            1,
            Kind::RelayData,
            &data(1, seq + 1..=seq + 20),
            now,
        );
        seq += 20;
    }
    assert_eq!(b.footprint().stashed, MAX_STASHED_EVENTS);
    // The first ones were kept; the rest will come by NACK.
    b.peer_up(id(1), addr(1), now);
    send(&mut b, 1, Kind::RelaySnapshot, &first_snapshot(0), now);
    let events = deliveries(&mut b)
        .into_iter()
        .filter(|d| matches!(d, Delivery::Event { .. }))
        .count();
    assert_eq!(events, MAX_STASHED_EVENTS);
}

#[test]
fn the_stash_is_bounded_in_time() {
    let now = Instant::now();
    let mut b = relay(2, RelayConfig::default(), now);
    send(&mut b, 1, Kind::RelayData, &data(1, 1..=3), now);
    b.handle_tick(now + STASH_TTL - Duration::from_millis(1));
    assert_eq!(b.footprint().stashed, 3);
    b.handle_tick(now + STASH_TTL);
    assert_eq!(b.footprint().stashed, 0);
    b.peer_up(id(1), addr(1), now + STASH_TTL);
    send(&mut b, 1, Kind::RelaySnapshot, &first_snapshot(0), now);
    assert!(matches!(deliveries(&mut b)[..], [Delivery::Synced { .. }]));
}

#[test]
fn data_claiming_to_be_our_own_is_not_stashed() {
    let now = Instant::now();
    let mut b = relay(2, RelayConfig::default(), now);
    send(&mut b, 1, Kind::RelayData, &data(2, 1..=3), now);
    assert_eq!(b.footprint().stashed, 0);
    assert_eq!(b.stats().dropped, 1);
}
