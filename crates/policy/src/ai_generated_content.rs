//! `ai_generated_content`: stylometric markers of pasted model output (stock phrases,
//! bold-lead bullet lists, headings, uniform sentence lengths). Low confidence by nature,
//! so off by default and reported at low severity.

use serde::{Deserialize, Serialize};

use crate::error::PolicyConfigError;
use crate::literals::LiteralRegistry;
use crate::message::{MessageInput, Role};
use crate::normalize::word_count;
use crate::params::check_unit_interval;
use crate::policy::{Detector, Policy};
use crate::rule_set::{Lexicon, LexiconEntry};
use crate::scan::{Hit, ScanText, Severity};

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

/// Stock phrases over-represented in model output, with weights.
const PHRASES: &[(&str, f64)] = &[
    ("as an ai language model", 1.0),
    ("as an ai", 0.6),
    ("i hope this helps", 0.5),
    ("certainly! here", 0.5),
    ("certainly!", 0.3),
    ("it's important to note", 0.4),
    ("it is important to note", 0.4),
    ("in conclusion", 0.3),
    ("delve", 0.4),
    ("delves", 0.4),
    ("tapestry", 0.4),
    ("let me know if you", 0.4),
    ("i'd be happy to", 0.4),
    ("furthermore", 0.2),
    ("moreover", 0.2),
    ("additionally", 0.2),
    ("navigating the", 0.3),
    ("in today's fast-paced", 0.5),
    ("ever-evolving", 0.4),
    ("a testament to", 0.4),
    ("plays a crucial role", 0.4),
    ("unlock the potential", 0.4),
    ("overall,", 0.2),
    ("here's a breakdown", 0.4),
    ("key takeaways", 0.3),
    ("great question", 0.4),
    ("in summary", 0.2),
    ("multifaceted", 0.3),
    ("seamless", 0.2),
    ("leverage", 0.15),
    ("robust", 0.15),
    ("pivotal", 0.3),
    ("realm", 0.3),
    ("crucial", 0.15),
    ("foster", 0.2),
];

/// The compiled policy.
pub(crate) struct AiGeneratedContent {
    params: AiGeneratedContentParams,
    lexicon: Option<Lexicon>,
}

impl AiGeneratedContent {
    pub fn compile(params: &AiGeneratedContentParams) -> AiGeneratedContent {
        let entries = PHRASES
            .iter()
            .enumerate()
            .map(|(i, (p, w))| LexiconEntry {
                group: i,
                weight: *w,
                phrase: (*p).to_owned(),
            })
            .collect();
        AiGeneratedContent {
            params: params.clone(),
            lexicon: Lexicon::compile(AiGeneratedContent::ID, entries)
                .map_err(|e: PolicyConfigError| e)
                .ok(),
        }
    }

    /// Score in 0..=1 and the markers that contributed.
    #[cfg(test)]
    pub(crate) fn score(&self, text: &str) -> (f64, Vec<String>) {
        self.score_with(text, None)
    }

    /// `score`, with the literals of the message when `text` is the scanned message.
    fn score_with(&self, text: &str, scan: Option<&ScanText<'_>>) -> (f64, Vec<String>) {
        let mut markers = Vec::new();
        let mut score = 0.0;
        if let Some(lexicon) = &self.lexicon {
            let mut seen = Vec::new();
            let found = match scan {
                Some(scan) => lexicon.find_words_in(scan, text),
                None => lexicon.find_words(text),
            };
            for m in found {
                if !seen.contains(&m.entry.group) {
                    seen.push(m.entry.group);
                    score += m.entry.weight;
                    markers.push(m.entry.phrase.clone());
                }
            }
        }
        // Bold list items contain `**` and headings `## `; most texts have neither.
        let (bold, heading) = (text.contains("**"), text.contains("## "));
        let lines: Vec<&str> = if bold || heading {
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect()
        } else {
            Vec::new()
        };
        let bold_bullets = lines
            .iter()
            .filter(|_| bold)
            .filter(|l| {
                (l.starts_with("- **")
                    || l.starts_with("* **")
                    || l.starts_with("1. **")
                    || l.chars().next().is_some_and(|c| c.is_ascii_digit()) && l.contains(". **"))
                    && l.contains("**:")
                    || l.contains(":**")
            })
            .count();
        if bold_bullets >= 2 {
            score += 0.3;
            markers.push(format!("{bold_bullets} bold-lead list items"));
        }
        let headings = lines
            .iter()
            .filter(|_| heading)
            .filter(|l| l.starts_with("## ") || l.starts_with("### "))
            .count();
        if headings >= 2 {
            score += 0.2;
            markers.push(format!("{headings} markdown headings"));
        }
        let sentences = sentence_lengths(text);
        if sentences.len() >= 5 {
            let mean = sentences.iter().sum::<usize>() as f64 / sentences.len() as f64;
            let var = sentences
                .iter()
                .map(|n| (*n as f64 - mean).powi(2))
                .sum::<f64>()
                / sentences.len() as f64;
            let cv = var.sqrt() / mean.max(1.0);
            if cv < 0.35 && mean > 12.0 {
                score += 0.2;
                markers.push(format!("uniform sentence length (cv {cv:.2})"));
            }
        }
        let em_dashes = text.matches('—').count();
        if em_dashes >= 3 {
            score += 0.15;
            markers.push(format!("{em_dashes} em dashes"));
        }
        (score.min(1.0), markers)
    }
}

/// The word counts, 3 or more, of the pieces of a text between `.`, `!` and `?`.
fn sentence_lengths(text: &str) -> Vec<usize> {
    let mut sentences = Vec::new();
    if !text.is_ascii() {
        // The pieces' words are those of `str::split_whitespace`.
        for piece in text.split(['.', '!', '?']) {
            let n = word_count(piece);
            if n >= 3 {
                sentences.push(n);
            }
        }
        return sentences;
    }
    // Byte by byte: a delimiter ends a piece, an ASCII space a word.
    let (mut words, mut in_word) = (0usize, false);
    for b in text.bytes().chain([b'.']) {
        if matches!(b, b'.' | b'!' | b'?') {
            words += usize::from(in_word);
            if words >= 3 {
                sentences.push(words);
            }
            (words, in_word) = (0, false);
        } else {
            let space = b == b' ' || b.wrapping_sub(b'\t') < 5;
            words += usize::from(in_word && space);
            in_word = !space;
        }
    }
    sentences
}

impl Detector for AiGeneratedContent {
    fn scan(&self, text: &ScanText<'_>, _input: &MessageInput<'_>, out: &mut Vec<Hit>) {
        let t = text.text;
        if text.word_stats().count < self.params.min_words {
            return;
        }
        let (score, markers) = self.score_with(t, Some(text));
        if score + 1e-9 >= self.params.threshold {
            let lead = t.len() - t.trim_start().len();
            out.push(Hit {
                rule: "stylometric_markers".into(),
                evidence: format!("score {score:.2}: {}", markers.join(", ")),
                span: lead..lead + t.trim().len(),
                severity: Severity::Low,
            });
        }
    }

    fn scans_decoded(&self) -> bool {
        false
    }

    fn register_literals(&mut self, literals: &mut LiteralRegistry) {
        if let Some(lexicon) = &mut self.lexicon {
            lexicon.register(literals);
        }
    }
}

impl Policy for AiGeneratedContent {
    const ID: &'static str = "ai_generated_content";
    const NAME: &'static str = "AI-Generated Content Detection";
    const TAG: &'static str = "AI-Generated Content";
    const APPLIES_TO: &'static [Role] = &[Role::User];
    const DESCRIPTION: &'static str =
        "Stylometric markers of pasted model output (low confidence).";
    type Params = AiGeneratedContentParams;

    fn validate(
        params: &AiGeneratedContentParams,
        _enabled: bool,
    ) -> Result<(), PolicyConfigError> {
        let id = Self::ID;
        check_unit_interval(id, "threshold", params.threshold)
    }

    fn compile(params: &AiGeneratedContentParams) -> Result<Box<dyn Detector>, PolicyConfigError> {
        Ok(Box::new(AiGeneratedContent::compile(params)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn ascii_sentence_lengths_match_those_of_the_split_pieces(text in "[a-z .!?\t\n]{0,200}") {
            let split: Vec<usize> = text
                .split(['.', '!', '?'])
                .map(word_count)
                .filter(|n| *n >= 3)
                .collect();
            prop_assert_eq!(sentence_lengths(&text), split);
        }
    }

    #[test]
    fn model_style_text_scores_higher_than_a_human_note() {
        let policy = AiGeneratedContent::compile(&AiGeneratedContentParams::default());
        let model = "Certainly! Here's a breakdown of the key factors.\n\n## Overview\nIt's important to note that the market is ever-evolving.\n\n## Key Factors\n- **Cost**: pricing plays a crucial role.\n- **Speed**: delivery is pivotal.\n\nIn conclusion, I hope this helps! Let me know if you need more.";
        let human = "hey, can u check why the build broke after my push? i think its the lockfile again, sorry";
        assert!(policy.score(model).0 >= 0.6, "{:?}", policy.score(model));
        assert!(policy.score(human).0 < 0.2);
    }
}
