//! Typed query parameters for the list endpoints: client-side validation of what the API
//! documents as a 400, and encoding to the API's wire form (`created_at.gte=…` with RFC 3339
//! `Z` timestamps, repeated `activity_types[]=…` for lists).

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use super::error::Error;

/// Query pairs in request order, before URL encoding.
pub type QueryPairs = Vec<(String, String)>;

/// Bounds on a timestamp field; each set bound becomes `<field>.<bound>=<RFC 3339>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeRange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gte: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gt: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lte: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lt: Option<DateTime<Utc>>,
}

impl TimeRange {
    /// Whether no bound is set.
    pub fn is_unbounded(&self) -> bool {
        self.gte.is_none() && self.gt.is_none() && self.lte.is_none() && self.lt.is_none()
    }

    fn push_pairs(&self, field: &str, pairs: &mut QueryPairs) {
        let bounds = [
            ("gte", self.gte),
            ("gt", self.gt),
            ("lte", self.lte),
            ("lt", self.lt),
        ];
        for (bound, value) in bounds {
            if let Some(value) = value {
                pairs.push((format!("{field}.{bound}"), format_timestamp(value)));
            }
        }
    }
}

/// Formats a timestamp the way the API documents it: RFC 3339 in UTC with a `Z` suffix.
pub fn format_timestamp(value: DateTime<Utc>) -> String {
    value.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Sort direction (`order`) for activities and chat messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortOrder {
    Asc,
    Desc,
}

impl SortOrder {
    pub fn as_str(self) -> &'static str {
        match self {
            SortOrder::Asc => "asc",
            SortOrder::Desc => "desc",
        }
    }
}

/// Sort key (`order_by`) for the chat list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatOrder {
    CreatedAt,
    UpdatedAt,
}

impl ChatOrder {
    pub fn as_str(self) -> &'static str {
        match self {
            ChatOrder::CreatedAt => "created_at",
            ChatOrder::UpdatedAt => "updated_at",
        }
    }
}

/// Where a cursor walk starts and which way it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cursor {
    After(String),
    Before(String),
}

fn cursor_of(
    after_id: &Option<String>,
    before_id: &Option<String>,
) -> Result<Option<Cursor>, Error> {
    match (after_id, before_id) {
        (Some(_), Some(_)) => Err(Error::invalid(
            "after_id",
            "set only one of after_id and before_id per request",
        )),
        (Some(after), None) => Ok(Some(Cursor::After(after.clone()))),
        (None, Some(before)) => Ok(Some(Cursor::Before(before.clone()))),
        (None, None) => Ok(None),
    }
}

pub(crate) fn push_cursor(cursor: Option<&Cursor>, pairs: &mut QueryPairs) {
    match cursor {
        Some(Cursor::After(id)) => pairs.push(("after_id".to_owned(), id.clone())),
        Some(Cursor::Before(id)) => pairs.push(("before_id".to_owned(), id.clone())),
        None => {}
    }
}

pub(crate) fn check_limit(limit: Option<u32>, max: u32) -> Result<(), Error> {
    match limit {
        Some(value) if value == 0 || value > max => Err(Error::invalid(
            "limit",
            format!("must be between 1 and {max}, got {value}"),
        )),
        _ => Ok(()),
    }
}

fn push_list(field: &str, values: &[String], pairs: &mut QueryPairs) {
    for value in values {
        pairs.push((format!("{field}[]"), value.clone()));
    }
}

fn push_opt(field: &str, value: Option<impl ToString>, pairs: &mut QueryPairs) {
    if let Some(value) = value {
        pairs.push((field.to_owned(), value.to_string()));
    }
}

/// Parameters of `GET /v1/compliance/activities` (newest first unless `order` is `asc`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityQuery {
    #[serde(default)]
    pub created_at: TimeRange,
    /// Only these types (`activity_types[]`); cannot be combined with `exclude_activity_types`.
    #[serde(default)]
    pub activity_types: Vec<String>,
    /// All but these types (`exclude_activity_types[]`).
    #[serde(default)]
    pub exclude_activity_types: Vec<String>,
    /// `user_…` ids (`actor_ids[]`).
    #[serde(default)]
    pub actor_ids: Vec<String>,
    /// `org_…` ids or organisation UUIDs (`organization_ids[]`).
    #[serde(default)]
    pub organization_ids: Vec<String>,
    /// 1–5000; the API defaults to 100.
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub order: Option<SortOrder>,
    #[serde(default)]
    pub after_id: Option<String>,
    #[serde(default)]
    pub before_id: Option<String>,
}

impl ActivityQuery {
    pub const MAX_LIMIT: u32 = 5000;

    pub fn new() -> Self {
        Self::default()
    }
    pub fn created_at_gte(mut self, at: DateTime<Utc>) -> Self {
        self.created_at.gte = Some(at);
        self
    }
    pub fn created_at_gt(mut self, at: DateTime<Utc>) -> Self {
        self.created_at.gt = Some(at);
        self
    }
    pub fn created_at_lte(mut self, at: DateTime<Utc>) -> Self {
        self.created_at.lte = Some(at);
        self
    }
    pub fn created_at_lt(mut self, at: DateTime<Utc>) -> Self {
        self.created_at.lt = Some(at);
        self
    }
    pub fn activity_type(mut self, activity_type: impl Into<String>) -> Self {
        self.activity_types.push(activity_type.into());
        self
    }
    pub fn exclude_activity_type(mut self, activity_type: impl Into<String>) -> Self {
        self.exclude_activity_types.push(activity_type.into());
        self
    }
    pub fn actor_id(mut self, actor_id: impl Into<String>) -> Self {
        self.actor_ids.push(actor_id.into());
        self
    }
    pub fn organization_id(mut self, organization_id: impl Into<String>) -> Self {
        self.organization_ids.push(organization_id.into());
        self
    }
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }
    pub fn order(mut self, order: SortOrder) -> Self {
        self.order = Some(order);
        self
    }
    pub fn after_id(mut self, cursor: impl Into<String>) -> Self {
        self.after_id = Some(cursor.into());
        self
    }
    pub fn before_id(mut self, cursor: impl Into<String>) -> Self {
        self.before_id = Some(cursor.into());
        self
    }

    /// Checks what the API documents as a 400 without sending anything.
    pub fn validate(&self) -> Result<(), Error> {
        check_limit(self.limit, Self::MAX_LIMIT)?;
        cursor_of(&self.after_id, &self.before_id)?;
        if !self.activity_types.is_empty() && !self.exclude_activity_types.is_empty() {
            return Err(Error::invalid(
                "exclude_activity_types[]",
                "cannot be combined with activity_types[]; set only one of them",
            ));
        }
        Ok(())
    }

    /// The validated query in wire form, cursor included.
    pub fn to_query_pairs(&self) -> Result<QueryPairs, Error> {
        let (mut pairs, cursor) = self.pairs_and_cursor()?;
        push_cursor(cursor.as_ref(), &mut pairs);
        Ok(pairs)
    }

    /// The query without its cursor, and the cursor, for a pager.
    pub(crate) fn pairs_and_cursor(&self) -> Result<(QueryPairs, Option<Cursor>), Error> {
        self.validate()?;
        let cursor = cursor_of(&self.after_id, &self.before_id)?;
        let mut pairs = QueryPairs::new();
        self.created_at.push_pairs("created_at", &mut pairs);
        push_list("activity_types", &self.activity_types, &mut pairs);
        push_list(
            "exclude_activity_types",
            &self.exclude_activity_types,
            &mut pairs,
        );
        push_list("actor_ids", &self.actor_ids, &mut pairs);
        push_list("organization_ids", &self.organization_ids, &mut pairs);
        push_opt("limit", self.limit, &mut pairs);
        push_opt("order", self.order.map(SortOrder::as_str), &mut pairs);
        Ok((pairs, cursor))
    }
}

/// Parameters of `GET /v1/compliance/apps/chats` (ascending by `order_by`, ties by id).
///
/// Org-wide queries (no `user_ids`) must match time bounds to the sort key, cannot filter by
/// project and cannot page backwards; per-user queries (1–10 users) always sort by
/// `created_at`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatQuery {
    /// The API defaults to `created_at`.
    #[serde(default)]
    pub order_by: Option<ChatOrder>,
    #[serde(default)]
    pub created_at: TimeRange,
    #[serde(default)]
    pub updated_at: TimeRange,
    /// 1–10 `user_…` ids (`user_ids[]`); empty for an org-wide query.
    #[serde(default)]
    pub user_ids: Vec<String>,
    /// `claude_proj_…` ids (`project_ids[]`); requires `user_ids`.
    #[serde(default)]
    pub project_ids: Vec<String>,
    /// `org_…` ids or organisation UUIDs (`organization_ids[]`).
    #[serde(default)]
    pub organization_ids: Vec<String>,
    /// 1–1000; the API defaults to 100.
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub after_id: Option<String>,
    #[serde(default)]
    pub before_id: Option<String>,
}

impl ChatQuery {
    pub const MAX_LIMIT: u32 = 1000;
    pub const MAX_USER_IDS: usize = 10;

    pub fn new() -> Self {
        Self::default()
    }
    pub fn order_by(mut self, order_by: ChatOrder) -> Self {
        self.order_by = Some(order_by);
        self
    }
    pub fn created_at_gte(mut self, at: DateTime<Utc>) -> Self {
        self.created_at.gte = Some(at);
        self
    }
    pub fn created_at_gt(mut self, at: DateTime<Utc>) -> Self {
        self.created_at.gt = Some(at);
        self
    }
    pub fn created_at_lte(mut self, at: DateTime<Utc>) -> Self {
        self.created_at.lte = Some(at);
        self
    }
    pub fn created_at_lt(mut self, at: DateTime<Utc>) -> Self {
        self.created_at.lt = Some(at);
        self
    }
    pub fn updated_at_gte(mut self, at: DateTime<Utc>) -> Self {
        self.updated_at.gte = Some(at);
        self
    }
    pub fn updated_at_gt(mut self, at: DateTime<Utc>) -> Self {
        self.updated_at.gt = Some(at);
        self
    }
    pub fn updated_at_lte(mut self, at: DateTime<Utc>) -> Self {
        self.updated_at.lte = Some(at);
        self
    }
    pub fn updated_at_lt(mut self, at: DateTime<Utc>) -> Self {
        self.updated_at.lt = Some(at);
        self
    }
    pub fn user_id(mut self, user_id: impl Into<String>) -> Self {
        self.user_ids.push(user_id.into());
        self
    }
    pub fn project_id(mut self, project_id: impl Into<String>) -> Self {
        self.project_ids.push(project_id.into());
        self
    }
    pub fn organization_id(mut self, organization_id: impl Into<String>) -> Self {
        self.organization_ids.push(organization_id.into());
        self
    }
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }
    pub fn after_id(mut self, cursor: impl Into<String>) -> Self {
        self.after_id = Some(cursor.into());
        self
    }
    pub fn before_id(mut self, cursor: impl Into<String>) -> Self {
        self.before_id = Some(cursor.into());
        self
    }

    /// Checks what the API documents as a 400 without sending anything.
    pub fn validate(&self) -> Result<(), Error> {
        check_limit(self.limit, Self::MAX_LIMIT)?;
        cursor_of(&self.after_id, &self.before_id)?;
        if self.user_ids.len() > Self::MAX_USER_IDS {
            return Err(Error::invalid(
                "user_ids[]",
                format!(
                    "at most {} user ids per request, got {}",
                    Self::MAX_USER_IDS,
                    self.user_ids.len()
                ),
            ));
        }
        let order = self.order_by.unwrap_or(ChatOrder::CreatedAt);
        if !self.user_ids.is_empty() {
            if order == ChatOrder::UpdatedAt {
                return Err(Error::invalid(
                    "order_by",
                    "must be created_at (or unset) when user_ids[] is set; updated_at is only for org-wide queries",
                ));
            }
            return Ok(());
        }
        if !self.project_ids.is_empty() {
            return Err(Error::invalid(
                "project_ids[]",
                "requires user_ids[]; org-wide queries cannot filter by project",
            ));
        }
        if self.before_id.is_some() {
            return Err(Error::invalid(
                "before_id",
                "org-wide chat queries page forward only (after_id); set user_ids[] to page backwards",
            ));
        }
        match order {
            ChatOrder::CreatedAt if !self.updated_at.is_unbounded() => Err(Error::invalid(
                "updated_at",
                "updated_at.* bounds require order_by=updated_at on org-wide queries",
            )),
            ChatOrder::UpdatedAt if !self.created_at.is_unbounded() => Err(Error::invalid(
                "created_at",
                "created_at.* bounds require order_by=created_at on org-wide queries",
            )),
            _ => Ok(()),
        }
    }

    /// The validated query in wire form, cursor included.
    pub fn to_query_pairs(&self) -> Result<QueryPairs, Error> {
        let (mut pairs, cursor) = self.pairs_and_cursor()?;
        push_cursor(cursor.as_ref(), &mut pairs);
        Ok(pairs)
    }

    pub(crate) fn pairs_and_cursor(&self) -> Result<(QueryPairs, Option<Cursor>), Error> {
        self.validate()?;
        let cursor = cursor_of(&self.after_id, &self.before_id)?;
        let mut pairs = QueryPairs::new();
        push_opt("order_by", self.order_by.map(ChatOrder::as_str), &mut pairs);
        self.created_at.push_pairs("created_at", &mut pairs);
        self.updated_at.push_pairs("updated_at", &mut pairs);
        push_list("user_ids", &self.user_ids, &mut pairs);
        push_list("project_ids", &self.project_ids, &mut pairs);
        push_list("organization_ids", &self.organization_ids, &mut pairs);
        push_opt("limit", self.limit, &mut pairs);
        Ok((pairs, cursor))
    }
}

/// Parameters of `GET /v1/compliance/apps/chats/{chat_id}/messages`. With no `limit` the API
/// returns the whole chat in one response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageQuery {
    /// 1–1000, or `None` for the whole chat at once.
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub after_id: Option<String>,
    #[serde(default)]
    pub before_id: Option<String>,
    #[serde(default)]
    pub created_at: TimeRange,
    #[serde(default)]
    pub updated_at: TimeRange,
    /// The API defaults to `asc` (oldest first).
    #[serde(default)]
    pub order: Option<SortOrder>,
    /// Per tool-result text item; a positive count, or -1 for no limit.
    #[serde(default)]
    pub tool_result_max_chars: Option<i64>,
    /// Per tool_use input; a positive count, or -1 for no limit.
    #[serde(default)]
    pub tool_use_input_max_chars: Option<i64>,
}

impl MessageQuery {
    pub const MAX_LIMIT: u32 = 1000;

    pub fn new() -> Self {
        Self::default()
    }
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }
    pub fn after_id(mut self, cursor: impl Into<String>) -> Self {
        self.after_id = Some(cursor.into());
        self
    }
    pub fn before_id(mut self, cursor: impl Into<String>) -> Self {
        self.before_id = Some(cursor.into());
        self
    }
    pub fn created_at_gte(mut self, at: DateTime<Utc>) -> Self {
        self.created_at.gte = Some(at);
        self
    }
    pub fn created_at_gt(mut self, at: DateTime<Utc>) -> Self {
        self.created_at.gt = Some(at);
        self
    }
    pub fn created_at_lte(mut self, at: DateTime<Utc>) -> Self {
        self.created_at.lte = Some(at);
        self
    }
    pub fn created_at_lt(mut self, at: DateTime<Utc>) -> Self {
        self.created_at.lt = Some(at);
        self
    }
    pub fn updated_at_gte(mut self, at: DateTime<Utc>) -> Self {
        self.updated_at.gte = Some(at);
        self
    }
    pub fn updated_at_gt(mut self, at: DateTime<Utc>) -> Self {
        self.updated_at.gt = Some(at);
        self
    }
    pub fn updated_at_lte(mut self, at: DateTime<Utc>) -> Self {
        self.updated_at.lte = Some(at);
        self
    }
    pub fn updated_at_lt(mut self, at: DateTime<Utc>) -> Self {
        self.updated_at.lt = Some(at);
        self
    }
    pub fn order(mut self, order: SortOrder) -> Self {
        self.order = Some(order);
        self
    }
    /// Asks for full tool inputs and results (`-1` for both truncation limits).
    pub fn untruncated(mut self) -> Self {
        self.tool_result_max_chars = Some(-1);
        self.tool_use_input_max_chars = Some(-1);
        self
    }

    /// Checks what the API documents as a 400 without sending anything.
    pub fn validate(&self) -> Result<(), Error> {
        check_limit(self.limit, Self::MAX_LIMIT)?;
        cursor_of(&self.after_id, &self.before_id)?;
        let char_limits = [
            ("tool_result_max_chars", self.tool_result_max_chars),
            ("tool_use_input_max_chars", self.tool_use_input_max_chars),
        ];
        for (field, value) in char_limits {
            if let Some(value) = value {
                if value != -1 && value < 1 {
                    return Err(Error::invalid(
                        field,
                        format!(
                            "must be a positive character count or -1 for no limit, got {value}"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The validated query in wire form, cursor included.
    pub fn to_query_pairs(&self) -> Result<QueryPairs, Error> {
        let (mut pairs, cursor) = self.pairs_and_cursor()?;
        push_cursor(cursor.as_ref(), &mut pairs);
        Ok(pairs)
    }

    pub(crate) fn pairs_and_cursor(&self) -> Result<(QueryPairs, Option<Cursor>), Error> {
        self.validate()?;
        let cursor = cursor_of(&self.after_id, &self.before_id)?;
        let mut pairs = QueryPairs::new();
        self.created_at.push_pairs("created_at", &mut pairs);
        self.updated_at.push_pairs("updated_at", &mut pairs);
        push_opt("limit", self.limit, &mut pairs);
        push_opt("order", self.order.map(SortOrder::as_str), &mut pairs);
        push_opt(
            "tool_result_max_chars",
            self.tool_result_max_chars,
            &mut pairs,
        );
        push_opt(
            "tool_use_input_max_chars",
            self.tool_use_input_max_chars,
            &mut pairs,
        );
        Ok((pairs, cursor))
    }
}

/// Maximum `limit` of the page-token endpoints (users, groups, group members).
pub const DIRECTORY_MAX_LIMIT: u32 = 1000;

/// Wire form of a page-token request.
pub(crate) fn token_pairs(limit: Option<u32>, page: Option<&str>) -> Result<QueryPairs, Error> {
    check_limit(limit, DIRECTORY_MAX_LIMIT)?;
    let mut pairs = QueryPairs::new();
    push_opt("limit", limit, &mut pairs);
    push_opt("page", page, &mut pairs);
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 4, 8, hour, 55, 51)
            .single()
            .expect("valid time")
    }

    fn pairs(list: &[(&str, &str)]) -> QueryPairs {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn activity_lists_repeat_with_brackets_and_timestamps_end_in_z() {
        let query = ActivityQuery::new()
            .created_at_gte(at(15))
            .created_at_lt(at(16))
            .activity_type("claude_chat_created")
            .activity_type("claude_file_uploaded")
            .actor_id("user_1")
            .organization_id("org_1")
            .limit(5000)
            .order(SortOrder::Asc)
            .after_id("activity_9");

        assert_eq!(
            query.to_query_pairs().expect("valid"),
            pairs(&[
                ("created_at.gte", "2026-04-08T15:55:51Z"),
                ("created_at.lt", "2026-04-08T16:55:51Z"),
                ("activity_types[]", "claude_chat_created"),
                ("activity_types[]", "claude_file_uploaded"),
                ("actor_ids[]", "user_1"),
                ("organization_ids[]", "org_1"),
                ("limit", "5000"),
                ("order", "asc"),
                ("after_id", "activity_9"),
            ])
        );
    }

    #[test]
    fn sub_second_timestamps_keep_their_fraction() {
        let precise = at(15) + chrono::Duration::milliseconds(117);
        assert_eq!(format_timestamp(precise), "2026-04-08T15:55:51.117Z");
    }

    #[test]
    fn an_empty_activity_query_sends_nothing() {
        assert!(ActivityQuery::new()
            .to_query_pairs()
            .expect("valid")
            .is_empty());
    }

    #[test]
    fn limits_outside_the_documented_range_are_rejected_naming_the_field() {
        let too_many = ActivityQuery::new().limit(5001).validate();
        assert_eq!(
            too_many,
            Err(Error::invalid(
                "limit",
                "must be between 1 and 5000, got 5001"
            ))
        );
        assert!(ActivityQuery::new().limit(0).validate().is_err());
        let chats = ChatQuery::new()
            .limit(1001)
            .validate()
            .expect_err("too big");
        assert!(chats.to_string().contains("between 1 and 1000"), "{chats}");
        assert!(MessageQuery::new().limit(1001).validate().is_err());
        assert!(token_pairs(Some(1001), None).is_err());
        assert_eq!(
            token_pairs(Some(1000), Some("tok")).expect("valid"),
            pairs(&[("limit", "1000"), ("page", "tok")])
        );
    }

    #[test]
    fn both_cursors_at_once_are_rejected() {
        let error = ActivityQuery::new()
            .after_id("a")
            .before_id("b")
            .validate()
            .expect_err("both cursors");
        assert!(matches!(&error, Error::InvalidArgument { field, .. } if field == "after_id"));
        assert!(MessageQuery::new()
            .after_id("a")
            .before_id("b")
            .validate()
            .is_err());
    }

    #[test]
    fn activity_types_and_exclusions_cannot_be_combined() {
        let error = ActivityQuery::new()
            .activity_type("a")
            .exclude_activity_type("b")
            .validate()
            .expect_err("combined");
        assert!(error.to_string().contains("exclude_activity_types[]"));
    }

    #[test]
    fn chat_queries_enforce_the_org_wide_and_per_user_rules() {
        let eleven = (0..11).fold(ChatQuery::new(), |q, i| q.user_id(format!("user_{i}")));
        assert!(eleven
            .validate()
            .expect_err("11 users")
            .to_string()
            .contains("user_ids[]"));
        let ten = (0..10).fold(ChatQuery::new(), |q, i| q.user_id(format!("user_{i}")));
        assert!(ten.validate().is_ok());

        let per_user_by_update = ChatQuery::new().user_id("u").order_by(ChatOrder::UpdatedAt);
        assert!(
            matches!(per_user_by_update.validate(), Err(Error::InvalidArgument { field, .. }) if field == "order_by")
        );

        let org_wide_project = ChatQuery::new().project_id("claude_proj_1");
        assert!(
            matches!(org_wide_project.validate(), Err(Error::InvalidArgument { field, .. }) if field == "project_ids[]")
        );
        assert!(ChatQuery::new()
            .user_id("u")
            .project_id("claude_proj_1")
            .validate()
            .is_ok());

        let org_wide_backwards = ChatQuery::new().before_id("c");
        assert!(
            matches!(org_wide_backwards.validate(), Err(Error::InvalidArgument { field, .. }) if field == "before_id")
        );

        let mismatched = ChatQuery::new().updated_at_gte(at(1));
        assert!(
            matches!(mismatched.validate(), Err(Error::InvalidArgument { field, .. }) if field == "updated_at")
        );
        let mismatched = ChatQuery::new()
            .order_by(ChatOrder::UpdatedAt)
            .created_at_gte(at(1));
        assert!(
            matches!(mismatched.validate(), Err(Error::InvalidArgument { field, .. }) if field == "created_at")
        );
    }

    #[test]
    fn an_org_wide_updated_at_chat_query_encodes_its_window() {
        let query = ChatQuery::new()
            .order_by(ChatOrder::UpdatedAt)
            .updated_at_gte(at(10))
            .updated_at_lt(at(11))
            .limit(100);
        assert_eq!(
            query.to_query_pairs().expect("valid"),
            pairs(&[
                ("order_by", "updated_at"),
                ("updated_at.gte", "2026-04-08T10:55:51Z"),
                ("updated_at.lt", "2026-04-08T11:55:51Z"),
                ("limit", "100"),
            ])
        );
    }

    #[test]
    fn message_queries_encode_order_and_truncation_limits() {
        let query = MessageQuery::new()
            .limit(50)
            .order(SortOrder::Desc)
            .untruncated()
            .before_id("cursor==");
        assert_eq!(
            query.to_query_pairs().expect("valid"),
            pairs(&[
                ("limit", "50"),
                ("order", "desc"),
                ("tool_result_max_chars", "-1"),
                ("tool_use_input_max_chars", "-1"),
                ("before_id", "cursor=="),
            ])
        );
        let zero = MessageQuery {
            tool_result_max_chars: Some(0),
            ..MessageQuery::default()
        };
        assert!(zero
            .validate()
            .expect_err("zero")
            .to_string()
            .contains("tool_result_max_chars"));
    }

    #[test]
    fn queries_round_trip_through_json_for_job_records() {
        let query = ActivityQuery::new()
            .created_at_gte(at(1))
            .activity_type("x")
            .limit(10);
        let encoded = serde_json::to_string(&query).expect("serialise");
        let decoded: ActivityQuery = serde_json::from_str(&encoded).expect("parse");
        assert_eq!(decoded, query);
    }
}
