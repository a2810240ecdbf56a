//! Compiled rule lists shared by the policies: named byte regexes behind an anchor
//! prefilter (one Aho-Corasick pass), and weighted phrase lexicons.

use std::ops::Range;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::bytes::{Regex, RegexBuilder};

use crate::policy::config::{PolicyConfigError, PolicyId};
use crate::policy::engine::Severity;

/// A rule as written in a policy module. `anchors` are lowercase literals of which every
/// match contains at least one (an empty list means the rule always runs); one
/// Aho-Corasick pass over all anchors decides which rules' regexes run at all.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RuleSpec {
    pub name: &'static str,
    pub pattern: &'static str,
    pub severity: Severity,
    pub anchors: &'static [&'static str],
}

pub(crate) const fn rule(
    name: &'static str,
    severity: Severity,
    anchors: &'static [&'static str],
    pattern: &'static str,
) -> RuleSpec {
    RuleSpec {
        name,
        pattern,
        severity,
        anchors,
    }
}

/// One compiled rule.
#[derive(Debug, Clone)]
pub(crate) struct CompiledRule {
    pub name: String,
    pub regex: Regex,
    pub severity: Severity,
}

/// Named regexes matched as bytes with Unicode off and ASCII case folding, behind an
/// anchor prefilter: a message that contains none of a rule's anchors never runs its regex.
#[derive(Debug, Clone)]
pub(crate) struct RuleSet {
    prefilter: Option<AhoCorasick>,
    /// For each anchor pattern, the rules it belongs to.
    anchor_rule: Vec<Vec<usize>>,
    /// Rules without anchors.
    always: Vec<usize>,
    rules: Vec<CompiledRule>,
}

const SIZE_LIMIT: usize = 64 << 20;

impl RuleSet {
    /// Compiles built-in rules plus `(name, pattern)` custom rules. Custom patterns use the
    /// Unicode-aware syntax users expect and always run; built-in ones are ASCII.
    pub fn compile(
        policy: PolicyId,
        specs: &[RuleSpec],
        custom: &[(String, String, Severity)],
    ) -> Result<RuleSet, PolicyConfigError> {
        let mut rules = Vec::with_capacity(specs.len() + custom.len());
        let mut anchors: Vec<&'static str> = Vec::new();
        let mut anchor_rule = Vec::new();
        let mut always = Vec::new();
        for (idx, spec) in specs.iter().enumerate() {
            let pattern = format!("(?i-u){}", spec.pattern);
            let regex = RegexBuilder::new(&pattern)
                .size_limit(SIZE_LIMIT)
                .dfa_size_limit(SIZE_LIMIT)
                .build()
                .map_err(|e| builtin_error(policy, spec.name, e))?;
            rules.push(CompiledRule {
                name: spec.name.to_owned(),
                regex,
                severity: spec.severity,
            });
            if spec.anchors.is_empty() {
                always.push(idx);
            }
            for a in spec.anchors {
                anchors.push(a);
                anchor_rule.push(idx);
            }
        }
        for (i, (name, pattern, severity)) in custom.iter().enumerate() {
            let pattern = format!("(?i){pattern}");
            let regex = RegexBuilder::new(&pattern)
                .size_limit(SIZE_LIMIT)
                .build()
                .map_err(|e| PolicyConfigError::InvalidRegex {
                    policy: policy.as_str(),
                    param: format!("custom_patterns[{i}].pattern"),
                    message: e.to_string(),
                })?;
            always.push(rules.len());
            rules.push(CompiledRule {
                name: name.clone(),
                regex,
                severity: *severity,
            });
        }
        // The prefilter searches without overlaps (fast, prefilter-accelerated), so an
        // anchor inside another anchor could be shadowed by it: such a longer anchor is
        // replaced by the shorter one it contains.
        let anchors: Vec<String> = anchors
            .iter()
            .map(|a| {
                let lower = a.to_ascii_lowercase();
                anchors
                    .iter()
                    .map(|b| b.to_ascii_lowercase())
                    .filter(|b| b.len() < lower.len() && lower.contains(b.as_str()))
                    .min_by_key(|b| b.len())
                    .unwrap_or(lower)
            })
            .collect();
        // One automaton pattern per distinct anchor, listing every rule it stands for: with
        // leftmost-first search only one of several identical patterns would be reported.
        let mut unique: Vec<String> = Vec::new();
        let mut unique_rules: Vec<Vec<usize>> = Vec::new();
        for (anchor, rule) in anchors.into_iter().zip(anchor_rule) {
            match unique.iter().position(|u| *u == anchor) {
                Some(i) => unique_rules[i].push(rule),
                None => {
                    unique.push(anchor);
                    unique_rules.push(vec![rule]);
                }
            }
        }
        let anchor_rule = unique_rules;
        let anchors = unique;
        let prefilter = if anchors.is_empty() {
            None
        } else {
            Some(
                AhoCorasickBuilder::new()
                    .kind(Some(aho_corasick::AhoCorasickKind::DFA))
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::LeftmostFirst)
                    .build(&anchors)
                    .map_err(|e| PolicyConfigError::InvalidParam {
                        policy: policy.as_str(),
                        param: "built-in rule anchors".into(),
                        problem: e.to_string(),
                    })?,
            )
        };
        Ok(RuleSet {
            prefilter,
            anchor_rule,
            always,
            rules,
        })
    }

    /// Rules whose anchors occur in the haystack (plus those without anchors), ascending.
    fn candidates(&self, haystack: &[u8]) -> Vec<usize> {
        let mut marked = vec![false; self.rules.len()];
        for &i in &self.always {
            marked[i] = true;
        }
        if let Some(ac) = &self.prefilter {
            for pattern in anchor_hits(ac, haystack) {
                for &rule in &self.anchor_rule[pattern] {
                    marked[rule] = true;
                }
            }
        }
        marked
            .iter()
            .enumerate()
            .filter_map(|(i, m)| m.then_some(i))
            .collect()
    }

    /// The first match of every matching rule.
    pub fn first_matches(&self, haystack: &[u8], mut f: impl FnMut(&CompiledRule, Range<usize>)) {
        for idx in self.candidates(haystack) {
            let rule = &self.rules[idx];
            if let Some(m) = rule.regex.find(haystack) {
                f(rule, m.range());
            }
        }
    }

    pub fn is_match(&self, haystack: &[u8]) -> bool {
        self.candidates(haystack)
            .into_iter()
            .any(|idx| self.rules[idx].regex.is_match(haystack))
    }

    /// Indexes of the matching rules.
    pub fn matching(&self, haystack: &[u8]) -> Vec<usize> {
        self.candidates(haystack)
            .into_iter()
            .filter(|&idx| self.rules[idx].regex.is_match(haystack))
            .collect()
    }

    pub fn rule(&self, idx: usize) -> &CompiledRule {
        &self.rules[idx]
    }
}

/// The built-in prompt-injection rules followed by the jailbreak rules, compiled once per
/// process: `obfuscated_attacks`, `function_call` and the quality tags all match them, and
/// they do not depend on configuration. Rule indexes below
/// `prompt_injection::RULES.len()` are injection rules.
pub(crate) fn injection_triggers() -> Result<&'static RuleSet, PolicyConfigError> {
    static TRIGGERS: std::sync::LazyLock<Result<RuleSet, PolicyConfigError>> =
        std::sync::LazyLock::new(|| {
            let specs: Vec<RuleSpec> = crate::policy::prompt_injection::RULES
                .iter()
                .chain(crate::policy::jailbreak::RULES)
                .copied()
                .collect();
            RuleSet::compile(PolicyId::PromptInjection, &specs, &[])
        });
    TRIGGERS.as_ref().map_err(Clone::clone)
}

/// Patterns of every anchor occurrence, resuming one byte after each match's start so that
/// partly overlapping anchors (`../` then `/etc/` in `../etc/`) are all seen. Anchors that
/// start at the same byte are prefixes of one another, which compilation already reduced to
/// the shortest.
pub(crate) fn anchor_hits<'a>(
    ac: &'a AhoCorasick,
    haystack: &'a [u8],
) -> impl Iterator<Item = usize> + 'a {
    let mut at = 0;
    std::iter::from_fn(move || {
        if at > haystack.len() {
            return None;
        }
        let m = ac.find(aho_corasick::Input::new(haystack).span(at..haystack.len()))?;
        at = m.start() + 1;
        Some(m.pattern().as_usize())
    })
}

fn builtin_error(policy: PolicyId, name: &str, e: regex::Error) -> PolicyConfigError {
    PolicyConfigError::InvalidRegex {
        policy: policy.as_str(),
        param: format!("built-in rule `{name}`"),
        message: e.to_string(),
    }
}

/// A phrase of a weighted lexicon.
#[derive(Debug, Clone)]
pub(crate) struct LexiconEntry {
    /// Category or topic the phrase belongs to.
    pub group: usize,
    pub weight: f64,
    pub phrase: String,
}

/// Case-insensitive whole-word phrase matching with one Aho-Corasick pass.
#[derive(Debug, Clone)]
pub(crate) struct Lexicon {
    automaton: AhoCorasick,
    entries: Vec<LexiconEntry>,
}

/// A lexicon match.
#[derive(Debug, Clone)]
pub(crate) struct LexiconMatch<'l> {
    pub entry: &'l LexiconEntry,
    pub span: Range<usize>,
}

impl Lexicon {
    pub fn compile(
        policy: PolicyId,
        entries: Vec<LexiconEntry>,
    ) -> Result<Lexicon, PolicyConfigError> {
        let automaton = AhoCorasickBuilder::new()
            .kind(Some(aho_corasick::AhoCorasickKind::DFA))
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostLongest)
            .build(entries.iter().map(|e| e.phrase.to_lowercase()))
            .map_err(|e| PolicyConfigError::InvalidParam {
                policy: policy.as_str(),
                param: "lexicon".into(),
                problem: format!("cannot be compiled: {e}"),
            })?;
        Ok(Lexicon { automaton, entries })
    }

    /// Whole-word matches in `haystack` (ASCII case-insensitive; pass lowercased text for
    /// non-ASCII phrases).
    pub fn find_words<'l>(&'l self, haystack: &str) -> Vec<LexiconMatch<'l>> {
        let bytes = haystack.as_bytes();
        let mut out = Vec::new();
        for m in self.automaton.find_iter(haystack) {
            let before = m.start().checked_sub(1).map(|i| bytes[i]);
            let after = bytes.get(m.end()).copied();
            let word_byte = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80;
            if before.is_some_and(word_byte) || after.is_some_and(word_byte) {
                continue;
            }
            out.push(LexiconMatch {
                entry: &self.entries[m.pattern().as_usize()],
                span: m.range(),
            });
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
