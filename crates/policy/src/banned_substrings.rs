//! `banned_substrings`: configured words or phrases, in word or substring mode, optionally
//! case-sensitive, matched on the raw text and (unless disabled) on the normalised views so
//! that `b a n n e d`, `b4nn3d`, zero-width splits and homoglyphs do not slip through.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::bytes::{Regex, RegexBuilder};

use serde::{Deserialize, Serialize};

use crate::error::PolicyConfigError;
use crate::evidence::excerpt;
use crate::message::{MessageInput, Role};
use crate::normalize::NormalizedView;
use crate::params::invalid;
use crate::policy::{Detector, Policy};
use crate::scan::{Hit, ScanText, Severity};

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

/// Shortest squeezed phrase matched on the squeezed view; shorter ones hide in other words.
const MIN_SQUEEZED: usize = 6;

/// The compiled policy.
pub(crate) struct BannedSubstrings {
    phrases: Vec<String>,
    raw: Regex,
    folded: Option<Regex>,
    squeezed: Option<(AhoCorasick, Vec<usize>)>,
}

fn phrase_pattern(phrase: &str, mode: MatchMode) -> String {
    let words: Vec<String> = phrase.split_whitespace().map(regex::escape).collect();
    let body = words.join(r"\s+");
    let ascii_word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    match mode {
        MatchMode::Substring => body,
        MatchMode::Word => {
            // `\b` only where the phrase edge is a word character; `(?-u)` boundaries are ASCII.
            let start = if ascii_word(phrase.trim().chars().next()) {
                r"\b"
            } else {
                ""
            };
            let end = if ascii_word(phrase.trim().chars().last()) {
                r"\b"
            } else {
                ""
            };
            format!("{start}{body}{end}")
        }
    }
}

fn build(
    patterns: &[String],
    case_sensitive: bool,
    unicode: bool,
) -> Result<Regex, PolicyConfigError> {
    let alternation = patterns
        .iter()
        .map(|p| format!("(?:{p})"))
        .collect::<Vec<_>>()
        .join("|");
    RegexBuilder::new(&alternation)
        .case_insensitive(!case_sensitive)
        .unicode(unicode)
        .size_limit(64 << 20)
        .build()
        .map_err(|e| PolicyConfigError::InvalidParam {
            policy: BannedSubstrings::ID,
            param: "substrings".into(),
            problem: format!("cannot be compiled: {e}"),
        })
}

impl BannedSubstrings {
    pub fn compile(params: &BannedSubstringsParams) -> Result<BannedSubstrings, PolicyConfigError> {
        let phrases: Vec<String> = params
            .substrings
            .iter()
            .map(|s| s.trim().to_owned())
            .collect();
        let unicode = phrases.iter().any(|p| !p.is_ascii());
        let raw_patterns: Vec<String> = phrases
            .iter()
            .map(|p| phrase_pattern(p, params.match_mode))
            .collect();
        let raw = build(&raw_patterns, params.case_sensitive, unicode)?;
        let (folded, squeezed) = if params.match_normalized {
            let folded_phrases: Vec<String> = phrases
                .iter()
                .map(|p| NormalizedView::fold(p).text().to_owned())
                .collect();
            let folded_patterns: Vec<String> = folded_phrases
                .iter()
                .map(|p| phrase_pattern(p, params.match_mode))
                .collect();
            let folded = build(
                &folded_patterns,
                false,
                folded_phrases.iter().any(|p| !p.is_ascii()),
            )?;
            let mut squeezed_phrases = Vec::new();
            let mut owners = Vec::new();
            for (i, p) in folded_phrases.iter().enumerate() {
                let s: String = p.chars().filter(|c| c.is_alphanumeric()).collect();
                if s.chars().count() >= MIN_SQUEEZED {
                    squeezed_phrases.push(s);
                    owners.push(i);
                }
            }
            let squeezed = if squeezed_phrases.is_empty() {
                None
            } else {
                let ac = AhoCorasickBuilder::new()
                    .kind(Some(aho_corasick::AhoCorasickKind::DFA))
                    .match_kind(MatchKind::LeftmostLongest)
                    .build(&squeezed_phrases)
                    .map_err(|e| PolicyConfigError::InvalidParam {
                        policy: BannedSubstrings::ID,
                        param: "substrings".into(),
                        problem: format!("cannot be compiled: {e}"),
                    })?;
                Some((ac, owners))
            };
            (Some(folded), squeezed)
        } else {
            (None, None)
        };
        Ok(BannedSubstrings {
            phrases,
            raw,
            folded,
            squeezed,
        })
    }

    fn phrase_of(&self, matched: &str) -> String {
        let folded = NormalizedView::fold(matched);
        let key: String = folded
            .text()
            .chars()
            .filter(|c| c.is_alphanumeric())
            .collect();
        self.phrases
            .iter()
            .find(|p| {
                let pk: String = NormalizedView::fold(p)
                    .text()
                    .chars()
                    .filter(|c| c.is_alphanumeric())
                    .collect();
                key.contains(&pk)
            })
            .cloned()
            .unwrap_or_else(|| matched.to_owned())
    }
}

impl Detector for BannedSubstrings {
    fn scan(&self, text: &ScanText<'_>, _input: &MessageInput<'_>, out: &mut Vec<Hit>) {
        let t = text.text;
        let mut spans: Vec<std::ops::Range<usize>> = Vec::new();
        for m in self.raw.find_iter(t.as_bytes()) {
            let span = crate::scan::snap_to_char_boundaries(t, m.range());
            spans.push(span.clone());
            out.push(Hit {
                rule: format!("banned:{}", self.phrase_of(&t[span.clone()])),
                evidence: excerpt(&t[span.clone()]),
                span,
                severity: Severity::Medium,
            });
        }
        let overlaps = |spans: &[std::ops::Range<usize>], s: &std::ops::Range<usize>| {
            spans.iter().any(|o| o.start < s.end && s.start < o.end)
        };
        if let (Some(regex), Some(folded)) = (&self.folded, text.folded()) {
            for m in regex.find_iter(folded.text().as_bytes()) {
                let span = folded.map_span(m.range());
                if overlaps(&spans, &span) {
                    continue;
                }
                spans.push(span.clone());
                out.push(Hit {
                    rule: format!("banned:{}", self.phrase_of(&t[span.clone()])),
                    evidence: format!("{} (normalised)", excerpt(&t[span.clone()])),
                    span,
                    severity: Severity::Medium,
                });
            }
        }
        if let (Some((ac, owners)), Some(squeezed)) = (&self.squeezed, text.squeezed()) {
            for m in ac.find_iter(squeezed.text()) {
                let span = squeezed.map_span(m.range());
                if overlaps(&spans, &span) {
                    continue;
                }
                spans.push(span.clone());
                out.push(Hit {
                    rule: format!("banned:{}", self.phrases[owners[m.pattern().as_usize()]]),
                    evidence: format!("{} (normalised)", excerpt(&t[span.clone()])),
                    span,
                    severity: Severity::Medium,
                });
            }
        }
    }
}

impl Policy for BannedSubstrings {
    const ID: &'static str = "banned_substrings";
    const NAME: &'static str = "Banned Substrings";
    const TAG: &'static str = "Banned Substring";
    const APPLIES_TO: &'static [Role] = &[Role::User, Role::Assistant];
    const DESCRIPTION: &'static str =
        "Configured words or phrases, also matched on normalised text.";
    type Params = BannedSubstringsParams;

    fn validate(params: &BannedSubstringsParams, enabled: bool) -> Result<(), PolicyConfigError> {
        let id = Self::ID;
        if enabled && params.substrings.is_empty() {
            return Err(invalid(
                id,
                "substrings",
                "is empty; valid values: a non-empty list of words or phrases",
            ));
        }
        if let Some(i) = params.substrings.iter().position(|s| s.trim().is_empty()) {
            return Err(invalid(id, format!("substrings[{i}]"), "must not be blank"));
        }
        Ok(())
    }

    fn compile(params: &BannedSubstringsParams) -> Result<Box<dyn Detector>, PolicyConfigError> {
        Ok(Box::new(BannedSubstrings::compile(params)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hits(params: BannedSubstringsParams, text: &str) -> Vec<Hit> {
        let policy = BannedSubstrings::compile(&params).expect("compiles");
        let mut out = Vec::new();
        policy.scan(
            &ScanText::new(text),
            &MessageInput::new(Role::User, text),
            &mut out,
        );
        out
    }

    fn params(list: &[&str], mode: MatchMode) -> BannedSubstringsParams {
        BannedSubstringsParams {
            substrings: list.iter().map(|s| (*s).to_owned()).collect(),
            match_mode: mode,
            case_sensitive: false,
            match_normalized: true,
        }
    }

    #[test]
    fn word_mode_respects_word_boundaries_and_substring_mode_does_not() {
        assert!(hits(params(&["ass"], MatchMode::Word), "a class act").is_empty());
        assert_eq!(
            hits(params(&["ass"], MatchMode::Substring), "a class act").len(),
            1
        );
        let found = hits(
            params(&["project falcon"], MatchMode::Word),
            "About PROJECT\nFalcon: status?",
        );
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].rule, "banned:project falcon");
        assert_eq!(found[0].span, 6..20);
    }

    #[test]
    fn evasions_are_matched_on_the_normalised_views() {
        let p = params(&["project falcon"], MatchMode::Word);
        assert_eq!(hits(p.clone(), "pr0j3ct f4lc0n launch").len(), 1);
        assert_eq!(hits(p.clone(), "p r o j e c t  f a l c o n").len(), 1);
        assert_eq!(hits(p.clone(), "proj\u{200B}ect fal\u{200B}con").len(), 1);
        assert_eq!(hits(p, "pr\u{043E}ject f\u{0430}lcon").len(), 1);
    }

    #[test]
    fn case_sensitive_mode_only_matches_the_exact_case() {
        let mut p = params(&["ACME-SECRET"], MatchMode::Substring);
        p.case_sensitive = true;
        p.match_normalized = false;
        assert!(hits(p.clone(), "acme-secret").is_empty());
        assert_eq!(hits(p, "ACME-SECRET").len(), 1);
    }
}
