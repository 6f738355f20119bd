//! Chatty frames to IRC: events become JOIN, PART, QUIT, NICK, TOPIC and
//! PRIVMSG lines; answers are matched to the request waiting for them.

use crate::protocol::validate::name_key;
use crate::protocol::{decode, ClientMsg, DecodeError, MessageId, RoomState, ServerMsg};

use super::super::frames::{skim, Skimmed};
use super::super::names::{as_nick, to_nick};
use super::super::text::{next_cut, write_timestamp, MAX_LINE};
use super::history::Entry;
use super::{Channel, Pending, Translator, HOST, USER};

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
    /// One frame body from the Chatty session, at `now`. A room message
    /// and an ack, nearly all of a busy session's frames, are read without
    /// serde ([`super::super::frames`]); an error means a frame this build
    /// cannot read, and the caller skips it.
    pub fn chatty_frame(&mut self, body: &[u8], now: u64) -> Result<(), DecodeError> {
        match skim(body) {
            Some(Skimmed::Message {
                id,
                from,
                room,
                text,
                action,
            }) if self.held.is_none() && !self.closed => {
                self.room_message(id, from, room, text, action, now);
            }
            Some(Skimmed::Ack { cid, id }) => self.chatty(ServerMsg::Ack { cid, id }, now),
            _ => self.chatty(decode::<ServerMsg>(body)?, now),
        }
        Ok(())
    }

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
            // A large room's live count has no IRC form (NAMES/LUSERS ask).
            ServerMsg::Hello { .. }
            | ServerMsg::Pong { .. }
            | ServerMsg::Servers { .. }
            | ServerMsg::RoomCount { .. }
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
            } => self.history_frame(id, from, room, text, action),
            ServerMsg::Message {
                id,
                from,
                room,
                text,
                action,
                ..
            } => self.room_message(id, &from, &room, &text, action, now),
            ServerMsg::Private {
                id,
                from,
                to,
                text,
                action,
                cid,
            } => {
                if self.is_me(&from) {
                    if self.caps.echo_message {
                        self.held_echo = Some(Box::new(ServerMsg::Private {
                            id,
                            from,
                            to,
                            text,
                            action,
                            cid,
                        }));
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
                text,
                quit,
                ..
            } => self.member_left(id, &name, &room, reason, text, quit),
            ServerMsg::Nick {
                old, new, server, ..
            } => self.renamed(&old, &new, server),
            ServerMsg::Topic { room, text, by, at } => self.topic_frame(room, text, by, at),
            ServerMsg::WhoReply {
                room,
                members,
                count,
                next,
            } => self.who_answered(room, members, count, next),
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

    /// A room's name as this connection shows it (as it joined it).
    pub(super) fn shown_room(&self, room: &str) -> String {
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
        match *held {
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

    /// A message said in a room: the hot path of a busy room, which
    /// borrows the frame's strings and writes the line straight into the
    /// output.
    fn room_message(
        &mut self,
        id: MessageId,
        from: &str,
        room: &str,
        text: &str,
        action: bool,
        now: u64,
    ) {
        if self.held_echo.is_some() {
            self.flush_echo(None);
        }
        if !self.mark_shown(room, id) {
            return; // a room we are not shown in
        }
        if self.caps.chathistory {
            let key = self.key(room);
            self.history.record_live(
                key,
                room,
                Entry {
                    id,
                    at: Some(now),
                    from: from.to_string(),
                    text: text.to_string(),
                    action,
                },
            );
        }
        if self.is_from_me(from) {
            if self.caps.echo_message {
                self.held_echo = Some(Box::new(ServerMsg::Message {
                    id,
                    from: from.to_string(),
                    room: room.to_string(),
                    text: text.to_string(),
                    action,
                    cid: None,
                }));
            }
            return;
        }
        let nick = as_nick(from);
        let mut buf = std::mem::take(&mut self.irc);
        {
            let user = self.user_ref(from);
            self.with_key(room, |k| {
                if let Some(channel) = self.channels.get(k) {
                    let line = Line {
                        id,
                        from: &nick,
                        target: &channel.name,
                        text,
                        action,
                        at: Some(now),
                        verb: "PRIVMSG",
                        batch: None,
                    };
                    self.write_line(&mut buf, &user, &line);
                }
            });
        }
        self.irc = buf;
    }

    /// A chat line, split to fit IRC's 512 bytes.
    pub(super) fn show_line(&mut self, line: &Line) {
        let mut buf = std::mem::take(&mut self.irc);
        match super::super::names::from_nick(line.from) {
            Some(name) if self.is_me(&name) => {
                let user = self.user.as_ref().map_or(USER, |(u, _)| u.as_str());
                self.write_line(&mut buf, user, line);
            }
            Some(name) => self.with_user(&name, |user| self.write_line(&mut buf, user, line)),
            None => self.write_line(&mut buf, USER, line),
        }
        self.irc = buf;
    }

    /// Writes `line`, from `line.from!user@host`, into `buf`: as many
    /// lines as it takes to keep each within 512 bytes (tags aside).
    fn write_line(&self, buf: &mut Vec<u8>, user: &str, line: &Line) {
        let head = 1 + line.from.len() + 1 + user.len() + 1 + HOST.len() + 1;
        let head = head + line.verb.len() + 1 + line.target.len() + 2;
        let extra = if line.action { 9 } else { 0 };
        let budget = MAX_LINE.saturating_sub(2 + head + extra);
        let mut rest = line.text;
        let mut part = 0;
        loop {
            let (piece, after) = rest.split_at(next_cut(rest, budget));
            let mut sep = b'@';
            if let Some(batch) = line.batch {
                buf.push(sep);
                buf.extend_from_slice(b"batch=");
                buf.extend_from_slice(batch.as_bytes());
                sep = b';';
            }
            if self.caps.message_tags {
                buf.push(sep);
                buf.extend_from_slice(b"msgid=");
                write_msgid(buf, line.id, part);
                sep = b';';
            }
            if let (true, Some(at)) = (self.caps.server_time, line.at) {
                buf.push(sep);
                buf.extend_from_slice(b"time=");
                write_timestamp(buf, at);
                sep = b';';
            }
            if sep == b';' {
                buf.push(b' ');
            }
            for bit in [":", line.from, "!", user, "@", HOST, " ", line.verb, " "] {
                buf.extend_from_slice(bit.as_bytes());
            }
            buf.extend_from_slice(line.target.as_bytes());
            buf.extend_from_slice(b" :");
            if line.action {
                buf.extend_from_slice(b"\x01ACTION ");
            }
            buf.extend_from_slice(piece.as_bytes());
            if line.action {
                buf.push(1);
            }
            buf.extend_from_slice(b"\r\n");
            rest = after;
            part += 1;
            if rest.is_empty() {
                return;
            }
        }
    }

    /// We are in `state.room`: JOIN, topic, NAMES. A `room_state` for a
    /// room we are already in replaces what we knew of it (the room became
    /// large, or small again): a fresh NAMES when it is small, a notice
    /// when it is large.
    pub(super) fn show_room(&mut self, state: RoomState) {
        let key = self.key(&state.room);
        let mut members: super::Table<_, _> = state
            .members
            .into_iter()
            .map(|m| (name_key(&m.name), (m.name, m.server)))
            .collect();
        if let Some(nick) = self.nick.clone() {
            if let Some(name) = super::super::names::from_nick(&nick) {
                let key = self.key(&name);
                if !members.contains_key(&key) {
                    members.insert(key, (name, self.gw.server_id));
                }
            }
        }
        let last = match self.channels.get(&key) {
            Some(was) => was.last.get(),
            None => self.rejoining(&key),
        };
        let channel = Channel {
            name: state.room.clone(),
            members,
            topic: state.topic,
            count: state.count,
            last: last.into(),
        };
        let was = self.channels.insert(key, channel.clone());
        let fresh = was.is_none();
        if fresh {
            let me = self.me();
            self.raw_bare(Some(&me), "JOIN", &[&channel.name]);
            if channel.topic.as_ref().is_some_and(|t| !t.text.is_empty()) {
                self.topic_reply(&channel.name, channel.topic.as_ref());
            }
        }
        let was_large = was.is_some_and(|c| c.count.is_some());
        if let Some(count) = channel.count {
            if fresh {
                let names: Vec<String> =
                    channel.members.values().map(|(n, _)| to_nick(n)).collect();
                self.names_reply(&channel.name, &names);
            }
            if fresh || !was_large {
                self.large_notice(&channel.name, count);
            }
            return;
        }
        let names: Vec<String> = channel.members.values().map(|(n, _)| to_nick(n)).collect();
        self.names_reply(&channel.name, &names);
    }

    /// Tells the user that `room` is large: what they will not see.
    fn large_notice(&mut self, room: &str, count: u32) {
        let server = self.gw.server_name.clone();
        let text = format!(
            "{room} is a large channel ({count} members): joins, parts and quits in it are not \
             shown, and NAMES and WHO list only its first {} members",
            super::query::LARGE_PAGE
        );
        self.raw(Some(&server), "NOTICE", &[room, &text]);
    }
}

/// [`msgid`], written at the end of `out`.
fn write_msgid(out: &mut Vec<u8>, id: MessageId, part: usize) {
    use std::io::Write as _;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in id.origin.as_bytes() {
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 15)]);
    }
    let _ = match part {
        0 => write!(out, "-{}", id.seq),
        n => write!(out, "-{}-{n}", id.seq),
    };
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
