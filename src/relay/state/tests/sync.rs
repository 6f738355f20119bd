//! The sync point (issue 14): a peer's stream starts where the origin
//! began relaying to it, however late its sync request gets through; only
//! a request past [`START_SNAPSHOT_TTL`], or once the event after the sync
//! point is no longer held, is served a current snapshot, and then the
//! receiver reports exactly the events it skips.

use super::*;

/// Where server 2's stream from server 1 starts in these tests.
const SINCE: u64 = 2;
/// Server 1's last event.
const LAST: u64 = 12;

/// Server 1 with ann and bob (events 1, 2); then server 2 comes up; then
/// ann leaves, cat joins and eight messages follow (events 3..=12), all
/// relayed to server 2 (and lost on the way).
fn origin_past_since(config: RelayConfig, now: Instant) -> Relay {
    let mut a = relay(1, config, now);
    a.submit(1, joined("ann"));
    a.submit(2, joined("bob"));
    a.peer_up(id(2), addr(2), now);
    a.submit(3, left("ann"));
    a.submit(4, joined("cat"));
    for seq in 5..=LAST {
        a.submit(seq, message(seq));
    }
    a.handle_tick(now);
    while a.poll_transmit().is_some() {}
    a
}

/// Server 2's first request for server 1's snapshot, at `at`; returns the
/// snapshot parts served.
fn request(a: &mut Relay, at: Instant) -> Vec<Snapshot> {
    let fresh = SyncRequest {
        origin: id(1),
        seq: 0,
        parts: vec![],
        requester: Default::default(),
        resume: Default::default(),
    };
    send(a, 2, Kind::RelaySyncRequest, &fresh, at);
    let served = sent::<Snapshot>(a, Kind::RelaySnapshot);
    assert!(served
        .iter()
        .all(|(to, _)| *to == Destination::Unicast(addr(2))));
    served.into_iter().map(|(_, s)| s).collect()
}

fn snapshot(seq: u64, members: &[&str]) -> Snapshot {
    Snapshot {
        origin: id(1),
        seq,
        part: 0,
        parts: 1,
        members: names(members),
        from: Some(SINCE),
        topics: vec![],
    }
}

#[test]
fn a_late_sync_request_is_served_the_start_snapshot() {
    let now = Instant::now();
    let mut a = origin_past_since(RelayConfig::default(), now);
    assert_eq!(a.footprint().start_snapshots, 1);
    let late = now + START_SNAPSHOT_TTL - Duration::from_millis(1);
    a.handle_tick(late);
    assert_eq!(
        request(&mut a, late),
        vec![snapshot(SINCE, &["ann", "bob"])],
        "the members as of the sync point, not as of now"
    );
}

#[test]
fn a_receiver_served_the_start_snapshot_repairs_everything_after_it() {
    let now = Instant::now();
    let mut a = origin_past_since(RelayConfig::default(), now);
    let mut b = relay(2, RelayConfig::default(), now);
    b.peer_up(id(1), addr(1), now);
    pump(&mut a, &mut b, now + Duration::from_secs(5), 20);
    let got = deliveries(&mut b);
    assert_eq!(
        got[0],
        Delivery::Synced {
            origin: id(1),
            members: names(&["ann", "bob"]),
            topics: vec![],
        }
    );
    let seqs: Vec<u64> = got[1..]
        .iter()
        .map(|d| match d {
            Delivery::Event { seq, .. } => *seq,
            other => panic!("only events after the sync: {other:?}"),
        })
        .collect();
    assert_eq!(seqs, (SINCE + 1..=LAST).collect::<Vec<_>>());
    assert_eq!(b.stats().lost, 0);
    assert!(a.stats().nacks_answered > 0, "repaired by NACK");
}

#[test]
fn past_its_lifetime_the_start_snapshot_gives_way_to_a_current_one() {
    let now = Instant::now();
    let mut a = origin_past_since(RelayConfig::default(), now);
    // A request just at the limit, before any tick dropped the snapshot.
    let expired = now + START_SNAPSHOT_TTL;
    assert_eq!(
        request(&mut a, expired),
        vec![snapshot(LAST, &["bob", "cat"])],
        "current, naming the sync point it skips from"
    );
    assert_eq!(a.footprint().start_snapshots, 0);
    // A tick past the limit lets it go too.
    let mut a = origin_past_since(RelayConfig::default(), now);
    a.handle_tick(expired);
    assert_eq!(a.footprint().start_snapshots, 0);
}

#[test]
fn once_the_event_after_the_sync_point_is_gone_a_current_snapshot_is_served() {
    let now = Instant::now();
    // Events 3..=12 held: the start snapshot can still be followed.
    let config = RelayConfig {
        retransmit_capacity: (LAST - SINCE) as usize,
        ..RelayConfig::default()
    };
    let mut a = origin_past_since(config.clone(), now);
    assert_eq!(request(&mut a, now)[0].seq, SINCE);
    // Event 3 is gone: it would only lead to an overrun.
    let config = RelayConfig {
        retransmit_capacity: config.retransmit_capacity - 1,
        ..config
    };
    let mut a = origin_past_since(config, now);
    assert_eq!(request(&mut a, now), vec![snapshot(LAST, &["bob", "cat"])]);
}

#[test]
fn a_receiver_served_late_reports_exactly_the_events_it_skips() {
    let now = Instant::now();
    let config = RelayConfig {
        retransmit_capacity: 4,
        ..RelayConfig::default()
    };
    let mut a = origin_past_since(config, now);
    let mut b = relay(2, RelayConfig::default(), now);
    b.peer_up(id(1), addr(1), now);
    let now = pump(&mut a, &mut b, now, 20);
    assert_eq!(
        deliveries(&mut b),
        vec![
            Delivery::Lost {
                origin: id(1),
                count: LAST - SINCE,
            },
            Delivery::Synced {
                origin: id(1),
                members: names(&["bob", "cat"]),
                topics: vec![],
            },
        ]
    );
    assert_eq!(b.stats().lost, LAST - SINCE);
    // The stream carries on from the snapshot.
    a.submit(LAST + 1, message(LAST + 1));
    pump(&mut a, &mut b, now, 2);
    assert!(matches!(
        deliveries(&mut b)[..],
        [Delivery::Event { seq, .. }] if seq == LAST + 1
    ));
}

#[test]
fn a_snapshot_without_a_sync_point_reports_nothing() {
    // From a server that predates `from`: nothing to compare with.
    let now = Instant::now();
    let mut b = relay(2, RelayConfig::default(), now);
    b.peer_up(id(1), addr(1), now);
    let old = Snapshot {
        from: None,
        ..snapshot(LAST, &["bob"])
    };
    send(&mut b, 1, Kind::RelaySnapshot, &old, now);
    assert!(matches!(deliveries(&mut b)[..], [Delivery::Synced { .. }]));
    assert_eq!(b.stats().lost, 0);
}

#[test]
fn missing_parts_are_served_from_the_start_snapshot_they_belong_to() {
    let now = Instant::now();
    let mut a = relay(1, RelayConfig::default(), now);
    let many: Vec<String> = (0..300).map(|i| format!("member-{i:04}")).collect();
    for (i, name) in many.iter().enumerate() {
        a.submit(i as u64 + 1, joined(name));
    }
    a.peer_up(id(2), addr(2), now);
    a.submit(301, left("member-0000"));
    let start = request(&mut a, now);
    assert!(start.len() > 2, "several parts");
    assert!(start.iter().all(|p| p.seq == 300 && p.from == Some(300)));
    // Part 1 was lost; meanwhile more events happened.
    a.submit(302, joined("late"));
    let again = SyncRequest {
        origin: id(1),
        seq: 300,
        parts: vec![1],
        requester: Default::default(),
        resume: Default::default(),
    };
    send(&mut a, 2, Kind::RelaySyncRequest, &again, now);
    let served: Vec<Snapshot> = sent(&mut a, Kind::RelaySnapshot)
        .into_iter()
        .map(|(_, s)| s)
        .collect();
    assert_eq!(served, vec![start[1].clone()]);
}

/// A request naming its requester is served only if that requester is the
/// peer at the request's address: a restarted server (a new id) at its
/// predecessor's address waits until membership knows it.
#[test]
fn a_request_from_an_unknown_requester_is_not_served() {
    let now = Instant::now();
    let mut a = origin_past_since(RelayConfig::default(), now);
    for requester in [id(9), id(2)] {
        let ask = SyncRequest {
            origin: id(1),
            seq: 0,
            parts: vec![],
            requester: Some(requester),
            resume: 0,
        };
        send(&mut a, 2, Kind::RelaySyncRequest, &ask, now);
        let served = sent::<Snapshot>(&mut a, Kind::RelaySnapshot);
        assert_eq!(
            served.is_empty(),
            requester == id(9),
            "requester {requester}"
        );
    }
}

/// A requester that resumes (after an overrun, or after it removed this
/// origin and found it again) is served a current snapshot even while the
/// start snapshot could still be followed: never an older one.
#[test]
fn a_resuming_requester_gets_a_current_snapshot() {
    let now = Instant::now();
    let mut a = origin_past_since(RelayConfig::default(), now);
    let resume = SyncRequest {
        origin: id(1),
        seq: 0,
        parts: vec![],
        requester: Some(id(2)),
        resume: 7,
    };
    send(&mut a, 2, Kind::RelaySyncRequest, &resume, now);
    let served: Vec<Snapshot> = sent::<Snapshot>(&mut a, Kind::RelaySnapshot)
        .into_iter()
        .map(|(_, s)| s)
        .collect();
    assert_eq!(served, vec![snapshot(LAST, &["bob", "cat"])]);
}
