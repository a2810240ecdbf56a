//! Violations (one per finding), alerts (for violations whose action asks for one) and issues
//! (alerts of one user and policy grouped for triage). Violation and alert ids derive from
//! the event and the finding, so re-running a job upserts instead of duplicating.

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
                    .table("violations")
                    .if_not_exists()
                    .col(uuid("id").primary_key())
                    .col(uuid("event_id"))
                    .col(big_integer("integration_id"))
                    .col(string("policy"))
                    .col(string("rule"))
                    .col(string("direction"))
                    .col(integer("span_start"))
                    .col(integer("span_end"))
                    .col(text("evidence"))
                    .col(string("severity"))
                    .col(string("configured_action"))
                    .col(string("effective_action"))
                    .col(string("user_id"))
                    .col(timestamp_with_time_zone("event_time"))
                    .col(integer_null("policy_set_version"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut references("violations", "event_id", "events"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("violations", "event", &["event_id"]))
            .await?;
        manager
            .create_index(index(
                "violations",
                "integration_policy_time",
                &["integration_id", "policy", "event_time"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("issues")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(big_integer("integration_id"))
                    .col(string("user_id"))
                    .col(string("user_email"))
                    .col(string("policy"))
                    .col(string("severity"))
                    .col(string("status"))
                    .col(big_integer("alert_count"))
                    .col(timestamp_with_time_zone("first_seen_at"))
                    .col(timestamp_with_time_zone("last_seen_at"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut references("issues", "integration_id", "integrations"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "issues",
                "grouping",
                &["integration_id", "user_id", "policy", "last_seen_at"],
            ))
            .await?;
        manager
            .create_index(index("issues", "status", &["status", "last_seen_at"]))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("alerts")
                    .if_not_exists()
                    .col(uuid("id").primary_key())
                    .col(uuid_uniq("violation_id"))
                    .col(uuid("event_id"))
                    .col(big_integer("integration_id"))
                    .col(big_integer_null("issue_id"))
                    .col(string("policy"))
                    .col(string("severity"))
                    .col(string("configured_action"))
                    .col(string("user_id"))
                    .col(string("user_email"))
                    .col(timestamp_with_time_zone("event_time"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut references("alerts", "violation_id", "violations"))
                    .foreign_key(&mut references("alerts", "issue_id", "issues"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("alerts", "issue", &["issue_id"]))
            .await?;
        manager
            .create_index(index(
                "alerts",
                "integration_time",
                &["integration_id", "event_time"],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["alerts", "issues", "violations"] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
