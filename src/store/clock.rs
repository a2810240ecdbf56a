//! The database's clock: the one clock every host of the fleet shares. Heartbeats, takeovers
//! and sync window ends are read from it, so that a host whose own clock is behind or ahead
//! is neither taken over while alive nor left alone when dead.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

/// The database's current time, to the microsecond (SQLite: the millisecond).
pub async fn now(db: &impl ConnectionTrait) -> Result<DateTime<Utc>, DbErr> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT)"
        }
        // SQLite runs in this process: its clock is this host's.
        _ => "SELECT CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)",
    };
    let row = db
        .query_one_raw(Statement::from_string(backend, sql))
        .await?
        .ok_or_else(|| DbErr::Custom("the database returned no time".to_owned()))?;
    let micros: i64 = row.try_get_by_index(0)?;
    DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| DbErr::Custom(format!("the database's time {micros} µs is out of range")))
}

/// This host's clock, for what only this process looks at (the time it logs a retry for).
/// Tests skew it to show that nothing the fleet shares is read from it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostClock {
    skew: chrono::TimeDelta,
}

impl HostClock {
    /// A clock `skew` ahead of the real one (behind when negative).
    pub fn skewed(skew: chrono::TimeDelta) -> Self {
        Self { skew }
    }

    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.skew
    }
}
