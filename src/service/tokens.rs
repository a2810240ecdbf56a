//! API tokens: creating one (the secret is shown once; only the SHA-256 of its 32 random
//! bytes is stored), listing, revoking, and recognising the bearer of a request with its
//! role and project scope.

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, TimeDelta, Utc};
use logwarden_entities::{api_token, api_token_project, project};
use rand::RngCore;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::scope::Scope;
use super::{Error, Services};
use crate::infra::secret::Secret;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, tokens' audit log included.
    Admin,
    /// Integrations, backfills, jobs and policies.
    Operator,
    /// Reading events, sessions, alerts and issues, and export.
    Investigator,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Admin, Role::Operator, Role::Investigator];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Operator => "operator",
            Self::Investigator => "investigator",
        }
    }

    /// Whether a token of this role may do what `needed` may: admin may do everything.
    pub fn grants(self, needed: Role) -> bool {
        self == Role::Admin || self == needed
    }
}

impl fmt::Display for Role {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.pad(self.as_str())
    }
}

impl FromStr for Role {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == text)
            .ok_or_else(|| {
                Error::invalid(
                    "role",
                    format!("{text:?} is not one of admin, operator, investigator"),
                )
            })
    }
}

/// What `token create` takes.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub name: String,
    pub role: Role,
    /// Project names; empty means every project.
    pub projects: Vec<String>,
}

/// A created token: the only time its secret is seen.
#[derive(Debug)]
pub struct CreatedToken {
    pub token: Secret,
    pub view: TokenView,
}

/// A token as `token list` shows it (never its secret or hash).
#[derive(Debug, Clone, Serialize)]
pub struct TokenView {
    pub id: i64,
    pub name: String,
    pub role: Role,
    /// Names of the projects it is scoped to; empty means every project.
    pub projects: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// The bearer of a request: its token, role and scope.
#[derive(Debug, Clone)]
pub struct Caller {
    pub token_id: i64,
    pub token_name: String,
    pub role: Role,
    pub scope: Scope,
}

/// Why a bearer token was not accepted; the API answers 401 to each alike.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the token is not a logwarden API token")]
    Malformed,
    #[error("the token is unknown or revoked")]
    Unknown,
    #[error(transparent)]
    Service(#[from] Error),
}

const PREFIX: &str = "lw_";
/// `last_used_at` is written at most this often per token, not on every request.
const LAST_USED_RESOLUTION: TimeDelta = TimeDelta::minutes(1);

/// The stored hash of a token's text, if it is a well-formed token.
fn hash_of(token: &str) -> Option<String> {
    let secret = URL_SAFE_NO_PAD.decode(token.strip_prefix(PREFIX)?).ok()?;
    (secret.len() == 32).then(|| hex::encode(Sha256::digest(&secret)))
}

impl Services {
    /// Creates a token scoped to the named projects (which must exist) and returns its
    /// secret, which is not stored and cannot be shown again.
    pub async fn create_token(&self, new: NewToken) -> Result<CreatedToken, Error> {
        let name = new.name.trim().to_owned();
        if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
            return Err(Error::invalid(
                "name",
                format!("{:?} must be 1 to 100 printable characters", new.name),
            ));
        }
        let mut project_ids = Vec::new();
        for project_name in &new.projects {
            let row = project::Entity::find()
                .filter(project::Column::Name.eq(project_name.as_str()))
                .one(&self.db)
                .await?
                .ok_or_else(|| Error::not_found("project", format!("{project_name:?}")))?;
            if !project_ids.contains(&row.id) {
                project_ids.push(row.id);
            }
        }
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        let token = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(secret));
        let hash = hex::encode(Sha256::digest(secret));
        let now = Utc::now();
        let txn = self.db.begin().await?;
        let row = api_token::Entity::insert(api_token::ActiveModel {
            name: Set(name),
            token_hash: Set(hash),
            role: Set(new.role.as_str().to_owned()),
            project_id: Set(None),
            created_at: Set(now),
            last_used_at: Set(None),
            revoked_at: Set(None),
            ..Default::default()
        })
        .exec_with_returning(&txn)
        .await?;
        if !project_ids.is_empty() {
            api_token_project::Entity::insert_many(project_ids.iter().map(|&project_id| {
                api_token_project::ActiveModel {
                    token_id: Set(row.id),
                    project_id: Set(project_id),
                }
            }))
            .exec_without_returning(&txn)
            .await?;
        }
        txn.commit().await?;
        Ok(CreatedToken {
            token: Secret::new(token),
            view: self.token(row.id).await?,
        })
    }

    pub async fn token(&self, id: i64) -> Result<TokenView, Error> {
        let row = api_token::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or_else(|| Error::not_found("token", id))?;
        self.token_view(row).await
    }

    /// Every token, revoked ones included, oldest first.
    pub async fn list_tokens(&self) -> Result<Vec<TokenView>, Error> {
        let rows = api_token::Entity::find()
            .order_by_asc(api_token::Column::Id)
            .all(&self.db)
            .await?;
        let mut views = Vec::with_capacity(rows.len());
        for row in rows {
            views.push(self.token_view(row).await?);
        }
        Ok(views)
    }

    /// Revokes a token: from now on it is refused. Revoking twice is a conflict.
    pub async fn revoke_token(&self, id: i64) -> Result<TokenView, Error> {
        let updated = api_token::Entity::update_many()
            .col_expr(api_token::Column::RevokedAt, Expr::value(Some(Utc::now())))
            .filter(api_token::Column::Id.eq(id))
            .filter(api_token::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await?;
        let view = self.token(id).await?;
        if updated.rows_affected == 0 {
            return Err(Error::Conflict(format!("token {id} is already revoked")));
        }
        Ok(view)
    }

    /// The caller a bearer token belongs to, if it is a live token.
    pub async fn authenticate(&self, token: &str) -> Result<Caller, AuthError> {
        let hash = hash_of(token).ok_or(AuthError::Malformed)?;
        let row = api_token::Entity::find()
            .filter(api_token::Column::TokenHash.eq(hash))
            .filter(api_token::Column::RevokedAt.is_null())
            .one(&self.db)
            .await
            .map_err(Error::from)?
            .ok_or(AuthError::Unknown)?;
        self.caller_of(row).await
    }

    /// The caller of the token with id `id`, as [`Services::authenticate`] gives it for the
    /// token's secret: for the dashboard's sessions, which keep the token's id, not its secret.
    pub async fn authenticate_token_id(&self, id: i64) -> Result<Caller, AuthError> {
        let row = api_token::Entity::find_by_id(id)
            .filter(api_token::Column::RevokedAt.is_null())
            .one(&self.db)
            .await
            .map_err(Error::from)?
            .ok_or(AuthError::Unknown)?;
        self.caller_of(row).await
    }

    /// The caller a valid token's row stands for; notes when the token was last used.
    async fn caller_of(&self, row: api_token::Model) -> Result<Caller, AuthError> {
        let role: Role = row.role.parse()?;
        let projects = self.token_project_ids(row.id).await?;
        let now = Utc::now();
        if row
            .last_used_at
            .is_none_or(|used| now - used > LAST_USED_RESOLUTION)
        {
            api_token::Entity::update_many()
                .col_expr(api_token::Column::LastUsedAt, Expr::value(Some(now)))
                .filter(api_token::Column::Id.eq(row.id))
                .exec(&self.db)
                .await
                .map_err(Error::from)?;
        }
        Ok(Caller {
            token_id: row.id,
            token_name: row.name,
            role,
            scope: if projects.is_empty() {
                Scope::Everything
            } else {
                Scope::Projects(projects)
            },
        })
    }

    async fn token_project_ids(&self, token_id: i64) -> Result<Vec<i64>, Error> {
        Ok(api_token_project::Entity::find()
            .filter(api_token_project::Column::TokenId.eq(token_id))
            .order_by_asc(api_token_project::Column::ProjectId)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|row| row.project_id)
            .collect())
    }

    async fn token_view(&self, row: api_token::Model) -> Result<TokenView, Error> {
        let ids = self.token_project_ids(row.id).await?;
        let projects = if ids.is_empty() {
            Vec::new()
        } else {
            project::Entity::find()
                .filter(project::Column::Id.is_in(ids))
                .order_by_asc(project::Column::Name)
                .all(&self.db)
                .await?
                .into_iter()
                .map(|p| p.name)
                .collect()
        };
        Ok(TokenView {
            id: row.id,
            name: row.name,
            role: row.role.parse()?,
            projects,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            revoked_at: row.revoked_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_prefixed_token_of_32_bytes_has_a_hash() {
        let good = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode([7u8; 32]));
        assert_eq!(
            hash_of(&good).as_deref(),
            Some(hex::encode(Sha256::digest([7u8; 32])).as_str())
        );
        for bad in [
            String::new(),
            URL_SAFE_NO_PAD.encode([7u8; 32]),
            format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode([7u8; 31])),
            format!("{PREFIX}not base64!"),
        ] {
            assert_eq!(hash_of(&bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_role_parses_from_its_name_and_an_unknown_one_lists_the_valid_names() {
        assert_eq!("operator".parse::<Role>().unwrap(), Role::Operator);
        let err = "root".parse::<Role>().unwrap_err();
        assert_eq!(err.field(), Some("role"));
        assert!(err.to_string().contains("admin, operator, investigator"));
        assert!(Role::Admin.grants(Role::Operator));
        assert!(!Role::Operator.grants(Role::Investigator));
    }
}
