//! Word statistics of a text (how many words, how many gibberish, whether one repeats as
//! a loop), computed once per text for the coherence tag and `ai_generated_content`.

use crate::normalize::words;

/// What coherence asks of a text's words (`normalize::words`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WordStats {
    /// How many words there are (`normalize::word_count`).
    pub count: usize,
    /// How many of them are gibberish.
    pub gibberish: usize,
    /// Whether one token repeats 8 times in a row.
    pub looped: bool,
}

impl WordStats {
    /// The statistics of a text, in one pass (byte by byte for ASCII text).
    pub fn of(text: &str) -> WordStats {
        if text.is_ascii() {
            ascii_word_stats(text.as_bytes())
        } else {
            word_stats(text)
        }
    }
}

/// `WordStats` word by word.
fn word_stats(text: &str) -> WordStats {
    let (mut count, mut gibberish, mut run, mut looped) = (0usize, 0usize, 1usize, false);
    let mut previous = None;
    for word in words(text) {
        count += 1;
        if previous == Some(word) {
            run += 1;
            looped |= run >= 8;
        } else {
            run = 1;
        }
        previous = Some(word);
        gibberish += usize::from(is_gibberish(word));
    }
    WordStats {
        count,
        gibberish,
        looped,
    }
}

/// Per ASCII byte, what it adds to a word's packed counts (`LETTERS`, `VOWELS` and
/// `SYMBOLS` fields of `FIELD_BITS` each; a symbol is neither a letter, a digit nor
/// common punctuation), or `SPACE` for a word boundary (ASCII `White_Space`).
static WORD_BYTE_COUNTS: [u64; 256] = {
    let mut table = [0u64; 256];
    let mut i = 0;
    while i < 128 {
        let b = i as u8;
        table[i] = if b == b' ' || b.wrapping_sub(b'\t') < 5 {
            SPACE
        } else if b.is_ascii_alphabetic() {
            match b.to_ascii_lowercase() {
                b'a' | b'e' | b'i' | b'o' | b'u' | b'y' => LETTERS | VOWELS,
                _ => LETTERS,
            }
        } else if b.is_ascii_digit()
            || matches!(
                b,
                b'.' | b',' | b';' | b':' | b'!' | b'?' | b'\'' | b'"' | b'(' | b')' | b'-'
            )
        {
            0
        } else {
            SYMBOLS
        };
        i += 1;
    }
    table
};

const FIELD_BITS: u32 = 21;
const FIELD: u64 = (1 << FIELD_BITS) - 1;
const LETTERS: u64 = 1;
const VOWELS: u64 = 1 << FIELD_BITS;
const SYMBOLS: u64 = 1 << (2 * FIELD_BITS);
const SPACE: u64 = 1 << 63;

/// `word_stats` for ASCII text: each word's letters, vowels and symbols summed from a
/// table in one pass (the consonant runs looked at only in words of 8 letters or more).
fn ascii_word_stats(bytes: &[u8]) -> WordStats {
    let (mut count, mut gibberish, mut run, mut looped) = (0usize, 0usize, 1usize, false);
    let mut previous: &[u8] = &[];
    let mut i = 0;
    loop {
        while bytes
            .get(i)
            .is_some_and(|b| WORD_BYTE_COUNTS[usize::from(*b)] & SPACE != 0)
        {
            i += 1;
        }
        if i == bytes.len() {
            break;
        }
        let start = i;
        let mut counts = 0u64;
        while let Some(&b) = bytes.get(i) {
            let add = WORD_BYTE_COUNTS[usize::from(b)];
            if add & SPACE != 0 {
                break;
            }
            counts = counts.wrapping_add(add);
            i += 1;
        }
        let word = &bytes[start..i];
        if count > 0 && previous == word {
            run += 1;
            looped |= run >= 8;
        } else {
            run = 1;
        }
        previous = word;
        count += 1;
        let gibberish_word = if word.len() > FIELD as usize {
            // The packed counts may have overflowed.
            is_gibberish_ascii(word)
        } else {
            let letters = counts & FIELD;
            let vowels = (counts >> FIELD_BITS) & FIELD;
            let symbols = (counts >> (2 * FIELD_BITS)) & FIELD;
            symbols as usize * 2 > word.len()
                || letters >= 6 && vowels == 0
                || letters >= 8 && longest_consonant_run(word) >= 6
        };
        gibberish += usize::from(gibberish_word);
    }
    WordStats {
        count,
        gibberish,
        looped,
    }
}

/// The longest run of ASCII consonants (letters other than `aeiouy`) in a word.
fn longest_consonant_run(word: &[u8]) -> usize {
    let (mut consonants, mut longest) = (0, 0);
    for &b in word {
        if b.is_ascii_alphabetic() && !is_vowel(b) {
            consonants += 1;
            longest = longest.max(consonants);
        } else {
            consonants = 0;
        }
    }
    longest
}

fn is_vowel(b: u8) -> bool {
    matches!(
        b.to_ascii_lowercase(),
        b'a' | b'e' | b'i' | b'o' | b'u' | b'y'
    )
}

fn is_gibberish(word: &str) -> bool {
    let bytes = word.as_bytes();
    if !word.is_ascii() {
        let symbols = word
            .chars()
            .filter(|c| !c.is_alphanumeric() && !".,;:!?'\"()-".contains(*c))
            .count();
        return symbols * 2 > word.chars().count();
    }
    is_gibberish_ascii(bytes)
}

/// `is_gibberish` for an ASCII word.
fn is_gibberish_ascii(bytes: &[u8]) -> bool {
    let mut letters = 0;
    let mut vowels = 0;
    let mut symbols = 0;
    let mut consonants = 0;
    let mut longest = 0;
    for &b in bytes {
        if b.is_ascii_alphabetic() {
            letters += 1;
            if is_vowel(b) {
                vowels += 1;
                consonants = 0;
            } else {
                consonants += 1;
                longest = longest.max(consonants);
            }
        } else {
            consonants = 0;
            if !b.is_ascii_digit() && !b".,;:!?'\"()-".contains(&b) {
                symbols += 1;
            }
        }
    }
    symbols * 2 > bytes.len() || letters >= 6 && vowels == 0 || letters >= 8 && longest >= 6
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn ascii_word_statistics_match_the_word_by_word_ones(
            parts in prop::collection::vec(prop_oneof![
                Just("buy ".to_owned()),
                Just("buy".to_owned()),
                Just("xkcdqwrt ".to_owned()),
                Just("strengths ".to_owned()),
                Just("schtschbcdfg ".to_owned()),
                Just("rhythmsbcd ".to_owned()),
                Just("#$%^& ".to_owned()),
                Just("(a), ".to_owned()),
                Just("\t\n\x0b\x0c\r ".to_owned()),
                "[a-zA-Z0-9 .,;:!?'\"()#$%-]{0,12}",
            ], 0..40)
        ) {
            let text = parts.concat();
            prop_assert_eq!(ascii_word_stats(text.as_bytes()), word_stats(&text));
        }

        #[test]
        fn the_shared_word_count_is_the_word_count(text in prop_oneof![any::<String>(), "[a-z \t\n\x0b\x0c\r.]{0,60}"]) {
            prop_assert_eq!(WordStats::of(&text).count, crate::normalize::word_count(&text));
        }
    }
}
