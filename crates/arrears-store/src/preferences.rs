//! What a borrower asks for on the portal: the channels and local hours they agree to be
//! contacted on, and the payment plans they propose (`plan_proposals`, kept for an agent to
//! look at; they are proposals, not payment plans). The values are checked at the edge; the
//! tables' CHECKs are the last line.
//!
//! The portal's choice is kept as rows of `preferences` (migration 0010), the one history of
//! every channel's preference whatever its source: one row for each of call, SMS and e-mail,
//! opted out when not chosen, the hours on each. Its view ([`ContactPreferences`]) is read
//! back from the latest row of each of the three channels.

use crate::lifecycle::{Applied, PreferenceWrite, write_preference};
use crate::schema::{date_text, ts_text};
use crate::service::lock_borrower;
use crate::sql::{Cell, Tx, Ty};
use crate::{Store, StoreError};
use arrears_domain::lifecycle::PreferenceRow;
use arrears_domain::types::BorrowerId;
use jiff::Timestamp;
use jiff::civil::{Date, Time};

/// The channels a borrower may choose between on the portal.
pub const PREFERENCE_CHANNELS: [&str; 3] = ["call", "sms", "email"];

/// A borrower's contact preferences as the portal shows them.
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
    /// The agent's answer (migration 0011); `None` while the proposal is open.
    pub answer: Option<crate::desk::StoredAnswer>,
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

/// `HH:MM`, as `preferences.contact_from` and `contact_to` keep local times.
pub(crate) fn hhmm(t: Time) -> String {
    t.strftime("%H:%M").to_string()
}

pub(crate) fn parse_hhmm(s: &str) -> Option<Time> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    Time::new(h.parse().ok()?, m.parse().ok()?, 0, 0).ok()
}

/// The portal's view of a borrower's latest preference per channel (`latest`: at most one
/// row per channel): `None` when none of call, SMS and e-mail has a row. A channel is
/// accepted unless its latest row opts out of it (no row: not opted out); the hours are
/// those of the most recently updated of the three rows (the portal writes the same hours
/// on all three), `updated_at` the latest of theirs.
pub(crate) fn portal_view(latest: &[PreferenceRow]) -> Option<ContactPreferences> {
    let rows: Vec<&PreferenceRow> = latest
        .iter()
        .filter(|p| PREFERENCE_CHANNELS.contains(&&*p.channel))
        .collect();
    let newest = rows.iter().copied().max_by_key(|p| p.updated_at)?;
    let channels = PREFERENCE_CHANNELS
        .iter()
        .filter(|c| !rows.iter().any(|p| &*p.channel == **c && p.opted_out))
        .map(|c| (*c).to_owned())
        .collect();
    Some(ContactPreferences {
        channels,
        hours: newest.contact_from.zip(newest.contact_to),
        updated_at: newest.updated_at,
    })
}

/// A borrower's contact preferences (the portal's view), read in `tx`.
pub(crate) async fn preferences_in(
    tx: &mut Tx,
    borrower_id: &str,
) -> Result<Option<ContactPreferences>, StoreError> {
    let latest = crate::lifecycle::latest_preferences_in(tx, borrower_id).await?;
    Ok(portal_view(&latest))
}

impl Store {
    /// Records a borrower's choice on the portal: one `preferences` row for each of call,
    /// SMS and e-mail (opted out when not among `p.channels`, `p.hours` on each, source
    /// `portal`); false when there is no such borrower. Channels other than the three are
    /// ignored.
    pub async fn set_contact_preferences(
        &self,
        borrower_id: &str,
        p: &ContactPreferences,
    ) -> Result<bool, StoreError> {
        let Ok(id) = BorrowerId::parse("borrower_id", borrower_id) else {
            return Ok(false);
        };
        if let Some((from, to)) = p.hours
            && from >= to
        {
            return Err(StoreError::Internal(format!(
                "contact hours {} to {} do not make a window",
                hhmm(from),
                hhmm(to)
            )));
        }
        let mut tx = self.begin().await?;
        if !lock_borrower(&mut tx, borrower_id).await? {
            return Ok(false);
        }
        for channel in PREFERENCE_CHANNELS {
            let row = PreferenceRow {
                borrower_id: id.clone(),
                channel: channel.into(),
                opted_out: !p.channels.iter().any(|c| c == channel),
                contact_from: p.hours.map(|h| h.0),
                contact_to: p.hours.map(|h| h.1),
                updated_at: p.updated_at,
            };
            if let Applied::Rejected(e) =
                write_preference(&mut tx, &row, "portal", PreferenceWrite::Always).await?
            {
                return Err(StoreError::Internal(format!(
                    "the portal's preferences were refused: {e}"
                )));
            }
        }
        tx.commit().await?;
        Ok(true)
    }

    /// A borrower's contact preferences (the portal's view of their latest `preferences`
    /// rows for call, SMS and e-mail), if any of the three has one.
    pub async fn contact_preferences(
        &self,
        borrower_id: &str,
    ) -> Result<Option<ContactPreferences>, StoreError> {
        let mut tx = self.begin_read().await?;
        let out = preferences_in(&mut tx, borrower_id).await?;
        tx.commit().await?;
        Ok(out)
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
                    "SELECT proposal_id, borrower_id, loan_id, {}, amount_minor, {}, note, {}, \
                     status, {}, answered_by, answer_text, plan_id, {}, {}, {}, counter_every \
                     FROM plan_proposals WHERE loan_id = $1 ORDER BY proposal_id",
                    d.select("installments", Ty::Int),
                    d.select("first_due", Ty::Date),
                    d.select("created_at", Ty::Ts),
                    d.select("answered_at", Ty::Ts),
                    d.select("counter_installments", Ty::Int),
                    d.select("counter_amount_minor", Ty::Int),
                    d.select("counter_first_due", Ty::Date)
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
                    Ty::Text,
                    Ty::Ts,
                    Ty::Text,
                    Ty::Text,
                    Ty::Text,
                    Ty::Int,
                    Ty::Int,
                    Ty::Date,
                    Ty::Text,
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
                    answer: crate::desk::answer_of(&key, &r[8..17])?,
                })
            })
            .collect()
    }
}
