//! Typed lines and commands until they are safe: the client half of
//! acknowledged sends.
//!
//! Every chat line (to a room or, privately, to a member) gets a client id
//! (`cid`) when it is typed: a random 64-bit start, then +1 per line, so
//! ids are unique for the whole session across failovers and no two
//! clients are likely to share one. A line is *unsent* (waiting for a
//! connection or for the pacer), *in flight* (sent, not yet acknowledged)
//! or *acknowledged*. After a failover everything the outbox still holds is
//! sent again, in the order it was typed and before anything typed later;
//! the servers' deduplication on (name, cid) makes that safe.
//!
//! Commands that are requests (`/join`, `/nick`, `/who` …) wait in the same
//! queue, so they keep their place among the lines (`/join #dev` then
//! `hello` says hello in `#dev`) and are paced like them; they have no cid
//! and leave the outbox once sent.
//!
//! An acknowledged line is kept a little longer ([`RELAY_GRACE`]): the
//! server acknowledges a line once it is numbered, which can be a moment
//! before the line has left for the other servers. If the server dies in
//! that moment, only a resend saves the line; once the server has been
//! heard from [`RELAY_GRACE`] after the acknowledgement (the chat loop
//! pings a quiet one to find out), its relay has long sent (and, under
//! loss, repaired) it, and the line is dropped.
//! Pure: the caller passes the time.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::render::{pending, said, Place};
use super::rooms::is_lobby;
use super::seen::Scope;
use crate::protocol::ClientMsg;

/// How long after acknowledging a line a server must still be heard from
/// before the line counts as relayed: ten of the relay's 100 ms status
/// rounds, time for any loss to be noticed and repaired.
pub const RELAY_GRACE: Duration = Duration::from_secs(1);

/// Where a line is on its way to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not sent on the current connection yet.
    Unsent,
    /// Sent; no `ack` yet.
    InFlight,
    /// Acknowledged at this instant; kept until the server has been heard
    /// from for [`RELAY_GRACE`] after it.
    Acked(Instant),
}

/// Where a typed line goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// To a room.
    Room(String),
    /// Privately, to the member of this name.
    Member(String),
}

/// One typed chat line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Its client id.
    pub cid: u64,
    /// Where it goes.
    pub to: Target,
    /// Whether it is an action (`/me`).
    pub action: bool,
    /// What was typed.
    pub text: String,
    state: State,
    /// Whether the line is on screen as a chat line (its echo was shown).
    pub shown: bool,
    /// Whether it was shown as pending.
    pub pending_shown: bool,
}

impl Line {
    fn place(&self) -> Place<'_> {
        match &self.to {
            Target::Room(room) => Place::Room(room),
            Target::Member(name) => Place::To(name),
        }
    }

    /// Which messages its echo is among, for deduplication.
    pub fn scope(&self) -> Scope {
        match &self.to {
            Target::Room(room) => Scope::room(room),
            Target::Member(_) => Scope::private(),
        }
    }

    /// The line as its echo shows it, said by `me`.
    pub fn echo(&self, me: &str) -> String {
        said(self.place(), me, &self.text, self.action)
    }

    /// The line as a terminal shows it while it waits: `[PENDING] …`.
    pub fn pending(&self, me: &str) -> String {
        pending(self.place(), me, &self.text, self.action)
    }

    /// The frame that sends it. Lines to `#lobby` name no room, so that a
    /// version-1 server gets exactly the `send` it knows.
    fn frame(&self) -> ClientMsg {
        match &self.to {
            Target::Room(room) => ClientMsg::Send {
                text: self.text.clone(),
                room: (!is_lobby(room)).then(|| room.clone()),
                action: self.action,
                cid: Some(self.cid),
            },
            Target::Member(name) => ClientMsg::Private {
                to: name.clone(),
                text: self.text.clone(),
                cid: Some(self.cid),
                action: self.action,
            },
        }
    }
}

/// What waits in the outbox: a chat line, or a request.
#[derive(Debug, Clone, PartialEq)]
enum Item {
    Line(Line),
    /// A request that has not been sent yet (sent ones leave).
    Request(ClientMsg),
}

/// The lines not yet known to be safe, and the requests not yet sent, in
/// the order they were typed.
#[derive(Debug, Clone)]
pub struct Outbox {
    next_cid: u64,
    items: VecDeque<Item>,
}

impl Outbox {
    /// An empty outbox whose first line gets `first_cid` (0 is "no cid" on
    /// the relay, so it is skipped).
    pub fn starting_at(first_cid: u64) -> Outbox {
        Outbox {
            next_cid: first_cid.max(1),
            items: VecDeque::new(),
        }
    }

    /// An empty outbox with a random first cid, below 2^63 so the session
    /// can never wrap around.
    pub fn random() -> Outbox {
        Outbox::starting_at(fastrand::u64(1..1 << 63))
    }

    fn lines(&self) -> impl Iterator<Item = &Line> {
        self.items.iter().filter_map(|item| match item {
            Item::Line(line) => Some(line),
            Item::Request(_) => None,
        })
    }

    fn lines_mut(&mut self) -> impl Iterator<Item = &mut Line> {
        self.items.iter_mut().filter_map(|item| match item {
            Item::Line(line) => Some(line),
            Item::Request(_) => None,
        })
    }

    /// Adds a typed line going `to` a room or a member; returns its cid.
    pub fn push(&mut self, to: Target, action: bool, text: String) -> u64 {
        let cid = self.next_cid;
        self.next_cid += 1;
        self.items.push_back(Item::Line(Line {
            cid,
            to,
            action,
            text,
            state: State::Unsent,
            shown: false,
            pending_shown: false,
        }));
        cid
    }

    /// Adds a request, to be sent in its turn.
    pub fn request(&mut self, msg: ClientMsg) {
        self.items.push_back(Item::Request(msg));
    }

    /// The frame for the first unsent line or request, which is marked
    /// sent. A request leaves the outbox. A line, with `ack`, is kept until
    /// acknowledged; without, there is nothing to wait for and it leaves.
    pub fn send_next(&mut self, acks: bool) -> Option<ClientMsg> {
        let at = self.items.iter().position(|item| match item {
            Item::Line(line) => line.state == State::Unsent,
            Item::Request(_) => true,
        })?;
        if let Item::Line(line) = &mut self.items[at] {
            if acks {
                line.state = State::InFlight;
                return Some(line.frame());
            }
        }
        match self.items.remove(at)? {
            Item::Line(line) => Some(line.frame()),
            Item::Request(msg) => Some(msg),
        }
    }

    /// Whether a line or request waits to be sent.
    pub fn has_unsent(&self) -> bool {
        self.items.iter().any(|item| match item {
            Item::Line(line) => line.state == State::Unsent,
            Item::Request(_) => true,
        })
    }

    /// Whether a sent line waits for its `ack`.
    pub fn awaiting_ack(&self) -> bool {
        self.lines().any(|l| l.state == State::InFlight)
    }

    /// How many lines have not been acknowledged (unsent or in flight),
    /// and requests not sent.
    pub fn undelivered(&self) -> usize {
        self.items
            .iter()
            .filter(|item| match item {
                Item::Line(line) => !matches!(line.state, State::Acked(_)),
                Item::Request(_) => true,
            })
            .count()
    }

    /// The line with this cid, if the outbox still holds it.
    pub fn get_mut(&mut self, cid: u64) -> Option<&mut Line> {
        self.lines_mut().find(|l| l.cid == cid)
    }

    /// The oldest line in flight: the one the server answers next.
    pub fn first_in_flight(&mut self) -> Option<&mut Line> {
        self.lines_mut().find(|l| l.state == State::InFlight)
    }

    /// The server numbered line `cid` at `now`. Returns the line, which
    /// stays for [`RELAY_GRACE`].
    pub fn acked(&mut self, cid: u64, now: Instant) -> Option<&mut Line> {
        let line = self.get_mut(cid)?;
        if line.state == State::InFlight {
            line.state = State::Acked(now);
        }
        Some(line)
    }

    /// The server refused line `cid` for good (invalid, or the name is
    /// gone): it leaves the outbox.
    pub fn refused(&mut self, cid: u64) -> Option<Line> {
        let at = self
            .items
            .iter()
            .position(|item| matches!(item, Item::Line(l) if l.cid == cid))?;
        match self.items.remove(at)? {
            Item::Line(line) => Some(line),
            Item::Request(_) => None,
        }
    }

    /// The server dropped line `cid` for now (rate limit): send it again.
    pub fn retry(&mut self, cid: u64) {
        if let Some(line) = self.get_mut(cid) {
            line.state = State::Unsent;
        }
    }

    /// When the oldest acknowledged line still held was acknowledged: the
    /// server must be heard from [`RELAY_GRACE`] after that for it to leave.
    pub fn unconfirmed_since(&self) -> Option<Instant> {
        self.lines()
            .filter_map(|l| match l.state {
                State::Acked(at) => Some(at),
                _ => None,
            })
            .min()
    }

    /// The server was heard from at `heard`: acknowledged lines that old
    /// enough are safe and leave.
    pub fn confirm(&mut self, heard: Instant) {
        self.items.retain(|item| match item {
            Item::Line(Line {
                state: State::Acked(at),
                ..
            }) => heard < *at + RELAY_GRACE,
            _ => true,
        });
    }

    /// The connection is gone: every line held is to be sent again on the
    /// next one, in the order it was typed.
    pub fn resend_all(&mut self) {
        for line in self.lines_mut() {
            line.state = State::Unsent;
        }
    }

    /// Unsent lines not on screen in any form yet, marked as shown pending:
    /// what a terminal prints as `[PENDING] text`.
    pub fn newly_pending(&mut self) -> Vec<Line> {
        self.lines_mut()
            .filter(|l| l.state == State::Unsent && !l.shown && !l.pending_shown)
            .map(|l| {
                l.pending_shown = true;
                l.clone()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
