//! `detect_topics`: configured topics, each a weighted phrase lexicon with a threshold on
//! the summed weight of the distinct phrases found.

use serde::{Deserialize, Serialize};

use crate::error::PolicyConfigError;
use crate::evidence::excerpt;
use crate::literals::LiteralRegistry;
use crate::message::{MessageInput, Role};
use crate::params::invalid;
use crate::policy::{Detector, Policy};
use crate::rule_set::{Lexicon, LexiconEntry};
use crate::scan::{Hit, ScanText, Severity};

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
            lexicon: Lexicon::compile(DetectTopics::ID, entries)?,
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

impl Policy for DetectTopics {
    const ID: &'static str = "detect_topics";
    const NAME: &'static str = "Detect Topics";
    const TAG: &'static str = "Topic";
    const APPLIES_TO: &'static [Role] = &[Role::User, Role::Assistant, Role::Tool];
    const DESCRIPTION: &'static str = "Configured topics as weighted phrase lexicons.";
    type Params = DetectTopicsParams;

    fn validate(params: &DetectTopicsParams, enabled: bool) -> Result<(), PolicyConfigError> {
        let id = Self::ID;
        if enabled && params.topics.is_empty() {
            return Err(invalid(
                id,
                "topics",
                "is empty; valid values: a list of {name, phrases, threshold}",
            ));
        }
        for (i, topic) in params.topics.iter().enumerate() {
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

    fn compile(params: &DetectTopicsParams) -> Result<Box<dyn Detector>, PolicyConfigError> {
        Ok(Box::new(DetectTopics::compile(params)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
