//! Nick changes: atomic, unique cluster-wide, seen by whoever shares a
//! room, and the same-moment rule in every order the claims can arrive.

use super::*;
use crate::protocol::ErrorCode;
use crate::relay::{ChatEvent, Delivery};

fn room_at(me: u8) -> Room {
    Room::new(id(me), "127.0.0.1:1".into(), 256)
}

fn nick(old: &str, new: &str) -> ChatEvent {
    ChatEvent::Nick {
        old: old.into(),
        new: new.into(),
    }
}

fn joined(name: &str) -> ChatEvent {
    ChatEvent::Joined { name: name.into() }
}

/// Who holds `name` here, if anyone.
fn holder(room: &Room, name: &str) -> Option<ServerId> {
    match room.whois(name) {
        Ok(ServerMsg::WhoisReply { server, .. }) => Some(server),
        _ => None,
    }
}

fn nicks(msgs: &[ServerMsg]) -> Vec<(String, String)> {
    msgs.iter()
        .filter_map(|m| match m {
            ServerMsg::Nick { old, new, .. } => Some((old.clone(), new.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_nick_change_is_atomic_and_seen_by_everyone_sharing_a_room() {
    let room = room_at(5);
    let (mut leo, mut ann, mut far) = (
        member(&room, "Leo"),
        member(&room, "Ann"),
        member(&room, "Far"),
    );
    room.enter(leo.id, "#dev").unwrap();
    room.enter(ann.id, "#dev").unwrap();
    room.part(far.id, LOBBY, None).unwrap();
    room.enter(far.id, "#elsewhere").unwrap();
    drain_all(&mut [&mut leo, &mut ann, &mut far]);
    assert_eq!(room.nick(leo.id, "Leonardo"), Ok(true));
    let change = [("Leo".to_string(), "Leonardo".to_string())];
    assert_eq!(nicks(&drain(&mut leo)), change, "the member itself");
    assert_eq!(
        nicks(&drain(&mut ann)),
        change,
        "once, though two rooms are shared"
    );
    assert!(drain(&mut far).is_empty(), "shares no room");
    // The old name is free at once, the new one held.
    let mut newcomer = room.register();
    room.join(newcomer.id, "leo").unwrap();
    drain(&mut newcomer);
    assert_eq!(holder(&room, "leonardo"), Some(id(5)));
    let ServerMsg::WhoReply { members, .. } = room.who("#dev").unwrap() else {
        unreachable!()
    };
    assert_eq!(
        members.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
        ["Ann", "Leonardo"]
    );
}

#[test]
fn a_held_or_look_alike_name_is_refused() {
    let room = room_at(5);
    let (leo, mut ann) = (member(&room, "Leo"), member(&room, "Ann"));
    room.apply(event(id(9), 1, joined("Max")));
    drain(&mut ann);
    for taken in ["Max", "MAX", "\u{ff2d}ax", "Le0", "L\u{435}o"] {
        assert_eq!(
            room.nick(ann.id, taken),
            Err(RoomError::NameTaken(taken.into())),
            "{taken}"
        );
    }
    assert!(drain(&mut ann).is_empty(), "nothing happened");
    assert_eq!(
        room.nick(leo.id, "Leo"),
        Ok(false),
        "the same name: no change"
    );
    assert_eq!(
        room.nick(leo.id, "LEO"),
        Ok(true),
        "a new spelling of one's own name"
    );
    assert!(matches!(
        room.nick(room.register().id, "Zoe"),
        Err(RoomError::NotJoined)
    ));
}

#[test]
fn our_nick_wins_against_a_larger_server_id_in_either_order() {
    // We are 5. Ann becomes Leo here while Bob becomes Leo on 9.
    for ours_first in [true, false] {
        let room = room_at(5);
        let (mut ann, mut watcher) = (member(&room, "Ann"), member(&room, "Watcher"));
        room.apply(event(id(9), 1, joined("Bob")));
        drain_all(&mut [&mut ann, &mut watcher]);
        if ours_first {
            room.nick(ann.id, "Leo").unwrap();
            room.apply(event(id(9), 2, nick("Bob", "Leo")));
        } else {
            // Server 9's claim is already here when Ann asks: refused.
            room.apply(event(id(9), 2, nick("Bob", "Leo")));
            assert_eq!(
                room.nick(ann.id, "Leo"),
                Err(RoomError::NameTaken("Leo".into()))
            );
            room.apply(event(id(9), 3, nick("Leo", "Bob")));
            continue;
        }
        assert_eq!(holder(&room, "Leo"), Some(id(5)));
        assert_eq!(
            holder(&room, "Bob"),
            Some(id(9)),
            "the losing nick is not shown"
        );
        assert_eq!(nicks(&drain(&mut watcher)), [("Ann".into(), "Leo".into())]);
        // Server 9 turns its member back: nothing to show, it never moved.
        room.apply(event(id(9), 3, nick("Leo", "Bob")));
        assert!(drain(&mut watcher).is_empty());
        assert_eq!(holder(&room, "Bob"), Some(id(9)));
        // Had it let the member go instead, the alias finds it.
        room.apply(event(id(9), 4, nick("Bob", "Leo")));
        room.apply(event(
            id(9),
            5,
            ChatEvent::Left {
                name: "Leo".into(),
                reason: LeaveReason::NameConflict,
                text: None,
            },
        ));
        assert_eq!(holder(&room, "Bob"), None);
        assert_eq!(holder(&room, "Leo"), Some(id(5)));
    }
}

#[test]
fn our_nick_loses_to_a_smaller_server_id_and_turns_back() {
    let room = room_at(5);
    let (mut ann, mut watcher) = (member(&room, "Ann"), member(&room, "Watcher"));
    room.apply(event(id(2), 1, joined("Bob")));
    room.nick(ann.id, "Leo").unwrap();
    drain_all(&mut [&mut ann, &mut watcher]);
    room.apply(event(id(2), 2, nick("Bob", "Leo")));
    let to_ann = drain(&mut ann);
    assert!(
        matches!(&to_ann[0], ServerMsg::Error { code, fatal: false, .. } if *code == ErrorCode::NAME_TAKEN)
    );
    let back = [
        ("Leo".to_string(), "Ann".to_string()),
        ("Bob".into(), "Leo".into()),
    ];
    assert_eq!(nicks(&to_ann), back);
    assert_eq!(nicks(&drain(&mut watcher)), back);
    assert_eq!(
        (holder(&room, "Leo"), holder(&room, "Ann")),
        (Some(id(2)), Some(id(5)))
    );
    assert_eq!(holder(&room, "Bob"), None);
}

#[test]
fn a_lost_nick_whose_old_name_was_taken_drops_the_member() {
    let room = room_at(5);
    let (mut ann, mut watcher) = (member(&room, "Ann"), member(&room, "Watcher"));
    room.nick(ann.id, "Leo").unwrap();
    room.apply(event(id(7), 1, joined("Ann"))); // took the freed name
    room.apply(event(id(2), 1, joined("Bob")));
    drain_all(&mut [&mut ann, &mut watcher]);
    room.apply(event(id(2), 2, nick("Bob", "Leo")));
    assert!(drain(&mut ann)
        .iter()
        .any(|m| matches!(m, ServerMsg::Error { code, .. } if *code == ErrorCode::NAME_TAKEN)));
    assert!(drain(&mut watcher).iter().any(|m| matches!(
        m,
        ServerMsg::Left { name, reason: LeaveReason::NameConflict, server, .. } if name == "Leo" && *server == id(5)
    )));
    assert!(matches!(
        room.say(ann.id, "still here?".into()),
        Err(RoomError::NotJoined)
    ));
    assert_eq!(
        (holder(&room, "Leo"), holder(&room, "Ann")),
        (Some(id(2)), Some(id(7)))
    );
}

#[test]
fn third_parties_agree_whatever_order_two_nick_claims_arrive_in() {
    // We are 5; servers 2 and 9 each turn a member into Leo at once.
    for order in [[2u8, 9], [9, 2]] {
        let room = room_at(5);
        let mut watcher = member(&room, "Watcher");
        room.apply(event(id(2), 1, joined("Ann")));
        room.apply(event(id(9), 1, joined("Bob")));
        for origin in order {
            let old = if origin == 2 { "Ann" } else { "Bob" };
            room.apply(event(id(origin), 2, nick(old, "Leo")));
        }
        // 9 loses: it turns Bob back (or drops him). Both are seen right.
        room.apply(event(id(9), 3, nick("Leo", "Bob")));
        assert_eq!(holder(&room, "Leo"), Some(id(2)), "order {order:?}");
        assert_eq!(holder(&room, "Bob"), Some(id(9)), "order {order:?}");
        assert_eq!(holder(&room, "Ann"), None, "order {order:?}");
        let ServerMsg::WhoReply { members, .. } = room.who(LOBBY).unwrap() else {
            unreachable!()
        };
        let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["Bob", "Leo", "Watcher"], "order {order:?}");
        drain(&mut watcher);
        room.apply(event(
            id(9),
            4,
            ChatEvent::Left {
                name: "Bob".into(),
                reason: LeaveReason::Leave,
                text: None,
            },
        ));
        assert_eq!(holder(&room, "Bob"), None);
    }
}

#[test]
fn a_join_and_a_nick_to_one_name_at_once() {
    // 2 joins Leo while 9 renames Bob to Leo; and the other way round.
    for (joiner, renamer) in [(2u8, 9u8), (9, 2)] {
        for join_first in [true, false] {
            let room = room_at(5);
            room.apply(event(id(renamer), 1, joined("Bob")));
            let join = event(id(joiner), 1, joined("Leo"));
            let rename = event(id(renamer), 2, nick("Bob", "Leo"));
            if join_first {
                room.apply(join);
                room.apply(rename);
            } else {
                room.apply(rename);
                room.apply(join);
            }
            let winner = id(joiner.min(renamer));
            assert_eq!(
                holder(&room, "Leo"),
                Some(winner),
                "{joiner} {renamer} {join_first}"
            );
            if renamer > joiner {
                // The renamer lost: its member is Bob again (here already).
                assert_eq!(holder(&room, "Bob"), Some(id(renamer)));
            }
        }
    }
}

#[test]
fn a_snapshot_member_under_a_lost_nick_is_kept_by_its_alias() {
    let room = room_at(5);
    let ann = member(&room, "Ann");
    room.apply(event(id(9), 1, joined("Bob")));
    room.nick(ann.id, "Leo").unwrap();
    room.apply(event(id(9), 2, nick("Bob", "Leo"))); // loses: Bob is still Bob here
                                                     // An overrun: server 9's snapshot still lists its member as Leo.
    room.apply(Delivery::Resynced {
        origin: id(9),
        members: vec![crate::relay::SnapshotMember {
            name: "Leo".into(),
            rooms: vec![LOBBY.into()],
        }],
        topics: vec![],
    });
    assert_eq!(holder(&room, "Bob"), Some(id(9)));
    assert_eq!(holder(&room, "Leo"), Some(id(5)));
}

/// A rejoin's `last_seen` is the client's own word, so it buys no right to
/// a name: here it claims to have seen everything server 2 will ever say,
/// and server 2's same-moment claim (the smaller id) still wins, as it
/// does on every other server. Trusting it once let one server keep the
/// name for the rejoiner while the rest showed server 2's member: two
/// people under one name for as long as both stayed.
#[test]
fn a_rejoin_s_last_seen_does_not_keep_a_name_against_the_smaller_id() {
    let room = room_at(5);
    let mut watcher = member(&room, "Watcher");
    let mut leo = room.register();
    let everything = [MessageId {
        origin: id(2),
        seq: u64::MAX,
    }];
    room.rejoin(leo.id, "Leo", &everything).unwrap();
    drain_all(&mut [&mut leo, &mut watcher]);
    room.apply(event(id(2), 7, joined("Leo")));
    assert_eq!(holder(&room, "Leo"), Some(id(2)), "the smaller id wins");
    assert!(drain(&mut leo).iter().any(|m| matches!(
        m,
        ServerMsg::Error { code, .. } if *code == ErrorCode::NAME_TAKEN
    )));
}
