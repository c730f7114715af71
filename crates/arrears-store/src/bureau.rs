//! What the monthly credit-bureau files said (`bureau_lines`, migration 0017) and how
//! resolved credit disputes ended (`credit_dispute_outcomes`). A month is recorded once, in
//! one transaction; its lines are never changed (triggers refuse it), so the next month's
//! corrections and the borrower's portal read exactly what was sent.

use crate::schema::{int, opt_text, text, ts};
use crate::sql::{Cell, Ty};
use crate::{Store, StoreError};
use jiff::Timestamp;

/// One recorded line (the columns of `bureau_lines`). Codes are the bureau module's:
/// `kind` `regular` or `correction`, `status` and `actual` its status codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BureauLineRecord {
    /// `YYYY-MM`.
    pub period: String,
    pub loan_id: String,
    pub kind: String,
    /// The month a correction corrects; empty for a month's own line.
    pub corrects: String,
    pub borrower_id: String,
    pub status: String,
    pub actual: String,
    pub reported: bool,
    pub negative: bool,
    /// Space-separated rule ids of a withheld line; empty for a reported one.
    pub rule_ids: String,
    pub month_char: char,
    pub dpd: u32,
    pub balance_minor: i64,
    pub past_due_minor: i64,
    pub currency: String,
    pub compliance: Option<String>,
    pub dispute_id: Option<String>,
}

/// What recording a month or an outcome can refuse.
#[derive(Debug, thiserror::Error)]
pub enum BureauRecordError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the bureau file of {0} is on record already; a month is reported once")]
    MonthRecorded(String),
    #[error("credit dispute {0} is not on record as resolved; resolve it first")]
    NotResolved(String),
    #[error("credit dispute {id} is on record as ended in the {outcome}'s favour")]
    OtherOutcome { id: String, outcome: String },
}

const COLUMNS: &str = "period, loan_id, kind, corrects, borrower_id, status, actual, reported, \
                       negative, rule_ids, month_char, dpd, balance_minor, past_due_minor, \
                       currency, compliance, dispute_id";

const TYS: [Ty; 17] = [
    Ty::Text,
    Ty::Text,
    Ty::Text,
    Ty::Text,
    Ty::Text,
    Ty::Text,
    Ty::Text,
    Ty::Bool,
    Ty::Bool,
    Ty::Text,
    Ty::Text,
    Ty::Int,
    Ty::Int,
    Ty::Int,
    Ty::Text,
    Ty::Text,
    Ty::Text,
];

fn decode(r: &[Cell]) -> Result<BureauLineRecord, StoreError> {
    let t = |i: usize| r.get(i).and_then(Cell::text).unwrap_or_default().to_owned();
    let o = |i: usize| r.get(i).and_then(Cell::text).map(str::to_owned);
    let n = |i: usize| r.get(i).and_then(Cell::int).unwrap_or_default();
    let b = |i: usize| r.get(i).and_then(Cell::boolean).unwrap_or_default();
    let month_char = t(10).chars().next().ok_or_else(|| StoreError::Corrupt {
        table: "bureau_lines",
        key: format!("{}/{}", t(0), t(1)),
        column: "month_char",
        detail: "empty".into(),
    })?;
    Ok(BureauLineRecord {
        period: t(0),
        loan_id: t(1),
        kind: t(2),
        corrects: t(3),
        borrower_id: t(4),
        status: t(5),
        actual: t(6),
        reported: b(7),
        negative: b(8),
        rule_ids: t(9),
        month_char,
        dpd: u32::try_from(n(11)).unwrap_or_default(),
        balance_minor: n(12),
        past_due_minor: n(13),
        currency: t(14),
        compliance: o(15),
        dispute_id: o(16),
    })
}

impl Store {
    /// Whether lines of month `period` are on record.
    pub async fn bureau_month_recorded(&self, period: &str) -> Result<bool, StoreError> {
        let rows = self
            .fetch_once(
                "reading a bureau month",
                "SELECT loan_id FROM bureau_lines WHERE period = $1 LIMIT 1",
                &[text(period)],
                &[Ty::Text],
            )
            .await?;
        Ok(!rows.is_empty())
    }

    /// Records the lines of month `period`, all or none. A month already on record is a
    /// conflict: what was sent stays what the store says was sent.
    pub async fn record_bureau_month(
        &self,
        period: &str,
        lines: &[BureauLineRecord],
        at: Timestamp,
    ) -> Result<(), BureauRecordError> {
        let mut tx = self.begin().await?;
        let d = tx.dialect();
        let existing = tx
            .fetch_all(
                "reading a bureau month",
                "SELECT loan_id FROM bureau_lines WHERE period = $1 LIMIT 1",
                &[text(period)],
                &[Ty::Text],
            )
            .await?;
        if !existing.is_empty() {
            return Err(BureauRecordError::MonthRecorded(period.to_owned()));
        }
        let sql = format!(
            "INSERT INTO bureau_lines ({COLUMNS}, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, \
             $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, {})",
            d.param(18, Ty::Ts)
        );
        for l in lines.iter().filter(|l| l.period == period) {
            tx.exec(
                "recording a bureau line",
                &sql,
                &[
                    text(&l.period),
                    text(&l.loan_id),
                    text(&l.kind),
                    text(&l.corrects),
                    text(&l.borrower_id),
                    text(&l.status),
                    text(&l.actual),
                    Cell::Bool(Some(l.reported)),
                    Cell::Bool(Some(l.negative)),
                    text(&l.rule_ids),
                    text(&l.month_char.to_string()),
                    int(i64::from(l.dpd)),
                    int(l.balance_minor),
                    int(l.past_due_minor),
                    text(&l.currency),
                    opt_text(l.compliance.as_deref()),
                    opt_text(l.dispute_id.as_deref()),
                    ts(at),
                ],
            )
            .await?;
        }
        Ok(tx.commit().await?)
    }

    /// Every line of the months before `period`, by loan, month, kind.
    pub async fn bureau_lines_before(
        &self,
        period: &str,
    ) -> Result<Vec<BureauLineRecord>, StoreError> {
        let rows = self
            .fetch_once(
                "reading earlier bureau lines",
                &format!(
                    "SELECT {COLUMNS} FROM bureau_lines WHERE period < $1 \
                     ORDER BY loan_id, period, kind, corrects"
                ),
                &[text(period)],
                &TYS,
            )
            .await?;
        rows.iter().map(|r| decode(r)).collect()
    }

    /// The lines reported about a borrower (withheld ones left out), the latest month first.
    pub async fn bureau_lines_of_borrower(
        &self,
        borrower_id: &str,
    ) -> Result<Vec<BureauLineRecord>, StoreError> {
        let d = self.dialect();
        let reported = match d {
            crate::sql::Dialect::Postgres => "reported",
            crate::sql::Dialect::Sqlite => "reported = 1",
        };
        let rows = self
            .fetch_once(
                "reading a borrower's bureau lines",
                &format!(
                    "SELECT {COLUMNS} FROM bureau_lines WHERE borrower_id = $1 AND {reported} \
                     ORDER BY period DESC, loan_id, kind DESC, corrects"
                ),
                &[text(borrower_id)],
                &TYS,
            )
            .await?;
        rows.iter().map(|r| decode(r)).collect()
    }

    /// Records how a resolved dispute ended (`borrower` or `lender`) and who decided. False
    /// when that outcome is on record already; another outcome on record is a conflict, and
    /// so is a dispute not resolved (or not on record).
    pub async fn record_dispute_outcome(
        &self,
        dispute_id: &str,
        outcome: &str,
        decided_by: &str,
        at: Timestamp,
    ) -> Result<bool, BureauRecordError> {
        let mut tx = self.begin().await?;
        let d = tx.dialect();
        let resolved = tx
            .fetch_all(
                "reading a dispute's resolution",
                "SELECT r.dispute_id, o.outcome FROM credit_dispute_resolutions r \
                 LEFT JOIN credit_dispute_outcomes o ON o.dispute_id = r.dispute_id \
                 WHERE r.dispute_id = $1",
                &[text(dispute_id)],
                &[Ty::Text, Ty::Text],
            )
            .await?;
        let Some(row) = resolved.first() else {
            return Err(BureauRecordError::NotResolved(dispute_id.to_owned()));
        };
        match row.get(1).and_then(Cell::text) {
            Some(o) if o == outcome => return Ok(false),
            Some(o) => {
                return Err(BureauRecordError::OtherOutcome {
                    id: dispute_id.to_owned(),
                    outcome: o.to_owned(),
                });
            }
            None => {}
        }
        tx.exec(
            "recording a dispute's outcome",
            &format!(
                "INSERT INTO credit_dispute_outcomes (dispute_id, outcome, decided_by, \
                 recorded_at) VALUES ($1, $2, $3, {})",
                d.param(4, Ty::Ts)
            ),
            &[text(dispute_id), text(outcome), text(decided_by), ts(at)],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Every recorded outcome: (dispute id, outcome).
    pub async fn dispute_outcomes(&self) -> Result<Vec<(String, String)>, StoreError> {
        let rows = self
            .fetch_once(
                "reading the disputes' outcomes",
                "SELECT dispute_id, outcome FROM credit_dispute_outcomes ORDER BY dispute_id",
                &[],
                &[Ty::Text, Ty::Text],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let t = |i: usize| r.get(i).and_then(Cell::text).unwrap_or_default().to_owned();
                (t(0), t(1))
            })
            .collect())
    }
}
