//! Integrations: adding one (after testing its key against the Compliance API), the Log
//! Sources query (filters, cursor pages), lookups by id, pausing, resuming and deleting, and
//! the one resolver of "id or name" for the CLI. The API key is encrypted before it is stored
//! and never returned: views show its last four characters.

use chrono::{DateTime, Utc};
use std::collections::HashMap;

use chrono::TimeDelta;
use logwarden_entities::{
    access_event, alert, data_plane, event, integration, integration_error, issue, job, project,
    session, violation,
};
use logwarden_jobs::kind::{IntegrationKind, IntegrationStatus, JobKind, JobStatus};
use logwarden_jobs::payload::{DataPlaneName, Priority};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};
use serde::{Deserialize, Serialize};

use super::page::{Cursor, Limit, List, Page};
use super::scope::Scope;
use super::views::Health;
use super::{one_of, Error, Services};
use crate::infra::ratelimit::GateFactory;
use crate::infra::secret::Secret;
use crate::store::moves::{JobMove, Move};
use logwarden_compliance::{ActivityQuery, Client, ClientConfig};

/// The production Compliance API.
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";

/// What `integration add` takes.
#[derive(Debug, Clone)]
pub struct NewIntegration {
    pub name: String,
    pub project: String,
    pub data_plane: String,
    pub api_key: Secret,
    pub base_url: Option<String>,
    /// Where syncing starts (default: `initial_lookback` before now); older history is for
    /// backfills.
    pub sync_from: Option<DateTime<Utc>>,
}

/// Filters of the Log Sources list, as a query string gives them; the empty query matches
/// every integration, deleted ones included. Pages run in id order, oldest first.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct IntegrationQuery {
    pub status: Option<IntegrationStatus>,
    pub kind: Option<IntegrationKind>,
    pub project_id: Option<i64>,
    /// A data plane's name.
    pub data_plane: Option<String>,
    #[serde(default)]
    #[param(value_type = Option<u64>, minimum = 1, maximum = 1000)]
    pub limit: Limit,
    #[param(value_type = Option<String>)]
    pub cursor: Option<Cursor>,
    /// The projects the caller may see (set by the API from the token, never by the query).
    #[serde(skip)]
    pub scope: Scope,
}

/// An integration as people see it (never the key); times are RFC 3339 in UTC.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IntegrationView {
    pub id: i64,
    pub name: String,
    pub kind: IntegrationKind,
    pub project_id: i64,
    pub project: String,
    pub data_plane: String,
    pub api_key_last4: String,
    pub base_url: String,
    pub organization_uuid: Option<String>,
    pub status: IntegrationStatus,
    pub sync_watermark: Option<DateTime<Utc>>,
    pub last_synced_at: Option<DateTime<Utc>>,
    /// The newest error of any of its jobs, until a sync succeeds.
    pub last_error: Option<String>,
    pub last_error_class: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Derived from the fields below and the sync schedule; see [`Health`].
    pub health: Health,
    pub last_sync_succeeded_at: Option<DateTime<Utc>>,
    /// Sync attempts failed since the last successful sync.
    pub sync_failures: i32,
    /// The last error of each job kind that has failed since it last succeeded.
    pub last_errors: Vec<KindErrorView>,
}

/// The last error of one job kind of an integration.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct KindErrorView {
    pub kind: JobKind,
    pub class: String,
    pub message: String,
    /// The job failed for good: no retry follows unless an operator retries it.
    #[serde(rename = "final")]
    pub is_final: bool,
    pub at: DateTime<Utc>,
}

/// What a view needs beyond its row: every kind's last error, and when it is seen.
struct ViewContext {
    errors: HashMap<i64, Vec<KindErrorView>>,
    now: DateTime<Utc>,
    period: TimeDelta,
}

impl ViewContext {
    fn view(
        &mut self,
        (row, project, plane): (
            integration::Model,
            Option<project::Model>,
            Option<data_plane::Model>,
        ),
    ) -> IntegrationView {
        let last_errors = self.errors.remove(&row.id).unwrap_or_default();
        let sync_failed_for_good = last_errors
            .iter()
            .any(|error| error.kind == JobKind::Sync && error.is_final);
        let health = Health::of(&row, sync_failed_for_good, self.now, self.period);
        IntegrationView {
            id: row.id,
            name: row.name,
            kind: row.kind,
            project_id: row.project_id,
            project: project.map(|p| p.name).unwrap_or_default(),
            data_plane: plane.map(|p| p.name).unwrap_or_default(),
            api_key_last4: row.api_key_last4,
            base_url: row.base_url,
            organization_uuid: row.organization_uuid,
            status: row.status,
            sync_watermark: row.sync_watermark,
            last_synced_at: row.last_synced_at,
            last_error: row.last_error,
            last_error_class: row.last_error_class,
            created_at: row.created_at,
            health,
            last_sync_succeeded_at: row.last_sync_succeeded_at,
            sync_failures: row.sync_failures,
            last_errors,
        }
    }
}

pub(crate) fn validate_name(field: &'static str, value: &str) -> Result<String, Error> {
    let trimmed = value.trim();
    if trimmed.is_empty() || trimmed.len() > 100 || trimmed.chars().any(char::is_control) {
        return Err(Error::invalid(
            field,
            format!("{value:?} must be 1 to 100 printable characters"),
        ));
    }
    Ok(trimmed.to_owned())
}

/// An integration's name: [`validate_name`], and not digits only, since the CLI takes a name
/// or an id wherever it names an integration and such a name would shadow another's id.
pub(crate) fn validate_integration_name(value: &str) -> Result<String, Error> {
    let name = validate_name("name", value)?;
    if name.chars().all(|c| c.is_ascii_digit()) {
        return Err(Error::invalid(
            "name",
            format!("{name:?} is digits only, which the CLI reads as an integration id: use a name with at least one letter or sign, such as \"org-{name}\""),
        ));
    }
    Ok(name)
}

/// A client for an integration's key and base URL, with the settings' timeouts.
pub fn client_for(
    settings: &crate::config::Settings,
    base_url: &str,
    api_key: &Secret,
) -> Result<Client, Error> {
    let mut config = ClientConfig::from_base_url(base_url, api_key.clone())
        .map_err(|err| Error::invalid("base_url", err.to_string()))?;
    config.connect_timeout = settings.api_connect_timeout;
    config.request_timeout = settings.api_request_timeout;
    config.max_response_size = settings.api_max_response_size;
    config.network = logwarden_compliance::NetworkRules {
        allow_loopback_http: settings.allow_loopback_http,
        allow_private_networks: settings.allow_private_networks,
    };
    config.retry.max_retries = settings.api_request_tries.saturating_sub(1);
    config.retry.max_malformed_retries = config
        .retry
        .max_malformed_retries
        .min(config.retry.max_retries);
    // The client refuses a key or URL it cannot send before any request: bad input, not an
    // upstream failure.
    Client::new(config).map_err(|err| match err {
        logwarden_compliance::Error::InvalidArgument { field, message } => Error::invalid(
            if field == "api_key" {
                "api_key"
            } else {
                "base_url"
            },
            message,
        ),
        other => Error::Upstream(other),
    })
}

/// The organisation key of one-off requests whose organisation is not known yet (a new key's
/// check, the first request of a pull): the fleet bounds them all together by one budget.
pub const UNIDENTIFIED_ORGANIZATION: &str = "unidentified";

/// [`client_for`] drawing on `gates` when given: the budget of `organization`, or the shared
/// one of [`UNIDENTIFIED_ORGANIZATION`]. One-off requests are someone waiting, so they go
/// with the sync requests' priority.
pub fn gated_client_for(
    settings: &crate::config::Settings,
    gates: Option<&GateFactory>,
    base_url: &str,
    api_key: &Secret,
    organization: Option<&str>,
) -> Result<Client, Error> {
    let client = client_for(settings, base_url, api_key)?;
    Ok(match gates {
        Some(gates) => client.with_gate(gates(
            organization.unwrap_or(UNIDENTIFIED_ORGANIZATION),
            Priority::Sync,
        )),
        None => client,
    })
}

/// Counts a request already sent on the budget of unidentified organisations against the
/// budget of the `organization` its answer named, so that the fleet's log of that
/// organisation holds every request the API counts for it. Waits for a slot like any request.
pub async fn charge_to_organization(gates: Option<&GateFactory>, organization: Option<&str>) {
    if let (Some(gates), Some(organization)) = (gates, organization) {
        gates(organization, Priority::Sync).acquire().await;
    }
}

impl Services {
    /// A client for one of these services' one-off requests with `api_key`.
    pub(crate) fn one_off_client(
        &self,
        base_url: &str,
        api_key: &Secret,
        organization: Option<&str>,
    ) -> Result<Client, Error> {
        gated_client_for(
            &self.settings,
            self.gates.as_ref(),
            base_url,
            api_key,
            organization,
        )
    }

    /// Learns the organisation of an integration whose add-time probe saw no activity, from the
    /// first activity ingested since that names one, so that its requests draw on that
    /// organisation's rate budget (shared with every other integration of the organisation)
    /// instead of one of its own. Returns the organisation now stored, if any; one already
    /// stored is never replaced.
    pub async fn learn_organization(&self, integration_id: i64) -> Result<Option<String>, Error> {
        let seen: Option<Option<String>> = access_event::Entity::find()
            .select_only()
            .column(access_event::Column::OrganizationUuid)
            .filter(access_event::Column::IntegrationId.eq(integration_id))
            .filter(access_event::Column::OrganizationUuid.is_not_null())
            .order_by_asc(access_event::Column::EventTime)
            .into_tuple()
            .one(&self.db)
            .await?;
        if let Some(Some(organization)) = seen {
            integration::Entity::update_many()
                .col_expr(
                    integration::Column::OrganizationUuid,
                    Expr::value(Some(organization)),
                )
                .filter(integration::Column::Id.eq(integration_id))
                .filter(integration::Column::OrganizationUuid.is_null())
                .exec(&self.db)
                .await?;
        }
        let stored: Option<Option<String>> = integration::Entity::find_by_id(integration_id)
            .select_only()
            .column(integration::Column::OrganizationUuid)
            .into_tuple()
            .one(&self.db)
            .await?;
        Ok(stored.flatten())
    }

    /// Tests the key with one small request, then records the integration, creating its
    /// project and data plane when they are new. Its first sync starts `initial_lookback`
    /// before now.
    pub async fn add_integration(&self, new: NewIntegration) -> Result<IntegrationView, Error> {
        let name = validate_integration_name(&new.name)?;
        let project_name = validate_name("project", &new.project)?;
        let plane = DataPlaneName::parse(&new.data_plane)
            .map_err(|err| Error::invalid("data_plane", err.to_string()))?;
        if new.sync_from.is_some_and(|from| from > Utc::now()) {
            return Err(Error::invalid("sync_from", "must not be in the future"));
        }
        let master_key = self.master_key()?;
        self.ensure_name_free(&name).await?;
        let check = self
            .test_connection(new.base_url.as_deref(), &new.api_key)
            .await?;

        let now = Utc::now();
        let initial_lookback = chrono::TimeDelta::from_std(self.settings.initial_lookback)
            .unwrap_or(chrono::TimeDelta::hours(1));
        let id = self
            .record_integration(
                integration::ActiveModel {
                    name: Set(name),
                    kind: Set(IntegrationKind::AnthropicComplianceApi),
                    api_key_ciphertext: Set(master_key.encrypt(&new.api_key)),
                    api_key_last4: Set(new.api_key.last4().to_owned()),
                    base_url: Set(check.base_url),
                    organization_uuid: Set(check.organization_uuid),
                    sync_watermark: Set(Some(new.sync_from.unwrap_or(now - initial_lookback))),
                    ..Default::default()
                },
                &project_name,
                &plane,
            )
            .await?;
        self.integration(id).await
    }

    /// Refuses a name another integration (deleted ones included) already has.
    pub(super) async fn ensure_name_free(&self, name: &str) -> Result<(), Error> {
        let taken = integration::Entity::find()
            .filter(integration::Column::Name.eq(name))
            .one(&self.db)
            .await?
            .is_some();
        if taken {
            return Err(Error::Conflict(format!(
                "an integration named {name:?} already exists"
            )));
        }
        Ok(())
    }

    /// Stores a new, active integration of either kind in one transaction: its project and
    /// data plane (created when new), the row itself and the default policy set. `row` holds
    /// what differs by kind; the rest is filled here. Returns the new id.
    pub(super) async fn record_integration(
        &self,
        mut row: integration::ActiveModel,
        project_name: &str,
        plane: &DataPlaneName,
    ) -> Result<i64, Error> {
        let now = Utc::now();
        let txn = self.db.begin().await?;
        row.project_id = Set(project::Entity::upsert(&txn, project_name, now).await?);
        row.data_plane_id = Set(data_plane::Entity::upsert(&txn, plane.as_str(), now).await?);
        row.status = Set(IntegrationStatus::Active);
        row.last_synced_at = Set(None);
        row.last_error = Set(None);
        row.last_error_class = Set(None);
        row.created_at = Set(now);
        row.updated_at = Set(now);
        let row = integration::Entity::insert(row)
            .exec_with_returning(&txn)
            .await?;
        super::policies::install_default(&txn, row.id).await?;
        txn.commit().await?;
        Ok(row.id)
    }

    /// One page of the integrations that match `query`, in id order, with their project and
    /// data plane names: one query whatever the page holds.
    pub async fn list_integrations(
        &self,
        query: IntegrationQuery,
    ) -> Result<Page<IntegrationView>, Error> {
        let mut select = with_names().filter(query.scope.on_integration(integration::Column::Id));
        if let Some(status) = query.status {
            select = select.filter(integration::Column::Status.eq(status));
        }
        if let Some(kind) = query.kind {
            select = select.filter(integration::Column::Kind.eq(kind));
        }
        if let Some(id) = query.project_id {
            select = select.filter(integration::Column::ProjectId.eq(id));
        }
        if let Some(name) = &query.data_plane {
            select = select.filter(data_plane::Column::Name.eq(name.as_str()));
        }
        if let Some(cursor) = &query.cursor {
            select = select.filter(integration::Column::Id.gt(cursor.key(List::Integrations)?));
        }
        let rows = select
            .order_by_asc(integration::Column::Id)
            .limit(query.limit.get() + 1)
            .all(&self.db)
            .await?;
        let mut context = self
            .view_context(rows.iter().map(|(row, _, _)| row.id))
            .await?;
        Ok(Page::from_rows(
            List::Integrations,
            query.limit,
            rows,
            |(row, _, _)| row.id,
            |row| context.view(row),
        ))
    }

    pub async fn integration(&self, id: i64) -> Result<IntegrationView, Error> {
        let row = with_names()
            .filter(integration::Column::Id.eq(id))
            .one(&self.db)
            .await?
            .ok_or_else(|| Error::not_found("integration", id))?;
        Ok(self.view_context([id]).await?.view(row))
    }

    /// The last errors of `ids`, in one query, and the sync period health is judged by.
    async fn view_context(&self, ids: impl IntoIterator<Item = i64>) -> Result<ViewContext, Error> {
        let mut errors: HashMap<i64, Vec<KindErrorView>> = HashMap::new();
        for row in integration_error::Entity::find()
            .filter(integration_error::Column::IntegrationId.is_in(ids))
            .order_by_asc(integration_error::Column::Kind)
            .all(&self.db)
            .await?
        {
            errors
                .entry(row.integration_id)
                .or_default()
                .push(KindErrorView {
                    kind: row.kind,
                    class: row.class,
                    message: row.message,
                    is_final: row.is_final,
                    at: row.at,
                });
        }
        Ok(ViewContext {
            errors,
            now: Utc::now(),
            period: self.settings.sync_period(),
        })
    }

    /// The id of the integration a person named on the command line, by id or by name.
    ///
    /// The rule: a key that parses as an integer and is the id of an existing integration
    /// means that integration; any other key, digits that are no integration's id included,
    /// is a name. So a name made of digits never hides another integration's id: while
    /// integration 7 exists, "7" means it, and the integration named "7" is reached by its
    /// own id. The service functions themselves take ids; only the CLI resolves.
    pub async fn resolve_integration(&self, key: &str) -> Result<i64, Error> {
        if let Ok(id) = key.parse::<i64>() {
            if let Some(row) = integration::Entity::find_by_id(id).one(&self.db).await? {
                return Ok(row.id);
            }
        }
        integration::Entity::find()
            .filter(integration::Column::Name.eq(key))
            .one(&self.db)
            .await?
            .map(|row| row.id)
            .ok_or_else(|| Error::not_found("integration with the id or name", format!("{key:?}")))
    }

    /// The stored row of an integration, for operations that need more than its view.
    pub(crate) async fn integration_row(&self, id: i64) -> Result<integration::Model, Error> {
        integration::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or_else(|| Error::not_found("integration", id))
    }

    /// Pauses syncing: no new sync jobs; queued jobs wait.
    pub async fn pause_integration(&self, id: i64) -> Result<IntegrationView, Error> {
        self.move_integration(&self.db, id, IntegrationStatus::Paused)
            .await?;
        self.integration(id).await
    }

    /// Resumes syncing; the next tick catches up from the watermark.
    pub async fn resume_integration(&self, id: i64) -> Result<IntegrationView, Error> {
        self.move_integration(&self.db, id, IntegrationStatus::Active)
            .await?;
        self.integration(id).await
    }

    /// Deletes an integration and cancels its unfinished jobs, together. Ingested data stays
    /// unless `purge`: then its events, access events, sessions, violations, alerts and
    /// issues go in the same transaction (its job history stays).
    pub async fn delete_integration(&self, id: i64, purge: bool) -> Result<IntegrationView, Error> {
        let txn = self.db.begin().await?;
        self.move_integration(&txn, id, IntegrationStatus::Deleted)
            .await?;
        JobMove::to(JobStatus::Canceled, Utc::now())
            .filter(job::Column::IntegrationId.eq(id))
            .apply(&txn)
            .await?;
        if purge {
            // Children before parents: alerts point at violations and issues, comments at
            // issues, violations at events.
            alert::Entity::delete_many()
                .filter(alert::Column::IntegrationId.eq(id))
                .exec(&txn)
                .await?;
            logwarden_entities::issue_comment::Entity::delete_many()
                .filter(
                    logwarden_entities::issue_comment::Column::IssueId.in_subquery(
                        sea_orm::sea_query::Query::select()
                            .column(issue::Column::Id)
                            .from(issue::Entity)
                            .and_where(issue::Column::IntegrationId.eq(id))
                            .to_owned(),
                    ),
                )
                .exec(&txn)
                .await?;
            issue::Entity::delete_many()
                .filter(issue::Column::IntegrationId.eq(id))
                .exec(&txn)
                .await?;
            violation::Entity::delete_many()
                .filter(violation::Column::IntegrationId.eq(id))
                .exec(&txn)
                .await?;
            event::Entity::delete_many()
                .filter(event::Column::IntegrationId.eq(id))
                .exec(&txn)
                .await?;
            session::Entity::delete_many()
                .filter(session::Column::IntegrationId.eq(id))
                .exec(&txn)
                .await?;
            access_event::Entity::delete_many()
                .filter(access_event::Column::IntegrationId.eq(id))
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
        self.integration(id).await
    }

    /// Rotates an integration's key in place: tests the new key with one small request
    /// against the integration's base URL, refuses a key of another organisation, then
    /// stores it. Jobs that start afterwards use it; ingested data and ids stay.
    pub async fn set_integration_key(
        &self,
        id: i64,
        key: Secret,
    ) -> Result<IntegrationView, Error> {
        if key.expose().trim().is_empty() {
            return Err(Error::invalid("api_key", "must not be empty"));
        }
        let master_key = self.master_key()?;
        let row = self.integration_row(id).await?;
        if row.status.is_terminal() {
            return Err(Error::Conflict(format!(
                "integration {:?} is {}: its key cannot be changed",
                row.name, row.status
            )));
        }
        let client = self.one_off_client(&row.base_url, &key, row.organization_uuid.as_deref())?;
        let probe = client
            .list_activities(&ActivityQuery::new().limit(1))
            .await
            .map_err(Error::Upstream)?;
        let organization = probe
            .into_body()
            .data
            .first()
            .and_then(|activity| activity.organization_uuid.clone());
        if let (Some(stored), Some(new)) = (&row.organization_uuid, &organization) {
            if stored != new {
                return Err(Error::invalid(
                    "api_key",
                    format!(
                        "the key belongs to organization {new}, but integration {:?} reads organization {stored}",
                        row.name
                    ),
                ));
            }
        }
        let now = Utc::now();
        let mut update = integration::Entity::update_many()
            .col_expr(
                integration::Column::ApiKeyCiphertext,
                Expr::value(master_key.encrypt(&key)),
            )
            .col_expr(integration::Column::ApiKeyLast4, Expr::value(key.last4()))
            .col_expr(integration::Column::UpdatedAt, Expr::value(now))
            .filter(integration::Column::Id.eq(id))
            .filter(integration::Column::Status.ne(IntegrationStatus::Deleted));
        if row.organization_uuid.is_none() {
            update = update.col_expr(
                integration::Column::OrganizationUuid,
                Expr::value(organization),
            );
        }
        if update.exec(&self.db).await?.rows_affected == 0 {
            return Err(Error::Conflict(format!(
                "integration {:?} was deleted meanwhile: its key was not changed",
                row.name
            )));
        }
        self.integration(id).await
    }

    async fn move_integration(
        &self,
        db: &impl ConnectionTrait,
        id: i64,
        to: IntegrationStatus,
    ) -> Result<(), Error> {
        let moved = Move::to(to, Utc::now())
            .filter(integration::Column::Id.eq(id))
            .apply(db)
            .await?;
        if moved == 0 {
            let row = self.integration_row(id).await?;
            return Err(Error::Conflict(format!(
                "integration {:?} is {}: it must be {} to become {to}",
                row.name,
                row.status,
                one_of(to.predecessors())
            )));
        }
        Ok(())
    }

    /// Points an integration at another base URL (a moved proxy, the demo's fake server).
    pub async fn set_integration_base_url(&self, id: i64, base_url: &str) -> Result<(), Error> {
        url::Url::parse(base_url).map_err(|err| {
            Error::invalid("base_url", format!("{base_url:?} is not a URL: {err}"))
        })?;
        integration::Entity::update_many()
            .col_expr(integration::Column::BaseUrl, Expr::value(base_url))
            .col_expr(integration::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(integration::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Prompt events stored for an integration.
    pub async fn count_events(&self, id: i64) -> Result<u64, Error> {
        use sea_orm::PaginatorTrait;
        Ok(logwarden_entities::event::Entity::find()
            .filter(logwarden_entities::event::Column::IntegrationId.eq(id))
            .count(&self.db)
            .await?)
    }

    /// A client for a stored integration (decrypts its key).
    pub fn integration_client(&self, row: &integration::Model) -> Result<Client, Error> {
        let key = self
            .master_key()?
            .decrypt(&row.api_key_ciphertext)
            .map_err(|err| Error::Configuration(err.to_string()))?;
        client_for(&self.settings, &row.base_url, &key)
    }
}

/// Integrations joined with their project and data plane, for views.
fn with_names() -> sea_orm::SelectThree<
    integration::Entity,
    project::Entity,
    data_plane::Entity,
    sea_orm::TopologyStar,
> {
    integration::Entity::find()
        .find_also_related(project::Entity)
        .find_also_related(data_plane::Entity)
}

/// Projects and data planes share one shape: a unique name. `upsert` inserts the name unless
/// it exists and returns its id either way.
pub(crate) trait NamedEntity {
    async fn upsert(
        db: &impl ConnectionTrait,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, Error>;
}

macro_rules! named_entity {
    ($module:ident) => {
        impl NamedEntity for $module::Entity {
            async fn upsert(
                db: &impl ConnectionTrait,
                name: &str,
                now: DateTime<Utc>,
            ) -> Result<i64, Error> {
                $module::Entity::insert($module::ActiveModel {
                    name: Set(name.to_owned()),
                    created_at: Set(now),
                    ..Default::default()
                })
                .on_conflict(
                    OnConflict::column($module::Column::Name)
                        .do_nothing()
                        .to_owned(),
                )
                .exec_without_returning(db)
                .await?;
                $module::Entity::find()
                    .filter($module::Column::Name.eq(name))
                    .one(db)
                    .await?
                    .map(|row| row.id)
                    .ok_or_else(|| Error::not_found(stringify!($module), format!("{name:?}")))
            }
        }
    };
}
named_entity!(project);
named_entity!(data_plane);

/// The id of the data plane `name`, created when new.
pub(crate) async fn upsert_data_plane(
    db: &impl ConnectionTrait,
    name: &str,
    now: DateTime<Utc>,
) -> Result<i64, Error> {
    data_plane::Entity::upsert(db, name, now).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digits_only_integration_name_is_refused_naming_the_field_and_others_are_kept() {
        for name in ["42", " 007 "] {
            let err = validate_integration_name(name).unwrap_err().to_string();
            assert!(err.contains("name"), "{err}");
            assert!(err.contains("digits only"), "{err}");
        }
        assert_eq!(validate_integration_name(" acme ").unwrap(), "acme");
        assert_eq!(validate_integration_name("org-42").unwrap(), "org-42");
        assert_eq!(validate_integration_name("4.2").unwrap(), "4.2");
    }
}
