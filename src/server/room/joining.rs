//! `join` and `rejoin`: taking a name and entering `#lobby` (and, for a
//! version-2 rejoin, the rooms the member was in before it failed over).

use bytes::Bytes;

use super::frames::{line_frame, welcome_frame, Welcome};
use super::history::{backfill, watermark};
use super::state::RoomState;
use super::{ConnId, JoinError, Room};
use crate::protocol::validate::name_key;
use crate::protocol::{encode_frame, MessageId, ServerMsg, LOBBY};
use crate::relay::ChatEvent;

/// A request to take a name.
#[derive(Debug, Clone, Copy)]
pub struct Joining<'a> {
    /// The name (already validated).
    pub name: &'a str,
    /// The connection's protocol version (1 or 2).
    pub version: u16,
    /// For a rejoin: the newest id the client saw from each origin. It
    /// then gets, as `message`s, what it missed instead of history.
    pub last_seen: Option<&'a [MessageId]>,
    /// Version 2, rejoin: the rooms to enter again besides `#lobby`
    /// (invalid names, and any past the cap, are skipped).
    pub rooms: &'a [String],
}

/// What a member entering a room is shown of its past.
#[derive(Debug, Clone, Copy)]
pub(super) enum Replay<'a> {
    /// The last `history_on_join` messages, as `history`.
    History,
    /// After a failover: every recent message newer than these, as `message`.
    Backfill(&'a [MessageId]),
}

impl Room {
    /// Makes `conn` a (version-2) member named `name` (already validated).
    /// The new member gets `welcome` first, then everyone in `#lobby`, the
    /// new member included, gets `joined`.
    pub fn join(&self, conn: ConnId, name: &str) -> Result<(), JoinError> {
        self.join_as(
            conn,
            &Joining {
                name,
                version: 2,
                last_seen: None,
                rooms: &[],
            },
        )
    }

    /// Like [`Room::join`] for a client moving here from a lost server:
    /// instead of history it gets, as `message`s, every recent message it
    /// has not seen. `last_seen` holds the newest id it saw from each origin.
    pub fn rejoin(
        &self,
        conn: ConnId,
        name: &str,
        last_seen: &[MessageId],
    ) -> Result<(), JoinError> {
        self.join_as(
            conn,
            &Joining {
                name,
                version: 2,
                last_seen: Some(last_seen),
                rooms: &[],
            },
        )
    }

    /// Takes a name as `joining` says: `welcome` (for version 2 with
    /// `#lobby`'s state in `rooms`), `#lobby`'s history or backfill, then
    /// `joined` to `#lobby`; then, for a rejoin, each listed room as for
    /// `enter`, with its backfill instead of history.
    pub fn join_as(&self, conn: ConnId, joining: &Joining<'_>) -> Result<(), JoinError> {
        let mut state = self.lock();
        if state.closing {
            return Err(JoinError::ShuttingDown);
        }
        let Some(entry) = state.conns.get(&conn) else {
            return Err(JoinError::ShuttingDown);
        };
        if let Some(current) = &entry.name {
            return Err(JoinError::AlreadyJoined(current.clone()));
        }
        let name = joining.name;
        if state.is_held(&name_key(name)) {
            return Err(JoinError::NameTaken(name.to_string()));
        }
        state.claim_local(conn, name);
        let lobby = state.rooms.lobby().to_string();
        if let Some(entry) = state.conns.get_mut(&conn) {
            entry.version = joining.version;
            entry.rooms.insert(lobby.clone());
        }
        let slot = state.slot(conn);
        state.rooms.add(&lobby, LOBBY, name, self.id, slot);
        let seen = watermark(state.rooms.history.peek(&lobby).into_iter().flatten());
        let rooms: Vec<_> = if joining.version >= 2 {
            state.rooms.view(&lobby).into_iter().collect()
        } else {
            Vec::new()
        };
        let servers = self.server_addrs();
        let web = self.web_addrs();
        let welcome = Welcome {
            server: self.id,
            name,
            servers: &servers,
            seen: &seen,
            web: &web,
            room: LOBBY,
            rooms: &rooms,
        };
        // A large #lobby is not listed (`large`).
        let frame = match state.rooms.get(&lobby).filter(|c| !c.large) {
            Some(channel) => welcome_frame(&welcome, &channel.members),
            None => welcome_frame(&welcome, &Default::default()),
        };
        state.push(conn, frame);
        let replay = match joining.last_seen {
            None => Replay::History,
            Some(seen) => Replay::Backfill(seen),
        };
        for frame in replay_frames(&mut state, &lobby, LOBBY, replay) {
            state.push(conn, frame);
        }
        state.emit(ChatEvent::Joined {
            name: name.to_string(),
        });
        if joining.version >= 2 {
            for room in joining.rooms {
                let key = state.rooms.key_of(room).into_owned();
                let inside = state
                    .conns
                    .get(&conn)
                    .is_some_and(|c| c.rooms.contains(&key));
                if inside {
                    continue;
                }
                // The client waits for each room it asked for: a room_state,
                // or this error (in the order asked), so it knows which it
                // is in again.
                if let Err(refused) = state.enter_room(conn, room, replay) {
                    let error = ServerMsg::Error {
                        code: refused.code(),
                        text: format!("could not enter {room} again: {refused}"),
                        fatal: false,
                        cid: None,
                    };
                    state.push(conn, encode_frame(&error));
                }
            }
        }
        self.finish(&mut state);
        Ok(())
    }
}

/// What a member entering room `key` (spelled `room`) is shown of its
/// past, as `replay` says.
pub(super) fn replay_frames(
    state: &mut RoomState,
    key: &str,
    room: &str,
    replay: Replay<'_>,
) -> Vec<Bytes> {
    let count = state.history_on_join;
    let Some(ring) = state.rooms.history.read(key) else {
        return Vec::new();
    };
    match replay {
        Replay::History => ring
            .iter()
            .skip(ring.len().saturating_sub(count))
            .map(|l| line_frame("history", l.id, &l.from, &l.text, room, l.action, l.cid))
            .collect(),
        Replay::Backfill(seen) => backfill(ring, seen)
            .map(|l| line_frame("message", l.id, &l.from, &l.text, room, l.action, l.cid))
            .collect(),
    }
}
