//! Bad input: every rejection reason of spec section 1, strict mode, file-level errors, and
//! random bytes that must never panic.

use crate::{arrears, portfolio, text};
use proptest::prelude::*;

const BORROWERS: &str = "borrower_id,name,timezone,jurisdiction\nB1,A,UTC,CN\n";
const LOANS: &str = "loan_id,borrower_id,product,currency,principal_minor,annual_rate_bps,penalty_rate_bps,disbursed_on\nL1,B1,x,CNY,3000,0,0,2026-01-01\n";
const INST: &str = "loan_id,seq,due_date,principal_minor,interest_minor,fee_minor\nL1,1,2026-02-01,1000,0,0\nL1,2,2026-03-01,1000,0,0\nL1,3,2026-04-01,1000,0,0\n";
const PAY: &str = "payment_id,loan_id,received_at,amount_minor,kind,reverses\n";

fn run_with(files: &[(&str, &str)], extra: &[&str]) -> (std::process::Output, tempfile::TempDir) {
    let mut all: Vec<(&str, &str)> = vec![
        ("borrowers.csv", BORROWERS),
        ("loans.csv", LOANS),
        ("installments.csv", INST),
        ("payments.csv", PAY),
    ];
    for (n, c) in files {
        all.retain(|(m, _)| m != n);
        all.push((n, c));
    }
    let p = portfolio(&all);
    let out = tempfile::tempdir().unwrap();
    let mut args = vec![
        "run",
        "--portfolio",
        p.path().to_str().unwrap(),
        "--as-of",
        "2026-05-01",
        "--out",
        out.path().to_str().unwrap(),
        "--format",
        "csv",
        "-q",
    ];
    args.extend_from_slice(extra);
    (arrears(&args), out)
}

/// (file, line, column, severity, reason) of each rejects.csv row.
fn rejects(out: &tempfile::TempDir) -> Vec<(String, u64, String, String, String)> {
    let mut r = csv::Reader::from_path(out.path().join("rejects.csv")).unwrap();
    r.records()
        .map(|r| {
            let r = r.unwrap();
            (
                r[0].to_owned(),
                r[1].parse().unwrap(),
                r[2].to_owned(),
                r[3].to_owned(),
                r[4].to_owned(),
            )
        })
        .collect()
}

fn one_reject(files: &[(&str, &str)]) -> (String, u64, String, String, String) {
    let (o, out) = run_with(files, &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let r = rejects(&out);
    assert_eq!(r.len(), 1, "{r:?}");
    r.into_iter().next().unwrap()
}

fn e(file: &str, line: u64, col: &str, reason: &str) -> (String, u64, String, String, String) {
    (file.into(), line, col.into(), "error".into(), reason.into())
}

#[test]
fn each_rejection_reason_names_file_line_and_column() {
    let pay = |rows: &str| format!("{PAY}{rows}");
    assert_eq!(
        one_reject(&[("payments.csv", &pay("P1,L1,,100,,\n"))]),
        e("payments.csv", 2, "received_at", "missing_value")
    );
    assert_eq!(
        one_reject(&[("payments.csv", &pay("P1,L1,2026-02-01T10:00:00,100,,\n"))]),
        e("payments.csv", 2, "received_at", "invalid_value")
    );
    assert_eq!(
        one_reject(&[("payments.csv", &pay("P1,L1,2026-02-01T10:00:00Z,12.5,,\n"))]),
        e("payments.csv", 2, "amount_minor", "invalid_value")
    );
    assert_eq!(
        one_reject(&[("payments.csv", &pay("P1,L1,2026-02-01T10:00:00Z,0,,\n"))]),
        e("payments.csv", 2, "amount_minor", "out_of_range")
    );
    assert_eq!(
        one_reject(&[("payments.csv", &pay("P1,L9,2026-02-01T10:00:00Z,5,,\n"))]),
        e("payments.csv", 2, "loan_id", "unknown_reference")
    );
    assert_eq!(
        one_reject(&[(
            "payments.csv",
            &pay("P1,L1,2026-02-01T10:00:00Z,5,,\nP1,L1,2026-02-02T10:00:00Z,5,,\n")
        )]),
        e("payments.csv", 3, "payment_id", "duplicate_id")
    );
    assert_eq!(
        one_reject(&[(
            "payments.csv",
            &pay("P1,L1,2026-02-01T10:00:00Z,5,reversal,P9\n")
        )]),
        e("payments.csv", 2, "reverses", "invalid_reversal")
    );
    assert_eq!(
        one_reject(&[(
            "payments.csv",
            &pay("P1,L1,2026-02-01T10:00:00Z,5,,\nR1,L1,2026-02-02T10:00:00Z,6,reversal,P1\n")
        )]),
        e("payments.csv", 3, "reverses", "invalid_reversal")
    );
    assert_eq!(
        one_reject(&[(
            "payments.csv",
            &pay(
                "P1,L1,2026-02-01T10:00:00Z,5,,\nR1,L1,2026-02-02T10:00:00Z,5,reversal,P1\nR2,L1,2026-02-03T10:00:00Z,5,reversal,P1\n"
            )
        )]),
        e("payments.csv", 4, "reverses", "invalid_reversal")
    );
    assert_eq!(
        one_reject(&[(
            "payments.csv",
            &pay("P1,L1,2026-02-01T10:00:00Z,5,reversal,\n")
        )]),
        e("payments.csv", 2, "reverses", "missing_value")
    );
    let inst = |rows: &str| {
        format!("loan_id,seq,due_date,principal_minor,interest_minor,fee_minor\n{rows}")
    };
    assert_eq!(
        one_reject(&[(
            "installments.csv",
            &inst("L1,1,2026-02-01,1000,0,0\nL1,3,2026-04-01,1000,0,0\n")
        )]),
        e("installments.csv", 3, "seq", "seq_gap")
    );
    assert_eq!(
        one_reject(&[(
            "installments.csv",
            &inst("L1,1,2026-02-01,1000,0,0\nL1,2,2026-01-01,1000,0,0\n")
        )]),
        e("installments.csv", 3, "due_date", "due_date_order")
    );
    assert_eq!(
        one_reject(&[(
            "installments.csv",
            &inst("L1,1,2026-02-01,1000,0,0\nL1,1,2026-02-01,1000,0,0\n")
        )]),
        e("installments.csv", 3, "seq", "duplicate_id")
    );
    assert_eq!(
        one_reject(&[(
            "installments.csv",
            &inst("L1,1,2026-02-01,1000,-1,0\nL1,2,2026-03-01,1000,0,0\n")
        )]),
        e("installments.csv", 2, "interest_minor", "out_of_range")
    );
    assert_eq!(
        one_reject(&[
            (
                "loans.csv",
                "loan_id,borrower_id,product,currency,principal_minor,annual_rate_bps,penalty_rate_bps,disbursed_on\nL1,B1,x,CNY,3000,-5,0,2026-01-01\n"
            ),
            ("installments.csv", &inst("")),
        ]),
        e("loans.csv", 2, "annual_rate_bps", "out_of_range")
    );
    assert_eq!(
        one_reject(&[(
            "borrowers.csv",
            "borrower_id,name,timezone,jurisdiction\nB1,A,UTC,CN\nB2,,UTC,CN\n"
        )]),
        e("borrowers.csv", 3, "name", "missing_value")
    );
}

#[test]
fn a_rejected_parent_rejects_its_children_and_good_rows_still_run() {
    let (o, out) = run_with(
        &[
            (
                "borrowers.csv",
                "borrower_id,name,timezone,jurisdiction\nB1,A,UTC,CN\nB2,B,Nowhere/Zone,CN\n",
            ),
            (
                "loans.csv",
                "loan_id,borrower_id,product,currency,principal_minor,annual_rate_bps,penalty_rate_bps,disbursed_on\nL1,B1,x,CNY,3000,0,0,2026-01-01\nL2,B2,x,CNY,3000,0,0,2026-01-01\n",
            ),
            (
                "installments.csv",
                &format!("{INST}L2,1,2026-02-01,1000,0,0\n"),
            ),
            (
                "payments.csv",
                &format!("{PAY}P1,L2,2026-02-01T10:00:00Z,5,,\n"),
            ),
        ],
        &[],
    );
    assert!(o.status.success());
    let r = rejects(&out);
    assert_eq!(
        r,
        vec![
            e("borrowers.csv", 3, "timezone", "invalid_value"),
            e("loans.csv", 3, "borrower_id", "unknown_reference"),
            e("installments.csv", 5, "loan_id", "unknown_reference"),
            e("payments.csv", 2, "loan_id", "unknown_reference"),
        ]
    );
    let accounts = std::fs::read_to_string(out.path().join("accounts.csv")).unwrap();
    assert_eq!(accounts.lines().count(), 2, "only L1 is computed");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["rejected_rows"], 4);
    assert_eq!(summary["rejected_by_reason"]["unknown_reference"], 3);
}

#[test]
fn malformed_contact_details_are_warnings() {
    let (o, out) = run_with(
        &[(
            "borrowers.csv",
            "borrower_id,name,phone,email,timezone,jurisdiction,deceased\nB1,A,12345,a@b,UTC,CN,false\n",
        )],
        &["--strict"],
    );
    assert!(
        o.status.success(),
        "warnings do not stop strict mode: {}",
        text(&o.stderr)
    );
    let w = |col: &str| {
        (
            "borrowers.csv".to_owned(),
            2,
            col.to_owned(),
            "warning".to_owned(),
            "invalid_value".to_owned(),
        )
    };
    assert_eq!(rejects(&out), vec![w("phone"), w("email")]);
    let accounts = std::fs::read_to_string(out.path().join("accounts.csv")).unwrap();
    assert_eq!(
        accounts.lines().count(),
        2,
        "the borrower and its loan are kept"
    );
}

/// Fail safe (spec section 7, amended): a malformed value in a field that moves money or
/// protects a borrower rejects the row, and with it every row that references it.
#[test]
fn malformed_protections_and_money_fields_reject_the_row() {
    let inst_rejected = [
        e("installments.csv", 2, "loan_id", "unknown_reference"),
        e("installments.csv", 3, "loan_id", "unknown_reference"),
        e("installments.csv", 4, "loan_id", "unknown_reference"),
    ];
    let borrower = |col: &str, value: &str| {
        (
            "borrowers.csv",
            format!("borrower_id,name,timezone,jurisdiction,{col}\nB1,A,UTC,CN,{value}\n"),
        )
    };
    type Rejects = Vec<(String, u64, String, String, String)>;
    let mut cases: Vec<((&str, String), Rejects)> = [
        ("deceased", "yes"),
        ("bankrupt", "1"),
        ("cease_contact", "TRUE"),
        ("dispute_open", "no"),
        ("hardship", "Y"),
        ("breathing_space_until", "2026-02-30"),
        ("attorney_phone", "12345"),
        ("attorney_email", "lawyer-at-example.com"),
    ]
    .into_iter()
    .map(|(col, v)| {
        let mut want = vec![
            e("borrowers.csv", 2, col, "invalid_value"),
            e("loans.csv", 2, "borrower_id", "unknown_reference"),
        ];
        want.extend(inst_rejected.clone());
        (borrower(col, v), want)
    })
    .collect();
    let mut loan_status = vec![e("loans.csv", 2, "status", "invalid_value")];
    loan_status.extend(inst_rejected.clone());
    cases.push((
        (
            "loans.csv",
            "loan_id,borrower_id,product,currency,principal_minor,annual_rate_bps,penalty_rate_bps,disbursed_on,status\nL1,B1,x,CNY,3000,0,0,2026-01-01,writen_off\n".to_owned(),
        ),
        loan_status,
    ));
    cases.push((
        (
            "payments.csv",
            format!(
                "{PAY}P1,L1,2026-02-01T10:00:00Z,5,,\nR1,L1,2026-02-02T10:00:00Z,5,Reversal,P1\n"
            ),
        ),
        vec![e("payments.csv", 3, "kind", "invalid_value")],
    ));
    for ((file, content), want) in &cases {
        let (o, out) = run_with(&[(*file, content.as_str())], &[]);
        assert!(o.status.success(), "{}", text(&o.stderr));
        assert_eq!(&rejects(&out), want, "{file}: {content}");
        // And --strict stops at it.
        let (o, _) = run_with(&[(*file, content.as_str())], &["--strict"]);
        assert_eq!(o.status.code(), Some(2), "{file}: {content}");
        let (_, line, col, _, _) = &want[0];
        assert!(
            text(&o.stderr).contains(&format!("{file} line {line}, column {col}")),
            "{}",
            text(&o.stderr)
        );
    }
    // An empty value is the default: nothing rejected.
    let (f, c) = borrower("deceased", "");
    let (o, out) = run_with(&[(f, c.as_str())], &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(rejects(&out).is_empty());
}

#[test]
fn strict_mode_stops_at_the_first_bad_row() {
    let (o, out) = run_with(
        &[(
            "payments.csv",
            &format!("{PAY}P1,L1,2026-02-01T10:00:00Z,0,,\n"),
        )],
        &["--strict"],
    );
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(
        err.contains("payments.csv line 2, column amount_minor"),
        "{err}"
    );
    assert!(!out.path().join("accounts.csv").exists());
}

#[test]
fn missing_column_and_missing_table_are_clear_errors() {
    let (o, _) = run_with(
        &[(
            "loans.csv",
            "loan_id,borrower_id,product,currency,principal_minor,annual_rate_bps,disbursed_on\nL1,B1,x,CNY,3000,0,2026-01-01\n",
        )],
        &[],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("required column \"penalty_rate_bps\" is missing"),
        "{}",
        text(&o.stderr)
    );
    let p = portfolio(&[
        ("borrowers.csv", BORROWERS),
        ("loans.csv", LOANS),
        ("installments.csv", INST),
    ]);
    let o = arrears(&[
        "run",
        "--portfolio",
        p.path().to_str().unwrap(),
        "--as-of",
        "2026-05-01",
        "--out",
        "/tmp/none",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("no payments table"),
        "{}",
        text(&o.stderr)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// Random bytes in any table never make the run panic: it either reports rows or fails
    /// with a sentence and exit code 2.
    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400), table in 0usize..4, keep_header in any::<bool>()) {
        let names = ["borrowers.csv", "loans.csv", "installments.csv", "payments.csv"];
        let headers = [BORROWERS, LOANS, INST, PAY];
        let mut content = if keep_header { headers[table].lines().next().unwrap().as_bytes().to_vec() } else { Vec::new() };
        if keep_header { content.push(b'\n'); }
        content.extend_from_slice(&bytes);
        let p = portfolio(&[("borrowers.csv", BORROWERS), ("loans.csv", LOANS), ("installments.csv", INST), ("payments.csv", PAY)]);
        std::fs::write(p.path().join(names[table]), &content).unwrap();
        let out = tempfile::tempdir().unwrap();
        let o = arrears(&["run", "--portfolio", p.path().to_str().unwrap(), "--as-of", "2026-05-01", "--out", out.path().to_str().unwrap(), "-q"]);
        let code = o.status.code();
        prop_assert!(code == Some(0) || code == Some(2), "exit {:?}: {}", code, text(&o.stderr));
        prop_assert!(!text(&o.stderr).contains("panicked"));
    }
}

#[test]
fn parquet_rows_are_numbered_from_1_in_rejects() {
    let csv = portfolio(&[
        ("borrowers.csv", BORROWERS),
        ("loans.csv", LOANS),
        ("installments.csv", INST),
        (
            "payments.csv",
            &format!(
                "{PAY}P1,L1,2026-02-01T10:00:00Z,5,,\nP2,L1,2026-02-01T10:00:00Z,0,,\nP1,L1,2026-02-02T10:00:00Z,5,,\nP3,L9,2026-02-02T10:00:00Z,5,,\n"
            ),
        ),
    ]);
    let pq = tempfile::tempdir().unwrap();
    let o = arrears(&[
        "convert",
        "--portfolio",
        csv.path().to_str().unwrap(),
        "--out",
        pq.path().to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = tempfile::tempdir().unwrap();
    let o = arrears(&[
        "run",
        "--portfolio",
        pq.path().to_str().unwrap(),
        "--as-of",
        "2026-05-01",
        "--out",
        out.path().to_str().unwrap(),
        "-q",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(
        rejects(&out),
        vec![
            e("payments.parquet", 2, "amount_minor", "out_of_range"),
            e("payments.parquet", 3, "payment_id", "duplicate_id"),
            e("payments.parquet", 4, "loan_id", "unknown_reference"),
        ]
    );
}
