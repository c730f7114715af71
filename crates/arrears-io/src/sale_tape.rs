//! Debt-sale files (`docs/sale.md`): the sale tape as `sale_tape.csv` / `sale_tape.parquet`
//! (one row per loan, `loan_id` order, built by `arrears_engine::sale::build_tape`), reading
//! a tape's loan ids back to record a sale, and appending a recorded sale to a portfolio
//! folder's `sales.csv` (the file mode's lifecycle table the plan honours).

use crate::IoError;
use crate::write::{PARQUET_BATCH, write_err, write_parquet};
use arrears_domain::lifecycle::{NOTICE_KINDS, SaleRow};
use arrears_domain::{Config, Portfolio};
use arrears_engine::epoch_day;
use arrears_engine::sale::TapeRow;
use arrow::array::{Array, ArrayRef, Date32Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use jiff::civil::Date;
use rayon::prelude::*;
use std::path::Path;
use std::sync::Arc;

/// The columns of the sale tape, in order. `notices_<kind>` counts the notices of that kind
/// on record (`NOTICE_KINDS` order).
pub const TAPE_COLUMNS: [&str; 25] = [
    "loan_id",
    "borrower_id",
    "as_of",
    "currency",
    "jurisdiction",
    "status",
    "dpd",
    "bucket",
    "stage",
    "principal_minor",
    "interest_minor",
    "fee_minor",
    "penalty_minor",
    "outstanding_minor",
    "payments",
    "payments_minor",
    "last_payment_date",
    "contacts",
    "last_contact_at",
    "notices_validation",
    "notices_agency_placement",
    "notices_credit_reporting",
    "notices_forbearance_offer",
    "notices_assignment",
    "notices_legal_action",
];

const _: () = assert!(NOTICE_KINDS.len() == 6);

fn ints(r: &TapeRow) -> [i64; 6] {
    [
        i64::from(r.dpd),
        r.principal_minor,
        r.interest_minor,
        r.fee_minor,
        r.penalty_minor,
        r.outstanding_minor,
    ]
}

/// `sale_tape.csv`.
pub fn write_tape_csv(
    path: &Path,
    p: &Portfolio,
    rows: &[TapeRow],
    as_of: Date,
    config: &Config,
) -> Result<(), IoError> {
    let file = std::fs::File::create(path).map_err(|e| IoError::io(path, e))?;
    let mut w =
        csv::WriterBuilder::new().from_writer(std::io::BufWriter::with_capacity(1 << 20, file));
    w.write_record(TAPE_COLUMNS)
        .map_err(|e| write_err(path, e))?;
    let as_of = as_of.to_string();
    let mut ib = itoa::Buffer::new();
    let mut rec = csv::ByteRecord::new();
    for r in rows {
        let l = &p.loans[r.loan as usize];
        let b = p.borrower_of(l);
        rec.clear();
        rec.push_field(l.id.as_str().as_bytes());
        rec.push_field(b.map(|b| b.id.as_str()).unwrap_or("").as_bytes());
        rec.push_field(as_of.as_bytes());
        rec.push_field(l.currency.as_str().as_bytes());
        rec.push_field(b.map(|b| b.jurisdiction.as_str()).unwrap_or("").as_bytes());
        rec.push_field(r.status.code().as_bytes());
        let n = ints(r);
        rec.push_field(ib.format(n[0]).as_bytes());
        rec.push_field(config.buckets.name(usize::from(r.bucket)).as_bytes());
        rec.push_field(config.stages.name(usize::from(r.stage)).as_bytes());
        for v in &n[1..6] {
            rec.push_field(ib.format(*v).as_bytes());
        }
        rec.push_field(ib.format(r.payments).as_bytes());
        rec.push_field(ib.format(r.payments_minor).as_bytes());
        let d = r
            .last_payment_date
            .map(|d| d.to_string())
            .unwrap_or_default();
        rec.push_field(d.as_bytes());
        rec.push_field(ib.format(r.contacts).as_bytes());
        let c = r.last_contact_at.map(|t| t.to_string()).unwrap_or_default();
        rec.push_field(c.as_bytes());
        for k in r.notices {
            rec.push_field(ib.format(k).as_bytes());
        }
        w.write_byte_record(&rec).map_err(|e| write_err(path, e))?;
    }
    w.flush().map_err(|e| IoError::io(path, e))?;
    Ok(())
}

/// The Arrow schema of `sale_tape.parquet`: strings, int64 amounts and counts, date32
/// dates, the last contact as RFC 3339 text (UTC).
pub fn tape_schema() -> Schema {
    let f = |name: &str, dt: DataType, nullable: bool| Field::new(name, dt, nullable);
    Schema::new(
        TAPE_COLUMNS
            .iter()
            .map(|&c| match c {
                "loan_id" | "borrower_id" | "currency" | "jurisdiction" | "status" | "bucket"
                | "stage" => f(c, DataType::Utf8, false),
                "as_of" => f(c, DataType::Date32, false),
                "last_payment_date" => f(c, DataType::Date32, true),
                "last_contact_at" => f(c, DataType::Utf8, true),
                _ => f(c, DataType::Int64, false),
            })
            .collect::<Vec<_>>(),
    )
}

/// `sale_tape.parquet`, record batches built in parallel, Snappy.
pub fn write_tape_parquet(
    path: &Path,
    p: &Portfolio,
    rows: &[TapeRow],
    as_of: Date,
    config: &Config,
) -> Result<(), IoError> {
    let schema = Arc::new(tape_schema());
    let as_of_day = epoch_day(as_of);
    let batches: Vec<Result<RecordBatch, IoError>> = rows
        .par_chunks(PARQUET_BATCH)
        .map(|chunk| {
            let loans = &p.loans;
            let int = |f: &dyn Fn(&TapeRow) -> i64| -> ArrayRef {
                Arc::new(Int64Array::from_iter_values(chunk.iter().map(f)))
            };
            let borrower = |r: &TapeRow| p.borrowers.get(loans[r.loan as usize].borrower as usize);
            let bands = |b: &arrears_domain::Bands, f: fn(&TapeRow) -> u16| -> ArrayRef {
                Arc::new(StringArray::from_iter_values(
                    chunk.iter().map(|r| b.name(usize::from(f(r)))),
                ))
            };
            let mut cols: Vec<ArrayRef> = vec![
                Arc::new(StringArray::from_iter_values(
                    chunk.iter().map(|r| loans[r.loan as usize].id.as_str()),
                )),
                Arc::new(StringArray::from_iter_values(
                    chunk
                        .iter()
                        .map(|r| borrower(r).map(|b| b.id.as_str()).unwrap_or("")),
                )),
                Arc::new(Date32Array::from_iter_values(
                    chunk.iter().map(|_| as_of_day),
                )),
                Arc::new(StringArray::from_iter_values(
                    chunk
                        .iter()
                        .map(|r| loans[r.loan as usize].currency.as_str()),
                )),
                Arc::new(StringArray::from_iter_values(chunk.iter().map(|r| {
                    borrower(r).map(|b| b.jurisdiction.as_str()).unwrap_or("")
                }))),
                Arc::new(StringArray::from_iter_values(
                    chunk.iter().map(|r| r.status.code()),
                )),
                int(&|r| i64::from(r.dpd)),
                bands(&config.buckets, |r| r.bucket),
                bands(&config.stages, |r| r.stage),
                int(&|r| r.principal_minor),
                int(&|r| r.interest_minor),
                int(&|r| r.fee_minor),
                int(&|r| r.penalty_minor),
                int(&|r| r.outstanding_minor),
                int(&|r| i64::from(r.payments)),
                int(&|r| r.payments_minor),
                Arc::new(Date32Array::from_iter(
                    chunk.iter().map(|r| r.last_payment_date.map(epoch_day)),
                )),
                int(&|r| i64::from(r.contacts)),
                Arc::new(StringArray::from_iter(
                    chunk
                        .iter()
                        .map(|r| r.last_contact_at.map(|t| t.to_string())),
                )),
            ];
            for k in 0..NOTICE_KINDS.len() {
                cols.push(int(&|r| i64::from(r.notices[k])));
            }
            RecordBatch::try_new(schema.clone(), cols).map_err(|e| write_err(path, e))
        })
        .collect();
    write_parquet(path, schema, batches)
}

/// The loan ids of a tape (`.csv` or `.parquet`, by extension), in file order. A row without
/// a loan id, or a loan id given twice, is an error naming its line (or row).
pub fn read_tape_loans(path: &Path) -> Result<Vec<String>, IoError> {
    let is_parquet = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"));
    let ids = if is_parquet {
        read_parquet_ids(path)?
    } else {
        read_csv_ids(path)?
    };
    let mut seen = std::collections::HashSet::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        let line = if is_parquet { i + 1 } else { i + 2 };
        let what = if is_parquet { "row" } else { "line" };
        if id.trim().is_empty() {
            return Err(IoError::Csv {
                path: path.to_owned(),
                reason: format!("{what} {line}, column loan_id: empty"),
            });
        }
        if !seen.insert(id.as_str()) {
            return Err(IoError::Csv {
                path: path.to_owned(),
                reason: format!("{what} {line}, column loan_id: {id:?} is on the tape twice"),
            });
        }
    }
    Ok(ids)
}

fn read_csv_ids(path: &Path) -> Result<Vec<String>, IoError> {
    let err = |reason: String| IoError::Csv {
        path: path.to_owned(),
        reason,
    };
    let mut r = csv::Reader::from_path(path).map_err(|e| err(e.to_string()))?;
    let headers = r.headers().map_err(|e| err(e.to_string()))?.clone();
    let col =
        headers
            .iter()
            .position(|h| h == "loan_id")
            .ok_or_else(|| IoError::MissingColumn {
                path: path.to_owned(),
                column: "loan_id",
            })?;
    let mut out = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let rec = rec.map_err(|e| err(format!("line {}: {e}", i + 2)))?;
        out.push(rec.get(col).unwrap_or("").to_owned());
    }
    Ok(out)
}

fn read_parquet_ids(path: &Path) -> Result<Vec<String>, IoError> {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let err = |reason: String| IoError::Parquet {
        path: path.to_owned(),
        reason,
    };
    let file = std::fs::File::open(path).map_err(|e| IoError::io(path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| err(e.to_string()))?;
    let col = builder
        .schema()
        .index_of("loan_id")
        .map_err(|_| IoError::MissingColumn {
            path: path.to_owned(),
            column: "loan_id",
        })?;
    let reader = builder.build().map_err(|e| err(e.to_string()))?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| err(e.to_string()))?;
        let a = batch
            .column(col)
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| err("column loan_id is not text".into()))?;
        for i in 0..a.len() {
            out.push(if a.is_null(i) {
                String::new()
            } else {
                a.value(i).to_owned()
            });
        }
    }
    Ok(out)
}

/// Appends `rows` to `dir/sales.csv` (written with its header when absent). A folder with
/// `sales.parquet` is refused: the file mode keeps one file per table.
pub fn append_sales_csv(dir: &Path, rows: &[SaleRow]) -> Result<(), IoError> {
    if dir.join("sales.parquet").exists() {
        return Err(IoError::AmbiguousTable {
            path: dir.to_owned(),
            table: "sales",
        });
    }
    let path = dir.join("sales.csv");
    let fresh = !path.exists() || std::fs::metadata(&path).is_ok_and(|m| m.len() == 0);
    if !fresh {
        let mut r = csv::Reader::from_path(&path).map_err(|e| IoError::Csv {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let h = r.headers().map_err(|e| IoError::Csv {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        if h.iter().collect::<Vec<_>>() != ["sale_id", "loan_id", "buyer", "sold_at"] {
            return Err(IoError::Csv {
                path: path.clone(),
                reason: "its header is not sale_id,loan_id,buyer,sold_at; not appended to".into(),
            });
        }
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| IoError::io(&path, e))?;
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(std::io::BufWriter::new(file));
    if fresh {
        w.write_record(["sale_id", "loan_id", "buyer", "sold_at"])
            .map_err(|e| write_err(&path, e))?;
    }
    for r in rows {
        w.write_record([
            &*r.sale_id,
            r.loan_id.as_str(),
            &*r.buyer,
            r.sold_at.to_string().as_str(),
        ])
        .map_err(|e| write_err(&path, e))?;
    }
    let f = w.into_inner().map_err(|e| write_err(&path, e))?;
    let f = f.into_inner().map_err(|e| write_err(&path, e))?;
    f.sync_all().map_err(|e| IoError::io(&path, e))?;
    Ok(())
}

/// A plain CSV table: `header`, then one record per row (the priced loans of a sale).
pub fn write_rows_csv(
    path: &Path,
    header: &[&str],
    rows: impl IntoIterator<Item = Vec<String>>,
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
