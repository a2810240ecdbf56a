//! A fake Anthropic Compliance API: a seeded organisation served over HTTP with the real
//! endpoints, parameters, validation, pagination, auth, scopes and rate limit, a settable clock,
//! switchable faults, and a manifest of the ground truth (counts and planted policy hits) that a
//! complete walk over the endpoints must find.
//!
//! Routes outside `/v1/compliance` (no auth): `GET /_fake/info`, `GET /_fake/manifest?from&to`,
//! `GET|DELETE /_fake/stats`, `GET|POST|DELETE /_fake/faults`, `GET|POST /_fake/clock`.

pub mod clock;
pub mod config;
pub mod conversations;
pub mod cursor;
pub mod dataset;
pub mod faults;
pub mod generator;
pub mod handle;
pub mod manifest;
pub mod plants;
pub mod random;
pub mod rate_limit;
pub mod render;
pub mod server;
pub mod stats;

#[cfg(test)]
mod http_tests;

pub use config::{ApiKeySpec, FakeConfig, Scope, DEFAULT_RATE_LIMIT, DEFAULT_TEST_KEY};
pub use faults::FaultConfig;
pub use handle::{serve, spawn, spawn_on, FakeApiError, FakeServer};
pub use manifest::Manifest;
pub use stats::Stats;
