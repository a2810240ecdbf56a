//! A prompt event: one user message and the assistant response that follows it.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub integration_id: i64,
    pub project_id: i64,
    pub chat_id: String,
    pub user_message_id: String,
    pub user_id: String,
    pub user_email: String,
    pub model: Option<String>,
    pub provider: String,
    #[sea_orm(column_type = "Text")]
    pub input_text: String,
    #[sea_orm(column_type = "Text")]
    pub output_text: String,
    #[sea_orm(column_type = "Json")]
    pub tool_calls: Json,
    #[sea_orm(column_type = "Json")]
    pub attachments: Json,
    pub prompt_tokens: i64,
    pub response_tokens: i64,
    pub total_tokens: i64,
    pub complete: bool,
    pub event_time: DateTimeUtc,
    pub responded_at: Option<DateTimeUtc>,
    pub ingested_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    #[sea_orm(column_type = "Json")]
    pub tags: Json,
    #[sea_orm(column_type = "Json")]
    pub violation_summary: Json,
    pub policy_set_version: Option<i32>,
    pub content_hash: String,
    /// The chat's `updated_at` in the copy this row was built from: a write applies only
    /// when its copy is at least as fresh. `None` on rows stored before it was recorded.
    pub source_updated_at: Option<DateTimeUtc>,
    /// The tags by side, `{"input": [...], "output": [...], "tool": [...]}`; `None` on rows
    /// stored before the side was kept (migration `m20261203_000152`).
    #[sea_orm(column_type = "Json", nullable)]
    pub side_tags: Option<Json>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::integration::Entity",
        from = "Column::IntegrationId",
        to = "super::integration::Column::Id"
    )]
    Integration,
}

impl Related<super::integration::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Integration.def()
    }
}

/// The reverse of [`Relation::Integration`], declared here so that the parent does not import
/// its children.
impl Related<Entity> for super::integration::Entity {
    fn to() -> RelationDef {
        Relation::Integration.def().rev()
    }
}

impl ActiveModelBehavior for ActiveModel {}
