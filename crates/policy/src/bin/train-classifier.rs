//! Trains the prompt-attack classifier and writes its weights file.
//!
//! ```sh
//! scripts/fetch-datasets.sh
//! nice -n 10 cargo run --release -p logwarden-policy --features train \
//!     --bin train-classifier -- --data datasets \
//!     --out crates/policy/src/classifier/weights.bin
//! ```
//!
//! Trains on the **train** splits only: neuralchemy `core` train, s-labs train, and four in
//! five of the multilingual attack list (rows whose number is not a multiple of 5). Picks the
//! `low`/`medium`/`high` thresholds on the **validation** splits (neuralchemy `core`
//! validation, s-labs validation, the remaining fifth of the list), scoring them with the
//! quantised model exactly as the engine does. The test splits are never read.
//!
//! The solver is `linfa-logistic` (L-BFGS, L2 penalty `alpha` 0.1, `--iterations` 60) on a
//! dense matrix, so the columns are the `--features` (8,192) hashed slots that occur in the
//! most training texts; the other slots get weight 0. The matrix takes about 530 MB, and one
//! iteration about 5 CPU seconds. Everything is deterministic: the same data and arguments
//! give the same file, version included.

use std::path::PathBuf;
use std::time::Instant;

use linfa::prelude::*;
use linfa_logistic::LogisticRegression;
use logwarden_policy::classifier::dataset::{read, Example, Format};
use logwarden_policy::classifier::features::{vector, Family, DIM};
use logwarden_policy::classifier::metrics::Confusion;
use logwarden_policy::classifier::model::{Model, RawModel, Thresholds};
use logwarden_policy::classifier::normalised;
use ndarray::{Array1, Array2};

struct Args {
    data: PathBuf,
    out: PathBuf,
    features: usize,
    alpha: f32,
    iterations: u64,
}

fn args() -> Result<Args, String> {
    let mut args = Args {
        data: PathBuf::from("datasets"),
        out: PathBuf::from("crates/policy/src/classifier/weights.bin"),
        features: 8_192,
        alpha: 0.1,
        iterations: 60,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--data" => args.data = PathBuf::from(value()?),
            "--out" => args.out = PathBuf::from(value()?),
            "--features" => {
                args.features = value()?
                    .parse()
                    .map_err(|e| format!("--features: {e}"))?;
            }
            "--alpha" => args.alpha = value()?.parse().map_err(|e| format!("--alpha: {e}"))?,
            "--iterations" => {
                args.iterations = value()?
                    .parse()
                    .map_err(|e| format!("--iterations: {e}"))?;
            }
            other => {
                return Err(format!(
                    "unknown argument {other}; valid: --data DIR, --out FILE, --features N, --alpha X, --iterations N"
                ))
            }
        }
    }
    Ok(args)
}

struct Splits {
    train: Vec<Example>,
    /// Named validation splits.
    validation: Vec<(&'static str, Vec<Example>)>,
}

fn load(data: &std::path::Path) -> Result<Splits, Box<dyn std::error::Error>> {
    let nc_train = read(
        &data.join("neuralchemy/core-train.jsonl"),
        Format::Neuralchemy,
    )?;
    let nc_val = read(
        &data.join("neuralchemy/core-validation.jsonl"),
        Format::Neuralchemy,
    )?;
    let sl_train = read(&data.join("s-labs/train.csv"), Format::SLabs)?;
    let sl_val = read(&data.join("s-labs/validation.csv"), Format::SLabs)?;
    let list = read(
        &data.join("yanismiraoui/prompt_injections.csv"),
        Format::AttackList,
    )?;
    let (list_val, list_train): (Vec<_>, Vec<_>) =
        list.into_iter().enumerate().partition(|(i, _)| i % 5 == 0);
    let mut train = nc_train;
    train.extend(sl_train);
    train.extend(list_train.into_iter().map(|(_, e)| e));
    Ok(Splits {
        train,
        validation: vec![
            ("neuralchemy core validation", nc_val),
            ("s-labs validation", sl_val),
            (
                "multilingual list validation (attacks only)",
                list_val.into_iter().map(|(_, e)| e).collect(),
            ),
        ],
    })
}

fn slot_key(family: Family, index: u32) -> usize {
    match family {
        Family::Word => index as usize,
        Family::Char => DIM + index as usize,
    }
}

fn confusion(scores: &[(f32, bool)], threshold: f32) -> Confusion {
    let mut c = Confusion::default();
    for (p, label) in scores {
        c.add(*label, *p >= threshold);
    }
    c
}

/// Thresholds from the validation scores of the neuralchemy and s-labs splits: `high` (most
/// sensitive) maximises their mean F1; `medium` maximises it with FPR at most 3 % on each;
/// `low` is the lowest threshold with FPR at most 1 % on each.
fn pick_thresholds(nc: &[(f32, bool)], sl: &[(f32, bool)]) -> Thresholds {
    let grid: Vec<f32> = (1..200).map(|i| i as f32 / 200.0).collect();
    let mean_f1 = |t: f32| (confusion(nc, t).f1() + confusion(sl, t).f1()) / 2.0;
    let max_fpr = |t: f32| confusion(nc, t).fpr().max(confusion(sl, t).fpr());
    let best = |ok: &dyn Fn(f32) -> bool| {
        grid.iter()
            .copied()
            .filter(|t| ok(*t))
            .fold(None, |best: Option<(f32, f64)>, t| {
                let f = mean_f1(t);
                match best {
                    Some((_, bf)) if bf >= f => best,
                    _ => Some((t, f)),
                }
            })
            .map_or(0.5, |(t, _)| t)
    };
    let high = best(&|_| true);
    let medium = best(&|t| max_fpr(t) <= 0.03).max(high);
    let low = grid
        .iter()
        .copied()
        .find(|t| max_fpr(*t) <= 0.01)
        .unwrap_or(0.995)
        .max(medium);
    Thresholds { low, medium, high }
}

fn fnv64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xCBF2_9CE4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01B3)
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = args().map_err(|e| -> Box<dyn std::error::Error> { e.into() })?;
    let started = Instant::now();
    let splits = load(&args.data)?;
    let vectors: Vec<_> = splits
        .train
        .iter()
        .map(|e| vector(&normalised(&e.text)))
        .collect();
    // Document frequency per slot; the columns are the most frequent slots (ties: lower key).
    let mut df = vec![0u32; 2 * DIM];
    for v in &vectors {
        for (family, index, _) in &v.entries {
            df[slot_key(*family, *index)] += 1;
        }
    }
    let mut keys: Vec<usize> = (0..2 * DIM).filter(|k| df[*k] > 0).collect();
    keys.sort_by(|a, b| df[*b].cmp(&df[*a]).then(a.cmp(b)));
    keys.truncate(args.features);
    let mut column = vec![usize::MAX; 2 * DIM];
    for (c, k) in keys.iter().enumerate() {
        column[*k] = c;
    }
    let mut x = Array2::<f32>::zeros((vectors.len(), keys.len()));
    for (row, v) in vectors.iter().enumerate() {
        for (family, index, value) in &v.entries {
            let c = column[slot_key(*family, *index)];
            if c != usize::MAX {
                x[[row, c]] = *value;
            }
        }
    }
    let y: Array1<bool> = splits.train.iter().map(|e| e.label).collect();
    eprintln!(
        "{} training texts ({} attacks), {} columns of {} used slots; features in {:.1?}",
        splits.train.len(),
        splits.train.iter().filter(|e| e.label).count(),
        keys.len(),
        df.iter().filter(|d| **d > 0).count(),
        started.elapsed()
    );
    let fit_started = Instant::now();
    let dataset = Dataset::new(x, y);
    let fitted = LogisticRegression::default()
        .alpha(args.alpha)
        .max_iterations(args.iterations)
        .gradient_tolerance(1e-4)
        .fit(&dataset)?;
    eprintln!("fitted in {:.1?}", fit_started.elapsed());
    // linfa labels the larger class positive; the weights must point towards attacks.
    let sign = if fitted.labels().pos.class { 1.0 } else { -1.0 };
    let mut word = vec![0f32; DIM];
    let mut chars = vec![0f32; DIM];
    for (c, k) in keys.iter().enumerate() {
        let w = sign * fitted.params()[c];
        if *k < DIM {
            word[*k] = w;
        } else {
            chars[*k - DIM] = w;
        }
    }
    let mut raw = RawModel {
        version: String::new(),
        bias: sign * fitted.intercept(),
        word,
        chars,
        thresholds: Thresholds {
            low: 0.5,
            medium: 0.5,
            high: 0.5,
        },
    };
    // Thresholds from the quantised model's validation scores, as the engine computes them.
    let draft = raw.to_bytes();
    let model = Model::parse(&draft)?;
    let score = |examples: &[Example]| -> Vec<(f32, bool)> {
        examples
            .iter()
            .map(|e| {
                let p = model
                    .score(&normalised(&e.text))
                    .map_or(0.0, |s| s.probability);
                (p, e.label)
            })
            .collect()
    };
    let scored: Vec<(&str, Vec<(f32, bool)>)> = splits
        .validation
        .iter()
        .map(|(name, examples)| (*name, score(examples)))
        .collect();
    raw.thresholds = pick_thresholds(&scored[0].1, &scored[1].1);
    // The version names the weights: the same training data gives the same version.
    raw.version = format!("ngram-lr-{:016x}", fnv64(&raw.to_bytes()));
    let bytes = raw.to_bytes();
    std::fs::write(&args.out, &bytes)?;
    eprintln!(
        "wrote {} ({} bytes), version {}, thresholds low {} medium {} high {}",
        args.out.display(),
        bytes.len(),
        raw.version,
        raw.thresholds.low,
        raw.thresholds.medium,
        raw.thresholds.high
    );
    for (name, scores) in &scored {
        for (level, t) in [
            ("low", raw.thresholds.low),
            ("medium", raw.thresholds.medium),
            ("high", raw.thresholds.high),
        ] {
            let c = confusion(scores, t);
            eprintln!(
                "{name}, sensitivity {level} ({t}): precision {:.4} recall {:.4} F1 {:.4} FPR {:.2} %",
                c.precision(),
                c.recall(),
                c.f1(),
                100.0 * c.fpr()
            );
        }
    }
    eprintln!("total {:.1?}", started.elapsed());
    Ok(())
}
