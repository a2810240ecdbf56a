//! The Add New Integration wizard's draft of one dashboard session: the answers so far as
//! JSON, and the API key encrypted under the master key. Deleted with its session.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "web_session_drafts")]
pub struct Model {
    /// The `id_hash` of the session.
    #[sea_orm(primary_key, auto_increment = false)]
    pub session_hash: String,
    /// Name, project, data plane, base URL and whether the connection test passed.
    pub answers: String,
    /// base64(nonce || AES-256-GCM ciphertext) of the key.
    pub api_key_encrypted: Option<String>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
