//! The service layer: every operation the CLI and the HTTP API offer, with its validation.
//! Neither interface holds logic of its own; both call these methods.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::config::Settings;
use crate::infra::crypto::MasterKey;

pub mod audit;
pub mod backfill_progress;
pub mod backfills;
pub mod base_url;
pub mod connection;
pub mod counts;
pub mod integration_detail;
pub mod integrations;
pub mod investigation;
pub mod island;
pub mod jobs;
pub mod overview;
pub mod page;
pub mod policies;
pub mod policy_rows;
pub mod pull;
pub mod scope;
pub mod tokens;
pub mod views;
pub mod web_sessions;

/// A failed operation. Each variant maps to one stable error code of the API; messages name
/// the field or the object, and never carry SQL or a secret.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input: names the field and what it accepts (HTTP 400, `invalid`).
    #[error("invalid {field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// No such object (HTTP 404, `not_found`), e.g. `job 7 does not exist`.
    #[error("{what} {key} does not exist")]
    NotFound { what: &'static str, key: String },
    /// The operation does not fit the current state (HTTP 409, `conflict`).
    #[error("{0}")]
    Conflict(String),
    /// The Compliance API refused or failed (HTTP 502, `upstream_error`).
    #[error("the Compliance API answered: {0}")]
    Upstream(#[from] logwarden_compliance::Error),
    /// The master key is missing or cannot decrypt (HTTP 500, `configuration_error`).
    #[error("{0}")]
    Configuration(String),
    /// The database failed (HTTP 500, `internal_error`). The message says only that; the
    /// cause is the error's source, for the logs and the CLI's error chain.
    #[error("database error")]
    Db(#[from] sea_orm::DbErr),
}

impl Error {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            message: message.into(),
        }
    }

    pub fn not_found(what: &'static str, key: impl ToString) -> Self {
        Self::NotFound {
            what,
            key: key.to_string(),
        }
    }

    /// The stable code of the API's error body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid { .. } => "invalid",
            Self::NotFound { .. } => "not_found",
            Self::Conflict(_) => "conflict",
            Self::Upstream(_) => "upstream_error",
            Self::Configuration(_) => "configuration_error",
            Self::Db(_) => "internal_error",
        }
    }

    /// The input field an `invalid` error is about.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }
}

/// A text that names no value of a status or kind enum, as an `invalid` error on its field.
impl From<logwarden_jobs::UnknownValueError> for Error {
    fn from(err: logwarden_jobs::UnknownValueError) -> Self {
        Self::invalid(
            err.field(),
            format!(
                "{:?} is not one of {}",
                err.value(),
                err.expected().join(", ")
            ),
        )
    }
}

/// `a, b or c`: the statuses an action accepts, for its conflict message.
fn one_of<T: std::fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    let items: Vec<String> = items.into_iter().map(|item| item.to_string()).collect();
    match items.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// What the operations need: the database and the settings.
#[derive(Clone)]
pub struct Services {
    pub db: DatabaseConnection,
    pub settings: Arc<Settings>,
    /// Which base URLs integrations may point at: unchecked for the CLI, the server's rules
    /// for the API ([`Services::with_base_url_rules`]).
    pub base_url_rules: base_url::BaseUrlRules,
    /// The request gates of the process (the fleet's budgets when Redis is configured), for
    /// the one-off requests of key checks; none in services made without an app.
    pub gates: Option<crate::infra::ratelimit::GateFactory>,
    /// Where the requests the rate limiter admitted are read back, for the overview's
    /// rate-budget chart; none in services made without an app.
    pub admitted: Option<crate::infra::ratelimit::AdmittedLog>,
}

impl Services {
    pub fn new(db: DatabaseConnection, settings: Arc<Settings>) -> Self {
        Self {
            db,
            settings,
            base_url_rules: base_url::BaseUrlRules::Trusted,
            gates: None,
            admitted: None,
        }
    }

    /// These services reading the requests the rate limiter admitted from `log`.
    pub fn with_admitted_log(mut self, log: crate::infra::ratelimit::AdmittedLog) -> Self {
        self.admitted = Some(log);
        self
    }

    /// These services sending their one-off requests (key checks) through `gates`.
    pub fn with_gates(mut self, gates: crate::infra::ratelimit::GateFactory) -> Self {
        self.gates = Some(gates);
        self
    }

    /// These services checking every base URL given to them against `rules`.
    pub fn with_base_url_rules(mut self, rules: base_url::BaseUrlRules) -> Self {
        self.base_url_rules = rules;
        self
    }

    /// The master key, or a message saying how to set one.
    pub fn master_key(&self) -> Result<MasterKey, Error> {
        let encoded = self.settings.master_key.as_ref().ok_or_else(|| {
            Error::Configuration(
                "no master_key is set: set LOGWARDEN_MASTER_KEY (or master_key in the config file) to 32 random bytes in base64, e.g. from `openssl rand -base64 32`".to_owned(),
            )
        })?;
        MasterKey::from_base64(encoded).map_err(|err| Error::Configuration(err.to_string()))
    }
}
