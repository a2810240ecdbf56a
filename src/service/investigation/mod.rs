//! The investigation view: what users did with Claude, for a security team to find and read.
//! Every function takes the caller's [`super::scope::Scope`]; objects outside it are reported
//! exactly like objects that do not exist.

pub mod datasets;
pub mod events;
pub mod export;
pub mod reports;
