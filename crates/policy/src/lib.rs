//! Runtime policy engine: compiles an integration's policy set once and evaluates chat
//! messages offline (no network, no database) into findings with masked evidence and
//! quality tags; plus session rules over whole chats and alert/issue grouping.
//!
//! Imports go one way, down this list: the set-level modules (`eval_cli`, `benchmark`, `templates`,
//! `session`, `alerts`, `engine`, `quality`, `finding`, `config`), the `catalogue`, the
//! policy modules (one per policy), the shared matchers (`rule_set`, `secret_rules`,
//! `learned`), and the base every policy reads (`policy`, `scan`, `message`, `params`,
//! `error`, `literals`, `code`, `word_stats`, `classifier`, `normalize`, `decode`,
//! `evidence`).

pub mod alerts;
pub mod benchmark;
pub mod catalogue;
pub mod classifier;
pub mod config;
pub mod decode;
pub mod engine;
pub mod error;
pub mod eval_cli;
pub mod finding;
pub mod message;
pub mod normalize;
pub mod params;
pub mod session;
pub mod templates;

pub mod ai_generated_content;
pub mod banned_substrings;
pub mod code_injection;
pub mod code_leakage;
pub mod content_types;
pub mod detect_languages;
pub mod detect_topics;
pub mod encoded_attacks;
pub mod function_call;
pub mod grounding;
pub mod jailbreak;
pub mod leakage;
pub mod malicious_url;
pub mod obfuscated_attacks;
pub mod pii;
pub mod prompt_injection;
pub mod sexual_content;

mod code;
mod evidence;
mod injection_triggers;
mod learned;
mod literals;
mod policy;
mod quality;
mod rule_set;
mod scan;
mod secret_rules;
mod word_stats;

#[cfg(test)]
mod corpus_quality;
#[cfg(test)]
mod properties;

pub use alerts::{alerts_for, group_into_issues, Alert, Issue, IssueStatus, Violation};
pub use catalogue::{PolicyId, PolicyParams};
pub use config::{Action, PolicyConfig, PolicySetConfig};
pub use engine::CompiledPolicySet;
pub use error::PolicyConfigError;
pub use eval_cli::{run_eval, EvalCliError, EvalSummary};
pub use finding::{Evaluation, Finding, Tag};
pub use message::{Direction, MessageInput, Role, ToolCall};
pub use scan::Severity;
pub use session::{
    evaluate_session, SessionFinding, SessionPolicyConfig, SessionRule, SessionTurn,
};
pub use templates::{template, templates, TemplateInfo};
