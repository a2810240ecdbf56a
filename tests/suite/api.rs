//! The operator HTTP API over real HTTP: the server on a random port, on a PostgreSQL schema
//! of its own (SQLite for `run`), with the fake Compliance API on another random port. Every
//! route, every role, every project-scope boundary, the error shape, the audit log, the
//! metrics and the OpenAPI document.

use std::collections::BTreeSet;

use chrono::{DateTime, TimeDelta, Utc};
use logwarden::service::tokens::Role;
use logwarden_fake_api::FakeConfig;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{
    count_rows, day, parse_prometheus, seed_integration, seed_job, test_settings, Pipeline, Served,
    TestDb,
};
use logwarden_jobs::kind::{JobKind, JobStatus};

/// A server on a test database, with its fake Compliance API and a token per role.
struct Api {
    served: Served,
    fake: logwarden_fake_api::FakeServer,
    admin: String,
    operator: String,
    investigator: String,
    test: TestDb,
}

impl std::ops::Deref for Api {
    type Target = Served;

    fn deref(&self) -> &Served {
        &self.served
    }
}

impl Api {
    async fn start() -> Self {
        Self::on(TestDb::postgres().await).await
    }

    async fn on(test: TestDb) -> Self {
        let fake = logwarden_fake_api::spawn(FakeConfig {
            rate_limit: None,
            ..FakeConfig::default()
        })
        .await
        .expect("fake API");
        let settings = test_settings(|args| {
            args.allow_loopback_http = Some("true".into());
        });
        let served = Served::start(test.db.clone(), &settings).await;
        Self {
            admin: served.token(Role::Admin, &[]).await,
            operator: served.token(Role::Operator, &[]).await,
            investigator: served.token(Role::Investigator, &[]).await,
            served,
            fake,
            test,
        }
    }

    /// Adds an integration through the API against the fake, in `project`.
    async fn add_integration(&self, token: &str, name: &str, project: &str) -> Value {
        let (status, body) = self
            .post(
                "/api/v1/integrations",
                token,
                json!({
                    "name": name,
                    "project": project,
                    "api_key": logwarden_fake_api::DEFAULT_TEST_KEY,
                    "base_url": self.fake.base_url(),
                    "sync_from": "2026-04-08T00:00:00Z",
                }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    async fn count(&self, table: &str) -> i64 {
        count_rows(&self.test.db, table).await
    }
}

/// Asserts `body` is the error shape with `code` (and `field`, when given).
fn assert_error(status: StatusCode, body: &Value, expected: StatusCode, code: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

/// Every operator route with a sample path (ids that need not exist: a role check comes
/// first) and a sample body.
fn operator_routes() -> Vec<(Method, &'static str, Option<Value>)> {
    let empty = Some(json!({}));
    vec![
        (Method::GET, "/api/v1/integrations", None),
        (Method::POST, "/api/v1/integrations", empty.clone()),
        (Method::GET, "/api/v1/integrations/1", None),
        (Method::PATCH, "/api/v1/integrations/1", empty.clone()),
        (Method::DELETE, "/api/v1/integrations/1", None),
        (Method::PUT, "/api/v1/integrations/1/key", empty.clone()),
        (Method::POST, "/api/v1/integrations/1/pause", None),
        (Method::POST, "/api/v1/integrations/1/resume", None),
        (Method::GET, "/api/v1/backfills", None),
        (Method::POST, "/api/v1/backfills", empty.clone()),
        (Method::GET, "/api/v1/backfills/1", None),
        (Method::POST, "/api/v1/backfills/1/cancel", None),
        (Method::POST, "/api/v1/backfills/1/pause", None),
        (Method::POST, "/api/v1/backfills/1/resume", None),
        (Method::POST, "/api/v1/backfills/1/retry-failed", None),
        (Method::GET, "/api/v1/jobs", None),
        (Method::GET, "/api/v1/jobs/counts", None),
        (Method::POST, "/api/v1/jobs/retry", None),
        (Method::POST, "/api/v1/jobs/cancel", None),
        (Method::GET, "/api/v1/jobs/1", None),
        (Method::POST, "/api/v1/jobs/1/retry", None),
        (Method::POST, "/api/v1/jobs/1/cancel", None),
        (Method::GET, "/api/v1/policy-templates", None),
        (Method::GET, "/api/v1/integrations/1/policies", None),
        (Method::GET, "/api/v1/integrations/1/policy-set", None),
        (
            Method::GET,
            "/api/v1/integrations/1/policy-set/changes",
            None,
        ),
        (
            Method::PUT,
            "/api/v1/integrations/1/policy-set/draft",
            empty.clone(),
        ),
        (
            Method::POST,
            "/api/v1/integrations/1/policy-set/draft/template",
            empty,
        ),
        (
            Method::POST,
            "/api/v1/integrations/1/policy-set/install",
            None,
        ),
        (
            Method::POST,
            "/api/v1/integrations/1/policy-set/reset",
            None,
        ),
    ]
}

#[tokio::test]
async fn a_missing_malformed_unknown_or_revoked_token_is_a_401_on_every_api_route() {
    let api = Api::start().await;
    let revoked = api.token(Role::Admin, &[]).await;
    let revoked_id = api
        .app
        .services
        .list_tokens()
        .await
        .unwrap()
        .last()
        .unwrap()
        .id;
    api.app.services.revoke_token(revoked_id).await.unwrap();
    let unknown = format!("lw_{}", "A".repeat(43));
    let mut routes = operator_routes();
    routes.push((Method::GET, "/api/v1/audit", None));
    for (method, path, body) in routes {
        for token in [
            None,
            Some("not-a-token"),
            Some(unknown.as_str()),
            Some(revoked.as_str()),
        ] {
            let (status, response) = api.call(method.clone(), path, token, body.clone()).await;
            assert_error(status, &response, StatusCode::UNAUTHORIZED, "unauthorized");
        }
    }
}

#[tokio::test]
async fn an_investigator_is_refused_every_operator_route_and_only_admins_read_the_audit_log() {
    let api = Api::start().await;
    for (method, path, body) in operator_routes() {
        let (status, response) = api
            .call(method.clone(), path, Some(&api.investigator), body)
            .await;
        assert_error(status, &response, StatusCode::FORBIDDEN, "forbidden");
        assert!(
            response["error"]["message"]
                .as_str()
                .unwrap()
                .contains("operator"),
            "{method} {path}: {response}"
        );
    }
    for token in [&api.operator, &api.investigator] {
        let (status, response) = api.get("/api/v1/audit", token).await;
        assert_error(status, &response, StatusCode::FORBIDDEN, "forbidden");
    }
    let (status, _) = api.get("/api/v1/audit", &api.admin).await;
    assert_eq!(status, StatusCode::OK);
    // Nothing was changed by any refused call.
    assert_eq!(api.count("integrations").await, 0);
    assert_eq!(api.count("backfills").await, 0);
}

#[tokio::test]
async fn an_operator_adds_an_integration_whose_key_is_write_only_and_reads_it_back() {
    let api = Api::start().await;
    let created = api.add_integration(&api.operator, "acme", "security").await;
    let key = logwarden_fake_api::DEFAULT_TEST_KEY;
    assert_eq!(created["api_key_last4"], key[key.len() - 4..]);
    let id = created["id"].as_i64().unwrap();

    let (status, list) = api.get("/api/v1/integrations", &api.operator).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["next_cursor"], Value::Null);
    let (status, detail) = api
        .get(&format!("/api/v1/integrations/{id}"), &api.operator)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(detail["name"], "acme");
    assert_eq!(detail["resources"]["events"], 0);
    for body in [&created, &list, &detail] {
        assert!(!body.to_string().contains(key), "the key leaked: {body}");
    }

    let (status, paused) = api
        .post(
            &format!("/api/v1/integrations/{id}/pause"),
            &api.operator,
            json!({}),
        )
        .await;
    assert_eq!(
        (status, paused["status"].as_str()),
        (StatusCode::OK, Some("paused"))
    );
    let (status, again) = api
        .post(
            &format!("/api/v1/integrations/{id}/pause"),
            &api.operator,
            json!({}),
        )
        .await;
    assert_error(status, &again, StatusCode::CONFLICT, "conflict");
    let (status, resumed) = api
        .post(
            &format!("/api/v1/integrations/{id}/resume"),
            &api.operator,
            json!({}),
        )
        .await;
    assert_eq!(
        (status, resumed["status"].as_str()),
        (StatusCode::OK, Some("active"))
    );
    let (status, renamed) = api
        .call(
            Method::PATCH,
            &format!("/api/v1/integrations/{id}"),
            Some(&api.operator),
            Some(json!({"name": "acme-prod", "data_plane": "eu"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(
        (renamed["name"].as_str(), renamed["data_plane"].as_str()),
        (Some("acme-prod"), Some("eu"))
    );
    let (status, deleted) = api
        .call(
            Method::DELETE,
            &format!("/api/v1/integrations/{id}"),
            Some(&api.operator),
            None,
        )
        .await;
    assert_eq!(
        (status, deleted["status"].as_str()),
        (StatusCode::OK, Some("deleted"))
    );
}

#[tokio::test]
async fn a_bad_key_or_a_plain_http_or_private_base_url_is_a_400_and_saves_nothing() {
    let api = Api::start().await;
    let base = json!({
        "name": "acme",
        "project": "security",
        "api_key": "sk-ant-api01-wrong",
        "base_url": api.fake.base_url(),
    });
    let (status, body) = api
        .post("/api/v1/integrations", &api.operator, base.clone())
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid");
    assert_eq!(body["error"]["field"], "api_key");
    assert!(!body.to_string().contains("sk-ant-api01-wrong"), "{body}");
    let mut unsendable = base.clone();
    unsendable["api_key"] = json!("clé\n");
    let (status, body) = api
        .post("/api/v1/integrations", &api.operator, unsendable)
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid");
    assert_eq!(body["error"]["field"], "api_key", "{body}");
    for (url, why) in [
        ("http://93.184.216.34", "https"),
        ("https://10.1.2.3", "allow_private_networks"),
        ("https://169.254.169.254", "allow_private_networks"),
    ] {
        let mut request = base.clone();
        request["base_url"] = json!(url);
        let (status, body) = api
            .post("/api/v1/integrations", &api.operator, request)
            .await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid");
        assert_eq!(body["error"]["field"], "base_url", "{body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(why),
            "{body}"
        );
    }
    assert_eq!(api.count("integrations").await, 0);
    assert_eq!(api.count("projects").await, 0);
}

#[tokio::test]
async fn bad_input_is_a_400_naming_the_field_and_the_valid_values_and_changes_nothing() {
    let api = Api::start().await;
    let id = api.add_integration(&api.operator, "acme", "security").await["id"]
        .as_i64()
        .unwrap();
    let cases: Vec<(&str, &str, &str)> =
        vec![
        ("/api/v1/jobs?limit=0", "limit", "from 1 to 1000"),
        ("/api/v1/jobs?limit=1001", "limit", "from 1 to 1000"),
        ("/api/v1/jobs?limit=many", "limit", "invalid"),
        ("/api/v1/jobs?status=done", "status", "succeeded"),
        ("/api/v1/jobs?kind=nightly", "kind", "backfill_batch"),
        ("/api/v1/jobs?colour=red", "colour", "integration_id"),
        ("/api/v1/jobs?started_after=yesterday", "started_after", "invalid"),
        (
            "/api/v1/jobs?started_after=2026-04-09T00:00:00Z&started_before=2026-04-08T00:00:00Z",
            "started_before",
            "later than",
        ),
        ("/api/v1/jobs?cursor=nonsense", "cursor", "next_cursor"),
        ("/api/v1/integrations?status=gone", "status", "paused"),
        ("/api/v1/backfills?integration_id=x", "integration_id", "invalid"),
        ("/api/v1/audit?limit=0", "limit", "from 1 to 1000"),
        ("/api/v1/jobs/abc", "id", "integer"),
    ];
    for (path, field, says) in cases {
        let (status, body) = api.get(path, &api.admin).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid");
        assert_eq!(body["error"]["field"], field, "{path}: {body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(says),
            "{path}: {body}"
        );
    }
    let bodies = vec![
        (
            json!({"integration_id": id, "start": "2026-04-08T00:00:00Z", "end": "2026-04-07T00:00:00Z"}),
            "range",
        ),
        (
            json!({"integration_id": id, "start": "April", "end": "2026-04-09T00:00:00Z"}),
            "start",
        ),
        (
            json!({"integration_id": "one", "start": "2026-04-08T00:00:00Z", "end": "2026-04-09T00:00:00Z"}),
            "integration_id",
        ),
        (
            json!({"integration_id": id, "start": "2026-04-08T00:00:00Z", "end": "2026-04-09T00:00:00Z", "colour": "red"}),
            "colour",
        ),
        (
            json!({"integration_id": id, "start": "2026-04-08T00:00:00Z", "end": "2026-04-09T00:00:00Z", "batch_width": "10s"}),
            "batch_width",
        ),
        (
            json!({"integration_id": id, "end": "2026-04-09T00:00:00Z"}),
            "start",
        ),
    ];
    for (body, field) in bodies {
        let (status, response) = api
            .post("/api/v1/backfills", &api.operator, body.clone())
            .await;
        assert_error(status, &response, StatusCode::BAD_REQUEST, "invalid");
        assert_eq!(response["error"]["field"], field, "{body}: {response}");
    }
    let response = api
        .http
        .post(format!("{}/api/v1/backfills", api.base))
        .bearer_auth(&api.operator)
        .header("content-type", "application/json")
        .body(format!("{{\"pad\": \"{}\"}}", "x".repeat(1024 * 1024 + 1)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "payload_too_large");
    let response = api
        .http
        .post(format!("{}/api/v1/backfills", api.base))
        .bearer_auth(&api.operator)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let (status, body) = api.get("/api/v1/nothing-here", &api.operator).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = api
        .call(Method::DELETE, "/api/v1/jobs", Some(&api.operator), None)
        .await;
    assert_error(
        status,
        &body,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
    assert_eq!(api.count("backfills").await, 0);
    assert_eq!(api.count("jobs").await, 0);
}

#[tokio::test]
async fn a_project_scoped_token_sees_nothing_of_other_projects_by_list_count_id_or_message() {
    let api = Api::start().await;
    let mine = api.add_integration(&api.operator, "mine", "red").await["id"]
        .as_i64()
        .unwrap();
    let theirs = api.add_integration(&api.operator, "theirs", "blue").await["id"]
        .as_i64()
        .unwrap();
    let now = Utc::now();
    let my_job = seed_job(
        &api.test.db,
        mine,
        JobKind::Sync,
        day(),
        JobStatus::Failed,
        now,
    )
    .await;
    let their_job = seed_job(
        &api.test.db,
        theirs,
        JobKind::Sync,
        day(),
        JobStatus::Failed,
        now,
    )
    .await;
    let (_, their_backfill) = api
        .post(
            "/api/v1/backfills",
            &api.operator,
            json!({"integration_id": theirs, "start": "2026-04-08T00:00:00Z", "end": "2026-04-08T02:00:00Z"}),
        )
        .await;
    let their_backfill = their_backfill["id"].as_i64().unwrap();
    let scoped = api.token(Role::Operator, &["red"]).await;
    let scoped_admin = api.token(Role::Admin, &["red"]).await;

    let (_, list) = api.get("/api/v1/integrations", &scoped).await;
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["mine"]);
    let (_, jobs) = api.get("/api/v1/jobs", &scoped).await;
    let job_ids: Vec<i64> = jobs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_i64().unwrap())
        .collect();
    assert!(
        job_ids.contains(&my_job.id) && !job_ids.contains(&their_job.id),
        "{jobs}"
    );
    let (_, backfills) = api.get("/api/v1/backfills", &scoped).await;
    assert_eq!(backfills["items"], json!([]));
    let (_, counts) = api.get("/api/v1/jobs/counts", &scoped).await;
    assert_eq!(counts.as_array().unwrap().len(), 1, "{counts}");
    assert_eq!(counts[0]["integration_id"], mine);

    // Another project's objects answer exactly like objects that do not exist.
    for (path, missing) in [
        (
            format!("/api/v1/integrations/{theirs}"),
            "/api/v1/integrations/999999".to_owned(),
        ),
        (
            format!("/api/v1/jobs/{}", their_job.id),
            "/api/v1/jobs/999999".to_owned(),
        ),
        (
            format!("/api/v1/backfills/{their_backfill}"),
            "/api/v1/backfills/999999".to_owned(),
        ),
        (
            format!("/api/v1/integrations/{theirs}/policies"),
            "/api/v1/integrations/999999/policies".to_owned(),
        ),
    ] {
        let (status, body) = api.get(&path, &scoped).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
        let (_, nothing) = api.get(&missing, &scoped).await;
        let id = path
            .split('/')
            .find(|s| s.parse::<i64>().is_ok())
            .unwrap_or_default();
        let redacted = body.to_string().replace(id, "N");
        let redacted_missing = nothing.to_string().replace("999999", "N");
        assert_eq!(redacted, redacted_missing, "{path}");
        assert!(!body.to_string().contains("theirs") && !body.to_string().contains("blue"));
    }
    for (path, body) in [
        (format!("/api/v1/jobs/{}/retry", their_job.id), json!({})),
        (format!("/api/v1/integrations/{theirs}/pause"), json!({})),
        (
            format!("/api/v1/backfills/{their_backfill}/cancel"),
            json!({}),
        ),
    ] {
        let (status, response) = api.post(&path, &scoped, body).await;
        assert_error(status, &response, StatusCode::NOT_FOUND, "not_found");
    }
    // Bulk actions reach only the scope.
    let (status, retried) = api
        .post("/api/v1/jobs/retry?status=failed", &scoped, json!({}))
        .await;
    assert_eq!(
        (status, retried["count"].as_u64()),
        (StatusCode::OK, Some(1))
    );
    let their_status = api.app.services.job(their_job.id).await.unwrap().status;
    assert_eq!(their_status, JobStatus::Failed);
    // Creating in another project is refused, and so is the audit log to a scoped admin.
    let (status, body) = api
        .post(
            "/api/v1/integrations",
            &scoped,
            json!({"name": "sneaky", "project": "blue", "api_key": "k", "base_url": api.fake.base_url()}),
        )
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, body) = api.get("/api/v1/audit", &scoped_admin).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let created = api.add_integration(&scoped, "mine-too", "red").await;
    assert_eq!(created["project"], "red");
}

#[tokio::test]
async fn jobs_are_listed_with_filters_and_pages_retried_and_canceled_one_by_one_or_in_bulk() {
    let api = Api::start().await;
    let id = seed_integration(&api.test.db, "acme", "security", "default").await;
    let now = Utc::now();
    let mut failed = Vec::new();
    for hour in 0..5 {
        let start = day() + TimeDelta::hours(hour);
        failed.push(
            seed_job(
                &api.test.db,
                id,
                JobKind::BackfillBatch,
                start,
                JobStatus::Failed,
                now,
            )
            .await
            .id,
        );
    }
    let pending = seed_job(
        &api.test.db,
        id,
        JobKind::Sync,
        day(),
        JobStatus::Pending,
        now,
    )
    .await
    .id;

    let (_, first) = api
        .get("/api/v1/jobs?status=failed&limit=2", &api.operator)
        .await;
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let (_, second) = api
        .get(
            &format!("/api/v1/jobs?status=failed&limit=2&cursor={cursor}"),
            &api.operator,
        )
        .await;
    let (_, third) = api
        .get(
            &format!(
                "/api/v1/jobs?status=failed&limit=2&cursor={}",
                second["next_cursor"].as_str().unwrap()
            ),
            &api.operator,
        )
        .await;
    assert_eq!(third["next_cursor"], Value::Null);
    let walked: Vec<i64> = [&first, &second, &third]
        .iter()
        .flat_map(|page| {
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|j| j["id"].as_i64().unwrap())
        })
        .collect();
    let mut newest_first = failed.clone();
    newest_first.reverse();
    assert_eq!(walked, newest_first);

    let (status, detail) = api
        .get(&format!("/api/v1/jobs/{}", failed[0]), &api.operator)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(detail["attempts"], json!([]));
    let (status, retried) = api
        .post(
            &format!("/api/v1/jobs/{}/retry", failed[0]),
            &api.operator,
            json!({}),
        )
        .await;
    assert_eq!(
        (status, retried["status"].as_str()),
        (StatusCode::OK, Some("pending"))
    );
    let (status, again) = api
        .post(
            &format!("/api/v1/jobs/{}/retry", failed[0]),
            &api.operator,
            json!({}),
        )
        .await;
    assert_error(status, &again, StatusCode::CONFLICT, "conflict");
    let (_, bulk) = api
        .post(
            &format!("/api/v1/jobs/retry?integration_id={id}&kind=backfill_batch"),
            &api.operator,
            json!({}),
        )
        .await;
    assert_eq!(bulk["count"], 4);
    let (_, counts) = api.get("/api/v1/jobs/counts", &api.operator).await;
    assert_eq!(
        counts,
        json!([{"integration_id": id, "pending": 6, "enqueued": 0, "processing": 0, "succeeded": 0, "failed": 0, "canceled": 0}])
    );
    let (status, canceled) = api
        .post(
            &format!("/api/v1/jobs/{pending}/cancel"),
            &api.operator,
            json!({}),
        )
        .await;
    assert_eq!(
        (status, canceled["status"].as_str()),
        (StatusCode::OK, Some("canceled"))
    );
    let (_, bulk) = api
        .post(
            "/api/v1/jobs/cancel?status=pending",
            &api.operator,
            json!({}),
        )
        .await;
    assert_eq!(bulk["count"], 5);
    assert_eq!(
        api.app
            .services
            .count_jobs(Default::default())
            .await
            .unwrap(),
        6
    );
}

#[tokio::test]
async fn a_one_year_backfill_is_recorded_with_its_first_page_of_batches_and_can_be_paused_resumed_and_canceled(
) {
    let api = Api::start().await;
    let id = api.add_integration(&api.operator, "acme", "security").await["id"]
        .as_i64()
        .unwrap();
    let end: DateTime<Utc> = "2026-11-01T00:00:00Z".parse().unwrap();
    let (status, created) = api
        .post(
            "/api/v1/backfills",
            &api.operator,
            json!({"integration_id": id, "start": (end - TimeDelta::days(365)).to_rfc3339(), "end": end.to_rfc3339()}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["batches_total"], 365 * 24);
    assert_eq!(created["percent"], 0.0);
    // Every batch counts as pending, but only the first page has its row: the pump writes
    // the rest, so creating a long backfill costs one page of inserts.
    assert_eq!(created["batches_pending"], 365 * 24);
    let backfill = created["id"].as_i64().unwrap();
    assert_eq!(
        api.count("jobs").await,
        logwarden::store::backfills::BATCH_PAGE as i64
    );
    let (_, paused) = api
        .post(
            &format!("/api/v1/backfills/{backfill}/pause"),
            &api.operator,
            json!({}),
        )
        .await;
    assert_eq!(paused["status"], "paused");
    let (_, resumed) = api
        .post(
            &format!("/api/v1/backfills/{backfill}/resume"),
            &api.operator,
            json!({}),
        )
        .await;
    // Back to what its batches say: none has started yet.
    assert_eq!(resumed["status"], "pending");
    let (status, body) = api
        .post(
            &format!("/api/v1/backfills/{backfill}/retry-failed"),
            &api.operator,
            json!({}),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "conflict");
    let (_, canceled) = api
        .post(
            &format!("/api/v1/backfills/{backfill}/cancel"),
            &api.operator,
            json!({}),
        )
        .await;
    assert_eq!(canceled["status"], "canceled");
    // The batches without rows are canceled with the others.
    assert_eq!(canceled["batches_canceled"], 365 * 24);
    let (_, list) = api
        .get(
            &format!("/api/v1/backfills?integration_id={id}&status=canceled"),
            &api.operator,
        )
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_backfill_created_through_the_api_completes_with_the_events_of_the_manifest() {
    let live_from = day() + TimeDelta::hours(6);
    let pipeline = Pipeline::start(
        FakeConfig {
            rate_limit: None,
            ..FakeConfig::default()
        },
        live_from,
    )
    .await;
    let served = Served::start(pipeline.test.db.clone(), &test_settings(|_| {})).await;
    let operator = served.token(Role::Operator, &[]).await;

    let (status, created) = served
        .post(
            "/api/v1/backfills",
            &operator,
            json!({"integration_id": pipeline.integration_id, "start": day().to_rfc3339(), "end": live_from.to_rfc3339()}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    pipeline.drain(live_from + TimeDelta::minutes(2)).await;

    let (_, done) = served
        .get(&format!("/api/v1/backfills/{}", created["id"]), &operator)
        .await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["batches_done"], 6);
    assert_eq!(done["percent"], 100.0);
    let manifest = pipeline.fake.manifest(day(), live_from);
    assert!(manifest.prompt_events > 0);
    assert_eq!(
        pipeline.count("events").await as u64,
        manifest.prompt_events
    );
    let (_, detail) = served
        .get(
            &format!("/api/v1/integrations/{}", pipeline.integration_id),
            &operator,
        )
        .await;
    assert_eq!(
        detail["resources"]["events"].as_u64(),
        Some(manifest.prompt_events)
    );
    assert!(detail["resources"]["users"].as_u64().unwrap() > 0);

    // Deleting with purge=true removes what it ingested; its jobs stay as history.
    let (status, _) = served
        .call(
            Method::DELETE,
            &format!(
                "/api/v1/integrations/{}?purge=true",
                pipeline.integration_id
            ),
            Some(&operator),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(pipeline.count("events").await, 0);
    assert_eq!(pipeline.count("sessions").await, 0);
    assert!(pipeline.count("jobs").await > 0);
}

#[tokio::test]
async fn policies_are_listed_drafted_from_a_template_diffed_installed_and_reset() {
    let api = Api::start().await;
    let id = api.add_integration(&api.operator, "acme", "security").await["id"]
        .as_i64()
        .unwrap();
    let (_, templates) = api.get("/api/v1/policy-templates", &api.operator).await;
    let ids: Vec<&str> = templates
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"default") && ids.contains(&"strict"),
        "{templates}"
    );
    let (_, rows) = api
        .get(
            &format!("/api/v1/integrations/{id}/policies"),
            &api.operator,
        )
        .await;
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .any(|r| r["status"] == "active"),
        "{rows}"
    );
    assert!(rows
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["pending_change"] == false));

    let (status, drafted) = api
        .post(
            &format!("/api/v1/integrations/{id}/policy-set/draft/template"),
            &api.operator,
            json!({"template": "strict"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{drafted}");
    let (_, changes) = api
        .get(
            &format!("/api/v1/integrations/{id}/policy-set/changes"),
            &api.operator,
        )
        .await;
    assert!(!changes.as_array().unwrap().is_empty());
    let (status, reset) = api
        .post(
            &format!("/api/v1/integrations/{id}/policy-set/reset"),
            &api.operator,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(reset["pending_changes"], json!([]));
    api.post(
        &format!("/api/v1/integrations/{id}/policy-set/draft/template"),
        &api.operator,
        json!({"template": "strict"}),
    )
    .await;
    let (status, installed) = api
        .post(
            &format!("/api/v1/integrations/{id}/policy-set/install"),
            &api.operator,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(installed["installed_version"], 2);
    assert!(installed["installed_at"].is_string());
    let (status, body) = api
        .post(
            &format!("/api/v1/integrations/{id}/policy-set/draft/template"),
            &api.operator,
            json!({"template": "nope"}),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("strict"));
    let (status, body) = api
        .call(
            Method::PUT,
            &format!("/api/v1/integrations/{id}/policy-set/draft"),
            Some(&api.operator),
            Some(json!({"policies": [{"id": "no_such_policy"}]})),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid");
    let (_, set) = api
        .get(
            &format!("/api/v1/integrations/{id}/policy-set"),
            &api.operator,
        )
        .await;
    assert_eq!(set["installed_version"], 2);
    assert_eq!(set["pending_changes"], json!([]));
}

#[tokio::test]
async fn every_mutating_call_writes_an_audit_row_with_its_token_route_status_and_request_id() {
    let api = Api::start().await;
    let id = api.add_integration(&api.operator, "acme", "security").await["id"]
        .as_i64()
        .unwrap();
    let response = api
        .http
        .post(format!("{}/api/v1/integrations/{id}/pause", api.base))
        .bearer_auth(&api.operator)
        .header("x-request-id", "req-pause-1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "req-pause-1");
    api.post(
        &format!("/api/v1/integrations/{id}/pause"),
        &api.operator,
        json!({}),
    )
    .await;
    api.get("/api/v1/integrations", &api.operator).await;

    let (status, audit) = api.get("/api/v1/audit", &api.admin).await;
    assert_eq!(status, StatusCode::OK);
    let rows = audit["items"].as_array().unwrap();
    let seen: Vec<(String, String, i64)> = rows
        .iter()
        .map(|row| {
            (
                row["action"].as_str().unwrap().to_owned(),
                row["target"].as_str().unwrap().to_owned(),
                row["status"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (
                "POST /api/v1/integrations/{id}/pause".to_owned(),
                format!("/api/v1/integrations/{id}/pause"),
                409
            ),
            (
                "POST /api/v1/integrations/{id}/pause".to_owned(),
                format!("/api/v1/integrations/{id}/pause"),
                200
            ),
            (
                "POST /api/v1/integrations".to_owned(),
                format!("integration {id}"),
                201
            ),
        ]
    );
    assert_eq!(rows[1]["request_id"], "req-pause-1");
    assert!(rows.iter().all(|row| row["token_name"] == "operator test"));
}

/// Redacts ids and times for snapshots.
fn redacted(mut value: Value) -> Value {
    fn walk(value: &mut Value) {
        match value {
            Value::Object(map) => {
                for (key, item) in map.iter_mut() {
                    if (key == "id" || key.ends_with("_id")) && item.is_number() {
                        *item = json!("[id]");
                    } else if (key.ends_with("_at")
                        || key.ends_with("_up_to")
                        || key == "sync_watermark"
                        || key == "eta")
                        && item.is_string()
                    {
                        *item = json!("[time]");
                    } else if key == "base_url" {
                        *item = json!("[base_url]");
                    } else {
                        walk(item);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut value);
    value
}

#[tokio::test]
async fn responses_keep_their_documented_shape() {
    let api = Api::start().await;
    let created = api.add_integration(&api.operator, "acme", "security").await;
    let id = created["id"].as_i64().unwrap();
    insta::assert_json_snapshot!("integration_created", redacted(created));
    let (_, backfill) = api
        .post("/api/v1/backfills", &api.operator, json!({"integration_id": id, "start": "2026-04-08T00:00:00Z", "end": "2026-04-08T03:00:00Z"}))
        .await;
    insta::assert_json_snapshot!("backfill_created", redacted(backfill));
    let (_, jobs) = api.get("/api/v1/jobs?limit=1", &api.operator).await;
    insta::assert_json_snapshot!("jobs_page", redacted(jobs));
    let (_, error) = api.get("/api/v1/jobs?limit=0", &api.operator).await;
    insta::assert_json_snapshot!("invalid_limit_error", error);
    let (_, error) = api.get("/api/v1/jobs", "lw_nope").await;
    insta::assert_json_snapshot!("unauthorized_error", error);
}

#[tokio::test]
async fn healthz_and_readyz_answer_without_a_token_and_readyz_checks_the_database() {
    let api = Api::start().await;
    let (status, body) = api.call(Method::GET, "/healthz", None, None).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));
    let (status, body) = api.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"status": "ok", "database": "ok"}))
    );
}

#[tokio::test]
async fn readyz_checks_redis_when_it_is_configured() {
    let test = TestDb::postgres().await;
    let settings = test_settings(|args| {
        args.redis_url = Some(logwarden::infra::secret::Secret::new(
            crate::helpers::redis_url(),
        ));
    });
    let served = Served::start(test.db.clone(), &settings).await;
    let body: Value = reqwest::get(format!("{}/readyz", served.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        body,
        json!({"status": "ok", "database": "ok", "redis": "ok"})
    );
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text_and_their_job_counts_match_the_jobs_table() {
    let api = Api::start().await;
    let id = seed_integration(&api.test.db, "acme", "security", "eu").await;
    let now = Utc::now();
    for (hour, status) in [
        (0, JobStatus::Failed),
        (1, JobStatus::Failed),
        (2, JobStatus::Enqueued),
        (3, JobStatus::Succeeded),
    ] {
        seed_job(
            &api.test.db,
            id,
            JobKind::BackfillBatch,
            day() + TimeDelta::hours(hour),
            status,
            now,
        )
        .await;
    }
    seed_job(
        &api.test.db,
        id,
        JobKind::Sync,
        day(),
        JobStatus::Pending,
        now,
    )
    .await;
    api.get("/api/v1/jobs", &api.operator).await;

    let text = reqwest::get(format!("{}/metrics", api.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let samples = parse_prometheus(&text);
    let jobs: Vec<(String, String, f64)> = samples
        .iter()
        .filter(|(name, _, _)| name == "logwarden_jobs")
        .map(|(_, labels, value)| (labels[0].1.clone(), labels[1].1.clone(), *value))
        .collect();
    let mut expected = Vec::new();
    for (kind, status, count) in api.app.services.jobs_by_kind_and_status().await.unwrap() {
        expected.push((kind.to_string(), status.to_string(), count as f64));
    }
    let mut jobs_sorted = jobs.clone();
    jobs_sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    expected.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert_eq!(jobs_sorted, expected);
    assert_eq!(
        jobs.iter().map(|j| j.2).sum::<f64>() as i64,
        api.count("jobs").await
    );
    assert!(
        samples
            .iter()
            .any(|(name, labels, value)| name == "logwarden_queue_depth"
                && labels == &[("data_plane".to_owned(), "eu".to_owned())]
                && *value == 1.0),
        "{text}"
    );
    assert!(
        samples
            .iter()
            .any(|(name, labels, _)| name == "logwarden_http_requests_total"
                && labels
                    .iter()
                    .any(|(k, v)| k == "route" && v == "/api/v1/jobs")),
        "{text}"
    );
    assert!(samples
        .iter()
        .any(|(name, _, _)| name == "logwarden_policy_evaluation_seconds_count"));
    assert!(samples
        .iter()
        .any(|(name, _, _)| name == "logwarden_rate_limit_wait_seconds_count"));
    assert!(samples
        .iter()
        .any(|(name, _, _)| name == "logwarden_events_ingested_total"));
}

/// Every `.route("PATH", get(..).post(..))` of the HTTP modules, as `(METHOD, PATH)`.
fn routes_in_source() -> BTreeSet<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
    let path = regex::Regex::new(r#"^\s*"([^"]+)""#).unwrap();
    let method = regex::Regex::new(r"\b(get|post|put|patch|delete)\(").unwrap();
    let mut routes = BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for (at, _) in text.match_indices(".route(") {
            // The call's arguments, up to its closing parenthesis.
            let rest = &text[at + ".route(".len()..];
            let mut depth = 1;
            let end = rest
                .char_indices()
                .find(|(_, c)| {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map(|(i, _)| i)
                .unwrap();
            let arguments = &rest[..end];
            let Some(route) = path.captures(arguments) else {
                continue;
            };
            for m in method.captures_iter(arguments) {
                routes.insert((m[1].to_uppercase(), route[1].to_owned()));
            }
        }
    }
    routes
}

#[tokio::test]
async fn the_openapi_document_lists_every_route_with_its_security_and_errors() {
    let api = Api::start().await;
    let (status, doc) = api
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            documented.insert((method.to_uppercase(), path.clone()));
            if path.starts_with("/api/v1/") && path != "/api/v1/openapi.json" {
                assert!(
                    operation["security"].is_array(),
                    "{method} {path} has no security"
                );
                assert!(
                    operation["responses"]["401"].is_object(),
                    "{method} {path} documents no 401"
                );
            }
        }
    }
    let routed = routes_in_source();
    assert!(routed.len() > 30, "{routed:?}");
    assert_eq!(documented, routed);
    // And each documented route is served (not the unknown-route fallback).
    for (method, path) in &documented {
        let concrete = path.replace("{id}", "1");
        let (status, body) = api
            .call(
                Method::from_bytes(method.as_bytes()).unwrap(),
                &concrete,
                Some(&api.admin),
                None,
            )
            .await;
        assert!(
            !(status == StatusCode::NOT_FOUND && body["error"]["message"] == "no such route")
                && status != StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}: {status} {body}"
        );
    }
}

#[tokio::test]
async fn every_openapi_operation_id_is_unique_and_every_response_has_a_description() {
    let api = Api::start().await;
    let (status, doc) = api
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            operations += 1;
            let id = operation["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            assert!(
                seen.insert(id.to_owned()),
                "{method} {path}: operationId {id} is used twice"
            );
            let responses = operation["responses"].as_object().unwrap();
            assert!(!responses.is_empty(), "{method} {path} has no responses");
            for (code, response) in responses {
                let response = match response["$ref"].as_str() {
                    Some(reference) => {
                        let name = reference.rsplit('/').next().unwrap();
                        &doc["components"]["responses"][name]
                    }
                    None => response,
                };
                let description = response["description"].as_str().unwrap_or_default();
                assert!(
                    !description.trim().is_empty(),
                    "{method} {path} {code} has no description"
                );
            }
        }
    }
    assert_eq!(seen.len(), operations);
    assert!(operations > 30, "{operations}");
}

#[tokio::test]
async fn run_on_sqlite_prints_its_url_and_serves_a_token_made_with_token_create_on_its_file() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let dir = std::env::temp_dir().join(crate::helpers::unique_name("lwrun"));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("logwarden.db").display());
    let key = logwarden::infra::crypto::MasterKey::generate_base64();
    let bin = env!("CARGO_BIN_EXE_logwarden");
    let mut child = Command::new(bin)
        .args(["run", "--listen", "127.0.0.1:0"])
        .env("DATABASE_URL", &url)
        .env("LOGWARDEN_MASTER_KEY", key.expose())
        .env("LOGWARDEN_LOG_LEVEL", "warn")
        .env_remove("REDIS_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let base = loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "run exited before printing its URL"
        );
        if let Some(at) = line.find("http://") {
            let url: String = line[at..]
                .chars()
                .take_while(|c| !c.is_whitespace())
                .collect();
            break url.trim_end_matches("/api/v1").to_owned();
        }
    };
    let output = Command::new(bin)
        .args(["token", "create", "--role", "operator"])
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let secret = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert!(secret.starts_with("lw_"));
    let response = reqwest::Client::new()
        .get(format!("{base}/api/v1/integrations"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"items": [], "next_cursor": null}));
    let listed = Command::new(bin)
        .args(["token", "list"])
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    let listed = String::from_utf8(listed.stdout).unwrap();
    assert!(
        listed.contains("operator") && !listed.contains(&secret),
        "{listed}"
    );
}

/// The pinned schemathesis, which `.ci/run` installs.
const SCHEMATHESIS: &str = "4.32.5";

#[tokio::test(flavor = "multi_thread")]
async fn schemathesis_finds_no_5xx_and_no_response_that_contradicts_the_openapi_document() {
    let version = std::process::Command::new("schemathesis")
        .arg("--version")
        .output();
    let version = match version {
        Ok(output) if output.status.success() => String::from_utf8_lossy(&output.stdout).into_owned(),
        _ => panic!(
            "schemathesis is not installed: run `python3 -m pip install schemathesis=={SCHEMATHESIS}` (.ci/run does)"
        ),
    };
    assert!(
        version.contains(SCHEMATHESIS),
        "schemathesis {SCHEMATHESIS} is pinned, found {version}"
    );
    // Objects for the fuzzer's requests to find: an integration, a backfill, jobs.
    let api = Api::start().await;
    let id = api.add_integration(&api.operator, "acme", "security").await["id"]
        .as_i64()
        .unwrap();
    api.post(
        "/api/v1/backfills",
        &api.operator,
        json!({"integration_id": id, "start": "2026-04-08T00:00:00Z", "end": "2026-04-08T06:00:00Z"}),
    )
    .await;
    seed_job(
        &api.test.db,
        id,
        JobKind::Sync,
        day(),
        JobStatus::Failed,
        Utc::now(),
    )
    .await;

    let schema = format!("{}/api/v1/openapi.json", api.base);
    let authorization = format!("Authorization: Bearer {}", api.admin);
    let output = tokio::process::Command::new("schemathesis")
        .args(["run", &schema, "-H", &authorization])
        // Every check but positive_data_acceptance, which counts a 400 for a well-typed
        // but invalid value (an end before its start, a cursor of another list) against the
        // document: such rules are not expressible in a schema.
        .args([
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance",
        ])
        .args(["--max-examples", "20", "--seed", "7", "--no-color"])
        .env("SCHEMATHESIS_HOOKS", "")
        .kill_on_drop(true)
        .output()
        .await
        .expect("run schemathesis");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "schemathesis failed:\n{report}");
    assert!(report.contains("passed"), "{report}");
}
