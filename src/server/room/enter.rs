//! Entering and parting rooms: a local member's `enter` and `part`, and
//! the same relayed from other servers.

use super::joining::{replay_frames, Replay};
use super::shadows::Found;
use super::state::RoomState;
use super::{ConnId, Room, RoomError};
use crate::protocol::validate::{validate_reason, validate_room};
use crate::protocol::{encode_frame, MessageId, ServerId, ServerMsg, MAX_ROOMS_PER_MEMBER};
use crate::relay::ChatEvent;

impl Room {
    /// Puts member `conn` in `room` (created if nobody is in it): it gets
    /// `room_state`, the room's history, then everyone in the room, the
    /// member included, gets `joined`. In the room already: `room_state`
    /// again, nothing else.
    pub fn enter(&self, conn: ConnId, room: &str) -> Result<(), RoomError> {
        let mut state = self.lock();
        let entered = state.enter_room(conn, room, Replay::History);
        self.finish(&mut state);
        entered
    }

    /// Takes member `conn` out of `room`: everyone in it, the member
    /// included, gets `left` with reason `leave` and `text`, what the
    /// member said as it parted (checked here, like a topic).
    pub fn part(&self, conn: ConnId, room: &str, text: Option<&str>) -> Result<(), RoomError> {
        let mut state = self.lock();
        let parted = state.part_room(conn, room, text);
        self.finish(&mut state);
        parted
    }
}

impl RoomState {
    /// The name of member `conn`.
    pub(super) fn member_name(&self, conn: ConnId) -> Result<String, RoomError> {
        self.conns
            .get(&conn)
            .and_then(|c| c.name.clone())
            .ok_or(RoomError::NotJoined)
    }

    /// The spelling of `room`, if member `conn` is in it: otherwise
    /// `RoomInvalid` for a bad name, `NotInRoom` for a room it is not in.
    pub(super) fn member_room(&self, conn: ConnId, room: &str) -> Result<String, RoomError> {
        let key = self.rooms.key_of(room);
        let member_of = self
            .conns
            .get(&conn)
            .is_some_and(|c| c.rooms.contains(key.as_ref()));
        match self.rooms.name(&key).filter(|_| member_of) {
            Some(spelled) => Ok(spelled.to_string()),
            None => {
                validate_room(room).map_err(RoomError::RoomInvalid)?;
                Err(RoomError::NotInRoom(room.to_string()))
            }
        }
    }

    /// The room named `room` (checked), if anybody is in it.
    pub(super) fn existing_room(&self, room: &str) -> Result<&super::rooms::Channel, RoomError> {
        validate_room(room).map_err(RoomError::RoomInvalid)?;
        let key = self.rooms.key_of(room);
        self.rooms
            .get(&key)
            .ok_or_else(|| RoomError::NoSuchRoom(room.to_string()))
    }

    /// What [`Room::enter`] does, showing the room's past as `replay` says.
    pub(super) fn enter_room(
        &mut self,
        conn: ConnId,
        room: &str,
        replay: Replay<'_>,
    ) -> Result<(), RoomError> {
        validate_room(room).map_err(RoomError::RoomInvalid)?;
        let name = self.member_name(conn)?;
        let key = self.rooms.key_of(room).into_owned();
        let rooms = self
            .conns
            .get(&conn)
            .map(|c| c.rooms.clone())
            .unwrap_or_default();
        if !rooms.contains(&key) {
            if rooms.len() >= MAX_ROOMS_PER_MEMBER {
                return Err(RoomError::TooManyRooms);
            }
            let slot = self.slot(conn);
            self.rooms.add(&key, room, &name, self.me, slot);
            if let Some(entry) = self.conns.get_mut(&conn) {
                entry.rooms.insert(key.clone());
            }
        }
        if let Some(view) = self.rooms.view(&key) {
            let spelled = view.room.clone();
            self.push(conn, encode_frame(&ServerMsg::RoomState(view)));
            if !rooms.contains(&key) {
                for frame in replay_frames(self, &key, &spelled, replay) {
                    self.push(conn, frame);
                }
                self.emit(ChatEvent::Entered {
                    name,
                    room: spelled,
                });
            }
        }
        Ok(())
    }

    /// What [`Room::part`] does.
    pub(super) fn part_room(
        &mut self,
        conn: ConnId,
        room: &str,
        text: Option<&str>,
    ) -> Result<(), RoomError> {
        let name = self.member_name(conn)?;
        let spelled = self.member_room(conn, room)?;
        if let Some(text) = text {
            validate_reason(text).map_err(RoomError::ReasonInvalid)?;
        }
        let key = self.rooms.key_of(room).into_owned();
        self.emit(ChatEvent::Parted {
            name: name.clone(),
            room: spelled,
            text: text.map(str::to_string),
        });
        self.rooms.remove(&key, &name, Some(conn));
        if let Some(entry) = self.conns.get_mut(&conn) {
            entry.rooms.remove(&key);
        }
        Ok(())
    }

    /// `origin`'s member `name` entered `room` (event `seq`).
    pub(super) fn remote_entered(&mut self, origin: ServerId, seq: u64, name: &str, room: &str) {
        if validate_room(room).is_err() {
            return;
        }
        let room_key = self.rooms.key_of(room).into_owned();
        let key = match self.find(origin, name) {
            None => return,
            Some(Found::Hidden(claimed)) => {
                if let Some(shadow) = self.shadows.get_mut(origin, &claimed) {
                    if shadow.rooms.len() < MAX_ROOMS_PER_MEMBER {
                        shadow.rooms.insert(room_key, room.to_string());
                    }
                }
                return;
            }
            Some(Found::Shown(key)) => key,
        };
        let Some(member) = self.remote.get_mut(&key) else {
            return;
        };
        if member.rooms.contains(&room_key) || member.rooms.len() >= MAX_ROOMS_PER_MEMBER {
            return;
        }
        member.rooms.insert(room_key.clone());
        let shown = member.name.clone();
        self.rooms.add(&room_key, room, &shown, origin, None);
        let event = ChatEvent::Entered {
            name: shown,
            room: room.to_string(),
        };
        self.show(MessageId { origin, seq }, origin, &event);
    }

    /// `origin`'s member `name` left `room` (event `seq`), saying `text`.
    pub(super) fn remote_parted(
        &mut self,
        origin: ServerId,
        seq: u64,
        name: &str,
        room: &str,
        text: Option<String>,
    ) {
        let room_key = self.rooms.key_of(room).into_owned();
        let key = match self.find(origin, name) {
            None => return,
            Some(Found::Hidden(claimed)) => {
                if let Some(shadow) = self.shadows.get_mut(origin, &claimed) {
                    shadow.rooms.remove(&room_key);
                }
                return;
            }
            Some(Found::Shown(key)) => key,
        };
        let Some(member) = self
            .remote
            .get(&key)
            .filter(|m| m.rooms.contains(&room_key))
        else {
            return;
        };
        let shown = member.name.clone();
        let event = ChatEvent::Parted {
            name: shown.clone(),
            room: room.to_string(),
            // What another server let through but this one would not show.
            text: text.filter(|t| validate_reason(t).is_ok()),
        };
        self.show(MessageId { origin, seq }, origin, &event);
        self.rooms.remove(&room_key, &shown, None);
        if let Some(member) = self.remote.get_mut(&key) {
            member.rooms.remove(&room_key);
        }
    }
}
