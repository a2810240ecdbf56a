//! Sessions: one chat each. The list ([`Services::list_sessions`]) filters by user, time and
//! whether the chat has violations; one session ([`Services::session_chat`]) is its whole chat
//! in chronological order, each event with its violations in place, and the findings of the
//! session policies over the whole chat.
//!
//! Violation counts and session findings are computed from the standing violations when read,
//! so they always match the events' own violations, however often the chat was re-evaluated.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use logwarden_entities::{event, session, violation};
use logwarden_policy::{
    evaluate_session, Action, Direction, Finding, PolicyId, Role, SessionPolicyConfig, SessionTurn,
    Severity,
};
use sea_orm::sea_query::{Expr, ExprTrait, Query, SelectStatement};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect, RelationTrait,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::events::{labels, EventViolation};
use super::{check_range, text_filter, TimeKey};
use crate::ingest::evaluators::snake_case;
use crate::service::page::{Cursor, Limit, Page};
use crate::service::scope::Scope;
use crate::service::{Error, Services};

const LIST: &str = "sessions";

/// Filters of the sessions list, newest chat first. The time range is half-open and keeps
/// the sessions with an event inside it.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SessionQuery {
    /// The user's email, exactly.
    pub user_email: Option<String>,
    /// The user's id, exactly.
    pub user_id: Option<String>,
    /// Sessions with an event at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Sessions with an event before this time.
    pub to: Option<DateTime<Utc>>,
    pub integration_id: Option<i64>,
    /// `true`: only chats with a standing violation; `false`: only chats without.
    pub has_violations: Option<bool>,
    #[serde(default)]
    #[param(value_type = Option<u64>, minimum = 1, maximum = 1000)]
    pub limit: Limit,
    #[param(value_type = Option<String>)]
    pub cursor: Option<Cursor>,
}

/// One session of the list.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SessionRow {
    /// `<integration id>:<chat id>`.
    pub id: String,
    pub chat_id: String,
    pub integration_id: i64,
    /// The integration's name.
    pub resource_name: String,
    pub project_id: i64,
    pub title: String,
    pub user_id: String,
    pub user_email: String,
    pub model: Option<String>,
    /// Whether the chat was deleted upstream (what was ingested before stays).
    pub deleted: bool,
    pub chat_created_at: DateTime<Utc>,
    pub chat_updated_at: DateTime<Utc>,
    pub first_event_at: Option<DateTime<Utc>>,
    pub last_event_at: Option<DateTime<Utc>>,
    pub event_count: i64,
    pub message_count: i64,
    /// Standing violations over the chat's events.
    pub violation_count: u64,
}

/// One event of a chat, in full, with its violations in place.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ChatEvent {
    #[schema(value_type = String)]
    pub id: Uuid,
    pub event_time: DateTime<Utc>,
    pub responded_at: Option<DateTime<Utc>>,
    pub user_message_id: String,
    pub model: Option<String>,
    pub input: String,
    pub output: String,
    #[schema(value_type = Object)]
    pub tool_calls: serde_json::Value,
    #[schema(value_type = Object)]
    pub attachments: serde_json::Value,
    pub tags: Vec<String>,
    /// Standing violations, by side and position.
    pub violations: Vec<EventViolation>,
}

/// A finding of the session policies about the chat as a whole.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SessionFindingView {
    /// `repeated_attacks`, `refusal_rephrasing`, `multiple_encodings`, `escalation` or
    /// `tool_data_exfiltration`.
    pub rule: String,
    /// `low`, `medium`, `high` or `critical`.
    pub severity: String,
    pub detail: String,
    /// The events whose turns the finding involves, in chat order.
    #[schema(value_type = Vec<String>)]
    pub event_ids: Vec<Uuid>,
}

/// One session's whole chat.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SessionChat {
    pub session: SessionRow,
    /// Oldest first.
    pub events: Vec<ChatEvent>,
    pub session_findings: Vec<SessionFindingView>,
}

impl SessionQuery {
    fn condition(&self, scope: &Scope) -> Result<Condition, Error> {
        let mut condition = scope.on_integration(session::Column::IntegrationId);
        if let Some(email) = text_filter("user_email", &self.user_email)? {
            condition = condition.add(session::Column::UserEmail.eq(email));
        }
        if let Some(user_id) = text_filter("user_id", &self.user_id)? {
            condition = condition.add(session::Column::UserId.eq(user_id));
        }
        check_range(self.from, self.to)?;
        if let Some(from) = self.from {
            condition = condition.add(session::Column::LastEventAt.gte(from));
        }
        if let Some(to) = self.to {
            condition = condition.add(session::Column::FirstEventAt.lt(to));
        }
        if let Some(id) = self.integration_id {
            condition = condition.add(session::Column::IntegrationId.eq(id));
        }
        match self.has_violations {
            Some(true) => condition = condition.add(Expr::exists(chat_violations())),
            Some(false) => condition = condition.add(Expr::not_exists(chat_violations())),
            None => {}
        }
        Ok(condition)
    }
}

/// The standing violations of the outer query's session.
fn chat_violations() -> SelectStatement {
    Query::select()
        .expr(Expr::val(1))
        .from(violation::Entity)
        .inner_join(
            event::Entity,
            Expr::col((event::Entity, event::Column::Id))
                .equals((violation::Entity, violation::Column::EventId)),
        )
        .and_where(
            Expr::col((event::Entity, event::Column::IntegrationId))
                .equals((session::Entity, session::Column::IntegrationId)),
        )
        .and_where(
            Expr::col((event::Entity, event::Column::ChatId))
                .equals((session::Entity, session::Column::ChatId)),
        )
        .and_where(Expr::col((violation::Entity, violation::Column::SupersededAt)).is_null())
        .to_owned()
}

impl Services {
    /// One page of the sessions that match `query` inside `scope`, newest chat first.
    pub async fn list_sessions(
        &self,
        scope: &Scope,
        query: &SessionQuery,
    ) -> Result<Page<SessionRow>, Error> {
        let mut select = session::Entity::find().filter(query.condition(scope)?);
        if let Some(cursor) = &query.cursor {
            let key = TimeKey::parse(cursor, LIST, |id| !id.is_empty())?;
            select = select.filter(key.before(
                session::Column::ChatCreatedAt,
                session::Column::Id,
                key.id.clone(),
            ));
        }
        let rows = select
            .order_by_desc(session::Column::ChatCreatedAt)
            .order_by_desc(session::Column::Id)
            .limit(query.limit.get() + 1)
            .all(&self.db)
            .await?;
        let (rows, next_cursor) = TimeKey::cut(LIST, query.limit, rows, |row| {
            TimeKey::new(row.chat_created_at, &row.id)
        });
        Ok(Page {
            items: self.session_rows(rows).await?,
            next_cursor,
        })
    }

    /// Adds integration names and violation counts to sessions.
    async fn session_rows(&self, rows: Vec<session::Model>) -> Result<Vec<SessionRow>, Error> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let names = self
            .integration_names(rows.iter().map(|row| row.integration_id))
            .await?;
        let mut chats = Condition::any();
        for row in &rows {
            chats = chats.add(
                Condition::all()
                    .add(
                        Expr::col((event::Entity, event::Column::IntegrationId))
                            .eq(row.integration_id),
                    )
                    .add(
                        Expr::col((event::Entity, event::Column::ChatId)).eq(row.chat_id.as_str()),
                    ),
            );
        }
        let counts: HashMap<(i64, String), i64> = violation::Entity::find()
            .select_only()
            .column_as(
                Expr::col((event::Entity, event::Column::IntegrationId)),
                "integration_id",
            )
            .column_as(Expr::col((event::Entity, event::Column::ChatId)), "chat_id")
            .column_as(violation::Column::Id.count(), "count")
            .join(
                sea_orm::JoinType::InnerJoin,
                violation::Relation::Event.def(),
            )
            .filter(chats)
            .filter(violation::Column::SupersededAt.is_null())
            .group_by(Expr::col((event::Entity, event::Column::IntegrationId)))
            .group_by(Expr::col((event::Entity, event::Column::ChatId)))
            .into_tuple::<(i64, String, i64)>()
            .all(&self.db)
            .await?
            .into_iter()
            .map(|(integration, chat, count)| ((integration, chat), count))
            .collect();
        Ok(rows
            .into_iter()
            .map(|row| SessionRow {
                violation_count: counts
                    .get(&(row.integration_id, row.chat_id.clone()))
                    .map_or(0, |&count| u64::try_from(count).unwrap_or(0)),
                resource_name: names.get(&row.integration_id).cloned().unwrap_or_default(),
                id: row.id,
                chat_id: row.chat_id,
                integration_id: row.integration_id,
                project_id: row.project_id,
                title: row.title,
                user_id: row.user_id,
                user_email: row.user_email,
                model: row.model,
                deleted: row.deleted,
                chat_created_at: row.chat_created_at,
                chat_updated_at: row.chat_updated_at,
                first_event_at: row.first_event_at,
                last_event_at: row.last_event_at,
                event_count: row.event_count,
                message_count: row.message_count,
            })
            .collect())
    }

    /// One session's whole chat, oldest event first, if the session exists inside `scope`.
    pub async fn session_chat(&self, scope: &Scope, id: &str) -> Result<SessionChat, Error> {
        let row = session::Entity::find_by_id(id.to_owned())
            .filter(scope.on_integration(session::Column::IntegrationId))
            .one(&self.db)
            .await?
            .ok_or_else(|| Error::not_found("session", id))?;
        let events = event::Entity::find()
            .filter(event::Column::IntegrationId.eq(row.integration_id))
            .filter(event::Column::ChatId.eq(row.chat_id.as_str()))
            .order_by_asc(event::Column::EventTime)
            .order_by_asc(event::Column::Id)
            .all(&self.db)
            .await?;
        let mut violations: HashMap<Uuid, Vec<EventViolation>> = HashMap::new();
        for ids in events.chunks(1000) {
            let found = violation::Entity::find()
                .filter(violation::Column::EventId.is_in(ids.iter().map(|e| e.id)))
                .filter(violation::Column::SupersededAt.is_null())
                .order_by_asc(violation::Column::Direction)
                .order_by_asc(violation::Column::SpanStart)
                .order_by_asc(violation::Column::Id)
                .all(&self.db)
                .await?;
            for v in found {
                violations.entry(v.event_id).or_default().push(v.into());
            }
        }
        let events: Vec<ChatEvent> = events
            .into_iter()
            .map(|e| ChatEvent {
                violations: violations.remove(&e.id).unwrap_or_default(),
                tags: labels(&e.tags),
                id: e.id,
                event_time: e.event_time,
                responded_at: e.responded_at,
                user_message_id: e.user_message_id,
                model: e.model,
                input: e.input_text,
                output: e.output_text,
                tool_calls: e.tool_calls,
                attachments: e.attachments,
            })
            .collect();
        let session_findings = session_findings(&events);
        let session = self
            .session_rows(vec![row])
            .await?
            .pop()
            .ok_or_else(|| Error::not_found("session", id))?;
        Ok(SessionChat {
            session,
            events,
            session_findings,
        })
    }
}

/// A stored violation as the policy engine's finding, for the session rules; `None` for a
/// policy or value this build does not know.
fn finding(v: &EventViolation) -> Option<Finding> {
    let policy = PolicyId::parse(&v.policy).ok()?.as_str();
    let direction = match v.direction.as_str() {
        "input" => Direction::Input,
        "output" => Direction::Output,
        "tool" => Direction::Tool,
        _ => return None,
    };
    let severity = match v.severity.as_str() {
        "low" => Severity::Low,
        "medium" => Severity::Medium,
        "high" => Severity::High,
        "critical" => Severity::Critical,
        _ => return None,
    };
    let action = |name: &str| serde_json::from_value::<Action>(serde_json::json!(name)).ok();
    Some(Finding {
        policy,
        rule: v.rule.clone(),
        direction,
        span: usize::try_from(v.span_start).ok()?..usize::try_from(v.span_end).ok()?,
        evidence: v.masked_evidence.clone(),
        severity,
        action: action(&v.configured_action)?,
        effective_action: action(&v.effective_action)?,
    })
}

/// The texts of an event's tool results, as stored in its `tool_calls`.
pub(crate) fn tool_result_texts(tool_calls: &serde_json::Value) -> Vec<(String, String)> {
    let mut texts = Vec::new();
    for call in tool_calls.as_array().into_iter().flatten() {
        let id = call["id"].as_str().unwrap_or_default().to_owned();
        for result in call["results"].as_array().into_iter().flatten() {
            if let Some(text) = result["text"].as_str() {
                texts.push((id.clone(), text.to_owned()));
            }
        }
    }
    texts
}

/// The session rules over a chat: each event is a user turn (the input with its input
/// findings), an assistant turn when it has an output (with its output findings), and a
/// tool turn per tool result (the event's tool findings go with its first).
fn session_findings(events: &[ChatEvent]) -> Vec<SessionFindingView> {
    struct Turn {
        event: usize,
        role: Role,
        text: String,
        findings: Vec<Finding>,
    }
    let mut turns: Vec<Turn> = Vec::new();
    for (index, e) in events.iter().enumerate() {
        let of = |direction: &str| -> Vec<Finding> {
            e.violations
                .iter()
                .filter(|v| v.direction == direction)
                .filter_map(finding)
                .collect()
        };
        turns.push(Turn {
            event: index,
            role: Role::User,
            text: e.input.clone(),
            findings: of("input"),
        });
        let mut tool = of("tool");
        if !e.output.is_empty() {
            turns.push(Turn {
                event: index,
                role: Role::Assistant,
                text: e.output.clone(),
                findings: of("output"),
            });
        }
        for (_, text) in tool_result_texts(&e.tool_calls) {
            turns.push(Turn {
                event: index,
                role: Role::Tool,
                text,
                findings: std::mem::take(&mut tool),
            });
        }
    }
    let session_turns: Vec<SessionTurn<'_>> = turns
        .iter()
        .map(|turn| SessionTurn {
            role: turn.role,
            text: &turn.text,
            findings: &turn.findings,
        })
        .collect();
    evaluate_session(&session_turns, &SessionPolicyConfig::default())
        .into_iter()
        .map(|found| {
            let mut event_ids: Vec<Uuid> = found
                .turns
                .iter()
                .filter_map(|&turn| turns.get(turn).map(|t| events[t.event].id))
                .collect();
            event_ids.dedup();
            SessionFindingView {
                rule: snake_case(&found.rule),
                severity: snake_case(&found.severity),
                detail: found.detail,
                event_ids,
            }
        })
        .collect()
}
