//! `encoded_attacks`: base64, hex, ROT13, URL-encoded, escape and Unicode-tag runs are
//! decoded (`decode`) and re-scanned by the other policies; the engine runs that stage, so
//! this module declares the policy's parameters and checks them.

use serde::{Deserialize, Serialize};

use crate::decode::Encoding;
use crate::error::PolicyConfigError;
use crate::message::Role;
use crate::params::invalid;
use crate::policy::{Detector, Policy};

/// `encoded_attacks` parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EncodedAttacksParams {
    pub encodings: Vec<Encoding>,
    /// Nested decoding depth (base64 inside base64 ...), 1..=4.
    pub max_depth: usize,
}

impl Default for EncodedAttacksParams {
    fn default() -> Self {
        Self {
            encodings: Encoding::ALL.to_vec(),
            max_depth: 2,
        }
    }
}

/// The `encoded_attacks` policy; its stage is run by the engine over decoded runs.
pub(crate) struct EncodedAttacks;

impl Policy for EncodedAttacks {
    const ID: &'static str = "encoded_attacks";
    const NAME: &'static str = "Prevent Encoded Attacks";
    const TAG: &'static str = "Encoded Attack";
    const APPLIES_TO: &'static [Role] = &[Role::User, Role::Assistant, Role::Tool];
    const DESCRIPTION: &'static str =
        "Base64, hex, ROT13, URL-encoded and escape runs decoded and re-scanned by the other policies.";
    type Params = EncodedAttacksParams;

    fn validate(params: &EncodedAttacksParams, enabled: bool) -> Result<(), PolicyConfigError> {
        let id = Self::ID;
        if !(1..=4).contains(&params.max_depth) {
            return Err(invalid(
                id,
                "max_depth",
                format!("is {}; valid values: 1 to 4", params.max_depth),
            ));
        }
        if enabled && params.encodings.is_empty() {
            return Err(invalid(
            id,
            "encodings",
            "is empty; valid values: base64, hex, rot13, url_encoded, unicode_escape, unicode_tags",
        ));
        }
        Ok(())
    }

    fn compile(_params: &EncodedAttacksParams) -> Result<Box<dyn Detector>, PolicyConfigError> {
        Err(invalid(Self::ID, "params", "are handled by the engine"))
    }
}
