//! Guarded status moves on both backends: an illegal move changes nothing, two racing moves
//! leave exactly one winner, a move sets the timestamps of its status, and the bulk actions
//! (retry failed batches, cancel a backfill, delete an integration) move only the rows their
//! state machine allows.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Timelike, Utc};
use logwarden::service::backfills::NewBackfill;
use logwarden::service::Services;
use logwarden::store::moves::{JobMove, Move};
use logwarden_entities::{backfill, job};
use logwarden_jobs::kind::{BackfillStatus, JobKind, JobStatus};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};

use crate::helpers::{fixed_now, seed_integration, seed_job, test_settings, TestDb};

crate::on_both_backends!(
    an_illegal_move_is_refused_and_changes_nothing,
    two_racing_moves_of_one_job_leave_exactly_one_winner,
    a_move_sets_the_timestamps_of_its_status,
    bulk_moves_change_only_the_rows_their_state_machine_allows,
    a_backfill_refresh_keeps_the_operator_s_pause_and_completes_after_resume,
    a_backfill_whose_canceled_batch_leaves_a_gap_ends_completed_with_gaps,
);

fn at(hours_ago: i64) -> DateTime<Utc> {
    fixed_now() - TimeDelta::hours(hours_ago)
}

async fn row(db: &DatabaseConnection, id: i64) -> job::Model {
    job::Entity::find_by_id(id)
        .one(db)
        .await
        .expect("read job")
        .expect("the job exists")
}

/// Walks a job along `path` with one move per status, each at `now`.
async fn walk(db: &DatabaseConnection, id: i64, path: &[JobStatus], now: DateTime<Utc>) {
    for status in path {
        let moved = JobMove::to(*status, now)
            .filter(job::Column::Id.eq(id))
            .apply(db)
            .await
            .expect("move");
        assert_eq!(moved, 1, "job {id} -> {status}");
    }
}

async fn an_illegal_move_is_refused_and_changes_nothing(test: TestDb) {
    let db = &test.db;
    let services = Services::new(db.clone(), test_settings(|_| {}));
    let integration = seed_integration(db, "acme", "security", "default").await;
    let done = seed_job(
        db,
        integration,
        JobKind::Sync,
        at(5),
        JobStatus::Enqueued,
        at(3),
    )
    .await;
    walk(
        db,
        done.id,
        &[JobStatus::Processing, JobStatus::Succeeded],
        at(2),
    )
    .await;
    let before = row(db, done.id).await;
    assert_eq!(before.status, JobStatus::Succeeded);

    for to in JobStatus::ALL {
        let moved = JobMove::to(*to, at(1))
            .filter(job::Column::Id.eq(done.id))
            .apply(db)
            .await
            .unwrap();
        assert_eq!(moved, 0, "succeeded -> {to} was allowed");
    }
    let asked_explicitly = JobMove::to(JobStatus::Pending, at(1))
        .from(&[JobStatus::Succeeded])
        .filter(job::Column::Id.eq(done.id))
        .apply(db)
        .await
        .unwrap();
    assert_eq!(
        asked_explicitly, 0,
        "a forbidden predecessor is never matched"
    );
    let retry = services.retry_job(done.id).await.unwrap_err();
    assert_eq!(retry.code(), "conflict", "{retry}");
    assert!(retry.to_string().contains("only failed jobs"), "{retry}");
    let cancel = services.cancel_job(done.id).await.unwrap_err();
    assert_eq!(cancel.code(), "conflict", "{cancel}");
    assert!(
        cancel
            .to_string()
            .contains("only pending, enqueued or processing jobs"),
        "{cancel}"
    );

    assert_eq!(row(db, done.id).await, before, "the row is untouched");
}

async fn two_racing_moves_of_one_job_leave_exactly_one_winner(test: TestDb) {
    let db = Arc::new(test.db.clone());
    let integration = seed_integration(&db, "acme", "security", "default").await;
    for round in 0..8 {
        // A worker finishing the job races an operator canceling it.
        let running = seed_job(
            &db,
            integration,
            JobKind::Sync,
            at(100 + round),
            JobStatus::Enqueued,
            at(3),
        )
        .await;
        walk(&db, running.id, &[JobStatus::Processing], at(2)).await;
        let race = |to: JobStatus| {
            let db = db.clone();
            tokio::spawn(async move {
                JobMove::to(to, at(1))
                    .from(&[JobStatus::Processing])
                    .filter(job::Column::Id.eq(running.id))
                    .apply(db.as_ref())
                    .await
                    .expect("move")
            })
        };
        let (succeeded, canceled) = (race(JobStatus::Succeeded), race(JobStatus::Canceled));
        let (succeeded, canceled) = (succeeded.await.unwrap(), canceled.await.unwrap());
        assert_eq!(
            succeeded + canceled,
            1,
            "round {round}: exactly one move wins"
        );
        let winner = if succeeded == 1 {
            JobStatus::Succeeded
        } else {
            JobStatus::Canceled
        };
        assert_eq!(row(&db, running.id).await.status, winner);

        // Two workers claiming one delivery: one runs it, the other skips it.
        let queued = seed_job(
            &db,
            integration,
            JobKind::Sync,
            at(200 + round),
            JobStatus::Enqueued,
            at(3),
        )
        .await;
        let claim = |worker: &'static str| {
            let db = db.clone();
            tokio::spawn(async move {
                JobMove::to(JobStatus::Processing, at(1))
                    .from(&[JobStatus::Enqueued])
                    .filter(job::Column::Id.eq(queued.id))
                    .set(job::Column::WorkerName, Expr::value(Some(worker)))
                    .apply(db.as_ref())
                    .await
                    .expect("claim")
            })
        };
        let (a, b) = (claim("worker-a"), claim("worker-b"));
        let (a, b) = (a.await.unwrap(), b.await.unwrap());
        assert_eq!(a + b, 1, "round {round}: exactly one claim wins");
        let claimed = row(&db, queued.id).await;
        assert_eq!(claimed.status, JobStatus::Processing);
        let expected = if a == 1 { "worker-a" } else { "worker-b" };
        assert_eq!(claimed.worker_name.as_deref(), Some(expected));
    }
}

async fn a_move_sets_the_timestamps_of_its_status(test: TestDb) {
    let db = &test.db;
    let integration = seed_integration(db, "acme", "security", "default").await;
    let job = seed_job(
        db,
        integration,
        JobKind::Sync,
        at(9),
        JobStatus::Pending,
        at(8),
    )
    .await;
    assert_eq!(job.enqueued_at, None, "pending is not enqueued");

    walk(db, job.id, &[JobStatus::Enqueued], at(7)).await;
    assert_eq!(row(db, job.id).await.enqueued_at, Some(at(7)));
    walk(db, job.id, &[JobStatus::Processing], at(6)).await;
    let running = row(db, job.id).await;
    assert_eq!(
        (running.started_at, running.heartbeat_at),
        (Some(at(6)), Some(at(6)))
    );
    walk(db, job.id, &[JobStatus::Failed], at(5)).await;
    assert_eq!(row(db, job.id).await.finished_at, Some(at(5)));
    walk(db, job.id, &[JobStatus::Pending], at(4)).await;
    let retried = row(db, job.id).await;
    assert_eq!(
        retried.finished_at, None,
        "a retried job is unfinished again"
    );
    assert_eq!(retried.enqueued_at, Some(at(7)), "other times stay");

    let pushed = seed_job(
        db,
        integration,
        JobKind::Sync,
        at(20),
        JobStatus::Enqueued,
        at(3),
    )
    .await;
    assert_eq!(
        pushed.enqueued_at,
        Some(at(3)),
        "a job born enqueued has its time from the insert"
    );
}

/// A backfill of the five whole hours that ended an hour ago, one batch per hour.
async fn five_batch_backfill(services: &Services, integration_id: i64) -> (i64, Vec<job::Model>) {
    let end = at(1).with_minute(0).and_then(|t| t.with_second(0)).unwrap();
    let view = services
        .start_backfill(NewBackfill {
            integration_id,
            from: end - TimeDelta::hours(5),
            to: end,
            batch_width: Some(std::time::Duration::from_secs(3600)),
            created_by: "test".into(),
        })
        .await
        .expect("start backfill");
    let batches = job::Entity::find()
        .filter(job::Column::BackfillId.eq(view.id))
        .order_by_asc(job::Column::WindowStart)
        .all(&services.db)
        .await
        .unwrap();
    assert_eq!(batches.len(), 5);
    (view.id, batches)
}

async fn statuses(db: &DatabaseConnection, rows: &[job::Model]) -> Vec<JobStatus> {
    let mut out = Vec::new();
    for job in rows {
        out.push(row(db, job.id).await.status);
    }
    out
}

async fn bulk_moves_change_only_the_rows_their_state_machine_allows(test: TestDb) {
    use JobStatus::{Canceled, Enqueued, Failed, Pending, Processing, Succeeded};
    let db = &test.db;
    let services = Services::new(db.clone(), test_settings(|_| {}));
    let acme = seed_integration(db, "acme", "security", "default").await;
    let other = seed_integration(db, "other", "security", "default").await;
    let (backfill, batches) = five_batch_backfill(&services, acme).await;
    walk(db, batches[0].id, &[Enqueued, Processing, Succeeded], at(1)).await;
    walk(db, batches[1].id, &[Enqueued, Processing, Failed], at(1)).await;
    walk(db, batches[2].id, &[Enqueued, Processing], at(1)).await;
    walk(db, batches[3].id, &[Enqueued], at(1)).await;

    services.retry_failed_batches(backfill).await.unwrap();
    assert_eq!(
        statuses(db, &batches).await,
        [Succeeded, Pending, Processing, Enqueued, Pending],
        "only the failed batch went back in line"
    );
    let retried = row(db, batches[1].id).await;
    assert_eq!(
        retried.max_attempts,
        retried.attempt + services.settings.job_max_attempts as i32
    );

    let view = services.cancel_backfill(backfill).await.unwrap();
    assert_eq!(view.status, BackfillStatus::Canceled);
    assert_eq!(
        statuses(db, &batches).await,
        [Succeeded, Canceled, Canceled, Canceled, Canceled],
        "a finished batch keeps its status"
    );
    let again = services.cancel_backfill(backfill).await.unwrap_err();
    assert_eq!(again.code(), "conflict", "{again}");
    let retry = services.retry_failed_batches(backfill).await.unwrap_err();
    assert_eq!(retry.code(), "conflict", "{retry}");
    let resume = services.resume_backfill(backfill).await.unwrap_err();
    assert!(resume.to_string().contains("only paused"), "{resume}");

    let waiting = seed_job(db, acme, JobKind::Sync, at(30), Pending, at(2)).await;
    let synced = seed_job(db, acme, JobKind::Sync, at(31), Enqueued, at(2)).await;
    walk(db, synced.id, &[Processing, Succeeded], at(1)).await;
    let elsewhere = seed_job(db, other, JobKind::Sync, at(30), Pending, at(2)).await;
    services.delete_integration(acme, false).await.unwrap();
    assert_eq!(
        statuses(db, &[waiting, synced, elsewhere]).await,
        [Canceled, Succeeded, Pending],
        "deleting cancels the integration's unfinished jobs only"
    );
    let twice = services.delete_integration(acme, false).await.unwrap_err();
    assert!(twice.to_string().contains("is deleted"), "{twice}");
}

async fn a_backfill_refresh_keeps_the_operator_s_pause_and_completes_after_resume(test: TestDb) {
    use JobStatus::{Enqueued, Processing, Succeeded};
    let db = &test.db;
    let services = Services::new(db.clone(), test_settings(|_| {}));
    let acme = seed_integration(db, "acme", "security", "default").await;
    let (backfill, batches) = five_batch_backfill(&services, acme).await;
    walk(db, batches[0].id, &[Enqueued], at(1)).await;

    let paused = services.pause_backfill(backfill).await.unwrap();
    assert_eq!(paused.status, BackfillStatus::Paused);
    let twice = services.pause_backfill(backfill).await.unwrap_err();
    assert!(
        twice
            .to_string()
            .contains("only pending or running backfills can be paused"),
        "{twice}"
    );
    for batch in &batches {
        let path: &[JobStatus] = if batch.id == batches[0].id {
            &[Processing, Succeeded]
        } else {
            &[Enqueued, Processing, Succeeded]
        };
        walk(db, batch.id, path, at(1)).await;
    }
    logwarden::store::backfills::refresh_backfill(db, backfill, Utc::now())
        .await
        .unwrap();
    let stored = backfill::Entity::find_by_id(backfill)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, BackfillStatus::Paused, "the pause stays");
    assert_eq!(stored.batches_done, 5, "the counters follow the batches");
    assert_eq!(stored.finished_at, None);

    let resumed = services.resume_backfill(backfill).await.unwrap();
    assert_eq!(resumed.status, BackfillStatus::Completed);
    assert!(resumed.finished_at.is_some());
    let moved = Move::to(BackfillStatus::Running, Utc::now())
        .filter(backfill::Column::Id.eq(backfill))
        .apply(db)
        .await
        .unwrap();
    assert_eq!(moved, 0, "a completed backfill never runs again");
}

async fn a_backfill_whose_canceled_batch_leaves_a_gap_ends_completed_with_gaps(test: TestDb) {
    use JobStatus::{Enqueued, Processing, Succeeded};
    let db = &test.db;
    let services = Services::new(db.clone(), test_settings(|_| {}));
    let acme = seed_integration(db, "acme", "security", "default").await;
    let (backfill, batches) = five_batch_backfill(&services, acme).await;

    services.cancel_job(batches[2].id).await.unwrap();
    for batch in batches.iter().filter(|b| b.id != batches[2].id) {
        walk(db, batch.id, &[Enqueued, Processing, Succeeded], at(1)).await;
    }
    logwarden::store::backfills::refresh_backfill(db, backfill, Utc::now())
        .await
        .unwrap();

    let view = services.backfill(backfill).await.unwrap();
    assert_eq!(view.status, BackfillStatus::CompletedWithGaps);
    assert_eq!(view.status.to_string(), "completed_with_gaps");
    assert!(view.status.is_terminal());
    assert!(view.finished_at.is_some());
    assert_eq!((view.batches_done, view.batches_canceled), (4, 1));
    assert_eq!(view.synced_up_to, Some(batches[2].window_start));
    let listed = services
        .list_backfills(logwarden::service::backfills::BackfillQuery {
            status: Some(BackfillStatus::CompletedWithGaps),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    let retry = services.retry_failed_batches(backfill).await.unwrap_err();
    assert!(retry.to_string().contains("completed_with_gaps"), "{retry}");
}
