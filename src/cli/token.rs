//! `logwarden token …`: create (prints the token once), list and revoke API tokens, on
//! whatever database the settings name — the demo's SQLite file included.

use clap::{Args, Subcommand};

use super::output::{self, Table};
use crate::app::App;
use crate::config::{DatabaseSettings, Settings, SettingsArgs};
use crate::service::tokens::{NewToken, Role};

#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(flatten)]
    database: DatabaseSettings,
    #[command(subcommand)]
    command: TokenCommand,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a token and print it (once: only its hash is stored).
    Create {
        /// admin, operator or investigator
        #[arg(long)]
        role: String,
        /// A project the token is limited to (repeatable; default: every project).
        #[arg(long = "project")]
        projects: Vec<String>,
        /// A name to recognise it by in `token list` and the audit log.
        #[arg(long)]
        name: Option<String>,
    },
    /// List tokens (never their secrets).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by id: it is refused from now on.
    Revoke { id: i64 },
}

impl TokenArgs {
    pub fn reads(&self, args: &mut SettingsArgs) {
        self.database.apply(args);
    }

    pub async fn run(self, settings: &Settings) -> anyhow::Result<()> {
        let services = App::build(settings).await?.services;
        match self.command {
            TokenCommand::Create {
                role,
                projects,
                name,
            } => {
                let role: Role = role.parse()?;
                let name = name.unwrap_or_else(|| format!("{role} token"));
                let created = services
                    .create_token(NewToken {
                        name,
                        role,
                        projects,
                    })
                    .await?;
                let scope = if created.view.projects.is_empty() {
                    "every project".to_owned()
                } else {
                    created.view.projects.join(", ")
                };
                eprintln!(
                    "token {} ({}, role {}, {scope}); it is shown only now:",
                    created.view.id, created.view.name, created.view.role
                );
                println!("{}", created.token.expose());
            }
            TokenCommand::List { json } => {
                let tokens = services.list_tokens().await?;
                if json {
                    return output::json(&tokens);
                }
                let table = Table::new(&[
                    ("ID", 5),
                    ("NAME", 20),
                    ("ROLE", 12),
                    ("PROJECTS", 20),
                    ("LAST USED", 25),
                    ("REVOKED", 0),
                ]);
                for token in tokens {
                    table.row(&[
                        token.id.to_string(),
                        token.name,
                        token.role.to_string(),
                        if token.projects.is_empty() {
                            "*".to_owned()
                        } else {
                            token.projects.join(",")
                        },
                        token
                            .last_used_at
                            .map(|t| t.to_rfc3339())
                            .unwrap_or_else(|| "-".to_owned()),
                        token
                            .revoked_at
                            .map(|t| t.to_rfc3339())
                            .unwrap_or_else(|| "-".to_owned()),
                    ]);
                }
            }
            TokenCommand::Revoke { id } => {
                let token = services.revoke_token(id).await?;
                eprintln!("token {} ({}) revoked", token.id, token.name);
            }
        }
        Ok(())
    }
}
