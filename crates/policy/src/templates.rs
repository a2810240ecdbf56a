//! Ready-made policy sets: `default` (what a new integration gets), `data-protection`,
//! `prompt-attacks` and `strict`.
//!
//! The `default` set alerts on what an enterprise always wants to know about and is precise
//! enough to alert on: personal data, credentials and confidential code in prompts, prompt
//! injection, jailbreaks, encoded and obfuscated attacks, malicious URLs and leaks in
//! answers. It logs (without alerting) dangerous generated code, sexual content and tool-call
//! findings. It leaves off the policies that need per-organisation configuration
//! (banned substrings, topics, languages, content types) or context (grounding), and the
//! low-confidence AI-generated-content detector.

use serde::Serialize;

use crate::banned_substrings::{BannedSubstringsParams, MatchMode};
use crate::catalogue::{PolicyId, PolicyParams};
use crate::config::{Action, PolicyConfig, PolicySetConfig};
use crate::content_types::{ContentType, ContentTypesParams};
use crate::detect_languages::DetectLanguagesParams;
use crate::detect_topics::{DetectTopicsParams, TopicConfig, WeightedPhrase};
use crate::message::Role;

/// A template as listed to users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TemplateInfo {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
}

const TEMPLATES: &[TemplateInfo] = &[
    TemplateInfo {
        id: "default",
        name: "Default",
        description: "Alerts on PII, secrets and confidential code in prompts, prompt injection, jailbreaks, encoded and obfuscated attacks, malicious URLs and leaks; logs dangerous generated code, sexual content and tool-call findings.",
    },
    TemplateInfo {
        id: "data-protection",
        name: "Data protection",
        description: "Personal data, credentials, confidential source code and leaks in answers and tool results; logs encoded blobs and attachments of executable types.",
    },
    TemplateInfo {
        id: "prompt-attacks",
        name: "Prompt attacks",
        description: "Prompt injection, jailbreaks, encoded and obfuscated attacks, indirect injection in tool results, malicious URLs and dangerous generated code.",
    },
    TemplateInfo {
        id: "strict",
        name: "Strict",
        description: "Every policy enabled, attacks and leaks set to block, with starter lists for banned substrings, topics and English-only language.",
    },
];

/// Every template.
pub fn templates() -> Vec<TemplateInfo> {
    TEMPLATES.to_vec()
}

/// A template's policy set, or `None` for an unknown id.
pub fn template(id: &str) -> Option<PolicySetConfig> {
    Some(match id {
        "default" => default_set(),
        "data-protection" => data_protection(),
        "prompt-attacks" => prompt_attacks(),
        "strict" => strict(),
        _ => return None,
    })
}

/// The set a new integration gets.
pub fn default_set() -> PolicySetConfig {
    use PolicyId::*;
    let on = |id, action| PolicyConfig::new(id, true, action);
    let off = |id| PolicyConfig::new(id, false, Action::Log);
    PolicySetConfig {
        policies: vec![
            on(Pii, Action::Alert),
            on(CodeLeakage, Action::Alert),
            on(PromptInjection, Action::Alert),
            on(Jailbreak, Action::Alert),
            on(EncodedAttacks, Action::Alert),
            on(ObfuscatedAttacks, Action::Alert),
            on(MaliciousUrl, Action::Alert),
            on(Leakage, Action::Alert),
            on(CodeInjection, Action::Log),
            on(SexualContent, Action::Log),
            on(FunctionCall, Action::Log),
            off(BannedSubstrings),
            off(DetectTopics),
            off(DetectLanguages),
            off(ContentTypes),
            off(Grounding),
            off(AiGeneratedContent),
        ],
    }
}

fn data_protection() -> PolicySetConfig {
    use PolicyId::*;
    let mut leakage = PolicyConfig::new(Leakage, true, Action::Alert);
    leakage.applies_to = vec![Role::User, Role::Assistant, Role::Tool];
    PolicySetConfig {
        policies: vec![
            PolicyConfig::new(Pii, true, Action::Alert),
            PolicyConfig::new(CodeLeakage, true, Action::Alert),
            leakage,
            PolicyConfig::new(EncodedAttacks, true, Action::Alert),
            PolicyConfig::new(ContentTypes, true, Action::Log),
            PolicyConfig::new(MaliciousUrl, true, Action::Log),
        ],
    }
}

fn prompt_attacks() -> PolicySetConfig {
    use PolicyId::*;
    PolicySetConfig {
        policies: vec![
            PolicyConfig::new(PromptInjection, true, Action::Alert),
            PolicyConfig::new(Jailbreak, true, Action::Alert),
            PolicyConfig::new(EncodedAttacks, true, Action::Alert),
            PolicyConfig::new(ObfuscatedAttacks, true, Action::Alert),
            PolicyConfig::new(FunctionCall, true, Action::Alert),
            PolicyConfig::new(MaliciousUrl, true, Action::Alert),
            PolicyConfig::new(CodeInjection, true, Action::Alert),
        ],
    }
}

fn phrases(list: &[(&str, f64)]) -> Vec<WeightedPhrase> {
    list.iter()
        .map(|(p, w)| WeightedPhrase {
            phrase: (*p).to_owned(),
            weight: *w,
        })
        .collect()
}

/// Starter topics for the strict set; organisations replace them with their own.
fn starter_topics() -> Vec<TopicConfig> {
    vec![
        TopicConfig {
            name: "weapons".into(),
            phrases: phrases(&[
                ("build a bomb", 1.0),
                ("make a bomb", 1.0),
                ("pipe bomb", 1.0),
                ("explosive device", 1.0),
                ("detonator", 0.6),
                ("ghost gun", 1.0),
                ("3d printed gun", 1.0),
                ("untraceable firearm", 1.0),
                ("napalm", 0.6),
                ("thermite", 0.5),
                ("nerve agent", 1.0),
                ("silencer", 0.4),
            ]),
            threshold: 1.0,
        },
        TopicConfig {
            name: "self_harm".into(),
            phrases: phrases(&[
                ("kill myself", 1.0),
                ("end my life", 1.0),
                ("suicide", 0.6),
                ("self-harm", 0.6),
                ("self harm", 0.6),
                ("cutting myself", 1.0),
                ("want to die", 1.0),
                ("overdose", 0.5),
            ]),
            threshold: 1.0,
        },
        TopicConfig {
            name: "illegal_drugs".into(),
            phrases: phrases(&[
                ("synthesize meth", 1.0),
                ("cook meth", 1.0),
                ("methamphetamine", 0.6),
                ("fentanyl", 0.5),
                ("cocaine", 0.5),
                ("heroin", 0.5),
                ("buy drugs", 1.0),
                ("darknet market", 0.8),
            ]),
            threshold: 1.0,
        },
        TopicConfig {
            name: "malware".into(),
            phrases: phrases(&[
                ("ransomware", 0.6),
                ("keylogger", 0.8),
                ("botnet", 0.6),
                ("write malware", 1.0),
                ("credential stuffing", 0.8),
                ("phishing kit", 1.0),
                ("exploit kit", 1.0),
                ("ddos attack", 0.6),
                ("reverse shell", 0.6),
                ("evade antivirus", 1.0),
            ]),
            threshold: 1.0,
        },
    ]
}

fn strict() -> PolicySetConfig {
    let mut policies = Vec::new();
    for &id in PolicyId::ALL {
        let attack_or_leak = matches!(
            id,
            PolicyId::PromptInjection
                | PolicyId::Jailbreak
                | PolicyId::EncodedAttacks
                | PolicyId::ObfuscatedAttacks
                | PolicyId::Leakage
                | PolicyId::CodeLeakage
                | PolicyId::Pii
                | PolicyId::MaliciousUrl
                | PolicyId::CodeInjection
        );
        let mut policy = PolicyConfig::new(
            id,
            true,
            if attack_or_leak {
                Action::Block
            } else {
                Action::Alert
            },
        );
        match id {
            PolicyId::BannedSubstrings => {
                policy.params = PolicyParams::BannedSubstrings(BannedSubstringsParams {
                    substrings: vec![
                        "internal use only".into(),
                        "do not distribute".into(),
                        "credit card dump".into(),
                        "fullz".into(),
                    ],
                    match_mode: MatchMode::Word,
                    case_sensitive: false,
                    match_normalized: true,
                });
            }
            PolicyId::DetectTopics => {
                policy.params = PolicyParams::DetectTopics(DetectTopicsParams {
                    topics: starter_topics(),
                });
            }
            PolicyId::DetectLanguages => {
                policy.params = PolicyParams::DetectLanguages(DetectLanguagesParams::default());
            }
            PolicyId::ContentTypes => {
                policy.params = PolicyParams::ContentTypes(ContentTypesParams {
                    denied: vec![
                        ContentType::Sql,
                        ContentType::Html,
                        ContentType::Base64Blob,
                        ContentType::Attachment,
                    ],
                    ..ContentTypesParams::default()
                });
            }
            PolicyId::Leakage | PolicyId::Pii => {
                policy.applies_to = vec![Role::User, Role::Assistant, Role::Tool];
            }
            PolicyId::Jailbreak | PolicyId::PromptInjection => {
                policy.applies_to = vec![Role::User, Role::ToolDefinition];
            }
            _ => {}
        }
        policies.push(policy);
    }
    PolicySetConfig { policies }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::CompiledPolicySet;

    #[test]
    fn every_listed_template_exists_validates_and_compiles() {
        for info in templates() {
            let set = template(info.id).expect("listed template exists");
            set.validate().expect("template validates");
            CompiledPolicySet::compile(&set).expect("template compiles");
        }
        assert!(template("lenient").is_none());
    }

    #[test]
    fn strict_enables_every_policy() {
        let set = template("strict").expect("strict");
        for id in PolicyId::ALL {
            assert!(set.policy(*id).is_some_and(|p| p.enabled), "{id}");
        }
    }

    #[test]
    fn the_default_set_alerts_on_attacks_and_leaks_and_leaves_configuration_heavy_policies_off() {
        let set = default_set();
        for id in [
            PolicyId::Pii,
            PolicyId::PromptInjection,
            PolicyId::CodeLeakage,
            PolicyId::Leakage,
        ] {
            assert_eq!(
                set.policy(id).map(|p| (p.enabled, p.action)),
                Some((true, Action::Alert)),
                "{id}"
            );
        }
        for id in [
            PolicyId::BannedSubstrings,
            PolicyId::Grounding,
            PolicyId::AiGeneratedContent,
        ] {
            assert_eq!(set.policy(id).map(|p| p.enabled), Some(false), "{id}");
        }
    }
}
