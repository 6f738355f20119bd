//! IRC commands from the client: each becomes Chatty requests, local
//! replies, or both.

use crate::protocol::validate::name_key;
use crate::protocol::{ClientMsg, MAX_ROOMS_PER_MEMBER};

use super::super::message::Message;
use super::super::names::{fold, from_nick};
use super::super::text::{chatty_reason, read_said, strip_formatting, Said};
use super::{Pending, Translator, WhoFor};

/// Commands allowed before registration.
const BEFORE_REGISTRATION: &[&str] = &["CAP", "NICK", "USER", "PASS", "PING", "PONG", "QUIT"];

impl Translator {
    /// One line from the IRC client (without CR LF), at `now`.
    pub fn irc_line(&mut self, line: &str, now: u64) {
        if self.closed {
            return;
        }
        self.last_heard = now;
        if !self.flood_allows(now) {
            return self.close("Excess Flood");
        }
        self.route_line(line, now);
    }

    /// Handles a line now, or keeps it while registration is under way:
    /// after NICK and USER the Chatty join takes a round trip, and a client
    /// may already have sent its JOINs; they are handled, in order, once
    /// the welcome burst is out (or, if the join fails, at once).
    pub(super) fn route_line(&mut self, line: &str, now: u64) {
        let joining = !self.registered
            && self
                .pending
                .iter()
                .any(|p| matches!(p, Pending::Join { .. }));
        if self.held.is_some() || joining {
            self.held_lines.push((line.to_string(), now));
            return;
        }
        self.handle_line(line, now);
    }

    /// A line, once the burst is out.
    pub(super) fn handle_line(&mut self, line: &str, now: u64) {
        let Ok(msg) = Message::parse(line) else {
            return; // a blank line: ignored, as servers do
        };
        let verb = msg.verb();
        if !self.registered && !BEFORE_REGISTRATION.contains(&verb.as_str()) {
            return self.numeric("451", &["You have not registered"]);
        }
        match verb.as_str() {
            "CAP" => self.cap(&msg),
            "NICK" if !self.registered => self.nick_before_welcome(&msg),
            "NICK" => self.nick_change(&msg),
            "USER" => self.user(&msg),
            "PASS" if self.registered => self.numeric("462", &["You may not reregister"]),
            "PASS" => {} // no passwords: any is accepted
            "PING" => match msg.param(0) {
                Some(token) => {
                    let server = self.gw.server_name.clone();
                    self.raw(Some(&server), "PONG", &[&server, token]);
                }
                None => self.numeric("461", &["PING", "Not enough parameters"]),
            },
            "PONG" => self.ping_sent = None,
            "QUIT" => self.quit(msg.param(0)),
            "JOIN" => self.join(&msg),
            "PART" => self.part(&msg),
            "PRIVMSG" => self.say(&msg, false),
            "NOTICE" => self.say(&msg, true),
            "TAGMSG" => {} // client-only tags cannot cross Chatty: dropped
            "TOPIC" => self.topic(&msg),
            "AWAY" => self.set_away(msg.param(0)),
            "MODE" => self.mode(&msg),
            "NAMES" => self.names(&msg),
            "WHO" => self.who(&msg),
            "WHOIS" => self.whois(&msg),
            "LIST" => self.list(&msg),
            "LUSERS" => {
                self.chatty_out(ClientMsg::Status);
                self.pending
                    .push_back(Pending::Status { lusers_only: true });
            }
            "MOTD" => self.motd(),
            "CHATHISTORY" => self.chathistory(&msg, now),
            "USERHOST" => self.userhost(&msg),
            "ISON" => self.ison(&msg),
            "VERSION" => self.version(),
            "TIME" => {
                let server = self.gw.server_name.clone();
                self.numeric("391", &[&server, &super::super::text::timestamp(now)]);
            }
            "WHOWAS" => match msg.param(0) {
                Some(nick) => {
                    let nick = nick.to_string();
                    self.numeric("406", &[&nick, "There was no such nickname"]);
                    self.numeric("369", &[&nick, "End of WHOWAS"]);
                }
                None => self.numeric("431", &["No nickname given"]),
            },
            "OPER" => self.numeric("491", &["No O-lines for your host"]),
            "KICK" => match msg.param(0) {
                Some(room) if msg.params.len() >= 2 => {
                    if self.channels.contains_key(&name_key(room)) {
                        self.numeric(
                            "482",
                            &[room, "You're not channel operator (nobody is here)"],
                        );
                    } else {
                        self.numeric("442", &[room, "You're not on that channel"]);
                    }
                }
                _ => self.numeric("461", &["KICK", "Not enough parameters"]),
            },
            _ => self.numeric("421", &[&msg.command, "Unknown command"]),
        }
    }

    /// The gateway's own flood guard on every line (the Chatty session
    /// limits what reaches the chat): over it, the client is disconnected.
    fn flood_allows(&mut self, now: u64) -> bool {
        let elapsed = now.saturating_sub(self.flood_at) as f64 / 1000.0;
        self.flood_at = now;
        let burst = f64::from(self.gw.lines_burst);
        self.flood_tokens = (self.flood_tokens + elapsed * self.gw.lines_per_sec).min(burst);
        if self.flood_tokens >= 1.0 {
            self.flood_tokens -= 1.0;
            true
        } else {
            self.gw.lines_per_sec <= 0.0
        }
    }

    fn quit(&mut self, reason: Option<&str>) {
        if self.registered {
            let text = chatty_reason(reason);
            self.chatty_out(ClientMsg::Leave { text });
        }
        let reason = match reason {
            Some(r) if !r.is_empty() => format!("Quit: {r}"),
            _ => "Client Quit".to_string(),
        };
        self.close(&reason);
    }

    fn join(&mut self, msg: &Message) {
        let Some(list) = msg.param(0) else {
            return self.numeric("461", &["JOIN", "Not enough parameters"]);
        };
        if list == "0" {
            // JOIN 0: part every room.
            let rooms: Vec<String> = self.channels.values().map(|c| c.name.clone()).collect();
            for room in rooms {
                self.chatty_out(ClientMsg::Part {
                    room: room.clone(),
                    text: None,
                });
                self.pending.push_back(Pending::Part { room, reason: None });
            }
            return;
        }
        for room in list.split(',').filter(|r| !r.is_empty()) {
            if !room.starts_with('#') || crate::protocol::validate::validate_room(room).is_err() {
                self.numeric("403", &[room, "No such channel"]);
                continue;
            }
            if self.channels.contains_key(&name_key(room)) {
                continue; // already there: nothing, as IRC servers do
            }
            let entering = self
                .pending
                .iter()
                .filter(|p| matches!(p, Pending::Enter { .. }))
                .count();
            if self.channels.len() + entering >= MAX_ROOMS_PER_MEMBER {
                self.numeric("405", &[room, "You have joined too many channels"]);
                continue;
            }
            self.chatty_out(ClientMsg::Enter {
                room: room.to_string(),
            });
            self.pending.push_back(Pending::Enter {
                room: room.to_string(),
            });
        }
    }

    fn part(&mut self, msg: &Message) {
        let Some(list) = msg.param(0) else {
            return self.numeric("461", &["PART", "Not enough parameters"]);
        };
        let reason = chatty_reason(msg.param(1));
        for room in list.split(',').filter(|r| !r.is_empty()) {
            if !self.channels.contains_key(&name_key(room)) {
                if room.starts_with('#') {
                    self.numeric("442", &[room, "You're not on that channel"]);
                } else {
                    self.numeric("403", &[room, "No such channel"]);
                }
                continue;
            }
            self.chatty_out(ClientMsg::Part {
                room: room.to_string(),
                text: reason.clone(),
            });
            self.pending.push_back(Pending::Part {
                room: room.to_string(),
                reason: reason.clone(),
            });
        }
    }

    /// PRIVMSG and NOTICE (NOTICE never gets an error reply).
    fn say(&mut self, msg: &Message, notice: bool) {
        let command = if notice { "NOTICE" } else { "PRIVMSG" };
        let Some(targets) = msg.param(0).filter(|t| !t.is_empty()) else {
            if !notice {
                self.numeric("411", &[&format!("No recipient given ({command})")]);
            }
            return;
        };
        let Some(text) = msg.param(1).filter(|t| !t.is_empty()) else {
            if !notice {
                self.numeric("412", &["No text to send"]);
            }
            return;
        };
        let (text, action) = match read_said(text) {
            Said::Text(t) => (t, false),
            Said::Action(t) => (t, true),
            Said::Ctcp => return, // CTCP other than ACTION has no Chatty meaning
        };
        if text.trim().is_empty() {
            if !notice {
                self.numeric("412", &["No text to send"]);
            }
            return;
        }
        for target in targets.split(',').filter(|t| !t.is_empty()).take(4) {
            self.say_to(target, &text, action, notice);
        }
    }

    fn say_to(&mut self, target: &str, text: &str, action: bool, notice: bool) {
        if target.starts_with('#') {
            let Some(room) = self.channels.get(&name_key(target)).map(|c| c.name.clone()) else {
                // Not in it: does it exist? (404 or 403, answered by `who`.)
                if !notice {
                    self.chatty_out(ClientMsg::Who {
                        room: target.to_string(),
                        after: None,
                    });
                    self.pending.push_back(Pending::Who {
                        mask: target.to_string(),
                        purpose: WhoFor::Send { notice },
                    });
                }
                return;
            };
            let cid = self.cid();
            self.chatty_out(ClientMsg::Send {
                text: text.to_string(),
                room: Some(room.clone()),
                action,
                cid: Some(cid),
            });
            self.pending.push_back(Pending::Say {
                cid,
                target: room,
                notice,
            });
            return;
        }
        let Some(name) = from_nick(target) else {
            if !notice {
                self.numeric("401", &[target, "No such nick/channel"]);
            }
            return;
        };
        if Some(name_key(&name)) == self.nick_key() {
            // To oneself: IRC delivers it; Chatty refuses it (276).
            let me = self.me();
            let verb = if notice { "NOTICE" } else { "PRIVMSG" };
            let nick = self.nick.clone().unwrap_or_default();
            let shown = if action {
                format!("\u{1}ACTION {text}\u{1}")
            } else {
                text.to_string()
            };
            self.raw(Some(&me), verb, &[&nick, &shown]);
            if self.caps.echo_message {
                self.raw(Some(&me), verb, &[&nick, &shown]);
            }
            return;
        }
        if !notice {
            if let Some(away) = self.board.away(&self.key(&name)) {
                self.numeric("301", &[target, &away]);
            }
        }
        let cid = self.cid();
        self.chatty_out(ClientMsg::Private {
            to: name,
            text: text.to_string(),
            cid: Some(cid),
            action,
        });
        self.pending.push_back(Pending::Say {
            cid,
            target: target.to_string(),
            notice,
        });
    }

    fn nick_change(&mut self, msg: &Message) {
        let Some(nick) = msg.param(0).filter(|n| !n.is_empty()) else {
            return self.numeric("431", &["No nickname given"]);
        };
        let Some(name) = from_nick(nick).filter(|_| nick.len() <= super::register::NICKLEN) else {
            return self.numeric("432", &[nick, "Erroneous nickname"]);
        };
        if self.nick.as_deref() == Some(nick) {
            return; // the very same nick: nothing, as Chatty does
        }
        self.chatty_out(ClientMsg::Nick { name });
        self.pending.push_back(Pending::Nick {
            nick: nick.to_string(),
        });
    }

    fn topic(&mut self, msg: &Message) {
        let Some(room) = msg.param(0).map(str::to_string) else {
            return self.numeric("461", &["TOPIC", "Not enough parameters"]);
        };
        let key = name_key(&room);
        match msg.param(1) {
            Some(text) => {
                if !self.channels.contains_key(&key) {
                    return self.numeric("442", &[&room, "You're not on that channel"]);
                }
                let mut text = strip_formatting(text);
                while text.len() > crate::protocol::MAX_TOPIC_BYTES {
                    text.pop();
                }
                self.chatty_out(ClientMsg::Topic {
                    room,
                    text: Some(text),
                });
                self.pending.push_back(Pending::TopicSet);
            }
            None => match self.channels.get(&key).cloned() {
                Some(channel) => self.topic_reply(&channel.name, channel.topic.as_ref()),
                None => {
                    self.chatty_out(ClientMsg::Topic {
                        room: room.clone(),
                        text: None,
                    });
                    self.pending.push_back(Pending::TopicAsk { room });
                }
            },
        }
    }

    /// 332 and 333, or 331.
    pub(super) fn topic_reply(&mut self, room: &str, topic: Option<&crate::protocol::TopicInfo>) {
        match topic.filter(|t| !t.text.is_empty()) {
            Some(t) => {
                let by = super::super::names::to_nick(&t.by);
                let at = (t.at / 1000).to_string();
                let text = t.text.clone();
                self.numeric("332", &[room, &text]);
                self.numeric("333", &[room, &by, &at]);
            }
            None => self.numeric("331", &[room, "No topic is set"]),
        }
    }

    fn set_away(&mut self, text: Option<&str>) {
        match text.filter(|t| !t.is_empty()) {
            Some(text) => {
                let text: String = strip_formatting(text).chars().take(390).collect();
                self.away = Some(text.clone());
                self.presence_version += 1;
                self.numeric("306", &["You have been marked as being away"]);
            }
            None => {
                self.away = None;
                self.presence_version += 1;
                self.numeric("305", &["You are no longer marked as being away"]);
            }
        }
    }

    /// MODE: no one holds channel modes here; `+n` is what rooms are.
    fn mode(&mut self, msg: &Message) {
        let Some(target) = msg.param(0).map(str::to_string) else {
            return self.numeric("461", &["MODE", "Not enough parameters"]);
        };
        if target.starts_with('#') {
            return self.channel_mode(&target, msg.param(1));
        }
        if fold(&target) != fold(self.nick.as_deref().unwrap_or("")) {
            return self.numeric("502", &["Can't change mode for other users"]);
        }
        let Some(change) = msg.param(1) else {
            let modes = if self.invisible { "+i" } else { "+" };
            return self.numeric("221", &[modes]);
        };
        let mut on = true;
        let mut applied = String::new();
        let mut unknown = false;
        for c in change.chars() {
            match c {
                '+' => on = true,
                '-' => on = false,
                'i' => {
                    if self.invisible != on {
                        self.invisible = on;
                        applied.push(if on { '+' } else { '-' });
                        applied.push('i');
                    }
                }
                _ => unknown = true,
            }
        }
        if unknown {
            self.numeric("501", &["Unknown MODE flag"]);
        }
        if !applied.is_empty() {
            let me = self.me();
            let nick = self.nick.clone().unwrap_or_default();
            self.raw(Some(&me), "MODE", &[&nick, &applied]);
        }
    }

    fn channel_mode(&mut self, room: &str, change: Option<&str>) {
        let shown = self.channels.get(&name_key(room)).map(|c| c.name.clone());
        match change {
            None => match shown {
                Some(name) => self.numeric("324", &[&name, "+n"]),
                None => {
                    self.chatty_out(ClientMsg::Who {
                        room: room.to_string(),
                        after: None,
                    });
                    self.pending.push_back(Pending::Who {
                        mask: room.to_string(),
                        purpose: WhoFor::Mode,
                    });
                }
            },
            Some(change) => {
                let name = shown.unwrap_or_else(|| room.to_string());
                let list = change.trim_start_matches(['+', '-']);
                let querying = !change.starts_with(['+', '-']) || change == "+b" || change == "b";
                match list {
                    "b" if querying => self.numeric("368", &[&name, "End of channel ban list"]),
                    "e" if querying => {
                        self.numeric("349", &[&name, "End of channel exception list"])
                    }
                    "I" if querying => self.numeric("347", &[&name, "End of channel invite list"]),
                    _ if change.chars().all(|c| "+-n".contains(c)) => {}
                    _ => self.numeric("482", &[&name, "Channel modes cannot be changed here"]),
                }
            }
        }
    }
}
