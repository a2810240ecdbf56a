//! Settings: one struct, every field documented, resolved from (highest first) command-line
//! flags, `LOGWARDEN_*` / `DATABASE_URL` / `REDIS_URL` environment variables, an optional TOML
//! file, and defaults; validated once at start with messages that say what to fix.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use serde::Deserialize;

use crate::infra::secret::Secret;

/// Every setting of every role.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where everything durable lives: `postgres://…` for the fleet, `sqlite://FILE?mode=rwc`
    /// for the embedded default.
    pub database_url: Secret,
    /// Redis for the fleet's job transport, locks and rate limiting. None: the embedded
    /// in-process queue (single process only).
    pub redis_url: Option<Secret>,
    /// Prefix of every Redis key, so several deployments (or tests) can share one Redis.
    pub redis_prefix: String,
    /// Base64 of 32 random bytes; encrypts integration API keys at rest.
    pub master_key: Option<Secret>,
    /// `pretty` for people, `json` for log shippers.
    pub log_format: LogFormat,
    /// Log filter in `RUST_LOG` syntax.
    pub log_level: String,
    /// Cron expression (with seconds) of the sync tick.
    pub sync_schedule: String,
    /// How far behind now a sync window ends (the API needs up to a minute to index).
    pub sync_lag: Duration,
    /// How far a sync window reaches back before the watermark, for late-indexed records.
    pub sync_overlap: Duration,
    /// Where the first sync of a new integration starts, back from now.
    pub initial_lookback: Duration,
    /// Default width of a backfill batch.
    pub backfill_batch_width: Duration,
    /// How far back a backfill may start (the API keeps activity 6 years).
    pub backfill_horizon: Duration,
    /// Most batches of one backfill in the queue or running at once.
    pub backfill_max_in_flight: u32,
    /// Most jobs of one organisation in the queue or running at once.
    pub org_max_in_flight: u32,
    /// Attempts a job gets before it is marked failed.
    pub job_max_attempts: u32,
    /// Time limit of one attempt.
    pub job_timeout: Duration,
    /// First retry delay of a failed attempt (doubles, with jitter).
    pub retry_base: Duration,
    /// Longest retry delay.
    pub retry_cap: Duration,
    /// A processing job whose worker has not sent a heartbeat for this long is taken over.
    pub orphan_timeout: Duration,
    /// Requests per minute that the whole fleet may send to one organisation.
    pub rate_limit_per_minute: u32,
    /// Compliance API connect timeout.
    pub api_connect_timeout: Duration,
    /// Compliance API request timeout.
    pub api_request_timeout: Duration,
    /// Address of `logwarden serve`.
    pub listen: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "pretty" => Ok(Self::Pretty),
            "json" => Ok(Self::Json),
            other => Err(format!(
                "invalid log_format \"{other}\": expected one of pretty, json"
            )),
        }
    }
}

/// The settings as flags and environment variables; unset ones fall through to the file.
#[derive(Debug, Clone, Default, Args)]
pub struct SettingsArgs {
    /// TOML file with settings (keys as in the README's table).
    #[arg(long, env = "LOGWARDEN_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<Secret>,
    #[arg(long, env = "REDIS_URL", global = true, hide_env_values = true)]
    pub redis_url: Option<Secret>,
    #[arg(long, env = "LOGWARDEN_REDIS_PREFIX", global = true)]
    pub redis_prefix: Option<String>,
    #[arg(
        long,
        env = "LOGWARDEN_MASTER_KEY",
        global = true,
        hide_env_values = true
    )]
    pub master_key: Option<Secret>,
    #[arg(long, env = "LOGWARDEN_LOG_FORMAT", global = true)]
    pub log_format: Option<String>,
    #[arg(long, env = "LOGWARDEN_LOG_LEVEL", global = true)]
    pub log_level: Option<String>,
    #[arg(long, env = "LOGWARDEN_SYNC_SCHEDULE", global = true)]
    pub sync_schedule: Option<String>,
    #[arg(long, env = "LOGWARDEN_SYNC_LAG", global = true)]
    pub sync_lag: Option<String>,
    #[arg(long, env = "LOGWARDEN_SYNC_OVERLAP", global = true)]
    pub sync_overlap: Option<String>,
    #[arg(long, env = "LOGWARDEN_INITIAL_LOOKBACK", global = true)]
    pub initial_lookback: Option<String>,
    #[arg(long, env = "LOGWARDEN_BACKFILL_BATCH_WIDTH", global = true)]
    pub backfill_batch_width: Option<String>,
    #[arg(long, env = "LOGWARDEN_BACKFILL_HORIZON", global = true)]
    pub backfill_horizon: Option<String>,
    #[arg(long, env = "LOGWARDEN_BACKFILL_MAX_IN_FLIGHT", global = true)]
    pub backfill_max_in_flight: Option<String>,
    #[arg(long, env = "LOGWARDEN_ORG_MAX_IN_FLIGHT", global = true)]
    pub org_max_in_flight: Option<String>,
    #[arg(long, env = "LOGWARDEN_JOB_MAX_ATTEMPTS", global = true)]
    pub job_max_attempts: Option<String>,
    #[arg(long, env = "LOGWARDEN_JOB_TIMEOUT", global = true)]
    pub job_timeout: Option<String>,
    #[arg(long, env = "LOGWARDEN_RETRY_BASE", global = true)]
    pub retry_base: Option<String>,
    #[arg(long, env = "LOGWARDEN_RETRY_CAP", global = true)]
    pub retry_cap: Option<String>,
    #[arg(long, env = "LOGWARDEN_ORPHAN_TIMEOUT", global = true)]
    pub orphan_timeout: Option<String>,
    #[arg(long, env = "LOGWARDEN_RATE_LIMIT_PER_MINUTE", global = true)]
    pub rate_limit_per_minute: Option<String>,
    #[arg(long, env = "LOGWARDEN_API_CONNECT_TIMEOUT", global = true)]
    pub api_connect_timeout: Option<String>,
    #[arg(long, env = "LOGWARDEN_API_REQUEST_TIMEOUT", global = true)]
    pub api_request_timeout: Option<String>,
    #[arg(long, env = "LOGWARDEN_LISTEN", global = true)]
    pub listen: Option<String>,
}

/// The TOML file: the same keys, all optional; an unknown key is an error (a typo must not
/// silently fall back to a default).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsFile {
    database_url: Option<Secret>,
    redis_url: Option<Secret>,
    redis_prefix: Option<String>,
    master_key: Option<Secret>,
    log_format: Option<String>,
    log_level: Option<String>,
    sync_schedule: Option<String>,
    sync_lag: Option<String>,
    sync_overlap: Option<String>,
    initial_lookback: Option<String>,
    backfill_batch_width: Option<String>,
    backfill_horizon: Option<String>,
    backfill_max_in_flight: Option<toml::Value>,
    org_max_in_flight: Option<toml::Value>,
    job_max_attempts: Option<toml::Value>,
    job_timeout: Option<String>,
    retry_base: Option<String>,
    retry_cap: Option<String>,
    orphan_timeout: Option<String>,
    rate_limit_per_minute: Option<toml::Value>,
    api_connect_timeout: Option<String>,
    api_request_timeout: Option<String>,
    listen: Option<String>,
}

/// A setting that could not be used: names the setting and says what it accepts.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read config file {path}: {source}")]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    ParseFile { path: PathBuf, message: String },
    #[error("invalid {field} {value:?}: {expected}")]
    Invalid {
        field: &'static str,
        value: String,
        expected: String,
    },
}

fn invalid(field: &'static str, value: &str, expected: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        field,
        value: value.to_owned(),
        expected: expected.into(),
    }
}

/// Parses `500ms`, `90s`, `5m`, `1h`, `7d` (a bare number is seconds).
pub fn parse_duration(field: &'static str, value: &str) -> Result<Duration, SettingsError> {
    let expected = "a duration such as 500ms, 90s, 5m, 1h or 7d";
    let trimmed = value.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| invalid(field, value, expected))?;
    let millis = match unit {
        "ms" => 1,
        "" | "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(invalid(field, value, expected)),
    };
    Ok(Duration::from_millis(number.saturating_mul(millis)))
}

fn parse_count(field: &'static str, value: &str, min: u32) -> Result<u32, SettingsError> {
    match value.trim().parse::<u32>() {
        Ok(n) if n >= min => Ok(n),
        _ => Err(invalid(
            field,
            value,
            format!("a whole number of at least {min}"),
        )),
    }
}

fn toml_scalar(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Settings {
    /// Resolves flags/env over the file over defaults, and validates the result.
    pub fn load(args: &SettingsArgs) -> Result<Self, SettingsError> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => SettingsFile::default(),
        };
        macro_rules! pick {
            ($field:ident) => {
                args.$field.clone().or(file.$field.clone())
            };
        }
        macro_rules! pick_scalar {
            ($field:ident) => {
                args.$field
                    .clone()
                    .or(file.$field.as_ref().map(toml_scalar))
            };
        }
        let duration = |field: &'static str, value: Option<String>, default: &str| {
            parse_duration(field, value.as_deref().unwrap_or(default))
        };
        let count = |field: &'static str, value: Option<String>, default: u32, min: u32| match value
        {
            Some(v) => parse_count(field, &v, min),
            None => Ok(default),
        };

        let settings = Settings {
            database_url: pick!(database_url)
                .unwrap_or_else(|| Secret::new("sqlite://logwarden.db?mode=rwc")),
            redis_url: pick!(redis_url).filter(|url| !url.expose().is_empty()),
            redis_prefix: pick!(redis_prefix).unwrap_or_else(|| "logwarden".to_owned()),
            master_key: pick!(master_key).filter(|key| !key.expose().is_empty()),
            log_format: match pick!(log_format) {
                Some(value) => value
                    .parse()
                    .map_err(|_| invalid("log_format", &value, "one of pretty, json"))?,
                None => LogFormat::Pretty,
            },
            log_level: pick!(log_level).unwrap_or_else(|| "info".to_owned()),
            sync_schedule: pick!(sync_schedule).unwrap_or_else(|| "0 */5 * * * *".to_owned()),
            sync_lag: duration("sync_lag", pick!(sync_lag), "2m")?,
            sync_overlap: duration("sync_overlap", pick!(sync_overlap), "2m")?,
            initial_lookback: duration("initial_lookback", pick!(initial_lookback), "1h")?,
            backfill_batch_width: duration(
                "backfill_batch_width",
                pick!(backfill_batch_width),
                "1h",
            )?,
            backfill_horizon: duration("backfill_horizon", pick!(backfill_horizon), "2192d")?,
            backfill_max_in_flight: count(
                "backfill_max_in_flight",
                pick_scalar!(backfill_max_in_flight),
                8,
                1,
            )?,
            org_max_in_flight: count("org_max_in_flight", pick_scalar!(org_max_in_flight), 16, 1)?,
            job_max_attempts: count("job_max_attempts", pick_scalar!(job_max_attempts), 8, 1)?,
            job_timeout: duration("job_timeout", pick!(job_timeout), "15m")?,
            retry_base: duration("retry_base", pick!(retry_base), "5s")?,
            retry_cap: duration("retry_cap", pick!(retry_cap), "10m")?,
            orphan_timeout: duration("orphan_timeout", pick!(orphan_timeout), "2m")?,
            rate_limit_per_minute: count(
                "rate_limit_per_minute",
                pick_scalar!(rate_limit_per_minute),
                600,
                1,
            )?,
            api_connect_timeout: duration(
                "api_connect_timeout",
                pick!(api_connect_timeout),
                "10s",
            )?,
            api_request_timeout: duration(
                "api_request_timeout",
                pick!(api_request_timeout),
                "60s",
            )?,
            listen: pick!(listen).unwrap_or_else(|| "127.0.0.1:8080".to_owned()),
        };
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), SettingsError> {
        let url = self.database_url.expose();
        if !(url.starts_with("postgres://")
            || url.starts_with("postgresql://")
            || url.starts_with("sqlite:"))
        {
            return Err(invalid(
                "database_url",
                &crate::infra::secret::redact_url(url),
                "a postgres://user@host/db or sqlite://FILE?mode=rwc URL",
            ));
        }
        if let Some(redis) = &self.redis_url {
            let url = redis.expose();
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                return Err(invalid(
                    "redis_url",
                    &crate::infra::secret::redact_url(url),
                    "a redis://host:port/db or rediss:// URL",
                ));
            }
        }
        if self.redis_prefix.is_empty()
            || !self
                .redis_prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_:".contains(c))
        {
            return Err(invalid(
                "redis_prefix",
                &self.redis_prefix,
                "letters, digits, '-', '_' or ':' (at least one)",
            ));
        }
        if let Some(key) = &self.master_key {
            crate::infra::crypto::MasterKey::from_base64(key).map_err(|err| {
                SettingsError::Invalid {
                    field: "master_key",
                    value: "***".to_owned(),
                    expected: err.to_string(),
                }
            })?;
        }
        if self.sync_lag < Duration::from_secs(60) {
            return Err(invalid(
                "sync_lag",
                &format!("{}s", self.sync_lag.as_secs()),
                "at least 1m (the Compliance API indexes activity within a minute)",
            ));
        }
        if self.backfill_batch_width < Duration::from_secs(60) {
            return Err(invalid(
                "backfill_batch_width",
                &format!("{}s", self.backfill_batch_width.as_secs()),
                "at least 1m",
            ));
        }
        if self.retry_cap < self.retry_base {
            return Err(invalid(
                "retry_cap",
                &format!("{}ms", self.retry_cap.as_millis()),
                "at least retry_base",
            ));
        }
        self.sync_schedule
            .parse::<cron::Schedule>()
            .map_err(|err| {
                invalid(
                    "sync_schedule",
                    &self.sync_schedule,
                    format!(
                        "a cron expression with seconds, e.g. \"0 */5 * * * *\" ({})",
                        err.to_string()
                            .split_whitespace()
                            .collect::<Vec<_>>()
                            .join(" ")
                    ),
                )
            })?;
        tracing_subscriber::EnvFilter::try_new(&self.log_level).map_err(|_| {
            invalid(
                "log_level",
                &self.log_level,
                "a filter such as info, debug or logwarden=debug,warn",
            )
        })?;
        Ok(())
    }

    /// True when the fleet transport (Redis) is configured.
    pub fn uses_redis(&self) -> bool {
        self.redis_url.is_some()
    }
}

fn read_file(path: &Path) -> Result<SettingsFile, SettingsError> {
    let text = std::fs::read_to_string(path).map_err(|source| SettingsError::ReadFile {
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|err| SettingsError::ParseFile {
        path: path.to_owned(),
        message: err.message().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_embedded_sqlite_store_without_redis() {
        let settings = Settings::load(&SettingsArgs::default()).unwrap();
        assert!(settings.database_url.expose().starts_with("sqlite:"));
        assert!(!settings.uses_redis());
        assert_eq!(settings.sync_lag, Duration::from_secs(120));
        assert_eq!(settings.rate_limit_per_minute, 600);
    }

    #[test]
    fn a_sync_lag_under_a_minute_is_refused_naming_the_field() {
        let args = SettingsArgs {
            sync_lag: Some("30s".into()),
            ..Default::default()
        };
        let err = Settings::load(&args).unwrap_err().to_string();
        assert!(
            err.contains("sync_lag") && err.contains("at least 1m"),
            "{err}"
        );
    }

    #[test]
    fn a_bad_duration_names_the_field_and_the_accepted_forms() {
        let err = parse_duration("job_timeout", "ten minutes")
            .unwrap_err()
            .to_string();
        assert!(err.contains("job_timeout") && err.contains("90s"), "{err}");
        assert_eq!(parse_duration("x", "5m").unwrap(), Duration::from_secs(300));
        assert_eq!(
            parse_duration("x", "250ms").unwrap(),
            Duration::from_millis(250)
        );
    }

    #[test]
    fn flags_win_over_the_file_and_unknown_file_keys_are_refused() {
        let dir = std::env::temp_dir().join(format!("lw-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("logwarden.toml");
        std::fs::write(
            &path,
            "redis_prefix = \"from-file\"\nsync_lag = \"3m\"\njob_max_attempts = 4\n",
        )
        .unwrap();
        let args = SettingsArgs {
            config: Some(path.clone()),
            redis_prefix: Some("from-flag".into()),
            ..Default::default()
        };
        let settings = Settings::load(&args).unwrap();
        assert_eq!(settings.redis_prefix, "from-flag");
        assert_eq!(settings.sync_lag, Duration::from_secs(180));
        assert_eq!(settings.job_max_attempts, 4);

        std::fs::write(&path, "sync_lagg = \"3m\"\n").unwrap();
        let err = Settings::load(&args).unwrap_err().to_string();
        assert!(err.contains("sync_lagg"), "{err}");
    }

    #[test]
    fn a_master_key_error_never_echoes_the_key() {
        let args = SettingsArgs {
            master_key: Some(Secret::new("not-a-real-key-but-secret")),
            ..Default::default()
        };
        let err = Settings::load(&args).unwrap_err().to_string();
        assert!(err.contains("master_key"));
        assert!(!err.contains("not-a-real-key"), "{err}");
    }
}
