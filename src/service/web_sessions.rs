//! Dashboard login sessions in the database, so that a restart or a second `serve` replica
//! keeps them. The cookie carries a random 256-bit id; the row is keyed by its SHA-256 and
//! names the token by id, so neither the session id nor the token's secret is stored. Each
//! use authenticates the token again: revoking it ends its sessions at once. A session may
//! keep one Add New Integration wizard draft (`web_session_drafts`), deleted with it.

use chrono::{TimeDelta, Utc};
use logwarden_entities::web_session;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use sha2::{Digest, Sha256};

use super::tokens::{AuthError, Caller};
use super::{Error, Services};

/// How long a session lasts without use.
pub const IDLE: TimeDelta = TimeDelta::hours(8);
/// A session's last use is written at most this often.
const SEEN_RESOLUTION: TimeDelta = TimeDelta::minutes(1);

fn hash_of(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

/// 256 random bits, hex-encoded.
pub fn random_id() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// A session found by its id: who it is and its CSRF token.
pub struct WebSession {
    pub caller: Caller,
    pub csrf: String,
}

impl Services {
    /// Starts a session for the token `token_id`; returns the session id for the cookie.
    /// Sessions idle for longer than [`IDLE`] are deleted on the way.
    pub async fn start_web_session(&self, token_id: i64) -> Result<String, Error> {
        let now = Utc::now();
        web_session::Entity::delete_many()
            .filter(web_session::Column::SeenAt.lt(now - IDLE))
            .exec(&self.db)
            .await?;
        let id = random_id();
        web_session::Entity::insert(web_session::ActiveModel {
            id_hash: Set(hash_of(&id)),
            token_id: Set(token_id),
            csrf: Set(random_id()),
            created_at: Set(now),
            seen_at: Set(now),
        })
        .exec_without_returning(&self.db)
        .await?;
        Ok(id)
    }

    /// The live session `id` with its caller, `None` when it is unknown, idle too long or its
    /// token is revoked (such a session is deleted).
    pub async fn web_session(&self, id: &str) -> Result<Option<WebSession>, AuthError> {
        let now = Utc::now();
        let hash = hash_of(id);
        let Some(row) = web_session::Entity::find_by_id(hash.clone())
            .one(&self.db)
            .await
            .map_err(Error::from)?
        else {
            return Ok(None);
        };
        if now - row.seen_at >= IDLE {
            self.end_web_session(id).await?;
            return Ok(None);
        }
        let caller = match self.authenticate_token_id(row.token_id).await {
            Ok(caller) => caller,
            Err(AuthError::Malformed | AuthError::Unknown) => {
                self.end_web_session(id).await?;
                return Ok(None);
            }
            Err(err) => return Err(err),
        };
        if now - row.seen_at > SEEN_RESOLUTION {
            web_session::Entity::update_many()
                .col_expr(web_session::Column::SeenAt, Expr::value(now))
                .filter(web_session::Column::IdHash.eq(hash))
                .exec(&self.db)
                .await
                .map_err(Error::from)?;
        }
        Ok(Some(WebSession {
            caller,
            csrf: row.csrf,
        }))
    }

    /// Ends session `id` (logout).
    pub async fn end_web_session(&self, id: &str) -> Result<(), Error> {
        web_session::Entity::delete_by_id(hash_of(id))
            .exec(&self.db)
            .await?;
        Ok(())
    }
}

/// A session's saved wizard draft: the answers (JSON, no secret in them) and the API key.
pub struct SavedDraft {
    pub answers: String,
    pub api_key: Option<crate::infra::secret::Secret>,
}

impl Services {
    /// Keeps the wizard draft of session `id`: `answers` as given, and `api_key` encrypted
    /// under the master key (without one set, a draft with a key is refused, as adding the
    /// integration would be). The draft is deleted with its session.
    pub async fn save_web_draft(
        &self,
        id: &str,
        answers: String,
        api_key: Option<&crate::infra::secret::Secret>,
    ) -> Result<(), Error> {
        use logwarden_entities::web_session_draft as draft;
        use sea_orm::sea_query::OnConflict;
        let encrypted = match api_key {
            Some(key) => Some(self.master_key()?.encrypt(key)),
            None => None,
        };
        draft::Entity::insert(draft::ActiveModel {
            session_hash: Set(hash_of(id)),
            answers: Set(answers),
            api_key_encrypted: Set(encrypted),
            updated_at: Set(Utc::now()),
        })
        .on_conflict(
            OnConflict::column(draft::Column::SessionHash)
                .update_columns([
                    draft::Column::Answers,
                    draft::Column::ApiKeyEncrypted,
                    draft::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(&self.db)
        .await?;
        Ok(())
    }

    /// The wizard draft of session `id`, if one is kept. A key the master key cannot decrypt
    /// (the key was changed since) is dropped: the wizard asks for it again.
    pub async fn web_draft(&self, id: &str) -> Result<Option<SavedDraft>, Error> {
        use logwarden_entities::web_session_draft as draft;
        let Some(row) = draft::Entity::find_by_id(hash_of(id)).one(&self.db).await? else {
            return Ok(None);
        };
        let api_key = match row.api_key_encrypted {
            Some(stored) => match self.master_key()?.decrypt(&stored) {
                Ok(key) => Some(key),
                Err(err) => {
                    tracing::warn!(error = %err, "a wizard draft's key cannot be decrypted; it is asked for again");
                    None
                }
            },
            None => None,
        };
        Ok(Some(SavedDraft {
            answers: row.answers,
            api_key,
        }))
    }

    /// Forgets the wizard draft of session `id`.
    pub async fn clear_web_draft(&self, id: &str) -> Result<(), Error> {
        logwarden_entities::web_session_draft::Entity::delete_by_id(hash_of(id))
            .exec(&self.db)
            .await?;
        Ok(())
    }
}
