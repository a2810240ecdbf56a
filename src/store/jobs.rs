//! Recording job rows: each once (its unique key), born with the timestamps of its first
//! status. Every later status change is a [`JobMove`](super::moves::JobMove).

use chrono::{DateTime, Utc};
use logwarden_entities::job;
use logwarden_jobs::kind::{JobKind, JobStatus};
use logwarden_jobs::window::Window;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

/// Rows per INSERT statement: stays under PostgreSQL's 65,535 bind parameters.
const INSERT_CHUNK: usize = 500;

/// A job to record.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub kind: JobKind,
    pub integration_id: i64,
    pub backfill_id: Option<i64>,
    pub window: Window,
    /// `pending` (waits for the pump) or `enqueued` (pushed right after recording).
    pub status: JobStatus,
    pub max_attempts: u32,
    /// For re-evaluation: the installed version it applies.
    pub policy_set_version: Option<i32>,
    /// For a sync job: the integration's previous sync job (`None` for its first), which
    /// makes its unique key.
    pub follows: Option<i64>,
}

impl NewJob {
    /// The unique key: (integration, kind, window start), plus the backfill for batches
    /// (two backfills may cover the same hour), and the policy version and the window end for
    /// re-evaluations (each new version may re-evaluate the same range, and two ranges that
    /// start together are two re-evaluations).
    ///
    /// A sync job's key is instead the job it follows, `<integration>:sync:after:<id>`: the
    /// replicas of one tick read the same last job and collapse on its successor, while a
    /// finished job, failed or canceled ones included, never blocks the next. A window start
    /// would not do: a job that fails leaves the watermark, and so the next start, unchanged.
    pub fn dedupe_key(&self) -> String {
        if self.kind == JobKind::Sync {
            return format!(
                "{}:{}:after:{}",
                self.integration_id,
                self.kind,
                self.follows.unwrap_or(0)
            );
        }
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
            key.push_str(&format!(
                ":v{}:e{}",
                self.policy_set_version.unwrap_or(0),
                self.window.end.timestamp()
            ));
        }
        key
    }

    fn into_active(self, now: DateTime<Utc>) -> job::ActiveModel {
        let zero = || Set(0);
        job::ActiveModel {
            dedupe_key: Set(self.dedupe_key()),
            kind: Set(self.kind),
            integration_id: Set(self.integration_id),
            backfill_id: Set(self.backfill_id),
            window_start: Set(self.window.start),
            window_end: Set(self.window.end),
            status: Set(self.status),
            attempt: Set(0),
            max_attempts: Set(self.max_attempts as i32),
            next_attempt_at: Set(None),
            last_error: Set(None),
            last_error_class: Set(None),
            worker_name: Set(None),
            heartbeat_at: Set(None),
            policy_set_version: Set(self.policy_set_version),
            created_at: Set(now),
            // In the insert itself, so no enqueued row is ever without its time.
            enqueued_at: Set((self.status == JobStatus::Enqueued).then_some(now)),
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
            checkpoint: Set(None),
            skipped: Set(None),
            quarantined: Set(None),
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
) -> Result<Option<job::Model>, DbErr> {
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
    job::Entity::find()
        .filter(job::Column::DedupeKey.eq(key))
        .one(db)
        .await
}

/// Inserts many new jobs (a backfill's batches) in multi-row statements; a taken key fails
/// the whole insert, so call it inside the transaction that makes the jobs' owner.
pub async fn insert_all(
    db: &impl ConnectionTrait,
    jobs: &[NewJob],
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    for chunk in jobs.chunks(INSERT_CHUNK) {
        job::Entity::insert_many(chunk.iter().map(|job| job.clone().into_active(now)))
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}
