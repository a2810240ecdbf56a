//! One unit of ingestion work. This row, not Redis, is the job's truth.

pub use logwarden_jobs::kind::{JobKind, JobStatus};
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "jobs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub kind: JobKind,
    pub integration_id: i64,
    pub backfill_id: Option<i64>,
    pub window_start: DateTimeUtc,
    pub window_end: DateTimeUtc,
    #[sea_orm(unique)]
    pub dedupe_key: String,
    pub status: JobStatus,
    pub attempt: i32,
    pub max_attempts: i32,
    pub next_attempt_at: Option<DateTimeUtc>,
    #[sea_orm(column_type = "Text")]
    pub last_error: Option<String>,
    pub last_error_class: Option<String>,
    pub worker_name: Option<String>,
    pub heartbeat_at: Option<DateTimeUtc>,
    pub policy_set_version: Option<i32>,
    pub created_at: DateTimeUtc,
    pub enqueued_at: Option<DateTimeUtc>,
    pub started_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
    pub pages: i64,
    pub requests: i64,
    pub chats: i64,
    pub messages: i64,
    pub events: i64,
    pub access_events: i64,
    pub violations: i64,
    pub alerts: i64,
    #[sea_orm(column_type = "Text")]
    pub start_cursor: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub terminal_cursor: Option<String>,
    pub final_request_id: Option<String>,
    pub content_hash: Option<String>,
    /// JSON of the current attempt's `logwarden_jobs::checkpoint::Checkpoint`; `None` once
    /// the job succeeded or before any progress.
    #[sea_orm(column_type = "Text")]
    pub checkpoint: Option<String>,
    /// JSON array of the chats the job left out (`SkippedChat`).
    #[sea_orm(column_type = "Text")]
    pub skipped: Option<String>,
    /// JSON array of the events whose evaluation panicked (`QuarantinedEvent`).
    #[sea_orm(column_type = "Text")]
    pub quarantined: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::integration::Entity",
        from = "Column::IntegrationId",
        to = "super::integration::Column::Id"
    )]
    Integration,
    #[sea_orm(
        belongs_to = "super::backfill::Entity",
        from = "Column::BackfillId",
        to = "super::backfill::Column::Id"
    )]
    Backfill,
}

impl Related<super::integration::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Integration.def()
    }
}

impl Related<super::backfill::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Backfill.def()
    }
}

/// The reverse of [`Relation::Integration`], declared here so that the parent does not import
/// its children.
impl Related<Entity> for super::integration::Entity {
    fn to() -> RelationDef {
        Relation::Integration.def().rev()
    }
}

/// The reverse of [`Relation::Backfill`], declared here so that the parent does not import
/// its children.
impl Related<Entity> for super::backfill::Entity {
    fn to() -> RelationDef {
        Relation::Backfill.def().rev()
    }
}

impl ActiveModelBehavior for ActiveModel {}
