//! Credit-bureau reporting, one door for every surface: `arrears bureau report` (a portfolio
//! folder or the store), `arrears bureau outcome` (how a resolved credit dispute ended) and
//! the borrower portal (what was reported about them; a credit dispute of a line).
//!
//! A month is derived by [`derive_month`]: the daily run as of the month's last day, every
//! borrower's facts and contact history through the one conversion
//! (`arrears_strategy::borrower_inputs`), and `arrears_bureau::derive_loan` per loan under the
//! packs in force. With the store, the lines of earlier months (for the payment history and
//! the corrections) and the disputes' outcomes come from it, and the month's lines are
//! recorded once ([`record_in_store`]).

use arrears_bureau::{
    BorrowerRecords, DisputeOutcome, Gate, Line, LineKind, LoanSubject, Month, Period, PriorLine,
};
use arrears_domain::lifecycle::CreditDisputeRow;
use arrears_domain::types::{BorrowerId, LoanId};
use arrears_domain::{Config, Lifecycle, Portfolio};
use arrears_policy::PackSet;
use arrears_store::{BureauLineRecord, BureauRecordError, Store, StoreError};
use jiff::Timestamp;
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, thiserror::Error)]
pub enum BureauError {
    #[error("the daily run as of {on} failed: {why}")]
    Run { on: jiff::civil::Date, why: String },
    #[error("the end of {0} cannot be placed in the business time zone")]
    MonthEnd(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Record(#[from] BureauRecordError),
    #[error(transparent)]
    Lifecycle(#[from] arrears_store::LifecycleError),
    #[error("loan {loan} is not {borrower}'s")]
    NotTheirs { loan: String, borrower: String },
}

/// A month's lines and when they were judged.
#[derive(Debug, Clone)]
pub struct MonthReport {
    pub period: Period,
    /// The month's last instant in the business zone.
    pub at: Timestamp,
    pub lines: Vec<Line>,
    /// Borrower id → phone on record (Metro 2's telephone number).
    pub phones: HashMap<String, String>,
}

/// What a month is derived from.
#[derive(Debug)]
pub struct MonthRequest<'a> {
    pub period: Period,
    pub portfolio: &'a Portfolio,
    pub lifecycle: &'a Lifecycle,
    pub config: &'a Config,
    pub packs: &'a PackSet,
    /// Lines of earlier months (the store's; none in file mode).
    pub prior: &'a [BureauLineRecord],
    /// (dispute id, outcome) of resolved credit disputes.
    pub outcomes: &'a [(String, DisputeOutcome)],
}

/// The last instant of `period` in `zone` (the nanosecond before the next month's first
/// local midnight).
pub fn month_end(period: Period, zone: &jiff::tz::TimeZone) -> Result<Timestamp, BureauError> {
    let err = || BureauError::MonthEnd(period.label());
    let next = period.last().tomorrow().map_err(|_| err())?;
    let start = next
        .to_datetime(jiff::civil::Time::midnight())
        .to_zoned(zone.clone())
        .map_err(|_| err())?
        .timestamp();
    start
        .checked_sub(jiff::SignedDuration::from_nanos(1))
        .map_err(|_| err())
}

/// A stored line as the bureau module reads it; `None` for codes it does not know.
pub fn prior_line(r: &BureauLineRecord) -> Option<PriorLine> {
    Some(PriorLine {
        period: r.period.clone(),
        kind: match r.kind.as_str() {
            "regular" => LineKind::Regular,
            "correction" => LineKind::Correction {
                of: r.corrects.clone(),
            },
            _ => return None,
        },
        status: arrears_bureau::BureauStatus::parse(&r.status)?,
        reported: r.reported,
        negative: r.negative,
        month_char: r.month_char,
        balance_minor: r.balance_minor,
        dispute_id: r.dispute_id.clone(),
    })
}

/// A derived line as the store records it.
pub fn record_of(l: &Line) -> BureauLineRecord {
    BureauLineRecord {
        period: l.period.clone(),
        loan_id: l.loan_id.clone(),
        kind: l.kind.code().to_owned(),
        corrects: l.kind.corrects().unwrap_or("").to_owned(),
        borrower_id: l.borrower_id.clone(),
        status: match l.kind {
            LineKind::Regular => l.status.code().to_owned(),
            LineKind::Correction { .. } => arrears_bureau::BureauStatus::Current.code().to_owned(),
        },
        actual: l.actual.code().to_owned(),
        reported: l.gate.is_reported(),
        negative: l.negative(),
        rule_ids: match &l.gate {
            Gate::Reported => String::new(),
            Gate::Withheld { rule_ids } => rule_ids.join(" "),
        },
        month_char: l.month_char,
        dpd: l.dpd,
        balance_minor: l.balance_minor,
        past_due_minor: l.past_due_minor,
        currency: l.currency.clone(),
        compliance: l.compliance.map(str::to_owned),
        dispute_id: l.dispute_id.clone(),
    }
}

/// Every loan's lines for the month, in loan id order (corrections before the month's own
/// line).
pub fn derive_month(req: &MonthRequest<'_>) -> Result<MonthReport, BureauError> {
    let p = req.portfolio;
    let on = req.period.last();
    let states = arrears_engine::run_day(p, on, req.config).map_err(|e| BureauError::Run {
        on,
        why: e.to_string(),
    })?;
    let zone = req.config.business_tz.tz();
    let at = month_end(req.period, zone)?;
    let inputs = arrears_strategy::borrower_inputs(p, req.lifecycle);
    let mut prior: HashMap<&str, Vec<PriorLine>> = HashMap::new();
    for r in req.prior {
        if let Some(l) = prior_line(r) {
            prior.entry(r.loan_id.as_str()).or_default().push(l);
        }
    }
    let mut disputes: HashMap<&str, Vec<CreditDisputeRow>> = HashMap::new();
    for d in &req.lifecycle.credit_disputes {
        disputes
            .entry(d.borrower_id.as_str())
            .or_default()
            .push(d.clone());
    }
    let month = Month {
        period: req.period,
        at,
        zone,
    };
    let mut order: Vec<usize> = (0..p.loans.len()).collect();
    order.sort_by(|a, b| p.loans[*a].id.cmp(&p.loans[*b].id));
    let mut lines = Vec::new();
    for i in order {
        let loan = &p.loans[i];
        let (Some(borrower), Some(input), Some(state)) = (
            p.borrower_of(loan),
            inputs.get(loan.borrower as usize),
            states.get(i),
        ) else {
            continue;
        };
        let subject = LoanSubject {
            loan,
            installments: p.installments_of(loan),
            payments: p.payments_of(loan),
            borrower,
            state,
        };
        let records = BorrowerRecords {
            facts: &input.facts,
            history: &input.history,
            disputes: disputes
                .get(borrower.id.as_str())
                .map_or(&[][..], Vec::as_slice),
            outcomes: req.outcomes,
        };
        let before = prior.get(loan.id.as_str()).map_or(&[][..], Vec::as_slice);
        lines.extend(arrears_bureau::derive_loan(
            &month, &subject, &records, before, req.packs,
        ));
    }
    let phones = p
        .borrowers
        .iter()
        .filter_map(|b| Some((b.id.to_string(), b.phone.as_deref()?.to_owned())))
        .collect();
    Ok(MonthReport {
        period: req.period,
        at,
        lines,
        phones,
    })
}

/// What a month comes to: lines by status, withheld lines by rule, corrections.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonthSummary {
    pub lines: u64,
    pub reported: u64,
    pub withheld: u64,
    pub corrections: u64,
    /// Reported month's own lines by status.
    pub by_status: BTreeMap<&'static str, u64>,
    /// Withheld lines by rule id (a line withheld under two rules counts under each).
    pub withheld_by_rule: BTreeMap<String, u64>,
}

pub fn summarize(report: &MonthReport) -> MonthSummary {
    let mut s = MonthSummary::default();
    for l in &report.lines {
        s.lines += 1;
        match (&l.gate, &l.kind) {
            (Gate::Reported, LineKind::Correction { .. }) => {
                s.reported += 1;
                s.corrections += 1;
            }
            (Gate::Reported, LineKind::Regular) => {
                s.reported += 1;
                *s.by_status.entry(l.status.code()).or_default() += 1;
            }
            (Gate::Withheld { rule_ids }, _) => {
                s.withheld += 1;
                for r in rule_ids {
                    *s.withheld_by_rule.entry(r.clone()).or_default() += 1;
                }
            }
        }
    }
    s
}

/// The month over the store under `packs`: refused when the month is on record already (a
/// month is reported once), else derived with the earlier months' lines and the disputes'
/// outcomes. Nothing is recorded: write the files, then [`record_in_store`].
pub async fn derive_in_store(
    store: &Store,
    period: Period,
    config: &Config,
    packs: &PackSet,
) -> Result<MonthReport, BureauError> {
    let label = period.label();
    if store.bureau_month_recorded(&label).await? {
        return Err(BureauRecordError::MonthRecorded(label).into());
    }
    let portfolio = store.load_portfolio().await?;
    let lifecycle = store.all_lifecycle().await?;
    let prior = store.bureau_lines_before(&label).await?;
    let outcomes: Vec<(String, DisputeOutcome)> = store
        .dispute_outcomes()
        .await?
        .into_iter()
        .filter_map(|(id, o)| DisputeOutcome::parse(&o).map(|o| (id, o)))
        .collect();
    derive_month(&MonthRequest {
        period,
        portfolio: &portfolio,
        lifecycle: &lifecycle,
        config,
        packs,
        prior: &prior,
        outcomes: &outcomes,
    })
}

/// Records the month's lines (all or none; a month on record already is refused).
pub async fn record_in_store(
    store: &Store,
    report: &MonthReport,
    at: Timestamp,
) -> Result<(), BureauError> {
    let records: Vec<BureauLineRecord> = report.lines.iter().map(record_of).collect();
    store
        .record_bureau_month(&report.period.label(), &records, at)
        .await?;
    Ok(())
}

/// Records how a resolved credit dispute ended; true when recorded now.
pub async fn record_outcome(
    store: &Store,
    dispute_id: &str,
    outcome: DisputeOutcome,
    decided_by: &str,
    at: Timestamp,
) -> Result<bool, BureauError> {
    Ok(store
        .record_dispute_outcome(dispute_id, outcome.code(), decided_by, at)
        .await?)
}

/// The lines reported about a borrower, the latest month first (withheld lines are not
/// shown: nothing was said).
pub async fn reported_about(
    store: &Store,
    borrower_id: &str,
) -> Result<Vec<BureauLineRecord>, BureauError> {
    Ok(store.bureau_lines_of_borrower(borrower_id).await?)
}

/// The borrower disputes what was reported about one of their loans: a credit dispute of
/// the loan opened at `at` (`credit_disputes`, the record CN-CREDIT and US-CREDIT read), so
/// the next file reports the loan as disputed and never negative. Refused for a loan that is
/// not the borrower's. Returns the dispute id.
pub async fn dispute_line(
    store: &Store,
    borrower_id: &BorrowerId,
    loan_id: &LoanId,
    dispute_id: &str,
    at: Timestamp,
) -> Result<String, BureauError> {
    let theirs = store
        .bureau_lines_of_borrower(borrower_id.as_str())
        .await?
        .iter()
        .any(|l| l.loan_id == loan_id.as_str());
    if !theirs {
        return Err(BureauError::NotTheirs {
            loan: loan_id.to_string(),
            borrower: borrower_id.to_string(),
        });
    }
    let row = CreditDisputeRow {
        dispute_id: dispute_id.into(),
        borrower_id: borrower_id.clone(),
        loan_id: Some(loan_id.clone()),
        opened_at: at,
        resolved_at: None,
    };
    store.open_credit_dispute(&row).await?;
    Ok(dispute_id.to_owned())
}
