//! What an integration's health is derived from: when its last sync succeeded, how many sync
//! attempts have failed since, and the last error of each job kind, kept apart so that a
//! backfill batch that succeeds never hides a sync that keeps failing.

use sea_orm_migration::{async_trait::async_trait, prelude::*, schema::*};

use crate::{index, references};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters a table one change at a time.
        manager
            .alter_table(
                Table::alter()
                    .table("integrations")
                    .add_column(timestamp_with_time_zone_null("last_sync_succeeded_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("integrations")
                    .add_column(integer("sync_failures").default(0).to_owned())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("integration_errors")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(big_integer("integration_id"))
                    .col(string("kind"))
                    .col(string("class"))
                    .col(text("message"))
                    .col(boolean("is_final"))
                    .col(timestamp_with_time_zone("at"))
                    .foreign_key(&mut references(
                        "integration_errors",
                        "integration_id",
                        "integrations",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index(
                    "integration_errors",
                    "integration_kind",
                    &["integration_id", "kind"],
                )
                .unique()
                .to_owned(),
            )
            .await?;
        // The tick reads the newest sync job of every integration.
        manager
            .create_index(index(
                "jobs",
                "kind_integration_id",
                &["kind", "integration_id", "id"],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_jobs_kind_integration_id")
                    .table("jobs")
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table("integration_errors").to_owned())
            .await?;
        for column in ["sync_failures", "last_sync_succeeded_at"] {
            manager
                .alter_table(
                    Table::alter()
                        .table("integrations")
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
