//! What the chat loop does with each frame from the server: prints it in
//! the line formats, keeps the rooms, the name and the seen ids current,
//! and tells the loop when the connection ends.

use tokio::time::Instant;

use super::{Chat, Flow, Leaving, Why, GHOST_WINDOW};
use crate::client::exit::{EXIT_CONNECTION, EXIT_NAME_REFUSED, EXIT_OK, EXIT_SERVER_SHUTDOWN};
use crate::client::link::Conn;
use crate::client::names::NameError;
use crate::client::render::{clean, render, said, Place};
use crate::client::replies;
use crate::client::rooms::Rooms;
use crate::client::seen::Scope;
use crate::protocol::{ClientMsg, ErrorCode, LeaveReason, MessageId, ServerMsg};

impl Chat<'_> {
    pub(super) fn on_frame(&mut self, conn: &mut Conn, msg: ServerMsg) -> Flow {
        let now = Instant::now();
        conn.last_heard = now;
        self.outbox.confirm(now.into_std());
        if !matches!(&msg, ServerMsg::History { .. }) {
            self.replaying = false;
        }
        let acks_held = matches!(&msg, ServerMsg::Ack { id, .. } if self.echo.holds(*id));
        if !acks_held {
            if let Some(line) = self.echo.release(&mut self.outbox) {
                self.console.print(&line);
            }
        }
        match msg {
            ServerMsg::Ping { nonce } => conn.send(ClientMsg::Pong { nonce }),
            ServerMsg::Shutdown { reason, servers } => {
                self.console.print(&format!(
                    "[SERVER] {} is shutting down: {}",
                    self.servers.addr,
                    clean(&reason)
                ));
                if servers.is_empty() {
                    return Flow::Exit(EXIT_SERVER_SHUTDOWN);
                }
                self.servers.announce(&servers);
                return Flow::Gone(Why::Moving);
            }
            ServerMsg::Servers { servers, .. } => self.servers.announce(&servers),
            ServerMsg::Error {
                code,
                text,
                fatal: true,
                ..
            } => {
                self.console.print(&format!("[ERROR] {}", clean(&text)));
                // Only being dropped for slowness or silence is worth a
                // reconnect; any other fatal error would recur.
                if code == ErrorCode::TOO_SLOW || code == ErrorCode::KEEPALIVE_TIMEOUT {
                    return Flow::Gone(Why::Lost);
                }
                return Flow::Exit(EXIT_CONNECTION);
            }
            ServerMsg::Left {
                ref name,
                reason: LeaveReason::Leave,
                ..
            } if matches!(self.leaving, Leaving::Sent(_)) && self.names.is_me(name) => {
                self.print_all(&msg);
                return Flow::Exit(EXIT_OK);
            }
            ServerMsg::Error {
                code,
                text,
                cid: Some(cid),
                ..
            } => self.refused(conn, code, &text, cid),
            ServerMsg::Error { code, text, .. } => return self.on_error(code, &text),
            ServerMsg::Welcome {
                name,
                servers,
                rooms,
                ..
            } => {
                // The answer to a join after our name was taken back.
                self.names.hold(name);
                self.rooms = Rooms::from_welcome(&rooms);
                self.servers.announce(&servers);
                self.renaming = false;
                self.console.set_prompt(&self.rooms.prompt());
                self.console.print(&format!(
                    "[SERVER] you are back in the chat as {}",
                    clean(self.names.me())
                ));
            }
            ServerMsg::Ack { cid, id } => {
                let me = self.names.me();
                let ack = self
                    .echo
                    .ack(cid, id, now.into_std(), &mut self.outbox, &self.seen, me);
                if let Some(line) = ack {
                    self.console.print(&line);
                }
            }
            ServerMsg::Message {
                id,
                from,
                text,
                room,
                action,
                cid,
            } => {
                let line = said(Place::Room(&room), &from, &text, action);
                self.chat_line(Scope::room(&room), id, cid, &from, text, line);
            }
            ServerMsg::Private {
                id,
                from,
                to,
                text,
                action,
                cid,
            } => {
                let place = if self.names.is_me(&from) {
                    Place::To(&to)
                } else {
                    Place::From(&from)
                };
                let line = said(place, &from, &text, action);
                self.chat_line(Scope::private(), id, cid, &from, text, line);
            }
            ServerMsg::History {
                id,
                ref room,
                ref from,
                cid,
                ..
            } => {
                // `|` so the replay is recorded even when shown regardless;
                // by its sender's cid too, so a resend of the line numbered
                // anew by a survivor is not shown again live.
                if self.seen.fresh_line(&Scope::room(room), id, from, cid) | self.replaying {
                    self.print_all(&msg);
                }
            }
            ServerMsg::Nick {
                ref old, ref new, ..
            } => {
                self.names.nick(old, new);
                self.print_all(&msg);
            }
            ServerMsg::RoomState(ref state) if self.rooms.is_refresh(&state.room) => {
                // A room we are in became large or small again: no
                // history follows, and the active room stays.
                self.rooms.counted(&state.room, state.count);
                self.console.set_prompt(&self.rooms.prompt());
                self.console.print(&replies::room_resized(state));
            }
            ServerMsg::RoomCount { ref room, count } => {
                // A large room's live count: shown in the prompt.
                if self.rooms.counted(room, Some(count)) {
                    self.console.set_prompt(&self.rooms.prompt());
                }
            }
            ServerMsg::RoomState(ref state) => {
                self.rooms.entered(&state.room);
                self.rooms.counted(&state.room, state.count);
                self.console.set_prompt(&self.rooms.prompt());
                self.replaying = true; // the room's history follows
                self.print_all(&msg);
            }
            ServerMsg::Left {
                ref name, ref room, ..
            } if self.names.is_me(name) => {
                self.rooms.parted(room);
                self.console.set_prompt(&self.rooms.prompt());
                self.print_all(&msg);
            }
            other => self.print_all(&other),
        }
        Flow::Continue
    }

    /// Prints every line `msg` renders to.
    fn print_all(&mut self, msg: &ServerMsg) {
        for line in render(msg, self.names.me()) {
            self.console.print(&line);
        }
    }

    /// A chat line (`line` once printed) in `scope`, a room's or the
    /// private messages': shown once, by its id and by its sender's `cid`
    /// (a line resent after a failover may come again numbered anew), and
    /// if it is our own, once with its echo.
    fn chat_line(
        &mut self,
        scope: Scope,
        id: MessageId,
        cid: Option<u64>,
        from: &str,
        text: String,
        line: String,
    ) {
        if !self.seen.fresh_line(&scope, id, from, cid) {
            return;
        }
        if self.names.is_me(from) {
            if let Some(line) = self.echo.message(id, text, line, &self.outbox) {
                self.console.print(&line);
            }
        } else {
            self.console.print(&line);
        }
    }

    /// A non-fatal error about no line of ours: a refused request, or our
    /// name taken back.
    fn on_error(&mut self, code: ErrorCode, text: &str) -> Flow {
        let nick = !self.renaming && self.names.error(code) == NameError::Nick;
        if !nick && !self.renaming && code == ErrorCode::NAME_TAKEN {
            if let Some(at) = self.rejoined_at.take() {
                if at.elapsed() < GHOST_WINDOW {
                    return Flow::Gone(Why::Ghost);
                }
            }
        }
        self.console.print(&format!("[ERROR] {}", clean(text)));
        if nick {
            return Flow::Continue; // a /nick refused or turned back: the name stays
        }
        if code == ErrorCode::ROOM_INVALID || code == ErrorCode::TOO_MANY_ROOMS {
            self.rooms.refused_entry();
            self.console.set_prompt(&self.rooms.prompt());
        } else if code == ErrorCode::NAME_TAKEN
            || (self.renaming && code == ErrorCode::NAME_INVALID)
        {
            if !self.console.is_interactive() {
                return Flow::Exit(EXIT_NAME_REFUSED);
            }
            self.renaming = true;
            self.console.set_prompt("choose another name: ");
        }
        Flow::Continue
    }

    /// The server refused the line `cid`. A rate-limited one is sent again
    /// (our pacing drifted from the server's count); any other refusal is
    /// final and shown.
    fn refused(&mut self, conn: &mut Conn, code: ErrorCode, text: &str, cid: u64) {
        if code == ErrorCode::RATE_LIMITED {
            tracing::debug!(cid, "line refused by the rate limit; sending it again");
            self.outbox.retry(cid);
            if let Some(pacer) = conn.pacer.as_mut() {
                pacer.drain(Instant::now().into_std());
            }
            return;
        }
        self.outbox.refused(cid);
        self.console.print(&format!("[ERROR] {}", clean(text)));
    }
}
