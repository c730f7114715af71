//! `arrears db grant`: the PostgreSQL service role's privileges, exactly what the store's
//! statements need and nothing that alters the schema (docs/store.md, "Database roles").
//!
//! The owner role created the tables (`arrears db migrate`) and alone may ALTER, DROP,
//! TRUNCATE them or change their triggers; those rights come with ownership and cannot be
//! granted away from it, which is why the service connects as another role. That role gets:
//!
//! * CONNECT on the database, and TEMPORARY: an import stages its rows in temporary tables
//!   (`CREATE TEMP TABLE … ON COMMIT DROP`), which live in the session's own schema;
//! * USAGE on the schema (to name the tables; not CREATE);
//! * SELECT and INSERT on every table (but no INSERT into `_sqlx_migrations`: only a
//!   migration records one);
//! * UPDATE only on the tables in [`UPDATED`] and the portfolio tables a later feed may change
//!   (columns marked mutable in `schema.rs`), DELETE only on the tables in [`DELETED`]; the
//!   append-only tables (those whose triggers refuse UPDATE and DELETE) get neither;
//! * USAGE and SELECT on the sequences (the BIGSERIAL ids).
//!
//! No EXECUTE is granted: PostgreSQL checks EXECUTE on a trigger function when the trigger is
//! created, not when it fires, and `pg_notify` is everyone's. Every grant is made after
//! revoking all the role held on the database, the schema and its objects, in one
//! transaction, so running it twice leaves the same grants, and a table that no longer needs
//! UPDATE loses it. Tests: the unit tests below hold the lists to the SQL in this crate's
//! source and migrations; `tests/roles.rs` proves them on a real server.

use crate::{Pool, Store, StoreError, schema};
use sqlx::postgres::PgConnection;
use sqlx::{Connection, Row};

/// Tables the store's statements update, with where: `UPDATE t`, `INSERT INTO t … ON
/// CONFLICT … DO UPDATE` and `SELECT … FOR [NO KEY] UPDATE` all need UPDATE. The import's
/// updates of the portfolio tables are added from `schema.rs`.
pub const UPDATED: &[(&str, &str)] = &[
    ("api_tokens", "revoking a token"),
    (
        "assignments",
        "assigning a loan (upsert), rebalancing (FOR UPDATE)",
    ),
    (
        "borrowers",
        "flags set through the service, row locks (FOR NO KEY UPDATE)",
    ),
    (
        "event_days",
        "the run that last wrote a date's events (upsert)",
    ),
    ("message_index_state", "the message index's source (upsert)"),
    ("outbox", "claiming, sending, failing and expiring messages"),
    ("plan_proposals", "answering a proposed plan"),
    ("portal_codes", "marking a portal code used"),
    (
        "portal_sign_in_codes",
        "a borrower's sign-in code: its message, attempts, use",
    ),
    ("users", "a user's time zone"),
];

/// Tables the store's statements delete from, with why.
pub const DELETED: &[(&str, &str)] = &[
    (
        "issued_messages",
        "the message index is rebuilt from the audit log",
    ),
    ("plan_blocks", "a later plan of a date replaces its counts"),
    ("sessions", "signing out, and expired sessions"),
    ("snapshots", "a later run of a date replaces its snapshot"),
];

/// The migrations' bookkeeping: read (to check the schema version), never written.
const MIGRATIONS_TABLE: &str = "_sqlx_migrations";

/// The privileges checked on every table after granting, in this order.
const TABLE_PRIVILEGES: [&str; 7] = [
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "TRUNCATE",
    "REFERENCES",
    "TRIGGER",
];

/// What the service role may do with one table, read back from the catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TablePrivileges {
    pub table: String,
    pub privileges: Vec<&'static str>,
}

/// What `arrears db grant` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantReport {
    pub role: String,
    /// The role did not exist and was created (LOGIN, no password).
    pub created: bool,
    pub owner: String,
    pub database: String,
    pub schema: String,
    pub tables: Vec<TablePrivileges>,
    pub sequences: i64,
    /// PUBLIC may create objects in the schema (PostgreSQL before 15 grants that by
    /// default), so the service role may too; only the schema's owner can revoke it.
    pub public_may_create: bool,
}

/// The tables that get UPDATE: [`UPDATED`] and the portfolio tables with mutable columns.
pub fn updated_tables() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = UPDATED.iter().map(|(t, _)| *t).collect();
    v.extend(
        schema::TABLES
            .iter()
            .filter(|t| t.cols.iter().any(|c| c.mutable))
            .map(|t| t.name),
    );
    v.sort_unstable();
    v.dedup();
    v
}

/// The tables that get DELETE.
pub fn deleted_tables() -> Vec<&'static str> {
    DELETED.iter().map(|(t, _)| *t).collect()
}

/// What the service role gets on `table`.
fn privileges_for(table: &str) -> Vec<&'static str> {
    let mut p = vec!["SELECT"];
    if table != MIGRATIONS_TABLE {
        p.push("INSERT");
    }
    if updated_tables().contains(&table) {
        p.push("UPDATE");
    }
    if deleted_tables().contains(&table) {
        p.push("DELETE");
    }
    p
}

/// A role name `db grant` accepts: what PostgreSQL folds an unquoted name to, so the role
/// is named the same in a URL, in psql and here.
fn check_role_name(role: &str) -> Result<(), StoreError> {
    let mut chars = role.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if first_ok && rest_ok && role.len() <= 63 {
        Ok(())
    } else {
        Err(StoreError::Grant(format!(
            "{role:?} is not a role name `arrears db grant` accepts: use lower-case letters, \
             digits and _, starting with a letter or _, at most 63 characters"
        )))
    }
}

/// An identifier quoted for SQL.
fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn db_err(what: &str) -> impl Fn(sqlx::Error) -> StoreError + '_ {
    move |source| StoreError::Db {
        what: what.to_owned(),
        source,
    }
}

async fn exec(conn: &mut PgConnection, what: &str, sql: &str) -> Result<(), StoreError> {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut *conn)
        .await
        .map_err(db_err(what))?;
    Ok(())
}

impl Store {
    /// Grants `role` what the service needs on this PostgreSQL database and nothing more
    /// (see the module's documentation), creating the role (LOGIN, no password) when it
    /// does not exist. Run as the owner of the tables; idempotent.
    pub async fn grant_service_role(&self, role: &str) -> Result<GrantReport, StoreError> {
        let Pool::Postgres(pool) = &self.pool else {
            return Err(StoreError::Grant(
                "database roles are for PostgreSQL: an SQLite store is one file that whoever \
                 can write it may change; protect the file instead"
                    .into(),
            ));
        };
        check_role_name(role)?;
        let mut conn = pool
            .acquire()
            .await
            .map_err(db_err("connecting to grant"))?;
        let mut tx = conn
            .begin()
            .await
            .map_err(db_err("starting the grants' transaction"))?;
        let row = sqlx::query(
            "SELECT current_user::text, current_schema()::text, current_database()::text, \
             pg_get_userbyid(c.relowner)::text, pg_has_role(c.relowner, 'USAGE') \
             FROM pg_class c WHERE c.oid = to_regclass('_sqlx_migrations')",
        )
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err("reading who owns the tables"))?
        .ok_or_else(|| {
            StoreError::Grant(
                "the database has no Arrears schema in the current schema; run `arrears db \
                 migrate` as the owner role first"
                    .into(),
            )
        })?;
        let get = |i: usize| -> Result<String, StoreError> {
            row.try_get::<String, _>(i)
                .map_err(db_err("reading who owns the tables"))
        };
        let (me, schema_name, database, owner) = (get(0)?, get(1)?, get(2)?, get(3)?);
        let am_owner: bool = row
            .try_get(4)
            .map_err(db_err("reading who owns the tables"))?;
        if !am_owner {
            return Err(StoreError::Grant(format!(
                "{me} does not own the tables ({owner} does): run `arrears db grant` as the owner role"
            )));
        }
        let existing = sqlx::query(
            "SELECT rolsuper, pg_has_role(oid, (SELECT relowner FROM pg_class \
             WHERE oid = to_regclass('_sqlx_migrations')), 'USAGE') \
             FROM pg_roles WHERE rolname = $1",
        )
        .bind(role)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err("looking up the service role"))?;
        let created = match existing {
            Some(r) => {
                let superuser: bool = r.try_get(0).map_err(db_err("looking up the role"))?;
                let acts_as_owner: bool = r.try_get(1).map_err(db_err("looking up the role"))?;
                if superuser {
                    return Err(StoreError::Grant(format!(
                        "{role} is a superuser, whom no grant restricts: give the service a \
                         role of its own"
                    )));
                }
                if acts_as_owner {
                    return Err(StoreError::Grant(format!(
                        "{role} is or acts as {owner}, the owner of the tables, and could \
                         alter them: give the service a role of its own"
                    )));
                }
                false
            }
            None => {
                exec(
                    &mut tx,
                    "creating the service role (the owner role needs CREATEROLE; or create \
                     it beforehand: CREATE ROLE name LOGIN)",
                    &format!("CREATE ROLE {} LOGIN", ident(role)),
                )
                .await?;
                true
            }
        };
        let (r, s, d) = (ident(role), ident(&schema_name), ident(&database));
        // Start from nothing, so the grants below are all the role holds.
        for (what, sql) in [
            (
                "revoking the role's table privileges",
                format!("REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM {r}"),
            ),
            (
                "revoking the role's sequence privileges",
                format!("REVOKE ALL ON ALL SEQUENCES IN SCHEMA {s} FROM {r}"),
            ),
            (
                "revoking the role's function privileges",
                format!("REVOKE ALL ON ALL FUNCTIONS IN SCHEMA {s} FROM {r}"),
            ),
            (
                "revoking the role's schema privileges",
                format!("REVOKE ALL ON SCHEMA {s} FROM {r}"),
            ),
            (
                "revoking the role's database privileges",
                format!("REVOKE ALL ON DATABASE {d} FROM {r}"),
            ),
            (
                "granting CONNECT and TEMPORARY on the database",
                format!("GRANT CONNECT, TEMPORARY ON DATABASE {d} TO {r}"),
            ),
            (
                "granting USAGE on the schema",
                format!("GRANT USAGE ON SCHEMA {s} TO {r}"),
            ),
            (
                "granting the sequences",
                format!("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {s} TO {r}"),
            ),
        ] {
            exec(&mut tx, what, &sql).await?;
        }
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT relname::text FROM pg_class \
             WHERE relnamespace = current_schema()::regnamespace AND relkind IN ('r', 'p') \
             ORDER BY relname",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err("listing the tables"))?;
        for t in &tables {
            exec(
                &mut tx,
                &format!("granting on {t}"),
                &format!(
                    "GRANT {} ON TABLE {s}.{} TO {r}",
                    privileges_for(t).join(", "),
                    ident(t)
                ),
            )
            .await?;
        }
        // Read back what the role may now do, through any path (PUBLIC, memberships).
        let mut out = Vec::with_capacity(tables.len());
        for t in &tables {
            let mut have = Vec::new();
            for p in TABLE_PRIVILEGES {
                let ok: bool = sqlx::query_scalar(
                    "SELECT has_table_privilege($1, format('%I.%I', $2::text, $3::text), $4)",
                )
                .bind(role)
                .bind(&schema_name)
                .bind(t)
                .bind(p)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err("reading the granted privileges"))?;
                if ok {
                    have.push(p);
                }
            }
            if let Some(extra) = have.iter().find(|p| !privileges_for(t).contains(p)) {
                return Err(StoreError::Grant(format!(
                    "after the grants {role} may still {extra} {t}, through PUBLIC or a role \
                     it belongs to: revoke that, then grant again"
                )));
            }
            out.push(TablePrivileges {
                table: t.clone(),
                privileges: have,
            });
        }
        let sequences: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_class \
             WHERE relnamespace = current_schema()::regnamespace AND relkind = 'S'",
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err("counting the sequences"))?;
        let public_may_create: bool =
            sqlx::query_scalar("SELECT has_schema_privilege('public', current_schema(), 'CREATE')")
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err("reading PUBLIC's schema privileges"))?;
        tx.commit().await.map_err(db_err("committing the grants"))?;
        Ok(GrantReport {
            role: role.to_owned(),
            created,
            owner,
            database,
            schema: schema_name,
            tables: out,
            sequences,
            public_may_create,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The identifier after `at` in `text`, if it starts right there.
    fn ident_at(text: &str, at: usize) -> Option<&str> {
        let rest = &text[at..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let id = &rest[..end];
        (!id.is_empty() && id.starts_with(|c: char| c.is_ascii_lowercase())).then_some(id)
    }

    /// Tables named by `UPDATE t`, `INSERT INTO t … DO UPDATE` and `DELETE FROM t` in the
    /// crate's source (not `UPDATE {}`: the import's, from `schema.rs`).
    fn written_in_source() -> (BTreeSet<String>, BTreeSet<String>) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let (mut updated, mut deleted) = (BTreeSet::new(), BTreeSet::new());
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            if name == "grants.rs" || name == "migrate.rs" {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for (i, _) in text.match_indices("UPDATE ") {
                let before = text[..i].trim_end();
                if before.ends_with("DO") {
                    let ins = text[..i].rfind("INSERT INTO ").unwrap();
                    updated.insert(ident_at(&text, ins + 12).unwrap().to_owned());
                } else if !(before.ends_with("FOR") || before.ends_with("KEY"))
                    && let Some(t) = ident_at(&text, i + 7)
                {
                    updated.insert(t.to_owned());
                }
            }
            for (i, _) in text.match_indices("DELETE FROM ") {
                if let Some(t) = ident_at(&text, i + 12) {
                    deleted.insert(t.to_owned());
                }
            }
        }
        (updated, deleted)
    }

    /// The tables whose triggers refuse UPDATE and DELETE, from the PostgreSQL migrations.
    fn append_only() -> BTreeSet<String> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/postgres");
        let mut out = BTreeSet::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
            for (i, m) in text.match_indices("BEFORE DELETE OR UPDATE ON ") {
                out.insert(ident_at(&text, i + m.len()).unwrap().to_owned());
            }
        }
        out
    }

    #[test]
    fn update_and_delete_are_granted_exactly_where_the_source_writes() {
        let (mut updated, deleted) = written_in_source();
        // The import's `UPDATE {} AS t …` over the portfolio tables with mutable columns.
        updated.extend(["borrowers".to_owned(), "loans".to_owned()]);
        // Row locks the scan does not follow (the lock clause is built apart from its query).
        updated.extend(["assignments".to_owned(), "outbox".to_owned()]);
        let granted: BTreeSet<String> = updated_tables().iter().map(|t| t.to_string()).collect();
        assert_eq!(
            granted, updated,
            "UPDATE: grants::UPDATED and the source differ; list each table the code updates, with where"
        );
        let granted: BTreeSet<String> = deleted_tables().iter().map(|t| t.to_string()).collect();
        assert_eq!(
            granted, deleted,
            "DELETE: grants::DELETED and the source differ; list each table the code deletes from, with why"
        );
    }

    #[test]
    fn append_only_tables_get_neither_update_nor_delete() {
        let frozen = append_only();
        assert!(frozen.len() >= 20, "{frozen:?}");
        for t in [
            "loan_events",
            "access_log",
            "ingested_events",
            "contact_notes",
        ] {
            assert!(frozen.contains(t), "{t}");
        }
        for t in &frozen {
            assert_eq!(privileges_for(t), ["SELECT", "INSERT"], "{t}");
        }
        assert_eq!(privileges_for(MIGRATIONS_TABLE), ["SELECT"]);
        assert_eq!(
            privileges_for("outbox"),
            ["SELECT", "INSERT", "UPDATE"],
            "outbox"
        );
        assert_eq!(
            privileges_for("sessions"),
            ["SELECT", "INSERT", "DELETE"],
            "sessions"
        );
    }

    #[test]
    fn role_names_are_plain_identifiers() {
        for ok in ["arrears_service", "_svc", "svc2"] {
            check_role_name(ok).unwrap();
        }
        for bad in [
            "",
            "Svc",
            "2svc",
            "svc; DROP TABLE loans",
            "a\"b",
            &"a".repeat(64),
        ] {
            assert!(check_role_name(bad).is_err(), "{bad:?}");
        }
    }
}
