//! Turns server events into the chat's text lines. Pure, so it is unit-tested.
//!
//! The line formats are part of the user interface and scripts may parse
//! them (README lists them). The default room `#lobby` keeps the lines of
//! the chat before rooms: `[JOIN] Leo joined the chat`, `[LEAVE] Leo left
//! the chat`, `[Leo] text`. Other rooms' lines start with the room:
//! `[#dev] [JOIN] Leo joined`, `[#dev] [LEAVE] Leo left`, `[#dev] [Leo]
//! text`. Actions are `* Leo waves`; private messages `[PM from Leo] text`
//! and `[PM to Ann] text`; then `[NICK] Leo is now Leonardo`, `[TOPIC]
//! #dev: text (set by Leo)`, `[ERROR] …`, `[SERVER] …`. The answers to
//! `who`, `rooms` and `whois` are in `replies`. Everything from the network
//! goes through [`clean`].

use super::replies::{self, topic_line};
use super::rooms::{is_lobby, same_room};
pub use super::sanitize::clean;
use crate::protocol::{LeaveReason, ServerMsg};

/// Where a chat line was said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place<'a> {
    /// In a room.
    Room(&'a str),
    /// A private message from us to this member.
    To(&'a str),
    /// A private message from this member to us.
    From(&'a str),
}

/// The lines to print for `msg`, received while holding the name `me`;
/// none for messages that print nothing (keepalives, handshake, status).
pub fn render(msg: &ServerMsg, me: &str) -> Vec<String> {
    let line = match msg {
        ServerMsg::Joined { name, room, .. } if is_lobby(room) => {
            format!("[JOIN] {} joined the chat", clean(name))
        }
        ServerMsg::Joined { name, room, .. } => {
            format!("{}[JOIN] {} joined", prefix(room), clean(name))
        }
        ServerMsg::Left {
            name,
            reason,
            room,
            text,
            ..
        } => left_line(room, name, *reason, text.as_deref()),
        ServerMsg::Message {
            from,
            text,
            room,
            action,
            ..
        } => said(Place::Room(room), from, text, *action),
        ServerMsg::History {
            from,
            text,
            room,
            action,
            ..
        } => format!("{}[HISTORY] {}", prefix(room), body(from, text, *action)),
        ServerMsg::Private {
            from,
            to,
            text,
            action,
            ..
        } => {
            let place = if same_room(from, me) {
                Place::To(to)
            } else {
                Place::From(from)
            };
            said(place, from, text, *action)
        }
        ServerMsg::Nick { old, new, .. } => {
            format!("[NICK] {} is now {}", clean(old), clean(new))
        }
        ServerMsg::Topic { room, text, by, .. } => topic_line(room, text, by),
        ServerMsg::Error { text, .. } => format!("[ERROR] {}", clean(text)),
        ServerMsg::Shutdown { reason, .. } => format!("[SERVER] {}", clean(reason)),
        ServerMsg::Notice { text } => format!("[SERVER] {}", clean(text)),
        ServerMsg::RoomState(state) => return replies::room_state(state),
        ServerMsg::WhoReply {
            room,
            members,
            count,
            next,
        } => return replies::who(room, members, *count, next.as_deref()),
        ServerMsg::RoomsReply { rooms } => return replies::rooms(rooms),
        ServerMsg::WhoisReply {
            name,
            server,
            rooms,
        } => return vec![replies::whois(name, *server, rooms)],
        // A large room's count shows in the prompt (`rooms`), not as a line.
        ServerMsg::Welcome { .. }
        | ServerMsg::RoomCount { .. }
        | ServerMsg::Servers { .. }
        | ServerMsg::Hello { .. }
        | ServerMsg::StatusReply(_)
        | ServerMsg::Watching { .. }
        | ServerMsg::WatchEvent { .. }
        | ServerMsg::WatchUpdate { .. }
        | ServerMsg::Ping { .. }
        | ServerMsg::Pong { .. }
        | ServerMsg::Ack { .. } => return Vec::new(),
    };
    vec![line]
}

/// The line for `from` saying `text` at `place`: `[Leo] text`,
/// `[#dev] * Leo waves`, `[PM to Ann] text`.
pub fn said(place: Place<'_>, from: &str, text: &str, action: bool) -> String {
    match place {
        // A private line names its sender in front already.
        Place::To(_) | Place::From(_) if !action => {
            format!("{}{}", place_prefix(place), clean(text))
        }
        _ => format!("{}{}", place_prefix(place), body(from, text, action)),
    }
}

/// A line typed but not yet sent (the connection is being re-established,
/// or the client is pacing itself to the server's rate): `[PENDING] text`,
/// with where it goes in front outside the default room. Shown on a
/// terminal only; the server's echo follows once it is sent.
pub fn pending(place: Place<'_>, me: &str, text: &str, action: bool) -> String {
    let what = if action {
        body(me, text, true)
    } else {
        clean(text)
    };
    format!("[PENDING] {}{what}", place_prefix(place))
}

/// `[#dev] `, `[PM to Ann] `, or nothing for the default room.
fn place_prefix(place: Place<'_>) -> String {
    match place {
        Place::Room(room) => prefix(room),
        Place::To(to) => format!("[PM to {}] ", clean(to)),
        Place::From(from) => format!("[PM from {}] ", clean(from)),
    }
}

/// `[#dev] ` for a room other than the default one.
fn prefix(room: &str) -> String {
    if is_lobby(room) {
        String::new()
    } else {
        format!("[{}] ", clean(room))
    }
}

/// `[Leo] text`, or for an action `* Leo text`.
fn body(from: &str, text: &str, action: bool) -> String {
    if action {
        format!("* {} {}", clean(from), clean(text))
    } else {
        format!("[{}] {}", clean(from), clean(text))
    }
}

/// `[LEAVE]`, with why (the reason's suffix) and what the member said
/// as it went (`: off to lunch`).
fn left_line(room: &str, name: &str, reason: LeaveReason, text: Option<&str>) -> String {
    let mut why = reason
        .describe()
        .map(|why| format!(" ({why})"))
        .unwrap_or_default();
    if let Some(text) = text.filter(|t| !t.is_empty()) {
        why.push_str(": ");
        why.push_str(&clean(text));
    }
    if is_lobby(room) {
        format!("[LEAVE] {} left the chat{why}", clean(name))
    } else {
        format!("{}[LEAVE] {} left{why}", prefix(room), clean(name))
    }
}

#[cfg(test)]
mod tests;
