//! Quality tags of a message (coherence, injection, toxicity, intent alignment); see
//! `engine::Tag` for their definitions. The detectors here run whatever the policy set, so
//! tags describe the text even when a policy is disabled.

use crate::policy::config::{PolicyConfigError, PolicyId, Role};
use crate::policy::engine::{CompiledPolicySet, Finding, MessageInput, ScanText, Severity, Tag};
use crate::policy::normalize::words;
use crate::policy::rule_set::{
    injection_triggers, rule, LiteralRegistry, LiteralSlot, RuleSet, RuleSpec,
};

/// Insults, threats and harassment aimed at a person (phrase families from the Jigsaw
/// toxicity categories: insult, threat, identity attack, severe toxicity).
const TOXICITY: &[RuleSpec] = &[
    rule(
        "insult",
        Severity::Medium,
        &[
            "idiot",
            "moron",
            "imbecile",
            "retard",
            "stupid",
            "dumb",
            "useless",
            "worthless",
            "pathetic",
            "loser",
            "jackass",
            "piece",
            "bitch",
            "bastard",
            "asshole",
            "scum",
            "clown",
        ],
        r"\b(?:you(?:'re|\s+are)?|ur|u\s+r)\s+(?:an?\s+|such\s+an?\s+|so\s+|a\s+complete\s+|a\s+total\s+|the\s+most\s+)?(?:idiot|moron|imbecile|retard|stupid|dumb|useless|worthless|pathetic|loser|dumbass|jackass|piece\s+of\s+(?:shit|garbage|trash)|bitch|bastard|asshole|scum|clown)\b",
    ),
    rule(
        "directed_profanity",
        Severity::Medium,
        &["fuck", "screw", "shut", "hell", "stfu"],
        r"\b(?:fuck|screw)\s+(?:you|off|u)\b|\bshut\s+(?:the\s+fuck\s+)?up\b|\bgo\s+to\s+hell\b|\bstfu\b",
    ),
    rule(
        "threat",
        Severity::High,
        &[
            "i'll",
            "i will",
            "i am going",
            "i'm going",
            "i gonna",
            "we'll",
            "we will",
            "dead",
            "going to die",
        ],
        r"\b(?:i(?:'ll|\s+will|\s+am\s+going\s+to|'m\s+going\s+to|\s+gonna)|we(?:'ll|\s+will))\s+(?:kill|hurt|beat|find|stab|shoot|destroy|end)\s+(?:you|u|your\s+family)\b|\byou(?:'re|\s+are)\s+(?:dead|going\s+to\s+die)\b",
    ),
    rule(
        "self_harm_incitement",
        Severity::High,
        &["self", "kys", "go die", "bleach"],
        r"\b(?:kill|hang|end)\s+your\s*self\b|\bkys\b|\bgo\s+die\b|\bdrink\s+bleach\b",
    ),
    rule(
        "dehumanising",
        Severity::High,
        &[
            "animals",
            "vermin",
            "subhuman",
            "exterminated",
            "gassed",
            "deported",
        ],
        r"\b(?:all|those)\s+\w+\s+(?:are|should\s+be)\s+(?:animals|vermin|subhuman|exterminated|gassed|deported\s+and\s+killed)\b",
    ),
];

pub(crate) struct QualityDetectors {
    injection: &'static RuleSet,
    /// Where the shared injection rules' anchors sit in the set's literal index.
    injection_slot: Option<LiteralSlot>,
    toxicity: RuleSet,
}

impl QualityDetectors {
    pub fn compile() -> Result<QualityDetectors, PolicyConfigError> {
        Ok(QualityDetectors {
            injection: injection_triggers()?,
            injection_slot: None,
            toxicity: RuleSet::compile(PolicyId::SexualContent, TOXICITY, &[])?,
        })
    }

    pub fn register_literals(&mut self, literals: &mut LiteralRegistry) {
        self.injection_slot = Some(self.injection.register_shared(literals));
        self.toxicity.register(literals);
    }

    pub fn tags(
        &self,
        text: &ScanText<'_>,
        input: &MessageInput<'_>,
        findings: &[Finding],
        set: &CompiledPolicySet,
    ) -> Vec<Tag> {
        let role = input.role;
        let mut injection = findings.iter().any(is_injection_finding);
        if !injection {
            // The policies already looked at the raw text (and views) when they apply.
            let raw_covered = set.applies(PolicyId::PromptInjection, role)
                && set.applies(PolicyId::Jailbreak, role);
            let views_covered = set.applies(PolicyId::ObfuscatedAttacks, role);
            if !raw_covered {
                injection = self.injection.is_match_shared(text, self.injection_slot);
            }
            if !injection && !views_covered {
                if let Some(folded) = text.folded() {
                    injection = self.injection.is_match(folded.text().as_bytes());
                }
            }
        }
        let toxic = self.toxicity.is_match_in(text)
            || findings.iter().any(|f| {
                f.policy == PolicyId::SexualContent.as_str() && f.severity >= Severity::High
            });
        let attack = findings.iter().any(|f| {
            f.policy == PolicyId::EncodedAttacks.as_str()
                || f.policy == PolicyId::ObfuscatedAttacks.as_str() && f.severity >= Severity::High
        });
        let misaligned = match role {
            Role::User | Role::Tool | Role::ToolDefinition => injection || attack,
            Role::Assistant => findings.iter().any(|f| {
                f.policy == PolicyId::Leakage.as_str()
                    || f.policy == PolicyId::CodeInjection.as_str() && f.severity >= Severity::High
                    || f.policy == PolicyId::FunctionCall.as_str()
                    || f.policy == PolicyId::MaliciousUrl.as_str()
                        && f.rule == "markdown_image_exfiltration"
            }),
        };
        let mut tags = vec![
            if is_coherent(text) {
                Tag::Coherent
            } else {
                Tag::Incoherent
            },
            if injection {
                Tag::Injection
            } else {
                Tag::NoInjection
            },
            if toxic { Tag::Toxic } else { Tag::NonToxic },
            if misaligned {
                Tag::IntentMisaligned
            } else {
                Tag::IntentAligned
            },
        ];
        for id in PolicyId::ALL {
            if findings.iter().any(|f| f.policy == id.as_str()) {
                tags.push(Tag::Policy(*id));
            }
        }
        tags
    }
}

fn is_injection_finding(f: &Finding) -> bool {
    let inner = |rule: &str| {
        rule.contains("prompt_injection/")
            || rule.contains("jailbreak/")
            || rule.contains("squeezed/")
    };
    f.policy == PolicyId::PromptInjection.as_str()
        || f.policy == PolicyId::Jailbreak.as_str()
        || (f.policy == PolicyId::ObfuscatedAttacks.as_str()
            || f.policy == PolicyId::EncodedAttacks.as_str())
            && inner(&f.rule)
        || f.policy == PolicyId::FunctionCall.as_str() && f.rule.starts_with("indirect_injection")
}

/// Whether natural text reads as language: see `Tag::Incoherent`.
pub(crate) fn is_coherent(scan: &ScanText<'_>) -> bool {
    let text = scan.text;
    let (count, gibberish, looped) = if text.is_ascii() {
        ascii_word_stats(text.as_bytes())
    } else {
        word_stats(text)
    };
    if count < 4 {
        return true;
    }

    // Stacked combining marks.
    if !text.is_ascii() {
        let marks = text
            .chars()
            .filter(|c| unicode_normalization::char::is_combining_mark(*c))
            .count();
        if marks * 3 > text.chars().count() {
            return false;
        }
    }
    // A token repeated as a loop.
    if looped {
        return false;
    }
    // Mostly non-words: long tokens without vowels or full of symbols. Code reads as
    // gibberish word by word; it is coherent when it parses as code.
    gibberish * 2 < count || scan.code_regions(3).next().is_some()
}

/// In one pass over the words: their count, how many are gibberish, and whether one
/// token repeats 8 times in a row.
fn word_stats(text: &str) -> (usize, usize, bool) {
    let (mut count, mut gibberish, mut run, mut looped) = (0usize, 0usize, 1usize, false);
    let mut previous = None;
    for word in words(text) {
        count += 1;
        if previous == Some(word) {
            run += 1;
            looped |= run >= 8;
        } else {
            run = 1;
        }
        previous = Some(word);
        gibberish += usize::from(is_gibberish(word));
    }
    (count, gibberish, looped)
}

const SPACE: u8 = 1;
const LETTER: u8 = 2;
const VOWEL: u8 = 4;
const SYMBOL: u8 = 8;

/// What `word_stats` and `is_gibberish` ask of an ASCII byte: a word boundary (ASCII
/// `White_Space`), a letter, a vowel, or a symbol (neither a letter, a digit nor common
/// punctuation).
static BYTE_CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 128 {
        let b = i as u8;
        table[i] = if b == b' ' || b.wrapping_sub(b'\t') < 5 {
            SPACE
        } else if b.is_ascii_alphabetic() {
            match b.to_ascii_lowercase() {
                b'a' | b'e' | b'i' | b'o' | b'u' | b'y' => LETTER | VOWEL,
                _ => LETTER,
            }
        } else if b.is_ascii_digit()
            || matches!(
                b,
                b'.' | b',' | b';' | b':' | b'!' | b'?' | b'\'' | b'"' | b'(' | b')' | b'-'
            )
        {
            0
        } else {
            SYMBOL
        };
        i += 1;
    }
    table
};

/// `word_stats` for ASCII text, byte by byte from a class table, without splitting the
/// text into words first.
fn ascii_word_stats(bytes: &[u8]) -> (usize, usize, bool) {
    let (mut count, mut gibberish, mut run, mut looped) = (0usize, 0usize, 1usize, false);
    let mut previous: &[u8] = &[];
    let mut start = None;
    // The current word's letters, vowels, symbols, running and longest consonant runs.
    let (mut letters, mut vowels, mut symbols, mut consonants, mut longest) =
        (0usize, 0usize, 0usize, 0usize, 0usize);
    // A space after the last byte ends the last word.
    for (i, b) in bytes.iter().copied().chain([b' ']).enumerate() {
        let class = BYTE_CLASS[usize::from(b)];
        if class & SPACE != 0 {
            if let Some(s) = start.take() {
                let word = &bytes[s..i];
                if count > 0 && previous == word {
                    run += 1;
                    looped |= run >= 8;
                } else {
                    run = 1;
                }
                previous = word;
                count += 1;
                gibberish += usize::from(
                    symbols * 2 > word.len()
                        || letters >= 6 && vowels == 0
                        || letters >= 8 && longest >= 6,
                );
            }
            continue;
        }
        if start.is_none() {
            start = Some(i);
            (letters, vowels, symbols, consonants, longest) = (0, 0, 0, 0, 0);
        }
        let letter = class & LETTER != 0;
        let vowel = class & VOWEL != 0;
        letters += usize::from(letter);
        vowels += usize::from(vowel);
        symbols += usize::from(class & SYMBOL != 0);
        consonants = if letter && !vowel { consonants + 1 } else { 0 };
        longest = longest.max(consonants);
    }
    (count, gibberish, looped)
}

fn is_vowel(b: u8) -> bool {
    matches!(
        b.to_ascii_lowercase(),
        b'a' | b'e' | b'i' | b'o' | b'u' | b'y'
    )
}

fn is_gibberish(word: &str) -> bool {
    let bytes = word.as_bytes();
    if !word.is_ascii() {
        let symbols = word
            .chars()
            .filter(|c| !c.is_alphanumeric() && !".,;:!?'\"()-".contains(*c))
            .count();
        return symbols * 2 > word.chars().count();
    }
    let mut letters = 0;
    let mut vowels = 0;
    let mut symbols = 0;
    let mut consonants = 0;
    let mut longest = 0;
    for &b in bytes {
        if b.is_ascii_alphabetic() {
            letters += 1;
            if is_vowel(b) {
                vowels += 1;
                consonants = 0;
            } else {
                consonants += 1;
                longest = longest.max(consonants);
            }
        } else {
            consonants = 0;
            if !b.is_ascii_digit() && !b".,;:!?'\"()-".contains(&b) {
                symbols += 1;
            }
        }
    }
    symbols * 2 > bytes.len() || letters >= 6 && vowels == 0 || letters >= 8 && longest >= 6
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn ascii_word_statistics_match_the_word_by_word_ones(
            parts in prop::collection::vec(prop_oneof![
                Just("buy ".to_owned()),
                Just("buy".to_owned()),
                Just("xkcdqwrt ".to_owned()),
                Just("strengths ".to_owned()),
                Just("#$%^& ".to_owned()),
                Just("(a), ".to_owned()),
                Just("\t\n\x0b\x0c\r ".to_owned()),
                "[a-zA-Z0-9 .,;:!?'\"()#$%-]{0,12}",
            ], 0..40)
        ) {
            let text = parts.concat();
            prop_assert_eq!(ascii_word_stats(text.as_bytes()), word_stats(&text));
        }
    }

    #[test]
    fn coherence_separates_language_from_noise() {
        let coherent = |t: &str| is_coherent(&ScanText::new(t));
        assert!(coherent(
            "Please summarise the attached quarterly report for the board."
        ));
        assert!(coherent(
            "fn main() {\n    let x = 1;\n    println!(\"{x}\");\n}\n"
        ));
        assert!(!coherent("xkcdqwrt plmnbvcx zxcvbnmq qwrtpsdf ghjklzxc"));
        assert!(!coherent("buy buy buy buy buy buy buy buy buy now"));
        assert!(!coherent("#$%^& *&^%$ @#$%^ &*()_ +{}|: <>?~!"));
    }

    #[test]
    fn toxicity_rules_find_insults_and_threats_but_not_reports_of_them() {
        let q = QualityDetectors::compile().expect("compiles");
        assert!(q.toxicity.is_match(b"you are a complete idiot"));
        assert!(q.toxicity.is_match(b"I will find you"));
        assert!(!q
            .toxicity
            .is_match(b"How should moderators handle users who post insults?"));
    }
}
