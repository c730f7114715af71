//! The lifecycle tables (`read_lifecycle`): every table from CSV and from Parquet, each with
//! good rows and bad rows, asserting the exact rows accepted and the exact rejects (file, line
//! or row, column, severity, reason). The Parquet files are made from the same CSV text, cell
//! by cell with the column's type; a cell that cannot be that type becomes a null (a date: an
//! out-of-range date32), so the expectation of such a row can differ between the formats.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is the report

use arrears_domain::Lifecycle;
use arrears_domain::lifecycle::{
    ContactPersonFact, CreditDisputeRow, LegalCaseFact, NoticeRow, PaymentPlanRow, PlacementRow,
    PlanInstallment, PreferenceRow, SaleRow,
};
use arrears_domain::types::{BorrowerId, LoanId};
use arrears_io::extensions::{LIFECYCLE_TABLES, read_extensions, read_lifecycle};
use arrow::array::{RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use jiff::Timestamp;
use jiff::civil::{Date, Time};
use std::path::Path;
use std::sync::Arc;

mod common;

const BORROWERS: &str = "borrower_id,name,timezone,jurisdiction\nB1,Li,Asia/Shanghai,CN\nB2,Ann,America/New_York,US-NY\n";
const LOANS: &str = "loan_id,borrower_id,product,currency,principal_minor,annual_rate_bps,penalty_rate_bps,disbursed_on\nL1,B1,x,CNY,3000,0,0,2026-01-01\nL2,B2,x,USD,3000,0,0,2026-01-01\nL3,B1,x,CNY,3000,0,0,2026-01-01\n";
const INSTALLMENTS: &str =
    "loan_id,seq,due_date,principal_minor,interest_minor,fee_minor\nL1,1,2026-02-01,3000,0,0\n";
const PAYMENTS: &str = "payment_id,loan_id,received_at,amount_minor\n";

/// One table: its header, the type of each column (S string, I int64, D date32,
/// T timestamp, B bool) and its rows, each with what the CSV read and the Parquet read must
/// report for it: "" accepted without remark, else `severity column reason` entries joined
/// by "; "; for Parquet "=" is the same as CSV and "-" leaves the row out of the Parquet
/// file (only the last rows may be left out, so row numbers stay aligned).
struct TableCase {
    name: &'static str,
    header: &'static str,
    types: &'static str,
    rows: &'static [(&'static str, &'static str, &'static str)],
}

const CASES: &[TableCase] = &[
    TableCase {
        name: "notices",
        header: "notice_id,borrower_id,loan_id,kind,sent_at,channel",
        types: "SSSSTS",
        rows: &[
            (
                "N1,B1,L1,validation,2026-11-01T09:00:00+08:00,letter",
                "",
                "=",
            ),
            (
                "N2,B2,,credit_reporting,2026-11-02T10:00:00Z,email",
                "",
                "=",
            ),
            (
                "N1,B1,,validation,2026-11-03T00:00:00Z,sms",
                "error notice_id duplicate_id",
                "=",
            ),
            (
                "N3,B1,L2,validation,2026-11-03T00:00:00Z,letter",
                "error loan_id invalid_value",
                "=",
            ),
            (
                "N4,B9,,validation,2026-11-03T00:00:00Z,letter",
                "error borrower_id unknown_reference",
                "=",
            ),
            (
                "N5,B1,L9,validation,2026-11-03T00:00:00Z,letter",
                "error loan_id unknown_reference",
                "=",
            ),
            (
                "N6,B1,,Validation,2026-11-03T00:00:00Z,letter",
                "error kind invalid_value",
                "=",
            ),
            (
                "N7,B1,,validation,2026-11-03T00:00:00Z,fax",
                "error channel invalid_value",
                "=",
            ),
            (
                "N8,B1,,validation,2026-11-03 00:00,letter",
                "error sent_at invalid_value",
                "error sent_at missing_value",
            ),
            (
                "N9,B1,,,2026-11-03T00:00:00Z,letter",
                "error kind missing_value",
                "=",
            ),
            (
                ",B1,,validation,2026-11-03T00:00:00Z,letter",
                "error notice_id missing_value",
                "=",
            ),
        ],
    },
    TableCase {
        name: "preferences",
        header: "borrower_id,channel,opted_out,contact_from,contact_to,updated_at",
        types: "SSBSST",
        rows: &[
            ("B1,sms,true,,,2026-11-01T00:00:00Z", "", "="),
            ("B1,call,false,09:00,18:00,2026-11-02T00:00:00Z", "", "="),
            (
                "B2,email,yes,,,2026-11-01T00:00:00Z",
                "error opted_out invalid_value",
                "error opted_out missing_value",
            ),
            (
                "B1,email,,,,2026-11-01T00:00:00Z",
                "error opted_out missing_value",
                "=",
            ),
            (
                "B1,call,false,09:00,,2026-11-01T00:00:00Z",
                "error contact_to missing_value",
                "=",
            ),
            (
                "B1,call,false,,18:00,2026-11-01T00:00:00Z",
                "error contact_from missing_value",
                "=",
            ),
            (
                "B1,call,false,18:00,09:00,2026-11-01T00:00:00Z",
                "error contact_to invalid_value",
                "=",
            ),
            (
                "B1,call,false,18:00,18:00,2026-11-01T00:00:00Z",
                "error contact_to invalid_value",
                "=",
            ),
            (
                "B1,call,false,9:00,18:00,2026-11-01T00:00:00Z",
                "error contact_from invalid_value",
                "=",
            ),
            (
                "B1,fax,true,,,2026-11-01T00:00:00Z",
                "error channel invalid_value",
                "=",
            ),
            (
                "B1,Sms,true,,,2026-11-01T00:00:00Z",
                "error channel invalid_value",
                "=",
            ),
            (
                "B9,sms,true,,,2026-11-01T00:00:00Z",
                "error borrower_id unknown_reference",
                "=",
            ),
            ("B1,sms,true,,,", "error updated_at missing_value", "="),
        ],
    },
    TableCase {
        name: "payment_plans",
        header: "plan_id,loan_id,status,created_at",
        types: "SSST",
        rows: &[
            ("PL1,L1,active,2026-11-01T00:00:00Z", "", "="),
            ("PL2,L2,proposed,2026-11-02T00:00:00Z", "", "="),
            (
                "PL1,L1,active,2026-11-01T00:00:00Z",
                "error plan_id duplicate_id",
                "=",
            ),
            (
                "PL3,L9,active,2026-11-01T00:00:00Z",
                "error loan_id unknown_reference",
                "=",
            ),
            (
                "PL4,L1,Active,2026-11-01T00:00:00Z",
                "error status invalid_value",
                "=",
            ),
            (
                "PL5,L1,,2026-11-01T00:00:00Z",
                "error status missing_value",
                "=",
            ),
            ("PL6,L1,broken,", "error created_at missing_value", "="),
        ],
    },
    TableCase {
        name: "plan_installments",
        header: "plan_id,seq,due_date,amount_minor",
        types: "SIDI",
        rows: &[
            ("PL1,2,2026-12-15,5000", "", "="),
            ("PL1,1,2026-12-01,5000", "", "="),
            ("PL1,1,2026-12-01,5000", "error seq duplicate_id", "="),
            ("PL1,0,2026-12-01,5000", "error seq out_of_range", "="),
            ("PL1,3,2026-12-30,0", "error amount_minor out_of_range", "="),
            (
                "PL9,1,2026-12-01,5000",
                "error plan_id unknown_reference",
                "=",
            ),
            (
                "PL3,1,2026-12-01,5000",
                "error plan_id unknown_reference",
                "=",
            ),
            (
                "PL2,1,2026-12-01,12.50",
                "error amount_minor invalid_value",
                "error amount_minor missing_value",
            ),
            ("PL2,1,2026-12-05,700", "error seq duplicate_id", "="),
            ("PL2,2,2027-01-05,700", "", "="),
            ("PL1,4,2026-02-30,100", "error due_date invalid_value", "="),
        ],
    },
    TableCase {
        name: "placements",
        header: "placement_id,loan_id,agency_id,placed_at,recalled_at",
        types: "SSSTT",
        rows: &[
            ("PC1,L1,AG1,2026-10-01T00:00:00Z,", "", "="),
            (
                "PC2,L2,AG2,2026-10-01T00:00:00Z,2026-10-15T00:00:00Z",
                "",
                "=",
            ),
            (
                "PC3,L1,AG1,2026-10-01T00:00:00Z,2026-09-30T23:59:59Z",
                "error recalled_at invalid_value",
                "=",
            ),
            (
                "PC4,L9,AG1,2026-10-01T00:00:00Z,",
                "error loan_id unknown_reference",
                "=",
            ),
            (
                "PC5,L1,,2026-10-01T00:00:00Z,",
                "error agency_id missing_value",
                "=",
            ),
            (
                "PC2,L1,AG1,2026-10-01T00:00:00Z,",
                "error placement_id duplicate_id",
                "=",
            ),
            (
                "PC6,L1,AG1,2026-10-01T00:00:00Z,2026-10-01T08:00:00+08:00",
                "",
                "=",
            ),
        ],
    },
    TableCase {
        name: "sales",
        header: "sale_id,loan_id,buyer,sold_at",
        types: "SSST",
        rows: &[
            ("S1,L3,Buyer Co,2026-11-20T00:00:00Z", "", "="),
            (
                "S2,L9,Buyer Co,2026-11-20T00:00:00Z",
                "error loan_id unknown_reference",
                "=",
            ),
            (
                "S3,L1,,2026-11-20T00:00:00Z",
                "error buyer missing_value",
                "=",
            ),
            (
                "S1,L1,Buyer Co,2026-11-20T00:00:00Z",
                "error sale_id duplicate_id",
                "=",
            ),
            (
                "S4,L1,Buyer Co,2026-11-20T00:00:00",
                "error sold_at invalid_value",
                "error sold_at missing_value",
            ),
            ("S5,L1", "error sale_id invalid_value", "-"),
        ],
    },
    TableCase {
        name: "credit_disputes",
        header: "dispute_id,borrower_id,loan_id,opened_at,resolved_at",
        types: "SSSTT",
        rows: &[
            ("D1,B1,L1,2026-11-01T00:00:00Z,", "", "="),
            ("D2,B2,,2026-11-01T00:00:00Z,2026-11-10T00:00:00Z", "", "="),
            (
                "D3,B2,L1,2026-11-01T00:00:00Z,",
                "error loan_id invalid_value",
                "=",
            ),
            (
                "D4,B1,,2026-11-10T00:00:00Z,2026-11-01T00:00:00Z",
                "error resolved_at invalid_value",
                "=",
            ),
            (
                "D5,B9,,2026-11-01T00:00:00Z,",
                "error borrower_id unknown_reference",
                "=",
            ),
            (
                "D1,B1,L1,2026-11-01T00:00:00Z,",
                "error dispute_id duplicate_id",
                "=",
            ),
        ],
    },
    TableCase {
        name: "legal_cases",
        header: "case_id,loan_id,court,case_number,status,updated_on",
        types: "SSSSSD",
        rows: &[
            (
                "K1,L1,Pudong Court,(2026)沪0115民初123号,filed,2026-10-01",
                "",
                "=",
            ),
            ("K2,L2,Court,N2,closed,", "", "="),
            ("K3,L1,Court,N3,pending,", "error status invalid_value", "="),
            (
                "K4,L9,Court,N4,filed,",
                "error loan_id unknown_reference",
                "=",
            ),
            ("K1,L1,Court,N1,filed,", "error case_id duplicate_id", "="),
            ("K5,L1,,N5,filed,", "error court missing_value", "="),
            (
                "K6,L1,Court,N6,filed,2026-13-01",
                "error updated_on invalid_value",
                "=",
            ),
        ],
    },
    TableCase {
        name: "contact_persons",
        header: "person_id,borrower_id,name,phone,email,relation,source,refused",
        types: "SSSSSSSB",
        rows: &[
            ("P1,B1,Li,+8613900139000,,sister,designated,false", "", "="),
            (
                "P2,B1,Wu,12345,wu@example,friend,address_book,",
                "warning phone invalid_value; warning email invalid_value",
                "=",
            ),
            (
                "P4,B9,Zhao,,,,designated,false",
                "error borrower_id unknown_reference",
                "=",
            ),
            (
                "P5,B1,Sun,,,,harvested,false",
                "error source invalid_value",
                "=",
            ),
            (
                "P1,B1,Li,,,,designated,false",
                "error person_id duplicate_id",
                "=",
            ),
            ("P6,B1,Zhou,,,,contract,true", "", "="),
            (
                "P3,B1,Qian,,,,contract,yes",
                "error refused invalid_value",
                "-",
            ),
        ],
    },
];

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn date(s: &str) -> Date {
    s.parse().unwrap()
}

fn bid(s: &str) -> BorrowerId {
    BorrowerId::parse("borrower_id", s).unwrap()
}

fn lid(s: &str) -> LoanId {
    LoanId::parse("loan_id", s).unwrap()
}

/// What both reads must accept, written out by hand from the rows above.
fn expected() -> Lifecycle {
    Lifecycle {
        notices: vec![
            NoticeRow {
                notice_id: "N1".into(),
                borrower_id: bid("B1"),
                loan_id: Some(lid("L1")),
                kind: "validation".into(),
                sent_at: ts("2026-11-01T01:00:00Z"),
                channel: "letter".into(),
            },
            NoticeRow {
                notice_id: "N2".into(),
                borrower_id: bid("B2"),
                loan_id: None,
                kind: "credit_reporting".into(),
                sent_at: ts("2026-11-02T10:00:00Z"),
                channel: "email".into(),
            },
        ],
        preferences: vec![
            PreferenceRow {
                borrower_id: bid("B1"),
                channel: "sms".into(),
                opted_out: true,
                contact_from: None,
                contact_to: None,
                updated_at: ts("2026-11-01T00:00:00Z"),
            },
            PreferenceRow {
                borrower_id: bid("B1"),
                channel: "call".into(),
                opted_out: false,
                contact_from: Some(Time::new(9, 0, 0, 0).unwrap()),
                contact_to: Some(Time::new(18, 0, 0, 0).unwrap()),
                updated_at: ts("2026-11-02T00:00:00Z"),
            },
        ],
        plans: vec![
            PaymentPlanRow {
                plan_id: "PL1".into(),
                loan_id: lid("L1"),
                status: "active".into(),
                created_at: ts("2026-11-01T00:00:00Z"),
                status_at: None,
                installments: vec![
                    PlanInstallment {
                        seq: 1,
                        due_date: date("2026-12-01"),
                        amount_minor: 5000,
                    },
                    PlanInstallment {
                        seq: 2,
                        due_date: date("2026-12-15"),
                        amount_minor: 5000,
                    },
                ],
            },
            PaymentPlanRow {
                plan_id: "PL2".into(),
                loan_id: lid("L2"),
                status: "proposed".into(),
                created_at: ts("2026-11-02T00:00:00Z"),
                status_at: None,
                installments: vec![PlanInstallment {
                    seq: 2,
                    due_date: date("2027-01-05"),
                    amount_minor: 700,
                }],
            },
        ],
        placements: vec![
            PlacementRow {
                placement_id: "PC1".into(),
                loan_id: lid("L1"),
                agency_id: "AG1".into(),
                placed_at: ts("2026-10-01T00:00:00Z"),
                recalled_at: None,
            },
            PlacementRow {
                placement_id: "PC2".into(),
                loan_id: lid("L2"),
                agency_id: "AG2".into(),
                placed_at: ts("2026-10-01T00:00:00Z"),
                recalled_at: Some(ts("2026-10-15T00:00:00Z")),
            },
            PlacementRow {
                placement_id: "PC6".into(),
                loan_id: lid("L1"),
                agency_id: "AG1".into(),
                placed_at: ts("2026-10-01T00:00:00Z"),
                recalled_at: Some(ts("2026-10-01T00:00:00Z")),
            },
        ],
        sales: vec![SaleRow {
            sale_id: "S1".into(),
            loan_id: lid("L3"),
            buyer: "Buyer Co".into(),
            sold_at: ts("2026-11-20T00:00:00Z"),
        }],
        credit_disputes: vec![
            CreditDisputeRow {
                dispute_id: "D1".into(),
                borrower_id: bid("B1"),
                loan_id: Some(lid("L1")),
                opened_at: ts("2026-11-01T00:00:00Z"),
                resolved_at: None,
            },
            CreditDisputeRow {
                dispute_id: "D2".into(),
                borrower_id: bid("B2"),
                loan_id: None,
                opened_at: ts("2026-11-01T00:00:00Z"),
                resolved_at: Some(ts("2026-11-10T00:00:00Z")),
            },
        ],
        legal_cases: vec![
            LegalCaseFact {
                case_id: "K1".into(),
                loan_id: lid("L1"),
                status: "filed".into(),
                updated_on: Some(date("2026-10-01")),
            },
            LegalCaseFact {
                case_id: "K2".into(),
                loan_id: lid("L2"),
                status: "closed".into(),
                updated_on: None,
            },
        ],
        contact_persons: vec![
            ContactPersonFact {
                person_id: "P1".into(),
                borrower_id: bid("B1"),
                phone: Some("+8613900139000".into()),
                email: None,
                source: "designated".into(),
                refused: false,
            },
            ContactPersonFact {
                person_id: "P2".into(),
                borrower_id: bid("B1"),
                phone: None,
                email: None,
                source: "address_book".into(),
                refused: false,
            },
            ContactPersonFact {
                person_id: "P6".into(),
                borrower_id: bid("B1"),
                phone: None,
                email: None,
                source: "contract".into(),
                refused: true,
            },
        ],
    }
}

fn portfolio_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for (n, c) in [
        ("borrowers.csv", BORROWERS),
        ("loans.csv", LOANS),
        ("installments.csv", INSTALLMENTS),
        ("payments.csv", PAYMENTS),
    ] {
        std::fs::write(d.path().join(n), c).unwrap();
    }
    d
}

fn csv_text(c: &TableCase) -> String {
    let mut s = format!("{}\n", c.header);
    for (row, _, _) in c.rows {
        s.push_str(row);
        s.push('\n');
    }
    s
}

/// The rows of a case that go into its Parquet file.
fn pq_rows(c: &TableCase) -> Vec<&'static str> {
    c.rows
        .iter()
        .filter(|(_, _, pq)| *pq != "-")
        .map(|(row, _, _)| *row)
        .collect()
}

fn write_parquet(dir: &Path, c: &TableCase) {
    common::write_parquet(
        &dir.join(format!("{}.parquet", c.name)),
        c.header,
        c.types,
        &pq_rows(c),
    );
}

/// (file, line, column, severity, reason) expected for every case, in read order.
fn expected_rejects(parquet: bool) -> Vec<(String, u64, String, String, String)> {
    let mut out = Vec::new();
    for t in LIFECYCLE_TABLES {
        let c = CASES.iter().find(|c| c.name == t).unwrap();
        let file = format!("{t}.{}", if parquet { "parquet" } else { "csv" });
        let mut n = 0u64;
        for (_, csv, pq) in c.rows {
            let want = match (parquet, *pq) {
                (false, _) | (true, "=") => *csv,
                (true, "-") => continue,
                (true, other) => other,
            };
            n += 1;
            let line = if parquet { n } else { n + 1 };
            for e in want.split("; ").filter(|e| !e.is_empty()) {
                let v: Vec<&str> = e.split(' ').collect();
                assert_eq!(v.len(), 3, "{e}");
                out.push((
                    file.clone(),
                    line,
                    v[1].to_owned(),
                    v[0].to_owned(),
                    v[2].to_owned(),
                ));
            }
        }
    }
    out
}

fn check(dir: &Path, parquet: bool) {
    let p = arrears_io::read_portfolio(dir, &|_, _| {}).unwrap();
    assert!(p.rejects.is_empty(), "{:?}", p.rejects);
    let r = read_lifecycle(dir, &p.portfolio).unwrap();
    let got: Vec<(String, u64, String, String, String)> = r
        .rejects
        .iter()
        .map(|x| {
            (
                x.file.clone(),
                x.line,
                x.column.to_owned(),
                x.severity.to_owned(),
                x.reason.code().to_owned(),
            )
        })
        .collect();
    let want = expected_rejects(parquet);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "reject {i} (parquet: {parquet})");
    }
    assert_eq!(got.len(), want.len(), "{got:#?}");
    let exp = expected();
    assert_eq!(r.lifecycle.notices, exp.notices);
    assert_eq!(r.lifecycle.preferences, exp.preferences);
    assert_eq!(r.lifecycle.plans, exp.plans);
    assert_eq!(r.lifecycle.placements, exp.placements);
    assert_eq!(r.lifecycle.sales, exp.sales);
    assert_eq!(r.lifecycle.credit_disputes, exp.credit_disputes);
    assert_eq!(r.lifecycle.legal_cases, exp.legal_cases);
    assert_eq!(r.lifecycle.contact_persons, exp.contact_persons);
    // Every row read is accepted or rejected.
    for c in CASES {
        let n = if parquet {
            pq_rows(c).len()
        } else {
            c.rows.len()
        } as u64;
        assert_eq!(r.rows_read.get(c.name), Some(&n), "{}", c.name);
    }
    let accepted = |t: &str| -> u64 {
        let l = &r.lifecycle;
        (match t {
            "notices" => l.notices.len(),
            "preferences" => l.preferences.len(),
            "payment_plans" => l.plans.len(),
            "plan_installments" => l.plans.iter().map(|p| p.installments.len()).sum(),
            "placements" => l.placements.len(),
            "sales" => l.sales.len(),
            "credit_disputes" => l.credit_disputes.len(),
            "legal_cases" => l.legal_cases.len(),
            "contact_persons" => l.contact_persons.len(),
            other => panic!("{other}"),
        }) as u64
    };
    for t in LIFECYCLE_TABLES {
        assert_eq!(
            accepted(t) + r.rejected(t),
            r.rows_read[t],
            "{t}: accepted + rejected = read"
        );
    }
}

#[test]
fn every_table_from_csv() {
    let d = portfolio_dir();
    for c in CASES {
        std::fs::write(d.path().join(format!("{}.csv", c.name)), csv_text(c)).unwrap();
    }
    check(d.path(), false);
}

#[test]
fn every_table_from_parquet() {
    let d = portfolio_dir();
    for c in CASES {
        write_parquet(d.path(), c);
    }
    check(d.path(), true);
    // Messages name Parquet rows as rows.
    let p = arrears_io::read_portfolio(d.path(), &|_, _| {}).unwrap();
    let r = read_lifecycle(d.path(), &p.portfolio).unwrap();
    assert!(
        r.rejects[0]
            .to_string()
            .starts_with("notices.parquet row 3, column notice_id: error (duplicate_id)"),
        "{}",
        r.rejects[0]
    );
}

#[test]
fn extensions_read_contact_persons_and_legal_cases_from_parquet() {
    let d = portfolio_dir();
    for c in CASES
        .iter()
        .filter(|c| c.name == "contact_persons" || c.name == "legal_cases")
    {
        write_parquet(d.path(), c);
    }
    let p = arrears_io::read_portfolio(d.path(), &|_, _| {}).unwrap();
    let e = read_extensions(d.path(), &p.portfolio).unwrap();
    assert_eq!(e.rows_read, [6, 7]);
    let persons: Vec<(&str, u32, bool)> = e
        .contact_persons
        .iter()
        .map(|c| (&*c.person_id, c.borrower, c.refused))
        .collect();
    assert_eq!(
        persons,
        [("P1", 0, false), ("P2", 0, false), ("P6", 0, true)]
    );
    assert_eq!(e.contact_persons[0].name.as_deref(), Some("Li"));
    assert_eq!(e.contact_persons[1].relation.as_deref(), Some("friend"));
    let cases: Vec<(&str, u32, &str, &str)> = e
        .legal_cases
        .iter()
        .map(|c| (&*c.case_id, c.loan, &*c.court, &*c.status))
        .collect();
    assert_eq!(
        cases,
        [
            ("K1", 0, "Pudong Court", "filed"),
            ("K2", 1, "Court", "closed")
        ]
    );
    assert_eq!(e.rejects.iter().filter(|r| r.is_error()).count(), 3 + 5);
}

#[test]
fn a_missing_required_column_names_the_file_and_the_column() {
    // For each table, drop each column that must be in the header.
    let required: &[(&str, &[&str])] = &[
        (
            "notices",
            &["notice_id", "borrower_id", "kind", "sent_at", "channel"],
        ),
        (
            "preferences",
            &["borrower_id", "channel", "opted_out", "updated_at"],
        ),
        (
            "payment_plans",
            &["plan_id", "loan_id", "status", "created_at"],
        ),
        (
            "plan_installments",
            &["plan_id", "seq", "due_date", "amount_minor"],
        ),
        (
            "placements",
            &["placement_id", "loan_id", "agency_id", "placed_at"],
        ),
        ("sales", &["sale_id", "loan_id", "buyer", "sold_at"]),
        (
            "credit_disputes",
            &["dispute_id", "borrower_id", "opened_at"],
        ),
        (
            "legal_cases",
            &["case_id", "loan_id", "court", "case_number", "status"],
        ),
        ("contact_persons", &["person_id", "borrower_id", "source"]),
    ];
    let d = portfolio_dir();
    let p = arrears_io::read_portfolio(d.path(), &|_, _| {}).unwrap();
    for (table, cols) in required {
        let c = CASES.iter().find(|c| c.name == *table).unwrap();
        for col in *cols {
            let header: Vec<&str> = c.header.split(',').filter(|h| h != col).collect();
            let path = d.path().join(format!("{table}.csv"));
            std::fs::write(&path, format!("{}\n", header.join(","))).unwrap();
            let err = read_lifecycle(d.path(), &p.portfolio)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!("{table}.csv")) && err.contains(&format!("\"{col}\"")),
                "{table}.{col}: {err}"
            );
            std::fs::remove_file(&path).unwrap();
        }
        // The optional columns may be left out: a header of the required ones reads.
        let path = d.path().join(format!("{table}.csv"));
        std::fs::write(&path, format!("{}\n", cols.join(","))).unwrap();
        let r = read_lifecycle(d.path(), &p.portfolio).unwrap();
        assert_eq!(r.rows_read.get(table), Some(&0), "{table}");
        std::fs::remove_file(&path).unwrap();
    }
}

#[test]
fn columns_in_any_order_and_unknown_columns_are_ignored() {
    let d = portfolio_dir();
    std::fs::write(
        d.path().join("sales.csv"),
        "note,sold_at,buyer,loan_id,sale_id\nx,2026-11-20T08:00:00+08:00,Buyer Co,L3,S1\n",
    )
    .unwrap();
    let p = arrears_io::read_portfolio(d.path(), &|_, _| {}).unwrap();
    let r = read_lifecycle(d.path(), &p.portfolio).unwrap();
    assert!(r.rejects.is_empty(), "{:?}", r.rejects);
    assert_eq!(r.lifecycle.sales, expected().sales);
}

#[test]
fn both_formats_of_one_table_and_a_naive_parquet_timestamp_are_refused() {
    let d = portfolio_dir();
    let c = CASES.iter().find(|c| c.name == "sales").unwrap();
    std::fs::write(d.path().join("sales.csv"), csv_text(c)).unwrap();
    write_parquet(d.path(), c);
    let p = arrears_io::read_portfolio(d.path(), &|_, _| {}).unwrap();
    let err = read_lifecycle(d.path(), &p.portfolio)
        .unwrap_err()
        .to_string();
    assert!(err.contains("sales.csv and sales.parquet"), "{err}");
    std::fs::remove_file(d.path().join("sales.csv")).unwrap();

    // A timestamp without a zone holds local wall times: the whole file is refused.
    let schema = Arc::new(Schema::new(vec![
        Field::new("sale_id", DataType::Utf8, false),
        Field::new("loan_id", DataType::Utf8, false),
        Field::new("buyer", DataType::Utf8, false),
        Field::new(
            "sold_at",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            false,
        ),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(vec!["S1"])),
            Arc::new(StringArray::from(vec!["L3"])),
            Arc::new(StringArray::from(vec!["Buyer Co"])),
            Arc::new(TimestampMicrosecondArray::from(vec![0i64])),
        ],
    )
    .unwrap();
    let f = std::fs::File::create(d.path().join("sales.parquet")).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(f, schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let err = read_lifecycle(d.path(), &p.portfolio)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("sales.parquet") && err.contains("sold_at"),
        "{err}"
    );
}

#[test]
fn references_follow_the_accepted_portfolio() {
    // B2 is rejected (bad time zone), so its loan L2 is too: their lifecycle rows are
    // unknown references.
    let d = portfolio_dir();
    std::fs::write(
        d.path().join("borrowers.csv"),
        "borrower_id,name,timezone,jurisdiction\nB1,Li,Asia/Shanghai,CN\nB2,Ann,Nowhere/Zone,US-NY\n",
    )
    .unwrap();
    std::fs::write(
        d.path().join("notices.csv"),
        "notice_id,borrower_id,loan_id,kind,sent_at,channel\nN1,B2,,validation,2026-11-01T00:00:00Z,letter\nN2,B1,L1,validation,2026-11-01T00:00:00Z,letter\n",
    )
    .unwrap();
    std::fs::write(
        d.path().join("sales.csv"),
        "sale_id,loan_id,buyer,sold_at\nS1,L2,Buyer Co,2026-11-20T00:00:00Z\n",
    )
    .unwrap();
    let p = arrears_io::read_portfolio(d.path(), &|_, _| {}).unwrap();
    assert_eq!(p.portfolio.borrowers.len(), 1);
    let r = read_lifecycle(d.path(), &p.portfolio).unwrap();
    let got: Vec<String> = r.rejects.iter().map(ToString::to_string).collect();
    assert_eq!(got.len(), 2, "{got:#?}");
    assert!(
        got[0].starts_with("notices.csv line 2, column borrower_id: error (unknown_reference)")
    );
    assert!(got[1].starts_with("sales.csv line 2, column loan_id: error (unknown_reference)"));
    assert_eq!(r.lifecycle.notices.len(), 1);
    assert_eq!(&*r.lifecycle.notices[0].notice_id, "N2");
}
