//! A fake Anthropic Compliance API: a seeded organisation served over HTTP with the real
//! endpoints, validation, pagination, auth and rate limits, plus switchable faults.

pub mod plants;
