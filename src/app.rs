//! The composition root: [`App::build`] turns [`Settings`] into the running parts every role,
//! command, tool and test stands on — the migrated database and the service layer, the job
//! transport, the fleet-wide rate limiter and the policy evaluators. Nothing else connects to
//! the database or Redis on its own.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::config::Settings;
use crate::infra::queue::{MemoryTransport, QueueError, RedisTransport, Transport};
use crate::infra::ratelimit::{
    AdmittedLog, GateFactory, LocalRateLimiter, Priority, RateLimit, RateLimitError,
    RedisLimiterOptions, RedisRateLimiter,
};
use crate::ingest::evaluators::EvaluatorProvider;
use crate::service::Services;

/// The parts of a running logwarden, made once per process.
#[derive(Clone)]
pub struct App {
    /// The service layer over the migrated database; it holds the settings.
    pub services: Services,
    /// Redis when `redis_url` is set, otherwise the in-process queue.
    pub transport: Transport,
    /// The request gate of each organisation: one budget per organisation for the whole
    /// fleet in Redis, or for this process on the in-process queue.
    pub gates: GateFactory,
    /// The fleet-wide limiter behind `gates` when Redis is configured: workers report the
    /// live worker count from their heartbeats to it, and one-off commands draw on it.
    pub fleet_limiter: Option<RedisRateLimiter>,
    /// Compiles each installed policy set once for every worker of the process.
    pub evaluators: EvaluatorProvider,
}

/// Why the app could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    #[error(transparent)]
    Transport(#[from] QueueError),
    #[error("cannot set up the rate limiter: {0}")]
    RateLimit(#[from] RateLimitError),
}

impl App {
    /// Opens the database (applying pending migrations) and builds everything on it.
    pub async fn build(settings: &Settings) -> Result<Self, Error> {
        let db = crate::store::open(&settings.database_url).await?;
        Self::with_database(db, settings).await
    }

    /// [`App::build`] on a database that is already open and migrated: how the tests and the
    /// benchmark give each run a PostgreSQL schema of its own.
    pub async fn with_database(db: DatabaseConnection, settings: &Settings) -> Result<Self, Error> {
        let transport = match &settings.redis_url {
            Some(url) => {
                Transport::Redis(RedisTransport::connect(url, &settings.redis_prefix).await?)
            }
            None => Transport::Memory(MemoryTransport::default()),
        };
        let rate = RateLimit::per_minute(settings.rate_limit_per_minute)?;
        let fleet_limiter = match &transport {
            Transport::Redis(redis) => Some(RedisRateLimiter::new(
                redis.conn.clone(),
                RedisLimiterOptions {
                    sync_reserved_percent: settings.sync_reserved_percent,
                    ..RedisLimiterOptions::new(redis.prefix.clone(), rate)
                },
                "default",
            )?),
            Transport::Memory(_) => None,
        };
        let local = LocalRateLimiter::reserving(rate, settings.sync_reserved_percent, "default")?;
        let admitted = match &fleet_limiter {
            Some(limiter) => AdmittedLog::Fleet(limiter.clone()),
            None => AdmittedLog::Local(local.clone()),
        };
        let gates = metered(gates(fleet_limiter.clone(), local));
        Ok(Self {
            services: Services::new(db, Arc::new(settings.clone()))
                .with_gates(gates.clone())
                .with_admitted_log(admitted),
            transport,
            gates,
            fleet_limiter,
            evaluators: EvaluatorProvider::default(),
        })
    }
}

/// Every worker of the fleet shares one budget per organisation in Redis; the embedded mode
/// has one process, whose own budget (`local`) is the whole budget. An organisation id the
/// limiter refuses falls back to the process's default budget rather than to no limit.
fn gates(fleet: Option<RedisRateLimiter>, local: LocalRateLimiter) -> GateFactory {
    match fleet {
        Some(limiter) => Arc::new(move |org: &str, priority: Priority| {
            limiter
                .for_org_at(org, priority)
                .or_else(|_| local.for_org_at("default", priority))
                .unwrap_or_else(|_| Arc::new(local.clone()))
        }),
        None => Arc::new(move |org: &str, priority: Priority| {
            local
                .for_org_at(org, priority)
                .unwrap_or_else(|_| Arc::new(local.clone()))
        }),
    }
}

/// The gates of a command that sends a few one-off requests and opens no database
/// (`logwarden pull`): the fleet's budgets when Redis is configured, none otherwise (one
/// process alone has no one to share a budget with).
pub fn one_off_gates(settings: &Settings) -> Result<Option<GateFactory>, Error> {
    let Some(url) = &settings.redis_url else {
        return Ok(None);
    };
    let rate = RateLimit::per_minute(settings.rate_limit_per_minute)?;
    let options = RedisLimiterOptions {
        sync_reserved_percent: settings.sync_reserved_percent,
        ..RedisLimiterOptions::new(settings.redis_prefix.clone(), rate)
    };
    let limiter = RedisRateLimiter::connect(url.expose(), options, "default")?;
    let local = LocalRateLimiter::reserving(rate, settings.sync_reserved_percent, "default")?;
    Ok(Some(metered(gates(Some(limiter), local))))
}

/// Every gate recording its waits and responses into the process's metrics.
fn metered(gates: GateFactory) -> GateFactory {
    let metrics = crate::infra::metrics::global();
    Arc::new(move |org: &str, priority: Priority| {
        Arc::new(crate::infra::metrics::MeteredGate {
            inner: gates(org, priority),
            metrics: metrics.clone(),
        }) as Arc<dyn logwarden_compliance::RequestGate>
    })
}
