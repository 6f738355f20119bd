//! Translator unit tests: the chat path (JOIN, PRIVMSG, NOTICE, PART,
//! NICK, TOPIC, QUIT of others, long lines) and how sessions end.

use crate::protocol::{ClientMsg, ErrorCode, LeaveReason, Member, RoomState, ServerMsg, TopicInfo};

use super::super::message::Message;
use super::tests::{commands, server, Rig};

#[test]
fn join_shows_topic_only_when_set_and_names_with_the_joiner() {
    let mut rig = Rig::registered("Leo", "");
    rig.lines(&["JOIN #dev,#ops"]);
    assert_eq!(
        rig.take_chatty(),
        vec![
            ClientMsg::Enter {
                room: "#dev".into()
            },
            ClientMsg::Enter {
                room: "#ops".into()
            }
        ]
    );
    let out = rig.frame(ServerMsg::RoomState(RoomState {
        room: "#dev".into(),
        topic: Some(TopicInfo {
            text: "release friday".into(),
            by: "Ann Lee".into(),
            at: 1_000_000,
        }),
        members: vec![Member {
            name: "Ann Lee".into(),
            server: server(),
        }],
        count: None,
    }));
    assert_eq!(
        out,
        vec![
            ":Leo!u@chatty JOIN #dev",
            ":irc.test 332 Leo #dev :release friday",
            ":irc.test 333 Leo #dev Ann^20^Lee 1000",
            ":irc.test 353 Leo = #dev :Ann^20^Lee Leo",
            ":irc.test 366 Leo #dev :End of /NAMES list",
        ]
    );
    let out = rig.frame(ServerMsg::RoomState(RoomState {
        room: "#ops".into(),
        topic: None,
        members: vec![],
        count: None,
    }));
    assert_eq!(commands(&out), vec!["JOIN", "353", "366"]);
    // Our own `joined` after room_state shows nothing more.
    let id = rig.id();
    assert!(rig
        .frame(ServerMsg::Joined {
            id,
            name: "Leo".into(),
            server: server(),
            room: "#dev".into()
        })
        .is_empty());
    assert!(rig.lines(&["JOIN #dev"]).is_empty(), "already there");
    assert!(rig.take_chatty().is_empty());
    assert_eq!(
        rig.lines(&["JOIN nochan"]),
        vec![":irc.test 403 Leo nochan :No such channel"]
    );
    assert_eq!(
        rig.lines(&["JOIN"]),
        vec![":irc.test 461 Leo JOIN :Not enough parameters"]
    );
    rig.lines(&["JOIN #full"]);
    rig.take_chatty();
    let out = rig.frame(ServerMsg::Error {
        code: ErrorCode::TOO_MANY_ROOMS,
        text: "cap".into(),
        fatal: false,
        cid: None,
    });
    assert_eq!(
        out,
        vec![":irc.test 405 Leo #full :You have joined too many channels"]
    );
}

#[test]
fn privmsg_to_a_room_and_its_echo() {
    let mut rig = Rig::registered("Leo", "echo-message");
    let out = rig.lines(&[
        "PRIVMSG #lobby :\u{2}hi\u{2} all",
        "NOTICE #lobby :\u{1}ACTION waves\u{1}",
    ]);
    assert!(out.is_empty());
    let sent = rig.take_chatty();
    assert_eq!(
        sent,
        vec![
            ClientMsg::Send {
                text: "hi all".into(),
                room: Some("#lobby".into()),
                action: false,
                cid: Some(1)
            },
            ClientMsg::Send {
                text: "waves".into(),
                room: Some("#lobby".into()),
                action: true,
                cid: Some(2)
            },
        ]
    );
    for (cid, text, action) in [(1, "hi all", false), (2, "waves", true)] {
        let id = rig.id();
        assert!(rig
            .frame(ServerMsg::Message {
                id,
                from: "Leo".into(),
                room: "#lobby".into(),
                text: text.into(),
                action,
                cid: None,
            })
            .is_empty());
        let out = rig.frame(ServerMsg::Ack { cid, id });
        let verb = if cid == 1 { "PRIVMSG" } else { "NOTICE" };
        let shown = if action {
            format!("\u{1}ACTION {text}\u{1}")
        } else {
            text.to_string()
        };
        assert_eq!(out, vec![format!(":Leo!u@chatty {verb} #lobby :{shown}")]);
    }
    // Without echo-message our own lines are not shown.
    let mut rig = Rig::registered("Leo", "");
    rig.lines(&["PRIVMSG #lobby :hi"]);
    let id = rig.id();
    assert!(rig
        .frame(ServerMsg::Message {
            id,
            from: "Leo".into(),
            room: "#lobby".into(),
            text: "hi".into(),
            action: false,
            cid: None,
        })
        .is_empty());
    assert!(rig.frame(ServerMsg::Ack { cid: 1, id }).is_empty());
}

#[test]
fn others_messages_actions_and_private_messages() {
    let mut rig = Rig::registered("Leo", "");
    let id = rig.id();
    let out = rig.frame(ServerMsg::Message {
        id,
        from: "Ann Lee".into(),
        room: "#lobby".into(),
        text: "hello".into(),
        action: false,
        cid: None,
    });
    assert_eq!(out, vec![":Ann^20^Lee!chatty@chatty PRIVMSG #lobby :hello"]);
    let id = rig.id();
    let out = rig.frame(ServerMsg::Message {
        id,
        from: "Ann".into(),
        room: "#lobby".into(),
        text: "waves".into(),
        action: true,
        cid: None,
    });
    assert_eq!(
        out,
        vec![":Ann!chatty@chatty PRIVMSG #lobby :\u{1}ACTION waves\u{1}"]
    );
    let id = rig.id();
    let out = rig.frame(ServerMsg::Private {
        id,
        from: "Ann".into(),
        to: "Leo".into(),
        text: "psst".into(),
        action: false,
        cid: None,
    });
    assert_eq!(out, vec![":Ann!chatty@chatty PRIVMSG Leo :psst"]);
    rig.lines(&[
        "PRIVMSG Ann^20^Lee :hi there",
        "PRIVMSG Ann :\u{1}ACTION winks\u{1}",
    ]);
    assert_eq!(
        rig.take_chatty(),
        vec![
            ClientMsg::Private {
                to: "Ann Lee".into(),
                text: "hi there".into(),
                cid: Some(1),
                action: false
            },
            ClientMsg::Private {
                to: "Ann".into(),
                text: "winks".into(),
                cid: Some(2),
                action: true
            },
        ]
    );
    let out = rig.frame(ServerMsg::Error {
        code: ErrorCode::NO_SUCH_NAME,
        text: "nobody".into(),
        fatal: false,
        cid: Some(1),
    });
    assert_eq!(
        out,
        vec![":irc.test 401 Leo Ann^20^Lee :No such nick/channel"]
    );
    // A message to oneself comes back at once, without Chatty.
    assert_eq!(
        rig.lines(&["PRIVMSG leo :me"]),
        vec![":Leo!u@chatty PRIVMSG Leo :me"]
    );
    assert!(rig.take_chatty().is_empty());
}

#[test]
fn privmsg_errors() {
    let mut rig = Rig::registered("Leo", "");
    assert_eq!(
        rig.lines(&["PRIVMSG"]),
        vec![":irc.test 411 Leo :No recipient given (PRIVMSG)"]
    );
    assert_eq!(
        rig.lines(&["PRIVMSG #lobby"]),
        vec![":irc.test 412 Leo :No text to send"]
    );
    assert_eq!(
        rig.lines(&["PRIVMSG #lobby :\u{2}\u{2}"]),
        vec![":irc.test 412 Leo :No text to send"]
    );
    assert_eq!(
        rig.lines(&["PRIVMSG nick! :x"]),
        vec![":irc.test 401 Leo nick! :No such nick/channel"]
    );
    rig.take_chatty();
    // Not in the room: asked whether it exists.
    assert!(rig.lines(&["PRIVMSG #elsewhere :x"]).is_empty());
    assert_eq!(
        rig.take_chatty(),
        vec![ClientMsg::Who {
            room: "#elsewhere".into(),
            after: None,
        }]
    );
    let out = rig.frame(ServerMsg::Error {
        code: ErrorCode::NO_SUCH_ROOM,
        text: "no".into(),
        fatal: false,
        cid: None,
    });
    assert_eq!(out, vec![":irc.test 403 Leo #elsewhere :No such channel"]);
    rig.lines(&["PRIVMSG #there :x"]);
    let out = rig.frame(ServerMsg::WhoReply {
        room: "#there".into(),
        members: vec![],
        count: None,
        next: None,
    });
    assert_eq!(
        out,
        vec![":irc.test 404 Leo #there :Cannot send to channel (you are not in it)"]
    );
    // NOTICE never gets an error.
    assert!(rig
        .lines(&[
            "NOTICE",
            "NOTICE #lobby",
            "NOTICE x! :y",
            "NOTICE #nowhere :z"
        ])
        .is_empty());
    rig.take_chatty();
    rig.lines(&["PRIVMSG #lobby :flood"]);
    let out = rig.frame(ServerMsg::Error {
        code: ErrorCode::RATE_LIMITED,
        text: "rate limited".into(),
        fatal: false,
        cid: Some(1),
    });
    assert_eq!(
        out,
        vec![":irc.test 263 Leo PRIVMSG :rate limited; message dropped"]
    );
    // CTCP other than ACTION stays on IRC.
    rig.take_chatty();
    rig.lines(&["PRIVMSG Ann :\u{1}VERSION\u{1}"]);
    assert!(rig.take_chatty().is_empty());
}

#[test]
fn long_messages_are_split_under_512_bytes() {
    let mut rig = Rig::registered("Leo", "message-tags server-time");
    let text = "word ".repeat(199) + "end";
    let id = rig.id();
    let out = rig.frame(ServerMsg::Message {
        id,
        from: "Ann".into(),
        room: "#lobby".into(),
        text: text.clone(),
        action: true,
        cid: None,
    });
    assert!(out.len() >= 2, "{out:?}");
    let mut joined = String::new();
    for line in &out {
        let msg = Message::parse(line).unwrap();
        let rest = line.split_once(' ').unwrap().1;
        assert!(rest.len() + 2 <= 512, "{} bytes", rest.len());
        let body = msg.params[1]
            .strip_prefix("\u{1}ACTION ")
            .unwrap()
            .strip_suffix('\u{1}')
            .unwrap();
        joined.push_str(body);
    }
    assert_eq!(joined, text);
}

#[test]
fn parts_quits_nicks_and_topics_of_others() {
    let mut rig = Rig::registered("Leo", "");
    rig.lines(&["JOIN #dev"]);
    rig.frame(ServerMsg::RoomState(RoomState {
        room: "#dev".into(),
        topic: None,
        members: vec![],
        count: None,
    }));
    for room in ["#lobby", "#dev"] {
        let id = rig.id();
        let out = rig.frame(ServerMsg::Joined {
            id,
            name: "Ann".into(),
            server: server(),
            room: room.into(),
        });
        assert_eq!(out, vec![format!(":Ann!chatty@chatty JOIN {room}")]);
    }
    let id = rig.id();
    let out = rig.frame(ServerMsg::Nick {
        id,
        old: "Ann".into(),
        new: "Anna".into(),
        server: server(),
    });
    assert_eq!(out, vec![":Ann!chatty@chatty NICK :Anna"]);
    let out = rig.frame(ServerMsg::Topic {
        room: "#dev".into(),
        text: "new topic".into(),
        by: "Anna".into(),
        at: 5,
    });
    assert_eq!(out, vec![":Anna!chatty@chatty TOPIC #dev :new topic"]);
    let id = rig.id();
    let out = rig.frame(ServerMsg::Left {
        id,
        name: "Anna".into(),
        server: server(),
        reason: LeaveReason::Leave,
        room: "#dev".into(),
        text: None,
        quit: false,
    });
    assert_eq!(out, vec![":Anna!chatty@chatty PART #dev"]);
    // A lost connection is one QUIT, however many rooms it is seen in.
    let id = rig.id();
    rig.frame(ServerMsg::Joined {
        id,
        name: "Bob".into(),
        server: server(),
        room: "#dev".into(),
    });
    let id = rig.id();
    rig.frame(ServerMsg::Joined {
        id,
        name: "Bob".into(),
        server: server(),
        room: "#lobby".into(),
    });
    let id = rig.id();
    let mut out = rig.frame(ServerMsg::Left {
        id,
        name: "Bob".into(),
        server: server(),
        reason: LeaveReason::ServerLost,
        room: "#dev".into(),
        text: None,
        quit: false,
    });
    out.extend(rig.frame(ServerMsg::Left {
        id,
        name: "Bob".into(),
        server: server(),
        reason: LeaveReason::ServerLost,
        room: "#lobby".into(),
        text: None,
        quit: false,
    }));
    assert_eq!(out, vec![":Bob!chatty@chatty QUIT :Quit: server lost"]);
    // Someone we share no room with changes name: nothing.
    let id = rig.id();
    assert!(rig
        .frame(ServerMsg::Nick {
            id,
            old: "Zed".into(),
            new: "Zee".into(),
            server: server()
        })
        .is_empty());
}
