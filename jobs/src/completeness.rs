//! The chain-of-custody record of one ingest run: which cursors it walked, which request
//! ended it, and a hash of every record it received, so an investigator can show what was
//! pulled and a second run over the same data can be shown to have seen the same records.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::checkpoint::{QuarantinedEvent, SkippedChat};
use crate::window::Window;

/// SHA-256 of `bytes`, lowercase hex.
pub fn content_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// SHA-256 (lowercase hex) of a JSON record in canonical form: object keys sorted, no
/// whitespace. The hash depends on the record's content only, not on key order nor on how
/// serde_json happens to be built (its `preserve_order` feature changes map order).
pub fn record_hash(record: &Value) -> String {
    content_hash(canonical_json(record).as_bytes())
}

/// [`record_hash`] of anything serializable.
pub fn serializable_hash<T: Serialize + ?Sized>(record: &T) -> Result<String, serde_json::Error> {
    Ok(record_hash(&serde_json::to_value(record)?))
}

/// The canonical text [`record_hash`] hashes.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(number) => out.push_str(&number.to_string()),
        Value::String(text) => write_string(text, out),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|left, right| left.0.cmp(right.0));
            out.push('{');
            for (index, (key, item)) in entries.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_canonical(item, out);
            }
            out.push('}');
        }
    }
}

/// JSON string escaping as RFC 8259 requires and no more: quote, backslash, control
/// characters. Everything else is written as is (UTF-8).
fn write_string(text: &str, out: &mut String) {
    out.push('"');
    for character in text.chars() {
        match character {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            control if u32::from(control) < 0x20 => {
                out.push_str(&format!("\\u{:04x}", u32::from(control)));
            }
            other => out.push(other),
        }
    }
    out.push('"');
}

/// Combines the record hashes of a run into one hash that does not depend on the order the
/// records arrived in nor on duplicates (delivery is at-least-once): SHA-256 over the
/// distinct hashes, sorted, each followed by `\n`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunHash {
    hashes: BTreeSet<String>,
}

impl RunHash {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one record hash (as returned by [`record_hash`] or [`content_hash`]).
    pub fn add(&mut self, record_hash: impl Into<String>) {
        self.hashes.insert(record_hash.into());
    }

    /// How many distinct records were added.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// The combined hash, lowercase hex.
    pub fn finish(&self) -> String {
        let mut hasher = Sha256::new();
        for hash in &self.hashes {
            hasher.update(hash.as_bytes());
            hasher.update(b"\n");
        }
        hex::encode(hasher.finalize())
    }
}

/// [`RunHash`] over a list of record hashes.
pub fn combine_record_hashes<I>(hashes: I) -> String
where
    I: IntoIterator,
    I::Item: Into<String>,
{
    let mut run = RunHash::new();
    for hash in hashes {
        run.add(hash);
    }
    run.finish()
}

/// The cursors of one paginated listing walked by a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CursorSpan {
    /// The first page's `first_id`: where the listing started.
    pub start_cursor: Option<String>,
    /// The last page's `last_id`: where it ended.
    pub terminal_cursor: Option<String>,
    pub pages: u64,
    /// Distinct records received.
    pub records: u64,
}

/// What a run pulled, for the chain of custody. Stored with the job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletenessRecord {
    /// The query: every listing was bounded by this window.
    pub window: Window,
    /// The activity feed (access events), by `created_at`.
    pub activities: CursorSpan,
    /// The chat listing, by `updated_at`.
    pub chats: CursorSpan,
    /// The `request-id` of the last response received.
    pub final_request_id: Option<String>,
    /// Distinct records hashed (activities plus chat transcripts).
    pub records: u64,
    /// [`RunHash`] of every record.
    pub content_hash: String,
    /// Chats left out (their messages were gone), with why.
    #[serde(default)]
    pub skipped: Vec<SkippedChat>,
    /// Events stored without a verdict because their evaluation panicked.
    #[serde(default)]
    pub quarantined: Vec<QuarantinedEvent>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn content_hash_is_sha256_hex() {
        // The SHA-256 test vector of FIPS 180-2 for "abc".
        assert_eq!(
            content_hash(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn record_hash_ignores_key_order_but_not_content() {
        let one = json!({"id": "activity_1", "actor": {"type": "user_actor", "user_id": "u"}});
        let reordered =
            json!({"actor": {"user_id": "u", "type": "user_actor"}, "id": "activity_1"});
        let changed = json!({"id": "activity_1", "actor": {"type": "user_actor", "user_id": "v"}});
        assert_eq!(record_hash(&one), record_hash(&reordered));
        assert_ne!(record_hash(&one), record_hash(&changed));
    }

    #[test]
    fn canonical_json_sorts_keys_and_escapes_like_json() {
        let value = json!({"b": [1, 2.5, null, true], "a": "line\n\"quoted\"\u{1}é"});
        let canonical = canonical_json(&value);
        assert_eq!(
            canonical,
            "{\"a\":\"line\\n\\\"quoted\\\"\\u0001é\",\"b\":[1,2.5,null,true]}"
        );
        // It is valid JSON that reads back to the same value.
        assert_eq!(serde_json::from_str::<Value>(&canonical).unwrap(), value);
    }

    #[test]
    fn the_run_hash_of_no_records_is_the_hash_of_nothing() {
        assert_eq!(RunHash::new().finish(), content_hash(b""));
    }

    proptest! {
        #[test]
        fn the_run_hash_ignores_order_and_duplicates(
            records in proptest::collection::vec("[a-z0-9]{0,12}", 0..30),
            seed in any::<u64>(),
        ) {
            let hashes: Vec<String> = records.iter().map(|r| content_hash(r.as_bytes())).collect();
            let mut shuffled = hashes.clone();
            shuffled.extend(hashes.iter().take(seed as usize % (hashes.len() + 1)).cloned());
            let rotation = if shuffled.is_empty() { 0 } else { seed as usize % shuffled.len() };
            shuffled.rotate_left(rotation);
            shuffled.reverse();
            prop_assert_eq!(combine_record_hashes(hashes), combine_record_hashes(shuffled));
        }

        #[test]
        fn canonical_json_reads_back_to_the_same_value(
            keys in proptest::collection::vec("\\PC{0,8}", 0..6),
            texts in proptest::collection::vec("\\PC{0,16}|[\\x00-\\x1f\"\\\\]{0,4}", 0..6),
        ) {
            let object: serde_json::Map<String, Value> = keys
                .into_iter()
                .zip(texts)
                .map(|(key, text)| (key, Value::String(text)))
                .collect();
            let value = Value::Object(object);
            let canonical = canonical_json(&value);
            prop_assert_eq!(serde_json::from_str::<Value>(&canonical).unwrap(), value);
        }
    }
}
