//! The flood limit both ends run: the server enforces it, and a client
//! that was told it in `hello` paces its sends to it, so a paste arrives
//! whole instead of being cut by refusals. Pure: the caller passes the
//! time, so tests need no clock.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Per-client flood limit: a token bucket refilled at `per_sec`, holding at
/// most `burst` tokens. `per_sec == 0` turns the limit off. On the wire it
/// is the server `hello`'s `rate` map (absent when the limit is off).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RateLimit {
    /// Sustained messages per second (0 = unlimited).
    pub per_sec: f64,
    /// How many messages may arrive at once after a quiet spell.
    pub burst: u32,
}

impl RateLimit {
    /// No flood limit: what `--rate-limit 0` sets.
    pub const OFF: RateLimit = RateLimit {
        per_sec: 0.0,
        burst: 1,
    };

    /// Whether the limit is on at all.
    pub fn is_on(&self) -> bool {
        self.per_sec > 0.0
    }
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            per_sec: 10.0,
            burst: 20,
        }
    }
}

/// Allows `burst` actions at once and `per_sec` sustained.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    limit: RateLimit,
    tokens: Tokens,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(limit: RateLimit, now: Instant) -> Self {
        TokenBucket {
            limit,
            tokens: Tokens::full(&limit, now),
        }
    }

    /// Takes one token if there is one. Always true when the limit is off.
    pub fn try_take(&mut self, now: Instant) -> bool {
        self.tokens.try_take(&self.limit, now)
    }

    /// How long from `now` until [`TokenBucket::try_take`] succeeds
    /// (zero if it would now).
    pub fn wait(&mut self, now: Instant) -> Duration {
        self.tokens.wait(&self.limit, now)
    }

    /// Empties the bucket: for a client that was refused anyway, because
    /// its count drifted from the server's.
    pub fn drain(&mut self, now: Instant) {
        self.tokens.drain(&self.limit, now);
    }
}

/// A token bucket's state without its limit, which each call is given:
/// what a server keeps per connection, the limit being the same for all
/// (in its configuration). 24 bytes instead of [`TokenBucket`]'s 40, in
/// every idle connection's task.
#[derive(Debug, Clone)]
pub struct Tokens {
    tokens: f64,
    last: Instant,
}

impl Tokens {
    /// A full bucket under `limit`.
    pub fn full(limit: &RateLimit, now: Instant) -> Self {
        Tokens {
            tokens: f64::from(limit.burst),
            last: now,
        }
    }

    /// As [`TokenBucket::try_take`], under `limit`.
    pub fn try_take(&mut self, limit: &RateLimit, now: Instant) -> bool {
        if !limit.is_on() {
            return true;
        }
        self.refill(limit, now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// As [`TokenBucket::wait`], under `limit`.
    pub fn wait(&mut self, limit: &RateLimit, now: Instant) -> Duration {
        if !limit.is_on() {
            return Duration::ZERO;
        }
        self.refill(limit, now);
        let missing = 1.0 - self.tokens;
        if missing <= 0.0 {
            return Duration::ZERO;
        }
        Duration::from_secs_f64(missing / limit.per_sec)
    }

    /// As [`TokenBucket::drain`], under `limit`.
    pub fn drain(&mut self, limit: &RateLimit, now: Instant) {
        self.refill(limit, now);
        self.tokens = self.tokens.min(0.0);
    }

    fn refill(&mut self, limit: &RateLimit, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.tokens = (self.tokens + elapsed * limit.per_sec).min(f64::from(limit.burst));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEN: RateLimit = RateLimit {
        per_sec: 10.0,
        burst: 20,
    };

    #[test]
    fn burst_then_sustained_rate() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(TEN, t0);
        assert_eq!((0..30).filter(|_| bucket.try_take(t0)).count(), 20);
        // 1 s later: 10 more tokens.
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!((0..30).filter(|_| bucket.try_take(t1)).count(), 10);
        // A long pause refills only up to the burst.
        let t2 = t1 + Duration::from_secs(3600);
        assert_eq!((0..30).filter(|_| bucket.try_take(t2)).count(), 20);
    }

    #[test]
    fn zero_rate_means_unlimited() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(RateLimit::OFF, t0);
        assert!((0..100_000).all(|_| bucket.try_take(t0)));
        assert_eq!(bucket.wait(t0), Duration::ZERO);
    }

    #[test]
    fn time_going_backwards_is_harmless() {
        let t1 = Instant::now() + Duration::from_secs(5);
        let one = RateLimit {
            per_sec: 1.0,
            burst: 1,
        };
        let mut bucket = TokenBucket::new(one, t1);
        assert!(bucket.try_take(t1));
        assert!(!bucket.try_take(t1 - Duration::from_secs(1)));
    }

    /// A pacer that sleeps for `wait` before each send never outruns the
    /// same bucket on the other end: 30 lines at once take 20 at once and
    /// the rest at the sustained rate, and none is refused.
    #[test]
    fn pacing_by_wait_is_never_refused() {
        let t0 = Instant::now();
        let mut pacer = TokenBucket::new(TEN, t0);
        let mut server = TokenBucket::new(TEN, t0);
        let mut now = t0;
        for _ in 0..30 {
            now += pacer.wait(now);
            assert!(pacer.try_take(now));
            assert!(server.try_take(now), "refused at {:?}", now - t0);
        }
        let took = now - t0;
        assert!(
            took >= Duration::from_millis(999) && took <= Duration::from_millis(1001),
            "{took:?}"
        );
    }

    #[test]
    fn a_drained_bucket_waits_for_a_whole_token() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(TEN, t0);
        bucket.drain(t0);
        assert!(!bucket.try_take(t0));
        assert_eq!(bucket.wait(t0), Duration::from_millis(100));
        assert!(bucket.try_take(t0 + Duration::from_millis(100)));
    }
}
