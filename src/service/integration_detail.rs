//! One integration in detail (its configuration and what it has seen: users, Claude
//! projects, models, events) and the changes an operator makes to its configuration.

use chrono::Utc;
use logwarden_entities::{event, integration, session};
use logwarden_jobs::kind::IntegrationStatus;
use logwarden_jobs::payload::DataPlaneName;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect, TransactionTrait,
};
use serde::{Deserialize, Serialize};

use super::integrations::{client_for, IntegrationView};
use super::{Error, Services};
use logwarden_compliance::ActivityQuery;

/// What an integration has seen so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ResourcesSeen {
    /// Distinct users with at least one session.
    pub users: u64,
    /// Distinct Claude projects their sessions belong to.
    pub projects: u64,
    /// Distinct models that answered.
    pub models: u64,
    pub sessions: u64,
    pub events: u64,
}

/// An integration's configuration with what it has seen.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IntegrationDetailView {
    #[serde(flatten)]
    pub integration: IntegrationView,
    pub resources: ResourcesSeen,
}

/// The changes of an update; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntegrationUpdate {
    pub name: Option<String>,
    /// The data plane whose workers take its jobs from now on (created when new).
    pub data_plane: Option<String>,
    /// Tested with the stored key before it is saved.
    pub base_url: Option<String>,
}

impl Services {
    pub async fn integration_detail(&self, id: i64) -> Result<IntegrationDetailView, Error> {
        let integration = self.integration(id).await?;
        let distinct = |column: session::Column| {
            session::Entity::find()
                .filter(session::Column::IntegrationId.eq(id))
                .filter(column.is_not_null())
                .select_only()
                .column(column)
                .distinct()
        };
        let users = distinct(session::Column::UserId).count(&self.db).await?;
        let projects = distinct(session::Column::ClaudeProjectId)
            .count(&self.db)
            .await?;
        let models = event::Entity::find()
            .filter(event::Column::IntegrationId.eq(id))
            .filter(event::Column::Model.is_not_null())
            .select_only()
            .column(event::Column::Model)
            .distinct()
            .count(&self.db)
            .await?;
        let sessions = session::Entity::find()
            .filter(session::Column::IntegrationId.eq(id))
            .count(&self.db)
            .await?;
        let events = self.count_events(id).await?;
        Ok(IntegrationDetailView {
            integration,
            resources: ResourcesSeen {
                users,
                projects,
                models,
                sessions,
                events,
            },
        })
    }

    /// Renames an integration, moves it to another data plane or points it at another base
    /// URL (after testing its key there), all or nothing.
    pub async fn update_integration(
        &self,
        id: i64,
        update: IntegrationUpdate,
    ) -> Result<IntegrationView, Error> {
        let row = self.integration_row(id).await?;
        if row.status == IntegrationStatus::Deleted {
            return Err(Error::Conflict(format!(
                "integration {:?} is deleted",
                row.name
            )));
        }
        let name = update
            .name
            .as_deref()
            .map(super::integrations::validate_integration_name)
            .transpose()?;
        let plane = update
            .data_plane
            .as_deref()
            .map(DataPlaneName::parse)
            .transpose()
            .map_err(|err| Error::invalid("data_plane", err.to_string()))?;
        if let Some(name) = &name {
            let taken = integration::Entity::find()
                .filter(integration::Column::Name.eq(name.as_str()))
                .filter(integration::Column::Id.ne(id))
                .one(&self.db)
                .await?;
            if taken.is_some() {
                return Err(Error::Conflict(format!(
                    "an integration named {name:?} already exists"
                )));
            }
        }
        if let Some(base_url) = &update.base_url {
            self.base_url_rules.check(base_url).await?;
            let key = self
                .master_key()?
                .decrypt(&row.api_key_ciphertext)
                .map_err(|err| Error::Configuration(err.to_string()))?;
            client_for(&self.settings, base_url, &key)?
                .list_activities(&ActivityQuery::new().limit(1))
                .await
                .map_err(Error::Upstream)?;
        }
        let now = Utc::now();
        let txn = self.db.begin().await?;
        let mut change = integration::Entity::update_many()
            .col_expr(integration::Column::UpdatedAt, Expr::value(now))
            .filter(integration::Column::Id.eq(id));
        if let Some(name) = name {
            change = change.col_expr(integration::Column::Name, Expr::value(name));
        }
        if let Some(base_url) = update.base_url {
            change = change.col_expr(integration::Column::BaseUrl, Expr::value(base_url));
        }
        if let Some(plane) = plane {
            let plane_id =
                super::integrations::upsert_data_plane(&txn, plane.as_str(), now).await?;
            change = change.col_expr(integration::Column::DataPlaneId, Expr::value(plane_id));
        }
        change.exec(&txn).await?;
        txn.commit().await?;
        self.integration(id).await
    }
}
