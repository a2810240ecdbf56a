//! Datasets: the prompts of an events search, compiled for evaluations and red teaming.
//!
//! - `datasets`: the name, the search it was compiled from (its query string), the policies
//!   it was limited to, counts, who made it and when.
//! - `dataset_projects`: the projects whose events it holds (and, for a project-scoped
//!   creator, the creator's projects). A project-scoped token sees a dataset only when every
//!   one of its projects is in the token's scope.
//! - `dataset_items`: one row per distinct prompt, in order, with the ids of every event that
//!   carried it; `prompt_hash` (SHA-256 of the normalised prompt) is unique per dataset.

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
                    .table("datasets")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(string("name"))
                    // The events search's query string, e.g. `user_email=a%40b.c&from=…`.
                    .col(text("search"))
                    // JSON array of policy names; empty: every prompt of the search.
                    .col(json("policies"))
                    .col(big_integer("item_count"))
                    .col(big_integer("source_event_count"))
                    .col(string("created_by"))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("dataset_projects")
                    .if_not_exists()
                    .col(big_integer("dataset_id"))
                    .col(big_integer("project_id"))
                    .primary_key(Index::create().col("dataset_id").col("project_id"))
                    .foreign_key(&mut references(
                        "dataset_projects",
                        "dataset_id",
                        "datasets",
                    ))
                    .foreign_key(&mut references(
                        "dataset_projects",
                        "project_id",
                        "projects",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("dataset_items")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(big_integer("dataset_id"))
                    .col(big_integer("position"))
                    .col(string("prompt_hash"))
                    .col(text("prompt"))
                    .col(text("response"))
                    // JSON array: the policies violated and the tags, sorted, distinct.
                    .col(json("labels"))
                    // JSON array of event ids (UUIDs), in the search's order.
                    .col(json("source_event_ids"))
                    .foreign_key(&mut references("dataset_items", "dataset_id", "datasets"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index("dataset_items", "position", &["dataset_id", "position"])
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index("dataset_items", "prompt", &["dataset_id", "prompt_hash"])
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["dataset_items", "dataset_projects", "datasets"] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
