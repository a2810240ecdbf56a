//! The embedded default (SQLite, in-process queue) is as durable as the fleet: the jobs rows
//! are the record, so a `logwarden demo` killed mid-backfill completes it when started again.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use logwarden::infra::secret::Secret;
use logwarden_entities::{backfill, job};
use logwarden_jobs::kind::BackfillStatus;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

use crate::helpers::unique_name;

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn demo(dir: &std::path::Path, extra: &[&str]) -> KillOnDrop {
    let child = Command::new(env!("CARGO_BIN_EXE_logwarden"))
        .args(["demo", "--dir"])
        .arg(dir)
        .args([
            "--users",
            "3",
            "--backfill-hours",
            "24",
            "--api-delay-ms",
            "30",
            "--listen",
            "127.0.0.1:0",
        ])
        .args(extra)
        .env("LOGWARDEN_LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start logwarden demo");
    KillOnDrop(child)
}

#[tokio::test]
async fn a_demo_killed_mid_backfill_completes_the_backfill_when_started_again() {
    let dir = std::env::temp_dir().join(unique_name("lwdemo"));
    std::fs::create_dir_all(&dir).unwrap();
    let url = Secret::new(format!(
        "sqlite://{}?mode=rwc",
        dir.join("logwarden.db").display()
    ));

    let mut first = demo(&dir, &[]);
    let deadline = Instant::now() + Duration::from_secs(120);
    let db = loop {
        assert!(Instant::now() < deadline, "the demo never finished a batch");
        if let Ok(db) = logwarden::store::connect(&url).await {
            let done = job::Entity::find()
                .filter(job::Column::Kind.eq("backfill_batch"))
                .filter(job::Column::Status.eq("succeeded"))
                .count(&db)
                .await
                .unwrap_or(0);
            if done > 0 {
                break db;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    first.0.kill().unwrap();
    first.0.wait().unwrap();
    let unfinished = job::Entity::find()
        .filter(job::Column::Kind.eq("backfill_batch"))
        .filter(job::Column::Status.ne("succeeded"))
        .count(&db)
        .await
        .unwrap();
    assert!(unfinished > 0, "the kill landed mid-backfill");

    let mut second = demo(&dir, &["--exit-when-done"]);
    let status = loop {
        if let Some(status) = second.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline + Duration::from_secs(120),
            "the restarted demo did not finish"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(status.success());

    let backfills = backfill::Entity::find().all(&db).await.unwrap();
    assert_eq!(backfills.len(), 1, "the restart resumed the same backfill");
    assert_eq!(backfills[0].status, BackfillStatus::Completed);
    assert_eq!(backfills[0].batches_done, backfills[0].batches_total);
    let stuck = job::Entity::find()
        .filter(job::Column::Status.is_in(["processing", "enqueued", "pending"]))
        .filter(job::Column::Kind.eq("backfill_batch"))
        .count(&db)
        .await
        .unwrap();
    assert_eq!(stuck, 0);
}
