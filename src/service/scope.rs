//! Project scope: which projects a caller may see. A project-scoped API token sees nothing of
//! other projects — not in lists, counts, lookups by id, or error messages — so every query
//! and lookup the API makes carries a [`Scope`], and an object outside it is reported exactly
//! like one that does not exist.

use logwarden_entities::{backfill, integration, job};
use sea_orm::sea_query::{Query, SelectStatement};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QuerySelect};

use super::{Error, Services};

/// The projects a caller may see.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Scope {
    /// Every project: the CLI, and tokens without a project scope.
    #[default]
    Everything,
    /// Only these project ids (never empty for a token: an unscoped token is `Everything`).
    Projects(Vec<i64>),
}

impl Scope {
    /// Whether `project_id` is inside the scope.
    pub fn allows(&self, project_id: i64) -> bool {
        match self {
            Self::Everything => true,
            Self::Projects(ids) => ids.contains(&project_id),
        }
    }

    /// The ids of the integrations inside the scope, as a subquery.
    fn integration_ids(ids: &[i64]) -> SelectStatement {
        Query::select()
            .column(integration::Column::Id)
            .from(integration::Entity)
            .and_where(integration::Column::ProjectId.is_in(ids.iter().copied()))
            .to_owned()
    }

    /// The rows whose `column` (an integration id) names an integration inside the scope.
    pub(crate) fn on_integration(&self, column: impl ColumnTrait) -> Condition {
        match self {
            Self::Everything => Condition::all(),
            Self::Projects(ids) => {
                Condition::all().add(column.in_subquery(Self::integration_ids(ids)))
            }
        }
    }
}

impl Services {
    /// `id` when the integration exists inside `scope`; `not_found` otherwise, worded as for
    /// an integration that does not exist.
    pub async fn integration_in(&self, scope: &Scope, id: i64) -> Result<i64, Error> {
        integration::Entity::find_by_id(id)
            .filter(scope.on_integration(integration::Column::Id))
            .select_only()
            .column(integration::Column::Id)
            .into_tuple::<i64>()
            .one(&self.db)
            .await?
            .ok_or_else(|| Error::not_found("integration", id))
    }

    /// `id` when the backfill exists and its integration is inside `scope`.
    pub async fn backfill_in(&self, scope: &Scope, id: i64) -> Result<i64, Error> {
        backfill::Entity::find_by_id(id)
            .filter(scope.on_integration(backfill::Column::IntegrationId))
            .select_only()
            .column(backfill::Column::Id)
            .into_tuple::<i64>()
            .one(&self.db)
            .await?
            .ok_or_else(|| Error::not_found("backfill", id))
    }

    /// `id` when the job exists and its integration is inside `scope`.
    pub async fn job_in(&self, scope: &Scope, id: i64) -> Result<i64, Error> {
        job::Entity::find_by_id(id)
            .filter(scope.on_integration(job::Column::IntegrationId))
            .select_only()
            .column(job::Column::Id)
            .into_tuple::<i64>()
            .one(&self.db)
            .await?
            .ok_or_else(|| Error::not_found("job", id))
    }
}

impl Services {
    /// Whether a caller with `scope` may create objects in the project named `name`: any
    /// project for an unscoped caller, only an existing project of its scope otherwise.
    pub async fn may_use_project(&self, scope: &Scope, name: &str) -> Result<bool, Error> {
        let Scope::Projects(ids) = scope else {
            return Ok(true);
        };
        let id = logwarden_entities::project::Entity::find()
            .filter(logwarden_entities::project::Column::Name.eq(name.trim()))
            .select_only()
            .column(logwarden_entities::project::Column::Id)
            .into_tuple::<i64>()
            .one(&self.db)
            .await?;
        Ok(id.is_some_and(|id| ids.contains(&id)))
    }
}
