//! Questions about the chat: NAMES, WHO, WHOIS, LIST and USERHOST,
//! answered from what this connection knows of its rooms, or by asking
//! Chatty (`who`, `whois`, `rooms`) and turning the answer into numerics.

use crate::protocol::validate::name_key;
use crate::protocol::{ClientMsg, Member, RoomInfo, ServerId};

use super::super::message::Message;
use super::super::names::{from_nick, to_nick};
use super::super::text::MAX_LINE;
use super::{Pending, Translator, WhoFor, WhoisFor, HOST};

/// How many members of a large room NAMES and WHO show: the first page
/// the server sends (PROTOCOL.md: at most 500, by name). Never more, so a
/// client's automatic WHO after JOIN does not fetch 20,000 names.
pub(super) const LARGE_PAGE: usize = 500;

impl Translator {
    pub(super) fn names(&mut self, msg: &Message) {
        let Some(list) = msg.param(0) else {
            return self.numeric("366", &["*", "End of /NAMES list"]);
        };
        for room in list.split(',').filter(|r| !r.is_empty()).take(1) {
            match self.channels.get(&name_key(room)) {
                // A large room's members are not all known here: ask.
                Some(channel) if channel.count.is_some() => {
                    let name = channel.name.clone();
                    self.ask_who(&name, WhoFor::Names);
                }
                Some(channel) => {
                    let name = channel.name.clone();
                    let nicks: Vec<String> =
                        channel.members.values().map(|(n, _)| to_nick(n)).collect();
                    self.names_reply(&name, &nicks);
                }
                None => self.ask_who(room, WhoFor::Names),
            }
        }
    }

    fn ask_who(&mut self, room: &str, purpose: WhoFor) {
        if crate::protocol::validate::validate_room(room).is_err() {
            return match purpose {
                WhoFor::Who => self.numeric("315", &[room, "End of WHO list"]),
                WhoFor::Names => self.numeric("366", &[room, "End of /NAMES list"]),
                _ => self.numeric("403", &[room, "No such channel"]),
            };
        }
        self.chatty_out(ClientMsg::Who {
            room: room.to_string(),
            after: None,
        });
        self.pending.push_back(Pending::Who {
            mask: room.to_string(),
            purpose,
        });
    }

    /// 353s (as many as the names need) and 366.
    pub(super) fn names_reply(&mut self, room: &str, nicks: &[String]) {
        let nick = self.nick.clone().unwrap_or_default();
        let head = format!(":{} 353 {nick} = {room} :", self.gw.server_name).len();
        let budget = MAX_LINE - 2 - head;
        let mut line = String::new();
        for n in nicks {
            if !line.is_empty() && line.len() + 1 + n.len() > budget {
                let full = std::mem::take(&mut line);
                self.numeric("353", &["=", room, &full]);
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(n);
        }
        if !line.is_empty() {
            self.numeric("353", &["=", room, &line]);
        }
        self.numeric("366", &[room, "End of /NAMES list"]);
    }

    pub(super) fn who(&mut self, msg: &Message) {
        let Some(mask) = msg.param(0).map(str::to_string) else {
            return self.numeric("315", &["*", "End of WHO list"]);
        };
        if mask.starts_with('#') {
            match self.channels.get(&name_key(&mask)).cloned() {
                Some(channel) if channel.count.is_some() => {
                    self.ask_who(&channel.name, WhoFor::Who);
                }
                Some(channel) => {
                    for (name, server) in channel.members.values() {
                        self.who_line(&channel.name, name, *server);
                    }
                    self.numeric("315", &[&mask, "End of WHO list"]);
                }
                None => self.ask_who(&mask, WhoFor::Who),
            }
            return;
        }
        match from_nick(&mask) {
            Some(name) if !mask.contains(['*', '?']) => {
                self.chatty_out(ClientMsg::Whois { name });
                self.pending.push_back(Pending::Whois {
                    nick: mask,
                    purpose: WhoisFor::Who,
                });
            }
            _ => self.numeric("315", &[&mask, "End of WHO list"]),
        }
    }

    /// One 352.
    fn who_line(&mut self, channel: &str, name: &str, server: ServerId) {
        let nick = to_nick(name);
        let away = if self.is_me_name(name) {
            self.away.is_some()
        } else {
            self.board
                .with(&self.key(name), |p| p.is_some_and(|p| p.away.is_some()))
        };
        let flags = if away { "G" } else { "H" };
        let server = self.server_label(server);
        let (user, real) = self.ident_of(name);
        self.numeric(
            "352",
            &[
                channel,
                &user,
                HOST,
                &server,
                &nick,
                flags,
                &format!("0 {real}"),
            ],
        );
    }

    fn is_me_name(&self, name: &str) -> bool {
        self.is_me(name)
    }

    /// How a Chatty server is named in replies: this one by `--irc-name`,
    /// others by the short id `chatty status` shows.
    pub(super) fn server_label(&self, server: ServerId) -> String {
        if server == self.gw.server_id {
            self.gw.server_name.clone()
        } else {
            format!("{}.chatty", server.short())
        }
    }

    /// The answer to `who`: for a large room one page of its members
    /// (`count` members in all, more after `next`), shown as they are,
    /// with a notice of how many were left out.
    pub(super) fn who_answered(
        &mut self,
        room: String,
        members: Vec<Member>,
        count: Option<u32>,
        next: Option<String>,
    ) {
        let Some(Pending::Who { mask, purpose }) = self.pending.front().cloned() else {
            return;
        };
        self.pending.pop_front();
        let room = self.shown_room_name(&room);
        let shown = members.len().min(LARGE_PAGE);
        let members = &members[..shown];
        if let Some(count) = count {
            // What we learnt of the room's size, for the next notice.
            if let Some(channel) = self.channels.get_mut(&name_key(&room)) {
                channel.count = channel.count.map(|_| count);
            }
        }
        let left_out = match (count, &next) {
            (Some(count), _) => (count as usize).saturating_sub(shown),
            (None, Some(_)) => 1, // more follow; how many is not said
            (None, None) => 0,
        };
        match purpose {
            WhoFor::Who => {
                for m in members {
                    self.who_line(&room, &m.name, m.server);
                }
                self.numeric("315", &[&mask, "End of WHO list"]);
            }
            WhoFor::Names => {
                let nicks: Vec<String> = members.iter().map(|m| to_nick(&m.name)).collect();
                self.names_reply(&room, &nicks);
            }
            WhoFor::Mode => self.numeric("324", &[&room, "+n"]),
            WhoFor::Send { .. } => {
                return self.numeric(
                    "404",
                    &[&room, "Cannot send to channel (you are not in it)"],
                );
            }
        }
        if left_out > 0 && matches!(purpose, WhoFor::Who | WhoFor::Names) {
            let server = self.gw.server_name.clone();
            let text = match count {
                Some(total) => format!(
                    "{room} is a large channel: {shown} of its {total} members listed, \
                     {left_out} not shown"
                ),
                None => format!("{room} has more members than the {shown} listed"),
            };
            self.raw(Some(&server), "NOTICE", &[&room, &text]);
        }
    }

    pub(super) fn whois(&mut self, msg: &Message) {
        let Some(nick) = msg.params.last().filter(|n| !n.is_empty()).cloned() else {
            return self.numeric("431", &["No nickname given"]);
        };
        match from_nick(&nick) {
            Some(name) => {
                self.chatty_out(ClientMsg::Whois { name });
                self.pending.push_back(Pending::Whois {
                    nick,
                    purpose: WhoisFor::Whois,
                });
            }
            None => {
                self.numeric("401", &[&nick, "No such nick/channel"]);
                self.numeric("318", &[&nick, "End of /WHOIS list"]);
            }
        }
    }

    pub(super) fn whois_answered(&mut self, name: String, server: ServerId, rooms: Vec<String>) {
        let Some(Pending::Whois {
            nick: asked,
            purpose,
        }) = self.pending.front().cloned()
        else {
            return;
        };
        self.pending.pop_front();
        let nick = to_nick(&name);
        if purpose == WhoisFor::Who {
            self.who_line("*", &name, server);
            return self.numeric("315", &[&asked, "End of WHO list"]);
        }
        let (user, real) = self.ident_of(&name);
        self.numeric("311", &[&nick, &user, HOST, "*", &real]);
        if !rooms.is_empty() {
            let shown: Vec<String> = rooms.iter().map(|r| self.shown_room_name(r)).collect();
            for chunk in shown.chunks(10) {
                self.numeric("319", &[&nick, &chunk.join(" ")]);
            }
        }
        let label = self.server_label(server);
        self.numeric("312", &[&nick, &label, &format!("Chatty server {server}")]);
        let away = if self.is_me_name(&name) {
            self.away.clone()
        } else {
            self.board.away(&self.key(&name))
        };
        if let Some(away) = away {
            self.numeric("301", &[&nick, &away]);
        }
        self.numeric("318", &[&nick, "End of /WHOIS list"]);
    }

    fn shown_room_name(&self, room: &str) -> String {
        self.channels
            .get(&name_key(room))
            .map_or_else(|| room.to_string(), |c| c.name.clone())
    }

    pub(super) fn list(&mut self, msg: &Message) {
        let filter = msg
            .param(0)
            .filter(|p| p.starts_with('#'))
            .map(|p| p.split(',').map(name_key).collect());
        self.chatty_out(ClientMsg::Rooms);
        self.pending.push_back(Pending::Rooms { filter });
    }

    pub(super) fn rooms_answered(&mut self, rooms: Vec<RoomInfo>) {
        let Some(Pending::Rooms { filter }) = self.pending.front().cloned() else {
            return;
        };
        self.pending.pop_front();
        self.numeric("321", &["Channel", "Users  Name"]);
        for room in rooms {
            if filter
                .as_ref()
                .is_some_and(|f: &Vec<String>| !f.contains(&name_key(&room.room)))
            {
                continue;
            }
            self.numeric("322", &[&room.room, &room.members.to_string(), &room.topic]);
        }
        self.numeric("323", &["End of /LIST"]);
    }

    /// USERHOST: for ourselves and the members of our rooms (others are
    /// left out, as for unknown nicks).
    pub(super) fn userhost(&mut self, msg: &Message) {
        if msg.params.is_empty() {
            return self.numeric("461", &["USERHOST", "Not enough parameters"]);
        }
        let mut replies = Vec::new();
        for nick in msg.params.iter().take(5) {
            let Some(name) = from_nick(nick) else {
                continue;
            };
            let key = name_key(&name);
            let me = self.is_me_name(&name);
            if !me && !self.shares_room(&key) {
                continue;
            }
            let away = if me {
                self.away.is_some()
            } else {
                self.board
                    .with(&key, |p| p.is_some_and(|p| p.away.is_some()))
            };
            let (user, _) = self.ident_of(&name);
            replies.push(format!(
                "{}={}{user}@{HOST}",
                to_nick(&name),
                if away { '-' } else { '+' }
            ));
        }
        self.numeric("302", &[&replies.join(" ")]);
    }

    /// ISON: the nicks asked for that are ourselves or share a room with
    /// us (others are not known here without asking Chatty each one).
    pub(super) fn ison(&mut self, msg: &Message) {
        if msg.params.is_empty() {
            return self.numeric("461", &["ISON", "Not enough parameters"]);
        }
        let mut on = Vec::new();
        for nick in msg
            .params
            .iter()
            .flat_map(|p| p.split(' '))
            .filter(|n| !n.is_empty())
            .take(32)
        {
            let Some(name) = from_nick(nick) else {
                continue;
            };
            let key = name_key(&name);
            if self.is_me_name(&name) || self.shares_room(&key) {
                on.push(to_nick(&name));
            }
        }
        self.numeric("303", &[&on.join(" ")]);
    }

    /// VERSION: 351 and the ISUPPORT lines again.
    pub(super) fn version(&mut self) {
        let server = self.gw.server_name.clone();
        let version = concat!("chatty-", env!("CARGO_PKG_VERSION"));
        self.numeric("351", &[version, &server, "Chatty IRC gateway"]);
        let network = self.gw.network.clone();
        for tokens in super::register::isupport(&network).chunks(12) {
            let mut params: Vec<&str> = tokens.iter().map(String::as_str).collect();
            params.push("are supported by this server");
            self.numeric("005", &params);
        }
    }
}
