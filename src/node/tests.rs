//! Unit tests of the node: each datagram opened once and routed to the
//! machine its kind belongs to, and membership's Up/Down becoming the
//! relay's peers.

use super::*;
use crate::membership::messages::{Heartbeat, Leave};
use crate::protocol::ServerId;
use crate::relay::messages::SyncRequest;
use crate::seal::{ClusterKey, Keyring, Sealer};
use crate::wire::{Destination, Kind};

const CLUSTER: &str = "c";

fn info(n: u8) -> MemberInfo {
    MemberInfo {
        web_addr: None,
        id: ServerId::from_bytes([n; 16]),
        client_addr: SocketAddr::from(([127, 0, 0, 1], 7100 + u16::from(n))),
        udp_addr: SocketAddr::from(([127, 0, 0, 1], 7200 + u16::from(n))),
    }
}

fn config(seal: Option<SealConfig>) -> NodeConfig {
    NodeConfig {
        cluster: CLUSTER.into(),
        multicast: true,
        peers: Vec::new(),
        membership: MembershipConfig::default(),
        relay: RelayConfig::default(),
        seal,
    }
}

fn now() -> Now {
    Now {
        mono: Instant::now(),
        unix_ms: 1_800_000_000_000,
    }
}

/// Server 1's node, with its first heartbeats sent and dropped.
fn node(seal: Option<SealConfig>, now: Now) -> Node {
    let mut node = Node::new(&config(seal), info(1), 1, now);
    node.handle_tick(now);
    while node.poll_transmit().is_some() {}
    node
}

fn heartbeat(n: u8, counter: u64) -> Vec<u8> {
    let me = info(n);
    let hb = Heartbeat {
        web_addr: None,
        id: me.id,
        client_addr: me.client_addr.to_string(),
        udp_addr: me.udp_addr.to_string(),
        heartbeat: counter,
    };
    envelope::seal(Kind::Heartbeat, CLUSTER, &hb).unwrap()
}

fn events(node: &mut Node) -> Vec<Event> {
    std::iter::from_fn(|| node.poll_event()).collect()
}

/// The kinds and destinations of what the node queued to send.
fn sent(node: &mut Node) -> Vec<(Destination, Kind)> {
    std::iter::from_fn(|| node.poll_transmit())
        .map(|tx| (tx.to, envelope::open(&tx.bytes).unwrap().kind))
        .collect()
}

#[test]
fn an_up_makes_the_relay_sync_with_the_new_member() {
    let now = now();
    let mut node = node(None, now);
    node.handle_datagram(info(2).udp_addr, Via::Multicast, &heartbeat(2, 1), now);
    assert_eq!(events(&mut node), vec![Event::Up(info(2))]);
    assert_eq!(node.footprint().origins, 1, "routed to the relay at once");
    node.handle_tick(now);
    let to_peer = Destination::Unicast(info(2).udp_addr);
    assert!(sent(&mut node).contains(&(to_peer, Kind::RelaySyncRequest)));
    // The relay answers the peer's own request: it is a known peer.
    let request = SyncRequest {
        origin: info(1).id,
        seq: 0,
        parts: vec![],
        requester: Default::default(),
        resume: Default::default(),
    };
    let bytes = envelope::seal(Kind::RelaySyncRequest, CLUSTER, &request).unwrap();
    node.handle_datagram(info(2).udp_addr, Via::Unicast, &bytes, now);
    assert_eq!(sent(&mut node), vec![(to_peer, Kind::RelaySnapshot)]);
}

#[test]
fn a_leave_ends_the_relay_stream_gracefully() {
    let now = now();
    let mut node = node(None, now);
    node.handle_datagram(info(2).udp_addr, Via::Multicast, &heartbeat(2, 1), now);
    let leave = Leave {
        id: info(2).id,
        heartbeat: 2,
    };
    let bytes = envelope::seal(Kind::Leave, CLUSTER, &leave).unwrap();
    node.handle_datagram(info(2).udp_addr, Via::Multicast, &bytes, now);
    assert_eq!(
        events(&mut node),
        vec![Event::Up(info(2)), Event::Down(info(2), DownReason::Left)]
    );
    assert_eq!(node.footprint().origins, 0);
    assert_eq!(
        node.poll_delivery(),
        Some(Delivery::OriginGone {
            origin: info(2).id,
            graceful: true,
        })
    );
}

#[test]
fn junk_and_foreign_datagrams_are_counted_and_go_nowhere() {
    let now = now();
    let mut node = node(None, now);
    node.handle_datagram(info(2).udp_addr, Via::Multicast, b"CHTY junk", now);
    let foreign = heartbeat(2, 1);
    let foreign = [&foreign[..6], &[1, b'x'], &foreign[7 + CLUSTER.len()..]].concat();
    node.handle_datagram(info(2).udp_addr, Via::Multicast, &foreign, now);
    let drops = node.drops();
    assert_eq!((drops.malformed, drops.foreign), (1, 1));
    assert!(events(&mut node).is_empty() && node.members().is_empty());
}

#[test]
fn a_keyed_node_takes_only_sealed_datagrams() {
    let now = now();
    let key = SealConfig::new(Keyring::new(vec![ClusterKey::from_bytes([5; 32])]).unwrap());
    let mut node = node(Some(key.clone()), now);
    assert!(node.is_keyed());
    node.handle_datagram(info(2).udp_addr, Via::Multicast, &heartbeat(2, 1), now);
    assert_eq!(node.seal_stats().unsealed, 1);
    assert!(node.members().is_empty());
    let mut peer = Sealer::new(&key, CLUSTER);
    let sealed = peer.seal(&heartbeat(2, 1), now.unix_ms).unwrap();
    node.handle_datagram(info(2).udp_addr, Via::Multicast, &sealed, now);
    assert_eq!(events(&mut node), vec![Event::Up(info(2))]);
    // What it sends is sealed too.
    node.handle_tick(now);
    let tx = node.poll_transmit().expect("a sync request at least");
    assert!(crate::seal::looks_sealed(&tx.bytes));
}

#[test]
fn membership_events_nobody_reads_are_bounded() {
    let now = now();
    let mut node = node(None, now);
    // Server 2 comes and goes: two events a round, none read.
    let rounds = MAX_EVENTS as u64 / 2 + 10;
    for counter in 1..=rounds {
        node.handle_datagram(
            info(2).udp_addr,
            Via::Multicast,
            &heartbeat(2, counter),
            now,
        );
        let leave = Leave {
            id: info(2).id,
            heartbeat: counter,
        };
        let bytes = envelope::seal(Kind::Leave, CLUSTER, &leave).unwrap();
        node.handle_datagram(info(2).udp_addr, Via::Multicast, &bytes, now);
    }
    let kept = events(&mut node);
    assert_eq!(kept.len(), MAX_EVENTS, "the oldest went first");
    assert_eq!(kept.last(), Some(&Event::Down(info(2), DownReason::Left)));
    // The relay saw every one of them: one stream per round, each ended.
    let gone = std::iter::from_fn(|| node.poll_delivery())
        .filter(|d| matches!(d, Delivery::OriginGone { .. }))
        .count();
    assert_eq!(gone as u64, rounds);
}

/// Server 1 idle among `others` servers that all heartbeat on the group,
/// for 10 s: its heartbeats, gossip and relay statuses, by destination
/// (sync traffic, unanswered here, is left out).
fn idle_traffic(others: u8) -> Vec<(Destination, Kind)> {
    let t0 = now();
    let mut node = Node::new(&config(None), info(1), 1, t0);
    let mut out = Vec::new();
    let mut counter = 0;
    for step in 0..1000u64 {
        let now = Now {
            mono: t0.mono + Duration::from_millis(step * 10),
            unix_ms: t0.unix_ms + step * 10,
        };
        if step.is_multiple_of(5) {
            counter += 1;
            for n in 2..=others + 1 {
                let hb = heartbeat(n, counter);
                node.handle_datagram(info(n).udp_addr, Via::Multicast, &hb, now);
            }
        }
        if node.next_deadline() <= now.mono {
            node.handle_tick(now);
        }
        out.extend(sent(&mut node).into_iter().filter(|(_, kind)| {
            matches!(kind, Kind::Heartbeat | Kind::Gossip | Kind::RelayStatus)
        }));
    }
    out
}

#[test]
fn an_idle_server_on_the_group_sends_the_same_whatever_the_cluster_size() {
    for others in [2, 9, 49] {
        let out = idle_traffic(others);
        let group = |kind| {
            out.iter()
                .filter(|s| **s == (Destination::Group, kind))
                .count()
        };
        assert_eq!(group(Kind::Heartbeat), 200, "{others} others: 20 a second");
        // One status at the start, then a keepalive a second.
        assert_eq!(group(Kind::RelayStatus), 10, "{others} others");
        let unicast: Vec<_> = out
            .iter()
            .filter(|(to, _)| *to != Destination::Group)
            .collect();
        assert!(unicast.is_empty(), "{others} others: {unicast:?}");
    }
}
