//! `arrears plan` and `arrears strategy`: today's action plan from a portfolio and a strategy,
//! and checking a strategy file.
//!
//! `plan` reads the portfolio (and the `contact_persons` / `legal_cases` extension tables),
//! runs the daily run for the account states, loads and proves the strategy, plans with the
//! pure planner of `arrears-strategy` (every action holding the engine's `PermittedContact`),
//! re-verifies the plan with the independent checker (a plan with any violation is not
//! written), writes `actions.csv`, `blocked.csv` and `plan_summary.json`, and appends every
//! decision to the audit log. With `--keys DIR` every message is signed and its verification
//! code is filled in; without keys no code can be issued, so messages are blocked under
//! ALL-IDENTITY (said in the summary) and only calls and escalations are planned.
//!
//! The portfolio is loaded by `load_source`, the one place that knows where it comes from;
//! a `--db URL` source will load the same `Portfolio` through
//! `arrears_store::Store::load_portfolio` there, and nothing after it changes.

use crate::Failure;
use crate::evidence_cmds::{
    LogLock, check_before_change, load_key, read_log, refusing, salt_seed, write_head,
    write_signed_head,
};
use anyhow::{Context, anyhow};
use arrears_domain::{Config, Portfolio, Severity};
use arrears_evidence::chain::{Draft, Entry, Head};
use arrears_evidence::signing::{LenderKey, MessageDraft};
use arrears_policy::PackSet;
use arrears_strategy::{
    ActionKind, CodeIssuer, CodeRequest, Plan, PriorAction, Strategy, prove_cadence,
};
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use rayon::prelude::*;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The columns of `actions.csv` (issue 4, item 5); `blocked.csv` adds `rule_ids` and
/// `earliest_allowed`.
pub const ACTION_COLUMNS: [&str; 17] = [
    "action_id",
    "as_of",
    "loan_id",
    "borrower_id",
    "kind",
    "channel",
    "party",
    "target",
    "template",
    "language",
    "not_before",
    "not_after",
    "queue",
    "priority",
    "rule_id",
    "arm",
    "verification_code",
];

#[derive(clap::Args, Debug)]
pub struct PlanArgs {
    /// Business date of the plan (YYYY-MM-DD).
    #[arg(long, value_parser = crate::daily::parse_date)]
    pub as_of: Date,
    /// Portfolio folder (the tables of the daily run, plus the optional lifecycle tables:
    /// notices, preferences, payment_plans, plan_installments, placements, sales,
    /// credit_disputes, legal_cases, contact_persons; CSV or Parquet). Without it the plan is
    /// made over the store (`--db`).
    #[arg(long)]
    pub portfolio: Option<PathBuf>,
    /// The store to plan over: an SQLite file path, sqlite:PATH or postgres://… (default:
    /// arrears.db, when it exists). Ignored with `--portfolio`. The store's lifecycle records
    /// (notices, preferences, plans, placements, sales, credit disputes, legal cases, contact
    /// persons) are read as the folder's tables are.
    #[arg(long, env = "ARREARS_DATABASE_URL")]
    pub db: Option<String>,
    /// Output folder for actions.csv, blocked.csv, plan_summary.json (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Strategy file (TOML); default: the strategy shipped with Arrears.
    #[arg(long)]
    pub strategy: Option<PathBuf>,
    /// Configuration file (arrears.toml): business zone, buckets, stages.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Business time zone (IANA), overriding the configuration file.
    #[arg(long)]
    pub business_tz: Option<String>,
    /// A lender policy that tightens the rule packs (default: the store's policy in force on
    /// the business date, else the `policy` of arrears.toml, else the legal floors).
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// The audit log every decision is appended to (default OUT/audit.jsonl).
    #[arg(long)]
    pub log: Option<PathBuf>,
    /// Folder with the lender's key (lender.key): messages are signed and get their codes.
    /// Without it, messages are blocked under ALL-IDENTITY.
    #[arg(long)]
    pub keys: Option<PathBuf>,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(clap::Args, Debug)]
pub struct StrategyArgs {
    #[command(subcommand)]
    pub command: StrategyCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum StrategyCommand {
    /// Validate a strategy file and prove its cadence within every pack's frequency caps
    /// (exit 0 valid, 2 with every error naming the rule and field).
    Check {
        file: PathBuf,
        /// Check stage and bucket names against this configuration (default: built-in bands).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Prove the cadence against the packs tightened by this lender policy.
        #[arg(long)]
        policy: Option<PathBuf>,
    },
    /// Print the default strategy shipped with Arrears.
    ShowDefault,
}

/// Loads, validates and proves a strategy: every problem listed, one a line.
fn load_strategy(
    file: Option<&Path>,
    config: &Config,
    packs: &PackSet,
) -> Result<Strategy, Failure> {
    let (name, text) = match file {
        Some(f) => (
            f.display().to_string(),
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?,
        ),
        None => (
            "the default strategy".to_owned(),
            arrears_strategy::DEFAULT_STRATEGY.to_owned(),
        ),
    };
    let mut problems: Vec<String> = Vec::new();
    match Strategy::parse(&text) {
        Err(errs) => problems.extend(errs.iter().map(ToString::to_string)),
        Ok(s) => {
            problems.extend(
                s.check_bands(&config.stages, &config.buckets)
                    .iter()
                    .map(ToString::to_string),
            );
            problems.extend(
                prove_cadence(&s, packs.iter())
                    .iter()
                    .map(ToString::to_string),
            );
            if problems.is_empty() {
                return Ok(s);
            }
        }
    }
    Err(Failure::bad_input(anyhow!(
        "{name} is not valid ({} problem{}):\n  {}",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" },
        problems.join("\n  ")
    )))
}

pub fn strategy(a: &StrategyArgs) -> Result<(), Failure> {
    match &a.command {
        StrategyCommand::ShowDefault => {
            print!("{}", arrears_strategy::DEFAULT_STRATEGY);
            Ok(())
        }
        StrategyCommand::Check {
            file,
            config,
            policy,
        } => {
            let config = crate::daily::load_config(config.as_deref(), None)?;
            let packs = crate::lender_policy::resolve_files(policy.as_deref(), None)?.packs;
            let s = load_strategy(Some(file), &config, &packs)?;
            let countries: Vec<&str> = packs.iter().map(|p| p.jurisdiction().as_str()).collect();
            println!(
                "ok: strategy {} {} ({} rules, {} templates in zh-CN and en); cadence proven within the frequency caps of {}",
                s.name,
                s.version,
                s.rules.len(),
                s.templates
                    .ids()
                    .collect::<std::collections::BTreeSet<_>>()
                    .len(),
                countries.join(", ")
            );
            Ok(())
        }
    }
}

/// Where the portfolio comes from: a folder (its tables and the lifecycle tables of
/// compliance.md) or the store (the same rows). Both give a `Portfolio` and a `Lifecycle`, and
/// nothing after `load_source` knows which.
struct Source {
    portfolio: Portfolio,
    lifecycle: arrears_domain::Lifecycle,
    rejected_rows: usize,
    lifecycle_rejects: Vec<arrears_io::extensions::ExtReject>,
    policy: arrears_app::EffectivePolicy,
    /// A later stored policy version, and when it takes effect.
    next_policy: Option<(jiff::Timestamp, arrears_app::EffectivePolicy)>,
    /// The store planned from (`--db`, or `arrears.db` here), which keeps the day's block
    /// counts; None for a portfolio folder.
    db: Option<String>,
}

fn load_source(a: &PlanArgs) -> Result<Source, Failure> {
    let dir = match (&a.portfolio, &a.db) {
        (Some(dir), _) => dir,
        (None, db) => {
            let db = match db {
                Some(db) => db.as_str(),
                None if std::path::Path::new("arrears.db").exists() => "arrears.db",
                None => {
                    return Err(Failure::bad_input(anyhow!(
                        "give --portfolio DIR or --db TARGET; there is no arrears.db here"
                    )));
                }
            };
            let (portfolio, lifecycle, policy, next_policy) = crate::store_cmds::load_for_plan(
                db,
                a.as_of,
                a.policy.as_deref(),
                a.config.as_deref(),
            )?;
            return Ok(Source {
                portfolio,
                lifecycle,
                rejected_rows: 0,
                lifecycle_rejects: Vec::new(),
                policy,
                next_policy,
                db: Some(db.to_owned()),
            });
        }
    };
    let read = arrears_io::read_portfolio(dir, &|_, _| {}).map_err(|e| match e {
        arrears_io::IoError::Write { .. } => Failure::from(e),
        other => Failure::bad_input(other),
    })?;
    let rejected_rows = read
        .rejects
        .iter()
        .filter(|r| r.severity == Severity::Error)
        .count();
    let lc =
        arrears_io::extensions::read_lifecycle(dir, &read.portfolio).map_err(Failure::bad_input)?;
    let policy = crate::lender_policy::resolve_files(a.policy.as_deref(), a.config.as_deref())?;
    Ok(Source {
        portfolio: read.portfolio,
        lifecycle: lc.lifecycle,
        rejected_rows,
        lifecycle_rejects: lc.rejects,
        policy,
        next_policy: None,
        db: None,
    })
}

/// Verification codes as `arrears-evidence` derives them, so the signed message carries the
/// same code the text was rendered with.
struct KeyCodes<'a>(Option<&'a LenderKey>);

impl CodeIssuer for KeyCodes<'_> {
    fn code(&self, r: &CodeRequest<'_>) -> Option<String> {
        self.0?;
        Some(draft(r, String::new()).code())
    }
}

fn draft(r: &CodeRequest<'_>, text: String) -> MessageDraft {
    MessageDraft {
        lender: r.lender.to_owned(),
        borrower_id: r.borrower_id.to_owned(),
        loan_id: Some(r.loan_id.to_owned()),
        channel: r.channel.to_owned(),
        issued_at: r.issued_at,
        sequence: r.sequence,
        text,
    }
}

fn local(t: Timestamp, tz: &TimeZone) -> String {
    let z = t.to_zoned(tz.clone());
    z.timestamp().display_with_offset(z.offset()).to_string()
}

pub fn plan(a: &PlanArgs) -> Result<(), Failure> {
    let started = Instant::now();
    let config = crate::daily::load_config(a.config.as_deref(), a.business_tz.as_deref())?;
    let key = a.keys.as_deref().map(load_key).transpose()?;
    let log = a.log.clone().unwrap_or_else(|| a.out.join("audit.jsonl"));
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    // Held to the end of the run: the decisions are chained onto what is read here.
    let _lock = LogLock::exclusive(&log)?;
    let entries = read_log(&log)?;
    check_before_change(&log, &entries, key.as_ref())
        .map_err(|f| refusing(&log, "append to this log", f))?;

    let mut phases: Vec<(&str, f64)> = Vec::new();
    let mut lap = Instant::now();
    let mut phase = |name: &'static str, phases: &mut Vec<(&str, f64)>| {
        phases.push((name, lap.elapsed().as_secs_f64()));
        lap = Instant::now();
    };
    let src = load_source(a)?;
    let packs = &src.policy.packs;
    let strategy = load_strategy(a.strategy.as_deref(), &config, packs)?;
    phase("read", &mut phases);
    let p = &src.portfolio;
    let prior: Vec<PriorAction> = entries
        .iter()
        .filter(|e| e.kind == "plan.action")
        .filter_map(|e| {
            let kind = ActionKind::parse(e.data.get("kind")?.as_str()?)?;
            let on: Date = e.data.get("as_of")?.as_str()?.parse().ok()?;
            Some(PriorAction {
                loan_id: e.loan_id.clone()?,
                kind,
                on,
            })
        })
        .filter(|x| x.on < a.as_of)
        .collect();
    let req = arrears_app::PlanRequest {
        as_of: a.as_of,
        portfolio: p,
        lifecycle: &src.lifecycle,
        config: &config,
        strategy: &strategy,
        packs,
        prior_actions: &prior,
        first_sequence: entries.len() as u64,
        next_policy: src.next_policy.as_ref().map(|(t, p)| (*t, &p.packs)),
    };
    let day = arrears_app::plan_day(&req, &KeyCodes(key.as_ref())).map_err(|e| match e {
        arrears_app::plan::PlanError::Run(why) => Failure::from(anyhow!(why)),
        other => Failure::from(anyhow!("{other}")),
    })?;
    phase("plan", &mut phases);
    let planned = &day.plan;
    let borrowers = &day.borrowers;

    let zones: HashMap<&str, &TimeZone> = p
        .borrowers
        .iter()
        .map(|b| (b.id.as_str(), b.timezone.tz()))
        .collect();
    write_actions(&a.out.join("actions.csv"), planned, &zones, a.as_of)?;
    write_blocked(&a.out.join("blocked.csv"), planned, &zones, a.as_of)?;
    phase("write_csv", &mut phases);
    let audit_entries = append_decisions(
        &log,
        entries,
        planned,
        &strategy,
        key.as_ref(),
        borrowers,
        a.as_of,
    )?;
    phase("audit_log", &mut phases);
    let s = planned.summary();
    if let Some(db) = &src.db {
        // The legal_review actions become referral proposals for a supervisor (docs/legal.md).
        crate::legal_cmds::record_proposals(db, a.as_of, planned, a.quiet)?;
        crate::store_cmds::record_plan_blocks(db, a.as_of, &s.blocked_by_rule)?;
        // The write-off proposals wait for a supervisor's decision (docs/settlement.md).
        crate::settle_cmds::record_write_off_proposals(db, a.as_of, &planned.proposals)?;
    }
    let summary = serde_json::json!({
        "as_of": a.as_of.to_string(),
        "strategy": {"name": strategy.name, "version": strategy.version},
        "packs": packs.iter().map(|pk| serde_json::json!({"jurisdiction": pk.jurisdiction().as_str(), "version": pk.version(), "policy": pk.policy()})).collect::<Vec<_>>(),
        "policy": src.policy.origin.to_string(),
        "loans": p.loans.len(),
        "rejected_rows": src.rejected_rows,
        "extension_rejects": src.lifecycle_rejects.len(),
        "signed": key.is_some(),
        "actions": s.actions,
        "blocked": s.blocked,
        "rescheduled": s.rescheduled,
        "held_by_call_limit": s.held_by_call_limit,
        "actions_by_kind": s.actions_by_kind,
        "actions_by_stage": s.actions_by_stage,
        "blocked_by_kind": s.blocked_by_kind,
        "blocked_by_stage": s.blocked_by_stage,
        "blocked_by_rule": s.blocked_by_rule,
        "audit_log": log.display().to_string(),
        "audit_entries_appended": audit_entries,
        "checker_violations": 0,
        "seconds": phases.iter().map(|(k, v)| ((*k).to_owned(), serde_json::json!((v * 1000.0).round() / 1000.0))).collect::<serde_json::Map<_, _>>(),
    });
    arrears_io::write::write_json(&a.out.join("plan_summary.json"), &summary)?;
    if !a.quiet {
        print_summary(
            &s,
            key.is_some(),
            &a.out,
            &log,
            started.elapsed().as_secs_f64(),
            &src,
        );
        let shown: Vec<String> = phases
            .iter()
            .map(|(k, v)| format!("{k} {v:.1} s"))
            .collect();
        println!("time: {}", shown.join(", "));
    }
    // The process ends now: the system takes the portfolio and the plan back at once, where
    // freeing them piece by piece takes most of a second on one core (1M loans).
    std::mem::forget(day);
    std::mem::forget(src);
    Ok(())
}

fn print_summary(
    s: &arrears_strategy::PlanSummary,
    signed: bool,
    out: &Path,
    log: &Path,
    secs: f64,
    src: &Source,
) {
    println!(
        "plan: {} actions, {} blocked ({} rescheduled within the day); independent check: 0 violations",
        s.actions, s.blocked, s.rescheduled
    );
    let table = |title: &str, m: &std::collections::BTreeMap<String, u64>| {
        if m.is_empty() {
            return;
        }
        println!("\n{title}");
        for (k, v) in m {
            println!("  {k:<28} {v:>10}");
        }
    };
    table("actions by kind", &s.actions_by_kind);
    table("actions by stage", &s.actions_by_stage);
    table("blocked by stage", &s.blocked_by_stage);
    table("blocked by rule", &s.blocked_by_rule);
    if s.held_by_call_limit > 0 {
        println!(
            "\n{} calls held back by the strategy's per-borrower daily call limit",
            s.held_by_call_limit
        );
    }
    if !signed {
        println!(
            "\nno --keys: no verification code can be issued, so every message (sms, email, push, letter) is blocked under ALL-IDENTITY; give --keys DIR to sign them. The audit log's head is not signed either: `arrears audit verify` will not vouch for it until the key holder runs `arrears audit sign-head`"
        );
    }
    println!("\npolicy: {}", src.policy.origin);
    if src.rejected_rows > 0 || !src.lifecycle_rejects.is_empty() {
        println!(
            "\n{} portfolio rows and {} lifecycle rows were rejected (see `arrears run` for rejects.csv)",
            src.rejected_rows,
            src.lifecycle_rejects.len()
        );
        for r in src.lifecycle_rejects.iter().take(5) {
            println!("  {r}");
        }
    }
    println!(
        "\nwrote {}/actions.csv, blocked.csv, plan_summary.json; decisions appended to {} ({secs:.1} s)",
        out.display(),
        log.display()
    );
}

fn csv_writer(path: &Path) -> Result<csv::Writer<std::io::BufWriter<std::fs::File>>, Failure> {
    let f = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    Ok(csv::Writer::from_writer(std::io::BufWriter::with_capacity(
        1 << 20,
        f,
    )))
}

fn write_actions(
    path: &Path,
    plan: &Plan,
    zones: &HashMap<&str, &TimeZone>,
    as_of: Date,
) -> Result<(), Failure> {
    let mut w = csv_writer(path)?;
    w.write_record(ACTION_COLUMNS)
        .context("writing actions.csv")?;
    let utc = TimeZone::UTC;
    let as_of = as_of.to_string();
    for x in &plan.actions {
        let tz = zones.get(x.borrower_id.as_str()).copied().unwrap_or(&utc);
        let priority = x.priority.map(|p| p.to_string()).unwrap_or_default();
        w.write_record([
            x.action_id.as_str(),
            &as_of,
            x.loan_id.as_str(),
            x.borrower_id.as_str(),
            x.kind.code(),
            x.channel.code(),
            x.party.code(),
            x.target.as_ref().map(|t| t.as_str()).unwrap_or(""),
            x.template.as_deref().unwrap_or(""),
            x.language.tag(),
            &local(x.not_before, tz),
            &local(x.not_after, tz),
            x.queue.as_deref().unwrap_or(""),
            &priority,
            &x.rule_id,
            &x.arm,
            x.verification_code.as_deref().unwrap_or(""),
        ])
        .context("writing actions.csv")?;
    }
    for x in &plan.proposals {
        let tz = zones.get(x.borrower_id.as_str()).copied().unwrap_or(&utc);
        let at = local(x.at, tz);
        w.write_record([
            x.action_id.as_str(),
            &as_of,
            x.loan_id.as_str(),
            x.borrower_id.as_str(),
            ActionKind::WriteOffProposal.code(),
            "internal",
            "",
            "",
            "",
            "",
            &at,
            &at,
            "",
            "",
            &x.rule_id,
            &x.arm,
            "",
        ])
        .context("writing actions.csv")?;
    }
    w.flush().context("writing actions.csv")?;
    Ok(())
}

fn write_blocked(
    path: &Path,
    plan: &Plan,
    zones: &HashMap<&str, &TimeZone>,
    as_of: Date,
) -> Result<(), Failure> {
    let mut w = csv_writer(path)?;
    let mut header: Vec<&str> = ACTION_COLUMNS.to_vec();
    header.extend(["rule_ids", "earliest_allowed"]);
    w.write_record(&header).context("writing blocked.csv")?;
    let utc = TimeZone::UTC;
    let as_of = as_of.to_string();
    for x in &plan.blocked {
        let tz = zones.get(x.borrower_id.as_str()).copied().unwrap_or(&utc);
        let priority = x.priority.map(|p| p.to_string()).unwrap_or_default();
        let ids: Vec<&str> = x.rule_ids.iter().map(|r| r.as_str()).collect();
        w.write_record([
            x.action_id.as_str(),
            &as_of,
            x.loan_id.as_str(),
            x.borrower_id.as_str(),
            x.kind.code(),
            x.channel.code(),
            x.party.code(),
            x.target.as_ref().map(|t| t.as_str()).unwrap_or(""),
            x.template.as_deref().unwrap_or(""),
            x.language.tag(),
            &local(x.proposed_at, tz),
            "",
            x.queue.as_deref().unwrap_or(""),
            &priority,
            &x.rule_id,
            &x.arm,
            "",
            &ids.join(";"),
            &x.earliest_allowed.map(|t| local(t, tz)).unwrap_or_default(),
        ])
        .context("writing blocked.csv")?;
    }
    w.flush().context("writing blocked.csv")?;
    Ok(())
}

/// What the audit entries of one plan are made from.
struct DecisionLog<'a> {
    plan: &'a Plan,
    strategy: &'a Strategy,
    key: Option<&'a LenderKey>,
    jur: &'a HashMap<&'a str, &'a str>,
    as_of: String,
}

impl DecisionLog<'_> {
    /// The entries of decision `i`, counting the actions, then the blocked actions, then
    /// the write-off proposals: an action's own entry and, with a key, its signed message.
    fn drafts(&self, i: usize) -> anyhow::Result<Vec<Draft>> {
        let plan = self.plan;
        let as_of_s = &self.as_of;
        let strategy = self.strategy;
        if let Some(x) = plan.actions.get(i) {
            let permit = x.permit();
            let data = serde_json::json!({
                "action_id": x.action_id,
                "as_of": as_of_s,
                "kind": x.kind.code(),
                "channel": x.channel.code(),
                "party": x.party.code(),
                "target": x.target.as_ref().map(|t| t.as_str()),
                "rule_id": x.rule_id,
                "arm": x.arm,
                "stage": x.stage,
                "template": x.template,
                "language": x.language.tag(),
                "not_before": x.not_before.to_string(),
                "not_after": x.not_after.to_string(),
                "deferred_by": x.deferred_by.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
                "verification_code": x.verification_code,
                "text": x.message,
                "jurisdiction": permit.jurisdiction().as_str(),
                "pack_version": permit.pack_version(),
                "policy": permit.policy(),
                "strategy": format!("{} {}", strategy.name, strategy.version),
                "decision": "allow",
            });
            let mut out = vec![Draft {
                at: x.issued_at,
                kind: "plan.action".into(),
                borrower_id: Some(x.borrower_id.to_string()),
                loan_id: Some(x.loan_id.to_string()),
                data,
            }];
            if let (Some(k), Some(text)) = (self.key, &x.message) {
                let req = CodeRequest {
                    lender: &strategy.lender_name,
                    borrower_id: x.borrower_id.as_str(),
                    loan_id: x.loan_id.as_str(),
                    channel: x.channel.code(),
                    issued_at: x.issued_at,
                    sequence: x.sequence,
                };
                let msg = k.sign(draft(&req, text.clone()));
                if Some(&msg.code) != x.verification_code.as_ref() {
                    return Err(anyhow!(
                        "{}: the signed code differs from the planned one",
                        x.action_id
                    ));
                }
                out.push(Draft {
                    at: x.issued_at,
                    kind: "message".into(),
                    borrower_id: Some(x.borrower_id.to_string()),
                    loan_id: Some(x.loan_id.to_string()),
                    data: serde_json::to_value(msg).context("encoding a message")?,
                });
            }
            return Ok(out);
        }
        let i = i - plan.actions.len();
        if let Some(x) = plan.blocked.get(i) {
            let data = serde_json::json!({
                "action_id": x.action_id,
                "as_of": as_of_s,
                "kind": x.kind.code(),
                "channel": x.channel.code(),
                "party": x.party.code(),
                "rule_id": x.rule_id,
                "arm": x.arm,
                "stage": x.stage,
                "decision": "deny",
                "rule_ids": x.rule_ids.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
                "earliest_allowed": x.earliest_allowed.map(|t| t.to_string()),
                "note": x.note,
                "jurisdiction": self.jur.get(x.borrower_id.as_str()),
            });
            return Ok(vec![Draft {
                at: x.proposed_at,
                kind: "plan.block".into(),
                borrower_id: Some(x.borrower_id.to_string()),
                loan_id: Some(x.loan_id.to_string()),
                data,
            }]);
        }
        let i = i - plan.blocked.len();
        let Some(x) = plan.proposals.get(i) else {
            return Ok(Vec::new());
        };
        let data = serde_json::json!({
            "action_id": x.action_id,
            "as_of": as_of_s,
            "kind": ActionKind::WriteOffProposal.code(),
            "rule_id": x.rule_id,
            "arm": x.arm,
            "stage": x.stage,
            "pack_rule": x.pack_rule.map(|r| r.as_str()),
            "jurisdiction": self.jur.get(x.borrower_id.as_str()),
        });
        Ok(vec![Draft {
            at: x.at,
            kind: "plan.proposal".into(),
            borrower_id: Some(x.borrower_id.to_string()),
            loan_id: Some(x.loan_id.to_string()),
            data,
        }])
    }
}

/// Appends every decision (and every signed message) to the audit log, chained, and rewrites
/// the head. Entry instants are the plan's instants, never the clock.
///
/// In slices of decisions, so memory stays bounded: a slice's drafts (and signatures) are
/// made on every core, chained in order, encoded on every core, and written.
fn append_decisions(
    log: &Path,
    entries: Vec<Entry>,
    plan: &Plan,
    strategy: &Strategy,
    key: Option<&LenderKey>,
    borrowers: &[arrears_strategy::BorrowerInput],
    as_of: Date,
) -> Result<u64, Failure> {
    const SLICE: usize = 32_768;
    let jur: HashMap<&str, &str> = borrowers
        .iter()
        .map(|b| (b.facts.borrower_id.as_str(), b.facts.jurisdiction.as_str()))
        .collect();
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening {}", log.display()))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
    let mut end: Option<Head> = entries.last().map(Head::of);
    let mut log_id: Option<String> = entries.first().map(|e| e.hash.clone());
    drop(entries);
    let mut n = 0u64;
    let seed = salt_seed()?;
    let ctx = DecisionLog {
        plan,
        strategy,
        key,
        jur: &jur,
        as_of: as_of.to_string(),
    };
    let total = plan.actions.len() + plan.blocked.len() + plan.proposals.len();
    for from in (0..total).step_by(SLICE) {
        let drafts: Vec<Vec<Draft>> = (from..(from + SLICE).min(total))
            .into_par_iter()
            .map(|i| ctx.drafts(i))
            .collect::<anyhow::Result<_>>()?;
        let lines = arrears_evidence::chain::append_all_salted_lines(
            end.as_ref(),
            drafts.into_iter().flatten().collect(),
            |seq| arrears_evidence::chain::salt(&seed, seq),
        )
        .context("encoding an audit entry")?;
        for piece in &lines.pieces {
            w.write_all(piece)?;
        }
        n += lines.count;
        end = lines.end;
        log_id = log_id.or(lines.first_hash);
    }
    w.flush()?;
    w.get_ref().sync_all()?;
    // Signed with the lender's key; without one (only onto a log not signed yet, see
    // `check_before_change`) the head is left unsigned and `audit verify` says so.
    match (&end, key) {
        (Some(head), Some(k)) if n > 0 => write_signed_head(log, k, log_id.as_deref(), head)?,
        (Some(head), None) if n > 0 => {
            write_head(log, &arrears_evidence::head::SignedHead::unsigned(head))?;
        }
        _ => {}
    }
    Ok(n)
}
