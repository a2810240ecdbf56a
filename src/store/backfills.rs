//! Backfill rows: counting batches by status for any number of backfills in one query, and
//! bringing a backfill's counters, frontier and status up to date from its batch rows.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use logwarden_entities::{backfill, job};
use logwarden_jobs::kind::{BackfillStatus, JobStatus};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};

use super::moves::Move;

/// A backfill's batches by status.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BatchCounts {
    pub pending: i64,
    /// Enqueued or processing.
    pub in_flight: i64,
    pub succeeded: i64,
    pub failed: i64,
    pub canceled: i64,
}

impl BatchCounts {
    fn add(&mut self, status: JobStatus, count: i64) {
        match status {
            JobStatus::Pending => self.pending += count,
            JobStatus::Enqueued | JobStatus::Processing => self.in_flight += count,
            JobStatus::Succeeded => self.succeeded += count,
            JobStatus::Failed => self.failed += count,
            JobStatus::Canceled => self.canceled += count,
        }
    }
}

/// The batch counts of every backfill in `ids`, in one grouped query; a backfill without
/// batch rows is absent from the map.
pub async fn batch_counts(
    db: &impl ConnectionTrait,
    ids: &[i64],
) -> Result<HashMap<i64, BatchCounts>, DbErr> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(Option<i64>, JobStatus, i64)> = job::Entity::find()
        .select_only()
        .column(job::Column::BackfillId)
        .column(job::Column::Status)
        .column_as(job::Column::Id.count(), "count")
        .filter(job::Column::BackfillId.is_in(ids.iter().copied()))
        .group_by(job::Column::BackfillId)
        .group_by(job::Column::Status)
        .into_tuple()
        .all(db)
        .await?;
    let mut counts: HashMap<i64, BatchCounts> = HashMap::new();
    for (id, status, count) in rows {
        if let Some(id) = id {
            counts.entry(id).or_default().add(status, count);
        }
    }
    Ok(counts)
}

/// Recomputes a backfill's counters, frontier and status from its batch rows (two indexed
/// queries, so it stays cheap for backfills of many thousand batches). Paused and canceled
/// are the operator's word and are kept. A backfill whose batches all finished, none
/// failed and some were canceled one by one ends `completed_with_gaps`. The write is conditional on the status read here, so
/// a pause or cancel that commits meanwhile is never undone; the next refresh counts again.
pub async fn refresh_backfill(
    db: &impl ConnectionTrait,
    id: i64,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let Some(row) = backfill::Entity::find_by_id(id).one(db).await? else {
        return Ok(());
    };
    let counts = batch_counts(db, &[id])
        .await?
        .remove(&id)
        .unwrap_or_default();
    // Batches tile the range, so the contiguous succeeded prefix ends where the earliest
    // batch that has not succeeded starts.
    let first_open: Option<DateTime<Utc>> = job::Entity::find()
        .select_only()
        .column_as(job::Column::WindowStart.min(), "first_open")
        .filter(job::Column::BackfillId.eq(id))
        .filter(job::Column::Status.ne(JobStatus::Succeeded))
        .into_tuple::<Option<DateTime<Utc>>>()
        .one(db)
        .await?
        .flatten();
    let synced_up_to = match first_open {
        Some(start) if start > row.range_start => Some(start),
        Some(_) => None,
        None => Some(row.range_end),
    };
    let current = row.status;
    let total = row.batches_total as i64;
    let derived = if matches!(current, BackfillStatus::Paused | BackfillStatus::Canceled) {
        current
    } else if counts.succeeded == total {
        BackfillStatus::Completed
    } else if counts.pending + counts.in_flight == 0 && counts.failed > 0 {
        BackfillStatus::Failed
    } else if counts.pending + counts.in_flight == 0 && counts.canceled > 0 {
        BackfillStatus::CompletedWithGaps
    } else if counts.pending == total {
        BackfillStatus::Pending
    } else {
        BackfillStatus::Running
    };
    let counters = [
        (
            backfill::Column::BatchesDone,
            Expr::value(counts.succeeded as i32),
        ),
        (
            backfill::Column::BatchesFailed,
            Expr::value(counts.failed as i32),
        ),
        (backfill::Column::SyncedUpTo, Expr::value(synced_up_to)),
        (backfill::Column::UpdatedAt, Expr::value(now)),
    ];
    if derived != current && current.can_transition_to(derived) {
        let mut update = Move::to(derived, now)
            .from(&[current])
            .filter(backfill::Column::Id.eq(id));
        for (column, value) in counters {
            update = update.set(column, value);
        }
        update.apply(db).await?;
    } else {
        // No move: only the counters change, still guarded by the status read.
        let mut update = backfill::Entity::update_many()
            .filter(backfill::Column::Id.eq(id))
            .filter(backfill::Column::Status.eq(current));
        for (column, value) in counters {
            update = update.col_expr(column, value);
        }
        update.exec(db).await?;
    }
    Ok(())
}
