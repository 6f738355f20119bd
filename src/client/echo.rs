//! The user's own lines, on screen exactly once.
//!
//! The line editor erases a line when Enter is pressed; what stays on
//! screen is the server's copy of the message, the echo. After a failover
//! the client sends again lines whose echo it may or may not have shown,
//! so it must tell, for each own `message`, whether it is the echo of a
//! line already on screen. The server makes that exact: a line's `ack`
//! comes right after its echo, with the same id, and nothing comes between
//! them. So an own message that may be an echo is held until the next
//! frame: if that is its `ack`, the line it names says whether it is on
//! screen already; if anything else comes, the message was not an echo
//! and is printed before it. The same holds for private messages, whose
//! echo is the sender's copy of the `private` frame.

use std::time::Instant;

use super::outbox::Outbox;
use super::seen::SeenIds;
use crate::protocol::MessageId;

/// An own message held until the next frame says whether it is an echo.
#[derive(Debug, Default)]
pub struct OwnEcho {
    held: Option<Held>,
}

#[derive(Debug)]
struct Held {
    id: MessageId,
    /// The text, to tell which line it echoes.
    text: String,
    /// The line to print for it.
    line: String,
}

impl OwnEcho {
    /// A fresh `message` (or `private`) from the user, with this id and
    /// text, shown as `line`. Returns the line to print now, or `None` if
    /// it is held: only while a line waits for its `ack` can the next frame
    /// be one.
    pub fn message(
        &mut self,
        id: MessageId,
        text: String,
        line: String,
        outbox: &Outbox,
    ) -> Option<String> {
        if outbox.awaiting_ack() {
            self.held = Some(Held { id, text, line });
            return None;
        }
        Some(line)
    }

    /// Whether `id` is the held message's: the next frame is its `ack`.
    pub fn holds(&self, id: MessageId) -> bool {
        self.held.as_ref().is_some_and(|held| held.id == id)
    }

    /// A frame other than the held message's `ack` arrived, or the
    /// connection ended: the held line, to print now. If it was the echo of
    /// the oldest line in flight whose ack was cut off, that line is on
    /// screen from now on.
    pub fn release(&mut self, outbox: &mut Outbox) -> Option<String> {
        let held = self.held.take()?;
        if let Some(line) = outbox.first_in_flight() {
            if line.text == held.text {
                line.shown = true;
            }
        }
        Some(held.line)
    }

    /// `ack {cid, id}` arrived at `now`. Returns the line to print, if any:
    /// the held echo, unless its line was on screen already (a line sent
    /// again after failover that a survivor had not heard); or, for a line
    /// acknowledged with an id never shown, the line itself as said by
    /// `me` — its echo was lost with the server that numbered it.
    pub fn ack(
        &mut self,
        cid: u64,
        id: MessageId,
        now: Instant,
        outbox: &mut Outbox,
        seen: &SeenIds,
        me: &str,
    ) -> Option<String> {
        let held = self.held.take_if(|held| held.id == id).map(|h| h.line);
        let Some(line) = outbox.acked(cid, now) else {
            return held;
        };
        let print = match held {
            Some(text) => (!line.shown).then_some(text),
            None => (!line.shown && !seen.has_seen(&line.scope(), id)).then(|| line.echo(me)),
        };
        line.shown = true;
        print
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::outbox::Target;
    use crate::client::seen::Scope;
    use crate::protocol::ServerId;

    fn id(seq: u64) -> MessageId {
        MessageId {
            origin: ServerId::from_bytes([1; 16]),
            seq,
        }
    }

    /// The line Leo's `text` in `#lobby` is shown as.
    fn shown(text: &str) -> Option<String> {
        Some(format!("[Leo] {text}"))
    }

    /// `message` for Leo's `text` in `#lobby`.
    fn own(echo: &mut OwnEcho, seq: u64, text: &str, outbox: &Outbox) -> Option<String> {
        echo.message(id(seq), text.into(), shown(text).unwrap(), outbox)
    }

    /// An outbox holding "a" (cid 1) and "b" (cid 2), both in flight.
    fn two_in_flight() -> Outbox {
        let mut outbox = Outbox::starting_at(1);
        for text in ["a", "b"] {
            outbox.push(Target::Room("#lobby".into()), false, text.into());
        }
        outbox.send_next(true);
        outbox.send_next(true);
        outbox
    }

    #[test]
    fn an_echo_followed_by_its_ack_is_printed_once() {
        let (mut echo, mut outbox, now) = (OwnEcho::default(), two_in_flight(), Instant::now());
        let seen = SeenIds::default();
        assert_eq!(own(&mut echo, 5, "a", &outbox), None);
        assert!(echo.holds(id(5)));
        assert_eq!(
            echo.ack(1, id(5), now, &mut outbox, &seen, "Leo"),
            shown("a")
        );
        // After a failover "a" goes again; a survivor that never heard it
        // numbers it anew and echoes it: not printed a second time.
        outbox.resend_all();
        outbox.send_next(true);
        assert_eq!(own(&mut echo, 9, "a", &outbox), None);
        assert_eq!(echo.ack(1, id(9), now, &mut outbox, &seen, "Leo"), None);
    }

    #[test]
    fn a_message_not_followed_by_its_ack_is_printed_before_the_next_frame() {
        let (mut echo, mut outbox) = (OwnEcho::default(), two_in_flight());
        // A replayed message of ours, then someone else's.
        assert_eq!(own(&mut echo, 3, "old", &outbox), None);
        assert_eq!(echo.release(&mut outbox), shown("old"));
        assert_eq!(echo.release(&mut outbox), None);
        assert!(!outbox.get_mut(1).unwrap().shown, "not the echo of \"a\"");
        // With nothing in flight no ack can follow: printed at once.
        let mut idle = Outbox::starting_at(1);
        assert_eq!(own(&mut echo, 4, "x", &idle), shown("x"));
        assert_eq!(echo.release(&mut idle), None);
    }

    #[test]
    fn an_echo_cut_off_from_its_ack_marks_its_line_on_screen() {
        let (mut echo, mut outbox) = (OwnEcho::default(), two_in_flight());
        own(&mut echo, 5, "a", &outbox);
        // The connection ends before the ack.
        assert_eq!(echo.release(&mut outbox), shown("a"));
        assert!(outbox.get_mut(1).unwrap().shown);
    }

    #[test]
    fn an_ack_with_an_id_never_shown_prints_the_line() {
        let (mut echo, mut outbox, now) = (OwnEcho::default(), two_in_flight(), Instant::now());
        let mut seen = SeenIds::default();
        // "a" was echoed under id 5 before the failover: its resend is
        // acknowledged with that id and nothing is printed.
        seen.fresh(&Scope::room("#lobby"), id(5));
        assert_eq!(echo.ack(1, id(5), now, &mut outbox, &seen, "Leo"), None);
        // "b" was numbered 6 but its echo was lost with the server.
        assert_eq!(
            echo.ack(2, id(6), now, &mut outbox, &seen, "Leo"),
            shown("b")
        );
    }

    #[test]
    fn a_private_line_lost_with_its_echo_is_printed_as_sent() {
        let (mut echo, now) = (OwnEcho::default(), Instant::now());
        let mut outbox = Outbox::starting_at(1);
        outbox.push(Target::Member("Ann".into()), false, "psst".into());
        outbox.send_next(true);
        let mut seen = SeenIds::default();
        // Id 5 was shown in the lobby: a private with that id was not.
        seen.fresh(&Scope::room("#lobby"), id(5));
        assert_eq!(
            echo.ack(1, id(5), now, &mut outbox, &seen, "Leo"),
            Some("[PM to Ann] psst".into())
        );
    }
}
