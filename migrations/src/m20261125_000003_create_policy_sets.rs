//! Versioned policy sets. Each integration has one draft row (`version` 0, `state` `draft`)
//! that edits change, and immutable installed versions 1, 2, … Installing copies the draft
//! into a new installed row in one transaction; events and jobs record the version they were
//! evaluated with.

use sea_orm_migration::{async_trait::async_trait, prelude::*, schema::*};

use crate::{index, references};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("policy_sets")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(big_integer("integration_id"))
                    .col(integer("version"))
                    .col(string("state"))
                    .col(text("config"))
                    .col(string_null("template"))
                    .col(timestamp_with_time_zone_null("installed_at"))
                    .col(string_null("installed_by"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut references(
                        "policy_sets",
                        "integration_id",
                        "integrations",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index(
                    "policy_sets",
                    "integration_version",
                    &["integration_id", "version"],
                )
                .unique()
                .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("policy_sets").to_owned())
            .await
    }
}
