//! What travels through the queue for one job, and the names of the queues of a data plane.
//!
//! The payload is a pointer to the job's row plus what a worker needs to start without a
//! read; the row stays the truth (status, attempt count, errors).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::enum_text::text_enum;
use crate::kind::JobKind;
use crate::window::Window;

/// A job as it is queued (JSON).
///
/// Unknown fields are ignored so that a newer scheduler and an older worker can coexist during
/// a rolling upgrade.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobPayload {
    /// The `jobs` row this payload stands for.
    pub job_id: i64,
    pub kind: JobKind,
    pub integration_id: i64,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    /// The attempt this delivery is for, 1-based, copied from the row when enqueued. The row's
    /// count wins when they disagree (a redelivery by the queue does not bump it).
    pub attempt: u32,
}

impl JobPayload {
    pub fn window(&self) -> Window {
        Window {
            start: self.window_start,
            end: self.window_end,
        }
    }

    pub fn priority(&self) -> Priority {
        Priority::of(self.kind)
    }

    /// A key naming the unit of work, the same for every attempt and every producer: the
    /// fields of the `jobs` unique key (integration, kind, window start). Suitable as a queue
    /// idempotency key; the database's unique key stays the real guard.
    pub fn idempotency_key(&self) -> String {
        job_dedupe_key(self.integration_id, self.kind, self.window_start)
    }
}

/// The `jobs.dedupe_key` of the unit of work (integration, kind, window start):
/// `<integration_id>:<kind>:<window start in Unix milliseconds>`. The scheduler computes it
/// before the row exists, so every replica inserting the same window collides on it.
pub fn job_dedupe_key(integration_id: i64, kind: JobKind, window_start: DateTime<Utc>) -> String {
    format!(
        "{integration_id}:{kind}:{}",
        window_start.timestamp_millis()
    )
}

text_enum! {
    /// Which queue of a data plane a job goes to. Workers drain `sync` first so that a large
    /// backfill never delays the 5-minute syncs.
    pub enum Priority (field = "priority") {
        Sync = "sync",
        Backfill = "backfill",
    }
}

impl Priority {
    /// Syncs are latency-sensitive; backfill batches, reconciles and re-evaluations are bulk.
    pub const fn of(kind: JobKind) -> Self {
        match kind {
            JobKind::Sync => Self::Sync,
            JobKind::BackfillBatch | JobKind::Reconcile | JobKind::Reevaluate => Self::Backfill,
        }
    }
}

/// The common prefix of every queue key.
pub const QUEUE_PREFIX: &str = "logwarden";

/// Longest accepted data-plane name (a DNS label's limit, so names can also name hosts).
pub const MAX_DATA_PLANE_NAME_LEN: usize = 63;

const DATA_PLANE_RULE: &str =
    "must be 1 to 63 characters, each a lowercase letter a-z, a digit 0-9, '-' or '_'";

/// A data plane's name, checked: 1–63 characters among `a-z`, `0-9`, `-`, `_`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DataPlaneName(String);

/// A data-plane name that breaks the naming rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataPlaneNameError {
    #[error("invalid data_plane \"\": {DATA_PLANE_RULE}")]
    Empty,
    #[error("invalid data_plane {value:?}: {DATA_PLANE_RULE}; it has {length} characters")]
    TooLong { value: String, length: usize },
    #[error("invalid data_plane {value:?}: {DATA_PLANE_RULE}; found {character:?} at position {position}")]
    InvalidCharacter {
        value: String,
        character: char,
        position: usize,
    },
}

impl DataPlaneName {
    pub fn parse(name: &str) -> Result<Self, DataPlaneNameError> {
        if name.is_empty() {
            return Err(DataPlaneNameError::Empty);
        }
        if let Some((position, character)) = name
            .chars()
            .enumerate()
            .find(|(_, character)| !matches!(character, 'a'..='z' | '0'..='9' | '-' | '_'))
        {
            return Err(DataPlaneNameError::InvalidCharacter {
                value: shorten(name),
                character,
                position,
            });
        }
        // Only ASCII is left, so bytes are characters.
        if name.len() > MAX_DATA_PLANE_NAME_LEN {
            return Err(DataPlaneNameError::TooLong {
                value: shorten(name),
                length: name.len(),
            });
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The queue key for this plane and priority: `logwarden:{<plane>}:<priority>`.
    ///
    /// The braces are a Redis Cluster hash tag: every key of a plane (the queue and the
    /// backend's companion keys derived from it) hashes to one slot, which the queue's Lua
    /// scripts need because a script may only touch keys of one slot.
    pub fn queue_name(&self, priority: Priority) -> String {
        format!("{QUEUE_PREFIX}:{{{}}}:{}", self.0, priority.as_str())
    }
}

/// [`DataPlaneName::queue_name`] for a name not parsed yet.
pub fn queue_name(data_plane: &str, priority: Priority) -> Result<String, DataPlaneNameError> {
    Ok(DataPlaneName::parse(data_plane)?.queue_name(priority))
}

impl FromStr for DataPlaneName {
    type Err = DataPlaneNameError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::parse(name)
    }
}

impl TryFrom<String> for DataPlaneName {
    type Error = DataPlaneNameError;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        Self::parse(&name)
    }
}

impl From<DataPlaneName> for String {
    fn from(name: DataPlaneName) -> Self {
        name.0
    }
}

impl fmt::Display for DataPlaneName {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// Rejected names are echoed back; keep an absurdly long one from flooding the message.
fn shorten(name: &str) -> String {
    const KEEP: usize = 80;
    if name.chars().count() <= KEEP {
        return name.to_owned();
    }
    let mut short: String = name.chars().take(KEEP).collect();
    short.push('…');
    short
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn queue_names_carry_the_plane_as_a_hash_tag() {
        assert_eq!(
            queue_name("eu-west_1", Priority::Sync).unwrap(),
            "logwarden:{eu-west_1}:sync"
        );
        assert_eq!(
            queue_name("default", Priority::Backfill).unwrap(),
            "logwarden:{default}:backfill"
        );
    }

    #[test]
    fn only_syncs_go_to_the_sync_queue() {
        for kind in JobKind::ALL {
            let expected = if *kind == JobKind::Sync {
                Priority::Sync
            } else {
                Priority::Backfill
            };
            assert_eq!(Priority::of(*kind), expected, "{kind}");
        }
    }

    #[test]
    fn a_bad_data_plane_name_names_the_field_the_rule_and_the_offender() {
        assert_eq!(
            DataPlaneName::parse("EU").unwrap_err().to_string(),
            "invalid data_plane \"EU\": must be 1 to 63 characters, each a lowercase letter a-z, a digit 0-9, '-' or '_'; found 'E' at position 0"
        );
        assert_eq!(
            DataPlaneName::parse("").unwrap_err(),
            DataPlaneNameError::Empty
        );
        assert!(matches!(
            DataPlaneName::parse("a}b"),
            Err(DataPlaneNameError::InvalidCharacter {
                character: '}',
                position: 1,
                ..
            })
        ));
        assert!(matches!(
            DataPlaneName::parse("été"),
            Err(DataPlaneNameError::InvalidCharacter {
                character: 'é',
                position: 0,
                ..
            })
        ));
        let long = "a".repeat(64);
        assert_eq!(
            DataPlaneName::parse(&long).unwrap_err(),
            DataPlaneNameError::TooLong {
                value: long,
                length: 64
            }
        );
        assert!(DataPlaneName::parse(&"a".repeat(63)).is_ok());
    }

    #[test]
    fn a_data_plane_name_deserializes_only_when_valid() {
        let name: DataPlaneName = serde_json::from_str("\"plane-1\"").unwrap();
        assert_eq!(name.as_str(), "plane-1");
        assert_eq!(serde_json::to_string(&name).unwrap(), "\"plane-1\"");
        let error = serde_json::from_str::<DataPlaneName>("\"Plane\"").unwrap_err();
        assert!(
            error.to_string().contains("invalid data_plane \"Plane\""),
            "{error}"
        );
    }

    #[test]
    fn a_payload_travels_as_snake_case_json_and_ignores_unknown_fields() {
        let payload = JobPayload {
            job_id: 42,
            kind: JobKind::BackfillBatch,
            integration_id: 7,
            window_start: DateTime::from_timestamp(1_775_000_000, 0).unwrap(),
            window_end: DateTime::from_timestamp(1_775_086_400, 0).unwrap(),
            attempt: 2,
        };
        let json = serde_json::to_value(&payload).unwrap();
        assert_eq!(json["kind"], "backfill_batch");
        assert_eq!(json["window_start"], "2026-03-31T23:33:20Z");
        let mut with_extra = json.clone();
        with_extra["added_later"] = serde_json::json!(true);
        assert_eq!(
            serde_json::from_value::<JobPayload>(with_extra).unwrap(),
            payload
        );
        assert_eq!(payload.priority(), Priority::Backfill);
        assert_eq!(payload.window().duration(), chrono::TimeDelta::days(1));
    }

    #[test]
    fn the_idempotency_key_ignores_the_attempt_and_the_job_id() {
        let first = JobPayload {
            job_id: 1,
            kind: JobKind::Sync,
            integration_id: 7,
            window_start: DateTime::from_timestamp(1_775_000_000, 0).unwrap(),
            window_end: DateTime::from_timestamp(1_775_000_300, 0).unwrap(),
            attempt: 1,
        };
        let retry = JobPayload {
            job_id: 2,
            attempt: 3,
            ..first.clone()
        };
        assert_eq!(first.idempotency_key(), retry.idempotency_key());
        let other_kind = JobPayload {
            kind: JobKind::Reconcile,
            ..first.clone()
        };
        assert_ne!(first.idempotency_key(), other_kind.idempotency_key());
        assert_eq!(
            first.idempotency_key(),
            format!("7:sync:{}", first.window_start.timestamp_millis())
        );
    }

    proptest! {
        #[test]
        fn valid_names_parse_and_give_queue_names_with_one_hash_tag(
            name in "[a-z0-9_-]{1,63}",
        ) {
            let plane = DataPlaneName::parse(&name).unwrap();
            let queue = plane.queue_name(Priority::Sync);
            prop_assert_eq!(queue.matches('{').count(), 1);
            prop_assert_eq!(queue.matches('}').count(), 1);
            let tag = format!("{{{name}}}");
            prop_assert!(queue.contains(&tag));
        }

        #[test]
        fn names_with_any_other_character_are_refused(
            prefix in "[a-z0-9_-]{0,20}",
            bad in any::<char>().prop_filter("outside the alphabet", |character| {
                !matches!(character, 'a'..='z' | '0'..='9' | '-' | '_')
            }),
            suffix in "[a-z0-9_-]{0,20}",
        ) {
            let name = format!("{prefix}{bad}{suffix}");
            let is_invalid_character = matches!(
                DataPlaneName::parse(&name),
                Err(DataPlaneNameError::InvalidCharacter { character, .. }) if character == bad
            );
            prop_assert!(is_invalid_character);
        }
    }
}
