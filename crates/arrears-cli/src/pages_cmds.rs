//! `arrears portal link` (a borrower's one-time portal link, sent through the outbox to the
//! borrower's own e-mail or phone like the staff page's; `--print` shows it to an operator
//! who holds the database instead, with an access-log entry) and `arrears assign` (which agent works a loan; agents see only their
//! loans on the account pages).

use crate::Failure;
use crate::store_cmds::{DbOpt, parse_target};
use anyhow::{Context, anyhow};
use arrears_store::{ServiceError, Store};

#[derive(clap::Args, Debug)]
pub struct PortalArgs {
    #[command(subcommand)]
    pub command: PortalCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum PortalCommand {
    /// Send a borrower a portal link with a one-time code (single use; only its hash is
    /// stored) through the outbox to their own e-mail address, else phone; `--print` prints
    /// it instead.
    Link {
        #[arg(long)]
        borrower: String,
        /// Print the link here instead of sending it (for an operator who holds the database,
        /// as the demo does); the access log records that it was shown.
        #[arg(long)]
        print: bool,
        /// The lender's name in the message (default: the stored lender policy's).
        #[arg(long)]
        lender: Option<String>,
        /// The service's address as borrowers reach it.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        base_url: String,
        /// Hours the link stays valid before its first use.
        #[arg(long, default_value_t = 72, value_parser = clap::value_parser!(i64).range(1..=720))]
        valid_hours: i64,
        #[command(flatten)]
        db: DbOpt,
    },
}

#[derive(clap::Args, Debug)]
pub struct AssignArgs {
    /// The loan to assign.
    #[arg(long, required_unless_present = "rebalance_from", requires = "agent")]
    pub loan: Option<String>,
    /// The user (an agent) who works it from now on.
    #[arg(long, requires = "loan")]
    pub agent: Option<String>,
    /// Spread every loan of this (absent) agent evenly over the other active agents, in one
    /// transaction with an access-log entry per loan (as the supervisor's allocation page).
    #[arg(long, value_name = "USER", conflicts_with_all = ["loan", "agent"])]
    pub rebalance_from: Option<String>,
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

async fn open(db: &DbOpt) -> Result<Store, Failure> {
    let target = parse_target(&db.db)?;
    Store::open(&target)
        .await
        .map_err(|e| Failure::from(anyhow!(e)))
}

#[allow(clippy::disallowed_methods)]
fn now() -> jiff::Timestamp {
    // The edge: when a link was issued or a loan assigned is the wall clock's business.
    jiff::Timestamp::now()
}

fn service_failure(e: ServiceError) -> Failure {
    match e {
        ServiceError::Store(e) => Failure::from(anyhow!(e)),
        other => Failure::bad_input(anyhow!(other)),
    }
}

pub fn portal(a: &PortalArgs) -> Result<(), Failure> {
    let PortalCommand::Link {
        borrower,
        print,
        lender,
        base_url,
        valid_hours,
        db,
    } = &a.command;
    if *print {
        let (link, expires) = issue_portal_link(db, borrower, base_url, *valid_hours)?;
        println!("{link}");
        eprintln!(
            "portal link for borrower {borrower:?}: works once, until {expires}; it is shown only now, and the access log records that it was shown."
        );
        return Ok(());
    }
    let (code, hash) = arrears_server::pages::new_portal_code()
        .map_err(|e| anyhow!("reading the OS random source: {e}"))?;
    let base = arrears_server::base_url::BaseUrl::parse(base_url)
        .map_err(|e| Failure::bad_input(anyhow!("--base-url: {e}")))?;
    let sent = runtime()?.block_on(async {
        let store = open(db).await?;
        let lender = match lender {
            Some(l) => l.clone(),
            None => {
                let today = now().to_zoned(jiff::tz::TimeZone::UTC).date();
                arrears_app::rules::in_store(&store, today)
                    .await
                    .map(|p| arrears_app::rules::lender_name(&p))
                    .unwrap_or_else(|_| arrears_app::rules::default_lender_name())
            }
        };
        let sent = arrears_app::access::send_portal_link(
            &store,
            borrower,
            base.as_str(),
            &code,
            &hash,
            "cli",
            &lender,
            jiff::SignedDuration::from_hours(*valid_hours),
            now(),
        )
        .await
        .map_err(|e| match e {
            arrears_app::access::AccessError::Store(s) => Failure::from(anyhow!(s)),
            other => Failure::bad_input(anyhow!(other)),
        })?;
        store
            .log_access(&arrears_store::Access {
                at: now(),
                actor: "cli".to_owned(),
                action: "portal.link_sent".to_owned(),
                borrower_id: Some(borrower.clone()),
                loan_id: None,
            })
            .await
            .map_err(|e| Failure::from(anyhow!(e)))?;
        store.close().await;
        Ok::<_, Failure>(sent)
    })?;
    println!(
        "portal link for borrower {borrower:?} queued in the outbox (row {}) to their {} {}; `arrears outbox send` delivers it",
        sent.outbox_id, sent.channel, sent.masked_target
    );
    Ok(())
}

/// `arrears portal link`: a new one-time code for `borrower`, stored hashed, valid for
/// `valid_hours` before its first use; the link under `base_url` and when it expires.
pub fn issue_portal_link(
    db: &DbOpt,
    borrower: &str,
    base_url: &str,
    valid_hours: i64,
) -> Result<(String, jiff::Timestamp), Failure> {
    let (code, hash) = arrears_server::pages::new_portal_code()
        .map_err(|e| anyhow!("reading the OS random source: {e}"))?;
    let at = now();
    let expires = at
        .saturating_add(jiff::SignedDuration::from_hours(valid_hours))
        .context("computing the expiry")?;
    runtime()?.block_on(async {
        let store = open(db).await?;
        store
            .create_portal_code(&hash, borrower, "cli", at, expires)
            .await
            .map_err(service_failure)?;
        store
            .log_access(&arrears_store::Access {
                at,
                actor: "cli".to_owned(),
                action: "portal.link_shown_to_operator".to_owned(),
                borrower_id: Some(borrower.to_owned()),
                loan_id: None,
            })
            .await
            .map_err(|e| Failure::from(anyhow!(e)))?;
        store.close().await;
        Ok((arrears_server::pages::portal_link(base_url, &code), expires))
    })
}

pub fn assign(a: &AssignArgs) -> Result<(), Failure> {
    if let Some(from) = &a.rebalance_from {
        let moves = runtime()?.block_on(async {
            let store = open(&a.db).await?;
            let moves = store
                .rebalance(from, "cli", now())
                .await
                .map_err(service_failure)?;
            store.close().await;
            Ok::<_, Failure>(moves)
        })?;
        let mut per: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
        for m in &moves {
            *per.entry(m.agent.as_str()).or_default() += 1;
        }
        println!(
            "{} loans of {from:?} spread over the other agents",
            moves.len()
        );
        for (agent, n) in per {
            println!("  {agent}: {n}");
        }
        return Ok(());
    }
    let (Some(loan), Some(agent)) = (&a.loan, &a.agent) else {
        return Err(Failure::bad_input(anyhow!(
            "give --loan and --agent, or --rebalance-from"
        )));
    };
    assign_loans(&a.db, &[loan.as_str()], agent)?;
    println!("loan {loan:?} assigned to {agent:?}");
    Ok(())
}

/// `arrears assign`: each of `loans` is worked by `agent` from now on.
pub fn assign_loans(db: &DbOpt, loans: &[&str], agent: &str) -> Result<(), Failure> {
    runtime()?.block_on(async {
        let store = open(db).await?;
        for loan in loans {
            store
                .assign(loan, agent, now())
                .await
                .map_err(service_failure)?;
        }
        store.close().await;
        Ok(())
    })
}
