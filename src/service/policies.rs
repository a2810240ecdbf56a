//! Versioned policy sets. Each integration has a draft that edits change and immutable
//! installed versions; "pending changes" is the difference between the draft and the latest
//! installed version, and `install` makes the draft the next version. A draft is validated
//! and compiled before it is stored, so nothing invalid is ever installed half-way.

use chrono::{DateTime, TimeDelta, Utc};
use logwarden_entities::policy_set::{self, PolicySetState};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, SqlErr,
    TransactionTrait,
};
use serde::Serialize;

/// The time slice of one re-evaluation batch: a `reevaluate` job re-runs the set over the
/// events of one slice, short enough to finish well inside the job timeout.
pub const REEVALUATION_SLICE: TimeDelta = TimeDelta::hours(1);

use super::backfills::BackfillView;
use super::{Error, Services};
use logwarden_jobs::window::Window;
use logwarden_policy::{template, templates, CompiledPolicySet, PolicySetConfig};

/// An integration's policy sets as the policy view shows them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PolicySetView {
    pub integration_id: i64,
    /// The draft set: `{"policies": [{"id", "enabled", "action", "applies_to", "params"}]}`.
    #[schema(value_type = Object)]
    pub draft: PolicySetConfig,
    pub draft_template: Option<String>,
    pub installed_version: Option<i32>,
    pub installed_at: Option<DateTime<Utc>>,
    #[schema(value_type = Option<Object>)]
    pub installed: Option<PolicySetConfig>,
    /// What installing the draft would change.
    pub pending_changes: Vec<PolicyChange>,
}

/// One difference between the draft and the installed version.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PolicyChange {
    pub policy: String,
    /// `added`, `removed`, or the changed field (`enabled`, `action`, `applies_to`, `params`).
    pub change: String,
    pub installed: Option<serde_json::Value>,
    pub draft: Option<serde_json::Value>,
}

/// The installed version of an integration and its set, if any.
pub async fn installed(
    db: &impl ConnectionTrait,
    integration_id: i64,
) -> Result<Option<(i32, PolicySetConfig)>, Error> {
    let row = policy_set::Entity::find()
        .filter(policy_set::Column::IntegrationId.eq(integration_id))
        .filter(policy_set::Column::State.eq(PolicySetState::Installed))
        .order_by_desc(policy_set::Column::Version)
        .one(db)
        .await?;
    row.map(|row| Ok((row.version, parse_stored(&row.config)?)))
        .transpose()
}

fn parse_stored(config: &str) -> Result<PolicySetConfig, Error> {
    PolicySetConfig::from_json_str(config)
        .map_err(|err| Error::Configuration(format!("a stored policy set is invalid: {err}")))
}

fn validated(config: &PolicySetConfig) -> Result<String, Error> {
    CompiledPolicySet::compile(config)
        .map_err(|err| Error::invalid("policy_set", err.to_string()))?;
    serde_json::to_string(config).map_err(|err| Error::invalid("policy_set", err.to_string()))
}

/// Stores `config` as the integration's draft.
pub(crate) async fn write_draft(
    db: &impl ConnectionTrait,
    integration_id: i64,
    config: &PolicySetConfig,
    template: Option<&str>,
) -> Result<(), Error> {
    let text = validated(config)?;
    let now = Utc::now();
    policy_set::Entity::insert(policy_set::ActiveModel {
        integration_id: Set(integration_id),
        version: Set(0),
        state: Set(PolicySetState::Draft),
        config: Set(text),
        template: Set(template.map(str::to_owned)),
        installed_at: Set(None),
        installed_by: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::columns([
            policy_set::Column::IntegrationId,
            policy_set::Column::Version,
        ])
        .update_columns([
            policy_set::Column::Config,
            policy_set::Column::Template,
            policy_set::Column::UpdatedAt,
        ])
        .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Copies the draft into the next installed version.
async fn install_draft(
    db: &impl ConnectionTrait,
    integration_id: i64,
    by: &str,
) -> Result<i32, Error> {
    let draft = policy_set::Entity::find()
        .filter(policy_set::Column::IntegrationId.eq(integration_id))
        .filter(policy_set::Column::Version.eq(0))
        .one(db)
        .await?
        .ok_or_else(|| Error::Conflict("there is no draft to install".to_owned()))?;
    validated(&parse_stored(&draft.config)?)?;
    let next = installed(db, integration_id)
        .await?
        .map_or(1, |(version, _)| version + 1);
    let now = Utc::now();
    policy_set::Entity::insert(policy_set::ActiveModel {
        integration_id: Set(integration_id),
        version: Set(next),
        state: Set(PolicySetState::Installed),
        config: Set(draft.config),
        template: Set(draft.template),
        installed_at: Set(Some(now)),
        installed_by: Set(Some(by.to_owned())),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    })
    .exec_without_returning(db)
    .await?;
    Ok(next)
}

/// A new integration starts with the default set as its draft and installed version 1.
pub async fn install_default(db: &impl ConnectionTrait, integration_id: i64) -> Result<(), Error> {
    let default = template("default")
        .ok_or_else(|| Error::Configuration("the default policy set is missing".to_owned()))?;
    write_draft(db, integration_id, &default, Some("default")).await?;
    install_draft(db, integration_id, "system").await?;
    Ok(())
}

/// Differences per policy, by policy id, between two sets.
pub fn diff(installed: Option<&PolicySetConfig>, draft: &PolicySetConfig) -> Vec<PolicyChange> {
    let by_id =
        |set: Option<&PolicySetConfig>| -> std::collections::BTreeMap<String, serde_json::Value> {
            set.map(|set| {
                set.policies
                    .iter()
                    .filter_map(|policy| serde_json::to_value(policy).ok())
                    .filter_map(|value| Some((value.get("id")?.as_str()?.to_owned(), value)))
                    .collect()
            })
            .unwrap_or_default()
        };
    let (before, after) = (by_id(installed), by_id(Some(draft)));
    let mut changes = Vec::new();
    for (id, old) in &before {
        match after.get(id) {
            None => changes.push(PolicyChange {
                policy: id.clone(),
                change: "removed".to_owned(),
                installed: Some(old.clone()),
                draft: None,
            }),
            Some(new) => {
                let fields = old
                    .as_object()
                    .into_iter()
                    .chain(new.as_object())
                    .flat_map(|map| map.keys().cloned())
                    .collect::<std::collections::BTreeSet<_>>();
                for field in fields {
                    let (a, b) = (old.get(&field), new.get(&field));
                    if a != b {
                        changes.push(PolicyChange {
                            policy: id.clone(),
                            change: field,
                            installed: a.cloned(),
                            draft: b.cloned(),
                        });
                    }
                }
            }
        }
    }
    for (id, new) in &after {
        if !before.contains_key(id) {
            changes.push(PolicyChange {
                policy: id.clone(),
                change: "added".to_owned(),
                installed: None,
                draft: Some(new.clone()),
            });
        }
    }
    changes
}

impl Services {
    /// Records a re-evaluation of the integration's stored events of `[from, to)` with its
    /// installed set: a backfill row with that version, in batches of
    /// [`REEVALUATION_SLICE`], each a `reevaluate` job that the pump feeds, counts and
    /// refreshes as it does a backfill's (pause, cancel and retry work alike). A range and
    /// version already recorded is refused; another range end is another re-evaluation.
    pub async fn start_reevaluation(
        &self,
        integration_id: i64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<BackfillView, Error> {
        let row = self.open_integration(integration_id).await?;
        if from >= to {
            return Err(Error::invalid(
                "from",
                format!("{from} must be before to {to}"),
            ));
        }
        let (version, _) = installed(&self.db, row.id).await?.ok_or_else(|| {
            Error::Conflict(format!(
                "integration {:?} has no installed policy set",
                row.name
            ))
        })?;
        let range = Window {
            start: from,
            end: to,
        };
        let recorded = self
            .record_batched(
                &row,
                range,
                REEVALUATION_SLICE,
                Some(version),
                "reevaluate".to_owned(),
                Utc::now(),
            )
            .await;
        let created = match recorded {
            Err(Error::Db(err))
                if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) =>
            {
                return Err(Error::Conflict(format!(
                    "a re-evaluation of {from} to {to} with version {version} is already recorded"
                )));
            }
            other => other?,
        };
        self.backfill(created.id).await
    }

    pub async fn policy_set(&self, integration_id: i64) -> Result<PolicySetView, Error> {
        let draft = policy_set::Entity::find()
            .filter(policy_set::Column::IntegrationId.eq(integration_id))
            .filter(policy_set::Column::Version.eq(0))
            .one(&self.db)
            .await?
            .ok_or_else(|| Error::not_found("policy set of integration", integration_id))?;
        let latest = policy_set::Entity::find()
            .filter(policy_set::Column::IntegrationId.eq(integration_id))
            .filter(policy_set::Column::State.eq(PolicySetState::Installed))
            .order_by_desc(policy_set::Column::Version)
            .one(&self.db)
            .await?;
        let draft_config = parse_stored(&draft.config)?;
        let installed_config = latest
            .as_ref()
            .map(|l| parse_stored(&l.config))
            .transpose()?;
        Ok(PolicySetView {
            integration_id,
            pending_changes: diff(installed_config.as_ref(), &draft_config),
            draft: draft_config,
            draft_template: draft.template,
            installed_version: latest.as_ref().map(|l| l.version),
            installed_at: latest.as_ref().and_then(|l| l.installed_at),
            installed: installed_config,
        })
    }

    /// Replaces the draft with a template (`data-protection`, `prompt-attacks`, `strict`, …).
    pub async fn draft_from_template(
        &self,
        integration_id: i64,
        id: &str,
    ) -> Result<PolicySetView, Error> {
        let config = template(id).ok_or_else(|| {
            let known: Vec<&str> = templates().iter().map(|t| t.id).collect();
            Error::invalid(
                "template",
                format!(
                    "{id:?} is not a template: expected one of {}",
                    known.join(", ")
                ),
            )
        })?;
        self.integration_row(integration_id).await?;
        write_draft(&self.db, integration_id, &config, Some(id)).await?;
        self.policy_set(integration_id).await
    }

    /// Replaces the draft with `config` after validating and compiling it.
    pub async fn set_draft(
        &self,
        integration_id: i64,
        config: &PolicySetConfig,
    ) -> Result<PolicySetView, Error> {
        self.integration_row(integration_id).await?;
        write_draft(&self.db, integration_id, config, None).await?;
        self.policy_set(integration_id).await
    }

    /// Installs the draft as the next version; new jobs evaluate with it.
    pub async fn install_policy_set(
        &self,
        integration_id: i64,
        by: &str,
    ) -> Result<PolicySetView, Error> {
        let view = self.policy_set(integration_id).await?;
        if view.installed_version.is_some() && view.pending_changes.is_empty() {
            return Err(Error::Conflict(
                "the draft has no pending changes to install".to_owned(),
            ));
        }
        let txn = self.db.begin().await?;
        install_draft(&txn, integration_id, by).await?;
        txn.commit().await?;
        self.policy_set(integration_id).await
    }
}
