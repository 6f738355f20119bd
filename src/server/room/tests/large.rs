//! Large rooms: joins and leaves of others are not shown, lists are paged,
//! and crossing the limit either way refreshes every member's view.

use super::*;
use crate::protocol::LeaveReason;
use crate::protocol::RoomState as RoomView;
use crate::relay::ChatEvent;

/// A chat whose rooms are large above `limit` members.
fn chat(limit: usize) -> Room {
    room(4096).with_large_room(limit)
}

fn joined_names(msgs: &[ServerMsg]) -> Vec<String> {
    msgs.iter()
        .filter_map(|m| match m {
            ServerMsg::Joined { name, .. } => Some(name.clone()),
            _ => None,
        })
        .collect()
}

fn left_names(msgs: &[ServerMsg]) -> Vec<String> {
    msgs.iter()
        .filter_map(|m| match m {
            ServerMsg::Left { name, .. } => Some(name.clone()),
            _ => None,
        })
        .collect()
}

fn views(msgs: &[ServerMsg]) -> Vec<RoomView> {
    msgs.iter()
        .filter_map(|m| match m {
            ServerMsg::RoomState(v) => Some(v.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn crossing_the_limit_refreshes_members_and_hides_joins() {
    let room = chat(3);
    let mut a = member(&room, "Ann");
    let mut b = member(&room, "Bob");
    let mut c = member(&room, "Cid");
    assert_eq!(joined_names(&drain(&mut a)), ["Bob", "Cid"]);
    drain_all(&mut [&mut b, &mut c]);

    // The fourth member makes #lobby large.
    let mut d = room.register();
    room.join(d.id, "Dan").unwrap();
    let got = drain(&mut d);
    let ServerMsg::Welcome { members, rooms, .. } = &got[0] else {
        panic!("welcome first: {got:?}");
    };
    assert!(members.is_empty(), "a large #lobby is not listed");
    assert_eq!(rooms[0].count, Some(4));
    assert!(rooms[0].members.is_empty());
    assert_eq!(joined_names(&got), ["Dan"], "its own join still confirms");
    for reg in [&mut a, &mut b, &mut c] {
        let got = drain(reg);
        assert!(
            joined_names(&got).is_empty(),
            "Dan's join not shown: {got:?}"
        );
        let v = views(&got);
        assert_eq!(v.len(), 1, "one refresh: {got:?}");
        assert_eq!((v[0].room.as_str(), v[0].count), (LOBBY, Some(4)));
        assert!(v[0].members.is_empty());
    }

    // Joins, messages and leaves while large.
    let mut e = member(&room, "Eve");
    assert!(drain(&mut a).is_empty());
    say_in(&room, &e, LOBBY, "hi all").unwrap();
    assert_eq!(said(&drain(&mut a)), [(LOBBY.into(), "hi all".into())]);
    room.leave(e.id, LeaveReason::Leave, None).unwrap();
    assert_eq!(
        left_names(&drain(&mut e)),
        ["Eve"],
        "its own leave confirms"
    );
    assert!(drain(&mut a).is_empty(), "Eve's leave not shown");

    // Still large at 3 (above half the limit); small again at 1.
    room.unregister(d.id, LeaveReason::Disconnected);
    assert!(drain(&mut a).is_empty());
    room.unregister(c.id, LeaveReason::Disconnected);
    assert!(drain(&mut a).is_empty(), "2 > 3 / 2: still large");
    room.unregister(b.id, LeaveReason::Disconnected);
    let v = views(&drain(&mut a));
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].count, None);
    assert_eq!(v[0].members.len(), 1, "listed again: {v:?}");
    let mut f = member(&room, "Fay");
    assert_eq!(joined_names(&drain(&mut a)), ["Fay"], "joins shown again");
    drain(&mut f);
}

#[test]
fn remote_joins_and_a_lost_server_are_not_shown_in_a_large_room() {
    let room = chat(2);
    let mut a = member(&room, "Ann");
    let origin = id(9);
    for (n, name) in ["Rem1", "Rem2", "Rem3"].iter().enumerate() {
        room.apply(event(
            origin,
            n as u64 + 1,
            ChatEvent::Joined {
                name: (*name).into(),
            },
        ));
    }
    let got = drain(&mut a);
    // Rem1 is shown (2 members); Rem2 makes it large (3 > 2).
    assert_eq!(joined_names(&got), ["Rem1"], "{got:?}");
    assert_eq!(views(&got).len(), 1);
    room.apply(crate::relay::Delivery::OriginGone {
        origin,
        graceful: false,
    });
    let got = drain(&mut a);
    assert!(
        left_names(&got).is_empty(),
        "no left in a large room: {got:?}"
    );
    // Ann alone again: small, with a fresh list.
    let v = views(&got);
    assert_eq!(v.len(), 1, "{got:?}");
    assert_eq!(v[0].members.len(), 1);
}

#[test]
fn who_pages_through_a_large_room() {
    let room = chat(100);
    let total = WHO_PAGE + 20;
    let regs: Vec<Registration> = (0..total)
        .map(|i| member(&room, &format!("m{i:04}")))
        .collect();
    let mut names = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let ServerMsg::WhoReply {
            members,
            count,
            next,
            ..
        } = room.who_page(LOBBY, after.as_deref()).unwrap()
        else {
            panic!("who_reply");
        };
        pages += 1;
        assert_eq!(count, Some(total as u32));
        assert!(members.len() <= WHO_PAGE);
        names.extend(members.into_iter().map(|m| m.name));
        match next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(pages, 2);
    let expected: Vec<String> = (0..total).map(|i| format!("m{i:04}")).collect();
    assert_eq!(names, expected, "every member once, in order");
    drop(regs);
}

#[test]
fn a_small_room_is_listed_whole_as_before() {
    let room = chat(100);
    let _a = member(&room, "Ann");
    let _b = member(&room, "Bob");
    let ServerMsg::WhoReply {
        members,
        count,
        next,
        ..
    } = room.who(LOBBY).unwrap()
    else {
        panic!("who_reply");
    };
    assert_eq!(members.len(), 2);
    assert_eq!((count, next), (None, None));
}

#[test]
fn no_limit_means_never_large() {
    let room = chat(0);
    let mut a = member(&room, "Ann");
    let _rest: Vec<Registration> = (0..50).map(|i| member(&room, &format!("m{i}"))).collect();
    let got = drain(&mut a);
    assert_eq!(joined_names(&got).len(), 50);
    assert!(views(&got).is_empty());
}

#[test]
fn a_join_storm_sends_each_member_a_bounded_number_of_frames() {
    // 1,000 joins into a room large above 50: the early members hear at
    // most the joins before it became large, and one refresh.
    let room = chat(50);
    let mut first = member(&room, "first");
    let mut regs = Vec::new();
    for i in 0..1000 {
        regs.push(member(&room, &format!("j{i}")));
    }
    let got = drain(&mut first);
    assert!(got.len() <= 52, "{} frames", got.len());
    for reg in &mut regs {
        assert!(drain(reg).len() <= 52);
    }
}

fn counts(msgs: &[ServerMsg]) -> Vec<(String, u32)> {
    msgs.iter()
        .filter_map(|m| match m {
            ServerMsg::RoomCount { room, count } => Some((room.clone(), *count)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_join_storm_costs_each_member_one_count_per_tick() {
    let room = chat(3);
    let mut a = member(&room, "Ann");
    let mut old = join_v1(&room, "Old");
    let _b = member(&room, "Bob");
    let _c = member(&room, "Cid");
    drain_all(&mut [&mut a, &mut old]);
    // 500 joins: nothing for Ann until the tick, then one frame.
    let storm: Vec<Registration> = (0..500).map(|i| member(&room, &format!("s{i}"))).collect();
    assert!(drain(&mut a).is_empty(), "no frame per join");
    room.publish_counts();
    assert_eq!(counts(&drain(&mut a)), [(LOBBY.to_string(), 504)]);
    assert!(drain(&mut old).is_empty(), "a version-1 member gets none");
    // No change, no frame; a leave and a join in one tick: the count again.
    room.publish_counts();
    assert!(drain(&mut a).is_empty(), "unchanged: nothing sent");
    room.unregister(storm[0].id, LeaveReason::Disconnected);
    let _late = member(&room, "late");
    room.publish_counts();
    assert_eq!(counts(&drain(&mut a)), [(LOBBY.to_string(), 504)]);
    room.unregister(storm[1].id, LeaveReason::Disconnected);
    room.publish_counts();
    assert_eq!(counts(&drain(&mut a)), [(LOBBY.to_string(), 503)]);
    // The storm's members were told too, once each.
    let mut last = storm.into_iter().last().unwrap();
    assert_eq!(counts(&drain(&mut last)).len(), 3);
}

#[test]
fn remote_members_and_a_lost_server_change_the_count() {
    let room = chat(2);
    let mut a = member(&room, "Ann");
    let origin = id(9);
    for n in 1..=5 {
        room.apply(event(
            origin,
            n,
            ChatEvent::Joined {
                name: format!("Rem{n}"),
            },
        ));
    }
    drain(&mut a);
    room.publish_counts();
    assert_eq!(counts(&drain(&mut a)), [(LOBBY.to_string(), 6)]);
    room.apply(crate::relay::Delivery::OriginGone {
        origin,
        graceful: false,
    });
    room.publish_counts();
    let got = drain(&mut a);
    assert!(
        counts(&got).is_empty(),
        "small again: its room_state says so, no count follows: {got:?}"
    );
    assert_eq!(views(&got).len(), 1);
}

#[test]
fn a_small_room_and_a_named_room_get_counts_of_their_own() {
    let room = chat(3);
    let mut a = member(&room, "Ann");
    let mut b = member(&room, "Bob");
    room.enter(a.id, "#dev").unwrap();
    room.enter(b.id, "#dev").unwrap();
    drain_all(&mut [&mut a, &mut b]);
    room.publish_counts();
    assert!(drain(&mut a).is_empty(), "small rooms: no counts");
    let regs: Vec<Registration> = (0..3)
        .map(|i| {
            let reg = member(&room, &format!("d{i}"));
            room.enter(reg.id, "#dev").unwrap();
            reg
        })
        .collect();
    drain_all(&mut [&mut a, &mut b]);
    room.publish_counts();
    let mut got = counts(&drain(&mut a));
    got.sort();
    assert_eq!(got, [("#dev".to_string(), 5), (LOBBY.to_string(), 5)]);
    drop(regs);
}
