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
        }
    }
}

impl Services {
    pub async fn record_audit(&self, entry: NewAuditEntry) -> Result<(), Error> {
        audit_entry::Entity::insert(audit_entry::ActiveModel {
            token_id: Set(Some(entry.token_id)),
            token_name: Set(entry.token_name),
            action: Set(entry.action),
            target: Set(entry.target),
            status: Set(i32::from(entry.status)),
            request_id: Set(entry.request_id),
            at: Set(Utc::now()),
            ..Default::default()
        })
        .exec_without_returning(&self.db)
        .await?;
        Ok(())
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
