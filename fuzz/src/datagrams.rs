//! The server-to-server receive path as a server runs it: one datagram into
//! a real [`Node`] (the seal's gate, the envelope and its cluster name, the
//! state machine its kind belongs to), then a tick; and separately every
//! body decoder, which must re-encode what it accepted to the same value.
//!
//! [`run`] is the unkeyed target. The keyed one ([`crate::sealed`]) checks
//! the plaintext it opened with [`check_plain`] and hands the sealed bytes
//! to a keyed node with [`dispatch`].

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chatty::membership::messages::{Gossip, Heartbeat, Leave, MemberInfo};
use chatty::membership::MembershipConfig;
use chatty::node::{Node, NodeConfig, Now};
use chatty::protocol::ServerId;
use chatty::relay::messages::{Data, Nack, Snapshot, Status, SyncRequest, WireEvent};
use chatty::relay::{ChatEvent, RelayConfig};
use chatty::seal::{looks_sealed, SealConfig, Sealer};
use chatty::wire::envelope::{self, Envelope, Kind, MAX_CLUSTER_NAME};
use chatty::wire::{Via, MAX_DATAGRAM};

/// Cluster name every harness and seed uses.
pub const CLUSTER: &str = "fuzz";
/// The wall clock every harness runs at (and sealed seeds carry).
pub const NOW_MS: u64 = 1_700_000_000_000;

/// The receiving server.
pub fn me() -> ServerId {
    ServerId::from_bytes([0x01; 16])
}

/// The one peer the receiver knows; seeds are sent by it.
pub fn peer() -> ServerId {
    ServerId::from_bytes([0x02; 16])
}

/// The receiver's address (clients and UDP).
pub fn me_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9001))
}

/// The peer's address; datagrams "arrive" from here.
pub fn peer_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9002))
}

/// `now`, `by` later on both clocks.
pub fn later(now: Now, by: Duration) -> Now {
    Now {
        mono: now.mono + by,
        unix_ms: now.unix_ms + by.as_millis() as u64,
    }
}

/// The unkeyed target: the datagram's bodies are decoded, and it goes to
/// an unkeyed node.
pub fn run(datagram: &[u8]) {
    check_plain(datagram);
    dispatch(datagram, None);
}

/// Decodes a plain envelope's body by its kind, if the envelope opens, and
/// checks that what was accepted re-encodes to the same value.
pub fn check_plain(plain: &[u8]) {
    if let Ok(env) = envelope::open(plain) {
        assert!(plain.len() <= MAX_DATAGRAM);
        assert!(env.cluster.len() <= MAX_CLUSTER_NAME);
        decode_body(&env);
    }
}

fn decode_body(env: &Envelope<'_>) {
    match env.kind {
        Kind::Heartbeat => {
            if let Ok(hb) = env.body::<Heartbeat>() {
                if let Some(info) = hb.member() {
                    assert_eq!(info.id, hb.id);
                }
                round_trips(env, &hb);
            }
        }
        Kind::Gossip => {
            if let Ok(gossip) = env.body::<Gossip>() {
                for entry in &gossip.entries {
                    let _ = entry.member();
                }
                round_trips(env, &gossip);
            }
        }
        Kind::Leave => {
            if let Ok(leave) = env.body::<Leave>() {
                round_trips(env, &leave);
            }
        }
        Kind::RelayData => {
            if let Ok(data) = env.body::<Data>() {
                for wire in &data.events {
                    let event = wire.event();
                    // Known kinds survive a trip through ChatEvent.
                    if !matches!(event, ChatEvent::Unknown { .. }) {
                        assert_eq!(WireEvent::new(wire.seq(), &event).event(), event);
                    }
                }
                round_trips(env, &data);
            }
        }
        Kind::RelayStatus => {
            if let Ok(status) = env.body::<Status>() {
                round_trips(env, &status);
            }
        }
        Kind::RelayNack => {
            if let Ok(nack) = env.body::<Nack>() {
                round_trips(env, &nack);
            }
        }
        Kind::RelaySyncRequest => {
            if let Ok(request) = env.body::<SyncRequest>() {
                round_trips(env, &request);
            }
        }
        Kind::RelaySnapshot => {
            if let Ok(snapshot) = env.body::<Snapshot>() {
                round_trips(env, &snapshot);
            }
        }
    }
}

fn round_trips<T>(env: &Envelope<'_>, body: &T)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    // A canonical re-encoding may differ in size; when it fits, it must
    // decode to the same value.
    if let Ok(bytes) = envelope::seal(env.kind, env.cluster, body) {
        assert!(bytes.len() <= MAX_DATAGRAM);
        let again = envelope::open(&bytes).expect("a sealed datagram must open");
        assert_eq!(again.kind, env.kind);
        assert_eq!(again.cluster, env.cluster);
        assert_eq!(&again.body::<T>().expect("a sealed body must decode"), body);
    }
}

/// The peer's heartbeat, sealed with its own session if the cluster has
/// a key: it makes the receiver's membership, and so its relay, know the
/// peer before the fuzzed datagram arrives.
fn peer_heartbeat(key: Option<&SealConfig>) -> Vec<u8> {
    let hb = Heartbeat {
        web_addr: None,
        id: peer(),
        client_addr: peer_addr().to_string(),
        udp_addr: peer_addr().to_string(),
        heartbeat: 5,
    };
    let plain = envelope::seal(Kind::Heartbeat, CLUSTER, &hb).expect("fits");
    match key {
        Some(key) => Sealer::with_session(key, CLUSTER, [0x77; 16])
            .seal(&plain, NOW_MS)
            .expect("fits"),
        None => plain,
    }
}

/// A fresh node (keyed if `key`) that has heard [`peer`] and relayed one
/// event to it receives `datagram` from the peer, then ticks; everything
/// it sends must fit a datagram and be well formed.
pub fn dispatch(datagram: &[u8], key: Option<&SealConfig>) {
    let config = NodeConfig {
        cluster: CLUSTER.into(),
        multicast: true,
        peers: vec![peer_addr()],
        membership: MembershipConfig::default(),
        relay: RelayConfig::default(),
        seal: key.cloned(),
    };
    let info = MemberInfo {
        web_addr: None,
        id: me(),
        client_addr: me_addr(),
        udp_addr: me_addr(),
    };
    let now = Now {
        mono: Instant::now(),
        unix_ms: NOW_MS,
    };
    let mut node = Node::new(&config, info, 7, now);
    node.handle_datagram(peer_addr(), Via::Unicast, &peer_heartbeat(key), now);
    assert_eq!(node.members().len(), 1, "the peer's heartbeat is taken");
    node.submit(1, ChatEvent::Joined { name: "me".into() }, now);
    node.handle_tick(now);
    while node.poll_transmit().is_some() {}

    node.handle_datagram(peer_addr(), Via::Unicast, datagram, now);
    node.handle_tick(later(now, Duration::from_millis(30)));
    while let Some(tx) = node.poll_transmit() {
        assert!(tx.bytes.len() <= MAX_DATAGRAM, "sent an oversized datagram");
        if key.is_some() {
            assert!(looks_sealed(&tx.bytes), "a keyed node sent in clear");
        } else {
            envelope::open(&tx.bytes).expect("sent a datagram that does not open");
        }
    }
    assert_eq!(
        node.footprint().origins,
        node.members().len(),
        "one relay origin per member"
    );
    while node.poll_event().is_some() {}
    while node.poll_delivery().is_some() {}
}
