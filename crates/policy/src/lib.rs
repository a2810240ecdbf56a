//! Runtime policy engine: compiles an integration's policy set once and evaluates chat
//! messages offline (no network, no database) into findings with masked evidence and
//! quality tags; plus session rules over whole chats and alert/issue grouping.

pub mod alerts;
pub mod classifier;
pub mod config;
pub mod decode;
pub mod engine;
pub mod eval_cli;
pub mod normalize;
pub mod session;
pub mod templates;

mod ai_generated_content;
mod banned_substrings;
mod code_injection;
mod code_leakage;
mod content_types;
pub mod detect_languages;
mod detect_topics;
mod evidence;
pub mod function_call;
mod grounding;
mod jailbreak;
mod leakage;
mod malicious_url;
mod obfuscated_attacks;
mod pii;
mod prompt_injection;
mod quality;
mod rule_set;
mod secret_rules;
mod sexual_content;

#[cfg(test)]
mod corpus_quality;
#[cfg(test)]
mod properties;

pub use alerts::{alerts_for, group_into_issues, Alert, Issue, IssueStatus, Violation};
pub use config::{
    Action, PolicyConfig, PolicyConfigError, PolicyId, PolicyParams, PolicySetConfig, Role,
};
pub use engine::{
    CompiledPolicySet, Direction, Evaluation, Finding, MessageInput, Severity, Tag, ToolCall,
};
pub use eval_cli::{run_eval, EvalCliError, EvalSummary};
pub use session::{
    evaluate_session, SessionFinding, SessionPolicyConfig, SessionRule, SessionTurn,
};
pub use templates::{template, templates, TemplateInfo};
