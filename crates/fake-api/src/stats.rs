//! Counts of the requests the fake served, so tests can assert how a client behaved: statuses
//! seen, injected faults, and the busiest 60 seconds (to check the rate budget was respected).

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use serde::Serialize;

/// A snapshot of the counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Requests to `/v1/...`.
    pub requests: u64,
    /// Responses by status code.
    pub by_status: BTreeMap<u16, u64>,
    /// Responses whose status or body came from an injected fault.
    pub injected_faults: u64,
    /// The most `/v1/...` requests received in any 60-second span.
    pub max_requests_in_60s: u64,
    /// The most requests charged against the rate budget in any 60-second span.
    pub max_charged_in_60s: u64,
}

/// Live counters behind the snapshot.
#[derive(Debug, Default)]
pub struct StatsRecorder {
    stats: Stats,
    received: VecDeque<Instant>,
    charged: VecDeque<Instant>,
}

fn slide(log: &mut VecDeque<Instant>, now: Instant) -> u64 {
    log.push_back(now);
    while let Some(oldest) = log.front() {
        if now.duration_since(*oldest) >= Duration::from_secs(60) {
            log.pop_front();
        } else {
            break;
        }
    }
    log.len() as u64
}

impl StatsRecorder {
    pub fn received(&mut self, now: Instant) {
        self.stats.requests += 1;
        let in_window = slide(&mut self.received, now);
        self.stats.max_requests_in_60s = self.stats.max_requests_in_60s.max(in_window);
    }

    pub fn charged(&mut self, now: Instant) {
        let in_window = slide(&mut self.charged, now);
        self.stats.max_charged_in_60s = self.stats.max_charged_in_60s.max(in_window);
    }

    pub fn responded(&mut self, status: u16, injected: bool) {
        *self.stats.by_status.entry(status).or_insert(0) += 1;
        if injected {
            self.stats.injected_faults += 1;
        }
    }

    pub fn snapshot(&self) -> Stats {
        self.stats.clone()
    }

    pub fn reset(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_busiest_minute_is_tracked_across_a_sliding_window() {
        let mut recorder = StatsRecorder::default();
        let t0 = Instant::now();
        for second in [0u64, 10, 20, 70, 71] {
            recorder.received(t0 + Duration::from_secs(second));
        }
        recorder.responded(200, false);
        recorder.responded(429, true);
        let stats = recorder.snapshot();
        assert_eq!(stats.requests, 5);
        // Both 0-10-20 and 20-70-71 fit in a 60 s span; no span holds four.
        assert_eq!(stats.max_requests_in_60s, 3);
        assert_eq!(stats.by_status.get(&429), Some(&1));
        assert_eq!(stats.injected_faults, 1);
    }
}
