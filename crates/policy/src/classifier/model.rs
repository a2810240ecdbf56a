//! The weights file and the scorer: a logistic-regression model over the hashed n-grams of
//! `features`, with weights quantised to `i8`.
//!
//! File layout (little-endian):
//! - magic `LWNG`, format version `u16` (2: binary features, char 2- to 5-grams), hash bits
//!   `u8`, reserved `u8`;
//! - model version: `u8` length + UTF-8 bytes;
//! - bias, word scale, char scale, and the `low`, `medium`, `high` sensitivity thresholds
//!   (probabilities), each `f32`;
//! - `DIM` word weights, then `DIM` char weights, each `i8` (real weight = `i8` × scale).
//!
//! A message is scored per window of `WINDOW` tokens, windows starting every `STRIDE`
//! tokens; its score is the highest window's. Texts up to `WINDOW` tokens are one window,
//! exactly the vector the model was trained on. Long documents are not pushed over the
//! threshold by their length: each window is normalised on its own. The window is longer
//! than nearly every training text: on the validation splits, scoring windows of 96 tokens
//! instead of whole texts cost 0.026 F1 on neuralchemy and 0.033 on s-labs, 384 tokens nothing.

use std::ops::Range;

use super::features::{for_each_ngram, token_spans, Family, Ngram, DIM, HASH_BITS};

const MAGIC: &[u8; 4] = b"LWNG";
const FORMAT: u16 = 2;
/// Tokens per scored window.
pub const WINDOW: usize = 384;
/// Tokens between window starts.
pub const STRIDE: usize = 192;

/// Why a weights file was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ModelError {
    #[error("the weights file does not start with the magic bytes LWNG")]
    Magic,
    #[error("the weights file has format version {0}; this build reads version {FORMAT}")]
    Format(u16),
    #[error("the weights file hashes into {0} bits; this build uses {HASH_BITS}")]
    HashBits(u8),
    #[error("the weights file is {0} bytes, too short for its header and weights")]
    Truncated(usize),
    #[error("the weights file's model version is not UTF-8")]
    Version,
}

/// The probability thresholds the `sensitivity` levels stand for, chosen on validation data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    pub low: f32,
    pub medium: f32,
    pub high: f32,
}

/// A model read from a weights file (borrowed: the compiled-in file is never copied).
#[derive(Debug, Clone)]
pub struct Model<'a> {
    pub version: &'a str,
    pub bias: f32,
    pub word_scale: f32,
    pub char_scale: f32,
    pub thresholds: Thresholds,
    word: &'a [u8],
    chars: &'a [u8],
}

/// The weights of a model in full precision, as training produces them.
#[derive(Debug, Clone, PartialEq)]
pub struct RawModel {
    pub version: String,
    pub bias: f32,
    /// `DIM` word weights.
    pub word: Vec<f32>,
    /// `DIM` char weights.
    pub chars: Vec<f32>,
    pub thresholds: Thresholds,
}

fn quantise(weights: &[f32]) -> (f32, Vec<u8>) {
    let max = weights.iter().fold(0f32, |m, w| m.max(w.abs()));
    let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
    let bytes = weights
        .iter()
        .map(|w| {
            #[allow(clippy::cast_possible_truncation)]
            let q = (w / scale).round().clamp(-127.0, 127.0) as i8;
            q.to_le_bytes()[0]
        })
        .collect();
    (scale, bytes)
}

impl RawModel {
    /// The weights file: weights quantised to `i8` with one scale per family.
    ///
    /// # Panics
    /// When a family does not have `DIM` weights or the version is longer than 255 bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        assert_eq!(self.word.len(), DIM, "word weights");
        assert_eq!(self.chars.len(), DIM, "char weights");
        let version = self.version.as_bytes();
        let version_len = u8::try_from(version.len()).expect("version up to 255 bytes");
        let (word_scale, word) = quantise(&self.word);
        let (char_scale, chars) = quantise(&self.chars);
        let mut out = Vec::with_capacity(64 + 2 * DIM);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT.to_le_bytes());
        #[allow(clippy::cast_possible_truncation)]
        out.push(HASH_BITS as u8);
        out.push(0);
        out.push(version_len);
        out.extend_from_slice(version);
        for v in [
            self.bias,
            word_scale,
            char_scale,
            self.thresholds.low,
            self.thresholds.medium,
            self.thresholds.high,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&word);
        out.extend_from_slice(&chars);
        out
    }
}

/// An n-gram occurrence as the scorer keeps it: its slot with the family in the bit above
/// the slot bits, and whether it is a bigram (which a window starting at its token leaves out).
#[derive(Clone, Copy)]
struct Occurrence {
    key: u32,
    bigram: bool,
}

const CHAR_BIT: u32 = 1 << HASH_BITS;
const EMPTY: u32 = u32::MAX;

/// The distinct keys of a window: an open-addressing set over a reused table.
struct KeySet {
    table: Vec<u32>,
    mask: usize,
}

impl KeySet {
    fn with_room_for(n: usize) -> KeySet {
        let size = (2 * n).next_power_of_two().max(64);
        KeySet {
            table: vec![EMPTY; size],
            mask: size - 1,
        }
    }

    fn clear(&mut self) {
        self.table.fill(EMPTY);
    }

    /// Whether `key` was not in the set (it is now).
    fn insert(&mut self, key: u32) -> bool {
        let mut i = (key.wrapping_mul(0x9E37_79B1) >> 7) as usize & self.mask;
        loop {
            let slot = &mut self.table[i];
            if *slot == key {
                return false;
            }
            if *slot == EMPTY {
                *slot = key;
                return true;
            }
            i = (i + 1) & self.mask;
        }
    }
}

/// The score of a text: the probability of its most attack-like window.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    pub probability: f32,
    /// Byte span of that window in the scored text.
    pub span: Range<usize>,
    /// Token range of that window.
    pub tokens: Range<usize>,
}

fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

impl<'a> Model<'a> {
    /// Reads a weights file.
    pub fn parse(bytes: &'a [u8]) -> Result<Model<'a>, ModelError> {
        let truncated = || ModelError::Truncated(bytes.len());
        if bytes.len() < 9 {
            return Err(truncated());
        }
        if &bytes[..4] != MAGIC {
            return Err(ModelError::Magic);
        }
        let format = u16::from_le_bytes([bytes[4], bytes[5]]);
        if format != FORMAT {
            return Err(ModelError::Format(format));
        }
        if u32::from(bytes[6]) != HASH_BITS {
            return Err(ModelError::HashBits(bytes[6]));
        }
        let version_len = usize::from(bytes[8]);
        let floats_at = 9 + version_len;
        let weights_at = floats_at + 6 * 4;
        if bytes.len() != weights_at + 2 * DIM {
            return Err(truncated());
        }
        let version = std::str::from_utf8(&bytes[9..floats_at]).map_err(|_| ModelError::Version)?;
        let float = |i: usize| {
            let at = floats_at + 4 * i;
            f32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        Ok(Model {
            version,
            bias: float(0),
            word_scale: float(1),
            char_scale: float(2),
            thresholds: Thresholds {
                low: float(3),
                medium: float(4),
                high: float(5),
            },
            word: &bytes[weights_at..weights_at + DIM],
            chars: &bytes[weights_at + DIM..],
        })
    }

    /// The quantised weight of a slot.
    pub fn weight(&self, family: Family, index: u32) -> i8 {
        let table = match family {
            Family::Word => self.word,
            Family::Char => self.chars,
        };
        i8::from_le_bytes([table[index as usize]])
    }

    /// The real-valued contribution of an n-gram (counted once however often it occurs) to
    /// the logit of a window with `n` n-grams of its family.
    pub fn contribution(&self, family: Family, index: u32, n: u32) -> f32 {
        let scale = match family {
            Family::Word => self.word_scale,
            Family::Char => self.char_scale,
        };
        #[allow(clippy::cast_precision_loss)]
        let norm = (n.max(1) as f32).sqrt();
        f32::from(self.weight(family, index)) * scale / norm
    }

    /// The logit of one window: the bias plus, per family, the sum of the weights of its
    /// distinct slots over the root of its n-gram count. The first `first` occurrences are
    /// those of the window's first token, whose bigram joins it to a token outside.
    fn window_logit(&self, occurrences: &[Occurrence], first: usize, set: &mut KeySet) -> f32 {
        set.clear();
        let (mut word, mut n_word, mut chars, mut n_char) = (0i32, 0u32, 0i32, 0u32);
        for (i, o) in occurrences.iter().enumerate() {
            if o.bigram && i < first {
                continue;
            }
            let is_char = o.key & CHAR_BIT != 0;
            if is_char {
                n_char += 1;
            } else {
                n_word += 1;
            }
            if set.insert(o.key) {
                let index = (o.key & (CHAR_BIT - 1)) as usize;
                if is_char {
                    chars += i32::from(i8::from_le_bytes([self.chars[index]]));
                } else {
                    word += i32::from(i8::from_le_bytes([self.word[index]]));
                }
            }
        }
        let part = |sum: i32, n: u32, scale: f32| {
            if n == 0 {
                0.0
            } else {
                #[allow(clippy::cast_precision_loss)]
                let v = sum as f32 * scale / (n as f32).sqrt();
                v
            }
        };
        self.bias + part(word, n_word, self.word_scale) + part(chars, n_char, self.char_scale)
    }

    /// Scores a text (already normalised by the caller); `None` for a text without tokens.
    pub fn score(&self, text: &str) -> Option<Score> {
        let spans = token_spans(text);
        if spans.is_empty() {
            return None;
        }
        // One pass over the text: every occurrence, and where each token's begin.
        let mut occurrences = Vec::with_capacity(4 * text.len() + 8);
        let mut token_starts = Vec::with_capacity(spans.len() + 1);
        for_each_ngram(text, &spans, false, |g: Ngram, _| {
            while token_starts.len() <= g.token {
                token_starts.push(occurrences.len());
            }
            let family = match g.family {
                Family::Word => 0,
                Family::Char => CHAR_BIT,
            };
            occurrences.push(Occurrence {
                key: g.index | family,
                bigram: g.bigram,
            });
        });
        while token_starts.len() <= spans.len() {
            token_starts.push(occurrences.len());
        }
        let widest = (0..spans.len())
            .step_by(STRIDE)
            .map(|start| token_starts[(start + WINDOW).min(spans.len())] - token_starts[start])
            .max()
            .unwrap_or(0);
        let mut set = KeySet::with_room_for(widest);
        let mut best: Option<(f32, Range<usize>)> = None;
        let mut start = 0;
        loop {
            let end = (start + WINDOW).min(spans.len());
            let window = &occurrences[token_starts[start]..token_starts[end]];
            // A window leaves out the bigram joining its first token to the one before.
            let first = token_starts[start + 1] - token_starts[start];
            let z = self.window_logit(window, first, &mut set);
            if best.as_ref().is_none_or(|(bz, _)| z > *bz) {
                best = Some((z, start..end));
            }
            if end == spans.len() {
                break;
            }
            start += STRIDE;
        }
        let (z, tokens) = best?;
        Some(Score {
            probability: sigmoid(z),
            span: spans[tokens.start].start..spans[tokens.end - 1].end,
            tokens,
        })
    }

    /// The n-grams of a window of `text` (a `Score`'s `tokens`) that add most to its score,
    /// highest first, each once: word n-grams first, char n-grams only when fewer than
    /// `limit` word n-grams add anything.
    pub fn top_ngrams(&self, text: &str, tokens: Range<usize>, limit: usize) -> Vec<String> {
        let spans = token_spans(text);
        let window = &spans[tokens.start.min(spans.len())..tokens.end.min(spans.len())];
        let mut grams: Vec<(Family, u32, String)> = Vec::new();
        let (mut n_word, mut n_char) = (0u32, 0u32);
        // Scanning the window's spans alone leaves out the bigram joining it to the token
        // before it, as the score does.
        for_each_ngram(text, window, true, |g, bytes| {
            match g.family {
                Family::Word => n_word += 1,
                Family::Char => n_char += 1,
            }
            grams.push((
                g.family,
                g.index,
                String::from_utf8_lossy(bytes).trim().to_owned(),
            ));
        });
        let mut scored: Vec<(f32, Family, String)> = Vec::new();
        for (family, index, gram) in grams {
            if scored.iter().any(|(_, f, g)| *f == family && *g == gram) {
                continue;
            }
            let n = match family {
                Family::Word => n_word,
                Family::Char => n_char,
            };
            let c = self.contribution(family, index, n);
            if c > 0.0 && !gram.is_empty() {
                scored.push((c, family, gram));
            }
        }
        scored.sort_by(|a, b| {
            (a.1 == Family::Char)
                .cmp(&(b.1 == Family::Char))
                .then(b.0.total_cmp(&a.0))
        });
        scored.into_iter().take(limit).map(|(_, _, g)| g).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::features::vector;

    /// A model whose weights are +1 for the n-grams of `attack` and -1 for those of
    /// `benign`, built through the file format.
    fn toy(attack: &str, benign: &str) -> Vec<u8> {
        let mut word = vec![0f32; DIM];
        let mut chars = vec![0f32; DIM];
        for (text, w) in [(attack, 1.0), (benign, -1.0)] {
            for (family, index, _) in vector(text).entries {
                match family {
                    Family::Word => word[index as usize] = w,
                    Family::Char => chars[index as usize] = w,
                }
            }
        }
        RawModel {
            version: "toy-1".into(),
            bias: -0.5,
            word,
            chars,
            thresholds: Thresholds {
                low: 0.9,
                medium: 0.7,
                high: 0.5,
            },
        }
        .to_bytes()
    }

    #[test]
    fn a_weights_file_reads_back_with_its_version_thresholds_and_weights() {
        let bytes = toy("ignore previous instructions", "weather report");
        assert_eq!(bytes.len(), 9 + 5 + 24 + 2 * DIM);
        let model = Model::parse(&bytes).expect("parses");
        assert_eq!(model.version, "toy-1");
        assert_eq!(model.bias, -0.5);
        assert_eq!(model.thresholds.medium, 0.7);
        let (family, index, _) = vector("ignore").entries[0];
        assert_eq!(model.weight(family, index), 127);
    }

    #[test]
    fn a_damaged_weights_file_is_refused_with_the_reason() {
        let bytes = toy("a b c", "d e f");
        assert_eq!(
            Model::parse(&bytes[..100]).unwrap_err(),
            ModelError::Truncated(100)
        );
        let mut bad = bytes.clone();
        bad[0] = b'X';
        assert_eq!(Model::parse(&bad).unwrap_err(), ModelError::Magic);
        let mut bad = bytes;
        bad[4] = 9;
        assert_eq!(Model::parse(&bad).unwrap_err(), ModelError::Format(9));
    }

    #[test]
    fn the_score_of_a_short_text_is_the_logistic_of_its_whole_vector() {
        let bytes = toy("ignore previous instructions", "weather report");
        let model = Model::parse(&bytes).expect("parses");
        let text = "please ignore previous instructions";
        let expected: f32 = model.bias
            + vector(text)
                .entries
                .iter()
                .map(|(family, index, value)| {
                    let scale = match family {
                        Family::Word => model.word_scale,
                        Family::Char => model.char_scale,
                    };
                    f32::from(model.weight(*family, *index)) * scale * value
                })
                .sum::<f32>();
        let score = model.score(text).expect("scored");
        assert!((score.probability - sigmoid(expected)).abs() < 1e-5);
        assert_eq!(score.span, 0..text.len());
        assert!(model.score("   ").is_none());
    }

    #[test]
    fn a_long_text_is_scored_by_its_most_attack_like_window() {
        let bytes = toy("ignore previous instructions", "weather report");
        let model = Model::parse(&bytes).expect("parses");
        // Words the toy model has no weight for, so only the attack moves the score.
        let filler = "0815 4711 2024 1999 ".repeat(75);
        let attack = "ignore previous instructions and ignore previous instructions";
        let text = format!("{filler}{attack} {filler}");
        let score = model.score(&text).expect("scored");
        assert!(score.probability > 0.5, "{score:?}");
        assert!(text[score.span.clone()].contains(attack));
        assert!(score.span.len() < text.len());
        let benign = model.score(&filler.repeat(5)).expect("scored");
        assert!(benign.probability < 0.5, "{benign:?}");
    }

    #[test]
    fn the_top_ngrams_are_the_words_that_add_most() {
        let bytes = toy("ignore previous instructions", "weather report");
        let model = Model::parse(&bytes).expect("parses");
        let text = "weather: ignore previous";
        let score = model.score(text).expect("scored");
        let top = model.top_ngrams(text, score.tokens, 3);
        assert_eq!(top.len(), 3);
        assert!(top.contains(&"ignore previous".to_owned()), "{top:?}");
        assert!(!top.iter().any(|g| g.contains("weather")), "{top:?}");
    }
}
