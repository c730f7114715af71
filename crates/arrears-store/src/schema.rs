//! The portfolio tables as Rust knows them: columns, types, keys, which columns a later feed
//! may change, and each feed row as cells in column order. The DDL itself is in
//! `migrations/{sqlite,postgres}`; `tests` checks that the two agree.

use crate::sql::{Cell, Ty};
use arrears_domain::Table;
use arrears_domain::{BorrowerRow, LoanRow, PaymentKind};
use arrears_io::feed::{FeedContact, FeedInstallment, FeedPayment, FeedPromise};
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

fn boolean(v: bool) -> Cell {
    Cell::Bool(Some(v))
}

pub(crate) fn kind_code(k: PaymentKind) -> &'static str {
    match k {
        PaymentKind::Payment => "payment",
        PaymentKind::Reversal => "reversal",
    }
}

pub(crate) fn borrower_cells(b: &BorrowerRow) -> Vec<Cell> {
    vec![
        text(b.id.as_str()),
        text(&b.name),
        opt_text(b.phone.as_deref()),
        opt_text(b.email.as_deref()),
        text(b.timezone.name()),
        text(b.jurisdiction.as_str()),
        opt_text(b.language.as_deref()),
        boolean(b.deceased),
        boolean(b.bankrupt),
        boolean(b.cease_contact),
        opt_text(b.phone_timezone.as_ref().map(|z| z.name())),
        boolean(b.dispute_open),
        boolean(b.hardship),
        Cell::Text(b.breathing_space_until.map(date_text)),
        opt_text(b.attorney_phone.as_deref()),
        opt_text(b.attorney_email.as_deref()),
    ]
}

pub(crate) fn loan_cells(l: &LoanRow) -> Vec<Cell> {
    vec![
        text(l.id.as_str()),
        text(l.borrower_id.as_str()),
        text(&l.product),
        text(l.currency.as_str()),
        int(l.principal.get()),
        int(i64::from(l.annual_rate.get())),
        int(i64::from(l.penalty_rate.get())),
        Cell::Text(Some(date_text(l.disbursed_on))),
        text(l.status.code()),
    ]
}

pub(crate) fn installment_cells(i: &FeedInstallment) -> Vec<Cell> {
    vec![
        text(i.loan_id.as_str()),
        int(i64::from(i.seq)),
        Cell::Text(Some(date_text(i.row.due_date))),
        int(i.row.principal.get()),
        int(i.row.interest.get()),
        int(i.row.fee.get()),
    ]
}

pub(crate) fn payment_cells(p: &FeedPayment) -> Vec<Cell> {
    vec![
        text(p.id.as_str()),
        text(p.loan_id.as_str()),
        Cell::Text(Some(ts_text(p.received_at))),
        int(p.amount.get()),
        text(kind_code(p.kind)),
        opt_text(p.reverses.as_ref().map(|r| r.as_str())),
    ]
}

pub(crate) fn contact_cells(c: &FeedContact) -> Vec<Cell> {
    vec![
        text(c.id.as_str()),
        text(c.borrower_id.as_str()),
        opt_text(c.loan_id.as_ref().map(|l| l.as_str())),
        text(&c.channel),
        text(&c.direction),
        Cell::Text(Some(ts_text(c.at))),
        text(&c.outcome),
        opt_text(c.target.as_deref()),
        opt_text(c.party.as_deref()),
        opt_text(c.agency_id.as_deref()),
    ]
}

pub(crate) fn promise_cells(p: &FeedPromise) -> Vec<Cell> {
    vec![
        text(p.id.as_str()),
        text(p.loan_id.as_str()),
        Cell::Text(Some(ts_text(p.created_at))),
        int(p.amount.get()),
        Cell::Text(Some(date_text(p.due_date))),
    ]
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
