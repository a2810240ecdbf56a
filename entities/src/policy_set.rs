//! A policy set version of an integration: the draft (version 0) or an installed version.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "policy_sets")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub integration_id: i64,
    pub version: i32,
    pub state: String,
    #[sea_orm(column_type = "Text")]
    pub config: String,
    pub template: Option<String>,
    pub installed_at: Option<DateTimeUtc>,
    pub installed_by: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
