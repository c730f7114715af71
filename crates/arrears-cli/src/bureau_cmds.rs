//! `arrears bureau`: the monthly credit-bureau files (`report`) and how a resolved credit
//! dispute ended (`outcome`). The use cases are `arrears_app::bureau`'s; this file parses
//! the arguments, writes the files and says what happened.
//!
//! `report --month YYYY-MM` over a portfolio folder (with its lifecycle tables) or the store
//! writes into `--out`: `metro2_YYYY-MM.txt` (US borrowers' lines, Metro 2 Base Segments with
//! header and trailer), `bureau_YYYY-MM.csv` (every reported line, every jurisdiction) and
//! `bureau_summary_YYYY-MM.json`; with the store the month's lines are then recorded (a month
//! is reported once; the next month's corrections and the portal read them).

use crate::Failure;
use anyhow::{Context, anyhow};
use arrears_app::bureau::{self as door, MonthReport, MonthRequest};
use arrears_bureau::metro2::{Furnisher, write_file};
use arrears_bureau::{DisputeOutcome, Period};
use arrears_domain::Severity;
use arrears_store::Store;
use clap::ValueEnum;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct BureauArgs {
    #[command(subcommand)]
    pub command: BureauCommand,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum BureauFormat {
    Metro2,
    Csv,
    Both,
}

#[derive(clap::Subcommand, Debug)]
pub enum BureauCommand {
    /// The month's bureau files: Metro 2 (US) and the bureau CSV, and a summary.
    Report(ReportArgs),
    /// Record how a resolved credit dispute ended: `borrower` (the next file corrects what
    /// was reported) or `lender` (it stands).
    Outcome(OutcomeArgs),
}

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// The reporting month (YYYY-MM); the account state is the daily run's as of its last day.
    #[arg(long, value_parser = parse_month)]
    pub month: Period,
    /// Portfolio folder (the daily run's tables and the lifecycle tables: notices,
    /// credit_disputes, sales…). Without it, the store (`--db`).
    #[arg(long)]
    pub portfolio: Option<PathBuf>,
    /// The store: an SQLite file path, sqlite:PATH or postgres://… Ignored with --portfolio.
    #[arg(long, env = "ARREARS_DATABASE_URL")]
    pub db: Option<String>,
    /// Folder for the files (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value = "both")]
    pub format: BureauFormat,
    /// Configuration file (arrears.toml): business zone, buckets, stages.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Business time zone (IANA), overriding the configuration file.
    #[arg(long)]
    pub business_tz: Option<String>,
    /// A lender policy that tightens the rule packs (default: the store's policy in force on
    /// the month's last day, else the `policy` of arrears.toml, else the legal floors).
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// The identification number the bureaus assigned (Metro 2 positions 21-40).
    #[arg(long, default_value = "ARREARS")]
    pub furnisher_id: String,
    /// The reporter's name in the Metro 2 header.
    #[arg(long, default_value = "ARREARS LENDER")]
    pub furnisher_name: String,
}

#[derive(clap::Args, Debug)]
pub struct OutcomeArgs {
    /// The credit dispute (resolved already).
    #[arg(long)]
    pub dispute: String,
    /// `borrower`: resolved in the borrower's favour; `lender`: what was reported stands.
    #[arg(long, value_parser = parse_outcome)]
    pub outcome: DisputeOutcome,
    /// Who decided.
    #[arg(long)]
    pub by: String,
    #[command(flatten)]
    pub db: crate::store_cmds::DbOpt,
}

fn parse_month(s: &str) -> Result<Period, String> {
    Period::parse(s).map_err(|e| e.to_string())
}

fn parse_outcome(s: &str) -> Result<DisputeOutcome, String> {
    DisputeOutcome::parse(s).ok_or_else(|| format!("{s:?} is not an outcome: borrower or lender"))
}

pub fn bureau(a: &BureauArgs) -> Result<(), Failure> {
    match &a.command {
        BureauCommand::Report(r) => report(r),
        BureauCommand::Outcome(o) => outcome(o),
    }
}

fn open_store(db: &str) -> Result<(tokio::runtime::Runtime, Store), Failure> {
    let rt = crate::store_cmds::runtime()?;
    let target = crate::store_cmds::parse_target(db)?;
    let store = rt
        .block_on(Store::open(&target))
        .map_err(|e| Failure::from(anyhow!(e)))?;
    Ok((rt, store))
}

fn report(a: &ReportArgs) -> Result<(), Failure> {
    let config = crate::daily::load_config(a.config.as_deref(), a.business_tz.as_deref())?;
    if a.furnisher_id.is_empty()
        || a.furnisher_id.len() > 20
        || !a.furnisher_id.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(Failure::bad_input(anyhow!(
            "--furnisher-id must be 1 to 20 printable ASCII characters without spaces"
        )));
    }
    let furnisher = Furnisher {
        id: a.furnisher_id.clone(),
        name: a.furnisher_name.clone(),
        ..Furnisher::default()
    };
    let created = crate::outbox_cmds::wall_clock();
    let on = a.month.last();
    match (&a.portfolio, &a.db) {
        (Some(dir), _) => {
            let read = arrears_io::read_portfolio(dir, &|_, _| {}).map_err(|e| match e {
                arrears_io::IoError::Write { .. } => Failure::from(e),
                other => Failure::bad_input(other),
            })?;
            let rejected = read
                .rejects
                .iter()
                .filter(|r| r.severity == Severity::Error)
                .count();
            let lc = arrears_io::extensions::read_lifecycle(dir, &read.portfolio)
                .map_err(Failure::bad_input)?;
            let policy =
                crate::lender_policy::resolve_files(a.policy.as_deref(), a.config.as_deref())?;
            let month = door::derive_month(&MonthRequest {
                period: a.month,
                portfolio: &read.portfolio,
                lifecycle: &lc.lifecycle,
                config: &config,
                packs: &policy.packs,
                prior: &[],
                outcomes: &[],
            })
            .map_err(|e| Failure::from(anyhow!(e)))?;
            write_outputs(a, &month, &furnisher, created)?;
            if rejected > 0 || !lc.rejects.is_empty() {
                eprintln!(
                    "note: {} portfolio row(s) and {} lifecycle row(s) were rejected and not reported",
                    rejected,
                    lc.rejects.len()
                );
            }
            Ok(())
        }
        (None, db) => {
            let db = match db {
                Some(db) => db.as_str(),
                None if Path::new("arrears.db").exists() => "arrears.db",
                None => {
                    return Err(Failure::bad_input(anyhow!(
                        "give --portfolio DIR or --db TARGET; there is no arrears.db here"
                    )));
                }
            };
            let (rt, store) = open_store(db)?;
            let result = rt.block_on(async {
                let policy = crate::lender_policy::resolve(
                    a.policy.as_deref(),
                    Some(&store),
                    on,
                    a.config.as_deref(),
                )
                .await?;
                let month = door::derive_in_store(&store, a.month, &config, &policy.packs)
                    .await
                    .map_err(|e| match e {
                        door::BureauError::Record(_) => Failure::bad_input(anyhow!(e)),
                        other => Failure::from(anyhow!(other)),
                    })?;
                write_outputs(a, &month, &furnisher, created)?;
                door::record_in_store(&store, &month, created)
                    .await
                    .map_err(|e| Failure::from(anyhow!(e)))?;
                println!(
                    "recorded {} line(s) of {} in the store",
                    month.lines.len(),
                    a.month
                );
                Ok::<(), Failure>(())
            });
            rt.block_on(store.close());
            result
        }
    }
}

fn write_outputs(
    a: &ReportArgs,
    month: &MonthReport,
    furnisher: &Furnisher,
    created: jiff::Timestamp,
) -> Result<(), Failure> {
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let label = month.period.label();
    let write = |name: String, text: &str| -> Result<PathBuf, Failure> {
        let path = a.out.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    };
    let mut written = Vec::new();
    let mut left_out = Vec::new();
    let mut metro2_records = 0;
    if matches!(a.format, BureauFormat::Metro2 | BureauFormat::Both) {
        let phones = |b: &str| month.phones.get(b).cloned();
        let file = write_file(
            &month.lines,
            furnisher,
            month.period.last(),
            created,
            &phones,
        )
        .map_err(Failure::bad_input)?;
        metro2_records = file.base_records;
        left_out = file.left_out;
        written.push(write(format!("metro2_{label}.txt"), &file.text)?);
    }
    if matches!(a.format, BureauFormat::Csv | BureauFormat::Both) {
        let text = arrears_bureau::cn_csv::write(&month.lines);
        written.push(write(format!("bureau_{label}.csv"), &text)?);
    }
    let s = door::summarize(month);
    let us_left_out = left_out
        .iter()
        .filter(|(_, why)| !why.starts_with("jurisdiction"))
        .map(|(loan, why)| serde_json::json!({"loan_id": loan, "reason": why}))
        .collect::<Vec<_>>();
    let summary = serde_json::json!({
        "period": label,
        "judged_at": month.at.to_string(),
        "lines": s.lines,
        "reported": s.reported,
        "withheld": s.withheld,
        "corrections": s.corrections,
        "by_status": s.by_status,
        "withheld_by_rule": s.withheld_by_rule,
        "metro2_base_records": metro2_records,
        "metro2_left_out": us_left_out,
        "files": written.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
    });
    let text = serde_json::to_string_pretty(&summary).context("writing the summary")?;
    written.push(write(format!("bureau_summary_{label}.json"), &text)?);
    println!(
        "{label}: {} line(s), {} reported ({} correction(s)), {} withheld",
        s.lines, s.reported, s.corrections, s.withheld
    );
    for (status, n) in &s.by_status {
        println!("  {status}: {n}");
    }
    for (rule, n) in &s.withheld_by_rule {
        println!("  withheld under {rule}: {n}");
    }
    for p in &written {
        println!("wrote {}", p.display());
    }
    Ok(())
}

fn outcome(a: &OutcomeArgs) -> Result<(), Failure> {
    let by = a.by.trim();
    if by.is_empty() || by.len() > 128 {
        return Err(Failure::bad_input(anyhow!("--by: 1 to 128 characters")));
    }
    let (rt, store) = open_store(&a.db.db)?;
    let at = crate::outbox_cmds::wall_clock();
    let r = rt.block_on(door::record_outcome(&store, &a.dispute, a.outcome, by, at));
    rt.block_on(store.close());
    match r {
        Ok(true) => {
            println!(
                "credit dispute {}: resolved in the {}'s favour{}",
                a.dispute,
                a.outcome.code(),
                if a.outcome == DisputeOutcome::Borrower {
                    "; the next bureau file corrects what was reported"
                } else {
                    ""
                }
            );
            Ok(())
        }
        Ok(false) => {
            println!(
                "credit dispute {}: that outcome is on record already",
                a.dispute
            );
            Ok(())
        }
        Err(e @ door::BureauError::Record(_)) => Err(Failure::bad_input(anyhow!(e))),
        Err(e) => Err(Failure::from(anyhow!(e))),
    }
}
