//! The last error of one job kind of an integration: written when an attempt of that kind
//! fails, removed when one succeeds, so each kind's trouble shows until that kind recovers.

use logwarden_jobs::kind::JobKind;
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "integration_errors")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub integration_id: i64,
    pub kind: JobKind,
    pub class: String,
    #[sea_orm(column_type = "Text")]
    pub message: String,
    /// The job failed for good: no retry follows without an operator.
    pub is_final: bool,
    pub at: DateTimeUtc,
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

/// The reverse of [`Relation::Integration`], declared here so that the parent does not
/// import its children.
impl Related<Entity> for super::integration::Entity {
    fn to() -> RelationDef {
        Relation::Integration.def().rev()
    }
}

impl ActiveModelBehavior for ActiveModel {}
