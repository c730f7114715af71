//! Agency files (`docs/agency.md`): the agency's daily placement file
//! (`placement_<agency>_<date>.csv` / `.parquet`: each loan placed with it and live on the
//! date, its balances by component from the daily run, dpd, and only the borrower's own
//! contact details — never a contact person), the recall file (`recall_<agency>_<date>.csv`),
//! the remittance statement (`remittance_<agency>_<from>_<to>.csv`), and reading an agency's
//! activity file (contacts, promises, payments collected), where every bad row is rejected
//! with its file, line, field and reason and the good rows go on.

use crate::IoError;
use crate::write::{write_err, write_parquet};
use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use jiff::Timestamp;
use std::path::Path;
use std::sync::Arc;

/// One loan of a placement file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacementLine {
    pub placement_id: String,
    pub loan_id: String,
    pub borrower_id: String,
    pub placed_at: Timestamp,
    pub currency: String,
    pub dpd: i64,
    pub principal_minor: i64,
    pub interest_minor: i64,
    pub fee_minor: i64,
    pub penalty_minor: i64,
    pub outstanding_minor: i64,
    /// The borrower's own details (never a contact person's).
    pub borrower_name: String,
    pub borrower_phone: Option<String>,
    pub borrower_email: Option<String>,
    pub borrower_timezone: String,
    pub jurisdiction: String,
    pub language: Option<String>,
}

/// The columns of a placement file, in order.
pub const PLACEMENT_COLUMNS: [&str; 17] = [
    "placement_id",
    "loan_id",
    "borrower_id",
    "placed_at",
    "currency",
    "dpd",
    "principal_minor",
    "interest_minor",
    "fee_minor",
    "penalty_minor",
    "outstanding_minor",
    "borrower_name",
    "borrower_phone",
    "borrower_email",
    "borrower_timezone",
    "jurisdiction",
    "language",
];

fn texts(l: &PlacementLine) -> [String; 17] {
    [
        l.placement_id.clone(),
        l.loan_id.clone(),
        l.borrower_id.clone(),
        l.placed_at.to_string(),
        l.currency.clone(),
        l.dpd.to_string(),
        l.principal_minor.to_string(),
        l.interest_minor.to_string(),
        l.fee_minor.to_string(),
        l.penalty_minor.to_string(),
        l.outstanding_minor.to_string(),
        l.borrower_name.clone(),
        l.borrower_phone.clone().unwrap_or_default(),
        l.borrower_email.clone().unwrap_or_default(),
        l.borrower_timezone.clone(),
        l.jurisdiction.clone(),
        l.language.clone().unwrap_or_default(),
    ]
}

/// Writes CSV rows with a header.
pub fn write_csv<const N: usize>(
    path: &Path,
    header: [&str; N],
    rows: impl Iterator<Item = [String; N]>,
) -> Result<(), IoError> {
    let file = std::fs::File::create(path).map_err(|e| IoError::io(path, e))?;
    let mut w = csv::Writer::from_writer(std::io::BufWriter::new(file));
    w.write_record(header).map_err(|e| write_err(path, e))?;
    for r in rows {
        w.write_record(&r).map_err(|e| write_err(path, e))?;
    }
    w.flush().map_err(|e| IoError::io(path, e))?;
    Ok(())
}

/// The placement file as CSV.
pub fn write_placement_csv(path: &Path, lines: &[PlacementLine]) -> Result<(), IoError> {
    write_csv(path, PLACEMENT_COLUMNS, lines.iter().map(texts))
}

/// The Arrow schema of the placement file: text, int64 amounts and dpd, `placed_at` RFC 3339
/// text (UTC); the phone, e-mail and language may be null.
pub fn placement_schema() -> Schema {
    Schema::new(
        PLACEMENT_COLUMNS
            .iter()
            .map(|&c| match c {
                "dpd" | "principal_minor" | "interest_minor" | "fee_minor" | "penalty_minor"
                | "outstanding_minor" => Field::new(c, DataType::Int64, false),
                "borrower_phone" | "borrower_email" | "language" => {
                    Field::new(c, DataType::Utf8, true)
                }
                _ => Field::new(c, DataType::Utf8, false),
            })
            .collect::<Vec<_>>(),
    )
}

/// The placement file as Parquet (`arrears_io::write::write_parquet`).
pub fn write_placement_parquet(path: &Path, lines: &[PlacementLine]) -> Result<(), IoError> {
    let schema = Arc::new(placement_schema());
    let batches: Vec<Result<RecordBatch, IoError>> = lines
        .chunks(crate::write::PARQUET_BATCH)
        .map(|chunk| {
            let s = |f: &dyn Fn(&PlacementLine) -> String| -> ArrayRef {
                Arc::new(StringArray::from_iter_values(chunk.iter().map(f)))
            };
            let o = |f: &dyn Fn(&PlacementLine) -> Option<String>| -> ArrayRef {
                Arc::new(StringArray::from_iter(chunk.iter().map(f)))
            };
            let i = |f: &dyn Fn(&PlacementLine) -> i64| -> ArrayRef {
                Arc::new(Int64Array::from_iter_values(chunk.iter().map(f)))
            };
            let cols: Vec<ArrayRef> = vec![
                s(&|l| l.placement_id.clone()),
                s(&|l| l.loan_id.clone()),
                s(&|l| l.borrower_id.clone()),
                s(&|l| l.placed_at.to_string()),
                s(&|l| l.currency.clone()),
                i(&|l| l.dpd),
                i(&|l| l.principal_minor),
                i(&|l| l.interest_minor),
                i(&|l| l.fee_minor),
                i(&|l| l.penalty_minor),
                i(&|l| l.outstanding_minor),
                s(&|l| l.borrower_name.clone()),
                o(&|l| l.borrower_phone.clone()),
                o(&|l| l.borrower_email.clone()),
                s(&|l| l.borrower_timezone.clone()),
                s(&|l| l.jurisdiction.clone()),
                o(&|l| l.language.clone()),
            ];
            RecordBatch::try_new(schema.clone(), cols).map_err(|e| write_err(path, e))
        })
        .collect();
    write_parquet(path, schema, batches)
}

/// One loan of a recall file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecallLine {
    pub placement_id: String,
    pub loan_id: String,
    pub borrower_id: String,
    pub placed_at: Timestamp,
    pub recalled_at: Timestamp,
    pub reason: String,
}

pub const RECALL_COLUMNS: [&str; 6] = [
    "placement_id",
    "loan_id",
    "borrower_id",
    "placed_at",
    "recalled_at",
    "reason",
];

/// The recall file as CSV: the agency stops work on these loans from `recalled_at`.
pub fn write_recall_csv(path: &Path, lines: &[RecallLine]) -> Result<(), IoError> {
    write_csv(
        path,
        RECALL_COLUMNS,
        lines.iter().map(|l| {
            [
                l.placement_id.clone(),
                l.loan_id.clone(),
                l.borrower_id.clone(),
                l.placed_at.to_string(),
                l.recalled_at.to_string(),
                l.reason.clone(),
            ]
        }),
    )
}

/// One line of a remittance statement: a placement's recovered amount in the period and the
/// commission on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemittanceLine {
    pub placement_id: String,
    pub loan_id: String,
    pub currency: String,
    pub payments: u32,
    pub reversals: u32,
    pub recovered_minor: i64,
    pub commission_bps: i64,
    pub commission_minor: i64,
    /// What the agency itself reported collected in the period (for reconciliation).
    pub reported_minor: i64,
}

pub const REMITTANCE_COLUMNS: [&str; 9] = [
    "placement_id",
    "loan_id",
    "currency",
    "payments",
    "reversals",
    "recovered_minor",
    "commission_bps",
    "commission_minor",
    "reported_collected_minor",
];

/// The remittance statement as CSV, its lines then one `TOTAL` line per currency (the sums of
/// the lines: the total commission is never rounded again).
pub fn write_remittance_csv(
    path: &Path,
    lines: &[RemittanceLine],
    totals: &[(String, i128, i128, i128)],
) -> Result<(), IoError> {
    let body = lines.iter().map(|l| {
        [
            l.placement_id.clone(),
            l.loan_id.clone(),
            l.currency.clone(),
            l.payments.to_string(),
            l.reversals.to_string(),
            l.recovered_minor.to_string(),
            l.commission_bps.to_string(),
            l.commission_minor.to_string(),
            l.reported_minor.to_string(),
        ]
    });
    let tail = totals.iter().map(|(cur, rec, com, rep)| {
        [
            "TOTAL".to_owned(),
            String::new(),
            cur.clone(),
            String::new(),
            String::new(),
            rec.to_string(),
            String::new(),
            com.to_string(),
            rep.to_string(),
        ]
    });
    write_csv(path, REMITTANCE_COLUMNS, body.chain(tail))
}

/// The columns of an agency activity file (`kind`: contact, promise or payment).
pub const ACTIVITY_COLUMNS: [&str; 10] = [
    "activity_id",
    "loan_id",
    "kind",
    "at",
    "channel",
    "target",
    "outcome",
    "amount_minor",
    "due_date",
    "direction",
];

/// One good row of an activity file, its fields still text (the application layer parses
/// them into its vocabulary), with its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityRow {
    pub line: u64,
    pub activity_id: String,
    pub loan_id: String,
    pub kind: String,
    pub at: Timestamp,
    pub channel: Option<String>,
    pub target: Option<String>,
    pub outcome: Option<String>,
    pub amount_minor: Option<i64>,
    pub due_date: Option<jiff::civil::Date>,
    pub direction: Option<String>,
}

/// A rejected row: file, line, field and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityReject {
    pub file: String,
    pub line: u64,
    pub field: String,
    pub reason: String,
}

impl std::fmt::Display for ActivityReject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.file, self.line, self.field, self.reason
        )
    }
}

/// Reads an activity file: every row is either a good [`ActivityRow`] or an
/// [`ActivityReject`]; nothing is dropped silently. A file that cannot be read, or whose
/// header lacks a required column, is an error.
pub fn read_activity_csv(path: &Path) -> Result<(Vec<ActivityRow>, Vec<ActivityReject>), IoError> {
    let file_name = path.display().to_string();
    let mut r = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .map_err(|e| IoError::Write {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    let header = r.headers().map_err(|e| write_err(path, e))?.clone();
    let col = |name: &str| header.iter().position(|h| h.trim() == name);
    for required in ["activity_id", "loan_id", "kind", "at"] {
        if col(required).is_none() {
            return Err(write_err(
                path,
                format!("the header has no column {required:?}"),
            ));
        }
    }
    let idx: Vec<Option<usize>> = ACTIVITY_COLUMNS.iter().map(|c| col(c)).collect();
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for (n, rec) in r.records().enumerate() {
        // Line 1 is the header.
        let line = u64::try_from(n).unwrap_or(u64::MAX).saturating_add(2);
        let reject = |field: &str, reason: String| ActivityReject {
            file: file_name.clone(),
            line,
            field: field.to_owned(),
            reason,
        };
        let rec = match rec {
            Ok(rec) => rec,
            Err(e) => {
                bad.push(reject("*", e.to_string()));
                continue;
            }
        };
        let get = |i: usize| -> Option<String> {
            idx[i]
                .and_then(|c| rec.get(c))
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        match parse_activity(line, &get) {
            Ok(row) => good.push(row),
            Err((field, reason)) => bad.push(reject(field, reason)),
        }
    }
    Ok((good, bad))
}

fn parse_activity(
    line: u64,
    get: &dyn Fn(usize) -> Option<String>,
) -> Result<ActivityRow, (&'static str, String)> {
    let need = |i: usize| get(i).ok_or((ACTIVITY_COLUMNS[i], "is empty".to_owned()));
    let activity_id = need(0)?;
    // An agency's contact is stored as `agency:<agency>:<activity_id>` (ids are at most 128
    // bytes, agency ids at most 64).
    if activity_id.len() > 48 || activity_id.chars().any(char::is_control) {
        return Err((
            "activity_id",
            "is longer than 48 bytes or has a control character".into(),
        ));
    }
    let loan_id = need(1)?;
    let kind = need(2)?;
    if !matches!(kind.as_str(), "contact" | "promise" | "payment") {
        return Err((
            "kind",
            format!("{kind:?} is not contact, promise or payment"),
        ));
    }
    let at_text = need(3)?;
    let at: Timestamp = at_text
        .parse()
        .map_err(|_| ("at", format!("{at_text:?} is not an instant (RFC 3339)")))?;
    let amount_minor = match get(7) {
        None => None,
        Some(a) => match a.parse::<i64>() {
            Ok(v) if v > 0 && v <= 1_000_000_000_000_000 => Some(v),
            _ => {
                return Err((
                    "amount_minor",
                    format!("{a:?} is not a positive amount in minor units"),
                ));
            }
        },
    };
    let due_date = match get(8) {
        None => None,
        Some(d) => Some(
            d.parse()
                .map_err(|_| ("due_date", format!("{d:?} is not a date (YYYY-MM-DD)")))?,
        ),
    };
    match kind.as_str() {
        "contact" => {
            if get(4).is_none() {
                return Err(("channel", "is empty (a contact needs its channel)".into()));
            }
            if get(6).is_none() {
                return Err(("outcome", "is empty (a contact needs its outcome)".into()));
            }
        }
        "promise" => {
            if amount_minor.is_none() {
                return Err((
                    "amount_minor",
                    "is empty (a promise needs its amount)".into(),
                ));
            }
            if due_date.is_none() {
                return Err(("due_date", "is empty (a promise needs its due date)".into()));
            }
        }
        _ => {
            if amount_minor.is_none() {
                return Err((
                    "amount_minor",
                    "is empty (a payment needs its amount)".into(),
                ));
            }
        }
    }
    Ok(ActivityRow {
        line,
        activity_id,
        loan_id,
        kind,
        at,
        channel: get(4),
        target: get(5),
        outcome: get(6),
        amount_minor,
        due_date,
        direction: get(9),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_activity_rows_are_rejected_with_line_field_and_reason() {
        let dir = std::env::temp_dir().join(format!("arrears-activity-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("activity.csv");
        std::fs::write(
            &path,
            "activity_id,loan_id,kind,at,channel,target,outcome,amount_minor,due_date,direction\n\
             A1,L1,contact,2026-11-28T02:00:00Z,call,+8613800000001,right_party,,,\n\
             A2,L1,visit,2026-11-28T02:00:00Z,,,,,,\n\
             A3,L1,payment,yesterday,,,,500,,\n\
             A4,L1,payment,2026-11-28T03:00:00Z,,,,-5,,\n\
             A5,L1,promise,2026-11-28T03:00:00Z,,,,500,,\n\
             ,L1,payment,2026-11-28T03:00:00Z,,,,5,,\n\
             A7,L1,payment,2026-11-28T03:00:00Z,,,,700,,\n\
             A8,L1,contact,2026-11-28T03:00:00Z,call,,,,,\n",
        )
        .unwrap();
        let (good, bad) = read_activity_csv(&path).unwrap();
        assert_eq!(
            good.iter()
                .map(|g| (g.activity_id.as_str(), g.line))
                .collect::<Vec<_>>(),
            [("A1", 2), ("A7", 8)]
        );
        let got: Vec<(u64, &str)> = bad.iter().map(|b| (b.line, b.field.as_str())).collect();
        assert_eq!(
            got,
            [
                (3, "kind"),
                (4, "at"),
                (5, "amount_minor"),
                (6, "due_date"),
                (7, "activity_id"),
                (9, "outcome")
            ]
        );
        assert!(
            bad[0]
                .to_string()
                .ends_with("activity.csv:3: kind: \"visit\" is not contact, promise or payment"),
            "{}",
            bad[0]
        );
        // Every data row is accounted for.
        assert_eq!(good.len() + bad.len(), 8);
        std::fs::remove_dir_all(&dir).ok();
    }
}
