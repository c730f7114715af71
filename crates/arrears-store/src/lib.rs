//! The store: a lender's portfolio and its daily history in SQLite (by default, one file) or
//! PostgreSQL (in production), behind one [`Store`] type.
//!
//! This crate owns everything that knows SQL: the schema and its migrations (applied on
//! [`Store::open`]), imports of portfolio files and daily feeds in one transaction each
//! ([`Store::import`], idempotent, with conflicts returned), rebuilding the domain
//! `Portfolio` for a daily run ([`Store::load_portfolio`]), one snapshot row per loan and
//! business date with the lifecycle events derived from consecutive snapshots
//! ([`Store::write_snapshot`]), and the history queries the reports read
//! ([`Store::snapshot_rows`], [`Store::loan_snapshots`], [`Store::loan_events`]). The engine never sees
//! a database; file formats stay in `arrears-io`, which also validates feeds
//! (`arrears_io::feed`) against what the store answers here ([`Store::lookup`]).
//!
//! Why an enum over `SqlitePool`/`PgPool` and not `sqlx::Any`: the PostgreSQL bulk path needs
//! `COPY … FROM STDIN` on a real `PgConnection`, which `Any` cannot give; `Any` also narrows
//! the types to a common subset and decides the backend at run time per query. With the
//! enum, each statement is compiled for both drivers (`sql.rs` is the only code that matches
//! on the backend to call sqlx), the few dialect differences (casts to `date`, reading dates
//! and instants back, JSON arrays as id sets) are spelled out in one place, and the rest of
//! the crate is written once against plain cells. Queries are run-time `sqlx::query`
//! strings: no live database or offline cache is needed to build.

mod agency;
mod allocation;
mod bureau;
mod desk;
mod facts;
mod grants;
mod import;
mod ingest_pg;
mod late;
mod legal;
mod lifecycle;
mod load;
mod messages;
mod migrate;
mod outbox;
mod pages;
mod plan_blocks;
mod policies;
mod portal_sign_in;
mod preferences;
mod sale;
mod schema;
mod service;
mod settle;
mod snapshot;
mod sql;
mod sqlite_raw;
mod target;
mod violations;
mod work;

pub use agency::{
    ActivityRecorded, AgencyAdded, AgencyPlacement, LoanPaymentRow, NewActivity, NewAgency,
    StoredAgency,
};
pub use allocation::{AgentLoad, MAX_MOVES, Move, spread};
pub use bureau::{BureauLineRecord, BureauRecordError};
pub use desk::{CALL_NOTE_MAX, CounterOffer, PromiseCancellation, ProposalAnswer, StoredAnswer};
pub use facts::{FACTS_CHANNEL, FactsChange, FactsWatch};
pub use grants::{GrantReport, TablePrivileges};
pub use import::{Conflict, ConflictColumn, ImportReport, TableCounts};
pub use ingest_pg::{BatchOutcome, DecideAt, QueuedEvent};
pub use late::{AgencyCounts, CaseMoney, RoutedPayment, SoldLoan};
pub use legal::{
    CASE_OUTCOMES, COST_KINDS, CaseFile, CaseStep, FiledCase, MEASURE_KINDS, MEASURE_STATUSES,
    MeasureStatus, NewCost, NewMeasure, ProposalsRecorded, ReferralDecision, ReferralProposal,
    StoredCost, StoredMeasure, StoredReferral, measure_allowed_at, measure_transition_allowed,
    referral_id,
};
pub use lifecycle::{
    IMPORT_SOURCE, LifecycleCounts, LifecycleError, LifecycleIssue, StoredLoanFacts, Tally,
};
pub use messages::{FoundMessage, IndexedMessage, MessageIndexState};
pub use migrate::MigrationStep;
pub use outbox::{Enqueued, NewOutboxMessage, OutboxRow, OutboxState, Release, WITHHELD};
pub use pages::{
    ActorActivity, BookInstallment, BookPayment, BookPromise, DisputeNote, LoanBook, NewSession,
    RIGHT_PARTY_OUTCOMES, Session, SessionOwner,
};
pub use policies::StoredPolicy;
pub use portal_sign_in::{NewSignInCode, SignInIssued, SignInRedeemed, sign_in_digest};
pub use preferences::{ContactPreferences, NewPlanProposal, PREFERENCE_CHANNELS, PlanProposal};
pub use sale::{NewDebtSale, NewSaleLoan, SaleRecorded, StoredDebtSale, lifecycle_sale_id};
pub use service::{
    Access, BorrowerContacts, BorrowerFlag, EventMeta, Ingested, NewContact, ServiceError,
    ServiceEvent, StoredContact, StoredUser,
};
pub use settle::{
    NewSettlement, NewWriteOffProposal, REJECTION_QUIET_DAYS, SettlementEvent, SettlementsOf,
    StoredSettlement, WriteOffDecision, WriteOffDecisionView, WriteOffProposalView, WrittenOff,
    settlement_transition_allowed,
};
pub use snapshot::{LoanEvent, SnapshotReport, SnapshotRow};
pub use target::{DbTarget, TargetError};
pub use violations::{Violation, ViolationCount};
pub use work::{
    CASE_STATUSES, CaseUpdate, NewCase, NewPlacement, NewPlan, NewWriteOff, PLAN_STATUSES, Recall,
    StatusChange, StoredCase, StoredInstallment, StoredPlacement, StoredPlan, StoredPromise,
    StoredWriteOff, WorkError, WorkMeta, case_transition_allowed, plan_transition_allowed,
};

use sql::{Dialect, Tx, Ty};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::str::FromStr;
use std::time::Duration;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// Everything that can go wrong with the store. A rejected row is not an error (it is a
/// `Reject`), nor is a conflict (it is returned in the `ImportReport`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error("could not open the store {target}: {source}")]
    Open { target: String, source: sqlx::Error },
    #[error("could not bring the schema of {target} up to date: {source}")]
    Migrate {
        target: String,
        source: sqlx::migrate::MigrateError,
    },
    /// A role that may not alter the tables opened a database whose schema is behind.
    #[error(
        "the database schema is at version {applied}, this build needs {needed}: run `arrears db migrate` as the owner role"
    )]
    SchemaBehind { applied: i64, needed: i64 },
    /// A role that may not alter the tables opened a database whose migrations do not match
    /// this build's (a failed, changed or newer migration).
    #[error("the database schema of {target} does not match this build: {detail}")]
    SchemaMismatch { target: String, detail: String },
    /// `arrears db grant` cannot do what was asked (a bad role name, a role that is the owner).
    #[error("{0}")]
    Grant(String),
    #[error("the store failed while {what}: {source}")]
    Db { what: String, source: sqlx::Error },
    /// A statement run through SQLite's C API (the bulk loads) failed on a row.
    #[error("the store failed while {what}, on {row}: {message} (SQLite code {code})")]
    Sqlite {
        what: String,
        /// The table and the row: its key, and its line in the feed when known.
        row: String,
        code: i32,
        message: String,
    },
    /// A stored value that does not read back as its domain type.
    #[error("the store holds a bad value in {table} {key}, column {column}: {detail}")]
    Corrupt {
        table: &'static str,
        key: String,
        column: &'static str,
        detail: String,
    },
    #[error(transparent)]
    Feed(#[from] arrears_io::feed::FeedError),
    /// A bug, or stored rows that break the portfolio's rules.
    #[error("internal error in the store: {0}")]
    Internal(String),
}

/// Connections of the relaxed pool: as many as the server's access-log writers.
const RELAXED_CONNECTIONS: u32 = 2;

/// The page cache of every SQLite connection (KiB): 256 MiB.
const SQLITE_CACHE_KIB: u32 = 1 << 18;

#[derive(Debug, Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A portfolio store on SQLite or PostgreSQL, migrated to the latest schema.
#[derive(Debug, Clone)]
pub struct Store {
    pool: Pool,
    /// PostgreSQL only: a small pool whose sessions run with `synchronous_commit = off`, for
    /// the access log alone (see [`Store::log_accesses`]); connected on first use.
    relaxed: Option<PgPool>,
    target: DbTarget,
}

/// What `arrears db status` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub target: String,
    pub backend: &'static str,
    /// The last migration applied, and the last this build knows.
    pub applied_version: Option<i64>,
    pub applied_description: Option<String>,
    pub latest_version: i64,
    /// Rows per portfolio table, in `Table::ALL` order.
    pub rows: Vec<(&'static str, i64)>,
    /// Business dates with a snapshot: how many, the first and the last.
    pub snapshot_dates: i64,
    pub first_snapshot: Option<String>,
    pub last_snapshot: Option<String>,
}

impl Store {
    /// Opens (creating an SQLite file if missing) and applies pending migrations, with a
    /// pool of 4 connections (enough for the commands, which run one statement at a time).
    ///
    /// On PostgreSQL a database whose schema is current is opened without any DDL, so a role
    /// that may not alter the tables (the service role of `arrears db grant`) can open it; one
    /// that is behind is migrated when the connected role owns the tables (or, on a fresh
    /// database, may create them), and otherwise refused with [`StoreError::SchemaBehind`].
    pub async fn open(target: &DbTarget) -> Result<Store, StoreError> {
        Store::open_with(target, 4).await
    }

    /// `arrears db migrate`: [`Store::open`], telling `progress` of each migration it
    /// applies (before and after).
    pub async fn migrate(
        target: &DbTarget,
        progress: &(dyn Fn(MigrationStep) + Sync),
    ) -> Result<Store, StoreError> {
        Store::open_inner(target, 4, progress).await
    }

    /// [`Store::open`] with a pool of up to `max_connections` (at least 1). The service wants
    /// many on PostgreSQL: concurrent commits share one WAL flush, so commits per second grow
    /// with the connections committing at once. SQLite takes at most 8 (one writer anyway).
    pub async fn open_with(target: &DbTarget, max_connections: u32) -> Result<Store, StoreError> {
        Store::open_inner(target, max_connections, &|_| {}).await
    }

    async fn open_inner(
        target: &DbTarget,
        max_connections: u32,
        progress: &(dyn Fn(MigrationStep) + Sync),
    ) -> Result<Store, StoreError> {
        let max_connections = max_connections.max(1);
        let open_err = |source| StoreError::Open {
            target: target.to_string(),
            source,
        };
        let mut relaxed = None;
        let pool = match target {
            DbTarget::Sqlite(path) => {
                let opts = SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    // WAL: readers never block the writer, and a killed writer leaves the
                    // last committed state. NORMAL sync is durable across process crashes.
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(60))
                    .pragma("temp_store", "memory")
                    .pragma("cache_size", format!("-{SQLITE_CACHE_KIB}"));
                let pool = SqlitePoolOptions::new()
                    .max_connections(max_connections.min(8))
                    .connect_with(opts)
                    .await
                    .map_err(open_err)?;
                migrate::sqlite(&pool, &SQLITE_MIGRATIONS, target, progress).await?;
                Pool::Sqlite(pool)
            }
            DbTarget::Postgres(url) => {
                let opts = PgConnectOptions::from_str(url).map_err(open_err)?;
                relaxed = Some(
                    PgPoolOptions::new()
                        .max_connections(RELAXED_CONNECTIONS)
                        .connect_lazy_with(opts.clone().options([("synchronous_commit", "off")])),
                );
                let pool = PgPoolOptions::new()
                    .max_connections(max_connections)
                    .connect_with(opts)
                    .await
                    .map_err(open_err)?;
                migrate::postgres(&pool, &POSTGRES_MIGRATIONS, target, progress).await?;
                Pool::Postgres(pool)
            }
        };
        Ok(Store {
            pool,
            relaxed,
            target: target.clone(),
        })
    }

    pub fn target(&self) -> &DbTarget {
        &self.target
    }

    /// Closes the pool (waits for connections to be returned).
    pub async fn close(self) {
        if let Some(p) = self.relaxed {
            p.close().await;
        }
        match self.pool {
            Pool::Sqlite(p) => p.close().await,
            Pool::Postgres(p) => p.close().await,
        }
    }

    pub(crate) fn dialect(&self) -> Dialect {
        match self.pool {
            Pool::Sqlite(_) => Dialect::Sqlite,
            Pool::Postgres(_) => Dialect::Postgres,
        }
    }

    pub(crate) async fn begin(&self) -> Result<Tx, StoreError> {
        let err = |source| StoreError::Db {
            what: "starting a transaction".into(),
            source,
        };
        Ok(match &self.pool {
            Pool::Sqlite(p) => Tx::Sqlite(p.begin().await.map_err(err)?),
            Pool::Postgres(p) => Tx::Postgres(p.begin().await.map_err(err)?),
        })
    }

    /// A transaction that sees one consistent state for all its reads.
    pub(crate) async fn begin_read(&self) -> Result<Tx, StoreError> {
        let mut tx = self.begin().await?;
        if tx.dialect() == Dialect::Postgres {
            tx.exec(
                "starting a read",
                "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY",
                &[],
            )
            .await?;
        }
        Ok(tx)
    }

    /// One statement in a transaction of its own; the rows it changed.
    pub(crate) async fn exec_once(
        &self,
        what: &str,
        sql: &str,
        args: &[sql::Cell],
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin().await?;
        let n = tx.exec(what, sql, args).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// One query, a consistent read of its own (one statement: no BEGIN/COMMIT needed).
    pub(crate) async fn fetch_once(
        &self,
        what: &str,
        sql: &str,
        args: &[sql::Cell],
        tys: &[Ty],
    ) -> Result<Vec<Vec<sql::Cell>>, StoreError> {
        sql::fetch_all_pooled(&self.pool, what, sql, args, tys).await
    }

    /// The applied schema version and what the store holds.
    pub async fn status(&self) -> Result<Status, StoreError> {
        let latest = match self.pool {
            Pool::Sqlite(_) => &SQLITE_MIGRATIONS,
            Pool::Postgres(_) => &POSTGRES_MIGRATIONS,
        }
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap_or(0);
        let mut tx = self.begin_read().await?;
        let applied = tx
            .fetch_all(
                "reading the applied migrations",
                "SELECT version, description FROM _sqlx_migrations WHERE success \
                 ORDER BY version DESC LIMIT 1",
                &[],
                &[Ty::Int, Ty::Text],
            )
            .await?;
        let (applied_version, applied_description) = match applied.first() {
            Some(r) => (r[0].int(), r[1].text().map(str::to_owned)),
            None => (None, None),
        };
        let mut rows = Vec::new();
        for t in schema::TABLES {
            let n = tx
                .fetch_all(
                    "counting rows",
                    &format!("SELECT CAST(COUNT(*) AS BIGINT) FROM {}", t.name),
                    &[],
                    &[Ty::Int],
                )
                .await?;
            rows.push((t.name, n.first().and_then(|r| r[0].int()).unwrap_or(0)));
        }
        let d = self.dialect();
        let snaps = tx
            .fetch_all(
                "reading snapshot dates",
                &format!(
                    "SELECT CAST(COUNT(*) AS BIGINT), {}, {} FROM (SELECT DISTINCT as_of FROM snapshots) d",
                    d.select("MIN(as_of)", Ty::Date),
                    d.select("MAX(as_of)", Ty::Date)
                ),
                &[],
                &[Ty::Int, Ty::Date, Ty::Date],
            )
            .await?;
        tx.commit().await?;
        let (snapshot_dates, first_snapshot, last_snapshot) = match snaps.first() {
            Some(r) => (
                r[0].int().unwrap_or(0),
                r[1].text().map(str::to_owned),
                r[2].text().map(str::to_owned),
            ),
            None => (0, None, None),
        };
        Ok(Status {
            target: self.target.to_string(),
            backend: self.target.backend_name(),
            applied_version,
            applied_description,
            latest_version: latest,
            rows,
            snapshot_dates,
            first_snapshot,
            last_snapshot,
        })
    }
}

/// A feed read and validated against the store: its accepted rows, its rejects (in the
/// shape `arrears_io::write` takes), and what the store held of its ids when it was read,
/// which tells `Store::import` the new rows (loaded straight into their tables) from the
/// rows to compare with stored ones (staged and merged).
#[derive(Debug)]
pub struct Feed {
    pub rows: arrears_io::feed::FeedRows,
    pub report: arrears_io::ReadOutcome,
    known: arrears_io::feed::Known,
}

/// Reads a portfolio folder or daily feed against the store: the survey, the store's answer
/// ([`Store::lookup`]) and the validating read (`arrears_io::feed`). Blocking file work runs
/// on tokio's blocking pool.
pub async fn read_feed(
    store: &Store,
    dir: &std::path::Path,
    progress: std::sync::Arc<dyn Fn(arrears_domain::Table, u64) + Send + Sync>,
) -> Result<Feed, StoreError> {
    use arrears_io::feed;
    let join = |e: tokio::task::JoinError| StoreError::Internal(format!("reading task: {e}"));
    let d = dir.to_owned();
    // Into an empty store (a first full load) the store knows none of the ids: the survey,
    // a whole extra pass over the files, would find nothing to ask about.
    let survey = !store.holds_no_portfolio().await?;
    let (files, mentions) = tokio::task::spawn_blocking(move || {
        let files = feed::locate_feed(&d)?;
        let mentions = if survey {
            Some(feed::survey(&files)?)
        } else {
            None
        };
        Ok::<_, feed::FeedError>((files, mentions))
    })
    .await
    .map_err(join)??;
    let known = match mentions {
        Some(m) => store.lookup(&m).await?,
        None => arrears_io::feed::Known::default(),
    };
    let (outcome, known) = tokio::task::spawn_blocking(move || {
        let outcome = feed::read_feed(files, &known, &*progress);
        (outcome, known)
    })
    .await
    .map_err(join)?;
    let outcome = outcome?;
    Ok(Feed {
        rows: outcome.rows,
        report: outcome.report,
        known,
    })
}
