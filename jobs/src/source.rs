//! The I/O a job needs, as small traits the application implements (the Compliance API
//! client, the store, the policy engine), so the job algorithm lives in this crate and is
//! tested with in-memory fakes.
//!
//! Every future is `Send` so a job can run on a multi-threaded runtime.

use std::collections::HashSet;
use std::future::Future;
use std::marker::PhantomData;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::pairing::{ChatTranscript, PromptEvent, SessionSummary};
use crate::retry::JobError;
use crate::window::Window;

/// What the client spent on one call of a source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseMeta {
    /// Pages of the upstream listing the call read (1 for a page of a list; a transcript may
    /// span several).
    pub pages: u32,
    /// HTTP requests sent, retries included.
    pub requests: u32,
    /// The `request-id` of the last response.
    pub request_id: Option<String>,
}

/// One page of a cursor-paginated listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub first_id: Option<String>,
    /// Passed back as `after_id` for the next page.
    pub last_id: Option<String>,
    pub has_more: bool,
    pub meta: ResponseMeta,
}

/// A result together with what fetching it cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Fetched<T> {
    pub value: T,
    pub meta: ResponseMeta,
}

/// An activity-feed record, stored as an access event. The application keeps the whole
/// record (unknown activity types and fields included) in `record`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityRecord {
    pub id: String,
    pub created_at: DateTime<Utc>,
    /// The activity's `type`, e.g. `claude_file_uploaded`.
    pub activity_type: String,
    /// The record as received.
    pub record: serde_json::Value,
}

/// A chat found by the listing: enough to fetch it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatRef {
    pub id: String,
    pub updated_at: DateTime<Utc>,
}

/// The activity feed of one integration.
pub trait ActivitySource {
    /// The page after `after_id` (the first page when `None`) of the activities created in
    /// `[window.start, window.end)`.
    fn activities_page(
        &self,
        window: Window,
        after_id: Option<&str>,
    ) -> impl Future<Output = Result<Page<ActivityRecord>, JobError>> + Send;
}

/// The chats of one integration.
pub trait ChatSource {
    /// The page after `after_id` of the chats updated in `[window.start, window.end)`,
    /// ordered by `updated_at`.
    fn chats_page(
        &self,
        window: Window,
        after_id: Option<&str>,
    ) -> impl Future<Output = Result<Page<ChatRef>, JobError>> + Send;

    /// The whole chat with all its messages.
    fn transcript(
        &self,
        chat: &ChatRef,
    ) -> impl Future<Output = Result<Fetched<ChatTranscript>, JobError>> + Send;
}

/// Scores prompt events against the installed policy set.
pub trait Evaluator {
    /// One violation, opaque to the job: the sink stores it.
    type Finding: Send;

    /// The version of the installed policy set the findings come from; `None` when none is
    /// installed. Recorded with the job.
    fn policy_set_version(&self) -> Option<i32>;

    /// The violations `event` raises and its tags, or `None` when nothing evaluated it (no
    /// policy set installed). CPU-only; called once per event.
    fn evaluate(&self, event: &PromptEvent) -> Result<Option<Verdict<Self::Finding>>, JobError>;
}

/// What evaluating one event found.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict<F> {
    pub findings: Vec<F>,
    /// Labels for the event (quality tags, one per policy that fired), stored with it: every
    /// side's, distinct.
    pub tags: Vec<String>,
    /// The same labels by the side whose evaluation gave them.
    pub side_tags: SideTags,
}

/// An event's tags by the side they were found on, each list sorted and distinct.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SideTags {
    /// The user's prompt (and its attachments).
    pub input: Vec<String>,
    /// The assistant's response.
    pub output: Vec<String>,
    /// Tool calls and tool results.
    pub tool: Vec<String>,
}

/// An evaluator for integrations without an installed policy set: evaluates nothing, and
/// says so (every event is stored with `findings: None`).
#[derive(Debug)]
pub struct NoEvaluation<F>(PhantomData<fn() -> F>);

impl<F> NoEvaluation<F> {
    pub fn new() -> Self {
        Self(PhantomData)
    }
}

impl<F> Default for NoEvaluation<F> {
    fn default() -> Self {
        Self::new()
    }
}

impl<F: Send> Evaluator for NoEvaluation<F> {
    type Finding = F;

    fn policy_set_version(&self) -> Option<i32> {
        None
    }

    fn evaluate(&self, _event: &PromptEvent) -> Result<Option<Verdict<F>>, JobError> {
        Ok(None)
    }
}

/// A prompt event with what evaluating it found.
#[derive(Debug, Clone, PartialEq)]
pub struct EvaluatedEvent<F> {
    pub event: PromptEvent,
    /// `None`: not evaluated. `Some(empty)`: evaluated, clean.
    pub findings: Option<Vec<F>>,
    /// The evaluator's tags; empty when not evaluated.
    pub tags: Vec<String>,
    /// The evaluator's tags by side; empty when not evaluated.
    pub side_tags: SideTags,
}

/// What one sink call persists, in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestChunk<F> {
    pub access_events: Vec<ActivityRecord>,
    pub events: Vec<EvaluatedEvent<F>>,
    pub sessions: Vec<SessionSummary>,
}

impl<F> IngestChunk<F> {
    pub fn is_empty(&self) -> bool {
        self.access_events.is_empty() && self.events.is_empty() && self.sessions.is_empty()
    }
}

/// What persisting one chunk did, for the job's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Persisted {
    /// Alerts the chunk raised: new ones and closed ones reopened, not those already open.
    pub alerts: u64,
}

/// Where a job's results go.
pub trait EventSink<F> {
    /// Persists the chunk atomically and idempotently: access events by activity id, events
    /// by event id (replacing the stored event and its findings, since a later run may bring
    /// the response), sessions by chat id. Persisting the same chunk twice leaves the same
    /// state as once.
    fn persist(
        &self,
        chunk: IngestChunk<F>,
    ) -> impl Future<Output = Result<Persisted, JobError>> + Send;

    /// The ids of `events` the store already holds with the same content (hash) and a
    /// verdict of the evaluator's policy set version: the job neither evaluates nor writes
    /// them again. A store that cannot tell answers none.
    fn unchanged(
        &self,
        events: &[PromptEvent],
        policy_set_version: Option<i32>,
    ) -> impl Future<Output = Result<HashSet<Uuid>, JobError>> + Send {
        let _ = (events, policy_set_version);
        std::future::ready(Ok(HashSet::new()))
    }
}
