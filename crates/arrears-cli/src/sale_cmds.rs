//! `arrears sale`: debt sale (`docs/sale.md`). `sale tape` selects loans into a sale tape
//! (CSV and Parquet, with a summary), `sale record` prices a tape's loans on the sale date and
//! records the sale (in the store, with the assignment notices queued and signed when the
//! lender's key is given; or as a folder's `sales.csv`), and `sale notices` queues the
//! notices of a sale recorded without the key (e.g. through the API). Every use case is
//! `arrears_app::sale`; this file parses, loads and writes.

use crate::Failure;
use crate::evidence_cmds::{
    LogLock, append_entry, check_before_change, load_key, read_log, refusing, salt_seed,
    write_signed_head,
};
use anyhow::{Context, anyhow};
use arrears_app::sale::{NoticeDraft, NoticeSigner, SaleTerms};
use arrears_domain::{Config, Lifecycle, Portfolio, Severity};
use arrears_engine::sale::{PriceBps, TapeFilter};
use arrears_evidence::chain::{Draft, Head};
use arrears_evidence::signing::{LenderKey, MessageDraft};
use jiff::Timestamp;
use jiff::civil::Date;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct SaleArgs {
    #[command(subcommand)]
    pub command: SaleCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum SaleCommand {
    /// Select loans into a sale tape: OUT/sale_tape.csv, sale_tape.parquet and
    /// sale_tape_summary.json (what the filter matched and why loans were kept off).
    Tape(TapeArgs),
    /// Record a sale of a tape's loans to a buyer at a price in basis points of face value.
    Record(RecordArgs),
    /// Queue (and sign) the assignment notices of a sale recorded in the store.
    Notices(NoticesArgs),
}

/// Where the portfolio comes from.
#[derive(clap::Args, Debug)]
pub struct SourceArgs {
    /// Portfolio folder (its tables and lifecycle tables).
    #[arg(long, conflicts_with = "db")]
    pub portfolio: Option<PathBuf>,
    /// The store: an SQLite file path, sqlite:PATH or postgres://….
    #[arg(long, env = "ARREARS_DATABASE_URL")]
    pub db: Option<String>,
    /// Configuration file (arrears.toml): business zone, buckets, stages.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Business time zone (IANA), overriding the configuration file.
    #[arg(long)]
    pub business_tz: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct TapeArgs {
    /// Business date of the tape (YYYY-MM-DD): balances and records as of its end.
    #[arg(long, value_parser = crate::daily::parse_date)]
    pub as_of: Date,
    #[command(flatten)]
    pub source: SourceArgs,
    /// Output folder (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Stage names to take (repeatable); default every stage.
    #[arg(long = "stage")]
    pub stages: Vec<String>,
    #[arg(long)]
    pub dpd_min: Option<u32>,
    #[arg(long)]
    pub dpd_max: Option<u32>,
    /// Jurisdictions to take (repeatable; `CN` takes `CN-11` too); default all.
    #[arg(long = "jurisdiction")]
    pub jurisdictions: Vec<String>,
    /// Only loans in this currency (balance bounds are in its minor units).
    #[arg(long)]
    pub currency: Option<String>,
    /// Outstanding balance bounds in minor units, inclusive.
    #[arg(long)]
    pub balance_min: Option<i64>,
    #[arg(long)]
    pub balance_max: Option<i64>,
    /// csv, parquet or both.
    #[arg(long, value_enum, default_value = "both")]
    pub format: crate::OutFormat,
}

#[derive(clap::Args, Debug)]
pub struct RecordArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// The tape (sale_tape.csv or sale_tape.parquet): its loan_id column is the sale's loans.
    #[arg(long)]
    pub tape: PathBuf,
    #[arg(long)]
    pub buyer: String,
    /// Price in basis points of face value (0..=10000).
    #[arg(long)]
    pub price_bps: i64,
    /// The sale date (YYYY-MM-DD): the loans are the buyer's from its first instant.
    #[arg(long, value_parser = crate::daily::parse_date)]
    pub date: Date,
    /// Folder with the lender's key: the assignment notices are signed and queued (store only).
    #[arg(long, requires = "audit_log")]
    pub keys: Option<PathBuf>,
    /// The audit log the signed notices are appended to.
    #[arg(long, requires = "keys")]
    pub audit_log: Option<PathBuf>,
    /// A lender policy that tightens the rule packs (default: the store's in force).
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Where the priced loans are written as sale_<id>.csv (default: the tape's folder).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Who records the sale (kept with it).
    #[arg(long, default_value = "cli")]
    pub by: String,
    /// The instant the notices are decided at (RFC 3339; default: now).
    #[arg(long)]
    pub now: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct NoticesArgs {
    #[arg(long, env = "ARREARS_DATABASE_URL")]
    pub db: String,
    /// The sale's id (as `sale record` or the API answered).
    #[arg(long)]
    pub sale: String,
    #[arg(long)]
    pub keys: PathBuf,
    #[arg(long)]
    pub audit_log: PathBuf,
    #[arg(long)]
    pub policy: Option<PathBuf>,
    #[arg(long)]
    pub now: Option<String>,
}

pub fn sale(a: &SaleArgs) -> Result<(), Failure> {
    match &a.command {
        SaleCommand::Tape(t) => tape(t),
        SaleCommand::Record(r) => record(r),
        SaleCommand::Notices(n) => notices(n),
    }
}

fn bad(e: impl std::fmt::Display) -> Failure {
    Failure::bad_input(anyhow!("{e}"))
}

/// Loads the portfolio and lifecycle records of a folder or of the store, and the
/// configuration.
fn load(s: &SourceArgs, on: Date) -> Result<(Portfolio, Lifecycle, Config), Failure> {
    let config = crate::daily::load_config(s.config.as_deref(), s.business_tz.as_deref())?;
    match (&s.portfolio, &s.db) {
        (Some(dir), _) => {
            let read = arrears_io::read_portfolio(dir, &|_, _| {}).map_err(Failure::bad_input)?;
            let rejected = read
                .rejects
                .iter()
                .filter(|r| r.severity == Severity::Error)
                .count();
            if rejected > 0 {
                eprintln!(
                    "{rejected} portfolio rows were rejected and are not on the tape (see `arrears run` for rejects.csv)"
                );
            }
            let lc = arrears_io::extensions::read_lifecycle(dir, &read.portfolio)
                .map_err(Failure::bad_input)?;
            Ok((read.portfolio, lc.lifecycle, config))
        }
        (None, Some(db)) => {
            let (p, lc, _, _) = crate::store_cmds::load_for_plan(db, on, None, None)?;
            Ok((p, lc, config))
        }
        (None, None) => Err(bad("give --portfolio DIR or --db TARGET")),
    }
}

fn tape(a: &TapeArgs) -> Result<(), Failure> {
    let started = Instant::now();
    let (p, lc, config) = load(&a.source, a.as_of)?;
    let loaded = started.elapsed();
    if let Some(c) = &a.currency {
        arrears_domain::Currency::parse("--currency", c).map_err(|e| bad(e.detail))?;
    }
    for s in &a.stages {
        if !config.stages.names().iter().any(|n| n == s) {
            return Err(bad(format!(
                "--stage {s:?} is not a stage of the configuration ({})",
                config.stages.names().join(", ")
            )));
        }
    }
    let filter = TapeFilter {
        stages: a.stages.clone(),
        dpd_min: a.dpd_min,
        dpd_max: a.dpd_max,
        jurisdictions: a.jurisdictions.clone(),
        currency: a.currency.clone(),
        balance_min: a.balance_min,
        balance_max: a.balance_max,
    };
    let t0 = Instant::now();
    let tape = arrears_app::sale::tape(&p, &lc, &config, a.as_of, &filter).map_err(bad)?;
    let selected = t0.elapsed();
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let t1 = Instant::now();
    use crate::OutFormat;
    let (csv, parquet) = match a.format {
        OutFormat::Csv => (true, false),
        OutFormat::Parquet => (false, true),
        OutFormat::Both => (true, true),
    };
    let (rc, rp) = rayon::join(
        || {
            csv.then(|| {
                arrears_io::sale_tape::write_tape_csv(
                    &a.out.join("sale_tape.csv"),
                    &p,
                    &tape.rows,
                    a.as_of,
                    &config,
                )
            })
            .transpose()
        },
        || {
            parquet
                .then(|| {
                    arrears_io::sale_tape::write_tape_parquet(
                        &a.out.join("sale_tape.parquet"),
                        &p,
                        &tape.rows,
                        a.as_of,
                        &config,
                    )
                })
                .transpose()
        },
    );
    rc?;
    rp?;
    let written = t1.elapsed();
    let mut by_currency: std::collections::BTreeMap<&str, (u64, i128)> = Default::default();
    for r in &tape.rows {
        let e = by_currency
            .entry(p.loans[r.loan as usize].currency.as_str())
            .or_default();
        e.0 += 1;
        e.1 += i128::from(r.outstanding_minor);
    }
    let summary = serde_json::json!({
        "as_of": a.as_of.to_string(),
        "filter": {
            "stages": filter.stages,
            "dpd_min": filter.dpd_min,
            "dpd_max": filter.dpd_max,
            "jurisdictions": filter.jurisdictions,
            "currency": filter.currency,
            "balance_min": filter.balance_min,
            "balance_max": filter.balance_max,
        },
        "loans_in_portfolio": p.loans.len(),
        "matched": tape.matched,
        "selected": tape.rows.len(),
        "excluded": tape.excluded,
        "excluded_by": tape.excluded_by,
        "outstanding_by_currency": by_currency.iter().map(|(c, (n, sum))| {
            (c.to_string(), serde_json::json!({"loans": n, "outstanding_minor": sum.to_string()}))
        }).collect::<serde_json::Map<_, _>>(),
    });
    arrears_io::write::write_json(&a.out.join("sale_tape_summary.json"), &summary)?;
    println!(
        "sale tape as of {}: {} loans selected of {} matched ({} excluded) in {}",
        a.as_of,
        tape.rows.len(),
        tape.matched,
        tape.excluded,
        a.out.display()
    );
    for (reason, n) in &tape.excluded_by {
        println!("  excluded, {reason}: {n}");
    }
    eprintln!(
        "timing: load {:.2}s, run and select {:.2}s, write {:.2}s, total {:.2}s",
        loaded.as_secs_f64(),
        selected.as_secs_f64(),
        written.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn instant(flag: &'static str, s: Option<&str>) -> Result<Timestamp, Failure> {
    match s {
        Some(s) => arrears_domain::parse::timestamp(flag, s).map_err(|e| bad(e.detail)),
        None => Ok(crate::outbox_cmds::wall_clock()),
    }
}

fn record(a: &RecordArgs) -> Result<(), Failure> {
    let bps = PriceBps::new(a.price_bps).map_err(|e| bad(format!("--price-bps: {e}")))?;
    let loan_ids = arrears_io::sale_tape::read_tape_loans(&a.tape).map_err(Failure::bad_input)?;
    let terms = SaleTerms {
        buyer: a.buyer.clone(),
        price_bps: bps,
        sold_on: a.date,
        recorded_by: a.by.clone(),
    };
    let id = arrears_app::sale::sale_id(&terms, &loan_ids);
    let out = a
        .out
        .clone()
        .or_else(|| a.tape.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let loans_file = out.join(format!("sale_{id}.csv"));
    if let Some(dir) = &a.source.portfolio {
        if a.keys.is_some() {
            return Err(bad(
                "a folder has no outbox: the assignment notices are sent from a store (--db)",
            ));
        }
        let (p, lc, config) = load(&a.source, a.date)?;
        if arrears_app::sale::in_lifecycle(&lc, &id) {
            println!("sale {id} was recorded before in {}", dir.display());
            return Ok(());
        }
        let sale =
            arrears_app::sale::price_sale(&p, &lc, &config, &loan_ids, &terms).map_err(bad)?;
        write_loans(&loans_file, &sale)?;
        let rows = arrears_app::sale::lifecycle_rows(&sale).map_err(bad)?;
        arrears_io::sale_tape::append_sales_csv(dir, &rows)?;
        print_sale(&sale, &loans_file, "recorded in");
        println!(
            "  {} rows appended to {}",
            rows.len(),
            dir.join("sales.csv").display()
        );
        return Ok(());
    }
    let Some(db) = &a.source.db else {
        return Err(bad("give --portfolio DIR or --db TARGET"));
    };
    let target = crate::store_cmds::parse_target(db)?;
    let now = instant("--now", a.now.as_deref())?;
    let rt = crate::store_cmds::runtime()?;
    let before = rt.block_on(async {
        let store = arrears_store::Store::open(&target).await?;
        let r = arrears_app::sale::stored(&store, &id).await;
        store.close().await;
        r.map_err(bad)
    })?;
    let (sale, fresh) = match before {
        Some(s) => (s, false),
        None => {
            let (p, lc, config) = load(&a.source, a.date)?;
            let sale =
                arrears_app::sale::price_sale(&p, &lc, &config, &loan_ids, &terms).map_err(bad)?;
            (sale, true)
        }
    };
    write_loans(&loans_file, &sale)?;
    rt.block_on(async {
        let store = arrears_store::Store::open(&target).await?;
        let r = if fresh {
            arrears_app::sale::record(&store, &sale).await.map_err(bad)
        } else {
            Ok(arrears_store::SaleRecorded::AlreadyRecorded)
        };
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                store.close().await;
                return Err(e);
            }
        };
        print_sale(
            &sale,
            &loans_file,
            match r {
                arrears_store::SaleRecorded::Recorded => "recorded in",
                arrears_store::SaleRecorded::AlreadyRecorded => "was recorded before in",
            },
        );
        let res = match (&a.keys, &a.audit_log) {
            (Some(keys), Some(log)) => {
                queue_notices(&store, &sale.sale_id, keys, log, a.policy.as_deref(), now).await
            }
            _ => {
                println!(
                    "  the assignment notices are not queued: run `arrears sale notices --db … --sale {} --keys DIR --audit-log FILE`",
                    sale.sale_id
                );
                Ok(())
            }
        };
        store.close().await;
        res
    })
}

/// `sale_<id>.csv`: the sale's loans with their figures.
fn write_loans(path: &Path, sale: &arrears_store::NewDebtSale) -> Result<(), Failure> {
    arrears_io::sale_tape::write_rows_csv(
        path,
        &SALE_LOAN_COLUMNS,
        sale.loans.iter().map(|l| {
            vec![
                sale.sale_id.clone(),
                l.loan_id.clone(),
                l.borrower_id.clone(),
                l.currency.clone(),
                l.principal_minor.to_string(),
                l.interest_minor.to_string(),
                l.fee_minor.to_string(),
                l.penalty_minor.to_string(),
                l.face_minor.to_string(),
                sale.price_bps.to_string(),
                l.price_minor.to_string(),
                l.loss_minor.to_string(),
            ]
        }),
    )?;
    Ok(())
}

/// The columns of `sale_<id>.csv`.
const SALE_LOAN_COLUMNS: [&str; 12] = [
    "sale_id",
    "loan_id",
    "borrower_id",
    "currency",
    "principal_minor",
    "interest_minor",
    "fee_minor",
    "penalty_minor",
    "face_minor",
    "price_bps",
    "price_minor",
    "loss_minor",
];

fn print_sale(sale: &arrears_store::NewDebtSale, file: &Path, how: &str) {
    println!(
        "sale {} to {} on {} at {} bps: {} loans {} the store; per loan in {}",
        sale.sale_id,
        sale.buyer,
        sale.sold_on,
        sale.price_bps,
        sale.loans.len(),
        how,
        file.display()
    );
    for (c, t) in arrears_app::sale::totals(sale) {
        println!(
            "  {c}: {} loans, face {} = price {} + loss {} (minor units; price rounded half-to-even per loan, total = sum of loan prices)",
            t.loans, t.face_minor, t.price_minor, t.loss_minor
        );
    }
}

fn notices(a: &NoticesArgs) -> Result<(), Failure> {
    let target = crate::store_cmds::parse_target(&a.db)?;
    let now = instant("--now", a.now.as_deref())?;
    let rt = crate::store_cmds::runtime()?;
    rt.block_on(async {
        let store = arrears_store::Store::open(&target).await?;
        let r = queue_notices(
            &store,
            &a.sale,
            &a.keys,
            &a.audit_log,
            a.policy.as_deref(),
            now,
        )
        .await;
        store.close().await;
        r
    })
}

/// The lender's key over the notices: each code from `arrears-evidence` over the message's
/// identity and a sequence past the log's end; each queued notice signed and kept for the log.
pub(crate) struct EvidenceSigner<'a> {
    key: &'a LenderKey,
    next_sequence: u64,
    issued: Vec<(NoticeDraft, u64)>,
    signed: Vec<Draft>,
}

impl<'a> EvidenceSigner<'a> {
    /// A signer whose first code takes the sequence `next_sequence` (the log's length).
    pub(crate) fn new(key: &'a LenderKey, next_sequence: u64) -> EvidenceSigner<'a> {
        EvidenceSigner {
            key,
            next_sequence,
            issued: Vec::new(),
            signed: Vec::new(),
        }
    }

    /// Appends the signed messages to the log after `entries` (read under its lock) and
    /// signs the new head; how many were appended.
    pub(crate) fn append_to(
        self,
        log: &Path,
        entries: &[arrears_evidence::chain::Entry],
    ) -> Result<usize, Failure> {
        let n = self.signed.len();
        if n == 0 {
            return Ok(0);
        }
        let seed = salt_seed()?;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("opening {}", log.display()))?;
        let mut last = entries.last().cloned();
        let mut first_hash = entries.first().map(|e| e.hash.clone());
        for d in self.signed {
            let e = append_entry(last.as_ref(), d, &seed);
            writeln!(
                f,
                "{}",
                serde_json::to_string(&e).context("encoding the entry")?
            )?;
            first_hash = first_hash.or_else(|| Some(e.hash.clone()));
            last = Some(e);
        }
        f.sync_all()?;
        if let Some(e) = &last {
            write_signed_head(log, self.key, first_hash.as_deref(), &Head::of(e))?;
        }
        Ok(n)
    }

    fn draft(d: &NoticeDraft, sequence: u64, text: String) -> MessageDraft {
        MessageDraft {
            lender: d.lender.clone(),
            borrower_id: d.borrower_id.clone(),
            loan_id: Some(d.loan_id.clone()),
            channel: d.channel.clone(),
            issued_at: d.issued_at,
            sequence,
            text,
        }
    }
}

impl NoticeSigner for EvidenceSigner<'_> {
    fn code(&mut self, d: &NoticeDraft) -> String {
        let seq = self.next_sequence;
        self.next_sequence += 1;
        self.issued.push((d.clone(), seq));
        Self::draft(d, seq, String::new()).code()
    }

    fn signed(&mut self, d: &NoticeDraft, text: &str) {
        let Some(seq) = self
            .issued
            .iter()
            .rev()
            .find(|(x, _)| x == d)
            .map(|(_, s)| *s)
        else {
            return;
        };
        let msg = self.key.sign(Self::draft(d, seq, text.to_owned()));
        if let Ok(data) = serde_json::to_value(&msg) {
            self.signed.push(Draft {
                at: d.issued_at,
                kind: "message".into(),
                borrower_id: Some(d.borrower_id.clone()),
                loan_id: Some(d.loan_id.clone()),
                data,
            });
        }
    }
}

async fn queue_notices(
    store: &arrears_store::Store,
    sale_id: &str,
    keys: &Path,
    log: &Path,
    policy: Option<&Path>,
    now: Timestamp,
) -> Result<(), Failure> {
    let key = load_key(keys)?;
    let _lock = LogLock::exclusive(log)?;
    let entries = read_log(log)?;
    check_before_change(log, &entries, Some(&key))
        .map_err(|f| refusing(log, "append to this log", f))?;
    let today = now.to_zoned(jiff::tz::TimeZone::UTC).date();
    let policy = crate::lender_policy::resolve(policy, Some(store), today, None).await?;
    let lender = arrears_app::rules::lender_name(&policy);
    let mut signer = EvidenceSigner::new(&key, entries.len() as u64);
    let report = arrears_app::sale::queue_assignment_notices(
        store,
        sale_id,
        &policy.packs,
        &lender,
        now,
        &mut signer,
    )
    .await
    .map_err(bad)?;
    signer.append_to(log, &entries)?;
    println!(
        "assignment notices of {sale_id}: {} queued, {} queued before, {} refused, {} without e-mail or phone",
        report.queued.len(),
        report.already.len(),
        report.refused.len(),
        report.no_target.len()
    );
    for (b, rules) in report.refused.iter().take(20) {
        println!("  {b}: refused by {}", rules.join(" "));
    }
    Ok(())
}
