//! The rate budget across integrations and failures: an integration whose add-time probe saw
//! no activity learns its organisation from the first activity it ingests, so that it draws on
//! that organisation's budget from then on; one-off requests draw on the fleet's budget; the
//! workers' heartbeats give the limiter its live count; a window costs the least requests;
//! the limiters count the requests they admit per minute, for the overview's chart.

use chrono::{TimeDelta, Utc};
use logwarden::infra::ratelimit::{
    minute_of, LocalRateLimiter, RateLimit, RedisLimiterOptions, RedisRateLimiter,
    ADMITTED_KEEP_SECONDS,
};
use logwarden::infra::secret::Secret;
use logwarden::roles::worker::Worker;
use logwarden::service::integrations::UNIDENTIFIED_ORGANIZATION;
use logwarden::service::pull::pull_window;
use logwarden::tools::bench_budget::minimum_requests;
use logwarden_entities::{access_event, integration};
use logwarden_fake_api::FakeConfig;
use redis::AsyncCommands;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

use crate::helpers::{day, redis_url, test_settings, unique_name, Pipeline, TestDb};

#[tokio::test]
async fn an_integration_added_without_an_organisation_learns_it_from_the_first_activity_it_ingests()
{
    let start = day() + TimeDelta::hours(12);
    let pipeline = Pipeline::start(
        FakeConfig {
            rate_limit: None,
            ..FakeConfig::default()
        },
        start,
    )
    .await;
    // As after an add-time probe that saw no activity.
    integration::Entity::update_many()
        .col_expr(
            integration::Column::OrganizationUuid,
            Expr::value(Option::<String>::None),
        )
        .filter(integration::Column::Id.eq(pipeline.integration_id))
        .exec(&pipeline.test.db)
        .await
        .unwrap();

    let api_now = start + TimeDelta::minutes(30);
    pipeline.fake.set_now(api_now);
    let lag = TimeDelta::minutes(2);
    pipeline.scheduler.tick(api_now + lag).await.expect("tick");
    pipeline.drain(api_now + lag).await;

    let ingested: Vec<Option<String>> = access_event::Entity::find()
        .select_only()
        .column(access_event::Column::OrganizationUuid)
        .filter(access_event::Column::OrganizationUuid.is_not_null())
        .distinct()
        .into_tuple()
        .all(&pipeline.test.db)
        .await
        .unwrap();
    assert_eq!(
        ingested.len(),
        1,
        "one organisation named in the window: {ingested:?}"
    );
    let organisation = ingested[0]
        .clone()
        .expect("activities name their organisation");
    let stored = integration::Entity::find_by_id(pipeline.integration_id)
        .one(&pipeline.test.db)
        .await
        .unwrap()
        .unwrap()
        .organization_uuid;
    assert_eq!(stored, Some(organisation.clone()));
    assert_eq!(
        pipeline
            .services
            .learn_organization(pipeline.integration_id)
            .await
            .unwrap(),
        Some(organisation)
    );
}

#[tokio::test]
async fn a_sync_window_costs_exactly_the_least_requests_the_api_allows() {
    let start = day() + TimeDelta::hours(9);
    let pipeline = Pipeline::start(
        FakeConfig {
            rate_limit: None,
            ..FakeConfig::default()
        },
        start,
    )
    .await;
    pipeline.fake.reset_stats();

    let api_now = start + TimeDelta::hours(3);
    pipeline.fake.set_now(api_now);
    let lag = TimeDelta::minutes(2);
    pipeline.scheduler.tick(api_now + lag).await.expect("tick");
    pipeline.drain(api_now + lag).await;

    let jobs = logwarden_entities::job::Entity::find()
        .filter(logwarden_entities::job::Column::Status.eq("succeeded"))
        .all(&pipeline.test.db)
        .await
        .unwrap();
    assert!(!jobs.is_empty(), "the tick ran no window");
    let mut chats = 0;
    for row in &jobs {
        let manifest = pipeline.fake.manifest(row.window_start, row.window_end);
        chats += manifest.chats;
        assert_eq!(
            row.requests as u64,
            minimum_requests(manifest.activities, manifest.chats),
            "window {} – {}: {} activities, {} chats",
            row.window_start,
            row.window_end,
            manifest.activities,
            manifest.chats
        );
    }
    assert!(chats > 0, "the windows must hold chats");
    // Nothing else reached the API: no probe, no page past the last.
    let counted: i64 = jobs.iter().map(|row| row.requests).sum();
    assert_eq!(pipeline.fake.stats().requests, counted as u64);
}

#[tokio::test]
async fn a_connection_test_and_a_pull_draw_on_the_fleet_budget_when_redis_is_configured() {
    let fake = logwarden_fake_api::spawn(FakeConfig {
        rate_limit: None,
        ..FakeConfig::default()
    })
    .await
    .unwrap();
    fake.set_now(day() + TimeDelta::days(1));
    let settings = test_settings(|args| args.redis_url = Some(Secret::new(redis_url())));
    let test = TestDb::postgres().await;
    let app = logwarden::app::App::with_database(test.db.clone(), &settings)
        .await
        .unwrap();
    let key = Secret::new(logwarden_fake_api::DEFAULT_TEST_KEY);
    let mut redis = redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let log = |org: &str| format!("{}:ratelimit:{{{org}}}:log", settings.redis_prefix);

    let check = app
        .services
        .test_connection(Some(&fake.base_url()), &key)
        .await
        .unwrap();
    let after_check: i64 = redis.zcard(log(UNIDENTIFIED_ORGANIZATION)).await.unwrap();
    let gates = logwarden::app::one_off_gates(&settings).unwrap();
    let counts = pull_window(
        &settings,
        gates.as_ref(),
        &fake.base_url(),
        &key,
        (day() + TimeDelta::hours(9), day() + TimeDelta::hours(11)),
        |_| {},
    )
    .await
    .unwrap();
    let organisation = check.organization_uuid.expect("the fake has activity");
    let unidentified: i64 = redis.zcard(log(UNIDENTIFIED_ORGANIZATION)).await.unwrap();
    let of_organisation: i64 = redis.zcard(log(&organisation)).await.unwrap();

    assert_eq!(after_check, 1, "the connection test's request");
    // The pull's first request names the organisation; its window's requests use its budget.
    assert_eq!(unidentified, 2);
    assert!(counts.requests > 2, "{counts:?}");
    // The two first requests are charged to the organisation once they named it.
    assert_eq!(of_organisation as u64, 2 + counts.requests);
    assert_eq!(fake.stats().requests, 1 + 1 + counts.requests);
}

#[tokio::test]
async fn worker_heartbeats_tell_the_fleet_limiter_how_many_workers_are_alive() {
    let settings = test_settings(|args| args.redis_url = Some(Secret::new(redis_url())));
    let test = TestDb::postgres().await;
    let app = logwarden::app::App::with_database(test.db.clone(), &settings)
        .await
        .unwrap();
    let worker = |name: &str| {
        Worker::new(
            &app,
            name.to_owned(),
            tokio_util::sync::CancellationToken::new(),
        )
    };
    let (first, second) = (worker("worker-a"), worker("worker-b"));
    let limiter = app.fleet_limiter.clone().expect("Redis is configured");
    let before = limiter.live_processes();
    // A worker that stopped beating long ago, by the database's clock.
    let db_now = logwarden::store::clock::now(&test.db).await.unwrap();
    first.beat("default").await.unwrap();
    test.db
        .execute_unprepared(&format!(
            "UPDATE worker_heartbeats SET name = 'worker-gone', heartbeat_at = '{}'",
            (db_now - TimeDelta::minutes(10)).to_rfc3339()
        ))
        .await
        .unwrap();

    let alone = first.beat("default").await.unwrap();
    let together = second.beat("default").await.unwrap();

    assert_eq!(before, None, "nothing reported, nothing counted yet");
    assert_eq!(alone, 1, "the silent worker is not counted");
    assert_eq!(together, 2);
    assert_eq!(limiter.live_processes(), Some(2));
}

/// Requests admitted in one test: well under the budget, so none of them waits.
const ADMITTED: u64 = 7;

/// Takes `ADMITTED` turns of `org`'s gate; returns the minutes they may have started in, as
/// the moment after the last one and how many minutes back from it the first one lies.
async fn admit_all(gate: &dyn logwarden_compliance::RequestGate) -> (chrono::DateTime<Utc>, u32) {
    let before = Utc::now();
    for _ in 0..ADMITTED {
        gate.acquire().await;
    }
    let after = Utc::now();
    (after, (minute_of(after) - minute_of(before) + 1) as u32)
}

#[tokio::test]
async fn after_k_admitted_requests_the_fleet_limiter_counts_k_in_their_minute_on_redis() {
    let prefix = unique_name("lwadmitted");
    let rate = RateLimit::per_minute(600).unwrap();
    let limiter = RedisRateLimiter::connect(
        &redis_url(),
        RedisLimiterOptions::new(&prefix, rate),
        "default",
    )
    .unwrap();
    let gate = limiter.for_org("org-k").unwrap();

    let (after, minutes) = admit_all(gate.as_ref()).await;

    let counts = limiter
        .admitted_per_minute("org-k", after, minutes)
        .await
        .unwrap();
    assert_eq!(counts.iter().sum::<u64>(), ADMITTED, "{counts:?}");
    if minutes == 1 {
        assert_eq!(counts, vec![ADMITTED]);
    }
    let other = limiter
        .admitted_per_minute("org-other", after, minutes)
        .await
        .unwrap();
    assert!(other.iter().all(|count| *count == 0), "{other:?}");
    // The counter sits under the prefix, in the organisation's hash tag, and expires.
    let mut redis = redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let key = format!("{prefix}:ratelimit:{{org-k}}:admitted:{}", minute_of(after));
    let ttl: i64 = redis.ttl(&key).await.unwrap();
    assert!(
        (1..=i64::from(ADMITTED_KEEP_SECONDS)).contains(&ttl),
        "TTL of {key}: {ttl}"
    );
}

#[tokio::test]
async fn after_k_admitted_requests_the_local_limiter_counts_k_in_their_minute() {
    let rate = RateLimit::per_minute(600).unwrap();
    let limiter = LocalRateLimiter::new(rate, "default").unwrap();
    let gate = limiter.for_org("org-k").unwrap();

    let (after, minutes) = admit_all(gate.as_ref()).await;

    let counts = limiter.admitted_per_minute("org-k", after, minutes);
    assert_eq!(counts.iter().sum::<u64>(), ADMITTED, "{counts:?}");
    if minutes == 1 {
        assert_eq!(counts, vec![ADMITTED]);
    }
    assert_eq!(
        limiter.admitted_per_minute("org-other", after, 1),
        vec![0],
        "another organisation admitted nothing"
    );
}
