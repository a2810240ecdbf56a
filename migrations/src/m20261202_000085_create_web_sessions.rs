//! Dashboard login sessions, kept in the database so that a restart or another `serve`
//! replica behind the same load balancer keeps them. A row holds the SHA-256 of the random
//! session id (the cookie's value, never stored itself), the API token it logged in with
//! (by id: the token's secret is not stored either), the session's CSRF token and when it
//! was last used. Revoking or deleting the token ends its sessions.

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
                    .table("web_sessions")
                    .if_not_exists()
                    .col(string("id_hash").primary_key())
                    .col(big_integer("token_id"))
                    .col(string("csrf"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("seen_at"))
                    .foreign_key(
                        references("web_sessions", "token_id", "api_tokens")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("web_sessions", "seen", &["seen_at"]))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("web_sessions").to_owned())
            .await
    }
}
