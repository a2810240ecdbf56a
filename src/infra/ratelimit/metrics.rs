//! Counters of rate-limit acquires, waits and holds, shared by gates and read by the
//! application (Prometheus, per-job counters).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::BlockReason;

/// Atomic counters a gate records into. A child ([`RateLimitMetrics::child_of`]) also records
/// into its parent, so a job can count its own waits while the process keeps the totals.
#[derive(Debug, Default)]
pub struct RateLimitMetrics {
    acquires: AtomicU64,
    waits: AtomicU64,
    wait_micros: AtomicU64,
    blocks_after_429: AtomicU64,
    blocks_at_reset: AtomicU64,
    redis_fallbacks: AtomicU64,
    redis_pauses: AtomicU64,
    parent: Option<Arc<RateLimitMetrics>>,
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimitSnapshot {
    /// Completed `acquire` calls: one per HTTP attempt, retries included.
    pub acquires: u64,
    /// Of those, how many had to wait.
    pub waits: u64,
    /// Total time spent waiting in `acquire`, in milliseconds.
    pub wait_millis: u64,
    /// 429 responses that put a hold on the organisation.
    pub blocks_after_429: u64,
    /// Responses with `remaining: 0` that held the organisation until `reset`.
    pub blocks_at_reset: u64,
    /// Acquires served by the process's share of the budget because Redis was unreachable.
    pub redis_fallbacks: u64,
    /// Pauses until Redis answers again, Redis being unreachable and the number of live
    /// processes to split the budget by unknown.
    pub redis_pauses: u64,
}

impl RateLimitMetrics {
    /// Counters that also add up in `parent`.
    pub fn child_of(parent: Arc<RateLimitMetrics>) -> Self {
        Self {
            parent: Some(parent),
            ..Self::default()
        }
    }

    pub fn snapshot(&self) -> RateLimitSnapshot {
        RateLimitSnapshot {
            acquires: self.acquires.load(Ordering::Relaxed),
            waits: self.waits.load(Ordering::Relaxed),
            wait_millis: self.wait_micros.load(Ordering::Relaxed) / 1000,
            blocks_after_429: self.blocks_after_429.load(Ordering::Relaxed),
            blocks_at_reset: self.blocks_at_reset.load(Ordering::Relaxed),
            redis_fallbacks: self.redis_fallbacks.load(Ordering::Relaxed),
            redis_pauses: self.redis_pauses.load(Ordering::Relaxed),
        }
    }

    pub(super) fn record_acquire(&self, waited: Duration) {
        let micros = u64::try_from(waited.as_micros()).unwrap_or(u64::MAX);
        self.each(|metrics| {
            metrics.acquires.fetch_add(1, Ordering::Relaxed);
            if micros > 0 {
                metrics.waits.fetch_add(1, Ordering::Relaxed);
                metrics.wait_micros.fetch_add(micros, Ordering::Relaxed);
            }
        });
    }

    pub(super) fn record_block(&self, reason: BlockReason) {
        self.each(|metrics| {
            let counter = match reason {
                BlockReason::RateLimited => &metrics.blocks_after_429,
                BlockReason::BudgetExhausted => &metrics.blocks_at_reset,
            };
            counter.fetch_add(1, Ordering::Relaxed);
        });
    }

    pub(super) fn record_fallback(&self) {
        self.each(|metrics| {
            metrics.redis_fallbacks.fetch_add(1, Ordering::Relaxed);
        });
    }

    pub(super) fn record_pause(&self) {
        self.each(|metrics| {
            metrics.redis_pauses.fetch_add(1, Ordering::Relaxed);
        });
    }

    fn each(&self, record: impl Fn(&RateLimitMetrics)) {
        let mut current = Some(self);
        while let Some(metrics) = current {
            record(metrics);
            current = metrics.parent.as_deref();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_counts_its_own_waits_and_adds_them_to_its_parent() {
        let process = Arc::new(RateLimitMetrics::default());
        let job = RateLimitMetrics::child_of(Arc::clone(&process));
        let other_job = RateLimitMetrics::child_of(Arc::clone(&process));

        job.record_acquire(Duration::from_millis(1500));
        job.record_acquire(Duration::ZERO);
        job.record_block(BlockReason::RateLimited);
        other_job.record_acquire(Duration::from_millis(250));
        other_job.record_block(BlockReason::BudgetExhausted);
        other_job.record_fallback();
        other_job.record_pause();

        assert_eq!(
            job.snapshot(),
            RateLimitSnapshot {
                acquires: 2,
                waits: 1,
                wait_millis: 1500,
                blocks_after_429: 1,
                blocks_at_reset: 0,
                redis_fallbacks: 0,
                redis_pauses: 0,
            }
        );
        assert_eq!(
            process.snapshot(),
            RateLimitSnapshot {
                acquires: 3,
                waits: 2,
                wait_millis: 1750,
                blocks_after_429: 1,
                blocks_at_reset: 1,
                redis_fallbacks: 1,
                redis_pauses: 1,
            }
        );
    }
}
