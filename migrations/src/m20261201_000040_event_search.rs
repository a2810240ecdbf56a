//! Event search: full-text over input and output, and the indexes the search filters use.
//!
//! - PostgreSQL: `events.search`, a stored generated `tsvector` (the `simple` configuration,
//!   so words are matched as written in any language) over the first 100,000 characters of
//!   each side, with a GIN index. Generated, so every insert and update keeps it in sync.
//! - SQLite: `events_fts`, an FTS5 index with `events` as its external content, kept in sync
//!   by triggers on insert, update and delete.
//! - `events(project_id, event_time)`, `events(model, event_time)` and
//!   `violations(policy, event_time)` for the project, model and policy filters across
//!   integrations.

use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};
use sea_orm_migration::{async_trait::async_trait, prelude::*};

use crate::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

const POSTGRES_UP: &[&str] = &[
    "ALTER TABLE events ADD COLUMN search tsvector GENERATED ALWAYS AS \
     (to_tsvector('simple'::regconfig, left(input_text, 100000) || ' ' || left(output_text, 100000))) STORED",
    "CREATE INDEX idx_events_search ON events USING GIN (search)",
];

const POSTGRES_DOWN: &[&str] = &[
    "DROP INDEX IF EXISTS idx_events_search",
    "ALTER TABLE events DROP COLUMN IF EXISTS search",
];

const SQLITE_UP: &[&str] = &[
    "CREATE VIRTUAL TABLE events_fts USING fts5(input_text, output_text, content='events')",
    "INSERT INTO events_fts(rowid, input_text, output_text) \
     SELECT rowid, input_text, output_text FROM events",
    "CREATE TRIGGER events_fts_insert AFTER INSERT ON events BEGIN \
     INSERT INTO events_fts(rowid, input_text, output_text) VALUES (new.rowid, new.input_text, new.output_text); END",
    "CREATE TRIGGER events_fts_delete AFTER DELETE ON events BEGIN \
     INSERT INTO events_fts(events_fts, rowid, input_text, output_text) VALUES ('delete', old.rowid, old.input_text, old.output_text); END",
    "CREATE TRIGGER events_fts_update AFTER UPDATE OF input_text, output_text ON events BEGIN \
     INSERT INTO events_fts(events_fts, rowid, input_text, output_text) VALUES ('delete', old.rowid, old.input_text, old.output_text); \
     INSERT INTO events_fts(rowid, input_text, output_text) VALUES (new.rowid, new.input_text, new.output_text); END",
];

const SQLITE_DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS events_fts_update",
    "DROP TRIGGER IF EXISTS events_fts_delete",
    "DROP TRIGGER IF EXISTS events_fts_insert",
    "DROP TABLE IF EXISTS events_fts",
];

async fn run(manager: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    let db = manager.get_connection();
    for statement in statements {
        db.execute_unprepared(statement).await?;
    }
    Ok(())
}

#[async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            DatabaseBackend::Postgres => run(manager, POSTGRES_UP).await?,
            _ => run(manager, SQLITE_UP).await?,
        }
        for (table, name, columns) in [
            ("events", "project_time", &["project_id", "event_time"][..]),
            ("events", "model_time", &["model", "event_time"][..]),
            ("violations", "policy_time", &["policy", "event_time"][..]),
        ] {
            manager.create_index(index(table, name, columns)).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, name) in [
            ("events", "project_time"),
            ("events", "model_time"),
            ("violations", "policy_time"),
        ] {
            manager
                .drop_index(
                    Index::drop()
                        .name(format!("idx_{table}_{name}"))
                        .table(table.to_owned())
                        .to_owned(),
                )
                .await?;
        }
        match manager.get_database_backend() {
            DatabaseBackend::Postgres => run(manager, POSTGRES_DOWN).await,
            _ => run(manager, SQLITE_DOWN).await,
        }
    }
}
