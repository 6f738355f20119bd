//! A token bucket. Pure: the caller passes the time, so tests need no clock.

use std::time::Instant;

use super::config::RateLimit;

/// Allows `burst` actions at once and `per_sec` sustained.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    limit: RateLimit,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(limit: RateLimit, now: Instant) -> Self {
        TokenBucket {
            limit,
            tokens: f64::from(limit.burst),
            last: now,
        }
    }

    /// Takes one token if there is one. Always true when the limit is off.
    pub fn try_take(&mut self, now: Instant) -> bool {
        if self.limit.per_sec <= 0.0 {
            return true;
        }
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.limit.per_sec).min(f64::from(self.limit.burst));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_sustained_rate() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(
            RateLimit {
                per_sec: 10.0,
                burst: 20,
            },
            t0,
        );
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
    }

    #[test]
    fn time_going_backwards_is_harmless() {
        let t1 = Instant::now() + Duration::from_secs(5);
        let mut bucket = TokenBucket::new(
            RateLimit {
                per_sec: 1.0,
                burst: 1,
            },
            t1,
        );
        assert!(bucket.try_take(t1));
        assert!(!bucket.try_take(t1 - Duration::from_secs(1)));
    }
}
