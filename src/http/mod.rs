//! The HTTP API of `logwarden serve`.

pub mod error;
pub mod extract;
