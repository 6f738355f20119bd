//! Chatty's refusals as IRC numerics: each error answers the request at
//! the front of the queue (or the `send` with its `cid`), and becomes the
//! numeric the IRC documents give for that failure.

use crate::protocol::{ErrorCode, StatusReport};

use super::{Pending, Translator, WhoFor, WhoisFor};

impl Translator {
    /// A refusal from Chatty, matched to the request it answers.
    pub(super) fn refused(&mut self, code: ErrorCode, text: &str, fatal: bool, cid: Option<u64>) {
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
            Pending::Join { nick } => {
                match code {
                    ErrorCode::NAME_TAKEN => {
                        self.numeric("433", &[&nick, "Nickname is already in use"])
                    }
                    ErrorCode::NAME_INVALID => self.numeric("432", &[&nick, "Erroneous nickname"]),
                    _ => self.numeric("400", &["NICK", text]),
                }
                // A NICK sent while this join was under way is tried now;
                // lines kept during it are handled (or kept again).
                if self.nick.as_deref() != Some(nick.as_str()) {
                    self.try_register();
                }
                for (line, at) in std::mem::take(&mut self.held_lines) {
                    self.route_line(&line, at);
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
