//! PostgreSQL's path of the sink: each table's rows of a chunk go in one statement, handed over
//! as one JSON document that `json_to_recordset` unpacks. The statement text is the same
//! whatever the number of rows, so each connection prepares it once and PostgreSQL plans it
//! once, instead of parsing a new multi-row `VALUES` list of thousands of parameters per
//! chunk. The conflict clauses are the SQLite path's, written out.
//! Each statement takes its rows in the order of its conflict key, so two jobs writing the
//! same rows at once lock them in one order and cannot deadlock.

use std::collections::HashSet;

use chrono::{DateTime, SecondsFormat, Utc};
use logwarden_jobs::pairing::{PromptEvent, SessionSummary};
use logwarden_jobs::source::{ActivityRecord, EvaluatedEvent};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement, Value};
use serde_json::{json, Value as Json};
use uuid::Uuid;

use super::{
    stored_session_id, violation_summary, AccessActor, DbSink, IssueDraft, StoredFinding, PROVIDER,
    SUPERSEDED,
};

/// A timestamp as PostgreSQL reads it, cut to its microseconds as sqlx binds one.
fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn ts_opt(at: Option<DateTime<Utc>>) -> Json {
    at.map_or(Json::Null, |at| Json::String(ts(at)))
}

/// Rows as the one text parameter `$1::json` of a statement.
fn document(rows: Vec<Json>) -> Value {
    Value::String(Some(Json::Array(rows).to_string()))
}

fn ids(ids: impl IntoIterator<Item = Uuid>) -> Value {
    document(ids.into_iter().map(|id| json!(id)).collect())
}

fn statement(sql: &str, values: impl IntoIterator<Item = Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

const ACCESS_EVENTS: &str = "INSERT INTO access_events (integration_id, activity_id, \
    activity_type, actor_type, actor_user_id, actor_email, ip_address, organization_uuid, \
    event_time, ingested_at, record) \
    SELECT $2, r.activity_id, r.activity_type, r.actor_type, r.actor_user_id, r.actor_email, \
    r.ip_address, r.organization_uuid, r.event_time, $3, r.record \
    FROM json_to_recordset($1::json) AS r(activity_id varchar, activity_type varchar, \
    actor_type varchar, actor_user_id varchar, actor_email varchar, ip_address varchar, \
    organization_uuid varchar, event_time timestamptz, record json) \
    ORDER BY r.activity_id \
    ON CONFLICT (integration_id, activity_id) DO NOTHING";

pub(super) async fn access_events(
    sink: &DbSink,
    db: &impl ConnectionTrait,
    records: &[ActivityRecord],
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    if records.is_empty() {
        return Ok(());
    }
    let rows = records
        .iter()
        .map(|record| {
            let actor = AccessActor::of(record);
            json!({
                "activity_id": record.id,
                "activity_type": record.activity_type,
                "actor_type": actor.actor_type,
                "actor_user_id": actor.user_id,
                "actor_email": actor.email,
                "ip_address": actor.ip_address,
                "organization_uuid": actor.organization_uuid,
                "event_time": ts(record.created_at),
                "record": record.record,
            })
        })
        .collect();
    db.execute_raw(statement(
        ACCESS_EVENTS,
        [document(rows), sink.integration_id.into(), now.into()],
    ))
    .await?;
    Ok(())
}

/// The freshness guard of the SQLite path: a stored event is replaced only by a copy at least
/// as fresh; rows stored before freshness was recorded take any copy.
const EVENTS: &str = "INSERT INTO events (id, integration_id, project_id, chat_id, \
    user_message_id, user_id, user_email, model, provider, input_text, output_text, tool_calls, \
    attachments, prompt_tokens, response_tokens, total_tokens, complete, event_time, \
    responded_at, ingested_at, updated_at, tags, side_tags, violation_summary, \
    policy_set_version, content_hash, source_updated_at) \
    SELECT r.id, $2, $3, r.chat_id, r.user_message_id, r.user_id, r.user_email, r.model, $4, \
    r.input_text, r.output_text, r.tool_calls, r.attachments, r.prompt_tokens, \
    r.response_tokens, r.total_tokens, r.complete, r.event_time, r.responded_at, $5, $5, \
    r.tags, r.side_tags, r.violation_summary, $6, r.content_hash, r.source_updated_at \
    FROM json_to_recordset($1::json) AS r(id uuid, chat_id varchar, user_message_id varchar, \
    user_id varchar, user_email varchar, model varchar, input_text text, output_text text, \
    tool_calls json, attachments json, prompt_tokens int8, response_tokens int8, \
    total_tokens int8, complete bool, event_time timestamptz, responded_at timestamptz, \
    tags json, side_tags json, violation_summary json, content_hash varchar, \
    source_updated_at timestamptz) \
    ORDER BY r.id \
    ON CONFLICT (id) DO UPDATE SET output_text = excluded.output_text, \
    tool_calls = excluded.tool_calls, attachments = excluded.attachments, \
    prompt_tokens = excluded.prompt_tokens, response_tokens = excluded.response_tokens, \
    total_tokens = excluded.total_tokens, complete = excluded.complete, \
    responded_at = excluded.responded_at, updated_at = excluded.updated_at, \
    tags = excluded.tags, side_tags = excluded.side_tags, \
    violation_summary = excluded.violation_summary, \
    policy_set_version = excluded.policy_set_version, content_hash = excluded.content_hash, \
    model = excluded.model, source_updated_at = excluded.source_updated_at \
    WHERE events.source_updated_at IS NULL \
    OR events.source_updated_at < excluded.source_updated_at \
    OR (events.source_updated_at = excluded.source_updated_at \
    AND COALESCE(events.policy_set_version, -1) <= COALESCE(excluded.policy_set_version, -1)) \
    RETURNING id";

pub(super) async fn events(
    sink: &DbSink,
    db: &impl ConnectionTrait,
    events: &[&EvaluatedEvent<StoredFinding>],
    now: DateTime<Utc>,
) -> Result<HashSet<Uuid>, DbErr> {
    if events.is_empty() {
        return Ok(HashSet::new());
    }
    let rows = events
        .iter()
        .map(|evaluated| {
            let e: &PromptEvent = &evaluated.event;
            json!({
                "id": e.id,
                "chat_id": e.chat_id,
                "user_message_id": e.user_message_id,
                "user_id": e.user_id,
                "user_email": e.user_email,
                "model": e.model,
                "input_text": e.input_text,
                "output_text": e.output_text,
                "tool_calls": e.tool_calls_json(),
                "attachments": e.attachments_json(),
                "prompt_tokens": e.tokens.prompt as i64,
                "response_tokens": e.tokens.response as i64,
                "total_tokens": e.tokens.total as i64,
                "complete": e.complete,
                "event_time": ts(e.event_time),
                "responded_at": ts_opt(e.responded_at),
                "tags": evaluated.tags,
                "side_tags": evaluated.side_tags,
                "violation_summary": violation_summary(evaluated.findings.as_deref()),
                "content_hash": e.content_hash().unwrap_or_default(),
                "source_updated_at": ts(e.source_updated_at),
            })
        })
        .collect();
    let written = db
        .query_all_raw(statement(
            EVENTS,
            [
                document(rows),
                sink.integration_id.into(),
                sink.project_id.into(),
                PROVIDER.into(),
                now.into(),
                sink.policy_set_version.into(),
            ],
        ))
        .await?;
    written
        .iter()
        .map(|row| row.try_get_by_index::<Uuid>(0))
        .collect()
}

/// Supersedes the standing violations of `$1`'s events that are not among `$2`, and closes
/// as superseded the open alerts of those and of `$3` (found again without raising an alert).
const SUPERSEDE: &str = "WITH stale AS (UPDATE violations SET superseded_at = $4 \
    WHERE event_id IN (SELECT value::uuid FROM json_array_elements_text($1::json)) \
    AND superseded_at IS NULL \
    AND id NOT IN (SELECT value::uuid FROM json_array_elements_text($2::json)) \
    RETURNING id) \
    UPDATE alerts SET closed_at = $4, close_reason = $5 \
    FROM (SELECT id FROM stale \
    UNION SELECT value::uuid FROM json_array_elements_text($3::json)) AS closing(id) \
    WHERE alerts.violation_id = closing.id AND alerts.closed_at IS NULL";

pub(super) async fn supersede(
    db: &impl ConnectionTrait,
    events: impl IntoIterator<Item = Uuid>,
    wanted: impl IntoIterator<Item = Uuid>,
    no_alert: impl IntoIterator<Item = Uuid>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    db.execute_raw(statement(
        SUPERSEDE,
        [
            ids(events),
            ids(wanted),
            ids(no_alert),
            now.into(),
            SUPERSEDED.into(),
        ],
    ))
    .await?;
    Ok(())
}

const VIOLATIONS: &str = "INSERT INTO violations (id, event_id, integration_id, policy, rule, \
    direction, span_start, span_end, evidence, severity, configured_action, effective_action, \
    user_id, event_time, policy_set_version, created_at, superseded_at) \
    SELECT r.id, r.event_id, $2, r.policy, r.rule, r.direction, r.span_start, r.span_end, \
    r.evidence, r.severity, r.configured_action, r.effective_action, r.user_id, r.event_time, \
    $3, $4, NULL \
    FROM json_to_recordset($1::json) AS r(id uuid, event_id uuid, policy varchar, \
    rule varchar, direction varchar, span_start int4, span_end int4, evidence text, \
    severity varchar, configured_action varchar, effective_action varchar, user_id varchar, \
    event_time timestamptz) \
    ORDER BY r.id \
    ON CONFLICT (id) DO UPDATE SET evidence = excluded.evidence, \
    severity = excluded.severity, configured_action = excluded.configured_action, \
    effective_action = excluded.effective_action, user_id = excluded.user_id, \
    event_time = excluded.event_time, policy_set_version = excluded.policy_set_version, \
    superseded_at = excluded.superseded_at";

pub(super) async fn violations(
    sink: &DbSink,
    db: &impl ConnectionTrait,
    wanted: &[(Uuid, &PromptEvent, &StoredFinding)],
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    if wanted.is_empty() {
        return Ok(());
    }
    let rows = wanted
        .iter()
        .map(|&(id, e, finding)| {
            json!({
                "id": id,
                "event_id": e.id,
                "policy": finding.policy,
                "rule": finding.rule,
                "direction": finding.direction,
                "span_start": finding.span_start as i32,
                "span_end": finding.span_end as i32,
                "evidence": finding.evidence,
                "severity": finding.severity,
                "configured_action": finding.configured_action,
                "effective_action": finding.effective_action,
                "user_id": e.user_id,
                "event_time": ts(e.event_time),
            })
        })
        .collect();
    db.execute_raw(statement(
        VIOLATIONS,
        [
            document(rows),
            sink.integration_id.into(),
            sink.policy_set_version.into(),
            now.into(),
        ],
    ))
    .await?;
    Ok(())
}

/// Inserts new alerts and reopens closed ones; an open one is left alone.
const ALERTS: &str = "INSERT INTO alerts (id, violation_id, event_id, integration_id, \
    issue_id, policy, severity, configured_action, user_id, user_email, event_time, \
    created_at, closed_at, close_reason) \
    SELECT r.id, r.violation_id, r.event_id, $2, NULL, r.policy, r.severity, \
    r.configured_action, r.user_id, r.user_email, r.event_time, $3, NULL, NULL \
    FROM json_to_recordset($1::json) AS r(id uuid, violation_id uuid, event_id uuid, \
    policy varchar, severity varchar, configured_action varchar, user_id varchar, \
    user_email varchar, event_time timestamptz) \
    ORDER BY r.violation_id \
    ON CONFLICT (violation_id) DO UPDATE SET closed_at = excluded.closed_at, \
    close_reason = excluded.close_reason, severity = excluded.severity, \
    configured_action = excluded.configured_action \
    WHERE alerts.closed_at IS NOT NULL \
    RETURNING id";

/// Returns the ids of the alerts raised (inserted or reopened).
pub(super) async fn alerts(
    sink: &DbSink,
    db: &impl ConnectionTrait,
    alerts: &[(Uuid, Uuid, &PromptEvent, &StoredFinding)],
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, DbErr> {
    let rows = alerts
        .iter()
        .map(|&(id, violation_id, e, finding)| {
            json!({
                "id": id,
                "violation_id": violation_id,
                "event_id": e.id,
                "policy": finding.policy,
                "severity": finding.severity,
                "configured_action": finding.configured_action,
                "user_id": e.user_id,
                "user_email": e.user_email,
                "event_time": ts(e.event_time),
            })
        })
        .collect();
    let raised = db
        .query_all_raw(statement(
            ALERTS,
            [document(rows), sink.integration_id.into(), now.into()],
        ))
        .await?;
    raised
        .iter()
        .map(|row| row.try_get_by_index::<Uuid>(0))
        .collect()
}

/// One atomic upsert into the open issue of each user and policy (the partial unique index
/// makes two writers at once find the same one), then the raised alerts pointed at theirs.
const ISSUES: &str = "WITH draft AS (SELECT * FROM json_to_recordset($1::json) AS r( \
    user_id varchar, user_email varchar, policy varchar, severity varchar, alert_count int8, \
    first_seen_at timestamptz, last_seen_at timestamptz, alerts json)), \
    saved AS (INSERT INTO issues (integration_id, user_id, user_email, policy, severity, \
    status, alert_count, first_seen_at, last_seen_at, created_at, updated_at) \
    SELECT $2, user_id, user_email, policy, severity, $4, alert_count, first_seen_at, \
    last_seen_at, $3, $3 FROM draft ORDER BY user_id, policy \
    ON CONFLICT (integration_id, user_id, policy) WHERE status <> 'resolved' \
    DO UPDATE SET alert_count = issues.alert_count + excluded.alert_count, \
    first_seen_at = LEAST(issues.first_seen_at, excluded.first_seen_at), \
    last_seen_at = GREATEST(issues.last_seen_at, excluded.last_seen_at), \
    updated_at = excluded.updated_at \
    RETURNING id, user_id, policy) \
    UPDATE alerts SET issue_id = saved.id \
    FROM saved JOIN draft ON draft.user_id = saved.user_id AND draft.policy = saved.policy \
    CROSS JOIN LATERAL json_array_elements_text(draft.alerts) AS raised(id) \
    WHERE alerts.id = raised.id::uuid";

pub(super) async fn save_issues(
    sink: &DbSink,
    db: &impl ConnectionTrait,
    groups: &[IssueDraft],
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    if groups.is_empty() {
        return Ok(());
    }
    let rows = groups
        .iter()
        .map(|group| {
            json!({
                "user_id": group.user_id,
                "user_email": group.user_email,
                "policy": group.policy,
                "severity": group.severity,
                "alert_count": group.alerts.len() as i64,
                "first_seen_at": ts(group.first_seen_at),
                "last_seen_at": ts(group.last_seen_at),
                "alerts": group.alerts,
            })
        })
        .collect();
    db.execute_raw(statement(
        ISSUES,
        [
            document(rows),
            sink.integration_id.into(),
            now.into(),
            "open".into(),
        ],
    ))
    .await?;
    Ok(())
}

/// Present chats replace the stored copy's columns `update`; deleted ones only record the
/// deletion. Either only when at least as fresh as the stored copy.
fn sessions_sql(update: &[&str]) -> String {
    let set: Vec<String> = update
        .iter()
        .map(|column| format!("{column} = excluded.{column}"))
        .collect();
    format!(
        "INSERT INTO sessions (id, chat_id, integration_id, project_id, title, user_id, \
         user_email, claude_project_id, model, deleted, deleted_at, chat_created_at, \
         chat_updated_at, first_event_at, last_event_at, event_count, message_count, \
         violation_count, session_findings, ingested_at, updated_at) \
         SELECT r.id, r.chat_id, $2, $3, r.title, r.user_id, r.user_email, \
         r.claude_project_id, r.model, r.deleted, r.deleted_at, r.chat_created_at, \
         r.chat_updated_at, r.first_event_at, r.last_event_at, r.event_count, \
         r.message_count, 0, '[]'::json, $4, $4 \
         FROM json_to_recordset($1::json) AS r(id varchar, chat_id varchar, title text, \
         user_id varchar, user_email varchar, claude_project_id varchar, model varchar, \
         deleted bool, deleted_at timestamptz, chat_created_at timestamptz, \
         chat_updated_at timestamptz, first_event_at timestamptz, last_event_at timestamptz, \
         event_count int8, message_count int8) \
         ORDER BY r.id \
         ON CONFLICT (id) DO UPDATE SET {} \
         WHERE sessions.chat_updated_at <= excluded.chat_updated_at",
        set.join(", ")
    )
}

pub(super) async fn sessions(
    sink: &DbSink,
    db: &impl ConnectionTrait,
    sessions: &[&SessionSummary],
    update: &[&str],
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    if sessions.is_empty() {
        return Ok(());
    }
    let rows = sessions
        .iter()
        .map(|s| {
            json!({
                "id": stored_session_id(sink.integration_id, &s.chat_id),
                "chat_id": s.chat_id,
                "title": s.title,
                "user_id": s.user_id,
                "user_email": s.user_email,
                "claude_project_id": s.project_id,
                "model": s.model,
                "deleted": s.deleted,
                "deleted_at": ts_opt(super::deleted_at(s)),
                "chat_created_at": ts(s.chat_created_at),
                "chat_updated_at": ts(s.chat_updated_at),
                "first_event_at": ts_opt(s.first_event_at),
                "last_event_at": ts_opt(s.last_event_at),
                "event_count": s.event_count as i64,
                "message_count": s.message_count as i64,
            })
        })
        .collect();
    db.execute_raw(statement(
        &sessions_sql(update),
        [
            document(rows),
            sink.integration_id.into(),
            sink.project_id.into(),
            now.into(),
        ],
    ))
    .await?;
    Ok(())
}
