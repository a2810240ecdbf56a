//! Flag values that several command groups parse.

use chrono::{DateTime, Utc};

/// Parses an RFC 3339 timestamp, naming the flag when it is not one.
pub fn parse_time(field: &str, value: &str) -> anyhow::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| anyhow::anyhow!("invalid --{field} {value:?}: expected an RFC 3339 time such as 2026-04-08T00:00:00Z"))
}
