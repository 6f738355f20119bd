//! Nick changes: atomic (the old name is free once the new one is held),
//! unique cluster-wide under the same-moment rule (`members`), and seen by
//! everyone who shares a room with the member, and the member.
//!
//! A version-1 connection has no `nick` frame: in `#lobby` it sees the old
//! name leave (reason `leave`) and the new one join, both with the nick
//! change's event id.

use std::collections::HashSet;

use super::frames::{joined_frame, left_frame};
use super::shadows::{Found, Shadow};
use super::state::{IdHash, RoomState};
use super::{ConnId, Room, RoomError};
use crate::protocol::validate::{name_key, validate_name};
use crate::protocol::{encode_frame, LeaveReason, MessageId, ServerId, ServerMsg, LOBBY};
use crate::relay::ChatEvent;

impl Room {
    /// Renames member `conn` to `new` (already validated), unless someone
    /// holds that name or one that looks like it. A new spelling of one's
    /// own name (`leo` for `Leo`) is allowed; the same name is no change
    /// (`Ok(false)`: nothing is sent).
    pub fn nick(&self, conn: ConnId, new: &str) -> Result<bool, RoomError> {
        let mut state = self.lock();
        let old = state.member_name(conn)?;
        if old == new {
            return Ok(false);
        }
        let respelled = name_key(new) == name_key(&old);
        if !respelled && state.is_held(&name_key(new)) {
            return Err(RoomError::NameTaken(new.to_string()));
        }
        state.rename_local(conn, new);
        if let (false, Some(entry)) = (respelled, state.conns.get_mut(&conn)) {
            entry.previous = Some(old.clone());
        }
        let freed = (!respelled).then(|| name_key(&old));
        state.emit(ChatEvent::Nick {
            old,
            new: new.to_string(),
        });
        if let Some(freed) = freed {
            state.promote(&freed);
        }
        self.finish(&mut state);
        Ok(true)
    }
}

impl RoomState {
    /// `nick` to every version-2 connection that shares a room with the
    /// member `new` of `server`, and to the member; `left` and `joined` in
    /// `#lobby` to version-1 ones.
    pub(super) fn show_nick(&mut self, id: MessageId, server: ServerId, old: &str, new: &str) {
        let (rooms, conn) = self.rooms_of(new, server);
        let mut told: HashSet<ConnId, IdHash> = HashSet::default();
        let (mut v2, mut v1) = (Vec::new(), Vec::new());
        if let Some(conn) = conn {
            told.insert(conn);
            v2.push(conn);
        }
        let lobby = self.rooms.lobby();
        for key in &rooms {
            let Some(channel) = self.rooms.get(key) else {
                continue;
            };
            for (&c, slot) in &channel.local {
                if !told.insert(c) {
                    continue;
                }
                if slot.v2 {
                    v2.push(c);
                } else if key == lobby && !channel.large {
                    // Version 1 sees a nick change as a leave and a join,
                    // which a large room does not show.
                    v1.push(c);
                }
            }
        }
        let nick = encode_frame(&ServerMsg::Nick {
            id,
            old: old.to_string(),
            new: new.to_string(),
            server,
        });
        for c in v2 {
            self.push(c, nick.clone());
        }
        if !v1.is_empty() {
            let left = left_frame(id, old, server, LeaveReason::Leave, LOBBY, None, false);
            let joined = joined_frame(id, new, server, LOBBY);
            for c in v1 {
                self.push(c, left.clone());
                self.push(c, joined.clone());
            }
        }
    }

    /// `origin`'s member `old` is now `new` (event `seq`), unless a claim
    /// on `new` from a smaller server id is held here: then the member
    /// stays `old` here, its claim on `new` kept (`shadows`), until its
    /// server turns the nick back, lets it go, or `new` is free here.
    pub(super) fn remote_nick(&mut self, origin: ServerId, seq: u64, old: &str, new: &str) {
        if validate_name(new).is_err() {
            return;
        }
        let key = match self.find(origin, old) {
            None => return,
            Some(Found::Hidden(claimed)) => {
                // A lost claim moves on to another name: a claim anew.
                let Some(shadow) = self.shadows.remove(origin, &claimed) else {
                    return;
                };
                let rooms: Vec<String> = shadow.rooms.into_values().collect();
                self.remote_claim(origin, seq, new.to_string(), &rooms);
                return;
            }
            Some(Found::Shown(key)) => key,
        };
        // Found under a lost nick's old name: that claim is withdrawn now.
        self.shadows.remove(origin, &name_key(old));
        let Some(shown) = self.remote.get(&key).map(|m| m.name.clone()) else {
            return;
        };
        let id = MessageId { origin, seq };
        let new_key = name_key(new);
        if new_key == key {
            // A new spelling, or the nick turned back that is shown already.
            if shown != new {
                let previous = self.remote.get(&key).and_then(|m| m.previous.clone());
                self.rename_remote(&key, new_key, new, previous);
                self.show(id, origin, &nick(&shown, new));
            }
            return;
        }
        let lost = Shadow {
            name: new.to_string(),
            rooms: Default::default(),
            shown_as: Some(key.clone()),
        };
        if let Some(&conn) = self.names.get(&new_key) {
            if self.me < origin {
                self.shadows.insert(origin, new_key, lost);
                return;
            }
            self.lose_local_name(conn);
        }
        if self.shown_stale(origin, &new_key) {
            self.hide_remote(&new_key);
        }
        if let Some(holder) = self.remote.get(&new_key) {
            if holder.server <= origin {
                self.shadows.insert(origin, new_key, lost);
                return;
            }
            self.displace_remote(&new_key);
        }
        if self.is_held(&new_key) {
            return;
        }
        self.rename_remote(&key, new_key, new, Some(shown.clone()));
        self.show(id, origin, &nick(&shown, new));
        self.promote(&key);
    }
}

fn nick(old: &str, new: &str) -> ChatEvent {
    ChatEvent::Nick {
        old: old.to_string(),
        new: new.to_string(),
    }
}
