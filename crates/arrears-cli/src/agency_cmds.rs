//! `arrears agency`: collection agencies (`docs/agency.md`). `add` and `list` the agencies
//! (approved by the lender's policy), `place` a loan with one (CN-AGENCY: the notice on
//! record, an approved agency), `notice` queues the signed CN-AGENCY notice through the
//! outbox, `placement-file` writes an agency's daily placement file (CSV and Parquet), `recall`
//! by hand and `recall-expired` at the end of the term write recall files, `import` reads an
//! agency's activity file, `remittance` writes the statement of a period. Every use case is
//! `arrears_app::agency`; this file parses, loads and writes.

use crate::Failure;
use crate::evidence_cmds::{LogLock, check_before_change, load_key, read_log, refusing};
use crate::sale_cmds::EvidenceSigner;
use crate::store_cmds::{DbOpt, open, parse_target, runtime};
use anyhow::{Context, anyhow};
use arrears_app::agency::{AgencySpec, NoticeQueued, PlaceRequest};
use arrears_store::{Ingested, Store, WorkMeta};
use jiff::Timestamp;
use jiff::civil::Date;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct AgencyArgs {
    #[command(subcommand)]
    pub command: AgencyCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum AgencyCommand {
    /// Add a collection agency (it must be on the lender policy's `approved_agencies`).
    Add {
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        /// A jurisdiction it works (repeatable; `CN` takes its subdivisions).
        #[arg(long = "jurisdiction", required = true)]
        jurisdictions: Vec<String>,
        /// Its commission on recovered amounts, in basis points (0-10000).
        #[arg(long)]
        commission_bps: i64,
        /// How long a placement lasts before `recall-expired` recalls it (days).
        #[arg(long)]
        term_days: i64,
        #[arg(long, default_value = "cli")]
        by: String,
        #[command(flatten)]
        db: DbOpt,
    },
    /// List the agencies: id, name, jurisdictions, commission, term.
    List {
        #[command(flatten)]
        db: DbOpt,
    },
    /// Place a loan with an agency (refused with the rule ids the compliance engine names).
    Place {
        #[arg(long)]
        placement: String,
        #[arg(long)]
        loan: String,
        #[arg(long)]
        agency: String,
        /// When (RFC 3339; default now).
        #[arg(long)]
        at: Option<String>,
        /// The placement's commission (default: the agency's).
        #[arg(long)]
        commission_bps: Option<i64>,
        #[command(flatten)]
        db: DbOpt,
    },
    /// Queue the signed CN-AGENCY notice of a placement to the borrower (through the outbox;
    /// once sent it is on record and the placement may pass).
    Notice {
        #[arg(long)]
        agency: String,
        #[arg(long)]
        loan: String,
        #[arg(long)]
        keys: PathBuf,
        #[arg(long)]
        audit_log: PathBuf,
        #[arg(long)]
        now: Option<String>,
        #[command(flatten)]
        db: DbOpt,
    },
    /// Write the agency's daily placement file (placement_AGENCY_DATE.csv and .parquet).
    PlacementFile {
        #[arg(long)]
        agency: String,
        #[arg(long, value_parser = crate::daily::parse_date)]
        date: Date,
        #[arg(long, default_value = ".")]
        out: PathBuf,
        /// Configuration file (arrears.toml): business zone, buckets, stages.
        #[arg(long)]
        config: Option<PathBuf>,
        #[command(flatten)]
        db: DbOpt,
    },
    /// Recall a placement by hand, writing the agency's recall file.
    Recall {
        #[arg(long)]
        placement: String,
        #[arg(long)]
        reason: String,
        /// When (RFC 3339; default now).
        #[arg(long)]
        at: Option<String>,
        #[arg(long, default_value = ".")]
        out: PathBuf,
        #[command(flatten)]
        db: DbOpt,
    },
    /// Recall every placement whose term ended by the end of a date (each at its term's end),
    /// writing one recall file per agency.
    RecallExpired {
        #[arg(long, value_parser = crate::daily::parse_date)]
        as_of: Date,
        #[arg(long, default_value = ".")]
        out: PathBuf,
        #[arg(long)]
        config: Option<PathBuf>,
        #[command(flatten)]
        db: DbOpt,
    },
    /// Import an agency's activity file (CSV: activity_id, loan_id, kind, at, channel, target,
    /// outcome, amount_minor, due_date, direction). Bad rows are written to --rejects with
    /// file, line, field and reason; the good ones are recorded.
    Import {
        #[arg(long)]
        agency: String,
        #[arg(long)]
        file: PathBuf,
        #[arg(long, default_value = "activity_rejects.csv")]
        rejects: PathBuf,
        #[arg(long)]
        now: Option<String>,
        #[command(flatten)]
        db: DbOpt,
    },
    /// Write the agency's remittance statement for business dates FROM..=TO.
    Remittance {
        #[arg(long)]
        agency: String,
        #[arg(long, value_parser = crate::daily::parse_date)]
        from: Date,
        #[arg(long, value_parser = crate::daily::parse_date)]
        to: Date,
        #[arg(long, default_value = ".")]
        out: PathBuf,
        #[arg(long)]
        config: Option<PathBuf>,
        #[command(flatten)]
        db: DbOpt,
    },
}

fn bad(e: impl std::fmt::Display) -> Failure {
    Failure::bad_input(anyhow!("{e}"))
}

fn instant(flag: &'static str, s: Option<&str>) -> Result<Timestamp, Failure> {
    match s {
        Some(s) => arrears_domain::parse::timestamp(flag, s).map_err(|e| bad(e.detail)),
        None => Ok(crate::outbox_cmds::wall_clock()),
    }
}

fn today(now: Timestamp) -> Date {
    now.to_zoned(jiff::tz::TimeZone::UTC).date()
}

fn file_sha256(path: &Path) -> Result<String, Failure> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(arrears_server::auth::sha256_hex(&bytes))
}

fn mkdir(out: &Path) -> Result<(), Failure> {
    std::fs::create_dir_all(out)
        .with_context(|| format!("creating {}", out.display()))
        .map_err(Failure::from)
}

pub fn agency(a: &AgencyArgs) -> Result<(), Failure> {
    let rt = runtime()?;
    rt.block_on(async {
        let db = match &a.command {
            AgencyCommand::Add { db, .. }
            | AgencyCommand::List { db }
            | AgencyCommand::Place { db, .. }
            | AgencyCommand::Notice { db, .. }
            | AgencyCommand::PlacementFile { db, .. }
            | AgencyCommand::Recall { db, .. }
            | AgencyCommand::RecallExpired { db, .. }
            | AgencyCommand::Import { db, .. }
            | AgencyCommand::Remittance { db, .. } => db,
        };
        parse_target(&db.db)?;
        let store = open(db).await?;
        let r = run(&store, &a.command).await;
        store.close().await;
        r
    })
}

async fn run(store: &Store, c: &AgencyCommand) -> Result<(), Failure> {
    match c {
        AgencyCommand::Add {
            id,
            name,
            jurisdictions,
            commission_bps,
            term_days,
            by,
            ..
        } => {
            let now = crate::outbox_cmds::wall_clock();
            let policy = crate::lender_policy::resolve(None, Some(store), today(now), None).await?;
            let spec = AgencySpec {
                agency_id: id,
                name,
                jurisdictions,
                commission_bps: *commission_bps,
                term_days: *term_days,
                by,
            };
            let done = arrears_app::agency::add(store, &policy, &spec, now)
                .await
                .map_err(bad)?;
            match done {
                arrears_store::AgencyAdded::Added => println!("agency {id:?} added"),
                _ => println!("agency {id:?} was on record already; nothing changed"),
            }
        }
        AgencyCommand::List { .. } => {
            for a in store.agencies().await.map_err(|e| anyhow!(e))? {
                println!(
                    "{}\t{}\t{}\t{} bps\t{} days",
                    a.agency_id,
                    a.name,
                    a.jurisdictions.join(","),
                    a.commission_bps,
                    a.term_days
                );
            }
        }
        AgencyCommand::Place {
            placement,
            loan,
            agency,
            at,
            commission_bps,
            ..
        } => {
            let now = crate::outbox_cmds::wall_clock();
            let placed_at = instant("--at", at.as_deref())?;
            let policy =
                crate::lender_policy::resolve(None, Some(store), today(placed_at), None).await?;
            let (body, sha) = arrears_app::agency::cli_meta_body(&[
                ("placement_id", placement.clone()),
                ("loan_id", loan.clone()),
                ("agency_id", agency.clone()),
                ("placed_at", placed_at.to_string()),
                (
                    "commission_bps",
                    commission_bps.map(|c| c.to_string()).unwrap_or_default(),
                ),
            ]);
            let key = format!("placement:{placement}");
            let meta = WorkMeta {
                key: &key,
                kind: "placement",
                body: &body,
                body_sha256: &sha,
                received_at: now,
                actor: "cli",
            };
            let r = PlaceRequest {
                placement_id: placement,
                loan_id: loan,
                agency_id: agency,
                placed_at,
                commission_bps: *commission_bps,
            };
            match arrears_app::agency::place(store, &policy.packs, &meta, &r)
                .await
                .map_err(bad)?
            {
                Ingested::Recorded => println!("loan {loan} placed with {agency} ({placement})"),
                Ingested::AlreadyRecorded => println!("placement {placement} was recorded before"),
                Ingested::Conflict => {
                    return Err(bad(format!(
                        "placement {placement} was recorded before with other terms"
                    )));
                }
                Ingested::Refused(rules) => {
                    return Err(bad(format!("placement refused: {}", rules.join(" "))));
                }
            }
        }
        AgencyCommand::Notice {
            agency,
            loan,
            keys,
            audit_log,
            now,
            ..
        } => {
            let now = instant("--now", now.as_deref())?;
            let key = load_key(keys)?;
            let _lock = LogLock::exclusive(audit_log)?;
            let entries = read_log(audit_log)?;
            check_before_change(audit_log, &entries, Some(&key))
                .map_err(|f| refusing(audit_log, "append to this log", f))?;
            let policy = crate::lender_policy::resolve(None, Some(store), today(now), None).await?;
            let lender = arrears_app::rules::lender_name(&policy);
            let mut signer = EvidenceSigner::new(&key, entries.len() as u64);
            let out = arrears_app::agency::queue_placement_notice(
                store,
                &policy.packs,
                &lender,
                agency,
                loan,
                now,
                &mut signer,
            )
            .await
            .map_err(bad)?;
            signer.append_to(audit_log, &entries)?;
            match out {
                NoticeQueued::Queued(id) => {
                    println!("notice queued (outbox {id}), signed into the audit log")
                }
                NoticeQueued::AlreadyQueued(id) => {
                    println!("notice was queued before (outbox {id})")
                }
                NoticeQueued::Refused(rules) => {
                    return Err(bad(format!("notice refused: {}", rules.join(" "))));
                }
                NoticeQueued::NoTarget => {
                    return Err(bad(
                        "the borrower has neither e-mail nor phone on record; send a letter and record it as a notice",
                    ));
                }
            }
        }
        AgencyCommand::PlacementFile {
            agency,
            date,
            out,
            config,
            db,
        } => {
            let config = crate::daily::load_config(config.as_deref(), None)?;
            // The store's portfolio (the same load as `arrears plan --db`).
            let portfolio = store.load_portfolio().await.map_err(|e| anyhow!(e))?;
            let _ = db;
            let lines =
                arrears_app::agency::placement_file(store, &portfolio, &config, agency, *date)
                    .await
                    .map_err(bad)?;
            mkdir(out)?;
            let csv = out.join(format!("placement_{agency}_{date}.csv"));
            let parquet = out.join(format!("placement_{agency}_{date}.parquet"));
            arrears_io::placement_file::write_placement_csv(&csv, &lines)
                .map_err(Failure::bad_input)?;
            arrears_io::placement_file::write_placement_parquet(&parquet, &lines)
                .map_err(Failure::bad_input)?;
            store
                .record_agency_file(
                    agency,
                    "placement",
                    (*date, *date),
                    i64::try_from(lines.len()).unwrap_or(i64::MAX),
                    &file_sha256(&csv)?,
                    crate::outbox_cmds::wall_clock(),
                )
                .await
                .map_err(|e| anyhow!(e))?;
            println!(
                "{} loans placed with {agency} on {date}: {} and {}",
                lines.len(),
                csv.display(),
                parquet.display()
            );
        }
        AgencyCommand::Recall {
            placement,
            reason,
            at,
            out,
            ..
        } => {
            let now = crate::outbox_cmds::wall_clock();
            let at = instant("--at", at.as_deref())?;
            let line = arrears_app::agency::recall(store, placement, at, reason, "cli", now)
                .await
                .map_err(bad)?
                .ok_or_else(|| bad(format!("placement {placement:?} could not be recalled")))?;
            let agency = store
                .placement_agency(placement)
                .await
                .map_err(|e| anyhow!(e))?
                .unwrap_or_default();
            write_recall(store, out, &agency, today(at), &[line]).await?;
        }
        AgencyCommand::RecallExpired {
            as_of, out, config, ..
        } => {
            let config = crate::daily::load_config(config.as_deref(), None)?;
            let now = crate::outbox_cmds::wall_clock();
            let by_agency = arrears_app::agency::recall_expired(store, &config, *as_of, "cli", now)
                .await
                .map_err(bad)?;
            if by_agency.is_empty() {
                println!("no placement's term ended by {as_of}");
            }
            for (agency, lines) in by_agency {
                write_recall(store, out, &agency, *as_of, &lines).await?;
            }
        }
        AgencyCommand::Import {
            agency,
            file,
            rejects,
            now,
            ..
        } => {
            let now = instant("--now", now.as_deref())?;
            if store
                .agency(agency)
                .await
                .map_err(|e| anyhow!(e))?
                .is_none()
            {
                return Err(bad(format!("there is no agency {agency:?}")));
            }
            let (rows, mut bad_rows) =
                arrears_io::placement_file::read_activity_csv(file).map_err(Failure::bad_input)?;
            let policy = crate::lender_policy::resolve(None, Some(store), today(now), None).await?;
            let name = file.display().to_string();
            let report = arrears_app::agency::record_activity(
                store,
                &policy.packs,
                agency,
                &name,
                &rows,
                &format!("agency:{agency}"),
                now,
            )
            .await
            .map_err(bad)?;
            bad_rows.extend(report.rejected.iter().cloned());
            bad_rows.sort_by_key(|r| r.line);
            arrears_io::placement_file::write_csv(
                rejects,
                ["file", "line", "field", "reason"],
                bad_rows.iter().map(|r| {
                    [
                        r.file.clone(),
                        r.line.to_string(),
                        r.field.clone(),
                        r.reason.clone(),
                    ]
                }),
            )
            .map_err(Failure::bad_input)?;
            println!(
                "{}: {} rows recorded, {} recorded before, {} rejected (see {}), {} contacts kept as violations",
                file.display(),
                report.recorded,
                report.already,
                bad_rows.len(),
                rejects.display(),
                report.violations.len()
            );
            for (id, rules) in report.violations.iter().take(20) {
                println!("  {id}: {}", rules.join(" "));
            }
        }
        AgencyCommand::Remittance {
            agency,
            from,
            to,
            out,
            config,
            ..
        } => {
            let config = crate::daily::load_config(config.as_deref(), None)?;
            let r = arrears_app::agency::remittance(store, &config, agency, *from, *to)
                .await
                .map_err(bad)?;
            mkdir(out)?;
            let path = out.join(format!("remittance_{agency}_{from}_{to}.csv"));
            arrears_io::placement_file::write_remittance_csv(&path, &r.lines, &r.totals)
                .map_err(Failure::bad_input)?;
            store
                .record_agency_file(
                    agency,
                    "remittance",
                    (*from, *to),
                    i64::try_from(r.lines.len()).unwrap_or(i64::MAX),
                    &file_sha256(&path)?,
                    crate::outbox_cmds::wall_clock(),
                )
                .await
                .map_err(|e| anyhow!(e))?;
            println!(
                "remittance of {agency} for {from}..{to}: {} placements in {}",
                r.lines.len(),
                path.display()
            );
            for (cur, rec, com, rep) in &r.totals {
                println!(
                    "  {cur}: recovered {rec}, commission {com}, reported collected {rep} (minor units; commission rounded half-to-even per placement, total = sum)"
                );
            }
        }
    }
    Ok(())
}

async fn write_recall(
    store: &Store,
    out: &Path,
    agency: &str,
    date: Date,
    lines: &[arrears_app::agency::RecallLine],
) -> Result<(), Failure> {
    mkdir(out)?;
    let path = out.join(format!("recall_{agency}_{date}.csv"));
    // A second recall of the day adds to the day's file.
    let mut all: Vec<arrears_app::agency::RecallLine> = Vec::new();
    if path.exists() {
        all.extend(read_recall(&path)?);
    }
    for l in lines {
        if !all.iter().any(|x| x.placement_id == l.placement_id) {
            all.push(l.clone());
        }
    }
    arrears_io::placement_file::write_recall_csv(&path, &all).map_err(Failure::bad_input)?;
    store
        .record_agency_file(
            agency,
            "recall",
            (date, date),
            i64::try_from(all.len()).unwrap_or(i64::MAX),
            &file_sha256(&path)?,
            crate::outbox_cmds::wall_clock(),
        )
        .await
        .map_err(|e| anyhow!(e))?;
    println!(
        "{} placements of {agency} recalled: {}",
        lines.len(),
        path.display()
    );
    Ok(())
}

fn read_recall(path: &Path) -> Result<Vec<arrears_app::agency::RecallLine>, Failure> {
    let mut r =
        csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    for rec in r.records() {
        let rec = rec.with_context(|| format!("reading {}", path.display()))?;
        let get = |i: usize| rec.get(i).unwrap_or_default().to_owned();
        let ts = |i: usize| -> Result<Timestamp, Failure> {
            get(i).parse().map_err(|_| {
                bad(format!(
                    "{}: {:?} is not an instant",
                    path.display(),
                    get(i)
                ))
            })
        };
        out.push(arrears_app::agency::RecallLine {
            placement_id: get(0),
            loan_id: get(1),
            borrower_id: get(2),
            placed_at: ts(3)?,
            recalled_at: ts(4)?,
            reason: get(5),
        });
    }
    Ok(out)
}
