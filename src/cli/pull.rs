//! `logwarden pull`: one window through the client with nothing stored, and its counts — how
//! a user checks a key before creating an integration.

use clap::Args;

use super::input::parse_time;
use super::output;
use crate::config::{ApiSettings, RedisSettings, Settings, SettingsArgs};
use crate::infra::secret::Secret;
use crate::service::pull::pull_window;

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
    /// With Redis, the pull draws on the fleet's budget of the key's organisation.
    #[command(flatten)]
    redis: RedisSettings,
}

impl PullArgs {
    pub fn reads(&self, args: &mut SettingsArgs) {
        self.api.apply(args);
        self.redis.apply(args);
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
        let gates = crate::app::one_off_gates(settings)?;
        let counts = pull_window(
            settings,
            gates.as_ref(),
            &self.base_url,
            &self.api_key,
            (from, to),
            |events| output::progress(&format!("pulled {events} prompt events")),
        )
        .await?;
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
