//! The one place that talks to sqlx: a transaction on either backend, statements with
//! positional arguments (`$1`, which both SQLite and PostgreSQL accept), rows streamed to a
//! callback as plain cells, bulk loads (COPY on PostgreSQL; on SQLite a prepared multi-row
//! INSERT stepped by `sqlite_raw` on the connection's locked handle), and the few spellings
//! that differ between the two dialects.

use crate::StoreError;
use futures_util::TryStreamExt;
use sqlx::{Postgres, Row as _, Sqlite, Transaction};

/// The type of a column as stored. Dates are `YYYY-MM-DD`; instants are UTC with microseconds
/// (`YYYY-MM-DDTHH:MM:SS.ffffffZ`, fixed width so that text order is time order on SQLite).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    Text,
    Int,
    Bool,
    Date,
    Ts,
}

/// One value going in or coming out. Dates and instants travel as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cell {
    Int(Option<i64>),
    Text(Option<String>),
    Bool(Option<bool>),
}

impl Cell {
    pub(crate) fn int(&self) -> Option<i64> {
        match self {
            Cell::Int(v) => *v,
            _ => None,
        }
    }
    pub(crate) fn text(&self) -> Option<&str> {
        match self {
            Cell::Text(v) => v.as_deref(),
            _ => None,
        }
    }
    /// The text of a text cell (None for any other cell: no text array holds one).
    pub(crate) fn into_text(self) -> Option<String> {
        match self {
            Cell::Text(v) => v,
            _ => None,
        }
    }
    pub(crate) fn boolean(&self) -> Option<bool> {
        match self {
            Cell::Bool(v) => *v,
            // SQLite computes comparisons as integers.
            Cell::Int(v) => v.map(|i| i != 0),
            _ => None,
        }
    }
}

/// One value of a row being loaded (`Tx::bulk_load`), borrowed from the row it belongs to.
/// Dates and instants are text as the store keeps them (`schema::Stamp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Val<'a> {
    Null,
    Int(i64),
    Bool(bool),
    Text(&'a str),
}

impl<'a> Val<'a> {
    pub(crate) fn opt_text(s: Option<&'a str>) -> Val<'a> {
        s.map_or(Val::Null, Val::Text)
    }

    pub(crate) fn of(c: &'a Cell) -> Val<'a> {
        match c {
            Cell::Int(v) => v.map_or(Val::Null, Val::Int),
            Cell::Bool(v) => v.map_or(Val::Null, Val::Bool),
            Cell::Text(v) => Val::opt_text(v.as_deref()),
        }
    }
}

/// A row that `Tx::bulk_load` can load: it hands its values, in column order, to `f`
/// (borrowed for the call, so nothing is copied or allocated on the way to the database).
pub(crate) trait LoadRow {
    fn with_vals(
        &self,
        f: &mut dyn FnMut(&[Val<'_>]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;

    /// The row's line in its feed file, for errors.
    fn line(&self) -> Option<u64> {
        None
    }
}

impl<T: LoadRow + ?Sized> LoadRow for &T {
    fn with_vals(
        &self,
        f: &mut dyn FnMut(&[Val<'_>]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        (**self).with_vals(f)
    }
    fn line(&self) -> Option<u64> {
        (**self).line()
    }
}

/// Rows of cells (the snapshot's), up to `MAX_LOAD_COLS` columns.
impl LoadRow for Vec<Cell> {
    fn with_vals(
        &self,
        f: &mut dyn FnMut(&[Val<'_>]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut vals = [Val::Null; MAX_LOAD_COLS];
        let n = self.len();
        if n > MAX_LOAD_COLS {
            return Err(StoreError::Internal(format!(
                "a row of {n} columns to load; at most {MAX_LOAD_COLS}"
            )));
        }
        for (v, c) in vals.iter_mut().zip(self) {
            *v = Val::of(c);
        }
        f(&vals[..n])
    }
}

/// The widest row a load takes through `LoadRow`'s fixed buffers.
pub(crate) const MAX_LOAD_COLS: usize = 40;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The SQL type of a column.
    pub(crate) fn sql_type(self, ty: Ty) -> &'static str {
        match (self, ty) {
            (Dialect::Sqlite, Ty::Int | Ty::Bool) => "INTEGER",
            (Dialect::Sqlite, _) => "TEXT",
            (Dialect::Postgres, Ty::Text) => "TEXT",
            (Dialect::Postgres, Ty::Int) => "BIGINT",
            (Dialect::Postgres, Ty::Bool) => "BOOLEAN",
            (Dialect::Postgres, Ty::Date) => "DATE",
            (Dialect::Postgres, Ty::Ts) => "TIMESTAMPTZ",
        }
    }

    /// Placeholder `$n` for a value of type `ty` (PostgreSQL needs dates and instants cast
    /// from the text they travel as).
    pub(crate) fn param(self, n: usize, ty: Ty) -> String {
        match (self, ty) {
            (Dialect::Postgres, Ty::Date) => format!("${n}::date"),
            (Dialect::Postgres, Ty::Ts) => format!("${n}::timestamptz"),
            _ => format!("${n}"),
        }
    }

    /// An expression reading `col` back in the form `Cell` carries (and `decode` expects).
    pub(crate) fn select(self, col: &str, ty: Ty) -> String {
        match (self, ty) {
            (Dialect::Postgres, Ty::Date) => format!("to_char({col}, 'YYYY-MM-DD')"),
            (Dialect::Postgres, Ty::Ts) => {
                format!("to_char({col} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
            }
            (Dialect::Postgres, Ty::Int) => format!("CAST({col} AS BIGINT)"),
            _ => col.to_owned(),
        }
    }

    /// The decoded type of `select(col, ty)`.
    pub(crate) fn decoded(ty: Ty) -> Ty {
        match ty {
            Ty::Date | Ty::Ts => Ty::Text,
            t => t,
        }
    }

    /// The database's clock as an instant column's value (what `DEFAULT` gives the
    /// `recorded_at` columns of migration 0010): the store never reads the host's clock.
    pub(crate) fn now_ts(self) -> &'static str {
        match self {
            Dialect::Sqlite => "(strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z')",
            Dialect::Postgres => "now()",
        }
    }

    /// The null-safe equality operator (`a <op> b` is true when both are NULL).
    pub(crate) fn same(self) -> &'static str {
        match self {
            Dialect::Sqlite => "IS",
            Dialect::Postgres => "IS NOT DISTINCT FROM",
        }
    }

    /// A set of text values passed as one JSON array argument `$n`.
    pub(crate) fn json_set(self, n: usize) -> String {
        match self {
            Dialect::Sqlite => format!("(SELECT value FROM json_each(${n}))"),
            Dialect::Postgres => format!("(SELECT jsonb_array_elements_text(${n}::jsonb))"),
        }
    }
}

/// A JSON array of strings, for `Dialect::json_set`.
pub(crate) fn json_array<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let mut s = String::from("[");
    for (i, it) in items.enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push('"');
        for ch in it.chars() {
            match ch {
                '"' => s.push_str("\\\""),
                '\\' => s.push_str("\\\\"),
                c if (c as u32) < 0x20 => s.push_str(&format!("\\u{:04x}", c as u32)),
                c => s.push(c),
            }
        }
        s.push('"');
    }
    s.push(']');
    s
}

fn db(what: &str) -> impl FnOnce(sqlx::Error) -> StoreError + '_ {
    move |source| StoreError::Db {
        what: what.to_owned(),
        source,
    }
}

/// A transaction on either backend.
pub(crate) enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

macro_rules! bind_all {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for a in $args {
            q = match a {
                Cell::Int(v) => q.bind(*v),
                Cell::Text(v) => q.bind(v.as_deref()),
                Cell::Bool(v) => q.bind(*v),
            };
        }
        q
    }};
}

macro_rules! decode_row {
    ($row:expr, $tys:expr, $out:expr) => {{
        (|| -> Result<(), sqlx::Error> {
            $out.clear();
            for (i, ty) in $tys.iter().enumerate() {
                let c = match ty {
                    Ty::Int => Cell::Int($row.try_get::<Option<i64>, _>(i)?),
                    Ty::Bool => Cell::Bool($row.try_get::<Option<bool>, _>(i)?),
                    _ => Cell::Text($row.try_get::<Option<String>, _>(i)?),
                };
                $out.push(c);
            }
            Ok(())
        })()
    }};
}

/// Every statement of this crate is assembled from its own constant table and column names
/// (`schema.rs`, `snapshot.rs`) and the dialect spellings above; every value, whatever its
/// origin, travels as a bound argument (`$n`) or through COPY's CSV quoting. No text a user
/// or a feed supplies is ever spliced into SQL, which is what sqlx asks us to assert here.
fn audited(sql: &str) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(sql.to_owned())
}

impl Tx {
    pub(crate) fn dialect(&self) -> Dialect {
        match self {
            Tx::Sqlite(_) => Dialect::Sqlite,
            Tx::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Runs a statement; returns the rows it affected.
    pub(crate) async fn exec(
        &mut self,
        what: &str,
        sql: &str,
        args: &[Cell],
    ) -> Result<u64, StoreError> {
        match self {
            Tx::Sqlite(tx) => bind_all!(sqlx::query(audited(sql)), args)
                .execute(&mut **tx)
                .await
                .map(|r| r.rows_affected()),
            Tx::Postgres(tx) => bind_all!(sqlx::query(audited(sql)), args)
                .execute(&mut **tx)
                .await
                .map(|r| r.rows_affected()),
        }
        .map_err(db(what))
    }

    /// Runs a query and hands each row to `f` as cells of the given types (see
    /// `Dialect::select` for reading dates and instants).
    pub(crate) async fn fetch(
        &mut self,
        what: &str,
        sql: &str,
        args: &[Cell],
        tys: &[Ty],
        mut f: impl FnMut(&[Cell]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let tys: Vec<Ty> = tys.iter().map(|t| Dialect::decoded(*t)).collect();
        let mut cells = Vec::with_capacity(tys.len());
        match self {
            Tx::Sqlite(tx) => {
                let mut rows = bind_all!(sqlx::query(audited(sql)), args).fetch(&mut **tx);
                while let Some(row) = rows.try_next().await.map_err(db(what))? {
                    decode_row!(row, tys, cells).map_err(db(what))?;
                    f(&cells)?;
                }
            }
            Tx::Postgres(tx) => {
                let mut rows = bind_all!(sqlx::query(audited(sql)), args).fetch(&mut **tx);
                while let Some(row) = rows.try_next().await.map_err(db(what))? {
                    decode_row!(row, tys, cells).map_err(db(what))?;
                    f(&cells)?;
                }
            }
        }
        Ok(())
    }

    /// Every row of `table` (columns `cols`, read as `Dialect::select` spells them), in no
    /// particular order, handed to `f` as cells.
    ///
    /// On PostgreSQL this is one `SELECT`. On SQLite, sqlx steps a statement on its own
    /// worker thread and sends every row to the async side through a channel, so reading
    /// 20M rows one by one costs 20M thread handoffs (half the run time in the kernel's task
    /// switch). Here SQLite packs a page of rows into one text value instead — each value
    /// as `quote()` writes it (integers as digits, `NULL`, text in single quotes with `''`
    /// for a quote), values separated by `,`, rows by a newline — and the pages are walked
    /// by key (`rowid`, or `key` for a table without one), so one value crosses the thread
    /// boundary per page and no row is read twice or missed.
    pub(crate) async fn fetch_table(
        &mut self,
        what: &str,
        table: &str,
        cols: &[(&str, Ty)],
        key: Option<&[&str]>,
        f: impl FnMut(&[Cell]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.fetch_pages(what, table, cols, key, PAGE_ROWS, f).await
    }

    async fn fetch_pages(
        &mut self,
        what: &str,
        table: &str,
        cols: &[(&str, Ty)],
        key: Option<&[&str]>,
        page_rows: usize,
        mut f: impl FnMut(&[Cell]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let d = self.dialect();
        let tys: Vec<Ty> = cols.iter().map(|(_, t)| Dialect::decoded(*t)).collect();
        let tx = match self {
            Tx::Postgres(_) => {
                let select: Vec<String> = cols.iter().map(|(c, t)| d.select(c, *t)).collect();
                let sql = format!("SELECT {} FROM {table}", select.join(", "));
                return self.fetch(what, &sql, &[], &tys, f).await;
            }
            Tx::Sqlite(tx) => tx,
        };
        // The page key: `rowid`, or the key columns (which are also read as columns).
        let key: Vec<(&str, Ty)> = match key {
            None => vec![("rowid", Ty::Int)],
            Some(k) => k
                .iter()
                .map(|k| {
                    let ty = cols.iter().find(|(c, _)| c == k).map_or(Ty::Text, |c| c.1);
                    (*k, Dialect::decoded(ty))
                })
                .collect(),
        };
        let nkey = key.len();
        let key_cols: Vec<&str> = key.iter().map(|(k, _)| *k).collect();
        let packed: Vec<String> = key_cols
            .iter()
            .chain(cols.iter().map(|(c, _)| c))
            .map(|c| format!("quote({c})"))
            .collect();
        let page = |after: bool| {
            let filter = if after {
                format!(
                    "WHERE ({}) > ({})",
                    key_cols.join(", "),
                    vec!["?"; nkey].join(", ")
                )
            } else {
                String::new()
            };
            format!(
                "SELECT group_concat(q, char(10)) FROM (SELECT {} AS q FROM {table} {filter} \
                 ORDER BY {} LIMIT {page_rows})",
                packed.join(" || ',' || "),
                key_cols.join(", ")
            )
        };
        let (first, next) = (page(false), page(true));
        let all_tys: Vec<Ty> = key.iter().map(|(_, t)| *t).chain(tys).collect();
        let mut cells: Vec<Cell> = all_tys.iter().map(|_| Cell::Int(None)).collect();
        let mut last: Vec<Cell> = Vec::new();
        loop {
            let sql = if last.is_empty() { &first } else { &next };
            let row = bind_all!(sqlx::query(audited(sql)), &last)
                .fetch_one(&mut **tx)
                .await
                .map_err(db(what))?;
            let text: Option<&str> = row.try_get(0).map_err(db(what))?;
            let Some(text) = text else { break };
            let mut rows = 0usize;
            let mut at = text;
            let mut max: Vec<Cell> = Vec::new();
            while !at.is_empty() {
                at = unpack_row(at, &all_tys, &mut cells).ok_or_else(|| {
                    StoreError::Internal(format!("{what}: a packed row does not read back"))
                })?;
                rows += 1;
                if max.is_empty() || key_greater(&cells[..nkey], &max) {
                    max.clear();
                    max.extend_from_slice(&cells[..nkey]);
                }
                f(&cells[nkey..])?;
            }
            if rows < page_rows {
                break;
            }
            last = max;
        }
        Ok(())
    }

    /// All rows of a query.
    pub(crate) async fn fetch_all(
        &mut self,
        what: &str,
        sql: &str,
        args: &[Cell],
        tys: &[Ty],
    ) -> Result<Vec<Vec<Cell>>, StoreError> {
        let mut out = Vec::new();
        self.fetch(what, sql, args, tys, |r| {
            out.push(r.to_vec());
            Ok(())
        })
        .await?;
        Ok(out)
    }

    /// Loads rows into `table (cols)`: COPY on PostgreSQL; on SQLite a prepared multi-row
    /// `INSERT` stepped through the C API (`sqlite_raw`, see `insert_rows`), on the
    /// transaction's own connection. Each row hands its values in column order, borrowed (`LoadRow`);
    /// `progress(rows_so_far)` is called every so many rows.
    pub(crate) async fn bulk_load<R: LoadRow>(
        &mut self,
        what: &str,
        table: &str,
        cols: &[&str],
        rows: impl Iterator<Item = R>,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<u64, StoreError> {
        let mut done = 0u64;
        match self {
            Tx::Postgres(tx) => {
                const CHUNK_BYTES: usize = 1 << 20;
                let sql = format!("COPY {table} ({}) FROM STDIN (FORMAT csv)", cols.join(", "));
                let mut copy = tx.copy_in_raw(&sql).await.map_err(db(what))?;
                let mut buf: Vec<u8> = Vec::with_capacity(CHUNK_BYTES + 4096);
                for row in rows {
                    row.with_vals(&mut |v| {
                        copy_line(&mut buf, v);
                        Ok(())
                    })?;
                    done += 1;
                    if buf.len() >= CHUNK_BYTES {
                        copy.send(std::mem::take(&mut buf))
                            .await
                            .map_err(db(what))?;
                        buf.reserve(CHUNK_BYTES + 4096);
                        progress(done);
                    }
                }
                if !buf.is_empty() {
                    copy.send(buf).await.map_err(db(what))?;
                }
                copy.finish().await.map_err(db(what))?;
            }
            Tx::Sqlite(tx) => {
                // While the handle is locked, sqlx's worker thread leaves the connection
                // alone; the rows go into the transaction this connection is in. The loop is
                // synchronous (it holds the executor thread, as the worker thread would be
                // held by sqlx), and nothing is awaited while the lock is held.
                let mut handle = tx.lock_handle().await.map_err(db(what))?;
                done = insert_rows(&mut handle, what, table, cols, rows, progress)?;
            }
        }
        progress(done);
        Ok(done)
    }

    pub(crate) async fn commit(self) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await,
            Tx::Postgres(tx) => tx.commit().await,
        }
        .map_err(db("committing"))
    }
}

/// One query outside any explicit transaction: all its rows as cells of the given types.
/// A single statement reads one consistent state on both backends (PostgreSQL takes one
/// snapshot per statement; SQLite runs a statement under one read lock), so this answers
/// what a transaction around it would, without the round trips of BEGIN and COMMIT.
pub(crate) async fn fetch_all_pooled(
    pool: &crate::Pool,
    what: &str,
    sql: &str,
    args: &[Cell],
    tys: &[Ty],
) -> Result<Vec<Vec<Cell>>, StoreError> {
    let tys: Vec<Ty> = tys.iter().map(|t| Dialect::decoded(*t)).collect();
    let mut cells = Vec::with_capacity(tys.len());
    let mut out = Vec::new();
    match pool {
        crate::Pool::Sqlite(p) => {
            let rows = bind_all!(sqlx::query(audited(sql)), args)
                .fetch_all(p)
                .await
                .map_err(db(what))?;
            for row in rows {
                decode_row!(row, tys, cells).map_err(db(what))?;
                out.push(std::mem::take(&mut cells));
            }
        }
        crate::Pool::Postgres(p) => {
            let rows = bind_all!(sqlx::query(audited(sql)), args)
                .fetch_all(p)
                .await
                .map_err(db(what))?;
            for row in rows {
                decode_row!(row, tys, cells).map_err(db(what))?;
                out.push(std::mem::take(&mut cells));
            }
        }
    }
    Ok(out)
}

/// One PostgreSQL statement outside any explicit transaction whose parameters are text
/// arrays, one element per row of a batch (`unnest` turns them into rows; the statement casts
/// them to their types): one prepared statement whatever the batch size. All its rows as
/// cells of the given types.
pub(crate) async fn fetch_all_pg_arrays(
    pool: &crate::Pool,
    what: &str,
    sql: &str,
    columns: &[Vec<Option<String>>],
    tys: &[Ty],
) -> Result<Vec<Vec<Cell>>, StoreError> {
    let crate::Pool::Postgres(p) = pool else {
        return Err(StoreError::Internal(format!(
            "{what}: a batch statement is for PostgreSQL only"
        )));
    };
    let rows = array_query(sql, columns)
        .fetch_all(p)
        .await
        .map_err(db(what))?;
    decode_rows(what, rows, tys)
}

/// A statement with one bound text array per column, in a transaction of its own, on `pool`
/// (PostgreSQL).
pub(crate) async fn exec_pg_arrays(
    pool: &sqlx::PgPool,
    what: &str,
    sql: &str,
    columns: &[Vec<Option<String>>],
) -> Result<(), StoreError> {
    array_query(sql, columns)
        .execute(pool)
        .await
        .map_err(db(what))?;
    Ok(())
}

/// A statement with one bound text array per column.
fn array_query<'q>(
    sql: &str,
    columns: &'q [Vec<Option<String>>],
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    let mut q = sqlx::query(audited(sql));
    for c in columns {
        q = q.bind(c.as_slice());
    }
    q
}

fn decode_rows(
    what: &str,
    rows: Vec<sqlx::postgres::PgRow>,
    tys: &[Ty],
) -> Result<Vec<Vec<Cell>>, StoreError> {
    let tys: Vec<Ty> = tys.iter().map(|t| Dialect::decoded(*t)).collect();
    let mut cells = Vec::with_capacity(tys.len());
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        decode_row!(row, tys, cells).map_err(db(what))?;
        out.push(std::mem::take(&mut cells));
    }
    Ok(out)
}

impl Tx {
    /// [`fetch_all_pg_arrays`] inside this transaction (PostgreSQL only).
    pub(crate) async fn fetch_all_arrays(
        &mut self,
        what: &str,
        sql: &str,
        columns: &[Vec<Option<String>>],
        tys: &[Ty],
    ) -> Result<Vec<Vec<Cell>>, StoreError> {
        let Tx::Postgres(tx) = self else {
            return Err(StoreError::Internal(format!(
                "{what}: a batch statement is for PostgreSQL only"
            )));
        };
        let rows = array_query(sql, columns)
            .fetch_all(&mut **tx)
            .await
            .map_err(db(what))?;
        decode_rows(what, rows, tys)
    }
}

/// Rows per page of `Tx::fetch_table` on SQLite (about 1 MB of text for the widest table).
const PAGE_ROWS: usize = 8192;

/// Whether key `a` sorts after key `b` as SQLite orders them (integers by value, text by
/// bytes: the BINARY collation).
fn key_greater(a: &[Cell], b: &[Cell]) -> bool {
    for (x, y) in a.iter().zip(b) {
        let o = match (x, y) {
            (Cell::Int(x), Cell::Int(y)) => x.cmp(y),
            (Cell::Text(x), Cell::Text(y)) => x
                .as_deref()
                .map(str::as_bytes)
                .cmp(&y.as_deref().map(str::as_bytes)),
            _ => std::cmp::Ordering::Equal,
        };
        if o != std::cmp::Ordering::Equal {
            return o == std::cmp::Ordering::Greater;
        }
    }
    false
}

/// Reads one row of `fetch_table`'s packed text into `cells` (reusing their buffers) and
/// returns the rest after the row's newline; `None` if it does not read as `tys`.
fn unpack_row<'a>(mut at: &'a str, tys: &[Ty], cells: &mut [Cell]) -> Option<&'a str> {
    for (i, (ty, cell)) in tys.iter().zip(cells.iter_mut()).enumerate() {
        if i > 0 {
            at = at.strip_prefix(',')?;
        }
        if let Some(rest) = at.strip_prefix('\'') {
            // Text: up to the quote that is not doubled.
            if !matches!(cell, Cell::Text(Some(_))) {
                *cell = Cell::Text(Some(String::new()));
            }
            let Cell::Text(Some(s)) = cell else {
                return None;
            };
            s.clear();
            let mut rest = rest;
            loop {
                let q = rest.find('\'')?;
                s.push_str(&rest[..q]);
                rest = &rest[q + 1..];
                match rest.strip_prefix('\'') {
                    Some(r) => {
                        s.push('\'');
                        rest = r;
                    }
                    None => break,
                }
            }
            if !matches!(ty, Ty::Text | Ty::Date | Ty::Ts) {
                return None;
            }
            at = rest;
        } else {
            let end = at.find([',', '\n']).unwrap_or(at.len());
            let (word, rest) = at.split_at(end);
            at = rest;
            let v = if word == "NULL" {
                None
            } else {
                Some(word.parse::<i64>().ok()?)
            };
            *cell = match ty {
                Ty::Int => Cell::Int(v),
                Ty::Bool => Cell::Bool(v.map(|v| v != 0)),
                _ if v.is_none() => Cell::Text(None),
                _ => return None,
            };
        }
    }
    match at.strip_prefix('\n') {
        Some(rest) => Some(rest),
        None if at.is_empty() => Some(at),
        None => None,
    }
}

/// One row in PostgreSQL's CSV COPY format: NULL is an unquoted empty field, text is always
/// quoted (so an empty string stays a string), booleans `t`/`f`.
fn copy_line(buf: &mut Vec<u8>, row: &[Val<'_>]) {
    use std::io::Write as _;
    for (i, c) in row.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        match *c {
            // Writing into a Vec cannot fail.
            Val::Int(v) => {
                let _ = write!(buf, "{v}");
            }
            Val::Bool(v) => buf.push(if v { b't' } else { b'f' }),
            Val::Text(s) => {
                buf.push(b'"');
                for b in s.bytes() {
                    if b == b'"' {
                        buf.push(b'"');
                    }
                    buf.push(b);
                }
                buf.push(b'"');
            }
            Val::Null => {}
        }
    }
    buf.push(b'\n');
}

/// The SQLite half of `Tx::bulk_load`. Rows are copied into a reused buffer (`Batch`) and
/// inserted `per` at a time through one prepared multi-row `INSERT` (one step, one reset and
/// one set of cursors per batch instead of per row); the last partial batch goes row by row.
/// When a batch fails, SQLite has undone that statement (and nothing else), so its rows are
/// replayed one by one to name the row at fault — unless SQLite ended the transaction itself
/// (a full disk, I/O), when nothing more is run.
fn insert_rows<R: LoadRow>(
    handle: &mut sqlx::sqlite::LockedSqliteHandle<'_>,
    what: &str,
    table: &str,
    cols: &[&str],
    rows: impl Iterator<Item = R>,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<u64, StoreError> {
    let ncols = cols.len().max(1);
    let per = (SQLITE_MAX_PARAMS / ncols).clamp(1, SQLITE_BATCH_ROWS);
    let sql = |n: usize| {
        let row = format!("({})", vec!["?"; ncols].join(", "));
        format!(
            "INSERT INTO {table} ({}) VALUES {}",
            cols.join(", "),
            vec![row; n].join(", ")
        )
    };
    let fail = |row: Option<(Option<u64>, &[Val<'_>])>, f: crate::sqlite_raw::SqliteFailure| {
        StoreError::Sqlite {
            what: what.to_owned(),
            row: match row {
                Some((line, v)) => describe_row(table, line, v),
                None => table.to_owned(),
            },
            code: f.code,
            message: f.message,
        }
    };
    let mut batch = Batch::new(ncols);
    let mut done = 0u64;
    {
        let many = sql(per);
        let mut ins =
            crate::sqlite_raw::Insert::prepare(handle, &many).map_err(|f| fail(None, f))?;
        let mut failed = None;
        for row in rows {
            let line = row.line();
            row.with_vals(&mut |v| batch.push(v, line))?;
            if batch.rows() == per {
                if let Err(f) = ins.insert(&batch.vals()) {
                    failed = Some(f);
                    break;
                }
                done += per as u64;
                batch.clear();
                if done.is_multiple_of(PROGRESS_ROWS) {
                    progress(done);
                }
            }
        }
        drop(ins);
        if let Some(f) = failed {
            if !crate::sqlite_raw::in_transaction(handle) {
                let first = batch.row(0);
                return Err(fail(Some((batch.lines[0], &first)), f));
            }
            // Replayed below, row by row, to find the row at fault.
            let one = sql(1);
            let mut ins =
                crate::sqlite_raw::Insert::prepare(handle, &one).map_err(|f| fail(None, f))?;
            for i in 0..batch.rows() {
                let v = batch.row(i);
                ins.insert(&v)
                    .map_err(|f| fail(Some((batch.lines[i], &v)), f))?;
            }
            let first = batch.row(0);
            return Err(fail(Some((batch.lines[0], &first)), f));
        }
    }
    if batch.rows() > 0 {
        let one = sql(1);
        let mut ins =
            crate::sqlite_raw::Insert::prepare(handle, &one).map_err(|f| fail(None, f))?;
        for i in 0..batch.rows() {
            let v = batch.row(i);
            ins.insert(&v)
                .map_err(|f| fail(Some((batch.lines[i], &v)), f))?;
            done += 1;
        }
    }
    Ok(done)
}

/// SQLite's limit on the parameters of one statement (32766), with room to spare.
const SQLITE_MAX_PARAMS: usize = 32_000;

/// Rows per multi-row `INSERT` of a bulk load on SQLite.
const SQLITE_BATCH_ROWS: usize = 32;

/// One value of a `Batch`: text is a range of the batch's arena.
#[derive(Debug, Clone, Copy)]
enum Slot {
    Null,
    Int(i64),
    Bool(bool),
    Text(usize, usize),
}

/// A few rows' values, owned (text copied into one arena; all buffers reused from batch to
/// batch), so that a multi-row statement can bind them all at once.
#[derive(Debug)]
struct Batch {
    ncols: usize,
    arena: String,
    slots: Vec<Slot>,
    lines: Vec<Option<u64>>,
}

impl Batch {
    fn new(ncols: usize) -> Batch {
        Batch {
            ncols,
            arena: String::new(),
            slots: Vec::new(),
            lines: Vec::new(),
        }
    }

    fn rows(&self) -> usize {
        self.lines.len()
    }

    fn push(&mut self, vals: &[Val<'_>], line: Option<u64>) -> Result<(), StoreError> {
        if vals.len() != self.ncols {
            return Err(StoreError::Sqlite {
                what: "binding a row".into(),
                row: format!("a row of {} values", vals.len()),
                code: libsqlite3_sys::SQLITE_RANGE,
                message: format!("{} values for {} columns", vals.len(), self.ncols),
            });
        }
        for v in vals {
            self.slots.push(match *v {
                Val::Null => Slot::Null,
                Val::Int(n) => Slot::Int(n),
                Val::Bool(b) => Slot::Bool(b),
                Val::Text(s) => {
                    let start = self.arena.len();
                    self.arena.push_str(s);
                    Slot::Text(start, self.arena.len())
                }
            });
        }
        self.lines.push(line);
        Ok(())
    }

    fn val(&self, s: &Slot) -> Val<'_> {
        match *s {
            Slot::Null => Val::Null,
            Slot::Int(n) => Val::Int(n),
            Slot::Bool(b) => Val::Bool(b),
            Slot::Text(a, b) => Val::Text(self.arena.get(a..b).unwrap_or_default()),
        }
    }

    /// Every value of the batch, row after row.
    fn vals(&self) -> Vec<Val<'_>> {
        self.slots.iter().map(|s| self.val(s)).collect()
    }

    fn row(&self, i: usize) -> Vec<Val<'_>> {
        let from = i * self.ncols;
        self.slots
            .get(from..from + self.ncols)
            .unwrap_or_default()
            .iter()
            .map(|s| self.val(s))
            .collect()
    }

    fn clear(&mut self) {
        self.arena.clear();
        self.slots.clear();
        self.lines.clear();
    }
}

/// Rows between progress reports of a bulk load on SQLite.
const PROGRESS_ROWS: u64 = 1 << 16;

/// A failed row, for an error: its table, its line in the feed when known, and its first
/// text value (the key, for every table loaded).
fn describe_row(table: &str, line: Option<u64>, vals: &[Val<'_>]) -> String {
    let key = vals.iter().find_map(|v| match v {
        Val::Text(s) => Some(*s),
        _ => None,
    });
    match (line, key) {
        (Some(l), Some(k)) => format!("{table} row {k:?} (line {l})"),
        (Some(l), None) => format!("{table} row at line {l}"),
        (None, Some(k)) => format!("{table} row {k:?}"),
        (None, None) => format!("a {table} row"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_lines_quote_text_and_leave_nulls_empty() {
        let mut b = Vec::new();
        copy_line(
            &mut b,
            &[
                Val::Text("a\"b,c"),
                Val::Int(-5),
                Val::Null,
                Val::Bool(true),
                Val::Text(""),
            ],
        );
        assert_eq!(String::from_utf8(b).unwrap(), "\"a\"\"b,c\",-5,,t,\"\"\n");
    }

    #[test]
    fn packed_rows_read_back_over_pages() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let pool = sqlx::SqlitePool::connect("sqlite::memory:").await.unwrap();
            let mut tx = Tx::Sqlite(pool.begin().await.unwrap());
            for ddl in [
                "CREATE TABLE r (id TEXT PRIMARY KEY, n INTEGER, b INTEGER, t TEXT) STRICT",
                "CREATE TABLE k (a TEXT, s INTEGER, t TEXT, PRIMARY KEY (a, s)) STRICT, WITHOUT ROWID",
            ] {
                tx.exec("ddl", ddl, &[]).await.unwrap();
            }
            let odd = ["it's", "a,b", "line\nbreak", "", "''", "NULL", "-5", "中文"];
            let mut want_r = Vec::new();
            let mut want_k = Vec::new();
            for i in 0..100i64 {
                let t = (i % 9 != 0).then(|| format!("{}{i}", odd[i as usize % odd.len()]));
                let r = vec![
                    Cell::Text(Some(format!("id-{}", 100 - i))),
                    Cell::Int((i % 7 != 0).then_some(i - 50)),
                    Cell::Bool(Some(i % 2 == 0)),
                    Cell::Text(t.clone()),
                ];
                tx.exec("insert", "INSERT INTO r VALUES (?, ?, ?, ?)", &r)
                    .await
                    .unwrap();
                want_r.push(r);
                let k = vec![
                    Cell::Text(Some(format!("L{}", i % 13))),
                    Cell::Int(Some(i)),
                    Cell::Text(t),
                ];
                tx.exec("insert", "INSERT INTO k VALUES (?, ?, ?)", &k)
                    .await
                    .unwrap();
                want_k.push(k);
            }
            let sort = |v: &mut Vec<Vec<Cell>>| v.sort_by_key(|r| format!("{r:?}"));
            for page in [1, 7, 100, 1000] {
                let mut got = Vec::new();
                let cols = [("id", Ty::Text), ("n", Ty::Int), ("b", Ty::Bool), ("t", Ty::Text)];
                tx.fetch_pages("r", "r", &cols, None, page, |r| {
                    got.push(r.to_vec());
                    Ok(())
                })
                .await
                .unwrap();
                sort(&mut got);
                sort(&mut want_r);
                assert_eq!(got, want_r, "page {page}");
                let mut got = Vec::new();
                let cols = [("a", Ty::Text), ("s", Ty::Int), ("t", Ty::Date)];
                tx.fetch_pages("k", "k", &cols, Some(&["a", "s"]), page, |r| {
                    got.push(r.to_vec());
                    Ok(())
                })
                .await
                .unwrap();
                sort(&mut got);
                sort(&mut want_k);
                assert_eq!(got, want_k, "page {page}");
            }
        });
    }

    #[test]
    fn json_arrays_escape() {
        assert_eq!(
            json_array(["a\"b", "c\\d", "e\nf"].into_iter()),
            r#"["a\"b","c\\d","e\u000af"]"#
        );
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// A pool on an SQLite file (a second connection sees only what was committed).
    async fn file_pool(dir: &tempfile::TempDir) -> sqlx::SqlitePool {
        let opts = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(dir.path().join("t.db"))
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal);
        sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(opts)
            .await
            .unwrap()
    }

    const TRICKY: [&str; 10] = [
        "it's",
        "\"quoted\"",
        "a,b;c",
        "line\nbreak\r\ttab",
        "",
        "NULL",
        "中文 ünïcödé 🦀",
        "'; DROP TABLE t; --",
        "\\backslash\\",
        "  spaced  ",
    ];

    /// What the SQLite bulk path writes reads back exactly: text with quotes, separators,
    /// control characters and non-ASCII text, the empty string, the text `NULL`, NULLs,
    /// the extreme integers and booleans.
    #[test]
    fn bulk_loads_on_sqlite_read_back_exactly() {
        runtime().block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let pool = file_pool(&dir).await;
            let mut tx = Tx::Sqlite(pool.begin().await.unwrap());
            tx.exec(
                "ddl",
                "CREATE TABLE t (id TEXT PRIMARY KEY, n INTEGER, b INTEGER, s TEXT) STRICT",
                &[],
            )
            .await
            .unwrap();
            let ints = [i64::MIN, -1, 0, 1, i64::MAX, 9_007_199_254_740_993];
            let rows: Vec<Vec<Cell>> = (0..1000i64)
                .map(|i| {
                    let u = usize::try_from(i).unwrap();
                    vec![
                        Cell::Text(Some(format!("{}-{i}", TRICKY[u % TRICKY.len()]))),
                        Cell::Int((i % 7 != 3).then_some(ints[u % ints.len()])),
                        Cell::Bool((i % 5 != 4).then_some(i % 2 == 0)),
                        Cell::Text((i % 11 != 10).then(|| TRICKY[u % TRICKY.len()].to_owned())),
                    ]
                })
                .collect();
            let reported = std::sync::Mutex::new(Vec::new());
            let n = tx
                .bulk_load(
                    "loading",
                    "t",
                    &["id", "n", "b", "s"],
                    rows.iter(),
                    &|done| reported.lock().unwrap().push(done),
                )
                .await
                .unwrap();
            assert_eq!(n, 1000);
            assert_eq!(reported.lock().unwrap().last(), Some(&1000));
            tx.commit().await.unwrap();

            // Read back on another connection, through sqlx.
            let got = fetch_all_pooled(
                &crate::Pool::Sqlite(pool.clone()),
                "reading",
                "SELECT id, n, b, s FROM t ORDER BY rowid",
                &[],
                &[Ty::Text, Ty::Int, Ty::Bool, Ty::Text],
            )
            .await
            .unwrap();
            assert_eq!(got, rows);
            // Text stays text and integers integers (STRICT would refuse otherwise, but the
            // storage class of the empty string and of `NULL` text is checked too).
            let types = fetch_all_pooled(
                &crate::Pool::Sqlite(pool.clone()),
                "types",
                "SELECT CAST(COUNT(*) AS INTEGER) FROM t WHERE typeof(s) = 'text' AND s = ''",
                &[],
                &[Ty::Int],
            )
            .await
            .unwrap();
            assert!(types[0][0].int().unwrap() > 0);
            pool.close().await;
        });
    }

    /// A row that fails in the middle of a bulk load is an error naming the table, the row's
    /// key and its line; the transaction it ran in rolls back to the state before, and the
    /// connection (handed back to sqlx) still works.
    #[test]
    fn a_failed_bulk_load_rolls_back_with_the_transaction() {
        struct Feed(u64, String);
        impl LoadRow for Feed {
            fn with_vals(
                &self,
                f: &mut dyn FnMut(&[Val<'_>]) -> Result<(), StoreError>,
            ) -> Result<(), StoreError> {
                f(&[Val::Text(&self.1), Val::Int(7)])
            }
            fn line(&self) -> Option<u64> {
                Some(self.0)
            }
        }
        runtime().block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let pool = file_pool(&dir).await;
            let pooled = crate::Pool::Sqlite(pool.clone());
            sqlx::query("CREATE TABLE t (id TEXT PRIMARY KEY, n INTEGER NOT NULL CHECK (n > 0))")
                .execute(&pool)
                .await
                .unwrap();
            sqlx::query("INSERT INTO t VALUES ('P-500', 1)")
                .execute(&pool)
                .await
                .unwrap();
            let count = || async {
                fetch_all_pooled(&pooled, "count", "SELECT COUNT(*) FROM t", &[], &[Ty::Int])
                    .await
                    .unwrap()[0][0]
                    .int()
            };
            let mut tx = Tx::Sqlite(pool.begin().await.unwrap());
            let rows = (2..2000u64).map(|line| Feed(line, format!("P-{line}")));
            let err = tx
                .bulk_load("loading t", "t", &["id", "n"], rows, &|_| {})
                .await
                .unwrap_err();
            match &err {
                StoreError::Sqlite {
                    what, row, code, ..
                } => {
                    assert_eq!(what, "loading t");
                    assert_eq!(row, "t row \"P-500\" (line 500)");
                    // SQLITE_CONSTRAINT_PRIMARYKEY
                    assert_eq!(*code, 1555, "{err}");
                }
                other => panic!("{other:?}"),
            }
            assert!(
                err.to_string().contains("UNIQUE constraint failed"),
                "{err}"
            );
            // The rows before the failing one are in the transaction, not in the store.
            let inside = tx
                .fetch_all("count", "SELECT COUNT(*) FROM t", &[], &[Ty::Int])
                .await
                .unwrap();
            assert_eq!(inside[0][0].int(), Some(1 + 498));
            drop(tx);
            assert_eq!(count().await, Some(1));
            // The same in the last, partial batch (rows 2–33 are a full batch of 32, rows
            // 34–40 go one by one), and on a CHECK constraint.
            let mut tx = Tx::Sqlite(pool.begin().await.unwrap());
            let rows = (2..=40u64).map(|line| Feed(line, format!("Q-{line}")));
            tx.bulk_load("loading t", "t", &["id", "n"], rows, &|_| {})
                .await
                .unwrap();
            let bad = [vec![Cell::Text(Some("Q-41".into())), Cell::Int(Some(0))]];
            let err = tx
                .bulk_load("loading t", "t", &["id", "n"], bad.iter(), &|_| {})
                .await
                .unwrap_err();
            assert!(err.to_string().contains("CHECK constraint failed"), "{err}");
            let rows = (2..=40u64).map(|line| Feed(line + 100, format!("Q-{}", 42 - line)));
            let err = tx
                .bulk_load("loading t", "t", &["id", "n"], rows, &|_| {})
                .await
                .unwrap_err();
            // Q-40 … Q-2 again: the first row is already there.
            assert!(
                err.to_string().contains("t row \"Q-40\" (line 102)"),
                "{err}"
            );
            drop(tx);
            assert_eq!(count().await, Some(1));
            let mut tx = Tx::Sqlite(pool.begin().await.unwrap());
            let rows = (2..=40u64).map(|line| {
                let id = if line == 38 {
                    "P-500".to_owned()
                } else {
                    format!("R-{line}")
                };
                Feed(line, id)
            });
            let err = tx
                .bulk_load("loading t", "t", &["id", "n"], rows, &|_| {})
                .await
                .unwrap_err();
            assert!(
                err.to_string().contains("t row \"P-500\" (line 38)"),
                "{err}"
            );
            drop(tx);
            assert_eq!(count().await, Some(1));
            // A value of the wrong count is refused before SQLite runs anything.
            let mut tx = Tx::Sqlite(pool.begin().await.unwrap());
            let short = [vec![Cell::Text(Some("X".into()))]];
            assert!(matches!(
                tx.bulk_load("loading t", "t", &["id", "n"], short.iter(), &|_| {})
                    .await,
                Err(StoreError::Sqlite { .. })
            ));
            tx.commit().await.unwrap();
            assert_eq!(count().await, Some(1));
            pool.close().await;
        });
    }
}
