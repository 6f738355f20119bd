//! The room without sockets: a member's burst of lines, numbered, encoded
//! into a run and queued for the room's other members and for the sender
//! itself, then taken off every queue as a writer would.
//!
//! `cargo bench --bench room`

use chatty::protocol::ServerId;
use chatty::server::room::{ChatLine, ClientId, Registration, Room, Wakes};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// Lines per burst: what a publisher's one write of 64 messages brings.
const BURST: u64 = 64;

/// A room with `members` joined members (the first is the sender), their
/// join traffic read.
fn room(members: usize) -> (Room, Vec<Registration>) {
    let room = Room::new(ServerId::from_bytes([7; 16]), "127.0.0.1:1".into(), 4096);
    let mut regs: Vec<Registration> = (0..members)
        .map(|n| {
            let reg = room.register();
            room.join(reg.id, &format!("member{n}"))
                .expect("a free name");
            reg
        })
        .collect();
    drain(&mut regs);
    (room, regs)
}

/// Takes every queued entry off every member's queue; returns the bytes.
fn drain(regs: &mut [Registration]) -> usize {
    let mut bytes = 0;
    for reg in regs {
        while let Ok(entry) = reg.outbound.try_recv() {
            bytes += entry.len();
        }
    }
    bytes
}

/// One burst of `BURST` lines of `size` bytes from the first member, with
/// an acknowledgement asked for each line if `acked`.
fn burst(room: &Room, regs: &mut [Registration], text: &str, acked: bool, cid: &mut u64) -> usize {
    let mut wakes = Wakes::default();
    for _ in 0..BURST {
        *cid += 1;
        let id = acked.then_some(ClientId {
            cid: *cid,
            ack: true,
        });
        room.say_then_wake(
            regs[0].id,
            ChatLine::lobby(text.to_string()),
            id,
            &mut wakes,
        )
        .expect("a member's line");
    }
    room.end_burst(&mut wakes);
    drop(wakes);
    drain(regs)
}

fn bursts(c: &mut Criterion) {
    let mut group = c.benchmark_group("room");
    for (members, size, acked) in [
        (11, 64, false),
        (11, 512, false),
        (11, 512, true),
        (101, 512, false),
    ] {
        let (room, mut regs) = room(members);
        let text = "x".repeat(size);
        let mut cid = 0;
        group.throughput(Throughput::Elements(BURST));
        let ack = if acked { ", acked" } else { "" };
        group.bench_function(
            format!("burst of {BURST} × {size} B to {} others{ack}", members - 1),
            |b| {
                b.iter(|| burst(&room, &mut regs, &text, acked, &mut cid));
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bursts);
criterion_main!(benches);
