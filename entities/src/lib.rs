//! SeaORM models of logwarden's data model (see DESIGN.md). The schema itself lives in the
//! `logwarden-migrations` crate; these models mirror it column for column, with a `Relation`
//! for every foreign key. Status and kind columns are typed: the job logic's enums
//! (`logwarden_jobs::kind`) for jobs, backfills, attempts and integrations, and the enums
//! declared here for issues and policy sets; each is stored as the same text it always was.

pub mod access_event;
pub mod alert;
pub mod api_token;
pub mod api_token_project;
pub mod audit_entry;
pub mod backfill;
pub mod data_plane;
pub mod dataset;
pub mod dataset_item;
pub mod dataset_project;
pub mod event;
pub mod integration;
pub mod integration_error;
pub mod issue;
pub mod issue_comment;
pub mod job;
pub mod job_attempt;
pub mod policy_set;
pub mod project;
pub mod session;
pub mod violation;
pub mod web_session;
pub mod web_session_draft;
