//! Backfill progress that scales with the number of batches.
//!
//! - `jobs (backfill_id, status, window_start)`: the pump's "next pending batches of this
//!   backfill" and the "earliest batch not yet succeeded" are index range scans, not a read
//!   of every batch row of the backfill.
//! - Counters on the backfill row (`batches_pending`, `batches_in_flight`, `batches_canceled`
//!   next to the existing `batches_done` and `batches_failed`), kept by a trigger on `jobs` in
//!   the same transaction as every batch insert, status change and delete, so they are never
//!   off by a batch whatever code moves a job.
//! - `progress_seq` (bumped by the same trigger) and `refreshed_seq` (written by the pump's
//!   refresh): the pump refreshes only backfills whose batches changed since it last looked.
//! - `batches_written_until`: batch rows are written lazily, page by page, by the pump; every
//!   batch before this time has its row. Existing backfills wrote all rows at creation.

use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::{async_trait::async_trait, prelude::*, schema::*};

use crate::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The status groups each counter counts, as SQL over a row alias (`NEW` or `OLD`).
fn counted(alias: &str) -> [(&'static str, String); 5] {
    [
        ("batches_pending", format!("{alias}.status = 'pending'")),
        (
            "batches_in_flight",
            format!("{alias}.status IN ('enqueued', 'processing')"),
        ),
        ("batches_done", format!("{alias}.status = 'succeeded'")),
        ("batches_failed", format!("{alias}.status = 'failed'")),
        ("batches_canceled", format!("{alias}.status = 'canceled'")),
    ]
}

/// `SET` clauses adding `sign` × (the row counts) for each counter. `as_int` turns a boolean
/// into 0/1 (PostgreSQL needs a cast, SQLite's booleans already are integers).
fn deltas(alias: &str, sign: &str, as_int: fn(&str) -> String) -> Vec<String> {
    counted(alias)
        .into_iter()
        .map(|(column, test)| format!("{column} = {column} {sign} {}", as_int(&test)))
        .collect()
}

fn pg_int(test: &str) -> String {
    format!("({test})::int")
}

fn sqlite_int(test: &str) -> String {
    format!("({test})")
}

#[async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            integer("batches_pending").default(0),
            integer("batches_in_flight").default(0),
            integer("batches_canceled").default(0),
            big_integer("progress_seq").default(0),
            big_integer("refreshed_seq").default(0),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table("backfills")
                        .add_column(column.to_owned())
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table("backfills")
                    .add_column(timestamp_with_time_zone_null("batches_written_until"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "jobs",
                "backfill_status_window",
                &["backfill_id", "status", "window_start"],
            ))
            .await?;
        let db = manager.get_connection();
        // Existing backfills: every batch row exists, the counters start from them.
        db.execute_unprepared(
            "UPDATE backfills SET \
             batches_pending = (SELECT count(*) FROM jobs j WHERE j.backfill_id = backfills.id AND j.status = 'pending'), \
             batches_in_flight = (SELECT count(*) FROM jobs j WHERE j.backfill_id = backfills.id AND j.status IN ('enqueued', 'processing')), \
             batches_done = (SELECT count(*) FROM jobs j WHERE j.backfill_id = backfills.id AND j.status = 'succeeded'), \
             batches_failed = (SELECT count(*) FROM jobs j WHERE j.backfill_id = backfills.id AND j.status = 'failed'), \
             batches_canceled = (SELECT count(*) FROM jobs j WHERE j.backfill_id = backfills.id AND j.status = 'canceled'), \
             batches_written_until = range_end, progress_seq = 1",
        )
        .await?;
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                let add = deltas("NEW", "+", pg_int).join(", ");
                let sub = deltas("OLD", "-", pg_int).join(", ");
                db.execute_unprepared(&format!(
                    "CREATE FUNCTION logwarden_backfill_counters() RETURNS trigger AS $$ \
                     BEGIN \
                       IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.backfill_id IS NOT NULL THEN \
                         UPDATE backfills SET {sub}, progress_seq = progress_seq + 1 WHERE id = OLD.backfill_id; \
                       END IF; \
                       IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.backfill_id IS NOT NULL THEN \
                         UPDATE backfills SET {add}, progress_seq = progress_seq + 1 WHERE id = NEW.backfill_id; \
                       END IF; \
                       RETURN NULL; \
                     END $$ LANGUAGE plpgsql"
                ))
                .await?;
                db.execute_unprepared(
                    "CREATE TRIGGER jobs_backfill_counters_ins AFTER INSERT OR DELETE ON jobs \
                     FOR EACH ROW EXECUTE FUNCTION logwarden_backfill_counters()",
                )
                .await?;
                db.execute_unprepared(
                    "CREATE TRIGGER jobs_backfill_counters_upd AFTER UPDATE OF status, backfill_id ON jobs \
                     FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status \
                       OR OLD.backfill_id IS DISTINCT FROM NEW.backfill_id) \
                     EXECUTE FUNCTION logwarden_backfill_counters()",
                )
                .await?;
            }
            _ => {
                let add = deltas("NEW", "+", sqlite_int).join(", ");
                let sub = deltas("OLD", "-", sqlite_int).join(", ");
                for statement in [
                    format!(
                        "CREATE TRIGGER jobs_backfill_counters_ins AFTER INSERT ON jobs \
                         WHEN NEW.backfill_id IS NOT NULL BEGIN \
                         UPDATE backfills SET {add}, progress_seq = progress_seq + 1 WHERE id = NEW.backfill_id; END"
                    ),
                    format!(
                        "CREATE TRIGGER jobs_backfill_counters_del AFTER DELETE ON jobs \
                         WHEN OLD.backfill_id IS NOT NULL BEGIN \
                         UPDATE backfills SET {sub}, progress_seq = progress_seq + 1 WHERE id = OLD.backfill_id; END"
                    ),
                    format!(
                        "CREATE TRIGGER jobs_backfill_counters_upd AFTER UPDATE OF status, backfill_id ON jobs \
                         WHEN OLD.status IS NOT NEW.status OR OLD.backfill_id IS NOT NEW.backfill_id BEGIN \
                         UPDATE backfills SET {sub}, progress_seq = progress_seq + 1 WHERE id = OLD.backfill_id; \
                         UPDATE backfills SET {add}, progress_seq = progress_seq + 1 WHERE id = NEW.backfill_id; END"
                    ),
                ] {
                    db.execute_unprepared(&statement).await?;
                }
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for name in [
            "jobs_backfill_counters_ins",
            "jobs_backfill_counters_del",
            "jobs_backfill_counters_upd",
        ] {
            let on = if manager.get_database_backend() == DbBackend::Postgres {
                " ON jobs"
            } else {
                ""
            };
            db.execute_unprepared(&format!("DROP TRIGGER IF EXISTS {name}{on}"))
                .await?;
        }
        if manager.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared("DROP FUNCTION IF EXISTS logwarden_backfill_counters()")
                .await?;
        }
        manager
            .drop_index(
                Index::drop()
                    .name("idx_jobs_backfill_status_window")
                    .table("jobs")
                    .to_owned(),
            )
            .await?;
        for column in [
            "batches_pending",
            "batches_in_flight",
            "batches_canceled",
            "progress_seq",
            "refreshed_seq",
            "batches_written_until",
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table("backfills")
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
