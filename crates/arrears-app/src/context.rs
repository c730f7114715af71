//! One decision context: everything the compliance engine needs to know about a borrower,
//! built the same way whatever the source. From a portfolio folder it is
//! `arrears_strategy::borrower_inputs` (the borrower row, the lifecycle tables, the contacts
//! table); from the store it is [`from_store`] over `Store::borrower_contacts`, which holds the
//! same rows. Both go through `BorrowerFacts::from_borrower` and
//! `BorrowerFacts::apply_lifecycle`, so a file-mode run and a store run over the same records
//! decide the same (the paths are compared by a property test).

use arrears_domain::types::LoanId;
use arrears_policy::{BorrowerFacts, ContactRecord, LoanFacts};
use arrears_store::BorrowerContacts;
use jiff::Timestamp;

/// The borrower's complete facts and contact history.
#[derive(Debug, Clone)]
pub struct DecisionContext {
    pub facts: BorrowerFacts,
    /// Every contact about the borrower, and other borrowers' contacts to a number or
    /// address the borrower has.
    pub history: Vec<ContactRecord>,
}

/// The decision context of a stored borrower.
pub fn from_store(bc: &BorrowerContacts) -> DecisionContext {
    let mut facts = BorrowerFacts::from_borrower(&bc.borrower);
    let loans: Vec<LoanFacts> = bc
        .loans
        .iter()
        .map(|l| LoanFacts {
            loan_id: l.loan_id.clone(),
            last_payment_at: l.last_payment_at,
            first_due_date: l.first_due_date,
            legal_case: None,
        })
        .collect();
    let paid = |id: &LoanId, since: Timestamp| -> i64 {
        let sum: i128 = bc
            .loans
            .iter()
            .filter(|l| &l.loan_id == id)
            .flat_map(|l| l.payments.iter())
            .filter(|(at, _)| *at >= since)
            .map(|(_, amount)| i128::from(*amount))
            .sum();
        i64::try_from(sum).unwrap_or(i64::MAX)
    };
    facts.apply_lifecycle(&bc.lifecycle, loans, &paid);
    let history = bc
        .contacts
        .iter()
        .filter_map(|c| ContactRecord::from_row(&c.borrower_id, c.loan_id.as_ref(), &c.row))
        .collect();
    DecisionContext { facts, history }
}

/// The decision context of one borrower of a portfolio folder (with its lifecycle tables),
/// and the borrower's language: the same conversion the plan makes for every borrower.
pub fn from_portfolio(
    p: &arrears_domain::Portfolio,
    lifecycle: &arrears_domain::Lifecycle,
    borrower_id: &str,
) -> Option<(DecisionContext, arrears_policy::Language)> {
    let i = p
        .borrowers
        .iter()
        .position(|b| b.id.as_str() == borrower_id)?;
    let b = &p.borrowers[i];
    let mut inputs = arrears_strategy::borrower_inputs(p, lifecycle);
    if i >= inputs.len() {
        return None;
    }
    let input = inputs.swap_remove(i);
    Some((
        DecisionContext {
            facts: input.facts,
            history: input.history,
        },
        arrears_policy::Language::of_borrower(b.language.as_deref(), &b.jurisdiction),
    ))
}
