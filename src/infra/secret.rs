//! Secrets: the one redacting [`Secret`] type (owned by the Compliance API client crate,
//! whose API key is one) and the redaction of passwords in connection URLs.

pub use logwarden_compliance::Secret;

/// Replaces the password of a connection URL with `***`, for log lines that name a database.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
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
}
