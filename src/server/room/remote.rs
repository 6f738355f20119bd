//! Applying what the relay delivers from other servers to the room.
//!
//! Remote members share the name space with local ones: a name is held by
//! at most one member in the whole cluster. When two servers accept the same
//! name at the same moment, both claims reach every server. Every server
//! then applies the same rule, so they all agree without talking:
//!
//! > **The claim from the server with the smaller id wins.** Server ids are
//! > UUID v7, so this is the longer-running server.
//!
//! The losing server takes the name back from its client. The client gets
//! error 211 `name_taken` and may join again under another name, and
//! everyone hears it leave with reason `name_conflict`. Servers that saw the
//! loser's claim first switch the name's owner silently, because the name
//! never disappeared.
//!
//! Events that are not part of any server's stream (members found in a
//! snapshot, members of a lost server) carry `seq` 0 in their id.

use super::{state::RoomState, Room};
use crate::protocol::validate::name_key;
use crate::protocol::LOBBY;
use crate::protocol::{
    encode_frame, ErrorCode, LeaveReason, Member, MessageId, ServerId, ServerMsg,
};
use crate::relay::{ChatEvent, Delivery};

impl Room {
    /// Applies one relay delivery: remote joins, leaves and messages reach
    /// the local clients; lost servers' members leave.
    pub fn apply(&self, delivery: Delivery) {
        let mut state = self.lock();
        if state.closing {
            return;
        }
        match delivery {
            Delivery::Synced { origin, members } => {
                for name in members {
                    state.remote_join(self.id, origin, 0, name);
                }
            }
            Delivery::Event { origin, seq, event } => match event {
                ChatEvent::Joined { name } => state.remote_join(self.id, origin, seq, name),
                ChatEvent::Left { name, reason } => state.remote_leave(origin, seq, &name, reason),
                // A newer server's event kind: nothing to show, but it kept its place.
                ChatEvent::Unknown { .. } => {}
                ChatEvent::Message { from, text, cid } => {
                    let id = MessageId { origin, seq };
                    if !state.shown_already(&from, cid, id) {
                        let frame = RoomState::message_frame(id, &from, &text);
                        state.record(id, from, text);
                        state.broadcast(frame);
                    }
                }
            },
            Delivery::Lost { origin, count } => {
                state.broadcast(encode_frame(&ServerMsg::Notice {
                    text: format!(
                        "{count} events from server {} were lost in transit and cannot be recovered",
                        origin.short()
                    ),
                }));
            }
            Delivery::Resynced { origin, members } => {
                // The joins and leaves in between were among the lost
                // events: bring this origin's members up to date by diff.
                let now: std::collections::BTreeSet<String> = members.into_iter().collect();
                let mut gone: Vec<String> = state
                    .remote
                    .values()
                    .filter(|m| m.server == origin && !now.contains(&m.name))
                    .map(|m| m.name.clone())
                    .collect();
                gone.sort();
                let added = now.iter().any(|name| {
                    state
                        .remote
                        .get(&name_key(name))
                        .is_none_or(|m| m.server != origin)
                });
                if !gone.is_empty() || added {
                    state.broadcast(encode_frame(&ServerMsg::Notice {
                        text: format!(
                            "the member list of server {} has been brought up to date",
                            origin.short()
                        ),
                    }));
                }
                for name in gone {
                    // Why they left was in the lost events.
                    state.remote_leave(origin, 0, &name, LeaveReason::Unknown);
                }
                for name in now {
                    state.remote_join(self.id, origin, 0, name);
                }
            }
            Delivery::OriginGone { origin, graceful } => {
                let reason = if graceful {
                    LeaveReason::Shutdown
                } else {
                    LeaveReason::ServerLost
                };
                let mut gone: Vec<String> = state
                    .remote
                    .values()
                    .filter(|m| m.server == origin)
                    .map(|m| m.name.clone())
                    .collect();
                gone.sort();
                for name in gone {
                    state.remote_leave(origin, 0, &name, reason);
                }
            }
        }
        self.finish(&mut state);
    }
}

impl RoomState {
    /// `name` joined on `origin` (event `seq`, or 0 if from a snapshot).
    fn remote_join(&mut self, me: ServerId, origin: ServerId, seq: u64, name: String) {
        let key = name_key(&name);
        if let Some(&conn) = self.names.get(&key) {
            if me < origin {
                return; // our member's claim wins; the origin takes its back
            }
            self.revoke_local_name(conn, me);
        }
        if let Some(holder) = self.remote.get(&key) {
            if holder.server <= origin {
                return; // the same claim again, or an older (winning) one
            }
            // The newcomer wins a same-moment tie: the name stays shown,
            // only its owner changes.
            self.set_remote(
                key,
                Member {
                    name,
                    server: origin,
                },
            );
            return;
        }
        self.set_remote(
            key,
            Member {
                name: name.clone(),
                server: origin,
            },
        );
        self.broadcast(encode_frame(&ServerMsg::Joined {
            id: MessageId { origin, seq },
            name,
            server: origin,
            room: LOBBY.into(),
        }));
    }

    /// `name` left `origin`. Ignored unless `origin` holds the name here.
    fn remote_leave(&mut self, origin: ServerId, seq: u64, name: &str, reason: LeaveReason) {
        let key = name_key(name);
        if self.remote.get(&key).is_none_or(|m| m.server != origin) {
            return;
        }
        let Some(member) = self.drop_remote(&key) else {
            return;
        };
        self.broadcast(encode_frame(&ServerMsg::Left {
            id: MessageId { origin, seq },
            name: member.name,
            server: origin,
            reason,
            room: LOBBY.into(),
        }));
    }

    /// A same-moment claim elsewhere won: take the name back from our client.
    fn revoke_local_name(&mut self, conn: super::ConnId, me: ServerId) {
        let notice = encode_frame(&ServerMsg::Error {
            code: ErrorCode::NAME_TAKEN,
            text: "someone on another server took this name at the same moment; \
                   choose another name and join again"
                .into(),
            fatal: false,
            cid: None,
        });
        self.push(conn, notice);
        let _ = self.end_membership(conn, LeaveReason::NameConflict, me);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode;
    use crate::server::room::Registration;

    fn id(n: u8) -> ServerId {
        ServerId::from_bytes([n; 16])
    }

    fn drain(reg: &mut Registration) -> Vec<ServerMsg> {
        let mut out = Vec::new();
        while let Ok(frame) = reg.outbound.try_recv() {
            out.push(decode(&frame[4..]).unwrap());
        }
        out
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
            members: vec!["Ann".into(), "Bob".into()],
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
