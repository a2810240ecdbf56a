//! Job payloads and the job logic that needs no application: windows and batch splitting,
//! pairing messages into prompt events, retry classification, backfill progress, and one
//! ingest run over I/O traits the application implements.

pub mod checkpoint;
pub mod completeness;
mod enum_text;
pub mod ingest;
pub mod kind;
pub mod pairing;
pub mod payload;
pub mod progress;
pub mod retry;
pub mod source;
pub mod window;

pub use enum_text::UnknownValueError;
