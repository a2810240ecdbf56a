//! `pii`: personal data with checksums where one exists. Recognisers and context words
//! follow Microsoft Presidio's (email, phone, credit card with Luhn, IBAN with mod-97, US SSN,
//! UK NINO, ES DNI/NIE, IT fiscal code, FR NIR, NL BSN, PL PESEL, IN Aadhaar with Verhoeff,
//! passport numbers and ICAO MRZ check digits, IP addresses, street addresses). Each
//! candidate has a base confidence; context words nearby raise it; it is reported from the
//! configured threshold.

use std::collections::BTreeSet;
use std::ops::Range;

use regex::bytes::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};

use serde::{Deserialize, Serialize};

use crate::error::PolicyConfigError;
use crate::evidence::{mask_email, mask_identifier};
use crate::message::{MessageInput, Role};
use crate::params::{check_unit_interval, invalid};
use crate::policy::{Detector, Policy};
use crate::scan::{Hit, ScanText, Severity};

/// PII entity kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PiiEntity {
    Email,
    Phone,
    CreditCard,
    Iban,
    Ssn,
    Passport,
    NationalId,
    IpAddress,
    StreetAddress,
}

impl PiiEntity {
    pub const ALL: [PiiEntity; 9] = [
        PiiEntity::Email,
        PiiEntity::Phone,
        PiiEntity::CreditCard,
        PiiEntity::Iban,
        PiiEntity::Ssn,
        PiiEntity::Passport,
        PiiEntity::NationalId,
        PiiEntity::IpAddress,
        PiiEntity::StreetAddress,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PiiEntity::Email => "email",
            PiiEntity::Phone => "phone",
            PiiEntity::CreditCard => "credit_card",
            PiiEntity::Iban => "iban",
            PiiEntity::Ssn => "ssn",
            PiiEntity::Passport => "passport",
            PiiEntity::NationalId => "national_id",
            PiiEntity::IpAddress => "ip_address",
            PiiEntity::StreetAddress => "street_address",
        }
    }
}

/// `pii` parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PiiParams {
    pub entities: Vec<PiiEntity>,
    /// Confidence (0..=1) from which a candidate is reported; context words raise it.
    pub threshold: f64,
    /// Exact values never reported (a public support address, say).
    pub allow: Vec<String>,
}

impl Default for PiiParams {
    fn default() -> Self {
        Self {
            entities: PiiEntity::ALL.to_vec(),
            threshold: 0.5,
            allow: Vec::new(),
        }
    }
}

#[derive(Clone, Copy)]
enum Check {
    Email,
    Phone,
    Card,
    Iban,
    Ssn,
    Passport,
    Mrz,
    Nino,
    EsDni,
    EsNie,
    ItFiscal,
    FrNir,
    NlBsn,
    PlPesel,
    InAadhaar,
    Ipv4,
    Ipv6,
    Street,
    CityStateZip,
    UkPostcode,
}

struct Spec {
    entity: PiiEntity,
    name: &'static str,
    pattern: &'static str,
    check: Check,
    context: &'static [&'static str],
}

const PHONE_CONTEXT: &[&str] = &[
    "phone", "call", "tel", "mobile", "cell", "contact", "whatsapp", "fax", "number", "sms",
    "text me",
];
const CARD_CONTEXT: &[&str] = &[
    "card",
    "visa",
    "mastercard",
    "amex",
    "american express",
    "credit",
    "debit",
    "cvv",
    "expiry",
    "payment",
];
const SSN_CONTEXT: &[&str] = &[
    "ssn",
    "social security",
    "social-security",
    "ss#",
    "tax id",
    "taxpayer",
];
const PASSPORT_CONTEXT: &[&str] = &["passport"];
const ADDRESS_CONTEXT: &[&str] = &[
    "address",
    "lives at",
    "live at",
    "postcode",
    "post code",
    "zip",
    "street",
    "road",
    "deliver",
    "ship to",
];
const IP_CONTEXT: &[&str] = &[
    "ip",
    "address",
    "host",
    "server",
    "client",
    "login from",
    "connected from",
];

const SPECS: &[Spec] = &[
    Spec {
        entity: PiiEntity::Email,
        name: "email",
        check: Check::Email,
        context: &["email", "e-mail", "mail", "contact"],
        pattern: r"\b[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9\-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]{0,62}[A-Za-z0-9])?)*\.[A-Za-z]{2,24}\b",
    },
    Spec {
        entity: PiiEntity::Phone,
        name: "phone_international",
        check: Check::Phone,
        context: PHONE_CONTEXT,
        pattern: r"(?:^|[^\w+])(\+\d{1,3}[ .\-]?(?:\(\d{1,4}\)[ .\-]?)?\d{1,4}(?:[ .\-]?\d{2,4}){1,4})\b",
    },
    Spec {
        entity: PiiEntity::Phone,
        name: "phone_nanp",
        check: Check::Phone,
        context: PHONE_CONTEXT,
        pattern: r"(?:^|[^\w\-+.])((?:\(\d{3}\)\s?|\d{3}[ .\-])\d{3}[ .\-]\d{4})\b",
    },
    Spec {
        entity: PiiEntity::CreditCard,
        name: "credit_card",
        check: Check::Card,
        context: CARD_CONTEXT,
        pattern: r"\b(?:\d[ \-]?){12,18}\d\b",
    },
    Spec {
        entity: PiiEntity::Iban,
        name: "iban",
        check: Check::Iban,
        context: &["iban", "bank", "account"],
        pattern: r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b",
    },
    Spec {
        entity: PiiEntity::Ssn,
        name: "us_ssn",
        check: Check::Ssn,
        context: SSN_CONTEXT,
        pattern: r"\b\d{3}([\- ])\d{2}([\- ])\d{4}\b",
    },
    Spec {
        entity: PiiEntity::Passport,
        name: "passport_number",
        check: Check::Passport,
        context: PASSPORT_CONTEXT,
        pattern: r"\b[A-Z]{0,2}\d{7,9}\b",
    },
    Spec {
        entity: PiiEntity::Passport,
        name: "passport_mrz",
        check: Check::Mrz,
        context: PASSPORT_CONTEXT,
        pattern: r"\b[A-Z0-9<]{9}\d[A-Z<]{3}\d{6}\d[MF<]\d{6}\d[A-Z0-9<]{14}[0-9<]\d",
    },
    Spec {
        entity: PiiEntity::NationalId,
        name: "uk_nino",
        check: Check::Nino,
        context: &["national insurance", "nino", "ni number"],
        pattern: r"\b[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b",
    },
    Spec {
        entity: PiiEntity::NationalId,
        name: "es_dni",
        check: Check::EsDni,
        context: &["dni", "nif", "documento"],
        pattern: r"\b\d{8}-?[A-Z]\b",
    },
    Spec {
        entity: PiiEntity::NationalId,
        name: "es_nie",
        check: Check::EsNie,
        context: &["nie", "extranjero"],
        pattern: r"\b[XYZ]-?\d{7}-?[A-Z]\b",
    },
    Spec {
        entity: PiiEntity::NationalId,
        name: "it_fiscal_code",
        check: Check::ItFiscal,
        context: &["codice fiscale", "fiscal code"],
        pattern: r"\b[A-Z]{6}\d{2}[A-EHLMPR-T]\d{2}[A-Z]\d{3}[A-Z]\b",
    },
    Spec {
        entity: PiiEntity::NationalId,
        name: "fr_nir",
        check: Check::FrNir,
        context: &["sécurité sociale", "securite sociale", "nir", "insee"],
        pattern: r"\b[12] ?\d{2} ?(?:0[1-9]|1[0-2]|[2-9]\d) ?(?:\d{2}|2[AB]) ?\d{3} ?\d{3} ?\d{2}\b",
    },
    Spec {
        entity: PiiEntity::NationalId,
        name: "nl_bsn",
        check: Check::NlBsn,
        context: &["bsn", "burgerservicenummer", "sofinummer"],
        pattern: r"\b\d{9}\b",
    },
    Spec {
        entity: PiiEntity::NationalId,
        name: "pl_pesel",
        check: Check::PlPesel,
        context: &["pesel"],
        pattern: r"\b\d{11}\b",
    },
    Spec {
        entity: PiiEntity::NationalId,
        name: "in_aadhaar",
        check: Check::InAadhaar,
        context: &["aadhaar", "aadhar", "uidai"],
        pattern: r"\b[2-9]\d{3} ?\d{4} ?\d{4}\b",
    },
    Spec {
        entity: PiiEntity::IpAddress,
        name: "ipv4",
        check: Check::Ipv4,
        context: IP_CONTEXT,
        pattern: r"\b(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}\b",
    },
    Spec {
        entity: PiiEntity::IpAddress,
        name: "ipv6",
        check: Check::Ipv6,
        context: IP_CONTEXT,
        pattern: r"(?:^|[^\w:])((?:[0-9a-fA-F]{1,4}:){2,7}[0-9a-fA-F]{1,4}|(?:[0-9a-fA-F]{1,4}:){1,6}:(?:[0-9a-fA-F]{1,4})?|::(?:[0-9a-fA-F]{1,4}:){0,5}[0-9a-fA-F]{1,4})(?:$|[^\w:])",
    },
    Spec {
        entity: PiiEntity::StreetAddress,
        name: "street_address",
        check: Check::Street,
        context: ADDRESS_CONTEXT,
        pattern: r"\b\d{1,5} (?:[A-Z][a-z]+ ){1,3}(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Parkway|Pkwy|Circle|Highway|Hwy)\b",
    },
    Spec {
        entity: PiiEntity::StreetAddress,
        name: "us_city_state_zip",
        check: Check::CityStateZip,
        context: ADDRESS_CONTEXT,
        pattern: r"\b[A-Z][a-z]+(?: [A-Z][a-z]+)?,? (?:A[LKZR]|C[AOT]|D[EC]|FL|GA|HI|I[DLNA]|K[SY]|LA|M[EDAINSOT]|N[EVHJMYCD]|O[HKR]|PA|RI|S[CD]|T[NX]|UT|V[TA]|W[AVIY]) \d{5}(?:-\d{4})?\b",
    },
    Spec {
        entity: PiiEntity::StreetAddress,
        name: "uk_postcode",
        check: Check::UkPostcode,
        context: ADDRESS_CONTEXT,
        pattern: r"\b[A-Z]{1,2}\d[A-Z\d]? \d[A-Z]{2}\b",
    },
];

/// A PII candidate that passed validation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PiiMatch {
    pub entity: PiiEntity,
    pub recognizer: &'static str,
    pub span: Range<usize>,
    pub score: f64,
}

/// The compiled policy.
pub(crate) struct Pii {
    regexes: Vec<Regex>,
    /// Every recogniser's pattern in one set: one pass over a text says which recognisers
    /// match at all, so only those run their own (capturing) search.
    any: RegexSet,
    enabled: Vec<bool>,
    threshold: f64,
    allow: BTreeSet<String>,
}

impl Pii {
    pub fn compile(params: &PiiParams) -> Result<Pii, PolicyConfigError> {
        let patterns: Vec<String> = SPECS
            .iter()
            .map(|s| format!("(?-u){}", s.pattern))
            .collect();
        let err = |e: regex::Error| PolicyConfigError::InvalidRegex {
            policy: Pii::ID,
            param: "built-in recognisers".into(),
            message: e.to_string(),
        };
        let regexes = patterns
            .iter()
            .map(|p| {
                RegexBuilder::new(p)
                    .size_limit(64 << 20)
                    .build()
                    .map_err(err)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let any = RegexSetBuilder::new(&patterns)
            .size_limit(64 << 20)
            .dfa_size_limit(16 << 20)
            .build()
            .map_err(err)?;
        Ok(Pii {
            regexes,
            any,
            enabled: SPECS
                .iter()
                .map(|s| params.entities.contains(&s.entity))
                .collect(),
            threshold: params.threshold,
            allow: params.allow.iter().map(|s| s.trim().to_owned()).collect(),
        })
    }

    /// Every PII candidate at or above the threshold, overlapping ones resolved by score.
    pub fn find(&self, text: &str) -> Vec<PiiMatch> {
        let bytes = text.as_bytes();
        // Cheap exit: every recogniser needs a digit or an `@`.
        if !bytes.iter().any(|b| b.is_ascii_digit() || *b == b'@') {
            return Vec::new();
        }
        let shape = TextShape::of(bytes);
        let mut lower: Option<String> = None;
        let mut candidates: Vec<PiiMatch> = Vec::new();
        let matching = self.any.matches(bytes);
        for (idx, spec) in SPECS.iter().enumerate() {
            if !self.enabled[idx] || !shape.allows(spec.check) || !matching.matched(idx) {
                continue;
            }
            for caps in self.regexes[idx].captures_iter(bytes) {
                let Some(m) = caps
                    .get(1)
                    .filter(|_| !matches!(spec.check, Check::Ssn))
                    .or_else(|| caps.get(0))
                else {
                    continue;
                };
                let value = &text[m.start()..m.end()];
                if self.allow.contains(value) {
                    continue;
                }
                let Some((base, span)) = validate(spec.check, value, m.range(), text) else {
                    continue;
                };
                let lower = lower.get_or_insert_with(|| text.to_ascii_lowercase());
                let mut score = base;
                if has_context(lower, &span, spec.context) {
                    score += context_boost(spec.check);
                }
                if score + 1e-9 >= self.threshold {
                    candidates.push(PiiMatch {
                        entity: spec.entity,
                        recognizer: spec.name,
                        span,
                        score: score.min(1.0),
                    });
                }
            }
        }
        candidates.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then((b.span.end - b.span.start).cmp(&(a.span.end - a.span.start)))
                .then(a.span.start.cmp(&b.span.start))
        });
        let mut kept: Vec<PiiMatch> = Vec::new();
        for c in candidates {
            if !kept
                .iter()
                .any(|k| k.span.start < c.span.end && c.span.start < k.span.end)
            {
                kept.push(c);
            }
        }
        kept.sort_by_key(|k| k.span.start);
        kept
    }
}

/// What a text could hold, from one pass over its bytes, so that recognisers whose shape
/// cannot occur are skipped.
struct TextShape {
    at: bool,
    plus_digit: bool,
    /// Longest run of digits where single separators (space, `-`, `.`, `/`, brackets) may
    /// sit between digits.
    digit_run: usize,
    /// Digits on both sides of a dot, counted.
    dotted_digits: usize,
    /// Hex digits on both sides of a colon, or a `::`, counted.
    hex_colons: usize,
}

impl TextShape {
    fn of(bytes: &[u8]) -> TextShape {
        let mut shape = TextShape {
            at: false,
            plus_digit: false,
            digit_run: 0,
            dotted_digits: 0,
            hex_colons: 0,
        };
        let mut run = 0usize;
        let mut gap = false;
        for (i, &b) in bytes.iter().enumerate() {
            let next = bytes.get(i + 1).copied().unwrap_or(0);
            match b {
                b'0'..=b'9' => {
                    run += 1;
                    gap = false;
                    shape.digit_run = shape.digit_run.max(run);
                }
                b' ' | b'-' | b'.' | b'/' | b'(' | b')' if !gap && run > 0 => gap = true,
                _ => {
                    run = 0;
                    gap = false;
                }
            }
            match b {
                b'@' => shape.at = true,
                b'+' if next.is_ascii_digit() => shape.plus_digit = true,
                b'.' if i > 0 && bytes[i - 1].is_ascii_digit() && next.is_ascii_digit() => {
                    shape.dotted_digits += 1
                }
                b':' if next == b':'
                    || i > 0 && bytes[i - 1].is_ascii_hexdigit() && next.is_ascii_hexdigit() =>
                {
                    shape.hex_colons += 1
                }
                _ => {}
            }
        }
        shape
    }

    fn allows(&self, check: Check) -> bool {
        match check {
            Check::Email => self.at,
            Check::Phone => self.digit_run >= 7,
            Check::Ipv4 => self.dotted_digits >= 3,
            Check::Ipv6 => self.hex_colons >= 2,
            Check::ItFiscal | Check::Street | Check::CityStateZip | Check::UkPostcode => true,
            Check::Nino => self.digit_run >= 6,
            _ => self.digit_run >= 7,
        }
    }
}

/// Masked evidence for a PII value.
pub(crate) fn mask(entity: PiiEntity, value: &str) -> String {
    match entity {
        PiiEntity::Email => mask_email(value),
        PiiEntity::IpAddress => {
            let first = value.split(['.', ':']).next().unwrap_or("");
            format!("{first}.*.*.*")
        }
        PiiEntity::StreetAddress => {
            let first = value.split_whitespace().next().unwrap_or("");
            format!("{} ***", mask_identifier(first))
        }
        _ => mask_identifier(value),
    }
}

pub(crate) fn severity(entity: PiiEntity) -> Severity {
    match entity {
        PiiEntity::CreditCard
        | PiiEntity::Iban
        | PiiEntity::Ssn
        | PiiEntity::NationalId
        | PiiEntity::Passport => Severity::High,
        PiiEntity::Email | PiiEntity::Phone | PiiEntity::StreetAddress => Severity::Medium,
        PiiEntity::IpAddress => Severity::Low,
    }
}

impl Detector for Pii {
    fn scan(&self, text: &ScanText<'_>, _input: &MessageInput<'_>, out: &mut Vec<Hit>) {
        for m in self.find(text.text) {
            out.push(Hit {
                rule: format!("{}:{}", m.entity.as_str(), m.recognizer),
                evidence: format!(
                    "{} (confidence {:.2})",
                    mask(m.entity, &text.text[m.span.clone()]),
                    m.score
                ),
                span: m.span,
                severity: severity(m.entity),
            });
        }
    }
}

fn context_boost(check: Check) -> f64 {
    match check {
        Check::Passport | Check::NlBsn | Check::PlPesel | Check::InAadhaar => 0.5,
        Check::Ssn => 0.4,
        _ => 0.3,
    }
}

fn has_context(lower: &str, span: &Range<usize>, words: &[&str]) -> bool {
    let mut start = span.start.saturating_sub(60);
    while !lower.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (span.end + 30).min(lower.len());
    while !lower.is_char_boundary(end) {
        end += 1;
    }
    let window = &lower[start..end];
    words.iter().any(|w| {
        window.match_indices(w).any(|(i, _)| {
            let b = window.as_bytes();
            let before_ok = i == 0 || !b[i - 1].is_ascii_alphabetic();
            let after = i + w.len();
            let after_ok = after >= b.len() || !b[after].is_ascii_alphabetic();
            before_ok && after_ok
        })
    })
}

fn digits(value: &str) -> Vec<u32> {
    value.chars().filter_map(|c| c.to_digit(10)).collect()
}

fn validate(
    check: Check,
    value: &str,
    span: Range<usize>,
    text: &str,
) -> Option<(f64, Range<usize>)> {
    let score = match check {
        Check::Email => {
            let domain = value.rsplit('@').next()?.to_ascii_lowercase();
            let reserved = ["example.com", "example.org", "example.net"].contains(&domain.as_str())
                || [".example", ".test", ".invalid", ".localhost", ".local"]
                    .iter()
                    .any(|s| domain.ends_with(s));
            if reserved {
                return None;
            }
            0.85
        }
        Check::Phone => {
            let d = digits(value);
            if !(8..=15).contains(&d.len()) {
                return None;
            }
            // A version, a decimal or part of a longer number is not a phone.
            let after = &text[span.end..];
            if after.starts_with(['.', '-']) && after[1..].starts_with(|c: char| c.is_ascii_digit())
            {
                return None;
            }
            if d.iter().all(|x| *x == d[0]) {
                return None;
            }
            if value.starts_with('+') {
                0.55
            } else {
                0.4
            }
        }
        Check::Card => {
            let d = digits(value);
            if !(13..=19).contains(&d.len()) || !luhn(&d) || !card_prefix(&d) {
                return None;
            }
            if d.iter().all(|x| *x == d[0]) {
                return None;
            }
            0.8
        }
        Check::Iban => return iban(value, span),
        Check::Ssn => {
            let d = digits(value);
            let area = d[0] * 100 + d[1] * 10 + d[2];
            let group = d[3] * 10 + d[4];
            let serial = d[5] * 1000 + d[6] * 100 + d[7] * 10 + d[8];
            // Mixed separators (`123-45 6789`) are not an SSN.
            let seps: Vec<char> = value.chars().filter(|c| !c.is_ascii_digit()).collect();
            if area == 0
                || area == 666
                || area >= 900
                || group == 0
                || serial == 0
                || seps.windows(2).any(|w| w[0] != w[1])
            {
                return None;
            }
            if value == "123-45-6789" || value == "078-05-1120" {
                return None;
            }
            0.5
        }
        Check::Passport => 0.05,
        Check::Mrz => {
            let b = value.as_bytes();
            if mrz_check(&b[0..9]) != b[9]
                || mrz_check(&b[13..19]) != b[19]
                || mrz_check(&b[21..27]) != b[27]
            {
                return None;
            }
            0.95
        }
        Check::Nino => {
            let prefix: String = value.chars().take(2).collect();
            if ["BG", "GB", "NK", "KN", "TN", "NT", "ZZ"].contains(&prefix.as_str()) {
                return None;
            }
            0.55
        }
        Check::EsDni => {
            let n: u64 = value
                .chars()
                .filter(|c| c.is_ascii_digit())
                .collect::<String>()
                .parse()
                .ok()?;
            dni_letter(n, value)?;
            0.8
        }
        Check::EsNie => {
            let mut s: String = value
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .collect();
            let first = match s.remove(0) {
                'X' => '0',
                'Y' => '1',
                _ => '2',
            };
            let n: u64 = format!("{first}{}", &s[..7]).parse().ok()?;
            dni_letter(n, value)?;
            0.8
        }
        Check::ItFiscal => {
            if !it_fiscal_valid(value.as_bytes()) {
                return None;
            }
            0.85
        }
        Check::FrNir => {
            let compact: String = value.chars().filter(|c| !c.is_whitespace()).collect();
            let (body, key) = compact.split_at(13);
            let body = body.replace("2A", "19").replace("2B", "18");
            let n: u64 = body.parse().ok()?;
            let key: u64 = key.parse().ok()?;
            if 97 - n % 97 != key {
                return None;
            }
            0.8
        }
        Check::NlBsn => {
            let d = digits(value);
            let sum: i64 = (0..8)
                .map(|i| (9 - i as i64) * i64::from(d[i]))
                .sum::<i64>()
                - i64::from(d[8]);
            if sum == 0 || sum % 11 != 0 {
                return None;
            }
            0.2
        }
        Check::PlPesel => {
            let d = digits(value);
            const W: [u32; 10] = [1, 3, 7, 9, 1, 3, 7, 9, 1, 3];
            let sum: u32 = (0..10).map(|i| W[i] * d[i]).sum();
            if (10 - sum % 10) % 10 != d[10] {
                return None;
            }
            0.2
        }
        Check::InAadhaar => {
            if !verhoeff(&digits(value)) {
                return None;
            }
            0.3
        }
        Check::Ipv4 => {
            let before = &text[..span.start];
            let after = &text[span.end..];
            if after.starts_with('.') && after[1..].starts_with(|c: char| c.is_ascii_digit()) {
                return None;
            }
            if before.ends_with('.')
                || before.ends_with('v')
                || before.to_ascii_lowercase().trim_end().ends_with("version")
            {
                return None;
            }
            let octets: Vec<u8> = value.split('.').filter_map(|o| o.parse().ok()).collect();
            if octets.len() != 4 {
                return None;
            }
            let ip = std::net::Ipv4Addr::new(octets[0], octets[1], octets[2], octets[3]);
            if ip.is_unspecified() || ip.is_broadcast() || ip.is_documentation() {
                return None;
            }
            if ip.is_loopback() || ip.is_link_local() {
                return None;
            }
            if ip.is_private() {
                0.3
            } else {
                0.6
            }
        }
        Check::Ipv6 => {
            let ip: std::net::Ipv6Addr = value.parse().ok()?;
            if ip.is_loopback() || ip.is_unspecified() {
                return None;
            }
            // `a:b:c` style identifiers parse too; require a real-looking address.
            if value.matches(':').count() < 3 && !value.contains("::") {
                return None;
            }
            0.6
        }
        Check::Street => 0.65,
        Check::CityStateZip => 0.55,
        Check::UkPostcode => 0.3,
    };
    Some((score, span))
}

fn luhn(d: &[u32]) -> bool {
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &x)| {
            if i % 2 == 1 {
                let y = x * 2;
                if y > 9 {
                    y - 9
                } else {
                    y
                }
            } else {
                x
            }
        })
        .sum();
    sum % 10 == 0
}

fn card_prefix(d: &[u32]) -> bool {
    let n = |k: usize| d.iter().take(k).fold(0u32, |acc, x| acc * 10 + x);
    let len = d.len();
    match d[0] {
        4 => matches!(len, 13 | 16 | 19),
        5 => {
            (51..=55).contains(&n(2)) && len == 16
                || (50..=59).contains(&n(2)) && (12..=19).contains(&len)
        }
        2 => (2221..=2720).contains(&n(4)) && len == 16,
        3 => {
            matches!(n(2), 34 | 37) && len == 15
                || n(2) == 35 && len >= 16
                || matches!(n(2), 30 | 36 | 38 | 39) && (14..=19).contains(&len)
        }
        6 => len >= 16,
        _ => false,
    }
}

const IBAN_LENGTHS: &[(&str, usize)] = &[
    ("AD", 24),
    ("AE", 23),
    ("AL", 28),
    ("AT", 20),
    ("AZ", 28),
    ("BA", 20),
    ("BE", 16),
    ("BG", 22),
    ("BH", 22),
    ("BR", 29),
    ("CH", 21),
    ("CR", 22),
    ("CY", 28),
    ("CZ", 24),
    ("DE", 22),
    ("DK", 18),
    ("DO", 28),
    ("EE", 20),
    ("EG", 29),
    ("ES", 24),
    ("FI", 18),
    ("FO", 18),
    ("FR", 27),
    ("GB", 22),
    ("GE", 22),
    ("GI", 23),
    ("GL", 18),
    ("GR", 27),
    ("GT", 28),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IL", 23),
    ("IS", 26),
    ("IT", 27),
    ("JO", 30),
    ("KW", 30),
    ("KZ", 20),
    ("LB", 28),
    ("LI", 21),
    ("LT", 20),
    ("LU", 20),
    ("LV", 21),
    ("MC", 27),
    ("MD", 24),
    ("ME", 22),
    ("MK", 19),
    ("MR", 27),
    ("MT", 31),
    ("MU", 30),
    ("NL", 18),
    ("NO", 15),
    ("PK", 24),
    ("PL", 28),
    ("PS", 29),
    ("PT", 25),
    ("QA", 29),
    ("RO", 24),
    ("RS", 22),
    ("SA", 24),
    ("SE", 24),
    ("SI", 19),
    ("SK", 24),
    ("SM", 27),
    ("TN", 24),
    ("TR", 26),
    ("UA", 29),
    ("VG", 24),
    ("XK", 20),
];

fn iban(value: &str, span: Range<usize>) -> Option<(f64, Range<usize>)> {
    let country = value.get(..2)?;
    let expected = IBAN_LENGTHS.iter().find(|(c, _)| *c == country)?.1;
    // The pattern may run into a following word; keep exactly the country's length.
    let mut taken = 0;
    let mut end = 0;
    let mut compact = String::with_capacity(expected);
    for (i, c) in value.char_indices() {
        if c.is_ascii_alphanumeric() {
            compact.push(c);
            taken += 1;
            end = i + 1;
            if taken == expected {
                break;
            }
        }
    }
    if taken != expected {
        return None;
    }
    let rearranged = format!("{}{}", &compact[4..], &compact[..4]);
    let mut rem: u64 = 0;
    for c in rearranged.chars() {
        let v = c.to_digit(36)? as u64;
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    (rem == 1).then_some((0.9, span.start..span.start + end))
}

fn mrz_check(field: &[u8]) -> u8 {
    const W: [u32; 3] = [7, 3, 1];
    let sum: u32 = field
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let v = match b {
                b'0'..=b'9' => u32::from(b - b'0'),
                b'A'..=b'Z' => u32::from(b - b'A') + 10,
                _ => 0,
            };
            v * W[i % 3]
        })
        .sum();
    b'0' + (sum % 10) as u8
}

fn dni_letter(n: u64, value: &str) -> Option<()> {
    const LETTERS: &[u8] = b"TRWAGMYFPDXBNJZSQVHLCKE";
    let expected = LETTERS[(n % 23) as usize] as char;
    (value.ends_with(expected)).then_some(())
}

fn it_fiscal_valid(b: &[u8]) -> bool {
    const ODD: [u32; 26] = [
        1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24,
        23,
    ];
    let mut sum = 0;
    for (i, &c) in b[..15].iter().enumerate() {
        let v = if c.is_ascii_digit() {
            u32::from(c - b'0')
        } else {
            u32::from(c - b'A')
        };
        sum += if i % 2 == 0 { ODD[v as usize] } else { v };
    }
    b[15] == b'A' + (sum % 26) as u8
}

fn verhoeff(d: &[u32]) -> bool {
    const D: [[usize; 10]; 10] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
        [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
        [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
        [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
        [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
        [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
        [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
        [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
        [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
    ];
    const P: [[usize; 10]; 8] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
        [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
        [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
        [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
        [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
        [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
        [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
    ];
    let mut c = 0;
    for (i, &x) in d.iter().rev().enumerate() {
        c = D[c][P[i % 8][x as usize]];
    }
    c == 0
}

impl Policy for Pii {
    const ID: &'static str = "pii";
    const NAME: &'static str = "PII";
    const TAG: &'static str = "PII";
    const APPLIES_TO: &'static [Role] = &[Role::User, Role::Assistant];
    const DESCRIPTION: &'static str =
        "Emails, phones, cards (Luhn), IBANs (mod-97), SSNs, national ids with checksums, IPs, addresses.";
    type Params = PiiParams;

    fn validate(params: &PiiParams, enabled: bool) -> Result<(), PolicyConfigError> {
        let id = Self::ID;
        if enabled && params.entities.is_empty() {
            return Err(invalid(
            id,
            "entities",
            "is empty; valid values: email, phone, credit_card, iban, ssn, passport, national_id, ip_address, street_address",
        ));
        }
        check_unit_interval(id, "threshold", params.threshold)
    }

    fn compile(params: &PiiParams) -> Result<Box<dyn Detector>, PolicyConfigError> {
        Ok(Box::new(Pii::compile(params)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<&'static str> {
        Pii::compile(&PiiParams::default())
            .expect("compiles")
            .find(text)
            .into_iter()
            .map(|m| m.recognizer)
            .collect()
    }

    #[test]
    fn checksummed_identifiers_are_found_and_invalid_ones_are_not() {
        assert_eq!(
            found("card 4532 0151 1283 0366 please"),
            vec!["credit_card"]
        );
        assert!(found("order 4532 0151 1283 0367 please").is_empty());
        assert_eq!(found("IBAN DE89 3704 0044 0532 0130 00 and"), vec!["iban"]);
        assert!(found("IBAN DE89 3704 0044 0532 0130 01").is_empty());
        assert_eq!(found("GB82 WEST 1234 5698 7654 32"), vec!["iban"]);
        assert_eq!(found("Amex 3714 496353 98431"), vec!["credit_card"]);
        assert_eq!(found("DNI 12345678Z"), vec!["es_dni"]);
        assert_eq!(
            found("codice fiscale RSSMRA85T10A562S"),
            vec!["it_fiscal_code"]
        );
    }

    #[test]
    fn contact_details_are_found() {
        assert_eq!(found("mail jordan.ellis@fastmail.com now"), vec!["email"]);
        assert_eq!(
            found("his mobile is +1 (312) 555-0148."),
            vec!["phone_international"]
        );
        assert_eq!(found("call me at (312) 555-0148"), vec!["phone_nanp"]);
        assert_eq!(found("SSN 412-68-3390"), vec!["us_ssn"]);
        assert_eq!(found("2217 Larkspur Lane, Austin TX 78745").len(), 2);
    }

    #[test]
    fn numbers_that_only_look_like_pii_are_not_reported() {
        assert!(found("contact support@example.com").is_empty());
        assert!(found("upgrade to version 1.2.3.4 today").is_empty());
        assert!(found("the build id is 2024-05-17 and took 1234567 ms").is_empty());
        assert!(found("order number 123456789").is_empty());
        assert!(found("listen on 127.0.0.1:8080").is_empty());
    }

    #[test]
    fn context_words_raise_weak_candidates_above_the_threshold() {
        assert!(found("ref 123456782").is_empty());
        assert_eq!(
            found("my passport number is 123456782"),
            vec!["passport_number"]
        );
    }
}
