//! One ingest job over one window: pull the activity feed, list the chats updated in the
//! window, fetch and pair each chat, evaluate the events, persist everything in chunks, and
//! report counters and the completeness record.
//!
//! Every write is idempotent, so a run that fails part-way is simply run again: the chunks
//! it persisted are written once more with the same ids. Dropping the future between two
//! chunks is safe for the same reason. A run also keeps a [`Progress`] of what is stored (the
//! activity cursor, the chats done), so a run that starts from a saved checkpoint skips what
//! an earlier attempt stored instead of fetching it again.
//!
//! One bad record does not fail the window: a chat whose messages are gone (404, deleted
//! between listing and fetch) is skipped and listed, and an event whose evaluation panics is
//! stored without a verdict and listed as quarantined, with the panic message.

use std::collections::{HashMap, HashSet};
use std::num::NonZeroUsize;
use std::panic::AssertUnwindSafe;
use std::time::Instant;

use serde::Serialize;

use crate::checkpoint::{Checkpoint, Progress, QuarantinedEvent, SkippedChat};
use crate::completeness::{record_hash, serializable_hash, CompletenessRecord, CursorSpan};
use crate::pairing::{pair_chat, PairedChat, PromptEvent, SessionSummary};
use crate::retry::{ErrorClass, JobError};
use crate::source::{
    ActivityRecord, ActivitySource, ChatRef, ChatSource, EvaluatedEvent, Evaluator, EventSink,
    IngestChunk, Page, ResponseMeta, SideTags,
};
use crate::window::Window;

/// What one run did, for the job's row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IngestReport {
    /// Pages read from every listing, transcripts included.
    pub pages: u64,
    /// HTTP requests sent, retries included.
    pub requests: u64,
    /// Distinct chats fetched.
    pub chats: u64,
    /// Distinct messages in the fetched chats.
    pub messages: u64,
    /// Prompt events produced.
    pub events: u64,
    /// Events still waiting for their response.
    pub incomplete_events: u64,
    /// Distinct activity records stored as access events.
    pub access_events: u64,
    /// Findings of the evaluator, summed over events.
    pub violations: u64,
    /// Alerts the stored findings raised (new or reopened; one already open is not counted).
    pub alerts: u64,
    /// Events the evaluator evaluated; 0 with [`crate::source::NoEvaluation`].
    pub events_evaluated: u64,
    /// Sink calls made.
    pub chunks: u64,
    /// The evaluator's policy set version.
    pub policy_set_version: Option<i32>,
    pub completeness: CompletenessRecord,
}

/// Runs one ingest job over `window`; see the module documentation.
///
/// At most `chunk_size` events (and at most `chunk_size` access events, and at most
/// `chunk_size` sessions) go to the sink per call. Errors of the source, the evaluator and
/// the sink are returned as they came, with their class, except a transcript that is not
/// found (the chat is skipped) and a panicking evaluation (the event is quarantined). A
/// listing that claims more pages but gives no cursor, or repeats its cursor, is a
/// `malformed_response`, as is a transcript returned for another chat than the one asked for.
///
/// The run continues from `progress` (a fresh one starts the window afresh) and keeps it up
/// to date as chunks are stored; the report covers the whole window, earlier attempts'
/// stored part included.
pub async fn run_ingest_window<S, E, K>(
    window: Window,
    source: &S,
    sink: &K,
    evaluator: &E,
    chunk_size: NonZeroUsize,
    progress: &Progress,
) -> Result<IngestReport, JobError>
where
    S: ActivitySource + ChatSource + Sync,
    E: Evaluator + Sync,
    K: EventSink<E::Finding> + Sync,
{
    let mut run = Run::new(sink, chunk_size.get(), progress);
    let (activities_done, mut after, chats_done) = {
        let checkpoint = progress.lock();
        (
            checkpoint.activities_done,
            checkpoint.activities_after.clone(),
            checkpoint.chats_done.clone(),
        )
    };

    if !activities_done {
        // A page repeating the record its cursor points at brings one that is stored already.
        run.seen_activities.extend(after.clone());
        loop {
            let page = source.activities_page(window, after.as_deref()).await?;
            run.account(&page.meta);
            let next = next_cursor("activities", &page, after.as_deref())?;
            let (first_id, last_id) = (page.first_id.clone(), page.last_id.clone());
            for activity in page.items {
                run.push_access_event(activity).await?;
            }
            // The page is stored before the cursor moves past it.
            run.flush_access_events().await?;
            let hashes = std::mem::take(&mut run.page_hashes);
            progress.update(|c| {
                observe(&mut c.activities, first_id, last_id);
                c.activities.records += hashes.len() as u64;
                c.tally.access_events += hashes.len() as u64;
                for hash in hashes {
                    c.hashes.add(hash);
                }
                c.activities_done = next.is_none();
                c.activities_after = next.clone();
            });
            match next {
                Some(cursor) => after = Some(cursor),
                None => break,
            }
        }
    }

    // The chat listing starts again from its first page; the chats an earlier attempt
    // stored are not fetched again.
    let mut seen_chats: HashSet<String> = chats_done.into_iter().collect();
    let mut after: Option<String> = None;
    loop {
        let page = source.chats_page(window, after.as_deref()).await?;
        run.account(&page.meta);
        let next = next_cursor("chats", &page, after.as_deref())?;
        progress.update(|c| observe(&mut c.chats, page.first_id.clone(), page.last_id.clone()));
        for chat in &page.items {
            if !seen_chats.insert(chat.id.clone()) {
                continue;
            }
            let fetched = match source.transcript(chat).await {
                Ok(fetched) => fetched,
                Err(error) if error.class == ErrorClass::NotFoundError => {
                    run.skip(chat, &error);
                    continue;
                }
                Err(error) => return Err(error),
            };
            run.account(&fetched.meta);
            if fetched.value.chat_id != chat.id {
                return Err(JobError::new(
                    ErrorClass::MalformedResponse,
                    format!(
                        "asked for chat {} and received chat {}",
                        chat.id, fetched.value.chat_id
                    ),
                ));
            }
            let paired = pair_chat(&fetched.value);
            run.push_chat(paired, evaluator).await?;
        }
        match next {
            Some(cursor) => after = Some(cursor),
            None => break,
        }
    }
    run.evaluate_pending(evaluator).await?;
    run.flush_events(true).await?;

    Ok(report(
        window,
        &progress.snapshot(),
        evaluator.policy_set_version(),
    ))
}

/// The cursor of the next page, or `None` after the last page.
fn next_cursor<T>(
    listing: &str,
    page: &Page<T>,
    current: Option<&str>,
) -> Result<Option<String>, JobError> {
    if !page.has_more {
        return Ok(None);
    }
    match page.last_id.as_deref() {
        None => Err(JobError::new(
            ErrorClass::MalformedResponse,
            format!("{listing} page has more results but no last_id"),
        )),
        Some(last) if Some(last) == current => Err(JobError::new(
            ErrorClass::MalformedResponse,
            format!("{listing} cursor did not advance past {last}"),
        )),
        Some(last) => Ok(Some(last.to_owned())),
    }
}

/// Counts one page of a listing into its span.
fn observe(span: &mut CursorSpan, first_id: Option<String>, last_id: Option<String>) {
    if span.pages == 0 {
        span.start_cursor = first_id;
    }
    span.pages += 1;
    if last_id.is_some() {
        span.terminal_cursor = last_id;
    }
}

/// The report of a window from its checkpoint.
fn report(window: Window, c: &Checkpoint, policy_set_version: Option<i32>) -> IngestReport {
    let t = &c.tally;
    IngestReport {
        pages: t.pages,
        requests: t.requests,
        chats: t.chats,
        messages: t.messages,
        events: t.events,
        incomplete_events: t.incomplete_events,
        access_events: t.access_events,
        violations: t.violations,
        alerts: t.alerts,
        events_evaluated: t.events_evaluated,
        chunks: t.chunks,
        policy_set_version,
        completeness: CompletenessRecord {
            window,
            activities: c.activities.clone(),
            chats: c.chats.clone(),
            final_request_id: c.final_request_id.clone(),
            records: c.hashes.len() as u64,
            content_hash: c.hashes.finish(),
            skipped: c.skipped.clone(),
            quarantined: c.quarantined.clone(),
        },
    }
}

/// A chat fetched but not wholly stored yet: what it adds to the checkpoint once its last
/// event and its session are persisted.
struct PendingChat {
    /// Its events and its session not persisted yet.
    unstored: usize,
    hash: String,
    messages: u64,
    events: u64,
    incomplete_events: u64,
    violations: u64,
    events_evaluated: u64,
    quarantined: Vec<QuarantinedEvent>,
}

struct Run<'a, K, F> {
    sink: &'a K,
    chunk_size: usize,
    progress: &'a Progress,
    seen_activities: HashSet<String>,
    access_events: Vec<ActivityRecord>,
    /// Record hashes of the activity page being stored.
    page_hashes: Vec<String>,
    /// Events paired but not evaluated yet: evaluated a chunk at a time, after one look-up
    /// of which of them the sink already holds unchanged.
    pending: Vec<PromptEvent>,
    events: Vec<EvaluatedEvent<F>>,
    sessions: Vec<SessionSummary>,
    chats: HashMap<String, PendingChat>,
    /// When the run last stored a chunk (or started).
    last_store: Instant,
}

impl<'a, K, F> Run<'a, K, F>
where
    K: EventSink<F>,
{
    fn new(sink: &'a K, chunk_size: usize, progress: &'a Progress) -> Self {
        Self {
            sink,
            chunk_size,
            progress,
            seen_activities: HashSet::new(),
            access_events: Vec::new(),
            page_hashes: Vec::new(),
            pending: Vec::new(),
            events: Vec::new(),
            sessions: Vec::new(),
            chats: HashMap::new(),
            last_store: Instant::now(),
        }
    }

    fn account(&mut self, meta: &ResponseMeta) {
        self.progress.update(|c| {
            c.tally.pages += u64::from(meta.pages);
            c.tally.requests += u64::from(meta.requests);
            if meta.request_id.is_some() {
                c.final_request_id = meta.request_id.clone();
            }
        });
    }

    /// A chat that is gone upstream: listed with the error, and done.
    fn skip(&mut self, chat: &ChatRef, error: &JobError) {
        self.progress.update(|c| {
            c.chats_done.insert(chat.id.clone());
            c.skipped.push(SkippedChat {
                chat_id: chat.id.clone(),
                class: error.class.as_str().to_owned(),
                reason: error.message.clone(),
            });
        });
    }

    async fn push_access_event(&mut self, activity: ActivityRecord) -> Result<(), JobError> {
        // The same record can come on two pages.
        if !self.seen_activities.insert(activity.id.clone()) {
            return Ok(());
        }
        self.page_hashes.push(record_hash(&activity.record));
        self.access_events.push(activity);
        if self.access_events.len() >= self.chunk_size {
            self.flush_access_events().await?;
        }
        Ok(())
    }

    /// Sends the access events gathered so far.
    async fn flush_access_events(&mut self) -> Result<(), JobError> {
        if self.access_events.is_empty() {
            return Ok(());
        }
        let chunk = IngestChunk {
            access_events: std::mem::take(&mut self.access_events),
            events: Vec::new(),
            sessions: Vec::new(),
        };
        self.persist(chunk).await
    }

    async fn push_chat<E>(&mut self, paired: PairedChat, evaluator: &E) -> Result<(), JobError>
    where
        E: Evaluator<Finding = F>,
    {
        let chat_id = paired.session.chat_id.clone();
        let hash = serializable_hash(&paired.normalized).map_err(|error| {
            JobError::new(
                ErrorClass::Internal,
                format!("chat {chat_id} cannot be hashed: {error}"),
            )
        })?;
        let incomplete = paired.events.iter().filter(|e| !e.complete).count() as u64;
        self.chats.insert(
            chat_id,
            PendingChat {
                unstored: paired.events.len() + 1,
                hash,
                messages: paired.session.message_count,
                events: paired.events.len() as u64,
                incomplete_events: incomplete,
                violations: 0,
                events_evaluated: 0,
                quarantined: Vec::new(),
            },
        );
        self.pending.extend(paired.events);
        self.sessions.push(paired.session);
        let due = self
            .progress
            .store_every()
            .is_some_and(|every| self.last_store.elapsed() >= every);
        if self.pending.len() >= self.chunk_size || due {
            self.evaluate_pending(evaluator).await?;
        }
        self.flush_events(due).await
    }

    /// Evaluates the pending events the sink does not already hold unchanged, so a grown
    /// chat costs what changed: one new message, one evaluation and one write. An event
    /// whose evaluation panics is kept without a verdict and quarantined.
    async fn evaluate_pending<E>(&mut self, evaluator: &E) -> Result<(), JobError>
    where
        E: Evaluator<Finding = F>,
    {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        let unchanged = self
            .sink
            .unchanged(&pending, evaluator.policy_set_version())
            .await?;
        for event in pending {
            if unchanged.contains(&event.id) {
                self.stored(&event.chat_id);
                continue;
            }
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| evaluator.evaluate(&event)));
            let chat = self.chats.get_mut(&event.chat_id);
            let (findings, tags, side_tags) = match outcome {
                Ok(verdict) => match verdict? {
                    Some(verdict) => {
                        if let Some(chat) = chat {
                            chat.events_evaluated += 1;
                            chat.violations += verdict.findings.len() as u64;
                        }
                        (Some(verdict.findings), verdict.tags, verdict.side_tags)
                    }
                    None => (None, Vec::new(), SideTags::default()),
                },
                Err(panic) => {
                    if let Some(chat) = chat {
                        chat.quarantined.push(QuarantinedEvent {
                            event_id: event.id,
                            chat_id: event.chat_id.clone(),
                            message: panic_message(panic.as_ref()),
                        });
                    }
                    (None, Vec::new(), SideTags::default())
                }
            };
            self.events.push(EvaluatedEvent {
                event,
                findings,
                tags,
                side_tags,
            });
        }
        Ok(())
    }

    /// Sends full chunks; with `all`, also the remainder.
    async fn flush_events(&mut self, all: bool) -> Result<(), JobError> {
        while self.events.len() >= self.chunk_size || self.sessions.len() >= self.chunk_size {
            let rest = self
                .events
                .split_off(self.events.len().min(self.chunk_size));
            let events = std::mem::replace(&mut self.events, rest);
            let rest = self
                .sessions
                .split_off(self.sessions.len().min(self.chunk_size));
            let sessions = std::mem::replace(&mut self.sessions, rest);
            self.persist(IngestChunk {
                access_events: Vec::new(),
                events,
                sessions,
            })
            .await?;
        }
        if all && !(self.events.is_empty() && self.sessions.is_empty()) {
            let chunk = IngestChunk {
                access_events: Vec::new(),
                events: std::mem::take(&mut self.events),
                sessions: std::mem::take(&mut self.sessions),
            };
            self.persist(chunk).await?;
        }
        Ok(())
    }

    async fn persist(&mut self, chunk: IngestChunk<F>) -> Result<(), JobError> {
        let owners: Vec<String> = chunk
            .events
            .iter()
            .map(|e| e.event.chat_id.clone())
            .chain(chunk.sessions.iter().map(|s| s.chat_id.clone()))
            .collect();
        let persisted = self.sink.persist(chunk).await?;
        self.last_store = Instant::now();
        self.progress.update(|c| {
            c.tally.chunks += 1;
            c.tally.alerts += persisted.alerts;
        });
        for chat_id in owners {
            self.stored(&chat_id);
        }
        Ok(())
    }

    /// One more event or the session of `chat_id` is stored; once all are, the chat is done
    /// and goes into the checkpoint.
    fn stored(&mut self, chat_id: &str) {
        let Some(chat) = self.chats.get_mut(chat_id) else {
            return;
        };
        chat.unstored = chat.unstored.saturating_sub(1);
        if chat.unstored > 0 {
            return;
        }
        let Some(chat) = self.chats.remove(chat_id) else {
            return;
        };
        self.progress.update(|c| {
            c.chats_done.insert(chat_id.to_owned());
            c.chats.records += 1;
            c.hashes.add(chat.hash);
            let t = &mut c.tally;
            t.chats += 1;
            t.messages += chat.messages;
            t.events += chat.events;
            t.incomplete_events += chat.incomplete_events;
            t.violations += chat.violations;
            t.events_evaluated += chat.events_evaluated;
            c.quarantined.extend(chat.quarantined);
        });
    }
}

/// The text of a panic's payload.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::completeness::RunHash;
    use crate::pairing::tests::{at, message, transcript};
    use crate::pairing::{ChatTranscript, MessageRole, PromptEvent};
    use crate::source::{ChatRef, Fetched, NoEvaluation, Persisted, SideTags, Verdict};
    use futures::executor::block_on;
    use serde_json::json;
    use std::collections::BTreeMap;
    use std::sync::Mutex;
    use uuid::Uuid;

    /// An in-memory Compliance API: filters by window, orders like the real one, pages by
    /// cursor, and can repeat a record across pages or fail a chosen call.
    #[derive(Default)]
    struct FakeApi {
        activities: Vec<ActivityRecord>,
        chats: Vec<(ChatRef, ChatTranscript)>,
        page_size: usize,
        /// Starts every page after the first with the previous page's last record again.
        repeat_across_pages: bool,
        /// Claims more pages but drops the cursor.
        drop_cursor: bool,
        failing_chat: Option<(String, JobError)>,
        /// A transcript delivered for another chat than the one asked for.
        swapped_chat: Option<String>,
        /// The chats whose transcript was asked for, in order.
        fetched: Mutex<Vec<String>>,
    }

    fn paginate<T: Clone>(
        listing: &str,
        ordered: Vec<T>,
        id: impl Fn(&T) -> String,
        after: Option<&str>,
        page_size: usize,
        repeat: bool,
    ) -> Page<T> {
        let start = match after {
            None => 0,
            Some(cursor) => {
                let position = ordered
                    .iter()
                    .position(|item| id(item) == cursor)
                    .map_or(ordered.len(), |index| index + 1);
                if repeat {
                    position.saturating_sub(1)
                } else {
                    position
                }
            }
        };
        let items: Vec<T> = ordered
            .iter()
            .skip(start)
            .take(page_size)
            .cloned()
            .collect();
        let consumed = start + items.len();
        Page {
            first_id: items.first().map(&id),
            last_id: items.last().map(&id),
            has_more: consumed < ordered.len(),
            meta: ResponseMeta {
                pages: 1,
                requests: 1,
                request_id: Some(format!("req_{listing}_{}", after.unwrap_or("start"))),
            },
            items,
        }
    }

    impl ActivitySource for FakeApi {
        async fn activities_page(
            &self,
            window: Window,
            after_id: Option<&str>,
        ) -> Result<Page<ActivityRecord>, JobError> {
            let mut ordered: Vec<ActivityRecord> = self
                .activities
                .iter()
                .filter(|activity| window.contains(activity.created_at))
                .cloned()
                .collect();
            // Newest first, ties by id, like the real feed.
            ordered.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
            Ok(paginate(
                "activities",
                ordered,
                |activity| activity.id.clone(),
                after_id,
                self.page_size,
                self.repeat_across_pages,
            ))
        }
    }

    impl ChatSource for FakeApi {
        async fn chats_page(
            &self,
            window: Window,
            after_id: Option<&str>,
        ) -> Result<Page<ChatRef>, JobError> {
            let mut ordered: Vec<ChatRef> = self
                .chats
                .iter()
                .map(|(chat, _)| chat.clone())
                .filter(|chat| window.contains(chat.updated_at))
                .collect();
            ordered.sort_by(|a, b| (a.updated_at, &a.id).cmp(&(b.updated_at, &b.id)));
            let mut page = paginate(
                "chats",
                ordered,
                |chat| chat.id.clone(),
                after_id,
                self.page_size,
                self.repeat_across_pages,
            );
            if self.drop_cursor && page.has_more {
                page.last_id = None;
            }
            Ok(page)
        }

        async fn transcript(&self, chat: &ChatRef) -> Result<Fetched<ChatTranscript>, JobError> {
            self.fetched.lock().unwrap().push(chat.id.clone());
            if let Some((id, error)) = &self.failing_chat {
                if *id == chat.id {
                    return Err(error.clone());
                }
            }
            let mut value = self
                .chats
                .iter()
                .find(|(known, _)| known.id == chat.id)
                .map(|(_, transcript)| transcript.clone())
                .ok_or_else(|| JobError::new(ErrorClass::NotFoundError, chat.id.clone()))?;
            if self.swapped_chat.as_deref() == Some(chat.id.as_str()) {
                value.chat_id = "claude_chat_other".to_owned();
            }
            Ok(Fetched {
                value,
                meta: ResponseMeta {
                    pages: 1,
                    requests: 2,
                    request_id: Some(format!("req_chat_{}", chat.id)),
                },
            })
        }
    }

    /// Flags every event whose prompt mentions "password".
    struct KeywordEvaluator;

    impl Evaluator for KeywordEvaluator {
        type Finding = String;

        fn policy_set_version(&self) -> Option<i32> {
            Some(3)
        }

        fn evaluate(&self, event: &PromptEvent) -> Result<Option<Verdict<String>>, JobError> {
            let findings = if event.input_text.contains("password") {
                vec![format!("secret_in_input:{}", event.user_message_id)]
            } else {
                Vec::new()
            };
            let tags: Vec<String> = findings.iter().map(|_| "Secret".to_owned()).collect();
            Ok(Some(Verdict {
                side_tags: SideTags {
                    input: tags.clone(),
                    ..SideTags::default()
                },
                tags,
                findings,
            }))
        }
    }

    #[derive(Debug, Default, PartialEq)]
    struct Stored {
        access_events: BTreeMap<String, ActivityRecord>,
        events: BTreeMap<Uuid, EvaluatedEvent<String>>,
        sessions: BTreeMap<String, SessionSummary>,
    }

    /// An in-memory store with the idempotent semantics the trait asks for; each finding of
    /// an event it did not hold yet raises one alert.
    #[derive(Default)]
    struct MemorySink {
        stored: Mutex<Stored>,
        chunk_sizes: Mutex<Vec<(usize, usize, usize)>>,
        fail_at_chunk: Option<usize>,
    }

    impl EventSink<String> for MemorySink {
        async fn persist(&self, chunk: IngestChunk<String>) -> Result<Persisted, JobError> {
            let mut sizes = self.chunk_sizes.lock().unwrap();
            if self.fail_at_chunk == Some(sizes.len()) {
                return Err(JobError::new(ErrorClass::DatabaseError, "connection reset"));
            }
            sizes.push((
                chunk.access_events.len(),
                chunk.events.len(),
                chunk.sessions.len(),
            ));
            let mut stored = self.stored.lock().unwrap();
            for activity in chunk.access_events {
                stored.access_events.insert(activity.id.clone(), activity);
            }
            let mut alerts = 0;
            for event in chunk.events {
                if !stored.events.contains_key(&event.event.id) {
                    alerts += event.findings.as_ref().map_or(0, Vec::len) as u64;
                }
                stored.events.insert(event.event.id, event);
            }
            for session in chunk.sessions {
                stored.sessions.insert(session.chat_id.clone(), session);
            }
            Ok(Persisted { alerts })
        }
    }

    fn window() -> Window {
        Window {
            start: at(0),
            end: at(3600),
        }
    }

    fn activity(id: &str, seconds: i64) -> ActivityRecord {
        ActivityRecord {
            id: id.to_owned(),
            created_at: at(seconds),
            activity_type: "claude_file_uploaded".to_owned(),
            record: json!({"id": id, "type": "claude_file_uploaded", "filename": "a.txt"}),
        }
    }

    fn chat(
        id: &str,
        updated: i64,
        messages: Vec<crate::pairing::TranscriptMessage>,
    ) -> (ChatRef, ChatTranscript) {
        (
            ChatRef {
                id: id.to_owned(),
                updated_at: at(updated),
            },
            transcript(id, messages),
        )
    }

    /// Five activities in the window and one outside; three chats in the window (one deleted)
    /// with five user messages in all, and one chat updated after the window.
    fn organisation(page_size: usize) -> FakeApi {
        use MessageRole::{Assistant, User};
        let mut deleted = chat("claude_chat_c", 300, Vec::new());
        deleted.1.deleted = true;
        FakeApi {
            activities: vec![
                activity("activity_1", 10),
                activity("activity_2", 20),
                activity("activity_3", 20),
                activity("activity_4", 40),
                activity("activity_5", 50),
                activity("activity_late", 4000),
            ],
            chats: vec![
                chat(
                    "claude_chat_a",
                    100,
                    vec![
                        message("a1", User, 1, "my password is hunter2"),
                        message("a2", Assistant, 2, "Please do not share passwords."),
                        message("a3", User, 3, "ok"),
                        message("a4", Assistant, 4, "Thanks."),
                    ],
                ),
                chat(
                    "claude_chat_b",
                    200,
                    vec![
                        message("b1", User, 5, "draft an email"),
                        message("b2", Assistant, 6, "Dear team,"),
                        message("b3", User, 7, "shorter please"),
                        message("b4", User, 8, "and the password reset link"),
                    ],
                ),
                deleted,
                chat(
                    "claude_chat_later",
                    5000,
                    vec![message("z1", User, 4500, "outside the window")],
                ),
            ],
            page_size,
            ..FakeApi::default()
        }
    }

    fn chunk(size: usize) -> NonZeroUsize {
        NonZeroUsize::new(size).unwrap()
    }

    #[test]
    fn a_window_is_pulled_paired_evaluated_and_persisted() {
        let api = organisation(2);
        let sink = MemorySink::default();

        let report = block_on(run_ingest_window(
            window(),
            &api,
            &sink,
            &KeywordEvaluator,
            chunk(100),
            &Progress::default(),
        ))
        .unwrap();

        assert_eq!(report.access_events, 5);
        assert_eq!(report.chats, 3);
        assert_eq!(report.messages, 8);
        assert_eq!(report.events, 5);
        assert_eq!(report.incomplete_events, 2);
        assert_eq!(report.events_evaluated, 5);
        assert_eq!(report.violations, 2);
        assert_eq!(report.alerts, 2, "the alerts the sink raised are counted");
        assert_eq!(report.policy_set_version, Some(3));
        // Activity pages: 3 (2 + 2 + 1); chat pages: 2 (2 + 1); transcripts: 3.
        assert_eq!(report.pages, 8);
        assert_eq!(report.requests, 3 + 2 + 3 * 2);

        let stored = sink.stored.lock().unwrap();
        assert_eq!(stored.access_events.len(), 5);
        assert!(!stored.access_events.contains_key("activity_late"));
        assert_eq!(stored.events.len(), 5);
        let first = &stored.events[&crate::pairing::prompt_event_id("a1")];
        assert_eq!(first.event.output_text, "Please do not share passwords.");
        assert_eq!(
            first.findings.as_deref(),
            Some(&["secret_in_input:a1".to_owned()][..])
        );
        assert_eq!(stored.sessions.len(), 3);
        assert!(stored.sessions["claude_chat_c"].deleted);
        assert_eq!(stored.sessions["claude_chat_b"].event_count, 3);
    }

    #[test]
    fn running_the_same_window_twice_leaves_identical_state_and_report() {
        let api = organisation(2);
        let once = MemorySink::default();
        let twice = MemorySink::default();

        let first = block_on(run_ingest_window(
            window(),
            &api,
            &once,
            &KeywordEvaluator,
            chunk(3),
            &Progress::default(),
        ))
        .unwrap();
        block_on(run_ingest_window(
            window(),
            &api,
            &twice,
            &KeywordEvaluator,
            chunk(3),
            &Progress::default(),
        ))
        .unwrap();
        let second = block_on(run_ingest_window(
            window(),
            &api,
            &twice,
            &KeywordEvaluator,
            chunk(3),
            &Progress::default(),
        ))
        .unwrap();

        // The rerun raises no alert again; everything else it reports is the same.
        assert_eq!((first.alerts, second.alerts), (2, 0));
        assert_eq!(IngestReport { alerts: 0, ..first }, second);
        assert_eq!(*once.stored.lock().unwrap(), *twice.stored.lock().unwrap());
    }

    #[test]
    fn chunks_never_exceed_the_chunk_size_and_cover_everything() {
        let api = organisation(100);
        let sink = MemorySink::default();

        let report = block_on(run_ingest_window(
            window(),
            &api,
            &sink,
            &KeywordEvaluator,
            chunk(2),
            &Progress::default(),
        ))
        .unwrap();

        let sizes = sink.chunk_sizes.lock().unwrap().clone();
        assert_eq!(report.chunks, sizes.len() as u64);
        for (access_events, events, sessions) in &sizes {
            assert!(
                *access_events <= 2 && *events <= 2 && *sessions <= 2,
                "{sizes:?}"
            );
            assert!(access_events + events + sessions > 0, "{sizes:?}");
        }
        let total = sizes.iter().fold((0, 0, 0), |sum, size| {
            (sum.0 + size.0, sum.1 + size.1, sum.2 + size.2)
        });
        assert_eq!(total, (5, 5, 3));
    }

    #[test]
    fn the_same_record_on_two_pages_is_stored_and_hashed_once() {
        let clean = organisation(2);
        let repeating = FakeApi {
            repeat_across_pages: true,
            ..organisation(2)
        };
        let clean_sink = MemorySink::default();
        let repeating_sink = MemorySink::default();

        let expected = block_on(run_ingest_window(
            window(),
            &clean,
            &clean_sink,
            &KeywordEvaluator,
            chunk(100),
            &Progress::default(),
        ))
        .unwrap();
        let report = block_on(run_ingest_window(
            window(),
            &repeating,
            &repeating_sink,
            &KeywordEvaluator,
            chunk(100),
            &Progress::default(),
        ))
        .unwrap();

        assert_eq!(report.access_events, 5);
        assert_eq!(report.chats, 3);
        assert_eq!(report.events, 5);
        assert_eq!(
            report.completeness.content_hash,
            expected.completeness.content_hash
        );
        assert_eq!(report.completeness.records, 8);
        assert_eq!(
            *repeating_sink.stored.lock().unwrap(),
            *clean_sink.stored.lock().unwrap()
        );
    }

    #[test]
    fn the_completeness_record_names_the_cursors_and_the_last_request() {
        let api = organisation(2);
        let sink = MemorySink::default();

        let report = block_on(run_ingest_window(
            window(),
            &api,
            &sink,
            &KeywordEvaluator,
            chunk(10),
            &Progress::default(),
        ))
        .unwrap();

        let record = &report.completeness;
        assert_eq!(record.window, window());
        // Newest first: the feed starts at the latest activity and ends at the oldest.
        assert_eq!(
            record.activities.start_cursor.as_deref(),
            Some("activity_5")
        );
        assert_eq!(
            record.activities.terminal_cursor.as_deref(),
            Some("activity_1")
        );
        assert_eq!(record.activities.pages, 3);
        assert_eq!(record.chats.start_cursor.as_deref(), Some("claude_chat_a"));
        assert_eq!(
            record.chats.terminal_cursor.as_deref(),
            Some("claude_chat_c")
        );
        assert_eq!(record.chats.records, 3);
        assert_eq!(
            record.final_request_id.as_deref(),
            Some("req_chat_claude_chat_c")
        );
        assert_eq!(record.records, 8);

        // A changed record changes the run's hash.
        let mut changed = organisation(2);
        changed.activities[0].record["filename"] = json!("b.txt");
        let other = block_on(run_ingest_window(
            window(),
            &changed,
            &MemorySink::default(),
            &KeywordEvaluator,
            chunk(10),
            &Progress::default(),
        ))
        .unwrap();
        assert_ne!(other.completeness.content_hash, record.content_hash);
    }

    #[test]
    fn a_rate_limited_transcript_fails_the_run_with_its_class_and_wait() {
        let error = JobError::new(ErrorClass::RateLimitError, "429 on messages")
            .with_retry_after(std::time::Duration::from_secs(30));
        let api = FakeApi {
            failing_chat: Some(("claude_chat_b".to_owned(), error.clone())),
            ..organisation(2)
        };
        let sink = MemorySink::default();

        let result = block_on(run_ingest_window(
            window(),
            &api,
            &sink,
            &KeywordEvaluator,
            chunk(1),
            &Progress::default(),
        ));

        assert_eq!(result.unwrap_err(), error);
        // What came before the failure is persisted; running again completes it idempotently.
        let stored = sink.stored.lock().unwrap();
        assert_eq!(stored.access_events.len(), 5);
        assert!(stored.sessions.contains_key("claude_chat_a"));
        assert!(!stored.sessions.contains_key("claude_chat_b"));
    }

    #[test]
    fn a_sink_failure_fails_the_run_as_a_database_error() {
        let api = organisation(2);
        let sink = MemorySink {
            fail_at_chunk: Some(1),
            ..MemorySink::default()
        };

        let error = block_on(run_ingest_window(
            window(),
            &api,
            &sink,
            &KeywordEvaluator,
            chunk(2),
            &Progress::default(),
        ))
        .unwrap_err();

        assert_eq!(error.class, ErrorClass::DatabaseError);
        assert!(error.is_retryable());
        assert_eq!(sink.chunk_sizes.lock().unwrap().len(), 1);
    }

    #[test]
    fn a_page_claiming_more_without_a_cursor_is_a_malformed_response() {
        let api = FakeApi {
            drop_cursor: true,
            ..organisation(2)
        };

        let error = block_on(run_ingest_window(
            window(),
            &api,
            &MemorySink::default(),
            &KeywordEvaluator,
            chunk(10),
            &Progress::default(),
        ))
        .unwrap_err();

        assert_eq!(error.class, ErrorClass::MalformedResponse);
        assert_eq!(error.message, "chats page has more results but no last_id");
        assert!(!error.is_retryable());
    }

    #[test]
    fn a_transcript_of_another_chat_is_refused() {
        let api = FakeApi {
            swapped_chat: Some("claude_chat_a".to_owned()),
            ..organisation(2)
        };
        let sink = MemorySink::default();

        let error = block_on(run_ingest_window(
            window(),
            &api,
            &sink,
            &KeywordEvaluator,
            chunk(10),
            &Progress::default(),
        ))
        .unwrap_err();

        assert_eq!(error.class, ErrorClass::MalformedResponse);
        assert!(sink.stored.lock().unwrap().events.is_empty());
    }

    #[test]
    fn without_a_policy_set_events_are_stored_unevaluated_and_the_report_says_so() {
        let api = organisation(2);
        let sink = MemorySink::default();

        let report = block_on(run_ingest_window(
            window(),
            &api,
            &sink,
            &NoEvaluation::<String>::new(),
            chunk(10),
            &Progress::default(),
        ))
        .unwrap();

        assert_eq!(report.events, 5);
        assert_eq!(report.events_evaluated, 0);
        assert_eq!(report.violations, 0);
        assert_eq!(report.policy_set_version, None);
        let stored = sink.stored.lock().unwrap();
        assert!(stored.events.values().all(|event| event.findings.is_none()));
    }

    #[test]
    fn an_empty_window_persists_nothing_and_still_records_its_query() {
        let api = organisation(2);
        let sink = MemorySink::default();
        let empty = Window {
            start: at(10_000),
            end: at(20_000),
        };

        let report = block_on(run_ingest_window(
            empty,
            &api,
            &sink,
            &KeywordEvaluator,
            chunk(10),
            &Progress::default(),
        ))
        .unwrap();

        assert_eq!(report.chunks, 0);
        assert_eq!(report.events, 0);
        assert_eq!(report.completeness.window, empty);
        assert_eq!(report.completeness.activities.pages, 1);
        assert_eq!(report.completeness.activities.start_cursor, None);
        assert_eq!(report.completeness.content_hash, RunHash::new().finish());
    }

    #[test]
    fn the_ingest_future_can_move_between_threads() {
        fn assert_send<T: Send>(_: &T) {}
        let api = organisation(2);
        let sink = MemorySink::default();
        let progress = Progress::default();
        let future = run_ingest_window(
            window(),
            &api,
            &sink,
            &KeywordEvaluator,
            chunk(10),
            &progress,
        );
        assert_send(&future);
        assert!(block_on(future).is_ok());
    }

    #[test]
    fn a_run_that_stops_part_way_resumes_from_its_checkpoint_and_reports_the_whole_window() {
        let fresh_sink = MemorySink::default();
        let fresh = block_on(run_ingest_window(
            window(),
            &organisation(2),
            &fresh_sink,
            &KeywordEvaluator,
            chunk(1),
            &Progress::default(),
        ))
        .unwrap();

        let failing = FakeApi {
            failing_chat: Some((
                "claude_chat_b".to_owned(),
                JobError::new(ErrorClass::TransportError, "connection reset"),
            )),
            ..organisation(2)
        };
        let sink = MemorySink::default();
        let progress = Progress::default();
        let error = block_on(run_ingest_window(
            window(),
            &failing,
            &sink,
            &KeywordEvaluator,
            chunk(1),
            &progress,
        ))
        .unwrap_err();
        assert_eq!(error.class, ErrorClass::TransportError);
        let checkpoint = progress.snapshot();
        assert!(checkpoint.activities_done);
        assert_eq!(
            checkpoint.chats_done.iter().collect::<Vec<_>>(),
            ["claude_chat_a"]
        );
        assert_eq!(checkpoint.tally.access_events, 5);

        // The next attempt starts from the checkpoint as a job row keeps it.
        let saved: Checkpoint =
            serde_json::from_str(&serde_json::to_string(&checkpoint).unwrap()).unwrap();
        let healthy = organisation(2);
        let resumed = block_on(run_ingest_window(
            window(),
            &healthy,
            &sink,
            &KeywordEvaluator,
            chunk(1),
            &Progress::resume(saved),
        ))
        .unwrap();

        assert_eq!(
            *healthy.fetched.lock().unwrap(),
            ["claude_chat_b", "claude_chat_c"],
            "chat a is not fetched again"
        );
        assert_eq!(
            *sink.stored.lock().unwrap(),
            *fresh_sink.stored.lock().unwrap()
        );
        assert_eq!(
            resumed.completeness.content_hash,
            fresh.completeness.content_hash
        );
        assert_eq!(resumed.completeness.records, fresh.completeness.records);
        assert_eq!(
            (
                resumed.chats,
                resumed.messages,
                resumed.events,
                resumed.access_events
            ),
            (
                fresh.chats,
                fresh.messages,
                fresh.events,
                fresh.access_events
            )
        );
        assert_eq!(resumed.violations, fresh.violations);
        // The activity feed was not read again: only the first attempt's three pages.
        assert_eq!(resumed.completeness.activities.pages, 3);
    }

    #[test]
    fn a_chat_whose_messages_are_gone_is_skipped_and_listed_and_the_window_succeeds() {
        let api = FakeApi {
            failing_chat: Some((
                "claude_chat_b".to_owned(),
                JobError::new(
                    ErrorClass::NotFoundError,
                    "404 not_found_error: no such chat",
                ),
            )),
            ..organisation(2)
        };
        let sink = MemorySink::default();

        let report = block_on(run_ingest_window(
            window(),
            &api,
            &sink,
            &KeywordEvaluator,
            chunk(10),
            &Progress::default(),
        ))
        .unwrap();

        assert_eq!(
            report.completeness.skipped,
            [SkippedChat {
                chat_id: "claude_chat_b".to_owned(),
                class: "not_found_error".to_owned(),
                reason: "404 not_found_error: no such chat".to_owned(),
            }]
        );
        assert_eq!(report.chats, 2);
        let stored = sink.stored.lock().unwrap();
        assert!(!stored.sessions.contains_key("claude_chat_b"));
        assert!(stored.sessions.contains_key("claude_chat_a"));
        assert_eq!(stored.access_events.len(), 5);
    }

    /// Panics on a prompt that asks for something shorter.
    struct PanickingEvaluator;

    impl Evaluator for PanickingEvaluator {
        type Finding = String;

        fn policy_set_version(&self) -> Option<i32> {
            Some(3)
        }

        fn evaluate(&self, event: &PromptEvent) -> Result<Option<Verdict<String>>, JobError> {
            if event.input_text.contains("shorter") {
                panic!("index out of bounds: the len is 0 but the index is 0");
            }
            KeywordEvaluator.evaluate(event)
        }
    }

    #[test]
    fn an_event_whose_evaluation_panics_is_stored_without_a_verdict_and_quarantined() {
        let api = organisation(2);
        let sink = MemorySink::default();

        let report = block_on(run_ingest_window(
            window(),
            &api,
            &sink,
            &PanickingEvaluator,
            chunk(10),
            &Progress::default(),
        ))
        .unwrap();

        let b3 = crate::pairing::prompt_event_id("b3");
        assert_eq!(
            report.completeness.quarantined,
            [QuarantinedEvent {
                event_id: b3,
                chat_id: "claude_chat_b".to_owned(),
                message: "index out of bounds: the len is 0 but the index is 0".to_owned(),
            }]
        );
        assert_eq!(report.events, 5);
        assert_eq!(report.events_evaluated, 4);
        assert_eq!(report.violations, 2);
        let stored = sink.stored.lock().unwrap();
        assert_eq!(stored.events.len(), 5);
        assert_eq!(stored.events[&b3].findings, None);
        assert!(stored.events[&crate::pairing::prompt_event_id("b4")]
            .findings
            .is_some());
    }

    #[test]
    fn a_run_told_to_store_often_stores_each_chat_as_it_goes() {
        let api = organisation(2);
        let sink = MemorySink::default();
        let progress = Progress::default().storing_every(std::time::Duration::ZERO);

        block_on(run_ingest_window(
            window(),
            &api,
            &sink,
            &KeywordEvaluator,
            chunk(100),
            &progress,
        ))
        .unwrap();

        // One chunk of access events per activity page, then one per chat.
        let sizes = sink.chunk_sizes.lock().unwrap().clone();
        assert_eq!(
            sizes,
            [
                (2, 0, 0),
                (2, 0, 0),
                (1, 0, 0),
                (0, 2, 1),
                (0, 3, 1),
                (0, 0, 1)
            ]
        );
        assert_eq!(progress.snapshot().chats_done.len(), 3);
    }
}
