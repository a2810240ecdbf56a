//! `code_leakage`: source code, credentials, internal host names, copyright headers and the
//! organisation's confidentiality markers or package namespaces pasted into prompts.

use regex::bytes::{Regex, RegexBuilder};

use serde::{Deserialize, Serialize};

use crate::error::PolicyConfigError;
use crate::evidence::{excerpt, mask_secret};
use crate::literals::{Boundary, LiteralRegistry, LiteralSlot};
use crate::message::{MessageInput, Role};
use crate::params::NamedPattern;
use crate::params::{check_named_patterns, invalid};
use crate::policy::{Detector, Policy};
use crate::scan::{snap_to_char_boundaries, Hit, ScanText, Severity};
use crate::secret_rules::SecretScanner;

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

/// The compiled policy.
pub(crate) struct CodeLeakage {
    params: CodeLeakageParams,
    secrets: Option<SecretScanner>,
    /// Markers written in capitals match case-sensitively (a `CONFIDENTIAL` banner, not the
    /// adjective in a sentence); others match in any case.
    markers: Option<Regex>,
    copyright: Regex,
    /// Where `COPYRIGHT_LITERALS` sit in the literal index of the owning set.
    copyright_slot: Option<LiteralSlot>,
    /// Where `.suffix` of every internal host suffix sits in the literal index.
    suffixes_slot: Option<LiteralSlot>,
    internal_hosts: Option<Regex>,
    namespaces: Option<Regex>,
    custom: Vec<(String, Regex)>,
}

/// One of these is in every match of the copyright rule.
const COPYRIGHT_LITERALS: [&str; 3] = ["copyright", "(c)", "\u{a9}"];

fn regex(policy_param: &str, pattern: &str) -> Result<Regex, PolicyConfigError> {
    RegexBuilder::new(pattern)
        .size_limit(64 << 20)
        .build()
        .map_err(|e| PolicyConfigError::InvalidRegex {
            policy: CodeLeakage::ID,
            param: policy_param.to_owned(),
            message: e.to_string(),
        })
}

impl CodeLeakage {
    pub fn compile(params: &CodeLeakageParams) -> Result<CodeLeakage, PolicyConfigError> {
        let markers = if params.org_markers.is_empty() {
            None
        } else {
            let alternatives: Vec<String> = params
                .org_markers
                .iter()
                .map(|m| {
                    let body = m
                        .split_whitespace()
                        .map(regex::escape)
                        .collect::<Vec<_>>()
                        .join(r"\s+");
                    let upper = m.chars().any(|c| c.is_alphabetic())
                        && !m.chars().any(|c| c.is_lowercase());
                    if upper {
                        format!(r"\b{body}\b")
                    } else {
                        format!(r"(?i:\b{body}\b)")
                    }
                })
                .collect();
            Some(regex("org_markers", &alternatives.join("|"))?)
        };
        let internal_hosts = if params.internal_host_suffixes.is_empty() {
            None
        } else {
            let suffixes: Vec<String> = params
                .internal_host_suffixes
                .iter()
                .map(|s| regex::escape(s.trim_start_matches('.')))
                .collect();
            Some(regex(
                "internal_host_suffixes",
                &format!(
                    r"(?i-u)\b(?:[a-z0-9](?:[a-z0-9\-]{{0,61}}[a-z0-9])?\.)+(?:{})\b",
                    suffixes.join("|")
                ),
            )?)
        };
        let namespaces = if params.package_namespaces.is_empty() {
            None
        } else {
            let alts: Vec<String> = params
                .package_namespaces
                .iter()
                .map(|n| regex::escape(n))
                .collect();
            Some(regex(
                "package_namespaces",
                &format!(r"(?:{})[\w.:/\\-]*", alts.join("|")),
            )?)
        };
        let custom = params
            .custom_patterns
            .iter()
            .enumerate()
            .map(|(i, p)| {
                Ok((
                    p.name.clone(),
                    regex(&format!("custom_patterns[{i}].pattern"), &p.pattern)?,
                ))
            })
            .collect::<Result<Vec<_>, PolicyConfigError>>()?;
        Ok(CodeLeakage {
            params: params.clone(),
            secrets: params
                .detect_secrets
                .then(|| SecretScanner::compile(CodeLeakage::ID))
                .transpose()?,
            markers,
            copyright: regex(
                "built-in copyright rule",
                r"(?im-u)^[ \t]*(?://+|#+|/?\*+|--|;+|<!--)[ \t]*.{0,80}?(?:copyright|\(c\)|\xC2\xA9)[ \t]*(?:\(c\)[ \t]*)?(?:19|20)\d{2}",
            )?,
            copyright_slot: None,
            suffixes_slot: None,
            internal_hosts,
            namespaces,
            custom,
        })
    }
}

impl Detector for CodeLeakage {
    fn scan(&self, text: &ScanText<'_>, _input: &MessageInput<'_>, out: &mut Vec<Hit>) {
        let t = text.text;
        let bytes = t.as_bytes();
        if self.params.detect_code {
            for region in text.code_regions(self.params.min_code_lines) {
                if region.fenced && region.code_lines == 0 {
                    continue;
                }
                let lang = region
                    .language
                    .clone()
                    .unwrap_or_else(|| "unlabelled".into());
                out.push(Hit {
                    rule: if region.fenced {
                        format!("source_code:fenced:{lang}")
                    } else {
                        "source_code:heuristic".into()
                    },
                    evidence: format!("{} code lines ({lang})", region.code_lines),
                    span: region.span.clone(),
                    severity: Severity::Medium,
                });
            }
        }
        if let Some(scanner) = &self.secrets {
            for m in scanner.scan_in(text) {
                out.push(Hit {
                    rule: format!("secret:{}", m.rule),
                    evidence: mask_secret(&t[m.span.clone()]),
                    span: m.span,
                    severity: m.severity,
                });
            }
        }
        if let Some(markers) = &self.markers {
            for m in markers.find_iter(bytes) {
                let span = snap_to_char_boundaries(t, m.range());
                out.push(Hit {
                    rule: format!("org_marker:{}", &t[span.clone()]),
                    evidence: excerpt(&t[span.clone()]),
                    span,
                    severity: Severity::High,
                });
            }
        }
        let copyright_literal = match (text.literals(), self.copyright_slot) {
            (Some(present), Some(slot)) => present.any(slot),
            _ => true,
        };
        let copyright = copyright_literal.then(|| self.copyright.find_iter(bytes));
        for m in copyright.into_iter().flatten() {
            let span = snap_to_char_boundaries(t, m.range());
            out.push(Hit {
                rule: "copyright_header".into(),
                evidence: excerpt(t[span.clone()].trim()),
                span,
                severity: Severity::Medium,
            });
        }
        let suffix_present = |suffixes: &[String]| {
            suffixes.iter().any(|sfx| {
                let sfx = sfx.trim_start_matches('.').as_bytes();
                bytes
                    .windows(sfx.len() + 1)
                    .any(|w| w[0] == b'.' && w[1..].eq_ignore_ascii_case(sfx))
            })
        };
        if let Some(hosts) =
            self.internal_hosts
                .as_ref()
                .filter(|_| match (text.literals(), self.suffixes_slot) {
                    (Some(present), Some(slot)) => present.any(slot),
                    _ => suffix_present(&self.params.internal_host_suffixes),
                })
        {
            for m in hosts.find_iter(bytes) {
                out.push(Hit {
                    rule: "internal_host".into(),
                    evidence: excerpt(&t[m.range()]),
                    span: m.range(),
                    severity: Severity::Medium,
                });
            }
        }
        if let Some(ns) = &self.namespaces {
            for m in ns.find_iter(bytes) {
                let span = snap_to_char_boundaries(t, m.range());
                out.push(Hit {
                    rule: "package_namespace".into(),
                    evidence: excerpt(&t[span.clone()]),
                    span,
                    severity: Severity::High,
                });
            }
        }
        for (name, re) in &self.custom {
            for m in re.find_iter(bytes) {
                let span = snap_to_char_boundaries(t, m.range());
                out.push(Hit {
                    rule: format!("custom:{name}"),
                    evidence: excerpt(&t[span.clone()]),
                    span,
                    severity: Severity::High,
                });
            }
        }
    }

    fn register_literals(&mut self, literals: &mut LiteralRegistry) {
        if let Some(scanner) = &mut self.secrets {
            scanner.register(literals);
        }
        self.copyright_slot =
            Some(literals.add(COPYRIGHT_LITERALS.map(str::to_owned), Boundary::Any));
        if self.internal_hosts.is_some() {
            let dotted = self
                .params
                .internal_host_suffixes
                .iter()
                .map(|s| format!(".{}", s.trim_start_matches('.')));
            self.suffixes_slot = Some(literals.add(dotted, Boundary::Any));
        }
    }
}

impl Policy for CodeLeakage {
    const ID: &'static str = "code_leakage";
    const NAME: &'static str = "Code Leakage Prevention";
    const TAG: &'static str = "Code Leakage";
    const APPLIES_TO: &'static [Role] = &[Role::User];
    const DESCRIPTION: &'static str =
        "Source code, secrets, internal host names and organisation markers pasted into prompts.";
    type Params = CodeLeakageParams;

    fn validate(params: &CodeLeakageParams, _enabled: bool) -> Result<(), PolicyConfigError> {
        let id = Self::ID;
        if params.min_code_lines == 0 {
            return Err(invalid(
                id,
                "min_code_lines",
                "is 0; valid values: 1 or more",
            ));
        }
        for (name, list) in [
            ("org_markers", &params.org_markers),
            ("internal_host_suffixes", &params.internal_host_suffixes),
            ("package_namespaces", &params.package_namespaces),
        ] {
            if let Some(i) = list.iter().position(|s| s.trim().is_empty()) {
                return Err(invalid(id, format!("{name}[{i}]"), "must not be blank"));
            }
        }
        check_named_patterns(id, "custom_patterns", &params.custom_patterns)
    }

    fn compile(params: &CodeLeakageParams) -> Result<Box<dyn Detector>, PolicyConfigError> {
        Ok(Box::new(CodeLeakage::compile(params)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules_hit(params: &CodeLeakageParams, text: &str) -> Vec<String> {
        let policy = CodeLeakage::compile(params).expect("compiles");
        let mut out = Vec::new();
        policy.scan(
            &ScanText::new(text),
            &MessageInput::new(Role::User, text),
            &mut out,
        );
        out.into_iter().map(|h| h.rule).collect()
    }

    #[test]
    fn fenced_code_with_a_token_reports_both_and_masks_the_token() {
        let text =
            "fix this\n```yaml\nenv:\n  GH_TOKEN: ghp_dzfLrjMcgMuxIapYHZaNAR3zlT4BNLZ2mpkG\n```";
        let policy = CodeLeakage::compile(&CodeLeakageParams::default()).expect("compiles");
        let mut out = Vec::new();
        policy.scan(
            &ScanText::new(text),
            &MessageInput::new(Role::User, text),
            &mut out,
        );
        let secret = out
            .iter()
            .find(|h| h.rule == "secret:github_token")
            .expect("token");
        assert!(!secret.evidence.contains("dzfLrjMcgMux"));
        assert!(
            out.iter().any(|h| h.rule.starts_with("source_code:fenced")),
            "{out:?}"
        );
    }

    #[test]
    fn markers_namespaces_and_internal_hosts_are_found() {
        let params = CodeLeakageParams {
            package_namespaces: vec!["com.northwind.".into()],
            ..CodeLeakageParams::default()
        };
        let rules = rules_hit(
            &params,
            "// CONFIDENTIAL\npackage com.northwind.billing;\nurl = build.corp\n",
        );
        assert!(
            rules.contains(&"org_marker:CONFIDENTIAL".to_owned()),
            "{rules:?}"
        );
        assert!(rules.contains(&"package_namespace".to_owned()));
        assert!(rules.contains(&"internal_host".to_owned()));
    }

    #[test]
    fn prose_that_mentions_confidentiality_or_code_words_is_not_leakage() {
        let params = CodeLeakageParams::default();
        assert!(rules_hit(
            &params,
            "Please keep this confidential: we may reorganise the team."
        )
        .is_empty());
        assert!(rules_hit(
            &params,
            "How do I read an API key from an environment variable in Python?"
        )
        .is_empty());
        assert!(rules_hit(&params, "api_key = os.environ[\"OPENAI_API_KEY\"]").is_empty());
    }
}
