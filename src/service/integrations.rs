//! Integrations: adding one (after testing its key against the Compliance API), listing,
//! pausing, resuming and deleting. The API key is encrypted before it is stored and never
//! returned: views show its last four characters.

use chrono::{DateTime, Utc};
use logwarden_entities::{data_plane, integration, job, project};
use logwarden_jobs::kind::{IntegrationStatus, JobStatus};
use logwarden_jobs::payload::DataPlaneName;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    TransactionTrait,
};
use serde::Serialize;

use super::{Error, Services};
use crate::infra::secret::Secret;
use logwarden_compliance::{ActivityQuery, Client, ClientConfig};

/// The production Compliance API.
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
/// The only kind of integration this release pulls from.
pub const KIND_COMPLIANCE_API: &str = "anthropic_compliance_api";

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

/// An integration as people see it (never the key).
#[derive(Debug, Clone, Serialize)]
pub struct IntegrationView {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub project: String,
    pub data_plane: String,
    pub api_key_last4: String,
    pub base_url: String,
    pub organization_uuid: Option<String>,
    pub status: String,
    pub sync_watermark: Option<DateTime<Utc>>,
    pub last_synced_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_error_class: Option<String>,
    pub created_at: DateTime<Utc>,
}

fn validate_name(field: &'static str, value: &str) -> Result<String, Error> {
    let trimmed = value.trim();
    if trimmed.is_empty() || trimmed.len() > 100 || trimmed.chars().any(char::is_control) {
        return Err(Error::invalid(
            field,
            format!("{value:?} must be 1 to 100 printable characters"),
        ));
    }
    Ok(trimmed.to_owned())
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
    Ok(Client::new(config)?)
}

impl Services {
    /// Tests the key with one small request, then records the integration, creating its
    /// project and data plane when they are new. Its first sync starts `initial_lookback`
    /// before now.
    pub async fn add_integration(&self, new: NewIntegration) -> Result<IntegrationView, Error> {
        let name = validate_name("name", &new.name)?;
        let project_name = validate_name("project", &new.project)?;
        let plane = DataPlaneName::parse(&new.data_plane)
            .map_err(|err| Error::invalid("data_plane", err.to_string()))?;
        if new.api_key.expose().trim().is_empty() {
            return Err(Error::invalid("api_key", "must not be empty"));
        }
        if new.sync_from.is_some_and(|from| from > Utc::now()) {
            return Err(Error::invalid("sync_from", "must not be in the future"));
        }
        let base_url = new
            .base_url
            .clone()
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
        let master_key = self.master_key()?;
        if integration::Entity::find()
            .filter(integration::Column::Name.eq(&name))
            .one(&self.db)
            .await?
            .is_some()
        {
            return Err(Error::Conflict(format!(
                "an integration named {name:?} already exists"
            )));
        }

        let client = client_for(&self.settings, &base_url, &new.api_key)?;
        let probe = client
            .list_activities(&ActivityQuery::new().limit(1))
            .await
            .map_err(Error::Upstream)?;
        let organization_uuid = probe
            .into_body()
            .data
            .first()
            .and_then(|activity| activity.organization_uuid.clone());

        let now = Utc::now();
        let initial_lookback = chrono::TimeDelta::from_std(self.settings.initial_lookback)
            .unwrap_or(chrono::TimeDelta::hours(1));
        let txn = self.db.begin().await?;
        let project_id = project::Entity::upsert(&txn, &project_name, now).await?;
        let plane_id = data_plane::Entity::upsert(&txn, plane.as_str(), now).await?;
        let row = integration::Entity::insert(integration::ActiveModel {
            name: Set(name.clone()),
            kind: Set(KIND_COMPLIANCE_API.to_owned()),
            project_id: Set(project_id),
            data_plane_id: Set(plane_id),
            api_key_ciphertext: Set(master_key.encrypt(&new.api_key)),
            api_key_last4: Set(new.api_key.last4().to_owned()),
            base_url: Set(base_url),
            organization_uuid: Set(organization_uuid),
            status: Set(IntegrationStatus::Active.as_str().to_owned()),
            sync_watermark: Set(Some(new.sync_from.unwrap_or(now - initial_lookback))),
            last_synced_at: Set(None),
            last_error: Set(None),
            last_error_class: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        })
        .exec_with_returning(&txn)
        .await?;
        super::policies::install_default(&txn, row.id).await?;
        txn.commit().await?;
        self.integration_view(row).await
    }

    pub async fn list_integrations(&self) -> Result<Vec<IntegrationView>, Error> {
        let rows = integration::Entity::find()
            .order_by_asc(integration::Column::Id)
            .all(&self.db)
            .await?;
        let mut views = Vec::with_capacity(rows.len());
        for row in rows {
            views.push(self.integration_view(row).await?);
        }
        Ok(views)
    }

    /// Finds an integration by id or by name.
    pub async fn find_integration(&self, key: &str) -> Result<integration::Model, Error> {
        let by_id = match key.parse::<i64>() {
            Ok(id) => integration::Entity::find_by_id(id).one(&self.db).await?,
            Err(_) => None,
        };
        let found = match by_id {
            Some(row) => Some(row),
            None => {
                integration::Entity::find()
                    .filter(integration::Column::Name.eq(key))
                    .one(&self.db)
                    .await?
            }
        };
        found.ok_or_else(|| Error::NotFound(format!("no integration has the id or name {key:?}")))
    }

    pub async fn integration(&self, key: &str) -> Result<IntegrationView, Error> {
        let row = self.find_integration(key).await?;
        self.integration_view(row).await
    }

    /// Pauses syncing: no new sync jobs; queued jobs wait.
    pub async fn pause_integration(&self, key: &str) -> Result<IntegrationView, Error> {
        self.set_integration_status(key, IntegrationStatus::Paused, &[IntegrationStatus::Active])
            .await
    }

    /// Resumes syncing; the next tick catches up from the watermark.
    pub async fn resume_integration(&self, key: &str) -> Result<IntegrationView, Error> {
        self.set_integration_status(key, IntegrationStatus::Active, &[IntegrationStatus::Paused])
            .await
    }

    /// Deletes an integration: its unfinished jobs are canceled; ingested data stays.
    pub async fn delete_integration(&self, key: &str) -> Result<IntegrationView, Error> {
        let view = self
            .set_integration_status(
                key,
                IntegrationStatus::Deleted,
                &[IntegrationStatus::Active, IntegrationStatus::Paused],
            )
            .await?;
        job::Entity::update_many()
            .col_expr(
                job::Column::Status,
                Expr::value(JobStatus::Canceled.as_str()),
            )
            .col_expr(job::Column::FinishedAt, Expr::value(Some(Utc::now())))
            .filter(job::Column::IntegrationId.eq(view.id))
            .filter(job::Column::Status.is_in([
                JobStatus::Pending.as_str(),
                JobStatus::Enqueued.as_str(),
                JobStatus::Processing.as_str(),
            ]))
            .exec(&self.db)
            .await?;
        Ok(view)
    }

    async fn set_integration_status(
        &self,
        key: &str,
        to: IntegrationStatus,
        from: &[IntegrationStatus],
    ) -> Result<IntegrationView, Error> {
        let row = self.find_integration(key).await?;
        let updated = integration::Entity::update_many()
            .col_expr(integration::Column::Status, Expr::value(to.as_str()))
            .col_expr(integration::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(integration::Column::Id.eq(row.id))
            .filter(integration::Column::Status.is_in(from.iter().map(|s| s.as_str())))
            .exec(&self.db)
            .await?;
        if updated.rows_affected == 0 {
            return Err(Error::Conflict(format!(
                "integration {:?} is {}: it must be {} to become {}",
                row.name,
                row.status,
                from.iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(" or "),
                to
            )));
        }
        self.integration(&row.id.to_string()).await
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

    async fn integration_view(&self, row: integration::Model) -> Result<IntegrationView, Error> {
        let project = project::Entity::find_by_id(row.project_id)
            .one(&self.db)
            .await?
            .map(|p| p.name)
            .unwrap_or_default();
        let plane = data_plane::Entity::find_by_id(row.data_plane_id)
            .one(&self.db)
            .await?
            .map(|p| p.name)
            .unwrap_or_default();
        Ok(IntegrationView {
            id: row.id,
            name: row.name,
            kind: row.kind,
            project,
            data_plane: plane,
            api_key_last4: row.api_key_last4,
            base_url: row.base_url,
            organization_uuid: row.organization_uuid,
            status: row.status,
            sync_watermark: row.sync_watermark,
            last_synced_at: row.last_synced_at,
            last_error: row.last_error,
            last_error_class: row.last_error_class,
            created_at: row.created_at,
        })
    }
}

/// Projects and data planes share one shape: a unique name. `upsert` inserts the name unless
/// it exists and returns its id either way.
trait NamedEntity {
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
                    .ok_or_else(|| {
                        Error::NotFound(format!("{name:?} vanished while being created"))
                    })
            }
        }
    };
}
named_entity!(project);
named_entity!(data_plane);
