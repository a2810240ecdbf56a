//! Rate limiting in front of the Compliance API: one request budget per organisation, shared by
//! the whole fleet through Redis ([`RedisRateLimiter`]) or by one process ([`LocalRateLimiter`]),
//! following `retry-after` and the `anthropic-ratelimit-requests-*` headers, with metered waits.
//!
//! The API allows 600 requests per minute per organisation, shared by every key and endpoint.
//! Both limiters keep a sliding-window log of request starts, so at most `limit` requests start
//! in any window of `window` length: a hard ceiling rather than an average, because any excess
//! costs a 429 and a retry. A 429 (for its `retry-after`) or a response reporting `remaining: 0`
//! (until its `reset`) additionally holds every gate of the organisation until then.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use logwarden_compliance::{Client, ClientConfig, Secret, DEFAULT_BASE_URL};
//! use logwarden::infra::ratelimit::{RateLimit, RedisLimiterOptions, RedisRateLimiter};
//!
//! let options = RedisLimiterOptions::new("logwarden", RateLimit::per_minute(600)?);
//! let limiter = RedisRateLimiter::connect("redis://127.0.0.1:6379", options, "org-uuid")?;
//! let config = ClientConfig::from_base_url(DEFAULT_BASE_URL, Secret::new("sk-ant-..."))?;
//! let client = Client::new(config)?.with_gate(limiter.for_org("org-uuid")?);
//! # let _ = client;
//! println!("waited {} ms so far", limiter.metrics().snapshot().wait_millis);
//! # Ok(())
//! # }
//! ```

mod admitted;
mod fleet;
mod local;
mod metrics;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use logwarden_compliance::{RequestGate, ResponseMeta};

pub use admitted::{minute_of, AdmittedLog, ADMITTED_KEEP_SECONDS};
pub use fleet::{RedisLimiterOptions, RedisRateLimiter};
pub use local::LocalRateLimiter;
pub use logwarden_jobs::payload::Priority;
pub use metrics::{RateLimitMetrics, RateLimitSnapshot};

/// Makes the request gate of an organisation, given its id, for requests of a priority.
pub type GateFactory = Arc<dyn Fn(&str, Priority) -> Arc<dyn RequestGate> + Send + Sync>;

/// The default of `sync_reserved_percent`.
pub const DEFAULT_SYNC_RESERVED_PERCENT: u32 = 20;
/// Most of the budget that can be reserved for syncs: backfills keep at least a tenth.
pub const MAX_SYNC_RESERVED_PERCENT: u32 = 90;

/// The Compliance API's documented budget, and the default of `rate_limit_per_minute`.
pub const DEFAULT_REQUESTS_PER_MINUTE: u32 = 600;
/// Upper bound of the limit: the Redis log holds one entry per request of the window.
pub const MAX_REQUESTS_PER_WINDOW: u32 = 100_000;
/// Upper bound of the window length.
pub const MAX_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);
/// Longest fleet-wide hold one response can impose. A longer `retry-after` or `reset` is more
/// likely a skewed clock or a bogus header than the API's intent, and it would stall every
/// worker of the organisation; the client still honours the header for its own retry.
pub const MAX_BLOCK: Duration = Duration::from_secs(10 * 60);
/// The logs keep each start for `window + window / ARRIVAL_MARGIN_DIVISOR` (600 ms of a
/// minute), which caps use of the budget at 99 % and absorbs that much delay between a
/// request's admission and its arrival at the API.
pub const ARRIVAL_MARGIN_DIVISOR: u32 = 100;
/// Fleet-wide hold after a 429 that names no wait: the documented fallback backoff starts at
/// one second, and the other workers would only collect 429s of their own meanwhile.
pub const DEFAULT_429_BLOCK: Duration = Duration::from_secs(1);

/// Bad configuration of a limiter. Redis failures at run time are not errors: the limiter
/// falls back to the process's share of the budget (or pauses) instead of failing the request.
#[derive(Debug, thiserror::Error)]
pub enum RateLimitError {
    #[error("invalid {field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// The Redis client could not be set up (bad URL, unsupported options).
    #[error("could not set up the Redis client for rate limiting: {message}")]
    RedisSetup { message: String },
    /// Redis did not answer a read of the limiter's counts.
    #[error("could not read the rate limiter's counts from Redis: {message}")]
    RedisRead { message: String },
}

impl RateLimitError {
    fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            message: message.into(),
        }
    }
}

/// How many requests may start in any window of `window` length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    limit: u32,
    window: Duration,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            limit: DEFAULT_REQUESTS_PER_MINUTE,
            window: Duration::from_secs(60),
        }
    }
}

impl RateLimit {
    /// `limit` requests per minute, as the `rate_limit_per_minute` setting gives it.
    pub fn per_minute(limit: u32) -> Result<Self, RateLimitError> {
        Self::check_limit("rate_limit_per_minute", limit)?;
        Ok(Self {
            limit,
            window: Duration::from_secs(60),
        })
    }

    /// `limit` requests per `window`; tests use windows of a few seconds.
    pub fn new(limit: u32, window: Duration) -> Result<Self, RateLimitError> {
        Self::check_limit("limit", limit)?;
        if window < Duration::from_millis(1) || window > MAX_WINDOW {
            return Err(RateLimitError::invalid(
                "window",
                format!(
                    "must be between 1 ms and {} s, got {window:?}",
                    MAX_WINDOW.as_secs()
                ),
            ));
        }
        Ok(Self { limit, window })
    }

    fn check_limit(field: &'static str, limit: u32) -> Result<(), RateLimitError> {
        if limit == 0 || limit > MAX_REQUESTS_PER_WINDOW {
            return Err(RateLimitError::invalid(
                field,
                format!("must be between 1 and {MAX_REQUESTS_PER_WINDOW}, got {limit}"),
            ));
        }
        Ok(())
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }

    pub fn window(&self) -> Duration {
        self.window
    }

    /// The span the logs keep starts for: the window plus [`ARRIVAL_MARGIN_DIVISOR`]th of it.
    /// A start is logged when it is admitted but the API counts it when it arrives; a request
    /// delayed on its way (a new connection, a busy host) would otherwise arrive less than a
    /// window before the request admitted `limit` starts after it, and cost a 429.
    pub fn log_window(&self) -> Duration {
        self.window + self.window / ARRIVAL_MARGIN_DIVISOR
    }

    fn limit_len(&self) -> usize {
        usize::try_from(self.limit).unwrap_or(usize::MAX)
    }

    /// The requests of a window that `percent` of the budget keeps for syncs, rounded down.
    fn reserved(&self, percent: u32) -> u32 {
        let reserved = u64::from(self.limit) * u64::from(percent.min(MAX_SYNC_RESERVED_PERCENT));
        u32::try_from(reserved / 100).unwrap_or(0)
    }

    fn reserved_len(&self, percent: u32) -> usize {
        usize::try_from(self.reserved(percent)).unwrap_or(0)
    }
}

/// The organisation key names Redis keys inside a Cluster hash tag (`{org}`), which braces
/// would cut short and an empty key would disable.
fn check_org(org: &str) -> Result<(), RateLimitError> {
    if org.is_empty() || org.contains(['{', '}']) {
        return Err(RateLimitError::invalid(
            "org",
            format!("must be a non-empty organisation key without '{{' or '}}' (such as the organisation uuid), got {org:?}"),
        ));
    }
    Ok(())
}

fn check_reserve(percent: u32) -> Result<(), RateLimitError> {
    if percent > MAX_SYNC_RESERVED_PERCENT {
        return Err(RateLimitError::invalid(
            "sync_reserved_percent",
            format!("must be between 0 and {MAX_SYNC_RESERVED_PERCENT}, got {percent}"),
        ));
    }
    Ok(())
}

/// Why a response holds the organisation's gates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockReason {
    /// A 429.
    RateLimited,
    /// A response reporting `remaining: 0` with a `reset` time.
    BudgetExhausted,
}

/// A hold on every gate of an organisation, relative to when the response was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Block {
    wait: Duration,
    reason: BlockReason,
}

/// The hold a response imposes, if any: a 429 waits for its `retry-after`, else its `reset`,
/// else [`DEFAULT_429_BLOCK`]; any other response with `remaining: 0` waits until the API's
/// budget frees its next request, not until its `reset`.
///
/// `reset` is when the *whole* budget is back. The API's budget slides (as the limiters' own
/// logs do), so one request's worth comes back long before that: spread evenly, every
/// `(reset - now) / limit`. Holding the fleet until `reset` on every `remaining: 0` idled it
/// for up to a whole window each time the budget was in full use, which is all the time
/// during a backfill (64 % of the budget used after the first minute). The limiters' logs
/// already keep the fleet within the budget; this hold only covers requests the API counts
/// and the log does not (another client on the organisation), and a 429 still holds for its
/// `retry-after`. Without a `limit` header the hold lasts until `reset`.
///
/// Waits are relative so that neither this host's clock nor Redis's has to agree with the API's
/// except for `reset`, which is only given as a time.
fn block_for(meta: &ResponseMeta, now: DateTime<Utc>) -> Option<Block> {
    let until_reset = meta
        .rate_limit
        .and_then(|info| info.reset)
        .and_then(|reset| (reset - now).to_std().ok())
        .filter(|wait| !wait.is_zero());
    let (wait, reason) = if meta.status == 429 {
        let wait = meta
            .retry_after
            .or(until_reset)
            .unwrap_or(DEFAULT_429_BLOCK);
        (wait, BlockReason::RateLimited)
    } else {
        let exhausted = meta.rate_limit.and_then(|info| info.remaining) == Some(0);
        let limit = meta
            .rate_limit
            .and_then(|info| info.limit)
            .and_then(|limit| u32::try_from(limit).ok())
            .filter(|limit| *limit > 0);
        match until_reset {
            Some(wait) if exhausted => (
                limit.map_or(wait, |limit| wait / limit),
                BlockReason::BudgetExhausted,
            ),
            _ => return None,
        }
    };
    if wait.is_zero() {
        return None;
    }
    Some(Block {
        wait: wait.min(MAX_BLOCK),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use logwarden_compliance::RateLimitInfo;

    fn meta(status: u16) -> ResponseMeta {
        ResponseMeta {
            endpoint: "GET /v1/compliance/activities".to_owned(),
            status,
            request_id: None,
            rate_limit: None,
            retry_after: None,
            should_retry: None,
            attempt: 0,
        }
    }

    fn info(remaining: Option<u64>, reset: Option<DateTime<Utc>>) -> Option<RateLimitInfo> {
        Some(RateLimitInfo {
            limit: Some(600),
            remaining,
            reset,
        })
    }

    #[test]
    fn a_429_blocks_for_its_retry_after_even_when_a_reset_is_given() {
        let now = Utc::now();
        let mut response = meta(429);
        response.retry_after = Some(Duration::from_secs(7));
        response.rate_limit = info(Some(0), Some(now + chrono::Duration::seconds(30)));

        let block = block_for(&response, now);

        assert_eq!(
            block,
            Some(Block {
                wait: Duration::from_secs(7),
                reason: BlockReason::RateLimited
            })
        );
    }

    #[test]
    fn a_429_without_retry_after_blocks_until_the_reset_or_for_the_default() {
        let now = Utc::now();
        let mut with_reset = meta(429);
        with_reset.rate_limit = info(None, Some(now + chrono::Duration::seconds(12)));
        let bare = meta(429);

        assert_eq!(
            block_for(&with_reset, now).map(|block| block.wait),
            Some(Duration::from_secs(12))
        );
        assert_eq!(
            block_for(&bare, now).map(|block| block.wait),
            Some(DEFAULT_429_BLOCK)
        );
    }

    #[test]
    fn an_exhausted_budget_blocks_until_one_request_s_worth_is_back_not_until_the_reset() {
        let now = Utc::now();
        let mut full_minute = meta(200);
        full_minute.rate_limit = info(Some(0), Some(now + chrono::Duration::seconds(60)));
        let mut no_limit = meta(200);
        no_limit.rate_limit = Some(RateLimitInfo {
            limit: None,
            remaining: Some(0),
            reset: Some(now + chrono::Duration::seconds(3)),
        });

        // 600 per minute: the next request's worth is back in 100 ms, the whole budget in 60 s.
        assert_eq!(
            block_for(&full_minute, now),
            Some(Block {
                wait: Duration::from_millis(100),
                reason: BlockReason::BudgetExhausted
            })
        );
        assert_eq!(
            block_for(&no_limit, now).map(|block| block.wait),
            Some(Duration::from_secs(3))
        );
    }

    #[test]
    fn an_exhausted_budget_without_a_limit_blocks_until_the_reset_and_a_spare_one_does_not() {
        let now = Utc::now();
        let reset = Some(now + chrono::Duration::milliseconds(1500));
        let info = |remaining, reset| {
            Some(RateLimitInfo {
                limit: None,
                remaining,
                reset,
            })
        };
        let mut exhausted = meta(200);
        exhausted.rate_limit = info(Some(0), reset);
        let mut spare = meta(200);
        spare.rate_limit = info(Some(1), reset);
        let mut past_reset = meta(200);
        past_reset.rate_limit = info(Some(0), Some(now - chrono::Duration::seconds(1)));

        assert_eq!(
            block_for(&exhausted, now),
            Some(Block {
                wait: Duration::from_millis(1500),
                reason: BlockReason::BudgetExhausted
            })
        );
        assert_eq!(block_for(&spare, now), None);
        assert_eq!(block_for(&past_reset, now), None);
        assert_eq!(block_for(&meta(200), now), None);
    }

    #[test]
    fn a_huge_retry_after_is_capped_and_a_zero_one_blocks_nothing() {
        let now = Utc::now();
        let mut huge = meta(429);
        huge.retry_after = Some(Duration::from_secs(86_400));
        let mut zero = meta(429);
        zero.retry_after = Some(Duration::ZERO);

        assert_eq!(
            block_for(&huge, now).map(|block| block.wait),
            Some(MAX_BLOCK)
        );
        assert_eq!(block_for(&zero, now), None);
    }

    #[test]
    fn invalid_limits_windows_and_organisation_keys_are_refused_naming_the_field() {
        let field_of = |error: RateLimitError| match error {
            RateLimitError::Invalid { field, .. } => field,
            RateLimitError::RedisSetup { .. } => "redis setup",
            RateLimitError::RedisRead { .. } => "redis read",
        };

        let zero_per_minute = RateLimit::per_minute(0).map(|_| ());
        let too_many = RateLimit::new(MAX_REQUESTS_PER_WINDOW + 1, Duration::from_secs(1));
        let no_window = RateLimit::new(10, Duration::ZERO);

        assert_eq!(
            zero_per_minute.map_err(field_of),
            Err("rate_limit_per_minute")
        );
        assert_eq!(too_many.map(|_| ()).map_err(field_of), Err("limit"));
        assert_eq!(no_window.map(|_| ()).map_err(field_of), Err("window"));
        assert_eq!(check_org("").map_err(field_of), Err("org"));
        assert_eq!(check_org("a{b}").map_err(field_of), Err("org"));
        assert!(check_org("6f1c2a9e-0000-4000-8000-000000000001").is_ok());
        assert_eq!(RateLimit::default().limit(), DEFAULT_REQUESTS_PER_MINUTE);
    }
}
