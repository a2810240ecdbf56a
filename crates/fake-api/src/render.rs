//! Turns generated records into the JSON shapes the real Compliance API returns.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

use super::conversations::{self, ToolKind, TOPICS};
use super::dataset::ChatState;
use super::generator::{
    Activity, Actor, Chat, ChatFile, Group, GroupMember, Message, MessageBody, Organisation, User,
};
use super::plants::PLANTS;

/// Timestamps as the content endpoints print them: `2026-04-10T08:09:10Z`.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn micros_z(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

// The group endpoints print naive ISO 8601 with microseconds, without a zone.
fn naive_micros(t: DateTime<Utc>) -> String {
    t.naive_utc().format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

pub fn actor(org: &Organisation, actor: &Actor) -> Value {
    match actor {
        Actor::User(index) => {
            let user = &org.users[*index];
            json!({
                "type": "user_actor",
                "email_address": user.email,
                "user_id": user.id,
                "ip_address": user.ip_address,
                "user_agent": user.user_agent,
            })
        }
        Actor::Api {
            api_key_id,
            ip_address,
            user_agent,
        } => json!({
            "type": "api_actor",
            "api_key_id": api_key_id,
            "ip_address": ip_address,
            "user_agent": user_agent,
        }),
        Actor::AdminApiKey {
            admin_api_key_id,
            ip_address,
            user_agent,
        } => json!({
            "type": "admin_api_key_actor",
            "admin_api_key_id": admin_api_key_id,
            "ip_address": ip_address,
            "user_agent": user_agent,
        }),
        Actor::Unauthenticated {
            email,
            ip_address,
            user_agent,
        } => json!({
            "type": "unauthenticated_user_actor",
            "unauthenticated_email_address": email,
            "ip_address": ip_address,
            "user_agent": user_agent,
        }),
        Actor::System { service } => json!({ "type": "system_actor", "service": service }),
        Actor::ScimDirectorySync {
            directory_id,
            workos_event_id,
        } => json!({
            "type": "scim_directory_sync_actor",
            "directory_id": directory_id,
            "workos_event_id": workos_event_id,
            "idp_connection_type": "OktaSCIMV2",
        }),
    }
}

pub fn activity(org: &Organisation, activity: &Activity) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), json!(activity.id));
    out.insert("created_at".into(), json!(timestamp(activity.created_at)));
    let (org_id, org_uuid) = if activity.in_organisation {
        (json!(org.id), json!(org.uuid.to_string()))
    } else {
        (Value::Null, Value::Null)
    };
    out.insert("organization_id".into(), org_id);
    out.insert("organization_uuid".into(), org_uuid);
    out.insert("actor".into(), actor(org, &activity.actor));
    out.insert("type".into(), json!(activity.kind));
    for (name, value) in &activity.fields {
        out.insert((*name).into(), value.clone());
    }
    Value::Object(out)
}

fn chat_fields(org: &Organisation, chat: &Chat, state: ChatState) -> Map<String, Value> {
    let user = &org.users[chat.user];
    let mut out = Map::new();
    out.insert("id".into(), json!(chat.id));
    // A chat deleted in claude.ai keeps its metadata but loses its name.
    let name = if state.deleted_at.is_some() {
        ""
    } else {
        chat.name
    };
    out.insert("name".into(), json!(name));
    out.insert("created_at".into(), json!(timestamp(chat.created_at)));
    out.insert("updated_at".into(), json!(timestamp(state.updated_at)));
    out.insert("deleted_at".into(), json!(state.deleted_at.map(timestamp)));
    out.insert(
        "href".into(),
        json!(format!("https://claude.ai/chat/{}", chat.uuid)),
    );
    out.insert("model".into(), json!(chat.model));
    out.insert("organization_id".into(), json!(org.id));
    out.insert("organization_uuid".into(), json!(org.uuid.to_string()));
    out.insert(
        "project_id".into(),
        json!(chat.project.map(|p| org.projects[p].id.clone())),
    );
    out.insert(
        "user".into(),
        json!({ "id": user.id, "email_address": user.email }),
    );
    out
}

pub fn chat(org: &Organisation, chat: &Chat, state: ChatState) -> Value {
    Value::Object(chat_fields(org, chat, state))
}

/// Per-request limits on tool content, from `tool_use_input_max_chars` and
/// `tool_result_max_chars` (`None` = no limit).
#[derive(Debug, Clone, Copy, Default)]
pub struct ToolLimits {
    pub tool_use_input_max_chars: Option<usize>,
    pub tool_result_max_chars: Option<usize>,
}

fn shorten(text: &str, max: Option<usize>) -> (String, bool) {
    match max {
        Some(max) if text.chars().count() > max => (text.chars().take(max).collect(), true),
        _ => (text.to_string(), false),
    }
}

fn text_block(text: &str) -> Value {
    json!({ "type": "text", "text": text, "thinking_redacted": false, "truncated": false })
}

fn tool_intro(kind: ToolKind) -> &'static str {
    match kind {
        ToolKind::WebSearch => "Let me look that up.",
        ToolKind::Analysis => "I'll load the file and compute the totals.",
        ToolKind::DriveSearch => "Let me find the policy in your Google Drive.",
        ToolKind::IssueSearch => "I'll check the open issues.",
    }
}

/// The text blocks, tool calls and tool results of a message.
pub fn content(message: &Message, limits: ToolLimits) -> Vec<Value> {
    match &message.body {
        MessageBody::Prompt {
            topic,
            turn,
            variant,
        } => vec![text_block(&conversations::user_prompt(
            usize::from(*topic),
            usize::from(*turn),
            *variant,
        ))],
        MessageBody::Plant { plant } => {
            vec![text_block(
                PLANTS.get(usize::from(*plant)).map_or("", |p| p.text),
            )]
        }
        MessageBody::PlantReply { plant, variant } => {
            let policy = PLANTS.get(usize::from(*plant)).map_or("", |p| p.policy);
            vec![text_block(conversations::plant_reply(policy, *variant))]
        }
        MessageBody::Answer {
            topic,
            turn,
            variant,
            tool_use_id,
        } => {
            let answer =
                conversations::assistant_answer(usize::from(*topic), usize::from(*turn), *variant);
            let call = TOPICS.get(usize::from(*topic)).and_then(|t| t.tool);
            match (tool_use_id, call) {
                (Some(id), Some(call)) => {
                    let (input, input_cut) = shorten(call.input, limits.tool_use_input_max_chars);
                    let (result, result_cut) = shorten(call.result, limits.tool_result_max_chars);
                    vec![
                        text_block(tool_intro(call.kind)),
                        json!({
                            "type": "tool_use",
                            "id": id,
                            "name": call.kind.name(),
                            "input": input,
                            "integration_name": call.kind.integration_name(),
                            "mcp_server_url": call.kind.mcp_server_url(),
                            "truncated": input_cut,
                        }),
                        json!({
                            "type": "tool_result",
                            "tool_use_id": id,
                            "name": call.kind.name(),
                            "content": [{ "type": "text", "text": result }],
                            "is_error": false,
                            "integration_name": call.kind.integration_name(),
                            "mcp_server_url": call.kind.mcp_server_url(),
                            "truncated": result_cut,
                        }),
                        text_block(answer),
                    ]
                }
                _ => vec![text_block(answer)],
            }
        }
    }
}

fn file_json(file: &ChatFile) -> Value {
    json!({
        "id": file.id,
        "filename": file.filename,
        "mime_type": file.mime_type,
        "size_bytes": file.size_bytes,
        "md5": file.md5,
        "created_at": timestamp(file.created_at),
    })
}

fn list_or_null(items: Vec<Value>) -> Value {
    if items.is_empty() {
        Value::Null
    } else {
        Value::Array(items)
    }
}

/// One message; in a deleted chat only its metadata is left.
pub fn message(message: &Message, deleted: bool, limits: ToolLimits) -> Value {
    if deleted {
        return json!({
            "id": message.id,
            "role": message.role.as_str(),
            "created_at": timestamp(message.created_at),
            "content": [],
            "files": null,
            "generated_files": null,
            "artifacts": null,
        });
    }
    json!({
        "id": message.id,
        "role": message.role.as_str(),
        "created_at": timestamp(message.created_at),
        "content": content(message, limits),
        "files": list_or_null(message.files.iter().map(file_json).collect()),
        "generated_files": list_or_null(message.generated_files.iter().map(|g| json!({
            "id": g.id,
            "filename": g.filename,
            "mime_type": g.mime_type,
            "size_bytes": g.size_bytes,
            "md5": g.md5,
        })).collect()),
        "artifacts": list_or_null(message.artifacts.iter().map(|a| json!({
            "id": a.id,
            "version_id": a.version_id,
            "title": a.title,
            "artifact_type": a.artifact_type,
        })).collect()),
    })
}

/// The messages endpoint's body without the pagination fields.
pub fn chat_with_messages(
    org: &Organisation,
    chat: &Chat,
    state: ChatState,
    messages: &[&Message],
    limits: ToolLimits,
) -> Map<String, Value> {
    let mut out = chat_fields(org, chat, state);
    let deleted = state.deleted_at.is_some();
    out.insert(
        "chat_messages".into(),
        Value::Array(
            messages
                .iter()
                .map(|m| message(m, deleted, limits))
                .collect(),
        ),
    );
    out
}

pub fn user(user: &User) -> Value {
    json!({
        "id": user.id,
        "created_at": micros_z(user.created_at),
        "email": user.email,
        "full_name": user.full_name,
        "organization_role": user.organization_role,
    })
}

pub fn group(group: &Group) -> Value {
    json!({
        "id": group.id,
        "created_at": naive_micros(group.created_at),
        "description": group.description,
        "name": group.name,
        "roles": group.roles,
        "source_type": group.source_type,
        "updated_at": naive_micros(group.updated_at),
    })
}

pub fn group_member(org: &Organisation, member: &GroupMember) -> Value {
    let user = &org.users[member.user];
    json!({
        "created_at": naive_micros(member.created_at),
        "email": user.email,
        "updated_at": naive_micros(member.updated_at),
        "user_id": user.id,
    })
}

pub fn organisation(org: &Organisation) -> Value {
    json!({
        "created_at": org.created_at.to_rfc3339_opts(SecondsFormat::Micros, false),
        "name": org.name,
        "uuid": org.uuid.to_string(),
    })
}

pub fn file_metadata(chat: &Chat, message: &Message, file: &ChatFile) -> Value {
    json!({
        "id": file.id,
        "claude_chat_ids": [chat.id],
        "created_at": timestamp(file.created_at),
        "filename": file.filename,
        "md5": file.md5,
        "message_ids": [message.id],
        "mime_type": file.mime_type,
        "size_bytes": file.size_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generator::{default_start, Role};

    fn answer_with_tool() -> Message {
        let topic = TOPICS.iter().position(|t| t.tool.is_some()).unwrap();
        Message {
            id: "claude_chat_msg_01x".into(),
            role: Role::Assistant,
            created_at: default_start(),
            body: MessageBody::Answer {
                topic: topic as u16,
                turn: 0,
                variant: 0,
                tool_use_id: Some("toolu_01abc".into()),
            },
            files: Vec::new(),
            generated_files: Vec::new(),
            artifacts: Vec::new(),
        }
    }

    #[test]
    fn tool_use_input_is_a_json_encoded_string_that_can_be_shortened() {
        let message = answer_with_tool();
        let blocks = content(&message, ToolLimits::default());
        let tool_use = blocks.iter().find(|b| b["type"] == "tool_use").unwrap();
        let input = tool_use["input"].as_str().unwrap();
        assert!(serde_json::from_str::<Value>(input).unwrap().is_object());
        assert_eq!(tool_use["truncated"], false);
        let result = blocks.iter().find(|b| b["type"] == "tool_result").unwrap();
        assert_eq!(result["tool_use_id"], tool_use["id"]);

        let short = content(
            &message,
            ToolLimits {
                tool_use_input_max_chars: Some(10),
                tool_result_max_chars: Some(5),
            },
        );
        let tool_use = short.iter().find(|b| b["type"] == "tool_use").unwrap();
        assert_eq!(tool_use["input"].as_str().unwrap().chars().count(), 10);
        assert_eq!(tool_use["truncated"], true);
        let result = short.iter().find(|b| b["type"] == "tool_result").unwrap();
        assert_eq!(result["content"][0]["text"].as_str().unwrap().len(), 5);
    }

    #[test]
    fn a_deleted_chat_s_messages_have_empty_content_and_null_arrays() {
        let rendered = message(&answer_with_tool(), true, ToolLimits::default());
        assert_eq!(rendered["content"], json!([]));
        assert!(rendered["files"].is_null());
        assert!(rendered["generated_files"].is_null());
        assert!(rendered["artifacts"].is_null());
    }

    #[test]
    fn timestamps_have_the_real_formats() {
        let t = default_start();
        assert_eq!(timestamp(t), "2026-04-01T00:00:00Z");
        assert_eq!(naive_micros(t), "2026-04-01T00:00:00.000000");
        assert_eq!(micros_z(t), "2026-04-01T00:00:00.000000Z");
    }
}
