//! PostgreSQL's two roles (docs/store.md, "Database roles") on the local server
//! (127.0.0.1:5432, trust auth; `ARREARS_TEST_PG` names another server): the owner migrates
//! and grants, the service role writes rows through the store but can alter nothing, and
//! opening a schema that is behind as the service role is refused in a plain sentence.
//! Each test makes a throwaway database and a role of its own, both dropped at the end.
//! Without a reachable server the tests fail under CI and are skipped, with a message,
//! elsewhere.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is the report

use arrears_domain::types::BorrowerId;
use arrears_store::{
    Access, DbTarget, EventMeta, Ingested, MigrationStep, NewContact, Store, StoreError,
};
use jiff::Timestamp;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

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

/// A throwaway database (the admin, a superuser, owns it and its tables) and a role name of
/// this test's own; both are dropped again when this is.
struct RolesDb {
    admin: String,
    name: String,
    role: String,
    /// The database as the owner (the admin user).
    owner_url: String,
    /// The database as the service role.
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
    let name = format!("arrears_roles_{n}");
    let o = Command::new("psql")
        .args([&admin, "-v", "ON_ERROR_STOP=1", "-qAtc"])
        .arg(format!("CREATE DATABASE {name}"))
        .output();
    match o {
        Ok(o) if o.status.success() => {}
        other => {
            let why = match other {
                Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
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
    let role = format!("arrears_svc_{n}");
    let host = base.rsplit_once('@').map_or(base, |(_, h)| h);
    Some(RolesDb {
        owner_url: format!("{base}/{name}"),
        service_url: format!("postgres://{role}@{host}/{name}"),
        admin,
        name,
        role,
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn target(url: &str) -> DbTarget {
    DbTarget::parse(url).unwrap()
}

/// B1 with loan L1, imported through the store.
async fn import_portfolio(store: &Store) {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in [
        (
            "borrowers.csv",
            "borrower_id,name,phone,email,timezone,jurisdiction,deceased\n\
             B1,Li,+8613800000001,a@example.com,Asia/Shanghai,CN,false\n",
        ),
        (
            "loans.csv",
            "loan_id,borrower_id,product,currency,principal_minor,annual_rate_bps,penalty_rate_bps,disbursed_on\n\
             L1,B1,x,CNY,100000,0,0,2026-01-01\n",
        ),
        (
            "installments.csv",
            "loan_id,seq,due_date,principal_minor,interest_minor,fee_minor\n\
             L1,1,2026-01-31,100000,0,0\n",
        ),
    ] {
        std::fs::write(dir.path().join(name), content).unwrap();
    }
    let feed = arrears_store::read_feed(store, dir.path(), Arc::new(|_, _| {}))
        .await
        .unwrap();
    let report = store.import(&feed, "test", &|_, _| {}).await.unwrap();
    assert!(report.conflicts.is_empty(), "{:?}", report.conflicts);
}

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn contact(id: &str) -> NewContact {
    NewContact {
        contact_id: id.into(),
        borrower_id: BorrowerId::parse("borrower_id", "B1").unwrap(),
        loan_id: None,
        channel: "call".into(),
        direction: "outbound".into(),
        at: at("2026-02-06T03:00:00Z"),
        outcome: "no_answer".into(),
        target: Some("+8613800000001".into()),
        party: Some("borrower".into()),
        agency_id: None,
    }
}

/// What psql says to `sql` run as the service role; the statement must fail.
fn refused(db: &RolesDb, sql: &str) -> String {
    let o = psql(&db.service_url, sql);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success(), "{sql} ran as the service role");
    err
}

#[test]
fn the_service_role_writes_rows_and_can_alter_nothing() {
    let Some(db) = fresh() else { return };
    runtime().block_on(async {
        let owner = Store::open(&target(&db.owner_url)).await.unwrap();
        import_portfolio(&owner).await;
        let first = owner.grant_service_role(&db.role).await.unwrap();
        assert!(first.created);
        let second = owner.grant_service_role(&db.role).await.unwrap();
        assert!(!second.created);
        assert_eq!(
            (&first.tables, first.sequences),
            (&second.tables, second.sequences),
            "granting twice leaves the same grants"
        );
        assert!(!first.public_may_create, "PostgreSQL 15 and later");
        let privileges = |t: &str| {
            first
                .tables
                .iter()
                .find(|p| p.table == t)
                .unwrap_or_else(|| panic!("{t} not in {:?}", first.tables))
                .privileges
                .clone()
        };
        for t in ["loan_events", "access_log", "ingested_events", "contacts"] {
            assert_eq!(privileges(t), ["SELECT", "INSERT"], "{t}");
        }
        assert_eq!(privileges("_sqlx_migrations"), ["SELECT"]);
        assert_eq!(privileges("outbox"), ["SELECT", "INSERT", "UPDATE"]);
        assert_eq!(privileges("sessions"), ["SELECT", "INSERT", "DELETE"]);
        assert!(first.sequences > 10, "{}", first.sequences);
        owner.close().await;

        // The service's normal writes, as the service role: a reported contact (the contact,
        // the ingested event, the facts' notification), an access-log entry, a token issued
        // and revoked (an UPDATE where the code updates).
        let svc = Store::open(&target(&db.service_url)).await.unwrap();
        let meta = EventMeta {
            event_id: "E1",
            kind: "contact",
            body: "{}",
            body_sha256: &"a".repeat(64),
            received_at: at("2026-02-06T03:00:01Z"),
            actor: "dialer",
        };
        let (done, _) = svc
            .ingest_reported_contact(&meta, &contact("C1"), |_| Vec::new())
            .await
            .unwrap();
        assert!(matches!(done, Ingested::Recorded));
        let facts = svc.borrower_contacts("B1").await.unwrap().unwrap();
        assert!(facts.contacts.iter().any(|c| &*c.row.id == "C1"));
        svc.log_access(&Access {
            at: at("2026-02-06T03:00:02Z"),
            actor: "dialer".into(),
            action: "read".into(),
            borrower_id: Some("B1".into()),
            loan_id: None,
        })
        .await
        .unwrap();
        assert_eq!(svc.access_log("B1").await.unwrap().len(), 1);
        svc.create_token(
            "dialer",
            &"b".repeat(64),
            &["read"],
            at("2026-02-06T03:00:03Z"),
        )
        .await
        .unwrap();
        assert!(
            svc.revoke_token("dialer", at("2026-02-06T03:00:04Z"))
                .await
                .unwrap()
        );
        svc.close().await;
    });

    // Nothing that alters the schema, switches off a trigger or rewrites history.
    for sql in [
        "ALTER TABLE loan_events DISABLE TRIGGER ALL",
        "ALTER TABLE access_log DISABLE TRIGGER access_log_immutable",
        "DROP TRIGGER access_log_immutable ON access_log",
        "DROP TABLE access_log",
        "TRUNCATE access_log",
        "ALTER TABLE contacts ADD COLUMN x int",
        "CREATE TRIGGER t BEFORE INSERT ON contacts FOR EACH ROW EXECUTE FUNCTION work_rows_immutable()",
        "CREATE TABLE x (i int)",
        "CREATE OR REPLACE FUNCTION service_rows_immutable() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
    ] {
        let err = refused(&db, sql);
        assert!(
            err.contains("must be owner") || err.contains("permission denied"),
            "{sql}: {err}"
        );
    }
    // Refused by the privileges, before any trigger is reached.
    for sql in [
        "UPDATE access_log SET actor = 'x'",
        "DELETE FROM access_log",
        "UPDATE ingested_events SET actor = 'x'",
        "DELETE FROM ingested_events",
        "UPDATE contacts SET outcome = 'x'",
        "DELETE FROM contacts",
        "DELETE FROM loan_events",
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99999, 'x', true, '\\x00', 0)",
    ] {
        let err = refused(&db, sql);
        assert!(err.contains("permission denied for table"), "{sql}: {err}");
    }
    // The rows written above are all there.
    let o = psql(
        &db.owner_url,
        "SELECT (SELECT count(*) FROM contacts WHERE contact_id = 'C1') \
         || ',' || (SELECT count(*) FROM access_log) \
         || ',' || (SELECT count(*) FROM ingested_events)",
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "1,1,1");
}

#[test]
fn a_schema_behind_or_changed_is_refused_to_the_service_role() {
    let Some(db) = fresh() else { return };
    let rt = runtime();
    let latest = rt.block_on(async {
        let owner = Store::open(&target(&db.owner_url)).await.unwrap();
        owner.grant_service_role(&db.role).await.unwrap();
        let latest = owner.status().await.unwrap().latest_version;
        owner.close().await;
        latest
    });
    // The schema one version behind this build, as the migrations table tells it: the last
    // migration's row set aside (undoing its DDL by hand would tie this test to it).
    let o = psql(
        &db.owner_url,
        &format!(
            "CREATE TABLE set_aside AS SELECT * FROM _sqlx_migrations WHERE version = {latest}; \
             DELETE FROM _sqlx_migrations WHERE version = {latest}"
        ),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let previous: i64 = String::from_utf8_lossy(
        &psql(&db.owner_url, "SELECT max(version) FROM _sqlx_migrations").stdout,
    )
    .trim()
    .parse()
    .unwrap();
    assert!(previous < latest);
    rt.block_on(async {
        let err = Store::open(&target(&db.service_url)).await.unwrap_err();
        assert!(
            matches!(err, StoreError::SchemaBehind { applied, needed } if applied == previous && needed == latest),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "the database schema is at version {previous}, this build needs {latest}: \
                 run `arrears db migrate` as the owner role"
            )
        );
    });
    // A migration's row changed under the service role: refused too, and said so.
    let o = psql(
        &db.owner_url,
        "INSERT INTO _sqlx_migrations SELECT * FROM set_aside; DROP TABLE set_aside; \
         UPDATE _sqlx_migrations SET checksum = checksum || '\\x00'::bytea WHERE version = 1",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = rt
        .block_on(Store::open(&target(&db.service_url)))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("migration 1 was applied from a different text"),
        "{err}"
    );
    // Current again: the service role opens it without any DDL.
    let o = psql(
        &db.owner_url,
        "UPDATE _sqlx_migrations SET checksum = substring(checksum FROM 1 FOR length(checksum) - 1) \
         WHERE version = 1",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    rt.block_on(async {
        let svc = Store::open(&target(&db.service_url)).await.unwrap();
        assert_eq!(svc.status().await.unwrap().applied_version, Some(latest));
        svc.close().await;
    });
    // A fresh database the role may not create tables in: version 0.
    let Some(empty) = fresh() else { return };
    let url = empty.service_url.replace(&empty.role, &db.role);
    let err = rt.block_on(Store::open(&target(&url))).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "the database schema is at version 0, this build needs {latest}: \
             run `arrears db migrate` as the owner role"
        )
    );
}

/// `Store::migrate` shows each migration it applies, once: a second migrate applies none.
/// On SQLite (one file, one role) as on PostgreSQL's owner role.
#[test]
fn migrate_shows_each_pending_migration_once() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = dir.path().join("a.db").to_str().unwrap().to_owned();
    let pg = fresh();
    let mut targets = vec![sqlite];
    if let Some(db) = &pg {
        targets.push(db.owner_url.clone());
    }
    for t in targets {
        runtime().block_on(async {
            let steps = Mutex::new(Vec::new());
            let record = |s: MigrationStep| steps.lock().unwrap().push(s);
            let store = Store::migrate(&target(&t), &record).await.unwrap();
            let latest = store.status().await.unwrap().latest_version;
            store.close().await;
            let steps = std::mem::take(&mut *steps.lock().unwrap());
            assert_eq!(steps.len() % 2, 0);
            assert!(steps.len() >= 2 * 14, "{t}: {steps:?}");
            for pair in steps.chunks(2) {
                assert_eq!(pair[0].version, pair[1].version);
                assert!(!pair[0].done && pair[1].done);
                assert!(!pair[0].description.is_empty());
            }
            assert_eq!(steps.last().map(|s| s.version), Some(latest));
            let again = Mutex::new(0);
            let count = |_: MigrationStep| *again.lock().unwrap() += 1;
            Store::migrate(&target(&t), &count)
                .await
                .unwrap()
                .close()
                .await;
            assert_eq!(*again.lock().unwrap(), 0, "{t}");
        });
    }
}
