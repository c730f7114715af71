//! What a borrower asks for on the portal: the channels and local hours they agree to be
//! contacted on (`contact_preferences`, one row per borrower, replaced on every change) and
//! the payment plans they propose (`plan_proposals`, kept for an agent to look at; they are
//! proposals, not payment plans). The values are checked at the edge; the tables' CHECKs are
//! the last line.

use crate::schema::{date_text, ts_text};
use crate::sql::{Cell, Tx, Ty};
use crate::{Store, StoreError};
use jiff::Timestamp;
use jiff::civil::{Date, Time};

/// The channels a borrower may choose between on the portal.
pub const PREFERENCE_CHANNELS: [&str; 3] = ["call", "sms", "email"];

/// A borrower's contact preferences.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactPreferences {
    /// The channels the borrower accepts (a subset of [`PREFERENCE_CHANNELS`], in that order).
    pub channels: Vec<String>,
    /// Agreed local hours, in the borrower's zone: from (inclusive) and to (exclusive).
    pub hours: Option<(Time, Time)>,
    pub updated_at: Timestamp,
}

/// A payment plan a borrower proposed on the portal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanProposal {
    pub proposal_id: i64,
    pub borrower_id: String,
    pub loan_id: String,
    pub installments: u32,
    /// Each installment, in the loan's minor units.
    pub amount_minor: i64,
    pub first_due: Date,
    pub note: String,
    pub created_at: Timestamp,
}

/// A new proposal.
#[derive(Debug, Clone)]
pub struct NewPlanProposal<'a> {
    pub borrower_id: &'a str,
    pub loan_id: &'a str,
    pub installments: u32,
    pub amount_minor: i64,
    pub first_due: Date,
    pub note: &'a str,
    pub created_at: Timestamp,
}

fn text(s: &str) -> Cell {
    Cell::Text(Some(s.to_owned()))
}

fn corrupt(table: &'static str, column: &'static str, key: &str, detail: String) -> StoreError {
    StoreError::Corrupt {
        table,
        key: key.to_owned(),
        column,
        detail,
    }
}

fn hhmm(t: Time) -> String {
    t.strftime("%H:%M").to_string()
}

fn parse_hhmm(s: &str) -> Option<Time> {
    let (h, m) = s.split_once(':')?;
    Time::new(h.parse().ok()?, m.parse().ok()?, 0, 0).ok()
}

/// The columns of `contact_preferences` that [`preferences_from_row`] reads, in order.
pub(crate) const PREFERENCE_SELECT: [(&str, Ty); 5] = [
    ("borrower_id", Ty::Text),
    ("channels", Ty::Text),
    ("hours_from", Ty::Text),
    ("hours_to", Ty::Text),
    ("updated_at", Ty::Ts),
];

/// A borrower's contact preferences from the cells of [`PREFERENCE_SELECT`].
pub(crate) fn preferences_from_row(r: &[Cell]) -> Result<ContactPreferences, StoreError> {
    let cell = |i: usize| r.get(i).and_then(Cell::text);
    let borrower_id = cell(0).unwrap_or_default();
    let bad = |column: &'static str, detail: String| {
        corrupt("contact_preferences", column, borrower_id, detail)
    };
    let channels = cell(1)
        .unwrap_or_default()
        .split(',')
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect();
    let hours = match (cell(2), cell(3)) {
        (Some(f), Some(t)) => Some((
            parse_hhmm(f).ok_or_else(|| bad("hours_from", f.to_owned()))?,
            parse_hhmm(t).ok_or_else(|| bad("hours_to", t.to_owned()))?,
        )),
        (None, None) => None,
        _ => return Err(bad("hours_to", "only one end of the hours is set".into())),
    };
    let at = cell(4).unwrap_or_default();
    Ok(ContactPreferences {
        channels,
        hours,
        updated_at: at
            .parse()
            .map_err(|e| bad("updated_at", format!("{at:?}: {e}")))?,
    })
}

/// A borrower's contact preferences, read in `tx`.
pub(crate) async fn preferences_in(
    tx: &mut Tx,
    borrower_id: &str,
) -> Result<Option<ContactPreferences>, StoreError> {
    let d = tx.dialect();
    let cols: Vec<String> = PREFERENCE_SELECT
        .iter()
        .map(|(c, ty)| d.select(c, *ty))
        .collect();
    let tys: Vec<Ty> = PREFERENCE_SELECT.iter().map(|(_, ty)| *ty).collect();
    let rows = tx
        .fetch_all(
            "reading contact preferences",
            &format!(
                "SELECT {} FROM contact_preferences WHERE borrower_id = $1",
                cols.join(", ")
            ),
            &[text(borrower_id)],
            &tys,
        )
        .await?;
    rows.first().map(|r| preferences_from_row(r)).transpose()
}

impl Store {
    /// Replaces a borrower's contact preferences; false when there is no such borrower.
    pub async fn set_contact_preferences(
        &self,
        borrower_id: &str,
        p: &ContactPreferences,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let d = tx.dialect();
        let known = tx
            .fetch_all(
                "looking up a borrower",
                "SELECT borrower_id FROM borrowers WHERE borrower_id = $1",
                &[text(borrower_id)],
                &[Ty::Text],
            )
            .await?;
        if known.is_empty() {
            return Ok(false);
        }
        let (from, to) = match p.hours {
            Some((f, t)) => (Some(hhmm(f)), Some(hhmm(t))),
            None => (None, None),
        };
        tx.exec(
            "storing contact preferences",
            &format!(
                "INSERT INTO contact_preferences (borrower_id, channels, hours_from, hours_to, updated_at) \
                 VALUES ($1, $2, $3, $4, {}) ON CONFLICT (borrower_id) DO UPDATE SET \
                 channels = excluded.channels, hours_from = excluded.hours_from, \
                 hours_to = excluded.hours_to, updated_at = excluded.updated_at",
                d.param(5, Ty::Ts)
            ),
            &[
                text(borrower_id),
                text(&p.channels.join(",")),
                Cell::Text(from),
                Cell::Text(to),
                text(&ts_text(p.updated_at)),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// A borrower's contact preferences, if they chose any.
    pub async fn contact_preferences(
        &self,
        borrower_id: &str,
    ) -> Result<Option<ContactPreferences>, StoreError> {
        let mut tx = self.begin_read().await?;
        preferences_in(&mut tx, borrower_id).await
    }

    /// Keeps a borrower's proposed payment plan; false when the loan is not the borrower's.
    pub async fn add_plan_proposal(&self, p: &NewPlanProposal<'_>) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let d = tx.dialect();
        let n = tx
            .exec(
                "storing a payment plan proposal",
                &format!(
                    "INSERT INTO plan_proposals (borrower_id, loan_id, installments, amount_minor, \
                     first_due, note, created_at) SELECT l.borrower_id, l.loan_id, $3, $4, {}, $6, {} \
                     FROM loans l WHERE l.loan_id = $2 AND l.borrower_id = $1",
                    d.param(5, Ty::Date),
                    d.param(7, Ty::Ts)
                ),
                &[
                    text(p.borrower_id),
                    text(p.loan_id),
                    Cell::Int(Some(i64::from(p.installments))),
                    Cell::Int(Some(p.amount_minor)),
                    text(&date_text(p.first_due)),
                    text(p.note),
                    text(&ts_text(p.created_at)),
                ],
            )
            .await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    /// The payment plans proposed for a loan, oldest first.
    pub async fn plan_proposals(&self, loan_id: &str) -> Result<Vec<PlanProposal>, StoreError> {
        let d = self.dialect();
        let rows = self
            .fetch_once(
                "reading payment plan proposals",
                &format!(
                    "SELECT proposal_id, borrower_id, loan_id, {}, amount_minor, {}, note, {} \
                     FROM plan_proposals WHERE loan_id = $1 ORDER BY proposal_id",
                    d.select("installments", Ty::Int),
                    d.select("first_due", Ty::Date),
                    d.select("created_at", Ty::Ts)
                ),
                &[text(loan_id)],
                &[
                    Ty::Int,
                    Ty::Text,
                    Ty::Text,
                    Ty::Int,
                    Ty::Int,
                    Ty::Date,
                    Ty::Text,
                    Ty::Ts,
                ],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let key = r[0].int().unwrap_or_default().to_string();
                let bad = |column: &'static str, detail: String| {
                    corrupt("plan_proposals", column, &key, detail)
                };
                let due = r[5].text().unwrap_or_default();
                let at = r[7].text().unwrap_or_default();
                Ok(PlanProposal {
                    proposal_id: r[0].int().unwrap_or_default(),
                    borrower_id: r[1].text().unwrap_or_default().to_owned(),
                    loan_id: r[2].text().unwrap_or_default().to_owned(),
                    installments: u32::try_from(r[3].int().unwrap_or_default())
                        .map_err(|e| bad("installments", e.to_string()))?,
                    amount_minor: r[4].int().unwrap_or_default(),
                    first_due: due
                        .parse()
                        .map_err(|e| bad("first_due", format!("{due:?}: {e}")))?,
                    note: r[6].text().unwrap_or_default().to_owned(),
                    created_at: at
                        .parse()
                        .map_err(|e| bad("created_at", format!("{at:?}: {e}")))?,
                })
            })
            .collect()
    }
}
