//! Access events: the Compliance API's activity feed (logins, uploads, views, admin actions),
//! stored by the pull path. The search ([`Services::search_access_events`]) filters by actor,
//! activity type, time and IP address, newest first; [`Services::access_event_detail`] adds
//! the record as the API sent it.

use chrono::{DateTime, Utc};
use futures::{Stream, TryStreamExt};
use logwarden_entities::access_event;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};

use super::{check_range, text_filter, TimeKey};
use crate::service::page::{Cursor, Limit, Page};
use crate::service::scope::Scope;
use crate::service::{Error, Services};

const LIST: &str = "access_events";

/// Rows per keyset page while streaming.
const STREAM_PAGE: u64 = 5_000;

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

impl AccessEventQuery {
    /// The access events the filters match inside `scope` (without the page), after checking
    /// every filter.
    pub fn condition(&self, scope: &Scope) -> Result<Condition, Error> {
        let mut condition = scope.on_integration(access_event::Column::IntegrationId);
        if let Some(email) = text_filter("actor_email", &self.actor_email)? {
            condition = condition.add(access_event::Column::ActorEmail.eq(email));
        }
        if let Some(user_id) = text_filter("actor_user_id", &self.actor_user_id)? {
            condition = condition.add(access_event::Column::ActorUserId.eq(user_id));
        }
        if let Some(kind) = text_filter("activity_type", &self.activity_type)? {
            condition = condition.add(access_event::Column::ActivityType.eq(kind));
        }
        if let Some(ip) = text_filter("ip_address", &self.ip_address)? {
            condition = condition.add(access_event::Column::IpAddress.eq(ip));
        }
        check_range(self.from, self.to)?;
        if let Some(from) = self.from {
            condition = condition.add(access_event::Column::EventTime.gte(from));
        }
        if let Some(to) = self.to {
            condition = condition.add(access_event::Column::EventTime.lt(to));
        }
        if let Some(id) = self.integration_id {
            condition = condition.add(access_event::Column::IntegrationId.eq(id));
        }
        Ok(condition)
    }
}

/// The access events before `(time, id)`, newest first: a row-value comparison bounded by
/// the time, so each keyset page is one index range.
fn before(time: DateTime<Utc>, id: i64) -> Condition {
    Condition::all()
        .add(access_event::Column::EventTime.lte(time))
        .add(
            Expr::tuple([
                Expr::col((access_event::Entity, access_event::Column::EventTime)),
                Expr::col((access_event::Entity, access_event::Column::Id)),
            ])
            .lt(Expr::tuple([Expr::val(time), Expr::val(id)])),
        )
}

impl Services {
    /// At most `limit` access events that match `condition`, newest first.
    async fn access_rows(
        &self,
        condition: Condition,
        limit: u64,
    ) -> Result<Vec<access_event::Model>, Error> {
        Ok(access_event::Entity::find()
            .filter(condition)
            .order_by_desc(access_event::Column::EventTime)
            .order_by_desc(access_event::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?)
    }

    /// One page of the access events that match `query` inside `scope`, newest first.
    pub async fn search_access_events(
        &self,
        scope: &Scope,
        query: &AccessEventQuery,
    ) -> Result<Page<AccessEventRow>, Error> {
        let mut condition = query.condition(scope)?;
        if let Some(cursor) = &query.cursor {
            let key = TimeKey::parse(cursor, LIST, |id| id.parse::<i64>().is_ok())?;
            let id: i64 = key.id.parse().unwrap_or_default();
            condition = condition.add(before(key.time, id));
        }
        let rows = self.access_rows(condition, query.limit.get() + 1).await?;
        let (rows, next_cursor) = TimeKey::cut(LIST, query.limit, rows, |row| {
            TimeKey::new(row.event_time, row.id)
        });
        Ok(Page {
            items: rows.into_iter().map(|model| row(model).0).collect(),
            next_cursor,
        })
    }

    /// Every access event that matches `query` inside `scope`, newest first (its `limit` and
    /// `cursor` are ignored), read in keyset pages of [`STREAM_PAGE`] on `(event_time, id)`
    /// so memory stays constant however many match. The filters are checked before the
    /// stream is returned.
    pub fn stream_access_events(
        &self,
        scope: &Scope,
        query: &AccessEventQuery,
    ) -> Result<impl Stream<Item = Result<AccessEventRow, Error>> + Send + 'static, Error> {
        Ok(self
            .stream_access_event_pages(scope, query)?
            .map_ok(|rows| futures::stream::iter(rows.into_iter().map(Ok)))
            .try_flatten())
    }

    /// [`Services::stream_access_events`] a keyset page at a time.
    pub fn stream_access_event_pages(
        &self,
        scope: &Scope,
        query: &AccessEventQuery,
    ) -> Result<impl Stream<Item = Result<Vec<AccessEventRow>, Error>> + Send + 'static, Error>
    {
        let condition = query.condition(scope)?;
        let state = (self.clone(), condition, None::<(DateTime<Utc>, i64)>, false);
        let pages =
            futures::stream::try_unfold(state, |(services, condition, key, done)| async move {
                if done {
                    return Ok::<_, Error>(None);
                }
                let mut page = condition.clone();
                if let Some((time, id)) = key {
                    page = page.add(before(time, id));
                }
                let rows = services.access_rows(page, STREAM_PAGE).await?;
                let Some(last) = rows.last() else {
                    return Ok(None);
                };
                let key = Some((last.event_time, last.id));
                let done = (rows.len() as u64) < STREAM_PAGE;
                let rows: Vec<AccessEventRow> = rows.into_iter().map(|m| row(m).0).collect();
                Ok(Some((rows, (services, condition, key, done))))
            });
        Ok(pages)
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
