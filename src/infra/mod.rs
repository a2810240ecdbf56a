//! What every role stands on: encryption of stored keys, the secret type, logging, the job
//! transport, the fleet-wide rate limiter and the process's metrics.

pub mod crypto;
pub mod metrics;
pub mod queue;
pub mod ratelimit;
pub mod secret;
pub mod telemetry;
