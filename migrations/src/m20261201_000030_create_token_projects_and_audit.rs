//! The project scope of API tokens and the audit log of the HTTP API.
//!
//! A token may be scoped to several projects, so the scope is a table of its own
//! (`api_token_projects`); a token with no row there sees every project. The single
//! `api_tokens.project_id` column of the first schema is superseded by it and stays null.
//! `audit_log` records every mutating API call: who (the token), what (the action and its
//! target), the HTTP status it ended with, when, and the request id found in the logs.

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
                    .table("api_token_projects")
                    .if_not_exists()
                    .col(big_integer("token_id"))
                    .col(big_integer("project_id"))
                    .primary_key(Index::create().col("token_id").col("project_id"))
                    .foreign_key(&mut references(
                        "api_token_projects",
                        "token_id",
                        "api_tokens",
                    ))
                    .foreign_key(&mut references(
                        "api_token_projects",
                        "project_id",
                        "projects",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("audit_log")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    // Null only for calls whose token was deleted since; revoked tokens keep
                    // their row, so this stays set in practice.
                    .col(big_integer_null("token_id"))
                    .col(string("token_name"))
                    // `METHOD /api/v1/route/{param}`: the route, not the URL, so actions group.
                    .col(string("action"))
                    // The path called, e.g. `/api/v1/integrations/7/pause`, or the created
                    // object (`integration 9`).
                    .col(text("target"))
                    .col(integer("status"))
                    .col(string("request_id"))
                    .col(timestamp_with_time_zone("at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("audit_log", "token", &["token_id", "id"]))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("audit_log").to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table("api_token_projects").to_owned())
            .await
    }
}
