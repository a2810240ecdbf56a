//! The long-running roles of the binary: the scheduler that creates and feeds jobs, and the
//! worker that runs them.

pub mod scheduler;
pub mod worker;
