//! Unit tests of the relay, driven through its inputs (`submit`,
//! `peer_up`/`peer_down`, `handle` with datagrams from the real encoders,
//! `handle_tick`) and read through its outputs and counters.
//!
//! * [`sync`] — the sync point: which snapshot a peer is served, and what
//!   a receiver reports when it was served late.
//! * [`stash`] — data from origins not yet up: kept, bounded, used.
//! * [`repair`] — answering NACKs (`nacks_answered`).
//! * [`forged`] — forged numbers and snapshots cost nothing.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::*;
use crate::protocol::LeaveReason;

mod forged;
mod repair;
mod stash;
mod status;
mod sync;

const CLUSTER: &str = "c";

/// Server number `n`.
fn id(n: u8) -> ServerId {
    ServerId::from_bytes([n; 16])
}

/// Server number `n`'s relay address (loopback).
fn addr(n: u8) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 7000 + u16::from(n)))
}

/// The relay of server number `n`.
fn relay(n: u8, config: RelayConfig, now: Instant) -> Relay {
    Relay::new(id(n), addr(n), CLUSTER, config, now)
}

/// What the node does with a datagram from server number `from`: open the
/// envelope, hand it to the relay.
fn send<T: Serialize>(relay: &mut Relay, from: u8, kind: Kind, body: &T, now: Instant) {
    let bytes = envelope::seal(kind, CLUSTER, body).unwrap();
    let env = envelope::open(&bytes).unwrap();
    relay.handle(addr(from), &env, now).unwrap();
}

/// Drains what the relay queued to send; returns the bodies of `kind`
/// with where they go.
fn sent<T: DeserializeOwned>(relay: &mut Relay, kind: Kind) -> Vec<(Destination, T)> {
    std::iter::from_fn(|| relay.poll_transmit())
        .filter_map(|tx| {
            let env = envelope::open(&tx.bytes).unwrap();
            (env.kind == kind).then(|| (tx.to, env.body().unwrap()))
        })
        .collect()
}

/// Drains the relay's deliveries.
fn deliveries(relay: &mut Relay) -> Vec<Delivery> {
    std::iter::from_fn(|| relay.poll_delivery()).collect()
}

fn joined(name: &str) -> ChatEvent {
    ChatEvent::Joined { name: name.into() }
}

fn left(name: &str) -> ChatEvent {
    ChatEvent::Left {
        name: name.into(),
        reason: LeaveReason::Leave,
        text: None,
    }
}

fn message(n: u64) -> ChatEvent {
    ChatEvent::Message {
        from: "ann".into(),
        text: format!("m{n}"),
        room: "#lobby".into(),
        cid: Default::default(),
        action: false,
    }
}

/// Names as a snapshot or a `Synced` lists them.
fn names(names: &[&str]) -> Vec<SnapshotMember> {
    names
        .iter()
        .map(|n| SnapshotMember {
            name: n.to_string(),
            rooms: vec!["#lobby".into()],
        })
        .collect()
}

/// Lets `a` and `b` talk for `rounds` rounds of 25 ms from `now`: each
/// round both tick and every datagram for the other arrives. Returns the
/// time reached.
fn pump(a: &mut Relay, b: &mut Relay, mut now: Instant, rounds: u32) -> Instant {
    for _ in 0..rounds {
        now += Duration::from_millis(25);
        a.handle_tick(now);
        b.handle_tick(now);
        carry(a, b, now);
        carry(b, a, now);
    }
    now
}

/// Every datagram `from` queued for `to` arrives there.
fn carry(from: &mut Relay, to: &mut Relay, now: Instant) {
    while let Some(tx) = from.poll_transmit() {
        if tx.to == Destination::Unicast(to.addr()) {
            let env = envelope::open(&tx.bytes).unwrap();
            to.handle(from.addr(), &env, now).unwrap();
        }
    }
}

/// Server 1's relay with server 2 up, not yet synced with it.
fn with_peer(now: Instant) -> Relay {
    let mut relay = relay(1, RelayConfig::default(), now);
    relay.peer_up(id(2), addr(2), now);
    relay
}

/// Server 1's relay synced (at event 0) with server 2.
fn synced_with_peer(now: Instant) -> Relay {
    let mut relay = with_peer(now);
    let snapshot = Snapshot {
        origin: id(2),
        seq: 0,
        part: 0,
        parts: 1,
        members: vec![],
        from: None,
        topics: vec![],
    };
    send(&mut relay, 2, Kind::RelaySnapshot, &snapshot, now);
    assert!(matches!(
        relay.poll_delivery(),
        Some(Delivery::Synced { .. })
    ));
    relay
}
