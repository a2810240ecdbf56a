//! Opaque pagination cursors and page tokens. Each is base64 of a small JSON position plus a
//! MAC keyed by the server's secret, so a forged, altered or foreign cursor is rejected, and a
//! chat cursor carries its sort key so it cannot be replayed under the other `order_by`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A position in a time-ordered list: the sort time and id of the item the cursor points at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// What the list is sorted and scoped by (for example `updated_at`, or a chat id).
    #[serde(rename = "k")]
    pub scope: String,
    #[serde(rename = "t")]
    pub time: DateTime<Utc>,
    #[serde(rename = "id")]
    pub id: String,
}

/// An offset into a page-token list, bound to what was listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageToken {
    #[serde(rename = "s")]
    pub scope: String,
    #[serde(rename = "o")]
    pub offset: usize,
}

#[derive(Serialize, Deserialize)]
struct Signed<T> {
    #[serde(flatten)]
    body: T,
    #[serde(rename = "m")]
    mac: String,
}

/// Signs and checks cursors.
#[derive(Clone)]
pub struct CursorCodec {
    secret: [u8; 32],
}

impl std::fmt::Debug for CursorCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorCodec { secret: <redacted> }")
    }
}

/// Why a cursor was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    #[error("the value is not a cursor issued by this server")]
    Unreadable,
    #[error("the cursor was issued for `{issued}` and cannot be used for `{requested}`")]
    WrongScope { issued: String, requested: String },
}

impl CursorCodec {
    /// A codec whose secret derives from the seed, so the same seed issues the same cursors.
    pub fn new(seed: u64) -> Self {
        let digest = Sha256::digest(format!("logwarden-fake-cursor-secret:{seed}").as_bytes());
        let mut secret = [0u8; 32];
        secret.copy_from_slice(&digest);
        Self { secret }
    }

    fn mac(&self, payload: &[u8]) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.secret);
        hasher.update(payload);
        hasher.update(self.secret);
        hex::encode(&hasher.finalize()[..12])
    }

    fn encode<T: Serialize>(&self, body: T) -> String {
        let payload = serde_json::to_vec(&body).unwrap_or_default();
        let mac = self.mac(&payload);
        let signed = Signed { body, mac };
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&signed).unwrap_or_default())
    }

    fn decode<T: Serialize + for<'de> Deserialize<'de>>(
        &self,
        raw: &str,
    ) -> Result<T, CursorError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(raw.trim_end_matches('='))
            .map_err(|_| CursorError::Unreadable)?;
        let signed: Signed<T> =
            serde_json::from_slice(&bytes).map_err(|_| CursorError::Unreadable)?;
        let payload = serde_json::to_vec(&signed.body).map_err(|_| CursorError::Unreadable)?;
        if self.mac(&payload) != signed.mac {
            return Err(CursorError::Unreadable);
        }
        Ok(signed.body)
    }

    pub fn encode_position(&self, position: &Position) -> String {
        self.encode(position)
    }

    /// Decodes a position and checks it was issued for `scope`.
    pub fn decode_position(&self, raw: &str, scope: &str) -> Result<Position, CursorError> {
        let position: Position = self.decode(raw)?;
        if position.scope != scope {
            return Err(CursorError::WrongScope {
                issued: position.scope,
                requested: scope.to_string(),
            });
        }
        Ok(position)
    }

    pub fn encode_page(&self, token: &PageToken) -> String {
        self.encode(token)
    }

    /// Decodes a page token and checks it was issued for `scope`.
    pub fn decode_page(&self, raw: &str, scope: &str) -> Result<usize, CursorError> {
        let token: PageToken = self.decode(raw)?;
        if token.scope != scope {
            return Err(CursorError::WrongScope {
                issued: token.scope,
                requested: scope.to_string(),
            });
        }
        Ok(token.offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn position(scope: &str) -> Position {
        Position {
            scope: scope.to_string(),
            time: DateTime::from_timestamp(1_775_000_000, 0).unwrap(),
            id: "claude_chat_01abc".to_string(),
        }
    }

    #[test]
    fn a_cursor_round_trips_under_its_own_scope_only() {
        let codec = CursorCodec::new(1);
        let raw = codec.encode_position(&position("updated_at"));
        assert_eq!(
            codec.decode_position(&raw, "updated_at"),
            Ok(position("updated_at"))
        );
        assert!(matches!(
            codec.decode_position(&raw, "created_at"),
            Err(CursorError::WrongScope { .. })
        ));
    }

    #[test]
    fn forged_or_foreign_cursors_are_rejected() {
        let codec = CursorCodec::new(1);
        let raw = codec.encode_position(&position("created_at"));
        let mut forged = URL_SAFE_NO_PAD.decode(&raw).unwrap();
        let text = String::from_utf8(forged.clone())
            .unwrap()
            .replace("01abc", "01abd");
        forged = text.into_bytes();
        let forged = URL_SAFE_NO_PAD.encode(forged);
        assert_eq!(
            codec.decode_position(&forged, "created_at"),
            Err(CursorError::Unreadable)
        );
        assert_eq!(
            codec.decode_position("not a cursor", "created_at"),
            Err(CursorError::Unreadable)
        );
        let other = CursorCodec::new(2);
        assert_eq!(
            other.decode_position(&raw, "created_at"),
            Err(CursorError::Unreadable)
        );
    }

    #[test]
    fn page_tokens_are_bound_to_what_was_listed() {
        let codec = CursorCodec::new(3);
        let raw = codec.encode_page(&PageToken {
            scope: "users".into(),
            offset: 500,
        });
        assert_eq!(codec.decode_page(&raw, "users"), Ok(500));
        assert!(codec.decode_page(&raw, "groups").is_err());
    }
}
