//! Hashed word and character n-grams of a text, the input of the linear model.
//!
//! The text is split on whitespace into tokens, each lowercased. A token gives:
//! - its word (the token without leading and trailing punctuation), as a word unigram, and a
//!   word bigram with the previous token's word;
//! - the character (byte) 2- to 5-grams of the token padded with one space on each side,
//!   so that n-grams never cross tokens and word starts and ends are marked.
//!
//! Each n-gram is hashed (FNV-1a, then the MurmurHash3 finaliser) into one of `DIM` slots of
//! its family. The features are binary: a family's vector is 1 for every slot that occurs,
//! divided by the square root of the family's n-gram count (occurrences, repeats included),
//! so that a score is the sum of the weights of the distinct slots over that root. On the
//! validation splits binary features beat counts by 0.01 F1: a count lets a repeated token
//! (`! ! ! !`, a word said ten times) outweigh the rest of the text.
//!
//! The engine feeds the normalised text (NFKC, confusables, zero-width stripped, leetspeak
//! folded) to these functions; training feeds the same normalisation of its examples.

use std::ops::Range;

/// Bits of a feature index.
pub const HASH_BITS: u32 = 20;
/// Slots per family.
pub const DIM: usize = 1 << HASH_BITS;
/// Character n-gram lengths.
const CHAR_MIN: usize = 2;
const CHAR_MAX: usize = 5;

const FNV_OFFSET: u32 = 0x811C_9DC5;
const FNV_PRIME: u32 = 0x0100_0193;
const SEED_WORD: u32 = 0x5717_0001;
const SEED_BIGRAM: u32 = 0x5717_0002;
const SEED_CHAR: u32 = 0x5717_0003;

/// The two feature families, each with its own `DIM` slots and normalisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// Word unigrams and bigrams.
    Word,
    /// Character 2- to 5-grams inside padded tokens.
    Char,
}

/// One n-gram occurrence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ngram {
    /// The token it belongs to (a bigram belongs to its second token).
    pub token: usize,
    pub family: Family,
    /// Whether it is a word bigram (its first token is `token - 1`).
    pub bigram: bool,
    /// Slot in the family, below `DIM`.
    pub index: u32,
}

fn fnv(seed: u32, bytes: &[u8]) -> u32 {
    let mut h = FNV_OFFSET ^ seed;
    for &b in bytes {
        h ^= u32::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

fn slot(h: u32) -> u32 {
    // MurmurHash3's 32-bit finaliser spreads FNV's low-entropy high bits.
    let mut h = h;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85EB_CA6B);
    h ^= h >> 13;
    h = h.wrapping_mul(0xC2B2_AE35);
    h ^= h >> 16;
    h >> (32 - HASH_BITS)
}

/// The whitespace-separated tokens of `text` with their byte spans.
pub fn token_spans(text: &str) -> Vec<Range<usize>> {
    let mut spans = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            if let Some(s) = start.take() {
                spans.push(s..i);
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        spans.push(s..text.len());
    }
    spans
}

/// Lowercases `token` into `out` as ` token ` (padded with one space each side).
fn padded_lowercase(token: &str, out: &mut Vec<u8>) {
    out.clear();
    out.push(b' ');
    if token.is_ascii() {
        out.extend(token.bytes().map(|b| b.to_ascii_lowercase()));
    } else {
        let mut buf = [0u8; 4];
        for c in token.chars().flat_map(char::to_lowercase) {
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
    out.push(b' ');
}

/// The word inside a padded lowercase token: without the padding and without leading and
/// trailing bytes that are ASCII punctuation (non-ASCII letters stay).
fn word_of(padded: &[u8]) -> &[u8] {
    let inner = &padded[1..padded.len() - 1];
    let start = inner
        .iter()
        .position(|b| !b.is_ascii_punctuation())
        .unwrap_or(inner.len());
    let end = inner
        .iter()
        .rposition(|b| !b.is_ascii_punctuation())
        .map_or(start, |p| p + 1);
    &inner[start..end]
}

/// Calls `f` for every n-gram of the tokens of `text` (as `token_spans` gives them), in
/// token order. `f` also gets the n-gram's lowercase bytes when `with_text` is set (for
/// evidence; a bigram's two words joined by a space), else an empty slice.
pub fn for_each_ngram(
    text: &str,
    spans: &[Range<usize>],
    with_text: bool,
    mut f: impl FnMut(Ngram, &[u8]),
) {
    let mut padded = Vec::with_capacity(64);
    let mut joined = Vec::new();
    let mut previous: Option<(u32, Vec<u8>)> = None;
    for (token, span) in spans.iter().enumerate() {
        padded_lowercase(&text[span.clone()], &mut padded);
        let word = word_of(&padded);
        if word.is_empty() {
            previous = None;
        } else {
            let h = fnv(SEED_WORD, word);
            let unigram = Ngram {
                token,
                family: Family::Word,
                bigram: false,
                index: slot(h),
            };
            f(unigram, if with_text { word } else { &[] });
            if let Some((prev_h, prev_word)) = &previous {
                let combined = (prev_h.wrapping_mul(FNV_PRIME) ^ h).wrapping_add(SEED_BIGRAM);
                let bigram = Ngram {
                    token,
                    family: Family::Word,
                    bigram: true,
                    index: slot(combined),
                };
                if with_text {
                    joined.clear();
                    joined.extend_from_slice(prev_word);
                    joined.push(b' ');
                    joined.extend_from_slice(word);
                    f(bigram, &joined);
                } else {
                    f(bigram, &[]);
                }
            }
            match &mut previous {
                Some((prev_h, prev_word)) => {
                    *prev_h = h;
                    if with_text {
                        prev_word.clear();
                        prev_word.extend_from_slice(word);
                    }
                }
                None => {
                    previous = Some((h, if with_text { word.to_vec() } else { Vec::new() }));
                }
            }
        }
        for start in 0..padded.len() {
            let mut h = FNV_OFFSET ^ SEED_CHAR;
            for (n, &b) in padded[start..].iter().take(CHAR_MAX).enumerate() {
                h ^= u32::from(b);
                h = h.wrapping_mul(FNV_PRIME);
                let len = n + 1;
                if len >= CHAR_MIN {
                    let gram = Ngram {
                        token,
                        family: Family::Char,
                        bigram: false,
                        index: slot(h),
                    };
                    f(
                        gram,
                        if with_text {
                            &padded[start..start + len]
                        } else {
                            &[]
                        },
                    );
                }
            }
        }
    }
}

/// A sparse feature vector of a whole text: `(family, slot, value)`, sorted, each slot once,
/// the value `1 / sqrt(n)` for a family with `n` n-gram occurrences.
#[derive(Debug, Clone, PartialEq)]
pub struct SparseVector {
    pub entries: Vec<(Family, u32, f32)>,
}

/// The feature vector of a whole text, as training sees it (the scorer sums the same values
/// per window).
pub fn vector(text: &str) -> SparseVector {
    let spans = token_spans(text);
    let mut word: Vec<u32> = Vec::new();
    let mut chars: Vec<u32> = Vec::new();
    for_each_ngram(text, &spans, false, |g, _| match g.family {
        Family::Word => word.push(g.index),
        Family::Char => chars.push(g.index),
    });
    let mut entries = Vec::with_capacity(word.len() + chars.len());
    for (family, mut slots) in [(Family::Word, word), (Family::Char, chars)] {
        if slots.is_empty() {
            continue;
        }
        #[allow(clippy::cast_precision_loss)]
        let value = 1.0 / (slots.len() as f32).sqrt();
        slots.sort_unstable();
        slots.dedup();
        entries.extend(slots.into_iter().map(|slot| (family, slot, value)));
    }
    SparseVector { entries }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grams(text: &str) -> Vec<(Family, bool, String)> {
        let spans = token_spans(text);
        let mut out = Vec::new();
        for_each_ngram(text, &spans, true, |g, t| {
            out.push((g.family, g.bigram, String::from_utf8_lossy(t).into_owned()));
        });
        out
    }

    #[test]
    fn a_token_gives_its_word_a_bigram_with_the_previous_word_and_padded_char_grams() {
        let got = grams("Ignore ALL!");
        let words: Vec<_> = got
            .iter()
            .filter(|g| g.0 == Family::Word)
            .map(|g| g.2.as_str())
            .collect();
        assert_eq!(words, vec!["ignore", "all", "ignore all"]);
        let chars: Vec<_> = got
            .iter()
            .filter(|g| g.0 == Family::Char)
            .map(|g| g.2.as_str())
            .collect();
        assert!(chars.contains(&" i"));
        assert!(chars.contains(&" ig"));
        assert!(chars.contains(&"nore "));
        assert!(chars.contains(&"ll! "));
        assert!(chars.iter().all(|c| (2..=5).contains(&c.len())));
    }

    #[test]
    fn punctuation_only_tokens_break_the_bigram_chain() {
        let got = grams("stop -- now");
        let words: Vec<_> = got
            .iter()
            .filter(|g| g.0 == Family::Word)
            .map(|g| g.2.as_str())
            .collect();
        assert_eq!(words, vec!["stop", "now"]);
    }

    #[test]
    fn case_does_not_change_the_features() {
        assert_eq!(
            vector("Ignore Previous ÄNWEISUNGEN"),
            vector("ignore previous änweisungen")
        );
    }

    #[test]
    fn the_vector_is_binary_over_the_root_of_the_family_s_occurrences() {
        let text = "stop stop stop now";
        let v = vector(text);
        let spans = token_spans(text);
        let (mut n_word, mut n_char) = (0u32, 0u32);
        for_each_ngram(text, &spans, false, |g, _| match g.family {
            Family::Word => n_word += 1,
            Family::Char => n_char += 1,
        });
        // Unigrams stop, stop, stop, now and bigrams stop stop (twice), stop now.
        assert_eq!(n_word, 7);
        for (family, n) in [(Family::Word, n_word), (Family::Char, n_char)] {
            let values: Vec<f32> = v
                .entries
                .iter()
                .filter(|e| e.0 == family)
                .map(|e| e.2)
                .collect();
            #[allow(clippy::cast_precision_loss)]
            let expected = 1.0 / (n as f32).sqrt();
            assert!(
                values.iter().all(|x| (*x - expected).abs() < 1e-6),
                "{family:?}"
            );
        }
        // Distinct word slots: stop, now, stop stop, stop now.
        assert_eq!(v.entries.iter().filter(|e| e.0 == Family::Word).count(), 4);
        assert!(v.entries.iter().all(|e| (e.1 as usize) < DIM));
    }
}
