//! The bureau CSV: one row per reported line (every jurisdiction), for a lender to map to its
//! credit-reference submission (in China, the 征信 interface of its credit-reference
//! institution). Columns and values are documented in `docs/bureau.md`; amounts are integer
//! minor units, dates ISO 8601, RFC 4180 quoting.

use crate::derive::{BureauStatus, Line};
use jiff::civil::Date;

/// The columns, in order.
pub const COLUMNS: [&str; 24] = [
    "period",
    "record_type",
    "corrects_period",
    "loan_id",
    "borrower_id",
    "borrower_name",
    "jurisdiction",
    "currency",
    "status",
    "dpd",
    "balance_minor",
    "past_due_minor",
    "charge_off_minor",
    "paid_in_month_minor",
    "scheduled_minor",
    "principal_minor",
    "opened_on",
    "as_of",
    "first_delinquency_on",
    "closed_on",
    "last_payment_on",
    "disputed",
    "dispute_id",
    "history_24",
];

fn quote(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn date(d: Option<Date>) -> String {
    d.map(|d| d.to_string()).unwrap_or_default()
}

/// The CSV text: the header row, then each reported line.
pub fn write(lines: &[Line]) -> String {
    let mut out = COLUMNS.join(",");
    out.push('\n');
    for l in lines.iter().filter(|l| l.gate.is_reported()) {
        let row = [
            l.period.clone(),
            l.kind.code().to_owned(),
            l.kind.corrects().unwrap_or("").to_owned(),
            l.loan_id.clone(),
            l.borrower_id.clone(),
            l.borrower_name.clone(),
            l.jurisdiction.clone(),
            l.currency.clone(),
            if l.kind.corrects().is_some() {
                BureauStatus::Current.code().to_owned()
            } else {
                l.status.code().to_owned()
            },
            l.dpd.to_string(),
            l.balance_minor.to_string(),
            l.past_due_minor.to_string(),
            l.charge_off_minor.to_string(),
            l.paid_in_month_minor.to_string(),
            l.scheduled_minor.to_string(),
            l.principal_minor.to_string(),
            l.opened.to_string(),
            l.as_of.to_string(),
            date(l.first_delinquency),
            date(l.closed),
            date(l.last_payment),
            (l.status == BureauStatus::Disputed).to_string(),
            l.dispute_id.clone().unwrap_or_default(),
            l.history.clone(),
        ];
        let cells: Vec<String> = row.iter().map(|c| quote(c)).collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}
