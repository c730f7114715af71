//! The reports as tables of printed cells: one place formats every number, and both the CSV
//! files and the HTML tables print these cells, so the two always agree cell by cell.

use std::path::Path;

use crate::{Report, ReportError};

/// One report as printed: the file it goes to, the header row, and the cells of every row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub file: &'static str,
    pub header: &'static [&'static str],
    pub rows: Vec<Vec<String>>,
}

pub const ROLL_RATES_HEADER: &[&str] = &[
    "from_date",
    "to_date",
    "from_bucket",
    "to_bucket",
    "loans",
    "outstanding_principal_minor_from",
    "currency",
    "roll_rate_pct",
];

pub const PERIODS_HEADER: &[&str] = &[
    "from_date",
    "to_date",
    "loans_delinquent_start",
    "loans_cured",
    "cure_rate_pct",
    "loans_flow_to_write_off",
    "flow_to_write_off_principal_minor",
    "recovery_minor",
    "currency",
];

pub const VINTAGE_HEADER: &[&str] = &[
    "vintage",
    "months_on_book",
    "as_of",
    "loans",
    "loans_30_plus",
    "rate_30_plus_pct",
    "outstanding_principal_minor",
    "outstanding_30_plus_minor",
    "currency",
];

pub const DISTRIBUTION_HEADER: &[&str] = &[
    "as_of",
    "dimension",
    "value",
    "loans",
    "overdue_minor",
    "outstanding_principal_minor",
    "currency",
];

impl Report {
    /// `roll_rates.csv`.
    pub fn roll_rates_table(&self) -> Table {
        Table {
            file: "roll_rates.csv",
            header: ROLL_RATES_HEADER,
            rows: self
                .roll_rates
                .iter()
                .map(|r| {
                    vec![
                        r.from_date.to_string(),
                        r.to_date.to_string(),
                        r.from_bucket.clone(),
                        r.to_bucket.clone(),
                        r.loans.to_string(),
                        r.outstanding_principal_minor_from.to_string(),
                        r.currency.clone(),
                        r.roll_rate.to_string(),
                    ]
                })
                .collect(),
        }
    }

    /// `periods.csv`.
    pub fn periods_table(&self) -> Table {
        Table {
            file: "periods.csv",
            header: PERIODS_HEADER,
            rows: self
                .periods
                .iter()
                .map(|p| {
                    vec![
                        p.from_date.to_string(),
                        p.to_date.to_string(),
                        p.delinquent_start.to_string(),
                        p.cured.to_string(),
                        p.cure_rate.to_string(),
                        p.flow_to_write_off.to_string(),
                        p.flow_to_write_off_principal_minor.to_string(),
                        p.recovery_minor.to_string(),
                        p.currency.clone(),
                    ]
                })
                .collect(),
        }
    }

    /// `vintage.csv`.
    pub fn vintage_table(&self) -> Table {
        Table {
            file: "vintage.csv",
            header: VINTAGE_HEADER,
            rows: self
                .vintage
                .iter()
                .map(|v| {
                    vec![
                        v.vintage.clone(),
                        v.months_on_book.to_string(),
                        v.as_of.to_string(),
                        v.loans.to_string(),
                        v.loans_30_plus.to_string(),
                        v.rate_30_plus.to_string(),
                        v.outstanding_principal_minor.to_string(),
                        v.outstanding_30_plus_minor.to_string(),
                        v.currency.clone(),
                    ]
                })
                .collect(),
        }
    }

    /// `distribution.csv`.
    pub fn distribution_table(&self) -> Table {
        Table {
            file: "distribution.csv",
            header: DISTRIBUTION_HEADER,
            rows: self
                .distribution
                .iter()
                .map(|d| {
                    vec![
                        d.as_of.to_string(),
                        d.dimension.as_str().to_string(),
                        d.value.clone(),
                        d.loans.to_string(),
                        d.overdue_minor.to_string(),
                        d.outstanding_principal_minor.to_string(),
                        d.currency.clone(),
                    ]
                })
                .collect(),
        }
    }

    /// The four CSV tables in the order of [`crate::FILES`].
    pub fn tables(&self) -> [Table; 4] {
        [
            self.roll_rates_table(),
            self.periods_table(),
            self.vintage_table(),
            self.distribution_table(),
        ]
    }
}

impl Table {
    /// Writes the header and the rows as CSV (RFC 4180 quoting where a cell needs it).
    pub fn write_csv(&self, path: &Path) -> Result<(), ReportError> {
        let csv_error = |source| ReportError::Csv {
            path: path.to_path_buf(),
            source,
        };
        let mut w = csv::Writer::from_path(path).map_err(csv_error)?;
        w.write_record(self.header).map_err(csv_error)?;
        for row in &self.rows {
            w.write_record(row).map_err(csv_error)?;
        }
        w.flush().map_err(|source| ReportError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}
