//! API tokens for the REST API and dashboard. Only a SHA-256 hash of each token is stored;
//! the token itself is shown once, when it is created.

use sea_orm_migration::{async_trait::async_trait, prelude::*, schema::*};

use crate::references;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("api_tokens")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(string("name"))
                    .col(string_uniq("token_hash"))
                    .col(string("role"))
                    .col(big_integer_null("project_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("last_used_at"))
                    .col(timestamp_with_time_zone_null("revoked_at"))
                    .foreign_key(&mut references("api_tokens", "project_id", "projects"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("api_tokens").to_owned())
            .await
    }
}
