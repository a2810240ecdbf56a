//! Integrations: one connection to a Compliance API organisation. The API key is stored only
//! encrypted (AES-256-GCM under the master key from settings) with its last four characters
//! kept apart for display; no interface ever returns the key itself.

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
                    .table("integrations")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(string_uniq("name"))
                    .col(string("kind"))
                    .col(big_integer("project_id"))
                    .col(big_integer("data_plane_id"))
                    .col(text("api_key_ciphertext"))
                    .col(string("api_key_last4"))
                    .col(text("base_url"))
                    // The organisation learnt from the first response; the fleet-wide rate
                    // limiter keys on it because every key of one organisation shares 600 rpm.
                    .col(string_null("organization_uuid"))
                    .col(string("status"))
                    // Sync jobs start their window here; it only moves forward.
                    .col(timestamp_with_time_zone_null("sync_watermark"))
                    .col(timestamp_with_time_zone_null("last_synced_at"))
                    .col(text_null("last_error"))
                    .col(string_null("last_error_class"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut references("integrations", "project_id", "projects"))
                    .foreign_key(&mut references(
                        "integrations",
                        "data_plane_id",
                        "data_planes",
                    ))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("integrations").to_owned())
            .await
    }
}
