//! Morning reports for a collections manager, built from a portfolio's daily history.
//!
//! The input is a [`History`]: per-loan snapshots ([`LoanDay`]) of several business dates, in
//! ascending order, plus the configured bucket and stage names. [`build`] turns it into a
//! [`Report`] — pure, with no clock and no I/O — holding four tables:
//!
//! - the roll-rate matrix between the first and the last date ([`RollRow`]),
//! - cure, write-off and recovery flows for every consecutive pair of dates ([`PeriodRow`]),
//! - delinquency (30+ days past due) by vintage over months on book ([`VintageRow`]),
//! - the bucket and stage distribution of every date ([`DistributionRow`]).
//!
//! [`write()`] is the only I/O: it writes one CSV per table and a self-contained `report.html`
//! ([`render_html`]) with inline SVG charts and, beside every chart, an HTML table holding
//! exactly the cells of the CSV (both are printed by the same [`Table`] code).
//!
//! Charts are drawn with plotters' SVG backend without its `ttf` feature: labels are SVG
//! `<text>` in the browser's `sans-serif`, so no font file is read or embedded. Axes are `f64`
//! drawing coordinates (plotters' integer axes can overflow on small ranges).
//!
//! Amounts are integer minor units, summed in `i128` and checked back into `i64`, and are
//! always kept per currency: no row adds amounts of two currencies. Loan counts may be summed
//! across currencies, and the charts do so. Rates are [`Pct`]: a count over a count, printed
//! with two decimals rounded half to even by integer arithmetic. Floating point appears only
//! in the chart module's drawing coordinates, never for an amount or a printed rate.

mod build;
mod chart;
mod html;
mod late;
mod pct;
mod table;

use std::path::{Path, PathBuf};

use jiff::civil::Date;

pub use build::build;
pub use chart::{Bar, bars, hbars, titled_bars};
pub use html::{render_html, render_html_with, status_bars};
pub use late::{
    AgencyFact, CaseFact, LateFacts, LateReport, LeagueRow, RouteFact, RouteRow, SettlementFact,
    StatusRow, build_late,
};
pub use pct::Pct;
pub use table::Table;

/// The statuses a loan can have; the last four are terminal.
pub const STATUSES: [&str; 6] = [
    "current",
    "delinquent",
    "paid_off",
    "written_off",
    "sold",
    "closed",
];

/// Statuses after which a loan leaves the collections book. In the roll-rate matrix a loan
/// with one of these on the to-date goes to a column named by the status instead of a bucket.
pub const TERMINAL_STATUSES: [&str; 4] = ["paid_off", "written_off", "sold", "closed"];

/// The from-bucket of loans first seen on the last date of the history.
pub const NEW_BUCKET: &str = "new";

/// The to-bucket of loans present on the first date but absent from the last.
pub const MISSING_BUCKET: &str = "missing";

/// Days past due from which a loan counts as "30+" in the vintage report.
pub const DPD_30_PLUS: u32 = 30;

/// One loan on one business date, as the daily run left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoanDay {
    pub loan_id: String,
    /// One of [`STATUSES`].
    pub status: String,
    pub dpd: u32,
    /// One of [`History::buckets`].
    pub bucket: String,
    /// One of [`History::stages`].
    pub stage: String,
    pub overdue_minor: i64,
    pub outstanding_principal_minor: i64,
    /// Cumulative payments received up to and including this date.
    pub paid_minor: i64,
    /// ISO 4217 code: three upper-case ASCII letters. A loan keeps its currency on every date.
    pub currency: String,
    pub disbursed_on: Date,
}

/// The snapshot of a portfolio on one business date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Day {
    pub as_of: Date,
    pub loans: Vec<LoanDay>,
}

/// Snapshots of several business dates, strictly ascending by `as_of`, with the configured
/// bucket and stage names in their display order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct History {
    pub days: Vec<Day>,
    /// E.g. `current, M1, …, M6, M6+`.
    pub buckets: Vec<String>,
    /// E.g. `current, early, mid, late, bad_debt`.
    pub stages: Vec<String>,
}

/// Every report of one history. Built by [`build`]; rows are in a fixed order, so the same
/// history always gives byte-identical files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The first date of the history.
    pub from: Date,
    /// The last date of the history.
    pub to: Date,
    pub dates: Vec<Date>,
    pub buckets: Vec<String>,
    pub stages: Vec<String>,
    /// Ordered by from-bucket, to-bucket (see [`Report::roll_from_order`] and
    /// [`Report::roll_to_order`]), then currency.
    pub roll_rates: Vec<RollRow>,
    /// Ordered by period, then currency.
    pub periods: Vec<PeriodRow>,
    /// Ordered by vintage, months on book, then currency.
    pub vintage: Vec<VintageRow>,
    /// Ordered by date, dimension (buckets first), configured value order, then currency.
    pub distribution: Vec<DistributionRow>,
}

/// One cell of the roll-rate matrix, for one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollRow {
    pub from_date: Date,
    pub to_date: Date,
    /// A configured bucket, a terminal status (loan already terminal on the from-date) or
    /// [`NEW_BUCKET`].
    pub from_bucket: String,
    /// A configured bucket, a terminal status, or [`MISSING_BUCKET`].
    pub to_bucket: String,
    pub loans: u64,
    /// Outstanding principal of these loans on the from-date (0 for new loans).
    pub outstanding_principal_minor_from: i64,
    pub currency: String,
    /// `loans` over the loans of the same from-bucket and currency.
    pub roll_rate: Pct,
}

/// Flows between two consecutive snapshot dates, for one currency (the loan's, which never
/// changes). Every currency of the history has a row in every period, zeros included. A loan
/// absent from the to-date snapshot is counted at the start but is neither cured, nor a
/// write-off flow, nor a recovery: nothing is known about it at the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodRow {
    pub from_date: Date,
    pub to_date: Date,
    /// Loans with dpd > 0 on the from-date.
    pub delinquent_start: u64,
    /// Of those, loans with dpd 0 or status `paid_off` on the to-date.
    pub cured: u64,
    /// `cured` over `delinquent_start`.
    pub cure_rate: Pct,
    /// Loans not `written_off` on the from-date and `written_off` on the to-date.
    pub flow_to_write_off: u64,
    /// Their outstanding principal on the from-date.
    pub flow_to_write_off_principal_minor: i64,
    /// Sum over loans with dpd > 0 on the from-date of paid on the to-date minus paid on the
    /// from-date.
    pub recovery_minor: i64,
    pub currency: String,
}

/// Delinquency of one vintage at one month on book, for one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VintageRow {
    /// Disbursal month, `YYYY-MM`.
    pub vintage: String,
    /// Months from the disbursal month to the snapshot month.
    pub months_on_book: u32,
    /// The last snapshot date of the snapshot month.
    pub as_of: Date,
    pub loans: u64,
    /// Loans with dpd ≥ [`DPD_30_PLUS`].
    pub loans_30_plus: u64,
    pub rate_30_plus: Pct,
    pub outstanding_principal_minor: i64,
    pub outstanding_30_plus_minor: i64,
    pub currency: String,
}

/// The two dimensions of the distribution report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dimension {
    Bucket,
    Stage,
}

impl Dimension {
    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Bucket => "bucket",
            Dimension::Stage => "stage",
        }
    }
}

/// Loans of one bucket or stage on one date, for one currency. Every configured value is
/// listed for every currency of the history, with zeros where no loan has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistributionRow {
    pub as_of: Date,
    pub dimension: Dimension,
    pub value: String,
    pub loans: u64,
    pub overdue_minor: i64,
    pub outstanding_principal_minor: i64,
    pub currency: String,
}

/// Why a history could not be turned into a report, or the report not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    #[error("the history has no business dates")]
    EmptyHistory,
    #[error("business dates must be strictly ascending: {next} follows {prev}")]
    DatesNotAscending { prev: Date, next: Date },
    #[error("the configured {dimension} list is empty")]
    EmptyConfig { dimension: &'static str },
    #[error("configured {dimension} {name:?} is empty, listed twice or a reserved name")]
    BadConfiguredName {
        dimension: &'static str,
        name: String,
    },
    #[error("loan {loan_id:?} appears twice on {as_of}")]
    DuplicateLoan { as_of: Date, loan_id: String },
    #[error("a loan on {as_of} has an empty loan id")]
    EmptyLoanId { as_of: Date },
    #[error("loan {loan_id:?} on {as_of}: unknown {field} {value:?}")]
    UnknownValue {
        as_of: Date,
        loan_id: String,
        field: &'static str,
        value: String,
    },
    #[error("loan {loan_id:?} on {as_of}: currency {currency:?} is not an ISO 4217 code")]
    BadCurrency {
        as_of: Date,
        loan_id: String,
        currency: String,
    },
    #[error("loan {loan_id:?} changes currency from {before} to {after} on {as_of}")]
    CurrencyChanged {
        as_of: Date,
        loan_id: String,
        before: String,
        after: String,
    },
    #[error("loan {loan_id:?} on {as_of} is disbursed later, on {disbursed_on}")]
    DisbursedAfterSnapshot {
        as_of: Date,
        loan_id: String,
        disbursed_on: Date,
    },
    #[error("{what} does not fit in i64 minor units")]
    Overflow { what: &'static str },
    #[error("writing {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("writing {path}: {source}")]
    Csv {
        path: PathBuf,
        #[source]
        source: csv::Error,
    },
}

/// The files [`write()`] creates in its directory, in this order.
pub const FILES: [&str; 5] = [
    "roll_rates.csv",
    "periods.csv",
    "vintage.csv",
    "distribution.csv",
    "report.html",
];

/// Writes the four CSVs and `report.html` into `dir` (created if missing) and returns their
/// paths in the order of [`FILES`]. Existing files of those names are replaced.
pub fn write(report: &Report, dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    write_with(report, None, dir)
}

/// [`write()`] with the late-stage tables (`settlements.csv`, `legal_pipeline.csv`,
/// `recovery_by_route.csv`, `agency_league.csv`) and their sections in `report.html`.
pub fn write_with(
    report: &Report,
    late: Option<&LateReport>,
    dir: &Path,
) -> Result<Vec<PathBuf>, ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut paths = Vec::with_capacity(FILES.len());
    for table in report.tables() {
        let path = dir.join(table.file);
        table.write_csv(&path)?;
        paths.push(path);
    }
    if let Some(late) = late {
        for table in late.tables() {
            let path = dir.join(table.file);
            table.write_csv(&path)?;
            paths.push(path);
        }
    }
    let path = dir.join("report.html");
    std::fs::write(&path, render_html_with(report, late)).map_err(|source| ReportError::Io {
        path: path.clone(),
        source,
    })?;
    paths.push(path);
    Ok(paths)
}
