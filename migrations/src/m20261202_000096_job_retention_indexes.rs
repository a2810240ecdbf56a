//! Indexes for job retention and the Jobs view:
//!
//! - `jobs (status, finished_at)`: the scheduler prunes finished jobs older than their
//!   retention, a few hundred at a time, each page one index range scan;
//! - `jobs (integration_id, status, id)`: the Jobs view lists an integration's jobs (of one
//!   status or all) newest first by id, read in index order instead of sorted.

use sea_orm_migration::{async_trait::async_trait, prelude::*};

use crate::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: [(&str, &[&str]); 2] = [
    ("status_finished", &["status", "finished_at"]),
    ("integration_status_id", &["integration_id", "status", "id"]),
];

#[async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, columns) in INDEXES {
            manager.create_index(index("jobs", name, columns)).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, _) in INDEXES {
            manager
                .drop_index(
                    Index::drop()
                        .name(format!("idx_jobs_{name}"))
                        .table("jobs")
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
