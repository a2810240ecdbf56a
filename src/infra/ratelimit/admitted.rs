//! The requests a limiter admitted, per organisation and per minute, for the Operations
//! overview's rate-budget chart: counted in Redis by the fleet's admit script, or in memory by
//! the process's own limiter, and read back for the last minutes.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};

use super::{LocalRateLimiter, RateLimitError, RedisRateLimiter};

/// How long the counts of a minute are kept: two hours, in seconds (the counters' `EXPIRE`).
pub const ADMITTED_KEEP_SECONDS: u32 = 2 * 60 * 60;
const KEEP_MINUTES: i64 = ADMITTED_KEEP_SECONDS as i64 / 60;

/// The minute `at` lies in, counted from the Unix epoch.
pub fn minute_of(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(60)
}

/// One organisation's admitted requests per minute in this process, for the last two hours.
#[derive(Debug, Default)]
pub(super) struct MinuteCounts {
    /// `(minute, requests)`, oldest first, one entry per minute with a request.
    counts: Mutex<VecDeque<(i64, u64)>>,
}

impl MinuteCounts {
    /// Counts one request admitted in `minute`.
    pub(super) fn record(&self, minute: i64) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        match counts.back_mut() {
            Some((last, count)) if *last == minute => *count += 1,
            _ => counts.push_back((minute, 1)),
        }
        while counts
            .front()
            .is_some_and(|(first, _)| *first <= minute - KEEP_MINUTES)
        {
            counts.pop_front();
        }
    }

    /// The requests of each of the `minutes` minutes up to and including `last`, oldest first.
    pub(super) fn read(&self, last: i64, minutes: u32) -> Vec<u64> {
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let first = last - i64::from(minutes.max(1)) + 1;
        let mut out = vec![0; minutes.max(1) as usize];
        for (minute, count) in counts.iter() {
            if (first..=last).contains(minute) {
                out[(minute - first) as usize] += count;
            }
        }
        out
    }
}

/// Where the requests admitted per minute are read: Redis for the fleet, or the process's
/// own limiter on the in-process queue.
#[derive(Clone, Debug)]
pub enum AdmittedLog {
    Fleet(RedisRateLimiter),
    Local(LocalRateLimiter),
}

impl AdmittedLog {
    /// The requests admitted for `org` in each of the `minutes` minutes up to the one holding
    /// `now`, oldest first.
    pub async fn per_minute(
        &self,
        org: &str,
        now: DateTime<Utc>,
        minutes: u32,
    ) -> Result<Vec<u64>, RateLimitError> {
        match self {
            Self::Fleet(limiter) => limiter.admitted_per_minute(org, now, minutes).await,
            Self::Local(limiter) => Ok(limiter.admitted_per_minute(org, now, minutes)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minute_counts_add_up_per_minute_and_forget_what_is_older_than_two_hours() {
        let counts = MinuteCounts::default();
        for minute in [10, 10, 11, 13, 13, 13] {
            counts.record(minute);
        }
        assert_eq!(counts.read(13, 4), vec![2, 1, 0, 3]);
        assert_eq!(counts.read(13, 1), vec![3]);
        counts.record(13 + KEEP_MINUTES);
        assert_eq!(counts.read(13, 4), vec![0, 0, 0, 0], "older than two hours");
        assert_eq!(counts.read(13 + KEEP_MINUTES, 1), vec![1]);
    }
}
