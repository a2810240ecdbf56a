//! Access events: the Compliance API's activity feed (logins, uploads, views, admin actions),
//! stored by the pull path. The search ([`Services::search_access_events`]) filters by actor,
//! activity type, time and IP address, newest first; [`Services::access_event_detail`] adds
//! the record as the API sent it.

use chrono::{DateTime, Utc};
use logwarden_entities::access_event;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};

use super::{check_range, text_filter, TimeKey};
use crate::service::page::{Cursor, Limit, Page};
use crate::service::scope::Scope;
use crate::service::{Error, Services};

const LIST: &str = "access_events";

/// Filters of the access events search, newest first; the time range is half-open.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AccessEventQuery {
    /// The actor's email, exactly.
    pub actor_email: Option<String>,
    /// The actor's user id, exactly.
    pub actor_user_id: Option<String>,
    /// The activity type, exactly (e.g. `user_logged_in`).
    pub activity_type: Option<String>,
    /// Activities at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Activities before this time.
    pub to: Option<DateTime<Utc>>,
    /// The actor's IP address, exactly.
    pub ip_address: Option<String>,
    pub integration_id: Option<i64>,
    #[serde(default)]
    #[param(value_type = Option<u64>, minimum = 1, maximum = 1000)]
    pub limit: Limit,
    #[param(value_type = Option<String>)]
    pub cursor: Option<Cursor>,
}

/// One access event of the search.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AccessEventRow {
    pub id: i64,
    pub integration_id: i64,
    /// The activity's id in the Compliance API.
    pub activity_id: String,
    pub activity_type: String,
    /// `user`, `api_key`, ... as the API names it; `unknown` when it names none.
    pub actor_type: String,
    pub actor_user_id: Option<String>,
    pub actor_email: Option<String>,
    pub ip_address: Option<String>,
    pub organization_uuid: Option<String>,
    pub event_time: DateTime<Utc>,
    pub ingested_at: DateTime<Utc>,
}

/// One access event in full.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AccessEventDetail {
    #[serde(flatten)]
    pub event: AccessEventRow,
    /// The activity as the Compliance API returned it.
    #[schema(value_type = Object)]
    pub record: serde_json::Value,
}

fn row(model: access_event::Model) -> (AccessEventRow, serde_json::Value) {
    (
        AccessEventRow {
            id: model.id,
            integration_id: model.integration_id,
            activity_id: model.activity_id,
            activity_type: model.activity_type,
            actor_type: model.actor_type,
            actor_user_id: model.actor_user_id,
            actor_email: model.actor_email,
            ip_address: model.ip_address,
            organization_uuid: model.organization_uuid,
            event_time: model.event_time,
            ingested_at: model.ingested_at,
        },
        model.record,
    )
}

impl Services {
    /// One page of the access events that match `query` inside `scope`, newest first.
    pub async fn search_access_events(
        &self,
        scope: &Scope,
        query: &AccessEventQuery,
    ) -> Result<Page<AccessEventRow>, Error> {
        let mut select = access_event::Entity::find()
            .filter(scope.on_integration(access_event::Column::IntegrationId));
        if let Some(email) = text_filter("actor_email", &query.actor_email)? {
            select = select.filter(access_event::Column::ActorEmail.eq(email));
        }
        if let Some(user_id) = text_filter("actor_user_id", &query.actor_user_id)? {
            select = select.filter(access_event::Column::ActorUserId.eq(user_id));
        }
        if let Some(kind) = text_filter("activity_type", &query.activity_type)? {
            select = select.filter(access_event::Column::ActivityType.eq(kind));
        }
        if let Some(ip) = text_filter("ip_address", &query.ip_address)? {
            select = select.filter(access_event::Column::IpAddress.eq(ip));
        }
        check_range(query.from, query.to)?;
        if let Some(from) = query.from {
            select = select.filter(access_event::Column::EventTime.gte(from));
        }
        if let Some(to) = query.to {
            select = select.filter(access_event::Column::EventTime.lt(to));
        }
        if let Some(id) = query.integration_id {
            select = select.filter(access_event::Column::IntegrationId.eq(id));
        }
        if let Some(cursor) = &query.cursor {
            let key = TimeKey::parse(cursor, LIST, |id| id.parse::<i64>().is_ok())?;
            let id: i64 = key.id.parse().unwrap_or_default();
            select = select.filter(key.before(
                access_event::Column::EventTime,
                access_event::Column::Id,
                id,
            ));
        }
        let rows = select
            .order_by_desc(access_event::Column::EventTime)
            .order_by_desc(access_event::Column::Id)
            .limit(query.limit.get() + 1)
            .all(&self.db)
            .await?;
        let (rows, next_cursor) = TimeKey::cut(LIST, query.limit, rows, |row| {
            TimeKey::new(row.event_time, row.id)
        });
        Ok(Page {
            items: rows.into_iter().map(|model| row(model).0).collect(),
            next_cursor,
        })
    }

    /// One access event with its record, if it exists inside `scope`.
    pub async fn access_event_detail(
        &self,
        scope: &Scope,
        id: i64,
    ) -> Result<AccessEventDetail, Error> {
        let model = access_event::Entity::find_by_id(id)
            .filter(scope.on_integration(access_event::Column::IntegrationId))
            .one(&self.db)
            .await?
            .ok_or_else(|| Error::not_found("access event", id))?;
        let (event, record) = row(model);
        Ok(AccessEventDetail { event, record })
    }
}
