//! Chatty frames to IRC: events become JOIN, PART, QUIT, NICK, TOPIC and
//! PRIVMSG lines; answers are matched to the request waiting for them.

use crate::protocol::validate::name_key;
use crate::protocol::{
    ClientMsg, ErrorCode, LeaveReason, MessageId, RoomState, ServerMsg, StatusReport,
};

use super::super::message::Message;
use super::super::names::to_nick;
use super::super::text::{split, timestamp, MAX_LINE};
use super::history::Entry;
use super::{source_of, Channel, Pending, Translator, WhoFor, WhoisFor};

/// A chat line to show: who, where, what.
pub(super) struct Line<'a> {
    pub id: MessageId,
    pub from: &'a str,
    pub target: &'a str,
    pub text: &'a str,
    pub action: bool,
    pub at: Option<u64>,
    pub verb: &'a str,
    pub batch: Option<&'a str>,
}

impl Translator {
    /// One frame from the Chatty session, at `now`.
    pub fn chatty(&mut self, msg: ServerMsg, now: u64) {
        if self.closed {
            return;
        }
        if let Some(held) = self.held.as_mut() {
            let urgent = matches!(
                msg,
                ServerMsg::StatusReply(_)
                    | ServerMsg::Error { .. }
                    | ServerMsg::Shutdown { .. }
                    | ServerMsg::Ping { .. }
            );
            if !urgent {
                held.push((msg, now));
                return;
            }
        }
        if !matches!(msg, ServerMsg::Ack { .. }) {
            self.flush_echo(None);
        }
        match msg {
            ServerMsg::Hello { .. } | ServerMsg::Pong { .. } | ServerMsg::Servers { .. } => {}
            ServerMsg::Ping { nonce } => self.chatty_out(ClientMsg::Pong { nonce }),
            ServerMsg::Welcome {
                name,
                rooms,
                members,
                ..
            } => {
                if matches!(self.pending.front(), Some(Pending::Join)) {
                    self.pending.pop_front();
                }
                self.welcomed(name, rooms, members);
            }
            ServerMsg::Error {
                code,
                text,
                fatal,
                cid,
            } => self.refused(code, &text, fatal, cid),
            ServerMsg::StatusReply(report) => {
                if let Some(Pending::Status { lusers_only }) = self.pending.front().cloned() {
                    self.pending.pop_front();
                    self.status_answered(report, lusers_only);
                }
            }
            ServerMsg::RoomState(state) => {
                if matches!(self.pending.front(), Some(Pending::Enter { .. })) {
                    self.pending.pop_front();
                }
                self.show_room(state);
            }
            ServerMsg::History {
                id,
                from,
                room,
                text,
                action,
            } => {
                let fresh = self.history.record(
                    &room,
                    Entry {
                        id,
                        at: None,
                        from: from.clone(),
                        text: text.clone(),
                        action,
                    },
                );
                if fresh && !self.caps.chathistory {
                    let nick = to_nick(&from);
                    self.show_line(&Line {
                        id,
                        from: &nick,
                        target: &room,
                        text: &text,
                        action,
                        at: None,
                        verb: "PRIVMSG",
                        batch: None,
                    });
                }
            }
            ServerMsg::Message {
                id,
                from,
                room,
                text,
                action,
            } => {
                self.history.record(
                    &room,
                    Entry {
                        id,
                        at: Some(now),
                        from: from.clone(),
                        text: text.clone(),
                        action,
                    },
                );
                let nick = to_nick(&from);
                if self.is_me(&from) {
                    if self.caps.echo_message {
                        self.held_echo = Some(ServerMsg::Message {
                            id,
                            from,
                            room,
                            text,
                            action,
                        });
                    }
                    return;
                }
                let room = self.shown_room(&room);
                self.show_line(&Line {
                    id,
                    from: &nick,
                    target: &room,
                    text: &text,
                    action,
                    at: Some(now),
                    verb: "PRIVMSG",
                    batch: None,
                });
            }
            ServerMsg::Private {
                id,
                from,
                to,
                text,
                action,
            } => {
                if self.is_me(&from) {
                    if self.caps.echo_message {
                        self.held_echo = Some(ServerMsg::Private {
                            id,
                            from,
                            to,
                            text,
                            action,
                        });
                    }
                    return;
                }
                let nick = to_nick(&from);
                let me = self.nick.clone().unwrap_or_default();
                self.show_line(&Line {
                    id,
                    from: &nick,
                    target: &me,
                    text: &text,
                    action,
                    at: Some(now),
                    verb: "PRIVMSG",
                    batch: None,
                });
            }
            ServerMsg::Ack { cid, .. } => {
                let pos = self
                    .pending
                    .iter()
                    .position(|p| matches!(p, Pending::Say { cid: c, .. } if *c == cid));
                let notice = pos
                    .and_then(|i| self.pending.remove(i))
                    .is_some_and(|p| matches!(p, Pending::Say { notice: true, .. }));
                self.flush_echo(Some(if notice { "NOTICE" } else { "PRIVMSG" }));
            }
            ServerMsg::Joined {
                name, server, room, ..
            } => self.member_joined(name, server, room),
            ServerMsg::Left {
                id,
                name,
                room,
                reason,
                ..
            } => self.member_left(id, &name, &room, reason),
            ServerMsg::Nick {
                old, new, server, ..
            } => self.renamed(&old, &new, server),
            ServerMsg::Topic { room, text, by, at } => self.topic_frame(room, text, by, at),
            ServerMsg::WhoReply { room, members } => self.who_answered(room, members),
            ServerMsg::RoomsReply { rooms } => self.rooms_answered(rooms),
            ServerMsg::WhoisReply {
                name,
                server,
                rooms,
            } => self.whois_answered(name, server, rooms),
            ServerMsg::Notice { text } => {
                let server = self.gw.server_name.clone();
                let nick = self.nick.clone().unwrap_or_else(|| "*".into());
                self.raw(Some(&server), "NOTICE", &[&nick, &text]);
            }
            ServerMsg::Shutdown { reason, servers } => {
                let also = if servers.is_empty() {
                    String::new()
                } else {
                    format!(" (other servers: {})", servers.join(" "))
                };
                self.close(&format!("{reason}{also}"));
            }
        }
    }

    fn is_me(&self, name: &str) -> bool {
        self.nick_key().is_some_and(|k| k == name_key(name))
    }

    /// A room's name as this connection shows it (as it joined it).
    fn shown_room(&self, room: &str) -> String {
        self.channels
            .get(&name_key(room))
            .map_or_else(|| room.to_string(), |c| c.name.clone())
    }

    /// Echoes our own held line (echo-message), with the verb it was sent as.
    fn flush_echo(&mut self, verb: Option<&str>) {
        let Some(held) = self.held_echo.take() else {
            return;
        };
        let me = self.nick.clone().unwrap_or_default();
        let verb = verb.unwrap_or("PRIVMSG");
        match held {
            ServerMsg::Message {
                id,
                room,
                text,
                action,
                ..
            } => {
                let room = self.shown_room(&room);
                self.show_line(&Line {
                    id,
                    from: &me,
                    target: &room,
                    text: &text,
                    action,
                    at: Some(self.last_heard),
                    verb,
                    batch: None,
                });
            }
            ServerMsg::Private {
                id,
                to,
                text,
                action,
                ..
            } => {
                let to = to_nick(&to);
                self.show_line(&Line {
                    id,
                    from: &me,
                    target: &to,
                    text: &text,
                    action,
                    at: Some(self.last_heard),
                    verb,
                    batch: None,
                });
            }
            _ => {}
        }
    }

    /// A chat line, split to fit IRC's 512 bytes.
    pub(super) fn show_line(&mut self, line: &Line) {
        let source = source_of(line.from);
        let head = format!(":{source} {} {} :", line.verb, line.target).len();
        let extra = if line.action { 9 } else { 0 };
        let budget = MAX_LINE.saturating_sub(2 + head + extra);
        for (part, piece) in split(line.text, budget).into_iter().enumerate() {
            let mut msg = Message::new(
                line.verb,
                &[
                    line.target,
                    &if line.action {
                        format!("\u{1}ACTION {piece}\u{1}")
                    } else {
                        piece.to_string()
                    },
                ],
            );
            msg.source = Some(source.clone());
            if let Some(batch) = line.batch {
                msg.tags.push(("batch".into(), batch.into()));
            }
            if self.caps.message_tags {
                msg.tags.push(("msgid".into(), msgid(line.id, part)));
            }
            if let (true, Some(at)) = (self.caps.server_time, line.at) {
                msg.tags.push(("time".into(), timestamp(at)));
            }
            self.send(msg);
        }
    }

    /// We are in `state.room`: JOIN, topic, NAMES.
    pub(super) fn show_room(&mut self, state: RoomState) {
        let key = name_key(&state.room);
        let mut members: std::collections::BTreeMap<_, _> = state
            .members
            .into_iter()
            .map(|m| (name_key(&m.name), (m.name, m.server)))
            .collect();
        if let Some(nick) = self.nick.clone() {
            if let Some(name) = super::super::names::from_nick(&nick) {
                members
                    .entry(name_key(&name))
                    .or_insert((name, self.gw.server_id));
            }
        }
        let channel = Channel {
            name: state.room.clone(),
            members,
            topic: state.topic,
        };
        let fresh = !self.channels.contains_key(&key);
        self.channels.insert(key, channel.clone());
        if fresh {
            let me = self.me();
            self.raw_bare(Some(&me), "JOIN", &[&channel.name]);
            if channel.topic.as_ref().is_some_and(|t| !t.text.is_empty()) {
                self.topic_reply(&channel.name, channel.topic.as_ref());
            }
        }
        let names: Vec<String> = channel.members.values().map(|(n, _)| to_nick(n)).collect();
        self.names_reply(&channel.name, &names);
    }

    fn member_joined(&mut self, name: String, server: crate::protocol::ServerId, room: String) {
        let key = name_key(&room);
        let who = name_key(&name);
        if self.is_me(&name) {
            return; // shown when `room_state` came
        }
        let Some(channel) = self.channels.get_mut(&key) else {
            return;
        };
        if channel
            .members
            .insert(who.clone(), (name.clone(), server))
            .is_some()
        {
            return;
        }
        let shown = channel.name.clone();
        let source = source_of(&to_nick(&name));
        self.raw_bare(Some(&source), "JOIN", &[&shown]);
        if self.caps.away_notify {
            if let Some(away) = self.others_away.get(&who).cloned() {
                self.raw(Some(&source), "AWAY", &[&away]);
            }
        }
    }

    fn member_left(&mut self, id: MessageId, name: &str, room: &str, reason: LeaveReason) {
        let key = name_key(room);
        let who = name_key(name);
        if self.is_me(name) {
            let our_reason = match self.pending.front() {
                Some(Pending::Part {
                    room: asked,
                    reason,
                }) if name_key(asked) == key => {
                    let reason = reason.clone();
                    self.pending.pop_front();
                    reason
                }
                _ if reason == LeaveReason::NameConflict => {
                    return self.close("Nick collision: someone on another server took this name at the same moment");
                }
                _ => None,
            };
            if let Some(channel) = self.channels.remove(&key) {
                let me = self.me();
                match our_reason {
                    Some(r) => self.raw(Some(&me), "PART", &[&channel.name, &r]),
                    None => self.raw_bare(Some(&me), "PART", &[&channel.name]),
                }
            }
            return;
        }
        let source = source_of(&to_nick(name));
        if reason == LeaveReason::Leave {
            if let Some(channel) = self.channels.get_mut(&key) {
                if channel.members.remove(&who).is_some() {
                    let shown = channel.name.clone();
                    self.raw_bare(Some(&source), "PART", &[&shown]);
                }
            }
            return;
        }
        // Any other reason ends the member's session: one QUIT for all rooms.
        let mut was_here = false;
        for channel in self.channels.values_mut() {
            was_here |= channel.members.remove(&who).is_some();
        }
        let repeat = self
            .last_quit
            .as_ref()
            .is_some_and(|(i, k)| *i == id && *k == who && id.seq != 0);
        if was_here && !repeat {
            let text = reason.describe().unwrap_or("left");
            self.raw(Some(&source), "QUIT", &[&format!("Quit: {text}")]);
        }
        self.last_quit = Some((id, who));
    }

    fn renamed(&mut self, old: &str, new: &str, server: crate::protocol::ServerId) {
        let (old_key, new_key) = (name_key(old), name_key(new));
        let source = source_of(&to_nick(old));
        let new_nick = to_nick(new);
        if self.is_me(old) {
            if matches!(self.pending.front(), Some(Pending::Nick { .. })) {
                self.pending.pop_front();
            }
            self.nick = Some(new_nick.clone());
        } else if !self.shares_room(&old_key) {
            return;
        }
        for channel in self.channels.values_mut() {
            if channel.members.remove(&old_key).is_some() {
                channel
                    .members
                    .insert(new_key.clone(), (new.to_string(), server));
            }
        }
        if let Some(away) = self.others_away.remove(&old_key) {
            self.others_away.insert(new_key, away);
        }
        self.raw(Some(&source), "NICK", &[&new_nick]);
    }

    fn topic_frame(&mut self, room: String, text: String, by: String, at: u64) {
        let key = name_key(&room);
        if let Some(Pending::TopicAsk { room: asked }) = self.pending.front() {
            if name_key(asked) == key {
                self.pending.pop_front();
                let topic = crate::protocol::TopicInfo { text, by, at };
                return self.topic_reply(&room, Some(&topic));
            }
        }
        if matches!(self.pending.front(), Some(Pending::TopicSet)) {
            self.pending.pop_front();
        }
        let Some(channel) = self.channels.get_mut(&key) else {
            return;
        };
        channel.topic = Some(crate::protocol::TopicInfo {
            text: text.clone(),
            by: by.clone(),
            at,
        });
        let shown = channel.name.clone();
        let source = source_of(&to_nick(&by));
        self.raw(Some(&source), "TOPIC", &[&shown, &text]);
    }

    /// A refusal from Chatty, matched to the request it answers.
    fn refused(&mut self, code: ErrorCode, text: &str, fatal: bool, cid: Option<u64>) {
        if fatal {
            return self.close(text);
        }
        let pending = match cid {
            Some(cid) => self
                .pending
                .iter()
                .position(|p| matches!(p, Pending::Say { cid: c, .. } if *c == cid))
                .and_then(|i| self.pending.remove(i)),
            None => self.pending.pop_front(),
        };
        let Some(pending) = pending else {
            if code == ErrorCode::NAME_TAKEN && self.registered {
                // Our name was lost to a same-moment claim elsewhere.
                let server = self.gw.server_name.clone();
                let nick = self.nick.clone().unwrap_or_default();
                self.raw(Some(&server), "NOTICE", &[&nick, text]);
            }
            return;
        };
        let again = code == ErrorCode::RATE_LIMITED;
        match pending {
            Pending::Join => {
                let nick = self.nick.clone().unwrap_or_default();
                match code {
                    ErrorCode::NAME_TAKEN => {
                        self.numeric("433", &[&nick, "Nickname is already in use"])
                    }
                    ErrorCode::NAME_INVALID => self.numeric("432", &[&nick, "Erroneous nickname"]),
                    _ => self.numeric("400", &["NICK", text]),
                }
            }
            Pending::Nick { nick } => match code {
                ErrorCode::NAME_TAKEN => {
                    self.numeric("433", &[&nick, "Nickname is already in use"])
                }
                ErrorCode::NAME_INVALID => self.numeric("432", &[&nick, "Erroneous nickname"]),
                _ if again => self.numeric("263", &["NICK", text]),
                _ => self.numeric("400", &["NICK", text]),
            },
            Pending::Status { lusers_only } => {
                let empty = StatusReport {
                    id: self.gw.server_id,
                    servers: vec![],
                    members: vec![],
                    counters: Default::default(),
                    rooms: vec![],
                };
                self.status_answered(empty, lusers_only);
            }
            Pending::Enter { room } => match code {
                ErrorCode::TOO_MANY_ROOMS => {
                    self.numeric("405", &[&room, "You have joined too many channels"])
                }
                _ if again => self.numeric("263", &["JOIN", text]),
                _ => self.numeric("403", &[&room, text]),
            },
            Pending::Part { room, .. } => match code {
                ErrorCode::NOT_IN_ROOM => {
                    self.numeric("442", &[&room, "You're not on that channel"])
                }
                _ if again => self.numeric("263", &["PART", text]),
                _ => self.numeric("403", &[&room, "No such channel"]),
            },
            Pending::Say { target, notice, .. } => {
                self.held_echo = None;
                if notice {
                    return;
                }
                match code {
                    ErrorCode::NO_SUCH_NAME => {
                        self.numeric("401", &[&target, "No such nick/channel"])
                    }
                    _ if again => {
                        self.numeric("263", &["PRIVMSG", &format!("{text}; message dropped")])
                    }
                    _ if target.starts_with('#') => self.numeric(
                        "404",
                        &[&target, &format!("Cannot send to channel: {text}")],
                    ),
                    _ => self.numeric("400", &["PRIVMSG", text]),
                }
            }
            Pending::TopicSet => match code {
                _ if again => self.numeric("263", &["TOPIC", text]),
                _ => self.numeric("400", &["TOPIC", text]),
            },
            Pending::TopicAsk { room } => self.numeric("403", &[&room, "No such channel"]),
            Pending::Who { mask, purpose } => match purpose {
                WhoFor::Who => self.numeric("315", &[&mask, "End of WHO list"]),
                WhoFor::Names => self.numeric("366", &[&mask, "End of /NAMES list"]),
                WhoFor::Mode | WhoFor::Send { .. } => {
                    self.numeric("403", &[&mask, "No such channel"])
                }
            },
            Pending::Whois { nick, purpose } => match purpose {
                WhoisFor::Whois => {
                    self.numeric("401", &[&nick, "No such nick/channel"]);
                    self.numeric("318", &[&nick, "End of /WHOIS list"]);
                }
                WhoisFor::Who => self.numeric("315", &[&nick, "End of WHO list"]),
            },
            Pending::Rooms { .. } => self.numeric("323", &["End of /LIST"]),
        }
    }
}

/// A line's IRCv3 `msgid`: the Chatty event id, and the piece for a split line.
pub(super) fn msgid(id: MessageId, part: usize) -> String {
    let origin = uuid::Uuid::from_bytes(*id.origin.as_bytes())
        .simple()
        .to_string();
    match part {
        0 => format!("{origin}-{}", id.seq),
        n => format!("{origin}-{}-{n}", id.seq),
    }
}
