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
