//! An alert raised by a violation whose action asks for one.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "alerts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub violation_id: Uuid,
    pub event_id: Uuid,
    pub integration_id: i64,
    pub issue_id: Option<i64>,
    pub policy: String,
    pub severity: String,
    pub configured_action: String,
    pub user_id: String,
    pub user_email: String,
    pub event_time: DateTimeUtc,
    pub created_at: DateTimeUtc,
    /// Alerts are never deleted: `None` while open.
    pub closed_at: Option<DateTimeUtc>,
    /// Why it closed: `superseded` when a newer evaluation no longer raises it.
    pub close_reason: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::violation::Entity",
        from = "Column::ViolationId",
        to = "super::violation::Column::Id"
    )]
    Violation,
    #[sea_orm(
        belongs_to = "super::issue::Entity",
        from = "Column::IssueId",
        to = "super::issue::Column::Id"
    )]
    Issue,
}

impl Related<super::violation::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Violation.def()
    }
}

impl Related<super::issue::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Issue.def()
    }
}

/// The reverse of [`Relation::Violation`], declared here so that the parent does not import
/// its children.
impl Related<Entity> for super::violation::Entity {
    fn to() -> RelationDef {
        Relation::Violation.def().rev()
    }
}

/// The reverse of [`Relation::Issue`], declared here so that the parent does not import
/// its children.
impl Related<Entity> for super::issue::Entity {
    fn to() -> RelationDef {
        Relation::Issue.def().rev()
    }
}

impl ActiveModelBehavior for ActiveModel {}
