//! Dashboard sessions: a random id in the `lw_session` cookie names a server-side record of
//! the API token it logged in with and the session's CSRF token. The token itself never goes
//! back to the browser; each request authenticates it again, so a revoked token ends its
//! sessions at once.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, TimeDelta, Utc};

use super::pages::error_page;
use crate::http::ApiState;
use crate::infra::secret::Secret;
use crate::service::tokens::{AuthError, Caller, Role};

pub const COOKIE: &str = "lw_session";
/// The double-submit cookie of the login form, which has no session yet.
pub const LOGIN_COOKIE: &str = "lw_login_csrf";
/// How long a session lasts without use.
const IDLE: TimeDelta = TimeDelta::hours(8);

struct Session {
    token: Secret,
    csrf: String,
    seen: DateTime<Utc>,
    draft: Option<Draft>,
}

/// The Add New Integration wizard's answers so far.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    pub name: String,
    pub project: String,
    pub data_plane: String,
    pub base_url: String,
    pub api_key: Option<Secret>,
    /// Test connection succeeded with the key, data plane and base URL above.
    pub tested: bool,
}

/// The wizard draft of session `id`.
pub fn draft(id: &str) -> Option<Draft> {
    let map = sessions().lock().expect("sessions");
    map.get(id).and_then(|session| session.draft.clone())
}

/// Keeps `draft` in session `id`.
pub fn set_draft(id: &str, draft: Draft) {
    if let Some(session) = sessions().lock().expect("sessions").get_mut(id) {
        session.draft = Some(draft);
    }
}

/// Forgets session `id`'s draft.
pub fn clear_draft(id: &str) {
    if let Some(session) = sessions().lock().expect("sessions").get_mut(id) {
        session.draft = None;
    }
}

fn sessions() -> &'static Mutex<HashMap<String, Session>> {
    static SESSIONS: OnceLock<Mutex<HashMap<String, Session>>> = OnceLock::new();
    SESSIONS.get_or_init(Default::default)
}

/// 256 random bits, hex-encoded.
pub fn random_id() -> String {
    hex::encode(rand::random::<[u8; 32]>())
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

/// Starts a session for `token`; returns its id.
pub fn start(token: Secret) -> String {
    let id = random_id();
    let mut map = sessions().lock().expect("sessions");
    let now = Utc::now();
    map.retain(|_, session| now - session.seen < IDLE);
    map.insert(
        id.clone(),
        Session {
            token,
            csrf: random_id(),
            seen: now,
            draft: None,
        },
    );
    id
}

/// Ends the session `id`.
pub fn end(id: &str) {
    sessions().lock().expect("sessions").remove(id);
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
        let found = {
            let mut map = sessions().lock().expect("sessions");
            let now = Utc::now();
            match map.get_mut(id) {
                Some(session) if now - session.seen < IDLE => {
                    session.seen = now;
                    Some((session.token.clone(), session.csrf.clone()))
                }
                Some(_) => {
                    map.remove(id);
                    None
                }
                None => None,
            }
        };
        let Some((token, csrf)) = found else {
            return Err(to_login());
        };
        match state.services.authenticate(token.expose()).await {
            Ok(caller) => Ok(Viewer {
                caller,
                csrf,
                session: id.to_owned(),
            }),
            Err(AuthError::Malformed | AuthError::Unknown) => {
                end(id);
                Err(to_login())
            }
            Err(AuthError::Service(err)) => Err(error_page(
                None,
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "Cannot check your session",
                &format!("The database did not answer: {err}"),
            )),
        }
    }
}
