//! `logwarden pull`'s one window with nothing stored, through the fleet's rate limiter when
//! Redis is configured: its requests draw on the organisation's budget like the workers' do.

use chrono::{DateTime, Utc};
use logwarden_compliance::ActivityQuery;

use super::integrations::{charge_to_organization, gated_client_for};
use super::Error;
use crate::config::Settings;
use crate::infra::ratelimit::GateFactory;
use crate::infra::secret::Secret;
use crate::ingest::pull::{pull, PullCounts};

/// Pulls and counts `[from, to)` with `api_key`. With `gates`, a first one-activity request
/// (on the shared budget of unidentified organisations, then charged to the organisation it
/// names) names the key's organisation, and the window's requests go through its budget.
pub async fn pull_window(
    settings: &Settings,
    gates: Option<&GateFactory>,
    base_url: &str,
    api_key: &Secret,
    window: (DateTime<Utc>, DateTime<Utc>),
    progress: impl Fn(u64) + Send + Sync,
) -> anyhow::Result<PullCounts> {
    let organization = match gates {
        Some(_) => gated_client_for(settings, gates, base_url, api_key, None)?
            .list_activities(&ActivityQuery::new().limit(1))
            .await
            .map_err(Error::Upstream)?
            .into_body()
            .data
            .into_iter()
            .next()
            .and_then(|activity| activity.organization_uuid),
        None => None,
    };
    charge_to_organization(gates, organization.as_deref()).await;
    let client = gated_client_for(settings, gates, base_url, api_key, organization.as_deref())?;
    // A job error's message names the request and the status; it never holds the key.
    pull(&client, window.0, window.1, progress)
        .await
        .map_err(|err| anyhow::anyhow!("{err}"))
}
