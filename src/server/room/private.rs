//! Private messages: to one member anywhere in the cluster. Numbered and
//! relayed like every event (so sealed when the cluster has a key), shown
//! only to the addressee's connection, and to the sender as the echo.
//! Deduplicated by cid like chat lines, and the frame carries the cid so
//! that a client can drop a resent line numbered anew (PROTOCOL.md 12.5).
//!
//! A version-1 connection has no `private` frame: a private message to a
//! version-1 member reaches it as a `notice`.

use super::queue::Wakes;
use super::state::RoomState;
use super::{ClientId, ConnId, Room, RoomError};
use crate::protocol::validate::name_key;
use crate::protocol::{encode_frame, MessageId, ServerId, ServerMsg};
use crate::relay::ChatEvent;

impl Room {
    /// Sends `text` from member `conn` to the member named `to` (text
    /// already validated), leaving the writers to wake on `wakes`.
    pub fn private_then_wake(
        &self,
        conn: ConnId,
        to: &str,
        text: String,
        action: bool,
        cid: Option<ClientId>,
        wakes: &mut Wakes,
    ) -> Result<MessageId, RoomError> {
        let mut state = self.lock();
        let from = state.member_name(conn)?;
        let key = name_key(to);
        if key == name_key(&from) {
            return Err(RoomError::PrivateToSelf);
        }
        let Some(to) = state.holder_name(&key) else {
            return Err(RoomError::NoSuchName(to.to_string()));
        };
        let event = ChatEvent::Private {
            from,
            to,
            text,
            cid: cid.map_or(0, |c| c.cid),
            action,
        };
        let id = state.say_line(conn, event, cid)?;
        self.settle(&mut state);
        wakes.append(&mut state.wakes);
        Ok(id)
    }
}

impl RoomState {
    /// The name, as shown, of whoever holds the name with key `key`.
    pub(super) fn holder_name(&self, key: &str) -> Option<String> {
        if let Some(conn) = self.names.get(key) {
            return self.conns.get(conn).and_then(|c| c.name.clone());
        }
        self.remote.get(key).map(|m| m.name.clone())
    }

    /// `private` to the addressee, if it is here, and to the sender, if
    /// the message is from here.
    pub(super) fn show_private(&mut self, id: MessageId, server: ServerId, event: &ChatEvent) {
        let ChatEvent::Private {
            from,
            to,
            text,
            cid,
            action,
        } = event
        else {
            return;
        };
        let frame = encode_frame(&ServerMsg::Private {
            id,
            from: from.clone(),
            to: to.clone(),
            text: text.clone(),
            action: *action,
            cid: (*cid != 0).then_some(*cid),
        });
        let target = self.names.get(&name_key(to)).copied();
        if let Some(target) = target {
            match self.conns.get(&target) {
                Some(entry) if entry.version >= 2 => self.push(target, frame.clone()),
                Some(_) => {
                    let shown = if *action {
                        format!("private message: * {from} {text}")
                    } else {
                        format!("private message from {from}: {text}")
                    };
                    self.push(target, encode_frame(&ServerMsg::Notice { text: shown }));
                }
                None => {}
            }
        }
        if server == self.me {
            if let Some(&sender) = self.names.get(&name_key(from)) {
                if Some(sender) != target {
                    self.push(sender, frame);
                }
            }
        }
    }

    /// A private message relayed from `origin` as event `seq`.
    pub(super) fn remote_private(&mut self, origin: ServerId, seq: u64, event: ChatEvent) {
        let id = MessageId { origin, seq };
        if let ChatEvent::Private { from, cid, .. } = &event {
            if self.shown_already(from, *cid, id) {
                return;
            }
        }
        self.show(id, origin, &event);
    }
}
