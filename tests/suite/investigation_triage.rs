//! Sessions, alerts, issue triage, evidence reveal and access events over real HTTP, on
//! PostgreSQL and on SQLite, over events ingested from the fake Compliance API: each list
//! against the same filter in SQL, each triage change with its audit row, and project scope.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, TimeDelta, Utc};
use logwarden::service::tokens::Role;
use logwarden_entities::{access_event, alert, audit_entry, event, issue, session, violation};
use logwarden_fake_api::FakeConfig;
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::{json, Value};

use crate::helpers::TestDb;
use crate::investigation::{encoded, Investigation};

/// An investigation over eight hours of a fake organisation in which every prompt carries
/// a planted policy hit, so chats hold violations, alerts and issues.
async fn planted(test: TestDb) -> Investigation {
    let it = Investigation::with_fake(
        test,
        FakeConfig {
            rate_limit: None,
            plant_rate: 1.0,
            ..FakeConfig::default()
        },
    )
    .await;
    it.ingest_until(it.start + TimeDelta::hours(8)).await;
    it
}

impl Investigation {
    /// Every page of `path` (with `?` or `&` already in it), two items a page; the items.
    async fn walk_list(&self, path: &str, token: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut url = format!("{path}limit=2");
            if let Some(cursor) = &cursor {
                url.push_str(&format!("&cursor={cursor}"));
            }
            let (status, body) = self.get(&url, token).await;
            assert_eq!(status, StatusCode::OK, "{url}: {body}");
            items.extend(body["items"].as_array().unwrap().iter().cloned());
            match body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return items,
            }
        }
    }

    async fn standing_violations(&self) -> Vec<violation::Model> {
        violation::Entity::find()
            .filter(violation::Column::SupersededAt.is_null())
            .all(&self.pipeline.test.db)
            .await
            .unwrap()
    }

    async fn audit_rows(&self, action: &str) -> Vec<audit_entry::Model> {
        audit_entry::Entity::find()
            .filter(audit_entry::Column::Action.eq(action))
            .order_by_asc(audit_entry::Column::Id)
            .all(&self.pipeline.test.db)
            .await
            .unwrap()
    }
}

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|item| match &item["id"] {
            Value::String(id) => id.clone(),
            other => other.to_string(),
        })
        .collect()
}

const ATTACKS: [&str; 2] = ["prompt_injection", "jailbreak"];

async fn sessions_match_the_stored_chats(test: TestDb) {
    let it = planted(test).await;
    let db = &it.pipeline.test.db;
    let sessions = session::Entity::find()
        .order_by_desc(session::Column::ChatCreatedAt)
        .order_by_desc(session::Column::Id)
        .all(db)
        .await
        .unwrap();
    assert!(sessions.len() > 2, "the test needs several pages");
    let listed = it.walk_list("/api/v1/sessions?", &it.investigator).await;
    assert_eq!(
        ids(&listed),
        sessions.iter().map(|s| s.id.clone()).collect::<Vec<_>>()
    );

    // Standing violations per chat, from SQL.
    let events = event::Entity::find().all(db).await.unwrap();
    let chat_of: BTreeMap<uuid::Uuid, String> = events
        .iter()
        .map(|e| (e.id, format!("{}:{}", e.integration_id, e.chat_id)))
        .collect();
    let violations = it.standing_violations().await;
    let mut per_chat: BTreeMap<String, u64> = BTreeMap::new();
    for v in &violations {
        *per_chat.entry(chat_of[&v.event_id].clone()).or_default() += 1;
    }
    for row in &listed {
        let id = row["id"].as_str().unwrap();
        assert_eq!(
            row["violation_count"],
            per_chat.get(id).copied().unwrap_or(0),
            "{id}"
        );
    }
    let with: BTreeSet<String> = ids(&it
        .walk_list("/api/v1/sessions?has_violations=true&", &it.investigator)
        .await)
    .into_iter()
    .collect();
    assert_eq!(with, per_chat.keys().cloned().collect::<BTreeSet<_>>());
    let without = ids(&it
        .walk_list("/api/v1/sessions?has_violations=false&", &it.investigator)
        .await);
    assert_eq!(with.len() + without.len(), sessions.len());
    assert!(without.iter().all(|id| !with.contains(id)));

    // By user and range: sessions of that user with an event inside the range.
    let user = &sessions[0].user_email;
    let (from, to) = (
        it.start + TimeDelta::hours(2),
        it.start + TimeDelta::hours(6),
    );
    let expected: Vec<String> = sessions
        .iter()
        .filter(|s| &s.user_email == user)
        .filter(|s| s.last_event_at.is_some_and(|t| t >= from))
        .filter(|s| s.first_event_at.is_some_and(|t| t < to))
        .map(|s| s.id.clone())
        .collect();
    let by_user = it
        .walk_list(
            &format!(
                "/api/v1/sessions?user_email={}&from={}&to={}&",
                encoded(user),
                encoded(&from.to_rfc3339()),
                encoded(&to.to_rfc3339())
            ),
            &it.investigator,
        )
        .await;
    assert_eq!(ids(&by_user), expected);

    // One chat in full: its events oldest first, each with its own standing violations.
    let busiest = per_chat
        .iter()
        .max_by_key(|(_, count)| **count)
        .map(|(id, _)| id.clone())
        .expect("a chat with violations");
    let (status, chat) = it
        .get(&format!("/api/v1/sessions/{busiest}"), &it.investigator)
        .await;
    assert_eq!(status, StatusCode::OK, "{chat}");
    let mut in_chat: Vec<&event::Model> = events
        .iter()
        .filter(|e| chat_of[&e.id] == busiest)
        .collect();
    in_chat.sort_by_key(|e| (e.event_time, e.id));
    let shown = chat["events"].as_array().unwrap();
    assert_eq!(
        ids(shown),
        in_chat.iter().map(|e| e.id.to_string()).collect::<Vec<_>>()
    );
    for (shown, stored) in shown.iter().zip(&in_chat) {
        assert_eq!(shown["input"], stored.input_text.as_str());
        let mut expected: Vec<String> = violations
            .iter()
            .filter(|v| v.event_id == stored.id)
            .map(|v| v.id.to_string())
            .collect();
        expected.sort();
        let mut got = ids(shown["violations"].as_array().unwrap());
        got.sort();
        assert_eq!(got, expected, "violations of event {}", stored.id);
    }
    assert_eq!(chat["session"]["id"], busiest.as_str());

    // Session findings: a chat with attack attempts in two consecutive events has a
    // `repeated_attacks` finding naming events of its own.
    let attacked: BTreeSet<uuid::Uuid> = violations
        .iter()
        .filter(|v| v.direction == "input" && ATTACKS.contains(&v.policy.as_str()))
        .map(|v| v.event_id)
        .collect();
    let mut by_chat: BTreeMap<String, Vec<&event::Model>> = BTreeMap::new();
    for e in &events {
        by_chat.entry(chat_of[&e.id].clone()).or_default().push(e);
    }
    let repeated: Vec<String> = by_chat
        .into_iter()
        .filter_map(|(chat, mut events)| {
            events.sort_by_key(|e| (e.event_time, e.id));
            events
                .windows(2)
                .any(|pair| pair.iter().all(|e| attacked.contains(&e.id)))
                .then_some(chat)
        })
        .collect();
    assert!(
        !repeated.is_empty(),
        "the planted data holds a chat with consecutive attack attempts"
    );
    for chat_id in repeated {
        let (status, chat) = it
            .get(&format!("/api/v1/sessions/{chat_id}"), &it.investigator)
            .await;
        assert_eq!(status, StatusCode::OK, "{chat}");
        let events: BTreeSet<String> = ids(chat["events"].as_array().unwrap())
            .into_iter()
            .collect();
        let findings = chat["session_findings"].as_array().unwrap();
        let found = findings
            .iter()
            .find(|f| f["rule"] == "repeated_attacks")
            .unwrap_or_else(|| panic!("{chat_id}: {findings:?}"));
        let named = found["event_ids"].as_array().unwrap();
        assert!(named.len() >= 2, "{found}");
        assert!(named.iter().all(|id| events.contains(id.as_str().unwrap())));
    }

    let (status, body) = it
        .get("/api/v1/sessions/1:no-such-chat", &it.investigator)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = it
        .get("/api/v1/sessions?has_violations=maybe", &it.investigator)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["field"], "has_violations");
}

#[tokio::test]
async fn sessions_list_and_show_each_chat_as_stored_with_violations_and_session_findings_on_postgres(
) {
    sessions_match_the_stored_chats(TestDb::postgres().await).await;
}

#[tokio::test]
async fn sessions_list_and_show_each_chat_as_stored_with_violations_and_session_findings_on_sqlite()
{
    sessions_match_the_stored_chats(TestDb::sqlite().await).await;
}

async fn alerts_match_sql(test: TestDb) {
    let it = planted(test).await;
    let db = &it.pipeline.test.db;
    let all = alert::Entity::find()
        .order_by_desc(alert::Column::EventTime)
        .order_by_desc(alert::Column::Id)
        .all(db)
        .await
        .unwrap();
    assert!(all.len() > 2, "the test needs several pages of alerts");
    let listed = it.walk_list("/api/v1/alerts?", &it.investigator).await;
    assert_eq!(
        ids(&listed),
        all.iter().map(|a| a.id.to_string()).collect::<Vec<_>>()
    );
    // Close one, as a newer evaluation would, so the status filter has both kinds.
    let closed = all[0].id;
    alert::Entity::update_many()
        .col_expr(
            alert::Column::ClosedAt,
            sea_orm::sea_query::Expr::value(Utc::now()),
        )
        .col_expr(
            alert::Column::CloseReason,
            sea_orm::sea_query::Expr::value("superseded"),
        )
        .filter(alert::Column::Id.eq(closed))
        .exec(db)
        .await
        .unwrap();
    let closed_listed = it
        .walk_list("/api/v1/alerts?status=closed&", &it.investigator)
        .await;
    assert_eq!(ids(&closed_listed), [closed.to_string()]);
    assert_eq!(closed_listed[0]["close_reason"], "superseded");
    let open = it
        .walk_list("/api/v1/alerts?status=open&", &it.investigator)
        .await;
    assert_eq!(open.len(), all.len() - 1);

    // Policy, user and range together.
    let sample = &all[all.len() / 2];
    let (from, to) = (
        sample.event_time - TimeDelta::hours(3),
        sample.event_time + TimeDelta::hours(1),
    );
    let expected: Vec<String> = all
        .iter()
        .filter(|a| a.policy == sample.policy && a.user_email == sample.user_email)
        .filter(|a| a.event_time >= from && a.event_time < to)
        .map(|a| a.id.to_string())
        .collect();
    let got = it
        .walk_list(
            &format!(
                "/api/v1/alerts?policy={}&user_email={}&from={}&to={}&",
                encoded(&sample.policy),
                encoded(&sample.user_email),
                encoded(&from.to_rfc3339()),
                encoded(&to.to_rfc3339())
            ),
            &it.investigator,
        )
        .await;
    assert_eq!(ids(&got), expected);
    assert!(!expected.is_empty());
    let by_id = it
        .walk_list(
            &format!("/api/v1/alerts?user_id={}&", encoded(&sample.user_id)),
            &it.investigator,
        )
        .await;
    assert!(by_id
        .iter()
        .all(|a| a["user_id"] == sample.user_id.as_str()));

    for (query, field) in [
        ("status=pending", "status"),
        ("from=2026-04-08T10:00:00Z&to=2026-04-08T09:00:00Z", "to"),
        ("limit=0", "limit"),
        ("cursor=abc", "cursor"),
        ("policy=", "policy"),
    ] {
        let (status, body) = it
            .get(&format!("/api/v1/alerts?{query}"), &it.investigator)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["error"]["field"], field, "{query}: {body}");
    }
}

#[tokio::test]
async fn alerts_are_listed_by_status_policy_user_and_time_exactly_as_sql_finds_them_on_postgres() {
    alerts_match_sql(TestDb::postgres().await).await;
}

#[tokio::test]
async fn alerts_are_listed_by_status_policy_user_and_time_exactly_as_sql_finds_them_on_sqlite() {
    alerts_match_sql(TestDb::sqlite().await).await;
}

async fn issue_triage(test: TestDb) {
    let it = planted(test).await;
    let db = &it.pipeline.test.db;
    let stored = issue::Entity::find()
        .order_by_desc(issue::Column::Id)
        .all(db)
        .await
        .unwrap();
    assert!(stored.len() > 2, "the test needs several issues");
    let listed = it.walk_list("/api/v1/issues?", &it.investigator).await;
    assert_eq!(
        ids(&listed),
        stored.iter().map(|i| i.id.to_string()).collect::<Vec<_>>()
    );
    let target = &stored[0];
    let path = format!("/api/v1/issues/{}", target.id);

    let (status, body) = it
        .call(
            reqwest::Method::POST,
            &format!("{path}/status"),
            Some(&it.investigator),
            Some(json!({"status": "acknowledged"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "acknowledged");
    let (status, body) = it
        .call(
            reqwest::Method::PUT,
            &format!("{path}/assignee"),
            Some(&it.investigator),
            Some(json!({"assignee": "analyst@example.com"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["assignee"], "analyst@example.com");
    let (status, comment) = it
        .call(
            reqwest::Method::POST,
            &format!("{path}/comments"),
            Some(&it.investigator),
            Some(json!({"body": "Looked at the chat; the user pasted a customer list."})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{comment}");

    let acknowledged = it
        .walk_list("/api/v1/issues?status=acknowledged&", &it.investigator)
        .await;
    assert_eq!(ids(&acknowledged), [target.id.to_string()]);
    let assigned = it
        .walk_list(
            "/api/v1/issues?assignee=analyst%40example.com&",
            &it.investigator,
        )
        .await;
    assert_eq!(ids(&assigned), [target.id.to_string()]);
    let (status, detail) = it.get(&path, &it.investigator).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(detail["issue"]["status"], "acknowledged");
    assert_eq!(detail["comments"][0]["id"], comment["id"]);
    assert_eq!(detail["comments"][0]["author"], "investigator test");

    // Each change has one audit row saying what changed.
    let details = |rows: Vec<audit_entry::Model>| -> Vec<(String, Option<String>)> {
        rows.into_iter().map(|r| (r.target, r.detail)).collect()
    };
    let target_name = format!("issue {}", target.id);
    assert_eq!(
        details(it.audit_rows("POST /api/v1/issues/{id}/status").await),
        [(
            target_name.clone(),
            Some("status open -> acknowledged".to_owned())
        )]
    );
    assert_eq!(
        details(it.audit_rows("PUT /api/v1/issues/{id}/assignee").await),
        [(
            target_name.clone(),
            Some("assignee none -> analyst@example.com".to_owned())
        )]
    );
    assert_eq!(
        details(it.audit_rows("POST /api/v1/issues/{id}/comments").await),
        [(
            target_name.clone(),
            Some(format!("comment {}", comment["id"]))
        )]
    );

    // Bad input is a 400 naming the field, and changes nothing.
    for (method, suffix, body, field) in [
        (
            reqwest::Method::POST,
            "/status",
            json!({"status": "closed"}),
            "status",
        ),
        (
            reqwest::Method::POST,
            "/status",
            json!({"state": "open"}),
            "state",
        ),
        (
            reqwest::Method::PUT,
            "/assignee",
            json!({"assignee": " "}),
            "assignee",
        ),
        (
            reqwest::Method::POST,
            "/comments",
            json!({"body": ""}),
            "body",
        ),
        (
            reqwest::Method::POST,
            "/comments",
            json!({"body": "x".repeat(10_001)}),
            "body",
        ),
    ] {
        let (status, answer) = it
            .call(
                method,
                &format!("{path}{suffix}"),
                Some(&it.investigator),
                Some(body),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{suffix}: {answer}");
        assert_eq!(answer["error"]["field"], field, "{suffix}: {answer}");
    }
    let (_, after) = it.get(&path, &it.investigator).await;
    assert_eq!(after["issue"], detail["issue"]);
    assert_eq!(after["comments"], detail["comments"]);

    // Resolved, then reopened while another issue of its user and policy is unresolved:
    // a 409 that changes nothing.
    let (status, body) = it
        .call(
            reqwest::Method::POST,
            &format!("{path}/status"),
            Some(&it.investigator),
            Some(json!({"status": "resolved"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let now = Utc::now();
    issue::ActiveModel {
        integration_id: Set(target.integration_id),
        user_id: Set(target.user_id.clone()),
        user_email: Set(target.user_email.clone()),
        policy: Set(target.policy.clone()),
        severity: Set(target.severity.clone()),
        status: Set(issue::IssueStatus::Open),
        assignee: Set(None),
        alert_count: Set(1),
        first_seen_at: Set(now),
        last_seen_at: Set(now),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("a newer open issue of the same user and policy");
    let (status, body) = it
        .call(
            reqwest::Method::POST,
            &format!("{path}/status"),
            Some(&it.investigator),
            Some(json!({"status": "acknowledged"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (_, after) = it.get(&path, &it.investigator).await;
    assert_eq!(after["issue"]["status"], "resolved");

    // An operator may not triage.
    let operator = it.token(Role::Operator, &[]).await;
    let (status, _) = it
        .call(
            reqwest::Method::POST,
            &format!("{path}/status"),
            Some(&operator),
            Some(json!({"status": "open"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn issues_are_acknowledged_assigned_commented_and_resolved_with_an_audit_row_each_on_postgres(
) {
    issue_triage(TestDb::postgres().await).await;
}

#[tokio::test]
async fn issues_are_acknowledged_assigned_commented_and_resolved_with_an_audit_row_each_on_sqlite()
{
    issue_triage(TestDb::sqlite().await).await;
}

async fn reveal(test: TestDb) {
    let it = planted(test).await;
    let db = &it.pipeline.test.db;
    let violations = it.standing_violations().await;
    let target = violations
        .iter()
        .find(|v| v.direction == "input")
        .expect("an input violation");
    let stored = event::Entity::find_by_id(target.event_id)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    let path = format!("/api/v1/violations/{}/reveal", target.id);

    for (body, field) in [
        (json!({}), "reason"),
        (json!({"reason": "  "}), "reason"),
        (json!({"reason": "x".repeat(1001)}), "reason"),
        (json!({"reason": "case 1", "why": "x"}), "why"),
    ] {
        let (status, answer) = it
            .call(
                reqwest::Method::POST,
                &path,
                Some(&it.investigator),
                Some(body),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert_eq!(answer["error"]["field"], field, "{answer}");
    }
    assert!(
        it.audit_rows("POST /api/v1/violations/{id}/reveal")
            .await
            .iter()
            .all(|row| row.detail.is_none() && row.status == 400),
        "refused reveals leave only the layer's row, without a reason"
    );

    let (status, revealed) = it
        .call(
            reqwest::Method::POST,
            &path,
            Some(&it.investigator),
            Some(json!({"reason": "case 42: data-loss review"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{revealed}");
    let span = target.span_start as usize..target.span_end as usize;
    assert_eq!(revealed["evidence"][0]["source"], "input");
    assert_eq!(revealed["evidence"][0]["text"], &stored.input_text[span]);
    assert_eq!(revealed["masked_evidence"], target.evidence.as_str());
    let rows = it.audit_rows("POST /api/v1/violations/{id}/reveal").await;
    let row = rows.last().unwrap();
    assert_eq!(row.status, 200);
    assert_eq!(row.target, format!("violation {}", target.id));
    assert_eq!(
        row.detail.as_deref(),
        Some("reason: case 42: data-loss review")
    );
    assert_eq!(
        rows.iter().filter(|r| r.status == 200).count(),
        1,
        "one audit row per reveal"
    );

    // An admin may reveal; an operator may not; another project's token finds nothing.
    let admin = it.token(Role::Admin, &[]).await;
    let (status, _) = it
        .call(
            reqwest::Method::POST,
            &path,
            Some(&admin),
            Some(json!({"reason": "audit"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let operator = it.token(Role::Operator, &[]).await;
    let (status, _) = it
        .call(
            reqwest::Method::POST,
            &path,
            Some(&operator),
            Some(json!({"reason": "audit"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let scoped = it.other_project_token().await;
    let (status, hidden) = it
        .call(
            reqwest::Method::POST,
            &path,
            Some(&scoped),
            Some(json!({"reason": "audit"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{hidden}");
    let unknown = uuid::Uuid::new_v4();
    let (_, missing) = it
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/violations/{unknown}/reveal"),
            Some(&scoped),
            Some(json!({"reason": "audit"})),
        )
        .await;
    assert_eq!(
        hidden["error"]["message"]
            .as_str()
            .unwrap()
            .replace(&target.id.to_string(), "ID"),
        missing["error"]["message"]
            .as_str()
            .unwrap()
            .replace(&unknown.to_string(), "ID"),
    );
}

#[tokio::test]
async fn a_reveal_needs_a_reason_returns_the_unmasked_span_and_is_audited_with_it_on_postgres() {
    reveal(TestDb::postgres().await).await;
}

#[tokio::test]
async fn a_reveal_needs_a_reason_returns_the_unmasked_span_and_is_audited_with_it_on_sqlite() {
    reveal(TestDb::sqlite().await).await;
}

async fn access_events_match_sql(test: TestDb) {
    let it = planted(test).await;
    let db = &it.pipeline.test.db;
    let all = access_event::Entity::find()
        .order_by_desc(access_event::Column::EventTime)
        .order_by_desc(access_event::Column::Id)
        .all(db)
        .await
        .unwrap();
    assert!(all.len() > 2, "the pull path stored the activity feed");
    let listed = it
        .walk_list("/api/v1/access-events?", &it.investigator)
        .await;
    assert_eq!(
        ids(&listed),
        all.iter().map(|a| a.id.to_string()).collect::<Vec<_>>()
    );
    let sample = all
        .iter()
        .find(|a| a.actor_email.is_some() && a.ip_address.is_some())
        .expect("an activity of a user with an IP address");
    let email = sample.actor_email.clone().unwrap();
    let (from, to): (DateTime<Utc>, DateTime<Utc>) = (
        sample.event_time - TimeDelta::hours(2),
        sample.event_time + TimeDelta::minutes(1),
    );
    let expected: Vec<String> = all
        .iter()
        .filter(|a| a.actor_email.as_deref() == Some(email.as_str()))
        .filter(|a| a.activity_type == sample.activity_type)
        .filter(|a| a.event_time >= from && a.event_time < to)
        .map(|a| a.id.to_string())
        .collect();
    let got = it
        .walk_list(
            &format!(
                "/api/v1/access-events?actor_email={}&activity_type={}&from={}&to={}&",
                encoded(&email),
                encoded(&sample.activity_type),
                encoded(&from.to_rfc3339()),
                encoded(&to.to_rfc3339())
            ),
            &it.investigator,
        )
        .await;
    assert_eq!(ids(&got), expected);
    let ip = sample.ip_address.clone().unwrap();
    let by_ip = it
        .walk_list(
            &format!("/api/v1/access-events?ip_address={}&", encoded(&ip)),
            &it.investigator,
        )
        .await;
    assert_eq!(
        ids(&by_ip),
        all.iter()
            .filter(|a| a.ip_address.as_deref() == Some(ip.as_str()))
            .map(|a| a.id.to_string())
            .collect::<Vec<_>>()
    );
    if let Some(user_id) = &sample.actor_user_id {
        let by_user = it
            .walk_list(
                &format!("/api/v1/access-events?actor_user_id={}&", encoded(user_id)),
                &it.investigator,
            )
            .await;
        assert!(!by_user.is_empty());
        assert!(by_user
            .iter()
            .all(|a| a["actor_user_id"] == user_id.as_str()));
    }
    let (status, detail) = it
        .get(
            &format!("/api/v1/access-events/{}", sample.id),
            &it.investigator,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(detail["activity_id"], sample.activity_id.as_str());
    assert_eq!(detail["record"], sample.record);
    let (status, body) = it
        .get("/api/v1/access-events?ip=1.2.3.4", &it.investigator)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["field"], "ip");
}

#[tokio::test]
async fn access_events_are_searched_by_actor_type_time_and_ip_exactly_as_sql_finds_them_on_postgres(
) {
    access_events_match_sql(TestDb::postgres().await).await;
}

#[tokio::test]
async fn access_events_are_searched_by_actor_type_time_and_ip_exactly_as_sql_finds_them_on_sqlite()
{
    access_events_match_sql(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn a_project_scoped_token_never_sees_another_projects_sessions_alerts_issues_or_access_events(
) {
    let it = planted(TestDb::postgres().await).await;
    let db = &it.pipeline.test.db;
    let scoped = it.other_project_token().await;
    for list in ["sessions", "alerts", "issues", "access-events"] {
        let (status, page) = it.get(&format!("/api/v1/{list}"), &it.investigator).await;
        assert_eq!(status, StatusCode::OK, "{list}: {page}");
        assert!(!page["items"].as_array().unwrap().is_empty(), "{list}");
        let (status, page) = it.get(&format!("/api/v1/{list}"), &scoped).await;
        assert_eq!(status, StatusCode::OK, "{list}: {page}");
        assert_eq!(page["items"], json!([]), "{list}");
        // Naming the other project's integration by hand changes nothing.
        let (_, page) = it
            .get(
                &format!(
                    "/api/v1/{list}?integration_id={}",
                    it.pipeline.integration_id
                ),
                &scoped,
            )
            .await;
        assert_eq!(page["items"], json!([]), "{list}");
    }
    let session = session::Entity::find().one(db).await.unwrap().unwrap();
    let issue = issue::Entity::find().one(db).await.unwrap().unwrap();
    let access = access_event::Entity::find().one(db).await.unwrap().unwrap();
    for (list, hidden_id, absent_id) in [
        ("sessions", session.id.clone(), "999:none".to_owned()),
        ("issues", issue.id.to_string(), "999999".to_owned()),
        ("access-events", access.id.to_string(), "999999".to_owned()),
    ] {
        let path = format!("/api/v1/{list}/{hidden_id}");
        let (status, hidden) = it.get(&path, &scoped).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {hidden}");
        let (status, missing) = it
            .get(&format!("/api/v1/{list}/{absent_id}"), &scoped)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{list}: {missing}");
        assert_eq!(
            hidden["error"]["message"]
                .as_str()
                .unwrap()
                .replace(&hidden_id, "ID"),
            missing["error"]["message"]
                .as_str()
                .unwrap()
                .replace(&absent_id, "ID"),
            "outside the scope reads exactly like absent: {path}"
        );
        let (status, _) = it.get(&path, &it.investigator).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    // Changes by guessed id are 404s that change nothing.
    let issue_path = format!("/api/v1/issues/{}", issue.id);
    for (method, suffix, body) in [
        (
            reqwest::Method::POST,
            "/status",
            json!({"status": "resolved"}),
        ),
        (reqwest::Method::PUT, "/assignee", json!({"assignee": "x"})),
        (reqwest::Method::POST, "/comments", json!({"body": "x"})),
    ] {
        let (status, answer) = it
            .call(
                method,
                &format!("{issue_path}{suffix}"),
                Some(&scoped),
                Some(body),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{suffix}: {answer}");
    }
    let after = issue::Entity::find_by_id(issue.id)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after, issue);
    assert_eq!(
        logwarden_entities::issue_comment::Entity::find()
            .all(db)
            .await
            .unwrap(),
        []
    );
}
