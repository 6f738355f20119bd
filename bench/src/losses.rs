//! Why clients of a benchmark run were lost, counted by cause.
//!
//! A join storm is only a success if nobody was dropped on the way, so the
//! tables say how many clients were evicted as too slow (error 240), saw
//! the connection close without a reason (EOF), were refused a connection
//! (errors 260/261), got no answer in time, or failed otherwise. The causes
//! are read from the error text the load generator's connections report:
//! `error 240 too_slow: …` for a Chatty error frame (the code's `Display`),
//! `the server closed the connection` for EOF.

/// One way a client can be lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// Error 240: the server's queue for it overflowed.
    Evicted,
    /// The connection closed (or was reset) without an error frame.
    Closed,
    /// Errors 260/261: over a connection cap.
    Refused,
    /// No confirmation or answer within the deadline.
    Timeout,
    /// Anything else: connect failures, other error codes, bad frames.
    Other,
}

impl Cause {
    /// The cause of an error text.
    pub fn of(error: &str) -> Cause {
        if error.contains("error 240") || error.contains("too_slow") {
            Cause::Evicted
        } else if error.contains("error 260") || error.contains("error 261") {
            Cause::Refused
        } else if error.contains("closed the connection")
            || error.contains("reset by peer")
            || error.contains("Broken pipe")
        {
            Cause::Closed
        } else if error.contains("within") || error.contains("timed out") {
            Cause::Timeout
        } else {
            Cause::Other
        }
    }
}

/// Lost clients by cause, with the first few error texts as examples.
#[derive(Debug, Clone, Default)]
pub struct Losses {
    pub evicted: usize,
    pub closed: usize,
    pub refused: usize,
    pub timeout: usize,
    pub other: usize,
    pub examples: Vec<String>,
}

/// Error texts kept as examples.
const EXAMPLES: usize = 3;

impl Losses {
    /// Counts one lost client.
    pub fn record(&mut self, error: &str) {
        match Cause::of(error) {
            Cause::Evicted => self.evicted += 1,
            Cause::Closed => self.closed += 1,
            Cause::Refused => self.refused += 1,
            Cause::Timeout => self.timeout += 1,
            Cause::Other => self.other += 1,
        }
        if self.examples.len() < EXAMPLES {
            self.examples.push(error.to_string());
        }
    }

    /// Lost clients in all.
    pub fn total(&self) -> usize {
        self.evicted + self.closed + self.refused + self.timeout + self.other
    }

    /// `none`, or the non-zero counts: `240 too slow: 12, EOF: 3`.
    pub fn summary(&self) -> String {
        let parts: Vec<String> = [
            ("240 too slow", self.evicted),
            ("EOF", self.closed),
            ("refused (260/261)", self.refused),
            ("no answer in time", self.timeout),
            ("other", self.other),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(what, n)| format!("{what}: {n}"))
        .collect();
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(", ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_are_told_apart_by_their_text() {
        assert_eq!(
            Cause::of("error 240 too_slow: you were too slow"),
            Cause::Evicted
        );
        assert_eq!(
            Cause::of("idle7: the server closed the connection"),
            Cause::Closed
        );
        assert_eq!(
            Cause::of("error 260 too_many_connections: full"),
            Cause::Refused
        );
        assert_eq!(
            Cause::of("idle3: no confirmation within 120s"),
            Cause::Timeout
        );
        assert_eq!(
            Cause::of("connecting to 127.0.0.1:1: refused"),
            Cause::Other
        );
    }

    #[test]
    fn the_summary_names_only_what_happened() {
        let mut losses = Losses::default();
        assert_eq!(losses.summary(), "none");
        for _ in 0..4 {
            losses.record("error 240 too_slow: x");
        }
        losses.record("the server closed the connection");
        assert_eq!(losses.total(), 5);
        assert_eq!(losses.summary(), "240 too slow: 4, EOF: 1");
        assert_eq!(losses.examples.len(), EXAMPLES);
    }
}
