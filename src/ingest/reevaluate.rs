//! Re-evaluation: the installed policy set run again over stored events of a time range,
//! replacing their findings, tags and alerts. Idempotent like ingestion: violation and alert
//! ids derive from the event and the finding.

use logwarden_entities::event;
use logwarden_jobs::completeness::{CompletenessRecord, CursorSpan, RunHash};
use logwarden_jobs::ingest::IngestReport;
use logwarden_jobs::pairing::{
    ArtifactRef, Attachment, PromptEvent, TokenEstimate, ToolCall, ToolResult,
};
use logwarden_jobs::retry::JobError;
use logwarden_jobs::source::Evaluator;
use logwarden_jobs::window::Window;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Deserialize;

use super::sink::{db_error, DbSink, StoredFinding};

/// Events per transaction.
const CHUNK: u64 = 500;

/// Rebuilds the prompt event an `events` row was stored from.
pub fn event_from_row(row: &event::Model) -> PromptEvent {
    #[derive(Deserialize)]
    struct StoredCall {
        id: String,
        name: String,
        input: serde_json::Value,
        #[serde(default)]
        results: Vec<StoredResult>,
    }
    #[derive(Deserialize)]
    struct StoredResult {
        text: String,
        #[serde(default)]
        is_error: bool,
    }
    #[derive(Deserialize, Default)]
    struct StoredAttachments {
        #[serde(default)]
        files: Vec<Attachment>,
        #[serde(default)]
        artifacts: Vec<ArtifactRef>,
    }
    let calls: Vec<StoredCall> = serde_json::from_value(row.tool_calls.clone()).unwrap_or_default();
    let attachments: StoredAttachments =
        serde_json::from_value(row.attachments.clone()).unwrap_or_default();
    let mut tool_calls = Vec::new();
    let mut tool_results = Vec::new();
    for call in calls {
        for result in call.results {
            tool_results.push(ToolResult {
                tool_use_id: call.id.clone(),
                name: call.name.clone(),
                text: result.text,
                is_error: result.is_error,
            });
        }
        if !call.input.is_null() {
            tool_calls.push(ToolCall {
                id: call.id,
                name: call.name,
                input: call.input,
            });
        }
    }
    PromptEvent {
        id: row.id,
        chat_id: row.chat_id.clone(),
        user_message_id: row.user_message_id.clone(),
        response_message_ids: Vec::new(),
        user_id: row.user_id.clone(),
        user_email: row.user_email.clone(),
        model: row.model.clone(),
        project_id: None,
        input_text: row.input_text.clone(),
        output_text: row.output_text.clone(),
        tool_calls,
        tool_results,
        attachments: attachments.files,
        artifacts: attachments.artifacts,
        event_time: row.event_time,
        responded_at: row.responded_at,
        complete: row.complete,
        tokens: TokenEstimate {
            prompt: row.prompt_tokens as u64,
            response: row.response_tokens as u64,
            total: row.total_tokens as u64,
        },
        source_updated_at: row.source_updated_at.unwrap_or_default(),
    }
}

/// Re-evaluates the integration's events whose event time falls in `window`.
pub async fn reevaluate_window<E>(
    sink: &DbSink,
    window: Window,
    evaluator: &E,
) -> Result<IngestReport, JobError>
where
    E: Evaluator<Finding = StoredFinding>,
{
    let mut report_events = 0u64;
    let mut violations = 0u64;
    let mut evaluated = 0u64;
    let mut hashes = RunHash::default();
    // Keyset pages in `(event_time, id)` order, the order of the `(integration_id,
    // event_time, id)` index: each page is one range scan that starts where the last ended.
    let mut after: Option<(chrono::DateTime<chrono::Utc>, uuid::Uuid)> = None;
    loop {
        let mut select = event::Entity::find()
            .filter(event::Column::IntegrationId.eq(sink.integration_id))
            .filter(event::Column::EventTime.gte(window.start))
            .filter(event::Column::EventTime.lt(window.end))
            .order_by_asc(event::Column::EventTime)
            .order_by_asc(event::Column::Id)
            .limit(CHUNK);
        if let Some((time, id)) = after {
            select = select.filter(
                Condition::any().add(event::Column::EventTime.gt(time)).add(
                    Condition::all()
                        .add(event::Column::EventTime.eq(time))
                        .add(event::Column::Id.gt(id)),
                ),
            );
        }
        let rows = select.all(&sink.db).await.map_err(db_error)?;
        let Some(last) = rows.last() else { break };
        after = Some((last.event_time, last.id));
        let txn = crate::store::begin_write(&sink.db)
            .await
            .map_err(db_error)?;
        for row in &rows {
            report_events += 1;
            hashes.add(row.content_hash.clone());
            let prompt = event_from_row(row);
            if let Some(verdict) = evaluator.evaluate(&prompt)? {
                evaluated += 1;
                violations += verdict.findings.len() as u64;
                sink.apply_verdict(
                    &txn,
                    &prompt,
                    &row.content_hash,
                    &verdict.findings,
                    &verdict.tags,
                    &verdict.side_tags,
                )
                .await
                .map_err(db_error)?;
            }
        }
        txn.commit().await.map_err(db_error)?;
    }
    Ok(IngestReport {
        pages: 0,
        requests: 0,
        chats: 0,
        messages: 0,
        events: report_events,
        incomplete_events: 0,
        access_events: 0,
        violations,
        // Re-evaluation replaces verdicts; the alerts it raises are not counted here.
        alerts: 0,
        events_evaluated: evaluated,
        chunks: 0,
        policy_set_version: evaluator.policy_set_version(),
        completeness: CompletenessRecord {
            window,
            activities: CursorSpan::default(),
            chats: CursorSpan::default(),
            final_request_id: None,
            records: hashes.len() as u64,
            content_hash: hashes.finish(),
            skipped: Vec::new(),
            quarantined: Vec::new(),
        },
    })
}
