//! Migrations and connections on both backends.

use logwarden::infra::secret::Secret;
use sea_orm::{ConnectionTrait, Statement};

use crate::helpers::{postgres_url, unique_name, TestDb};

async fn table_count(db: &sea_orm::DatabaseConnection, sql: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            sql.to_owned(),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

#[tokio::test]
async fn migrations_create_the_whole_data_model_on_postgres() {
    let test = TestDb::postgres().await;
    let count = table_count(
        &test.db,
        &format!(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '{}' AND table_name IN ('projects','data_planes','integrations','backfills','jobs','job_attempts','events','access_events','sessions','violations','alerts','issues','policy_sets','api_tokens')",
            test.schema
        ),
    )
    .await;
    assert_eq!(count, 14);
}

#[tokio::test]
async fn migrations_create_the_whole_data_model_on_sqlite() {
    let test = TestDb::sqlite().await;
    let count = table_count(
        &test.db,
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN ('projects','data_planes','integrations','backfills','jobs','job_attempts','events','access_events','sessions','violations','alerts','issues','policy_sets','api_tokens')",
    )
    .await;
    assert_eq!(count, 14);
}

#[tokio::test]
async fn processes_migrating_at_once_apply_each_migration_exactly_once() {
    let schema = unique_name("t");
    let base = Secret::new(postgres_url());
    let admin = logwarden::store::connect(&base).await.unwrap();
    admin
        .execute_unprepared(&format!("CREATE SCHEMA {schema}"))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let base = base.clone();
        let schema = schema.clone();
        tasks.push(tokio::spawn(async move {
            let db = logwarden::store::connect_with(&base, Some(&schema)).await?;
            logwarden::store::migrate(&db).await
        }));
    }
    for task in tasks {
        task.await
            .unwrap()
            .expect("every concurrent migrate succeeds");
    }
    let applied = table_count(
        &admin,
        &format!("SELECT COUNT(*) FROM {schema}.seaql_migrations"),
    )
    .await;
    assert_eq!(
        applied as usize,
        <logwarden_migrations::Migrator as logwarden_migrations::MigratorTrait>::migrations().len()
    );
}

/// A database of this test's own with the migrations before `name` applied only.
async fn migrated_until(postgres: bool, name: &str) -> sea_orm::DatabaseConnection {
    use logwarden_migrations::{Migrator, MigratorTrait};
    let db = if postgres {
        let schema = unique_name("t");
        let base = Secret::new(postgres_url());
        let admin = logwarden::store::connect(&base).await.unwrap();
        admin
            .execute_unprepared(&format!("CREATE SCHEMA {schema}"))
            .await
            .unwrap();
        logwarden::store::connect_with(&base, Some(&schema))
            .await
            .unwrap()
    } else {
        let dir = std::env::temp_dir().join(unique_name("lw"));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.join("logwarden.db").display());
        logwarden::store::connect(&Secret::new(url)).await.unwrap()
    };
    let before = Migrator::migrations()
        .iter()
        .position(|m| m.name() == name)
        .expect("the migration exists");
    Migrator::up(&db, Some(before as u32)).await.unwrap();
    db
}

async fn rows_stored_before_ids_per_integration_get_the_ids_the_sink_derives(postgres: bool) {
    use chrono::TimeDelta;
    use logwarden::ingest::sink::{stored_event_id, stored_session_id, DbSink, StoredFinding};
    use logwarden_entities::{alert, event, session, violation};
    use logwarden_jobs::pairing::{prompt_event_id, PromptEvent, TokenEstimate};
    use logwarden_jobs::source::{EvaluatedEvent, EventSink, IngestChunk};
    use sea_orm::{ActiveValue::Set, EntityTrait};

    let db = migrated_until(postgres, "m20261201_000022_ids_per_integration").await;
    let integration = crate::helpers::seed_integration(&db, "acme", "security", "default").await;
    let at = crate::helpers::day();
    let old_id = prompt_event_id("msg_legacy");
    let prompt = PromptEvent {
        id: old_id,
        chat_id: "claude_chat_legacy".into(),
        user_message_id: "msg_legacy".into(),
        response_message_ids: Vec::new(),
        user_id: "user_1".into(),
        user_email: "user1@example.com".into(),
        model: None,
        project_id: None,
        input_text: "my card is 4111 1111 1111 1111".into(),
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
    };
    let finding = StoredFinding {
        policy: "pii".into(),
        rule: "credit_card".into(),
        direction: "input".into(),
        span_start: 11,
        span_end: 30,
        evidence: "4111 **** **** ****".into(),
        severity: "high".into(),
        configured_action: "alert".into(),
        effective_action: "alert".into(),
    };
    // What the sink stored before: ids from the upstream ids alone.
    let old_violation = uuid::Uuid::new_v5(
        &uuid::Uuid::from_u128(0x6c77_6669_6e64_4e67_8000_0000_0000_0001),
        format!("{old_id}:pii:credit_card:input:11:30").as_bytes(),
    );
    event::Entity::insert(event::ActiveModel {
        id: Set(old_id),
        integration_id: Set(integration),
        project_id: Set(1),
        chat_id: Set(prompt.chat_id.clone()),
        user_message_id: Set(prompt.user_message_id.clone()),
        user_id: Set(prompt.user_id.clone()),
        user_email: Set(prompt.user_email.clone()),
        model: Set(None),
        provider: Set("ANTHROPIC_COMPLIANCE_API".into()),
        input_text: Set(prompt.input_text.clone()),
        output_text: Set(String::new()),
        tool_calls: Set(serde_json::json!([])),
        attachments: Set(serde_json::json!({})),
        prompt_tokens: Set(0),
        response_tokens: Set(0),
        total_tokens: Set(0),
        complete: Set(false),
        event_time: Set(at),
        responded_at: Set(None),
        ingested_at: Set(at),
        updated_at: Set(at),
        tags: Set(serde_json::json!([])),
        violation_summary: Set(serde_json::json!({"evaluated": true, "total": 1})),
        policy_set_version: Set(Some(1)),
        content_hash: Set(prompt.content_hash().unwrap()),
        source_updated_at: Set(Some(at)),
        side_tags: sea_orm::ActiveValue::NotSet,
    })
    .exec(&db)
    .await
    .unwrap();
    violation::Entity::insert(violation::ActiveModel {
        id: Set(old_violation),
        event_id: Set(old_id),
        integration_id: Set(integration),
        policy: Set("pii".into()),
        rule: Set("credit_card".into()),
        direction: Set("input".into()),
        span_start: Set(11),
        span_end: Set(30),
        evidence: Set(finding.evidence.clone()),
        severity: Set("high".into()),
        configured_action: Set("alert".into()),
        effective_action: Set("alert".into()),
        user_id: Set("user_1".into()),
        event_time: Set(at),
        policy_set_version: Set(Some(1)),
        created_at: Set(at),
        superseded_at: Set(None),
    })
    .exec(&db)
    .await
    .unwrap();
    alert::Entity::insert(alert::ActiveModel {
        id: Set(uuid::Uuid::new_v5(
            &uuid::Uuid::from_u128(0x6c77_6669_6e64_4e67_8000_0000_0000_0001),
            old_violation.as_bytes(),
        )),
        violation_id: Set(old_violation),
        event_id: Set(old_id),
        integration_id: Set(integration),
        issue_id: Set(None),
        policy: Set("pii".into()),
        severity: Set("high".into()),
        configured_action: Set("alert".into()),
        user_id: Set("user_1".into()),
        user_email: Set("user1@example.com".into()),
        event_time: Set(at),
        created_at: Set(at),
        closed_at: Set(None),
        close_reason: Set(None),
    })
    .exec(&db)
    .await
    .unwrap();
    db.execute_unprepared(&format!(
        "INSERT INTO sessions (id, integration_id, project_id, title, user_id, user_email, \
         deleted, chat_created_at, chat_updated_at, event_count, message_count, \
         violation_count, session_findings, ingested_at, updated_at) VALUES \
         ('claude_chat_legacy', {integration}, 1, 'Legacy', 'user_1', 'user1@example.com', \
         false, '2026-04-08T00:00:00Z', '2026-04-08T00:00:00Z', 1, 1, 0, '[]', \
         '2026-04-08T00:00:00Z', '2026-04-08T00:00:00Z')"
    ))
    .await
    .unwrap();

    logwarden::store::migrate(&db).await.unwrap();

    let new_id = stored_event_id(integration, old_id);
    let stored = event::Entity::find_by_id(new_id).one(&db).await.unwrap();
    assert!(stored.is_some(), "the event has its integration's id");
    let violations = violation::Entity::find().all(&db).await.unwrap();
    assert_eq!(violations.len(), 1);
    assert_eq!(violations[0].event_id, new_id);
    let alerts = alert::Entity::find().all(&db).await.unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].violation_id, violations[0].id);
    assert_eq!(alerts[0].event_id, new_id);
    let sessions = session::Entity::find().all(&db).await.unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(
        sessions[0].id,
        stored_session_id(integration, "claude_chat_legacy")
    );
    assert_eq!(sessions[0].chat_id, "claude_chat_legacy");

    // The sink storing the same event again finds every row under the id it derives.
    let sink = DbSink {
        db: db.clone(),
        integration_id: integration,
        project_id: 1,
        policy_set_version: Some(1),
    };
    let mut again = prompt.clone();
    again.source_updated_at = at + TimeDelta::seconds(1);
    sink.persist(IngestChunk {
        access_events: Vec::new(),
        events: vec![EvaluatedEvent {
            event: again,
            findings: Some(vec![finding]),
            tags: Vec::new(),
            side_tags: Default::default(),
        }],
        sessions: Vec::new(),
    })
    .await
    .unwrap();
    assert_eq!(event::Entity::find().all(&db).await.unwrap().len(), 1);
    let violations = violation::Entity::find().all(&db).await.unwrap();
    assert_eq!(violations.len(), 1);
    assert_eq!(
        violations[0].superseded_at, None,
        "the same finding, found again"
    );
    let alerts = alert::Entity::find().all(&db).await.unwrap();
    assert_eq!(alerts.len(), 1, "no second alert");
}

#[tokio::test(flavor = "multi_thread")]
async fn rows_stored_before_ids_per_integration_get_the_ids_the_sink_derives_on_postgres() {
    rows_stored_before_ids_per_integration_get_the_ids_the_sink_derives(true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rows_stored_before_ids_per_integration_get_the_ids_the_sink_derives_on_sqlite() {
    rows_stored_before_ids_per_integration_get_the_ids_the_sink_derives(false).await;
}
