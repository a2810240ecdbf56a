//! One unit of ingestion work. This row, not Redis, is the job's truth.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "jobs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub kind: String,
    pub integration_id: i64,
    pub backfill_id: Option<i64>,
    pub window_start: DateTimeUtc,
    pub window_end: DateTimeUtc,
    #[sea_orm(unique)]
    pub dedupe_key: String,
    pub status: String,
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
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
