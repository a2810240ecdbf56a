//! The one redacting secret type: the client's API key, and every other secret of a program
//! built on this crate (database passwords, encryption keys). Its `Debug` and `Display` never
//! show the value, so a secret cannot leak through a log line or an error message.

use std::fmt;

use serde::Deserialize;

/// A secret string. Read it with [`Secret::expose`] at the one place that needs it (a request
/// header, a connection, encryption).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The last four characters, the only part of a key ever shown back to people (to tell
    /// keys apart).
    pub fn last4(&self) -> &str {
        let start = self
            .0
            .char_indices()
            .rev()
            .nth(3)
            .map_or(0, |(index, _)| index);
        &self.0[start..]
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Ok(Self(value.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_prints_its_value() {
        let secret = Secret::new("sk-ant-api01-abcdefgh");
        assert_eq!(format!("{secret:?}"), "Secret(***)");
        assert_eq!(secret.to_string(), "***");
        assert_eq!(secret.last4(), "efgh");
    }

    #[test]
    fn the_last_four_characters_of_a_short_or_non_ascii_key_are_whole_characters() {
        assert_eq!(Secret::new("abc").last4(), "abc");
        assert_eq!(Secret::new("clé-éèêë").last4(), "éèêë");
    }
}
