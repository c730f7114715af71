//! One row of an input table, whatever the file format: typed cell access by column spec,
//! with CSV text parsed strictly and Parquet values taken from their Arrow arrays.

use arrears_domain::parse;
use arrears_domain::{FieldError, Reason};
use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Date32Array, Int32Array, Int64Array};
use arrow::datatypes::{DataType, TimeUnit};
use jiff::Timestamp;
use jiff::civil::Date;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Str,
    Int,
    Date,
    Ts,
    Bool,
}

impl Kind {
    pub(crate) fn parquet_name(self) -> &'static str {
        match self {
            Kind::Str => "string",
            Kind::Int => "int64",
            Kind::Date => "date32",
            Kind::Ts => "timestamp (UTC-adjusted)",
            Kind::Bool => "bool",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct ColSpec {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
}

pub(crate) const fn req(name: &'static str, kind: Kind) -> ColSpec {
    ColSpec {
        name,
        kind,
        required: true,
    }
}

pub(crate) const fn opt(name: &'static str, kind: Kind) -> ColSpec {
    ColSpec {
        name,
        kind,
        required: false,
    }
}

/// Typed access to the cells of one row. `Ok(None)` is an empty or null cell (or a column
/// the file does not have); `Err` a cell that is there but cannot be read as its type.
pub(crate) trait Row {
    fn text(&self, c: usize) -> Result<Option<&str>, FieldError>;
    fn int(&self, c: usize) -> Result<Option<i64>, FieldError>;
    fn date(&self, c: usize) -> Result<Option<Date>, FieldError>;
    fn ts(&self, c: usize) -> Result<Option<Timestamp>, FieldError>;
    fn boolean(&self, c: usize) -> Result<Option<bool>, FieldError>;
    fn spec(&self, c: usize) -> &ColSpec;

    /// A required cell: empty is `missing_value`.
    fn need<T>(
        &self,
        c: usize,
        get: impl Fn(&Self, usize) -> Result<Option<T>, FieldError>,
    ) -> Result<T, FieldError> {
        get(self, c)?.ok_or_else(|| {
            FieldError::new(
                self.spec(c).name,
                Reason::MissingValue,
                "required value is empty",
            )
        })
    }
}

/// A CSV record with the positions of the table's columns in it.
pub(crate) struct CsvRow<'a> {
    pub rec: &'a csv::ByteRecord,
    pub pos: &'a [Option<usize>],
    pub specs: &'a [ColSpec],
}

impl CsvRow<'_> {
    fn raw(&self, c: usize) -> Result<Option<&str>, FieldError> {
        let Some(Some(p)) = self.pos.get(c) else {
            return Ok(None);
        };
        match self.rec.get(*p) {
            None | Some(b"") => Ok(None),
            Some(b) => std::str::from_utf8(b).map(Some).map_err(|_| {
                FieldError::new(self.specs[c].name, Reason::InvalidValue, "not valid UTF-8")
            }),
        }
    }
}

impl Row for CsvRow<'_> {
    fn text(&self, c: usize) -> Result<Option<&str>, FieldError> {
        self.raw(c)
    }
    fn int(&self, c: usize) -> Result<Option<i64>, FieldError> {
        self.raw(c)?
            .map(|s| parse::integer(self.specs[c].name, s))
            .transpose()
    }
    fn date(&self, c: usize) -> Result<Option<Date>, FieldError> {
        self.raw(c)?
            .map(|s| parse::date(self.specs[c].name, s))
            .transpose()
    }
    fn ts(&self, c: usize) -> Result<Option<Timestamp>, FieldError> {
        self.raw(c)?
            .map(|s| parse::timestamp(self.specs[c].name, s))
            .transpose()
    }
    fn boolean(&self, c: usize) -> Result<Option<bool>, FieldError> {
        self.raw(c)?
            .map(|s| parse::boolean(self.specs[c].name, s))
            .transpose()
    }
    fn spec(&self, c: usize) -> &ColSpec {
        &self.specs[c]
    }
}

/// A column of a Parquet record batch, checked against its spec's type once per batch.
pub(crate) enum PqCol {
    Absent,
    Str(ArrayRef),
    Int64(Int64Array),
    Int32(Int32Array),
    Date(Date32Array),
    Ts(ArrayRef, TimeUnit),
    Bool(BooleanArray),
}

impl PqCol {
    /// `Err(found type)` when the column's type does not fit the spec.
    pub(crate) fn new(spec: &ColSpec, a: Option<&ArrayRef>) -> Result<PqCol, String> {
        let Some(a) = a else { return Ok(PqCol::Absent) };
        let dt = a.data_type();
        let col = match (spec.kind, dt) {
            (_, DataType::Null) => PqCol::Absent,
            (Kind::Str, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) => {
                PqCol::Str(a.clone())
            }
            (Kind::Int, DataType::Int64) => PqCol::Int64(a.as_primitive().clone()),
            (Kind::Int, DataType::Int32) => PqCol::Int32(a.as_primitive().clone()),
            (Kind::Date, DataType::Date32) => PqCol::Date(a.as_primitive().clone()),
            // Any zone annotation means the values are UTC instants (Parquet isAdjustedToUTC);
            // only a timestamp without one (local wall time) is refused.
            (Kind::Ts, DataType::Timestamp(unit, Some(_))) => PqCol::Ts(a.clone(), *unit),
            (Kind::Str, DataType::Dictionary(_, v))
                if matches!(**v, DataType::Utf8 | DataType::LargeUtf8) =>
            {
                PqCol::Str(arrow::compute::cast(a, &DataType::Utf8).map_err(|e| e.to_string())?)
            }
            (Kind::Bool, DataType::Boolean) => PqCol::Bool(a.as_boolean().clone()),
            _ => return Err(dt.to_string()),
        };
        Ok(col)
    }
}

pub(crate) struct PqRow<'a> {
    pub cols: &'a [PqCol],
    pub specs: &'a [ColSpec],
    pub row: usize,
}

impl PqRow<'_> {
    fn col(&self, c: usize) -> Option<&PqCol> {
        match self.cols.get(c) {
            Some(PqCol::Absent) | None => None,
            Some(col) => Some(col),
        }
    }
}

impl Row for PqRow<'_> {
    fn text(&self, c: usize) -> Result<Option<&str>, FieldError> {
        let i = self.row;
        let Some(PqCol::Str(a)) = self.col(c) else {
            return Ok(None);
        };
        if a.is_null(i) {
            return Ok(None);
        }
        let s = match a.data_type() {
            DataType::Utf8 => a.as_string::<i32>().value(i),
            DataType::LargeUtf8 => a.as_string::<i64>().value(i),
            _ => a.as_string_view().value(i),
        };
        Ok(if s.is_empty() { None } else { Some(s) })
    }
    fn int(&self, c: usize) -> Result<Option<i64>, FieldError> {
        let i = self.row;
        Ok(match self.col(c) {
            Some(PqCol::Int64(a)) if a.is_valid(i) => Some(a.value(i)),
            Some(PqCol::Int32(a)) if a.is_valid(i) => Some(i64::from(a.value(i))),
            _ => None,
        })
    }
    fn date(&self, c: usize) -> Result<Option<Date>, FieldError> {
        let i = self.row;
        match self.col(c) {
            Some(PqCol::Date(a)) if a.is_valid(i) => {
                let days = a.value(i);
                // jiff dates span years -9999..=9999.
                if !(-4_371_587..=2_932_896).contains(&days) {
                    return Err(FieldError::new(
                        self.specs[c].name,
                        Reason::InvalidValue,
                        format!("date32 {days} is out of range"),
                    ));
                }
                Ok(Some(arrears_engine::date_from_epoch_day(days)))
            }
            _ => Ok(None),
        }
    }
    fn ts(&self, c: usize) -> Result<Option<Timestamp>, FieldError> {
        let i = self.row;
        let Some(PqCol::Ts(a, unit)) = self.col(c) else {
            return Ok(None);
        };
        if a.is_null(i) {
            return Ok(None);
        }
        use arrow::datatypes::{
            TimestampMicrosecondType as Us, TimestampMillisecondType as Ms,
            TimestampNanosecondType as Ns, TimestampSecondType as S,
        };
        let (secs, nanos) = match unit {
            TimeUnit::Second => (a.as_primitive::<S>().value(i), 0),
            TimeUnit::Millisecond => {
                let v = a.as_primitive::<Ms>().value(i);
                (v.div_euclid(1_000), v.rem_euclid(1_000) * 1_000_000)
            }
            TimeUnit::Microsecond => {
                let v = a.as_primitive::<Us>().value(i);
                (v.div_euclid(1_000_000), v.rem_euclid(1_000_000) * 1_000)
            }
            TimeUnit::Nanosecond => {
                let v = a.as_primitive::<Ns>().value(i);
                (v.div_euclid(1_000_000_000), v.rem_euclid(1_000_000_000))
            }
        };
        // Proven: rem_euclid results are below 10^9. To the microsecond, as the stores keep it.
        let nanos = nanos - nanos.rem_euclid(1_000);
        Timestamp::new(secs, nanos as i32).map(Some).map_err(|_| {
            FieldError::new(
                self.specs[c].name,
                Reason::InvalidValue,
                "timestamp out of range",
            )
        })
    }
    fn boolean(&self, c: usize) -> Result<Option<bool>, FieldError> {
        let i = self.row;
        Ok(match self.col(c) {
            Some(PqCol::Bool(a)) if a.is_valid(i) => Some(a.value(i)),
            _ => None,
        })
    }
    fn spec(&self, c: usize) -> &ColSpec {
        &self.specs[c]
    }
}

/// A CSV file read through unchanged, noting its line ends, so that a record's line is the
/// line its first character is on (the header is line 1), with LF, CRLF and a bare CR each
/// ending a line. The csv crate's own `Position::line` counts LFs before the point where it
/// started looking for the record, which is before the previous record's terminator is
/// consumed: every row of a CRLF file came out one line early (the first on the header's
/// line), a row after a blank line one line early, and every row of a file with CR line ends
/// (the old Mac "CSV" of spreadsheets) on line 1.
#[derive(Debug)]
pub(crate) struct LineEnds<R> {
    inner: R,
    /// Bytes read so far.
    offset: u64,
    /// A CR that ended the last read: it ends a line unless the next byte is LF.
    pending: Option<u64>,
    /// Every CR and LF not yet behind the last record asked about, in file order, with
    /// whether it ends a line (the CR of a CRLF does not; its LF does).
    ends: std::collections::VecDeque<(u64, bool)>,
    /// Lines ended behind it.
    lines: u64,
}

impl<R> LineEnds<R> {
    pub(crate) fn new(inner: R) -> Self {
        LineEnds {
            inner,
            offset: 0,
            pending: None,
            ends: std::collections::VecDeque::new(),
            lines: 0,
        }
    }

    /// The line a record starts on. Records must be asked about in file order, once read.
    pub(crate) fn line(&mut self, pos: &csv::Position) -> u64 {
        // csv's position is where it began looking for the record: the line ends there and
        // just after it (what is left of the previous terminator, blank lines) come before
        // the record's first character, which is never a CR or LF.
        let mut at = pos.byte();
        while let Some(&(o, ends)) = self.ends.front() {
            if o > at {
                break;
            }
            if o == at {
                at += 1;
            }
            self.ends.pop_front();
            self.lines += u64::from(ends);
        }
        1 + self.lines
    }
}

impl<R: std::io::Read> std::io::Read for LineEnds<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let chunk = &buf[..n];
        if let Some(at) = self.pending.take() {
            self.ends.push_back((at, chunk.first() != Some(&b'\n')));
        }
        for (i, &b) in chunk.iter().enumerate() {
            let at = self.offset + i as u64;
            match (b, chunk.get(i + 1)) {
                (b'\n', _) => self.ends.push_back((at, true)),
                (b'\r', Some(next)) => self.ends.push_back((at, *next != b'\n')),
                (b'\r', None) => self.pending = Some(at),
                _ => {}
            }
        }
        self.offset += n as u64;
        Ok(n)
    }
}
