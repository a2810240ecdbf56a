//! The scheduler and the store at scale: a backfill's batch rows are written page by page by
//! the pump, its progress counters (kept by a trigger in the transaction of every batch
//! change) always equal a recount of its rows, and the pump refreshes only the backfills
//! whose batches changed.

use chrono::{DateTime, TimeDelta, Timelike, Utc};
use logwarden::app::App;
use logwarden::roles::scheduler::Scheduler;
use logwarden::service::backfills::{BackfillView, NewBackfill};
use logwarden::store::backfills::{batch_counts, recount_batches, BATCH_PAGE};
use logwarden::store::moves::JobMove;
use logwarden_entities::{backfill, job};
use logwarden_jobs::kind::{BackfillStatus, JobKind, JobStatus};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};

use logwarden::infra::secret::Secret;

use crate::helpers::{seed_integration, test_settings, TestDb};
use crate::services::PrivateRedis;

crate::on_both_backends!(
    a_long_backfill_gets_its_batch_rows_page_by_page_and_its_counters_always_equal_a_recount,
    the_pump_refreshes_only_the_backfills_whose_batches_changed,
    one_pump_pass_feeds_every_backfill_its_earliest_batches_within_the_in_flight_limits,
    the_scheduler_prunes_finished_jobs_past_their_retention_with_their_attempts,
);

fn hour_now() -> DateTime<Utc> {
    let now = Utc::now();
    now.with_nanosecond(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_minute(0))
        .unwrap()
}

async fn scheduler(test: &TestDb) -> Scheduler {
    let settings = test_settings(|args| {
        args.backfill_max_in_flight = Some("8".into());
        args.org_max_in_flight = Some("16".into());
    });
    let app = App::with_database(test.db.clone(), &settings)
        .await
        .expect("app");
    Scheduler::new(app.services.clone(), app.transport.clone())
}

/// A backfill of `integration`'s `hours` hours before `end`, in one-hour batches.
async fn hourly_backfill(
    scheduler: &Scheduler,
    integration: i64,
    end: DateTime<Utc>,
    hours: i64,
) -> BackfillView {
    scheduler
        .services
        .start_backfill(NewBackfill {
            integration_id: integration,
            from: end - TimeDelta::hours(hours),
            to: end,
            batch_width: Some(std::time::Duration::from_secs(3600)),
            created_by: "test".into(),
        })
        .await
        .unwrap()
}

async fn stored(db: &DatabaseConnection, id: i64) -> backfill::Model {
    backfill::Entity::find_by_id(id)
        .one(db)
        .await
        .unwrap()
        .unwrap()
}

/// The counters as the views read them, against a recount of the rows plus the batches
/// without rows (pending until the backfill is canceled).
async fn assert_counters_match(db: &DatabaseConnection, id: i64) {
    let row = stored(db, id).await;
    let counters = batch_counts(db, &[id]).await.unwrap()[&id];
    let mut recount = recount_batches(db, id).await.unwrap();
    let rows = job::Entity::find()
        .filter(job::Column::BackfillId.eq(id))
        .all(db)
        .await
        .unwrap()
        .len() as i64;
    recount.pending += row.batches_total as i64 - rows;
    assert_eq!(counters, recount, "backfill {id}");
}

/// Moves every enqueued batch of `backfill` through processing to `to`.
async fn finish_enqueued(db: &DatabaseConnection, backfill: i64, to: JobStatus) -> u64 {
    let now = Utc::now();
    let started = JobMove::to(JobStatus::Processing, now)
        .from(&[JobStatus::Enqueued])
        .filter(job::Column::BackfillId.eq(backfill))
        .apply(db)
        .await
        .unwrap();
    JobMove::to(to, now)
        .from(&[JobStatus::Processing])
        .filter(job::Column::BackfillId.eq(backfill))
        .apply(db)
        .await
        .unwrap();
    started
}

async fn a_long_backfill_gets_its_batch_rows_page_by_page_and_its_counters_always_equal_a_recount(
    test: TestDb,
) {
    let db = &test.db;
    let scheduler = scheduler(&test).await;
    let acme = seed_integration(db, "acme", "security", "default").await;
    let end = hour_now() - TimeDelta::days(1);
    let total = BATCH_PAGE as i64 * 2 + 37;
    let view = hourly_backfill(&scheduler, acme, end, total).await;
    assert_eq!(view.batches_total, total);
    assert_eq!(
        view.batches_pending, total,
        "unwritten batches count as pending"
    );
    let id = view.id;
    let rows = || async {
        job::Entity::find()
            .filter(job::Column::BackfillId.eq(id))
            .all(db)
            .await
            .unwrap()
            .len()
    };
    assert_eq!(rows().await, BATCH_PAGE, "the request writes one page");
    assert_counters_match(db, id).await;

    let mut rounds = 0;
    let mut failed_one = false;
    loop {
        scheduler.pump(Utc::now()).await.unwrap();
        assert_counters_match(db, id).await;
        // One batch fails for good, to count failures too; it is retried below.
        if !failed_one {
            failed_one = true;
            let one = job::Entity::find()
                .filter(job::Column::BackfillId.eq(id))
                .filter(job::Column::Status.eq(JobStatus::Enqueued))
                .one(db)
                .await
                .unwrap()
                .unwrap();
            for to in [JobStatus::Processing, JobStatus::Failed] {
                JobMove::to(to, Utc::now())
                    .filter(job::Column::Id.eq(one.id))
                    .apply(db)
                    .await
                    .unwrap();
            }
            assert_counters_match(db, id).await;
        }
        let to = JobStatus::Succeeded;
        if finish_enqueued(db, id, to).await == 0 {
            break;
        }
        assert_counters_match(db, id).await;
        rounds += 1;
        assert!(rounds < 1_000, "the backfill never ran out of batches");
    }
    assert_eq!(rows().await as i64, total, "the pump wrote every row");
    let row = stored(db, id).await;
    assert_eq!(row.status, BackfillStatus::Failed);
    assert_eq!(row.batches_failed, 1);
    assert_eq!(row.batches_done as i64, total - 1);

    let windows: Vec<(DateTime<Utc>, DateTime<Utc>)> = job::Entity::find()
        .filter(job::Column::BackfillId.eq(id))
        .order_by_asc(job::Column::WindowStart)
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|job| (job.window_start, job.window_end))
        .collect();
    assert_eq!(windows.first().unwrap().0, row.range_start);
    assert_eq!(windows.last().unwrap().1, row.range_end);
    for pair in windows.windows(2) {
        assert_eq!(pair[0].1, pair[1].0, "the batches tile the range");
    }

    let retried = scheduler.services.retry_failed_batches(id).await.unwrap();
    assert_eq!(retried.batches_failed, 0);
    assert_eq!(retried.batches_pending, 1);
    scheduler.pump(Utc::now()).await.unwrap();
    finish_enqueued(db, id, JobStatus::Succeeded).await;
    scheduler.pump(Utc::now()).await.unwrap();
    let done = scheduler.services.backfill(id).await.unwrap();
    assert_eq!(done.status, BackfillStatus::Completed);
    assert_eq!(done.synced_up_to, Some(end));
    assert_eq!(done.batches_done, total);
}

async fn the_pump_refreshes_only_the_backfills_whose_batches_changed(test: TestDb) {
    let db = &test.db;
    let scheduler = scheduler(&test).await;
    let acme = seed_integration(db, "acme", "security", "default").await;
    let globex = seed_integration(db, "globex", "security", "default").await;
    let end = hour_now() - TimeDelta::days(1);
    let mut ids = Vec::new();
    for integration in [acme, globex] {
        let view = hourly_backfill(&scheduler, integration, end, 40).await;
        ids.push(view.id);
    }
    let (a, b) = (ids[0], ids[1]);
    scheduler.pump(Utc::now()).await.unwrap();
    for id in [a, b] {
        let row = stored(db, id).await;
        assert_eq!(
            row.refreshed_seq, row.progress_seq,
            "refreshed after its batches moved"
        );
        assert_eq!(row.status, BackfillStatus::Running);
        assert_eq!(row.batches_in_flight, 8);
    }
    let before = [stored(db, a).await, stored(db, b).await];

    // Nothing changed: no backfill is refreshed (a refresh writes `updated_at`).
    scheduler.pump(Utc::now()).await.unwrap();
    assert_eq!(stored(db, a).await, before[0]);
    assert_eq!(stored(db, b).await, before[1]);

    // One batch of `a` finishes: only `a` is refreshed.
    let first = job::Entity::find()
        .filter(job::Column::BackfillId.eq(a))
        .filter(job::Column::Status.eq(JobStatus::Enqueued))
        .order_by_asc(job::Column::WindowStart)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    for to in [JobStatus::Processing, JobStatus::Succeeded] {
        JobMove::to(to, Utc::now())
            .filter(job::Column::Id.eq(first.id))
            .apply(db)
            .await
            .unwrap();
    }
    let changed = stored(db, a).await;
    assert!(changed.progress_seq > before[0].progress_seq);
    assert_eq!(
        changed.batches_done, 1,
        "counted in the batch's own transaction"
    );
    scheduler.pump(Utc::now()).await.unwrap();
    let after_a = stored(db, a).await;
    assert_eq!(after_a.refreshed_seq, after_a.progress_seq);
    assert!(after_a.updated_at > before[0].updated_at);
    assert_eq!(after_a.synced_up_to, Some(first.window_end));
    assert_eq!(stored(db, b).await, before[1], "b had no change");
}

/// Enqueued rows of `acme` written straight into the store, as a scheduler that pushed them
/// a minute ago left them: `batches` backfill batches, then one sync with a newer id.
async fn enqueued_a_minute_ago(db: &DatabaseConnection, acme: i64, batches: u64) -> Vec<i64> {
    use sea_orm::ConnectionTrait;
    let columns = "kind, integration_id, window_start, window_end, dedupe_key, status, attempt, \
        max_attempts, created_at, enqueued_at, pages, requests, chats, messages, events, \
        access_events, violations, alerts";
    let values = "'enqueued', 0, 5, now(), now() - interval '1 minute', 0, 0, 0, 0, 0, 0, 0, 0";
    db.execute_unprepared(&format!(
        "INSERT INTO jobs ({columns}) SELECT 'backfill_batch', {acme}, \
         now() - (g + 1) * interval '1 hour', now() - g * interval '1 hour', \
         'lost-batch:' || g, {values} FROM generate_series(1, {batches}) g"
    ))
    .await
    .unwrap();
    db.execute_unprepared(&format!(
        "INSERT INTO jobs ({columns}) VALUES ('sync', {acme}, now() - interval '5 minutes', \
         now() - interval '2 minutes', 'lost-sync', {values})"
    ))
    .await
    .unwrap();
    job::Entity::find()
        .filter(job::Column::Status.eq(JobStatus::Enqueued))
        .order_by_asc(job::Column::Id)
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|row| row.id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_redis_flush_one_pump_pass_pushes_every_lost_job_again_the_newest_sync_included() {
    let test = TestDb::postgres().await;
    let db = &test.db;
    let redis = PrivateRedis::start().await;
    let settings = test_settings(|args| args.redis_url = Some(Secret::new(redis.url())));
    let app = App::with_database(test.db.clone(), &settings)
        .await
        .expect("app");
    let scheduler = Scheduler::new(app.services.clone(), app.transport.clone());
    let acme = seed_integration(db, "acme", "security", "default").await;
    // More than two repair pages of older batches ahead of the sync.
    let ids = enqueued_a_minute_ago(db, acme, 2_005).await;
    let sync = *ids.last().unwrap();

    let first = scheduler.pump(Utc::now()).await.unwrap();
    assert_eq!(first.repushed_lost, ids.len(), "nothing was queued yet");
    assert_eq!(
        scheduler.transport.queued(&ids).await.unwrap().len(),
        ids.len()
    );

    redis.flush_all().await;
    assert!(scheduler.transport.queued(&ids).await.unwrap().is_empty());
    let repaired = scheduler.pump(Utc::now()).await.unwrap();
    assert_eq!(repaired.repushed_lost, ids.len());
    let queued = scheduler.transport.queued(&ids).await.unwrap();
    assert!(queued.contains(&sync), "the newest sync was pushed again");
    assert_eq!(queued.len(), ids.len(), "every lost batch was pushed again");

    let again = scheduler.pump(Utc::now()).await.unwrap();
    assert_eq!(again.repushed_lost, 0, "queued jobs are not pushed twice");
}

/// A job of `acme` that finished `days_ago` as `status`, with one attempt: recorded, then
/// moved through processing, at that time.
async fn finished_job(
    db: &DatabaseConnection,
    acme: i64,
    kind: JobKind,
    status: JobStatus,
    days_ago: i64,
    backfill: Option<i64>,
    follows: Option<i64>,
) -> i64 {
    use logwarden::store::jobs::{insert_unique, NewJob};
    use logwarden_entities::job_attempt;
    use logwarden_jobs::kind::AttemptOutcome;
    use logwarden_jobs::window::Window;
    use sea_orm::ActiveValue::Set;
    let finished = hour_now() - TimeDelta::days(days_ago);
    let window = Window {
        start: finished - TimeDelta::hours(1),
        end: finished,
    };
    let new = NewJob {
        kind,
        integration_id: acme,
        backfill_id: backfill,
        window,
        status: JobStatus::Enqueued,
        max_attempts: 5,
        policy_set_version: None,
        follows,
    };
    let id = insert_unique(db, new, window.start)
        .await
        .unwrap()
        .expect("a new job")
        .id;
    for (to, at) in [(JobStatus::Processing, window.start), (status, finished)] {
        let moved = JobMove::to(to, at)
            .filter(job::Column::Id.eq(id))
            .apply(db)
            .await
            .unwrap();
        assert_eq!(moved, 1);
    }
    job_attempt::Entity::insert(job_attempt::ActiveModel {
        job_id: Set(id),
        attempt: Set(1),
        worker_name: Set("worker".into()),
        outcome: Set(if status == JobStatus::Succeeded {
            AttemptOutcome::Succeeded
        } else {
            AttemptOutcome::Failed
        }),
        started_at: Set(window.start),
        finished_at: Set(finished),
        ..Default::default()
    })
    .exec_without_returning(db)
    .await
    .unwrap();
    id
}

async fn the_scheduler_prunes_finished_jobs_past_their_retention_with_their_attempts(test: TestDb) {
    use logwarden_entities::job_attempt;
    let db = &test.db;
    let scheduler = scheduler(&test).await;
    let acme = seed_integration(db, "acme", "security", "default").await;
    let job = |kind, status, days_ago, follows| {
        finished_job(db, acme, kind, status, days_ago, None, follows)
    };
    let old_success = job(JobKind::Sync, JobStatus::Succeeded, 31, None).await;
    let recent_success = job(JobKind::Sync, JobStatus::Succeeded, 29, Some(old_success)).await;
    let failed_kept = job(JobKind::Reconcile, JobStatus::Failed, 100, None).await;
    let old_failure = job(JobKind::Reconcile, JobStatus::Failed, 181, None).await;
    let end = hour_now() - TimeDelta::days(400);
    let backfill = hourly_backfill(&scheduler, acme, end, 1).await;
    let old_batch = finished_job(
        db,
        acme,
        JobKind::BackfillBatch,
        JobStatus::Succeeded,
        60,
        Some(backfill.id),
        None,
    )
    .await;
    // An integration's newest sync stays, however old: its next sync follows it.
    let globex = seed_integration(db, "globex", "security", "default").await;
    let newest_sync = finished_job(
        db,
        globex,
        JobKind::Sync,
        JobStatus::Succeeded,
        40,
        None,
        None,
    )
    .await;

    assert_eq!(scheduler.prune_finished_jobs(Utc::now()).await.unwrap(), 2);
    let left: Vec<i64> = job::Entity::find()
        .filter(job::Column::Status.is_in([JobStatus::Succeeded, JobStatus::Failed]))
        .order_by_asc(job::Column::Id)
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|row| row.id)
        .collect();
    assert_eq!(
        left,
        vec![recent_success, failed_kept, old_batch, newest_sync]
    );
    let attempts: Vec<i64> = job_attempt::Entity::find()
        .order_by_asc(job_attempt::Column::JobId)
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|row| row.job_id)
        .collect();
    assert_eq!(
        attempts,
        vec![recent_success, failed_kept, old_batch, newest_sync]
    );
    assert!(!left.contains(&old_success) && !left.contains(&old_failure));
    assert_eq!(
        scheduler.prune_finished_jobs(Utc::now()).await.unwrap(),
        0,
        "nothing else is past its retention"
    );
}

/// The window starts of `backfill`'s batches with `status`, earliest first.
async fn windows_with(
    db: &DatabaseConnection,
    backfill: i64,
    status: JobStatus,
) -> Vec<DateTime<Utc>> {
    job::Entity::find()
        .filter(job::Column::BackfillId.eq(backfill))
        .filter(job::Column::Status.eq(status))
        .order_by_asc(job::Column::WindowStart)
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|row| row.window_start)
        .collect()
}

async fn one_pump_pass_feeds_every_backfill_its_earliest_batches_within_the_in_flight_limits(
    test: TestDb,
) {
    let db = &test.db;
    let scheduler = scheduler(&test).await;
    let acme = seed_integration(db, "acme", "security", "default").await;
    let globex = seed_integration(db, "globex", "security", "default").await;
    let end = hour_now() - TimeDelta::days(1);
    let mut ids = Vec::new();
    for (integration, hours) in [(acme, 40), (acme, 30), (acme, 20), (globex, 12)] {
        let view = hourly_backfill(&scheduler, integration, end, hours).await;
        ids.push(view.id);
    }
    let report = scheduler.pump(Utc::now()).await.unwrap();
    assert_eq!(report.enqueued, 8 + 8 + 8, "{report:?}");
    // acme's first two backfills fill its 16 in flight, 8 each; the third waits; globex's
    // one has its own 8.
    for (id, in_flight) in [(ids[0], 8), (ids[1], 8), (ids[2], 0), (ids[3], 8)] {
        let enqueued = windows_with(db, id, JobStatus::Enqueued).await;
        let pending = windows_with(db, id, JobStatus::Pending).await;
        assert_eq!(enqueued.len(), in_flight, "backfill {id}");
        assert!(
            enqueued.last() < pending.first() || pending.is_empty(),
            "backfill {id} runs its earliest batches first: {enqueued:?} then {pending:?}"
        );
        assert_counters_match(db, id).await;
    }
    let again = scheduler.pump(Utc::now()).await.unwrap();
    assert_eq!(again.enqueued, 0, "every limit is reached");

    // The first backfill's batches finish: it takes the next 8, before the third.
    let first_eight = windows_with(db, ids[0], JobStatus::Enqueued).await;
    assert_eq!(finish_enqueued(db, ids[0], JobStatus::Succeeded).await, 8);
    let report = scheduler.pump(Utc::now()).await.unwrap();
    assert_eq!(report.enqueued, 8);
    let next_eight = windows_with(db, ids[0], JobStatus::Enqueued).await;
    assert_eq!(next_eight.len(), 8);
    assert_eq!(
        next_eight[0],
        *first_eight.last().unwrap() + TimeDelta::hours(1),
        "the window after the last finished one"
    );
    assert!(windows_with(db, ids[2], JobStatus::Enqueued)
        .await
        .is_empty());
}
