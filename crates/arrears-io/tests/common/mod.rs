//! Helpers shared by the integration tests: Parquet files made from CSV text.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)] // test code

use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema};
use jiff::civil::Date;
use std::path::Path;
use std::sync::Arc;

/// Writes `path` as a Parquet file with the columns of `header` (comma separated) and the
/// given CSV `rows` (no quoting), each column of the type in `types`, one letter a column:
/// `S` string, `I` int64, `D` date32, `T` timestamp (microseconds, UTC), `B` bool. Empty
/// cells are nulls. A cell its type cannot hold becomes a null, except a date, which becomes
/// a date32 no calendar holds (so that the reader has a bad value to reject).
pub fn write_parquet(path: &Path, header: &str, types: &str, rows: &[&str]) {
    let names: Vec<&str> = header.split(',').collect();
    assert_eq!(names.len(), types.len(), "{header} / {types}");
    let rows: Vec<Vec<&str>> = rows.iter().map(|r| r.split(',').collect()).collect();
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for (i, (name, ty)) in names.iter().zip(types.chars()).enumerate() {
        let cells: Vec<Option<&str>> = rows
            .iter()
            .map(|r| r.get(i).copied().filter(|s| !s.is_empty()))
            .collect();
        let a: ArrayRef = match ty {
            'S' => Arc::new(StringArray::from(cells)),
            'I' => Arc::new(Int64Array::from(
                cells
                    .iter()
                    .map(|s| s.and_then(|s| s.parse::<i64>().ok()))
                    .collect::<Vec<_>>(),
            )),
            'D' => Arc::new(Date32Array::from(
                cells
                    .iter()
                    .map(|s| {
                        s.map(|s| match s.parse::<Date>() {
                            Ok(d) => arrears_engine::epoch_day(d),
                            Err(_) => i32::MAX,
                        })
                    })
                    .collect::<Vec<_>>(),
            )),
            'T' => Arc::new(
                TimestampMicrosecondArray::from(
                    cells
                        .iter()
                        .map(|s| {
                            s.and_then(|s| {
                                arrears_domain::parse::timestamp("t", s)
                                    .ok()
                                    .map(|t| t.as_microsecond())
                            })
                        })
                        .collect::<Vec<_>>(),
                )
                .with_timezone("UTC"),
            ),
            'B' => Arc::new(BooleanArray::from(
                cells
                    .iter()
                    .map(|s| match *s {
                        Some("true") => Some(true),
                        Some("false") => Some(false),
                        _ => None,
                    })
                    .collect::<Vec<_>>(),
            )),
            other => panic!("type {other}"),
        };
        let dt: DataType = a.data_type().clone();
        fields.push(Field::new(*name, dt, true));
        arrays.push(a);
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), arrays).unwrap();
    let f = std::fs::File::create(path).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(f, schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}
