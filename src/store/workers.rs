//! The worker processes' own heartbeats (`worker_heartbeats`), on the database's clock: how
//! many workers are alive, whether they are running a job or waiting for one.

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::{ConnectionTrait, DbErr, Statement, Value};

/// Rows this much older than the live horizon are removed as the workers beat.
const FORGET_AFTER: TimeDelta = TimeDelta::days(1);

/// Records that worker `name` of `data_plane` is alive now (by the database's clock) and
/// returns how many workers beat within `live_within`, this one included.
pub async fn beat(
    db: &impl ConnectionTrait,
    name: &str,
    data_plane: &str,
    live_within: TimeDelta,
) -> Result<u32, DbErr> {
    let now = super::clock::now(db).await?;
    let backend = db.get_database_backend();
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        "INSERT INTO worker_heartbeats (name, data_plane, started_at, heartbeat_at) \
         VALUES ($1, $2, $3, $3) \
         ON CONFLICT (name) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, \
         data_plane = excluded.data_plane",
        [name.into(), data_plane.into(), now.into()],
    ))
    .await?;
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        "DELETE FROM worker_heartbeats WHERE heartbeat_at < $1",
        [Value::from(now - live_within - FORGET_AFTER)],
    ))
    .await?;
    live_since(db, now - live_within).await
}

/// Workers whose last heartbeat is at or after `since`.
pub async fn live_since(db: &impl ConnectionTrait, since: DateTime<Utc>) -> Result<u32, DbErr> {
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            "SELECT COUNT(*) FROM worker_heartbeats WHERE heartbeat_at >= $1",
            [since.into()],
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("the count returned no row".to_owned()))?;
    let count: i64 = row.try_get_by_index(0)?;
    Ok(u32::try_from(count).unwrap_or(u32::MAX))
}

/// Removes worker `name`'s row at a clean shutdown, so it stops counting at once.
pub async fn remove(db: &impl ConnectionTrait, name: &str) -> Result<(), DbErr> {
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        "DELETE FROM worker_heartbeats WHERE name = $1",
        [name.into()],
    ))
    .await?;
    Ok(())
}
