//! The worker role: takes jobs of one data plane from the transport and runs them. The
//! handler owns the job's whole life in its row (claim, heartbeat, per-attempt timeout, panic
//! catching, retry or failure), because apalis' timeout and panic layers would leave stored
//! status wrong; apalis only delivers the payload and is always told the task is done.

use std::num::NonZeroUsize;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::{Data, WorkerBuilder, WorkerBuilderExt};
use chrono::{DateTime, TimeDelta, Utc};
use futures::FutureExt;
use logwarden_entities::{backfill, integration, integration_error, job, job_attempt};
use logwarden_jobs::checkpoint::{Checkpoint, Progress};
use logwarden_jobs::completeness::CompletenessRecord;
use logwarden_jobs::ingest::{run_ingest_window, IngestReport};
use logwarden_jobs::kind::{AttemptOutcome, BackfillStatus, IntegrationStatus, JobKind, JobStatus};
use logwarden_jobs::payload::{JobPayload, Priority};
use logwarden_jobs::retry::{Backoff, ErrorClass, JobError, RetryDecision};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, TransactionTrait,
};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::app::App;
use crate::infra::queue::Transport;
use crate::infra::ratelimit::{GateFactory, RedisRateLimiter};
use crate::ingest::evaluators::EvaluatorProvider;
use crate::ingest::reevaluate::reevaluate_window;
use crate::ingest::sink::{db_error, DbSink};
use crate::ingest::source::ApiSource;
use crate::service::Services;
use crate::store::clock::{self as db_clock, HostClock};
use crate::store::moves::JobMove;

/// Events per sink transaction.
const CHUNK: usize = 200;
/// Longest a running attempt holds fetched data unstored (and so outside its checkpoint).
const MAX_UNSTORED: Duration = Duration::from_secs(10);

/// What a worker needs to run jobs.
#[derive(Clone)]
pub struct Worker {
    pub services: Services,
    pub transport: Transport,
    /// Unique in the fleet: it marks the rows this worker claims.
    pub name: String,
    /// The fleet-wide request gate of each organisation.
    pub gates: GateFactory,
    /// The fleet-wide limiter behind `gates`, told the live worker count at every heartbeat
    /// so that its fallback while Redis is unreachable takes only this worker's share.
    pub fleet_limiter: Option<RedisRateLimiter>,
    pub evaluators: EvaluatorProvider,
    /// This host's clock, used only for what this process alone looks at: heartbeats, claims,
    /// finishes and retry times are stamped with the database's clock, which the scheduler
    /// compares them with, so a host whose clock is off is neither taken over while alive nor
    /// retried early.
    pub host_clock: HostClock,
    /// Cancelled at shutdown: running jobs are released back to the queue.
    pub shutdown: CancellationToken,
    pub tracker: TaskTracker,
}

/// How one delivery ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    Retrying {
        at: DateTime<Utc>,
    },
    Failed {
        class: String,
    },
    /// Not ours to run: already claimed, canceled, or finished.
    Skipped,
    /// Put back (integration or backfill paused, or shutdown).
    Released,
    /// Stopped because the row was canceled or taken over while running.
    Abandoned,
}

impl Outcome {
    /// The `outcome` label of the worker's jobs counter.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Retrying { .. } => "retrying",
            Self::Failed { .. } => "failed",
            Self::Skipped => "skipped",
            Self::Released => "released",
            Self::Abandoned => "abandoned",
        }
    }
}

enum Run {
    Done(Box<Result<IngestReport, JobError>>),
    Canceled,
    Shutdown,
}

impl Worker {
    /// A worker of `app` named `name` (unique in the fleet), stopping when `shutdown` is
    /// cancelled.
    pub fn new(app: &App, name: String, shutdown: CancellationToken) -> Self {
        Self {
            services: app.services.clone(),
            transport: app.transport.clone(),
            name,
            gates: app.gates.clone(),
            fleet_limiter: app.fleet_limiter.clone(),
            evaluators: app.evaluators.clone(),
            host_clock: HostClock::default(),
            shutdown,
            tracker: TaskTracker::new(),
        }
    }

    /// Handles one delivery of a job, start to finish.
    pub async fn process(&self, payload: JobPayload) -> Outcome {
        let db = &self.services.db;
        let claimed = match db_clock::now(db).await {
            Ok(now) => JobMove::to(JobStatus::Processing, now)
                .from(&[JobStatus::Enqueued])
                .filter(job::Column::Id.eq(payload.job_id))
                .set(
                    job::Column::WorkerName,
                    Expr::value(Some(self.name.clone())),
                )
                .set(job::Column::Attempt, Expr::col(job::Column::Attempt).add(1))
                .apply(db)
                .await
                .map(|claimed| (claimed, now)),
            Err(err) => Err(err),
        };
        let now = match claimed {
            Ok((1, now)) => now,
            Ok(_) => {
                let _ = self.transport.claimed(payload.job_id).await;
                return Outcome::Skipped;
            }
            Err(err) => {
                // This delivery is used up while the row stays enqueued: drop the queued
                // marker so the repair pass pushes the job again.
                tracing::warn!(job = payload.job_id, error = %err, "cannot claim the job");
                if let Err(err) = self.transport.claimed(payload.job_id).await {
                    tracing::warn!(job = payload.job_id, error = %err, "cannot clear the queued marker");
                }
                return Outcome::Skipped;
            }
        };
        if let Err(err) = self.transport.claimed(payload.job_id).await {
            tracing::warn!(job = payload.job_id, error = %err, "cannot clear the queued marker");
        }
        let Ok(Some(row)) = job::Entity::find_by_id(payload.job_id).one(db).await else {
            return Outcome::Skipped;
        };
        match self.should_wait(&row).await {
            Ok(false) => {}
            Ok(true) => return self.release(&row, &Progress::default()).await,
            Err(err) => {
                return self
                    .finish_failure(
                        &row,
                        now,
                        JobError::new(ErrorClass::DatabaseError, err.to_string()),
                        &Progress::default(),
                    )
                    .await
            }
        }

        let cancel = CancellationToken::new();
        let timeout = self.services.settings.job_timeout;
        // An attempt cut short by its timeout loses at most a tenth of it.
        let progress = Arc::new(
            Progress::resume(saved_checkpoint(&row))
                .storing_every((timeout / 10).min(MAX_UNSTORED)),
        );
        let heartbeat = self.spawn_heartbeat(&row, cancel.clone(), progress.clone());
        let work = AssertUnwindSafe(self.ingest(&row, &progress)).catch_unwind();
        let run = tokio::select! {
            result = tokio::time::timeout(timeout, work) => Run::Done(Box::new(match result {
                Ok(Ok(result)) => result,
                Ok(Err(panic)) => Err(JobError::new(ErrorClass::Panic, panic_message(&panic))),
                Err(_) => Err(JobError::new(
                    ErrorClass::TimeoutError,
                    format!("the attempt ran longer than job_timeout ({}s)", timeout.as_secs()),
                )),
            })),
            _ = cancel.cancelled() => Run::Canceled,
            _ = self.shutdown.cancelled() => Run::Shutdown,
        };
        heartbeat.abort();
        match run {
            Run::Done(result) => match *result {
                Ok(report) => self.finish_success(&row, now, report).await,
                Err(err) => self.finish_failure(&row, now, err, &progress).await,
            },
            Run::Canceled => Outcome::Abandoned,
            Run::Shutdown => self.release(&row, &progress).await,
        }
    }

    /// A job of a paused integration or backfill waits in `pending` until it is resumed.
    async fn should_wait(&self, row: &job::Model) -> Result<bool, sea_orm::DbErr> {
        let db = &self.services.db;
        let integration = integration::Entity::find_by_id(row.integration_id)
            .one(db)
            .await?;
        if integration.is_none_or(|i| i.status != IntegrationStatus::Active) {
            return Ok(true);
        }
        if let Some(id) = row.backfill_id {
            let paused = backfill::Entity::find_by_id(id)
                .one(db)
                .await?
                .is_some_and(|b| b.status == BackfillStatus::Paused);
            return Ok(paused);
        }
        Ok(false)
    }

    async fn ingest(
        &self,
        row: &job::Model,
        progress: &Progress,
    ) -> Result<IngestReport, JobError> {
        let db = &self.services.db;
        let integration = integration::Entity::find_by_id(row.integration_id)
            .one(db)
            .await
            .map_err(db_error)?
            .ok_or_else(|| JobError::new(ErrorClass::Internal, "the integration was removed"))?;
        let org = integration
            .organization_uuid
            .clone()
            .unwrap_or_else(|| format!("integration-{}", integration.id));
        let client = self
            .services
            .integration_client(&integration)
            .map_err(|err| JobError::new(ErrorClass::Internal, err.to_string()))?
            .with_gate((self.gates)(&org, Priority::of(row.kind)));
        let evaluator = self.evaluators.for_integration(db, integration.id).await?;
        let sink = DbSink {
            db: db.clone(),
            integration_id: integration.id,
            project_id: integration.project_id,
            policy_set_version: evaluator.version(),
        };
        let window = logwarden_jobs::window::Window {
            start: row.window_start,
            end: row.window_end,
        };
        if row.kind == JobKind::Reevaluate {
            return reevaluate_window(&sink, window, &evaluator).await;
        }
        let report = run_ingest_window(
            window,
            &ApiSource::new(&client),
            &sink,
            &evaluator,
            NonZeroUsize::new(CHUNK).unwrap_or(NonZeroUsize::MIN),
            progress,
        )
        .await;
        if integration.organization_uuid.is_none() {
            // The next job draws on the organisation's budget; failing to learn it now only
            // means trying again after the next job.
            if let Err(err) = self.services.learn_organization(integration.id).await {
                tracing::warn!(integration = integration.id, error = %err, "could not learn the organisation");
            }
        }
        report
    }

    /// Refreshes the row's heartbeat, and its checkpoint when the run got further, so a
    /// takeover after a crash continues from there; cancels the run when the row is no
    /// longer ours (canceled by an operator, or taken over after a stall).
    fn spawn_heartbeat(
        &self,
        row: &job::Model,
        cancel: CancellationToken,
        progress: Arc<Progress>,
    ) -> tokio::task::JoinHandle<()> {
        let db = self.services.db.clone();
        let every = (self.services.settings.orphan_timeout / 4).max(Duration::from_millis(200));
        let (id, name, attempt) = (row.id, self.name.clone(), row.attempt);
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(every);
            interval.tick().await;
            let mut saved = 0;
            loop {
                interval.tick().await;
                let version = progress.version();
                let beat = match db_clock::now(&db).await {
                    Ok(now) => {
                        let mut beat = job::Entity::update_many()
                            .col_expr(job::Column::HeartbeatAt, Expr::value(Some(now)));
                        if version != saved {
                            beat = beat.col_expr(
                                job::Column::Checkpoint,
                                Expr::value(checkpoint_json(&progress.snapshot())),
                            );
                        }
                        beat.filter(job::Column::Id.eq(id))
                            .filter(job::Column::WorkerName.eq(name.clone()))
                            .filter(job::Column::Attempt.eq(attempt))
                            .filter(job::Column::Status.eq(JobStatus::Processing))
                            .exec(&db)
                            .await
                    }
                    Err(err) => Err(err),
                };
                match beat {
                    Ok(result) if result.rows_affected == 0 => {
                        cancel.cancel();
                        return;
                    }
                    Ok(_) => saved = version,
                    // The database is away: keep trying; a takeover may follow.
                    Err(err) => tracing::warn!(job = id, error = %err, "heartbeat failed"),
                }
            }
        })
    }

    /// A move of this worker's attempt at `row` out of `processing`: the row must still be
    /// processing, by this worker, for this attempt.
    fn finish(row: &job::Model, name: &str, to: JobStatus, now: DateTime<Utc>) -> JobMove {
        JobMove::to(to, now).from(&[JobStatus::Processing]).filter(
            job::Column::Id
                .eq(row.id)
                .and(job::Column::WorkerName.eq(name))
                .and(job::Column::Attempt.eq(row.attempt)),
        )
    }

    async fn finish_success(
        &self,
        row: &job::Model,
        started: DateTime<Utc>,
        report: IngestReport,
    ) -> Outcome {
        let result = with_db_retries(|| self.record_success(row, started, &report)).await;
        match result {
            // The backfill's counters and status follow at the scheduler's next pump pass:
            // refreshing them here would make every batch of a backfill count all of its
            // rows and queue on its one row.
            Ok(true) => {
                crate::infra::metrics::global().worker_events_ingested(report.events);
                Outcome::Succeeded
            }
            Ok(false) => Outcome::Abandoned,
            Err(err) => {
                tracing::warn!(job = row.id, error = %err, "cannot record success; the job will be taken over");
                Outcome::Abandoned
            }
        }
    }

    async fn record_success(
        &self,
        row: &job::Model,
        started: DateTime<Utc>,
        report: &IngestReport,
    ) -> Result<bool, sea_orm::DbErr> {
        let now = db_clock::now(&self.services.db).await?;
        let txn = self.services.db.begin().await?;
        let c: &CompletenessRecord = &report.completeness;
        let cursors = |pick: fn(&logwarden_jobs::completeness::CursorSpan) -> &Option<String>| {
            serde_json::json!({"activities": pick(&c.activities), "chats": pick(&c.chats)})
                .to_string()
        };
        let updated = Self::finish(row, &self.name, JobStatus::Succeeded, now)
            .set(job::Column::LastError, Expr::value(Option::<String>::None))
            .set(
                job::Column::LastErrorClass,
                Expr::value(Option::<String>::None),
            )
            .set(
                job::Column::PolicySetVersion,
                Expr::value(report.policy_set_version),
            )
            .set(job::Column::Pages, Expr::value(report.pages as i64))
            .set(job::Column::Requests, Expr::value(report.requests as i64))
            .set(job::Column::Chats, Expr::value(report.chats as i64))
            .set(job::Column::Messages, Expr::value(report.messages as i64))
            .set(job::Column::Events, Expr::value(report.events as i64))
            .set(
                job::Column::AccessEvents,
                Expr::value(report.access_events as i64),
            )
            .set(
                job::Column::Violations,
                Expr::value(report.violations as i64),
            )
            .set(job::Column::Alerts, Expr::value(report.alerts as i64))
            .set(
                job::Column::StartCursor,
                Expr::value(Some(cursors(|s| &s.start_cursor))),
            )
            .set(
                job::Column::TerminalCursor,
                Expr::value(Some(cursors(|s| &s.terminal_cursor))),
            )
            .set(
                job::Column::FinalRequestId,
                Expr::value(c.final_request_id.clone()),
            )
            .set(
                job::Column::ContentHash,
                Expr::value(Some(c.content_hash.clone())),
            )
            .set(job::Column::Checkpoint, Expr::value(Option::<String>::None))
            .set(job::Column::Skipped, Expr::value(json_list(&c.skipped)))
            .set(
                job::Column::Quarantined,
                Expr::value(json_list(&c.quarantined)),
            )
            .apply(&txn)
            .await?;
        if updated == 0 {
            txn.rollback().await?;
            return Ok(false);
        }
        if row.kind == JobKind::Sync {
            integration::Entity::update_many()
                .col_expr(
                    integration::Column::SyncWatermark,
                    Expr::value(Some(row.window_end)),
                )
                .filter(integration::Column::Id.eq(row.integration_id))
                .filter(
                    integration::Column::SyncWatermark
                        .is_null()
                        .or(integration::Column::SyncWatermark.lt(row.window_end)),
                )
                .exec(&txn)
                .await?;
        }
        let mut update = integration::Entity::update_many()
            .col_expr(integration::Column::LastSyncedAt, Expr::value(Some(now)));
        if row.kind == JobKind::Sync {
            // Only a sync clears the integration's newest error: a backfill batch that
            // succeeds says nothing about a sync that keeps failing.
            update = update
                .col_expr(
                    integration::Column::LastSyncSucceededAt,
                    Expr::value(Some(now)),
                )
                .col_expr(integration::Column::SyncFailures, Expr::value(0))
                .col_expr(
                    integration::Column::LastError,
                    Expr::value(Option::<String>::None),
                )
                .col_expr(
                    integration::Column::LastErrorClass,
                    Expr::value(Option::<String>::None),
                );
        }
        update
            .filter(integration::Column::Id.eq(row.integration_id))
            .exec(&txn)
            .await?;
        integration_error::Entity::delete_many()
            .filter(integration_error::Column::IntegrationId.eq(row.integration_id))
            .filter(integration_error::Column::Kind.eq(row.kind))
            .exec(&txn)
            .await?;
        self.attempt_row(&txn, row, (started, now), AttemptOutcome::Succeeded, None)
            .await?;
        txn.commit().await?;
        Ok(true)
    }

    async fn finish_failure(
        &self,
        row: &job::Model,
        started: DateTime<Utc>,
        err: JobError,
        progress: &Progress,
    ) -> Outcome {
        let settings = &self.services.settings;
        let backoff = Backoff {
            base: settings.retry_base,
            cap: settings.retry_cap,
        };
        let decision = backoff.decide(
            &err,
            Ord::max(row.attempt, 1) as u32,
            Ord::max(row.max_attempts, 1) as u32,
            &mut rand::rng(),
        );
        let checkpoint = changed_checkpoint(progress);
        let result = with_db_retries(|| {
            self.record_failure(row, started, &err, decision, checkpoint.clone())
        })
        .await;
        match (result, decision) {
            (Ok(true), RetryDecision::Retry { after }) => Outcome::Retrying {
                at: self.host_clock.now() + TimeDelta::from_std(after).unwrap_or_default(),
            },
            (Ok(true), RetryDecision::Fail { .. }) => Outcome::Failed {
                class: err.class.as_str().to_owned(),
            },
            (Ok(false), _) => Outcome::Abandoned,
            (Err(db), _) => {
                tracing::warn!(job = row.id, error = %db, "cannot record the failure; the job will be taken over");
                Outcome::Abandoned
            }
        }
    }

    async fn record_failure(
        &self,
        row: &job::Model,
        started: DateTime<Utc>,
        err: &JobError,
        decision: RetryDecision,
        checkpoint: Option<String>,
    ) -> Result<bool, sea_orm::DbErr> {
        let now = db_clock::now(&self.services.db).await?;
        let txn = self.services.db.begin().await?;
        let (status, next_at, outcome) = match decision {
            RetryDecision::Retry { after } => (
                JobStatus::Pending,
                Some(now + TimeDelta::from_std(after).unwrap_or_default()),
                AttemptOutcome::Retry,
            ),
            RetryDecision::Fail { .. } => (JobStatus::Failed, None, AttemptOutcome::Failed),
        };
        let mut update = Self::finish(row, &self.name, status, now);
        if let Some(checkpoint) = checkpoint {
            // The next attempt, or an operator's retry, continues from here.
            update = update.set(job::Column::Checkpoint, Expr::value(Some(checkpoint)));
        }
        let updated = update
            .set(job::Column::NextAttemptAt, Expr::value(next_at))
            .set(
                job::Column::LastError,
                Expr::value(Some(err.message.clone())),
            )
            .set(
                job::Column::LastErrorClass,
                Expr::value(Some(err.class.as_str().to_owned())),
            )
            .apply(&txn)
            .await?;
        if updated == 0 {
            txn.rollback().await?;
            return Ok(false);
        }
        let mut update = integration::Entity::update_many()
            .col_expr(
                integration::Column::LastError,
                Expr::value(Some(err.message.clone())),
            )
            .col_expr(
                integration::Column::LastErrorClass,
                Expr::value(Some(err.class.as_str().to_owned())),
            );
        if row.kind == JobKind::Sync {
            update = update.col_expr(
                integration::Column::SyncFailures,
                Expr::col(integration::Column::SyncFailures).add(1),
            );
        }
        update
            .filter(integration::Column::Id.eq(row.integration_id))
            .exec(&txn)
            .await?;
        integration_error::Entity::insert(integration_error::ActiveModel {
            integration_id: Set(row.integration_id),
            kind: Set(row.kind),
            class: Set(err.class.as_str().to_owned()),
            message: Set(err.message.clone()),
            is_final: Set(matches!(decision, RetryDecision::Fail { .. })),
            at: Set(now),
            ..Default::default()
        })
        .on_conflict(
            OnConflict::columns([
                integration_error::Column::IntegrationId,
                integration_error::Column::Kind,
            ])
            .update_columns([
                integration_error::Column::Class,
                integration_error::Column::Message,
                integration_error::Column::IsFinal,
                integration_error::Column::At,
            ])
            .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
        self.attempt_row(&txn, row, (started, now), outcome, Some(err))
            .await?;
        txn.commit().await?;
        Ok(true)
    }

    /// Gives the job back without spending an attempt: it waits as `pending` and the pump
    /// re-queues it when it may run.
    async fn release(&self, row: &job::Model, progress: &Progress) -> Outcome {
        let db = &self.services.db;
        let released = match db_clock::now(db).await {
            Ok(now) => {
                let mut release = Self::finish(row, &self.name, JobStatus::Pending, now);
                if let Some(checkpoint) = changed_checkpoint(progress) {
                    release = release.set(job::Column::Checkpoint, Expr::value(Some(checkpoint)));
                }
                release
                    .set(job::Column::Attempt, Expr::col(job::Column::Attempt).sub(1))
                    .set(job::Column::WorkerName, Expr::value(Option::<String>::None))
                    .apply(db)
                    .await
            }
            Err(err) => Err(err),
        };
        match released {
            Ok(_) => Outcome::Released,
            Err(err) => {
                tracing::warn!(job = row.id, error = %err, "cannot release the job; it will be taken over");
                Outcome::Abandoned
            }
        }
    }

    async fn attempt_row(
        &self,
        db: &impl ConnectionTrait,
        row: &job::Model,
        (started, finished): (DateTime<Utc>, DateTime<Utc>),
        outcome: AttemptOutcome,
        err: Option<&JobError>,
    ) -> Result<(), sea_orm::DbErr> {
        job_attempt::Entity::insert(job_attempt::ActiveModel {
            job_id: Set(row.id),
            attempt: Set(row.attempt),
            worker_name: Set(self.name.clone()),
            outcome: Set(outcome),
            error_class: Set(err.map(|e| e.class.as_str().to_owned())),
            error_message: Set(err.map(|e| e.message.clone())),
            started_at: Set(started),
            finished_at: Set(finished),
            ..Default::default()
        })
        .exec_without_returning(db)
        .await?;
        Ok(())
    }

    /// Runs apalis workers for the plane's two queues until shutdown, restarting a worker
    /// whose stream ended (apalis ends it on a fetch error). Sync jobs have their own slots so
    /// a backfill never delays them.
    pub async fn run(self, plane: &str, concurrency: usize) -> anyhow::Result<()> {
        let beating = {
            let worker = self.clone();
            let plane = plane.to_owned();
            tokio::spawn(async move { worker.beat_until_shutdown(&plane).await })
        };
        let mut lanes = Vec::new();
        for (priority, slots) in [
            (Priority::Sync, concurrency.div_ceil(2).max(1)),
            (Priority::Backfill, concurrency.max(1)),
        ] {
            let worker = self.clone();
            let plane = plane.to_owned();
            lanes.push(tokio::spawn(async move {
                worker.run_lane(&plane, priority, slots).await
            }));
        }
        for lane in lanes {
            lane.await??;
        }
        self.tracker.close();
        self.tracker.wait().await;
        beating.await?;
        Ok(())
    }

    /// Records this worker's heartbeat, on the database's clock, every quarter of the orphan
    /// timeout until shutdown; returns the number of live workers it counted.
    pub async fn beat(&self, plane: &str) -> Result<u32, sea_orm::DbErr> {
        let live_within = TimeDelta::from_std(self.services.settings.orphan_timeout)
            .unwrap_or(TimeDelta::minutes(2));
        let live =
            crate::store::workers::beat(&self.services.db, &self.name, plane, live_within).await?;
        if let Some(limiter) = &self.fleet_limiter {
            limiter.report_live_workers(live);
        }
        Ok(live)
    }

    async fn beat_until_shutdown(&self, plane: &str) {
        let every = (self.services.settings.orphan_timeout / 4).max(Duration::from_millis(200));
        let mut interval = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => break,
                _ = interval.tick() => {
                    if let Err(err) = self.beat(plane).await {
                        // The limiter keeps the last count; the admit script counts too.
                        tracing::warn!(error = %err, "cannot record the worker's heartbeat");
                    }
                }
            }
        }
        if let Err(err) = crate::store::workers::remove(&self.services.db, &self.name).await {
            tracing::warn!(error = %err, "cannot remove the worker's heartbeat");
        }
    }

    async fn run_lane(&self, plane: &str, priority: Priority, slots: usize) -> anyhow::Result<()> {
        let mut generation = 0u32;
        while !self.shutdown.is_cancelled() {
            generation += 1;
            let name = format!("{}-{priority}-{generation}", self.name);
            let stop = self.shutdown.clone();
            let signal = async move {
                stop.cancelled().await;
                Ok::<(), std::io::Error>(())
            };
            let result = match &self.transport {
                Transport::Redis(redis) => {
                    WorkerBuilder::new(name)
                        .backend(redis.consumer(plane, priority, slots))
                        .concurrency(slots)
                        .data(self.clone())
                        .build(handle)
                        .run_until(signal)
                        .await
                }
                Transport::Memory(memory) => {
                    let Some(storage) = memory.take_storage(plane, priority) else {
                        anyhow::bail!(
                            "the in-process queue of data plane {plane:?} already has a consumer"
                        );
                    };
                    WorkerBuilder::new(name)
                        .backend(storage)
                        .concurrency(slots)
                        .data(self.clone())
                        .build(handle)
                        .run_until(signal)
                        .await
                }
            };
            if self.shutdown.is_cancelled() {
                break;
            }
            match result {
                Ok(()) => {
                    tracing::warn!(%priority, "the queue stream ended; restarting the worker")
                }
                Err(err) => {
                    tracing::warn!(%priority, error = %err, "the worker stopped; restarting it")
                }
            }
            if matches!(self.transport, Transport::Memory(_)) {
                break;
            }
            tokio::select! {
                _ = self.shutdown.cancelled() => break,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
        Ok(())
    }
}

/// The apalis handler: runs the job on the tracker (so shutdown waits for it) and always
/// reports success to apalis — the row holds the real outcome and drives retries.
async fn handle(
    payload: JobPayload,
    worker: Data<Worker>,
) -> Result<(), apalis::prelude::BoxDynError> {
    let worker = (*worker).clone();
    let (id, kind) = (payload.job_id, payload.kind);
    let outcome = worker
        .tracker
        .clone()
        .spawn(async move { worker.process(payload).await })
        .await;
    match outcome {
        Ok(outcome) => {
            crate::infra::metrics::global().worker_job(kind.as_str(), outcome.label());
            tracing::info!(job = id, ?outcome, "job delivery handled")
        }
        Err(err) => tracing::error!(job = id, error = %err, "job task failed"),
    }
    Ok(())
}

/// Retries a database write a few times (1 s, 2 s, 4 s) so that a short outage does not cost
/// an attempt; a longer one leaves the row to the takeover pass.
async fn with_db_retries<F, Fut, T>(mut write: F) -> Result<T, sea_orm::DbErr>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, sea_orm::DbErr>>,
{
    let mut delay = Duration::from_secs(1);
    for _ in 0..3 {
        match write().await {
            Ok(value) => return Ok(value),
            Err(err) => {
                tracing::warn!(error = %err, "database write failed; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
    }
    write().await
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    format!(
        "the job panicked: {}",
        logwarden_jobs::ingest::panic_message(panic.as_ref())
    )
}

/// The checkpoint a job's row holds; a row without one, or with one this version cannot
/// read, starts its window afresh.
fn saved_checkpoint(row: &job::Model) -> Checkpoint {
    let Some(text) = row.checkpoint.as_deref() else {
        return Checkpoint::default();
    };
    serde_json::from_str(text).unwrap_or_else(|err| {
        tracing::warn!(job = row.id, error = %err, "unreadable checkpoint; the window starts afresh");
        Checkpoint::default()
    })
}

fn checkpoint_json(checkpoint: &Checkpoint) -> Option<String> {
    serde_json::to_string(checkpoint).ok()
}

/// The checkpoint to save when this attempt got anywhere; `None` leaves the saved one.
fn changed_checkpoint(progress: &Progress) -> Option<String> {
    (progress.version() > 0)
        .then(|| checkpoint_json(&progress.snapshot()))
        .flatten()
}

/// A JSON array, or `None` for an empty list.
fn json_list<T: serde::Serialize>(items: &[T]) -> Option<String> {
    (!items.is_empty())
        .then(|| serde_json::to_string(items).ok())
        .flatten()
}
