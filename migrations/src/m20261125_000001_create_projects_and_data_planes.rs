//! Projects group integrations for investigators (and scope API tokens); data planes are the
//! named worker pools an integration's jobs are routed to.

use sea_orm_migration::{async_trait::async_trait, prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["projects", "data_planes"] {
            manager
                .create_table(
                    Table::create()
                        .table(table)
                        .if_not_exists()
                        .col(big_pk_auto("id"))
                        .col(string_uniq("name"))
                        .col(timestamp_with_time_zone("created_at"))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["data_planes", "projects"] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
