//! `logwarden pull`: one window through the client with nothing stored, and its counts — how
//! a user checks a key before creating an integration.

use clap::Args;

use super::input::parse_time;
use super::output;
use crate::config::{ApiSettings, Settings, SettingsArgs};
use crate::infra::secret::Secret;
use crate::ingest::pull::pull;
use crate::service::integrations::client_for;

#[derive(Debug, Args)]
pub struct PullArgs {
    #[arg(long)]
    base_url: String,
    #[arg(long, env = "LOGWARDEN_API_KEY", hide_env_values = true)]
    api_key: Secret,
    /// RFC 3339, inclusive.
    #[arg(long)]
    from: String,
    /// RFC 3339, exclusive.
    #[arg(long)]
    to: String,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    api: ApiSettings,
}

impl PullArgs {
    pub fn reads(&self, args: &mut SettingsArgs) {
        self.api.apply(args);
    }

    pub async fn run(self, settings: &Settings) -> anyhow::Result<()> {
        let from = parse_time("from", &self.from)?;
        let to = parse_time("to", &self.to)?;
        if from >= to {
            anyhow::bail!(
                "invalid --from {}: must be before --to {}",
                self.from,
                self.to
            );
        }
        let client = client_for(settings, &self.base_url, &self.api_key)?;
        let counts = pull(&client, from, to, |events| {
            output::progress(&format!("pulled {events} prompt events"))
        })
        .await
        .map_err(|err| anyhow::anyhow!("{err}"))?;
        output::progress_done();
        if self.json {
            output::json(&counts)?;
        } else {
            println!(
                "activities {}\nchats {}\nmessages {}\nprompt events {}",
                counts.activities, counts.chats, counts.messages, counts.prompt_events
            );
        }
        Ok(())
    }
}
