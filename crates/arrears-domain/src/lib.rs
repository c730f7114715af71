//! The vocabulary of Arrears, shared by every other crate.
//!
//! This crate owns the types that are valid by construction (`Minor`, `LoanId`, `Currency`,
//! `Jurisdiction`, `Bps`, strict dates and time zones), the lender's run configuration
//! (`Config`: business time zone, tolerance, buckets, stages, cost caps) and the portfolio
//! model with its cross-row validation (`PortfolioBuilder` → `Portfolio` + `Reject`s).
//! It does no I/O and never reads the clock: readers at the edge parse raw cells with the
//! `parse` functions here and hand typed rows to the builder.

pub mod config;
mod idindex;
pub mod lifecycle;
pub mod parse;
pub mod portfolio;
pub mod reject;
pub mod types;

pub use config::{Bands, Config, ConfigError};
pub use idindex::{Claim, Duplicate};
pub use lifecycle::Lifecycle;
pub use portfolio::{
    Borrower, BorrowerRow, ContactRow, Installment, InstallmentRow, Loan, LoanRow, LoanStatus,
    Payment, PaymentKind, PaymentRow, Portfolio, PortfolioBuilder, PromiseRow, Table,
};
pub use reject::{FieldError, Reason, Reject, RowRef, Severity};
pub use types::{Bps, Currency, Id, Jurisdiction, Minor, TimeZoneName};
