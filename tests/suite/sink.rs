//! The database sink with chunks larger than one statement holds: every row stored once,
//! reruns change nothing, alerts group into issues, a new verdict replaces the old one.

use chrono::{DateTime, TimeDelta, Utc};
use logwarden::ingest::sink::{
    stored_event_id, stored_session_id, DbSink, StoredFinding, SUPERSEDED,
};
use logwarden_entities::issue::IssueStatus;
use logwarden_entities::{alert, event, issue, session, violation};
use logwarden_fake_api::FakeConfig;
use logwarden_jobs::checkpoint::Progress;
use logwarden_jobs::ingest::run_ingest_window;
use logwarden_jobs::pairing::{
    pair_chat, prompt_event_id, ChatTranscript, MessageRole, PromptEvent, SessionSummary,
    TokenEstimate, TranscriptMessage,
};
use logwarden_jobs::retry::JobError;
use logwarden_jobs::source::{
    ActivityRecord, ActivitySource, ChatRef, ChatSource, EvaluatedEvent, Evaluator, EventSink,
    Fetched, IngestChunk, Page, ResponseMeta, SideTags, Verdict,
};
use logwarden_jobs::window::Window;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};

use crate::helpers::{day, Pipeline, TestDb};
use crate::on_both_backends;

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
        source_updated_at: at,
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
            side_tags: SideTags {
                input: vec!["No Injection".into()],
                ..SideTags::default()
            },
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

    // A new verdict: the first half of the events is clean now. Their violations are
    // superseded and their alerts closed as such; nothing is deleted.
    let half = |i| {
        if i < EVENTS / 2 {
            Vec::new()
        } else {
            vec![card_finding()]
        }
    };
    sink.persist(chunk(day(), 0, half)).await.expect("persist");
    assert_eq!(pipeline.count("violations").await, EVENTS as i64);
    let standing = violation::Entity::find()
        .filter(violation::Column::SupersededAt.is_null())
        .count(&pipeline.test.db)
        .await
        .unwrap();
    assert_eq!(standing, (EVENTS / 2) as u64);
    assert_eq!(pipeline.count("alerts").await, EVENTS as i64);
    let closed = alert::Entity::find()
        .filter(alert::Column::CloseReason.eq(SUPERSEDED))
        .filter(alert::Column::ClosedAt.is_not_null())
        .count(&pipeline.test.db)
        .await
        .unwrap();
    assert_eq!(closed, (EVENTS / 2) as u64);

    // Two days later: the alerts join each user's one open issue.
    sink.persist(chunk(day() + TimeDelta::days(2), EVENTS, every))
        .await
        .expect("persist");
    assert_eq!(pipeline.count("issues").await, USERS as i64);
    assert_eq!(pipeline.count("alerts").await, (2 * EVENTS) as i64);
    let issues = issue::Entity::find().all(&pipeline.test.db).await.unwrap();
    for open in issues {
        let alerts = alert::Entity::find()
            .filter(alert::Column::IssueId.eq(open.id))
            .all(&pipeline.test.db)
            .await
            .unwrap();
        assert_eq!(alerts.len() as i64, open.alert_count, "{open:?}");
        assert!(alerts.iter().all(|a| a.user_id == open.user_id), "{open:?}");
        assert_eq!(
            open.last_seen_at,
            alerts.iter().map(|a| a.event_time).max().unwrap()
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

/// A sink on its own database, with one integration (alerts need its row).
async fn sink_on(test: TestDb) -> (Pipeline, DbSink) {
    let pipeline = Pipeline::start_with(test, FakeConfig::default(), day(), |_| {}).await;
    let sink = DbSink {
        db: pipeline.test.db.clone(),
        integration_id: pipeline.integration_id,
        project_id: 1,
        policy_set_version: Some(1),
    };
    (pipeline, sink)
}

fn one(event: PromptEvent, findings: Vec<StoredFinding>) -> IngestChunk<StoredFinding> {
    IngestChunk {
        access_events: Vec::new(),
        events: vec![EvaluatedEvent {
            event,
            findings: Some(findings),
            tags: Vec::new(),
            side_tags: SideTags::default(),
        }],
        sessions: Vec::new(),
    }
}

async fn a_copy_of_a_chat_older_than_the_stored_one_changes_nothing(test: TestDb) {
    let (pipeline, sink) = sink_on(test).await;
    let db = &pipeline.test.db;
    // A backfill buffered the chat mid-generation; a sync then stored the whole response,
    // whose output raised an alert.
    let mut buffered = event(1, day());
    buffered.source_updated_at = day() + TimeDelta::seconds(10);
    let mut complete = buffered.clone();
    complete.source_updated_at = day() + TimeDelta::seconds(30);
    complete.output_text = "the card 4111 1111 1111 1111".into();
    complete.complete = true;
    complete.responded_at = Some(day() + TimeDelta::seconds(20));
    let mut output_finding = card_finding();
    output_finding.direction = "output".into();
    sink.persist(one(complete.clone(), vec![output_finding]))
        .await
        .unwrap();

    // The batch commits last.
    sink.persist(one(buffered, Vec::new())).await.unwrap();

    let stored = event::Entity::find_by_id(stored_event_id(pipeline.integration_id, complete.id))
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert!(stored.complete);
    assert_eq!(stored.output_text, complete.output_text);
    let violations = violation::Entity::find().all(db).await.unwrap();
    assert_eq!(violations.len(), 1);
    assert_eq!(violations[0].superseded_at, None);
    let alerts = alert::Entity::find().all(db).await.unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].closed_at, None);

    // The same copy again (at-least-once delivery) leaves the same rows.
    sink.persist(one(complete, vec![card_finding_on("output")]))
        .await
        .unwrap();
    assert_eq!(pipeline.count("alerts").await, 1);
    assert_eq!(pipeline.count("issues").await, 1);
}

fn card_finding_on(direction: &str) -> StoredFinding {
    StoredFinding {
        direction: direction.into(),
        ..card_finding()
    }
}

async fn an_alert_a_newer_evaluation_no_longer_raises_is_closed_as_superseded_and_kept(
    test: TestDb,
) {
    let (pipeline, sink) = sink_on(test).await;
    let db = &pipeline.test.db;
    let mut first = event(1, day());
    first.source_updated_at = day();
    sink.persist(one(first.clone(), vec![card_finding()]))
        .await
        .unwrap();
    let mut edited = first.clone();
    edited.source_updated_at = day() + TimeDelta::minutes(5);
    edited.input_text = "nothing to see".into();

    sink.persist(one(edited, Vec::new())).await.unwrap();

    let alerts = alert::Entity::find().all(db).await.unwrap();
    assert_eq!(alerts.len(), 1, "the alert stays visible");
    assert!(alerts[0].closed_at.is_some());
    assert_eq!(alerts[0].close_reason.as_deref(), Some(SUPERSEDED));
    let violations = violation::Entity::find().all(db).await.unwrap();
    assert_eq!(violations.len(), 1);
    assert!(violations[0].superseded_at.is_some());
    let stored = event::Entity::find_by_id(stored_event_id(pipeline.integration_id, first.id))
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.violation_summary["total"], 0);
}

async fn two_writers_at_once_never_open_two_issues_for_one_user_and_policy(test: TestDb) {
    let (pipeline, sink) = sink_on(test).await;
    // Two events of one user (USERS apart), stored by two jobs at the same time.
    let first = event(0, day());
    let second = event(USERS, day() + TimeDelta::minutes(1));
    assert_eq!(first.user_id, second.user_id);

    let (a, b) = tokio::join!(
        sink.persist(one(first, vec![card_finding()])),
        sink.persist(one(second, vec![card_finding()])),
    );
    a.unwrap();
    b.unwrap();

    let issues = issue::Entity::find().all(&pipeline.test.db).await.unwrap();
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(issues[0].status, IssueStatus::Open);
    assert_eq!(issues[0].alert_count, 2);
    assert_eq!(issues[0].first_seen_at, day());
    assert_eq!(issues[0].last_seen_at, day() + TimeDelta::minutes(1));
}

/// A chunk of one event with a card number for each of `users` users, a second apart, the
/// users in the order `user_of` gives.
fn one_alert_per_user(
    first_id: usize,
    users: usize,
    user_of: impl Fn(usize) -> usize,
) -> IngestChunk<StoredFinding> {
    let events = (0..users)
        .map(|k| {
            let mut e = event(first_id + k, day() + TimeDelta::seconds(k as i64));
            e.user_id = format!("many_{}", user_of(k));
            e.user_email = format!("many{}@example.com", user_of(k));
            EvaluatedEvent {
                event: e,
                findings: Some(vec![card_finding()]),
                tags: Vec::new(),
                side_tags: SideTags::default(),
            }
        })
        .collect();
    IngestChunk {
        access_events: Vec::new(),
        events,
        sessions: Vec::new(),
    }
}

/// Two jobs storing at once the alerts of the same users, met in opposite orders, take the
/// issue rows' locks in one order and so never deadlock.
async fn two_writers_raising_alerts_for_the_same_users_in_opposite_orders_both_commit(
    test: TestDb,
) {
    const USERS_AT_ONCE: usize = 40;
    const ROUNDS: usize = 5;
    let (pipeline, sink) = sink_on(test).await;
    for round in 0..ROUNDS {
        let first_id = 100_000 + round * 2 * USERS_AT_ONCE;
        let (a, b) = tokio::join!(
            sink.persist(one_alert_per_user(first_id, USERS_AT_ONCE, |k| k)),
            sink.persist(one_alert_per_user(
                first_id + USERS_AT_ONCE,
                USERS_AT_ONCE,
                |k| USERS_AT_ONCE - 1 - k
            )),
        );
        a.unwrap_or_else(|err| panic!("round {round}, first writer: {err}"));
        b.unwrap_or_else(|err| panic!("round {round}, second writer: {err}"));
    }
    let issues = issue::Entity::find().all(&pipeline.test.db).await.unwrap();
    assert_eq!(issues.len(), USERS_AT_ONCE, "{issues:?}");
    for issue in &issues {
        assert_eq!(issue.alert_count, (2 * ROUNDS) as i64, "{issue:?}");
    }
}

#[tokio::test]
async fn two_writers_raising_alerts_for_the_same_users_in_opposite_orders_both_commit_on_postgres()
{
    two_writers_raising_alerts_for_the_same_users_in_opposite_orders_both_commit(
        TestDb::postgres().await,
    )
    .await;
}

on_both_backends!(
    one_new_message_in_a_long_chat_costs_one_evaluation_and_one_written_event,
    a_deleted_chat_keeps_its_session_and_records_when_it_was_deleted,
    a_copy_of_a_chat_older_than_the_stored_one_changes_nothing,
    an_alert_a_newer_evaluation_no_longer_raises_is_closed_as_superseded_and_kept,
    two_writers_at_once_never_open_two_issues_for_one_user_and_policy,
    a_reevaluation_pages_through_events_sharing_one_time_and_evaluates_each_once,
);

fn chat_message(id: &str, role: MessageRole, at: DateTime<Utc>, text: &str) -> TranscriptMessage {
    TranscriptMessage {
        id: id.into(),
        role,
        created_at: at,
        text: text.into(),
        tool_calls: Vec::new(),
        tool_results: Vec::new(),
        files: Vec::new(),
        artifacts: Vec::new(),
    }
}

fn sessions_only(session: SessionSummary) -> IngestChunk<StoredFinding> {
    IngestChunk {
        access_events: Vec::new(),
        events: Vec::new(),
        sessions: vec![session],
    }
}

async fn a_deleted_chat_keeps_its_session_and_records_when_it_was_deleted(test: TestDb) {
    let (pipeline, sink) = sink_on(test).await;
    let db = &pipeline.test.db;
    let mut chat = ChatTranscript {
        chat_id: "claude_chat_q3".into(),
        title: "Quarterly numbers".into(),
        user_id: "user_1".into(),
        user_email: "analyst@example.com".into(),
        model: Some("claude-sonnet-4".into()),
        project_id: None,
        created_at: day(),
        updated_at: day() + TimeDelta::minutes(3),
        deleted: false,
        deleted_at: None,
        messages: vec![
            chat_message("m1", MessageRole::User, day(), "hello"),
            chat_message(
                "m2",
                MessageRole::Assistant,
                day() + TimeDelta::minutes(1),
                "hi",
            ),
            chat_message(
                "m3",
                MessageRole::User,
                day() + TimeDelta::minutes(2),
                "more",
            ),
        ],
    };
    let before = pair_chat(&chat).session;
    sink.persist(sessions_only(before.clone())).await.unwrap();

    // The user deletes the chat: the API delivers it without content.
    let deleted_at = day() + TimeDelta::hours(1);
    chat.title = String::new();
    chat.messages.clear();
    chat.deleted = true;
    chat.deleted_at = Some(deleted_at);
    chat.updated_at = deleted_at;
    let deleted = pair_chat(&chat).session;
    sink.persist(sessions_only(deleted)).await.unwrap();

    let stored =
        session::Entity::find_by_id(stored_session_id(pipeline.integration_id, &before.chat_id))
            .one(db)
            .await
            .unwrap()
            .unwrap();
    assert!(stored.deleted);
    assert_eq!(stored.deleted_at, Some(deleted_at));
    assert_eq!(stored.title, "Quarterly numbers");
    assert_eq!(stored.message_count, 3);
    assert_eq!(stored.event_count, 2);
    assert_eq!(stored.first_event_at, Some(day()));
    assert_eq!(stored.last_event_at, Some(day() + TimeDelta::minutes(2)));
    assert_eq!(stored.chat_updated_at, deleted_at);
}

/// The Compliance API reduced to one chat, which the test grows between runs.
struct OneChat {
    chat: std::sync::Mutex<ChatTranscript>,
}

fn page<T>(items: Vec<T>) -> Page<T> {
    Page {
        items,
        first_id: None,
        last_id: None,
        has_more: false,
        meta: ResponseMeta::default(),
    }
}

impl ActivitySource for OneChat {
    async fn activities_page(
        &self,
        _window: Window,
        _after_id: Option<&str>,
    ) -> Result<Page<ActivityRecord>, JobError> {
        Ok(page(Vec::new()))
    }
}

impl ChatSource for OneChat {
    async fn chats_page(
        &self,
        _window: Window,
        _after_id: Option<&str>,
    ) -> Result<Page<ChatRef>, JobError> {
        let chat = self.chat.lock().unwrap();
        Ok(page(vec![ChatRef {
            id: chat.chat_id.clone(),
            updated_at: chat.updated_at,
        }]))
    }

    async fn transcript(&self, _chat: &ChatRef) -> Result<Fetched<ChatTranscript>, JobError> {
        Ok(Fetched {
            value: self.chat.lock().unwrap().clone(),
            meta: ResponseMeta::default(),
        })
    }
}

/// The integration's installed policy set, counting the events it evaluates.
struct Counting {
    inner: logwarden::ingest::evaluators::AppEvaluator,
    evaluated: std::sync::atomic::AtomicUsize,
}

impl Evaluator for Counting {
    type Finding = StoredFinding;

    fn policy_set_version(&self) -> Option<i32> {
        self.inner.policy_set_version()
    }

    fn evaluate(&self, event: &PromptEvent) -> Result<Option<Verdict<StoredFinding>>, JobError> {
        self.evaluated
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.evaluate(event)
    }
}

async fn one_new_message_in_a_long_chat_costs_one_evaluation_and_one_written_event(test: TestDb) {
    const TURNS: usize = 600;
    let (pipeline, mut sink) = sink_on(test).await;
    let db = &pipeline.test.db;
    let inner = logwarden::ingest::evaluators::EvaluatorProvider::default()
        .for_integration(db, pipeline.integration_id)
        .await
        .unwrap();
    sink.policy_set_version = inner.version();
    let evaluator = Counting {
        inner,
        evaluated: Default::default(),
    };
    let second = |n: usize| day() + TimeDelta::seconds(n as i64);
    let mut messages = Vec::new();
    for turn in 0..TURNS {
        messages.push(chat_message(
            &format!("u{turn}"),
            MessageRole::User,
            second(2 * turn),
            &format!("step {turn}: please check the deployment log"),
        ));
        messages.push(chat_message(
            &format!("a{turn}"),
            MessageRole::Assistant,
            second(2 * turn + 1),
            "done, nothing unusual",
        ));
    }
    let source = OneChat {
        chat: std::sync::Mutex::new(ChatTranscript {
            chat_id: "claude_chat_agent".into(),
            title: "Agent session".into(),
            user_id: "user_1".into(),
            user_email: "ops@example.com".into(),
            model: None,
            project_id: None,
            created_at: day(),
            updated_at: second(2 * TURNS),
            deleted: false,
            deleted_at: None,
            messages,
        }),
    };
    let window = Window {
        start: day(),
        end: day() + TimeDelta::days(1),
    };
    let chunk = std::num::NonZeroUsize::new(200).unwrap();
    let evaluated = || {
        evaluator
            .evaluated
            .swap(0, std::sync::atomic::Ordering::Relaxed)
    };
    let written_since = |mark: DateTime<Utc>| async move {
        event::Entity::find()
            .filter(event::Column::UpdatedAt.gte(mark))
            .count(db)
            .await
            .unwrap()
    };

    let report = run_ingest_window(
        window,
        &source,
        &sink,
        &evaluator,
        chunk,
        &Progress::default(),
    )
    .await
    .unwrap();
    assert_eq!(evaluated(), TURNS);
    assert_eq!(report.events_evaluated, TURNS as u64);
    assert_eq!(pipeline.count("events").await, TURNS as i64);

    // The user sends one more message.
    {
        let mut chat = source.chat.lock().unwrap();
        chat.messages.push(chat_message(
            "u_last",
            MessageRole::User,
            second(2 * TURNS + 10),
            "one more thing",
        ));
        chat.updated_at = second(2 * TURNS + 10);
    }
    let mark = Utc::now();
    let report = run_ingest_window(
        window,
        &source,
        &sink,
        &evaluator,
        chunk,
        &Progress::default(),
    )
    .await
    .unwrap();
    assert_eq!(evaluated(), 1, "one new message, one evaluation");
    assert_eq!(report.events_evaluated, 1);
    assert_eq!(
        report.events,
        TURNS as u64 + 1,
        "every event is still accounted"
    );
    assert_eq!(
        written_since(mark).await,
        1,
        "one new message, one written event"
    );
    assert_eq!(pipeline.count("events").await, TURNS as i64 + 1);

    // Its response arrives: again one evaluation and one write, of that event.
    {
        let mut chat = source.chat.lock().unwrap();
        chat.messages.push(chat_message(
            "a_last",
            MessageRole::Assistant,
            second(2 * TURNS + 20),
            "noted",
        ));
        chat.updated_at = second(2 * TURNS + 20);
    }
    let mark = Utc::now();
    run_ingest_window(
        window,
        &source,
        &sink,
        &evaluator,
        chunk,
        &Progress::default(),
    )
    .await
    .unwrap();
    assert_eq!(evaluated(), 1);
    assert_eq!(written_since(mark).await, 1);
    let last = event::Entity::find()
        .filter(event::Column::UserMessageId.eq("u_last"))
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert!(last.complete);
    assert_eq!(last.output_text, "noted");

    // Nothing changed: nothing evaluated, nothing written.
    let mark = Utc::now();
    run_ingest_window(
        window,
        &source,
        &sink,
        &evaluator,
        chunk,
        &Progress::default(),
    )
    .await
    .unwrap();
    assert_eq!(evaluated(), 0);
    assert_eq!(written_since(mark).await, 0);
}

/// Stores 1,300 events in two runs of 650 that share one event time each (a page of the
/// re-evaluation holds 500, so pages start and end inside a run of equal times), then
/// re-evaluates the window: every event is evaluated exactly once.
async fn a_reevaluation_pages_through_events_sharing_one_time_and_evaluates_each_once(
    test: TestDb,
) {
    const RUN: usize = 650;
    let (pipeline, mut sink) = sink_on(test).await;
    let db = &pipeline.test.db;
    let events: Vec<EvaluatedEvent<StoredFinding>> = (0..2 * RUN)
        .map(|i| EvaluatedEvent {
            event: event(i, day() + TimeDelta::minutes((i / RUN) as i64)),
            findings: Some(Vec::new()),
            tags: Vec::new(),
            side_tags: Default::default(),
        })
        .collect();
    sink.persist(IngestChunk {
        access_events: Vec::new(),
        events,
        sessions: Vec::new(),
    })
    .await
    .expect("persist");
    assert_eq!(pipeline.count("events").await, (2 * RUN) as i64);

    let inner = logwarden::ingest::evaluators::EvaluatorProvider::default()
        .for_integration(db, pipeline.integration_id)
        .await
        .unwrap();
    sink.policy_set_version = inner.version();
    let evaluator = Counting {
        inner,
        evaluated: Default::default(),
    };
    let window = Window {
        start: day(),
        end: day() + TimeDelta::hours(1),
    };
    let report = logwarden::ingest::reevaluate::reevaluate_window(&sink, window, &evaluator)
        .await
        .unwrap();
    assert_eq!(report.events, (2 * RUN) as u64);
    assert_eq!(
        evaluator
            .evaluated
            .load(std::sync::atomic::Ordering::Relaxed),
        2 * RUN,
        "no event skipped or evaluated twice across the page boundaries"
    );
    assert_eq!(report.completeness.records, (2 * RUN) as u64);
}
