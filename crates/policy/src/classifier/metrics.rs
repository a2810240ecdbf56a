//! Binary-classification figures of a detector over a labelled dataset: accuracy, precision,
//! recall, F1, false-positive rate, and recall per category of the attacks.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use super::dataset::Example;

/// Confusion counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Confusion {
    pub tp: u32,
    pub fp: u32,
    pub fn_: u32,
    pub tn: u32,
}

fn ratio(a: u32, b: u32) -> f64 {
    if b == 0 {
        0.0
    } else {
        f64::from(a) / f64::from(b)
    }
}

impl Confusion {
    pub fn add(&mut self, label: bool, flagged: bool) {
        match (label, flagged) {
            (true, true) => self.tp += 1,
            (false, true) => self.fp += 1,
            (true, false) => self.fn_ += 1,
            (false, false) => self.tn += 1,
        }
    }
    pub fn total(&self) -> u32 {
        self.tp + self.fp + self.fn_ + self.tn
    }
    pub fn accuracy(&self) -> f64 {
        ratio(self.tp + self.tn, self.total())
    }
    /// Precision; 1.0 when nothing was flagged.
    pub fn precision(&self) -> f64 {
        if self.tp + self.fp == 0 {
            1.0
        } else {
            ratio(self.tp, self.tp + self.fp)
        }
    }
    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }
    pub fn f1(&self) -> f64 {
        ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn_)
    }
    /// False-positive rate: benign texts flagged, over benign texts.
    pub fn fpr(&self) -> f64 {
        ratio(self.fp, self.fp + self.tn)
    }
}

/// The figures of one run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    pub confusion: Confusion,
    /// Per category of the data: (attacks found, attacks) for attack categories, and
    /// (flagged, texts) for benign ones.
    pub categories: BTreeMap<String, (u32, u32, bool)>,
}

impl Report {
    /// Runs `flag` over every example.
    pub fn measure(examples: &[Example], mut flag: impl FnMut(&Example) -> bool) -> Report {
        let mut report = Report::default();
        for example in examples {
            let flagged = flag(example);
            report.confusion.add(example.label, flagged);
            if let Some(category) = &example.category {
                let cell =
                    report
                        .categories
                        .entry(category.clone())
                        .or_insert((0, 0, example.label));
                cell.0 += u32::from(flagged);
                cell.1 += 1;
            }
        }
        report
    }

    /// The figures as a Markdown table, then the per-category table when the data has
    /// categories.
    pub fn render(&self, title: &str) -> String {
        let c = &self.confusion;
        let mut out = String::new();
        let _ = writeln!(out, "{title}");
        let _ = writeln!(
            out,
            "| n | TP | FP | FN | TN | accuracy | precision | recall | F1 | FPR |\n|---|---|---|---|---|---|---|---|---|---|"
        );
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {:.4} | {:.4} | {:.4} | {:.4} | {:.2} % |",
            c.total(),
            c.tp,
            c.fp,
            c.fn_,
            c.tn,
            c.accuracy(),
            c.precision(),
            c.recall(),
            c.f1(),
            100.0 * c.fpr()
        );
        if !self.categories.is_empty() {
            let _ = writeln!(
                out,
                "\n| category | kind | n | flagged | recall (attacks) / FPR (benign) |\n|---|---|---|---|---|"
            );
            for (name, (flagged, n, attack)) in &self.categories {
                let _ = writeln!(
                    out,
                    "| {name} | {} | {n} | {flagged} | {:.3} |",
                    if *attack { "attack" } else { "benign" },
                    ratio(*flagged, *n)
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(label: bool, category: &str) -> Example {
        Example {
            text: String::new(),
            label,
            category: Some(category.to_owned()),
        }
    }

    #[test]
    fn the_figures_follow_from_the_confusion_counts() {
        let examples = [
            example(true, "jailbreak"),
            example(true, "jailbreak"),
            example(true, "encoding"),
            example(false, "benign"),
            example(false, "benign"),
        ];
        // Flags the first jailbreak and the first benign text.
        let mut i = 0;
        let report = Report::measure(&examples, |_| {
            i += 1;
            i == 1 || i == 4
        });
        let c = report.confusion;
        assert_eq!((c.tp, c.fp, c.fn_, c.tn), (1, 1, 2, 1));
        assert!((c.precision() - 0.5).abs() < 1e-12);
        assert!((c.recall() - 1.0 / 3.0).abs() < 1e-12);
        assert!((c.f1() - 0.4).abs() < 1e-12);
        assert!((c.fpr() - 0.5).abs() < 1e-12);
        assert!((c.accuracy() - 0.4).abs() < 1e-12);
        assert_eq!(report.categories["jailbreak"], (1, 2, true));
        assert_eq!(report.categories["benign"], (1, 2, false));
        let table = report.render("split");
        assert!(
            table.contains("| jailbreak | attack | 2 | 1 | 0.500 |"),
            "{table}"
        );
    }
}
