//! Large rooms (PROTOCOL.md, "Large rooms"): a room_state with a count and
//! no members, who pages, and a room that crosses the limit either way.

use crate::protocol::{ClientMsg, Member, RoomState, ServerId, ServerMsg};

use super::tests::{commands, has, Rig};

fn other() -> ServerId {
    ServerId::from_bytes([0xab; 16])
}

fn member(name: &str) -> Member {
    Member {
        name: name.into(),
        server: other(),
    }
}

fn large(count: u32) -> ServerMsg {
    ServerMsg::RoomState(RoomState {
        room: "#big".into(),
        topic: None,
        members: vec![],
        count: Some(count),
    })
}

/// Leo in #big, which has `count` members; the lines it caused.
fn in_big(rig: &mut Rig, count: u32) -> Vec<String> {
    rig.lines(&["JOIN #big"]);
    rig.take_chatty();
    rig.frame(large(count))
}

#[test]
fn joining_a_large_channel_names_the_joiner_and_says_it_is_large() {
    let mut rig = Rig::registered("Leo", "");
    let out = in_big(&mut rig, 20_000);
    assert_eq!(out[0], ":Leo!u@chatty JOIN #big");
    assert!(has(&out, ":irc.test 353 Leo = #big :Leo"), "{out:?}");
    assert!(has(&out, "366 Leo #big"), "{out:?}");
    let notice = out.last().unwrap();
    assert!(
        notice.starts_with(":irc.test NOTICE #big :#big is a large channel (20000 members)"),
        "{notice}"
    );
    assert!(
        rig.take_chatty().is_empty(),
        "no member list fetched on join"
    );
}

#[test]
fn names_and_who_of_a_large_channel_show_one_page_and_say_how_many_more() {
    let mut rig = Rig::registered("Leo", "");
    in_big(&mut rig, 20_000);
    let page: Vec<Member> = (0..3).map(|i| member(&format!("m{i}"))).collect();
    for (asked, end) in [("NAMES #big", "366"), ("WHO #big", "315")] {
        assert!(rig.lines(&[asked]).is_empty(), "{asked}: asks Chatty first");
        assert_eq!(
            rig.take_chatty(),
            vec![ClientMsg::Who {
                room: "#big".into(),
                after: None
            }],
            "{asked}: the first page only"
        );
        let out = rig.frame(ServerMsg::WhoReply {
            room: "#big".into(),
            members: page.clone(),
            count: Some(20_000),
            next: Some("m2".into()),
        });
        let cmds = commands(&out);
        assert_eq!(cmds.iter().filter(|c| *c == end).count(), 1, "{out:?}");
        assert!(
            out.last()
                .unwrap()
                .ends_with("3 of its 20000 members listed, 19997 not shown"),
            "{out:?}"
        );
        assert!(rig.take_chatty().is_empty(), "{asked}: no second page");
    }
}

#[test]
fn a_stranger_speaks_in_a_large_channel() {
    let mut rig = Rig::registered("Leo", "");
    in_big(&mut rig, 500);
    let id = rig.id();
    let out = rig.frame(ServerMsg::Message {
        id,
        from: "Zed".into(),
        room: "#big".into(),
        text: "hello all".into(),
        action: false,
        cid: None,
    });
    assert_eq!(out, vec![":Zed!chatty@chatty PRIVMSG #big :hello all"]);
}

#[test]
fn a_channel_that_turns_small_gives_fresh_names_and_one_that_turns_large_says_so() {
    let mut rig = Rig::registered("Leo", "");
    in_big(&mut rig, 400);
    // Small again: the room_state lists everyone; NAMES again, no JOIN.
    let out = rig.frame(ServerMsg::RoomState(RoomState {
        room: "#big".into(),
        topic: None,
        members: vec![member("Ann"), member("Leo")],
        count: None,
    }));
    assert_eq!(commands(&out), vec!["353", "366"], "{out:?}");
    assert!(has(&out, "353 Leo = #big :Ann Leo"), "{out:?}");
    // Its joins and parts are shown again, and NAMES is answered here.
    let id = rig.id();
    assert_eq!(
        rig.frame(ServerMsg::Joined {
            id,
            name: "Bo".into(),
            server: other(),
            room: "#big".into(),
        }),
        vec![":Bo!chatty@chatty JOIN #big"]
    );
    assert!(has(
        &rig.lines(&["NAMES #big"]),
        "353 Leo = #big :Ann Bo Leo"
    ));
    assert!(rig.take_chatty().is_empty());
    // Large again: a notice, no NAMES, no JOIN.
    let out = rig.frame(large(401));
    assert_eq!(commands(&out), vec!["NOTICE"], "{out:?}");
    // Another room_state while large: nothing new to say.
    assert!(rig.frame(large(402)).is_empty());
}

#[test]
fn a_large_lobby_in_the_welcome() {
    let mut rig = Rig::new();
    rig.lines(&["NICK Leo", "USER u 0 * :Real Name"]);
    let mut welcome = super::tests::welcome("Leo");
    if let ServerMsg::Welcome { members, rooms, .. } = &mut welcome {
        members.clear();
        rooms[0].members.clear();
        rooms[0].count = Some(9_000);
    }
    rig.frame(welcome);
    let out = rig.frame(ServerMsg::StatusReply(super::tests::status(&["Leo"])));
    assert!(has(&out, "353 Leo = #lobby :Leo"), "{out:?}");
    assert!(
        has(
            &out,
            "NOTICE #lobby :#lobby is a large channel (9000 members)"
        ),
        "{out:?}"
    );
}
