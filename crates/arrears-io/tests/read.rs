//! Reading portfolios: CSV and Parquet give the same portfolio, every row is accounted for,
//! and row order in the files does not change the results.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is the report

use arrears_domain::{Config, Severity, Table};
use jiff::civil::date;
use std::path::Path;

const BORROWERS: &str = "borrower_id,name,phone,timezone,jurisdiction,extra\nB1,Li Lei,+8613800138000,Asia/Shanghai,CN-11,x\nB2,Ann,bad-phone,America/New_York,US-NY,y\nB3,,+441234567890,Europe/London,GB,z\n";
const LOANS: &str = "loan_id,borrower_id,product,currency,principal_minor,annual_rate_bps,penalty_rate_bps,disbursed_on,status\nL1,B1,cash,CNY,30000,2000,1000,2026-08-01,\nL2,B2,cash,USD,20000,1200,1000,2026-08-01,sold\nL3,B3,cash,GBP,100,0,0,2026-08-01,\nL1,B1,dup,CNY,1,0,0,2026-08-01,\n";
const INSTALLMENTS: &str = "loan_id,seq,due_date,principal_minor,interest_minor,fee_minor\nL1,1,2026-09-01,10000,500,100\nL1,2,2026-10-01,10000,500,100\nL1,3,2026-11-01,10000,500,100\nL2,1,2026-11-27,20000,200,0\nL3,1,2026-09-01,100,0,0\n";
const PAYMENTS: &str = "payment_id,loan_id,received_at,amount_minor,kind,reverses\nP1,L1,2026-09-01T10:00:00+08:00,10600,,\nP2,L2,2026-11-01T10:00:00-04:00,500,payment,\nR2,L2,2026-11-03T10:00:00-05:00,500,reversal,P2\nP3,L3,2026-11-01T10:00:00Z,5,,\n";

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (n, c) in files {
        std::fs::write(dir.join(n), c).unwrap();
    }
}

fn reversed_lines(s: &str) -> String {
    let mut lines: Vec<&str> = s.lines().collect();
    let header = lines.remove(0);
    lines.reverse();
    format!("{header}\n{}\n", lines.join("\n"))
}

#[test]
fn every_row_is_accepted_or_rejected() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        &[
            ("borrowers.csv", BORROWERS),
            ("loans.csv", LOANS),
            ("installments.csv", INSTALLMENTS),
            ("payments.csv", PAYMENTS),
        ],
    );
    let r = arrears_io::read_portfolio(d.path(), &|_, _| {}).unwrap();
    let p = &r.portfolio;
    let errors = |t: Table| {
        r.rejects
            .iter()
            .filter(|x| x.at.table == t && x.severity == Severity::Error)
            .count() as u64
    };
    assert_eq!(p.rows_read[Table::Borrowers as usize], 3);
    assert_eq!(p.borrowers.len() as u64 + errors(Table::Borrowers), 3);
    assert_eq!(p.loans.len() as u64 + errors(Table::Loans), 4);
    assert_eq!(p.installments.len() as u64 + errors(Table::Installments), 5);
    // P3 belongs to L3, rejected with its borrower; the reversal R2 is folded into P2.
    assert_eq!(errors(Table::Payments), 1);
    assert_eq!(p.payments.len(), 2);
    assert_eq!(
        p.payments
            .iter()
            .filter(|x| x.cancelled_at.is_some())
            .count(),
        1
    );
    // B3 has no name -> rejected, so L3 and its installment and payment are rejected too.
    assert_eq!(p.borrowers.len(), 2);
    assert_eq!(p.loans.len(), 2);
    let warnings: Vec<_> = r
        .rejects
        .iter()
        .filter(|x| x.severity == Severity::Warning)
        .collect();
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].column, "phone");
    assert!(p.borrowers[1].phone.is_none());
}

/// The daily run as of 2026-11-28 over a folder, as the text of its accounts.csv.
fn accounts_of(dir: &Path) -> String {
    let r = arrears_io::read_portfolio(dir, &|_, _| {}).unwrap();
    let cfg = Config::default();
    let as_of = date(2026, 11, 28);
    let states = arrears_engine::run_day(&r.portfolio, as_of, &cfg).unwrap();
    let out = tempfile::tempdir().unwrap();
    let order = arrears_io::write::loan_order(&r.portfolio);
    let path = out.path().join("accounts.csv");
    arrears_io::write::write_accounts_csv(&path, &r.portfolio, &states, &order, as_of, &cfg)
        .unwrap();
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn csv_parquet_and_shuffled_rows_give_the_same_results() {
    let csv = tempfile::tempdir().unwrap();
    write(
        csv.path(),
        &[
            ("borrowers.csv", BORROWERS),
            ("loans.csv", LOANS),
            ("installments.csv", INSTALLMENTS),
            ("payments.csv", PAYMENTS),
        ],
    );
    let shuffled = tempfile::tempdir().unwrap();
    // Loans keep their duplicate last (the first row in file order wins), the rest reversed.
    write(
        shuffled.path(),
        &[
            ("borrowers.csv", &reversed_lines(BORROWERS)),
            ("loans.csv", LOANS),
            ("installments.csv", &reversed_lines(INSTALLMENTS)),
            ("payments.csv", &reversed_lines(PAYMENTS)),
        ],
    );
    let pq = tempfile::tempdir().unwrap();
    arrears_io::convert::csv_to_parquet(csv.path(), pq.path()).unwrap();
    assert!(pq.path().join("payments.parquet").exists());

    let a = accounts_of(csv.path());
    assert_eq!(a.lines().count(), 3, "{a}");
    assert!(
        a.contains("L2,B2,2026-11-28,sold,1,M1,early,20200,0,"),
        "{a}"
    );
    assert_eq!(a, accounts_of(shuffled.path()));
    assert_eq!(a, accounts_of(pq.path()));
}

/// Parquet written by other tools: timestamps annotated with a named zone (values are UTC
/// instants), dictionary-encoded strings, int32 integers; and a naive timestamp is refused.
#[test]
fn parquet_from_other_writers() {
    use arrow::array::{
        Array, ArrayRef, DictionaryArray, Int32Array, StringArray, TimestampMicrosecondArray,
    };
    use arrow::datatypes::{DataType, Field, Int32Type, Schema};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            ("borrowers.csv", BORROWERS),
            ("loans.csv", LOANS),
            ("installments.csv", INSTALLMENTS),
        ],
    );
    let write_payments = |tz: Option<&str>| {
        let ts = TimestampMicrosecondArray::from(vec![1_788_253_200_000_000i64]); // 2026-09-01T09:00:00Z
        let ts: ArrayRef = Arc::new(match tz {
            Some(z) => ts.with_timezone(z),
            None => ts,
        });
        let dict: DictionaryArray<Int32Type> = vec!["L1"].into_iter().collect();
        let schema = Schema::new(vec![
            Field::new("payment_id", DataType::Utf8, false),
            Field::new("loan_id", dict.data_type().clone(), false),
            Field::new("received_at", ts.data_type().clone(), false),
            Field::new("amount_minor", DataType::Int32, false),
        ]);
        let batch = arrow::array::RecordBatch::try_new(
            Arc::new(schema.clone()),
            vec![
                Arc::new(StringArray::from(vec!["P1"])),
                Arc::new(dict),
                ts,
                Arc::new(Int32Array::from(vec![10600])),
            ],
        )
        .unwrap();
        let f = std::fs::File::create(dir.path().join("payments.parquet")).unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(f, Arc::new(schema), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
    };
    write_payments(Some("Asia/Shanghai"));
    let r = arrears_io::read_portfolio(dir.path(), &|_, _| {}).unwrap();
    assert_eq!(r.portfolio.payments.len(), 1);
    assert_eq!(
        r.portfolio.payments[0].received_at.to_string(),
        "2026-09-01T09:00:00Z"
    );
    assert_eq!(r.portfolio.payments[0].amount.get(), 10600);
    write_payments(None);
    let e = arrears_io::read_portfolio(dir.path(), &|_, _| {}).unwrap_err();
    assert!(e.to_string().contains("received_at"), "{e}");
}

mod order {
    use super::*;
    use proptest::prelude::*;

    const B: &str = "borrower_id,name,timezone,jurisdiction\nB1,A,Asia/Shanghai,CN\nB2,B,America/New_York,US-NY\nB3,C,Europe/London,GB\n";
    const L: &str = "loan_id,borrower_id,product,currency,principal_minor,annual_rate_bps,penalty_rate_bps,disbursed_on\nL1,B1,x,CNY,3000,2000,1000,2026-01-01\nL2,B2,x,USD,2000,0,3650,2026-01-01\nL3,B3,x,GBP,1000,500,500,2026-01-01\nL4,B1,x,CNY,500,0,0,2026-01-01\n";
    const I: &str = "loan_id,seq,due_date,principal_minor,interest_minor,fee_minor\nL1,1,2026-08-01,1000,100,10\nL1,2,2026-09-01,1000,100,10\nL1,3,2026-10-01,1000,100,10\nL2,1,2026-09-15,1000,0,0\nL2,2,2026-10-15,1000,0,0\nL3,1,2026-11-01,1000,20,0\nL4,1,2026-11-27,500,0,0\n";
    const P: &str = "payment_id,loan_id,received_at,amount_minor,kind,reverses\nP1,L1,2026-08-01T10:00:00+08:00,1110,,\nP2,L1,2026-09-20T10:00:00+08:00,500,,\nR2,L1,2026-09-25T10:00:00+08:00,500,reversal,P2\nP3,L2,2026-09-30T10:00:00-04:00,1500,,\nP4,L3,2026-10-30T10:00:00Z,2000,,\nP5,L1,2026-10-02T10:00:00+08:00,300,,\n";

    fn permute(table: &str, perm: &[usize]) -> String {
        let mut lines: Vec<&str> = table.lines().collect();
        let header = lines.remove(0);
        let n = lines.len();
        let mut out: Vec<&str> = Vec::with_capacity(n);
        let mut idx: Vec<usize> = (0..n).collect();
        for (i, p) in perm.iter().enumerate().take(n) {
            let j = i + p % (n - i);
            idx.swap(i, j);
        }
        for i in idx {
            out.push(lines[i]);
        }
        format!("{header}\n{}\n", out.join("\n"))
    }

    fn accounts(files: &[(&str, &str)]) -> String {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), files);
        let r = arrears_io::read_portfolio(d.path(), &|_, _| {}).unwrap();
        assert!(r.rejects.is_empty(), "{:?}", r.rejects);
        accounts_of(d.path())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// With unique ids, the order of rows in every file does not change any result.
        #[test]
        fn results_do_not_depend_on_row_order(pb in prop::collection::vec(0usize..100, 8), pl in prop::collection::vec(0usize..100, 8),
                                              pi in prop::collection::vec(0usize..100, 8), pp in prop::collection::vec(0usize..100, 8)) {
            let base = accounts(&[("borrowers.csv", B), ("loans.csv", L), ("installments.csv", I), ("payments.csv", P)]);
            prop_assert_eq!(base.lines().count(), 5);
            let shuffled = accounts(&[
                ("borrowers.csv", &permute(B, &pb)),
                ("loans.csv", &permute(L, &pl)),
                ("installments.csv", &permute(I, &pi)),
                ("payments.csv", &permute(P, &pp)),
            ]);
            prop_assert_eq!(base, shuffled);
        }
    }
}
