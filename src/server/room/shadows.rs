//! Claims that lost here, kept until their origin withdraws them.
//!
//! A claim on a name (a join, a snapshot entry, a nick change) that loses
//! here under the same-moment rule is usually withdrawn by its origin, which
//! hears the winning claim too: it turns the nick back or lets the member
//! go. But not always: if the origin's member had already moved on (changed
//! name again, or the winner had already left) when the winning claim
//! reached the origin, the origin sees no conflict at all, and its member
//! stays. So a lost claim is kept as a shadow: what its origin says about
//! the member later (entries, parts, nick changes, its leave) is followed,
//! and when the name it claims is freed here, the shadow with the smallest
//! origin id takes it — as its origin's server has it all along.
//!
//! A nick change that lost leaves its member shown under the old name
//! (`shown_as`), so nobody sees it go and come back while its origin turns
//! the nick back; a join that lost is not shown at all.
//!
//! Bounded: at most [`MAX_SHADOWS`]; past that a lost claim is forgotten
//! (and its member missing here until its origin's next snapshot).

use std::collections::{BTreeMap, HashMap};

use super::state::RoomState;
use crate::protocol::validate::name_key;
use crate::protocol::{MessageId, ServerId};
use crate::relay::ChatEvent;

/// Most lost claims kept.
pub const MAX_SHADOWS: usize = 1024;

/// A lost claim: a member of its origin, named `name` there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Shadow {
    /// The name it holds on its origin.
    pub(super) name: String,
    /// Its rooms (key → spelling) as its origin says, while not shown.
    pub(super) rooms: BTreeMap<String, String>,
    /// The key it is shown under here instead (its name before a nick
    /// change that lost), if it is shown.
    pub(super) shown_as: Option<String>,
}

/// Lost claims by (origin, key of the claimed name).
#[derive(Debug, Default)]
pub(super) struct Shadows {
    map: HashMap<(ServerId, String), Shadow>,
}

impl Shadows {
    /// Keeps a lost claim of `origin` on the name with key `key`.
    pub(super) fn insert(&mut self, origin: ServerId, key: String, shadow: Shadow) {
        let at = (origin, key);
        if self.map.len() < MAX_SHADOWS || self.map.contains_key(&at) {
            self.map.insert(at, shadow);
        }
    }

    pub(super) fn get(&self, origin: ServerId, key: &str) -> Option<&Shadow> {
        self.map.get(&(origin, key.to_string()))
    }

    pub(super) fn get_mut(&mut self, origin: ServerId, key: &str) -> Option<&mut Shadow> {
        self.map.get_mut(&(origin, key.to_string()))
    }

    pub(super) fn remove(&mut self, origin: ServerId, key: &str) -> Option<Shadow> {
        self.map.remove(&(origin, key.to_string()))
    }

    /// The smallest origin with a claim on the name with key `key`.
    fn first_claimant(&self, key: &str) -> Option<ServerId> {
        self.map
            .keys()
            .filter(|(_, k)| k == key)
            .map(|(origin, _)| *origin)
            .min()
    }

    /// The member of `origin` shown as `from` is now shown as `to`.
    pub(super) fn repoint(&mut self, origin: ServerId, from: &str, to: &str) {
        for ((o, _), shadow) in self.map.iter_mut() {
            if *o == origin && shadow.shown_as.as_deref() == Some(from) {
                shadow.shown_as = Some(to.to_string());
            }
        }
        self.map.remove(&(origin, to.to_string()));
    }

    /// The claim of `origin` shown as `shown`, if it has one.
    pub(super) fn claim_shown_as(&self, origin: ServerId, shown: &str) -> Option<String> {
        self.map
            .iter()
            .find(|((o, _), s)| *o == origin && s.shown_as.as_deref() == Some(shown))
            .map(|((_, k), _)| k.clone())
    }

    /// The member of `origin` shown as `shown` is gone.
    pub(super) fn forget_shown(&mut self, origin: ServerId, shown: &str) {
        self.map
            .retain(|(o, _), s| !(*o == origin && s.shown_as.as_deref() == Some(shown)));
    }

    /// `origin`'s stream ended.
    pub(super) fn forget_origin(&mut self, origin: ServerId) {
        self.map.retain(|(o, _), _| *o != origin);
    }

    /// The claims of `origin` whose member is shown under another name:
    /// claimed key → shown key.
    pub(super) fn shown_as(&self, origin: ServerId) -> HashMap<String, String> {
        self.map
            .iter()
            .filter(|((o, _), _)| *o == origin)
            .filter_map(|((_, k), s)| Some((k.clone(), s.shown_as.clone()?)))
            .collect()
    }
}

/// Where `origin`'s member named so is, here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Found {
    /// Shown under this key.
    Shown(String),
    /// A lost claim, not shown, on the name with this key.
    Hidden(String),
}

impl RoomState {
    /// Where `origin`'s member `name` is here, if anywhere: shown under its
    /// name, shown under the name a lost nick change left it with, or kept
    /// as a lost claim.
    pub(super) fn find(&self, origin: ServerId, name: &str) -> Option<Found> {
        let key = name_key(name);
        if self.remote.get(&key).is_some_and(|m| m.server == origin) {
            return Some(Found::Shown(key));
        }
        let shadow = self.shadows.get(origin, &key)?;
        match &shadow.shown_as {
            Some(shown) if self.remote.get(shown).is_some_and(|m| m.server == origin) => {
                Some(Found::Shown(shown.clone()))
            }
            Some(_) => None,
            None => Some(Found::Hidden(key)),
        }
    }

    /// Keeps `origin`'s claim of `name` (in `rooms`, as spelled), which lost here.
    pub(super) fn shadow(&mut self, origin: ServerId, name: &str, rooms: &[String]) {
        let rooms = rooms
            .iter()
            .map(|r| (self.rooms.key_of(r).into_owned(), r.clone()))
            .collect();
        let shadow = Shadow {
            name: name.to_string(),
            rooms,
            shown_as: None,
        };
        self.shadows.insert(origin, name_key(name), shadow);
    }

    /// Takes the shown remote member under `key` out of sight, keeping its
    /// claim: it lost, but its origin may not know.
    pub(super) fn hide_remote(&mut self, key: &str) {
        let Some(member) = self.remote.get(key) else {
            return;
        };
        let rooms: Vec<String> = member
            .rooms
            .iter()
            .filter_map(|r| self.rooms.name(r).map(str::to_string))
            .collect();
        let (origin, name) = (member.server, member.name.clone());
        // Shown under an old name while its origin has it under another: the
        // claim kept is that one.
        let claim = self.shadows.claim_shown_as(origin, key);
        let claimed = claim.and_then(|k| Some((self.shadows.remove(origin, &k)?, k)));
        self.remove_remote(key);
        match claimed {
            Some((held, k)) => {
                let rooms = rooms
                    .iter()
                    .map(|r| (self.rooms.key_of(r).into_owned(), r.clone()))
                    .collect();
                let held = Shadow {
                    name: held.name,
                    rooms,
                    shown_as: None,
                };
                self.shadows.insert(origin, k, held);
            }
            None => self.shadow(origin, &name, &rooms),
        }
    }

    /// The name with key `key` is free here: the lost claim on it with the
    /// smallest origin id takes it (and so on, for a name a shown shadow
    /// leaves free in turn).
    pub(super) fn promote(&mut self, key: &str) {
        let mut free = vec![key.to_string()];
        while let Some(key) = free.pop() {
            if self.is_held(&key) {
                continue;
            }
            let Some(origin) = self.shadows.first_claimant(&key) else {
                continue;
            };
            let Some(shadow) = self.shadows.remove(origin, &key) else {
                continue;
            };
            let id = MessageId { origin, seq: 0 };
            match shadow.shown_as {
                Some(shown) => {
                    let Some(old) = self.remote.get(&shown).map(|m| m.name.clone()) else {
                        continue;
                    };
                    self.rename_remote(&shown, key.clone(), &shadow.name, Some(old.clone()));
                    let nick = ChatEvent::Nick {
                        old,
                        new: shadow.name,
                    };
                    self.show(id, origin, &nick);
                    free.push(shown);
                }
                None => {
                    let rooms: Vec<String> = shadow.rooms.into_values().collect();
                    self.add_remote(key.clone(), shadow.name, origin, &rooms);
                    self.show_rooms_joined(id, &key);
                }
            }
        }
    }
}
