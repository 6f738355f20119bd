//! What the chat loop does with each typed line: a chat line for the
//! active room, or a command (see `command`). Requests wait in the outbox
//! like lines; what can be answered here (`/switch`, `/help`, a bad
//! argument, a command the server cannot serve) is answered at once and
//! never sent.

use tokio::time::Instant;

use super::{Chat, Flow, Leaving};
use crate::client::command::{parse, Command};
use crate::client::link::{Conn, Link};
use crate::client::outbox::Target;
use crate::client::replies::help;
use crate::client::ClientError;
use crate::protocol::ClientMsg;

impl Chat<'_> {
    pub(super) fn on_line(&mut self, link: &mut Link, line: &str) -> Flow {
        if self.leaving != Leaving::No {
            return Flow::Continue;
        }
        let typed = line.trim_end_matches(['\r', '\n']);
        let command = match parse(typed) {
            Ok(command) => command,
            Err(why) => {
                self.console.print(&format!("[ERROR] {why}"));
                return Flow::Continue;
            }
        };
        let done = if self.renaming {
            self.rename(link, command, typed)
        } else {
            self.command(link, command)
        };
        if let Err(why) = done {
            self.console.print(&format!("[ERROR] {why}"));
        }
        Flow::Continue
    }

    /// Our name was taken back: a line typed now is the name to join with
    /// (as typed, or as `/nick NAME`).
    fn rename(&mut self, link: &mut Link, command: Command, typed: &str) -> Result<(), String> {
        let name = match command {
            Command::Nothing => return Ok(()),
            Command::Quit(text) => {
                self.leaving = Leaving::Wanted;
                self.quit_text = text;
                return Ok(());
            }
            Command::Nick(name) => name,
            Command::Say(_) => typed.trim().to_string(),
            _ => return Err("you are not in the chat now: type a name to join with".into()),
        };
        let Link::Up(conn) = link else {
            return Err("not connected; try again soon".into());
        };
        conn.may_send(Instant::now());
        conn.send(ClientMsg::Join { name });
        Ok(())
    }

    fn command(&mut self, link: &Link, command: Command) -> Result<(), String> {
        let rooms_needed = !matches!(
            command,
            Command::Nothing
                | Command::Say(_)
                | Command::Switch(_)
                | Command::Help
                | Command::Quit(_)
        );
        if rooms_needed {
            self.server_has_rooms(link)?;
        }
        match command {
            Command::Nothing => {}
            Command::Quit(text) => {
                self.leaving = Leaving::Wanted;
                self.quit_text = text;
            }
            Command::Help => {
                for line in help() {
                    self.console.print(&line);
                }
            }
            Command::Say(text) => self.say(text, false)?,
            Command::Me(text) => self.say(text, true)?,
            Command::Msg { to, text } => {
                if self.names.is_me(&to) {
                    return Err(format!("{to} is you; /msg sends to someone else"));
                }
                self.outbox.push(Target::Member(to), false, text);
            }
            Command::Join(room) => {
                self.rooms.entering(&room);
                self.console.set_prompt(&self.rooms.prompt());
                self.outbox.request(ClientMsg::Enter { room });
            }
            Command::Part(room, text) => {
                let room = self.rooms.target(room.as_deref())?;
                if !self.rooms.has(&room) {
                    return Err(format!("you are not in {room}"));
                }
                self.rooms.parted(&room);
                self.console.set_prompt(&self.rooms.prompt());
                self.outbox.request(ClientMsg::Part { room, text });
            }
            Command::Switch(room) => {
                self.rooms.switch(&room)?;
                self.console.set_prompt(&self.rooms.prompt());
            }
            Command::Nick(name) => self.outbox.request(ClientMsg::Nick { name }),
            Command::Topic { room, text } => {
                let room = self.rooms.target(room.as_deref())?;
                self.outbox.request(ClientMsg::Topic { room, text });
            }
            Command::Who(room, after) => {
                let room = self.rooms.target(room.as_deref())?;
                self.outbox.request(ClientMsg::Who { room, after });
            }
            Command::Rooms => self.outbox.request(ClientMsg::Rooms),
            Command::Whois(name) => self.outbox.request(ClientMsg::Whois { name }),
        }
        Ok(())
    }

    /// A chat line (an action with `action`) for the active room.
    fn say(&mut self, text: String, action: bool) -> Result<(), String> {
        let room = self.rooms.target(None)?;
        self.outbox.push(Target::Room(room), action, text);
        Ok(())
    }

    /// Refuses a command when connected to a version-1 server. (While
    /// reconnecting it waits in the outbox; [`Chat::send`] checks again.)
    fn server_has_rooms(&self, link: &Link) -> Result<(), String> {
        match link {
            Link::Up(conn) if conn.version < 2 => {
                Err(ClientError::NoRooms(conn.version).to_string())
            }
            _ => Ok(()),
        }
    }

    /// Sends what the outbox gave, unless the server cannot take it.
    pub(super) fn send(&mut self, conn: &Conn, msg: ClientMsg) {
        if conn.version < 2 && ClientMsg::needs_version_2(&msg) {
            match &msg {
                ClientMsg::Send { cid: Some(cid), .. }
                | ClientMsg::Private { cid: Some(cid), .. } => {
                    self.outbox.refused(*cid);
                }
                ClientMsg::Enter { .. } => {
                    self.rooms.refused_entry();
                    self.console.set_prompt(&self.rooms.prompt());
                }
                _ => {}
            }
            self.console
                .print(&format!("[ERROR] {}", ClientError::NoRooms(conn.version)));
            return;
        }
        if matches!(msg, ClientMsg::Nick { .. }) {
            self.names.asked();
        }
        conn.send(msg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_1_server_gets_only_lobby_lines() {
        let send = |room: Option<&str>, action| ClientMsg::Send {
            text: "x".into(),
            room: room.map(Into::into),
            action,
            cid: Some(1),
        };
        assert!(!ClientMsg::needs_version_2(&send(None, false)));
        assert!(ClientMsg::needs_version_2(&send(Some("#dev"), false)));
        assert!(ClientMsg::needs_version_2(&send(None, true)));
        assert!(ClientMsg::needs_version_2(&ClientMsg::Rooms));
        assert!(ClientMsg::needs_version_2(&ClientMsg::Nick {
            name: "x".into()
        }));
        assert!(!ClientMsg::needs_version_2(&ClientMsg::Leave {
            text: None
        }));
        assert!(!ClientMsg::needs_version_2(&ClientMsg::Ping { nonce: 1 }));
    }
}
