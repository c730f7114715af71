//! What is reported about one loan for one month, and why.
//!
//! The status comes from the daily run's account state as of the month's last day: paid off
//! or closed is `paid`, written off is `charged_off`, a sale on record by the end of the month
//! (or the loan's `sold` status) is `sold`, otherwise the days past due give `current` (0-29)
//! or `late_30` … `late_180` (30-59, …, 180 and more). Then the gates, in this order:
//!
//! 1. A credit dispute of the borrower that covers the loan (its own loan, or every loan) and
//!    is open at the end of the month: the line is `disputed`, reported with the Metro 2
//!    compliance condition code XB and no negative field (status 11, nothing past due, no
//!    date of first delinquency), whatever the account state.
//! 2. A negative line (late, charged off, sold while late) is reported only when the
//!    compliance engine allows a `credit_report` proposal about the loan at the end of the
//!    month: `arrears_policy::check`, the same call the planner makes for its `credit_report`
//!    action, so CN-CREDIT and US-CREDIT (the notice, its 14-day wait unless the borrower was
//!    reached), the holds and the other rules of the borrower's pack are judged there and
//!    nowhere else. A refusal withholds the line, with the engine's rule ids.
//!    Arrears' own floor applies in every jurisdiction on top: no negative line without a
//!    `credit_reporting` notice on record for the loan (or every debt) by the end of the
//!    month; where the pack has no credit rule (GB) such a line is withheld under
//!    [`BUREAU_NOTICE`].
//! 3. Anything else (current, paid, sold while current) is reported.
//!
//! A credit dispute resolved in the borrower's favour (its outcome `borrower`) makes the
//! first file after its resolution carry one correction per negative line reported about a
//! covered loan for a month up to the resolution: the same month, now `current`, nothing past
//! due, code XH (previously in dispute, now resolved). Corrections are made once: a dispute
//! whose corrections are among the lines already reported is not corrected again.

use arrears_domain::lifecycle::CreditDisputeRow;
use arrears_domain::{BorrowerRow, Installment, Loan, Payment};
use arrears_engine::{AccountState, AccountStatus};
use arrears_policy::{
    BorrowerFacts, Channel, ContactRecord, Decision, NoticeKind, PackSet, Party, ProposedContact,
    check,
};

/// The id under which a negative line is withheld for want of a `credit_reporting` notice on
/// record where the borrower's pack has no credit rule of its own (GB): Arrears reports
/// nothing negative without the notice in any jurisdiction.
pub const BUREAU_NOTICE: &str = "BUREAU-NOTICE";
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

/// A reporting month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    first: Date,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not a reporting month: {why} (expected YYYY-MM, e.g. 2026-11)")]
pub struct PeriodError {
    pub input: String,
    pub why: String,
}

impl Period {
    /// `YYYY-MM`.
    pub fn parse(s: &str) -> Result<Period, PeriodError> {
        let err = |why: &str| PeriodError {
            input: s.to_owned(),
            why: why.to_owned(),
        };
        let (y, m) = s
            .split_once('-')
            .ok_or_else(|| err("no '-' between year and month"))?;
        if y.len() != 4 || m.len() != 2 || !(y.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()))
        {
            return Err(err("the year has four digits and the month two"));
        }
        let year: i16 = y.parse().map_err(|_| err("bad year"))?;
        let month: i8 = m.parse().map_err(|_| err("bad month"))?;
        let first = Date::new(year, month, 1).map_err(|e| err(&e.to_string()))?;
        Ok(Period { first })
    }

    /// The month `d` is in.
    pub fn of(d: Date) -> Period {
        Period {
            first: d.first_of_month(),
        }
    }

    pub fn first(&self) -> Date {
        self.first
    }

    /// The month's last day: the date of account information.
    pub fn last(&self) -> Date {
        self.first.last_of_month()
    }

    /// `YYYY-MM`.
    pub fn label(&self) -> String {
        format!("{:04}-{:02}", self.first.year(), self.first.month())
    }

    /// The month before, if jiff can represent it.
    pub fn previous(&self) -> Option<Period> {
        self.first.yesterday().ok().map(Period::of)
    }

    pub fn contains(&self, d: Date) -> bool {
        d >= self.first && d <= self.last()
    }
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label())
    }
}

/// The bureau status of a loan for a month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BureauStatus {
    Current,
    Late30,
    Late60,
    Late90,
    Late120,
    Late150,
    Late180,
    ChargedOff,
    Paid,
    Sold,
    Disputed,
}

impl BureauStatus {
    pub const ALL: [BureauStatus; 11] = [
        BureauStatus::Current,
        BureauStatus::Late30,
        BureauStatus::Late60,
        BureauStatus::Late90,
        BureauStatus::Late120,
        BureauStatus::Late150,
        BureauStatus::Late180,
        BureauStatus::ChargedOff,
        BureauStatus::Paid,
        BureauStatus::Sold,
        BureauStatus::Disputed,
    ];

    pub fn code(self) -> &'static str {
        match self {
            BureauStatus::Current => "current",
            BureauStatus::Late30 => "late_30",
            BureauStatus::Late60 => "late_60",
            BureauStatus::Late90 => "late_90",
            BureauStatus::Late120 => "late_120",
            BureauStatus::Late150 => "late_150",
            BureauStatus::Late180 => "late_180",
            BureauStatus::ChargedOff => "charged_off",
            BureauStatus::Paid => "paid",
            BureauStatus::Sold => "sold",
            BureauStatus::Disputed => "disputed",
        }
    }

    pub fn parse(s: &str) -> Option<BureauStatus> {
        BureauStatus::ALL.into_iter().find(|x| x.code() == s)
    }

    /// From days past due: 0-29 current, 30-59 late_30, … 180 and more late_180.
    pub fn from_dpd(dpd: u32) -> BureauStatus {
        match dpd {
            0..=29 => BureauStatus::Current,
            30..=59 => BureauStatus::Late30,
            60..=89 => BureauStatus::Late60,
            90..=119 => BureauStatus::Late90,
            120..=149 => BureauStatus::Late120,
            150..=179 => BureauStatus::Late150,
            _ => BureauStatus::Late180,
        }
    }

    fn is_late(self) -> bool {
        matches!(
            self,
            BureauStatus::Late30
                | BureauStatus::Late60
                | BureauStatus::Late90
                | BureauStatus::Late120
                | BureauStatus::Late150
                | BureauStatus::Late180
        )
    }
}

/// The delinquency digit of a number of days past due (Metro 2's payment rating and payment
/// history values): 0 for 0-29 days, 1 for 30-59, … 6 for 180 and more.
pub fn rating_of_dpd(dpd: u32) -> char {
    match dpd {
        0..=29 => '0',
        30..=59 => '1',
        60..=89 => '2',
        90..=119 => '3',
        120..=149 => '4',
        150..=179 => '5',
        _ => '6',
    }
}

/// How a resolved credit dispute ended. Recorded with the resolution (`outcome` in the
/// `credit_dispute_outcomes` table of the store); a resolution without one corrects nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DisputeOutcome {
    /// The borrower was right: what was reported is corrected.
    Borrower,
    /// What was reported stands.
    Lender,
}

impl DisputeOutcome {
    pub fn code(self) -> &'static str {
        match self {
            DisputeOutcome::Borrower => "borrower",
            DisputeOutcome::Lender => "lender",
        }
    }

    pub fn parse(s: &str) -> Option<DisputeOutcome> {
        match s {
            "borrower" => Some(DisputeOutcome::Borrower),
            "lender" => Some(DisputeOutcome::Lender),
            _ => None,
        }
    }
}

/// A month's line about a loan, or a correction of an earlier month's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LineKind {
    Regular,
    /// Corrects the line reported for that month (`YYYY-MM`).
    Correction {
        of: String,
    },
}

impl LineKind {
    pub fn code(&self) -> &'static str {
        match self {
            LineKind::Regular => "regular",
            LineKind::Correction { .. } => "correction",
        }
    }

    /// The month corrected, for a correction.
    pub fn corrects(&self) -> Option<&str> {
        match self {
            LineKind::Regular => None,
            LineKind::Correction { of } => Some(of),
        }
    }
}

/// Whether a line goes into the files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    Reported,
    /// A negative line the compliance engine refused: not in the files; the rule ids say why.
    Withheld {
        rule_ids: Vec<String>,
    },
}

impl Gate {
    pub fn is_reported(&self) -> bool {
        matches!(self, Gate::Reported)
    }
}

/// One line about a loan: what the files say, and what the account state said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The reporting month of the file (`YYYY-MM`).
    pub period: String,
    pub kind: LineKind,
    pub loan_id: String,
    pub borrower_id: String,
    pub borrower_name: String,
    /// The borrower's jurisdiction (`US-NY`, `CN-11`…).
    pub jurisdiction: String,
    pub currency: String,
    /// What is reported.
    pub status: BureauStatus,
    /// What the account state said before the gates (differs from `status` for a disputed
    /// line).
    pub actual: BureauStatus,
    pub gate: Gate,
    pub dpd: u32,
    /// Metro 2's payment rating, for a paid or sold line.
    pub rating: Option<char>,
    /// This month's payment-history character.
    pub month_char: char,
    /// The 24 months before this one, the latest first (Metro 2's payment history profile).
    pub history: String,
    pub balance_minor: i64,
    pub past_due_minor: i64,
    pub charge_off_minor: i64,
    pub scheduled_minor: i64,
    pub paid_in_month_minor: i64,
    pub principal_minor: i64,
    pub terms: u32,
    pub opened: Date,
    /// The date of account information: the last day of the month the line is about.
    pub as_of: Date,
    pub first_delinquency: Option<Date>,
    pub closed: Option<Date>,
    pub last_payment: Option<Date>,
    /// Metro 2 compliance condition code: XB disputed, XH dispute resolved.
    pub compliance: Option<&'static str>,
    /// Metro 2 special comment: AH purchased by another company (sold).
    pub special_comment: Option<&'static str>,
    /// The dispute that made the line disputed or corrected.
    pub dispute_id: Option<String>,
}

impl Line {
    /// Says the borrower was late, or charged off, in the files.
    pub fn negative(&self) -> bool {
        self.status.is_late()
            || self.status == BureauStatus::ChargedOff
            || (self.status == BureauStatus::Sold && self.rating.is_some_and(|r| r != '0'))
    }
}

/// A line reported (or withheld) in an earlier file, as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorLine {
    pub period: String,
    pub kind: LineKind,
    pub status: BureauStatus,
    pub reported: bool,
    pub negative: bool,
    pub month_char: char,
    pub balance_minor: i64,
    pub dispute_id: Option<String>,
}

/// The loan and its account state as of the month's last day.
#[derive(Debug, Clone, Copy)]
pub struct LoanSubject<'a> {
    pub loan: &'a Loan,
    pub installments: &'a [Installment],
    pub payments: &'a [Payment],
    pub borrower: &'a BorrowerRow,
    pub state: &'a AccountState,
}

/// What is known about the borrower: the compliance facts and contact history (built by the
/// one conversion, `BorrowerFacts::apply_lifecycle`), their credit disputes and the outcomes
/// of resolved ones (dispute id, outcome).
#[derive(Debug, Clone, Copy)]
pub struct BorrowerRecords<'a> {
    pub facts: &'a BorrowerFacts,
    pub history: &'a [ContactRecord],
    pub disputes: &'a [CreditDisputeRow],
    pub outcomes: &'a [(String, DisputeOutcome)],
}

/// The month, its closing instant and the business zone the month's days are in.
#[derive(Debug, Clone, Copy)]
pub struct Month<'a> {
    pub period: Period,
    /// The last instant of the month in the business zone: gates and disputes are judged at it.
    pub at: Timestamp,
    /// The business zone: payments belong to the month of their local date.
    pub zone: &'a TimeZone,
}

impl Month<'_> {
    /// The first instant of the month in the zone.
    fn start(&self) -> Timestamp {
        self.period
            .first()
            .to_datetime(jiff::civil::Time::midnight())
            .to_zoned(self.zone.clone())
            .map_or(Timestamp::MIN, |z| z.timestamp())
    }
}

fn sum_i64(xs: impl Iterator<Item = i128>) -> i64 {
    let s: i128 = xs.sum();
    i64::try_from(s).unwrap_or(if s < 0 { i64::MIN } else { i64::MAX })
}

fn covers(d: &CreditDisputeRow, loan: &Loan, borrower: &BorrowerRow) -> bool {
    d.borrower_id == borrower.id && d.loan_id.as_ref().is_none_or(|l| *l == loan.id)
}

/// The payment history profile: the 24 months before `period`, the latest first. A month
/// with a line uses its character (a correction's over the line it corrects; a withheld line
/// is `D`, no history this month); a month without one is `B` before the loan was opened,
/// else `D`.
fn profile(period: Period, opened: Date, prior: &[PriorLine]) -> String {
    let mut out = String::with_capacity(24);
    let mut p = period;
    for _ in 0..24 {
        let Some(prev) = p.previous() else {
            out.push('B');
            continue;
        };
        p = prev;
        let label = p.label();
        let corrected = prior
            .iter()
            .find(|x| x.kind.corrects() == Some(label.as_str()) && x.reported);
        let regular = prior
            .iter()
            .find(|x| x.kind == LineKind::Regular && x.period == label);
        let c = match (corrected, regular) {
            (Some(c), _) => c.month_char,
            (None, Some(r)) if r.reported => r.month_char,
            (None, Some(_)) => 'D',
            (None, None) if p.last() < opened => 'B',
            (None, None) => 'D',
        };
        out.push(c);
    }
    out
}

/// Every line about the loan for the month: the corrections a favourable resolution calls
/// for, then the month's own line. The month's line is left out when the loan was not yet
/// opened, or when it was paid or sold before the month (or that was already reported).
/// `prior` holds the loan's lines of earlier files (any month before this one).
pub fn derive_loan(
    month: &Month<'_>,
    subject: &LoanSubject<'_>,
    records: &BorrowerRecords<'_>,
    prior: &[PriorLine],
    packs: &PackSet,
) -> Vec<Line> {
    let LoanSubject {
        loan,
        installments,
        payments,
        borrower,
        state,
    } = *subject;
    let label = month.period.label();
    let prior: Vec<PriorLine> = prior.iter().filter(|p| p.period < label).cloned().collect();
    let mut out = Vec::new();
    if loan.disbursed_on > month.period.last() {
        return out;
    }
    let zone_date = |t: Timestamp| t.to_zoned(month.zone.clone()).date();
    let sold_at = records
        .facts
        .sales
        .iter()
        .filter(|s| s.loan_id == loan.id && s.sold_at <= month.at)
        .map(|s| s.sold_at)
        .min();
    let actual = if sold_at.is_some() || state.status == AccountStatus::Sold {
        BureauStatus::Sold
    } else {
        match state.status {
            AccountStatus::PaidOff | AccountStatus::Closed => BureauStatus::Paid,
            AccountStatus::WrittenOff => BureauStatus::ChargedOff,
            AccountStatus::Current | AccountStatus::Delinquent | AccountStatus::Sold => {
                BureauStatus::from_dpd(state.dpd)
            }
        }
    };
    let unpaid_penalty = i128::from(state.penalty_accrued_minor)
        .saturating_sub(i128::from(state.penalty_paid_minor))
        .max(0);
    let owed = sum_i64(
        [
            i128::from(state.outstanding_principal_minor),
            i128::from(state.overdue_fee_minor),
            i128::from(state.overdue_interest_minor),
            unpaid_penalty,
        ]
        .into_iter(),
    )
    .max(0);
    let start = month.start();
    let base = Line {
        period: label.clone(),
        kind: LineKind::Regular,
        loan_id: loan.id.to_string(),
        borrower_id: borrower.id.to_string(),
        borrower_name: borrower.name.to_string(),
        jurisdiction: borrower.jurisdiction.as_str().to_owned(),
        currency: loan.currency.as_str().to_owned(),
        status: actual,
        actual,
        gate: Gate::Reported,
        dpd: state.dpd,
        rating: None,
        month_char: '0',
        history: profile(month.period, loan.disbursed_on, &prior),
        balance_minor: owed,
        past_due_minor: state.overdue_minor.max(0),
        charge_off_minor: 0,
        scheduled_minor: sum_i64(
            installments
                .iter()
                .filter(|i| month.period.contains(i.due_date))
                .map(Installment::total),
        ),
        paid_in_month_minor: sum_i64(
            payments
                .iter()
                .filter(|p| {
                    p.received_at >= start
                        && p.received_at <= month.at
                        && p.cancelled_at.is_none_or(|c| c > month.at)
                })
                .map(|p| i128::from(p.amount.get())),
        ),
        principal_minor: loan.principal.get(),
        terms: u32::try_from(installments.len()).unwrap_or(u32::MAX),
        opened: loan.disbursed_on,
        as_of: month.period.last(),
        first_delinquency: None,
        closed: None,
        last_payment: state.last_payment_date,
        compliance: None,
        special_comment: None,
        dispute_id: None,
    };

    // Corrections after a resolution in the borrower's favour.
    for d in records
        .disputes
        .iter()
        .filter(|d| covers(d, loan, borrower))
    {
        let Some(resolved_at) = d.resolved_at.filter(|r| *r <= month.at) else {
            continue;
        };
        let favour = records
            .outcomes
            .iter()
            .any(|(id, o)| **id == *d.dispute_id && *o == DisputeOutcome::Borrower);
        let done = prior.iter().any(|p| {
            p.dispute_id.as_deref() == Some(&*d.dispute_id) && p.kind.corrects().is_some()
        });
        if !favour || done {
            continue;
        }
        let upto = Period::of(zone_date(resolved_at)).label();
        let mut wrong: Vec<&PriorLine> = prior
            .iter()
            .filter(|p| p.kind == LineKind::Regular && p.reported && p.negative && p.period <= upto)
            .collect();
        wrong.sort_by(|a, b| a.period.cmp(&b.period));
        for p in wrong {
            let Ok(of) = Period::parse(&p.period) else {
                continue;
            };
            out.push(Line {
                kind: LineKind::Correction {
                    of: p.period.clone(),
                },
                status: BureauStatus::Current,
                actual: p.status,
                gate: Gate::Reported,
                dpd: 0,
                month_char: '0',
                history: profile(of, loan.disbursed_on, &prior),
                balance_minor: p.balance_minor,
                past_due_minor: 0,
                scheduled_minor: 0,
                paid_in_month_minor: 0,
                as_of: of.last(),
                last_payment: None,
                compliance: Some("XH"),
                dispute_id: Some(d.dispute_id.to_string()),
                ..base.clone()
            });
        }
    }

    // The month's own line.
    let terminal_on = match actual {
        BureauStatus::Paid => Some(state.last_payment_date),
        BureauStatus::Sold => Some(sold_at.map(zone_date)),
        _ => None,
    };
    if let Some(on) = terminal_on {
        let reported_before = prior
            .iter()
            .any(|p| p.kind == LineKind::Regular && p.reported && p.status == actual);
        if reported_before || on.is_some_and(|d| d < month.period.first()) {
            return out;
        }
    }
    let mut line = base;
    match actual {
        BureauStatus::Paid => {
            line.balance_minor = 0;
            line.past_due_minor = 0;
            line.rating = Some('0');
            line.closed = state.last_payment_date;
        }
        BureauStatus::Sold => {
            line.balance_minor = 0;
            line.past_due_minor = 0;
            line.scheduled_minor = 0;
            line.rating = Some(rating_of_dpd(state.dpd));
            line.month_char = rating_of_dpd(state.dpd);
            line.closed = sold_at.map(zone_date);
            line.special_comment = Some("AH");
        }
        BureauStatus::ChargedOff => {
            line.charge_off_minor = line.balance_minor;
            line.month_char = 'L';
        }
        s if s.is_late() => line.month_char = rating_of_dpd(state.dpd),
        _ => {}
    }
    if line.negative() {
        line.first_delinquency = state.oldest_unpaid_due_date;
    }
    let open_dispute = records.disputes.iter().find(|d| {
        covers(d, loan, borrower)
            && d.opened_at <= month.at
            && d.resolved_at.is_none_or(|r| r > month.at)
    });
    let resolved_this_month = records.disputes.iter().find(|d| {
        covers(d, loan, borrower) && d.resolved_at.is_some_and(|r| r >= start && r <= month.at)
    });
    if let Some(d) = open_dispute {
        line.status = BureauStatus::Disputed;
        line.compliance = Some("XB");
        line.dispute_id = Some(d.dispute_id.to_string());
        line.month_char = 'D';
        line.past_due_minor = 0;
        line.first_delinquency = None;
        line.charge_off_minor = 0;
        line.rating = line.rating.map(|_| '0');
        line.special_comment = None;
    } else {
        if let Some(d) = resolved_this_month {
            line.compliance = Some("XH");
            line.dispute_id = Some(d.dispute_id.to_string());
        }
        if line.negative() {
            let mut proposed = ProposedContact::new(
                records.facts.borrower_id.clone(),
                Channel::CreditReport,
                Party::Borrower,
                None,
            );
            proposed.loan_id = Some(loan.id.clone());
            let mut refused: Vec<String> =
                match check(&proposed, records.facts, records.history, month.at, packs) {
                    Decision::Allow(_) => Vec::new(),
                    Decision::Deny { rule_ids, .. } => {
                        rule_ids.iter().map(ToString::to_string).collect()
                    }
                };
            // Arrears' own floor in every jurisdiction: the notice on record. Where the pack
            // has CN-CREDIT or US-CREDIT, the engine has judged it already.
            let notice = records.facts.notices.iter().any(|n| {
                n.kind == NoticeKind::CreditReporting
                    && n.loan_id.as_ref().is_none_or(|l| *l == loan.id)
                    && n.sent_at <= month.at
            });
            let judged = refused.iter().any(|r| r == "CN-CREDIT" || r == "US-CREDIT");
            if !notice && !judged {
                refused.push(BUREAU_NOTICE.to_owned());
            }
            if !refused.is_empty() {
                line.gate = Gate::Withheld { rule_ids: refused };
            }
        }
    }
    out.push(line);
    out
}
