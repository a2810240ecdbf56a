//! Secrets: the one redacting [`Secret`] type (owned by the Compliance API client crate,
//! whose API key is one) and the redaction of passwords in connection URLs.

pub use logwarden_compliance::Secret;

/// Replaces the password of a connection URL with `***`, for log lines that name a database.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if !parsed.cannot_be_a_base() => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            let secret_query = parsed.query_pairs().any(|(key, _)| is_secret_key(&key));
            if secret_query {
                let pairs: Vec<(String, String)> = parsed
                    .query_pairs()
                    .map(|(key, value)| {
                        let value = if is_secret_key(&key) {
                            "***".to_owned()
                        } else {
                            value.into_owned()
                        };
                        (key.into_owned(), value)
                    })
                    .collect();
                parsed.query_pairs_mut().clear().extend_pairs(pairs);
            }
            parsed.to_string()
        }
        // Not a URL with a host: whatever sits before the last `@` (after a scheme's `//`)
        // may hold a password, and so may the query; neither is echoed.
        _ => {
            let (head, query) = url.split_once('?').unwrap_or((url, ""));
            let head = match (head.find("://"), head.rfind('@')) {
                (Some(scheme), Some(at)) if scheme < at => {
                    format!("{}://***@{}", &head[..scheme], &head[at + 1..])
                }
                (_, Some(at)) => format!("***@{}", &head[at + 1..]),
                _ => head.to_owned(),
            };
            if query.is_empty() {
                return head;
            }
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if is_secret_key(key) => format!("{key}=***"),
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{head}?{}", query.join("&"))
        }
    }
}

/// Query keys whose values are secrets (`?password=…`, `sslpassword`, `token`, …).
fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["password", "passwd", "pwd", "secret", "token", "key"]
        .iter()
        .any(|word| key.contains(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_password_is_redacted_from_its_url() {
        let redacted = redact_url("postgres://app:hunter2@db:5432/logwarden");
        assert!(!redacted.contains("hunter2"));
        assert!(redacted.contains("app:***@db"));
    }

    #[test]
    fn a_password_in_the_query_string_is_redacted() {
        let redacted =
            redact_url("postgres://db/logwarden?user=app&password=hunter2&sslmode=require");
        assert!(!redacted.contains("hunter2"), "{redacted}");
        assert!(redacted.contains("password=***"), "{redacted}");
        assert!(redacted.contains("sslmode=require"), "{redacted}");
    }

    #[test]
    fn a_url_that_does_not_parse_keeps_no_password() {
        for url in [
            "postgres://app:hun ter2@db:99999/x",
            "app:hunter2@db",
            "postgres://db:99999/x?password=hunter2",
        ] {
            let redacted = redact_url(url);
            assert!(!redacted.contains("hunter2"), "{redacted}");
            assert!(redacted.contains("db"), "{redacted}");
        }
    }
}
