//! Writing a daily run's results: `accounts.csv` / `accounts.parquet` (spec section 6
//! columns, one row per loan, ordered by loan_id), `rejects.csv` and `summary.json`.

use crate::IoError;
use crate::read::ReadOutcome;
use arrears_domain::{Config, Portfolio, Reason, Reject, Severity, Table};
use arrears_engine::{AccountState, Summary, epoch_day};
use arrow::array::{ArrayRef, BooleanArray, Date32Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use jiff::civil::Date;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

/// The columns of `accounts.*`, in order (spec section 6).
pub const ACCOUNT_COLUMNS: [&str; 20] = [
    "loan_id",
    "borrower_id",
    "as_of",
    "status",
    "dpd",
    "bucket",
    "stage",
    "due_to_date_minor",
    "paid_minor",
    "overdue_minor",
    "overdue_fee_minor",
    "overdue_interest_minor",
    "overdue_principal_minor",
    "outstanding_principal_minor",
    "penalty_accrued_minor",
    "penalty_paid_minor",
    "penalty_rate_capped",
    "credit_minor",
    "oldest_unpaid_due_date",
    "last_payment_date",
];

/// Loan indexes in loan_id order (byte order), so output never depends on input row order.
pub fn loan_order(p: &Portfolio) -> Vec<u32> {
    let mut order: Vec<u32> = (0..p.loans.len() as u32).collect();
    let sorted = p
        .loans
        .windows(2)
        .all(|w| w[0].id.as_str() <= w[1].id.as_str());
    if !sorted {
        order.par_sort_unstable_by(|a, b| {
            p.loans[*a as usize]
                .id
                .as_str()
                .cmp(p.loans[*b as usize].id.as_str())
        });
    }
    order
}

pub(crate) fn write_err(path: &Path, e: impl std::fmt::Display) -> IoError {
    IoError::Write {
        path: path.to_owned(),
        reason: e.to_string(),
    }
}

fn date_text(d: Option<Date>) -> String {
    d.map(|d| d.to_string()).unwrap_or_default()
}

/// `accounts.csv`.
pub fn write_accounts_csv(
    path: &Path,
    p: &Portfolio,
    states: &[AccountState],
    order: &[u32],
    as_of: Date,
    config: &Config,
) -> Result<(), IoError> {
    let file = std::fs::File::create(path).map_err(|e| IoError::io(path, e))?;
    let mut w =
        csv::WriterBuilder::new().from_writer(std::io::BufWriter::with_capacity(1 << 20, file));
    w.write_record(ACCOUNT_COLUMNS)
        .map_err(|e| write_err(path, e))?;
    let as_of = as_of.to_string();
    let mut ib = itoa::Buffer::new();
    for &i in order {
        let (l, s) = (&p.loans[i as usize], &states[i as usize]);
        let borrower = p.borrower_of(l).map(|b| b.id.as_str()).unwrap_or("");
        let nums = [
            s.due_to_date_minor,
            s.paid_minor,
            s.overdue_minor,
            s.overdue_fee_minor,
            s.overdue_interest_minor,
            s.overdue_principal_minor,
            s.outstanding_principal_minor,
            s.penalty_accrued_minor,
            s.penalty_paid_minor,
        ];
        let mut rec = csv::ByteRecord::new();
        rec.push_field(l.id.as_str().as_bytes());
        rec.push_field(borrower.as_bytes());
        rec.push_field(as_of.as_bytes());
        rec.push_field(s.status.code().as_bytes());
        rec.push_field(ib.format(s.dpd).as_bytes());
        rec.push_field(config.buckets.name(usize::from(s.bucket)).as_bytes());
        rec.push_field(config.stages.name(usize::from(s.stage)).as_bytes());
        for n in nums {
            rec.push_field(ib.format(n).as_bytes());
        }
        rec.push_field(if s.penalty_rate_capped {
            b"true"
        } else {
            b"false"
        });
        rec.push_field(ib.format(s.credit_minor).as_bytes());
        rec.push_field(date_text(s.oldest_unpaid_due_date).as_bytes());
        rec.push_field(date_text(s.last_payment_date).as_bytes());
        w.write_byte_record(&rec).map_err(|e| write_err(path, e))?;
    }
    w.flush().map_err(|e| IoError::io(path, e))?;
    Ok(())
}

/// The Arrow schema of `accounts.parquet`: strings, int64 amounts and days, date32 dates, bool.
pub fn accounts_schema() -> Schema {
    let f = |name: &str, dt: DataType, nullable: bool| Field::new(name, dt, nullable);
    Schema::new(
        ACCOUNT_COLUMNS
            .iter()
            .map(|&c| match c {
                "loan_id" | "borrower_id" | "status" | "bucket" | "stage" => {
                    f(c, DataType::Utf8, false)
                }
                "as_of" => f(c, DataType::Date32, false),
                "oldest_unpaid_due_date" | "last_payment_date" => f(c, DataType::Date32, true),
                "penalty_rate_capped" => f(c, DataType::Boolean, false),
                _ => f(c, DataType::Int64, false),
            })
            .collect::<Vec<_>>(),
    )
}

/// Rows per record batch of the Parquet files written here.
pub(crate) const PARQUET_BATCH: usize = 262_144;

/// Writes record batches, built beforehand and in order, as one Snappy-compressed Parquet file
/// (row groups of up to 2^20 rows). The first failed batch is the error.
pub(crate) fn write_parquet(
    path: &Path,
    schema: Arc<Schema>,
    batches: Vec<Result<RecordBatch, IoError>>,
) -> Result<(), IoError> {
    use parquet::arrow::ArrowWriter;
    use parquet::basic::Compression;
    use parquet::file::properties::WriterProperties;
    let file = std::fs::File::create(path).map_err(|e| IoError::io(path, e))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(1 << 20))
        .build();
    let mut w = ArrowWriter::try_new(
        std::io::BufWriter::with_capacity(1 << 22, file),
        schema,
        Some(props),
    )
    .map_err(|e| write_err(path, e))?;
    for b in batches {
        w.write(&b?).map_err(|e| write_err(path, e))?;
    }
    w.into_inner()
        .map_err(|e| write_err(path, e))?
        .flush()
        .map_err(|e| IoError::io(path, e))?;
    Ok(())
}

/// `accounts.parquet`, built in record batches (in parallel) and written with Snappy.
pub fn write_accounts_parquet(
    path: &Path,
    p: &Portfolio,
    states: &[AccountState],
    order: &[u32],
    as_of: Date,
    config: &Config,
) -> Result<(), IoError> {
    let schema = Arc::new(accounts_schema());
    let as_of_day = epoch_day(as_of);
    let batches: Vec<Result<RecordBatch, IoError>> = order
        .par_chunks(PARQUET_BATCH)
        .map(|chunk| {
            let rows = || {
                chunk
                    .iter()
                    .map(|&i| (&p.loans[i as usize], &states[i as usize]))
            };
            let ints = |f: fn(&AccountState) -> i64| -> ArrayRef {
                Arc::new(Int64Array::from_iter_values(rows().map(|(_, s)| f(s))))
            };
            let names = |bands: &arrears_domain::Bands, f: fn(&AccountState) -> u16| -> ArrayRef {
                Arc::new(StringArray::from_iter_values(
                    rows().map(|(_, s)| bands.name(usize::from(f(s)))),
                ))
            };
            let dates = |f: fn(&AccountState) -> Option<Date>| -> ArrayRef {
                Arc::new(Date32Array::from_iter(
                    rows().map(|(_, s)| f(s).map(epoch_day)),
                ))
            };
            let cols: Vec<ArrayRef> = vec![
                Arc::new(StringArray::from_iter_values(
                    rows().map(|(l, _)| l.id.as_str()),
                )),
                Arc::new(StringArray::from_iter_values(rows().map(|(l, _)| {
                    p.borrower_of(l).map(|b| b.id.as_str()).unwrap_or("")
                }))),
                Arc::new(Date32Array::from_iter_values(rows().map(|_| as_of_day))),
                Arc::new(StringArray::from_iter_values(
                    rows().map(|(_, s)| s.status.code()),
                )),
                ints(|s| i64::from(s.dpd)),
                names(&config.buckets, |s| s.bucket),
                names(&config.stages, |s| s.stage),
                ints(|s| s.due_to_date_minor),
                ints(|s| s.paid_minor),
                ints(|s| s.overdue_minor),
                ints(|s| s.overdue_fee_minor),
                ints(|s| s.overdue_interest_minor),
                ints(|s| s.overdue_principal_minor),
                ints(|s| s.outstanding_principal_minor),
                ints(|s| s.penalty_accrued_minor),
                ints(|s| s.penalty_paid_minor),
                Arc::new(BooleanArray::from_iter(
                    rows().map(|(_, s)| Some(s.penalty_rate_capped)),
                )),
                ints(|s| s.credit_minor),
                dates(|s| s.oldest_unpaid_due_date),
                dates(|s| s.last_payment_date),
            ];
            RecordBatch::try_new(schema.clone(), cols).map_err(|e| write_err(path, e))
        })
        .collect();
    write_parquet(path, schema, batches)
}

/// `rejects.csv`: file, line, column, severity, reason, detail.
pub fn write_rejects(path: &Path, read: &ReadOutcome) -> Result<(), IoError> {
    write_rejects_with(path, read, std::iter::empty())
}

/// `rejects.csv` with more rows of the same six columns after the read's own (an import's
/// conflicts).
pub fn write_rejects_with(
    path: &Path,
    read: &ReadOutcome,
    extra: impl IntoIterator<Item = [String; 6]>,
) -> Result<(), IoError> {
    let file = std::fs::File::create(path).map_err(|e| IoError::io(path, e))?;
    let mut w = csv::Writer::from_writer(std::io::BufWriter::new(file));
    let err = |e: csv::Error| write_err(path, e);
    w.write_record(["file", "line", "column", "severity", "reason", "detail"])
        .map_err(err)?;
    for r in &read.rejects {
        w.write_record([
            read.file_of(r.at.table).as_str(),
            &r.at.line.to_string(),
            r.column,
            r.severity.code(),
            r.reason.code(),
            &r.detail,
        ])
        .map_err(err)?;
    }
    for row in extra {
        w.write_record(&row).map_err(err)?;
    }
    w.flush().map_err(|e| IoError::io(path, e))?;
    Ok(())
}

/// Rows read, rejected and warned per table, and rejected rows by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RejectCounts {
    pub read: BTreeMap<&'static str, u64>,
    pub rejected: BTreeMap<&'static str, u64>,
    pub warnings: BTreeMap<&'static str, u64>,
    pub by_reason: BTreeMap<&'static str, u64>,
}

pub fn count_rejects(read: &ReadOutcome) -> RejectCounts {
    let mut c = RejectCounts::default();
    for t in Table::ALL {
        if read.files.iter().any(|f| f.table == t) {
            c.read
                .insert(t.name(), read.portfolio.rows_read[t as usize]);
            c.rejected.insert(t.name(), 0);
        }
    }
    for r in &read.rejects {
        match r.severity {
            Severity::Error => {
                *c.rejected.entry(r.at.table.name()).or_default() += 1;
                *c.by_reason.entry(r.reason.code()).or_default() += 1;
            }
            Severity::Warning => *c.warnings.entry(r.at.table.name()).or_default() += 1,
        }
    }
    c
}

fn band_json(b: &arrears_engine::BandTotals) -> serde_json::Value {
    serde_json::json!({
        "name": b.name,
        "loans": b.loans,
        "by_currency": currency_json(&b.by_currency),
    })
}

fn currency_json(
    m: &BTreeMap<arrears_domain::Currency, arrears_engine::CurrencyTotals>,
) -> serde_json::Value {
    // i128 sums are written as JSON numbers when they fit in i64 (always, in practice).
    let n = |v: i128| {
        i64::try_from(v)
            .map(serde_json::Value::from)
            .unwrap_or_else(|_| v.to_string().into())
    };
    m.iter()
        .map(|(cur, t)| {
            (
                cur.to_string(),
                serde_json::json!({
                    "loans": t.loans,
                    "overdue_minor": n(t.overdue_minor),
                    "outstanding_principal_minor": n(t.outstanding_principal_minor),
                    "penalty_accrued_minor": n(t.penalty_accrued_minor),
                    "paid_minor": n(t.paid_minor),
                }),
            )
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// The content of `summary.json`.
pub fn summary_json(
    as_of: Date,
    config: &Config,
    summary: &Summary,
    counts: &RejectCounts,
) -> serde_json::Value {
    let reasons: serde_json::Map<String, serde_json::Value> = Reason::ALL
        .iter()
        .map(|r| {
            (
                r.code().to_owned(),
                counts.by_reason.get(r.code()).copied().unwrap_or(0).into(),
            )
        })
        .collect();
    serde_json::json!({
        "as_of": as_of.to_string(),
        "business_timezone": config.business_tz.name(),
        "loans": summary.loans,
        "rows": {
            "read": counts.read,
            "rejected": counts.rejected,
            "warnings": counts.warnings,
        },
        "rejected_rows": counts.rejected.values().sum::<u64>(),
        "rejected_by_reason": reasons,
        "buckets": summary.buckets.iter().map(band_json).collect::<Vec<_>>(),
        "stages": summary.stages.iter().map(band_json).collect::<Vec<_>>(),
        "statuses": summary.statuses.iter().map(band_json).collect::<Vec<_>>(),
        "totals": currency_json(&summary.totals),
    })
}

pub fn write_json(path: &Path, v: &serde_json::Value) -> Result<(), IoError> {
    let text = serde_json::to_string_pretty(v).map_err(|e| write_err(path, e))?;
    std::fs::write(path, text + "\n").map_err(|e| IoError::io(path, e))
}

/// Reject records as plain sentences, for a terminal.
pub fn describe(read: &ReadOutcome, r: &Reject) -> String {
    format!(
        "{} {} {}, column {}: {} ({})",
        read.file_of(r.at.table),
        if read
            .files
            .iter()
            .any(|f| f.table == r.at.table && f.format == crate::Format::Parquet)
        {
            "row"
        } else {
            "line"
        },
        r.at.line,
        r.column,
        r.detail,
        r.reason
    )
}
