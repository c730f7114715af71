//! The store through the real binary, on both backends: every test here runs once on a fresh
//! SQLite file and once on a fresh database of the local PostgreSQL server (127.0.0.1:5432,
//! trust auth; `ARREARS_TEST_PG` names another server). Without a reachable server the
//! PostgreSQL half fails under CI and is skipped, with a message, elsewhere.

use crate::{arrears, portfolio, text};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// A fresh, empty store; a PostgreSQL database is dropped again when this is.
pub struct TestDb {
    pub target: String,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.pg {
            let _ = psql(
                admin,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            );
        }
    }
}

fn psql(url: &str, sql: &str) -> std::io::Result<std::process::Output> {
    Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql])
        .output()
}

fn pg_admin_url() -> String {
    std::env::var("ARREARS_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A fresh store on `b`, or None when PostgreSQL is not reachable outside CI.
pub fn fresh(b: Backend) -> Option<TestDb> {
    match b {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let target = dir.path().join("arrears.db").to_str().unwrap().to_owned();
            Some(TestDb {
                target,
                _dir: Some(dir),
                pg: None,
            })
        }
        Backend::Postgres => {
            let admin = pg_admin_url();
            let name = format!(
                "arrears_it_{}_{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            );
            match psql(&admin, &format!("CREATE DATABASE {name}")) {
                Ok(o) if o.status.success() => {}
                other => {
                    let why = match other {
                        Ok(o) => text(&o.stderr),
                        Err(e) => e.to_string(),
                    };
                    assert!(
                        std::env::var_os("CI").is_none(),
                        "PostgreSQL is required under CI: {why}"
                    );
                    eprintln!("skipping the PostgreSQL half: {why}");
                    return None;
                }
            }
            let (base, _) = admin.rsplit_once('/').unwrap();
            Some(TestDb {
                target: format!("{base}/{name}"),
                _dir: None,
                pg: Some((admin, name)),
            })
        }
    }
}

/// A runtime and the store at `target`, opened through it (for tests that call the store
/// directly).
pub fn open_store(target: &str) -> (tokio::runtime::Runtime, arrears_store::Store) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let target = arrears_store::DbTarget::parse(target).unwrap();
    let store = rt.block_on(arrears_store::Store::open(&target)).unwrap();
    (rt, store)
}

/// Runs `f` on a fresh SQLite store and a fresh PostgreSQL store.
fn on_both(f: impl Fn(&TestDb, Backend)) {
    for b in [Backend::Sqlite, Backend::Postgres] {
        if let Some(db) = fresh(b) {
            f(&db, b);
        }
    }
}

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

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Row counts per table, as `arrears db status` prints them.
fn counts(db: &str) -> Vec<(String, i64)> {
    ok(&["db", "status", "--db", db])
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let (t, n) = (w.next()?, w.next()?);
            (w.next().is_none() && l.starts_with("  "))
                .then(|| Some((t.to_owned(), n.parse().ok()?)))
                .flatten()
        })
        .collect()
}

fn count(db: &str, table: &str) -> i64 {
    counts(db)
        .into_iter()
        .find(|(t, _)| t == table)
        .map_or(-1, |(_, n)| n)
}

fn generate(loans: u64, seed: u64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    ok(&[
        "generate",
        "--loans",
        &loans.to_string(),
        "--seed",
        &seed.to_string(),
        "--out",
        s(dir.path()),
    ]);
    dir
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn db_migrate_and_status_show_the_schema_version() {
    on_both(|db, _| {
        let out = ok(&["db", "migrate", "--db", &db.target]);
        let applied: i64 = out
            .split("schema at version ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{out}"));
        assert!(applied >= 2, "{out}");
        let status = ok(&["db", "status", "--db", &db.target]);
        assert!(
            status.contains(&format!("version {applied} of {applied}")),
            "{status}"
        );
        assert!(status.contains("snapshots: none yet"), "{status}");
        assert_eq!(count(&db.target, "loans"), 0);
    });
}

#[test]
fn bad_targets_are_usage_errors() {
    for bad in ["mysql://x/y", "sqlite::memory:", ""] {
        let o = arrears(&["db", "status", "--db", bad]);
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", text(&o.stderr));
        assert!(text(&o.stderr).contains("--db"), "{}", text(&o.stderr));
    }
}

/// The store's run equals the file mode's run to the minor unit, on the same data.
#[test]
fn run_from_the_store_equals_the_file_run() {
    let p = generate(3000, 11);
    on_both(|db, b| {
        let files = tempfile::tempdir().unwrap();
        ok(&[
            "run",
            "--portfolio",
            s(p.path()),
            "--as-of",
            "2026-11-28",
            "--out",
            s(files.path()),
            "--format",
            "csv",
        ]);
        let rejects = tempfile::tempdir().unwrap();
        ok(&[
            "import",
            "--portfolio",
            s(p.path()),
            "--db",
            &db.target,
            "--rejects",
            s(&rejects.path().join("rejects.csv")),
        ]);
        let export = tempfile::tempdir().unwrap();
        let out = ok(&[
            "run",
            "--as-of",
            "2026-11-28",
            "--db",
            &db.target,
            "--export",
            s(export.path()),
            "--format",
            "csv",
        ]);
        assert!(out.contains("snapshot of 2026-11-28 written"), "{out}");
        let want = read(&files.path().join("accounts.csv"));
        let got = read(&export.path().join("accounts.csv"));
        assert_eq!(want.lines().count(), got.lines().count(), "{b:?}");
        for (w, g) in want.lines().zip(got.lines()) {
            assert_eq!(w, g, "{b:?}");
        }
        // The import reports exactly the rows the file run rejected.
        let file_rejects: Vec<String> = read(&files.path().join("rejects.csv"))
            .lines()
            .map(str::to_owned)
            .collect();
        let import_rejects: Vec<String> = read(&rejects.path().join("rejects.csv"))
            .lines()
            .map(str::to_owned)
            .collect();
        assert_eq!(file_rejects, import_rejects, "{b:?}");
    });
}

#[test]
fn importing_the_same_feed_twice_changes_nothing() {
    let p = generate(500, 3);
    on_both(|db, b| {
        let rj = tempfile::tempdir().unwrap();
        let rejects = rj.path().join("r.csv");
        let first = ok(&[
            "import",
            "--portfolio",
            s(p.path()),
            "--db",
            &db.target,
            "--rejects",
            s(&rejects),
        ]);
        assert!(!first.contains("nothing changed"), "{b:?}: {first}");
        let before = counts(&db.target);
        assert!(
            before.iter().any(|(t, n)| t == "loans" && *n > 400),
            "{before:?}"
        );
        let second = ok(&[
            "import",
            "--portfolio",
            s(p.path()),
            "--db",
            &db.target,
            "--rejects",
            s(&rejects),
        ]);
        assert!(second.contains("nothing changed"), "{b:?}: {second}");
        assert_eq!(before, counts(&db.target), "{b:?}");
    });
}

const BORROWERS: &str = "borrower_id,name,phone,timezone,jurisdiction\n\
B1,Li Lei,+8613800138000,Asia/Shanghai,CN\n\
B2,Ann Lee,+12125550100,America/New_York,US-NY\n";
const LOANS: &str = "loan_id,borrower_id,product,currency,principal_minor,annual_rate_bps,penalty_rate_bps,disbursed_on\n\
L1,B1,cash-3m,CNY,30000,2000,0,2026-08-01\n\
L2,B2,cash-1m,USD,20000,1200,0,2026-08-01\n";
const INSTALLMENTS: &str = "loan_id,seq,due_date,principal_minor,interest_minor,fee_minor\n\
L1,1,2026-09-01,10000,500,100\n\
L1,2,2026-10-01,10000,500,100\n\
L1,3,2026-11-01,10000,500,100\n\
L2,1,2026-10-27,20000,200,0\n";
const PAYMENTS: &str = "payment_id,loan_id,received_at,amount_minor\n\
P1,L1,2026-09-01T10:00:00+08:00,10600\n";

/// The row of `loan` in an accounts.csv, as column name → value.
fn account(dir: &Path, loan: &str) -> std::collections::HashMap<String, String> {
    let text = read(&dir.join("accounts.csv"));
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    let row = lines
        .find(|l| l.starts_with(&format!("{loan},")))
        .unwrap_or_else(|| panic!("{loan} not in accounts.csv"));
    head.iter()
        .zip(row.split(','))
        .map(|(h, v)| (h.to_string(), v.to_owned()))
        .collect()
}

fn run_db(db: &str, as_of: &str) -> tempfile::TempDir {
    let out = tempfile::tempdir().unwrap();
    ok(&[
        "run",
        "--as-of",
        as_of,
        "--db",
        db,
        "--out",
        s(out.path()),
        "--format",
        "csv",
    ]);
    out
}

/// A daily feed: new payments, a reversal of a stored payment, an allowed update (loan
/// status, borrower phone), a conflict (a changed principal) and a bad row.
#[test]
fn daily_feeds_update_conflict_and_reject() {
    on_both(|db, b| {
        let base = portfolio(&[
            ("borrowers.csv", BORROWERS),
            ("loans.csv", LOANS),
            ("installments.csv", INSTALLMENTS),
            ("payments.csv", PAYMENTS),
        ]);
        let rj = tempfile::tempdir().unwrap();
        let rejects = rj.path().join("r.csv");
        let imp = |dir: &Path| {
            ok(&[
                "import",
                "--portfolio",
                s(dir),
                "--db",
                &db.target,
                "--rejects",
                s(&rejects),
            ])
        };
        imp(base.path());
        let day1 = run_db(&db.target, "2026-11-28");
        assert_eq!(account(day1.path(), "L1")["paid_minor"], "10600");
        assert_eq!(account(day1.path(), "L1")["dpd"], "58");

        let feed = portfolio(&[
            (
                "payments.csv",
                "payment_id,loan_id,received_at,amount_minor,kind,reverses\n\
                 P2,L1,2026-11-28T09:00:00+08:00,10600,,\n\
                 R1,L1,2026-11-28T10:00:00+08:00,10600,reversal,P1\n\
                 P3,L9,2026-11-28T10:00:00+08:00,500,,\n\
                 P4,L2,2026-11-28T11:00:00-05:00,20200,,\n",
            ),
            (
                "loans.csv",
                "loan_id,borrower_id,product,currency,principal_minor,annual_rate_bps,penalty_rate_bps,disbursed_on,status\n\
                 L1,B1,cash-3m,CNY,99999,2000,0,2026-08-01,active\n\
                 L2,B2,cash-1m,USD,20000,1200,0,2026-08-01,written_off\n",
            ),
        ]);
        let out = imp(feed.path());
        assert!(out.contains("see "), "{out}");
        let r = read(&rejects);
        // The bad row: file, line, column and reason, as `arrears run` reports it.
        assert!(
            r.lines()
                .any(|l| l.starts_with("payments.csv,4,loan_id,error,unknown_reference")),
            "{b:?}: {r}"
        );
        // The conflict: L1's principal differs from the stored row and is not applied.
        assert!(
            r.lines()
                .any(|l| l.starts_with("loans.csv,2,principal_minor,error,conflict")),
            "{b:?}: {r}"
        );
        let day2 = run_db(&db.target, "2026-11-28");
        let l1 = account(day2.path(), "L1");
        // P1 reversed, P2 received: still one installment paid, principal as stored.
        assert_eq!(l1["paid_minor"], "10600", "{b:?}");
        assert_eq!(l1["outstanding_principal_minor"], "20000", "{b:?}");
        let l2 = account(day2.path(), "L2");
        assert_eq!(
            l2["status"], "paid_off",
            "{b:?}: paid in full beats written_off"
        );
        assert_eq!(count(&db.target, "payments"), 4, "{b:?}");
        // Replaying the feed changes nothing and reports the same problems.
        let again = imp(feed.path());
        assert!(again.contains("nothing changed"), "{b:?}: {again}");
        assert_eq!(read(&rejects), r, "{b:?}");
    });
}

#[test]
fn rerunning_a_date_replaces_its_snapshot_and_events_are_history() {
    on_both(|db, b| {
        let base = portfolio(&[
            ("borrowers.csv", BORROWERS),
            ("loans.csv", LOANS),
            ("installments.csv", INSTALLMENTS),
            ("payments.csv", PAYMENTS),
        ]);
        ok(&[
            "import",
            "--portfolio",
            s(base.path()),
            "--db",
            &db.target,
            "--quiet",
            "--rejects",
            "/dev/null",
        ]);
        for d in ["2026-10-26", "2026-10-28", "2026-11-28"] {
            run_db(&db.target, d);
        }
        run_db(&db.target, "2026-10-28");
        let status = ok(&["db", "status", "--db", &db.target]);
        assert!(
            status.contains("3 business dates, 2026-10-26 to 2026-11-28"),
            "{b:?}: {status}"
        );
        let h = ok(&["history", "--loan", "L2", "--db", &db.target]);
        // L2 is due 2026-10-27: current on 10-26, 1 dpd (M1, early) on 10-28, 32 dpd
        // (M2, mid) on 11-28.
        let rows: Vec<&str> = h.lines().filter(|l| l.starts_with("  2026-")).collect();
        assert!(
            rows[0].contains("2026-10-26") && rows[0].contains("current"),
            "{h}"
        );
        assert!(rows[1].contains(" 1 ") && rows[1].contains("M1"), "{h}");
        assert!(rows[2].contains(" 32 ") && rows[2].contains("M2"), "{h}");
        assert!(h.contains("2026-10-28 bucket  current -> M1"), "{b:?}: {h}");
        assert!(
            h.contains("2026-10-28 stage   current -> early"),
            "{b:?}: {h}"
        );
        assert!(h.contains("2026-11-28 bucket  M1 -> M2"), "{b:?}: {h}");
        assert!(h.contains("2026-11-28 stage   early -> mid"), "{b:?}: {h}");
        // The first snapshot date is the starting point: no events on it.
        assert!(!h.contains("2026-10-26 bucket"), "{b:?}: {h}");
        assert!(!h.contains("(new)"), "{b:?}: {h}");
        // Re-running a date did not duplicate its current events.
        assert_eq!(h.matches("current -> M1").count(), 1, "{h}");
    });
}

/// An import killed at any moment (kill -9) leaves the store as before; running it again
/// completes it.
#[test]
fn an_import_killed_midway_leaves_the_store_unchanged() {
    let big = generate(15_000, 5);
    on_both(|db, b| {
        let small = generate(200, 9);
        ok(&[
            "import",
            "--portfolio",
            s(small.path()),
            "--db",
            &db.target,
            "--quiet",
            "--rejects",
            "/dev/null",
        ]);
        let before = counts(&db.target);
        let mut killed_midway = 0;
        for delay_ms in [200u64, 700, 1500] {
            let mut child = Command::new(env!("CARGO_BIN_EXE_arrears"))
                .args([
                    "import",
                    "--portfolio",
                    s(big.path()),
                    "--db",
                    &db.target,
                    "--quiet",
                    "--rejects",
                    "/dev/null",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(std::time::Duration::from_millis(delay_ms));
            if child.try_wait().unwrap().is_none() {
                killed_midway += 1;
            }
            child.kill().unwrap(); // SIGKILL on Unix
            child.wait().unwrap();
            assert_eq!(
                before,
                counts(&db.target),
                "{b:?}: after a kill at {delay_ms} ms"
            );
        }
        assert!(
            killed_midway > 0,
            "{b:?}: every import finished before the kill"
        );
        ok(&[
            "import",
            "--portfolio",
            s(big.path()),
            "--db",
            &db.target,
            "--quiet",
            "--rejects",
            "/dev/null",
        ]);
        let after = counts(&db.target);
        let loans = |c: &[(String, i64)]| c.iter().find(|(t, _)| t == "loans").map(|x| x.1);
        assert!(
            loans(&after).unwrap_or(0) > loans(&before).unwrap_or(0) + 12_000,
            "{b:?}: {after:?}"
        );
        // A large PostgreSQL load pauses the facts caches' row notifications inside its
        // transaction; after the kills and the completed load every one is on again.
        if matches!(b, Backend::Postgres) {
            let o = Command::new("psql")
                .args([
                    db.target.as_str(),
                    "-qAtc",
                    "SELECT count(*), count(*) FILTER (WHERE tgenabled = 'O') FROM pg_trigger \
                     WHERE tgname LIKE '%facts%'",
                ])
                .output()
                .unwrap();
            // Migration 0010 added the lifecycle tables' and payments' triggers.
            assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "32|32");
        }
    });
}

/// `arrears report` over the store's history: CSV files whose counts add up to the loans of
/// each date, and a report.html with its charts.
#[test]
fn report_from_the_store_history() {
    let p = generate(300, 21);
    on_both(|db, b| {
        ok(&[
            "import",
            "--portfolio",
            s(p.path()),
            "--db",
            &db.target,
            "--quiet",
            "--rejects",
            "/dev/null",
        ]);
        // Loans on the book on each date: stored (in the run's accounts) and disbursed by then.
        let mut on_book = Vec::new();
        for d in ["2026-09-30", "2026-10-31", "2026-11-28"] {
            let out = run_db(&db.target, d);
            let stored: std::collections::HashSet<String> = read(&out.path().join("accounts.csv"))
                .lines()
                .skip(1)
                .filter_map(|l| l.split(',').next().map(str::to_owned))
                .collect();
            let disbursed = read(&p.path().join("loans.csv"));
            let mut r = csv::Reader::from_reader(disbursed.as_bytes());
            let h = r.headers().unwrap().clone();
            let (id, on) = (
                h.iter().position(|c| c == "loan_id").unwrap(),
                h.iter().position(|c| c == "disbursed_on").unwrap(),
            );
            let n = r
                .records()
                .map(Result::unwrap)
                .filter(|rec| stored.contains(&rec[id]) && &rec[on] <= d)
                .count() as i64;
            on_book.push((d, n));
        }
        let loans = count(&db.target, "loans");
        assert!(
            on_book[0].1 < loans,
            "{b:?}: some loans are disbursed after the first date"
        );
        let out = tempfile::tempdir().unwrap();
        let printed = ok(&[
            "report",
            "--from",
            "2026-09-01",
            "--to",
            "2026-11-30",
            "--db",
            &db.target,
            "--out",
            s(out.path()),
        ]);
        assert!(printed.contains("over 3 snapshot dates"), "{printed}");
        let csv_rows = |name: &str| -> Vec<std::collections::HashMap<String, String>> {
            let t = read(&out.path().join(name));
            let mut r = csv::Reader::from_reader(t.as_bytes());
            let head: Vec<String> = r.headers().unwrap().iter().map(str::to_owned).collect();
            r.records()
                .map(|rec| {
                    head.iter()
                        .cloned()
                        .zip(rec.unwrap().iter().map(str::to_owned))
                        .collect()
                })
                .collect()
        };
        let n = |r: &std::collections::HashMap<String, String>, k: &str| -> i64 {
            r[k].parse().unwrap_or_else(|_| panic!("{k}: {:?}", r[k]))
        };
        let roll: i64 = csv_rows("roll_rates.csv")
            .iter()
            .map(|r| n(r, "loans"))
            .sum();
        // Loans on the book on the first date roll somewhere; loans disbursed since come in
        // as `new`: together every loan of the last date.
        assert_eq!(
            roll, on_book[2].1,
            "{b:?}: every loan rolls from somewhere to somewhere"
        );
        assert_eq!(on_book[2].1, loans, "{b:?}");
        let dist = csv_rows("distribution.csv");
        for (d, on_book) in &on_book {
            for dim in ["bucket", "stage"] {
                let sum: i64 = dist
                    .iter()
                    .filter(|r| r["as_of"] == *d && r["dimension"] == dim)
                    .map(|r| n(r, "loans"))
                    .sum();
                assert_eq!(sum, *on_book, "{b:?}: {dim} distribution on {d}");
            }
        }
        let html = read(&out.path().join("report.html"));
        assert!(html.matches("<svg").count() >= 4, "{b:?}");
        assert!(!html.contains("<script src"), "{b:?}: self-contained");
    });
}

/// `arrears plan --db` plans over the stored portfolio exactly as over the same files.
#[test]
fn plan_over_the_store_equals_plan_over_the_files() {
    let p = generate(400, 17);
    on_both(|db, b| {
        ok(&[
            "import",
            "--portfolio",
            s(p.path()),
            "--db",
            &db.target,
            "--quiet",
            "--rejects",
            "/dev/null",
        ]);
        let files = tempfile::tempdir().unwrap();
        let store = tempfile::tempdir().unwrap();
        let plan = |src: &[&str], out: &Path| {
            let mut args = vec!["plan", "--as-of", "2026-11-28", "--quiet", "--out", s(out)];
            args.extend_from_slice(src);
            ok(&args);
        };
        plan(&["--portfolio", s(p.path())], files.path());
        plan(&["--db", &db.target], store.path());
        for f in ["actions.csv", "blocked.csv"] {
            let want = read(&files.path().join(f));
            assert!(
                want.lines().count() > 1 || f == "blocked.csv",
                "{b:?}: {f} empty"
            );
            assert_eq!(want, read(&store.path().join(f)), "{b:?}: {f}");
        }
    });
}

/// The access log keeps every entry of a batch exactly and in order, on both backends: text
/// with quotes, separators and non-ASCII, absent loans, microsecond instants, and a batch
/// longer than one SQLite statement takes.
#[test]
fn a_batch_of_accesses_is_logged_exactly_and_in_order() {
    on_both(|db, b| {
        let (rt, store) = open_store(&db.target);
        let base: jiff::Timestamp = "2026-11-30T10:00:00.123456Z".parse().unwrap();
        let actors = [
            "dialer",
            "it's \"quoted\"; a,b",
            "代理人 ünï",
            "'; DROP TABLE access_log; --",
        ];
        let all: Vec<arrears_store::Access> = (0..1203)
            .map(|i: i64| arrears_store::Access {
                at: base + jiff::SignedDuration::from_micros(i * 7 - 3000),
                actor: actors[i as usize % actors.len()].to_owned(),
                action: if i % 3 == 0 {
                    "contacts.check"
                } else {
                    "accounts.get"
                }
                .to_owned(),
                borrower_id: Some(if i % 2 == 0 { "B1" } else { "B2" }.to_owned()),
                loan_id: (i % 5 != 0).then(|| format!("L{i}")),
            })
            .collect();
        rt.block_on(store.log_accesses(&all[..1])).unwrap();
        rt.block_on(store.log_accesses(&all[1..])).unwrap();
        rt.block_on(store.log_accesses(&[])).unwrap();
        for borrower in ["B1", "B2"] {
            let want: Vec<_> = all
                .iter()
                .filter(|a| a.borrower_id.as_deref() == Some(borrower))
                .cloned()
                .collect();
            let got = rt.block_on(store.access_log(borrower)).unwrap();
            assert_eq!(got.len(), want.len(), "{b:?} {borrower}");
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert_eq!(g, w, "{b:?} {borrower} entry {i}");
            }
        }
        rt.block_on(store.close());
    });
}
