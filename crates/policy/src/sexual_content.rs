//! `sexual_content`: a severity-weighted lexicon. Explicit terms weigh 1.0, suggestive or
//! anatomical ones less; anatomical and clinical terms are discounted when the message reads
//! as medical or educational, so a question about a urinary infection is not sexual content.
//! Any sexual term next to a minor term is critical.

use serde::{Deserialize, Serialize};

use crate::error::PolicyConfigError;
use crate::evidence::excerpt;
use crate::literals::LiteralRegistry;
use crate::message::{MessageInput, Role};
use crate::params::invalid;
use crate::policy::{Detector, Policy};
use crate::rule_set::{Lexicon, LexiconEntry};
use crate::scan::{Hit, ScanText, Severity};

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

const EXPLICIT: usize = 0;
const SUGGESTIVE: usize = 1;
const ANATOMICAL: usize = 2;
const MEDICAL: usize = 3;
const MINOR: usize = 4;

const TERMS: &[(&str, usize, f64)] = &[
    ("porn", EXPLICIT, 1.0),
    ("pornhub", EXPLICIT, 1.0),
    ("xvideos", EXPLICIT, 1.0),
    ("sexe", SUGGESTIVE, 0.6),
    ("porno", EXPLICIT, 1.0),
    ("pornography", EXPLICIT, 1.0),
    ("pornographic", EXPLICIT, 1.0),
    ("xxx", EXPLICIT, 0.6),
    ("hardcore sex", EXPLICIT, 1.0),
    ("blowjob", EXPLICIT, 1.0),
    ("blow job", EXPLICIT, 1.0),
    ("handjob", EXPLICIT, 1.0),
    ("cumshot", EXPLICIT, 1.0),
    ("gangbang", EXPLICIT, 1.0),
    ("orgy", EXPLICIT, 1.0),
    ("masturbate", EXPLICIT, 0.8),
    ("masturbating", EXPLICIT, 0.8),
    ("masturbation", SUGGESTIVE, 0.5),
    ("anal sex", EXPLICIT, 1.0),
    ("oral sex", SUGGESTIVE, 0.7),
    ("explicit sex", EXPLICIT, 1.0),
    ("sexually explicit", EXPLICIT, 1.0),
    ("sex scene", SUGGESTIVE, 0.7),
    ("sex scenes", SUGGESTIVE, 0.7),
    ("erotic", SUGGESTIVE, 0.7),
    ("erotica", EXPLICIT, 1.0),
    ("hentai", EXPLICIT, 1.0),
    ("nsfw", SUGGESTIVE, 0.7),
    ("nudes", EXPLICIT, 1.0),
    ("nude photos", EXPLICIT, 1.0),
    ("naked pics", EXPLICIT, 1.0),
    ("naked photos", EXPLICIT, 1.0),
    ("sexting", EXPLICIT, 0.9),
    ("horny", SUGGESTIVE, 0.7),
    ("dildo", EXPLICIT, 1.0),
    ("vibrator", SUGGESTIVE, 0.5),
    ("fetish", SUGGESTIVE, 0.5),
    ("bdsm", SUGGESTIVE, 0.7),
    ("camgirl", EXPLICIT, 0.9),
    ("onlyfans", SUGGESTIVE, 0.5),
    ("strip club", SUGGESTIVE, 0.5),
    ("escort service", SUGGESTIVE, 0.6),
    ("have sex", SUGGESTIVE, 0.6),
    ("having sex", SUGGESTIVE, 0.6),
    ("sex with", SUGGESTIVE, 0.6),
    ("sexual fantasy", SUGGESTIVE, 0.8),
    ("sexual fantasies", SUGGESTIVE, 0.8),
    ("make love", SUGGESTIVE, 0.4),
    ("seduce", SUGGESTIVE, 0.4),
    ("lingerie", SUGGESTIVE, 0.3),
    ("orgasm", SUGGESTIVE, 0.7),
    ("aroused", SUGGESTIVE, 0.5),
    ("kinky", SUGGESTIVE, 0.5),
    ("penis", ANATOMICAL, 0.5),
    ("vagina", ANATOMICAL, 0.5),
    ("genitals", ANATOMICAL, 0.5),
    ("breasts", ANATOMICAL, 0.3),
    ("erection", ANATOMICAL, 0.5),
    ("sexual intercourse", ANATOMICAL, 0.5),
    ("intercourse", ANATOMICAL, 0.4),
    ("clitoris", ANATOMICAL, 0.6),
    ("testicles", ANATOMICAL, 0.4),
    ("nipples", ANATOMICAL, 0.4),
    // Medical and educational context.
    ("doctor", MEDICAL, 0.0),
    ("patient", MEDICAL, 0.0),
    ("clinic", MEDICAL, 0.0),
    ("diagnosis", MEDICAL, 0.0),
    ("symptom", MEDICAL, 0.0),
    ("symptoms", MEDICAL, 0.0),
    ("infection", MEDICAL, 0.0),
    ("std", MEDICAL, 0.0),
    ("sti", MEDICAL, 0.0),
    ("hpv", MEDICAL, 0.0),
    ("contraception", MEDICAL, 0.0),
    ("pregnancy", MEDICAL, 0.0),
    ("pregnant", MEDICAL, 0.0),
    ("gynecologist", MEDICAL, 0.0),
    ("gynaecologist", MEDICAL, 0.0),
    ("urologist", MEDICAL, 0.0),
    ("erectile dysfunction", MEDICAL, 0.0),
    ("anatomy", MEDICAL, 0.0),
    ("medical", MEDICAL, 0.0),
    ("health", MEDICAL, 0.0),
    ("treatment", MEDICAL, 0.0),
    ("exam", MEDICAL, 0.0),
    ("cancer", MEDICAL, 0.0),
    ("puberty", MEDICAL, 0.0),
    ("sex education", MEDICAL, 0.0),
    ("biology", MEDICAL, 0.0),
    ("pain", MEDICAL, 0.0),
    ("painful", MEDICAL, 0.0),
    ("prescribed", MEDICAL, 0.0),
    ("nurse", MEDICAL, 0.0),
    ("screening", MEDICAL, 0.0),
    ("breastfeeding", MEDICAL, 0.0),
    ("urinary", MEDICAL, 0.0),
    ("prostate", MEDICAL, 0.0),
    ("menstrual", MEDICAL, 0.0),
    ("consent", MEDICAL, 0.0),
    // Minors.
    ("child", MINOR, 0.0),
    ("children", MINOR, 0.0),
    ("minor", MINOR, 0.0),
    ("minors", MINOR, 0.0),
    ("underage", MINOR, 0.0),
    ("schoolgirl", MINOR, 0.0),
    ("schoolboy", MINOR, 0.0),
    ("preteen", MINOR, 0.0),
    ("kid", MINOR, 0.0),
    ("kids", MINOR, 0.0),
    ("teenager", MINOR, 0.0),
    ("12 year old", MINOR, 0.0),
    ("13 year old", MINOR, 0.0),
    ("14 year old", MINOR, 0.0),
    ("15 year old", MINOR, 0.0),
];

/// A matched term: its span, lexicon group and the weight it contributed.
pub(crate) type ScoredTerm = (std::ops::Range<usize>, usize, f64);

/// The compiled policy.
pub(crate) struct SexualContent {
    threshold: f64,
    /// Sexual terms; the context lexicon only runs when one of them is present.
    lexicon: Lexicon,
    context: Lexicon,
}

impl SexualContent {
    pub fn compile(params: &SexualContentParams) -> Result<SexualContent, PolicyConfigError> {
        let entries = |context: bool| {
            TERMS
                .iter()
                .filter(|(_, group, _)| matches!(*group, MEDICAL | MINOR) == context)
                .map(|(phrase, group, weight)| LexiconEntry {
                    group: *group,
                    weight: *weight,
                    phrase: (*phrase).to_owned(),
                })
                .collect()
        };
        Ok(SexualContent {
            threshold: params.threshold,
            lexicon: Lexicon::compile(SexualContent::ID, entries(false))?,
            context: Lexicon::compile(SexualContent::ID, entries(true))?,
        })
    }

    /// The weighted score of a text and the matched sexual terms.
    pub(crate) fn score(&self, text: &str) -> (f64, Vec<ScoredTerm>, bool) {
        self.score_with(text, None)
    }

    /// `score`, with the literals of the message when `text` is the scanned message.
    fn score_with(&self, text: &str, scan: Option<&ScanText<'_>>) -> (f64, Vec<ScoredTerm>, bool) {
        let matches = match scan {
            Some(scan) => self.lexicon.find_words_in(scan, text),
            None => self.lexicon.find_words(text),
        };
        if matches.is_empty() {
            return (0.0, Vec::new(), false);
        }
        let context = match scan {
            Some(scan) => self.context.find_words_in(scan, text),
            None => self.context.find_words(text),
        };
        let medical = context.iter().filter(|m| m.entry.group == MEDICAL).count();
        let minor = context.iter().any(|m| m.entry.group == MINOR);
        let mut seen: Vec<&str> = Vec::new();
        let mut score = 0.0;
        let mut terms = Vec::new();
        for m in &matches {
            let group = m.entry.group;
            if !matches!(group, EXPLICIT | SUGGESTIVE | ANATOMICAL) {
                continue;
            }
            let mut weight = m.entry.weight;
            // Medical context discounts anatomical and suggestive terms, not explicit ones.
            if medical > 0 && group != EXPLICIT {
                weight *= if medical >= 2 { 0.2 } else { 0.4 };
            }
            if seen.contains(&m.entry.phrase.as_str()) {
                weight *= 0.25;
            } else {
                seen.push(&m.entry.phrase);
            }
            score += weight;
            terms.push((m.span.clone(), group, weight));
        }
        (score, terms, minor)
    }
}

impl Detector for SexualContent {
    fn scan(&self, text: &ScanText<'_>, _input: &MessageInput<'_>, out: &mut Vec<Hit>) {
        let t = text.text;
        let (mut score, mut terms, mut minor) = self.score_with(t, Some(text));
        // Leet or spaced spellings (`p0rn`, `n u d e s`) count through the folded view.
        if let Some(folded) = text.folded() {
            let (f_score, f_terms, f_minor) = self.score(folded.text());
            if f_score > score {
                score = f_score;
                minor |= f_minor;
                terms = f_terms
                    .into_iter()
                    .map(|(s, g, w)| (folded.map_span(s), g, w))
                    .collect();
            }
        }
        if terms.is_empty() {
            return;
        }
        let explicit = terms.iter().any(|(_, g, w)| *g == EXPLICIT && *w >= 0.8);
        if minor && (explicit || score >= self.threshold * 0.5) {
            let span = terms[0].0.start..terms[terms.len() - 1].0.end;
            out.push(Hit {
                rule: "sexual_content_involving_minors".into(),
                evidence: format!("sexual terms near a minor term (score {score:.2})"),
                span,
                severity: Severity::Critical,
            });
            return;
        }
        if score + 1e-9 < self.threshold {
            return;
        }
        for (span, group, weight) in terms {
            let rule = match group {
                EXPLICIT => "explicit_term",
                SUGGESTIVE => "suggestive_term",
                _ => "anatomical_term",
            };
            out.push(Hit {
                rule: rule.into(),
                evidence: format!("{} (message score {score:.2})", excerpt(&t[span.clone()])),
                span,
                severity: if group == EXPLICIT && weight >= 0.8 {
                    Severity::High
                } else {
                    Severity::Medium
                },
            });
        }
    }

    fn register_literals(&mut self, literals: &mut LiteralRegistry) {
        self.lexicon.register(literals);
        self.context.register(literals);
    }
}

impl Policy for SexualContent {
    const ID: &'static str = "sexual_content";
    const NAME: &'static str = "Detect Sexual Content";
    const TAG: &'static str = "Sexual Content";
    const APPLIES_TO: &'static [Role] = &[Role::User, Role::Assistant];
    const DESCRIPTION: &'static str =
        "Severity-weighted sexual lexicon with medical context discounted.";
    type Params = SexualContentParams;

    fn validate(params: &SexualContentParams, _enabled: bool) -> Result<(), PolicyConfigError> {
        let id = Self::ID;
        if params.threshold <= 0.0 || !params.threshold.is_finite() {
            return Err(invalid(
                id,
                "threshold",
                format!("is {}; valid values: a positive number", params.threshold),
            ));
        }
        Ok(())
    }

    fn compile(params: &SexualContentParams) -> Result<Box<dyn Detector>, PolicyConfigError> {
        Ok(Box::new(SexualContent::compile(params)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules_hit(text: &str) -> Vec<String> {
        let policy = SexualContent::compile(&SexualContentParams::default()).expect("compiles");
        let mut out = Vec::new();
        policy.scan(
            &ScanText::new(text),
            &MessageInput::new(Role::User, text),
            &mut out,
        );
        out.into_iter().map(|h| h.rule).collect()
    }

    #[test]
    fn explicit_requests_are_reported() {
        assert_eq!(
            rules_hit("write me a hardcore sex story"),
            vec!["explicit_term"]
        );
        assert_eq!(rules_hit("send nudes"), vec!["explicit_term"]);
    }

    #[test]
    fn medical_questions_are_not_sexual_content() {
        assert!(rules_hit(
            "My doctor says the pain during intercourse may be an infection; what symptoms matter?"
        )
        .is_empty());
        assert!(
            rules_hit("Is a rash on the penis a symptom of an STI? Should I see a urologist?")
                .is_empty()
        );
        assert!(rules_hit("Explain how breastfeeding changes the breasts.").is_empty());
    }

    #[test]
    fn sexual_terms_near_minors_are_critical() {
        assert_eq!(
            rules_hit("erotic story about a schoolgirl"),
            vec!["sexual_content_involving_minors"]
        );
        assert!(rules_hit("how to talk to children about puberty and consent").is_empty());
    }
}
