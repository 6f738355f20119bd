//! Chatty frames to IRC: events become JOIN, PART, QUIT, NICK, TOPIC and
//! PRIVMSG lines; answers are matched to the request waiting for them.

use crate::protocol::{ClientMsg, MessageId, RoomState, ServerMsg};

use super::super::message::Message;
use super::super::names::to_nick;
use super::super::text::{split, timestamp, MAX_LINE};
use super::history::Entry;
use super::{Channel, Pending, Translator};

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
            // The gateway never asks to watch: nothing to show if it came.
            ServerMsg::Hello { .. }
            | ServerMsg::Pong { .. }
            | ServerMsg::Servers { .. }
            | ServerMsg::Watching { .. }
            | ServerMsg::WatchEvent { .. }
            | ServerMsg::WatchUpdate { .. } => {}
            ServerMsg::Ping { nonce } => self.chatty_out(ClientMsg::Pong { nonce }),
            ServerMsg::Welcome {
                name,
                rooms,
                members,
                ..
            } => {
                if matches!(self.pending.front(), Some(Pending::Join { .. })) {
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
                ..
            } => {
                if !self.channels.contains_key(&self.key(&room)) {
                    return; // a room we are not shown in (e.g. #lobby, parted at start)
                }
                let fresh = self.history.record_keyed(
                    self.key(&room),
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
                ..
            } => {
                if !self.channels.contains_key(&self.key(&room)) {
                    return; // a room we are not shown in
                }
                self.history.record_keyed(
                    self.key(&room),
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
                            cid: None,
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
            ServerMsg::WhoReply { room, members, .. } => self.who_answered(room, members),
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

    pub(super) fn is_me(&self, name: &str) -> bool {
        self.nick_key().is_some_and(|k| k == self.key(name))
    }

    /// A room's name as this connection shows it (as it joined it).
    fn shown_room(&self, room: &str) -> String {
        self.channels
            .get(&self.key(room))
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
        let source = self.source_of_nick(line.from);
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
        let key = self.key(&state.room);
        let mut members: std::collections::BTreeMap<_, _> = state
            .members
            .into_iter()
            .map(|m| (self.key(&m.name), (m.name, m.server)))
            .collect();
        if let Some(nick) = self.nick.clone() {
            if let Some(name) = super::super::names::from_nick(&nick) {
                members
                    .entry(self.key(&name))
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
