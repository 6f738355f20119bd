//! The chat loop: one loop for the whole session. What it does with each
//! server frame is in `frames`, with each typed line in `typed`.
//!
//! It always polls the console, so the terminal stays live whatever the
//! connection is doing: typed keys echo and printed lines appear while
//! connected, while pacing, and while the failover task looks for another
//! server. Typed lines go into the [`Outbox`], which sends them as the
//! server's advertised rate allows and keeps them until the server
//! acknowledges them; after a failover it sends again, in order, whatever
//! it still holds. A line that cannot go at once is shown as
//! `[PENDING] text` on a terminal (piped output keeps to the documented
//! line formats); the server's echo follows once it is sent. Commands that
//! are requests wait in the outbox too, in their place among the lines.

use std::time::Duration;

use tokio::time::{sleep_until, Instant};

mod frames;
mod typed;

use super::connect::{rejoin_somewhere, Comeback, GaveUp, Rejoined, Servers};
use super::console::{Console, Input};
use super::echo::OwnEcho;
use super::exit::{EXIT_CONNECTION, EXIT_NAME_REFUSED, EXIT_OK};
use super::interrupt::Interrupts;
use super::link::{Conn, Link, LinkEvent};
use super::names::Names;
use super::outbox::Outbox;
use super::render::clean;
use super::rooms::Rooms;
use super::seen::SeenIds;
use super::Welcome;
use crate::protocol::{ClientMsg, LOBBY};

/// How long to wait for the server to confirm a leave.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(3);

/// How soon after a rejoin losing the name is taken for our own old
/// membership, relayed by the lost server just before it died and read by
/// the new one after our rejoin (PROTOCOL.md 11): then we fail over again
/// rather than ask for another name. The cluster frees the name once the
/// lost server is declared dead (under a second by default).
const GHOST_WINDOW: Duration = Duration::from_secs(5);

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
    /// The name held, and the nick changes on their way.
    names: Names,
    /// The rooms the user is in, and the active one.
    rooms: Rooms,
    seen: SeenIds,
    /// True from the first `welcome`, and from each `room_state`, until
    /// the next frame that is not `history`: those replays are older than
    /// what was seen (the welcome's watermark, another room's messages),
    /// and shown anyway.
    replaying: bool,
    /// Set when the server was lost while the user was not in `#lobby`: a
    /// rejoin puts the member there, so it parts it again.
    part_lobby: bool,
    outbox: Outbox,
    echo: OwnEcho,
    /// True after our name was taken back (a same-moment claim on another
    /// server won): the next line typed is a new name, not a message.
    renaming: bool,
    leaving: Leaving,
    /// What `/quit` said, for the others to see with our `left`.
    quit_text: Option<String>,
    /// How long to look for another server after losing one.
    timeout: Duration,
    /// When the last failover's rejoin was welcomed, until a lost name
    /// within [`GHOST_WINDOW`] of it has sent us on again.
    rejoined_at: Option<Instant>,
}

/// What to do after a frame.
enum Flow {
    Continue,
    Exit(i32),
    /// The connection is given up: find another server.
    Gone(Why),
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
    /// The chat after the first join on `servers.addr`, answered by
    /// `welcome`.
    pub fn new(
        console: &'c mut Console,
        servers: Servers,
        welcome: Welcome,
        timeout: Duration,
    ) -> Chat<'c> {
        Chat {
            console,
            servers,
            names: Names::new(welcome.name),
            rooms: Rooms::from_welcome(&welcome.rooms),
            seen: SeenIds::from_watermark(&welcome.seen),
            replaying: true,
            part_lobby: false,
            outbox: Outbox::random(),
            echo: OwnEcho::default(),
            renaming: false,
            leaving: Leaving::No,
            quit_text: None,
            timeout,
            rejoined_at: None,
        }
    }

    /// Chats on `link` until the end; returns the exit status.
    pub async fn run(&mut self, mut link: Link) -> i32 {
        let mut interrupts = Interrupts::listen();
        loop {
            if let Some(code) = self.progress(&mut link) {
                return code;
            }
            let wake = self.next_wake(&mut link);
            let step = tokio::select! {
                event = link.next() => Step::Link(event),
                input = self.console.read_line(), if self.console.is_open() => Step::Input(input),
                _ = interrupts.next() => Step::Input(Input::Interrupt),
                _ = sleep_until(wake.unwrap_or_else(Instant::now)), if wake.is_some() => Step::Timer,
            };
            let flow = match step {
                Step::Link(LinkEvent::Frame(frame)) => match (&mut link, frame) {
                    (Link::Up(conn), Ok(Some(msg))) => self.on_frame(conn, msg),
                    _ if matches!(self.leaving, Leaving::Sent(_)) => Flow::Exit(EXIT_OK),
                    _ => Flow::Gone(Why::Lost),
                },
                Step::Link(LinkEvent::Rejoined(Ok(rejoined))) => {
                    link = Link::Up(self.rejoined(rejoined));
                    Flow::Continue
                }
                Step::Link(LinkEvent::Rejoined(Err(why))) => Flow::Exit(self.give_up(why)),
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
                Flow::Gone(why) => link = self.lose(why),
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
                    let Some(msg) = self.outbox.send_next(conn.acks) else {
                        break;
                    };
                    self.send(conn, msg);
                }
                if self.leaving == Leaving::Wanted && self.outbox.undelivered() == 0 {
                    conn.send(ClientMsg::Leave {
                        text: self.quit_text.clone(),
                    });
                    self.leaving = Leaving::Sent(now + LEAVE_TIMEOUT);
                }
            }
            Link::Down(_) if self.leaving == Leaving::Wanted && self.outbox.undelivered() == 0 => {
                return Some(EXIT_OK)
            }
            Link::Down(_) => {}
        }
        for line in self.outbox.newly_pending() {
            self.console.note(&line.pending(self.names.me()));
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
            (Link::Up(conn), _) if now >= conn.last_heard + conn.silence_limit => {
                Flow::Gone(Why::Lost)
            }
            _ => Flow::Continue, // a pacing token (the next turn sends) or a probe
        }
    }

    /// The connection is gone (or of no more use): says so at once, then
    /// looks for another server in a task of its own while the console
    /// stays live.
    fn lose(&mut self, why: Why) -> Link {
        if let Some(line) = self.echo.release(&mut self.outbox) {
            self.console.print(&line);
        }
        match why {
            Why::Moving => self.console.print("[SERVER] moving to another server…"),
            Why::Lost => self.console.print(&format!(
                "[SERVER] lost connection to {}; reconnecting…",
                self.servers.addr
            )),
            Why::Ghost => self.console.print(&format!(
                "[SERVER] {} was taken back for our old connection to the lost server; joining again…",
                clean(self.names.me())
            )),
        }
        self.outbox.resend_all();
        self.part_lobby = !self.rooms.has(LOBBY);
        let back = Comeback {
            me: self.names.me().to_string(),
            rooms: self.rooms.to_rejoin(),
            last_seen: self.seen.last_seen(),
        };
        let deadline = Instant::now() + self.timeout;
        Link::Down(tokio::spawn(rejoin_somewhere(
            self.servers.clone(),
            back,
            deadline,
        )))
    }

    /// In again after a failover, under the name held, in the rooms the
    /// new server could enter again.
    fn rejoined(&mut self, rejoined: Box<Rejoined>) -> Conn {
        let Rejoined {
            client,
            welcome,
            servers,
        } = *rejoined;
        self.servers = servers;
        self.names.hold(welcome.name);
        self.rooms.rejoined(&welcome.rooms);
        if self.part_lobby && client.has_rooms() {
            self.rooms.parted(LOBBY);
            self.outbox.request(ClientMsg::Part {
                room: LOBBY.into(),
                text: None,
            });
        }
        self.console.set_prompt(&self.rooms.prompt());
        self.rejoined_at = Some(Instant::now());
        self.console.print(&format!(
            "[SERVER] reconnected to {} as {}",
            self.servers.addr,
            clean(self.names.me())
        ));
        Conn::open(client)
    }

    /// No server took us back in time: says why; the exit status.
    fn give_up(&mut self, why: GaveUp) -> i32 {
        let unsent = match self.outbox.undelivered() {
            0 => String::new(),
            n => format!("; {}", not_sent(n)),
        };
        let (what, code) = match why {
            GaveUp::Unreachable => ("no server could be reached".to_string(), EXIT_CONNECTION),
            GaveUp::NameBusy => (
                format!("the name {} stayed taken", clean(self.names.me())),
                EXIT_NAME_REFUSED,
            ),
        };
        self.console.print(&format!(
            "[SERVER] {what} for {} s; giving up{unsent}",
            self.timeout.as_secs()
        ));
        code
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
                    conn.send(ClientMsg::Leave {
                        text: self.quit_text.clone(),
                    });
                }
                Flow::Exit(EXIT_OK)
            }
            Leaving::Sent(_) => Flow::Exit(EXIT_OK),
        }
    }
}

/// Why a connection is given up.
#[derive(Debug, Clone, Copy)]
enum Why {
    /// Reset, EOF without notice, or silence.
    Lost,
    /// The server is shutting down and named alternatives.
    Moving,
    /// Our name went to our own old membership right after a rejoin: join
    /// again, on whichever server has freed it first.
    Ghost,
}

/// "1 typed line was not sent", "3 typed lines were not sent".
fn not_sent(count: usize) -> String {
    match count {
        1 => "1 typed line was not sent".into(),
        n => format!("{n} typed lines were not sent"),
    }
}
