//! `arrears legal` (`docs/legal.md`): the court path over the store. `referrals` lists the
//! plan's referral proposals; `approve` and `reject` are a supervisor's decision (signed in
//! with their own password, `--user U --password-stdin`; the reason is required); `file`
//! files an approved referral as a case; `judgment`, `enforcement` and `close` move the case;
//! `measure`, `measure-status` and `cost` record enforcement measures and costs; `show` prints
//! a case; `letter` queues a signed letter before action or notice of suit bound to the loan's
//! real record. Every use case is `arrears_app::legal`; this file parses and prints.

use crate::Failure;
use crate::evidence_cmds::{LogLock, check_before_change, load_key, read_log, refusing};
use crate::sale_cmds::EvidenceSigner;
use crate::store_cmds::{DbOpt, open, store_failure};
use anyhow::{Context, anyhow};
use arrears_app::legal::{self, Author, LegalError, LetterKind, LetterOutcome, Refusal};
use arrears_store::{CaseStep, FiledCase, Ingested, NewCost, NewMeasure, Store};
use jiff::Timestamp;
use jiff::civil::Date;
use std::io::Read;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct LegalArgs {
    #[command(subcommand)]
    pub command: LegalCommand,
}

/// A supervisor signing in: their username, the password on standard input.
#[derive(clap::Args, Debug)]
pub struct Supervisor {
    /// Your staff username (`arrears users add … --role supervisor`).
    #[arg(long)]
    pub user: String,
    /// Read your password from standard input (one line); the only way to give it.
    #[arg(long, required = true)]
    pub password_stdin: bool,
}

#[derive(clap::Subcommand, Debug)]
pub enum LegalCommand {
    /// Referrals by status (default: proposed, waiting for a decision).
    Referrals {
        /// proposed, approved, rejected or all.
        #[arg(long, default_value = "proposed")]
        status: String,
        #[command(flatten)]
        db: DbOpt,
    },
    /// Approve a proposed referral (the legal_referral check is made again now).
    Approve(DecideArgs),
    /// Reject a proposed referral.
    Reject(DecideArgs),
    /// File the case of an approved referral.
    File {
        #[arg(long)]
        referral: String,
        #[arg(long)]
        case: String,
        #[arg(long)]
        court: String,
        #[arg(long)]
        case_number: String,
        #[arg(long)]
        note: Option<String>,
        #[arg(long, default_value = "cli")]
        by: String,
        #[command(flatten)]
        db: DbOpt,
    },
    /// Record the judgment of a case: the amount awarded (minor units) and its date.
    Judgment {
        #[arg(long)]
        case: String,
        #[arg(long)]
        amount_awarded_minor: i64,
        #[arg(long, value_parser = crate::daily::parse_date)]
        on: Date,
        #[command(flatten)]
        step: StepArgs,
    },
    /// Move a case to enforcement.
    Enforcement {
        #[arg(long)]
        case: String,
        #[command(flatten)]
        step: StepArgs,
    },
    /// Close a case with its outcome: satisfied, withdrawn or terminated.
    Close {
        #[arg(long)]
        case: String,
        #[arg(long)]
        outcome: String,
        #[command(flatten)]
        step: StepArgs,
    },
    /// Record an enforcement measure of a case.
    Measure {
        #[arg(long)]
        case: String,
        #[arg(long)]
        measure: String,
        /// asset_freeze, account_freeze, wage_garnishment, dishonest_debtor_listing or
        /// spending_restriction.
        #[arg(long)]
        kind: String,
        #[arg(long, value_parser = crate::daily::parse_date)]
        on: Date,
        #[arg(long)]
        authority: String,
        /// applied or in_force.
        #[arg(long, default_value = "applied")]
        status: String,
        #[arg(long, default_value = "cli")]
        by: String,
        #[command(flatten)]
        db: DbOpt,
    },
    /// Move a measure to in_force, refused or lifted.
    MeasureStatus {
        #[arg(long)]
        measure: String,
        #[arg(long)]
        status: String,
        #[arg(long, value_parser = crate::daily::parse_date)]
        on: Date,
        #[arg(long, default_value = "cli")]
        by: String,
        #[command(flatten)]
        db: DbOpt,
    },
    /// Record a cost of a case.
    Cost {
        #[arg(long)]
        case: String,
        #[arg(long)]
        cost: String,
        /// court_fee, lawyer_fee, enforcement_fee or other.
        #[arg(long)]
        kind: String,
        #[arg(long)]
        amount_minor: i64,
        #[arg(long, value_parser = crate::daily::parse_date)]
        on: Date,
        #[arg(long, default_value = "cli")]
        by: String,
        #[command(flatten)]
        db: DbOpt,
    },
    /// A case with its referral, judgment, outcome, measures and costs.
    Show {
        #[arg(long)]
        case: String,
        #[command(flatten)]
        db: DbOpt,
    },
    /// Queue a signed legal letter about a loan, bound to its real record: a
    /// letter_before_action (an approved referral not yet filed) or a notice_of_suit (a case
    /// filed and not closed). Anything else is refused under ALL-CONTENT.
    Letter {
        #[arg(long)]
        loan: String,
        /// letter_before_action or notice_of_suit.
        #[arg(long)]
        kind: String,
        /// The date the letter asks the borrower to pay or get in touch by (default: 14 days
        /// after the decision's date).
        #[arg(long, value_parser = crate::daily::parse_date)]
        reply_by: Option<Date>,
        #[arg(long)]
        keys: PathBuf,
        #[arg(long)]
        audit_log: PathBuf,
        #[arg(long)]
        policy: Option<PathBuf>,
        /// The instant the letter is decided at (RFC 3339; default: now).
        #[arg(long)]
        now: Option<String>,
        #[command(flatten)]
        db: DbOpt,
    },
}

#[derive(clap::Args, Debug)]
pub struct DecideArgs {
    /// The referral's id (`arrears legal referrals`).
    pub referral: String,
    /// Why (required for approval and rejection alike).
    #[arg(long)]
    pub reason: String,
    #[command(flatten)]
    pub supervisor: Supervisor,
    #[arg(long)]
    pub policy: Option<PathBuf>,
    #[command(flatten)]
    pub db: DbOpt,
}

#[derive(clap::Args, Debug)]
pub struct StepArgs {
    #[arg(long)]
    pub note: Option<String>,
    #[arg(long, default_value = "cli")]
    pub by: String,
    #[command(flatten)]
    pub db: DbOpt,
}

fn bad(e: impl std::fmt::Display) -> Failure {
    Failure::bad_input(anyhow!("{e}"))
}

fn legal_failure(e: LegalError) -> Failure {
    match e {
        LegalError::Store(e) => store_failure(e),
        LegalError::Work(arrears_store::WorkError::Store(e)) => store_failure(e),
        other => bad(other),
    }
}

fn now() -> Timestamp {
    crate::outbox_cmds::wall_clock()
}

/// The supervisor whose password standard input gives, checked against the store; only a
/// supervisor (or admin) decides a referral.
async fn sign_in(store: &Store, s: &Supervisor) -> Result<String, Failure> {
    let mut input = String::new();
    std::io::stdin()
        .take(4096)
        .read_to_string(&mut input)
        .context("reading the password from standard input")?;
    let password = input.lines().next().unwrap_or("");
    let user = store.user(&s.user).await.map_err(store_failure)?;
    let ok = user
        .as_ref()
        .filter(|u| !u.disabled)
        .is_some_and(|u| arrears_server::auth::verify_password(password, &u.password_hash));
    match user {
        Some(u) if ok && !u.disabled => {
            if matches!(u.role.as_str(), "supervisor" | "admin") {
                Ok(u.username)
            } else {
                Err(bad(format!(
                    "{} is a {}; only a supervisor decides a referral",
                    u.username, u.role
                )))
            }
        }
        _ => Err(bad("the username or the password is wrong")),
    }
}

fn refusal_text(r: &Refusal) -> String {
    let mut s = format!("refused by {}: {}", r.rule_ids.join(" "), r.detail);
    if let Some(t) = r.earliest_allowed {
        s.push_str(&format!(" (allowed from {t})"));
    }
    s
}

/// Prints what a write did; a refusal or a conflict is a failure (exit 2).
fn report<E>(what: &str, out: Ingested<E>, refusal: impl Fn(&E) -> String) -> Result<(), Failure> {
    match out {
        Ingested::Recorded => {
            println!("{what}: recorded");
            Ok(())
        }
        Ingested::AlreadyRecorded => {
            println!("{what}: recorded before, nothing changed");
            Ok(())
        }
        Ingested::Conflict => Err(bad(format!(
            "{what}: recorded before with other values; nothing was changed"
        ))),
        Ingested::Refused(e) => Err(bad(format!("{what}: {}", refusal(&e)))),
    }
}

fn never(_: &()) -> String {
    String::new()
}

fn author(by: &str) -> Author<'_> {
    Author {
        actor: by,
        now: now(),
    }
}

pub fn legal(a: &LegalArgs) -> Result<(), Failure> {
    let rt = crate::store_cmds::runtime()?;
    rt.block_on(async {
        let db = match &a.command {
            LegalCommand::Referrals { db, .. }
            | LegalCommand::Approve(DecideArgs { db, .. })
            | LegalCommand::Reject(DecideArgs { db, .. })
            | LegalCommand::File { db, .. }
            | LegalCommand::Measure { db, .. }
            | LegalCommand::MeasureStatus { db, .. }
            | LegalCommand::Cost { db, .. }
            | LegalCommand::Show { db, .. }
            | LegalCommand::Letter { db, .. } => db,
            LegalCommand::Judgment { step, .. }
            | LegalCommand::Enforcement { step, .. }
            | LegalCommand::Close { step, .. } => &step.db,
        };
        let store = open(db).await?;
        let r = run(&store, &a.command).await;
        store.close().await;
        r
    })
}

async fn run(store: &Store, c: &LegalCommand) -> Result<(), Failure> {
    match c {
        LegalCommand::Referrals { status, .. } => {
            let s = match status.as_str() {
                "all" => None,
                s @ ("proposed" | "approved" | "rejected") => Some(s),
                other => {
                    return Err(bad(format!(
                        "--status {other:?}: proposed, approved, rejected or all"
                    )));
                }
            };
            let list = store
                .legal_referrals(s, 10_000)
                .await
                .map_err(store_failure)?;
            println!(
                "referral_id\tloan_id\tborrower_id\tproposed_on\tamount_claimed_minor\tcurrency\tstatus\tdecided_by\treason\tcase_id"
            );
            for r in &list {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    r.referral_id,
                    r.loan_id,
                    r.borrower_id,
                    r.proposed_on,
                    r.amount_claimed_minor,
                    r.currency,
                    r.status,
                    r.decided_by.as_deref().unwrap_or(""),
                    r.reason.as_deref().unwrap_or(""),
                    r.case_id.as_deref().unwrap_or("")
                );
            }
            Ok(())
        }
        LegalCommand::Approve(d) | LegalCommand::Reject(d) => {
            let approve = matches!(c, LegalCommand::Approve(_));
            let user = sign_in(store, &d.supervisor).await?;
            let at = now();
            let today = at.to_zoned(jiff::tz::TimeZone::UTC).date();
            let policy =
                crate::lender_policy::resolve(d.policy.as_deref(), Some(store), today, None)
                    .await?;
            let out = legal::decide_referral(
                store,
                &policy.packs,
                &d.referral,
                approve,
                &d.reason,
                at,
                Author {
                    actor: &user,
                    now: at,
                },
            )
            .await
            .map_err(legal_failure)?;
            let what = format!(
                "referral {} {} by {user}",
                d.referral,
                if approve { "approved" } else { "rejected" }
            );
            report(&what, out, refusal_text)
        }
        LegalCommand::File {
            referral,
            case,
            court,
            case_number,
            note,
            by,
            ..
        } => {
            let at = now();
            let today = at.to_zoned(jiff::tz::TimeZone::UTC).date();
            let policy = crate::lender_policy::resolve(None, Some(store), today, None).await?;
            let filed = FiledCase {
                case_id: case.clone(),
                court: court.clone(),
                case_number: case_number.clone(),
                filed_at: at,
                note: note.clone(),
            };
            let out = legal::file_case(store, &policy.packs, referral, &filed, author(by))
                .await
                .map_err(legal_failure)?;
            report(
                &format!("case {case} filed from referral {referral}"),
                out,
                refusal_text,
            )
        }
        LegalCommand::Judgment {
            case,
            amount_awarded_minor,
            on,
            step,
        } => {
            let s = CaseStep::Judgment {
                amount_awarded_minor: *amount_awarded_minor,
                judgment_on: *on,
            };
            advance(store, case, &s, step).await
        }
        LegalCommand::Enforcement { case, step } => {
            advance(store, case, &CaseStep::Enforcement, step).await
        }
        LegalCommand::Close {
            case,
            outcome,
            step,
        } => {
            let s = CaseStep::Closed {
                outcome: Some(outcome.clone()),
            };
            advance(store, case, &s, step).await
        }
        LegalCommand::Measure {
            case,
            measure,
            kind,
            on,
            authority,
            status,
            by,
            ..
        } => {
            let m = NewMeasure {
                measure_id: measure.clone(),
                case_id: case.clone(),
                kind: kind.clone(),
                ordered_on: *on,
                authority: authority.clone(),
                status: status.clone(),
            };
            let out = legal::record_measure(store, &m, author(by))
                .await
                .map_err(legal_failure)?;
            report(&format!("measure {measure} of case {case}"), out, never)
        }
        LegalCommand::MeasureStatus {
            measure,
            status,
            on,
            by,
            ..
        } => {
            let out = legal::update_measure(store, measure, status, *on, author(by))
                .await
                .map_err(legal_failure)?;
            report(&format!("measure {measure} {status}"), out, never)
        }
        LegalCommand::Cost {
            case,
            cost,
            kind,
            amount_minor,
            on,
            by,
            ..
        } => {
            let c = NewCost {
                cost_id: cost.clone(),
                case_id: case.clone(),
                kind: kind.clone(),
                amount_minor: *amount_minor,
                incurred_on: *on,
            };
            let out = legal::record_cost(store, &c, author(by))
                .await
                .map_err(legal_failure)?;
            report(&format!("cost {cost} of case {case}"), out, never)
        }
        LegalCommand::Show { case, .. } => {
            let f = store
                .case_file(case)
                .await
                .map_err(store_failure)?
                .ok_or_else(|| bad(format!("there is no legal case {case:?}")))?;
            let k = &f.case;
            println!(
                "case {} of loan {} (borrower {}): {} at {}, case number {}",
                k.case_id, k.loan_id, f.borrower_id, k.status, k.court, k.case_number
            );
            println!(
                "claimed {} {}; awarded {}; judgment on {}; outcome {}; referral {}",
                k.amount_claimed_minor,
                f.currency,
                k.amount_awarded_minor
                    .map_or_else(|| "-".to_owned(), |a| a.to_string()),
                f.judgment_on
                    .map_or_else(|| "-".to_owned(), |d| d.to_string()),
                f.outcome.as_deref().unwrap_or("-"),
                f.referral_id.as_deref().unwrap_or("-")
            );
            for h in &k.history {
                println!("  status {} at {} by {}", h.status, h.at, h.actor);
            }
            for m in &f.measures {
                println!(
                    "  measure {} {} ordered {} by {}: {}",
                    m.measure_id, m.kind, m.ordered_on, m.authority, m.status
                );
            }
            for c in &f.costs {
                println!(
                    "  cost {} {} {} on {}",
                    c.cost_id, c.kind, c.amount_minor, c.incurred_on
                );
            }
            let total: i128 = f.costs.iter().map(|c| i128::from(c.amount_minor)).sum();
            println!("  costs in all: {total} {}", f.currency);
            Ok(())
        }
        LegalCommand::Letter {
            loan,
            kind,
            reply_by,
            keys,
            audit_log,
            policy,
            now: at,
            ..
        } => {
            let kind = LetterKind::parse(kind).ok_or_else(|| {
                bad(format!(
                    "--kind {kind:?}: letter_before_action or notice_of_suit"
                ))
            })?;
            let at = match at {
                Some(s) => {
                    arrears_domain::parse::timestamp("--now", s).map_err(|e| bad(e.detail))?
                }
                None => now(),
            };
            let key = load_key(keys)?;
            let _lock = LogLock::exclusive(audit_log)?;
            let entries = read_log(audit_log)?;
            check_before_change(audit_log, &entries, Some(&key))
                .map_err(|f| refusing(audit_log, "append to this log", f))?;
            let today = at.to_zoned(jiff::tz::TimeZone::UTC).date();
            let policy =
                crate::lender_policy::resolve(policy.as_deref(), Some(store), today, None).await?;
            let lender = arrears_app::rules::lender_name(&policy);
            let reply_by = match reply_by {
                Some(d) => *d,
                None => today
                    .checked_add(jiff::Span::new().days(14))
                    .map_err(|e| bad(format!("--reply-by: {e}")))?,
            };
            let mut signer = EvidenceSigner::new(&key, entries.len() as u64);
            let out = legal::send_letter(
                store,
                &policy.packs,
                &lender,
                kind,
                loan,
                reply_by,
                at,
                &mut signer,
            )
            .await
            .map_err(legal_failure)?;
            signer.append_to(audit_log, &entries)?;
            match out {
                LetterOutcome::Queued {
                    outbox_id,
                    subject_id,
                } => {
                    println!(
                        "{} of loan {loan} bound to {subject_id}: queued as outbox row {outbox_id}",
                        kind.code()
                    );
                    Ok(())
                }
                LetterOutcome::AlreadyQueued {
                    outbox_id,
                    subject_id,
                } => {
                    println!(
                        "{} of loan {loan} bound to {subject_id}: queued before as outbox row {outbox_id}",
                        kind.code()
                    );
                    Ok(())
                }
                LetterOutcome::Refused(r) => Err(bad(format!(
                    "{} of loan {loan}: {}",
                    kind.code(),
                    refusal_text(&r)
                ))),
                LetterOutcome::NoTarget => Err(bad(format!(
                    "{} of loan {loan}: the borrower has neither e-mail nor phone on record",
                    kind.code()
                ))),
            }
        }
    }
}

async fn advance(store: &Store, case: &str, step: &CaseStep, a: &StepArgs) -> Result<(), Failure> {
    let at = now();
    let out = legal::advance_case(store, case, step, at, a.note.as_deref(), author(&a.by))
        .await
        .map_err(legal_failure)?;
    report(&format!("case {case} {}", step.status()), out, never)
}

/// `arrears plan --db`: the plan's permitted `legal_review` actions become referral
/// proposals in the store (one per loan until it is decided; the amount claimed is the
/// latest snapshot's outstanding total).
pub fn record_proposals(
    db: &str,
    as_of: Date,
    plan: &arrears_strategy::Plan,
    quiet: bool,
) -> Result<(), Failure> {
    let rt = crate::store_cmds::runtime()?;
    rt.block_on(async {
        let store = open(&DbOpt { db: db.to_owned() }).await?;
        let r = legal::propose(&store, plan, as_of, author("plan"))
            .await
            .map_err(legal_failure);
        store.close().await;
        let r = r?;
        if !quiet && (r.recorded.len() + r.pending.len() + r.in_progress.len() + r.nothing_owed.len()) > 0 {
            println!(
                "legal referrals: {} proposed for a supervisor's decision, {} still waiting, {} in progress, {} with nothing outstanding",
                r.recorded.len(),
                r.pending.len(),
                r.in_progress.len(),
                r.nothing_owed.len()
            );
        }
        Ok(())
    })
}
