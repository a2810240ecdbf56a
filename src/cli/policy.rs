//! `logwarden policy …`: evaluate text against a policy set, list the templates, and edit,
//! install and re-run an integration's policy set.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use logwarden_policy::{template, templates, CompiledPolicySet, PolicySetConfig};

use super::input::parse_time;
use super::output::{self, Table};
use crate::app::App;
use crate::config::{DatabaseSettings, JobSettings, Settings, SettingsArgs};

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Read JSON lines {"id", "role": "user"|"assistant"|"tool", "text"} on stdin and write one
    /// JSON line of findings and tags per input.
    Eval {
        /// A template: default, data-protection, prompt-attacks or strict.
        #[arg(long, conflicts_with_all = ["integration", "file"])]
        template: Option<String>,
        /// The installed policy set of an integration (id or name).
        #[arg(long, conflicts_with = "file")]
        integration: Option<String>,
        /// A policy set in TOML.
        #[arg(long)]
        file: Option<PathBuf>,
        #[command(flatten)]
        database: DatabaseSettings,
    },
    /// Measure prompt-attack detection on a labelled dataset: accuracy, precision, recall, F1,
    /// FPR, and recall per category. Each text is evaluated as a user message; any
    /// prompt_injection, jailbreak, leakage, obfuscated_attacks or encoded_attacks finding
    /// counts as "attack".
    Benchmark {
        /// The dataset file (see scripts/fetch-datasets.sh).
        #[arg(long)]
        dataset: PathBuf,
        /// neuralchemy, s-labs, jsonl or attack-list.
        #[arg(long)]
        format: String,
        /// The policy set: a template name.
        #[arg(long, default_value = "strict")]
        template: String,
        /// What flags a text: set (the template's rules and classifier) or model (the
        /// classifier alone).
        #[arg(long, default_value = "set")]
        detector: String,
        /// The classifier's sensitivity, set on prompt_injection, jailbreak and leakage:
        /// off (rules only), low, medium, high, or a threshold in (0, 1).
        #[arg(long, default_value = "medium")]
        sensitivity: String,
    },
    /// List the templates.
    Templates,
    /// Show an integration's draft, installed version and pending changes.
    Show {
        integration: String,
        #[command(flatten)]
        database: DatabaseSettings,
    },
    /// Replace an integration's draft with a template or a TOML file.
    Draft {
        integration: String,
        #[arg(long, conflicts_with = "file", required_unless_present = "file")]
        template: Option<String>,
        #[arg(long)]
        file: Option<PathBuf>,
        #[command(flatten)]
        database: DatabaseSettings,
    },
    /// Install the draft as the next version.
    Install {
        integration: String,
        #[command(flatten)]
        database: DatabaseSettings,
    },
    /// Re-run the installed set over stored events of a time range: a backfill of
    /// `reevaluate` batches, one per hour, followed like any backfill.
    Reevaluate {
        integration: String,
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        #[command(flatten)]
        database: DatabaseSettings,
        #[command(flatten)]
        jobs: JobSettings,
    },
}

impl PolicyCommand {
    pub fn reads(&self, args: &mut SettingsArgs) {
        match self {
            // Only --integration reads the database; a template or a file needs none.
            Self::Eval {
                integration: Some(_),
                database,
                ..
            }
            | Self::Show { database, .. }
            | Self::Draft { database, .. }
            | Self::Install { database, .. } => database.apply(args),
            Self::Reevaluate { database, jobs, .. } => {
                database.apply(args);
                jobs.apply(args);
            }
            Self::Eval { .. } | Self::Benchmark { .. } | Self::Templates => {}
        }
    }

    pub async fn run(self, settings: &Settings) -> anyhow::Result<()> {
        match self {
            Self::Eval {
                template: name,
                integration,
                file,
                ..
            } => {
                let config = match (name, integration, file) {
                    (_, _, Some(path)) => read_policy_file(&path)?,
                    (_, Some(key), None) => {
                        let services = App::build(settings).await?.services;
                        let id = services.resolve_integration(&key).await?;
                        crate::service::policies::installed(&services.db, id)
                            .await?
                            .map(|(_, config)| config)
                            .ok_or_else(|| {
                                anyhow::anyhow!("integration {key:?} has no installed policy set")
                            })?
                    }
                    (name, None, None) => {
                        let name = name.unwrap_or_else(|| "default".to_owned());
                        template(&name).ok_or_else(|| {
                            let known: Vec<&str> = templates().iter().map(|t| t.id).collect();
                            anyhow::anyhow!(
                                "invalid --template {name:?}: expected one of default, {}",
                                known.join(", ")
                            )
                        })?
                    }
                };
                let set =
                    CompiledPolicySet::compile(&config).map_err(|err| anyhow::anyhow!("{err}"))?;
                let summary = logwarden_policy::run_eval(
                    std::io::stdin().lock(),
                    std::io::stdout().lock(),
                    &set,
                )?;
                eprintln!(
                    "{} lines, {} flagged, {} errors",
                    summary.lines, summary.flagged, summary.errors
                );
            }
            Self::Benchmark {
                dataset,
                format,
                template: name,
                detector,
                sensitivity,
            } => benchmark(&dataset, &format, &name, &detector, &sensitivity)?,
            Self::Templates => {
                let table = Table::new(&[("ID", 16), ("NAME", 18), ("DESCRIPTION", 0)]);
                for info in templates() {
                    table.row(&[
                        info.id.to_owned(),
                        info.name.to_owned(),
                        info.description.to_owned(),
                    ]);
                }
            }
            Self::Show { integration, .. } => {
                let services = App::build(settings).await?.services;
                let id = services.resolve_integration(&integration).await?;
                output::json(&services.policy_set(id).await?)?;
            }
            Self::Draft {
                integration,
                template,
                file,
                ..
            } => {
                let services = App::build(settings).await?.services;
                let id = services.resolve_integration(&integration).await?;
                let view = match (template, file) {
                    (_, Some(path)) => services.set_draft(id, &read_policy_file(&path)?).await?,
                    (Some(name), None) => services.draft_from_template(id, &name).await?,
                    (None, None) => anyhow::bail!("give --template NAME or --file policy-set.toml"),
                };
                eprintln!(
                    "draft saved; {} pending changes",
                    view.pending_changes.len()
                );
                output::json(&view.pending_changes)?;
            }
            Self::Reevaluate {
                integration,
                from,
                to,
                ..
            } => {
                let services = App::build(settings).await?.services;
                let id = services.resolve_integration(&integration).await?;
                let view = services
                    .start_reevaluation(id, parse_time("from", &from)?, parse_time("to", &to)?)
                    .await?;
                println!("{}", view.id);
                eprintln!(
                    "re-evaluation {} recorded with policy set version {}: {} batches; \
                     follow it with `backfill status {}`",
                    view.id,
                    view.policy_set_version.unwrap_or_default(),
                    view.batches_total,
                    view.id
                );
            }
            Self::Install { integration, .. } => {
                let services = App::build(settings).await?.services;
                let id = services.resolve_integration(&integration).await?;
                let view = services.install_policy_set(id, "cli").await?;
                eprintln!(
                    "installed version {}",
                    view.installed_version.unwrap_or_default()
                );
            }
        }
        Ok(())
    }
}

fn benchmark(
    dataset: &Path,
    format: &str,
    name: &str,
    detector: &str,
    sensitivity: &str,
) -> anyhow::Result<()> {
    use logwarden_policy::benchmark::{run_benchmark, Detector};
    use logwarden_policy::classifier::{self, dataset as data, Sensitivity};
    use logwarden_policy::PolicyParams;
    let format = data::Format::parse(format).map_err(|e| anyhow::anyhow!("--format: {e}"))?;
    let sensitivity =
        Sensitivity::parse(sensitivity).map_err(|e| anyhow::anyhow!("--sensitivity {e}"))?;
    let mut config = template(name).ok_or_else(|| {
        let known: Vec<&str> = templates().iter().map(|t| t.id).collect();
        anyhow::anyhow!(
            "invalid --template {name:?}: expected one of default, {}",
            known.join(", ")
        )
    })?;
    for policy in &mut config.policies {
        match &mut policy.params {
            PolicyParams::PromptInjection(p) => p.sensitivity = sensitivity,
            PolicyParams::Jailbreak(p) => p.sensitivity = sensitivity,
            PolicyParams::Leakage(p) => p.sensitivity = sensitivity,
            _ => {}
        }
    }
    let set = CompiledPolicySet::compile(&config).map_err(|err| anyhow::anyhow!("{err}"))?;
    let model = classifier::builtin();
    let threshold = sensitivity.threshold(model);
    let chosen = match (detector, threshold) {
        ("set", _) => Detector::Set(&set),
        ("model", Some(t)) => Detector::Model(model, t),
        ("model", None) => anyhow::bail!("--detector model needs a --sensitivity other than off"),
        (other, _) => anyhow::bail!("invalid --detector {other:?}: valid values: set, model"),
    };
    let examples = data::read(dataset, format)?;
    let report = run_benchmark(&examples, chosen);
    let threshold = threshold.map_or_else(|| "off".to_owned(), |t| t.to_string());
    print!(
        "{}",
        report.render(&format!(
            "{}: template {name}, detector {detector}, classifier {} at threshold {threshold}\n",
            dataset.display(),
            model.version,
        ))
    );
    Ok(())
}

fn read_policy_file(path: &Path) -> anyhow::Result<PolicySetConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read policy set file {}", path.display()))?;
    PolicySetConfig::from_toml_str(&text)
        .map_err(|err| anyhow::anyhow!("policy set file {}: {err}", path.display()))
}
