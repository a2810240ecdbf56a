//! Configuration of the fake server: the organisation's size knobs, the accepted API keys with
//! their scopes, the rate limit, live mode and the faults in force at start. Each field maps to
//! one `logwarden fake-api` flag.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};

use super::faults::{FaultConfig, FaultConfigError};
use super::generator::{default_start, GeneratorConfig};

/// The key accepted when no key is configured. It carries every read scope.
pub const DEFAULT_TEST_KEY: &str = "sk-ant-api01-fake-logwarden-test-key";

/// The real API's budget: 600 requests per minute per parent organisation.
pub const DEFAULT_RATE_LIMIT: u32 = 600;

/// A Compliance API scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    ReadActivities,
    ReadUserData,
    ReadOrgData,
    DeleteUserData,
}

impl Scope {
    pub const ALL: [Scope; 4] = [
        Scope::ReadActivities,
        Scope::ReadUserData,
        Scope::ReadOrgData,
        Scope::DeleteUserData,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::ReadActivities => "read:compliance_activities",
            Scope::ReadUserData => "read:compliance_user_data",
            Scope::ReadOrgData => "read:compliance_org_data",
            Scope::DeleteUserData => "delete:compliance_user_data",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A configuration value that cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown scope {found:?} in --key; valid scopes: read:compliance_activities, read:compliance_user_data, read:compliance_org_data, delete:compliance_user_data")]
    UnknownScope { found: String },
    #[error("--key needs a value before the optional `:scope,scope` list")]
    EmptyKey,
    #[error("`{field}` {problem}")]
    OutOfRange {
        field: &'static str,
        problem: &'static str,
    },
    #[error("invalid faults: {0}")]
    Faults(#[from] FaultConfigError),
}

impl FromStr for Scope {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| ConfigError::UnknownScope {
                found: s.to_string(),
            })
    }
}

/// An accepted API key and its scopes. The value never appears in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeySpec {
    value: String,
    scopes: Vec<Scope>,
}

impl ApiKeySpec {
    pub fn new(value: impl Into<String>, scopes: Vec<Scope>) -> Self {
        Self {
            value: value.into(),
            scopes,
        }
    }

    /// A key with the scopes its kind gets by default: Admin keys (`sk-ant-admin01-...`) reach
    /// the activity feed only, every other key gets every read scope.
    pub fn with_default_scopes(value: impl Into<String>) -> Self {
        let value = value.into();
        let scopes = if value.starts_with("sk-ant-admin01-") {
            vec![Scope::ReadActivities]
        } else {
            vec![
                Scope::ReadActivities,
                Scope::ReadUserData,
                Scope::ReadOrgData,
            ]
        };
        Self { value, scopes }
    }

    pub fn scopes(&self) -> &[Scope] {
        &self.scopes
    }

    /// Whether `presented` is this key.
    pub fn matches(&self, presented: &str) -> bool {
        // Length and bytes compared in full so timing does not reveal a matching prefix.
        self.value.len() == presented.len()
            && self
                .value
                .bytes()
                .zip(presented.bytes())
                .fold(0u8, |diff, (a, b)| diff | (a ^ b))
                == 0
    }
}

impl fmt::Debug for ApiKeySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeySpec")
            .field("value", &"<redacted>")
            .field("scopes", &self.scopes)
            .finish()
    }
}

impl FromStr for ApiKeySpec {
    type Err = ConfigError;

    /// Parses `VALUE[:scope,scope...]`, the `--key` flag's syntax.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (value, scopes) = match s.split_once(':') {
            Some((value, scopes)) => (value, Some(scopes)),
            None => (s, None),
        };
        if value.is_empty() {
            return Err(ConfigError::EmptyKey);
        }
        match scopes {
            None => Ok(Self::with_default_scopes(value)),
            Some(list) => {
                let scopes = list
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(Scope::from_str)
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Self::new(value, scopes))
            }
        }
    }
}

/// Everything the fake server is started with.
#[derive(Debug, Clone)]
pub struct FakeConfig {
    /// `--seed`: seed of the generated organisation.
    pub seed: u64,
    /// `--users`: number of users (default 12).
    pub users: u32,
    /// `--chats-per-user-per-day`: average chats a user starts per working day (default 3).
    pub chats_per_user_per_day: u32,
    /// `--turns-per-chat`: average user turns per chat (default 3).
    pub turns_per_chat: u32,
    /// `--start`: first instant of the history. Unset: 2026-04-01T00:00:00Z, or in live mode
    /// midnight `days - 1` days ago, so the history runs into the present.
    pub start: Option<DateTime<Utc>>,
    /// `--days`: length of the history (default 14).
    pub days: u32,
    /// `--plant-rate`: share of prompts that carry a planted policy hit (default 0.08).
    pub plant_rate: f64,
    /// `--key VALUE[:scope,...]` (repeatable). Empty: only [`DEFAULT_TEST_KEY`] is accepted.
    pub keys: Vec<ApiKeySpec>,
    /// `--rate-limit`: requests per minute for the organisation; `None` switches it off.
    pub rate_limit: Option<u32>,
    /// `--live`: the clock follows real time and new days keep being generated.
    pub live: bool,
    /// `--faults JSON`: faults in force at start (same JSON as `POST /_fake/faults`).
    pub faults: FaultConfig,
}

impl Default for FakeConfig {
    fn default() -> Self {
        Self {
            seed: 7,
            users: 12,
            chats_per_user_per_day: 3,
            turns_per_chat: 3,
            start: None,
            days: 14,
            plant_rate: 0.08,
            keys: Vec::new(),
            rate_limit: Some(DEFAULT_RATE_LIMIT),
            live: false,
            faults: FaultConfig::default(),
        }
    }
}

impl FakeConfig {
    /// Checks every knob; the error names the field and what is allowed.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.users == 0 {
            return Err(ConfigError::OutOfRange {
                field: "users",
                problem: "must be at least 1",
            });
        }
        if self.days == 0 {
            return Err(ConfigError::OutOfRange {
                field: "days",
                problem: "must be at least 1",
            });
        }
        if self.turns_per_chat == 0 {
            return Err(ConfigError::OutOfRange {
                field: "turns_per_chat",
                problem: "must be at least 1",
            });
        }
        if !(0.0..=1.0).contains(&self.plant_rate) {
            return Err(ConfigError::OutOfRange {
                field: "plant_rate",
                problem: "must be between 0.0 and 1.0",
            });
        }
        if self.rate_limit == Some(0) {
            return Err(ConfigError::OutOfRange {
                field: "rate_limit",
                problem: "must be at least 1 (leave it unset to switch the limit off)",
            });
        }
        self.faults.validate()?;
        Ok(())
    }

    /// The history's start, resolved against the current real time for live mode.
    pub fn resolved_start(&self, real_now: DateTime<Utc>) -> DateTime<Utc> {
        match (self.start, self.live) {
            (Some(start), _) => start,
            (None, false) => default_start(),
            (None, true) => {
                let midnight = real_now
                    .date_naive()
                    .and_hms_opt(0, 0, 0)
                    .map_or(real_now, |t| t.and_utc());
                midnight - Duration::days(i64::from(self.days) - 1)
            }
        }
    }

    /// The generator knobs.
    pub fn generator(&self, real_now: DateTime<Utc>) -> GeneratorConfig {
        GeneratorConfig {
            seed: self.seed,
            users: self.users,
            chats_per_user_per_day: self.chats_per_user_per_day,
            turns_per_chat: self.turns_per_chat,
            start: self.resolved_start(real_now),
            days: self.days,
            plant_rate: self.plant_rate,
        }
    }

    /// The keys accepted: the configured ones, or the default test key.
    pub fn accepted_keys(&self) -> Vec<ApiKeySpec> {
        if self.keys.is_empty() {
            vec![ApiKeySpec::with_default_scopes(DEFAULT_TEST_KEY)]
        } else {
            self.keys.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_flag_parses_value_and_scopes() {
        // The first colon separates the value; scope names contain colons themselves.
        let key: ApiKeySpec =
            "sk-ant-api01-abc:read:compliance_activities,read:compliance_org_data"
                .parse()
                .unwrap();
        assert_eq!(key.scopes(), &[Scope::ReadActivities, Scope::ReadOrgData]);
        assert!(key.matches("sk-ant-api01-abc"));
        let key: ApiKeySpec = "sk-ant-api01-abc".parse().unwrap();
        assert_eq!(key.scopes().len(), 3);
        let admin: ApiKeySpec = "sk-ant-admin01-xyz".parse().unwrap();
        assert_eq!(admin.scopes(), &[Scope::ReadActivities]);
    }

    #[test]
    fn a_bad_scope_is_rejected_with_the_valid_values() {
        let err = "key:read:everything".parse::<ApiKeySpec>().unwrap_err();
        assert!(
            err.to_string().contains("read:compliance_user_data"),
            "{err}"
        );
    }

    #[test]
    fn debug_output_never_shows_the_key() {
        let key = ApiKeySpec::with_default_scopes("sk-ant-api01-very-secret");
        let config = FakeConfig {
            keys: vec![key],
            ..FakeConfig::default()
        };
        assert!(!format!("{config:?}").contains("very-secret"));
    }

    #[test]
    fn live_mode_history_runs_into_the_present() {
        let config = FakeConfig {
            live: true,
            ..FakeConfig::default()
        };
        let now = Utc::now();
        let start = config.resolved_start(now);
        assert!(start < now && start + Duration::days(14) > now);
        assert_eq!(FakeConfig::default().resolved_start(now), default_start());
    }

    #[test]
    fn invalid_knobs_name_the_field() {
        let err = FakeConfig {
            plant_rate: 1.5,
            ..FakeConfig::default()
        }
        .validate()
        .unwrap_err();
        assert!(err.to_string().contains("plant_rate"));
    }
}
