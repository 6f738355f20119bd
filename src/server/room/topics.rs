//! Topics: set by a member of the room, kept by the deterministic rule of
//! [`crate::relay::topics`] (the greater `(at, origin)` wins), and shown
//! to a room's version-2 members only when the topic shown changes.

use super::state::RoomState;
use super::{ConnId, Room, RoomError};
use crate::protocol::validate::{validate_room, validate_topic};
use crate::protocol::{MessageId, ServerMsg};
use crate::relay::{ChatEvent, TopicEntry};

impl Room {
    /// Sets `room`'s topic to `text` (empty clears it) as member `conn`, at
    /// `now_ms` (Unix ms) — or just after the topic it replaces, if that
    /// one is stamped later, so that a topic set always replaces the one
    /// its setter saw.
    pub fn set_topic(
        &self,
        conn: ConnId,
        room: &str,
        text: &str,
        now_ms: u64,
    ) -> Result<(), RoomError> {
        validate_room(room).map_err(RoomError::RoomInvalid)?;
        validate_topic(text).map_err(RoomError::TopicInvalid)?;
        let mut state = self.lock();
        let by = state.member_name(conn)?;
        let spelled = state.member_room(conn, room)?;
        let key = state.rooms.key_of(room).into_owned();
        let held = state.rooms.topics.get(&key).map_or(0, |t| t.at);
        let at = now_ms.max(held.saturating_add(1));
        state.rooms.topics.offer(TopicEntry {
            room: spelled.clone(),
            text: text.to_string(),
            by: by.clone(),
            at,
            origin: self.id,
        });
        state.emit(ChatEvent::Topic {
            room: spelled,
            text: text.to_string(),
            by,
            at,
        });
        self.finish(&mut state);
        Ok(())
    }

    /// `room`'s topic, as the `topic` frame that answers asking for it
    /// (empty text, `by` and `at` 0 when it has none).
    pub fn topic(&self, room: &str) -> Result<ServerMsg, RoomError> {
        let state = self.lock();
        let spelled = state.existing_room(room)?.name.clone();
        let topic = state.rooms.topic(&state.rooms.key_of(room));
        Ok(ServerMsg::Topic {
            room: spelled,
            text: topic.as_ref().map(|t| t.text.clone()).unwrap_or_default(),
            by: topic.as_ref().map(|t| t.by.clone()).unwrap_or_default(),
            at: topic.map_or(0, |t| t.at),
        })
    }
}

impl RoomState {
    /// A topic from another server (its event `seq`, or 0 from a
    /// snapshot): kept if it wins, and then shown.
    pub(super) fn learn_topic(&mut self, entry: TopicEntry, seq: u64) {
        if validate_room(&entry.room).is_err() || validate_topic(&entry.text).is_err() {
            return;
        }
        let id = MessageId {
            origin: entry.origin,
            seq,
        };
        let event = ChatEvent::Topic {
            room: entry.room.clone(),
            text: entry.text.clone(),
            by: entry.by.clone(),
            at: entry.at,
        };
        let origin = entry.origin;
        if self.rooms.topics.offer(entry) {
            self.show(id, origin, &event);
        }
    }
}
