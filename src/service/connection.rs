//! The Add New Integration wizard's Test connection: the same key check as
//! [`Services::add_integration`] (one small request to the Compliance API), without recording
//! anything.

use logwarden_compliance::ActivityQuery;

use super::integrations::{charge_to_organization, DEFAULT_BASE_URL};
use super::{Error, Services};
use crate::infra::secret::Secret;

/// What a successful test saw.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ConnectionCheck {
    pub base_url: String,
    /// The organisation of the newest activity, when there is one.
    pub organization_uuid: Option<String>,
}

impl Services {
    /// Sends one request with `api_key` to `base_url` (default: the production API) and says
    /// whether the key is accepted; the key is never part of the error.
    pub async fn test_connection(
        &self,
        base_url: Option<&str>,
        api_key: &Secret,
    ) -> Result<ConnectionCheck, Error> {
        if api_key.expose().trim().is_empty() {
            return Err(Error::invalid("api_key", "must not be empty"));
        }
        let base_url = base_url
            .map(str::trim)
            .filter(|url| !url.is_empty())
            .unwrap_or(DEFAULT_BASE_URL)
            .to_owned();
        self.base_url_rules.check(&base_url).await?;
        let client = self.one_off_client(&base_url, api_key, None)?;
        let probe = client
            .list_activities(&ActivityQuery::new().limit(1))
            .await
            .map_err(Error::Upstream)?;
        let organization_uuid = probe
            .into_body()
            .data
            .first()
            .and_then(|activity| activity.organization_uuid.clone());
        charge_to_organization(self.gates.as_ref(), organization_uuid.as_deref()).await;
        Ok(ConnectionCheck {
            base_url,
            organization_uuid,
        })
    }
}
