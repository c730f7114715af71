//! `arrears bureau` through the binary: a generated portfolio with lifecycle tables, the
//! month's Metro 2 file read back with the public positions (a reader of this test's own),
//! the CSV and the summary; the gates judged against the daily run's own accounts.csv; the
//! store path with a correction after a dispute resolved in the borrower's favour.

use crate::{arrears, text};
use std::collections::{HashMap, HashSet};
use std::path::Path;

fn ok(args: &[&str]) -> String {
    let o = arrears(args);
    assert!(
        o.status.success(),
        "arrears {}: {}{}",
        args.join(" "),
        text(&o.stdout),
        text(&o.stderr)
    );
    text(&o.stdout)
}

fn rows(path: &Path) -> Vec<HashMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_owned).collect();
    r.records()
        .map(|rec| {
            header
                .iter()
                .cloned()
                .zip(rec.unwrap().iter().map(str::to_owned))
                .collect()
        })
        .collect()
}

/// A Metro 2 base segment's field, by the public 1-based position and length.
fn field(rec: &str, pos: usize, len: usize) -> &str {
    &rec[pos - 1..pos - 1 + len]
}

struct Metro2 {
    bases: Vec<String>,
    trailer: String,
}

fn read_metro2(path: &Path) -> Metro2 {
    let t = std::fs::read_to_string(path).unwrap();
    let recs: Vec<&str> = t.lines().collect();
    assert!(recs.len() >= 2);
    for r in &recs {
        assert_eq!(r.len(), 426, "{r}");
        assert_eq!(&r[..4], "0426");
    }
    assert_eq!(field(recs[0], 5, 6), "HEADER");
    let trailer = recs[recs.len() - 1].to_owned();
    assert_eq!(field(&trailer, 5, 7), "TRAILER");
    Metro2 {
        bases: recs[1..recs.len() - 1]
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
        trailer,
    }
}

/// Metro 2's account status of a number of days past due (0-29 current 11, 30-59 71, 60-89
/// 78, 90-119 80, 120-149 82, 150-179 83, 180+ 84).
fn code_of_dpd(dpd: u32) -> &'static str {
    match dpd {
        0..=29 => "11",
        30..=59 => "71",
        60..=89 => "78",
        90..=119 => "80",
        120..=149 => "82",
        150..=179 => "83",
        _ => "84",
    }
}

fn band_of_dpd(dpd: u32) -> &'static str {
    match dpd {
        0..=29 => "current",
        30..=59 => "late_30",
        60..=89 => "late_60",
        90..=119 => "late_90",
        120..=149 => "late_120",
        150..=179 => "late_150",
        _ => "late_180",
    }
}

struct Generated {
    /// borrower id → (jurisdiction, held: deceased or bankrupt)
    borrowers: Vec<(String, String, bool)>,
    /// loan id → borrower id
    loans: HashMap<String, String>,
}

fn generate(dir: &Path, loans: &str, seed: &str) -> Generated {
    ok(&[
        "generate",
        "--loans",
        loans,
        "--seed",
        seed,
        "--out",
        dir.to_str().unwrap(),
    ]);
    let borrowers = rows(&dir.join("borrowers.csv"))
        .into_iter()
        .map(|b| {
            let held = b["deceased"] == "true" || b["bankrupt"] == "true";
            (b["borrower_id"].clone(), b["jurisdiction"].clone(), held)
        })
        .collect();
    let loans = rows(&dir.join("loans.csv"))
        .into_iter()
        .map(|l| (l["loan_id"].clone(), l["borrower_id"].clone()))
        .collect();
    Generated { borrowers, loans }
}

fn us(j: &str) -> bool {
    j == "US" || j.starts_with("US-")
}

#[test]
fn a_months_files_from_a_generated_portfolio_follow_the_gates() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("p");
    let g = generate(&p, "600", "21");
    // Notices for every other borrower (US: the validation notice too, and the credit
    // notice more than 14 days before the month's end); open credit disputes for every
    // fifth, some of them with a notice.
    let mut notices = String::from("notice_id,borrower_id,loan_id,kind,sent_at,channel\n");
    let mut disputes = String::from("dispute_id,borrower_id,loan_id,opened_at,resolved_at\n");
    let mut noticed = HashSet::new();
    let mut disputed = HashSet::new();
    for (i, (b, j, _)) in g.borrowers.iter().enumerate() {
        if i % 2 == 0 {
            noticed.insert(b.clone());
            notices.push_str(&format!(
                "NC{i},{b},,credit_reporting,2026-10-01T12:00:00Z,letter\n"
            ));
            if us(j) {
                notices.push_str(&format!(
                    "NV{i},{b},,validation,2026-09-01T12:00:00Z,letter\n"
                ));
            }
        }
        if i % 5 == 1 || i % 10 == 0 {
            disputed.insert(b.clone());
            disputes.push_str(&format!("CD{i},{b},,2026-11-10T08:00:00Z,\n"));
        }
    }
    std::fs::write(p.join("notices.csv"), notices).unwrap();
    std::fs::write(p.join("credit_disputes.csv"), disputes).unwrap();

    // The daily run as of the month's last day says what each account is.
    let run = d.path().join("run");
    ok(&[
        "run",
        "--as-of",
        "2026-11-30",
        "--portfolio",
        p.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
        "--format",
        "csv",
    ]);
    let accounts: HashMap<String, (String, u32)> = rows(&run.join("accounts.csv"))
        .into_iter()
        .map(|a| {
            (
                a["loan_id"].clone(),
                (a["status"].clone(), a["dpd"].parse().unwrap()),
            )
        })
        .collect();

    let out = d.path().join("out");
    let stdout = ok(&[
        "bureau",
        "report",
        "--month",
        "2026-11",
        "--portfolio",
        p.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--furnisher-id",
        "TESTFURN01",
    ]);
    assert!(stdout.contains("2026-11:"), "{stdout}");
    let m2 = read_metro2(&out.join("metro2_2026-11.txt"));
    let csv_rows = rows(&out.join("bureau_2026-11.csv"));
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("bureau_summary_2026-11.json")).unwrap(),
    )
    .unwrap();

    let by_loan_m2: HashMap<String, &String> = m2
        .bases
        .iter()
        .map(|r| (field(r, 43, 30).trim_end().to_owned(), r))
        .collect();
    let by_loan_csv: HashMap<String, &HashMap<String, String>> =
        csv_rows.iter().map(|r| (r["loan_id"].clone(), r)).collect();
    assert_eq!(by_loan_csv.len(), csv_rows.len(), "one line per loan");

    let jur: HashMap<&str, (&str, bool)> = g
        .borrowers
        .iter()
        .map(|(b, j, h)| (b.as_str(), (j.as_str(), *h)))
        .collect();
    let (mut negative_seen, mut withheld_seen, mut disputed_seen) = (0, 0, 0);
    for (loan, (status, dpd)) in &accounts {
        if status != "current" && status != "delinquent" {
            continue;
        }
        let b = &g.loans[loan];
        let (j, held) = jur[b.as_str()];
        let m2_line = by_loan_m2.get(loan);
        let csv_line = by_loan_csv.get(loan);
        assert_eq!(m2_line.is_some(), csv_line.is_some() && us(j), "{loan} {j}");
        if disputed.contains(b) {
            let c = csv_line.unwrap_or_else(|| panic!("{loan}: disputed lines are reported"));
            assert_eq!(c["status"], "disputed");
            assert_eq!(c["disputed"], "true");
            assert_eq!(c["past_due_minor"], "0");
            if let Some(r) = m2_line {
                assert_eq!(
                    field(r, 124, 2),
                    "11",
                    "{loan}: never negative while disputed"
                );
                assert_eq!(field(r, 153, 2), "XB");
                assert_eq!(field(r, 164, 9), "000000000");
                assert_eq!(field(r, 190, 8), "00000000");
            }
            disputed_seen += 1;
        } else if *dpd < 30 {
            let c = csv_line.unwrap_or_else(|| panic!("{loan}: current lines are reported"));
            assert_eq!(c["status"], "current");
            if let Some(r) = m2_line {
                assert_eq!(field(r, 124, 2), "11");
            }
        } else if noticed.contains(b) && !held {
            let c = csv_line.unwrap_or_else(|| panic!("{loan} ({j}, {dpd} dpd): notice on record"));
            assert_eq!(c["status"], band_of_dpd(*dpd), "{loan}");
            assert_eq!(c["dpd"], dpd.to_string());
            if let Some(r) = m2_line {
                assert_eq!(field(r, 124, 2), code_of_dpd(*dpd), "{loan}");
                assert_ne!(field(r, 190, 8), "00000000", "date of first delinquency");
                assert_eq!(field(r, 21, 20).trim_end(), "TESTFURN01");
                assert_eq!(field(r, 182, 8), "11302026");
            }
            negative_seen += 1;
        } else {
            assert!(
                csv_line.is_none(),
                "{loan} ({j}, {dpd} dpd): withheld without a notice"
            );
            withheld_seen += 1;
        }
    }
    assert!(negative_seen > 0 && withheld_seen > 0 && disputed_seen > 0);

    // The trailer counts what the file holds.
    let count = |code: &str| m2.bases.iter().filter(|r| field(r, 124, 2) == code).count();
    assert_eq!(field(&m2.trailer, 12, 9), format!("{:09}", m2.bases.len()));
    for (code, pos) in [
        ("11", 84),
        ("13", 93),
        ("71", 147),
        ("78", 156),
        ("80", 165),
        ("84", 192),
        ("97", 255),
    ] {
        assert_eq!(
            field(&m2.trailer, pos, 9),
            format!("{:09}", count(code)),
            "{code}"
        );
    }
    assert_eq!(
        summary["reported"].as_u64().unwrap() as usize,
        csv_rows.len()
    );
    assert!(summary["withheld"].as_u64().unwrap() as usize >= withheld_seen);
    assert!(summary["withheld_by_rule"].as_object().unwrap().len() >= 2);
}

#[test]
fn bad_input_is_refused_with_the_reason() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("o");
    for (args, says) in [
        (
            vec![
                "bureau",
                "report",
                "--month",
                "2026-13",
                "--portfolio",
                "x",
                "--out",
            ],
            "YYYY-MM",
        ),
        (
            vec![
                "bureau",
                "report",
                "--month",
                "11/2026",
                "--portfolio",
                "x",
                "--out",
            ],
            "YYYY-MM",
        ),
        (
            vec![
                "bureau",
                "report",
                "--month",
                "2026-11",
                "--portfolio",
                "/nonexistent/p",
                "--out",
            ],
            "/nonexistent/p",
        ),
        (
            vec![
                "bureau",
                "report",
                "--month",
                "2026-11",
                "--portfolio",
                "x",
                "--format",
                "pdf",
                "--out",
            ],
            "pdf",
        ),
    ] {
        let mut a = args.clone();
        a.push(out.to_str().unwrap());
        let o = arrears(&a);
        assert_eq!(o.status.code(), Some(2), "{a:?}: {}", text(&o.stderr));
        assert!(text(&o.stderr).contains(says), "{a:?}: {}", text(&o.stderr));
    }
}

#[test]
fn the_store_records_each_month_once_and_corrects_after_a_favourable_resolution() {
    for b in [
        crate::store::Backend::Sqlite,
        crate::store::Backend::Postgres,
    ] {
        if let Some(db) = crate::store::fresh(b) {
            store_month_by_month(&db.target);
        }
    }
}

fn store_month_by_month(db: &str) {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("p");
    let g = generate(&p, "300", "9");
    let mut notices = String::from("notice_id,borrower_id,loan_id,kind,sent_at,channel\n");
    for (i, (b, _, _)) in g.borrowers.iter().enumerate() {
        notices.push_str(&format!(
            "NC{i},{b},,credit_reporting,2026-08-01T12:00:00Z,letter\n"
        ));
        notices.push_str(&format!(
            "NV{i},{b},,validation,2026-08-01T12:00:00Z,letter\n"
        ));
    }
    std::fs::write(p.join("notices.csv"), notices).unwrap();
    let rejects = p.join("import-rejects.csv");
    ok(&[
        "import",
        "--portfolio",
        p.to_str().unwrap(),
        "--db",
        db,
        "--rejects",
        rejects.to_str().unwrap(),
    ]);

    let report = |month: &str| {
        let out = d.path().join(format!("o{month}"));
        ok(&[
            "bureau",
            "report",
            "--month",
            month,
            "--db",
            db,
            "--out",
            out.to_str().unwrap(),
        ]);
        out
    };
    let oct = report("2026-10");
    let oct_rows = rows(&oct.join("bureau_2026-10.csv"));
    let late = oct_rows
        .iter()
        .find(|r| r["status"].starts_with("late_") && us(&r["jurisdiction"]))
        .expect("a US loan reported late in October");
    let (loan, borrower) = (late["loan_id"].clone(), late["borrower_id"].clone());

    // A month is reported once.
    let o = arrears(&[
        "bureau",
        "report",
        "--month",
        "2026-10",
        "--db",
        db,
        "--out",
        d.path().join("again").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("reported once"),
        "{}",
        text(&o.stderr)
    );

    // The borrower disputes it in November; it is resolved in their favour.
    let feed = d.path().join("feed");
    std::fs::create_dir_all(&feed).unwrap();
    std::fs::write(
        feed.join("payments.csv"),
        "payment_id,loan_id,received_at,amount_minor\n",
    )
    .unwrap();
    std::fs::write(
        feed.join("credit_disputes.csv"),
        format!(
            "dispute_id,borrower_id,loan_id,opened_at,resolved_at\n\
             CD1,{borrower},{loan},2026-11-05T12:00:00Z,2026-11-20T12:00:00Z\n"
        ),
    )
    .unwrap();
    let rejects = feed.join("import-rejects.csv");
    ok(&[
        "import",
        "--portfolio",
        feed.to_str().unwrap(),
        "--db",
        db,
        "--rejects",
        rejects.to_str().unwrap(),
    ]);
    let o = arrears(&[
        "bureau",
        "outcome",
        "--dispute",
        "NOPE",
        "--outcome",
        "borrower",
        "--by",
        "sup",
        "--db",
        db,
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    let said = ok(&[
        "bureau",
        "outcome",
        "--dispute",
        "CD1",
        "--outcome",
        "borrower",
        "--by",
        "sup",
        "--db",
        db,
    ]);
    assert!(said.contains("corrects"), "{said}");
    let o = arrears(&[
        "bureau",
        "outcome",
        "--dispute",
        "CD1",
        "--outcome",
        "lender",
        "--by",
        "sup",
        "--db",
        db,
    ]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "another outcome on record: {}",
        text(&o.stderr)
    );

    let nov = report("2026-11");
    let nov_rows = rows(&nov.join("bureau_2026-11.csv"));
    let fixes: Vec<_> = nov_rows
        .iter()
        .filter(|r| r["record_type"] == "correction")
        .collect();
    assert_eq!(fixes.len(), 1, "{fixes:?}");
    assert_eq!(fixes[0]["loan_id"], loan);
    assert_eq!(fixes[0]["corrects_period"], "2026-10");
    assert_eq!(fixes[0]["status"], "current");
    assert_eq!(fixes[0]["dispute_id"], "CD1");
    let m2 = read_metro2(&nov.join("metro2_2026-11.txt"));
    let fixed: Vec<&String> = m2
        .bases
        .iter()
        .filter(|r| field(r, 43, 30).trim_end() == loan)
        .collect();
    assert_eq!(fixed.len(), 2, "the correction and November's own line");
    assert_eq!(field(fixed[0], 20, 1), "1");
    assert_eq!(field(fixed[0], 124, 2), "11");
    assert_eq!(field(fixed[0], 153, 2), "XH");
    assert_eq!(field(fixed[0], 182, 8), "10312026");
    assert_eq!(field(fixed[1], 20, 1), "0");
    assert_eq!(field(fixed[1], 182, 8), "11302026");

    // Once: December does not correct October again, and its history shows October as
    // corrected (the second character: November, then October).
    let dec = report("2026-12");
    let dec_rows = rows(&dec.join("bureau_2026-12.csv"));
    assert!(dec_rows.iter().all(|r| r["record_type"] == "regular"));
    if let Some(r) = dec_rows.iter().find(|r| r["loan_id"] == loan) {
        assert_eq!(&r["history_24"][1..2], "0", "{}", r["history_24"]);
    }
}
