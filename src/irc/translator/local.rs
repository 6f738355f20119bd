//! What the gateway's IRC users say of themselves that Chatty does not
//! carry (USER's names, AWAY): ours, told to the gateway's other
//! connections, and theirs, read from the gateway's board when a source,
//! WHO, WHOIS or away-notify needs them.

use super::super::away::{Presence, PresenceChange};
use super::{Translator, USER};

impl Translator {
    /// Our Chatty name and what we said of ourselves (USER, AWAY), while
    /// registered: what the gateway tells its other connections.
    pub fn presence(&self) -> Option<(String, Presence)> {
        let name = super::super::names::from_nick(self.nick()?)?;
        let (user, real) = self.user.clone()?;
        Some((
            name,
            Presence {
                user,
                real,
                away: self.away.clone(),
            },
        ))
    }

    /// A number that changes whenever [`Translator::presence`] may have:
    /// the shell asks for the presence only then.
    pub fn presence_version(&self) -> u64 {
        self.presence_version
    }

    /// Another user of this gateway registered, changed, or left (the
    /// board already says so): away-notify, if it is someone we see.
    pub fn presence_changed(&mut self, change: &PresenceChange) {
        if !change.away_changed || !self.registered || !self.caps.away_notify {
            return;
        }
        if self.is_me(&change.name) || !self.shares_room(&change.key) {
            return;
        }
        let source = self.source_of_name(&change.name);
        match &change.away {
            Some(text) => self.raw(Some(&source), "AWAY", &[text]),
            None => self.raw_bare(Some(&source), "AWAY", &[]),
        }
    }

    /// The source of the member named `name`: `nick!user@host`, with the
    /// user name a user of this gateway gave, else [`USER`].
    pub(super) fn source_of_name(&self, name: &str) -> String {
        if self.is_me(name) {
            return self.me();
        }
        let nick = super::super::names::to_nick(name);
        let user = self.user_of(name);
        format!("{nick}!{user}@{}", super::HOST)
    }

    /// The user name in the source of `name` (not us): the one a user of
    /// this gateway gave, else [`USER`].
    pub(super) fn user_of(&self, name: &str) -> String {
        self.with_user(name, str::to_string)
    }

    /// Calls `f` with [`Translator::user_of`] `name`, without copying it.
    pub(super) fn with_user<R>(&self, name: &str, f: impl FnOnce(&str) -> R) -> R {
        f(&self.user_ref(name))
    }

    /// [`Translator::user_of`] `name`, borrowed: the last one looked up is
    /// kept until the board changes, since a busy room's lines mostly come
    /// from a few. Hold it only while formatting (no other look-up of a
    /// user name may happen meanwhile).
    pub(super) fn user_ref(&self, name: &str) -> std::cell::Ref<'_, str> {
        let version = self.board.version();
        let fresh =
            matches!(&*self.last_user.borrow(), Some((n, v, _)) if *v == version && n == name);
        if !fresh {
            // By the name as spelled: the server's frames spell every name
            // as the board does, so no skeleton is computed per sender.
            let user = self
                .board
                .with_name(name, |p| p.map_or(USER, |p| p.user.as_str()).to_string());
            *self.last_user.borrow_mut() = Some((name.to_string(), version, user));
        }
        std::cell::Ref::map(self.last_user.borrow(), |cached| {
            cached.as_ref().map_or(USER, |(_, _, user)| user.as_str())
        })
    }

    /// The user name and real name shown for `name` in WHO and WHOIS.
    pub(super) fn ident_of(&self, name: &str) -> (String, String) {
        if self.is_me(name) {
            if let Some(ident) = &self.user {
                return ident.clone();
            }
        }
        self.with_key(name, |key| {
            self.board.with(key, |p| match p {
                Some(p) => (p.user.clone(), p.real.clone()),
                None => (USER.to_string(), name.to_string()),
            })
        })
    }
}
