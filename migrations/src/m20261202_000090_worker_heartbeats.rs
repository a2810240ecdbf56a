//! `worker_heartbeats`: one row per worker process, its last heartbeat on the database's
//! clock. The live count (rows beaten within the orphan timeout) is what each process's rate
//! limiter splits the budget by while Redis cannot be asked.

use sea_orm_migration::{async_trait::async_trait, prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("worker_heartbeats")
                    .col(string("name").primary_key())
                    .col(string("data_plane"))
                    .col(timestamp_with_time_zone("started_at"))
                    .col(timestamp_with_time_zone("heartbeat_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(crate::index(
                "worker_heartbeats",
                "heartbeat_at",
                &["heartbeat_at"],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("worker_heartbeats").to_owned())
            .await
    }
}
