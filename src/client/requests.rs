//! The requests of protocol version 2 as [`Client`] methods: rooms,
//! private messages, nick changes, topics and the `who`/`rooms`/`whois`
//! queries.
//!
//! Like [`Client::status`], each one that has an answer waits for it and
//! passes by the chat traffic that arrives first (it is not kept: a caller
//! that wants it reads with [`Client::recv`] instead). A refusal comes back
//! as [`ClientError::Refused`]. To a server that agreed on version 1 they
//! send nothing and return [`ClientError::NoRooms`].

use super::{Client, ClientError};
use crate::protocol::validate::name_key;
use crate::protocol::{
    ClientMsg, Member, MessageId, RoomInfo, RoomState, ServerId, ServerMsg, TopicInfo, LOBBY,
};

/// The answer to [`Client::whois`]: where a member is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Whois {
    /// The member's name, as held.
    pub name: String,
    /// Its server.
    pub server: ServerId,
    /// The rooms it is in.
    pub rooms: Vec<String>,
}

/// Whether two room (or member) names are one: the server compares them by
/// their skeleton, and may answer with another spelling than was asked.
fn same(a: &str, b: &str) -> bool {
    a == b || name_key(a) == name_key(b)
}

impl Client {
    /// Refuses version-2 requests to a version-1 server.
    fn require_rooms(&self) -> Result<(), ClientError> {
        if self.has_rooms() {
            Ok(())
        } else {
            Err(ClientError::NoRooms(self.version()))
        }
    }

    /// The name held; a request answered by a frame about oneself needs it.
    fn me(&self) -> Result<String, ClientError> {
        self.name
            .clone()
            .ok_or_else(|| ClientError::Unexpected("not joined yet".into()))
    }

    /// Enters `room` (created on first entry) and returns it as the member
    /// finds it. Its history follows as `history` frames, then everyone in
    /// it (this member included) gets `joined`; read those with
    /// [`Client::recv`]. Entering a room one is in answers the same and
    /// sends nothing else.
    pub async fn enter(&mut self, room: &str) -> Result<RoomState, ClientError> {
        self.require_rooms()?;
        self.send_msg(&ClientMsg::Enter { room: room.into() })
            .await?;
        match self.next_answer().await? {
            ServerMsg::RoomState(state) if same(&state.room, room) => Ok(state),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Leaves `room`; returns once the server has said so (one's own
    /// `left`, which everyone in the room gets).
    pub async fn part(&mut self, room: &str) -> Result<(), ClientError> {
        self.part_saying(room, None).await
    }

    /// As [`Client::part`], saying why (everyone's `left` shows `text`).
    pub async fn part_saying(&mut self, room: &str, text: Option<&str>) -> Result<(), ClientError> {
        self.require_rooms()?;
        let me = self.me()?;
        let text = text.map(str::to_string);
        self.send_msg(&ClientMsg::Part {
            room: room.into(),
            text,
        })
        .await?;
        let own_left = |msg: &ServerMsg| {
            matches!(msg, ServerMsg::Left { name, room: left, .. }
                if *name == me && same(left, room))
        };
        match self.answer_where(own_left).await? {
            msg if own_left(&msg) => Ok(()),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Says `text` in `room` (one is in). Like [`Client::say`] there is no
    /// answer to wait for: the message comes back like anyone's. `#lobby`
    /// works with a version-1 server too.
    pub async fn say_in(&mut self, room: &str, text: &str) -> Result<(), ClientError> {
        self.say_as(room, text, false).await
    }

    /// An action in `room` (`/me waves`), shown as `* Leo waves`.
    pub async fn act(&mut self, room: &str, text: &str) -> Result<(), ClientError> {
        self.say_as(room, text, true).await
    }

    async fn say_as(&mut self, room: &str, text: &str, action: bool) -> Result<(), ClientError> {
        if same(room, LOBBY) && !action {
            return self.say(text).await;
        }
        self.require_rooms()?;
        self.send_msg(&ClientMsg::Send {
            text: text.into(),
            room: Some(room.into()),
            action,
            cid: None,
        })
        .await
    }

    /// Sends `text` to the member named `to` alone, wherever in the cluster
    /// it is; returns the message's id once the server's copy for the
    /// sender (the echo) is back. Nobody else ever sees it.
    pub async fn private(&mut self, to: &str, text: &str) -> Result<MessageId, ClientError> {
        self.require_rooms()?;
        let me = self.me()?;
        self.send_msg(&ClientMsg::Private {
            to: to.into(),
            text: text.into(),
            cid: None,
            action: false,
        })
        .await?;
        let echo = |msg: &ServerMsg| {
            matches!(msg, ServerMsg::Private { from, to: addressee, .. }
                if *from == me && same(addressee, to))
        };
        match self.answer_where(echo).await? {
            ServerMsg::Private {
                id, from, to: t, ..
            } if *from == me && same(&t, to) => Ok(id),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Changes the name held to `name`, atomically cluster-wide; returns it
    /// as now held. Everyone who shares a room with the member sees it.
    pub async fn nick(&mut self, name: &str) -> Result<String, ClientError> {
        self.require_rooms()?;
        let me = self.me()?;
        self.send_msg(&ClientMsg::Nick { name: name.into() })
            .await?;
        let own_nick = |msg: &ServerMsg| matches!(msg, ServerMsg::Nick { old, .. } if *old == me);
        match self.answer_where(own_nick).await? {
            // `recv` has already taken the new name as this client's.
            ServerMsg::Nick { old, new, .. } if old == me => Ok(new),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Sets `room`'s topic (an empty `text` clears it); returns it as
    /// everyone in the room now sees it.
    pub async fn topic_set(
        &mut self,
        room: &str,
        text: &str,
    ) -> Result<Option<TopicInfo>, ClientError> {
        self.topic(room, Some(text.into())).await
    }

    /// `room`'s topic, if it has one.
    pub async fn topic_get(&mut self, room: &str) -> Result<Option<TopicInfo>, ClientError> {
        self.topic(room, None).await
    }

    async fn topic(
        &mut self,
        room: &str,
        text: Option<String>,
    ) -> Result<Option<TopicInfo>, ClientError> {
        self.require_rooms()?;
        self.send_msg(&ClientMsg::Topic {
            room: room.into(),
            text,
        })
        .await?;
        let of_room =
            |msg: &ServerMsg| matches!(msg, ServerMsg::Topic { room: r, .. } if same(r, room));
        match self.answer_where(of_room).await? {
            ServerMsg::Topic {
                room: r,
                text,
                by,
                at,
            } if same(&r, room) => Ok((!text.is_empty()).then_some(TopicInfo { text, by, at })),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Who is in `room`, and on which server: every page of a large room.
    pub async fn who(&mut self, room: &str) -> Result<Vec<Member>, ClientError> {
        self.require_rooms()?;
        let mut all = Vec::new();
        let mut after = None;
        loop {
            self.send_msg(&ClientMsg::Who {
                room: room.into(),
                after: after.take(),
            })
            .await?;
            match self.next_answer().await? {
                ServerMsg::WhoReply {
                    room: r,
                    members,
                    next,
                    ..
                } if same(&r, room) => {
                    // A page that lists nobody ends it, whatever it says.
                    let next = next.filter(|_| !members.is_empty());
                    all.extend(members);
                    match next {
                        Some(next) => after = Some(next),
                        None => return Ok(all),
                    }
                }
                other => return Err(ClientError::Unexpected(format!("{other:?}"))),
            }
        }
    }

    /// Every room in the cluster that has a member.
    pub async fn rooms(&mut self) -> Result<Vec<RoomInfo>, ClientError> {
        self.require_rooms()?;
        self.send_msg(&ClientMsg::Rooms).await?;
        match self.next_answer().await? {
            ServerMsg::RoomsReply { rooms } => Ok(rooms),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Where the member named `name` is: its server and its rooms.
    pub async fn whois(&mut self, name: &str) -> Result<Whois, ClientError> {
        self.require_rooms()?;
        self.send_msg(&ClientMsg::Whois { name: name.into() })
            .await?;
        match self.next_answer().await? {
            ServerMsg::WhoisReply {
                name,
                server,
                rooms,
            } => Ok(Whois {
                name,
                server,
                rooms,
            }),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }
}
