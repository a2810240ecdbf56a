//! The fleet's shared clock: heartbeats, takeovers and sync window ends read the database's
//! time, so a worker whose host clock is behind is not taken over while it is alive.

use chrono::TimeDelta;
use logwarden::roles::scheduler::payload;
use logwarden::roles::worker::Outcome;
use logwarden::store::clock::HostClock;
use logwarden_entities::job;
use logwarden_fake_api::faults::{FaultConfig, SlowFault, Trigger};
use logwarden_fake_api::FakeConfig;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use tokio::time::{sleep, Duration, Instant};

use crate::helpers::{day, Pipeline, TestDb};

#[tokio::test]
async fn a_worker_whose_clock_is_90_seconds_behind_is_not_taken_over_while_it_beats() {
    let start = day() + TimeDelta::hours(9);
    let pipeline = Pipeline::start_with(
        TestDb::postgres().await,
        FakeConfig {
            rate_limit: None,
            ..FakeConfig::default()
        },
        start,
        // A heartbeat every second; silent for 4 s means dead.
        |args| args.orphan_timeout = Some("4s".into()),
    )
    .await;
    let api_now = start + TimeDelta::minutes(10);
    pipeline.fake.set_now(api_now);
    pipeline
        .scheduler
        .tick(api_now + TimeDelta::minutes(2))
        .await
        .unwrap();
    let now = pipeline.scheduler.now().await.unwrap();
    pipeline.scheduler.pump(now).await.unwrap();
    let row = job::Entity::find()
        .filter(job::Column::Status.eq("enqueued"))
        .one(&pipeline.test.db)
        .await
        .unwrap()
        .expect("the tick queued a sync");
    // Every response takes 4 s, so the job runs past the orphan timeout.
    pipeline
        .fake
        .set_faults(FaultConfig {
            slow: Some(SlowFault {
                trigger: Trigger::Always,
                delay_ms: 4_000,
            }),
            ..FaultConfig::default()
        })
        .unwrap();
    let mut behind = pipeline.worker.clone();
    behind.host_clock = HostClock::skewed(TimeDelta::seconds(-90));
    let delivery = payload(&row);
    let running = tokio::spawn(async move { behind.process(delivery).await });

    // Wait until the attempt has run longer than the orphan timeout.
    let deadline = Instant::now() + Duration::from_secs(30);
    let running_row = loop {
        let current = job::Entity::find_by_id(row.id)
            .one(&pipeline.test.db)
            .await
            .unwrap()
            .unwrap();
        let db_now = pipeline.scheduler.now().await.unwrap();
        let started = current.started_at.unwrap_or(db_now);
        if current.status.as_str() == "processing" && db_now - started > TimeDelta::seconds(5) {
            break current;
        }
        assert!(Instant::now() < deadline, "the attempt never ran 5 s");
        sleep(Duration::from_millis(100)).await;
    };
    let db_now = pipeline.scheduler.now().await.unwrap();
    pipeline.scheduler.pump(db_now).await.unwrap();
    let after_pump = job::Entity::find_by_id(row.id)
        .one(&pipeline.test.db)
        .await
        .unwrap()
        .unwrap();
    pipeline.fake.clear_faults();
    let outcome = running.await.unwrap();

    let heartbeat = running_row.heartbeat_at.expect("a heartbeat");
    assert!(
        (db_now - heartbeat).abs() < TimeDelta::seconds(3),
        "the heartbeat {heartbeat} is on the database's clock {db_now}"
    );
    assert_eq!(after_pump.status.as_str(), "processing");
    assert_eq!(after_pump.worker_name, running_row.worker_name);
    assert_eq!(after_pump.attempt, 1, "no takeover");
    assert_eq!(outcome, Outcome::Succeeded);
}
