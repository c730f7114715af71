//! The one place that talks to sqlx: a transaction on either backend, statements with
//! positional arguments (`$1`, which both SQLite and PostgreSQL accept), rows streamed to a
//! callback as plain cells, bulk loads (batched multi-row INSERTs on SQLite, COPY on
//! PostgreSQL), and the few spellings that differ between the two dialects.

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
    pub(crate) fn boolean(&self) -> Option<bool> {
        match self {
            Cell::Bool(v) => *v,
            // SQLite computes comparisons as integers.
            Cell::Int(v) => v.map(|i| i != 0),
            _ => None,
        }
    }
}

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

    /// Loads rows into `table (cols)`: COPY on PostgreSQL, multi-row INSERTs on SQLite.
    /// `rows` yields each row's cells in column order; `progress(rows_so_far)` after each
    /// batch.
    pub(crate) async fn bulk_load<I>(
        &mut self,
        what: &str,
        table: &str,
        cols: &[&str],
        rows: I,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<u64, StoreError>
    where
        I: Iterator<Item = Vec<Cell>>,
    {
        let mut done = 0u64;
        match self {
            Tx::Postgres(tx) => {
                const CHUNK_BYTES: usize = 1 << 20;
                let sql = format!("COPY {table} ({}) FROM STDIN (FORMAT csv)", cols.join(", "));
                let mut copy = tx.copy_in_raw(&sql).await.map_err(db(what))?;
                let mut buf: Vec<u8> = Vec::with_capacity(CHUNK_BYTES + 4096);
                for row in rows {
                    copy_line(&mut buf, &row);
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
                // SQLite allows 32766 parameters a statement; a few hundred rows a batch is
                // past the point of diminishing returns.
                let per_batch = (32_000 / cols.len().max(1)).clamp(1, 500);
                // Anonymous `?` placeholders, bound in order: sqlx asks SQLite for each
                // parameter's name, which for named ones (`$n`) is a linear search, so a
                // statement of k named parameters binds in O(k²); with `?` it is O(k).
                let insert = |n: usize| {
                    let row = format!("({})", vec!["?"; cols.len()].join(","));
                    format!(
                        "INSERT INTO {table} ({}) VALUES {}",
                        cols.join(", "),
                        vec![row; n].join(",")
                    )
                };
                let full = insert(per_batch);
                let mut batch: Vec<Cell> = Vec::with_capacity(per_batch * cols.len());
                let mut in_batch = 0usize;
                let mut rows = rows.peekable();
                while rows.peek().is_some() {
                    batch.clear();
                    in_batch = 0;
                    for row in rows.by_ref().take(per_batch) {
                        batch.extend(row);
                        in_batch += 1;
                    }
                    let sql = if in_batch == per_batch {
                        std::borrow::Cow::Borrowed(full.as_str())
                    } else {
                        std::borrow::Cow::Owned(insert(in_batch))
                    };
                    bind_all!(sqlx::query(audited(&sql)), &batch)
                        .execute(&mut **tx)
                        .await
                        .map_err(db(what))?;
                    done += in_batch as u64;
                    if done.is_multiple_of(per_batch as u64 * 64) {
                        progress(done);
                    }
                }
                let _ = in_batch;
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

/// One row in PostgreSQL's CSV COPY format: NULL is an unquoted empty field, text is always
/// quoted (so an empty string stays a string), booleans `t`/`f`.
fn copy_line(buf: &mut Vec<u8>, row: &[Cell]) {
    for (i, c) in row.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        match c {
            Cell::Int(Some(v)) => buf.extend_from_slice(v.to_string().as_bytes()),
            Cell::Bool(Some(v)) => buf.push(if *v { b't' } else { b'f' }),
            Cell::Text(Some(s)) => {
                buf.push(b'"');
                for b in s.bytes() {
                    if b == b'"' {
                        buf.push(b'"');
                    }
                    buf.push(b);
                }
                buf.push(b'"');
            }
            Cell::Int(None) | Cell::Bool(None) | Cell::Text(None) => {}
        }
    }
    buf.push(b'\n');
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
                Cell::Text(Some("a\"b,c".into())),
                Cell::Int(Some(-5)),
                Cell::Text(None),
                Cell::Bool(Some(true)),
                Cell::Text(Some(String::new())),
            ],
        );
        assert_eq!(String::from_utf8(b).unwrap(), "\"a\"\"b,c\",-5,,t,\"\"\n");
    }

    #[test]
    fn json_arrays_escape() {
        assert_eq!(
            json_array(["a\"b", "c\\d", "e\nf"].into_iter()),
            r#"["a\"b","c\\d","e\u000af"]"#
        );
    }
}
