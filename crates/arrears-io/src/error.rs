use std::path::PathBuf;

/// A problem with a whole file or folder (a bad row is a `Reject`, not an `IoError`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IoError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: the portfolio has no {table} table (expected {table}.csv or {table}.parquet)")]
    MissingTable { path: PathBuf, table: &'static str },
    #[error("{path}: both {table}.csv and {table}.parquet exist; keep one")]
    AmbiguousTable { path: PathBuf, table: &'static str },
    #[error("{path}: required column {column:?} is missing")]
    MissingColumn { path: PathBuf, column: &'static str },
    #[error("{path}: column {column:?} appears more than once in the header")]
    DuplicateColumn { path: PathBuf, column: String },
    #[error("{path}: column {column:?} has Parquet type {found}, expected {expected}")]
    ColumnType {
        path: PathBuf,
        column: &'static str,
        found: String,
        expected: &'static str,
    },
    #[error("{path}: not a readable CSV file: {reason}")]
    Csv { path: PathBuf, reason: String },
    #[error("{path}: not a readable Parquet file: {reason}")]
    Parquet { path: PathBuf, reason: String },
    #[error("{path}: {reason}")]
    Config { path: PathBuf, reason: String },
    #[error("{path}: could not write: {reason}")]
    Write { path: PathBuf, reason: String },
}

impl IoError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        IoError::Io {
            path: path.into(),
            source,
        }
    }
}
