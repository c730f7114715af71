//! `arrears db`: the store's schema and, on PostgreSQL, its two roles (docs/store.md,
//! "Database roles"): `db migrate` applies the pending migrations as the owner role, showing
//! each; `db grant --role R` gives the service role what the service needs and nothing that
//! alters the schema; `db status` shows the version and what the store holds.

use crate::Failure;
use crate::store_cmds::{self, DbOpt, parse_target, runtime};
use arrears_store::{MigrationStep, Store, StoreError};
use std::io::Write;
use std::sync::Mutex;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct DbArgs {
    #[command(subcommand)]
    pub command: DbCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum DbCommand {
    /// Create the store if needed and apply every pending schema migration, one line each
    /// (on PostgreSQL, connect as the owner role: the role that owns the tables).
    Migrate(DbOpt),
    /// The schema version and what the store holds.
    Status(DbOpt),
    /// PostgreSQL: grant the service role (created with LOGIN and no password if missing)
    /// what `arrears serve` needs and nothing that can alter the schema. Run as the owner
    /// role, after every `db migrate`; running it twice leaves the same grants.
    Grant(GrantArgs),
}

#[derive(clap::Args, Debug)]
pub struct GrantArgs {
    #[command(flatten)]
    pub db: DbOpt,
    /// The service role: the role `arrears serve --db postgres://ROLE@…` connects as.
    #[arg(long)]
    pub role: String,
}

/// A target that does not parse or a grant that cannot be made as asked is bad input;
/// the rest are runtime errors.
fn failure(e: StoreError) -> Failure {
    match e {
        StoreError::Target(_) | StoreError::Grant(_) => Failure::bad_input(e),
        other => Failure::from(other),
    }
}

pub fn db(a: &DbArgs) -> Result<(), Failure> {
    match &a.command {
        DbCommand::Migrate(db) => migrate(db),
        DbCommand::Status(db) => store_cmds::db(&store_cmds::DbArgs {
            command: store_cmds::DbCommand::Status(db.clone()),
        }),
        DbCommand::Grant(g) => grant(g),
    }
}

fn migrate(db: &DbOpt) -> Result<(), Failure> {
    let target = parse_target(&db.db)?;
    let rt = runtime()?;
    rt.block_on(async {
        let started: Mutex<Option<Instant>> = Mutex::new(None);
        let applied = Mutex::new(0usize);
        let progress = |s: MigrationStep| {
            let mut out = std::io::stdout().lock();
            // A poisoned lock only loses a timing: the migration itself went on.
            let mut started = started.lock().unwrap_or_else(|p| p.into_inner());
            if s.done {
                let ms = started.take().map(|t| t.elapsed().as_millis()).unwrap_or(0);
                let _ = writeln!(out, " done in {ms} ms");
                *applied.lock().unwrap_or_else(|p| p.into_inner()) += 1;
            } else {
                *started = Some(Instant::now());
                let _ = write!(
                    out,
                    "applying migration {:04} ({})…",
                    s.version, s.description
                );
                let _ = out.flush();
            }
        };
        let store = Store::migrate(&target, &progress).await.map_err(failure)?;
        let s = store.status().await.map_err(failure)?;
        let n = *applied.lock().unwrap_or_else(|p| p.into_inner());
        println!(
            "{}: schema at version {} ({}){}",
            s.target,
            s.applied_version.unwrap_or(0),
            s.applied_description.as_deref().unwrap_or("empty"),
            match n {
                0 => ", already up to date".to_owned(),
                1 => ", 1 migration applied".to_owned(),
                n => format!(", {n} migrations applied"),
            }
        );
        store.close().await;
        Ok(())
    })
}

fn grant(g: &GrantArgs) -> Result<(), Failure> {
    let target = parse_target(&g.db.db)?;
    let rt = runtime()?;
    rt.block_on(async {
        let store = Store::open(&target).await.map_err(failure)?;
        let r = store.grant_service_role(&g.role).await;
        store.close().await;
        let r = r.map_err(failure)?;
        if r.created {
            println!(
                "created role {} (LOGIN, no password: give it one with \
                 ALTER ROLE {} PASSWORD '…' or use a passwordless method in pg_hba.conf)",
                r.role, r.role
            );
        }
        println!(
            "granted {} on database {} (schema {}), as {}, the owner of the tables:",
            r.role, r.database, r.schema, r.owner
        );
        println!("  database: CONNECT, TEMPORARY");
        println!("  schema:   USAGE");
        println!("  {} sequences: USAGE, SELECT", r.sequences);
        let width = r.tables.iter().map(|t| t.table.len()).max().unwrap_or(0);
        for t in &r.tables {
            println!("  {:<width$}  {}", t.table, t.privileges.join(", "));
        }
        println!(
            "no ALTER, DROP, TRUNCATE, TRIGGER or CREATE; run this again after every `arrears db migrate`"
        );
        if r.public_may_create {
            eprintln!(
                "warning: every role may create objects in schema {s} (PUBLIC has CREATE on it, \
                 the default before PostgreSQL 15), so {role} may too; as the schema's owner \
                 run: REVOKE CREATE ON SCHEMA {s} FROM PUBLIC",
                s = r.schema,
                role = r.role
            );
        }
        Ok(())
    })
}
