//! `content_types`: classifies what a message contains (source code, JSON, SQL, HTML,
//! base64 blobs, URL lists, attachments by MIME type) and reports the classes the policy
//! denies. The code detector is shared with `code_leakage` and `detect_languages`.

use std::ops::Range;
use std::sync::LazyLock;

use regex::bytes::Regex;

use serde::{Deserialize, Serialize};

use crate::error::PolicyConfigError;
use crate::evidence::excerpt;
use crate::message::{MessageInput, Role};
use crate::params::invalid;
use crate::policy::{Detector, Policy};
use crate::scan::{Hit, ScanText, Severity};

/// Content classes recognised by `content_types`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContentType {
    Code,
    Json,
    Sql,
    Html,
    Base64Blob,
    UrlList,
    Attachment,
}

impl ContentType {
    pub fn as_str(self) -> &'static str {
        match self {
            ContentType::Code => "code",
            ContentType::Json => "json",
            ContentType::Sql => "sql",
            ContentType::Html => "html",
            ContentType::Base64Blob => "base64_blob",
            ContentType::UrlList => "url_list",
            ContentType::Attachment => "attachment",
        }
    }
}

/// `content_types` parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ContentTypesParams {
    /// Content classes that are not allowed.
    pub denied: Vec<ContentType>,
    /// MIME types (exact, or `type/*`) not allowed as attachments or `data:` URIs; only
    /// checked when `attachment` is denied.
    pub denied_mime_types: Vec<String>,
}

impl Default for ContentTypesParams {
    fn default() -> Self {
        Self {
            denied: vec![ContentType::Base64Blob, ContentType::Attachment],
            denied_mime_types: vec![
                "application/x-msdownload".into(),
                "application/x-dosexec".into(),
                "application/x-executable".into(),
                "application/x-sh".into(),
                "application/java-archive".into(),
                "application/vnd.microsoft.portable-executable".into(),
            ],
        }
    }
}

static SQL: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"(?-u)\b(?:SELECT\s[^;]{1,300}?\sFROM\s|INSERT\s+INTO\s|UPDATE\s+\S+\s+SET\s|DELETE\s+FROM\s|CREATE\s+(?:TABLE|INDEX|VIEW|DATABASE)\s|ALTER\s+TABLE\s|DROP\s+(?:TABLE|DATABASE)\s)|(?i)\bselect\s+[\w.*, ]{1,100}\s+from\s+\w+[\w. ]{0,60}\b(?:where|join|group\s+by|order\s+by|limit)\b").ok()
});

static HTML_TAG: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"(?i-u)<!doctype\s+html|<(?:html|head|body|div|span|p|a\s+href|script|iframe|table|tr|td|form|input|img\s+src|style|meta|link|ul|li|h[1-6]|button|svg)\b[^>]{0,200}>").ok()
});

static URL: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"(?i-u)\bhttps?://[^\s<>]+").ok());

static MIME_REF: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"(?i-u)\bdata:([a-z]+/[a-z0-9.+\-]+)[;,]|\bcontent-type:\s*([a-z]+/[a-z0-9.+\-]+)")
        .ok()
});

/// A base64 blob: a long unbroken run that mixes cases and digits.
pub(crate) fn base64_blobs(text: &str) -> Vec<Range<usize>> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let is_b64 = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_');
    while i < bytes.len() {
        if !is_b64(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && is_b64(bytes[i]) {
            i += 1;
        }
        let mut end = i;
        while end < bytes.len() && bytes[end] == b'=' && end - i < 2 {
            end += 1;
        }
        let run = &bytes[start..i];
        let long = run.len() >= 64 || run.len() >= 40 && end > i;
        if long
            && run.iter().any(u8::is_ascii_uppercase)
            && run.iter().any(u8::is_ascii_lowercase)
            && run.iter().any(u8::is_ascii_digit)
            && !text[..start].ends_with("://")
        {
            out.push(start..end);
        }
        i = end.max(i);
    }
    out
}

fn json_region(text: &str) -> Option<Range<usize>> {
    let trimmed = text.trim();
    let lead = text.len() - text.trim_start().len();
    let parses = |s: &str| {
        serde_json::from_str::<serde_json::Value>(s).is_ok_and(|v| {
            v.is_object() || v.is_array() && v.as_array().is_some_and(|a| !a.is_empty())
        })
    };
    if (trimmed.starts_with('{') || trimmed.starts_with('[')) && parses(trimmed) {
        return Some(lead..lead + trimmed.len());
    }
    // A JSON document after some prose: from the first line opening a brace to the last
    // line closing one.
    let open = text.match_indices('\n').map(|(i, _)| i + 1).find(|&i| {
        text[i..]
            .trim_start_matches([' ', '\t'])
            .starts_with(['{', '['])
    })?;
    let close = text.rfind(['}', ']'])? + 1;
    if close <= open {
        return None;
    }
    let candidate = text[open..close].trim();
    let lead = open + (text[open..close].len() - text[open..close].trim_start().len());
    (candidate.len() >= 2 && parses(candidate)).then(|| lead..lead + candidate.len())
}

fn mime_denied(denied: &[String], mime: &str) -> bool {
    let mime = mime.to_ascii_lowercase();
    denied.iter().any(|d| {
        let d = d.to_ascii_lowercase();
        match d.strip_suffix("/*") {
            Some(prefix) => mime.split('/').next() == Some(prefix),
            None => d == mime,
        }
    })
}

/// The compiled policy.
pub(crate) struct ContentTypes {
    params: ContentTypesParams,
}

impl ContentTypes {
    pub fn compile(params: &ContentTypesParams) -> ContentTypes {
        ContentTypes {
            params: params.clone(),
        }
    }

    fn denies(&self, kind: ContentType) -> bool {
        self.params.denied.contains(&kind)
    }
}

fn hit(kind: ContentType, span: Range<usize>, evidence: String, severity: Severity) -> Hit {
    Hit {
        rule: format!("content_type:{}", kind.as_str()),
        span,
        severity,
        evidence,
    }
}

impl Detector for ContentTypes {
    fn scan(&self, text: &ScanText<'_>, input: &MessageInput<'_>, out: &mut Vec<Hit>) {
        let t = text.text;
        let bytes = t.as_bytes();
        if self.denies(ContentType::Code) {
            if let Some(region) = text.code_regions(5).next() {
                let lang = region
                    .language
                    .clone()
                    .unwrap_or_else(|| "unlabelled".into());
                out.push(hit(
                    ContentType::Code,
                    region.span.clone(),
                    format!("{} lines of {lang} code", region.code_lines),
                    Severity::Low,
                ));
            }
        }
        if self.denies(ContentType::Json) {
            if let Some(span) = json_region(t) {
                out.push(hit(
                    ContentType::Json,
                    span.clone(),
                    excerpt(&t[span.start..span.end.min(span.start + 60)]),
                    Severity::Low,
                ));
            }
        }
        if self.denies(ContentType::Sql) {
            if let Some(m) = SQL.as_ref().and_then(|r| r.find(bytes)) {
                let span = crate::scan::snap_to_char_boundaries(t, m.range());
                out.push(hit(
                    ContentType::Sql,
                    span.clone(),
                    excerpt(&t[span]),
                    Severity::Low,
                ));
            }
        }
        if self.denies(ContentType::Html) {
            if let Some(re) = HTML_TAG.as_ref() {
                let tags: Vec<_> = re.find_iter(bytes).take(3).collect();
                let doctype = tags
                    .first()
                    .is_some_and(|m| m.as_bytes().len() > 2 && m.as_bytes()[1] == b'!');
                // Markup, not a mention of tag names: a closing tag or three tags.
                let closing = || t.contains("</");
                if tags.len() >= 2 && (tags.len() >= 3 || closing()) || doctype {
                    let span = tags[0].start()..tags[tags.len() - 1].end();
                    let span = crate::scan::snap_to_char_boundaries(t, span);
                    out.push(hit(
                        ContentType::Html,
                        span.clone(),
                        excerpt(&t[span]),
                        Severity::Low,
                    ));
                }
            }
        }
        if self.denies(ContentType::Base64Blob) {
            if let Some(span) = base64_blobs(t).into_iter().next() {
                out.push(hit(
                    ContentType::Base64Blob,
                    span.clone(),
                    format!("{} base64 characters", span.len()),
                    Severity::Medium,
                ));
            }
        }
        if self.denies(ContentType::UrlList) {
            if let Some(re) = URL.as_ref() {
                let urls: Vec<_> = re.find_iter(bytes).collect();
                let url_lines = t
                    .lines()
                    .filter(|l| {
                        let l = l.trim().trim_start_matches(['-', '*', ' ']);
                        l.starts_with("http://") || l.starts_with("https://")
                    })
                    .count();
                if url_lines >= 3 || urls.len() >= 5 {
                    let span = urls[0].start()..urls[urls.len() - 1].end();
                    out.push(hit(
                        ContentType::UrlList,
                        span,
                        format!("{} URLs", urls.len()),
                        Severity::Low,
                    ));
                }
            }
        }
        if self.denies(ContentType::Attachment) {
            for mime in input.attachment_mime_types {
                if mime_denied(&self.params.denied_mime_types, mime) {
                    out.push(hit(
                        ContentType::Attachment,
                        0..0,
                        format!("attachment of type {mime}"),
                        Severity::High,
                    ));
                }
            }
            if let Some(re) = MIME_REF.as_ref() {
                for caps in re.captures_iter(bytes) {
                    let Some(m) = caps.get(1).or_else(|| caps.get(2)) else {
                        continue;
                    };
                    let mime = String::from_utf8_lossy(m.as_bytes());
                    if mime_denied(&self.params.denied_mime_types, &mime) {
                        let span = caps.get(0).map_or(m.range(), |a| a.range());
                        out.push(hit(
                            ContentType::Attachment,
                            span,
                            format!("embedded content of type {mime}"),
                            Severity::High,
                        ));
                    }
                }
            }
        }
    }

    fn scans_decoded(&self) -> bool {
        false
    }
}

impl Policy for ContentTypes {
    const ID: &'static str = "content_types";
    const NAME: &'static str = "Content Types";
    const TAG: &'static str = "Content Type";
    const APPLIES_TO: &'static [Role] = &[Role::User];
    const DESCRIPTION: &'static str =
        "Content classified as code, JSON, SQL, HTML, base64 blobs, URL lists or attachments.";
    type Params = ContentTypesParams;

    fn validate(params: &ContentTypesParams, enabled: bool) -> Result<(), PolicyConfigError> {
        let id = Self::ID;
        if enabled && params.denied.is_empty() {
            return Err(invalid(
                id,
                "denied",
                "is empty; valid values: code, json, sql, html, base64_blob, url_list, attachment",
            ));
        }
        for (i, mime) in params.denied_mime_types.iter().enumerate() {
            let valid = mime
                .split_once('/')
                .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty() && !mime.contains(' '));
            if !valid {
                return Err(invalid(
                id,
                format!("denied_mime_types[{i}]"),
                format!("is `{mime}`; valid values: a MIME type such as `application/pdf` or `image/*`"),
            ));
            }
        }
        Ok(())
    }

    fn compile(params: &ContentTypesParams) -> Result<Box<dyn Detector>, PolicyConfigError> {
        Ok(Box::new(ContentTypes::compile(params)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(denied: &[ContentType], text: &str) -> Vec<String> {
        let policy = ContentTypes::compile(&ContentTypesParams {
            denied: denied.to_vec(),
            ..ContentTypesParams::default()
        });
        let mut out = Vec::new();
        policy.scan(
            &ScanText::new(text),
            &MessageInput::new(Role::User, text),
            &mut out,
        );
        out.into_iter().map(|h| h.rule).collect()
    }

    const ALL: &[ContentType] = &[
        ContentType::Code,
        ContentType::Json,
        ContentType::Sql,
        ContentType::Html,
        ContentType::Base64Blob,
        ContentType::UrlList,
        ContentType::Attachment,
    ];

    #[test]
    fn each_content_class_is_recognised() {
        assert_eq!(
            kinds(ALL, "look:\n```rust\nfn main() {}\n```"),
            vec!["content_type:code"]
        );
        assert_eq!(
            kinds(ALL, "{\"a\": 1, \"b\": [true]}"),
            vec!["content_type:json"]
        );
        assert_eq!(
            kinds(ALL, "SELECT id, name FROM users WHERE id = 4"),
            vec!["content_type:sql"]
        );
        assert_eq!(
            kinds(ALL, "<div class=\"x\"><p>hi</p></div>"),
            vec!["content_type:html"]
        );
        assert_eq!(
            kinds(ALL, "https://a.io/1\nhttps://b.io/2\nhttps://c.io/3"),
            vec!["content_type:url_list"]
        );
        assert_eq!(
            kinds(ALL, "download data:application/x-msdownload;base64,TVqQ"),
            vec!["content_type:attachment"]
        );
    }

    #[test]
    fn prose_is_none_of_the_classes() {
        assert!(kinds(ALL, "Select the best option from the list and explain why. I think the (second) one is good.").is_empty());
        assert!(kinds(
            ALL,
            "Use an if statement; then return the value = 3 when done."
        )
        .is_empty());
    }
}
