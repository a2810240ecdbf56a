//! logwarden: pulls Claude Enterprise activity from the Anthropic Compliance API, evaluates it
//! against runtime policies and stores the result for investigators; one binary, several roles.

pub mod app;
pub mod cli;
pub mod config;
pub mod http;
pub mod infra;
pub mod ingest;
pub mod roles;
pub mod service;
pub mod store;
pub mod tools;
pub mod web;
