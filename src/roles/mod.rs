//! The long-running roles of the binary: the scheduler that creates and feeds jobs, the
//! worker that runs them, and the HTTP API (alone, or with both in one process); the worker
//! and the scheduler may serve their metrics on a listener of their own.

pub mod metrics;
pub mod scheduler;
pub mod serve;
pub mod worker;
