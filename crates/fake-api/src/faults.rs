//! Switchable faults: 429 storms, 5xx/529 bursts, slow responses, truncated or malformed
//! bodies, late-indexed records and records repeated across pages. Every fault fires from
//! counters or a seeded stream, so a test that sets the same faults sees the same failures.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::random::{derive, label, Stream};

/// When a fault fires.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// On each of the next N eligible requests, then never again.
    Next(u32),
    /// On this share (0.0 to 1.0) of eligible requests, chosen by the fault seed.
    Fraction(f64),
    /// On every eligible request.
    Always,
    /// On every eligible request until the fake's clock reaches this instant, then never
    /// again: an outage of a set length on the fake's (settable) clock.
    Until(DateTime<Utc>),
}

/// Injected 429 responses, on top of the real rate limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitFault {
    pub trigger: Trigger,
    /// Value of the `retry-after` header in seconds; `None` sends no header, which is how a
    /// proxy stripping it looks.
    #[serde(default)]
    pub retry_after_secs: Option<u32>,
}

/// Injected server errors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerErrorFault {
    pub trigger: Trigger,
    /// 500, 502, 503, 504 or 529.
    pub status: u16,
    /// Sets `x-should-retry` to this value; `false` with 500 marks a deterministic failure.
    #[serde(default)]
    pub should_retry: Option<bool>,
}

/// Responses held back before being sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlowFault {
    pub trigger: Trigger,
    pub delay_ms: u64,
}

/// How a successful body is damaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BodyFaultKind {
    /// The body is cut in half (the connection closes cleanly after the shorter body).
    Truncated,
    /// The body is not valid JSON.
    Malformed,
}

/// Damaged 200 bodies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BodyFault {
    pub trigger: Trigger,
    pub kind: BodyFaultKind,
}

/// Records that become queryable only `delay_secs` after their `created_at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LateIndexFault {
    /// Share of records (activities and chats, chosen by id) that index late.
    pub fraction: f64,
    pub delay_secs: i64,
}

/// The full set of faults; all off by default. `POST /_fake/faults` replaces it as a whole,
/// for example with:
///
/// ```json
/// {"seed": 1,
///  "rate_limit": {"trigger": {"next": 3}, "retry_after_secs": 2},
///  "server_error": {"trigger": {"fraction": 0.1}, "status": 500, "should_retry": false},
///  "slow": {"trigger": "always", "delay_ms": 250},
///  "body": {"trigger": {"next": 1}, "kind": "truncated"},
///  "late_index": {"fraction": 0.2, "delay_secs": 300},
///  "duplicates": {"next": 2},
///  "vanished_chats": {"next": 1}}
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultConfig {
    /// Seed of the fraction triggers and of the late-index selection.
    #[serde(default)]
    pub seed: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitFault>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_error: Option<ServerErrorFault>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slow: Option<SlowFault>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<BodyFault>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late_index: Option<LateIndexFault>,
    /// Repeats the last item of a page as the first item of the page that follows it
    /// (requests with `after_id` on activities, chats and messages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicates: Option<Trigger>,
    /// Answers the first page of a chat's messages with a 404, as for a chat deleted between
    /// the listing and the fetch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vanished_chats: Option<Trigger>,
}

/// A fault configuration that cannot be applied.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum FaultConfigError {
    #[error("`{field}` must be between 0.0 and 1.0, got {value}")]
    FractionOutOfRange { field: &'static str, value: f64 },
    #[error("`server_error.status` must be one of 500, 502, 503, 504, 529, got {0}")]
    UnsupportedStatus(u16),
    #[error("`late_index.delay_secs` must be zero or more, got {0}")]
    NegativeDelay(i64),
    #[error("fault configuration is not valid JSON for the documented shape: {0}")]
    Json(String),
}

impl std::str::FromStr for FaultConfig {
    type Err = FaultConfigError;

    /// Parses the JSON accepted by `POST /_fake/faults` (used by the CLI's `--faults`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let config: FaultConfig =
            serde_json::from_str(s).map_err(|e| FaultConfigError::Json(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }
}

fn check_trigger(field: &'static str, trigger: &Trigger) -> Result<(), FaultConfigError> {
    match trigger {
        Trigger::Fraction(value) if !(0.0..=1.0).contains(value) => {
            Err(FaultConfigError::FractionOutOfRange {
                field,
                value: *value,
            })
        }
        _ => Ok(()),
    }
}

impl FaultConfig {
    /// Checks every value; the error names the field and its valid values.
    pub fn validate(&self) -> Result<(), FaultConfigError> {
        if let Some(f) = &self.rate_limit {
            check_trigger("rate_limit.trigger.fraction", &f.trigger)?;
        }
        if let Some(f) = &self.server_error {
            check_trigger("server_error.trigger.fraction", &f.trigger)?;
            if ![500, 502, 503, 504, 529].contains(&f.status) {
                return Err(FaultConfigError::UnsupportedStatus(f.status));
            }
        }
        if let Some(f) = &self.slow {
            check_trigger("slow.trigger.fraction", &f.trigger)?;
        }
        if let Some(f) = &self.body {
            check_trigger("body.trigger.fraction", &f.trigger)?;
        }
        if let Some(f) = &self.late_index {
            if !(0.0..=1.0).contains(&f.fraction) {
                return Err(FaultConfigError::FractionOutOfRange {
                    field: "late_index.fraction",
                    value: f.fraction,
                });
            }
            if f.delay_secs < 0 {
                return Err(FaultConfigError::NegativeDelay(f.delay_secs));
            }
        }
        if let Some(trigger) = &self.duplicates {
            check_trigger("duplicates.fraction", trigger)?;
        }
        if let Some(trigger) = &self.vanished_chats {
            check_trigger("vanished_chats.fraction", trigger)?;
        }
        Ok(())
    }

    /// How long after its `created_at` the record with this id becomes queryable.
    pub fn index_delay(&self, record_id: &str) -> chrono::Duration {
        match &self.late_index {
            Some(late) if late.fraction > 0.0 => {
                let draw = derive(self.seed, &[label(record_id)]);
                let unit = (draw >> 11) as f64 / (1u64 << 53) as f64;
                if unit < late.fraction {
                    chrono::Duration::seconds(late.delay_secs)
                } else {
                    chrono::Duration::zero()
                }
            }
            _ => chrono::Duration::zero(),
        }
    }
}

/// A trigger with its remaining count and its own random stream.
#[derive(Debug, Clone)]
struct Armed {
    trigger: Trigger,
    remaining: u32,
    stream: Stream,
}

impl Armed {
    fn new(trigger: Trigger, seed: u64, slot: u64) -> Self {
        let remaining = match trigger {
            Trigger::Next(n) => n,
            _ => 0,
        };
        Self {
            trigger,
            remaining,
            stream: Stream::new(seed, &[slot]),
        }
    }

    fn fire(&mut self) -> bool {
        match self.trigger {
            Trigger::Always | Trigger::Until(_) => true,
            Trigger::Fraction(p) => self.stream.chance(p),
            Trigger::Next(_) => {
                if self.remaining > 0 {
                    self.remaining -= 1;
                    true
                } else {
                    false
                }
            }
        }
    }
}

/// The faults in force and their counters.
#[derive(Debug, Clone, Default)]
pub struct FaultState {
    config: FaultConfig,
    rate_limit: Option<Armed>,
    server_error: Option<Armed>,
    slow: Option<Armed>,
    body: Option<Armed>,
    duplicates: Option<Armed>,
    vanished_chats: Option<Armed>,
}

/// A server error to send instead of the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InjectedError {
    pub status: u16,
    pub should_retry: Option<bool>,
}

impl FaultState {
    /// Arms a configuration; counters start from zero.
    pub fn new(config: FaultConfig) -> Self {
        let seed = config.seed;
        Self {
            rate_limit: config
                .rate_limit
                .as_ref()
                .map(|f| Armed::new(f.trigger, seed, 1)),
            server_error: config
                .server_error
                .as_ref()
                .map(|f| Armed::new(f.trigger, seed, 2)),
            slow: config.slow.as_ref().map(|f| Armed::new(f.trigger, seed, 3)),
            body: config.body.as_ref().map(|f| Armed::new(f.trigger, seed, 4)),
            duplicates: config.duplicates.map(|t| Armed::new(t, seed, 5)),
            vanished_chats: config.vanished_chats.map(|t| Armed::new(t, seed, 6)),
            config,
        }
    }

    /// Disarms every fault whose [`Trigger::Until`] instant `now` has reached. The server
    /// calls it with its clock's time before it looks at the faults of a request.
    pub fn expire(&mut self, now: DateTime<Utc>) {
        for armed in [
            &mut self.rate_limit,
            &mut self.server_error,
            &mut self.slow,
            &mut self.body,
            &mut self.duplicates,
            &mut self.vanished_chats,
        ] {
            if armed
                .as_ref()
                .is_some_and(|a| matches!(a.trigger, Trigger::Until(end) if now >= end))
            {
                *armed = None;
            }
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &FaultConfig {
        &self.config
    }

    /// The delay to hold this response back by, if the slow fault fires.
    pub fn take_delay(&mut self) -> Option<Duration> {
        let delay = self.config.slow.as_ref()?.delay_ms;
        let armed = self.slow.as_mut()?;
        armed.fire().then(|| Duration::from_millis(delay))
    }

    /// `Some(retry_after)` when this request gets an injected 429.
    pub fn take_rate_limit(&mut self) -> Option<Option<u32>> {
        let retry_after = self.config.rate_limit.as_ref()?.retry_after_secs;
        let armed = self.rate_limit.as_mut()?;
        armed.fire().then_some(retry_after)
    }

    /// The server error this request gets, if any.
    pub fn take_server_error(&mut self) -> Option<InjectedError> {
        let fault = self.config.server_error.as_ref()?;
        let injected = InjectedError {
            status: fault.status,
            should_retry: fault.should_retry,
        };
        let armed = self.server_error.as_mut()?;
        armed.fire().then_some(injected)
    }

    /// How this successful body is damaged, if at all.
    pub fn take_body_fault(&mut self) -> Option<BodyFaultKind> {
        let kind = self.config.body.as_ref()?.kind;
        let armed = self.body.as_mut()?;
        armed.fire().then_some(kind)
    }

    /// Whether this page repeats the item its cursor points at.
    pub fn take_duplicate(&mut self) -> bool {
        self.duplicates.as_mut().is_some_and(Armed::fire)
    }

    /// Whether this request for a chat's first page of messages gets a 404.
    pub fn take_vanished_chat(&mut self) -> bool {
        self.vanished_chats.as_mut().is_some_and(Armed::fire)
    }
}

/// Damages a JSON body the way the fault describes.
pub fn damage(body: Vec<u8>, kind: BodyFaultKind) -> Vec<u8> {
    match kind {
        BodyFaultKind::Truncated => {
            let keep = body.len() / 2;
            body[..keep].to_vec()
        }
        BodyFaultKind::Malformed => {
            // Valid-looking start, broken structure: a stray token replaces the first colon.
            let text = String::from_utf8_lossy(&body).replacen(':', " :: <", 1);
            text.into_bytes()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_next_trigger_fires_exactly_n_times() {
        let mut state = FaultState::new(FaultConfig {
            rate_limit: Some(RateLimitFault {
                trigger: Trigger::Next(2),
                retry_after_secs: Some(3),
            }),
            ..FaultConfig::default()
        });
        let fired: Vec<_> = (0..4).map(|_| state.take_rate_limit()).collect();
        assert_eq!(fired, vec![Some(Some(3)), Some(Some(3)), None, None]);
    }

    #[test]
    fn an_until_trigger_fires_on_every_request_until_the_clock_reaches_its_instant() {
        let end: DateTime<Utc> = "2026-04-08T14:20:00Z".parse().unwrap();
        let config: FaultConfig =
            r#"{"server_error":{"trigger":{"until":"2026-04-08T14:20:00Z"},"status":503}}"#
                .parse()
                .unwrap();
        let mut state = FaultState::new(config);
        let mut fired = Vec::new();
        for minutes in [0, 10, 19, 20, 21, 5] {
            state.expire(end - chrono::Duration::minutes(20) + chrono::Duration::minutes(minutes));
            fired.push(state.take_server_error().is_some());
        }
        // Once over, the outage stays over even if the clock is set back.
        assert_eq!(fired, [true, true, true, false, false, false]);
    }

    #[test]
    fn a_fraction_trigger_is_reproducible_and_near_its_rate() {
        let config = FaultConfig {
            seed: 42,
            server_error: Some(ServerErrorFault {
                trigger: Trigger::Fraction(0.25),
                status: 529,
                should_retry: None,
            }),
            ..FaultConfig::default()
        };
        let run = |config: FaultConfig| {
            let mut state = FaultState::new(config);
            (0..2_000)
                .map(|_| state.take_server_error().is_some())
                .collect::<Vec<_>>()
        };
        let first = run(config.clone());
        assert_eq!(first, run(config));
        let share = first.iter().filter(|f| **f).count() as f64 / 2_000.0;
        assert!((0.2..0.3).contains(&share), "{share}");
    }

    #[test]
    fn fault_json_round_trips_and_rejects_bad_values() {
        let json = r#"{"seed":1,"server_error":{"trigger":{"next":3},"status":500,"should_retry":false},
                       "body":{"trigger":"always","kind":"truncated"},
                       "late_index":{"fraction":0.5,"delay_secs":120},"duplicates":{"next":1}}"#;
        let parsed: FaultConfig = json.parse().unwrap();
        assert_eq!(
            parsed.server_error.as_ref().unwrap().should_retry,
            Some(false)
        );
        let again: FaultConfig = serde_json::to_string(&parsed).unwrap().parse().unwrap();
        assert_eq!(parsed, again);
        let bad = r#"{"server_error":{"trigger":"always","status":418}}"#.parse::<FaultConfig>();
        assert_eq!(bad, Err(FaultConfigError::UnsupportedStatus(418)));
        assert!(r#"{"unknown":1}"#.parse::<FaultConfig>().is_err());
    }

    #[test]
    fn late_indexing_selects_records_by_id_deterministically() {
        let config = FaultConfig {
            seed: 5,
            late_index: Some(LateIndexFault {
                fraction: 0.5,
                delay_secs: 600,
            }),
            ..FaultConfig::default()
        };
        let ids: Vec<String> = (0..1_000).map(|i| format!("activity_{i}")).collect();
        let delayed = ids
            .iter()
            .filter(|id| !config.index_delay(id).is_zero())
            .count();
        assert!((400..600).contains(&delayed), "{delayed}");
        assert_eq!(
            config.index_delay("activity_1"),
            config.index_delay("activity_1")
        );
    }

    #[test]
    fn damaged_bodies_no_longer_parse() {
        let body = br#"{"data":[{"id":"a"}],"has_more":false}"#.to_vec();
        for kind in [BodyFaultKind::Truncated, BodyFaultKind::Malformed] {
            let damaged = damage(body.clone(), kind);
            assert!(serde_json::from_slice::<serde_json::Value>(&damaged).is_err());
        }
    }

    #[test]
    fn a_vanished_chats_trigger_parses_and_fires_its_count() {
        let config: FaultConfig = r#"{"vanished_chats":{"next":1}}"#.parse().unwrap();
        let mut state = FaultState::new(config);
        assert!(state.take_vanished_chat());
        assert!(!state.take_vanished_chat());
        let error = r#"{"vanished_chats":{"fraction":2.0}}"#.parse::<FaultConfig>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "`vanished_chats.fraction` must be between 0.0 and 1.0, got 2"
        );
    }
}
