//! Bulk inserts on SQLite through its C API, on the connection (and so inside the
//! transaction) that sqlx holds.
//!
//! sqlx's SQLite driver boxes every bound value (an owned copy and an `Arc` per text value),
//! parses a multi-row `INSERT` per batch and hands the statement to its worker thread; for a
//! load of 20M rows that is most of the time. Here an `INSERT` (of one or several rows) is
//! prepared once and, for each set of rows, bound from borrowed values (`Val`), stepped and
//! reset, on the raw `sqlite3` handle of a `LockedSqliteHandle`: sqlx's worker thread does
//! not touch the connection while the lock is held, and the statements run in whatever
//! transaction the connection is in, so an import's atomicity is unchanged.
//!
//! This is the one module with `unsafe` code. Its safe API: [`Insert::prepare`] borrows the
//! locked handle for as long as the statement lives, [`Insert::insert`] binds one value per
//! parameter, steps and resets, dropping an `Insert` finalizes the statement, and
//! [`in_transaction`] tells whether SQLite still holds the transaction. `libsqlite3-sys` is
//! the exact version sqlx links (one copy of SQLite: `cargo tree -i libsqlite3-sys`).

#![allow(unsafe_code)]

use crate::sql::Val;
use libsqlite3_sys as ffi;
use sqlx::sqlite::LockedSqliteHandle;
use std::ffi::{CStr, c_char, c_int};
use std::marker::PhantomData;
use std::ptr::NonNull;

/// What SQLite said when a statement failed: its extended result code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SqliteFailure {
    pub code: i32,
    pub message: String,
}

/// A prepared statement on a locked connection, stepped once per row of values.
pub(crate) struct Insert<'h> {
    db: NonNull<ffi::sqlite3>,
    stmt: NonNull<ffi::sqlite3_stmt>,
    params: usize,
    /// The statement must not outlive the lock on the connection (while it is held, sqlx's
    /// worker thread makes no call on the handle), nor may two users of the handle overlap:
    /// an `Insert` holds the exclusive borrow of the locked handle it was prepared on.
    _lock: PhantomData<&'h mut ()>,
}

impl std::fmt::Debug for Insert<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Insert")
            .field("params", &self.params)
            .finish()
    }
}

/// The connection's last error, as SQLite words it.
fn failure(db: NonNull<ffi::sqlite3>, code: c_int) -> SqliteFailure {
    // SAFETY: `db` is the open connection of a locked handle (see `Insert::prepare`), so the
    // calls are made on a valid handle by its one current user. `sqlite3_errmsg` returns a
    // NUL-terminated UTF-8 string owned by SQLite that stays valid until the next call on
    // the connection; it is copied out here before any other call. It is never null for a
    // valid handle ("out of memory" at worst), but that is checked anyway.
    let message = unsafe {
        let p = ffi::sqlite3_errmsg(db.as_ptr());
        if p.is_null() {
            String::new()
        } else {
            CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    };
    // SAFETY: as above; `sqlite3_extended_errcode` only reads the connection's error state.
    let extended = unsafe { ffi::sqlite3_extended_errcode(db.as_ptr()) };
    SqliteFailure {
        code: if extended != 0 { extended } else { code },
        message,
    }
}

impl<'h> Insert<'h> {
    /// Prepares `sql` (one statement with `?` parameters) on the locked connection.
    pub(crate) fn prepare(
        handle: &'h mut LockedSqliteHandle<'_>,
        sql: &str,
    ) -> Result<Insert<'h>, SqliteFailure> {
        let db = handle.as_raw_handle();
        let len = c_int::try_from(sql.len()).map_err(|_| SqliteFailure {
            code: ffi::SQLITE_TOOBIG,
            message: "the statement is too long".into(),
        })?;
        let mut stmt: *mut ffi::sqlite3_stmt = std::ptr::null_mut();
        // SAFETY: `db` is a valid, open connection: `LockedSqliteHandle` owns it for as long
        // as `handle` lives and guarantees that sqlx's worker thread makes no call on it or
        // its statements meanwhile, and `handle` is borrowed exclusively for 'h, so this is
        // the only user. `sql` points to `len` bytes of UTF-8 that outlive the call (SQLite
        // copies what it needs into the statement; a byte count is given, so no NUL is
        // needed). `stmt` is a valid out-pointer; the tail pointer may be null.
        let rc = unsafe {
            ffi::sqlite3_prepare_v3(
                db.as_ptr(),
                sql.as_ptr().cast::<c_char>(),
                len,
                ffi::SQLITE_PREPARE_PERSISTENT,
                &mut stmt,
                std::ptr::null_mut(),
            )
        };
        if rc != ffi::SQLITE_OK {
            // On failure SQLite sets `stmt` to null: there is nothing to finalize.
            return Err(failure(db, rc));
        }
        let Some(stmt) = NonNull::new(stmt) else {
            return Err(SqliteFailure {
                code: ffi::SQLITE_MISUSE,
                message: "the statement is empty".into(),
            });
        };
        // SAFETY: `stmt` was just prepared on this connection and is not finalized.
        let params = unsafe { ffi::sqlite3_bind_parameter_count(stmt.as_ptr()) };
        let insert = Insert {
            db,
            stmt,
            params: usize::try_from(params).unwrap_or(0),
            _lock: PhantomData,
        };
        Ok(insert)
    }

    /// Binds `vals` to the statement's parameters in order, steps it to completion and
    /// resets it. `vals` must have one value per parameter.
    pub(crate) fn insert(&mut self, vals: &[Val<'_>]) -> Result<(), SqliteFailure> {
        let out = self.bind_and_step(vals);
        // SAFETY: `self.stmt` is a live statement of the locked connection (see `prepare`).
        // `sqlite3_reset` ends the execution (its result repeats the step's error, already
        // captured in `out`), and `sqlite3_clear_bindings` sets every parameter to NULL, so
        // no pointer into `vals` (bound with SQLITE_STATIC below) is kept once this function
        // returns and the borrow of `vals` ends.
        unsafe {
            ffi::sqlite3_reset(self.stmt.as_ptr());
            ffi::sqlite3_clear_bindings(self.stmt.as_ptr());
        }
        out
    }

    fn bind_and_step(&mut self, vals: &[Val<'_>]) -> Result<(), SqliteFailure> {
        if vals.len() != self.params {
            return Err(SqliteFailure {
                code: ffi::SQLITE_RANGE,
                message: format!(
                    "{} values for a statement of {} parameters",
                    vals.len(),
                    self.params
                ),
            });
        }
        let stmt = self.stmt.as_ptr();
        for (i, v) in vals.iter().enumerate() {
            // Parameters are numbered from 1; `params` came from a c_int, so this fits.
            let at = c_int::try_from(i + 1).unwrap_or(c_int::MAX);
            // SAFETY: `stmt` is live (see `prepare`) and `at` is within 1..=params. For text,
            // the pointer and byte length describe `s`, which is valid UTF-8 (a `&str`) and
            // stays alive and unchanged until `insert` clears the bindings (the borrow of
            // `vals` outlives the whole call), which is what SQLITE_STATIC asks: SQLite reads
            // the bytes in place, during `sqlite3_step`, and never frees them. An empty
            // string is bound as a pointer to a static empty C string rather than the
            // dangling pointer of an empty `&str`.
            let rc = unsafe {
                match *v {
                    Val::Null => ffi::sqlite3_bind_null(stmt, at),
                    Val::Int(n) => ffi::sqlite3_bind_int64(stmt, at, n),
                    Val::Bool(b) => ffi::sqlite3_bind_int64(stmt, at, i64::from(b)),
                    Val::Text(s) => {
                        let ptr = if s.is_empty() {
                            c"".as_ptr()
                        } else {
                            s.as_ptr().cast::<c_char>()
                        };
                        ffi::sqlite3_bind_text64(
                            stmt,
                            at,
                            ptr,
                            s.len() as u64,
                            ffi::SQLITE_STATIC(),
                            ffi::SQLITE_UTF8 as u8,
                        )
                    }
                }
            };
            if rc != ffi::SQLITE_OK {
                return Err(failure(self.db, rc));
            }
        }
        // SAFETY: `stmt` is live and fully bound; stepping runs it in the connection's
        // current transaction. The bound text is valid for the whole step (see above).
        let rc = unsafe { ffi::sqlite3_step(stmt) };
        match rc {
            ffi::SQLITE_DONE => Ok(()),
            // An INSERT … RETURNING would yield rows; this API is for statements that do not.
            ffi::SQLITE_ROW => Err(SqliteFailure {
                code: rc,
                message: "the statement returned rows".into(),
            }),
            _ => Err(failure(self.db, rc)),
        }
    }
}

/// Whether the locked connection is inside a transaction (not in autocommit mode). Some
/// errors (a full disk, I/O, out of memory) make SQLite roll a transaction back by itself.
pub(crate) fn in_transaction(handle: &mut LockedSqliteHandle<'_>) -> bool {
    let db = handle.as_raw_handle();
    // SAFETY: `db` is the open connection of the locked handle, borrowed exclusively for the
    // call (see `Insert::prepare`); `sqlite3_get_autocommit` only reads its state.
    unsafe { ffi::sqlite3_get_autocommit(db.as_ptr()) == 0 }
}

impl Drop for Insert<'_> {
    fn drop(&mut self) {
        // SAFETY: `self.stmt` was prepared on the connection, which is still locked (the
        // `Insert` borrows the lock), and is finalized exactly once, here; it is not used
        // afterwards. Finalizing only reports the last step's error again, already returned.
        unsafe {
            ffi::sqlite3_finalize(self.stmt.as_ptr());
        }
    }
}
