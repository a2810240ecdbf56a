//! What a policy module gives the catalogue: its identity, its parameters with their
//! defaults and validation, and the compiled detector that scans messages.

use crate::error::PolicyConfigError;
use crate::literals::LiteralRegistry;
use crate::message::{MessageInput, Role};
use crate::scan::{Hit, ScanText};

/// One compiled policy.
pub(crate) trait Detector: Send + Sync {
    /// Appends hits for `text` (the message, or a decoded payload of it).
    fn scan(&self, text: &ScanText<'_>, input: &MessageInput<'_>, out: &mut Vec<Hit>);

    /// Whether payloads decoded by `encoded_attacks` are re-scanned by this policy.
    fn scans_decoded(&self) -> bool {
        true
    }

    /// Adds the literals the policy searches the message for to the set's index.
    fn register_literals(&mut self, _literals: &mut LiteralRegistry) {}
}

/// A policy of the catalogue, implemented once by the policy's own module.
pub(crate) trait Policy {
    /// The stable snake_case id.
    const ID: &'static str;
    /// The human name shown in the UI.
    const NAME: &'static str;
    /// The tag added to an evaluation when this policy fired.
    const TAG: &'static str;
    /// The roles the policy applies to when `applies_to` is omitted.
    const APPLIES_TO: &'static [Role];
    /// One-line description of what the policy finds.
    const DESCRIPTION: &'static str;
    /// The typed `params` of the policy.
    type Params: Default;

    /// The parameters of a policy configured without `params`.
    fn defaults() -> Self::Params {
        Self::Params::default()
    }

    /// Checks the parameters; `enabled` policies must have something to look for.
    fn validate(params: &Self::Params, enabled: bool) -> Result<(), PolicyConfigError>;

    /// Builds the detector once per compiled set.
    fn compile(params: &Self::Params) -> Result<Box<dyn Detector>, PolicyConfigError>;
}
