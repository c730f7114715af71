//! What the running service (`arrears serve`) reads and writes: a borrower's facts and
//! contact history for one compliance check, events ingested through the API (idempotent by
//! event id), API tokens (stored as SHA-256 hashes), users (argon2 hashes made by the
//! caller) and the access log of every read of a borrower's data.
//!
//! An event changes the same tables a feed import does (payments, contacts, promises, the
//! borrower's flags), so the next check and the next daily run see it; flag changes are also
//! kept, never deleted, in `borrower_state_changes`, with the event that made them. Each
//! event is applied in one transaction together with its `ingested_events` row, which holds
//! the SHA-256 of its canonical body: the same id with the same body is "already recorded",
//! the same id with another body is a conflict, and nothing is applied twice.
//!
//! A contact is recorded only if the caller's `decide` (the compliance engine, which this
//! crate does not know) allows it, over the borrower's facts and history read in the same
//! transaction after the borrower's row is locked: two contacts recorded at once for one
//! borrower are decided one after the other, so a cap cannot be passed by racing.

use crate::schema::{self, date_text};
use crate::schema::{int, opt_text, text, ts};
use crate::sql::{Cell, Dialect, Tx, Ty};
use crate::{Store, StoreError};
use arrears_domain::portfolio::ContactRow;
use arrears_domain::types::{BorrowerId, LoanId};
use arrears_domain::{BorrowerRow, Jurisdiction, TimeZoneName, parse};
use jiff::Timestamp;
use jiff::civil::Date;

/// A request the store refuses because of what it holds (the service answers these with
/// 4xx), or a store failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("there is no borrower {0:?}")]
    UnknownBorrower(String),
    #[error("there is no loan {0:?}")]
    UnknownLoan(String),
    #[error("there is no payment {0:?}")]
    UnknownPayment(String),
    #[error("loan {loan:?} is not a loan of borrower {borrower:?}")]
    LoanOfAnotherBorrower { loan: String, borrower: String },
    /// An id the event would create is already stored (by a feed or another event).
    #[error("a {what} with id {id:?} is already stored")]
    Duplicate { what: &'static str, id: String },
    /// The event contradicts what is stored (a reversal of another loan's payment, …).
    #[error("{0}")]
    Invalid(String),
    #[error("a live token named {0:?} exists already; revoke it first")]
    TokenNameTaken(String),
    #[error("a user named {0:?} exists already")]
    UsernameTaken(String),
}

/// A borrower as stored, with their loans, every contact recorded about them or to their
/// phone number or e-mail address, and their lifecycle records: what a compliance check
/// needs.
#[derive(Debug, Clone)]
pub struct BorrowerContacts {
    pub borrower: BorrowerRow,
    pub loan_ids: Vec<LoanId>,
    /// Oldest first (ties by contact id). The borrower's own contacts, and every other
    /// borrower's contact whose target is this borrower's phone number or e-mail address
    /// (the per-number caps count them); each keeps its real `borrower_id`, so
    /// [`BorrowerContacts::own_contacts`] are those with this borrower's id.
    pub contacts: Vec<StoredContact>,
    /// The portal's view of the borrower's latest `preferences` rows for call, SMS and
    /// e-mail (see `Store::contact_preferences`), if any.
    pub preferences: Option<crate::ContactPreferences>,
    /// What the rules need of each loan, in `loan_ids` order.
    pub loans: Vec<crate::StoredLoanFacts>,
    /// Every lifecycle record of the borrower and their loans (`Store::lifecycle_of`).
    pub lifecycle: arrears_domain::Lifecycle,
}

impl BorrowerContacts {
    /// A borrower with nothing else stored.
    pub fn new(borrower: BorrowerRow) -> BorrowerContacts {
        BorrowerContacts {
            borrower,
            loan_ids: Vec::new(),
            contacts: Vec::new(),
            preferences: None,
            loans: Vec::new(),
            lifecycle: arrears_domain::Lifecycle::default(),
        }
    }

    /// The contacts recorded for this borrower (not those of other borrowers to a shared
    /// number or address).
    pub fn own_contacts(&self) -> impl Iterator<Item = &StoredContact> {
        self.contacts
            .iter()
            .filter(|c| c.borrower_id == self.borrower.id)
    }
}

/// One stored contact. `row.borrower` and `row.loan` are not indexes into any portfolio here
/// (they are 0 and `None`); the loan is `loan_id`.
#[derive(Debug, Clone)]
pub struct StoredContact {
    pub loan_id: Option<LoanId>,
    /// The borrower the contact was recorded for.
    pub borrower_id: BorrowerId,
    pub row: ContactRow,
    /// The rule ids of a contact that a rule forbade and that was recorded anyway (reported
    /// after the fact: `Store::record_violation`); `None` for a contact no rule forbade.
    pub violation: Option<Vec<String>>,
}

/// A borrower flag that events set or clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BorrowerFlag {
    DisputeOpen,
    CeaseContact,
    Hardship,
    Deceased,
    Bankrupt,
}

impl BorrowerFlag {
    /// The `borrowers` column (and `borrower_state_changes.flag`).
    pub fn column(self) -> &'static str {
        match self {
            BorrowerFlag::DisputeOpen => "dispute_open",
            BorrowerFlag::CeaseContact => "cease_contact",
            BorrowerFlag::Hardship => "hardship",
            BorrowerFlag::Deceased => "deceased",
            BorrowerFlag::Bankrupt => "bankrupt",
        }
    }
}

/// A contact that happened, to be recorded (the `contacts` columns).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewContact {
    pub contact_id: String,
    pub borrower_id: BorrowerId,
    pub loan_id: Option<LoanId>,
    pub channel: String,
    pub direction: String,
    pub at: Timestamp,
    pub outcome: String,
    pub target: Option<String>,
    pub party: Option<String>,
    pub agency_id: Option<String>,
}

/// An event's effect on the store, its values already parsed at the edge.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServiceEvent {
    Payment {
        payment_id: String,
        loan_id: LoanId,
        received_at: Timestamp,
        amount_minor: i64,
    },
    /// Cancels an earlier payment of the same loan and amount.
    Reversal {
        payment_id: String,
        loan_id: LoanId,
        reverses: String,
        received_at: Timestamp,
        amount_minor: i64,
    },
    Contact(NewContact),
    Promise {
        promise_id: String,
        loan_id: LoanId,
        created_at: Timestamp,
        amount_minor: i64,
        due_date: Date,
    },
    /// Dispute opened or resolved, cease-contact, hardship, deceased, bankrupt.
    Flag {
        borrower_id: BorrowerId,
        flag: BorrowerFlag,
        value: bool,
        at: Timestamp,
    },
}

/// The bookkeeping of an ingested event.
#[derive(Debug, Clone)]
pub struct EventMeta<'a> {
    pub event_id: &'a str,
    /// The event's type as the API names it (`payment`, `dispute_opened`, …).
    pub kind: &'a str,
    /// The event's canonical JSON and its SHA-256 (hex).
    pub body: &'a str,
    pub body_sha256: &'a str,
    pub received_at: Timestamp,
    /// Who sent it (the API token's name).
    pub actor: &'a str,
}

/// What became of an ingested event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ingested<E> {
    Recorded,
    /// The same id with the same body was recorded before; nothing changed.
    AlreadyRecorded,
    /// The same id was recorded before with another body; nothing changed.
    Conflict,
    /// `decide` refused the contact; nothing changed.
    Refused(E),
}

impl<E> Ingested<E> {
    /// The same outcome with the refusal mapped.
    pub fn map_refused<F>(self, f: impl FnOnce(E) -> F) -> Ingested<F> {
        match self {
            Ingested::Recorded => Ingested::Recorded,
            Ingested::AlreadyRecorded => Ingested::AlreadyRecorded,
            Ingested::Conflict => Ingested::Conflict,
            Ingested::Refused(e) => Ingested::Refused(f(e)),
        }
    }
}

/// A stored user (for login).
#[derive(Debug, Clone)]
pub struct StoredUser {
    pub username: String,
    pub role: String,
    /// argon2id PHC string.
    pub password_hash: String,
    pub disabled: bool,
}

/// One read of a borrower's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub at: Timestamp,
    pub actor: String,
    /// What was read (`contacts.check`, `accounts.get`, …).
    pub action: String,
    pub borrower_id: Option<String>,
    pub loan_id: Option<String>,
}

fn corrupt(table: &'static str, key: &str, column: &'static str, detail: String) -> StoreError {
    StoreError::Corrupt {
        table,
        key: key.to_owned(),
        column,
        detail,
    }
}

/// Reads a borrower row (selected in `schema::BORROWERS` column order).
pub(crate) fn borrower_row(r: &[Cell]) -> Result<BorrowerRow, StoreError> {
    let key = r.first().and_then(Cell::text).unwrap_or("?").to_owned();
    let col = |name: &'static str| {
        schema::BORROWERS
            .cols
            .iter()
            .position(|c| c.name == name)
            .and_then(|i| r.get(i))
    };
    let bad = |column: &'static str, detail: String| corrupt("borrowers", &key, column, detail);
    let opt = |name: &'static str| col(name).and_then(Cell::text);
    let need = |name: &'static str| opt(name).ok_or_else(|| bad(name, "empty".into()));
    let flag = |name: &'static str| {
        col(name)
            .and_then(Cell::boolean)
            .ok_or_else(|| bad(name, "empty".into()))
    };
    let boxed = |name: &'static str| opt(name).map(Into::into);
    let field = |e: arrears_domain::FieldError| bad(e.column, e.detail);
    Ok(BorrowerRow {
        id: BorrowerId::parse("borrower_id", need("borrower_id")?).map_err(field)?,
        name: need("name")?.into(),
        phone: boxed("phone"),
        email: boxed("email"),
        timezone: TimeZoneName::parse("timezone", need("timezone")?).map_err(field)?,
        jurisdiction: Jurisdiction::parse("jurisdiction", need("jurisdiction")?).map_err(field)?,
        language: boxed("language"),
        deceased: flag("deceased")?,
        bankrupt: flag("bankrupt")?,
        cease_contact: flag("cease_contact")?,
        phone_timezone: opt("phone_timezone")
            .map(|z| TimeZoneName::parse("phone_timezone", z))
            .transpose()
            .map_err(field)?,
        dispute_open: flag("dispute_open")?,
        hardship: flag("hardship")?,
        breathing_space_until: opt("breathing_space_until")
            .map(|s| parse::date("breathing_space_until", s))
            .transpose()
            .map_err(field)?,
        attorney_phone: boxed("attorney_phone"),
        attorney_email: boxed("attorney_email"),
    })
}

pub(crate) const CONTACT_COLS: &str =
    "contact_id, loan_id, channel, direction, at, outcome, target, party, agency_id";

/// The contact columns [`stored_contact`] reads: `CONTACT_COLS`, then the contact's
/// borrower and its violation.
pub(crate) const CONTACT_READ: [&str; 11] = [
    "contact_id",
    "loan_id",
    "channel",
    "direction",
    "at",
    "outcome",
    "target",
    "party",
    "agency_id",
    "borrower_id",
    "violation",
];

/// The [`CONTACT_READ`] columns of the contacts aliased `alias`, `at` through
/// `Dialect::select` (all of them text).
pub(crate) fn contact_read(d: Dialect, alias: &str) -> Vec<String> {
    CONTACT_READ
        .iter()
        .map(|c| {
            let col = format!("{alias}.{c}");
            if *c == "at" {
                d.select(&col, Ty::Ts)
            } else {
                col
            }
        })
        .collect()
}

/// The access log's rows from one text array per column (PostgreSQL), in one statement.
const ACCESS_BATCH: &str = "INSERT INTO access_log (at, actor, action, borrower_id, loan_id) \
     SELECT CAST(at AS TIMESTAMPTZ), actor, action, borrower_id, loan_id \
     FROM unnest(CAST($1 AS TEXT[]), CAST($2 AS TEXT[]), CAST($3 AS TEXT[]), \
         CAST($4 AS TEXT[]), CAST($5 AS TEXT[])) WITH ORDINALITY \
         AS t(at, actor, action, borrower_id, loan_id, n) ORDER BY n";

/// A contact's values in `CONTACT_COLS` order (every one a text cell; `at` as `ts` binds it).
pub(crate) fn contact_cells(c: &NewContact) -> [Cell; 9] {
    [
        text(&c.contact_id),
        opt_text(c.loan_id.as_ref().map(|l| l.as_str())),
        text(&c.channel),
        text(&c.direction),
        ts(c.at),
        text(&c.outcome),
        opt_text(c.target.as_deref()),
        opt_text(c.party.as_deref()),
        opt_text(c.agency_id.as_deref()),
    ]
}

/// The rule ids of a stored `violation` (';'-separated).
pub(crate) fn split_violation(v: &str) -> Vec<String> {
    v.split(';')
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Reads a contact selected as [`CONTACT_READ`] (see [`contact_read`]).
pub(crate) fn stored_contact(r: &[Cell]) -> Result<StoredContact, StoreError> {
    let key = r.first().and_then(Cell::text).unwrap_or("?").to_owned();
    let bad = |column: &'static str, detail: String| corrupt("contacts", &key, column, detail);
    let t = |i: usize| r.get(i).and_then(Cell::text);
    let need = |i: usize, name: &'static str| t(i).ok_or_else(|| bad(name, "empty".into()));
    let at_text = need(4, "at")?;
    let at = at_text
        .parse::<Timestamp>()
        .map_err(|e| bad("at", format!("{at_text:?}: {e}")))?;
    let loan_id = t(1)
        .map(|l| LoanId::parse("loan_id", l))
        .transpose()
        .map_err(|e| bad("loan_id", e.detail))?;
    let borrower_id = BorrowerId::parse("borrower_id", need(9, "borrower_id")?)
        .map_err(|e| bad("borrower_id", e.detail))?;
    Ok(StoredContact {
        loan_id,
        borrower_id,
        row: ContactRow {
            id: need(0, "contact_id")?.into(),
            borrower: 0,
            loan: None,
            channel: need(2, "channel")?.into(),
            direction: need(3, "direction")?.into(),
            at,
            outcome: need(5, "outcome")?.into(),
            target: t(6).map(Into::into),
            party: t(7).map(Into::into),
            agency_id: t(8).map(Into::into),
        },
        violation: t(10).map(split_violation),
    })
}

/// The borrower columns as [`borrower_row`] reads them: flags as integers (so that a UNION
/// has one type per position), dates and instants as text.
pub(crate) fn borrower_select(d: Dialect) -> Vec<String> {
    schema::BORROWERS
        .cols
        .iter()
        .map(|c| match (d, c.ty) {
            (Dialect::Postgres, Ty::Bool) => format!("CAST(CAST({} AS INT) AS BIGINT)", c.name),
            _ => d.select(c.name, c.ty),
        })
        .collect()
}

/// The decoded types of [`borrower_select`].
pub(crate) fn borrower_types() -> Vec<Ty> {
    schema::BORROWERS
        .cols
        .iter()
        .map(|c| match c.ty {
            Ty::Bool => Ty::Int,
            Ty::Date | Ty::Ts => Ty::Text,
            t => t,
        })
        .collect()
}

/// The one statement that reads a borrower, their loans, their contacts, the contacts of
/// others to their phone number or e-mail address, and their lifecycle records (a single
/// statement sees one consistent state, and costs one round trip): a UNION ALL of parts told
/// apart by the first column (0 the borrower, 1 a loan, 2 a contact, 3 a payment that is not
/// reversed, the lifecycle's tags from `lifecycle::lifecycle_parts`). The borrower's columns
/// come first (flags as integers, so that every position has one type in all parts), then a
/// loan id, then the contact columns ([`CONTACT_READ`]), then `lifecycle::G` text columns: a
/// loan's first due date, a payment's instant and amount, or a lifecycle record.
///
/// `many`: for the borrowers of a text array `$1` (PostgreSQL), each row led by the id of
/// the borrower whose facts it belongs to (what [`facts_of_many`] reads).
fn facts_statement(d: Dialect, many: bool) -> (String, Vec<Ty>) {
    use crate::lifecycle::{G, Scope, lifecycle_parts};
    let scope = if many { Scope::ManyPg } else { Scope::One };
    let nb = schema::BORROWERS.cols.len();
    let nc = CONTACT_READ.len();
    let null = |n: usize| vec!["NULL"; n].join(", ");
    let lead = |e: &str| {
        if many {
            format!("{e}, ")
        } else {
            String::new()
        }
    };
    let (bn, cn) = (null(nb), null(nc));
    let mut parts = vec![
        format!(
            "SELECT {}CAST(0 AS BIGINT), {}, NULL, {cn}, {} FROM borrowers WHERE {}",
            lead("borrower_id"),
            borrower_select(d).join(", "),
            null(G),
            scope.filter(d, "borrower_id"),
        ),
        format!(
            "SELECT {}CAST(1 AS BIGINT), {bn}, l.loan_id, {cn}, {}, {} FROM loans l WHERE {}",
            lead("l.borrower_id"),
            first_due(d, "l.loan_id"),
            null(G - 1),
            scope.filter(d, "l.borrower_id"),
        ),
        format!(
            "SELECT {}CAST(3 AS BIGINT), {bn}, p.loan_id, {cn}, {}, {} FROM {}",
            lead("l.borrower_id"),
            payment_cols(d),
            null(G - 2),
            payments_of(&scope.filter(d, "l.borrower_id")),
        ),
        format!(
            "SELECT {}CAST(2 AS BIGINT), {bn}, NULL, {}, {} FROM contacts c WHERE {}",
            lead("c.borrower_id"),
            contact_read(d, "c").join(", "),
            null(G),
            scope.filter(d, "c.borrower_id"),
        ),
        // Other borrowers' contacts to this borrower's number or address.
        format!(
            "SELECT {}CAST(2 AS BIGINT), {bn}, NULL, {}, {} FROM borrowers b JOIN contacts c \
             ON c.borrower_id <> b.borrower_id \
             AND (c.target = b.phone OR c.target = b.email) WHERE {}",
            lead("b.borrower_id"),
            contact_read(d, "c").join(", "),
            null(G),
            scope.filter(d, "b.borrower_id"),
        ),
    ];
    for p in lifecycle_parts(d, &scope) {
        parts.push(format!(
            "SELECT {}CAST({} AS BIGINT), {bn}, NULL, {cn}, {} FROM {}",
            lead(&p.lead),
            p.tag,
            p.cols.join(", "),
            p.from
        ));
    }
    let mut tys = if many {
        vec![Ty::Text, Ty::Int]
    } else {
        vec![Ty::Int]
    };
    tys.extend(borrower_types());
    tys.push(Ty::Text);
    tys.extend(std::iter::repeat_n(Ty::Text, nc + G));
    (parts.join(" UNION ALL "), tys)
}

/// The payments of the loans of the borrowers `filter` (on `l.borrower_id`) that are not
/// reversed: `FROM payments p JOIN loans l … WHERE …`.
pub(crate) fn payments_of(filter: &str) -> String {
    format!(
        "payments p JOIN loans l ON l.loan_id = p.loan_id WHERE {filter} AND p.kind = 'payment' \
         AND NOT EXISTS (SELECT 1 FROM payments r WHERE r.reverses = p.payment_id)"
    )
}

/// A payment of [`payments_of`] as text: its `received_at` and amount.
pub(crate) fn payment_cols(d: Dialect) -> String {
    format!(
        "{}, CAST(p.amount_minor AS TEXT)",
        d.select("p.received_at", Ty::Ts)
    )
}

/// A loan's earliest instalment due date (as text), as a scalar subquery on `loan`.
pub(crate) fn first_due(d: Dialect, loan: &str) -> String {
    format!(
        "(SELECT {} FROM installments i WHERE i.loan_id = {loan})",
        d.select("MIN(i.due_date)", Ty::Date)
    )
}

/// A loan's facts from its row: the first due date in the first text column (`g`); the
/// payments come later ([`attach_payments`]).
pub(crate) fn loan_facts(
    loan_id: LoanId,
    g: &[Cell],
) -> Result<crate::StoredLoanFacts, StoreError> {
    let first_due_date = g
        .first()
        .and_then(Cell::text)
        .map(|t| {
            t.parse::<Date>().map_err(|e| {
                corrupt(
                    "installments",
                    loan_id.as_str(),
                    "due_date",
                    format!("{t:?}: {e}"),
                )
            })
        })
        .transpose()?;
    Ok(crate::StoredLoanFacts {
        loan_id,
        last_payment_at: None,
        first_due_date,
        payments: Vec::new(),
    })
}

/// A payment read as [`payment_cols`] (of the loan `loan`).
pub(crate) fn loan_payment(loan: &str, g: &[Cell]) -> Result<(Timestamp, i64), StoreError> {
    let bad = |column: &'static str, v: &str| {
        corrupt(
            "payments",
            loan,
            column,
            format!("{v:?} does not read back"),
        )
    };
    let at = g.first().and_then(Cell::text).unwrap_or_default();
    let amount = g.get(1).and_then(Cell::text).unwrap_or_default();
    Ok((
        at.parse().map_err(|_| bad("received_at", at))?,
        amount.parse().map_err(|_| bad("amount_minor", amount))?,
    ))
}

/// Gives each loan its payments (oldest first) and, from them, its last payment.
pub(crate) fn attach_payments(
    loans: &mut [crate::StoredLoanFacts],
    mut payments: std::collections::HashMap<String, Vec<(Timestamp, i64)>>,
) {
    for l in loans {
        let mut p = payments.remove(l.loan_id.as_str()).unwrap_or_default();
        p.sort_unstable();
        l.last_payment_at = p.last().map(|x| x.0);
        l.payments = p;
    }
}

/// Reads the rows of [`facts_statement`]: `None` when there is no such borrower. Loans are
/// in id order, contacts oldest first (ties by contact id), both by byte order.
fn facts_from_rows(rows: &[Vec<Cell>]) -> Result<Option<BorrowerContacts>, StoreError> {
    let nb = schema::BORROWERS.cols.len();
    // Where the lifecycle columns start: after the borrower, the loan id and the contact.
    let gb = nb + 2 + CONTACT_READ.len();
    let mut borrower = None;
    let mut loans = Vec::new();
    let mut contacts = Vec::new();
    let mut payments: std::collections::HashMap<String, Vec<(Timestamp, i64)>> =
        std::collections::HashMap::new();
    let mut life = crate::lifecycle::LifecycleParts::default();
    for r in rows {
        let g = r.get(gb..).unwrap_or_default();
        match r.first().and_then(Cell::int) {
            Some(0) => borrower = Some(borrower_row(r.get(1..=nb).unwrap_or_default())?),
            Some(1) => {
                if let Some(l) = r.get(nb + 1).and_then(Cell::text) {
                    let id = LoanId::parse("loan_id", l)
                        .map_err(|e| corrupt("loans", l, "loan_id", e.detail))?;
                    loans.push(loan_facts(id, g)?);
                }
            }
            Some(2) => contacts.push(stored_contact(r.get(nb + 2..gb).unwrap_or_default())?),
            Some(3) => {
                let loan = r.get(nb + 1).and_then(Cell::text).unwrap_or_default();
                payments
                    .entry(loan.to_owned())
                    .or_default()
                    .push(loan_payment(loan, g)?);
            }
            Some(tag) => life.take(tag, g)?,
            None => return Err(StoreError::Internal("an unknown part in the facts".into())),
        }
    }
    let Some(borrower) = borrower else {
        return Ok(None);
    };
    let mut bc = BorrowerContacts::new(borrower);
    attach_payments(&mut loans, payments);
    bc.loan_ids = loans.iter().map(|l| l.loan_id.clone()).collect();
    bc.loans = loans;
    bc.contacts = contacts;
    bc.lifecycle = life.finish()?;
    bc.preferences = crate::preferences::portal_view(&bc.lifecycle.preferences);
    bc.put_in_order();
    Ok(Some(bc))
}

impl BorrowerContacts {
    /// The order every read gives: loans by id, contacts oldest first (ties by contact id),
    /// both by byte order.
    pub(crate) fn put_in_order(&mut self) {
        self.loan_ids
            .sort_unstable_by(|a, b| a.as_str().cmp(b.as_str()));
        self.loans
            .sort_unstable_by(|a, b| a.loan_id.as_str().cmp(b.loan_id.as_str()));
        self.contacts
            .sort_by(|a, b| (a.row.at, &a.row.id).cmp(&(b.row.at, &b.row.id)));
    }
}

/// The borrower, their loans and contacts, read in `tx`.
pub(crate) async fn borrower_contacts_in(
    tx: &mut Tx,
    borrower_id: &str,
) -> Result<Option<BorrowerContacts>, StoreError> {
    let (sql, tys) = facts_statement(tx.dialect(), false);
    let rows = tx
        .fetch_all(
            "reading a borrower's facts",
            &sql,
            &[text(borrower_id)],
            &tys,
        )
        .await?;
    facts_from_rows(&rows)
}

/// The facts of several borrowers, read in `tx` by one statement (PostgreSQL): the borrowers
/// that exist, by id.
pub(crate) async fn facts_of_many(
    tx: &mut Tx,
    borrower_ids: &[&str],
) -> Result<std::collections::HashMap<String, BorrowerContacts>, StoreError> {
    let (sql, tys) = facts_statement(tx.dialect(), true);
    let ids: Vec<Option<String>> = borrower_ids.iter().map(|b| Some((*b).to_owned())).collect();
    let rows = tx
        .fetch_all_arrays("reading borrowers' facts", &sql, &[ids], &tys)
        .await?;
    let mut parts: std::collections::HashMap<String, Vec<Vec<Cell>>> =
        std::collections::HashMap::new();
    for mut r in rows {
        let Some(Cell::Text(Some(id))) = (!r.is_empty()).then(|| r.remove(0)) else {
            return Err(StoreError::Internal(
                "a facts row without its borrower".into(),
            ));
        };
        parts.entry(id).or_default().push(r);
    }
    let mut out = std::collections::HashMap::with_capacity(parts.len());
    for (id, rows) in parts {
        if let Some(bc) = facts_from_rows(&rows)? {
            out.insert(id, bc);
        }
    }
    Ok(out)
}

/// The borrower that owns `loan_id`, read in `tx`.
pub(crate) async fn loan_owner(tx: &mut Tx, loan_id: &str) -> Result<Option<String>, StoreError> {
    let rows = tx
        .fetch_all(
            "reading a loan",
            "SELECT borrower_id FROM loans WHERE loan_id = $1",
            &[text(loan_id)],
            &[Ty::Text],
        )
        .await?;
    Ok(rows.first().and_then(|r| r[0].text()).map(str::to_owned))
}

/// Whether `SELECT 1 FROM table WHERE col = $1` finds a row.
async fn exists(tx: &mut Tx, table: &str, col: &str, value: &str) -> Result<bool, StoreError> {
    let rows = tx
        .fetch_all(
            "looking up an id",
            &format!("SELECT 'x' FROM {table} WHERE {col} = $1"),
            &[text(value)],
            &[Ty::Text],
        )
        .await?;
    Ok(!rows.is_empty())
}

/// Takes the borrower's row lock (PostgreSQL: `SELECT … FOR NO KEY UPDATE`, which writes
/// no new row version and, unlike `FOR UPDATE`, does not hold up the key-share locks that
/// foreign-key checks of concurrent inserts of the borrower's rows take) or the write lock (SQLite: a no-op `UPDATE`, so that the transaction writes
/// first) so that decisions about one borrower are taken one after the other; false when
/// there is no such borrower.
pub(crate) async fn lock_borrower(tx: &mut Tx, borrower_id: &str) -> Result<bool, StoreError> {
    lock_where(tx, "borrower_id = $1", borrower_id).await
}

/// `lock_borrower` for the borrower of a loan; false when there is no such loan.
pub(crate) async fn lock_loan_borrower(tx: &mut Tx, loan_id: &str) -> Result<bool, StoreError> {
    lock_where(
        tx,
        "borrower_id = (SELECT borrower_id FROM loans WHERE loan_id = $1)",
        loan_id,
    )
    .await
}

async fn lock_where(tx: &mut Tx, filter: &str, key: &str) -> Result<bool, StoreError> {
    match tx.dialect() {
        Dialect::Postgres => Ok(!tx
            .fetch_all(
                "locking a borrower",
                &format!("SELECT borrower_id FROM borrowers WHERE {filter} FOR NO KEY UPDATE"),
                &[text(key)],
                &[Ty::Text],
            )
            .await?
            .is_empty()),
        Dialect::Sqlite => Ok(tx
            .exec(
                "locking a borrower",
                &format!("UPDATE borrowers SET name = name WHERE {filter}"),
                &[text(key)],
            )
            .await?
            > 0),
    }
}

impl Store {
    /// Whether the store answers (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut tx = self.begin_read().await?;
        tx.fetch_all("pinging the store", "SELECT 'ok'", &[], &[Ty::Text])
            .await?;
        tx.commit().await
    }

    /// A borrower's facts, loans and contact history, or `None` when there is no such
    /// borrower.
    pub async fn borrower_contacts(
        &self,
        borrower_id: &str,
    ) -> Result<Option<BorrowerContacts>, StoreError> {
        let (sql, tys) = facts_statement(self.dialect(), false);
        let rows = self
            .fetch_once(
                "reading a borrower's facts",
                &sql,
                &[text(borrower_id)],
                &tys,
            )
            .await?;
        facts_from_rows(&rows)
    }

    /// The borrower that owns a loan, or `None` when there is no such loan.
    pub async fn loan_borrower(&self, loan_id: &str) -> Result<Option<String>, StoreError> {
        let mut tx = self.begin_read().await?;
        let out = loan_owner(&mut tx, loan_id).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Applies one event, idempotently (see the module docs). `decide` is asked about an
    /// outbound contact, with the borrower's facts and history before it.
    pub async fn ingest<E>(
        &self,
        meta: &EventMeta<'_>,
        event: &ServiceEvent,
        decide: impl FnOnce(&BorrowerContacts) -> Result<(), E>,
    ) -> Result<Ingested<E>, ServiceError> {
        let first = match (self.dialect(), event) {
            (
                Dialect::Postgres,
                ServiceEvent::Payment {
                    payment_id,
                    loan_id,
                    received_at,
                    amount_minor,
                },
            ) => {
                self.ingest_payment_pg(meta, payment_id, loan_id, *received_at, *amount_minor)
                    .await
            }
            (Dialect::Postgres, ServiceEvent::Contact(c)) => {
                self.ingest_contact_pg(meta, c, decide).await
            }
            _ => self.ingest_once(meta, event, decide).await,
        };
        match first {
            Err(ServiceError::Store(StoreError::Db { what, source })) => {
                // The same event recorded at the same moment by another request wins the
                // primary key; answer as a replay would.
                match self.event_hash(meta.event_id).await? {
                    Some(h) if h == meta.body_sha256 => Ok(Ingested::AlreadyRecorded),
                    Some(_) => Ok(Ingested::Conflict),
                    None => Err(StoreError::Db { what, source }.into()),
                }
            }
            other => other,
        }
    }

    pub(crate) async fn event_hash(&self, event_id: &str) -> Result<Option<String>, StoreError> {
        let mut tx = self.begin_read().await?;
        let h = stored_hash(&mut tx, event_id).await?;
        tx.commit().await?;
        Ok(h)
    }

    async fn ingest_once<E>(
        &self,
        meta: &EventMeta<'_>,
        event: &ServiceEvent,
        decide: impl FnOnce(&BorrowerContacts) -> Result<(), E>,
    ) -> Result<Ingested<E>, ServiceError> {
        let mut tx = self.begin().await?;
        let d = tx.dialect();
        // Lock first, so that the replay check and the decision see every earlier event
        // (on SQLite a read-then-write transaction could not commit after a concurrent
        // writer, so there the first statement writes).
        let unknown = || match event {
            ServiceEvent::Contact(NewContact { borrower_id, .. })
            | ServiceEvent::Flag { borrower_id, .. } => {
                ServiceError::UnknownBorrower(borrower_id.as_str().to_owned())
            }
            ServiceEvent::Payment { loan_id, .. }
            | ServiceEvent::Reversal { loan_id, .. }
            | ServiceEvent::Promise { loan_id, .. } => {
                ServiceError::UnknownLoan(loan_id.as_str().to_owned())
            }
        };
        let stored = match d {
            // One round trip: the row lock and the replay lookup together.
            Dialect::Postgres => {
                let (sql, key) = match event {
                    ServiceEvent::Contact(NewContact { borrower_id, .. })
                    | ServiceEvent::Flag { borrower_id, .. } => (
                        "SELECT b.borrower_id, \
                         (SELECT body_sha256 FROM ingested_events WHERE event_id = $2) \
                         FROM borrowers b WHERE b.borrower_id = $1 FOR NO KEY UPDATE",
                        borrower_id.as_str(),
                    ),
                    ServiceEvent::Payment { loan_id, .. }
                    | ServiceEvent::Reversal { loan_id, .. }
                    | ServiceEvent::Promise { loan_id, .. } => (
                        "SELECT b.borrower_id, \
                         (SELECT body_sha256 FROM ingested_events WHERE event_id = $2) \
                         FROM borrowers b JOIN loans l ON l.borrower_id = b.borrower_id \
                         WHERE l.loan_id = $1 FOR NO KEY UPDATE OF b",
                        loan_id.as_str(),
                    ),
                };
                let locked = tx
                    .fetch_all(
                        "locking the event's borrower",
                        sql,
                        &[text(key), text(meta.event_id)],
                        &[Ty::Text, Ty::Text],
                    )
                    .await?;
                let Some(row) = locked.first() else {
                    return Err(unknown());
                };
                row.get(1).and_then(Cell::text).map(str::to_owned)
            }
            // The first statement writes, so that the transaction holds the write lock
            // before it reads anything.
            Dialect::Sqlite => {
                let locked = match event {
                    ServiceEvent::Contact(NewContact { borrower_id, .. })
                    | ServiceEvent::Flag { borrower_id, .. } => {
                        lock_borrower(&mut tx, borrower_id.as_str()).await?
                    }
                    ServiceEvent::Payment { loan_id, .. }
                    | ServiceEvent::Reversal { loan_id, .. }
                    | ServiceEvent::Promise { loan_id, .. } => {
                        lock_loan_borrower(&mut tx, loan_id.as_str()).await?
                    }
                };
                if !locked {
                    return Err(unknown());
                }
                stored_hash(&mut tx, meta.event_id).await?
            }
        };
        match stored {
            Some(h) if h == meta.body_sha256 => return Ok(Ingested::AlreadyRecorded),
            Some(_) => return Ok(Ingested::Conflict),
            None => {}
        }
        if let ServiceEvent::Contact(c) = event {
            let facts = borrower_contacts_in(&mut tx, c.borrower_id.as_str())
                .await?
                .ok_or_else(|| ServiceError::UnknownBorrower(c.borrower_id.as_str().to_owned()))?;
            if let Some(l) = &c.loan_id
                && !facts.loan_ids.contains(l)
            {
                return Err(match loan_owner(&mut tx, l.as_str()).await? {
                    None => ServiceError::UnknownLoan(l.as_str().to_owned()),
                    Some(_) => ServiceError::LoanOfAnotherBorrower {
                        loan: l.as_str().to_owned(),
                        borrower: c.borrower_id.as_str().to_owned(),
                    },
                });
            }
            if exists(&mut tx, "contacts", "contact_id", &c.contact_id).await? {
                return Err(ServiceError::Duplicate {
                    what: "contact",
                    id: c.contact_id.clone(),
                });
            }
            if c.direction == "outbound"
                && let Err(e) = decide(&facts)
            {
                return Ok(Ingested::Refused(e));
            }
        }
        tx.exec(
            "recording the event",
            &format!(
                "INSERT INTO ingested_events (event_id, kind, body_sha256, body, received_at, actor) \
                 VALUES ($1, $2, $3, $4, {}, $6)",
                d.param(5, Ty::Ts)
            ),
            &[
                text(meta.event_id),
                text(meta.kind),
                text(meta.body_sha256),
                text(meta.body),
                ts(meta.received_at),
                text(meta.actor),
            ],
        )
        .await?;
        apply(&mut tx, meta, event).await?;
        tx.commit().await?;
        Ok(Ingested::Recorded)
    }

    /// Stores a new API token's hash under a name with its scopes (sorted, deduplicated);
    /// one live token per name. The scope names are the server's vocabulary
    /// (`arrears_server::auth::Scope`); a token with none may call nothing.
    pub async fn create_token(
        &self,
        name: &str,
        token_sha256: &str,
        scopes: &[&str],
        at: Timestamp,
    ) -> Result<(), ServiceError> {
        let mut sorted: Vec<&str> = scopes.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let scopes = sorted.join(" ");
        let mut tx = self.begin().await?;
        let d = tx.dialect();
        // One statement that writes: no read-then-write race on SQLite.
        let n = tx
            .exec(
                "storing a token",
                &format!(
                    "INSERT INTO api_tokens (name, token_sha256, created_at, scopes, scopes_granted_by) \
                     SELECT $1, $2, {}, $4, 'cli' WHERE NOT EXISTS \
                     (SELECT 1 FROM api_tokens WHERE name = $1 AND revoked_at IS NULL)",
                    d.param(3, Ty::Ts)
                ),
                &[text(name), text(token_sha256), ts(at), text(&scopes)],
            )
            .await?;
        if n == 0 {
            return Err(ServiceError::TokenNameTaken(name.to_owned()));
        }
        tx.commit().await?;
        Ok(())
    }

    /// Revokes the live token of a name; false when there is none.
    pub async fn revoke_token(&self, name: &str, at: Timestamp) -> Result<bool, StoreError> {
        let d = self.dialect();
        let n = self
            .exec_once(
                "revoking a token",
                &format!(
                    "UPDATE api_tokens SET revoked_at = {} WHERE name = $2 AND revoked_at IS NULL",
                    d.param(1, Ty::Ts)
                ),
                &[ts(at), text(name)],
            )
            .await?;
        Ok(n > 0)
    }

    /// The name of the live token with this hash.
    pub async fn token_name(&self, token_sha256: &str) -> Result<Option<String>, StoreError> {
        Ok(self.token(token_sha256).await?.map(|(name, _)| name))
    }

    /// The live token with this hash: its name (the actor of what it does) and the scopes
    /// it was issued with (migration 0013).
    pub async fn token(
        &self,
        token_sha256: &str,
    ) -> Result<Option<(String, Vec<String>)>, StoreError> {
        let rows = self
            .fetch_once(
                "looking up a token",
                "SELECT name, scopes FROM api_tokens WHERE token_sha256 = $1 AND revoked_at IS NULL",
                &[text(token_sha256)],
                &[Ty::Text, Ty::Text],
            )
            .await?;
        Ok(rows
            .first()
            .and_then(|r| Some((r[0].text()?.to_owned(), scope_list(r[1].text())))))
    }

    /// Every live token by name: (name, scopes, who granted them: `cli`, or migration
    /// 0013's note for a token issued before scopes existed). `arrears tokens list`.
    pub async fn live_tokens(&self) -> Result<Vec<(String, Vec<String>, String)>, StoreError> {
        let rows = self
            .fetch_once(
                "listing the tokens",
                "SELECT name, scopes, scopes_granted_by FROM api_tokens \
                 WHERE revoked_at IS NULL ORDER BY name",
                &[],
                &[Ty::Text, Ty::Text, Ty::Text],
            )
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                Some((
                    r[0].text()?.to_owned(),
                    scope_list(r[1].text()),
                    r[2].text().unwrap_or_default().to_owned(),
                ))
            })
            .collect())
    }

    /// Adds a user. `role` is one of agent, supervisor, compliance, admin (the schema checks
    /// it); `password_hash` an argon2id PHC string.
    pub async fn add_user(
        &self,
        username: &str,
        role: &str,
        password_hash: &str,
        at: Timestamp,
    ) -> Result<(), ServiceError> {
        let d = self.dialect();
        let n = self
            .exec_once(
                "adding a user",
                &format!(
                    "INSERT INTO users (username, role, password_hash, created_at) \
                     SELECT $1, $2, $3, {} WHERE NOT EXISTS \
                     (SELECT 1 FROM users WHERE username = $1)",
                    d.param(4, Ty::Ts)
                ),
                &[text(username), text(role), text(password_hash), ts(at)],
            )
            .await?;
        if n == 0 {
            return Err(ServiceError::UsernameTaken(username.to_owned()));
        }
        Ok(())
    }

    pub async fn user(&self, username: &str) -> Result<Option<StoredUser>, StoreError> {
        let rows = self
            .fetch_once(
                "looking up a user",
                "SELECT username, role, password_hash, disabled FROM users WHERE username = $1",
                &[text(username)],
                &[Ty::Text, Ty::Text, Ty::Text, Ty::Bool],
            )
            .await?;
        Ok(rows.first().map(|r| StoredUser {
            username: r[0].text().unwrap_or_default().to_owned(),
            role: r[1].text().unwrap_or_default().to_owned(),
            password_hash: r[2].text().unwrap_or_default().to_owned(),
            disabled: r[3].boolean().unwrap_or(true),
        }))
    }

    /// Records one read of a borrower's data.
    pub async fn log_access(&self, a: &Access) -> Result<(), StoreError> {
        self.log_accesses(std::slice::from_ref(a)).await
    }

    /// Records reads of borrowers' data, all in one transaction (one commit for many
    /// requests: the server's access log writer batches them this way).
    pub async fn log_accesses(&self, all: &[Access]) -> Result<(), StoreError> {
        /// Rows per INSERT: 5 values a row stays far under SQLite's 32,766 parameters.
        const ROWS: usize = 500;
        if all.is_empty() {
            return Ok(());
        }
        if let Some(relaxed) = &self.relaxed {
            // One statement, its own transaction, on a session with `synchronous_commit =
            // off`: the commit returns once the entries are in PostgreSQL, before its WAL
            // reaches the disk (a PostgreSQL crash within wal_writer_delay could lose the
            // latest entries; an Arrears crash loses none): the durability SQLite's WAL with
            // synchronous=NORMAL gives, and what keeps a check's answer off the disk's flush
            // latency. Contacts, events and every other write keep synchronous commits.
            let at = |a: &Access| ts(a.at).into_text();
            let cols: Vec<Vec<Option<String>>> = vec![
                all.iter().map(at).collect(),
                all.iter().map(|a| Some(a.actor.clone())).collect(),
                all.iter().map(|a| Some(a.action.clone())).collect(),
                all.iter().map(|a| a.borrower_id.clone()).collect(),
                all.iter().map(|a| a.loan_id.clone()).collect(),
            ];
            return crate::sql::exec_pg_arrays(relaxed, "logging accesses", ACCESS_BATCH, &cols)
                .await;
        }
        let mut tx = self.begin().await?;
        let d = tx.dialect();
        for chunk in all.chunks(ROWS) {
            let mut sql = String::from(
                "INSERT INTO access_log (at, actor, action, borrower_id, loan_id) VALUES ",
            );
            let mut args = Vec::with_capacity(chunk.len() * 5);
            for (i, a) in chunk.iter().enumerate() {
                let n = i * 5;
                if i > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!(
                    "({}, ${}, ${}, ${}, ${})",
                    d.param(n + 1, Ty::Ts),
                    n + 2,
                    n + 3,
                    n + 4,
                    n + 5
                ));
                args.extend([
                    ts(a.at),
                    text(&a.actor),
                    text(&a.action),
                    opt_text(a.borrower_id.as_deref()),
                    opt_text(a.loan_id.as_deref()),
                ]);
            }
            tx.exec("logging accesses", &sql, &args).await?;
        }
        tx.commit().await
    }

    /// The access log of a borrower, oldest first.
    pub async fn access_log(&self, borrower_id: &str) -> Result<Vec<Access>, StoreError> {
        let d = self.dialect();
        let rows = self
            .fetch_once(
                "reading the access log",
                &format!(
                    "SELECT {}, actor, action, borrower_id, loan_id FROM access_log \
                     WHERE borrower_id = $1 ORDER BY access_id",
                    d.select("at", Ty::Ts)
                ),
                &[text(borrower_id)],
                &[Ty::Ts, Ty::Text, Ty::Text, Ty::Text, Ty::Text],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let at = r[0].text().unwrap_or_default();
                Ok(Access {
                    at: at
                        .parse()
                        .map_err(|e| corrupt("access_log", at, "at", format!("{e}")))?,
                    actor: r[1].text().unwrap_or_default().to_owned(),
                    action: r[2].text().unwrap_or_default().to_owned(),
                    borrower_id: r[3].text().map(str::to_owned),
                    loan_id: r[4].text().map(str::to_owned),
                })
            })
            .collect()
    }

    /// How many state changes events made to a borrower's flags (for tests and audits).
    pub async fn count_state_changes(&self, borrower_id: &str) -> Result<i64, StoreError> {
        let n = self
            .fetch_once(
                "counting state changes",
                "SELECT CAST(COUNT(*) AS BIGINT) FROM borrower_state_changes WHERE borrower_id = $1",
                &[text(borrower_id)],
                &[Ty::Int],
            )
            .await?;
        Ok(n.first().and_then(|r| r[0].int()).unwrap_or(0))
    }
}

pub(crate) async fn stored_hash(tx: &mut Tx, event_id: &str) -> Result<Option<String>, StoreError> {
    let rows = tx
        .fetch_all(
            "looking up an event",
            "SELECT body_sha256 FROM ingested_events WHERE event_id = $1",
            &[text(event_id)],
            &[Ty::Text],
        )
        .await?;
    Ok(rows.first().and_then(|r| r[0].text()).map(str::to_owned))
}

/// The event's effect (its `ingested_events` row is already written in `tx`, and the lock
/// taken has shown that its borrower or loan exists).
async fn apply(
    tx: &mut Tx,
    meta: &EventMeta<'_>,
    event: &ServiceEvent,
) -> Result<(), ServiceError> {
    let d = tx.dialect();
    match event {
        ServiceEvent::Payment {
            payment_id,
            loan_id,
            received_at,
            amount_minor,
        } => {
            // A known payment id inserts nothing (one statement instead of a lookup first).
            let inserted = insert_payment(
                tx,
                d,
                payment_id,
                loan_id,
                *received_at,
                *amount_minor,
                None,
            )
            .await?;
            if inserted == 0 {
                return Err(ServiceError::Duplicate {
                    what: "payment",
                    id: payment_id.clone(),
                });
            }
        }
        ServiceEvent::Reversal {
            payment_id,
            loan_id,
            reverses,
            received_at,
            amount_minor,
        } => {
            no_duplicate(tx, "payments", "payment_id", "payment", payment_id).await?;
            let rows = tx
                .fetch_all(
                    "reading the reversed payment",
                    &format!(
                        "SELECT loan_id, {}, kind FROM payments WHERE payment_id = $1",
                        d.select("amount_minor", Ty::Int)
                    ),
                    &[text(reverses)],
                    &[Ty::Text, Ty::Int, Ty::Text],
                )
                .await?;
            let Some(r) = rows.first() else {
                return Err(ServiceError::UnknownPayment(reverses.clone()));
            };
            if r[2].text() != Some("payment") {
                return Err(ServiceError::Invalid(format!(
                    "{reverses:?} is a reversal, not a payment"
                )));
            }
            if r[0].text() != Some(loan_id.as_str()) {
                return Err(ServiceError::Invalid(format!(
                    "payment {reverses:?} belongs to another loan"
                )));
            }
            if r[1].int() != Some(*amount_minor) {
                return Err(ServiceError::Invalid(format!(
                    "amount {amount_minor} differs from payment {reverses:?} amount {}",
                    r[1].int().unwrap_or(0)
                )));
            }
            if exists(tx, "payments", "reverses", reverses).await? {
                return Err(ServiceError::Invalid(format!(
                    "payment {reverses:?} was already reversed"
                )));
            }
            insert_payment(
                tx,
                d,
                payment_id,
                loan_id,
                *received_at,
                *amount_minor,
                Some(reverses),
            )
            .await?;
        }
        ServiceEvent::Contact(c) => {
            tx.exec(
                "recording a contact",
                &format!(
                    "INSERT INTO contacts ({CONTACT_COLS}, borrower_id) \
                     VALUES ($1, $2, $3, $4, {}, $6, $7, $8, $9, $10)",
                    d.param(5, Ty::Ts)
                ),
                &contact_cells(c)
                    .into_iter()
                    .chain([text(c.borrower_id.as_str())])
                    .collect::<Vec<_>>(),
            )
            .await?;
        }
        ServiceEvent::Promise {
            promise_id,
            loan_id,
            created_at,
            amount_minor,
            due_date,
        } => {
            no_duplicate(tx, "promises", "promise_id", "promise", promise_id).await?;
            tx.exec(
                "recording a promise",
                &format!(
                    "INSERT INTO promises (promise_id, loan_id, created_at, amount_minor, due_date) \
                     VALUES ($1, $2, {}, $4, {})",
                    d.param(3, Ty::Ts),
                    d.param(5, Ty::Date)
                ),
                &[
                    text(promise_id),
                    text(loan_id.as_str()),
                    ts(*created_at),
                    int(*amount_minor),
                    text(&date_text(*due_date)),
                ],
            )
            .await?;
        }
        ServiceEvent::Flag {
            borrower_id,
            flag,
            value,
            at,
        } => {
            let col = flag.column();
            tx.exec(
                "changing a borrower flag",
                &format!("UPDATE borrowers SET {col} = $2 WHERE borrower_id = $1"),
                &[text(borrower_id.as_str()), Cell::Bool(Some(*value))],
            )
            .await?;
            tx.exec(
                "recording a state change",
                &format!(
                    "INSERT INTO borrower_state_changes \
                     (borrower_id, flag, value, effective_at, event_id, recorded_at) \
                     VALUES ($1, $2, $3, {}, $5, {})",
                    d.param(4, Ty::Ts),
                    d.param(6, Ty::Ts)
                ),
                &[
                    text(borrower_id.as_str()),
                    text(col),
                    Cell::Bool(Some(*value)),
                    ts(*at),
                    text(meta.event_id),
                    ts(meta.received_at),
                ],
            )
            .await?;
        }
    }
    Ok(())
}

async fn no_duplicate(
    tx: &mut Tx,
    table: &str,
    col: &str,
    what: &'static str,
    id: &str,
) -> Result<(), ServiceError> {
    if exists(tx, table, col, id).await? {
        return Err(ServiceError::Duplicate {
            what,
            id: id.to_owned(),
        });
    }
    Ok(())
}

async fn insert_payment(
    tx: &mut Tx,
    d: Dialect,
    payment_id: &str,
    loan_id: &LoanId,
    received_at: Timestamp,
    amount_minor: i64,
    reverses: Option<&str>,
) -> Result<u64, StoreError> {
    tx.exec(
        "recording a payment",
        &format!(
            "INSERT INTO payments (payment_id, loan_id, received_at, amount_minor, kind, reverses) \
             VALUES ($1, $2, {}, $4, $5, $6) ON CONFLICT (payment_id) DO NOTHING",
            d.param(3, Ty::Ts)
        ),
        &[
            text(payment_id),
            text(loan_id.as_str()),
            ts(received_at),
            int(amount_minor),
            text(if reverses.is_some() {
                "reversal"
            } else {
                "payment"
            }),
            opt_text(reverses),
        ],
    )
    .await
}

/// The scope names of a stored `scopes` cell (space-separated).
fn scope_list(cell: Option<&str>) -> Vec<String> {
    cell.unwrap_or_default()
        .split_ascii_whitespace()
        .map(str::to_owned)
        .collect()
}
