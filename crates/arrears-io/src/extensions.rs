//! The lifecycle and compliance tables of `compliance.md` that the portfolio model does not
//! hold ("Facts the packs need", "Facts from the lifecycle"): `notices`, `preferences`,
//! `payment_plans` with `plan_installments`, `placements`, `sales`, `credit_disputes`,
//! `legal_cases` and `contact_persons`.
//!
//! Each is an optional table of the portfolio folder, `NAME.csv` or `NAME.parquet` (both is an
//! error), read with the conventions of the other tables: a header naming the columns (any
//! order, extra columns ignored, a missing required column is an error for the whole file,
//! naming it and the column), an empty CSV field or a Parquet null is a missing value, and
//! every bad row is reported with file, line (CSV: the header is line 1; Parquet: rows from
//! 1), column and reason, never dropped silently. Parquet types: string, int64 (int32
//! accepted), date32, timestamp of any unit with a zone annotation (UTC instants), bool.
//!
//! Checks per row, in the order the portfolio reader uses: the key (a repeated id keeps the
//! first row, even a rejected one: `duplicate_id`), then the other columns in table order,
//! then references, resolved against the accepted portfolio (`unknown_reference`), then the
//! rules between columns. Codes are checked against the vocabularies of
//! `arrears_domain::lifecycle`: these fields protect borrowers, so a malformed kind, status,
//! channel, `opted_out` or `refused` rejects the row (`invalid_value`); only the contact
//! details of a contact person (`phone`, `email`) are read as empty with a `warning`.

use crate::IoError;
use crate::read::{Format, decoding, layout};
use crate::source::{ColSpec, CsvRow, Kind, LineEnds, PqCol, PqRow, Row, opt, req};
use arrears_domain::lifecycle::{
    ContactPersonFact, CreditDisputeRow, LEGAL_STATUSES, LegalCaseFact, NOTICE_CHANNELS,
    NOTICE_KINDS, NoticeRow, PERSON_SOURCES, PLAN_STATUSES, PREFERENCE_CHANNELS, PaymentPlanRow,
    PlacementRow, PlanInstallment, PreferenceRow, SaleRow,
};
use arrears_domain::portfolio::Loan;
use arrears_domain::types::{BorrowerId, LoanId};
use arrears_domain::{FieldError, Lifecycle, Minor, Portfolio, Reason, parse};
use jiff::Timestamp;
use jiff::civil::{Date, Time};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

/// The lifecycle tables, in the order [`read_lifecycle`] reads them.
pub const LIFECYCLE_TABLES: [&str; 9] = [
    "notices",
    "preferences",
    "payment_plans",
    "plan_installments",
    "placements",
    "sales",
    "credit_disputes",
    "legal_cases",
    "contact_persons",
];

/// A person linked to a borrower (`contact_persons`). Personal data is masked in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct ContactPersonRow {
    pub person_id: Box<str>,
    /// Index into `Portfolio::borrowers`.
    pub borrower: u32,
    pub name: Option<Box<str>>,
    pub phone: Option<Box<str>>,
    pub email: Option<Box<str>>,
    pub relation: Option<Box<str>>,
    /// `designated`, `address_book` (never contactable) or `contract` (co-borrower, guarantor).
    pub source: Box<str>,
    pub refused: bool,
}

impl std::fmt::Debug for ContactPersonRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContactPerson")
            .field("person_id", &self.person_id)
            .field("borrower", &self.borrower)
            .field("name", &self.name.as_ref().map(|_| "***"))
            .field("phone", &self.phone.as_ref().map(|_| "***"))
            .field("source", &self.source)
            .field("refused", &self.refused)
            .finish_non_exhaustive()
    }
}

/// A real court case of a loan (`legal_cases`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegalCaseRow {
    pub case_id: Box<str>,
    /// Index into `Portfolio::loans`.
    pub loan: u32,
    pub court: Box<str>,
    pub case_number: Box<str>,
    /// `filed`, `judgment`, `enforcement` or `closed`.
    pub status: Box<str>,
    pub updated_on: Option<Date>,
}

/// A rejected row or a malformed optional field read as empty (`severity`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtReject {
    /// The file's name: `notices.csv`, `sales.parquet`.
    pub file: String,
    /// CSV: the line in the file (the header is line 1). Parquet: the row, from 1.
    pub line: u64,
    pub column: &'static str,
    /// `error` (row rejected) or `warning` (field read as empty).
    pub severity: &'static str,
    pub reason: Reason,
    pub detail: String,
}

impl ExtReject {
    fn new(file: &str, line: u64, e: FieldError, severity: &'static str) -> Self {
        ExtReject {
            file: file.to_owned(),
            line,
            column: e.column,
            severity,
            reason: e.reason,
            detail: e.detail,
        }
    }

    /// The row was rejected (not only a field read as empty).
    pub fn is_error(&self) -> bool {
        self.severity == "error"
    }
}

impl std::fmt::Display for ExtReject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let unit = if self.file.ends_with(".parquet") {
            "row"
        } else {
            "line"
        };
        write!(
            f,
            "{} {unit} {}, column {}: {} ({}): {}",
            self.file, self.line, self.column, self.severity, self.reason, self.detail
        )
    }
}

/// The lifecycle tables of a portfolio folder, as read.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LifecycleRead {
    /// The accepted rows, in file order per table; a plan's instalments by `seq`.
    pub lifecycle: Lifecycle,
    /// Every rejected row (`error`) and every field read as empty (`warning`), table by table
    /// in [`LIFECYCLE_TABLES`] order, each table in file order.
    pub rejects: Vec<ExtReject>,
    /// Rows read (accepted or rejected) per table present in the folder; an absent table
    /// has no entry.
    pub rows_read: BTreeMap<&'static str, u64>,
}

impl LifecycleRead {
    /// Rows rejected (severity `error`) in `table`.
    pub fn rejected(&self, table: &str) -> u64 {
        fn stem(f: &str) -> Option<&str> {
            f.strip_suffix(".csv")
                .or_else(|| f.strip_suffix(".parquet"))
        }
        self.rejects
            .iter()
            .filter(|r| r.is_error() && stem(&r.file) == Some(table))
            .count() as u64
    }
}

/// Whether `dir` holds any lifecycle table (as CSV or Parquet).
pub fn has_lifecycle_tables(dir: &Path) -> bool {
    LIFECYCLE_TABLES.iter().any(|t| {
        dir.join(format!("{t}.csv")).is_file() || dir.join(format!("{t}.parquet")).is_file()
    })
}

/// Reads every lifecycle table present in `dir` (see the module documentation), resolving
/// references against the accepted `portfolio`. Only a file that cannot be read at all, or
/// lacks a required column, is an error; a bad row is an [`ExtReject`].
pub fn read_lifecycle(dir: &Path, portfolio: &Portfolio) -> Result<LifecycleRead, IoError> {
    if !has_lifecycle_tables(dir) {
        return Ok(LifecycleRead {
            lifecycle: Lifecycle::default(),
            rejects: Vec::new(),
            rows_read: BTreeMap::new(),
        });
    }
    let refs = Refs::new(portfolio);
    let refs = &refs;
    // The tables are independent of each other: read on every core, each into its own
    // report, and reported in the order they were always read (the order of the fields).
    let (((notices, preferences), (plans, placements)), ((sales, disputes), (legal, persons))) =
        rayon::join(
            || {
                rayon::join(
                    || {
                        rayon::join(
                            || table(|r| read_notices(dir, refs, r)),
                            || table(|r| read_preferences(dir, refs, r)),
                        )
                    },
                    || {
                        rayon::join(
                            || table(|r| read_plans(dir, refs, r)),
                            || table(|r| read_placements(dir, refs, r)),
                        )
                    },
                )
            },
            || {
                rayon::join(
                    || {
                        rayon::join(
                            || table(|r| read_sales(dir, refs, r)),
                            || table(|r| read_credit_disputes(dir, refs, r)),
                        )
                    },
                    || {
                        rayon::join(
                            || table(|r| read_legal_cases(dir, refs, r)),
                            || table(|r| read_contact_persons(dir, refs, r)),
                        )
                    },
                )
            },
        );
    let mut rep = Reported::default();
    let mut lc = Lifecycle {
        notices: rep.merge(notices)?,
        preferences: rep.merge(preferences)?,
        plans: rep.merge(plans)?,
        placements: rep.merge(placements)?,
        sales: rep.merge(sales)?,
        credit_disputes: rep.merge(disputes)?,
        ..Lifecycle::default()
    };
    lc.legal_cases = rep
        .merge(legal)?
        .into_iter()
        .map(|(c, loan_id)| LegalCaseFact {
            case_id: c.case_id,
            loan_id,
            status: c.status,
            updated_on: c.updated_on,
        })
        .collect();
    lc.contact_persons = rep
        .merge(persons)?
        .into_iter()
        .map(|(c, borrower_id)| ContactPersonFact {
            person_id: c.person_id,
            borrower_id,
            phone: c.phone,
            email: c.email,
            source: c.source,
            refused: c.refused,
        })
        .collect();
    Ok(LifecycleRead {
        lifecycle: lc,
        rejects: rep.rejects,
        rows_read: rep.rows_read,
    })
}

/// One table read into a report of its own.
fn table<T>(
    read: impl FnOnce(&mut Reported) -> Result<T, IoError>,
) -> (Result<T, IoError>, Reported) {
    let mut rep = Reported::default();
    let out = read(&mut rep);
    (out, rep)
}

/// The `contact_persons` and `legal_cases` tables with portfolio indexes (empty when the
/// files are absent).
#[derive(Debug, Default)]
pub struct Extensions {
    pub contact_persons: Vec<ContactPersonRow>,
    pub legal_cases: Vec<LegalCaseRow>,
    pub rejects: Vec<ExtReject>,
    /// Rows read per table (contact_persons, legal_cases).
    pub rows_read: [u64; 2],
}

/// Reads `contact_persons` and `legal_cases` (CSV or Parquet) from `dir`, if present, with
/// the rules of [`read_lifecycle`]. The other lifecycle tables are not read.
pub fn read_extensions(dir: &Path, portfolio: &Portfolio) -> Result<Extensions, IoError> {
    let refs = Refs::new(portfolio);
    let mut rep = Reported::default();
    let contact_persons = read_contact_persons(dir, &refs, &mut rep)?
        .into_iter()
        .map(|(c, _)| c)
        .collect();
    let legal_cases = read_legal_cases(dir, &refs, &mut rep)?
        .into_iter()
        .map(|(c, _)| c)
        .collect();
    let n = |t| rep.rows_read.get(t).copied().unwrap_or(0);
    let rows_read = [n("contact_persons"), n("legal_cases")];
    Ok(Extensions {
        contact_persons,
        legal_cases,
        rejects: rep.rejects,
        rows_read,
    })
}

// ---------------------------------------------------------------------------------------
// Reading rows of either format.

/// One row of a CSV or Parquet file.
enum AnyRow<'a> {
    Csv(CsvRow<'a>),
    Pq(PqRow<'a>),
}

impl Row for AnyRow<'_> {
    fn text(&self, c: usize) -> Result<Option<&str>, FieldError> {
        match self {
            AnyRow::Csv(r) => r.text(c),
            AnyRow::Pq(r) => r.text(c),
        }
    }
    fn int(&self, c: usize) -> Result<Option<i64>, FieldError> {
        match self {
            AnyRow::Csv(r) => r.int(c),
            AnyRow::Pq(r) => r.int(c),
        }
    }
    fn date(&self, c: usize) -> Result<Option<Date>, FieldError> {
        match self {
            AnyRow::Csv(r) => r.date(c),
            AnyRow::Pq(r) => r.date(c),
        }
    }
    fn ts(&self, c: usize) -> Result<Option<Timestamp>, FieldError> {
        match self {
            AnyRow::Csv(r) => r.ts(c),
            AnyRow::Pq(r) => r.ts(c),
        }
    }
    fn boolean(&self, c: usize) -> Result<Option<bool>, FieldError> {
        match self {
            AnyRow::Csv(r) => r.boolean(c),
            AnyRow::Pq(r) => r.boolean(c),
        }
    }
    fn spec(&self, c: usize) -> &ColSpec {
        match self {
            AnyRow::Csv(r) => r.spec(c),
            AnyRow::Pq(r) => r.spec(c),
        }
    }
}

/// `NAME.csv` or `NAME.parquet` in `dir`, if there is one.
fn find(dir: &Path, name: &'static str) -> Result<Option<(PathBuf, Format)>, IoError> {
    let csv = dir.join(format!("{name}.csv"));
    let pq = dir.join(format!("{name}.parquet"));
    match (csv.is_file(), pq.is_file()) {
        (true, true) => Err(IoError::AmbiguousTable {
            path: dir.to_owned(),
            table: name,
        }),
        (true, false) => Ok(Some((csv, Format::Csv))),
        (false, true) => Ok(Some((pq, Format::Parquet))),
        (false, false) => Ok(None),
    }
}

/// Calls `f(line, row)` for every row of a file, in file order; a CSV row with the wrong
/// number of fields is handed over as an `Err`.
fn each_row(
    path: &Path,
    format: Format,
    specs: &'static [ColSpec],
    f: &mut dyn FnMut(u64, Result<&AnyRow<'_>, FieldError>),
) -> Result<(), IoError> {
    match format {
        Format::Csv => each_csv_row(path, specs, f),
        Format::Parquet => each_parquet_row(path, specs, f),
    }
}

fn each_csv_row(
    path: &Path,
    specs: &'static [ColSpec],
    f: &mut dyn FnMut(u64, Result<&AnyRow<'_>, FieldError>),
) -> Result<(), IoError> {
    let file = std::fs::File::open(path).map_err(|e| IoError::io(path, e))?;
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .from_reader(std::io::BufReader::new(LineEnds::new(file)));
    let csv_err = |e: csv::Error| IoError::Csv {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    let names: Vec<String> = rdr
        .byte_headers()
        .map_err(csv_err)?
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
    let pos = layout(path, specs, &names)?;
    let width = names.len();
    let mut rec = csv::ByteRecord::new();
    while rdr.read_byte_record(&mut rec).map_err(csv_err)? {
        let line = rec
            .position()
            .map_or(0, |p| rdr.get_mut().get_mut().line(p));
        // A blank line (a single empty field) is not a row.
        if rec.len() == 1 && rec.get(0) == Some(b"") && width > 1 {
            continue;
        }
        if rec.len() != width {
            let e = FieldError::new(
                specs.first().map_or("", |s| s.name),
                Reason::InvalidValue,
                format!(
                    "the row has {} fields but the header has {width}",
                    rec.len()
                ),
            );
            f(line, Err(e));
            continue;
        }
        let row = AnyRow::Csv(CsvRow {
            rec: &rec,
            pos: &pos,
            specs,
        });
        f(line, Ok(&row));
    }
    Ok(())
}

fn each_parquet_row(
    path: &Path,
    specs: &'static [ColSpec],
    f: &mut dyn FnMut(u64, Result<&AnyRow<'_>, FieldError>),
) -> Result<(), IoError> {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let pq_err = |e: &dyn std::fmt::Display| IoError::Parquet {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    let file = std::fs::File::open(path).map_err(|e| IoError::io(path, e))?;
    let builder = decoding(path, || {
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| pq_err(&e))
    })?;
    let names: Vec<String> = builder
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    layout(path, specs, &names)?;
    let mut reader = decoding(path, || {
        builder
            .with_batch_size(8192)
            .build()
            .map_err(|e| pq_err(&e))
    })?;
    let mut row_no = 0u64;
    while let Some(batch) = decoding(path, || Ok(reader.next()))? {
        let batch = batch.map_err(|e| pq_err(&e))?;
        let cols: Vec<PqCol> = specs
            .iter()
            .map(|s| {
                PqCol::new(s, batch.column_by_name(s.name)).map_err(|found| IoError::ColumnType {
                    path: path.to_owned(),
                    column: s.name,
                    found,
                    expected: s.kind.parquet_name(),
                })
            })
            .collect::<Result<_, _>>()?;
        for row in 0..batch.num_rows() {
            row_no += 1;
            let r = AnyRow::Pq(PqRow {
                cols: &cols,
                specs,
                row,
            });
            f(row_no, Ok(&r));
        }
    }
    Ok(())
}

/// The rejects and row counts of the tables read so far.
#[derive(Debug, Default)]
struct Reported {
    rejects: Vec<ExtReject>,
    rows_read: BTreeMap<&'static str, u64>,
}

impl Reported {
    /// Takes a table's own report after this one's; its rows, or its error.
    fn merge<T>(&mut self, (rows, rep): (Result<T, IoError>, Reported)) -> Result<T, IoError> {
        let rows = rows?;
        self.rejects.extend(rep.rejects);
        for (table, n) in rep.rows_read {
            *self.rows_read.entry(table).or_default() += n;
        }
        Ok(rows)
    }
}

/// Reads one table, if present: each row is parsed by `parse` (which may push warnings) and
/// is either returned or reported. The rows are returned with their lines.
fn read_table<T>(
    dir: &Path,
    name: &'static str,
    specs: &'static [ColSpec],
    rep: &mut Reported,
    mut parse: impl FnMut(&AnyRow<'_>, &mut Vec<FieldError>) -> Result<T, FieldError>,
) -> Result<Vec<T>, IoError> {
    let Some((path, format)) = find(dir, name)? else {
        return Ok(Vec::new());
    };
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut out = Vec::new();
    let mut read = 0u64;
    let rejects = &mut rep.rejects;
    each_row(&path, format, specs, &mut |line, row| {
        read += 1;
        let mut warnings = Vec::new();
        match row.and_then(|r| parse(r, &mut warnings)) {
            Ok(v) => {
                rejects.extend(
                    warnings
                        .into_iter()
                        .map(|w| ExtReject::new(&file, line, w, "warning")),
                );
                out.push(v);
            }
            Err(e) => rejects.push(ExtReject::new(&file, line, e, "error")),
        }
    })?;
    rep.rows_read.insert(name, read);
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Cells.

/// A required text cell.
fn text<R: Row>(r: &R, c: usize) -> Result<&str, FieldError> {
    r.text(c)?.ok_or_else(|| {
        FieldError::new(
            r.spec(c).name,
            Reason::MissingValue,
            "required value is empty",
        )
    })
}

/// A required id cell (not empty, at most 128 bytes, no control characters).
fn id<R: Row>(r: &R, c: usize) -> Result<&str, FieldError> {
    let s = text(r, c)?;
    LoanId::check(r.spec(c).name, s)?;
    Ok(s)
}

/// A required code from a vocabulary.
fn code<R: Row>(r: &R, c: usize, allowed: &[&str]) -> Result<Box<str>, FieldError> {
    let s = text(r, c)?;
    if allowed.contains(&s) {
        Ok(s.into())
    } else {
        Err(FieldError::new(
            r.spec(c).name,
            Reason::InvalidValue,
            format!("{s:?} is not one of {}", allowed.join(", ")),
        ))
    }
}

fn ts<R: Row>(r: &R, c: usize) -> Result<Timestamp, FieldError> {
    r.need(c, |r, c| r.ts(c))
}

/// An optional local time `HH:MM`; malformed rejects the row.
fn local_time<R: Row>(r: &R, c: usize) -> Result<Option<Time>, FieldError> {
    r.text(c)?
        .map(|s| parse::local_time(r.spec(c).name, s))
        .transpose()
}

/// An optional contact detail: malformed is a warning and reads as empty.
fn contact_detail<R: Row>(
    r: &R,
    c: usize,
    warnings: &mut Vec<FieldError>,
    f: fn(&'static str, &str) -> Result<Box<str>, FieldError>,
) -> Option<Box<str>> {
    let parsed = r
        .text(c)
        .and_then(|s| s.map(|s| f(r.spec(c).name, s)).transpose());
    parsed.unwrap_or_else(|e| {
        warnings.push(e);
        None
    })
}

/// Claims an id in file order: `duplicate_id` if an earlier row had it.
fn claim(seen: &mut HashSet<Box<str>>, column: &'static str, id: &str) -> Result<(), FieldError> {
    if seen.insert(id.into()) {
        Ok(())
    } else {
        Err(FieldError::new(
            column,
            Reason::DuplicateId,
            format!("{id:?} appeared in an earlier row, which is kept"),
        ))
    }
}

/// `later` must not be before `earlier`.
fn not_before(
    column: &'static str,
    later: Option<Timestamp>,
    earlier_column: &str,
    earlier: Timestamp,
) -> Result<(), FieldError> {
    match later {
        Some(t) if t < earlier => Err(FieldError::new(
            column,
            Reason::InvalidValue,
            format!("{column} {t} is before {earlier_column} {earlier}"),
        )),
        _ => Ok(()),
    }
}

/// The accepted portfolio's borrowers and loans by id.
struct Refs<'p> {
    borrowers: IdMap<&'p str, (u32, &'p BorrowerId)>,
    loans: IdMap<&'p str, (u32, &'p Loan)>,
}

/// Ids of the lender's own portfolio, hashed fast (they come from the lender's files).
type IdMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

impl<'p> Refs<'p> {
    fn new(portfolio: &'p Portfolio) -> Self {
        let (borrowers, loans) = rayon::join(
            || {
                portfolio
                    .borrowers
                    .iter()
                    .enumerate()
                    .filter_map(|(i, b)| u32::try_from(i).ok().map(|i| (b.id.as_str(), (i, &b.id))))
                    .collect()
            },
            || {
                portfolio
                    .loans
                    .iter()
                    .enumerate()
                    .filter_map(|(i, l)| u32::try_from(i).ok().map(|i| (l.id.as_str(), (i, l))))
                    .collect()
            },
        );
        Refs { borrowers, loans }
    }

    /// The index and id of an accepted borrower.
    fn borrower(&self, id: &str) -> Result<(u32, BorrowerId), FieldError> {
        match self.borrowers.get(id) {
            Some(&(ix, bid)) => Ok((ix, bid.clone())),
            None => Err(FieldError::new(
                "borrower_id",
                Reason::UnknownReference,
                format!("no accepted borrower {id:?}"),
            )),
        }
    }

    /// The index and id of an accepted loan.
    fn loan(&self, id: &str) -> Result<(u32, LoanId), FieldError> {
        self.loan_row(id).map(|(ix, l)| (ix, l.id.clone()))
    }

    fn loan_row(&self, id: &str) -> Result<(u32, &'p Loan), FieldError> {
        self.loans.get(id).copied().ok_or_else(|| {
            FieldError::new(
                "loan_id",
                Reason::UnknownReference,
                format!("no accepted loan {id:?}"),
            )
        })
    }

    /// An accepted loan that must belong to the borrower with index `borrower` and id
    /// `borrower_id` (notices, credit disputes).
    fn loan_of(&self, id: &str, borrower: u32, borrower_id: &str) -> Result<LoanId, FieldError> {
        let (_, l) = self.loan_row(id)?;
        if l.borrower == borrower {
            Ok(l.id.clone())
        } else {
            Err(FieldError::new(
                "loan_id",
                Reason::InvalidValue,
                format!("loan {id:?} is not a loan of borrower {borrower_id:?}"),
            ))
        }
    }
}

// ---------------------------------------------------------------------------------------
// The tables.

const NOTICES: &[ColSpec] = &[
    req("notice_id", Kind::Str),
    req("borrower_id", Kind::Str),
    opt("loan_id", Kind::Str),
    req("kind", Kind::Str),
    req("sent_at", Kind::Ts),
    req("channel", Kind::Str),
];

fn read_notices(dir: &Path, refs: &Refs, rep: &mut Reported) -> Result<Vec<NoticeRow>, IoError> {
    let mut seen = HashSet::new();
    read_table(dir, "notices", NOTICES, rep, |r, _| {
        let notice_id = id(r, 0)?;
        claim(&mut seen, "notice_id", notice_id)?;
        let borrower = text(r, 1)?;
        let loan = r.text(2)?;
        let kind = code(r, 3, &NOTICE_KINDS)?;
        let sent_at = ts(r, 4)?;
        let channel = code(r, 5, &NOTICE_CHANNELS)?;
        let (b, borrower_id) = refs.borrower(borrower)?;
        let loan_id = loan.map(|l| refs.loan_of(l, b, borrower)).transpose()?;
        Ok(NoticeRow {
            notice_id: notice_id.into(),
            borrower_id,
            loan_id,
            kind,
            sent_at,
            channel,
        })
    })
}

const PREFERENCES: &[ColSpec] = &[
    req("borrower_id", Kind::Str),
    req("channel", Kind::Str),
    req("opted_out", Kind::Bool),
    opt("contact_from", Kind::Str),
    opt("contact_to", Kind::Str),
    req("updated_at", Kind::Ts),
];

fn read_preferences(
    dir: &Path,
    refs: &Refs,
    rep: &mut Reported,
) -> Result<Vec<PreferenceRow>, IoError> {
    read_table(dir, "preferences", PREFERENCES, rep, |r, _| {
        let borrower = text(r, 0)?;
        let channel = code(r, 1, &PREFERENCE_CHANNELS)?;
        // An empty opted_out is not read as false: a later row without it would otherwise
        // lift an earlier opt-out.
        let opted_out = r.need(2, |r, c| r.boolean(c))?;
        let contact_from = local_time(r, 3)?;
        let contact_to = local_time(r, 4)?;
        let updated_at = ts(r, 5)?;
        let (_, borrower_id) = refs.borrower(borrower)?;
        match (contact_from, contact_to) {
            (Some(_), None) => {
                return Err(FieldError::new(
                    "contact_to",
                    Reason::MissingValue,
                    "contact_from is set, so contact_to is required",
                ));
            }
            (None, Some(_)) => {
                return Err(FieldError::new(
                    "contact_from",
                    Reason::MissingValue,
                    "contact_to is set, so contact_from is required",
                ));
            }
            (Some(from), Some(to)) if from >= to => {
                return Err(FieldError::new(
                    "contact_to",
                    Reason::InvalidValue,
                    format!(
                        "contact_to {} is not after contact_from {}",
                        to.strftime("%H:%M"),
                        from.strftime("%H:%M")
                    ),
                ));
            }
            _ => {}
        }
        Ok(PreferenceRow {
            borrower_id,
            channel,
            opted_out,
            contact_from,
            contact_to,
            updated_at,
        })
    })
}

const PAYMENT_PLANS: &[ColSpec] = &[
    req("plan_id", Kind::Str),
    req("loan_id", Kind::Str),
    req("status", Kind::Str),
    req("created_at", Kind::Ts),
];

const PLAN_INSTALLMENTS: &[ColSpec] = &[
    req("plan_id", Kind::Str),
    req("seq", Kind::Int),
    req("due_date", Kind::Date),
    req("amount_minor", Kind::Int),
];

fn read_plans(dir: &Path, refs: &Refs, rep: &mut Reported) -> Result<Vec<PaymentPlanRow>, IoError> {
    let mut seen = HashSet::new();
    let mut plans = read_table(dir, "payment_plans", PAYMENT_PLANS, rep, |r, _| {
        let plan_id = id(r, 0)?;
        claim(&mut seen, "plan_id", plan_id)?;
        let loan = text(r, 1)?;
        let status = code(r, 2, &PLAN_STATUSES)?;
        let created_at = ts(r, 3)?;
        let (_, loan_id) = refs.loan(loan)?;
        Ok(PaymentPlanRow {
            plan_id: plan_id.into(),
            loan_id,
            status,
            created_at,
            status_at: None,
            installments: Vec::new(),
        })
    })?;
    let accepted: HashMap<Box<str>, usize> = plans
        .iter()
        .enumerate()
        .map(|(i, p)| (p.plan_id.clone(), i))
        .collect();
    let mut seen: HashSet<(Box<str>, u32)> = HashSet::new();
    let installments = read_table(dir, "plan_installments", PLAN_INSTALLMENTS, rep, |r, _| {
        let plan_id = text(r, 0)?;
        let seq = r.need(1, |r, c| r.int(c))?;
        let seq = u32::try_from(seq).ok().filter(|s| *s >= 1).ok_or_else(|| {
            FieldError::new(
                "seq",
                Reason::OutOfRange,
                format!("{seq} is not a sequence number >= 1"),
            )
        })?;
        if !seen.insert((plan_id.into(), seq)) {
            return Err(FieldError::new(
                "seq",
                Reason::DuplicateId,
                format!(
                    "instalment {seq} of plan {plan_id:?} appeared in an earlier row, which is kept"
                ),
            ));
        }
        let due_date = r.need(2, |r, c| r.date(c))?;
        let amount = Minor::positive("amount_minor", r.need(3, |r, c| r.int(c))?)?;
        let plan = accepted.get(plan_id).copied().ok_or_else(|| {
            FieldError::new(
                "plan_id",
                Reason::UnknownReference,
                format!("no accepted payment plan {plan_id:?}"),
            )
        })?;
        Ok((
            plan,
            PlanInstallment {
                seq,
                due_date,
                amount_minor: amount.get(),
            },
        ))
    })?;
    for (plan, i) in installments {
        if let Some(p) = plans.get_mut(plan) {
            p.installments.push(i);
        }
    }
    for p in &mut plans {
        p.installments.sort_by_key(|i| i.seq);
    }
    Ok(plans)
}

const PLACEMENTS: &[ColSpec] = &[
    req("placement_id", Kind::Str),
    req("loan_id", Kind::Str),
    req("agency_id", Kind::Str),
    req("placed_at", Kind::Ts),
    opt("recalled_at", Kind::Ts),
];

fn read_placements(
    dir: &Path,
    refs: &Refs,
    rep: &mut Reported,
) -> Result<Vec<PlacementRow>, IoError> {
    let mut seen = HashSet::new();
    read_table(dir, "placements", PLACEMENTS, rep, |r, _| {
        let placement_id = id(r, 0)?;
        claim(&mut seen, "placement_id", placement_id)?;
        let loan = text(r, 1)?;
        let agency_id = id(r, 2)?;
        let placed_at = ts(r, 3)?;
        let recalled_at = r.ts(4)?;
        let (_, loan_id) = refs.loan(loan)?;
        not_before("recalled_at", recalled_at, "placed_at", placed_at)?;
        Ok(PlacementRow {
            placement_id: placement_id.into(),
            loan_id,
            agency_id: agency_id.into(),
            placed_at,
            recalled_at,
        })
    })
}

const SALES: &[ColSpec] = &[
    req("sale_id", Kind::Str),
    req("loan_id", Kind::Str),
    req("buyer", Kind::Str),
    req("sold_at", Kind::Ts),
];

fn read_sales(dir: &Path, refs: &Refs, rep: &mut Reported) -> Result<Vec<SaleRow>, IoError> {
    let mut seen = HashSet::new();
    read_table(dir, "sales", SALES, rep, |r, _| {
        let sale_id = id(r, 0)?;
        claim(&mut seen, "sale_id", sale_id)?;
        let loan = text(r, 1)?;
        let buyer = text(r, 2)?;
        let sold_at = ts(r, 3)?;
        let (_, loan_id) = refs.loan(loan)?;
        Ok(SaleRow {
            sale_id: sale_id.into(),
            loan_id,
            buyer: buyer.into(),
            sold_at,
        })
    })
}

const CREDIT_DISPUTES: &[ColSpec] = &[
    req("dispute_id", Kind::Str),
    req("borrower_id", Kind::Str),
    opt("loan_id", Kind::Str),
    req("opened_at", Kind::Ts),
    opt("resolved_at", Kind::Ts),
];

fn read_credit_disputes(
    dir: &Path,
    refs: &Refs,
    rep: &mut Reported,
) -> Result<Vec<CreditDisputeRow>, IoError> {
    let mut seen = HashSet::new();
    read_table(dir, "credit_disputes", CREDIT_DISPUTES, rep, |r, _| {
        let dispute_id = id(r, 0)?;
        claim(&mut seen, "dispute_id", dispute_id)?;
        let borrower = text(r, 1)?;
        let loan = r.text(2)?;
        let opened_at = ts(r, 3)?;
        let resolved_at = r.ts(4)?;
        let (b, borrower_id) = refs.borrower(borrower)?;
        let loan_id = loan.map(|l| refs.loan_of(l, b, borrower)).transpose()?;
        not_before("resolved_at", resolved_at, "opened_at", opened_at)?;
        Ok(CreditDisputeRow {
            dispute_id: dispute_id.into(),
            borrower_id,
            loan_id,
            opened_at,
            resolved_at,
        })
    })
}

const LEGAL_CASES: &[ColSpec] = &[
    req("case_id", Kind::Str),
    req("loan_id", Kind::Str),
    req("court", Kind::Str),
    req("case_number", Kind::Str),
    req("status", Kind::Str),
    opt("updated_on", Kind::Date),
];

/// Accepted legal cases, each with its loan's id.
fn read_legal_cases(
    dir: &Path,
    refs: &Refs,
    rep: &mut Reported,
) -> Result<Vec<(LegalCaseRow, LoanId)>, IoError> {
    let mut seen = HashSet::new();
    read_table(dir, "legal_cases", LEGAL_CASES, rep, |r, _| {
        let case_id = id(r, 0)?;
        claim(&mut seen, "case_id", case_id)?;
        let loan = text(r, 1)?;
        let court = text(r, 2)?;
        let case_number = text(r, 3)?;
        let status = code(r, 4, &LEGAL_STATUSES)?;
        let updated_on = r.date(5)?;
        let (loan, loan_id) = refs.loan(loan)?;
        let row = LegalCaseRow {
            case_id: case_id.into(),
            loan,
            court: court.into(),
            case_number: case_number.into(),
            status,
            updated_on,
        };
        Ok((row, loan_id))
    })
}

const CONTACT_PERSONS: &[ColSpec] = &[
    req("person_id", Kind::Str),
    req("borrower_id", Kind::Str),
    opt("name", Kind::Str),
    opt("phone", Kind::Str),
    opt("email", Kind::Str),
    opt("relation", Kind::Str),
    req("source", Kind::Str),
    opt("refused", Kind::Bool),
];

/// Accepted contact persons, each with its borrower's id.
fn read_contact_persons(
    dir: &Path,
    refs: &Refs,
    rep: &mut Reported,
) -> Result<Vec<(ContactPersonRow, BorrowerId)>, IoError> {
    let mut seen = HashSet::new();
    read_table(
        dir,
        "contact_persons",
        CONTACT_PERSONS,
        rep,
        |r, warnings| {
            let person_id = id(r, 0)?;
            claim(&mut seen, "person_id", person_id)?;
            let borrower = text(r, 1)?;
            let name = r.text(2)?.map(Into::into);
            let phone = contact_detail(r, 3, warnings, parse::phone);
            let email = contact_detail(r, 4, warnings, parse::email);
            let relation = r.text(5)?.map(Into::into);
            let source = code(r, 6, &PERSON_SOURCES)?;
            // Empty is "not refused"; anything but true/false rejects the row.
            let refused = r.boolean(7)?.unwrap_or(false);
            let (borrower, borrower_id) = refs.borrower(borrower)?;
            let row = ContactPersonRow {
                person_id: person_id.into(),
                borrower,
                name,
                phone,
                email,
                relation,
                source,
                refused,
            };
            Ok((row, borrower_id))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn portfolio(dir: &Path) -> Portfolio {
        std::fs::write(
            dir.join("borrowers.csv"),
            "borrower_id,name,phone,email,timezone,jurisdiction\nB1,Ann,+8613800138000,,Asia/Shanghai,CN\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("loans.csv"),
            "loan_id,borrower_id,product,currency,principal_minor,annual_rate_bps,penalty_rate_bps,disbursed_on\nL1,B1,p,CNY,100000,1000,0,2026-01-01\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("installments.csv"),
            "loan_id,seq,due_date,principal_minor,interest_minor,fee_minor\nL1,1,2026-02-01,100000,0,0\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("payments.csv"),
            "payment_id,loan_id,received_at,amount_minor\n",
        )
        .unwrap();
        crate::read_portfolio(dir, &|_, _| {}).unwrap().portfolio
    }

    #[test]
    fn rows_are_read_or_rejected_with_file_line_column_reason() {
        let d = tempfile::tempdir().unwrap();
        let p = portfolio(d.path());
        std::fs::write(
            d.path().join("contact_persons.csv"),
            "person_id,borrower_id,name,phone,relation,source,refused\n\
             P1,B1,Li,+8613900139000,sister,designated,false\n\
             P2,B1,Wu,+8613900139001,friend,address_book,\n\
             P1,B1,Li,+8613900139000,sister,designated,false\n\
             P3,B9,Zhao,,,designated,false\n\
             P4,B1,Qian,12345,,designated,true\n\
             P5,B1,Sun,,,harvested,false\n",
        )
        .unwrap();
        std::fs::write(
            d.path().join("legal_cases.csv"),
            "case_id,loan_id,court,case_number,status,updated_on\n\
             K1,L1,Shanghai Pudong Court,(2026)沪0115民初123号,filed,2026-10-01\n\
             K2,L9,Court,1,filed,\n\
             K3,L1,Court,2,pending,\n\
             K4,L1,Court,3,closed,2026-13-01\n",
        )
        .unwrap();
        let e = read_extensions(d.path(), &p).unwrap();
        assert_eq!(e.rows_read, [6, 4]);
        let ids: Vec<&str> = e.contact_persons.iter().map(|c| &*c.person_id).collect();
        assert_eq!(ids, ["P1", "P2", "P4"]);
        assert!(e.contact_persons[2].refused && e.contact_persons[2].phone.is_none());
        assert_eq!(e.legal_cases.len(), 1);
        assert_eq!(&*e.legal_cases[0].status, "filed");
        let shown: Vec<String> = e.rejects.iter().map(ToString::to_string).collect();
        let want = [
            "contact_persons.csv line 4, column person_id: error (duplicate_id)",
            "contact_persons.csv line 5, column borrower_id: error (unknown_reference)",
            "contact_persons.csv line 6, column phone: warning (invalid_value)",
            "contact_persons.csv line 7, column source: error (invalid_value)",
            "legal_cases.csv line 3, column loan_id: error (unknown_reference)",
            "legal_cases.csv line 4, column status: error (invalid_value)",
            "legal_cases.csv line 5, column updated_on: error (invalid_value)",
        ];
        assert_eq!(shown.len(), want.len(), "{shown:#?}");
        for (s, w) in shown.iter().zip(want) {
            assert!(s.starts_with(w), "{s} / {w}");
        }
    }

    #[test]
    fn absent_files_are_empty_and_a_missing_column_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        let p = portfolio(d.path());
        let e = read_extensions(d.path(), &p).unwrap();
        assert!(e.contact_persons.is_empty() && e.legal_cases.is_empty() && e.rejects.is_empty());
        let l = read_lifecycle(d.path(), &p).unwrap();
        assert!(l.lifecycle.is_empty() && l.rejects.is_empty() && l.rows_read.is_empty());
        std::fs::write(
            d.path().join("legal_cases.csv"),
            "case_id,loan_id,court,status\n",
        )
        .unwrap();
        let err = read_extensions(d.path(), &p).unwrap_err().to_string();
        assert!(
            err.contains("legal_cases.csv") && err.contains("case_number"),
            "{err}"
        );
    }
}
