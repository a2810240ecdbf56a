//! A comment an investigator left on an issue.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "issue_comments")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub issue_id: i64,
    /// The token that wrote it; `None` once that token is deleted.
    pub token_id: Option<i64>,
    /// The token's name when it wrote the comment.
    pub author: String,
    #[sea_orm(column_type = "Text")]
    pub body: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::issue::Entity",
        from = "Column::IssueId",
        to = "super::issue::Column::Id"
    )]
    Issue,
}

impl Related<super::issue::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Issue.def()
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
