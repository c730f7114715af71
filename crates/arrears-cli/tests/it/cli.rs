//! The command line as a user meets it: outputs, exit codes, configuration, demo.

use crate::{arrears, portfolio, text};

const BORROWERS: &str = "borrower_id,name,phone,timezone,jurisdiction\nB1,Li Lei,+8613800138000,Asia/Shanghai,CN\nB2,Ann Lee,+12125550100,America/New_York,US-NY\n";
const LOANS: &str = "loan_id,borrower_id,product,currency,principal_minor,annual_rate_bps,penalty_rate_bps,disbursed_on\nL2,B2,cash-12m,USD,20000,1200,1000,2026-08-01\nL1,B1,cash-3m,CNY,30000,2000,1000,2026-08-01\n";
const INSTALLMENTS: &str = "loan_id,seq,due_date,principal_minor,interest_minor,fee_minor\nL1,1,2026-09-01,10000,500,100\nL1,2,2026-10-01,10000,500,100\nL1,3,2026-11-01,10000,500,100\nL2,1,2026-11-27,20000,200,0\n";
const PAYMENTS: &str =
    "payment_id,loan_id,received_at,amount_minor\nP1,L1,2026-09-01T10:00:00+08:00,10600\n";

fn sample() -> tempfile::TempDir {
    portfolio(&[
        ("borrowers.csv", BORROWERS),
        ("loans.csv", LOANS),
        ("installments.csv", INSTALLMENTS),
        ("payments.csv", PAYMENTS),
    ])
}

#[test]
fn run_writes_every_output_sorted_by_loan() {
    let p = sample();
    let out = tempfile::tempdir().unwrap();
    let o = arrears(&[
        "run",
        "--portfolio",
        p.path().to_str().unwrap(),
        "--as-of",
        "2026-11-28",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    for f in [
        "accounts.csv",
        "accounts.parquet",
        "rejects.csv",
        "summary.json",
    ] {
        assert!(out.path().join(f).exists(), "{f} missing");
    }
    let accounts = std::fs::read_to_string(out.path().join("accounts.csv")).unwrap();
    let rows: Vec<&str> = accounts.lines().collect();
    assert_eq!(rows.len(), 3);
    assert!(
        rows[1].starts_with("L1,B1,2026-11-28,delinquent,58,M2,mid,"),
        "{}",
        rows[1]
    );
    assert!(
        rows[2].starts_with("L2,B2,2026-11-28,delinquent,1,M1,early,"),
        "{}",
        rows[2]
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["loans"], 2);
    assert_eq!(summary["rejected_rows"], 0);
    let m2 = summary["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == "M2")
        .unwrap();
    assert_eq!(m2["loans"], 1);
    assert_eq!(m2["by_currency"]["CNY"]["overdue_minor"], 21200);
    let stdout = text(&o.stdout);
    assert!(stdout.contains("212.00 CNY"), "{stdout}");
}

#[test]
fn parquet_output_matches_csv_output() {
    use arrow::array::AsArray;
    let p = sample();
    let out = tempfile::tempdir().unwrap();
    let o = arrears(&[
        "run",
        "--portfolio",
        p.path().to_str().unwrap(),
        "--as-of",
        "2026-11-28",
        "--out",
        out.path().to_str().unwrap(),
        "--format",
        "both",
    ]);
    assert!(o.status.success());
    let file = std::fs::File::open(out.path().join("accounts.parquet")).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<_> = reader.map(|b| b.unwrap()).collect();
    let batch = &batches[0];
    let schema = batch.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let csv = std::fs::read_to_string(out.path().join("accounts.csv")).unwrap();
    assert_eq!(csv.lines().next().unwrap(), names.join(","));
    let overdue = batch
        .column_by_name("overdue_minor")
        .unwrap()
        .as_primitive::<arrow::datatypes::Int64Type>();
    let ids = batch.column_by_name("loan_id").unwrap().as_string::<i32>();
    for (i, line) in csv.lines().skip(1).enumerate() {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(ids.value(i), cells[0]);
        assert_eq!(overdue.value(i).to_string(), cells[9]);
    }
}

#[test]
fn business_tz_flag_and_config_file() {
    // A payment at 2026-11-27T17:30Z is booked on the 28th in Shanghai, the 27th in UTC.
    let p = portfolio(&[
        (
            "borrowers.csv",
            "borrower_id,name,timezone,jurisdiction\nB1,A,Asia/Shanghai,CN\n",
        ),
        (
            "loans.csv",
            "loan_id,borrower_id,product,currency,principal_minor,annual_rate_bps,penalty_rate_bps,disbursed_on\nL1,B1,x,CNY,1000,0,0,2026-10-01\n",
        ),
        (
            "installments.csv",
            "loan_id,seq,due_date,principal_minor,interest_minor,fee_minor\nL1,1,2026-11-01,1000,0,0\n",
        ),
        (
            "payments.csv",
            "payment_id,loan_id,received_at,amount_minor\nP1,L1,2026-11-27T17:30:00Z,1000\n",
        ),
    ]);
    let run = |extra: &[&str]| {
        let out = tempfile::tempdir().unwrap();
        let mut args = vec![
            "run",
            "--portfolio",
            p.path().to_str().unwrap(),
            "--as-of",
            "2026-11-27",
            "--out",
            out.path().to_str().unwrap(),
            "--format",
            "csv",
            "-q",
        ];
        args.extend_from_slice(extra);
        let o = arrears(&args);
        assert!(o.status.success(), "{}", text(&o.stderr));
        std::fs::read_to_string(out.path().join("accounts.csv")).unwrap()
    };
    assert!(run(&[]).contains(",paid_off,"));
    assert!(run(&["--business-tz", "Asia/Shanghai"]).contains(",delinquent,26,"));
    let cfg = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(cfg.path(), "business_timezone = \"Asia/Shanghai\"\n").unwrap();
    assert!(run(&["--config", cfg.path().to_str().unwrap()]).contains(",delinquent,26,"));
    // The flag overrides the file.
    assert!(
        run(&[
            "--config",
            cfg.path().to_str().unwrap(),
            "--business-tz",
            "UTC"
        ])
        .contains(",paid_off,")
    );
}

#[test]
fn config_default_prints_a_usable_file() {
    let o = arrears(&["config", "--default"]);
    assert!(o.status.success());
    let t = text(&o.stdout);
    assert!(t.contains("business_timezone = \"UTC\""), "{t}");
    assert!(t.contains("max_annual_cost_bps = 2400"), "{t}");
    assert!(t.contains("name = \"M6+\""), "{t}");
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), &t).unwrap();
    let o = arrears(&["config", "--config", f.path().to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), t);
}

#[test]
fn usage_errors_exit_2_in_plain_sentences() {
    let o = arrears(&[
        "run",
        "--portfolio",
        "/nonexistent",
        "--as-of",
        "2026-11-28",
        "--out",
        "/tmp/x",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("/nonexistent"));
    let o = arrears(&[
        "run",
        "--portfolio",
        ".",
        "--as-of",
        "2026-02-30",
        "--out",
        "/tmp/x",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let p = sample();
    let o = arrears(&[
        "run",
        "--portfolio",
        p.path().to_str().unwrap(),
        "--as-of",
        "2026-11-28",
        "--out",
        "/tmp/x",
        "--business-tz",
        "Mars/Base",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("Mars/Base"), "{}", text(&o.stderr));
}

#[test]
fn demo_runs_on_built_in_sample_data() {
    let dir = tempfile::tempdir().unwrap();
    let o = arrears(&[
        "demo",
        "--no-serve",
        "--dir",
        dir.path().to_str().unwrap(),
        "--loans",
        "800",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("out/summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(summary["loans"], 800);
    assert_eq!(summary["rejected_rows"], 0);
    // A realistic sample: every bucket, stage and the file statuses are represented.
    for group in ["buckets", "stages"] {
        for b in summary[group].as_array().unwrap() {
            assert!(
                b["loans"].as_u64().unwrap() > 0,
                "{group} {} is empty",
                b["name"]
            );
        }
    }
    for cur in ["CNY", "USD", "GBP"] {
        assert!(
            summary["totals"][cur]["loans"].as_u64().unwrap() > 0,
            "no {cur} loans"
        );
    }
    let payments = std::fs::read_to_string(dir.path().join("portfolio/payments.csv")).unwrap();
    assert!(payments.contains(",reversal,"), "the sample has reversals");
    for t in ["contacts.csv", "promises.csv"] {
        let rows = std::fs::read_to_string(dir.path().join("portfolio").join(t))
            .unwrap()
            .lines()
            .count();
        assert!(rows > 1, "{t} is empty");
    }
    assert!(text(&o.stdout).contains("M6+"));
}

#[test]
fn generate_is_deterministic_and_runs_clean() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    for d in [&a, &b] {
        let o = arrears(&[
            "generate",
            "--loans",
            "500",
            "--seed",
            "7",
            "--out",
            d.path().to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", text(&o.stderr));
    }
    for t in ["borrowers", "loans", "installments", "payments"] {
        let f = format!("{t}.csv");
        assert_eq!(
            std::fs::read(a.path().join(&f)).unwrap(),
            std::fs::read(b.path().join(&f)).unwrap(),
            "{f}"
        );
    }
    let out = tempfile::tempdir().unwrap();
    let o = arrears(&[
        "run",
        "--portfolio",
        a.path().to_str().unwrap(),
        "--as-of",
        "2026-11-28",
        "--out",
        out.path().to_str().unwrap(),
        "--strict",
        "-q",
    ]);
    assert!(
        o.status.success(),
        "a generated portfolio is clean: {}",
        text(&o.stderr)
    );
}

/// `arrears rules show CN | head -1`: output cut short ends the command quietly (killed by
/// SIGPIPE, as Unix tools are), never with a panic on the broken pipe. The pipe's reading end
/// is closed before the command starts, so its first write finds the pipe broken.
#[test]
fn output_cut_short_ends_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_arrears"))
        .args(["rules", "show", "CN"])
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let err = text(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(o.status.signal(), Some(13), "{:?}: {err}", o.status);
}
