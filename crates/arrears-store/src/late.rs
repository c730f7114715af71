//! What the late-stage reports are made of (`arrears_report::LateFacts`, gathered by
//! `arrears_app::late`): payments by route, sales, agencies' complaints and violations,
//! referrals and legal cases with their money. Plain rows; the sums are the report's.
//!
//! A period is the UTC days `from..=to` (instants `from` 00:00Z to `to + 1` 00:00Z).

use crate::schema::{date_text, text, ts};
use crate::sql::Ty;
use crate::work::get_text;
use crate::{Store, StoreError};
use jiff::Timestamp;
use jiff::civil::Date;

/// A payment received in the period (not reversed, not on a loan sold before it), with the
/// agency its loan was placed with at that instant, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutedPayment {
    pub loan_id: String,
    pub currency: String,
    pub amount_minor: i64,
    pub agency_id: Option<String>,
}

/// A loan sold in the period, at its price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoldLoan {
    pub loan_id: String,
    pub currency: String,
    pub price_minor: i64,
}

/// An agency with its placements up to the period's end, and its complaints and violations
/// in the period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgencyCounts {
    pub agency_id: String,
    pub commission_bps: u32,
    /// Placements per currency of the loan.
    pub placed: Vec<(String, u64)>,
    pub complaints: u64,
    pub violations: u64,
}

/// A referral or a case as it stands, with its money.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseMoney {
    /// See `arrears_report::CaseFact::status`.
    pub status: String,
    pub currency: String,
    pub claimed_minor: i64,
    pub awarded_minor: i64,
    pub recovered_minor: i64,
    pub costs_minor: i64,
}

fn bounds(from: Date, to: Date) -> (Timestamp, Timestamp) {
    let start = |d: Date| {
        d.to_zoned(jiff::tz::TimeZone::UTC)
            .map(|z| z.timestamp())
            .unwrap_or(Timestamp::UNIX_EPOCH)
    };
    let end = to.tomorrow().map(start).unwrap_or(Timestamp::MAX);
    (start(from), end)
}

impl Store {
    /// Payments of the period by route (see [`RoutedPayment`]).
    pub async fn routed_payments(
        &self,
        from: Date,
        to: Date,
    ) -> Result<Vec<RoutedPayment>, StoreError> {
        let d = self.dialect();
        let (a, b) = bounds(from, to);
        let rows = self
            .fetch_once(
                "reading the period's payments by route",
                &format!(
                    "SELECT p.loan_id, l.currency, {}, \
                     (SELECT pl.agency_id FROM placements pl \
                      LEFT JOIN placement_recalls r ON r.placement_id = pl.placement_id \
                      WHERE pl.loan_id = p.loan_id AND pl.placed_at <= p.received_at \
                      AND (r.recalled_at IS NULL OR p.received_at < r.recalled_at) \
                      ORDER BY pl.placed_at DESC LIMIT 1) \
                     FROM payments p JOIN loans l ON l.loan_id = p.loan_id \
                     WHERE p.kind = 'payment' AND p.received_at >= {} AND p.received_at < {} \
                     AND NOT EXISTS (SELECT 1 FROM payments x WHERE x.reverses = p.payment_id) \
                     AND NOT EXISTS (SELECT 1 FROM sales s WHERE s.loan_id = p.loan_id \
                                     AND s.sold_at <= p.received_at) \
                     ORDER BY p.loan_id, p.payment_id",
                    d.select("p.amount_minor", Ty::Int),
                    d.param(1, Ty::Ts),
                    d.param(2, Ty::Ts)
                ),
                &[ts(a), ts(b)],
                &[Ty::Text, Ty::Text, Ty::Int, Ty::Text],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| RoutedPayment {
                loan_id: get_text(&r[0]),
                currency: get_text(&r[1]),
                amount_minor: r[2].int().unwrap_or(0),
                agency_id: r[3].text().map(str::to_owned),
            })
            .collect())
    }

    /// Loans sold in the period (`debt_sales.sold_on` in `from..=to`) at their price.
    pub async fn sold_in(&self, from: Date, to: Date) -> Result<Vec<SoldLoan>, StoreError> {
        let d = self.dialect();
        let rows = self
            .fetch_once(
                "reading the period's sales",
                &format!(
                    "SELECT x.loan_id, x.currency, {} FROM debt_sale_loans x \
                     JOIN debt_sales s ON s.sale_id = x.sale_id \
                     WHERE s.sold_on >= {} AND s.sold_on <= {} ORDER BY x.loan_id",
                    d.select("x.price_minor", Ty::Int),
                    d.param(1, Ty::Date),
                    d.param(2, Ty::Date)
                ),
                &[text(&date_text(from)), text(&date_text(to))],
                &[Ty::Text, Ty::Text, Ty::Int],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| SoldLoan {
                loan_id: get_text(&r[0]),
                currency: get_text(&r[1]),
                price_minor: r[2].int().unwrap_or(0),
            })
            .collect())
    }

    /// Every agency that has a record or a placement, with its counts (see
    /// [`AgencyCounts`]), by agency id.
    pub async fn agency_counts(
        &self,
        from: Date,
        to: Date,
    ) -> Result<Vec<AgencyCounts>, StoreError> {
        let d = self.dialect();
        let (a, b) = bounds(from, to);
        let agencies = self
            .fetch_once(
                "reading agencies",
                &format!(
                    "SELECT agency_id, {} FROM agencies ORDER BY agency_id",
                    d.select("commission_bps", Ty::Int)
                ),
                &[],
                &[Ty::Text, Ty::Int],
            )
            .await?;
        let placed = self
            .fetch_once(
                "counting placements",
                &format!(
                    "SELECT pl.agency_id, l.currency, {} FROM placements pl \
                     JOIN loans l ON l.loan_id = pl.loan_id WHERE pl.placed_at < {} \
                     GROUP BY pl.agency_id, l.currency ORDER BY pl.agency_id, l.currency",
                    d.select("COUNT(*)", Ty::Int),
                    d.param(1, Ty::Ts)
                ),
                &[ts(b)],
                &[Ty::Text, Ty::Text, Ty::Int],
            )
            .await?;
        let complaints = self
            .fetch_once(
                "counting complaints while placed",
                &format!(
                    "SELECT pl.agency_id, {} FROM borrower_state_changes c \
                     JOIN loans l ON l.borrower_id = c.borrower_id \
                     JOIN placements pl ON pl.loan_id = l.loan_id \
                     LEFT JOIN placement_recalls r ON r.placement_id = pl.placement_id \
                     WHERE c.flag = 'dispute_open' AND CAST(c.value AS INTEGER) = 1 \
                     AND c.effective_at >= {} AND c.effective_at < {} \
                     AND pl.placed_at <= c.effective_at \
                     AND (r.recalled_at IS NULL OR c.effective_at < r.recalled_at) \
                     GROUP BY pl.agency_id",
                    d.select("COUNT(DISTINCT c.change_id)", Ty::Int),
                    d.param(1, Ty::Ts),
                    d.param(2, Ty::Ts)
                ),
                &[ts(a), ts(b)],
                &[Ty::Text, Ty::Int],
            )
            .await?;
        let violations = self
            .fetch_once(
                "counting agencies' violations",
                &format!(
                    "SELECT agency_id, {} FROM contacts WHERE agency_id IS NOT NULL \
                     AND violation IS NOT NULL AND at >= {} AND at < {} GROUP BY agency_id",
                    d.select("COUNT(*)", Ty::Int),
                    d.param(1, Ty::Ts),
                    d.param(2, Ty::Ts)
                ),
                &[ts(a), ts(b)],
                &[Ty::Text, Ty::Int],
            )
            .await?;
        let mut out: Vec<AgencyCounts> = agencies
            .iter()
            .map(|r| AgencyCounts {
                agency_id: get_text(&r[0]),
                commission_bps: u32::try_from(r[1].int().unwrap_or(0)).unwrap_or(0),
                placed: Vec::new(),
                complaints: 0,
                violations: 0,
            })
            .collect();
        let mut slot = |id: String| -> usize {
            match out.iter().position(|x| x.agency_id == id) {
                Some(i) => i,
                None => {
                    out.push(AgencyCounts {
                        agency_id: id,
                        commission_bps: 0,
                        placed: Vec::new(),
                        complaints: 0,
                        violations: 0,
                    });
                    out.len() - 1
                }
            }
        };
        let n = |c: &crate::sql::Cell| u64::try_from(c.int().unwrap_or(0)).unwrap_or(0);
        let mut placed_rows = Vec::new();
        for r in &placed {
            placed_rows.push((slot(get_text(&r[0])), get_text(&r[1]), n(&r[2])));
        }
        let mut complaint_rows = Vec::new();
        for r in &complaints {
            complaint_rows.push((slot(get_text(&r[0])), n(&r[1])));
        }
        let mut violation_rows = Vec::new();
        for r in &violations {
            violation_rows.push((slot(get_text(&r[0])), n(&r[1])));
        }
        for (i, cur, k) in placed_rows {
            out[i].placed.push((cur, k));
        }
        for (i, k) in complaint_rows {
            out[i].complaints += k;
        }
        for (i, k) in violation_rows {
            out[i].violations += k;
        }
        out.sort_by(|x, y| x.agency_id.cmp(&y.agency_id));
        Ok(out)
    }

    /// Every referral not yet a case and every legal case, as it stands, with its money.
    pub async fn legal_money(&self) -> Result<Vec<CaseMoney>, StoreError> {
        let d = self.dialect();
        let referrals = self
            .fetch_once(
                "reading referrals",
                &format!(
                    "SELECT CASE WHEN dd.status IS NULL THEN 'referred' \
                     WHEN dd.status = 'rejected' THEN 'referral_rejected' ELSE 'approved' END, \
                     l.currency, {} FROM legal_referrals f JOIN loans l ON l.loan_id = f.loan_id \
                     LEFT JOIN legal_referral_decisions dd ON dd.referral_id = f.referral_id \
                     WHERE NOT EXISTS (SELECT 1 FROM legal_case_referrals c \
                                       WHERE c.referral_id = f.referral_id) \
                     ORDER BY f.referral_id",
                    d.select("f.amount_claimed_minor", Ty::Int)
                ),
                &[],
                &[Ty::Text, Ty::Text, Ty::Int],
            )
            .await?;
        let mut out: Vec<CaseMoney> = referrals
            .iter()
            .map(|r| CaseMoney {
                status: get_text(&r[0]),
                currency: get_text(&r[1]),
                claimed_minor: r[2].int().unwrap_or(0),
                awarded_minor: 0,
                recovered_minor: 0,
                costs_minor: 0,
            })
            .collect();
        let cases = self
            .fetch_once(
                "reading legal cases with their money",
                &format!(
                    "SELECT c.case_id, l.currency, {}, \
                     (SELECT u.status FROM legal_case_updates u WHERE u.case_id = c.case_id \
                      ORDER BY u.update_id DESC LIMIT 1), \
                     (SELECT o.outcome FROM legal_case_outcomes o WHERE o.case_id = c.case_id), \
                     {}, {}, {} \
                     FROM legal_cases c JOIN loans l ON l.loan_id = c.loan_id ORDER BY c.case_id",
                    d.select("c.amount_claimed_minor", Ty::Int),
                    d.select(
                        "(SELECT COALESCE(MAX(u.amount_awarded_minor), 0) FROM legal_case_updates u \
                          WHERE u.case_id = c.case_id)",
                        Ty::Int
                    ),
                    d.select(
                        "(SELECT COALESCE(SUM(k.amount_minor), 0) FROM legal_case_costs k \
                          WHERE k.case_id = c.case_id)",
                        Ty::Int
                    ),
                    d.select(
                        "(SELECT COALESCE(SUM(p.amount_minor), 0) FROM payments p \
                          WHERE p.loan_id = c.loan_id AND p.kind = 'payment' \
                          AND p.received_at >= c.recorded_at \
                          AND NOT EXISTS (SELECT 1 FROM payments x WHERE x.reverses = p.payment_id))",
                        Ty::Int
                    ),
                ),
                &[],
                &[
                    Ty::Text,
                    Ty::Text,
                    Ty::Int,
                    Ty::Text,
                    Ty::Text,
                    Ty::Int,
                    Ty::Int,
                    Ty::Int,
                ],
            )
            .await?;
        for r in &cases {
            let status = match (r[3].text(), r[4].text()) {
                (Some("closed"), Some(o)) => format!("closed_{o}"),
                (Some(s), _) => s.to_owned(),
                (None, _) => "filed".to_owned(),
            };
            out.push(CaseMoney {
                status,
                currency: get_text(&r[1]),
                claimed_minor: r[2].int().unwrap_or(0),
                awarded_minor: r[5].int().unwrap_or(0),
                costs_minor: r[6].int().unwrap_or(0),
                recovered_minor: r[7].int().unwrap_or(0),
            });
        }
        Ok(out)
    }
}
