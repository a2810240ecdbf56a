//! logwarden: pulls Claude Enterprise activity from the Anthropic Compliance API, evaluates it
//! against runtime policies and stores the result for investigators; one binary, several roles.

pub mod config;
pub mod crypto;
pub mod secret;
pub mod store;
pub mod telemetry;
