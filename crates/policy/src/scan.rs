//! A text under scan and what a scan finds: the lazily built normalised views, code
//! regions, word statistics and literal hits shared by every policy that reads the text.

use std::cell::OnceCell;
use std::ops::Range;

use serde::Serialize;

use crate::classifier::model::Score;
use crate::code::{code_regions, CodeRegion};
use crate::literals::{LiteralIndex, Present};
use crate::normalize::{profile, NormalizedView, TextProfile};
use crate::word_stats::WordStats;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

/// N-grams shown as the evidence of a classifier finding.
pub(crate) const CLASSIFIER_EVIDENCE_NGRAMS: usize = 3;

/// A raw hit of a detector, in the coordinates of the text it scanned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hit {
    pub rule: String,
    pub span: Range<usize>,
    pub severity: Severity,
    pub evidence: String,
}

/// A text under scan with its lazily built normalised views.
pub(crate) struct ScanText<'t> {
    pub text: &'t str,
    pub profile: TextProfile,
    folded: OnceCell<NormalizedView>,
    squeezed: OnceCell<NormalizedView>,
    code: OnceCell<Vec<CodeRegion>>,
    words: OnceCell<WordStats>,
    index: Option<&'t LiteralIndex>,
    literals: OnceCell<Present>,
    classifier: OnceCell<Option<Score>>,
    classifier_grams: OnceCell<Vec<String>>,
}

impl<'t> ScanText<'t> {
    pub fn new(text: &'t str) -> ScanText<'t> {
        ScanText {
            text,
            profile: profile(text),
            folded: OnceCell::new(),
            squeezed: OnceCell::new(),
            code: OnceCell::new(),
            words: OnceCell::new(),
            index: None,
            literals: OnceCell::new(),
            classifier: OnceCell::new(),
            classifier_grams: OnceCell::new(),
        }
    }

    /// A message of a compiled set, whose policies' literals are found in one pass the
    /// first time a policy asks for them.
    pub(crate) fn with_index(text: &'t str, index: &'t LiteralIndex) -> ScanText<'t> {
        ScanText {
            index: Some(index),
            ..ScanText::new(text)
        }
    }

    /// The literals of the set's index that occur in the text, or `None` for a text
    /// scanned without an index (a decoded payload, a unit test).
    pub fn literals(&self) -> Option<&Present> {
        let index = self.index?;
        Some(
            self.literals
                .get_or_init(|| index.scan(self.text.as_bytes())),
        )
    }

    /// Code regions with at least `min_lines` code-like lines (fenced blocks always), found
    /// once per text and shared by the policies that skip or report code.
    pub fn code_regions(&self, min_lines: usize) -> impl Iterator<Item = &CodeRegion> {
        self.code
            .get_or_init(|| code_regions(self.text, 1))
            .iter()
            .filter(move |r| r.fenced || r.code_lines >= min_lines)
    }

    /// The text's word count and coherence statistics, computed once and shared by the
    /// coherence tag and `ai_generated_content`.
    pub fn word_stats(&self) -> WordStats {
        *self.words.get_or_init(|| WordStats::of(self.text))
    }

    /// The folded view, or `None` when it could only differ from the text in ASCII case and
    /// whitespace (which the rules already tolerate).
    pub fn folded(&self) -> Option<&NormalizedView> {
        if !self.profile.needs_views() {
            return None;
        }
        Some(self.folded.get_or_init(|| NormalizedView::fold(self.text)))
    }

    /// The text the classifier scores: the folded view, or the text itself when the view
    /// could only differ in ASCII case and whitespace (the features lowercase it).
    pub fn classifier_text(&self) -> &str {
        self.folded().map_or(self.text, NormalizedView::text)
    }

    /// The classifier's score, computed once per text and shared by the policies that
    /// report it; `None` for a text without words.
    pub fn classifier_score(&self) -> Option<&Score> {
        self.classifier
            .get_or_init(|| crate::classifier::builtin().score(self.classifier_text()))
            .as_ref()
    }

    /// The `CLASSIFIER_EVIDENCE_NGRAMS` n-grams of the classifier's best window that add
    /// most to its score, computed once per text and shared by the policies that report the
    /// score; empty for a text without words.
    pub fn classifier_top_ngrams(&self) -> &[String] {
        self.classifier_grams.get_or_init(|| {
            let Some(score) = self.classifier_score() else {
                return Vec::new();
            };
            // The window alone, tokenised from its first token to its last, has exactly
            // the window's tokens: the model need not split the whole text again.
            let window = &self.classifier_text()[score.span.clone()];
            crate::classifier::builtin().top_ngrams(
                window,
                0..score.tokens.len(),
                CLASSIFIER_EVIDENCE_NGRAMS,
            )
        })
    }

    /// A score's window as a byte range of the original text.
    pub fn classifier_span(&self, score: &Score) -> Range<usize> {
        match self.folded() {
            Some(view) => view.map_span(score.span.clone()),
            None => score.span.clone(),
        }
    }

    /// The squeezed view (letters and digits only), under the same condition.
    pub fn squeezed(&self) -> Option<&NormalizedView> {
        let folded = self.folded()?;
        Some(
            self.squeezed
                .get_or_init(|| NormalizedView::squeeze(folded)),
        )
    }
}

/// Widens a byte range to the enclosing char boundaries, clamped to the text.
pub(crate) fn snap_to_char_boundaries(text: &str, span: Range<usize>) -> Range<usize> {
    let mut start = span.start.min(text.len());
    let mut end = span.end.clamp(start, text.len());
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    while !text.is_char_boundary(end) {
        end += 1;
    }
    start..end
}

#[cfg(test)]
mod tests {
    use super::*;

    use proptest::prelude::*;

    /// Texts of up to a few hundred tokens (so that the best window is often not the first),
    /// from attack and ordinary words, punctuation, arbitrary characters and mixed
    /// whitespace.
    fn windowed_text() -> impl Strategy<Value = String> {
        let word = prop_oneof![
            Just("ignore"),
            Just("all"),
            Just("previous"),
            Just("instructions"),
            Just("You"),
            Just("are"),
            Just("DAN,"),
            Just("without"),
            Just("restrictions."),
            Just("system"),
            Just("prompt:"),
            Just("the"),
            Just("quarterly"),
            Just("report"),
            Just("fn main() {"),
            Just("\"\""),
            Just("…"),
            Just("d\u{0435}v"),
        ]
        .prop_map(str::to_owned);
        let token = prop_oneof![
            6 => word,
            1 => "[a-z0-9_'.,!?-]{1,9}",
            1 => any::<char>().prop_map(String::from),
        ];
        let gap = prop_oneof![
            Just(" "),
            Just("  "),
            Just("\n"),
            Just("\t"),
            Just("\u{00A0}"),
            Just("\u{3000}")
        ];
        prop::collection::vec((token, gap), 0..400).prop_map(|parts| {
            parts
                .into_iter()
                .map(|(t, g)| format!("{t}{g}"))
                .collect::<String>()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn the_shared_top_ngrams_of_the_window_are_the_model_s_top_ngrams_over_the_whole_text(text in windowed_text()) {
            let scan = ScanText::new(&text);
            let expected = scan.classifier_score().map_or_else(Vec::new, |score| {
                crate::classifier::builtin().top_ngrams(
                    scan.classifier_text(),
                    score.tokens.clone(),
                    CLASSIFIER_EVIDENCE_NGRAMS,
                )
            });
            prop_assert_eq!(scan.classifier_top_ngrams(), expected.as_slice());
        }
    }

    #[test]
    fn snapping_widens_to_char_boundaries() {
        let text = "aé b";
        assert_eq!(snap_to_char_boundaries(text, 2..3), 1..3);
        assert_eq!(snap_to_char_boundaries(text, 0..99), 0..text.len());
    }
}
