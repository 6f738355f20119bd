//! Registration: CAP negotiation (held open until `CAP END`), NICK, USER
//! and PASS; the Chatty `join` once all are in; and the burst that follows
//! the welcome: 001–005, LUSERS, the MOTD and `#lobby`.

use crate::protocol::{
    ClientMsg, RoomState, StatusReport, LOBBY, MAX_NAME_CHARS, MAX_ROOM_CHARS, MAX_TOPIC_BYTES,
};

use super::super::message::Message;
use super::super::names::{from_nick, to_nick};
use super::{Pending, Translator, CAPS};

/// Longest nick the mapping can write for a Chatty name of 32 characters
/// of which every one is escaped (`^10ffff^`): the longest NICK read.
/// (ISUPPORT NICKLEN says 32, what a plain ASCII nick may be.)
pub(super) const NICKLEN: usize = MAX_NAME_CHARS * 8;

impl Translator {
    /// `CAP` in any state.
    pub(super) fn cap(&mut self, msg: &Message) {
        let Some(sub) = msg.param(0).map(str::to_ascii_uppercase) else {
            return self.numeric("461", &["CAP", "Not enough parameters"]);
        };
        let target = if self.registered {
            self.nick.clone().unwrap_or_else(|| "*".into())
        } else {
            "*".to_string()
        };
        let server = self.gw.server_name.clone();
        match sub.as_str() {
            "LS" => {
                if !self.registered {
                    self.cap_open = true;
                }
                self.raw(Some(&server), "CAP", &[&target, "LS", &CAPS.join(" ")]);
            }
            "LIST" => {
                let list = self.caps.list().join(" ");
                self.raw(Some(&server), "CAP", &[&target, "LIST", &list]);
            }
            "REQ" => {
                if !self.registered {
                    self.cap_open = true;
                }
                let asked = msg.param(1).unwrap_or("").to_string();
                let mut next = self.caps;
                let ok = asked.split(' ').filter(|c| !c.is_empty()).all(|cap| {
                    let (on, name) = match cap.strip_prefix('-') {
                        Some(name) => (false, name),
                        None => (true, cap),
                    };
                    next.set(name, on)
                });
                if ok && !asked.trim().is_empty() {
                    self.caps = next;
                    self.raw(Some(&server), "CAP", &[&target, "ACK", &asked]);
                } else {
                    self.raw(Some(&server), "CAP", &[&target, "NAK", &asked]);
                }
            }
            "END" => {
                if !self.registered {
                    self.cap_open = false;
                    self.try_register();
                }
            }
            _ => self.numeric("410", &[&sub, "Invalid CAP command"]),
        }
    }

    /// `NICK` before registration: remembered; registration may go ahead.
    pub(super) fn nick_before_welcome(&mut self, msg: &Message) {
        let Some(nick) = msg.param(0).filter(|n| !n.is_empty()) else {
            return self.numeric("431", &["No nickname given"]);
        };
        if from_nick(nick).is_none() || nick.len() > NICKLEN {
            return self.numeric("432", &[nick, "Erroneous nickname"]);
        }
        self.nick = Some(nick.to_string());
        self.presence_version += 1;
        self.try_register();
    }

    /// `USER <user> <mode> <unused> <realname>`.
    pub(super) fn user(&mut self, msg: &Message) {
        if self.registered || self.user.is_some() {
            return self.numeric("462", &["You may not reregister"]);
        }
        if msg.params.len() < 4 || msg.params[0].is_empty() {
            return self.numeric("461", &["USER", "Not enough parameters"]);
        }
        let user: String = msg.params[0].chars().take(16).collect();
        self.user = Some((user, msg.params[3].clone()));
        self.presence_version += 1;
        self.try_register();
    }

    /// Sends the Chatty `join` when NICK and USER are in and CAP is closed.
    pub(super) fn try_register(&mut self) {
        if self.registered
            || self.cap_open
            || self.user.is_none()
            || self
                .pending
                .iter()
                .any(|p| matches!(p, Pending::Join { .. }))
        {
            return;
        }
        let Some(name) = self.nick.as_deref().and_then(from_nick) else {
            return;
        };
        let nick = self.nick.clone().unwrap_or_default();
        self.chatty_out(ClientMsg::Join { name });
        self.pending.push_back(Pending::Join { nick });
    }

    /// The Chatty `welcome`: 001–005 now, the rest once `status` answers.
    pub(super) fn welcomed(
        &mut self,
        name: String,
        rooms: Vec<RoomState>,
        members: Vec<crate::protocol::Member>,
    ) {
        let nick = to_nick(&name);
        self.nick = Some(nick.clone());
        self.registered = true;
        self.presence_version += 1;
        self.held = Some(Vec::new());
        self.lobby = Some(Box::new(rooms.into_iter().next().unwrap_or(RoomState {
            room: LOBBY.to_string(),
            topic: None,
            members,
            count: None,
        })));
        let gw = self.gw.clone();
        let me = self.me();
        self.numeric(
            "001",
            &[&format!("Welcome to the {} IRC Network, {me}", gw.network)],
        );
        let version = concat!("chatty-", env!("CARGO_PKG_VERSION"));
        self.numeric(
            "002",
            &[&format!(
                "Your host is {}, running version {version}",
                gw.server_name
            )],
        );
        self.numeric("003", &[&format!("This server was created {}", gw.created)]);
        let mut msg = Message::new("004", &[&nick, &gw.server_name, version, "i", "bn"]);
        msg.source = Some(gw.server_name.clone());
        self.send(msg);
        for tokens in isupport(&gw.network).chunks(12) {
            let mut params: Vec<&str> = tokens.iter().map(String::as_str).collect();
            params.push("are supported by this server");
            self.numeric("005", &params);
        }
        self.chatty_out(ClientMsg::Status);
        self.pending
            .push_back(Pending::Status { lusers_only: false });
    }

    /// The `status_reply` of the burst (or of LUSERS).
    pub(super) fn status_answered(&mut self, report: StatusReport, lusers_only: bool) {
        let users = report.members.len().to_string();
        let servers = report.servers.len().max(1).to_string();
        let channels = report.rooms.len().to_string();
        let here = report
            .members
            .iter()
            .filter(|m| m.server == self.gw.server_id)
            .count()
            .to_string();
        self.numeric(
            "251",
            &[&format!(
                "There are {users} users and 0 invisible on {servers} servers"
            )],
        );
        self.numeric("254", &[&channels, "channels formed"]);
        self.numeric(
            "255",
            &[&format!("I have {here} clients and {servers} servers")],
        );
        self.numeric(
            "265",
            &[
                &here,
                &here,
                &format!("Current local users {here}, max {here}"),
            ],
        );
        self.numeric(
            "266",
            &[
                &users,
                &users,
                &format!("Current global users {users}, max {users}"),
            ],
        );
        if lusers_only {
            return;
        }
        self.motd();
        match self.lobby.take() {
            Some(lobby) if self.gw.lobby => self.show_room(*lobby),
            _ => {
                // IRC-style start: in no channel (the Part's answer is silent).
                self.chatty_out(ClientMsg::Part {
                    room: LOBBY.to_string(),
                    text: None,
                });
                self.pending.push_back(Pending::Part {
                    room: LOBBY.to_string(),
                    reason: None,
                });
            }
        }
        for (frame, at) in self.held.take().unwrap_or_default() {
            self.chatty(frame, at);
        }
        for (line, at) in std::mem::take(&mut self.held_lines) {
            self.route_line(&line, at);
        }
    }

    /// The MOTD, or 422.
    pub(super) fn motd(&mut self) {
        let gw = self.gw.clone();
        if gw.motd.is_empty() {
            return self.numeric("422", &["MOTD File is missing"]);
        }
        self.numeric(
            "375",
            &[&format!("- {} Message of the day - ", gw.server_name)],
        );
        for line in &gw.motd {
            self.numeric("372", &[&format!("- {line}")]);
        }
        self.numeric("376", &["End of /MOTD command."]);
    }
}

/// The ISUPPORT tokens (IRC.md lists what each means here).
pub(super) fn isupport(network: &str) -> Vec<String> {
    vec![
        "AWAYLEN=390".into(),
        "CASEMAPPING=ascii".into(),
        "CHANLIMIT=#:32".into(),
        format!("CHANNELLEN={MAX_ROOM_CHARS}"),
        "CHANMODES=b,,,n".into(),
        "CHANTYPES=#".into(),
        "CHATHISTORY=100".into(),
        "MSGREFTYPES=msgid,timestamp".into(),
        format!("NETWORK={network}"),
        format!("NICKLEN={MAX_NAME_CHARS}"),
        "PREFIX=(ov)@+".into(),
        "TARGMAX=PRIVMSG:4,NOTICE:4,JOIN:32,PART:32,NAMES:1,WHOIS:1,LIST:32".into(),
        format!("TOPICLEN={MAX_TOPIC_BYTES}"),
        "USERLEN=16".into(),
    ]
}
