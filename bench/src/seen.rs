//! Which of a sender's counters a receiver has seen, to count duplicates
//! and reordering without keeping every message.

/// The counters seen from one sender, one bit each.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    words: Vec<u64>,
    highest: Option<u64>,
}

/// What one arrival was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// Its first arrival, after everything lower than it.
    InOrder,
    /// Its first arrival, after a higher counter.
    Reordered,
    /// Seen before.
    Duplicate,
}

impl Seen {
    /// Whether `counter` has been recorded.
    pub fn contains(&self, counter: u64) -> bool {
        let (word, bit) = ((counter / 64) as usize, 1u64 << (counter % 64));
        self.words.get(word).is_some_and(|w| w & bit != 0)
    }

    /// Records `counter`.
    pub fn record(&mut self, counter: u64) -> Arrival {
        let (word, bit) = ((counter / 64) as usize, 1u64 << (counter % 64));
        if word >= self.words.len() {
            self.words.resize(word + 1, 0);
        }
        if self.words[word] & bit != 0 {
            return Arrival::Duplicate;
        }
        self.words[word] |= bit;
        let reordered = self.highest.is_some_and(|h| counter < h);
        self.highest = self.highest.max(Some(counter));
        if reordered {
            Arrival::Reordered
        } else {
            Arrival::InOrder
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_and_late_arrivals_are_told_apart() {
        let mut seen = Seen::default();
        assert_eq!(seen.record(0), Arrival::InOrder);
        assert_eq!(seen.record(200), Arrival::InOrder);
        assert_eq!(seen.record(5), Arrival::Reordered);
        assert_eq!(seen.record(200), Arrival::Duplicate);
        assert!(seen.contains(5) && seen.contains(200) && !seen.contains(6));
        assert!(!seen.contains(100_000), "beyond anything recorded");
    }
}
