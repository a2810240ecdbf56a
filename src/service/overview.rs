//! The dashboard's Operations overview: events ingested per hour over the last day, from the
//! event counters of the jobs that finished in each hour.

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

/// How much of one organisation's rate budget its jobs used in the last window.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BudgetUse {
    /// The Claude organisation, or `integration-{id}` for an integration that has not
    /// learnt its organisation yet (it draws on a budget of its own until then).
    pub organization: String,
    /// Compliance API requests of the jobs that finished in the window.
    pub requests: i64,
    /// The requests the budget allows in the window: the per-minute limit × its minutes.
    pub budget: i64,
}

impl Services {
    /// Rate-budget use per organisation over the `minutes` up to `now`, from the request
    /// counters of the jobs that finished then, most used first; only integrations inside
    /// `scope` count, and an organisation without requests is absent.
    pub async fn budget_use(
        &self,
        scope: &Scope,
        now: DateTime<Utc>,
        minutes: u32,
    ) -> Result<Vec<BudgetUse>, Error> {
        use logwarden_entities::integration;
        let since = now - TimeDelta::minutes(i64::from(minutes));
        let rows: Vec<(i64, i64)> = job::Entity::find()
            .select_only()
            .column(job::Column::IntegrationId)
            .column(job::Column::Requests)
            .filter(job::Column::FinishedAt.gte(since))
            .filter(job::Column::Requests.gt(0))
            .filter(scope.on_integration(job::Column::IntegrationId))
            .into_tuple()
            .all(&self.db)
            .await?;
        let ids: std::collections::BTreeSet<i64> = rows.iter().map(|(id, _)| *id).collect();
        let orgs: std::collections::HashMap<i64, Option<String>> = integration::Entity::find()
            .select_only()
            .column(integration::Column::Id)
            .column(integration::Column::OrganizationUuid)
            .filter(integration::Column::Id.is_in(ids))
            .into_tuple::<(i64, Option<String>)>()
            .all(&self.db)
            .await?
            .into_iter()
            .collect();
        let mut used: std::collections::BTreeMap<String, i64> = Default::default();
        for (id, requests) in rows {
            let org = orgs
                .get(&id)
                .cloned()
                .flatten()
                .unwrap_or_else(|| format!("integration-{id}"));
            *used.entry(org).or_default() += requests;
        }
        let budget = i64::from(self.settings.rate_limit_per_minute) * i64::from(minutes);
        let mut list: Vec<BudgetUse> = used
            .into_iter()
            .map(|(organization, requests)| BudgetUse {
                organization,
                requests,
                budget,
            })
            .collect();
        list.sort_by_key(|b| std::cmp::Reverse(b.requests));
        Ok(list)
    }
}
