//! The database as the job's sink: one transaction per chunk, every row an idempotent upsert
//! keyed by a deterministic id, so re-running a job (after a crash, a takeover, a duplicate
//! delivery) leaves the same rows as running it once.

mod postgres;

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use logwarden_entities::issue::{self, IssueStatus};
use logwarden_entities::{access_event, alert, event, session, violation};
use logwarden_jobs::pairing::{PromptEvent, SessionSummary};
use logwarden_jobs::retry::{ErrorClass, JobError};
use logwarden_jobs::source::{
    ActivityRecord, EvaluatedEvent, EventSink, IngestChunk, Persisted, SideTags,
};
use sea_orm::sea_query::{Alias, Condition, Expr, ExprTrait, Func, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr,
    EntityTrait, IdenStatic, Iterable, QueryFilter, QuerySelect,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Provider recorded on every event from the Compliance API.
pub const PROVIDER: &str = "ANTHROPIC_COMPLIANCE_API";
/// Namespace of violation and alert ids (UUIDv5 of the event id and the finding).
const FINDING_NAMESPACE: Uuid = Uuid::from_u128(0x6c77_6669_6e64_4e67_8000_0000_0000_0001);
/// Namespace of stored event ids: the pairing's id (which derives from the upstream message
/// alone) scoped by the integration, so two integrations of one organisation keep their own
/// rows. The migration `m20261201_000022` gave stored rows these ids; never change it.
const EVENT_NAMESPACE: Uuid = Uuid::from_u128(0x6c77_696e_7465_6772_8000_0000_0000_0001);

/// The stored id of the event `event_id` (a [`PromptEvent::id`]) of `integration_id`.
pub fn stored_event_id(integration_id: i64, event_id: Uuid) -> Uuid {
    let mut name = [0u8; 24];
    name[..8].copy_from_slice(&integration_id.to_be_bytes());
    name[8..].copy_from_slice(event_id.as_bytes());
    Uuid::new_v5(&EVENT_NAMESPACE, &name)
}

/// The stored id of the session of chat `chat_id` of `integration_id`.
pub fn stored_session_id(integration_id: i64, chat_id: &str) -> String {
    format!("{integration_id}:{chat_id}")
}

/// The close reason of an alert that a newer evaluation no longer raises.
pub const SUPERSEDED: &str = "superseded";

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
}

impl EventSink<StoredFinding> for DbSink {
    async fn persist(&self, mut chunk: IngestChunk<StoredFinding>) -> Result<Persisted, JobError> {
        // From here on every id is the stored one, violations and alerts derived from it.
        for evaluated in &mut chunk.events {
            evaluated.event.id = stored_event_id(self.integration_id, evaluated.event.id);
        }
        let txn = crate::store::begin_write(&self.db)
            .await
            .map_err(db_error)?;
        let now = Utc::now();
        self.access_events(&txn, &chunk.access_events, now)
            .await
            .map_err(db_error)?;
        // A chunk may carry an event twice; its last copy counts.
        let events = last_per_id(chunk.events.iter().collect(), |e| e.event.id);
        let written = self.events(&txn, &events, now).await.map_err(db_error)?;
        // An event whose stored copy is fresher keeps its verdict too.
        let verdicts: Vec<(&PromptEvent, &[StoredFinding])> = events
            .iter()
            .filter(|e| written.contains(&e.event.id))
            .filter_map(|e| Some((&e.event, e.findings.as_deref()?)))
            .collect();
        let alerts = self
            .findings(&txn, &verdicts, now)
            .await
            .map_err(db_error)?;
        self.sessions(&txn, &chunk.sessions, now)
            .await
            .map_err(db_error)?;
        txn.commit().await.map_err(db_error)?;
        Ok(Persisted { alerts })
    }

    async fn unchanged(
        &self,
        events: &[PromptEvent],
        policy_set_version: Option<i32>,
    ) -> Result<HashSet<Uuid>, JobError> {
        let mut unchanged = HashSet::new();
        for batch in events.chunks(MAX_BINDS) {
            let by_stored: HashMap<Uuid, &PromptEvent> = batch
                .iter()
                .map(|e| (stored_event_id(self.integration_id, e.id), e))
                .collect();
            let stored: Vec<(Uuid, String, Option<i32>)> = event::Entity::find()
                .select_only()
                .column(event::Column::Id)
                .column(event::Column::ContentHash)
                .column(event::Column::PolicySetVersion)
                .filter(event::Column::Id.is_in(by_stored.keys().copied()))
                .into_tuple()
                .all(&self.db)
                .await
                .map_err(db_error)?;
            if stored.is_empty() {
                continue;
            }
            let stored: HashMap<Uuid, (String, Option<i32>)> = stored
                .into_iter()
                .map(|(id, hash, version)| (id, (hash, version)))
                .collect();
            // Hashing only the events that are stored: a first ingestion pays nothing.
            for (id, e) in &by_stored {
                let Some((hash, version)) = stored.get(id) else {
                    continue;
                };
                // The stored hash covers the stored id.
                let stored_copy = PromptEvent {
                    id: *id,
                    ..(*e).clone()
                };
                if *version == policy_set_version
                    && stored_copy.content_hash().is_ok_and(|new| new == *hash)
                {
                    unchanged.insert(e.id);
                }
            }
        }
        Ok(unchanged)
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

/// The alerts one chunk raises for one user and policy: what their open issue gains.
struct IssueDraft {
    user_id: String,
    user_email: String,
    policy: String,
    severity: String,
    first_seen_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    /// Alert ids.
    alerts: Vec<Uuid>,
}

/// The actor columns of an access event, read from its record.
struct AccessActor {
    actor_type: String,
    user_id: Option<String>,
    email: Option<String>,
    ip_address: Option<String>,
    organization_uuid: Option<String>,
}

impl AccessActor {
    fn of(record: &ActivityRecord) -> Self {
        let actor = record.record.get("actor");
        let actor_str = |field: &str| {
            actor
                .and_then(|a| a.get(field))
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        AccessActor {
            actor_type: actor_str("type").unwrap_or_else(|| "unknown".to_owned()),
            user_id: actor_str("user_id"),
            email: actor_str("email_address"),
            ip_address: actor_str("ip_address"),
            organization_uuid: record
                .record
                .get("organization_uuid")
                .and_then(|v| v.as_str())
                .map(str::to_owned),
        }
    }
}

/// A session's deletion time: the API's, or the chat's update time when it gives none.
fn deleted_at(s: &SessionSummary) -> Option<DateTime<Utc>> {
    s.deleted.then(|| s.deleted_at.unwrap_or(s.chat_updated_at))
}

/// Whether `db` takes the PostgreSQL path (one statement per table, see [`postgres`]).
fn is_postgres(db: &impl ConnectionTrait) -> bool {
    db.get_database_backend() == DbBackend::Postgres
}

/// The id of a violation's alert.
fn alert_id(violation_id: Uuid) -> Uuid {
    Uuid::new_v5(&FINDING_NAMESPACE, violation_id.as_bytes())
}

impl DbSink {
    async fn access_events(
        &self,
        db: &impl ConnectionTrait,
        records: &[ActivityRecord],
        now: DateTime<Utc>,
    ) -> Result<(), DbErr> {
        if is_postgres(db) {
            return postgres::access_events(self, db, records, now).await;
        }
        let rows = records.iter().map(|record| {
            let actor = AccessActor::of(record);
            access_event::ActiveModel {
                integration_id: Set(self.integration_id),
                activity_id: Set(record.id.clone()),
                activity_type: Set(record.activity_type.clone()),
                actor_type: Set(actor.actor_type),
                actor_user_id: Set(actor.user_id),
                actor_email: Set(actor.email),
                ip_address: Set(actor.ip_address),
                organization_uuid: Set(actor.organization_uuid),
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

    /// Upserts `events`; returns the ids it wrote. A stored event is replaced only by a copy
    /// at least as fresh: from a chat updated later, or updated at the same time and
    /// evaluated with the same or a newer policy set version. Rows stored before freshness
    /// was recorded take any copy.
    async fn events(
        &self,
        db: &impl ConnectionTrait,
        events: &[&EvaluatedEvent<StoredFinding>],
        now: DateTime<Utc>,
    ) -> Result<HashSet<Uuid>, DbErr> {
        if is_postgres(db) {
            return postgres::events(self, db, events, now).await;
        }
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
                source_updated_at: Set(Some(e.source_updated_at)),
                side_tags: Set(Some(serde_json::json!(evaluated.side_tags))),
            }
        });
        let stored = |column: event::Column| Expr::col((event::Entity, column));
        let excluded = |column: event::Column| Expr::col((Alias::new("excluded"), column));
        let version = |expr: Expr| Expr::expr(Func::coalesce([expr, Expr::value(-1)]));
        let fresh = Condition::any()
            .add(stored(event::Column::SourceUpdatedAt).is_null())
            .add(
                stored(event::Column::SourceUpdatedAt).lt(excluded(event::Column::SourceUpdatedAt)),
            )
            .add(
                Condition::all()
                    .add(
                        stored(event::Column::SourceUpdatedAt)
                            .eq(excluded(event::Column::SourceUpdatedAt)),
                    )
                    .add(
                        version(stored(event::Column::PolicySetVersion))
                            .lte(version(excluded(event::Column::PolicySetVersion))),
                    ),
            );
        let mut written = HashSet::new();
        for batch in statements::<event::Entity, _>(rows.collect()) {
            // On conflict everything but the first ingestion time is replaced: a later run
            // may bring the response, or a re-evaluation new findings.
            let keys = event::Entity::insert_many(batch)
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
                            event::Column::SideTags,
                            event::Column::ViolationSummary,
                            event::Column::PolicySetVersion,
                            event::Column::ContentHash,
                            event::Column::Model,
                            event::Column::SourceUpdatedAt,
                        ])
                        .action_cond_where(fresh.clone())
                        .to_owned(),
                )
                .exec_with_returning_keys(db)
                .await?;
            written.extend(keys);
        }
        Ok(written)
    }

    /// Replaces a stored event's findings and tags with a new verdict (re-evaluation), when
    /// the event still holds the content that was evaluated (`content_hash`): a job that
    /// stored newer content meanwhile brought its own verdict. Returns whether it applied.
    pub async fn apply_verdict(
        &self,
        db: &impl ConnectionTrait,
        e: &PromptEvent,
        content_hash: &str,
        findings: &[StoredFinding],
        tags: &[String],
        side_tags: &SideTags,
    ) -> Result<bool, DbErr> {
        let now = Utc::now();
        let updated = event::Entity::update_many()
            .col_expr(event::Column::Tags, Expr::value(serde_json::json!(tags)))
            .col_expr(
                event::Column::SideTags,
                Expr::value(serde_json::json!(side_tags)),
            )
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
            .filter(event::Column::ContentHash.eq(content_hash))
            .exec(db)
            .await?;
        if updated.rows_affected == 0 {
            return Ok(false);
        }
        self.findings(db, &[(e, findings)], now).await?;
        Ok(true)
    }

    /// Makes each event's violations its findings: violations found again take the new
    /// verdict (action, severity, evidence, policy set version), the others are superseded.
    /// Alerts follow the effective action: raised (or reopened) when it is `alert`, closed
    /// as `superseded` when it no longer is; never deleted.
    async fn findings(
        &self,
        db: &impl ConnectionTrait,
        verdicts: &[(&PromptEvent, &[StoredFinding])],
        now: DateTime<Utc>,
    ) -> Result<u64, DbErr> {
        if verdicts.is_empty() {
            return Ok(0);
        }
        let mut wanted = HashMap::new();
        for &(e, findings) in verdicts {
            for finding in findings {
                wanted.entry(finding.id(e.id)).or_insert((e, finding));
            }
        }
        if is_postgres(db) {
            let no_alert = wanted
                .iter()
                .filter(|(_, (_, finding))| !finding.raises_alert())
                .map(|(&id, _)| id);
            postgres::supersede(
                db,
                verdicts.iter().map(|(e, _)| e.id),
                wanted.keys().copied(),
                no_alert,
                now,
            )
            .await?;
            let rows: Vec<(Uuid, &PromptEvent, &StoredFinding)> = wanted
                .iter()
                .map(|(&id, &(e, finding))| (id, e, finding))
                .collect();
            postgres::violations(self, db, &rows, now).await?;
            return self.raise(db, &wanted, now).await;
        }
        let stale = self.stale_violations(db, verdicts, &wanted).await?;
        for batch in stale.chunks(MAX_BINDS) {
            violation::Entity::update_many()
                .col_expr(violation::Column::SupersededAt, Expr::value(Some(now)))
                .filter(violation::Column::Id.is_in(batch.iter().copied()))
                .exec(db)
                .await?;
        }
        let no_alert: Vec<Uuid> = wanted
            .iter()
            .filter(|(_, (_, finding))| !finding.raises_alert())
            .map(|(&id, _)| id)
            .chain(stale)
            .collect();
        self.close_alerts(db, &no_alert, now).await?;

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
                superseded_at: Set(None),
            })
            .collect();
        for batch in statements::<violation::Entity, _>(rows) {
            violation::Entity::insert_many(batch)
                .on_conflict(
                    OnConflict::column(violation::Column::Id)
                        .update_columns([
                            violation::Column::Evidence,
                            violation::Column::Severity,
                            violation::Column::ConfiguredAction,
                            violation::Column::EffectiveAction,
                            violation::Column::UserId,
                            violation::Column::EventTime,
                            violation::Column::PolicySetVersion,
                            violation::Column::SupersededAt,
                        ])
                        .to_owned(),
                )
                .exec_without_returning(db)
                .await?;
        }
        self.raise(db, &wanted, now).await
    }

    /// Raises the alerts of the findings in `wanted` whose effective action is `alert`;
    /// returns how many were raised.
    async fn raise(
        &self,
        db: &impl ConnectionTrait,
        wanted: &HashMap<Uuid, (&PromptEvent, &StoredFinding)>,
        now: DateTime<Utc>,
    ) -> Result<u64, DbErr> {
        let mut alerts: Vec<(Uuid, &PromptEvent, &StoredFinding)> = wanted
            .iter()
            .filter(|(_, (_, finding))| finding.raises_alert())
            .map(|(&id, &(e, finding))| (id, e, finding))
            .collect();
        alerts.sort_by_key(|&(id, e, _)| (e.event_time, id));
        self.alerts(db, &alerts, now).await
    }

    /// The standing violations of `verdicts`' events that the new findings no longer contain.
    async fn stale_violations(
        &self,
        db: &impl ConnectionTrait,
        verdicts: &[(&PromptEvent, &[StoredFinding])],
        wanted: &HashMap<Uuid, (&PromptEvent, &StoredFinding)>,
    ) -> Result<Vec<Uuid>, DbErr> {
        let event_ids: Vec<Uuid> = verdicts.iter().map(|(e, _)| e.id).collect();
        let mut stale = Vec::new();
        for batch in event_ids.chunks(MAX_BINDS) {
            let stored: Vec<Uuid> = violation::Entity::find()
                .select_only()
                .column(violation::Column::Id)
                .filter(violation::Column::EventId.is_in(batch.iter().copied()))
                .filter(violation::Column::SupersededAt.is_null())
                .into_tuple()
                .all(db)
                .await?;
            stale.extend(stored.into_iter().filter(|id| !wanted.contains_key(id)));
        }
        Ok(stale)
    }

    /// Closes the open alerts of `violations` as `superseded`; they stay visible.
    async fn close_alerts(
        &self,
        db: &impl ConnectionTrait,
        violations: &[Uuid],
        now: DateTime<Utc>,
    ) -> Result<(), DbErr> {
        for batch in violations.chunks(MAX_BINDS) {
            alert::Entity::update_many()
                .col_expr(alert::Column::ClosedAt, Expr::value(Some(now)))
                .col_expr(alert::Column::CloseReason, Expr::value(Some(SUPERSEDED)))
                .filter(alert::Column::ViolationId.is_in(batch.iter().copied()))
                .filter(alert::Column::ClosedAt.is_null())
                .exec(db)
                .await?;
        }
        Ok(())
    }

    /// Raises `alerts` (in event-time order): inserts the new ones and reopens closed ones;
    /// an alert already open is left alone, so a rerun raises nothing twice. Each raised
    /// alert joins the open issue of its user and policy, or opens it.
    async fn alerts(
        &self,
        db: &impl ConnectionTrait,
        alerts: &[(Uuid, &PromptEvent, &StoredFinding)],
        now: DateTime<Utc>,
    ) -> Result<u64, DbErr> {
        if alerts.is_empty() {
            return Ok(0);
        }
        let by_id: HashMap<Uuid, (&PromptEvent, &StoredFinding)> = alerts
            .iter()
            .map(|&(violation_id, e, finding)| (alert_id(violation_id), (e, finding)))
            .collect();
        let raised = if is_postgres(db) {
            let rows: Vec<_> = alerts
                .iter()
                .map(|&(violation_id, e, finding)| {
                    (alert_id(violation_id), violation_id, e, finding)
                })
                .collect();
            postgres::alerts(self, db, &rows, now).await?
        } else {
            self.insert_alerts(db, alerts, now).await?
        };
        // The raised alerts of each user and policy, in event-time order.
        let mut groups: Vec<IssueDraft> = Vec::new();
        let mut group_of: HashMap<(&str, &str), usize> = HashMap::new();
        let mut raised: Vec<(Uuid, &PromptEvent, &StoredFinding)> = raised
            .into_iter()
            .filter_map(|id| by_id.get(&id).map(|&(e, finding)| (id, e, finding)))
            .collect();
        raised.sort_by_key(|&(id, e, _)| (e.event_time, id));
        let count = raised.len() as u64;
        for (id, e, finding) in raised {
            let at = *group_of
                .entry((e.user_id.as_str(), finding.policy.as_str()))
                .or_insert_with(|| {
                    groups.push(IssueDraft {
                        user_id: e.user_id.clone(),
                        user_email: e.user_email.clone(),
                        policy: finding.policy.clone(),
                        severity: finding.severity.clone(),
                        first_seen_at: e.event_time,
                        last_seen_at: e.event_time,
                        alerts: Vec::new(),
                    });
                    groups.len() - 1
                });
            let group = &mut groups[at];
            group.first_seen_at = Ord::min(group.first_seen_at, e.event_time);
            group.last_seen_at = Ord::max(group.last_seen_at, e.event_time);
            group.alerts.push(id);
        }
        self.save_issues(db, &groups, now).await?;
        Ok(count)
    }

    /// Inserts `alerts` and reopens closed ones, one multi-row statement per bind limit;
    /// returns the ids of the raised ones.
    async fn insert_alerts(
        &self,
        db: &impl ConnectionTrait,
        alerts: &[(Uuid, &PromptEvent, &StoredFinding)],
        now: DateTime<Utc>,
    ) -> Result<Vec<Uuid>, DbErr> {
        let rows = alerts
            .iter()
            .map(|&(violation_id, e, finding)| alert::ActiveModel {
                id: Set(alert_id(violation_id)),
                violation_id: Set(violation_id),
                event_id: Set(e.id),
                integration_id: Set(self.integration_id),
                issue_id: Set(None),
                policy: Set(finding.policy.clone()),
                severity: Set(finding.severity.clone()),
                configured_action: Set(finding.configured_action.clone()),
                user_id: Set(e.user_id.clone()),
                user_email: Set(e.user_email.clone()),
                event_time: Set(e.event_time),
                created_at: Set(now),
                closed_at: Set(None),
                close_reason: Set(None),
            });
        let mut raised = Vec::new();
        for batch in statements::<alert::Entity, _>(rows.collect()) {
            let keys = alert::Entity::insert_many(batch)
                .on_conflict(
                    OnConflict::column(alert::Column::ViolationId)
                        .update_columns([
                            alert::Column::ClosedAt,
                            alert::Column::CloseReason,
                            alert::Column::Severity,
                            alert::Column::ConfiguredAction,
                        ])
                        .action_and_where(
                            Expr::col((alert::Entity, alert::Column::ClosedAt)).is_not_null(),
                        )
                        .to_owned(),
                )
                .exec_with_returning_keys(db)
                .await?;
            raised.extend(keys);
        }
        Ok(raised)
    }

    /// Adds each group's alerts to the open issue of its user and policy, opening it when
    /// there is none, in one atomic upsert per statement: two writers at once find the same
    /// open issue, since it is unique. Then points the alerts at their issue.
    async fn save_issues(
        &self,
        db: &impl ConnectionTrait,
        groups: &[IssueDraft],
        now: DateTime<Utc>,
    ) -> Result<(), DbErr> {
        if is_postgres(db) {
            return postgres::save_issues(self, db, groups, now).await;
        }
        let rows = groups.iter().map(|group| issue::ActiveModel {
            integration_id: Set(self.integration_id),
            user_id: Set(group.user_id.clone()),
            user_email: Set(group.user_email.clone()),
            policy: Set(group.policy.clone()),
            severity: Set(group.severity.clone()),
            status: Set(IssueStatus::Open),
            alert_count: Set(group.alerts.len() as i64),
            first_seen_at: Set(group.first_seen_at),
            last_seen_at: Set(group.last_seen_at),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        });
        let stored = |column: issue::Column| Expr::col((issue::Entity, column));
        let excluded = |column: issue::Column| Expr::col((Alias::new("excluded"), column));
        let earlier = |column: issue::Column| {
            Expr::case(excluded(column).lt(stored(column)), excluded(column))
                .finally(stored(column))
        };
        let later = |column: issue::Column| {
            Expr::case(excluded(column).gt(stored(column)), excluded(column))
                .finally(stored(column))
        };
        let mut ids: HashMap<(String, String), i64> = HashMap::new();
        for batch in statements::<issue::Entity, _>(rows.collect()) {
            let saved = issue::Entity::insert_many(batch)
                .on_conflict(
                    OnConflict::columns([
                        issue::Column::IntegrationId,
                        issue::Column::UserId,
                        issue::Column::Policy,
                    ])
                    // The partial index's own predicate, written out: SQLite matches the
                    // conflict target to the index only on the literal text.
                    .target_and_where(Expr::cust("status <> 'resolved'"))
                    .value(
                        issue::Column::AlertCount,
                        stored(issue::Column::AlertCount).add(excluded(issue::Column::AlertCount)),
                    )
                    .value(
                        issue::Column::FirstSeenAt,
                        earlier(issue::Column::FirstSeenAt),
                    )
                    .value(issue::Column::LastSeenAt, later(issue::Column::LastSeenAt))
                    .value(issue::Column::UpdatedAt, excluded(issue::Column::UpdatedAt))
                    .to_owned(),
                )
                .exec_with_returning(db)
                .await?;
            ids.extend(
                saved
                    .into_iter()
                    .map(|model| ((model.user_id, model.policy), model.id)),
            );
        }
        for group in groups {
            let Some(&id) = ids.get(&(group.user_id.clone(), group.policy.clone())) else {
                continue;
            };
            for batch in group.alerts.chunks(MAX_BINDS) {
                alert::Entity::update_many()
                    .col_expr(alert::Column::IssueId, Expr::value(Some(id)))
                    .filter(alert::Column::Id.is_in(batch.iter().copied()))
                    .exec(db)
                    .await?;
            }
        }
        Ok(())
    }

    /// Upserts one session per chat, when its copy is at least as fresh as the stored one.
    /// A deleted chat arrives empty: its session records the deletion and keeps the title,
    /// counts and times stored before.
    async fn sessions(
        &self,
        db: &impl ConnectionTrait,
        sessions: &[SessionSummary],
        now: DateTime<Utc>,
    ) -> Result<(), DbErr> {
        let sessions = last_per_id(sessions.iter().collect(), |s| s.chat_id.clone());
        let (deleted, present): (Vec<&SessionSummary>, Vec<&SessionSummary>) =
            sessions.into_iter().partition(|s| s.deleted);
        let columns = [
            session::Column::Title,
            session::Column::Model,
            session::Column::Deleted,
            session::Column::DeletedAt,
            session::Column::ChatUpdatedAt,
            session::Column::FirstEventAt,
            session::Column::LastEventAt,
            session::Column::EventCount,
            session::Column::MessageCount,
            session::Column::UpdatedAt,
        ];
        let deletion = [
            session::Column::Deleted,
            session::Column::DeletedAt,
            session::Column::ChatUpdatedAt,
            session::Column::UpdatedAt,
        ];
        for (group, update) in [(present, &columns[..]), (deleted, &deletion[..])] {
            if is_postgres(db) {
                let update: Vec<&str> = update.iter().map(|column| column.as_str()).collect();
                postgres::sessions(self, db, &group, &update, now).await?;
                continue;
            }
            let rows = group.into_iter().map(|s| session::ActiveModel {
                id: Set(stored_session_id(self.integration_id, &s.chat_id)),
                chat_id: Set(s.chat_id.clone()),
                integration_id: Set(self.integration_id),
                project_id: Set(self.project_id),
                title: Set(s.title.clone()),
                user_id: Set(s.user_id.clone()),
                user_email: Set(s.user_email.clone()),
                claude_project_id: Set(s.project_id.clone()),
                model: Set(s.model.clone()),
                deleted: Set(s.deleted),
                deleted_at: Set(deleted_at(s)),
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
                            .update_columns(update.iter().copied())
                            .action_and_where(
                                Expr::col((session::Entity, session::Column::ChatUpdatedAt)).lte(
                                    Expr::col((
                                        Alias::new("excluded"),
                                        session::Column::ChatUpdatedAt,
                                    )),
                                ),
                            )
                            .to_owned(),
                    )
                    .exec_without_returning(db)
                    .await?;
            }
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
