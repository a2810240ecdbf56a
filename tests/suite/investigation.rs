//! The investigation API over real HTTP, on PostgreSQL and on SQLite, over events ingested
//! from the fake Compliance API: the events search against the same filter in SQL, the
//! full-text index, cursor stability while ingestion goes on, event detail, and project
//! scope.

use chrono::{DateTime, TimeDelta, Utc};
use logwarden::service::tokens::Role;
use logwarden_entities::event;
use logwarden_fake_api::FakeConfig;
use reqwest::StatusCode;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::helpers::{day, test_settings, Pipeline, Served, TestDb};

const LAG: TimeDelta = TimeDelta::minutes(2);

/// A pipeline on `test` with events of one hour ingested, and a server on its database.
pub(crate) struct Investigation {
    pub(crate) pipeline: Pipeline,
    served: Served,
    pub(crate) investigator: String,
    pub(crate) start: DateTime<Utc>,
}

impl std::ops::Deref for Investigation {
    type Target = Served;

    fn deref(&self) -> &Served {
        &self.served
    }
}

impl Investigation {
    pub(crate) async fn on(test: TestDb) -> Self {
        Self::with_fake(
            test,
            FakeConfig {
                rate_limit: None,
                ..FakeConfig::default()
            },
        )
        .await
    }

    /// As [`Investigation::on`], with the fake API configured as `fake`.
    pub(crate) async fn with_fake(test: TestDb, fake: FakeConfig) -> Self {
        let start = day() + TimeDelta::hours(9);
        let pipeline = Pipeline::start_with(test, fake, start, |_| {}).await;
        let served = Served::start(pipeline.test.db.clone(), &test_settings(|_| {})).await;
        let this = Self {
            investigator: served.token(Role::Investigator, &[]).await,
            served,
            start,
            pipeline,
        };
        this.ingest_until(start + TimeDelta::hours(1)).await;
        this
    }

    /// A second project with an integration of its own, and an investigator scoped to it.
    pub(crate) async fn other_project_token(&self) -> String {
        self.app
            .services
            .add_integration(logwarden::service::integrations::NewIntegration {
                name: "other".into(),
                project: "other".into(),
                data_plane: "default".into(),
                api_key: logwarden::infra::secret::Secret::new(
                    logwarden_fake_api::DEFAULT_TEST_KEY,
                ),
                base_url: Some(self.pipeline.fake.base_url()),
                sync_from: None,
            })
            .await
            .expect("second integration");
        self.token(Role::Investigator, &["other"]).await
    }

    /// One live tick: ingests everything the fake has indexed up to `api_now`.
    pub(crate) async fn ingest_until(&self, api_now: DateTime<Utc>) {
        self.pipeline.fake.set_now(api_now);
        self.pipeline
            .scheduler
            .tick(api_now + LAG)
            .await
            .expect("tick");
        self.pipeline.drain(api_now + LAG).await;
    }

    /// Every page of `/api/v1/events?{query}`, following cursors; the ids in order.
    async fn walk(&self, query: &str, token: &str) -> Vec<String> {
        let mut ids = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/api/v1/events?{query}&limit=2");
            if let Some(cursor) = &cursor {
                path.push_str(&format!("&cursor={cursor}"));
            }
            let (status, body) = self.get(&path, token).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            ids.extend(
                body["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|row| row["id"].as_str().unwrap().to_owned()),
            );
            match body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return ids,
            }
        }
    }

    /// The user with the most events.
    async fn busiest_user(&self) -> String {
        let emails: Vec<String> = event::Entity::find()
            .select_only()
            .column(event::Column::UserEmail)
            .into_tuple()
            .all(&self.pipeline.test.db)
            .await
            .unwrap();
        let mut counts = std::collections::BTreeMap::<String, usize>::new();
        for email in emails {
            *counts.entry(email).or_default() += 1;
        }
        counts
            .into_iter()
            .max_by_key(|(_, count)| *count)
            .map(|(email, _)| email)
            .expect("events were ingested")
    }
}

pub(crate) fn encoded(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

async fn search_by_user_and_range_equals_sql(test: TestDb) {
    let it = Investigation::on(test).await;
    it.ingest_until(it.start + TimeDelta::hours(8)).await;
    let email = it.busiest_user().await;
    // The range starts at the user's second event (inclusive) and ends at its last
    // (exclusive), so both ends are exercised.
    let mut times: Vec<DateTime<Utc>> = event::Entity::find()
        .select_only()
        .column(event::Column::EventTime)
        .filter(event::Column::UserEmail.eq(&email))
        .into_tuple()
        .all(&it.pipeline.test.db)
        .await
        .unwrap();
    times.sort();
    times.dedup();
    assert!(
        times.len() >= 5,
        "the busiest user has several events: {times:?}"
    );
    let (from, to) = (times[1], times[times.len() - 1]);
    let expected: Vec<String> = event::Entity::find()
        .filter(event::Column::UserEmail.eq(&email))
        .filter(event::Column::EventTime.gte(from))
        .filter(event::Column::EventTime.lt(to))
        .order_by_desc(event::Column::EventTime)
        .order_by_desc(event::Column::Id)
        .all(&it.pipeline.test.db)
        .await
        .unwrap()
        .into_iter()
        .map(|row| row.id.to_string())
        .collect();
    assert!(
        expected.len() > 2,
        "the test needs several pages: {expected:?}"
    );
    let query = format!(
        "user_email={}&from={}&to={}",
        encoded(&email),
        encoded(&from.to_rfc3339()),
        encoded(&to.to_rfc3339())
    );
    assert_eq!(it.walk(&query, &it.investigator).await, expected);

    let (status, page) = it
        .get(&format!("/api/v1/events?{query}"), &it.investigator)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["total"]["count"], expected.len());
    assert_eq!(page["total"]["capped"], false);
    let row = &page["items"][0];
    assert_eq!(row["user_email"], email.as_str());
    assert_eq!(row["resource_name"], "acme");

    // Oldest first walks the same events in reverse.
    let mut reversed = expected.clone();
    reversed.reverse();
    assert_eq!(
        it.walk(&format!("{query}&order=oldest_first"), &it.investigator)
            .await,
        reversed
    );

    // An email prefix matches the same user's events (and maybe others').
    let prefix = &email[..email.find('@').unwrap()];
    let by_prefix = it
        .walk(
            &format!(
                "user_email_prefix={}&from={}&to={}",
                encoded(prefix),
                encoded(&from.to_rfc3339()),
                encoded(&to.to_rfc3339())
            ),
            &it.investigator,
        )
        .await;
    assert!(expected.iter().all(|id| by_prefix.contains(id)));
}

#[tokio::test]
async fn a_search_by_user_and_range_returns_exactly_the_events_sql_finds_on_postgres() {
    search_by_user_and_range_equals_sql(TestDb::postgres().await).await;
}

#[tokio::test]
async fn a_search_by_user_and_range_returns_exactly_the_events_sql_finds_on_sqlite() {
    search_by_user_and_range_equals_sql(TestDb::sqlite().await).await;
}

async fn full_text_finds_a_planted_word(test: TestDb) {
    let it = Investigation::on(test).await;
    let db = &it.pipeline.test.db;
    let target = event::Entity::find()
        .order_by_asc(event::Column::Id)
        .one(db)
        .await
        .unwrap()
        .expect("an event");
    // An update of the stored text reaches the index too.
    event::Entity::update_many()
        .col_expr(
            event::Column::OutputText,
            Expr::value(format!("{} quixotically", target.output_text)),
        )
        .filter(event::Column::Id.eq(target.id))
        .exec(db)
        .await
        .unwrap();
    let found = it.walk("q=Quixotically", &it.investigator).await;
    assert_eq!(found, [target.id.to_string()]);
    // Query syntax in the text is taken as words, never as an error.
    let (status, body) = it
        .get(
            "/api/v1/events?q=%22quixotically%20OR%20(",
            &it.investigator,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, detail) = it
        .get(&format!("/api/v1/events/{}", target.id), &it.investigator)
        .await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert!(detail["output"].as_str().unwrap().ends_with("quixotically"));
    assert_eq!(detail["provider"], "ANTHROPIC_COMPLIANCE_API");
    assert_eq!(detail["endpoint"], "acme");
    assert_eq!(detail["token_usage"]["estimated"], true);
    assert_eq!(detail["input"], target.input_text.as_str());
}

#[tokio::test]
async fn full_text_finds_a_planted_word_on_postgres() {
    full_text_finds_a_planted_word(TestDb::postgres().await).await;
}

#[tokio::test]
async fn full_text_finds_a_planted_word_on_sqlite() {
    full_text_finds_a_planted_word(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn a_cursor_walk_neither_repeats_nor_skips_while_new_events_are_ingested() {
    let it = Investigation::on(TestDb::postgres().await).await;
    let before: Vec<String> = event::Entity::find()
        .order_by_desc(event::Column::EventTime)
        .order_by_desc(event::Column::Id)
        .all(&it.pipeline.test.db)
        .await
        .unwrap()
        .into_iter()
        .map(|row| row.id.to_string())
        .collect();
    let (status, first) = it.get("/api/v1/events?limit=4", &it.investigator).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let mut seen: Vec<String> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["id"].as_str().unwrap().to_owned())
        .collect();
    it.ingest_until(it.start + TimeDelta::hours(2)).await;
    let after = it.pipeline.count("events").await as usize;
    assert!(after > before.len(), "ingestion added events meanwhile");
    let mut cursor = first["next_cursor"].as_str().map(str::to_owned);
    while let Some(next) = cursor {
        let (status, page) = it
            .get(
                &format!("/api/v1/events?limit=4&cursor={next}"),
                &it.investigator,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|row| row["id"].as_str().unwrap().to_owned()),
        );
        cursor = page["next_cursor"].as_str().map(str::to_owned);
    }
    assert_eq!(seen, before);
}

#[tokio::test]
async fn a_project_scoped_token_never_sees_another_projects_events_even_by_id() {
    let it = Investigation::on(TestDb::postgres().await).await;
    let scoped = it.other_project_token().await;
    let own = it.token(Role::Investigator, &["security"]).await;
    let some = event::Entity::find()
        .one(&it.pipeline.test.db)
        .await
        .unwrap()
        .expect("an event");

    let (status, page) = it.get("/api/v1/events", &scoped).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), 0);
    assert_eq!(page["total"]["count"], 0);
    let (status, body) = it
        .get(&format!("/api/v1/events/{}", some.id), &scoped)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let unknown = uuid::Uuid::new_v4();
    let (status, missing) = it.get(&format!("/api/v1/events/{unknown}"), &scoped).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .replace(&some.id.to_string(), "ID"),
        missing["error"]["message"]
            .as_str()
            .unwrap()
            .replace(&unknown.to_string(), "ID"),
        "outside the scope reads exactly like absent"
    );
    // Filtering for the other project's id by hand changes nothing.
    let (_, page) = it
        .get(
            &format!(
                "/api/v1/events?integration_id={}",
                it.pipeline.integration_id
            ),
            &scoped,
        )
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 0);

    let (status, body) = it.get(&format!("/api/v1/events/{}", some.id), &own).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let operator = it.token(Role::Operator, &[]).await;
    let (status, _) = it.get("/api/v1/events", &operator).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn bad_search_input_is_a_400_naming_the_field() {
    let it = Investigation::on(TestDb::postgres().await).await;
    for (query, field) in [
        ("direction=sideways", "direction"),
        ("from=2026-04-08T10:00:00Z&to=2026-04-08T09:00:00Z", "to"),
        ("q=%20", "q"),
        ("cursor=abc", "cursor"),
        ("colour=red", "colour"),
        ("effective_action=shout", "effective_action"),
    ] {
        let (status, body) = it
            .get(&format!("/api/v1/events?{query}"), &it.investigator)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["error"]["field"], field, "{query}: {body}");
    }
    let (status, body) = it.get("/api/v1/events/not-a-uuid", &it.investigator).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn stream_events_yields_every_match_in_the_search_order() {
    use futures::TryStreamExt;
    let it = Investigation::on(TestDb::postgres().await).await;
    let query = logwarden::service::investigation::events::EventQuery::default();
    let streamed: Vec<String> = it
        .app
        .services
        .stream_events(&logwarden::service::scope::Scope::Everything, &query)
        .map_ok(|row| row.id.to_string())
        .try_collect()
        .await
        .unwrap();
    assert!(!streamed.is_empty());
    assert_eq!(
        streamed,
        it.walk("order=newest_first", &it.investigator).await
    );
}

mod export;
mod tags;
