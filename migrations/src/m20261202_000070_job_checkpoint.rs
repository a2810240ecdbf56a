//! `jobs.checkpoint`: how far the current attempt at a job got (activity cursor, chats done,
//! what the stored part counted), so a retry continues where it stopped; `jobs.skipped` and
//! `jobs.quarantined`: the chats a job left out (their messages were gone) and the events
//! whose evaluation panicked, as JSON arrays, part of the job's completeness record.

use sea_orm_migration::{async_trait::async_trait, prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

const COLUMNS: [&str; 3] = ["checkpoint", "skipped", "quarantined"];

#[async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds one at a time.
        for column in COLUMNS {
            manager
                .alter_table(
                    Table::alter()
                        .table("jobs")
                        .add_column(text_null(column))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in COLUMNS {
            manager
                .alter_table(Table::alter().table("jobs").drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}
