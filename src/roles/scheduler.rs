//! The scheduler role. Every cron tick (apalis-cron) it records one sync job per active
//! integration and pushes it; every few seconds its pump feeds pending jobs (backfill
//! batches, due retries) to the queue with flow control, re-pushes jobs the transport lost,
//! hands jobs whose worker vanished to another worker, and brings every open backfill's
//! progress (synced-up-to, status) up to date from the counters on its row, for the
//! backfills whose batches changed; it also writes backfills' batch rows page by page.
//!
//! Any number of replicas may run: a job row is created once (its unique key) and moved by
//! conditional updates, so replicas can only duplicate a push, which workers absorb.

use std::collections::HashMap;
use std::time::Duration;

use apalis::prelude::{Data, WorkerBuilder};
use apalis_cron::{CronScheduler, Tick};
use chrono::{DateTime, TimeDelta, Utc};
use logwarden_entities::{backfill, data_plane, integration, job, job_attempt};
use logwarden_jobs::kind::{AttemptOutcome, BackfillStatus, IntegrationStatus, JobKind, JobStatus};
use logwarden_jobs::payload::JobPayload;
use logwarden_jobs::window::{next_sync_window, SyncWindowSettings};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use tokio_util::sync::CancellationToken;

use crate::infra::queue::Transport;
use crate::service::{Error, Services};
use crate::store::backfills::{refresh_backfills, write_batch_page};
use crate::store::jobs::{insert_unique, NewJob};
use crate::store::moves::JobMove;

/// An enqueued row older than this and absent from the transport is re-pushed.
const LOST_GRACE: TimeDelta = TimeDelta::seconds(5);
/// Lifetime of a tick's Redis idempotency key: longer than replicas' clock skew, shorter than
/// the tick interval.
const TICK_KEY_TTL: Duration = Duration::from_secs(60);
/// How often the scheduler deletes what Redis keeps of finished tasks.
pub const VACUUM_EVERY: Duration = Duration::from_secs(60);

/// The kinds of job that run alone (a re-evaluation recorded as one job by an older
/// version; one recorded now is a backfill of `reevaluate` batches): fed and repaired first.
const SINGLE_JOBS: &[JobKind] = &[JobKind::Sync, JobKind::Reconcile, JobKind::Reevaluate];

/// The kinds of a backfill's batch jobs: pulled from the API, or re-evaluated from storage.
const BATCH_KINDS: &[JobKind] = &[JobKind::BackfillBatch, JobKind::Reevaluate];

/// Most finished jobs one prune deletes (one prune per [`VACUUM_EVERY`]): retention
/// catches up in many short transactions rather than one long one.
const PRUNE_BATCH: u64 = 500;

/// Most rows one pump pass looks at per step, so one pass stays short.
const PUMP_BATCH: u64 = 1_000;

/// What a tick did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TickReport {
    /// Sync jobs this replica recorded and pushed.
    pub created: usize,
    /// Integrations whose window was already recorded (by another replica or a running job).
    pub already_recorded: usize,
}

/// What a pump pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PumpReport {
    /// Sync jobs recorded to catch up a backlog, one whole window at a time.
    pub caught_up: usize,
    pub enqueued: usize,
    pub repushed_lost: usize,
    pub taken_over: usize,
}

#[derive(Clone)]
pub struct Scheduler {
    pub services: Services,
    pub transport: Transport,
}

impl Scheduler {
    pub fn new(services: Services, transport: Transport) -> Self {
        Self {
            services,
            transport,
        }
    }

    fn window_settings(&self) -> Result<SyncWindowSettings, Error> {
        let s = &self.services.settings;
        let delta = |d: Duration| TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX);
        SyncWindowSettings::new(
            delta(s.sync_lag),
            delta(s.sync_overlap),
            delta(s.initial_lookback),
        )
        .and_then(|settings| settings.with_max_window(delta(s.sync_max_window)))
        .map_err(|err| Error::invalid("sync_lag", err.to_string()))
    }

    /// One tick: a sync job for the next window of every active integration whose last sync
    /// job has finished, however it finished.
    pub async fn tick(&self, now: DateTime<Utc>) -> Result<TickReport, Error> {
        self.record_syncs(now, false).await
    }

    /// Sync jobs for the next windows; with `backlog_only`, only for integrations that have
    /// at least one whole capped window to catch up (the pump's catch-up, between ticks).
    async fn record_syncs(
        &self,
        now: DateTime<Utc>,
        backlog_only: bool,
    ) -> Result<TickReport, Error> {
        let settings = self.window_settings()?;
        let db = &self.services.db;
        let planes = plane_names(db).await?;
        let mut report = TickReport::default();
        // Read before the integrations: a job's success moves the watermark in the same
        // transaction, so a watermark read after it is at least that job's end.
        let last_syncs = last_sync_jobs(db).await?;
        let integrations = integration::Entity::find()
            .filter(integration::Column::Status.eq(IntegrationStatus::Active))
            // Island integrations push their events: nothing to pull.
            .filter(
                integration::Column::Kind
                    .eq(logwarden_jobs::kind::IntegrationKind::AnthropicComplianceApi),
            )
            .all(db)
            .await?;
        for row in integrations {
            let last = last_syncs.get(&row.id);
            if last.is_some_and(|job| !job.status.is_terminal()) {
                // Still waiting, running or retrying: the next window starts where it ends.
                report.already_recorded += 1;
                continue;
            }
            // Catching up continues what a tick started: the last sync succeeded and a whole
            // window is still behind. An integration no tick has synced waits for one.
            if backlog_only
                && !(last.is_some_and(|job| job.status == JobStatus::Succeeded)
                    && row
                        .sync_watermark
                        .is_some_and(|watermark| settings.is_behind(watermark, now)))
            {
                continue;
            }
            let Some(window) = next_sync_window(row.sync_watermark, now, &settings) else {
                continue;
            };
            let new = NewJob {
                kind: JobKind::Sync,
                integration_id: row.id,
                backfill_id: None,
                window,
                status: JobStatus::Enqueued,
                max_attempts: self.services.settings.job_max_attempts,
                policy_set_version: None,
                follows: last.map(|job| job.id),
            };
            // Replicas ticking together: the first to take the window's key records it; the
            // key expires well before the next tick, and the unique key stays the real guard.
            match self
                .transport
                .claim_once(&new.dedupe_key(), TICK_KEY_TTL)
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    report.already_recorded += 1;
                    continue;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "idempotency key unavailable; relying on the jobs unique key")
                }
            }
            match insert_unique(db, new, now).await? {
                Some(created) => {
                    let plane = planes.get(&row.data_plane_id).cloned().unwrap_or_default();
                    // A failed push leaves the row enqueued; the repair pass re-pushes it.
                    if let Err(err) = self.transport.push(&plane, &payload(&created)).await {
                        tracing::warn!(job = created.id, error = %err, "push failed; the repair pass will retry it");
                    }
                    report.created += 1;
                }
                None => report.already_recorded += 1,
            }
        }
        Ok(report)
    }

    /// One pump pass: takeovers, lost jobs, then pending jobs under flow control.
    pub async fn pump(&self, now: DateTime<Utc>) -> Result<PumpReport, Error> {
        let mut step = std::time::Instant::now();
        let mut lap = || {
            let ms = step.elapsed().as_secs_f64() * 1000.0;
            step = std::time::Instant::now();
            ms
        };
        let mut report = PumpReport {
            taken_over: self
                .take_over_orphans(now, now - self.orphan_timeout())
                .await?,
            ..Default::default()
        };
        let orphans_ms = lap();
        report.repushed_lost = self.repush_lost(now).await?;
        let repair_ms = lap();
        report.caught_up = self.record_syncs(now, true).await?.created;
        let catch_up_ms = lap();
        report.enqueued = self.feed_pending(now).await?;
        let feed_ms = lap();
        self.refresh_open_backfills(now).await?;
        let refresh_ms = lap();
        tracing::debug!(
            orphans_ms,
            repair_ms,
            catch_up_ms,
            feed_ms,
            refresh_ms,
            enqueued = report.enqueued,
            "pump pass"
        );
        Ok(report)
    }

    /// Pending jobs go to the queue: sync-like jobs at once, backfill batches while their
    /// backfill and their integration are under the in-flight limits.
    async fn feed_pending(&self, now: DateTime<Utc>) -> Result<usize, Error> {
        let db = &self.services.db;
        let settings = &self.services.settings;
        let planes = plane_names(db).await?;
        let integrations: HashMap<i64, integration::Model> = integration::Entity::find()
            .filter(integration::Column::Status.eq(IntegrationStatus::Active))
            // Island integrations push their events: nothing to pull.
            .filter(
                integration::Column::Kind
                    .eq(logwarden_jobs::kind::IntegrationKind::AnthropicComplianceApi),
            )
            .all(db)
            .await?
            .into_iter()
            .map(|row| (row.id, row))
            .collect();
        if integrations.is_empty() {
            return Ok(0);
        }
        let in_flight = |column: job::Column| {
            job::Entity::find()
                .select_only()
                .column(column)
                .column_as(job::Column::Id.count(), "n")
                .filter(job::Column::Status.is_in([JobStatus::Enqueued, JobStatus::Processing]))
                .filter(job::Column::Kind.is_in(BATCH_KINDS.iter().copied()))
                .filter(job::Column::BackfillId.is_not_null())
                .group_by(column)
        };
        let mut per_integration: HashMap<i64, i64> = in_flight(job::Column::IntegrationId)
            .into_tuple::<(i64, i64)>()
            .all(db)
            .await?
            .into_iter()
            .collect();
        let mut per_backfill: HashMap<i64, i64> = in_flight(job::Column::BackfillId)
            .into_tuple::<(Option<i64>, i64)>()
            .all(db)
            .await?
            .into_iter()
            .filter_map(|(id, n)| id.map(|id| (id, n)))
            .collect();

        let due = job::Column::NextAttemptAt
            .is_null()
            .or(job::Column::NextAttemptAt.lte(now));
        let mut candidates = job::Entity::find()
            .filter(job::Column::Status.eq(JobStatus::Pending))
            // An IN list, not `<> backfill_batch`: (status, kind) index ranges that skip the
            // backfills' pending batches, however many there are.
            .filter(job::Column::Kind.is_in(SINGLE_JOBS.iter().copied()))
            // A re-evaluation's batches wait for flow control like a backfill's.
            .filter(job::Column::BackfillId.is_null())
            .filter(due)
            .filter(job::Column::IntegrationId.is_in(integrations.keys().copied()))
            .order_by_asc(job::Column::Id)
            .limit(PUMP_BATCH)
            .all(db)
            .await?;
        let open_backfills = backfill::Entity::find()
            .filter(
                backfill::Column::Status.is_in([BackfillStatus::Pending, BackfillStatus::Running]),
            )
            .filter(backfill::Column::IntegrationId.is_in(integrations.keys().copied()))
            .order_by_asc(backfill::Column::Id)
            .all(db)
            .await?;
        let per_backfill_cap = settings.backfill_max_in_flight as i64;
        let per_org_cap = settings.org_max_in_flight as i64;
        // How many batches each backfill with room may take, from the counters: the rows are
        // then read in one statement for all of them, not one query per backfill.
        let mut wanted = Vec::new();
        for open in open_backfills {
            let used_backfill = per_backfill.get(&open.id).copied().unwrap_or(0);
            let used_org = per_integration
                .get(&open.integration_id)
                .copied()
                .unwrap_or(0);
            let room = std::cmp::min(per_backfill_cap - used_backfill, per_org_cap - used_org);
            if room <= 0 {
                continue;
            }
            // Batch rows are written page by page: the next page once fewer rows wait than
            // the backfill may have in flight.
            let mut waiting = open.batches_pending as i64;
            if waiting < per_backfill_cap {
                waiting +=
                    write_batch_page(db, &open, settings.job_max_attempts, now).await? as i64;
            }
            let take = std::cmp::min(room, waiting);
            if take <= 0 {
                continue;
            }
            *per_backfill.entry(open.id).or_default() += take;
            *per_integration.entry(open.integration_id).or_default() += take;
            wanted.push((open.id, take as u64));
        }
        candidates.extend(next_pending_batches(db, &wanted, now).await?);

        // One conditional update per page of candidates, not one per job; the rows another
        // replica moved first are not returned, so not pushed twice.
        let position: HashMap<i64, usize> = candidates
            .iter()
            .enumerate()
            .map(|(at, row)| (row.id, at))
            .collect();
        let mut enqueued = 0;
        for page in candidates.chunks(PUMP_BATCH as usize) {
            let mut moved = JobMove::to(JobStatus::Enqueued, now)
                .from(&[JobStatus::Pending])
                .filter(job::Column::Id.is_in(page.iter().map(|row| row.id)))
                .apply_returning(db)
                .await?;
            // In the order they were picked: syncs first, then batches in window order.
            moved.sort_by_key(|row| position.get(&row.id).copied());
            for row in moved {
                let plane = integrations
                    .get(&row.integration_id)
                    .and_then(|i| planes.get(&i.data_plane_id))
                    .cloned()
                    .unwrap_or_default();
                if let Err(err) = self.transport.push(&plane, &payload(&row)).await {
                    tracing::warn!(job = row.id, error = %err, "push failed; the repair pass will retry it");
                }
                enqueued += 1;
            }
        }
        Ok(enqueued)
    }

    /// Rows `enqueued` for a while that the transport no longer holds are pushed again; so
    /// are `enqueued` rows without an enqueue time (recorded by an older version in two
    /// statements, the second of which never ran), which no time filter would find. Syncs and
    /// the other single jobs first, then backfill batches, each in pages of [`PUMP_BATCH`]
    /// in id order until none is left: after a Redis flush, a newer sync never waits behind
    /// a backfill's old batches, and no lost row waits for a later pass.
    async fn repush_lost(&self, now: DateTime<Utc>) -> Result<usize, Error> {
        let db = &self.services.db;
        // Read once something is lost: most passes find nothing to push.
        let mut planes = None;
        let mut repushed = 0;
        for kinds in [SINGLE_JOBS, &[JobKind::BackfillBatch]] {
            let mut after = None;
            loop {
                let mut select = job::Entity::find()
                    .filter(job::Column::Status.eq(JobStatus::Enqueued))
                    .filter(job::Column::Kind.is_in(kinds.iter().copied()))
                    .filter(
                        job::Column::EnqueuedAt
                            .is_null()
                            .or(job::Column::EnqueuedAt.lt(now - LOST_GRACE)),
                    );
                if let Some(after) = after {
                    select = select.filter(job::Column::Id.gt(after));
                }
                let rows = select
                    .order_by_asc(job::Column::Id)
                    .limit(PUMP_BATCH)
                    .all(db)
                    .await?;
                let Some(last) = rows.last() else {
                    break;
                };
                after = Some(last.id);
                let full = rows.len() as u64 == PUMP_BATCH;
                let ids: Vec<i64> = rows.iter().map(|row| row.id).collect();
                let queued = match self.transport.queued(&ids).await {
                    Ok(queued) => queued,
                    Err(err) => {
                        tracing::warn!(error = %err, "cannot read the queued markers; repair skipped");
                        return Ok(repushed);
                    }
                };
                for row in rows.into_iter().filter(|row| !queued.contains(&row.id)) {
                    let planes = match &planes {
                        Some(planes) => planes,
                        None => planes.insert(plane_of_integrations(db).await?),
                    };
                    let plane = planes.get(&row.integration_id).cloned().unwrap_or_default();
                    match self.transport.push(&plane, &payload(&row)).await {
                        Ok(()) => {
                            tracing::info!(job = row.id, "re-pushed a job the queue had lost");
                            repushed += 1;
                        }
                        Err(err) => tracing::warn!(job = row.id, error = %err, "re-push failed"),
                    }
                }
                if !full {
                    break;
                }
            }
        }
        Ok(repushed)
    }

    /// Processing rows whose last heartbeat is older than `stale_before` go back to the queue
    /// (or fail when that was their last attempt); the lost attempt is recorded.
    async fn take_over_orphans(
        &self,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> Result<usize, Error> {
        let db = &self.services.db;
        let rows = job::Entity::find()
            .filter(job::Column::Status.eq(JobStatus::Processing))
            .filter(job::Column::HeartbeatAt.lt(stale_before))
            .limit(PUMP_BATCH)
            .all(db)
            .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let planes = plane_of_integrations(db).await?;
        let mut taken = 0;
        for row in rows {
            let exhausted = row.attempt >= row.max_attempts;
            let next = if exhausted {
                JobStatus::Failed
            } else {
                JobStatus::Enqueued
            };
            let message = format!(
                "worker {} stopped sending heartbeats during attempt {}",
                row.worker_name.as_deref().unwrap_or("?"),
                row.attempt
            );
            // Only the attempt that went quiet: not one whose worker beat or finished since.
            let moved = JobMove::to(next, now)
                .from(&[JobStatus::Processing])
                .filter(
                    Condition::all()
                        .add(job::Column::Id.eq(row.id))
                        .add(job::Column::Attempt.eq(row.attempt))
                        .add(job::Column::HeartbeatAt.eq(row.heartbeat_at)),
                )
                .set(job::Column::LastError, Expr::value(Some(message.clone())))
                .set(
                    job::Column::LastErrorClass,
                    Expr::value(Some("worker_lost")),
                )
                .apply(db)
                .await?;
            if moved == 0 {
                continue;
            }
            job_attempt::Entity::insert(job_attempt::ActiveModel {
                job_id: Set(row.id),
                attempt: Set(row.attempt),
                worker_name: Set(row.worker_name.clone().unwrap_or_default()),
                outcome: Set(AttemptOutcome::Abandoned),
                error_class: Set(Some("worker_lost".to_owned())),
                error_message: Set(Some(message)),
                started_at: Set(row.started_at.unwrap_or(now)),
                finished_at: Set(now),
                ..Default::default()
            })
            .exec_without_returning(db)
            .await?;
            if !exhausted {
                let plane = planes.get(&row.integration_id).cloned().unwrap_or_default();
                if let Err(err) = self.transport.push(&plane, &payload(&row)).await {
                    tracing::warn!(job = row.id, error = %err, "push failed; the repair pass will retry it");
                }
            }
            tracing::warn!(job = row.id, "took over a job whose worker vanished");
            taken += 1;
        }
        Ok(taken)
    }

    /// Deletes up to [`PRUNE_BATCH`] finished jobs past their retention (succeeded ones after
    /// `job_retention_succeeded`, failed and canceled ones after `job_retention_failed`) with
    /// their attempts, in one transaction. Kept: backfill batches (they are their
    /// backfill's progress, and go with it) and the newest sync of each integration (the
    /// next sync follows it; without it a paused integration's next sync could take the
    /// key of a first sync still kept).
    pub async fn prune_finished_jobs(&self, now: DateTime<Utc>) -> Result<usize, Error> {
        let settings = &self.services.settings;
        let before = |retention: Duration| {
            now - TimeDelta::from_std(retention).unwrap_or(TimeDelta::MAX / 2)
        };
        let expired = Condition::any()
            .add(
                Condition::all()
                    .add(job::Column::Status.eq(JobStatus::Succeeded))
                    .add(job::Column::FinishedAt.lt(before(settings.job_retention_succeeded))),
            )
            .add(
                Condition::all()
                    .add(job::Column::Status.is_in([JobStatus::Failed, JobStatus::Canceled]))
                    .add(job::Column::FinishedAt.lt(before(settings.job_retention_failed))),
            );
        let db = &self.services.db;
        let ids: Vec<i64> = job::Entity::find()
            .select_only()
            .column(job::Column::Id)
            .filter(expired)
            .filter(job::Column::BackfillId.is_null())
            .filter(job::Column::Id.is_not_in(last_sync_jobs(db).await?.values().map(|row| row.id)))
            .limit(PRUNE_BATCH)
            .into_tuple()
            .all(db)
            .await?;
        if ids.is_empty() {
            return Ok(0);
        }
        let txn = crate::store::begin_write(db).await?;
        job_attempt::Entity::delete_many()
            .filter(job_attempt::Column::JobId.is_in(ids.iter().copied()))
            .exec(&txn)
            .await?;
        let deleted = job::Entity::delete_many()
            .filter(job::Column::Id.is_in(ids.iter().copied()))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(deleted.rows_affected as usize)
    }

    /// For the embedded single-process mode at start: every `processing` row belonged to
    /// this process before it stopped, so it is taken over at once instead of after the
    /// orphan timeout.
    pub async fn recover_embedded(&self) -> Result<usize, Error> {
        let now = self.now().await?;
        self.take_over_orphans(now, now + TimeDelta::seconds(1))
            .await
    }

    /// The database's time: heartbeats are stamped with it, so takeovers compare like with
    /// like, and sync windows end by it, whatever this host's clock says.
    pub async fn now(&self) -> Result<DateTime<Utc>, Error> {
        Ok(crate::store::clock::now(&self.services.db).await?)
    }

    fn orphan_timeout(&self) -> TimeDelta {
        TimeDelta::from_std(self.services.settings.orphan_timeout).unwrap_or(TimeDelta::minutes(2))
    }

    async fn refresh_open_backfills(&self, now: DateTime<Utc>) -> Result<(), Error> {
        // Only the backfills a batch insert, status change or delete touched since the last
        // refresh (the trigger on `jobs` bumps `progress_seq`).
        let open = backfill::Entity::find()
            .filter(
                backfill::Column::Status.is_in([BackfillStatus::Pending, BackfillStatus::Running]),
            )
            .filter(
                Expr::col(backfill::Column::ProgressSeq)
                    .ne(Expr::col(backfill::Column::RefreshedSeq)),
            )
            .all(&self.services.db)
            .await?;
        refresh_backfills(&self.services.db, &open, now).await?;
        Ok(())
    }

    /// Deletes what Redis keeps of finished tasks, on every data plane's queues; returns how
    /// many tasks it removed (none with the in-process transport).
    pub async fn vacuum_queues(&self) -> anyhow::Result<usize> {
        let Some(redis) = self.transport.redis() else {
            return Ok(0);
        };
        let mut removed = 0;
        for plane in plane_names(&self.services.db).await?.values() {
            removed += redis.vacuum(plane).await?;
        }
        Ok(removed)
    }

    /// Runs the scheduler until `shutdown`: the apalis-cron tick worker and the pump loop,
    /// which also vacuums Redis and prunes finished jobs every [`VACUUM_EVERY`].
    pub async fn run(
        self,
        pump_every: Duration,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let schedule: cron::Schedule = self
            .services
            .settings
            .sync_schedule
            .parse()
            .map_err(|err| anyhow::anyhow!("invalid sync_schedule: {err}"))?;
        let name = format!("logwarden-scheduler-{}", uuid::Uuid::new_v4().simple());
        let tick_worker = WorkerBuilder::new(name)
            .backend(CronScheduler::new(schedule))
            .data(self.clone())
            .build(on_tick);
        let pump = {
            let scheduler = self.clone();
            let shutdown = shutdown.clone();
            async move {
                let mut interval = tokio::time::interval(pump_every);
                interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let mut vacuumed = tokio::time::Instant::now();
                loop {
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = interval.tick() => {
                            let pass = match scheduler.now().await {
                                Ok(now) => scheduler.pump(now).await,
                                Err(err) => Err(err),
                            };
                            if let Err(err) = pass {
                                tracing::warn!(error = %err, "pump pass failed; retrying at the next interval");
                            }
                            if vacuumed.elapsed() >= VACUUM_EVERY {
                                vacuumed = tokio::time::Instant::now();
                                match scheduler.vacuum_queues().await {
                                    Ok(removed) => tracing::debug!(removed, "vacuumed finished tasks from Redis"),
                                    Err(err) => tracing::warn!(error = %err, "vacuuming Redis failed; retrying later"),
                                }
                                match scheduler.prune_finished_jobs(Utc::now()).await {
                                    Ok(pruned) => tracing::debug!(pruned, "pruned finished jobs past their retention"),
                                    Err(err) => tracing::warn!(error = %err, "pruning finished jobs failed; retrying later"),
                                }
                            }
                        }
                    }
                }
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => {}
            result = tick_worker.run() => {
                if let Err(err) = result {
                    tracing::error!(error = %err, "the cron worker stopped");
                }
            }
            _ = pump => {}
        }
        Ok(())
    }
}

async fn on_tick(
    _tick: Tick,
    scheduler: Data<Scheduler>,
) -> Result<(), apalis::prelude::BoxDynError> {
    let tick = match scheduler.now().await {
        Ok(now) => scheduler.tick(now).await,
        Err(err) => Err(err),
    };
    match tick {
        Ok(report) => tracing::info!(
            created = report.created,
            already_recorded = report.already_recorded,
            "sync tick"
        ),
        Err(err) => tracing::warn!(error = %err, "sync tick failed"),
    }
    // The next tick retries whatever failed: never let apalis retry a tick.
    Ok(())
}

/// The newest sync job of each integration that has one: one descent of the
/// `(kind, integration_id, id)` index per integration, whatever the number of job rows.
async fn last_sync_jobs(
    db: &sea_orm::DatabaseConnection,
) -> Result<HashMap<i64, job::Model>, Error> {
    let newest = Query::select()
        .expr(Expr::col((job::Entity, job::Column::Id)).max())
        .from(job::Entity)
        .and_where(Expr::col((job::Entity, job::Column::Kind)).eq(Expr::value(JobKind::Sync)))
        .and_where(
            Expr::col((job::Entity, job::Column::IntegrationId))
                .equals((integration::Entity, integration::Column::Id)),
        )
        .to_owned();
    let newest: Vec<Option<i64>> = integration::Entity::find()
        .select_only()
        .expr_as(Expr::from(newest), "id")
        .into_tuple()
        .all(db)
        .await?;
    Ok(job::Entity::find()
        .filter(job::Column::Id.is_in(newest.into_iter().flatten()))
        .all(db)
        .await?
        .into_iter()
        .map(|row| (row.integration_id, row))
        .collect())
}

/// Most backfills one "next pending batches" statement reads on SQLite: a compound select
/// of one member per backfill stays under SQLite's 500 members.
const FEED_BACKFILLS: usize = 100;

/// The next due pending batches of each `(backfill, n)` in `wanted`, up to `n` each in
/// window order, backfills in the order given, each backfill's one descent of the
/// `(backfill_id, status, window_start)` index that stops after `n` rows, however many batch
/// rows there are. PostgreSQL: one statement, a `LATERAL` join over the list (a `UNION ALL`
/// of 50 members took 12-40 ms to plan on the bench's data under `EXPLAIN ANALYZE`, this
/// under 1 ms). SQLite: one `UNION ALL` per [`FEED_BACKFILLS`] backfills.
async fn next_pending_batches(
    db: &sea_orm::DatabaseConnection,
    wanted: &[(i64, u64)],
    now: DateTime<Utc>,
) -> Result<Vec<job::Model>, Error> {
    use sea_orm::DbBackend;
    let order: HashMap<i64, usize> = wanted
        .iter()
        .enumerate()
        .map(|(at, (id, _))| (*id, at))
        .collect();
    let mut rows = Vec::new();
    if db.get_database_backend() == DbBackend::Postgres {
        if !wanted.is_empty() {
            rows = next_pending_lateral(db, wanted, now).await?;
        }
    } else {
        for page in wanted.chunks(FEED_BACKFILLS) {
            rows.extend(next_pending_union(db, page, now).await?);
        }
    }
    rows.sort_by_key(|row| {
        (
            row.backfill_id.and_then(|id| order.get(&id).copied()),
            row.window_start,
        )
    });
    Ok(rows)
}

/// [`next_pending_batches`] on PostgreSQL: a `LATERAL` join over the list.
async fn next_pending_lateral(
    db: &sea_orm::DatabaseConnection,
    wanted: &[(i64, u64)],
    now: DateTime<Utc>,
) -> Result<Vec<job::Model>, Error> {
    use sea_orm::{DbBackend, Statement};
    // Integers of our own rows, written into the text: no array binding needed.
    let list =
        |pick: fn(&(i64, u64)) -> String| wanted.iter().map(pick).collect::<Vec<_>>().join(",");
    let sql = format!(
        "SELECT j.* FROM unnest(ARRAY[{}]::bigint[], ARRAY[{}]::bigint[]) AS w(id, n) \
         CROSS JOIN LATERAL (SELECT * FROM jobs WHERE jobs.backfill_id = w.id \
           AND jobs.status = 'pending' \
           AND (jobs.next_attempt_at IS NULL OR jobs.next_attempt_at <= $1) \
           ORDER BY jobs.window_start LIMIT w.n) AS j",
        list(|(id, _)| id.to_string()),
        list(|(_, n)| n.to_string()),
    );
    Ok(job::Entity::find()
        .from_raw_sql(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            [now.into()],
        ))
        .all(db)
        .await?)
}

/// [`next_pending_batches`] on SQLite, for one page of backfills: a `UNION ALL` of one
/// member per backfill (SQLite has no `LATERAL`).
async fn next_pending_union(
    db: &sea_orm::DatabaseConnection,
    page: &[(i64, u64)],
    now: DateTime<Utc>,
) -> Result<Vec<job::Model>, Error> {
    use sea_orm::sea_query::{Alias, Asterisk, Order, UnionType};
    use sea_orm::Iterable;
    let member = |n: usize, (id, limit): (i64, u64)| {
        let next = Query::select()
            .columns(job::Column::iter())
            .from(job::Entity)
            .and_where(job::Column::BackfillId.eq(id))
            .and_where(job::Column::Status.eq(JobStatus::Pending))
            .and_where(
                job::Column::NextAttemptAt
                    .is_null()
                    .or(job::Column::NextAttemptAt.lte(now)),
            )
            .order_by(job::Column::WindowStart, Order::Asc)
            .limit(limit)
            .to_owned();
        Query::select()
            .column(Asterisk)
            .from_subquery(next, Alias::new(format!("b{n}")))
            .to_owned()
    };
    let mut members = page.iter().copied().enumerate().map(|(n, w)| member(n, w));
    let Some(mut select) = members.next() else {
        return Ok(Vec::new());
    };
    for next in members {
        select.union(UnionType::All, next);
    }
    Ok(job::Entity::find()
        .from_raw_sql(db.get_database_backend().build(&select))
        .all(db)
        .await?)
}

/// The queue payload of a job row (its next attempt).
pub fn payload(row: &job::Model) -> JobPayload {
    JobPayload {
        job_id: row.id,
        kind: row.kind,
        integration_id: row.integration_id,
        window_start: row.window_start,
        window_end: row.window_end,
        attempt: row.attempt as u32 + 1,
    }
}

async fn plane_names(db: &sea_orm::DatabaseConnection) -> Result<HashMap<i64, String>, Error> {
    Ok(data_plane::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|row| (row.id, row.name))
        .collect())
}

async fn plane_of_integrations(
    db: &sea_orm::DatabaseConnection,
) -> Result<HashMap<i64, String>, Error> {
    let planes = plane_names(db).await?;
    Ok(integration::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|row| {
            (
                row.id,
                planes.get(&row.data_plane_id).cloned().unwrap_or_default(),
            )
        })
        .collect())
}
