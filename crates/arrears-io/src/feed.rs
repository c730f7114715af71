//! Daily feeds: reading a folder that holds any subset of the portfolio tables (new loans,
//! payments, reversals, contact outcomes…) whose rows may name borrowers, loans and payments
//! that are already in the store.
//!
//! A feed is validated exactly as `arrears run` validates a portfolio — the same cell parsing
//! (`read.rs`'s `TableParse` for each table), the same `PortfolioBuilder` rules, the same
//! `Reject` records — as if the store's rows were earlier rows of the same files. Reading is
//! done in three steps so this crate needs no database:
//!
//! 1. [`survey`] reads only the id columns and returns the ids the feed mentions.
//! 2. The store looks those ids up and answers with a [`Known`]: which of them it holds, with
//!    what the rules need (a loan's borrower, a loan's installment seqs and due dates, a
//!    payment's loan, amount, kind and reversal).
//! 3. [`read_feed`] seeds a `PortfolioBuilder` with the known rows, then reads the files
//!    through it. A row whose id the store already holds is not a duplicate: it is passed on
//!    as is, for the import to compare with the stored row (unchanged, an allowed update, or a
//!    conflict). Every other row meets the builder's rules, with the store's rows as parents,
//!    earlier installments and payments to reverse.

use crate::IoError;
use crate::read::{
    Borrowers, Contacts, Format, Installments, Loans, Parsed, Payments, Promises, ReadOutcome,
    TableFile, TableParse, scan,
};
use crate::source::{ColSpec, Row};
use arrears_domain::portfolio::{ContactRow, InstallmentRow, LoanRow, PaymentRow, PromiseRow};
use arrears_domain::types::{BorrowerId, ContactId, LoanId, PaymentId, PromiseId};
use arrears_domain::{
    BorrowerRow, Bps, Claim, Currency, Duplicate, FieldError, Jurisdiction, LoanStatus, Minor,
    PaymentKind, Portfolio, PortfolioBuilder, Reason, RowRef, Severity, Table, TimeZoneName,
};
use jiff::Timestamp;
use jiff::civil::Date;
use std::collections::{HashMap, HashSet};
use std::marker::PhantomData;
use std::path::Path;
use std::sync::Mutex;

/// A problem with a feed as a whole (a bad row is a `Reject`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FeedError {
    #[error(transparent)]
    Io(#[from] IoError),
    #[error(
        "{path}: the folder holds none of the tables borrowers, loans, installments, payments, contacts, promises (as NAME.csv or NAME.parquet)"
    )]
    NoTables { path: std::path::PathBuf },
    /// A bug, or a store whose rows break the rules they were checked against on import.
    #[error("internal error while reading the feed: {0}")]
    Internal(String),
}

/// Finds the tables present in a feed folder: any subset of the portfolio's tables, each as
/// `NAME.csv` or `NAME.parquet` (both is an error, as for a portfolio).
pub fn locate_feed(dir: &Path) -> Result<Vec<TableFile>, FeedError> {
    if !dir.is_dir() {
        return Err(IoError::io(
            dir,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such folder"),
        )
        .into());
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
                }
                .into());
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
            (false, false) => {}
        }
    }
    if out.is_empty() {
        return Err(FeedError::NoTables {
            path: dir.to_owned(),
        });
    }
    Ok(out)
}

/// The ids a feed mentions, as keys or as references (raw cell text: a mention need not be a
/// valid id; the store simply does not know it).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Mentions {
    pub borrowers: HashSet<Box<str>>,
    pub loans: HashSet<Box<str>>,
    /// Loans that the feed's installments belong to (the store answers with their schedules).
    pub installment_loans: HashSet<Box<str>>,
    /// Payment ids and the payments that reversals name.
    pub payments: HashSet<Box<str>>,
    pub contacts: HashSet<Box<str>>,
    pub promises: HashSet<Box<str>>,
}

/// A stored payment or reversal, as the reversal rules need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownPayment {
    pub loan_id: Box<str>,
    pub amount: Minor,
    pub kind: PaymentKind,
    pub reverses: Option<Box<str>>,
}

/// What the store holds of the ids a feed mentions. It must be closed under the references
/// the rules follow: the borrower of every loan, the loan of every payment, the payment a
/// stored reversal reverses and the reversal of a stored payment that was reversed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Known {
    pub borrowers: HashSet<Box<str>>,
    /// Loan id → borrower id.
    pub loans: HashMap<Box<str>, Box<str>>,
    /// Loan id → (seq, due date) of its stored installments.
    pub installments: HashMap<Box<str>, Vec<(u32, Date)>>,
    pub payments: HashMap<Box<str>, KnownPayment>,
    pub contacts: HashSet<Box<str>>,
    pub promises: HashSet<Box<str>>,
}

impl Known {
    /// The store holds none of the feed's ids (a first load): no row needs its key looked up.
    pub fn is_empty(&self) -> bool {
        self.borrowers.is_empty()
            && self.loans.is_empty()
            && self.installments.is_empty()
            && self.payments.is_empty()
            && self.contacts.is_empty()
            && self.promises.is_empty()
    }

    fn has(&self, key: &StoreKey) -> bool {
        match key {
            StoreKey::Borrower(id) => self.borrowers.contains(id),
            StoreKey::Loan(id) => self.loans.contains_key(id),
            StoreKey::Installment(loan, seq) => self
                .installments
                .get(loan)
                .is_some_and(|v| v.iter().any(|(s, _)| s == seq)),
            StoreKey::Payment(id) => self.payments.contains_key(id),
            StoreKey::Contact(id) => self.contacts.contains(id),
            StoreKey::Promise(id) => self.promises.contains(id),
        }
    }
}

/// An accepted row of a feed and its line (CSV line, header = 1; Parquet row from 1).
#[derive(Debug, Clone, PartialEq)]
pub struct Line<T> {
    pub line: u64,
    pub row: T,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedInstallment {
    pub loan_id: LoanId,
    pub seq: u32,
    pub row: InstallmentRow,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedPayment {
    pub id: PaymentId,
    pub loan_id: LoanId,
    pub received_at: Timestamp,
    pub amount: Minor,
    pub kind: PaymentKind,
    pub reverses: Option<PaymentId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedContact {
    pub id: ContactId,
    pub borrower_id: BorrowerId,
    pub loan_id: Option<LoanId>,
    pub channel: Box<str>,
    pub direction: Box<str>,
    pub at: Timestamp,
    pub outcome: Box<str>,
    pub target: Option<Box<str>>,
    pub party: Option<Box<str>>,
    pub agency_id: Option<Box<str>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedPromise {
    pub id: PromiseId,
    pub loan_id: LoanId,
    pub created_at: Timestamp,
    pub amount: Minor,
    pub due_date: Date,
}

/// The accepted rows of a feed, by table, with ids (not indexes): new rows and rows the
/// store already holds alike, in file order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeedRows {
    pub borrowers: Vec<Line<BorrowerRow>>,
    pub loans: Vec<Line<LoanRow>>,
    pub installments: Vec<Line<FeedInstallment>>,
    pub payments: Vec<Line<FeedPayment>>,
    pub contacts: Vec<Line<FeedContact>>,
    pub promises: Vec<Line<FeedPromise>>,
}

impl FeedRows {
    /// Accepted rows per table, in `Table::ALL` order.
    pub fn counts(&self) -> [usize; 6] {
        [
            self.borrowers.len(),
            self.loans.len(),
            self.installments.len(),
            self.payments.len(),
            self.contacts.len(),
            self.promises.len(),
        ]
    }

    pub fn len(&self) -> usize {
        self.counts().iter().sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn push(&mut self, line: u64, row: TypedRow) {
        match row {
            TypedRow::Borrower(row) => self.borrowers.push(Line { line, row }),
            TypedRow::Loan(row) => self.loans.push(Line { line, row }),
            TypedRow::Installment(row) => self.installments.push(Line { line, row }),
            TypedRow::Payment(row) => self.payments.push(Line { line, row }),
            TypedRow::Contact(row) => self.contacts.push(Line { line, row }),
            TypedRow::Promise(row) => self.promises.push(Line { line, row }),
        }
    }
}

/// A feed read and validated against the store.
#[derive(Debug)]
pub struct FeedOutcome {
    pub rows: FeedRows,
    /// Rejects and files in the shape `write::write_rejects`, `write::count_rejects` and
    /// `write::describe` take. Its portfolio holds only `rows_read` (rows of the feed's files,
    /// accepted or not); the accepted rows are in `rows`.
    pub report: ReadOutcome,
}

// ---------------------------------------------------------------------------------------
// Step 1: the survey.

/// Reads only the id columns of each file and returns every id mentioned.
pub fn survey(files: &[TableFile]) -> Result<Mentions, FeedError> {
    let mut scratch = PortfolioBuilder::new();
    let found = Mutex::new(Mentions::default());
    let none = |_: Table, _: u64| {};
    for f in files {
        match f.table {
            Table::Borrowers => scan(f, &Survey::<Borrowers>::new(&found), &mut scratch, &none)?,
            Table::Loans => scan(f, &Survey::<Loans>::new(&found), &mut scratch, &none)?,
            Table::Installments => {
                scan(f, &Survey::<Installments>::new(&found), &mut scratch, &none)?
            }
            Table::Payments => scan(f, &Survey::<Payments>::new(&found), &mut scratch, &none)?,
            Table::Contacts => scan(f, &Survey::<Contacts>::new(&found), &mut scratch, &none)?,
            Table::Promises => scan(f, &Survey::<Promises>::new(&found), &mut scratch, &none)?,
        }
    }
    found
        .into_inner()
        .map_err(|_| FeedError::Internal("the survey's lock was poisoned".into()))
}

struct Survey<'a, P> {
    found: &'a Mutex<Mentions>,
    _p: PhantomData<fn() -> P>,
}

impl<'a, P> Survey<'a, P> {
    fn new(found: &'a Mutex<Mentions>) -> Self {
        Survey {
            found,
            _p: PhantomData,
        }
    }
}

impl<P: FeedTable> TableParse for Survey<'_, P> {
    type Out = [Option<Box<str>>; 3];
    const SPECS: &'static [ColSpec] = P::SPECS;

    fn parse<R: Row>(&self, _: &PortfolioBuilder, r: &R) -> Self::Out {
        let t = |c: Option<usize>| c.and_then(|c| r.text(c).ok().flatten()).map(Box::from);
        let [a, b, c] = P::MENTION_COLS;
        [t(a), t(b), t(c)]
    }

    fn apply(&self, _: &mut PortfolioBuilder, _: RowRef, out: Self::Out) {
        let Ok(mut m) = self.found.lock() else {
            return;
        };
        let [a, b, c] = out;
        match P::TABLE {
            Table::Borrowers => m.borrowers.extend(a),
            Table::Loans => {
                m.loans.extend(a);
                m.borrowers.extend(b);
            }
            Table::Installments => {
                m.loans.extend(a.clone());
                m.installment_loans.extend(a);
            }
            Table::Payments => {
                m.payments.extend(a);
                m.loans.extend(b);
                m.payments.extend(c);
            }
            Table::Contacts => {
                m.contacts.extend(a);
                m.borrowers.extend(b);
                m.loans.extend(c);
            }
            Table::Promises => {
                m.promises.extend(a);
                m.loans.extend(b);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Step 3: reading through a builder seeded with the store's rows.

/// The key a row has in the store.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum StoreKey {
    Borrower(Box<str>),
    Loan(Box<str>),
    Installment(Box<str>, u32),
    Payment(Box<str>),
    Contact(Box<str>),
    Promise(Box<str>),
}

impl StoreKey {
    /// The rejection of a second row with a key the store holds, worded as the builder words
    /// a duplicate (the first row of the feed with that key is the one kept).
    fn duplicate(&self) -> FieldError {
        let (column, id) = match self {
            StoreKey::Installment(_, seq) => {
                return FieldError::new(
                    "seq",
                    Reason::DuplicateId,
                    format!(
                        "installment {seq} of this loan appeared in an earlier row, which is kept"
                    ),
                );
            }
            StoreKey::Borrower(id) => ("borrower_id", id),
            StoreKey::Loan(id) => ("loan_id", id),
            StoreKey::Payment(id) => ("payment_id", id),
            StoreKey::Contact(id) => ("contact_id", id),
            StoreKey::Promise(id) => ("promise_id", id),
        };
        FieldError::new(
            column,
            Reason::DuplicateId,
            format!("{id:?} appeared in an earlier row, which is kept"),
        )
    }
}

#[derive(Debug)]
enum TypedRow {
    Borrower(BorrowerRow),
    Loan(LoanRow),
    Installment(FeedInstallment),
    Payment(FeedPayment),
    Contact(FeedContact),
    Promise(FeedPromise),
}

/// What the feed reader needs of each table's parsed rows, on top of `TableParse`.
trait FeedTable: TableParse {
    const TABLE: Table;
    /// The columns `survey` reads (key first, then references), by position in `SPECS`.
    const MENTION_COLS: [Option<usize>; 3];
    /// The column with the row's loan id, for tables whose parsed row holds only its index.
    const LOAN_COL: Option<usize>;
    /// The row's key, if it parsed.
    fn key(out: &Self::Out, loan: Option<&str>) -> Option<StoreKey>;
    /// The row's warnings, or the error that rejects it, ignoring references.
    fn fields(out: &Self::Out) -> Result<Vec<FieldError>, FieldError>;
    /// The row with ids, if its fields parsed (`Err` if an id it names cannot be an id).
    fn typed(out: &Self::Out, loan: Option<&str>) -> Option<Result<TypedRow, FieldError>>;
}

fn parsed_fields<K, T>(p: &Parsed<K, T>) -> Result<Vec<FieldError>, FieldError> {
    match (&p.key, &p.row) {
        (Err(e), _) | (_, Err(e)) => Err(e.clone()),
        _ => Ok(p.warnings.clone()),
    }
}

fn loan_id(loan: Option<&str>) -> Result<LoanId, FieldError> {
    let s = loan.unwrap_or("");
    LoanId::parse("loan_id", s).map_err(|_| {
        FieldError::new(
            "loan_id",
            Reason::UnknownReference,
            format!("no accepted loan {s:?}"),
        )
    })
}

impl FeedTable for Borrowers {
    const TABLE: Table = Table::Borrowers;
    const MENTION_COLS: [Option<usize>; 3] = [Some(0), None, None];
    const LOAN_COL: Option<usize> = None;
    fn key(out: &Self::Out, _: Option<&str>) -> Option<StoreKey> {
        out.key
            .as_ref()
            .ok()
            .map(|k| StoreKey::Borrower(k.as_str().into()))
    }
    fn fields(out: &Self::Out) -> Result<Vec<FieldError>, FieldError> {
        parsed_fields(out)
    }
    fn typed(out: &Self::Out, _: Option<&str>) -> Option<Result<TypedRow, FieldError>> {
        let row = out.row.as_ref().ok()?;
        Some(Ok(TypedRow::Borrower(row.clone())))
    }
}

impl FeedTable for Loans {
    const TABLE: Table = Table::Loans;
    const MENTION_COLS: [Option<usize>; 3] = [Some(0), Some(1), None];
    const LOAN_COL: Option<usize> = None;
    fn key(out: &Self::Out, _: Option<&str>) -> Option<StoreKey> {
        out.key
            .as_ref()
            .ok()
            .map(|k| StoreKey::Loan(k.as_str().into()))
    }
    fn fields(out: &Self::Out) -> Result<Vec<FieldError>, FieldError> {
        parsed_fields(out)
    }
    fn typed(out: &Self::Out, _: Option<&str>) -> Option<Result<TypedRow, FieldError>> {
        let row = out.row.as_ref().ok()?;
        Some(Ok(TypedRow::Loan(row.clone())))
    }
}

impl FeedTable for Installments {
    const TABLE: Table = Table::Installments;
    const MENTION_COLS: [Option<usize>; 3] = [Some(0), None, None];
    const LOAN_COL: Option<usize> = Some(0);
    fn key(out: &Self::Out, loan: Option<&str>) -> Option<StoreKey> {
        let (_, seq, _) = out.as_ref().ok()?;
        Some(StoreKey::Installment(loan?.into(), *seq))
    }
    fn fields(out: &Self::Out) -> Result<Vec<FieldError>, FieldError> {
        match out {
            Err(e) | Ok((_, _, Err(e))) => Err(e.clone()),
            Ok(_) => Ok(Vec::new()),
        }
    }
    fn typed(out: &Self::Out, loan: Option<&str>) -> Option<Result<TypedRow, FieldError>> {
        let (_, seq, Ok(row)) = out.as_ref().ok()? else {
            return None;
        };
        Some(loan_id(loan).map(|loan_id| {
            TypedRow::Installment(FeedInstallment {
                loan_id,
                seq: *seq,
                row: *row,
            })
        }))
    }
}

impl FeedTable for Payments {
    const TABLE: Table = Table::Payments;
    const MENTION_COLS: [Option<usize>; 3] = [Some(0), Some(1), Some(5)];
    const LOAN_COL: Option<usize> = Some(1);
    fn key(out: &Self::Out, _: Option<&str>) -> Option<StoreKey> {
        out.key.as_ref().ok().map(|k| StoreKey::Payment(k.clone()))
    }
    fn fields(out: &Self::Out) -> Result<Vec<FieldError>, FieldError> {
        parsed_fields(out)
    }
    fn typed(out: &Self::Out, loan: Option<&str>) -> Option<Result<TypedRow, FieldError>> {
        let id = out.key.as_ref().ok()?;
        let (_, received_at, amount, kind, reverses) = out.row.as_ref().ok()?;
        Some((|| {
            let reverses = reverses
                .as_deref()
                .map(|r| {
                    PaymentId::parse("reverses", r).map_err(|_| {
                        FieldError::new(
                            "reverses",
                            Reason::InvalidReversal,
                            format!("no accepted payment {r:?}"),
                        )
                    })
                })
                .transpose()?;
            Ok(TypedRow::Payment(FeedPayment {
                id: PaymentId::parse("payment_id", id)?,
                loan_id: loan_id(loan)?,
                received_at: *received_at,
                amount: *amount,
                kind: *kind,
                reverses,
            }))
        })())
    }
}

impl FeedTable for Contacts {
    const TABLE: Table = Table::Contacts;
    const MENTION_COLS: [Option<usize>; 3] = [Some(0), Some(1), Some(2)];
    const LOAN_COL: Option<usize> = None;
    fn key(out: &Self::Out, _: Option<&str>) -> Option<StoreKey> {
        out.key.as_ref().ok().map(|k| StoreKey::Contact(k.clone()))
    }
    fn fields(out: &Self::Out) -> Result<Vec<FieldError>, FieldError> {
        parsed_fields(out)
    }
    fn typed(out: &Self::Out, _: Option<&str>) -> Option<Result<TypedRow, FieldError>> {
        let (borrower, loan, row) = out.row.as_ref().ok()?;
        let row: &ContactRow = row;
        Some((|| {
            let borrower_id = BorrowerId::parse("borrower_id", borrower).map_err(|_| {
                FieldError::new(
                    "borrower_id",
                    Reason::UnknownReference,
                    format!("no accepted borrower {borrower:?}"),
                )
            })?;
            let loan_id = match loan {
                Some(l) => Some(loan_id(Some(l))?),
                None => None,
            };
            Ok(TypedRow::Contact(FeedContact {
                id: ContactId::parse("contact_id", &row.id)?,
                borrower_id,
                loan_id,
                channel: row.channel.clone(),
                direction: row.direction.clone(),
                at: row.at,
                outcome: row.outcome.clone(),
                target: row.target.clone(),
                party: row.party.clone(),
                agency_id: row.agency_id.clone(),
            }))
        })())
    }
}

impl FeedTable for Promises {
    const TABLE: Table = Table::Promises;
    const MENTION_COLS: [Option<usize>; 3] = [Some(0), Some(1), None];
    const LOAN_COL: Option<usize> = Some(1);
    fn key(out: &Self::Out, _: Option<&str>) -> Option<StoreKey> {
        out.key.as_ref().ok().map(|k| StoreKey::Promise(k.clone()))
    }
    fn fields(out: &Self::Out) -> Result<Vec<FieldError>, FieldError> {
        parsed_fields(out)
    }
    fn typed(out: &Self::Out, loan: Option<&str>) -> Option<Result<TypedRow, FieldError>> {
        let (_, row) = out.row.as_ref().ok()?;
        let row: &PromiseRow = row;
        Some((|| {
            Ok(TypedRow::Promise(FeedPromise {
                id: PromiseId::parse("promise_id", &row.id)?,
                loan_id: loan_id(loan)?,
                created_at: row.created_at,
                amount: row.amount,
                due_date: row.due_date,
            }))
        })())
    }
}

/// One table's rows as the feed reader sees them: what read.rs parsed, plus the key and the
/// typed row (both computed in the parallel parse step).
struct FeedOut<O> {
    inner: O,
    key: Option<StoreKey>,
    typed: Option<Result<TypedRow, FieldError>>,
}

#[derive(Default)]
struct Sink {
    rows: Vec<(RowRef, TypedRow)>,
    /// Keys the store holds that a row of this feed already used.
    resent: HashSet<StoreKey>,
    /// Rows with a key the store holds, accepted as they are (the builder never saw them).
    resent_ok: u64,
}

struct Feed<'k, P> {
    inner: P,
    known: &'k Known,
    /// `known` is empty.
    fresh: bool,
    sink: Mutex<Sink>,
}

impl<P: FeedTable> TableParse for Feed<'_, P> {
    type Out = FeedOut<P::Out>;
    const SPECS: &'static [ColSpec] = P::SPECS;

    fn parse<R: Row>(&self, b: &PortfolioBuilder, r: &R) -> Self::Out {
        let inner = self.inner.parse(b, r);
        let loan = P::LOAN_COL.and_then(|c| r.text(c).ok().flatten());
        FeedOut {
            // Against an empty `Known` every row is new: no key to compare.
            key: if self.fresh {
                None
            } else {
                P::key(&inner, loan)
            },
            typed: P::typed(&inner, loan),
            inner,
        }
    }

    /// Against an empty store (every row is new) the inner table's chunk claims apply as in
    /// a file read; otherwise rows claim one by one (a row with a stored key claims nothing).
    fn claim_chunk(
        &self,
        b: &mut PortfolioBuilder,
        outs: &[Option<&Self::Out>],
    ) -> Option<Vec<Option<Result<Claim, Duplicate>>>> {
        if !self.fresh {
            return None;
        }
        let inner: Vec<Option<&P::Out>> = outs.iter().map(|o| o.map(|o| &o.inner)).collect();
        self.inner.claim_chunk(b, &inner)
    }

    fn apply_claimed(
        &self,
        b: &mut PortfolioBuilder,
        at: RowRef,
        out: Self::Out,
        pre: Option<Result<Claim, Duplicate>>,
    ) {
        if !self.fresh {
            return self.apply(b, at, out);
        }
        // As `apply` for a row without a stored key.
        if let Some(Ok(row)) = out.typed {
            let Ok(mut sink) = self.sink.lock() else {
                return;
            };
            sink.rows.push((at, row));
        }
        self.inner.apply_claimed(b, at, out.inner, pre);
    }

    fn apply(&self, b: &mut PortfolioBuilder, at: RowRef, out: Self::Out) {
        let Ok(mut sink) = self.sink.lock() else {
            return;
        };
        match out.key {
            Some(key) if self.known.has(&key) => {
                if sink.resent.contains(&key) {
                    return b.reject(at, key.duplicate());
                }
                sink.resent.insert(key);
                match (P::fields(&out.inner), out.typed) {
                    (Err(e), _) | (Ok(_), Some(Err(e))) => b.reject(at, e),
                    (Ok(warnings), Some(Ok(row))) => {
                        warnings.into_iter().for_each(|w| b.warn(at, w));
                        sink.rows.push((at, row));
                        sink.resent_ok += 1;
                    }
                    (Ok(_), None) => b.reject(
                        at,
                        FieldError::new(
                            P::SPECS[0].name,
                            Reason::InvalidValue,
                            "the row could not be read",
                        ),
                    ),
                }
            }
            _ => {
                // The builder decides; a row it rejects is dropped from `rows` after `finish`.
                if let Some(Ok(row)) = out.typed {
                    sink.rows.push((at, row));
                }
                drop(sink);
                self.inner.apply(b, at, out.inner);
            }
        }
    }
}

fn internal(what: impl std::fmt::Display) -> FeedError {
    FeedError::Internal(what.to_string())
}

/// Adds the store's rows to the builder as rows at line 0, before any row of the feed.
/// Only what the rules look at is real (ids, references, seqs, due dates, payment amounts,
/// kinds and reversals); the builder's portfolio is thrown away.
fn seed(b: &mut PortfolioBuilder, known: &Known) -> Result<[u64; 6], FeedError> {
    let at = |table| RowRef { table, line: 0 };
    let mut n = [0u64; 6];
    let sorted = |it: &mut Vec<&Box<str>>| it.sort_unstable();
    let bad = |e: FieldError| internal(format!("a stored id does not read as an id: {e}"));

    let mut ids: Vec<&Box<str>> = known.borrowers.iter().collect();
    sorted(&mut ids);
    let placeholder_zone = TimeZoneName::utc();
    let placeholder_j = Jurisdiction::parse("jurisdiction", "ZZ").map_err(bad)?;
    for id in ids {
        let claim = b
            .claim_borrower(at(Table::Borrowers), id)
            .map_err(|_| internal(format!("stored borrower {id:?} twice")))?;
        b.add_borrower(
            claim,
            BorrowerRow {
                id: BorrowerId::parse("borrower_id", id).map_err(bad)?,
                name: "".into(),
                phone: None,
                email: None,
                timezone: placeholder_zone.clone(),
                jurisdiction: placeholder_j.clone(),
                language: None,
                deceased: false,
                bankrupt: false,
                cease_contact: false,
                phone_timezone: None,
                dispute_open: false,
                hardship: false,
                breathing_space_until: None,
                attorney_phone: None,
                attorney_email: None,
            },
        );
        n[Table::Borrowers as usize] += 1;
    }

    let mut ids: Vec<&Box<str>> = known.loans.keys().collect();
    sorted(&mut ids);
    let currency = Currency::parse("currency", "XXX").map_err(bad)?;
    let one = Minor::positive("principal_minor", 1).map_err(bad)?;
    let zero_rate = Bps::parse("annual_rate_bps", 0).map_err(bad)?;
    for id in ids {
        let borrower = known.loans.get(id).map(|b| &**b).unwrap_or("");
        let claim = b
            .claim_loan(at(Table::Loans), id)
            .map_err(|_| internal(format!("stored loan {id:?} twice")))?;
        b.add_loan(
            at(Table::Loans),
            claim,
            LoanRow {
                id: LoanId::parse("loan_id", id).map_err(bad)?,
                borrower_id: BorrowerId::parse("borrower_id", borrower).map_err(bad)?,
                product: "".into(),
                currency,
                principal: one,
                annual_rate: zero_rate,
                penalty_rate: zero_rate,
                disbursed_on: Date::MIN,
                status: LoanStatus::Active,
            },
        );
        n[Table::Loans as usize] += 1;
    }

    let mut ids: Vec<&Box<str>> = known.installments.keys().collect();
    sorted(&mut ids);
    for id in ids {
        let loan = b
            .loan_index(id)
            .ok_or_else(|| internal(format!("installments of loan {id:?}, not known")))?;
        for &(seq, due_date) in known.installments.get(id).into_iter().flatten() {
            b.add_installment(
                at(Table::Installments),
                id,
                Some(loan),
                seq,
                Ok(InstallmentRow {
                    due_date,
                    principal: Minor::ZERO,
                    interest: Minor::ZERO,
                    fee: Minor::ZERO,
                }),
            );
            n[Table::Installments as usize] += 1;
        }
    }

    let mut ids: Vec<&Box<str>> = known.payments.keys().collect();
    sorted(&mut ids);
    for id in ids {
        let Some(p) = known.payments.get(id) else {
            continue;
        };
        let loan = b.loan_index(&p.loan_id).ok_or_else(|| {
            internal(format!("payment {id:?} of loan {:?}, not known", p.loan_id))
        })?;
        let claim = b
            .claim_payment(at(Table::Payments), id)
            .map_err(|_| internal(format!("stored payment {id:?} twice")))?;
        // Stored reversals are taken first (the earliest instant), so a stored payment that
        // was reversed is reversed before any reversal of the feed is considered.
        b.add_payment(
            at(Table::Payments),
            claim,
            PaymentRow {
                loan,
                received_at: Timestamp::MIN,
                amount: p.amount,
                kind: p.kind,
                reverses: p.reverses.clone(),
            },
        );
        n[Table::Payments as usize] += 1;
    }
    Ok(n)
}

fn read_table<P: FeedTable>(
    f: &TableFile,
    inner: P,
    known: &Known,
    b: &mut PortfolioBuilder,
    progress: &(dyn Fn(Table, u64) + Sync),
) -> Result<Sink, FeedError> {
    let feed = Feed {
        inner,
        known,
        fresh: known.is_empty(),
        sink: Mutex::new(Sink::default()),
    };
    scan(f, &feed, b, progress)?;
    feed.sink
        .into_inner()
        .map_err(|_| internal("the feed's lock was poisoned"))
}

/// Reads and validates a feed against what the store holds (`known`, from the store's answer
/// to [`survey`]). Rows are rejected exactly as `arrears run` would reject them if the
/// store's rows came first in the same files; rows with a key the store holds are passed on
/// for the import to compare.
pub fn read_feed(
    files: Vec<TableFile>,
    known: &Known,
    progress: &(dyn Fn(Table, u64) + Sync),
) -> Result<FeedOutcome, FeedError> {
    let mut b = PortfolioBuilder::new();
    let seeded = seed(&mut b, known)?;
    let mut sinks: Vec<(Table, Sink)> = Vec::with_capacity(files.len());
    for f in &files {
        let sink = match f.table {
            Table::Borrowers => read_table(f, Borrowers, known, &mut b, progress)?,
            Table::Loans => read_table(f, Loans, known, &mut b, progress)?,
            Table::Installments => read_table(f, Installments, known, &mut b, progress)?,
            Table::Payments => read_table(f, Payments, known, &mut b, progress)?,
            Table::Contacts => read_table(f, Contacts, known, &mut b, progress)?,
            Table::Promises => read_table(f, Promises, known, &mut b, progress)?,
        };
        sinks.push((f.table, sink));
    }
    let (portfolio, rejects) = b.finish();
    if let Some(r) = rejects.iter().find(|r| r.at.line == 0) {
        return Err(internal(format!(
            "a stored row broke the rules when read back: {r}"
        )));
    }

    let mut rows_read = portfolio.rows_read;
    let mut errors: HashSet<RowRef> = HashSet::new();
    let mut rejected = [0u64; 6];
    for r in rejects.iter().filter(|r| r.severity == Severity::Error) {
        if errors.insert(r.at) {
            rejected[r.at.table as usize] += 1;
        }
    }
    for (read, seeded) in rows_read.iter_mut().zip(seeded) {
        *read -= seeded;
    }
    let mut rows = FeedRows::default();
    for (table, sink) in sinks {
        let t = table as usize;
        rows_read[t] += sink.resent_ok;
        let before = rows.counts()[t];
        for (at, row) in sink.rows {
            if !errors.contains(&at) {
                rows.push(at.line, row);
            }
        }
        let accepted = (rows.counts()[t] - before) as u64;
        // Every row read is accepted or rejected, and every accepted row is passed on.
        if accepted + rejected[t] != rows_read[t] {
            return Err(internal(format!(
                "{}: {} rows read, {accepted} accepted and {} rejected",
                table.name(),
                rows_read[t],
                rejected[t]
            )));
        }
    }
    Ok(FeedOutcome {
        rows,
        report: ReadOutcome {
            portfolio: Portfolio {
                rows_read,
                ..Portfolio::default()
            },
            rejects,
            files,
        },
    })
}
