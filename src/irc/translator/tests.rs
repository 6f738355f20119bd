//! Translator unit tests: registration, the chat path, replies. Plain
//! `#[test]`s, no runtime: lines and frames in, outputs out.

use std::sync::Arc;

use crate::protocol::{
    ClientMsg, ErrorCode, LeaveReason, Member, MessageId, RoomState, ServerId, ServerMsg,
    StatusReport, TopicInfo,
};

use super::super::message::Message;
use super::{GatewayInfo, Output, Translator};

pub(super) const T0: u64 = 1_796_126_400_000;

pub(super) fn server() -> ServerId {
    ServerId::from_bytes([1; 16])
}

pub(super) fn gateway() -> Arc<GatewayInfo> {
    Arc::new(GatewayInfo {
        server_name: "irc.test".into(),
        network: "Chatty".into(),
        server_id: server(),
        created: "today".into(),
        motd: vec![],
        keepalive_ms: 15_000,
        idle_timeout_ms: 45_000,
        lines_per_sec: 40.0,
        lines_burst: 80,
    })
}

/// A translator and everything it said so far.
pub(super) struct Rig {
    pub t: Translator,
    pub irc: Vec<String>,
    pub chatty: Vec<ClientMsg>,
    pub closed: bool,
    seq: u64,
}

impl Rig {
    pub fn new() -> Rig {
        let mut rig = Rig {
            t: Translator::new(gateway(), T0),
            irc: vec![],
            chatty: vec![],
            closed: false,
            seq: 0,
        };
        rig.drain();
        assert!(matches!(
            rig.chatty.remove(0),
            ClientMsg::Hello { version: 2, .. }
        ));
        rig
    }

    pub fn drain(&mut self) {
        while let Some(out) = self.t.poll() {
            match out {
                Output::Irc(line) => {
                    assert!(
                        line.len() + 2 <= 512 || line.starts_with('@'),
                        "over 512: {line}"
                    );
                    self.irc.push(line)
                }
                Output::Chatty(msg) => self.chatty.push(msg),
                Output::Close => self.closed = true,
            }
        }
    }

    /// Sends lines; returns the IRC lines they caused.
    pub fn lines(&mut self, lines: &[&str]) -> Vec<String> {
        let before = self.irc.len();
        for line in lines {
            self.t.irc_line(line, T0);
        }
        self.drain();
        self.irc[before..].to_vec()
    }

    /// Feeds a frame; returns the IRC lines it caused.
    pub fn frame(&mut self, msg: ServerMsg) -> Vec<String> {
        let before = self.irc.len();
        self.t.chatty(msg, T0);
        self.drain();
        self.irc[before..].to_vec()
    }

    pub fn take_chatty(&mut self) -> Vec<ClientMsg> {
        std::mem::take(&mut self.chatty)
    }

    pub fn id(&mut self) -> MessageId {
        self.seq += 1;
        MessageId {
            origin: server(),
            seq: self.seq,
        }
    }

    /// A registered rig named `nick`, with the caps asked for, in `#lobby`.
    pub fn registered(nick: &str, caps: &str) -> Rig {
        let mut rig = Rig::new();
        let mut lines = vec![
            "CAP LS 302".to_string(),
            format!("NICK {nick}"),
            "USER u 0 * :Real Name".into(),
        ];
        if !caps.is_empty() {
            lines.push(format!("CAP REQ :{caps}"));
        }
        lines.push("CAP END".into());
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        rig.lines(&refs);
        let name = super::super::names::from_nick(nick).unwrap();
        assert_eq!(
            rig.take_chatty(),
            vec![ClientMsg::Join { name: name.clone() }]
        );
        rig.frame(welcome(&name));
        assert_eq!(rig.take_chatty(), vec![ClientMsg::Status]);
        rig.frame(ServerMsg::StatusReply(status(&[&name])));
        rig.irc.clear();
        rig
    }
}

pub(super) fn welcome(name: &str) -> ServerMsg {
    ServerMsg::Welcome {
        server: server(),
        name: name.into(),
        members: vec![Member {
            name: name.into(),
            server: server(),
        }],
        servers: vec![],
        seen: vec![],
        room: "#lobby".into(),
        rooms: vec![RoomState {
            room: "#lobby".into(),
            topic: None,
            members: vec![Member {
                name: name.into(),
                server: server(),
            }],
        }],
    }
}

pub(super) fn status(names: &[&str]) -> StatusReport {
    StatusReport {
        id: server(),
        servers: vec![],
        members: names
            .iter()
            .map(|n| Member {
                name: n.to_string(),
                server: server(),
            })
            .collect(),
        counters: Default::default(),
        rooms: vec![],
    }
}

pub(super) fn commands(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|l| Message::parse(l).unwrap().command)
        .collect()
}

pub(super) fn has(lines: &[String], needle: &str) -> bool {
    lines.iter().any(|l| l.contains(needle))
}

#[test]
fn registration_waits_for_cap_end() {
    let mut rig = Rig::new();
    let out = rig.lines(&["CAP LS 302", "NICK Leo", "USER leo 0 * :Leo"]);
    assert_eq!(out, vec![":irc.test CAP * LS :away-notify batch draft/chathistory echo-message message-tags multi-prefix server-time"]);
    assert!(rig.take_chatty().is_empty(), "no join while CAP is open");
    rig.lines(&["CAP REQ :server-time echo-message"]);
    assert_eq!(
        rig.irc.last().unwrap(),
        ":irc.test CAP * ACK :server-time echo-message"
    );
    rig.lines(&["CAP END"]);
    assert_eq!(
        rig.take_chatty(),
        vec![ClientMsg::Join { name: "Leo".into() }]
    );
    let out = rig.frame(welcome("Leo"));
    assert_eq!(
        commands(&out),
        vec!["001", "002", "003", "004", "005", "005"]
    );
    assert!(out[0].starts_with(":irc.test 001 Leo :Welcome"));
    assert!(
        has(&out, "CHANTYPES=#") && has(&out, "CASEMAPPING=ascii") && has(&out, "PREFIX=(ov)@+")
    );
    // Events before the status answer wait for the burst to finish.
    let id = rig.id();
    assert!(rig
        .frame(ServerMsg::Joined {
            id,
            name: "Ann".into(),
            server: server(),
            room: "#lobby".into()
        })
        .is_empty());
    let out = rig.frame(ServerMsg::StatusReply(status(&["Leo", "Ann"])));
    assert_eq!(
        commands(&out),
        vec!["251", "254", "255", "265", "266", "422", "JOIN", "353", "366", "JOIN"]
    );
    assert_eq!(out[6], ":Leo!chatty@chatty JOIN #lobby");
    assert_eq!(out[7], ":irc.test 353 Leo = #lobby :Leo");
    assert_eq!(out[9], ":Ann!chatty@chatty JOIN #lobby");
}

#[test]
fn registration_without_cap_and_nick_errors() {
    let mut rig = Rig::new();
    assert_eq!(
        rig.lines(&["NICK"]),
        vec![":irc.test 431 * :No nickname given"]
    );
    assert_eq!(
        rig.lines(&["NICK a,b"]),
        vec![":irc.test 432 * a,b :Erroneous nickname"]
    );
    assert_eq!(
        rig.lines(&["JOIN #x"]),
        vec![":irc.test 451 * :You have not registered"]
    );
    rig.lines(&["NICK Ann", "USER a 0 * :A"]);
    assert_eq!(
        rig.take_chatty(),
        vec![ClientMsg::Join { name: "Ann".into() }]
    );
    let out = rig.frame(ServerMsg::Error {
        code: ErrorCode::NAME_TAKEN,
        text: "taken".into(),
        fatal: false,
        cid: None,
    });
    assert_eq!(out, vec![":irc.test 433 * Ann :Nickname is already in use"]);
    rig.lines(&["NICK Ann2"]);
    assert_eq!(
        rig.take_chatty(),
        vec![ClientMsg::Join {
            name: "Ann2".into()
        }]
    );
    let out = rig.frame(welcome("Ann2"));
    assert!(out[0].starts_with(":irc.test 001 Ann2 "));
    assert_eq!(
        rig.lines(&["USER a 0 * :A"]),
        vec![":irc.test 462 Ann2 :You may not reregister"]
    );
}

#[test]
fn cap_nak_list_and_bad_subcommand() {
    let mut rig = Rig::new();
    rig.lines(&["CAP LS"]);
    assert_eq!(
        rig.lines(&["CAP REQ :server-time sasl"]),
        vec![":irc.test CAP * NAK :server-time sasl"]
    );
    assert_eq!(
        rig.lines(&["CAP REQ :-echo-message message-tags"]),
        vec![":irc.test CAP * ACK :-echo-message message-tags"]
    );
    assert_eq!(
        rig.lines(&["CAP LIST"]),
        vec![":irc.test CAP * LIST :message-tags"]
    );
    assert_eq!(
        rig.lines(&["CAP FOO"]),
        vec![":irc.test 410 * FOO :Invalid CAP command"]
    );
}

#[test]
fn ping_pong_both_ways_and_timeout() {
    let mut rig = Rig::registered("Leo", "");
    assert_eq!(
        rig.lines(&["PING :abc def"]),
        vec![":irc.test PONG irc.test :abc def"]
    );
    assert_eq!(
        rig.lines(&["PING"]),
        vec![":irc.test 461 Leo PING :Not enough parameters"]
    );
    rig.irc.clear();
    rig.t.tick(T0 + 14_000);
    rig.drain();
    assert!(rig.irc.is_empty());
    rig.t.tick(T0 + 15_000);
    rig.drain();
    assert_eq!(rig.irc.last().unwrap(), "PING :irc.test");
    rig.t.tick(T0 + 44_000);
    rig.drain();
    assert!(!rig.closed);
    rig.t.tick(T0 + 45_000);
    rig.drain();
    assert!(rig.closed);
    assert!(rig
        .irc
        .last()
        .unwrap()
        .starts_with("ERROR :Closing link: Ping timeout"));
    // Chatty's own keepalive is answered.
    let mut rig = Rig::registered("Leo", "");
    rig.frame(ServerMsg::Ping { nonce: 7 });
    assert_eq!(rig.take_chatty(), vec![ClientMsg::Pong { nonce: 7 }]);
}

#[test]
fn quit_leaves_and_says_error() {
    let mut rig = Rig::registered("Leo", "");
    let out = rig.lines(&["QUIT :gone fishing"]);
    assert_eq!(out, vec!["ERROR :Closing link: Quit: gone fishing"]);
    assert_eq!(rig.take_chatty(), vec![ClientMsg::Leave]);
    assert!(rig.closed);
    assert!(rig.lines(&["PRIVMSG #lobby :late"]).is_empty());
}

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
    }));
    assert_eq!(
        out,
        vec![
            ":Leo!chatty@chatty JOIN #dev",
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
                action
            })
            .is_empty());
        let out = rig.frame(ServerMsg::Ack { cid, id });
        let verb = if cid == 1 { "PRIVMSG" } else { "NOTICE" };
        let shown = if action {
            format!("\u{1}ACTION {text}\u{1}")
        } else {
            text.to_string()
        };
        assert_eq!(
            out,
            vec![format!(":Leo!chatty@chatty {verb} #lobby :{shown}")]
        );
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
            action: false
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
    });
    assert_eq!(out, vec![":Ann^20^Lee!chatty@chatty PRIVMSG #lobby :hello"]);
    let id = rig.id();
    let out = rig.frame(ServerMsg::Message {
        id,
        from: "Ann".into(),
        room: "#lobby".into(),
        text: "waves".into(),
        action: true,
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
        vec![":Leo!chatty@chatty PRIVMSG Leo :me"]
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
            room: "#elsewhere".into()
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
    });
    out.extend(rig.frame(ServerMsg::Left {
        id,
        name: "Bob".into(),
        server: server(),
        reason: LeaveReason::ServerLost,
        room: "#lobby".into(),
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

#[test]
fn our_part_nick_and_topic() {
    let mut rig = Rig::registered("Leo", "");
    rig.lines(&["PART #lobby :bye now"]);
    assert_eq!(
        rig.take_chatty(),
        vec![ClientMsg::Part {
            room: "#lobby".into()
        }]
    );
    let id = rig.id();
    let out = rig.frame(ServerMsg::Left {
        id,
        name: "Leo".into(),
        server: server(),
        reason: LeaveReason::Leave,
        room: "#lobby".into(),
    });
    assert_eq!(out, vec![":Leo!chatty@chatty PART #lobby :bye now"]);
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
    assert_eq!(out, vec![":Leo!chatty@chatty NICK :Leonardo"]);
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
    assert_eq!(out, vec![":Leonardo!chatty@chatty TOPIC #dev :red topic"]);
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
