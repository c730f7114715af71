//! The planner's inputs derived from a portfolio: what `check` needs to know about each
//! borrower (`BorrowerFacts`) and their contact history (`ContactRecord`s), the status of each
//! loan's latest promise, and the actions earlier plans proposed (from the audit log).

use crate::strategy::ActionKind;
use arrears_domain::Lifecycle;
use arrears_domain::types::{BorrowerId, LoanId};
use arrears_domain::{Portfolio, TimeZoneName};
use arrears_policy::{BorrowerFacts, ContactRecord, Language, LegalStatus, LoanFacts};
use jiff::Timestamp;
use jiff::civil::Date;
use rayon::prelude::*;
use std::collections::HashMap;

/// The status of a loan's latest promise to pay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PromiseStatus {
    None,
    /// Not yet due and not yet kept.
    Pending,
    /// Paid in full by its due date (payments booked from the promise on).
    Kept,
    /// Its due date passed without full payment.
    Broken,
}

impl PromiseStatus {
    pub fn parse(s: &str) -> Option<PromiseStatus> {
        match s {
            "none" => Some(PromiseStatus::None),
            "pending" => Some(PromiseStatus::Pending),
            "kept" => Some(PromiseStatus::Kept),
            "broken" => Some(PromiseStatus::Broken),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            PromiseStatus::None => "none",
            PromiseStatus::Pending => "pending",
            PromiseStatus::Kept => "kept",
            PromiseStatus::Broken => "broken",
        }
    }
}

/// The status of every loan's latest promise (by `created_at`) as of the business date, in
/// the portfolio's loan order. Payments count from the promise's instant to the end of its
/// due date in `zone` (the business zone), less any reversed before that end.
pub fn promise_status(
    portfolio: &Portfolio,
    as_of: Date,
    zone: &TimeZoneName,
) -> Vec<PromiseStatus> {
    let mut latest: Vec<Option<usize>> = vec![None; portfolio.loans.len()];
    for (i, p) in portfolio.promises.iter().enumerate() {
        if zone.date_of(p.created_at) > as_of {
            continue;
        }
        if let Some(slot) = latest.get_mut(p.loan as usize) {
            let newer = slot.is_none_or(|j| portfolio.promises[j].created_at <= p.created_at);
            if newer {
                *slot = Some(i);
            }
        }
    }
    portfolio
        .loans
        .iter()
        .zip(latest)
        .map(|(loan, l)| {
            let Some(i) = l else {
                return PromiseStatus::None;
            };
            let p = &portfolio.promises[i];
            let paid: i128 = portfolio
                .payments_of(loan)
                .iter()
                .filter(|pay| {
                    let day = zone.date_of(pay.received_at);
                    pay.received_at >= p.created_at
                        && day <= p.due_date
                        && day <= as_of
                        && pay
                            .cancelled_at
                            .is_none_or(|c| zone.date_of(c) > p.due_date.min(as_of))
                })
                .map(|pay| i128::from(pay.amount.get()))
                .sum();
            if paid >= i128::from(p.amount.get()) {
                PromiseStatus::Kept
            } else if p.due_date >= as_of {
                PromiseStatus::Pending
            } else {
                PromiseStatus::Broken
            }
        })
        .collect()
}

/// What the planner knows about one borrower.
#[derive(Debug, Clone)]
pub struct BorrowerInput {
    pub facts: BorrowerFacts,
    /// Every contact about this borrower, plus other borrowers' calls to one of this
    /// borrower's numbers (CN-FREQ-ATTEMPTS counts per number).
    pub history: Vec<ContactRecord>,
    pub language: Language,
    pub name: String,
}

/// Per loan, in portfolio order: the most advanced open legal case, if any (binds legal words
/// in messages about the loan, and the `legal_case` flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoanExtras {
    pub legal_case: Option<LegalStatus>,
}

/// An action an earlier plan proposed (read back from the audit log), for cadences of actions
/// the contacts table does not record (escalations, letters not yet recorded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorAction {
    pub loan_id: String,
    pub kind: ActionKind,
    pub on: Date,
}

fn record(
    p: &Portfolio,
    c: &arrears_domain::ContactRow,
    bid: &BorrowerId,
) -> Option<ContactRecord> {
    let loan_id = c
        .loan
        .and_then(|l| p.loans.get(l as usize))
        .map(|l| l.id.clone());
    ContactRecord::from_row(bid, loan_id.as_ref(), c)
}

/// What a rule needs of a loan of the portfolio: its latest non-reversed payment and its
/// first due date (US-TIMEBAR), and its binding legal case (set from the lifecycle).
pub fn loan_facts(p: &Portfolio, loan: &arrears_domain::Loan) -> LoanFacts {
    LoanFacts {
        loan_id: loan.id.clone(),
        last_payment_at: p
            .payments_of(loan)
            .iter()
            .filter(|x| x.cancelled_at.is_none())
            .map(|x| x.received_at)
            .max(),
        first_due_date: p.installments_of(loan).iter().map(|i| i.due_date).min(),
        legal_case: None,
    }
}

/// Paid on a loan from `since` on, reversed payments left out (fills a payment plan).
pub fn paid_since(p: &Portfolio, loan: &arrears_domain::Loan, since: Timestamp) -> i64 {
    let sum: i128 = p
        .payments_of(loan)
        .iter()
        .filter(|x| x.cancelled_at.is_none() && x.received_at >= since)
        .map(|x| i128::from(x.amount.get()))
        .sum();
    i64::try_from(sum).unwrap_or(i64::MAX)
}

/// Builds each borrower's facts and history (in portfolio order), the one way for every
/// caller: the borrower row, the lifecycle records of the borrower and their loans
/// (`BorrowerFacts::apply_lifecycle`), and every contact about the borrower plus other
/// borrowers' contacts to one of this borrower's own numbers or addresses (CN-FREQ-ATTEMPTS
/// counts per number).
pub fn borrower_inputs(portfolio: &Portfolio, lifecycle: &Lifecycle) -> Vec<BorrowerInput> {
    let p = portfolio;
    let mut history: Vec<Vec<ContactRecord>> = vec![Vec::new(); p.borrowers.len()];
    for c in &p.contacts {
        if let (Some(b), Some(h)) = (
            p.borrowers.get(c.borrower as usize),
            history.get_mut(c.borrower as usize),
        ) && let Some(r) = record(p, c, &b.id)
        {
            h.push(r);
        }
    }
    // Contacts by target, so a borrower's history includes other borrowers' contacts to a
    // number or address they share.
    let mut by_target: FastMap<&str, Vec<usize>> = FastMap::default();
    for (i, c) in p.contacts.iter().enumerate() {
        if let Some(t) = &c.target {
            by_target.entry(t).or_default().push(i);
        }
    }
    let loans = loans_by_borrower(p);
    // Lifecycle records by borrower, so each borrower's facts see only theirs.
    let by_borrower = split_lifecycle(p, lifecycle);
    let none = Lifecycle::default();
    // Each borrower's input depends only on shared, read-only indexes: built on every core,
    // collected in portfolio order.
    history
        .into_par_iter()
        .zip(p.borrowers.par_iter())
        .enumerate()
        .map(|(i, (mut h, b))| {
            let mut f = BorrowerFacts::from_borrower(b);
            let own_loans: Vec<&arrears_domain::Loan> = loans
                .get(i)
                .into_iter()
                .flatten()
                .filter_map(|&l| p.loans.get(l as usize))
                .collect();
            let facts: Vec<LoanFacts> = own_loans.iter().map(|l| loan_facts(p, l)).collect();
            let paid = |id: &LoanId, since: Timestamp| {
                own_loans
                    .iter()
                    .find(|l| &l.id == id)
                    .map_or(0, |l| paid_since(p, l, since))
            };
            f.apply_lifecycle(by_borrower.get(&i).unwrap_or(&none), facts, &paid);
            let mut shared: Vec<usize> = Vec::new();
            for t in [&b.phone, &b.email].into_iter().flatten() {
                if let Some(idx) = by_target.get(&**t) {
                    shared.extend(
                        idx.iter()
                            .copied()
                            .filter(|&k| p.contacts[k].borrower as usize != i),
                    );
                }
            }
            shared.sort_unstable();
            shared.dedup();
            for k in shared {
                let c = &p.contacts[k];
                if let Some(owner) = p.borrowers.get(c.borrower as usize)
                    && let Some(r) = record(p, c, &owner.id)
                {
                    h.push(r);
                }
            }
            BorrowerInput {
                facts: f,
                history: h,
                language: Language::of_borrower(b.language.as_deref(), &b.jurisdiction),
                name: b.name.to_string(),
            }
        })
        .collect()
}

/// A map keyed by ids of the portfolio (not attacker-chosen: read from the lender's own
/// files), with a fast non-cryptographic hash.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// The lifecycle records of each borrower (by portfolio index), found by borrower id or by
/// loan id; records of borrowers or loans not in the portfolio are left out.
fn split_lifecycle(p: &Portfolio, lc: &Lifecycle) -> FastMap<usize, Lifecycle> {
    let mut out: FastMap<usize, Lifecycle> = FastMap::default();
    if lc.is_empty() {
        return out;
    }
    let borrower_ix: FastMap<&str, usize> = p
        .borrowers
        .iter()
        .enumerate()
        .map(|(i, b)| (b.id.as_str(), i))
        .collect();
    let loan_owner: FastMap<&str, usize> = p
        .loans
        .iter()
        .map(|l| (l.id.as_str(), l.borrower as usize))
        .collect();
    let by_b = |id: &BorrowerId| borrower_ix.get(id.as_str()).copied();
    let by_l = |id: &LoanId| loan_owner.get(id.as_str()).copied();
    for x in &lc.notices {
        if let Some(i) = by_b(&x.borrower_id) {
            out.entry(i).or_default().notices.push(x.clone());
        }
    }
    for x in &lc.preferences {
        if let Some(i) = by_b(&x.borrower_id) {
            out.entry(i).or_default().preferences.push(x.clone());
        }
    }
    for x in &lc.credit_disputes {
        if let Some(i) = by_b(&x.borrower_id) {
            out.entry(i).or_default().credit_disputes.push(x.clone());
        }
    }
    for x in &lc.contact_persons {
        if let Some(i) = by_b(&x.borrower_id) {
            out.entry(i).or_default().contact_persons.push(x.clone());
        }
    }
    for x in &lc.plans {
        if let Some(i) = by_l(&x.loan_id) {
            out.entry(i).or_default().plans.push(x.clone());
        }
    }
    for x in &lc.placements {
        if let Some(i) = by_l(&x.loan_id) {
            out.entry(i).or_default().placements.push(x.clone());
        }
    }
    for x in &lc.sales {
        if let Some(i) = by_l(&x.loan_id) {
            out.entry(i).or_default().sales.push(x.clone());
        }
    }
    for x in &lc.legal_cases {
        if let Some(i) = by_l(&x.loan_id) {
            out.entry(i).or_default().legal_cases.push(x.clone());
        }
    }
    out
}

/// Per loan, in portfolio order: what the planner needs beyond the account state (the
/// binding legal case), taken from the borrowers' facts.
pub fn loan_extras(p: &Portfolio, borrowers: &[BorrowerInput]) -> Vec<LoanExtras> {
    p.loans
        .iter()
        .map(|l| LoanExtras {
            legal_case: borrowers
                .get(l.borrower as usize)
                .and_then(|b| b.facts.loan(&l.id))
                .and_then(|f| f.legal_case),
        })
        .collect()
}

/// The loans of each borrower (indexes into `portfolio.loans`).
pub(crate) fn loans_by_borrower(p: &Portfolio) -> Vec<Vec<u32>> {
    let mut v: Vec<Vec<u32>> = vec![Vec::new(); p.borrowers.len()];
    for (i, l) in p.loans.iter().enumerate() {
        if let (Some(slot), Ok(i)) = (v.get_mut(l.borrower as usize), u32::try_from(i)) {
            slot.push(i);
        }
    }
    v
}

/// Loan id -> prior actions of it, newest last.
pub(crate) fn prior_index(prior: &[PriorAction]) -> HashMap<&str, Vec<&PriorAction>> {
    let mut m: HashMap<&str, Vec<&PriorAction>> = HashMap::new();
    for a in prior {
        m.entry(a.loan_id.as_str()).or_default().push(a);
    }
    m
}

#[allow(dead_code)]
pub(crate) fn loan_id_of(p: &Portfolio, i: u32) -> Option<&LoanId> {
    p.loans.get(i as usize).map(|l| &l.id)
}
