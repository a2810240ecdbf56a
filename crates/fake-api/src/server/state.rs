//! Shared state of a running fake: the generated organisation, the clock, faults, limiter,
//! accepted keys, stats and the cursor codec, with lock helpers that survive a poisoned lock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use chrono::{DateTime, Duration, Utc};

use crate::clock::FakeClock;
use crate::config::{ApiKeySpec, FakeConfig};
use crate::cursor::CursorCodec;
use crate::dataset::Dataset;
use crate::faults::FaultState;
use crate::random::{derive, tagged_id, Stream};
use crate::rate_limit::RateLimiter;
use crate::stats::StatsRecorder;

/// Shared state of a running fake.
#[derive(Debug)]
pub struct AppState {
    pub dataset: RwLock<Dataset>,
    pub clock: FakeClock,
    pub faults: Mutex<FaultState>,
    pub limiter: Option<Mutex<RateLimiter>>,
    pub keys: Vec<ApiKeySpec>,
    pub stats: Mutex<StatsRecorder>,
    pub(super) codec: CursorCodec,
    requests: AtomicU64,
    seed: u64,
}

// Poisoning only means a handler panicked while holding the lock; the fake's data stays
// usable, and a test double must keep answering rather than cascade the panic.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

// Label of the stream request ids are drawn from ("request" in ASCII).
const REQUEST_ID_STREAM: u64 = 0x0072_6571_7565_7374;

impl AppState {
    /// Generates the organisation and sets up the clock, keys, limiter and faults.
    pub fn new(config: &FakeConfig) -> Self {
        let real_now = Utc::now();
        let dataset = Dataset::generate(config.generator(real_now));
        let clock = if config.live {
            FakeClock::live()
        } else {
            FakeClock::fixed(dataset.history_end())
        };
        Self {
            dataset: RwLock::new(dataset),
            clock,
            faults: Mutex::new(FaultState::new(config.faults.clone())),
            limiter: config
                .rate_limit
                .map(|limit| Mutex::new(RateLimiter::new(limit))),
            keys: config.accepted_keys(),
            stats: Mutex::new(StatsRecorder::default()),
            codec: CursorCodec::new(config.seed),
            requests: AtomicU64::new(0),
            seed: config.seed,
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// In live mode, generates the days the clock has reached (plus one ahead).
    pub fn refresh(&self) {
        if !self.clock.is_live() {
            return;
        }
        let until = self.now() + Duration::days(1);
        let covered = {
            let data = read(&self.dataset);
            data.config().start + Duration::days(i64::from(data.generated_days())) > until
        };
        if !covered {
            write(&self.dataset).extend_through(until);
        }
    }

    pub(super) fn next_request_id(&self) -> String {
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        let mut stream = Stream::new(derive(self.seed, &[REQUEST_ID_STREAM]), &[n]);
        tagged_id("req_", &mut stream)
    }
}
