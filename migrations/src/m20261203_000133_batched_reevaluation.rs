//! Re-evaluation runs like a backfill: a `backfills` row with the policy set version it
//! applies (`policy_set_version`, null for a backfill that pulls from the API), split into
//! `reevaluate` batch jobs per time slice that the pump feeds, counts and refreshes as it does
//! a backfill's.
//!
//! - `backfills (integration_id, policy_set_version, range_start, range_end)`, unique: one
//!   re-evaluation per range and version, the range end included; backfills (null version)
//!   never collide, since neither backend counts nulls equal in a unique index.

use sea_orm_migration::{async_trait::async_trait, prelude::*, schema::*};

use crate::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("backfills")
                    .add_column(integer_null("policy_set_version"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index(
                    "backfills",
                    "reevaluation_range",
                    &[
                        "integration_id",
                        "policy_set_version",
                        "range_start",
                        "range_end",
                    ],
                )
                .unique()
                .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_backfills_reevaluation_range")
                    .table("backfills")
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("backfills")
                    .drop_column("policy_set_version")
                    .to_owned(),
            )
            .await
    }
}
