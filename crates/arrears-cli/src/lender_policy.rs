//! `arrears policy set|show`, and the one place the CLI decides which lender policy a command
//! uses: `--policy FILE` when given; else, over a store, the version in force on the business
//! date (`policy set`); else the `policy` file named in `arrears.toml`; else the packs' legal
//! floors. The resolution itself (parse, tighten, refuse a looser value) is
//! `arrears_app::rules`.

use crate::Failure;
use anyhow::{Context, anyhow};
use arrears_app::rules::{self, EffectivePolicy};
use arrears_store::Store;
use jiff::civil::Date;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct PolicyArgs {
    #[command(subcommand)]
    pub command: PolicyCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum PolicyCommand {
    /// Store a new version of the lender's policy (checked first: it may only tighten every
    /// pack). Every command over the store and the server use the version in force.
    Set {
        /// The policy file (TOML: `[policy]`, `[rules."ID"]`, `[limitation_years]`).
        file: PathBuf,
        /// The first business date it is in force (default: today, UTC).
        #[arg(long, value_parser = crate::daily::parse_date)]
        effective_from: Option<Date>,
        /// Who sets it (recorded with the version).
        #[arg(long, default_value = "cli")]
        actor: String,
        #[arg(long, env = "ARREARS_DATABASE_URL", default_value = "arrears.db")]
        db: String,
    },
    /// Show the version in force on a date (default today), or every version with `--all`.
    Show {
        #[arg(long, value_parser = crate::daily::parse_date)]
        on: Option<Date>,
        #[arg(long)]
        all: bool,
        #[arg(long, env = "ARREARS_DATABASE_URL", default_value = "arrears.db")]
        db: String,
    },
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
        .map_err(Failure::from)
}

fn today() -> Date {
    crate::outbox_cmds::wall_clock()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
}

fn rules_failure(e: rules::RulesError) -> Failure {
    match e {
        e @ rules::RulesError::Policy { .. } => Failure::bad_input(anyhow!("{e}")),
        other => Failure::from(anyhow!("{other}")),
    }
}

pub fn policy(a: &PolicyArgs) -> Result<(), Failure> {
    let rt = runtime()?;
    rt.block_on(async {
        match &a.command {
            PolicyCommand::Set {
                file,
                effective_from,
                actor,
                db,
            } => {
                let text = std::fs::read_to_string(file)
                    .with_context(|| format!("reading {}", file.display()))
                    .map_err(Failure::bad_input)?;
                let store = open(db).await?;
                let on = effective_from.unwrap_or_else(today);
                let version = rules::set_in_store(
                    &store,
                    &text,
                    &file.display().to_string(),
                    on,
                    actor,
                    crate::outbox_cmds::wall_clock(),
                )
                .await
                .map_err(rules_failure)?;
                store.close().await;
                println!(
                    "policy version {version} stored, in force from {on} (sha256 {})",
                    rules::digest(&text)
                );
                Ok(())
            }
            PolicyCommand::Show { on, all, db } => {
                let store = open(db).await?;
                if *all {
                    let versions = store.policies().await.map_err(store_err)?;
                    if versions.is_empty() {
                        println!("no lender policy stored: the packs' legal floors apply");
                    }
                    for p in versions {
                        println!(
                            "version {} in force from {} set {} by {} (sha256 {})",
                            p.version, p.effective_from, p.set_at, p.actor, p.sha256
                        );
                    }
                } else {
                    let on = on.unwrap_or_else(today);
                    match store.policy_in_force(on).await.map_err(store_err)? {
                        None => println!(
                            "no lender policy in force on {on}: the packs' legal floors apply"
                        ),
                        Some(p) => {
                            println!(
                                "# version {} in force from {} (set {} by {}, sha256 {})",
                                p.version, p.effective_from, p.set_at, p.actor, p.sha256
                            );
                            print!("{}", p.text);
                        }
                    }
                }
                store.close().await;
                Ok(())
            }
        }
    })
}

fn store_err(e: arrears_store::StoreError) -> Failure {
    Failure::from(anyhow!(e))
}

async fn open(db: &str) -> Result<Store, Failure> {
    let target = crate::store_cmds::parse_target(db)?;
    Store::open(&target).await.map_err(store_err)
}

/// The policy a command uses (see the module's doc): `flag`, else the store's version in force
/// on `on`, else the configuration's `policy` file, else the floors.
pub async fn resolve(
    flag: Option<&Path>,
    store: Option<&Store>,
    on: Date,
    config_file: Option<&Path>,
) -> Result<EffectivePolicy, Failure> {
    if let Some(p) = flag {
        return from_file(p);
    }
    if let Some(store) = store
        && store
            .policy_in_force(on)
            .await
            .map_err(store_err)?
            .is_some()
    {
        return rules::in_store(store, on).await.map_err(rules_failure);
    }
    if let Some(p) = config_file.and_then(config_policy_file) {
        return from_file(&p);
    }
    rules::from_file(None).map_err(rules_failure)
}

/// The store's next policy version after `after` and the instant it takes effect (midnight
/// UTC of its date), unless `--policy` overrides the store's versions.
pub async fn next_in_store(
    flag: Option<&Path>,
    store: &Store,
    after: Date,
) -> Result<Option<(jiff::Timestamp, EffectivePolicy)>, Failure> {
    if flag.is_some() {
        return Ok(None);
    }
    let next = store
        .policies()
        .await
        .map_err(store_err)?
        .into_iter()
        .filter(|p| p.effective_from > after)
        .min_by_key(|p| (p.effective_from, std::cmp::Reverse(p.version)));
    let Some(p) = next else {
        return Ok(None);
    };
    let from = p
        .effective_from
        .to_zoned(jiff::tz::TimeZone::UTC)
        .map_err(|e| Failure::from(anyhow!("{e}")))?
        .timestamp();
    Ok(Some((from, rules::from_stored(&p).map_err(rules_failure)?)))
}

/// [`resolve`] for commands without a store.
pub fn resolve_files(
    flag: Option<&Path>,
    config_file: Option<&Path>,
) -> Result<EffectivePolicy, Failure> {
    if let Some(p) = flag {
        return from_file(p);
    }
    if let Some(p) = config_file.and_then(config_policy_file) {
        return from_file(&p);
    }
    rules::from_file(None).map_err(rules_failure)
}

fn from_file(p: &Path) -> Result<EffectivePolicy, Failure> {
    let text = std::fs::read_to_string(p)
        .with_context(|| format!("reading {}", p.display()))
        .map_err(Failure::bad_input)?;
    rules::from_file(Some((&p.display().to_string(), &text))).map_err(rules_failure)
}

/// The `policy` key of an `arrears.toml` (a path relative to the file's folder), if any.
pub fn config_policy_file(config: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(config).ok()?;
    let table: toml::Table = toml::from_str(&text).ok()?;
    let rel = table.get("policy")?.as_str()?;
    Some(config.parent().unwrap_or(Path::new(".")).join(rel))
}
