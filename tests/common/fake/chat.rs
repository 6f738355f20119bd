//! The fake's side of one conversation: the frames a server answers each
//! request with.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chatty::protocol::{
    ClientMsg, ErrorCode, LeaveReason, Member, MessageId, RoomInfo, RoomState, ServerId, ServerMsg,
    TopicInfo, FEATURE_ACK, LOBBY,
};

use super::{ANN, NOBODY, TAKEN};

/// The fake's side of one conversation.
pub(super) struct Chat {
    pub(super) version: u16,
    pub(super) id: ServerId,
    pub(super) seq: Arc<AtomicU64>,
    pub(super) swallow: bool,
    /// Refuse every `rejoin` with 211.
    pub(super) holds_names: bool,
    pub(super) acks: bool,
    pub(super) me: String,
    /// Rooms the client is in (besides `#lobby`), with their topics.
    pub(super) rooms: BTreeMap<String, String>,
}

impl Chat {
    fn next_id(&mut self) -> MessageId {
        MessageId {
            origin: self.id,
            seq: self.seq.fetch_add(1, Ordering::SeqCst) + 1,
        }
    }

    fn member(&self, name: &str) -> Member {
        Member {
            name: name.into(),
            server: self.id,
        }
    }

    fn error(code: ErrorCode, text: &str, cid: Option<u64>) -> ServerMsg {
        ServerMsg::Error {
            code,
            text: text.into(),
            fatal: false,
            cid,
        }
    }

    fn room_state(&self, room: &str) -> RoomState {
        let topic = self.rooms.get(room).filter(|t| !t.is_empty());
        RoomState {
            room: room.into(),
            topic: topic.map(|text| TopicInfo {
                text: text.clone(),
                by: self.me.clone(),
                at: 1,
            }),
            members: vec![self.member(&self.me)],
            count: None,
        }
    }

    /// The frames a server would answer `msg` with.
    pub(super) fn answer(&mut self, msg: ClientMsg) -> Vec<ServerMsg> {
        let v2_only = !matches!(
            msg,
            ClientMsg::Hello { .. }
                | ClientMsg::Join { .. }
                | ClientMsg::Rejoin { .. }
                | ClientMsg::Send { .. }
                | ClientMsg::Leave { .. }
                | ClientMsg::Status
                | ClientMsg::Ping { .. }
                | ClientMsg::Pong { .. }
        );
        if self.version < 2 && v2_only {
            return vec![Chat::error(
                ErrorCode::BAD_FRAME,
                "unknown message type",
                None,
            )];
        }
        if self.swallow && matches!(msg, ClientMsg::Send { .. } | ClientMsg::Private { .. }) {
            return Vec::new();
        }
        match msg {
            ClientMsg::Hello { features, .. } => {
                self.acks = features.iter().any(|f| f == FEATURE_ACK);
                vec![ServerMsg::Hello {
                    version: self.version,
                    server: self.id,
                    agent: "fake".into(),
                    keepalive_ms: 15_000,
                    features: if self.acks {
                        vec![FEATURE_ACK.into()]
                    } else {
                        Vec::new()
                    },
                    rate: None,
                }]
            }
            ClientMsg::Join { name } => self.welcome(name, Vec::new()),
            ClientMsg::Rejoin { .. } if self.holds_names => vec![Chat::error(
                ErrorCode::NAME_TAKEN,
                "the name is taken (your old connection may still hold it)",
                None,
            )],
            ClientMsg::Rejoin { name, rooms, .. } => self.welcome(name, rooms),
            ClientMsg::Send {
                text,
                room,
                action,
                cid,
            } => {
                let id = self.next_id();
                let mut out = vec![ServerMsg::Message {
                    id,
                    from: self.me.clone(),
                    text,
                    room: room.unwrap_or_else(|| LOBBY.into()),
                    action,
                    cid: None,
                }];
                out.extend(self.ack(cid, id));
                out
            }
            ClientMsg::Private {
                to,
                text,
                cid,
                action,
            } => {
                if to == NOBODY {
                    return vec![Chat::error(
                        ErrorCode::NO_SUCH_NAME,
                        "nobody is called that",
                        cid,
                    )];
                }
                let id = self.next_id();
                let mut out = vec![ServerMsg::Private {
                    id,
                    from: self.me.clone(),
                    to,
                    text,
                    action,
                    cid,
                }];
                out.extend(self.ack(cid, id));
                out
            }
            ClientMsg::Enter { room } => {
                self.rooms.entry(room.clone()).or_default();
                let id = self.next_id();
                vec![
                    ServerMsg::RoomState(self.room_state(&room)),
                    ServerMsg::Joined {
                        id,
                        name: self.me.clone(),
                        server: self.id,
                        room,
                    },
                ]
            }
            ClientMsg::Part { room, .. } => {
                self.rooms.remove(&room);
                vec![self.own_left(room)]
            }
            ClientMsg::Nick { name } if name == TAKEN => {
                vec![Chat::error(
                    ErrorCode::NAME_TAKEN,
                    "that name is taken",
                    None,
                )]
            }
            ClientMsg::Nick { name } => {
                let old = std::mem::replace(&mut self.me, name.clone());
                vec![ServerMsg::Nick {
                    id: self.next_id(),
                    old,
                    new: name,
                    server: self.id,
                }]
            }
            ClientMsg::Topic { room, text } => {
                let by = if text.is_some() {
                    self.me.clone()
                } else {
                    String::new()
                };
                let text = match text {
                    Some(text) => {
                        self.rooms.insert(room.clone(), text.clone());
                        text
                    }
                    None => self.rooms.get(&room).cloned().unwrap_or_default(),
                };
                vec![ServerMsg::Topic {
                    room,
                    text,
                    by,
                    at: 1,
                }]
            }
            ClientMsg::Who { room, .. } => vec![ServerMsg::WhoReply {
                room,
                members: vec![self.member(ANN), self.member(&self.me)],
                count: None,
                next: None,
            }],
            ClientMsg::Rooms => {
                let mut rooms = vec![RoomInfo {
                    room: LOBBY.into(),
                    members: 2,
                    topic: String::new(),
                }];
                rooms.extend(self.rooms.iter().map(|(room, topic)| RoomInfo {
                    room: room.clone(),
                    members: 1,
                    topic: topic.clone(),
                }));
                vec![ServerMsg::RoomsReply { rooms }]
            }
            ClientMsg::Whois { name } if name == NOBODY => {
                vec![Chat::error(
                    ErrorCode::NO_SUCH_NAME,
                    "nobody is called that",
                    None,
                )]
            }
            ClientMsg::Whois { name } => vec![ServerMsg::WhoisReply {
                name,
                server: self.id,
                rooms: vec![LOBBY.into()],
            }],
            ClientMsg::Leave { .. } => vec![self.own_left(LOBBY.into())],
            ClientMsg::Status | ClientMsg::Watch => Vec::new(),
            ClientMsg::Ping { nonce } => vec![ServerMsg::Pong { nonce }],
            ClientMsg::Pong { .. } => Vec::new(),
        }
    }

    fn welcome(&mut self, name: String, rooms: Vec<String>) -> Vec<ServerMsg> {
        self.me = name.clone();
        for room in rooms {
            self.rooms.entry(room).or_default();
        }
        let mut states = vec![self.room_state(LOBBY)];
        states.extend(self.rooms.keys().map(|room| self.room_state(room)));
        vec![ServerMsg::Welcome {
            web: vec![],
            server: self.id,
            name: name.clone(),
            members: vec![self.member(ANN), self.member(&name)],
            servers: Vec::new(),
            seen: Vec::new(),
            room: LOBBY.into(),
            rooms: if self.version >= 2 {
                states
            } else {
                Vec::new()
            },
        }]
    }

    fn ack(&self, cid: Option<u64>, id: MessageId) -> Option<ServerMsg> {
        let cid = cid.filter(|_| self.acks)?;
        Some(ServerMsg::Ack { cid, id })
    }

    fn own_left(&mut self, room: String) -> ServerMsg {
        ServerMsg::Left {
            id: self.next_id(),
            name: self.me.clone(),
            server: self.id,
            reason: LeaveReason::Leave,
            room,
            text: None,
            quit: false,
        }
    }
}
