//! Backfills: recording a range and all its batch jobs at once, progress for the Backfill
//! view, and the operator actions cancel, pause, resume and "retry failed batches". Batches
//! wait as `pending` rows; the scheduler feeds them to the queue with flow control.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use logwarden_entities::{backfill, job};
use logwarden_jobs::kind::{BackfillStatus, IntegrationStatus, JobKind, JobStatus};
use logwarden_jobs::window::{split_range, validate_backfill_range};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait,
};
use serde::Serialize;

use super::jobs::NewJob;
use super::{Error, Services};

/// The most batches one backfill may have (a year of 1-minute batches is about 525,000).
pub const MAX_BATCHES: u64 = 600_000;
/// Rows per INSERT statement: stays under PostgreSQL's 65,535 bind parameters.
const INSERT_CHUNK: usize = 500;

/// What `backfill start` takes.
#[derive(Debug, Clone)]
pub struct NewBackfill {
    pub integration: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Default: the `backfill_batch_width` setting.
    pub batch_width: Option<Duration>,
    pub created_by: String,
}

/// A backfill with its progress, as the Backfill view shows it.
#[derive(Debug, Clone, Serialize)]
pub struct BackfillView {
    pub id: i64,
    pub integration_id: i64,
    pub range_start: DateTime<Utc>,
    pub range_end: DateTime<Utc>,
    pub batch_width_seconds: i64,
    pub status: String,
    pub batches_total: i64,
    pub batches_done: i64,
    pub batches_failed: i64,
    pub batches_in_flight: i64,
    pub batches_pending: i64,
    pub synced_up_to: Option<DateTime<Utc>>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl Services {
    /// Validates the range and records the backfill with every batch row in one transaction:
    /// either all of it exists or none of it does.
    pub async fn start_backfill(&self, new: NewBackfill) -> Result<BackfillView, Error> {
        let integration = self.find_integration(&new.integration).await?;
        if integration.status == IntegrationStatus::Deleted.as_str() {
            return Err(Error::Conflict(format!(
                "integration {:?} is deleted",
                integration.name
            )));
        }
        let now = Utc::now();
        let horizon =
            now - TimeDelta::from_std(self.settings.backfill_horizon).unwrap_or(TimeDelta::MAX);
        let range = validate_backfill_range(new.from, new.to, now, horizon)
            .map_err(|err| Error::invalid("range", err.to_string()))?;
        let width = new
            .batch_width
            .unwrap_or(self.settings.backfill_batch_width);
        if width < Duration::from_secs(60) {
            return Err(Error::invalid(
                "batch_width",
                format!("{}s is too narrow: at least 1m", width.as_secs()),
            ));
        }
        let width = TimeDelta::from_std(width)
            .map_err(|_| Error::invalid("batch_width", "is too large"))?;
        let batches = split_range(range.start, range.end, width, MAX_BATCHES)
            .map_err(|err| Error::invalid("batch_width", err.to_string()))?;

        let txn = self.db.begin().await?;
        let row = backfill::Entity::insert(backfill::ActiveModel {
            integration_id: Set(integration.id),
            range_start: Set(range.start),
            range_end: Set(range.end),
            batch_width_seconds: Set(width.num_seconds()),
            status: Set(BackfillStatus::Pending.as_str().to_owned()),
            batches_total: Set(batches.len() as i32),
            batches_done: Set(0),
            batches_failed: Set(0),
            synced_up_to: Set(None),
            created_by: Set(new.created_by),
            created_at: Set(now),
            updated_at: Set(now),
            finished_at: Set(None),
            ..Default::default()
        })
        .exec_with_returning(&txn)
        .await?;
        for chunk in batches.chunks(INSERT_CHUNK) {
            let rows = chunk.iter().map(|window| {
                NewJob {
                    kind: JobKind::BackfillBatch,
                    integration_id: integration.id,
                    backfill_id: Some(row.id),
                    window: *window,
                    status: JobStatus::Pending,
                    max_attempts: self.settings.job_max_attempts,
                    policy_set_version: None,
                }
                .into_active(now)
            });
            job::Entity::insert_many(rows)
                .exec_without_returning(&txn)
                .await?;
        }
        txn.commit().await?;
        self.backfill(row.id).await
    }

    pub async fn backfill(&self, id: i64) -> Result<BackfillView, Error> {
        let row = backfill::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or_else(|| Error::NotFound(format!("backfill {id} does not exist")))?;
        let counts = batch_counts(&self.db, id).await?;
        Ok(BackfillView {
            id: row.id,
            integration_id: row.integration_id,
            range_start: row.range_start,
            range_end: row.range_end,
            batch_width_seconds: row.batch_width_seconds,
            status: row.status,
            batches_total: row.batches_total as i64,
            batches_done: counts.succeeded,
            batches_failed: counts.failed,
            batches_in_flight: counts.in_flight,
            batches_pending: counts.pending,
            synced_up_to: row.synced_up_to,
            created_by: row.created_by,
            created_at: row.created_at,
            finished_at: row.finished_at,
        })
    }

    pub async fn list_backfills(
        &self,
        integration_id: Option<i64>,
    ) -> Result<Vec<BackfillView>, Error> {
        let mut select = backfill::Entity::find().order_by_desc(backfill::Column::Id);
        if let Some(id) = integration_id {
            select = select.filter(backfill::Column::IntegrationId.eq(id));
        }
        let mut views = Vec::new();
        for row in select.limit(200).all(&self.db).await? {
            views.push(self.backfill(row.id).await?);
        }
        Ok(views)
    }

    /// Cancels every unfinished batch; finished ones and their data stay.
    pub async fn cancel_backfill(&self, id: i64) -> Result<BackfillView, Error> {
        let view = self.backfill(id).await?;
        if view.status == BackfillStatus::Completed.as_str() {
            return Err(Error::Conflict(format!(
                "backfill {id} is already completed"
            )));
        }
        let now = Utc::now();
        let txn = self.db.begin().await?;
        job::Entity::update_many()
            .col_expr(
                job::Column::Status,
                Expr::value(JobStatus::Canceled.as_str()),
            )
            .col_expr(job::Column::FinishedAt, Expr::value(Some(now)))
            .filter(job::Column::BackfillId.eq(id))
            .filter(job::Column::Status.is_in([
                JobStatus::Pending.as_str(),
                JobStatus::Enqueued.as_str(),
                JobStatus::Processing.as_str(),
            ]))
            .exec(&txn)
            .await?;
        set_backfill_status(&txn, id, BackfillStatus::Canceled, Some(now)).await?;
        txn.commit().await?;
        self.backfill(id).await
    }

    /// Stops feeding batches to the queue; batches already running finish.
    pub async fn pause_backfill(&self, id: i64) -> Result<BackfillView, Error> {
        let view = self.backfill(id).await?;
        let status: BackfillStatus = view
            .status
            .parse()
            .map_err(|err: logwarden_jobs::UnknownValueError| Error::Conflict(err.to_string()))?;
        if status.is_terminal() || status == BackfillStatus::Paused {
            return Err(Error::Conflict(format!(
                "backfill {id} is {status}: only pending or running backfills can be paused"
            )));
        }
        set_backfill_status(&self.db, id, BackfillStatus::Paused, None).await?;
        self.backfill(id).await
    }

    pub async fn resume_backfill(&self, id: i64) -> Result<BackfillView, Error> {
        let view = self.backfill(id).await?;
        if view.status != BackfillStatus::Paused.as_str() {
            return Err(Error::Conflict(format!(
                "backfill {id} is {}: only paused backfills can be resumed",
                view.status
            )));
        }
        set_backfill_status(&self.db, id, BackfillStatus::Running, None).await?;
        refresh_backfill(&self.db, id).await?;
        self.backfill(id).await
    }

    /// Puts every failed batch back in line with a fresh budget of attempts.
    pub async fn retry_failed_batches(&self, id: i64) -> Result<BackfillView, Error> {
        let view = self.backfill(id).await?;
        if view.batches_failed == 0 {
            return Err(Error::Conflict(format!(
                "backfill {id} has no failed batches"
            )));
        }
        let txn = self.db.begin().await?;
        job::Entity::update_many()
            .col_expr(
                job::Column::Status,
                Expr::value(JobStatus::Pending.as_str()),
            )
            .col_expr(
                job::Column::MaxAttempts,
                Expr::col(job::Column::Attempt).add(self.settings.job_max_attempts as i32),
            )
            .col_expr(
                job::Column::NextAttemptAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(
                job::Column::FinishedAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .filter(job::Column::BackfillId.eq(id))
            .filter(job::Column::Status.eq(JobStatus::Failed.as_str()))
            .exec(&txn)
            .await?;
        set_backfill_status(&txn, id, BackfillStatus::Running, None).await?;
        backfill::Entity::update_many()
            .col_expr(
                backfill::Column::FinishedAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .filter(backfill::Column::Id.eq(id))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        refresh_backfill(&self.db, id).await?;
        self.backfill(id).await
    }
}

#[derive(Debug, Default)]
struct BatchCounts {
    pending: i64,
    in_flight: i64,
    succeeded: i64,
    failed: i64,
    canceled: i64,
}

async fn batch_counts(db: &impl ConnectionTrait, backfill_id: i64) -> Result<BatchCounts, Error> {
    let rows: Vec<(String, i64)> = job::Entity::find()
        .select_only()
        .column(job::Column::Status)
        .column_as(job::Column::Id.count(), "count")
        .filter(job::Column::BackfillId.eq(backfill_id))
        .group_by(job::Column::Status)
        .into_tuple()
        .all(db)
        .await?;
    let mut counts = BatchCounts::default();
    for (status, count) in rows {
        match status.parse::<JobStatus>() {
            Ok(JobStatus::Pending) => counts.pending += count,
            Ok(JobStatus::Enqueued | JobStatus::Processing) => counts.in_flight += count,
            Ok(JobStatus::Succeeded) => counts.succeeded += count,
            Ok(JobStatus::Failed) => counts.failed += count,
            Ok(JobStatus::Canceled) => counts.canceled += count,
            Err(_) => {}
        }
    }
    Ok(counts)
}

async fn set_backfill_status(
    db: &impl ConnectionTrait,
    id: i64,
    status: BackfillStatus,
    finished_at: Option<DateTime<Utc>>,
) -> Result<(), Error> {
    let mut update = backfill::Entity::update_many()
        .col_expr(backfill::Column::Status, Expr::value(status.as_str()))
        .col_expr(backfill::Column::UpdatedAt, Expr::value(Utc::now()));
    if finished_at.is_some() {
        update = update.col_expr(backfill::Column::FinishedAt, Expr::value(finished_at));
    }
    update.filter(backfill::Column::Id.eq(id)).exec(db).await?;
    Ok(())
}

/// Recomputes a backfill's counters, frontier and status from its batch rows (two indexed
/// queries, so it stays cheap for backfills of many thousand batches). Paused and canceled
/// are the operator's word and are kept.
pub async fn refresh_backfill(db: &impl ConnectionTrait, id: i64) -> Result<(), Error> {
    let Some(row) = backfill::Entity::find_by_id(id).one(db).await? else {
        return Ok(());
    };
    let counts = batch_counts(db, id).await?;
    // Batches tile the range, so the contiguous succeeded prefix ends where the earliest
    // batch that has not succeeded starts.
    let first_open: Option<DateTime<Utc>> = job::Entity::find()
        .select_only()
        .column_as(job::Column::WindowStart.min(), "first_open")
        .filter(job::Column::BackfillId.eq(id))
        .filter(job::Column::Status.ne(JobStatus::Succeeded.as_str()))
        .into_tuple::<Option<DateTime<Utc>>>()
        .one(db)
        .await?
        .flatten();
    let synced_up_to = match first_open {
        Some(start) if start > row.range_start => Some(start),
        Some(_) => None,
        None => Some(row.range_end),
    };
    let current: BackfillStatus = row.status.parse().unwrap_or(BackfillStatus::Running);
    let total = row.batches_total as i64;
    let status = if matches!(current, BackfillStatus::Paused | BackfillStatus::Canceled) {
        current
    } else if counts.succeeded == total {
        BackfillStatus::Completed
    } else if counts.pending + counts.in_flight == 0 && counts.failed > 0 {
        BackfillStatus::Failed
    } else if counts.pending == total {
        BackfillStatus::Pending
    } else {
        BackfillStatus::Running
    };
    let finished_at = if status.is_terminal() {
        row.finished_at.or(Some(Utc::now()))
    } else {
        None
    };
    backfill::Entity::update_many()
        .col_expr(backfill::Column::Status, Expr::value(status.as_str()))
        .col_expr(
            backfill::Column::BatchesDone,
            Expr::value(counts.succeeded as i32),
        )
        .col_expr(
            backfill::Column::BatchesFailed,
            Expr::value(counts.failed as i32),
        )
        .col_expr(backfill::Column::SyncedUpTo, Expr::value(synced_up_to))
        .col_expr(backfill::Column::FinishedAt, Expr::value(finished_at))
        .col_expr(backfill::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(backfill::Column::Id.eq(id))
        .exec(db)
        .await?;
    let _ = counts.canceled;
    Ok(())
}

/// Count of a backfill's batch rows (for tests and the status command).
pub async fn batch_rows(db: &impl ConnectionTrait, id: i64) -> Result<u64, Error> {
    Ok(job::Entity::find()
        .filter(job::Column::BackfillId.eq(id))
        .count(db)
        .await?)
}
