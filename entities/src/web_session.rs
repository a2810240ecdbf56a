//! A dashboard login session: the hash of its cookie's random id, the token it logged in
//! with, its CSRF token and when it was last used.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "web_sessions")]
pub struct Model {
    /// SHA-256 (hex) of the session id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id_hash: String,
    pub token_id: i64,
    pub csrf: String,
    pub created_at: DateTimeUtc,
    pub seen_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
