//! The relay state machine without sockets: how fast an origin packs events
//! into datagrams, and how fast a peer takes them in, in order and with
//! gaps that are filled later (buffering, then in-order release).
//!
//! `cargo bench --bench relay`

use std::net::SocketAddr;
use std::time::Instant;

use chatty::protocol::ServerId;
use chatty::relay::{ChatEvent, Delivery, Relay, RelayConfig};
use chatty::wire::{envelope, Destination};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

/// What the node does with a relay datagram: open the envelope once, hand
/// it to the relay.
fn feed(relay: &mut Relay, from: SocketAddr, datagram: &[u8], now: Instant) {
    let env = envelope::open(datagram).expect("the relay sends envelopes that open");
    relay
        .handle(from, &env, now)
        .expect("a well-formed relay body");
}

/// Events per iteration.
const EVENTS: u64 = 256;

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn event() -> ChatEvent {
    ChatEvent::Message {
        from: "alice".into(),
        text: "x".repeat(64),
        room: "#lobby".into(),
        cid: 0,
        action: false,
    }
}

/// Two relays that know each other, with `b` synced to `a`'s stream.
fn pair() -> (Relay, Relay) {
    let now = Instant::now();
    let (ia, ib) = (ServerId::from_bytes([1; 16]), ServerId::from_bytes([2; 16]));
    let mut a = Relay::new(ia, addr(1), "bench", RelayConfig::default(), now);
    let mut b = Relay::new(ib, addr(2), "bench", RelayConfig::default(), now);
    a.peer_up(ib, addr(2), now);
    b.peer_up(ia, addr(1), now);
    for _ in 0..10 {
        a.handle_tick(now);
        b.handle_tick(now);
        while let Some(t) = a.poll_transmit() {
            if t.to == Destination::Unicast(addr(2)) {
                feed(&mut b, addr(1), &t.bytes, now);
            }
        }
        while let Some(t) = b.poll_transmit() {
            if t.to == Destination::Unicast(addr(1)) {
                feed(&mut a, addr(2), &t.bytes, now);
            }
        }
    }
    let mut synced = false;
    while let Some(d) = b.poll_delivery() {
        synced |= matches!(d, Delivery::Synced { .. });
    }
    assert!(synced, "the peer synced with the origin");
    (a, b)
}

/// The data datagrams `a` sends `b` for the next `EVENTS` events.
fn datagrams(a: &mut Relay) -> Vec<Vec<u8>> {
    let event = event();
    for _ in 0..EVENTS {
        let seq = a.last_seq() + 1;
        a.submit(seq, event.clone());
    }
    a.handle_tick(Instant::now());
    let mut out = Vec::new();
    while let Some(t) = a.poll_transmit() {
        out.push(t.bytes);
    }
    out
}

fn relay(c: &mut Criterion) {
    let mut group = c.benchmark_group("relay");
    group.throughput(Throughput::Elements(EVENTS));

    let (mut a, _) = pair();
    let event = event();
    group.bench_function("submit + poll_transmit, 1 peer", |bench| {
        bench.iter(|| {
            for _ in 0..EVENTS {
                let seq = a.last_seq() + 1;
                a.submit(seq, event.clone());
            }
            a.handle_tick(Instant::now());
            let mut bytes = 0;
            while let Some(t) = a.poll_transmit() {
                bytes += t.bytes.len();
            }
            bytes
        })
    });

    let (mut a, mut b) = pair();
    group.bench_function("receive in order", |bench| {
        bench.iter_batched(
            || datagrams(&mut a),
            |data| take_in(&mut b, &data),
            BatchSize::SmallInput,
        )
    });

    // Every third datagram arrives last, as a repair would: the events
    // behind each gap wait in the buffer and are released when it fills.
    let (mut a, mut b) = pair();
    group.bench_function("receive with gaps", |bench| {
        bench.iter_batched(
            || {
                let data = datagrams(&mut a);
                let (late, early): (Vec<_>, Vec<_>) =
                    data.into_iter().enumerate().partition(|(i, _)| i % 3 == 1);
                early
                    .into_iter()
                    .chain(late)
                    .map(|(_, d)| d)
                    .collect::<Vec<_>>()
            },
            |data| take_in(&mut b, &data),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, relay);
criterion_main!(benches);

/// Hands `data` to the receiving relay and drains it; every event is
/// delivered.
fn take_in(b: &mut Relay, data: &[Vec<u8>]) {
    let now = Instant::now();
    for d in data {
        feed(b, addr(1), d, now);
    }
    let mut n = 0;
    while b.poll_delivery().is_some() {
        n += 1;
    }
    assert_eq!(n, EVENTS);
    while b.poll_transmit().is_some() {}
}
