//! What members say as they part a room or leave the chat: shown with
//! `left`, locally and from other servers, and checked like a topic.

use super::*;
use crate::relay::ChatEvent;

fn room() -> Room {
    super::room(100)
}

#[test]
fn a_part_with_text_shows_it_to_the_room_and_the_parter() {
    let room = room();
    let (mut ann, mut bob) = (member(&room, "Ann"), member(&room, "Bob"));
    room.enter(ann.id, "#dev").unwrap();
    room.enter(bob.id, "#dev").unwrap();
    drain_all(&mut [&mut ann, &mut bob]);
    room.part(ann.id, "#dev", Some("off to lunch")).unwrap();
    for reg in [&mut ann, &mut bob] {
        assert!(matches!(
            &drain(reg)[..],
            [ServerMsg::Left { name, room, text: Some(text), quit: false, .. }]
                if name == "Ann" && room == "#dev" && text == "off to lunch"
        ));
    }
}

#[test]
fn a_bad_part_text_is_refused_and_the_member_stays() {
    let room = room();
    let (mut ann, mut bob) = (member(&room, "Ann"), member(&room, "Bob"));
    room.enter(ann.id, "#dev").unwrap();
    room.enter(bob.id, "#dev").unwrap();
    drain_all(&mut [&mut ann, &mut bob]);
    for bad in ["two\nlines".to_string(), "x".repeat(301)] {
        assert!(matches!(
            room.part(ann.id, "#dev", Some(&bad)),
            Err(RoomError::ReasonInvalid(_))
        ));
    }
    assert!(drain(&mut bob).is_empty(), "nobody heard a thing");
    room.part(ann.id, "#dev", Some(&"x".repeat(300))).unwrap();
}

#[test]
fn a_leave_with_text_is_a_quit_in_every_room() {
    let room = room();
    let (mut ann, mut bob) = (member(&room, "Ann"), member(&room, "Bob"));
    room.enter(ann.id, "#dev").unwrap();
    room.enter(bob.id, "#dev").unwrap();
    drain_all(&mut [&mut ann, &mut bob]);
    room.leave(ann.id, LeaveReason::Leave, Some("gone home".into()))
        .unwrap();
    let got = drain(&mut bob);
    assert_eq!(got.len(), 2, "#lobby and #dev: {got:?}");
    for msg in &got {
        assert!(matches!(msg,
            ServerMsg::Left { name, text: Some(text), quit: true, reason: LeaveReason::Leave, .. }
                if name == "Ann" && text == "gone home"));
    }
    // Other reasons are no quit by `leave`, and carry no text.
    let mut cat = member(&room, "Cat");
    drain(&mut bob);
    room.unregister(cat.id, LeaveReason::Disconnected);
    drain(&mut cat);
    assert!(matches!(
        &drain(&mut bob)[..],
        [ServerMsg::Left {
            text: None,
            quit: false,
            reason: LeaveReason::Disconnected,
            ..
        }]
    ));
}

#[test]
fn texts_from_other_servers_are_shown_and_bad_ones_dropped() {
    let room = room();
    let mut bob = member(&room, "Bob");
    room.enter(bob.id, "#dev").unwrap();
    let next = remote_member(&room, id(7), "Zed", &["#dev"]);
    drain(&mut bob);
    let parted = ChatEvent::Parted {
        name: "Zed".into(),
        room: "#dev".into(),
        text: Some("bye \u{1b}[2J".into()),
    };
    room.apply(event(id(7), next + 1, parted));
    assert!(matches!(
        &drain(&mut bob)[..],
        [ServerMsg::Left { name, text: None, .. }] if name == "Zed"
    ));
    let left = ChatEvent::Left {
        name: "Zed".into(),
        reason: LeaveReason::Leave,
        text: Some("see you".into()),
    };
    room.apply(event(id(7), next + 2, left));
    assert!(matches!(
        &drain(&mut bob)[..],
        [ServerMsg::Left { name, text: Some(text), quit: true, .. }]
            if name == "Zed" && text == "see you"
    ));
}
