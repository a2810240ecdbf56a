//! Fleet-wide counts from the job records, for `/metrics`: jobs by kind and status, the
//! queue depth of each data plane (jobs handed to the queue, not yet taken) and events
//! ingested (the event counters of succeeded jobs).

use logwarden_entities::{data_plane, integration, job};
use logwarden_jobs::kind::{JobKind, JobStatus};
use sea_orm::{ColumnTrait, EntityTrait, JoinType, QueryFilter, QuerySelect, RelationTrait};

use super::{Error, Services};

impl Services {
    /// `(kind, status, count)` for every pair with at least one job.
    pub async fn jobs_by_kind_and_status(&self) -> Result<Vec<(JobKind, JobStatus, i64)>, Error> {
        Ok(job::Entity::find()
            .select_only()
            .column(job::Column::Kind)
            .column(job::Column::Status)
            .column_as(job::Column::Id.count(), "count")
            .group_by(job::Column::Kind)
            .group_by(job::Column::Status)
            .into_tuple()
            .all(&self.db)
            .await?)
    }

    /// `(data plane, enqueued jobs)` for every data plane, empty ones included.
    pub async fn queue_depths(&self) -> Result<Vec<(String, i64)>, Error> {
        let planes: Vec<String> = data_plane::Entity::find()
            .select_only()
            .column(data_plane::Column::Name)
            .into_tuple()
            .all(&self.db)
            .await?;
        let queued: Vec<(String, i64)> = job::Entity::find()
            .select_only()
            .column(data_plane::Column::Name)
            .column_as(job::Column::Id.count(), "count")
            .join(JoinType::InnerJoin, job::Relation::Integration.def())
            .join(JoinType::InnerJoin, integration::Relation::DataPlane.def())
            .filter(job::Column::Status.eq(JobStatus::Enqueued))
            .group_by(data_plane::Column::Name)
            .into_tuple()
            .all(&self.db)
            .await?;
        let mut depths: Vec<(String, i64)> = planes.into_iter().map(|name| (name, 0)).collect();
        for (name, count) in queued {
            match depths.iter_mut().find(|(plane, _)| *plane == name) {
                Some(slot) => slot.1 = count,
                None => depths.push((name, count)),
            }
        }
        depths.sort();
        Ok(depths)
    }

    /// Events stored by succeeded jobs, summed over the fleet.
    pub async fn events_ingested(&self) -> Result<i64, Error> {
        let total: Option<Option<i64>> = job::Entity::find()
            .select_only()
            // PostgreSQL sums a BIGINT into a NUMERIC; the cast keeps it an integer.
            .column_as(
                sea_orm::sea_query::Expr::cust("CAST(SUM(events) AS BIGINT)"),
                "events",
            )
            .filter(job::Column::Status.eq(JobStatus::Succeeded))
            .into_tuple()
            .one(&self.db)
            .await?;
        Ok(total.flatten().unwrap_or(0))
    }
}
