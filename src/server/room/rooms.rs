//! The named rooms (IRC's channels): who is in each, cluster-wide, and
//! which local connections a room's frames go to. A room exists while it
//! has a member anywhere in the cluster (as this server knows it); its
//! history and topic outlive it (`history`, the topic book).
//!
//! Rooms are keyed by [`name_key`] (case, compatibility forms and
//! look-alikes folded, as for names) and shown as spelled when created here.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use super::history::{Histories, Line};
use super::queue::Pusher;
use super::{ConnId, IdHash, NameHash};
use crate::protocol::parts::RoomState as RoomView;
use crate::protocol::validate::name_key;
use crate::protocol::{Member, RoomInfo, ServerId, TopicInfo, LOBBY};
use crate::relay::TopicBook;

/// The default `--large-room`: like Discord's "large guild" threshold, a
/// room where every join shown to everyone would be noise and O(N²).
pub const DEFAULT_LARGE_ROOM: usize = 200;

/// One room.
#[derive(Debug)]
pub(super) struct Channel {
    /// As spelled when the room was created here.
    pub(super) name: String,
    /// Everyone in it, local and remote, by name.
    pub(super) members: BTreeMap<String, ServerId>,
    /// Its local members: where its frames go.
    pub(super) local: HashMap<ConnId, Slot, IdHash>,
    /// Large (see `large`): joins and leaves of others are not shown, and
    /// its members are listed only on request.
    pub(super) large: bool,
    /// Large, and queued for the next count (`counts`).
    pub(super) count_queued: bool,
}

/// A local member of a room: its queue, and whether it speaks version 2.
#[derive(Debug)]
pub(super) struct Slot {
    pub(super) pusher: Pusher,
    pub(super) v2: bool,
}

/// Every room, with the histories and topics.
#[derive(Debug)]
pub(super) struct Rooms {
    channels: HashMap<String, Channel, NameHash>,
    /// Room spelling → key for the rooms that exist, so a room named as
    /// spelled (nearly always) costs no key computation.
    keys: HashMap<String, String, NameHash>,
    lobby: String,
    pub(super) history: Histories,
    pub(super) topics: TopicBook,
    /// A room with more members than this is large (0: never).
    pub(super) large_above: usize,
    /// Rooms (by key) that became large or stopped being large during the
    /// current operation: their local members are told at its end.
    pub(super) flipped: Vec<String>,
    /// Large rooms (by key) whose membership changed since their members
    /// were last told the count (`counts`); each once.
    pub(super) recounted: Vec<String>,
}

impl Default for Rooms {
    fn default() -> Self {
        Rooms {
            channels: HashMap::default(),
            keys: HashMap::default(),
            lobby: name_key(LOBBY),
            history: Histories::default(),
            topics: TopicBook::default(),
            large_above: DEFAULT_LARGE_ROOM,
            flipped: Vec::new(),
            recounted: Vec::new(),
        }
    }
}

impl Rooms {
    /// `#lobby`'s key.
    pub(super) fn lobby(&self) -> &str {
        &self.lobby
    }

    /// The key of the room spelled `room` (computed only for a spelling
    /// no room here has).
    pub(super) fn key_of<'a>(&'a self, room: &str) -> Cow<'a, str> {
        key_in(&self.lobby, &self.keys, room)
    }

    /// Remembers a message said in the room spelled `room`.
    pub(super) fn record(&mut self, room: &str, line: Line) {
        let key = key_in(&self.lobby, &self.keys, room);
        self.history.record(&key, line);
    }

    pub(super) fn get(&self, key: &str) -> Option<&Channel> {
        self.channels.get(key)
    }

    pub(super) fn get_mut(&mut self, key: &str) -> Option<&mut Channel> {
        self.channels.get_mut(key)
    }

    /// The room's spelling here, if it exists.
    pub(super) fn name(&self, key: &str) -> Option<&str> {
        self.channels.get(key).map(|c| c.name.as_str())
    }

    /// Puts `name` (of `server`, at local connection `conn` if local) in
    /// the room with key `key`, creating it spelled `room` if need be.
    pub(super) fn add(
        &mut self,
        key: &str,
        room: &str,
        name: &str,
        server: ServerId,
        local: Option<(ConnId, Slot)>,
    ) {
        if !self.channels.contains_key(key) {
            // #lobby is always spelled so: version-1 clients know no other.
            let room = if key == self.lobby { LOBBY } else { room };
            self.keys.insert(room.to_string(), key.to_string());
            let channel = Channel {
                name: room.to_string(),
                members: BTreeMap::new(),
                local: HashMap::default(),
                large: false,
                count_queued: false,
            };
            self.channels.insert(key.to_string(), channel);
        }
        if let Some(channel) = self.channels.get_mut(key) {
            channel.members.insert(name.to_string(), server);
            if let Some((conn, slot)) = local {
                channel.local.insert(conn, slot);
            }
            if channel.flip(self.large_above) {
                self.flipped.push(key.to_string());
            }
            if channel.recount() {
                self.recounted.push(key.to_string());
            }
        }
    }

    /// Takes `name` out of the room with key `key`; the room goes when empty.
    pub(super) fn remove(&mut self, key: &str, name: &str, conn: Option<ConnId>) {
        let Some(channel) = self.channels.get_mut(key) else {
            return;
        };
        channel.members.remove(name);
        if let Some(conn) = conn {
            channel.local.remove(&conn);
        }
        if channel.members.is_empty() {
            if let Some(gone) = self.channels.remove(key) {
                self.keys.remove(&gone.name);
            }
        } else {
            if channel.flip(self.large_above) {
                self.flipped.push(key.to_string());
            }
            if channel.recount() {
                self.recounted.push(key.to_string());
            }
        }
    }

    /// A member of the room with key `key` is now called `new` (or is now
    /// on `server`).
    pub(super) fn rename(&mut self, key: &str, old: &str, new: &str, server: ServerId) {
        if let Some(channel) = self.channels.get_mut(key) {
            channel.members.remove(old);
            channel.members.insert(new.to_string(), server);
        }
    }

    /// The room as a member entering it finds it.
    pub(super) fn view(&self, key: &str) -> Option<RoomView> {
        let channel = self.channels.get(key)?;
        let (members, count) = if channel.large {
            (Vec::new(), Some(channel.members.len() as u32))
        } else {
            (members_of(channel), None)
        };
        Some(RoomView {
            room: channel.name.clone(),
            topic: self.topic(key),
            members,
            count,
        })
    }

    /// The room's topic, if it has a non-empty one.
    pub(super) fn topic(&self, key: &str) -> Option<TopicInfo> {
        let entry = self.topics.get(key)?;
        (!entry.text.is_empty()).then(|| TopicInfo {
            text: entry.text.clone(),
            by: entry.by.clone(),
            at: entry.at,
        })
    }

    /// Every room with a member, by spelling.
    pub(super) fn infos(&self) -> Vec<RoomInfo> {
        let mut rooms: Vec<RoomInfo> = self
            .channels
            .iter()
            .map(|(key, channel)| RoomInfo {
                room: channel.name.clone(),
                members: channel.members.len() as u32,
                topic: self.topic(key).map(|t| t.text).unwrap_or_default(),
            })
            .collect();
        rooms.sort_by(|a, b| a.room.cmp(&b.room));
        rooms
    }

    /// Every room, by key.
    #[cfg(test)]
    pub(super) fn all(&self) -> impl Iterator<Item = (&String, &Channel)> {
        self.channels.iter()
    }

    /// Forgets every local connection (shutting down).
    pub(super) fn forget_local(&mut self) {
        for channel in self.channels.values_mut() {
            channel.local.clear();
        }
    }
}

/// What [`Rooms::key_of`] does, on the fields it needs.
fn key_in<'a>(
    lobby: &'a str,
    keys: &'a HashMap<String, String, NameHash>,
    room: &str,
) -> Cow<'a, str> {
    if room == LOBBY {
        return Cow::Borrowed(lobby);
    }
    match keys.get(room) {
        Some(key) => Cow::Borrowed(key),
        None => Cow::Owned(name_key(room)),
    }
}

/// A room's members as the protocol lists them.
pub(super) fn members_of(channel: &Channel) -> Vec<Member> {
    channel
        .members
        .iter()
        .map(|(name, &server)| Member {
            name: name.clone(),
            server,
        })
        .collect()
}
