//! Alerts: one per standing violation whose action asks for one. The list
//! ([`Services::list_alerts`]) filters by status, policy, user and event time, newest first.

use chrono::{DateTime, Utc};
use logwarden_entities::alert;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{check_range, text_filter, TimeKey};
use crate::service::page::{Cursor, Limit, Page};
use crate::service::scope::Scope;
use crate::service::{Error, Services};

const LIST: &str = "alerts";

/// Whether an alert stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    /// Its violation stands.
    Open,
    /// A newer evaluation no longer finds its violation (`close_reason` says why).
    Closed,
}

/// Filters of the alerts list, newest event first. The time range is half-open, over the
/// time of the alerting event.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AlertQuery {
    /// `open` or `closed`.
    pub status: Option<AlertStatus>,
    /// The policy, exactly (e.g. `pii`).
    pub policy: Option<String>,
    /// The user's email, exactly.
    pub user_email: Option<String>,
    /// The user's id, exactly.
    pub user_id: Option<String>,
    /// Alerts on events at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Alerts on events before this time.
    pub to: Option<DateTime<Utc>>,
    pub integration_id: Option<i64>,
    /// Alerts grouped into this issue.
    pub issue_id: Option<i64>,
    #[serde(default)]
    #[param(value_type = Option<u64>, minimum = 1, maximum = 1000)]
    pub limit: Limit,
    #[param(value_type = Option<String>)]
    pub cursor: Option<Cursor>,
}

/// One alert.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AlertView {
    #[schema(value_type = String)]
    pub id: Uuid,
    #[schema(value_type = String)]
    pub violation_id: Uuid,
    #[schema(value_type = String)]
    pub event_id: Uuid,
    pub integration_id: i64,
    pub issue_id: Option<i64>,
    pub policy: String,
    pub severity: String,
    pub configured_action: String,
    pub user_id: String,
    pub user_email: String,
    pub event_time: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub status: AlertStatus,
    pub closed_at: Option<DateTime<Utc>>,
    pub close_reason: Option<String>,
}

impl From<alert::Model> for AlertView {
    fn from(row: alert::Model) -> Self {
        Self {
            status: if row.closed_at.is_some() {
                AlertStatus::Closed
            } else {
                AlertStatus::Open
            },
            id: row.id,
            violation_id: row.violation_id,
            event_id: row.event_id,
            integration_id: row.integration_id,
            issue_id: row.issue_id,
            policy: row.policy,
            severity: row.severity,
            configured_action: row.configured_action,
            user_id: row.user_id,
            user_email: row.user_email,
            event_time: row.event_time,
            created_at: row.created_at,
            closed_at: row.closed_at,
            close_reason: row.close_reason,
        }
    }
}

impl Services {
    /// One page of the alerts that match `query` inside `scope`, newest event first.
    pub async fn list_alerts(
        &self,
        scope: &Scope,
        query: &AlertQuery,
    ) -> Result<Page<AlertView>, Error> {
        let mut select =
            alert::Entity::find().filter(scope.on_integration(alert::Column::IntegrationId));
        match query.status {
            Some(AlertStatus::Open) => select = select.filter(alert::Column::ClosedAt.is_null()),
            Some(AlertStatus::Closed) => {
                select = select.filter(alert::Column::ClosedAt.is_not_null())
            }
            None => {}
        }
        if let Some(policy) = text_filter("policy", &query.policy)? {
            select = select.filter(alert::Column::Policy.eq(policy));
        }
        if let Some(email) = text_filter("user_email", &query.user_email)? {
            select = select.filter(alert::Column::UserEmail.eq(email));
        }
        if let Some(user_id) = text_filter("user_id", &query.user_id)? {
            select = select.filter(alert::Column::UserId.eq(user_id));
        }
        check_range(query.from, query.to)?;
        if let Some(from) = query.from {
            select = select.filter(alert::Column::EventTime.gte(from));
        }
        if let Some(to) = query.to {
            select = select.filter(alert::Column::EventTime.lt(to));
        }
        if let Some(id) = query.integration_id {
            select = select.filter(alert::Column::IntegrationId.eq(id));
        }
        if let Some(id) = query.issue_id {
            select = select.filter(alert::Column::IssueId.eq(id));
        }
        if let Some(cursor) = &query.cursor {
            let key = TimeKey::parse(cursor, LIST, |id| id.parse::<Uuid>().is_ok())?;
            let id: Uuid = key.id.parse().unwrap_or_default();
            select = select.filter(key.before(alert::Column::EventTime, alert::Column::Id, id));
        }
        let rows = select
            .order_by_desc(alert::Column::EventTime)
            .order_by_desc(alert::Column::Id)
            .limit(query.limit.get() + 1)
            .all(&self.db)
            .await?;
        let (rows, next_cursor) = TimeKey::cut(LIST, query.limit, rows, |row| {
            TimeKey::new(row.event_time, row.id)
        });
        Ok(Page {
            items: rows.into_iter().map(AlertView::from).collect(),
            next_cursor,
        })
    }
}
