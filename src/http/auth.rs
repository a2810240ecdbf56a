//! Bearer tokens: the request layer recognises the token (if any) once per request, and the
//! [`Authed`] extractor gives handlers the caller, refusing a missing or bad token with 401.
//! Roles are checked with [`Authed::require`] (403); project scope travels with the caller
//! into every service query and lookup (404 outside it).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::error::ApiError;
use crate::service::scope::Scope;
use crate::service::tokens::{Caller, Role};

/// What the request layer found in the `authorization` header.
#[derive(Debug, Clone)]
pub enum Bearer {
    Missing,
    Refused,
    Valid(Caller),
}

/// The authenticated caller of a request.
pub struct Authed(pub Caller);

impl Authed {
    /// The caller, if its role grants `role`'s rights.
    pub fn require(&self, role: Role) -> Result<&Caller, ApiError> {
        if self.0.role.grants(role) {
            Ok(&self.0)
        } else {
            Err(ApiError::Forbidden(format!(
                "a token with the role {} cannot do this: it needs the role {role}",
                self.0.role
            )))
        }
    }
}

/// A caller whose role grants the operator's rights (operator or admin). As an extractor it
/// runs before the body is parsed, so a refused role is a 403 whatever the body holds.
pub struct Operator(pub Caller);

impl Operator {
    /// The projects the caller may see.
    pub fn scope(&self) -> Scope {
        self.0.scope.clone()
    }

    /// `token ID (NAME)`, for the records a call leaves (created by, installed by).
    pub fn who(&self) -> String {
        format!("token {} ({})", self.0.token_id, self.0.token_name)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let authed = Authed::from_request_parts(parts, state).await?;
        authed.require(Role::Operator)?;
        Ok(Operator(authed.0))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        match parts.extensions.get::<Bearer>() {
            Some(Bearer::Valid(caller)) => Ok(Authed(caller.clone())),
            Some(Bearer::Refused) => Err(ApiError::Unauthorized(
                "the bearer token is malformed, unknown or revoked",
            )),
            Some(Bearer::Missing) | None => Err(ApiError::Unauthorized(
                "this route needs a bearer token: authorization: Bearer lw_...",
            )),
        }
    }
}
