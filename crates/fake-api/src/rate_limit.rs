//! The organisation's request budget: a sliding 60-second window shared by every key and
//! endpoint, reported through the `anthropic-ratelimit-requests-*` headers.
//!
//! A sliding window (rather than fixed minutes) means a client that obeys the headers can never
//! exceed the budget in any 60-second span, which is what the stats measure.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

const WINDOW: Duration = Duration::from_secs(60);

/// The outcome of charging one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed {
        remaining: u32,
        reset: DateTime<Utc>,
    },
    Limited {
        retry_after_secs: u64,
        reset: DateTime<Utc>,
    },
}

/// Requests charged in the last 60 seconds.
#[derive(Debug)]
pub struct RateLimiter {
    limit: u32,
    charged: VecDeque<Instant>,
}

impl RateLimiter {
    pub fn new(limit: u32) -> Self {
        Self {
            limit,
            charged: VecDeque::new(),
        }
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }

    fn expire(&mut self, now: Instant) {
        while let Some(oldest) = self.charged.front() {
            if now.duration_since(*oldest) >= WINDOW {
                self.charged.pop_front();
            } else {
                break;
            }
        }
    }

    fn wall(instant: Instant, now: Instant, wall_now: DateTime<Utc>) -> DateTime<Utc> {
        let ahead = instant.saturating_duration_since(now);
        wall_now + chrono::Duration::from_std(ahead).unwrap_or_else(|_| chrono::Duration::zero())
    }

    /// Charges one request at `now` (wall time `wall_now`, used for the reset header).
    pub fn charge(&mut self, now: Instant, wall_now: DateTime<Utc>) -> Decision {
        self.expire(now);
        if self.charged.len() as u32 >= self.limit {
            // The oldest charge leaves the window first; that is the earliest retry.
            let free_at = self.charged.front().map_or(now, |oldest| *oldest + WINDOW);
            let wait = free_at.saturating_duration_since(now);
            let retry_after_secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let full_at = self.charged.back().map_or(now, |newest| *newest + WINDOW);
            return Decision::Limited {
                retry_after_secs: retry_after_secs.max(1),
                reset: Self::wall(full_at, now, wall_now),
            };
        }
        self.charged.push_back(now);
        Decision::Allowed {
            remaining: self.limit - self.charged.len() as u32,
            // The full budget is back once the newest charge has left the window.
            reset: Self::wall(now + WINDOW, now, wall_now),
        }
    }

    /// The budget left at `now`, without charging.
    pub fn peek(&mut self, now: Instant, wall_now: DateTime<Utc>) -> (u32, DateTime<Utc>) {
        self.expire(now);
        let remaining = self.limit.saturating_sub(self.charged.len() as u32);
        let full_at = self.charged.back().map_or(now, |newest| *newest + WINDOW);
        (remaining, Self::wall(full_at, now, wall_now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_runs_out_and_refills_as_the_window_slides() {
        let mut limiter = RateLimiter::new(2);
        let t0 = Instant::now();
        let wall = Utc::now();
        assert!(matches!(
            limiter.charge(t0, wall),
            Decision::Allowed { remaining: 1, .. }
        ));
        assert!(matches!(
            limiter.charge(t0 + Duration::from_secs(10), wall),
            Decision::Allowed { remaining: 0, .. }
        ));
        match limiter.charge(t0 + Duration::from_secs(20), wall) {
            Decision::Limited {
                retry_after_secs, ..
            } => assert_eq!(retry_after_secs, 40),
            other => panic!("expected a 429, got {other:?}"),
        }
        assert!(matches!(
            limiter.charge(t0 + Duration::from_secs(61), wall),
            Decision::Allowed { remaining: 0, .. }
        ));
    }
}
