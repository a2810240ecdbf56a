//! The integration suite: one test binary with shared helpers, against real PostgreSQL,
//! real Redis and the fake Compliance API over real HTTP.

mod api;
mod browser;
mod browser_events;
mod browser_triage;
mod budget;
mod cli;
mod clock;
mod compliance_contract;
mod datasets_add;
mod embedded;
mod fleet;
#[allow(dead_code)] // shared by every test module; each uses a part
mod helpers;
mod hosts;
mod integrations;
mod investigation;
mod investigation_triage;
mod island;
mod liveness;
mod moves;
mod pipeline;
mod policies;
mod queries;
mod queue;
mod scale;
mod services;
mod sink;
mod store;
mod web_drafts;
