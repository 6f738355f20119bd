//! Unit tests of the room: ordering, names, eviction, shutdown, backfill
//! here; rooms, version 1, nick changes, private messages, topics and
//! resynchronisation in the files below.
use std::collections::VecDeque;

use super::history::{backfill, Line};
use super::*;
use crate::protocol::{decode, MessageId, ServerMsg, LOBBY};

mod consistency;
mod convergence;
mod large;
mod nick;
mod private;
mod reasons;
mod resync;
mod rooms;
mod runs;
mod topics;
mod v1;

/// A version-1 member named `name` on a new connection.
pub(super) fn join_v1(room: &Room, name: &str) -> Registration {
    let reg = room.register();
    let joining = Joining {
        name,
        version: 1,
        last_seen: None,
        rooms: &[],
    };
    room.join_as(reg.id, &joining).unwrap();
    reg
}

/// A version-2 member named `name` on a new connection, its frames so far read.
pub(super) fn member(room: &Room, name: &str) -> Registration {
    let mut reg = room.register();
    room.join(reg.id, name).unwrap();
    drain(&mut reg);
    reg
}

/// Reads every frame queued for each of `regs`.
pub(super) fn drain_all(regs: &mut [&mut Registration]) {
    for reg in regs {
        drain(reg);
    }
}

/// The texts of the `message` frames among `msgs`, with their rooms.
pub(super) fn said(msgs: &[ServerMsg]) -> Vec<(String, String)> {
    msgs.iter()
        .filter_map(|m| match m {
            ServerMsg::Message { text, room, .. } => Some((room.clone(), text.clone())),
            _ => None,
        })
        .collect()
}

/// A chat line to `room`.
pub(super) fn line(room: &str, text: &str) -> ChatLine {
    ChatLine {
        text: text.into(),
        room: Some(room.into()),
        action: false,
    }
}

/// Says `text` in `room` as `reg`.
pub(super) fn say_in(
    room: &Room,
    reg: &Registration,
    to: &str,
    text: &str,
) -> Result<MessageId, RoomError> {
    let mut wakes = Wakes::default();
    let said = room.say_then_wake(reg.id, line(to, text), None, &mut wakes);
    room.end_burst(&mut wakes);
    said
}

/// `name` joins on `origin` (events 1, 2, …) and enters `rooms`; returns
/// the last event's number.
pub(super) fn remote_member(room: &Room, origin: ServerId, name: &str, rooms: &[&str]) -> u64 {
    room.apply(event(
        origin,
        1,
        crate::relay::ChatEvent::Joined { name: name.into() },
    ));
    for (n, r) in rooms.iter().enumerate() {
        let entered = crate::relay::ChatEvent::Entered {
            name: name.into(),
            room: r.to_string(),
        };
        room.apply(event(origin, n as u64 + 2, entered));
    }
    rooms.len() as u64 + 1
}

/// A relayed event from `origin`.
pub(super) fn event(
    origin: ServerId,
    seq: u64,
    event: crate::relay::ChatEvent,
) -> crate::relay::Delivery {
    crate::relay::Delivery::Event { origin, seq, event }
}

fn room(capacity: usize) -> Room {
    Room::new(ServerId::random(), "127.0.0.1:1".into(), capacity)
}

/// Server id `n` repeated: a fixed, readable id for tests.
pub(super) fn id(n: u8) -> ServerId {
    ServerId::from_bytes([n; 16])
}

/// Every frame queued for `reg`, decoded (an entry may hold several: a
/// run of lines, see `run`).
pub(super) fn drain(reg: &mut Registration) -> Vec<ServerMsg> {
    let mut out = Vec::new();
    while let Ok(entry) = reg.outbound.try_recv() {
        out.extend(frames_in(&entry).map(|body| decode(body).unwrap()));
    }
    out
}

/// The bodies of the frames in one queue entry.
pub(super) fn frames_in(mut entry: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        let (prefix, rest) = entry.split_first_chunk::<4>()?;
        let (body, rest) = rest.split_at(u32::from_be_bytes(*prefix) as usize);
        entry = rest;
        Some(body)
    })
}

#[test]
fn join_sends_welcome_then_joined_to_everyone() {
    let room = room(16);
    let mut a = room.register();
    let mut b = room.register();
    room.join(a.id, "Ann").unwrap();
    room.join(b.id, "Bob").unwrap();
    let to_a = drain(&mut a);
    let to_b = drain(&mut b);
    assert!(matches!(&to_a[0], ServerMsg::Welcome { members, .. } if members.len() == 1));
    assert!(matches!(&to_a[1], ServerMsg::Joined { name, .. } if name == "Ann"));
    assert!(matches!(&to_a[2], ServerMsg::Joined { name, .. } if name == "Bob"));
    assert!(matches!(&to_b[0], ServerMsg::Welcome { members, .. } if members.len() == 2));
    assert!(matches!(&to_b[1], ServerMsg::Joined { name, .. } if name == "Bob"));
    assert_eq!(
        to_b.len(),
        2,
        "Bob does not hear about joins before his own"
    );
}

#[test]
fn names_are_unique_ignoring_case_and_freed_on_leave() {
    let room = room(16);
    let a = room.register();
    let b = room.register();
    room.join(a.id, "Leo").unwrap();
    assert_eq!(
        room.join(b.id, "leo"),
        Err(JoinError::NameTaken("leo".into()))
    );
    assert_eq!(
        room.join(a.id, "Max"),
        Err(JoinError::AlreadyJoined("Leo".into()))
    );
    room.leave(a.id, LeaveReason::Leave, None).unwrap();
    room.join(b.id, "LEO").unwrap();
}

#[test]
fn events_carry_increasing_ids_and_the_same_order_for_all() {
    let room = room(64);
    let mut regs: Vec<_> = (0..3).map(|_| room.register()).collect();
    for (i, reg) in regs.iter().enumerate() {
        room.join(reg.id, &format!("u{i}")).unwrap();
    }
    for n in 0..5 {
        room.say(regs[n % 3].id, format!("m{n}")).unwrap();
    }
    let seen: Vec<Vec<u64>> = regs
        .iter_mut()
        .map(|r| {
            drain(r)
                .into_iter()
                .filter_map(|m| match m {
                    ServerMsg::Message { id, .. } => Some(id.seq),
                    _ => None,
                })
                .collect()
        })
        .collect();
    assert_eq!(seen[0].len(), 5);
    assert!(seen[0].windows(2).all(|w| w[1] == w[0] + 1));
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[1], seen[2]);
}

#[test]
fn a_full_queue_evicts_only_that_client() {
    let room = room(4);
    let mut fast = room.register();
    let slow = room.register();
    room.join(fast.id, "fast").unwrap();
    room.join(slow.id, "slow").unwrap();
    let mut heard_by_fast = Vec::new();
    for n in 0..10 {
        heard_by_fast.extend(drain(&mut fast));
        room.say(fast.id, format!("m{n}")).unwrap();
    }
    heard_by_fast.extend(drain(&mut fast));
    assert!(slow.outbound.is_evicted());
    assert!(!fast.outbound.is_evicted());
    assert_eq!(room.member_count(), 1);
    let left = heard_by_fast;
    assert!(left.iter().any(|m| matches!(
        m,
        ServerMsg::Left { name, reason: LeaveReason::TooSlow, .. } if name == "slow"
    )));
    // The evicted connection's queue is closed once drained.
    drop(slow);
    assert_eq!(room.connection_count(), 1);
}

#[test]
fn leave_confirms_to_leaver_and_unregister_is_idempotent() {
    let room = room(16);
    let mut a = room.register();
    room.join(a.id, "Ann").unwrap();
    room.leave(a.id, LeaveReason::Leave, None).unwrap();
    let msgs = drain(&mut a);
    assert!(matches!(
        msgs.last(),
        Some(ServerMsg::Left {
            reason: LeaveReason::Leave,
            ..
        })
    ));
    assert_eq!(room.leave(a.id, LeaveReason::Leave, None), Err(NotJoined));
    room.unregister(a.id, LeaveReason::Disconnected);
    room.unregister(a.id, LeaveReason::Disconnected);
    assert_eq!(room.connection_count(), 0);
}

#[test]
fn shutdown_notifies_every_connection_and_refuses_joins() {
    let room = room(16);
    let mut a = room.register();
    let mut b = room.register();
    room.join(a.id, "Ann").unwrap();
    room.begin_shutdown("bye");
    assert!(matches!(
        drain(&mut a).last(),
        Some(ServerMsg::Shutdown { .. })
    ));
    assert!(matches!(
        drain(&mut b).last(),
        Some(ServerMsg::Shutdown { .. })
    ));
    assert_eq!(room.join(b.id, "Bob"), Err(JoinError::ShuttingDown));
    // Nothing can follow the notice: the queues are closed.
    assert!(room.say(a.id, "late".into()).is_err());
    assert!(a.outbound.try_recv().is_err());
    assert_eq!(room.connection_count(), 0);
}

#[test]
fn backfill_sends_exactly_what_was_missed() {
    let a = ServerId::from_bytes([1; 16]);
    let b = ServerId::from_bytes([2; 16]);
    let c = ServerId::from_bytes([3; 16]);
    let id = |origin, seq| MessageId { origin, seq };
    // The new server's order: a1 b1 a2 b2 c1 a3
    let recent: VecDeque<_> = [id(a, 1), id(b, 1), id(a, 2), id(b, 2), id(c, 1), id(a, 3)]
        .into_iter()
        .map(|id| Line {
            id,
            from: "x".into(),
            text: "t".into(),
            action: false,
            cid: 0,
        })
        .collect();
    let missed =
        |seen: &[MessageId]| -> Vec<MessageId> { backfill(&recent, seen).map(|l| l.id).collect() };
    // Saw a up to 1 and b up to 2: a2, a3 and c1 (c unknown, after the cutoff at a1).
    assert_eq!(
        missed(&[id(a, 1), id(b, 2)]),
        [id(a, 2), id(c, 1), id(a, 3)]
    );
    // Saw everything: nothing.
    assert!(missed(&[id(a, 3), id(b, 2), id(c, 1)]).is_empty());
    // Away longer than the ring reaches: all of it.
    assert_eq!(
        missed(&[id(a, 0)]).len(),
        6,
        "all of a is newer; b and c unknown, no cutoff"
    );
}

#[test]
fn a_fatal_error_is_the_last_frame() {
    let room = room(16);
    let mut a = room.register();
    let mut b = room.register();
    room.join(a.id, "Ann").unwrap();
    room.join(b.id, "Bob").unwrap();
    drain(&mut a);
    let last = encode_frame(&ServerMsg::Pong { nonce: 1 });
    room.close_with(a.id, last, LeaveReason::ProtocolError);
    room.say(b.id, "after".into()).unwrap();
    let to_a = drain(&mut a);
    assert!(
        matches!(to_a.last(), Some(ServerMsg::Pong { nonce: 1 })),
        "{to_a:?}"
    );
    let to_b = drain(&mut b);
    assert!(to_b.iter().any(|m| matches!(
        m,
        ServerMsg::Left {
            reason: LeaveReason::ProtocolError,
            ..
        }
    )));
}
