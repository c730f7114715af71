//! The commands that use the store (`arrears-store`: SQLite by default, PostgreSQL in
//! production): `db migrate|status`, `import`, the daily run from the store (`run` without
//! `--portfolio`) and `report`.
//!
//! The store is async (sqlx); the CLI stays synchronous and drives it on a small tokio
//! runtime per command. Every command takes `--db TARGET` or `ARREARS_DATABASE_URL`: a path
//! to an SQLite file, `sqlite:PATH`, or a `postgres://…` URL.

use crate::Failure;
use crate::daily::{self, RunArgs};
use anyhow::{Context, anyhow};
use arrears_domain::{Severity, Table};
use arrears_io::ReadOutcome;
use arrears_store::{DbTarget, ImportReport, Store, StoreError};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use jiff::civil::Date;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Where the store is. Without `--db` or `ARREARS_DATABASE_URL`, `arrears.db` in the
/// current folder.
#[derive(clap::Args, Debug, Clone)]
pub struct DbOpt {
    /// The store: an SQLite file path, sqlite:PATH, or postgres://user@host:port/db.
    #[arg(
        long = "db",
        env = "ARREARS_DATABASE_URL",
        default_value = "arrears.db"
    )]
    pub db: String,
}

#[derive(clap::Args, Debug)]
pub struct DbArgs {
    #[command(subcommand)]
    pub command: DbCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum DbCommand {
    /// Create the store if needed and apply every pending schema migration.
    Migrate(DbOpt),
    /// The schema version and what the store holds.
    Status(DbOpt),
}

#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// A portfolio folder or a daily feed: any subset of the portfolio tables.
    #[arg(long)]
    pub portfolio: PathBuf,
    #[command(flatten)]
    pub db: DbOpt,
    /// Where to write the rejected rows and conflicts (file, line, column, severity, reason,
    /// detail).
    #[arg(long, default_value = "rejects.csv")]
    pub rejects: PathBuf,
    /// Import nothing when any row is rejected or conflicts (exit code 2).
    #[arg(long)]
    pub strict: bool,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// First business date of the report (a snapshot date on or after it starts the range).
    #[arg(long, value_parser = daily::parse_date)]
    pub from: Date,
    /// Last business date of the report.
    #[arg(long, value_parser = daily::parse_date)]
    pub to: Date,
    /// Output folder for the CSV files and report.html.
    #[arg(long, default_value = "report")]
    pub out: PathBuf,
    #[command(flatten)]
    pub db: DbOpt,
    /// Configuration file (arrears.toml), for the order of buckets and stages.
    #[arg(long)]
    pub config: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct HistoryArgs {
    /// The loan whose history to show.
    #[arg(long)]
    pub loan: String,
    #[command(flatten)]
    pub db: DbOpt,
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
        .map_err(Failure::from)
}

/// Store errors about what the user gave (a target that does not parse, a feed folder that
/// is not one) are bad input; the rest are runtime errors.
pub(crate) fn store_failure(e: StoreError) -> Failure {
    match e {
        StoreError::Target(_) | StoreError::Feed(_) => Failure::bad_input(e),
        other => Failure::from(other),
    }
}

pub fn parse_target(s: &str) -> Result<DbTarget, Failure> {
    DbTarget::parse(s).map_err(|e| Failure::bad_input(anyhow!("--db: {e}")))
}

pub(crate) async fn open(db: &DbOpt) -> Result<Store, Failure> {
    let target = parse_target(&db.db)?;
    Store::open(&target).await.map_err(store_failure)
}

pub fn db(a: &DbArgs) -> Result<(), Failure> {
    let rt = runtime()?;
    rt.block_on(async {
        match &a.command {
            DbCommand::Migrate(db) => {
                let store = open(db).await?;
                let s = store.status().await.map_err(store_failure)?;
                println!(
                    "{}: schema at version {} ({})",
                    s.target,
                    s.applied_version.unwrap_or(0),
                    s.applied_description.as_deref().unwrap_or("empty")
                );
                store.close().await;
            }
            DbCommand::Status(db) => {
                let store = open(db).await?;
                let s = store.status().await.map_err(store_failure)?;
                println!("store:    {} ({})", s.target, s.backend);
                println!(
                    "schema:   version {} of {}{}",
                    s.applied_version.unwrap_or(0),
                    s.latest_version,
                    s.applied_description
                        .as_deref()
                        .map(|d| format!(" ({d})"))
                        .unwrap_or_default()
                );
                println!("rows:");
                for (t, n) in &s.rows {
                    println!("  {t:<14} {n:>12}");
                }
                match (&s.first_snapshot, &s.last_snapshot) {
                    (Some(a), Some(b)) => {
                        println!("snapshots: {} business dates, {a} to {b}", s.snapshot_dates)
                    }
                    _ => println!("snapshots: none yet (arrears run --as-of D --db …)"),
                }
                store.close().await;
            }
        }
        Ok(())
    })
}

fn spinner(show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
    }
    let pb = ProgressBar::new_spinner();
    pb.set_style(
        ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    pb
}

/// Writes the feed's rejects and the import's conflicts into one file in the shape of
/// `arrears run`'s `rejects.csv`; a conflict is a row per differing column with reason
/// `conflict`. Returns how many rows and conflicts it reports.
fn write_rejects_and_conflicts(
    path: &Path,
    read: &ReadOutcome,
    report: Option<&ImportReport>,
) -> Result<u64, Failure> {
    let conflicts = report.map(|r| r.conflicts.as_slice()).unwrap_or(&[]);
    let rows = conflicts.iter().flat_map(|c| {
        let file = read.file_of(c.table);
        c.columns.iter().map(move |col| {
            [
                file.clone(),
                c.line.to_string(),
                col.column.to_owned(),
                "error".to_owned(),
                "conflict".to_owned(),
                c.to_string(),
            ]
        })
    });
    arrears_io::write::write_rejects_with(path, read, rows).map_err(Failure::from)?;
    Ok(u64::try_from(read.rejects.len() + conflicts.len()).unwrap_or(u64::MAX))
}

pub fn import(a: &ImportArgs) -> Result<(), Failure> {
    let started = Instant::now();
    let rt = runtime()?;
    let pb = Arc::new(spinner(!a.quiet && std::io::stderr().is_terminal()));
    let outcome = rt.block_on(async {
        let store = open(&a.db).await?;
        let p = Arc::clone(&pb);
        pb.set_message(format!("reading {}", a.portfolio.display()));
        let feed = arrears_store::read_feed(
            &store,
            &a.portfolio,
            Arc::new(move |t: Table, n: u64| {
                p.set_message(format!("reading {}: {n} rows", t.name()));
            }),
        )
        .await
        .map_err(store_failure)?;
        let has_errors = feed
            .report
            .rejects
            .iter()
            .any(|r| r.severity == Severity::Error);
        if a.strict && has_errors {
            store.close().await;
            return Ok((feed, None, None));
        }
        let source = a.portfolio.display().to_string();
        let p = Arc::clone(&pb);
        let report = store
            .import(&feed, &source, &move |msg: &str, n: u64| {
                if n > 0 {
                    p.set_message(format!("{msg}: {n} rows"));
                } else {
                    p.set_message(msg.to_owned());
                }
            })
            .await
            .map_err(store_failure)?;
        // The lifecycle tables (notices, preferences, plans, placements, sales, credit
        // disputes, legal cases, contact persons), checked against what the store now holds.
        let lifecycle = if arrears_io::extensions::has_lifecycle_tables(&a.portfolio) {
            pb.set_message("reading the lifecycle tables");
            let stored = store.load_portfolio().await.map_err(store_failure)?;
            let read = arrears_io::extensions::read_lifecycle(&a.portfolio, &stored)
                .map_err(Failure::bad_input)?;
            pb.set_message("importing the lifecycle tables");
            let counts = store
                .import_lifecycle(&read.lifecycle)
                .await
                .map_err(store_failure)?;
            Some((read, counts))
        } else {
            None
        };
        store.close().await;
        Ok::<_, Failure>((feed, Some(report), lifecycle))
    })?;
    pb.finish_and_clear();
    let (feed, report, lifecycle) = outcome;
    let problems = write_rejects_and_conflicts(&a.rejects, &feed.report, report.as_ref())?;
    let Some(report) = report else {
        let first = feed
            .report
            .rejects
            .iter()
            .find(|r| r.severity == Severity::Error)
            .map(|r| arrears_io::write::describe(&feed.report, r))
            .unwrap_or_default();
        return Err(Failure::bad_input(anyhow!(
            "strict mode: nothing imported; {first} (every problem is in {})",
            a.rejects.display()
        )));
    };
    if !a.quiet {
        print_import(a, &feed.report, &report, problems, started);
    }
    if let Some((read, counts)) = &lifecycle {
        print_lifecycle_import(a, read, counts, started)?;
    }
    Ok(())
}

/// What the lifecycle tables' import did; their rejected rows are written beside the
/// rejects file (`lifecycle_rejects.csv`), file, line, column and reason.
fn print_lifecycle_import(
    a: &ImportArgs,
    read: &arrears_io::extensions::LifecycleRead,
    c: &arrears_store::LifecycleCounts,
    started: Instant,
) -> Result<(), Failure> {
    let rejects_path = a
        .rejects
        .parent()
        .unwrap_or(std::path::Path::new("."))
        .join("lifecycle_rejects.csv");
    if !read.rejects.is_empty() || !c.issues.is_empty() {
        let mut w = csv::Writer::from_path(&rejects_path)
            .with_context(|| format!("writing {}", rejects_path.display()))?;
        w.write_record(["file", "line", "column", "severity", "reason", "detail"])
            .context("writing lifecycle rejects")?;
        for r in &read.rejects {
            w.write_record([
                r.file.as_str(),
                &r.line.to_string(),
                r.column,
                r.severity,
                r.reason.code(),
                &r.detail,
            ])
            .context("writing lifecycle rejects")?;
        }
        for i in &c.issues {
            let what = if i.conflict { "conflict" } else { "rejected" };
            w.write_record([i.table, "", &i.id, "error", what, &i.detail])
                .context("writing lifecycle rejects")?;
        }
        w.flush().context("writing lifecycle rejects")?;
    }
    if a.quiet {
        return Ok(());
    }
    println!("\nLifecycle records");
    println!(
        "  {:<16} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "table", "read", "rejected", "inserted", "updated", "unchanged", "conflicts"
    );
    let rows = [
        ("notices", &c.notices),
        ("preferences", &c.preferences),
        ("payment_plans", &c.plans),
        ("placements", &c.placements),
        ("sales", &c.sales),
        ("credit_disputes", &c.credit_disputes),
        ("legal_cases", &c.legal_cases),
        ("contact_persons", &c.contact_persons),
    ];
    for (table, t) in rows {
        let n = read.rows_read.get(table).copied().unwrap_or(0);
        if n == 0 {
            continue;
        }
        println!(
            "  {:<16} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
            table,
            n,
            read.rejected(table) + t.rejected,
            t.inserted,
            t.updated,
            t.unchanged,
            t.conflicts
        );
    }
    if !read.rejects.is_empty() || !c.issues.is_empty() {
        println!(
            "  {} lifecycle rows not applied: see {}",
            read.rejects.len() + c.issues.len(),
            rejects_path.display()
        );
    }
    println!("  ({:.1} s)", started.elapsed().as_secs_f64());
    Ok(())
}

fn print_import(
    a: &ImportArgs,
    read: &ReadOutcome,
    report: &ImportReport,
    problems: u64,
    started: Instant,
) {
    let counts = arrears_io::write::count_rejects(read);
    println!(
        "Import of {} into {}",
        a.portfolio.display(),
        parse_target(&a.db.db)
            .map(|t| t.to_string())
            .unwrap_or_default()
    );
    println!(
        "  {:<14} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "table", "read", "rejected", "inserted", "updated", "unchanged", "conflicts"
    );
    for t in &report.tables {
        let read = counts.read.get(t.table).copied().unwrap_or(0);
        if read == 0 && t.rows == 0 {
            continue;
        }
        println!(
            "  {:<14} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
            t.table,
            read,
            counts.rejected.get(t.table).copied().unwrap_or(0),
            t.inserted,
            t.updated,
            t.unchanged,
            t.conflicts
        );
    }
    if report.changed_nothing() {
        println!("  the store already held every row: nothing changed");
    }
    if problems > 0 {
        println!(
            "  {problems} rejected rows, warnings or conflicts: see {}",
            a.rejects.display()
        );
    }
    println!("  done in {:.2} s", started.elapsed().as_secs_f64());
}

/// The portfolio, the lifecycle, the policy in force and the next stored version.
pub type StoredForPlan = (
    arrears_domain::Portfolio,
    arrears_domain::Lifecycle,
    arrears_app::EffectivePolicy,
    Option<(jiff::Timestamp, arrears_app::EffectivePolicy)>,
);

/// What a plan over the store reads: the portfolio, every lifecycle record, and the lender's
/// policy in force on the business date (or `--policy`, or arrears.toml's).
pub fn load_for_plan(
    db: &str,
    as_of: jiff::civil::Date,
    policy: Option<&std::path::Path>,
    config: Option<&std::path::Path>,
) -> Result<StoredForPlan, Failure> {
    let rt = runtime()?;
    rt.block_on(async {
        let store = open(&DbOpt { db: db.to_owned() }).await?;
        let p = store.load_portfolio().await.map_err(store_failure);
        let lc = store.all_lifecycle().await.map_err(store_failure);
        let next = crate::lender_policy::next_in_store(policy, &store, as_of).await;
        let policy = crate::lender_policy::resolve(policy, Some(&store), as_of, config).await;
        store.close().await;
        Ok((p?, lc?, policy?, next?))
    })
}

/// Records a plan's blocked actions by rule for business date `as_of` in the store (the
/// compliance view's history of blocks), replacing an earlier plan of the date.
pub fn record_plan_blocks(
    db: &str,
    as_of: jiff::civil::Date,
    by_rule: &std::collections::BTreeMap<String, u64>,
) -> Result<(), Failure> {
    let rt = runtime()?;
    rt.block_on(async {
        let store = open(&DbOpt { db: db.to_owned() }).await?;
        let r = store
            .record_plan_blocks(as_of, by_rule, crate::outbox_cmds::wall_clock())
            .await
            .map_err(store_failure);
        store.close().await;
        r
    })
}

/// `arrears run --as-of D --db …`: the daily run over the stored portfolio, written as that
/// date's snapshot (replacing an earlier run of the date) and, with `--out`/`--export`, as
/// the files of the file mode.
pub fn run_from_store(a: &RunArgs, db: &str) -> Result<(), Failure> {
    let started = Instant::now();
    let config = daily::load_config(a.config.as_deref(), a.business_tz.as_deref())?;
    let rt = runtime()?;
    let pb = spinner(!a.quiet && std::io::stderr().is_terminal());
    let (store, read) = rt.block_on(async {
        let store = open(&DbOpt { db: db.to_owned() }).await?;
        pb.set_message("loading the portfolio from the store");
        let portfolio = store.load_portfolio().await.map_err(store_failure)?;
        Ok::<_, Failure>((
            store,
            ReadOutcome {
                portfolio,
                rejects: Vec::new(),
                files: Vec::new(),
            },
        ))
    })?;
    pb.set_message(format!("computing {} loans", read.portfolio.loans.len()));
    let states =
        arrears_engine::run_day(&read.portfolio, a.as_of, &config).map_err(Failure::from)?;
    pb.set_message("writing the snapshot");
    let (snap, reviewed) = rt.block_on(async {
        let r = store
            .write_snapshot(a.as_of, &read.portfolio, &states, &config)
            .await
            .map_err(store_failure);
        // The day's settlements follow its snapshot: paid ones close their loan with the
        // remainder written off, unpaid or unaccepted ones lapse (docs/settlement.md).
        let reviewed = match r {
            Ok(_) => arrears_app::settle::review_settlements(
                &store,
                a.as_of,
                &config.business_tz,
                crate::outbox_cmds::wall_clock(),
            )
            .await
            .map_err(|e| Failure::from(anyhow!("reviewing settlements: {e}"))),
            Err(_) => Ok(Vec::new()),
        };
        store.close().await;
        Ok::<_, Failure>((r?, reviewed?))
    })?;
    let summary_json = match &a.out {
        Some(out) => {
            pb.set_message("writing results");
            daily::write_outputs(out, a.format, &read, &states, a.as_of, &config)?
        }
        None => {
            let summary = arrears_engine::summarize(&read.portfolio, &states, &config);
            let counts = arrears_io::write::count_rejects(&read);
            arrears_io::write::summary_json(a.as_of, &config, &summary, &counts)
        }
    };
    pb.finish_and_clear();
    if !a.quiet {
        crate::display::print_summary(
            &summary_json,
            started.elapsed().as_secs_f64(),
            a.out.as_deref(),
        );
        println!(
            "  snapshot of {} written to {} (run {}: {} loans{}, {} lifecycle events)",
            a.as_of,
            parse_target(db).map(|t| t.to_string()).unwrap_or_default(),
            snap.run_id,
            snap.loans,
            if snap.replaced > 0 {
                format!(", replacing {} rows of an earlier run", snap.replaced)
            } else {
                String::new()
            },
            snap.events
        );
        for r in &reviewed {
            match r {
                arrears_app::settle::Reviewed::Paid {
                    settlement_id,
                    on,
                    written_off,
                } => println!(
                    "  settlement {settlement_id} paid on {on}; the loan is closed{}",
                    written_off
                        .as_ref()
                        .map(|w| format!(
                            ", {} minor units written off ({})",
                            w.amount_minor, w.write_off_id
                        ))
                        .unwrap_or_default()
                ),
                arrears_app::settle::Reviewed::Lapsed { settlement_id, on } => {
                    println!("  settlement {settlement_id} lapsed on {on}; nothing was forgiven")
                }
            }
        }
    }
    Ok(())
}

/// `arrears history --loan ID`: the loan on every snapshot date, and its lifecycle events.
pub fn history(a: &HistoryArgs) -> Result<(), Failure> {
    let rt = runtime()?;
    let (snaps, events) = rt.block_on(async {
        let store = open(&a.db).await?;
        let snaps = store.loan_snapshots(&a.loan).await.map_err(store_failure)?;
        let events = store.loan_events(&a.loan).await.map_err(store_failure)?;
        store.close().await;
        Ok::<_, Failure>((snaps, events))
    })?;
    if snaps.is_empty() && events.is_empty() {
        return Err(Failure::bad_input(anyhow!(
            "the store has no snapshot of loan {:?}",
            a.loan
        )));
    }
    println!("Loan {} on every snapshot date", a.loan);
    println!(
        "  {:<10} {:<11} {:>5} {:<7} {:<9} {:>18} {:>18} {:>16}",
        "as_of", "status", "dpd", "bucket", "stage", "overdue", "outstanding", "paid"
    );
    for r in &snaps {
        let m = |v: i64| crate::display::money(v, &r.currency);
        println!(
            "  {:<10} {:<11} {:>5} {:<7} {:<9} {:>18} {:>18} {:>16}",
            r.as_of.to_string(),
            r.status,
            r.dpd,
            r.bucket,
            r.stage,
            m(r.overdue_minor),
            m(r.outstanding_principal_minor),
            m(r.paid_minor)
        );
    }
    println!("Lifecycle events");
    for e in &events {
        println!(
            "  {} {:<7} {} -> {}",
            e.effective_on,
            e.kind,
            e.from.as_deref().unwrap_or("(new)"),
            e.to
        );
    }
    Ok(())
}

pub fn report(a: &ReportArgs) -> Result<(), Failure> {
    if a.from > a.to {
        return Err(Failure::bad_input(anyhow!(
            "--from {} is after --to {}",
            a.from,
            a.to
        )));
    }
    let config = daily::load_config(a.config.as_deref(), None)?;
    let rt = runtime()?;
    let history = rt.block_on(async {
        let store = open(&a.db).await?;
        let dates = store
            .snapshot_dates(a.from, a.to)
            .await
            .map_err(store_failure)?;
        let mut days = Vec::with_capacity(dates.len());
        for d in dates {
            let rows = store.snapshot_rows(d).await.map_err(store_failure)?;
            days.push(arrears_report::Day {
                as_of: d,
                // A loan disbursed after the date was not on the book yet.
                loans: rows
                    .into_iter()
                    .filter(|r| r.disbursed_on <= d)
                    .map(|r| arrears_report::LoanDay {
                        loan_id: r.loan_id,
                        status: r.status,
                        dpd: r.dpd,
                        bucket: r.bucket,
                        stage: r.stage,
                        overdue_minor: r.overdue_minor,
                        outstanding_principal_minor: r.outstanding_principal_minor,
                        paid_minor: r.paid_minor,
                        currency: r.currency,
                        disbursed_on: r.disbursed_on,
                    })
                    .collect(),
            });
        }
        store.close().await;
        Ok::<_, Failure>(days)
    })?;
    if history.is_empty() {
        return Err(Failure::bad_input(anyhow!(
            "the store has no snapshot between {} and {}; run `arrears run --as-of D --db …` first",
            a.from,
            a.to
        )));
    }
    let h = arrears_report::History {
        days: history,
        buckets: config
            .buckets
            .names()
            .iter()
            .map(|s| s.to_string())
            .collect(),
        stages: config
            .stages
            .names()
            .iter()
            .map(|s| s.to_string())
            .collect(),
    };
    let report = arrears_report::build(&h).map_err(Failure::from)?;
    // The late stage: settlements, the legal pipeline, recovery by route, the agency league.
    let facts = rt.block_on(async {
        let store = open(&a.db).await?;
        let f = arrears_app::late::late_facts(&store, a.from, a.to)
            .await
            .map_err(store_failure);
        store.close().await;
        f
    })?;
    let late = arrears_report::build_late(&facts).map_err(Failure::from)?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let files = arrears_report::write_with(&report, Some(&late), &a.out).map_err(Failure::from)?;
    println!(
        "Report {} to {} over {} snapshot dates:",
        a.from,
        a.to,
        h.days.len()
    );
    for f in files {
        println!("  {}", f.display());
    }
    Ok(())
}
