//! Quality tags of a message (coherence, injection, toxicity, intent alignment); see
//! `engine::Tag` for their definitions. The detectors here run whatever the policy set, so
//! tags describe the text even when a policy is disabled.

use crate::config::{PolicyConfigError, PolicyId, Role};
use crate::engine::{CompiledPolicySet, Finding, MessageInput, ScanText, Severity, Tag};
use crate::normalize::words;
use crate::rule_set::{injection_triggers, rule, LiteralRegistry, LiteralSlot, RuleSet, RuleSpec};

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
    let WordStats {
        count,
        gibberish,
        looped,
    } = scan.word_stats();
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

/// What coherence asks of a text's words (`normalize::words`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WordStats {
    /// How many words there are (`normalize::word_count`).
    pub count: usize,
    /// How many of them are gibberish.
    pub gibberish: usize,
    /// Whether one token repeats 8 times in a row.
    pub looped: bool,
}

impl WordStats {
    /// The statistics of a text, in one pass (byte by byte for ASCII text).
    pub fn of(text: &str) -> WordStats {
        if text.is_ascii() {
            ascii_word_stats(text.as_bytes())
        } else {
            word_stats(text)
        }
    }
}

/// `WordStats` word by word.
fn word_stats(text: &str) -> WordStats {
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
    WordStats {
        count,
        gibberish,
        looped,
    }
}

/// Per ASCII byte, what it adds to a word's packed counts (`LETTERS`, `VOWELS` and
/// `SYMBOLS` fields of `FIELD_BITS` each; a symbol is neither a letter, a digit nor
/// common punctuation), or `SPACE` for a word boundary (ASCII `White_Space`).
static WORD_BYTE_COUNTS: [u64; 256] = {
    let mut table = [0u64; 256];
    let mut i = 0;
    while i < 128 {
        let b = i as u8;
        table[i] = if b == b' ' || b.wrapping_sub(b'\t') < 5 {
            SPACE
        } else if b.is_ascii_alphabetic() {
            match b.to_ascii_lowercase() {
                b'a' | b'e' | b'i' | b'o' | b'u' | b'y' => LETTERS | VOWELS,
                _ => LETTERS,
            }
        } else if b.is_ascii_digit()
            || matches!(
                b,
                b'.' | b',' | b';' | b':' | b'!' | b'?' | b'\'' | b'"' | b'(' | b')' | b'-'
            )
        {
            0
        } else {
            SYMBOLS
        };
        i += 1;
    }
    table
};

const FIELD_BITS: u32 = 21;
const FIELD: u64 = (1 << FIELD_BITS) - 1;
const LETTERS: u64 = 1;
const VOWELS: u64 = 1 << FIELD_BITS;
const SYMBOLS: u64 = 1 << (2 * FIELD_BITS);
const SPACE: u64 = 1 << 63;

/// `word_stats` for ASCII text: each word's letters, vowels and symbols summed from a
/// table in one pass (the consonant runs looked at only in words of 8 letters or more).
fn ascii_word_stats(bytes: &[u8]) -> WordStats {
    let (mut count, mut gibberish, mut run, mut looped) = (0usize, 0usize, 1usize, false);
    let mut previous: &[u8] = &[];
    let mut i = 0;
    loop {
        while bytes
            .get(i)
            .is_some_and(|b| WORD_BYTE_COUNTS[usize::from(*b)] & SPACE != 0)
        {
            i += 1;
        }
        if i == bytes.len() {
            break;
        }
        let start = i;
        let mut counts = 0u64;
        while let Some(&b) = bytes.get(i) {
            let add = WORD_BYTE_COUNTS[usize::from(b)];
            if add & SPACE != 0 {
                break;
            }
            counts = counts.wrapping_add(add);
            i += 1;
        }
        let word = &bytes[start..i];
        if count > 0 && previous == word {
            run += 1;
            looped |= run >= 8;
        } else {
            run = 1;
        }
        previous = word;
        count += 1;
        let gibberish_word = if word.len() > FIELD as usize {
            // The packed counts may have overflowed.
            is_gibberish_ascii(word)
        } else {
            let letters = counts & FIELD;
            let vowels = (counts >> FIELD_BITS) & FIELD;
            let symbols = (counts >> (2 * FIELD_BITS)) & FIELD;
            symbols as usize * 2 > word.len()
                || letters >= 6 && vowels == 0
                || letters >= 8 && longest_consonant_run(word) >= 6
        };
        gibberish += usize::from(gibberish_word);
    }
    WordStats {
        count,
        gibberish,
        looped,
    }
}

/// The longest run of ASCII consonants (letters other than `aeiouy`) in a word.
fn longest_consonant_run(word: &[u8]) -> usize {
    let (mut consonants, mut longest) = (0, 0);
    for &b in word {
        if b.is_ascii_alphabetic() && !is_vowel(b) {
            consonants += 1;
            longest = longest.max(consonants);
        } else {
            consonants = 0;
        }
    }
    longest
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
    is_gibberish_ascii(bytes)
}

/// `is_gibberish` for an ASCII word.
fn is_gibberish_ascii(bytes: &[u8]) -> bool {
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
                Just("schtschbcdfg ".to_owned()),
                Just("rhythmsbcd ".to_owned()),
                Just("#$%^& ".to_owned()),
                Just("(a), ".to_owned()),
                Just("\t\n\x0b\x0c\r ".to_owned()),
                "[a-zA-Z0-9 .,;:!?'\"()#$%-]{0,12}",
            ], 0..40)
        ) {
            let text = parts.concat();
            prop_assert_eq!(ascii_word_stats(text.as_bytes()), word_stats(&text));
        }

        #[test]
        fn the_shared_word_count_is_the_word_count(text in prop_oneof![any::<String>(), "[a-z \t\n\x0b\x0c\r.]{0,60}"]) {
            prop_assert_eq!(WordStats::of(&text).count, crate::normalize::word_count(&text));
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
