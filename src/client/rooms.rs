//! The rooms the user is in, and the active one: where a plain line goes.
//! Pure, so it is unit-tested.
//!
//! The active room is the one entered or switched to last (`#lobby` at
//! start). `/join` makes a room active as soon as it is typed, so that in
//! `/join #dev` followed by `hello` the line goes to `#dev` — the server
//! handles requests in order, so it is in the room by then. Should the
//! server refuse the entry, the room that was active before is again.
//! Rooms are compared as the server compares them ([`name_key`]) and shown
//! as the server spells them.

use std::collections::HashMap;

use super::sanitize::clean;
use crate::protocol::validate::name_key;
use crate::protocol::{RoomState, LOBBY};

/// A room asked for and not answered yet.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entering {
    room: String,
    /// The room that was active when the entry was asked for.
    before: Option<String>,
}

/// The user's rooms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rooms {
    /// The rooms the server says the member is in, least recently used
    /// first (entered or switched to): the last one is the active room,
    /// unless one being entered is.
    joined: Vec<String>,
    entering: Vec<Entering>,
    active: Option<String>,
    /// The member count of each large room the member is in (by room
    /// key): as of entry, then as the server's `room_count` updates it.
    counts: HashMap<String, u32>,
}

/// Whether two room names are one room.
pub fn same_room(a: &str, b: &str) -> bool {
    a == b || name_key(a) == name_key(b)
}

/// Whether `room` is the default room, whose lines carry no `[#room]`.
pub fn is_lobby(room: &str) -> bool {
    same_room(room, LOBBY)
}

impl Default for Rooms {
    fn default() -> Rooms {
        Rooms::from_welcome(&[])
    }
}

impl Rooms {
    /// The rooms a `welcome` lists; from a version-1 server (no list) just
    /// `#lobby`. `#lobby` is active if among them, else the last listed.
    pub fn from_welcome(rooms: &[RoomState]) -> Rooms {
        let mut joined: Vec<String> = rooms.iter().map(|r| r.room.clone()).collect();
        if rooms.is_empty() {
            joined.push(LOBBY.into());
        }
        if let Some(at) = joined.iter().position(|r| is_lobby(r)) {
            let lobby = joined.remove(at);
            joined.push(lobby);
        }
        let counts = rooms
            .iter()
            .filter_map(|r| Some((name_key(&r.room), r.count?)))
            .collect();
        Rooms {
            active: joined.last().cloned(),
            joined,
            entering: Vec::new(),
            counts,
        }
    }

    /// A room's member count from the server: `Some` for a large room (as
    /// of entry, or live), `None` for a small one. Kept only for rooms the
    /// member is in; whether the prompt changed.
    pub fn counted(&mut self, room: &str, count: Option<u32>) -> bool {
        if !self.has(room) {
            return false;
        }
        let key = name_key(room);
        let before = match count {
            Some(n) => self.counts.insert(key, n),
            None => self.counts.remove(&key),
        };
        before != count && self.active.as_deref().is_some_and(|a| same_room(a, room))
    }

    /// The active room, if the user is in any.
    pub fn active(&self) -> Option<&str> {
        self.active.as_deref()
    }

    /// Whether the user is in `room` (or has asked to enter it).
    pub fn has(&self, room: &str) -> bool {
        self.position(room).is_some() || self.entering.iter().any(|e| same_room(&e.room, room))
    }

    fn position(&self, room: &str) -> Option<usize> {
        self.joined.iter().position(|r| same_room(r, room))
    }

    /// `room` as the server spells it, if the user is in it (else as given).
    pub fn spelled(&self, room: &str) -> String {
        self.position(room)
            .map_or_else(|| room.to_string(), |at| self.joined[at].clone())
    }

    /// The room a command names, or the active one.
    pub fn target(&self, given: Option<&str>) -> Result<String, String> {
        match (given, self.active()) {
            (Some(room), _) => Ok(self.spelled(room)),
            (None, Some(active)) => Ok(active.to_string()),
            (None, None) => Err("you are in no room; /join #room enters one".into()),
        }
    }

    /// `/join room` was typed: it is the active room from now on.
    pub fn entering(&mut self, room: &str) {
        self.entering.push(Entering {
            room: room.to_string(),
            before: self.active.take(),
        });
        self.active = Some(self.spelled(room));
    }

    /// Whether a `room_state` for `room` is news of a room the member is
    /// already in (it became large or small), not the answer to an entry.
    pub fn is_refresh(&self, room: &str) -> bool {
        self.has(room) && !self.entering.iter().any(|e| same_room(&e.room, room))
    }

    /// The server answered an entry with the room's state: the member is
    /// in it. A room entered without asking (none was pending) becomes
    /// active too, as the last one entered.
    pub fn entered(&mut self, room: &str) {
        let asked = self.entering.iter().position(|e| same_room(&e.room, room));
        if let Some(at) = asked {
            self.entering.remove(at);
        }
        let still_active = self.active.as_deref().is_some_and(|a| same_room(a, room));
        if let Some(at) = self.position(room) {
            self.joined.remove(at);
        }
        self.joined.push(room.to_string());
        if asked.is_none() || still_active {
            self.active = Some(room.to_string());
        }
    }

    /// The server refused the oldest entry asked for (bad name, too many
    /// rooms): the room active before it is again, if that one still is.
    pub fn refused_entry(&mut self) {
        if self.entering.is_empty() {
            return;
        }
        let refused = self.entering.remove(0);
        let active = self.active.as_deref();
        if active.is_some_and(|a| same_room(a, &refused.room)) {
            self.active = refused
                .before
                .filter(|b| self.has(b))
                .or_else(|| self.joined.last().cloned());
        }
    }

    /// The member left `room` (asked for, or confirmed by the server). If
    /// it was active, the most recently used room left is.
    pub fn parted(&mut self, room: &str) {
        if let Some(at) = self.position(room) {
            self.joined.remove(at);
        }
        self.counts.remove(&name_key(room));
        self.entering.retain(|e| !same_room(&e.room, room));
        if self.active.as_deref().is_some_and(|a| same_room(a, room)) {
            self.active = self.joined.last().cloned();
        }
    }

    /// `/switch room`: makes a room the user is in the active one.
    pub fn switch(&mut self, room: &str) -> Result<(), String> {
        if let Some(pending) = self.entering.iter().find(|e| same_room(&e.room, room)) {
            self.active = Some(pending.room.clone());
            return Ok(());
        }
        let Some(at) = self.position(room) else {
            return Err(format!("you are not in {room}; /join {room} enters it"));
        };
        let room = self.joined.remove(at);
        self.joined.push(room.clone());
        self.active = Some(room);
        Ok(())
    }

    /// Every room to enter again after a failover: those the member is in
    /// and those asked for (the answer may have been lost with the server),
    /// `#lobby` aside (a rejoin always puts the member there).
    pub fn to_rejoin(&self) -> Vec<String> {
        let pending = self.entering.iter().map(|e| &e.room);
        let mut out: Vec<String> = Vec::new();
        for room in self.joined.iter().chain(pending) {
            if !is_lobby(room) && !out.iter().any(|r| same_room(r, room)) {
                out.push(room.clone());
            }
        }
        out
    }

    /// After a rejoin: the rooms the server's `welcome` lists are the ones
    /// the member is in; the others the rejoin asked for (see
    /// [`Rooms::to_rejoin`]) are being entered, each answered by its own
    /// `room_state` after the welcome. The active room stays the one it
    /// was: re-entering a room does not make it active.
    pub fn rejoined(&mut self, rooms: &[RoomState]) {
        let active = self.active.take();
        let again = self.to_rejoin();
        let mut fresh = Rooms::from_welcome(rooms);
        for room in again {
            if fresh.position(&room).is_none() {
                fresh.entering.push(Entering { room, before: None });
            }
        }
        if let Some(active) = active.filter(|a| fresh.has(a)) {
            let _ = fresh.switch(&active);
        }
        *self = fresh;
    }

    /// The terminal prompt: the active room (`#dev> `), as the server
    /// spells it, so cleaned; a large room with its member count
    /// (`#dev (1234)> `).
    pub fn prompt(&self) -> String {
        let Some(room) = self.active() else {
            return "(no room)> ".into();
        };
        match self.counts.get(&name_key(room)) {
            Some(n) => format!("{} ({n})> ", clean(room)),
            None => format!("{}> ", clean(room)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(room: &str) -> RoomState {
        RoomState {
            room: room.into(),
            topic: None,
            members: Vec::new(),
            count: None,
        }
    }

    #[test]
    fn the_lobby_is_active_at_start() {
        let rooms = Rooms::default();
        assert_eq!(rooms.active(), Some("#lobby"));
        assert_eq!(rooms.prompt(), "#lobby> ");
        assert_eq!(rooms.target(None).unwrap(), "#lobby");
        assert!(rooms.to_rejoin().is_empty());
        let v2 = Rooms::from_welcome(&[state("#lobby")]);
        assert_eq!(v2, rooms);
    }

    #[test]
    fn a_room_is_active_from_the_moment_join_is_typed() {
        let mut rooms = Rooms::default();
        rooms.entering("#Dev");
        assert_eq!(rooms.active(), Some("#Dev"));
        assert!(rooms.has("#dev"));
        assert_eq!(rooms.to_rejoin(), ["#Dev"], "asked for: entered again");
        // The server spells it as it was created.
        rooms.entered("#dev");
        assert_eq!(rooms.active(), Some("#dev"));
        assert_eq!(rooms.prompt(), "#dev> ");
        assert_eq!(rooms.spelled("#DEV"), "#dev");
        assert_eq!(rooms.target(Some("#DEV")).unwrap(), "#dev");
        assert_eq!(rooms.joined, ["#lobby", "#dev"]);
    }

    #[test]
    fn a_refused_entry_gives_the_active_room_back() {
        let mut rooms = Rooms::default();
        rooms.entering("#full");
        rooms.refused_entry();
        assert_eq!(rooms.active(), Some("#lobby"));
        assert!(!rooms.has("#full"));
        // Switched away meanwhile: the switch stands.
        rooms.entering("#a");
        rooms.entering("#b");
        rooms.switch("#lobby").unwrap();
        rooms.refused_entry();
        assert_eq!(rooms.active(), Some("#lobby"));
        rooms.refused_entry();
        rooms.refused_entry(); // nothing pending: nothing happens
        assert_eq!(rooms.active(), Some("#lobby"));
    }

    #[test]
    fn switching_needs_a_room_one_is_in() {
        let mut rooms = Rooms::default();
        for room in ["#a", "#b"] {
            rooms.entering(room);
            rooms.entered(room);
        }
        assert_eq!(rooms.active(), Some("#b"));
        rooms.switch("#A").unwrap();
        assert_eq!(rooms.active(), Some("#a"));
        assert_eq!(
            rooms.switch("#c").unwrap_err(),
            "you are not in #c; /join #c enters it"
        );
        assert_eq!(rooms.active(), Some("#a"));
    }

    #[test]
    fn parting_the_active_room_activates_the_last_used_one() {
        let mut rooms = Rooms::default();
        for room in ["#a", "#b"] {
            rooms.entering(room);
            rooms.entered(room);
        }
        rooms.switch("#lobby").unwrap();
        rooms.switch("#a").unwrap();
        rooms.parted("#a");
        assert_eq!(rooms.active(), Some("#lobby"));
        rooms.parted("#b"); // not active: the active room stays
        assert_eq!(rooms.active(), Some("#lobby"));
        rooms.parted("#lobby");
        assert_eq!(rooms.active(), None);
        assert_eq!(rooms.prompt(), "(no room)> ");
        assert!(rooms.target(None).unwrap_err().contains("/join"));
        assert_eq!(rooms.target(Some("#x")).unwrap(), "#x");
        rooms.entered("#a\u{1b}[2J");
        assert_eq!(rooms.prompt(), "#a\u{fffd}[2J> ", "no escape from a server");
    }

    #[test]
    fn a_room_entered_unasked_becomes_active() {
        let mut rooms = Rooms::default();
        rooms.entered("#ops");
        assert_eq!(rooms.active(), Some("#ops"));
        // Answers to entries asked for while switched away leave the
        // switch alone.
        rooms.entering("#a");
        rooms.switch("#lobby").unwrap();
        rooms.entered("#a");
        assert_eq!(rooms.active(), Some("#lobby"));
    }

    #[test]
    fn a_rejoin_keeps_the_rooms_the_server_lists() {
        let mut rooms = Rooms::default();
        for room in ["#a", "#b"] {
            rooms.entering(room);
            rooms.entered(room);
        }
        rooms.switch("#a").unwrap();
        rooms.entering("#c");
        rooms.switch("#a").unwrap();
        assert_eq!(rooms.to_rejoin(), ["#b", "#a", "#c"]);
        // The new server lists #lobby, refuses #b (an error, in the order
        // asked), enters #a and #c again (their room_state).
        rooms.rejoined(&[state("#lobby")]);
        assert_eq!(rooms.active(), Some("#a"), "still being entered");
        rooms.refused_entry();
        rooms.entered("#a");
        rooms.entered("#c");
        assert_eq!(rooms.active(), Some("#a"));
        assert!(!rooms.has("#b"));
        assert!(rooms.has("#c"));
        rooms.switch("#b").unwrap_err();
        // A welcome that lists a room: the member is in it already.
        rooms.rejoined(&[state("#lobby"), state("#a")]);
        assert_eq!(rooms.active(), Some("#a"));
        assert_eq!(rooms.to_rejoin(), ["#a", "#c"]);
    }

    #[test]
    fn re_entering_rooms_after_a_rejoin_keeps_the_active_room() {
        for active in ["#lobby", "#dev", "#ops"] {
            let mut rooms = Rooms::default();
            for room in ["#dev", "#ops"] {
                rooms.entering(room);
                rooms.entered(room);
            }
            rooms.switch(active).unwrap();
            let asked = rooms.to_rejoin();
            // The welcome lists #lobby; each other room's state follows.
            rooms.rejoined(&[state("#lobby")]);
            assert_eq!(rooms.active(), Some(active));
            rooms.entered("#dev");
            rooms.entered("#ops");
            assert_eq!(rooms.active(), Some(active), "was {active}");
            assert!(rooms.has("#dev") && rooms.has("#ops") && rooms.has("#lobby"));
            let mut again = rooms.to_rejoin();
            again.sort();
            assert_eq!(again, ["#dev", "#ops"], "asked {asked:?}");
        }
    }

    #[test]
    fn a_large_room_shows_its_live_count_in_the_prompt() {
        let mut lobby = state("#lobby");
        lobby.count = Some(250);
        let mut rooms = Rooms::from_welcome(&[lobby]);
        assert_eq!(rooms.prompt(), "#lobby (250)> ");
        assert!(
            rooms.counted("#LOBBY", Some(251)),
            "the active room's prompt changed"
        );
        assert_eq!(rooms.prompt(), "#lobby (251)> ");
        assert!(
            !rooms.counted("#lobby", Some(251)),
            "the same count changes nothing"
        );
        assert!(
            !rooms.counted("#elsewhere", Some(9)),
            "not a room we are in"
        );
        rooms.entering("#dev");
        rooms.entered("#dev");
        assert!(!rooms.counted("#lobby", Some(300)), "not the active room");
        assert_eq!(rooms.prompt(), "#dev> ");
        rooms.switch("#lobby").unwrap();
        assert_eq!(rooms.prompt(), "#lobby (300)> ");
        assert!(rooms.counted("#lobby", None), "small again");
        assert_eq!(rooms.prompt(), "#lobby> ");
    }
}
