//! The route table and its handlers: the Compliance API endpoints with their parameters,
//! validation, ordering and cursors, and the `/_fake/...` control routes.

use std::collections::HashSet;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::errors::ApiError;
use super::gate::{gate, Caller};
use super::state::{lock, read, AppState};
use crate::config::Scope;
use crate::cursor::{CursorError, PageToken, Position};
use crate::dataset::{
    ActivityQuery, Anchor, ChatOrder, ChatQuery, Direction, MessageQuery, SortOrder, TimeBounds,
};
use crate::faults::{FaultConfig, FaultState};
use crate::manifest::manifest;
use crate::render::{self, ToolLimits};

/// The router with every route and the middleware.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/compliance/activities", get(list_activities))
        .route("/v1/compliance/apps/chats", get(list_chats))
        .route(
            "/v1/compliance/apps/chats/files/{file_id}",
            get(file_metadata),
        )
        .route(
            "/v1/compliance/apps/chats/{chat_id}/messages",
            get(list_messages),
        )
        .route("/v1/compliance/organizations", get(list_organizations))
        .route(
            "/v1/compliance/organizations/{org_uuid}/users",
            get(list_users),
        )
        .route("/v1/compliance/groups", get(list_groups))
        .route(
            "/v1/compliance/groups/{group_id}/members",
            get(list_group_members),
        )
        .route("/_fake/info", get(info))
        .route("/_fake/manifest", get(get_manifest))
        .route("/_fake/stats", get(get_stats).delete(reset_stats))
        .route(
            "/_fake/faults",
            get(get_faults).post(set_faults).delete(clear_faults),
        )
        .route("/_fake/clock", get(get_clock).post(set_clock))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), gate))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("Not found")
}

/// Parsed query parameters, keeping repeats (`activity_types[]=a&activity_types[]=b`).
struct Params(Vec<(String, String)>);

fn invalid_timestamp(name: &str, value: &str) -> ApiError {
    ApiError::invalid(format!(
        "The `{name}` parameter contains an invalid timestamp format. Timestamps must be provided in RFC 3339 format e.g., \"2024-03-01T00:00:00Z\". Got \"{value}\"."
    ))
}

fn parse_timestamp(name: &str, value: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| invalid_timestamp(name, value))
}

impl Params {
    fn parse(raw: Option<&str>) -> Self {
        Self(
            url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    fn single(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Values of `name[]`; a bare `name=` is rejected so a client that forgets the brackets
    /// finds out instead of silently getting unfiltered results.
    fn list(&self, name: &str) -> Result<Option<Vec<String>>, ApiError> {
        if self.0.iter().any(|(k, _)| k == name) {
            return Err(ApiError::invalid(format!(
                "The `{name}` filter uses array syntax: pass `{name}[]=<value>` once for each value."
            )));
        }
        let bracketed = format!("{name}[]");
        let values: Vec<String> = self
            .0
            .iter()
            .filter(|(k, _)| *k == bracketed)
            .map(|(_, v)| v.clone())
            .collect();
        Ok((!values.is_empty()).then_some(values))
    }

    fn set(&self, name: &str) -> Result<Option<HashSet<String>>, ApiError> {
        Ok(self.list(name)?.map(|v| v.into_iter().collect()))
    }

    fn bounds(&self, prefix: &str) -> Result<TimeBounds, ApiError> {
        let mut bounds = TimeBounds::default();
        for (suffix, slot) in [
            ("gt", &mut bounds.gt),
            ("gte", &mut bounds.gte),
            ("lt", &mut bounds.lt),
            ("lte", &mut bounds.lte),
        ] {
            let name = format!("{prefix}.{suffix}");
            if let Some(value) = self.single(&name) {
                *slot = Some(parse_timestamp(&name, value)?);
            }
        }
        Ok(bounds)
    }

    fn limit(&self, default: usize, max: usize) -> Result<usize, ApiError> {
        self.optional_limit(max).map(|l| l.unwrap_or(default))
    }

    fn optional_limit(&self, max: usize) -> Result<Option<usize>, ApiError> {
        let Some(raw) = self.single("limit") else {
            return Ok(None);
        };
        match raw.trim().parse::<i64>() {
            Ok(n) if n >= 1 && n as u64 <= max as u64 => Ok(Some(n as usize)),
            Ok(n) => Err(ApiError::invalid(format!(
                "The limit parameter must be between 1 and {max}, inclusive. Got {n}."
            ))),
            Err(_) => Err(ApiError::invalid(format!(
                "The limit parameter must be between 1 and {max}, inclusive. Got \"{raw}\"."
            ))),
        }
    }

    fn order(&self, name: &str) -> Result<Option<SortOrder>, ApiError> {
        match self.single(name) {
            None => Ok(None),
            Some("asc") => Ok(Some(SortOrder::Asc)),
            Some("desc") => Ok(Some(SortOrder::Desc)),
            Some(other) => Err(ApiError::invalid(format!(
                "The `{name}` parameter must be one of `asc`, `desc`. Got \"{other}\"."
            ))),
        }
    }

    /// The cursor parameter in use: (direction, parameter name, value).
    fn cursor(&self) -> Result<Option<(Direction, &'static str, String)>, ApiError> {
        match (self.single("after_id"), self.single("before_id")) {
            (Some(_), Some(_)) => Err(ApiError::invalid(
                "Only one of `after_id` or `before_id` may be set in a request.",
            )),
            (Some(v), None) => Ok(Some((Direction::After, "after_id", v.to_string()))),
            (None, Some(v)) => Ok(Some((Direction::Before, "before_id", v.to_string()))),
            (None, None) => Ok(None),
        }
    }

    fn max_chars(&self, name: &str) -> Result<Option<usize>, ApiError> {
        let Some(raw) = self.single(name) else {
            return Ok(None);
        };
        match raw.trim().parse::<i64>() {
            Ok(-1) => Ok(None),
            Ok(n) if n >= 1 => Ok(Some(n as usize)),
            _ => Err(ApiError::invalid(format!(
                "The `{name}` parameter must be a positive number of characters or -1 for no limit. Got \"{raw}\"."
            ))),
        }
    }
}

fn cursor_error(param: &str, error: CursorError) -> ApiError {
    match error {
        CursorError::Unreadable => ApiError::invalid(format!(
            "Invalid `{param}`. The value is not a valid cursor for this request; pass the `first_id` or `last_id` of a previous response unchanged."
        )),
        CursorError::WrongScope { issued, requested } => ApiError::invalid(format!(
            "Invalid `{param}`. The cursor was issued for `{issued}` and cannot be used for `{requested}`."
        )),
    }
}

fn page_json(
    data: Vec<Value>,
    has_more: bool,
    first_id: Option<String>,
    last_id: Option<String>,
) -> Response {
    Json(json!({
        "data": data,
        "has_more": has_more,
        "first_id": first_id,
        "last_id": last_id,
    }))
    .into_response()
}

async fn list_activities(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    caller.require(Scope::ReadActivities)?;
    let params = Params::parse(raw.as_deref());
    let created = params.bounds("created_at")?;
    let types = params.set("activity_types")?;
    let exclude_types = params.set("exclude_activity_types")?;
    if types.is_some() && exclude_types.is_some() {
        return Err(ApiError::invalid(
            "`activity_types[]` cannot be combined with `exclude_activity_types[]`; pass only one of them.",
        ));
    }
    let actor_ids = match (params.set("actor_ids")?, params.set("user_ids")?) {
        (Some(mut a), Some(b)) => {
            a.extend(b);
            Some(a)
        }
        (a, b) => a.or(b),
    };
    let organization_ids = params.set("organization_ids")?;
    let order = params.order("order")?;
    let limit = params.limit(100, 5_000)?;
    let cursor = params.cursor()?;

    let now = state.now();
    let faults = lock(&state.faults).config().clone();
    let data = read(&state.dataset);
    let view = data.at(now, &faults);
    let anchor = match cursor {
        None => None,
        Some((direction, param, value)) => {
            let found = data.activity(&value).filter(|a| view.activity_visible(a));
            let Some(activity) = found else {
                return Err(ApiError::invalid(format!(
                    "Invalid `{param}`. No activity found for `{param}` \"{value}\""
                )));
            };
            Some(Anchor {
                direction,
                time: activity.created_at,
                id: activity.id.clone(),
            })
        }
    };
    let repeat_anchor = matches!(&anchor, Some(a) if a.direction == Direction::After)
        && lock(&state.faults).take_duplicate();
    let page = view.activities(&ActivityQuery {
        created,
        types,
        exclude_types,
        actor_ids,
        organization_ids,
        order,
        limit,
        anchor,
        repeat_anchor,
    });
    let org = data.organisation();
    let items: Vec<Value> = page
        .items
        .iter()
        .map(|a| render::activity(org, a))
        .collect();
    Ok(page_json(
        items,
        page.has_more,
        page.items.first().map(|a| a.id.clone()),
        page.items.last().map(|a| a.id.clone()),
    ))
}

async fn list_chats(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    caller.require(Scope::ReadUserData)?;
    let params = Params::parse(raw.as_deref());
    let user_ids = params.list("user_ids")?;
    if let Some(ids) = &user_ids {
        if ids.len() > 10 {
            return Err(ApiError::invalid(format!(
                "The `user_ids[]` filter accepts between 1 and 10 values. Got {}.",
                ids.len()
            )));
        }
    }
    let order_by = match params.single("order_by") {
        None | Some("created_at") => ChatOrder::CreatedAt,
        Some("updated_at") => ChatOrder::UpdatedAt,
        Some(other) => {
            return Err(ApiError::invalid(format!(
            "The `order_by` parameter must be one of `created_at`, `updated_at`. Got \"{other}\"."
        )))
        }
    };
    let created = params.bounds("created_at")?;
    let updated = params.bounds("updated_at")?;
    let project_ids = params.set("project_ids")?;
    let organization_ids = params.set("organization_ids")?;
    let limit = params.limit(100, 1_000)?;
    let cursor = params.cursor()?;

    let org_wide = user_ids.is_none();
    if !org_wide && order_by == ChatOrder::UpdatedAt {
        return Err(ApiError::invalid(
            "`order_by=updated_at` is only supported for organization-wide queries; omit `user_ids[]` or sort by `created_at`.",
        ));
    }
    if org_wide {
        if order_by == ChatOrder::CreatedAt && !updated.is_empty() {
            return Err(ApiError::invalid(
                "`updated_at.*` filters require `order_by=updated_at` for organization-wide queries.",
            ));
        }
        if order_by == ChatOrder::UpdatedAt && !created.is_empty() {
            return Err(ApiError::invalid(
                "`created_at.*` filters require `order_by=created_at` for organization-wide queries.",
            ));
        }
        if project_ids.is_some() {
            return Err(ApiError::invalid(
                "The `project_ids[]` filter requires `user_ids[]`; it is not supported for organization-wide queries.",
            ));
        }
        if matches!(cursor, Some((Direction::Before, _, _))) {
            return Err(ApiError::invalid(
                "`before_id` is only supported for per-user queries (`user_ids[]` set); organization-wide queries page forward with `after_id`.",
            ));
        }
    }
    let scope = order_by.as_str();
    let anchor = match cursor {
        None => None,
        Some((direction, param, value)) => {
            let position = state
                .codec
                .decode_position(&value, scope)
                .map_err(|e| cursor_error(param, e))?;
            Some(Anchor {
                direction,
                time: position.time,
                id: position.id,
            })
        }
    };

    let now = state.now();
    let faults = lock(&state.faults).config().clone();
    let data = read(&state.dataset);
    let view = data.at(now, &faults);
    let repeat_anchor = matches!(&anchor, Some(a) if a.direction == Direction::After)
        && lock(&state.faults).take_duplicate();
    let page = view.chats(&ChatQuery {
        order_by,
        created,
        updated,
        user_ids: user_ids.map(|ids| ids.into_iter().collect()),
        project_ids,
        organization_ids,
        limit,
        anchor,
        repeat_anchor,
    });
    let org = data.organisation();
    let items: Vec<Value> = page
        .items
        .iter()
        .map(|(c, s)| render::chat(org, c, *s))
        .collect();
    let encode = |index: usize| {
        page.items.get(index).map(|(chat, chat_state)| {
            let time = match order_by {
                ChatOrder::CreatedAt => chat.created_at,
                ChatOrder::UpdatedAt => chat_state.updated_at,
            };
            state.codec.encode_position(&Position {
                scope: scope.to_string(),
                time,
                id: chat.id.clone(),
            })
        })
    };
    let last = page.items.len().checked_sub(1);
    Ok(page_json(
        items,
        page.has_more,
        encode(0),
        last.and_then(encode),
    ))
}

async fn list_messages(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(chat_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    caller.require(Scope::ReadUserData)?;
    let params = Params::parse(raw.as_deref());
    let created = params.bounds("created_at")?;
    let updated = params.bounds("updated_at")?;
    let order = params.order("order")?.unwrap_or(SortOrder::Asc);
    let limit = params.optional_limit(1_000)?;
    let cursor = params.cursor()?;
    let limits = ToolLimits {
        tool_use_input_max_chars: params.max_chars("tool_use_input_max_chars")?,
        tool_result_max_chars: params.max_chars("tool_result_max_chars")?,
    };

    if cursor.is_none() && lock(&state.faults).take_vanished_chat() {
        return Err(ApiError::not_found(format!("Chat {chat_id} not found.")));
    }
    let now = state.now();
    let faults = lock(&state.faults).config().clone();
    let data = read(&state.dataset);
    let view = data.at(now, &faults);
    let found = data
        .chat(&chat_id)
        .and_then(|chat| view.chat_state(chat).map(|s| (chat, s)));
    let Some((chat, chat_state)) = found else {
        return Err(ApiError::not_found(format!("Chat {chat_id} not found.")));
    };
    let scope = format!("chat {}", chat.id);
    let anchor = match cursor {
        None => None,
        Some((direction, param, value)) => {
            let position = state
                .codec
                .decode_position(&value, &scope)
                .map_err(|e| cursor_error(param, e))?;
            Some(Anchor {
                direction,
                time: position.time,
                id: position.id,
            })
        }
    };
    let repeat_anchor = matches!(&anchor, Some(a) if a.direction == Direction::After)
        && lock(&state.faults).take_duplicate();
    let page = view.messages(
        chat,
        chat_state,
        &MessageQuery {
            created,
            updated,
            order,
            limit,
            anchor,
            repeat_anchor,
        },
    );
    let encode = |m: &&crate::generator::Message| {
        state.codec.encode_position(&Position {
            scope: scope.clone(),
            time: m.created_at,
            id: m.id.clone(),
        })
    };
    let mut body =
        render::chat_with_messages(data.organisation(), chat, chat_state, &page.items, limits);
    body.insert("has_more".into(), json!(page.has_more));
    body.insert("first_id".into(), json!(page.items.first().map(encode)));
    body.insert("last_id".into(), json!(page.items.last().map(encode)));
    Ok(Json(Value::Object(body)).into_response())
}

async fn file_metadata(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(file_id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(Scope::ReadUserData)?;
    let now = state.now();
    let faults = lock(&state.faults).config().clone();
    let data = read(&state.dataset);
    let view = data.at(now, &faults);
    let Some((chat, message, file)) = view.file(&file_id) else {
        return Err(ApiError::not_found(
            "No file found with provided id, or it has already been deleted.",
        ));
    };
    Ok(Json(render::file_metadata(chat, message, file)).into_response())
}

/// One page of a page-token list: `items` is the whole list in order.
fn token_page(
    state: &AppState,
    params: &Params,
    scope: &str,
    items: Vec<Value>,
    default_limit: usize,
) -> Result<Response, ApiError> {
    let limit = params.limit(default_limit, 1_000)?;
    let offset = match params.single("page") {
        None => 0,
        Some(raw) => state.codec.decode_page(raw, scope).map_err(|_| {
            ApiError::invalid("The page parameter is not a valid cursor for this request.")
        })?,
    };
    let end = (offset + limit).min(items.len());
    let has_more = end < items.len();
    let next_page = has_more.then(|| {
        state.codec.encode_page(&PageToken {
            scope: scope.to_string(),
            offset: end,
        })
    });
    let data: Vec<Value> = items
        .into_iter()
        .skip(offset)
        .take(end.saturating_sub(offset))
        .collect();
    Ok(Json(json!({ "data": data, "has_more": has_more, "next_page": next_page })).into_response())
}

async fn list_organizations(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    caller.require(Scope::ReadOrgData)?;
    let params = Params::parse(raw.as_deref());
    let items = vec![render::organisation(read(&state.dataset).organisation())];
    token_page(&state, &params, "organizations", items, 1_000)
}

async fn list_users(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(org_uuid): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    caller.require(Scope::ReadUserData)?;
    let params = Params::parse(raw.as_deref());
    let now = state.now();
    let items = {
        let data = read(&state.dataset);
        let org = data.organisation();
        if !org_uuid.eq_ignore_ascii_case(&org.uuid.to_string()) {
            return Err(ApiError::not_found(format!(
                "The \"{org_uuid}\" organization does not exist or the requester is not authorized to access it."
            )));
        }
        org.users
            .iter()
            .filter(|u| u.created_at <= now)
            .map(render::user)
            .collect()
    };
    token_page(&state, &params, &format!("users {org_uuid}"), items, 500)
}

async fn list_groups(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    caller.require(Scope::ReadOrgData)?;
    let params = Params::parse(raw.as_deref());
    let prefix = params.single("name_prefix").unwrap_or("").to_string();
    let now = state.now();
    let items = read(&state.dataset)
        .organisation()
        .groups
        .iter()
        .filter(|g| g.name.starts_with(prefix.as_str()) && g.created_at <= now)
        .map(render::group)
        .collect();
    token_page(&state, &params, &format!("groups {prefix}"), items, 500)
}

async fn list_group_members(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(group_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    caller.require(Scope::ReadUserData)?;
    let params = Params::parse(raw.as_deref());
    let now = state.now();
    let items = {
        let data = read(&state.dataset);
        let org = data.organisation();
        let Some(group) = org
            .groups
            .iter()
            .find(|g| g.id == group_id && g.created_at <= now)
        else {
            return Err(ApiError::not_found("Group not found."));
        };
        group
            .members
            .iter()
            .filter(|m| m.created_at <= now)
            .map(|m| render::group_member(org, m))
            .collect()
    };
    token_page(&state, &params, &format!("members {group_id}"), items, 500)
}

async fn info(State(state): State<Arc<AppState>>) -> Json<Value> {
    let data = read(&state.dataset);
    let org = data.organisation();
    Json(json!({
        "organization_uuid": org.uuid.to_string(),
        "organization_id": org.id,
        "organization_name": org.name,
        "users": org.users.len(),
        "history_start": render::timestamp(data.config().start),
        "history_end": render::timestamp(data.history_end()),
        "now": render::timestamp(state.now()),
        "live": state.clock.is_live(),
        "rate_limit": state.limiter.as_ref().map(|l| lock(l).limit()),
    }))
}

async fn get_manifest(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params = Params::parse(raw.as_deref());
    state.refresh();
    let now = state.now();
    let from = match params.single("from") {
        Some(v) => parse_timestamp("from", v)?,
        None => read(&state.dataset).config().start,
    };
    let to = match params.single("to") {
        Some(v) => parse_timestamp("to", v)?,
        None => now + Duration::seconds(1),
    };
    let faults = lock(&state.faults).config().clone();
    let data = read(&state.dataset);
    Ok(Json(manifest(&data, now, &faults, from, to)).into_response())
}

async fn get_stats(State(state): State<Arc<AppState>>) -> Response {
    Json(lock(&state.stats).snapshot()).into_response()
}

async fn reset_stats(State(state): State<Arc<AppState>>) -> StatusCode {
    lock(&state.stats).reset();
    StatusCode::NO_CONTENT
}

async fn get_faults(State(state): State<Arc<AppState>>) -> Response {
    Json(lock(&state.faults).config().clone()).into_response()
}

async fn set_faults(State(state): State<Arc<AppState>>, body: Bytes) -> Result<Response, ApiError> {
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::invalid("The body must be UTF-8 JSON."))?;
    let config: FaultConfig = text
        .parse()
        .map_err(|e| ApiError::invalid(format!("{e}")))?;
    *lock(&state.faults) = FaultState::new(config.clone());
    Ok(Json(config).into_response())
}

async fn clear_faults(State(state): State<Arc<AppState>>) -> StatusCode {
    *lock(&state.faults) = FaultState::new(FaultConfig::default());
    StatusCode::NO_CONTENT
}

fn clock_json(state: &AppState) -> Response {
    Json(json!({ "now": render::timestamp(state.now()), "live": state.clock.is_live() }))
        .into_response()
}

async fn get_clock(State(state): State<Arc<AppState>>) -> Response {
    clock_json(&state)
}

/// Body of `POST /_fake/clock`: either field.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockChange {
    now: Option<String>,
    advance_secs: Option<i64>,
}

async fn set_clock(State(state): State<Arc<AppState>>, body: Bytes) -> Result<Response, ApiError> {
    let change: ClockChange = serde_json::from_slice(&body).map_err(|e| {
        ApiError::invalid(format!(
            "The body must be {{\"now\": \"<RFC 3339>\"}} or {{\"advance_secs\": <seconds>}}: {e}"
        ))
    })?;
    match (change.now, change.advance_secs) {
        (Some(now), None) => state.clock.set(parse_timestamp("now", &now)?),
        (None, Some(seconds)) => state.clock.advance(Duration::seconds(seconds)),
        _ => {
            return Err(ApiError::invalid(
                "Set exactly one of `now` (RFC 3339) or `advance_secs`.",
            ))
        }
    }
    state.refresh();
    Ok(clock_json(&state))
}
