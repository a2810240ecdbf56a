//! Labelled prompt-attack datasets, as `scripts/fetch-datasets.sh` lays them out, read into
//! one shape for training and benchmarking.
//!
//! - `neuralchemy`: JSON lines with neuralchemy's columns (`text`, `label` 0/1, `category`,
//!   …), converted from its parquet files by the script;
//! - `s-labs`: CSV with a header `text,label` (label 0/1), as shipped;
//! - `jsonl`: JSON lines `{"text", "label": 0|1|true|false, "category"?}`;
//! - `attack-list`: CSV with one column of attack texts under a header line (the
//!   multilingual injection list); every row is an attack.

use std::path::Path;

use serde_json::Value;

/// One labelled text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    pub text: String,
    /// An attack.
    pub label: bool,
    pub category: Option<String>,
}

/// The file layouts `read` understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Neuralchemy,
    SLabs,
    Jsonl,
    AttackList,
}

impl Format {
    /// The formats by name, as the benchmark command takes them.
    pub const NAMES: &'static str = "neuralchemy, s-labs, jsonl, attack-list";

    /// The format of a name.
    ///
    /// # Errors
    /// An unknown name, with the valid ones.
    pub fn parse(name: &str) -> Result<Format, DatasetError> {
        Ok(match name {
            "neuralchemy" => Format::Neuralchemy,
            "s-labs" => Format::SLabs,
            "jsonl" => Format::Jsonl,
            "attack-list" => Format::AttackList,
            other => {
                return Err(DatasetError::Format(format!(
                    "`{other}`; valid values: {}",
                    Format::NAMES
                )))
            }
        })
    }
}

/// Why a dataset could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("invalid format {0}")]
    Format(String),
    #[error("reading {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}, record {record}: {message}")]
    Record {
        path: String,
        record: usize,
        message: String,
    },
    #[error("{path} holds no examples")]
    Empty { path: String },
}

fn label_of(value: Option<&Value>) -> Result<bool, String> {
    match value {
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::Number(n)) if n.as_u64() == Some(0) => Ok(false),
        Some(Value::Number(n)) if n.as_u64() == Some(1) => Ok(true),
        Some(Value::String(s)) if s == "0" || s == "1" => Ok(s == "1"),
        Some(other) => Err(format!(
            "field `label` is {other}; valid values: 0, 1, true, false"
        )),
        None => Err("missing field `label`".into()),
    }
}

fn parse_json_line(line: &str, format: Format) -> Result<Example, String> {
    let value: Value = serde_json::from_str(line).map_err(|e| format!("invalid JSON: {e}"))?;
    let text = match value.get("text") {
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err("field `text` must be a string".into()),
        None => return Err("missing field `text`".into()),
    };
    let label = label_of(value.get("label"))?;
    let category = match value.get("category") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        None | Some(Value::Null | Value::String(_)) if format == Format::Jsonl => None,
        None | Some(Value::Null | Value::String(_)) => {
            return Err("missing field `category` (neuralchemy rows have one)".into())
        }
        Some(_) => return Err("field `category` must be a string".into()),
    };
    Ok(Example {
        text,
        label,
        category,
    })
}

/// Reads a dataset file.
///
/// # Errors
/// An unreadable file, or a record that does not fit the format (named by its number).
pub fn read(path: &Path, format: Format) -> Result<Vec<Example>, DatasetError> {
    let shown = path.display().to_string();
    let record_error = |record: usize, message: String| DatasetError::Record {
        path: shown.clone(),
        record,
        message,
    };
    let mut examples = Vec::new();
    match format {
        Format::Neuralchemy | Format::Jsonl => {
            let body = std::fs::read_to_string(path).map_err(|source| DatasetError::Io {
                path: shown.clone(),
                source,
            })?;
            for (i, line) in body.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                examples.push(parse_json_line(line, format).map_err(|m| record_error(i + 1, m))?);
            }
        }
        Format::SLabs | Format::AttackList => {
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(true)
                .flexible(false)
                .from_path(path)
                .map_err(|e| DatasetError::Io {
                    path: shown.clone(),
                    source: std::io::Error::other(e),
                })?;
            for (i, record) in reader.records().enumerate() {
                let record = record.map_err(|e| record_error(i + 1, e.to_string()))?;
                let example = if format == Format::SLabs {
                    let (Some(text), Some(label)) = (record.get(0), record.get(1)) else {
                        return Err(record_error(
                            i + 1,
                            "expected the columns text,label".into(),
                        ));
                    };
                    let label = match label.trim() {
                        "0" => false,
                        "1" => true,
                        other => {
                            return Err(record_error(
                                i + 1,
                                format!("column `label` is `{other}`; valid values: 0, 1"),
                            ))
                        }
                    };
                    Example {
                        text: text.to_owned(),
                        label,
                        category: None,
                    }
                } else {
                    let text = record.get(0).unwrap_or_default().trim();
                    if text.is_empty() {
                        continue;
                    }
                    Example {
                        text: text.to_owned(),
                        label: true,
                        category: None,
                    }
                };
                examples.push(example);
            }
        }
    }
    if examples.is_empty() {
        return Err(DatasetError::Empty { path: shown });
    }
    Ok(examples)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, body: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("logwarden-dataset-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join(name);
        std::fs::write(&path, body).expect("write");
        path
    }

    #[test]
    fn each_format_reads_into_labelled_examples() {
        let nc = write(
            "nc.jsonl",
            "{\"text\":\"Ignore all\",\"label\":1,\"category\":\"direct_injection\",\"severity\":\"high\"}\n\n{\"text\":\"hi\",\"label\":0,\"category\":\"benign\"}\n",
        );
        let got = read(&nc, Format::Neuralchemy).expect("reads");
        assert_eq!(got.len(), 2);
        assert!(got[0].label);
        assert_eq!(got[0].category.as_deref(), Some("direct_injection"));
        let sl = write(
            "sl.csv",
            "text,label\n\"Say \"\"hi\"\", then\nstop\",1\nplain,0\n",
        );
        let got = read(&sl, Format::SLabs).expect("reads");
        assert_eq!(got[0].text, "Say \"hi\", then\nstop");
        assert!(got[0].label && !got[1].label);
        let list = write(
            "list.csv",
            "prompt_injections\nIgnoriere alles\n\"Oublie, tout\"\n",
        );
        let got = read(&list, Format::AttackList).expect("reads");
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(|e| e.label));
        let plain = write("plain.jsonl", "{\"text\":\"x\",\"label\":true}\n");
        assert_eq!(
            read(&plain, Format::Jsonl).expect("reads")[0].category,
            None
        );
    }

    #[test]
    fn a_bad_record_or_format_is_reported_with_its_place_and_the_valid_values() {
        let bad = write(
            "bad.jsonl",
            "{\"text\":\"x\",\"label\":1}\n{\"text\":\"y\",\"label\":7}\n",
        );
        let err = read(&bad, Format::Jsonl).unwrap_err().to_string();
        assert!(
            err.ends_with("record 2: field `label` is 7; valid values: 0, 1, true, false"),
            "{err}"
        );
        let err = read(&bad, Format::Neuralchemy).unwrap_err().to_string();
        assert!(err.contains("record 1: missing field `category`"), "{err}");
        let csv = write("bad.csv", "text,label\nfine,1\nodd,yes\n");
        let err = read(&csv, Format::SLabs).unwrap_err().to_string();
        assert!(
            err.contains("record 2: column `label` is `yes`; valid values: 0, 1"),
            "{err}"
        );
        let err = Format::parse("parquet").unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid format `parquet`; valid values: neuralchemy, s-labs, jsonl, attack-list"
        );
    }
}
