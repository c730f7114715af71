//! The portfolio model and its validation across rows.
//!
//! Readers parse each row's cells into a typed row and hand it to `PortfolioBuilder` in table
//! order (borrowers, loans, then the rest). The builder applies the rules that need more than
//! one row — duplicate ids (the first row in file order is kept), references to parents that
//! are missing or rejected, installment sequences and due-date order, reversals — and
//! `finish` returns the accepted `Portfolio` with every rejection. Nothing is dropped silently:
//! each row read is either accepted or named in a `Reject`.

use crate::idindex::{Claim, Duplicate, IdIndex};
use crate::reject::{FieldError, Reason, Reject, RowRef, Severity};
use crate::types::{BorrowerId, Bps, Currency, Jurisdiction, LoanId, Minor, TimeZoneName};
use jiff::Timestamp;
use jiff::civil::Date;

/// The input tables, in the order they are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    Borrowers,
    Loans,
    Installments,
    Payments,
    Contacts,
    Promises,
}

impl Table {
    pub const ALL: [Table; 6] = [
        Table::Borrowers,
        Table::Loans,
        Table::Installments,
        Table::Payments,
        Table::Contacts,
        Table::Promises,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Table::Borrowers => "borrowers",
            Table::Loans => "loans",
            Table::Installments => "installments",
            Table::Payments => "payments",
            Table::Contacts => "contacts",
            Table::Promises => "promises",
        }
    }

    /// `contacts` and `promises` may be absent from a portfolio.
    pub fn required(self) -> bool {
        !matches!(self, Table::Contacts | Table::Promises)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A borrower as read. Personal data (name, phone, e-mail) is masked in `Debug`.
#[derive(Clone, PartialEq)]
pub struct BorrowerRow {
    pub id: BorrowerId,
    pub name: Box<str>,
    pub phone: Option<Box<str>>,
    pub email: Option<Box<str>>,
    pub timezone: TimeZoneName,
    pub jurisdiction: Jurisdiction,
    pub language: Option<Box<str>>,
    pub deceased: bool,
    pub bankrupt: bool,
    pub cease_contact: bool,
    pub phone_timezone: Option<TimeZoneName>,
    pub dispute_open: bool,
    pub hardship: bool,
    pub breathing_space_until: Option<Date>,
    pub attorney_phone: Option<Box<str>>,
    pub attorney_email: Option<Box<str>>,
}

impl std::fmt::Debug for BorrowerRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Borrower")
            .field("id", &self.id)
            .field("name", &"***")
            .field("phone", &self.phone.as_ref().map(|_| "***"))
            .field("email", &self.email.as_ref().map(|_| "***"))
            .field("timezone", &self.timezone)
            .field("jurisdiction", &self.jurisdiction)
            .finish_non_exhaustive()
    }
}

pub type Borrower = BorrowerRow;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LoanStatus {
    #[default]
    Active,
    WrittenOff,
    Sold,
    Closed,
}

impl LoanStatus {
    pub fn parse(column: &'static str, s: &str) -> Result<LoanStatus, FieldError> {
        match s {
            "active" => Ok(LoanStatus::Active),
            "written_off" => Ok(LoanStatus::WrittenOff),
            "sold" => Ok(LoanStatus::Sold),
            "closed" => Ok(LoanStatus::Closed),
            _ => Err(FieldError::new(
                column,
                Reason::InvalidValue,
                format!("{s:?} is not one of active, written_off, sold, closed"),
            )),
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            LoanStatus::Active => "active",
            LoanStatus::WrittenOff => "written_off",
            LoanStatus::Sold => "sold",
            LoanStatus::Closed => "closed",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LoanRow {
    pub id: LoanId,
    pub borrower_id: BorrowerId,
    pub product: Box<str>,
    pub currency: Currency,
    pub principal: Minor,
    pub annual_rate: Bps,
    pub penalty_rate: Bps,
    pub disbursed_on: Date,
    pub status: LoanStatus,
}

/// An accepted loan, with the index of its borrower and the ranges of its installments and
/// payments in the portfolio's arrays.
#[derive(Debug, Clone, PartialEq)]
pub struct Loan {
    pub id: LoanId,
    pub borrower: u32,
    pub product: Box<str>,
    pub currency: Currency,
    pub principal: Minor,
    pub annual_rate: Bps,
    pub penalty_rate: Bps,
    pub disbursed_on: Date,
    pub status: LoanStatus,
    pub installments: std::ops::Range<u32>,
    pub payments: std::ops::Range<u32>,
}

/// The fields of an installment besides its key (loan, seq).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstallmentRow {
    pub due_date: Date,
    pub principal: Minor,
    pub interest: Minor,
    pub fee: Minor,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Installment {
    pub seq: u32,
    pub due_date: Date,
    pub principal: Minor,
    pub interest: Minor,
    pub fee: Minor,
}

impl Installment {
    pub fn total(&self) -> i128 {
        i128::from(self.principal.get())
            + i128::from(self.interest.get())
            + i128::from(self.fee.get())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PaymentKind {
    #[default]
    Payment,
    Reversal,
}

impl PaymentKind {
    pub fn parse(column: &'static str, s: &str) -> Result<PaymentKind, FieldError> {
        match s {
            "payment" => Ok(PaymentKind::Payment),
            "reversal" => Ok(PaymentKind::Reversal),
            _ => Err(FieldError::new(
                column,
                Reason::InvalidValue,
                format!("{s:?} is not payment or reversal"),
            )),
        }
    }
}

/// A payment or reversal row, its loan already resolved by the reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRow {
    pub loan: u32,
    pub received_at: Timestamp,
    pub amount: Minor,
    pub kind: PaymentKind,
    /// For a reversal: the payment it cancels.
    pub reverses: Option<Box<str>>,
}

/// An accepted payment of a loan. `cancelled_at` is when the reversal that cancels it was
/// received, if one was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Payment {
    pub received_at: Timestamp,
    pub amount: Minor,
    pub cancelled_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactRow {
    pub id: Box<str>,
    pub borrower: u32,
    pub loan: Option<u32>,
    pub channel: Box<str>,
    pub direction: Box<str>,
    pub at: Timestamp,
    pub outcome: Box<str>,
    pub target: Option<Box<str>>,
    pub party: Option<Box<str>>,
    pub agency_id: Option<Box<str>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromiseRow {
    pub id: Box<str>,
    pub loan: u32,
    pub created_at: Timestamp,
    pub amount: Minor,
    pub due_date: Date,
}

/// An accepted portfolio: every reference resolved, every installment sequence complete and
/// ordered, every reversal applied to the payment it cancels.
#[derive(Debug, Default)]
pub struct Portfolio {
    pub borrowers: Vec<Borrower>,
    pub loans: Vec<Loan>,
    pub installments: Vec<Installment>,
    pub payments: Vec<Payment>,
    pub contacts: Vec<ContactRow>,
    pub promises: Vec<PromiseRow>,
    /// Rows read per table (accepted or not), in `Table::ALL` order.
    pub rows_read: [u64; 6],
}

impl Portfolio {
    pub fn installments_of(&self, loan: &Loan) -> &[Installment] {
        let r = loan.installments.start as usize..loan.installments.end as usize;
        self.installments.get(r).unwrap_or(&[])
    }

    pub fn payments_of(&self, loan: &Loan) -> &[Payment] {
        let r = loan.payments.start as usize..loan.payments.end as usize;
        self.payments.get(r).unwrap_or(&[])
    }

    pub fn borrower_of(&self, loan: &Loan) -> Option<&Borrower> {
        self.borrowers.get(loan.borrower as usize)
    }
}

/// An installment row kept until `finish` decides on duplicates, gaps and order.
#[derive(Debug)]
struct PendingInstallment {
    loan: u32,
    seq: u32,
    line: u64,
    row: Result<InstallmentRow, Box<FieldError>>,
}

#[derive(Debug)]
struct PendingPayment {
    line: u64,
    row: PaymentRow,
}

/// Collects typed rows table by table and applies the cross-row rules.
#[derive(Debug, Default)]
pub struct PortfolioBuilder {
    borrower_ix: IdIndex,
    borrowers: Vec<Borrower>,
    loan_ix: IdIndex,
    loans: Vec<(LoanRow, u32)>,
    installments: Vec<PendingInstallment>,
    payment_ix: IdIndex,
    payments: Vec<PendingPayment>,
    contact_ids: IdIndex,
    contacts: Vec<ContactRow>,
    promise_ids: IdIndex,
    promises: Vec<PromiseRow>,
    rejects: Vec<Reject>,
    rows_read: [u64; 6],
}

fn dup(column: &'static str, id: &str) -> FieldError {
    FieldError::new(
        column,
        Reason::DuplicateId,
        format!("{id:?} appeared in an earlier row, which is kept"),
    )
}

fn unknown(column: &'static str, id: &str, what: &str) -> FieldError {
    FieldError::new(
        column,
        Reason::UnknownReference,
        format!("no accepted {what} {id:?}"),
    )
}

impl PortfolioBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    fn count(&mut self, t: Table) {
        self.rows_read[t.index()] += 1;
    }

    /// Room for `rows` more rows of a table (a reader that knows its row count calls this,
    /// so millions of rows are not copied while vectors grow).
    pub fn reserve(&mut self, t: Table, rows: usize) {
        const ID_BYTES: usize = 12;
        match t {
            Table::Borrowers => {
                self.borrowers.reserve(rows);
                self.borrower_ix.reserve(rows, ID_BYTES);
            }
            Table::Loans => {
                self.loans.reserve(rows);
                self.loan_ix.reserve(rows, ID_BYTES);
            }
            Table::Installments => self.installments.reserve(rows),
            Table::Payments => {
                self.payments.reserve(rows);
                self.payment_ix.reserve(rows, ID_BYTES);
            }
            Table::Contacts => {
                self.contacts.reserve(rows);
                self.contact_ids.reserve(rows, ID_BYTES);
            }
            Table::Promises => {
                self.promises.reserve(rows);
                self.promise_ids.reserve(rows, ID_BYTES);
            }
        }
    }

    /// A row rejected by the reader (its key or a field could not be parsed).
    pub fn reject(&mut self, at: RowRef, e: FieldError) {
        self.count(at.table);
        self.rejects.push(Reject::error(at, e));
    }

    /// A malformed optional field, read as empty. The row itself is still given to the builder.
    pub fn warn(&mut self, at: RowRef, e: FieldError) {
        self.rejects.push(Reject::warning(at, e));
    }

    /// Claims a borrower id in file order: `Err(duplicate_id)` if an earlier row had it.
    /// Call before parsing the rest of the row, so a duplicate is reported as such.
    pub fn claim_borrower(&mut self, at: RowRef, id: &str) -> Result<Claim, Duplicate> {
        claim(
            &mut self.borrower_ix,
            &mut self.rejects,
            &mut self.rows_read,
            at,
            "borrower_id",
            id,
        )
    }

    /// A borrower whose id was claimed and whose fields parsed.
    pub fn add_borrower(&mut self, claim: Claim, row: BorrowerRow) {
        self.count(Table::Borrowers);
        let ix = self.borrowers.len() as u32;
        self.borrower_ix.accept(claim, ix);
        self.borrowers.push(row);
    }

    pub fn claim_loan(&mut self, at: RowRef, id: &str) -> Result<Claim, Duplicate> {
        claim(
            &mut self.loan_ix,
            &mut self.rejects,
            &mut self.rows_read,
            at,
            "loan_id",
            id,
        )
    }

    /// A loan whose id was claimed and whose fields parsed; rejected if its borrower is
    /// unknown or was rejected.
    pub fn add_loan(&mut self, at: RowRef, claim: Claim, row: LoanRow) {
        self.count(Table::Loans);
        let Some(b) = self.borrower_ix.accepted(row.borrower_id.as_str()) else {
            let e = unknown("borrower_id", row.borrower_id.as_str(), "borrower");
            self.rejects.push(Reject::error(at, e));
            return;
        };
        let ix = self.loans.len() as u32;
        self.loan_ix.accept(claim, ix);
        self.loans.push((row, b));
    }

    /// The index of an accepted loan (after the loans table is read).
    pub fn loan_index(&self, id: &str) -> Option<u32> {
        self.loan_ix.accepted(id)
    }

    /// The index of an accepted borrower (after the borrowers table is read).
    pub fn borrower_index(&self, id: &str) -> Option<u32> {
        self.borrower_ix.accepted(id)
    }

    /// An installment whose key parsed. `loan` is `loan_index(loan_id)`; `row` the outcome of
    /// parsing its other fields. Duplicates, gaps and due-date order are decided in `finish`.
    pub fn add_installment(
        &mut self,
        at: RowRef,
        loan_id: &str,
        loan: Option<u32>,
        seq: u32,
        row: Result<InstallmentRow, FieldError>,
    ) {
        self.count(Table::Installments);
        match (loan, row) {
            (Some(loan), row) => self.installments.push(PendingInstallment {
                loan,
                seq,
                line: at.line,
                row: row.map_err(Box::new),
            }),
            (None, Err(e)) => self.rejects.push(Reject::error(at, e)),
            (None, Ok(_)) => self
                .rejects
                .push(Reject::error(at, unknown("loan_id", loan_id, "loan"))),
        }
    }

    pub fn claim_payment(&mut self, at: RowRef, id: &str) -> Result<Claim, Duplicate> {
        claim(
            &mut self.payment_ix,
            &mut self.rejects,
            &mut self.rows_read,
            at,
            "payment_id",
            id,
        )
    }

    /// Claims a chunk of payment ids at once, shard-parallel, exactly as `claim_payment` would
    /// one by one in this order (`None`: a row without a usable id). Duplicates are reported
    /// when their row is applied, with `duplicate`.
    pub fn claim_payments(
        &mut self,
        ids: &[Option<&str>],
    ) -> Vec<Option<Result<Claim, Duplicate>>> {
        self.claim_batch(Table::Payments, ids)
    }

    /// `claim_payments` for any table with ids (installments have none: all `None`).
    pub fn claim_batch(
        &mut self,
        table: Table,
        ids: &[Option<&str>],
    ) -> Vec<Option<Result<Claim, Duplicate>>> {
        let ix = match table {
            Table::Borrowers => &mut self.borrower_ix,
            Table::Loans => &mut self.loan_ix,
            Table::Payments => &mut self.payment_ix,
            Table::Contacts => &mut self.contact_ids,
            Table::Promises => &mut self.promise_ids,
            Table::Installments => return vec![None; ids.len()],
        };
        ix.claim_batch(ids)
    }

    /// A row whose id an earlier row claimed.
    pub fn duplicate(&mut self, at: RowRef, column: &'static str, id: &str) {
        self.count(at.table);
        self.rejects.push(Reject::error(at, dup(column, id)));
    }

    /// A payment or reversal whose id was claimed and whose fields and loan parsed.
    pub fn add_payment(&mut self, at: RowRef, claim: Claim, row: PaymentRow) {
        self.count(Table::Payments);
        let ix = self.payments.len() as u32;
        self.payment_ix.accept(claim, ix);
        self.payments.push(PendingPayment { line: at.line, row });
    }

    pub fn claim_contact(&mut self, at: RowRef, id: &str) -> Result<Claim, Duplicate> {
        claim(
            &mut self.contact_ids,
            &mut self.rejects,
            &mut self.rows_read,
            at,
            "contact_id",
            id,
        )
    }

    pub fn add_contact(&mut self, _at: RowRef, row: ContactRow) {
        self.count(Table::Contacts);
        self.contacts.push(row);
    }

    pub fn claim_promise(&mut self, at: RowRef, id: &str) -> Result<Claim, Duplicate> {
        claim(
            &mut self.promise_ids,
            &mut self.rejects,
            &mut self.rows_read,
            at,
            "promise_id",
            id,
        )
    }

    pub fn add_promise(&mut self, _at: RowRef, row: PromiseRow) {
        self.count(Table::Promises);
        self.promises.push(row);
    }

    /// Applies the cross-row rules and returns the accepted portfolio and every rejection,
    /// sorted by table and line.
    pub fn finish(mut self) -> (Portfolio, Vec<Reject>) {
        let n_loans = self.loans.len();
        let installments = self.finish_installments(n_loans);
        let payments = self.finish_payments(n_loans);

        let mut loans = Vec::with_capacity(n_loans);
        let (mut i_at, mut p_at) = (0u32, 0u32);
        for (ix, (row, borrower)) in self.loans.into_iter().enumerate() {
            let ni = installments.1[ix];
            let np = payments.1[ix];
            loans.push(Loan {
                id: row.id,
                borrower,
                product: row.product,
                currency: row.currency,
                principal: row.principal,
                annual_rate: row.annual_rate,
                penalty_rate: row.penalty_rate,
                disbursed_on: row.disbursed_on,
                status: row.status,
                installments: i_at..i_at + ni,
                payments: p_at..p_at + np,
            });
            i_at += ni;
            p_at += np;
        }
        let mut rejects = self.rejects;
        rejects.sort_by_key(|r| (r.at, r.severity));
        let portfolio = Portfolio {
            borrowers: self.borrowers,
            loans,
            installments: installments.0,
            payments: payments.0,
            contacts: self.contacts,
            promises: self.promises,
            rows_read: self.rows_read,
        };
        (portfolio, rejects)
    }

    /// Sorted by (loan, seq); returns the accepted installments grouped by loan and the count
    /// per loan.
    fn finish_installments(&mut self, n_loans: usize) -> (Vec<Installment>, Vec<u32>) {
        let all = std::mem::take(&mut self.installments);
        let order = group_by_loan(&all, n_loans, |p| p.loan, |p| (p.seq, p.line));
        let pending: Vec<&PendingInstallment> = order.iter().map(|&i| &all[i as usize]).collect();
        let mut out = Vec::with_capacity(pending.len());
        let mut counts = vec![0u32; n_loans];
        let at = |line| RowRef {
            table: Table::Installments,
            line,
        };
        let mut i = 0;
        while i < pending.len() {
            let loan = pending[i].loan;
            let mut prev_seq: Option<u32> = None; // the previous distinct seq present in the file
            let mut max_due: Option<Date> = None; // of accepted rows so far
            while i < pending.len() && pending[i].loan == loan {
                let seq = pending[i].seq;
                let first = pending[i];
                let gap = seq > 1 && prev_seq != Some(seq - 1);
                match &first.row {
                    Err(e) => self
                        .rejects
                        .push(Reject::error(at(first.line), (**e).clone())),
                    Ok(_) if gap => self.rejects.push(Reject::error(
                        at(first.line),
                        FieldError::new(
                            "seq",
                            Reason::SeqGap,
                            format!("no installment {} of this loan", seq - 1),
                        ),
                    )),
                    Ok(r) if max_due.is_some_and(|m| r.due_date < m) => {
                        self.rejects.push(Reject::error(
                            at(first.line),
                            FieldError::new(
                                "due_date",
                                Reason::DueDateOrder,
                                format!(
                                    "{} is before the due date of an earlier installment",
                                    r.due_date
                                ),
                            ),
                        ))
                    }
                    Ok(r) => {
                        max_due = Some(r.due_date);
                        out.push(Installment {
                            seq,
                            due_date: r.due_date,
                            principal: r.principal,
                            interest: r.interest,
                            fee: r.fee,
                        });
                        if let Some(c) = counts.get_mut(loan as usize) {
                            *c += 1;
                        }
                    }
                }
                prev_seq = Some(seq);
                i += 1;
                while i < pending.len() && pending[i].loan == loan && pending[i].seq == seq {
                    self.rejects.push(Reject::error(
                        at(pending[i].line),
                        FieldError::new("seq", Reason::DuplicateId, format!("installment {seq} of this loan appeared in an earlier row, which is kept")),
                    ));
                    i += 1;
                }
            }
        }
        (out, counts)
    }

    /// Applies reversals in (received_at, file order) and returns the accepted payments
    /// grouped by loan (by received_at, then file order) and the count per loan.
    fn finish_payments(&mut self, n_loans: usize) -> (Vec<Payment>, Vec<u32>) {
        let pending = std::mem::take(&mut self.payments);
        let mut cancelled: Vec<Option<Timestamp>> = vec![None; pending.len()];
        let mut reversals: Vec<usize> = (0..pending.len())
            .filter(|&i| pending[i].row.kind == PaymentKind::Reversal)
            .collect();
        reversals.sort_by_key(|&i| (pending[i].row.received_at, pending[i].line));
        let at = |line| RowRef {
            table: Table::Payments,
            line,
        };
        for r in reversals {
            let rev = &pending[r];
            let target = rev.row.reverses.as_deref().unwrap_or("");
            let bad = |why: String| FieldError::new("reverses", Reason::InvalidReversal, why);
            let err = match self.payment_ix.accepted(target) {
                None => Some(bad(format!("no accepted payment {target:?}"))),
                Some(t) => {
                    let p = &pending[t as usize];
                    if p.row.kind == PaymentKind::Reversal {
                        Some(bad(format!("{target:?} is a reversal, not a payment")))
                    } else if p.row.loan != rev.row.loan {
                        Some(bad(format!("payment {target:?} belongs to another loan")))
                    } else if p.row.amount != rev.row.amount {
                        Some(bad(format!(
                            "amount {} differs from payment {target:?} amount {}",
                            rev.row.amount, p.row.amount
                        )))
                    } else if cancelled[t as usize].is_some() {
                        Some(bad(format!("payment {target:?} was already reversed")))
                    } else {
                        cancelled[t as usize] = Some(rev.row.received_at);
                        None
                    }
                }
            };
            if let Some(e) = err {
                self.rejects.push(Reject::error(at(rev.line), e));
            }
        }
        let order = group_by_loan(
            &pending,
            n_loans,
            |p| p.row.loan,
            |p| (p.row.received_at, p.line),
        );
        let mut counts = vec![0u32; n_loans];
        let out = order
            .into_iter()
            .map(|i| i as usize)
            .filter(|&i| pending[i].row.kind == PaymentKind::Payment)
            .map(|i| {
                let p = &pending[i];
                if let Some(c) = counts.get_mut(p.row.loan as usize) {
                    *c += 1;
                }
                Payment {
                    received_at: p.row.received_at,
                    amount: p.row.amount,
                    cancelled_at: cancelled[i],
                }
            })
            .collect();
        (out, counts)
    }
}

/// The order of `items` grouped by loan in O(n) (a counting sort: loans are dense indexes),
/// each loan's few items then ordered by `key`. Returns indexes, not moved items, so millions
/// of rows are not copied.
fn group_by_loan<T, K: Ord>(
    items: &[T],
    n_loans: usize,
    loan: impl Fn(&T) -> u32,
    key: impl Fn(&T) -> K,
) -> Vec<u32> {
    let mut starts = vec![0u32; n_loans + 1];
    for it in items {
        if let Some(c) = starts.get_mut(loan(it) as usize + 1) {
            *c += 1;
        }
    }
    for i in 1..starts.len() {
        starts[i] += starts[i - 1];
    }
    let mut next = starts.clone();
    let mut order = vec![0u32; items.len()];
    for (i, it) in items.iter().enumerate() {
        if let Some(pos) = next.get_mut(loan(it) as usize) {
            if let Some(slot) = order.get_mut(*pos as usize) {
                *slot = i as u32;
            }
            *pos += 1;
        }
    }
    for w in starts.windows(2) {
        if let Some(group) = order.get_mut(w[0] as usize..w[1] as usize) {
            group.sort_by_key(|&i| key(&items[i as usize]));
        }
    }
    order
}

fn claim(
    ix: &mut IdIndex,
    rejects: &mut Vec<Reject>,
    rows_read: &mut [u64; 6],
    at: RowRef,
    column: &'static str,
    id: &str,
) -> Result<Claim, Duplicate> {
    ix.claim(id).inspect_err(|_| {
        rows_read[at.table.index()] += 1;
        rejects.push(Reject::error(at, dup(column, id)));
    })
}

/// Summary counts of rejections.
pub fn count_rejects(rejects: &[Reject]) -> (u64, u64) {
    let errors = rejects
        .iter()
        .filter(|r| r.severity == Severity::Error)
        .count() as u64;
    (errors, rejects.len() as u64 - errors)
}
