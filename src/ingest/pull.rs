//! One window through the real client and the real ingest algorithm, with nothing stored:
//! how `logwarden pull` checks a key and counts a window before an integration exists, and
//! the benchmark's fake-API-only baseline. The counts follow the fake API's manifest
//! semantics: activities created in the window, chats updated in it, all messages of those
//! chats, one prompt event per user message of a non-deleted chat.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use logwarden_jobs::checkpoint::Progress;
use logwarden_jobs::ingest::run_ingest_window;
use logwarden_jobs::retry::JobError;
use logwarden_jobs::source::{EventSink, IngestChunk, NoEvaluation, Persisted};
use logwarden_jobs::window::Window;
use serde::Serialize;

use super::source::ApiSource;
use logwarden_compliance::Client;

/// What `pull --json` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PullCounts {
    pub activities: u64,
    pub chats: u64,
    pub messages: u64,
    pub prompt_events: u64,
    pub requests: u64,
    pub final_request_id: Option<String>,
}

/// Discards what it is given, telling `progress` how many prompt events have come so far.
struct CountingSink<P> {
    events: AtomicU64,
    progress: P,
}

impl<P: Fn(u64) + Send + Sync> EventSink<()> for CountingSink<P> {
    async fn persist(&self, chunk: IngestChunk<()>) -> Result<Persisted, JobError> {
        let total = self
            .events
            .fetch_add(chunk.events.len() as u64, Ordering::Relaxed)
            + chunk.events.len() as u64;
        (self.progress)(total);
        Ok(Persisted::default())
    }
}

/// Pulls `[from, to)` and counts it, calling `progress` with the prompt events so far after
/// every chunk.
pub async fn pull(
    client: &Client,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    progress: impl Fn(u64) + Send + Sync,
) -> Result<PullCounts, JobError> {
    let sink = CountingSink {
        events: AtomicU64::new(0),
        progress,
    };
    let report = run_ingest_window(
        Window {
            start: from,
            end: to,
        },
        &ApiSource::new(client),
        &sink,
        &NoEvaluation::<()>::new(),
        NonZeroUsize::new(500).unwrap_or(NonZeroUsize::MIN),
        &Progress::default(),
    )
    .await?;
    Ok(PullCounts {
        activities: report.access_events,
        chats: report.chats,
        messages: report.messages,
        prompt_events: report.events,
        requests: report.requests,
        final_request_id: report.completeness.final_request_id,
    })
}
