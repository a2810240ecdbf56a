//! One connection to a Compliance API organisation. `api_key_ciphertext` is AES-256-GCM under the master key; it is never returned by any interface.

pub use logwarden_jobs::kind::{IntegrationKind, IntegrationStatus};
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "integrations")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub name: String,
    pub kind: IntegrationKind,
    pub project_id: i64,
    pub data_plane_id: i64,
    #[sea_orm(column_type = "Text")]
    pub api_key_ciphertext: String,
    pub api_key_last4: String,
    #[sea_orm(column_type = "Text")]
    pub base_url: String,
    pub organization_uuid: Option<String>,
    pub status: IntegrationStatus,
    pub sync_watermark: Option<DateTimeUtc>,
    pub last_synced_at: Option<DateTimeUtc>,
    #[sea_orm(column_type = "Text")]
    pub last_error: Option<String>,
    pub last_error_class: Option<String>,
    pub created_at: DateTimeUtc,
    /// When a sync job of the integration last succeeded.
    pub last_sync_succeeded_at: Option<DateTimeUtc>,
    /// Sync attempts failed since the last successful sync.
    pub sync_failures: i32,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::project::Entity",
        from = "Column::ProjectId",
        to = "super::project::Column::Id"
    )]
    Project,
    #[sea_orm(
        belongs_to = "super::data_plane::Entity",
        from = "Column::DataPlaneId",
        to = "super::data_plane::Column::Id"
    )]
    DataPlane,
}

impl Related<super::project::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Project.def()
    }
}

impl Related<super::data_plane::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::DataPlane.def()
    }
}

/// The reverse of [`Relation::Project`], declared here so that the parent does not import
/// its children.
impl Related<Entity> for super::project::Entity {
    fn to() -> RelationDef {
        Relation::Project.def().rev()
    }
}

/// The reverse of [`Relation::DataPlane`], declared here so that the parent does not import
/// its children.
impl Related<Entity> for super::data_plane::Entity {
    fn to() -> RelationDef {
        Relation::DataPlane.def().rev()
    }
}

impl ActiveModelBehavior for ActiveModel {}
