//! Island integrations: pushed, never pulled. Adding one stores its signing secret encrypted
//! (given, or generated and shown once); a push is a signed JSON batch of prompt/response
//! records that goes through the same evaluator and sink as a pulled window, idempotent on
//! each record's id.
//!
//! Signing: `x-logwarden-timestamp` is the Unix time in seconds when the batch was signed;
//! `x-logwarden-signature` is `sha256=` followed by the lowercase hex HMAC-SHA256, keyed by
//! the secret, of the timestamp, a `.`, and the body bytes exactly as sent. A timestamp more
//! than five minutes from the server's clock is refused.

use chrono::{DateTime, TimeDelta, Utc};
use hmac::{KeyInit, Mac};
use logwarden_entities::integration;
use logwarden_jobs::kind::{IntegrationKind, IntegrationStatus};
use logwarden_jobs::pairing::{PromptEvent, TokenEstimate, ToolCall, ToolResult, CHARS_PER_TOKEN};
use logwarden_jobs::payload::DataPlaneName;
use logwarden_jobs::source::{EvaluatedEvent, Evaluator, EventSink, IngestChunk, SideTags};
use rand::RngCore;
use sea_orm::{ActiveValue::Set, DbErr, EntityTrait};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::integrations::{validate_integration_name, validate_name, IntegrationView};
use super::{Error, Services};
use crate::infra::secret::Secret;
use crate::ingest::evaluators::EvaluatorProvider;
use crate::ingest::sink::DbSink;

/// The header with the signing time, Unix seconds.
pub const TIMESTAMP_HEADER: &str = "x-logwarden-timestamp";
/// The header with `sha256=<hex HMAC-SHA256 of "{timestamp}.{body}">`.
pub const SIGNATURE_HEADER: &str = "x-logwarden-signature";
/// Records per batch.
pub const MAX_RECORDS: usize = 1_000;
/// Bytes per batch.
pub const MAX_BATCH_BYTES: usize = 5 * 1024 * 1024;
/// How far a batch's timestamp may be from the server's clock, either way.
pub const CLOCK_WINDOW: TimeDelta = TimeDelta::minutes(5);
/// Namespace of the event ids of pushed records (UUIDv5 of the record id); the stored id
/// then scopes it by integration like a pulled event's. Never change it.
const RECORD_NAMESPACE: Uuid = Uuid::from_u128(0x6c77_6973_6c61_6e64_8000_0000_0000_0001);
/// The longest record id, user id, email or model accepted.
const MAX_FIELD_CHARS: usize = 512;

type HmacSha256 = hmac::Hmac<sha2_hmac::Sha256>;

/// What `POST /api/v1/integrations` with `kind: island` takes.
#[derive(Debug, Clone)]
pub struct NewIslandIntegration {
    pub name: String,
    pub project: String,
    pub data_plane: String,
    /// The signing secret; generated (32 random bytes) when not given.
    pub secret: Option<Secret>,
}

/// An added Island integration and its signing secret, shown this once.
#[derive(Debug, Clone)]
pub struct IslandCreated {
    pub integration: IntegrationView,
    pub secret: Secret,
}

/// A pushed batch.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IslandBatch {
    /// 1 to 1,000 records.
    pub records: Vec<IslandRecord>,
}

/// One prompt and its response, as Island sends it.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IslandRecord {
    /// Island's id of the record, unique per integration: a record sent again with the same
    /// id replaces (or, unchanged, leaves) the stored event.
    pub id: String,
    pub user: IslandUser,
    /// When the prompt was sent (RFC 3339).
    pub time: DateTime<Utc>,
    pub model: Option<String>,
    /// The conversation the prompt belongs to (default: the record id).
    pub session_id: Option<String>,
    /// The prompt text.
    pub input: String,
    /// The response text (empty or absent: no response yet).
    #[serde(default)]
    pub output: String,
    #[serde(default)]
    pub tool_calls: Vec<IslandToolCall>,
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IslandUser {
    pub id: String,
    pub email: String,
}

/// A tool the assistant called, with its result when there is one.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IslandToolCall {
    /// Default: `<record id>:tool:<index>`.
    pub id: Option<String>,
    pub name: String,
    /// The tool input, any JSON.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub input: serde_json::Value,
    pub result: Option<String>,
    #[serde(default)]
    pub is_error: bool,
}

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct IslandReceipt {
    pub received: u64,
    /// Records new or changed, evaluated and stored.
    pub stored: u64,
    /// Records already stored with the same content and policy set version: left as they are.
    pub unchanged: u64,
    /// Policy findings of the stored records.
    pub violations: u64,
}

/// Why a push is refused.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// 401: unknown integration, missing or bad signature, or a timestamp outside the window.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// 413: more than [`MAX_RECORDS`] records or [`MAX_BATCH_BYTES`] bytes.
    #[error("{0}")]
    TooLarge(String),
    /// 400: `field` is e.g. `records[3].time`.
    #[error("invalid {field}: {message}")]
    Invalid { field: String, message: String },
    #[error(transparent)]
    Service(#[from] Error),
}

impl PushError {
    fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A fresh secret: 32 random bytes, hex, with a prefix that says what it is.
fn generate_secret() -> Secret {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    Secret::new(format!("lwisl_{}", hex::encode(bytes)))
}

/// The `x-logwarden-signature` value of `body` signed at `timestamp` with `secret`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks the timestamp window and the signature (in constant time).
fn verify(
    secret: &Secret,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(), PushError> {
    let timestamp: i64 = timestamp
        .ok_or(PushError::Unauthorized(
            "missing x-logwarden-timestamp (Unix seconds when the batch was signed)",
        ))?
        .trim()
        .parse()
        .map_err(|_| PushError::Unauthorized("x-logwarden-timestamp must be Unix seconds"))?;
    let signed_at = DateTime::from_timestamp(timestamp, 0).ok_or(PushError::Unauthorized(
        "x-logwarden-timestamp is out of range",
    ))?;
    if (now - signed_at).abs() > CLOCK_WINDOW {
        return Err(PushError::Unauthorized(
            "x-logwarden-timestamp is more than 5 minutes from the server's clock",
        ));
    }
    let signature = signature.ok_or(PushError::Unauthorized(
        "missing x-logwarden-signature (sha256=<hex HMAC-SHA256 of \"{timestamp}.{body}\">)",
    ))?;
    let bad = PushError::Unauthorized("the signature does not match the body and timestamp");
    let hex_part = signature
        .trim()
        .strip_prefix("sha256=")
        .ok_or(PushError::Unauthorized(
            "x-logwarden-signature must start with sha256=",
        ))?;
    let given = hex::decode(hex_part)
        .map_err(|_| PushError::Unauthorized("x-logwarden-signature must be sha256= and hex"))?;
    let mut mac =
        HmacSha256::new_from_slice(secret.expose().as_bytes()).expect("HMAC takes any key");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&given).map_err(|_| bad)
}

/// The records of a body, each checked, or the first bad one by index and field.
fn parse_batch(body: &[u8]) -> Result<Vec<IslandRecord>, PushError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Raw {
        records: Vec<serde_json::Value>,
    }
    let raw: Raw = serde_json::from_slice(body).map_err(|err| {
        PushError::invalid(
            "records",
            format!("the body must be a JSON object {{\"records\": [...]}}: {err}"),
        )
    })?;
    if raw.records.is_empty() {
        return Err(PushError::invalid(
            "records",
            "must hold 1 to 1,000 records",
        ));
    }
    if raw.records.len() > MAX_RECORDS {
        return Err(PushError::TooLarge(format!(
            "a batch holds at most {MAX_RECORDS} records; this one has {}",
            raw.records.len()
        )));
    }
    let mut seen = std::collections::HashMap::new();
    let mut records = Vec::with_capacity(raw.records.len());
    for (index, value) in raw.records.into_iter().enumerate() {
        let record: IslandRecord = serde_path_to_error::deserialize(value).map_err(|err| {
            let path = err.path().to_string();
            let message = err.inner().to_string();
            let mut field = if path == "." || path.is_empty() {
                format!("records[{index}]")
            } else {
                format!("records[{index}].{path}")
            };
            // A missing field has no path of its own: name it from the message.
            if let Some(name) = message
                .strip_prefix("missing field `")
                .and_then(|rest| rest.split('`').next())
            {
                field = format!("{field}.{name}");
            }
            PushError::invalid(field, message)
        })?;
        check_text(index, "id", &record.id)?;
        check_text(index, "user.id", &record.user.id)?;
        check_text(index, "user.email", &record.user.email)?;
        if !record.user.email.contains('@') {
            return Err(PushError::invalid(
                format!("records[{index}].user.email"),
                format!("{:?} is not an email address", record.user.email),
            ));
        }
        if let Some(model) = &record.model {
            check_text(index, "model", model)?;
        }
        if let Some(session) = &record.session_id {
            check_text(index, "session_id", session)?;
        }
        for (n, call) in record.tool_calls.iter().enumerate() {
            check_text(index, &format!("tool_calls[{n}].name"), &call.name)?;
        }
        if let Some(first) = seen.insert(record.id.clone(), index) {
            return Err(PushError::invalid(
                format!("records[{index}].id"),
                format!("{:?} is also the id of records[{first}]", record.id),
            ));
        }
        records.push(record);
    }
    Ok(records)
}

fn check_text(index: usize, field: &str, value: &str) -> Result<(), PushError> {
    if value.trim().is_empty() || value.chars().count() > MAX_FIELD_CHARS {
        return Err(PushError::invalid(
            format!("records[{index}].{field}"),
            format!("must be 1 to {MAX_FIELD_CHARS} characters"),
        ));
    }
    Ok(())
}

/// The prompt event of a record, as pairing would build it from a chat.
fn prompt_event(record: IslandRecord) -> PromptEvent {
    let mut tool_calls = Vec::with_capacity(record.tool_calls.len());
    let mut tool_results = Vec::new();
    for (n, call) in record.tool_calls.into_iter().enumerate() {
        let id = call.id.unwrap_or_else(|| format!("{}:tool:{n}", record.id));
        if let Some(text) = call.result {
            tool_results.push(ToolResult {
                tool_use_id: id.clone(),
                name: call.name.clone(),
                text,
                is_error: call.is_error,
            });
        }
        tool_calls.push(ToolCall {
            id,
            name: call.name,
            input: call.input,
        });
    }
    let prompt = (record.input.chars().count() as u64).div_ceil(CHARS_PER_TOKEN);
    let response = (record.output.chars().count() as u64).div_ceil(CHARS_PER_TOKEN);
    let complete = !record.output.is_empty();
    PromptEvent {
        id: Uuid::new_v5(&RECORD_NAMESPACE, record.id.as_bytes()),
        chat_id: record.session_id.unwrap_or_else(|| record.id.clone()),
        response_message_ids: if complete {
            vec![format!("{}:response", record.id)]
        } else {
            Vec::new()
        },
        user_message_id: record.id,
        user_id: record.user.id,
        user_email: record.user.email,
        model: record.model,
        project_id: None,
        input_text: record.input,
        output_text: record.output,
        tool_calls,
        tool_results,
        attachments: Vec::new(),
        artifacts: Vec::new(),
        event_time: record.time,
        responded_at: complete.then_some(record.time),
        complete,
        tokens: TokenEstimate {
            prompt,
            response,
            total: prompt + response,
        },
        // A record's freshness is its own time: a replay is as fresh as the stored copy.
        source_updated_at: record.time,
    }
}

fn job_error(err: logwarden_jobs::retry::JobError) -> Error {
    Error::Db(DbErr::Custom(err.to_string()))
}

impl Services {
    /// Records an Island integration: nothing to test upstream, so only the name, project
    /// and data plane are checked. Its secret is stored encrypted and returned this once.
    pub async fn add_island_integration(
        &self,
        new: NewIslandIntegration,
    ) -> Result<IslandCreated, Error> {
        let name = validate_integration_name(&new.name)?;
        let project_name = validate_name("project", &new.project)?;
        let plane = DataPlaneName::parse(&new.data_plane)
            .map_err(|err| Error::invalid("data_plane", err.to_string()))?;
        let secret = match new.secret {
            Some(secret) if secret.expose().trim().chars().count() < 32 => {
                return Err(Error::invalid(
                    "secret",
                    "must be at least 32 characters (leave it out to have one generated)",
                ))
            }
            Some(secret) => secret,
            None => generate_secret(),
        };
        let master_key = self.master_key()?;
        self.ensure_name_free(&name).await?;
        let id = self
            .record_integration(
                integration::ActiveModel {
                    name: Set(name),
                    kind: Set(IntegrationKind::Island),
                    api_key_ciphertext: Set(master_key.encrypt(&secret)),
                    api_key_last4: Set(secret.last4().to_owned()),
                    base_url: Set(String::new()),
                    organization_uuid: Set(None),
                    sync_watermark: Set(None),
                    ..Default::default()
                },
                &project_name,
                &plane,
            )
            .await?;
        Ok(IslandCreated {
            integration: self.integration(id).await?,
            secret,
        })
    }

    /// Verifies, checks and stores one pushed batch: all of it, or (on any error) none of it.
    pub async fn push_island_batch(
        &self,
        integration_id: i64,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<IslandReceipt, PushError> {
        let unknown = PushError::Unauthorized(
            "no Island integration with this id accepts pushes, or the signature does not match",
        );
        let Some(row) = integration::Entity::find_by_id(integration_id)
            .one(&self.db)
            .await
            .map_err(Error::from)?
        else {
            return Err(unknown);
        };
        if row.kind != IntegrationKind::Island || row.status == IntegrationStatus::Deleted {
            return Err(unknown);
        }
        let secret = self
            .master_key()?
            .decrypt(&row.api_key_ciphertext)
            .map_err(|err| Error::Configuration(err.to_string()))?;
        verify(&secret, timestamp, signature, body, Utc::now())?;
        if body.len() > MAX_BATCH_BYTES {
            return Err(PushError::TooLarge(format!(
                "a batch is at most {MAX_BATCH_BYTES} bytes; this one has {}",
                body.len()
            )));
        }
        if row.status == IntegrationStatus::Paused {
            return Err(Error::Conflict(
                "the integration is paused: resume it to accept pushes".to_owned(),
            )
            .into());
        }
        let events: Vec<PromptEvent> = parse_batch(body)?.into_iter().map(prompt_event).collect();
        let received = events.len() as u64;

        let evaluator = EvaluatorProvider::default()
            .for_integration(&self.db, row.id)
            .await
            .map_err(job_error)?;
        let sink = DbSink {
            db: self.db.clone(),
            integration_id: row.id,
            project_id: row.project_id,
            policy_set_version: evaluator.version(),
        };
        let unchanged = sink
            .unchanged(&events, evaluator.version())
            .await
            .map_err(job_error)?;
        let mut evaluated = Vec::with_capacity(events.len());
        let mut violations = 0u64;
        for event in events {
            if unchanged.contains(&event.id) {
                continue;
            }
            let verdict = evaluator.evaluate(&event).map_err(job_error)?;
            let (findings, tags, side_tags) = match verdict {
                Some(verdict) => (Some(verdict.findings), verdict.tags, verdict.side_tags),
                None => (None, Vec::new(), SideTags::default()),
            };
            violations += findings.as_ref().map_or(0, |f| f.len() as u64);
            evaluated.push(EvaluatedEvent {
                event,
                findings,
                tags,
                side_tags,
            });
        }
        let stored = evaluated.len() as u64;
        if !evaluated.is_empty() {
            sink.persist(IngestChunk {
                access_events: Vec::new(),
                events: evaluated,
                sessions: Vec::new(),
            })
            .await
            .map_err(job_error)?;
        }
        Ok(IslandReceipt {
            received,
            stored,
            unchanged: received - stored,
            violations,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_for_its_body_timestamp_and_secret() {
        let secret = Secret::new("s".repeat(40));
        let now = Utc::now();
        let ts = now.timestamp();
        let body = br#"{"records":[]}"#;
        let signature = sign(secret.expose(), ts, body);
        let ts_text = ts.to_string();
        assert!(verify(&secret, Some(&ts_text), Some(&signature), body, now).is_ok());
        assert!(verify(&secret, Some(&ts_text), Some(&signature), b"{}", now).is_err());
        let other = Secret::new("t".repeat(40));
        assert!(verify(&other, Some(&ts_text), Some(&signature), body, now).is_err());
        let later = now + TimeDelta::minutes(6);
        assert!(verify(&secret, Some(&ts_text), Some(&signature), body, later).is_err());
    }

    #[test]
    fn a_bad_record_is_named_by_its_index_and_field() {
        let body = br#"{"records":[
            {"id":"a","user":{"id":"u","email":"u@x.io"},"time":"2026-01-01T00:00:00Z","input":"hi"},
            {"id":"b","user":{"id":"u","email":"u@x.io"},"time":"yesterday","input":"hi"}
        ]}"#;
        match parse_batch(body) {
            Err(PushError::Invalid { field, .. }) => assert_eq!(field, "records[1].time"),
            other => panic!("{other:?}"),
        }
        let body = br#"{"records":[{"id":"b","user":{"id":"u"},"time":"2026-01-01T00:00:00Z","input":"hi"}]}"#;
        match parse_batch(body) {
            Err(PushError::Invalid { field, .. }) => assert_eq!(field, "records[0].user.email"),
            other => panic!("{other:?}"),
        }
    }
}
