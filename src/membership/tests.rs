//! Who membership sends to (`outgoing.rs`): the group for members heard on
//! it, unicast only for static peers and members the group does not reach,
//! gossip only toward the latter.

use super::*;
use crate::wire::{envelope, Destination};

const CLUSTER: &str = "c";
const MS: Duration = Duration::from_millis(1);

fn info(n: u8) -> MemberInfo {
    MemberInfo {
        web_addr: None,
        id: ServerId::from_bytes([n; 16]),
        client_addr: SocketAddr::from(([127, 0, 0, 1], 7100 + u16::from(n))),
        udp_addr: SocketAddr::from(([127, 0, 0, 1], 7200 + u16::from(n))),
    }
}

fn to(n: u8) -> Destination {
    Destination::Unicast(info(n).udp_addr)
}

/// Server 1, on the group if `multicast`, with static `peers`.
fn server(multicast: bool, peers: &[u8], now: Instant) -> Membership {
    let peers = peers.iter().map(|&n| info(n).udp_addr).collect();
    Membership::new(
        MembershipConfig::default(),
        CLUSTER,
        info(1),
        multicast,
        peers,
        1,
        now,
    )
}

/// Server `n`'s heartbeat `counter` arrives by `via`.
fn hear(m: &mut Membership, n: u8, counter: u64, via: Via, now: Instant) {
    let me = info(n);
    let hb = Heartbeat {
        web_addr: None,
        id: me.id,
        client_addr: me.client_addr.to_string(),
        udp_addr: me.udp_addr.to_string(),
        heartbeat: counter,
    };
    let bytes = envelope::seal(Kind::Heartbeat, CLUSTER, &hb).unwrap();
    m.handle(via, &envelope::open(&bytes).unwrap(), now)
        .unwrap();
}

fn sent(m: &mut Membership) -> Vec<(Destination, Kind)> {
    std::iter::from_fn(|| m.poll_transmit())
        .map(|tx| (tx.to, envelope::open(&tx.bytes).unwrap().kind))
        .collect()
}

/// Runs `m` for `span` in 10 ms steps while servers 2 and 3 keep sending
/// heartbeats every 50 ms, 2 by `via2` and 3 by `via3`; what `m` sent.
fn run(
    m: &mut Membership,
    from: Instant,
    span: Duration,
    via2: Via,
    via3: Via,
) -> Vec<(Destination, Kind)> {
    let mut out = Vec::new();
    let mut t = Duration::ZERO;
    while t < span {
        let now = from + t;
        if t.as_millis().is_multiple_of(50) {
            let counter = 100 + t.as_millis() as u64;
            hear(m, 2, counter, via2, now);
            hear(m, 3, counter, via3, now);
        }
        m.handle_tick(now);
        out.extend(sent(m));
        t += 10 * MS;
    }
    out
}

fn count(sent: &[(Destination, Kind)], to: Destination, kind: Kind) -> usize {
    sent.iter().filter(|s| **s == (to, kind)).count()
}

#[test]
fn members_heard_on_the_group_get_heartbeats_by_the_group_only() {
    let t0 = Instant::now();
    let mut m = server(true, &[], t0);
    let out = run(&mut m, t0, 1_000 * MS, Via::Multicast, Via::Multicast);
    assert_eq!(count(&out, Destination::Group, Kind::Heartbeat), 20);
    assert_eq!(out.len(), 20, "nothing else, no gossip: {out:?}");
    assert_eq!(m.group_members(t0 + 1_000 * MS), [info(2).id, info(3).id]);
}

#[test]
fn a_member_the_group_does_not_reach_gets_unicast_and_gossip() {
    let t0 = Instant::now();
    let mut m = server(true, &[], t0);
    let out = run(&mut m, t0, 1_000 * MS, Via::Multicast, Via::Unicast);
    assert_eq!(count(&out, Destination::Group, Kind::Heartbeat), 20);
    assert_eq!(count(&out, to(3), Kind::Heartbeat), 20);
    // Gossip every 200 ms, to server 3 only.
    assert_eq!(count(&out, to(3), Kind::Gossip), 5, "{out:?}");
    assert_eq!(count(&out, to(2), Kind::Heartbeat), 0);
    assert_eq!(count(&out, to(2), Kind::Gossip), 0);
    assert_eq!(m.group_members(t0 + 1_000 * MS), [info(2).id]);
}

#[test]
fn a_member_silent_on_the_group_gets_unicast_again() {
    let t0 = Instant::now();
    let mut m = server(true, &[], t0);
    run(&mut m, t0, 500 * MS, Via::Multicast, Via::Multicast);
    // From now on server 2 is heard only by unicast (its group traffic
    // stopped): within `suspect_after` it gets heartbeats by unicast too.
    let t1 = t0 + 500 * MS;
    let out = run(&mut m, t1, 500 * MS, Via::Unicast, Via::Multicast);
    let first = out.iter().position(|s| *s == (to(2), Kind::Heartbeat));
    assert!(first.is_some(), "{out:?}");
    assert!(count(&out, to(2), Kind::Heartbeat) >= 4);
    assert!(count(&out, to(2), Kind::Gossip) >= 1);
    assert_eq!(count(&out, to(3), Kind::Heartbeat), 0);
}

#[test]
fn static_peers_always_get_unicast() {
    let t0 = Instant::now();
    let mut m = server(true, &[2], t0);
    let out = run(&mut m, t0, 1_000 * MS, Via::Multicast, Via::Multicast);
    assert_eq!(count(&out, to(2), Kind::Heartbeat), 20);
    assert_eq!(count(&out, to(2), Kind::Gossip), 5);
    assert_eq!(count(&out, to(3), Kind::Heartbeat), 0);
    // Without multicast, everyone is unicast and nobody is on the group.
    let mut m = server(false, &[2], t0);
    let out = run(&mut m, t0, 1_000 * MS, Via::Unicast, Via::Unicast);
    assert_eq!(count(&out, Destination::Group, Kind::Heartbeat), 0);
    assert_eq!(count(&out, to(3), Kind::Heartbeat), 20);
    assert!(m.group_members(t0 + 1_000 * MS).is_empty());
}

#[test]
fn a_server_that_was_paused_does_not_remove_its_peers_on_resuming() {
    let t0 = Instant::now();
    let mut m = server(true, &[], t0);
    let _ = run(&mut m, t0, 500 * MS, Via::Multicast, Via::Multicast);
    assert_eq!(m.members().len(), 2);
    // Frozen for 2 s (more than dead_after): the first tick after it comes
    // before the peers' waiting heartbeats are read.
    let resumed = t0 + 2500 * MS;
    m.handle_tick(resumed);
    assert_eq!(
        m.members().len(),
        2,
        "no peer removed for this server's own pause"
    );
    while let Some(event) = m.poll_event() {
        assert!(!matches!(event, Event::Down(..)), "{event:?}");
    }
    // Server 2's heartbeats keep it; server 3, silent, is still removed.
    let mut t = Duration::ZERO;
    while t < 1000 * MS {
        if t.as_millis().is_multiple_of(50) {
            hear(
                &mut m,
                2,
                10_000 + t.as_millis() as u64,
                Via::Multicast,
                resumed + t,
            );
        }
        m.handle_tick(resumed + t);
        t += 10 * MS;
    }
    let ids: Vec<_> = m.members().iter().map(|v| v.info.id).collect();
    assert_eq!(
        ids,
        [info(2).id],
        "the silent peer went, within dead_after of the resume"
    );
}
