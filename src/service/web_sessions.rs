//! Dashboard login sessions in the database, so that a restart or a second `serve` replica
//! keeps them. The cookie carries a random 256-bit id; the row is keyed by its SHA-256 and
//! names the token by id, so neither the session id nor the token's secret is stored. Each
//! use authenticates the token again: revoking it ends its sessions at once.

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
