//! Masked evidence for findings: secrets never appear whole, PII is masked, and invisible
//! characters are made visible so investigators see why a text was flagged.

use std::fmt::Write;

const EXCERPT_CHARS: usize = 120;

/// A secret as its first 4 and last 4 characters; shorter secrets show less, never all.
pub(crate) fn mask_secret(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    let n = chars.len();
    let (head, tail) = match n {
        0..=8 => (0, 0),
        9..=12 => (2, 2),
        _ => (4, 4),
    };
    let mut out: String = chars[..head].iter().collect();
    let _ = write!(out, "…[{n} chars]…");
    out.extend(&chars[n - tail..]);
    out
}

/// PII with its letters and digits starred except the last four (at most a third of them).
pub(crate) fn mask_identifier(value: &str) -> String {
    let alnum = value.chars().filter(|c| c.is_alphanumeric()).count();
    let keep = (alnum / 3).min(4);
    let mut seen = 0;
    value
        .chars()
        .map(|c| {
            if c.is_alphanumeric() {
                seen += 1;
                if seen > alnum - keep {
                    c
                } else {
                    '*'
                }
            } else {
                c
            }
        })
        .collect()
}

/// An email as `j***@fastmail.com`: the domain stays, the mailbox does not.
pub(crate) fn mask_email(value: &str) -> String {
    match value.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => mask_identifier(value),
    }
}

/// A readable excerpt of non-sensitive matched text, truncated, with invisible and control
/// characters escaped.
pub(crate) fn excerpt(text: &str) -> String {
    let mut out = String::new();
    for (count, c) in text.chars().enumerate() {
        if count >= EXCERPT_CHARS {
            out.push('…');
            break;
        }
        if c == '\n' {
            out.push_str("\\n");
        } else if c.is_control() || crate::normalize::is_invisible(c) {
            let _ = write!(out, "\\u{{{:04X}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_shows_only_its_first_and_last_four_characters() {
        let masked = mask_secret("ghp_dzfLrjMcgMuxIapYHZaNAR3zlT4BNLZ2mpkG");
        assert_eq!(masked, "ghp_…[40 chars]…mpkG");
        assert_eq!(mask_secret("hunter2"), "…[7 chars]…");
    }

    #[test]
    fn identifiers_keep_at_most_the_last_four_characters() {
        assert_eq!(
            mask_identifier("4532 0151 1283 0366"),
            "**** **** **** 0366"
        );
        assert_eq!(mask_identifier("536-22-8174"), "***-**-*174");
        assert_eq!(mask_email("jordan.ellis@fastmail.com"), "j***@fastmail.com");
    }

    #[test]
    fn excerpts_make_invisible_characters_visible() {
        assert_eq!(excerpt("ig\u{200B}nore\n"), "ig\\u{200B}nore\\n");
    }
}
