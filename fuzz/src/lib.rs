//! Shared harness for the portfolio fuzz targets: a folder holding a small valid portfolio
//! (the CLI's lifecycle-rules test data: the core tables but promises, which come from
//! `seeds/promises.csv`, and all nine lifecycle tables), one table of which a target replaces with the fuzzer's bytes, and the
//! invariants the readers must keep on any input.
//!
//! Input layout of `csv_portfolio` and `parquet_portfolio`: the first byte picks the table
//! (`data[0] % TABLES.len()`), the rest is the file's content.

use arrears_domain::{Portfolio, Severity, Table};
use arrears_io::extensions::{ExtReject, LIFECYCLE_TABLES};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

macro_rules! base {
    ($name:literal) => {
        (
            $name,
            Some(include_bytes!(concat!(
                "../../crates/arrears-cli/tests/data/lifecycle_rules/portfolio/",
                $name,
                ".csv"
            )) as &[u8]),
        )
    };
}

/// Every table the readers know, with the CSV the base folder holds for it (none: absent).
/// The six core tables first, in `Table::ALL` order, then the lifecycle tables.
pub const TABLES: [(&str, Option<&[u8]>); 15] = [
    base!("borrowers"),
    base!("loans"),
    base!("installments"),
    base!("payments"),
    base!("contacts"),
    (
        "promises",
        Some(include_bytes!("../seeds/promises.csv") as &[u8]),
    ),
    base!("notices"),
    base!("preferences"),
    base!("payment_plans"),
    base!("plan_installments"),
    base!("placements"),
    base!("sales"),
    base!("credit_disputes"),
    base!("legal_cases"),
    base!("contact_persons"),
];

/// Splits a fuzz input into (table index, file bytes).
pub fn split(data: &[u8]) -> Option<(usize, &[u8])> {
    let (&first, rest) = data.split_first()?;
    Some((first as usize % TABLES.len(), rest))
}

/// The base portfolio folder, written once per process.
pub struct Folder {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl Folder {
    pub fn new() -> Folder {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().to_owned();
        for (name, csv) in TABLES {
            if let Some(csv) = csv {
                std::fs::write(path.join(format!("{name}.csv")), csv).expect("write base");
            }
        }
        Folder { _dir: dir, path }
    }

    /// Runs `f` with table `ix` replaced by `bytes` as `NAME.{ext}` (the other format of
    /// that table removed), then puts the base file back.
    pub fn with_table<R>(
        &self,
        ix: usize,
        ext: &str,
        bytes: &[u8],
        f: impl FnOnce(&Path) -> R,
    ) -> R {
        let (name, base) = TABLES[ix];
        let csv = self.path.join(format!("{name}.csv"));
        let file = self.path.join(format!("{name}.{ext}"));
        let _ = std::fs::remove_file(&csv);
        std::fs::write(&file, bytes).expect("write fuzzed table");
        let out = f(&self.path);
        let _ = std::fs::remove_file(&file);
        if let Some(base) = base {
            std::fs::write(&csv, base).expect("restore base");
        }
        out
    }
}

impl Default for Folder {
    fn default() -> Self {
        Folder::new()
    }
}

/// Reads the whole folder as the daily run does and checks the invariants:
/// - the readers return `Ok` or an error with a message, never panic;
/// - per core table, accepted rows + rows with an error reject = rows read;
/// - a reject points at a data line (CSV: after the header, line ≥ 2; Parquet: row ≥ 1);
/// - the same for each lifecycle table read from the folder.
pub fn read_and_check(dir: &Path, csv: bool) {
    let read = match arrears_io::read_portfolio(dir, &|_, _| {}) {
        Ok(r) => r,
        Err(e) => {
            assert!(!e.to_string().is_empty(), "an error without a message");
            return;
        }
    };
    let p = &read.portfolio;
    let accepted = [
        p.borrowers.len(),
        p.loans.len(),
        p.installments.len(),
        // A reversal that was accepted is folded into the payment it cancels.
        p.payments.len()
            + p.payments
                .iter()
                .filter(|x| x.cancelled_at.is_some())
                .count(),
        p.contacts.len(),
        p.promises.len(),
    ];
    let min_line = if csv { 2 } else { 1 };
    let mut error_lines: BTreeMap<Table, BTreeSet<u64>> = BTreeMap::new();
    for r in &read.rejects {
        assert!(
            r.at.line >= min_line,
            "reject at line {} of {}: {r:?}",
            r.at.line,
            r.at.table.name()
        );
        // Every reject can be described for rejects.csv.
        let _ = arrears_io::write::describe(&read, r);
        if r.severity == Severity::Error {
            error_lines.entry(r.at.table).or_default().insert(r.at.line);
        }
    }
    for t in Table::ALL {
        let i = Table::ALL.iter().position(|x| *x == t).unwrap_or(0);
        let errors = error_lines.get(&t).map_or(0, BTreeSet::len) as u64;
        assert_eq!(
            accepted[i] as u64 + errors,
            p.rows_read[i],
            "{}: {} accepted + {errors} rejected rows != {} rows read",
            t.name(),
            accepted[i],
            p.rows_read[i]
        );
    }
    check_lifecycle(dir, p, min_line);
    if let Err(e) = arrears_io::extensions::read_extensions(dir, p) {
        assert!(!e.to_string().is_empty(), "an error without a message");
    }
}

fn check_lifecycle(dir: &Path, p: &Portfolio, min_line: u64) {
    let lr = match arrears_io::extensions::read_lifecycle(dir, p) {
        Ok(r) => r,
        Err(e) => {
            assert!(!e.to_string().is_empty(), "an error without a message");
            return;
        }
    };
    let mut error_lines: BTreeMap<&str, BTreeSet<u64>> = BTreeMap::new();
    for r in &lr.rejects {
        assert!(
            r.line >= min_line,
            "lifecycle reject at line {}: {r}",
            r.line
        );
        assert!(!r.to_string().is_empty());
        if ExtReject::is_error(r) {
            let stem = r.file.rsplit_once('.').map_or(r.file.as_str(), |(s, _)| s);
            error_lines.entry(stem).or_default().insert(r.line);
        }
    }
    let lc = &lr.lifecycle;
    let accepted: [(&str, usize); 7] = [
        ("notices", lc.notices.len()),
        ("preferences", lc.preferences.len()),
        ("placements", lc.placements.len()),
        ("sales", lc.sales.len()),
        ("credit_disputes", lc.credit_disputes.len()),
        ("legal_cases", lc.legal_cases.len()),
        ("contact_persons", lc.contact_persons.len()),
    ];
    for (table, n) in accepted {
        debug_assert!(LIFECYCLE_TABLES.contains(&table));
        let Some(&read) = lr.rows_read.get(table) else {
            continue;
        };
        let errors = error_lines.get(table).map_or(0, BTreeSet::len) as u64;
        assert_eq!(
            n as u64 + errors,
            read,
            "{table}: {n} accepted + {errors} rejected rows != {read} rows read"
        );
    }
}

/// Writes the base folder's core tables as Parquet seeds (`arrears convert`), each as a
/// `parquet_portfolio` input (the table's index byte, then the file), into `out`.
pub fn write_parquet_seeds(out: &Path) -> Result<usize, String> {
    let folder = Folder::new();
    let pq = tempfile::tempdir().map_err(|e| e.to_string())?;
    let done =
        arrears_io::convert::csv_to_parquet(&folder.path, pq.path()).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(out).map_err(|e| e.to_string())?;
    for name in &done {
        let ix = TABLES
            .iter()
            .position(|(n, _)| n == name)
            .ok_or_else(|| format!("unknown table {name}"))?;
        let bytes =
            std::fs::read(pq.path().join(format!("{name}.parquet"))).map_err(|e| e.to_string())?;
        let mut input = vec![ix as u8];
        input.extend_from_slice(&bytes);
        std::fs::write(out.join(format!("seed-{name}.parquet")), input)
            .map_err(|e| e.to_string())?;
    }
    Ok(done.len())
}
