//! The database as the job's sink: one transaction per chunk, every row an idempotent upsert
//! keyed by a deterministic id, so re-running a job (after a crash, a takeover, a duplicate
//! delivery) leaves the same rows as running it once.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, TimeDelta, Utc};
use logwarden_entities::issue::{self, IssueStatus};
use logwarden_entities::{access_event, alert, event, session, violation};
use logwarden_jobs::pairing::{PromptEvent, SessionSummary};
use logwarden_jobs::retry::{ErrorClass, JobError};
use logwarden_jobs::source::{ActivityRecord, EvaluatedEvent, EventSink, IngestChunk};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    Iterable, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
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
        // A chunk may carry an event twice; its last copy counts.
        let events = last_per_id(chunk.events.iter().collect(), |e| e.event.id);
        self.events(&txn, &events, now).await.map_err(db_error)?;
        let verdicts: Vec<(&PromptEvent, &[StoredFinding])> = events
            .iter()
            .filter_map(|e| Some((&e.event, e.findings.as_deref()?)))
            .collect();
        self.findings(&txn, &verdicts, now)
            .await
            .map_err(db_error)?;
        self.sessions(&txn, &chunk.sessions, now)
            .await
            .map_err(db_error)?;
        txn.commit().await.map_err(db_error)
    }
}

/// Bind parameters per statement: below SQLite's limit (32,766) and PostgreSQL's (65,535).
const MAX_BINDS: usize = 30_000;

/// Rows of `E` that fit in one statement.
fn rows_per_statement<E: EntityTrait>() -> usize {
    (MAX_BINDS / E::Column::iter().count()).max(1)
}

/// `rows` split into statements of at most [`rows_per_statement`] rows each, in order.
fn statements<E: EntityTrait, T>(mut rows: Vec<T>) -> impl Iterator<Item = Vec<T>> {
    let size = rows_per_statement::<E>();
    std::iter::from_fn(move || {
        if rows.is_empty() {
            return None;
        }
        let rest = rows.split_off(rows.len().min(size));
        Some(std::mem::replace(&mut rows, rest))
    })
}

/// The last row of each id, in first-seen order (one statement may not upsert a row twice).
fn last_per_id<T, K: std::hash::Hash + Eq>(rows: Vec<T>, id: impl Fn(&T) -> K) -> Vec<T> {
    let mut position = HashMap::new();
    let mut out: Vec<T> = Vec::with_capacity(rows.len());
    for row in rows {
        match position.entry(id(&row)) {
            Entry::Occupied(at) => out[*at.get()] = row,
            Entry::Vacant(slot) => {
                slot.insert(out.len());
                out.push(row);
            }
        }
    }
    out
}

/// An issue as the alerts of one chunk see it: loaded, or to be opened (every one to be
/// opened gets at least one alert).
struct IssueDraft {
    id: Option<i64>,
    user_id: String,
    user_email: String,
    policy: String,
    severity: String,
    first_seen_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    /// Alerts this chunk adds.
    added: i64,
}

impl IssueDraft {
    fn key(&self) -> (&str, &str) {
        (&self.user_id, &self.policy)
    }
}

impl DbSink {
    async fn access_events(
        &self,
        db: &impl ConnectionTrait,
        records: &[ActivityRecord],
        now: DateTime<Utc>,
    ) -> Result<(), DbErr> {
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
        for batch in statements::<access_event::Entity, _>(rows.collect()) {
            access_event::Entity::insert_many(batch)
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
        }
        Ok(())
    }

    async fn events(
        &self,
        db: &impl ConnectionTrait,
        events: &[&EvaluatedEvent<StoredFinding>],
        now: DateTime<Utc>,
    ) -> Result<(), DbErr> {
        let rows = events.iter().map(|evaluated| {
            let e: &PromptEvent = &evaluated.event;
            event::ActiveModel {
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
                violation_summary: Set(violation_summary(evaluated.findings.as_deref())),
                policy_set_version: Set(self.policy_set_version),
                content_hash: Set(e.content_hash().unwrap_or_default()),
            }
        });
        for batch in statements::<event::Entity, _>(rows.collect()) {
            // On conflict everything but the first ingestion time is replaced: a later run
            // may bring the response, or a re-evaluation new findings.
            event::Entity::insert_many(batch)
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
        self.findings(db, &[(e, findings)], now).await
    }

    /// Replaces each event's violations with its findings; the alerts of violations that are
    /// new join or open issues.
    async fn findings(
        &self,
        db: &impl ConnectionTrait,
        verdicts: &[(&PromptEvent, &[StoredFinding])],
        now: DateTime<Utc>,
    ) -> Result<(), DbErr> {
        if verdicts.is_empty() {
            return Ok(());
        }
        let mut wanted = HashMap::new();
        for &(e, findings) in verdicts {
            for finding in findings {
                wanted.entry(finding.id(e.id)).or_insert((e, finding));
            }
        }
        self.delete_stale_violations(db, verdicts, &wanted).await?;

        let rows: Vec<violation::ActiveModel> = wanted
            .iter()
            .map(|(&id, &(e, finding))| violation::ActiveModel {
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
            .collect();
        // Only violations this statement inserted raise alerts: a rerun, or a concurrent
        // job on the same event, finds its violations present and alerts nothing twice.
        let mut inserted = Vec::new();
        for batch in statements::<violation::Entity, _>(rows) {
            let keys = violation::Entity::insert_many(batch)
                .on_conflict(
                    OnConflict::column(violation::Column::Id)
                        .do_nothing()
                        .to_owned(),
                )
                .exec_with_returning_keys(db)
                .await?;
            inserted.extend(keys);
        }
        let mut alerts: Vec<(Uuid, &PromptEvent, &StoredFinding)> = inserted
            .into_iter()
            .filter_map(|id| {
                let &(e, finding) = wanted.get(&id)?;
                finding.raises_alert().then_some((id, e, finding))
            })
            .collect();
        alerts.sort_by_key(|&(id, e, _)| (e.event_time, id));
        self.alerts(db, &alerts, now).await
    }

    /// Deletes the violations (and their alerts) of `verdicts`' events that the new findings
    /// no longer contain.
    async fn delete_stale_violations(
        &self,
        db: &impl ConnectionTrait,
        verdicts: &[(&PromptEvent, &[StoredFinding])],
        wanted: &HashMap<Uuid, (&PromptEvent, &StoredFinding)>,
    ) -> Result<(), DbErr> {
        let event_ids: Vec<Uuid> = verdicts.iter().map(|(e, _)| e.id).collect();
        let mut stale = Vec::new();
        for batch in event_ids.chunks(MAX_BINDS) {
            let stored: Vec<Uuid> = violation::Entity::find()
                .select_only()
                .column(violation::Column::Id)
                .filter(violation::Column::EventId.is_in(batch.iter().copied()))
                .into_tuple()
                .all(db)
                .await?;
            stale.extend(stored.into_iter().filter(|id| !wanted.contains_key(id)));
        }
        for batch in stale.chunks(MAX_BINDS) {
            alert::Entity::delete_many()
                .filter(alert::Column::ViolationId.is_in(batch.iter().copied()))
                .exec(db)
                .await?;
            violation::Entity::delete_many()
                .filter(violation::Column::Id.is_in(batch.iter().copied()))
                .exec(db)
                .await?;
        }
        Ok(())
    }

    /// Stores `alerts` (in event-time order), each joining the open issue of its user and
    /// policy that is within the issue window of it, or opening one.
    async fn alerts(
        &self,
        db: &impl ConnectionTrait,
        alerts: &[(Uuid, &PromptEvent, &StoredFinding)],
        now: DateTime<Utc>,
    ) -> Result<(), DbErr> {
        let (Some(&(_, first, _)), Some(&(_, last, _))) = (alerts.first(), alerts.last()) else {
            return Ok(());
        };
        let users: HashSet<&str> = alerts.iter().map(|(_, e, _)| e.user_id.as_str()).collect();
        let policies: HashSet<&str> = alerts.iter().map(|(_, _, f)| f.policy.as_str()).collect();
        let mut issues: Vec<IssueDraft> = issue::Entity::find()
            .filter(issue::Column::IntegrationId.eq(self.integration_id))
            .filter(issue::Column::UserId.is_in(users))
            .filter(issue::Column::Policy.is_in(policies))
            .filter(issue::Column::Status.ne(IssueStatus::Resolved))
            .filter(issue::Column::LastSeenAt.gte(first.event_time - self.issue_window))
            .filter(issue::Column::FirstSeenAt.lte(last.event_time + self.issue_window))
            .order_by_asc(issue::Column::Id)
            .all(db)
            .await?
            .into_iter()
            .map(|found| IssueDraft {
                id: Some(found.id),
                user_id: found.user_id,
                user_email: found.user_email,
                policy: found.policy,
                severity: found.severity,
                first_seen_at: found.first_seen_at,
                last_seen_at: found.last_seen_at,
                added: 0,
            })
            .collect();

        let mut joins = Vec::with_capacity(alerts.len());
        for &(_, e, finding) in alerts {
            let t = e.event_time;
            let open = issues
                .iter()
                .enumerate()
                .filter(|(_, i)| {
                    i.user_id == e.user_id
                        && i.policy == finding.policy
                        && i.last_seen_at >= t - self.issue_window
                        && i.first_seen_at <= t + self.issue_window
                })
                .max_by_key(|(_, i)| i.last_seen_at)
                .map(|(at, _)| at);
            let at = open.unwrap_or_else(|| {
                issues.push(IssueDraft {
                    id: None,
                    user_id: e.user_id.clone(),
                    user_email: e.user_email.clone(),
                    policy: finding.policy.clone(),
                    severity: finding.severity.clone(),
                    first_seen_at: t,
                    last_seen_at: t,
                    added: 0,
                });
                issues.len() - 1
            });
            let issue = &mut issues[at];
            issue.added += 1;
            issue.first_seen_at = Ord::min(issue.first_seen_at, t);
            issue.last_seen_at = Ord::max(issue.last_seen_at, t);
            joins.push(at);
        }

        let ids = self.save_issues(db, &issues, now).await?;
        let rows = alerts
            .iter()
            .zip(joins)
            .map(|(&(violation_id, e, finding), at)| alert::ActiveModel {
                id: Set(Uuid::new_v5(&FINDING_NAMESPACE, violation_id.as_bytes())),
                violation_id: Set(violation_id),
                event_id: Set(e.id),
                integration_id: Set(self.integration_id),
                issue_id: Set(ids[at]),
                policy: Set(finding.policy.clone()),
                severity: Set(finding.severity.clone()),
                configured_action: Set(finding.configured_action.clone()),
                user_id: Set(e.user_id.clone()),
                user_email: Set(e.user_email.clone()),
                event_time: Set(e.event_time),
                created_at: Set(now),
            });
        for batch in statements::<alert::Entity, _>(rows.collect()) {
            alert::Entity::insert_many(batch)
                .on_conflict(
                    OnConflict::column(alert::Column::ViolationId)
                        .do_nothing()
                        .to_owned(),
                )
                .exec_without_returning(db)
                .await?;
        }
        Ok(())
    }

    /// Writes what this chunk's alerts changed in `issues`; returns their ids, in order.
    async fn save_issues(
        &self,
        db: &impl ConnectionTrait,
        issues: &[IssueDraft],
        now: DateTime<Utc>,
    ) -> Result<Vec<Option<i64>>, DbErr> {
        let mut ids: Vec<Option<i64>> = issues.iter().map(|issue| issue.id).collect();
        for issue in issues.iter().filter(|issue| issue.added > 0) {
            let Some(id) = issue.id else { continue };
            issue::Entity::update_many()
                .col_expr(
                    issue::Column::AlertCount,
                    Expr::col(issue::Column::AlertCount).add(issue.added),
                )
                .col_expr(issue::Column::LastSeenAt, Expr::value(issue.last_seen_at))
                .col_expr(issue::Column::FirstSeenAt, Expr::value(issue.first_seen_at))
                .col_expr(issue::Column::UpdatedAt, Expr::value(now))
                .filter(issue::Column::Id.eq(id))
                .exec(db)
                .await?;
        }

        // New issues go in one statement and are matched back by user and policy; the rare
        // user and policy with two new issues in one chunk (alerts further apart than the
        // window) has them inserted one at a time.
        let mut new_by_key: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
        for at in (0..issues.len()).filter(|&at| issues[at].id.is_none()) {
            new_by_key.entry(issues[at].key()).or_default().push(at);
        }
        let (together, alone): (Vec<_>, Vec<_>) =
            new_by_key.into_values().partition(|ats| ats.len() == 1);
        // In draft order, i.e. by first alert, so issue ids follow time.
        let in_order = |groups: Vec<Vec<usize>>| {
            let mut ats: Vec<usize> = groups.into_iter().flatten().collect();
            ats.sort_unstable();
            ats
        };
        let row = |issue: &IssueDraft| issue::ActiveModel {
            integration_id: Set(self.integration_id),
            user_id: Set(issue.user_id.clone()),
            user_email: Set(issue.user_email.clone()),
            policy: Set(issue.policy.clone()),
            severity: Set(issue.severity.clone()),
            status: Set(IssueStatus::Open),
            alert_count: Set(issue.added),
            first_seen_at: Set(issue.first_seen_at),
            last_seen_at: Set(issue.last_seen_at),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        };
        for batch in statements::<issue::Entity, _>(in_order(together)) {
            let at_of: HashMap<(&str, &str), usize> =
                batch.iter().map(|&at| (issues[at].key(), at)).collect();
            let rows = batch.iter().map(|&at| row(&issues[at]));
            for model in issue::Entity::insert_many(rows)
                .exec_with_returning(db)
                .await?
            {
                let key = (model.user_id.as_str(), model.policy.as_str());
                if let Some(&at) = at_of.get(&key) {
                    ids[at] = Some(model.id);
                }
            }
        }
        for at in in_order(alone) {
            let result = issue::Entity::insert(row(&issues[at])).exec(db).await?;
            ids[at] = Some(result.last_insert_id);
        }
        Ok(ids)
    }

    async fn sessions(
        &self,
        db: &impl ConnectionTrait,
        sessions: &[SessionSummary],
        now: DateTime<Utc>,
    ) -> Result<(), DbErr> {
        let sessions = last_per_id(sessions.iter().collect(), |s| s.chat_id.clone());
        let rows = sessions.into_iter().map(|s| session::ActiveModel {
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
        });
        for batch in statements::<session::Entity, _>(rows.collect()) {
            session::Entity::insert_many(batch)
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
        }
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
