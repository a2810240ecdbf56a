//! The application side of one ingest job: the Compliance API as its source, the database as
//! its sink, and the installed policy set as its evaluator. The algorithm itself lives in the
//! `logwarden-jobs` crate.

pub mod evaluators;
pub mod pull;
pub mod reevaluate;
pub mod sink;
pub mod source;
