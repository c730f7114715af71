//! `arrears write-off` and `arrears settlement` (`docs/settlement.md`): the supervisor's
//! decisions on the plan's write-off proposals and settlements (offer, accept, withdraw, list,
//! review). Who acts signs in with their own password (`--user U --password-stdin`, checked
//! against the store's argon2id hash, like the staff pages); nothing here takes a name as
//! free text. Every use case is `arrears_app::settle`.

use crate::Failure;
use crate::store_cmds::{DbOpt, open, store_failure};
use anyhow::{Context, anyhow};
use arrears_app::settle::{self, Acceptor, OfferTerms, SettleError, Staff};
use arrears_store::{SettlementsOf, Store, StoredSettlement};
use jiff::civil::Date;
use std::io::Read;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct WriteOffArgs {
    #[command(subcommand)]
    pub command: WriteOffCommand,
}

/// Who acts: a staff user and their password on standard input.
#[derive(clap::Args, Debug)]
pub struct SignIn {
    /// Your staff username (`arrears users add`).
    #[arg(long)]
    pub user: String,
    /// Read your password from standard input (one line); the only way to give it.
    #[arg(long, required = true)]
    pub password_stdin: bool,
}

#[derive(clap::Subcommand, Debug)]
pub enum WriteOffCommand {
    /// The plan's write-off proposals waiting for a decision (`--all`: decided ones too).
    Proposals {
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        db: DbOpt,
    },
    /// Approve a proposal: the loan's balances are written off by component and it becomes
    /// written_off.
    Approve(DecideArgs),
    /// Reject a proposal (the loan is not proposed again for 30 days).
    Reject(DecideArgs),
}

#[derive(clap::Args, Debug)]
pub struct DecideArgs {
    /// The proposal id (the plan's action id).
    pub proposal: String,
    #[arg(long)]
    pub reason: String,
    #[command(flatten)]
    pub sign_in: SignIn,
    #[command(flatten)]
    pub db: DbOpt,
}

#[derive(clap::Args, Debug)]
pub struct SettlementArgs {
    #[command(subcommand)]
    pub command: SettlementCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum SettlementCommand {
    /// Offer a discounted lump sum (or plan) within the lender's policy limit.
    Offer(OfferArgs),
    /// Record the borrower's acceptance of an offer.
    Accept(EventArgs),
    /// Withdraw an offer that was not accepted.
    Withdraw(EventArgs),
    /// List settlements (of a loan, of a borrower, or all).
    List {
        #[arg(long, conflicts_with = "borrower")]
        loan: Option<String>,
        #[arg(long)]
        borrower: Option<String>,
        #[command(flatten)]
        db: DbOpt,
    },
    /// Review live settlements as of a date (the daily run with --db does this itself after
    /// the date's snapshot).
    Review {
        #[arg(long, value_parser = crate::daily::parse_date)]
        as_of: Date,
        /// Configuration file (arrears.toml): the business time zone.
        #[arg(long)]
        config: Option<PathBuf>,
        #[command(flatten)]
        db: DbOpt,
    },
}

#[derive(clap::Args, Debug)]
pub struct OfferArgs {
    #[arg(long)]
    pub loan: String,
    /// The discount in basis points of the outstanding balance (at most the policy's limit).
    #[arg(long)]
    pub discount_bps: u32,
    /// 1: a lump sum; more: monthly payments (at most the policy's limit).
    #[arg(long, default_value_t = 1)]
    pub instalments: u32,
    /// The first (or only) payment's due date.
    #[arg(long, value_parser = crate::daily::parse_date)]
    pub first_due: Date,
    /// The last day the borrower may accept (default: the first due date).
    #[arg(long, value_parser = crate::daily::parse_date)]
    pub accept_by: Option<Date>,
    /// The settlement's id (default: `stl-<loan>-<today>`).
    #[arg(long)]
    pub id: Option<String>,
    /// Today's business date (default: today in UTC).
    #[arg(long, value_parser = crate::daily::parse_date)]
    pub on: Option<Date>,
    #[command(flatten)]
    pub sign_in: SignIn,
    #[command(flatten)]
    pub db: DbOpt,
}

#[derive(clap::Args, Debug)]
pub struct EventArgs {
    pub settlement: String,
    /// The business date it happens on (default: today in UTC).
    #[arg(long, value_parser = crate::daily::parse_date)]
    pub on: Option<Date>,
    #[command(flatten)]
    pub sign_in: SignIn,
    #[command(flatten)]
    pub db: DbOpt,
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

fn settle_failure(e: SettleError) -> Failure {
    match e {
        SettleError::Store(e) => store_failure(e),
        other => Failure::bad_input(anyhow!("{other}")),
    }
}

/// The staff user whose password standard input gives, checked against the store.
async fn sign_in(store: &Store, s: &SignIn) -> Result<(String, String), Failure> {
    let mut input = String::new();
    std::io::stdin()
        .take(4096)
        .read_to_string(&mut input)
        .context("reading the password from standard input")?;
    let password = input.lines().next().unwrap_or("");
    let user = store.user(&s.user).await.map_err(store_failure)?;
    let phc = user.as_ref().filter(|u| !u.disabled).map_or_else(
        || arrears_server::auth::dummy_hash().to_owned(),
        |u| u.password_hash.clone(),
    );
    let ok = arrears_server::auth::verify_password(password, &phc);
    match user {
        Some(u) if ok && !u.disabled => Ok((u.username, u.role)),
        _ => Err(Failure::bad_input(anyhow!(
            "the username or the password is wrong"
        ))),
    }
}

fn money(v: i64, currency: &str) -> String {
    crate::display::money(v, currency)
}

pub fn write_off(a: &WriteOffArgs) -> Result<(), Failure> {
    let rt = runtime()?;
    rt.block_on(async {
        match &a.command {
            WriteOffCommand::Proposals { all, db } => {
                let store = open(db).await?;
                let list = settle::write_off_proposals(&store, !*all)
                    .await
                    .map_err(settle_failure)?;
                store.close().await;
                if list.is_empty() {
                    println!("No write-off proposals {}.", if *all { "on record" } else { "wait for a decision" });
                }
                for p in &list {
                    let bal = match &p.snapshot {
                        Some((on, dpd, c)) => format!(
                            "{} on {on} at {dpd} dpd (principal {}, interest {}, fees {}, penalty {})",
                            money(c.total().unwrap_or(0), &p.currency),
                            money(c.principal_minor, &p.currency),
                            money(c.interest_minor, &p.currency),
                            money(c.fee_minor, &p.currency),
                            money(c.penalty_minor, &p.currency)
                        ),
                        None => "no snapshot".into(),
                    };
                    let dec = match &p.decision {
                        Some(d) => format!(" — {} by {}: {}", d.decision, d.decided_by, d.reason),
                        None => String::new(),
                    };
                    println!(
                        "{}  loan {}  proposed {} by rule {}{}  {bal}{dec}",
                        p.proposal_id,
                        p.loan_id,
                        p.proposed_on,
                        p.rule_id,
                        p.pack_rule
                            .as_deref()
                            .map(|r| format!(" ({r})"))
                            .unwrap_or_default()
                    );
                }
                Ok(())
            }
            WriteOffCommand::Approve(d) | WriteOffCommand::Reject(d) => {
                let approve = matches!(a.command, WriteOffCommand::Approve(_));
                let store = open(&d.db).await?;
                let (username, role) = sign_in(&store, &d.sign_in).await?;
                let r = settle::decide_write_off(
                    &store,
                    Staff {
                        username: &username,
                        role: &role,
                    },
                    &d.proposal,
                    approve,
                    &d.reason,
                    crate::outbox_cmds::wall_clock(),
                )
                .await;
                store.close().await;
                match r.map_err(settle_failure)? {
                    Some(w) => println!(
                        "approved by {username}: loan {} written off ({}), {} minor units as of {}: principal {}, interest {}, fees {}, penalty {}",
                        w.loan_id,
                        w.write_off_id,
                        w.amount_minor,
                        w.snapshot_as_of,
                        w.components.principal_minor,
                        w.components.interest_minor,
                        w.components.fee_minor,
                        w.components.penalty_minor
                    ),
                    None => println!("rejected by {username}: {}", d.proposal),
                }
                Ok(())
            }
        }
    })
}

fn print_settlement(s: &StoredSettlement) {
    let m = |v| money(v, &s.currency);
    let schedule: Vec<String> = s
        .instalments
        .iter()
        .map(|(d, a)| format!("{} on {d}", m(*a)))
        .collect();
    println!(
        "{}  loan {}  {}  pay {} ({} minor units) of {} ({} bps off, limit {} bps) as {}; accept by {}; offered by {} at {dpd} dpd ({stage})",
        s.settlement_id,
        s.loan_id,
        s.status(),
        m(s.amount_minor),
        s.amount_minor,
        m(s.outstanding_minor),
        s.discount_bps,
        s.limit_bps,
        schedule.join(", "),
        s.accept_by,
        s.offered_by,
        dpd = s.dpd,
        stage = s.stage,
    );
    for e in &s.events {
        println!(
            "    {} on {} by {}{}",
            e.event,
            e.on_date,
            e.actor,
            e.write_off_id
                .as_deref()
                .map(|w| format!(" (remainder written off: {w})"))
                .unwrap_or_default()
        );
    }
}

pub fn settlement(a: &SettlementArgs) -> Result<(), Failure> {
    let rt = runtime()?;
    rt.block_on(async {
        match &a.command {
            SettlementCommand::Offer(o) => {
                let on = o.on.unwrap_or_else(today);
                let store = open(&o.db).await?;
                let (username, role) = sign_in(&store, &o.sign_in).await?;
                let policy = arrears_app::rules::in_store(&store, on)
                    .await
                    .map_err(|e| Failure::from(anyhow!("{e}")))?;
                let terms = OfferTerms {
                    settlement_id: o
                        .id
                        .clone()
                        .unwrap_or_else(|| format!("stl-{}-{on}", o.loan)),
                    loan_id: o.loan.clone(),
                    discount_bps: o.discount_bps,
                    instalments: o.instalments,
                    first_due: o.first_due,
                    accept_by: o.accept_by.unwrap_or(o.first_due),
                };
                let r = settle::offer_settlement(
                    &store,
                    &policy,
                    Staff {
                        username: &username,
                        role: &role,
                    },
                    &terms,
                    on,
                    crate::outbox_cmds::wall_clock(),
                )
                .await;
                store.close().await;
                print_settlement(&r.map_err(settle_failure)?);
                Ok(())
            }
            SettlementCommand::Accept(e) | SettlementCommand::Withdraw(e) => {
                let accept = matches!(a.command, SettlementCommand::Accept(_));
                let on = e.on.unwrap_or_else(today);
                let store = open(&e.db).await?;
                let (username, role) = sign_in(&store, &e.sign_in).await?;
                let staff = Staff {
                    username: &username,
                    role: &role,
                };
                let now = crate::outbox_cmds::wall_clock();
                let r = if accept {
                    settle::accept_settlement(
                        &store,
                        &e.settlement,
                        Acceptor::Staff(staff),
                        on,
                        now,
                    )
                    .await
                } else {
                    settle::withdraw_settlement(&store, staff, &e.settlement, on, now).await
                };
                store.close().await;
                print_settlement(&r.map_err(settle_failure)?);
                Ok(())
            }
            SettlementCommand::List { loan, borrower, db } => {
                let store = open(db).await?;
                let by = match (loan, borrower) {
                    (Some(l), _) => SettlementsOf::Loan(l),
                    (None, Some(b)) => SettlementsOf::Borrower(b),
                    (None, None) => SettlementsOf::All,
                };
                let list = settle::settlements_of(&store, by)
                    .await
                    .map_err(settle_failure)?;
                store.close().await;
                if list.is_empty() {
                    println!("No settlements on record.");
                }
                for s in &list {
                    print_settlement(s);
                }
                Ok(())
            }
            SettlementCommand::Review { as_of, config, db } => {
                let config = crate::daily::load_config(config.as_deref(), None)?;
                let store = open(db).await?;
                let r = settle::review_settlements(
                    &store,
                    *as_of,
                    &config.business_tz,
                    crate::outbox_cmds::wall_clock(),
                )
                .await;
                store.close().await;
                let r = r.map_err(settle_failure)?;
                println!("{} settlements decided on {as_of}", r.len());
                for x in r {
                    println!("  {x:?}");
                }
                Ok(())
            }
        }
    })
}

/// `arrears plan --db`: keeps the plan's write-off proposals for a supervisor's decision.
pub fn record_write_off_proposals(
    db: &str,
    as_of: Date,
    proposals: &[arrears_strategy::InternalProposal],
) -> Result<u64, Failure> {
    let rt = runtime()?;
    rt.block_on(async {
        let store = open(&DbOpt { db: db.to_owned() }).await?;
        let r = settle::record_write_off_proposals(
            &store,
            as_of,
            proposals,
            crate::outbox_cmds::wall_clock(),
        )
        .await
        .map_err(settle_failure);
        store.close().await;
        r
    })
}
