//! States the views derive from stored rows rather than store: an integration's health.

use chrono::{DateTime, TimeDelta, Utc};
use logwarden_entities::integration;
use logwarden_jobs::kind::IntegrationStatus;
use serde::Serialize;

/// Sync attempts failed in a row after which an integration is `failing` even though its
/// errors are transient (an outage, not a blip that the next retry absorbs).
pub const FAILING_AFTER_SYNC_FAILURES: i32 = 3;
/// Sync periods without a successful sync after which an active integration is `lagging`.
pub const LAGGING_AFTER_PERIODS: i32 = 3;

/// Whether an integration's syncing keeps up, as the Log Sources list shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// Syncs succeed (or the integration is paused and its last sync did not fail).
    Healthy,
    /// Active, no sync attempt is failing, yet no sync has succeeded for
    /// [`LAGGING_AFTER_PERIODS`] sync periods: jobs wait with no worker to take them, or run
    /// longer than the period.
    Lagging,
    /// Its sync attempts fail: [`FAILING_AFTER_SYNC_FAILURES`] in a row, or its last sync
    /// job failed for good (a permanent error such as a revoked key, or its attempts ran out).
    Failing,
}

impl Health {
    /// The health of `row` at `now`, with syncs due every `period`; `sync_failed_for_good`
    /// says whether its last sync error ended its job.
    pub fn of(
        row: &integration::Model,
        sync_failed_for_good: bool,
        now: DateTime<Utc>,
        period: TimeDelta,
    ) -> Self {
        if row.sync_failures >= FAILING_AFTER_SYNC_FAILURES
            || (row.sync_failures > 0 && sync_failed_for_good)
        {
            return Self::Failing;
        }
        let since = row.last_sync_succeeded_at.unwrap_or(row.created_at);
        if row.status == IntegrationStatus::Active && now - since > period * LAGGING_AFTER_PERIODS {
            return Self::Lagging;
        }
        Self::Healthy
    }
}

impl std::fmt::Display for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Healthy => "healthy",
            Self::Lagging => "lagging",
            Self::Failing => "failing",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logwarden_jobs::kind::IntegrationKind;

    fn at(minutes: i64) -> DateTime<Utc> {
        "2026-04-08T12:00:00Z".parse::<DateTime<Utc>>().unwrap() + TimeDelta::minutes(minutes)
    }

    fn row(last_success: Option<i64>, sync_failures: i32) -> integration::Model {
        integration::Model {
            id: 1,
            name: "acme".into(),
            kind: IntegrationKind::AnthropicComplianceApi,
            project_id: 1,
            data_plane_id: 1,
            api_key_ciphertext: String::new(),
            api_key_last4: "0000".into(),
            base_url: String::new(),
            organization_uuid: None,
            status: IntegrationStatus::Active,
            sync_watermark: None,
            last_synced_at: None,
            last_error: None,
            last_error_class: None,
            created_at: at(0),
            updated_at: at(0),
            last_sync_succeeded_at: last_success.map(at),
            sync_failures,
        }
    }

    const PERIOD: TimeDelta = TimeDelta::minutes(5);

    #[test]
    fn an_integration_whose_syncs_succeed_within_three_periods_is_healthy() {
        assert_eq!(
            Health::of(&row(Some(10), 0), false, at(25), PERIOD),
            Health::Healthy
        );
        // New, not synced yet, but not for long.
        assert_eq!(
            Health::of(&row(None, 0), false, at(15), PERIOD),
            Health::Healthy
        );
    }

    #[test]
    fn no_successful_sync_for_more_than_three_periods_is_lagging_unless_paused() {
        assert_eq!(
            Health::of(&row(Some(10), 0), false, at(26), PERIOD),
            Health::Lagging
        );
        assert_eq!(
            Health::of(&row(None, 0), false, at(16), PERIOD),
            Health::Lagging
        );
        let mut paused = row(Some(10), 0);
        paused.status = IntegrationStatus::Paused;
        assert_eq!(Health::of(&paused, false, at(60), PERIOD), Health::Healthy);
    }

    #[test]
    fn three_failed_sync_attempts_or_a_sync_job_failed_for_good_is_failing() {
        let retrying = row(Some(10), 2);
        assert_eq!(
            Health::of(&retrying, false, at(12), PERIOD),
            Health::Healthy
        );
        assert_eq!(
            Health::of(&row(Some(10), 3), false, at(12), PERIOD),
            Health::Failing
        );
        assert_eq!(
            Health::of(&row(Some(10), 1), true, at(12), PERIOD),
            Health::Failing
        );
        // Failing says more than lagging when both hold.
        assert_eq!(
            Health::of(&row(Some(10), 3), false, at(60), PERIOD),
            Health::Failing
        );
    }

    #[test]
    fn health_is_written_in_lowercase() {
        assert_eq!(
            serde_json::to_string(&Health::Lagging).unwrap(),
            "\"lagging\""
        );
        assert_eq!(Health::Failing.to_string(), "failing");
    }
}
