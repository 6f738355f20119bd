//! `send`: a chat line to a room the member is in, numbered once
//! cluster-wide even when resent after a failover (see `dedupe`).

use super::queue::Wakes;
use super::{ClientId, ConnId, Room, RoomError};
use crate::protocol::validate::validate_room;
use crate::protocol::{MessageId, LOBBY};
use crate::relay::{fits_one_datagram, ChatEvent};

/// A chat line as a member sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatLine {
    /// The text (already validated).
    pub text: String,
    /// The room; `#lobby` when `None`.
    pub room: Option<String>,
    /// An action (`/me`).
    pub action: bool,
}

impl ChatLine {
    /// A plain line to `#lobby`, as a version-1 client sends it.
    pub fn lobby(text: String) -> ChatLine {
        ChatLine {
            text,
            room: None,
            action: false,
        }
    }
}

impl Room {
    /// Says `text` in `#lobby` as member `conn` (text already validated).
    pub fn say(&self, conn: ConnId, text: String) -> Result<MessageId, RoomError> {
        self.say_then_wake(conn, ChatLine::lobby(text), None, &mut Wakes::default())
    }

    /// Says `line` as member `conn`, leaving the recipients' writers on
    /// `wakes` instead of waking them: a session handling a burst of
    /// messages wakes each writer once, when the burst is done. A line with
    /// a client id is numbered once cluster-wide (see [`ClientId`]): a
    /// resend of one already numbered is only acknowledged, with the
    /// original id.
    pub fn say_then_wake(
        &self,
        conn: ConnId,
        line: ChatLine,
        cid: Option<ClientId>,
        wakes: &mut Wakes,
    ) -> Result<MessageId, RoomError> {
        let mut state = self.lock();
        let from = state.member_name(conn)?;
        let room = line.room.as_deref().unwrap_or(LOBBY);
        let key = state.rooms.key_of(room);
        let member_of = state
            .conns
            .get(&conn)
            .is_some_and(|c| c.rooms.contains(key.as_ref()));
        let Some(spelled) = state.rooms.name(&key).filter(|_| member_of) else {
            validate_room(room).map_err(RoomError::RoomInvalid)?;
            return Err(RoomError::NotInRoom(room.to_string()));
        };
        let event = ChatEvent::Message {
            from,
            room: spelled.to_string(),
            text: line.text,
            cid: cid.map_or(0, |c| c.cid),
            action: line.action,
        };
        if !fits_one_datagram(&event) {
            return Err(RoomError::TooLong);
        }
        if let Some(original) = state.resent(conn, cid, &event) {
            self.settle(&mut state);
            wakes.append(&mut state.wakes);
            return Ok(original);
        }
        let id = state.emit(event);
        state.ack(conn, cid, id);
        self.settle(&mut state);
        wakes.append(&mut state.wakes);
        Ok(id)
    }
}
