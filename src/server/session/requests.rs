//! What a session does with each request: the handshake (and its feature
//! negotiation), `join` and `rejoin`, `send`, `status`, and the error
//! frames that refuse them. The version-2 requests (rooms, private
//! messages, nick changes, topics, queries) are in `chat`. The
//! connection's life — reading frames, keepalive, deadlines, the end — is
//! in the parent module.

use tracing::{debug, info};

use super::{burst, End, Session};
use crate::protocol::validate::{validate_name, validate_reason, validate_text};
use crate::protocol::{
    encode_frame, negotiate, ClientMsg, ErrorCode, LeaveReason, MessageId, ServerMsg, AGENT,
    FEATURES, FEATURE_ACK, MAX_AGENT_BYTES, MIN_PROTOCOL_VERSION, PROTOCOL_VERSION,
};
use crate::server::room::{ChatLine, ClientId, JoinError, Joining, RoomError};

/// How much of a refused line a rate-limit error quotes, in bytes.
const QUOTE_BYTES: usize = 40;

impl Session {
    /// Answers one decoded message; `Some` when the session ends.
    pub(super) fn handle(&mut self, msg: ClientMsg) -> Option<End> {
        if !self.greeted {
            return self.handshake(msg);
        }
        match msg {
            ClientMsg::Hello { .. } => Some(self.fatal(
                ErrorCode::HANDSHAKE_REQUIRED,
                "hello was already received on this connection".into(),
            )),
            ClientMsg::Join { name } => {
                if self.rate_limited() {
                    return None;
                }
                self.join(name, None, &[]);
                None
            }
            ClientMsg::Rejoin {
                name,
                last_seen,
                rooms,
            } => {
                if self.rate_limited() {
                    return None;
                }
                self.join(name, Some(&last_seen), &rooms);
                None
            }
            ClientMsg::Send {
                text,
                cid,
                room,
                action,
            } => {
                // A version-1 client knows no rooms: its line goes to #lobby.
                let line = match self.version {
                    1 => ChatLine::lobby(text),
                    _ => ChatLine { text, room, action },
                };
                self.send(line, cid)
            }
            ClientMsg::Leave { text } => {
                // A bad text refuses the leave, as any bad field refuses
                // its request: the member stays and may leave again.
                if let Some(why) = text.as_deref().and_then(|t| validate_reason(t).err()) {
                    if self.name.is_some() {
                        self.reply(&ServerMsg::Error {
                            code: ErrorCode::REASON_INVALID,
                            text: why,
                            fatal: false,
                            cid: None,
                        });
                        return None;
                    }
                }
                if let Some(name) = self.name.take() {
                    info!(name = %name, "left");
                    let _ = self.room.leave(self.conn, LeaveReason::Leave, text);
                }
                Some(End::Left)
            }
            ClientMsg::Status => {
                if !self.rate_limited() {
                    self.reply(&ServerMsg::StatusReply(self.room.status()));
                }
                None
            }
            ClientMsg::Watch if self.version >= 2 => {
                if !self.rate_limited() && self.watcher.is_none() {
                    let (watcher, answer) = super::watch::Watcher::start(&self.room);
                    self.watcher = Some(Box::new(watcher));
                    self.reply(&answer);
                }
                None
            }
            ClientMsg::Ping { nonce } => {
                self.reply(&ServerMsg::Pong { nonce });
                None
            }
            ClientMsg::Pong { .. } => None,
            v2 if self.version < 2 => Some(self.fatal(
                ErrorCode::BAD_FRAME,
                format!(
                    "unknown message type {:?} in protocol version 1",
                    type_of(&v2)
                ),
            )),
            v2 => self.request(v2),
        }
    }

    /// A chat line. A resend of a line already numbered (same name, same
    /// cid) costs a token like any send: the session cannot tell it from a
    /// new one before the room looks, and a client pacing to `rate` counts
    /// its resends too.
    fn send(&mut self, line: ChatLine, cid: Option<u64>) -> Option<End> {
        if self.name.is_none() && !self.ever_joined {
            return Some(self.fatal(
                ErrorCode::NOT_JOINED,
                "join with a name before sending messages".into(),
            ));
        }
        if self.flooded(Some(&line.text), cid) {
            return None;
        }
        if let Err(why) = validate_text(&line.text) {
            self.error_about(ErrorCode::TEXT_INVALID, why, cid);
            return None;
        }
        let cid = cid.map(|cid| ClientId {
            cid,
            ack: self.acks,
        });
        self.said = true;
        let said = burst::with(|wakes| self.room.say_then_wake(self.conn, line, cid, wakes));
        self.refused(said.err(), cid.map(|c| c.cid));
        None
    }

    /// Tells the client why the room refused its request, if it did.
    pub(super) fn refused(&mut self, err: Option<RoomError>, cid: Option<u64>) {
        match err {
            None => {}
            Some(RoomError::NotJoined) => {
                // The room took the name back (a same-moment claim on
                // another server won; the client was told with 211), or
                // it never had one.
                self.name = None;
                self.error_about(
                    ErrorCode::NOT_JOINED,
                    "you are not in the chat; join (again, with another name) first".into(),
                    cid,
                );
            }
            Some(err) => self.error_about(err.code(), err.to_string(), cid),
        }
    }

    fn handshake(&mut self, msg: ClientMsg) -> Option<End> {
        match msg {
            ClientMsg::Hello {
                version,
                agent,
                features,
            } if negotiate(version).is_some() => {
                self.greeted = true;
                self.version = negotiate(version).unwrap_or(MIN_PROTOCOL_VERSION);
                let agent = truncate_bytes(&agent, MAX_AGENT_BYTES);
                // Only what this build knows, in its own spelling and order.
                let accepted: Vec<String> = FEATURES
                    .iter()
                    .filter(|known| features.iter().any(|asked| asked == *known))
                    .map(|known| known.to_string())
                    .collect();
                self.acks = accepted.iter().any(|f| f == FEATURE_ACK);
                debug!(%agent, ?accepted, "handshake complete");
                let limit = self.config.rate_limit;
                self.reply(&ServerMsg::Hello {
                    version: self.version,
                    server: self.room.id(),
                    agent: AGENT.into(),
                    keepalive_ms: self.config.keepalive.as_millis() as u64,
                    features: accepted,
                    rate: limit.is_on().then_some(limit),
                });
                None
            }
            ClientMsg::Hello { version, .. } => Some(self.fatal(
                ErrorCode::UNSUPPORTED_VERSION,
                format!(
                    "unsupported protocol version {version}; this server speaks versions \
                     {MIN_PROTOCOL_VERSION} to {PROTOCOL_VERSION}"
                ),
            )),
            _ => Some(self.fatal(
                ErrorCode::HANDSHAKE_REQUIRED,
                "the first message must be hello".into(),
            )),
        }
    }

    fn join(&mut self, name: String, last_seen: Option<&[MessageId]>, rooms: &[String]) {
        if let Err(why) = validate_name(&name) {
            self.error(ErrorCode::NAME_INVALID, why);
            return;
        }
        let joining = Joining {
            name: &name,
            version: self.version,
            last_seen,
            rooms: if self.version >= 2 { rooms } else { &[] },
        };
        match self.room.join_as(self.conn, &joining) {
            Ok(()) => {
                info!(name = %name, "joined");
                self.name = Some(name.into_boxed_str());
                self.ever_joined = true;
            }
            Err(err @ JoinError::NameTaken(_)) => {
                self.error(ErrorCode::NAME_TAKEN, format!("{err}; choose another"))
            }
            Err(err @ JoinError::AlreadyJoined(_)) => {
                self.error(ErrorCode::ALREADY_JOINED, err.to_string())
            }
            Err(err @ JoinError::ShuttingDown) => {
                self.error(ErrorCode::SHUTTING_DOWN, err.to_string())
            }
        }
    }

    /// Takes a token from the flood limit's bucket.
    fn take_token(&mut self) -> bool {
        // The burst's arrival time: frames read together arrived together.
        self.bucket
            .try_take(&self.config.rate_limit, self.last_heard.into_std())
    }

    /// Takes a token; on failure tells the client and returns true.
    pub(super) fn rate_limited(&mut self) -> bool {
        self.flooded(None, None)
    }

    /// Takes a token for a request (quoting `line`, the refused text, if
    /// it carried one); on failure tells the client and returns true.
    pub(super) fn flooded(&mut self, line: Option<&str>, cid: Option<u64>) -> bool {
        if self.take_token() {
            return false;
        }
        let limit = self.config.rate_limit;
        let what = match line {
            Some(text) => format!("this line was dropped: {}", quote(text)),
            None => "this one was dropped".into(),
        };
        self.error_about(
            ErrorCode::RATE_LIMITED,
            format!(
                "slow down: at most {} messages per second (bursts of {}); {what}",
                limit.per_sec, limit.burst
            ),
            cid,
        );
        true
    }

    pub(super) fn reply(&self, msg: &ServerMsg) {
        self.room.send_to(self.conn, encode_frame(msg));
    }

    pub(super) fn error(&self, code: ErrorCode, text: String) {
        self.error_about(code, text, None);
    }

    /// A non-fatal error about the `send` with this `cid`, if it had one.
    pub(super) fn error_about(&self, code: ErrorCode, text: String, cid: Option<u64>) {
        debug!(%code, %text, ?cid, "client error");
        self.reply(&ServerMsg::Error {
            code,
            text,
            fatal: false,
            cid,
        });
    }

    /// Queues a fatal error as the connection's last frame, removes it from
    /// the room, and says how the session ends.
    pub(super) fn fatal(&self, code: ErrorCode, text: String) -> End {
        info!(%code, %text, "closing connection");
        let timed_out = [
            ErrorCode::KEEPALIVE_TIMEOUT,
            ErrorCode::HANDSHAKE_TIMEOUT,
            ErrorCode::JOIN_TIMEOUT,
        ];
        let end = if timed_out.contains(&code) {
            End::TimedOut
        } else {
            End::ProtocolError
        };
        let frame = encode_frame(&ServerMsg::Error {
            code,
            text,
            fatal: true,
            cid: None,
        });
        self.room.close_with(self.conn, frame, end.reason());
        end
    }
}

/// The `type` of a client message, as on the wire.
fn type_of(msg: &ClientMsg) -> &'static str {
    match msg {
        ClientMsg::Hello { .. } => "hello",
        ClientMsg::Join { .. } => "join",
        ClientMsg::Rejoin { .. } => "rejoin",
        ClientMsg::Send { .. } => "send",
        ClientMsg::Enter { .. } => "enter",
        ClientMsg::Part { .. } => "part",
        ClientMsg::Private { .. } => "private",
        ClientMsg::Nick { .. } => "nick",
        ClientMsg::Topic { .. } => "topic",
        ClientMsg::Who { .. } => "who",
        ClientMsg::Rooms => "rooms",
        ClientMsg::Whois { .. } => "whois",
        ClientMsg::Leave { .. } => "leave",
        ClientMsg::Status => "status",
        ClientMsg::Watch => "watch",
        ClientMsg::Ping { .. } => "ping",
        ClientMsg::Pong { .. } => "pong",
    }
}

/// The start of a refused line, quoted for an error text, so the sender
/// can tell which line it was.
fn quote(text: &str) -> String {
    let start = truncate_bytes(text, QUOTE_BYTES);
    let more = if start.len() < text.len() { "…" } else { "" };
    format!("\"{start}{more}\"")
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn truncate_bytes(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::{quote, truncate_bytes};

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate_bytes("abc", 64), "abc");
        assert_eq!(truncate_bytes("ééé", 3), "é");
        assert_eq!(truncate_bytes(&"x".repeat(100), 64).len(), 64);
    }

    #[test]
    fn a_quote_shows_the_start_of_the_line() {
        assert_eq!(quote("line 7"), "\"line 7\"");
        let long = format!("{}é tail", "x".repeat(39));
        assert_eq!(quote(&long), format!("\"{}…\"", "x".repeat(39)));
    }
}
