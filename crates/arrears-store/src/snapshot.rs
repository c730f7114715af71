//! Daily history: one snapshot row per loan and business date (the spec's section 6 columns,
//! keyed by `(as_of, loan_id)`), written atomically; re-running a date replaces that date's
//! rows. Each write also derives the loan lifecycle events (status, bucket and stage
//! transitions, effective on the date they first show) from the previous snapshot date, and
//! recomputes the events of the next snapshot date when an earlier date is written late.
//! Events are never deleted: a recomputation adds a new set, and `event_days` names the
//! current set of each date.

use crate::schema::int;
use crate::sql::{Cell, Tx, Ty};
use crate::{Store, StoreError};
use arrears_domain::{Config, Portfolio};
use arrears_engine::AccountState;
use arrears_io::write::loan_order;
use jiff::civil::Date;

/// What `write_snapshot` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotReport {
    pub run_id: i64,
    pub loans: u64,
    /// Loans whose snapshot of that date the write replaced (0 on a first run).
    pub replaced: u64,
    /// Lifecycle events recorded for `as_of` (and for the next snapshot date, if any).
    pub events: u64,
}

/// One loan on one business date, as stored, with the loan's currency and disbursal date
/// (which reports group by).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotRow {
    pub as_of: Date,
    pub loan_id: String,
    pub borrower_id: String,
    pub status: String,
    pub dpd: u32,
    pub bucket: String,
    pub stage: String,
    pub due_to_date_minor: i64,
    pub paid_minor: i64,
    pub overdue_minor: i64,
    pub overdue_fee_minor: i64,
    pub overdue_interest_minor: i64,
    pub overdue_principal_minor: i64,
    pub outstanding_principal_minor: i64,
    pub penalty_accrued_minor: i64,
    pub penalty_paid_minor: i64,
    pub penalty_rate_capped: bool,
    pub credit_minor: i64,
    pub oldest_unpaid_due_date: Option<Date>,
    pub last_payment_date: Option<Date>,
    pub currency: String,
    pub disbursed_on: Date,
}

/// A lifecycle event: a loan's status, bucket or stage changed, effective on a date.
/// `from` is empty for a loan first seen after the store's first snapshot date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoanEvent {
    pub loan_id: String,
    pub effective_on: Date,
    pub kind: String,
    pub from: Option<String>,
    pub to: String,
    pub run_id: i64,
}

/// The snapshot columns in order (spec section 6, plus the run that wrote the row).
const SNAPSHOT_COLUMNS: [(&str, Ty); 21] = [
    ("as_of", Ty::Date),
    ("loan_id", Ty::Text),
    ("run_id", Ty::Int),
    ("borrower_id", Ty::Text),
    ("status", Ty::Text),
    ("dpd", Ty::Int),
    ("bucket", Ty::Text),
    ("stage", Ty::Text),
    ("due_to_date_minor", Ty::Int),
    ("paid_minor", Ty::Int),
    ("overdue_minor", Ty::Int),
    ("overdue_fee_minor", Ty::Int),
    ("overdue_interest_minor", Ty::Int),
    ("overdue_principal_minor", Ty::Int),
    ("outstanding_principal_minor", Ty::Int),
    ("penalty_accrued_minor", Ty::Int),
    ("penalty_paid_minor", Ty::Int),
    ("penalty_rate_capped", Ty::Bool),
    ("credit_minor", Ty::Int),
    ("oldest_unpaid_due_date", Ty::Date),
    ("last_payment_date", Ty::Date),
];

const EVENT_KINDS: [&str; 3] = ["status", "bucket", "stage"];

fn date_cell(d: Option<Date>) -> Cell {
    Cell::Text(d.map(|d| d.to_string()))
}

fn parse_date(s: Option<&str>) -> Option<Date> {
    s.and_then(|s| s.parse().ok())
}

impl Store {
    /// Writes the run of `as_of` (states[i] belongs to portfolio.loans[i], as `run_day`
    /// returns them) in one transaction, replacing an earlier run of the same date, and
    /// records the lifecycle events. The portfolio must be the store's (`load_portfolio`):
    /// every loan must be stored.
    pub async fn write_snapshot(
        &self,
        as_of: Date,
        portfolio: &Portfolio,
        states: &[AccountState],
        config: &Config,
    ) -> Result<SnapshotReport, StoreError> {
        if states.len() != portfolio.loans.len() {
            return Err(StoreError::Internal(format!(
                "{} account states for {} loans",
                states.len(),
                portfolio.loans.len()
            )));
        }
        let mut tx = self.begin().await?;
        let d = tx.dialect();
        let day = date_cell(Some(as_of));
        let run = tx
            .fetch_all(
                "recording the run",
                &format!(
                    "INSERT INTO runs (as_of, loans, business_timezone, buckets, stages) \
                     VALUES ({}, $2, $3, $4, $5) RETURNING {}",
                    d.param(1, Ty::Date),
                    d.select("run_id", Ty::Int)
                ),
                &[
                    day.clone(),
                    int(i64::try_from(states.len()).unwrap_or(i64::MAX)),
                    Cell::Text(Some(config.business_tz.name().to_owned())),
                    Cell::Text(Some(config.buckets.names().join(","))),
                    Cell::Text(Some(config.stages.names().join(","))),
                ],
                &[Ty::Int],
            )
            .await?;
        let run_id = run
            .first()
            .and_then(|r| r[0].int())
            .ok_or_else(|| StoreError::Internal("the new run has no id".into()))?;
        let replaced = tx
            .exec(
                "replacing the date's snapshot",
                &format!(
                    "DELETE FROM snapshots WHERE as_of = {}",
                    d.param(1, Ty::Date)
                ),
                std::slice::from_ref(&day),
            )
            .await?;
        let order = loan_order(portfolio);
        let as_of_text = as_of.to_string();
        let cols: Vec<&str> = SNAPSHOT_COLUMNS.iter().map(|(c, _)| *c).collect();
        let rows = order.iter().map(|&i| {
            let l = &portfolio.loans[i as usize];
            let s = &states[i as usize];
            let borrower = portfolio
                .borrower_of(l)
                .map(|b| b.id.as_str())
                .unwrap_or("");
            vec![
                Cell::Text(Some(as_of_text.clone())),
                Cell::Text(Some(l.id.as_str().to_owned())),
                int(run_id),
                Cell::Text(Some(borrower.to_owned())),
                Cell::Text(Some(s.status.code().to_owned())),
                int(i64::from(s.dpd)),
                Cell::Text(Some(config.buckets.name(usize::from(s.bucket)).to_owned())),
                Cell::Text(Some(config.stages.name(usize::from(s.stage)).to_owned())),
                int(s.due_to_date_minor),
                int(s.paid_minor),
                int(s.overdue_minor),
                int(s.overdue_fee_minor),
                int(s.overdue_interest_minor),
                int(s.overdue_principal_minor),
                int(s.outstanding_principal_minor),
                int(s.penalty_accrued_minor),
                int(s.penalty_paid_minor),
                Cell::Bool(Some(s.penalty_rate_capped)),
                int(s.credit_minor),
                date_cell(s.oldest_unpaid_due_date),
                date_cell(s.last_payment_date),
            ]
        });
        let loans = tx
            .bulk_load("writing the snapshot", "snapshots", &cols, rows, &|_| {})
            .await?;

        // Lifecycle events of this date against the previous snapshot date, and of the next
        // snapshot date against this one (it has a new predecessor when dates run late).
        let neighbour = |agg: &str, op: &str| {
            format!(
                "SELECT {} FROM snapshots WHERE as_of {op} {}",
                d.select(&format!("{agg}(as_of)"), Ty::Date),
                d.param(1, Ty::Date)
            )
        };
        let one_date = |rows: Vec<Vec<Cell>>| parse_date(rows.first().and_then(|r| r[0].text()));
        let prev = one_date(
            tx.fetch_all(
                "finding the previous date",
                &neighbour("MAX", "<"),
                std::slice::from_ref(&day),
                &[Ty::Date],
            )
            .await?,
        );
        let next = one_date(
            tx.fetch_all(
                "finding the next date",
                &neighbour("MIN", ">"),
                std::slice::from_ref(&day),
                &[Ty::Date],
            )
            .await?,
        );
        let mut events = record_events(&mut tx, as_of, prev, run_id).await?;
        if let Some(next) = next {
            events += record_events(&mut tx, next, Some(as_of), run_id).await?;
        }
        tx.commit().await?;
        Ok(SnapshotReport {
            run_id,
            loans,
            replaced,
            events,
        })
    }

    /// Business dates with a snapshot in `from..=to`, in order.
    pub async fn snapshot_dates(&self, from: Date, to: Date) -> Result<Vec<Date>, StoreError> {
        let d = self.dialect();
        let rows = self
            .fetch_once(
                "listing snapshot dates",
                &format!(
                    "SELECT DISTINCT {} FROM snapshots WHERE as_of >= {} AND as_of <= {} ORDER BY 1",
                    d.select("as_of", Ty::Date),
                    d.param(1, Ty::Date),
                    d.param(2, Ty::Date)
                ),
                &[date_cell(Some(from)), date_cell(Some(to))],
                &[Ty::Date],
            )
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| parse_date(r[0].text()))
            .collect())
    }

    /// The snapshot of one date, in loan_id order, with each loan's currency and disbursal
    /// date.
    pub async fn snapshot_rows(&self, as_of: Date) -> Result<Vec<SnapshotRow>, StoreError> {
        let p = self.dialect().param(1, Ty::Date);
        self.select_snapshots(
            &format!("s.as_of = {p} ORDER BY s.loan_id"),
            date_cell(Some(as_of)),
        )
        .await
    }

    /// One loan on every business date with a snapshot, oldest first: its history.
    pub async fn loan_snapshots(&self, loan_id: &str) -> Result<Vec<SnapshotRow>, StoreError> {
        self.select_snapshots(
            "s.loan_id = $1 ORDER BY s.as_of",
            Cell::Text(Some(loan_id.to_owned())),
        )
        .await
    }

    async fn select_snapshots(
        &self,
        filter: &str,
        arg: Cell,
    ) -> Result<Vec<SnapshotRow>, StoreError> {
        let d = self.dialect();
        let mut select: Vec<String> = SNAPSHOT_COLUMNS
            .iter()
            .map(|(c, t)| d.select(&format!("s.{c}"), *t))
            .collect();
        select.push("l.currency".into());
        select.push(d.select("l.disbursed_on", Ty::Date));
        let mut tys: Vec<Ty> = SNAPSHOT_COLUMNS.iter().map(|(_, t)| *t).collect();
        tys.extend([Ty::Text, Ty::Date]);
        let sql = format!(
            "SELECT {} FROM snapshots s JOIN loans l ON l.loan_id = s.loan_id WHERE {filter}",
            select.join(", "),
        );
        let mut tx = self.begin_read().await?;
        let mut out = Vec::new();
        tx.fetch("reading snapshots", &sql, &[arg], &tys, |r| {
            let t = |i: usize| r[i].text().unwrap_or_default().to_owned();
            let n = |i: usize| r[i].int().unwrap_or(0);
            let bad = |column: &'static str| StoreError::Corrupt {
                table: "snapshots",
                key: format!("{}/{}", t(0), t(1)),
                column,
                detail: "does not read back".into(),
            };
            out.push(SnapshotRow {
                as_of: parse_date(r[0].text()).ok_or_else(|| bad("as_of"))?,
                loan_id: t(1),
                borrower_id: t(3),
                status: t(4),
                dpd: u32::try_from(n(5)).map_err(|_| bad("dpd"))?,
                bucket: t(6),
                stage: t(7),
                due_to_date_minor: n(8),
                paid_minor: n(9),
                overdue_minor: n(10),
                overdue_fee_minor: n(11),
                overdue_interest_minor: n(12),
                overdue_principal_minor: n(13),
                outstanding_principal_minor: n(14),
                penalty_accrued_minor: n(15),
                penalty_paid_minor: n(16),
                penalty_rate_capped: r[17].boolean().unwrap_or(false),
                credit_minor: n(18),
                oldest_unpaid_due_date: parse_date(r[19].text()),
                last_payment_date: parse_date(r[20].text()),
                currency: t(21),
                disbursed_on: parse_date(r[22].text()).ok_or_else(|| bad("disbursed_on"))?,
            });
            Ok(())
        })
        .await?;
        tx.commit().await?;
        Ok(out)
    }

    /// The current lifecycle events of a loan, oldest first.
    pub async fn loan_events(&self, loan_id: &str) -> Result<Vec<LoanEvent>, StoreError> {
        let d = self.dialect();
        let sql = format!(
            "SELECT e.loan_id, {}, e.kind, e.from_value, e.to_value, {} FROM loan_events e \
             JOIN event_days c ON c.effective_on = e.effective_on AND c.run_id = e.run_id \
             WHERE e.loan_id = $1 ORDER BY e.effective_on, e.kind",
            d.select("e.effective_on", Ty::Date),
            d.select("e.run_id", Ty::Int)
        );
        let rows = self
            .fetch_once(
                "reading loan events",
                &sql,
                &[Cell::Text(Some(loan_id.to_owned()))],
                &[Ty::Text, Ty::Date, Ty::Text, Ty::Text, Ty::Text, Ty::Int],
            )
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                Some(LoanEvent {
                    loan_id: r[0].text()?.to_owned(),
                    effective_on: parse_date(r[1].text())?,
                    kind: r[2].text()?.to_owned(),
                    from: r[3].text().map(str::to_owned),
                    to: r[4].text()?.to_owned(),
                    run_id: r[5].int()?,
                })
            })
            .collect())
    }

    /// Every event ever recorded (current or superseded), for audits and tests.
    pub async fn count_all_events(&self) -> Result<i64, StoreError> {
        let n = self
            .fetch_once(
                "counting events",
                "SELECT CAST(COUNT(*) AS BIGINT) FROM loan_events",
                &[],
                &[Ty::Int],
            )
            .await?;
        Ok(n.first().and_then(|r| r[0].int()).unwrap_or(0))
    }
}

/// Events of `day` against `prev` (none when `day` is the first snapshot date), recorded
/// under `run_id`, which becomes the current set for `day`.
async fn record_events(
    tx: &mut Tx,
    day: Date,
    prev: Option<Date>,
    run_id: i64,
) -> Result<u64, StoreError> {
    let d = tx.dialect();
    let mut n = 0;
    // The store's first business date has no earlier state to change from: its snapshot is
    // the starting point, and a loan's status there (say written_off) says nothing about
    // when it took effect. A loan first seen on a later date gets its initial state as
    // events (from empty), effective on that date.
    let kinds: &[&str] = if prev.is_some() { &EVENT_KINDS } else { &[] };
    for kind in kinds {
        let sql = format!(
            "INSERT INTO loan_events (loan_id, effective_on, kind, from_value, to_value, run_id) \
             SELECT c.loan_id, c.as_of, '{kind}', p.{kind}, c.{kind}, $3 \
             FROM snapshots c LEFT JOIN snapshots p ON p.loan_id = c.loan_id AND p.as_of = {prev} \
             WHERE c.as_of = {day} AND p.{kind} IS DISTINCT FROM c.{kind} \
             ORDER BY c.loan_id",
            prev = d.param(2, Ty::Date),
            day = d.param(1, Ty::Date),
        );
        n += tx
            .exec(
                "recording lifecycle events",
                &sql,
                &[date_cell(Some(day)), date_cell(prev), int(run_id)],
            )
            .await?;
    }
    let upsert = format!(
        "INSERT INTO event_days (effective_on, run_id) VALUES ({}, $2) \
         ON CONFLICT (effective_on) DO UPDATE SET run_id = excluded.run_id",
        d.param(1, Ty::Date)
    );
    tx.exec(
        "marking the current events",
        &upsert,
        &[date_cell(Some(day)), int(run_id)],
    )
    .await?;
    Ok(n)
}
