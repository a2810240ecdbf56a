//! Settings: one struct, every field documented, resolved from (highest first) command-line
//! flags, `LOGWARDEN_*` / `DATABASE_URL` / `REDIS_URL` environment variables, an optional TOML
//! file, and defaults; validated once at start with messages that say what to fix.
//!
//! Each setting is declared once, in the table below, in a group. A command reads the flags
//! and variables of the groups it flattens (so its `--help` lists exactly those) and the
//! whole config file; every other setting keeps its default. A command that comes to read a
//! setting must therefore flatten that setting's group.

mod setting;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::infra::secret::Secret;
use crate::infra::telemetry::LogFormat;
use setting::{invalid, settings};
pub use setting::{parse_duration, Setting, SettingsError};

settings! {
    /// How the process logs. Every command reads these.
    LogSettings "Logging" {
        /// `pretty` for people, `json` for log shippers.
        log_format: LogFormat = "pretty", env "LOGWARDEN_LOG_FORMAT";
        /// Log filter in `RUST_LOG` syntax.
        log_level: String = "info", env "LOGWARDEN_LOG_LEVEL";
    }

    /// The database, read by every command that opens it.
    DatabaseSettings "Database" {
        /// Where everything durable lives: `postgres://…` for the fleet,
        /// `sqlite://FILE?mode=rwc` for the embedded default.
        database_url: Secret = "sqlite://logwarden.db?mode=rwc", env "DATABASE_URL";
    }

    /// The key of the stored API keys, read where a key is encrypted or decrypted.
    MasterKeySettings "Encryption" {
        /// Base64 of 32 random bytes; encrypts integration API keys at rest.
        master_key: Option<Secret> = "", env "LOGWARDEN_MASTER_KEY";
    }

    /// The fleet's Redis, read by the scheduler, the workers and the commands whose requests
    /// draw on the fleet's rate budget (`pull`, `integration add` and `set-key`).
    RedisSettings "Redis" {
        /// Redis for the fleet's job transport, locks and rate limiting. Unset: the embedded
        /// in-process queue (single process only).
        redis_url: Option<Secret> = "", env "REDIS_URL";
        /// Prefix of every Redis key, so several deployments (or tests) can share one Redis.
        redis_prefix: String = "logwarden", env "LOGWARDEN_REDIS_PREFIX";
    }

    /// Sync windows and their schedule.
    SyncSettings "Sync" {
        /// Cron expression (with seconds) of the sync tick.
        sync_schedule: String = "0 */5 * * * *", env "LOGWARDEN_SYNC_SCHEDULE";
        /// How far behind now a sync window ends (the API needs up to a minute to index).
        sync_lag: Duration = "2m", env "LOGWARDEN_SYNC_LAG";
        /// How far a sync window reaches back before the watermark, for late-indexed records.
        sync_overlap: Duration = "2m", env "LOGWARDEN_SYNC_OVERLAP";
        /// Where the first sync of a new integration starts, back from now.
        initial_lookback: Duration = "1h", env "LOGWARDEN_INITIAL_LOOKBACK";
        /// The longest stretch past the watermark one sync job covers; a longer backlog (a
        /// pause, an outage) is caught up as consecutive windows, oldest first.
        sync_max_window: Duration = "1h", env "LOGWARDEN_SYNC_MAX_WINDOW";
    }

    /// Backfill batches and the flow control that feeds them to the queue.
    BackfillSettings "Backfill" {
        /// Default width of a backfill batch.
        backfill_batch_width: Duration = "1h", env "LOGWARDEN_BACKFILL_BATCH_WIDTH";
        /// How far back a backfill may start (the API keeps activity 6 years).
        backfill_horizon: Duration = "2192d", env "LOGWARDEN_BACKFILL_HORIZON";
        /// Most batches of one backfill in the queue or running at once.
        backfill_max_in_flight: u32 = "8", env "LOGWARDEN_BACKFILL_MAX_IN_FLIGHT";
        /// Most jobs of one organisation in the queue or running at once.
        org_max_in_flight: u32 = "16", env "LOGWARDEN_ORG_MAX_IN_FLIGHT";
    }

    /// Attempts, time limits and retries of jobs.
    JobSettings "Jobs" {
        /// Attempts a job gets before it is marked failed.
        job_max_attempts: u32 = "8", env "LOGWARDEN_JOB_MAX_ATTEMPTS";
        /// Time limit of one attempt.
        job_timeout: Duration = "15m", env "LOGWARDEN_JOB_TIMEOUT";
        /// First retry delay of a failed attempt (doubles, with jitter).
        retry_base: Duration = "5s", env "LOGWARDEN_RETRY_BASE";
        /// Longest retry delay.
        retry_cap: Duration = "10m", env "LOGWARDEN_RETRY_CAP";
        /// A processing job whose worker has not sent a heartbeat for this long is taken over.
        orphan_timeout: Duration = "2m", env "LOGWARDEN_ORPHAN_TIMEOUT";
        /// Succeeded jobs (and their attempts) are deleted this long after they finished.
        /// Backfill batches stay as long as their backfill.
        job_retention_succeeded: Duration = "30d", env "LOGWARDEN_JOB_RETENTION_SUCCEEDED";
        /// Failed and canceled jobs are deleted this long after they finished.
        job_retention_failed: Duration = "180d", env "LOGWARDEN_JOB_RETENTION_FAILED";
    }

    /// How the Compliance API is called.
    ApiSettings "Compliance API" {
        /// Requests per minute that the whole fleet may send to one organisation.
        rate_limit_per_minute: u32 = "600", env "LOGWARDEN_RATE_LIMIT_PER_MINUTE";
        /// Percent of the rate budget kept for sync jobs: backfill batches use it only while
        /// no sync request waits, so a sync window is never stuck behind a backfill.
        sync_reserved_percent: u32 = "20", env "LOGWARDEN_SYNC_RESERVED_PERCENT";
        /// Compliance API connect timeout.
        api_connect_timeout: Duration = "10s", env "LOGWARDEN_API_CONNECT_TIMEOUT";
        /// Compliance API request timeout.
        api_request_timeout: Duration = "60s", env "LOGWARDEN_API_REQUEST_TIMEOUT";
        /// Tries of one Compliance API request within a job's attempt (the first and its
        /// retries after a 429, a 5xx or a timeout) before the attempt fails and the job
        /// retries later; 1 leaves every retry to the job.
        api_request_tries: u32 = "9", env "LOGWARDEN_API_REQUEST_TRIES";
        /// Largest Compliance API response read; a larger one fails without being retried,
        /// and a page of messages that large is fetched again at half the page size.
        api_max_response_size: u64 = "64MB", env "LOGWARDEN_API_MAX_RESPONSE_SIZE";
        /// Send the API key over plain `http://` to loopback hosts (the fake Compliance API):
        /// otherwise base URLs must be `https://`, when saved and when connecting.
        allow_loopback_http: bool = "false", env "LOGWARDEN_ALLOW_LOOPBACK_HTTP";
        /// Accept base URLs on private, link-local and unique-local addresses, checked when
        /// saved and on every address a host resolves to when connecting.
        allow_private_networks: bool = "false", env "LOGWARDEN_ALLOW_PRIVATE_NETWORKS";
    }

    /// The HTTP server of `logwarden serve`.
    ServeSettings "HTTP" {
        /// Address the HTTP API listens on (`serve`, `run`, `demo`).
        listen: String = "127.0.0.1:8080", env "LOGWARDEN_LISTEN";
        /// Host names, separated by commas, that the HTTP server answers to besides its
        /// listen address (and localhost on a loopback listen): the names it is reached by,
        /// such as its public URL's. Any other `Host` is refused (DNS rebinding).
        allowed_hosts: String = "", env "LOGWARDEN_ALLOWED_HOSTS";
    }

    /// The metrics listener of the roles that serve no API (`worker`, `scheduler`).
    MetricsSettings "Metrics" {
        /// Address (IP and port, e.g. `0.0.0.0:9090`) where `worker` and `scheduler` serve
        /// `GET /metrics` (this process's counters) and `GET /healthz`. Unset: no listener.
        metrics_listen: String = "", env "LOGWARDEN_METRICS_LISTEN";
    }
}

/// The `--config` flag, which every command takes.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConfigFileArgs {
    /// TOML file with settings (keys as in the README's table).
    #[arg(long, env = "LOGWARDEN_CONFIG", global = true)]
    pub config: Option<PathBuf>,
}

impl ConfigFileArgs {
    /// Adds the file given to `args`.
    pub fn apply(&self, args: &mut SettingsArgs) {
        if let Some(path) = &self.config {
            args.config = Some(path.clone());
        }
    }
}

impl Settings {
    /// Resolves `args` over the file over defaults, and validates the result.
    pub fn load(args: &SettingsArgs) -> Result<Self, SettingsError> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => SettingsFile::default(),
        };
        let settings = Self::resolve(args, &file)?;
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
        if self.sync_max_window < Duration::from_secs(60) {
            return Err(invalid(
                "sync_max_window",
                &format!("{}s", self.sync_max_window.as_secs()),
                "at least 1m",
            ));
        }
        if !self.metrics_listen.is_empty()
            && self.metrics_listen.parse::<std::net::SocketAddr>().is_err()
        {
            return Err(invalid(
                "metrics_listen",
                &self.metrics_listen,
                "an IP address and port such as 0.0.0.0:9090 or 127.0.0.1:0, or empty for no metrics listener",
            ));
        }
        crate::http::host::parse_allowed_hosts(&self.allowed_hosts)
            .map_err(|err| invalid("allowed_hosts", &self.allowed_hosts, err.to_string()))?;
        if self.backfill_batch_width < Duration::from_secs(60) {
            return Err(invalid(
                "backfill_batch_width",
                &format!("{}s", self.backfill_batch_width.as_secs()),
                "at least 1m",
            ));
        }
        if self.sync_reserved_percent > crate::infra::ratelimit::MAX_SYNC_RESERVED_PERCENT {
            return Err(invalid(
                "sync_reserved_percent",
                &self.sync_reserved_percent.to_string(),
                "a percentage from 0 to 90 (backfills keep at least a tenth of the budget)",
            ));
        }
        for (field, value) in [
            ("job_timeout", self.job_timeout),
            ("orphan_timeout", self.orphan_timeout),
            ("job_retention_succeeded", self.job_retention_succeeded),
            ("job_retention_failed", self.job_retention_failed),
        ] {
            if value.is_zero() {
                return Err(invalid(field, "0s", "more than 0s, e.g. 15m"));
            }
        }
        // A job must outlive at least one heartbeat, or a worker times out every attempt
        // before the scheduler has seen it alive.
        if self.job_timeout <= self.heartbeat_every() {
            return Err(invalid(
                "job_timeout",
                &format!("{}ms", self.job_timeout.as_millis()),
                format!(
                    "more than the heartbeat interval, orphan_timeout / 4 ({}ms)",
                    self.heartbeat_every().as_millis()
                ),
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

    /// How often a worker refreshes the heartbeat of a job it runs: a quarter of the orphan
    /// timeout, so three beats may be lost before the job is taken over.
    pub fn heartbeat_every(&self) -> Duration {
        (self.orphan_timeout / 4).max(Duration::from_millis(200))
    }

    /// The time between two sync ticks: the gap between the schedule's next two firings
    /// (5 minutes by default), the unit of an integration's lag.
    pub fn sync_period(&self) -> chrono::TimeDelta {
        let five_minutes = chrono::TimeDelta::minutes(5);
        let Ok(schedule) = self.sync_schedule.parse::<cron::Schedule>() else {
            return five_minutes;
        };
        let mut upcoming = schedule.upcoming(chrono::Utc);
        match (upcoming.next(), upcoming.next()) {
            (Some(first), Some(second)) => second - first,
            _ => five_minutes,
        }
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
    fn the_response_size_limit_defaults_to_64_mb_and_reads_units_naming_the_field_when_bad() {
        let defaults = Settings::load(&SettingsArgs::default()).unwrap();
        assert_eq!(defaults.api_max_response_size, 64 * 1024 * 1024);
        for (raw, bytes) in [("512KB", 512 * 1024), ("1gb", 1 << 30), ("4096", 4096)] {
            let args = SettingsArgs {
                api_max_response_size: Some(raw.into()),
                ..SettingsArgs::default()
            };
            assert_eq!(Settings::load(&args).unwrap().api_max_response_size, bytes);
        }
        for raw in ["0", "64 parsecs", "-1MB"] {
            let args = SettingsArgs {
                api_max_response_size: Some(raw.into()),
                ..SettingsArgs::default()
            };
            let err = Settings::load(&args).unwrap_err().to_string();
            assert!(err.contains("api_max_response_size"), "{err}");
            assert!(err.contains("64MB"), "{err}");
        }
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
    fn a_sync_reserve_over_90_percent_is_refused_naming_the_field_and_20_is_the_default() {
        let args = SettingsArgs {
            sync_reserved_percent: Some("95".into()),
            ..Default::default()
        };
        let err = Settings::load(&args).unwrap_err().to_string();
        let default = Settings::load(&SettingsArgs::default()).unwrap();

        assert!(
            err.contains("sync_reserved_percent") && err.contains("0 to 90"),
            "{err}"
        );
        assert_eq!(default.sync_reserved_percent, 20);
    }

    #[test]
    fn zero_job_and_orphan_timeouts_are_refused_naming_the_field() {
        for (field, args) in [
            (
                "job_timeout",
                SettingsArgs {
                    job_timeout: Some("0s".into()),
                    ..Default::default()
                },
            ),
            (
                "orphan_timeout",
                SettingsArgs {
                    orphan_timeout: Some("0s".into()),
                    ..Default::default()
                },
            ),
        ] {
            let err = Settings::load(&args).unwrap_err().to_string();
            assert!(err.contains(field) && err.contains("more than 0s"), "{err}");
        }
    }

    #[test]
    fn a_job_timeout_within_one_heartbeat_is_refused() {
        let args = SettingsArgs {
            job_timeout: Some("20s".into()),
            orphan_timeout: Some("2m".into()),
            ..Default::default()
        };
        let err = Settings::load(&args).unwrap_err().to_string();
        assert!(
            err.contains("job_timeout") && err.contains("heartbeat interval"),
            "{err}"
        );
        let args = SettingsArgs {
            job_timeout: Some("31s".into()),
            orphan_timeout: Some("2m".into()),
            ..Default::default()
        };
        assert!(Settings::load(&args).is_ok());
    }

    #[test]
    fn a_metrics_listen_that_is_not_an_address_and_port_is_refused_naming_the_setting() {
        for bad in ["9090", "localhost", "0.0.0.0:port", "http://0.0.0.0:9090"] {
            let args = SettingsArgs {
                metrics_listen: Some(bad.into()),
                ..Default::default()
            };
            let err = Settings::load(&args).unwrap_err().to_string();
            assert!(
                err.contains("metrics_listen") && err.contains("0.0.0.0:9090"),
                "{err}"
            );
        }
        let args = SettingsArgs {
            metrics_listen: Some("127.0.0.1:9090".into()),
            ..Default::default()
        };
        let settings = Settings::load(&args).unwrap();
        assert_eq!(settings.metrics_listen, "127.0.0.1:9090");
        let default = Settings::load(&SettingsArgs::default()).unwrap();
        assert_eq!(default.metrics_listen, "", "no listener by default");
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
