//! Normalised views of a message for evasion-resistant matching, each with a map from view
//! bytes back to byte ranges of the original text.
//!
//! The folded view applies, per grapheme unit: NFKC, removal of invisible, tag, bidi and
//! combining characters, the common Latin look-alikes of UTS #39 confusables (Cyrillic,
//! Greek, Armenian, Latin-extended), lowercase; then leetspeak inside words that contain
//! letters, whitespace runs collapsed to one space, letters spaced or dotted apart joined,
//! and right-to-left override runs reversed into reading order. The squeezed view keeps only
//! the letters and digits of the folded view, so that `i g-n.o r e` and `ig nore` meet.

use std::ops::Range;

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// A derived text with, for each of its bytes, the original byte range it came from.
#[derive(Debug, Clone)]
pub struct NormalizedView {
    text: String,
    starts: Vec<usize>,
    ends: Vec<usize>,
}

/// Cheap facts about a text that decide whether normalised views can differ from it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TextProfile {
    /// Every byte is ASCII.
    pub ascii: bool,
    /// Contains invisible, bidi, tag or variation-selector characters.
    pub invisible: bool,
    /// Contains characters NFKC or the confusable map would change (fullwidth, math
    /// alphanumerics, Cyrillic/Greek look-alikes) or combining marks.
    pub foldable: bool,
    /// Contains a word mixing letters with leet digits or symbols (`h4ck`, `pr0mpt`).
    pub leet: bool,
    /// Contains three or more single letters separated by spaces or punctuation.
    pub spaced: bool,
}

impl TextProfile {
    /// Whether a normalised view can differ from the text beyond ASCII case and whitespace.
    pub fn needs_views(&self) -> bool {
        self.invisible || self.foldable || self.leet || self.spaced
    }
}

/// Computes the profile in one pass over the text.
pub fn profile(text: &str) -> TextProfile {
    let bytes = text.as_bytes();
    let ascii = bytes.is_ascii();
    let mut profile = TextProfile {
        ascii,
        ..TextProfile::default()
    };
    if !ascii {
        for c in text.chars() {
            if (c as u32) < 0x80 {
                continue;
            }
            if is_invisible(c) {
                profile.invisible = true;
            } else if is_combining_mark(c) || confusable_to_latin(c).is_some() || nfkc_changes(c) {
                profile.foldable = true;
            }
            if profile.invisible && profile.foldable {
                break;
            }
        }
    }
    profile.leet = has_leet_word(bytes);
    profile.spaced = has_spaced_letters(bytes);
    profile
}

fn nfkc_changes(c: char) -> bool {
    // Compatibility characters live in these blocks; testing them avoids running NFKC on
    // every non-ASCII character of ordinary accented or CJK text.
    matches!(c as u32,
        0x00A0..=0x00BF | 0x0132..=0x0133 | 0x013F..=0x0140 | 0x017F | 0x01C4..=0x01CC
        | 0x02B0..=0x02FF | 0x1D00..=0x1DBF | 0x2000..=0x206F | 0x2070..=0x209F
        | 0x2100..=0x218F | 0x2460..=0x24FF | 0x2C7C..=0x2C7D | 0x3000 | 0x3200..=0x33FF
        | 0xFB00..=0xFB4F | 0xFE30..=0xFE4F | 0xFF00..=0xFFEF | 0x1D400..=0x1D7FF
        | 0x1F100..=0x1F1FF)
}

const fn leet_letter(b: u8) -> Option<char> {
    Some(match b {
        b'0' => 'o',
        b'1' | b'!' | b'|' => 'i',
        b'3' => 'e',
        b'4' | b'@' => 'a',
        b'5' | b'$' => 's',
        b'7' | b'+' => 't',
        b'8' => 'b',
        b'9' | b'6' => 'g',
        _ => return None,
    })
}

const ALPHA: u8 = 1;
const ALNUM: u8 = 2;
const LEET: u8 = 4;

/// What the profile's scans ask of a byte: an ASCII letter, an ASCII letter or digit, a
/// leet symbol that can make a leet word (`+` and `|` cannot).
static BYTE_CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let mut class = 0;
        if b.is_ascii_alphabetic() {
            class |= ALPHA;
        }
        if b.is_ascii_alphanumeric() {
            class |= ALNUM;
        }
        if leet_letter(b).is_some() && b != b'+' && b != b'|' {
            class |= LEET;
        }
        table[i] = class;
        i += 1;
    }
    table
};

fn has_leet_word(bytes: &[u8]) -> bool {
    // A leet word: a leet symbol with an ASCII letter on at least one side and a letter
    // somewhere else in the same word, e.g. `1gn0re`, `h4ck`, `pr0mpt`.
    for (i, &b) in bytes.iter().enumerate() {
        if BYTE_CLASS[usize::from(b)] & LEET == 0 {
            continue;
        }
        let prev = i.checked_sub(1).map(|j| bytes[j]);
        let next = bytes.get(i + 1).copied();
        let letter_before = prev.is_some_and(|p| p.is_ascii_alphabetic());
        let letter_after = next.is_some_and(|n| n.is_ascii_alphabetic());
        if letter_before && letter_after {
            return true;
        }
        if (letter_before || letter_after) && b.is_ascii_digit() {
            // `utf8`, `x86` and `h264` are ordinary; require two leet symbols in the word.
            let start = bytes[..i]
                .iter()
                .rposition(|c| !c.is_ascii_alphanumeric())
                .map_or(0, |p| p + 1);
            let end = bytes[i..]
                .iter()
                .position(|c| !c.is_ascii_alphanumeric())
                .map_or(bytes.len(), |p| i + p);
            let word = &bytes[start..end];
            let leets = word.iter().filter(|c| leet_letter(**c).is_some()).count();
            let letters = word.iter().filter(|c| c.is_ascii_alphabetic()).count();
            if leets >= 2 && letters >= 2 && word.len() >= 5 {
                return true;
            }
        }
    }
    false
}

fn is_letter_separator(b: u8) -> bool {
    matches!(
        b,
        b' ' | b'.' | b'-' | b'_' | b'*' | b'/' | b'\\' | b'|' | b'~' | b'+'
    )
}

fn has_spaced_letters(bytes: &[u8]) -> bool {
    // Three single letters in a row, each followed by one or two separator bytes.
    let mut run = 0usize;
    let mut i = 0usize;
    let alnum = |b: u8| BYTE_CLASS[usize::from(b)] & ALNUM != 0;
    while i < bytes.len() {
        let b = bytes[i];
        let single = BYTE_CLASS[usize::from(b)] & ALPHA != 0
            && (i == 0 || !alnum(bytes[i - 1]))
            && bytes.get(i + 1).is_none_or(|n| !alnum(*n));
        if single {
            run += 1;
            if run >= 4 {
                return true;
            }
            let mut j = i + 1;
            let mut seps = 0;
            while j < bytes.len() && is_letter_separator(bytes[j]) && seps < 3 {
                j += 1;
                seps += 1;
            }
            if seps == 0 || j >= bytes.len() || !bytes[j].is_ascii_alphabetic() {
                run = 0;
            }
            i = j.max(i + 1);
        } else {
            run = 0;
            i += 1;
            // The rest of a run of letters and digits follows a letter or digit, so none
            // of it is a single letter.
            if alnum(b) {
                while bytes.get(i).is_some_and(|n| alnum(*n)) {
                    i += 1;
                }
            }
        }
    }
    false
}

/// The whitespace-separated words of a text, as `str::split_whitespace` yields them,
/// split byte by byte when the text is ASCII (the usual case, and several times faster).
pub(crate) fn words(text: &str) -> Words<'_> {
    if text.is_ascii() {
        Words::Ascii { text, at: 0 }
    } else {
        Words::Unicode(text.split_whitespace())
    }
}

/// `words(text).count()`, counted byte by byte for ASCII text.
pub(crate) fn word_count(text: &str) -> usize {
    if !text.is_ascii() {
        return text.split_whitespace().count();
    }
    let mut count = 0;
    let mut in_word = false;
    for &b in text.as_bytes() {
        let space = is_ascii_space(b);
        count += usize::from(in_word && space);
        in_word = !space;
    }
    count + usize::from(in_word)
}

/// Iterator of `words`.
pub(crate) enum Words<'t> {
    Ascii { text: &'t str, at: usize },
    Unicode(std::str::SplitWhitespace<'t>),
}

/// The ASCII characters with the Unicode `White_Space` property.
fn is_ascii_space(b: u8) -> bool {
    b == b' ' || b.wrapping_sub(b'\t') < 5
}

impl<'t> Iterator for Words<'t> {
    type Item = &'t str;

    fn next(&mut self) -> Option<&'t str> {
        match self {
            Words::Unicode(split) => split.next(),
            Words::Ascii { text, at } => {
                let bytes = text.as_bytes();
                let start = *at + bytes[*at..].iter().position(|b| !is_ascii_space(*b))?;
                let end = bytes[start..]
                    .iter()
                    .position(|b| is_ascii_space(*b))
                    .map_or(bytes.len(), |p| start + p);
                *at = end;
                Some(&text[start..end])
            }
        }
    }
}

/// Invisible format characters: zero-width, joiners, bidi controls, tags, variation
/// selectors, soft hyphen, Hangul fillers and other `Cf` characters used to split words.
pub fn is_invisible(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x034F | 0x061C | 0x115F | 0x1160 | 0x17B4 | 0x17B5 | 0x180B..=0x180F
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0x3164 | 0xFE00..=0xFE0F
        | 0xFEFF | 0xFFA0 | 0xFFF0..=0xFFF8 | 0x1D173..=0x1D17A | 0xE0000..=0xE007F
        | 0xE0100..=0xE01EF)
}

/// Bidi controls that reorder display (embeddings, overrides, isolates).
pub fn is_bidi_control(c: char) -> bool {
    matches!(c as u32, 0x202A..=0x202E | 0x2066..=0x2069)
}

/// The Latin letter a common look-alike stands for (a subset of UTS #39 confusables:
/// Cyrillic, Greek, Armenian and Latin-extended letters that render like ASCII letters).
pub fn confusable_to_latin(c: char) -> Option<char> {
    Some(match c {
        // Cyrillic lowercase
        'а' => 'a',
        'в' => 'b',
        'е' | 'ё' | 'є' => 'e',
        'һ' => 'h',
        'і' | 'ї' => 'i',
        'ј' => 'j',
        'к' => 'k',
        'ӏ' => 'l',
        'м' => 'm',
        'н' => 'h',
        'о' => 'o',
        'р' => 'p',
        'с' => 'c',
        'ѕ' => 's',
        'т' => 't',
        'у' => 'y',
        'х' => 'x',
        'ԁ' => 'd',
        'ԛ' => 'q',
        'ԝ' => 'w',
        'ɡ' => 'g',
        'ь' => 'b',
        'п' => 'n',
        'г' => 'r',
        // Cyrillic uppercase
        'А' => 'a',
        'В' => 'b',
        'Е' | 'Ё' | 'Є' => 'e',
        'Һ' => 'h',
        'І' | 'Ї' => 'i',
        'Ј' => 'j',
        'К' => 'k',
        'Ӏ' => 'l',
        'М' => 'm',
        'Н' => 'h',
        'О' => 'o',
        'Р' => 'p',
        'С' => 'c',
        'Ѕ' => 's',
        'Т' => 't',
        'У' => 'y',
        'Х' => 'x',
        'Ԁ' => 'd',
        'Ԛ' => 'q',
        'Ԝ' => 'w',
        // Greek
        'α' => 'a',
        'β' => 'b',
        'ε' => 'e',
        'η' => 'n',
        'ι' => 'i',
        'κ' => 'k',
        'ν' => 'v',
        'ο' => 'o',
        'ρ' => 'p',
        'τ' => 't',
        'υ' => 'u',
        'χ' => 'x',
        'γ' => 'y',
        'ω' => 'w',
        'Α' => 'a',
        'Β' => 'b',
        'Ε' => 'e',
        'Ζ' => 'z',
        'Η' => 'h',
        'Ι' => 'i',
        'Κ' => 'k',
        'Μ' => 'm',
        'Ν' => 'n',
        'Ο' => 'o',
        'Ρ' => 'p',
        'Τ' => 't',
        'Υ' => 'y',
        'Χ' => 'x',
        // Armenian
        'օ' => 'o',
        'ս' => 'u',
        'հ' => 'h',
        'ո' => 'n',
        'ց' => 'g',
        'զ' => 'q',
        // Latin extended and IPA
        'ɑ' => 'a',
        'ɩ' | 'ı' | 'ɪ' => 'i',
        'ʟ' => 'l',
        'ɴ' => 'n',
        'ʀ' => 'r',
        'ѵ' => 'v',
        'ꭰ' => 'd',
        'ᴄ' => 'c',
        'ᴏ' => 'o',
        'ᴠ' => 'v',
        'ᴡ' => 'w',
        'ᴢ' => 'z',
        'ꜱ' => 's',
        _ => return None,
    })
}

/// One folded character and the original range it stands for.
#[derive(Clone, Copy)]
struct Piece {
    c: char,
    start: usize,
    end: usize,
}

impl NormalizedView {
    /// The view's text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Maps a byte range of the view to the byte range of the original it came from.
    /// The result lies on the original's char boundaries.
    pub fn map_span(&self, span: Range<usize>) -> Range<usize> {
        if self.starts.is_empty() {
            return 0..0;
        }
        let last = self.starts.len() - 1;
        let a = span.start.min(last);
        let b = span.end.saturating_sub(1).clamp(a, last);
        let start = self.starts[a].min(self.starts[b]);
        let end = self.ends[b].max(self.ends[a]);
        start..end
    }

    /// Builds the folded view.
    pub fn fold(original: &str) -> NormalizedView {
        let units = fold_units(original);
        let pieces = join_and_leet(units);
        NormalizedView::from_pieces(&pieces)
    }

    /// Builds the squeezed view (letters and digits of the folded view only).
    pub fn squeeze(folded: &NormalizedView) -> NormalizedView {
        let mut view = NormalizedView {
            text: String::with_capacity(folded.text.len()),
            starts: Vec::with_capacity(folded.text.len()),
            ends: Vec::with_capacity(folded.text.len()),
        };
        for (i, c) in folded.text.char_indices() {
            if c.is_alphanumeric() {
                let (s, e) = (folded.starts[i], folded.ends[i]);
                view.push(c, s, e);
            }
        }
        view
    }

    fn from_pieces(pieces: &[Piece]) -> NormalizedView {
        let mut view = NormalizedView {
            text: String::with_capacity(pieces.len()),
            starts: Vec::with_capacity(pieces.len()),
            ends: Vec::with_capacity(pieces.len()),
        };
        for p in pieces {
            view.push(p.c, p.start, p.end);
        }
        view
    }

    fn push(&mut self, c: char, start: usize, end: usize) {
        self.text.push(c);
        for _ in 0..c.len_utf8() {
            self.starts.push(start);
            self.ends.push(end);
        }
    }
}

fn fold_units(original: &str) -> Vec<Piece> {
    let mut out: Vec<Piece> = Vec::with_capacity(original.len());
    // Pieces emitted inside a right-to-left override, reversed when the override ends.
    let mut rtl: Option<Vec<Piece>> = None;
    let mut chars = original.char_indices().peekable();
    let mut unit = String::new();
    while let Some((start, c)) = chars.next() {
        if c == '\u{202E}' || c == '\u{202B}' {
            if let Some(pending) = rtl.take() {
                out.extend(pending.into_iter().rev());
            }
            rtl = Some(Vec::new());
            continue;
        }
        if c == '\u{202C}' || c == '\n' {
            if let Some(pending) = rtl.take() {
                out.extend(pending.into_iter().rev());
            }
            if c == '\u{202C}' {
                continue;
            }
        }
        if is_invisible(c) {
            continue;
        }
        let mut end = start + c.len_utf8();
        if c.is_ascii() {
            // Fast path: ASCII needs only lowercase (combining marks after it are zalgo).
            while let Some(&(i, next)) = chars.peek() {
                // No ASCII character is a combining mark or invisible.
                if !next.is_ascii()
                    && (is_combining_mark(next) || is_invisible(next) && !is_bidi_control(next))
                {
                    end = i + next.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            let target = rtl.as_mut().unwrap_or(&mut out);
            target.push(Piece {
                c: c.to_ascii_lowercase(),
                start,
                end,
            });
            continue;
        }
        unit.clear();
        unit.push(c);
        while let Some(&(i, next)) = chars.peek() {
            if is_combining_mark(next) {
                unit.push(next);
                end = i + next.len_utf8();
                chars.next();
            } else {
                break;
            }
        }
        let target = rtl.as_mut().unwrap_or(&mut out);
        for n in unit.nfkc() {
            if is_invisible(n) || is_combining_mark(n) {
                continue;
            }
            let mapped = confusable_to_latin(n).unwrap_or(n);
            for lower in mapped.to_lowercase() {
                if is_combining_mark(lower) {
                    continue;
                }
                target.push(Piece {
                    c: lower,
                    start,
                    end,
                });
            }
        }
    }
    if let Some(pending) = rtl.take() {
        out.extend(pending.into_iter().rev());
    }
    out
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || leet_letter_char(c).is_some()
}

fn leet_letter_char(c: char) -> Option<char> {
    if c.is_ascii() {
        leet_letter(c as u8)
    } else {
        None
    }
}

fn join_and_leet(mut pieces: Vec<Piece>) -> Vec<Piece> {
    // Tokenise on whitespace; fold leet inside tokens that contain letters. A token is a
    // range of `pieces` (whitespace pieces lie between tokens and are never read again);
    // joining dotted letters compacts a token within its own range.
    let mut tokens: Vec<Range<usize>> = Vec::new();
    let mut start = None;
    for (i, p) in pieces.iter().enumerate() {
        match (p.c.is_whitespace(), start) {
            (true, Some(s)) => {
                tokens.push(s..i);
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        tokens.push(s..pieces.len());
    }
    for token in &mut tokens {
        fold_leet(&mut pieces[token.clone()]);
        let kept = join_dotted_letters(&mut pieces[token.clone()]);
        token.end = token.start + kept;
    }
    // Join runs of three or more single-letter tokens (`i g n o r e`).
    let single = |t: &Range<usize>| t.len() == 1 && pieces[t.start].c.is_alphabetic();
    let mut out: Vec<Piece> = Vec::with_capacity(pieces.len());
    let mut i = 0;
    while i < tokens.len() {
        if single(&tokens[i]) {
            let mut j = i;
            while j < tokens.len() && single(&tokens[j]) {
                j += 1;
            }
            if j - i >= 3 {
                if !out.is_empty() {
                    out.push(space_after(&out));
                }
                let first = |k: usize| pieces[tokens[k].start];
                // Gaps wider than the narrowest gap in the run separate words.
                let gaps: Vec<usize> = (i + 1..j)
                    .map(|k| first(k).start.saturating_sub(first(k - 1).end))
                    .collect();
                let narrow = gaps.iter().copied().min().unwrap_or(1);
                out.push(first(i));
                for (k, gap) in (i + 1..j).zip(gaps) {
                    if gap > narrow {
                        out.push(space_after(&out));
                    }
                    out.push(first(k));
                }
                i = j;
                continue;
            }
        }
        if !out.is_empty() {
            out.push(space_after(&out));
        }
        out.extend_from_slice(&pieces[tokens[i].clone()]);
        i += 1;
    }
    out
}

fn space_after(out: &[Piece]) -> Piece {
    let end = out.last().map_or(0, |p| p.end);
    Piece {
        c: ' ',
        start: end,
        end,
    }
}

fn fold_leet(token: &mut [Piece]) {
    let letters = token.iter().filter(|p| p.c.is_alphabetic()).count();
    if letters == 0 {
        return;
    }
    for i in 0..token.len() {
        let Some(letter) = leet_letter_char(token[i].c) else {
            continue;
        };
        let prev_word = i > 0 && is_word_char(token[i - 1].c);
        let next_word = i + 1 < token.len() && is_word_char(token[i + 1].c);
        // Symbols only count inside a word; a trailing `!` or a lone `@` stays.
        let inside = if token[i].c.is_ascii_digit() {
            prev_word || next_word
        } else {
            prev_word && next_word
        };
        if inside {
            token[i].c = letter;
        }
    }
}

/// Drops the separators of a token that alternates letters with one separator each, moving
/// its letters to the front; returns the token's new length.
fn join_dotted_letters(token: &mut [Piece]) -> usize {
    // `i.g.n.o.r.e` or `i-g-n-o-r-e`: letters alternating with one separator.
    if token.len() < 5 {
        return token.len();
    }
    let alternating = token.iter().enumerate().all(|(i, p)| {
        if i % 2 == 0 {
            p.c.is_alphabetic()
        } else {
            p.c.is_ascii() && is_letter_separator(p.c as u8)
        }
    });
    if alternating && token.len() % 2 == 1 {
        let kept = token.len().div_ceil(2);
        for k in 1..kept {
            token[k] = token[2 * k];
        }
        return kept;
    }
    token.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // The token pass as it was before tokens became ranges of one vector, as the reference.
    fn join_and_leet_by_token_vectors(pieces: Vec<Piece>) -> Vec<Piece> {
        let mut tokens: Vec<Vec<Piece>> = Vec::new();
        let mut current: Vec<Piece> = Vec::new();
        for p in pieces {
            if p.c.is_whitespace() {
                if !current.is_empty() {
                    tokens.push(std::mem::take(&mut current));
                }
            } else {
                current.push(p);
            }
        }
        if !current.is_empty() {
            tokens.push(current);
        }
        for token in &mut tokens {
            fold_leet(token);
            let alternating = token.len() >= 5
                && token.iter().enumerate().all(|(i, p)| {
                    if i % 2 == 0 {
                        p.c.is_alphabetic()
                    } else {
                        p.c.is_ascii() && is_letter_separator(p.c as u8)
                    }
                });
            if alternating && token.len() % 2 == 1 {
                let mut i = 0;
                token.retain(|_| {
                    let keep = i % 2 == 0;
                    i += 1;
                    keep
                });
            }
        }
        let mut out: Vec<Piece> = Vec::new();
        let mut i = 0;
        while i < tokens.len() {
            let single = |t: &Vec<Piece>| t.len() == 1 && t[0].c.is_alphabetic();
            if single(&tokens[i]) {
                let mut j = i;
                while j < tokens.len() && single(&tokens[j]) {
                    j += 1;
                }
                if j - i >= 3 {
                    if !out.is_empty() {
                        out.push(space_after(&out));
                    }
                    let gaps: Vec<usize> = (i + 1..j)
                        .map(|k| tokens[k][0].start.saturating_sub(tokens[k - 1][0].end))
                        .collect();
                    let narrow = gaps.iter().copied().min().unwrap_or(1);
                    out.push(tokens[i][0]);
                    for (k, gap) in (i + 1..j).zip(gaps) {
                        if gap > narrow {
                            out.push(space_after(&out));
                        }
                        out.push(tokens[k][0]);
                    }
                    i = j;
                    continue;
                }
            }
            if !out.is_empty() {
                out.push(space_after(&out));
            }
            out.extend_from_slice(&tokens[i]);
            i += 1;
        }
        out
    }

    /// Evasions (spaced, dotted, leet, zero-width, homoglyph, reversed, zalgo) among prose,
    /// code and arbitrary characters and whitespace.
    fn foldable_text() -> impl Strategy<Value = String> {
        let fragment = prop_oneof![
            Just("i g n o r e  a l l".to_owned()),
            Just("i.g.n.o.r.e p-r-e-v".to_owned()),
            Just("a.b.c.d".to_owned()),
            Just("1gn0r3 pr3v10us h4ck".to_owned()),
            Just("ig\u{200B}nore".to_owned()),
            Just("d\u{0435}v\u{0435}l\u{043E}p\u{0435}r".to_owned()),
            Just("say \u{202E}erongi\u{202C} now".to_owned()),
            Just("i\u{0336}\u{0337}gnore".to_owned()),
            Just("ｉｇｎｏｒｅ 𝐢𝐠𝐧".to_owned()),
            Just("p95 x86 utf8 ".to_owned()),
            Just("let x = a.b(c)?;\n".to_owned()),
            "[a-zA-Z0-9 .\\-_*/|~+!@$\t\n]{0,12}",
            any::<char>().prop_map(String::from),
        ];
        prop::collection::vec(fragment, 0..16).prop_map(|parts| parts.concat())
    }

    #[test]
    fn no_ascii_character_is_a_combining_mark_or_invisible() {
        // The folding's ASCII fast path skips both tests for an ASCII character.
        for c in (0u8..0x80).map(char::from) {
            assert!(!is_combining_mark(c) && !is_invisible(c), "{c:?}");
        }
    }

    proptest! {
        #[test]
        fn tokens_as_ranges_fold_the_text_exactly_as_tokens_as_vectors_did(text in foldable_text()) {
            let view = NormalizedView::fold(&text);
            let reference = NormalizedView::from_pieces(&join_and_leet_by_token_vectors(fold_units(&text)));
            prop_assert_eq!(&view.text, &reference.text);
            prop_assert_eq!(&view.starts, &reference.starts);
            prop_assert_eq!(&view.ends, &reference.ends);
        }
    }

    #[test]
    fn the_leet_class_marks_the_leet_letters_but_plus_and_bar() {
        // `has_leet_word` tests this bit where it used to call `leet_letter`.
        for b in 0..=u8::MAX {
            let expected = leet_letter(b).is_some() && b != b'+' && b != b'|';
            assert_eq!(BYTE_CLASS[usize::from(b)] & LEET != 0, expected, "byte {b}");
        }
    }

    // The spaced-letter scan as it was before the class table, as the reference.
    fn has_spaced_letters_by_byte(bytes: &[u8]) -> bool {
        // Three single letters in a row, each followed by one or two separator bytes.
        let mut run = 0usize;
        let mut i = 0usize;
        while i < bytes.len() {
            let b = bytes[i];
            let single = b.is_ascii_alphabetic()
                && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric())
                && bytes.get(i + 1).is_none_or(|n| !n.is_ascii_alphanumeric());
            if single {
                run += 1;
                if run >= 4 {
                    return true;
                }
                let mut j = i + 1;
                let mut seps = 0;
                while j < bytes.len() && is_letter_separator(bytes[j]) && seps < 3 {
                    j += 1;
                    seps += 1;
                }
                if seps == 0 || j >= bytes.len() || !bytes[j].is_ascii_alphabetic() {
                    run = 0;
                }
                i = j.max(i + 1);
            } else {
                run = 0;
                i += 1;
            }
        }
        false
    }

    proptest! {
        #[test]
        fn the_table_driven_spaced_letter_scan_agrees_with_the_byte_test(
            text in prop::collection::vec(prop_oneof![
                "[a-zA-Z0-9 .\\-_*/|~+!@$]{0,12}",
                Just("i g n o r e".to_owned()),
                Just("h4ck pr0mpt 1gn0re".to_owned()),
                Just("utf8 x86".to_owned()),
                any::<char>().prop_map(String::from),
            ], 0..12).prop_map(|parts| parts.concat())
        ) {
            prop_assert_eq!(has_spaced_letters(text.as_bytes()), has_spaced_letters_by_byte(text.as_bytes()));
        }
    }

    fn folded(text: &str) -> String {
        NormalizedView::fold(text).text().to_owned()
    }

    #[test]
    fn folding_strips_zero_width_and_maps_homoglyphs_and_case() {
        assert_eq!(folded("Ig\u{200B}nore ALL"), "ignore all");
        assert_eq!(folded("d\u{0435}v\u{0435}l\u{043E}p\u{0435}r"), "developer");
        assert_eq!(folded("ｉｇｎｏｒｅ"), "ignore");
        assert_eq!(folded("𝐢𝐠𝐧𝐨𝐫𝐞"), "ignore");
    }

    #[test]
    fn folding_handles_leet_spacing_and_reversal() {
        assert_eq!(folded("1gn0r3 pr3v10us"), "ignore previous");
        assert_eq!(folded("i g n o r e  a l l"), "ignore all");
        assert_eq!(folded("i.g.n.o.r.e"), "ignore");
        assert_eq!(folded("say \u{202E}erongi\u{202C} now"), "say ignore now");
        assert_eq!(folded("in 2024 we had 3 cats!"), "in 2024 we had 3 cats!");
    }

    #[test]
    fn zalgo_marks_are_removed() {
        assert_eq!(folded("i\u{0336}\u{0337}gnore"), "ignore");
    }

    #[test]
    fn a_view_span_maps_back_to_the_original_characters() {
        let original = "say d\u{0435}v\u{0435}l\u{043E}p\u{0435}r mode";
        let view = NormalizedView::fold(original);
        let at = view.text().find("developer mode").expect("found");
        let span = view.map_span(at..at + "developer mode".len());
        assert_eq!(
            &original[span],
            "d\u{0435}v\u{0435}l\u{043E}p\u{0435}r mode"
        );
    }

    #[test]
    fn the_squeezed_view_drops_separators() {
        let view = NormalizedView::fold("ign ore, prev-ious!");
        assert_eq!(NormalizedView::squeeze(&view).text(), "ignoreprevious");
    }

    #[test]
    fn plain_prose_needs_no_view_but_evasions_do() {
        assert!(!profile("Please summarise the Q3 report for me.").needs_views());
        assert!(!profile("fn main() { let x86 = utf8::decode(h264); }").needs_views());
        assert!(profile("1gn0r3 that").needs_views());
        assert!(profile("i g n o r e").needs_views());
        assert!(profile("ig\u{200B}nore").needs_views());
        assert!(profile("d\u{0435}v").needs_views());
        assert!(!profile("Café crème à Paris").needs_views());
    }
}
