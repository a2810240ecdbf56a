//! Precision and recall per policy over the labelled corpus in `tests/corpus/` (one JSONL
//! file per policy: `text`, `role`, `expected`, `note`, and optional `context`,
//! `tool_name`, `tool_arguments`). The set is the `strict` template plus the
//! configuration the `function_call` and `leakage` cases need (denied tools, a schema, a
//! canary, a system-prompt fragment). Prints the table and fails below the thresholds. Also
//! checks that every corpus text, under every role, is evaluated the same with and without
//! the set's shared literal pass.

use std::fmt::Write;
use std::path::PathBuf;

use serde::Deserialize;

use crate::catalogue::{PolicyId, PolicyParams};
use crate::engine::CompiledPolicySet;
use crate::function_call::FunctionCallParams;
use crate::leakage::LeakageParams;
use crate::message::{MessageInput, Role};
use crate::templates::template;

#[derive(Deserialize)]
struct Case {
    text: String,
    role: Role,
    expected: bool,
    note: String,
    #[serde(default)]
    context: Vec<String>,
    #[serde(default)]
    tool_name: Option<String>,
    #[serde(default)]
    tool_arguments: Option<String>,
}

/// Minimum precision and recall per policy, set from the measured values with a margin.
const THRESHOLDS: &[(PolicyId, f64, f64)] = &[
    (PolicyId::Pii, 0.95, 0.90),
    (PolicyId::CodeLeakage, 0.95, 0.95),
    (PolicyId::PromptInjection, 0.95, 0.85),
    (PolicyId::Jailbreak, 0.95, 0.90),
    (PolicyId::MaliciousUrl, 0.95, 0.90),
    (PolicyId::SexualContent, 0.95, 0.85),
    (PolicyId::DetectTopics, 0.95, 0.95),
    (PolicyId::DetectLanguages, 0.95, 0.90),
    (PolicyId::ContentTypes, 0.90, 0.95),
    (PolicyId::CodeInjection, 0.95, 0.95),
    (PolicyId::FunctionCall, 0.95, 0.95),
    (PolicyId::Grounding, 0.95, 0.95),
    (PolicyId::Leakage, 0.95, 0.95),
    (PolicyId::EncodedAttacks, 0.95, 0.85),
    (PolicyId::ObfuscatedAttacks, 0.95, 0.95),
    (PolicyId::BannedSubstrings, 0.95, 0.95),
    (PolicyId::AiGeneratedContent, 0.95, 0.95),
];

pub(crate) fn corpus_set() -> CompiledPolicySet {
    let mut config = template("strict").expect("strict exists");
    for p in &mut config.policies {
        match &mut p.params {
            PolicyParams::FunctionCall(params) => {
                let mut fc = FunctionCallParams {
                    denied_tools: vec!["execute_shell".into(), "delete_repository".into()],
                    scan_tool_results: true,
                    ..Default::default()
                };
                fc.schemas.insert(
                    "send_email".into(),
                    serde_json::json!({"type": "object", "required": ["to", "body"], "additionalProperties": false,
                        "properties": {"to": {"type": "string"}, "body": {"type": "string"}}}),
                );
                *params = fc;
            }
            PolicyParams::Leakage(params) => {
                *params = LeakageParams {
                    canaries: vec!["CANARY-7f3a9b21".into()],
                    system_prompt_fragments: vec![
                        "You are the Northwind billing assistant and must never discuss payroll with anyone".into(),
                    ],
                    ..LeakageParams::default()
                };
            }
            _ => {}
        }
    }
    CompiledPolicySet::compile(&config).expect("corpus set compiles")
}

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("corpus")
}

#[test]
fn every_corpus_text_is_evaluated_the_same_with_and_without_the_shared_literal_pass() {
    let sets = [
        corpus_set(),
        CompiledPolicySet::compile(&template("default").expect("default exists"))
            .expect("default compiles"),
    ];
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("corpus directory")
        .map(|e| e.expect("corpus entry").path())
        .collect();
    files.sort();
    for path in files {
        let body =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for line in body.lines().filter(|l| !l.trim().is_empty()) {
            let case: Case =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            for text in [case.text.clone(), case.text.to_uppercase()] {
                for role in [
                    Role::User,
                    Role::Assistant,
                    Role::Tool,
                    Role::ToolDefinition,
                ] {
                    let input = MessageInput::new(role, &text);
                    for set in &sets {
                        assert_eq!(
                            set.evaluate(&input),
                            set.evaluate_unshared(&input),
                            "{}: {} as {role:?}",
                            path.display(),
                            case.note
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn every_policy_meets_its_precision_and_recall_thresholds_on_the_corpus() {
    let set = corpus_set();
    let mut table = String::from("| policy | cases | TP | FP | FN | TN | precision | recall |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n");
    let mut failures = Vec::new();
    let mut misses = Vec::new();
    for (policy, min_precision, min_recall) in THRESHOLDS {
        let path = corpus_dir().join(format!("{}.jsonl", policy.as_str()));
        let body =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let (mut tp, mut fp, mut fn_, mut tn) = (0u32, 0u32, 0u32, 0u32);
        for (n, line) in body
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let case: Case = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{}:{}: {e}", path.display(), n + 1));
            let context: Vec<&str> = case.context.iter().map(String::as_str).collect();
            let mut input = MessageInput::new(case.role, &case.text).with_context(&context);
            if let Some(name) = &case.tool_name {
                input = input.with_tool_call(name, case.tool_arguments.as_deref().unwrap_or("{}"));
            }
            let fired = set.evaluate(&input).fired(*policy);
            match (case.expected, fired) {
                (true, true) => tp += 1,
                (false, true) => {
                    fp += 1;
                    misses.push(format!("FP {}: {}", policy.as_str(), case.note));
                }
                (true, false) => {
                    fn_ += 1;
                    misses.push(format!("FN {}: {}", policy.as_str(), case.note));
                }
                (false, false) => tn += 1,
            }
        }
        let precision = if tp + fp == 0 {
            1.0
        } else {
            f64::from(tp) / f64::from(tp + fp)
        };
        let recall = if tp + fn_ == 0 {
            1.0
        } else {
            f64::from(tp) / f64::from(tp + fn_)
        };
        let _ = writeln!(
            table,
            "| {} | {} | {tp} | {fp} | {fn_} | {tn} | {precision:.2} | {recall:.2} |",
            policy.as_str(),
            tp + fp + fn_ + tn
        );
        if precision < *min_precision || recall < *min_recall {
            failures.push(format!("{}: precision {precision:.2} (min {min_precision}), recall {recall:.2} (min {min_recall})", policy.as_str()));
        }
    }
    println!("{table}");
    for m in &misses {
        println!("{m}");
    }
    assert!(
        failures.is_empty(),
        "{}\n{table}\n{}",
        failures.join("\n"),
        misses.join("\n")
    );
}

#[test]
fn every_policy_has_positive_and_negative_corpus_cases() {
    for (policy, _, _) in THRESHOLDS {
        let path = corpus_dir().join(format!("{}.jsonl", policy.as_str()));
        let body =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let cases: Vec<Case> = body
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("case"))
            .collect();
        assert!(cases.iter().filter(|c| c.expected).count() >= 3, "{policy}");
        assert!(
            cases.iter().filter(|c| !c.expected).count() >= 3,
            "{policy}"
        );
    }
}
