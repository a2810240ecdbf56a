//! `jobs (status, kind, id)`: the repair of lost jobs walks the `enqueued` rows of each kind
//! in id order, page by page (syncs first, then batches), each page one index range scan
//! however many batch rows are enqueued.

use sea_orm_migration::{async_trait::async_trait, prelude::*};

use crate::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(index("jobs", "status_kind_id", &["status", "kind", "id"]))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_jobs_status_kind_id")
                    .table("jobs")
                    .to_owned(),
            )
            .await
    }
}
