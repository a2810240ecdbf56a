//! One project whose events a dataset holds.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "dataset_projects")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub dataset_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub project_id: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
