//! The server-to-server receive path, as the cluster driver runs it: one
//! datagram → [`envelope::open`] → by kind, the membership or relay body →
//! the state machine that owns that kind.
//!
//! [`run_with`] takes an `unwrap` step that runs before anything is parsed.
//! Today (no cluster key) it is the identity ([`run`]). A keyed target is a
//! second `fuzz_targets/` file that passes a closure verifying and decrypting
//! with a fixed test keyring, e.g.
//! `run_with(data, |d| keyring.open(d).ok().map(Cow::Owned))`, so the same
//! decoders and machines are fuzzed behind the AEAD check; its seeds are
//! [`crate::seeds::datagrams`] sealed with that keyring.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chatty::cluster::envelope::{self, Envelope, Kind, MAX_DATAGRAM};
use chatty::cluster::messages::{Gossip, Heartbeat, Leave, MemberInfo};
use chatty::cluster::{Membership, MembershipConfig, Via};
use chatty::protocol::ServerId;
use chatty::relay::messages::{Data, Nack, Snapshot, Status, SyncRequest};
use chatty::relay::{Relay, RelayConfig};

/// Cluster name every harness and seed uses.
pub const CLUSTER: &str = "fuzz";
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

/// The unkeyed target: the datagram is parsed as it arrived.
pub fn run(datagram: &[u8]) {
    run_with(datagram, |d| Some(Cow::Borrowed(d)));
}

/// Unwraps (decrypts/verifies, in a keyed variant), then decodes and
/// dispatches the plaintext exactly as the driver does.
pub fn run_with<'a>(datagram: &'a [u8], unwrap: impl FnOnce(&'a [u8]) -> Option<Cow<'a, [u8]>>) {
    let Some(plain) = unwrap(datagram) else {
        return;
    };
    let plain: &[u8] = &plain;
    if let Ok(env) = envelope::open(plain) {
        assert!(plain.len() <= MAX_DATAGRAM);
        assert!(env.cluster.len() <= envelope::MAX_CLUSTER_NAME);
        decode_body(&env);
    }
    dispatch(plain);
}

/// Decodes the body its kind names, and checks that what was accepted
/// re-encodes to a datagram that decodes to the same value.
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
                    if (1..=3).contains(&wire.1) {
                        assert_eq!(
                            chatty::relay::messages::WireEvent::new(wire.seq(), &event).event(),
                            event
                        );
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

/// The driver's `dispatch`, on a fresh receiver that knows [`peer`], followed
/// by one tick; everything the machines send must be a valid datagram.
fn dispatch(datagram: &[u8]) {
    let now = Instant::now();
    let info = MemberInfo {
        id: me(),
        client_addr: me_addr(),
        udp_addr: me_addr(),
    };
    let mut membership = Membership::new(
        MembershipConfig::default(),
        CLUSTER,
        info,
        true,
        vec![peer_addr()],
        7,
        now,
    );
    let mut relay = Relay::new(me(), me_addr(), CLUSTER, RelayConfig::default(), now);
    relay.peer_up(peer(), peer_addr());
    relay.submit(1, chatty::relay::ChatEvent::Joined { name: "me".into() });
    relay.handle_tick(now);
    while relay.poll_transmit().is_some() {}

    let relay_kind = envelope::open(datagram).is_ok_and(|e| e.kind.is_relay());
    if relay_kind {
        relay.handle_datagram(peer_addr(), datagram, now);
    } else {
        membership.handle_datagram(peer_addr(), Via::Unicast, datagram, now);
    }
    let later = now + Duration::from_millis(30);
    membership.handle_tick(later);
    relay.handle_tick(later);
    while let Some(tx) = membership.poll_transmit().or_else(|| relay.poll_transmit()) {
        assert!(tx.bytes.len() <= MAX_DATAGRAM, "sent an oversized datagram");
        envelope::open(&tx.bytes).expect("sent a datagram that does not open");
    }
    while membership.poll_event().is_some() {}
    while relay.poll_delivery().is_some() {}
}
