//! Every frame a chat client prints, in every room and as every party.

use super::*;
use crate::protocol::{Member, MessageId, RoomInfo, RoomState, ServerId, TopicInfo};

fn id() -> MessageId {
    MessageId {
        origin: ServerId::random(),
        seq: 1,
    }
}

fn server() -> ServerId {
    ServerId::from_bytes([0xab; 16])
}

fn one(msg: ServerMsg) -> String {
    let lines = render(&msg, "Leo");
    assert_eq!(lines.len(), 1, "{lines:?}");
    lines.into_iter().next().unwrap()
}

fn joined(room: &str) -> ServerMsg {
    ServerMsg::Joined {
        id: id(),
        name: "Leo".into(),
        server: server(),
        room: room.into(),
    }
}

fn left(room: &str, reason: LeaveReason) -> ServerMsg {
    ServerMsg::Left {
        id: id(),
        name: "Leo".into(),
        server: server(),
        reason,
        room: room.into(),
        text: None,
        quit: false,
    }
}

fn message(room: &str, text: &str, action: bool) -> ServerMsg {
    ServerMsg::Message {
        id: id(),
        from: "Leo".into(),
        text: text.into(),
        room: room.into(),
        action,
        cid: None,
    }
}

fn history(room: &str, text: &str, action: bool) -> ServerMsg {
    ServerMsg::History {
        id: id(),
        from: "Leo".into(),
        text: text.into(),
        room: room.into(),
        action,
        cid: None,
    }
}

fn private(from: &str, to: &str, text: &str, action: bool) -> ServerMsg {
    ServerMsg::Private {
        id: id(),
        from: from.into(),
        to: to.into(),
        text: text.into(),
        action,
        cid: None,
    }
}

#[test]
fn the_default_room_keeps_the_classic_lines() {
    assert_eq!(one(joined("#lobby")), "[JOIN] Leo joined the chat");
    assert_eq!(
        one(left("#lobby", LeaveReason::Leave)),
        "[LEAVE] Leo left the chat"
    );
    assert_eq!(
        one(left("#lobby", LeaveReason::ServerLost)),
        "[LEAVE] Leo left the chat (server lost)"
    );
    assert_eq!(one(message("#lobby", "hello", false)), "[Leo] hello");
    assert_eq!(
        one(history("#lobby", "before", false)),
        "[HISTORY] [Leo] before"
    );
    assert_eq!(
        one(message("#Lobby", "hi", false)),
        "[Leo] hi",
        "one room, any case"
    );
    assert!(render(&ServerMsg::Ping { nonce: 1 }, "Leo").is_empty());
}

#[test]
fn other_rooms_are_named_in_front() {
    assert_eq!(one(joined("#dev")), "[#dev] [JOIN] Leo joined");
    assert_eq!(
        one(left("#dev", LeaveReason::Leave)),
        "[#dev] [LEAVE] Leo left"
    );
    assert_eq!(
        one(left("#dev", LeaveReason::Disconnected)),
        "[#dev] [LEAVE] Leo left (connection lost)"
    );
    assert_eq!(one(message("#dev", "text", false)), "[#dev] [Leo] text");
    assert_eq!(
        one(history("#dev", "old", false)),
        "[#dev] [HISTORY] [Leo] old"
    );
}

#[test]
fn actions_are_starred() {
    assert_eq!(one(message("#lobby", "waves", true)), "* Leo waves");
    assert_eq!(one(message("#dev", "waves", true)), "[#dev] * Leo waves");
    assert_eq!(
        one(history("#lobby", "waved", true)),
        "[HISTORY] * Leo waved"
    );
    assert_eq!(
        one(private("Leo", "Ann", "winks", true)),
        "[PM to Ann] * Leo winks"
    );
}

#[test]
fn private_messages_say_which_way_they_went() {
    // Leo holds the name: his own echo is "to", anyone else's is "from".
    assert_eq!(
        one(private("Ann", "Leo", "psst", false)),
        "[PM from Ann] psst"
    );
    assert_eq!(one(private("Leo", "Ann", "hi", false)), "[PM to Ann] hi");
    assert_eq!(one(private("LEO", "Ann", "hi", false)), "[PM to Ann] hi");
}

#[test]
fn nick_changes_and_topics() {
    let nick = ServerMsg::Nick {
        id: id(),
        old: "Leo".into(),
        new: "Leonardo".into(),
        server: server(),
    };
    assert_eq!(one(nick), "[NICK] Leo is now Leonardo");
    let topic = |text: &str, by: &str| ServerMsg::Topic {
        room: "#dev".into(),
        text: text.into(),
        by: by.into(),
        at: 1,
    };
    assert_eq!(
        one(topic("release friday", "Leo")),
        "[TOPIC] #dev: release friday (set by Leo)"
    );
    assert_eq!(one(topic("", "")), "[TOPIC] #dev has no topic");
    assert_eq!(one(topic("", "Ann")), "[TOPIC] #dev: cleared by Ann");
}

#[test]
fn answers_are_tagged_lines() {
    let ann = Member {
        name: "Ann".into(),
        server: server(),
    };
    let state = RoomState {
        room: "#dev".into(),
        topic: Some(TopicInfo {
            text: "release friday".into(),
            by: "Bob".into(),
            at: 1,
        }),
        members: vec![ann.clone()],
        count: None,
    };
    assert_eq!(
        render(&ServerMsg::RoomState(state), "Leo"),
        [
            "[ROOM] #dev has 1 member: Ann",
            "[TOPIC] #dev: release friday (set by Bob)"
        ]
    );
    let empty = RoomState {
        room: "#new".into(),
        topic: None,
        members: Vec::new(),
        count: None,
    };
    assert_eq!(
        render(&ServerMsg::RoomState(empty), "Leo"),
        ["[ROOM] #new has 0 members"]
    );
    let who = ServerMsg::WhoReply {
        room: "#dev".into(),
        members: vec![
            ann.clone(),
            Member {
                name: "Leo".into(),
                server: server(),
            },
        ],
        count: None,
        next: None,
    };
    assert_eq!(
        render(&who, "Leo"),
        [
            "[WHO] #dev has 2 members",
            "[WHO] #dev: Ann on abababab",
            "[WHO] #dev: Leo on abababab"
        ]
    );
    let rooms = ServerMsg::RoomsReply {
        rooms: vec![
            RoomInfo {
                room: "#dev".into(),
                members: 3,
                topic: "release friday".into(),
            },
            RoomInfo {
                room: "#lobby".into(),
                members: 1,
                topic: String::new(),
            },
        ],
    };
    assert_eq!(
        render(&rooms, "Leo"),
        [
            "[ROOMS] 2 rooms",
            "[ROOMS] #dev: 3 members, topic: release friday",
            "[ROOMS] #lobby: 1 member"
        ]
    );
    let whois = |rooms: &[&str]| ServerMsg::WhoisReply {
        name: "Ann".into(),
        server: server(),
        rooms: rooms.iter().map(|r| r.to_string()).collect(),
    };
    assert_eq!(
        one(whois(&["#dev", "#lobby"])),
        "[WHOIS] Ann on abababab, in #dev, #lobby"
    );
    assert_eq!(one(whois(&[])), "[WHOIS] Ann on abababab, in no room");
}

#[test]
fn lines_typed_but_not_sent_say_where_they_go() {
    assert_eq!(
        pending(Place::Room("#lobby"), "Leo", "hi", false),
        "[PENDING] hi"
    );
    assert_eq!(
        pending(Place::Room("#dev"), "Leo", "hi", false),
        "[PENDING] [#dev] hi"
    );
    assert_eq!(
        pending(Place::Room("#dev"), "Leo", "waves", true),
        "[PENDING] [#dev] * Leo waves"
    );
    assert_eq!(
        pending(Place::To("Ann"), "Leo", "psst", false),
        "[PENDING] [PM to Ann] psst"
    );
}

#[test]
fn escape_sequences_are_neutralised_everywhere() {
    let evil = "a\u{1b}[2Jb\nc";
    assert_eq!(
        one(message("#lobby", evil, false)),
        "[Leo] a\u{fffd}[2Jb\u{fffd}c"
    );
    let frames = [
        message("#d\u{1b}v", evil, true),
        history("#dev", evil, false),
        private(evil, "Leo", evil, false),
        ServerMsg::Nick {
            id: id(),
            old: evil.into(),
            new: evil.into(),
            server: server(),
        },
        ServerMsg::Topic {
            room: evil.into(),
            text: evil.into(),
            by: evil.into(),
            at: 0,
        },
        ServerMsg::WhoReply {
            room: evil.into(),
            members: vec![Member {
                name: evil.into(),
                server: server(),
            }],
            count: None,
            next: None,
        },
        ServerMsg::RoomsReply {
            rooms: vec![RoomInfo {
                room: evil.into(),
                members: 1,
                topic: evil.into(),
            }],
        },
        ServerMsg::WhoisReply {
            name: evil.into(),
            server: server(),
            rooms: vec![evil.into()],
        },
        ServerMsg::RoomState(RoomState {
            room: evil.into(),
            topic: Some(TopicInfo {
                text: evil.into(),
                by: evil.into(),
                at: 0,
            }),
            members: vec![Member {
                name: evil.into(),
                server: server(),
            }],
            count: None,
        }),
    ];
    for frame in frames {
        for line in render(&frame, "Leo") {
            assert!(
                !line.chars().any(|c| c.is_control() && c != '\t'),
                "{line:?}"
            );
        }
    }
}

#[test]
fn help_lists_every_command() {
    let help = super::replies::help().join("\n");
    for command in [
        "/join", "/part", "/switch", "/msg", "/me", "/nick", "/topic", "/who", "/rooms", "/whois",
        "/quit", "exit", "//",
    ] {
        assert!(help.contains(command), "{command} missing from /help");
    }
}
