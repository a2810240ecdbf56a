//! A message as the engine sees it: who wrote it, which way it travels, and the context
//! some policies need (grounding documents, a tool call, attachments).

use serde::{Deserialize, Serialize};

/// The author of a message (and so the part of an event a policy applies to).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A user prompt.
    User,
    /// An assistant response (including the tool calls it makes).
    Assistant,
    /// A tool result returned to the model.
    Tool,
    /// A tool definition (name, description, schema) offered to the model.
    ToolDefinition,
}

impl Role {
    /// Every role, in a stable order.
    pub const ALL: [Role; 4] = [
        Role::User,
        Role::Assistant,
        Role::Tool,
        Role::ToolDefinition,
    ];

    /// The snake_case name used in configuration and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
            Role::ToolDefinition => "tool_definition",
        }
    }

    pub(crate) fn bit(self) -> u8 {
        match self {
            Role::User => 1,
            Role::Assistant => 2,
            Role::Tool => 4,
            Role::ToolDefinition => 8,
        }
    }
}

/// Where a message sits in an exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// User prompt.
    Input,
    /// Assistant response.
    Output,
    /// Tool call, tool result or tool definition.
    Tool,
}

impl Role {
    /// The direction a message of this role travels.
    pub fn direction(self) -> Direction {
        match self {
            Role::User => Direction::Input,
            Role::Assistant => Direction::Output,
            Role::Tool | Role::ToolDefinition => Direction::Tool,
        }
    }
}

/// A tool call made by the assistant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToolCall<'a> {
    pub name: &'a str,
    /// The arguments as JSON text.
    pub arguments: &'a str,
}

/// A message to evaluate. `text` is the only required field; the optional ones feed the
/// policies that need context:
/// - `context`: tool results and documents the answer should rest on; `grounding` checks an
///   assistant answer against them and reports nothing when none are given.
/// - `tool_call`: a tool call of an assistant turn; `function_call` checks its name and
///   arguments (for a `tool` message, `function_call` scans `text` as the tool result).
/// - `attachment_mime_types`: MIME types of files attached to the message (`content_types`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageInput<'a> {
    pub role: Role,
    pub text: &'a str,
    pub context: &'a [&'a str],
    pub tool_call: Option<ToolCall<'a>>,
    pub attachment_mime_types: &'a [&'a str],
}

impl<'a> MessageInput<'a> {
    /// A message with no context, tool call or attachments.
    pub fn new(role: Role, text: &'a str) -> MessageInput<'a> {
        MessageInput {
            role,
            text,
            context: &[],
            tool_call: None,
            attachment_mime_types: &[],
        }
    }

    /// Adds the tool results or documents the message should be grounded in.
    pub fn with_context(mut self, context: &'a [&'a str]) -> MessageInput<'a> {
        self.context = context;
        self
    }

    /// Adds the tool call of an assistant turn.
    pub fn with_tool_call(mut self, name: &'a str, arguments: &'a str) -> MessageInput<'a> {
        self.tool_call = Some(ToolCall { name, arguments });
        self
    }

    /// Adds the MIME types of attached files.
    pub fn with_attachments(mut self, mime_types: &'a [&'a str]) -> MessageInput<'a> {
        self.attachment_mime_types = mime_types;
        self
    }
}
