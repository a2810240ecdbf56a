//! Indexes in the events search's own order, `(…, event_time, id)`, so a page of a filtered
//! search, and each keyset page of an export, is one index range read in result order with
//! no sort:
//!
//! - `events (user_email, event_time, id)` and `events (user_id, event_time, id)` for the
//!   search by user and range (they replace the `(user_email, event_time)` and
//!   `(user_id, event_time)` indexes, their prefixes);
//! - `events (event_time, id)` for the unfiltered search and the export's keyset pages
//!   (replaces `events (event_time)`).
//!
//! The policy filter needs none: bounded by the range, it reads the range's violations of
//! one policy from `violations (policy, event_time)` and joins them to their events by id.

use sea_orm_migration::{async_trait::async_trait, prelude::*};

use crate::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// `(table, new index, its columns, the index it replaces, that one's columns)`.
type Replacement = (
    &'static str,
    &'static str,
    &'static [&'static str],
    (&'static str, &'static [&'static str]),
);

const INDEXES: [Replacement; 3] = [
    (
        "events",
        "user_email_time_id",
        &["user_email", "event_time", "id"],
        ("user_email", &["user_email", "event_time"]),
    ),
    (
        "events",
        "user_id_time_id",
        &["user_id", "event_time", "id"],
        ("user_id", &["user_id", "event_time"]),
    ),
    (
        "events",
        "time_id",
        &["event_time", "id"],
        ("event_time", &["event_time"]),
    ),
];

fn drop(table: &str, name: &str) -> IndexDropStatement {
    Index::drop()
        .name(format!("idx_{table}_{name}"))
        .table(table.to_owned())
        .to_owned()
}

#[async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, name, columns, (old, _)) in INDEXES {
            manager.create_index(index(table, name, columns)).await?;
            manager.drop_index(drop(table, old)).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, name, _, (old, columns)) in INDEXES {
            manager.create_index(index(table, old, columns)).await?;
            manager.drop_index(drop(table, name)).await?;
        }
        Ok(())
    }
}
