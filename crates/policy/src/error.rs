//! Why a policy set was refused: every error names the policy, the field and, where there
//! is a choice, the valid values.

/// Why a policy set was refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum PolicyConfigError {
    /// The document is not valid TOML/JSON or does not have the expected shape; serde's
    /// message names the field and, for enums, the valid values.
    #[error("invalid {format} policy set: {message}")]
    Parse {
        format: &'static str,
        message: String,
    },
    /// A parameter has a value the policy cannot use.
    #[error("policy `{policy}`: parameter `{param}` {problem}")]
    InvalidParam {
        policy: &'static str,
        param: String,
        problem: String,
    },
    /// A pattern parameter is not a valid regular expression.
    #[error("policy `{policy}`: parameter `{param}` is not a valid regular expression: {message}")]
    InvalidRegex {
        policy: &'static str,
        param: String,
        message: String,
    },
    /// The same policy id appears twice.
    #[error("policy `{policy}` appears more than once; each id may be configured once")]
    DuplicatePolicy { policy: &'static str },
    /// A policy applies to no role at all.
    #[error("policy `{policy}`: `applies_to` is empty; valid values: user, assistant, tool, tool_definition")]
    EmptyAppliesTo { policy: &'static str },
}
