//! Tests of the fake over real HTTP: a spawned server, a reqwest client, and assertions on what
//! a Compliance API client would see.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::faults::{
    BodyFault, BodyFaultKind, LateIndexFault, RateLimitFault, ServerErrorFault, Trigger,
};
use super::plants::PLANTS;
use super::{spawn, ApiKeySpec, FakeConfig, FakeServer, FaultConfig, Scope, DEFAULT_TEST_KEY};

fn small() -> FakeConfig {
    FakeConfig {
        seed: 11,
        users: 4,
        days: 2,
        plant_rate: 0.25,
        ..FakeConfig::default()
    }
}

struct Fake {
    server: FakeServer,
    http: reqwest::Client,
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
    raw: String,
}

impl Reply {
    fn error_type(&self) -> &str {
        self.body["error"]["type"].as_str().unwrap_or("")
    }

    fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or("")
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn start(config: FakeConfig) -> Fake {
    Fake {
        server: spawn(config).await.unwrap(),
        http: reqwest::Client::new(),
    }
}

impl Fake {
    async fn get_with(&self, path: &str, key: Option<&str>) -> Reply {
        let mut request = self.http.get(format!("{}{}", self.server.base_url(), path));
        if let Some(key) = key {
            request = request
                .header("x-api-key", key)
                .header("anthropic-version", "2023-06-01");
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let raw = response.text().await.unwrap();
        let body = serde_json::from_str(&raw).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            raw,
        }
    }

    async fn get(&self, path: &str) -> Reply {
        self.get_with(path, Some(DEFAULT_TEST_KEY)).await
    }

    async fn ok(&self, path: &str) -> Value {
        let reply = self.get(path).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.raw);
        reply.body
    }

    /// Every item of a cursor-paginated list, following `last_id`.
    async fn walk(&self, path: &str, limit: usize) -> Vec<Value> {
        let separator = if path.contains('?') { '&' } else { '?' };
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut url = format!("{path}{separator}limit={limit}");
            if let Some(c) = &cursor {
                url.push_str(&format!("&after_id={}", urlencode(c)));
            }
            let page = self.ok(&url).await;
            items.extend(page["data"].as_array().unwrap().iter().cloned());
            if !page["has_more"].as_bool().unwrap() {
                return items;
            }
            cursor = Some(page["last_id"].as_str().unwrap().to_string());
        }
    }
}

fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn ts(t: DateTime<Utc>) -> String {
    urlencode(&t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

fn time(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

#[tokio::test]
async fn two_servers_with_the_same_seed_serve_identical_bodies() {
    let (a, b) = (start(small()).await, start(small()).await);
    let chats = a.ok("/v1/compliance/apps/chats?limit=5").await;
    // Request ids follow the request sequence, so both servers see the same sequence.
    assert_eq!(b.ok("/v1/compliance/apps/chats?limit=5").await, chats);
    let chat_id = chats["data"][0]["id"].as_str().unwrap().to_string();
    for path in [
        "/v1/compliance/activities?limit=200".to_string(),
        "/v1/compliance/apps/chats?order_by=updated_at&limit=20".to_string(),
        format!("/v1/compliance/apps/chats/{chat_id}/messages"),
        "/v1/compliance/groups".to_string(),
        "/v1/compliance/activities?created_at.gte=bad".to_string(),
    ] {
        assert_eq!(a.get(&path).await.raw, b.get(&path).await.raw, "{path}");
    }
    let other = start(FakeConfig {
        seed: 12,
        ..small()
    })
    .await;
    assert_ne!(
        a.get("/v1/compliance/activities?limit=50").await.raw,
        other.get("/v1/compliance/activities?limit=50").await.raw
    );
}

/// Walks a window the way a client would and counts what the manifest counts.
async fn walk_window(
    fake: &Fake,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> (u64, u64, u64, u64, BTreeMap<String, u64>) {
    let activities = fake
        .walk(
            &format!(
                "/v1/compliance/activities?created_at.gte={}&created_at.lt={}",
                ts(from),
                ts(to)
            ),
            37,
        )
        .await;
    let activity_ids: HashSet<String> = activities
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect();
    let chats = fake
        .walk(
            &format!(
                "/v1/compliance/apps/chats?order_by=updated_at&updated_at.gte={}&updated_at.lt={}",
                ts(from),
                ts(to)
            ),
            7,
        )
        .await;
    let mut seen = HashSet::new();
    let (mut messages, mut prompts) = (0u64, 0u64);
    let mut planted: BTreeMap<String, u64> = BTreeMap::new();
    for chat in chats
        .iter()
        .filter(|c| seen.insert(c["id"].as_str().unwrap().to_string()))
    {
        let id = chat["id"].as_str().unwrap();
        let body = fake
            .ok(&format!("/v1/compliance/apps/chats/{id}/messages"))
            .await;
        let list = body["chat_messages"].as_array().unwrap();
        messages += list.len() as u64;
        if !chat["deleted_at"].is_null() {
            continue;
        }
        for message in list.iter().filter(|m| m["role"] == "user") {
            prompts += 1;
            let text = message["content"][0]["text"].as_str().unwrap();
            if let Some(plant) = PLANTS.iter().find(|p| p.text == text) {
                *planted.entry(plant.policy.to_string()).or_insert(0) += 1;
            }
        }
    }
    (
        activity_ids.len() as u64,
        seen.len() as u64,
        messages,
        prompts,
        planted,
    )
}

#[tokio::test]
async fn a_paging_walk_finds_exactly_what_the_manifest_counts() {
    let fake = start(small()).await;
    let from = fake.server.history_start() + Duration::hours(20);
    let to = fake.server.history_end() + Duration::hours(6);
    let (activities, chats, messages, prompts, planted) = walk_window(&fake, from, to).await;

    let manifest = fake
        .ok(&format!("/_fake/manifest?from={}&to={}", ts(from), ts(to)))
        .await;
    assert_eq!(manifest["activities"], json!(activities));
    assert_eq!(manifest["chats"], json!(chats));
    assert_eq!(manifest["messages"], json!(messages));
    assert_eq!(manifest["prompt_events"], json!(prompts));
    assert_eq!(manifest["tolerance"], json!(0.0));
    for (policy, count) in manifest["planted"].as_object().unwrap() {
        assert_eq!(
            count,
            &json!(planted.get(policy).copied().unwrap_or(0)),
            "{policy}"
        );
    }
    assert!(
        planted.values().sum::<u64>() > 0,
        "the window should hold planted prompts"
    );
    let in_process = fake.server.manifest(from, to);
    assert_eq!(in_process.activities, activities);
    assert_eq!(in_process.chats, chats);
}

#[tokio::test]
async fn activities_come_newest_first_with_ties_broken_by_id_and_asc_reverses_them() {
    let fake = start(small()).await;
    let desc = fake.walk("/v1/compliance/activities", 50).await;
    let keys: Vec<(DateTime<Utc>, String)> = desc
        .iter()
        .map(|a| {
            (
                time(&a["created_at"]),
                a["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        keys.windows(2).all(|w| w[0] > w[1]),
        "not strictly descending"
    );
    assert!(
        keys.windows(2).any(|w| w[0].0 == w[1].0),
        "the data should contain timestamp ties"
    );
    let asc = fake.walk("/v1/compliance/activities?order=asc", 50).await;
    let mut reversed = asc.clone();
    reversed.reverse();
    assert_eq!(reversed, desc);
}

#[tokio::test]
async fn chats_come_in_ascending_order_of_the_order_field_with_ties_by_id() {
    let fake = start(small()).await;
    for order_by in ["created_at", "updated_at"] {
        let chats = fake
            .walk(&format!("/v1/compliance/apps/chats?order_by={order_by}"), 9)
            .await;
        let keys: Vec<(DateTime<Utc>, String)> = chats
            .iter()
            .map(|c| (time(&c[order_by]), c["id"].as_str().unwrap().to_string()))
            .collect();
        assert!(
            keys.windows(2).all(|w| w[0] < w[1]),
            "{order_by} not ascending"
        );
        assert!(!keys.is_empty());
    }
}

#[tokio::test]
async fn invalid_parameters_get_the_documented_400s() {
    let fake = start(small()).await;
    let cases: &[(&str, &str)] = &[
        (
            "/v1/compliance/activities?created_at.gte=2024-01-01",
            "Got \"2024-01-01\"",
        ),
        (
            "/v1/compliance/activities?created_at.lt=yesterday",
            "`created_at.lt` parameter contains an invalid timestamp",
        ),
        (
            "/v1/compliance/activities?limit=5001",
            "between 1 and 5000, inclusive. Got 5001.",
        ),
        ("/v1/compliance/activities?limit=0", "between 1 and 5000"),
        (
            "/v1/compliance/apps/chats?limit=1001",
            "between 1 and 1000, inclusive. Got 1001.",
        ),
        ("/v1/compliance/apps/chats?limit=ten", "Got \"ten\""),
        (
            "/v1/compliance/activities?after_id=a&before_id=b",
            "Only one of `after_id` or `before_id`",
        ),
        (
            "/v1/compliance/activities?after_id=activity_01nope",
            "No activity found for `after_id` \"activity_01nope\"",
        ),
        (
            "/v1/compliance/activities?activity_types[]=a&exclude_activity_types[]=b",
            "cannot be combined",
        ),
        (
            "/v1/compliance/activities?activity_types=claude_chat_created",
            "`activity_types[]=<value>`",
        ),
        (
            "/v1/compliance/activities?order=newest",
            "one of `asc`, `desc`",
        ),
        (
            "/v1/compliance/apps/chats?order_by=name",
            "one of `created_at`, `updated_at`",
        ),
        (
            "/v1/compliance/apps/chats?updated_at.gte=2026-04-01T00:00:00Z",
            "require `order_by=updated_at`",
        ),
        (
            "/v1/compliance/apps/chats?order_by=updated_at&created_at.gte=2026-04-01T00:00:00Z",
            "require `order_by=created_at`",
        ),
        (
            "/v1/compliance/apps/chats?before_id=x",
            "`before_id` is only supported for per-user queries",
        ),
        (
            "/v1/compliance/apps/chats?project_ids[]=claude_proj_01x",
            "requires `user_ids[]`",
        ),
        (
            "/v1/compliance/apps/chats?user_ids[]=u&order_by=updated_at",
            "only supported for organization-wide",
        ),
        (
            "/v1/compliance/apps/chats?after_id=bm90IGEgY3Vyc29y",
            "not a valid cursor",
        ),
        (
            "/v1/compliance/groups?page=forged",
            "The page parameter is not a valid cursor for this request.",
        ),
    ];
    for (path, expected) in cases {
        let reply = fake.get(path).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{path}: {}",
            reply.raw
        );
        assert_eq!(reply.error_type(), "invalid_request_error", "{path}");
        assert!(
            reply.message().contains(expected),
            "{path}: {}",
            reply.message()
        );
        assert_eq!(reply.body["type"], "error");
        assert_eq!(
            reply.body["request_id"].as_str(),
            reply.header("request-id")
        );
    }
    let users = fake
        .get(&format!(
            "/v1/compliance/organizations/{}/users?limit=1001",
            fake.server.organization_uuid()
        ))
        .await;
    assert_eq!(users.status, StatusCode::BAD_REQUEST);
    assert!(users
        .message()
        .contains("between 1 and 1000, inclusive. Got 1001."));
    let eleven: String = (0..11).map(|i| format!("user_ids[]=user_{i}&")).collect();
    let reply = fake
        .get(&format!("/v1/compliance/apps/chats?{eleven}"))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(
        reply.message().contains("between 1 and 10 values. Got 11."),
        "{}",
        reply.message()
    );
}

#[tokio::test]
async fn a_chat_cursor_only_works_under_the_order_by_it_came_from() {
    let fake = start(small()).await;
    let page = fake
        .ok("/v1/compliance/apps/chats?order_by=updated_at&limit=2")
        .await;
    let cursor = urlencode(page["last_id"].as_str().unwrap());
    let same = fake
        .get(&format!(
            "/v1/compliance/apps/chats?order_by=updated_at&after_id={cursor}"
        ))
        .await;
    assert_eq!(same.status, StatusCode::OK);
    let other = fake
        .get(&format!(
            "/v1/compliance/apps/chats?order_by=created_at&after_id={cursor}"
        ))
        .await;
    assert_eq!(other.status, StatusCode::BAD_REQUEST);
    assert!(
        other.message().contains("issued for `updated_at`"),
        "{}",
        other.message()
    );

    let chat_a = page["data"][0]["id"].as_str().unwrap();
    let chat_b = page["data"][1]["id"].as_str().unwrap();
    let messages = fake
        .ok(&format!(
            "/v1/compliance/apps/chats/{chat_a}/messages?limit=1"
        ))
        .await;
    let message_cursor = urlencode(messages["last_id"].as_str().unwrap());
    let foreign = fake
        .get(&format!(
            "/v1/compliance/apps/chats/{chat_b}/messages?after_id={message_cursor}"
        ))
        .await;
    assert_eq!(foreign.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn per_user_chat_listing_pages_both_ways() {
    let fake = start(small()).await;
    let users = fake
        .ok(&format!(
            "/v1/compliance/organizations/{}/users",
            fake.server.organization_uuid()
        ))
        .await;
    let user_id = users["data"][0]["id"].as_str().unwrap().to_string();
    let all = fake
        .walk(
            &format!("/v1/compliance/apps/chats?user_ids[]={user_id}"),
            2,
        )
        .await;
    assert!(all.iter().all(|c| c["user"]["id"] == json!(user_id)));
    assert!(all.len() >= 3, "user should have several chats");
    let second = fake
        .ok(&format!(
            "/v1/compliance/apps/chats?user_ids[]={user_id}&limit=2"
        ))
        .await;
    let next = fake
        .ok(&format!(
            "/v1/compliance/apps/chats?user_ids[]={user_id}&limit=2&after_id={}",
            urlencode(second["last_id"].as_str().unwrap())
        ))
        .await;
    let back = fake
        .ok(&format!(
            "/v1/compliance/apps/chats?user_ids[]={user_id}&limit=2&before_id={}",
            urlencode(next["first_id"].as_str().unwrap())
        ))
        .await;
    assert_eq!(back["data"], second["data"]);
}

#[tokio::test]
async fn keys_and_scopes_are_enforced_and_only_authenticated_requests_use_quota() {
    let fake = start(FakeConfig {
        keys: vec![
            ApiKeySpec::new("sk-ant-api01-activities-only", vec![Scope::ReadActivities]),
            "sk-ant-admin01-admin".parse().unwrap(),
        ],
        rate_limit: Some(50),
        ..small()
    })
    .await;
    let missing = fake.get_with("/v1/compliance/activities", None).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing.error_type(), "authentication_error");
    assert!(missing
        .header("anthropic-ratelimit-requests-remaining")
        .is_none());
    assert!(missing.header("request-id").unwrap().starts_with("req_"));
    let wrong = fake
        .get_with("/v1/compliance/activities", Some(DEFAULT_TEST_KEY))
        .await;
    assert_eq!(
        wrong.status,
        StatusCode::UNAUTHORIZED,
        "the default key is off once keys are configured"
    );

    let allowed = fake
        .get_with(
            "/v1/compliance/activities?limit=1",
            Some("sk-ant-api01-activities-only"),
        )
        .await;
    assert_eq!(allowed.status, StatusCode::OK);
    assert_eq!(
        allowed.header("anthropic-ratelimit-requests-remaining"),
        Some("49")
    );
    let denied = fake
        .get_with(
            "/v1/compliance/apps/chats",
            Some("sk-ant-api01-activities-only"),
        )
        .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert_eq!(denied.error_type(), "permission_error");
    assert_eq!(
        denied.message(),
        "Missing required scopes. Got: ['read:compliance_activities'] Needed: ['read:compliance_user_data']"
    );
    assert_eq!(
        denied.header("anthropic-ratelimit-requests-remaining"),
        Some("48"),
        "a 403 consumes quota"
    );
    let admin = fake
        .get_with("/v1/compliance/groups", Some("sk-ant-admin01-admin"))
        .await;
    assert_eq!(admin.status, StatusCode::FORBIDDEN);
    assert!(admin
        .message()
        .contains("Needed: ['read:compliance_org_data']"));
    let stats = fake.server.stats();
    assert_eq!(stats.by_status.get(&401), Some(&2));
    assert_eq!(stats.max_charged_in_60s, 3);
}

#[tokio::test]
async fn unknown_resources_are_404_not_found_errors() {
    let fake = start(small()).await;
    for (path, expected) in [
        (
            "/v1/compliance/apps/chats/claude_chat_01missing/messages",
            "Chat claude_chat_01missing not found.",
        ),
        (
            "/v1/compliance/apps/chats/files/claude_file_01missing",
            "No file found with provided id",
        ),
        (
            "/v1/compliance/groups/rbac_group_01missing/members",
            "Group not found.",
        ),
        (
            "/v1/compliance/organizations/11111111-2222-4333-8444-555555555555/users",
            "organization does not exist",
        ),
        ("/v1/compliance/no/such/route", "Not found"),
    ] {
        let reply = fake.get(path).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(reply.error_type(), "not_found_error");
        assert!(
            reply.message().contains(expected),
            "{path}: {}",
            reply.message()
        );
    }
}

#[tokio::test]
async fn the_rate_limit_is_reported_in_headers_and_enforced_with_retry_after() {
    let fake = start(FakeConfig {
        rate_limit: Some(3),
        ..small()
    })
    .await;
    for remaining in ["2", "1", "0"] {
        let reply = fake.get("/v1/compliance/activities?limit=1").await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(
            reply.header("anthropic-ratelimit-requests-limit"),
            Some("3")
        );
        assert_eq!(
            reply.header("anthropic-ratelimit-requests-remaining"),
            Some(remaining)
        );
        let reset = reply.header("anthropic-ratelimit-requests-reset").unwrap();
        assert!(DateTime::parse_from_rfc3339(reset).is_ok(), "{reset}");
    }
    let limited = fake.get("/v1/compliance/activities?limit=1").await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.error_type(), "rate_limit_error");
    let retry_after: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after));
    assert_eq!(
        limited.header("anthropic-ratelimit-requests-remaining"),
        Some("0")
    );
    let stats = fake.server.stats();
    assert_eq!(stats.max_charged_in_60s, 3);
    assert_eq!(stats.max_requests_in_60s, 4);
}

#[tokio::test]
async fn the_rate_limit_can_be_switched_off() {
    let fake = start(FakeConfig {
        rate_limit: None,
        ..small()
    })
    .await;
    for _ in 0..5 {
        let reply = fake.get("/v1/compliance/groups").await;
        assert_eq!(reply.status, StatusCode::OK);
        assert!(reply.header("anthropic-ratelimit-requests-limit").is_none());
    }
}

#[tokio::test]
async fn a_429_storm_without_retry_after_fails_the_next_requests_then_stops() {
    let fake = start(small()).await;
    fake.server
        .set_faults(FaultConfig {
            rate_limit: Some(RateLimitFault {
                trigger: Trigger::Next(2),
                retry_after_secs: None,
            }),
            ..FaultConfig::default()
        })
        .unwrap();
    for _ in 0..2 {
        let reply = fake.get("/v1/compliance/groups").await;
        assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(reply.header("retry-after").is_none());
    }
    assert_eq!(
        fake.get("/v1/compliance/groups").await.status,
        StatusCode::OK
    );
    assert_eq!(fake.server.stats().injected_faults, 2);
}

#[tokio::test]
async fn server_error_bursts_use_the_configured_status_and_retry_hint() {
    let fake = start(small()).await;
    fake.server
        .set_faults(FaultConfig {
            server_error: Some(ServerErrorFault {
                trigger: Trigger::Next(2),
                status: 529,
                should_retry: None,
            }),
            ..FaultConfig::default()
        })
        .unwrap();
    for _ in 0..2 {
        let reply = fake.get("/v1/compliance/groups").await;
        assert_eq!(reply.status.as_u16(), 529);
        assert_eq!(reply.error_type(), "overloaded_error");
    }
    assert_eq!(
        fake.get("/v1/compliance/groups").await.status,
        StatusCode::OK
    );

    fake.server
        .set_faults(FaultConfig {
            server_error: Some(ServerErrorFault {
                trigger: Trigger::Next(1),
                status: 500,
                should_retry: Some(false),
            }),
            ..FaultConfig::default()
        })
        .unwrap();
    let reply = fake.get("/v1/compliance/groups").await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(reply.header("x-should-retry"), Some("false"));
    assert_eq!(reply.error_type(), "api_error");
}

#[tokio::test]
async fn faults_can_be_set_over_http_and_slow_responses_are_held_back() {
    let fake = start(small()).await;
    let set = fake
        .http
        .post(format!("{}/_fake/faults", fake.server.base_url()))
        .body(r#"{"slow":{"trigger":{"next":1},"delay_ms":300}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), StatusCode::OK);
    assert_eq!(fake.server.faults().slow.unwrap().delay_ms, 300);
    let started = std::time::Instant::now();
    assert_eq!(
        fake.get("/v1/compliance/groups").await.status,
        StatusCode::OK
    );
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));

    let bad = fake
        .http
        .post(format!("{}/_fake/faults", fake.server.base_url()))
        .body(r#"{"server_error":{"trigger":"always","status":418}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let cleared = fake
        .http
        .delete(format!("{}/_fake/faults", fake.server.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status(), StatusCode::NO_CONTENT);
    assert_eq!(fake.server.faults(), FaultConfig::default());
}

#[tokio::test]
async fn truncated_and_malformed_bodies_do_not_parse() {
    let fake = start(small()).await;
    for kind in [BodyFaultKind::Truncated, BodyFaultKind::Malformed] {
        fake.server
            .set_faults(FaultConfig {
                body: Some(BodyFault {
                    trigger: Trigger::Next(1),
                    kind,
                }),
                ..FaultConfig::default()
            })
            .unwrap();
        let damaged = fake.get("/v1/compliance/activities?limit=5").await;
        assert_eq!(damaged.status, StatusCode::OK);
        assert!(
            serde_json::from_str::<Value>(&damaged.raw).is_err(),
            "{kind:?}"
        );
        let healthy = fake.get("/v1/compliance/activities?limit=5").await;
        assert!(healthy.body.is_object());
    }
}

#[tokio::test]
async fn late_indexed_records_appear_only_after_their_delay() {
    let fake = start(small()).await;
    let end = fake.server.history_end();
    let from = end - Duration::hours(30);
    let before = fake
        .walk(
            &format!("/v1/compliance/activities?created_at.gte={}", ts(from)),
            500,
        )
        .await;
    fake.server
        .set_faults(FaultConfig {
            seed: 3,
            late_index: Some(LateIndexFault {
                fraction: 0.5,
                delay_secs: 7_200,
            }),
            ..FaultConfig::default()
        })
        .unwrap();
    let during = fake
        .walk(
            &format!("/v1/compliance/activities?created_at.gte={}", ts(from)),
            500,
        )
        .await;
    let recent = before
        .iter()
        .filter(|a| time(&a["created_at"]) > end - Duration::hours(2))
        .count();
    assert!(during.len() < before.len());
    assert!(
        before.len() - during.len() <= recent,
        "only the last two hours may be missing"
    );
    let manifest = fake.server.manifest(from, end + Duration::seconds(1));
    assert!(manifest.tolerance > 0.0);
    fake.server.advance(Duration::hours(2));
    let after = fake
        .walk(
            &format!("/v1/compliance/activities?created_at.gte={}", ts(from)),
            500,
        )
        .await;
    let ids = |list: &[Value]| list.iter().map(|a| a["id"].clone()).collect::<HashSet<_>>();
    assert!(ids(&before).is_subset(&ids(&after)));
}

#[tokio::test]
async fn the_duplicate_fault_repeats_the_last_item_of_a_page_on_the_next() {
    let fake = start(small()).await;
    fake.server
        .set_faults(FaultConfig {
            duplicates: Some(Trigger::Always),
            ..FaultConfig::default()
        })
        .unwrap();
    let first = fake.ok("/v1/compliance/activities?limit=5").await;
    let second = fake
        .ok(&format!(
            "/v1/compliance/activities?limit=5&after_id={}",
            first["last_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(second["data"][0], first["data"][4]);
    assert_eq!(second["data"].as_array().unwrap().len(), 6);
    let walked = fake.walk("/v1/compliance/activities", 10).await;
    let unique: HashSet<_> = walked.iter().map(|a| a["id"].clone()).collect();
    fake.server.clear_faults();
    let clean = fake.walk("/v1/compliance/activities", 10).await;
    assert!(walked.len() > clean.len());
    assert_eq!(unique.len(), clean.len());
}

#[tokio::test]
async fn records_exist_only_once_the_clock_reaches_them() {
    let fake = start(small()).await;
    let all = fake.walk("/v1/compliance/apps/chats", 100).await;
    let mid = fake.server.history_start() + Duration::hours(36);
    fake.server.set_now(mid);
    let early = fake.walk("/v1/compliance/apps/chats", 100).await;
    assert!(early.len() < all.len());
    assert!(early.iter().all(|c| time(&c["created_at"]) <= mid));
    assert!(early.iter().all(|c| time(&c["updated_at"]) <= mid));
    let activities = fake.walk("/v1/compliance/activities", 500).await;
    assert!(activities.iter().all(|a| time(&a["created_at"]) <= mid));

    let clock = fake.ok("/_fake/clock").await;
    assert_eq!(time(&clock["now"]), mid);
    fake.server.advance(Duration::days(10));
    let later = fake.walk("/v1/compliance/apps/chats", 100).await;
    let ids = |list: &[Value]| list.iter().map(|c| c["id"].clone()).collect::<HashSet<_>>();
    // Chats started late on the last day by users west of UTC lie past the history's end.
    assert!(ids(&all).is_subset(&ids(&later)));
    assert!(ids(&early).is_subset(&ids(&all)));
}

#[tokio::test]
async fn a_chat_resumed_hours_later_moves_into_a_later_updated_at_window() {
    let fake = start(FakeConfig { days: 3, ..small() }).await;
    let chats = fake.walk("/v1/compliance/apps/chats", 100).await;
    let mut resumed = None;
    for chat in &chats {
        let id = chat["id"].as_str().unwrap();
        let body = fake
            .ok(&format!("/v1/compliance/apps/chats/{id}/messages"))
            .await;
        let times: Vec<DateTime<Utc>> = body["chat_messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| time(&m["created_at"]))
            .collect();
        if let Some(gap) = times
            .windows(2)
            .position(|w| w[1] - w[0] > Duration::hours(1))
        {
            if chat["deleted_at"].is_null() {
                resumed = Some((id.to_string(), times[gap], times[gap + 1]));
                break;
            }
        }
    }
    let (id, paused, resumed_at) = resumed.expect("some chat is resumed hours later");
    fake.server.set_now(paused + Duration::minutes(5));
    let body = fake
        .ok(&format!("/v1/compliance/apps/chats/{id}/messages"))
        .await;
    assert_eq!(time(&body["updated_at"]), paused);
    fake.server.set_now(resumed_at);
    let body = fake
        .ok(&format!("/v1/compliance/apps/chats/{id}/messages"))
        .await;
    assert_eq!(time(&body["updated_at"]), resumed_at);
    let window = fake
        .ok(&format!(
            "/v1/compliance/apps/chats?order_by=updated_at&updated_at.gte={}&limit=1000",
            ts(paused + Duration::minutes(6))
        ))
        .await;
    assert!(window["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["id"] == json!(id)));
}

#[tokio::test]
async fn messages_have_the_real_shape_and_page_in_both_orders() {
    let fake = start(FakeConfig {
        users: 6,
        days: 3,
        ..small()
    })
    .await;
    let chats = fake.walk("/v1/compliance/apps/chats", 100).await;
    let (mut saw_tool, mut saw_file, mut saw_deleted) = (false, false, false);
    for chat in &chats {
        let id = chat["id"].as_str().unwrap();
        let body = fake
            .ok(&format!("/v1/compliance/apps/chats/{id}/messages"))
            .await;
        assert_eq!(body["id"], chat["id"]);
        assert!(body["href"]
            .as_str()
            .unwrap()
            .starts_with("https://claude.ai/chat/"));
        let messages = body["chat_messages"].as_array().unwrap();
        if !chat["deleted_at"].is_null() {
            saw_deleted = true;
            assert_eq!(chat["name"], "");
            assert!(messages
                .iter()
                .all(|m| m["content"] == json!([]) && m["files"].is_null()));
            continue;
        }
        for message in messages {
            for block in message["content"].as_array().unwrap() {
                if block["type"] == "tool_use" {
                    saw_tool = true;
                    assert!(block["id"].as_str().unwrap().starts_with("toolu_01"));
                    let input = block["input"].as_str().unwrap();
                    assert!(serde_json::from_str::<Value>(input).is_ok());
                }
            }
            if let Some(files) = message["files"].as_array() {
                saw_file = true;
                let file_id = files[0]["id"].as_str().unwrap();
                let meta = fake
                    .ok(&format!("/v1/compliance/apps/chats/files/{file_id}"))
                    .await;
                assert_eq!(meta["message_ids"], json!([message["id"]]));
                assert_eq!(meta["claude_chat_ids"], json!([chat["id"]]));
            }
        }
        if messages.len() >= 4 {
            let desc = fake
                .ok(&format!(
                    "/v1/compliance/apps/chats/{id}/messages?order=desc&limit=3"
                ))
                .await;
            let newest: Vec<Value> = messages.iter().rev().take(3).cloned().collect();
            assert_eq!(desc["chat_messages"], json!(newest));
            assert_eq!(desc["has_more"], json!(true));
            let rest = fake
                .ok(&format!(
                    "/v1/compliance/apps/chats/{id}/messages?order=desc&limit=1000&after_id={}",
                    urlencode(desc["last_id"].as_str().unwrap())
                ))
                .await;
            assert_eq!(
                rest["chat_messages"].as_array().unwrap().len(),
                messages.len() - 3
            );
        }
    }
    assert!(
        saw_tool && saw_file && saw_deleted,
        "tool {saw_tool} file {saw_file} deleted {saw_deleted}"
    );
}

#[tokio::test]
async fn directory_endpoints_page_with_tokens() {
    let fake = start(FakeConfig {
        users: 30,
        days: 1,
        ..small()
    })
    .await;
    let org = fake.server.organization_uuid();
    let orgs = fake.ok("/v1/compliance/organizations").await;
    assert_eq!(orgs["data"][0]["uuid"], json!(org.to_string()));
    let mut users = Vec::new();
    let mut page: Option<String> = None;
    loop {
        let mut path = format!("/v1/compliance/organizations/{org}/users?limit=7");
        if let Some(token) = &page {
            path.push_str(&format!("&page={}", urlencode(token)));
        }
        let body = fake.ok(&path).await;
        users.extend(body["data"].as_array().unwrap().iter().cloned());
        match body["next_page"].as_str() {
            Some(token) => page = Some(token.to_string()),
            None => {
                assert_eq!(body["has_more"], json!(false));
                break;
            }
        }
    }
    assert_eq!(users.len(), 30);
    let joined: Vec<&str> = users
        .iter()
        .map(|u| u["created_at"].as_str().unwrap())
        .collect();
    assert!(joined.windows(2).all(|w| w[0] <= w[1]));
    let groups = fake.ok("/v1/compliance/groups").await;
    let group_id = groups["data"][0]["id"].as_str().unwrap();
    let members = fake
        .ok(&format!("/v1/compliance/groups/{group_id}/members?limit=2"))
        .await;
    let token = urlencode(members["next_page"].as_str().unwrap_or(""));
    let users_token = fake
        .get(&format!("/v1/compliance/groups?page={token}"))
        .await;
    assert_eq!(
        users_token.status,
        StatusCode::BAD_REQUEST,
        "a members token is not a groups token"
    );
}

#[tokio::test]
async fn live_mode_follows_real_time_and_keeps_adding_days() {
    let fake = start(FakeConfig {
        live: true,
        days: 2,
        ..small()
    })
    .await;
    let info = fake.ok("/_fake/info").await;
    assert_eq!(info["live"], json!(true));
    let now = fake.server.now();
    assert!((Utc::now() - now).num_seconds().abs() < 5);
    assert!(fake.server.history_start() < now && fake.server.history_end() > now);
    let visible = fake.walk("/v1/compliance/activities", 1000).await.len();
    fake.server.advance(Duration::days(3));
    let later = fake.walk("/v1/compliance/activities", 1000).await.len();
    assert!(
        later > visible,
        "new days keep arriving ({visible} then {later})"
    );
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let fake = start(small()).await;
    let mut ids = HashSet::new();
    for path in [
        "/v1/compliance/groups",
        "/_fake/stats",
        "/v1/compliance/nothing",
        "/_fake/manifest?from=bad",
    ] {
        let reply = fake.get(path).await;
        let id = reply.header("request-id").unwrap().to_string();
        assert!(id.starts_with("req_01"), "{path}: {id}");
        assert!(ids.insert(id));
    }
}

#[tokio::test]
async fn the_clock_and_stats_can_be_driven_over_http() {
    let fake = start(small()).await;
    let base = fake.server.base_url();
    let before = fake.server.now();
    let moved = fake
        .http
        .post(format!("{base}/_fake/clock"))
        .body(r#"{"advance_secs": -3600}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(moved.status(), StatusCode::OK);
    assert_eq!(fake.server.now(), before - Duration::hours(1));
    let bad = fake
        .http
        .post(format!("{base}/_fake/clock"))
        .body(r#"{"now": "2026-04-02"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);

    fake.get("/v1/compliance/groups").await;
    fake.get_with("/v1/compliance/groups", Some("sk-ant-api01-wrong"))
        .await;
    let stats = fake.ok("/_fake/stats").await;
    assert_eq!(stats["requests"], json!(2));
    assert_eq!(stats["by_status"]["200"], json!(1));
    assert_eq!(stats["by_status"]["401"], json!(1));
    let reset = fake
        .http
        .delete(format!("{base}/_fake/stats"))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    assert_eq!(fake.server.stats().requests, 0);
}

#[tokio::test]
async fn shutting_down_closes_the_port() {
    let fake = start(small()).await;
    let url = format!("{}/v1/compliance/groups", fake.server.base_url());
    fake.server.shutdown().await.unwrap();
    let after = reqwest::Client::new()
        .get(url)
        .header("x-api-key", DEFAULT_TEST_KEY)
        .send()
        .await;
    assert!(after.is_err());
}
