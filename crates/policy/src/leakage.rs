//! `leakage`: canary strings and system-prompt fragments in any message, an assistant
//! reciting its system prompt, credentials and PII in assistant answers, and credentials in
//! tool results.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use serde::{Deserialize, Serialize};

use crate::classifier::Sensitivity;
use crate::error::PolicyConfigError;
use crate::evidence::{excerpt, mask_secret};
use crate::learned;
use crate::literals::LiteralRegistry;
use crate::message::{MessageInput, Role};
use crate::params::invalid;
use crate::pii::PiiParams;
use crate::pii::{self, Pii};
use crate::policy::{Detector, Policy};
use crate::rule_set::{rule, RuleSet, RuleSpec};
use crate::scan::{snap_to_char_boundaries, Hit, ScanText, Severity};
use crate::secret_rules::SecretScanner;

/// `leakage` parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// How readily the learned classifier's score of a user message or tool result (system-
    /// prompt extraction, indirect injection) is reported as rule `classifier`: `off`,
    /// `low`, `medium`, `high`, or a probability threshold in (0, 1).
    pub sensitivity: Sensitivity,
}

impl Default for LeakageParams {
    fn default() -> Self {
        Self {
            canaries: Vec::new(),
            system_prompt_fragments: Vec::new(),
            detect_secrets: true,
            detect_pii: true,
            sensitivity: Sensitivity::default(),
        }
    }
}

const DISCLOSURE_RULES: &[RuleSpec] = &[rule(
    "system_prompt_disclosure",
    Severity::High,
    &["prompt", "instructions", "instructed", "told"],
    r"\b(?:my|the)\s+(?:system\s+prompt|initial\s+instructions|hidden\s+instructions|original\s+instructions)\s+(?:is|are|says?|reads?|states?)\s*:|\bhere\s+(?:is|are)\s+(?:my|the)\s+(?:full\s+|complete\s+)?(?:system\s+prompt|instructions\s+i\s+was\s+given|hidden\s+instructions)\b|\bi\s+was\s+(?:instructed|told)\s+(?:by\s+the\s+(?:developer|operator|system)\s+)?to\s+(?:never|not|always)\b",
)];

/// Words per window when matching system-prompt fragments approximately.
const SHINGLE: usize = 6;

/// The compiled policy.
pub(crate) struct Leakage {
    params: LeakageParams,
    canaries: Option<AhoCorasick>,
    /// Shingles of the configured fragments (lowercase, single-spaced).
    shingles: Option<(AhoCorasick, Vec<usize>)>,
    disclosure: RuleSet,
    secrets: SecretScanner,
    pii: Pii,
}

fn automaton(patterns: &[String]) -> Result<AhoCorasick, PolicyConfigError> {
    AhoCorasickBuilder::new()
        .kind(Some(aho_corasick::AhoCorasickKind::DFA))
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::LeftmostLongest)
        .build(patterns)
        .map_err(|e| PolicyConfigError::InvalidParam {
            policy: Leakage::ID,
            param: "canaries".into(),
            problem: format!("cannot be compiled: {e}"),
        })
}

impl Leakage {
    pub fn compile(params: &LeakageParams) -> Result<Leakage, PolicyConfigError> {
        let canaries = if params.canaries.is_empty() {
            None
        } else {
            Some(automaton(&params.canaries)?)
        };
        let mut shingles = Vec::new();
        let mut owners = Vec::new();
        for (i, fragment) in params.system_prompt_fragments.iter().enumerate() {
            let words: Vec<String> = fragment.split_whitespace().map(str::to_lowercase).collect();
            if words.len() <= SHINGLE {
                shingles.push(words.join(" "));
                owners.push(i);
            } else {
                for w in words.windows(SHINGLE) {
                    shingles.push(w.join(" "));
                    owners.push(i);
                }
            }
        }
        let shingles = if shingles.is_empty() {
            None
        } else {
            Some((automaton(&shingles)?, owners))
        };
        Ok(Leakage {
            params: params.clone(),
            canaries,
            shingles,
            disclosure: RuleSet::compile(Leakage::ID, DISCLOSURE_RULES, &[])?,
            secrets: SecretScanner::compile(Leakage::ID)?,
            pii: Pii::compile(&PiiParams::default())?,
        })
    }
}

impl Detector for Leakage {
    fn scan(&self, text: &ScanText<'_>, input: &MessageInput<'_>, out: &mut Vec<Hit>) {
        let t = text.text;
        if let Some(ac) = &self.canaries {
            for m in ac.find_iter(t) {
                out.push(Hit {
                    rule: "canary".into(),
                    evidence: mask_secret(&t[m.range()]),
                    span: m.range(),
                    severity: Severity::Critical,
                });
            }
        }
        if let Some((ac, owners)) = &self.shingles {
            // Match on single-spaced text; map back through word offsets.
            let mut collapsed = String::with_capacity(t.len());
            let mut offsets = Vec::with_capacity(t.len());
            for (start, word) in t
                .split_whitespace()
                .map(|w| (w.as_ptr() as usize - t.as_ptr() as usize, w))
            {
                if !collapsed.is_empty() {
                    collapsed.push(' ');
                    offsets.push(start);
                }
                collapsed.push_str(word);
                offsets.extend((0..word.len()).map(|i| start + i));
            }
            let mut reported: Vec<usize> = Vec::new();
            for m in ac.find_iter(&collapsed) {
                let owner = owners[m.pattern().as_usize()];
                if reported.contains(&owner) {
                    continue;
                }
                reported.push(owner);
                let start = offsets[m.start()];
                let end = offsets[m.end() - 1] + 1;
                let span = snap_to_char_boundaries(t, start..end);
                out.push(Hit {
                    rule: "system_prompt_fragment".into(),
                    evidence: format!(
                        "repeats system prompt fragment #{owner}: {}",
                        excerpt(&t[span.clone()])
                    ),
                    span,
                    severity: Severity::Critical,
                });
            }
        }
        match input.role {
            Role::Assistant => {
                self.disclosure.first_matches_in(text, |rule, span| {
                    let span = snap_to_char_boundaries(t, span);
                    out.push(Hit {
                        rule: rule.name.clone(),
                        evidence: excerpt(&t[span.clone()]),
                        span,
                        severity: rule.severity,
                    });
                });
                if self.params.detect_secrets {
                    for m in self.secrets.scan_in(text) {
                        out.push(Hit {
                            rule: format!("secret_in_response:{}", m.rule),
                            evidence: mask_secret(&t[m.span.clone()]),
                            span: m.span,
                            severity: m.severity,
                        });
                    }
                }
                if self.params.detect_pii {
                    for m in self.pii.find(t) {
                        out.push(Hit {
                            rule: format!("pii_in_response:{}", m.entity.as_str()),
                            evidence: pii::mask(m.entity, &t[m.span.clone()]),
                            span: m.span,
                            severity: pii::severity(m.entity),
                        });
                    }
                }
            }
            Role::Tool if self.params.detect_secrets => {
                out.extend(learned::hit(text, self.params.sensitivity));
                for m in self.secrets.scan_in(text) {
                    out.push(Hit {
                        rule: format!("credential_in_tool_result:{}", m.rule),
                        evidence: mask_secret(&t[m.span.clone()]),
                        span: m.span,
                        severity: m.severity,
                    });
                }
            }
            // The classifier learned user prompts and injected documents, not answers.
            Role::User | Role::Tool | Role::ToolDefinition => {
                out.extend(learned::hit(text, self.params.sensitivity));
            }
        }
    }

    fn register_literals(&mut self, literals: &mut LiteralRegistry) {
        self.disclosure.register(literals);
        self.secrets.register(literals);
    }
}

impl Policy for Leakage {
    const ID: &'static str = "leakage";
    const NAME: &'static str = "Prevent Leakage";
    const TAG: &'static str = "Leakage";
    const APPLIES_TO: &'static [Role] = &[Role::User, Role::Assistant];
    const DESCRIPTION: &'static str =
        "System-prompt or canary leakage, secrets and PII in responses, credentials in tool results.";
    type Params = LeakageParams;

    fn validate(params: &LeakageParams, _enabled: bool) -> Result<(), PolicyConfigError> {
        let id = Self::ID;
        for (name, list) in [
            ("canaries", &params.canaries),
            ("system_prompt_fragments", &params.system_prompt_fragments),
        ] {
            if let Some(i) = list.iter().position(|s| s.trim().chars().count() < 8) {
                return Err(invalid(
                id,
                format!("{name}[{i}]"),
                "is shorter than 8 characters; valid values: distinctive strings of 8 or more characters",
            ));
            }
        }
        learned::check_sensitivity(id, params.sensitivity)
    }

    fn compile(params: &LeakageParams) -> Result<Box<dyn Detector>, PolicyConfigError> {
        Ok(Box::new(Leakage::compile(params)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(params: &LeakageParams, role: Role, text: &str) -> Vec<String> {
        let policy = Leakage::compile(params).expect("compiles");
        let mut out = Vec::new();
        policy.scan(
            &ScanText::new(text),
            &MessageInput::new(role, text),
            &mut out,
        );
        out.into_iter().map(|h| h.rule).collect()
    }

    #[test]
    fn canaries_and_repeated_system_prompt_sentences_are_leaks() {
        let params = LeakageParams {
            canaries: vec!["CANARY-7f3a9b21".into()],
            system_prompt_fragments: vec![
                "You are the Northwind billing assistant and must never discuss payroll".into(),
            ],
            ..LeakageParams::default()
        };
        assert_eq!(
            rules(&params, Role::Assistant, "token CANARY-7f3a9b21 here"),
            vec!["canary"]
        );
        let r = rules(
            &params,
            Role::Assistant,
            "Sure. I am the Northwind billing assistant and must never\ndiscuss payroll.",
        );
        assert_eq!(r, vec!["system_prompt_fragment"]);
    }

    #[test]
    fn secrets_and_pii_in_answers_and_credentials_in_tool_results_are_leaks() {
        let params = LeakageParams::default();
        assert_eq!(
            rules(&params, Role::Assistant, "Use key AKIA454ML6LG4TJFCZ4K"),
            vec!["secret_in_response:aws_access_key_id"]
        );
        assert_eq!(
            rules(
                &params,
                Role::Assistant,
                "Her email is ana.souza@outlook.com"
            ),
            vec!["pii_in_response:email"]
        );
        assert_eq!(
            rules(
                &params,
                Role::Tool,
                "DATABASE_URL=postgres://app:Zr8qLm2vT9@db.internal/app"
            ),
            vec!["credential_in_tool_result:connection_string_password"]
        );
        assert!(rules(&params, Role::User, "Use key AKIA454ML6LG4TJFCZ4K").is_empty());
    }

    #[test]
    fn an_assistant_reciting_its_instructions_is_a_leak() {
        let r = rules(
            &LeakageParams::default(),
            Role::Assistant,
            "Here is my full system prompt: You are a helpful assistant...",
        );
        assert_eq!(r, vec!["system_prompt_disclosure"]);
    }
}
