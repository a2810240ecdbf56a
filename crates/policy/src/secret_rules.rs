//! Credential detection shared by `code_leakage` and `leakage`. Rules are derived from
//! gitleaks' default rule file (MIT) and compiled as one byte `RegexSet` with Unicode off.

use std::ops::Range;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::bytes::{Regex, RegexBuilder};

use crate::error::PolicyConfigError;
use crate::literals::{Boundary, LiteralRegistry, LiteralSlot, Present};
use crate::scan::{ScanText, Severity};

#[derive(Debug)]
struct SecretSpec {
    name: &'static str,
    severity: Severity,
    /// Capture group 1, when present, is the secret itself.
    pattern: &'static str,
    /// Whether the captured value must look random (entropy check), for keyword rules.
    random: bool,
    /// Lowercase literals every match contains (see `rule_set::RuleSpec`).
    anchors: &'static [&'static str],
}

const fn secret(
    name: &'static str,
    severity: Severity,
    anchors: &'static [&'static str],
    pattern: &'static str,
) -> SecretSpec {
    SecretSpec {
        name,
        severity,
        pattern,
        random: false,
        anchors,
    }
}

use Severity::{Critical, High};

const SECRET_SPECS: &[SecretSpec] = &[
    secret(
        "aws_access_key_id",
        Critical,
        &["akia", "asia", "abia", "acca", "a3t"],
        r"\b((?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})\b",
    ),
    SecretSpec {
        name: "aws_secret_access_key",
        severity: Critical,
        pattern: r#"(?i)aws_?(?:secret)?_?(?:access)?_?key(?:_id)?["']?\s*[:=]\s*["']?([A-Za-z0-9/+=]{40})\b"#,
        random: true,
        anchors: &["aws"],
    },
    secret(
        "github_token",
        Critical,
        &["ghp_", "gho_", "ghu_", "ghs_", "ghr_"],
        r"\b((?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,255})\b",
    ),
    secret(
        "github_fine_grained_token",
        Critical,
        &["github_pat_"],
        r"\b(github_pat_[A-Za-z0-9_]{82})\b",
    ),
    secret(
        "gitlab_token",
        Critical,
        &["glpat-"],
        r"\b(glpat-[A-Za-z0-9_\-]{20,})\b",
    ),
    secret(
        "slack_token",
        High,
        &["xox"],
        r"\b(xox[baprs]-[A-Za-z0-9-]{10,})\b",
    ),
    secret(
        "slack_webhook",
        High,
        &["hooks.slack.com"],
        r"(https://hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9+/]{43,56})",
    ),
    secret(
        "stripe_key",
        Critical,
        &["sk_live_", "sk_test_", "rk_live_", "rk_test_"],
        r"\b((?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,99})\b",
    ),
    secret(
        "anthropic_api_key",
        Critical,
        &["sk-ant-"],
        r"\b(sk-ant-(?:api03|admin01)-[A-Za-z0-9_\-]{80,120})",
    ),
    secret(
        "openai_api_key",
        Critical,
        &["t3blbkfj"],
        r"\b(sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}T3BlbkFJ[A-Za-z0-9_\-]{20,})",
    ),
    secret(
        "google_api_key",
        High,
        &["aiza"],
        r"\b(AIza[0-9A-Za-z_\-]{35})\b",
    ),
    secret(
        "private_key",
        Critical,
        &["private key"],
        r"(-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----)",
    ),
    secret(
        "jwt",
        High,
        &["eyj"],
        r"\b(eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,})",
    ),
    secret(
        "sendgrid_api_key",
        High,
        &["sg."],
        r"\b(SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43})\b",
    ),
    secret("npm_token", High, &["npm_"], r"\b(npm_[A-Za-z0-9]{36})\b"),
    secret(
        "pypi_token",
        High,
        &["pypi-"],
        r"\b(pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{50,})",
    ),
    secret(
        "huggingface_token",
        High,
        &["hf_"],
        r"\b(hf_[A-Za-z]{34})\b",
    ),
    secret(
        "digitalocean_token",
        High,
        &["_v1_"],
        r"\b(do[por]_v1_[a-f0-9]{64})\b",
    ),
    secret(
        "shopify_token",
        High,
        &["shpat_", "shpca_", "shppa_", "shpss_"],
        r"\b(shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32})\b",
    ),
    secret("twilio_api_key", High, &["sk"], r"\b(SK[0-9a-fA-F]{32})\b"),
    secret(
        "azure_storage_key",
        Critical,
        &["accountkey="],
        r"(?i)AccountKey=([A-Za-z0-9+/=]{86,88})",
    ),
    secret(
        "connection_string_password",
        Critical,
        &["://"],
        r"\b(?:postgres(?:ql)?|mysql|mongodb(?:\+srv)?|redis|rediss|amqps?|mssql)://[^\s:/@]{1,64}:([^\s@/]{3,128})@[^\s/]+",
    ),
    SecretSpec {
        name: "generic_secret_assignment",
        severity: High,
        pattern: r#"(?i)\b(?:api[_-]?key|apikey|secret[_-]?key|client[_-]?secret|auth[_-]?token|access[_-]?token|secret|token|passwd|password|pwd)["']?\s*(?:[:=]|:=|=>)\s*["']([A-Za-z0-9_\-+/=.!@#$%^&*]{10,128})["']"#,
        random: true,
        anchors: &["key", "secret", "token", "passw", "pwd"],
    },
];

/// A credential found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SecretMatch {
    pub rule: &'static str,
    pub severity: Severity,
    /// Span of the secret itself.
    pub span: Range<usize>,
}

/// The compiled secret rules.
#[derive(Debug, Clone)]
pub(crate) struct SecretScanner {
    prefilter: AhoCorasick,
    /// The distinct anchor patterns of `prefilter`.
    anchors: Vec<String>,
    /// Where `anchors` sit in the literal index of the owning set.
    slot: Option<LiteralSlot>,
    anchor_rule: Vec<Vec<usize>>,
    rules: Vec<(Regex, &'static SecretSpec)>,
}

impl SecretScanner {
    pub fn compile(policy: &'static str) -> Result<SecretScanner, PolicyConfigError> {
        let patterns: Vec<String> = SECRET_SPECS
            .iter()
            .map(|s| format!("(?-u){}", s.pattern))
            .collect();
        let err = |e: regex::Error| PolicyConfigError::InvalidRegex {
            policy,
            param: "built-in secret rules".into(),
            message: e.to_string(),
        };
        let mut anchors = Vec::new();
        let mut anchor_rule = Vec::new();
        for (i, spec) in SECRET_SPECS.iter().enumerate() {
            for a in spec.anchors {
                anchors.push(*a);
                anchor_rule.push(i);
            }
        }
        // Non-overlapping search (see `rule_set`): a longer anchor containing a shorter one
        // is replaced by it.
        let reduced: Vec<&str> = anchors
            .iter()
            .map(|a| {
                anchors
                    .iter()
                    .copied()
                    .filter(|b| b.len() < a.len() && a.contains(b))
                    .min_by_key(|b| b.len())
                    .unwrap_or(a)
            })
            .collect();
        // One pattern per distinct anchor, listing every rule it stands for.
        let mut anchors: Vec<&str> = Vec::new();
        let mut rules_of: Vec<Vec<usize>> = Vec::new();
        for (anchor, rule) in reduced.into_iter().zip(anchor_rule) {
            match anchors.iter().position(|u| *u == anchor) {
                Some(i) => rules_of[i].push(rule),
                None => {
                    anchors.push(anchor);
                    rules_of.push(vec![rule]);
                }
            }
        }
        let anchor_rule = rules_of;
        let prefilter = AhoCorasickBuilder::new()
            .kind(Some(aho_corasick::AhoCorasickKind::DFA))
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostFirst)
            .build(&anchors)
            .map_err(|e| PolicyConfigError::InvalidParam {
                policy,
                param: "built-in secret rule anchors".into(),
                problem: e.to_string(),
            })?;
        let rules = patterns
            .iter()
            .zip(SECRET_SPECS)
            .map(|(p, spec)| {
                RegexBuilder::new(p)
                    .size_limit(64 << 20)
                    .build()
                    .map(|r| (r, spec))
                    .map_err(err)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SecretScanner {
            prefilter,
            anchors: anchors.iter().map(|a| a.to_ascii_lowercase()).collect(),
            slot: None,
            anchor_rule,
            rules,
        })
    }

    /// Adds the anchors to a set's literal index.
    pub fn register(&mut self, literals: &mut LiteralRegistry) {
        self.slot = Some(literals.add(self.anchors.iter().cloned(), Boundary::Any));
    }

    /// Every credential in `text`.
    #[cfg(test)]
    pub fn scan(&self, text: &str) -> Vec<SecretMatch> {
        self.scan_with(text, None)
    }

    /// `scan` of the message of a scan, with the anchors its index already found.
    pub fn scan_in(&self, scan: &ScanText<'_>) -> Vec<SecretMatch> {
        let known = scan.literals().zip(self.slot);
        self.scan_with(scan.text, known)
    }

    fn scan_with(&self, text: &str, known: Option<(&Present, LiteralSlot)>) -> Vec<SecretMatch> {
        let bytes = text.as_bytes();
        let mut out: Vec<SecretMatch> = Vec::new();
        let mut candidates = vec![false; self.rules.len()];
        let mut mark = |pattern: usize| {
            for &rule in &self.anchor_rule[pattern] {
                candidates[rule] = true;
            }
        };
        match known {
            Some((present, slot)) => present.found(slot).for_each(&mut mark),
            None => crate::rule_set::anchor_hits(&self.prefilter, bytes).for_each(&mut mark),
        }
        for idx in (0..self.rules.len()).filter(|&i| candidates[i]) {
            let (regex, spec) = &self.rules[idx];
            for caps in regex.captures_iter(bytes) {
                let Some(m) = caps.get(1).or_else(|| caps.get(0)) else {
                    continue;
                };
                let value = &text[m.start()..m.end()];
                if spec.random && !looks_random(value) {
                    continue;
                }
                if is_placeholder(value) {
                    continue;
                }
                // A specific rule wins over the generic one on the same bytes.
                if out
                    .iter()
                    .any(|o| o.span.start < m.end() && m.start() < o.span.end)
                {
                    continue;
                }
                out.push(SecretMatch {
                    rule: spec.name,
                    severity: spec.severity,
                    span: m.range(),
                });
            }
        }
        out.sort_by_key(|m| m.span.start);
        out
    }
}

/// Documentation and template values are not secrets (gitleaks allowlists the same).
fn is_placeholder(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    const MARKERS: &[&str] = &[
        "example",
        "xxxx",
        "your_",
        "your-",
        "yourkey",
        "changeme",
        "placeholder",
        "dummy",
        "redacted",
        "<",
        "${",
        "{{",
        "****",
        "1234567890",
        "abcdef",
        "sample",
        "insert",
        "replace",
        "os.environ",
        "process.env",
        "getenv",
    ];
    MARKERS.iter().any(|m| lower.contains(m))
}

/// Shannon entropy over characters, with a mix of classes, so that `password = "hello world"`
/// style values and words are not reported by the keyword rules.
fn looks_random(value: &str) -> bool {
    let mut counts = [0u32; 256];
    for b in value.bytes() {
        counts[b as usize] += 1;
    }
    let n = value.len() as f64;
    let entropy: f64 = counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = f64::from(*c) / n;
            -p * p.log2()
        })
        .sum();
    let digits = value.bytes().any(|b| b.is_ascii_digit());
    let letters = value.bytes().any(|b| b.is_ascii_alphabetic());
    entropy >= 3.0 && digits && letters
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str) -> Vec<&'static str> {
        SecretScanner::compile("code_leakage")
            .expect("compiles")
            .scan(text)
            .into_iter()
            .map(|m| m.rule)
            .collect()
    }

    #[test]
    fn provider_tokens_are_recognised() {
        assert_eq!(
            rules("GH_TOKEN: ghp_dzfLrjMcgMuxIapYHZaNAR3zlT4BNLZ2mpkG"),
            vec!["github_token"]
        );
        assert_eq!(rules("key AKIA454ML6LG4TJFCZ4K"), vec!["aws_access_key_id"]);
        assert_eq!(
            rules("-----BEGIN OPENSSH PRIVATE KEY-----"),
            vec!["private_key"]
        );
        assert_eq!(
            rules("postgres://app:s3cr3tPassw0rd@db.internal:5432/app"),
            vec!["connection_string_password"]
        );
    }

    #[test]
    fn placeholders_and_environment_lookups_are_not_secrets() {
        assert!(rules("AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE").is_empty());
        assert!(rules("api_key = os.environ[\"API_KEY\"]").is_empty());
        assert!(rules("password = \"correct horse\"").is_empty());
        assert!(rules("token: \"<your-token-here>\"").is_empty());
    }

    #[test]
    fn a_random_value_assigned_to_a_secret_name_is_reported() {
        assert_eq!(
            rules("client_secret = \"q8Vf2LmZ0pR7sK4xW9bN3cT6\""),
            vec!["generic_secret_assignment"]
        );
    }
}
