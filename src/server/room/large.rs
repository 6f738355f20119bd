//! Large rooms: what keeps a join O(1) for everyone else.
//!
//! A room with more members than `large_above` (the server's
//! `--large-room`, cluster-wide count as this server knows it) becomes
//! *large*; it stops being large at or below half that, so a room near the
//! limit does not flip back and forth. In a large room:
//! * joins and parts of others are not shown: a member hears only its own
//!   `joined` and `left` there (confirmations), so N members joining cost
//!   O(N) frames, not O(N²);
//! * `room_state` (and `welcome`) list no members, only their `count`, and
//!   `who` answers a page at a time;
//! * messages, topics and nick changes go to everyone as before.
//!
//! When a room becomes large or small, each of its local (version-2)
//! members gets a fresh `room_state` at the end of the operation, which
//! replaces what it knew of the room. Version-1 members, which know no
//! `room_state`, simply stop (or start again) hearing joins and leaves.

use bytes::Bytes;

use super::rooms::Channel;
use super::state::RoomState;
use super::ConnId;
use crate::protocol::validate::name_key;
use crate::protocol::{encode_frame, ServerId, ServerMsg};

impl Channel {
    /// Applies the largeness rule after a change of membership; whether the
    /// room became large or stopped being large.
    pub(super) fn flip(&mut self, large_above: usize) -> bool {
        let n = self.members.len();
        let large = if large_above == 0 {
            false
        } else if self.large {
            n > large_above / 2
        } else {
            n > large_above
        };
        let flipped = large != self.large;
        self.large = large;
        flipped
    }
}

impl RoomState {
    /// Shows `frame`, a `joined` or `left` of `name` of `server`, to the
    /// local members of the room with key `key` but `except`; in a large
    /// room only to the member itself, if it is local.
    pub(super) fn fan_presence(
        &mut self,
        key: &str,
        frame: &Bytes,
        name: &str,
        server: ServerId,
        except: Option<ConnId>,
    ) {
        let Some(channel) = self.rooms.get(key) else {
            return;
        };
        if !channel.large {
            self.fan_out(key, frame, false, except);
            return;
        }
        if server != self.me {
            return;
        }
        let Some(&conn) = self.names.get(&name_key(name)) else {
            return;
        };
        if Some(conn) != except && channel.local.contains_key(&conn) {
            self.push(conn, frame.clone());
        }
    }

    /// Tells the local version-2 members of every room that became large
    /// or small during this operation what it is now (`room_state`).
    pub(super) fn refresh_flipped(&mut self) {
        let mut keys = std::mem::take(&mut self.rooms.flipped);
        keys.sort_unstable();
        keys.dedup();
        for key in keys {
            let Some(view) = self.rooms.view(&key) else {
                continue;
            };
            tracing::info!(
                room = %view.room,
                members = view.count.map_or(view.members.len(), |n| n as usize),
                large = view.count.is_some(),
                "room size crossed the large-room limit"
            );
            let frame = encode_frame(&ServerMsg::RoomState(view));
            self.fan_out(&key, &frame, true, None);
        }
    }
}
