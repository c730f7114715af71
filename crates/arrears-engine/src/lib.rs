//! The delinquency engine: `run_day(portfolio, as_of, config)` computes, for every loan, the
//! payment waterfall, days past due, bucket, stage, overdue amounts by component and penalty
//! interest under the cost cap, exactly as `docs/delinquency.md` states, in integer minor
//! units. It is a pure function: no I/O, no clock, the same inputs give the same output, and
//! the loans are independent so they are computed in parallel.

pub mod agency;
mod days;
mod loan;
mod promise;
pub mod sale;
pub mod settlement;
mod summary;

pub use days::{BookingClock, date_from_epoch_day, epoch_day};
pub use loan::{AccountState, AccountStatus, LoanFacts, evaluate_loan};
pub use promise::{
    InstalmentProgress, PaymentMove, PromiseOutcome, PromiseTerms, instalment_progress,
    promise_outcome,
};
pub use summary::{BandTotals, CurrencyTotals, Summary, summarize};

use arrears_domain::{Config, Portfolio};
use jiff::civil::Date;
use rayon::prelude::*;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// A loan's sums do not fit in 64 bits. Fields are bounded at 10^15, so only a loan with
    /// thousands of maximal payments can get here; it is reported, never wrapped or clamped.
    #[error("loan {loan}: {what} does not fit in a 64-bit amount")]
    Overflow { loan: String, what: &'static str },
}

/// GB-BREATHING-SPACE: no interest or charges during a breathing-space moratorium. Only
/// its end (`breathing_space_until`, U) is on record, not its start, so a GB borrower with
/// U gets a zero penalty base on every day t <= U (the benefit of the doubt); days after U
/// accrue normally. The field means nothing outside GB.
fn penalty_free_through(b: Option<&arrears_domain::Borrower>) -> Option<i32> {
    let b = b?;
    if b.jurisdiction.country() != "GB" {
        return None;
    }
    b.breathing_space_until.map(epoch_day)
}

/// The daily run over a whole portfolio, as of business date `as_of`. Results are in the
/// portfolio's loan order; the caller sorts for output.
pub fn run_day(
    portfolio: &Portfolio,
    as_of: Date,
    config: &Config,
) -> Result<Vec<AccountState>, EngineError> {
    let clock = days::BookingClock::new(&config.business_tz);
    let as_of_day = epoch_day(as_of);
    portfolio
        .loans
        .par_iter()
        .map_init(loan::Scratch::default, |scratch, l| {
            let borrower = portfolio.borrower_of(l);
            let cap = borrower.and_then(|b| config.cost_cap(&b.jurisdiction));
            let facts = LoanFacts {
                status: l.status,
                annual_rate: l.annual_rate,
                penalty_rate: l.penalty_rate,
                cost_cap: cap,
                penalty_free_through: penalty_free_through(borrower),
                installments: portfolio.installments_of(l),
                payments: portfolio.payments_of(l),
            };
            evaluate_loan(&facts, as_of_day, &clock, config, scratch).map_err(|what| {
                EngineError::Overflow {
                    loan: l.id.to_string(),
                    what,
                }
            })
        })
        .collect()
}
