//! The schema on open: which migrations a database has, which this build knows, and whether
//! the connected role may apply the missing ones.
//!
//! On PostgreSQL two roles use one database (docs/store.md, "Database roles"): the owner,
//! which created the tables and alone may alter them (`arrears db migrate`), and the
//! service role (`arrears db grant`), which may read and write rows but run no DDL. Opening
//! a database that is at this build's version runs no DDL at all, so the service role can
//! open it; opening one that is behind applies the missing migrations when the role may
//! (the owner, or any role on a fresh database it may create tables in) and otherwise
//! fails with a sentence that says who should migrate. SQLite has one role: the file's.

use crate::StoreError;
use crate::target::DbTarget;
use sqlx::Row;
use sqlx::migrate::{Migration, Migrator};
use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;
use std::collections::HashMap;

/// A migration `arrears db migrate` is applying (`done` false) or has applied (`done` true).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStep {
    pub version: i64,
    pub description: String,
    pub done: bool,
}

/// How a database's applied migrations compare with this build's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Compared {
    /// Every migration this build knows is applied, unchanged, and no other.
    Current,
    /// Some are missing (in version order); the applied ones match.
    Behind { applied: i64, missing: Vec<i64> },
    /// Something no migration can fix: a failed, changed or unknown migration.
    Mismatch(String),
}

/// One row of `_sqlx_migrations`.
#[derive(Debug, Clone)]
pub(crate) struct Applied {
    pub version: i64,
    pub success: bool,
    pub checksum: Vec<u8>,
}

/// The newest version this build's migrations reach.
pub(crate) fn latest(m: &Migrator) -> i64 {
    ups(m).map(|m| m.version).max().unwrap_or(0)
}

fn ups(m: &Migrator) -> impl Iterator<Item = &Migration> {
    m.iter().filter(|m| !m.migration_type.is_down_migration())
}

pub(crate) fn compare(m: &Migrator, applied: &[Applied]) -> Compared {
    if let Some(a) = applied.iter().find(|a| !a.success) {
        return Compared::Mismatch(format!(
            "migration {} failed partway and left the schema dirty",
            a.version
        ));
    }
    let known: HashMap<i64, &Migration> = ups(m).map(|m| (m.version, m)).collect();
    if let Some(a) = applied.iter().find(|a| !known.contains_key(&a.version)) {
        return Compared::Mismatch(format!(
            "migration {} is applied but this build does not know it (a newer build migrated \
             this database; this build needs {})",
            a.version,
            latest(m)
        ));
    }
    let by_version: HashMap<i64, &Applied> = applied.iter().map(|a| (a.version, a)).collect();
    let mut missing = Vec::new();
    for k in ups(m) {
        match by_version.get(&k.version) {
            Some(a) if a.checksum != *k.checksum => {
                return Compared::Mismatch(format!(
                    "migration {} was applied from a different text than this build's",
                    k.version
                ));
            }
            Some(_) => {}
            None => missing.push(k.version),
        }
    }
    missing.sort_unstable();
    if missing.is_empty() {
        Compared::Current
    } else {
        Compared::Behind {
            applied: applied.iter().map(|a| a.version).max().unwrap_or(0),
            missing,
        }
    }
}

/// What a PostgreSQL database holds of the migrations, and whether the connected role may
/// apply more: it owns the migrations table (or is a member of its owner, or a superuser),
/// or, on a database without one, may create tables in the current schema.
pub(crate) async fn pg_state(pool: &PgPool) -> Result<(Vec<Applied>, bool), sqlx::Error> {
    let row = sqlx::query(
        "SELECT to_regclass('_sqlx_migrations') IS NOT NULL, \
         CASE WHEN to_regclass('_sqlx_migrations') IS NULL \
              THEN COALESCE(has_schema_privilege(current_schema(), 'CREATE'), false) \
              ELSE pg_has_role((SELECT relowner FROM pg_class \
                                WHERE oid = to_regclass('_sqlx_migrations')), 'USAGE') END",
    )
    .fetch_one(pool)
    .await?;
    let (exists, may_migrate): (bool, bool) = (row.try_get(0)?, row.try_get(1)?);
    if !exists {
        return Ok((Vec::new(), may_migrate));
    }
    let rows = sqlx::query("SELECT version, success, checksum FROM _sqlx_migrations")
        .fetch_all(pool)
        .await?;
    let applied = rows
        .iter()
        .map(|r| {
            Ok(Applied {
                version: r.try_get(0)?,
                success: r.try_get(1)?,
                checksum: r.try_get(2)?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok((applied, may_migrate))
}

async fn sqlite_state(pool: &SqlitePool) -> Result<Vec<Applied>, sqlx::Error> {
    let exists = sqlx::query(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_optional(pool)
    .await?
    .is_some();
    if !exists {
        return Ok(Vec::new());
    }
    let rows = sqlx::query("SELECT version, success, checksum FROM _sqlx_migrations")
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Applied {
                version: r.try_get(0)?,
                success: r.try_get(1)?,
                checksum: r.try_get(2)?,
            })
        })
        .collect()
}

fn describe(m: &Migrator, version: i64) -> String {
    m.iter()
        .find(|x| x.version == version)
        .map(|x| x.description.to_string())
        .unwrap_or_default()
}

fn migrate_err(target: &DbTarget) -> impl Fn(sqlx::migrate::MigrateError) -> StoreError + '_ {
    |source| StoreError::Migrate {
        target: target.to_string(),
        source,
    }
}

fn read_err(target: &DbTarget) -> impl Fn(sqlx::Error) -> StoreError + '_ {
    |source| StoreError::Open {
        target: target.to_string(),
        source,
    }
}

/// SQLite: applies the missing migrations one at a time, telling `progress` of each, then
/// lets sqlx check the whole (as every open always has).
pub(crate) async fn sqlite(
    pool: &SqlitePool,
    m: &Migrator,
    target: &DbTarget,
    progress: &(dyn Fn(MigrationStep) + Sync),
) -> Result<(), StoreError> {
    let applied = sqlite_state(pool).await.map_err(read_err(target))?;
    if let Compared::Behind { missing, .. } = compare(m, &applied) {
        for v in missing {
            step(m, v, progress, async {
                m.run_to(v, pool).await.map_err(migrate_err(target))
            })
            .await?;
        }
    }
    m.run(pool).await.map_err(migrate_err(target))
}

/// PostgreSQL: nothing to do (and no DDL run) when the schema is current; the missing
/// migrations applied one at a time when the connected role may; otherwise a plain refusal.
pub(crate) async fn postgres(
    pool: &PgPool,
    m: &Migrator,
    target: &DbTarget,
    progress: &(dyn Fn(MigrationStep) + Sync),
) -> Result<(), StoreError> {
    let (applied, may_migrate) = pg_state(pool).await.map_err(read_err(target))?;
    match compare(m, &applied) {
        Compared::Current => Ok(()),
        Compared::Behind { missing, .. } if may_migrate => {
            for v in missing {
                step(m, v, progress, async {
                    m.run_to(v, pool).await.map_err(migrate_err(target))
                })
                .await?;
            }
            // The same checks every open made before: a concurrent migrator, a dirty row.
            m.run(pool).await.map_err(migrate_err(target))
        }
        // The owner gets sqlx's own account of what is wrong, as before.
        Compared::Mismatch(_) if may_migrate => m.run(pool).await.map_err(migrate_err(target)),
        Compared::Behind { applied, .. } => Err(StoreError::SchemaBehind {
            applied,
            needed: latest(m),
        }),
        Compared::Mismatch(detail) => Err(StoreError::SchemaMismatch {
            target: target.to_string(),
            detail,
        }),
    }
}

async fn step(
    m: &Migrator,
    version: i64,
    progress: &(dyn Fn(MigrationStep) + Sync),
    run: impl Future<Output = Result<(), StoreError>>,
) -> Result<(), StoreError> {
    let description = describe(m, version);
    progress(MigrationStep {
        version,
        description: description.clone(),
        done: false,
    });
    run.await?;
    progress(MigrationStep {
        version,
        description,
        done: true,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied_all(m: &Migrator) -> Vec<Applied> {
        ups(m)
            .map(|x| Applied {
                version: x.version,
                success: true,
                checksum: x.checksum.to_vec(),
            })
            .collect()
    }

    #[test]
    fn compares_applied_migrations_with_the_builds() {
        let m = &crate::POSTGRES_MIGRATIONS;
        let all = applied_all(m);
        let last = latest(m);
        assert!(last >= 15, "{last}");
        assert_eq!(compare(m, &all), Compared::Current);
        let behind: Vec<Applied> = all.iter().filter(|a| a.version < 10).cloned().collect();
        match compare(m, &behind) {
            Compared::Behind { applied, missing } => {
                assert_eq!(applied, 9);
                assert_eq!(missing.first(), Some(&10));
                assert_eq!(missing.last(), Some(&last));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            compare(m, &[]),
            Compared::Behind {
                applied: 0,
                missing: ups(m).map(|x| x.version).collect()
            }
        );
        let mut dirty = all.clone();
        dirty[2].success = false;
        assert!(matches!(compare(m, &dirty), Compared::Mismatch(d) if d.contains("dirty")));
        let mut changed = all.clone();
        changed[1].checksum = vec![0; 4];
        assert!(matches!(compare(m, &changed), Compared::Mismatch(d) if d.contains("different")));
        let mut newer = all;
        newer.push(Applied {
            version: last + 1000,
            success: true,
            checksum: Vec::new(),
        });
        assert!(matches!(compare(m, &newer), Compared::Mismatch(d) if d.contains("newer build")));
    }
}
