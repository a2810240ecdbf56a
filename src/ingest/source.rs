//! The Compliance API as the job's source: activities created in a window, chats updated in
//! it, and each chat's whole transcript, converted to the job crate's plain types.

use logwarden_jobs::pairing::{
    ArtifactRef, Attachment, ChatTranscript, MessageRole, ToolCall, ToolResult, TranscriptMessage,
};
use logwarden_jobs::retry::{ErrorClass, JobError};
use logwarden_jobs::source::{
    ActivityRecord, ActivitySource, ChatRef, ChatSource, Fetched, Page, ResponseMeta,
};
use logwarden_jobs::window::Window;

use logwarden_compliance::{
    self, ActivityQuery, ChatOrder, ChatQuery, Client, ContentBlock, Message, MessageQuery,
};

/// Page sizes: the API's maxima, fewest requests per window.
const ACTIVITY_PAGE: u32 = 5_000;
const CHAT_PAGE: u32 = 1_000;
/// Messages per page of a chat's transcript: most chats take one request, and a long one is
/// never one huge response (a page too large to read is fetched again at half the size).
const MESSAGE_PAGE: u32 = 1_000;

/// Converts a client error to a job error of the same class. A 2xx body that was cut short
/// or is not JSON is a transport error, retried like one (fetching again cures it); only a
/// complete body of an unexpected shape is a permanent `malformed_response`.
pub fn job_error(err: logwarden_compliance::Error) -> JobError {
    let class = match err.class() {
        "timeout_error" => ErrorClass::TimeoutError,
        "transport_error" => ErrorClass::TransportError,
        "malformed_response" if err.is_retryable() => ErrorClass::TransportError,
        "malformed_response" | "response_too_large" => ErrorClass::MalformedResponse,
        "invalid_argument" => ErrorClass::InvalidRequestError,
        other => ErrorClass::from_api_error_type(other),
    };
    let mut job_error = JobError::new(class, err.to_string());
    if !err.is_retryable() && class.is_retryable() {
        job_error = job_error.without_retry();
    }
    if let Some(after) = err.retry_after() {
        job_error = job_error.with_retry_after(after);
    }
    job_error
}

/// One integration's API, as seen by one job (the client counts this job's requests only).
pub struct ApiSource {
    client: Client,
}

impl ApiSource {
    pub fn new(client: &Client) -> Self {
        Self {
            client: client.with_own_stats(),
        }
    }

    fn requests(&self) -> u64 {
        self.client.stats().requests
    }

    fn meta(&self, before: u64, pages: u32, request_id: Option<&str>) -> ResponseMeta {
        ResponseMeta {
            pages,
            requests: (self.requests() - before) as u32,
            request_id: request_id.map(str::to_owned),
        }
    }
}

impl ActivitySource for ApiSource {
    async fn activities_page(
        &self,
        window: Window,
        after_id: Option<&str>,
    ) -> Result<Page<ActivityRecord>, JobError> {
        let before = self.requests();
        let mut query = ActivityQuery::new()
            .created_at_gte(window.start)
            .created_at_lt(window.end)
            .limit(ACTIVITY_PAGE);
        if let Some(after) = after_id {
            query = query.after_id(after);
        }
        let response = self
            .client
            .list_activities(&query)
            .await
            .map_err(job_error)?;
        let meta = self.meta(before, 1, response.meta.request_id.as_deref());
        let page = response.body;
        let items = page
            .data
            .into_iter()
            .map(|activity| {
                let record = serde_json::to_value(&activity).unwrap_or(serde_json::Value::Null);
                ActivityRecord {
                    id: activity.id,
                    created_at: activity.created_at,
                    activity_type: activity.activity_type,
                    record,
                }
            })
            .collect();
        Ok(Page {
            items,
            first_id: page.first_id,
            last_id: page.last_id,
            has_more: page.has_more,
            meta,
        })
    }
}

impl ChatSource for ApiSource {
    async fn chats_page(
        &self,
        window: Window,
        after_id: Option<&str>,
    ) -> Result<Page<ChatRef>, JobError> {
        let before = self.requests();
        let mut query = ChatQuery::new()
            .order_by(ChatOrder::UpdatedAt)
            .updated_at_gte(window.start)
            .updated_at_lt(window.end)
            .limit(CHAT_PAGE);
        if let Some(after) = after_id {
            query = query.after_id(after);
        }
        let response = self.client.list_chats(&query).await.map_err(job_error)?;
        let meta = self.meta(before, 1, response.meta.request_id.as_deref());
        let page = response.body;
        Ok(Page {
            items: page
                .data
                .into_iter()
                .map(|chat| ChatRef {
                    id: chat.id,
                    updated_at: chat.updated_at,
                })
                .collect(),
            first_id: page.first_id,
            last_id: page.last_id,
            has_more: page.has_more,
            meta,
        })
    }

    async fn transcript(&self, chat: &ChatRef) -> Result<Fetched<ChatTranscript>, JobError> {
        let before = self.requests();
        let mut pager = self
            .client
            .messages(&chat.id, MessageQuery::new().limit(MESSAGE_PAGE))
            .map_err(job_error)?;
        let mut header = None;
        let mut messages = Vec::new();
        while let Some(page) = pager.next_page().await.map_err(job_error)? {
            let body = page.body;
            messages.extend(body.chat_messages.iter().map(transcript_message));
            header.get_or_insert(body.chat);
        }
        let chat_row = header.ok_or_else(|| {
            JobError::new(
                ErrorClass::MalformedResponse,
                format!("the messages of chat {} came without the chat", chat.id),
            )
        })?;
        let meta = self.meta(
            before,
            pager.pages_fetched() as u32,
            pager.last_request_id(),
        );
        let deleted = chat_row.is_deleted();
        let deleted_at = chat_row.deleted_at;
        let user = chat_row.user.clone();
        Ok(Fetched {
            value: ChatTranscript {
                chat_id: chat_row.id,
                title: chat_row.name,
                user_id: user.as_ref().map(|u| u.id.clone()).unwrap_or_default(),
                user_email: user.map(|u| u.email_address).unwrap_or_default(),
                model: chat_row.model,
                project_id: chat_row.project_id,
                created_at: chat_row.created_at,
                updated_at: chat_row.updated_at,
                deleted,
                deleted_at,
                messages,
            },
            meta,
        })
    }
}

fn transcript_message(message: &Message) -> TranscriptMessage {
    let mut tool_calls = Vec::new();
    let mut tool_results = Vec::new();
    for block in &message.content {
        match block {
            ContentBlock::ToolUse(tool) => tool_calls.push(ToolCall {
                id: tool.id.clone().unwrap_or_default(),
                name: tool.name.clone(),
                input: tool
                    .input_json()
                    .unwrap_or_else(|| serde_json::Value::String(tool.input.clone())),
            }),
            ContentBlock::ToolResult(result) => tool_results.push(ToolResult {
                tool_use_id: result.tool_use_id.clone().unwrap_or_default(),
                name: result.name.clone(),
                text: result.text(),
                is_error: result.is_error,
            }),
            ContentBlock::Text(_) | ContentBlock::Unknown(_) => {}
        }
    }
    let mut files: Vec<Attachment> = message
        .files
        .iter()
        .flatten()
        .map(|file| Attachment {
            id: file.id.clone(),
            filename: file.filename.clone(),
            mime_type: file.mime_type.clone().unwrap_or_default(),
            size_bytes: file.size_bytes,
        })
        .collect();
    files.extend(
        message
            .generated_files
            .iter()
            .flatten()
            .map(|file| Attachment {
                id: file.id.clone(),
                filename: file.filename.clone(),
                mime_type: file.mime_type.clone().unwrap_or_default(),
                size_bytes: file.size_bytes,
            }),
    );
    TranscriptMessage {
        id: message.id.clone(),
        role: MessageRole::from_api(message.role.as_str()),
        created_at: message.created_at,
        text: message.text(),
        tool_calls,
        tool_results,
        files,
        artifacts: message
            .artifacts
            .iter()
            .flatten()
            .map(|artifact| ArtifactRef {
                id: artifact.id.clone(),
                title: artifact.title.clone().unwrap_or_default(),
                artifact_type: artifact.artifact_type.clone().unwrap_or_default(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use axum::extract::{Query, State};
    use axum::routing::get;
    use axum::{Json, Router};
    use logwarden_compliance::{ClientConfig, Secret};
    use serde_json::{json, Value};

    const MESSAGES: usize = 2_500;

    fn message(index: usize) -> Value {
        json!({
            "id": format!("claude_msg_{index:05}"),
            "role": if index % 2 == 0 { "user" } else { "assistant" },
            "created_at": "2026-01-01T00:00:00Z",
            "content": [{"type": "text", "text": format!("message {index}")}],
        })
    }

    /// The messages endpoint of one chat of [`MESSAGES`] messages, paged by `limit` and
    /// `after_id` as the API documents; it records the `limit` of every request.
    async fn messages(
        State(limits): State<Arc<Mutex<Vec<Option<String>>>>>,
        Query(query): Query<HashMap<String, String>>,
    ) -> Json<Value> {
        limits.lock().unwrap().push(query.get("limit").cloned());
        let all: Vec<Value> = (0..MESSAGES).map(message).collect();
        let start = query.get("after_id").map_or(0, |after| {
            all.iter().position(|m| m["id"] == after.as_str()).unwrap() + 1
        });
        let limit = query
            .get("limit")
            .map_or(MESSAGES, |limit| limit.parse().unwrap());
        let end = (start + limit).min(MESSAGES);
        let page = &all[start..end];
        Json(json!({
            "id": "claude_chat_long", "name": "long", "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z", "deleted_at": null, "href": "h",
            "model": null, "organization_uuid": "o", "project_id": null, "user": null,
            "chat_messages": page, "has_more": end < MESSAGES,
            "first_id": page.first().map(|m| m["id"].clone()),
            "last_id": page.last().map(|m| m["id"].clone()),
        }))
    }

    #[tokio::test]
    async fn a_long_chat_is_fetched_in_pages_of_1000_and_equals_the_whole_chat() {
        let limits = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .route(
                "/v1/compliance/apps/chats/claude_chat_long/messages",
                get(messages),
            )
            .with_state(limits.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let mut config =
            ClientConfig::from_base_url(&format!("http://{address}/"), Secret::new("sk-ant-k"))
                .unwrap();
        config.network.allow_loopback_http = true;
        let client = Client::new(config).unwrap();

        let fetched = ApiSource::new(&client)
            .transcript(&ChatRef {
                id: "claude_chat_long".to_owned(),
                updated_at: chrono::Utc::now(),
            })
            .await
            .unwrap();
        server.abort();

        let ids: Vec<String> = fetched
            .value
            .messages
            .iter()
            .map(|m| m.id.clone())
            .collect();
        let whole: Vec<String> = (0..MESSAGES)
            .map(|index| message(index)["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids, whole);
        assert_eq!(fetched.meta.pages, 3);
        assert_eq!(
            *limits.lock().unwrap(),
            vec![Some("1000".to_owned()); 3],
            "pages of 1,000"
        );
    }
}
