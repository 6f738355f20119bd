//! Version-1 connections: `#lobby` only, and only the frames they always had.

use super::*;
use crate::relay::ChatEvent;

/// The `type`s version 2 added: a version-1 connection never gets one.
const V2_TYPES: &[&str] = &[
    "private",
    "nick",
    "topic",
    "room_state",
    "who_reply",
    "rooms_reply",
    "whois_reply",
];

fn type_of(msg: &ServerMsg) -> String {
    let frame = encode_frame(msg);
    let value = rmpv::decode::read_value(&mut &frame[4..]).unwrap();
    value["type"].as_str().unwrap().to_string()
}

#[test]
fn a_version_one_member_sees_lobby_frames_only() {
    let room = Room::new(id(5), "127.0.0.1:1".into(), 256);
    let mut old = join_v1(&room, "Old");
    let (ann, bob) = (member(&room, "Ann"), member(&room, "Bob"));
    drain(&mut old);
    room.enter(ann.id, "#dev").unwrap();
    room.enter(bob.id, "#dev").unwrap();
    say_in(&room, &ann, "#dev", "elsewhere").unwrap();
    room.set_topic(ann.id, LOBBY, "a lobby topic", 1000)
        .unwrap();
    room.set_topic(ann.id, "#dev", "a dev topic", 1000).unwrap();
    room.private_then_wake(
        ann.id,
        "Bob",
        "psst".into(),
        false,
        None,
        &mut Wakes::default(),
    )
    .unwrap();
    remote_member(&room, id(9), "Zed", &["#dev"]);
    room.apply(event(
        id(9),
        3,
        ChatEvent::Topic {
            room: LOBBY.into(),
            text: "remote lobby topic".into(),
            by: "Zed".into(),
            at: 5000,
        },
    ));
    room.nick(ann.id, "Annie").unwrap();
    room.part(bob.id, "#dev", None).unwrap();
    room.say(bob.id, "in the lobby".into()).unwrap();
    room.part(bob.id, LOBBY, None).unwrap();
    let got = drain(&mut old);
    for msg in &got {
        let kind = type_of(msg);
        assert!(ServerMsg::TYPES.contains(&kind.as_str()), "{msg:?}");
        assert!(!V2_TYPES.contains(&kind.as_str()), "{msg:?}");
        match msg {
            ServerMsg::Joined { room, .. }
            | ServerMsg::Left { room, .. }
            | ServerMsg::Message { room, .. } => assert_eq!(room, LOBBY, "{msg:?}"),
            other => panic!("unexpected {other:?}"),
        }
    }
    let lines: Vec<String> = got
        .iter()
        .map(|m| match m {
            ServerMsg::Joined { name, .. } => format!("joined {name}"),
            ServerMsg::Left { name, reason, .. } => format!("left {name} {reason:?}"),
            ServerMsg::Message { from, text, .. } => format!("{from}: {text}"),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(
        lines,
        [
            "joined Zed",
            "left Ann Leave",
            "joined Annie",
            "Bob: in the lobby",
            "left Bob Leave"
        ]
    );
    // The nick change's two frames carry its one id.
    let ids: Vec<MessageId> = got[1..3]
        .iter()
        .map(|m| match m {
            ServerMsg::Joined { id, .. } | ServerMsg::Left { id, .. } => *id,
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(ids[0], ids[1]);
}

#[test]
fn a_version_one_welcome_lists_the_lobby_and_carries_no_rooms() {
    let room = Room::new(id(5), "127.0.0.1:1".into(), 256);
    let ann = member(&room, "Ann");
    let _bob = member(&room, "Bob");
    room.part(ann.id, LOBBY, None).unwrap();
    let mut old = join_v1(&room, "Old");
    let got = drain(&mut old);
    let ServerMsg::Welcome { members, rooms, .. } = &got[0] else {
        panic!("{got:?}")
    };
    let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["Bob", "Old"], "Ann parted #lobby");
    assert!(rooms.is_empty());
    let frame = {
        let mut reg = room.register();
        let joining = Joining {
            name: "Old2",
            version: 1,
            last_seen: None,
            rooms: &["#dev".into()],
        };
        room.join_as(reg.id, &joining).unwrap();
        drain(&mut reg)
    };
    assert!(
        !frame.iter().any(|m| matches!(m, ServerMsg::RoomState(_))),
        "a version-1 rejoin enters no other room"
    );
}

#[test]
fn a_private_message_to_a_version_one_member_is_a_notice() {
    let room = Room::new(id(5), "127.0.0.1:1".into(), 256);
    let mut old = join_v1(&room, "Old");
    let mut ann = member(&room, "Ann");
    drain(&mut old);
    room.private_then_wake(
        ann.id,
        "old",
        "hello there".into(),
        false,
        None,
        &mut Wakes::default(),
    )
    .unwrap();
    assert_eq!(
        drain(&mut old),
        [ServerMsg::Notice {
            text: "private message from Ann: hello there".into()
        }]
    );
    assert!(matches!(&drain(&mut ann)[..], [ServerMsg::Private { to, .. }] if to == "Old"));
}
