//! The database sink with chunks larger than one statement holds: every row stored once,
//! reruns change nothing, alerts group into issues, a new verdict replaces the old one.

use chrono::{DateTime, TimeDelta, Utc};
use logwarden::ingest::sink::{DbSink, StoredFinding};
use logwarden_entities::{alert, issue};
use logwarden_fake_api::FakeConfig;
use logwarden_jobs::pairing::{prompt_event_id, PromptEvent, TokenEstimate};
use logwarden_jobs::source::{EvaluatedEvent, EventSink, IngestChunk};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::helpers::{day, Pipeline, TestDb};

/// More events than one statement of any table takes (the widest, events, fits 1,200).
const EVENTS: usize = 4_000;
const USERS: usize = 3;

fn event(i: usize, at: DateTime<Utc>) -> PromptEvent {
    let user_message_id = format!("msg_{i:06}");
    PromptEvent {
        id: prompt_event_id(&user_message_id),
        chat_id: format!("chat_{:04}", i / 10),
        user_message_id,
        response_message_ids: Vec::new(),
        user_id: format!("user_{}", i % USERS),
        user_email: format!("user{}@example.com", i % USERS),
        model: None,
        project_id: None,
        input_text: format!("my card is 4111 1111 1111 {i:04}"),
        output_text: String::new(),
        tool_calls: Vec::new(),
        tool_results: Vec::new(),
        attachments: Vec::new(),
        artifacts: Vec::new(),
        event_time: at,
        responded_at: None,
        complete: false,
        tokens: TokenEstimate::default(),
    }
}

fn card_finding() -> StoredFinding {
    StoredFinding {
        policy: "pii".into(),
        rule: "credit_card".into(),
        direction: "input".into(),
        span_start: 11,
        span_end: 30,
        evidence: "4111 **** **** ****".into(),
        severity: "high".into(),
        configured_action: "block".into(),
        effective_action: "alert".into(),
    }
}

/// `EVENTS` events a second apart from `start`, with message ids numbered from `first_id`
/// and the findings `findings` gives each, plus one event
/// repeated (a chunk may carry an event twice; the last copy wins).
fn chunk(
    start: DateTime<Utc>,
    first_id: usize,
    findings: impl Fn(usize) -> Vec<StoredFinding>,
) -> IngestChunk<StoredFinding> {
    let mut events: Vec<EvaluatedEvent<StoredFinding>> = (0..EVENTS)
        .map(|i| EvaluatedEvent {
            event: event(first_id + i, start + TimeDelta::seconds(i as i64)),
            findings: Some(findings(i)),
            tags: vec!["No Injection".into()],
        })
        .collect();
    events.push(events[7].clone());
    IngestChunk {
        access_events: Vec::new(),
        events,
        sessions: Vec::new(),
    }
}

async fn sink_holds_large_chunks(test: TestDb) {
    let pipeline = Pipeline::start_with(test, FakeConfig::default(), day(), |_| {}).await;
    let sink = DbSink {
        db: pipeline.test.db.clone(),
        integration_id: pipeline.integration_id,
        project_id: 1,
        policy_set_version: Some(1),
        issue_window: TimeDelta::hours(24),
    };
    let every = |_| vec![card_finding()];

    for _ in 0..2 {
        sink.persist(chunk(day(), 0, every)).await.expect("persist");
        assert_eq!(pipeline.count("events").await, EVENTS as i64);
        assert_eq!(pipeline.count("violations").await, EVENTS as i64);
        assert_eq!(pipeline.count("alerts").await, EVENTS as i64);
        let issues = issue::Entity::find()
            .order_by_asc(issue::Column::UserId)
            .all(&pipeline.test.db)
            .await
            .unwrap();
        let counts: Vec<(String, i64)> = issues
            .iter()
            .map(|i| (i.user_id.clone(), i.alert_count))
            .collect();
        assert_eq!(
            counts,
            [
                ("user_0".into(), 1334),
                ("user_1".into(), 1333),
                ("user_2".into(), 1333)
            ],
            "one issue per user, counting each alert once however often the chunk is stored"
        );
        assert_eq!(issues[0].first_seen_at, day());
        assert_eq!(
            issues[0].last_seen_at,
            day() + TimeDelta::seconds((EVENTS - 1) as i64)
        );
    }

    // A new verdict: the first half of the events is clean now.
    let half = |i| {
        if i < EVENTS / 2 {
            Vec::new()
        } else {
            vec![card_finding()]
        }
    };
    sink.persist(chunk(day(), 0, half)).await.expect("persist");
    assert_eq!(pipeline.count("violations").await, (EVENTS / 2) as i64);
    assert_eq!(pipeline.count("alerts").await, (EVENTS / 2) as i64);

    // Two days later is outside the issue window: each user gets a second issue.
    sink.persist(chunk(day() + TimeDelta::days(2), EVENTS, every))
        .await
        .expect("persist");
    assert_eq!(pipeline.count("issues").await, 2 * USERS as i64);
    assert_eq!(pipeline.count("alerts").await, (EVENTS / 2 + EVENTS) as i64);

    // One user's alerts three days apart in one chunk open two issues.
    let apart = [5, 8].map(|days| EvaluatedEvent {
        event: event(3 * EVENTS + days, day() + TimeDelta::days(days as i64)),
        findings: Some(vec![card_finding()]),
        tags: Vec::new(),
    });
    sink.persist(IngestChunk {
        access_events: Vec::new(),
        events: apart.to_vec(),
        sessions: Vec::new(),
    })
    .await
    .expect("persist");
    let user = apart[0].event.user_id.clone();
    let opened: Vec<(i64, DateTime<Utc>)> = issue::Entity::find()
        .filter(issue::Column::UserId.eq(user))
        .filter(issue::Column::FirstSeenAt.gte(day() + TimeDelta::days(5)))
        .order_by_asc(issue::Column::FirstSeenAt)
        .all(&pipeline.test.db)
        .await
        .unwrap()
        .into_iter()
        .map(|i| (i.alert_count, i.first_seen_at))
        .collect();
    assert_eq!(
        opened,
        [
            (1, day() + TimeDelta::days(5)),
            (1, day() + TimeDelta::days(8))
        ]
    );

    // Every issue opened since holds exactly the alerts of its own user.
    let issues = issue::Entity::find()
        .filter(issue::Column::FirstSeenAt.gte(day() + TimeDelta::days(2)))
        .all(&pipeline.test.db)
        .await
        .unwrap();
    assert_eq!(issues.len(), USERS + 2);
    for opened in issues {
        let alerts = alert::Entity::find()
            .filter(alert::Column::IssueId.eq(opened.id))
            .all(&pipeline.test.db)
            .await
            .unwrap();
        assert_eq!(alerts.len() as i64, opened.alert_count, "{opened:?}");
        assert!(
            alerts.iter().all(|a| a.user_id == opened.user_id),
            "{opened:?}"
        );
    }
}

#[tokio::test]
async fn a_chunk_larger_than_one_statement_is_stored_once_and_replaced_whole_on_postgres() {
    sink_holds_large_chunks(TestDb::postgres().await).await;
}

#[tokio::test]
async fn a_chunk_larger_than_one_statement_is_stored_once_and_replaced_whole_on_sqlite() {
    sink_holds_large_chunks(TestDb::sqlite().await).await;
}
