//! Rejections: why a row (or a field of it) was not accepted, and where it was.

use crate::portfolio::Table;
use std::fmt;

/// Why a row was rejected or a field was read as empty. The codes are stable: they appear in
/// `rejects.csv`, in `summary.json` and in tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Reason {
    /// A required field is empty or null.
    MissingValue,
    /// A field cannot be parsed as its type (integer, date, timestamp, bool, enum, zone…).
    InvalidValue,
    /// A field parsed but breaks a bound (amount <= 0, negative rate, seq < 1…).
    OutOfRange,
    /// A later row repeats an id (or an installment's (loan_id, seq)) already seen.
    DuplicateId,
    /// The row names a parent that does not exist or whose row was rejected.
    UnknownReference,
    /// An installment's seq leaves a gap: no row of that loan has seq − 1.
    SeqGap,
    /// An installment falls due before an accepted installment with a lower seq.
    DueDateOrder,
    /// A reversal that cannot apply: unknown payment, another loan's, a reversal, a different
    /// amount, or a payment already reversed.
    InvalidReversal,
}

impl Reason {
    pub const ALL: [Reason; 8] = [
        Reason::MissingValue,
        Reason::InvalidValue,
        Reason::OutOfRange,
        Reason::DuplicateId,
        Reason::UnknownReference,
        Reason::SeqGap,
        Reason::DueDateOrder,
        Reason::InvalidReversal,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Reason::MissingValue => "missing_value",
            Reason::InvalidValue => "invalid_value",
            Reason::OutOfRange => "out_of_range",
            Reason::DuplicateId => "duplicate_id",
            Reason::UnknownReference => "unknown_reference",
            Reason::SeqGap => "seq_gap",
            Reason::DueDateOrder => "due_date_order",
            Reason::InvalidReversal => "invalid_reversal",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// `error`: the row was rejected. `warning`: a malformed optional field was read as empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn code(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// A row of an input table: CSV rows are numbered by their line in the file (the header is
/// line 1), Parquet rows from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RowRef {
    pub table: Table,
    pub line: u64,
}

/// A field-level problem found while parsing one cell.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{column}: {reason}: {detail}")]
pub struct FieldError {
    pub column: &'static str,
    pub reason: Reason,
    pub detail: String,
}

impl FieldError {
    pub fn new(column: &'static str, reason: Reason, detail: impl Into<String>) -> Self {
        FieldError {
            column,
            reason,
            detail: detail.into(),
        }
    }
}

/// One reported problem: the row it is in, the column, how bad and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub at: RowRef,
    pub column: &'static str,
    pub severity: Severity,
    pub reason: Reason,
    pub detail: String,
}

impl Reject {
    pub fn error(at: RowRef, e: FieldError) -> Self {
        Reject {
            at,
            column: e.column,
            severity: Severity::Error,
            reason: e.reason,
            detail: e.detail,
        }
    }
    pub fn warning(at: RowRef, e: FieldError) -> Self {
        Reject {
            at,
            column: e.column,
            severity: Severity::Warning,
            reason: e.reason,
            detail: e.detail,
        }
    }
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} row {}, column {}: {} ({}): {}",
            self.at.table.name(),
            self.at.line,
            self.column,
            self.severity.code(),
            self.reason,
            self.detail
        )
    }
}
