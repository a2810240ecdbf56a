//! The integration suite: one test binary with shared helpers, against real PostgreSQL,
//! real Redis and the fake Compliance API over real HTTP.

mod helpers;
mod store;
