//! A session: one chat, with its counts and the findings of the session policies.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    /// `<integration id>:<chat id>`: a session belongs to its integration.
    pub id: String,
    /// The upstream chat id.
    pub chat_id: String,
    pub integration_id: i64,
    pub project_id: i64,
    #[sea_orm(column_type = "Text")]
    pub title: String,
    pub user_id: String,
    pub user_email: String,
    pub claude_project_id: Option<String>,
    pub model: Option<String>,
    pub deleted: bool,
    /// When the chat was deleted upstream; the session keeps what was ingested before.
    pub deleted_at: Option<DateTimeUtc>,
    pub chat_created_at: DateTimeUtc,
    pub chat_updated_at: DateTimeUtc,
    pub first_event_at: Option<DateTimeUtc>,
    pub last_event_at: Option<DateTimeUtc>,
    pub event_count: i64,
    pub message_count: i64,
    pub violation_count: i64,
    #[sea_orm(column_type = "Json")]
    pub session_findings: Json,
    pub ingested_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
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
