//! The audit log: one row per mutating API call (token, action, target, status, time,
//! request id), and the admins' query over it.

use chrono::{DateTime, Utc};
use logwarden_entities::audit_entry;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};

use super::page::{Cursor, Limit, List, Page};
use super::{Error, Services};

/// One mutating call to record.
#[derive(Debug, Clone)]
pub struct NewAuditEntry {
    pub token_id: i64,
    pub token_name: String,
    /// `METHOD /route/{param}`.
    pub action: String,
    pub target: String,
    pub status: u16,
    pub request_id: String,
    /// What the call changed or why it was made, when it says more than its action.
    pub detail: Option<String>,
}

/// Who makes a change, through which action and request: a service that changes something
/// writes the audit row in the same transaction as the change, so neither lands without
/// the other.
#[derive(Debug, Clone)]
pub struct Actor {
    pub token_id: i64,
    pub token_name: String,
    /// `METHOD /route/{param}`.
    pub action: String,
    pub request_id: String,
}

impl Actor {
    /// The audit row of a successful change of `target`.
    pub fn entry(&self, target: String, detail: Option<String>) -> NewAuditEntry {
        NewAuditEntry {
            token_id: self.token_id,
            token_name: self.token_name.clone(),
            action: self.action.clone(),
            target,
            status: 200,
            request_id: self.request_id.clone(),
            detail,
        }
    }
}

/// Writes `entry` on `db` (a transaction, when the row goes with a change).
pub(crate) async fn write_audit(
    db: &impl sea_orm::ConnectionTrait,
    entry: NewAuditEntry,
) -> Result<(), Error> {
    audit_entry::Entity::insert(audit_entry::ActiveModel {
        token_id: Set(Some(entry.token_id)),
        token_name: Set(entry.token_name),
        action: Set(entry.action),
        target: Set(entry.target),
        status: Set(i32::from(entry.status)),
        request_id: Set(entry.request_id),
        at: Set(Utc::now()),
        detail: Set(entry.detail),
        ..Default::default()
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Filters of the audit log; pages run newest first.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Calls made with this token.
    pub token_id: Option<i64>,
    /// Calls of this action, e.g. `POST /api/v1/integrations/{id}/pause`.
    pub action: Option<String>,
    #[serde(default)]
    #[param(value_type = Option<u64>, minimum = 1, maximum = 1000)]
    pub limit: Limit,
    #[param(value_type = Option<String>)]
    pub cursor: Option<Cursor>,
}

/// An audit row as admins see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEntryView {
    pub id: i64,
    pub token_id: Option<i64>,
    pub token_name: String,
    pub action: String,
    pub target: String,
    /// The HTTP status the call ended with.
    pub status: i32,
    pub request_id: String,
    pub at: DateTime<Utc>,
    /// What the call changed or why it was made (e.g. the reason given to reveal evidence).
    pub detail: Option<String>,
}

impl From<audit_entry::Model> for AuditEntryView {
    fn from(row: audit_entry::Model) -> Self {
        Self {
            id: row.id,
            token_id: row.token_id,
            token_name: row.token_name,
            action: row.action,
            target: row.target,
            status: row.status,
            request_id: row.request_id,
            at: row.at,
            detail: row.detail,
        }
    }
}

impl Services {
    pub async fn record_audit(&self, entry: NewAuditEntry) -> Result<(), Error> {
        write_audit(&self.db, entry).await
    }

    /// One page of the audit log, newest first.
    pub async fn list_audit(&self, query: AuditQuery) -> Result<Page<AuditEntryView>, Error> {
        let mut select = audit_entry::Entity::find();
        if let Some(id) = query.token_id {
            select = select.filter(audit_entry::Column::TokenId.eq(id));
        }
        if let Some(action) = &query.action {
            select = select.filter(audit_entry::Column::Action.eq(action.as_str()));
        }
        if let Some(cursor) = &query.cursor {
            select = select.filter(audit_entry::Column::Id.lt(cursor.key(List::Audit)?));
        }
        let rows = select
            .order_by_desc(audit_entry::Column::Id)
            .limit(query.limit.get() + 1)
            .all(&self.db)
            .await?;
        Ok(Page::from_rows(
            List::Audit,
            query.limit,
            rows,
            |row| row.id,
            AuditEntryView::from,
        ))
    }
}
