//! Translator unit tests: registration, the chat path, replies. Plain
//! `#[test]`s, no runtime: lines and frames in, outputs out.

use std::sync::Arc;

use crate::protocol::{
    ClientMsg, ErrorCode, LeaveReason, Member, MessageId, RoomState, ServerId, ServerMsg,
    StatusReport,
};

use super::super::away::{Board, Presence};
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
        lobby: true,
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
            t: Translator::new(gateway(), Board::default(), T0),
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
                Output::Chatty(msg) => self.chatty.push(msg),
                Output::Close => self.closed = true,
            }
        }
        let mut bytes = bytes::BytesMut::new();
        self.t.take_irc(&mut bytes);
        let text = String::from_utf8(bytes.to_vec()).expect("IRC output is UTF-8");
        assert!(
            text.is_empty() || text.ends_with("\r\n"),
            "whole lines: {text:?}"
        );
        for line in text.split_terminator("\r\n") {
            assert!(!line.contains(['\r', '\n']), "one line: {line:?}");
            assert!(
                line.len() + 2 <= 512 || line.starts_with('@'),
                "over 512: {line}"
            );
            self.irc.push(line.to_string());
        }
    }

    /// Another user of the gateway sets (or clears) their presence.
    pub fn tell(&mut self, name: &str, presence: Option<&Presence>) {
        let mut changes = self.t.board.subscribe();
        self.t.board.set(name, presence);
        let change = changes.try_recv().expect("the board tells");
        self.t.presence_changed(&change);
        self.drain();
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
        // As the shell does: encoded, then read back (the fast path for
        // messages and acks, serde for the rest).
        let frame = crate::protocol::encode_frame(&msg);
        self.t
            .chatty_frame(&frame[4..], T0)
            .expect("a frame this build reads");
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

#[test]
fn lines_during_the_burst_wait_for_its_end() {
    let mut rig = Rig::new();
    rig.lines(&["NICK Leo", "USER leo 0 * :Leo"]);
    rig.take_chatty();
    rig.frame(welcome("Leo"));
    assert!(
        rig.lines(&["PING :foo"]).is_empty(),
        "held until the burst is out"
    );
    let out = rig.frame(ServerMsg::StatusReply(status(&["Leo"])));
    assert_eq!(out.last().unwrap(), ":irc.test PONG irc.test :foo");
    assert!(has(&out, "366 Leo #lobby"));
}

#[test]
fn without_the_lobby_the_user_starts_in_no_channel() {
    let mut gw = (*gateway()).clone();
    gw.lobby = false;
    let mut rig = Rig {
        t: Translator::new(Arc::new(gw), Board::default(), T0),
        irc: vec![],
        chatty: vec![],
        closed: false,
        seq: 0,
    };
    rig.drain();
    rig.take_chatty();
    rig.lines(&["NICK Leo", "USER leo 0 * :Leo"]);
    rig.frame(welcome("Leo"));
    let id = rig.id();
    rig.frame(ServerMsg::History {
        id,
        from: "Ann".into(),
        room: "#lobby".into(),
        text: "old".into(),
        action: false,
        cid: None,
    });
    let out = rig.frame(ServerMsg::StatusReply(status(&["Leo"])));
    assert_eq!(
        commands(&out),
        vec!["251", "254", "255", "265", "266", "422"],
        "{out:?}"
    );
    assert_eq!(
        rig.take_chatty(),
        vec![
            ClientMsg::Join { name: "Leo".into() },
            ClientMsg::Status,
            ClientMsg::Part {
                room: "#lobby".into(),
                text: None
            }
        ]
    );
    let id = rig.id();
    assert!(rig
        .frame(ServerMsg::Message {
            id,
            from: "Ann".into(),
            room: "#lobby".into(),
            text: "x".into(),
            action: false,
            cid: None,
        })
        .is_empty());
    let id = rig.id();
    assert!(rig
        .frame(ServerMsg::Left {
            id,
            name: "Leo".into(),
            server: server(),
            reason: LeaveReason::Leave,
            room: "#lobby".into(),
            text: None,
            quit: false
        })
        .is_empty());
    assert_eq!(commands(&rig.lines(&["JOIN #lobby"])), Vec::<String>::new());
    assert_eq!(
        rig.take_chatty(),
        vec![ClientMsg::Enter {
            room: "#lobby".into()
        }]
    );
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
        web: vec![],
        seen: vec![],
        room: "#lobby".into(),
        rooms: vec![RoomState {
            room: "#lobby".into(),
            topic: None,
            members: vec![Member {
                name: name.into(),
                server: server(),
            }],
            count: None,
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
    assert_eq!(out, vec![":irc.test CAP * LS :away-notify batch chatty/no-replay draft/chathistory echo-message message-tags multi-prefix server-time"]);
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
    assert_eq!(out[6], ":Leo!leo@chatty JOIN #lobby");
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
    // A NICK while a join is under way is tried when that join fails.
    rig.lines(&["NICK Ann3", "NICK Ann2", "JOIN #dev"]);
    assert_eq!(
        rig.take_chatty(),
        vec![ClientMsg::Join {
            name: "Ann3".into()
        }]
    );
    let out = rig.frame(ServerMsg::Error {
        code: ErrorCode::NAME_TAKEN,
        text: "taken".into(),
        fatal: false,
        cid: None,
    });
    assert_eq!(
        out,
        vec![":irc.test 433 * Ann3 :Nickname is already in use"]
    );
    assert_eq!(
        rig.take_chatty(),
        vec![ClientMsg::Join {
            name: "Ann2".into()
        }]
    );
    let out = rig.frame(welcome("Ann2"));
    assert!(out[0].starts_with(":irc.test 001 Ann2 "));
    rig.take_chatty();
    rig.frame(ServerMsg::StatusReply(status(&["Ann2"])));
    // The JOIN sent before the welcome is handled after the burst.
    assert_eq!(
        rig.take_chatty(),
        vec![ClientMsg::Enter {
            room: "#dev".into()
        }]
    );
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
    assert_eq!(
        rig.take_chatty(),
        vec![ClientMsg::Leave {
            text: Some("gone fishing".into())
        }]
    );
    assert!(rig.closed);
    assert!(rig.lines(&["PRIVMSG #lobby :late"]).is_empty());
}
