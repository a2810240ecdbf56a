//! The database as the job's sink: one transaction per chunk, every row an idempotent upsert
//! keyed by a deterministic id, so re-running a job (after a crash, a takeover, a duplicate
//! delivery) leaves the same rows as running it once.

use std::collections::HashSet;

use chrono::{DateTime, TimeDelta, Utc};
use logwarden_entities::{access_event, alert, event, issue, session, violation};
use logwarden_jobs::pairing::{PromptEvent, SessionSummary};
use logwarden_jobs::retry::{ErrorClass, JobError};
use logwarden_jobs::source::{ActivityRecord, EvaluatedEvent, EventSink, IngestChunk};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Provider recorded on every event from the Compliance API.
pub const PROVIDER: &str = "ANTHROPIC_COMPLIANCE_API";
/// Namespace of violation and alert ids (UUIDv5 of the event id and the finding).
const FINDING_NAMESPACE: Uuid = Uuid::from_u128(0x6c77_6669_6e64_4e67_8000_0000_0000_0001);

/// One policy finding as stored: what investigators need to see why an event was flagged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredFinding {
    pub policy: String,
    pub rule: String,
    pub direction: String,
    pub span_start: u32,
    pub span_end: u32,
    /// Masked: secrets are never stored whole.
    pub evidence: String,
    pub severity: String,
    pub configured_action: String,
    pub effective_action: String,
}

impl StoredFinding {
    fn id(&self, event_id: Uuid) -> Uuid {
        let key = format!(
            "{event_id}:{}:{}:{}:{}:{}",
            self.policy, self.rule, self.direction, self.span_start, self.span_end
        );
        Uuid::new_v5(&FINDING_NAMESPACE, key.as_bytes())
    }

    /// Whether the configured action raises an alert (`block` and `modify` execute as alert).
    pub fn raises_alert(&self) -> bool {
        self.effective_action == "alert"
    }
}

/// Converts a database error into a retryable job error.
pub fn db_error(err: DbErr) -> JobError {
    JobError::new(ErrorClass::DatabaseError, err.to_string())
}

/// Where one integration's ingested data goes.
pub struct DbSink {
    pub db: DatabaseConnection,
    pub integration_id: i64,
    pub project_id: i64,
    pub policy_set_version: Option<i32>,
    /// Alerts of one user and policy closer than this join the same issue.
    pub issue_window: TimeDelta,
}

impl EventSink<StoredFinding> for DbSink {
    async fn persist(&self, chunk: IngestChunk<StoredFinding>) -> Result<(), JobError> {
        let txn = self.db.begin().await.map_err(db_error)?;
        let now = Utc::now();
        self.access_events(&txn, &chunk.access_events, now)
            .await
            .map_err(db_error)?;
        for evaluated in &chunk.events {
            self.event(&txn, evaluated, now).await.map_err(db_error)?;
        }
        for summary in &chunk.sessions {
            self.session(&txn, summary, now).await.map_err(db_error)?;
        }
        txn.commit().await.map_err(db_error)
    }
}

impl DbSink {
    async fn access_events(
        &self,
        db: &impl ConnectionTrait,
        records: &[ActivityRecord],
        now: DateTime<Utc>,
    ) -> Result<(), DbErr> {
        if records.is_empty() {
            return Ok(());
        }
        let rows = records.iter().map(|record| {
            let actor = record.record.get("actor");
            let actor_str = |field: &str| {
                actor
                    .and_then(|a| a.get(field))
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
            };
            access_event::ActiveModel {
                integration_id: Set(self.integration_id),
                activity_id: Set(record.id.clone()),
                activity_type: Set(record.activity_type.clone()),
                actor_type: Set(actor_str("type").unwrap_or_else(|| "unknown".to_owned())),
                actor_user_id: Set(actor_str("user_id")),
                actor_email: Set(actor_str("email_address")),
                ip_address: Set(actor_str("ip_address")),
                organization_uuid: Set(record
                    .record
                    .get("organization_uuid")
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)),
                event_time: Set(record.created_at),
                ingested_at: Set(now),
                record: Set(record.record.clone()),
                ..Default::default()
            }
        });
        access_event::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([
                    access_event::Column::IntegrationId,
                    access_event::Column::ActivityId,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
        Ok(())
    }

    async fn event(
        &self,
        db: &impl ConnectionTrait,
        evaluated: &EvaluatedEvent<StoredFinding>,
        now: DateTime<Utc>,
    ) -> Result<(), DbErr> {
        let e: &PromptEvent = &evaluated.event;
        let findings = evaluated.findings.as_deref();
        let summary = violation_summary(findings);
        let row = event::ActiveModel {
            id: Set(e.id),
            integration_id: Set(self.integration_id),
            project_id: Set(self.project_id),
            chat_id: Set(e.chat_id.clone()),
            user_message_id: Set(e.user_message_id.clone()),
            user_id: Set(e.user_id.clone()),
            user_email: Set(e.user_email.clone()),
            model: Set(e.model.clone()),
            provider: Set(PROVIDER.to_owned()),
            input_text: Set(e.input_text.clone()),
            output_text: Set(e.output_text.clone()),
            tool_calls: Set(e.tool_calls_json()),
            attachments: Set(e.attachments_json()),
            prompt_tokens: Set(e.tokens.prompt as i64),
            response_tokens: Set(e.tokens.response as i64),
            total_tokens: Set(e.tokens.total as i64),
            complete: Set(e.complete),
            event_time: Set(e.event_time),
            responded_at: Set(e.responded_at),
            ingested_at: Set(now),
            updated_at: Set(now),
            tags: Set(serde_json::json!(evaluated.tags)),
            violation_summary: Set(summary),
            policy_set_version: Set(self.policy_set_version),
            content_hash: Set(e.content_hash().unwrap_or_default()),
        };
        // On conflict everything but the first ingestion time is replaced: a later run may
        // bring the response, or a re-evaluation new findings.
        event::Entity::insert(row)
            .on_conflict(
                OnConflict::column(event::Column::Id)
                    .update_columns([
                        event::Column::OutputText,
                        event::Column::ToolCalls,
                        event::Column::Attachments,
                        event::Column::PromptTokens,
                        event::Column::ResponseTokens,
                        event::Column::TotalTokens,
                        event::Column::Complete,
                        event::Column::RespondedAt,
                        event::Column::UpdatedAt,
                        event::Column::Tags,
                        event::Column::ViolationSummary,
                        event::Column::PolicySetVersion,
                        event::Column::ContentHash,
                        event::Column::Model,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
        if let Some(findings) = findings {
            self.findings(db, e, findings, now).await?;
        }
        Ok(())
    }

    /// Replaces a stored event's findings and tags with a new verdict (re-evaluation).
    pub async fn apply_verdict(
        &self,
        db: &impl ConnectionTrait,
        e: &PromptEvent,
        findings: &[StoredFinding],
        tags: &[String],
    ) -> Result<(), DbErr> {
        let now = Utc::now();
        event::Entity::update_many()
            .col_expr(event::Column::Tags, Expr::value(serde_json::json!(tags)))
            .col_expr(
                event::Column::ViolationSummary,
                Expr::value(violation_summary(Some(findings))),
            )
            .col_expr(
                event::Column::PolicySetVersion,
                Expr::value(self.policy_set_version),
            )
            .col_expr(event::Column::UpdatedAt, Expr::value(now))
            .filter(event::Column::Id.eq(e.id))
            .exec(db)
            .await?;
        self.findings(db, e, findings, now).await
    }

    /// Replaces the event's violations with `findings`; alerts of new violations join or
    /// open an issue.
    async fn findings(
        &self,
        db: &impl ConnectionTrait,
        e: &PromptEvent,
        findings: &[StoredFinding],
        now: DateTime<Utc>,
    ) -> Result<(), DbErr> {
        let ids: Vec<Uuid> = findings.iter().map(|f| f.id(e.id)).collect();
        let stale = violation::Column::EventId
            .eq(e.id)
            .and(violation::Column::Id.is_not_in(ids.clone()));
        let stale_ids: Vec<Uuid> = violation::Entity::find()
            .filter(stale.clone())
            .all(db)
            .await?
            .into_iter()
            .map(|row| row.id)
            .collect();
        if !stale_ids.is_empty() {
            alert::Entity::delete_many()
                .filter(alert::Column::ViolationId.is_in(stale_ids.clone()))
                .exec(db)
                .await?;
            violation::Entity::delete_many()
                .filter(violation::Column::Id.is_in(stale_ids))
                .exec(db)
                .await?;
        }
        let mut seen = HashSet::new();
        for (finding, id) in findings.iter().zip(ids) {
            if !seen.insert(id) {
                continue;
            }
            let inserted = violation::Entity::insert(violation::ActiveModel {
                id: Set(id),
                event_id: Set(e.id),
                integration_id: Set(self.integration_id),
                policy: Set(finding.policy.clone()),
                rule: Set(finding.rule.clone()),
                direction: Set(finding.direction.clone()),
                span_start: Set(finding.span_start as i32),
                span_end: Set(finding.span_end as i32),
                evidence: Set(finding.evidence.clone()),
                severity: Set(finding.severity.clone()),
                configured_action: Set(finding.configured_action.clone()),
                effective_action: Set(finding.effective_action.clone()),
                user_id: Set(e.user_id.clone()),
                event_time: Set(e.event_time),
                policy_set_version: Set(self.policy_set_version),
                created_at: Set(now),
            })
            .on_conflict(
                OnConflict::column(violation::Column::Id)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
            if inserted == 1 && finding.raises_alert() {
                self.alert(db, e, finding, id, now).await?;
            }
        }
        Ok(())
    }

    async fn alert(
        &self,
        db: &impl ConnectionTrait,
        e: &PromptEvent,
        finding: &StoredFinding,
        violation_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<(), DbErr> {
        let open = issue::Entity::find()
            .filter(issue::Column::IntegrationId.eq(self.integration_id))
            .filter(issue::Column::UserId.eq(&e.user_id))
            .filter(issue::Column::Policy.eq(&finding.policy))
            .filter(issue::Column::Status.ne("resolved"))
            .filter(issue::Column::LastSeenAt.gte(e.event_time - self.issue_window))
            .filter(issue::Column::FirstSeenAt.lte(e.event_time + self.issue_window))
            .order_by_desc(issue::Column::LastSeenAt)
            .one(db)
            .await?;
        let issue_id = match open {
            Some(found) => {
                issue::Entity::update_many()
                    .col_expr(
                        issue::Column::AlertCount,
                        Expr::col(issue::Column::AlertCount).add(1),
                    )
                    .col_expr(
                        issue::Column::LastSeenAt,
                        Expr::value(Ord::max(found.last_seen_at, e.event_time)),
                    )
                    .col_expr(
                        issue::Column::FirstSeenAt,
                        Expr::value(Ord::min(found.first_seen_at, e.event_time)),
                    )
                    .col_expr(issue::Column::UpdatedAt, Expr::value(now))
                    .filter(issue::Column::Id.eq(found.id))
                    .exec(db)
                    .await?;
                found.id
            }
            None => {
                issue::Entity::insert(issue::ActiveModel {
                    integration_id: Set(self.integration_id),
                    user_id: Set(e.user_id.clone()),
                    user_email: Set(e.user_email.clone()),
                    policy: Set(finding.policy.clone()),
                    severity: Set(finding.severity.clone()),
                    status: Set("open".to_owned()),
                    alert_count: Set(1),
                    first_seen_at: Set(e.event_time),
                    last_seen_at: Set(e.event_time),
                    created_at: Set(now),
                    updated_at: Set(now),
                    ..Default::default()
                })
                .exec_with_returning(db)
                .await?
                .id
            }
        };
        alert::Entity::insert(alert::ActiveModel {
            id: Set(Uuid::new_v5(&FINDING_NAMESPACE, violation_id.as_bytes())),
            violation_id: Set(violation_id),
            event_id: Set(e.id),
            integration_id: Set(self.integration_id),
            issue_id: Set(Some(issue_id)),
            policy: Set(finding.policy.clone()),
            severity: Set(finding.severity.clone()),
            configured_action: Set(finding.configured_action.clone()),
            user_id: Set(e.user_id.clone()),
            user_email: Set(e.user_email.clone()),
            event_time: Set(e.event_time),
            created_at: Set(now),
        })
        .on_conflict(
            OnConflict::column(alert::Column::ViolationId)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
        Ok(())
    }

    async fn session(
        &self,
        db: &impl ConnectionTrait,
        s: &SessionSummary,
        now: DateTime<Utc>,
    ) -> Result<(), DbErr> {
        let row = session::ActiveModel {
            id: Set(s.chat_id.clone()),
            integration_id: Set(self.integration_id),
            project_id: Set(self.project_id),
            title: Set(s.title.clone()),
            user_id: Set(s.user_id.clone()),
            user_email: Set(s.user_email.clone()),
            claude_project_id: Set(s.project_id.clone()),
            model: Set(s.model.clone()),
            deleted: Set(s.deleted),
            chat_created_at: Set(s.chat_created_at),
            chat_updated_at: Set(s.chat_updated_at),
            first_event_at: Set(s.first_event_at),
            last_event_at: Set(s.last_event_at),
            event_count: Set(s.event_count as i64),
            message_count: Set(s.message_count as i64),
            violation_count: Set(0),
            session_findings: Set(serde_json::json!([])),
            ingested_at: Set(now),
            updated_at: Set(now),
        };
        session::Entity::insert(row)
            .on_conflict(
                OnConflict::column(session::Column::Id)
                    .update_columns([
                        session::Column::Title,
                        session::Column::Model,
                        session::Column::Deleted,
                        session::Column::ChatUpdatedAt,
                        session::Column::FirstEventAt,
                        session::Column::LastEventAt,
                        session::Column::EventCount,
                        session::Column::MessageCount,
                        session::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
        Ok(())
    }
}

/// Counts of findings by policy, for the event list (no join needed).
fn violation_summary(findings: Option<&[StoredFinding]>) -> serde_json::Value {
    let Some(findings) = findings else {
        return serde_json::json!({"evaluated": false});
    };
    let mut by_policy = std::collections::BTreeMap::<&str, u64>::new();
    for finding in findings {
        *by_policy.entry(finding.policy.as_str()).or_default() += 1;
    }
    serde_json::json!({"evaluated": true, "total": findings.len(), "by_policy": by_policy})
}
