//! Write-off with approval and settlement, the one door (`docs/settlement.md`).
//!
//! - Write-off: `arrears plan --db` keeps the plan's write-off proposals
//!   ([`record_write_off_proposals`]); a supervisor, signed in with their own password (the
//!   staff pages' session, or `arrears write-off approve --user U --password-stdin`), decides
//!   each once with a reason ([`decide_write_off`]); an approval writes the loan off by
//!   component and its status becomes `written_off`, so the next daily run and the reports
//!   follow.
//! - Settlement: an agent offers a discounted lump sum or plan within the lender's policy
//!   limit for the loan's stage and dpd ([`offer_settlement`]); the agent (on the borrower's
//!   word) or the borrower in the portal accepts it ([`accept_settlement`]); the daily run
//!   with the store reviews every live settlement ([`review_settlements`]): an accepted one
//!   paid in full is closed with the remainder written off by component, one not paid when
//!   due lapses (nothing forgiven), an offer not accepted in time lapses.
//!
//! No clock and no files: `now` and the business date are arguments.

use crate::rules::EffectivePolicy;
use arrears_domain::TimeZoneName;
use arrears_engine::settlement::{self, SettlementProgress};
use arrears_policy::settlement_limit_for;
use arrears_store::{
    NewSettlement, NewWriteOffProposal, SettlementsOf, Store, StoreError, StoredSettlement,
    WorkError, WriteOffDecision, WriteOffProposalView, WrittenOff,
};
use arrears_strategy::InternalProposal;
use jiff::Timestamp;
use jiff::civil::Date;

/// The longest reason a decision may carry (characters).
pub const REASON_MAX: usize = 2000;

/// A request the rules or the data refuse, or a store failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettleError {
    /// The person may not do this (answered 403).
    #[error("{0}")]
    NotAllowed(String),
    /// The request is malformed or outside the lender's limits (answered 422).
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Work(#[from] WorkError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A staff user signed in with their own password: who, and their role.
#[derive(Debug, Clone, Copy)]
pub struct Staff<'a> {
    pub username: &'a str,
    pub role: &'a str,
}

/// Whether a role may decide write-offs.
pub fn may_decide_write_offs(role: &str) -> bool {
    matches!(role, "supervisor" | "admin")
}

/// Keeps the plan's write-off proposals of `as_of` (see `Store::record_write_off_proposals`
/// for which are kept). Returns how many.
pub async fn record_write_off_proposals(
    store: &Store,
    as_of: Date,
    proposals: &[InternalProposal],
    now: Timestamp,
) -> Result<u64, SettleError> {
    let rows: Vec<NewWriteOffProposal> = proposals
        .iter()
        .map(|p| NewWriteOffProposal {
            proposal_id: p.action_id.clone(),
            loan_id: p.loan_id.to_string(),
            proposed_on: as_of,
            rule_id: p.rule_id.clone(),
            pack_rule: p.pack_rule.map(|r| r.as_str().to_owned()),
            stage: p.stage.clone(),
        })
        .collect();
    Ok(store.record_write_off_proposals(&rows, now).await?)
}

/// The proposals (undecided only, when `open_only`).
pub async fn write_off_proposals(
    store: &Store,
    open_only: bool,
) -> Result<Vec<WriteOffProposalView>, SettleError> {
    Ok(store.write_off_proposals(open_only).await?)
}

fn reason_of(reason: &str) -> Result<String, SettleError> {
    let r = reason.trim();
    if r.is_empty() {
        return Err(SettleError::Invalid(
            "Field reason: a decision needs a reason.".into(),
        ));
    }
    if r.chars().count() > REASON_MAX {
        return Err(SettleError::Invalid(format!(
            "Field reason: at most {REASON_MAX} characters."
        )));
    }
    Ok(r.to_owned())
}

/// A supervisor's decision on a write-off proposal (see the module documentation).
pub async fn decide_write_off(
    store: &Store,
    staff: Staff<'_>,
    proposal_id: &str,
    approve: bool,
    reason: &str,
    now: Timestamp,
) -> Result<Option<WrittenOff>, SettleError> {
    if !may_decide_write_offs(staff.role) {
        return Err(SettleError::NotAllowed(format!(
            "{} is {}; only a supervisor or an admin decides write-offs.",
            staff.username, staff.role
        )));
    }
    let reason = reason_of(reason)?;
    Ok(store
        .decide_write_off(&WriteOffDecision {
            proposal_id: proposal_id.to_owned(),
            approve,
            reason,
            decided_by: staff.username.to_owned(),
            role: staff.role.to_owned(),
            at: now,
        })
        .await?)
}

/// The terms an agent offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferTerms {
    pub settlement_id: String,
    pub loan_id: String,
    pub discount_bps: u32,
    /// 1: a lump sum; more: a discounted plan of monthly payments.
    pub instalments: u32,
    pub first_due: Date,
    /// The last business date it may be accepted (at most `first_due`).
    pub accept_by: Date,
}

/// Who offers: staff whose role may work accounts.
pub fn may_offer(role: &str) -> bool {
    matches!(role, "agent" | "supervisor" | "admin")
}

/// Offers a settlement on the loan's latest snapshot, within the limit the lender's policy in
/// force sets for its stage and dpd.
pub async fn offer_settlement(
    store: &Store,
    policy: &EffectivePolicy,
    staff: Staff<'_>,
    terms: &OfferTerms,
    today: Date,
    now: Timestamp,
) -> Result<StoredSettlement, SettleError> {
    if !may_offer(staff.role) {
        return Err(SettleError::NotAllowed(format!(
            "{} is {}; settlements are offered by agents, supervisors and admins.",
            staff.username, staff.role
        )));
    }
    if terms.accept_by < today {
        return Err(SettleError::Invalid(format!(
            "Field accept_by: {} is before today ({today}).",
            terms.accept_by
        )));
    }
    if terms.first_due < terms.accept_by {
        return Err(SettleError::Invalid(format!(
            "Field first_due: {} is before the last day to accept ({}); the first payment falls due after the offer is accepted.",
            terms.first_due, terms.accept_by
        )));
    }
    let Some((snap_on, _, stage, dpd, c)) = store.latest_balances(&terms.loan_id).await? else {
        return Err(SettleError::Invalid(format!(
            "Loan {:?} has no daily-run snapshot; run `arrears run --db` first.",
            terms.loan_id
        )));
    };
    let dpd_u = u32::try_from(dpd.max(0)).unwrap_or(u32::MAX);
    let Some(limit) = settlement_limit_for(&policy.settlement, &stage, dpd_u) else {
        return Err(SettleError::Invalid(format!(
            "The lender's policy ({}) allows no settlement of a loan in stage {stage} at {dpd} days past due.",
            policy.origin
        )));
    };
    if terms.discount_bps == 0 || terms.discount_bps > limit.max_discount_bps {
        return Err(SettleError::Invalid(format!(
            "Field discount_bps: {} is outside 1..={} (the lender's limit for stage {stage} at {dpd} days past due).",
            terms.discount_bps, limit.max_discount_bps
        )));
    }
    if terms.instalments == 0 || terms.instalments > limit.max_instalments {
        return Err(SettleError::Invalid(format!(
            "Field instalments: {} is outside 1..={} (the lender's limit for stage {stage} at {dpd} days past due).",
            terms.instalments, limit.max_instalments
        )));
    }
    let outstanding = c
        .total()
        .ok_or_else(|| SettleError::Invalid("the balances overflow".into()))?;
    let d = settlement::discount(outstanding, terms.discount_bps);
    if d.amount_minor <= 0 || d.discount_minor <= 0 {
        return Err(SettleError::Invalid(format!(
            "Loan {:?} owes {outstanding} minor units on {snap_on}; a {} bps discount of it forgives nothing or everything.",
            terms.loan_id, terms.discount_bps
        )));
    }
    let schedule = settlement::instalments(d.amount_minor, terms.instalments, terms.first_due)
        .ok_or_else(|| SettleError::Invalid("the instalments fall off the calendar".into()))?;
    let new = NewSettlement {
        settlement_id: terms.settlement_id.clone(),
        loan_id: terms.loan_id.clone(),
        offered_at: now,
        offered_by: staff.username.to_owned(),
        snapshot_as_of: snap_on,
        stage,
        dpd,
        components: c,
        outstanding_minor: outstanding,
        limit_bps: limit.max_discount_bps,
        discount_bps: terms.discount_bps,
        discount_minor: d.discount_minor,
        amount_minor: d.amount_minor,
        accept_by: terms.accept_by,
        instalments: schedule,
    };
    store.offer_settlement(&new).await?;
    store
        .settlement(&terms.settlement_id)
        .await?
        .ok_or_else(|| SettleError::Invalid("the settlement did not read back".into()))
}

/// Who accepts a settlement.
#[derive(Debug, Clone, Copy)]
pub enum Acceptor<'a> {
    /// The borrower, signed in to the portal: only their own loan's settlement.
    Borrower(&'a str),
    /// Staff recording the borrower's acceptance (on a call, by letter).
    Staff(Staff<'a>),
}

/// Accepts an offered settlement on `today` (no later than its last day to accept).
pub async fn accept_settlement(
    store: &Store,
    settlement_id: &str,
    by: Acceptor<'_>,
    today: Date,
    now: Timestamp,
) -> Result<StoredSettlement, SettleError> {
    let s = store
        .settlement(settlement_id)
        .await?
        .ok_or_else(|| WorkError::NotFound {
            what: "settlement",
            id: settlement_id.to_owned(),
        })?;
    let actor = match by {
        Acceptor::Borrower(b) => {
            if s.borrower_id != b {
                return Err(SettleError::NotAllowed(
                    "This settlement is not for your loan.".into(),
                ));
            }
            format!("borrower:{b}")
        }
        Acceptor::Staff(st) => {
            if !may_offer(st.role) {
                return Err(SettleError::NotAllowed(format!(
                    "{} is {}; acceptances are recorded by agents, supervisors and admins.",
                    st.username, st.role
                )));
            }
            st.username.to_owned()
        }
    };
    Ok(store
        .settlement_event(settlement_id, "accepted", today, now, &actor)
        .await?)
}

/// Withdraws an offer that was not accepted.
pub async fn withdraw_settlement(
    store: &Store,
    staff: Staff<'_>,
    settlement_id: &str,
    today: Date,
    now: Timestamp,
) -> Result<StoredSettlement, SettleError> {
    if !may_offer(staff.role) {
        return Err(SettleError::NotAllowed(format!(
            "{} is {}; offers are withdrawn by agents, supervisors and admins.",
            staff.username, staff.role
        )));
    }
    Ok(store
        .settlement_event(settlement_id, "withdrawn", today, now, staff.username)
        .await?)
}

/// What a review did to one settlement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reviewed {
    Paid {
        settlement_id: String,
        on: Date,
        written_off: Option<WrittenOff>,
    },
    Lapsed {
        settlement_id: String,
        on: Date,
    },
}

/// Reviews every live settlement as of `as_of` (after that date's snapshot is written): an
/// offer past its last day to accept lapses; an accepted one is paid or lapses by its
/// payments (`arrears_engine::settlement::progress`, in the business zone). Idempotent: what
/// was decided is not decided again.
pub async fn review_settlements(
    store: &Store,
    as_of: Date,
    zone: &TimeZoneName,
    now: Timestamp,
) -> Result<Vec<Reviewed>, SettleError> {
    let mut out = Vec::new();
    for s in store.settlements(SettlementsOf::All).await? {
        match s.status() {
            "offered" if as_of > s.accept_by => {
                let on = s.accept_by.tomorrow().unwrap_or(as_of);
                store
                    .settlement_event(&s.settlement_id, "lapsed", on, now, "daily-run")
                    .await?;
                out.push(Reviewed::Lapsed {
                    settlement_id: s.settlement_id,
                    on,
                });
            }
            "accepted" => {
                let Some(accepted_at) = s.accepted_at() else {
                    continue;
                };
                let moves = store.loan_payment_moves(&s.loan_id).await?;
                match settlement::progress(accepted_at, &s.instalments, &moves, as_of, zone) {
                    SettlementProgress::Open { .. } => {}
                    SettlementProgress::Lapsed { on, .. } => {
                        store
                            .settlement_event(&s.settlement_id, "lapsed", on, now, "daily-run")
                            .await?;
                        out.push(Reviewed::Lapsed {
                            settlement_id: s.settlement_id,
                            on,
                        });
                    }
                    SettlementProgress::Paid { on } => {
                        let written = store
                            .settlement_paid(&s.settlement_id, on, as_of, now, "daily-run")
                            .await?;
                        out.push(Reviewed::Paid {
                            settlement_id: s.settlement_id,
                            on,
                            written_off: written,
                        });
                    }
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// The settlements of a borrower (the portal) or a loan (the account page).
pub async fn settlements_of(
    store: &Store,
    by: SettlementsOf<'_>,
) -> Result<Vec<StoredSettlement>, SettleError> {
    Ok(store.settlements(by).await?)
}
