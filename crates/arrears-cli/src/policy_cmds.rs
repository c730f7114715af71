//! `arrears rules show` and `arrears check`: the conduct rule packs and the pre-contact
//! question, answered by the pure compliance engine in `arrears-policy`.

use crate::Failure;
use anyhow::{Context, anyhow};
use arrears_domain::types::{BorrowerId, LoanId};
use arrears_domain::{BorrowerRow, Jurisdiction};
use arrears_policy::{
    BorrowerFacts, Channel, ContactRecord, Decision, Language, Message, Pack, PackSet, Party,
    ProposedContact, Target,
};
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
}

fn bad(e: impl std::fmt::Display) -> Failure {
    Failure::bad_input(anyhow!("{e}"))
}

/// The borrower's row and contact history from a portfolio folder.
fn from_portfolio(
    a: &CheckArgs,
    dir: &std::path::Path,
) -> Result<(BorrowerRow, Vec<ContactRecord>), Failure> {
    let read = arrears_io::read_portfolio(dir, &|_, _| {}).map_err(Failure::bad_input)?;
    let p = &read.portfolio;
    let (bix, b) = p
        .borrowers
        .iter()
        .enumerate()
        .find(|(_, b)| b.id.as_str() == a.borrower)
        .ok_or_else(|| {
            bad(format!(
                "no accepted borrower {:?} in {}",
                a.borrower,
                dir.display()
            ))
        })?;
    let bid = BorrowerId::parse("--borrower", &a.borrower).map_err(|e| bad(e.detail))?;
    let history: Vec<ContactRecord> = p
        .contacts
        .iter()
        .filter(|c| c.borrower as usize == bix)
        .filter_map(|c| {
            let loan = c.loan.and_then(|l| p.loans.get(l as usize)).map(|l| &l.id);
            ContactRecord::from_row(&bid, loan, c)
        })
        .collect();
    Ok((b.clone(), history))
}

/// The borrower's row and contact history from the store (the same read and conversion as
/// the server's `POST /v1/contacts/check`).
fn from_store(a: &CheckArgs, db: &str) -> Result<(BorrowerRow, Vec<ContactRecord>), Failure> {
    let target = crate::store_cmds::parse_target(db)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let found = rt.block_on(async {
        let store = arrears_store::Store::open(&target).await?;
        let found = store.borrower_contacts(&a.borrower).await;
        store.close().await;
        found
    })?;
    let bc = found.ok_or_else(|| bad(format!("no borrower {:?} in {target}", a.borrower)))?;
    let history = bc
        .contacts
        .iter()
        .filter_map(|c| ContactRecord::from_row(&bc.borrower.id, c.loan_id.as_ref(), &c.row))
        .collect();
    Ok((bc.borrower, history))
}

pub fn check(a: &CheckArgs) -> Result<(), Failure> {
    let at = arrears_domain::parse::timestamp("--at", &a.at).map_err(|e| bad(e.detail))?;
    let (b, history) = match (&a.portfolio, &a.db) {
        (Some(dir), _) => from_portfolio(a, dir)?,
        (None, Some(db)) => from_store(a, db)?,
        (None, None) => return Err(bad("give --portfolio DIR or --db TARGET")),
    };
    let b = &b;
    let bid = b.id.clone();
    let facts = BorrowerFacts::from_borrower(b);
    let channel = Channel::parse(&a.channel).map_err(bad)?;
    let party = Party::parse(&a.party).map_err(bad)?;
    let target = a
        .target
        .as_deref()
        .map(Target::parse)
        .transpose()
        .map_err(bad)?;
    let mut proposed = ProposedContact::new(bid, channel, party, target);
    proposed.loan_id = a
        .loan
        .as_deref()
        .map(|l| LoanId::parse("--loan", l))
        .transpose()
        .map_err(|e| bad(e.detail))?;
    if let Some(text) = &a.text {
        let lang = b.language.as_deref().and_then(|l| Language::parse(l).ok());
        let lang = match lang {
            Some(l) => l,
            None => Language::parse("en").map_err(bad)?,
        };
        proposed.message = Some(Message::new(
            text.clone(),
            lang,
            a.lender.clone(),
            a.code.clone(),
        ));
    }
    let packs = PackSet::embedded().context("loading the rule packs")?;
    let out = match arrears_policy::check(&proposed, &facts, &history, at, &packs) {
        Decision::Allow(_) => {
            serde_json::json!({"decision": "allow", "rule_ids": [], "earliest_allowed": null})
        }
        Decision::Deny {
            rule_ids,
            earliest_allowed,
        } => serde_json::json!({
            "decision": "deny",
            "rule_ids": rule_ids.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
            "earliest_allowed": earliest_allowed.map(|t| t.to_string()),
        }),
    };
    println!("{out}");
    Ok(())
}
