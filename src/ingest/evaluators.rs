//! The installed policy set of an integration as the job's evaluator. A set is compiled once
//! per (integration, installed version) and cached; every prompt event is evaluated in its
//! input, output, tool-call and tool-result parts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use logwarden_jobs::pairing::PromptEvent;
use logwarden_jobs::retry::{ErrorClass, JobError};
use logwarden_jobs::source::{Evaluator, SideTags, Verdict};
use sea_orm::DatabaseConnection;

use crate::ingest::sink::StoredFinding;
use crate::service::policies::installed;
use logwarden_policy::{CompiledPolicySet, Evaluation, MessageInput, Role};

/// Compiled sets by (integration, installed version).
type Compiled = HashMap<(i64, i32), Arc<CompiledPolicySet>>;

/// Hands out evaluators for integrations, compiling each installed version once.
#[derive(Clone, Default)]
pub struct EvaluatorProvider {
    compiled: Arc<Mutex<Compiled>>,
}

impl EvaluatorProvider {
    /// The evaluator of an integration's installed policy set.
    pub async fn for_integration(
        &self,
        db: &DatabaseConnection,
        integration_id: i64,
    ) -> Result<AppEvaluator, JobError> {
        let Some((version, config)) = installed(db, integration_id)
            .await
            .map_err(|err| JobError::new(ErrorClass::DatabaseError, err.to_string()))?
        else {
            return Ok(AppEvaluator { set: None });
        };
        let key = (integration_id, version);
        if let Some(set) = self.cache().get(&key) {
            return Ok(AppEvaluator {
                set: Some((version, set.clone())),
            });
        }
        let set = Arc::new(CompiledPolicySet::compile(&config).map_err(|err| {
            JobError::new(
                ErrorClass::Internal,
                format!("installed policy set version {version} does not compile: {err}"),
            )
        })?);
        self.cache().insert(key, set.clone());
        Ok(AppEvaluator {
            set: Some((version, set)),
        })
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Compiled> {
        self.compiled.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Evaluates prompt events with one installed version; with none installed it evaluates
/// nothing and says so (events are stored as not evaluated).
pub struct AppEvaluator {
    set: Option<(i32, Arc<CompiledPolicySet>)>,
}

impl AppEvaluator {
    pub fn version(&self) -> Option<i32> {
        self.set.as_ref().map(|(version, _)| *version)
    }
}

/// Evaluates every part of one prompt event: the prompt (with its attachments' types), the
/// response (grounded in the tool results), each tool call, and each tool result. Returns
/// the findings, the tags of all sides (distinct) and the tags by side.
pub fn evaluate_event(
    set: &CompiledPolicySet,
    event: &PromptEvent,
) -> (Vec<StoredFinding>, Vec<String>, SideTags) {
    let mimes: Vec<&str> = event
        .attachments
        .iter()
        .map(|a| a.mime_type.as_str())
        .collect();
    let results: Vec<&str> = event.tool_results.iter().map(|r| r.text.as_str()).collect();
    let arguments: Vec<String> = event
        .tool_calls
        .iter()
        .map(|c| c.input.to_string())
        .collect();
    let mut evaluations: Vec<(Side, Evaluation)> = vec![(
        Side::Input,
        set.evaluate(&MessageInput::new(Role::User, &event.input_text).with_attachments(&mimes)),
    )];
    if !event.output_text.is_empty() {
        evaluations.push((
            Side::Output,
            set.evaluate(
                &MessageInput::new(Role::Assistant, &event.output_text).with_context(&results),
            ),
        ));
    }
    for (call, args) in event.tool_calls.iter().zip(&arguments) {
        evaluations.push((
            Side::Tool,
            set.evaluate(&MessageInput::new(Role::Assistant, "").with_tool_call(&call.name, args)),
        ));
    }
    for text in &results {
        evaluations.push((
            Side::Tool,
            set.evaluate(&MessageInput::new(Role::Tool, text)),
        ));
    }
    let mut findings = Vec::new();
    let mut tags = Vec::new();
    let mut side_tags = SideTags::default();
    for (side, evaluation) in evaluations {
        let labels = evaluation.tags.iter().map(|tag| tag.label().to_owned());
        match side {
            Side::Input => side_tags.input.extend(labels),
            Side::Output => side_tags.output.extend(labels),
            Side::Tool => side_tags.tool.extend(labels),
        }
        tags.extend(evaluation.tags.iter().map(|tag| tag.label().to_owned()));
        findings.extend(evaluation.findings.into_iter().map(|f| StoredFinding {
            policy: f.policy.to_owned(),
            rule: f.rule,
            direction: snake_case(&f.direction),
            span_start: f.span.start as u32,
            span_end: f.span.end as u32,
            evidence: f.evidence,
            severity: snake_case(&f.severity),
            configured_action: f.action.as_str().to_owned(),
            effective_action: f.effective_action.as_str().to_owned(),
        }));
    }
    for labels in [
        &mut tags,
        &mut side_tags.input,
        &mut side_tags.output,
        &mut side_tags.tool,
    ] {
        labels.sort();
        labels.dedup();
    }
    (findings, tags, side_tags)
}

/// The side of an event an evaluation looked at.
#[derive(Debug, Clone, Copy)]
enum Side {
    Input,
    Output,
    Tool,
}

impl Evaluator for AppEvaluator {
    type Finding = StoredFinding;

    fn policy_set_version(&self) -> Option<i32> {
        self.version()
    }

    fn evaluate(&self, event: &PromptEvent) -> Result<Option<Verdict<StoredFinding>>, JobError> {
        let Some((_, set)) = &self.set else {
            return Ok(None);
        };
        let started = std::time::Instant::now();
        let (findings, tags, side_tags) = evaluate_event(set, event);
        crate::infra::metrics::global().policy_evaluation(started.elapsed());
        Ok(Some(Verdict {
            findings,
            tags,
            side_tags,
        }))
    }
}

/// The serde (snake_case) name of a unit enum value.
pub(crate) fn snake_case(value: &impl serde::Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::new(),
    }
}
