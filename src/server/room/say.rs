//! `send`: a chat line to a room the member is in, numbered once
//! cluster-wide even when resent after a failover (see `dedupe`).

use super::queue::Wakes;
use super::state::RoomState;
use super::{ClientId, ConnId, Room, RoomError};
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
        let mut wakes = Wakes::default();
        let said = self.say_then_wake(conn, ChatLine::lobby(text), None, &mut wakes);
        self.end_burst(&mut wakes);
        said
    }

    /// Says `line` as member `conn`, leaving the recipients' writers on
    /// `wakes` instead of waking them: a session handling a burst of
    /// messages wakes each writer once, when the burst is done. The line
    /// may wait in the member's open run (`run`) for the room's other
    /// members: call [`Room::end_burst`] before writing the burst out. A line with
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
        // Not `lock`: this member's own run stays open (`run`).
        let mut state = self.lock_keeping_run();
        if state.run_of_other(conn) {
            state.seal_run();
        }
        let from = state.member_name(conn)?;
        let room = state.member_room(conn, line.room.as_deref().unwrap_or(LOBBY))?;
        let event = ChatEvent::Message {
            from,
            room,
            text: line.text,
            cid: cid.map_or(0, |c| c.cid),
            action: line.action,
        };
        let id = state.say_line(conn, event, cid)?;
        self.settle(&mut state);
        wakes.append(&mut state.wakes);
        Ok(id)
    }
}

impl Room {
    /// Shows the open run of lines to the others, if any (`run`): a
    /// session calls this when its burst is done, before flushing `wakes`.
    pub fn end_burst(&self, wakes: &mut Wakes) {
        let mut state = self.lock_keeping_run();
        state.seal_run();
        self.settle(&mut state);
        wakes.append(&mut state.wakes);
    }
}

impl RoomState {
    /// Numbers and shows a line (`event`: a message or private message) of
    /// member `conn`, unless the cluster numbered it already (a resend:
    /// then only acknowledged with the original id); refused if it could
    /// not be relayed in one datagram.
    pub(super) fn say_line(
        &mut self,
        conn: ConnId,
        event: ChatEvent,
        cid: Option<ClientId>,
    ) -> Result<MessageId, RoomError> {
        if !fits_one_datagram(&event) {
            return Err(RoomError::TooLong);
        }
        if let Some(original) = self.resent(conn, cid, &event) {
            return Ok(original);
        }
        let id = self.emit_from(event, Some(conn));
        self.ack(conn, cid, id);
        Ok(id)
    }
}
