//! Why a job attempt failed and whether, and when, it runs again.
//!
//! The attempt count lives in the `jobs` row, never in the queue: apalis-redis re-queues a
//! failed task until its 25th attempt whatever a retry layer says, so the worker decides here,
//! records the outcome in the row, and tells the queue to stop (`AbortError`).

use std::time::Duration;

use rand::Rng;

use crate::enum_text::text_enum;

text_enum! {
    /// The class of a failure, stored with the job so the Jobs view can group and explain it.
    /// The upstream classes carry the Compliance API's `error.type` names.
    pub enum ErrorClass (field = "error_class") {
        /// 401: bad or revoked key.
        AuthenticationError = "authentication_error",
        /// 403: the key lacks a scope.
        PermissionError = "permission_error",
        /// 400: the request was refused as malformed (a bug or a bad cursor).
        InvalidRequestError = "invalid_request_error",
        /// 404.
        NotFoundError = "not_found_error",
        /// 429.
        RateLimitError = "rate_limit_error",
        /// 529.
        OverloadedError = "overloaded_error",
        /// 500, 502, 503, 504.
        ApiError = "api_error",
        /// Connection refused or reset, TLS failure, body cut short.
        TransportError = "transport_error",
        /// A request or the attempt ran out of time.
        TimeoutError = "timeout_error",
        /// A complete response whose data cannot be parsed; a truncated body is a
        /// transport error instead, since fetching again can cure it.
        MalformedResponse = "malformed_response",
        DatabaseError = "database_error",
        QueueError = "queue_error",
        /// The handler panicked; caught so the row still records the attempt.
        Panic = "panic",
        /// The job was canceled while it ran.
        Canceled = "canceled",
        /// An invariant of logwarden itself broke.
        Internal = "internal",
    }
}

impl ErrorClass {
    /// Whether another attempt can succeed without anyone acting.
    ///
    /// Permanent: authentication, permission, invalid request, not found, malformed response
    /// (the same bytes will not parse next time), canceled (an operator's decision), internal
    /// (repeating a broken invariant only delays the failure someone must see). Everything
    /// else is transient, including a panic, which may come from a state that passes.
    pub const fn is_retryable(self) -> bool {
        match self {
            Self::AuthenticationError
            | Self::PermissionError
            | Self::InvalidRequestError
            | Self::NotFoundError
            | Self::MalformedResponse
            | Self::Canceled
            | Self::Internal => false,
            Self::RateLimitError
            | Self::OverloadedError
            | Self::ApiError
            | Self::TransportError
            | Self::TimeoutError
            | Self::DatabaseError
            | Self::QueueError
            | Self::Panic => true,
        }
    }

    /// The class of an Anthropic error body's `error.type`. Types added upstream later are
    /// classed as `api_error`, i.e. retried a bounded number of times.
    pub fn from_api_error_type(error_type: &str) -> Self {
        match error_type {
            "authentication_error" => Self::AuthenticationError,
            "permission_error" => Self::PermissionError,
            "invalid_request_error" | "request_too_large" => Self::InvalidRequestError,
            "not_found_error" => Self::NotFoundError,
            "rate_limit_error" => Self::RateLimitError,
            "overloaded_error" => Self::OverloadedError,
            "timeout_error" => Self::TimeoutError,
            _ => Self::ApiError,
        }
    }

    /// The class of an HTTP error status, for responses whose body gives no `error.type`.
    pub fn from_http_status(status: u16) -> Self {
        match status {
            401 => Self::AuthenticationError,
            403 => Self::PermissionError,
            404 => Self::NotFoundError,
            408 => Self::TimeoutError,
            429 => Self::RateLimitError,
            529 => Self::OverloadedError,
            504 => Self::TimeoutError,
            500..=599 => Self::ApiError,
            _ => Self::InvalidRequestError,
        }
    }
}

/// A failed attempt: its class and a message for the Jobs view.
///
/// The message must never hold a secret; API keys stay in the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{class}: {message}")]
pub struct JobError {
    pub class: ErrorClass,
    pub message: String,
    /// The upstream said not to retry (`x-should-retry: false`), whatever the class.
    pub retry_forbidden: bool,
    /// The upstream's `retry-after`: the next attempt waits at least this long.
    pub retry_after: Option<Duration>,
}

impl JobError {
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        Self {
            class,
            message: message.into(),
            retry_forbidden: false,
            retry_after: None,
        }
    }

    /// Marks the error as not to be retried even though its class usually is.
    pub fn without_retry(mut self) -> Self {
        self.retry_forbidden = true;
        self
    }

    pub fn with_retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = Some(retry_after);
        self
    }

    pub fn is_retryable(&self) -> bool {
        self.class.is_retryable() && !self.retry_forbidden
    }
}

/// Exponential backoff with full jitter.
///
/// The delay before retrying after failed attempt `n` (1-based) is drawn uniformly from
/// `[0, min(cap, base · 2^(n − 1))]`. Full jitter spreads the retries of many jobs that failed
/// together (a 529 burst, a database restart) over the whole interval instead of sending them
/// back in waves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Default for Backoff {
    /// Base 10 s, cap 10 min: job-level retries wait out outages of minutes (a database
    /// failover, a 529 burst); short blips are retried inside the client already.
    fn default() -> Self {
        Self {
            base: Duration::from_secs(10),
            cap: Duration::from_secs(600),
        }
    }
}

impl Backoff {
    /// The upper bound of the delay after failed attempt `attempt`: `min(cap, base · 2^(attempt − 1))`.
    /// Attempt 0 is treated as 1.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1);
        1u32.checked_shl(exponent)
            .and_then(|factor| self.base.checked_mul(factor))
            .map_or(self.cap, |ceiling| ceiling.min(self.cap))
    }

    /// A delay drawn uniformly from `[0, ceiling(attempt)]`.
    pub fn delay(&self, attempt: u32, rng: &mut impl Rng) -> Duration {
        let ceiling = u64::try_from(self.ceiling(attempt).as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rng.random_range(0..=ceiling))
    }

    /// What to do after failed attempt `attempt` (1-based, from the job's row) of a job
    /// allowed `max_attempts`: fail at once on a permanent error or when no attempt is left,
    /// otherwise retry after the backoff delay, or after the upstream's `retry-after` when
    /// that is longer.
    pub fn decide(
        &self,
        error: &JobError,
        attempt: u32,
        max_attempts: u32,
        rng: &mut impl Rng,
    ) -> RetryDecision {
        if !error.is_retryable() {
            return RetryDecision::Fail {
                reason: FailReason::Permanent,
            };
        }
        if attempt >= max_attempts {
            return RetryDecision::Fail {
                reason: FailReason::AttemptsExhausted,
            };
        }
        let delay = self.delay(attempt, rng);
        RetryDecision::Retry {
            after: error.retry_after.map_or(delay, |wait| wait.max(delay)),
        }
    }
}

/// The outcome of a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Run another attempt once `after` has passed.
    Retry { after: Duration },
    /// Mark the job failed.
    Fail { reason: FailReason },
}

text_enum! {
    /// Why a job is failed rather than retried.
    pub enum FailReason (field = "fail_reason") {
        /// The error cannot pass by itself.
        Permanent = "permanent",
        /// The job used its last attempt.
        AttemptsExhausted = "attempts_exhausted",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn backoff() -> Backoff {
        Backoff {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(60),
        }
    }

    #[test]
    fn permanent_upstream_errors_fail_at_once() {
        let mut rng = StdRng::seed_from_u64(7);
        for class in [
            ErrorClass::AuthenticationError,
            ErrorClass::PermissionError,
            ErrorClass::InvalidRequestError,
            ErrorClass::NotFoundError,
            ErrorClass::MalformedResponse,
            ErrorClass::Canceled,
        ] {
            let decision = backoff().decide(&JobError::new(class, "no"), 1, 5, &mut rng);
            assert_eq!(
                decision,
                RetryDecision::Fail {
                    reason: FailReason::Permanent
                },
                "{class}"
            );
        }
    }

    #[test]
    fn transient_errors_retry_until_the_last_attempt() {
        let mut rng = StdRng::seed_from_u64(7);
        let error = JobError::new(ErrorClass::OverloadedError, "529 from upstream");
        for attempt in 1..5 {
            assert!(matches!(
                backoff().decide(&error, attempt, 5, &mut rng),
                RetryDecision::Retry { .. }
            ));
        }
        assert_eq!(
            backoff().decide(&error, 5, 5, &mut rng),
            RetryDecision::Fail {
                reason: FailReason::AttemptsExhausted
            }
        );
    }

    #[test]
    fn a_500_marked_should_not_retry_fails_at_once() {
        let mut rng = StdRng::seed_from_u64(7);
        let error = JobError::new(ErrorClass::ApiError, "internal server error").without_retry();
        assert!(!error.is_retryable());
        assert_eq!(
            backoff().decide(&error, 1, 5, &mut rng),
            RetryDecision::Fail {
                reason: FailReason::Permanent
            }
        );
    }

    #[test]
    fn a_429_waits_at_least_its_retry_after() {
        let mut rng = StdRng::seed_from_u64(7);
        let error = JobError::new(ErrorClass::RateLimitError, "rate limited")
            .with_retry_after(Duration::from_secs(90));
        for _ in 0..100 {
            let RetryDecision::Retry { after } = backoff().decide(&error, 1, 5, &mut rng) else {
                panic!("a rate-limited attempt must be retried");
            };
            assert_eq!(after, Duration::from_secs(90));
        }
    }

    #[test]
    fn the_ceiling_doubles_from_the_base_up_to_the_cap() {
        let ceilings: Vec<u64> = (1..=8).map(|n| backoff().ceiling(n).as_secs()).collect();
        assert_eq!(ceilings, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(backoff().ceiling(0), Duration::from_secs(1));
        assert_eq!(backoff().ceiling(u32::MAX), Duration::from_secs(60));
    }

    #[test]
    fn jittered_delays_spread_over_the_whole_interval() {
        let mut rng = StdRng::seed_from_u64(11);
        let ceiling = backoff().ceiling(4);
        let delays: Vec<Duration> = (0..2000).map(|_| backoff().delay(4, &mut rng)).collect();
        let below_tenth = delays.iter().filter(|delay| **delay < ceiling / 10).count();
        let above_nine_tenths = delays
            .iter()
            .filter(|delay| **delay > ceiling * 9 / 10)
            .count();
        // Uniform: about 200 in each tail; waves would leave one tail empty.
        assert!((100..300).contains(&below_tenth), "{below_tenth}");
        assert!(
            (100..300).contains(&above_nine_tenths),
            "{above_nine_tenths}"
        );
    }

    #[test]
    fn the_error_displays_as_class_then_message() {
        let error = JobError::new(ErrorClass::TimeoutError, "GET /v1/compliance/activities");
        assert_eq!(
            error.to_string(),
            "timeout_error: GET /v1/compliance/activities"
        );
        assert_eq!(
            "timeout".parse::<ErrorClass>().unwrap_err().to_string(),
            "invalid error_class \"timeout\": expected one of authentication_error, permission_error, invalid_request_error, not_found_error, rate_limit_error, overloaded_error, api_error, transport_error, timeout_error, malformed_response, database_error, queue_error, panic, canceled, internal"
        );
    }

    #[test]
    fn upstream_error_types_and_statuses_map_to_classes() {
        for class in &ErrorClass::ALL[..7] {
            assert_eq!(ErrorClass::from_api_error_type(class.as_str()), *class);
        }
        assert_eq!(
            ErrorClass::from_api_error_type("some_future_error"),
            ErrorClass::ApiError
        );
        assert_eq!(
            ErrorClass::from_http_status(401),
            ErrorClass::AuthenticationError
        );
        assert_eq!(
            ErrorClass::from_http_status(429),
            ErrorClass::RateLimitError
        );
        assert_eq!(
            ErrorClass::from_http_status(529),
            ErrorClass::OverloadedError
        );
        assert_eq!(ErrorClass::from_http_status(503), ErrorClass::ApiError);
        assert_eq!(
            ErrorClass::from_http_status(422),
            ErrorClass::InvalidRequestError
        );
    }

    proptest! {
        #[test]
        fn a_delay_never_exceeds_its_ceiling_nor_the_cap(
            seed in any::<u64>(),
            attempt in any::<u32>(),
            base_ms in 1u64..100_000,
            cap_ms in 1u64..10_000_000,
        ) {
            let backoff = Backoff {
                base: Duration::from_millis(base_ms),
                cap: Duration::from_millis(cap_ms),
            };
            let mut rng = StdRng::seed_from_u64(seed);
            let delay = backoff.delay(attempt, &mut rng);
            prop_assert!(delay <= backoff.ceiling(attempt));
            prop_assert!(backoff.ceiling(attempt) <= backoff.cap);
            prop_assert!(backoff.ceiling(attempt.saturating_add(1)) >= backoff.ceiling(attempt));
        }
    }
}
