//! `events (integration_id, event_time, id)`: a re-evaluation reads an integration's events
//! of a time range in `(event_time, id)` keyset pages, each page one index range scan that
//! starts where the last one ended.

use sea_orm_migration::{async_trait::async_trait, prelude::*};

use crate::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(index(
                "events",
                "integration_time_id",
                &["integration_id", "event_time", "id"],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_events_integration_time_id")
                    .table("events")
                    .to_owned(),
            )
            .await
    }
}
