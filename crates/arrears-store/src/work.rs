//! The collections work the service records (docs/work.md): promises with their outcome,
//! payment plans and their instalments, agency placements and recalls, legal cases and
//! write-offs.
//!
//! Every write is one transaction that first locks the loan's borrower (so writes about one
//! loan are decided one after the other, on both backends), then looks up its idempotency
//! key in `work_requests`: the same key with the same body hash is "already recorded", with
//! another body a conflict, and nothing is applied twice. Only then are the preconditions
//! checked against what the store holds, and the rows written. Every table is append-only: a
//! plan's and a case's state is their latest status row, a placement is live until it has a
//! recall row.

use crate::schema::date_text;
use crate::schema::{int, opt_text, text, ts};
use crate::service::{borrower_contacts_in, loan_owner, lock_loan_borrower};
use crate::sql::{Cell, Dialect, Tx, Ty};
use crate::{BorrowerContacts, Ingested, Store, StoreError};
use arrears_domain::TimeZoneName;
use arrears_engine::{
    InstalmentProgress, PaymentMove, PromiseOutcome, PromiseTerms, instalment_progress,
    promise_outcome,
};
use jiff::Timestamp;
use jiff::civil::Date;

/// A write the store refuses because of what it holds, or a store failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("there is no {what} {id:?}")]
    NotFound { what: &'static str, id: String },
    /// The request contradicts what is stored (answered 422).
    #[error("{0}")]
    Invalid(String),
    /// The request is not possible in the current state (answered 409): an illegal
    /// transition, a second live placement, an id already used by another loan.
    #[error("{message}")]
    State { code: &'static str, message: String },
}

/// The bookkeeping of one write: its idempotency key (`placement:P1`, …), the kind, the
/// canonical body and its SHA-256 (hex), when it was received and who sent it.
#[derive(Debug, Clone)]
pub struct WorkMeta<'a> {
    pub key: &'a str,
    pub kind: &'a str,
    pub body: &'a str,
    pub body_sha256: &'a str,
    pub received_at: Timestamp,
    pub actor: &'a str,
}

/// The statuses of a payment plan.
pub const PLAN_STATUSES: [&str; 5] = ["proposed", "active", "completed", "broken", "cancelled"];

/// One instalment of a payment plan (the work API's plans and imported ones alike).
pub(crate) async fn insert_installment(
    tx: &mut Tx,
    plan_id: &str,
    seq: i64,
    due: Date,
    amount_minor: i64,
) -> Result<(), StoreError> {
    let d = tx.dialect();
    tx.exec(
        "recording an instalment",
        &format!(
            "INSERT INTO payment_plan_installments (plan_id, seq, due_date, amount_minor) \
             VALUES ($1, $2, {}, $4)",
            d.param(3, Ty::Date)
        ),
        &[
            text(plan_id),
            int(seq),
            text(&date_text(due)),
            int(amount_minor),
        ],
    )
    .await?;
    Ok(())
}

/// Whether a plan may go from `from` to `to`: proposed → active or cancelled; active →
/// completed, broken or cancelled; nothing leaves completed, broken or cancelled.
pub fn plan_transition_allowed(from: &str, to: &str) -> bool {
    matches!(
        (from, to),
        ("proposed", "active" | "cancelled") | ("active", "completed" | "broken" | "cancelled")
    )
}

/// The statuses of a legal case, in the order a case moves through them.
pub const CASE_STATUSES: [&str; 4] = ["filed", "judgment", "enforcement", "closed"];

/// Whether a case may go from `from` to `to`: forward only (filed → judgment → enforcement),
/// and any open case may be closed.
pub fn case_transition_allowed(from: &str, to: &str) -> bool {
    matches!(
        (from, to),
        ("filed", "judgment" | "enforcement" | "closed")
            | ("judgment", "enforcement" | "closed")
            | ("enforcement", "closed")
    )
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPlan {
    pub plan_id: String,
    pub loan_id: String,
    pub created_at: Timestamp,
    pub created_by: String,
    /// Due dates strictly increasing, amounts > 0 (checked at the edge).
    pub installments: Vec<(Date, i64)>,
    /// `proposed` or `active`.
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub status: String,
    pub at: Timestamp,
    pub reason: Option<String>,
    pub actor: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredInstallment {
    pub seq: i64,
    pub due_date: Date,
    pub amount_minor: i64,
    pub progress: InstalmentProgress,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPlan {
    pub plan_id: String,
    pub loan_id: String,
    pub created_at: Timestamp,
    pub created_by: String,
    pub status: String,
    pub history: Vec<StatusChange>,
    pub installments: Vec<StoredInstallment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPromise {
    pub promise_id: String,
    pub created_at: Timestamp,
    pub amount_minor: i64,
    pub due_date: Date,
    pub outcome: PromiseOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPlacement {
    pub placement_id: String,
    pub loan_id: String,
    pub agency_id: String,
    pub placed_at: Timestamp,
    pub commission_bps: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recall {
    pub recalled_at: Timestamp,
    pub reason: String,
    pub actor: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPlacement {
    pub placement_id: String,
    pub loan_id: String,
    pub agency_id: String,
    pub placed_at: Timestamp,
    pub commission_bps: Option<i64>,
    pub placed_by: String,
    pub recall: Option<Recall>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCase {
    pub case_id: String,
    pub loan_id: String,
    pub court: String,
    pub case_number: String,
    pub amount_claimed_minor: i64,
    pub filed_at: Timestamp,
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseUpdate {
    pub status: String,
    pub at: Timestamp,
    pub amount_awarded_minor: Option<i64>,
    pub note: Option<String>,
    pub actor: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCase {
    pub case_id: String,
    pub loan_id: String,
    /// Empty for a case imported without it (`Store::import_lifecycle`), as is the number.
    pub court: String,
    pub case_number: String,
    /// 0 for a case imported without it (a recorded claim is above 0).
    pub amount_claimed_minor: i64,
    pub amount_awarded_minor: Option<i64>,
    pub status: String,
    pub history: Vec<CaseUpdate>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWriteOff {
    pub write_off_id: String,
    pub loan_id: String,
    pub amount_minor: i64,
    pub reason: String,
    pub approved_by: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredWriteOff {
    pub write_off_id: String,
    pub loan_id: String,
    pub amount_minor: i64,
    pub reason: String,
    pub approved_by: String,
    pub snapshot_as_of: Date,
    pub outstanding_minor: i64,
    pub recorded_at: Timestamp,
    pub actor: String,
}

fn corrupt(table: &'static str, column: &'static str, v: &str) -> StoreError {
    StoreError::Corrupt {
        table,
        key: v.to_owned(),
        column,
        detail: "does not read back".into(),
    }
}

pub(crate) fn get_ts(
    table: &'static str,
    column: &'static str,
    c: &Cell,
) -> Result<Timestamp, StoreError> {
    let s = c.text().unwrap_or_default();
    s.parse().map_err(|_| corrupt(table, column, s))
}

pub(crate) fn get_date(
    table: &'static str,
    column: &'static str,
    c: &Cell,
) -> Result<Date, StoreError> {
    let s = c.text().unwrap_or_default();
    s.parse().map_err(|_| corrupt(table, column, s))
}

pub(crate) fn get_text(c: &Cell) -> String {
    c.text().unwrap_or_default().to_owned()
}

pub(crate) fn not_found(what: &'static str, id: &str) -> WorkError {
    WorkError::NotFound {
        what,
        id: id.to_owned(),
    }
}

/// Replay or conflict, when the key is stored; otherwise records it in `tx`.
pub(crate) async fn claim<E>(
    tx: &mut Tx,
    meta: &WorkMeta<'_>,
) -> Result<Option<Ingested<E>>, StoreError> {
    let rows = tx
        .fetch_all(
            "looking up a request",
            "SELECT body_sha256 FROM work_requests WHERE request_key = $1",
            &[text(meta.key)],
            &[Ty::Text],
        )
        .await?;
    if let Some(r) = rows.first() {
        return Ok(Some(if r[0].text() == Some(meta.body_sha256) {
            Ingested::AlreadyRecorded
        } else {
            Ingested::Conflict
        }));
    }
    let d = tx.dialect();
    tx.exec(
        "recording a request",
        &format!(
            "INSERT INTO work_requests (request_key, kind, body_sha256, body, received_at, actor) \
             VALUES ($1, $2, $3, $4, {}, $6)",
            d.param(5, Ty::Ts)
        ),
        &[
            text(meta.key),
            text(meta.kind),
            text(meta.body_sha256),
            text(meta.body),
            ts(meta.received_at),
            text(meta.actor),
        ],
    )
    .await?;
    Ok(None)
}

/// The row's loan (`SELECT loan_id FROM table WHERE col = $1`).
pub(crate) async fn loan_of(
    tx: &mut Tx,
    table: &str,
    col: &str,
    id: &str,
) -> Result<Option<String>, StoreError> {
    let rows = tx
        .fetch_all(
            "looking up a loan",
            &format!("SELECT loan_id FROM {table} WHERE {col} = $1"),
            &[text(id)],
            &[Ty::Text],
        )
        .await?;
    Ok(rows.first().map(|r| get_text(&r[0])))
}

/// Locks the loan's borrower; NotFound when there is no such loan. It writes, so that on
/// SQLite the transaction holds the write lock before it reads anything.
pub(crate) async fn lock(tx: &mut Tx, loan_id: &str) -> Result<(), WorkError> {
    if lock_loan_borrower(tx, loan_id).await? {
        Ok(())
    } else {
        Err(not_found("loan", loan_id))
    }
}

/// The loan's payments, each with the instant its reversal was received (if any).
pub(crate) async fn payment_moves(
    tx: &mut Tx,
    loan_id: &str,
) -> Result<Vec<PaymentMove>, StoreError> {
    let d = tx.dialect();
    let rows = tx
        .fetch_all(
            "reading a loan's payments",
            &format!(
                "SELECT {}, {}, (SELECT {} FROM payments r WHERE r.reverses = p.payment_id) \
                 FROM payments p WHERE p.loan_id = $1 AND p.kind = 'payment' \
                 ORDER BY p.received_at, p.payment_id",
                d.select("p.received_at", Ty::Ts),
                d.select("p.amount_minor", Ty::Int),
                d.select("r.received_at", Ty::Ts)
            ),
            &[text(loan_id)],
            &[Ty::Ts, Ty::Int, Ty::Ts],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(PaymentMove {
                received_at: get_ts("payments", "received_at", &r[0])?,
                amount_minor: r[1].int().unwrap_or(0),
                reversed_at: match r[2].text() {
                    Some(_) => Some(get_ts("payments", "received_at", &r[2])?),
                    None => None,
                },
            })
        })
        .collect()
}

async fn plan_status_in(tx: &mut Tx, plan_id: &str) -> Result<Option<String>, StoreError> {
    let rows = tx
        .fetch_all(
            "reading a plan's status",
            "SELECT status FROM payment_plan_statuses WHERE plan_id = $1 \
             ORDER BY change_id DESC LIMIT 1",
            &[text(plan_id)],
            &[Ty::Text],
        )
        .await?;
    Ok(rows.first().map(|r| get_text(&r[0])))
}

pub(crate) async fn case_status_in(
    tx: &mut Tx,
    case_id: &str,
) -> Result<Option<String>, StoreError> {
    let rows = tx
        .fetch_all(
            "reading a case's status",
            "SELECT status FROM legal_case_updates WHERE case_id = $1 \
             ORDER BY update_id DESC LIMIT 1",
            &[text(case_id)],
            &[Ty::Text],
        )
        .await?;
    Ok(rows.first().map(|r| get_text(&r[0])))
}

async fn insert_plan_status(
    tx: &mut Tx,
    d: Dialect,
    plan_id: &str,
    c: &StatusChange,
) -> Result<(), StoreError> {
    tx.exec(
        "recording a plan status",
        &format!(
            "INSERT INTO payment_plan_statuses (plan_id, status, at, reason, actor) \
             VALUES ($1, $2, {}, $4, $5)",
            d.param(3, Ty::Ts)
        ),
        &[
            text(plan_id),
            text(&c.status),
            ts(c.at),
            opt_text(c.reason.as_deref()),
            text(&c.actor),
        ],
    )
    .await
    .map(|_| ())
}

pub(crate) async fn insert_case_update(
    tx: &mut Tx,
    d: Dialect,
    case_id: &str,
    u: &CaseUpdate,
) -> Result<(), StoreError> {
    tx.exec(
        "recording a case update",
        &format!(
            "INSERT INTO legal_case_updates (case_id, status, at, amount_awarded_minor, note, actor) \
             VALUES ($1, $2, {}, $4, $5, $6)",
            d.param(3, Ty::Ts)
        ),
        &[
            text(case_id),
            text(&u.status),
            ts(u.at),
            Cell::Int(u.amount_awarded_minor),
            opt_text(u.note.as_deref()),
            text(&u.actor),
        ],
    )
    .await
    .map(|_| ())
}

/// The borrower's facts and history, for a compliance check inside the write.
pub(crate) async fn facts_of_loan(
    tx: &mut Tx,
    loan_id: &str,
) -> Result<BorrowerContacts, WorkError> {
    let owner = loan_owner(tx, loan_id)
        .await?
        .ok_or_else(|| not_found("loan", loan_id))?;
    borrower_contacts_in(tx, &owner)
        .await?
        .ok_or_else(|| not_found("borrower", &owner))
}

impl Store {
    pub(crate) async fn row_loan(
        &self,
        table: &str,
        col: &str,
        id: &str,
    ) -> Result<Option<String>, StoreError> {
        let mut tx = self.begin_read().await?;
        let out = loan_of(&mut tx, table, col, id).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Records a payment plan (proposed or active) with its instalments.
    pub async fn record_plan(
        &self,
        meta: &WorkMeta<'_>,
        plan: &NewPlan,
    ) -> Result<Ingested<()>, WorkError> {
        let mut tx = self.begin().await?;
        let d = tx.dialect();
        lock(&mut tx, &plan.loan_id).await?;
        if let Some(done) = claim(&mut tx, meta).await? {
            return Ok(done);
        }
        if loan_of(&mut tx, "payment_plans", "plan_id", &plan.plan_id)
            .await?
            .is_some()
        {
            return Err(WorkError::State {
                code: "duplicate_id",
                message: format!("A payment plan {:?} is already stored.", plan.plan_id),
            });
        }
        // A plan cures the arrears: together its instalments are not less than what the
        // latest snapshot shows overdue, with the unpaid penalty (no bound before a run).
        let owed = tx
            .fetch_all(
                "reading the latest snapshot",
                &format!(
                    "SELECT {}, {} FROM snapshots WHERE loan_id = $1 ORDER BY as_of DESC LIMIT 1",
                    d.select("as_of", Ty::Date),
                    d.select(
                        "overdue_minor + penalty_accrued_minor - penalty_paid_minor",
                        Ty::Int
                    )
                ),
                &[text(&plan.loan_id)],
                &[Ty::Date, Ty::Int],
            )
            .await?;
        if let Some(r) = owed.first() {
            let owed = r[1].int().unwrap_or(0);
            let total: i128 = plan.installments.iter().map(|i| i128::from(i.1)).sum();
            if total < i128::from(owed) {
                return Err(WorkError::Invalid(format!(
                    "Field installments: they add up to {total}, less than the {owed} overdue \
                     (with unpaid penalty) on {}; a plan must cover the arrears",
                    get_text(&r[0])
                )));
            }
        }
        tx.exec(
            "recording a payment plan",
            &format!(
                "INSERT INTO payment_plans (plan_id, loan_id, created_at, created_by, recorded_at) \
                 VALUES ($1, $2, {}, $4, {})",
                d.param(3, Ty::Ts),
                d.param(5, Ty::Ts)
            ),
            &[
                text(&plan.plan_id),
                text(&plan.loan_id),
                ts(plan.created_at),
                text(&plan.created_by),
                ts(meta.received_at),
            ],
        )
        .await?;
        for (i, (due, amount)) in plan.installments.iter().enumerate() {
            let seq = i64::try_from(i).unwrap_or(i64::MAX) + 1;
            insert_installment(&mut tx, &plan.plan_id, seq, *due, *amount).await?;
        }
        insert_plan_status(
            &mut tx,
            d,
            &plan.plan_id,
            &StatusChange {
                status: plan.status.clone(),
                at: plan.created_at,
                reason: None,
                actor: meta.actor.to_owned(),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Ingested::Recorded)
    }

    /// Moves a plan to another status; an illegal transition is a `WorkError::State`.
    pub async fn change_plan_status(
        &self,
        meta: &WorkMeta<'_>,
        plan_id: &str,
        change: &StatusChange,
    ) -> Result<Ingested<()>, WorkError> {
        // A row's loan never changes: read before the writing transaction, whose first
        // statement must write (see `lock`).
        let loan = self
            .row_loan("payment_plans", "plan_id", plan_id)
            .await?
            .ok_or_else(|| not_found("payment plan", plan_id))?;
        let mut tx = self.begin().await?;
        let d = tx.dialect();
        lock(&mut tx, &loan).await?;
        if let Some(done) = claim(&mut tx, meta).await? {
            return Ok(done);
        }
        let from = plan_status_in(&mut tx, plan_id).await?.unwrap_or_default();
        if !plan_transition_allowed(&from, &change.status) {
            return Err(WorkError::State {
                code: "illegal_transition",
                message: format!(
                    "Payment plan {plan_id:?} is {from}; it cannot become {}.",
                    change.status
                ),
            });
        }
        insert_plan_status(&mut tx, d, plan_id, change).await?;
        tx.commit().await?;
        Ok(Ingested::Recorded)
    }

    /// A loan's payment plans, oldest first, each instalment's progress as of `as_of`.
    pub async fn loan_plans(
        &self,
        loan_id: &str,
        as_of: Date,
        zone: &TimeZoneName,
    ) -> Result<Vec<StoredPlan>, StoreError> {
        let mut tx = self.begin_read().await?;
        let d = tx.dialect();
        let plans = tx
            .fetch_all(
                "reading payment plans",
                &format!(
                    "SELECT plan_id, {}, created_by FROM payment_plans WHERE loan_id = $1 \
                     ORDER BY created_at, plan_id",
                    d.select("created_at", Ty::Ts)
                ),
                &[text(loan_id)],
                &[Ty::Text, Ty::Ts, Ty::Text],
            )
            .await?;
        let moves = payment_moves(&mut tx, loan_id).await?;
        let mut out = Vec::new();
        for r in plans {
            let plan_id = get_text(&r[0]);
            let created_at = get_ts("payment_plans", "created_at", &r[1])?;
            let inst = tx
                .fetch_all(
                    "reading instalments",
                    &format!(
                        "SELECT {}, {}, {} FROM payment_plan_installments WHERE plan_id = $1 ORDER BY seq",
                        d.select("seq", Ty::Int),
                        d.select("due_date", Ty::Date),
                        d.select("amount_minor", Ty::Int)
                    ),
                    &[text(&plan_id)],
                    &[Ty::Int, Ty::Date, Ty::Int],
                )
                .await?;
            let mut terms = Vec::new();
            for i in &inst {
                terms.push((
                    get_date("payment_plan_installments", "due_date", &i[1])?,
                    i[2].int().unwrap_or(0),
                ));
            }
            let progress = instalment_progress(created_at, &terms, &moves, as_of, zone);
            let installments = inst
                .iter()
                .zip(terms.iter().zip(progress))
                .map(|(i, (t, p))| StoredInstallment {
                    seq: i[0].int().unwrap_or(0),
                    due_date: t.0,
                    amount_minor: t.1,
                    progress: p,
                })
                .collect();
            let hist = tx
                .fetch_all(
                    "reading a plan's statuses",
                    &format!(
                        "SELECT status, {}, reason, actor FROM payment_plan_statuses \
                         WHERE plan_id = $1 ORDER BY change_id",
                        d.select("at", Ty::Ts)
                    ),
                    &[text(&plan_id)],
                    &[Ty::Text, Ty::Ts, Ty::Text, Ty::Text],
                )
                .await?;
            let history = hist
                .iter()
                .map(|h| {
                    Ok(StatusChange {
                        status: get_text(&h[0]),
                        // A status imported without its time shows the plan's creation.
                        at: match h[1].text() {
                            Some(_) => get_ts("payment_plan_statuses", "at", &h[1])?,
                            None => created_at,
                        },
                        reason: h[2].text().map(str::to_owned),
                        actor: get_text(&h[3]),
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            out.push(StoredPlan {
                status: history.last().map(|h| h.status.clone()).unwrap_or_default(),
                plan_id,
                loan_id: loan_id.to_owned(),
                created_at,
                created_by: get_text(&r[2]),
                history,
                installments,
            });
        }
        tx.commit().await?;
        Ok(out)
    }

    /// A loan's promises (imported or ingested), oldest first, with their outcome as of
    /// `as_of` in the business zone; a cancelled promise (migration 0011) is left out.
    pub async fn loan_promises(
        &self,
        loan_id: &str,
        as_of: Date,
        zone: &TimeZoneName,
    ) -> Result<Vec<StoredPromise>, StoreError> {
        let mut tx = self.begin_read().await?;
        let d = tx.dialect();
        let rows = tx
            .fetch_all(
                "reading promises",
                &format!(
                    "SELECT promise_id, {}, {}, {} FROM promises p WHERE loan_id = $1 \
                     AND NOT EXISTS (SELECT 1 FROM promise_cancellations c \
                     WHERE c.promise_id = p.promise_id) \
                     ORDER BY created_at, promise_id",
                    d.select("created_at", Ty::Ts),
                    d.select("amount_minor", Ty::Int),
                    d.select("due_date", Ty::Date)
                ),
                &[text(loan_id)],
                &[Ty::Text, Ty::Ts, Ty::Int, Ty::Date],
            )
            .await?;
        let moves = payment_moves(&mut tx, loan_id).await?;
        tx.commit().await?;
        rows.iter()
            .map(|r| {
                let terms = PromiseTerms {
                    created_at: get_ts("promises", "created_at", &r[1])?,
                    amount_minor: r[2].int().unwrap_or(0),
                    due_date: get_date("promises", "due_date", &r[3])?,
                };
                Ok(StoredPromise {
                    promise_id: get_text(&r[0]),
                    created_at: terms.created_at,
                    amount_minor: terms.amount_minor,
                    due_date: terms.due_date,
                    outcome: promise_outcome(&terms, &moves, as_of, zone),
                })
            })
            .collect()
    }

    /// Places a loan with an agency, if it has no live placement and `decide` (the
    /// compliance check of `agency_placement`, over the borrower's facts read after the
    /// lock) allows it.
    pub async fn record_placement<E>(
        &self,
        meta: &WorkMeta<'_>,
        p: &NewPlacement,
        decide: impl FnOnce(&BorrowerContacts) -> Result<(), E>,
    ) -> Result<Ingested<E>, WorkError> {
        let mut tx = self.begin().await?;
        let d = tx.dialect();
        lock(&mut tx, &p.loan_id).await?;
        if let Some(done) = claim(&mut tx, meta).await? {
            return Ok(done);
        }
        if loan_of(&mut tx, "placements", "placement_id", &p.placement_id)
            .await?
            .is_some()
        {
            return Err(WorkError::State {
                code: "duplicate_id",
                message: format!("A placement {:?} is already stored.", p.placement_id),
            });
        }
        let live = tx
            .fetch_all(
                "looking for a live placement",
                "SELECT placement_id, agency_id FROM placements p WHERE loan_id = $1 AND NOT EXISTS \
                 (SELECT 1 FROM placement_recalls r WHERE r.placement_id = p.placement_id)",
                &[text(&p.loan_id)],
                &[Ty::Text, Ty::Text],
            )
            .await?;
        if let Some(l) = live.first() {
            return Err(WorkError::State {
                code: "placement_live",
                message: format!(
                    "Loan {:?} is already placed with agency {:?} (placement {:?}); recall it first.",
                    p.loan_id,
                    get_text(&l[1]),
                    get_text(&l[0])
                ),
            });
        }
        let facts = facts_of_loan(&mut tx, &p.loan_id).await?;
        if let Err(e) = decide(&facts) {
            return Ok(Ingested::Refused(e));
        }
        tx.exec(
            "recording a placement",
            &format!(
                "INSERT INTO placements (placement_id, loan_id, agency_id, placed_at, commission_bps, actor, recorded_at) \
                 VALUES ($1, $2, $3, {}, $5, $6, {})",
                d.param(4, Ty::Ts),
                d.param(7, Ty::Ts)
            ),
            &[
                text(&p.placement_id),
                text(&p.loan_id),
                text(&p.agency_id),
                ts(p.placed_at),
                Cell::Int(p.commission_bps),
                text(meta.actor),
                ts(meta.received_at),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(Ingested::Recorded)
    }

    /// Recalls a live placement.
    pub async fn recall_placement(
        &self,
        meta: &WorkMeta<'_>,
        placement_id: &str,
        recall: &Recall,
    ) -> Result<Ingested<()>, WorkError> {
        // A row's loan never changes: read before the writing transaction, whose first
        // statement must write (see `lock`).
        let loan = self
            .row_loan("placements", "placement_id", placement_id)
            .await?
            .ok_or_else(|| not_found("placement", placement_id))?;
        let mut tx = self.begin().await?;
        let d = tx.dialect();
        lock(&mut tx, &loan).await?;
        if let Some(done) = claim(&mut tx, meta).await? {
            return Ok(done);
        }
        let placed = tx
            .fetch_all(
                "reading a placement",
                &format!(
                    "SELECT {} FROM placements WHERE placement_id = $1",
                    d.select("placed_at", Ty::Ts)
                ),
                &[text(placement_id)],
                &[Ty::Ts],
            )
            .await?;
        if let Some(r) = placed.first()
            && recall.recalled_at < get_ts("placements", "placed_at", &r[0])?
        {
            return Err(WorkError::Invalid(format!(
                "Field recalled_at: a placement cannot be recalled before it was placed ({})",
                get_text(&r[0])
            )));
        }
        let n = tx
            .exec(
                "recording a recall",
                &format!(
                    "INSERT INTO placement_recalls (placement_id, recalled_at, reason, actor, recorded_at) \
                     SELECT $1, {}, $3, $4, {} WHERE NOT EXISTS \
                     (SELECT 1 FROM placement_recalls WHERE placement_id = $1)",
                    d.param(2, Ty::Ts),
                    d.param(5, Ty::Ts)
                ),
                &[
                    text(placement_id),
                    ts(recall.recalled_at),
                    text(&recall.reason),
                    text(&recall.actor),
                    ts(meta.received_at),
                ],
            )
            .await?;
        if n == 0 {
            return Err(WorkError::State {
                code: "already_recalled",
                message: format!("Placement {placement_id:?} was already recalled."),
            });
        }
        tx.commit().await?;
        Ok(Ingested::Recorded)
    }

    /// A loan's placements, oldest first, with their recalls.
    pub async fn loan_placements(&self, loan_id: &str) -> Result<Vec<StoredPlacement>, StoreError> {
        let d = self.dialect();
        let rows = self
            .fetch_once(
                "reading placements",
                &format!(
                    "SELECT p.placement_id, p.agency_id, {}, {}, p.actor, {}, r.reason, r.actor \
                     FROM placements p LEFT JOIN placement_recalls r ON r.placement_id = p.placement_id \
                     WHERE p.loan_id = $1 ORDER BY p.placed_at, p.placement_id",
                    d.select("p.placed_at", Ty::Ts),
                    d.select("p.commission_bps", Ty::Int),
                    d.select("r.recalled_at", Ty::Ts)
                ),
                &[text(loan_id)],
                &[
                    Ty::Text,
                    Ty::Text,
                    Ty::Ts,
                    Ty::Int,
                    Ty::Text,
                    Ty::Ts,
                    Ty::Text,
                    Ty::Text,
                ],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(StoredPlacement {
                    placement_id: get_text(&r[0]),
                    loan_id: loan_id.to_owned(),
                    agency_id: get_text(&r[1]),
                    placed_at: get_ts("placements", "placed_at", &r[2])?,
                    commission_bps: r[3].int(),
                    placed_by: get_text(&r[4]),
                    recall: match r[5].text() {
                        None => None,
                        Some(_) => Some(Recall {
                            recalled_at: get_ts("placement_recalls", "recalled_at", &r[5])?,
                            reason: get_text(&r[6]),
                            actor: get_text(&r[7]),
                        }),
                    },
                })
            })
            .collect()
    }

    /// Opens a legal case (status `filed`) if `decide` (the compliance check of
    /// `legal_referral`) allows it.
    pub async fn open_legal_case<E>(
        &self,
        meta: &WorkMeta<'_>,
        c: &NewCase,
        decide: impl FnOnce(&BorrowerContacts) -> Result<(), E>,
    ) -> Result<Ingested<E>, WorkError> {
        let mut tx = self.begin().await?;
        let d = tx.dialect();
        lock(&mut tx, &c.loan_id).await?;
        if let Some(done) = claim(&mut tx, meta).await? {
            return Ok(done);
        }
        if loan_of(&mut tx, "legal_cases", "case_id", &c.case_id)
            .await?
            .is_some()
        {
            return Err(WorkError::State {
                code: "duplicate_id",
                message: format!("A legal case {:?} is already stored.", c.case_id),
            });
        }
        let facts = facts_of_loan(&mut tx, &c.loan_id).await?;
        if let Err(e) = decide(&facts) {
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
                text(&c.loan_id),
                text(&c.court),
                text(&c.case_number),
                int(c.amount_claimed_minor),
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
        tx.commit().await?;
        Ok(Ingested::Recorded)
    }

    /// Moves a legal case forward (or closes it).
    pub async fn update_legal_case(
        &self,
        meta: &WorkMeta<'_>,
        case_id: &str,
        u: &CaseUpdate,
    ) -> Result<Ingested<()>, WorkError> {
        // A row's loan never changes: read before the writing transaction, whose first
        // statement must write (see `lock`).
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
        if !case_transition_allowed(&from, &u.status) {
            return Err(WorkError::State {
                code: "illegal_transition",
                message: format!(
                    "Legal case {case_id:?} is at {from}; it cannot go to {}.",
                    u.status
                ),
            });
        }
        insert_case_update(&mut tx, d, case_id, u).await?;
        tx.commit().await?;
        Ok(Ingested::Recorded)
    }

    /// A loan's legal cases with their updates.
    pub async fn loan_legal_cases(&self, loan_id: &str) -> Result<Vec<StoredCase>, StoreError> {
        let mut tx = self.begin_read().await?;
        let d = tx.dialect();
        let cases = tx
            .fetch_all(
                "reading legal cases",
                &format!(
                    "SELECT case_id, court, case_number, {}, {} FROM legal_cases WHERE loan_id = $1 \
                     ORDER BY recorded_at, case_id",
                    d.select("amount_claimed_minor", Ty::Int),
                    d.select("recorded_at", Ty::Ts)
                ),
                &[text(loan_id)],
                &[Ty::Text, Ty::Text, Ty::Text, Ty::Int, Ty::Ts],
            )
            .await?;
        let mut out = Vec::new();
        for c in cases {
            let case_id = get_text(&c[0]);
            let ups = tx
                .fetch_all(
                    "reading case updates",
                    &format!(
                        "SELECT status, {}, {}, note, actor FROM legal_case_updates \
                         WHERE case_id = $1 ORDER BY update_id",
                        d.select("at", Ty::Ts),
                        d.select("amount_awarded_minor", Ty::Int)
                    ),
                    &[text(&case_id)],
                    &[Ty::Text, Ty::Ts, Ty::Int, Ty::Text, Ty::Text],
                )
                .await?;
            let history = ups
                .iter()
                .map(|u| {
                    Ok(CaseUpdate {
                        status: get_text(&u[0]),
                        // An update imported without its date shows when the case was
                        // recorded.
                        at: match u[1].text() {
                            Some(_) => get_ts("legal_case_updates", "at", &u[1])?,
                            None => get_ts("legal_cases", "recorded_at", &c[4])?,
                        },
                        amount_awarded_minor: u[2].int(),
                        note: u[3].text().map(str::to_owned),
                        actor: get_text(&u[4]),
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            out.push(StoredCase {
                case_id,
                loan_id: loan_id.to_owned(),
                court: get_text(&c[1]),
                case_number: get_text(&c[2]),
                amount_claimed_minor: c[3].int().unwrap_or(0),
                amount_awarded_minor: history.iter().rev().find_map(|h| h.amount_awarded_minor),
                status: history.last().map(|h| h.status.clone()).unwrap_or_default(),
                history,
            });
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Records a write-off: the loan needs a snapshot, and its write-offs together may not
    /// exceed the outstanding total of its latest snapshot (outstanding principal, overdue
    /// interest and fees, unpaid penalty).
    pub async fn record_write_off(
        &self,
        meta: &WorkMeta<'_>,
        w: &NewWriteOff,
    ) -> Result<Ingested<()>, WorkError> {
        let mut tx = self.begin().await?;
        let d = tx.dialect();
        lock(&mut tx, &w.loan_id).await?;
        if let Some(done) = claim(&mut tx, meta).await? {
            return Ok(done);
        }
        if loan_of(&mut tx, "write_offs", "write_off_id", &w.write_off_id)
            .await?
            .is_some()
        {
            return Err(WorkError::State {
                code: "duplicate_id",
                message: format!("A write-off {:?} is already stored.", w.write_off_id),
            });
        }
        let snap = tx
            .fetch_all(
                "reading the latest snapshot",
                &format!(
                    "SELECT {}, {} FROM snapshots WHERE loan_id = $1 ORDER BY as_of DESC LIMIT 1",
                    d.select("as_of", Ty::Date),
                    d.select(
                        "outstanding_principal_minor + overdue_interest_minor + overdue_fee_minor \
                         + penalty_accrued_minor - penalty_paid_minor",
                        Ty::Int
                    )
                ),
                &[text(&w.loan_id)],
                &[Ty::Date, Ty::Int],
            )
            .await?;
        let Some(s) = snap.first() else {
            return Err(WorkError::State {
                code: "no_snapshot",
                message: format!(
                    "Loan {:?} has no daily-run snapshot yet; run `arrears run --db` first.",
                    w.loan_id
                ),
            });
        };
        let as_of = get_date("snapshots", "as_of", &s[0])?;
        let outstanding = s[1].int().unwrap_or(0);
        let earlier = tx
            .fetch_all(
                "summing write-offs",
                &format!(
                    "SELECT {} FROM write_offs WHERE loan_id = $1",
                    d.select("COALESCE(SUM(amount_minor), 0)", Ty::Int)
                ),
                &[text(&w.loan_id)],
                &[Ty::Int],
            )
            .await?
            .first()
            .and_then(|r| r[0].int())
            .unwrap_or(0);
        if i128::from(earlier) + i128::from(w.amount_minor) > i128::from(outstanding) {
            return Err(WorkError::Invalid(format!(
                "Field amount_minor: {} is more than the {} left to write off of loan {:?} \
                 (outstanding {} on {as_of}, {} written off already)",
                w.amount_minor,
                (outstanding - earlier).max(0),
                w.loan_id,
                outstanding,
                earlier
            )));
        }
        tx.exec(
            "recording a write-off",
            &format!(
                "INSERT INTO write_offs (write_off_id, loan_id, amount_minor, reason, approved_by, \
                 snapshot_as_of, outstanding_minor, actor, recorded_at) \
                 VALUES ($1, $2, $3, $4, $5, {}, $7, $8, {})",
                d.param(6, Ty::Date),
                d.param(9, Ty::Ts)
            ),
            &[
                text(&w.write_off_id),
                text(&w.loan_id),
                int(w.amount_minor),
                text(&w.reason),
                text(&w.approved_by),
                text(&date_text(as_of)),
                int(outstanding),
                text(meta.actor),
                ts(meta.received_at),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(Ingested::Recorded)
    }

    /// A loan's write-offs, oldest first.
    pub async fn loan_write_offs(&self, loan_id: &str) -> Result<Vec<StoredWriteOff>, StoreError> {
        let d = self.dialect();
        let rows = self
            .fetch_once(
                "reading write-offs",
                &format!(
                    "SELECT write_off_id, {}, reason, approved_by, {}, {}, {}, actor FROM write_offs \
                     WHERE loan_id = $1 ORDER BY recorded_at, write_off_id",
                    d.select("amount_minor", Ty::Int),
                    d.select("snapshot_as_of", Ty::Date),
                    d.select("outstanding_minor", Ty::Int),
                    d.select("recorded_at", Ty::Ts)
                ),
                &[text(loan_id)],
                &[
                    Ty::Text,
                    Ty::Int,
                    Ty::Text,
                    Ty::Text,
                    Ty::Date,
                    Ty::Int,
                    Ty::Ts,
                    Ty::Text,
                ],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(StoredWriteOff {
                    write_off_id: get_text(&r[0]),
                    loan_id: loan_id.to_owned(),
                    amount_minor: r[1].int().unwrap_or(0),
                    reason: get_text(&r[2]),
                    approved_by: get_text(&r[3]),
                    snapshot_as_of: get_date("write_offs", "snapshot_as_of", &r[4])?,
                    outstanding_minor: r[5].int().unwrap_or(0),
                    recorded_at: get_ts("write_offs", "recorded_at", &r[6])?,
                    actor: get_text(&r[7]),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_transitions() {
        assert!(plan_transition_allowed("proposed", "active"));
        assert!(plan_transition_allowed("active", "completed"));
        assert!(!plan_transition_allowed("completed", "active"));
        assert!(!plan_transition_allowed("proposed", "completed"));
        assert!(!plan_transition_allowed("active", "active"));
        for s in PLAN_STATUSES {
            assert!(!plan_transition_allowed("cancelled", s));
        }
    }

    #[test]
    fn case_transitions_go_forward() {
        assert!(case_transition_allowed("filed", "judgment"));
        assert!(case_transition_allowed("enforcement", "closed"));
        assert!(!case_transition_allowed("judgment", "filed"));
        for s in CASE_STATUSES {
            assert!(!case_transition_allowed("closed", s));
        }
    }
}
