//! The day's plan, blocked actions by rule (`plan_blocks`, migration 0015): what the
//! compliance view shows over time. `arrears plan --db` and the server's own plan of a date
//! record it; a later plan of the same date replaces that date's counts.

use crate::schema::{date_text, int, text, ts};
use crate::sql::{Cell, Ty};
use crate::{Store, StoreError};
use jiff::Timestamp;
use jiff::civil::Date;
use std::collections::BTreeMap;

impl Store {
    /// Replaces the block counts of business date `as_of` with `by_rule` (rule id → blocked
    /// actions; zero counts are left out), in one transaction.
    pub async fn record_plan_blocks(
        &self,
        as_of: Date,
        by_rule: &BTreeMap<String, u64>,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let d = tx.dialect();
        tx.exec(
            "replacing a plan's block counts",
            &format!(
                "DELETE FROM plan_blocks WHERE as_of = {}",
                d.param(1, Ty::Date)
            ),
            &[text(&date_text(as_of))],
        )
        .await?;
        for (rule, n) in by_rule.iter().filter(|(_, n)| **n > 0) {
            let n = i64::try_from(*n)
                .map_err(|_| StoreError::Internal(format!("{rule}: {n} blocks")))?;
            tx.exec(
                "recording a plan's block counts",
                &format!(
                    "INSERT INTO plan_blocks (as_of, rule_id, blocked, recorded_at) \
                     VALUES ({}, $2, $3, {})",
                    d.param(1, Ty::Date),
                    d.param(4, Ty::Ts)
                ),
                &[text(&date_text(as_of)), text(rule), int(n), ts(at)],
            )
            .await?;
        }
        tx.commit().await
    }

    /// The recorded block counts of the business dates `from..=to`: (date, rule id, blocked),
    /// by date then rule.
    pub async fn plan_blocks(
        &self,
        from: Date,
        to: Date,
    ) -> Result<Vec<(Date, String, u64)>, StoreError> {
        let d = self.dialect();
        let rows = self
            .fetch_once(
                "reading the plans' block counts",
                &format!(
                    "SELECT {}, rule_id, {} FROM plan_blocks WHERE as_of >= {} AND as_of <= {} \
                     ORDER BY as_of, rule_id",
                    d.select("as_of", Ty::Date),
                    d.select("blocked", Ty::Int),
                    d.param(1, Ty::Date),
                    d.param(2, Ty::Date)
                ),
                &[text(&date_text(from)), text(&date_text(to))],
                &[Ty::Date, Ty::Text, Ty::Int],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let t = |i: usize| r.get(i).and_then(Cell::text).unwrap_or_default();
                let on: Date = t(0).parse().map_err(|e| StoreError::Corrupt {
                    table: "plan_blocks",
                    key: format!("{}/{}", t(0), t(1)),
                    column: "as_of",
                    detail: format!("{e}"),
                })?;
                let n = r.get(2).and_then(Cell::int).unwrap_or_default();
                Ok((on, t(1).to_owned(), u64::try_from(n).unwrap_or_default()))
            })
            .collect()
    }
}
