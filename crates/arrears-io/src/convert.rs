//! `arrears convert`: a CSV portfolio to Parquet with the spec's column types (string,
//! int64, date32, UTC timestamp in microseconds, bool). A cell that its type cannot hold
//! stops the conversion with its file, line and column: converting never drops or guesses.

use crate::IoError;
use crate::read::{Format, locate_tables};
use crate::source::{ColSpec, CsvRow, Kind, Row};
use arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Int64Builder, RecordBatch, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use std::path::Path;
use std::sync::Arc;

enum Builder {
    Str(StringBuilder),
    Int(Int64Builder),
    Date(Date32Builder),
    Ts(TimestampMicrosecondBuilder),
    Bool(BooleanBuilder),
}

/// Converts every CSV table of `src` into `out/NAME.parquet`; returns the tables converted.
pub fn csv_to_parquet(src: &Path, out: &Path) -> Result<Vec<&'static str>, IoError> {
    std::fs::create_dir_all(out).map_err(|e| IoError::io(out, e))?;
    let mut done = Vec::new();
    for f in locate_tables(src)? {
        if f.format != Format::Csv {
            continue;
        }
        let specs = crate::read::columns(f.table);
        let mut rdr = csv::ReaderBuilder::new()
            .flexible(true)
            .from_path(&f.path)
            .map_err(|e| IoError::Csv {
                path: f.path.clone(),
                reason: e.to_string(),
            })?;
        let csv_err = |e: csv::Error| IoError::Csv {
            path: f.path.clone(),
            reason: e.to_string(),
        };
        let names: Vec<String> = rdr
            .byte_headers()
            .map_err(csv_err)?
            .iter()
            .map(|h| {
                String::from_utf8_lossy(h)
                    .trim_start_matches('\u{feff}')
                    .to_owned()
            })
            .collect();
        let pos: Vec<Option<usize>> = specs
            .iter()
            .map(|s| names.iter().position(|n| n == s.name))
            .collect();
        let present: Vec<(usize, &ColSpec)> = specs
            .iter()
            .enumerate()
            .filter(|(i, _)| pos[*i].is_some())
            .collect();
        let mut builders: Vec<Builder> = present
            .iter()
            .map(|(_, s)| match s.kind {
                Kind::Str => Builder::Str(StringBuilder::new()),
                Kind::Int => Builder::Int(Int64Builder::new()),
                Kind::Date => Builder::Date(Date32Builder::new()),
                Kind::Ts => Builder::Ts(TimestampMicrosecondBuilder::new().with_timezone("UTC")),
                Kind::Bool => Builder::Bool(BooleanBuilder::new()),
            })
            .collect();
        let mut rec = csv::ByteRecord::new();
        while rdr.read_byte_record(&mut rec).map_err(csv_err)? {
            let line = rec.position().map_or(0, |p| p.line());
            let row = CsvRow {
                rec: &rec,
                pos: &pos,
                specs,
            };
            for ((c, spec), b) in present.iter().zip(builders.iter_mut()) {
                let bad = |e: arrears_domain::FieldError| IoError::Csv {
                    path: f.path.clone(),
                    reason: format!(
                        "line {line}, column {}: {} cannot be converted to Parquet",
                        spec.name, e.detail
                    ),
                };
                match b {
                    Builder::Str(b) => b.append_option(row.text(*c).map_err(bad)?),
                    Builder::Int(b) => b.append_option(row.int(*c).map_err(bad)?),
                    Builder::Date(b) => {
                        b.append_option(row.date(*c).map_err(bad)?.map(arrears_engine::epoch_day))
                    }
                    Builder::Ts(b) => {
                        b.append_option(row.ts(*c).map_err(bad)?.map(|t| t.as_microsecond()))
                    }
                    Builder::Bool(b) => b.append_option(row.boolean(*c).map_err(bad)?),
                }
            }
        }
        let fields: Vec<Field> = present
            .iter()
            .map(|(_, s)| {
                let dt = match s.kind {
                    Kind::Str => DataType::Utf8,
                    Kind::Int => DataType::Int64,
                    Kind::Date => DataType::Date32,
                    Kind::Ts => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                    Kind::Bool => DataType::Boolean,
                };
                Field::new(s.name, dt, true)
            })
            .collect();
        let arrays: Vec<ArrayRef> = builders
            .iter_mut()
            .map(|b| -> ArrayRef {
                match b {
                    Builder::Str(b) => Arc::new(b.finish()),
                    Builder::Int(b) => Arc::new(b.finish()),
                    Builder::Date(b) => Arc::new(b.finish()),
                    Builder::Ts(b) => Arc::new(b.finish()),
                    Builder::Bool(b) => Arc::new(b.finish()),
                }
            })
            .collect();
        let path = out.join(format!("{}.parquet", f.table.name()));
        let werr = |e: &dyn std::fmt::Display| IoError::Write {
            path: path.clone(),
            reason: e.to_string(),
        };
        let schema = Arc::new(Schema::new(fields));
        let batch = RecordBatch::try_new(schema.clone(), arrays).map_err(|e| werr(&e))?;
        let file = std::fs::File::create(&path).map_err(|e| IoError::io(&path, e))?;
        let mut w =
            parquet::arrow::ArrowWriter::try_new(file, schema, None).map_err(|e| werr(&e))?;
        w.write(&batch).map_err(|e| werr(&e))?;
        w.close().map_err(|e| werr(&e))?;
        done.push(f.table.name());
    }
    Ok(done)
}
