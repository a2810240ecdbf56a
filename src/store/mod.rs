//! The store: connecting to PostgreSQL or SQLite with the options each needs, applying
//! migrations safely when several processes start at once, recording job rows, and the one
//! guarded way a job's, a backfill's or an integration's status changes ([`moves::Move`]).

use std::time::Duration;

use logwarden_migrations::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, TransactionTrait,
};

use crate::infra::secret::{redact_url, Secret};

pub mod backfills;
pub mod clock;
pub mod jobs;
pub mod moves;
pub mod workers;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot connect to the database at {url}: {source}")]
    Connect { url: String, source: DbErr },
    #[error("applying migrations failed: {0}")]
    Migrate(DbErr),
}

/// Connects with options suited to the backend. SQLite gets WAL, a 10 s busy timeout and
/// foreign keys so that the embedded default stays correct when the scheduler and workers
/// of one process write at once.
pub async fn connect(url: &Secret) -> Result<DatabaseConnection, Error> {
    connect_with(url, None).await
}

/// Like [`connect`], with every connection's `search_path` set to `schema` (PostgreSQL only):
/// how tests give each case a schema of its own.
pub async fn connect_with(url: &Secret, schema: Option<&str>) -> Result<DatabaseConnection, Error> {
    let mut options = ConnectOptions::new(url.expose().to_owned());
    options
        .max_connections(16)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(15))
                .foreign_keys(true)
                .create_if_missing(true)
        });
    if let Some(schema) = schema {
        options.set_schema_search_path(schema.to_owned());
    }
    Database::connect(options)
        .await
        .map_err(|source| Error::Connect {
            url: redact_url(url.expose()),
            source,
        })
}

/// Applies pending migrations. On PostgreSQL all of them run in one transaction that first
/// takes an advisory lock, so processes that start together apply them exactly once; SQLite
/// gets the same effect from taking the database write lock before migrating.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), Error> {
    let backend = db.get_database_backend();
    if backend == DbBackend::Sqlite {
        db.execute_unprepared(
            "CREATE TABLE IF NOT EXISTS logwarden_migration_lock (id INTEGER PRIMARY KEY)",
        )
        .await
        .map_err(Error::Migrate)?;
    }
    let txn = begin_write(db).await.map_err(Error::Migrate)?;
    if backend == DbBackend::Postgres {
        // 0x6c6f6777 = "logw": one lock id for every logwarden process.
        txn.execute_unprepared("SELECT pg_advisory_xact_lock(1819240311)")
            .await
            .map_err(Error::Migrate)?;
    }
    Migrator::up(&txn, None).await.map_err(Error::Migrate)?;
    txn.commit().await.map_err(Error::Migrate)
}

/// Begins a transaction that will write. On SQLite it takes the database's write lock first
/// (a write that changes nothing), so that it waits its turn under the busy timeout: a
/// transaction that reads before its first write fails at once with `database is locked`
/// when another writer committed in between, whatever the timeout.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    let txn = db.begin().await?;
    if db.get_database_backend() == DbBackend::Sqlite {
        txn.execute_unprepared("DELETE FROM logwarden_migration_lock")
            .await?;
    }
    Ok(txn)
}

/// Connects and applies pending migrations: what every role does at start.
pub async fn open(url: &Secret) -> Result<DatabaseConnection, Error> {
    let db = connect(url).await?;
    migrate(&db).await?;
    Ok(db)
}
