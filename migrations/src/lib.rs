//! The logwarden schema as SeaORM migrations. Every migration runs unchanged on PostgreSQL and
//! on SQLite (the embedded default), so both storage paths stay first-class.

use sea_orm_migration::prelude::*;

mod m20261125_000001_create_projects_and_data_planes;
mod m20261125_000002_create_integrations;
mod m20261125_000003_create_policy_sets;
mod m20261125_000004_create_backfills_and_jobs;
mod m20261125_000005_create_events_and_sessions;
mod m20261125_000006_create_violations_alerts_issues;
mod m20261125_000007_create_api_tokens;
mod m20261201_000010_integration_health;
mod m20261201_000020_fresh_writes;
mod m20261201_000021_session_deleted_at;
pub mod m20261201_000022_ids_per_integration;
mod m20261201_000030_create_token_projects_and_audit;
mod m20261201_000040_event_search;
mod m20261201_000060_backfill_progress_counters;
mod m20261202_000070_job_checkpoint;
mod m20261202_000075_issue_triage;
mod m20261202_000080_create_datasets;
mod m20261202_000085_create_web_sessions;
mod m20261202_000090_worker_heartbeats;
mod m20261202_000095_pump_indexes;
mod m20261202_000096_job_retention_indexes;
mod m20261203_000132_event_time_id_index;
mod m20261203_000133_batched_reevaluation;
mod m20261203_000150_create_web_session_drafts;
mod m20261203_000151_search_indexes;
mod m20261203_000152_event_side_tags;

pub use sea_orm_migration::MigratorTrait;

/// The ordered list of every migration.
pub struct Migrator;

#[sea_orm_migration::async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_create_projects_and_data_planes::Migration),
            Box::new(m20261125_000002_create_integrations::Migration),
            Box::new(m20261125_000003_create_policy_sets::Migration),
            Box::new(m20261125_000004_create_backfills_and_jobs::Migration),
            Box::new(m20261125_000005_create_events_and_sessions::Migration),
            Box::new(m20261125_000006_create_violations_alerts_issues::Migration),
            Box::new(m20261125_000007_create_api_tokens::Migration),
            Box::new(m20261201_000010_integration_health::Migration),
            Box::new(m20261201_000020_fresh_writes::Migration),
            Box::new(m20261201_000021_session_deleted_at::Migration),
            Box::new(m20261201_000022_ids_per_integration::Migration),
            Box::new(m20261201_000030_create_token_projects_and_audit::Migration),
            Box::new(m20261201_000040_event_search::Migration),
            Box::new(m20261201_000060_backfill_progress_counters::Migration),
            Box::new(m20261202_000070_job_checkpoint::Migration),
            Box::new(m20261202_000075_issue_triage::Migration),
            Box::new(m20261202_000080_create_datasets::Migration),
            Box::new(m20261202_000085_create_web_sessions::Migration),
            Box::new(m20261202_000090_worker_heartbeats::Migration),
            Box::new(m20261202_000095_pump_indexes::Migration),
            Box::new(m20261202_000096_job_retention_indexes::Migration),
            Box::new(m20261203_000132_event_time_id_index::Migration),
            Box::new(m20261203_000133_batched_reevaluation::Migration),
            Box::new(m20261203_000150_create_web_session_drafts::Migration),
            Box::new(m20261203_000151_search_indexes::Migration),
            Box::new(m20261203_000152_event_side_tags::Migration),
        ]
    }
}

/// Creates `name` on `table(columns)`; index names carry the table name so they stay unique
/// across the schema, which SQLite requires.
pub(crate) fn index(table: &str, name: &str, columns: &[&str]) -> IndexCreateStatement {
    let mut index = Index::create();
    index
        .name(format!("idx_{table}_{name}"))
        .table(table.to_owned());
    for column in columns {
        index.col(ToString::to_string(column));
    }
    index.to_owned()
}

/// A foreign key from `table.column` to `parent.id`.
pub(crate) fn references(table: &str, column: &str, parent: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_{column}"))
        .from(table.to_owned(), column.to_owned())
        .to(parent.to_owned(), "id")
        .to_owned()
}
