//! Turns a chat's messages into prompt events: each user message with the assistant
//! response(s) that follow it. The application converts its API types into the plain input
//! structs here, so pairing knows nothing of HTTP or storage.
//!
//! Pairing is deterministic: an event's id derives from its user message id, so a later run
//! over a grown chat (the response arrived, or more turns followed) updates the same event.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A chat as delivered by the Compliance API, converted by the application.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatTranscript {
    pub chat_id: String,
    pub title: String,
    pub user_id: String,
    pub user_email: String,
    pub model: Option<String>,
    pub project_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The chat has `deleted_at` set; the API then delivers it without content.
    pub deleted: bool,
    /// When it was deleted, when the API says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<DateTime<Utc>>,
    /// In any order, possibly with duplicates.
    pub messages: Vec<TranscriptMessage>,
}

/// Who wrote a message. `Other` keeps roles the API may add later without failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageRole {
    User,
    Assistant,
    Other,
}

impl MessageRole {
    /// The role of an API message's `role` field; unknown roles become `Other`.
    pub fn from_api(role: &str) -> Self {
        match role {
            "user" => Self::User,
            "assistant" => Self::Assistant,
            _ => Self::Other,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscriptMessage {
    pub id: String,
    pub role: MessageRole,
    /// For an assistant message, when generation finished.
    pub created_at: DateTime<Utc>,
    /// The message's text blocks, joined.
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
    pub tool_results: Vec<ToolResult>,
    pub files: Vec<Attachment>,
    pub artifacts: Vec<ArtifactRef>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The tool input; the API sends it JSON-encoded in a string, which the application
    /// decodes (or keeps as a string value when it does not parse).
    pub input: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolResult {
    pub tool_use_id: String,
    pub name: String,
    pub text: String,
    pub is_error: bool,
}

/// File metadata. Content is never carried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub id: String,
    pub filename: String,
    pub mime_type: String,
    pub size_bytes: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactRef {
    pub id: String,
    pub title: String,
    pub artifact_type: String,
}

/// One prompt and its response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptEvent {
    /// [`prompt_event_id`] of the user message id.
    pub id: Uuid,
    pub chat_id: String,
    pub user_message_id: String,
    /// The assistant messages that answered, in order.
    pub response_message_ids: Vec<String>,
    pub user_id: String,
    pub user_email: String,
    pub model: Option<String>,
    pub project_id: Option<String>,
    pub input_text: String,
    /// The response texts, in order, separated by a blank line.
    pub output_text: String,
    /// Tool calls of the user message and the responses, in order.
    pub tool_calls: Vec<ToolCall>,
    pub tool_results: Vec<ToolResult>,
    /// Files of the user message and the responses (generated files), first occurrence of
    /// each id, metadata only.
    pub attachments: Vec<Attachment>,
    pub artifacts: Vec<ArtifactRef>,
    /// When the user message was sent.
    pub event_time: DateTime<Utc>,
    /// When the last response message finished; `None` while no response has arrived.
    pub responded_at: Option<DateTime<Utc>>,
    /// Whether an assistant response follows the user message.
    pub complete: bool,
    pub tokens: TokenEstimate,
    /// The chat's `updated_at` in the copy this event was built from: how fresh it is. A
    /// store applies a write only when its copy is at least as fresh as the stored one. Not
    /// part of the content (or its hash): a chat's other turns move it.
    #[serde(skip)]
    pub source_updated_at: DateTime<Utc>,
}

impl PromptEvent {
    /// The tool calls as stored with the event: an array of
    /// `{id, name, input, results: [{text, is_error}]}`, each call with the results that
    /// answer it (matched on `tool_use_id`), then
    /// `{id: <tool_use_id>, name, input: null, results: [...]}` for results whose call is not
    /// in this event.
    pub fn tool_calls_json(&self) -> serde_json::Value {
        let result_json = |result: &ToolResult| serde_json::json!({"text": result.text, "is_error": result.is_error});
        let mut entries: Vec<serde_json::Value> = self
            .tool_calls
            .iter()
            .map(|call| {
                let results: Vec<serde_json::Value> = self
                    .tool_results
                    .iter()
                    .filter(|result| result.tool_use_id == call.id)
                    .map(result_json)
                    .collect();
                serde_json::json!({
                    "id": call.id,
                    "name": call.name,
                    "input": call.input,
                    "results": results,
                })
            })
            .collect();
        for result in &self.tool_results {
            if !self
                .tool_calls
                .iter()
                .any(|call| call.id == result.tool_use_id)
            {
                entries.push(serde_json::json!({
                    "id": result.tool_use_id,
                    "name": result.name,
                    "input": null,
                    "results": [result_json(result)],
                }));
            }
        }
        serde_json::Value::Array(entries)
    }

    /// Files and artifacts as stored with the event: `{files: [...], artifacts: [...]}`,
    /// metadata only.
    pub fn attachments_json(&self) -> serde_json::Value {
        serde_json::json!({"files": self.attachments, "artifacts": self.artifacts})
    }

    /// SHA-256 (hex) of the event's canonical JSON: it changes exactly when a later run
    /// brings different content (typically the response), so a store can skip rewriting
    /// unchanged events.
    pub fn content_hash(&self) -> Result<String, serde_json::Error> {
        crate::completeness::serializable_hash(self)
    }
}

/// Estimated token usage; the Compliance API reports none.
///
/// Estimated at one token per 4 characters (Unicode scalar values), rounded up, the usual
/// rule of thumb for English text with Claude's tokenizer. The prompt side counts the input
/// text and the tool results (they are fed to the model); the response side counts the output
/// text and the tool call inputs (the model wrote them). Good for volumes and trends, not for
/// billing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenEstimate {
    pub prompt: u64,
    pub response: u64,
    pub total: u64,
}

/// Characters per estimated token, see [`TokenEstimate`].
pub const CHARS_PER_TOKEN: u64 = 4;

impl TokenEstimate {
    fn from_chars(prompt_chars: u64, response_chars: u64) -> Self {
        let prompt = prompt_chars.div_ceil(CHARS_PER_TOKEN);
        let response = response_chars.div_ceil(CHARS_PER_TOKEN);
        Self {
            prompt,
            response,
            total: prompt + response,
        }
    }
}

/// The UUIDv5 namespace of prompt event ids:
/// `uuid5(NAMESPACE_URL, "urn:logwarden:prompt-event")` = `0ec1bb06-8c27-5224-8e1f-e992401dc235`.
/// Changing it would give every stored event a new id: never change it.
pub const PROMPT_EVENT_NAMESPACE: Uuid = Uuid::from_u128(0x0ec1bb06_8c27_5224_8e1f_e992401dc235);

/// The id of the prompt event opened by `user_message_id`.
pub fn prompt_event_id(user_message_id: &str) -> Uuid {
    Uuid::new_v5(&PROMPT_EVENT_NAMESPACE, user_message_id.as_bytes())
}

/// One row per chat: what the Sessions view lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionSummary {
    pub chat_id: String,
    pub title: String,
    pub user_id: String,
    pub user_email: String,
    pub model: Option<String>,
    pub project_id: Option<String>,
    /// A deleted chat arrives empty, so its counts and times below are zero and `None`: a
    /// sink should record the deletion and keep the counts it stored before.
    pub deleted: bool,
    pub deleted_at: Option<DateTime<Utc>>,
    pub chat_created_at: DateTime<Utc>,
    pub chat_updated_at: DateTime<Utc>,
    /// The earliest and latest event times (user messages).
    pub first_event_at: Option<DateTime<Utc>>,
    pub last_event_at: Option<DateTime<Utc>>,
    /// Distinct messages.
    pub message_count: u64,
    pub event_count: u64,
}

/// A chat turned into prompt events.
#[derive(Debug, Clone, PartialEq)]
pub struct PairedChat {
    pub events: Vec<PromptEvent>,
    pub session: SessionSummary,
    /// The transcript with duplicate messages dropped and messages in (created_at, id) order:
    /// what the events were built from and what a content hash should cover.
    pub normalized: ChatTranscript,
}

/// Drops repeated message ids (the first copy wins: the API re-delivers identical copies) and
/// sorts by (created_at, id), so the result does not depend on delivery order.
pub fn normalize_messages(messages: &[TranscriptMessage]) -> Vec<TranscriptMessage> {
    let mut seen = HashSet::with_capacity(messages.len());
    let mut unique: Vec<TranscriptMessage> = messages
        .iter()
        .filter(|message| seen.insert(message.id.as_str()))
        .cloned()
        .collect();
    unique.sort_by(|left, right| (left.created_at, &left.id).cmp(&(right.created_at, &right.id)));
    unique
}

/// Pairs a chat's messages into prompt events and summarises the chat.
///
/// Each user message opens an event; the assistant messages after it, up to the next user
/// message, are its response. Messages of another role are skipped, and assistant messages
/// before the first user message belong to no event. A deleted chat gives no events.
pub fn pair_chat(transcript: &ChatTranscript) -> PairedChat {
    let messages = normalize_messages(&transcript.messages);
    let events = if transcript.deleted {
        Vec::new()
    } else {
        pair_messages(transcript, &messages)
    };
    let session = SessionSummary {
        chat_id: transcript.chat_id.clone(),
        title: transcript.title.clone(),
        user_id: transcript.user_id.clone(),
        user_email: transcript.user_email.clone(),
        model: transcript.model.clone(),
        project_id: transcript.project_id.clone(),
        deleted: transcript.deleted,
        deleted_at: transcript.deleted_at,
        chat_created_at: transcript.created_at,
        chat_updated_at: transcript.updated_at,
        first_event_at: events.iter().map(|event| event.event_time).min(),
        last_event_at: events.iter().map(|event| event.event_time).max(),
        message_count: messages.len() as u64,
        event_count: events.len() as u64,
    };
    let normalized = ChatTranscript {
        messages,
        ..transcript.clone()
    };
    PairedChat {
        events,
        session,
        normalized,
    }
}

/// The prompt events of a chat; see [`pair_chat`].
pub fn pair_events(transcript: &ChatTranscript) -> Vec<PromptEvent> {
    if transcript.deleted {
        return Vec::new();
    }
    pair_messages(transcript, &normalize_messages(&transcript.messages))
}

fn pair_messages(transcript: &ChatTranscript, messages: &[TranscriptMessage]) -> Vec<PromptEvent> {
    let mut events = Vec::new();
    let mut open: Option<EventBuilder> = None;
    for message in messages {
        match message.role {
            MessageRole::User => {
                if let Some(builder) = open.take() {
                    events.push(builder.finish());
                }
                open = Some(EventBuilder::open(transcript, message));
            }
            MessageRole::Assistant => {
                if let Some(builder) = open.as_mut() {
                    builder.respond(message);
                }
            }
            MessageRole::Other => {}
        }
    }
    if let Some(builder) = open {
        events.push(builder.finish());
    }
    events
}

struct EventBuilder {
    event: PromptEvent,
    response_texts: Vec<String>,
    file_ids: HashSet<String>,
}

impl EventBuilder {
    fn open(transcript: &ChatTranscript, message: &TranscriptMessage) -> Self {
        let mut builder = Self {
            event: PromptEvent {
                id: prompt_event_id(&message.id),
                chat_id: transcript.chat_id.clone(),
                user_message_id: message.id.clone(),
                response_message_ids: Vec::new(),
                user_id: transcript.user_id.clone(),
                user_email: transcript.user_email.clone(),
                model: transcript.model.clone(),
                project_id: transcript.project_id.clone(),
                input_text: message.text.clone(),
                output_text: String::new(),
                tool_calls: Vec::new(),
                tool_results: Vec::new(),
                attachments: Vec::new(),
                artifacts: Vec::new(),
                event_time: message.created_at,
                responded_at: None,
                complete: false,
                tokens: TokenEstimate::default(),
                source_updated_at: transcript.updated_at,
            },
            response_texts: Vec::new(),
            file_ids: HashSet::new(),
        };
        builder.attach(message);
        builder
    }

    fn respond(&mut self, message: &TranscriptMessage) {
        self.event.response_message_ids.push(message.id.clone());
        if !message.text.is_empty() {
            self.response_texts.push(message.text.clone());
        }
        self.event.responded_at = Some(message.created_at);
        self.attach(message);
    }

    fn attach(&mut self, message: &TranscriptMessage) {
        self.event
            .tool_calls
            .extend(message.tool_calls.iter().cloned());
        self.event
            .tool_results
            .extend(message.tool_results.iter().cloned());
        for file in &message.files {
            if self.file_ids.insert(file.id.clone()) {
                self.event.attachments.push(file.clone());
            }
        }
        for artifact in &message.artifacts {
            if !self.event.artifacts.contains(artifact) {
                self.event.artifacts.push(artifact.clone());
            }
        }
    }

    fn finish(mut self) -> PromptEvent {
        self.event.output_text = self.response_texts.join("\n\n");
        self.event.complete = !self.event.response_message_ids.is_empty();
        let prompt_chars = char_count(&self.event.input_text)
            + self
                .event
                .tool_results
                .iter()
                .map(|result| char_count(&result.text))
                .sum::<u64>();
        let response_chars = char_count(&self.event.output_text)
            + self
                .event
                .tool_calls
                .iter()
                .map(|call| match &call.input {
                    serde_json::Value::String(text) => char_count(text),
                    other => char_count(&other.to_string()),
                })
                .sum::<u64>();
        self.event.tokens = TokenEstimate::from_chars(prompt_chars, response_chars);
        self.event
    }
}

fn char_count(text: &str) -> u64 {
    text.chars().count() as u64
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    pub(crate) fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_775_000_000 + seconds, 0).unwrap()
    }

    pub(crate) fn message(
        id: &str,
        role: MessageRole,
        seconds: i64,
        text: &str,
    ) -> TranscriptMessage {
        TranscriptMessage {
            id: id.to_owned(),
            role,
            created_at: at(seconds),
            text: text.to_owned(),
            tool_calls: Vec::new(),
            tool_results: Vec::new(),
            files: Vec::new(),
            artifacts: Vec::new(),
        }
    }

    pub(crate) fn transcript(chat_id: &str, messages: Vec<TranscriptMessage>) -> ChatTranscript {
        ChatTranscript {
            chat_id: chat_id.to_owned(),
            title: "Quarterly numbers".to_owned(),
            created_at: at(0),
            updated_at: at(60),
            user_id: "user_1".to_owned(),
            user_email: "analyst@example.com".to_owned(),
            model: Some("claude-sonnet-4".to_owned()),
            project_id: None,
            deleted: false,
            deleted_at: None,
            messages,
        }
    }

    use MessageRole::{Assistant, Other, User};

    #[test]
    fn the_namespace_is_the_documented_derivation() {
        assert_eq!(
            PROMPT_EVENT_NAMESPACE,
            Uuid::new_v5(&Uuid::NAMESPACE_URL, b"urn:logwarden:prompt-event")
        );
        assert_eq!(prompt_event_id("m1").get_version_num(), 5);
    }

    #[test]
    fn each_user_message_is_paired_with_the_assistant_messages_that_follow() {
        let chat = transcript(
            "chat_1",
            vec![
                message("m1", User, 0, "What is 2+2?"),
                message("m2", Assistant, 5, "Let me think."),
                message("m3", Assistant, 6, "It is 4."),
                message("m4", User, 10, "And 3+3?"),
                message("m5", Assistant, 12, "6."),
            ],
        );
        let events = pair_events(&chat);
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].id, prompt_event_id("m1"));
        assert_eq!(events[0].input_text, "What is 2+2?");
        assert_eq!(events[0].output_text, "Let me think.\n\nIt is 4.");
        assert_eq!(events[0].response_message_ids, ["m2", "m3"]);
        assert_eq!(events[0].event_time, at(0));
        assert_eq!(events[0].responded_at, Some(at(6)));
        assert!(events[0].complete);
        assert_eq!(events[1].output_text, "6.");
        assert_eq!(events[1].user_email, "analyst@example.com");
        assert_eq!(events[1].model.as_deref(), Some("claude-sonnet-4"));
    }

    #[test]
    fn a_response_arriving_later_completes_the_same_event() {
        let mut chat = transcript("chat_1", vec![message("m1", User, 0, "Summarise this")]);
        let before = pair_events(&chat);
        assert_eq!(before.len(), 1);
        assert!(!before[0].complete);
        assert_eq!(before[0].responded_at, None);
        assert_eq!(before[0].output_text, "");

        chat.messages
            .push(message("m2", Assistant, 40, "Here is the summary."));
        let after = pair_events(&chat);
        assert_eq!(after.len(), 1);
        assert_eq!(after[0].id, before[0].id);
        assert!(after[0].complete);
        assert_eq!(after[0].output_text, "Here is the summary.");
    }

    #[test]
    fn a_deleted_chat_produces_no_events_but_a_deleted_session() {
        let mut chat = transcript(
            "chat_1",
            vec![
                message("m1", User, 0, "hi"),
                message("m2", Assistant, 1, "hello"),
            ],
        );
        chat.deleted = true;
        let paired = pair_chat(&chat);
        assert!(paired.events.is_empty());
        assert!(paired.session.deleted);
        assert_eq!(paired.session.event_count, 0);
    }

    #[test]
    fn duplicates_are_dropped_and_messages_sorted_by_time_then_id() {
        let chat = transcript(
            "chat_1",
            vec![
                message("m3", Assistant, 5, "answer"),
                message("m1", User, 0, "question"),
                message("m3", Assistant, 5, "answer"),
                message("m2", Other, 5, "system note"),
                message("m1", User, 0, "question"),
            ],
        );
        let paired = pair_chat(&chat);
        let ids: Vec<&str> = paired
            .normalized
            .messages
            .iter()
            .map(|message| message.id.as_str())
            .collect();
        assert_eq!(ids, ["m1", "m2", "m3"]);
        assert_eq!(paired.session.message_count, 3);
        assert_eq!(paired.events.len(), 1);
        assert_eq!(paired.events[0].response_message_ids, ["m3"]);
        assert_eq!(paired.session.first_event_at, Some(at(0)));
        assert_eq!(paired.session.last_event_at, Some(at(0)));
        assert_eq!(paired.session.chat_updated_at, at(60));
    }

    #[test]
    fn assistant_messages_before_the_first_user_message_open_no_event() {
        let chat = transcript(
            "chat_1",
            vec![
                message("m0", Assistant, 0, "Welcome!"),
                message("m1", User, 1, "hi"),
            ],
        );
        let events = pair_events(&chat);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].user_message_id, "m1");
        assert!(!events[0].complete);
    }

    #[test]
    fn tool_use_files_and_artifacts_are_attached_as_metadata() {
        let mut question = message("m1", User, 0, "Read the report");
        let report = Attachment {
            id: "claude_file_1".to_owned(),
            filename: "report.pdf".to_owned(),
            mime_type: "application/pdf".to_owned(),
            size_bytes: Some(2048),
        };
        question.files.push(report.clone());
        let mut answer = message("m2", Assistant, 3, "Done.");
        answer.tool_calls.push(ToolCall {
            id: "toolu_1".to_owned(),
            name: "web_search".to_owned(),
            input: json!({"query": "q3 revenue"}),
        });
        answer.tool_results.push(ToolResult {
            tool_use_id: "toolu_1".to_owned(),
            name: "web_search".to_owned(),
            text: "revenue rose".to_owned(),
            is_error: false,
        });
        answer.files.push(report.clone());
        answer.artifacts.push(ArtifactRef {
            id: "artifact_1".to_owned(),
            title: "Chart".to_owned(),
            artifact_type: "application/vnd.ant.react".to_owned(),
        });
        let events = pair_events(&transcript("chat_1", vec![question, answer]));
        let event = &events[0];
        assert_eq!(event.tool_calls.len(), 1);
        assert_eq!(event.tool_calls[0].input["query"], "q3 revenue");
        assert_eq!(event.tool_results[0].text, "revenue rose");
        assert_eq!(event.attachments, [report]);
        assert_eq!(event.artifacts.len(), 1);
    }

    #[test]
    fn tool_calls_are_stored_with_their_results_and_files_with_artifacts() {
        let mut answer = message("m2", Assistant, 3, "Done.");
        answer.tool_calls.push(ToolCall {
            id: "toolu_1".to_owned(),
            name: "web_search".to_owned(),
            input: json!({"query": "q3"}),
        });
        for (tool_use_id, text) in [("toolu_1", "found"), ("toolu_9", "orphan")] {
            answer.tool_results.push(ToolResult {
                tool_use_id: tool_use_id.to_owned(),
                name: "web_search".to_owned(),
                text: text.to_owned(),
                is_error: false,
            });
        }
        let events = pair_events(&transcript(
            "chat_1",
            vec![message("m1", User, 0, "search"), answer],
        ));
        assert_eq!(
            events[0].tool_calls_json(),
            json!([
                {"id": "toolu_1", "name": "web_search", "input": {"query": "q3"},
                 "results": [{"text": "found", "is_error": false}]},
                {"id": "toolu_9", "name": "web_search", "input": null,
                 "results": [{"text": "orphan", "is_error": false}]},
            ])
        );
        assert_eq!(
            events[0].attachments_json(),
            json!({"files": [], "artifacts": []})
        );
    }

    #[test]
    fn the_event_content_hash_changes_when_the_response_arrives() {
        let mut chat = transcript("chat_1", vec![message("m1", User, 0, "hi")]);
        let before = pair_events(&chat)[0].content_hash().unwrap();
        assert_eq!(before, pair_events(&chat)[0].content_hash().unwrap());
        chat.messages.push(message("m2", Assistant, 1, "hello"));
        assert_ne!(before, pair_events(&chat)[0].content_hash().unwrap());
    }

    #[test]
    fn tokens_are_estimated_at_four_characters_each_rounded_up() {
        let mut answer = message("m2", Assistant, 1, "abcdefghi");
        answer.tool_results.push(ToolResult {
            tool_use_id: "toolu_1".to_owned(),
            name: "fetch".to_owned(),
            text: "1234".to_owned(),
            is_error: false,
        });
        answer.tool_calls.push(ToolCall {
            id: "toolu_1".to_owned(),
            name: "fetch".to_owned(),
            input: json!("abc"),
        });
        // Five characters, one of them outside ASCII: characters are counted, not bytes.
        let events = pair_events(&transcript(
            "chat_1",
            vec![message("m1", User, 0, "héllo"), answer],
        ));
        // prompt: 5 + 4 characters -> 3 tokens; response: 9 + 3 characters -> 3 tokens.
        assert_eq!(
            events[0].tokens,
            TokenEstimate {
                prompt: 3,
                response: 3,
                total: 6
            }
        );
    }

    fn role() -> impl Strategy<Value = MessageRole> {
        prop_oneof![4 => Just(User), 4 => Just(Assistant), 1 => Just(Other)]
    }

    fn messages() -> impl Strategy<Value = Vec<TranscriptMessage>> {
        // Few distinct times so that ties on created_at are common.
        proptest::collection::vec((role(), 0i64..8, "[a-z ]{0,12}"), 0..25).prop_map(|specs| {
            specs
                .into_iter()
                .enumerate()
                .map(|(index, (role, seconds, text))| {
                    message(&format!("msg_{index:02}"), role, seconds, &text)
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn events_do_not_depend_on_delivery_order_or_duplicates(
            messages in messages(),
            rotation in any::<usize>(),
            duplicates in proptest::collection::vec(any::<proptest::sample::Index>(), 0..10),
        ) {
            let expected = pair_events(&transcript("chat_1", messages.clone()));
            let mut delivered = messages.clone();
            if !messages.is_empty() {
                for index in duplicates {
                    delivered.push(index.get(&messages).clone());
                }
                let length = delivered.len();
                delivered.rotate_left(rotation % length);
                delivered.reverse();
            }
            prop_assert_eq!(pair_events(&transcript("chat_1", delivered)), expected);
        }

        #[test]
        fn every_user_message_yields_exactly_one_event(messages in messages()) {
            let events = pair_events(&transcript("chat_1", messages.clone()));
            let mut user_ids: Vec<&str> = messages
                .iter()
                .filter(|message| message.role == User)
                .map(|message| message.id.as_str())
                .collect();
            user_ids.sort_unstable();
            let mut event_ids: Vec<&str> = events.iter().map(|event| event.user_message_id.as_str()).collect();
            event_ids.sort_unstable();
            prop_assert_eq!(event_ids, user_ids);
            for event in &events {
                prop_assert_eq!(event.id, prompt_event_id(&event.user_message_id));
                prop_assert_eq!(event.complete, !event.response_message_ids.is_empty());
                prop_assert_eq!(event.tokens.total, event.tokens.prompt + event.tokens.response);
            }
        }
    }
}
