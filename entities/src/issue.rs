//! Alerts of one user and policy within a window, grouped for triage.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "issues")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub integration_id: i64,
    pub user_id: String,
    pub user_email: String,
    pub policy: String,
    pub severity: String,
    pub status: IssueStatus,
    /// Who works on the issue (an email or a name); `None` while nobody does.
    pub assignee: Option<String>,
    pub alert_count: i64,
    pub first_seen_at: DateTimeUtc,
    pub last_seen_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// Where an issue stands in triage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "snake_case")]
pub enum IssueStatus {
    /// New alerts of its user and policy join it.
    #[sea_orm(string_value = "open")]
    Open,
    /// Seen by an investigator and being looked at; new alerts still join it.
    #[sea_orm(string_value = "acknowledged")]
    Acknowledged,
    /// Closed by an investigator; new alerts open another issue.
    #[sea_orm(string_value = "resolved")]
    Resolved,
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
