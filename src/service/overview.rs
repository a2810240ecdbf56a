//! The dashboard's Operations overview: events ingested per hour over the last day, from the
//! event counters of the jobs that finished in each hour, and rate-budget use per
//! organisation, from what the rate limiter admitted minute by minute.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use logwarden_entities::job;
use logwarden_jobs::kind::JobStatus;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

use super::scope::Scope;
use super::{Error, Services};

/// Events stored in one hour.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HourCount {
    /// The start of the hour.
    pub hour: DateTime<Utc>,
    pub events: i64,
}

impl Services {
    /// Events stored by jobs that succeeded in each of the `hours` hours up to `now`, oldest
    /// first, an hour without any included as 0; only integrations inside `scope` count.
    pub async fn events_per_hour(
        &self,
        scope: &Scope,
        now: DateTime<Utc>,
        hours: u32,
    ) -> Result<Vec<HourCount>, Error> {
        let hour = TimeDelta::hours(1);
        let last = now.duration_trunc(hour).unwrap_or(now);
        let first = last - hour * (hours.max(1) as i32 - 1);
        let rows: Vec<(Option<DateTime<Utc>>, i64)> = job::Entity::find()
            .select_only()
            .column(job::Column::FinishedAt)
            .column(job::Column::Events)
            .filter(job::Column::Status.eq(JobStatus::Succeeded))
            .filter(job::Column::FinishedAt.gte(first))
            .filter(scope.on_integration(job::Column::IntegrationId))
            .into_tuple()
            .all(&self.db)
            .await?;
        let mut counts: Vec<HourCount> = (0..hours.max(1) as i32)
            .map(|index| HourCount {
                hour: first + hour * index,
                events: 0,
            })
            .collect();
        for (finished, events) in rows {
            let Some(finished) = finished else { continue };
            let index = (finished - first).num_hours();
            if let Some(slot) = usize::try_from(index).ok().and_then(|i| counts.get_mut(i)) {
                slot.events += events;
            }
        }
        Ok(counts)
    }
}

/// How much of one organisation's rate budget the rate limiter admitted in the last window.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BudgetUse {
    /// The Claude organisation, or `integration-{id}` for an integration that has not
    /// learnt its organisation yet (it draws on a budget of its own until then).
    pub organization: String,
    /// Compliance API requests the rate limiter admitted in the window.
    pub requests: i64,
    /// The requests the budget allows in the window: the per-minute limit × its minutes.
    pub budget: i64,
    /// The requests admitted in each minute of the window, oldest first.
    pub per_minute: Vec<i64>,
}

/// Rate-budget use per organisation, and why it could not be read, if it could not.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct BudgetReport {
    /// Most used first; an organisation without requests in the window is absent.
    pub organizations: Vec<BudgetUse>,
    /// Why the limiter's counts could not be read (Redis did not answer), if so.
    pub unavailable: Option<String>,
}

impl Services {
    /// Rate-budget use per organisation over the `minutes` minutes up to the one holding
    /// `now`: the requests the rate limiter admitted for each organisation of the
    /// integrations inside `scope`, minute by minute (on Redis for the fleet, in this process
    /// on the in-process queue).
    pub async fn budget_use(
        &self,
        scope: &Scope,
        now: DateTime<Utc>,
        minutes: u32,
    ) -> Result<BudgetReport, Error> {
        use logwarden_entities::integration;
        let Some(log) = &self.admitted else {
            return Ok(BudgetReport::default());
        };
        let rows: Vec<(i64, Option<String>)> = integration::Entity::find()
            .select_only()
            .column(integration::Column::Id)
            .column(integration::Column::OrganizationUuid)
            .filter(scope.on_integration(integration::Column::Id))
            .into_tuple()
            .all(&self.db)
            .await?;
        // The key each integration's jobs draw on, as the worker names it.
        let orgs: std::collections::BTreeSet<String> = rows
            .into_iter()
            .map(|(id, org)| org.unwrap_or_else(|| format!("integration-{id}")))
            .collect();
        let budget = i64::from(self.settings.rate_limit_per_minute) * i64::from(minutes);
        let mut report = BudgetReport::default();
        for organization in orgs {
            let counts = match log.per_minute(&organization, now, minutes).await {
                Ok(counts) => counts,
                Err(crate::infra::ratelimit::RateLimitError::Invalid { .. }) => continue,
                Err(err) => {
                    report.organizations.clear();
                    report.unavailable = Some(err.to_string());
                    return Ok(report);
                }
            };
            let per_minute: Vec<i64> = counts
                .into_iter()
                .map(|count| i64::try_from(count).unwrap_or(i64::MAX))
                .collect();
            let requests: i64 = per_minute.iter().sum();
            if requests > 0 {
                report.organizations.push(BudgetUse {
                    organization,
                    requests,
                    budget,
                    per_minute,
                });
            }
        }
        report
            .organizations
            .sort_by_key(|b| std::cmp::Reverse(b.requests));
        Ok(report)
    }
}
