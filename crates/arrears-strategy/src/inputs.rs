//! The planner's inputs derived from a portfolio: what `check` needs to know about each
//! borrower (`BorrowerFacts`) and their contact history (`ContactRecord`s), the status of each
//! loan's latest promise, and the actions earlier plans proposed (from the audit log).

use crate::strategy::ActionKind;
use arrears_domain::types::{BorrowerId, LoanId};
use arrears_domain::{Portfolio, TimeZoneName};
use arrears_policy::{BorrowerFacts, ContactPerson, ContactRecord, Language, LegalStatus};
use jiff::civil::Date;
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

/// Builds each borrower's facts and history (in portfolio order). `persons` are the
/// `contact_persons` rows by borrower index.
pub fn borrower_inputs(
    portfolio: &Portfolio,
    persons: &[(u32, ContactPerson)],
) -> Vec<BorrowerInput> {
    let p = portfolio;
    let ids: Vec<BorrowerId> = p.borrowers.iter().map(|b| b.id.clone()).collect();
    let mut history: Vec<Vec<ContactRecord>> = vec![Vec::new(); p.borrowers.len()];
    for c in &p.contacts {
        if let (Some(bid), Some(h)) = (
            ids.get(c.borrower as usize),
            history.get_mut(c.borrower as usize),
        ) && let Some(r) = record(p, c, bid)
        {
            h.push(r);
        }
    }
    // Calls to a number, by number, so a borrower's history includes other borrowers' calls
    // to the same number.
    let mut calls_by_number: HashMap<&str, Vec<u32>> = HashMap::new();
    for c in &p.contacts {
        if &*c.channel == "call"
            && let Some(t) = &c.target
        {
            calls_by_number.entry(t).or_default().push(c.borrower);
        }
    }
    let mut persons_of: HashMap<u32, Vec<ContactPerson>> = HashMap::new();
    for (bi, cp) in persons {
        persons_of.entry(*bi).or_default().push(cp.clone());
    }
    let mut out: Vec<BorrowerInput> = Vec::with_capacity(p.borrowers.len());
    for (i, b) in p.borrowers.iter().enumerate() {
        let mut f = BorrowerFacts::from_borrower(b);
        f.contact_persons = u32::try_from(i)
            .ok()
            .and_then(|k| persons_of.remove(&k))
            .unwrap_or_default();
        let mut h = std::mem::take(&mut history[i]);
        if let Some(phone) = &b.phone
            && let Some(others) = calls_by_number.get(&**phone)
            && others.iter().any(|&o| o as usize != i)
        {
            for c in p.contacts.iter().filter(|c| {
                c.borrower as usize != i
                    && c.target.as_deref() == Some(&**phone)
                    && &*c.channel == "call"
            }) {
                if let Some(bid) = ids.get(c.borrower as usize)
                    && let Some(r) = record(p, c, bid)
                {
                    h.push(r);
                }
            }
        }
        let language = b
            .language
            .as_deref()
            .and_then(|l| Language::parse(l).ok())
            .unwrap_or(if b.jurisdiction.country() == "CN" {
                Language::ZhCn
            } else {
                Language::En
            });
        out.push(BorrowerInput {
            facts: f,
            history: h,
            language,
            name: b.name.to_string(),
        });
    }
    out
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
