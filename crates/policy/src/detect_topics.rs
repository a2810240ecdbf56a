//! `detect_topics`: configured topics, each a weighted phrase lexicon with a threshold on
//! the summed weight of the distinct phrases found.

use crate::config::{DetectTopicsParams, PolicyConfigError, PolicyId};
use crate::engine::{Detector, Hit, MessageInput, ScanText, Severity};
use crate::evidence::excerpt;
use crate::rule_set::{Lexicon, LexiconEntry, LiteralRegistry};

/// The compiled policy.
pub(crate) struct DetectTopics {
    names: Vec<String>,
    thresholds: Vec<f64>,
    lexicon: Lexicon,
}

impl DetectTopics {
    pub fn compile(params: &DetectTopicsParams) -> Result<DetectTopics, PolicyConfigError> {
        let mut entries = Vec::new();
        for (i, topic) in params.topics.iter().enumerate() {
            for p in &topic.phrases {
                entries.push(LexiconEntry {
                    group: i,
                    weight: p.weight,
                    phrase: p
                        .phrase
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ")
                        .to_lowercase(),
                });
            }
        }
        Ok(DetectTopics {
            names: params.topics.iter().map(|t| t.name.clone()).collect(),
            thresholds: params.topics.iter().map(|t| t.threshold).collect(),
            lexicon: Lexicon::compile(PolicyId::DetectTopics, entries)?,
        })
    }
}

impl Detector for DetectTopics {
    fn scan(&self, text: &ScanText<'_>, _input: &MessageInput<'_>, out: &mut Vec<Hit>) {
        if self.lexicon.is_empty() {
            return;
        }
        let t = text.text;
        // Phrases are matched with single spaces; fold line breaks and runs of spaces only
        // when present, keeping byte offsets by replacing whitespace one-for-one.
        let spaced;
        let haystack = if t.bytes().any(|b| b == b'\n' || b == b'\t' || b == b'\r') {
            spaced = t.replace(['\n', '\t', '\r'], " ");
            spaced.as_str()
        } else {
            t
        };
        let matches = self.lexicon.find_words_in(text, haystack);
        for (topic, name) in self.names.iter().enumerate() {
            let mut seen: Vec<&str> = Vec::new();
            let mut score = 0.0;
            let mut spans = Vec::new();
            for m in matches.iter().filter(|m| m.entry.group == topic) {
                if !seen.contains(&m.entry.phrase.as_str()) {
                    seen.push(&m.entry.phrase);
                    score += m.entry.weight;
                }
                spans.push(m.span.clone());
            }
            if spans.is_empty() || score + 1e-9 < self.thresholds[topic] {
                continue;
            }
            for span in spans {
                out.push(Hit {
                    rule: format!("topic:{name}"),
                    evidence: format!("{} (topic score {score:.2})", excerpt(&t[span.clone()])),
                    span,
                    severity: Severity::Medium,
                });
            }
        }
    }

    fn register_literals(&mut self, literals: &mut LiteralRegistry) {
        self.lexicon.register(literals);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Role, TopicConfig, WeightedPhrase};

    fn policy() -> DetectTopics {
        DetectTopics::compile(&DetectTopicsParams {
            topics: vec![TopicConfig {
                name: "layoffs".into(),
                phrases: vec![
                    WeightedPhrase {
                        phrase: "layoff".into(),
                        weight: 1.0,
                    },
                    WeightedPhrase {
                        phrase: "headcount".into(),
                        weight: 0.5,
                    },
                    WeightedPhrase {
                        phrase: "severance".into(),
                        weight: 0.5,
                    },
                ],
                threshold: 1.0,
            }],
        })
        .expect("compiles")
    }

    fn rules_hit(text: &str) -> usize {
        let mut out = Vec::new();
        policy().scan(
            &ScanText::new(text),
            &MessageInput::new(Role::User, text),
            &mut out,
        );
        out.len()
    }

    #[test]
    fn weights_add_up_to_the_threshold() {
        assert_eq!(rules_hit("plan the layoff"), 1);
        assert_eq!(rules_hit("headcount and\nseverance numbers"), 2);
        assert_eq!(rules_hit("headcount numbers"), 0);
        assert_eq!(rules_hit("the playoff game"), 0);
    }
}
