//! Client of the Anthropic Compliance API: typed records, typed queries, retries and rate-limit
//! handling, and pagers that keep the cursors a completeness record needs.
//!
//! ```no_run
//! # async fn run() -> Result<(), logwarden_compliance::Error> {
//! use logwarden_compliance::{ActivityQuery, Client, ClientConfig, Secret, DEFAULT_BASE_URL};
//! let config = ClientConfig::from_base_url(DEFAULT_BASE_URL, Secret::new("sk-ant-api01-..."))?;
//! let client = Client::new(config)?;
//! let mut pager = client.activities(ActivityQuery::new().limit(1000))?;
//! while let Some(page) = pager.next_page().await? {
//!     for activity in &page.body.data {
//!         println!("{} {}", activity.id, activity.activity_type);
//!     }
//! }
//! println!("resume from {:?}, last request {:?}", pager.cursor(), pager.last_request_id());
//! # Ok(())
//! # }
//! ```

pub mod client;
pub mod error;
pub mod network;
pub mod pager;
pub mod query;
pub mod secret;
pub mod types;

#[cfg(test)]
mod scripted_server;

pub use client::{
    endpoint_template, ApiResponse, Client, ClientConfig, ClientStats, RateLimitInfo, RequestGate,
    ResponseMeta, RetryPolicy, DEFAULT_ANTHROPIC_VERSION, DEFAULT_BASE_URL,
};
pub use error::Error;
pub use network::NetworkRules;
pub use pager::{CursorListing, CursorPager, Direction, TokenPager};
pub use query::{ActivityQuery, ChatOrder, ChatQuery, MessageQuery, SortOrder, TimeRange};
pub use secret::Secret;
pub use types::{
    Activity, Actor, Artifact, Chat, ChatMessages, ChatUser, ContentBlock, CursorPage,
    FileMetadata, FileRef, GeneratedFile, Group, GroupMember, Identified, Message, Role, TextBlock,
    TokenPage, ToolResultBlock, ToolResultContent, ToolUseBlock, User,
};

/// Walk over the Activity Feed.
pub type ActivityPager = CursorPager<CursorPage<Activity>>;
/// Walk over the chat list.
pub type ChatPager = CursorPager<CursorPage<Chat>>;
/// Walk over one chat's messages.
pub type MessagePager = CursorPager<ChatMessages>;
