//! What the gateway's IRC users say of themselves that Chatty does not
//! carry (USER's names, AWAY): ours, told to the gateway's other
//! connections, and theirs, used in sources, WHO, WHOIS and away-notify.

use crate::protocol::validate::name_key;

use super::{source_of, Translator, HOST, USER};

impl Translator {
    /// Our Chatty name and what we said of ourselves (USER, AWAY), while
    /// registered: what the gateway tells its other connections.
    pub fn presence(&self) -> Option<(String, super::super::Presence)> {
        let name = super::super::names::from_nick(self.nick()?)?;
        let (user, real) = self.user.clone()?;
        Some((
            name,
            super::super::Presence {
                user,
                real,
                away: self.away.clone(),
            },
        ))
    }
    /// Another user of this gateway registered, changed, or left.
    pub fn presence_changed(&mut self, name: &str, presence: Option<&super::super::Presence>) {
        let key = name_key(name);
        if Some(&key) == self.nick_key().as_ref() {
            return;
        }
        match presence {
            Some(p) => self.idents.insert(key, (p.user.clone(), p.real.clone())),
            None => self.idents.remove(&key),
        };
        self.away_changed(name, presence.and_then(|p| p.away.as_deref()));
    }
    /// The source of the member named `name`: `nick!user@host`, with the
    /// user name a user of this gateway gave, else [`USER`].
    pub(super) fn source_of_name(&self, name: &str) -> String {
        if self.nick_key().is_some_and(|k| k == name_key(name)) {
            return self.me();
        }
        let nick = super::super::names::to_nick(name);
        match self.idents.get(&name_key(name)) {
            Some((user, _)) => format!("{nick}!{user}@{HOST}"),
            None => source_of(&nick),
        }
    }
    /// As [`Translator::source_of_name`], from a nick.
    pub(super) fn source_of_nick(&self, nick: &str) -> String {
        match super::super::names::from_nick(nick) {
            Some(name) => self.source_of_name(&name),
            None => source_of(nick),
        }
    }
    /// The user name and real name shown for `name` in WHO and WHOIS.
    pub(super) fn ident_of(&self, name: &str) -> (String, String) {
        if self.nick_key().is_some_and(|k| k == name_key(name)) {
            if let Some(ident) = &self.user {
                return ident.clone();
            }
        }
        self.idents
            .get(&name_key(name))
            .cloned()
            .unwrap_or_else(|| (USER.to_string(), name.to_string()))
    }
    /// Another user of this gateway set or cleared their away message.
    fn away_changed(&mut self, name: &str, away: Option<&str>) {
        let key = name_key(name);
        if Some(&key) == self.nick_key().as_ref() {
            return;
        }
        let changed = match away {
            Some(text) => {
                self.others_away
                    .insert(key.clone(), text.to_string())
                    .as_deref()
                    != Some(text)
            }
            None => self.others_away.remove(&key).is_some(),
        };
        if changed && self.registered && self.caps.away_notify && self.shares_room(&key) {
            let source = self.source_of_name(name);
            match away {
                Some(text) => self.raw(Some(&source), "AWAY", &[text]),
                None => self.raw_bare(Some(&source), "AWAY", &[]),
            }
        }
    }
}
