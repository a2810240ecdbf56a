//! Quality tags of a message (coherence, injection, toxicity, intent alignment); see
//! `finding::Tag` for their definitions. The detectors here run whatever the policy set, so
//! tags describe the text even when a policy is disabled.

use crate::catalogue::PolicyId;
use crate::error::PolicyConfigError;
use crate::finding::{Finding, Tag};
use crate::injection_triggers::injection_triggers;
use crate::literals::{LiteralRegistry, LiteralSlot};
use crate::message::{MessageInput, Role};
use crate::rule_set::{rule, RuleSet, RuleSpec};
use crate::scan::{ScanText, Severity};
use crate::word_stats::WordStats;

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
            toxicity: RuleSet::compile(PolicyId::SexualContent.as_str(), TOXICITY, &[])?,
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
        applies: impl Fn(PolicyId, Role) -> bool,
    ) -> Vec<Tag> {
        let role = input.role;
        let mut injection = findings.iter().any(is_injection_finding);
        if !injection {
            // The policies already looked at the raw text (and views) when they apply.
            let raw_covered =
                applies(PolicyId::PromptInjection, role) && applies(PolicyId::Jailbreak, role);
            let views_covered = applies(PolicyId::ObfuscatedAttacks, role);
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

#[cfg(test)]
mod tests {
    use super::*;

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
