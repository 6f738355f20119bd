//! What a snapshot shows: the local stream's members with their rooms, as
//! a projection of the events the room submitted, and every topic this
//! server knows (set here, delivered from a peer, or in a peer's snapshot).
//!
//! Members are exact as of the last local event, which is what the sync
//! point needs. Topics are not part of any one stream — the topic rule is
//! order-free — so a snapshot carries what was known when it was built.

use std::collections::BTreeMap;

use super::SNAPSHOT_PART_BYTES;
use crate::protocol::validate::name_key;
use crate::protocol::{ServerId, LOBBY};
use crate::relay::messages::{ChatEvent, SnapshotMember, TopicEntry};
use crate::relay::TopicBook;

/// One snapshot part's entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SnapshotPart {
    pub(crate) members: Vec<SnapshotMember>,
    pub(crate) topics: Vec<TopicEntry>,
}

/// The local members (name → their rooms) and known topics.
#[derive(Debug, Default)]
pub(crate) struct Projection {
    members: BTreeMap<String, MemberRooms>,
    topics: TopicBook,
    /// Counts the changes to `topics`, so a snapshot can tell it is behind.
    pub(crate) topics_seen: u64,
}

/// A member's rooms, by key, each as spelled: at most 32, so a sorted
/// vector, not a tree (a tree node per member was ~0.5 KiB of every idle
/// client).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct MemberRooms(Vec<(String, String)>);

impl MemberRooms {
    /// Just `#lobby`, as a member is on joining.
    fn lobby() -> MemberRooms {
        static LOBBY_KEY: std::sync::LazyLock<String> =
            std::sync::LazyLock::new(|| name_key(LOBBY));
        MemberRooms(vec![(LOBBY_KEY.clone(), LOBBY.to_string())])
    }

    fn insert(&mut self, key: String, room: &str) {
        match self.0.binary_search_by(|(k, _)| k.as_str().cmp(&key)) {
            Ok(at) => self.0[at].1 = room.to_string(),
            Err(at) => self.0.insert(at, (key, room.to_string())),
        }
    }

    fn remove(&mut self, key: &str) {
        if let Ok(at) = self.0.binary_search_by(|(k, _)| k.as_str().cmp(key)) {
            self.0.remove(at);
        }
    }

    /// The rooms as spelled, in key order.
    fn spelled(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(_, room)| room)
    }
}

/// Encoded size of a member entry's fixed part beyond its name: the entry's
/// array header, the name's string header and the rooms' array header.
const MEMBER_OVERHEAD: usize = 1 + 3 + 3;
/// Encoded size of one room in a member entry beyond its spelling.
const ROOM_OVERHEAD: usize = 3;
/// Encoded size of a topic entry beyond its three strings: the array
/// header, three string headers, `at` and the origin id.
const TOPIC_OVERHEAD: usize = 1 + 3 * 3 + 9 + 18;

impl Projection {
    /// Follows one local event.
    pub(crate) fn apply_local(&mut self, me: ServerId, event: &ChatEvent) {
        match event {
            ChatEvent::Joined { name } => {
                self.members.insert(name.clone(), MemberRooms::lobby());
            }
            ChatEvent::Left { name, .. } => {
                self.members.remove(name);
            }
            ChatEvent::Entered { name, room } => {
                if let Some(rooms) = self.members.get_mut(name) {
                    rooms.insert(name_key(room), room);
                }
            }
            ChatEvent::Parted { name, room, .. } => {
                if let Some(rooms) = self.members.get_mut(name) {
                    rooms.remove(&name_key(room));
                }
            }
            ChatEvent::Nick { old, new } => {
                if let Some(rooms) = self.members.remove(old) {
                    self.members.insert(new.clone(), rooms);
                }
            }
            ChatEvent::Topic { .. } => self.note_topic(me, event),
            ChatEvent::Message { .. } | ChatEvent::Private { .. } | ChatEvent::Unknown { .. } => {}
        }
    }

    /// Keeps a topic set on `origin` (a `Topic` event), if it wins.
    pub(crate) fn note_topic(&mut self, origin: ServerId, event: &ChatEvent) {
        if let ChatEvent::Topic { room, text, by, at } = event {
            self.offer(TopicEntry {
                room: room.clone(),
                text: text.clone(),
                by: by.clone(),
                at: *at,
                origin,
            });
        }
    }

    /// Keeps a topic, if it wins.
    pub(crate) fn offer(&mut self, entry: TopicEntry) {
        if self.topics.offer(entry) {
            self.topics_seen += 1;
        }
    }

    /// Splits the projection into parts that each fit a datagram: topics
    /// first (from part 0), then members in name order. A member whose
    /// rooms do not fit what is left of a part continues, under the same
    /// name, in the next.
    pub(crate) fn split(&self) -> Vec<SnapshotPart> {
        let mut out = Parts::default();
        let mut topics: Vec<&TopicEntry> = self.topics.iter().collect();
        topics.sort_by(|a, b| a.room.cmp(&b.room));
        for topic in topics {
            let size = TOPIC_OVERHEAD + topic.room.len() + topic.text.len() + topic.by.len();
            out.make_room(size);
            out.used += size;
            out.current().topics.push(topic.clone());
        }
        for (name, rooms) in &self.members {
            out.make_room(MEMBER_OVERHEAD + name.len());
            out.start_member(name);
            for room in rooms.spelled() {
                let size = ROOM_OVERHEAD + room.len();
                if out.used + size > SNAPSHOT_PART_BYTES {
                    out.next_part();
                    out.start_member(name);
                }
                out.used += size;
                let entry = out.current().members.last_mut().expect("started above");
                entry.rooms.push(room.clone());
            }
        }
        out.parts
    }
}

/// Parts being filled.
struct Parts {
    parts: Vec<SnapshotPart>,
    used: usize,
}

impl Default for Parts {
    fn default() -> Self {
        Parts {
            parts: vec![SnapshotPart::default()],
            used: 0,
        }
    }
}

impl Parts {
    fn current(&mut self) -> &mut SnapshotPart {
        self.parts.last_mut().expect("one part at least")
    }

    fn next_part(&mut self) {
        self.parts.push(SnapshotPart::default());
        self.used = 0;
    }

    /// Starts a new part unless `size` more bytes fit this one (or it is empty).
    fn make_room(&mut self, size: usize) {
        let part = self.parts.last().expect("one part at least");
        let empty = part.members.is_empty() && part.topics.is_empty();
        if self.used + size > SNAPSHOT_PART_BYTES && !empty {
            self.next_part();
        }
    }

    fn start_member(&mut self, name: &str) {
        self.used += MEMBER_OVERHEAD + name.len();
        self.current().members.push(SnapshotMember {
            name: name.to_string(),
            rooms: Vec::new(),
        });
    }
}

/// The members of assembled snapshot parts, each once, rooms merged.
pub(crate) fn merge_members(
    parts: impl IntoIterator<Item = Vec<SnapshotMember>>,
) -> Vec<SnapshotMember> {
    let mut merged: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    for member in parts.into_iter().flatten() {
        merged.entry(member.name).or_default().extend(member.rooms);
    }
    merged
        .into_iter()
        .map(|(name, rooms)| SnapshotMember {
            name,
            rooms: rooms.into_iter().collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::messages::Snapshot;
    use crate::relay::messages::TopicEntry;
    use crate::wire::{envelope, Kind};

    fn me() -> ServerId {
        ServerId::from_bytes([1; 16])
    }

    fn seal_all(parts: &[SnapshotPart]) {
        for (i, part) in parts.iter().enumerate() {
            let snap = Snapshot {
                origin: me(),
                seq: u64::MAX,
                part: i as u32,
                parts: parts.len() as u32,
                members: part.members.clone(),
                from: Some(u64::MAX),
                topics: part.topics.clone(),
            };
            envelope::seal(Kind::RelaySnapshot, &"c".repeat(64), &snap).expect("fits one datagram");
        }
    }

    #[test]
    fn the_projection_follows_rooms_and_nick_changes() {
        let mut p = Projection::default();
        let ev = |e: ChatEvent, p: &mut Projection| p.apply_local(me(), &e);
        ev(ChatEvent::Joined { name: "Leo".into() }, &mut p);
        ev(
            ChatEvent::Entered {
                name: "Leo".into(),
                room: "#Dev".into(),
            },
            &mut p,
        );
        ev(
            ChatEvent::Parted {
                name: "Leo".into(),
                room: LOBBY.into(),
                text: None,
            },
            &mut p,
        );
        ev(
            ChatEvent::Nick {
                old: "Leo".into(),
                new: "Max".into(),
            },
            &mut p,
        );
        ev(ChatEvent::Joined { name: "Ann".into() }, &mut p);
        ev(
            ChatEvent::Parted {
                name: "Ann".into(),
                room: LOBBY.into(),
                text: None,
            },
            &mut p,
        );
        let parts = p.split();
        assert_eq!(parts.len(), 1);
        let names: Vec<(&str, Vec<&str>)> = parts[0]
            .members
            .iter()
            .map(|m| {
                (
                    m.name.as_str(),
                    m.rooms.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            names,
            [("Ann", vec![]), ("Max", vec!["#Dev"])],
            "a member in no room is still listed"
        );
        ev(
            ChatEvent::Left {
                name: "Max".into(),
                reason: crate::protocol::LeaveReason::Leave,
                text: None,
            },
            &mut p,
        );
        assert_eq!(p.split()[0].members.len(), 1);
    }

    #[test]
    fn snapshots_split_to_fit_datagrams() {
        // The worst case: long names, 32 rooms of 50 four-byte characters
        // each (6.5 KB per member), and the most and largest topics.
        let mut p = Projection::default();
        let room = |i: usize| format!("#{i:02}{}", "\u{1F600}".repeat(47));
        for n in 0..50 {
            let name = format!("{n:02}{}", "\u{1F600}".repeat(30));
            p.apply_local(me(), &ChatEvent::Joined { name: name.clone() });
            for i in 0..31 {
                p.apply_local(
                    me(),
                    &ChatEvent::Entered {
                        name: name.clone(),
                        room: room(i),
                    },
                );
            }
        }
        for i in 0..crate::relay::topics::MAX_TOPICS {
            p.apply_local(
                me(),
                &ChatEvent::Topic {
                    room: room(i),
                    text: "\u{1F600}".repeat(75),
                    by: "\u{1F600}".repeat(32),
                    at: i as u64,
                },
            );
        }
        let parts = p.split();
        seal_all(&parts);
        let topics: usize = parts.iter().map(|p| p.topics.len()).sum();
        assert_eq!(topics, crate::relay::topics::MAX_TOPICS);
        assert!(!parts[0].topics.is_empty(), "topics start in part 0");
        let members = merge_members(parts.iter().map(|p| p.members.clone()));
        assert_eq!(members.len(), 50);
        assert!(
            members.iter().all(|m| m.rooms.len() == 32),
            "rooms merged across parts"
        );
        assert!(parts.len() < 4096, "{} parts", parts.len());
        assert_eq!(Projection::default().split(), vec![SnapshotPart::default()]);
    }

    /// Delivers every datagram queued between `relays` (by relay address)
    /// until none is left.
    fn pump(relays: &mut [&mut super::super::Relay], now: std::time::Instant) {
        use crate::wire::Destination;
        loop {
            let mut moved = false;
            for i in 0..relays.len() {
                relays[i].handle_tick(now);
                while let Some(t) = relays[i].poll_transmit() {
                    let from = relays[i].addr();
                    let Destination::Unicast(to) = t.to else {
                        continue;
                    };
                    if let Some(r) = relays.iter_mut().find(|r| r.addr() == to) {
                        let env = envelope::open(&t.bytes).unwrap();
                        r.handle(from, &env, now).unwrap();
                        moved = true;
                    }
                }
            }
            if !moved {
                return;
            }
        }
    }

    #[test]
    fn a_sync_carries_rooms_and_every_topic_the_server_knows() {
        use super::super::{Delivery, Relay, RelayConfig};
        let now = std::time::Instant::now();
        let addr = |p: u16| std::net::SocketAddr::from(([127, 0, 0, 1], p));
        let relay = |n: u8| {
            Relay::new(
                ServerId::from_bytes([n; 16]),
                addr(n.into()),
                "c",
                RelayConfig::default(),
                now,
            )
        };
        let (mut a, mut b, mut c) = (relay(1), relay(2), relay(3));
        a.submit(1, ChatEvent::Joined { name: "Ann".into() });
        a.submit(
            2,
            ChatEvent::Entered {
                name: "Ann".into(),
                room: "#dev".into(),
            },
        );
        a.peer_up(b.id(), b.addr(), now);
        b.peer_up(a.id(), a.addr(), now);
        pump(&mut [&mut a, &mut b], now);
        let synced: Vec<Delivery> = std::iter::from_fn(|| b.poll_delivery()).collect();
        assert_eq!(
            synced,
            [Delivery::Synced {
                origin: a.id(),
                members: vec![SnapshotMember {
                    name: "Ann".into(),
                    rooms: vec!["#dev".into(), LOBBY.into()],
                }],
                topics: vec![],
            }]
        );
        // A topic set on a reaches b in a's stream; b then serves it to c,
        // which never hears a.
        a.submit(
            3,
            ChatEvent::Topic {
                room: "#dev".into(),
                text: "t".into(),
                by: "Ann".into(),
                at: 7,
            },
        );
        pump(&mut [&mut a, &mut b], now);
        assert!(matches!(
            b.poll_delivery(),
            Some(Delivery::Event { seq: 3, .. })
        ));
        b.peer_up(c.id(), c.addr(), now);
        c.peer_up(b.id(), b.addr(), now);
        pump(&mut [&mut b, &mut c], now);
        let Some(Delivery::Synced {
            origin,
            members,
            topics,
        }) = c.poll_delivery()
        else {
            panic!("c syncs with b")
        };
        assert_eq!((origin, members.len()), (b.id(), 0));
        assert_eq!(
            topics,
            [TopicEntry {
                room: "#dev".into(),
                text: "t".into(),
                by: "Ann".into(),
                at: 7,
                origin: a.id()
            }]
        );
    }
}
