//! The version-2 requests: rooms, private messages, nick changes, topics
//! and the questions about them. Each refusal is a non-fatal error to this
//! client only; nothing else is disturbed.

use std::time::{SystemTime, UNIX_EPOCH};

use super::{burst, End, Session};
use crate::protocol::validate::{validate_name, validate_text};
use crate::protocol::{ClientMsg, ErrorCode};
use crate::server::room::ClientId;

impl Session {
    /// Answers a version-2 request. `send`, `private`, `enter`, `part`,
    /// `nick` and setting a topic take a token of the flood limit like
    /// `send`; the questions take one like `status`.
    pub(super) fn request(&mut self, msg: ClientMsg) -> Option<End> {
        match msg {
            ClientMsg::Enter { room } => {
                if !self.rate_limited() {
                    let entered = self.room.enter(self.conn, &room);
                    self.refused(entered.err(), None);
                }
            }
            ClientMsg::Part { room, text } => {
                if !self.rate_limited() {
                    let parted = self.room.part(self.conn, &room, text.as_deref());
                    self.refused(parted.err(), None);
                }
            }
            ClientMsg::Private {
                to,
                text,
                cid,
                action,
            } => self.private(to, text, cid, action),
            ClientMsg::Nick { name } => self.nick(name),
            ClientMsg::Topic {
                room,
                text: Some(text),
            } => {
                if !self.rate_limited() {
                    let set = self.room.set_topic(self.conn, &room, &text, unix_ms());
                    self.refused(set.err(), None);
                }
            }
            ClientMsg::Topic { room, text: None } => {
                if !self.rate_limited() {
                    self.answer(self.room.topic(&room));
                }
            }
            ClientMsg::Who { room, after } => {
                if !self.rate_limited() {
                    self.answer(self.room.who_page(&room, after.as_deref()));
                }
            }
            ClientMsg::Rooms => {
                if !self.rate_limited() {
                    self.reply(&self.room.rooms());
                }
            }
            ClientMsg::Whois { name } => {
                if !self.rate_limited() {
                    self.answer(self.room.whois(&name));
                }
            }
            // Answered by `handle`.
            ClientMsg::Hello { .. }
            | ClientMsg::Join { .. }
            | ClientMsg::Rejoin { .. }
            | ClientMsg::Send { .. }
            | ClientMsg::Leave { .. }
            | ClientMsg::Status
            | ClientMsg::Watch
            | ClientMsg::Ping { .. }
            | ClientMsg::Pong { .. } => {}
        }
        None
    }

    /// A reply, or the error that refused it.
    fn answer(
        &mut self,
        reply: Result<crate::protocol::ServerMsg, crate::server::room::RoomError>,
    ) {
        match reply {
            Ok(msg) => self.reply(&msg),
            Err(err) => self.refused(Some(err), None),
        }
    }

    fn private(&mut self, to: String, text: String, cid: Option<u64>, action: bool) {
        if self.flooded(Some(&text), cid) {
            return;
        }
        if let Err(why) = validate_text(&text) {
            self.error_about(ErrorCode::TEXT_INVALID, why, cid);
            return;
        }
        let cid = cid.map(|cid| ClientId {
            cid,
            ack: self.acks,
        });
        let sent = burst::with(|wakes| {
            self.room
                .private_then_wake(self.conn, &to, text, action, cid, wakes)
        });
        self.refused(sent.err(), cid.map(|c| c.cid));
    }

    /// A nick change: the flood limit, the name rules, then the nick
    /// limit (its own bucket, spent only by a change that happens).
    fn nick(&mut self, name: String) {
        if self.rate_limited() {
            return;
        }
        if let Err(why) = validate_name(&name) {
            self.error(ErrorCode::NAME_INVALID, why);
            return;
        }
        let now = self.last_heard.into_std();
        let limit = self.config.nick_limit;
        if !self.nick_bucket.wait(&limit, now).is_zero() {
            self.error(
                ErrorCode::RATE_LIMITED,
                format!(
                    "too many nick changes: at most one every {} s after {} in a row; \
                     you are still {}",
                    (1.0 / limit.per_sec).round(),
                    limit.burst,
                    self.name.as_deref().unwrap_or("not in the chat")
                ),
            );
            return;
        }
        match self.room.nick(self.conn, &name) {
            Ok(changed) => {
                if changed {
                    self.nick_bucket.try_take(&limit, now);
                }
                self.name = Some(name.into_boxed_str());
            }
            Err(err) => self.refused(Some(err), None),
        }
    }
}

/// The wall clock, for topic stamps.
fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
