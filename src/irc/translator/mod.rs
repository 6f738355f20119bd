//! The IRC side of one connection as a sans-IO state machine: IRC lines in,
//! Chatty requests and IRC lines out; Chatty frames in, IRC lines out. No
//! sockets and no clocks: every input carries `now` (Unix ms), and the
//! caller drains [`Output`]s. The connection shell (`super::conn`) drives it.
//!
//! It opens an ordinary Chatty session (protocol version 2 with `ack`), so
//! every rule of the Chatty port holds; what the translator adds is only
//! what IRC needs and Chatty does not keep (IRC.md, "Local to the gateway").

mod caps;
mod commands;
mod events;
mod history;
mod local;
mod members;
mod query;
mod refusals;
mod register;
mod replay;
mod table;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_chat;
#[cfg(test)]
mod tests_large;
#[cfg(test)]
mod tests_more;
#[cfg(test)]
mod tests_ours;

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crate::protocol::validate::name_key;
use crate::protocol::{ClientMsg, ServerId, ServerMsg, TopicInfo};

use super::away::Board;
use super::message::Message;
use caps::Caps;
use history::History;
use table::Table;

/// What the gateway is, the same for all its connections.
#[derive(Debug, Clone)]
pub struct GatewayInfo {
    /// The server name in replies (`--irc-name`).
    pub server_name: String,
    /// The network name (ISUPPORT `NETWORK`).
    pub network: String,
    /// The Chatty server the gateway runs on.
    pub server_id: ServerId,
    /// When the server started, for 003.
    pub created: String,
    /// Message of the day lines; none sends 422.
    pub motd: Vec<String>,
    /// Ping an IRC client after this much silence (ms).
    pub keepalive_ms: u64,
    /// Close an IRC client after this much silence (ms).
    pub idle_timeout_ms: u64,
    /// The gateway's own flood guard: lines per second, any command.
    pub lines_per_sec: f64,
    /// ... and lines at once.
    pub lines_burst: u32,
    /// Show the user in `#lobby`, where every Chatty member starts (a
    /// forced JOIN at registration); when false the gateway parts it at
    /// once and the user starts in no channel, as on other IRC servers.
    pub lobby: bool,
}

/// Something the connection shell must do, besides writing the IRC
/// output ([`Translator::take_irc`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send this request on the Chatty session.
    Chatty(ClientMsg),
    /// Flush what is queued and close both sides.
    Close,
}

/// Capabilities this gateway offers (IRC.md, "Capabilities").
pub const CAPS: &[&str] = &[
    "away-notify",
    "batch",
    "chatty/no-replay",
    "draft/chathistory",
    "echo-message",
    "message-tags",
    "multi-prefix",
    "server-time",
];

/// The user name and host shown for every member (Chatty keeps neither).
pub const USER: &str = "chatty";
/// See [`USER`].
pub const HOST: &str = "chatty";

/// A room the user is in, as the translator tracks it.
#[derive(Debug, Clone)]
struct Channel {
    /// The room as the server spells it.
    name: String,
    /// Members by name key: (name, server).
    members: Table<String, (String, ServerId)>,
    /// The topic, if any.
    topic: Option<TopicInfo>,
    /// For a large room (PROTOCOL.md, "Large rooms"): how many members
    /// it had when we last heard. Its `members` are then only what we
    /// know (ourselves at least): joins and leaves of others are not sent.
    count: Option<u32>,
    /// The last message of the room shown to this connection (live,
    /// replayed, or its own), so that a rejoin replays only what came
    /// after it (`replay`).
    last: std::cell::Cell<Option<crate::protocol::MessageId>>,
}

/// A request sent to Chatty whose answer is still to come. The server
/// answers a connection's requests strictly in order, so answers (and
/// errors) match the front of the queue.
#[derive(Debug, Clone)]
enum Pending {
    Join {
        nick: String,
    },
    Status {
        lusers_only: bool,
    },
    Enter {
        room: String,
    },
    Part {
        room: String,
        reason: Option<String>,
    },
    Say {
        cid: u64,
        target: String,
        notice: bool,
    },
    Nick {
        nick: String,
    },
    TopicSet,
    TopicAsk {
        room: String,
    },
    Who {
        mask: String,
        purpose: WhoFor,
    },
    Whois {
        nick: String,
        purpose: WhoisFor,
    },
    Rooms {
        filter: Option<Vec<String>>,
    },
}

/// Why a room's members were asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WhoFor {
    Who,
    Names,
    Mode,
    /// A PRIVMSG to a room the user is not in: does it exist (404 or 403)?
    Send {
        notice: bool,
    },
}

/// Why a member was looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WhoisFor {
    Whois,
    Who,
}

/// The IRC side of one connection.
#[derive(Debug)]
pub struct Translator {
    gw: Arc<GatewayInfo>,
    out: VecDeque<Output>,
    /// The nick: asked for before registration, held after.
    nick: Option<String>,
    /// USER's user name and real name.
    user: Option<(String, String)>,
    cap_open: bool,
    caps: Caps,
    registered: bool,
    /// Frames that arrived during the registration burst, replayed after it.
    held: Option<Vec<(ServerMsg, u64)>>,
    /// IRC lines that arrived while registering or during the burst,
    /// handled after it, in order.
    held_lines: Vec<(String, u64)>,
    /// `#lobby` as the welcome showed it, for the end of the burst. (This
    /// and `held_echo` are boxed: they are rarely there, and inline they
    /// would add 280 bytes to every connection's task, one allocator size
    /// class.)
    lobby: Option<Box<crate::protocol::RoomState>>,
    invisible: bool,
    away: Option<String>,
    /// What the gateway's users say of themselves (USER, AWAY).
    board: Board,
    /// The last user name looked up on the board: (name, board version,
    /// user name).
    last_user: RefCell<Option<(String, u64, String)>>,
    /// Bumped whenever our nick, USER or AWAY may have changed.
    presence_version: u64,
    /// Name keys already computed (a skeleton is costly, and every
    /// forwarded message needs its sender's and room's).
    keys: RefCell<HashMap<String, String>>,
    /// Our nick and its name key, as last computed.
    my_key: RefCell<Option<(String, Option<String>)>>,
    /// IRC output not yet taken by the shell: whole lines, CR LF ended.
    irc: Vec<u8>,
    channels: Table<String, Channel>,
    pending: VecDeque<Pending>,
    next_cid: u64,
    /// Our own line, waiting for its `ack` to be echoed (echo-message).
    held_echo: Option<Box<ServerMsg>>,
    history: History,
    /// The last message shown of rooms parted, and the rejoin replay
    /// under way (`replay`).
    seen: replay::Seen,
    replay: Option<Box<replay::Replay>>,
    /// The id of the last QUIT shown, so a leave seen in several rooms is one QUIT.
    last_quit: Option<(crate::protocol::MessageId, String)>,
    last_heard: u64,
    ping_sent: Option<u64>,
    flood_tokens: f64,
    flood_at: u64,
    batches: u64,
    closed: bool,
}

impl Translator {
    /// A new connection at `now`: the Chatty `hello` is its first output.
    pub fn new(gw: Arc<GatewayInfo>, board: Board, now: u64) -> Translator {
        let mut t = Translator {
            flood_tokens: f64::from(gw.lines_burst),
            gw,
            out: VecDeque::new(),
            nick: None,
            user: None,
            cap_open: false,
            caps: Caps::default(),
            registered: false,
            held: None,
            held_lines: Vec::new(),
            lobby: None,
            invisible: false,
            away: None,
            board,
            last_user: RefCell::default(),
            presence_version: 0,
            keys: RefCell::default(),
            my_key: RefCell::default(),
            irc: Vec::new(),
            channels: Table::default(),
            pending: VecDeque::new(),
            next_cid: 1,
            held_echo: None,
            history: History::default(),
            seen: replay::Seen::default(),
            replay: None,
            last_quit: None,
            last_heard: now,
            ping_sent: None,
            flood_at: now,
            batches: 0,
            closed: false,
        };
        t.chatty_out(ClientMsg::Hello {
            version: 2,
            agent: concat!("chatty-irc/", env!("CARGO_PKG_VERSION")).to_string(),
            features: vec![crate::protocol::FEATURE_ACK.to_string()],
        });
        t
    }

    /// The next thing to do, if any.
    pub fn poll(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// Moves the IRC output so far (whole lines, each ending in CR LF) to
    /// the end of `into`.
    pub fn take_irc(&mut self, into: &mut bytes::BytesMut) {
        into.extend_from_slice(&self.irc);
        self.irc.clear();
        if self.irc.capacity() > IDLE_OUTPUT {
            self.irc = Vec::new();
        }
    }

    /// Gives back what a burst grew and an idle connection does not need:
    /// the output buffer, the name-key cache, empty queues. The shell
    /// calls it when nothing happened for a while.
    pub fn shrink_idle(&mut self) {
        if self.irc.is_empty() {
            self.irc = Vec::new();
        }
        if self.out.is_empty() {
            self.out = VecDeque::new();
        }
        if self.pending.is_empty() {
            self.pending = VecDeque::new();
        }
        if self.held_lines.is_empty() {
            self.held_lines = Vec::new();
        }
        self.keys.take();
    }

    /// How many bytes of IRC output wait in [`Translator::take_irc`].
    pub fn irc_pending(&self) -> usize {
        self.irc.len()
    }

    /// Whether a `status` request just asked is the only answer awaited,
    /// so the shell may answer it in place, out of the session's order.
    pub fn status_is_next(&self) -> bool {
        self.pending.len() == 1 && matches!(self.pending.front(), Some(Pending::Status { .. }))
    }

    /// Whether the connection is over (a `Close` has been queued).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// The nick, once registered.
    pub fn nick(&self) -> Option<&str> {
        self.registered.then_some(self.nick.as_deref()).flatten()
    }

    /// The Chatty session ended without a word (the server closed it).
    pub fn session_closed(&mut self) {
        self.close("Chatty session ended");
    }

    /// An IRC line too long to read arrived (and was dropped).
    pub fn line_too_long(&mut self, now: u64) {
        self.last_heard = now;
        self.numeric("417", &["Input line was too long"]);
    }

    /// The time passes: pings a silent client, closes a dead one.
    pub fn tick(&mut self, now: u64) {
        if self.closed {
            return;
        }
        let silent = now.saturating_sub(self.last_heard);
        match self.ping_sent {
            None if silent >= self.gw.keepalive_ms => {
                self.ping_sent = Some(now);
                let token = self.gw.server_name.clone();
                self.raw(None, "PING", &[&token]);
            }
            Some(_) if silent >= self.gw.idle_timeout_ms => {
                let secs = silent / 1000;
                self.close(&format!("Ping timeout: {secs} seconds"));
            }
            _ => {}
        }
    }

    /// [`name_key`], remembered (at most a few thousand spellings).
    fn key(&self, s: &str) -> String {
        self.with_key(s, str::to_string)
    }

    /// Calls `f` with `s`'s name key, from the cache when it is there; `f`
    /// must not look up keys itself.
    fn with_key<R>(&self, s: &str, f: impl FnOnce(&str) -> R) -> R {
        if let Some(key) = self.keys.borrow().get(s) {
            return f(key);
        }
        let key = name_key(s);
        let out = f(&key);
        let mut keys = self.keys.borrow_mut();
        if keys.len() >= KEYS_KEPT {
            keys.clear();
        }
        keys.insert(s.to_string(), key);
        out
    }

    /// Calls `f` with our own name key (if our nick is a name).
    fn with_my_key<R>(&self, f: impl FnOnce(Option<&str>) -> R) -> R {
        let Some(nick) = self.nick.as_deref() else {
            return f(None);
        };
        let stale = !matches!(&*self.my_key.borrow(), Some((n, _)) if n == nick);
        if stale {
            let key = super::names::from_nick(nick).map(|n| name_key(&n));
            *self.my_key.borrow_mut() = Some((nick.to_string(), key));
        }
        let mine = self.my_key.borrow();
        f(mine.as_ref().and_then(|(_, k)| k.as_deref()))
    }

    fn nick_key(&self) -> Option<String> {
        self.with_my_key(|k| k.map(str::to_string))
    }

    /// Whether the Chatty name `name` is ours, however spelled.
    pub(super) fn is_me(&self, name: &str) -> bool {
        self.with_my_key(|mine| mine.is_some_and(|mine| self.with_key(name, |k| k == mine)))
    }

    /// Whether a name from the server is ours: the server spells our name
    /// as it did in `welcome` (or the last `nick`), and no one else can
    /// hold a name with our key, so the spelling answers without a key.
    pub(super) fn is_from_me(&self, name: &str) -> bool {
        self.nick
            .as_deref()
            .is_some_and(|nick| super::names::as_nick(name) == nick)
    }

    fn shares_room(&self, key: &str) -> bool {
        self.channels.values().any(|c| c.members.contains_key(key))
    }

    // ----- output helpers -----

    fn chatty_out(&mut self, msg: ClientMsg) {
        self.out.push_back(Output::Chatty(msg));
    }

    fn cid(&mut self) -> u64 {
        let cid = self.next_cid;
        self.next_cid += 1;
        cid
    }

    /// Sends `msg` as one line.
    fn send(&mut self, msg: Message) {
        self.line(&msg.write(true));
    }

    /// Queues one IRC line (without its CR LF).
    fn line(&mut self, line: &str) {
        tracing::trace!(line = %line, "irc: out");
        self.irc.extend_from_slice(line.as_bytes());
        self.irc.extend_from_slice(b"\r\n");
    }

    /// A line with a source, command and params (the last one with `:`).
    fn raw(&mut self, source: Option<&str>, command: &str, params: &[&str]) {
        let mut msg = Message::new(command, params);
        msg.source = source.map(str::to_string);
        self.send(msg);
    }

    /// As [`Translator::raw`], but the last param gets `:` only if needed.
    fn raw_bare(&mut self, source: Option<&str>, command: &str, params: &[&str]) {
        let mut msg = Message::new(command, params);
        msg.source = source.map(str::to_string);
        self.line(&msg.write(false));
    }

    /// A numeric reply to the user (`*` before registration).
    fn numeric(&mut self, code: &str, params: &[&str]) {
        let target = match (&self.nick, self.registered) {
            (Some(nick), true) => nick.clone(),
            _ => "*".to_string(),
        };
        let mut all = vec![target.as_str()];
        all.extend_from_slice(params);
        let server = self.gw.server_name.clone();
        if BARE_LAST.contains(&code) {
            self.raw_bare(Some(&server), code, &all);
        } else {
            self.raw(Some(&server), code, &all);
        }
    }

    /// Sends `ERROR` and closes.
    fn close(&mut self, reason: &str) {
        if self.closed {
            return;
        }
        self.raw(None, "ERROR", &[&format!("Closing link: {reason}")]);
        self.out.push_back(Output::Close);
        self.closed = true;
    }

    /// Our source, `nick!user@host`.
    fn me(&self) -> String {
        let nick = self.nick.as_deref().unwrap_or("*");
        match &self.user {
            Some((user, _)) => format!("{nick}!{user}@{HOST}"),
            None => source_of(nick),
        }
    }
}

/// Name keys a connection remembers: its rooms' and the names it meets
/// most. Small, since every idle connection holds its own; the message
/// path needs none for its senders (`is_me` and the board go by
/// spelling first).
const KEYS_KEPT: usize = 64;

/// Output buffer capacity kept between bursts; a larger one (a long
/// NAMES, a history batch) is given back.
const IDLE_OUTPUT: usize = 4096;

/// Numerics whose last parameter is a value, not text: written without a
/// `:` (as servers do; clients read either).
const BARE_LAST: &[&str] = &["221", "324", "333"];

/// A member's source, `nick!user@host`.
fn source_of(nick: &str) -> String {
    format!("{nick}!{USER}@{HOST}")
}
