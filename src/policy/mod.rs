//! Runtime policy engine.
