//! Who holds which name, cluster-wide, and the same-moment rule.
//!
//! Local and remote members share one name space, keyed by
//! [`name_key`]: a name is held by at most one member in the whole
//! cluster. When two servers accept the same name at the same moment (a
//! join or a nick change on each), both claims reach every server, and
//! every server applies the same rule, so they all agree without talking:
//!
//! > **The claim from the server with the smaller id wins.** Server ids are
//! > UUID v7, so this is the longer-running server.
//!
//! The losing server takes the name back from its member: one that had it
//! by a nick change gets its previous name back if that is still free
//! (everyone sharing a room hears `nick`); otherwise, as one that joined
//! with it, it leaves with reason `name_conflict`. Its client gets error
//! 211 either way. A server that showed the loser's claim before the
//! winner's does now what the loser's server will do — switches the
//! name's owner silently between two joins, turns a nick back, or lets the
//! member go — so the contested name is never shown twice.
//!
//! A claim that loses here is kept as a shadow (`shadows`): its origin may
//! never learn it lost (its member may have moved on first), and then it
//! takes the name here once the name is free.

use super::frames::{error_frame, joined_frame, left_frame};
use super::shadows::Shadow;
use super::state::{Remote, RoomState};
use super::ConnId;
use crate::protocol::validate::{name_key, validate_name, validate_room};
use crate::protocol::{ErrorCode, LeaveReason, MessageId, ServerId, MAX_ROOMS_PER_MEMBER};
use crate::relay::ChatEvent;

impl RoomState {
    /// Whether anyone, here or elsewhere, holds the name with key `key`.
    pub(super) fn is_held(&self, key: &str) -> bool {
        self.names.contains_key(key) || self.remote.contains_key(key)
    }

    /// Gives local connection `conn` the name `name` (already checked free).
    pub(super) fn claim_local(&mut self, conn: ConnId, name: &str) {
        self.names.insert(name_key(name), conn);
        self.roster.insert(name.to_string(), self.me);
        if let Some(entry) = self.conns.get_mut(&conn) {
            entry.name = Some(name.to_string());
        }
    }

    /// Frees a local member's name.
    pub(super) fn release_local(&mut self, name: &str) {
        self.names.remove(&name_key(name));
        self.roster.remove(name);
    }

    /// Local member `conn` is now called `new` (already checked free) in
    /// every room it is in. Returns the name it had.
    pub(super) fn rename_local(&mut self, conn: ConnId, new: &str) -> Option<String> {
        let entry = self.conns.get_mut(&conn)?;
        let old = entry.name.replace(new.to_string())?;
        let rooms: Vec<String> = entry.rooms.iter().cloned().collect();
        self.release_local(&old);
        self.names.insert(name_key(new), conn);
        self.roster.insert(new.to_string(), self.me);
        for key in rooms {
            self.rooms.rename(&key, &old, new, self.me);
        }
        Some(old)
    }

    /// Shows `origin`'s member `name` under `key`, in `rooms` (as spelled;
    /// invalid ones and those past the cap are skipped). Tells nobody.
    pub(super) fn add_remote(
        &mut self,
        key: String,
        name: String,
        origin: ServerId,
        rooms: &[String],
    ) {
        let mut member = Remote {
            name,
            server: origin,
            rooms: Default::default(),
            previous: None,
        };
        for room in rooms {
            if validate_room(room).is_err() || member.rooms.len() >= MAX_ROOMS_PER_MEMBER {
                continue;
            }
            let room_key = self.rooms.key_of(room).into_owned();
            self.rooms.add(&room_key, room, &member.name, origin, None);
            member.rooms.insert(room_key);
        }
        self.roster.insert(member.name.clone(), origin);
        self.remote.insert(key, member);
    }

    /// Forgets the remote member shown under `key`. Tells nobody.
    pub(super) fn remove_remote(&mut self, key: &str) -> Option<Remote> {
        let member = self.remote.remove(key)?;
        self.roster.remove(&member.name);
        for room in &member.rooms {
            self.rooms.remove(room, &member.name, None);
        }
        self.shadows.forget_shown(member.server, key);
        Some(member)
    }

    /// The remote member shown under `key` is now called `new` (key
    /// `new_key`, checked free), remembering `previous`. Tells nobody.
    pub(super) fn rename_remote(
        &mut self,
        key: &str,
        new_key: String,
        new: &str,
        previous: Option<String>,
    ) {
        let Some(mut member) = self.remote.remove(key) else {
            return;
        };
        self.roster.remove(&member.name);
        self.roster.insert(new.to_string(), member.server);
        for room in &member.rooms {
            self.rooms.rename(room, &member.name, new, member.server);
        }
        member.name = new.to_string();
        member.previous = previous;
        self.shadows.repoint(member.server, key, &new_key);
        self.remote.insert(new_key, member);
    }

    /// Tells the local members of each room of the remote member shown
    /// under `key` that it is there (`joined`, with id `id`).
    pub(super) fn show_rooms_joined(&mut self, id: MessageId, key: &str) {
        let Some(member) = self.remote.get(key) else {
            return;
        };
        let (name, server) = (member.name.clone(), member.server);
        for room in member.rooms.clone() {
            if let Some(spelled) = self.rooms.name(&room) {
                let frame = joined_frame(id, &name, server, spelled);
                self.fan_presence(&room, &frame, &name, server, None);
            }
        }
    }

    /// `name` holds its name on `origin` and is in `rooms`: its join
    /// (event `seq`), or an entry of a snapshot (`seq` 0).
    pub(super) fn remote_claim(
        &mut self,
        origin: ServerId,
        seq: u64,
        name: String,
        rooms: &[String],
    ) {
        // A name no server accepts from a client is not shown from one.
        if validate_name(&name).is_err() {
            return;
        }
        let key = name_key(&name);
        let id = MessageId { origin, seq };
        if let Some(&conn) = self.names.get(&key) {
            if self.me < origin {
                // Our member's claim wins; the origin takes its back.
                self.shadow(origin, &name, rooms);
                return;
            }
            self.lose_local_name(conn);
        }
        if self.shown_stale(origin, &key) {
            self.hide_remote(&key);
        }
        if let Some(holder) = self.remote.get(&key) {
            if holder.server == origin {
                return; // the same claim again
            }
            if holder.server < origin {
                self.shadow(origin, &name, rooms); // an older, winning claim holds it
                return;
            }
            if holder.previous.is_none() {
                self.switch_owner(&key, id, name, rooms);
                return;
            }
            self.displace_remote(&key);
        }
        if self.is_held(&key) {
            return;
        }
        self.shadows.remove(origin, &key);
        self.add_remote(key.clone(), name, origin, rooms);
        self.show_rooms_joined(id, &key);
    }

    /// Whether the member of `origin` shown under `key` has another name on
    /// `origin` (its nick there lost here): then `origin` may give `key` to
    /// another member.
    pub(super) fn shown_stale(&self, origin: ServerId, key: &str) -> bool {
        self.remote.get(key).is_some_and(|m| m.server == origin)
            && self.shadows.claim_shown_as(origin, key).is_some()
    }

    /// The newcomer wins a same-moment tie between two joins: the name
    /// stays shown, only its owner changes. Rooms only the loser was in
    /// hear it leave; rooms only the winner is in hear it join. The loser
    /// is kept as a lost claim.
    fn switch_owner(&mut self, key: &str, id: MessageId, name: String, rooms: &[String]) {
        let Some(old) = self.remote.get(key).cloned() else {
            return;
        };
        let lost = MessageId {
            origin: old.server,
            seq: 0,
        };
        self.hide_remote(key);
        self.shadows.remove(id.origin, key);
        self.add_remote(key.to_string(), name.clone(), id.origin, rooms);
        let now = self
            .remote
            .get(key)
            .map(|m| m.rooms.clone())
            .unwrap_or_default();
        for room in old.rooms.difference(&now) {
            if let Some(spelled) = self.rooms.name(room) {
                let frame = left_frame(
                    lost,
                    &old.name,
                    old.server,
                    LeaveReason::NameConflict,
                    spelled,
                    None,
                    false,
                );
                self.fan_presence(room, &frame, &old.name, old.server, None);
            }
        }
        for room in now.difference(&old.rooms) {
            if let Some(spelled) = self.rooms.name(room) {
                let frame = joined_frame(id, &name, id.origin, spelled);
                self.fan_presence(room, &frame, &name, id.origin, None);
            }
        }
    }

    /// The remote member shown under `key` lost its (nick) claim to a
    /// smaller server id: do what its server will, at once — turn the nick
    /// back if the old name is free here, or let the member go — keeping
    /// the claim in case its server never learns it lost.
    pub(super) fn displace_remote(&mut self, key: &str) {
        let Some(holder) = self.remote.get(key) else {
            return;
        };
        let (name, server, previous) =
            (holder.name.clone(), holder.server, holder.previous.clone());
        let id = MessageId {
            origin: server,
            seq: 0,
        };
        match previous {
            Some(prev) if name_key(&prev) != key && !self.is_held(&name_key(&prev)) => {
                let prev_key = name_key(&prev);
                self.rename_remote(key, prev_key.clone(), &prev, None);
                let shadow = Shadow {
                    name: name.clone(),
                    rooms: Default::default(),
                    shown_as: Some(prev_key),
                };
                self.shadows.insert(server, key.to_string(), shadow);
                self.show(
                    id,
                    server,
                    &ChatEvent::Nick {
                        old: name,
                        new: prev,
                    },
                );
            }
            _ => {
                self.show(
                    id,
                    server,
                    &ChatEvent::Left {
                        name,
                        reason: LeaveReason::NameConflict,
                        text: None,
                    },
                );
                self.hide_remote(key);
            }
        }
    }

    /// A same-moment claim elsewhere won: take the name back from our
    /// member — its previous name if it has one that is still free, else
    /// its membership.
    pub(super) fn lose_local_name(&mut self, conn: ConnId) {
        let Some(entry) = self.conns.get(&conn) else {
            return;
        };
        let Some(name) = entry.name.clone() else {
            return;
        };
        match entry.previous.clone() {
            Some(prev) if name_key(&prev) != name_key(&name) && !self.is_held(&name_key(&prev)) => {
                self.push(
                    conn,
                    error_frame(
                        ErrorCode::NAME_TAKEN,
                        format!(
                            "someone on another server took the name {name} at the same moment; \
                             you are {prev} again"
                        ),
                    ),
                );
                self.rename_local(conn, &prev);
                if let Some(entry) = self.conns.get_mut(&conn) {
                    entry.previous = None;
                }
                self.emit(ChatEvent::Nick {
                    old: name,
                    new: prev,
                });
            }
            _ => {
                self.push(
                    conn,
                    error_frame(
                        ErrorCode::NAME_TAKEN,
                        "someone on another server took this name at the same moment; \
                         choose another name and join again"
                            .into(),
                    ),
                );
                let _ = self.end_membership(conn, LeaveReason::NameConflict, None);
            }
        }
    }
}
