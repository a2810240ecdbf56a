//! The fleet-wide rate limiter: one sliding-window log per organisation in Redis, checked and
//! extended by an atomic Lua script on Redis's clock, so every process of the fleet draws on the
//! same budget. While Redis is unreachable or slower than the command timeout, each process
//! falls back to its share of the budget: the limit divided by the number of live processes of
//! the organisation, as the admit script counts them from every call's heartbeat (or as the
//! caller reports them from the workers' heartbeats). A process that knows of no live count
//! pauses until Redis answers, since a full budget per process would multiply the limit.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisError, Script};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use uuid::Uuid;

use super::admitted::{minute_of, ADMITTED_KEEP_SECONDS};
use super::local::{BudgetRegistry, LocalBudget, Turn};
use super::metrics::RateLimitMetrics;
use super::{
    block_for, check_org, check_reserve, Priority, RateLimit, RateLimitError,
    DEFAULT_SYNC_RESERVED_PERCENT,
};
use logwarden_compliance::{RequestGate, ResponseMeta};

/// Admits one request start if the organisation is not held and fewer than `limit` starts lie
/// within the window ending now; otherwise says how long until that can change. Times are
/// microseconds of Redis's clock, so hosts with skewed clocks still share one timeline.
/// Numbers go to Redis through `%.0f` because Lua 5.1 would print them with 14 significant
/// digits, and microsecond timestamps have 16.
const ADMIT_SCRIPT: &str = r"
-- KEYS[1]: sorted set of request starts (member: unique id, score: start time)
-- KEYS[2]: end of the current hold, if any
-- KEYS[3]: sorted set of the processes drawing on this budget (member: process id, score:
--          last call)
-- KEYS[4]: sorted set of the processes with a sync request waiting (member: process id,
--          score: until when that wait counts)
-- KEYS[5]: start of the names of the per-minute counters of admitted requests, each
--          KEYS[5] .. ':' .. the Unix minute (in the organisation's hash tag like the others)
-- ARGV[1]: limit; ARGV[2]: window length; ARGV[3]: unique id of this request;
-- ARGV[4]: process id; ARGV[5]: how long a process counts as live after its last call;
-- ARGV[6]: 1 for a sync request, 0 for a backfill one; ARGV[7]: requests of the window that a
-- backfill request may not take while a sync waits; ARGV[8]: how long past its expected
-- retry a waiting sync still counts; ARGV[9]: longest a sync request waits before asking again;
-- ARGV[10]: seconds a per-minute counter is kept;
-- ARGV[11...]: ages of the starts this process admitted on its share while Redis could not be
-- asked, which join the log (and the per-minute counts) first
-- Returns {1, 0, now, live} when admitted, {0, wait, now, live} otherwise.
if redis.replicate_commands then redis.replicate_commands() end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local function count_admitted(at)
  local key = KEYS[5] .. ':' .. string.format('%.0f', math.floor(at / 60000000))
  redis.call('INCR', key)
  redis.call('EXPIRE', key, ARGV[10])
end
local horizon = tonumber(ARGV[5])
redis.call('ZADD', KEYS[3], string.format('%.0f', now), ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', string.format('%.0f', now - horizon))
redis.call('PEXPIRE', KEYS[3], string.format('%.0f', math.ceil(horizon / 1000) + 1000))
local live = redis.call('ZCARD', KEYS[3])
local held_until = tonumber(redis.call('GET', KEYS[2]))
if held_until and held_until > now then
  return {0, held_until - now, now, live}
end
local window = tonumber(ARGV[2])
for i = 11, #ARGV do
  redis.call('ZADD', KEYS[1], string.format('%.0f', now - tonumber(ARGV[i])), ARGV[3] .. ':' .. i)
  count_admitted(now - tonumber(ARGV[i]))
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - window))
local sync = ARGV[6] == '1'
local ceiling = tonumber(ARGV[1])
if not sync then
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', string.format('%.0f', now))
  if redis.call('ZCARD', KEYS[4]) > 0 then
    ceiling = math.max(1, ceiling - tonumber(ARGV[7]))
  end
end
local count = redis.call('ZCARD', KEYS[1])
if count < ceiling then
  redis.call('ZADD', KEYS[1], string.format('%.0f', now), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], string.format('%.0f', math.ceil(window / 1000) + 1000))
  if sync then redis.call('ZREM', KEYS[4], ARGV[4]) end
  count_admitted(now)
  return {1, 0, now, live}
end
-- Below the ceiling once the start `count - ceiling` from the oldest leaves the window.
local blocker = redis.call('ZRANGE', KEYS[1], count - ceiling, count - ceiling, 'WITHSCORES')
local wait = tonumber(blocker[2]) + window - now
if sync then
  local until_ = now + math.min(wait, tonumber(ARGV[9])) + tonumber(ARGV[8])
  redis.call('ZADD', KEYS[4], string.format('%.0f', until_), ARGV[4])
  redis.call('PEXPIRE', KEYS[4], string.format('%.0f', math.ceil((until_ - now) / 1000) + 1000))
end
return {0, wait, now, live}
";

/// Holds the organisation until `now + ARGV[1]` (microseconds of Redis's clock) unless it is
/// already held longer.
const BLOCK_SCRIPT: &str = r"
-- KEYS[1]: end of the current hold; ARGV[1]: length of the new hold
if redis.replicate_commands then redis.replicate_commands() end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local hold = tonumber(ARGV[1])
local held_until = tonumber(redis.call('GET', KEYS[1]))
if held_until == nil or held_until < now + hold then
  redis.call('SET', KEYS[1], string.format('%.0f', now + hold),
    'PX', string.format('%.0f', math.ceil(hold / 1000) + 1000))
end
return now + hold
";

/// A process counts as live for this many windows after its last call to the admit script,
/// and for at least [`MIN_LIVE_HORIZON`]: counting a quiet process too long only makes each
/// fallback share smaller, counting it too briefly could let the fleet exceed the limit.
const LIVE_HORIZON_WINDOWS: u32 = 5;
const MIN_LIVE_HORIZON: Duration = Duration::from_secs(10);

/// A waiting sync request asks Redis again at least this often, and counts as waiting only
/// until then (plus a grace): a sync that stopped waiting without telling Redis (admitted on
/// the process's share, or its process gone) holds backfills to their ceiling that long at most.
const SYNC_POLL: Duration = Duration::from_secs(1);

/// At most one warning per interval about Redis being unreachable, however many calls fail.
const WARNING_INTERVAL: Duration = Duration::from_secs(60);

/// Settings of a [`RedisRateLimiter`] shared by all its organisations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisLimiterOptions {
    /// Prefix of the limiter's keys (`{prefix}:ratelimit:{org}:log` and `…:held`); the
    /// `redis_prefix` setting, or a unique one per test.
    pub prefix: String,
    pub rate: RateLimit,
    /// Longest wait for Redis during one check; past it, the call falls back to the process's
    /// share of the budget rather than hang.
    pub command_timeout: Duration,
    /// After a Redis failure, how long calls use the process's share of the budget before Redis is
    /// tried again, so an outage costs one timeout per interval instead of one per request.
    pub recheck_interval: Duration,
    /// Percent of the budget that backfill requests leave to sync requests while one waits
    /// (the `sync_reserved_percent` setting).
    pub sync_reserved_percent: u32,
}

impl RedisLimiterOptions {
    /// Options with a 500 ms command timeout and a 5 s recheck interval.
    pub fn new(prefix: impl Into<String>, rate: RateLimit) -> Self {
        Self {
            prefix: prefix.into(),
            rate,
            command_timeout: Duration::from_millis(500),
            recheck_interval: Duration::from_secs(5),
            sync_reserved_percent: DEFAULT_SYNC_RESERVED_PERCENT,
        }
    }

    fn validate(&self) -> Result<(), RateLimitError> {
        if self.prefix.is_empty() {
            return Err(RateLimitError::invalid(
                "redis_prefix",
                "must not be empty (for example \"logwarden\")",
            ));
        }
        check_reserve(self.sync_reserved_percent)?;
        if self.command_timeout.is_zero() {
            return Err(RateLimitError::invalid(
                "command_timeout",
                "must be longer than zero (for example 500 ms)",
            ));
        }
        Ok(())
    }
}

/// How a request was admitted, for the tests that check the window on Redis's own clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admission {
    /// By Redis, at this many microseconds since the epoch on Redis's clock.
    Fleet { redis_micros: i64 },
    /// By the process's share of the budget, Redis being unreachable.
    Local { at: Instant },
}

/// How a try on the process's share of the budget ended.
enum Fallback {
    Admitted(Admission),
    /// The number of live processes is unknown.
    NoShare,
    /// Redis is due to be asked again before the share has room.
    RedisDue,
}

/// What the admit script answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FleetDecision {
    Admitted { redis_micros: i64 },
    Wait(Duration),
}

#[derive(Debug)]
enum RedisFailure {
    TimedOut(Duration),
    Command(RedisError),
}

impl fmt::Display for RedisFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TimedOut(limit) => write!(f, "no answer within {} ms", limit.as_millis()),
            // A Redis error carries the server's message or the I/O error, never the URL.
            Self::Command(error) => write!(f, "{error}"),
        }
    }
}

/// Whether Redis is usable and when its unavailability was last reported.
#[derive(Debug, Default)]
struct RedisHealth {
    /// Calls go straight to the process's share of the budget (or pause) until then.
    down_until: Option<Instant>,
    last_warning: Option<Instant>,
    failures_since_warning: u64,
}

impl RedisHealth {
    fn usable(&self, now: Instant) -> bool {
        self.down_until.is_none_or(|until| now >= until)
    }

    /// Records a failure; returns how many failures to report if a warning is due.
    fn failed(&mut self, now: Instant, recheck_interval: Duration) -> Option<u64> {
        self.down_until = Some(now + recheck_interval);
        self.failures_since_warning += 1;
        let due = self
            .last_warning
            .is_none_or(|last| now.duration_since(last) >= WARNING_INTERVAL);
        if !due {
            return None;
        }
        self.last_warning = Some(now);
        Some(std::mem::take(&mut self.failures_since_warning))
    }

    /// Records a success; true if Redis had been reported unreachable.
    fn succeeded(&mut self) -> bool {
        self.down_until.take().is_some()
    }
}

/// What every organisation of one limiter shares.
struct Fleet {
    redis: ConnectionManager,
    options: RedisLimiterOptions,
    budgets: BudgetRegistry,
    admit: Script,
    block: Script,
    health: Mutex<RedisHealth>,
    /// This process's member in the organisations' sets of live processes.
    process_id: String,
    /// Live processes as the admit script last counted them (0: never counted).
    counted_live: AtomicU32,
    /// Live workers as the caller last reported them from the heartbeats (0: not reported).
    reported_live: AtomicU32,
}

impl Fleet {
    /// The larger of the two live counts, if either is known: the share must not be too big.
    fn live_processes(&self) -> Option<u32> {
        let live = self
            .counted_live
            .load(AtomicOrdering::Relaxed)
            .max(self.reported_live.load(AtomicOrdering::Relaxed));
        (live > 0).then_some(live)
    }

    /// This process's share of the budget while Redis cannot be asked, if the number of live
    /// processes is known: `limit / live` per window, or one request per as many windows as it
    /// takes when there are more processes than requests.
    fn fallback_share(&self) -> Option<RateLimit> {
        let rate = self.options.rate;
        let live = self.live_processes()?;
        let share = rate.limit() / live;
        Some(if share >= 1 {
            RateLimit {
                limit: share,
                window: rate.window(),
            }
        } else {
            RateLimit {
                limit: 1,
                window: rate.window() * live.div_ceil(rate.limit()),
            }
        })
    }

    fn live_horizon(&self) -> Duration {
        (self.options.rate.window() * LIVE_HORIZON_WINDOWS).max(MIN_LIVE_HORIZON)
    }

    /// How long until Redis is asked again after a failure.
    fn redis_retry_in(&self) -> Duration {
        let now = Instant::now();
        self.health()
            .down_until
            .map_or(Duration::ZERO, |until| until.saturating_duration_since(now))
    }

    fn health(&self) -> MutexGuard<'_, RedisHealth> {
        self.health.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn redis_usable(&self) -> bool {
        self.health().usable(Instant::now())
    }

    fn redis_failed(&self, failure: &RedisFailure, org: &str) {
        let report = self
            .health()
            .failed(Instant::now(), self.options.recheck_interval);
        if let Some(failures) = report {
            tracing::warn!(
                org,
                failures,
                error = %failure,
                "Redis is unreachable; rate limiting uses this process's share of the budget (or pauses, the number of live processes being unknown) until it answers again"
            );
        }
    }

    fn redis_answered(&self) {
        if self.health().succeeded() {
            tracing::info!("Redis answers again; rate limiting is fleet-wide again");
        }
    }
}

/// Fleet-wide rate limiter of one organisation: every process that uses the same Redis,
/// prefix and organisation key shares one budget of `limit` request starts per `window`.
///
/// Cheap to clone; [`RedisRateLimiter::for_org`] makes gates for other organisations on the
/// same connection. Within a process, the requests of an organisation queue in order and only
/// the first polls Redis.
#[derive(Clone)]
pub struct RedisRateLimiter {
    fleet: Arc<Fleet>,
    org: Arc<str>,
    priority: Priority,
    log_key: Arc<str>,
    hold_key: Arc<str>,
    live_key: Arc<str>,
    syncs_waiting_key: Arc<str>,
    admitted_key: Arc<str>,
    budget: Arc<LocalBudget>,
    metrics: Arc<RateLimitMetrics>,
}

impl fmt::Debug for RedisRateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRateLimiter")
            .field("org", &self.org)
            .field("log_key", &self.log_key)
            .field("rate", &self.fleet.options.rate)
            .finish_non_exhaustive()
    }
}

impl RedisRateLimiter {
    /// A limiter for `org` (any key the caller chooses per organisation, such as its uuid)
    /// on an existing connection, with fresh metrics.
    pub fn new(
        redis: ConnectionManager,
        options: RedisLimiterOptions,
        org: &str,
    ) -> Result<Self, RateLimitError> {
        options.validate()?;
        check_org(org)?;
        let fleet = Arc::new(Fleet {
            redis,
            budgets: BudgetRegistry::new(options.rate, options.sync_reserved_percent),
            options,
            admit: Script::new(ADMIT_SCRIPT),
            block: Script::new(BLOCK_SCRIPT),
            health: Mutex::new(RedisHealth::default()),
            process_id: Uuid::new_v4().to_string(),
            counted_live: AtomicU32::new(0),
            reported_live: AtomicU32::new(0),
        });
        Ok(Self::on_fleet(fleet, org, Arc::default()))
    }

    /// A limiter on a new connection to `redis_url`, made on first use so that a Redis that is
    /// down at start only means falling back. Must be called within a Tokio runtime.
    pub fn connect(
        redis_url: &str,
        options: RedisLimiterOptions,
        org: &str,
    ) -> Result<Self, RateLimitError> {
        options.validate()?;
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(RateLimitError::RedisSetup {
                message: "must be called within a Tokio runtime".to_owned(),
            });
        }
        let setup_error = |error: RedisError| RateLimitError::RedisSetup {
            // The URL may hold a password; Redis's message is kept only if it does not echo it.
            message: redact(&error.to_string(), redis_url),
        };
        let client = redis::Client::open(redis_url).map_err(setup_error)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.command_timeout))
            .set_response_timeout(Some(options.command_timeout))
            .set_number_of_retries(1);
        let redis = ConnectionManager::new_lazy_with_config(client, config).map_err(setup_error)?;
        Self::new(redis, options, org)
    }

    /// The gate of `org`, sharing this limiter's connection, process budgets and metrics.
    pub fn for_org(&self, org: &str) -> Result<Arc<dyn RequestGate>, RateLimitError> {
        self.for_org_at(org, self.priority)
    }

    /// The gate of `org` for requests of `priority`: sync requests may take the reserved
    /// share of the budget, and backfill requests leave it to them while one waits.
    pub fn for_org_at(
        &self,
        org: &str,
        priority: Priority,
    ) -> Result<Arc<dyn RequestGate>, RateLimitError> {
        check_org(org)?;
        Ok(Arc::new(Self {
            priority,
            ..Self::on_fleet(Arc::clone(&self.fleet), org, Arc::clone(&self.metrics))
        }))
    }

    /// A clone recording into `metrics` (for example a [`RateLimitMetrics::child_of`] the
    /// process's metrics, to count one job's waits); gates it makes inherit them.
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
        self.fleet.options.rate
    }

    /// Reports the number of live workers of the fleet (from their heartbeats), so that a
    /// fallback while Redis is unreachable takes only this process's share of the budget even
    /// before the admit script has counted the processes. Applies to every organisation of
    /// this limiter; zero withdraws the report.
    pub fn report_live_workers(&self, live: u32) {
        self.fleet
            .reported_live
            .store(live, AtomicOrdering::Relaxed);
    }

    /// The number of live processes the fallback share is split by, if known.
    pub fn live_processes(&self) -> Option<u32> {
        self.fleet.live_processes()
    }

    /// The requests the fleet admitted for `org` in each of the `minutes` minutes up to the
    /// one holding `now`, oldest first, from the admit script's per-minute counters (minutes
    /// of Redis's clock).
    pub async fn admitted_per_minute(
        &self,
        org: &str,
        now: DateTime<Utc>,
        minutes: u32,
    ) -> Result<Vec<u64>, RateLimitError> {
        check_org(org)?;
        let base = org_base(&self.fleet.options.prefix, org);
        let last = minute_of(now);
        let keys: Vec<String> = (0..i64::from(minutes.max(1)))
            .rev()
            .map(|back| format!("{base}:admitted:{}", last - back))
            .collect();
        let counts: Vec<Option<u64>> = self
            .run(|mut redis| {
                let keys = &keys;
                async move { redis::cmd("MGET").arg(keys).query_async(&mut redis).await }
            })
            .await
            .map_err(|failure| RateLimitError::RedisRead {
                message: failure.to_string(),
            })?;
        Ok(counts.into_iter().map(Option::unwrap_or_default).collect())
    }

    /// The Redis key of the organisation's log of request starts.
    pub fn log_key(&self) -> &str {
        &self.log_key
    }

    fn on_fleet(fleet: Arc<Fleet>, org: &str, metrics: Arc<RateLimitMetrics>) -> Self {
        let base = org_base(&fleet.options.prefix, org);
        Self {
            budget: fleet.budgets.budget(org),
            org: Arc::from(org),
            priority: Priority::Backfill,
            log_key: Arc::from(format!("{base}:log")),
            hold_key: Arc::from(format!("{base}:held")),
            live_key: Arc::from(format!("{base}:live")),
            syncs_waiting_key: Arc::from(format!("{base}:syncs-waiting")),
            admitted_key: Arc::from(format!("{base}:admitted")),
            fleet,
            metrics,
        }
    }

    /// Waits until the organisation's budget admits a request.
    async fn admit(&self) -> Admission {
        let (turn, mut waited) = self.budget.take_turn(self.priority).await;
        let admission = loop {
            // A hold this process learned of applies before Redis has it too.
            if let Some(wait) = self.budget.blocked_for(Instant::now()) {
                waited += self.budget.sleep(&turn, wait).await;
                continue;
            }
            if !self.fleet.redis_usable() {
                match self.fall_back(&turn, &mut waited).await {
                    Fallback::Admitted(admission) => break admission,
                    Fallback::NoShare => waited += self.pause_for_redis(&turn).await,
                    Fallback::RedisDue => {}
                }
                continue;
            }
            match self.run_admit_script().await {
                Ok(FleetDecision::Admitted { redis_micros }) => {
                    self.fleet.redis_answered();
                    self.budget.record_start(Instant::now());
                    break Admission::Fleet { redis_micros };
                }
                Ok(FleetDecision::Wait(wait)) => {
                    self.fleet.redis_answered();
                    let wait = match self.priority {
                        Priority::Sync => wait.min(SYNC_POLL),
                        Priority::Backfill => wait,
                    };
                    waited += self.budget.sleep(&turn, wait).await;
                }
                Err(failure) => {
                    self.fleet.redis_failed(&failure, &self.org);
                    match self.fall_back(&turn, &mut waited).await {
                        Fallback::Admitted(admission) => break admission,
                        Fallback::NoShare => waited += self.pause_for_redis(&turn).await,
                        Fallback::RedisDue => {}
                    }
                }
            }
        };
        self.metrics.record_acquire(waited);
        admission
    }

    /// Admits a request on this process's share of the budget, unless the number of live
    /// processes is unknown, so no share can be computed, or Redis is due to be asked again
    /// before the share has room: the fleet may have room the share does not, and sleeping
    /// through the recheck stalled a process (its syncs included) for most of a window.
    async fn fall_back(&self, turn: &Turn<'_>, waited: &mut Duration) -> Fallback {
        let Some(share) = self.fleet.fallback_share() else {
            return Fallback::NoShare;
        };
        self.metrics.record_fallback();
        let retry_at = Instant::now() + self.fleet.redis_retry_in();
        let (local_wait, at) = self
            .budget
            .wait_for_slot_until(turn, share, Some(retry_at))
            .await;
        *waited += local_wait;
        match at {
            Some(at) => {
                self.budget.record_unshared(at);
                Fallback::Admitted(Admission::Local { at })
            }
            None => Fallback::RedisDue,
        }
    }

    /// Waits until Redis is due to be asked again.
    async fn pause_for_redis(&self, turn: &Turn<'_>) -> Duration {
        self.metrics.record_pause();
        let wait = self
            .fleet
            .redis_retry_in()
            .max(Duration::from_millis(1))
            .min(
                self.fleet
                    .options
                    .recheck_interval
                    .max(Duration::from_millis(1)),
            );
        self.budget.sleep(turn, wait).await
    }

    /// How long a waiting sync request still counts past the moment it was told to retry:
    /// time for one more round trip to Redis, so the reserve does not lapse between its calls.
    fn sync_wait_grace(&self) -> Duration {
        self.fleet.options.command_timeout * 2 + Duration::from_millis(100)
    }

    async fn run_admit_script(&self) -> Result<FleetDecision, RedisFailure> {
        let rate = self.fleet.options.rate;
        let window_micros = u64::try_from(rate.log_window().as_micros()).unwrap_or(u64::MAX);
        let member = Uuid::new_v4().to_string();
        let mut invocation = self.fleet.admit.prepare_invoke();
        invocation
            .key(&*self.log_key)
            .key(&*self.hold_key)
            .key(&*self.live_key)
            .key(&*self.syncs_waiting_key)
            .key(&*self.admitted_key)
            .arg(rate.limit())
            .arg(window_micros)
            .arg(member)
            .arg(&self.fleet.process_id)
            .arg(u64::try_from(self.fleet.live_horizon().as_micros()).unwrap_or(u64::MAX))
            .arg(u8::from(self.priority == Priority::Sync))
            .arg(rate.reserved(self.fleet.options.sync_reserved_percent))
            .arg(u64::try_from(self.sync_wait_grace().as_micros()).unwrap_or(u64::MAX))
            .arg(u64::try_from(SYNC_POLL.as_micros()).unwrap_or(u64::MAX))
            .arg(ADMITTED_KEEP_SECONDS);
        // Starts admitted while Redis was away join the fleet's log, or Redis would admit a
        // full window on top of them.
        let asked = Instant::now();
        let unshared = self.budget.take_unshared(asked);
        for age in &unshared {
            invocation.arg(u64::try_from(age.as_micros()).unwrap_or(u64::MAX));
        }
        let answer: Result<(i64, i64, i64, i64), RedisFailure> = self
            .run(|mut redis| {
                let invocation = &invocation;
                async move { invocation.invoke_async(&mut redis).await }
            })
            .await;
        if answer.is_err() {
            self.budget.return_unshared(asked, &unshared);
        }
        let (admitted, wait_micros, redis_micros, live) = answer?;
        self.fleet.counted_live.store(
            u32::try_from(live).unwrap_or(u32::MAX),
            AtomicOrdering::Relaxed,
        );
        Ok(if admitted == 1 {
            FleetDecision::Admitted { redis_micros }
        } else {
            let wait = u64::try_from(wait_micros).unwrap_or(0);
            FleetDecision::Wait(Duration::from_micros(wait))
        })
    }

    /// Runs a command within the command timeout. A connection the manager has just found dead
    /// is replaced on the next command, so a failure of that kind is retried once at once.
    async fn run<T, F, Fut>(&self, command: F) -> Result<T, RedisFailure>
    where
        F: Fn(ConnectionManager) -> Fut,
        Fut: std::future::Future<Output = Result<T, RedisError>>,
    {
        let limit = self.fleet.options.command_timeout;
        let attempts = async {
            match command(self.fleet.redis.clone()).await {
                Err(error) if error.is_io_error() || error.is_unrecoverable_error() => {
                    command(self.fleet.redis.clone()).await
                }
                result => result,
            }
        };
        match tokio::time::timeout(limit, attempts).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(RedisFailure::Command(error)),
            Err(_) => Err(RedisFailure::TimedOut(limit)),
        }
    }

    /// Applies the hold a response imposes, if any, to this process at once and to the fleet
    /// through Redis in the background (`observe` cannot wait); returns that background task.
    fn observe_and_share(&self, meta: &ResponseMeta) -> Option<JoinHandle<()>> {
        let block = block_for(meta, Utc::now())?;
        self.budget.block(block.wait, Instant::now());
        self.metrics.record_block(block.reason);
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let limiter = self.clone();
        Some(runtime.spawn(async move { limiter.share_hold(block.wait).await }))
    }

    async fn share_hold(&self, wait: Duration) {
        let hold_micros = u64::try_from(wait.as_micros()).unwrap_or(u64::MAX);
        let mut invocation = self.fleet.block.prepare_invoke();
        invocation.key(&*self.hold_key).arg(hold_micros);
        let shared: Result<i64, RedisFailure> = self
            .run(|mut redis| {
                let invocation = &invocation;
                async move { invocation.invoke_async(&mut redis).await }
            })
            .await;
        match shared {
            Ok(_) => self.fleet.redis_answered(),
            Err(failure) => self.fleet.redis_failed(&failure, &self.org),
        }
    }
}

impl RequestGate for RedisRateLimiter {
    fn acquire(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.admit().await;
        })
    }

    fn observe(&self, meta: &ResponseMeta) {
        // The hold already applies in this process; the task only tells the rest of the fleet.
        let _sharing = self.observe_and_share(meta);
    }
}

/// `text` with every occurrence of `secret` replaced.
/// The start of the names of an organisation's keys. The hash tag keeps them in one Redis
/// Cluster slot, as the admit script requires.
fn org_base(prefix: &str, org: &str) -> String {
    format!("{prefix}:ratelimit:{{{org}}}")
}

fn redact(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        text.to_owned()
    } else {
        text.replace(secret, "***")
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    use axum::body::Body;
    use axum::extract::State;
    use axum::http::{StatusCode, Uri};
    use axum::response::Response;
    use axum::routing::get;
    use axum::Router;
    use tokio::net::{TcpListener, TcpStream};

    use super::*;
    use crate::infra::ratelimit::local::tests::{assert_no_window_exceeds, response};
    use crate::infra::ratelimit::RateLimitSnapshot;
    use logwarden_compliance::{ActivityQuery, Client, ClientConfig, RateLimitInfo, Secret};

    const REDIS_URL: &str = "redis://127.0.0.1:6379";

    /// Every test has its own key prefix, so tests share the Redis without seeing each other.
    fn unique_prefix() -> String {
        format!("logwarden-test-{}", Uuid::new_v4())
    }

    /// A limiter with its own connection, as a separate worker process has.
    fn process(prefix: &str, rate: RateLimit, org: &str) -> RedisRateLimiter {
        RedisRateLimiter::connect(REDIS_URL, RedisLimiterOptions::new(prefix, rate), org).unwrap()
    }

    async fn inspector() -> ConnectionManager {
        ConnectionManager::new(redis::Client::open(REDIS_URL).unwrap())
            .await
            .unwrap()
    }

    async fn timed(gate: &dyn RequestGate, since: Instant) -> Duration {
        gate.acquire().await;
        since.elapsed()
    }

    fn totals(limiters: &[RedisRateLimiter]) -> RateLimitSnapshot {
        limiters
            .iter()
            .map(|limiter| limiter.metrics().snapshot())
            .fold(RateLimitSnapshot::default(), |sum, one| RateLimitSnapshot {
                acquires: sum.acquires + one.acquires,
                waits: sum.waits + one.waits,
                wait_millis: sum.wait_millis + one.wait_millis,
                blocks_after_429: sum.blocks_after_429 + one.blocks_after_429,
                blocks_at_reset: sum.blocks_at_reset + one.blocks_at_reset,
                redis_fallbacks: sum.redis_fallbacks + one.redis_fallbacks,
                redis_pauses: sum.redis_pauses + one.redis_pauses,
            })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn processes_sharing_redis_never_start_more_than_the_limit_in_any_window() {
        let window = Duration::from_secs(2);
        let rate = RateLimit::new(10, window).unwrap();
        let prefix = unique_prefix();
        let processes: Vec<RedisRateLimiter> =
            (0..4).map(|_| process(&prefix, rate, "org-a")).collect();
        let origin = Instant::now();

        let mut tasks = Vec::new();
        for limiter in &processes {
            for _ in 0..2 {
                let limiter = limiter.clone();
                tasks.push(tokio::spawn(async move {
                    let mut starts = Vec::new();
                    for _ in 0..4 {
                        let admission = limiter.admit().await;
                        starts.push((admission, origin.elapsed()));
                    }
                    starts
                }));
            }
        }
        let mut redis_starts = Vec::new();
        let mut local_starts = Vec::new();
        for task in tasks {
            for (admission, at) in task.await.unwrap() {
                match admission {
                    Admission::Fleet { redis_micros } => redis_starts.push(redis_micros),
                    Admission::Local { .. } => panic!("a request fell back to the local budget"),
                }
                local_starts.push(at);
            }
        }
        let elapsed = origin.elapsed();

        // On Redis's clock the ceiling is exact; on this host's, admissions reach the tasks
        // a scheduling delay late, so a small tolerance applies.
        let first = redis_starts.iter().copied().min().unwrap();
        let mut redis_offsets: Vec<Duration> = redis_starts
            .iter()
            .map(|micros| Duration::from_micros(u64::try_from(micros - first).unwrap()))
            .collect();
        assert_no_window_exceeds(&mut redis_offsets, 10, window, Duration::ZERO);
        assert_no_window_exceeds(&mut local_starts, 10, window, Duration::from_millis(250));
        // 32 requests at 10 per window start in four windows: at 0, 2, 4 and 6 s.
        assert!(
            elapsed >= window * 3 - Duration::from_millis(250),
            "took {elapsed:?}"
        );
        assert!(
            elapsed < window * 3 + Duration::from_secs(3),
            "took {elapsed:?}"
        );
        let totals = totals(&processes);
        assert_eq!(totals.acquires, 32);
        assert_eq!(totals.redis_fallbacks, 0);
        // The first ten never wait; each later window opens with at least one request that
        // waited through the previous one.
        assert!((3..=22).contains(&totals.waits), "{totals:?}");
        assert!(totals.wait_millis >= 3 * 1500, "{totals:?}");
    }

    #[tokio::test]
    async fn a_full_window_makes_the_next_request_wait_and_the_wait_is_metered() {
        let window = Duration::from_secs(2);
        let limiter = process(
            &unique_prefix(),
            RateLimit::new(2, window).unwrap(),
            "org-a",
        );
        let started = Instant::now();

        limiter.acquire().await;
        limiter.acquire().await;
        let within_budget = started.elapsed();
        limiter.acquire().await;
        let over_budget = started.elapsed();

        assert!(within_budget < window, "{within_budget:?}");
        assert!(
            over_budget >= window - Duration::from_millis(10),
            "{over_budget:?}"
        );
        assert!(
            over_budget < window + Duration::from_secs(2),
            "{over_budget:?}"
        );
        let snapshot = limiter.metrics().snapshot();
        assert_eq!(
            (snapshot.acquires, snapshot.waits, snapshot.redis_fallbacks),
            (3, 1, 0)
        );
        assert!((1500..4000).contains(&snapshot.wait_millis), "{snapshot:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_429_with_retry_after_holds_every_process_of_the_organisation_until_then() {
        let rate = RateLimit::new(100, Duration::from_secs(60)).unwrap();
        let prefix = unique_prefix();
        let told = process(&prefix, rate, "org-a");
        let others = [
            process(&prefix, rate, "org-a"),
            process(&prefix, rate, "org-a"),
        ];
        let other_org = process(&prefix, rate, "org-b");
        let retry_after = Duration::from_millis(1500);
        let observed = Instant::now();

        let sharing = told
            .observe_and_share(&response(429, Some(retry_after), None))
            .expect("a 429 holds the organisation");
        sharing.await.unwrap();
        let (told_waited, first_waited, second_waited, other_org_waited) = tokio::join!(
            timed(&told, observed),
            timed(&others[0], observed),
            timed(&others[1], observed),
            timed(&other_org, observed),
        );

        // The hold runs from when Redis stored it, which is after `observed`.
        let at_least = retry_after - Duration::from_millis(10);
        for waited in [told_waited, first_waited, second_waited] {
            assert!(waited >= at_least, "{waited:?}");
            assert!(waited < retry_after + Duration::from_secs(2), "{waited:?}");
        }
        assert!(other_org_waited < retry_after, "{other_org_waited:?}");
        assert_eq!(told.metrics().snapshot().blocks_after_429, 1);
        for limiter in &others {
            let snapshot = limiter.metrics().snapshot();
            assert_eq!((snapshot.acquires, snapshot.waits), (1, 1));
            assert!(snapshot.wait_millis >= 1000, "{snapshot:?}");
        }
        assert_eq!(other_org.metrics().snapshot().waits, 0);
    }

    #[tokio::test]
    async fn an_exhausted_budget_holds_every_process_until_one_request_s_worth_is_back() {
        let rate = RateLimit::new(100, Duration::from_secs(60)).unwrap();
        let prefix = unique_prefix();
        let told = process(&prefix, rate, "org-a");
        let other = process(&prefix, rate, "org-a");
        let observed = Instant::now();
        let info = RateLimitInfo {
            limit: Some(2),
            remaining: Some(0),
            reset: Some(Utc::now() + chrono::Duration::milliseconds(3000)),
        };

        let sharing = told
            .observe_and_share(&response(200, None, Some(info)))
            .expect("remaining 0 with a reset holds the organisation");
        sharing.await.unwrap();
        let waited = timed(&other, observed).await;

        // Two requests per 3 s: one is back after 1.5 s, long before the reset. The hold is
        // computed from the wall clock a moment after `reset` was.
        assert!(waited >= Duration::from_millis(1400), "{waited:?}");
        assert!(waited < Duration::from_millis(2800), "{waited:?}");
        assert_eq!(told.metrics().snapshot().blocks_at_reset, 1);
        assert_eq!(other.metrics().snapshot().waits, 1);
    }

    #[tokio::test]
    async fn an_unreachable_redis_falls_back_to_the_local_budget_without_hanging() {
        let window = Duration::from_secs(1);
        let options = RedisLimiterOptions {
            command_timeout: Duration::from_millis(500),
            ..RedisLimiterOptions::new(unique_prefix(), RateLimit::new(2, window).unwrap())
        };
        let limiter = RedisRateLimiter::connect("redis://127.0.0.1:1", options, "org-a").unwrap();
        // The only live worker: its share is the whole budget.
        limiter.report_live_workers(1);
        let started = Instant::now();

        let first = limiter.admit().await;
        let first_took = started.elapsed();
        let second = limiter.admit().await;
        let third = limiter.admit().await;
        let total = started.elapsed();

        let (
            Admission::Local { at: first_at },
            Admission::Local { .. },
            Admission::Local { at: third_at },
        ) = (first, second, third)
        else {
            panic!("expected local admissions, got {first:?}, {second:?}, {third:?}");
        };
        assert!(first_took < Duration::from_millis(1500), "{first_took:?}");
        // The local budget still holds the limit: the third request waits for the first to age.
        assert!(third_at - first_at >= window, "{:?}", third_at - first_at);
        assert!(total < Duration::from_secs(4), "{total:?}");
        assert_eq!(
            limiter.metrics().snapshot(),
            RateLimitSnapshot {
                acquires: 3,
                waits: 1,
                redis_fallbacks: 3,
                wait_millis: limiter.metrics().snapshot().wait_millis,
                ..RateLimitSnapshot::default()
            }
        );
        assert!(limiter.metrics().snapshot().wait_millis >= 900);
    }

    #[tokio::test]
    async fn a_redis_that_never_answers_costs_one_timeout_then_calls_fall_back_at_once() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let silent = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let command_timeout = Duration::from_secs(1);
        let options = RedisLimiterOptions {
            command_timeout,
            recheck_interval: Duration::from_secs(60),
            ..RedisLimiterOptions::new(unique_prefix(), RateLimit::default())
        };
        let limiter =
            RedisRateLimiter::connect(&format!("redis://{address}"), options, "org-a").unwrap();
        limiter.report_live_workers(1);

        let started = Instant::now();
        let first = limiter.admit().await;
        let first_took = started.elapsed();
        let started = Instant::now();
        let second = limiter.admit().await;
        let second_took = started.elapsed();
        silent.abort();

        assert!(matches!(first, Admission::Local { .. }), "{first:?}");
        assert!(matches!(second, Admission::Local { .. }), "{second:?}");
        assert!(
            first_took < command_timeout + Duration::from_secs(2),
            "{first_took:?}"
        );
        assert!(second_took < command_timeout, "{second_took:?}");
        assert_eq!(limiter.metrics().snapshot().redis_fallbacks, 2);
    }

    /// A TCP relay to the test Redis that can be cut (every link closed, new ones refused)
    /// and restored, to stage an outage without touching the shared Redis.
    struct SwitchableRelay {
        address: SocketAddr,
        up: Arc<AtomicBool>,
        links: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
        acceptor: JoinHandle<()>,
    }

    impl SwitchableRelay {
        async fn start() -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            let up = Arc::new(AtomicBool::new(true));
            let links: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
            let acceptor = tokio::spawn({
                let up = Arc::clone(&up);
                let links = Arc::clone(&links);
                async move {
                    while let Ok((mut inbound, _)) = listener.accept().await {
                        if !up.load(Ordering::SeqCst) {
                            continue;
                        }
                        let link = tokio::spawn(async move {
                            if let Ok(mut outbound) = TcpStream::connect("127.0.0.1:6379").await {
                                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound)
                                    .await;
                            }
                        });
                        links.lock().unwrap().push(link.abort_handle());
                    }
                }
            });
            Self {
                address,
                up,
                links,
                acceptor,
            }
        }

        fn cut(&self) {
            self.up.store(false, Ordering::SeqCst);
            for link in self.links.lock().unwrap().drain(..) {
                link.abort();
            }
        }

        fn restore(&self) {
            self.up.store(true, Ordering::SeqCst);
        }
    }

    impl Drop for SwitchableRelay {
        fn drop(&mut self) {
            self.acceptor.abort();
            self.cut();
        }
    }

    /// A TCP relay to the test Redis that holds every answer of Redis for a settable delay,
    /// to stage a Redis slower than the command timeout without touching the shared Redis.
    struct DelayingRelay {
        address: SocketAddr,
        delay_millis: Arc<AtomicU64>,
        acceptor: JoinHandle<()>,
    }

    impl DelayingRelay {
        async fn start() -> Self {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            let delay_millis = Arc::new(AtomicU64::new(0));
            let acceptor = tokio::spawn({
                let delay_millis = Arc::clone(&delay_millis);
                async move {
                    while let Ok((inbound, _)) = listener.accept().await {
                        let Ok(outbound) = TcpStream::connect("127.0.0.1:6379").await else {
                            continue;
                        };
                        let (mut from_client, mut to_client) = inbound.into_split();
                        let (mut from_redis, mut to_redis) = outbound.into_split();
                        tokio::spawn(async move {
                            let _ = tokio::io::copy(&mut from_client, &mut to_redis).await;
                        });
                        let delay_millis = Arc::clone(&delay_millis);
                        tokio::spawn(async move {
                            let mut buffer = vec![0_u8; 16 * 1024];
                            while let Ok(read) = from_redis.read(&mut buffer).await {
                                if read == 0 {
                                    break;
                                }
                                let delay = delay_millis.load(Ordering::SeqCst);
                                if delay > 0 {
                                    // The delay is the fault under test.
                                    tokio::time::sleep(Duration::from_millis(delay)).await;
                                }
                                if to_client.write_all(&buffer[..read]).await.is_err() {
                                    break;
                                }
                            }
                        });
                    }
                }
            });
            Self {
                address,
                delay_millis,
                acceptor,
            }
        }

        fn delay_answers(&self, delay: Duration) {
            let millis = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
            self.delay_millis.store(millis, Ordering::SeqCst);
        }
    }

    impl Drop for DelayingRelay {
        fn drop(&mut self) {
            self.acceptor.abort();
        }
    }

    #[tokio::test]
    async fn four_limiters_behind_a_redis_that_answers_after_600_ms_start_no_more_than_the_limit_in_a_window(
    ) {
        // The limit scaled down from 600 a minute to 20 per 3 s, so that a window of wall time
        // is short; the Redis is real, so is its delay.
        let limit = 20;
        let window = Duration::from_secs(3);
        let relay = DelayingRelay::start().await;
        let prefix = unique_prefix();
        let options = RedisLimiterOptions {
            command_timeout: Duration::from_millis(500),
            recheck_interval: Duration::from_secs(1),
            ..RedisLimiterOptions::new(&*prefix, RateLimit::new(limit, window).unwrap())
        };
        let limiters: Vec<RedisRateLimiter> = (0..4)
            .map(|_| {
                RedisRateLimiter::connect(
                    &format!("redis://{}", relay.address),
                    options.clone(),
                    "org-a",
                )
                .unwrap()
            })
            .collect();
        let first_start = Instant::now();
        let mut starts: Vec<Instant> = Vec::new();
        // Two rounds while Redis answers at once: after the second every limiter has seen the
        // other three in the organisation's set of live processes.
        for _ in 0..2 {
            for limiter in &limiters {
                let admission = limiter.admit().await;
                assert!(
                    matches!(admission, Admission::Fleet { .. }),
                    "{admission:?}"
                );
                starts.push(Instant::now());
            }
        }
        assert!(limiters
            .iter()
            .all(|limiter| limiter.live_processes() == Some(4)));

        relay.delay_answers(Duration::from_millis(600));
        let deadline = first_start + window;
        let runs = limiters.iter().map(|limiter| async move {
            let mut local = Vec::new();
            while let Ok(admission) = tokio::time::timeout_at(deadline, limiter.admit()).await {
                match admission {
                    Admission::Local { at } => local.push(at),
                    Admission::Fleet { .. } => panic!("Redis answered within its delay"),
                }
            }
            local
        });
        let local: Vec<Vec<Instant>> = futures::future::join_all(runs).await;

        let local_starts: usize = local.iter().map(Vec::len).sum();
        starts.extend(local.into_iter().flatten());
        let in_window = starts
            .iter()
            .filter(|start| start.duration_since(first_start) < window)
            .count();
        assert!(
            in_window <= usize::try_from(limit).unwrap(),
            "{in_window} starts in one window of a limit of {limit}"
        );
        // Each limiter went on with its share rather than pausing: 20 / 4 = 5, two of them
        // already spent through Redis.
        assert_eq!(local_starts, 12, "local starts: {local_starts}");
        let mut offsets: Vec<Duration> = starts
            .iter()
            .map(|start| start.duration_since(first_start))
            .collect();
        assert_no_window_exceeds(&mut offsets, 20, window, Duration::ZERO);
        assert!(totals(&limiters).redis_fallbacks >= 12);
    }

    #[tokio::test]
    async fn an_unreachable_redis_with_no_known_fleet_size_pauses_until_redis_answers_again() {
        let relay = SwitchableRelay::start().await;
        relay.cut();
        let options = RedisLimiterOptions {
            command_timeout: Duration::from_millis(300),
            recheck_interval: Duration::from_millis(200),
            ..RedisLimiterOptions::new(unique_prefix(), RateLimit::default())
        };
        let limiter =
            RedisRateLimiter::connect(&format!("redis://{}", relay.address), options, "org-a")
                .unwrap();

        let admitting = tokio::spawn({
            let limiter = limiter.clone();
            async move { limiter.admit().await }
        });
        // Waits for the first pause as the step that shows the request was held back.
        while limiter.metrics().snapshot().redis_pauses == 0 {
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let before_restore = limiter.metrics().snapshot();
        relay.restore();
        let admission = admitting.await.unwrap();

        assert_eq!(before_restore.acquires, 0, "admitted while Redis was down");
        assert_eq!(before_restore.redis_fallbacks, 0);
        assert!(
            matches!(admission, Admission::Fleet { .. }),
            "{admission:?}"
        );
        assert_eq!(limiter.live_processes(), Some(1));
    }

    #[tokio::test]
    async fn an_outage_falls_back_to_the_local_budget_and_redis_is_used_again_once_it_returns() {
        let relay = SwitchableRelay::start().await;
        let options = RedisLimiterOptions {
            command_timeout: Duration::from_secs(1),
            recheck_interval: Duration::from_millis(300),
            ..RedisLimiterOptions::new(unique_prefix(), RateLimit::default())
        };
        let recheck_interval = options.recheck_interval;
        let limiter =
            RedisRateLimiter::connect(&format!("redis://{}", relay.address), options, "org-a")
                .unwrap();

        let before = limiter.admit().await;
        relay.cut();
        let started = Instant::now();
        let during = limiter.admit().await;
        let during_took = started.elapsed();
        relay.restore();
        // Redis is asked again only once the recheck interval is over: that wait is the
        // behaviour under test.
        tokio::time::sleep(recheck_interval).await;
        let after = limiter.admit().await;

        assert!(matches!(before, Admission::Fleet { .. }), "{before:?}");
        assert!(matches!(during, Admission::Local { .. }), "{during:?}");
        assert!(during_took < Duration::from_secs(2), "{during_took:?}");
        assert!(matches!(after, Admission::Fleet { .. }), "{after:?}");
        let snapshot = limiter.metrics().snapshot();
        assert_eq!((snapshot.acquires, snapshot.redis_fallbacks), (3, 1));
    }

    #[tokio::test]
    async fn a_connection_dropped_by_a_redis_restart_is_replaced_without_falling_back() {
        let relay = SwitchableRelay::start().await;
        let options = RedisLimiterOptions::new(unique_prefix(), RateLimit::default());
        let limiter =
            RedisRateLimiter::connect(&format!("redis://{}", relay.address), options, "org-a")
                .unwrap();

        let before = limiter.admit().await;
        relay.cut();
        relay.restore();
        let after = limiter.admit().await;

        assert!(matches!(before, Admission::Fleet { .. }), "{before:?}");
        assert!(matches!(after, Admission::Fleet { .. }), "{after:?}");
        assert_eq!(limiter.metrics().snapshot().redis_fallbacks, 0);
    }

    #[tokio::test]
    async fn an_organisation_s_keys_sit_under_the_prefix_in_one_hash_tag_and_expire() {
        let window = Duration::from_secs(2);
        let prefix = unique_prefix();
        let rate = RateLimit::new(1, window).unwrap();
        let limiter = process(&prefix, rate, "org-a");
        let other_org = limiter.for_org("org-b").unwrap();
        let mut redis = inspector().await;

        limiter.acquire().await;
        let started = Instant::now();
        other_org.acquire().await;
        let other_org_took = started.elapsed();
        limiter
            .observe_and_share(&response(429, Some(Duration::from_secs(1)), None))
            .expect("a 429 holds the organisation")
            .await
            .unwrap();

        let log_key = format!("{prefix}:ratelimit:{{org-a}}:log");
        let hold_key = format!("{prefix}:ratelimit:{{org-a}}:held");
        assert_eq!(limiter.log_key(), log_key);
        let log_ttl: i64 = redis::cmd("PTTL")
            .arg(&log_key)
            .query_async(&mut redis)
            .await
            .unwrap();
        let hold_ttl: i64 = redis::cmd("PTTL")
            .arg(&hold_key)
            .query_async(&mut redis)
            .await
            .unwrap();
        let other_log: i64 = redis::cmd("ZCARD")
            .arg(format!("{prefix}:ratelimit:{{org-b}}:log"))
            .query_async(&mut redis)
            .await
            .unwrap();
        // Keys outlive their window by a second at most, so tests and old orgs leave nothing.
        let log_ttl_ceiling = i64::try_from(rate.log_window().as_millis()).unwrap() + 1000;
        assert!(
            (1..=log_ttl_ceiling).contains(&log_ttl),
            "log PTTL {log_ttl}"
        );
        assert!((1..=2000).contains(&hold_ttl), "hold PTTL {hold_ttl}");
        assert_eq!(other_log, 1);
        assert!(other_org_took < window, "{other_org_took:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_client_behind_the_limiter_retries_the_same_page_after_a_429_and_other_processes_hold(
    ) {
        #[derive(Debug)]
        struct Seen {
            at: Instant,
            query: String,
        }
        type Log = Arc<Mutex<Vec<Seen>>>;
        async fn activities(State(log): State<Log>, uri: Uri) -> Response {
            let first = {
                let mut log = log.lock().unwrap();
                log.push(Seen {
                    at: Instant::now(),
                    query: uri.query().unwrap_or_default().to_owned(),
                });
                log.len() == 1
            };
            let (status, body) = if first {
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    r#"{"type":"error","error":{"type":"rate_limit_error","message":"Rate limited"}}"#,
                )
            } else {
                (
                    StatusCode::OK,
                    r#"{"data":[],"has_more":false,"first_id":null,"last_id":null}"#,
                )
            };
            Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .header("retry-after", "1")
                .header("request-id", "req_test")
                .body(Body::from(body))
                .unwrap()
        }
        let log: Log = Arc::default();
        let app = Router::new()
            .route("/v1/compliance/activities", get(activities))
            .with_state(Arc::clone(&log));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let rate = RateLimit::new(100, Duration::from_secs(60)).unwrap();
        let prefix = unique_prefix();
        let first_process = process(&prefix, rate, "org-a");
        let second_process = process(&prefix, rate, "org-a");
        let client = |limiter: &RedisRateLimiter| {
            let mut config =
                ClientConfig::from_base_url(&base_url, Secret::new("sk-ant-test")).unwrap();
            config.network.allow_loopback_http = true;
            Client::new(config)
                .unwrap()
                .with_gate(limiter.for_org("org-a").unwrap())
        };
        let (first_client, second_client) = (client(&first_process), client(&second_process));
        let mut redis = inspector().await;

        let first_call = tokio::spawn(async move {
            first_client
                .list_activities(&ActivityQuery::new().after_id("activity_a"))
                .await
        });
        // The second process starts once the first one's 429 has reached Redis.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let held: bool = redis::cmd("EXISTS")
                .arg(&*first_process.hold_key)
                .query_async(&mut redis)
                .await
                .unwrap();
            if held {
                break;
            }
            assert!(Instant::now() < deadline, "the 429 never reached Redis");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let second_result = second_client
            .list_activities(&ActivityQuery::new().after_id("activity_b"))
            .await;
        let first_result = first_call.await.unwrap();
        server.abort();

        assert!(first_result.is_ok(), "{first_result:?}");
        assert!(second_result.is_ok(), "{second_result:?}");
        let log = log.lock().unwrap();
        assert_eq!(log.len(), 3, "{log:?}");
        let rate_limited = &log[0];
        let retried: Vec<&Seen> = log[1..]
            .iter()
            .filter(|seen| seen.query == rate_limited.query)
            .collect();
        let other: Vec<&Seen> = log[1..]
            .iter()
            .filter(|seen| seen.query != rate_limited.query)
            .collect();
        assert_eq!(rate_limited.query, "after_id=activity_a");
        assert_eq!(
            retried.len(),
            1,
            "the 429'd page is retried with the same cursor: {log:?}"
        );
        assert_eq!(other.len(), 1, "{log:?}");
        let hold = Duration::from_secs(1) - Duration::from_millis(10);
        assert!(retried[0].at - rate_limited.at >= hold, "{log:?}");
        assert!(other[0].at - rate_limited.at >= hold, "{log:?}");
        assert_eq!(first_process.metrics().snapshot().blocks_after_429, 1);
        assert_eq!(second_process.metrics().snapshot().waits, 1);
    }

    #[test]
    fn redis_outages_are_reported_at_most_once_a_minute_and_rechecked_after_the_interval() {
        let mut health = RedisHealth::default();
        let start = Instant::now();
        let recheck = Duration::from_secs(5);

        let first = health.failed(start, recheck);
        let usable_during = health.usable(start + Duration::from_secs(1));
        let usable_after = health.usable(start + recheck);
        let within_the_minute = [
            health.failed(start + Duration::from_secs(10), recheck),
            health.failed(start + Duration::from_secs(30), recheck),
        ];
        let after_the_minute = health.failed(start + Duration::from_secs(61), recheck);

        assert_eq!(first, Some(1));
        assert!(!usable_during);
        assert!(usable_after);
        assert_eq!(within_the_minute, [None, None]);
        assert_eq!(after_the_minute, Some(3));
        assert!(health.succeeded());
        assert!(!health.succeeded());
        assert!(health.usable(start + Duration::from_secs(62)));
    }

    /// Collects formatted log lines.
    #[derive(Clone, Default)]
    struct LogBuffer(Arc<Mutex<Vec<u8>>>);

    impl Write for LogBuffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn repeated_redis_failures_log_one_warning_without_the_redis_password() {
        let buffer = LogBuffer::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer({
                let buffer = buffer.clone();
                move || buffer.clone()
            })
            .with_ansi(false)
            .finish();
        let _logging = tracing::subscriber::set_default(subscriber);
        let options = RedisLimiterOptions {
            command_timeout: Duration::from_millis(500),
            // Every call tries Redis again, and fails again.
            recheck_interval: Duration::ZERO,
            ..RedisLimiterOptions::new(unique_prefix(), RateLimit::default())
        };
        let limiter = RedisRateLimiter::connect(
            "redis://:hunter2-redis-password@127.0.0.1:1",
            options,
            "org-a",
        )
        .unwrap();
        limiter.report_live_workers(1);

        for _ in 0..3 {
            limiter.acquire().await;
        }

        let logs = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert_eq!(logs.matches("Redis is unreachable").count(), 1, "{logs}");
        assert!(!logs.contains("hunter2"), "{logs}");
        assert!(!format!("{limiter:?}").contains("hunter2"));
        assert_eq!(limiter.metrics().snapshot().redis_fallbacks, 3);
    }

    fn redis_micros(admission: Admission) -> i64 {
        match admission {
            Admission::Fleet { redis_micros } => redis_micros,
            Admission::Local { .. } => panic!("a request fell back to the local budget"),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn backfill_requests_borrow_the_sync_reserve_only_while_no_sync_waits() {
        let window = Duration::from_secs(2);
        // 10 per 2 s, 20 % (2 requests) kept for syncs while one waits.
        let rate = RateLimit::new(10, window).unwrap();
        let prefix = unique_prefix();
        let backfill = process(&prefix, rate, "org-a");
        let sync = RedisRateLimiter {
            priority: Priority::Sync,
            ..process(&prefix, rate, "org-a")
        };
        let origin = Instant::now();

        // Nobody syncs: backfill requests take the whole budget, reserve included, spread
        // over the first second.
        let mut first_window = Vec::new();
        for _ in 0..10 {
            first_window.push(redis_micros(backfill.admit().await));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let borrowed_within = origin.elapsed();
        // A sync arrives while the window is full, and backfill requests keep coming.
        let sync_task = tokio::spawn({
            let sync = sync.clone();
            async move { redis_micros(sync.admit().await) }
        });
        let next_backfill = {
            let backfill = backfill.clone();
            tokio::spawn(async move {
                // Starts polling once the sync is waiting.
                tokio::time::sleep(Duration::from_millis(200)).await;
                redis_micros(backfill.admit().await)
            })
        };
        let sync_started = sync_task.await.unwrap();
        let backfill_started = next_backfill.await.unwrap();

        assert!(borrowed_within < window, "{borrowed_within:?}");
        // The sync takes the first start to leave the window; the backfill request, though it
        // asked meanwhile, waits for the second.
        let first = first_window[0];
        let sync_after_first = Duration::from_micros(u64::try_from(sync_started - first).unwrap());
        assert!(sync_after_first >= window, "{sync_after_first:?}");
        assert!(
            sync_after_first < window + Duration::from_millis(90),
            "{sync_after_first:?}"
        );
        assert!(backfill_started > sync_started);
        let backfill_after_second = backfill_started - first_window[1];
        assert!(
            backfill_after_second >= i64::try_from(window.as_micros()).unwrap(),
            "{backfill_after_second}"
        );
    }
}
