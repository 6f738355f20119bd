//! Turns server events into the chat's text lines. Pure, so it is unit-tested.
//!
//! The line formats are part of the user interface and scripts may parse
//! them: `[JOIN] Leo joined the chat`, `[LEAVE] Leo left the chat`,
//! `[Leo] text`, `[ERROR] …`, `[SERVER] …`.

use crate::protocol::{LeaveReason, ServerMsg};

/// The line to print for `msg`, or `None` for messages that print nothing
/// (keepalives, handshake and status replies).
pub fn render(msg: &ServerMsg) -> Option<String> {
    Some(match msg {
        ServerMsg::Joined { name, .. } => format!("[JOIN] {} joined the chat", clean(name)),
        ServerMsg::Left { name, reason, .. } => left_line(name, *reason),
        ServerMsg::Message { from, text, .. } => said(from, text),
        ServerMsg::History { from, text, .. } => {
            format!("[HISTORY] [{}] {}", clean(from), clean(text))
        }
        ServerMsg::Error { text, .. } => format!("[ERROR] {}", clean(text)),
        ServerMsg::Shutdown { reason, .. } => format!("[SERVER] {}", clean(reason)),
        ServerMsg::Notice { text } => format!("[SERVER] {}", clean(text)),
        ServerMsg::Welcome { .. }
        | ServerMsg::Servers { .. }
        | ServerMsg::Hello { .. }
        | ServerMsg::StatusReply(_)
        | ServerMsg::Ping { .. }
        | ServerMsg::Pong { .. }
        | ServerMsg::Ack { .. } => return None,
        // Version 2 frames: rendered once the terminal speaks version 2.
        ServerMsg::Private { .. }
        | ServerMsg::Nick { .. }
        | ServerMsg::Topic { .. }
        | ServerMsg::RoomState(_)
        | ServerMsg::WhoReply { .. }
        | ServerMsg::RoomsReply { .. }
        | ServerMsg::WhoisReply { .. } => return None,
    })
}

/// The line for `from` saying `text`: `[Leo] text`.
pub fn said(from: &str, text: &str) -> String {
    format!("[{}] {}", clean(from), clean(text))
}

/// A line typed but not yet sent (the connection is being re-established,
/// or the client is pacing itself to the server's rate): `[PENDING] text`.
/// Shown on a terminal only; the server's echo follows once it is sent.
pub fn pending(text: &str) -> String {
    format!("[PENDING] {}", clean(text))
}

fn left_line(name: &str, reason: LeaveReason) -> String {
    match reason.describe() {
        None => format!("[LEAVE] {} left the chat", clean(name)),
        Some(why) => format!("[LEAVE] {} left the chat ({why})", clean(name)),
    }
}

/// Replaces control characters so that nothing a server or another user
/// sends can move the cursor, clear the screen or forge extra lines.
pub fn clean(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() && c != '\t' {
                '\u{fffd}'
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{MessageId, ServerId};

    fn id() -> MessageId {
        MessageId {
            origin: ServerId::random(),
            seq: 1,
        }
    }

    #[test]
    fn the_classic_lines() {
        let server = ServerId::random();
        let join = ServerMsg::Joined {
            id: id(),
            name: "Leo".into(),
            server,
            room: "#lobby".into(),
        };
        assert_eq!(render(&join).unwrap(), "[JOIN] Leo joined the chat");
        let left = ServerMsg::Left {
            id: id(),
            name: "Leo".into(),
            server,
            reason: LeaveReason::Leave,
            room: "#lobby".into(),
        };
        assert_eq!(render(&left).unwrap(), "[LEAVE] Leo left the chat");
        let lost = ServerMsg::Left {
            id: id(),
            name: "Leo".into(),
            server,
            reason: LeaveReason::ServerLost,
            room: "#lobby".into(),
        };
        assert_eq!(
            render(&lost).unwrap(),
            "[LEAVE] Leo left the chat (server lost)"
        );
        let msg = ServerMsg::Message {
            id: id(),
            from: "Leo".into(),
            text: "hello".into(),
            action: false,
            room: "#lobby".into(),
        };
        assert_eq!(render(&msg).unwrap(), "[Leo] hello");
        assert!(render(&ServerMsg::Ping { nonce: 1 }).is_none());
    }

    #[test]
    fn escape_sequences_are_neutralised() {
        let msg = ServerMsg::Message {
            id: id(),
            from: "x\u{1b}".into(),
            text: "a\u{1b}[2Jb\nc".into(),
            action: false,
            room: "#lobby".into(),
        };
        assert_eq!(render(&msg).unwrap(), "[x\u{fffd}] a\u{fffd}[2Jb\u{fffd}c");
    }
}
