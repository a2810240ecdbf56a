//! An activity-feed record: logins, uploads, views, admin actions.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "access_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub integration_id: i64,
    pub activity_id: String,
    pub activity_type: String,
    pub actor_type: String,
    pub actor_user_id: Option<String>,
    pub actor_email: Option<String>,
    pub ip_address: Option<String>,
    pub organization_uuid: Option<String>,
    pub event_time: DateTimeUtc,
    pub ingested_at: DateTimeUtc,
    #[sea_orm(column_type = "Json")]
    pub record: Json,
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
