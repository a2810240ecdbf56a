//! Policy-set configuration: what an integration installs (TOML or JSON), with typed
//! per-policy parameters (declared by each policy's module, see `catalogue`) and validation
//! that names the bad field and the valid values.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::catalogue::{PolicyId, PolicyParams};
use crate::error::PolicyConfigError;
use crate::message::Role;
use crate::params::invalid;

/// What a policy asks for when it fires. Because events are history, `block` and `modify`
/// execute as `alert`; both the configured and the effective action are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Log,
    Alert,
    Block,
    Modify,
}

impl Action {
    /// The action actually executed on delivered history.
    pub fn effective(self) -> Action {
        match self {
            Action::Log => Action::Log,
            Action::Alert | Action::Block | Action::Modify => Action::Alert,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Log => "log",
            Action::Alert => "alert",
            Action::Block => "block",
            Action::Modify => "modify",
        }
    }
}

/// One configured policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawPolicyConfig", into = "RawPolicyConfig")]
pub struct PolicyConfig {
    pub id: PolicyId,
    pub enabled: bool,
    pub action: Action,
    pub applies_to: Vec<Role>,
    pub params: PolicyParams,
}

impl PolicyConfig {
    /// A policy with the catalogue's roles and default parameters.
    pub fn new(id: PolicyId, enabled: bool, action: Action) -> PolicyConfig {
        PolicyConfig {
            id,
            enabled,
            action,
            applies_to: id.default_applies_to(),
            params: PolicyParams::default_for(id),
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicyConfig {
    id: PolicyId,
    #[serde(default = "default_enabled")]
    enabled: bool,
    #[serde(default = "default_action")]
    action: Action,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    applies_to: Option<Vec<Role>>,
    #[serde(default)]
    params: serde_json::Value,
}

fn default_enabled() -> bool {
    true
}

fn default_action() -> Action {
    Action::Alert
}

impl TryFrom<RawPolicyConfig> for PolicyConfig {
    type Error = String;

    fn try_from(raw: RawPolicyConfig) -> Result<Self, Self::Error> {
        let params = PolicyParams::from_value(raw.id, raw.params)
            .map_err(|e| format!("policy `{}`: params: {e}", raw.id))?;
        Ok(PolicyConfig {
            id: raw.id,
            enabled: raw.enabled,
            action: raw.action,
            applies_to: raw
                .applies_to
                .unwrap_or_else(|| raw.id.default_applies_to()),
            params,
        })
    }
}

impl From<PolicyConfig> for RawPolicyConfig {
    fn from(config: PolicyConfig) -> Self {
        RawPolicyConfig {
            id: config.id,
            enabled: config.enabled,
            action: config.action,
            applies_to: Some(config.applies_to),
            params: config.params.to_value(),
        }
    }
}

/// A policy set as an integration installs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PolicySetConfig {
    #[serde(default)]
    pub policies: Vec<PolicyConfig>,
}

impl PolicySetConfig {
    /// Parses a TOML document (`[[policies]]` tables) and validates it.
    pub fn from_toml_str(text: &str) -> Result<PolicySetConfig, PolicyConfigError> {
        let set: PolicySetConfig = toml::from_str(text).map_err(|e| PolicyConfigError::Parse {
            format: "TOML",
            message: e.to_string(),
        })?;
        set.validate()?;
        Ok(set)
    }

    /// Parses a JSON document (`{"policies": [...]}`) and validates it.
    pub fn from_json_str(text: &str) -> Result<PolicySetConfig, PolicyConfigError> {
        let set: PolicySetConfig =
            serde_json::from_str(text).map_err(|e| PolicyConfigError::Parse {
                format: "JSON",
                message: e.to_string(),
            })?;
        set.validate()?;
        Ok(set)
    }

    /// Renders the set as TOML.
    pub fn to_toml_string(&self) -> Result<String, PolicyConfigError> {
        toml::to_string(self).map_err(|e| PolicyConfigError::Parse {
            format: "TOML",
            message: e.to_string(),
        })
    }

    /// The configuration of one policy, if present.
    pub fn policy(&self, id: PolicyId) -> Option<&PolicyConfig> {
        self.policies.iter().find(|p| p.id == id)
    }

    /// Checks every parameter; compiling a set validates it too.
    pub fn validate(&self) -> Result<(), PolicyConfigError> {
        let mut seen = BTreeSet::new();
        for policy in &self.policies {
            if !seen.insert(policy.id) {
                return Err(PolicyConfigError::DuplicatePolicy {
                    policy: policy.id.as_str(),
                });
            }
            if policy.applies_to.is_empty() {
                return Err(PolicyConfigError::EmptyAppliesTo {
                    policy: policy.id.as_str(),
                });
            }
            if policy.params.policy() != policy.id {
                return Err(invalid(
                    policy.id.as_str(),
                    "params",
                    format!("belong to policy `{}`", policy.params.policy()),
                ));
            }
            policy.params.validate(policy.enabled)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::banned_substrings::MatchMode;

    #[test]
    fn a_toml_set_with_defaults_parses_and_fills_the_catalogue_roles() {
        let set = PolicySetConfig::from_toml_str(
            r#"
            [[policies]]
            id = "pii"
            action = "block"

            [[policies]]
            id = "banned_substrings"
            applies_to = ["user"]
            params = { substrings = ["project falcon"], match_mode = "substring" }
            "#,
        )
        .expect("valid set");
        let pii = set.policy(PolicyId::Pii).expect("pii present");
        assert_eq!(pii.applies_to, vec![Role::User, Role::Assistant]);
        assert!(pii.enabled);
        assert_eq!(pii.action.effective(), Action::Alert);
        match &set
            .policy(PolicyId::BannedSubstrings)
            .expect("present")
            .params
        {
            PolicyParams::BannedSubstrings(p) => {
                assert_eq!(p.match_mode, MatchMode::Substring);
                assert_eq!(p.substrings, vec!["project falcon".to_owned()]);
            }
            other => panic!("wrong params {other:?}"),
        }
    }

    #[test]
    fn an_unknown_policy_id_is_refused_with_the_valid_ids() {
        let err = PolicySetConfig::from_json_str(r#"{"policies":[{"id":"pi","action":"log"}]}"#)
            .expect_err("unknown id");
        let msg = err.to_string();
        assert!(msg.contains("pi"), "{msg}");
        assert!(
            msg.contains("prompt_injection") && msg.contains("banned_substrings"),
            "{msg}"
        );
    }

    #[test]
    fn an_unknown_action_is_refused_with_the_valid_actions() {
        let err = PolicySetConfig::from_json_str(r#"{"policies":[{"id":"pii","action":"drop"}]}"#)
            .expect_err("unknown action");
        let msg = err.to_string();
        assert!(
            msg.contains("drop") && msg.contains("alert") && msg.contains("modify"),
            "{msg}"
        );
    }

    #[test]
    fn an_unknown_parameter_is_refused_naming_the_field() {
        let err = PolicySetConfig::from_json_str(
            r#"{"policies":[{"id":"pii","params":{"entitys":["email"]}}]}"#,
        )
        .expect_err("unknown field");
        let msg = err.to_string();
        assert!(msg.contains("entitys") && msg.contains("entities"), "{msg}");
    }

    #[test]
    fn a_regex_that_does_not_compile_names_the_policy_and_param() {
        let err = PolicySetConfig::from_json_str(
            r#"{"policies":[{"id":"prompt_injection","params":{"custom_patterns":[{"name":"x","pattern":"(unclosed"}]}}]}"#,
        )
        .expect_err("bad regex");
        let msg = err.to_string();
        assert!(msg.contains("prompt_injection"), "{msg}");
        assert!(msg.contains("custom_patterns[0].pattern"), "{msg}");
    }

    #[test]
    fn an_unknown_language_code_is_refused_with_the_valid_codes() {
        let err = PolicySetConfig::from_json_str(
            r#"{"policies":[{"id":"detect_languages","params":{"allowed":["en","xx"]}}]}"#,
        )
        .expect_err("bad code");
        let msg = err.to_string();
        assert!(msg.contains("allowed[1]") && msg.contains("`xx`"), "{msg}");
        assert!(msg.contains("fr") && msg.contains("de"), "{msg}");
    }

    #[test]
    fn an_enabled_banned_substrings_policy_needs_a_list() {
        let err = PolicySetConfig::from_json_str(r#"{"policies":[{"id":"banned_substrings"}]}"#)
            .expect_err("empty list");
        assert!(err.to_string().contains("substrings"), "{err}");
        let disabled = PolicySetConfig::from_json_str(
            r#"{"policies":[{"id":"banned_substrings","enabled":false}]}"#,
        );
        assert!(disabled.is_ok());
    }

    #[test]
    fn a_policy_configured_twice_is_refused() {
        let err = PolicySetConfig::from_json_str(r#"{"policies":[{"id":"pii"},{"id":"pii"}]}"#)
            .expect_err("duplicate");
        assert_eq!(err, PolicyConfigError::DuplicatePolicy { policy: "pii" });
    }

    #[test]
    fn a_set_round_trips_through_toml_and_json() {
        let set = crate::templates::template("strict").expect("strict exists");
        let toml_text = set.to_toml_string().expect("renders");
        let back = PolicySetConfig::from_toml_str(&toml_text).expect("parses");
        assert_eq!(back, set);
        let json = serde_json::to_string(&set).expect("json");
        let back = PolicySetConfig::from_json_str(&json).expect("parses");
        assert_eq!(back, set);
    }
}
