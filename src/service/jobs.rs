//! Jobs: creating job rows (deduplicated on their unique key), the Jobs view query, and the
//! operator actions retry and cancel. Every status change is a conditional update on the
//! row's current status, so concurrent schedulers, workers and operators cannot race a job
//! into an illegal state.

use chrono::{DateTime, Utc};
use logwarden_entities::job;
use logwarden_jobs::kind::{JobKind, JobStatus};
use logwarden_jobs::window::Window;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::Serialize;

use super::{Error, Services};

/// A job to record.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub kind: JobKind,
    pub integration_id: i64,
    pub backfill_id: Option<i64>,
    pub window: Window,
    pub status: JobStatus,
    pub max_attempts: u32,
    /// For re-evaluation: the installed version it applies.
    pub policy_set_version: Option<i32>,
}

impl NewJob {
    /// The unique key: (integration, kind, window start), plus the backfill for batches
    /// (two backfills may cover the same hour) and the policy version for re-evaluations
    /// (each new version may re-evaluate the same range).
    pub fn dedupe_key(&self) -> String {
        let mut key = format!(
            "{}:{}:{}",
            self.integration_id,
            self.kind,
            self.window.start.timestamp()
        );
        if let Some(backfill) = self.backfill_id {
            key.push_str(&format!(":b{backfill}"));
        }
        if self.kind == JobKind::Reevaluate {
            key.push_str(&format!(":v{}", self.policy_set_version.unwrap_or(0)));
        }
        key
    }

    pub(crate) fn into_active(self, now: DateTime<Utc>) -> job::ActiveModel {
        let zero = || Set(0);
        job::ActiveModel {
            kind: Set(self.kind.as_str().to_owned()),
            integration_id: Set(self.integration_id),
            backfill_id: Set(self.backfill_id),
            window_start: Set(self.window.start),
            window_end: Set(self.window.end),
            dedupe_key: Set(self.dedupe_key()),
            status: Set(self.status.as_str().to_owned()),
            attempt: Set(0),
            max_attempts: Set(self.max_attempts as i32),
            next_attempt_at: Set(None),
            last_error: Set(None),
            last_error_class: Set(None),
            worker_name: Set(None),
            heartbeat_at: Set(None),
            policy_set_version: Set(self.policy_set_version),
            created_at: Set(now),
            enqueued_at: Set(None),
            started_at: Set(None),
            finished_at: Set(None),
            pages: zero(),
            requests: zero(),
            chats: zero(),
            messages: zero(),
            events: zero(),
            access_events: zero(),
            violations: zero(),
            alerts: zero(),
            start_cursor: Set(None),
            terminal_cursor: Set(None),
            final_request_id: Set(None),
            content_hash: Set(None),
            ..Default::default()
        }
    }
}

/// Inserts `job` unless a job with its unique key exists; returns the new row, or `None` when
/// the key was taken (another scheduler replica recorded it first).
pub async fn insert_unique(
    db: &impl ConnectionTrait,
    job: NewJob,
    now: DateTime<Utc>,
) -> Result<Option<job::Model>, Error> {
    let key = job.dedupe_key();
    let inserted = job::Entity::insert(job.into_active(now))
        .on_conflict(
            OnConflict::column(job::Column::DedupeKey)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    if inserted == 0 {
        return Ok(None);
    }
    Ok(job::Entity::find()
        .filter(job::Column::DedupeKey.eq(key))
        .one(db)
        .await?)
}

/// Filters of the Jobs view; the empty query matches every job.
#[derive(Debug, Clone, Default)]
pub struct JobQuery {
    pub integration_id: Option<i64>,
    pub backfill_id: Option<i64>,
    pub status: Option<JobStatus>,
    pub kind: Option<JobKind>,
    /// Newest first; at most this many (default 100).
    pub limit: Option<u64>,
}

/// A job as operators see it.
#[derive(Debug, Clone, Serialize)]
pub struct JobView {
    pub id: i64,
    pub kind: String,
    pub integration_id: i64,
    pub backfill_id: Option<i64>,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    pub status: String,
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
}

#[derive(Debug, Clone, Serialize)]
pub struct JobErrorView {
    pub class: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, Default, Serialize)]
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

#[derive(Debug, Clone, Default, Serialize)]
pub struct Completeness {
    pub start_cursor: Option<String>,
    pub terminal_cursor: Option<String>,
    pub final_request_id: Option<String>,
    pub content_hash: Option<String>,
}

impl From<job::Model> for JobView {
    fn from(row: job::Model) -> Self {
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
            },
        }
    }
}

impl Services {
    pub async fn list_jobs(&self, query: &JobQuery) -> Result<Vec<JobView>, Error> {
        let mut select = job::Entity::find();
        if let Some(id) = query.integration_id {
            select = select.filter(job::Column::IntegrationId.eq(id));
        }
        if let Some(id) = query.backfill_id {
            select = select.filter(job::Column::BackfillId.eq(id));
        }
        if let Some(status) = query.status {
            select = select.filter(job::Column::Status.eq(status.as_str()));
        }
        if let Some(kind) = query.kind {
            select = select.filter(job::Column::Kind.eq(kind.as_str()));
        }
        let rows = select
            .order_by_desc(job::Column::CreatedAt)
            .order_by_desc(job::Column::Id)
            .limit(query.limit.unwrap_or(100))
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(JobView::from).collect())
    }

    pub async fn job(&self, id: i64) -> Result<JobView, Error> {
        job::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .map(JobView::from)
            .ok_or_else(|| Error::NotFound(format!("job {id} does not exist")))
    }

    /// Puts a failed job back in line with a fresh budget of attempts.
    pub async fn retry_job(&self, id: i64) -> Result<JobView, Error> {
        let current = self.job(id).await?;
        let extra = self.settings.job_max_attempts as i32;
        let updated = job::Entity::update_many()
            .col_expr(
                job::Column::Status,
                Expr::value(JobStatus::Pending.as_str()),
            )
            .col_expr(
                job::Column::MaxAttempts,
                Expr::value(current.attempt + extra),
            )
            .col_expr(
                job::Column::NextAttemptAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(
                job::Column::FinishedAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .filter(job::Column::Id.eq(id))
            .filter(job::Column::Status.eq(JobStatus::Failed.as_str()))
            .exec(&self.db)
            .await?;
        if updated.rows_affected == 0 {
            return Err(Error::Conflict(format!(
                "job {id} is {}: only failed jobs can be retried",
                current.status
            )));
        }
        self.job(id).await
    }

    /// Cancels a job that has not finished. A worker running it stops at its next checkpoint.
    pub async fn cancel_job(&self, id: i64) -> Result<JobView, Error> {
        let current = self.job(id).await?;
        let now = Utc::now();
        let updated = job::Entity::update_many()
            .col_expr(
                job::Column::Status,
                Expr::value(JobStatus::Canceled.as_str()),
            )
            .col_expr(job::Column::FinishedAt, Expr::value(Some(now)))
            .filter(job::Column::Id.eq(id))
            .filter(job::Column::Status.is_in([
                JobStatus::Pending.as_str(),
                JobStatus::Enqueued.as_str(),
                JobStatus::Processing.as_str(),
            ]))
            .exec(&self.db)
            .await?;
        if updated.rows_affected == 0 {
            return Err(Error::Conflict(format!(
                "job {id} is {}: only pending, enqueued or processing jobs can be canceled",
                current.status
            )));
        }
        self.job(id).await
    }
}
