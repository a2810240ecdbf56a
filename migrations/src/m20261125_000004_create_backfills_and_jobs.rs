//! Backfills, jobs and job attempts: the record of all ingestion work. Redis only carries job
//! ids; the `jobs` rows are the truth that the Jobs and Backfill views read and that the
//! repair pass re-enqueues from.

use sea_orm_migration::{async_trait::async_trait, prelude::*, schema::*};

use crate::{index, references};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("backfills")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(big_integer("integration_id"))
                    .col(timestamp_with_time_zone("range_start"))
                    .col(timestamp_with_time_zone("range_end"))
                    .col(big_integer("batch_width_seconds"))
                    .col(string("status"))
                    .col(integer("batches_total"))
                    .col(integer("batches_done"))
                    .col(integer("batches_failed"))
                    // End of the contiguous prefix of completed batches: everything before
                    // it is ingested, whatever order the fleet finished the batches in.
                    .col(timestamp_with_time_zone_null("synced_up_to"))
                    .col(string("created_by"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .col(timestamp_with_time_zone_null("finished_at"))
                    .foreign_key(&mut references(
                        "backfills",
                        "integration_id",
                        "integrations",
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("jobs")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(string("kind"))
                    .col(big_integer("integration_id"))
                    .col(big_integer_null("backfill_id"))
                    .col(timestamp_with_time_zone("window_start"))
                    .col(timestamp_with_time_zone("window_end"))
                    // (integration, kind, window start), plus the backfill id for batches
                    // because two backfills may cover the same hour. Duplicate enqueues from
                    // several scheduler replicas collapse on it.
                    .col(string_uniq("dedupe_key"))
                    .col(string("status"))
                    .col(integer("attempt"))
                    .col(integer("max_attempts"))
                    .col(timestamp_with_time_zone_null("next_attempt_at"))
                    .col(text_null("last_error"))
                    .col(string_null("last_error_class"))
                    .col(string_null("worker_name"))
                    .col(timestamp_with_time_zone_null("heartbeat_at"))
                    .col(integer_null("policy_set_version"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("enqueued_at"))
                    .col(timestamp_with_time_zone_null("started_at"))
                    .col(timestamp_with_time_zone_null("finished_at"))
                    .col(big_integer("pages"))
                    .col(big_integer("requests"))
                    .col(big_integer("chats"))
                    .col(big_integer("messages"))
                    .col(big_integer("events"))
                    .col(big_integer("access_events"))
                    .col(big_integer("violations"))
                    .col(big_integer("alerts"))
                    // The completeness record (chain of custody): the API gives no totals, so
                    // a run is described by its cursors, last request id and a content hash.
                    .col(text_null("start_cursor"))
                    .col(text_null("terminal_cursor"))
                    .col(string_null("final_request_id"))
                    .col(string_null("content_hash"))
                    .foreign_key(&mut references("jobs", "integration_id", "integrations"))
                    .foreign_key(&mut references("jobs", "backfill_id", "backfills"))
                    .to_owned(),
            )
            .await?;
        // The Jobs view filters by integration and status, newest first; the scheduler scans
        // by status; the backfill view walks a backfill's batches in window order.
        manager
            .create_index(index(
                "jobs",
                "integration_status_created",
                &["integration_id", "status", "created_at"],
            ))
            .await?;
        manager
            .create_index(index("jobs", "status_kind", &["status", "kind"]))
            .await?;
        manager
            .create_index(index(
                "jobs",
                "backfill_window",
                &["backfill_id", "window_start"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("job_attempts")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(big_integer("job_id"))
                    .col(integer("attempt"))
                    .col(string("worker_name"))
                    .col(string("outcome"))
                    .col(string_null("error_class"))
                    .col(text_null("error_message"))
                    .col(timestamp_with_time_zone("started_at"))
                    .col(timestamp_with_time_zone("finished_at"))
                    .foreign_key(&mut references("job_attempts", "job_id", "jobs"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("job_attempts", "job", &["job_id", "attempt"]))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["job_attempts", "jobs", "backfills"] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
