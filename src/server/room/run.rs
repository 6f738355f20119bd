//! Runs: a member's lines to one room, shown to the room's other local
//! members together.
//!
//! A client that sends a burst of lines (a paste, a bot, a bridge) has them
//! read in one go by its session, each under its own lock. Shown one by
//! one, every line costs every other member of the room a push onto its
//! queue, a reference to the frame and an `iovec` in the next write. Kept
//! back to back in one buffer instead, a burst of `k` lines costs each of
//! them one of each: the lines are encoded into the run as they are
//! numbered, and the run goes to the others as one queue entry when it is
//! *sealed*. The sender hears the run at the seal too, as slices of the
//! same buffer, with each line's `ack` right after its line: nothing else
//! can reach the sender in between (below), so it cannot tell this from
//! hearing each line at once, and its lines cost it no copy and no entry
//! of their own.
//!
//! **Order.** A run is sealed before anything else can reach the room's
//! members, so nobody can tell it from lines shown one by one:
//! * every lock of the room but a line of the run's own sender seals it
//!   first (`Room::lock`), so no other event, member or request comes
//!   between;
//! * a line of the same sender to another room seals it and opens another;
//! * an eviction seals it before the member's `left` is told
//!   (`Room::settle`);
//! * the session seals it when its burst is done (`Room::end_burst`),
//!   before it writes the burst out.
//!
//! **Relayed lines** make runs too: the relay's deliveries that arrived
//! together are applied under one lock (`Room::apply_all`), and consecutive
//! lines to a room, whatever their origin, go to every local member as one
//! entry. Any other delivery seals the run first, and the batch seals it
//! before the lock is released.
//!
//! A run holds at most [`RUN_BYTES`]; then it is sealed and another opens.
//! It counts as the lines it holds in each member's queue bound.

use bytes::{Bytes, BytesMut};

use super::frames::message_frame_into;
use super::rooms::Slot;
use super::state::{Recipients, RoomState};
use super::ConnId;
use crate::protocol::MessageId;
use crate::relay::ChatEvent;

/// Most bytes a run holds before it is sealed: a write's worth.
pub(super) const RUN_BYTES: usize = 64 * 1024;

/// Lines of one local member to one room, encoded back to back, not yet
/// shown to the room's other members.
#[derive(Debug)]
pub(super) struct Run {
    /// The room's key.
    key: String,
    sender: ConnId,
    frames: BytesMut,
    lines: u32,
    /// Frames for the sender alone (its `ack`s), each after the line that
    /// ends at its offset.
    after: Vec<Aside>,
}

/// A frame the run's sender hears after the first `lines` lines of the run
/// (which end at byte `at`).
#[derive(Debug)]
struct Aside {
    at: usize,
    lines: u32,
    frame: Bytes,
}

/// The sender of a run of lines relayed from other servers: no local
/// member (connection ids start at 1), so every local member hears it.
pub(super) const RELAYED: ConnId = 0;

/// A line being shown, of a local member or relayed, borrowed from its event.
pub(super) struct RunLine<'a> {
    id: MessageId,
    sender: ConnId,
    from: &'a str,
    room: &'a str,
    text: &'a str,
    action: bool,
    cid: u64,
}

impl<'a> RunLine<'a> {
    /// Event `id`, if it is a chat line, as said by local member `sender`
    /// (or [`RELAYED`]).
    pub(super) fn of(id: MessageId, sender: ConnId, event: &'a ChatEvent) -> Option<RunLine<'a>> {
        let ChatEvent::Message {
            from,
            room,
            text,
            action,
            cid,
        } = event
        else {
            return None;
        };
        Some(RunLine {
            id,
            sender,
            from,
            room,
            text,
            action: *action,
            cid: *cid,
        })
    }

    /// Appends the line's `message` frame, in room `name`, to `buf`.
    fn encode_into(&self, buf: &mut BytesMut, name: &str) {
        let (id, from, text) = (self.id, self.from, self.text);
        message_frame_into(buf, id, from, text, name, self.action, self.cid);
    }
}

impl RoomState {
    /// Shows a line of local member `line.sender`: to the sender at once,
    /// to the room's other local members with the open run (sealing the
    /// open one first if it is another member's or room's, or full).
    pub(super) fn show_own_line(&mut self, line: RunLine<'_>) {
        let sender = line.sender;
        if let Some(echo) = self.run_line(line) {
            self.push(sender, echo);
        }
    }

    /// Queues `frame` for local member `conn` after its lines so far: kept
    /// for the seal if the open run is `conn`'s (which it hears then), or
    /// pushed now.
    pub(super) fn push_after_lines(&mut self, conn: ConnId, frame: Bytes) {
        match &mut self.run {
            Some(run) if run.sender == conn => {
                run.after.push(Aside {
                    at: run.frames.len(),
                    lines: run.lines,
                    frame,
                });
                self.wakes.count(1);
            }
            _ => self.push(conn, frame),
        }
    }

    /// Shows event `id`, a line relayed from another server, to every
    /// local member of its room with the open run of relayed lines: the
    /// caller holds the lock over a batch of deliveries and seals the run
    /// before anything else is shown (`Room::apply_all`).
    pub(super) fn show_relayed_line(&mut self, id: MessageId, event: &ChatEvent) {
        if let Some(line) = RunLine::of(id, RELAYED, event) {
            self.run_line(line);
        }
    }

    /// Adds `line` to the open run, opening one (and sealing the open one)
    /// if that is another sender's or room's; seals it once full. Returns
    /// the line's frame for a local sender to hear now if it went in no
    /// run (the sender is alone in the room).
    fn run_line(&mut self, line: RunLine<'_>) -> Option<Bytes> {
        let key = self.rooms.key_of(line.room);
        let channel = self.rooms.get(&key)?;
        let relayed = line.sender == RELAYED;
        let others = if relayed {
            channel.local.len()
        } else {
            channel.local.len().saturating_sub(1)
        };
        match &mut self.run {
            // The hot path: one more line of the open run.
            Some(run) if run.sender == line.sender && *run.key == *key => {
                line.encode_into(&mut run.frames, &channel.name);
                run.lines += 1;
                // Seen by the session's burst limit now, delivered at the
                // seal (to a local sender too).
                self.wakes.count(others + usize::from(!relayed));
                self.seal_if_full();
                None
            }
            _ if others == 0 => {
                // Nobody else here: the sender's frame alone (if local),
                // after whatever run is open (it may be the sender's to hear).
                let own = (!relayed).then(|| {
                    let mut own = BytesMut::new();
                    line.encode_into(&mut own, &channel.name);
                    own.freeze()
                });
                self.seal_run();
                own
            }
            _ => {
                let key = key.into_owned();
                self.seal_run();
                self.run = Some(Run {
                    key,
                    sender: line.sender,
                    frames: BytesMut::new(),
                    lines: 0,
                    after: Vec::new(),
                });
                // Now the open run takes it.
                self.run_line(line)
            }
        }
    }

    /// Seals the open run if it holds [`RUN_BYTES`] or more.
    fn seal_if_full(&mut self) {
        if self
            .run
            .as_ref()
            .is_some_and(|run| run.frames.len() >= RUN_BYTES)
        {
            self.seal_run();
        }
    }

    /// Whether a run is open.
    pub(super) fn run_open(&self) -> bool {
        self.run.is_some()
    }

    /// Whether the open run, if any, is another member's than `conn`.
    pub(super) fn run_of_other(&self, conn: ConnId) -> bool {
        self.run.as_ref().is_some_and(|run| run.sender != conn)
    }

    /// Shows the open run, if any, to its room's local members: one queue
    /// entry each, and its local sender its own lines with their `ack`s.
    pub(super) fn seal_run(&mut self) {
        let Some(run) = self.run.take() else {
            return;
        };
        let Some(channel) = self.rooms.get(&run.key) else {
            return;
        };
        let mut to = Recipients {
            wakes: &mut self.wakes,
            overflowed: &mut self.overflowed,
        };
        let frames = run.frames.freeze();
        to.deliver_run(&channel.local, &frames, run.lines, run.sender);
        if run.sender != RELAYED {
            if let Some(slot) = channel.local.get(&run.sender) {
                deliver_own(&mut to, slot, run.sender, &frames, run.lines, run.after);
            }
        }
    }
}

/// Gives the run's local sender its own lines (`frames`, `lines` of them)
/// with the frames meant for it alone after the lines they follow: one
/// slice of the run per stretch between two of those, no copy.
fn deliver_own(
    to: &mut Recipients<'_>,
    slot: &Slot,
    sender: ConnId,
    frames: &Bytes,
    lines: u32,
    after: Vec<Aside>,
) {
    let (mut at, mut heard) = (0, 0);
    for aside in after {
        if aside.at > at
            && !to.push_run(
                slot,
                sender,
                frames.slice(at..aside.at),
                aside.lines - heard,
            )
        {
            return;
        }
        (at, heard) = (aside.at, aside.lines);
        if !to.push_run(slot, sender, aside.frame, 1) {
            return;
        }
    }
    if at < frames.len() {
        to.push_run(slot, sender, frames.slice(at..), lines - heard);
    }
}
