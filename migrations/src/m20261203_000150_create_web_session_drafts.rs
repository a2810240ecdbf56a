//! The Add New Integration wizard's draft, kept per dashboard session in the database so
//! that the steps of one wizard may be served by different `serve` replicas. A row belongs
//! to its session (by the session's id hash) and is deleted with it: at logout, when the
//! session expires, or when its token is revoked. The answers are JSON without the key; the
//! API key, once given, is stored only encrypted under the master key (AES-256-GCM).

use sea_orm_migration::{async_trait::async_trait, prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("web_session_drafts")
                    .if_not_exists()
                    .col(string("session_hash").primary_key())
                    .col(text("answers"))
                    .col(text_null("api_key_encrypted"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_web_session_drafts_session_hash")
                            .from("web_session_drafts", "session_hash")
                            .to("web_sessions", "id_hash")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("web_session_drafts").to_owned())
            .await
    }
}
