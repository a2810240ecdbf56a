//! How far an ingest run over one window has got, in terms of what is stored: the activity
//! cursor, the chats whose events and session are stored, and what that stored part counted
//! and hashed. The application keeps it in the job's row (written while the attempt runs and
//! when it fails), so the next attempt continues where the last one stopped instead of
//! fetching the window again from its first page.
//!
//! The checkpoint only ever describes stored data: a chat enters `chats_done` once its last
//! event and its session are persisted, an activity page once its records are. An attempt
//! that stops between two persists loses at most the unstored part, which the next attempt
//! fetches again (every write is idempotent).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::completeness::{CursorSpan, RunHash};

/// A chat left out of a window, with why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct SkippedChat {
    pub chat_id: String,
    /// The error class that made it skipped, e.g. `not_found_error`.
    pub class: String,
    pub reason: String,
}

/// A prompt event whose evaluation panicked: stored without a verdict, and listed here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct QuarantinedEvent {
    #[cfg_attr(feature = "utoipa", schema(value_type = String, format = "uuid"))]
    pub event_id: Uuid,
    pub chat_id: String,
    /// The panic message.
    pub message: String,
}

/// What the stored part of a window counted; see [`crate::ingest::IngestReport`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub pages: u64,
    pub requests: u64,
    pub chats: u64,
    pub messages: u64,
    pub events: u64,
    pub incomplete_events: u64,
    pub access_events: u64,
    pub violations: u64,
    /// Alerts raised; a checkpoint written before this counter existed reads 0.
    #[serde(default)]
    pub alerts: u64,
    pub events_evaluated: u64,
    pub chunks: u64,
}

/// The resumable state of one window's run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The `after_id` of the next activity page to fetch (`None`: the first page).
    pub activities_after: Option<String>,
    /// Every activity page is stored.
    pub activities_done: bool,
    /// Chats whose events and session are stored, skipped chats included.
    pub chats_done: BTreeSet<String>,
    pub tally: Tally,
    pub activities: CursorSpan,
    pub chats: CursorSpan,
    pub final_request_id: Option<String>,
    /// The record hashes of the stored part.
    pub hashes: RunHash,
    pub skipped: Vec<SkippedChat>,
    pub quarantined: Vec<QuarantinedEvent>,
}

impl Checkpoint {
    /// Whether nothing has been done yet: a run from here starts the window afresh.
    pub fn is_fresh(&self) -> bool {
        *self == Self::default()
    }
}

/// A run's checkpoint, shared with whoever saves it while the run goes on (the worker's
/// heartbeat) or after it stopped (its failure path). Every change bumps a version, so a
/// saver can tell whether there is anything new to write.
#[derive(Debug, Default)]
pub struct Progress {
    checkpoint: Mutex<Checkpoint>,
    version: AtomicU64,
    store_every: Option<Duration>,
}

impl Progress {
    /// Progress that continues from `checkpoint`.
    pub fn resume(checkpoint: Checkpoint) -> Self {
        Self {
            checkpoint: Mutex::new(checkpoint),
            version: AtomicU64::new(0),
            store_every: None,
        }
    }

    /// Makes the run store what it holds at least every `interval`, not only whole chunks,
    /// so that an attempt cut short (a timeout under a tight rate limit) loses at most that
    /// much work. Without it a slow window keeps up to a chunk unstored.
    pub fn storing_every(self, interval: Duration) -> Self {
        Self {
            store_every: Some(interval),
            ..self
        }
    }

    pub(crate) fn store_every(&self) -> Option<Duration> {
        self.store_every
    }

    /// A copy of the checkpoint as it is now.
    pub fn snapshot(&self) -> Checkpoint {
        self.lock().clone()
    }

    /// How many changes were made since this value was made.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// Changes the checkpoint; only the run calls it.
    pub(crate) fn update<T>(&self, change: impl FnOnce(&mut Checkpoint) -> T) -> T {
        let result = change(&mut self.lock());
        self.version.fetch_add(1, Ordering::AcqRel);
        result
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Checkpoint> {
        // The checkpoint is changed in single steps, so a panic elsewhere leaves it whole.
        self.checkpoint.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_reads_back_from_its_json() {
        let mut checkpoint = Checkpoint {
            activities_after: Some("activity_9".to_owned()),
            ..Checkpoint::default()
        };
        checkpoint.chats_done.insert("claude_chat_a".to_owned());
        checkpoint.hashes.add("ab".repeat(32));
        checkpoint.skipped.push(SkippedChat {
            chat_id: "claude_chat_b".to_owned(),
            class: "not_found_error".to_owned(),
            reason: "404".to_owned(),
        });
        let text = serde_json::to_string(&checkpoint).unwrap();
        assert_eq!(
            serde_json::from_str::<Checkpoint>(&text).unwrap(),
            checkpoint
        );
        assert!(!checkpoint.is_fresh());
        assert!(Checkpoint::default().is_fresh());
    }

    #[test]
    fn every_change_bumps_the_version() {
        let progress = Progress::default();
        assert_eq!(progress.version(), 0);
        progress.update(|c| c.tally.requests += 1);
        progress.update(|c| c.tally.requests += 1);
        assert_eq!(progress.version(), 2);
        assert_eq!(progress.snapshot().tally.requests, 2);
    }
}
