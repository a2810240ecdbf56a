//! The installed policy set of an integration as the job's evaluator. A set is compiled once
//! per (integration, installed version) and cached, newest version only, for the
//! [`CACHED_INTEGRATIONS`] integrations used last; every prompt event is evaluated in its
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

/// How many integrations' compiled sets are kept; the one used longest ago goes first.
pub const CACHED_INTEGRATIONS: usize = 256;

/// The compiled set of each cached integration: its newest version seen, with when it was
/// last used (a counter), for the least-recently-used eviction.
#[derive(Default)]
struct Compiled {
    sets: HashMap<i64, CachedSet>,
    uses: u64,
}

struct CachedSet {
    version: i32,
    set: Arc<CompiledPolicySet>,
    last_used: u64,
}

impl Compiled {
    fn get(&mut self, integration_id: i64, version: i32) -> Option<Arc<CompiledPolicySet>> {
        self.uses += 1;
        let cached = self.sets.get_mut(&integration_id)?;
        if cached.version != version {
            return None;
        }
        cached.last_used = self.uses;
        Some(cached.set.clone())
    }

    /// Keeps `set` unless a newer version of the integration is cached; evicts the least
    /// recently used integration beyond [`CACHED_INTEGRATIONS`].
    fn insert(&mut self, integration_id: i64, version: i32, set: Arc<CompiledPolicySet>) {
        self.uses += 1;
        if self
            .sets
            .get(&integration_id)
            .is_some_and(|cached| cached.version > version)
        {
            return;
        }
        self.sets.insert(
            integration_id,
            CachedSet {
                version,
                set,
                last_used: self.uses,
            },
        );
        while self.sets.len() > CACHED_INTEGRATIONS {
            let oldest = self
                .sets
                .iter()
                .min_by_key(|(_, cached)| cached.last_used)
                .map(|(&id, _)| id);
            match oldest {
                Some(id) => self.sets.remove(&id),
                None => break,
            };
        }
    }

    /// The cached (integration, version) pairs, for tests.
    #[cfg(test)]
    fn keys(&self) -> Vec<(i64, i32)> {
        let mut keys: Vec<_> = self
            .sets
            .iter()
            .map(|(&id, cached)| (id, cached.version))
            .collect();
        keys.sort_unstable();
        keys
    }
}

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
        if let Some(set) = self.cache().get(integration_id, version) {
            return Ok(AppEvaluator {
                set: Some((version, set)),
            });
        }
        let set = Arc::new(CompiledPolicySet::compile(&config).map_err(|err| {
            JobError::new(
                ErrorClass::Internal,
                format!("installed policy set version {version} does not compile: {err}"),
            )
        })?);
        self.cache().insert(integration_id, version, set.clone());
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

#[cfg(test)]
mod tests {
    use super::*;
    use logwarden_policy::PolicySetConfig;

    fn compiled() -> Arc<CompiledPolicySet> {
        Arc::new(CompiledPolicySet::compile(&PolicySetConfig::default()).expect("compiles"))
    }

    #[test]
    fn the_cache_keeps_only_the_newest_version_of_each_integration() {
        let mut cache = Compiled::default();
        let set = compiled();
        cache.insert(1, 1, set.clone());
        cache.insert(1, 2, set.clone());
        cache.insert(1, 1, set.clone());

        assert_eq!(cache.keys(), vec![(1, 2)]);
        assert!(cache.get(1, 2).is_some());
        assert!(
            cache.get(1, 1).is_none(),
            "an older version is compiled, not kept"
        );
    }

    #[test]
    fn the_cache_holds_256_integrations_and_evicts_the_one_used_longest_ago() {
        let mut cache = Compiled::default();
        let set = compiled();
        for id in 0..CACHED_INTEGRATIONS as i64 {
            cache.insert(id, 1, set.clone());
        }
        assert!(cache.get(0, 1).is_some(), "integration 0 is used again");

        cache.insert(1000, 1, set.clone());

        let keys = cache.keys();
        assert_eq!(keys.len(), CACHED_INTEGRATIONS);
        assert!(keys.contains(&(0, 1)), "the recently used one stays");
        assert!(!keys.contains(&(1, 1)), "the least recently used one goes");
        assert!(keys.contains(&(1000, 1)));
    }
}
