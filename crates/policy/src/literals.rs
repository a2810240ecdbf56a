//! The literal index: the rule anchors and lexicon pieces of every policy of a set in one
//! automaton, so one pass over a message tells which of them occur.

use std::ops::Range;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use crate::error::PolicyConfigError;

/// What counts as part of a word for whole-word phrase matching.
pub(crate) fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// Where a literal must occur to count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Boundary {
    /// Anywhere.
    Any,
    /// As a whole word of a lexicon: no letter, digit, `_` or non-ASCII byte either side.
    Word,
    /// With no ASCII letter or digit either side.
    Alphanumeric,
}

impl Boundary {
    fn holds(self, haystack: &[u8], span: Range<usize>) -> bool {
        let inner: fn(u8) -> bool = match self {
            Boundary::Any => return true,
            Boundary::Word => is_word_byte,
            Boundary::Alphanumeric => |b: u8| b.is_ascii_alphanumeric(),
        };
        let before = span.start.checked_sub(1).map(|j| haystack[j]);
        let after = haystack.get(span.end).copied();
        !before.is_some_and(inner) && !after.is_some_and(inner)
    }
}

/// Where one consumer's literals sit in a literal index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LiteralSlot {
    start: usize,
    len: usize,
}

/// Collects the literals (rule anchors, lexicon pieces) of every policy of a set.
#[derive(Debug, Default)]
pub(crate) struct LiteralRegistry {
    patterns: Vec<String>,
    boundaries: Vec<Boundary>,
}

impl LiteralRegistry {
    /// Appends literals (ASCII case-insensitive) that count where `boundary` holds, and
    /// returns where they sit.
    pub fn add(
        &mut self,
        literals: impl IntoIterator<Item = String>,
        boundary: Boundary,
    ) -> LiteralSlot {
        let start = self.patterns.len();
        self.patterns.extend(literals);
        self.boundaries.resize(self.patterns.len(), boundary);
        LiteralSlot {
            start,
            len: self.patterns.len() - start,
        }
    }

    pub fn build(self) -> Result<LiteralIndex, PolicyConfigError> {
        let automaton = if self.patterns.is_empty() {
            None
        } else {
            Some(
                AhoCorasickBuilder::new()
                    .kind(Some(aho_corasick::AhoCorasickKind::DFA))
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::Standard)
                    .build(&self.patterns)
                    .map_err(|e| PolicyConfigError::InvalidParam {
                        policy: "encoded_attacks",
                        param: "literal index".into(),
                        problem: e.to_string(),
                    })?,
            )
        };
        Ok(LiteralIndex {
            automaton,
            len: self.patterns.len(),
            boundaries: self.boundaries,
        })
    }
}

/// Every policy's literals in one automaton: one overlapping pass over a message tells
/// which of them occur, in place of one anchor pass per rule set and lexicon.
#[derive(Debug, Clone)]
pub(crate) struct LiteralIndex {
    automaton: Option<AhoCorasick>,
    len: usize,
    boundaries: Vec<Boundary>,
}

impl LiteralIndex {
    /// The literals that occur in `haystack`.
    pub fn scan(&self, haystack: &[u8]) -> Present {
        let mut bits = vec![0u64; self.len.div_ceil(64)];
        if let Some(ac) = &self.automaton {
            for m in ac.find_overlapping_iter(haystack) {
                let i = m.pattern().as_usize();
                if self.boundaries[i].holds(haystack, m.range()) {
                    bits[i / 64] |= 1 << (i % 64);
                }
            }
        }
        Present { bits }
    }
}

/// The literals of an index found in one message.
#[derive(Debug, Clone)]
pub(crate) struct Present {
    bits: Vec<u64>,
}

impl Present {
    fn has(&self, i: usize) -> bool {
        self.bits[i / 64] & (1 << (i % 64)) != 0
    }

    /// Whether any literal of the slot occurs.
    pub fn any(&self, slot: LiteralSlot) -> bool {
        (slot.start..slot.start + slot.len).any(|i| self.has(i))
    }

    /// The slot's literals that occur, as indexes within the slot.
    pub fn found(&self, slot: LiteralSlot) -> impl Iterator<Item = usize> + '_ {
        (0..slot.len).filter(move |i| self.has(slot.start + i))
    }
}
