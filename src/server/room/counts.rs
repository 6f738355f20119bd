//! A large room's live member count (PROTOCOL.md 17.11).
//!
//! A large room lists no members, only a `count` in `room_state`, which
//! goes stale as people come and go; announcing each join to everyone is
//! what large rooms exist to avoid. So a change of membership only queues
//! the room, once (O(1), nothing sent), and [`Room::publish_counts`],
//! which the server calls every [`COUNT_EVERY`], sends each queued room's
//! local version-2 members one `room_count` frame, encoded once: a join
//! storm of any size costs each member at most one frame a second per
//! room.

use std::time::Duration;

use super::rooms::Channel;
use super::state::RoomState;
use super::Room;
use crate::protocol::{encode_frame, ServerMsg};

/// How often the server publishes the counts of the large rooms that changed.
pub const COUNT_EVERY: Duration = Duration::from_secs(1);

impl Channel {
    /// A member came or went: whether the room (large, not queued yet)
    /// must now be queued for the next count.
    pub(super) fn recount(&mut self) -> bool {
        if !self.large || self.count_queued {
            return false;
        }
        self.count_queued = true;
        true
    }
}

impl RoomState {
    /// Sends every queued room that is still large its count, once.
    pub(super) fn publish_counts(&mut self) {
        let mut keys = std::mem::take(&mut self.rooms.recounted);
        // A room gone and made again since is queued twice.
        keys.sort_unstable();
        keys.dedup();
        for key in keys {
            let Some(channel) = self.rooms.get_mut(&key) else {
                continue; // gone: its last member left
            };
            channel.count_queued = false;
            if !channel.large {
                continue; // small again: its members were sent the list
            }
            let frame = encode_frame(&ServerMsg::RoomCount {
                room: channel.name.clone(),
                count: channel.members.len() as u32,
            });
            self.fan_out(&key, &frame, true, None);
        }
    }
}

impl Room {
    /// Tells the local members of every large room whose membership
    /// changed since the last call how many members it has now
    /// (`room_count`). The server calls it every [`COUNT_EVERY`].
    pub fn publish_counts(&self) {
        let mut state = self.lock();
        if state.closing || state.rooms.recounted.is_empty() {
            return;
        }
        state.publish_counts();
        self.finish(&mut state);
    }
}
