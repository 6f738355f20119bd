//! Translator unit tests: queries, MODE, AWAY, chathistory, the flood
//! guard and hostile input.

use crate::protocol::{ClientMsg, ErrorCode, Member, RoomInfo, RoomState, ServerId, ServerMsg};

use super::tests::{commands, has, server, Rig, T0};

fn other() -> ServerId {
    ServerId::from_bytes([0xab; 16])
}

fn in_dev(rig: &mut Rig) {
    rig.lines(&["JOIN #dev"]);
    rig.take_chatty();
    rig.frame(ServerMsg::RoomState(RoomState {
        room: "#dev".into(),
        topic: None,
        members: vec![Member {
            name: "Ann Lee".into(),
            server: other(),
        }],
        count: None,
    }));
    rig.irc.clear();
}

#[test]
fn what_clients_send_after_joining() {
    let mut rig = Rig::registered("Leo", "");
    in_dev(&mut rig);
    let out = rig.lines(&[
        "MODE #dev",
        "WHO #dev",
        "MODE #dev b",
        "MODE #dev +b",
        "MODE #dev e",
        "MODE #dev I",
    ]);
    assert_eq!(
        out,
        vec![
            ":irc.test 324 Leo #dev +n",
            ":irc.test 352 Leo #dev chatty chatty abababab.chatty Ann^20^Lee H :0 Ann Lee",
            ":irc.test 352 Leo #dev u chatty irc.test Leo H :0 Real Name",
            ":irc.test 315 Leo #dev :End of WHO list",
            ":irc.test 368 Leo #dev :End of channel ban list",
            ":irc.test 368 Leo #dev :End of channel ban list",
            ":irc.test 349 Leo #dev :End of channel exception list",
            ":irc.test 347 Leo #dev :End of channel invite list",
        ]
    );
    assert!(
        rig.take_chatty().is_empty(),
        "answered locally, no rate-limit tokens spent"
    );
    assert_eq!(
        rig.lines(&["MODE #dev +o Ann^20^Lee"]),
        vec![":irc.test 482 Leo #dev :Channel modes cannot be changed here"]
    );
    assert_eq!(
        rig.lines(&["MODE"]),
        vec![":irc.test 461 Leo MODE :Not enough parameters"]
    );
}

#[test]
fn nobody_can_kick() {
    let mut rig = Rig::registered("Leo", "");
    in_dev(&mut rig);
    assert_eq!(
        rig.lines(&["KICK #dev Ann^20^Lee :out", "KICK #else x", "KICK #dev"]),
        vec![
            ":irc.test 482 Leo #dev :You're not channel operator (nobody is here)",
            ":irc.test 442 Leo #else :You're not on that channel",
            ":irc.test 461 Leo KICK :Not enough parameters",
        ]
    );
}

#[test]
fn user_modes() {
    let mut rig = Rig::registered("Leo", "");
    assert_eq!(rig.lines(&["MODE Leo"]), vec![":irc.test 221 Leo +"]);
    assert_eq!(
        rig.lines(&["MODE Leo +i"]),
        vec![":Leo!u@chatty MODE Leo :+i"]
    );
    assert_eq!(rig.lines(&["MODE leo"]), vec![":irc.test 221 Leo +i"]);
    assert_eq!(
        rig.lines(&["MODE Leo +x"]),
        vec![":irc.test 501 Leo :Unknown MODE flag"]
    );
    assert_eq!(
        rig.lines(&["MODE Ann"]),
        vec![":irc.test 502 Leo :Can't change mode for other users"]
    );
}

#[test]
fn channel_queries_outside_the_room_ask_chatty() {
    let mut rig = Rig::registered("Leo", "");
    rig.lines(&["NAMES #far", "WHO #far", "MODE #far", "LIST"]);
    assert_eq!(
        rig.take_chatty(),
        vec![
            ClientMsg::Who {
                room: "#far".into(),
                after: None,
            },
            ClientMsg::Who {
                room: "#far".into(),
                after: None,
            },
            ClientMsg::Who {
                room: "#far".into(),
                after: None,
            },
            ClientMsg::Rooms
        ]
    );
    let members = vec![Member {
        name: "Ann".into(),
        server: other(),
    }];
    let out = rig.frame(ServerMsg::WhoReply {
        room: "#far".into(),
        members: members.clone(),
        count: None,
        next: None,
    });
    assert_eq!(
        out,
        vec![
            ":irc.test 353 Leo = #far :Ann",
            ":irc.test 366 Leo #far :End of /NAMES list"
        ]
    );
    let out = rig.frame(ServerMsg::WhoReply {
        room: "#far".into(),
        members,
        count: None,
        next: None,
    });
    assert_eq!(commands(&out), vec!["352", "315"]);
    let out = rig.frame(ServerMsg::Error {
        code: ErrorCode::NO_SUCH_ROOM,
        text: "none".into(),
        fatal: false,
        cid: None,
    });
    assert_eq!(out, vec![":irc.test 403 Leo #far :No such channel"]);
    let out = rig.frame(ServerMsg::RoomsReply {
        rooms: vec![
            RoomInfo {
                room: "#far".into(),
                members: 1,
                topic: "".into(),
            },
            RoomInfo {
                room: "#lobby".into(),
                members: 3,
                topic: "hi".into(),
            },
        ],
    });
    assert_eq!(
        out,
        vec![
            ":irc.test 321 Leo Channel :Users  Name",
            ":irc.test 322 Leo #far 1 :",
            ":irc.test 322 Leo #lobby 3 :hi",
            ":irc.test 323 Leo :End of /LIST",
        ]
    );
    assert_eq!(
        rig.lines(&["NAMES"]),
        vec![":irc.test 366 Leo * :End of /NAMES list"]
    );
    rig.lines(&["NAMES #gone"]);
    let out = rig.frame(ServerMsg::Error {
        code: ErrorCode::NO_SUCH_ROOM,
        text: "none".into(),
        fatal: false,
        cid: None,
    });
    assert_eq!(out, vec![":irc.test 366 Leo #gone :End of /NAMES list"]);
}

#[test]
fn whois_and_who_of_a_nick() {
    let mut rig = Rig::registered("Leo", "");
    rig.lines(&["WHOIS Ann^20^Lee"]);
    assert_eq!(
        rig.take_chatty(),
        vec![ClientMsg::Whois {
            name: "Ann Lee".into()
        }]
    );
    let out = rig.frame(ServerMsg::WhoisReply {
        name: "Ann Lee".into(),
        server: other(),
        rooms: vec!["#dev".into(), "#lobby".into()],
    });
    assert_eq!(commands(&out), vec!["311", "319", "312", "318"]);
    assert_eq!(
        out[0],
        ":irc.test 311 Leo Ann^20^Lee chatty chatty * :Ann Lee"
    );
    assert_eq!(out[1], ":irc.test 319 Leo Ann^20^Lee :#dev #lobby");
    assert!(out[2].starts_with(":irc.test 312 Leo Ann^20^Lee abababab.chatty :Chatty server "));
    rig.lines(&["WHOIS nobody"]);
    let out = rig.frame(ServerMsg::Error {
        code: ErrorCode::NO_SUCH_NAME,
        text: "no".into(),
        fatal: false,
        cid: None,
    });
    assert_eq!(
        out,
        vec![
            ":irc.test 401 Leo nobody :No such nick/channel",
            ":irc.test 318 Leo nobody :End of /WHOIS list"
        ]
    );
    assert_eq!(
        rig.lines(&["WHOIS"]),
        vec![":irc.test 431 Leo :No nickname given"]
    );
    rig.take_chatty();
    rig.lines(&["WHO Ann"]);
    let out = rig.frame(ServerMsg::WhoisReply {
        name: "Ann".into(),
        server: server(),
        rooms: vec![],
    });
    assert_eq!(
        out,
        vec![
            ":irc.test 352 Leo * chatty chatty irc.test Ann H :0 Ann",
            ":irc.test 315 Leo Ann :End of WHO list"
        ]
    );
    assert_eq!(
        rig.lines(&["WHO *"]),
        vec![":irc.test 315 Leo * :End of WHO list"]
    );
}

#[test]
fn unknown_and_misc_commands() {
    let mut rig = Rig::registered("Leo", "");
    assert_eq!(
        rig.lines(&["FROBNICATE x"]),
        vec![":irc.test 421 Leo FROBNICATE :Unknown command"]
    );
    assert_eq!(commands(&rig.lines(&["MOTD"])), vec!["422"]);
    rig.lines(&["LUSERS"]);
    assert_eq!(rig.take_chatty(), vec![ClientMsg::Status]);
    let out = rig.frame(ServerMsg::StatusReply(super::tests::status(&[
        "Leo", "Ann",
    ])));
    assert_eq!(commands(&out), vec!["251", "254", "255", "265", "266"]);
    assert_eq!(
        rig.lines(&["USERHOST Leo nobody"]),
        vec![":irc.test 302 Leo :Leo=+u@chatty"]
    );
    assert!(rig.lines(&["", "   ", "TAGMSG #lobby"]).is_empty());
    assert_eq!(
        rig.lines(&["PASS x"]),
        vec![":irc.test 462 Leo :You may not reregister"]
    );
    assert_eq!(
        rig.lines(&["ISON Leo nobody"]),
        vec![":irc.test 303 Leo :Leo"]
    );
    assert_eq!(
        commands(&rig.lines(&["VERSION"])),
        vec!["351", "005", "005"]
    );
    assert_eq!(
        rig.lines(&["TIME"]),
        vec![":irc.test 391 Leo irc.test :2026-12-01T12:00:00.000Z"]
    );
    assert_eq!(
        commands(&rig.lines(&["WHOWAS x", "OPER a b"])),
        vec!["406", "369", "491"]
    );
}

fn presence(away: Option<&str>) -> crate::irc::Presence {
    crate::irc::Presence {
        user: "ann".into(),
        real: "Ann of Gateway".into(),
        away: away.map(str::to_string),
    }
}

#[test]
fn away_is_shown_to_senders_and_in_whois_and_notified() {
    let mut rig = Rig::registered("Leo", "away-notify");
    in_dev(&mut rig);
    assert_eq!(
        rig.lines(&["AWAY :lunch"]),
        vec![":irc.test 306 Leo :You have been marked as being away"]
    );
    let (name, me) = rig.t.presence().unwrap();
    assert_eq!(
        (
            name.as_str(),
            me.user.as_str(),
            me.real.as_str(),
            me.away.as_deref()
        ),
        ("Leo", "u", "Real Name", Some("lunch"))
    );
    assert_eq!(
        rig.lines(&["AWAY"]),
        vec![":irc.test 305 Leo :You are no longer marked as being away"]
    );
    assert_eq!(rig.t.presence().unwrap().1.away, None);
    rig.tell("Ann Lee", Some(&presence(Some("brb"))));
    assert_eq!(rig.irc.last().unwrap(), ":Ann^20^Lee!ann@chatty AWAY :brb");
    let out = rig.lines(&["PRIVMSG Ann^20^Lee :hi", "WHO #dev"]);
    assert_eq!(out[0], ":irc.test 301 Leo Ann^20^Lee :brb");
    assert!(
        has(
            &out,
            "352 Leo #dev ann chatty abababab.chatty Ann^20^Lee G :0 Ann of Gateway"
        ),
        "{out:?}"
    );
    assert!(
        has(&out, "352 Leo #dev u chatty irc.test Leo H :0 Real Name"),
        "{out:?}"
    );
    rig.tell("Ann Lee", Some(&presence(None)));
    assert_eq!(rig.irc.last().unwrap(), ":Ann^20^Lee!ann@chatty AWAY");
    // Someone we share no room with: no notification.
    rig.irc.clear();
    rig.tell("Stranger", Some(&presence(Some("x"))));
    assert!(rig.irc.is_empty());
}

#[test]
fn history_is_replayed_without_chathistory_and_served_with_it() {
    let mut rig = Rig::registered("Leo", "");
    rig.lines(&["JOIN #dev"]);
    rig.frame(ServerMsg::RoomState(RoomState {
        room: "#dev".into(),
        topic: None,
        members: vec![],
        count: None,
    }));
    let id = rig.id();
    let out = rig.frame(ServerMsg::History {
        id,
        from: "Ann".into(),
        room: "#dev".into(),
        text: "earlier".into(),
        action: false,
        cid: None,
    });
    assert_eq!(out, vec![":Ann!chatty@chatty PRIVMSG #dev :earlier"]);

    let mut rig = Rig::registered("Leo", "draft/chathistory batch server-time message-tags");
    rig.lines(&["JOIN #dev"]);
    rig.frame(ServerMsg::RoomState(RoomState {
        room: "#dev".into(),
        topic: None,
        members: vec![],
        count: None,
    }));
    let old = rig.id();
    assert!(rig
        .frame(ServerMsg::History {
            id: old,
            from: "Ann".into(),
            room: "#dev".into(),
            text: "old".into(),
            action: false,
            cid: None,
        })
        .is_empty());
    let mut ids = vec![old];
    for n in 0..5 {
        let id = rig.id();
        ids.push(id);
        rig.t.chatty(
            ServerMsg::Message {
                id,
                from: "Ann".into(),
                room: "#dev".into(),
                text: format!("m{n}"),
                action: false,
                cid: None,
            },
            T0 + n * 1000,
        );
    }
    rig.drain();
    rig.irc.clear();
    let out = rig.lines(&["CHATHISTORY LATEST #dev * 3"]);
    assert_eq!(
        commands(&out),
        vec!["BATCH", "PRIVMSG", "PRIVMSG", "PRIVMSG", "BATCH"]
    );
    assert_eq!(out[0], ":irc.test BATCH +h1 chathistory #dev");
    assert!(
        out[1].contains("batch=h1")
            && out[1].contains("time=2026-12-01T12:00:02.000Z")
            && out[1].ends_with(":m2")
    );
    assert_eq!(out[4], ":irc.test BATCH -h1");
    let msgid = super::events::msgid(ids[3], 0);
    let out = rig.lines(&[&format!("CHATHISTORY BEFORE #dev msgid={msgid} 10")]);
    let texts: Vec<&str> = out
        .iter()
        .filter(|l| l.contains("PRIVMSG"))
        .map(|l| l.rsplit(':').next().unwrap())
        .collect();
    assert_eq!(texts, vec!["old", "m0", "m1"]);
    assert!(
        !out[1].contains("time="),
        "replayed history has no time: {}",
        out[1]
    );
    let out = rig.lines(&[&format!("CHATHISTORY AFTER #dev msgid={msgid} 1")]);
    assert!(out[1].ends_with(":m3"));
    let out = rig.lines(&["CHATHISTORY AFTER #dev timestamp=2026-12-01T12:00:03.000Z 10"]);
    assert_eq!(commands(&out), vec!["BATCH", "PRIVMSG", "BATCH"]);
    let first = super::events::msgid(ids[1], 0);
    let last = super::events::msgid(ids[5], 0);
    let out = rig.lines(&[&format!(
        "CHATHISTORY BETWEEN #dev msgid={first} msgid={last} 10"
    )]);
    assert_eq!(out.iter().filter(|l| l.contains("PRIVMSG")).count(), 3);
    let out = rig.lines(&["CHATHISTORY AROUND #dev msgid=".to_string().as_str()]);
    assert!(out[0].starts_with(":irc.test FAIL CHATHISTORY INVALID_PARAMS"));
    let out = rig.lines(&["CHATHISTORY LATEST #nowhere * 10"]);
    assert_eq!(commands(&out), vec!["BATCH", "BATCH"]);
    let out = rig.lines(&["CHATHISTORY TARGETS timestamp=2026-12-01T00:00:00.000Z timestamp=2026-12-02T00:00:00.000Z 10"]);
    assert_eq!(commands(&out), vec!["BATCH", "CHATHISTORY", "BATCH"]);
    assert!(
        out[1].contains("TARGETS #dev timestamp=2026-12-01T12:00:04.000Z"),
        "{out:?}"
    );
    let out = rig.lines(&["CHATHISTORY FOO #dev * 1", "CHATHISTORY LATEST #dev * 0"]);
    assert!(out
        .iter()
        .all(|l| l.contains("FAIL CHATHISTORY INVALID_PARAMS")));
}

#[test]
fn the_flood_guard_disconnects() {
    let mut rig = Rig::registered("Leo", "");
    let lines: Vec<String> = (0..200).map(|n| format!("PING {n}")).collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    rig.lines(&refs);
    assert!(rig.closed);
    assert_eq!(rig.irc.last().unwrap(), "ERROR :Closing link: Excess Flood");
    // A paced client is fine.
    let mut rig = Rig::registered("Leo", "");
    for n in 0..400u64 {
        rig.t.irc_line("PING x", T0 + n * 50);
    }
    rig.drain();
    assert!(!rig.closed);
}

#[test]
fn over_long_input_gets_417() {
    let mut rig = Rig::registered("Leo", "");
    rig.t.line_too_long(T0);
    rig.drain();
    assert_eq!(
        rig.irc.last().unwrap(),
        ":irc.test 417 Leo :Input line was too long"
    );
}
