//! What an evaluation gives back: findings with masked evidence and the quality tags.

use std::ops::Range;

use serde::{Serialize, Serializer};

use crate::catalogue::PolicyId;
use crate::config::Action;
use crate::message::Direction;
use crate::scan::Severity;

/// Why a message was flagged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Policy id (`pii`, `prompt_injection`, ...).
    pub policy: &'static str,
    /// The rule inside the policy. Findings in decoded or de-obfuscated text are reported
    /// by `encoded_attacks` / `obfuscated_attacks` with the inner policy and rule in here,
    /// e.g. `base64:prompt_injection/instruction_override`.
    pub rule: String,
    pub direction: Direction,
    /// Byte range in the original text, on char boundaries.
    pub span: Range<usize>,
    /// Masked excerpt: secrets as first 4 + last 4 characters, PII masked.
    pub evidence: String,
    pub severity: Severity,
    /// The configured action.
    pub action: Action,
    /// The executed action (`block` and `modify` run as `alert`).
    pub effective_action: Action,
}

/// A quality tag of a message, or the tag of a policy that fired.
///
/// - `Coherent` / `Incoherent`: incoherent text is natural-language text (not code or data)
///   of at least 4 words that is mostly non-words: long vowel-less or symbol-laden tokens,
///   one token repeated as a loop, or stacked combining marks.
/// - `No Injection` / `Injection`: the text carries an instruction-override, fake delimiter,
///   injected tool format or jailbreak pattern, in plain, obfuscated or encoded form. Computed
///   even when the injection policies are disabled.
/// - `Non-Toxic` / `Toxic`: insults, threats or harassment aimed at a person (toxicity
///   lexicon), or explicit sexual content of high severity.
/// - `Intent Aligned` / `Intent Misaligned`: misaligned when the message works against the
///   operator's instructions: for input and tool content, an `Injection` tag or an encoded or
///   obfuscated attack; for output, a leak (system prompt, canary, secret), an exfiltration
///   link, a denied tool call, or dangerous generated code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tag {
    Coherent,
    Incoherent,
    NoInjection,
    Injection,
    NonToxic,
    Toxic,
    IntentAligned,
    IntentMisaligned,
    /// A policy that fired.
    Policy(PolicyId),
}

impl Tag {
    /// The label shown to investigators.
    pub fn label(self) -> &'static str {
        match self {
            Tag::Coherent => "Coherent",
            Tag::Incoherent => "Incoherent",
            Tag::NoInjection => "No Injection",
            Tag::Injection => "Injection",
            Tag::NonToxic => "Non-Toxic",
            Tag::Toxic => "Toxic",
            Tag::IntentAligned => "Intent Aligned",
            Tag::IntentMisaligned => "Intent Misaligned",
            Tag::Policy(id) => id.tag(),
        }
    }
}

impl Serialize for Tag {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.label())
    }
}

/// The result of evaluating one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Evaluation {
    pub findings: Vec<Finding>,
    pub tags: Vec<Tag>,
}

impl Evaluation {
    /// Whether a policy produced at least one finding.
    pub fn fired(&self, policy: PolicyId) -> bool {
        self.findings.iter().any(|f| f.policy == policy.as_str())
    }

    /// Whether a tag is present.
    pub fn has_tag(&self, tag: Tag) -> bool {
        self.tags.contains(&tag)
    }
}
