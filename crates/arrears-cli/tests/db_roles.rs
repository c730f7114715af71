//! PostgreSQL's two roles through the real binary (docs/store.md, "Database roles"): the
//! owner runs `arrears db migrate` and `arrears db grant --role R`; `arrears serve` then
//! runs as R, answers /readyz and records a contact; a schema behind this build stops it
//! with the sentence that says who should migrate. On the local server (127.0.0.1:5432,
//! trust auth; `ARREARS_TEST_PG` names another server), with a throwaway database and a
//! role of each test's own, both dropped at the end. Without a reachable server the tests
//! fail under CI and are skipped, with a message, elsewhere.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is the report

use serde_json::json;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

fn arrears(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_arrears"))
        .args(args)
        .env_remove("ARREARS_DATABASE_URL")
        .output()
        .expect("the arrears binary runs")
}

fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
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

fn psql(url: &str, sql: &str) -> Output {
    Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql])
        .output()
        .expect("psql runs")
}

fn pg_admin_url() -> String {
    std::env::var("ARREARS_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A throwaway database owned by the admin (the owner role here) and a service role name of
/// this test's own; both dropped when this is.
struct RolesDb {
    admin: String,
    name: String,
    role: String,
    owner_url: String,
    service_url: String,
}

impl Drop for RolesDb {
    fn drop(&mut self) {
        psql(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
        psql(&self.admin, &format!("DROP ROLE IF EXISTS {}", self.role));
    }
}

fn fresh() -> Option<RolesDb> {
    let admin = pg_admin_url();
    let n = format!(
        "{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let name = format!("arrears_cli_roles_{n}");
    let o = Command::new("psql")
        .args([&admin, "-v", "ON_ERROR_STOP=1", "-qAtc"])
        .arg(format!("CREATE DATABASE {name}"))
        .output();
    match o {
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
            eprintln!("skipping: {why}");
            return None;
        }
    }
    let (base, _) = admin.rsplit_once('/').unwrap();
    let host = base.rsplit_once('@').map_or(base, |(_, h)| h);
    let role = format!("arrears_cli_svc_{n}");
    Some(RolesDb {
        owner_url: format!("{base}/{name}"),
        service_url: format!("postgres://{role}@{host}/{name}"),
        admin,
        name,
        role,
    })
}

/// A small US portfolio folder.
fn portfolio() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in [
        (
            "borrowers.csv",
            "borrower_id,name,phone,email,timezone,jurisdiction,deceased\n\
             B1,Mary,+12125550100,m@example.com,America/New_York,US-NY,false\n",
        ),
        (
            "loans.csv",
            "loan_id,borrower_id,product,currency,principal_minor,annual_rate_bps,penalty_rate_bps,disbursed_on\n\
             L1,B1,x,USD,100000,0,0,2026-01-01\n",
        ),
        (
            "installments.csv",
            "loan_id,seq,due_date,principal_minor,interest_minor,fee_minor\n\
             L1,1,2026-10-01,100000,0,0\n",
        ),
    ] {
        std::fs::write(dir.path().join(name), content).unwrap();
    }
    dir
}

/// `arrears serve` on a free port; killed when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(db: &str) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_arrears"))
        .args(["serve", "--db", db, "--listen", "127.0.0.1:0"])
        .env_remove("ARREARS_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("arrears serve starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line {line:?}"))
        .to_owned();
    Server { child, base }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

#[test]
fn migrate_grant_and_serve_as_the_service_role() {
    let Some(db) = fresh() else { return };
    // The owner migrates, one line per migration; a second migrate has nothing to do.
    let out = ok(&["db", "migrate", "--db", &db.owner_url]);
    assert!(
        out.contains("applying migration 0001 (portfolio)… done in "),
        "{out}"
    );
    let applied = out
        .lines()
        .filter(|l| l.starts_with("applying migration "))
        .count();
    assert!(applied >= 14, "{out}");
    assert!(out.contains("migrations applied"), "{out}");
    let again = ok(&["db", "migrate", "--db", &db.owner_url]);
    assert!(!again.contains("applying"), "{again}");
    assert!(again.contains("already up to date"), "{again}");

    // The owner grants; the role is created the first time; the same grants the second.
    let first = ok(&["db", "grant", "--db", &db.owner_url, "--role", &db.role]);
    assert!(
        first.starts_with(&format!("created role {} (LOGIN, no password", db.role)),
        "{first}"
    );
    let second = ok(&["db", "grant", "--db", &db.owner_url, "--role", &db.role]);
    assert!(!second.contains("created role"), "{second}");
    assert_eq!(first.split_once('\n').unwrap().1, second, "granting twice");
    let row = |t: &str| {
        second
            .lines()
            .find(|l| l.split_whitespace().next() == Some(t))
            .unwrap_or_else(|| panic!("{t}: {second}"))
            .split_once(t)
            .unwrap()
            .1
            .trim()
            .to_owned()
    };
    assert_eq!(row("loan_events"), "SELECT, INSERT");
    assert_eq!(row("access_log"), "SELECT, INSERT");
    assert_eq!(row("outbox"), "SELECT, INSERT, UPDATE");
    assert_eq!(row("_sqlx_migrations"), "SELECT");

    // The service role does the day's work: an import, a token, the server.
    let p = portfolio();
    ok(&[
        "import",
        "--portfolio",
        p.path().to_str().unwrap(),
        "--db",
        &db.service_url,
        "--quiet",
        "--rejects",
        "/dev/null",
    ]);
    let token = ok(&[
        "tokens",
        "create",
        "--name",
        "dialer",
        "--scope",
        "contacts",
        "--scope",
        "read",
        "--db",
        &db.service_url,
    ])
    .trim()
    .to_owned();
    let s = serve(&db.service_url);
    let mut r = agent().get(format!("{}/readyz", s.base)).call().unwrap();
    assert_eq!(
        r.status().as_u16(),
        200,
        "{}",
        r.body_mut().read_to_string().unwrap()
    );
    let contact = json!({"contact_id": "C-svc", "borrower_id": "B1", "loan_id": "L1",
        "channel": "call", "direction": "inbound", "target": "+12125550100",
        "at": "2026-11-02T15:00:00Z", "outcome": "no_answer"});
    let mut r = agent()
        .post(format!("{}/v1/contacts", s.base))
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", "application/json")
        .send(contact.to_string())
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        201,
        "{}",
        r.body_mut().read_to_string().unwrap()
    );
    drop(s);
    let o = psql(
        &db.owner_url,
        "SELECT count(*) FROM contacts WHERE contact_id = 'C-svc'",
    );
    assert_eq!(text(&o.stdout).trim(), "1");
    // The role the server ran as cannot switch the append-only triggers off.
    let o = psql(&db.service_url, "ALTER TABLE contacts DISABLE TRIGGER ALL");
    assert!(
        text(&o.stderr).contains("must be owner"),
        "{}",
        text(&o.stderr)
    );

    // The service role may not grant, and an SQLite store has no roles: usage errors.
    let o = arrears(&[
        "db",
        "grant",
        "--db",
        &db.service_url,
        "--role",
        "someone_else",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("run `arrears db grant` as the owner role"),
        "{}",
        text(&o.stderr)
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.db");
    let o = arrears(&[
        "db",
        "grant",
        "--db",
        file.to_str().unwrap(),
        "--role",
        "svc",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("database roles are for PostgreSQL"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn serve_as_the_service_role_on_a_schema_behind_says_who_should_migrate() {
    let Some(db) = fresh() else { return };
    ok(&["db", "migrate", "--db", &db.owner_url]);
    ok(&["db", "grant", "--db", &db.owner_url, "--role", &db.role]);
    let latest: i64 =
        text(&psql(&db.owner_url, "SELECT max(version) FROM _sqlx_migrations").stdout)
            .trim()
            .parse()
            .unwrap();
    // One version behind, as the migrations table tells it: the last row set aside.
    let o = psql(
        &db.owner_url,
        &format!(
            "CREATE TABLE set_aside AS SELECT * FROM _sqlx_migrations WHERE version = {latest}; \
             DELETE FROM _sqlx_migrations WHERE version = {latest}"
        ),
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let previous: i64 =
        text(&psql(&db.owner_url, "SELECT max(version) FROM _sqlx_migrations").stdout)
            .trim()
            .parse()
            .unwrap();
    let o = arrears(&["serve", "--db", &db.service_url, "--listen", "127.0.0.1:0"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains(&format!(
            "the database schema is at version {previous}, this build needs {latest}: \
             run `arrears db migrate` as the owner role"
        )),
        "{}",
        text(&o.stderr)
    );
    // Current again (the row put back): the server starts as the service role.
    let o = psql(
        &db.owner_url,
        "INSERT INTO _sqlx_migrations SELECT * FROM set_aside; DROP TABLE set_aside",
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    ok(&["db", "grant", "--db", &db.owner_url, "--role", &db.role]);
    let s = serve(&db.service_url);
    let r = agent().get(format!("{}/readyz", s.base)).call().unwrap();
    assert_eq!(r.status().as_u16(), 200);
}
