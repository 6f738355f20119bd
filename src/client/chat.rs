//! The chat loop: one loop for the whole session.
//!
//! It always polls the console, so the terminal stays live whatever the
//! connection is doing: typed keys echo and printed lines appear while
//! connected, while pacing, and while the failover task looks for another
//! server. Typed lines go into the [`Outbox`], which sends them as the
//! server's advertised rate allows and keeps them until the server
//! acknowledges them; after a failover it sends again, in order, whatever
//! it still holds. A line that cannot go at once is shown as
//! `[PENDING] text` on a terminal (piped output keeps to the documented
//! line formats); the server's echo follows once it is sent.

use std::time::Duration;

use tokio::time::{sleep_until, Instant};

use super::connect::{rejoin_somewhere, Rejoined, Servers};
use super::console::{Console, Input, PROMPT};
use super::echo::OwnEcho;
use super::exit::{EXIT_CONNECTION, EXIT_NAME_REFUSED, EXIT_OK, EXIT_SERVER_SHUTDOWN};
use super::link::{Conn, Link, LinkEvent};
use super::outbox::Outbox;
use super::render::{clean, pending, render, said};
use super::seen::SeenIds;
use crate::protocol::validate::validate_text;
use crate::protocol::{ClientMsg, ErrorCode, LeaveReason, ServerMsg};

/// How long to wait for the server to confirm a leave.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(3);

/// Slack added when sleeping for the next send token, for rounding. (The
/// server's bucket started before ours and counts from when our frames
/// arrive, so it never holds fewer tokens than ours.)
const PACING_SLACK: Duration = Duration::from_millis(2);

/// Whether, and how far, the user has asked to leave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leaving {
    /// Chatting.
    No,
    /// `exit`, end of input or Ctrl-C: leave once every typed line is
    /// acknowledged (a second one leaves at once).
    Wanted,
    /// `leave` sent; waiting until this instant for the confirmation.
    Sent(Instant),
}

/// The chat's state across connections.
pub struct Chat<'c> {
    console: &'c mut Console,
    servers: Servers,
    /// The name held.
    me: String,
    seen: SeenIds,
    /// True until the first frame after the first `welcome` that is not
    /// `history`: those replays are older than the welcome's watermark,
    /// and shown anyway.
    first_history: bool,
    outbox: Outbox,
    echo: OwnEcho,
    /// True after our name was taken back (a same-moment claim on another
    /// server won): the next line typed is a new name, not a message.
    renaming: bool,
    leaving: Leaving,
    /// How long to look for another server after losing one.
    timeout: Duration,
}

/// What to do after a frame.
enum Flow {
    Continue,
    Exit(i32),
    /// The server was lost (reset, EOF without notice, silence).
    Lost,
    /// The server is shutting down and named alternatives.
    Moving,
}

/// One turn of the loop: what woke it.
enum Step {
    Link(LinkEvent),
    /// The console read something.
    Input(Input),
    /// A deadline: pacing, silence or the leave confirmation.
    Timer,
}

impl<'c> Chat<'c> {
    /// The chat after the first join as `me`, on `servers.addr`, whose
    /// welcome carried the `watermark`.
    pub fn new(
        console: &'c mut Console,
        servers: Servers,
        me: String,
        watermark: &[crate::protocol::MessageId],
        timeout: Duration,
    ) -> Chat<'c> {
        Chat {
            console,
            servers,
            me,
            seen: SeenIds::from_watermark(watermark),
            first_history: true,
            outbox: Outbox::random(),
            echo: OwnEcho::default(),
            renaming: false,
            leaving: Leaving::No,
            timeout,
        }
    }

    /// Chats on `link` until the end; returns the exit status.
    pub async fn run(&mut self, mut link: Link) -> i32 {
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::pin!(ctrl_c);
        loop {
            if let Some(code) = self.progress(&mut link) {
                return code;
            }
            let wake = self.next_wake(&mut link);
            let step = tokio::select! {
                event = link.next() => Step::Link(event),
                input = self.console.read_line(), if self.console.is_open() => Step::Input(input),
                _ = &mut ctrl_c => {
                    ctrl_c.set(tokio::signal::ctrl_c());
                    Step::Input(Input::Interrupt)
                }
                _ = sleep_until(wake.unwrap_or_else(Instant::now)), if wake.is_some() => Step::Timer,
            };
            let flow = match step {
                Step::Link(LinkEvent::Frame(frame)) => match (&mut link, frame) {
                    (Link::Up(conn), Ok(Some(msg))) => self.on_frame(conn, msg),
                    _ if matches!(self.leaving, Leaving::Sent(_)) => Flow::Exit(EXIT_OK),
                    _ => Flow::Lost,
                },
                Step::Link(LinkEvent::Rejoined(Some(rejoined))) => {
                    link = Link::Up(self.rejoined(rejoined));
                    Flow::Continue
                }
                Step::Link(LinkEvent::Rejoined(None)) => {
                    self.give_up();
                    Flow::Exit(EXIT_CONNECTION)
                }
                Step::Input(Input::Line(line)) => self.on_line(&mut link, &line),
                Step::Input(Input::End) => {
                    if self.leaving == Leaving::No {
                        self.leaving = Leaving::Wanted;
                    }
                    Flow::Continue
                }
                Step::Input(Input::Interrupt) => self.on_interrupt(&link),
                Step::Timer => self.on_timer(&mut link),
            };
            match flow {
                Flow::Continue => {}
                Flow::Exit(code) => return code,
                Flow::Lost => link = self.lose(false),
                Flow::Moving => link = self.lose(true),
            }
        }
    }

    /// Sends what the pacer allows, shows what has to wait, and leaves
    /// once asked to and nothing typed is unacknowledged.
    fn progress(&mut self, link: &mut Link) -> Option<i32> {
        match link {
            Link::Up(conn) => {
                let now = Instant::now();
                while !self.renaming && self.outbox.has_unsent() && conn.may_send(now) {
                    let Some((cid, text)) = self.outbox.send_next(conn.acks) else {
                        break;
                    };
                    conn.send(ClientMsg::Send {
                        text,
                        cid: Some(cid),
                        room: None,
                        action: false,
                    });
                }
                if self.leaving == Leaving::Wanted && self.outbox.undelivered() == 0 {
                    conn.send(ClientMsg::Leave);
                    self.leaving = Leaving::Sent(now + LEAVE_TIMEOUT);
                }
            }
            Link::Down(_) if self.leaving == Leaving::Wanted && self.outbox.undelivered() == 0 => {
                return Some(EXIT_OK)
            }
            Link::Down(_) => {}
        }
        for text in self.outbox.newly_pending() {
            self.console.note(&pending(&text));
        }
        None
    }

    /// The earliest deadline the loop must wake for, if any.
    fn next_wake(&mut self, link: &mut Link) -> Option<Instant> {
        let Link::Up(conn) = link else {
            return None; // the failover task keeps its own deadline
        };
        let now = Instant::now();
        let mut wake = conn.last_heard + conn.silence_limit;
        if let Leaving::Sent(deadline) = self.leaving {
            wake = wake.min(deadline);
        }
        if let Some(pacer) = conn.pacer.as_mut() {
            if !self.renaming && self.outbox.has_unsent() {
                wake = wake.min(now + pacer.wait(now.into_std()) + PACING_SLACK);
            }
        }
        if let Some(due) = conn.probe_due(self.outbox.unconfirmed_since()) {
            wake = wake.min(due);
        }
        Some(wake)
    }

    fn on_timer(&mut self, link: &mut Link) -> Flow {
        let now = Instant::now();
        if let Link::Up(conn) = link {
            if let Some(due) = conn.probe_due(self.outbox.unconfirmed_since()) {
                if now >= due {
                    conn.probe(due);
                }
            }
        }
        match (link, self.leaving) {
            (_, Leaving::Sent(deadline)) if now >= deadline => Flow::Exit(EXIT_OK),
            (Link::Up(conn), _) if now >= conn.last_heard + conn.silence_limit => Flow::Lost,
            _ => Flow::Continue, // a pacing token (the next turn sends) or a probe
        }
    }

    /// The connection is gone: says so at once, then looks for another
    /// server in a task of its own while the console stays live.
    fn lose(&mut self, moving: bool) -> Link {
        if let Some(text) = self.echo.release(&mut self.outbox) {
            self.console.print(&said(&self.me, &text));
        }
        if moving {
            self.console.print("[SERVER] moving to another server…");
        } else {
            self.console.print(&format!(
                "[SERVER] lost connection to {}; reconnecting…",
                self.servers.addr
            ));
        }
        self.outbox.resend_all();
        let deadline = Instant::now() + self.timeout;
        Link::Down(tokio::spawn(rejoin_somewhere(
            self.servers.clone(),
            self.me.clone(),
            self.seen.last_seen(),
            deadline,
        )))
    }

    fn rejoined(&mut self, rejoined: Box<Rejoined>) -> Conn {
        self.servers = rejoined.servers;
        self.me = rejoined.welcome.name;
        self.console.print(&format!(
            "[SERVER] reconnected to {} as {}",
            self.servers.addr,
            clean(&self.me)
        ));
        Conn::open(rejoined.client)
    }

    fn give_up(&mut self) {
        let unsent = match self.outbox.undelivered() {
            0 => String::new(),
            n => format!("; {}", not_sent(n)),
        };
        self.console.print(&format!(
            "[SERVER] no server could be reached for {} s; giving up{unsent}",
            self.timeout.as_secs()
        ));
    }

    fn on_line(&mut self, link: &mut Link, line: &str) -> Flow {
        if self.leaving != Leaving::No {
            return Flow::Continue;
        }
        let text = line.trim_end_matches(['\r', '\n']);
        if text.trim() == "exit" {
            self.leaving = Leaving::Wanted;
        } else if self.renaming {
            match link {
                Link::Up(conn) => {
                    conn.may_send(Instant::now());
                    conn.send(ClientMsg::Join {
                        name: text.trim().to_string(),
                    });
                }
                Link::Down(_) => self.console.print("[ERROR] not connected; try again soon"),
            }
        } else if text.trim().is_empty() {
        } else if let Err(why) = validate_text(text) {
            self.console.print(&format!("[ERROR] {why}"));
        } else {
            self.outbox.push(text.to_string());
        }
        Flow::Continue
    }

    /// Ctrl-C or Ctrl-D: leave once the typed lines are safe; pressed
    /// again, leave at once.
    fn on_interrupt(&mut self, link: &Link) -> Flow {
        match self.leaving {
            Leaving::No => {
                self.leaving = Leaving::Wanted;
                Flow::Continue
            }
            Leaving::Wanted => {
                let unsent = self.outbox.undelivered();
                if unsent > 0 {
                    self.console
                        .print(&format!("[SERVER] leaving now; {}", not_sent(unsent)));
                }
                if let Link::Up(conn) = link {
                    conn.send(ClientMsg::Leave);
                }
                Flow::Exit(EXIT_OK)
            }
            Leaving::Sent(_) => Flow::Exit(EXIT_OK),
        }
    }

    fn on_frame(&mut self, conn: &mut Conn, msg: ServerMsg) -> Flow {
        let now = Instant::now();
        conn.last_heard = now;
        self.outbox.confirm(now.into_std());
        if !matches!(&msg, ServerMsg::History { .. }) {
            self.first_history = false;
        }
        let acks_held = matches!(&msg, ServerMsg::Ack { id, .. } if self.echo.holds(*id));
        if !acks_held {
            if let Some(text) = self.echo.release(&mut self.outbox) {
                self.console.print(&said(&self.me, &text));
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
                return Flow::Moving;
            }
            ServerMsg::Servers { servers } => self.servers.announce(&servers),
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
                    return Flow::Lost;
                }
                return Flow::Exit(EXIT_CONNECTION);
            }
            ServerMsg::Left {
                ref name,
                reason: LeaveReason::Leave,
                ..
            } if matches!(self.leaving, Leaving::Sent(_)) && *name == self.me => {
                self.console.print(&render(&msg).unwrap_or_default());
                return Flow::Exit(EXIT_OK);
            }
            ServerMsg::Error {
                code,
                text,
                cid: Some(cid),
                ..
            } => self.refused(conn, code, &text, cid),
            ServerMsg::Error { code, text, .. }
                if code == ErrorCode::NAME_TAKEN
                    || (self.renaming && code == ErrorCode::NAME_INVALID) =>
            {
                self.console.print(&format!("[ERROR] {}", clean(&text)));
                if !self.console.is_interactive() {
                    return Flow::Exit(EXIT_NAME_REFUSED);
                }
                self.renaming = true;
                self.console.set_prompt("choose another name: ");
            }
            ServerMsg::Welcome { name, servers, .. } => {
                self.me = name;
                self.servers.announce(&servers);
                self.renaming = false;
                self.console.set_prompt(PROMPT);
                self.console.print(&format!(
                    "[SERVER] you are back in the chat as {}",
                    clean(&self.me)
                ));
            }
            ServerMsg::Ack { cid, id } => {
                let ack = self
                    .echo
                    .ack(cid, id, now.into_std(), &mut self.outbox, &self.seen);
                if let Some(text) = ack {
                    self.console.print(&said(&self.me, &text));
                }
            }
            ServerMsg::Message { id, from, text, .. } => {
                if !self.seen.fresh(id) {
                } else if from == self.me {
                    if let Some(text) = self.echo.message(id, text, &self.outbox) {
                        self.console.print(&said(&from, &text));
                    }
                } else {
                    self.console.print(&said(&from, &text));
                }
            }
            ServerMsg::History { id, .. } => {
                // `|` so the replay is recorded even when shown regardless.
                if self.seen.fresh(id) | self.first_history {
                    self.console.print(&render(&msg).unwrap_or_default());
                }
            }
            other => {
                if let Some(line) = render(&other) {
                    self.console.print(&line);
                }
            }
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

/// "1 typed line was not sent", "3 typed lines were not sent".
fn not_sent(count: usize) -> String {
    match count {
        1 => "1 typed line was not sent".into(),
        n => format!("{n} typed lines were not sent"),
    }
}
