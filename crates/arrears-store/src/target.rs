//! Where a store lives: an SQLite file or a PostgreSQL database, parsed once from the text a
//! person gives (`--db`, `ARREARS_DATABASE_URL`).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// A parsed store location. `Display` never shows a password.
#[derive(Clone, PartialEq, Eq)]
pub enum DbTarget {
    /// An SQLite database file (created if missing).
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (`postgres://user@host:port/db`).
    Postgres(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TargetError {
    #[error("the database target is empty; give a file path, sqlite:PATH or postgres://…")]
    Empty,
    #[error(
        "{0:?} is not a database target Arrears knows; give a file path, sqlite:PATH or postgres://…"
    )]
    UnknownScheme(String),
    #[error("{target} is not a usable PostgreSQL URL: {reason}")]
    BadUrl { target: String, reason: String },
    #[error("an in-memory SQLite database would vanish with the command; give a file path")]
    Memory,
}

impl DbTarget {
    /// A path to an SQLite file, `sqlite:PATH` (or `sqlite://PATH`), or
    /// `postgres://…`/`postgresql://…`.
    pub fn parse(s: &str) -> Result<DbTarget, TargetError> {
        if s.trim().is_empty() {
            return Err(TargetError::Empty);
        }
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            sqlx::postgres::PgConnectOptions::from_str(s).map_err(|e| TargetError::BadUrl {
                target: mask(s),
                reason: e.to_string(),
            })?;
            return Ok(DbTarget::Postgres(s.to_owned()));
        }
        let path = match s
            .strip_prefix("sqlite://")
            .or_else(|| s.strip_prefix("sqlite:"))
        {
            Some(p) => p,
            None if s.contains("://") => {
                let scheme = s.split("://").next().unwrap_or(s);
                return Err(TargetError::UnknownScheme(format!("{scheme}://")));
            }
            None => s,
        };
        // Query parameters (`sqlite:x.db?mode=rwc`) are not ours to interpret.
        let path = path.split('?').next().unwrap_or(path);
        if path.is_empty() {
            return Err(TargetError::Empty);
        }
        if path == ":memory:" {
            return Err(TargetError::Memory);
        }
        Ok(DbTarget::Sqlite(PathBuf::from(path)))
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            DbTarget::Sqlite(_) => "sqlite",
            DbTarget::Postgres(_) => "postgres",
        }
    }
}

impl FromStr for DbTarget {
    type Err = TargetError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DbTarget::parse(s)
    }
}

/// A PostgreSQL URL without its password.
fn mask(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}@{host}")
        }
        None => url.to_owned(),
    }
}

impl fmt::Display for DbTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbTarget::Sqlite(p) => write!(f, "sqlite:{}", p.display()),
            DbTarget::Postgres(url) => f.write_str(&mask(url)),
        }
    }
}

impl fmt::Debug for DbTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DbTarget({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_paths_and_urls() {
        assert_eq!(
            DbTarget::parse("arrears.db").unwrap(),
            DbTarget::Sqlite("arrears.db".into())
        );
        assert_eq!(
            DbTarget::parse("sqlite:/tmp/a.db").unwrap(),
            DbTarget::Sqlite("/tmp/a.db".into())
        );
        assert_eq!(
            DbTarget::parse("sqlite:///tmp/a.db?mode=rwc").unwrap(),
            DbTarget::Sqlite("/tmp/a.db".into())
        );
        let pg = DbTarget::parse("postgres://u:secret@127.0.0.1:5432/x").unwrap();
        assert_eq!(pg.backend_name(), "postgres");
        assert_eq!(pg.to_string(), "postgres://u@127.0.0.1:5432/x");
        assert!(!format!("{pg:?}").contains("secret"));
        assert_eq!(DbTarget::parse(""), Err(TargetError::Empty));
        assert_eq!(DbTarget::parse("sqlite::memory:"), Err(TargetError::Memory));
        assert!(matches!(
            DbTarget::parse("mysql://x/y"),
            Err(TargetError::UnknownScheme(_))
        ));
    }
}
