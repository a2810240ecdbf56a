//! The runtime policies of an integration as the policy view lists them (one row per policy
//! of the catalogue, from the installed set, with what the draft would change), resetting
//! the draft to the installed set, and the templates a draft can start from.

use logwarden_policy::{templates, PolicyId, PolicySetConfig};
use serde::Serialize;

use super::{Error, Services};

/// One policy of an integration.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PolicyRowView {
    /// The stable policy id, e.g. `pii`.
    pub policy: String,
    pub name: String,
    /// The tags an event gets when this policy fires.
    pub tags: Vec<String>,
    /// Enabled in the installed set.
    pub enabled: bool,
    /// The configured action: `log`, `alert`, `block` or `modify`.
    pub action: Option<String>,
    /// What runs on delivered history: `log` or `alert`.
    pub effective_action: Option<String>,
    /// `active` when installed and enabled, `inactive` otherwise.
    pub status: String,
    /// Whether installing the draft would change this policy.
    pub pending_change: bool,
}

/// A policy set template.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TemplateView {
    pub id: String,
    pub name: String,
    pub description: String,
}

/// The catalogue's rows for `installed`, marking those `draft` changes.
fn rows(installed: Option<&PolicySetConfig>, draft: &PolicySetConfig) -> Vec<PolicyRowView> {
    let changes = super::policies::diff(installed, draft);
    PolicyId::ALL
        .iter()
        .map(|&id| {
            let configured = installed.and_then(|set| set.policies.iter().find(|p| p.id == id));
            let enabled = configured.is_some_and(|p| p.enabled);
            PolicyRowView {
                policy: id.as_str().to_owned(),
                name: id.name().to_owned(),
                tags: vec![id.tag().to_owned()],
                enabled,
                action: configured.map(|p| p.action.as_str().to_owned()),
                effective_action: configured.map(|p| p.action.effective().as_str().to_owned()),
                status: if enabled { "active" } else { "inactive" }.to_owned(),
                pending_change: changes.iter().any(|change| change.policy == id.as_str()),
            }
        })
        .collect()
}

/// Every template, in catalogue order.
pub fn template_views() -> Vec<TemplateView> {
    templates()
        .into_iter()
        .map(|t| TemplateView {
            id: t.id.to_owned(),
            name: t.name.to_owned(),
            description: t.description.to_owned(),
        })
        .collect()
}

impl Services {
    /// One row per policy of the catalogue for the integration.
    pub async fn policy_rows(&self, integration_id: i64) -> Result<Vec<PolicyRowView>, Error> {
        let view = self.policy_set(integration_id).await?;
        Ok(rows(view.installed.as_ref(), &view.draft))
    }

    /// Drops the pending changes: the draft becomes the installed set again.
    pub async fn reset_draft(
        &self,
        integration_id: i64,
    ) -> Result<super::policies::PolicySetView, Error> {
        let view = self.policy_set(integration_id).await?;
        let installed = view.installed.ok_or_else(|| {
            Error::Conflict("there is no installed policy set to reset the draft to".to_owned())
        })?;
        super::policies::write_draft(&self.db, integration_id, &installed, None).await?;
        self.policy_set(integration_id).await
    }
}

impl Services {
    /// Turns one policy of the draft on or off; a policy the draft lacks joins it with the
    /// catalogue's defaults and the `alert` action. Installing makes the change take effect.
    pub async fn set_policy_enabled(
        &self,
        integration_id: i64,
        policy: &str,
        enabled: bool,
    ) -> Result<super::policies::PolicySetView, Error> {
        let id = PolicyId::parse(policy).map_err(|_| {
            let known: Vec<&str> = PolicyId::ALL.iter().map(|id| id.as_str()).collect();
            Error::invalid(
                "policy",
                format!(
                    "{policy:?} is not a policy: expected one of {}",
                    known.join(", ")
                ),
            )
        })?;
        let mut draft = self.policy_set(integration_id).await?.draft;
        match draft.policies.iter_mut().find(|p| p.id == id) {
            Some(configured) => configured.enabled = enabled,
            None => draft.policies.push(logwarden_policy::PolicyConfig::new(
                id,
                enabled,
                logwarden_policy::Action::Alert,
            )),
        }
        self.set_draft(integration_id, &draft).await
    }
}
