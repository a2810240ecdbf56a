//! Rows belong to their integration: event ids (and so violation and alert ids, which derive
//! from them) and session ids now include the integration, so two integrations reading the
//! same organisation keep their own rows.
//!
//! Stored rows get their new ids here: an event's id becomes the UUIDv5, in
//! [`EVENT_NAMESPACE`], of the integration id (8 bytes, big-endian) followed by its old id;
//! a violation's and an alert's are derived again from the new event id exactly as the sink
//! derives them. Sessions keep the upstream chat id in the new `chat_id` column, and their
//! id becomes `<integration id>:<chat id>`. The new ids are computed in Rust (neither backend
//! has UUIDv5), staged in mapping tables and applied with one `UPDATE` per column; the
//! foreign keys between the three tables are dropped and restored around it on PostgreSQL,
//! and deferred to the commit on SQLite.

use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};
use sea_orm_migration::{async_trait::async_trait, prelude::*, schema::*};
use uuid::Uuid;

use crate::references;

/// The namespace of per-integration event ids. Never change it: every stored id derives
/// from it.
pub const EVENT_NAMESPACE: Uuid = Uuid::from_u128(0x6c77_696e_7465_6772_8000_0000_0000_0001);
/// The sink's namespace of violation and alert ids.
const FINDING_NAMESPACE: Uuid = Uuid::from_u128(0x6c77_6669_6e64_4e67_8000_0000_0000_0001);
/// Rows read and staged per statement.
const BATCH: u64 = 1_000;

/// The id of the event `event_id` (derived from the upstream message) of `integration_id`.
pub fn scoped_event_id(integration_id: i64, event_id: Uuid) -> Uuid {
    let mut name = Vec::with_capacity(24);
    name.extend_from_slice(&integration_id.to_be_bytes());
    name.extend_from_slice(event_id.as_bytes());
    Uuid::new_v5(&EVENT_NAMESPACE, &name)
}

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        // All or nothing on both backends (SQLite's deferred foreign keys need one too).
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        let sql = |text: &str| Statement::from_string(backend, text.to_owned());

        manager
            .alter_table(
                Table::alter()
                    .table("sessions")
                    .add_column(string("chat_id").default(""))
                    .to_owned(),
            )
            .await?;
        db.execute_raw(sql("UPDATE sessions SET chat_id = id, \
             id = CAST(integration_id AS TEXT) || ':' || id"))
            .await?;
        manager
            .create_index(crate::index(
                "sessions",
                "chat",
                &["integration_id", "chat_id"],
            ))
            .await?;

        match backend {
            DbBackend::Postgres => {
                for (table, column) in [("alerts", "violation_id"), ("violations", "event_id")] {
                    manager
                        .drop_foreign_key(
                            ForeignKey::drop()
                                .name(format!("fk_{table}_{column}"))
                                .table(table.to_owned())
                                .to_owned(),
                        )
                        .await?;
                }
            }
            _ => {
                db.execute_raw(sql("PRAGMA defer_foreign_keys = ON"))
                    .await?;
            }
        }

        for table in ["event_id_map", "violation_id_map", "alert_id_map"] {
            manager
                .create_table(
                    Table::create()
                        .table(table)
                        .col(uuid("old_id").primary_key())
                        .col(uuid("new_id"))
                        .to_owned(),
                )
                .await?;
        }
        stage(
            db,
            backend,
            "SELECT id, integration_id FROM events",
            "event_id_map",
            |row| {
                let id: Uuid = row.try_get_by_index(0)?;
                let integration: i64 = row.try_get_by_index(1)?;
                Ok(vec![(id, scoped_event_id(integration, id))])
            },
        )
        .await?;
        stage(
            db,
            backend,
            "SELECT id, integration_id, event_id, policy, rule, direction, span_start, span_end \
             FROM violations",
            "violation_id_map",
            |row| {
                let id: Uuid = row.try_get_by_index(0)?;
                let integration: i64 = row.try_get_by_index(1)?;
                let event: Uuid = row.try_get_by_index(2)?;
                let policy: String = row.try_get_by_index(3)?;
                let rule: String = row.try_get_by_index(4)?;
                let direction: String = row.try_get_by_index(5)?;
                let start: i32 = row.try_get_by_index(6)?;
                let end: i32 = row.try_get_by_index(7)?;
                let key = format!(
                    "{}:{policy}:{rule}:{direction}:{start}:{end}",
                    scoped_event_id(integration, event)
                );
                Ok(vec![(id, Uuid::new_v5(&FINDING_NAMESPACE, key.as_bytes()))])
            },
        )
        .await?;
        stage(
            db,
            backend,
            "SELECT a.id, m.new_id FROM alerts a JOIN violation_id_map m ON m.old_id = a.violation_id",
            "alert_id_map",
            |row| {
                let id: Uuid = row.try_get_by_index(0)?;
                let violation: Uuid = row.try_get_by_index(1)?;
                Ok(vec![(id, Uuid::new_v5(&FINDING_NAMESPACE, violation.as_bytes()))])
            },
        )
        .await?;

        let remap = |table: &str, column: &str, map: &str| {
            format!(
                "UPDATE {table} SET {column} = (SELECT new_id FROM {map} WHERE old_id = {table}.{column}) \
                 WHERE {column} IN (SELECT old_id FROM {map})"
            )
        };
        for statement in [
            remap("alerts", "id", "alert_id_map"),
            remap("alerts", "violation_id", "violation_id_map"),
            remap("alerts", "event_id", "event_id_map"),
            remap("violations", "id", "violation_id_map"),
            remap("violations", "event_id", "event_id_map"),
            remap("events", "id", "event_id_map"),
        ] {
            db.execute_raw(sql(&statement)).await?;
        }
        for table in ["event_id_map", "violation_id_map", "alert_id_map"] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }

        if backend == DbBackend::Postgres {
            for (table, column, parent) in [
                ("violations", "event_id", "events"),
                ("alerts", "violation_id", "violations"),
            ] {
                manager
                    .create_foreign_key(references(table, column, parent).to_owned())
                    .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        // UUIDv5 does not run backwards: the old ids are gone.
        Err(DbErr::Migration(
            "ids per integration cannot be undone; restore a backup taken before it".to_owned(),
        ))
    }
}

/// Reads `select` in pages (ordered by its first column) and stages each row's
/// `(old id, new id)` pairs into `map`.
async fn stage<C, F>(
    db: &C,
    backend: DbBackend,
    select: &str,
    map: &str,
    pairs: F,
) -> Result<(), DbErr>
where
    C: ConnectionTrait,
    F: Fn(&sea_orm_migration::sea_orm::QueryResult) -> Result<Vec<(Uuid, Uuid)>, DbErr>,
{
    let mut offset = 0u64;
    loop {
        let page = db
            .query_all_raw(Statement::from_string(
                backend,
                format!("{select} ORDER BY 1 LIMIT {BATCH} OFFSET {offset}"),
            ))
            .await?;
        if page.is_empty() {
            return Ok(());
        }
        offset += page.len() as u64;
        let mut insert = Query::insert();
        insert
            .into_table(map.to_owned())
            .columns(["old_id", "new_id"]);
        let mut any = false;
        for row in &page {
            for (old, new) in pairs(row)? {
                insert.values_panic([old.into(), new.into()]);
                any = true;
            }
        }
        if any {
            db.execute(&insert).await?;
        }
    }
}
