//! The hand-derived acceptance cases under `tests/cases/`: each folder holds a tiny portfolio,
//! `case.toml` (as_of, description, derivation), an optional `arrears.toml`, and the expected
//! `expected/accounts.csv` (and `expected/rejects.csv` for bad-input cases). Every case runs
//! through the real binary from CSV, and again from Parquet made from the same rows.

use crate::{arrears, text, workspace_root};
use std::path::Path;

fn as_of(case: &Path) -> String {
    let t = std::fs::read_to_string(case.join("case.toml")).expect("case.toml");
    let v: toml::Value = toml::from_str(&t).expect("case.toml parses");
    v["as_of"].as_str().expect("as_of").to_owned()
}

fn read_csv(path: &Path) -> Vec<Vec<String>> {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(path)
        .expect("csv opens");
    r.records()
        .map(|r| r.expect("csv row").iter().map(str::to_owned).collect())
        .collect()
}

/// Runs one case; returns a description of every difference.
fn run_case(case: &Path, portfolio: &Path) -> Vec<String> {
    let out = tempfile::tempdir().expect("temp");
    let as_of = as_of(case);
    let mut args = vec![
        "run".to_owned(),
        "--portfolio".into(),
        portfolio.display().to_string(),
        "--as-of".into(),
        as_of,
        "--out".into(),
        out.path().display().to_string(),
        "--format".into(),
        "csv".into(),
        "--quiet".into(),
    ];
    let cfg = case.join("arrears.toml");
    if cfg.exists() {
        args.push("--config".into());
        args.push(cfg.display().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = arrears(&args);
    if !o.status.success() {
        return vec![format!("exit {:?}: {}", o.status.code(), text(&o.stderr))];
    }
    let mut diffs = Vec::new();
    let got = read_csv(&out.path().join("accounts.csv"));
    let want = read_csv(&case.join("expected/accounts.csv"));
    if got.first() != want.first() {
        diffs.push(format!("header differs: got {:?}", got.first()));
    }
    let header = want.first().cloned().unwrap_or_default();
    if got.len() != want.len() {
        diffs.push(format!(
            "{} account rows, expected {}",
            got.len().saturating_sub(1),
            want.len().saturating_sub(1)
        ));
    }
    for (g, w) in got.iter().zip(&want).skip(1) {
        for (i, col) in header.iter().enumerate() {
            if g.get(i) != w.get(i) {
                diffs.push(format!(
                    "loan {}: {col} = {:?}, expected {:?}",
                    w.first().map(String::as_str).unwrap_or("?"),
                    g.get(i),
                    w.get(i)
                ));
            }
        }
    }
    let want_rejects = case.join("expected/rejects.csv");
    if want_rejects.exists() {
        let key = |rows: Vec<Vec<String>>| -> Vec<Vec<String>> {
            let mut v: Vec<Vec<String>> = rows
                .into_iter()
                .skip(1)
                .map(|r| r.into_iter().take(5).collect())
                .collect();
            v.sort();
            v
        };
        let got = key(read_csv(&out.path().join("rejects.csv")));
        let want = key(read_csv(&want_rejects));
        for w in &want {
            if !got.contains(w) {
                diffs.push(format!("missing reject {w:?}"));
            }
        }
        for g in &got {
            if !want.contains(g) {
                diffs.push(format!("unexpected reject {g:?}"));
            }
        }
    }
    diffs
}

fn case_dirs() -> Vec<std::path::PathBuf> {
    let root = workspace_root().join("tests/cases");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .expect("tests/cases exists")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("case.toml").exists())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn hand_derived_cases_from_csv() {
    let dirs = case_dirs();
    assert!(
        dirs.len() >= 30,
        "expected at least 30 cases, found {}",
        dirs.len()
    );
    let mut failures = Vec::new();
    for d in &dirs {
        for diff in run_case(d, d) {
            failures.push(format!(
                "{}: {diff}",
                d.file_name().unwrap_or_default().to_string_lossy()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn hand_derived_cases_from_parquet() {
    let mut failures = Vec::new();
    let mut converted = 0;
    for d in case_dirs() {
        // Bad-input cases hold cells Parquet's types cannot carry; they are CSV-only.
        if d.join("expected/rejects.csv").exists() {
            continue;
        }
        let pq = tempfile::tempdir().expect("temp");
        let o = arrears(&[
            "convert",
            "--portfolio",
            &d.display().to_string(),
            "--out",
            &pq.path().display().to_string(),
        ]);
        assert!(
            o.status.success(),
            "{}: convert failed: {}",
            d.display(),
            text(&o.stderr)
        );
        converted += 1;
        for diff in run_case(&d, pq.path()) {
            failures.push(format!(
                "{} (parquet): {diff}",
                d.file_name().unwrap_or_default().to_string_lossy()
            ));
        }
    }
    assert!(converted >= 20, "only {converted} cases converted");
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
