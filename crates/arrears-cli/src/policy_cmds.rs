//! `arrears rules show` and `arrears check`: the conduct rule packs and the pre-contact
//! question, answered by the pure compliance engine in `arrears-policy`.

use crate::Failure;
use anyhow::{Context, anyhow};
use arrears_domain::Jurisdiction;
use arrears_policy::Pack;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct RulesArgs {
    #[command(subcommand)]
    pub command: RulesCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum RulesCommand {
    /// Print a jurisdiction's rule pack: every rule with its id, summary and source.
    Show {
        /// CN, US, GB (a subdivision such as US-NY shows its country's pack).
        jurisdiction: String,
        /// Print the pack file itself (TOML, with every parameter).
        #[arg(long)]
        toml: bool,
    },
}

pub fn rules(a: &RulesArgs) -> Result<(), Failure> {
    match &a.command {
        RulesCommand::Show { jurisdiction, toml } => {
            let j = Jurisdiction::parse("jurisdiction", jurisdiction)
                .map_err(|e| Failure::bad_input(anyhow!("{}", e.detail)))?;
            if *toml {
                let text = arrears_policy::EMBEDDED_PACKS
                    .iter()
                    .find(|(c, _)| *c == j.country())
                    .map(|(_, t)| *t)
                    .ok_or_else(|| Failure::bad_input(anyhow!("no rule pack for {j}")))?;
                print!("{text}");
                return Ok(());
            }
            let pack =
                Pack::for_jurisdiction(&j).map_err(|e| Failure::bad_input(anyhow!("{e}")))?;
            println!(
                "{} rule pack {} (version {})",
                pack.name(),
                pack.jurisdiction(),
                pack.version()
            );
            for r in pack.rules() {
                println!(
                    "\n{}\n  {}\n  source: {}",
                    r.id.as_str(),
                    r.summary,
                    r.source
                );
            }
            Ok(())
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    #[arg(long)]
    pub borrower: String,
    #[arg(long)]
    pub loan: Option<String>,
    /// sms, call, email, letter, push, visit (or an escalation: agency_placement, …).
    #[arg(long)]
    pub channel: String,
    /// The phone number or e-mail address to be used.
    #[arg(long)]
    pub target: Option<String>,
    /// Who would be contacted: borrower (default), co_borrower, designated_contact, attorney, …
    #[arg(long, default_value = "borrower")]
    pub party: String,
    /// The instant of the contact (RFC 3339 with offset).
    #[arg(long)]
    pub at: String,
    /// Portfolio folder with the borrower, their contacts so far, and loans.
    #[arg(long, required_unless_present = "db", conflicts_with = "db")]
    pub portfolio: Option<PathBuf>,
    /// Or the store (SQLite path, sqlite:PATH or postgres://…), as `arrears serve` reads it.
    #[arg(long)]
    pub db: Option<String>,
    /// The message text, for channels that carry one (checked against the content rules).
    #[arg(long)]
    pub text: Option<String>,
    /// The lender's name as the message names it.
    #[arg(long, default_value = "")]
    pub lender: String,
    /// The message's verification code.
    #[arg(long, default_value = "")]
    pub code: String,
    /// Why: collection (default), locate, plan_reminder or notice:<kind> (e.g.
    /// notice:assignment).
    #[arg(long)]
    pub purpose: Option<String>,
    /// The agency making the contact, or receiving a placement.
    #[arg(long)]
    pub agency: Option<String>,
    /// A lender policy file (default: the store's policy in force, else the `policy` of
    /// arrears.toml, else the packs' legal floors).
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Configuration file (arrears.toml), for its `policy`.
    #[arg(long)]
    pub config: Option<PathBuf>,
}

fn bad(e: impl std::fmt::Display) -> Failure {
    Failure::bad_input(anyhow!("{e}"))
}

/// The borrower's decision context from a portfolio folder (with its lifecycle tables), and
/// the policy in force: `arrears_app` builds it exactly as the plan does.
fn from_portfolio(
    a: &CheckArgs,
    dir: &std::path::Path,
) -> Result<
    (
        arrears_app::DecisionContext,
        arrears_policy::Language,
        arrears_app::EffectivePolicy,
    ),
    Failure,
> {
    let read = arrears_io::read_portfolio(dir, &|_, _| {}).map_err(Failure::bad_input)?;
    let p = &read.portfolio;
    let lifecycle = arrears_io::extensions::read_lifecycle(dir, p)
        .map_err(Failure::bad_input)?
        .lifecycle;
    let (ctx, language) = arrears_app::context::from_portfolio(p, &lifecycle, &a.borrower)
        .ok_or_else(|| {
            bad(format!(
                "no accepted borrower {:?} in {}",
                a.borrower,
                dir.display()
            ))
        })?;
    let policy = crate::lender_policy::resolve_files(a.policy.as_deref(), a.config.as_deref())?;
    Ok((ctx, language, policy))
}

/// The borrower's decision context from the store, and the policy in force there: the same
/// read and conversion as the server's `POST /v1/contacts/check`.
fn from_store(
    a: &CheckArgs,
    db: &str,
    at: jiff::Timestamp,
) -> Result<
    (
        arrears_app::DecisionContext,
        arrears_policy::Language,
        arrears_app::EffectivePolicy,
    ),
    Failure,
> {
    let target = crate::store_cmds::parse_target(db)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let on = at.to_zoned(jiff::tz::TimeZone::UTC).date();
    let (found, policy) = rt.block_on(async {
        let store = arrears_store::Store::open(&target)
            .await
            .map_err(|e| Failure::from(anyhow!(e)))?;
        let found = store
            .borrower_contacts(&a.borrower)
            .await
            .map_err(|e| Failure::from(anyhow!(e)));
        let policy = crate::lender_policy::resolve(
            a.policy.as_deref(),
            Some(&store),
            on,
            a.config.as_deref(),
        )
        .await;
        store.close().await;
        Ok::<_, Failure>((found?, policy?))
    })?;
    let bc = found.ok_or_else(|| bad(format!("no borrower {:?} in {target}", a.borrower)))?;
    let language = arrears_policy::Language::of_borrower(
        bc.borrower.language.as_deref(),
        &bc.borrower.jurisdiction,
    );
    Ok((arrears_app::from_store(&bc), language, policy))
}

pub fn check(a: &CheckArgs) -> Result<(), Failure> {
    let at = arrears_domain::parse::timestamp("--at", &a.at).map_err(|e| bad(e.detail))?;
    let (ctx, language, policy) = match (&a.portfolio, &a.db) {
        (Some(dir), _) => from_portfolio(a, dir)?,
        (None, Some(db)) => from_store(a, db, at)?,
        (None, None) => return Err(bad("give --portfolio DIR or --db TARGET")),
    };
    let spec = arrears_app::ContactSpec {
        borrower_id: &a.borrower,
        loan_id: a.loan.as_deref(),
        channel: &a.channel,
        party: Some(&a.party),
        target: a.target.as_deref(),
        purpose: a.purpose.as_deref(),
        agency_id: a.agency.as_deref(),
        text: a.text.as_deref(),
        lender: Some(&a.lender),
        code: Some(&a.code),
        language: None,
    };
    let proposed = spec.proposal(language).map_err(bad)?;
    let d = arrears_app::decide(&proposed, &ctx, at, &policy.packs);
    let (decision, rule_ids, earliest_allowed) = arrears_app::contact::answer(&d);
    let out = serde_json::json!({
        "decision": decision,
        "rule_ids": rule_ids,
        "earliest_allowed": earliest_allowed,
    });
    println!("{out}");
    Ok(())
}
