//! The policy catalogue: one row per policy, naming its id and its module's policy and
//! parameter types. Everything else about a policy (name, tag, default roles, description,
//! parameter defaults, validation, compilation) lives in its own module, behind
//! [`Policy`]; adding a policy adds a module and a row here.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::PolicyConfigError;
use crate::message::Role;
use crate::policy::{Detector, Policy};
use crate::{
    ai_generated_content, banned_substrings, code_injection, code_leakage, content_types,
    detect_languages, detect_topics, encoded_attacks, function_call, grounding, jailbreak, leakage,
    malicious_url, obfuscated_attacks, pii, prompt_injection, sexual_content,
};

macro_rules! catalogue {
    ($( $variant:ident => $policy:ty, $params:ty; )*) => {
        /// A policy of the catalogue (docs: POLICIES.md). The snake_case id is stable.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum PolicyId { $( $variant, )* }

        impl PolicyId {
            /// Every policy, in catalogue order.
            pub const ALL: &'static [PolicyId] = &[$( PolicyId::$variant, )*];

            /// The stable snake_case id.
            pub fn as_str(self) -> &'static str {
                match self { $( PolicyId::$variant => <$policy as Policy>::ID, )* }
            }

            /// The human name shown in the UI.
            pub fn name(self) -> &'static str {
                match self { $( PolicyId::$variant => <$policy as Policy>::NAME, )* }
            }

            /// The tag added to an evaluation when this policy fired.
            pub fn tag(self) -> &'static str {
                match self { $( PolicyId::$variant => <$policy as Policy>::TAG, )* }
            }

            /// The roles the catalogue applies this policy to when `applies_to` is omitted.
            pub fn default_applies_to(self) -> Vec<Role> {
                match self { $( PolicyId::$variant => <$policy as Policy>::APPLIES_TO.to_vec(), )* }
            }

            /// One-line description of what the policy finds.
            pub fn description(self) -> &'static str {
                match self { $( PolicyId::$variant => <$policy as Policy>::DESCRIPTION, )* }
            }
        }

        /// Typed parameters, one variant per policy.
        #[derive(Debug, Clone, PartialEq)]
        pub enum PolicyParams { $( $variant($params), )* }

        impl PolicyParams {
            /// The default parameters of a policy.
            pub fn default_for(id: PolicyId) -> PolicyParams {
                match id { $( PolicyId::$variant => PolicyParams::$variant(<$policy as Policy>::defaults()), )* }
            }

            /// The policy these parameters belong to.
            pub fn policy(&self) -> PolicyId {
                match self { $( PolicyParams::$variant(_) => PolicyId::$variant, )* }
            }

            /// Reads the `params` of a policy; serde's message names the field.
            pub(crate) fn from_value(id: PolicyId, value: serde_json::Value) -> Result<PolicyParams, String> {
                let value = match value {
                    serde_json::Value::Null => serde_json::Value::Object(Default::default()),
                    other => other,
                };
                match id {
                    $( PolicyId::$variant => serde_json::from_value(value).map(PolicyParams::$variant), )*
                }
                .map_err(|e| e.to_string())
            }

            pub(crate) fn to_value(&self) -> serde_json::Value {
                let value = match self { $( PolicyParams::$variant(p) => serde_json::to_value(p), )* };
                // Plain structs of strings, numbers and maps with string keys always serialise.
                value.unwrap_or(serde_json::Value::Null)
            }

            /// Checks the parameters with the policy's own rules.
            pub(crate) fn validate(&self, enabled: bool) -> Result<(), PolicyConfigError> {
                match self { $( PolicyParams::$variant(p) => <$policy as Policy>::validate(p, enabled), )* }
            }

            /// Builds the policy's detector.
            pub(crate) fn compile(&self) -> Result<Box<dyn Detector>, PolicyConfigError> {
                match self { $( PolicyParams::$variant(p) => <$policy as Policy>::compile(p), )* }
            }
        }
    };
}

catalogue! {
    AiGeneratedContent => ai_generated_content::AiGeneratedContent, ai_generated_content::AiGeneratedContentParams;
    BannedSubstrings => banned_substrings::BannedSubstrings, banned_substrings::BannedSubstringsParams;
    CodeInjection => code_injection::CodeInjection, code_injection::CodeInjectionParams;
    CodeLeakage => code_leakage::CodeLeakage, code_leakage::CodeLeakageParams;
    ContentTypes => content_types::ContentTypes, content_types::ContentTypesParams;
    DetectLanguages => detect_languages::DetectLanguages, detect_languages::DetectLanguagesParams;
    MaliciousUrl => malicious_url::MaliciousUrl, malicious_url::MaliciousUrlParams;
    SexualContent => sexual_content::SexualContent, sexual_content::SexualContentParams;
    DetectTopics => detect_topics::DetectTopics, detect_topics::DetectTopicsParams;
    FunctionCall => function_call::FunctionCall, function_call::FunctionCallParams;
    Grounding => grounding::Grounding, grounding::GroundingParams;
    Pii => pii::Pii, pii::PiiParams;
    EncodedAttacks => encoded_attacks::EncodedAttacks, encoded_attacks::EncodedAttacksParams;
    Jailbreak => jailbreak::Jailbreak, jailbreak::JailbreakParams;
    Leakage => leakage::Leakage, leakage::LeakageParams;
    ObfuscatedAttacks => obfuscated_attacks::ObfuscatedAttacks, obfuscated_attacks::ObfuscatedAttacksParams;
    PromptInjection => prompt_injection::PromptInjection, prompt_injection::PromptInjectionParams;
}

impl PolicyId {
    /// Parses a snake_case id; the error lists the valid ids.
    pub fn parse(id: &str) -> Result<PolicyId, UnknownPolicyId> {
        PolicyId::ALL
            .iter()
            .copied()
            .find(|p| p.as_str() == id)
            .ok_or_else(|| UnknownPolicyId(id.to_owned()))
    }
}

/// A policy id that is not in the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown policy id `{0}`; valid ids: {ids}", ids = valid_policy_ids())]
pub struct UnknownPolicyId(pub String);

fn valid_policy_ids() -> String {
    PolicyId::ALL
        .iter()
        .map(|p| p.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for PolicyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_policy_id_is_the_name_serde_reads_and_writes() {
        for &id in PolicyId::ALL {
            let json = serde_json::to_value(id).expect("serialises");
            assert_eq!(json, serde_json::Value::String(id.as_str().to_owned()));
            assert_eq!(PolicyId::parse(id.as_str()), Ok(id));
        }
    }

    #[test]
    fn every_policy_s_defaults_belong_to_it_and_pass_its_validation() {
        for &id in PolicyId::ALL {
            let params = PolicyParams::default_for(id);
            assert_eq!(params.policy(), id);
            assert_eq!(params.validate(false), Ok(()), "{id}");
        }
    }
}
