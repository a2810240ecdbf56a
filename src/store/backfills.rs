//! Backfill rows: batch counts from the counters a trigger keeps on the backfill row, batch
//! rows written page by page, and bringing a backfill's frontier and status up to date.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use logwarden_entities::{backfill, job};
use logwarden_jobs::kind::{BackfillStatus, JobKind, JobStatus};
use logwarden_jobs::window::Window;
use sea_orm::sea_query::{Condition, Expr, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect, TransactionSession,
    TransactionTrait,
};

use super::jobs::{insert_all, NewJob};
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

/// A backfill's batch counts from the counters on its row. Batches whose rows the pump has
/// not written yet count as pending, or as canceled once the backfill is canceled.
pub fn counts_of(row: &backfill::Model) -> BatchCounts {
    let mut counts = BatchCounts {
        pending: row.batches_pending as i64,
        in_flight: row.batches_in_flight as i64,
        succeeded: row.batches_done as i64,
        failed: row.batches_failed as i64,
        canceled: row.batches_canceled as i64,
    };
    let written =
        counts.pending + counts.in_flight + counts.succeeded + counts.failed + counts.canceled;
    let unwritten = (row.batches_total as i64 - written).max(0);
    if row.status == BackfillStatus::Canceled {
        counts.canceled += unwritten;
    } else {
        counts.pending += unwritten;
    }
    counts
}

/// The batch counts of every backfill in `ids`, read from the counters on the backfill rows
/// (one primary-key query whatever the number of batches); an unknown id is absent.
pub async fn batch_counts(
    db: &impl ConnectionTrait,
    ids: &[i64],
) -> Result<HashMap<i64, BatchCounts>, DbErr> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(backfill::Entity::find()
        .filter(backfill::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?
        .iter()
        .map(|row| (row.id, counts_of(row)))
        .collect())
}

/// The batch counts of a backfill recounted from its batch rows (a grouped query over every
/// row): what the counters must always equal; tests and benches compare them.
pub async fn recount_batches(db: &impl ConnectionTrait, id: i64) -> Result<BatchCounts, DbErr> {
    let rows: Vec<(JobStatus, i64)> = job::Entity::find()
        .select_only()
        .column(job::Column::Status)
        .column_as(job::Column::Id.count(), "count")
        .filter(job::Column::BackfillId.eq(id))
        .group_by(job::Column::Status)
        .into_tuple()
        .all(db)
        .await?;
    let mut counts = BatchCounts::default();
    for (status, count) in rows {
        counts.add(status, count);
    }
    Ok(counts)
}

/// Most batch rows one page writes.
pub const BATCH_PAGE: usize = 500;

/// The next page of a backfill's batch windows after `batches_written_until`: empty once
/// every batch row exists. The windows tile the range exactly as
/// [`split_range`](logwarden_jobs::window::split_range) does.
pub fn next_batch_page(row: &backfill::Model, page: usize) -> Vec<Window> {
    let width = TimeDelta::seconds(row.batch_width_seconds.max(1));
    let mut cursor = row.batches_written_until.unwrap_or(row.range_start);
    let mut windows = Vec::new();
    while cursor < row.range_end && windows.len() < page {
        let next = cursor
            .checked_add_signed(width)
            .map_or(row.range_end, |next| next.min(row.range_end));
        windows.push(Window {
            start: cursor,
            end: next,
        });
        cursor = next;
    }
    windows
}

/// The kind of `row`'s batch jobs: a re-evaluation (a policy set version on the row) runs
/// `reevaluate` batches over stored events, any other backfill pulls `backfill_batch`es.
pub fn batch_kind(row: &backfill::Model) -> JobKind {
    if row.policy_set_version.is_some() {
        JobKind::Reevaluate
    } else {
        JobKind::BackfillBatch
    }
}

/// Writes the next page of `row`'s batch rows, `pending`, and moves its
/// `batches_written_until` past them, in one transaction that first claims the page by a
/// conditional update: of two scheduler replicas only one writes it. Returns the rows
/// written (0 when every row exists or another replica took the page).
pub async fn write_batch_page(
    db: &impl TransactionTrait,
    row: &backfill::Model,
    max_attempts: u32,
    now: DateTime<Utc>,
) -> Result<usize, DbErr> {
    let windows = next_batch_page(row, BATCH_PAGE);
    let Some(last) = windows.last() else {
        return Ok(0);
    };
    let txn = db.begin().await?;
    let claimed = backfill::Entity::update_many()
        .col_expr(
            backfill::Column::BatchesWrittenUntil,
            Expr::value(Some(last.end)),
        )
        .filter(backfill::Column::Id.eq(row.id))
        .filter(match row.batches_written_until {
            Some(until) => backfill::Column::BatchesWrittenUntil.eq(until),
            None => backfill::Column::BatchesWrittenUntil.is_null(),
        })
        .exec(&txn)
        .await?;
    if claimed.rows_affected == 0 {
        txn.rollback().await?;
        return Ok(0);
    }
    let jobs: Vec<NewJob> = windows
        .into_iter()
        .map(|window| NewJob {
            follows: None,
            kind: batch_kind(row),
            integration_id: row.integration_id,
            backfill_id: Some(row.id),
            window,
            status: JobStatus::Pending,
            max_attempts,
            policy_set_version: row.policy_set_version,
        })
        .collect();
    insert_all(&txn, &jobs, now).await?;
    txn.commit().await?;
    Ok(jobs.len())
}

/// Brings a backfill's frontier and status up to date; see [`refresh_backfills`].
pub async fn refresh_backfill(
    db: &impl ConnectionTrait,
    id: i64,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let Some(row) = backfill::Entity::find_by_id(id).one(db).await? else {
        return Ok(());
    };
    refresh_backfills(db, &[row], now).await
}

/// The statuses of a batch that has not succeeded.
const NOT_SUCCEEDED: [JobStatus; 5] = [
    JobStatus::Pending,
    JobStatus::Enqueued,
    JobStatus::Processing,
    JobStatus::Failed,
    JobStatus::Canceled,
];

/// The window start of the earliest batch row that has not succeeded, for each of `ids` that
/// has one: one statement whatever the number of backfills, whose per-status subqueries are
/// each one descent of the `(backfill_id, status, window_start)` index, however many batch
/// rows the backfills have.
async fn first_open_rows(
    db: &impl ConnectionTrait,
    ids: &[i64],
) -> Result<HashMap<i64, DateTime<Utc>>, DbErr> {
    // Here only: its `min`/`max` would shadow `Ord`'s elsewhere in this module.
    use sea_orm::sea_query::ExprTrait;
    let mut first = HashMap::new();
    for batch in ids.chunks(1_000) {
        let mut select = backfill::Entity::find()
            .select_only()
            .column(backfill::Column::Id)
            .filter(backfill::Column::Id.is_in(batch.iter().copied()));
        for (n, status) in NOT_SUCCEEDED.into_iter().enumerate() {
            let earliest = Query::select()
                .expr(Expr::col((job::Entity, job::Column::WindowStart)).min())
                .from(job::Entity)
                .and_where(
                    Expr::col((job::Entity, job::Column::BackfillId))
                        .equals((backfill::Entity, backfill::Column::Id)),
                )
                .and_where(Expr::col((job::Entity, job::Column::Status)).eq(Expr::value(status)))
                .to_owned();
            select = select.expr_as(Expr::from(earliest), format!("first_{n}"));
        }
        type Row = (
            i64,
            Option<DateTime<Utc>>,
            Option<DateTime<Utc>>,
            Option<DateTime<Utc>>,
            Option<DateTime<Utc>>,
            Option<DateTime<Utc>>,
        );
        for (id, a, b, c, d, e) in select.into_tuple::<Row>().all(db).await? {
            if let Some(start) = [a, b, c, d, e].into_iter().flatten().min() {
                first.insert(id, start);
            }
        }
    }
    Ok(first)
}

/// Brings the frontier and status of the backfills `rows` (as just read) up to date from the
/// counters on their rows and one indexed query for all of them (the earliest batch not yet
/// succeeded), and records the `progress_seq` each row had, so the pump skips it until a
/// batch changes again. Paused and canceled are the operator's word and are kept. A backfill
/// whose batches all finished, none failed and some were canceled one by one ends
/// `completed_with_gaps`. Each write is conditional on the status read, so a pause or cancel
/// that commits meanwhile is never undone; the next refresh counts again.
pub async fn refresh_backfills(
    db: &impl ConnectionTrait,
    rows: &[backfill::Model],
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let ids: Vec<i64> = rows.iter().map(|row| row.id).collect();
    let first_open_rows = first_open_rows(db, &ids).await?;
    let mut unmoved = Vec::new();
    for row in rows {
        let (derived, synced_up_to) = progress(row, first_open_rows.get(&row.id).copied());
        if derived != row.status && row.status.can_transition_to(derived) {
            Move::to(derived, now)
                .from(&[row.status])
                .filter(backfill::Column::Id.eq(row.id))
                .set(backfill::Column::SyncedUpTo, Expr::value(synced_up_to))
                .set(
                    backfill::Column::RefreshedSeq,
                    Expr::value(row.progress_seq),
                )
                .apply(db)
                .await?;
        } else {
            unmoved.push((row, synced_up_to));
        }
    }
    // No move: only the frontier changes, still guarded by the status read, in one statement
    // per page of backfills rather than one per backfill.
    for page in unmoved.chunks(500) {
        let id_is = |row: &backfill::Model| backfill::Column::Id.eq(row.id);
        let case = |value: &dyn Fn(&backfill::Model, Option<DateTime<Utc>>) -> Expr| {
            let (first, rest) = page.split_first()?;
            let mut case = Expr::case(id_is(first.0), value(first.0, first.1));
            for (row, synced_up_to) in rest {
                case = case.case(id_is(row), value(row, *synced_up_to));
            }
            Some(Into::<Expr>::into(case))
        };
        let (Some(synced_up_to), Some(refreshed_seq)) = (
            case(&|_, synced_up_to| Expr::value(synced_up_to)),
            case(&|row, _| Expr::value(row.progress_seq)),
        ) else {
            continue;
        };
        let guard = page.iter().fold(Condition::any(), |any, (row, _)| {
            any.add(
                Condition::all()
                    .add(backfill::Column::Id.eq(row.id))
                    .add(backfill::Column::Status.eq(row.status)),
            )
        });
        backfill::Entity::update_many()
            .col_expr(backfill::Column::SyncedUpTo, synced_up_to)
            .col_expr(backfill::Column::RefreshedSeq, refreshed_seq)
            .col_expr(backfill::Column::UpdatedAt, Expr::value(now))
            .filter(guard)
            .exec(db)
            .await?;
    }
    Ok(())
}

/// What a backfill's counters and earliest open batch row say: its status (paused and
/// canceled kept) and how far its batches succeeded without a gap.
fn progress(
    row: &backfill::Model,
    first_open_row: Option<DateTime<Utc>>,
) -> (BackfillStatus, Option<DateTime<Utc>>) {
    let counts = counts_of(row);
    // Batches tile the range, so the contiguous succeeded prefix ends where the earliest
    // batch that has not succeeded starts, or where the written rows end.
    let unwritten = row
        .batches_written_until
        .filter(|until| *until < row.range_end);
    let first_open = match (first_open_row, unwritten) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
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
    (derived, synced_up_to)
}
