//! Backfills: recording a range and all its batch jobs at once, the Backfill view's query
//! (progress, filters, cursor pages), and the operator actions cancel, pause, resume and
//! "retry failed batches", each a guarded move of the backfill and its batch rows. Batches
//! wait as `pending` rows; the scheduler feeds them to the queue with flow control.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use logwarden_entities::{backfill, integration, job};
use logwarden_jobs::kind::{BackfillStatus, IntegrationStatus, JobStatus};
use logwarden_jobs::window::{batch_count, validate_backfill_range, SplitError, Window};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};
use serde::{Deserialize, Serialize};

use super::backfill_progress::{eta, paces, percent, Pace};
use super::page::{Cursor, Limit, List, Page};
use super::scope::Scope;
use super::{one_of, Error, Services};
use crate::store::backfills::{batch_counts, refresh_backfill, write_batch_page, BatchCounts};
use crate::store::moves::{JobMove, Move};

/// The most batches one backfill may have (a year of 1-minute batches is about 525,000).
pub const MAX_BATCHES: u64 = 600_000;

/// What `backfill start` takes.
#[derive(Debug, Clone)]
pub struct NewBackfill {
    pub integration_id: i64,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Default: the `backfill_batch_width` setting.
    pub batch_width: Option<Duration>,
    pub created_by: String,
}

/// Filters of the Backfill view, as a query string gives them; the empty query matches
/// every backfill. Pages run newest first.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BackfillQuery {
    pub integration_id: Option<i64>,
    pub status: Option<BackfillStatus>,
    #[serde(default)]
    #[param(value_type = Option<u64>, minimum = 1, maximum = 1000)]
    pub limit: Limit,
    #[param(value_type = Option<String>)]
    pub cursor: Option<Cursor>,
    /// The projects the caller may see (set by the API from the token, never by the query).
    #[serde(skip)]
    pub scope: Scope,
}

/// A backfill with its progress, as the Backfill view shows it; times are RFC 3339 in UTC.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BackfillView {
    pub id: i64,
    pub integration_id: i64,
    pub range_start: DateTime<Utc>,
    pub range_end: DateTime<Utc>,
    pub batch_width_seconds: i64,
    pub status: BackfillStatus,
    pub batches_total: i64,
    pub batches_done: i64,
    pub batches_failed: i64,
    pub batches_in_flight: i64,
    pub batches_pending: i64,
    /// Batches an operator canceled one by one: the gaps of `completed_with_gaps`.
    pub batches_canceled: i64,
    pub synced_up_to: Option<DateTime<Utc>>,
    /// For a re-evaluation of stored events, the installed policy set version it applies;
    /// absent for a backfill that pulls from the API.
    pub policy_set_version: Option<i32>,
    /// Batches finished (succeeded or failed), as a percentage of all batches.
    pub percent: f64,
    /// When its first batch started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it should finish, from the recent batch rate and the rate budget.
    pub eta: Option<DateTime<Utc>>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl BackfillView {
    fn new(row: backfill::Model, counts: BatchCounts, pace: Pace, rate: u32) -> Self {
        let total = row.batches_total as i64;
        let finished = counts.succeeded + counts.failed;
        let running = matches!(
            row.status,
            BackfillStatus::Pending | BackfillStatus::Running
        );
        Self {
            percent: percent(total, finished),
            started_at: pace.started_at,
            eta: running
                .then(|| eta(&pace, counts.pending + counts.in_flight, rate, Utc::now()))
                .flatten(),
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
            batches_canceled: counts.canceled,
            synced_up_to: row.synced_up_to,
            policy_set_version: row.policy_set_version,
            created_by: row.created_by,
            created_at: row.created_at,
            finished_at: row.finished_at,
        }
    }
}

impl Services {
    /// Validates the range and records the backfill with its first page of batch rows in one
    /// transaction: either both exist or neither does. The scheduler's pump writes the
    /// remaining rows page by page; progress counts the unwritten batches as pending.
    pub async fn start_backfill(&self, new: NewBackfill) -> Result<BackfillView, Error> {
        let integration = self.open_integration(new.integration_id).await?;
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
        let row = self
            .record_batched(&integration, range, width, None, new.created_by, now)
            .await?;
        self.backfill(row.id).await
    }

    /// The integration `id`, refused when it is deleted: nothing more is recorded for it.
    pub(super) async fn open_integration(&self, id: i64) -> Result<integration::Model, Error> {
        let integration = self.integration_row(id).await?;
        if integration.status == IntegrationStatus::Deleted {
            return Err(Error::Conflict(format!(
                "integration {:?} is deleted",
                integration.name
            )));
        }
        Ok(integration)
    }

    /// Records a backfill row over `range` in batches of `width` (a re-evaluation when
    /// `policy_set_version` is set) with its first page of batch rows, in one transaction.
    /// The range must be valid already; a range that gives more than [`MAX_BATCHES`] batches
    /// is refused naming `batch_width`.
    pub(super) async fn record_batched(
        &self,
        integration: &integration::Model,
        range: Window,
        width: TimeDelta,
        policy_set_version: Option<i32>,
        created_by: String,
        now: DateTime<Utc>,
    ) -> Result<backfill::Model, Error> {
        let batches = batch_count(range.start, range.end, width)
            .map_err(|err| Error::invalid("range", err.to_string()))?;
        if batches > u128::from(MAX_BATCHES) {
            return Err(Error::invalid(
                "batch_width",
                SplitError::TooManyBatches {
                    width,
                    batches,
                    max_batches: MAX_BATCHES,
                }
                .to_string(),
            ));
        }

        let txn = self.db.begin().await?;
        let row = backfill::Entity::insert(backfill::ActiveModel {
            integration_id: Set(integration.id),
            range_start: Set(range.start),
            range_end: Set(range.end),
            batch_width_seconds: Set(width.num_seconds()),
            status: Set(BackfillStatus::Pending),
            batches_total: Set(batches as i32),
            batches_done: Set(0),
            batches_failed: Set(0),
            synced_up_to: Set(None),
            policy_set_version: Set(policy_set_version),
            created_by: Set(created_by),
            created_at: Set(now),
            updated_at: Set(now),
            finished_at: Set(None),
            ..Default::default()
        })
        .exec_with_returning(&txn)
        .await?;
        // The first page of batch rows now, the rest by the pump page by page, so a long
        // range of narrow batches is recorded as fast as a short one.
        write_batch_page(&txn, &row, self.settings.job_max_attempts, now).await?;
        txn.commit().await?;
        Ok(row)
    }

    pub async fn backfill(&self, id: i64) -> Result<BackfillView, Error> {
        let row = backfill::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or_else(|| Error::not_found("backfill", id))?;
        let counts = batch_counts(&self.db, &[id])
            .await?
            .remove(&id)
            .unwrap_or_default();
        let pace = paces(&self.db, &[id], Utc::now())
            .await?
            .remove(&id)
            .unwrap_or_default();
        Ok(BackfillView::new(
            row,
            counts,
            pace,
            self.settings.rate_limit_per_minute,
        ))
    }

    /// One page of the backfills that match `query`, newest first, with their progress: three
    /// queries whatever the page holds.
    pub async fn list_backfills(&self, query: BackfillQuery) -> Result<Page<BackfillView>, Error> {
        let mut select = backfill::Entity::find()
            .filter(query.scope.on_integration(backfill::Column::IntegrationId));
        if let Some(id) = query.integration_id {
            select = select.filter(backfill::Column::IntegrationId.eq(id));
        }
        if let Some(status) = query.status {
            select = select.filter(backfill::Column::Status.eq(status));
        }
        if let Some(cursor) = &query.cursor {
            select = select.filter(backfill::Column::Id.lt(cursor.key(List::Backfills)?));
        }
        let rows = select
            .order_by_desc(backfill::Column::Id)
            .limit(query.limit.get() + 1)
            .all(&self.db)
            .await?;
        let ids: Vec<i64> = rows.iter().map(|row| row.id).collect();
        let mut counts = batch_counts(&self.db, &ids).await?;
        let mut paces = paces(&self.db, &ids, Utc::now()).await?;
        let rate = self.settings.rate_limit_per_minute;
        Ok(Page::from_rows(
            List::Backfills,
            query.limit,
            rows,
            |row| row.id,
            |row| {
                let batches = counts.remove(&row.id).unwrap_or_default();
                let pace = paces.remove(&row.id).unwrap_or_default();
                BackfillView::new(row, batches, pace, rate)
            },
        ))
    }

    /// Cancels the backfill and every unfinished batch; finished ones and their data stay.
    pub async fn cancel_backfill(&self, id: i64) -> Result<BackfillView, Error> {
        let now = Utc::now();
        let txn = self.db.begin().await?;
        let moved = Move::to(BackfillStatus::Canceled, now)
            .filter(backfill::Column::Id.eq(id))
            .apply(&txn)
            .await?;
        if moved == 0 {
            txn.rollback().await?;
            return Err(self.refused(id, BackfillStatus::Canceled, "canceled").await);
        }
        JobMove::to(JobStatus::Canceled, now)
            .filter(job::Column::BackfillId.eq(id))
            .apply(&txn)
            .await?;
        txn.commit().await?;
        self.backfill(id).await
    }

    /// Stops feeding batches to the queue; batches already running finish.
    pub async fn pause_backfill(&self, id: i64) -> Result<BackfillView, Error> {
        let moved = Move::to(BackfillStatus::Paused, Utc::now())
            .filter(backfill::Column::Id.eq(id))
            .apply(&self.db)
            .await?;
        if moved == 0 {
            return Err(self.refused(id, BackfillStatus::Paused, "paused").await);
        }
        self.backfill(id).await
    }

    pub async fn resume_backfill(&self, id: i64) -> Result<BackfillView, Error> {
        let now = Utc::now();
        let moved = Move::to(BackfillStatus::Running, now)
            .from(&[BackfillStatus::Paused])
            .filter(backfill::Column::Id.eq(id))
            .apply(&self.db)
            .await?;
        if moved == 0 {
            let view = self.backfill(id).await?;
            return Err(Error::Conflict(format!(
                "backfill {id} is {}: only paused backfills can be resumed",
                view.status
            )));
        }
        refresh_backfill(&self.db, id, now).await?;
        self.backfill(id).await
    }

    /// Puts every failed batch back in line with a fresh budget of attempts; a failed
    /// backfill runs again, a paused one stays paused. A canceled backfill's batches stay.
    pub async fn retry_failed_batches(&self, id: i64) -> Result<BackfillView, Error> {
        let now = Utc::now();
        let retryable = Query::select()
            .column(backfill::Column::Id)
            .from(backfill::Entity)
            .and_where(backfill::Column::Id.eq(id))
            .and_where(backfill::Column::Status.is_not_in([
                BackfillStatus::Canceled,
                BackfillStatus::Completed,
                BackfillStatus::CompletedWithGaps,
            ]))
            .to_owned();
        let txn = self.db.begin().await?;
        let retried = JobMove::to(JobStatus::Pending, now)
            .from(&[JobStatus::Failed])
            .filter(
                Condition::all()
                    .add(job::Column::BackfillId.eq(id))
                    .add(job::Column::BackfillId.in_subquery(retryable)),
            )
            .set(
                job::Column::MaxAttempts,
                Expr::col(job::Column::Attempt).add(self.settings.job_max_attempts as i32),
            )
            .set(
                job::Column::NextAttemptAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .apply(&txn)
            .await?;
        if retried == 0 {
            txn.rollback().await?;
            let view = self.backfill(id).await?;
            return Err(Error::Conflict(match view.status {
                BackfillStatus::Canceled
                | BackfillStatus::Completed
                | BackfillStatus::CompletedWithGaps => format!(
                    "backfill {id} is {}: its batches cannot be retried",
                    view.status
                ),
                _ => format!("backfill {id} has no failed batches"),
            }));
        }
        Move::to(BackfillStatus::Running, now)
            .from(&[BackfillStatus::Failed])
            .filter(backfill::Column::Id.eq(id))
            .apply(&txn)
            .await?;
        txn.commit().await?;
        refresh_backfill(&self.db, id, now).await?;
        self.backfill(id).await
    }

    /// The conflict (or not-found) error of a backfill that did not move to `to`.
    async fn refused(&self, id: i64, to: BackfillStatus, done: &str) -> Error {
        match self.backfill(id).await {
            Ok(view) => Error::Conflict(format!(
                "backfill {id} is {}: only {} backfills can be {done}",
                view.status,
                one_of(to.predecessors())
            )),
            Err(err) => err,
        }
    }
}
