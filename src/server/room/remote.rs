//! Applying what the relay delivers from other servers: each event of an
//! origin's stream, its snapshots, its losses and its end.
//!
//! The name rule for same-moment claims is in `members`. Events that are
//! not part of any server's stream (members found in a snapshot, members
//! of a lost server, rooms brought up to date) carry `seq` 0 in their id.

use std::collections::BTreeMap;

use super::frames::{joined_frame, left_frame};
use super::keys::RoomKeys;
use super::shadows::{Found, Shadow};
use super::state::RoomState;
use super::Room;
use crate::protocol::validate::{name_key, validate_room};
use crate::protocol::{encode_frame, LeaveReason, MessageId, ServerId, ServerMsg, LOBBY};
use crate::relay::{ChatEvent, Delivery, SnapshotMember};

impl Room {
    /// Applies one relay delivery: remote events reach the local clients
    /// they concern; resynchronised and lost servers' members are brought
    /// up to date.
    pub fn apply(&self, delivery: Delivery) {
        self.apply_all([delivery]);
    }

    /// Applies relay deliveries in order, under one lock: consecutive chat
    /// lines to a room reach each local member as one queue entry (a run,
    /// see `run`), and each writer is woken once for the lot.
    pub fn apply_all(&self, deliveries: impl IntoIterator<Item = Delivery>) {
        let mut state = self.lock();
        for delivery in deliveries {
            state.apply_one(self.id, delivery);
        }
        // Nothing else may reach the members before the last lines.
        state.seal_run();
        // A chat line from another server goes to every local member in
        // the room: written out directly, after the lock (see `queue`).
        let mut wakes = self.finish_taking_wakes(&mut state);
        drop(state);
        wakes.flush_all();
    }
}

impl RoomState {
    /// Applies one delivery; a run of relayed lines may be left open.
    fn apply_one(&mut self, me: ServerId, delivery: Delivery) {
        // The relay never delivers this server's own stream; were it to
        // (a forged origin), our members would be claimed against themselves.
        if self.closing || origin_of(&delivery) == me {
            return;
        }
        let line = matches!(
            delivery,
            Delivery::Event {
                event: ChatEvent::Message { .. },
                ..
            }
        );
        if !line {
            self.seal_run();
        }
        match delivery {
            Delivery::Synced {
                origin,
                members,
                topics,
            } => {
                for member in members {
                    self.remote_claim(origin, 0, member.name, &member.rooms);
                }
                for topic in topics {
                    self.learn_topic(topic, 0);
                }
            }
            Delivery::Event { origin, seq, event } => self.apply_event(origin, seq, event),
            Delivery::Lost { origin, count } => {
                self.broadcast(encode_frame(&ServerMsg::Notice {
                    text: format!(
                        "{count} events from server {} were lost in transit and cannot be recovered",
                        origin.short()
                    ),
                }));
            }
            Delivery::Resynced {
                origin,
                members,
                topics,
            } => {
                self.resync(origin, members);
                for topic in topics {
                    self.learn_topic(topic, 0);
                }
            }
            Delivery::OriginGone { origin, graceful } => {
                let reason = if graceful {
                    LeaveReason::Shutdown
                } else {
                    LeaveReason::ServerLost
                };
                self.shadows.forget_origin(origin);
                let mut gone: Vec<String> = self
                    .remote
                    .values()
                    .filter(|m| m.server == origin)
                    .map(|m| m.name.clone())
                    .collect();
                gone.sort();
                for name in gone {
                    self.remote_leave(origin, 0, &name, reason, None);
                }
            }
        }
    }
}

/// The server a delivery is about.
fn origin_of(delivery: &Delivery) -> ServerId {
    match delivery {
        Delivery::Synced { origin, .. }
        | Delivery::Event { origin, .. }
        | Delivery::Lost { origin, .. }
        | Delivery::Resynced { origin, .. }
        | Delivery::OriginGone { origin, .. } => *origin,
    }
}

impl RoomState {
    /// Event `seq` of `origin`'s stream.
    fn apply_event(&mut self, origin: ServerId, seq: u64, event: ChatEvent) {
        match event {
            ChatEvent::Joined { name } => self.remote_claim(origin, seq, name, &[LOBBY.into()]),
            ChatEvent::Left { name, reason, text } => {
                self.remote_leave(origin, seq, &name, reason, text)
            }
            ChatEvent::Entered { name, room } => self.remote_entered(origin, seq, &name, &room),
            ChatEvent::Parted { name, room, text } => {
                self.remote_parted(origin, seq, &name, &room, text)
            }
            ChatEvent::Message { .. } => {
                let id = MessageId { origin, seq };
                if let ChatEvent::Message { from, cid, .. } = &event {
                    if self.shown_already(from, *cid, id) {
                        return;
                    }
                }
                self.show_relayed_line(id, &event);
                self.record(id, event);
            }
            ChatEvent::Private { .. } => self.remote_private(origin, seq, event),
            ChatEvent::Nick { old, new } => self.remote_nick(origin, seq, &old, &new),
            ChatEvent::Topic { room, text, by, at } => {
                let entry = crate::relay::TopicEntry {
                    room,
                    text,
                    by,
                    at,
                    origin,
                };
                self.learn_topic(entry, seq);
            }
            // A newer server's event kind: nothing to show, but it kept its place.
            ChatEvent::Unknown { .. } => {}
        }
    }

    /// `name` left `origin` (event `seq`, or 0), saying `text`. Ignored
    /// unless `origin`'s member is shown here under that name (or it as an
    /// alias).
    pub(super) fn remote_leave(
        &mut self,
        origin: ServerId,
        seq: u64,
        name: &str,
        reason: LeaveReason,
        text: Option<String>,
    ) {
        let key = match self.find(origin, name) {
            None => return,
            Some(Found::Hidden(claimed)) => {
                self.shadows.remove(origin, &claimed);
                return;
            }
            Some(Found::Shown(key)) => key,
        };
        let Some(shown) = self.remote.get(&key).map(|m| m.name.clone()) else {
            return;
        };
        let event = ChatEvent::Left {
            name: shown,
            reason,
            // What another server let through but this one would not show.
            text: text.filter(|t| crate::protocol::validate::validate_reason(t).is_ok()),
        };
        self.show(MessageId { origin, seq }, origin, &event);
        self.remove_remote(&key);
        self.promote(&key);
    }

    /// After an overrun `origin`'s members are exactly `members`: the joins,
    /// leaves, entries and parts in between were among the lost events, so
    /// bring them up to date by diff (why they left is not known).
    fn resync(&mut self, origin: ServerId, members: Vec<SnapshotMember>) {
        // The snapshot says anew which of the origin's claims are live.
        let aliases = self.shadows.shown_as(origin);
        self.shadows.forget_origin(origin);
        // Each snapshot member under the key it is shown with here.
        let mut now: BTreeMap<String, SnapshotMember> = BTreeMap::new();
        for member in members {
            let key = name_key(&member.name);
            let shown = aliases
                .get(&key)
                .filter(|k| self.remote.get(*k).is_some_and(|m| m.server == origin))
                .cloned()
                .unwrap_or(key);
            now.insert(shown, member);
        }
        let held: BTreeMap<String, RoomKeys> = self
            .remote
            .iter()
            .filter(|(_, m)| m.server == origin)
            .map(|(k, m)| (k.clone(), m.rooms.clone()))
            .collect();
        let rooms_of = |state: &RoomState, m: &SnapshotMember| -> RoomKeys {
            m.rooms
                .iter()
                .filter(|r| validate_room(r).is_ok())
                .map(|r| state.rooms.key_of(r).into_owned())
                .collect()
        };
        let gone: Vec<String> = held
            .keys()
            .filter(|k| !now.contains_key(*k))
            .cloned()
            .collect();
        let changed = !gone.is_empty()
            || now
                .iter()
                .any(|(k, m)| held.get(k) != Some(&rooms_of(self, m)));
        if !changed {
            return;
        }
        self.broadcast(encode_frame(&ServerMsg::Notice {
            text: format!(
                "the member list of server {} has been brought up to date",
                origin.short()
            ),
        }));
        for key in gone {
            if let Some(name) = self.remote.get(&key).map(|m| m.name.clone()) {
                // Why they left was in the lost events.
                self.remote_leave(origin, 0, &name, LeaveReason::Unknown, None);
            }
        }
        for (key, member) in now {
            // Checked again: a leave above may have handed a name on.
            let rooms = self
                .remote
                .get(&key)
                .filter(|m| m.server == origin)
                .map(|m| m.rooms.clone());
            match rooms {
                Some(rooms) => {
                    let claimed = name_key(&member.name);
                    if claimed != key {
                        // Still shown under the name before a lost nick change.
                        let shadow = Shadow {
                            name: member.name.clone(),
                            rooms: Default::default(),
                            shown_as: Some(key.clone()),
                        };
                        self.shadows.insert(origin, claimed, shadow);
                    }
                    self.resync_rooms(origin, &key, &rooms, &member.rooms);
                }
                None => self.remote_claim(origin, 0, member.name, &member.rooms),
            }
        }
    }

    /// Brings the rooms of `origin`'s member shown under `key` from `held`
    /// to `listed` (as spelled in a snapshot).
    fn resync_rooms(&mut self, origin: ServerId, key: &str, held: &RoomKeys, listed: &[String]) {
        let Some(name) = self.remote.get(key).map(|m| m.name.clone()) else {
            return;
        };
        let id = MessageId { origin, seq: 0 };
        let mut listed_keys = RoomKeys::default();
        for room in listed.iter().filter(|r| validate_room(r).is_ok()) {
            let room_key = self.rooms.key_of(room).into_owned();
            listed_keys.insert(room_key.clone());
            if !held.contains(&room_key) {
                self.rooms.add(&room_key, room, &name, origin, None);
                if let Some(member) = self.remote.get_mut(key) {
                    member.rooms.insert(room_key.clone());
                }
                if let Some(spelled) = self.rooms.name(&room_key) {
                    let frame = joined_frame(id, &name, origin, spelled);
                    self.fan_presence(&room_key, &frame, &name, origin, None);
                }
            }
        }
        for room_key in held.difference(&listed_keys) {
            if let Some(spelled) = self.rooms.name(room_key) {
                let frame = left_frame(
                    id,
                    &name,
                    origin,
                    LeaveReason::Unknown,
                    spelled,
                    None,
                    false,
                );
                self.fan_presence(room_key, &frame, &name, origin, None);
            }
            self.rooms.remove(room_key, &name, None);
            if let Some(member) = self.remote.get_mut(key) {
                member.rooms.remove(room_key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ErrorCode;
    use crate::server::room::tests::drain;

    fn id(n: u8) -> ServerId {
        ServerId::from_bytes([n; 16])
    }

    fn joined(origin: ServerId, seq: u64, name: &str) -> Delivery {
        Delivery::Event {
            origin,
            seq,
            event: ChatEvent::Joined { name: name.into() },
        }
    }

    #[test]
    fn a_name_held_elsewhere_cannot_be_taken_here() {
        let room = Room::new(id(5), "a:1".into(), 64);
        let a = room.register();
        room.apply(joined(id(9), 1, "Leo"));
        assert!(matches!(
            room.join(a.id, "leo"),
            Err(super::super::JoinError::NameTaken(_))
        ));
        assert_eq!(room.status().members.len(), 1);
    }

    #[test]
    fn the_smaller_server_id_wins_a_same_moment_claim() {
        // We are server 5 and our client holds "Leo". A claim from server 9
        // loses; a claim from server 2 wins and our client loses the name.
        let room = Room::new(id(5), "a:1".into(), 64);
        let mut leo = room.register();
        let mut bob = room.register();
        room.join(leo.id, "Leo").unwrap();
        room.join(bob.id, "Bob").unwrap();
        drain(&mut leo);
        drain(&mut bob);
        room.apply(joined(id(9), 1, "Leo"));
        assert!(drain(&mut bob).is_empty(), "the losing claim is not shown");
        room.apply(joined(id(2), 1, "Leo"));
        let to_leo = drain(&mut leo);
        assert!(to_leo.iter().any(|m| matches!(
            m,
            ServerMsg::Error { code, fatal: false, .. } if *code == ErrorCode::NAME_TAKEN
        )));
        let to_bob = drain(&mut bob);
        assert!(to_bob.iter().any(|m| matches!(
            m,
            ServerMsg::Left { reason: LeaveReason::NameConflict, server, .. } if *server == id(5)
        )));
        assert!(to_bob.iter().any(|m| matches!(
            m,
            ServerMsg::Joined { server, .. } if *server == id(2)
        )));
        let owner: Vec<_> = room
            .status()
            .members
            .into_iter()
            .filter(|m| m.name == "Leo")
            .collect();
        assert_eq!(owner.len(), 1);
        assert_eq!(owner[0].server, id(2));
        // The revoked client may join again under another name.
        room.join(leo.id, "Leo2").unwrap();
    }

    #[test]
    fn third_parties_agree_whatever_order_the_claims_arrive_in() {
        for order in [[2u8, 9], [9, 2]] {
            let room = Room::new(id(5), "a:1".into(), 64);
            for (seq, origin) in order.iter().enumerate() {
                room.apply(joined(id(*origin), seq as u64 + 1, "Leo"));
            }
            // The loser's own leave (it revokes its client) must not remove the winner.
            room.apply(Delivery::Event {
                origin: id(9),
                seq: 7,
                event: ChatEvent::Left {
                    name: "Leo".into(),
                    reason: LeaveReason::NameConflict,
                    text: None,
                },
            });
            let members = room.status().members;
            assert_eq!(members.len(), 1, "order {order:?}");
            assert_eq!(members[0].server, id(2), "order {order:?}");
        }
    }

    #[test]
    fn a_lost_server_takes_its_members_with_it() {
        let room = Room::new(id(5), "a:1".into(), 64);
        let mut me = room.register();
        room.join(me.id, "Me").unwrap();
        room.apply(Delivery::Synced {
            origin: id(7),
            members: ["Ann", "Bob"]
                .map(|name| SnapshotMember {
                    name: name.into(),
                    rooms: vec![LOBBY.into()],
                })
                .into(),
            topics: vec![],
        });
        room.apply(joined(id(8), 1, "Cat"));
        drain(&mut me);
        room.apply(Delivery::OriginGone {
            origin: id(7),
            graceful: false,
        });
        let left: Vec<_> = drain(&mut me)
            .into_iter()
            .filter_map(|m| match m {
                ServerMsg::Left {
                    name,
                    reason: LeaveReason::ServerLost,
                    id: mid,
                    ..
                } => {
                    assert_eq!(mid.seq, 0, "not part of any stream");
                    Some(name)
                }
                _ => None,
            })
            .collect();
        assert_eq!(left, ["Ann", "Bob"]);
        let names: Vec<_> = room.status().members.into_iter().map(|m| m.name).collect();
        assert_eq!(names, ["Cat", "Me"]);
    }
}
