//! `grounding`: claims in an assistant answer (numbers, quotations, multi-word proper
//! names) that appear in none of the tool results or documents given as context. Without
//! context nothing is judged.

use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;

use serde::{Deserialize, Serialize};

use crate::error::PolicyConfigError;
use crate::evidence::excerpt;
use crate::message::{MessageInput, Role};
use crate::params::invalid;
use crate::policy::{Detector, Policy};
use crate::scan::{Hit, ScanText, Severity};

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

static NUMBER: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"(?:^|[^\w.])(\d[\d,]*(?:\.\d+)?)(%?)").ok());
static QUOTE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r#""([^"\n]{12,300})"|“([^”\n]{12,300})”"#).ok());
static NAME: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r"\b\p{Lu}[\p{Ll}'’\-]+(?:\s+(?:of\s+|de\s+|van\s+|von\s+)?\p{Lu}[\p{Ll}'’\-]+){1,3}\b",
    )
    .ok()
});

/// Capitalised words that start sentences or name months and days, not entities.
const NOT_NAMES: &[&str] = &[
    "The",
    "A",
    "An",
    "In",
    "On",
    "At",
    "This",
    "That",
    "These",
    "Those",
    "It",
    "I",
    "We",
    "You",
    "They",
    "He",
    "She",
    "If",
    "When",
    "While",
    "For",
    "And",
    "But",
    "Or",
    "So",
    "As",
    "Here",
    "There",
    "Yes",
    "No",
    "Please",
    "Thanks",
    "According",
    "Based",
    "Overall",
    "However",
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
    "Note",
    "Summary",
    "Also",
    "Then",
    "First",
    "Second",
    "Finally",
];

fn normalise_number(n: &str) -> String {
    let n = n.replace(',', "");
    match n.split_once('.') {
        Some((int, frac)) => {
            let frac = frac.trim_end_matches('0');
            if frac.is_empty() {
                int.to_owned()
            } else {
                format!("{int}.{frac}")
            }
        }
        None => n,
    }
}

fn collapse(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// The compiled policy.
pub(crate) struct Grounding {
    params: GroundingParams,
}

impl Grounding {
    pub fn compile(params: &GroundingParams) -> Grounding {
        Grounding {
            params: params.clone(),
        }
    }
}

impl Detector for Grounding {
    fn scan(&self, text: &ScanText<'_>, input: &MessageInput<'_>, out: &mut Vec<Hit>) {
        if input.context.is_empty() {
            return;
        }
        let t = text.text;
        let context = collapse(&input.context.join("\n"));
        let mut hits = Vec::new();
        if self.params.check_numbers {
            if let Some(re) = NUMBER.as_ref() {
                let known: HashSet<String> = re
                    .captures_iter(&context)
                    .filter_map(|c| c.get(1).map(|m| normalise_number(m.as_str())))
                    .collect();
                for caps in re.captures_iter(t) {
                    let Some(m) = caps.get(1) else { continue };
                    let n = normalise_number(m.as_str());
                    // Single digits and list markers (`1.`) are not claims.
                    let digits = n.chars().filter(char::is_ascii_digit).count();
                    let list_marker =
                        t[m.end()..].starts_with(". ") && t[..m.start()].ends_with('\n');
                    if digits < 2 || list_marker || known.contains(&n) {
                        continue;
                    }
                    hits.push(Hit {
                        rule: "ungrounded_number".into(),
                        evidence: format!("{} not in context", excerpt(m.as_str())),
                        span: m.range(),
                        severity: Severity::Medium,
                    });
                }
            }
        }
        if self.params.check_quotes {
            if let Some(re) = QUOTE.as_ref() {
                for caps in re.captures_iter(t) {
                    let Some(m) = caps.get(1).or_else(|| caps.get(2)) else {
                        continue;
                    };
                    if m.as_str().split_whitespace().count() < 4
                        || context.contains(&collapse(m.as_str()))
                    {
                        continue;
                    }
                    hits.push(Hit {
                        rule: "ungrounded_quote".into(),
                        evidence: format!("\"{}\" not in context", excerpt(m.as_str())),
                        span: m.range(),
                        severity: Severity::Medium,
                    });
                }
            }
        }
        if self.params.check_names {
            if let Some(re) = NAME.as_ref() {
                for m in re.find_iter(t) {
                    let words: Vec<&str> = m.as_str().split_whitespace().collect();
                    let start = words.iter().take_while(|w| NOT_NAMES.contains(w)).count();
                    let name_words = &words[start..];
                    if name_words.len() < 2 {
                        continue;
                    }
                    let name = name_words.join(" ");
                    if context.contains(&name.to_lowercase()) {
                        continue;
                    }
                    let offset = m.as_str().find(name_words[0]).unwrap_or(0);
                    let span = m.start() + offset..m.end();
                    hits.push(Hit {
                        rule: "ungrounded_name".into(),
                        evidence: format!("{} not in context", excerpt(&name)),
                        span,
                        severity: Severity::Low,
                    });
                }
            }
        }
        if hits.len() >= self.params.min_ungrounded {
            out.extend(hits);
        }
    }

    fn scans_decoded(&self) -> bool {
        false
    }
}

impl Policy for Grounding {
    const ID: &'static str = "grounding";
    const NAME: &'static str = "Grounding Guardrail";
    const TAG: &'static str = "Ungrounded";
    const APPLIES_TO: &'static [Role] = &[Role::Assistant];
    const DESCRIPTION: &'static str =
        "Numbers, quotes and names in an answer that appear in no provided context.";
    type Params = GroundingParams;

    fn validate(params: &GroundingParams, _enabled: bool) -> Result<(), PolicyConfigError> {
        let id = Self::ID;
        if params.min_ungrounded == 0 {
            return Err(invalid(
                id,
                "min_ungrounded",
                "is 0; valid values: 1 or more",
            ));
        }
        Ok(())
    }

    fn compile(params: &GroundingParams) -> Result<Box<dyn Detector>, PolicyConfigError> {
        Ok(Box::new(Grounding::compile(params)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(answer: &str, context: &[&str]) -> Vec<String> {
        let policy = Grounding::compile(&GroundingParams::default());
        let input = MessageInput::new(Role::Assistant, answer).with_context(context);
        let mut out = Vec::new();
        policy.scan(&ScanText::new(answer), &input, &mut out);
        out.into_iter().map(|h| h.rule).collect()
    }

    #[test]
    fn claims_found_in_the_context_are_grounded() {
        let ctx = ["Revenue was $4,200,000 in Q3. CEO Maria Lopez said \"we expect steady growth next year\"."];
        assert!(rules("Q3 revenue was 4200000 dollars; Maria Lopez said \"we expect steady growth next year\".", &ctx).is_empty());
    }

    #[test]
    fn invented_numbers_quotes_and_names_are_reported() {
        let ctx = ["Revenue was $4,200,000 in Q3."];
        let r = rules(
            "Revenue was 5,100,000 and John Carter said \"this is our best quarter ever\".",
            &ctx,
        );
        assert_eq!(
            r,
            vec!["ungrounded_number", "ungrounded_quote", "ungrounded_name"]
        );
    }

    #[test]
    fn without_context_nothing_is_judged() {
        assert!(rules("The population is 8,100,000,000.", &[]).is_empty());
    }
}
