//! One attempt at a job, with its outcome and error, for the Jobs view.

pub use logwarden_jobs::kind::AttemptOutcome;
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "job_attempts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub job_id: i64,
    pub attempt: i32,
    pub worker_name: String,
    pub outcome: AttemptOutcome,
    pub error_class: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub error_message: Option<String>,
    pub started_at: DateTimeUtc,
    pub finished_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::job::Entity",
        from = "Column::JobId",
        to = "super::job::Column::Id"
    )]
    Job,
}

impl Related<super::job::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Job.def()
    }
}

/// The reverse of [`Relation::Job`], declared here so that the parent does not import
/// its children.
impl Related<Entity> for super::job::Entity {
    fn to() -> RelationDef {
        Relation::Job.def().rev()
    }
}

impl ActiveModelBehavior for ActiveModel {}
