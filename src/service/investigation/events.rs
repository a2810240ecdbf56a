//! Prompt event search: the filters of the investigation view ([`EventQuery`]), one page of
//! matches with a capped total ([`Services::search_events`]), every match as a stream in the
//! same order ([`Services::stream_events`]), and one event in full ([`Services::event_detail`]).
//!
//! Results run by `(event_time, id)`, newest first unless asked; pages continue by keyset on
//! that pair, so a walk never repeats or skips an event that existed when it began, however
//! many events ingestion adds meanwhile.

use std::collections::{BTreeMap, HashMap};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use futures::Stream;
use logwarden_entities::{event, integration, violation};
use logwarden_jobs::source::SideTags;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, DatabaseTransaction, EntityTrait,
    FromQueryResult, QueryFilter, QueryOrder, QuerySelect, QueryTrait, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{check_range, text_filter as text};
use crate::service::page::{Cursor, Limit};
use crate::service::scope::Scope;
use crate::service::{Error, Services};

/// The largest total a search counts; beyond it the total says `capped`.
pub const COUNT_CAP: u64 = 10_000;

/// How many characters of each side a result row carries.
pub const EXCERPT_CHARS: usize = 240;

/// Rows per keyset page while streaming.
const STREAM_PAGE: u64 = 5_000;

/// The order of results.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SortOrder {
    #[default]
    NewestFirst,
    OldestFirst,
}

/// The side of an event a violation was found on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Input,
    Output,
    /// A tool call or tool result.
    Tool,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Input => "input",
            Self::Output => "output",
            Self::Tool => "tool",
        }
    }
}

/// The action a policy took on a violation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActionName {
    Log,
    Alert,
    Block,
    Modify,
}

impl ActionName {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Log => "log",
            Self::Alert => "alert",
            Self::Block => "block",
            Self::Modify => "modify",
        }
    }
}

/// Filters of the prompt events search, as a query string gives them; each is optional and
/// they combine with AND. The time range is half-open: `from <= event_time < to`. Violation
/// filters (`policy`, `direction`, `has_violation`, `effective_action`) look at the
/// violations that stand (not superseded by a newer evaluation). `limit` and `cursor` page
/// [`Services::search_events`]; streams ignore them.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// The user's email, exactly (case-sensitive, as stored).
    pub user_email: Option<String>,
    /// Users whose email starts with this text.
    pub user_email_prefix: Option<String>,
    /// The user's id, exactly.
    pub user_id: Option<String>,
    /// Events at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Events before this time.
    pub to: Option<DateTime<Utc>>,
    pub integration_id: Option<i64>,
    pub project_id: Option<i64>,
    /// The model, exactly (e.g. `claude-sonnet-4`).
    pub model: Option<String>,
    /// Events with a violation of this policy.
    pub policy: Option<String>,
    /// Events with a violation on this side (with `policy`: of that policy on that side).
    pub direction: Option<Direction>,
    /// `true`: only events with a violation; `false`: only events without.
    pub has_violation: Option<bool>,
    /// Events carrying this tag, exactly (e.g. `Injection`).
    pub tag: Option<String>,
    /// Events with a violation whose effective action is this one.
    pub effective_action: Option<ActionName>,
    /// Full-text search over input and output: every word must occur.
    pub q: Option<String>,
    /// `newest_first` (the default) or `oldest_first`.
    pub order: Option<SortOrder>,
    #[serde(default)]
    #[param(value_type = Option<u64>, minimum = 1, maximum = 1000)]
    pub limit: Limit,
    #[param(value_type = Option<String>)]
    pub cursor: Option<Cursor>,
}

/// `text` escaped for a LIKE pattern with `!` as the escape character.
pub(crate) fn like_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '!' | '%' | '_') {
            out.push('!');
        }
        out.push(c);
    }
    out
}

/// An FTS5 query that matches every word of `q`, each quoted so that no character of `q`
/// is read as query syntax.
fn fts5_query(q: &str) -> String {
    q.split_whitespace()
        .map(|word| format!("\"{}\"", word.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(" ")
}

impl EventQuery {
    /// The order the results run in.
    pub fn sort_order(&self) -> SortOrder {
        self.order.unwrap_or_default()
    }

    /// The events the filters match inside `scope` (without the page), after checking every
    /// filter.
    pub fn condition(&self, scope: &Scope, backend: DatabaseBackend) -> Result<Condition, Error> {
        let mut condition = scope.on_integration(event::Column::IntegrationId);
        if let Some(email) = text("user_email", &self.user_email)? {
            condition = condition.add(event::Column::UserEmail.eq(email));
        }
        if let Some(prefix) = text("user_email_prefix", &self.user_email_prefix)? {
            let pattern = format!("{}%", like_escaped(&prefix));
            condition = condition.add(match backend {
                DatabaseBackend::Postgres => Expr::cust_with_values(
                    "\"events\".\"user_email\" LIKE $1 ESCAPE '!'",
                    [pattern],
                ),
                _ => {
                    Expr::cust_with_values("\"events\".\"user_email\" LIKE ? ESCAPE '!'", [pattern])
                }
            });
        }
        if let Some(user_id) = text("user_id", &self.user_id)? {
            condition = condition.add(event::Column::UserId.eq(user_id));
        }
        check_range(self.from, self.to)?;
        if let Some(from) = self.from {
            condition = condition.add(event::Column::EventTime.gte(from));
        }
        if let Some(to) = self.to {
            condition = condition.add(event::Column::EventTime.lt(to));
        }
        if let Some(id) = self.integration_id {
            condition = condition.add(event::Column::IntegrationId.eq(id));
        }
        if let Some(id) = self.project_id {
            condition = condition.add(
                event::Column::IntegrationId.in_subquery(
                    Query::select()
                        .column(integration::Column::Id)
                        .from(integration::Entity)
                        .and_where(integration::Column::ProjectId.eq(id))
                        .to_owned(),
                ),
            );
        }
        if let Some(model) = text("model", &self.model)? {
            condition = condition.add(event::Column::Model.eq(model));
        }
        let policy = text("policy", &self.policy)?;
        if policy.is_some() || self.direction.is_some() || self.effective_action.is_some() {
            let mut violations = standing_violations();
            // A violation carries its event's time, so the range bounds the violations too:
            // the policy filter then reads one range of `violations (policy, event_time, …)`.
            if let Some(from) = self.from {
                violations.and_where(violation::Column::EventTime.gte(from));
            }
            if let Some(to) = self.to {
                violations.and_where(violation::Column::EventTime.lt(to));
            }
            if let Some(policy) = policy {
                violations.and_where(violation::Column::Policy.eq(policy));
            }
            if let Some(direction) = self.direction {
                violations.and_where(violation::Column::Direction.eq(direction.as_str()));
            }
            if let Some(action) = self.effective_action {
                violations.and_where(violation::Column::EffectiveAction.eq(action.as_str()));
            }
            condition = condition.add(Expr::exists(violations));
        }
        match self.has_violation {
            Some(true) => condition = condition.add(Expr::exists(standing_violations())),
            Some(false) => condition = condition.add(Expr::not_exists(standing_violations())),
            None => {}
        }
        if let Some(tag) = text("tag", &self.tag)? {
            let json = serde_json::to_string(&tag).unwrap_or_default();
            let pattern = format!("%{}%", like_escaped(&json));
            condition = condition.add(match backend {
                DatabaseBackend::Postgres => Expr::cust_with_values(
                    "CAST(\"events\".\"tags\" AS TEXT) LIKE $1 ESCAPE '!'",
                    [pattern],
                ),
                _ => Expr::cust_with_values(
                    "CAST(\"events\".\"tags\" AS TEXT) LIKE ? ESCAPE '!'",
                    [pattern],
                ),
            });
        }
        if let Some(q) = text("q", &self.q)? {
            condition = condition.add(match backend {
                DatabaseBackend::Postgres => Expr::cust_with_values(
                    "\"events\".\"search\" @@ websearch_to_tsquery('simple', $1)",
                    [q],
                ),
                _ => Expr::cust_with_values(
                    "\"events\".\"rowid\" IN (SELECT rowid FROM events_fts WHERE events_fts MATCH ?)",
                    [fts5_query(&q)],
                ),
            });
        }
        Ok(condition)
    }
}

/// The standing violations of the outer query's event.
pub(crate) fn standing_violations() -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .expr(Expr::val(1))
        .from(violation::Entity)
        .and_where(
            Expr::col((violation::Entity, violation::Column::EventId))
                .equals((event::Entity, event::Column::Id)),
        )
        .and_where(violation::Column::SupersededAt.is_null())
        .to_owned()
}

/// Where a page of events ends: the `(event_time, id)` of its last row and the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct EventKey {
    order: SortOrder,
    time: DateTime<Utc>,
    id: Uuid,
}

const CURSOR_TAG: &str = "v1:events";

impl EventKey {
    fn cursor(self) -> Cursor {
        let order = match self.order {
            SortOrder::NewestFirst => "desc",
            SortOrder::OldestFirst => "asc",
        };
        let text = format!(
            "{CURSOR_TAG}:{order}:{}:{}",
            self.time.timestamp_micros(),
            self.id
        );
        Cursor::from(URL_SAFE_NO_PAD.encode(text))
    }

    fn parse(cursor: &Cursor, order: SortOrder) -> Result<Self, Error> {
        let decoded = URL_SAFE_NO_PAD
            .decode(cursor.as_str())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok());
        let key = decoded.as_deref().and_then(|text| {
            let rest = text.strip_prefix(CURSOR_TAG)?.strip_prefix(':')?;
            let mut parts = rest.splitn(3, ':');
            let parsed_order = match parts.next()? {
                "desc" => SortOrder::NewestFirst,
                "asc" => SortOrder::OldestFirst,
                _ => return None,
            };
            let time = DateTime::from_timestamp_micros(parts.next()?.parse().ok()?)?;
            let id = parts.next()?.parse().ok()?;
            (parsed_order == order).then_some(Self { order, time, id })
        });
        key.ok_or_else(|| {
            Error::invalid(
                "cursor",
                "is not a cursor of this events search and order: pass the next_cursor of the previous page unchanged",
            )
        })
    }

    /// The rows after this key in its order, as a row-value comparison on `(event_time, id)`
    /// (which PostgreSQL reads as one range of the `(…, event_time, id)` indexes) bounded by
    /// the key's time (which SQLite's planner uses to seek).
    fn after(self) -> Condition {
        let columns = || {
            Expr::tuple([
                Expr::col((event::Entity, event::Column::EventTime)),
                Expr::col((event::Entity, event::Column::Id)),
            ])
        };
        let key = || Expr::tuple([Expr::val(self.time), Expr::val(self.id)]);
        match self.order {
            SortOrder::NewestFirst => Condition::all()
                .add(event::Column::EventTime.lte(self.time))
                .add(columns().lt(key())),
            SortOrder::OldestFirst => Condition::all()
                .add(event::Column::EventTime.gte(self.time))
                .add(columns().gt(key())),
        }
    }
}

/// Violation markers of one event: standing violations per side and per policy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ViolationMarkers {
    pub total: u64,
    pub input: u64,
    pub output: u64,
    pub tool: u64,
    /// Violations per policy, by policy name.
    pub by_policy: BTreeMap<String, u64>,
}

/// Tags of one event: all of them (distinct), and by the side whose evaluation gave them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TagCounts {
    pub total: u64,
    pub labels: Vec<String>,
    /// The tags of the prompt, of the response and of the tool calls and results; `null`
    /// for events stored before tags were kept by side (a re-evaluation of their range
    /// fills it).
    pub by_side: Option<TagsBySide>,
}

/// Tags of one side of an event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SideTagCounts {
    pub count: u64,
    pub labels: Vec<String>,
}

/// An event's tags by side.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TagsBySide {
    pub input: SideTagCounts,
    pub output: SideTagCounts,
    /// Tool calls and tool results.
    pub tool: SideTagCounts,
}

impl TagsBySide {
    /// The stored `events.side_tags`, if the row has them.
    pub(crate) fn of(stored: Option<&serde_json::Value>) -> Option<Self> {
        let sides: SideTags = serde_json::from_value(stored?.clone()).ok()?;
        let side = |labels: Vec<String>| SideTagCounts {
            count: labels.len() as u64,
            labels,
        };
        Some(Self {
            input: side(sides.input),
            output: side(sides.output),
            tool: side(sides.tool),
        })
    }
}

impl TagCounts {
    /// The tags of an event row: `tags` and `side_tags` as stored.
    pub(crate) fn of(tags: &serde_json::Value, side_tags: Option<&serde_json::Value>) -> Self {
        let labels = labels(tags);
        Self {
            total: labels.len() as u64,
            labels,
            by_side: TagsBySide::of(side_tags),
        }
    }
}

/// One row of the events search: what the investigation table shows.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct EventRow {
    #[schema(value_type = String)]
    pub id: Uuid,
    pub event_time: DateTime<Utc>,
    pub integration_id: i64,
    /// The resource: the integration's name.
    pub resource_name: String,
    pub project_id: i64,
    pub chat_id: String,
    pub user_id: String,
    pub user_email: String,
    pub model: Option<String>,
    /// The first 240 characters of the input.
    pub input_excerpt: String,
    /// The first 240 characters of the output.
    pub output_excerpt: String,
    pub tags: TagCounts,
    pub violations: ViolationMarkers,
}

/// A search's total: exact up to [`COUNT_CAP`], and `capped` when more match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Total {
    pub count: u64,
    pub capped: bool,
}

/// One page of an events search.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct EventPage {
    pub items: Vec<EventRow>,
    /// Where the next page starts; `None` on the last page.
    #[schema(value_type = Option<String>)]
    pub next_cursor: Option<Cursor>,
    pub total: Total,
}

#[derive(Debug, FromQueryResult)]
struct RowParts {
    id: Uuid,
    event_time: DateTime<Utc>,
    integration_id: i64,
    project_id: i64,
    chat_id: String,
    user_id: String,
    user_email: String,
    model: Option<String>,
    input_excerpt: String,
    output_excerpt: String,
    tags: serde_json::Value,
    side_tags: Option<serde_json::Value>,
}

/// The first `n` characters of `text`.
pub fn excerpt(text: &str, n: usize) -> String {
    match text.char_indices().nth(n) {
        Some((end, _)) => text[..end].to_owned(),
        None => text.to_owned(),
    }
}

pub(crate) fn labels(tags: &serde_json::Value) -> Vec<String> {
    tags.as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|tag| tag.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

impl Services {
    /// A read transaction whose statements PostgreSQL plans for their values every time.
    ///
    /// A prepared statement otherwise switches to a generic plan after five runs, made
    /// without the values; for a search that plan walks the `(event_time, id)` index over
    /// the whole range and tests every row against the filter (a full-text word: 300 ms on
    /// a million events), where the plan for the values reads the word's few matches from
    /// the GIN index.
    async fn planned_for_values(&self) -> Result<DatabaseTransaction, Error> {
        let txn = self.db.begin().await?;
        if txn.get_database_backend() == DatabaseBackend::Postgres {
            txn.execute_unprepared("SET LOCAL plan_cache_mode = force_custom_plan")
                .await?;
        }
        Ok(txn)
    }

    /// One query's worth of matching rows after `key`, in the query's order.
    async fn event_rows(
        &self,
        scope: &Scope,
        query: &EventQuery,
        key: Option<EventKey>,
        limit: u64,
    ) -> Result<Vec<EventRow>, Error> {
        let backend = self.db.get_database_backend();
        let mut select = event::Entity::find()
            .select_only()
            .columns([
                event::Column::Id,
                event::Column::EventTime,
                event::Column::IntegrationId,
                event::Column::ProjectId,
                event::Column::ChatId,
                event::Column::UserId,
                event::Column::UserEmail,
                event::Column::Model,
                event::Column::Tags,
                event::Column::SideTags,
            ])
            .column_as(
                Expr::cust(format!(
                    "SUBSTR(\"events\".\"input_text\", 1, {EXCERPT_CHARS})"
                )),
                "input_excerpt",
            )
            .column_as(
                Expr::cust(format!(
                    "SUBSTR(\"events\".\"output_text\", 1, {EXCERPT_CHARS})"
                )),
                "output_excerpt",
            )
            .filter(query.condition(scope, backend)?);
        if let Some(key) = key {
            select = select.filter(key.after());
        }
        select = match query.sort_order() {
            SortOrder::NewestFirst => select
                .order_by_desc(event::Column::EventTime)
                .order_by_desc(event::Column::Id),
            SortOrder::OldestFirst => select
                .order_by_asc(event::Column::EventTime)
                .order_by_asc(event::Column::Id),
        };
        let txn = self.planned_for_values().await?;
        let parts = select
            .limit(limit)
            .into_model::<RowParts>()
            .all(&txn)
            .await?;
        txn.commit().await?;
        self.finish_rows(parts).await
    }

    /// Adds integration names and violation markers to fetched rows.
    async fn finish_rows(&self, parts: Vec<RowParts>) -> Result<Vec<EventRow>, Error> {
        if parts.is_empty() {
            return Ok(Vec::new());
        }
        let names = self
            .integration_names(parts.iter().map(|row| row.integration_id))
            .await?;
        let ids: Vec<Uuid> = parts.iter().map(|row| row.id).collect();
        let counts: Vec<(Uuid, String, String, i64)> = violation::Entity::find()
            .select_only()
            .columns([
                violation::Column::EventId,
                violation::Column::Direction,
                violation::Column::Policy,
            ])
            .column_as(violation::Column::Id.count(), "count")
            .filter(violation::Column::EventId.is_in(ids))
            .filter(violation::Column::SupersededAt.is_null())
            .group_by(violation::Column::EventId)
            .group_by(violation::Column::Direction)
            .group_by(violation::Column::Policy)
            .into_tuple()
            .all(&self.db)
            .await?;
        let mut markers: HashMap<Uuid, ViolationMarkers> = HashMap::new();
        for (event_id, direction, policy, count) in counts {
            let count = u64::try_from(count).unwrap_or(0);
            let entry = markers.entry(event_id).or_default();
            entry.total += count;
            match direction.as_str() {
                "input" => entry.input += count,
                "output" => entry.output += count,
                "tool" => entry.tool += count,
                _ => {}
            }
            *entry.by_policy.entry(policy).or_default() += count;
        }
        Ok(parts
            .into_iter()
            .map(|row| {
                let tags = TagCounts::of(&row.tags, row.side_tags.as_ref());
                EventRow {
                    id: row.id,
                    event_time: row.event_time,
                    integration_id: row.integration_id,
                    resource_name: names.get(&row.integration_id).cloned().unwrap_or_default(),
                    project_id: row.project_id,
                    chat_id: row.chat_id,
                    user_id: row.user_id,
                    user_email: row.user_email,
                    model: row.model,
                    // SUBSTR in the query cut both to EXCERPT_CHARS characters.
                    input_excerpt: row.input_excerpt,
                    output_excerpt: row.output_excerpt,
                    tags,
                    violations: markers.remove(&row.id).unwrap_or_default(),
                }
            })
            .collect())
    }

    /// How many events match `query` inside `scope`, counting at most [`COUNT_CAP`].
    pub async fn count_matching_events(
        &self,
        scope: &Scope,
        query: &EventQuery,
    ) -> Result<Total, Error> {
        let backend = self.db.get_database_backend();
        let inner = event::Entity::find()
            .select_only()
            .expr(Expr::val(1))
            .filter(query.condition(scope, backend)?)
            .limit(COUNT_CAP + 1)
            .into_query();
        let count = Query::select()
            .expr_as(Expr::cust("COUNT(*)"), Alias::new("count"))
            .from_subquery(inner, Alias::new("matches"))
            .to_owned();
        let txn = self.planned_for_values().await?;
        let row = txn.query_one(&count).await?;
        txn.commit().await?;
        let count: i64 = match row {
            Some(row) => row.try_get("", "count")?,
            None => 0,
        };
        let count = u64::try_from(count).unwrap_or(0);
        Ok(Total {
            count: Ord::min(count, COUNT_CAP),
            capped: count > COUNT_CAP,
        })
    }

    /// One page of the events that match `query` inside `scope`, in its order, with the
    /// total.
    pub async fn search_events(
        &self,
        scope: &Scope,
        query: &EventQuery,
    ) -> Result<EventPage, Error> {
        let order = query.sort_order();
        let key = query
            .cursor
            .as_ref()
            .map(|cursor| EventKey::parse(cursor, order))
            .transpose()?;
        let limit = query.limit.get();
        let mut items = self.event_rows(scope, query, key, limit + 1).await?;
        let more = items.len() as u64 > limit;
        items.truncate(limit as usize);
        let next_cursor = more
            .then(|| {
                items.last().map(|row| {
                    EventKey {
                        order,
                        time: row.event_time,
                        id: row.id,
                    }
                    .cursor()
                })
            })
            .flatten();
        let total = self.count_matching_events(scope, query).await?;
        Ok(EventPage {
            items,
            next_cursor,
            total,
        })
    }

    /// Every event that matches `query` inside `scope`, in the search's order (its `limit`
    /// and `cursor` are ignored), read in keyset pages so memory stays constant however many
    /// match. The filters are checked before the first row.
    pub fn stream_events(
        &self,
        scope: &Scope,
        query: &EventQuery,
    ) -> impl Stream<Item = Result<EventRow, Error>> + Send + 'static {
        futures::TryStreamExt::try_flatten(futures::TryStreamExt::map_ok(
            self.stream_event_pages(scope, query),
            |rows| futures::stream::iter(rows.into_iter().map(Ok)),
        ))
    }

    /// [`Services::stream_events`] a keyset page (at most 5,000 events) at a time, for
    /// readers that handle rows in bulk.
    pub fn stream_event_pages(
        &self,
        scope: &Scope,
        query: &EventQuery,
    ) -> impl Stream<Item = Result<Vec<EventRow>, Error>> + Send + 'static {
        let services = self.clone();
        let scope = scope.clone();
        let query = query.clone();
        let state = (services, scope, query, None::<EventKey>, false);
        futures::stream::try_unfold(state, |(services, scope, query, key, done)| async move {
            if done {
                return Ok(None);
            }
            let rows = services
                .event_rows(&scope, &query, key, STREAM_PAGE)
                .await?;
            let done = (rows.len() as u64) < STREAM_PAGE;
            let key = rows.last().map(|row| EventKey {
                order: query.sort_order(),
                time: row.event_time,
                id: row.id,
            });
            if rows.is_empty() {
                return Ok(None);
            }
            Ok(Some((rows, (services, scope, query, key, done))))
        })
    }
}

/// A violation found on an event, with its evidence masked.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct EventViolation {
    #[schema(value_type = String)]
    pub id: Uuid,
    pub policy: String,
    pub rule: String,
    /// `input`, `output` or `tool`.
    pub direction: String,
    /// Byte offsets of the finding in its side's text, start inclusive, end exclusive.
    pub span_start: i32,
    pub span_end: i32,
    /// The evidence as stored: masked. `POST /api/v1/violations/{id}/reveal` shows it.
    pub masked_evidence: String,
    pub severity: String,
    pub configured_action: String,
    pub effective_action: String,
    /// The effective action and its side as the investigation table shows it, e.g.
    /// `ALERT - Input`.
    pub action_label: String,
}

/// Token usage of an event. The Compliance API reports no token counts, so these are
/// estimated from the text.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TokenUsage {
    pub prompt: i64,
    pub response: i64,
    pub total: i64,
    /// Always `true`: the counts are estimates.
    pub estimated: bool,
}

/// One event in full: the event detail view.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct EventDetail {
    #[schema(value_type = String)]
    pub id: Uuid,
    /// Always `ANTHROPIC_COMPLIANCE_API` for pulled events.
    pub provider: String,
    pub model: Option<String>,
    /// The endpoint: the integration's name.
    pub endpoint: String,
    pub integration_id: i64,
    pub project_id: i64,
    pub user_email: String,
    pub user_id: String,
    /// The Claude organization the integration reads.
    pub application_id: Option<String>,
    pub chat_id: String,
    pub user_message_id: String,
    pub event_time: DateTime<Utc>,
    pub responded_at: Option<DateTime<Utc>>,
    /// Whether the response was complete when the event was stored.
    pub complete: bool,
    pub token_usage: TokenUsage,
    pub input: String,
    pub output: String,
    /// Tool calls with their inputs and results, as stored.
    #[schema(value_type = Object)]
    pub tool_calls: serde_json::Value,
    /// Files, generated files and artifacts: metadata only.
    #[schema(value_type = Object)]
    pub attachments: serde_json::Value,
    /// Tags of the event, every side's, distinct.
    pub tags: Vec<String>,
    /// The tags by side, with their counts; `null` for events stored before tags were kept
    /// by side.
    pub tags_by_side: Option<TagsBySide>,
    pub violations: Vec<EventViolation>,
    /// Configured actions of the standing violations, distinct, e.g. `ALERT - Input`.
    pub configured_actions: Vec<String>,
    /// Effective actions of the standing violations, distinct, e.g. `ALERT - Input`.
    pub effective_actions: Vec<String>,
    pub policy_set_version: Option<i32>,
    pub ingested_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<violation::Model> for EventViolation {
    fn from(v: violation::Model) -> Self {
        Self {
            action_label: action_label(&v.effective_action, &v.direction),
            id: v.id,
            policy: v.policy,
            rule: v.rule,
            direction: v.direction,
            span_start: v.span_start,
            span_end: v.span_end,
            masked_evidence: v.evidence,
            severity: v.severity,
            configured_action: v.configured_action,
            effective_action: v.effective_action,
        }
    }
}

/// `ALERT - Input`: an action and the side it applied to.
pub fn action_label(action: &str, direction: &str) -> String {
    let mut side = direction.to_owned();
    if let Some(first) = side.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    format!("{} - {side}", action.to_ascii_uppercase())
}

impl Services {
    /// One event in full, if it exists inside `scope`.
    pub async fn event_detail(&self, scope: &Scope, id: Uuid) -> Result<EventDetail, Error> {
        let row = event::Entity::find_by_id(id)
            .filter(scope.on_integration(event::Column::IntegrationId))
            .one(&self.db)
            .await?
            .ok_or_else(|| Error::not_found("event", id))?;
        let integration = integration::Entity::find_by_id(row.integration_id)
            .one(&self.db)
            .await?;
        let violations: Vec<EventViolation> = violation::Entity::find()
            .filter(violation::Column::EventId.eq(id))
            .filter(violation::Column::SupersededAt.is_null())
            .order_by_asc(violation::Column::Direction)
            .order_by_asc(violation::Column::SpanStart)
            .order_by_asc(violation::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(EventViolation::from)
            .collect();
        let distinct = |labels: Vec<String>| {
            let mut labels = labels;
            labels.sort();
            labels.dedup();
            labels
        };
        let configured_actions = distinct(
            violations
                .iter()
                .map(|v| action_label(&v.configured_action, &v.direction))
                .collect(),
        );
        let effective_actions =
            distinct(violations.iter().map(|v| v.action_label.clone()).collect());
        Ok(EventDetail {
            id: row.id,
            provider: row.provider,
            model: row.model,
            endpoint: integration
                .as_ref()
                .map(|i| i.name.clone())
                .unwrap_or_default(),
            integration_id: row.integration_id,
            project_id: row.project_id,
            user_email: row.user_email,
            user_id: row.user_id,
            application_id: integration.and_then(|i| i.organization_uuid),
            chat_id: row.chat_id,
            user_message_id: row.user_message_id,
            event_time: row.event_time,
            responded_at: row.responded_at,
            complete: row.complete,
            token_usage: TokenUsage {
                prompt: row.prompt_tokens,
                response: row.response_tokens,
                total: row.total_tokens,
                estimated: true,
            },
            input: row.input_text,
            output: row.output_text,
            tool_calls: row.tool_calls,
            attachments: row.attachments,
            tags: labels(&row.tags),
            tags_by_side: TagsBySide::of(row.side_tags.as_ref()),
            violations,
            configured_actions,
            effective_actions,
            policy_set_version: row.policy_set_version,
            ingested_at: row.ingested_at,
            updated_at: row.updated_at,
        })
    }
}
