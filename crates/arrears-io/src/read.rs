//! Reading a portfolio folder: each table from `NAME.csv` or `NAME.parquet`, each row parsed
//! into a typed row (in parallel, chunk by chunk) and handed to the `PortfolioBuilder` in
//! file order (sequentially, so "the first row in file order" is well defined).

use crate::IoError;
use crate::source::{ColSpec, CsvRow, Kind, LineEnds, PqCol, PqRow, Row, opt, req};
use arrears_domain::parse;
use arrears_domain::portfolio::{ContactRow, InstallmentRow, LoanRow, PaymentRow, PromiseRow};
use arrears_domain::types::{BorrowerId, LoanId};
use arrears_domain::{
    BorrowerRow, Bps, Claim, Currency, Duplicate, FieldError, Jurisdiction, LoanStatus, Minor,
    PaymentKind, Portfolio, PortfolioBuilder, Reason, Reject, RowRef, Table, TimeZoneName,
};
use rayon::prelude::*;
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Csv,
    Parquet,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Parquet => "parquet",
        }
    }
}

/// A table found in the portfolio folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableFile {
    pub table: Table,
    pub path: PathBuf,
    pub format: Format,
}

impl TableFile {
    pub fn file_name(&self) -> String {
        self.path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

#[derive(Debug)]
pub struct ReadOutcome {
    pub portfolio: Portfolio,
    /// Every rejected row and every warning, by table and line.
    pub rejects: Vec<Reject>,
    pub files: Vec<TableFile>,
}

impl ReadOutcome {
    /// The file a reject refers to, by name (`payments.csv`).
    pub fn file_of(&self, t: Table) -> String {
        self.files
            .iter()
            .find(|f| f.table == t)
            .map(TableFile::file_name)
            .unwrap_or_else(|| t.name().to_owned())
    }
}

/// Finds the tables of a portfolio folder.
pub fn locate_tables(dir: &Path) -> Result<Vec<TableFile>, IoError> {
    if !dir.is_dir() {
        return Err(IoError::io(
            dir,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such folder"),
        ));
    }
    let mut out = Vec::new();
    for table in Table::ALL {
        let csv = dir.join(format!("{}.csv", table.name()));
        let pq = dir.join(format!("{}.parquet", table.name()));
        match (csv.is_file(), pq.is_file()) {
            (true, true) => {
                return Err(IoError::AmbiguousTable {
                    path: dir.to_owned(),
                    table: table.name(),
                });
            }
            (true, false) => out.push(TableFile {
                table,
                path: csv,
                format: Format::Csv,
            }),
            (false, true) => out.push(TableFile {
                table,
                path: pq,
                format: Format::Parquet,
            }),
            (false, false) if table.required() => {
                return Err(IoError::MissingTable {
                    path: dir.to_owned(),
                    table: table.name(),
                });
            }
            (false, false) => {}
        }
    }
    Ok(out)
}

/// Reads and validates a whole portfolio. Bad rows become `Reject`s; only a file that cannot
/// be read at all (or lacks a required column) is an error. `progress(table, rows)` is
/// called as chunks are done.
pub fn read_portfolio(
    dir: &Path,
    progress: &(dyn Fn(Table, u64) + Sync),
) -> Result<ReadOutcome, IoError> {
    let files = locate_tables(dir)?;
    let mut b = PortfolioBuilder::new();
    for f in &files {
        match f.table {
            Table::Borrowers => scan(f, &Borrowers, &mut b, progress)?,
            Table::Loans => scan(f, &Loans, &mut b, progress)?,
            Table::Installments => scan(f, &Installments, &mut b, progress)?,
            Table::Payments => scan(f, &Payments, &mut b, progress)?,
            Table::Contacts => scan(f, &Contacts, &mut b, progress)?,
            Table::Promises => scan(f, &Promises, &mut b, progress)?,
        }
    }
    let (portfolio, rejects) = b.finish();
    Ok(ReadOutcome {
        portfolio,
        rejects,
        files,
    })
}

/// The columns the spec defines for a table.
pub(crate) fn columns(t: Table) -> &'static [ColSpec] {
    match t {
        Table::Borrowers => Borrowers::SPECS,
        Table::Loans => Loans::SPECS,
        Table::Installments => Installments::SPECS,
        Table::Payments => Payments::SPECS,
        Table::Contacts => Contacts::SPECS,
        Table::Promises => Promises::SPECS,
    }
}

/// How one table's rows are parsed (in parallel, read-only) and applied (in file order).
pub(crate) trait TableParse: Sync {
    type Out: Send;
    const SPECS: &'static [ColSpec];
    fn parse<R: Row>(&self, b: &PortfolioBuilder, r: &R) -> Self::Out;
    fn apply(&self, b: &mut PortfolioBuilder, at: RowRef, out: Self::Out);

    /// Tables with millions of ids claim a whole chunk at once (shard-parallel) before its
    /// rows are applied; `None` means rows claim one by one in `apply`.
    /// `outs[i]` is `None` for a row that is no row (a blank CSV line) or was refused before
    /// parsing (a wrong number of fields): it claims nothing.
    fn claim_chunk(
        &self,
        _b: &mut PortfolioBuilder,
        _outs: &[Option<&Self::Out>],
    ) -> Option<Vec<Option<Result<Claim, Duplicate>>>> {
        None
    }

    /// `apply` for a row whose id `claim_chunk` already claimed.
    fn apply_claimed(
        &self,
        b: &mut PortfolioBuilder,
        at: RowRef,
        out: Self::Out,
        _pre: Option<Result<Claim, Duplicate>>,
    ) {
        self.apply(b, at, out)
    }
}

const CHUNK_ROWS: usize = 65_536;

pub(crate) fn scan<P: TableParse>(
    f: &TableFile,
    p: &P,
    b: &mut PortfolioBuilder,
    progress: &(dyn Fn(Table, u64) + Sync),
) -> Result<(), IoError> {
    match f.format {
        Format::Csv => scan_csv(f, p, b, progress),
        Format::Parquet => scan_parquet(f, p, b, progress),
    }
}

fn scan_csv<P: TableParse>(
    f: &TableFile,
    p: &P,
    b: &mut PortfolioBuilder,
    progress: &(dyn Fn(Table, u64) + Sync),
) -> Result<(), IoError> {
    let file = std::fs::File::open(&f.path).map_err(|e| IoError::io(&f.path, e))?;
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .buffer_capacity(1 << 20)
        .from_reader(std::io::BufReader::with_capacity(
            1 << 20,
            LineEnds::new(file),
        ));
    let csv_err = |e: csv::Error| IoError::Csv {
        path: f.path.clone(),
        reason: e.to_string(),
    };
    let headers = rdr.byte_headers().map_err(csv_err)?.clone();
    let names: Vec<String> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let h = if i == 0 {
                h.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(h)
            } else {
                h
            };
            String::from_utf8_lossy(h).into_owned()
        })
        .collect();
    let pos = layout(&f.path, P::SPECS, &names)?;
    let width = names.len();
    let mut done = 0u64;
    // The records of a chunk are reused from chunk to chunk (a record per row would be two
    // allocations and two frees per row).
    let mut records: Vec<(u64, csv::ByteRecord)> = Vec::new();
    let file_bytes = std::fs::metadata(&f.path).map_or(0, |m| m.len());
    loop {
        let mut n = 0;
        while n < CHUNK_ROWS {
            if n == records.len() {
                records.push((0, csv::ByteRecord::new()));
            }
            let (line, rec) = &mut records[n];
            if !rdr.read_byte_record(rec).map_err(csv_err)? {
                break;
            }
            *line = rec
                .position()
                .map_or(0, |p| rdr.get_mut().get_mut().line(p));
            n += 1;
        }
        let chunk = &records[..n];
        if chunk.is_empty() {
            break;
        }
        if done == 0 && n == CHUNK_ROWS {
            // Room for the rows the rest of the file holds at the first chunk's bytes per
            // row, so that the id index and the row vectors do not grow by rehashing and
            // copying millions of entries as the read goes.
            let read = rdr.position().byte().max(1);
            let estimate = (file_bytes.saturating_mul(n as u64) / read) as usize;
            b.reserve(f.table, estimate.saturating_add(estimate / 16));
        }
        let shared: &PortfolioBuilder = b;
        let outs: Vec<Result<P::Out, FieldError>> = chunk
            .par_iter()
            .map(|(_, rec)| {
                if rec.len() != width && !(rec.len() == 1 && rec.get(0) == Some(b"")) {
                    return Err(FieldError::new(
                        P::SPECS[0].name,
                        Reason::InvalidValue,
                        format!(
                            "the row has {} fields but the header has {width}",
                            rec.len()
                        ),
                    ));
                }
                Ok(p.parse(
                    shared,
                    &CsvRow {
                        rec,
                        pos: &pos,
                        specs: P::SPECS,
                    },
                ))
            })
            .collect();
        // A blank line (a single empty field) is not a row.
        let blank = |rec: &csv::ByteRecord| rec.len() == 1 && rec.get(0) == Some(b"") && width > 1;
        // Tables with millions of ids claim the chunk's ids at once, shard-parallel, with the
        // result of claiming them one by one in file order (as the Parquet read does).
        let claimable: Vec<Option<&P::Out>> = chunk
            .iter()
            .zip(&outs)
            .map(|((_, rec), o)| if blank(rec) { None } else { o.as_ref().ok() })
            .collect();
        let claims = p.claim_chunk(b, &claimable);
        drop(claimable);
        for (i, ((line, rec), out)) in chunk.iter().zip(outs).enumerate() {
            if blank(rec) {
                continue;
            }
            let at = RowRef {
                table: f.table,
                line: *line,
            };
            match (out, &claims) {
                (Ok(o), Some(c)) => p.apply_claimed(b, at, o, c.get(i).copied().flatten()),
                (Ok(o), None) => p.apply(b, at, o),
                (Err(e), _) => b.reject(at, e),
            }
        }
        done += chunk.len() as u64;
        progress(f.table, done);
    }
    Ok(())
}

/// Positions of the spec's columns in a header; a missing required column is an error.
pub(crate) fn layout(
    path: &Path,
    specs: &[ColSpec],
    names: &[String],
) -> Result<Vec<Option<usize>>, IoError> {
    let mut seen = HashMap::new();
    for (i, n) in names.iter().enumerate() {
        if seen.insert(n.as_str(), i).is_some() && specs.iter().any(|s| s.name == n) {
            return Err(IoError::DuplicateColumn {
                path: path.to_owned(),
                column: n.clone(),
            });
        }
    }
    specs
        .iter()
        .map(|s| match names.iter().position(|n| n == s.name) {
            Some(i) => Ok(Some(i)),
            None if s.required => Err(IoError::MissingColumn {
                path: path.to_owned(),
                column: s.name,
            }),
            None => Ok(None),
        })
        .collect()
}

/// Runs a step of the Parquet decoder. arrow and parquet assert on some malformed files (a
/// run of definition levels longer than its buffer, found by fuzzing) instead of returning
/// an error; such a file is an error naming it, as any unreadable file is, not an abort.
pub(crate) fn decoding<T>(
    path: &Path,
    step: impl FnOnce() -> Result<T, IoError>,
) -> Result<T, IoError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(step)).unwrap_or_else(|payload| {
        let why = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(IoError::Parquet {
            path: path.to_owned(),
            reason: format!("the decoder failed on it: {why}"),
        })
    })
}

fn scan_parquet<P: TableParse>(
    f: &TableFile,
    p: &P,
    b: &mut PortfolioBuilder,
    progress: &(dyn Fn(Table, u64) + Sync),
) -> Result<(), IoError> {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let pq_err = |e: &dyn std::fmt::Display| IoError::Parquet {
        path: f.path.clone(),
        reason: e.to_string(),
    };
    let open = || -> Result<ParquetRecordBatchReaderBuilder<std::fs::File>, IoError> {
        let file = std::fs::File::open(&f.path).map_err(|e| IoError::io(&f.path, e))?;
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| pq_err(&e))
    };
    let first = decoding(&f.path, open)?;
    let names: Vec<String> = first
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    layout(&f.path, P::SPECS, &names)?;
    // Read only the columns the table uses.
    let wanted: Vec<usize> = P::SPECS
        .iter()
        .filter_map(|s| names.iter().position(|n| n == s.name))
        .collect();
    let groups = first.metadata().num_row_groups();
    let rows = usize::try_from(first.metadata().file_metadata().num_rows()).unwrap_or(0);
    b.reserve(f.table, rows);
    drop(first);
    // Row groups are decoded in parallel, a window at a time (bounded memory), then parsed
    // in parallel and applied in file order.
    let window = rayon::current_num_threads().max(1) * 2;
    let decode = |g: usize| -> Result<Vec<arrow::array::RecordBatch>, IoError> {
        decoding(&f.path, || {
            let builder = open()?;
            let mask =
                parquet::arrow::ProjectionMask::roots(builder.parquet_schema(), wanted.clone());
            let reader = builder
                .with_projection(mask)
                .with_row_groups(vec![g])
                .with_batch_size(CHUNK_ROWS)
                .build()
                .map_err(|e| pq_err(&e))?;
            reader.map(|b| b.map_err(|e| pq_err(&e))).collect()
        })
    };
    let mut row_no = 0u64;
    // Reused across batches: allocating and freeing tens of MB per batch costs more in page
    // faults than the parsing itself.
    let mut outs: Vec<P::Out> = Vec::with_capacity(CHUNK_ROWS);
    for start in (0..groups).step_by(window) {
        let decoded: Vec<Result<Vec<arrow::array::RecordBatch>, IoError>> = (start
            ..(start + window).min(groups))
            .into_par_iter()
            .map(decode)
            .collect();
        for batches in decoded {
            for batch in batches? {
                let cols: Vec<PqCol> = P::SPECS
                    .iter()
                    .map(|s| {
                        PqCol::new(s, batch.column_by_name(s.name)).map_err(|found| {
                            IoError::ColumnType {
                                path: f.path.clone(),
                                column: s.name,
                                found,
                                expected: s.kind.parquet_name(),
                            }
                        })
                    })
                    .collect::<Result<_, _>>()?;
                let shared: &PortfolioBuilder = b;
                outs.clear();
                outs.par_extend(
                    (0..batch.num_rows())
                        .into_par_iter()
                        .with_min_len(4096)
                        .map(|row| {
                            p.parse(
                                shared,
                                &PqRow {
                                    cols: &cols,
                                    specs: P::SPECS,
                                    row,
                                },
                            )
                        }),
                );
                let claimable: Vec<Option<&P::Out>> = outs.iter().map(Some).collect();
                let claims = p.claim_chunk(b, &claimable);
                drop(claimable);
                let first = row_no;
                row_no += outs.len() as u64;
                for (i, out) in outs.drain(..).enumerate() {
                    let at = RowRef {
                        table: f.table,
                        line: first + 1 + i as u64,
                    };
                    match &claims {
                        Some(c) => p.apply_claimed(b, at, out, c.get(i).copied().flatten()),
                        None => p.apply(b, at, out),
                    }
                }
                progress(f.table, row_no);
            }
        }
    }
    Ok(())
}

/// An optional cell: a malformed value is a warning and reads as empty.
fn optional<R: Row, T>(
    r: &R,
    c: usize,
    warnings: &mut Vec<FieldError>,
    f: impl Fn(&'static str, &str) -> Result<T, FieldError>,
) -> Option<T> {
    match r.text(c) {
        Ok(Some(s)) => match f(r.spec(c).name, s) {
            Ok(v) => Some(v),
            Err(e) => {
                warnings.push(e);
                None
            }
        },
        Ok(None) => None,
        Err(e) => {
            warnings.push(e);
            None
        }
    }
}

/// A field that moves money or protects a borrower (delinquency spec section 7, "Fail
/// safe"): empty is the default (`None`), but a malformed value rejects the row, because
/// reading it as empty would silently do harm.
fn guarded<R: Row, T>(
    r: &R,
    c: usize,
    f: impl Fn(&'static str, &str) -> Result<T, FieldError>,
) -> Result<Option<T>, FieldError> {
    r.text(c)?.map(|s| f(r.spec(c).name, s)).transpose()
}

/// A borrower protection flag: empty is false, anything but `true`/`false` rejects the row.
fn guarded_flag<R: Row>(r: &R, c: usize) -> Result<bool, FieldError> {
    Ok(r.boolean(c)?.unwrap_or(false))
}

thread_local! {
    static ZONES: RefCell<HashMap<String, TimeZoneName>> = RefCell::new(HashMap::new());
}

/// IANA zones, looked up once per thread and name.
fn zone(column: &'static str, s: &str) -> Result<TimeZoneName, FieldError> {
    ZONES.with(|z| {
        if let Some(t) = z.borrow().get(s) {
            return Ok(t.clone());
        }
        let t = TimeZoneName::parse(column, s)?;
        z.borrow_mut().insert(s.to_owned(), t.clone());
        Ok(t)
    })
}

fn text_of<R: Row>(r: &R, c: usize) -> Result<&str, FieldError> {
    r.text(c)?.ok_or_else(|| {
        FieldError::new(
            r.spec(c).name,
            Reason::MissingValue,
            "required value is empty",
        )
    })
}

/// Records a row's key problem, duplicate or field problem (in that order, the order the
/// rejection rules give) and returns the claim and the parsed row when there is none.
fn claimed<K: AsRef<str>, T>(
    b: &mut PortfolioBuilder,
    at: RowRef,
    key: Result<K, FieldError>,
    row: Result<T, FieldError>,
    claim: impl FnOnce(&mut PortfolioBuilder, RowRef, &str) -> Result<Claim, Duplicate>,
) -> Option<(Claim, T)> {
    let id = match key {
        Ok(id) => id,
        Err(e) => {
            b.reject(at, e);
            return None;
        }
    };
    let c = claim(b, at, id.as_ref()).ok()?;
    match row {
        Ok(r) => Some((c, r)),
        Err(e) => {
            b.reject(at, e);
            None
        }
    }
}

/// The claim step of `claimed` for a row whose id `claim_chunk` may already have claimed:
/// report a duplicate found there, or claim now with `fallback`.
fn preclaimed(
    pre: Option<Result<Claim, Duplicate>>,
    column: &'static str,
    fallback: fn(&mut PortfolioBuilder, RowRef, &str) -> Result<Claim, Duplicate>,
) -> impl FnOnce(&mut PortfolioBuilder, RowRef, &str) -> Result<Claim, Duplicate> {
    move |b, at, id| match pre {
        Some(Err(d)) => {
            b.duplicate(at, column, id);
            Err(d)
        }
        Some(Ok(c)) => Ok(c),
        None => fallback(b, at, id),
    }
}

/// Claims a chunk's ids in one shard-parallel batch (tables whose key is `Parsed::key`).
fn claim_keys<K: AsRef<str>, T>(
    b: &mut PortfolioBuilder,
    table: Table,
    outs: &[Option<&Parsed<K, T>>],
) -> Vec<Option<Result<Claim, Duplicate>>> {
    let ids: Vec<Option<&str>> = outs
        .iter()
        .map(|o| o.and_then(|o| o.key.as_ref().ok().map(AsRef::as_ref)))
        .collect();
    b.claim_batch(table, &ids)
}

/// The outcome of parsing one row: its key, then its fields (with warnings).
pub(crate) struct Parsed<K, T> {
    pub(crate) key: Result<K, FieldError>,
    pub(crate) row: Result<T, FieldError>,
    pub(crate) warnings: Vec<FieldError>,
}

pub(crate) struct Borrowers;

impl TableParse for Borrowers {
    type Out = Parsed<BorrowerId, BorrowerRow>;
    const SPECS: &'static [ColSpec] = &[
        req("borrower_id", Kind::Str),
        req("name", Kind::Str),
        opt("phone", Kind::Str),
        opt("email", Kind::Str),
        req("timezone", Kind::Str),
        req("jurisdiction", Kind::Str),
        opt("language", Kind::Str),
        opt("deceased", Kind::Bool),
        opt("bankrupt", Kind::Bool),
        opt("cease_contact", Kind::Bool),
        opt("phone_timezone", Kind::Str),
        opt("dispute_open", Kind::Bool),
        opt("hardship", Kind::Bool),
        opt("breathing_space_until", Kind::Date),
        opt("attorney_phone", Kind::Str),
        opt("attorney_email", Kind::Str),
    ];

    fn parse<R: Row>(&self, _: &PortfolioBuilder, r: &R) -> Self::Out {
        let key = text_of(r, 0).and_then(|s| BorrowerId::parse("borrower_id", s));
        let mut w = Vec::new();
        let row = (|| {
            let id = key.clone()?;
            let name = text_of(r, 1)?.into();
            let phone = optional(r, 2, &mut w, parse::phone);
            let email = optional(r, 3, &mut w, parse::email);
            let timezone = zone("timezone", text_of(r, 4)?)?;
            let jurisdiction = Jurisdiction::parse("jurisdiction", text_of(r, 5)?)?;
            Ok(BorrowerRow {
                id,
                name,
                phone,
                email,
                timezone,
                jurisdiction,
                language: optional(r, 6, &mut w, parse::language),
                // The protections fail safe: a malformed value rejects the borrower (and so
                // their loans), never reads as "not protected".
                deceased: guarded_flag(r, 7)?,
                bankrupt: guarded_flag(r, 8)?,
                cease_contact: guarded_flag(r, 9)?,
                phone_timezone: optional(r, 10, &mut w, zone),
                dispute_open: guarded_flag(r, 11)?,
                hardship: guarded_flag(r, 12)?,
                breathing_space_until: r.date(13)?,
                attorney_phone: guarded(r, 14, parse::phone)?,
                attorney_email: guarded(r, 15, parse::email)?,
            })
        })();
        Parsed {
            key,
            row,
            warnings: w,
        }
    }

    fn apply(&self, b: &mut PortfolioBuilder, at: RowRef, out: Self::Out) {
        let Parsed { key, row, warnings } = out;
        if let Some((claim, row)) = claimed(b, at, key, row, PortfolioBuilder::claim_borrower) {
            warnings.into_iter().for_each(|w| b.warn(at, w));
            b.add_borrower(claim, row);
        }
    }
}

pub(crate) struct Loans;

impl TableParse for Loans {
    type Out = Parsed<LoanId, LoanRow>;
    const SPECS: &'static [ColSpec] = &[
        req("loan_id", Kind::Str),
        req("borrower_id", Kind::Str),
        req("product", Kind::Str),
        req("currency", Kind::Str),
        req("principal_minor", Kind::Int),
        req("annual_rate_bps", Kind::Int),
        req("penalty_rate_bps", Kind::Int),
        req("disbursed_on", Kind::Date),
        opt("status", Kind::Str),
    ];

    fn parse<R: Row>(&self, _: &PortfolioBuilder, r: &R) -> Self::Out {
        let key = text_of(r, 0).and_then(|s| LoanId::parse("loan_id", s));
        let row = (|| {
            Ok(LoanRow {
                id: key.clone()?,
                borrower_id: BorrowerId::parse("borrower_id", text_of(r, 1)?)?,
                product: text_of(r, 2)?.into(),
                currency: Currency::parse("currency", text_of(r, 3)?)?,
                principal: Minor::positive("principal_minor", r.need(4, |r, c| r.int(c))?)?,
                annual_rate: Bps::parse("annual_rate_bps", r.need(5, |r, c| r.int(c))?)?,
                penalty_rate: Bps::parse("penalty_rate_bps", r.need(6, |r, c| r.int(c))?)?,
                disbursed_on: r.need(7, |r, c| r.date(c))?,
                // A typo in `written_off` must not put the loan back into collection.
                status: guarded(r, 8, LoanStatus::parse)?.unwrap_or_default(),
            })
        })();
        // Every column of a loan is required or fails safe: no warnings.
        Parsed {
            key,
            row,
            warnings: Vec::new(),
        }
    }

    fn apply(&self, b: &mut PortfolioBuilder, at: RowRef, out: Self::Out) {
        let Parsed { key, row, warnings } = out;
        if let Some((claim, row)) = claimed(b, at, key, row, PortfolioBuilder::claim_loan) {
            // Warnings only for rows that are accepted (add_loan rejects an unknown borrower).
            if b.borrower_index(row.borrower_id.as_str()).is_some() {
                warnings.into_iter().for_each(|w| b.warn(at, w));
            }
            b.add_loan(at, claim, row);
        }
    }
}

/// The loan an id names, if accepted; otherwise the id, for the message.
pub(crate) enum LoanRef {
    Known(u32),
    Unknown(Box<str>),
}

fn loan_ref(b: &PortfolioBuilder, id: &str) -> LoanRef {
    match b.loan_index(id) {
        Some(i) => LoanRef::Known(i),
        None => LoanRef::Unknown(id.into()),
    }
}

fn unknown_loan(id: &str) -> FieldError {
    FieldError::new(
        "loan_id",
        Reason::UnknownReference,
        format!("no accepted loan {id:?}"),
    )
}

pub(crate) struct Installments;

impl TableParse for Installments {
    type Out = Result<(LoanRef, u32, Result<InstallmentRow, FieldError>), FieldError>;
    const SPECS: &'static [ColSpec] = &[
        req("loan_id", Kind::Str),
        req("seq", Kind::Int),
        req("due_date", Kind::Date),
        req("principal_minor", Kind::Int),
        req("interest_minor", Kind::Int),
        req("fee_minor", Kind::Int),
    ];

    fn parse<R: Row>(&self, b: &PortfolioBuilder, r: &R) -> Self::Out {
        let loan_id = text_of(r, 0)?;
        let seq = r.need(1, |r, c| r.int(c))?;
        let seq = u32::try_from(seq).ok().filter(|s| *s >= 1).ok_or_else(|| {
            FieldError::new(
                "seq",
                Reason::OutOfRange,
                format!("{seq} is not a sequence number >= 1"),
            )
        })?;
        let amount = |c: usize, name| {
            r.need(c, |r, c| r.int(c))
                .and_then(|v| Minor::non_negative(name, v))
        };
        let row = (|| {
            Ok(InstallmentRow {
                due_date: r.need(2, |r, c| r.date(c))?,
                principal: amount(3, "principal_minor")?,
                interest: amount(4, "interest_minor")?,
                fee: amount(5, "fee_minor")?,
            })
        })();
        Ok((loan_ref(b, loan_id), seq, row))
    }

    fn apply(&self, b: &mut PortfolioBuilder, at: RowRef, out: Self::Out) {
        match out {
            Err(e) => b.reject(at, e),
            Ok((LoanRef::Known(l), seq, row)) => b.add_installment(at, "", Some(l), seq, row),
            Ok((LoanRef::Unknown(id), seq, row)) => b.add_installment(at, &id, None, seq, row),
        }
    }
}

pub(crate) struct Payments;

impl TableParse for Payments {
    type Out = Parsed<
        Box<str>,
        (
            LoanRef,
            jiff::Timestamp,
            Minor,
            PaymentKind,
            Option<Box<str>>,
        ),
    >;
    const SPECS: &'static [ColSpec] = &[
        req("payment_id", Kind::Str),
        req("loan_id", Kind::Str),
        req("received_at", Kind::Ts),
        req("amount_minor", Kind::Int),
        opt("kind", Kind::Str),
        opt("reverses", Kind::Str),
    ];

    fn parse<R: Row>(&self, b: &PortfolioBuilder, r: &R) -> Self::Out {
        let key = text_of(r, 0).and_then(|s| {
            arrears_domain::types::PaymentId::check("payment_id", s).map(|()| s.into())
        });
        let mut w = Vec::new();
        let row = (|| {
            let loan = loan_ref(b, text_of(r, 1)?);
            let received_at = r.need(2, |r, c| r.ts(c))?;
            let amount = Minor::positive("amount_minor", r.need(3, |r, c| r.int(c))?)?;
            // A malformed kind rejects the row: a reversal read as a payment would add money
            // the borrower never paid.
            let kind = guarded(r, 4, PaymentKind::parse)?.unwrap_or_default();
            let reverses: Option<Box<str>> = r.text(5)?.map(Into::into);
            let reverses = match (kind, reverses) {
                (PaymentKind::Reversal, None) => {
                    return Err(FieldError::new(
                        "reverses",
                        Reason::MissingValue,
                        "a reversal must name the payment it reverses",
                    ));
                }
                (PaymentKind::Payment, Some(_)) => {
                    w.push(FieldError::new(
                        "reverses",
                        Reason::InvalidValue,
                        "set on a payment (kind payment); ignored",
                    ));
                    None
                }
                (_, rev) => rev,
            };
            Ok((loan, received_at, amount, kind, reverses))
        })();
        Parsed {
            key,
            row,
            warnings: w,
        }
    }

    fn apply(&self, b: &mut PortfolioBuilder, at: RowRef, out: Self::Out) {
        self.apply_claimed(b, at, out, None)
    }

    fn claim_chunk(
        &self,
        b: &mut PortfolioBuilder,
        outs: &[Option<&Self::Out>],
    ) -> Option<Vec<Option<Result<Claim, Duplicate>>>> {
        Some(claim_keys(b, Table::Payments, outs))
    }

    fn apply_claimed(
        &self,
        b: &mut PortfolioBuilder,
        at: RowRef,
        out: Self::Out,
        pre: Option<Result<Claim, Duplicate>>,
    ) {
        let Parsed { key, row, warnings } = out;
        let claim = preclaimed(pre, "payment_id", PortfolioBuilder::claim_payment);
        match claimed(b, at, key, row, claim) {
            None => {}
            Some((claim, (LoanRef::Known(loan), received_at, amount, kind, reverses))) => {
                warnings.into_iter().for_each(|w| b.warn(at, w));
                b.add_payment(
                    at,
                    claim,
                    PaymentRow {
                        loan,
                        received_at,
                        amount,
                        kind,
                        reverses,
                    },
                );
            }
            Some((_, (LoanRef::Unknown(l), ..))) => b.reject(at, unknown_loan(&l)),
        }
    }
}

fn one_of(column: &'static str, s: &str, allowed: &[&str]) -> Result<Box<str>, FieldError> {
    if allowed.contains(&s) {
        Ok(s.into())
    } else {
        Err(FieldError::new(
            column,
            Reason::InvalidValue,
            format!("{s:?} is not one of {}", allowed.join(", ")),
        ))
    }
}

pub(crate) struct Contacts;

impl TableParse for Contacts {
    type Out = Parsed<Box<str>, (Box<str>, Option<Box<str>>, ContactRow)>;
    const SPECS: &'static [ColSpec] = &[
        req("contact_id", Kind::Str),
        req("borrower_id", Kind::Str),
        opt("loan_id", Kind::Str),
        req("channel", Kind::Str),
        req("direction", Kind::Str),
        req("at", Kind::Ts),
        req("outcome", Kind::Str),
        opt("target", Kind::Str),
        opt("party", Kind::Str),
        opt("agency_id", Kind::Str),
    ];

    fn parse<R: Row>(&self, _: &PortfolioBuilder, r: &R) -> Self::Out {
        let key = text_of(r, 0).and_then(|s| {
            arrears_domain::types::ContactId::check("contact_id", s).map(|()| s.into())
        });
        let mut w = Vec::new();
        let row = (|| {
            let borrower: Box<str> = text_of(r, 1)?.into();
            let loan: Option<Box<str>> = r.text(2)?.map(Into::into);
            let row = ContactRow {
                id: key.clone()?,
                borrower: 0,
                loan: None,
                channel: one_of(
                    "channel",
                    text_of(r, 3)?,
                    &["sms", "call", "email", "letter", "push", "visit"],
                )?,
                direction: one_of("direction", text_of(r, 4)?, &["outbound", "inbound"])?,
                at: r.need(5, |r, c| r.ts(c))?,
                outcome: text_of(r, 6)?.into(),
                target: optional(r, 7, &mut w, |_, s| Ok(s.into())),
                party: optional(r, 8, &mut w, |c, s| {
                    one_of(
                        c,
                        s,
                        &[
                            "borrower",
                            "co_borrower",
                            "designated_contact",
                            "third_party",
                            "attorney",
                        ],
                    )
                }),
                agency_id: optional(r, 9, &mut w, |_, s| Ok(s.into())),
            };
            Ok((borrower, loan, row))
        })();
        Parsed {
            key,
            row,
            warnings: w,
        }
    }

    fn apply(&self, b: &mut PortfolioBuilder, at: RowRef, out: Self::Out) {
        let Parsed { key, row, warnings } = out;
        let Some((_, (borrower_id, loan_id, mut row))) =
            claimed(b, at, key, row, PortfolioBuilder::claim_contact)
        else {
            return;
        };
        let Some(borrower) = b.borrower_index(&borrower_id) else {
            let e = FieldError::new(
                "borrower_id",
                Reason::UnknownReference,
                format!("no accepted borrower {borrower_id:?}"),
            );
            return b.reject(at, e);
        };
        row.borrower = borrower;
        if let Some(l) = loan_id {
            match b.loan_index(&l) {
                Some(ix) => row.loan = Some(ix),
                None => return b.reject(at, unknown_loan(&l)),
            }
        }
        warnings.into_iter().for_each(|w| b.warn(at, w));
        b.add_contact(at, row);
    }
}

pub(crate) struct Promises;

impl TableParse for Promises {
    type Out = Parsed<Box<str>, (LoanRef, PromiseRow)>;
    const SPECS: &'static [ColSpec] = &[
        req("promise_id", Kind::Str),
        req("loan_id", Kind::Str),
        req("created_at", Kind::Ts),
        req("amount_minor", Kind::Int),
        req("due_date", Kind::Date),
    ];

    fn parse<R: Row>(&self, b: &PortfolioBuilder, r: &R) -> Self::Out {
        let key = text_of(r, 0).and_then(|s| {
            arrears_domain::types::PromiseId::check("promise_id", s).map(|()| s.into())
        });
        let row = (|| {
            let loan = loan_ref(b, text_of(r, 1)?);
            let row = PromiseRow {
                id: key.clone()?,
                loan: 0,
                created_at: r.need(2, |r, c| r.ts(c))?,
                amount: Minor::positive("amount_minor", r.need(3, |r, c| r.int(c))?)?,
                due_date: r.need(4, |r, c| r.date(c))?,
            };
            Ok((loan, row))
        })();
        Parsed {
            key,
            row,
            warnings: Vec::new(),
        }
    }

    fn apply(&self, b: &mut PortfolioBuilder, at: RowRef, out: Self::Out) {
        match claimed(b, at, out.key, out.row, PortfolioBuilder::claim_promise) {
            None => {}
            Some((_, (LoanRef::Known(l), mut row))) => {
                row.loan = l;
                b.add_promise(at, row);
            }
            Some((_, (LoanRef::Unknown(l), _))) => b.reject(at, unknown_loan(&l)),
        }
    }
}
