//! What every role stands on: encryption of stored keys, the secret type, logging, the job
//! transport and the fleet-wide rate limiter.

pub mod crypto;
pub mod queue;
pub mod ratelimit;
pub mod secret;
pub mod telemetry;
