//! What the agent's desk keeps beside the portfolio (migration 0011): a staff user's own
//! time zone, the notes written on a call, the answer to a borrower's plan proposal
//! (accepted with the plan it became, countered with another schedule, declined with a
//! reason), and promises cancelled with a reason.
//!
//! Notes and cancellations are never changed or deleted (triggers on both backends). A
//! proposal is answered once: the answer is an `UPDATE … WHERE status = 'open'`, so two
//! answers at once cannot both win. A cancelled promise is neither kept nor broken: the
//! stored portfolio (`load_portfolio`, so the daily run and the planner), the loan's promises
//! of the API and the dashboard's promise books leave it out; the account page shows it as
//! cancelled.

use crate::schema::{date_text, int, opt_text, text, ts, ts_text};
use crate::sql::{Cell, Ty};
use crate::{Store, StoreError};
use jiff::Timestamp;
use jiff::civil::Date;

/// The longest note on a call (characters).
pub const CALL_NOTE_MAX: usize = 2000;

/// A counter-offer to a borrower's proposal: `installments` payments of `amount_minor`
/// from `first_due`, `every` (`month`, `two_weeks`, `week`) apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterOffer {
    pub installments: u32,
    pub amount_minor: i64,
    pub first_due: Date,
    pub every: String,
}

/// The agent's answer to a plan proposal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProposalAnswer {
    /// Accepted: the payment plan it became.
    Accepted { plan_id: String },
    /// Another schedule offered, with the agent's words (may be empty).
    Countered { offer: CounterOffer, text: String },
    /// Declined, with the reason.
    Declined { reason: String },
}

/// An answer as stored, with who gave it and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAnswer {
    pub answer: ProposalAnswer,
    pub at: Timestamp,
    pub by: String,
}

/// A promise's cancellation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromiseCancellation {
    pub at: Timestamp,
    pub by: String,
    pub reason: String,
}

fn corrupt(table: &'static str, column: &'static str, key: &str, detail: String) -> StoreError {
    StoreError::Corrupt {
        table,
        key: key.to_owned(),
        column,
        detail,
    }
}

pub(crate) fn parse_ts(
    table: &'static str,
    column: &'static str,
    key: &str,
    c: &Cell,
) -> Result<Timestamp, StoreError> {
    let s = c.text().unwrap_or_default();
    s.parse()
        .map_err(|e| corrupt(table, column, key, format!("{s:?}: {e}")))
}

/// The answer of a proposal row from its columns `status, answered_at, answered_by,
/// answer_text, plan_id, counter_installments, counter_amount_minor, counter_first_due,
/// counter_every` (in that order); `None` while open.
pub(crate) fn answer_of(key: &str, r: &[Cell]) -> Result<Option<StoredAnswer>, StoreError> {
    let bad = |column: &'static str, detail: String| corrupt("plan_proposals", column, key, detail);
    let status = r[0].text().unwrap_or("open");
    if status == "open" {
        return Ok(None);
    }
    let at = parse_ts("plan_proposals", "answered_at", key, &r[1])?;
    let by = r[2].text().unwrap_or_default().to_owned();
    let words = r[3].text().unwrap_or_default().to_owned();
    let answer = match status {
        "accepted" => ProposalAnswer::Accepted {
            plan_id: r[4].text().unwrap_or_default().to_owned(),
        },
        "declined" => ProposalAnswer::Declined { reason: words },
        "countered" => {
            let due = r[7].text().unwrap_or_default();
            ProposalAnswer::Countered {
                offer: CounterOffer {
                    installments: u32::try_from(r[5].int().unwrap_or_default())
                        .map_err(|e| bad("counter_installments", e.to_string()))?,
                    amount_minor: r[6].int().unwrap_or_default(),
                    first_due: due
                        .parse()
                        .map_err(|e| bad("counter_first_due", format!("{due:?}: {e}")))?,
                    every: r[8].text().unwrap_or("month").to_owned(),
                },
                text: words,
            }
        }
        other => return Err(bad("status", format!("{other:?}"))),
    };
    Ok(Some(StoredAnswer { answer, at, by }))
}

impl Store {
    /// Sets (or clears) a staff user's time zone; false when there is no such user. The
    /// zone's name is checked by the caller.
    pub async fn set_user_zone(
        &self,
        username: &str,
        zone: Option<&str>,
    ) -> Result<bool, StoreError> {
        let n = self
            .exec_once(
                "setting a user's time zone",
                "UPDATE users SET time_zone = $2 WHERE username = $1",
                &[text(username), opt_text(zone)],
            )
            .await?;
        Ok(n > 0)
    }

    /// Keeps the notes written on a recorded contact; false when there is no such contact
    /// or it has notes already.
    pub async fn add_contact_note(
        &self,
        contact_id: &str,
        body: &str,
        written_by: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let d = self.dialect();
        let n = self
            .exec_once(
                "storing a call's notes",
                &format!(
                    "INSERT INTO contact_notes (contact_id, body, written_by, at) \
                     SELECT c.contact_id, $2, $3, {} FROM contacts c WHERE c.contact_id = $1 \
                     AND NOT EXISTS (SELECT 1 FROM contact_notes n WHERE n.contact_id = $1)",
                    d.param(4, Ty::Ts)
                ),
                &[text(contact_id), text(body), text(written_by), ts(at)],
            )
            .await?;
        Ok(n > 0)
    }

    /// The notes on a borrower's contacts, by contact id.
    pub async fn contact_notes(
        &self,
        borrower_id: &str,
    ) -> Result<std::collections::HashMap<String, String>, StoreError> {
        let rows = self
            .fetch_once(
                "reading call notes",
                "SELECT n.contact_id, n.body FROM contact_notes n \
                 JOIN contacts c ON c.contact_id = n.contact_id WHERE c.borrower_id = $1",
                &[text(borrower_id)],
                &[Ty::Text, Ty::Text],
            )
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| Some((r[0].text()?.to_owned(), r[1].text()?.to_owned())))
            .collect())
    }

    /// Answers an open plan proposal of `loan_id`; false when there is no such proposal of
    /// that loan or it is answered already.
    pub async fn answer_plan_proposal(
        &self,
        proposal_id: i64,
        loan_id: &str,
        answer: &ProposalAnswer,
        by: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let d = self.dialect();
        let none = || Cell::Int(None);
        let (status, words, plan, n, amount, first, every) = match answer {
            ProposalAnswer::Accepted { plan_id } => (
                "accepted",
                None,
                Some(plan_id.as_str()),
                none(),
                none(),
                None,
                None,
            ),
            ProposalAnswer::Declined { reason } => (
                "declined",
                Some(reason.as_str()),
                None,
                none(),
                none(),
                None,
                None,
            ),
            ProposalAnswer::Countered { offer, text } => (
                "countered",
                Some(text.as_str()),
                None,
                int(i64::from(offer.installments)),
                int(offer.amount_minor),
                Some(date_text(offer.first_due)),
                Some(offer.every.as_str()),
            ),
        };
        let n = self
            .exec_once(
                "answering a plan proposal",
                &format!(
                    "UPDATE plan_proposals SET status = $3, answered_at = {}, answered_by = $5, \
                     answer_text = $6, plan_id = $7, counter_installments = $8, \
                     counter_amount_minor = $9, counter_first_due = {}, counter_every = $11 \
                     WHERE proposal_id = $1 AND loan_id = $2 AND status = 'open'",
                    d.param(4, Ty::Ts),
                    d.param(10, Ty::Date)
                ),
                &[
                    int(proposal_id),
                    text(loan_id),
                    text(status),
                    Cell::Text(Some(ts_text(at))),
                    text(by),
                    opt_text(words),
                    opt_text(plan),
                    n,
                    amount,
                    Cell::Text(first),
                    opt_text(every),
                ],
            )
            .await?;
        Ok(n > 0)
    }

    /// Cancels a promise of `loan_id` with a reason; false when there is no such promise of
    /// that loan or it is cancelled already.
    pub async fn cancel_promise(
        &self,
        promise_id: &str,
        loan_id: &str,
        by: &str,
        reason: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let d = self.dialect();
        let n = self
            .exec_once(
                "cancelling a promise",
                &format!(
                    "INSERT INTO promise_cancellations (promise_id, cancelled_at, cancelled_by, reason) \
                     SELECT p.promise_id, {}, $4, $5 FROM promises p \
                     WHERE p.promise_id = $1 AND p.loan_id = $2 AND NOT EXISTS \
                     (SELECT 1 FROM promise_cancellations c WHERE c.promise_id = $1)",
                    d.param(3, Ty::Ts)
                ),
                &[
                    text(promise_id),
                    text(loan_id),
                    ts(at),
                    text(by),
                    text(reason),
                ],
            )
            .await?;
        Ok(n > 0)
    }
}
