//! The integration suite: one test binary with shared helpers, against real PostgreSQL,
//! real Redis and the fake Compliance API over real HTTP.

#[allow(dead_code)] // shared by every test module; each uses a part
mod helpers;
mod pipeline;
mod store;
