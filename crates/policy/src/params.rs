//! Building blocks of policy parameters: named patterns, and the checks whose errors name
//! the policy, the field and the valid values.

use serde::{Deserialize, Serialize};

use crate::error::PolicyConfigError;

/// A regular expression with a name, used by policies that accept custom patterns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedPattern {
    pub name: String,
    pub pattern: String,
}

pub(crate) fn invalid(
    policy: &'static str,
    param: impl Into<String>,
    problem: impl Into<String>,
) -> PolicyConfigError {
    PolicyConfigError::InvalidParam {
        policy,
        param: param.into(),
        problem: problem.into(),
    }
}

pub(crate) fn check_regex(
    policy: &'static str,
    param: impl Into<String>,
    pattern: &str,
) -> Result<(), PolicyConfigError> {
    regex::Regex::new(pattern)
        .map(|_| ())
        .map_err(|e| PolicyConfigError::InvalidRegex {
            policy,
            param: param.into(),
            message: e.to_string(),
        })
}

pub(crate) fn check_unit_interval(
    policy: &'static str,
    param: &str,
    value: f64,
) -> Result<(), PolicyConfigError> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(invalid(
            policy,
            param,
            format!("is {value}; valid values: a number from 0 to 1"),
        ))
    }
}

pub(crate) fn check_named_patterns(
    policy: &'static str,
    param: &str,
    patterns: &[NamedPattern],
) -> Result<(), PolicyConfigError> {
    for (i, p) in patterns.iter().enumerate() {
        if p.name.trim().is_empty() {
            return Err(invalid(
                policy,
                format!("{param}[{i}].name"),
                "must not be empty",
            ));
        }
        check_regex(policy, format!("{param}[{i}].pattern"), &p.pattern)?;
    }
    Ok(())
}
