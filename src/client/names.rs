//! The name the terminal client holds, and what a name error means while
//! nick changes are on their way. Pure, so it is unit-tested.
//!
//! Error 211 (`name_taken`) without a cid means one of three things: our
//! `/nick` was refused (we keep our name); the server turned a nick change
//! back because another server's same-moment claim won (it sent
//! `nick {new → old}` first; we hold the old name again); or our name
//! itself was taken back and we are out of the chat until we join again.
//! Answers come in the order requests were sent, so counting the nick
//! requests in flight, and the turn-backs, tells them apart.

use crate::protocol::validate::name_key;
use crate::protocol::ErrorCode;

/// The name held and the nick changes not yet answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    me: String,
    /// `nick` requests sent on this connection and not answered yet.
    asked: usize,
    /// Turn-backs seen whose 211 notice has not come yet.
    turned_back: usize,
}

/// What an error without a cid is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameError {
    /// A `/nick` was refused, or a nick change turned back: the name held
    /// stays. Show the error, nothing more.
    Nick,
    /// Not about a nick change: handle it as before rooms (for 211, the
    /// name was taken back).
    Other,
}

impl Names {
    /// Holding `me`.
    pub fn new(me: String) -> Names {
        Names {
            me,
            asked: 0,
            turned_back: 0,
        }
    }

    /// The name held.
    pub fn me(&self) -> &str {
        &self.me
    }

    /// Whether `name` is the name held (as the server compares names).
    pub fn is_me(&self, name: &str) -> bool {
        name == self.me || name_key(name) == name_key(&self.me)
    }

    /// A new connection (or join) holds `name`; nothing is in flight.
    pub fn hold(&mut self, name: String) {
        *self = Names::new(name);
    }

    /// A `nick` request was sent.
    pub fn asked(&mut self) {
        self.asked += 1;
    }

    /// A `nick {old, new}` frame arrived. If it is about us, we hold `new`
    /// from now on; returns whether it was.
    pub fn nick(&mut self, old: &str, new: &str) -> bool {
        if !self.is_me(old) {
            return false;
        }
        if self.asked > 0 {
            self.asked -= 1;
        } else {
            // Not an answer: a change of ours turned back; its 211 follows.
            self.turned_back += 1;
        }
        self.me = new.to_string();
        true
    }

    /// An error without a cid arrived: whether it is about a nick change.
    /// A turn-back's notice is 211; a refused `nick` is 210, 211 or 230.
    pub fn error(&mut self, code: ErrorCode) -> NameError {
        if code == ErrorCode::NAME_TAKEN && self.turned_back > 0 {
            self.turned_back -= 1;
            NameError::Nick
        } else if self.asked > 0
            && [
                ErrorCode::NAME_TAKEN,
                ErrorCode::NAME_INVALID,
                ErrorCode::RATE_LIMITED,
            ]
            .contains(&code)
        {
            self.asked -= 1;
            NameError::Nick
        } else {
            NameError::Other
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAKEN: ErrorCode = ErrorCode::NAME_TAKEN;

    #[test]
    fn an_answered_nick_changes_the_name_held() {
        let mut names = Names::new("Leo".into());
        names.asked();
        assert!(!names.nick("Ann", "Annie"), "someone else's");
        assert!(names.nick("Leo", "Leonardo"));
        assert_eq!(names.me(), "Leonardo");
        assert!(names.is_me("LEONARDO"));
        assert_eq!(names.error(TAKEN), NameError::Other, "nothing in flight");
    }

    #[test]
    fn a_refused_nick_is_not_a_lost_name() {
        let mut names = Names::new("Leo".into());
        names.asked();
        names.asked();
        names.asked();
        assert_eq!(names.error(TAKEN), NameError::Nick);
        assert_eq!(names.error(ErrorCode::RATE_LIMITED), NameError::Nick);
        assert_eq!(names.error(ErrorCode::NOT_IN_ROOM), NameError::Other);
        assert!(names.nick("Leo", "Lion"));
        assert_eq!(names.error(TAKEN), NameError::Other);
        assert_eq!(names.me(), "Lion");
    }

    #[test]
    fn a_turned_back_nick_is_followed_by_its_notice() {
        let mut names = Names::new("Leo".into());
        names.asked();
        assert!(names.nick("Leo", "Max"));
        // Another server's claim on Max won: back to Leo, then 211.
        assert!(names.nick("Max", "Leo"));
        assert_eq!(names.me(), "Leo");
        assert_eq!(names.error(ErrorCode::RATE_LIMITED), NameError::Other);
        assert_eq!(names.error(TAKEN), NameError::Nick);
        // Our name itself taken back later: that 211 is the old meaning.
        assert_eq!(names.error(TAKEN), NameError::Other);
    }

    #[test]
    fn a_new_connection_starts_afresh() {
        let mut names = Names::new("Leo".into());
        names.asked();
        names.hold("Leo".into());
        assert_eq!(names.error(TAKEN), NameError::Other);
    }
}
