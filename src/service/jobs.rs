//! Jobs: the Jobs view's query (filters and cursor pages) and lookups, and the operator
//! actions retry and cancel. Both actions are guarded moves ([`JobMove`]), so concurrent
//! schedulers, workers and operators cannot race a job into an illegal state.

use chrono::{DateTime, Utc};
use logwarden_entities::job;
use logwarden_jobs::checkpoint::{Checkpoint, QuarantinedEvent, SkippedChat};
use logwarden_jobs::kind::{JobKind, JobStatus};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::{Deserialize, Serialize};

use super::page::{Cursor, Limit, List, Page};
use super::scope::Scope;
use super::{one_of, Error, Services};
use crate::store::moves::JobMove;

/// Filters of the Jobs view, as a query string gives them; the empty query matches every
/// job. Time filters are exclusive: `started_after=T` matches jobs started later than T.
/// Pages run newest first.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct JobQuery {
    pub integration_id: Option<i64>,
    pub backfill_id: Option<i64>,
    pub kind: Option<JobKind>,
    pub status: Option<JobStatus>,
    /// Jobs whose window ends after this time (with `window_to`: overlaps the range).
    pub window_from: Option<DateTime<Utc>>,
    /// Jobs whose window starts before this time.
    pub window_to: Option<DateTime<Utc>>,
    pub enqueued_after: Option<DateTime<Utc>>,
    pub enqueued_before: Option<DateTime<Utc>>,
    pub started_after: Option<DateTime<Utc>>,
    pub started_before: Option<DateTime<Utc>>,
    pub finished_after: Option<DateTime<Utc>>,
    pub finished_before: Option<DateTime<Utc>>,
    #[serde(default)]
    #[param(value_type = Option<u64>, minimum = 1, maximum = 1000)]
    pub limit: Limit,
    #[param(value_type = Option<String>)]
    pub cursor: Option<Cursor>,
    /// The projects the caller may see (set by the API from the token, never by the query).
    #[serde(skip)]
    pub scope: Scope,
}

/// `column > after AND column < before`, refusing a range that cannot match anything.
fn between(
    column: job::Column,
    (after_field, after): (&'static str, Option<DateTime<Utc>>),
    (before_field, before): (&'static str, Option<DateTime<Utc>>),
) -> Result<Condition, Error> {
    if let (Some(after), Some(before)) = (after, before) {
        if after >= before {
            return Err(Error::invalid(
                before_field,
                format!(
                    "{} must be later than {after_field} {}",
                    before.to_rfc3339(),
                    after.to_rfc3339()
                ),
            ));
        }
    }
    let mut condition = Condition::all();
    if let Some(after) = after {
        condition = condition.add(column.gt(after));
    }
    if let Some(before) = before {
        condition = condition.add(column.lt(before));
    }
    Ok(condition)
}

impl JobQuery {
    /// The rows the filters match (without the page), after checking that every range can
    /// match something.
    pub(crate) fn condition(&self) -> Result<Condition, Error> {
        let mut condition = self.scope.on_integration(job::Column::IntegrationId);
        if let Some(id) = self.integration_id {
            condition = condition.add(job::Column::IntegrationId.eq(id));
        }
        if let Some(id) = self.backfill_id {
            condition = condition.add(job::Column::BackfillId.eq(id));
        }
        if let Some(kind) = self.kind {
            condition = condition.add(job::Column::Kind.eq(kind));
        }
        if let Some(status) = self.status {
            condition = condition.add(job::Column::Status.eq(status));
        }
        if let (Some(from), Some(to)) = (self.window_from, self.window_to) {
            if from >= to {
                return Err(Error::invalid(
                    "window_to",
                    format!(
                        "{} must be later than window_from {}",
                        to.to_rfc3339(),
                        from.to_rfc3339()
                    ),
                ));
            }
        }
        if let Some(from) = self.window_from {
            condition = condition.add(job::Column::WindowEnd.gt(from));
        }
        if let Some(to) = self.window_to {
            condition = condition.add(job::Column::WindowStart.lt(to));
        }
        Ok(condition
            .add(between(
                job::Column::EnqueuedAt,
                ("enqueued_after", self.enqueued_after),
                ("enqueued_before", self.enqueued_before),
            )?)
            .add(between(
                job::Column::StartedAt,
                ("started_after", self.started_after),
                ("started_before", self.started_before),
            )?)
            .add(between(
                job::Column::FinishedAt,
                ("finished_after", self.finished_after),
                ("finished_before", self.finished_before),
            )?))
    }
}

/// A job as operators see it; times are RFC 3339 in UTC.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JobView {
    pub id: i64,
    pub kind: JobKind,
    pub integration_id: i64,
    pub backfill_id: Option<i64>,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    pub status: JobStatus,
    pub attempt: i32,
    pub max_attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub error: Option<JobErrorView>,
    pub worker: Option<String>,
    pub policy_set_version: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub enqueued_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub counters: JobCounters,
    pub completeness: Completeness,
    /// `None` once the job succeeded, or before any progress was saved.
    pub checkpoint: Option<CheckpointView>,
}

/// A job's last error: its class (e.g. `rate_limit_error`, `worker_lost`) and message.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JobErrorView {
    pub class: Option<String>,
    pub message: String,
}

/// What a job pulled and stored, over all its attempts: an attempt that continues from a
/// checkpoint adds to what the earlier ones stored.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct JobCounters {
    pub pages: i64,
    pub requests: i64,
    pub chats: i64,
    pub messages: i64,
    pub events: i64,
    pub access_events: i64,
    pub violations: i64,
    pub alerts: i64,
}

/// The completeness record: where the pull started and ended, what it saw, and what it left
/// out.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Completeness {
    pub start_cursor: Option<String>,
    pub terminal_cursor: Option<String>,
    pub final_request_id: Option<String>,
    pub content_hash: Option<String>,
    /// Chats whose messages were gone (404) when fetched, with the reason.
    pub skipped: Vec<SkippedChat>,
    /// Events stored without a verdict because their evaluation panicked, with the message.
    pub quarantined: Vec<QuarantinedEvent>,
}

/// How far the job's attempts got, while it has not succeeded: the next attempt continues
/// from here.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct CheckpointView {
    /// Every page of the activity feed is stored.
    pub activities_done: bool,
    /// Activity records stored.
    pub access_events: u64,
    /// Chats stored (or skipped), which a retry does not fetch again.
    pub chats_done: u64,
    pub events: u64,
    pub requests: u64,
}

/// A JSON list column; an unreadable one reads as empty.
fn json_list<T: serde::de::DeserializeOwned>(column: Option<&str>) -> Vec<T> {
    column
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_default()
}

impl From<job::Model> for JobView {
    fn from(row: job::Model) -> Self {
        let checkpoint = row
            .checkpoint
            .as_deref()
            .and_then(|text| serde_json::from_str::<Checkpoint>(text).ok())
            .map(|c| CheckpointView {
                activities_done: c.activities_done,
                access_events: c.tally.access_events,
                chats_done: c.chats_done.len() as u64,
                events: c.tally.events,
                requests: c.tally.requests,
            });
        Self {
            id: row.id,
            kind: row.kind,
            integration_id: row.integration_id,
            backfill_id: row.backfill_id,
            window_start: row.window_start,
            window_end: row.window_end,
            status: row.status,
            attempt: row.attempt,
            max_attempts: row.max_attempts,
            next_attempt_at: row.next_attempt_at,
            error: row.last_error.map(|message| JobErrorView {
                class: row.last_error_class,
                message,
            }),
            worker: row.worker_name,
            policy_set_version: row.policy_set_version,
            created_at: row.created_at,
            enqueued_at: row.enqueued_at,
            started_at: row.started_at,
            finished_at: row.finished_at,
            counters: JobCounters {
                pages: row.pages,
                requests: row.requests,
                chats: row.chats,
                messages: row.messages,
                events: row.events,
                access_events: row.access_events,
                violations: row.violations,
                alerts: row.alerts,
            },
            completeness: Completeness {
                start_cursor: row.start_cursor,
                terminal_cursor: row.terminal_cursor,
                final_request_id: row.final_request_id,
                content_hash: row.content_hash,
                skipped: json_list(row.skipped.as_deref()),
                quarantined: json_list(row.quarantined.as_deref()),
            },
            checkpoint,
        }
    }
}

/// Failed backfills with a batch back in line run again, as "retry failed batches" makes
/// them: the scheduler feeds and refreshes only pending and running backfills, so a batch
/// retried one by one or in bulk would otherwise wait behind a failed backfill for ever.
async fn revive_backfills(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<(), Error> {
    use logwarden_entities::backfill;
    use logwarden_jobs::kind::BackfillStatus;
    let waiting = sea_orm::sea_query::Query::select()
        .column(job::Column::BackfillId)
        .from(job::Entity)
        .and_where(job::Column::Status.eq(JobStatus::Pending))
        .and_where(job::Column::BackfillId.is_not_null())
        .to_owned();
    crate::store::moves::Move::to(BackfillStatus::Running, now)
        .from(&[BackfillStatus::Failed])
        .filter(backfill::Column::Id.in_subquery(waiting))
        .apply(db)
        .await?;
    Ok(())
}

impl Services {
    /// One page of the jobs that match `query`, newest first.
    pub async fn list_jobs(&self, query: JobQuery) -> Result<Page<JobView>, Error> {
        let mut select = job::Entity::find().filter(query.condition()?);
        if let Some(cursor) = &query.cursor {
            select = select.filter(job::Column::Id.lt(cursor.key(List::Jobs)?));
        }
        let rows = select
            .order_by_desc(job::Column::Id)
            .limit(query.limit.get() + 1)
            .all(&self.db)
            .await?;
        Ok(Page::from_rows(
            List::Jobs,
            query.limit,
            rows,
            |row| row.id,
            JobView::from,
        ))
    }

    /// How many jobs match `query` (its page is ignored).
    pub async fn count_jobs(&self, query: JobQuery) -> Result<u64, Error> {
        Ok(job::Entity::find()
            .filter(query.condition()?)
            .count(&self.db)
            .await?)
    }

    pub async fn job(&self, id: i64) -> Result<JobView, Error> {
        job::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .map(JobView::from)
            .ok_or_else(|| Error::not_found("job", id))
    }

    /// Puts a failed job back in line with a fresh budget of attempts.
    pub async fn retry_job(&self, id: i64) -> Result<JobView, Error> {
        let extra = self.settings.job_max_attempts as i32;
        let now = Utc::now();
        let txn = crate::store::begin_write(&self.db).await?;
        let moved = JobMove::to(JobStatus::Pending, now)
            .from(&[JobStatus::Failed])
            .filter(job::Column::Id.eq(id))
            .set(
                job::Column::MaxAttempts,
                Expr::col(job::Column::Attempt).add(extra),
            )
            .set(
                job::Column::NextAttemptAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .apply(&txn)
            .await?;
        revive_backfills(&txn, now).await?;
        txn.commit().await?;
        let view = self.job(id).await?;
        if moved == 0 {
            return Err(Error::Conflict(format!(
                "job {id} is {}: only failed jobs can be retried",
                view.status
            )));
        }
        Ok(view)
    }

    /// Cancels a job that has not finished. A worker running it stops at its next checkpoint.
    pub async fn cancel_job(&self, id: i64) -> Result<JobView, Error> {
        let moved = JobMove::to(JobStatus::Canceled, Utc::now())
            .filter(job::Column::Id.eq(id))
            .apply(&self.db)
            .await?;
        let view = self.job(id).await?;
        if moved == 0 {
            return Err(Error::Conflict(format!(
                "job {id} is {}: only {} jobs can be canceled",
                view.status,
                one_of(JobStatus::Canceled.predecessors())
            )));
        }
        Ok(view)
    }
}

/// One attempt at a job, with how it ended.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AttemptView {
    pub attempt: i32,
    pub worker: String,
    pub outcome: logwarden_jobs::kind::AttemptOutcome,
    pub error: Option<JobErrorView>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
}

/// A job with every attempt at it, oldest first: the Jobs view's detail.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JobDetailView {
    #[serde(flatten)]
    pub job: JobView,
    pub attempts: Vec<AttemptView>,
}

/// The jobs of one integration by status, for the dashboard's badges.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StatusCounts {
    pub integration_id: i64,
    pub pending: u64,
    pub enqueued: u64,
    pub processing: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub canceled: u64,
}

impl StatusCounts {
    fn add(&mut self, status: JobStatus, count: u64) {
        let slot = match status {
            JobStatus::Pending => &mut self.pending,
            JobStatus::Enqueued => &mut self.enqueued,
            JobStatus::Processing => &mut self.processing,
            JobStatus::Succeeded => &mut self.succeeded,
            JobStatus::Failed => &mut self.failed,
            JobStatus::Canceled => &mut self.canceled,
        };
        *slot += count;
    }
}

impl Services {
    /// A job with its attempts.
    pub async fn job_detail(&self, id: i64) -> Result<JobDetailView, Error> {
        use logwarden_entities::job_attempt;
        let job = self.job(id).await?;
        let attempts = job_attempt::Entity::find()
            .filter(job_attempt::Column::JobId.eq(id))
            .order_by_asc(job_attempt::Column::Attempt)
            .order_by_asc(job_attempt::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|row| AttemptView {
                attempt: row.attempt,
                worker: row.worker_name,
                outcome: row.outcome,
                error: row.error_message.map(|message| JobErrorView {
                    class: row.error_class,
                    message,
                }),
                started_at: row.started_at,
                finished_at: row.finished_at,
            })
            .collect();
        Ok(JobDetailView { job, attempts })
    }

    /// Puts every failed job that matches `query` back in line with a fresh budget of
    /// attempts, in one guarded move; returns how many moved. The page of `query` is ignored.
    pub async fn retry_jobs(&self, query: JobQuery) -> Result<u64, Error> {
        let extra = self.settings.job_max_attempts as i32;
        let now = Utc::now();
        let txn = crate::store::begin_write(&self.db).await?;
        let moved = JobMove::to(JobStatus::Pending, now)
            .from(&[JobStatus::Failed])
            .filter(query.condition()?)
            .set(
                job::Column::MaxAttempts,
                Expr::col(job::Column::Attempt).add(extra),
            )
            .set(
                job::Column::NextAttemptAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .apply(&txn)
            .await?;
        revive_backfills(&txn, now).await?;
        txn.commit().await?;
        Ok(moved)
    }

    /// Cancels every unfinished job that matches `query`; returns how many moved.
    pub async fn cancel_jobs(&self, query: JobQuery) -> Result<u64, Error> {
        Ok(JobMove::to(JobStatus::Canceled, Utc::now())
            .filter(query.condition()?)
            .apply(&self.db)
            .await?)
    }

    /// Jobs that match `query` by status, per integration, in integration id order; an
    /// integration without matching jobs is absent.
    pub async fn job_status_counts(&self, query: JobQuery) -> Result<Vec<StatusCounts>, Error> {
        let rows: Vec<(i64, JobStatus, i64)> = job::Entity::find()
            .select_only()
            .column(job::Column::IntegrationId)
            .column(job::Column::Status)
            .column_as(job::Column::Id.count(), "count")
            .filter(query.condition()?)
            .group_by(job::Column::IntegrationId)
            .group_by(job::Column::Status)
            .into_tuple()
            .all(&self.db)
            .await?;
        let mut counts: std::collections::BTreeMap<i64, StatusCounts> = Default::default();
        for (integration_id, status, count) in rows {
            counts
                .entry(integration_id)
                .or_insert_with(|| StatusCounts {
                    integration_id,
                    ..Default::default()
                })
                .add(status, u64::try_from(count).unwrap_or(0));
        }
        Ok(counts.into_values().collect())
    }
}
