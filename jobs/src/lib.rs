//! Job payloads and pure job logic.

mod enum_text;
pub mod kind;
pub mod payload;
pub mod progress;
pub mod window;

pub use enum_text::UnknownValueError;
