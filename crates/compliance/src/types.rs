//! Records returned by the Compliance API, parsed leniently: known fields are typed, unknown
//! fields, activity types, actor types and content-block kinds are kept verbatim so nothing
//! the API adds later is lost or makes a page fail to parse, and every record re-serialises.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// Fields of a record that this crate does not model, kept so they survive a round trip.
pub type ExtraFields = Map<String, Value>;

/// A record with a stable identifier, the key for at-least-once deduplication.
pub trait Identified {
    /// The record's API identifier (`activity_…`, `claude_chat_…`, `claude_chat_msg_…`, …).
    fn id(&self) -> &str;
}

// ---------------------------------------------------------------------------------------------
// Pagination envelopes
// ---------------------------------------------------------------------------------------------

/// Cursor-paginated list (activities, chats): pass `last_id` as `after_id` for the next page in
/// the list's order, `first_id` as `before_id` for the other direction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub struct CursorPage<T> {
    #[serde(default = "Vec::new", deserialize_with = "null_as_default")]
    pub data: Vec<T>,
    #[serde(default)]
    pub has_more: bool,
    #[serde(default)]
    pub first_id: Option<String>,
    #[serde(default)]
    pub last_id: Option<String>,
}

/// Page-token list (users, groups, group members): pass `next_page` as `page`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub struct TokenPage<T> {
    #[serde(default = "Vec::new", deserialize_with = "null_as_default")]
    pub data: Vec<T>,
    #[serde(default)]
    pub has_more: bool,
    #[serde(default)]
    pub next_page: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Activity feed
// ---------------------------------------------------------------------------------------------

/// One Activity Feed record. The feed has hundreds of types, each with its own fields; the
/// common envelope is typed and everything type-specific (`claude_chat_id`, `filename`, …) is
/// in `extra`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    pub id: String,
    #[serde(deserialize_with = "timestamp")]
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub organization_id: Option<String>,
    #[serde(default)]
    pub organization_uuid: Option<String>,
    /// Activity type, kept as a string because new types appear without notice.
    #[serde(rename = "type")]
    pub activity_type: String,
    /// Who performed the action; `None` only if the API omitted the field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<Actor>,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

impl Activity {
    /// A type-specific string field, e.g. `claude_chat_id` or `filename`.
    pub fn extra_str(&self, field: &str) -> Option<&str> {
        self.extra.get(field).and_then(Value::as_str)
    }
}

impl Identified for Activity {
    fn id(&self) -> &str {
        &self.id
    }
}

/// The `actor` of an activity, a union discriminated by `type`. An actor whose type is unknown,
/// missing, or does not match its documented shape is kept whole in [`Actor::Other`].
#[derive(Debug, Clone, PartialEq)]
pub enum Actor {
    /// `user_actor`: a signed-in claude.ai or Console user.
    User(UserActor),
    /// `api_actor`: a customer-issued API key (including Compliance API calls).
    Api(ApiActor),
    /// `admin_api_key_actor`: an organisation admin using an Admin API key.
    AdminApiKey(AdminApiKeyActor),
    /// `unauthenticated_user_actor`: before sign-in completed.
    UnauthenticatedUser(UnauthenticatedUserActor),
    /// `anthropic_actor`: Anthropic acting on the organisation.
    Anthropic(AnthropicActor),
    /// `system_actor`: automated Anthropic processing.
    System(SystemActor),
    /// `service_account_actor`.
    ServiceAccount(ServiceAccountActor),
    /// `scim_directory_sync_actor`: an identity provider pushing a SCIM change.
    ScimDirectorySync(ScimDirectorySyncActor),
    /// Any other actor, as received.
    Other(Value),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserActor {
    pub email_address: String,
    pub user_id: String,
    #[serde(default)]
    pub ip_address: Option<String>,
    #[serde(default)]
    pub user_agent: Option<String>,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiActor {
    pub api_key_id: String,
    #[serde(default)]
    pub ip_address: Option<String>,
    #[serde(default)]
    pub user_agent: Option<String>,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdminApiKeyActor {
    pub admin_api_key_id: String,
    #[serde(default)]
    pub ip_address: Option<String>,
    #[serde(default)]
    pub user_agent: Option<String>,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnauthenticatedUserActor {
    #[serde(default)]
    pub unauthenticated_email_address: Option<String>,
    #[serde(default)]
    pub ip_address: Option<String>,
    #[serde(default)]
    pub user_agent: Option<String>,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnthropicActor {
    #[serde(default)]
    pub email_address: Option<String>,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SystemActor {
    #[serde(default)]
    pub service: Option<String>,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceAccountActor {
    pub service_account_id: String,
    #[serde(default)]
    pub ip_address: Option<String>,
    #[serde(default)]
    pub user_agent: Option<String>,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScimDirectorySyncActor {
    pub directory_id: String,
    pub workos_event_id: String,
    #[serde(default)]
    pub idp_connection_type: Option<String>,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

impl Actor {
    /// The actor's `type` discriminator as sent by the API (`None` if it had none).
    pub fn kind(&self) -> Option<&str> {
        match self {
            Actor::User(_) => Some("user_actor"),
            Actor::Api(_) => Some("api_actor"),
            Actor::AdminApiKey(_) => Some("admin_api_key_actor"),
            Actor::UnauthenticatedUser(_) => Some("unauthenticated_user_actor"),
            Actor::Anthropic(_) => Some("anthropic_actor"),
            Actor::System(_) => Some("system_actor"),
            Actor::ServiceAccount(_) => Some("service_account_actor"),
            Actor::ScimDirectorySync(_) => Some("scim_directory_sync_actor"),
            Actor::Other(raw) => raw.get("type").and_then(Value::as_str),
        }
    }

    /// The `user_…` id of a user actor.
    pub fn user_id(&self) -> Option<&str> {
        match self {
            Actor::User(user) => Some(&user.user_id),
            Actor::Other(raw) => raw.get("user_id").and_then(Value::as_str),
            _ => None,
        }
    }

    /// The email the actor acted as, when the actor type carries one.
    pub fn email_address(&self) -> Option<&str> {
        match self {
            Actor::User(user) => Some(&user.email_address),
            Actor::UnauthenticatedUser(user) => user.unauthenticated_email_address.as_deref(),
            Actor::Anthropic(actor) => actor.email_address.as_deref(),
            Actor::Other(raw) => raw.get("email_address").and_then(Value::as_str),
            _ => None,
        }
    }

    /// The client IP address, when the actor type carries one.
    pub fn ip_address(&self) -> Option<&str> {
        match self {
            Actor::User(a) => a.ip_address.as_deref(),
            Actor::Api(a) => a.ip_address.as_deref(),
            Actor::AdminApiKey(a) => a.ip_address.as_deref(),
            Actor::UnauthenticatedUser(a) => a.ip_address.as_deref(),
            Actor::ServiceAccount(a) => a.ip_address.as_deref(),
            Actor::Other(raw) => raw.get("ip_address").and_then(Value::as_str),
            Actor::Anthropic(_) | Actor::System(_) | Actor::ScimDirectorySync(_) => None,
        }
    }
}

impl<'de> Deserialize<'de> for Actor {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Value::deserialize(deserializer)?;
        let Some((kind, fields)) = split_tag(&raw) else {
            return Ok(Actor::Other(raw));
        };
        let parsed = match kind.as_str() {
            "user_actor" => parse_variant(fields, Actor::User),
            "api_actor" => parse_variant(fields, Actor::Api),
            "admin_api_key_actor" => parse_variant(fields, Actor::AdminApiKey),
            "unauthenticated_user_actor" => parse_variant(fields, Actor::UnauthenticatedUser),
            "anthropic_actor" => parse_variant(fields, Actor::Anthropic),
            "system_actor" => parse_variant(fields, Actor::System),
            "service_account_actor" => parse_variant(fields, Actor::ServiceAccount),
            "scim_directory_sync_actor" => parse_variant(fields, Actor::ScimDirectorySync),
            _ => None,
        };
        Ok(parsed.unwrap_or(Actor::Other(raw)))
    }
}

impl Serialize for Actor {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Actor::User(a) => serialize_tagged("user_actor", a, serializer),
            Actor::Api(a) => serialize_tagged("api_actor", a, serializer),
            Actor::AdminApiKey(a) => serialize_tagged("admin_api_key_actor", a, serializer),
            Actor::UnauthenticatedUser(a) => {
                serialize_tagged("unauthenticated_user_actor", a, serializer)
            }
            Actor::Anthropic(a) => serialize_tagged("anthropic_actor", a, serializer),
            Actor::System(a) => serialize_tagged("system_actor", a, serializer),
            Actor::ServiceAccount(a) => serialize_tagged("service_account_actor", a, serializer),
            Actor::ScimDirectorySync(a) => {
                serialize_tagged("scim_directory_sync_actor", a, serializer)
            }
            Actor::Other(raw) => raw.serialize(serializer),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Chats and messages
// ---------------------------------------------------------------------------------------------

/// Chat metadata, as listed by `GET /v1/compliance/apps/chats`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chat {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(deserialize_with = "timestamp")]
    pub created_at: DateTime<Utc>,
    #[serde(deserialize_with = "timestamp")]
    pub updated_at: DateTime<Utc>,
    /// Set when the user soft-deleted the chat in claude.ai; the chat stays readable.
    #[serde(default, deserialize_with = "optional_timestamp")]
    pub deleted_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub href: String,
    /// Null for legacy chats that never recorded a model.
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub organization_uuid: String,
    #[serde(default)]
    pub project_id: Option<String>,
    #[serde(default)]
    pub user: Option<ChatUser>,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

impl Chat {
    pub fn is_deleted(&self) -> bool {
        self.deleted_at.is_some()
    }
}

impl Identified for Chat {
    fn id(&self) -> &str {
        &self.id
    }
}

/// The chat's owner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatUser {
    pub id: String,
    #[serde(default)]
    pub email_address: String,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// Response of `GET /v1/compliance/apps/chats/{chat_id}/messages`: the chat's metadata, its
/// messages, and the cursor fields for paging through long chats.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessages {
    #[serde(flatten)]
    pub chat: Chat,
    #[serde(default = "Vec::new", deserialize_with = "null_as_default")]
    pub chat_messages: Vec<Message>,
    #[serde(default)]
    pub has_more: bool,
    #[serde(default)]
    pub first_id: Option<String>,
    #[serde(default)]
    pub last_id: Option<String>,
}

/// Who sent a message. Unknown roles are kept rather than rejected.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum Role {
    User,
    Assistant,
    Unknown(String),
}

impl Role {
    pub fn as_str(&self) -> &str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Unknown(other) => other,
        }
    }
}

impl From<String> for Role {
    fn from(value: String) -> Self {
        match value.as_str() {
            "user" => Role::User,
            "assistant" => Role::Assistant,
            _ => Role::Unknown(value),
        }
    }
}

impl From<Role> for String {
    fn from(role: Role) -> Self {
        match role {
            Role::User => "user".to_owned(),
            Role::Assistant => "assistant".to_owned(),
            Role::Unknown(other) => other,
        }
    }
}

/// One chat message. `created_at` is when a user sent it, or when the assistant finished it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub id: String,
    pub role: Role,
    #[serde(deserialize_with = "timestamp")]
    pub created_at: DateTime<Utc>,
    #[serde(default = "Vec::new", deserialize_with = "null_as_default")]
    pub content: Vec<ContentBlock>,
    /// Uploads attached by the user; may be null.
    #[serde(default)]
    pub files: Option<Vec<FileRef>>,
    /// Files the assistant produced through tool use; may be null.
    #[serde(default)]
    pub generated_files: Option<Vec<GeneratedFile>>,
    /// Artifact versions the assistant produced or updated; may be null.
    #[serde(default)]
    pub artifacts: Option<Vec<Artifact>>,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

impl Message {
    /// The message's text blocks joined by a blank line, in order.
    pub fn text(&self) -> String {
        let parts: Vec<&str> = self
            .content
            .iter()
            .filter_map(|block| match block {
                ContentBlock::Text(text) => Some(text.text.as_str()),
                _ => None,
            })
            .collect();
        parts.join("\n\n")
    }

    /// The message's tool invocations, in order.
    pub fn tool_uses(&self) -> impl Iterator<Item = &ToolUseBlock> {
        self.content.iter().filter_map(|block| match block {
            ContentBlock::ToolUse(tool_use) => Some(tool_use),
            _ => None,
        })
    }

    /// The message's tool results, in order.
    pub fn tool_results(&self) -> impl Iterator<Item = &ToolResultBlock> {
        self.content.iter().filter_map(|block| match block {
            ContentBlock::ToolResult(result) => Some(result),
            _ => None,
        })
    }

    /// Whether any block says the server shortened its content.
    pub fn is_truncated(&self) -> bool {
        self.content.iter().any(|block| match block {
            ContentBlock::Text(b) => b.truncated,
            ContentBlock::ToolUse(b) => b.truncated,
            ContentBlock::ToolResult(b) => b.truncated,
            ContentBlock::Unknown(_) => false,
        })
    }
}

impl Identified for Message {
    fn id(&self) -> &str {
        &self.id
    }
}

/// One content block of a message, discriminated by `type`. A block of a kind this crate does
/// not know, or that does not match its documented shape, is kept whole in `Unknown`; known
/// kinds default missing or null fields so their text is not demoted to `Unknown`.
#[derive(Debug, Clone, PartialEq)]
pub enum ContentBlock {
    Text(TextBlock),
    ToolUse(ToolUseBlock),
    ToolResult(ToolResultBlock),
    Unknown(Value),
}

impl ContentBlock {
    /// The block's `type` as sent by the API.
    pub fn kind(&self) -> Option<&str> {
        match self {
            ContentBlock::Text(_) => Some("text"),
            ContentBlock::ToolUse(_) => Some("tool_use"),
            ContentBlock::ToolResult(_) => Some("tool_result"),
            ContentBlock::Unknown(raw) => raw.get("type").and_then(Value::as_str),
        }
    }
}

impl<'de> Deserialize<'de> for ContentBlock {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Value::deserialize(deserializer)?;
        let Some((kind, fields)) = split_tag(&raw) else {
            return Ok(ContentBlock::Unknown(raw));
        };
        let parsed = match kind.as_str() {
            "text" => parse_variant(fields, ContentBlock::Text),
            "tool_use" => parse_variant(fields, ContentBlock::ToolUse),
            "tool_result" => parse_variant(fields, ContentBlock::ToolResult),
            _ => None,
        };
        Ok(parsed.unwrap_or(ContentBlock::Unknown(raw)))
    }
}

impl Serialize for ContentBlock {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ContentBlock::Text(b) => serialize_tagged("text", b, serializer),
            ContentBlock::ToolUse(b) => serialize_tagged("tool_use", b, serializer),
            ContentBlock::ToolResult(b) => serialize_tagged("tool_result", b, serializer),
            ContentBlock::Unknown(raw) => raw.serialize(serializer),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextBlock {
    #[serde(default, deserialize_with = "null_as_default")]
    pub text: String,
    /// Reasoning-tag content was removed from `text` on export.
    #[serde(default)]
    pub thinking_redacted: bool,
    #[serde(default)]
    pub truncated: bool,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolUseBlock {
    /// `toolu_…`; may be null.
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    /// The tool's arguments as a JSON-encoded string (possibly shortened, see `truncated`).
    /// An object sent instead of a string is re-encoded so no input is lost.
    #[serde(default, deserialize_with = "json_encoded_string")]
    pub input: String,
    #[serde(default)]
    pub integration_name: Option<String>,
    #[serde(default)]
    pub mcp_server_url: Option<String>,
    #[serde(default)]
    pub truncated: bool,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

impl ToolUseBlock {
    /// The decoded input, or `None` when it is not valid JSON (e.g. shortened by the server).
    pub fn input_json(&self) -> Option<Value> {
        serde_json::from_str(&self.input).ok()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolResultBlock {
    #[serde(default)]
    pub tool_use_id: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(default = "Vec::new", deserialize_with = "null_as_default")]
    pub content: Vec<ToolResultContent>,
    #[serde(default)]
    pub is_error: bool,
    #[serde(default)]
    pub integration_name: Option<String>,
    #[serde(default)]
    pub mcp_server_url: Option<String>,
    #[serde(default)]
    pub truncated: bool,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

impl ToolResultBlock {
    /// The result's text items joined by newlines.
    pub fn text(&self) -> String {
        let parts: Vec<&str> = self
            .content
            .iter()
            .filter_map(|item| item.text.as_deref())
            .collect();
        parts.join("\n")
    }
}

/// One item of a tool result; today always `{"type": "text", "text": …}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolResultContent {
    #[serde(rename = "type", default = "text_kind")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

fn text_kind() -> String {
    "text".to_owned()
}

/// A file the user attached to a message (`claude_file_…`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileRef {
    pub id: String,
    #[serde(default)]
    pub filename: String,
    #[serde(default)]
    pub mime_type: Option<String>,
    #[serde(default)]
    pub size_bytes: Option<u64>,
    #[serde(default)]
    pub md5: Option<String>,
    #[serde(default, deserialize_with = "optional_timestamp")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// A file the assistant produced through tool use (`claude_gen_file_…`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeneratedFile {
    pub id: String,
    #[serde(default)]
    pub filename: String,
    #[serde(default)]
    pub mime_type: Option<String>,
    #[serde(default)]
    pub size_bytes: Option<u64>,
    #[serde(default)]
    pub md5: Option<String>,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// One artifact version the assistant produced or updated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Artifact {
    /// `claude_artifact_…`, stable across versions.
    pub id: String,
    /// `claude_artifact_version_…`, the id to fetch this version's content.
    pub version_id: String,
    #[serde(default)]
    pub title: Option<String>,
    /// MIME-like type, e.g. `application/vnd.ant.code`.
    #[serde(default)]
    pub artifact_type: Option<String>,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// Response of `GET /v1/compliance/apps/chats/files/{file_id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileMetadata {
    pub id: String,
    #[serde(default)]
    pub filename: Option<String>,
    #[serde(default)]
    pub mime_type: Option<String>,
    #[serde(default)]
    pub size_bytes: Option<u64>,
    #[serde(default)]
    pub md5: Option<String>,
    #[serde(default, deserialize_with = "optional_timestamp")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default = "Vec::new", deserialize_with = "null_as_default")]
    pub message_ids: Vec<String>,
    #[serde(default = "Vec::new", deserialize_with = "null_as_default")]
    pub claude_chat_ids: Vec<String>,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

// ---------------------------------------------------------------------------------------------
// Organisation directory
// ---------------------------------------------------------------------------------------------

/// A current member of an organisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    #[serde(default, deserialize_with = "optional_timestamp")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub full_name: String,
    /// Built-in role (`admin`, `owner`, `user`, …), kept as a string because the set grows.
    #[serde(default)]
    pub organization_role: Option<String>,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

impl Identified for User {
    fn id(&self) -> &str {
        &self.id
    }
}

/// An RBAC group (`rbac_group_…`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub roles: Option<Vec<String>>,
    /// `direct` or `scim`.
    #[serde(default)]
    pub source_type: Option<String>,
    #[serde(default, deserialize_with = "optional_timestamp")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "optional_timestamp")]
    pub updated_at: Option<DateTime<Utc>>,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

impl Identified for Group {
    fn id(&self) -> &str {
        &self.id
    }
}

/// A member of an RBAC group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupMember {
    pub user_id: String,
    #[serde(default)]
    pub email: String,
    #[serde(default, deserialize_with = "optional_timestamp")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "optional_timestamp")]
    pub updated_at: Option<DateTime<Utc>>,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

impl Identified for GroupMember {
    fn id(&self) -> &str {
        &self.user_id
    }
}

// ---------------------------------------------------------------------------------------------
// Serde helpers
// ---------------------------------------------------------------------------------------------

/// The `type` tag of a tagged object and its other fields, or `None` if it has no string tag.
fn split_tag(raw: &Value) -> Option<(String, Map<String, Value>)> {
    let object = raw.as_object()?;
    let kind = object.get("type")?.as_str()?.to_owned();
    let mut fields = object.clone();
    fields.remove("type");
    Some((kind, fields))
}

/// Parses a known variant; `None` when the fields do not match its shape, so the caller keeps
/// the raw value instead of failing the whole page.
fn parse_variant<T: DeserializeOwned, V>(
    fields: Map<String, Value>,
    wrap: impl FnOnce(T) -> V,
) -> Option<V> {
    serde_json::from_value(Value::Object(fields)).ok().map(wrap)
}

fn serialize_tagged<T: Serialize, S: Serializer>(
    kind: &str,
    value: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let mut object = match serde_json::to_value(value).map_err(serde::ser::Error::custom)? {
        Value::Object(object) => object,
        _ => return Err(serde::ser::Error::custom("tagged variant is not an object")),
    };
    object.insert("type".to_owned(), Value::String(kind.to_owned()));
    Value::Object(object).serialize(serializer)
}

fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

fn json_encoded_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::String(text) => text,
        Value::Null => String::new(),
        other => other.to_string(),
    })
}

/// Parses an API timestamp: RFC 3339, or (as the group endpoints send) an ISO 8601 date-time
/// without offset, which is taken as UTC.
pub(crate) fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(parsed) = DateTime::parse_from_rfc3339(text) {
        return Some(parsed.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|naive| naive.and_utc())
}

fn timestamp<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_timestamp(&text).ok_or_else(|| {
        D::Error::custom(format!(
            "invalid timestamp {text:?}: expected RFC 3339 such as 2026-04-08T15:55:51Z"
        ))
    })
}

fn optional_timestamp<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    match Option::<String>::deserialize(deserializer)? {
        None => Ok(None),
        Some(text) => parse_timestamp(&text).map(Some).ok_or_else(|| {
            D::Error::custom(format!(
                "invalid timestamp {text:?}: expected RFC 3339 such as 2026-04-08T15:55:51Z"
            ))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(value: &T) {
        let encoded = serde_json::to_value(value).expect("serialise");
        let decoded: T = serde_json::from_value(encoded).expect("parse re-serialised value");
        assert_eq!(&decoded, value);
    }

    #[test]
    fn an_activity_page_from_the_reference_parses_with_its_type_specific_fields() {
        let page: CursorPage<Activity> = serde_json::from_value(json!({
            "data": [{
                "id": "activity_01XyDMpzjS89pFZXqSFUBDr6",
                "created_at": "2026-04-10T08:09:10Z",
                "organization_id": "org_01Wv6QeBcDfGhJkLmNpQrSt8",
                "organization_uuid": "abcdef01-2345-6789-abcd-ef0123456789",
                "actor": {
                    "type": "user_actor",
                    "email_address": "jane@example.com",
                    "user_id": "user_01TuVwXyZaBcDeFgH2JkLmN4",
                    "ip_address": "192.0.2.34",
                    "user_agent": "Mozilla/5.0..."
                },
                "type": "claude_chat_created",
                "claude_chat_id": "claude_chat_01XyDMpzjS89pFZXqSFUBDr6",
                "claude_project_id": "claude_proj_01KGp4eZNug9ri4kE35RSppq"
            }],
            "has_more": true,
            "first_id": "activity_01XyDMpzjS89pFZXqSFUBDr6",
            "last_id": "activity_01XyDMpzjS89pFZXqSFUBDr6"
        }))
        .expect("parse");

        assert!(page.has_more);
        assert_eq!(
            page.last_id.as_deref(),
            Some("activity_01XyDMpzjS89pFZXqSFUBDr6")
        );
        let activity = &page.data[0];
        assert_eq!(activity.activity_type, "claude_chat_created");
        assert_eq!(
            activity.created_at,
            DateTime::parse_from_rfc3339("2026-04-10T08:09:10Z").expect("ts")
        );
        assert_eq!(
            activity.extra_str("claude_chat_id"),
            Some("claude_chat_01XyDMpzjS89pFZXqSFUBDr6")
        );
        let actor = activity.actor.as_ref().expect("actor");
        assert_eq!(actor.kind(), Some("user_actor"));
        assert_eq!(actor.user_id(), Some("user_01TuVwXyZaBcDeFgH2JkLmN4"));
        assert_eq!(actor.email_address(), Some("jane@example.com"));
        assert_eq!(actor.ip_address(), Some("192.0.2.34"));
        round_trip(&page);
    }

    #[test]
    fn an_unknown_activity_type_and_its_fields_are_kept_and_re_serialised() {
        let raw = json!({
            "id": "activity_9",
            "created_at": "2026-04-10T08:09:10.117Z",
            "organization_id": null,
            "organization_uuid": null,
            "type": "quantum_teleport_requested",
            "actor": {"type": "api_actor", "api_key_id": "apikey_1", "ip_address": "198.51.100.7", "user_agent": "curl/8"},
            "destination": {"planet": "mars"},
            "attempts": 3
        });
        let activity: Activity = serde_json::from_value(raw.clone()).expect("parse");

        assert_eq!(activity.activity_type, "quantum_teleport_requested");
        assert_eq!(activity.organization_uuid, None);
        assert_eq!(activity.extra.get("attempts"), Some(&json!(3)));
        assert!(matches!(&activity.actor, Some(Actor::Api(a)) if a.api_key_id == "apikey_1"));
        assert_eq!(serde_json::to_value(&activity).expect("serialise"), raw);
    }

    #[test]
    fn every_documented_actor_type_parses_into_its_variant() {
        let cases = [
            (
                json!({"type": "admin_api_key_actor", "admin_api_key_id": "k", "ip_address": "1.2.3.4", "user_agent": "ua"}),
                "admin_api_key_actor",
            ),
            (
                json!({"type": "unauthenticated_user_actor", "unauthenticated_email_address": "x@example.com", "ip_address": "1.2.3.4", "user_agent": "ua"}),
                "unauthenticated_user_actor",
            ),
            (
                json!({"type": "anthropic_actor", "email_address": null}),
                "anthropic_actor",
            ),
            (
                json!({"type": "system_actor", "service": "retention"}),
                "system_actor",
            ),
            (
                json!({"type": "service_account_actor", "service_account_id": "sa_1", "ip_address": "1.2.3.4", "user_agent": "ua"}),
                "service_account_actor",
            ),
            (
                json!({"type": "scim_directory_sync_actor", "directory_id": "d", "workos_event_id": "e", "idp_connection_type": "OktaSCIMV2"}),
                "scim_directory_sync_actor",
            ),
        ];
        for (raw, kind) in cases {
            let actor: Actor = serde_json::from_value(raw.clone()).expect("parse");
            assert!(
                !matches!(actor, Actor::Other(_)),
                "{kind} fell back to Other"
            );
            assert_eq!(actor.kind(), Some(kind));
            assert_eq!(serde_json::to_value(&actor).expect("serialise"), raw);
        }
    }

    #[test]
    fn an_unknown_or_misshapen_actor_is_kept_raw() {
        let federated = json!({"type": "federated_actor", "provider": {"type": "aws", "account_id": "1"}, "subject": "s"});
        let actor: Actor = serde_json::from_value(federated.clone()).expect("parse");
        assert_eq!(actor, Actor::Other(federated.clone()));
        assert_eq!(actor.kind(), Some("federated_actor"));
        assert_eq!(serde_json::to_value(&actor).expect("serialise"), federated);

        // A user_actor missing its required user_id must not fail the page.
        let misshapen = json!({"type": "user_actor", "email_address": "a@example.com"});
        let actor: Actor = serde_json::from_value(misshapen.clone()).expect("parse");
        assert_eq!(actor, Actor::Other(misshapen));
        assert_eq!(actor.email_address(), Some("a@example.com"));
    }

    fn messages_fixture() -> Value {
        json!({
            "id": "claude_chat_01H5CWunD7RpVJ5bHa8RCkja",
            "name": "Product Requirements Discussion",
            "created_at": "2026-04-10T08:09:10Z",
            "updated_at": "2026-04-10T09:10:11Z",
            "deleted_at": null,
            "href": "https://claude.ai/chat/abcdef01-2345-6789-abcd-ef0123456789",
            "model": "claude-opus-5",
            "organization_id": "org_abc123",
            "organization_uuid": "91012d09-e48b-438e-a489-1bebfd8fa6f9",
            "project_id": "claude_proj_01KGp4eZNug9ri4kE35RSppq",
            "user": {"id": "user_01XyDMpzjS89pFZXqSFUBDr6", "email_address": "jane@example.com"},
            "chat_messages": [
                {
                    "id": "claude_chat_msg_01VnBPkLmtj7YdW5QrXKEA8c",
                    "role": "user",
                    "created_at": "2026-04-10T08:09:10Z",
                    "content": [{"type": "text", "text": "Look up the weather", "thinking_redacted": false, "truncated": false}],
                    "files": [{
                        "id": "claude_file_01UaT9wBcDfGhJkLmNpQrSv7",
                        "filename": "dashboard_mockup_v1.pdf",
                        "mime_type": "application/pdf",
                        "size_bytes": 12345,
                        "md5": "5d41402abc4b2a76b9719d911017c592",
                        "created_at": "2026-04-10T08:09:10Z"
                    }],
                    "generated_files": null,
                    "artifacts": null
                },
                {
                    "id": "claude_chat_msg_01M8tFcHwbQ2kY6NpEjRZv4D",
                    "role": "assistant",
                    "created_at": "2026-04-10T08:09:11Z",
                    "content": [
                        {"type": "text", "text": "Checking.", "thinking_redacted": true, "truncated": false},
                        {"type": "tool_use", "id": "toolu_01AbC", "name": "get_weather", "input": "{\"city\":\"Paris\"}",
                         "integration_name": null, "mcp_server_url": "https://mcp.example.com/sse", "truncated": false},
                        {"type": "tool_result", "tool_use_id": "toolu_01AbC", "name": "get_weather",
                         "content": [{"type": "text", "text": "18C"}, {"type": "text", "text": "sunny"}],
                         "is_error": false, "integration_name": null, "mcp_server_url": null, "truncated": false},
                        {"type": "text", "text": "It is 18C and sunny.", "thinking_redacted": false, "truncated": false},
                        {"type": "hologram", "frames": 24}
                    ],
                    "files": null,
                    "generated_files": [{"id": "claude_gen_file_01TbR8", "filename": "weather.csv", "mime_type": "text/csv", "md5": null, "size_bytes": null}],
                    "artifacts": [{"id": "claude_artifact_01Hq", "version_id": "claude_artifact_version_01Km", "title": "Forecast", "artifact_type": "text/markdown"}],
                    "sentiment": "cheerful"
                }
            ],
            "has_more": false,
            "first_id": "eyJtc2dfdXVpZCI6ICIwZjcwYjA2Ni0uLi4ifQ==",
            "last_id": "eyJtc2dfdXVpZCI6ICJhNGUwYjE3Mi0uLi4ifQ=="
        })
    }

    #[test]
    fn chat_messages_parse_every_block_kind_and_keep_unknown_ones() {
        let raw = messages_fixture();
        let chat: ChatMessages = serde_json::from_value(raw.clone()).expect("parse");

        assert_eq!(chat.chat.id, "claude_chat_01H5CWunD7RpVJ5bHa8RCkja");
        assert_eq!(
            chat.chat.extra.get("organization_id"),
            Some(&json!("org_abc123"))
        );
        assert!(!chat.chat.extra.contains_key("chat_messages"));
        assert_eq!(chat.chat_messages.len(), 2);

        let user = &chat.chat_messages[0];
        assert_eq!(user.role, Role::User);
        assert_eq!(user.text(), "Look up the weather");
        assert_eq!(user.files.as_ref().map(Vec::len), Some(1));
        assert_eq!(user.generated_files, None);
        assert_eq!(user.artifacts, None);

        let assistant = &chat.chat_messages[1];
        assert_eq!(assistant.role, Role::Assistant);
        assert_eq!(assistant.text(), "Checking.\n\nIt is 18C and sunny.");
        let tool_uses: Vec<_> = assistant.tool_uses().collect();
        assert_eq!(tool_uses.len(), 1);
        assert_eq!(tool_uses[0].name, "get_weather");
        assert_eq!(tool_uses[0].input_json(), Some(json!({"city": "Paris"})));
        assert_eq!(
            tool_uses[0].mcp_server_url.as_deref(),
            Some("https://mcp.example.com/sse")
        );
        let results: Vec<_> = assistant.tool_results().collect();
        assert_eq!(results[0].tool_use_id.as_deref(), Some("toolu_01AbC"));
        assert_eq!(results[0].text(), "18C\nsunny");
        assert!(matches!(&assistant.content[1], ContentBlock::ToolUse(_)));
        assert!(matches!(&assistant.content[0], ContentBlock::Text(t) if t.thinking_redacted));
        assert_eq!(
            assistant.content[4],
            ContentBlock::Unknown(json!({"type": "hologram", "frames": 24}))
        );
        assert_eq!(assistant.content[4].kind(), Some("hologram"));
        assert_eq!(assistant.extra.get("sentiment"), Some(&json!("cheerful")));
        assert_eq!(
            assistant
                .artifacts
                .as_ref()
                .map(|a| a[0].version_id.as_str()),
            Some("claude_artifact_version_01Km")
        );

        assert_eq!(serde_json::to_value(&chat).expect("serialise"), raw);
    }

    #[test]
    fn a_deleted_chat_with_empty_content_and_null_arrays_parses() {
        let chat: ChatMessages = serde_json::from_value(json!({
            "id": "claude_chat_del",
            "name": "",
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-02T00:00:00Z",
            "deleted_at": "2026-01-03T00:00:00Z",
            "href": "https://claude.ai/chat/x",
            "model": null,
            "organization_uuid": "91012d09-e48b-438e-a489-1bebfd8fa6f9",
            "project_id": null,
            "user": null,
            "chat_messages": [{
                "id": "claude_chat_msg_del",
                "role": "user",
                "created_at": "2026-01-01T00:00:00Z",
                "content": [],
                "files": null,
                "generated_files": null,
                "artifacts": null
            }],
            "has_more": false,
            "first_id": null,
            "last_id": null
        }))
        .expect("parse");

        assert!(chat.chat.is_deleted());
        assert_eq!(chat.chat.user, None);
        assert_eq!(chat.chat.model, None);
        let message = &chat.chat_messages[0];
        assert!(message.content.is_empty());
        assert_eq!(message.text(), "");
        assert_eq!(
            (message.files.is_none(), message.artifacts.is_none()),
            (true, true)
        );
        round_trip(&chat);
    }

    #[test]
    fn optional_block_fields_absent_from_the_reference_example_default_to_false() {
        let message: Message = serde_json::from_value(json!({
            "id": "claude_chat_msg_abc123",
            "role": "assistant",
            "created_at": "2025-06-07T08:09:11Z",
            "content": [{"type": "text", "text": "hello"},
                        {"type": "tool_use", "name": "search", "input": {"q": "rust"}}]
        }))
        .expect("parse");

        assert!(
            matches!(&message.content[0], ContentBlock::Text(t) if !t.truncated && !t.thinking_redacted)
        );
        let tool_use = message.tool_uses().next().expect("tool use");
        assert_eq!(tool_use.id, None);
        assert_eq!(tool_use.input_json(), Some(json!({"q": "rust"})));
        assert_eq!(message.files, None);
        assert!(!message.is_truncated());
    }

    #[test]
    fn a_text_block_with_null_text_stays_a_text_block() {
        let block: ContentBlock =
            serde_json::from_value(json!({"type": "text", "text": null, "citations": []}))
                .expect("parse");
        assert!(
            matches!(&block, ContentBlock::Text(t) if t.text.is_empty() && t.extra.contains_key("citations"))
        );
        let odd: ContentBlock =
            serde_json::from_value(json!({"type": "tool_use", "name": 7})).expect("parse");
        assert_eq!(
            odd,
            ContentBlock::Unknown(json!({"type": "tool_use", "name": 7}))
        );
    }

    #[test]
    fn an_unknown_role_is_kept() {
        let message: Message = serde_json::from_value(json!({
            "id": "m", "role": "system", "created_at": "2025-06-07T08:09:11Z", "content": null
        }))
        .expect("parse");
        assert_eq!(message.role, Role::Unknown("system".to_owned()));
        assert_eq!(message.role.as_str(), "system");
        round_trip(&message);
    }

    #[test]
    fn chat_list_reference_example_parses() {
        let page: CursorPage<Chat> = serde_json::from_value(json!({
            "data": [{
                "id": "claude_chat_abc123",
                "name": "Product Requirements Discussion",
                "created_at": "2025-06-07T08:09:10Z",
                "updated_at": "2025-06-07T09:10:11Z",
                "organization_id": "org_abc123",
                "organization_uuid": "abcdef0123-4567-89ab-cdef-0123456789ab",
                "project_id": "claude_proj_xyz789",
                "model": "claude-opus-4-7",
                "user": {"id": "user_xyz456", "email_address": "user@example.com"},
                "href": "https://claude.ai/chat/abcdef01-2345-6789-abcd-ef0123456789"
            }],
            "has_more": false,
            "first_id": "eyJrIjogImNyZWF0ZWRfYXQi",
            "last_id": "eyJrIjogImNyZWF0ZWRfYXQi"
        }))
        .expect("parse");
        let chat = &page.data[0];
        assert_eq!(chat.deleted_at, None);
        assert_eq!(
            chat.user.as_ref().map(|u| u.id.as_str()),
            Some("user_xyz456")
        );
        assert_eq!(chat.project_id.as_deref(), Some("claude_proj_xyz789"));
        round_trip(&page);
    }

    #[test]
    fn directory_records_parse_including_timestamps_without_offset() {
        let users: TokenPage<User> = serde_json::from_value(json!({
            "data": [{"id": "user_01WC", "created_at": "2025-03-12T18:22:41.123456Z",
                      "email": "jane.doe@example.com", "full_name": "Jane Doe", "organization_role": "admin"}],
            "has_more": true,
            "next_page": "cGFnZV90b2tlbl9leGFtcGxlXzE3MzQ1Njc4OTA="
        }))
        .expect("users");
        assert_eq!(
            users.next_page.as_deref(),
            Some("cGFnZV90b2tlbl9leGFtcGxlXzE3MzQ1Njc4OTA=")
        );
        assert_eq!(users.data[0].organization_role.as_deref(), Some("admin"));

        let groups: TokenPage<Group> = serde_json::from_value(json!({
            "data": [{"id": "rbac_group_012r", "created_at": "2025-03-12T18:22:41.123456",
                      "description": "All engineers", "name": "Engineering Team",
                      "roles": ["rbac_role_01SG"], "source_type": "scim", "updated_at": null}],
            "has_more": false,
            "next_page": null
        }))
        .expect("groups");
        let expected = DateTime::parse_from_rfc3339("2025-03-12T18:22:41.123456Z").expect("ts");
        assert_eq!(
            groups.data[0].created_at,
            Some(expected.with_timezone(&Utc))
        );
        assert_eq!(groups.data[0].updated_at, None);

        let members: TokenPage<GroupMember> = serde_json::from_value(json!({
            "data": [{"created_at": "2025-03-12T18:22:41.123456", "email": "jane.doe@example.com",
                      "updated_at": "2025-03-14T09:05:17.456789", "user_id": "user_01WC"}],
            "has_more": false, "next_page": null
        }))
        .expect("members");
        assert_eq!(members.data[0].id(), "user_01WC");
        round_trip(&groups);
        round_trip(&members);
    }

    #[test]
    fn file_metadata_reference_example_parses() {
        let file: FileMetadata = serde_json::from_value(json!({
            "id": "claude_file_xyz789", "filename": "quarterly_report.pdf", "mime_type": "application/pdf",
            "size_bytes": 1048576, "md5": "5d41402abc4b2a76b9719d911017c592",
            "created_at": "2024-01-15T10:30:00Z",
            "message_ids": ["claude_chat_msg_abc123"], "claude_chat_ids": ["claude_chat_def456"]
        }))
        .expect("parse");
        assert_eq!(file.size_bytes, Some(1_048_576));
        assert_eq!(file.claude_chat_ids, vec!["claude_chat_def456".to_owned()]);
        round_trip(&file);
    }

    #[test]
    fn a_bare_date_is_rejected_as_a_timestamp() {
        let result: Result<Chat, _> = serde_json::from_value(json!({
            "id": "c", "created_at": "2026-04-08", "updated_at": "2026-04-08T00:00:00Z"
        }));
        let message = result.expect_err("bare date").to_string();
        assert!(message.contains("2026-04-08"), "{message}");
    }

    #[test]
    fn timestamps_serialise_as_rfc3339_with_z() {
        let activity: Activity = serde_json::from_value(json!({
            "id": "a", "created_at": "2026-04-08T17:55:51+02:00", "type": "x"
        }))
        .expect("parse");
        let encoded = serde_json::to_value(&activity).expect("serialise");
        assert_eq!(encoded["created_at"], json!("2026-04-08T15:55:51Z"));
    }
}
