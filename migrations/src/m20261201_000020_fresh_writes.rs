//! Writes that never lose newer data.
//!
//! - `events.source_updated_at`: the chat's `updated_at` in the copy an event was built from;
//!   an upsert applies only when its copy is at least as fresh. Rows stored before this
//!   migration have none, and the next write of each applies.
//! - `violations.superseded_at`: a newer evaluation no longer finds the violation; the row
//!   stays, since its alert stays.
//! - `alerts.closed_at` and `alerts.close_reason`: alerts are never deleted; an alert whose
//!   violation is superseded is closed with the reason `superseded`.
//! - One open issue per (integration, user, policy): a partial unique index, so two writers
//!   cannot open two. Open duplicates stored before are merged into the oldest first.

use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};
use sea_orm_migration::{async_trait::async_trait, prelude::*, schema::*};

use crate::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, column) in [
            ("events", timestamp_with_time_zone_null("source_updated_at")),
            ("violations", timestamp_with_time_zone_null("superseded_at")),
            ("alerts", timestamp_with_time_zone_null("closed_at")),
            ("alerts", string_null("close_reason")),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table.to_owned())
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        merge_open_issues(manager).await?;
        manager
            .create_index(
                index(
                    "issues",
                    "one_open",
                    &["integration_id", "user_id", "policy"],
                )
                .unique()
                .and_where(Expr::col("status").eq("open"))
                .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_issues_one_open")
                    .table("issues")
                    .to_owned(),
            )
            .await?;
        for (table, column) in [
            ("alerts", "close_reason"),
            ("alerts", "closed_at"),
            ("violations", "superseded_at"),
            ("events", "source_updated_at"),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table.to_owned())
                        .drop_column(column.to_owned())
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

/// Folds every group of open issues of one (integration, user, policy) into its oldest
/// issue: the alerts move over, the counts add up, the seen times widen.
async fn merge_open_issues(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let backend = manager.get_database_backend();
    let groups = db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT MIN(id) FROM issues WHERE status = 'open' \
             GROUP BY integration_id, user_id, policy HAVING COUNT(*) > 1",
        ))
        .await?;
    for group in groups {
        let keep: i64 = group.try_get_by_index(0)?;
        // The other open issues of the group of `keep`.
        let others = || {
            Query::select()
                .column("id")
                .from("issues")
                .and_where(Expr::col("status").eq("open"))
                .and_where(Expr::col("id").ne(keep))
                .and_where(
                    Expr::col("integration_id").in_subquery(
                        Query::select()
                            .column("integration_id")
                            .from("issues")
                            .and_where(Expr::col("id").eq(keep))
                            .to_owned(),
                    ),
                )
                .and_where(
                    Expr::col("user_id").in_subquery(
                        Query::select()
                            .column("user_id")
                            .from("issues")
                            .and_where(Expr::col("id").eq(keep))
                            .to_owned(),
                    ),
                )
                .and_where(
                    Expr::col("policy").in_subquery(
                        Query::select()
                            .column("policy")
                            .from("issues")
                            .and_where(Expr::col("id").eq(keep))
                            .to_owned(),
                    ),
                )
                .to_owned()
        };
        let ids: Vec<i64> = db
            .query_all(&others())
            .await?
            .iter()
            .map(|row| row.try_get_by_index(0))
            .collect::<Result<_, _>>()?;
        let all: Vec<i64> = ids.iter().copied().chain([keep]).collect();
        let aggregate = |expr: Expr| {
            Query::select()
                .expr(expr)
                .from("issues")
                .and_where(Expr::col("id").is_in(all.clone()))
                .to_owned()
        };
        db.execute(
            &Query::update()
                .table("issues")
                .value(
                    "alert_count",
                    SimpleExpr::SubQuery(
                        None,
                        Box::new(
                            aggregate(Expr::col("alert_count").sum()).into_sub_query_statement(),
                        ),
                    ),
                )
                .value(
                    "first_seen_at",
                    SimpleExpr::SubQuery(
                        None,
                        Box::new(
                            aggregate(Expr::col("first_seen_at").min()).into_sub_query_statement(),
                        ),
                    ),
                )
                .value(
                    "last_seen_at",
                    SimpleExpr::SubQuery(
                        None,
                        Box::new(
                            aggregate(Expr::col("last_seen_at").max()).into_sub_query_statement(),
                        ),
                    ),
                )
                .and_where(Expr::col("id").eq(keep))
                .to_owned(),
        )
        .await?;
        db.execute(
            &Query::update()
                .table("alerts")
                .value("issue_id", keep)
                .and_where(Expr::col("issue_id").is_in(ids.clone()))
                .to_owned(),
        )
        .await?;
        db.execute(
            &Query::delete()
                .from_table("issues")
                .and_where(Expr::col("id").is_in(ids))
                .to_owned(),
        )
        .await?;
    }
    Ok(())
}
