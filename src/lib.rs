//! logwarden: pulls Claude Enterprise activity from the Anthropic Compliance API, evaluates it
//! against runtime policies and stores the result for investigators; one binary, several roles.

pub mod bench;
pub mod cli;
pub mod compliance;
pub mod config;
pub mod crypto;
pub mod demo;
pub mod fake_api;
pub mod ingest;
pub mod policy;
pub mod policy_eval;
pub mod pull;
pub mod queue;
pub mod ratelimit;
pub mod scheduler;
pub mod secret;
pub mod service;
pub mod store;
pub mod telemetry;
pub mod worker;
