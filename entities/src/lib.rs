//! SeaORM models of logwarden's data model (see DESIGN.md). The schema itself lives in the
//! `logwarden-migrations` crate; these models mirror it column for column.

pub mod access_event;
pub mod alert;
pub mod api_token;
pub mod backfill;
pub mod data_plane;
pub mod event;
pub mod integration;
pub mod issue;
pub mod job;
pub mod job_attempt;
pub mod policy_set;
pub mod project;
pub mod session;
pub mod violation;
