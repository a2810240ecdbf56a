//! One policy finding on an event.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "violations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub event_id: Uuid,
    pub integration_id: i64,
    pub policy: String,
    pub rule: String,
    pub direction: String,
    pub span_start: i32,
    pub span_end: i32,
    #[sea_orm(column_type = "Text")]
    pub evidence: String,
    pub severity: String,
    pub configured_action: String,
    pub effective_action: String,
    pub user_id: String,
    pub event_time: DateTimeUtc,
    pub policy_set_version: Option<i32>,
    pub created_at: DateTimeUtc,
    /// When a newer evaluation of the event stopped finding it; `None` while it stands.
    pub superseded_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::event::Entity",
        from = "Column::EventId",
        to = "super::event::Column::Id"
    )]
    Event,
}

impl Related<super::event::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Event.def()
    }
}

/// The reverse of [`Relation::Event`], declared here so that the parent does not import
/// its children.
impl Related<Entity> for super::event::Entity {
    fn to() -> RelationDef {
        Relation::Event.def().rev()
    }
}

impl ActiveModelBehavior for ActiveModel {}
