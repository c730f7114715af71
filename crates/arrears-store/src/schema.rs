//! The portfolio tables as Rust knows them: columns, types, keys, which columns a later feed
//! may change, and each feed row's values in column order (`LoadRow`, for bulk loads). The
//! DDL itself is in `migrations/{sqlite,postgres}`; `tests` checks that the two agree.

use crate::StoreError;
use crate::sql::{Cell, LoadRow, MAX_LOAD_COLS, Ty, Val};
use arrears_domain::Table;
use arrears_domain::{BorrowerRow, LoanRow, PaymentKind};
use arrears_io::feed::{FeedContact, FeedInstallment, FeedPayment, FeedPromise, Line};
use jiff::Timestamp;
use jiff::civil::Date;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Col {
    pub name: &'static str,
    pub ty: Ty,
    /// A later feed may change this column of a stored row (an update, not a conflict).
    pub mutable: bool,
}

const fn c(name: &'static str, ty: Ty) -> Col {
    Col {
        name,
        ty,
        mutable: false,
    }
}

const fn m(name: &'static str, ty: Ty) -> Col {
    Col {
        name,
        ty,
        mutable: true,
    }
}

#[derive(Debug)]
pub(crate) struct TableDef {
    pub table: Table,
    pub name: &'static str,
    pub key: &'static [&'static str],
    pub cols: &'static [Col],
}

impl TableDef {
    pub fn col_names(&self) -> Vec<&'static str> {
        self.cols.iter().map(|c| c.name).collect()
    }
    /// A table without a rowid on SQLite (`WITHOUT ROWID` in the migration): its primary
    /// key orders it.
    pub fn without_rowid(&self) -> bool {
        matches!(self.table, Table::Installments)
    }
    pub fn stage(&self) -> String {
        format!("stage_{}", self.name)
    }
}

pub(crate) const BORROWERS: TableDef = TableDef {
    table: Table::Borrowers,
    name: "borrowers",
    key: &["borrower_id"],
    cols: &[
        c("borrower_id", Ty::Text),
        c("name", Ty::Text),
        m("phone", Ty::Text),
        m("email", Ty::Text),
        m("timezone", Ty::Text),
        c("jurisdiction", Ty::Text),
        m("language", Ty::Text),
        m("deceased", Ty::Bool),
        m("bankrupt", Ty::Bool),
        m("cease_contact", Ty::Bool),
        m("phone_timezone", Ty::Text),
        m("dispute_open", Ty::Bool),
        m("hardship", Ty::Bool),
        m("breathing_space_until", Ty::Date),
        m("attorney_phone", Ty::Text),
        m("attorney_email", Ty::Text),
    ],
};

pub(crate) const LOANS: TableDef = TableDef {
    table: Table::Loans,
    name: "loans",
    key: &["loan_id"],
    cols: &[
        c("loan_id", Ty::Text),
        c("borrower_id", Ty::Text),
        c("product", Ty::Text),
        c("currency", Ty::Text),
        c("principal_minor", Ty::Int),
        c("annual_rate_bps", Ty::Int),
        c("penalty_rate_bps", Ty::Int),
        c("disbursed_on", Ty::Date),
        m("status", Ty::Text),
    ],
};

pub(crate) const INSTALLMENTS: TableDef = TableDef {
    table: Table::Installments,
    name: "installments",
    key: &["loan_id", "seq"],
    cols: &[
        c("loan_id", Ty::Text),
        c("seq", Ty::Int),
        c("due_date", Ty::Date),
        c("principal_minor", Ty::Int),
        c("interest_minor", Ty::Int),
        c("fee_minor", Ty::Int),
    ],
};

pub(crate) const PAYMENTS: TableDef = TableDef {
    table: Table::Payments,
    name: "payments",
    key: &["payment_id"],
    cols: &[
        c("payment_id", Ty::Text),
        c("loan_id", Ty::Text),
        c("received_at", Ty::Ts),
        c("amount_minor", Ty::Int),
        c("kind", Ty::Text),
        c("reverses", Ty::Text),
    ],
};

pub(crate) const CONTACTS: TableDef = TableDef {
    table: Table::Contacts,
    name: "contacts",
    key: &["contact_id"],
    cols: &[
        c("contact_id", Ty::Text),
        c("borrower_id", Ty::Text),
        c("loan_id", Ty::Text),
        c("channel", Ty::Text),
        c("direction", Ty::Text),
        c("at", Ty::Ts),
        c("outcome", Ty::Text),
        c("target", Ty::Text),
        c("party", Ty::Text),
        c("agency_id", Ty::Text),
    ],
};

pub(crate) const PROMISES: TableDef = TableDef {
    table: Table::Promises,
    name: "promises",
    key: &["promise_id"],
    cols: &[
        c("promise_id", Ty::Text),
        c("loan_id", Ty::Text),
        c("created_at", Ty::Ts),
        c("amount_minor", Ty::Int),
        c("due_date", Ty::Date),
    ],
};

/// In `Table::ALL` order (parents before children).
pub(crate) const TABLES: [&TableDef; 6] = [
    &BORROWERS,
    &LOANS,
    &INSTALLMENTS,
    &PAYMENTS,
    &CONTACTS,
    &PROMISES,
];

/// Columns holding personal data: a conflict report names them but never shows their values.
pub(crate) fn is_personal(col: &str) -> bool {
    matches!(
        col,
        "name" | "phone" | "email" | "attorney_phone" | "attorney_email"
    )
}

/// An instant as stored: UTC, microseconds, fixed width. Sub-microsecond digits are
/// truncated (PostgreSQL keeps microseconds); a booking date never changes by it.
pub(crate) fn ts_text(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

pub(crate) fn date_text(d: Date) -> String {
    d.to_string()
}

// Cells for bound arguments, shared by every module that writes statements.
pub(crate) fn text(s: &str) -> Cell {
    Cell::Text(Some(s.to_owned()))
}

pub(crate) fn opt_text(s: Option<&str>) -> Cell {
    Cell::Text(s.map(str::to_owned))
}

pub(crate) fn int(v: i64) -> Cell {
    Cell::Int(Some(v))
}

pub(crate) fn ts(t: Timestamp) -> Cell {
    Cell::Text(Some(ts_text(t)))
}

pub(crate) fn kind_code(k: PaymentKind) -> &'static str {
    match k {
        PaymentKind::Payment => "payment",
        PaymentKind::Reversal => "reversal",
    }
}

/// A date (`YYYY-MM-DD`) or an instant (as `ts_text`) formatted without allocating, for
/// bulk loads: years 0–9999 are written into a buffer on the stack, any other year (which no
/// feed holds in practice) goes through the general formatter.
pub(crate) enum Stamp {
    Short { buf: [u8; 27], len: usize },
    Long(String),
}

impl Stamp {
    pub(crate) fn date(d: Date) -> Stamp {
        let Ok(year) = u16::try_from(d.year()) else {
            return Stamp::Long(date_text(d));
        };
        let mut buf = [b'0'; 27];
        put_date(&mut buf, year, d.month(), d.day());
        Stamp::Short { buf, len: 10 }
    }

    pub(crate) fn ts(t: Timestamp) -> Stamp {
        let dt = jiff::tz::Offset::UTC.to_datetime(t);
        let Ok(year) = u16::try_from(dt.year()) else {
            return Stamp::Long(ts_text(t));
        };
        let mut buf = [b'0'; 27];
        put_date(&mut buf, year, dt.month(), dt.day());
        buf[10] = b'T';
        put_digits(&mut buf[11..13], i64::from(dt.hour()));
        buf[13] = b':';
        put_digits(&mut buf[14..16], i64::from(dt.minute()));
        buf[16] = b':';
        put_digits(&mut buf[17..19], i64::from(dt.second()));
        buf[19] = b'.';
        put_digits(&mut buf[20..26], i64::from(dt.subsec_nanosecond() / 1000));
        buf[26] = b'Z';
        Stamp::Short { buf, len: 27 }
    }

    pub(crate) fn as_str(&self) -> &str {
        match self {
            // Only ASCII digits and separators are written into `buf`.
            Stamp::Short { buf, len } => std::str::from_utf8(&buf[..*len]).unwrap_or_default(),
            Stamp::Long(s) => s,
        }
    }
}

fn put_date(buf: &mut [u8; 27], year: u16, month: i8, day: i8) {
    put_digits(&mut buf[0..4], i64::from(year));
    buf[4] = b'-';
    put_digits(&mut buf[5..7], i64::from(month));
    buf[7] = b'-';
    put_digits(&mut buf[8..10], i64::from(day));
}

/// Writes `v` (non-negative, with at most `out.len()` digits) zero-padded into `out`.
fn put_digits(out: &mut [u8], mut v: i64) {
    for b in out.iter_mut().rev() {
        *b = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

type ValSink<'f> = &'f mut dyn FnMut(&[Val<'_>]) -> Result<(), StoreError>;

// Each feed row's values in its table's column order (`TABLES`), borrowed for a bulk load.

impl LoadRow for BorrowerRow {
    fn with_vals(&self, f: ValSink<'_>) -> Result<(), StoreError> {
        let b = self;
        let breathing = b.breathing_space_until.map(Stamp::date);
        f(&[
            Val::Text(b.id.as_str()),
            Val::Text(&b.name),
            Val::opt_text(b.phone.as_deref()),
            Val::opt_text(b.email.as_deref()),
            Val::Text(b.timezone.name()),
            Val::Text(b.jurisdiction.as_str()),
            Val::opt_text(b.language.as_deref()),
            Val::Bool(b.deceased),
            Val::Bool(b.bankrupt),
            Val::Bool(b.cease_contact),
            Val::opt_text(b.phone_timezone.as_ref().map(|z| z.name())),
            Val::Bool(b.dispute_open),
            Val::Bool(b.hardship),
            Val::opt_text(breathing.as_ref().map(Stamp::as_str)),
            Val::opt_text(b.attorney_phone.as_deref()),
            Val::opt_text(b.attorney_email.as_deref()),
        ])
    }
}

impl LoadRow for LoanRow {
    fn with_vals(&self, f: ValSink<'_>) -> Result<(), StoreError> {
        let l = self;
        let disbursed = Stamp::date(l.disbursed_on);
        f(&[
            Val::Text(l.id.as_str()),
            Val::Text(l.borrower_id.as_str()),
            Val::Text(&l.product),
            Val::Text(l.currency.as_str()),
            Val::Int(l.principal.get()),
            Val::Int(i64::from(l.annual_rate.get())),
            Val::Int(i64::from(l.penalty_rate.get())),
            Val::Text(disbursed.as_str()),
            Val::Text(l.status.code()),
        ])
    }
}

impl LoadRow for FeedInstallment {
    fn with_vals(&self, f: ValSink<'_>) -> Result<(), StoreError> {
        let i = self;
        let due = Stamp::date(i.row.due_date);
        f(&[
            Val::Text(i.loan_id.as_str()),
            Val::Int(i64::from(i.seq)),
            Val::Text(due.as_str()),
            Val::Int(i.row.principal.get()),
            Val::Int(i.row.interest.get()),
            Val::Int(i.row.fee.get()),
        ])
    }
}

impl LoadRow for FeedPayment {
    fn with_vals(&self, f: ValSink<'_>) -> Result<(), StoreError> {
        let p = self;
        let received = Stamp::ts(p.received_at);
        f(&[
            Val::Text(p.id.as_str()),
            Val::Text(p.loan_id.as_str()),
            Val::Text(received.as_str()),
            Val::Int(p.amount.get()),
            Val::Text(kind_code(p.kind)),
            Val::opt_text(p.reverses.as_ref().map(|r| r.as_str())),
        ])
    }
}

impl LoadRow for FeedContact {
    fn with_vals(&self, f: ValSink<'_>) -> Result<(), StoreError> {
        let c = self;
        let at = Stamp::ts(c.at);
        f(&[
            Val::Text(c.id.as_str()),
            Val::Text(c.borrower_id.as_str()),
            Val::opt_text(c.loan_id.as_ref().map(|l| l.as_str())),
            Val::Text(&c.channel),
            Val::Text(&c.direction),
            Val::Text(at.as_str()),
            Val::Text(&c.outcome),
            Val::opt_text(c.target.as_deref()),
            Val::opt_text(c.party.as_deref()),
            Val::opt_text(c.agency_id.as_deref()),
        ])
    }
}

impl LoadRow for FeedPromise {
    fn with_vals(&self, f: ValSink<'_>) -> Result<(), StoreError> {
        let p = self;
        let created = Stamp::ts(p.created_at);
        let due = Stamp::date(p.due_date);
        f(&[
            Val::Text(p.id.as_str()),
            Val::Text(p.loan_id.as_str()),
            Val::Text(created.as_str()),
            Val::Int(p.amount.get()),
            Val::Text(due.as_str()),
        ])
    }
}

/// A feed row loaded into its table: its values, and its line for errors.
impl<T: LoadRow> LoadRow for Line<T> {
    fn with_vals(&self, f: ValSink<'_>) -> Result<(), StoreError> {
        self.row.with_vals(f)
    }
    fn line(&self) -> Option<u64> {
        Some(self.line)
    }
}

/// A feed row loaded into its staging table: its line first, then its values.
pub(crate) struct Staged<'a, T>(pub &'a Line<T>);

impl<T: LoadRow> LoadRow for Staged<'_, T> {
    fn with_vals(&self, f: ValSink<'_>) -> Result<(), StoreError> {
        let line = i64::try_from(self.0.line)
            .map_err(|_| StoreError::Internal(format!("line {} out of range", self.0.line)))?;
        self.0.row.with_vals(&mut |v| {
            let mut all = [Val::Null; MAX_LOAD_COLS];
            let n = v.len() + 1;
            if n > MAX_LOAD_COLS {
                return Err(StoreError::Internal(format!(
                    "a row of {n} columns to stage; at most {MAX_LOAD_COLS}"
                )));
            }
            all[0] = Val::Int(line);
            all[1..n].copy_from_slice(v);
            f(&all[..n])
        })
    }
    fn line(&self) -> Option<u64> {
        Some(self.0.line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_are_fixed_width_utc_microseconds() {
        let t: Timestamp = "2026-03-01T23:59:59.123456789+08:00".parse().unwrap();
        assert_eq!(ts_text(t), "2026-03-01T15:59:59.123456Z");
        let t: Timestamp = "2026-03-01T00:00:00Z".parse().unwrap();
        assert_eq!(ts_text(t), "2026-03-01T00:00:00.000000Z");
        let back: Timestamp = ts_text(t).parse().unwrap();
        assert_eq!(back, t);
    }

    /// The allocation-free formatting of bulk loads writes what `ts_text` and `date_text`
    /// write, sub-microsecond digits truncated, at the ends of the range too.
    #[test]
    fn stamps_equal_the_general_formatters() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let lo = Timestamp::MIN.as_second();
        let hi = Timestamp::MAX.as_second();
        let span = u64::try_from(hi - lo).unwrap();
        for i in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let secs = if i % 2 == 0 {
                // Around the years feeds hold.
                1_700_000_000 + i64::try_from(x % 400_000_000).unwrap()
            } else {
                lo + i64::try_from(x % span).unwrap()
            };
            let nanos = i32::try_from(x % 1_000_000_000).unwrap();
            let t = Timestamp::new(secs, nanos).unwrap();
            assert_eq!(Stamp::ts(t).as_str(), ts_text(t), "{t:?}");
            let d = jiff::tz::Offset::UTC.to_datetime(t).date();
            assert_eq!(Stamp::date(d).as_str(), date_text(d), "{d:?}");
        }
        for t in [Timestamp::MIN, Timestamp::MAX, Timestamp::UNIX_EPOCH] {
            assert_eq!(Stamp::ts(t).as_str(), ts_text(t));
        }
        for d in [Date::MIN, Date::MAX, jiff::civil::date(0, 1, 1)] {
            assert_eq!(Stamp::date(d).as_str(), date_text(d));
        }
    }

    #[test]
    fn migrations_name_every_column() {
        for dir in ["sqlite", "postgres"] {
            let path = format!(
                "{}/migrations/{dir}/0001_portfolio.sql",
                env!("CARGO_MANIFEST_DIR")
            );
            let ddl = std::fs::read_to_string(&path).unwrap();
            for t in TABLES {
                let start = ddl.find(&format!("CREATE TABLE {} (", t.name)).unwrap();
                let body = &ddl[start..];
                let end = body.find(");").unwrap();
                if dir == "sqlite" {
                    let options = body.lines().find(|l| l.starts_with(')')).unwrap();
                    assert_eq!(
                        options.contains("WITHOUT ROWID"),
                        t.without_rowid(),
                        "{}",
                        t.name
                    );
                }
                let body = &body[..end];
                for col in t.cols {
                    assert!(
                        body.lines()
                            .any(|l| l.trim_start().starts_with(&format!("{} ", col.name))),
                        "{dir}: {}.{}",
                        t.name,
                        col.name
                    );
                }
            }
        }
    }
}
