//! The service layer as the HTTP API will call it: query types parsed from query strings,
//! filters that match exactly what they describe, cursor pages that return every row once
//! while rows are inserted, lists whose statement count does not grow with their length,
//! the id-or-name resolver, views as JSON, and errors with stable codes that never carry SQL.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Timelike, Utc};
use logwarden::infra::secret::Secret;
use logwarden::service::backfills::{BackfillQuery, NewBackfill};
use logwarden::service::integrations::IntegrationQuery;
use logwarden::service::jobs::JobQuery;
use logwarden::service::page::{Cursor, Limit};
use logwarden::service::Services;
use logwarden::store::moves::JobMove;
use logwarden_entities::job;
use logwarden_jobs::kind::{BackfillStatus, IntegrationStatus, JobKind, JobStatus};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryOrder};

use crate::helpers::{fixed_now, seed_integration, seed_job, test_settings, TestDb};

crate::on_both_backends!(
    job_filters_match_exactly_the_jobs_they_describe,
    paging_returns_every_row_exactly_once_while_rows_are_inserted,
    lists_cost_the_same_number_of_statements_however_many_rows_they_show,
);

fn at(minutes_ago: i64) -> DateTime<Utc> {
    fixed_now() - TimeDelta::minutes(minutes_ago)
}

fn services(db: &DatabaseConnection) -> Services {
    Services::new(db.clone(), test_settings(|_| {}))
}

/// A backfill of `hours` whole hours ending a day ago, in 1-hour batches.
async fn backfill(services: &Services, integration_id: i64, hours: i64) -> i64 {
    let end = at(24 * 60)
        .with_minute(0)
        .and_then(|t| t.with_second(0))
        .unwrap();
    services
        .start_backfill(NewBackfill {
            integration_id,
            from: end - TimeDelta::hours(hours),
            to: end,
            batch_width: Some(std::time::Duration::from_secs(3600)),
            created_by: "test".into(),
        })
        .await
        .expect("start backfill")
        .id
}

async fn job_filters_match_exactly_the_jobs_they_describe(test: TestDb) {
    let db = &test.db;
    let services = services(db);
    let acme = seed_integration(db, "acme", "security", "default").await;
    let other = seed_integration(db, "other", "security", "default").await;
    let kinds = [JobKind::Sync, JobKind::Reconcile, JobKind::Reevaluate];
    for i in 0..24 {
        let integration = [acme, other][i % 2];
        let enqueued = at(600 - 10 * i as i64);
        let start = at(6000) + TimeDelta::hours(i as i64);
        let first = if i % 4 == 0 {
            JobStatus::Pending
        } else {
            JobStatus::Enqueued
        };
        let row = seed_job(db, integration, kinds[i % 3], start, first, enqueued).await;
        let path: &[(JobStatus, i64)] = match i % 4 {
            2 => &[(JobStatus::Processing, 2)],
            3 => &[(JobStatus::Processing, 2), (JobStatus::Succeeded, 5)],
            _ => &[],
        };
        for (status, minutes) in path {
            JobMove::to(*status, enqueued + TimeDelta::minutes(*minutes))
                .filter(job::Column::Id.eq(row.id))
                .apply(db)
                .await
                .unwrap();
        }
    }
    let batches_of = backfill(&services, acme, 3).await;
    let all = job::Entity::find().all(db).await.unwrap();

    let check = |name: &'static str, query: JobQuery, keep: &dyn Fn(&job::Model) -> bool| {
        let mut expected: Vec<i64> = all.iter().filter(|row| keep(row)).map(|r| r.id).collect();
        expected.sort_unstable_by(|a, b| b.cmp(a));
        let services = services.clone();
        async move {
            assert!(!expected.is_empty(), "{name}: the data must hold a match");
            let page = services.list_jobs(query).await.expect(name);
            let got: Vec<i64> = page.items.iter().map(|view| view.id).collect();
            assert_eq!(got, expected, "{name}");
            assert_eq!(page.next_cursor, None, "{name}: one page");
        }
    };
    let (t1, t2) = (at(500), at(420));
    check("everything", JobQuery::default(), &|_| true).await;
    check(
        "integration",
        JobQuery {
            integration_id: Some(acme),
            ..Default::default()
        },
        &|row| row.integration_id == acme,
    )
    .await;
    check(
        "backfill",
        JobQuery {
            backfill_id: Some(batches_of),
            ..Default::default()
        },
        &|row| row.backfill_id == Some(batches_of),
    )
    .await;
    check(
        "kind",
        JobQuery {
            kind: Some(JobKind::Reconcile),
            ..Default::default()
        },
        &|row| row.kind == JobKind::Reconcile,
    )
    .await;
    check(
        "status and integration",
        JobQuery {
            integration_id: Some(other),
            status: Some(JobStatus::Succeeded),
            ..Default::default()
        },
        &|row| row.integration_id == other && row.status == JobStatus::Succeeded,
    )
    .await;
    let (w1, w2) = (
        at(6000) + TimeDelta::hours(5),
        at(6000) + TimeDelta::hours(9),
    );
    check(
        "window overlap",
        JobQuery {
            window_from: Some(w1),
            window_to: Some(w2),
            ..Default::default()
        },
        &|row| row.window_end > w1 && row.window_start < w2,
    )
    .await;
    check(
        "enqueued between",
        JobQuery {
            enqueued_after: Some(t1),
            enqueued_before: Some(t2),
            ..Default::default()
        },
        &|row| row.enqueued_at.is_some_and(|t| t > t1 && t < t2),
    )
    .await;
    check(
        "started after",
        JobQuery {
            started_after: Some(t1),
            ..Default::default()
        },
        &|row| row.started_at.is_some_and(|t| t > t1),
    )
    .await;
    check(
        "started before",
        JobQuery {
            started_before: Some(t1),
            ..Default::default()
        },
        &|row| row.started_at.is_some_and(|t| t < t1),
    )
    .await;
    check(
        "finished between",
        JobQuery {
            finished_after: Some(at(590)),
            finished_before: Some(t2),
            ..Default::default()
        },
        &|row| row.finished_at.is_some_and(|t| t > at(590) && t < t2),
    )
    .await;
    let count = services
        .count_jobs(JobQuery {
            status: Some(JobStatus::Pending),
            ..Default::default()
        })
        .await
        .unwrap();
    let pending = all.iter().filter(|row| row.status == JobStatus::Pending);
    assert_eq!(count as usize, pending.count());

    for (query, field) in [
        (
            JobQuery {
                enqueued_after: Some(t2),
                enqueued_before: Some(t1),
                ..Default::default()
            },
            "enqueued_before",
        ),
        (
            JobQuery {
                finished_after: Some(t1),
                finished_before: Some(t1),
                ..Default::default()
            },
            "finished_before",
        ),
        (
            JobQuery {
                window_from: Some(w2),
                window_to: Some(w1),
                ..Default::default()
            },
            "window_to",
        ),
    ] {
        let err = services.list_jobs(query).await.unwrap_err();
        assert_eq!((err.code(), err.field()), ("invalid", Some(field)), "{err}");
        assert!(err.to_string().contains("must be later than"), "{err}");
    }
}

/// Walks a list page after page with `limit`, calling `grow` after each page.
async fn walk<T, F, Fut, G, GFut>(mut fetch: F, mut grow: G) -> Vec<T>
where
    F: FnMut(Option<Cursor>) -> Fut,
    Fut: std::future::Future<Output = logwarden::service::page::Page<T>>,
    G: FnMut() -> GFut,
    GFut: std::future::Future<Output = ()>,
{
    let mut items = Vec::new();
    let mut cursor = None;
    for _ in 0..1000 {
        let page = fetch(cursor.take()).await;
        items.extend(page.items);
        grow().await;
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return items,
        }
    }
    panic!("the list never ended");
}

fn assert_each_once(name: &str, seen: &[i64]) {
    let unique: HashSet<i64> = seen.iter().copied().collect();
    assert_eq!(
        unique.len(),
        seen.len(),
        "{name}: a row came twice: {seen:?}"
    );
}

async fn paging_returns_every_row_exactly_once_while_rows_are_inserted(test: TestDb) {
    let db = &test.db;
    let services = services(db);
    let acme = seed_integration(db, "acme", "security", "default").await;
    let inserted = AtomicUsize::new(0);
    let next_start =
        || at(100_000) + TimeDelta::hours(inserted.fetch_add(1, Ordering::SeqCst) as i64);
    let next_start = &next_start;
    for _ in 0..37 {
        seed_job(
            db,
            acme,
            JobKind::Sync,
            next_start(),
            JobStatus::Pending,
            at(1),
        )
        .await;
    }
    let before: Vec<i64> = job::Entity::find()
        .order_by_desc(job::Column::Id)
        .all(db)
        .await
        .unwrap()
        .iter()
        .map(|row| row.id)
        .collect();
    let limit = Limit::new(4).unwrap();
    let seen: Vec<i64> = walk(
        |cursor| {
            let services = services.clone();
            async move {
                services
                    .list_jobs(JobQuery {
                        limit,
                        cursor,
                        ..Default::default()
                    })
                    .await
                    .unwrap()
            }
        },
        move || async move {
            for _ in 0..2 {
                seed_job(
                    db,
                    acme,
                    JobKind::Sync,
                    next_start(),
                    JobStatus::Pending,
                    at(1),
                )
                .await;
            }
        },
    )
    .await
    .iter()
    .map(|view| view.id)
    .collect();
    assert_each_once("jobs", &seen);
    assert_eq!(
        seen, before,
        "newest first, every row that existed, none twice"
    );

    // Oldest first: rows inserted meanwhile come at the end, each once.
    for i in 0..13 {
        seed_integration(db, &format!("source-{i}"), "security", "default").await;
    }
    let grown = &AtomicUsize::new(0);
    let seen: Vec<i64> = walk(
        |cursor| {
            let services = services.clone();
            async move {
                services
                    .list_integrations(IntegrationQuery {
                        limit: Limit::new(3).unwrap(),
                        cursor,
                        ..Default::default()
                    })
                    .await
                    .unwrap()
            }
        },
        move || async move {
            let n = grown.fetch_add(1, Ordering::SeqCst);
            seed_integration(db, &format!("added-{n}"), "security", "default").await;
        },
    )
    .await
    .iter()
    .map(|view| view.id)
    .collect();
    assert_each_once("integrations", &seen);
    let mut all: Vec<i64> = logwarden_entities::integration::Entity::find()
        .all(db)
        .await
        .unwrap()
        .iter()
        .map(|row| row.id)
        .collect();
    all.sort_unstable();
    // The last insertion happens after the last page was read.
    assert_eq!(
        seen,
        all[..all.len() - 1],
        "every integration once, in id order"
    );

    for hours in 1..=9 {
        backfill(&services, acme, hours).await;
    }
    let grown = &AtomicUsize::new(0);
    let services = &services;
    let seen: Vec<i64> = walk(
        |cursor| {
            let services = services.clone();
            async move {
                services
                    .list_backfills(BackfillQuery {
                        limit: Limit::new(2).unwrap(),
                        cursor,
                        ..Default::default()
                    })
                    .await
                    .unwrap()
            }
        },
        move || async move {
            let hours = 10 + grown.fetch_add(1, Ordering::SeqCst) as i64;
            backfill(services, acme, hours).await;
        },
    )
    .await
    .iter()
    .map(|view| view.id)
    .collect();
    assert_each_once("backfills", &seen);
    assert_eq!(seen.len(), 9, "the nine backfills that existed: {seen:?}");
    assert!(
        seen.windows(2).all(|pair| pair[0] > pair[1]),
        "newest first"
    );
}

/// A second connection to the test's database that counts the statements it runs.
async fn counting(test: &TestDb) -> (DatabaseConnection, Arc<AtomicUsize>) {
    let mut db = logwarden::store::connect(&Secret::new(test.url.clone()))
        .await
        .expect("connect");
    let statements = Arc::new(AtomicUsize::new(0));
    let counter = statements.clone();
    db.set_metric_callback(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    (db, statements)
}

async fn lists_cost_the_same_number_of_statements_however_many_rows_they_show(test: TestDb) {
    let db = &test.db;
    for i in 0..30 {
        let project = format!("project-{}", i % 3);
        let plane = format!("plane-{}", i % 2);
        seed_integration(db, &format!("source-{i}"), &project, &plane).await;
    }
    let seeding = services(db);
    let first = seeding
        .list_integrations(IntegrationQuery::default())
        .await
        .unwrap()
        .items[0]
        .id;
    for hours in 1..=12 {
        backfill(&seeding, first, hours).await;
    }
    let (counted, statements) = counting(&test).await;
    let services = services(&counted);

    let before = statements.load(Ordering::SeqCst);
    let integrations = services
        .list_integrations(IntegrationQuery {
            limit: Limit::LARGEST,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        statements.load(Ordering::SeqCst) - before,
        2,
        "two queries for 30: the integrations and their last errors"
    );
    assert_eq!(integrations.items.len(), 30);
    for view in &integrations.items {
        let i: usize = view.name["source-".len()..].parse().unwrap();
        assert_eq!(view.project, format!("project-{}", i % 3), "{view:?}");
        assert_eq!(view.data_plane, format!("plane-{}", i % 2), "{view:?}");
    }

    let before = statements.load(Ordering::SeqCst);
    let backfills = services
        .list_backfills(BackfillQuery::default())
        .await
        .unwrap();
    assert_eq!(
        statements.load(Ordering::SeqCst) - before,
        3,
        "three queries for 12: the backfills, their batch counts, their pace"
    );
    assert_eq!(backfills.items.len(), 12);
    for view in &backfills.items {
        let hours = (view.range_end - view.range_start).num_hours();
        assert_eq!(view.batches_total, hours, "{view:?}");
        assert_eq!(
            view.batches_pending, hours,
            "counted per backfill: {view:?}"
        );
        assert_eq!(view.status, BackfillStatus::Pending);
    }

    let filtered = services
        .list_integrations(IntegrationQuery {
            data_plane: Some("plane-1".into()),
            status: Some(IntegrationStatus::Active),
            limit: Limit::LARGEST,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(filtered.items.len(), 15);
    assert!(filtered
        .items
        .iter()
        .all(|view| view.data_plane == "plane-1"));
}

#[test]
fn query_types_parse_from_a_query_string_and_refuse_what_they_do_not_know() {
    let query: JobQuery = serde_urlencoded::from_str(
        "integration_id=3&status=failed&kind=backfill_batch&started_after=2026-04-08T00:00:00Z&limit=10",
    )
    .unwrap();
    assert_eq!(query.integration_id, Some(3));
    assert_eq!(query.status, Some(JobStatus::Failed));
    assert_eq!(query.kind, Some(JobKind::BackfillBatch));
    assert_eq!(
        query.started_after,
        Some("2026-04-08T00:00:00Z".parse().unwrap())
    );
    assert_eq!(query.limit.get(), 10);
    let empty: JobQuery = serde_urlencoded::from_str("").unwrap();
    assert_eq!(empty.limit, Limit::DEFAULT);
    assert_eq!(empty.limit.get(), 50);

    let refused = |text: &str| {
        serde_urlencoded::from_str::<JobQuery>(text)
            .unwrap_err()
            .to_string()
    };
    assert!(
        refused("colour=red").contains("colour"),
        "{}",
        refused("colour=red")
    );
    let status = refused("status=done");
    assert!(
        status.contains(r#"invalid status "done": expected one of pending, enqueued"#),
        "{status}"
    );
    for limit in ["0", "1001", "-5"] {
        let message = refused(&format!("limit={limit}"));
        assert!(
            message.contains("invalid limit") && message.contains("from 1 to 1000"),
            "{message}"
        );
    }
    let backfills: BackfillQuery = serde_urlencoded::from_str("status=paused&limit=1000").unwrap();
    assert_eq!(backfills.status, Some(BackfillStatus::Paused));
    assert!(serde_urlencoded::from_str::<BackfillQuery>("kind=sync").is_err());
    let integrations: IntegrationQuery =
        serde_urlencoded::from_str("status=active&project_id=2&data_plane=eu").unwrap();
    assert_eq!(integrations.status, Some(IntegrationStatus::Active));
    assert_eq!(integrations.project_id, Some(2));
    assert!(serde_urlencoded::from_str::<IntegrationQuery>("name=acme").is_err());
}

#[tokio::test]
async fn a_cursor_from_another_list_or_a_forged_one_is_an_invalid_cursor() {
    let test = TestDb::postgres().await;
    let services = services(&test.db);
    let acme = seed_integration(&test.db, "acme", "security", "default").await;
    for hours in 0..3 {
        seed_job(
            &test.db,
            acme,
            JobKind::Sync,
            at(900 + 60 * hours),
            JobStatus::Pending,
            at(1),
        )
        .await;
    }
    let page = services
        .list_jobs(JobQuery {
            limit: Limit::new(1).unwrap(),
            ..Default::default()
        })
        .await
        .unwrap();
    let cursor = page.next_cursor.expect("more jobs follow");
    let err = services
        .list_backfills(BackfillQuery {
            cursor: Some(cursor),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), err.field()),
        ("invalid", Some("cursor")),
        "{err}"
    );
    let forged = services
        .list_integrations(IntegrationQuery {
            cursor: Some(Cursor::from("eyJpZCI6M30".to_owned())),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(forged.field(), Some("cursor"), "{forged}");
    assert!(forged.to_string().contains("next_cursor"), "{forged}");
}

#[tokio::test]
async fn an_id_resolves_before_a_name_so_a_numeric_name_never_hides_another_integration() {
    let test = TestDb::postgres().await;
    let services = services(&test.db);
    let first = seed_integration(&test.db, "alpha", "security", "default").await;
    let named_like_first =
        seed_integration(&test.db, &first.to_string(), "security", "default").await;
    let digits = "987654321";
    let numeric = seed_integration(&test.db, digits, "security", "default").await;

    let resolve = |key: String| {
        let services = services.clone();
        async move { services.resolve_integration(&key).await }
    };
    assert_eq!(
        resolve(first.to_string()).await.unwrap(),
        first,
        "the id wins"
    );
    assert_eq!(resolve("alpha".into()).await.unwrap(), first);
    assert_eq!(
        resolve(named_like_first.to_string()).await.unwrap(),
        named_like_first,
        "the integration named like another's id is reachable by its own id"
    );
    assert_eq!(
        resolve(digits.into()).await.unwrap(),
        numeric,
        "digits that are no id are a name"
    );
    let missing = resolve("nobody".into()).await.unwrap_err();
    assert_eq!(missing.code(), "not_found");
    assert!(missing.to_string().contains(r#""nobody""#), "{missing}");
}

#[tokio::test]
async fn lookups_by_id_return_views_with_enum_statuses_and_utc_times() {
    let test = TestDb::postgres().await;
    let services = services(&test.db);
    let acme = seed_integration(&test.db, "acme", "security", "eu").await;
    let job = seed_job(
        &test.db,
        acme,
        JobKind::Sync,
        at(300),
        JobStatus::Enqueued,
        at(2),
    )
    .await;

    let integration = serde_json::to_value(services.integration(acme).await.unwrap()).unwrap();
    assert_eq!(integration["kind"], "anthropic_compliance_api");
    assert_eq!(integration["status"], "active");
    assert_eq!(integration["project"], "security");
    assert_eq!(integration["data_plane"], "eu");
    assert!(
        integration.get("api_key_ciphertext").is_none(),
        "never the key"
    );
    let view = serde_json::to_value(services.job(job.id).await.unwrap()).unwrap();
    assert_eq!(view["status"], "enqueued");
    assert_eq!(view["kind"], "sync");
    for field in ["enqueued_at", "window_start", "created_at"] {
        let text = view[field].as_str().unwrap_or_default();
        assert!(text.ends_with('Z'), "{field} is UTC: {text}");
        assert!(
            DateTime::parse_from_rfc3339(text).is_ok(),
            "{field}: {text}"
        );
    }
    let backfill_id = backfill(&services, acme, 2).await;
    let backfill = serde_json::to_value(services.backfill(backfill_id).await.unwrap()).unwrap();
    assert_eq!(backfill["status"], "pending");
    assert_eq!(backfill["batches_pending"], 2);

    for err in [
        services.integration(acme + 100).await.unwrap_err(),
        services.job(job.id + 100).await.unwrap_err(),
        services.backfill(backfill_id + 100).await.unwrap_err(),
        services.pause_integration(acme + 100).await.unwrap_err(),
        services.retry_job(job.id + 100).await.unwrap_err(),
    ] {
        assert_eq!(err.code(), "not_found", "{err}");
        assert!(err.to_string().ends_with("does not exist"), "{err}");
    }
}

#[tokio::test]
async fn a_database_failure_is_an_internal_error_whose_message_carries_no_sql() {
    let test = TestDb::postgres().await;
    let services = services(&test.db);
    test.db
        .execute_unprepared("ALTER TABLE jobs RENAME TO jobs_elsewhere")
        .await
        .unwrap();

    let err = services.list_jobs(JobQuery::default()).await.unwrap_err();

    assert_eq!(err.code(), "internal_error");
    assert_eq!(err.to_string(), "database error");
    let cause = std::error::Error::source(&err).map(|source| source.to_string());
    assert!(
        cause.as_deref().is_some_and(|cause| cause.contains("jobs")),
        "the cause stays for the logs: {cause:?}"
    );
}
