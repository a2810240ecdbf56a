//! Trains the prompt-attack classifier and writes its weights file.
//!
//! ```sh
//! scripts/fetch-datasets.sh
//! nice -n 10 cargo run --release -p logwarden-policy --features train \
//!     --bin train-classifier -- --data datasets \
//!     --out crates/policy/src/classifier/weights.bin
//! ```
//!
//! Trains on the **train** splits and the **validation** splits, and picks the
//! `low`/`medium`/`high` thresholds on the validation splits by cross-validation: the
//! validation texts are cut into `--folds` (5) folds (text `i` of each split in fold
//! `i % folds`); for each fold a model is trained on the train splits and the other folds and
//! scores that fold, quantised, exactly as the engine does; the thresholds are picked on these
//! held-out scores; then the final model is trained on the train splits and all of the
//! validation splits. The train splits are neuralchemy `core` train, s-labs train and four in
//! five of the multilingual attack list (rows whose number is not a multiple of 5); the
//! validation splits are neuralchemy `core` validation, s-labs validation and the remaining
//! fifth of the list. `--folds 0` trains on the train splits alone and picks the thresholds
//! on the validation splits. The test splits are never read.
//!
//! The solver is argmin's L-BFGS (the solver `linfa-logistic` runs, More-Thuente line search,
//! 10 stored steps) over the sparse logistic loss of every hashed slot that occurs in a
//! training text, with L2 penalty `--alpha` (0.05) on the weights, not the bias, and attack
//! examples weighted `--attack-weight`. Each fit stops after `--iterations` (1000) or when the
//! gradient norm falls below 1e-6. Everything runs on one thread in a fixed order, so the
//! same data and arguments give the same file, version included.
//!
//! Settings compared on the validation splits (trained on the train splits alone, F1 at
//! `medium`, neuralchemy / s-labs): alpha 0.016 0.964 / 0.968,
//! 0.05 0.966 / 0.971, 0.15 0.963 / 0.969; alpha 0.004 with the validation folds added to
//! the training data 0.964 / 0.986. Weaker penalties score short plain requests of the own
//! corpus ("let's skip the intro and get to the rules of chess") as attacks with
//! probability above 0.99.

use std::path::PathBuf;
use std::time::Instant;

use argmin::core::{CostFunction, Executor, Gradient};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use logwarden_policy::classifier::dataset::{read, Example, Format};
use logwarden_policy::classifier::features::{vector, Family, SparseVector, DIM};
use logwarden_policy::classifier::metrics::Confusion;
use logwarden_policy::classifier::model::{Model, RawModel, Thresholds};
use logwarden_policy::classifier::normalised;
use ndarray::Array1;

struct Args {
    data: PathBuf,
    out: PathBuf,
    alpha: f64,
    attack_weight: f64,
    iterations: u64,
    folds: usize,
}

fn args() -> Result<Args, String> {
    let mut args = Args {
        data: PathBuf::from("datasets"),
        out: PathBuf::from("crates/policy/src/classifier/weights.bin"),
        alpha: 0.05,
        attack_weight: 1.0,
        iterations: 1000,
        folds: 5,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--data" => args.data = PathBuf::from(value()?),
            "--out" => args.out = PathBuf::from(value()?),
            "--attack-weight" => {
                args.attack_weight = value()?
                    .parse()
                    .map_err(|e| format!("--attack-weight: {e}"))?;
            }
            "--alpha" => args.alpha = value()?.parse().map_err(|e| format!("--alpha: {e}"))?,
            "--iterations" => {
                args.iterations = value()?
                    .parse()
                    .map_err(|e| format!("--iterations: {e}"))?;
            }
            "--folds" => args.folds = value()?.parse().map_err(|e| format!("--folds: {e}"))?,
            other => {
                return Err(format!(
                    "unknown argument {other}; valid: --data DIR, --out FILE, --alpha X, --attack-weight X, --iterations N, --folds N"
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
/// `low`, the policies' default, is the lowest threshold above every benign text of both
/// (no false positive). At FPR 1 % on each, as before, and at 0.25 %, short plain requests
/// of the own corpus such as "let's skip the intro and get to the rules of chess" (0.991)
/// reached `low`.
fn pick_thresholds(nc: &[(f32, bool)], sl: &[(f32, bool)]) -> Thresholds {
    let grid: Vec<f32> = (1..1000).map(|i| i as f32 / 1000.0).collect();
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
        .find(|t| max_fpr(*t) <= 0.0)
        .unwrap_or(0.999)
        .max(medium);
    Thresholds { low, medium, high }
}

fn fnv64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xCBF2_9CE4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01B3)
    })
}

/// The weighted logistic loss of the training texts, with an L2 penalty on the weights: the
/// parameters are one weight per column, then the bias.
struct Problem {
    /// Compressed rows: the entries of text `i` are `starts[i]..starts[i + 1]`.
    starts: Vec<usize>,
    columns: Vec<u32>,
    values: Vec<f64>,
    /// 1 for an attack, 0 for a benign text.
    labels: Vec<f64>,
    sample_weights: Vec<f64>,
    alpha: f64,
    /// Columns (the bias is the parameter after them).
    weights: usize,
}

impl Problem {
    /// The logit of each text.
    fn logits(&self, p: &Array1<f64>) -> Vec<f64> {
        let bias = p[self.weights];
        self.starts
            .windows(2)
            .map(|r| {
                bias + (r[0]..r[1])
                    .map(|j| p[self.columns[j] as usize] * self.values[j])
                    .sum::<f64>()
            })
            .collect()
    }

    fn penalty(&self, p: &Array1<f64>) -> f64 {
        0.5 * self.alpha * p.iter().take(self.weights).map(|w| w * w).sum::<f64>()
    }
}

/// `ln(1 + e^z)` without overflow.
fn softplus(z: f64) -> f64 {
    if z > 0.0 {
        z + (-z).exp().ln_1p()
    } else {
        z.exp().ln_1p()
    }
}

impl CostFunction for Problem {
    type Param = Array1<f64>;
    type Output = f64;

    fn cost(&self, p: &Self::Param) -> Result<f64, argmin::core::Error> {
        let loss: f64 = self
            .logits(p)
            .iter()
            .zip(&self.labels)
            .zip(&self.sample_weights)
            .map(|((z, y), s)| s * (softplus(*z) - y * z))
            .sum();
        Ok(loss + self.penalty(p))
    }
}

impl Gradient for Problem {
    type Param = Array1<f64>;
    type Gradient = Array1<f64>;

    fn gradient(&self, p: &Self::Param) -> Result<Array1<f64>, argmin::core::Error> {
        let mut g = Array1::zeros(self.weights + 1);
        for (i, z) in self.logits(p).iter().enumerate() {
            let residual = self.sample_weights[i] * (1.0 / (1.0 + (-z).exp()) - self.labels[i]);
            for j in self.starts[i]..self.starts[i + 1] {
                g[self.columns[j] as usize] += residual * self.values[j];
            }
            g[self.weights] += residual;
        }
        for c in 0..self.weights {
            g[c] += self.alpha * p[c];
        }
        Ok(g)
    }
}

/// Fits the model to labelled feature vectors; the thresholds are left at 0.5.
fn fit(
    rows: &[(&SparseVector, bool)],
    args: &Args,
) -> Result<RawModel, Box<dyn std::error::Error>> {
    let started = Instant::now();
    // The columns are the slots that occur in some training text, in slot order.
    let mut column = vec![u32::MAX; 2 * DIM];
    let mut keys: Vec<usize> = Vec::new();
    for (v, _) in rows {
        for (family, index, _) in &v.entries {
            column[slot_key(*family, *index)] = 0;
        }
    }
    for (k, c) in column.iter_mut().enumerate() {
        if *c == 0 {
            *c = u32::try_from(keys.len()).expect("fewer than 2^32 columns");
            keys.push(k);
        }
    }
    let mut problem = Problem {
        starts: vec![0],
        columns: Vec::new(),
        values: Vec::new(),
        labels: rows.iter().map(|(_, l)| f64::from(u8::from(*l))).collect(),
        sample_weights: rows
            .iter()
            .map(|(_, l)| if *l { args.attack_weight } else { 1.0 })
            .collect(),
        alpha: args.alpha,
        weights: keys.len(),
    };
    for (v, _) in rows {
        for (family, index, value) in &v.entries {
            problem.columns.push(column[slot_key(*family, *index)]);
            problem.values.push(f64::from(*value));
        }
        problem.starts.push(problem.columns.len());
    }
    let (texts, attacks, non_zeros) = (
        rows.len(),
        rows.iter().filter(|(_, l)| *l).count(),
        problem.values.len(),
    );
    let solver = LBFGS::new(MoreThuenteLineSearch::new(), 10).with_tolerance_grad(1e-6)?;
    let result = Executor::new(problem, solver)
        .configure(|state| {
            state
                .param(Array1::zeros(keys.len() + 1))
                .max_iters(args.iterations)
        })
        .run()?;
    let state = result.state();
    eprintln!(
        "  {texts} texts ({attacks} attacks), {} columns, {non_zeros} non-zeros: fitted in {:.1?}, {} iterations, loss {:.4}, {:?}",
        keys.len(),
        started.elapsed(),
        state.iter,
        state.best_cost,
        state.termination_status
    );
    let params = state
        .best_param
        .as_ref()
        .ok_or("the solver returned no weights")?;
    let mut word = vec![0f32; DIM];
    let mut chars = vec![0f32; DIM];
    for (c, k) in keys.iter().enumerate() {
        #[allow(clippy::cast_possible_truncation)]
        let w = params[c] as f32;
        if *k < DIM {
            word[*k] = w;
        } else {
            chars[*k - DIM] = w;
        }
    }
    Ok(RawModel {
        version: String::new(),
        #[allow(clippy::cast_possible_truncation)]
        bias: params[keys.len()] as f32,
        word,
        chars,
        thresholds: Thresholds {
            low: 0.5,
            medium: 0.5,
            high: 0.5,
        },
    })
}

/// The scores of the quantised model, as the engine computes them.
fn scores(
    raw: &RawModel,
    examples: &[&Example],
) -> Result<Vec<(f32, bool)>, Box<dyn std::error::Error>> {
    let bytes = raw.to_bytes();
    let model = Model::parse(&bytes)?;
    Ok(examples
        .iter()
        .map(|e| {
            let p = model
                .score(&normalised(&e.text))
                .map_or(0.0, |s| s.probability);
            (p, e.label)
        })
        .collect())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = args().map_err(|e| -> Box<dyn std::error::Error> { e.into() })?;
    let started = Instant::now();
    let splits = load(&args.data)?;
    let features = |examples: &[Example]| -> Vec<SparseVector> {
        examples
            .iter()
            .map(|e| vector(&normalised(&e.text)))
            .collect()
    };
    let train_vectors = features(&splits.train);
    let validation_vectors: Vec<Vec<SparseVector>> = splits
        .validation
        .iter()
        .map(|(_, examples)| features(examples))
        .collect();
    let train: Vec<(&SparseVector, bool)> = train_vectors
        .iter()
        .zip(&splits.train)
        .map(|(v, e)| (v, e.label))
        .collect();
    eprintln!("features in {:.1?}", started.elapsed());
    // Held-out validation scores, per validation split, in the split's order.
    let mut held_out: Vec<Vec<(f32, bool)>> = splits
        .validation
        .iter()
        .map(|(_, examples)| vec![(0.0, false); examples.len()])
        .collect();
    let rows_with = |keep: &dyn Fn(usize) -> bool| -> Vec<(&SparseVector, bool)> {
        let mut rows = train.clone();
        for ((_, examples), vectors) in splits.validation.iter().zip(&validation_vectors) {
            for (i, (v, e)) in vectors.iter().zip(examples).enumerate() {
                if keep(i) {
                    rows.push((v, e.label));
                }
            }
        }
        rows
    };
    let raw = if args.folds == 0 {
        eprintln!("training on the train splits");
        let raw = fit(&train, &args)?;
        for (s, (_, examples)) in splits.validation.iter().enumerate() {
            held_out[s] = scores(&raw, &examples.iter().collect::<Vec<_>>())?;
        }
        raw
    } else {
        for fold in 0..args.folds {
            eprintln!("fold {} of {}", fold + 1, args.folds);
            let raw = fit(&rows_with(&|i| i % args.folds != fold), &args)?;
            for (s, (_, examples)) in splits.validation.iter().enumerate() {
                let fold_examples: Vec<&Example> = examples
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| i % args.folds == fold)
                    .map(|(_, e)| e)
                    .collect();
                let fold_scores = scores(&raw, &fold_examples)?;
                let slots = (0..examples.len()).filter(|i| i % args.folds == fold);
                for (i, score) in slots.zip(fold_scores) {
                    held_out[s][i] = score;
                }
            }
        }
        eprintln!("training on the train and validation splits");
        fit(&rows_with(&|_| true), &args)?
    };
    let mut raw = raw;
    raw.thresholds = pick_thresholds(&held_out[0], &held_out[1]);
    // The version names the weights: the same training data gives the same version.
    raw.version = format!("ngram-lr-v2-{:016x}", fnv64(&raw.to_bytes()));
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
    let held = if args.folds == 0 {
        ""
    } else {
        " (held-out folds)"
    };
    for ((name, _), scores) in splits.validation.iter().zip(&held_out) {
        for (level, t) in [
            ("low", raw.thresholds.low),
            ("medium", raw.thresholds.medium),
            ("high", raw.thresholds.high),
        ] {
            let c = confusion(scores, t);
            eprintln!(
                "{name}{held}, sensitivity {level} ({t}): precision {:.4} recall {:.4} F1 {:.4} FPR {:.2} %",
                c.precision(),
                c.recall(),
                c.f1(),
                100.0 * c.fpr()
            );
        }
    }
    for ((name, _), scores) in splits.validation.iter().zip(&held_out) {
        let mut benign: Vec<f32> = scores.iter().filter(|(_, l)| !l).map(|(p, _)| *p).collect();
        benign.sort_by(|a, b| b.total_cmp(a));
        benign.truncate(5);
        eprintln!("{name}{held}, highest benign scores: {benign:?}");
    }
    eprintln!("total {:.1?}", started.elapsed());
    Ok(())
}
