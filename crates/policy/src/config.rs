//! Policy-set configuration: what an integration installs (TOML or JSON), with typed
//! per-policy parameters and validation that names the bad field and the valid values.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

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

/// What a policy asks for when it fires. Because events are history, `block` and `modify`
/// execute as `alert`; both the configured and the effective action are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Log,
    Alert,
    Block,
    Modify,
}

impl Action {
    /// The action actually executed on delivered history.
    pub fn effective(self) -> Action {
        match self {
            Action::Log => Action::Log,
            Action::Alert | Action::Block | Action::Modify => Action::Alert,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Log => "log",
            Action::Alert => "alert",
            Action::Block => "block",
            Action::Modify => "modify",
        }
    }
}

macro_rules! policy_ids {
    ($( $variant:ident => $id:literal, $name:literal, $tag:literal, [$($role:ident),*], $desc:literal; )*) => {
        /// A policy of the catalogue (docs: POLICIES.md). The snake_case id is stable.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum PolicyId { $( $variant, )* }

        impl PolicyId {
            /// Every policy, in catalogue order.
            pub const ALL: &'static [PolicyId] = &[$( PolicyId::$variant, )*];

            /// The stable snake_case id.
            pub fn as_str(self) -> &'static str {
                match self { $( PolicyId::$variant => $id, )* }
            }

            /// The human name shown in the UI.
            pub fn name(self) -> &'static str {
                match self { $( PolicyId::$variant => $name, )* }
            }

            /// The tag added to an evaluation when this policy fired.
            pub fn tag(self) -> &'static str {
                match self { $( PolicyId::$variant => $tag, )* }
            }

            /// The roles the catalogue applies this policy to when `applies_to` is omitted.
            pub fn default_applies_to(self) -> Vec<Role> {
                match self { $( PolicyId::$variant => vec![$( Role::$role ),*], )* }
            }

            /// One-line description of what the policy finds.
            pub fn description(self) -> &'static str {
                match self { $( PolicyId::$variant => $desc, )* }
            }

            /// Parses a snake_case id; the error lists the valid ids.
            pub fn parse(id: &str) -> Result<PolicyId, UnknownPolicyId> {
                PolicyId::ALL
                    .iter()
                    .copied()
                    .find(|p| p.as_str() == id)
                    .ok_or_else(|| UnknownPolicyId(id.to_owned()))
            }
        }
    };
}

policy_ids! {
    AiGeneratedContent => "ai_generated_content", "AI-Generated Content Detection", "AI-Generated Content", [User],
        "Stylometric markers of pasted model output (low confidence).";
    BannedSubstrings => "banned_substrings", "Banned Substrings", "Banned Substring", [User, Assistant],
        "Configured words or phrases, also matched on normalised text.";
    CodeInjection => "code_injection", "Code Injection and Generation Prevention", "Code Injection", [Assistant],
        "Generated code that runs shell, eval, downloads, deserialises, or builds SQL injection.";
    CodeLeakage => "code_leakage", "Code Leakage Prevention", "Code Leakage", [User],
        "Source code, secrets, internal host names and organisation markers pasted into prompts.";
    ContentTypes => "content_types", "Content Types", "Content Type", [User],
        "Content classified as code, JSON, SQL, HTML, base64 blobs, URL lists or attachments.";
    DetectLanguages => "detect_languages", "Detect Languages", "Language", [User, Assistant],
        "Language of the natural text against an allowed or denied list.";
    MaliciousUrl => "malicious_url", "Detect Malicious URL", "Malicious URL", [User, Assistant, Tool],
        "URLs with IP-literal, punycode or mixed-script hosts, credentials, dangerous schemes, shorteners, blocklisted hosts, image exfiltration.";
    SexualContent => "sexual_content", "Detect Sexual Content", "Sexual Content", [User, Assistant],
        "Severity-weighted sexual lexicon with medical context discounted.";
    DetectTopics => "detect_topics", "Detect Topics", "Topic", [User, Assistant, Tool],
        "Configured topics as weighted phrase lexicons.";
    FunctionCall => "function_call", "Function Call", "Function Call", [Assistant, Tool],
        "Tool allow/deny lists, argument patterns and schemas; indirect injection in tool results.";
    Grounding => "grounding", "Grounding Guardrail", "Ungrounded", [Assistant],
        "Numbers, quotes and names in an answer that appear in no provided context.";
    Pii => "pii", "PII", "PII", [User, Assistant],
        "Emails, phones, cards (Luhn), IBANs (mod-97), SSNs, national ids with checksums, IPs, addresses.";
    EncodedAttacks => "encoded_attacks", "Prevent Encoded Attacks", "Encoded Attack", [User, Assistant, Tool],
        "Base64, hex, ROT13, URL-encoded and escape runs decoded and re-scanned by the other policies.";
    Jailbreak => "jailbreak", "Prevent Jailbreak", "Jailbreak", [User, ToolDefinition],
        "Role-play and DAN-style prompts, developer mode, refusal suppression, persona switches.";
    Leakage => "leakage", "Prevent Leakage", "Leakage", [User, Assistant],
        "System-prompt or canary leakage, secrets and PII in responses, credentials in tool results.";
    ObfuscatedAttacks => "obfuscated_attacks", "Prevent Obfuscated Attacks", "Obfuscated Attack", [User, Assistant, Tool],
        "Invisible, tag and bidi characters, homoglyphs, mixed scripts, zalgo, spaced or leet trigger words.";
    PromptInjection => "prompt_injection", "Prevent Prompt Injection Rule", "Prompt Injection", [User],
        "Instruction-override phrases, fake system or chat-template delimiters, injected tool formats.";
}

/// A policy id that is not in the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown policy id `{0}`; valid ids: {ids}", ids = valid_policy_ids())]
pub struct UnknownPolicyId(pub String);

fn valid_policy_ids() -> String {
    PolicyId::ALL
        .iter()
        .map(|p| p.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for PolicyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A regular expression with a name, used by policies that accept custom patterns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedPattern {
    pub name: String,
    pub pattern: String,
}

/// `ai_generated_content` parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AiGeneratedContentParams {
    /// Score (0..=1) from which a message is reported.
    pub threshold: f64,
    /// Texts shorter than this many words are not judged.
    pub min_words: usize,
}

impl Default for AiGeneratedContentParams {
    fn default() -> Self {
        Self {
            threshold: 0.6,
            min_words: 60,
        }
    }
}

/// How banned substrings match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MatchMode {
    /// Whole words only: `ass` does not match `class`.
    #[default]
    Word,
    /// Anywhere in the text.
    Substring,
}

/// `banned_substrings` parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct BannedSubstringsParams {
    pub substrings: Vec<String>,
    pub match_mode: MatchMode,
    pub case_sensitive: bool,
    /// Also match on the normalised view (NFKC, confusables, leetspeak, invisible characters
    /// stripped, spaced letters joined).
    pub match_normalized: bool,
}

/// Categories of dangerous generated code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CodeInjectionCategory {
    ShellExecution,
    DynamicEval,
    NetworkDownload,
    Deserialization,
    SqlInjection,
    PipeToShell,
    EncodedPowershell,
    DestructiveCommand,
}

impl CodeInjectionCategory {
    pub const ALL: [CodeInjectionCategory; 8] = [
        CodeInjectionCategory::ShellExecution,
        CodeInjectionCategory::DynamicEval,
        CodeInjectionCategory::NetworkDownload,
        CodeInjectionCategory::Deserialization,
        CodeInjectionCategory::SqlInjection,
        CodeInjectionCategory::PipeToShell,
        CodeInjectionCategory::EncodedPowershell,
        CodeInjectionCategory::DestructiveCommand,
    ];
}

/// `code_injection` parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CodeInjectionParams {
    /// Categories reported; all by default.
    pub categories: Vec<CodeInjectionCategory>,
}

impl Default for CodeInjectionParams {
    fn default() -> Self {
        Self {
            categories: CodeInjectionCategory::ALL.to_vec(),
        }
    }
}

/// `code_leakage` parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CodeLeakageParams {
    /// Report pasted source code (fenced blocks, or this many code-like lines).
    pub detect_code: bool,
    /// Unfenced text counts as code from this many code-like lines.
    pub min_code_lines: usize,
    /// Report credentials (gitleaks-derived rules).
    pub detect_secrets: bool,
    /// Markers that make pasted text confidential (matched case-insensitively as words).
    pub org_markers: Vec<String>,
    /// Host-name suffixes that are internal (`.corp`, `.internal`).
    pub internal_host_suffixes: Vec<String>,
    /// Package or namespace prefixes of the organisation (`com.acme.`).
    pub package_namespaces: Vec<String>,
    /// Extra patterns, each reported under its name.
    pub custom_patterns: Vec<NamedPattern>,
}

impl Default for CodeLeakageParams {
    fn default() -> Self {
        Self {
            detect_code: true,
            min_code_lines: 5,
            detect_secrets: true,
            org_markers: vec![
                "CONFIDENTIAL".into(),
                "INTERNAL USE ONLY".into(),
                "PROPRIETARY".into(),
                "DO NOT DISTRIBUTE".into(),
                "All rights reserved".into(),
            ],
            internal_host_suffixes: vec![
                ".internal".into(),
                ".corp".into(),
                ".intranet".into(),
                ".lan".into(),
            ],
            package_namespaces: Vec::new(),
            custom_patterns: Vec::new(),
        }
    }
}

/// Content classes recognised by `content_types`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContentType {
    Code,
    Json,
    Sql,
    Html,
    Base64Blob,
    UrlList,
    Attachment,
}

impl ContentType {
    pub fn as_str(self) -> &'static str {
        match self {
            ContentType::Code => "code",
            ContentType::Json => "json",
            ContentType::Sql => "sql",
            ContentType::Html => "html",
            ContentType::Base64Blob => "base64_blob",
            ContentType::UrlList => "url_list",
            ContentType::Attachment => "attachment",
        }
    }
}

/// `content_types` parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ContentTypesParams {
    /// Content classes that are not allowed.
    pub denied: Vec<ContentType>,
    /// MIME types (exact, or `type/*`) not allowed as attachments or `data:` URIs; only
    /// checked when `attachment` is denied.
    pub denied_mime_types: Vec<String>,
}

impl Default for ContentTypesParams {
    fn default() -> Self {
        Self {
            denied: vec![ContentType::Base64Blob, ContentType::Attachment],
            denied_mime_types: vec![
                "application/x-msdownload".into(),
                "application/x-dosexec".into(),
                "application/x-executable".into(),
                "application/x-sh".into(),
                "application/java-archive".into(),
                "application/vnd.microsoft.portable-executable".into(),
            ],
        }
    }
}

/// `detect_languages` parameters. Codes are ISO 639-1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectLanguagesParams {
    /// If non-empty, only these languages are allowed.
    pub allowed: Vec<String>,
    /// These languages are never allowed.
    pub denied: Vec<String>,
    /// Natural text shorter than this many letters is not judged.
    pub min_letters: usize,
}

impl Default for DetectLanguagesParams {
    fn default() -> Self {
        Self {
            allowed: vec!["en".into()],
            denied: Vec::new(),
            min_letters: 40,
        }
    }
}

/// `malicious_url` parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MaliciousUrlParams {
    /// Hosts (and their subdomains) always reported.
    pub blocklist: Vec<String>,
    /// Hosts (and their subdomains) never reported.
    pub allowlist: Vec<String>,
    /// Report link shorteners.
    pub flag_shorteners: bool,
    /// Report URLs whose host is an IP literal (dotted, hex, decimal or IPv6).
    pub flag_ip_hosts: bool,
}

impl Default for MaliciousUrlParams {
    fn default() -> Self {
        Self {
            blocklist: Vec::new(),
            allowlist: Vec::new(),
            flag_shorteners: true,
            flag_ip_hosts: true,
        }
    }
}

/// `sexual_content` parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SexualContentParams {
    /// Weighted score from which a message is reported (explicit terms weigh 1.0).
    pub threshold: f64,
}

impl Default for SexualContentParams {
    fn default() -> Self {
        Self { threshold: 1.0 }
    }
}

/// A phrase and its weight within a topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightedPhrase {
    pub phrase: String,
    #[serde(default = "default_weight")]
    pub weight: f64,
}

fn default_weight() -> f64 {
    1.0
}

/// A configured topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicConfig {
    pub name: String,
    pub phrases: Vec<WeightedPhrase>,
    /// Summed weight of distinct phrases from which the topic is reported.
    #[serde(default = "default_weight")]
    pub threshold: f64,
}

/// `detect_topics` parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct DetectTopicsParams {
    pub topics: Vec<TopicConfig>,
}

/// An argument pattern: a regex applied to one argument (a JSON pointer such as `/path`) or,
/// when `argument` is empty, to the whole argument JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArgumentPattern {
    pub name: String,
    #[serde(default)]
    pub tool: Option<String>,
    #[serde(default)]
    pub argument: String,
    pub pattern: String,
}

/// `function_call` parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct FunctionCallParams {
    /// If non-empty, only these tools may be called.
    pub allowed_tools: Vec<String>,
    /// These tools may never be called.
    pub denied_tools: Vec<String>,
    /// Patterns that must not appear in arguments.
    pub argument_patterns: Vec<ArgumentPattern>,
    /// JSON schemas (subset: type, properties, required, additionalProperties, enum,
    /// pattern, minLength, maxLength, minimum, maximum, items) per tool name.
    pub schemas: BTreeMap<String, serde_json::Value>,
    /// Scan tool results for indirect prompt injection.
    #[serde(default = "default_true")]
    pub scan_tool_results: bool,
}

fn default_true() -> bool {
    true
}

/// `grounding` parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GroundingParams {
    pub check_numbers: bool,
    pub check_quotes: bool,
    pub check_names: bool,
    /// Minimum number of ungrounded claims before anything is reported.
    pub min_ungrounded: usize,
}

impl Default for GroundingParams {
    fn default() -> Self {
        Self {
            check_numbers: true,
            check_quotes: true,
            check_names: true,
            min_ungrounded: 1,
        }
    }
}

/// PII entity kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PiiEntity {
    Email,
    Phone,
    CreditCard,
    Iban,
    Ssn,
    Passport,
    NationalId,
    IpAddress,
    StreetAddress,
}

impl PiiEntity {
    pub const ALL: [PiiEntity; 9] = [
        PiiEntity::Email,
        PiiEntity::Phone,
        PiiEntity::CreditCard,
        PiiEntity::Iban,
        PiiEntity::Ssn,
        PiiEntity::Passport,
        PiiEntity::NationalId,
        PiiEntity::IpAddress,
        PiiEntity::StreetAddress,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PiiEntity::Email => "email",
            PiiEntity::Phone => "phone",
            PiiEntity::CreditCard => "credit_card",
            PiiEntity::Iban => "iban",
            PiiEntity::Ssn => "ssn",
            PiiEntity::Passport => "passport",
            PiiEntity::NationalId => "national_id",
            PiiEntity::IpAddress => "ip_address",
            PiiEntity::StreetAddress => "street_address",
        }
    }
}

/// `pii` parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PiiParams {
    pub entities: Vec<PiiEntity>,
    /// Confidence (0..=1) from which a candidate is reported; context words raise it.
    pub threshold: f64,
    /// Exact values never reported (a public support address, say).
    pub allow: Vec<String>,
}

impl Default for PiiParams {
    fn default() -> Self {
        Self {
            entities: PiiEntity::ALL.to_vec(),
            threshold: 0.5,
            allow: Vec::new(),
        }
    }
}

/// Encodings decoded by `encoded_attacks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    Base64,
    Hex,
    Rot13,
    UrlEncoded,
    UnicodeEscape,
    UnicodeTags,
}

impl Encoding {
    pub const ALL: [Encoding; 6] = [
        Encoding::Base64,
        Encoding::Hex,
        Encoding::Rot13,
        Encoding::UrlEncoded,
        Encoding::UnicodeEscape,
        Encoding::UnicodeTags,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Base64 => "base64",
            Encoding::Hex => "hex",
            Encoding::Rot13 => "rot13",
            Encoding::UrlEncoded => "url_encoded",
            Encoding::UnicodeEscape => "unicode_escape",
            Encoding::UnicodeTags => "unicode_tags",
        }
    }
}

/// `encoded_attacks` parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EncodedAttacksParams {
    pub encodings: Vec<Encoding>,
    /// Nested decoding depth (base64 inside base64 ...), 1..=4.
    pub max_depth: usize,
}

impl Default for EncodedAttacksParams {
    fn default() -> Self {
        Self {
            encodings: Encoding::ALL.to_vec(),
            max_depth: 2,
        }
    }
}

/// `jailbreak` parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct JailbreakParams {
    /// Extra patterns, each reported under its name.
    pub custom_patterns: Vec<NamedPattern>,
}

/// `leakage` parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LeakageParams {
    /// Canary strings planted in system prompts; any occurrence is a leak.
    pub canaries: Vec<String>,
    /// Distinctive sentences of the system prompt; an answer repeating one is a leak.
    pub system_prompt_fragments: Vec<String>,
    /// Report credentials in assistant answers and tool results.
    pub detect_secrets: bool,
    /// Report PII in assistant answers.
    pub detect_pii: bool,
}

impl Default for LeakageParams {
    fn default() -> Self {
        Self {
            canaries: Vec::new(),
            system_prompt_fragments: Vec::new(),
            detect_secrets: true,
            detect_pii: true,
        }
    }
}

/// `obfuscated_attacks` parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ObfuscatedAttacksParams {
    /// Report invisible characters inside words even when they hide no trigger.
    pub flag_invisible_characters: bool,
    /// Report words that mix Latin with Cyrillic or Greek letters.
    pub flag_mixed_script: bool,
    /// Report stacked combining marks (zalgo).
    pub flag_zalgo: bool,
}

impl Default for ObfuscatedAttacksParams {
    fn default() -> Self {
        Self {
            flag_invisible_characters: true,
            flag_mixed_script: true,
            flag_zalgo: true,
        }
    }
}

/// `prompt_injection` parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct PromptInjectionParams {
    /// Extra patterns, each reported under its name.
    pub custom_patterns: Vec<NamedPattern>,
}

/// Typed parameters, one variant per policy.
#[derive(Debug, Clone, PartialEq)]
pub enum PolicyParams {
    AiGeneratedContent(AiGeneratedContentParams),
    BannedSubstrings(BannedSubstringsParams),
    CodeInjection(CodeInjectionParams),
    CodeLeakage(CodeLeakageParams),
    ContentTypes(ContentTypesParams),
    DetectLanguages(DetectLanguagesParams),
    MaliciousUrl(MaliciousUrlParams),
    SexualContent(SexualContentParams),
    DetectTopics(DetectTopicsParams),
    FunctionCall(FunctionCallParams),
    Grounding(GroundingParams),
    Pii(PiiParams),
    EncodedAttacks(EncodedAttacksParams),
    Jailbreak(JailbreakParams),
    Leakage(LeakageParams),
    ObfuscatedAttacks(ObfuscatedAttacksParams),
    PromptInjection(PromptInjectionParams),
}

impl PolicyParams {
    /// The default parameters of a policy.
    pub fn default_for(id: PolicyId) -> PolicyParams {
        match id {
            PolicyId::AiGeneratedContent => PolicyParams::AiGeneratedContent(Default::default()),
            PolicyId::BannedSubstrings => PolicyParams::BannedSubstrings(Default::default()),
            PolicyId::CodeInjection => PolicyParams::CodeInjection(Default::default()),
            PolicyId::CodeLeakage => PolicyParams::CodeLeakage(Default::default()),
            PolicyId::ContentTypes => PolicyParams::ContentTypes(Default::default()),
            PolicyId::DetectLanguages => PolicyParams::DetectLanguages(Default::default()),
            PolicyId::MaliciousUrl => PolicyParams::MaliciousUrl(Default::default()),
            PolicyId::SexualContent => PolicyParams::SexualContent(Default::default()),
            PolicyId::DetectTopics => PolicyParams::DetectTopics(Default::default()),
            PolicyId::FunctionCall => PolicyParams::FunctionCall(FunctionCallParams {
                scan_tool_results: true,
                ..Default::default()
            }),
            PolicyId::Grounding => PolicyParams::Grounding(Default::default()),
            PolicyId::Pii => PolicyParams::Pii(Default::default()),
            PolicyId::EncodedAttacks => PolicyParams::EncodedAttacks(Default::default()),
            PolicyId::Jailbreak => PolicyParams::Jailbreak(Default::default()),
            PolicyId::Leakage => PolicyParams::Leakage(Default::default()),
            PolicyId::ObfuscatedAttacks => PolicyParams::ObfuscatedAttacks(Default::default()),
            PolicyId::PromptInjection => PolicyParams::PromptInjection(Default::default()),
        }
    }

    fn from_value(id: PolicyId, value: serde_json::Value) -> Result<PolicyParams, String> {
        fn typed<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T, String> {
            serde_json::from_value(v).map_err(|e| e.to_string())
        }
        let value = match value {
            serde_json::Value::Null => serde_json::Value::Object(Default::default()),
            other => other,
        };
        Ok(match id {
            PolicyId::AiGeneratedContent => PolicyParams::AiGeneratedContent(typed(value)?),
            PolicyId::BannedSubstrings => PolicyParams::BannedSubstrings(typed(value)?),
            PolicyId::CodeInjection => PolicyParams::CodeInjection(typed(value)?),
            PolicyId::CodeLeakage => PolicyParams::CodeLeakage(typed(value)?),
            PolicyId::ContentTypes => PolicyParams::ContentTypes(typed(value)?),
            PolicyId::DetectLanguages => PolicyParams::DetectLanguages(typed(value)?),
            PolicyId::MaliciousUrl => PolicyParams::MaliciousUrl(typed(value)?),
            PolicyId::SexualContent => PolicyParams::SexualContent(typed(value)?),
            PolicyId::DetectTopics => PolicyParams::DetectTopics(typed(value)?),
            PolicyId::FunctionCall => PolicyParams::FunctionCall(typed(value)?),
            PolicyId::Grounding => PolicyParams::Grounding(typed(value)?),
            PolicyId::Pii => PolicyParams::Pii(typed(value)?),
            PolicyId::EncodedAttacks => PolicyParams::EncodedAttacks(typed(value)?),
            PolicyId::Jailbreak => PolicyParams::Jailbreak(typed(value)?),
            PolicyId::Leakage => PolicyParams::Leakage(typed(value)?),
            PolicyId::ObfuscatedAttacks => PolicyParams::ObfuscatedAttacks(typed(value)?),
            PolicyId::PromptInjection => PolicyParams::PromptInjection(typed(value)?),
        })
    }

    fn to_value(&self) -> serde_json::Value {
        let value = match self {
            PolicyParams::AiGeneratedContent(p) => serde_json::to_value(p),
            PolicyParams::BannedSubstrings(p) => serde_json::to_value(p),
            PolicyParams::CodeInjection(p) => serde_json::to_value(p),
            PolicyParams::CodeLeakage(p) => serde_json::to_value(p),
            PolicyParams::ContentTypes(p) => serde_json::to_value(p),
            PolicyParams::DetectLanguages(p) => serde_json::to_value(p),
            PolicyParams::MaliciousUrl(p) => serde_json::to_value(p),
            PolicyParams::SexualContent(p) => serde_json::to_value(p),
            PolicyParams::DetectTopics(p) => serde_json::to_value(p),
            PolicyParams::FunctionCall(p) => serde_json::to_value(p),
            PolicyParams::Grounding(p) => serde_json::to_value(p),
            PolicyParams::Pii(p) => serde_json::to_value(p),
            PolicyParams::EncodedAttacks(p) => serde_json::to_value(p),
            PolicyParams::Jailbreak(p) => serde_json::to_value(p),
            PolicyParams::Leakage(p) => serde_json::to_value(p),
            PolicyParams::ObfuscatedAttacks(p) => serde_json::to_value(p),
            PolicyParams::PromptInjection(p) => serde_json::to_value(p),
        };
        // Plain structs of strings, numbers and maps with string keys always serialise.
        value.unwrap_or(serde_json::Value::Null)
    }

    /// The policy these parameters belong to.
    pub fn policy(&self) -> PolicyId {
        match self {
            PolicyParams::AiGeneratedContent(_) => PolicyId::AiGeneratedContent,
            PolicyParams::BannedSubstrings(_) => PolicyId::BannedSubstrings,
            PolicyParams::CodeInjection(_) => PolicyId::CodeInjection,
            PolicyParams::CodeLeakage(_) => PolicyId::CodeLeakage,
            PolicyParams::ContentTypes(_) => PolicyId::ContentTypes,
            PolicyParams::DetectLanguages(_) => PolicyId::DetectLanguages,
            PolicyParams::MaliciousUrl(_) => PolicyId::MaliciousUrl,
            PolicyParams::SexualContent(_) => PolicyId::SexualContent,
            PolicyParams::DetectTopics(_) => PolicyId::DetectTopics,
            PolicyParams::FunctionCall(_) => PolicyId::FunctionCall,
            PolicyParams::Grounding(_) => PolicyId::Grounding,
            PolicyParams::Pii(_) => PolicyId::Pii,
            PolicyParams::EncodedAttacks(_) => PolicyId::EncodedAttacks,
            PolicyParams::Jailbreak(_) => PolicyId::Jailbreak,
            PolicyParams::Leakage(_) => PolicyId::Leakage,
            PolicyParams::ObfuscatedAttacks(_) => PolicyId::ObfuscatedAttacks,
            PolicyParams::PromptInjection(_) => PolicyId::PromptInjection,
        }
    }
}

/// One configured policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawPolicyConfig", into = "RawPolicyConfig")]
pub struct PolicyConfig {
    pub id: PolicyId,
    pub enabled: bool,
    pub action: Action,
    pub applies_to: Vec<Role>,
    pub params: PolicyParams,
}

impl PolicyConfig {
    /// A policy with the catalogue's roles and default parameters.
    pub fn new(id: PolicyId, enabled: bool, action: Action) -> PolicyConfig {
        PolicyConfig {
            id,
            enabled,
            action,
            applies_to: id.default_applies_to(),
            params: PolicyParams::default_for(id),
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicyConfig {
    id: PolicyId,
    #[serde(default = "default_true")]
    enabled: bool,
    #[serde(default = "default_action")]
    action: Action,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    applies_to: Option<Vec<Role>>,
    #[serde(default)]
    params: serde_json::Value,
}

fn default_action() -> Action {
    Action::Alert
}

impl TryFrom<RawPolicyConfig> for PolicyConfig {
    type Error = String;

    fn try_from(raw: RawPolicyConfig) -> Result<Self, Self::Error> {
        let params = PolicyParams::from_value(raw.id, raw.params)
            .map_err(|e| format!("policy `{}`: params: {e}", raw.id))?;
        Ok(PolicyConfig {
            id: raw.id,
            enabled: raw.enabled,
            action: raw.action,
            applies_to: raw
                .applies_to
                .unwrap_or_else(|| raw.id.default_applies_to()),
            params,
        })
    }
}

impl From<PolicyConfig> for RawPolicyConfig {
    fn from(config: PolicyConfig) -> Self {
        RawPolicyConfig {
            id: config.id,
            enabled: config.enabled,
            action: config.action,
            applies_to: Some(config.applies_to),
            params: config.params.to_value(),
        }
    }
}

/// A policy set as an integration installs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PolicySetConfig {
    #[serde(default)]
    pub policies: Vec<PolicyConfig>,
}

impl PolicySetConfig {
    /// Parses a TOML document (`[[policies]]` tables) and validates it.
    pub fn from_toml_str(text: &str) -> Result<PolicySetConfig, PolicyConfigError> {
        let set: PolicySetConfig = toml::from_str(text).map_err(|e| PolicyConfigError::Parse {
            format: "TOML",
            message: e.to_string(),
        })?;
        set.validate()?;
        Ok(set)
    }

    /// Parses a JSON document (`{"policies": [...]}`) and validates it.
    pub fn from_json_str(text: &str) -> Result<PolicySetConfig, PolicyConfigError> {
        let set: PolicySetConfig =
            serde_json::from_str(text).map_err(|e| PolicyConfigError::Parse {
                format: "JSON",
                message: e.to_string(),
            })?;
        set.validate()?;
        Ok(set)
    }

    /// Renders the set as TOML.
    pub fn to_toml_string(&self) -> Result<String, PolicyConfigError> {
        toml::to_string(self).map_err(|e| PolicyConfigError::Parse {
            format: "TOML",
            message: e.to_string(),
        })
    }

    /// The configuration of one policy, if present.
    pub fn policy(&self, id: PolicyId) -> Option<&PolicyConfig> {
        self.policies.iter().find(|p| p.id == id)
    }

    /// Checks every parameter; compiling a set validates it too.
    pub fn validate(&self) -> Result<(), PolicyConfigError> {
        let mut seen = BTreeSet::new();
        for policy in &self.policies {
            if !seen.insert(policy.id) {
                return Err(PolicyConfigError::DuplicatePolicy {
                    policy: policy.id.as_str(),
                });
            }
            if policy.applies_to.is_empty() {
                return Err(PolicyConfigError::EmptyAppliesTo {
                    policy: policy.id.as_str(),
                });
            }
            if policy.params.policy() != policy.id {
                return Err(invalid(
                    policy.id,
                    "params",
                    format!("belong to policy `{}`", policy.params.policy()),
                ));
            }
            validate_params(policy)?;
        }
        Ok(())
    }
}

pub(crate) fn invalid(
    policy: PolicyId,
    param: impl Into<String>,
    problem: impl Into<String>,
) -> PolicyConfigError {
    PolicyConfigError::InvalidParam {
        policy: policy.as_str(),
        param: param.into(),
        problem: problem.into(),
    }
}

pub(crate) fn check_regex(
    policy: PolicyId,
    param: impl Into<String>,
    pattern: &str,
) -> Result<(), PolicyConfigError> {
    regex::Regex::new(pattern)
        .map(|_| ())
        .map_err(|e| PolicyConfigError::InvalidRegex {
            policy: policy.as_str(),
            param: param.into(),
            message: e.to_string(),
        })
}

fn check_unit_interval(policy: PolicyId, param: &str, value: f64) -> Result<(), PolicyConfigError> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(invalid(
            policy,
            param,
            format!("is {value}; valid values: a number from 0 to 1"),
        ))
    }
}

fn check_named_patterns(
    policy: PolicyId,
    param: &str,
    patterns: &[NamedPattern],
) -> Result<(), PolicyConfigError> {
    for (i, p) in patterns.iter().enumerate() {
        if p.name.trim().is_empty() {
            return Err(invalid(
                policy,
                format!("{param}[{i}].name"),
                "must not be empty",
            ));
        }
        check_regex(policy, format!("{param}[{i}].pattern"), &p.pattern)?;
    }
    Ok(())
}

fn validate_params(policy: &PolicyConfig) -> Result<(), PolicyConfigError> {
    let id = policy.id;
    match &policy.params {
        PolicyParams::AiGeneratedContent(p) => check_unit_interval(id, "threshold", p.threshold),
        PolicyParams::BannedSubstrings(p) => {
            if policy.enabled && p.substrings.is_empty() {
                return Err(invalid(
                    id,
                    "substrings",
                    "is empty; valid values: a non-empty list of words or phrases",
                ));
            }
            if let Some(i) = p.substrings.iter().position(|s| s.trim().is_empty()) {
                return Err(invalid(id, format!("substrings[{i}]"), "must not be blank"));
            }
            Ok(())
        }
        PolicyParams::CodeInjection(p) => {
            if policy.enabled && p.categories.is_empty() {
                return Err(invalid(
                    id,
                    "categories",
                    "is empty; valid values: shell_execution, dynamic_eval, network_download, deserialization, sql_injection, pipe_to_shell, encoded_powershell, destructive_command",
                ));
            }
            Ok(())
        }
        PolicyParams::CodeLeakage(p) => {
            if p.min_code_lines == 0 {
                return Err(invalid(
                    id,
                    "min_code_lines",
                    "is 0; valid values: 1 or more",
                ));
            }
            for (name, list) in [
                ("org_markers", &p.org_markers),
                ("internal_host_suffixes", &p.internal_host_suffixes),
                ("package_namespaces", &p.package_namespaces),
            ] {
                if let Some(i) = list.iter().position(|s| s.trim().is_empty()) {
                    return Err(invalid(id, format!("{name}[{i}]"), "must not be blank"));
                }
            }
            check_named_patterns(id, "custom_patterns", &p.custom_patterns)
        }
        PolicyParams::ContentTypes(p) => {
            if policy.enabled && p.denied.is_empty() {
                return Err(invalid(
                    id,
                    "denied",
                    "is empty; valid values: code, json, sql, html, base64_blob, url_list, attachment",
                ));
            }
            for (i, mime) in p.denied_mime_types.iter().enumerate() {
                let valid = mime
                    .split_once('/')
                    .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty() && !mime.contains(' '));
                if !valid {
                    return Err(invalid(
                        id,
                        format!("denied_mime_types[{i}]"),
                        format!("is `{mime}`; valid values: a MIME type such as `application/pdf` or `image/*`"),
                    ));
                }
            }
            Ok(())
        }
        PolicyParams::DetectLanguages(p) => {
            for (name, list) in [("allowed", &p.allowed), ("denied", &p.denied)] {
                for (i, code) in list.iter().enumerate() {
                    if crate::detect_languages::language_name(code).is_none() {
                        return Err(invalid(
                            id,
                            format!("{name}[{i}]"),
                            format!(
                                "is `{code}`, an unknown language code; valid values: {}",
                                crate::detect_languages::supported_codes().join(", ")
                            ),
                        ));
                    }
                }
            }
            if policy.enabled && p.allowed.is_empty() && p.denied.is_empty() {
                return Err(invalid(
                    id,
                    "allowed",
                    "and `denied` are both empty; valid values: at least one ISO 639-1 code in either",
                ));
            }
            Ok(())
        }
        PolicyParams::MaliciousUrl(p) => {
            for (name, list) in [("blocklist", &p.blocklist), ("allowlist", &p.allowlist)] {
                if let Some(i) = list
                    .iter()
                    .position(|h| h.trim().is_empty() || h.contains(['/', ' ', ':']))
                {
                    return Err(invalid(
                        id,
                        format!("{name}[{i}]"),
                        "is not a host name; valid values: host names such as `evil.example`",
                    ));
                }
            }
            Ok(())
        }
        PolicyParams::SexualContent(p) => {
            if p.threshold <= 0.0 || !p.threshold.is_finite() {
                return Err(invalid(
                    id,
                    "threshold",
                    format!("is {}; valid values: a positive number", p.threshold),
                ));
            }
            Ok(())
        }
        PolicyParams::DetectTopics(p) => {
            if policy.enabled && p.topics.is_empty() {
                return Err(invalid(
                    id,
                    "topics",
                    "is empty; valid values: a list of {name, phrases, threshold}",
                ));
            }
            for (i, topic) in p.topics.iter().enumerate() {
                if topic.name.trim().is_empty() {
                    return Err(invalid(
                        id,
                        format!("topics[{i}].name"),
                        "must not be blank",
                    ));
                }
                if topic.phrases.is_empty() {
                    return Err(invalid(
                        id,
                        format!("topics[{i}].phrases"),
                        "is empty; valid values: a non-empty list of {phrase, weight}",
                    ));
                }
                if let Some(j) = topic
                    .phrases
                    .iter()
                    .position(|p| p.phrase.trim().is_empty())
                {
                    return Err(invalid(
                        id,
                        format!("topics[{i}].phrases[{j}].phrase"),
                        "must not be blank",
                    ));
                }
                if topic.threshold <= 0.0 || !topic.threshold.is_finite() {
                    return Err(invalid(
                        id,
                        format!("topics[{i}].threshold"),
                        "must be a positive number",
                    ));
                }
            }
            Ok(())
        }
        PolicyParams::FunctionCall(p) => {
            for (i, ap) in p.argument_patterns.iter().enumerate() {
                if ap.name.trim().is_empty() {
                    return Err(invalid(
                        id,
                        format!("argument_patterns[{i}].name"),
                        "must not be blank",
                    ));
                }
                if !ap.argument.is_empty() && !ap.argument.starts_with('/') {
                    return Err(invalid(
                        id,
                        format!("argument_patterns[{i}].argument"),
                        "is not a JSON pointer; valid values: empty (whole arguments) or a pointer such as `/path`",
                    ));
                }
                check_regex(id, format!("argument_patterns[{i}].pattern"), &ap.pattern)?;
            }
            for (tool, schema) in &p.schemas {
                crate::function_call::check_schema(schema).map_err(|problem| {
                    invalid(
                        id,
                        format!("schemas.{tool}{problem}"),
                        "is not a supported JSON schema",
                    )
                })?;
            }
            Ok(())
        }
        PolicyParams::Grounding(p) => {
            if p.min_ungrounded == 0 {
                return Err(invalid(
                    id,
                    "min_ungrounded",
                    "is 0; valid values: 1 or more",
                ));
            }
            Ok(())
        }
        PolicyParams::Pii(p) => {
            if policy.enabled && p.entities.is_empty() {
                return Err(invalid(
                    id,
                    "entities",
                    "is empty; valid values: email, phone, credit_card, iban, ssn, passport, national_id, ip_address, street_address",
                ));
            }
            check_unit_interval(id, "threshold", p.threshold)
        }
        PolicyParams::EncodedAttacks(p) => {
            if !(1..=4).contains(&p.max_depth) {
                return Err(invalid(
                    id,
                    "max_depth",
                    format!("is {}; valid values: 1 to 4", p.max_depth),
                ));
            }
            if policy.enabled && p.encodings.is_empty() {
                return Err(invalid(
                    id,
                    "encodings",
                    "is empty; valid values: base64, hex, rot13, url_encoded, unicode_escape, unicode_tags",
                ));
            }
            Ok(())
        }
        PolicyParams::Jailbreak(p) => {
            check_named_patterns(id, "custom_patterns", &p.custom_patterns)
        }
        PolicyParams::PromptInjection(p) => {
            check_named_patterns(id, "custom_patterns", &p.custom_patterns)
        }
        PolicyParams::Leakage(p) => {
            for (name, list) in [
                ("canaries", &p.canaries),
                ("system_prompt_fragments", &p.system_prompt_fragments),
            ] {
                if let Some(i) = list.iter().position(|s| s.trim().chars().count() < 8) {
                    return Err(invalid(
                        id,
                        format!("{name}[{i}]"),
                        "is shorter than 8 characters; valid values: distinctive strings of 8 or more characters",
                    ));
                }
            }
            Ok(())
        }
        PolicyParams::ObfuscatedAttacks(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_toml_set_with_defaults_parses_and_fills_the_catalogue_roles() {
        let set = PolicySetConfig::from_toml_str(
            r#"
            [[policies]]
            id = "pii"
            action = "block"

            [[policies]]
            id = "banned_substrings"
            applies_to = ["user"]
            params = { substrings = ["project falcon"], match_mode = "substring" }
            "#,
        )
        .expect("valid set");
        let pii = set.policy(PolicyId::Pii).expect("pii present");
        assert_eq!(pii.applies_to, vec![Role::User, Role::Assistant]);
        assert!(pii.enabled);
        assert_eq!(pii.action.effective(), Action::Alert);
        match &set
            .policy(PolicyId::BannedSubstrings)
            .expect("present")
            .params
        {
            PolicyParams::BannedSubstrings(p) => {
                assert_eq!(p.match_mode, MatchMode::Substring);
                assert_eq!(p.substrings, vec!["project falcon".to_owned()]);
            }
            other => panic!("wrong params {other:?}"),
        }
    }

    #[test]
    fn an_unknown_policy_id_is_refused_with_the_valid_ids() {
        let err = PolicySetConfig::from_json_str(r#"{"policies":[{"id":"pi","action":"log"}]}"#)
            .expect_err("unknown id");
        let msg = err.to_string();
        assert!(msg.contains("pi"), "{msg}");
        assert!(
            msg.contains("prompt_injection") && msg.contains("banned_substrings"),
            "{msg}"
        );
    }

    #[test]
    fn an_unknown_action_is_refused_with_the_valid_actions() {
        let err = PolicySetConfig::from_json_str(r#"{"policies":[{"id":"pii","action":"drop"}]}"#)
            .expect_err("unknown action");
        let msg = err.to_string();
        assert!(
            msg.contains("drop") && msg.contains("alert") && msg.contains("modify"),
            "{msg}"
        );
    }

    #[test]
    fn an_unknown_parameter_is_refused_naming_the_field() {
        let err = PolicySetConfig::from_json_str(
            r#"{"policies":[{"id":"pii","params":{"entitys":["email"]}}]}"#,
        )
        .expect_err("unknown field");
        let msg = err.to_string();
        assert!(msg.contains("entitys") && msg.contains("entities"), "{msg}");
    }

    #[test]
    fn a_regex_that_does_not_compile_names_the_policy_and_param() {
        let err = PolicySetConfig::from_json_str(
            r#"{"policies":[{"id":"prompt_injection","params":{"custom_patterns":[{"name":"x","pattern":"(unclosed"}]}}]}"#,
        )
        .expect_err("bad regex");
        let msg = err.to_string();
        assert!(msg.contains("prompt_injection"), "{msg}");
        assert!(msg.contains("custom_patterns[0].pattern"), "{msg}");
    }

    #[test]
    fn an_unknown_language_code_is_refused_with_the_valid_codes() {
        let err = PolicySetConfig::from_json_str(
            r#"{"policies":[{"id":"detect_languages","params":{"allowed":["en","xx"]}}]}"#,
        )
        .expect_err("bad code");
        let msg = err.to_string();
        assert!(msg.contains("allowed[1]") && msg.contains("`xx`"), "{msg}");
        assert!(msg.contains("fr") && msg.contains("de"), "{msg}");
    }

    #[test]
    fn an_enabled_banned_substrings_policy_needs_a_list() {
        let err = PolicySetConfig::from_json_str(r#"{"policies":[{"id":"banned_substrings"}]}"#)
            .expect_err("empty list");
        assert!(err.to_string().contains("substrings"), "{err}");
        let disabled = PolicySetConfig::from_json_str(
            r#"{"policies":[{"id":"banned_substrings","enabled":false}]}"#,
        );
        assert!(disabled.is_ok());
    }

    #[test]
    fn a_policy_configured_twice_is_refused() {
        let err = PolicySetConfig::from_json_str(r#"{"policies":[{"id":"pii"},{"id":"pii"}]}"#)
            .expect_err("duplicate");
        assert_eq!(err, PolicyConfigError::DuplicatePolicy { policy: "pii" });
    }

    #[test]
    fn a_set_round_trips_through_toml_and_json() {
        let set = crate::templates::template("strict").expect("strict exists");
        let toml_text = set.to_toml_string().expect("renders");
        let back = PolicySetConfig::from_toml_str(&toml_text).expect("parses");
        assert_eq!(back, set);
        let json = serde_json::to_string(&set).expect("json");
        let back = PolicySetConfig::from_json_str(&json).expect("parses");
        assert_eq!(back, set);
    }
}
