//! `events.side_tags`: an event's tags by the side whose evaluation gave them,
//! `{"input": [...], "output": [...], "tool": [...]}`, written by every evaluation (ingestion,
//! Island push, re-evaluation) next to `events.tags`, the union of the three.
//!
//! Rows stored before this migration keep `NULL`: their tags were stored for the event as a
//! whole, and the side each came from was not kept, so it cannot be re-derived from the row.
//! The API reports them with `by_side: null`; a re-evaluation of their range
//! (`logwarden policy reevaluate`) writes their tags by side.

use sea_orm_migration::{async_trait::async_trait, prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("events")
                    .add_column(json_null("side_tags"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("events")
                    .drop_column("side_tags")
                    .to_owned(),
            )
            .await
    }
}
