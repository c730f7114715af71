//! The court path (docs/legal.md, migration 0019): referrals the plan proposes and a
//! supervisor approves or rejects with a reason, the case filed from an approved referral,
//! judgment (amount and date), enforcement, closing with an outcome, enforcement measures and
//! their statuses, and case costs.
//!
//! Every write is one transaction that locks the loan's borrower first and claims its
//! idempotency key in `work_requests` (the same as `work.rs`: the same key and body again is
//! "already recorded", another body a conflict), then checks the state and writes. Every
//! table is append-only: a referral is `proposed` until its decision row, a measure's status
//! is its latest status row. The compliance decision is the caller's (`decide`), made over
//! the borrower's facts read inside the transaction.

use crate::schema::{date_text, int, text, ts};
use crate::sql::{Cell, Tx, Ty};
use crate::work::{
    CaseUpdate, case_status_in, case_transition_allowed, claim, facts_of_loan, get_date, get_text,
    get_ts, insert_case_update, loan_of, lock, not_found,
};
use crate::{BorrowerContacts, Ingested, Store, StoreError, WorkError, WorkMeta};
use jiff::Timestamp;
use jiff::civil::Date;

/// The outcomes a closed case may have.
pub const CASE_OUTCOMES: [&str; 3] = ["satisfied", "withdrawn", "terminated"];
/// The kinds of enforcement measure.
pub const MEASURE_KINDS: [&str; 5] = [
    "asset_freeze",
    "account_freeze",
    "wage_garnishment",
    "dishonest_debtor_listing",
    "spending_restriction",
];
/// The statuses of an enforcement measure.
pub const MEASURE_STATUSES: [&str; 4] = ["applied", "in_force", "refused", "lifted"];
/// The kinds of case cost.
pub const COST_KINDS: [&str; 4] = ["court_fee", "lawyer_fee", "enforcement_fee", "other"];

/// Whether a measure may go from `from` to `to`: applied → in_force | refused; in_force →
/// lifted; nothing leaves refused or lifted.
pub fn measure_transition_allowed(from: &str, to: &str) -> bool {
    matches!(
        (from, to),
        ("applied", "in_force" | "refused") | ("in_force", "lifted")
    )
}

/// Whether a measure of `kind` may be ordered in a case at `case_status`: a freeze of assets
/// or accounts (preservation, 财产保全) in any open case; the others only in enforcement.
pub fn measure_allowed_at(kind: &str, case_status: &str) -> bool {
    match kind {
        "asset_freeze" | "account_freeze" => {
            matches!(case_status, "filed" | "judgment" | "enforcement")
        }
        _ => case_status == "enforcement",
    }
}

/// A referral the plan proposes (`legal_review`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferralProposal {
    pub loan_id: String,
    pub action_id: String,
    pub rule_id: String,
}

/// What recording a plan's referral proposals did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProposalsRecorded {
    /// Referrals recorded now.
    pub recorded: Vec<String>,
    /// Loans with a referral still waiting for a decision (nothing recorded).
    pub pending: Vec<String>,
    /// Loans with an approved referral not yet ended by a closed case.
    pub in_progress: Vec<String>,
    /// Loans without a snapshot or with nothing outstanding in it.
    pub nothing_owed: Vec<String>,
}

/// A referral as stored, with its decision and the case filed from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReferral {
    pub referral_id: String,
    pub loan_id: String,
    pub borrower_id: String,
    pub proposed_on: Date,
    pub amount_claimed_minor: i64,
    pub snapshot_as_of: Date,
    pub action_id: String,
    pub rule_id: String,
    /// `proposed`, `approved` or `rejected`.
    pub status: String,
    pub reason: Option<String>,
    pub decided_by: Option<String>,
    pub decided_at: Option<Timestamp>,
    pub case_id: Option<String>,
    /// The case's current status, when there is a case.
    pub case_status: Option<String>,
    /// The loan's currency (of the amount claimed).
    pub currency: String,
}

/// A supervisor's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferralDecision {
    pub approve: bool,
    pub reason: String,
    pub decided_by: String,
    pub decided_at: Timestamp,
}

/// The case filed from an approved referral.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiledCase {
    pub case_id: String,
    pub court: String,
    pub case_number: String,
    pub filed_at: Timestamp,
    pub note: Option<String>,
}

/// A step of a case: judgment (amount and date), enforcement, or closed (with an outcome).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseStep {
    Judgment {
        amount_awarded_minor: i64,
        judgment_on: Date,
    },
    Enforcement,
    Closed {
        outcome: Option<String>,
    },
}

impl CaseStep {
    pub fn status(&self) -> &'static str {
        match self {
            CaseStep::Judgment { .. } => "judgment",
            CaseStep::Enforcement => "enforcement",
            CaseStep::Closed { .. } => "closed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMeasure {
    pub measure_id: String,
    pub case_id: String,
    pub kind: String,
    pub ordered_on: Date,
    pub authority: String,
    /// `applied` or `in_force`.
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeasureStatus {
    pub status: String,
    pub on: Date,
    pub actor: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMeasure {
    pub measure_id: String,
    pub kind: String,
    pub ordered_on: Date,
    pub authority: String,
    pub status: String,
    pub history: Vec<MeasureStatus>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCost {
    pub cost_id: String,
    pub case_id: String,
    pub kind: String,
    pub amount_minor: i64,
    pub incurred_on: Date,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCost {
    pub cost_id: String,
    pub kind: String,
    pub amount_minor: i64,
    pub incurred_on: Date,
    pub actor: String,
}

/// A case with what this module adds to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseFile {
    pub case: crate::StoredCase,
    pub borrower_id: String,
    pub currency: String,
    pub referral_id: Option<String>,
    pub judgment_on: Option<Date>,
    pub outcome: Option<String>,
    pub measures: Vec<StoredMeasure>,
    pub costs: Vec<StoredCost>,
}

fn state(code: &'static str, message: String) -> WorkError {
    WorkError::State { code, message }
}

/// The id of the referral the plan proposes for a loan on a date.
pub fn referral_id(loan_id: &str, on: Date) -> String {
    format!("LR-{on}-{loan_id}")
}

const REFERRAL_COLUMNS: &str = "r.referral_id, r.loan_id, r.borrower_id, {proposed_on}, {amount}, \
     {snapshot}, r.action_id, r.rule_id, d.status, d.reason, d.decided_by, {decided_at}, \
     cr.case_id, (SELECT u.status FROM legal_case_updates u WHERE u.case_id = cr.case_id \
     ORDER BY u.update_id DESC LIMIT 1), l.currency";

fn referral_select(d: crate::sql::Dialect, filter: &str) -> String {
    let cols = REFERRAL_COLUMNS
        .replace("{proposed_on}", &d.select("r.proposed_on", Ty::Date))
        .replace("{amount}", &d.select("r.amount_claimed_minor", Ty::Int))
        .replace("{snapshot}", &d.select("r.snapshot_as_of", Ty::Date))
        .replace("{decided_at}", &d.select("d.decided_at", Ty::Ts));
    format!(
        "SELECT {cols} FROM legal_referrals r \
         JOIN loans l ON l.loan_id = r.loan_id \
         LEFT JOIN legal_referral_decisions d ON d.referral_id = r.referral_id \
         LEFT JOIN legal_case_referrals cr ON cr.referral_id = r.referral_id \
         WHERE {filter} ORDER BY r.proposed_on, r.referral_id"
    )
}

const REFERRAL_TYPES: [Ty; 15] = [
    Ty::Text,
    Ty::Text,
    Ty::Text,
    Ty::Date,
    Ty::Int,
    Ty::Date,
    Ty::Text,
    Ty::Text,
    Ty::Text,
    Ty::Text,
    Ty::Text,
    Ty::Ts,
    Ty::Text,
    Ty::Text,
    Ty::Text,
];

fn read_referral(r: &[Cell]) -> Result<StoredReferral, StoreError> {
    let status = r[8].text().unwrap_or("proposed").to_owned();
    Ok(StoredReferral {
        referral_id: get_text(&r[0]),
        loan_id: get_text(&r[1]),
        borrower_id: get_text(&r[2]),
        proposed_on: get_date("legal_referrals", "proposed_on", &r[3])?,
        amount_claimed_minor: r[4].int().unwrap_or(0),
        snapshot_as_of: get_date("legal_referrals", "snapshot_as_of", &r[5])?,
        action_id: get_text(&r[6]),
        rule_id: get_text(&r[7]),
        status,
        reason: r[9].text().map(str::to_owned),
        decided_by: r[10].text().map(str::to_owned),
        decided_at: match r[11].text() {
            Some(_) => Some(get_ts("legal_referral_decisions", "decided_at", &r[11])?),
            None => None,
        },
        case_id: r[12].text().map(str::to_owned),
        case_status: r[13].text().map(str::to_owned),
        currency: get_text(&r[14]),
    })
}

async fn referrals_where(
    tx: &mut Tx,
    filter: &str,
    params: &[Cell],
) -> Result<Vec<StoredReferral>, StoreError> {
    let d = tx.dialect();
    let rows = tx
        .fetch_all(
            "reading legal referrals",
            &referral_select(d, filter),
            params,
            &REFERRAL_TYPES,
        )
        .await?;
    rows.iter().map(|r| read_referral(r)).collect()
}

async fn case_loan(tx: &mut Tx, case_id: &str) -> Result<Option<String>, StoreError> {
    loan_of(tx, "legal_cases", "case_id", case_id).await
}

impl Store {
    /// Records the plan's `legal_review` actions of `on` as referral proposals, in one
    /// transaction, loans in id order (each borrower locked as in every work write). A loan
    /// gets no new referral while one of its referrals waits for a decision, or was approved
    /// and has no closed case yet; nor when its latest snapshot shows nothing outstanding (the
    /// amount claimed is that snapshot's outstanding total: principal, overdue interest and
    /// fees, unpaid penalty). The same day's plan again records nothing twice.
    pub async fn record_referral_proposals(
        &self,
        on: Date,
        proposals: &[ReferralProposal],
        actor: &str,
        now: Timestamp,
    ) -> Result<ProposalsRecorded, StoreError> {
        let mut ps: Vec<&ReferralProposal> = proposals.iter().collect();
        ps.sort_by(|a, b| a.loan_id.cmp(&b.loan_id));
        ps.dedup_by(|a, b| a.loan_id == b.loan_id);
        let mut out = ProposalsRecorded::default();
        let mut tx = self.begin().await?;
        let d = tx.dialect();
        for p in ps {
            if !crate::service::lock_loan_borrower(&mut tx, &p.loan_id).await? {
                continue;
            }
            let open = referrals_where(&mut tx, "r.loan_id = $1", &[text(&p.loan_id)]).await?;
            let id = referral_id(&p.loan_id, on);
            if open.iter().any(|r| r.referral_id == id) {
                continue;
            }
            if open.iter().any(|r| r.status == "proposed") {
                out.pending.push(p.loan_id.clone());
                continue;
            }
            if open
                .iter()
                .any(|r| r.status == "approved" && r.case_status.as_deref() != Some("closed"))
            {
                out.in_progress.push(p.loan_id.clone());
                continue;
            }
            let snap = tx
                .fetch_all(
                    "reading the latest snapshot",
                    &format!(
                        "SELECT {}, {} FROM snapshots WHERE loan_id = $1 AND as_of <= {} \
                         ORDER BY as_of DESC LIMIT 1",
                        d.select("as_of", Ty::Date),
                        d.select(
                            "outstanding_principal_minor + overdue_interest_minor + overdue_fee_minor \
                             + penalty_accrued_minor - penalty_paid_minor",
                            Ty::Int
                        ),
                        d.param(2, Ty::Date)
                    ),
                    &[text(&p.loan_id), text(&date_text(on))],
                    &[Ty::Date, Ty::Int],
                )
                .await?;
            let Some((as_of, owed)) = snap
                .first()
                .map(|s| {
                    Ok::<_, StoreError>((
                        get_date("snapshots", "as_of", &s[0])?,
                        s[1].int().unwrap_or(0),
                    ))
                })
                .transpose()?
                .filter(|(_, owed)| *owed > 0)
            else {
                out.nothing_owed.push(p.loan_id.clone());
                continue;
            };
            tx.exec(
                "recording a legal referral",
                &format!(
                    "INSERT INTO legal_referrals (referral_id, loan_id, borrower_id, proposed_on, \
                     amount_claimed_minor, snapshot_as_of, action_id, rule_id, proposed_by, recorded_at) \
                     SELECT $1, loan_id, borrower_id, {}, $4, {}, $6, $7, $8, {} FROM loans \
                     WHERE loan_id = $2",
                    d.param(3, Ty::Date),
                    d.param(5, Ty::Date),
                    d.param(9, Ty::Ts)
                ),
                &[
                    text(&id),
                    text(&p.loan_id),
                    text(&date_text(on)),
                    int(owed),
                    text(&date_text(as_of)),
                    text(&p.action_id),
                    text(&p.rule_id),
                    text(actor),
                    ts(now),
                ],
            )
            .await?;
            out.recorded.push(id);
        }
        tx.commit().await?;
        Ok(out)
    }

    /// One referral.
    pub async fn legal_referral(
        &self,
        referral_id: &str,
    ) -> Result<Option<StoredReferral>, StoreError> {
        let mut tx = self.begin_read().await?;
        let out = referrals_where(&mut tx, "r.referral_id = $1", &[text(referral_id)]).await?;
        tx.commit().await?;
        Ok(out.into_iter().next())
    }

    /// Referrals by status (`proposed`, `approved`, `rejected`; None: all), oldest first, at
    /// most `limit`.
    pub async fn legal_referrals(
        &self,
        status: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredReferral>, StoreError> {
        let mut tx = self.begin_read().await?;
        let mut out = match status {
            Some("proposed") => referrals_where(&mut tx, "d.status IS NULL", &[]).await?,
            Some(s) => referrals_where(&mut tx, "d.status = $1", &[text(s)]).await?,
            None => referrals_where(&mut tx, "1 = 1", &[]).await?,
        };
        tx.commit().await?;
        out.truncate(limit);
        Ok(out)
    }

    /// A loan's referrals, oldest first.
    pub async fn loan_referrals(&self, loan_id: &str) -> Result<Vec<StoredReferral>, StoreError> {
        let mut tx = self.begin_read().await?;
        let out = referrals_where(&mut tx, "r.loan_id = $1", &[text(loan_id)]).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Approves or rejects a proposed referral, with its reason. An approval first asks
    /// `decide` (the compliance check of `legal_referral` at the decision's instant, over the
    /// borrower's facts read here): a refusal records nothing. A referral is decided once.
    pub async fn decide_referral<E>(
        &self,
        meta: &WorkMeta<'_>,
        referral_id: &str,
        dec: &ReferralDecision,
        decide: impl FnOnce(&BorrowerContacts, &str) -> Result<(), E>,
    ) -> Result<Ingested<E>, WorkError> {
        let loan = self
            .row_loan("legal_referrals", "referral_id", referral_id)
            .await?
            .ok_or_else(|| not_found("legal referral", referral_id))?;
        let mut tx = self.begin().await?;
        let d = tx.dialect();
        lock(&mut tx, &loan).await?;
        if let Some(done) = claim(&mut tx, meta).await? {
            return Ok(done);
        }
        let r = referrals_where(&mut tx, "r.referral_id = $1", &[text(referral_id)])
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| not_found("legal referral", referral_id))?;
        if r.status != "proposed" {
            return Err(state(
                "already_decided",
                format!(
                    "Referral {referral_id:?} was already {} by {}.",
                    r.status,
                    r.decided_by.unwrap_or_default()
                ),
            ));
        }
        if dec.reason.trim().is_empty() {
            return Err(WorkError::Invalid(
                "Field reason: a decision needs a reason".into(),
            ));
        }
        if dec.approve {
            let facts = facts_of_loan(&mut tx, &loan).await?;
            if let Err(e) = decide(&facts, &loan) {
                return Ok(Ingested::Refused(e));
            }
        }
        tx.exec(
            "recording a referral decision",
            &format!(
                "INSERT INTO legal_referral_decisions (referral_id, status, reason, decided_by, decided_at) \
                 VALUES ($1, $2, $3, $4, {})",
                d.param(5, Ty::Ts)
            ),
            &[
                text(referral_id),
                text(if dec.approve { "approved" } else { "rejected" }),
                text(dec.reason.trim()),
                text(&dec.decided_by),
                ts(dec.decided_at),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(Ingested::Recorded)
    }

    /// Files the case of an approved referral (court, case number; the amount claimed is the
    /// referral's), after `decide` (the `legal_referral` check at `filed_at`) allows it again.
    pub async fn file_referral_case<E>(
        &self,
        meta: &WorkMeta<'_>,
        referral_id: &str,
        c: &FiledCase,
        decide: impl FnOnce(&BorrowerContacts, &str) -> Result<(), E>,
    ) -> Result<Ingested<E>, WorkError> {
        let loan = self
            .row_loan("legal_referrals", "referral_id", referral_id)
            .await?
            .ok_or_else(|| not_found("legal referral", referral_id))?;
        let mut tx = self.begin().await?;
        let d = tx.dialect();
        lock(&mut tx, &loan).await?;
        if let Some(done) = claim(&mut tx, meta).await? {
            return Ok(done);
        }
        let r = referrals_where(&mut tx, "r.referral_id = $1", &[text(referral_id)])
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| not_found("legal referral", referral_id))?;
        if let Some(case) = &r.case_id {
            return Err(state(
                "already_filed",
                format!("Referral {referral_id:?} was filed already as case {case:?}."),
            ));
        }
        if r.status != "approved" {
            return Err(state(
                "not_approved",
                format!(
                    "Referral {referral_id:?} is {}; only an approved referral is filed.",
                    r.status
                ),
            ));
        }
        if case_loan(&mut tx, &c.case_id).await?.is_some() {
            return Err(state(
                "duplicate_id",
                format!("A legal case {:?} is already stored.", c.case_id),
            ));
        }
        let facts = facts_of_loan(&mut tx, &loan).await?;
        if let Err(e) = decide(&facts, &loan) {
            return Ok(Ingested::Refused(e));
        }
        tx.exec(
            "recording a legal case",
            &format!(
                "INSERT INTO legal_cases (case_id, loan_id, court, case_number, amount_claimed_minor, actor, recorded_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, {})",
                d.param(7, Ty::Ts)
            ),
            &[
                text(&c.case_id),
                text(&loan),
                text(&c.court),
                text(&c.case_number),
                int(r.amount_claimed_minor),
                text(meta.actor),
                ts(meta.received_at),
            ],
        )
        .await?;
        insert_case_update(
            &mut tx,
            d,
            &c.case_id,
            &CaseUpdate {
                status: "filed".into(),
                at: c.filed_at,
                amount_awarded_minor: None,
                note: c.note.clone(),
                actor: meta.actor.to_owned(),
            },
        )
        .await?;
        tx.exec(
            "linking a case to its referral",
            "INSERT INTO legal_case_referrals (case_id, referral_id) VALUES ($1, $2)",
            &[text(&c.case_id), text(referral_id)],
        )
        .await?;
        tx.commit().await?;
        Ok(Ingested::Recorded)
    }

    /// Moves a case one step: judgment (with the amount awarded and the judgment's date),
    /// enforcement, or closed (with its outcome). Forward only; an illegal step is a
    /// `State` error `illegal_transition` naming both statuses.
    pub async fn advance_case(
        &self,
        meta: &WorkMeta<'_>,
        case_id: &str,
        step: &CaseStep,
        at: Timestamp,
        note: Option<&str>,
    ) -> Result<Ingested<()>, WorkError> {
        let loan = self
            .row_loan("legal_cases", "case_id", case_id)
            .await?
            .ok_or_else(|| not_found("legal case", case_id))?;
        let mut tx = self.begin().await?;
        let d = tx.dialect();
        lock(&mut tx, &loan).await?;
        if let Some(done) = claim(&mut tx, meta).await? {
            return Ok(done);
        }
        let from = case_status_in(&mut tx, case_id).await?.unwrap_or_default();
        let to = step.status();
        if !case_transition_allowed(&from, to) {
            return Err(state(
                "illegal_transition",
                format!("Legal case {case_id:?} is at {from}; it cannot go to {to}."),
            ));
        }
        let awarded = match step {
            CaseStep::Judgment {
                amount_awarded_minor,
                ..
            } => Some(*amount_awarded_minor),
            _ => None,
        };
        insert_case_update(
            &mut tx,
            d,
            case_id,
            &CaseUpdate {
                status: to.to_owned(),
                at,
                amount_awarded_minor: awarded,
                note: note.map(str::to_owned),
                actor: meta.actor.to_owned(),
            },
        )
        .await?;
        match step {
            CaseStep::Judgment { judgment_on, .. } => {
                tx.exec(
                    "recording a judgment's date",
                    &format!(
                        "INSERT INTO legal_case_judgments (case_id, judgment_on) VALUES ($1, {})",
                        d.param(2, Ty::Date)
                    ),
                    &[text(case_id), text(&date_text(*judgment_on))],
                )
                .await?;
            }
            CaseStep::Closed {
                outcome: Some(outcome),
            } => {
                tx.exec(
                    "recording a case's outcome",
                    "INSERT INTO legal_case_outcomes (case_id, outcome) VALUES ($1, $2)",
                    &[text(case_id), text(outcome)],
                )
                .await?;
            }
            _ => {}
        }
        tx.commit().await?;
        Ok(Ingested::Recorded)
    }

    /// Records an enforcement measure of an open case (a freeze in any open case, the other
    /// kinds in enforcement: [`measure_allowed_at`]).
    pub async fn record_measure(
        &self,
        meta: &WorkMeta<'_>,
        m: &NewMeasure,
    ) -> Result<Ingested<()>, WorkError> {
        let loan = self
            .row_loan("legal_cases", "case_id", &m.case_id)
            .await?
            .ok_or_else(|| not_found("legal case", &m.case_id))?;
        let mut tx = self.begin().await?;
        let d = tx.dialect();
        lock(&mut tx, &loan).await?;
        if let Some(done) = claim(&mut tx, meta).await? {
            return Ok(done);
        }
        let taken = tx
            .fetch_all(
                "looking up a measure",
                "SELECT case_id FROM legal_measures WHERE measure_id = $1",
                &[text(&m.measure_id)],
                &[Ty::Text],
            )
            .await?;
        if !taken.is_empty() {
            return Err(state(
                "duplicate_id",
                format!("A measure {:?} is already stored.", m.measure_id),
            ));
        }
        let status = case_status_in(&mut tx, &m.case_id)
            .await?
            .unwrap_or_default();
        if !measure_allowed_at(&m.kind, &status) {
            return Err(state(
                "illegal_transition",
                format!(
                    "Legal case {:?} is at {status}; a {} is recorded {}.",
                    m.case_id,
                    m.kind,
                    if m.kind.ends_with("_freeze") {
                        "only while the case is open"
                    } else {
                        "only in enforcement"
                    }
                ),
            ));
        }
        tx.exec(
            "recording a measure",
            &format!(
                "INSERT INTO legal_measures (measure_id, case_id, kind, ordered_on, authority, actor, recorded_at) \
                 VALUES ($1, $2, $3, {}, $5, $6, {})",
                d.param(4, Ty::Date),
                d.param(7, Ty::Ts)
            ),
            &[
                text(&m.measure_id),
                text(&m.case_id),
                text(&m.kind),
                text(&date_text(m.ordered_on)),
                text(&m.authority),
                text(meta.actor),
                ts(meta.received_at),
            ],
        )
        .await?;
        insert_measure_status(&mut tx, &m.measure_id, &m.status, m.ordered_on, meta.actor).await?;
        tx.commit().await?;
        Ok(Ingested::Recorded)
    }

    /// Moves a measure to another status ([`measure_transition_allowed`]).
    pub async fn update_measure(
        &self,
        meta: &WorkMeta<'_>,
        measure_id: &str,
        status: &str,
        on: Date,
    ) -> Result<Ingested<()>, WorkError> {
        let case = {
            let mut tx = self.begin_read().await?;
            let rows = tx
                .fetch_all(
                    "looking up a measure",
                    "SELECT c.loan_id FROM legal_measures m JOIN legal_cases c ON c.case_id = m.case_id \
                     WHERE m.measure_id = $1",
                    &[text(measure_id)],
                    &[Ty::Text],
                )
                .await?;
            tx.commit().await?;
            rows.first().map(|r| get_text(&r[0]))
        };
        let loan = case.ok_or_else(|| not_found("measure", measure_id))?;
        let mut tx = self.begin().await?;
        lock(&mut tx, &loan).await?;
        if let Some(done) = claim(&mut tx, meta).await? {
            return Ok(done);
        }
        let from = tx
            .fetch_all(
                "reading a measure's status",
                "SELECT status FROM legal_measure_statuses WHERE measure_id = $1 \
                 ORDER BY change_id DESC LIMIT 1",
                &[text(measure_id)],
                &[Ty::Text],
            )
            .await?
            .first()
            .map(|r| get_text(&r[0]))
            .unwrap_or_default();
        if !measure_transition_allowed(&from, status) {
            return Err(state(
                "illegal_transition",
                format!("Measure {measure_id:?} is {from}; it cannot become {status}."),
            ));
        }
        insert_measure_status(&mut tx, measure_id, status, on, meta.actor).await?;
        tx.commit().await?;
        Ok(Ingested::Recorded)
    }

    /// Records a cost of a case (any case, closed ones included: bills come late).
    pub async fn record_case_cost(
        &self,
        meta: &WorkMeta<'_>,
        c: &NewCost,
    ) -> Result<Ingested<()>, WorkError> {
        let loan = self
            .row_loan("legal_cases", "case_id", &c.case_id)
            .await?
            .ok_or_else(|| not_found("legal case", &c.case_id))?;
        let mut tx = self.begin().await?;
        let d = tx.dialect();
        lock(&mut tx, &loan).await?;
        if let Some(done) = claim(&mut tx, meta).await? {
            return Ok(done);
        }
        let taken = tx
            .fetch_all(
                "looking up a cost",
                "SELECT case_id FROM legal_case_costs WHERE cost_id = $1",
                &[text(&c.cost_id)],
                &[Ty::Text],
            )
            .await?;
        if !taken.is_empty() {
            return Err(state(
                "duplicate_id",
                format!("A cost {:?} is already stored.", c.cost_id),
            ));
        }
        tx.exec(
            "recording a case cost",
            &format!(
                "INSERT INTO legal_case_costs (cost_id, case_id, kind, amount_minor, incurred_on, actor, recorded_at) \
                 VALUES ($1, $2, $3, $4, {}, $6, {})",
                d.param(5, Ty::Date),
                d.param(7, Ty::Ts)
            ),
            &[
                text(&c.cost_id),
                text(&c.case_id),
                text(&c.kind),
                int(c.amount_minor),
                text(&date_text(c.incurred_on)),
                text(meta.actor),
                ts(meta.received_at),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(Ingested::Recorded)
    }

    /// A case with its referral, judgment date, outcome, measures and costs.
    pub async fn case_file(&self, case_id: &str) -> Result<Option<CaseFile>, StoreError> {
        let Some(loan) = self.row_loan("legal_cases", "case_id", case_id).await? else {
            return Ok(None);
        };
        let Some(case) = self
            .loan_legal_cases(&loan)
            .await?
            .into_iter()
            .find(|c| c.case_id == case_id)
        else {
            return Ok(None);
        };
        let mut tx = self.begin_read().await?;
        let d = tx.dialect();
        let head = tx
            .fetch_all(
                "reading a case's file",
                &format!(
                    "SELECT l.borrower_id, l.currency, cr.referral_id, {}, o.outcome \
                     FROM legal_cases c JOIN loans l ON l.loan_id = c.loan_id \
                     LEFT JOIN legal_case_referrals cr ON cr.case_id = c.case_id \
                     LEFT JOIN legal_case_judgments j ON j.case_id = c.case_id \
                     LEFT JOIN legal_case_outcomes o ON o.case_id = c.case_id \
                     WHERE c.case_id = $1",
                    d.select("j.judgment_on", Ty::Date)
                ),
                &[text(case_id)],
                &[Ty::Text, Ty::Text, Ty::Text, Ty::Date, Ty::Text],
            )
            .await?;
        let Some(h) = head.first() else {
            tx.commit().await?;
            return Ok(None);
        };
        let measures = tx
            .fetch_all(
                "reading a case's measures",
                &format!(
                    "SELECT m.measure_id, m.kind, {}, m.authority, s.status, {}, s.actor \
                     FROM legal_measures m JOIN legal_measure_statuses s ON s.measure_id = m.measure_id \
                     WHERE m.case_id = $1 ORDER BY m.ordered_on, m.measure_id, s.change_id",
                    d.select("m.ordered_on", Ty::Date),
                    d.select("s.on_date", Ty::Date)
                ),
                &[text(case_id)],
                &[
                    Ty::Text,
                    Ty::Text,
                    Ty::Date,
                    Ty::Text,
                    Ty::Text,
                    Ty::Date,
                    Ty::Text,
                ],
            )
            .await?;
        let mut ms: Vec<StoredMeasure> = Vec::new();
        for r in &measures {
            let id = get_text(&r[0]);
            let st = MeasureStatus {
                status: get_text(&r[4]),
                on: get_date("legal_measure_statuses", "on_date", &r[5])?,
                actor: get_text(&r[6]),
            };
            match ms.last_mut() {
                Some(m) if m.measure_id == id => {
                    m.status = st.status.clone();
                    m.history.push(st);
                }
                _ => ms.push(StoredMeasure {
                    measure_id: id,
                    kind: get_text(&r[1]),
                    ordered_on: get_date("legal_measures", "ordered_on", &r[2])?,
                    authority: get_text(&r[3]),
                    status: st.status.clone(),
                    history: vec![st],
                }),
            }
        }
        let costs = tx
            .fetch_all(
                "reading a case's costs",
                &format!(
                    "SELECT cost_id, kind, {}, {}, actor FROM legal_case_costs WHERE case_id = $1 \
                     ORDER BY incurred_on, cost_id",
                    d.select("amount_minor", Ty::Int),
                    d.select("incurred_on", Ty::Date)
                ),
                &[text(case_id)],
                &[Ty::Text, Ty::Text, Ty::Int, Ty::Date, Ty::Text],
            )
            .await?
            .iter()
            .map(|r| {
                Ok(StoredCost {
                    cost_id: get_text(&r[0]),
                    kind: get_text(&r[1]),
                    amount_minor: r[2].int().unwrap_or(0),
                    incurred_on: get_date("legal_case_costs", "incurred_on", &r[3])?,
                    actor: get_text(&r[4]),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let out = CaseFile {
            borrower_id: get_text(&h[0]),
            currency: get_text(&h[1]),
            referral_id: h[2].text().map(str::to_owned),
            judgment_on: match h[3].text() {
                Some(_) => Some(get_date("legal_case_judgments", "judgment_on", &h[3])?),
                None => None,
            },
            outcome: h[4].text().map(str::to_owned),
            case,
            measures: ms,
            costs,
        };
        tx.commit().await?;
        Ok(Some(out))
    }

    /// The ids of a borrower's legal cases, oldest first.
    pub async fn borrower_case_ids(&self, borrower_id: &str) -> Result<Vec<String>, StoreError> {
        let rows = self
            .fetch_once(
                "reading a borrower's cases",
                "SELECT c.case_id FROM legal_cases c JOIN loans l ON l.loan_id = c.loan_id \
                 WHERE l.borrower_id = $1 ORDER BY c.recorded_at, c.case_id",
                &[text(borrower_id)],
                &[Ty::Text],
            )
            .await?;
        Ok(rows.iter().map(|r| get_text(&r[0])).collect())
    }
}

async fn insert_measure_status(
    tx: &mut Tx,
    measure_id: &str,
    status: &str,
    on: Date,
    actor: &str,
) -> Result<(), StoreError> {
    let d = tx.dialect();
    tx.exec(
        "recording a measure's status",
        &format!(
            "INSERT INTO legal_measure_statuses (measure_id, status, on_date, actor) \
             VALUES ($1, $2, {}, $4)",
            d.param(3, Ty::Date)
        ),
        &[
            text(measure_id),
            text(status),
            text(&date_text(on)),
            text(actor),
        ],
    )
    .await
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_move_forward_and_need_the_right_case_status() {
        assert!(measure_transition_allowed("applied", "in_force"));
        assert!(measure_transition_allowed("applied", "refused"));
        assert!(measure_transition_allowed("in_force", "lifted"));
        assert!(!measure_transition_allowed("in_force", "applied"));
        for s in MEASURE_STATUSES {
            assert!(!measure_transition_allowed("lifted", s));
            assert!(!measure_transition_allowed("refused", s));
        }
        for k in MEASURE_KINDS {
            assert!(measure_allowed_at(k, "enforcement"), "{k}");
            assert!(!measure_allowed_at(k, "closed"), "{k}");
            assert_eq!(
                measure_allowed_at(k, "filed"),
                k.ends_with("_freeze"),
                "{k}"
            );
        }
    }
}
