//! Ingested data: prompt events (one per user message and its response), access events (the
//! activity feed) and sessions (one per chat). Ids are deterministic so every write is an
//! idempotent upsert: delivery is at-least-once at every hop.

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
                    .table("events")
                    .if_not_exists()
                    // UUIDv5 of the user message id.
                    .col(uuid("id").primary_key())
                    .col(big_integer("integration_id"))
                    .col(big_integer("project_id"))
                    .col(string("chat_id"))
                    .col(string("user_message_id"))
                    .col(string("user_id"))
                    .col(string("user_email"))
                    .col(string_null("model"))
                    .col(string("provider"))
                    .col(text("input_text"))
                    .col(text("output_text"))
                    .col(json("tool_calls"))
                    // Files, generated files and artifacts: metadata only, never content.
                    .col(json("attachments"))
                    .col(big_integer("prompt_tokens"))
                    .col(big_integer("response_tokens"))
                    .col(big_integer("total_tokens"))
                    .col(boolean("complete"))
                    .col(timestamp_with_time_zone("event_time"))
                    .col(timestamp_with_time_zone_null("responded_at"))
                    .col(timestamp_with_time_zone("ingested_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .col(json("tags"))
                    .col(json("violation_summary"))
                    .col(integer_null("policy_set_version"))
                    .col(string("content_hash"))
                    .foreign_key(&mut references("events", "integration_id", "integrations"))
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            ("integration_time", &["integration_id", "event_time"][..]),
            ("user_id", &["user_id", "event_time"][..]),
            ("user_email", &["user_email", "event_time"][..]),
            ("chat", &["chat_id", "event_time"][..]),
            ("event_time", &["event_time"][..]),
        ] {
            manager.create_index(index("events", name, columns)).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table("access_events")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(big_integer("integration_id"))
                    .col(string("activity_id"))
                    .col(string("activity_type"))
                    .col(string("actor_type"))
                    .col(string_null("actor_user_id"))
                    .col(string_null("actor_email"))
                    .col(string_null("ip_address"))
                    .col(string_null("organization_uuid"))
                    .col(timestamp_with_time_zone("event_time"))
                    .col(timestamp_with_time_zone("ingested_at"))
                    // The whole activity record, unknown fields included.
                    .col(json("record"))
                    .foreign_key(&mut references(
                        "access_events",
                        "integration_id",
                        "integrations",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index(
                    "access_events",
                    "activity",
                    &["integration_id", "activity_id"],
                )
                .unique()
                .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "access_events",
                "integration_time",
                &["integration_id", "event_time"],
            ))
            .await?;
        manager
            .create_index(index(
                "access_events",
                "actor",
                &["actor_user_id", "event_time"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("sessions")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(big_integer("integration_id"))
                    .col(big_integer("project_id"))
                    .col(text("title"))
                    .col(string("user_id"))
                    .col(string("user_email"))
                    .col(string_null("claude_project_id"))
                    .col(string_null("model"))
                    .col(boolean("deleted"))
                    .col(timestamp_with_time_zone("chat_created_at"))
                    .col(timestamp_with_time_zone("chat_updated_at"))
                    .col(timestamp_with_time_zone_null("first_event_at"))
                    .col(timestamp_with_time_zone_null("last_event_at"))
                    .col(big_integer("event_count"))
                    .col(big_integer("message_count"))
                    .col(big_integer("violation_count"))
                    // Findings of the session policies (they look across the whole chat).
                    .col(json("session_findings"))
                    .col(timestamp_with_time_zone("ingested_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut references(
                        "sessions",
                        "integration_id",
                        "integrations",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "sessions",
                "integration_updated",
                &["integration_id", "chat_updated_at"],
            ))
            .await?;
        manager
            .create_index(index("sessions", "user", &["user_id", "chat_updated_at"]))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["sessions", "access_events", "events"] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
