//! The built-in injection and jailbreak rules as one rule set, for the policies and tags
//! that look for any injection trigger (`obfuscated_attacks`, `function_call`, `quality`).

use std::sync::LazyLock;

use crate::error::PolicyConfigError;
use crate::jailbreak;
use crate::policy::Policy;
use crate::prompt_injection::{self, PromptInjection};
use crate::rule_set::{RuleSet, RuleSpec};

/// The built-in prompt-injection rules followed by the jailbreak rules, compiled once per
/// process: `obfuscated_attacks`, `function_call` and the quality tags all match them, and
/// they do not depend on configuration. Rule indexes below
/// `prompt_injection::RULES.len()` are injection rules.
pub(crate) fn injection_triggers() -> Result<&'static RuleSet, PolicyConfigError> {
    static TRIGGERS: LazyLock<Result<RuleSet, PolicyConfigError>> = LazyLock::new(|| {
        let specs: Vec<RuleSpec> = prompt_injection::RULES
            .iter()
            .chain(jailbreak::RULES)
            .copied()
            .collect();
        RuleSet::compile(PromptInjection::ID, &specs, &[])
    });
    TRIGGERS.as_ref().map_err(Clone::clone)
}
