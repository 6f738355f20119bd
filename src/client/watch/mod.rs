//! `chatty watch ADDR`: a live view of what one server sees, pushed by the
//! server through the status subscription (protocol version 2, `watch`;
//! PROTOCOL.md 17.10), never polled.
//!
//! On a terminal it redraws a full screen ([`view::WatchView::screen`]) in
//! the alternate screen buffer, four times a second so that "last heard"
//! ages move, and at once on every push; Ctrl-C leaves. Piped, it prints
//! one line per membership event ([`view::event_line`]) and nothing else.

pub mod view;

use std::io::{IsTerminal, Write};
use std::time::Duration;

use tokio::time::{interval, Instant, MissedTickBehavior};

use super::interrupt::Interrupts;
use super::{Client, Connector};
use crate::protocol::{ClientMsg, ServerMsg};
use view::{event_line, WatchView};

/// How often a terminal screen is redrawn without a push.
const REDRAW: Duration = Duration::from_millis(250);

/// Watches the server at `addr` until Ctrl-C (exit 0) or until the
/// connection is lost (exit 1, after saying so).
pub async fn run(addr: &str, connector: &Connector) -> i32 {
    let mut client = match Client::connect_via(addr, connector).await {
        Ok(client) => client,
        Err(err) => {
            eprintln!("chatty watch: {err}");
            return 1;
        }
    };
    if !client.has_rooms() {
        eprintln!(
            "chatty watch: the server at {addr} speaks protocol version {}, which has no \
             status subscription; `chatty status {addr}` works with it",
            client.version()
        );
        return 1;
    }
    if let Err(err) = client.send_msg(&ClientMsg::Watch).await {
        eprintln!("chatty watch: {err}");
        return 1;
    }
    let mut screen = Screen::new(std::io::stdout().is_terminal());
    let mut view = WatchView::default();
    let mut redraw = interval(REDRAW);
    redraw.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut interrupts = Interrupts::listen();
    let code = loop {
        tokio::select! {
            msg = client.recv() => match msg {
                Ok(Some(ServerMsg::Ping { nonce })) => {
                    if client.send_msg(&ClientMsg::Pong { nonce }).await.is_err() {
                        break screen.lost(addr, "the connection broke");
                    }
                }
                Ok(Some(ServerMsg::Shutdown { reason, .. })) => {
                    break screen.lost(addr, &format!("the server shut down ({reason})"));
                }
                Ok(Some(ServerMsg::Error { text, fatal: true, .. })) => {
                    break screen.lost(addr, &format!("the server refused: {text}"));
                }
                Ok(Some(msg)) => {
                    let events = view.apply(&msg, Instant::now().into_std());
                    screen.show(addr, &view, &events);
                }
                Ok(None) => break screen.lost(addr, "the server closed the connection"),
                Err(err) => break screen.lost(addr, &err.to_string()),
            },
            _ = redraw.tick(), if screen.tty => screen.show(addr, &view, &[]),
            _ = interrupts.next() => break screen.leave(0),
        }
    };
    code
}

/// Where the view goes: a redrawn terminal screen, or lines.
struct Screen {
    tty: bool,
    entered: bool,
}

impl Screen {
    fn new(tty: bool) -> Screen {
        Screen {
            tty,
            entered: false,
        }
    }

    fn show(&mut self, addr: &str, view: &WatchView, events: &[crate::protocol::ClusterEvent]) {
        let mut out = std::io::stdout().lock();
        if !self.tty {
            for event in events {
                let _ = writeln!(out, "{}", event_line(event));
            }
            let _ = out.flush();
            return;
        }
        if !self.entered {
            // The alternate screen: the user's scrollback is left as it was.
            let _ = write!(out, "\x1b[?1049h\x1b[?25l");
            self.entered = true;
        }
        let (rows, _) = terminal_size();
        let text = view.screen(addr, Instant::now().into_std(), rows);
        // Home, then each line cleared to its end, then the rest cleared.
        let _ = write!(out, "\x1b[H");
        for line in text.lines() {
            let _ = write!(out, "{line}\x1b[K\r\n");
        }
        let _ = write!(out, "\x1b[J");
        let _ = out.flush();
    }

    fn lost(&mut self, addr: &str, why: &str) -> i32 {
        let code = self.leave(1);
        eprintln!("chatty watch: lost {addr}: {why}");
        code
    }

    fn leave(&mut self, code: i32) -> i32 {
        if self.entered {
            let mut out = std::io::stdout().lock();
            let _ = write!(out, "\x1b[?25h\x1b[?1049l");
            let _ = out.flush();
            self.entered = false;
        }
        code
    }
}

/// The terminal's rows and columns (24 × 80 if unknown).
fn terminal_size() -> (usize, usize) {
    #[cfg(unix)]
    {
        // SAFETY: TIOCGWINSZ writes a winsize into the struct we pass and
        // nothing else; a failure leaves it zeroed, handled below.
        let mut size: libc::winsize = unsafe { std::mem::zeroed() };
        let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
        if ok && size.ws_row > 0 {
            return (usize::from(size.ws_row), usize::from(size.ws_col));
        }
    }
    (24, 80)
}
