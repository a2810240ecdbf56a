//! One mutating call of the HTTP API: who made it, what it did, how it ended.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub token_id: Option<i64>,
    pub token_name: String,
    pub action: String,
    pub target: String,
    pub status: i32,
    pub request_id: String,
    pub at: DateTimeUtc,
    /// What the call changed or why it was made, when it says more than its action.
    pub detail: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
