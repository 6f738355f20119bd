//! Forged numbers and snapshots from the network cost nothing.

use super::*;
use crate::relay::state::receiver::missing_ranges;

/// One data datagram of `origin` carrying event `seq`.
fn data(origin: ServerId, seq: u64, name: &str) -> Data {
    Data {
        origin,
        events: vec![WireEvent::new(seq, &joined(name))],
    }
}

#[test]
fn a_forged_highest_does_not_stall_peer_down() {
    // Found by fuzzing (relay_state): peer_down walked every number up
    // to the announced highest, 2^64 of them.
    let now = Instant::now();
    let mut relay = synced_with_peer(now);
    let peer = id(2);
    let status = Status {
        origin: peer,
        highest: u64::MAX,
        oldest: 1,
    };
    send(&mut relay, 2, Kind::RelayStatus, &status, now);
    send(&mut relay, 2, Kind::RelayData, &data(peer, 5, "a"), now);
    relay.peer_down(peer, false);
    let deliveries = deliveries(&mut relay);
    assert!(matches!(deliveries[0], Delivery::Event { seq: 5, .. }));
    assert_eq!(
        deliveries[1],
        Delivery::Lost {
            origin: peer,
            count: u64::MAX - 1,
        }
    );
    assert!(matches!(deliveries[2], Delivery::OriginGone { .. }));
}

#[test]
fn a_snapshot_claiming_too_many_parts_is_ignored() {
    // Unbounded, forged parts of a never-ending snapshot would pile up
    // while the receiver waits for the rest.
    let now = Instant::now();
    let mut relay = with_peer(now);
    for part in 0..10 {
        let snapshot = Snapshot {
            origin: id(2),
            seq: 0,
            part,
            parts: MAX_SNAPSHOT_PARTS + 1,
            members: names(&[&format!("n{part}")]),
            from: None,
            topics: vec![],
        };
        send(&mut relay, 2, Kind::RelaySnapshot, &snapshot, now);
    }
    assert_eq!(relay.footprint().snapshot_parts, 0);
    assert_eq!(relay.poll_delivery(), None);
}

#[test]
fn a_forged_resync_snapshot_costs_nothing() {
    // A RelayStatus claiming the origin no longer holds event 1 starts
    // a resync; a snapshot "as of event u64::MAX" then completed it by
    // counting every number in between as lost, one by one.
    let now = Instant::now();
    let mut relay = synced_with_peer(now);
    let peer = id(2);
    let status = Status {
        origin: peer,
        highest: 10,
        oldest: 10,
    };
    send(&mut relay, 2, Kind::RelayStatus, &status, now);
    for seq in [u64::MAX - 1, u64::MAX] {
        let snapshot = Snapshot {
            origin: peer,
            seq,
            part: 0,
            parts: 1,
            members: names(&["a"]),
            from: None,
            topics: vec![],
        };
        send(&mut relay, 2, Kind::RelaySnapshot, &snapshot, now);
    }
    assert_eq!(
        deliveries(&mut relay),
        vec![
            Delivery::Lost {
                origin: peer,
                count: u64::MAX - 1,
            },
            Delivery::Resynced {
                origin: peer,
                members: names(&["a"]),
                topics: vec![],
            }
        ]
    );
    // The stream stays usable: nothing past the end of the numbers.
    send(
        &mut relay,
        2,
        Kind::RelayData,
        &data(peer, u64::MAX, "b"),
        now,
    );
    relay.handle_tick(now);
    assert_eq!(relay.poll_delivery(), None);
}

#[test]
fn a_first_snapshot_naming_a_forged_sync_point_reports_only_what_it_skips() {
    // `from` comes from the network too: one past the snapshot (or any
    // number beyond it) is not a loss, and a huge gap costs one report.
    let now = Instant::now();
    let mut relay = with_peer(now);
    let snapshot = Snapshot {
        origin: id(2),
        seq: LAST_SEQ,
        part: 0,
        parts: 1,
        members: vec![],
        from: Some(0),
        topics: vec![],
    };
    send(&mut relay, 2, Kind::RelaySnapshot, &snapshot, now);
    assert_eq!(
        deliveries(&mut relay)[0],
        Delivery::Lost {
            origin: id(2),
            count: LAST_SEQ,
        }
    );
    let mut relay = with_peer(now);
    let snapshot = Snapshot {
        from: Some(u64::MAX),
        seq: 5,
        ..snapshot
    };
    send(&mut relay, 2, Kind::RelaySnapshot, &snapshot, now);
    assert!(matches!(
        deliveries(&mut relay)[..],
        [Delivery::Synced { .. }]
    ));
}

#[test]
fn missing_ranges_skip_what_is_buffered() {
    let ev = joined("x");
    let buffer: BTreeMap<u64, ChatEvent> = [4, 5, 9].into_iter().map(|s| (s, ev.clone())).collect();
    assert_eq!(
        missing_ranges(2, 10, &buffer),
        vec![(2, 3), (6, 8), (10, 10)]
    );
    assert_eq!(missing_ranges(4, 5, &buffer), vec![]);
    assert_eq!(missing_ranges(1, 1, &BTreeMap::new()), vec![(1, 1)]);
}
