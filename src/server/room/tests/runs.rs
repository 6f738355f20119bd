//! Runs (`run`): a member's burst of lines reaches each other member as
//! one queue entry, in the order it would have line by line, and nothing
//! that happens after a line reaches anyone before it.

use std::sync::atomic::{AtomicU64, Ordering};

use super::*;
use crate::protocol::LeaveReason;
use crate::server::room::ClientId;

fn room(capacity: usize) -> Room {
    Room::new(id(7), "127.0.0.1:1".into(), capacity)
}

/// Says `lines` (room, text) as `reg` in one burst, as a session does,
/// each with a client id that asks for an `ack`, then ends the burst.
fn burst(room: &Room, reg: &Registration, lines: &[(&str, &str)]) {
    // Client ids unique across bursts: a repeated one is a resend.
    static NEXT_CID: AtomicU64 = AtomicU64::new(1);
    let cids = lines.iter().map(|_| {
        Some(ClientId {
            cid: NEXT_CID.fetch_add(1, Ordering::Relaxed),
            ack: true,
        })
    });
    burst_with(room, reg, lines, cids);
}

/// As [`burst`], without client ids (nothing acknowledged).
fn burst_unacked(room: &Room, reg: &Registration, lines: &[(&str, &str)]) {
    burst_with(room, reg, lines, lines.iter().map(|_| None));
}

fn burst_with(
    room: &Room,
    reg: &Registration,
    lines: &[(&str, &str)],
    cids: impl Iterator<Item = Option<ClientId>>,
) {
    let mut wakes = Wakes::default();
    for ((to, text), cid) in lines.iter().zip(cids) {
        room.say_then_wake(reg.id, line(to, text), cid, &mut wakes)
            .unwrap();
    }
    room.end_burst(&mut wakes);
}

/// The queue's entries for `reg`, each as the frames it holds.
fn entries(reg: &mut Registration) -> Vec<Vec<ServerMsg>> {
    std::iter::from_fn(|| reg.outbound.try_recv().ok())
        .map(|entry| frames_in(&entry).map(|b| decode(b).unwrap()).collect())
        .collect()
}

/// Ann, Bob and Cat, joined, their frames so far read.
fn members(room: &Room) -> [Registration; 3] {
    ["Ann", "Bob", "Cat"].map(|name| member(room, name))
}

/// `msgs` end with `who` leaving for being too slow.
fn assert_ends_with_eviction_of(msgs: &[ServerMsg], who: &str) {
    assert!(
        matches!(msgs.last(), Some(ServerMsg::Left { name, reason: LeaveReason::TooSlow, .. }) if name == who),
        "the lines, then {who}'s eviction: {msgs:?}"
    );
}

fn texts(msgs: &[ServerMsg]) -> Vec<String> {
    said(msgs).into_iter().map(|(_, text)| text).collect()
}

#[test]
fn a_burst_reaches_each_other_member_as_one_entry_and_the_sender_with_its_acks() {
    let room = room(64);
    let [mut ann, mut bob, mut cat] = members(&room);
    drain_all(&mut [&mut ann, &mut bob, &mut cat]);
    burst(
        &room,
        &ann,
        &[("#lobby", "one"), ("#lobby", "two"), ("#lobby", "three")],
    );
    for other in [&mut bob, &mut cat] {
        let got = entries(other);
        assert_eq!(got.len(), 1, "one entry: {got:?}");
        assert_eq!(texts(&got[0]), ["one", "two", "three"]);
    }
    // The sender: each line, then its ack, as without runs (a slice of
    // the run per line, each followed by its ack).
    let own = entries(&mut ann);
    assert_eq!(own.len(), 6, "{own:?}");
    let own: Vec<ServerMsg> = own.into_iter().flatten().collect();
    let kinds: Vec<&str> = own
        .iter()
        .map(|m| match m {
            ServerMsg::Message { text, .. } => text.as_str(),
            ServerMsg::Ack { .. } => "ack",
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(kinds, ["one", "ack", "two", "ack", "three", "ack"]);
}

#[test]
fn an_unacknowledged_burst_reaches_its_sender_as_one_entry_too() {
    let room = room(64);
    let [mut ann, mut bob, mut cat] = members(&room);
    drain_all(&mut [&mut ann, &mut bob, &mut cat]);
    burst_unacked(&room, &ann, &[("#lobby", "one"), ("#lobby", "two")]);
    for reg in [&mut ann, &mut bob, &mut cat] {
        let got = entries(reg);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(texts(&got[0]), ["one", "two"]);
    }
}

#[test]
fn a_resend_in_a_burst_is_acknowledged_after_the_lines_before_it() {
    let room = room(64);
    let [mut ann, mut bob, mut cat] = members(&room);
    drain_all(&mut [&mut ann, &mut bob, &mut cat]);
    let acked = |cid| Some(ClientId { cid, ack: true });
    let mut wakes = Wakes::default();
    let first = room
        .say_then_wake(ann.id, line("#lobby", "one"), acked(901), &mut wakes)
        .unwrap();
    room.say_then_wake(ann.id, line("#lobby", "two"), None, &mut wakes)
        .unwrap();
    // The resend of "one" is only acknowledged, with its original id.
    let again = room
        .say_then_wake(ann.id, line("#lobby", "one"), acked(901), &mut wakes)
        .unwrap();
    room.end_burst(&mut wakes);
    assert_eq!(first, again);
    let own: Vec<String> = drain(&mut ann)
        .iter()
        .map(|m| match m {
            ServerMsg::Message { text, .. } => text.clone(),
            ServerMsg::Ack { id, .. } => format!("ack {}", id.seq),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    let ack = format!("ack {}", first.seq);
    assert_eq!(own, ["one", ack.as_str(), "two", ack.as_str()]);
    assert_eq!(texts(&drain(&mut bob)), ["one", "two"]);
}

#[test]
fn a_sender_that_reads_nothing_is_evicted_after_the_others_hear_its_lines() {
    let room = room(8);
    let [mut ann, mut bob, mut cat] = members(&room);
    drain_all(&mut [&mut ann, &mut bob, &mut cat]);
    // Ann reads nothing from here: her own copies of ten lines do not fit
    // her queue of eight. Bob and Cat read each burst.
    let lines: Vec<String> = (0..10).map(|n| format!("line {n}")).collect();
    let lines: Vec<(&str, &str)> = lines.iter().map(|t| ("#lobby", t.as_str())).collect();
    burst_unacked(&room, &ann, &lines[..5]);
    for reg in [&mut bob, &mut cat] {
        assert_eq!(
            texts(&drain(reg)),
            ["line 0", "line 1", "line 2", "line 3", "line 4"]
        );
    }
    assert!(!ann.outbound.is_evicted());
    burst_unacked(&room, &ann, &lines[5..]);
    for reg in [&mut bob, &mut cat] {
        let got = drain(reg);
        assert_eq!(
            texts(&got),
            ["line 5", "line 6", "line 7", "line 8", "line 9"]
        );
        assert_ends_with_eviction_of(&got, "Ann");
    }
    assert!(ann.outbound.is_evicted());
}

#[test]
fn another_member_s_line_comes_after_the_run() {
    let room = room(64);
    let [mut ann, mut bob, mut cat] = members(&room);
    // Ann's burst is still open (its session has not ended it) when
    // Bob's line comes.
    let mut wakes = Wakes::default();
    for text in ["a1", "a2"] {
        room.say_then_wake(ann.id, line("#lobby", text), None, &mut wakes)
            .unwrap();
    }
    say_in(&room, &bob, "#lobby", "b1").unwrap();
    room.end_burst(&mut wakes);
    for reg in [&mut ann, &mut bob, &mut cat] {
        assert_eq!(texts(&drain(reg)), ["a1", "a2", "b1"]);
    }
}

#[test]
fn whatever_happens_next_comes_after_the_run_and_a_newcomer_is_not_sent_it_live() {
    let room = room(64);
    let (mut ann, mut bob) = (member(&room, "Ann"), member(&room, "Bob"));
    let mut wakes = Wakes::default();
    room.say_then_wake(ann.id, line("#lobby", "before Dan"), None, &mut wakes)
        .unwrap();
    // A join takes the lock while Ann's run is open.
    let mut dan = room.register();
    room.join(dan.id, "Dan").unwrap();
    room.end_burst(&mut wakes);
    let to_bob = drain(&mut bob);
    let line_at = to_bob
        .iter()
        .position(|m| matches!(m, ServerMsg::Message { text, .. } if text == "before Dan"));
    let join_at = to_bob
        .iter()
        .position(|m| matches!(m, ServerMsg::Joined { name, .. } if name == "Dan"));
    assert!(line_at < join_at && line_at.is_some(), "{to_bob:?}");
    assert!(
        texts(&drain(&mut dan)).is_empty(),
        "Dan joined after the line: it is not shown to him live"
    );
    drain(&mut ann);
}

#[test]
fn lines_to_two_rooms_keep_their_order() {
    let room = room(64);
    let (mut ann, mut bob) = (member(&room, "Ann"), member(&room, "Bob"));
    for reg in [&ann, &bob] {
        room.enter(reg.id, "#dev").unwrap();
    }
    drain_all(&mut [&mut ann, &mut bob]);
    burst(
        &room,
        &ann,
        &[("#dev", "d1"), ("#lobby", "l1"), ("#dev", "d2")],
    );
    let got = drain(&mut bob);
    let got: Vec<(String, String)> = said(&got);
    assert_eq!(
        got,
        [
            ("#dev".to_string(), "d1".to_string()),
            ("#lobby".into(), "l1".into()),
            ("#dev".into(), "d2".into())
        ]
    );
}

#[test]
fn a_run_counts_as_its_lines_in_the_queue_bound_and_an_eviction_follows_the_lines() {
    let room = room(8);
    let [mut ann, bob, mut cat] = members(&room);
    // Bob reads nothing: four lines wait in his queue.
    for n in 0..4 {
        burst_unacked(&room, &ann, &[("#lobby", &format!("early {n}"))]);
    }
    drain_all(&mut [&mut ann, &mut cat]);
    // Five more, one entry: 4 + 5 lines > 8, so Bob is too slow, though
    // his queue holds five entries only.
    let lines: Vec<String> = (0..5).map(|n| format!("late {n}")).collect();
    let lines: Vec<(&str, &str)> = lines.iter().map(|t| ("#lobby", t.as_str())).collect();
    burst_unacked(&room, &ann, &lines);
    let to_cat = drain(&mut cat);
    assert_eq!(
        texts(&to_cat),
        ["late 0", "late 1", "late 2", "late 3", "late 4"]
    );
    assert_ends_with_eviction_of(&to_cat, "Bob");
    assert!(bob.outbound.is_evicted());
}

#[test]
fn a_long_burst_is_cut_into_runs_of_at_most_a_write() {
    let room = room(1024);
    let (ann, mut bob) = (member(&room, "Ann"), member(&room, "Bob"));
    let text = "x".repeat(900);
    let lines: Vec<(&str, &str)> = (0..200).map(|_| ("#lobby", text.as_str())).collect();
    burst(&room, &ann, &lines);
    let got = entries(&mut bob);
    assert_eq!(got.iter().map(Vec::len).sum::<usize>(), 200);
    assert!(got.len() > 1, "one entry of {} lines", got[0].len());
    assert!(got.len() <= 4, "{} entries", got.len());
}

#[test]
fn alone_in_the_room_the_sender_hears_its_line_and_no_run_waits() {
    let room = room(64);
    let mut ann = member(&room, "Ann");
    let mut wakes = Wakes::default();
    room.say_then_wake(ann.id, line("#lobby", "hello?"), None, &mut wakes)
        .unwrap();
    assert_eq!(texts(&drain(&mut ann)), ["hello?"]);
    // Bob joins before Ann's burst ends: the line is not his.
    let mut bob = room.register();
    room.join(bob.id, "Bob").unwrap();
    room.end_burst(&mut wakes);
    assert!(texts(&drain(&mut bob)).is_empty());
}

/// Line `seq` of Leo on server 9, to the lobby.
fn relayed(seq: u64, text: &str) -> crate::relay::Delivery {
    relayed_from(9, "Leo", seq, "#lobby", text)
}

fn relayed_from(server: u8, from: &str, seq: u64, to: &str, text: &str) -> crate::relay::Delivery {
    event(
        id(server),
        seq,
        crate::relay::ChatEvent::Message {
            from: from.into(),
            room: to.into(),
            text: text.into(),
            action: false,
            cid: 0,
        },
    )
}

#[test]
fn relayed_lines_applied_together_reach_each_local_member_as_one_entry() {
    let room = room(64);
    let mut regs = members(&room);
    let next = remote_member(&room, id(9), "Leo", &[]) + 1;
    drain_all(&mut regs.each_mut());
    room.apply_all((0..3).map(|n| relayed(next + n, &format!("line {n}"))));
    for reg in &mut regs {
        let got = entries(reg);
        assert_eq!(got.len(), 1, "one entry: {got:?}");
        assert_eq!(texts(&got[0]), ["line 0", "line 1", "line 2"]);
    }
}

#[test]
fn an_event_among_relayed_lines_keeps_its_place_for_everyone() {
    let room = room(64);
    let [mut ann, mut bob, _cat] = members(&room);
    let next = remote_member(&room, id(9), "Leo", &[]) + 1;
    remote_member(&room, id(8), "Max", &[]);
    drain_all(&mut [&mut ann, &mut bob]);
    room.apply_all([
        relayed(next, "before"),
        relayed_from(8, "Max", 3, "#lobby", "Max's"),
        event(
            id(9),
            next + 1,
            crate::relay::ChatEvent::Joined { name: "Zed".into() },
        ),
        relayed(next + 2, "after"),
    ]);
    for reg in [&mut ann, &mut bob] {
        let got = entries(reg);
        // Two origins' lines in one entry; the join seals it.
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(texts(&got[0]), ["before", "Max's"]);
        assert!(
            matches!(&got[1][..], [ServerMsg::Joined { name, .. }] if name == "Zed"),
            "{got:?}"
        );
        assert_eq!(texts(&got[2]), ["after"]);
    }
}

#[test]
fn relayed_lines_to_two_rooms_keep_their_order_and_reach_only_members() {
    let room = room(64);
    let [mut ann, mut bob, _cat] = members(&room);
    room.enter(ann.id, "#rust").unwrap();
    let next = remote_member(&room, id(9), "Leo", &["#rust"]) + 1;
    drain_all(&mut [&mut ann, &mut bob]);
    room.apply_all([
        relayed(next, "lobby 1"),
        relayed_from(9, "Leo", next + 1, "#rust", "rust 1"),
        relayed(next + 2, "lobby 2"),
    ]);
    let to_ann: Vec<ServerMsg> = entries(&mut ann).into_iter().flatten().collect();
    assert_eq!(
        said(&to_ann),
        [
            ("#lobby".into(), "lobby 1".into()),
            ("#rust".into(), "rust 1".into()),
            ("#lobby".into(), "lobby 2".into())
        ]
    );
    let to_bob: Vec<ServerMsg> = entries(&mut bob).into_iter().flatten().collect();
    assert_eq!(texts(&to_bob), ["lobby 1", "lobby 2"]);
}

#[test]
fn a_relayed_batch_past_a_member_bound_evicts_it_after_the_lines_others_heard() {
    let room = room(8);
    let [mut ann, mut bob, _cat] = members(&room);
    let next = remote_member(&room, id(9), "Leo", &[]) + 1;
    drain_all(&mut [&mut ann, &mut bob]);
    // Bob's queue holds five already; Ann reads hers.
    room.apply_all((0..5).map(|n| relayed(next + n, &format!("early {n}"))));
    entries(&mut ann);
    room.apply_all((5..9).map(|n| relayed(next + n, &format!("late {n}"))));
    let to_ann: Vec<ServerMsg> = entries(&mut ann).into_iter().flatten().collect();
    assert_eq!(texts(&to_ann), ["late 5", "late 6", "late 7", "late 8"]);
    assert!(
        matches!(to_ann.last(), Some(ServerMsg::Left { name, reason: LeaveReason::TooSlow, .. }) if name == "Bob"),
        "the lines, then Bob's eviction: {to_ann:?}"
    );
    assert!(bob.outbound.is_evicted());
}
