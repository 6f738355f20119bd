//! Translator unit tests: what our own user does (PART, NICK, TOPIC) and
//! how a session ends (fatal errors, shutdown, the session closing).

use crate::protocol::{ClientMsg, ErrorCode, LeaveReason, RoomState, ServerMsg};

use super::tests::{server, Rig, T0};

#[test]
fn our_part_nick_and_topic() {
    let mut rig = Rig::registered("Leo", "");
    rig.lines(&["PART #lobby :bye now"]);
    assert_eq!(
        rig.take_chatty(),
        vec![ClientMsg::Part {
            room: "#lobby".into(),
            text: Some("bye now".into())
        }]
    );
    let id = rig.id();
    let out = rig.frame(ServerMsg::Left {
        id,
        name: "Leo".into(),
        server: server(),
        reason: LeaveReason::Leave,
        room: "#lobby".into(),
        text: None,
        quit: false,
    });
    assert_eq!(out, vec![":Leo!u@chatty PART #lobby :bye now"]);
    assert_eq!(
        rig.lines(&["PART #lobby"]),
        vec![":irc.test 442 Leo #lobby :You're not on that channel"]
    );
    assert_eq!(
        rig.lines(&["PART"]),
        vec![":irc.test 461 Leo PART :Not enough parameters"]
    );
    rig.lines(&["JOIN #dev"]);
    rig.frame(ServerMsg::RoomState(RoomState {
        room: "#dev".into(),
        topic: None,
        members: vec![],
        count: None,
    }));
    rig.take_chatty();
    assert_eq!(rig.lines(&["NICK Leo"]), Vec::<String>::new());
    assert_eq!(
        rig.lines(&["NICK"]),
        vec![":irc.test 431 Leo :No nickname given"]
    );
    assert_eq!(
        rig.lines(&["NICK 9x"]),
        vec![":irc.test 432 Leo 9x :Erroneous nickname"]
    );
    rig.lines(&["NICK Taken"]);
    assert_eq!(
        rig.take_chatty(),
        vec![ClientMsg::Nick {
            name: "Taken".into()
        }]
    );
    let out = rig.frame(ServerMsg::Error {
        code: ErrorCode::NAME_TAKEN,
        text: "t".into(),
        fatal: false,
        cid: None,
    });
    assert_eq!(
        out,
        vec![":irc.test 433 Leo Taken :Nickname is already in use"]
    );
    rig.lines(&["NICK Leonardo"]);
    let id = rig.id();
    let out = rig.frame(ServerMsg::Nick {
        id,
        old: "Leo".into(),
        new: "Leonardo".into(),
        server: server(),
    });
    assert_eq!(out, vec![":Leo!u@chatty NICK :Leonardo"]);
    assert_eq!(rig.t.nick(), Some("Leonardo"));
    assert_eq!(
        rig.lines(&["TOPIC #dev"]),
        vec![":irc.test 331 Leonardo #dev :No topic is set"]
    );
    rig.take_chatty();
    rig.lines(&["TOPIC #dev :\u{3}4red\u{3} topic"]);
    assert_eq!(
        rig.take_chatty(),
        vec![ClientMsg::Topic {
            room: "#dev".into(),
            text: Some("red topic".into())
        }]
    );
    let out = rig.frame(ServerMsg::Topic {
        room: "#dev".into(),
        text: "red topic".into(),
        by: "Leonardo".into(),
        at: 2_000,
    });
    assert_eq!(out, vec![":Leonardo!u@chatty TOPIC #dev :red topic"]);
    let out = rig.lines(&["TOPIC #dev"]);
    assert_eq!(
        out,
        vec![
            ":irc.test 332 Leonardo #dev :red topic",
            ":irc.test 333 Leonardo #dev Leonardo 2"
        ]
    );
    assert_eq!(
        rig.lines(&["TOPIC #else :x"]),
        vec![":irc.test 442 Leonardo #else :You're not on that channel"]
    );
    rig.lines(&["TOPIC #else"]);
    assert_eq!(
        rig.take_chatty(),
        vec![ClientMsg::Topic {
            room: "#else".into(),
            text: None
        }]
    );
    let out = rig.frame(ServerMsg::Topic {
        room: "#else".into(),
        text: "".into(),
        by: "".into(),
        at: 0,
    });
    assert_eq!(out, vec![":irc.test 331 Leonardo #else :No topic is set"]);
}

#[test]
fn fatal_errors_and_shutdown_close() {
    let mut rig = Rig::registered("Leo", "");
    let out = rig.frame(ServerMsg::Error {
        code: ErrorCode::TOO_SLOW,
        text: "too slow".into(),
        fatal: true,
        cid: None,
    });
    assert_eq!(out, vec!["ERROR :Closing link: too slow"]);
    assert!(rig.closed);
    let mut rig = Rig::registered("Leo", "");
    let out = rig.frame(ServerMsg::Shutdown {
        reason: "server shutting down".into(),
        servers: vec!["127.0.0.1:1".into()],
    });
    assert_eq!(
        out,
        vec!["ERROR :Closing link: server shutting down (other servers: 127.0.0.1:1)"]
    );
    let mut rig = Rig::registered("Leo", "");
    rig.t.session_closed();
    rig.drain();
    assert!(rig.closed);
}

#[test]
fn garbage_never_panics() {
    let mut seed = 0x2545F4914F6CDD1Du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let words = [
        "PRIVMSG",
        "JOIN",
        "#",
        "#dev",
        ":",
        "::",
        "@",
        "@a=b;",
        "\u{1}",
        "\u{1}ACTION",
        "^",
        "^zz^",
        "NICK",
        "CAP",
        "REQ",
        "LS",
        "MODE",
        "+",
        "-",
        "b",
        "TOPIC",
        "WHO",
        "WHOIS",
        "CHATHISTORY",
        "LATEST",
        "BETWEEN",
        "msgid=",
        "timestamp=",
        "*",
        "0",
        "PART",
        "AWAY",
        "é",
        "\u{0}",
        " ",
        "USER",
        "LIST",
        "NAMES",
        "QUIT",
    ];
    for _ in 0..300 {
        let mut rig = Rig::new();
        for _ in 0..40 {
            let n = next() % 8;
            let line: Vec<&str> = (0..n)
                .map(|_| words[(next() % words.len() as u64) as usize])
                .collect();
            rig.t.irc_line(&line.join(" "), T0);
            if next() % 5 == 0 {
                rig.t.chatty(
                    ServerMsg::Error {
                        code: ErrorCode(next() as u16 % 300),
                        text: "x".into(),
                        fatal: false,
                        cid: Some(next() % 4),
                    },
                    T0,
                );
            }
        }
        rig.drain();
    }
}

#[test]
fn part_and_quit_messages_of_others_and_ours() {
    let mut rig = Rig::registered("Leo", "");
    let ann_joins = |rig: &mut Rig| {
        let id = rig.id();
        rig.frame(ServerMsg::Joined {
            id,
            name: "Ann".into(),
            server: server(),
            room: "#lobby".into(),
        })
    };
    ann_joins(&mut rig);
    let left = |rig: &mut Rig, name: &str, text: Option<&str>, quit: bool| {
        let id = rig.id();
        rig.frame(ServerMsg::Left {
            id,
            name: name.into(),
            server: server(),
            reason: LeaveReason::Leave,
            room: "#lobby".into(),
            text: text.map(str::to_string),
            quit,
        })
    };
    assert_eq!(
        left(&mut rig, "Ann", Some("lunch time"), false),
        vec![":Ann!chatty@chatty PART #lobby :lunch time"]
    );
    ann_joins(&mut rig);
    assert_eq!(
        left(&mut rig, "Ann", Some("see you all"), true),
        vec![":Ann!chatty@chatty QUIT :see you all"]
    );
    // Formatting and control characters go; the limit is Chatty's.
    rig.lines(&[&format!("QUIT :\u{2}bold\u{2} {}", "x".repeat(400))]);
    let sent = rig.take_chatty();
    let [ClientMsg::Leave { text: Some(text) }] = &sent[..] else {
        panic!("{sent:?}");
    };
    assert!(text.starts_with("bold xxx"), "{text}");
    assert_eq!(text.len(), crate::protocol::MAX_REASON_BYTES);
}
