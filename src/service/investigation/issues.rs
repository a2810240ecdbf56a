//! Issues: the alerts of one user and policy grouped for triage. Investigators list them
//! ([`Services::list_issues`]), read one with its comments ([`Services::issue_detail`]),
//! move it between `open`, `acknowledged` and `resolved` ([`Services::set_issue_status`]),
//! assign it ([`Services::set_issue_assignee`]) and comment on it
//! ([`Services::add_issue_comment`]). Each change writes its audit row in the transaction
//! that makes it, saying what changed.
//!
//! New alerts of a user and policy join their issue while it is open or acknowledged; once
//! resolved, the next alert opens a new issue. So at most one issue per user and policy is
//! unresolved, and reopening a resolved issue while another is unresolved is a conflict.

use chrono::{DateTime, Utc};
use logwarden_entities::issue::{self, IssueStatus};
use logwarden_entities::issue_comment;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, SqlErr,
};
use serde::{Deserialize, Serialize};

use super::text_filter;
use crate::service::audit::{write_audit, Actor};
use crate::service::page::{Cursor, Limit, List, Page};
use crate::service::scope::Scope;
use crate::service::{Error, Services};

/// The longest comment, in bytes.
pub const COMMENT_MAX: usize = 10_000;

/// Where an issue stands in triage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IssueStatusName {
    Open,
    Acknowledged,
    Resolved,
}

impl From<IssueStatusName> for IssueStatus {
    fn from(status: IssueStatusName) -> Self {
        match status {
            IssueStatusName::Open => IssueStatus::Open,
            IssueStatusName::Acknowledged => IssueStatus::Acknowledged,
            IssueStatusName::Resolved => IssueStatus::Resolved,
        }
    }
}

impl From<IssueStatus> for IssueStatusName {
    fn from(status: IssueStatus) -> Self {
        match status {
            IssueStatus::Open => IssueStatusName::Open,
            IssueStatus::Acknowledged => IssueStatusName::Acknowledged,
            IssueStatus::Resolved => IssueStatusName::Resolved,
        }
    }
}

impl IssueStatusName {
    fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Acknowledged => "acknowledged",
            Self::Resolved => "resolved",
        }
    }
}

/// Filters of the issues list, newest issue first.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct IssueQuery {
    /// `open`, `acknowledged` or `resolved`.
    pub status: Option<IssueStatusName>,
    /// The policy, exactly.
    pub policy: Option<String>,
    /// The user's email, exactly.
    pub user_email: Option<String>,
    /// The user's id, exactly.
    pub user_id: Option<String>,
    /// Issues assigned to this assignee, exactly.
    pub assignee: Option<String>,
    pub integration_id: Option<i64>,
    #[serde(default)]
    #[param(value_type = Option<u64>, minimum = 1, maximum = 1000)]
    pub limit: Limit,
    #[param(value_type = Option<String>)]
    pub cursor: Option<Cursor>,
}

/// One issue.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct IssueView {
    pub id: i64,
    pub integration_id: i64,
    pub user_id: String,
    pub user_email: String,
    pub policy: String,
    pub severity: String,
    pub status: IssueStatusName,
    pub assignee: Option<String>,
    pub alert_count: i64,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<issue::Model> for IssueView {
    fn from(row: issue::Model) -> Self {
        Self {
            id: row.id,
            integration_id: row.integration_id,
            user_id: row.user_id,
            user_email: row.user_email,
            policy: row.policy,
            severity: row.severity,
            status: row.status.into(),
            assignee: row.assignee,
            alert_count: row.alert_count,
            first_seen_at: row.first_seen_at,
            last_seen_at: row.last_seen_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// A comment on an issue.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct IssueCommentView {
    pub id: i64,
    pub issue_id: i64,
    /// The token that wrote it.
    pub token_id: Option<i64>,
    /// That token's name.
    pub author: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

impl From<issue_comment::Model> for IssueCommentView {
    fn from(row: issue_comment::Model) -> Self {
        Self {
            id: row.id,
            issue_id: row.issue_id,
            token_id: row.token_id,
            author: row.author,
            body: row.body,
            created_at: row.created_at,
        }
    }
}

/// One issue with its comments, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct IssueDetail {
    pub issue: IssueView,
    pub comments: Vec<IssueCommentView>,
}

/// A status change.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueStatusChange {
    /// `open`, `acknowledged` or `resolved`.
    pub status: IssueStatusName,
}

/// Who works on an issue.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueAssignment {
    /// An email or a name, at most 320 bytes; `null` unassigns.
    pub assignee: Option<String>,
}

/// A new comment.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewIssueComment {
    /// The text, 1 to 10,000 bytes.
    pub body: String,
}

impl Services {
    /// One page of the issues that match `query` inside `scope`, newest first.
    pub async fn list_issues(
        &self,
        scope: &Scope,
        query: &IssueQuery,
    ) -> Result<Page<IssueView>, Error> {
        let mut select =
            issue::Entity::find().filter(scope.on_integration(issue::Column::IntegrationId));
        if let Some(status) = query.status {
            select = select.filter(issue::Column::Status.eq(IssueStatus::from(status)));
        }
        if let Some(policy) = text_filter("policy", &query.policy)? {
            select = select.filter(issue::Column::Policy.eq(policy));
        }
        if let Some(email) = text_filter("user_email", &query.user_email)? {
            select = select.filter(issue::Column::UserEmail.eq(email));
        }
        if let Some(user_id) = text_filter("user_id", &query.user_id)? {
            select = select.filter(issue::Column::UserId.eq(user_id));
        }
        if let Some(assignee) = text_filter("assignee", &query.assignee)? {
            select = select.filter(issue::Column::Assignee.eq(assignee));
        }
        if let Some(id) = query.integration_id {
            select = select.filter(issue::Column::IntegrationId.eq(id));
        }
        if let Some(cursor) = &query.cursor {
            select = select.filter(issue::Column::Id.lt(cursor.key(List::Issues)?));
        }
        let rows = select
            .order_by_desc(issue::Column::Id)
            .limit(query.limit.get() + 1)
            .all(&self.db)
            .await?;
        Ok(Page::from_rows(
            List::Issues,
            query.limit,
            rows,
            |row| row.id,
            IssueView::from,
        ))
    }

    /// The issue `id` if it exists inside `scope`, read on `db`.
    async fn issue_in(
        &self,
        db: &impl sea_orm::ConnectionTrait,
        scope: &Scope,
        id: i64,
    ) -> Result<issue::Model, Error> {
        issue::Entity::find_by_id(id)
            .filter(scope.on_integration(issue::Column::IntegrationId))
            .one(db)
            .await?
            .ok_or_else(|| Error::not_found("issue", id))
    }

    /// One issue with its comments, if it exists inside `scope`.
    pub async fn issue_detail(&self, scope: &Scope, id: i64) -> Result<IssueDetail, Error> {
        let row = self.issue_in(&self.db, scope, id).await?;
        let comments = issue_comment::Entity::find()
            .filter(issue_comment::Column::IssueId.eq(id))
            .order_by_asc(issue_comment::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(IssueCommentView::from)
            .collect();
        Ok(IssueDetail {
            issue: row.into(),
            comments,
        })
    }

    /// Moves the issue `id` to `status`, audited as `status OLD -> NEW`.
    pub async fn set_issue_status(
        &self,
        scope: &Scope,
        actor: &Actor,
        id: i64,
        change: IssueStatusChange,
    ) -> Result<IssueView, Error> {
        let txn = crate::store::begin_write(&self.db).await?;
        let row = self.issue_in(&txn, scope, id).await?;
        let old = IssueStatusName::from(row.status);
        let mut active: issue::ActiveModel = row.into();
        active.status = Set(change.status.into());
        active.updated_at = Set(Utc::now());
        let saved = active.update(&txn).await.map_err(|err| {
            if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) {
                Error::Conflict(format!(
                    "issue {id} cannot be {}: another unresolved issue of its user and policy stands; resolve that one first",
                    change.status.as_str()
                ))
            } else {
                err.into()
            }
        })?;
        write_audit(
            &txn,
            actor.entry(
                format!("issue {id}"),
                Some(format!(
                    "status {} -> {}",
                    old.as_str(),
                    change.status.as_str()
                )),
            ),
        )
        .await?;
        txn.commit().await?;
        Ok(saved.into())
    }

    /// Assigns the issue `id` (or unassigns it), audited as `assignee OLD -> NEW`.
    pub async fn set_issue_assignee(
        &self,
        scope: &Scope,
        actor: &Actor,
        id: i64,
        assignment: IssueAssignment,
    ) -> Result<IssueView, Error> {
        let assignee = match assignment.assignee.as_deref().map(str::trim) {
            None => None,
            Some("") => {
                return Err(Error::invalid(
                    "assignee",
                    "must not be empty: pass null to unassign",
                ))
            }
            Some(text) if text.len() > 320 => {
                return Err(Error::invalid("assignee", "is longer than 320 bytes"))
            }
            Some(text) => Some(text.to_owned()),
        };
        let txn = crate::store::begin_write(&self.db).await?;
        let row = self.issue_in(&txn, scope, id).await?;
        let shown = |name: &Option<String>| name.clone().unwrap_or_else(|| "none".to_owned());
        let detail = format!("assignee {} -> {}", shown(&row.assignee), shown(&assignee));
        let mut active: issue::ActiveModel = row.into();
        active.assignee = Set(assignee);
        active.updated_at = Set(Utc::now());
        let saved = active.update(&txn).await?;
        write_audit(&txn, actor.entry(format!("issue {id}"), Some(detail))).await?;
        txn.commit().await?;
        Ok(saved.into())
    }

    /// Adds a comment to the issue `id`, written by the actor's token.
    pub async fn add_issue_comment(
        &self,
        scope: &Scope,
        actor: &Actor,
        id: i64,
        comment: NewIssueComment,
    ) -> Result<IssueCommentView, Error> {
        let body = comment.body.trim();
        if body.is_empty() {
            return Err(Error::invalid("body", "must not be empty"));
        }
        if body.len() > COMMENT_MAX {
            return Err(Error::invalid(
                "body",
                format!("is longer than {COMMENT_MAX} bytes"),
            ));
        }
        let txn = crate::store::begin_write(&self.db).await?;
        self.issue_in(&txn, scope, id).await?;
        let saved = issue_comment::ActiveModel {
            issue_id: Set(id),
            token_id: Set(Some(actor.token_id)),
            author: Set(actor.token_name.clone()),
            body: Set(body.to_owned()),
            created_at: Set(Utc::now()),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        write_audit(
            &txn,
            actor.entry(format!("issue {id}"), Some(format!("comment {}", saved.id))),
        )
        .await?;
        txn.commit().await?;
        Ok(saved.into())
    }
}
