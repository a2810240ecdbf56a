//! A named dataset: the distinct prompts of an events search, for evaluations and red teaming.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "datasets")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub name: String,
    /// The events search's query string it was compiled from.
    #[sea_orm(column_type = "Text")]
    pub search: String,
    /// Policy names the prompts were limited to (empty: none).
    #[sea_orm(column_type = "Json")]
    pub policies: Json,
    pub item_count: i64,
    pub source_event_count: i64,
    pub created_by: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
