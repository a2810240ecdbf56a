//! Issue triage and the audit of what investigators did.
//!
//! - `issues.assignee`: who works on an issue, as free text (an email or a name); null when
//!   nobody does.
//! - `issue_comments`: comments on an issue, oldest first, each with the token that wrote it.
//! - An `acknowledged` issue still gathers new alerts of its user and policy, like an open
//!   one: the one-issue-per-group index now covers every issue that is not `resolved`.
//! - `audit_log.detail`: what a call changed or why it was made (a status change, the reason
//!   given to reveal evidence); null for calls that say nothing more than their action.
//! - Indexes for the newest-first lists of sessions, alerts and access events.

use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};
use sea_orm_migration::{async_trait::async_trait, prelude::*, schema::*};

use crate::{index, references};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The predicate of the one-issue-per-group index, written exactly as the sink's upsert
/// names its conflict target: SQLite matches the two on the literal text.
const UNRESOLVED: &str = "status <> 'resolved'";

#[async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("issues")
                    .add_column(string_null("assignee"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("audit_log")
                    .add_column(text_null("detail"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("issue_comments")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(big_integer("issue_id"))
                    .col(big_integer_null("token_id"))
                    .col(string("author"))
                    .col(text("body"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut references("issue_comments", "issue_id", "issues"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("issue_comments", "issue", &["issue_id", "id"]))
            .await?;
        // The newest-first lists of the investigation view page by (time, id).
        for (table, name, columns) in [
            ("sessions", "created_id", &["chat_created_at", "id"][..]),
            ("alerts", "time_id", &["event_time", "id"][..]),
            ("access_events", "time_id", &["event_time", "id"][..]),
        ] {
            manager.create_index(index(table, name, columns)).await?;
        }
        manager
            .drop_index(
                Index::drop()
                    .name("idx_issues_one_open")
                    .table("issues")
                    .to_owned(),
            )
            .await?;
        let backend = manager.get_database_backend();
        manager
            .get_connection()
            .execute_raw(Statement::from_string(
                backend,
                format!(
                    "CREATE UNIQUE INDEX idx_issues_one_open ON issues \
                     (integration_id, user_id, policy) WHERE {UNRESOLVED}"
                ),
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_issues_one_open")
                    .table("issues")
                    .to_owned(),
            )
            .await?;
        for (table, name) in [
            ("sessions", "created_id"),
            ("alerts", "time_id"),
            ("access_events", "time_id"),
        ] {
            manager
                .drop_index(
                    Index::drop()
                        .name(format!("idx_{table}_{name}"))
                        .table(table.to_owned())
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                index(
                    "issues",
                    "one_open",
                    &["integration_id", "user_id", "policy"],
                )
                .unique()
                .and_where(Expr::col("status").eq("open"))
                .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table("issue_comments").to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("audit_log")
                    .drop_column("detail")
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("issues")
                    .drop_column("assignee")
                    .to_owned(),
            )
            .await
    }
}
