//! `logwarden fake-api`: serves the fake Compliance API as a process of its own, for tests,
//! demos and load.

use clap::Args;

use super::input::parse_time;

#[derive(Debug, Args)]
pub struct FakeApiArgs {
    #[arg(long, default_value_t = 8181)]
    port: u16,
    #[arg(long, default_value = "127.0.0.1")]
    host: std::net::IpAddr,
    /// Seed of the generated organisation.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    #[arg(long, default_value_t = 12)]
    users: u32,
    #[arg(long, default_value_t = 3)]
    chats_per_user_per_day: u32,
    #[arg(long, default_value_t = 3)]
    turns_per_chat: u32,
    /// First instant of the generated history (default 2026-04-01T00:00:00Z).
    #[arg(long)]
    start: Option<String>,
    #[arg(long, default_value_t = 14)]
    days: u32,
    /// Share of prompts that carry a planted policy hit.
    #[arg(long, default_value_t = 0.08)]
    plant_rate: f64,
    /// Accepted key, `VALUE[:scope,scope...]` (repeatable). Default: the documented test key
    /// with every read scope.
    #[arg(long = "key")]
    keys: Vec<String>,
    /// Requests per minute for the organisation.
    #[arg(long, default_value_t = 600)]
    rate_limit: u32,
    /// Switch the rate limit off.
    #[arg(long)]
    no_rate_limit: bool,
    /// New chats and messages keep arriving as real time passes.
    #[arg(long)]
    live: bool,
    /// Faults in force at start, as the JSON of `POST /_fake/faults`.
    #[arg(long)]
    faults: Option<String>,
}

impl FakeApiArgs {
    pub async fn run(self) -> anyhow::Result<()> {
        let keys = self
            .keys
            .iter()
            .map(|spec| spec.parse::<logwarden_fake_api::ApiKeySpec>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| anyhow::anyhow!("invalid --key: {err}"))?;
        let faults = match &self.faults {
            Some(json) => serde_json::from_str(json)
                .map_err(|err| anyhow::anyhow!("invalid --faults: {err}"))?,
            None => Default::default(),
        };
        let config = logwarden_fake_api::FakeConfig {
            seed: self.seed,
            users: self.users,
            chats_per_user_per_day: self.chats_per_user_per_day,
            turns_per_chat: self.turns_per_chat,
            start: self
                .start
                .as_deref()
                .map(|s| parse_time("start", s))
                .transpose()?,
            days: self.days,
            plant_rate: self.plant_rate,
            keys,
            rate_limit: (!self.no_rate_limit).then_some(self.rate_limit),
            live: self.live,
            faults,
        };
        let addr = std::net::SocketAddr::new(self.host, self.port);
        if config.keys.is_empty() {
            eprintln!(
                "accepting the default test key {}",
                logwarden_fake_api::DEFAULT_TEST_KEY
            );
        }
        eprintln!("fake Compliance API on http://{addr}");
        logwarden_fake_api::serve(config, addr).await?;
        Ok(())
    }
}
