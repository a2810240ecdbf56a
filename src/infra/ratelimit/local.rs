//! The in-process rate limiter: a sliding-window log per organisation for the embedded mode
//! (no Redis), also used by the Redis limiter as its fallback when Redis is unreachable.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use tokio::time::Instant;

use super::admitted::{minute_of, MinuteCounts};
use super::metrics::RateLimitMetrics;
use super::{block_for, check_org, Priority, RateLimit, RateLimitError};
use logwarden_compliance::{RequestGate, ResponseMeta};

/// What a budget says to a request that wants to start now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Admitted,
    Wait(Duration),
}

/// Request starts of the last window and the end of any hold, for one organisation.
#[derive(Debug, Default)]
struct Window {
    starts: VecDeque<Instant>,
    blocked_until: Option<Instant>,
    /// Starts admitted by this process's share while Redis could not be asked, not yet added
    /// to the fleet's log.
    unshared: Vec<Instant>,
}

impl Window {
    /// Admits a start if fewer than `ceiling` (at most the rate's limit) lie in the window.
    fn admit(&mut self, now: Instant, rate: RateLimit, ceiling: usize) -> Decision {
        if let Some(wait) = self.blocked_for(now) {
            return Decision::Wait(wait);
        }
        self.forget_older_than_window(now, rate);
        let ceiling = ceiling.clamp(1, rate.limit_len());
        if self.starts.len() < ceiling {
            self.starts.push_back(now);
            return Decision::Admitted;
        }
        // Below the ceiling once the start `len - ceiling` from the oldest leaves the window,
        // exactly a window after it happened.
        match self.starts.get(self.starts.len() - ceiling) {
            Some(start) => Decision::Wait((*start + rate.log_window()).duration_since(now)),
            None => Decision::Admitted,
        }
    }

    fn blocked_for(&mut self, now: Instant) -> Option<Duration> {
        match self.blocked_until {
            Some(until) if until > now => Some(until - now),
            Some(_) => {
                self.blocked_until = None;
                None
            }
            None => None,
        }
    }

    /// Logs a start admitted elsewhere (by Redis), so that a fallback to this budget knows
    /// what this process already spent.
    fn record(&mut self, now: Instant, rate: RateLimit) {
        self.forget_older_than_window(now, rate);
        while self.starts.len() >= rate.limit_len() {
            self.starts.pop_front();
        }
        self.starts.push_back(now);
    }

    fn block_until(&mut self, until: Instant) {
        if self.blocked_until.is_none_or(|current| current < until) {
            self.blocked_until = Some(until);
        }
    }

    fn forget_older_than_window(&mut self, now: Instant, rate: RateLimit) {
        while let Some(oldest) = self.starts.front() {
            if now.duration_since(*oldest) < rate.log_window() {
                break;
            }
            self.starts.pop_front();
        }
    }
}

/// One organisation's budget in this process.
pub(super) struct LocalBudget {
    rate: RateLimit,
    /// Percent of the budget backfill requests may not take while a sync request waits.
    sync_reserved_percent: u32,
    /// Held by the task whose request is next in its priority, for the whole of its wait:
    /// waiters of one priority are served in order and only one of them polls the budget (or
    /// Redis) at a time, while a sync request never queues behind backfill requests.
    sync_turn: tokio::sync::Mutex<()>,
    backfill_turn: tokio::sync::Mutex<()>,
    /// Sync requests of this process waiting for the budget right now.
    syncs_waiting: AtomicU64,
    window: Mutex<Window>,
    /// Odd while the holder of the turn sleeps; bumped at the start and end of every sleep.
    sleep_epoch: AtomicU64,
    /// Requests [`LocalRateLimiter`] admitted, per minute.
    admitted: MinuteCounts,
}

/// Proof that the holder is the next request of its budget.
pub(super) struct Turn<'a> {
    _guard: tokio::sync::MutexGuard<'a, ()>,
    priority: Priority,
}

/// Ends a sleep's epoch even when the sleeping future is dropped.
struct Sleeping<'a>(&'a AtomicU64);

impl Drop for Sleeping<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Counts a sync request as waiting for as long as it lives.
struct SyncWaiting<'a>(&'a AtomicU64);

impl Drop for SyncWaiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl LocalBudget {
    fn new(rate: RateLimit, sync_reserved_percent: u32) -> Self {
        Self {
            rate,
            sync_reserved_percent,
            sync_turn: tokio::sync::Mutex::new(()),
            backfill_turn: tokio::sync::Mutex::new(()),
            syncs_waiting: AtomicU64::new(0),
            window: Mutex::new(Window::default()),
            sleep_epoch: AtomicU64::new(0),
            admitted: MinuteCounts::default(),
        }
    }

    /// Queues for the turn; returns it and how much of the time spent queueing was spent
    /// behind a request that was waiting for the budget (behind one that was only talking to
    /// Redis, queueing is not a rate-limit wait).
    pub(super) async fn take_turn(&self, priority: Priority) -> (Turn<'_>, Duration) {
        let arrived = Instant::now();
        let epoch = self.sleep_epoch.load(Ordering::SeqCst);
        let guard = match priority {
            Priority::Sync => self.sync_turn.lock().await,
            Priority::Backfill => self.backfill_turn.lock().await,
        };
        let queued_behind_a_wait =
            epoch % 2 == 1 || self.sleep_epoch.load(Ordering::SeqCst) != epoch;
        let waited = if queued_behind_a_wait {
            arrived.elapsed()
        } else {
            Duration::ZERO
        };
        (
            Turn {
                _guard: guard,
                priority,
            },
            waited,
        )
    }

    /// Sleeps for `wait` as the holder of the turn; returns the time actually slept.
    pub(super) async fn sleep(&self, _turn: &Turn<'_>, wait: Duration) -> Duration {
        self.sleep_epoch.fetch_add(1, Ordering::SeqCst);
        let _sleeping = Sleeping(&self.sleep_epoch);
        let started = Instant::now();
        // A zero wait would spin; windows and holds are never finer than a millisecond.
        tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
        started.elapsed()
    }

    /// Waits until a request may start, logs it, and returns how long it waited and when
    /// it started.
    pub(super) async fn wait_for_slot(&self, turn: &Turn<'_>) -> (Duration, Instant) {
        self.wait_for_slot_within(turn, self.rate).await
    }

    /// [`Self::wait_for_slot`] under `rate` instead of the whole budget: this process's share
    /// of it while the rest of the fleet cannot be asked.
    pub(super) async fn wait_for_slot_within(
        &self,
        turn: &Turn<'_>,
        rate: RateLimit,
    ) -> (Duration, Instant) {
        loop {
            if let (waited, Some(at)) = self.wait_for_slot_until(turn, rate, None).await {
                return (waited, at);
            }
        }
    }

    /// [`Self::wait_for_slot_within`] that gives up at `deadline` (when Redis is due to be
    /// asked again, which may admit sooner than the share): returns how long it waited, and
    /// when the request started if it did.
    pub(super) async fn wait_for_slot_until(
        &self,
        turn: &Turn<'_>,
        rate: RateLimit,
        deadline: Option<Instant>,
    ) -> (Duration, Option<Instant>) {
        let mut waited = Duration::ZERO;
        let _waiting = (turn.priority == Priority::Sync).then(|| {
            self.syncs_waiting.fetch_add(1, Ordering::SeqCst);
            SyncWaiting(&self.syncs_waiting)
        });
        loop {
            let now = Instant::now();
            let ceiling = match turn.priority {
                Priority::Sync => rate.limit_len(),
                Priority::Backfill if self.syncs_waiting.load(Ordering::SeqCst) > 0 => {
                    rate.limit_len() - rate.reserved_len(self.sync_reserved_percent)
                }
                Priority::Backfill => rate.limit_len(),
            };
            let decision = self.window().admit(now, rate, ceiling);
            match (decision, deadline) {
                (Decision::Admitted, _) => return (waited, Some(now)),
                (Decision::Wait(wait), Some(deadline)) if now + wait > deadline => {
                    waited += self
                        .sleep(turn, deadline.saturating_duration_since(now))
                        .await;
                    return (waited, None);
                }
                (Decision::Wait(wait), _) => waited += self.sleep(turn, wait).await,
            }
        }
    }

    /// How long the organisation is still held, if it is.
    pub(super) fn blocked_for(&self, now: Instant) -> Option<Duration> {
        self.window().blocked_for(now)
    }

    pub(super) fn block(&self, wait: Duration, now: Instant) {
        self.window().block_until(now + wait);
    }

    pub(super) fn record_start(&self, now: Instant) {
        self.window().record(now, self.rate);
    }

    /// Notes a start admitted without Redis, for the fleet's log once Redis answers again.
    pub(super) fn record_unshared(&self, at: Instant) {
        self.window().unshared.push(at);
    }

    /// Takes the starts admitted without Redis that still lie in the window, as their ages.
    pub(super) fn take_unshared(&self, now: Instant) -> Vec<Duration> {
        let window = self.rate.log_window();
        std::mem::take(&mut self.window().unshared)
            .into_iter()
            .map(|at| now.saturating_duration_since(at))
            .filter(|age| *age < window)
            .collect()
    }

    /// Gives back starts [`Self::take_unshared`] took when Redis did not get them after all.
    pub(super) fn return_unshared(&self, now: Instant, ages: &[Duration]) {
        let mut window = self.window();
        window
            .unshared
            .extend(ages.iter().filter_map(|age| now.checked_sub(*age)));
    }

    fn window(&self) -> MutexGuard<'_, Window> {
        // The window is consistent after every statement, so a panic elsewhere leaves it usable.
        self.window.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The budgets of a process, one per organisation, so every gate made for an organisation
/// draws on the same one.
pub(super) struct BudgetRegistry {
    rate: RateLimit,
    sync_reserved_percent: u32,
    budgets: Mutex<HashMap<String, Arc<LocalBudget>>>,
}

impl BudgetRegistry {
    pub(super) fn new(rate: RateLimit, sync_reserved_percent: u32) -> Self {
        Self {
            rate,
            sync_reserved_percent,
            budgets: Mutex::new(HashMap::new()),
        }
    }

    /// The budget of `org` if a gate of it was made.
    fn existing(&self, org: &str) -> Option<Arc<LocalBudget>> {
        let budgets = self.budgets.lock().unwrap_or_else(PoisonError::into_inner);
        budgets.get(org).cloned()
    }

    pub(super) fn budget(&self, org: &str) -> Arc<LocalBudget> {
        let mut budgets = self.budgets.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(
            budgets.entry(org.to_owned()).or_insert_with(|| {
                Arc::new(LocalBudget::new(self.rate, self.sync_reserved_percent))
            }),
        )
    }
}

/// Rate limiter for one process: the same sliding window and holds as [`super::RedisRateLimiter`],
/// without Redis. Clones and the gates of [`LocalRateLimiter::for_org`] share their budgets.
#[derive(Clone)]
pub struct LocalRateLimiter {
    org: Arc<str>,
    priority: Priority,
    budget: Arc<LocalBudget>,
    budgets: Arc<BudgetRegistry>,
    metrics: Arc<RateLimitMetrics>,
}

impl fmt::Debug for LocalRateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalRateLimiter")
            .field("org", &self.org)
            .field("rate", &self.budgets.rate)
            .finish_non_exhaustive()
    }
}

impl LocalRateLimiter {
    /// A limiter for `org` with fresh metrics; `org` is any key the caller chooses per
    /// organisation, such as its uuid.
    pub fn new(rate: RateLimit, org: &str) -> Result<Self, RateLimitError> {
        Self::reserving(rate, 0, org)
    }

    /// [`Self::new`] keeping `sync_reserved_percent` of the budget for sync requests while
    /// one waits (see [`Self::for_org_at`]).
    pub fn reserving(
        rate: RateLimit,
        sync_reserved_percent: u32,
        org: &str,
    ) -> Result<Self, RateLimitError> {
        check_org(org)?;
        super::check_reserve(sync_reserved_percent)?;
        let budgets = Arc::new(BudgetRegistry::new(rate, sync_reserved_percent));
        Ok(Self {
            org: Arc::from(org),
            priority: Priority::Backfill,
            budget: budgets.budget(org),
            budgets,
            metrics: Arc::default(),
        })
    }

    /// The gate of `org`, sharing this limiter's budgets and metrics.
    pub fn for_org(&self, org: &str) -> Result<Arc<dyn RequestGate>, RateLimitError> {
        Ok(Arc::new(self.with_org(org)?))
    }

    /// The gate of `org` for requests of `priority`.
    pub fn for_org_at(
        &self,
        org: &str,
        priority: Priority,
    ) -> Result<Arc<dyn RequestGate>, RateLimitError> {
        Ok(Arc::new(Self {
            priority,
            ..self.with_org(org)?
        }))
    }

    /// A clone recording into `metrics` (for example a [`RateLimitMetrics::child_of`] the
    /// process's metrics, to count one job's waits).
    pub fn with_metrics(&self, metrics: Arc<RateLimitMetrics>) -> Self {
        Self {
            metrics,
            ..self.clone()
        }
    }

    pub fn metrics(&self) -> &Arc<RateLimitMetrics> {
        &self.metrics
    }

    pub fn org(&self) -> &str {
        &self.org
    }

    pub fn rate(&self) -> RateLimit {
        self.budgets.rate
    }

    fn with_org(&self, org: &str) -> Result<Self, RateLimitError> {
        check_org(org)?;
        Ok(Self {
            org: Arc::from(org),
            priority: self.priority,
            budget: self.budgets.budget(org),
            budgets: Arc::clone(&self.budgets),
            metrics: Arc::clone(&self.metrics),
        })
    }

    /// Waits for the budget and returns when the request was admitted.
    async fn admit(&self) -> Instant {
        let (turn, queued) = self.budget.take_turn(self.priority).await;
        let (waited, started) = self.budget.wait_for_slot(&turn).await;
        self.budget.admitted.record(minute_of(Utc::now()));
        self.metrics.record_acquire(queued + waited);
        started
    }

    /// The requests this limiter admitted for `org` in each of the `minutes` minutes up to
    /// the one holding `now`, oldest first.
    pub fn admitted_per_minute(&self, org: &str, now: DateTime<Utc>, minutes: u32) -> Vec<u64> {
        match self.budgets.existing(org) {
            Some(budget) => budget.admitted.read(minute_of(now), minutes),
            None => vec![0; minutes.max(1) as usize],
        }
    }
}

impl RequestGate for LocalRateLimiter {
    fn acquire(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.admit().await;
        })
    }

    fn observe(&self, meta: &ResponseMeta) {
        if let Some(block) = block_for(meta, Utc::now()) {
            self.budget.block(block.wait, Instant::now());
            self.metrics.record_block(block.reason);
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::infra::ratelimit::RateLimitSnapshot;
    use logwarden_compliance::RateLimitInfo;

    /// Checks that no `limit + 1` of `starts` fall within `window - tolerance` of each other,
    /// i.e. no window of that length holds more than `limit` starts.
    pub(in crate::infra::ratelimit) fn assert_no_window_exceeds(
        starts: &mut [Duration],
        limit: usize,
        window: Duration,
        tolerance: Duration,
    ) {
        starts.sort();
        for (first, last) in starts.iter().zip(starts.iter().skip(limit)) {
            assert!(
                *last - *first >= window.saturating_sub(tolerance),
                "{} starts within {:?} (from {first:?} to {last:?}); limit {limit} per {window:?}",
                limit + 1,
                *last - *first,
            );
        }
    }

    pub(in crate::infra::ratelimit) fn response(
        status: u16,
        retry_after: Option<Duration>,
        rate_limit: Option<RateLimitInfo>,
    ) -> ResponseMeta {
        ResponseMeta {
            endpoint: "GET /v1/compliance/activities".to_owned(),
            status,
            request_id: Some("req_test".to_owned()),
            rate_limit,
            retry_after,
            should_retry: None,
            attempt: 0,
        }
    }

    #[tokio::test]
    async fn gates_of_one_organisation_never_start_more_than_the_limit_in_any_window() {
        let window = Duration::from_millis(400);
        let limiter = LocalRateLimiter::new(RateLimit::new(4, window).unwrap(), "org-a").unwrap();
        let gates: Vec<LocalRateLimiter> =
            (0..3).map(|_| limiter.with_org("org-a").unwrap()).collect();
        let origin = Instant::now();

        let mut tasks = Vec::new();
        for gate in gates {
            for _ in 0..4 {
                let gate = gate.clone();
                tasks.push(tokio::spawn(async move { gate.admit().await - origin }));
            }
        }
        let mut starts = Vec::new();
        for task in tasks {
            starts.push(task.await.unwrap());
        }
        let elapsed = origin.elapsed();

        assert_no_window_exceeds(&mut starts, 4, window, Duration::ZERO);
        // Twelve requests at four per window start in three windows: 0, 400 and 800 ms.
        assert!(elapsed >= window * 2, "took {elapsed:?}");
        assert!(
            elapsed < window * 2 + Duration::from_secs(2),
            "took {elapsed:?}"
        );
        let snapshot = limiter.metrics().snapshot();
        assert_eq!(snapshot.acquires, 12);
        assert_eq!(snapshot.waits, 8);
        assert!(snapshot.wait_millis >= 8 * 300, "{snapshot:?}");
    }

    #[tokio::test]
    async fn organisations_have_separate_budgets() {
        let limiter =
            LocalRateLimiter::new(RateLimit::new(1, Duration::from_secs(60)).unwrap(), "org-a")
                .unwrap();
        let other = limiter.for_org("org-b").unwrap();

        limiter.acquire().await;
        let started = Instant::now();
        other.acquire().await;

        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(
            limiter.metrics().snapshot(),
            RateLimitSnapshot {
                acquires: 2,
                ..RateLimitSnapshot::default()
            }
        );
    }

    #[tokio::test]
    async fn a_429_with_retry_after_holds_every_gate_of_the_organisation_until_then() {
        let limiter = LocalRateLimiter::new(
            RateLimit::new(100, Duration::from_secs(60)).unwrap(),
            "org-a",
        )
        .unwrap();
        let sibling = limiter.for_org("org-a").unwrap();
        let other_org = limiter.for_org("org-b").unwrap();
        let retry_after = Duration::from_millis(600);
        let observed = Instant::now();

        limiter.observe(&response(429, Some(retry_after), None));
        other_org.acquire().await;
        let other_org_waited = observed.elapsed();
        sibling.acquire().await;
        let sibling_waited = observed.elapsed();

        assert!(other_org_waited < retry_after, "{other_org_waited:?}");
        assert!(sibling_waited >= retry_after, "{sibling_waited:?}");
        assert!(sibling_waited < retry_after + Duration::from_secs(2));
        let snapshot = limiter.metrics().snapshot();
        assert_eq!(snapshot.blocks_after_429, 1);
        assert_eq!((snapshot.acquires, snapshot.waits), (2, 1));
        assert!(snapshot.wait_millis >= 500, "{snapshot:?}");
    }

    #[tokio::test]
    async fn an_exhausted_budget_holds_requests_until_one_request_s_worth_is_back() {
        let limiter = LocalRateLimiter::new(
            RateLimit::new(100, Duration::from_secs(60)).unwrap(),
            "org-a",
        )
        .unwrap();
        let observed = Instant::now();
        let reset = Utc::now() + chrono::Duration::milliseconds(2800);
        let info = RateLimitInfo {
            limit: Some(4),
            remaining: Some(0),
            reset: Some(reset),
        };

        limiter.observe(&response(200, None, Some(info)));
        limiter.acquire().await;
        let waited = observed.elapsed();

        // Four requests per 2.8 s: one is back after 700 ms, long before the reset.
        assert!(waited >= Duration::from_millis(650), "{waited:?}");
        assert!(waited < Duration::from_millis(2000), "{waited:?}");
        assert!(Utc::now() < reset);
        assert_eq!(limiter.metrics().snapshot().blocks_at_reset, 1);
    }
}
