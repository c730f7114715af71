//! Credit-bureau reporting (issue 15, item 2): for a reporting month, each loan's bureau
//! status, derived from the daily run's account state as of the month's last day and the
//! borrower's lifecycle facts, and written in two formats.
//!
//! - [`derive`] (`derive.rs`): the status (current, 30/60/90/120/150/180 days late, charged
//!   off, paid, sold, disputed), the gates and the corrections. Nothing negative is reported
//!   unless the compliance engine's own `check` allows a `credit_report` proposal for the
//!   loan at the end of the month (CN-CREDIT, US-CREDIT: the notice and its wait, open credit
//!   disputes, holds); a loan with an open credit dispute is reported as disputed and never
//!   negative; a dispute resolved in the borrower's favour makes the next file carry a
//!   correction of every negative line reported about the loan before the resolution.
//! - [`metro2`]: the US Metro 2 Base Segment, 426-byte character format, with header and
//!   trailer records (positions in `docs/bureau.md`, with the public sources).
//! - [`cn_csv`]: the documented CSV a CN lender maps to its credit-reference submission.
//!
//! Pure: no I/O, no clock; the instant of the file and the reporting month are arguments.

pub mod cn_csv;
pub mod derive;
pub mod metro2;

pub use derive::{
    BUREAU_NOTICE, BorrowerRecords, BureauStatus, DisputeOutcome, Gate, Line, LineKind,
    LoanSubject, Month, Period, PeriodError, PriorLine, derive_loan, rating_of_dpd,
};
