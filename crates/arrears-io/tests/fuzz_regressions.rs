//! Inputs the fuzz targets (`fuzz/`, `bench/fuzz.sh`) found, each with the outcome it must
//! have. See docs/security.md, "Fuzzing".

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is the report

use arrears_domain::{Severity, Table};
use std::path::Path;

const BORROWERS: &str = "borrower_id,name,phone,timezone,jurisdiction\nB1,Li Lei,+8613800138000,Asia/Shanghai,CN-11\nB2,Ann Lee,+12125550100,America/New_York,US-NY\n";
const LOANS: &str = "loan_id,borrower_id,product,currency,principal_minor,annual_rate_bps,penalty_rate_bps,disbursed_on,status\nL1,B1,cash,CNY,30000,2000,1000,2026-08-01,\nL2,B2,cash,USD,20000,1200,1000,2026-08-01,\n";
const INSTALLMENTS: &str = "loan_id,seq,due_date,principal_minor,interest_minor,fee_minor\nL1,1,2026-09-01,10000,500,100\nL2,1,2026-11-27,20000,200,0\n";
const NO_PAYMENTS: &str = "payment_id,loan_id,received_at,amount_minor,kind,reverses\n";

fn write(dir: &Path, files: &[(&str, &[u8])]) {
    for (n, c) in files {
        std::fs::write(dir.join(n), c).unwrap();
    }
}

/// The error rejects of a table as (line, column, detail).
fn errors(r: &arrears_io::ReadOutcome, t: Table) -> Vec<(u64, &'static str, String)> {
    r.rejects
        .iter()
        .filter(|x| x.at.table == t && x.severity == Severity::Error)
        .map(|x| (x.at.line, x.column, x.detail.clone()))
        .collect()
}

/// csv_portfolio: a stray CR inside a row (fuzz crash f730df00). The csv crate ends a record
/// at a bare CR but counted lines by LF only, so the two rows it made shared line 2 and the
/// reject count per line no longer matched the rows read.
#[test]
fn a_stray_cr_ends_a_row_and_the_next_row_is_on_the_next_line() {
    let d = tempfile::tempdir().unwrap();
    let loans = b"loan_id,borrower_id,product,currency,principal_minor,annual_rate_bps,penalty_rate_bps,disbursed_on,status\nL000,B1,cash-loan-1-,U,20000,0,3650,2026-05-01,activ\xC4\xC4\r\xC4\xC4e\n";
    write(
        d.path(),
        &[
            ("borrowers.csv", BORROWERS.as_bytes()),
            ("loans.csv", loans),
            (
                "installments.csv",
                b"loan_id,seq,due_date,principal_minor,interest_minor,fee_minor\n",
            ),
            ("payments.csv", NO_PAYMENTS.as_bytes()),
        ],
    );
    let r = arrears_io::read_portfolio(d.path(), &|_, _| {}).unwrap();
    assert_eq!(r.portfolio.rows_read[Table::Loans as usize], 2);
    let e = errors(&r, Table::Loans);
    assert_eq!(e.len(), 2, "{e:?}");
    assert_eq!((e[0].0, e[0].1), (2, "currency"), "{e:?}");
    assert_eq!(
        (e[1].0, e[1].1, e[1].2.as_str()),
        (3, "loan_id", "the row has 1 fields but the header has 9")
    );
}

/// csv_portfolio: the line of a reject is the line its row is on, whatever the line ends.
/// Before, a CR-ended file (the old Mac "CSV" of spreadsheets) had every row on line 1, and
/// found with it: a CRLF file (Windows) had every row one line early, the first on the
/// header's line 1.
#[test]
fn rows_are_numbered_by_their_own_line_with_lf_crlf_or_cr_ends() {
    let cr = |s: &str| s.replace('\n', "\r").into_bytes();
    let crlf = |s: &str| s.replace('\n', "\r\n").into_bytes();
    let payments = "payment_id,loan_id,received_at,amount_minor,kind,reverses\nP1,L1,2026-09-01T10:00:00+08:00,10600,,\nP2,L2,2026-11-01T10:00:00-04:00,0,payment,\nP3,L9,2026-11-01T10:00:00Z,5,,\n";
    let mut seen = Vec::new();
    for ends in [cr, crlf, |s: &str| s.as_bytes().to_vec()] {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            &[
                ("borrowers.csv", &ends(BORROWERS)),
                ("loans.csv", &ends(LOANS)),
                ("installments.csv", &ends(INSTALLMENTS)),
                ("payments.csv", &ends(payments)),
            ],
        );
        let r = arrears_io::read_portfolio(d.path(), &|_, _| {}).unwrap();
        assert_eq!(r.portfolio.loans.len(), 2);
        assert_eq!(r.portfolio.payments.len(), 1);
        let e: Vec<(u64, &str)> = errors(&r, Table::Payments)
            .into_iter()
            .map(|(line, column, _)| (line, column))
            .collect();
        assert_eq!(e, [(3, "amount_minor"), (4, "loan_id")]);
        seen.push(e);
    }
    assert!(seen.windows(2).all(|w| w[0] == w[1]));
}

/// The lifecycle tables number CR-ended lines the same way.
#[test]
fn lifecycle_tables_with_cr_line_ends_report_the_right_line() {
    let d = tempfile::tempdir().unwrap();
    let notices = "notice_id,borrower_id,loan_id,kind,sent_at,channel\rN-1,B1,L1,validation,2026-11-01T10:00:00+08:00,letter\rN-2,B1,L1,no_such_kind,2026-11-01T10:00:00+08:00,letter\rN-3,B9,,validation,2026-11-01T10:00:00+08:00,letter\r";
    write(
        d.path(),
        &[
            ("borrowers.csv", BORROWERS.as_bytes()),
            ("loans.csv", LOANS.as_bytes()),
            ("installments.csv", INSTALLMENTS.as_bytes()),
            ("payments.csv", NO_PAYMENTS.as_bytes()),
            ("notices.csv", notices.as_bytes()),
        ],
    );
    let r = arrears_io::read_portfolio(d.path(), &|_, _| {}).unwrap();
    let lr = arrears_io::extensions::read_lifecycle(d.path(), &r.portfolio).unwrap();
    assert_eq!(lr.lifecycle.notices.len(), 1);
    let e: Vec<(u64, &str)> = lr
        .rejects
        .iter()
        .filter(|x| x.is_error())
        .map(|x| (x.line, x.column))
        .collect();
    assert_eq!(e, [(3, "kind"), (4, "borrower_id")]);
}

/// parquet_portfolio: Parquet files arrow and parquet panic on instead of returning an error
/// (fuzz crashes e1462262 and 561a86bb, minimised): definition levels that run past their
/// buffer ("offset + len out of bounds", arrow-buffer) and a column chunk with a negative
/// start ("column start and length should not be negative", parquet). Each aborted the whole
/// read; now the read is an error naming the file, as for any unreadable file.
#[test]
fn a_parquet_file_the_decoder_panics_on_is_an_error_naming_it() {
    for (file, panic) in [
        (
            &include_bytes!("data/fuzz/contacts-decoder-panic.parquet")[..],
            "offset + len out of bounds",
        ),
        (
            &include_bytes!("data/fuzz/contacts-negative-column-range.parquet")[..],
            "column start and length should not be negative",
        ),
    ] {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            &[
                ("borrowers.csv", BORROWERS.as_bytes()),
                ("loans.csv", LOANS.as_bytes()),
                ("installments.csv", INSTALLMENTS.as_bytes()),
                ("payments.csv", NO_PAYMENTS.as_bytes()),
                ("contacts.parquet", file),
            ],
        );
        let e = arrears_io::read_portfolio(d.path(), &|_, _| {}).unwrap_err();
        let shown = e.to_string();
        assert!(
            matches!(&e, arrears_io::IoError::Parquet { path, reason }
                if path.ends_with("contacts.parquet")
                    && reason == &format!("the decoder failed on it: {panic}")),
            "{shown}"
        );
        assert!(shown.contains("not a readable Parquet file"), "{shown}");
    }
}

/// Found with the CR fix: a row after a blank line was reported one line early.
#[test]
fn a_row_after_blank_lines_is_on_its_own_line() {
    let payments = "payment_id,loan_id,received_at,amount_minor,kind,reverses\n\nP1,L1,2026-09-01T10:00:00+08:00,0,,\n\r\n\n\"P2\",L9,2026-11-01T10:00:00Z,5,,\n";
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        &[
            ("borrowers.csv", BORROWERS.as_bytes()),
            ("loans.csv", LOANS.as_bytes()),
            ("installments.csv", INSTALLMENTS.as_bytes()),
            ("payments.csv", payments.as_bytes()),
        ],
    );
    let r = arrears_io::read_portfolio(d.path(), &|_, _| {}).unwrap();
    let e: Vec<(u64, &str)> = errors(&r, Table::Payments)
        .into_iter()
        .map(|(line, column, _)| (line, column))
        .collect();
    assert_eq!(e, [(3, "amount_minor"), (6, "loan_id")]);
}
