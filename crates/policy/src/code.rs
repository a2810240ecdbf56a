//! Recognising source code in prose: fenced blocks and runs of code-like lines. Shared by
//! the scan (code regions), `content_types`, `code_leakage` and `detect_languages`.

use std::ops::Range;

/// A block of source code in a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CodeRegion {
    pub span: Range<usize>,
    /// The fence's info string (`python`), if fenced and given.
    pub language: Option<String>,
    pub fenced: bool,
    /// Code-like lines in the region.
    pub code_lines: usize,
}

const KEYWORD_STARTS: &[&str] = &[
    "def ",
    "class ",
    "import ",
    "from ",
    "fn ",
    "pub ",
    "let ",
    "const ",
    "var ",
    "function ",
    "return ",
    "#include",
    "package ",
    "using ",
    "public ",
    "private ",
    "protected ",
    "static ",
    "if (",
    "for (",
    "while (",
    "} else",
    "elif ",
    "else:",
    "try:",
    "except",
    "catch (",
    "async ",
    "await ",
    "export ",
    "interface ",
    "struct ",
    "enum ",
    "impl ",
    "#!/",
    "//",
    "/*",
    "*/",
    "func ",
    "val ",
    "namespace ",
    "module ",
    "require(",
    "print(",
    "println!",
    "console.",
    "end",
    "fi",
    "done",
    "echo ",
    "sudo ",
    "npm ",
    "pip ",
    "cargo ",
    "SELECT ",
    "INSERT ",
    "UPDATE ",
    "CREATE ",
];

/// Whether a single line reads as source code.
pub(crate) fn is_code_line(line: &str) -> bool {
    let t = line.trim();
    if t.is_empty() || t.len() > 400 {
        return false;
    }
    const STRONG: &[&str] = &[
        "import ", "package ", "#include", "using ", "def ", "class ", "fn ", "func ", "#!/",
        "pub fn ", "let mut ",
    ];
    // Compare the first byte before the whole keyword: this runs on every line.
    let first = t.as_bytes()[0];
    let starts = |k: &&str| k.as_bytes()[0] == first && t.starts_with(*k);
    if STRONG.iter().any(starts)
        && t.split_whitespace().count() <= 8
        && !t.ends_with('.')
        && !t.ends_with('?')
    {
        return true;
    }
    if KEYWORD_STARTS.iter().any(starts) && (t.len() > 3 || matches!(t, "end" | "fi" | "done")) {
        // `from` and `end` start sentences too; require code punctuation after them.
        if t.starts_with("from ") {
            return t.contains(" import ");
        }
        if line.starts_with("    ") || line.starts_with('\t') {
            return true;
        }
        if matches!(t, "end" | "fi" | "done") {
            return true;
        }
        return t.contains(['(', '{', ';', '=', ':', '<', '.', '[', '/', '!', '*'])
            || t.ends_with(':');
    }
    let ends_code = t.ends_with(';')
        || t.ends_with('{')
        || t.ends_with('}')
        || t.ends_with("});")
        || t.ends_with("),")
        || t.ends_with(");");
    if ends_code && t.contains(['(', '=', '{', '}', ';']) && !t.ends_with(". }") {
        return true;
    }
    if t == "}" || t == "{" || t == ")" || t == "]" || t == "};" {
        return true;
    }
    // One pass for the punctuation the remaining checks need.
    let bytes = t.as_bytes();
    let (mut symbols, mut open_paren, mut structural, mut dot, mut underscore, mut sentence) =
        (false, false, false, false, false, false);
    for (k, &b) in bytes.iter().enumerate() {
        let next = bytes.get(k + 1).copied().unwrap_or(0);
        match b {
            b'(' => open_paren = true,
            b'=' | b'{' | b'[' => structural = true,
            b'.' => {
                dot = true;
                sentence |= next == b' ';
            }
            b'_' => underscore = true,
            _ => {}
        }
        symbols |= matches!(
            (b, next),
            (b'=', b'>')
                | (b'-', b'>')
                | (b':', b':')
                | (b'=', b'=')
                | (b'!', b'=')
                | (b'&', b'&')
                | (b'|', b'|')
        );
    }
    if !(symbols || open_paren || structural || t.contains(" = ")) {
        return false;
    }
    let symbols = symbols;
    let assignment = t.split_once(" = ").is_some_and(|(lhs, _)| {
        !lhs.is_empty()
            && lhs.split_whitespace().count() <= 3
            && lhs.chars().all(|c| {
                c.is_alphanumeric()
                    || matches!(
                        c,
                        '_' | '.'
                            | ' '
                            | '['
                            | ']'
                            | '"'
                            | '\''
                            | ':'
                            | '<'
                            | '>'
                            | '&'
                            | '*'
                            | '$'
                    )
            })
    });
    let call = open_paren && t.ends_with(')') && !sentence && t.split_whitespace().count() <= 8;
    let indented = line.starts_with("    ") || line.starts_with('\t');
    symbols && (open_paren || structural)
        || assignment
        || call && (indented || dot || underscore)
        || indented && t.ends_with(':') && open_paren
}

/// Fenced blocks, then unfenced runs with at least `min_lines` code-like lines.
pub(crate) fn code_regions(text: &str, min_lines: usize) -> Vec<CodeRegion> {
    let mut regions = Vec::new();
    let mut fenced_spans: Vec<Range<usize>> = Vec::new();
    let mut search = 0;
    while let Some(open) = text[search..].find("```") {
        let open = search + open;
        let info_end = text[open + 3..]
            .find('\n')
            .map_or(text.len(), |i| open + 3 + i);
        let info = text[open + 3..info_end].trim();
        let body_start = (info_end + 1).min(text.len());
        let Some(close) = text[body_start..].find("```") else {
            break;
        };
        let close = body_start + close;
        let end = close + 3;
        let body = &text[body_start..close];
        regions.push(CodeRegion {
            span: open..end,
            language: (!info.is_empty() && !info.contains(' ')).then(|| info.to_owned()),
            fenced: true,
            code_lines: body.lines().filter(|l| !l.trim().is_empty()).count(),
        });
        fenced_spans.push(open..end);
        search = end;
    }
    // Unfenced: consecutive code-like, blank or indented lines.
    let mut offset = 0;
    let mut block: Option<(usize, usize, usize)> = None;
    let flush = |block: &mut Option<(usize, usize, usize)>, regions: &mut Vec<CodeRegion>| {
        if let Some((start, end, count)) = block.take() {
            if count >= min_lines
                && !fenced_spans
                    .iter()
                    .any(|f| f.start <= start && end <= f.end)
            {
                regions.push(CodeRegion {
                    span: start..end,
                    language: None,
                    fenced: false,
                    code_lines: count,
                });
            }
        }
    };
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let content = line.trim_end_matches(['\n', '\r']);
        let code = is_code_line(content);
        let continuation =
            content.trim().is_empty() || content.starts_with("    ") || content.starts_with('\t');
        match (&mut block, code, continuation) {
            (Some((_, end, count)), true, _) => {
                *end = start + content.len();
                *count += 1;
            }
            (Some(_), false, true) => {}
            (None, true, _) => block = Some((start, start + content.len(), 1)),
            (Some(_), false, false) => flush(&mut block, &mut regions),
            (None, false, _) => {}
        }
    }
    flush(&mut block, &mut regions);
    regions.sort_by_key(|r| r.span.start);
    regions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unfenced_code_needs_several_code_lines() {
        let code = "import os\nfrom x import y\n\ndef main():\n    path = os.getcwd()\n    print(path)\n    return 0\n";
        let regions = code_regions(code, 5);
        assert_eq!(regions.len(), 1, "{regions:?}");
        assert!(code_regions("let me know\nif you can\n", 2).is_empty());
    }
}
