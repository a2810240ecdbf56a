//! Exports, datasets and reports over real HTTP, on PostgreSQL and on SQLite, over events
//! ingested from the fake Compliance API: an export equals the search, datasets deduplicate
//! prompts and keep every source event, reports count what SQL counts, and a project-scoped
//! token sees none of another project's exports or datasets, even by id.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, TimeDelta, Utc};
use logwarden::service::investigation::export::{formula_safe, ACCESS_CSV_COLUMNS, CSV_COLUMNS};
use logwarden::service::tokens::Role;
use logwarden_entities::{access_event, audit_entry, event, integration, violation};
use reqwest::StatusCode;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde_json::{json, Value};

use super::{encoded, Investigation};
use crate::helpers::TestDb;

impl Investigation {
    /// `GET path` as text, with its status and content type.
    pub(super) async fn get_text(&self, path: &str, token: &str) -> (StatusCode, String, String) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (status, content_type, response.text().await.expect("body"))
    }

    /// The records of the CSV export at `path` (a 200 of `text/csv` whose header is `columns`).
    async fn csv_records(&self, path: &str, columns: &[&str]) -> Vec<csv::StringRecord> {
        let (status, content_type, body) = self.get_text(path, &self.investigator).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(content_type, "text/csv");
        let mut reader = csv::Reader::from_reader(body.as_bytes());
        let header: Vec<String> = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_owned)
            .collect();
        assert_eq!(header, columns);
        reader.records().map(Result::unwrap).collect()
    }

    /// Every row of the events search for `query`, all pages, as JSON.
    async fn search_rows(&self, query: &str) -> Vec<Value> {
        let mut rows = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/api/v1/events?{query}&limit=7");
            if let Some(cursor) = &cursor {
                path.push_str(&format!("&cursor={cursor}"));
            }
            let (status, page) = self.get(&path, &self.investigator).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            rows.extend(page["items"].as_array().unwrap().iter().cloned());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return rows,
            }
        }
    }

    /// Every row of the access events search for `query`, all pages, as JSON.
    async fn search_access_rows(&self, query: &str) -> Vec<Value> {
        let mut rows = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/api/v1/access-events?{query}&limit=1000");
            if let Some(cursor) = &cursor {
                path.push_str(&format!("&cursor={cursor}"));
            }
            let (status, page) = self.get(&path, &self.investigator).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            rows.extend(page["items"].as_array().unwrap().iter().cloned());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return rows,
            }
        }
    }

    async fn project_id(&self) -> i64 {
        integration::Entity::find_by_id(self.pipeline.integration_id)
            .one(&self.pipeline.test.db)
            .await
            .unwrap()
            .unwrap()
            .project_id
    }
}

fn instant(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|err| panic!("{text}: {err}"))
        .with_timezone(&Utc)
}

async fn an_export_equals_the_search(test: TestDb) {
    let it = Investigation::on(test).await;
    it.ingest_until(it.start + TimeDelta::hours(4)).await;
    let email = it.busiest_user().await;
    let (from, to) = (it.start, it.start + TimeDelta::hours(3));
    for query in [
        format!(
            "user_email={}&from={}&to={}",
            encoded(&email),
            encoded(&from.to_rfc3339()),
            encoded(&to.to_rfc3339())
        ),
        "order=oldest_first".to_owned(),
        "has_violation=true".to_owned(),
    ] {
        let expected = it.search_rows(&query).await;
        assert!(!expected.is_empty(), "{query}: the search finds events");

        let (status, content_type, body) = it
            .get_text(
                &format!("/api/v1/exports/events?format=ndjson&tz=Europe%2FParis&{query}"),
                &it.investigator,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(content_type, "application/x-ndjson");
        let lines: Vec<Value> = body
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(lines.len(), expected.len(), "{query}");
        for (line, row) in lines.iter().zip(&expected) {
            let time = line["event_time"].as_str().unwrap();
            assert!(
                time.ends_with("+01:00") || time.ends_with("+02:00"),
                "Paris time: {time}"
            );
            assert_eq!(instant(time), instant(row["event_time"].as_str().unwrap()));
            let mut line = line.clone();
            let mut row = row.clone();
            line.as_object_mut().unwrap().remove("event_time");
            row.as_object_mut().unwrap().remove("event_time");
            assert_eq!(line, row, "{query}");
        }

        let records = it
            .csv_records(
                &format!("/api/v1/exports/events?format=csv&{query}"),
                &CSV_COLUMNS,
            )
            .await;
        assert_eq!(records.len(), expected.len(), "{query}");
        for (record, row) in records.iter().zip(&expected) {
            let field = |name: &str| &record[CSV_COLUMNS.iter().position(|c| *c == name).unwrap()];
            assert_eq!(field("id"), row["id"].as_str().unwrap());
            assert_eq!(
                instant(field("event_time")),
                instant(row["event_time"].as_str().unwrap())
            );
            assert!(field("event_time").ends_with('Z'), "UTC by default");
            assert_eq!(field("user_email"), row["user_email"].as_str().unwrap());
            assert_eq!(
                field("resource_name"),
                row["resource_name"].as_str().unwrap()
            );
            assert_eq!(
                field("input_excerpt"),
                formula_safe(row["input_excerpt"].as_str().unwrap())
            );
            assert_eq!(
                field("output_excerpt"),
                formula_safe(row["output_excerpt"].as_str().unwrap())
            );
            assert_eq!(field("violations"), row["violations"]["total"].to_string());
            let by_policy: Vec<String> = row["violations"]["by_policy"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(policy, n)| format!("{policy}={n}"))
                .collect();
            assert_eq!(field("violations_by_policy"), by_policy.join(";"));
            let tags: Vec<&str> = row["tags"]["labels"]
                .as_array()
                .unwrap()
                .iter()
                .map(|tag| tag.as_str().unwrap())
                .collect();
            assert_eq!(field("tags"), tags.join(";"));
        }
    }
}

#[tokio::test]
async fn an_export_equals_the_search_on_postgres() {
    an_export_equals_the_search(TestDb::postgres().await).await;
}

#[tokio::test]
async fn an_export_equals_the_search_on_sqlite() {
    an_export_equals_the_search(TestDb::sqlite().await).await;
}

/// Plants `count` access events at one instant, so the export's keyset pages of 5,000 meet
/// rows that tie on their time.
async fn plant_access_events(it: &Investigation, count: usize, at: DateTime<Utc>) {
    let rows: Vec<access_event::ActiveModel> = (0..count)
        .map(|n| access_event::ActiveModel {
            integration_id: Set(it.pipeline.integration_id),
            activity_id: Set(format!("planted-{n}")),
            activity_type: Set("claude_chat_viewed".to_owned()),
            actor_type: Set("user".to_owned()),
            actor_user_id: Set(Some(format!("planted-user-{}", n % 7))),
            actor_email: Set(Some(format!("planted{}@example.com", n % 7))),
            ip_address: Set(Some("10.0.0.7".to_owned())),
            organization_uuid: Set(None),
            event_time: Set(at),
            ingested_at: Set(at),
            record: Set(json!({"id": format!("planted-{n}")})),
            ..Default::default()
        })
        .collect();
    for chunk in rows.chunks(1_000) {
        access_event::Entity::insert_many(chunk.to_vec())
            .exec(&it.pipeline.test.db)
            .await
            .unwrap();
    }
}

async fn an_access_events_export_equals_the_search(test: TestDb) {
    let it = Investigation::on(test).await;
    it.ingest_until(it.start + TimeDelta::hours(2)).await;
    plant_access_events(&it, 5_003, it.start + TimeDelta::minutes(30)).await;
    let all = access_event::Entity::find()
        .order_by_desc(access_event::Column::EventTime)
        .order_by_desc(access_event::Column::Id)
        .all(&it.pipeline.test.db)
        .await
        .unwrap();
    assert!(
        all.len() > 5_003,
        "the pull path stored its activity feed too"
    );
    let sample = all
        .iter()
        .find(|a| a.actor_email.is_some() && !a.activity_id.starts_with("planted"))
        .expect("an activity of a user");
    for query in [
        format!("integration_id={}", it.pipeline.integration_id),
        format!(
            "actor_email={}&from={}&to={}",
            encoded(sample.actor_email.as_deref().unwrap()),
            encoded(&it.start.to_rfc3339()),
            encoded(&(it.start + TimeDelta::hours(2)).to_rfc3339())
        ),
        "actor_email=planted3%40example.com&ip_address=10.0.0.7".to_owned(),
    ] {
        let expected = it.search_access_rows(&query).await;
        assert!(
            !expected.is_empty(),
            "{query}: the search finds access events"
        );

        let (status, content_type, body) = it
            .get_text(
                &format!("/api/v1/exports/access-events?format=ndjson&tz=Europe%2FParis&{query}"),
                &it.investigator,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(content_type, "application/x-ndjson");
        let lines: Vec<Value> = body
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(lines.len(), expected.len(), "{query}");
        for (line, row) in lines.iter().zip(&expected) {
            for time in ["event_time", "ingested_at"] {
                let text = line[time].as_str().unwrap();
                assert!(
                    text.ends_with("+01:00") || text.ends_with("+02:00"),
                    "Paris time: {text}"
                );
                // Exported times carry microseconds; SQLite keeps the nanoseconds it was given.
                assert_eq!(
                    instant(text).timestamp_micros(),
                    instant(row[time].as_str().unwrap()).timestamp_micros()
                );
            }
            let (mut line, mut row) = (line.clone(), row.clone());
            for time in ["event_time", "ingested_at"] {
                line.as_object_mut().unwrap().remove(time);
                row.as_object_mut().unwrap().remove(time);
            }
            assert_eq!(line, row, "{query}");
        }

        let records = it
            .csv_records(
                &format!("/api/v1/exports/access-events?format=csv&{query}"),
                &ACCESS_CSV_COLUMNS,
            )
            .await;
        assert_eq!(records.len(), expected.len(), "{query}");
        for (record, row) in records.iter().zip(&expected) {
            let field =
                |name: &str| &record[ACCESS_CSV_COLUMNS.iter().position(|c| *c == name).unwrap()];
            assert_eq!(field("id"), row["id"].to_string());
            assert!(field("event_time").ends_with('Z'), "UTC by default");
            assert_eq!(
                instant(field("event_time")),
                instant(row["event_time"].as_str().unwrap())
            );
            for text in ["activity_id", "activity_type", "actor_type"] {
                assert_eq!(field(text), row[text].as_str().unwrap(), "{text}");
            }
            for optional in [
                "actor_user_id",
                "actor_email",
                "ip_address",
                "organization_uuid",
            ] {
                assert_eq!(
                    field(optional),
                    row[optional].as_str().unwrap_or(""),
                    "{optional}"
                );
            }
        }
    }
    let ids: BTreeSet<String> = it
        .search_access_rows("")
        .await
        .iter()
        .map(|row| row["id"].to_string())
        .collect();
    assert_eq!(ids.len(), all.len(), "no access event repeated or skipped");
}

#[tokio::test]
async fn an_access_events_export_equals_the_access_events_search_across_keyset_pages_on_postgres() {
    an_access_events_export_equals_the_search(TestDb::postgres().await).await;
}

#[tokio::test]
async fn an_access_events_export_equals_the_access_events_search_across_keyset_pages_on_sqlite() {
    an_access_events_export_equals_the_search(TestDb::sqlite().await).await;
}

async fn csv_cells_that_start_a_formula_are_exported_as_text(test: TestDb) {
    let it = Investigation::on(test).await;
    let db = &it.pipeline.test.db;
    let planted = event::Entity::find()
        .order_by_asc(event::Column::EventTime)
        .one(db)
        .await
        .unwrap()
        .expect("an ingested event");
    let mut row: event::ActiveModel = planted.clone().into();
    row.input_text = Set("=HYPERLINK(\"http://evil.example\",\"x\")".to_owned());
    row.output_text = Set("-2+3".to_owned());
    row.model = Set(Some("@SUM(1)".to_owned()));
    row.update(db).await.unwrap();
    let access = access_event::Entity::find()
        .one(db)
        .await
        .unwrap()
        .expect("an ingested access event");
    let mut activity: access_event::ActiveModel = access.clone().into();
    activity.activity_type = Set("+cmd".to_owned());
    activity.actor_email = Set(Some("\tx@example.com".to_owned()));
    activity.ip_address = Set(Some("\r10.0.0.1".to_owned()));
    activity.update(db).await.unwrap();

    let (status, _, body) = it
        .get_text(
            &format!(
                "/api/v1/exports/events?format=csv&user_email={}",
                encoded(&planted.user_email)
            ),
            &it.investigator,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    let record = reader
        .records()
        .map(Result::unwrap)
        .find(|record| record[0] == planted.id.to_string())
        .expect("the planted event is exported");
    let field =
        |name: &str| record[CSV_COLUMNS.iter().position(|c| *c == name).unwrap()].to_owned();
    assert_eq!(
        field("input_excerpt"),
        "'=HYPERLINK(\"http://evil.example\",\"x\")"
    );
    assert_eq!(field("output_excerpt"), "'-2+3");
    assert_eq!(field("model"), "'@SUM(1)");
    assert_eq!(
        field("user_email"),
        planted.user_email,
        "other cells unchanged"
    );

    let (status, _, body) = it
        .get_text(
            &format!(
                "/api/v1/exports/events?format=ndjson&user_email={}",
                encoded(&planted.user_email)
            ),
            &it.investigator,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let line: Value = body
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .find(|line| line["id"] == planted.id.to_string())
        .expect("the planted event is exported");
    assert_eq!(
        line["input_excerpt"], "=HYPERLINK(\"http://evil.example\",\"x\")",
        "NDJSON as stored"
    );

    let (status, _, body) = it
        .get_text(
            &format!(
                "/api/v1/exports/access-events?format=csv&activity_type={}",
                encoded("+cmd")
            ),
            &it.investigator,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 1, "{body}");
    let field = |name: &str| {
        records[0][ACCESS_CSV_COLUMNS.iter().position(|c| *c == name).unwrap()].to_owned()
    };
    assert_eq!(field("id"), access.id.to_string());
    assert_eq!(field("activity_type"), "'+cmd");
    assert_eq!(field("actor_email"), "'\tx@example.com");
    assert_eq!(field("ip_address"), "'\r10.0.0.1");
    assert_eq!(
        field("activity_id"),
        access.activity_id,
        "other cells unchanged"
    );
}

#[tokio::test]
async fn csv_cells_that_start_a_formula_are_exported_as_text_on_postgres() {
    csv_cells_that_start_a_formula_are_exported_as_text(TestDb::postgres().await).await;
}

#[tokio::test]
async fn csv_cells_that_start_a_formula_are_exported_as_text_on_sqlite() {
    csv_cells_that_start_a_formula_are_exported_as_text(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn bad_export_and_report_input_is_a_400_naming_the_field() {
    let it = Investigation::on(TestDb::postgres().await).await;
    for (path, field) in [
        ("/api/v1/exports/events?format=csv&tz=Mars%2FOlympus", "tz"),
        ("/api/v1/exports/events?tz=UTC", "format"),
        ("/api/v1/exports/events?format=xml", "format"),
        ("/api/v1/exports/events?format=csv&direction=up", "direction"),
        ("/api/v1/exports/events?format=csv&colour=red", "colour"),
        ("/api/v1/exports/access-events?format=csv&tz=Mars%2FOlympus", "tz"),
        ("/api/v1/exports/access-events?format=json", "format"),
        ("/api/v1/exports/access-events?format=csv&actor_email=", "actor_email"),
        (
            "/api/v1/exports/access-events?format=csv&from=2026-04-09T00:00:00Z&to=2026-04-08T00:00:00Z",
            "to",
        ),
        (
            "/api/v1/reports?from=2026-04-08T00:00:00Z&to=2026-04-09T00:00:00Z",
            "project_id",
        ),
        (
            "/api/v1/reports?integration_id=1&from=2026-04-09T00:00:00Z&to=2026-04-08T00:00:00Z",
            "to",
        ),
        (
            "/api/v1/reports?integration_id=1&from=2024-04-09T00:00:00Z&to=2026-04-08T00:00:00Z",
            "to",
        ),
        (
            "/api/v1/reports?integration_id=1&from=2026-04-08T00:00:00Z&to=2026-04-09T00:00:00Z&format=pdf",
            "format",
        ),
    ] {
        let (status, body) = it.get(path, &it.investigator).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(body["error"]["field"], field, "{path}: {body}");
    }
    let (status, body) = it
        .get(
            "/api/v1/exports/events?format=csv&tz=Mars%2FOlympus",
            &it.investigator,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Europe/Paris"),
        "the message names valid values: {body}"
    );
    let (status, body) = it
        .call(
            reqwest::Method::POST,
            "/api/v1/datasets",
            Some(&it.investigator),
            Some(json!({"name": " "})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["field"], "name");
    let (_, list) = it.get("/api/v1/datasets", &it.investigator).await;
    assert_eq!(list["items"], json!([]), "a refused dataset left nothing");
}

async fn datasets_deduplicate_prompts(test: TestDb) {
    let it = Investigation::on(test).await;
    it.ingest_until(it.start + TimeDelta::hours(3)).await;
    let db = &it.pipeline.test.db;
    // Three events carry one prompt, written with different whitespace.
    let planted: Vec<event::Model> = event::Entity::find()
        .order_by_asc(event::Column::EventTime)
        .order_by_asc(event::Column::Id)
        .limit(3)
        .all(db)
        .await
        .unwrap();
    assert_eq!(planted.len(), 3);
    for (row, prompt) in planted.iter().zip([
        "Summarise the incident report",
        "  Summarise the   incident report\n",
        "Summarise\tthe incident report",
    ]) {
        event::Entity::update_many()
            .col_expr(event::Column::InputText, Expr::value(prompt))
            .filter(event::Column::Id.eq(row.id))
            .exec(db)
            .await
            .unwrap();
    }
    let events = event::Entity::find().all(db).await.unwrap();
    let distinct: BTreeSet<String> = events
        .iter()
        .filter(|row| !row.input_text.trim().is_empty())
        .map(|row| {
            row.input_text
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let with_prompt = events
        .iter()
        .filter(|row| !row.input_text.trim().is_empty())
        .count();
    assert!(
        distinct.len() < with_prompt,
        "the data holds repeated prompts"
    );

    let (status, created) = it
        .call(
            reqwest::Method::POST,
            "/api/v1/datasets?order=oldest_first",
            Some(&it.investigator),
            Some(json!({"name": "all prompts"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["item_count"], distinct.len());
    assert_eq!(created["source_event_count"], with_prompt);
    assert_eq!(created["search"], "order=oldest_first");
    let id = created["id"].as_i64().unwrap();

    let (status, content_type, body) = it
        .get_text(&format!("/api/v1/datasets/{id}/items"), &it.investigator)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(content_type, "application/x-ndjson");
    let items: Vec<Value> = body
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(items.len(), distinct.len());
    let first = &items[0];
    assert_eq!(
        first.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["labels", "prompt", "response", "source_event_ids"]
    );
    assert_eq!(first["prompt"], "Summarise the incident report");
    assert_eq!(
        first["source_event_ids"],
        json!(planted
            .iter()
            .map(|row| row.id.to_string())
            .collect::<Vec<_>>())
    );
    assert_eq!(first["response"], planted[0].output_text.as_str());
    let sources: BTreeSet<String> = items
        .iter()
        .flat_map(|item| item["source_event_ids"].as_array().unwrap().clone())
        .map(|id| id.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(sources.len(), with_prompt, "every source event, once");

    // Only prompts with violations of one policy: exactly the events SQL finds.
    let standing: Vec<(uuid::Uuid, String)> = violation::Entity::find()
        .select_only()
        .columns([violation::Column::EventId, violation::Column::Policy])
        .filter(violation::Column::SupersededAt.is_null())
        .into_tuple()
        .all(db)
        .await
        .unwrap();
    let mut per_policy: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (event_id, policy) in standing {
        per_policy
            .entry(policy)
            .or_default()
            .insert(event_id.to_string());
    }
    let (policy, expected) = per_policy
        .into_iter()
        .max_by_key(|(_, ids)| ids.len())
        .expect("the fake's data has violations");
    let (status, limited) = it
        .call(
            reqwest::Method::POST,
            "/api/v1/datasets",
            Some(&it.investigator),
            Some(json!({"name": "violations", "policies": [policy]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{limited}");
    let limited_id = limited["id"].as_i64().unwrap();
    let (_, _, body) = it
        .get_text(
            &format!("/api/v1/datasets/{limited_id}/items"),
            &it.investigator,
        )
        .await;
    let mut found = BTreeSet::new();
    for line in body.lines() {
        let item: Value = serde_json::from_str(line).unwrap();
        assert!(
            item["labels"].as_array().unwrap().contains(&json!(policy)),
            "{item}"
        );
        for id in item["source_event_ids"].as_array().unwrap() {
            found.insert(id.as_str().unwrap().to_owned());
        }
    }
    let expected_with_prompt: BTreeSet<String> = events
        .iter()
        .filter(|row| expected.contains(&row.id.to_string()) && !row.input_text.trim().is_empty())
        .map(|row| row.id.to_string())
        .collect();
    assert_eq!(found, expected_with_prompt);

    // List, get, delete; both mutations are audited.
    let (_, list) = it.get("/api/v1/datasets?limit=1", &it.investigator).await;
    assert_eq!(list["items"][0]["id"], limited_id, "newest first");
    let cursor = list["next_cursor"].as_str().unwrap().to_owned();
    let (_, rest) = it
        .get(
            &format!("/api/v1/datasets?limit=1&cursor={cursor}"),
            &it.investigator,
        )
        .await;
    assert_eq!(rest["items"][0]["id"], id);
    let (status, shown) = it
        .get(&format!("/api/v1/datasets/{id}"), &it.investigator)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown, created);
    let (status, _) = it
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/datasets/{id}"),
            Some(&it.investigator),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = it
        .get(&format!("/api/v1/datasets/{id}"), &it.investigator)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = it
        .get_text(&format!("/api/v1/datasets/{id}/items"), &it.investigator)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let audit: Vec<(String, String)> = audit_entry::Entity::find()
        .select_only()
        .columns([audit_entry::Column::Action, audit_entry::Column::Target])
        .order_by_asc(audit_entry::Column::Id)
        .into_tuple()
        .all(db)
        .await
        .unwrap();
    assert_eq!(
        audit,
        [
            ("POST /api/v1/datasets".to_owned(), format!("dataset {id}")),
            (
                "POST /api/v1/datasets".to_owned(),
                format!("dataset {limited_id}")
            ),
            (
                "DELETE /api/v1/datasets/{id}".to_owned(),
                format!("dataset {id}")
            ),
        ]
    );
}

#[tokio::test]
async fn datasets_deduplicate_prompts_and_keep_every_source_event_on_postgres() {
    datasets_deduplicate_prompts(TestDb::postgres().await).await;
}

#[tokio::test]
async fn datasets_deduplicate_prompts_and_keep_every_source_event_on_sqlite() {
    datasets_deduplicate_prompts(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn a_project_scoped_token_never_sees_another_projects_exports_datasets_or_reports() {
    let it = Investigation::on(TestDb::postgres().await).await;
    let scoped = it.other_project_token().await;
    let own = it.token(Role::Investigator, &["security"]).await;

    // Exports: the other project's events are not in them, even when asked for by id.
    let (status, _, body) = it
        .get_text(
            &format!(
                "/api/v1/exports/events?format=ndjson&integration_id={}",
                it.pipeline.integration_id
            ),
            &scoped,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "");
    let (_, _, csv) = it
        .get_text("/api/v1/exports/events?format=csv", &scoped)
        .await;
    assert_eq!(csv.lines().count(), 1, "the header only: {csv}");
    let (_, _, mine) = it
        .get_text("/api/v1/exports/events?format=ndjson", &own)
        .await;
    assert_eq!(
        mine.lines().count() as i64,
        it.pipeline.count("events").await
    );
    let (status, _, body) = it
        .get_text(
            &format!(
                "/api/v1/exports/access-events?format=ndjson&integration_id={}",
                it.pipeline.integration_id
            ),
            &scoped,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "", "no access event of another project");
    let (_, _, mine) = it
        .get_text("/api/v1/exports/access-events?format=ndjson", &own)
        .await;
    assert_eq!(
        mine.lines().count() as i64,
        it.pipeline.count("access_events").await
    );

    // Datasets: one made by an unscoped investigator over the first project's events.
    let (status, dataset) = it
        .call(
            reqwest::Method::POST,
            "/api/v1/datasets",
            Some(&it.investigator),
            Some(json!({"name": "security prompts"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{dataset}");
    let id = dataset["id"].as_i64().unwrap();
    assert!(dataset["item_count"].as_i64().unwrap() > 0);
    let (_, list) = it.get("/api/v1/datasets", &scoped).await;
    assert_eq!(list["items"], json!([]));
    let (status, hidden) = it.get(&format!("/api/v1/datasets/{id}"), &scoped).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, absent) = it.get("/api/v1/datasets/987654", &scoped).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        hidden["error"]["message"]
            .as_str()
            .unwrap()
            .replace(&id.to_string(), "ID"),
        absent["error"]["message"]
            .as_str()
            .unwrap()
            .replace("987654", "ID"),
        "outside the scope reads exactly like absent"
    );
    let (status, _, _) = it
        .get_text(&format!("/api/v1/datasets/{id}/items"), &scoped)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = it
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/datasets/{id}"),
            Some(&scoped),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = it.get(&format!("/api/v1/datasets/{id}"), &own).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "still there, and visible to its project"
    );

    // A dataset the scoped token makes holds nothing of the first project.
    let (status, theirs) = it
        .call(
            reqwest::Method::POST,
            &format!(
                "/api/v1/datasets?integration_id={}",
                it.pipeline.integration_id
            ),
            Some(&scoped),
            Some(json!({"name": "guess"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{theirs}");
    assert_eq!(theirs["item_count"], 0);
    let (_, list) = it.get("/api/v1/datasets", &scoped).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let (_, list) = it.get("/api/v1/datasets", &own).await;
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        1,
        "the other project's dataset is not listed for this one"
    );

    // Reports: the other project's integration and project read as absent.
    let period = format!(
        "from={}&to={}",
        encoded(&it.start.to_rfc3339()),
        encoded(&(it.start + TimeDelta::hours(1)).to_rfc3339())
    );
    let project = it.project_id().await;
    for path in [
        format!(
            "/api/v1/reports?integration_id={}&{period}",
            it.pipeline.integration_id
        ),
        format!("/api/v1/reports?project_id={project}&{period}"),
    ] {
        let (status, body) = it.get(&path, &scoped).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        let (status, body) = it.get(&path, &own).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
}

async fn a_report_counts_what_sql_counts(test: TestDb) {
    let it = Investigation::on(test).await;
    it.ingest_until(it.start + TimeDelta::hours(4)).await;
    let db = &it.pipeline.test.db;
    let (from, to) = (it.start - TimeDelta::days(1), it.start + TimeDelta::days(1));
    let events = event::Entity::find()
        .filter(event::Column::EventTime.gte(from))
        .filter(event::Column::EventTime.lt(to))
        .all(db)
        .await
        .unwrap();
    assert!(!events.is_empty());
    let users: BTreeSet<&str> = events.iter().map(|row| row.user_id.as_str()).collect();
    let mut per_policy: BTreeMap<String, u64> = BTreeMap::new();
    for row in violation::Entity::find()
        .filter(violation::Column::SupersededAt.is_null())
        .filter(violation::Column::EventTime.gte(from))
        .filter(violation::Column::EventTime.lt(to))
        .all(db)
        .await
        .unwrap()
    {
        *per_policy.entry(row.policy).or_default() += 1;
    }
    assert!(!per_policy.is_empty(), "the fake's data has violations");
    let period = format!(
        "from={}&to={}",
        encoded(&from.to_rfc3339()),
        encoded(&to.to_rfc3339())
    );
    let project = it.project_id().await;
    for subject in [
        format!("integration_id={}", it.pipeline.integration_id),
        format!("project_id={project}"),
    ] {
        let (status, report) = it
            .get(
                &format!("/api/v1/reports?{subject}&{period}"),
                &it.investigator,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{report}");
        assert_eq!(report["totals"]["events"], events.len());
        assert_eq!(report["totals"]["users"], users.len());
        let days = report["days"].as_array().unwrap();
        assert_eq!(days.len(), 3, "the period touches three UTC days");
        let mut reported: BTreeMap<String, u64> = BTreeMap::new();
        let mut day_events = 0;
        for day in days {
            day_events += day["events"].as_u64().unwrap();
            for (policy, n) in day["violations"].as_object().unwrap() {
                *reported.entry(policy.clone()).or_default() += n.as_u64().unwrap();
            }
        }
        assert_eq!(day_events, events.len() as u64);
        assert_eq!(reported, per_policy);
        let top = report["top_users"].as_array().unwrap();
        assert!(!top.is_empty());
        assert!(top
            .windows(2)
            .all(|pair| pair[0]["violations"].as_u64() >= pair[1]["violations"].as_u64()));
        assert!(top[0]["user_email"].as_str().unwrap().contains('@'));
        assert_eq!(report["sync"][0]["name"], "acme");

        let (status, content_type, csv) = it
            .get_text(
                &format!("/api/v1/reports?{subject}&{period}&format=csv"),
                &it.investigator,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(content_type, "text/csv");
        assert!(
            csv.starts_with("section,day,subject,metric,value\n"),
            "{csv}"
        );
        assert!(
            csv.contains(&format!("total,,acme,events,{}\n", events.len()))
                || csv.contains(&format!("total,,security,events,{}\n", events.len())),
            "{csv}"
        );

        let (status, content_type, html) = it
            .get_text(
                &format!("/api/v1/reports?{subject}&{period}&format=html"),
                &it.investigator,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert!(content_type.starts_with("text/html"), "{content_type}");
        assert_eq!(html.matches("<svg").count(), 3, "three charts");
        assert!(!html.contains("<script"), "no script");
        assert!(
            !html.contains("src=") && !html.contains("href="),
            "nothing loaded from elsewhere"
        );
        for policy in per_policy.keys() {
            assert!(html.contains(policy.as_str()), "{policy} in the legend");
        }
    }
}

#[tokio::test]
async fn a_report_counts_events_users_and_violations_as_sql_does_on_postgres() {
    a_report_counts_what_sql_counts(TestDb::postgres().await).await;
}

#[tokio::test]
async fn a_report_counts_events_users_and_violations_as_sql_does_on_sqlite() {
    a_report_counts_what_sql_counts(TestDb::sqlite().await).await;
}
