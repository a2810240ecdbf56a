//! How a setting is declared and read: the `settings!` macro, which writes from one entry per
//! setting its `Settings` field, its flag and environment variable (in the `Args` struct of
//! its group), its TOML key, its default and its parser; and the parsers of each kind of value.

use std::path::PathBuf;
use std::time::Duration;

use crate::infra::secret::Secret;
use crate::infra::telemetry::LogFormat;

/// A setting that could not be used: names the setting and says what it accepts.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read config file {path}: {source}")]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    ParseFile { path: PathBuf, message: String },
    #[error("invalid {field} {value:?}: {expected}")]
    Invalid {
        field: &'static str,
        value: String,
        expected: String,
    },
}

pub(super) fn invalid(
    field: &'static str,
    value: &str,
    expected: impl Into<String>,
) -> SettingsError {
    SettingsError::Invalid {
        field,
        value: value.to_owned(),
        expected: expected.into(),
    }
}

/// A kind of setting value, parsed from the text of a flag, a variable, a TOML value or the
/// default.
pub trait Setting: Sized {
    /// The value as given, before parsing: a secret stays wrapped from the moment it is read.
    type Raw: Clone + From<String> + std::str::FromStr + Send + Sync + 'static;
    /// Whether `--help` must hide the value of the variable.
    const SECRET: bool = false;

    fn parse(field: &'static str, raw: Self::Raw) -> Result<Self, SettingsError>;
}

impl Setting for String {
    type Raw = String;

    fn parse(_: &'static str, raw: String) -> Result<Self, SettingsError> {
        Ok(raw)
    }
}

impl Setting for Secret {
    type Raw = Secret;
    const SECRET: bool = true;

    fn parse(_: &'static str, raw: Secret) -> Result<Self, SettingsError> {
        Ok(raw)
    }
}

/// An optional secret: empty means unset, so `REDIS_URL=` in a compose file switches Redis off.
impl Setting for Option<Secret> {
    type Raw = Secret;
    const SECRET: bool = true;

    fn parse(_: &'static str, raw: Secret) -> Result<Self, SettingsError> {
        Ok((!raw.expose().is_empty()).then_some(raw))
    }
}

impl Setting for Duration {
    type Raw = String;

    fn parse(field: &'static str, raw: String) -> Result<Self, SettingsError> {
        parse_duration(field, &raw)
    }
}

/// Counts: a whole number of at least 1.
impl Setting for u32 {
    type Raw = String;

    fn parse(field: &'static str, raw: String) -> Result<Self, SettingsError> {
        match raw.trim().parse::<u32>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err(invalid(field, &raw, "a whole number of at least 1")),
        }
    }
}

/// Sizes in bytes, written `64MB`, `512KB`, `1GB` (powers of 1024) or a bare number of bytes;
/// at least 1 byte.
impl Setting for u64 {
    type Raw = String;

    fn parse(field: &'static str, raw: String) -> Result<Self, SettingsError> {
        let expected = "a size such as 512KB, 64MB or 1GB (or a number of bytes), at least 1";
        let trimmed = raw.trim();
        let split = trimmed
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(trimmed.len());
        let (number, unit) = trimmed.split_at(split);
        let number: u64 = number.parse().map_err(|_| invalid(field, &raw, expected))?;
        let unit_bytes: u64 = match unit.trim().to_ascii_uppercase().as_str() {
            "" | "B" => 1,
            "KB" | "KIB" => 1 << 10,
            "MB" | "MIB" => 1 << 20,
            "GB" | "GIB" => 1 << 30,
            _ => return Err(invalid(field, &raw, expected)),
        };
        match number.checked_mul(unit_bytes) {
            Some(bytes) if bytes >= 1 => Ok(bytes),
            _ => Err(invalid(field, &raw, expected)),
        }
    }
}

impl Setting for bool {
    type Raw = String;

    fn parse(field: &'static str, raw: String) -> Result<Self, SettingsError> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" | "" => Ok(false),
            _ => Err(invalid(field, &raw, "true or false")),
        }
    }
}

impl Setting for LogFormat {
    type Raw = String;

    fn parse(field: &'static str, raw: String) -> Result<Self, SettingsError> {
        match raw.as_str() {
            "pretty" => Ok(Self::Pretty),
            "json" => Ok(Self::Json),
            _ => Err(invalid(field, &raw, "one of pretty, json")),
        }
    }
}

/// Parses `500ms`, `90s`, `5m`, `1h`, `7d` (a bare number is seconds).
pub fn parse_duration(field: &'static str, value: &str) -> Result<Duration, SettingsError> {
    let expected = "a duration such as 500ms, 90s, 5m, 1h or 7d";
    let trimmed = value.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| invalid(field, value, expected))?;
    let millis = match unit {
        "ms" => 1,
        "" | "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(invalid(field, value, expected)),
    };
    Ok(Duration::from_millis(number.saturating_mul(millis)))
}

/// A TOML value as the text a flag would carry: counts may be written `8` or `"8"`.
pub(super) fn toml_text(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The `--help` line of a setting: its documentation and, when it has one, its default.
pub(super) fn flag_help(doc: &[&str], default: &str) -> String {
    let doc = doc
        .iter()
        .map(|line| line.trim())
        .collect::<Vec<_>>()
        .join(" ");
    // As clap does with a one-sentence doc comment.
    let doc = doc.strip_suffix('.').unwrap_or(&doc);
    if default.is_empty() {
        doc.to_owned()
    } else {
        format!("{doc} [default: {default}]")
    }
}

/// Declares the settings, group by group. Each entry
///
/// ```text
/// /// What it is for.
/// name: Type = "default", env "VARIABLE";
/// ```
///
/// gives the field `Settings::name`, the flag `--name` (with the variable, in the `--help`
/// section of its group), the TOML key `name`, and its default, parsed by `Type`'s
/// [`Setting`] impl like any given value. A group is an `Args` struct that the commands
/// reading those settings flatten, so a command's `--help` lists exactly what it reads.
macro_rules! settings {
    ($(
        $(#[doc = $group_doc:literal])+
        $group:ident $heading:literal {
            $(
                $(#[doc = $doc:literal])+
                $name:ident: $ty:ty = $default:literal, env $env:literal;
            )+
        }
    )+) => {
        /// Every setting of every role, resolved and validated.
        #[derive(Debug, Clone)]
        pub struct Settings {
            $($(
                $(#[doc = $doc])+
                pub $name: $ty,
            )+)+
        }

        /// The settings given as flags or environment variables (or set by a test or a
        /// tool); unset ones fall through to the file, then to the defaults.
        #[derive(Debug, Clone, Default)]
        pub struct SettingsArgs {
            /// TOML file with settings.
            pub config: Option<std::path::PathBuf>,
            $($(
                pub $name: Option<<$ty as $crate::config::Setting>::Raw>,
            )+)+
        }

        $(
            $(#[doc = $group_doc])+
            #[derive(Debug, Clone, Default, clap::Args)]
            #[command(next_help_heading = $heading)]
            pub struct $group {
                $(
                    #[arg(
                        long,
                        env = $env,
                        global = true,
                        hide_env_values = <$ty as $crate::config::Setting>::SECRET,
                        help = $crate::config::setting::flag_help(&[$($doc),+], $default),
                    )]
                    pub $name: Option<<$ty as $crate::config::Setting>::Raw>,
                )+
            }

            impl $group {
                /// Adds the flags and variables given to `args`.
                pub fn apply(&self, args: &mut SettingsArgs) {
                    $(
                        if let Some(value) = &self.$name {
                            args.$name = Some(value.clone());
                        }
                    )+
                }
            }
        )+

        /// The TOML file: the same keys, all optional; an unknown key is an error (a typo must
        /// not silently fall back to a default). No `Debug`: it holds secrets as plain text.
        #[derive(Default, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct SettingsFile {
            $($(
                $name: Option<toml::Value>,
            )+)+
        }

        impl Settings {
            /// Each setting from (highest first) `args`, the file, its default.
            fn resolve(args: &SettingsArgs, file: &SettingsFile) -> Result<Self, SettingsError> {
                Ok(Self {
                    $($(
                        $name: <$ty as $crate::config::Setting>::parse(
                            stringify!($name),
                            args.$name.clone()
                                .or_else(|| {
                                    file.$name.as_ref().map(|value| {
                                        $crate::config::setting::toml_text(value).into()
                                    })
                                })
                                .unwrap_or_else(|| String::from($default).into()),
                        )?,
                    )+)+
                })
            }
        }
    };
}

pub(super) use settings;
