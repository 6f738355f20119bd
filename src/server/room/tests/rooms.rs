//! Rooms: entering, parting, isolation, the cap, names by key, history,
//! and the questions about them.

use super::*;
use crate::relay::{ChatEvent, Delivery};

fn room() -> Room {
    Room::new(id(5), "127.0.0.1:1".into(), 256)
}

#[test]
fn a_room_message_reaches_its_members_and_nobody_else() {
    let room = room();
    let (mut ann, mut bob, mut cat) = (
        member(&room, "Ann"),
        member(&room, "Bob"),
        member(&room, "Cat"),
    );
    room.enter(ann.id, "#dev").unwrap();
    room.enter(bob.id, "#dev").unwrap();
    drain_all(&mut [&mut ann, &mut bob, &mut cat]);
    say_in(&room, &ann, "#dev", "ship it").unwrap();
    say_in(&room, &cat, "#lobby", "lunch?").unwrap();
    let lobby_and_dev = [
        ("#dev".to_string(), "ship it".to_string()),
        ("#lobby".into(), "lunch?".into()),
    ];
    assert_eq!(said(&drain(&mut ann)), lobby_and_dev);
    assert_eq!(said(&drain(&mut bob)), lobby_and_dev);
    assert_eq!(
        said(&drain(&mut cat)),
        [("#lobby".to_string(), "lunch?".to_string())]
    );
    assert_eq!(
        say_in(&room, &cat, "#dev", "let me in"),
        Err(RoomError::NotInRoom("#dev".into()))
    );
    assert_eq!(
        say_in(&room, &cat, "no hash", "x"),
        Err(RoomError::RoomInvalid("a room name starts with #".into()))
    );
    assert!(
        drain(&mut ann).is_empty(),
        "a refused line is shown to nobody"
    );
}

#[test]
fn entering_shows_the_room_then_its_history_then_joined_to_everyone() {
    let room = room().with_history(2);
    let (mut ann, mut bob) = (member(&room, "Ann"), member(&room, "Bob"));
    room.enter(ann.id, "#dev").unwrap();
    for text in ["one", "two", "three"] {
        say_in(&room, &ann, "#dev", text).unwrap();
    }
    drain(&mut ann);
    room.enter(bob.id, "#Dev").unwrap();
    let got = drain(&mut bob);
    let ServerMsg::RoomState(state) = &got[0] else {
        panic!("room_state first: {got:?}")
    };
    assert_eq!(state.room, "#dev", "shown as spelled when created");
    let names: Vec<&str> = state.members.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["Ann", "Bob"], "the enterer included");
    let history: Vec<&str> = got
        .iter()
        .filter_map(|m| match m {
            ServerMsg::History { text, room, .. } if room == "#dev" => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(history, ["two", "three"], "the last --history N");
    assert!(
        matches!(got.last(), Some(ServerMsg::Joined { name, room, .. }) if name == "Bob" && room == "#dev")
    );
    assert_eq!(got.len(), 4);
    assert!(matches!(&drain(&mut ann)[..], [ServerMsg::Joined { name, .. }] if name == "Bob"));
    // Entering again: the room's state, nothing else, for nobody else.
    room.enter(bob.id, "#DEV").unwrap();
    assert!(matches!(&drain(&mut bob)[..], [ServerMsg::RoomState(_)]));
    assert!(drain(&mut ann).is_empty());
}

#[test]
fn look_alike_room_names_are_one_room() {
    let room = room();
    let (mut ann, mut bob) = (member(&room, "Ann"), member(&room, "Bob"));
    room.enter(ann.id, "#Dev").unwrap();
    // Cyrillic 'ԁ' and fullwidth letters: the same skeleton.
    room.enter(bob.id, "#\u{501}ev").unwrap();
    room.enter(bob.id, "#\u{ff24}\u{ff25}\u{ff36}").unwrap();
    drain_all(&mut [&mut ann, &mut bob]);
    say_in(&room, &bob, "#dev", "same room").unwrap();
    assert_eq!(
        said(&drain(&mut ann)),
        [("#Dev".to_string(), "same room".to_string())]
    );
    let ServerMsg::RoomsReply { rooms } = room.rooms() else {
        unreachable!()
    };
    assert_eq!(rooms.len(), 2, "#lobby and #Dev: {rooms:?}");
}

#[test]
fn parting_tells_the_room_and_the_parter_and_an_empty_room_goes() {
    let room = room().with_history(5);
    let (mut ann, mut bob) = (member(&room, "Ann"), member(&room, "Bob"));
    room.enter(ann.id, "#dev").unwrap();
    room.enter(bob.id, "#dev").unwrap();
    say_in(&room, &ann, "#dev", "kept").unwrap();
    drain_all(&mut [&mut ann, &mut bob]);
    room.part(ann.id, "#dev", None).unwrap();
    for reg in [&mut ann, &mut bob] {
        assert!(matches!(
            &drain(reg)[..],
            [ServerMsg::Left { name, room, reason: LeaveReason::Leave, .. }] if name == "Ann" && room == "#dev"
        ));
    }
    assert_eq!(
        room.part(ann.id, "#dev", None),
        Err(RoomError::NotInRoom("#dev".into()))
    );
    room.part(bob.id, "#dev", None).unwrap();
    assert_eq!(room.who("#dev"), Err(RoomError::NoSuchRoom("#dev".into())));
    // Its history outlives it; a new spelling comes with the new room.
    drain(&mut bob);
    room.enter(bob.id, "#DEV").unwrap();
    let got = drain(&mut bob);
    assert!(matches!(&got[0], ServerMsg::RoomState(s) if s.room == "#DEV"));
    assert!(matches!(&got[1], ServerMsg::History { text, .. } if text == "kept"));
}

#[test]
fn a_member_may_part_the_lobby_and_then_cannot_send_there() {
    let room = room();
    let (mut ann, mut bob) = (member(&room, "Ann"), member(&room, "Bob"));
    room.part(ann.id, LOBBY, None).unwrap();
    drain_all(&mut [&mut ann, &mut bob]);
    assert_eq!(
        room.say(ann.id, "hi".into()),
        Err(RoomError::NotInRoom(LOBBY.into()))
    );
    room.say(bob.id, "anyone?".into()).unwrap();
    assert!(said(&drain(&mut ann)).is_empty());
    // Still in the chat: the name is held, and it can come back.
    assert!(room.whois("ann").is_ok());
    room.enter(ann.id, LOBBY).unwrap();
}

#[test]
fn the_thirty_third_room_is_refused_and_changes_nothing() {
    let room = room();
    let (mut ann, mut bob) = (member(&room, "Ann"), member(&room, "Bob"));
    for n in 1..MAX_ROOMS_PER_MEMBER {
        room.enter(ann.id, &format!("#r{n}")).unwrap();
    }
    drain_all(&mut [&mut ann, &mut bob]);
    assert_eq!(
        room.enter(ann.id, "#one-too-many"),
        Err(RoomError::TooManyRooms)
    );
    assert!(drain(&mut ann).is_empty());
    assert_eq!(
        room.who("#one-too-many"),
        Err(RoomError::NoSuchRoom("#one-too-many".into()))
    );
    // In one already: not a new room, so not refused.
    room.enter(ann.id, "#r1").unwrap();
    room.part(ann.id, "#r1", None).unwrap();
    room.enter(ann.id, "#one-too-many").unwrap();
    let ServerMsg::WhoisReply { rooms, .. } = room.whois("Ann").unwrap() else {
        unreachable!()
    };
    assert_eq!(rooms.len(), MAX_ROOMS_PER_MEMBER);
}

#[test]
fn bad_room_names_are_refused() {
    let room = room();
    let ann = member(&room, "Ann");
    for bad in [
        "dev",
        "#",
        "#a b",
        "#a,b",
        "#bell\u{7}",
        &format!("#{}", "x".repeat(50)),
    ] {
        assert!(
            matches!(room.enter(ann.id, bad), Err(RoomError::RoomInvalid(_))),
            "{bad:?}"
        );
        assert!(
            matches!(room.who(bad), Err(RoomError::RoomInvalid(_))),
            "{bad:?}"
        );
    }
    assert!(matches!(
        room.enter(room.register().id, "#ok"),
        Err(RoomError::NotJoined)
    ));
}

#[test]
fn a_disconnect_is_one_left_per_shared_room() {
    let room = room();
    let (mut ann, mut bob, mut cat) = (
        member(&room, "Ann"),
        member(&room, "Bob"),
        member(&room, "Cat"),
    );
    for reg in [&ann, &bob] {
        room.enter(reg.id, "#dev").unwrap();
    }
    drain_all(&mut [&mut ann, &mut bob, &mut cat]);
    room.unregister(ann.id, LeaveReason::Disconnected);
    let rooms = |msgs: Vec<ServerMsg>| -> Vec<String> {
        msgs.into_iter()
            .filter_map(|m| match m {
                ServerMsg::Left {
                    room,
                    reason: LeaveReason::Disconnected,
                    ..
                } => Some(room),
                _ => None,
            })
            .collect()
    };
    let mut to_bob = rooms(drain(&mut bob));
    to_bob.sort();
    assert_eq!(to_bob, ["#dev", "#lobby"]);
    assert_eq!(rooms(drain(&mut cat)), ["#lobby"]);
    assert!(room.who("#dev").is_ok(), "Bob is still there");
}

#[test]
fn a_voluntary_leave_confirms_in_every_room_of_the_leaver() {
    let room = room();
    let mut ann = member(&room, "Ann");
    room.enter(ann.id, "#dev").unwrap();
    drain(&mut ann);
    room.leave(ann.id, LeaveReason::Leave, None).unwrap();
    assert_eq!(drain(&mut ann).len(), 2, "#lobby and #dev");
    let mut lone = member(&room, "Lone");
    room.part(lone.id, LOBBY, None).unwrap();
    drain(&mut lone);
    room.leave(lone.id, LeaveReason::Leave, None).unwrap();
    assert!(matches!(&drain(&mut lone)[..], [ServerMsg::Left { room, .. }] if room == LOBBY));
}

#[test]
fn who_rooms_whois_and_status_see_the_cluster() {
    let room = room();
    let ann = member(&room, "Ann");
    room.enter(ann.id, "#dev").unwrap();
    remote_member(&room, id(9), "Zed", &["#dev", "#ops"]);
    let ServerMsg::WhoReply { members, .. } = room.who("#DEV").unwrap() else {
        unreachable!()
    };
    let who: Vec<(&str, ServerId)> = members
        .iter()
        .map(|m| (m.name.as_str(), m.server))
        .collect();
    assert_eq!(who, [("Ann", id(5)), ("Zed", id(9))]);
    let ServerMsg::RoomsReply { rooms } = room.rooms() else {
        unreachable!()
    };
    let counts: Vec<(&str, u32)> = rooms.iter().map(|r| (r.room.as_str(), r.members)).collect();
    assert_eq!(counts, [("#dev", 2), ("#lobby", 2), ("#ops", 1)]);
    assert_eq!(room.status().rooms, rooms);
    assert_eq!(
        room.whois("zed").unwrap(),
        ServerMsg::WhoisReply {
            name: "Zed".into(),
            server: id(9),
            rooms: vec!["#dev".into(), "#lobby".into(), "#ops".into()],
        }
    );
    assert_eq!(
        room.whois("nobody"),
        Err(RoomError::NoSuchName("nobody".into()))
    );
    room.apply(Delivery::OriginGone {
        origin: id(9),
        graceful: true,
    });
    assert_eq!(room.who("#ops"), Err(RoomError::NoSuchRoom("#ops".into())));
}

#[test]
fn a_remote_room_message_reaches_local_members_of_that_room_only() {
    let room = room();
    let (mut ann, mut bob) = (member(&room, "Ann"), member(&room, "Bob"));
    room.enter(ann.id, "#dev").unwrap();
    remote_member(&room, id(9), "Zed", &["#DEV"]);
    drain_all(&mut [&mut ann, &mut bob]);
    let message = ChatEvent::Message {
        from: "Zed".into(),
        text: "from afar".into(),
        room: "#DEV".into(),
        cid: 0,
        action: true,
    };
    room.apply(event(id(9), 3, message));
    let got = drain(&mut ann);
    assert!(matches!(
        &got[..],
        [ServerMsg::Message { room, action: true, id: mid, .. }] if room == "#dev" && mid.seq == 3
    ));
    assert!(drain(&mut bob).is_empty());
}

#[test]
fn rejoin_enters_the_listed_rooms_with_their_backfill() {
    let room = room();
    let ann = member(&room, "Ann");
    room.enter(ann.id, "#dev").unwrap();
    let seen = say_in(&room, &ann, "#dev", "seen").unwrap();
    say_in(&room, &ann, "#dev", "missed").unwrap();
    room.unregister(ann.id, LeaveReason::Disconnected);
    let mut back = room.register();
    let rooms = vec![
        "#dev".to_string(),
        "not a room".into(),
        LOBBY.into(),
        "#DEV".into(),
    ];
    let joining = Joining {
        name: "Ann",
        version: 2,
        last_seen: Some(&[seen]),
        rooms: &rooms,
    };
    room.join_as(back.id, &joining).unwrap();
    let got = drain(&mut back);
    assert!(
        matches!(&got[0], ServerMsg::Welcome { rooms, room, .. } if rooms.len() == 1 && room == LOBBY)
    );
    let dev_state = got
        .iter()
        .position(|m| matches!(m, ServerMsg::RoomState(s) if s.room == "#dev"));
    let missed = got
        .iter()
        .position(|m| matches!(m, ServerMsg::Message { text, .. } if text == "missed"));
    assert!(dev_state.unwrap() < missed.unwrap(), "{got:?}");
    assert!(!got
        .iter()
        .any(|m| matches!(m, ServerMsg::Message { text, .. } if text == "seen")));
    let states = got
        .iter()
        .filter(|m| matches!(m, ServerMsg::RoomState(_)))
        .count();
    assert_eq!(states, 1, "#lobby and a second #dev are skipped: {got:?}");
    let ServerMsg::WhoisReply { rooms, .. } = room.whois("Ann").unwrap() else {
        unreachable!()
    };
    assert_eq!(rooms, ["#dev", "#lobby"]);
}

#[test]
fn a_line_too_long_to_relay_is_refused() {
    // Three-byte characters throughout: a 32-character name and a
    // 50-character room leave room for about 960 bytes of text.
    let room = room();
    let name = "\u{4e00}".repeat(32);
    let spelled = format!("#{}", "\u{4e00}".repeat(49));
    let mut ann = member(&room, &name);
    room.enter(ann.id, &spelled).unwrap();
    drain(&mut ann);
    assert_eq!(
        say_in(&room, &ann, &spelled, &"x".repeat(1000)),
        Err(RoomError::TooLong)
    );
    assert!(drain(&mut ann).is_empty());
    say_in(&room, &ann, &spelled, &"x".repeat(950)).unwrap();
    assert_eq!(
        RoomError::TooLong.code(),
        crate::protocol::ErrorCode::TEXT_INVALID
    );
}
