//! A backfill of an integration's history, split into batch jobs.

pub use logwarden_jobs::kind::BackfillStatus;
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "backfills")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub integration_id: i64,
    pub range_start: DateTimeUtc,
    pub range_end: DateTimeUtc,
    pub batch_width_seconds: i64,
    pub status: BackfillStatus,
    pub batches_total: i32,
    pub batches_done: i32,
    pub batches_failed: i32,
    pub batches_pending: i32,
    pub batches_in_flight: i32,
    pub batches_canceled: i32,
    /// Bumped by a trigger on every batch insert, status change and delete.
    pub progress_seq: i64,
    /// The `progress_seq` the last refresh saw.
    pub refreshed_seq: i64,
    /// Every batch that starts before this has its row (rows are written page by page).
    pub batches_written_until: Option<DateTimeUtc>,
    pub synced_up_to: Option<DateTimeUtc>,
    /// For a re-evaluation, the installed version it applies to stored events; `None` for a
    /// backfill that pulls from the API.
    pub policy_set_version: Option<i32>,
    pub created_by: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
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
