//! The HTTP surface of the fake: the route table and handlers (`routes`), the middleware that
//! authenticates, rate-limits, injects faults and counts what was served (`gate`), the shared
//! state (`state`) and the API's error body (`errors`).

mod errors;
mod gate;
mod routes;
mod state;

pub use errors::ApiError;
pub use routes::router;
pub use state::{lock, read, AppState};
