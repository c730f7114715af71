//! Imports: what the store knows of a feed's ids (`lookup`, for `arrears_io::feed`), and
//! writing a feed's accepted rows in one transaction (`import`).
//!
//! Every row is staged into a temporary table (COPY on PostgreSQL, prepared INSERTs on SQLite),
//! then merged with set-based statements, table by table, parents first:
//! - a row whose key is new is inserted;
//! - a row equal to the stored one changes nothing (so the same feed twice changes nothing);
//! - a row that differs only in columns a feed may change (a loan's status; a borrower's
//!   contact data and flags) updates them;
//! - a row that differs in any other column is a conflict: nothing of it is applied and it is
//!   returned with its line and the columns that differ.
//!
//! A failure or a killed process leaves the store as it was: everything happens in one
//! transaction.

use crate::schema::{self, TableDef};
use crate::sql::{Cell, Dialect, Tx, Ty, json_array};
use crate::{Store, StoreError};
use arrears_domain::{Minor, PaymentKind, Table};
use arrears_io::feed::{Known, KnownPayment, Mentions};
use std::collections::HashSet;

/// Rows of one table in an import, by what became of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableCounts {
    pub table: &'static str,
    pub rows: u64,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub conflicts: u64,
}

/// A column where a feed's row differs from the stored row in a way a feed may not change.
/// Values of personal-data columns are not shown (`None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConflictColumn {
    pub column: &'static str,
    pub stored: Option<String>,
    pub received: Option<String>,
}

/// A row of the feed that was not applied because it contradicts the stored row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub table: Table,
    pub line: u64,
    /// The row's key (`L-1`, or `L-1/3` for an installment).
    pub key: String,
    pub columns: Vec<ConflictColumn>,
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cols: Vec<String> = self
            .columns
            .iter()
            .map(|c| match (&c.stored, &c.received) {
                (None, None) if schema::is_personal(c.column) => c.column.to_owned(),
                (s, r) => format!(
                    "{} (stored {}, received {})",
                    c.column,
                    s.as_deref().unwrap_or("empty"),
                    r.as_deref().unwrap_or("empty")
                ),
            })
            .collect();
        write!(
            f,
            "{} line {}: {} {} is already stored with a different {}; the row was not applied",
            self.table.name(),
            self.line,
            self.table.name().trim_end_matches('s'),
            self.key,
            cols.join(", ")
        )
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// One entry per table, in `Table::ALL` order.
    pub tables: Vec<TableCounts>,
    pub conflicts: Vec<Conflict>,
    /// The `imports` row recorded, when the import changed something.
    pub import_id: Option<i64>,
}

impl ImportReport {
    pub fn inserted(&self) -> u64 {
        self.tables.iter().map(|t| t.inserted).sum()
    }
    pub fn updated(&self) -> u64 {
        self.tables.iter().map(|t| t.updated).sum()
    }
    pub fn unchanged(&self) -> u64 {
        self.tables.iter().map(|t| t.unchanged).sum()
    }
    pub fn changed_nothing(&self) -> bool {
        self.inserted() == 0 && self.updated() == 0
    }
}

fn cell_text(c: &Cell) -> Option<String> {
    match c {
        Cell::Int(v) => v.map(|v| v.to_string()),
        Cell::Text(v) => v.clone(),
        Cell::Bool(v) => v.map(|v| v.to_string()),
    }
}

fn corrupt(table: &'static str, key: &str, column: &'static str, detail: String) -> StoreError {
    StoreError::Corrupt {
        table,
        key: key.to_owned(),
        column,
        detail,
    }
}

/// Which portfolio tables hold at least one row, in `Table::ALL` order.
async fn tables_holding_rows(tx: &mut Tx) -> Result<[bool; 6], StoreError> {
    let mut holds = [false; 6];
    for t in schema::TABLES {
        let sql = format!("SELECT CAST(1 AS BIGINT) FROM {} LIMIT 1", t.name);
        holds[t.table as usize] = !tx
            .fetch_all("looking for stored rows", &sql, &[], &[Ty::Int])
            .await?
            .is_empty();
    }
    Ok(holds)
}

impl Store {
    /// Whether every portfolio table is empty (a first load: the store knows none of a
    /// feed's ids, so there is nothing to look up).
    pub async fn holds_no_portfolio(&self) -> Result<bool, StoreError> {
        let mut tx = self.begin_read().await?;
        let holds = tables_holding_rows(&mut tx).await?;
        tx.commit().await?;
        Ok(!holds.contains(&true))
    }

    /// What the store holds of the ids a feed mentions, closed under the references the
    /// feed's rules follow (see `arrears_io::feed::Known`).
    pub async fn lookup(&self, m: &Mentions) -> Result<Known, StoreError> {
        let d = self.dialect();
        let mut tx = self.begin_read().await?;
        let mut known = Known::default();
        let set = |ids: &mut dyn Iterator<Item = &str>| Cell::Text(Some(json_array(ids)));
        // An empty table holds none of the ids: a first full load asks nothing more.
        let holds = tables_holding_rows(&mut tx).await?;
        let holds = |t: Table| holds[t as usize];

        // Payments named by the feed, the reversals of those, and the payments that stored
        // reversals reverse.
        let pay_cols = format!(
            "payment_id, loan_id, {}, kind, reverses",
            d.select("amount_minor", Ty::Int)
        );
        let pay_tys = [Ty::Text, Ty::Text, Ty::Int, Ty::Text, Ty::Text];
        if !m.payments.is_empty() && holds(Table::Payments) {
            let ids = set(&mut m.payments.iter().map(|s| &**s));
            let sql = format!(
                "SELECT {pay_cols} FROM payments WHERE payment_id IN {s} \
                 UNION SELECT {pay_cols} FROM payments WHERE reverses IN {s}",
                s = d.json_set(1)
            );
            let rows = tx
                .fetch_all("looking up payments", &sql, &[ids], &pay_tys)
                .await?;
            add_payments(&mut known, rows)?;
        }
        let missing: Vec<Box<str>> = known
            .payments
            .values()
            .filter_map(|p| p.reverses.clone())
            .filter(|r| !known.payments.contains_key(r))
            .collect();
        if !missing.is_empty() {
            let ids = set(&mut missing.iter().map(|s| &**s));
            let sql = format!(
                "SELECT {pay_cols} FROM payments WHERE payment_id IN {}",
                d.json_set(1)
            );
            let rows = tx
                .fetch_all("looking up reversed payments", &sql, &[ids], &pay_tys)
                .await?;
            add_payments(&mut known, rows)?;
        }

        // Loans named by the feed or owning a known payment, and their borrowers.
        let loan_ids: HashSet<&str> = m
            .loans
            .iter()
            .map(|s| &**s)
            .chain(known.payments.values().map(|p| &*p.loan_id))
            .collect();
        if !loan_ids.is_empty() && holds(Table::Loans) {
            let ids = set(&mut loan_ids.iter().copied());
            let sql = format!(
                "SELECT loan_id, borrower_id FROM loans WHERE loan_id IN {}",
                d.json_set(1)
            );
            for r in tx
                .fetch_all("looking up loans", &sql, &[ids], &[Ty::Text, Ty::Text])
                .await?
            {
                known.loans.insert(
                    r[0].text().unwrap_or_default().into(),
                    r[1].text().unwrap_or_default().into(),
                );
            }
        }
        let borrower_ids: HashSet<&str> = m
            .borrowers
            .iter()
            .map(|s| &**s)
            .chain(known.loans.values().map(|b| &**b))
            .collect();
        if !borrower_ids.is_empty() && holds(Table::Borrowers) {
            let ids = set(&mut borrower_ids.iter().copied());
            let sql = format!(
                "SELECT borrower_id FROM borrowers WHERE borrower_id IN {}",
                d.json_set(1)
            );
            for r in tx
                .fetch_all("looking up borrowers", &sql, &[ids], &[Ty::Text])
                .await?
            {
                known
                    .borrowers
                    .insert(r[0].text().unwrap_or_default().into());
            }
        }
        if !m.installment_loans.is_empty() && holds(Table::Installments) {
            let ids = set(&mut m.installment_loans.iter().map(|s| &**s));
            let sql = format!(
                "SELECT loan_id, {}, {} FROM installments WHERE loan_id IN {}",
                d.select("seq", Ty::Int),
                d.select("due_date", Ty::Date),
                d.json_set(1)
            );
            let mut bad = None;
            tx.fetch(
                "looking up installments",
                &sql,
                &[ids],
                &[Ty::Text, Ty::Int, Ty::Date],
                |r| {
                    let loan = r[0].text().unwrap_or_default();
                    let seq = r[1].int().and_then(|s| u32::try_from(s).ok());
                    let due = r[2].text().and_then(|s| s.parse().ok());
                    match (seq, due) {
                        (Some(seq), Some(due)) => known
                            .installments
                            .entry(loan.into())
                            .or_default()
                            .push((seq, due)),
                        _ => bad = Some(loan.to_owned()),
                    }
                    Ok(())
                },
            )
            .await?;
            if let Some(loan) = bad {
                return Err(corrupt(
                    "installments",
                    &loan,
                    "seq",
                    "seq or due_date does not read back".into(),
                ));
            }
        }
        for (ids, table, col, out) in [
            (&m.contacts, "contacts", "contact_id", &mut known.contacts),
            (&m.promises, "promises", "promise_id", &mut known.promises),
        ] {
            let t = if table == "contacts" {
                Table::Contacts
            } else {
                Table::Promises
            };
            if ids.is_empty() || !holds(t) {
                continue;
            }
            let arg = set(&mut ids.iter().map(|s| &**s));
            let sql = format!("SELECT {col} FROM {table} WHERE {col} IN {}", d.json_set(1));
            for r in tx
                .fetch_all("looking up ids", &sql, &[arg], &[Ty::Text])
                .await?
            {
                out.insert(r[0].text().unwrap_or_default().into());
            }
        }
        tx.commit().await?;
        Ok(known)
    }

    /// Writes a feed's accepted rows in one transaction. `source` names the feed in the
    /// `imports` log; `progress(message, rows)` reports loading as it goes.
    ///
    /// Table by table, parents first: rows whose key the store did not hold when the feed
    /// was read go straight into their table (COPY / prepared INSERTs); rows whose key it
    /// held are staged into a temporary table and merged (unchanged, allowed update, or
    /// conflict). A full load therefore writes every row once. Should another import have
    /// added the same key in between, the insert fails on the key and the whole import
    /// rolls back, leaving the store as it was.
    pub async fn import(
        &self,
        feed: &crate::Feed,
        source: &str,
        progress: &(dyn Fn(&str, u64) + Sync),
    ) -> Result<ImportReport, StoreError> {
        let rows = &feed.rows;
        let known = &feed.known;
        let mut tx = self.begin().await?;
        let d = tx.dialect();
        let mut report = ImportReport::default();
        // PostgreSQL checks a foreign key with a query per inserted row; for a large load it
        // is far cheaper to drop the portfolio tables' foreign keys inside the transaction
        // and add them back after the load, which validates every row in one join. Both
        // steps are part of the one transaction: a failure or a kill restores them.
        let new_rows: usize = rows.counts().iter().sum();
        // SQLite: a large load gets a larger page cache, so that fewer dirty B-tree pages
        // are spilled to the WAL mid-transaction and read back from it, and a helper thread
        // for the sorts of the index builds. Both are settings of this connection (not of
        // the file), put back before the commit.
        let big_sqlite = d == Dialect::Sqlite && new_rows >= BULK_ROWS;
        if big_sqlite {
            for sql in [
                format!("PRAGMA cache_size = -{IMPORT_CACHE_KIB}"),
                "PRAGMA threads = 1".to_owned(),
            ] {
                tx.exec("setting up the load", &sql, &[]).await?;
            }
        }
        let bulk_pg = d == Dialect::Postgres && new_rows >= BULK_ROWS;
        let foreign_keys = if bulk_pg {
            drop_foreign_keys(&mut tx).await?
        } else {
            Vec::new()
        };
        // A large load tells the facts caches "everything changed" once at its commit
        // instead of one notification per row (see `facts.rs`).
        if bulk_pg {
            crate::facts::hush_row_notifications(&mut tx).await?;
        }
        for t in schema::TABLES {
            let staged_table = t.stage();
            let mut stage_cols = vec!["line"];
            stage_cols.extend(t.col_names());
            let cols = t.col_names();
            let loading = format!("loading {}", t.name);
            let staging = format!("staging {}", t.name);
            let load_progress = |done: u64| progress(&loading, done);
            let stage_progress = |done: u64| progress(&staging, done);
            // (new rows inserted directly, rows staged for the merge)
            macro_rules! split_load {
                ($v:expr, $stored:expr) => {{
                    let stored = $stored;
                    let (old, new): (Vec<_>, Vec<_>) = $v.iter().partition(|l| stored(&l.row));
                    let mut inserted = 0;
                    if !new.is_empty() {
                        inserted = tx
                            .bulk_load(&loading, t.name, &cols, new.iter(), &load_progress)
                            .await?;
                    }
                    let mut staged = 0;
                    if !old.is_empty() {
                        for sql in stage_ddl(d, t) {
                            tx.exec("creating a staging table", &sql, &[]).await?;
                        }
                        staged = tx
                            .bulk_load(
                                &staging,
                                &staged_table,
                                &stage_cols,
                                old.iter().map(|l| schema::Staged(l)),
                                &stage_progress,
                            )
                            .await?;
                    }
                    (inserted, staged)
                }};
            }
            // SQLite: a load into an empty table goes in without the table's secondary
            // indexes, which are built again afterwards from the loaded rows (one sort each
            // instead of millions of B-tree inserts). Dropping and creating them are part of
            // the one transaction: a failure or a kill leaves them as they were.
            let deferred = if d == Dialect::Sqlite && rows.counts()[t.table as usize] > 0 {
                drop_sqlite_indexes_if_empty(&mut tx, t.name).await?
            } else {
                Vec::new()
            };
            let (direct, staged) = match t.table {
                Table::Borrowers => {
                    split_load!(rows.borrowers, |r: &arrears_domain::BorrowerRow| known
                        .borrowers
                        .contains(r.id.as_str()))
                }
                Table::Loans => split_load!(rows.loans, |r: &arrears_domain::LoanRow| known
                    .loans
                    .contains_key(r.id.as_str())),
                Table::Installments => split_load!(
                    rows.installments,
                    |r: &arrears_io::feed::FeedInstallment| known
                        .installments
                        .get(r.loan_id.as_str())
                        .is_some_and(|seqs| seqs.iter().any(|(s, _)| *s == r.seq))
                ),
                Table::Payments => {
                    split_load!(rows.payments, |r: &arrears_io::feed::FeedPayment| known
                        .payments
                        .contains_key(r.id.as_str()))
                }
                Table::Contacts => {
                    split_load!(rows.contacts, |r: &arrears_io::feed::FeedContact| known
                        .contacts
                        .contains(r.id.as_str()))
                }
                Table::Promises => {
                    split_load!(rows.promises, |r: &arrears_io::feed::FeedPromise| known
                        .promises
                        .contains(r.id.as_str()))
                }
            };
            for sql in &deferred {
                progress(&format!("indexing {}", t.name), 0);
                tx.exec("building an index", sql, &[]).await?;
            }
            let mut c = TableCounts {
                table: t.name,
                rows: direct + staged,
                inserted: direct,
                ..TableCounts::default()
            };
            if staged > 0 {
                if d == Dialect::Postgres {
                    tx.exec(
                        "analyzing a staging table",
                        &format!("ANALYZE {staged_table}"),
                        &[],
                    )
                    .await?;
                }
                progress(&format!("merging {}", t.name), staged);
                let conflicts = find_conflicts(&mut tx, t).await?;
                c.conflicts = conflicts.len() as u64;
                report.conflicts.extend(conflicts);
                if t.cols.iter().any(|c| c.mutable) {
                    c.updated = tx
                        .exec(&format!("updating {}", t.name), &update_sql(t), &[])
                        .await?;
                }
                // A staged key the store does not hold (none, unless the feed's rows and the
                // lookup disagree): inserted like a new row.
                let late = tx
                    .exec(&format!("inserting {}", t.name), &insert_sql(t), &[])
                    .await?;
                c.inserted += late;
                c.unchanged = staged
                    .checked_sub(c.conflicts + c.updated + late)
                    .ok_or_else(|| {
                        StoreError::Internal(format!(
                            "{}: {} rows staged but {} conflicts, {} updates, {} inserts",
                            t.name, staged, c.conflicts, c.updated, late
                        ))
                    })?;
                if d == Dialect::Sqlite {
                    tx.exec(
                        "dropping a staging table",
                        &format!("DROP TABLE IF EXISTS temp.{staged_table}"),
                        &[],
                    )
                    .await?;
                }
            }
            report.tables.push(c);
        }
        if bulk_pg {
            crate::facts::restore_row_notifications(&mut tx).await?;
        }
        for (table, name, def) in &foreign_keys {
            progress(&format!("checking {table} references"), 0);
            tx.exec(
                "restoring a foreign key",
                &format!("ALTER TABLE {table} ADD CONSTRAINT {name} {def}"),
                &[],
            )
            .await?;
        }
        if !report.changed_nothing() {
            let id = tx
                .fetch_all(
                    "recording the import",
                    "INSERT INTO imports (source, rows_inserted, rows_updated, conflicts) \
                     VALUES ($1, $2, $3, $4) RETURNING import_id",
                    &[
                        Cell::Text(Some(source.to_owned())),
                        Cell::Int(i64::try_from(report.inserted()).ok()),
                        Cell::Int(i64::try_from(report.updated()).ok()),
                        Cell::Int(i64::try_from(report.conflicts.len()).ok()),
                    ],
                    &[Ty::Int],
                )
                .await?;
            report.import_id = id.first().and_then(|r| r[0].int());
        }
        progress("committing", 0);
        if big_sqlite {
            // Back to the size `Store::open` sets, before the commit while the connection is
            // still ours (shrinking only lowers the limit; the commit writes every dirty page).
            for sql in [
                format!("PRAGMA cache_size = -{}", crate::SQLITE_CACHE_KIB),
                "PRAGMA threads = 0".to_owned(),
            ] {
                tx.exec("restoring the connection's settings", &sql, &[])
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(report)
    }
}

/// Rows in a feed from which a PostgreSQL import drops and restores foreign keys, and an
/// SQLite import enlarges its page cache.
const BULK_ROWS: usize = 100_000;

/// The page cache of an SQLite import of `BULK_ROWS` or more (KiB).
const IMPORT_CACHE_KIB: u32 = 1 << 20;

/// Drops the foreign keys of the portfolio tables and returns (table, name, definition) to
/// add them back with. Names and definitions come from the catalogue, so a later migration
/// that adds one is covered.
async fn drop_foreign_keys(tx: &mut Tx) -> Result<Vec<(String, String, String)>, StoreError> {
    let tables = json_array(schema::TABLES.iter().map(|t| t.name));
    let rows = tx
        .fetch_all(
            "listing foreign keys",
            &format!(
                "SELECT c.conrelid::regclass::text, c.conname::text, pg_get_constraintdef(c.oid) \
                 FROM pg_constraint c WHERE c.contype = 'f' \
                 AND c.conrelid::regclass::text IN {} ORDER BY 1, 2",
                Dialect::Postgres.json_set(1)
            ),
            &[Cell::Text(Some(tables))],
            &[Ty::Text, Ty::Text, Ty::Text],
        )
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let (Some(table), Some(name), Some(def)) = (r[0].text(), r[1].text(), r[2].text()) else {
            return Err(StoreError::Internal("a foreign key without a name".into()));
        };
        tx.exec(
            "dropping a foreign key for the load",
            &format!("ALTER TABLE {table} DROP CONSTRAINT {name}"),
            &[],
        )
        .await?;
        out.push((table.to_owned(), name.to_owned(), def.to_owned()));
    }
    Ok(out)
}

/// SQLite: when `table` holds no rows, drops its secondary indexes (those of the schema's
/// `CREATE INDEX` statements, not the primary key's) and returns the statements that build
/// them again; otherwise drops nothing. Read from the catalogue, so a later migration's
/// index is covered.
async fn drop_sqlite_indexes_if_empty(tx: &mut Tx, table: &str) -> Result<Vec<String>, StoreError> {
    let any = tx
        .fetch_all(
            "looking for stored rows",
            &format!("SELECT 1 FROM {table} LIMIT 1"),
            &[],
            &[Ty::Int],
        )
        .await?;
    if !any.is_empty() {
        return Ok(Vec::new());
    }
    let rows = tx
        .fetch_all(
            "listing indexes",
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = $1 \
             AND sql IS NOT NULL ORDER BY name",
            &[Cell::Text(Some(table.to_owned()))],
            &[Ty::Text, Ty::Text],
        )
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let (Some(name), Some(sql)) = (r[0].text(), r[1].text()) else {
            return Err(StoreError::Internal("an index without a name".into()));
        };
        tx.exec(
            "dropping an index for the load",
            &format!("DROP INDEX {name}"),
            &[],
        )
        .await?;
        out.push(sql.to_owned());
    }
    Ok(out)
}

fn add_payments(known: &mut Known, rows: Vec<Vec<Cell>>) -> Result<(), StoreError> {
    for r in rows {
        let id = r[0].text().unwrap_or_default();
        let amount = Minor::positive("amount_minor", r[2].int().unwrap_or(0))
            .map_err(|e| corrupt("payments", id, "amount_minor", e.detail))?;
        let kind = PaymentKind::parse("kind", r[3].text().unwrap_or_default())
            .map_err(|e| corrupt("payments", id, "kind", e.detail))?;
        known.payments.insert(
            id.into(),
            KnownPayment {
                loan_id: r[1].text().unwrap_or_default().into(),
                amount,
                kind,
                reverses: r[4].text().map(Into::into),
            },
        );
    }
    Ok(())
}

fn stage_ddl(d: Dialect, t: &TableDef) -> Vec<String> {
    let mut cols = vec![format!("line {} NOT NULL", d.sql_type(Ty::Int))];
    cols.extend(
        t.cols
            .iter()
            .map(|c| format!("{} {}", c.name, d.sql_type(c.ty))),
    );
    cols.push(format!("PRIMARY KEY ({})", t.key.join(", ")));
    match d {
        Dialect::Sqlite => vec![
            format!("DROP TABLE IF EXISTS temp.{}", t.stage()),
            format!("CREATE TEMP TABLE {} ({})", t.stage(), cols.join(", ")),
        ],
        Dialect::Postgres => vec![format!(
            "CREATE TEMP TABLE {} ({}) ON COMMIT DROP",
            t.stage(),
            cols.join(", ")
        )],
    }
}

fn key_join(t: &TableDef) -> String {
    t.key
        .iter()
        .map(|k| format!("t.{k} = s.{k}"))
        .collect::<Vec<_>>()
        .join(" AND ")
}

fn any_distinct<'a>(cols: impl Iterator<Item = &'a schema::Col>) -> String {
    let parts: Vec<String> = cols
        .map(|c| format!("s.{n} IS DISTINCT FROM t.{n}", n = c.name))
        .collect();
    if parts.is_empty() {
        "FALSE".into()
    } else {
        format!("({})", parts.join(" OR "))
    }
}

fn immutable(t: &TableDef) -> impl Iterator<Item = &schema::Col> {
    t.cols.iter().filter(|c| !c.mutable)
}

async fn find_conflicts(tx: &mut Tx, t: &TableDef) -> Result<Vec<Conflict>, StoreError> {
    let d = tx.dialect();
    let imm: Vec<&schema::Col> = immutable(t).collect();
    let mut select = vec![d.select("s.line", Ty::Int)];
    let mut tys = vec![Ty::Int];
    for k in t.key {
        let ty = t
            .cols
            .iter()
            .find(|c| c.name == *k)
            .map_or(Ty::Text, |c| c.ty);
        select.push(d.select(&format!("s.{k}"), ty));
        tys.push(ty);
    }
    for c in &imm {
        select.push(format!("(s.{n} IS DISTINCT FROM t.{n})", n = c.name));
        tys.push(Ty::Bool);
        select.push(d.select(&format!("s.{}", c.name), c.ty));
        tys.push(c.ty);
        select.push(d.select(&format!("t.{}", c.name), c.ty));
        tys.push(c.ty);
    }
    let sql = format!(
        "SELECT {} FROM {} s JOIN {} t ON {} WHERE {} ORDER BY s.line",
        select.join(", "),
        t.stage(),
        t.name,
        key_join(t),
        any_distinct(imm.iter().copied())
    );
    let nkeys = t.key.len();
    let mut out = Vec::new();
    tx.fetch(
        &format!("finding conflicts in {}", t.name),
        &sql,
        &[],
        &tys,
        |r| {
            let line = r[0].int().and_then(|l| u64::try_from(l).ok()).unwrap_or(0);
            let key = r[1..=nkeys]
                .iter()
                .filter_map(cell_text)
                .collect::<Vec<_>>()
                .join("/");
            let mut columns = Vec::new();
            for (i, c) in imm.iter().enumerate() {
                let at = 1 + nkeys + 3 * i;
                if r[at].boolean() == Some(true) {
                    let personal = schema::is_personal(c.name);
                    columns.push(ConflictColumn {
                        column: c.name,
                        received: (!personal).then(|| cell_text(&r[at + 1])).flatten(),
                        stored: (!personal).then(|| cell_text(&r[at + 2])).flatten(),
                    });
                }
            }
            out.push(Conflict {
                table: t.table,
                line,
                key,
                columns,
            });
            Ok(())
        },
    )
    .await?;
    Ok(out)
}

fn update_sql(t: &TableDef) -> String {
    let mutable: Vec<&schema::Col> = t.cols.iter().filter(|c| c.mutable).collect();
    let set: Vec<String> = mutable
        .iter()
        .map(|c| format!("{n} = s.{n}", n = c.name))
        .collect();
    format!(
        "UPDATE {} AS t SET {} FROM {} AS s WHERE {} AND NOT {} AND {}",
        t.name,
        set.join(", "),
        t.stage(),
        key_join(t),
        any_distinct(immutable(t)),
        any_distinct(mutable.iter().copied())
    )
}

fn insert_sql(t: &TableDef) -> String {
    let cols = t.col_names().join(", ");
    let s_cols: Vec<String> = t.col_names().iter().map(|c| format!("s.{c}")).collect();
    format!(
        "INSERT INTO {name} ({cols}) SELECT {} FROM {} s \
         WHERE NOT EXISTS (SELECT 1 FROM {name} t WHERE {}) ORDER BY s.line",
        s_cols.join(", "),
        t.stage(),
        key_join(t),
        name = t.name,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_dropped_for_a_load_are_built_again() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let target = crate::DbTarget::Sqlite(dir.path().join("s.db"));
            let store = Store::open(&target).await.unwrap();
            let list = "SELECT name, sql FROM sqlite_master WHERE type = 'index' ORDER BY name";
            let before = store
                .fetch_once("indexes", list, &[], &[Ty::Text, Ty::Text])
                .await
                .unwrap();
            let mut tx = store.begin().await.unwrap();
            let rebuild = drop_sqlite_indexes_if_empty(&mut tx, "payments")
                .await
                .unwrap();
            assert!(rebuild.len() >= 2, "{rebuild:?}");
            for sql in &rebuild {
                tx.exec("building", sql, &[]).await.unwrap();
            }
            tx.commit().await.unwrap();
            let after = store
                .fetch_once("indexes", list, &[], &[Ty::Text, Ty::Text])
                .await
                .unwrap();
            assert_eq!(before, after);
        });
    }
}
