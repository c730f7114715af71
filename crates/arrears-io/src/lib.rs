//! Files at the edge of Arrears.
//!
//! This crate owns everything that touches the file system for the daily run: finding the
//! portfolio's tables in a folder (`NAME.csv` or `NAME.parquet`), turning their cells into
//! the domain's typed rows (every bad row reported with file, line or row, column and
//! reason), reading `arrears.toml`, and writing `accounts.csv`/`accounts.parquet`,
//! `rejects.csv` and `summary.json`. It knows no SQL and no HTTP; the engine never sees a
//! file.

pub mod config;
pub mod convert;
mod error;
pub mod extensions;
pub mod feed;
pub mod placement_file;
pub mod read;
pub mod sale_tape;
mod source;
pub mod write;

pub use error::IoError;
pub use read::{Format, ReadOutcome, TableFile, read_portfolio};
