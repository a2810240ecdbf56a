//! The learned prompt-attack classifier: logistic regression over hashed word and character
//! n-grams of the normalised text (`features`), with `i8` weights in a versioned file
//! (`model`), trained from public train splits (`dataset`) and measured on their test splits
//! (`metrics`).

pub mod dataset;
pub mod features;
pub mod metrics;
pub mod model;

use std::borrow::Cow;

use crate::normalize::{profile, NormalizedView};
use model::Model;

/// The engine's normalisation of a text (NFKC, confusables, invisible characters stripped,
/// leetspeak and spaced letters folded, lowercase) when it can change the text beyond ASCII
/// case and whitespace; else the text itself (the features lowercase it).
pub fn normalised(text: &str) -> Cow<'_, str> {
    if profile(text).needs_views() {
        Cow::Owned(NormalizedView::fold(text).text().to_owned())
    } else {
        Cow::Borrowed(text)
    }
}

/// How readily a policy reports the classifier's score as a finding: `low`, `medium` and
/// `high` stand for the thresholds chosen on the validation splits (`high` flags most),
/// a number in (0, 1) is a probability threshold, `off` leaves only the rules.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Sensitivity {
    Off,
    /// The default: the policies' own corpus keeps its precision at this level.
    #[default]
    Low,
    Medium,
    High,
    Threshold(f64),
}

/// The valid values of a sensitivity, for error messages.
pub const SENSITIVITY_VALUES: &str = "off, low, medium, high, or a threshold between 0 and 1";

impl Sensitivity {
    /// Parses `off`, `low`, `medium`, `high` or a number.
    ///
    /// # Errors
    /// Anything else, or a number outside (0, 1), with the valid values.
    pub fn parse(value: &str) -> Result<Sensitivity, String> {
        let sensitivity = match value {
            "off" => Sensitivity::Off,
            "low" => Sensitivity::Low,
            "medium" => Sensitivity::Medium,
            "high" => Sensitivity::High,
            other => Sensitivity::Threshold(
                other
                    .parse::<f64>()
                    .map_err(|_| format!("is `{other}`; valid values: {SENSITIVITY_VALUES}"))?,
            ),
        };
        sensitivity.check()?;
        Ok(sensitivity)
    }

    /// Whether a threshold lies strictly between 0 and 1.
    ///
    /// # Errors
    /// The value and the valid values.
    pub fn check(self) -> Result<(), String> {
        match self {
            Sensitivity::Threshold(t) if !(t > 0.0 && t < 1.0) => {
                Err(format!("is {t}; valid values: {SENSITIVITY_VALUES}"))
            }
            _ => Ok(()),
        }
    }

    /// The probability threshold under a model, or `None` for `off`.
    pub fn threshold(self, model: &Model<'_>) -> Option<f32> {
        match self {
            Sensitivity::Off => None,
            Sensitivity::Low => Some(model.thresholds.low),
            Sensitivity::Medium => Some(model.thresholds.medium),
            Sensitivity::High => Some(model.thresholds.high),
            #[allow(clippy::cast_possible_truncation)]
            Sensitivity::Threshold(t) => Some(t as f32),
        }
    }
}

impl serde::Serialize for Sensitivity {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Sensitivity::Off => serializer.serialize_str("off"),
            Sensitivity::Low => serializer.serialize_str("low"),
            Sensitivity::Medium => serializer.serialize_str("medium"),
            Sensitivity::High => serializer.serialize_str("high"),
            Sensitivity::Threshold(t) => serializer.serialize_f64(*t),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Sensitivity {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Name(String),
            Number(f64),
        }
        // A number is checked by the set's validation, which names the policy and field.
        match Raw::deserialize(deserializer)? {
            Raw::Number(t) => Ok(Sensitivity::Threshold(t)),
            Raw::Name(name) => match name.as_str() {
                "off" => Ok(Sensitivity::Off),
                "low" => Ok(Sensitivity::Low),
                "medium" => Ok(Sensitivity::Medium),
                "high" => Ok(Sensitivity::High),
                other => Err(serde::de::Error::custom(format!(
                    "sensitivity is `{other}`; valid values: {SENSITIVITY_VALUES}"
                ))),
            },
        }
    }
}

/// The compiled-in weights file (trained by `src/bin/train-classifier.rs`).
static WEIGHTS: &[u8] = include_bytes!("weights.bin");

/// The compiled-in model.
pub fn builtin() -> &'static Model<'static> {
    static MODEL: std::sync::OnceLock<Model<'static>> = std::sync::OnceLock::new();
    MODEL.get_or_init(|| {
        // A test reads the same bytes, so a build with a damaged file fails its tests.
        Model::parse(WEIGHTS).unwrap_or_else(|e| panic!("compiled-in classifier weights: {e}"))
    })
}

/// The version of the compiled-in model, recorded with every evaluation.
pub fn model_version() -> &'static str {
    builtin().version
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiled_in_weights_parse_and_carry_a_version_and_ordered_thresholds() {
        let model = Model::parse(WEIGHTS).expect("weights parse");
        assert!(
            model.version.starts_with("ngram-lr-v2-"),
            "{}",
            model.version
        );
        let t = model.thresholds;
        assert!(
            0.0 < t.high && t.high <= t.medium && t.medium <= t.low && t.low < 1.0,
            "{t:?}"
        );
        assert_eq!(model_version(), model.version);
    }

    #[test]
    fn a_sensitivity_is_a_level_or_a_threshold_between_0_and_1() {
        assert_eq!(Sensitivity::parse("high"), Ok(Sensitivity::High));
        assert_eq!(Sensitivity::parse("0.8"), Ok(Sensitivity::Threshold(0.8)));
        assert_eq!(
            Sensitivity::parse("1.5").unwrap_err(),
            "is 1.5; valid values: off, low, medium, high, or a threshold between 0 and 1"
        );
        assert_eq!(
            Sensitivity::parse("max").unwrap_err(),
            "is `max`; valid values: off, low, medium, high, or a threshold between 0 and 1"
        );
    }

    #[test]
    fn a_sensitivity_reads_from_a_name_or_a_number_and_writes_back_the_same() {
        for (json, value) in [
            ("\"medium\"", Sensitivity::Medium),
            ("0.75", Sensitivity::Threshold(0.75)),
            ("\"off\"", Sensitivity::Off),
        ] {
            let parsed: Sensitivity = serde_json::from_str(json).expect("parses");
            assert_eq!(parsed, value);
            assert_eq!(serde_json::to_string(&parsed).expect("writes"), json);
        }
        let model = builtin();
        assert_eq!(Sensitivity::Off.threshold(model), None);
        assert_eq!(
            Sensitivity::Low.threshold(model),
            Some(model.thresholds.low)
        );
        let err = serde_json::from_str::<Sensitivity>("\"max\"").unwrap_err();
        assert!(err.to_string().contains("valid values: off, low"), "{err}");
    }
}
