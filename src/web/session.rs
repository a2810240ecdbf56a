//! Dashboard sessions: a random id in the `lw_session` cookie names a session in the
//! database (see [`crate::service::web_sessions`]): the token it logged in with, by id, and
//! the session's CSRF token. Neither the token nor the id is stored or sent back; each
//! request authenticates the token again, so a revoked token ends its sessions at once, and
//! a restart or another replica keeps them. The Add New Integration wizard's draft is kept
//! with the session in the database, its key encrypted under the master key, and is deleted
//! with the session.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};

use super::pages::error_page;
use crate::http::ApiState;
use crate::infra::secret::Secret;
use crate::service::tokens::{Caller, Role};
pub use crate::service::web_sessions::random_id;
use crate::service::Services;

pub const COOKIE: &str = "lw_session";
/// The double-submit cookie of the login form, which has no session yet.
pub const LOGIN_COOKIE: &str = "lw_login_csrf";

/// The Add New Integration wizard's answers so far, kept in the database with the session
/// (the key encrypted under the master key), so any replica serves the next step.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Draft {
    pub name: String,
    pub project: String,
    pub data_plane: String,
    pub base_url: String,
    #[serde(skip)]
    pub api_key: Option<Secret>,
    /// Test connection succeeded with the key, data plane and base URL above.
    pub tested: bool,
}

/// The wizard draft of session `id`; an empty one when none is kept.
pub async fn draft(services: &Services, id: &str) -> Result<Draft, crate::service::Error> {
    let Some(saved) = services.web_draft(id).await? else {
        return Ok(Draft::default());
    };
    let mut draft: Draft = serde_json::from_str(&saved.answers).unwrap_or_default();
    draft.api_key = saved.api_key;
    if draft.api_key.is_none() {
        draft.tested = false;
    }
    Ok(draft)
}

/// Keeps `draft` in session `id`.
pub async fn set_draft(
    services: &Services,
    id: &str,
    draft: &Draft,
) -> Result<(), crate::service::Error> {
    // Strings and a flag: encoding cannot fail.
    let answers = serde_json::to_string(draft).unwrap_or_default();
    services
        .save_web_draft(id, answers, draft.api_key.as_ref())
        .await
}

/// The value of cookie `name` in `headers`.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// A `Set-Cookie` value for an HttpOnly, SameSite=Strict cookie on every path.
pub fn set_cookie(name: &str, value: &str, max_age: Option<i64>) -> String {
    let age = max_age
        .map(|age| format!("; Max-Age={age}"))
        .unwrap_or_default();
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict{age}")
}

/// The logged-in viewer of a page: the token's caller and the session's CSRF token.
pub struct Viewer {
    pub caller: Caller,
    pub csrf: String,
    pub session: String,
}

impl Viewer {
    pub fn may(&self, role: Role) -> bool {
        self.caller.role.grants(role)
    }

    /// The audit log is for admin tokens without a project scope, as in the API.
    pub fn may_read_audit(&self) -> bool {
        self.caller.role == Role::Admin
            && self.caller.scope == crate::service::scope::Scope::Everything
    }

    /// `token ID (NAME)`, for the records a form leaves (created by, installed by).
    pub fn who(&self) -> String {
        format!(
            "token {} ({})",
            self.caller.token_id, self.caller.token_name
        )
    }

    /// `None` when the viewer's role grants `role`; a 403 page naming both roles otherwise.
    pub fn refusal(&self, role: Role) -> Option<Response> {
        if self.may(role) {
            None
        } else {
            Some(error_page(
                Some(self),
                axum::http::StatusCode::FORBIDDEN,
                "Not available to your role",
                &format!(
                    "This page needs a token with the role {role}; you are logged in with the role {}.",
                    self.caller.role
                ),
            ))
        }
    }

    /// `None` when a form may be submitted: the role grants `role` and `csrf` is this
    /// session's CSRF token; the refusal otherwise.
    pub fn form_refusal(&self, role: Role, csrf: &str) -> Option<Response> {
        self.refusal(role).or_else(|| self.csrf_refusal(csrf))
    }

    /// `None` when `submitted` is this session's CSRF token; a 403 page otherwise.
    pub fn csrf_refusal(&self, submitted: &str) -> Option<Response> {
        if !submitted.is_empty() && constant_eq(submitted.as_bytes(), self.csrf.as_bytes()) {
            None
        } else {
            Some(error_page(
                Some(self),
                axum::http::StatusCode::FORBIDDEN,
                "The form has expired",
                "The form's security token did not match this session. Reload the page and submit it again.",
            ))
        }
    }
}

pub fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl FromRequestParts<ApiState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Response> {
        let to_login = || Redirect::to("/login").into_response();
        let Some(id) = cookie(&parts.headers, COOKIE) else {
            return Err(to_login());
        };
        match state.services.web_session(id).await {
            Ok(Some(found)) => Ok(Viewer {
                caller: found.caller,
                csrf: found.csrf,
                session: id.to_owned(),
            }),
            Ok(None) => Err(to_login()),
            Err(err) => Err(error_page(
                None,
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "Cannot check your session",
                &format!("The database did not answer: {err}"),
            )),
        }
    }
}
