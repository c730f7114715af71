//! Fail safe (delinquency spec section 7, amended): a malformed value in a field that moves
//! money or protects a borrower rejects the row as an error (`invalid_value`), and the rows
//! that reference it with it; an empty value is the default. Checked for every such field in
//! a portfolio read from CSV and from Parquet, and in a feed import.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is the report

use arrears_domain::{LoanStatus, PaymentKind, Reject, Severity};
use arrears_io::feed::{Known, locate_feed, read_feed};
use jiff::civil::date;
use std::path::Path;

mod common;

/// header, Parquet types, rows: B2 / L2 / P2 (the second row) is the row a case spoils.
const TABLES: [(&str, &str, &str, [&str; 2]); 4] = [
    (
        "borrowers",
        "borrower_id,name,timezone,jurisdiction,phone,deceased,bankrupt,cease_contact,dispute_open,hardship,breathing_space_until,attorney_phone,attorney_email",
        "SSSSSBBBBBDSS",
        [
            "B1,Li,Asia/Shanghai,CN,,,,,,,,,",
            "B2,Ann,Europe/London,GB,,,,,,,,,",
        ],
    ),
    (
        "loans",
        "loan_id,borrower_id,product,currency,principal_minor,annual_rate_bps,penalty_rate_bps,disbursed_on,status",
        "SSSSIIIDS",
        [
            "L1,B1,x,CNY,3000,0,0,2026-01-01,",
            "L2,B2,x,GBP,3000,0,0,2026-01-01,",
        ],
    ),
    (
        "installments",
        "loan_id,seq,due_date,principal_minor,interest_minor,fee_minor",
        "SIDIII",
        ["L1,1,2026-02-01,3000,0,0", "L2,1,2026-02-01,3000,0,0"],
    ),
    (
        "payments",
        "payment_id,loan_id,received_at,amount_minor,kind,reverses",
        "SSTISS",
        [
            "P1,L1,2026-02-01T10:00:00Z,100,,",
            "P2,L2,2026-02-01T10:00:00Z,100,,",
        ],
    ),
];

/// How a malformed cell looks in Parquet.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pq {
    /// The same text in a string column (a date: a date32 no calendar holds): the row is
    /// rejected as from CSV.
    Same,
    /// A bool column cannot hold a malformed value; the same text in a string column makes
    /// the whole file unreadable, which is as safe.
    FileRefused,
}

/// (table, column, malformed value, Parquet).
const CASES: &[(&str, &str, &str, Pq)] = &[
    ("borrowers", "deceased", "yes", Pq::FileRefused),
    ("borrowers", "bankrupt", "1", Pq::FileRefused),
    ("borrowers", "cease_contact", "TRUE", Pq::FileRefused),
    ("borrowers", "dispute_open", "no", Pq::FileRefused),
    ("borrowers", "hardship", "Y", Pq::FileRefused),
    ("borrowers", "breathing_space_until", "2026-02-30", Pq::Same),
    ("borrowers", "attorney_phone", "12345", Pq::Same),
    (
        "borrowers",
        "attorney_email",
        "lawyer-at-example.com",
        Pq::Same,
    ),
    ("loans", "status", "writen_off", Pq::Same),
    ("loans", "status", "Written_Off", Pq::Same),
    ("payments", "kind", "Reversal", Pq::Same),
    ("payments", "kind", "refund", Pq::Same),
];

/// The rows rejected when row 2 of `table` is: that row, then every row below it.
fn cascade(table: &str, column: &str) -> Vec<(String, u64, String, String, String)> {
    let e = |t: &str, c: &str, r: &str| (t.to_owned(), 3, c.to_owned(), "error".into(), r.into());
    let mut out = vec![e(table, column, "invalid_value")];
    match table {
        "borrowers" => {
            out.push(e("loans", "borrower_id", "unknown_reference"));
            out.push(e("installments", "loan_id", "unknown_reference"));
            out.push(e("payments", "loan_id", "unknown_reference"));
        }
        "loans" => {
            out.push(e("installments", "loan_id", "unknown_reference"));
            out.push(e("payments", "loan_id", "unknown_reference"));
        }
        _ => {}
    }
    out
}

type Tables = Vec<(&'static str, &'static str, &'static str, Vec<String>)>;

/// The tables with each `(table, column, value)` set in the second row of that table.
fn tables_with(set: &[(&str, &str, &str)]) -> Tables {
    TABLES
        .iter()
        .map(|(name, header, types, rows)| {
            let mut rows: Vec<String> = rows.iter().map(|r| (*r).to_owned()).collect();
            for (table, column, value) in set.iter().filter(|s| s.0 == *name) {
                let at = header.split(',').position(|h| h == *column).unwrap();
                let mut cells: Vec<&str> = rows[1].split(',').collect();
                cells[at] = value;
                rows[1] = cells.join(",");
                assert_eq!(*table, *name);
            }
            (*name, *header, *types, rows)
        })
        .collect()
}

/// The tables with `column` of the second row of `table` set to `value`.
fn tables(table: &str, column: &str, value: &str) -> Tables {
    tables_with(&[(table, column, value)])
}

fn write_csv(dir: &Path, t: &[(&'static str, &'static str, &'static str, Vec<String>)]) {
    for (name, header, _, rows) in t {
        let mut s = format!("{header}\n");
        for r in rows {
            s.push_str(r);
            s.push('\n');
        }
        std::fs::write(dir.join(format!("{name}.csv")), s).unwrap();
    }
}

fn write_pq(
    dir: &Path,
    t: &[(&'static str, &'static str, &'static str, Vec<String>)],
    string_column: Option<&str>,
) {
    for (name, header, types, rows) in t {
        // A bool column written as strings, to carry a malformed value.
        let types: String = header
            .split(',')
            .zip(types.chars())
            .map(|(h, ty)| if Some(h) == string_column { 'S' } else { ty })
            .collect();
        let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
        common::write_parquet(&dir.join(format!("{name}.parquet")), header, &types, &rows);
    }
}

fn shown(rejects: &[Reject], ext: &str) -> Vec<(String, u64, String, String, String)> {
    rejects
        .iter()
        .map(|r| {
            (
                r.at.table.name().to_owned(),
                r.at.line,
                r.column.to_owned(),
                r.severity.code().to_owned(),
                r.reason.code().to_owned(),
            )
        })
        .map(|(t, l, c, s, r)| {
            // Parquet rows are numbered from 1: the second data row is row 2, line 3 in CSV.
            let l = if ext == "parquet" { l + 1 } else { l };
            (t, l, c, s, r)
        })
        .collect()
}

#[test]
fn empty_protections_are_the_defaults_and_good_ones_are_read() {
    let d = tempfile::tempdir().unwrap();
    write_csv(d.path(), &tables_with(&[]));
    let r = arrears_io::read_portfolio(d.path(), &|_, _| {}).unwrap();
    assert!(r.rejects.is_empty(), "{:?}", r.rejects);
    let b = &r.portfolio.borrowers[1];
    assert!(!b.deceased && !b.bankrupt && !b.cease_contact && !b.dispute_open && !b.hardship);
    assert!(b.breathing_space_until.is_none() && b.attorney_phone.is_none());
    assert_eq!(r.portfolio.loans[1].status, LoanStatus::Active);

    // Every field set to a good value is read as given, from CSV and from Parquet.
    let t = tables_with(&[
        ("borrowers", "deceased", "true"),
        ("borrowers", "bankrupt", "false"),
        ("borrowers", "cease_contact", "true"),
        ("borrowers", "dispute_open", "true"),
        ("borrowers", "hardship", "true"),
        ("borrowers", "breathing_space_until", "2026-03-31"),
        ("borrowers", "attorney_phone", "+447700900123"),
        ("borrowers", "attorney_email", "lawyer@example.co.uk"),
        ("loans", "status", "written_off"),
        ("payments", "kind", "payment"),
    ]);
    for parquet in [false, true] {
        let d = tempfile::tempdir().unwrap();
        if parquet {
            write_pq(d.path(), &t, None);
        } else {
            write_csv(d.path(), &t);
        }
        let r = arrears_io::read_portfolio(d.path(), &|_, _| {}).unwrap();
        assert!(r.rejects.is_empty(), "{:?}", r.rejects);
        let b = &r.portfolio.borrowers[1];
        assert!(b.deceased && !b.bankrupt && b.cease_contact && b.dispute_open && b.hardship);
        assert_eq!(b.breathing_space_until, Some(date(2026, 3, 31)));
        assert_eq!(b.attorney_phone.as_deref(), Some("+447700900123"));
        assert_eq!(b.attorney_email.as_deref(), Some("lawyer@example.co.uk"));
        assert_eq!(r.portfolio.loans[1].status, LoanStatus::WrittenOff);
    }
}

#[test]
fn a_malformed_protection_or_money_field_rejects_the_row_from_csv() {
    for (table, column, value, _) in CASES {
        let d = tempfile::tempdir().unwrap();
        write_csv(d.path(), &tables(table, column, value));
        let r = arrears_io::read_portfolio(d.path(), &|_, _| {}).unwrap();
        assert_eq!(
            shown(&r.rejects, "csv"),
            cascade(table, column),
            "{table}.{column} = {value:?}"
        );
        // No warning anywhere: nothing was read as empty.
        assert!(r.rejects.iter().all(|x| x.severity == Severity::Error));
        let p = &r.portfolio;
        match *table {
            "borrowers" => assert_eq!((p.borrowers.len(), p.loans.len()), (1, 1)),
            "loans" => assert_eq!((p.borrowers.len(), p.loans.len()), (2, 1)),
            _ => {
                assert_eq!(p.payments.len(), 1);
                assert_eq!(p.loans.len(), 2);
            }
        }
    }
}

#[test]
fn a_malformed_protection_or_money_field_rejects_the_row_from_parquet() {
    for (table, column, value, pq) in CASES {
        let d = tempfile::tempdir().unwrap();
        let t = tables(table, column, value);
        match pq {
            Pq::Same => {
                write_pq(d.path(), &t, None);
                let r = arrears_io::read_portfolio(d.path(), &|_, _| {}).unwrap();
                assert_eq!(
                    shown(&r.rejects, "parquet"),
                    cascade(table, column),
                    "{table}.{column} = {value:?}"
                );
            }
            Pq::FileRefused => {
                write_pq(d.path(), &t, Some(column));
                let e = arrears_io::read_portfolio(d.path(), &|_, _| {})
                    .unwrap_err()
                    .to_string();
                assert!(
                    e.contains(&format!("{table}.parquet"))
                        && e.contains(column)
                        && e.contains("bool"),
                    "{e}"
                );
            }
        }
    }
}

#[test]
fn a_null_protection_in_parquet_is_the_default() {
    let d = tempfile::tempdir().unwrap();
    write_pq(d.path(), &tables_with(&[]), None);
    let r = arrears_io::read_portfolio(d.path(), &|_, _| {}).unwrap();
    assert!(r.rejects.is_empty(), "{:?}", r.rejects);
    assert!(!r.portfolio.borrowers[1].deceased);
    assert_eq!(r.portfolio.loans[1].status, LoanStatus::Active);
}

#[test]
fn a_malformed_contact_detail_is_still_a_warning() {
    let d = tempfile::tempdir().unwrap();
    write_csv(d.path(), &tables("borrowers", "phone", "12345"));
    let r = arrears_io::read_portfolio(d.path(), &|_, _| {}).unwrap();
    assert_eq!(
        shown(&r.rejects, "csv"),
        [(
            "borrowers".to_owned(),
            3,
            "phone".to_owned(),
            "warning".to_owned(),
            "invalid_value".to_owned()
        )]
    );
    assert_eq!(r.portfolio.borrowers.len(), 2);
    assert!(r.portfolio.borrowers[1].phone.is_none());
}

/// A feed is read by the same rules: new rows, and rows the store already holds.
#[test]
fn feeds_fail_safe_too() {
    for (table, column, value, _) in CASES {
        let d = tempfile::tempdir().unwrap();
        write_csv(d.path(), &tables(table, column, value));
        let files = locate_feed(d.path()).unwrap();
        let r = read_feed(files, &Known::default(), &|_, _| {}).unwrap();
        assert_eq!(
            shown(&r.report.rejects, "csv"),
            cascade(table, column),
            "feed: {table}.{column} = {value:?}"
        );
        let kinds: Vec<PaymentKind> = r.rows.payments.iter().map(|p| p.row.kind).collect();
        assert!(kinds.iter().all(|k| *k == PaymentKind::Payment));
    }
    // A borrower the store holds, sent again with a malformed protection.
    for (table, column, value, _) in CASES.iter().filter(|c| c.0 == "borrowers") {
        let d = tempfile::tempdir().unwrap();
        let t = tables(table, column, value);
        write_csv(d.path(), &t[..1]);
        let known = Known {
            borrowers: ["B2".into()].into_iter().collect(),
            ..Known::default()
        };
        let files = locate_feed(d.path()).unwrap();
        let r = read_feed(files, &known, &|_, _| {}).unwrap();
        assert_eq!(
            shown(&r.report.rejects, "csv"),
            cascade(table, column)[..1],
            "stored borrower: {column} = {value:?}"
        );
        let ids: Vec<&str> = r.rows.borrowers.iter().map(|b| b.row.id.as_str()).collect();
        assert_eq!(ids, ["B1"]);
    }
}
