//! The lifecycle facts the conduct rules need (compliance spec, "Facts from the lifecycle";
//! migration 0010): notices sent, per-channel preferences, payment plans and their
//! instalments, agency placements, debt sales, credit-report disputes, legal cases and
//! contact persons, written one at a time (the API, Arrears itself) or imported together
//! ([`Store::import_lifecycle`]), and read back as the domain's rows
//! (`arrears_domain::lifecycle`) for some borrowers, for all of them, or inside a borrower's
//! facts (`Store::borrower_contacts`).
//!
//! Payment plans, placements and legal cases live in the work tables of migration 0005
//! (`work.rs`): an import writes them with actor `import`. Every table is append-only, so a
//! record that moves on (a plan's new status, a recall, a case's next stage, a dispute's
//! resolution, a person's refusal) is a new row; a record whose id is stored is compared
//! with what is stored: the same is nothing to do, a later stage is appended, anything else
//! is a conflict and changes nothing. Every write locks the borrower first (the lock the
//! contact decisions take), so a decision never sees half of a change.

use crate::preferences::{hhmm, parse_hhmm};
use crate::schema::{date_text, opt_text, text, ts, ts_text};
use crate::service::{loan_owner, lock_borrower, lock_loan_borrower};
use crate::sql::{Cell, Dialect, Tx, Ty, json_array};
use crate::work::{case_transition_allowed, plan_transition_allowed};
use crate::{Store, StoreError};
use arrears_domain::Lifecycle;
use arrears_domain::lifecycle::{
    ContactPersonFact, CreditDisputeRow, LEGAL_STATUSES, LegalCaseFact, NOTICE_CHANNELS,
    NOTICE_KINDS, NoticeRow, PERSON_SOURCES, PLAN_STATUSES, PREFERENCE_CHANNELS, PaymentPlanRow,
    PlacementRow, PlanInstallment, PreferenceRow, SaleRow,
};
use arrears_domain::types::{BorrowerId, LoanId};
use jiff::Timestamp;
use jiff::civil::{Date, Time};
use std::collections::{BTreeSet, HashMap};

/// The actor (work tables) and source (the others) of imported rows.
pub const IMPORT_SOURCE: &str = "import";

/// What the rules need of one loan beyond its contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLoanFacts {
    pub loan_id: LoanId,
    /// The latest payment received that is not reversed.
    pub last_payment_at: Option<Timestamp>,
    /// The earliest instalment due date.
    pub first_due_date: Option<Date>,
    /// The payments received that are not reversed: (`received_at`, amount in minor units),
    /// oldest first.
    pub payments: Vec<(Timestamp, i64)>,
}

/// A lifecycle write the store refuses, or a store failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LifecycleError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("there is no borrower {0:?}")]
    UnknownBorrower(String),
    #[error("there is no loan {0:?}")]
    UnknownLoan(String),
    #[error("loan {loan:?} is not a loan of borrower {borrower:?}")]
    LoanOfAnotherBorrower { loan: String, borrower: String },
    #[error("there is no {what} {id:?}")]
    NotFound { what: &'static str, id: String },
    /// A value the store cannot take (outside the vocabulary, an end before its start, …).
    #[error("{0}")]
    Invalid(String),
    /// The id is stored with other content; nothing was changed.
    #[error("a {what} {id:?} is already stored with another {detail}")]
    Conflict {
        what: &'static str,
        id: String,
        detail: String,
    },
}

/// What an import did with the rows of one table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// New records.
    pub inserted: u64,
    /// Stored records that moved on (a later plan status or case stage, a recall, a
    /// resolution, a refusal): appended.
    pub updated: u64,
    /// Stored already, the same.
    pub unchanged: u64,
    /// Stored with other content: not applied (see `LifecycleCounts::issues`).
    pub conflicts: u64,
    /// Not storable: an unknown borrower or loan, a value outside the vocabulary, …
    pub rejected: u64,
}

/// A row an import did not apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleIssue {
    /// The table (`notices`, `preferences`, `payment_plans`, `placements`, `sales`,
    /// `credit_disputes`, `legal_cases`, `contact_persons`).
    pub table: &'static str,
    /// The row's id (for a preference: borrower/channel/updated_at).
    pub id: String,
    /// A conflict with a stored row (else a rejected row).
    pub conflict: bool,
    pub detail: String,
}

/// What [`Store::import_lifecycle`] did, per table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LifecycleCounts {
    pub notices: Tally,
    pub preferences: Tally,
    pub plans: Tally,
    pub placements: Tally,
    pub sales: Tally,
    pub credit_disputes: Tally,
    pub legal_cases: Tally,
    pub contact_persons: Tally,
    /// Every conflict and rejected row, in the order met.
    pub issues: Vec<LifecycleIssue>,
}

/// What became of one record.
#[derive(Debug)]
pub(crate) enum Applied {
    Inserted,
    Updated,
    Unchanged,
    /// The stored record differs: what differs.
    Conflict(String),
    Rejected(LifecycleError),
}

impl Applied {
    /// The single-record APIs' answer: true when something was written.
    fn answer(self, what: &'static str, id: &str) -> Result<bool, LifecycleError> {
        match self {
            Applied::Inserted | Applied::Updated => Ok(true),
            Applied::Unchanged => Ok(false),
            Applied::Conflict(detail) => Err(LifecycleError::Conflict {
                what,
                id: id.to_owned(),
                detail,
            }),
            Applied::Rejected(e) => Err(e),
        }
    }

    fn wrote(&self) -> bool {
        matches!(self, Applied::Inserted | Applied::Updated)
    }
}

impl LifecycleCounts {
    fn note(&mut self, table: &'static str, id: String, a: Applied) {
        let tally = match table {
            "notices" => &mut self.notices,
            "preferences" => &mut self.preferences,
            "payment_plans" => &mut self.plans,
            "placements" => &mut self.placements,
            "sales" => &mut self.sales,
            "credit_disputes" => &mut self.credit_disputes,
            "legal_cases" => &mut self.legal_cases,
            _ => &mut self.contact_persons,
        };
        match a {
            Applied::Inserted => tally.inserted += 1,
            Applied::Updated => tally.updated += 1,
            Applied::Unchanged => tally.unchanged += 1,
            Applied::Conflict(detail) => {
                tally.conflicts += 1;
                self.issues.push(LifecycleIssue {
                    table,
                    id,
                    conflict: true,
                    detail,
                });
            }
            Applied::Rejected(e) => {
                tally.rejected += 1;
                self.issues.push(LifecycleIssue {
                    table,
                    id,
                    conflict: false,
                    detail: e.to_string(),
                });
            }
        }
    }
}

/// The columns in which a stored record differs from a new one.
#[derive(Default)]
struct Diff(Vec<&'static str>);

impl Diff {
    fn check(&mut self, column: &'static str, same: bool) {
        if !same {
            self.0.push(column);
        }
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn verdict(self) -> Applied {
        if self.0.is_empty() {
            Applied::Unchanged
        } else {
            Applied::Conflict(self.0.join(", "))
        }
    }
}

fn invalid(detail: String) -> Applied {
    Applied::Rejected(LifecycleError::Invalid(detail))
}

/// `None` when `v` is in `allowed`, else the rejection.
fn vocab(column: &str, v: &str, allowed: &[&str]) -> Option<Applied> {
    (!allowed.contains(&v)).then(|| {
        invalid(format!(
            "Field {column}: {v:?} is not one of {}.",
            allowed.join(", ")
        ))
    })
}

fn bad_source(source: &str) -> Option<Applied> {
    (source.is_empty() || source.len() > 64)
        .then(|| invalid(format!("source {source:?} must have 1 to 64 bytes")))
}

fn opt_ts(t: Option<Timestamp>) -> Cell {
    Cell::Text(t.map(ts_text))
}

fn flag(b: bool) -> Cell {
    Cell::Bool(Some(b))
}

fn same_ts(stored: Option<&str>, t: Option<Timestamp>) -> bool {
    stored.map(str::to_owned) == t.map(ts_text)
}

/// The UTC date of an instant (what `LegalCaseFact::updated_on` is of a case update's `at`).
fn utc_date(t: Timestamp) -> Date {
    jiff::tz::Offset::UTC.to_datetime(t).date()
}

/// Midnight UTC of a date (a case update imported with only its date).
fn utc_midnight(d: Date) -> Option<Timestamp> {
    jiff::tz::Offset::UTC
        .to_timestamp(d.to_datetime(Time::midnight()))
        .ok()
}

async fn borrower_exists(tx: &mut Tx, borrower_id: &str) -> Result<bool, StoreError> {
    Ok(!tx
        .fetch_all(
            "looking up a borrower",
            "SELECT borrower_id FROM borrowers WHERE borrower_id = $1",
            &[text(borrower_id)],
            &[Ty::Text],
        )
        .await?
        .is_empty())
}

/// The rejection of a record of `borrower` (about `loan`, if any) whose borrower or loan is
/// not stored, or whose loan is another borrower's.
async fn unknown_parties(
    tx: &mut Tx,
    borrower: &BorrowerId,
    loan: Option<&LoanId>,
) -> Result<Option<Applied>, StoreError> {
    if !borrower_exists(tx, borrower.as_str()).await? {
        return Ok(Some(Applied::Rejected(LifecycleError::UnknownBorrower(
            borrower.as_str().to_owned(),
        ))));
    }
    let Some(l) = loan else { return Ok(None) };
    Ok(match loan_owner(tx, l.as_str()).await? {
        None => Some(Applied::Rejected(LifecycleError::UnknownLoan(
            l.as_str().to_owned(),
        ))),
        Some(o) if o != borrower.as_str() => {
            Some(Applied::Rejected(LifecycleError::LoanOfAnotherBorrower {
                loan: l.as_str().to_owned(),
                borrower: borrower.as_str().to_owned(),
            }))
        }
        Some(_) => None,
    })
}

/// The rejection of a record about a loan that is not stored.
async fn unknown_loan(tx: &mut Tx, loan: &LoanId) -> Result<Option<Applied>, StoreError> {
    Ok(loan_owner(tx, loan.as_str())
        .await?
        .is_none()
        .then(|| Applied::Rejected(LifecycleError::UnknownLoan(loan.as_str().to_owned()))))
}

pub(crate) async fn apply_notice(
    tx: &mut Tx,
    n: &NoticeRow,
    source: &str,
) -> Result<Applied, StoreError> {
    if let Some(r) = vocab("kind", &n.kind, &NOTICE_KINDS)
        .or_else(|| vocab("channel", &n.channel, &NOTICE_CHANNELS))
        .or_else(|| bad_source(source))
    {
        return Ok(r);
    }
    let d = tx.dialect();
    let stored = tx
        .fetch_all(
            "reading a notice",
            &format!(
                "SELECT borrower_id, loan_id, kind, {}, channel FROM notices WHERE notice_id = $1",
                d.select("sent_at", Ty::Ts)
            ),
            &[text(&n.notice_id)],
            &[Ty::Text; 5],
        )
        .await?;
    if let Some(r) = stored.first() {
        let mut diff = Diff::default();
        diff.check("borrower_id", r[0].text() == Some(n.borrower_id.as_str()));
        diff.check(
            "loan_id",
            r[1].text() == n.loan_id.as_ref().map(|l| l.as_str()),
        );
        diff.check("kind", r[2].text() == Some(&*n.kind));
        diff.check("sent_at", same_ts(r[3].text(), Some(n.sent_at)));
        diff.check("channel", r[4].text() == Some(&*n.channel));
        return Ok(diff.verdict());
    }
    if let Some(r) = unknown_parties(tx, &n.borrower_id, n.loan_id.as_ref()).await? {
        return Ok(r);
    }
    tx.exec(
        "recording a notice",
        &format!(
            "INSERT INTO notices (notice_id, borrower_id, loan_id, kind, sent_at, channel, source) \
             VALUES ($1, $2, $3, $4, {}, $6, $7)",
            d.param(5, Ty::Ts)
        ),
        &[
            text(&n.notice_id),
            text(n.borrower_id.as_str()),
            opt_text(n.loan_id.as_ref().map(|l| l.as_str())),
            text(&n.kind),
            ts(n.sent_at),
            text(&n.channel),
            text(source),
        ],
    )
    .await?;
    Ok(Applied::Inserted)
}

/// Whether a preference row identical to a stored one is written again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PreferenceWrite {
    /// Always appended (the portal: every save is a choice made).
    Always,
    /// Not when the same row (borrower, channel, choice, hours and `updated_at`) is stored:
    /// an import or a repeated request changes nothing.
    UnlessStored,
}

pub(crate) async fn write_preference(
    tx: &mut Tx,
    p: &PreferenceRow,
    source: &str,
    mode: PreferenceWrite,
) -> Result<Applied, StoreError> {
    if let Some(r) =
        vocab("channel", &p.channel, &PREFERENCE_CHANNELS).or_else(|| bad_source(source))
    {
        return Ok(r);
    }
    match (p.contact_from, p.contact_to) {
        (Some(f), Some(t)) if f >= t => {
            return Ok(invalid(format!(
                "contact hours {} to {} do not make a window (from must be before to)",
                hhmm(f),
                hhmm(t)
            )));
        }
        (Some(_), None) | (None, Some(_)) => {
            return Ok(invalid(
                "contact_from and contact_to go together (both or neither)".into(),
            ));
        }
        _ => {}
    }
    let d = tx.dialect();
    let args = [
        text(p.borrower_id.as_str()),
        text(&p.channel),
        flag(p.opted_out),
        Cell::Text(p.contact_from.map(hhmm)),
        Cell::Text(p.contact_to.map(hhmm)),
        ts(p.updated_at),
    ];
    if mode == PreferenceWrite::UnlessStored {
        let same = d.same();
        let stored = tx
            .fetch_all(
                "looking up a preference",
                &format!(
                    "SELECT CAST(preference_id AS BIGINT) FROM preferences WHERE borrower_id = $1 \
                     AND channel = $2 AND opted_out = $3 AND contact_from {same} $4 \
                     AND contact_to {same} $5 AND updated_at = {}",
                    d.param(6, Ty::Ts)
                ),
                &args,
                &[Ty::Int],
            )
            .await?;
        if !stored.is_empty() {
            return Ok(Applied::Unchanged);
        }
    }
    if !borrower_exists(tx, p.borrower_id.as_str()).await? {
        return Ok(Applied::Rejected(LifecycleError::UnknownBorrower(
            p.borrower_id.as_str().to_owned(),
        )));
    }
    let mut args = args.to_vec();
    args.push(text(source));
    tx.exec(
        "recording a preference",
        &format!(
            "INSERT INTO preferences (borrower_id, channel, opted_out, contact_from, contact_to, \
             updated_at, source) VALUES ($1, $2, $3, $4, $5, {}, $7)",
            d.param(6, Ty::Ts)
        ),
        &args,
    )
    .await?;
    Ok(Applied::Inserted)
}

async fn insert_plan_status(
    tx: &mut Tx,
    plan_id: &str,
    status: &str,
    at: Option<Timestamp>,
) -> Result<(), StoreError> {
    let d = tx.dialect();
    tx.exec(
        "recording a plan status",
        &format!(
            "INSERT INTO payment_plan_statuses (plan_id, status, at, reason, actor) \
             VALUES ($1, $2, {}, NULL, $4)",
            d.param(3, Ty::Ts)
        ),
        &[text(plan_id), text(status), opt_ts(at), text(IMPORT_SOURCE)],
    )
    .await
    .map(|_| ())
}

pub(crate) async fn apply_plan(tx: &mut Tx, p: &PaymentPlanRow) -> Result<Applied, StoreError> {
    if let Some(r) = vocab("status", &p.status, &PLAN_STATUSES) {
        return Ok(r);
    }
    let mut seqs = BTreeSet::new();
    for i in &p.installments {
        if i.seq == 0 || i.amount_minor <= 0 || !seqs.insert(i.seq) {
            return Ok(invalid(format!(
                "instalment {} of plan {:?}: seq must be 1 or more and unique, amount above 0",
                i.seq, p.plan_id
            )));
        }
    }
    let d = tx.dialect();
    let stored = tx
        .fetch_all(
            "reading a payment plan",
            &format!(
                "SELECT loan_id, {} FROM payment_plans WHERE plan_id = $1",
                d.select("created_at", Ty::Ts)
            ),
            &[text(&p.plan_id)],
            &[Ty::Text, Ty::Ts],
        )
        .await?;
    let Some(r) = stored.first() else {
        if let Some(r) = unknown_loan(tx, &p.loan_id).await? {
            return Ok(r);
        }
        tx.exec(
            "recording a payment plan",
            &format!(
                "INSERT INTO payment_plans (plan_id, loan_id, created_at, created_by, recorded_at) \
                 VALUES ($1, $2, {}, $4, {})",
                d.param(3, Ty::Ts),
                d.now_ts()
            ),
            &[
                text(&p.plan_id),
                text(p.loan_id.as_str()),
                ts(p.created_at),
                text(IMPORT_SOURCE),
            ],
        )
        .await?;
        for i in &p.installments {
            crate::work::insert_installment(
                tx,
                &p.plan_id,
                i64::from(i.seq),
                i.due_date,
                i.amount_minor,
            )
            .await?;
        }
        insert_plan_status(tx, &p.plan_id, &p.status, p.status_at).await?;
        return Ok(Applied::Inserted);
    };
    let mut diff = Diff::default();
    diff.check("loan_id", r[0].text() == Some(p.loan_id.as_str()));
    diff.check("created_at", same_ts(r[1].text(), Some(p.created_at)));
    let inst = tx
        .fetch_all(
            "reading instalments",
            &format!(
                "SELECT {}, {}, {} FROM payment_plan_installments WHERE plan_id = $1 ORDER BY seq",
                d.select("seq", Ty::Int),
                d.select("due_date", Ty::Date),
                d.select("amount_minor", Ty::Int)
            ),
            &[text(&p.plan_id)],
            &[Ty::Int, Ty::Date, Ty::Int],
        )
        .await?;
    let stored_inst: Vec<(Option<i64>, Option<String>, Option<i64>)> = inst
        .iter()
        .map(|i| (i[0].int(), i[1].text().map(str::to_owned), i[2].int()))
        .collect();
    let mut given: Vec<&PlanInstallment> = p.installments.iter().collect();
    given.sort_by_key(|i| i.seq);
    let given: Vec<(Option<i64>, Option<String>, Option<i64>)> = given
        .iter()
        .map(|i| {
            (
                Some(i64::from(i.seq)),
                Some(date_text(i.due_date)),
                Some(i.amount_minor),
            )
        })
        .collect();
    diff.check("installments", stored_inst == given);
    if !diff.is_empty() {
        return Ok(diff.verdict());
    }
    let latest = tx
        .fetch_all(
            "reading a plan's status",
            &format!(
                "SELECT status, {} FROM payment_plan_statuses WHERE plan_id = $1 \
                 ORDER BY change_id DESC LIMIT 1",
                d.select("at", Ty::Ts)
            ),
            &[text(&p.plan_id)],
            &[Ty::Text, Ty::Ts],
        )
        .await?;
    let (status, at) = latest
        .first()
        .map(|r| (r[0].text().unwrap_or_default(), r[1].text()))
        .unwrap_or_default();
    if status == &*p.status {
        return Ok(match p.status_at {
            None => Applied::Unchanged,
            Some(t) if same_ts(at, Some(t)) => Applied::Unchanged,
            Some(_) => Applied::Conflict("status_at".into()),
        });
    }
    if !plan_transition_allowed(status, &p.status) {
        return Ok(Applied::Conflict(format!(
            "status ({status}; {} does not follow it)",
            p.status
        )));
    }
    insert_plan_status(tx, &p.plan_id, &p.status, p.status_at).await?;
    Ok(Applied::Updated)
}

async fn insert_recall(tx: &mut Tx, placement_id: &str, at: Timestamp) -> Result<(), StoreError> {
    let d = tx.dialect();
    tx.exec(
        "recording a recall",
        &format!(
            "INSERT INTO placement_recalls (placement_id, recalled_at, reason, actor, recorded_at) \
             VALUES ($1, {}, 'imported', $3, {})",
            d.param(2, Ty::Ts),
            d.now_ts()
        ),
        &[text(placement_id), ts(at), text(IMPORT_SOURCE)],
    )
    .await
    .map(|_| ())
}

pub(crate) async fn apply_placement(tx: &mut Tx, p: &PlacementRow) -> Result<Applied, StoreError> {
    if p.recalled_at.is_some_and(|r| r < p.placed_at) {
        return Ok(invalid(format!(
            "placement {:?} is recalled before it was placed",
            p.placement_id
        )));
    }
    let d = tx.dialect();
    let stored = tx
        .fetch_all(
            "reading a placement",
            &format!(
                "SELECT p.loan_id, p.agency_id, {}, {} FROM placements p \
                 LEFT JOIN placement_recalls r ON r.placement_id = p.placement_id \
                 WHERE p.placement_id = $1",
                d.select("p.placed_at", Ty::Ts),
                d.select("r.recalled_at", Ty::Ts)
            ),
            &[text(&p.placement_id)],
            &[Ty::Text; 4],
        )
        .await?;
    if let Some(r) = stored.first() {
        let mut diff = Diff::default();
        diff.check("loan_id", r[0].text() == Some(p.loan_id.as_str()));
        diff.check("agency_id", r[1].text() == Some(&*p.agency_id));
        diff.check("placed_at", same_ts(r[2].text(), Some(p.placed_at)));
        if !diff.is_empty() {
            return Ok(diff.verdict());
        }
        return Ok(match (r[3].text(), p.recalled_at) {
            (None, None) => Applied::Unchanged,
            (None, Some(at)) => {
                insert_recall(tx, &p.placement_id, at).await?;
                Applied::Updated
            }
            (stored, given) if same_ts(stored, given) => Applied::Unchanged,
            _ => Applied::Conflict("recalled_at".into()),
        });
    }
    if let Some(r) = unknown_loan(tx, &p.loan_id).await? {
        return Ok(r);
    }
    if p.recalled_at.is_none() {
        let live = tx
            .fetch_all(
                "looking for a live placement",
                "SELECT placement_id FROM placements p WHERE loan_id = $1 AND NOT EXISTS \
                 (SELECT 1 FROM placement_recalls r WHERE r.placement_id = p.placement_id)",
                &[text(p.loan_id.as_str())],
                &[Ty::Text],
            )
            .await?;
        if let Some(l) = live.first() {
            return Ok(Applied::Conflict(format!(
                "live placement of the loan ({:?} is live)",
                l[0].text().unwrap_or_default()
            )));
        }
    }
    tx.exec(
        "recording a placement",
        &format!(
            "INSERT INTO placements (placement_id, loan_id, agency_id, placed_at, commission_bps, \
             actor, recorded_at) VALUES ($1, $2, $3, {}, NULL, $5, {})",
            d.param(4, Ty::Ts),
            d.now_ts()
        ),
        &[
            text(&p.placement_id),
            text(p.loan_id.as_str()),
            text(&p.agency_id),
            ts(p.placed_at),
            text(IMPORT_SOURCE),
        ],
    )
    .await?;
    if let Some(at) = p.recalled_at {
        insert_recall(tx, &p.placement_id, at).await?;
    }
    Ok(Applied::Inserted)
}

/// A sale; `price_bps` is compared with the stored one only when `with_price` (an import
/// carries no price).
pub(crate) async fn apply_sale(
    tx: &mut Tx,
    s: &SaleRow,
    price_bps: Option<u32>,
    with_price: bool,
) -> Result<Applied, StoreError> {
    if s.buyer.trim().is_empty() {
        return Ok(invalid(format!("sale {:?} names no buyer", s.sale_id)));
    }
    if price_bps.is_some_and(|p| p > 10_000) {
        return Ok(invalid(format!(
            "sale {:?}: a price above 10000 basis points of the balance",
            s.sale_id
        )));
    }
    let d = tx.dialect();
    let stored = tx
        .fetch_all(
            "reading a sale",
            &format!(
                "SELECT loan_id, buyer, {}, {} FROM sales WHERE sale_id = $1",
                d.select("sold_at", Ty::Ts),
                d.select("price_bps", Ty::Int)
            ),
            &[text(&s.sale_id)],
            &[Ty::Text, Ty::Text, Ty::Ts, Ty::Int],
        )
        .await?;
    if let Some(r) = stored.first() {
        let mut diff = Diff::default();
        diff.check("loan_id", r[0].text() == Some(s.loan_id.as_str()));
        diff.check("buyer", r[1].text() == Some(&*s.buyer));
        diff.check("sold_at", same_ts(r[2].text(), Some(s.sold_at)));
        if with_price {
            diff.check("price_bps", r[3].int() == price_bps.map(i64::from));
        }
        return Ok(diff.verdict());
    }
    if let Some(r) = unknown_loan(tx, &s.loan_id).await? {
        return Ok(r);
    }
    tx.exec(
        "recording a sale",
        &format!(
            "INSERT INTO sales (sale_id, loan_id, buyer, sold_at, price_bps) \
             VALUES ($1, $2, $3, {}, $5)",
            d.param(4, Ty::Ts)
        ),
        &[
            text(&s.sale_id),
            text(s.loan_id.as_str()),
            text(&s.buyer),
            ts(s.sold_at),
            Cell::Int(price_bps.map(i64::from)),
        ],
    )
    .await?;
    Ok(Applied::Inserted)
}

async fn insert_resolution(tx: &mut Tx, dispute_id: &str, at: Timestamp) -> Result<(), StoreError> {
    let d = tx.dialect();
    tx.exec(
        "recording a dispute's resolution",
        &format!(
            "INSERT INTO credit_dispute_resolutions (dispute_id, resolved_at) VALUES ($1, {})",
            d.param(2, Ty::Ts)
        ),
        &[text(dispute_id), ts(at)],
    )
    .await
    .map(|_| ())
}

/// A stored dispute: borrower, loan, opened_at, resolved_at (as text).
async fn stored_dispute(tx: &mut Tx, dispute_id: &str) -> Result<Option<Vec<Cell>>, StoreError> {
    let d = tx.dialect();
    Ok(tx
        .fetch_all(
            "reading a credit dispute",
            &format!(
                "SELECT c.borrower_id, c.loan_id, {}, {} FROM credit_disputes c \
                 LEFT JOIN credit_dispute_resolutions r ON r.dispute_id = c.dispute_id \
                 WHERE c.dispute_id = $1",
                d.select("c.opened_at", Ty::Ts),
                d.select("r.resolved_at", Ty::Ts)
            ),
            &[text(dispute_id)],
            &[Ty::Text; 4],
        )
        .await?
        .into_iter()
        .next())
}

/// Resolves a stored dispute (opened at `opened`, resolved at `stored`, if it is) at `at`.
async fn resolve_in(
    tx: &mut Tx,
    dispute_id: &str,
    opened: Option<&str>,
    stored: Option<&str>,
    at: Timestamp,
) -> Result<Applied, StoreError> {
    if let Some(o) = opened
        && ts_text(at).as_str() < o
    {
        return Ok(invalid(format!(
            "dispute {dispute_id:?} cannot be resolved before it was opened ({o})"
        )));
    }
    Ok(match stored {
        None => {
            insert_resolution(tx, dispute_id, at).await?;
            Applied::Updated
        }
        Some(s) if same_ts(Some(s), Some(at)) => Applied::Unchanged,
        Some(_) => Applied::Conflict("resolved_at".into()),
    })
}

pub(crate) async fn apply_dispute(
    tx: &mut Tx,
    c: &CreditDisputeRow,
) -> Result<Applied, StoreError> {
    if c.resolved_at.is_some_and(|r| r < c.opened_at) {
        return Ok(invalid(format!(
            "dispute {:?} is resolved before it was opened",
            c.dispute_id
        )));
    }
    if let Some(r) = stored_dispute(tx, &c.dispute_id).await? {
        let mut diff = Diff::default();
        diff.check("borrower_id", r[0].text() == Some(c.borrower_id.as_str()));
        diff.check(
            "loan_id",
            r[1].text() == c.loan_id.as_ref().map(|l| l.as_str()),
        );
        diff.check("opened_at", same_ts(r[2].text(), Some(c.opened_at)));
        if !diff.is_empty() {
            return Ok(diff.verdict());
        }
        return match (r[3].text(), c.resolved_at) {
            (None, None) => Ok(Applied::Unchanged),
            (None, Some(at)) => resolve_in(tx, &c.dispute_id, r[2].text(), None, at).await,
            (stored, given) if same_ts(stored, given) => Ok(Applied::Unchanged),
            _ => Ok(Applied::Conflict("resolved_at".into())),
        };
    }
    if let Some(r) = unknown_parties(tx, &c.borrower_id, c.loan_id.as_ref()).await? {
        return Ok(r);
    }
    let d = tx.dialect();
    tx.exec(
        "recording a credit dispute",
        &format!(
            "INSERT INTO credit_disputes (dispute_id, borrower_id, loan_id, opened_at) \
             VALUES ($1, $2, $3, {})",
            d.param(4, Ty::Ts)
        ),
        &[
            text(&c.dispute_id),
            text(c.borrower_id.as_str()),
            opt_text(c.loan_id.as_ref().map(|l| l.as_str())),
            ts(c.opened_at),
        ],
    )
    .await?;
    if let Some(at) = c.resolved_at {
        insert_resolution(tx, &c.dispute_id, at).await?;
    }
    Ok(Applied::Inserted)
}

async fn insert_case_update(
    tx: &mut Tx,
    case_id: &str,
    status: &str,
    on: Option<Date>,
) -> Result<(), StoreError> {
    let d = tx.dialect();
    tx.exec(
        "recording a case update",
        &format!(
            "INSERT INTO legal_case_updates (case_id, status, at, amount_awarded_minor, note, actor) \
             VALUES ($1, $2, {}, NULL, NULL, $4)",
            d.param(3, Ty::Ts)
        ),
        &[
            text(case_id),
            text(status),
            opt_ts(on.and_then(utc_midnight)),
            text(IMPORT_SOURCE),
        ],
    )
    .await
    .map(|_| ())
}

pub(crate) async fn apply_case(tx: &mut Tx, c: &LegalCaseFact) -> Result<Applied, StoreError> {
    if let Some(r) = vocab("status", &c.status, &LEGAL_STATUSES) {
        return Ok(r);
    }
    if c.updated_on.is_some_and(|d| utc_midnight(d).is_none()) {
        return Ok(invalid(format!(
            "case {:?}: updated_on out of range",
            c.case_id
        )));
    }
    let d = tx.dialect();
    let stored = tx
        .fetch_all(
            "reading a legal case",
            "SELECT loan_id FROM legal_cases WHERE case_id = $1",
            &[text(&c.case_id)],
            &[Ty::Text],
        )
        .await?;
    let Some(r) = stored.first() else {
        if let Some(r) = unknown_loan(tx, &c.loan_id).await? {
            return Ok(r);
        }
        tx.exec(
            "recording a legal case",
            &format!(
                "INSERT INTO legal_cases (case_id, loan_id, court, case_number, amount_claimed_minor, \
                 actor, recorded_at) VALUES ($1, $2, NULL, NULL, NULL, $3, {})",
                d.now_ts()
            ),
            &[
                text(&c.case_id),
                text(c.loan_id.as_str()),
                text(IMPORT_SOURCE),
            ],
        )
        .await?;
        insert_case_update(tx, &c.case_id, &c.status, c.updated_on).await?;
        return Ok(Applied::Inserted);
    };
    if r[0].text() != Some(c.loan_id.as_str()) {
        return Ok(Applied::Conflict("loan_id".into()));
    }
    let latest = tx
        .fetch_all(
            "reading a case's status",
            &format!(
                "SELECT status, {} FROM legal_case_updates WHERE case_id = $1 \
                 ORDER BY update_id DESC LIMIT 1",
                d.select("at", Ty::Ts)
            ),
            &[text(&c.case_id)],
            &[Ty::Text, Ty::Ts],
        )
        .await?;
    let (status, at) = latest
        .first()
        .map(|r| (r[0].text().unwrap_or_default(), r[1].text()))
        .unwrap_or_default();
    if status == &*c.status {
        let stored_on = at.and_then(|t| t.parse::<Timestamp>().ok()).map(utc_date);
        return Ok(match c.updated_on {
            None => Applied::Unchanged,
            Some(on) if stored_on == Some(on) => Applied::Unchanged,
            Some(_) => Applied::Conflict("updated_on".into()),
        });
    }
    if !case_transition_allowed(status, &c.status) {
        return Ok(Applied::Conflict(format!(
            "status ({status}; {} does not follow it)",
            c.status
        )));
    }
    insert_case_update(tx, &c.case_id, &c.status, c.updated_on).await?;
    Ok(Applied::Updated)
}

pub(crate) async fn apply_person(
    tx: &mut Tx,
    p: &ContactPersonFact,
    name: Option<&str>,
    relation: Option<&str>,
) -> Result<Applied, StoreError> {
    if let Some(r) = vocab("source", &p.source, &PERSON_SOURCES) {
        return Ok(r);
    }
    let stored = tx
        .fetch_all(
            "reading a contact person",
            "SELECT p.borrower_id, p.phone, p.email, p.source, p.name, p.relation, \
             CASE WHEN p.refused OR r.person_id IS NOT NULL THEN '1' ELSE '0' END \
             FROM contact_persons p LEFT JOIN contact_person_refusals r ON r.person_id = p.person_id \
             WHERE p.person_id = $1",
            &[text(&p.person_id)],
            &[Ty::Text; 7],
        )
        .await?;
    if let Some(r) = stored.first() {
        let mut diff = Diff::default();
        diff.check("borrower_id", r[0].text() == Some(p.borrower_id.as_str()));
        diff.check("phone", r[1].text() == p.phone.as_deref());
        diff.check("email", r[2].text() == p.email.as_deref());
        diff.check("source", r[3].text() == Some(&*p.source));
        if name.is_some() {
            diff.check("name", r[4].text() == name);
        }
        if relation.is_some() {
            diff.check("relation", r[5].text() == relation);
        }
        if !diff.is_empty() {
            return Ok(diff.verdict());
        }
        return Ok(match (r[6].text() == Some("1"), p.refused) {
            (false, true) => {
                tx.exec(
                    "recording a refusal",
                    "INSERT INTO contact_person_refusals (person_id) VALUES ($1)",
                    &[text(&p.person_id)],
                )
                .await?;
                Applied::Updated
            }
            (true, false) => Applied::Conflict("refused".into()),
            _ => Applied::Unchanged,
        });
    }
    if let Some(r) = unknown_parties(tx, &p.borrower_id, None).await? {
        return Ok(r);
    }
    tx.exec(
        "recording a contact person",
        "INSERT INTO contact_persons (person_id, borrower_id, name, phone, email, relation, source, \
         refused) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            text(&p.person_id),
            text(p.borrower_id.as_str()),
            opt_text(name),
            opt_text(p.phone.as_deref()),
            opt_text(p.email.as_deref()),
            opt_text(relation),
            text(&p.source),
            flag(p.refused),
        ],
    )
    .await?;
    Ok(Applied::Inserted)
}

/// Locks, in id order, every stored borrower the records are about (directly or through a
/// loan); on SQLite the statement writes, so the transaction holds the write lock from here.
async fn lock_all(tx: &mut Tx, l: &Lifecycle) -> Result<(), StoreError> {
    let mut borrowers: BTreeSet<&str> = BTreeSet::new();
    let mut loans: BTreeSet<&str> = BTreeSet::new();
    borrowers.extend(l.notices.iter().map(|n| n.borrower_id.as_str()));
    borrowers.extend(l.preferences.iter().map(|p| p.borrower_id.as_str()));
    borrowers.extend(l.credit_disputes.iter().map(|c| c.borrower_id.as_str()));
    borrowers.extend(l.contact_persons.iter().map(|p| p.borrower_id.as_str()));
    loans.extend(l.plans.iter().map(|p| p.loan_id.as_str()));
    loans.extend(l.placements.iter().map(|p| p.loan_id.as_str()));
    loans.extend(l.sales.iter().map(|s| s.loan_id.as_str()));
    loans.extend(l.legal_cases.iter().map(|c| c.loan_id.as_str()));
    let d = tx.dialect();
    let filter = format!(
        "borrower_id IN {} OR borrower_id IN (SELECT borrower_id FROM loans WHERE loan_id IN {})",
        d.json_set(1),
        d.json_set(2)
    );
    let args = [
        text(&json_array(borrowers.into_iter())),
        text(&json_array(loans.into_iter())),
    ];
    match d {
        Dialect::Postgres => {
            tx.fetch_all(
                "locking the borrowers of an import",
                &format!(
                    "SELECT borrower_id FROM borrowers WHERE {filter} \
                     ORDER BY borrower_id FOR NO KEY UPDATE"
                ),
                &args,
                &[Ty::Text],
            )
            .await?;
        }
        Dialect::Sqlite => {
            tx.exec(
                "locking the borrowers of an import",
                &format!("UPDATE borrowers SET name = name WHERE {filter}"),
                &args,
            )
            .await?;
        }
    }
    Ok(())
}

/// Who a single-record write locks.
#[derive(Clone, Copy)]
enum Lock<'a> {
    Borrower(&'a BorrowerId),
    Loan(&'a LoanId),
}

/// The answer of a single-record write: its transaction is committed when it wrote.
async fn settle(tx: Tx, a: Applied, what: &'static str, id: &str) -> Result<bool, LifecycleError> {
    if a.wrote() {
        tx.commit().await?;
    }
    a.answer(what, id)
}

impl Store {
    /// A transaction that holds the lock of the borrower (or of the loan's borrower).
    async fn locked(&self, lock: Lock<'_>) -> Result<Tx, LifecycleError> {
        let mut tx = self.begin().await?;
        let (found, missing) = match lock {
            Lock::Borrower(b) => (
                lock_borrower(&mut tx, b.as_str()).await?,
                LifecycleError::UnknownBorrower(b.as_str().to_owned()),
            ),
            Lock::Loan(l) => (
                lock_loan_borrower(&mut tx, l.as_str()).await?,
                LifecycleError::UnknownLoan(l.as_str().to_owned()),
            ),
        };
        if found { Ok(tx) } else { Err(missing) }
    }

    /// Records a notice sent to a borrower; `source` says who told the store (`api`,
    /// `outbox`, `import`, …). True when newly recorded, false when the same notice is
    /// stored already; the same id with other content is a `Conflict`.
    pub async fn record_notice(&self, n: &NoticeRow, source: &str) -> Result<bool, LifecycleError> {
        let mut tx = self.locked(Lock::Borrower(&n.borrower_id)).await?;
        let a = apply_notice(&mut tx, n, source).await?;
        settle(tx, a, "notice", &n.notice_id).await
    }

    /// Appends a borrower's choice for one channel. True when recorded; false when the same
    /// row (channel, choice, hours, `updated_at`) is stored already. The latest row per
    /// (borrower, channel) by `updated_at`, then by the order recorded, holds.
    pub async fn set_preference(
        &self,
        p: &PreferenceRow,
        source: &str,
    ) -> Result<bool, LifecycleError> {
        let mut tx = self.locked(Lock::Borrower(&p.borrower_id)).await?;
        let a = write_preference(&mut tx, p, source, PreferenceWrite::UnlessStored).await?;
        settle(tx, a, "preference", &p.channel).await
    }

    /// Records a debt sale, with its price in basis points of the balance when known.
    pub async fn record_sale(
        &self,
        s: &SaleRow,
        price_bps: Option<u32>,
    ) -> Result<bool, LifecycleError> {
        let mut tx = self.locked(Lock::Loan(&s.loan_id)).await?;
        let a = apply_sale(&mut tx, s, price_bps, true).await?;
        settle(tx, a, "sale", &s.sale_id).await
    }

    /// Records a credit-report dispute (with its resolution, when `resolved_at` is set).
    /// A stored open dispute given again with `resolved_at` is resolved (true).
    pub async fn open_credit_dispute(&self, c: &CreditDisputeRow) -> Result<bool, LifecycleError> {
        let mut tx = self.locked(Lock::Borrower(&c.borrower_id)).await?;
        let a = apply_dispute(&mut tx, c).await?;
        settle(tx, a, "credit dispute", &c.dispute_id).await
    }

    /// Resolves a stored dispute at `at`: true when resolved now, false when it was resolved
    /// at that instant already; resolved at another instant is a `Conflict`.
    pub async fn resolve_credit_dispute(
        &self,
        dispute_id: &str,
        at: Timestamp,
    ) -> Result<bool, LifecycleError> {
        let not_found = || LifecycleError::NotFound {
            what: "credit dispute",
            id: dispute_id.to_owned(),
        };
        // A dispute's borrower never changes: read before the writing transaction, whose
        // first statement must write (the lock).
        let mut tx = self.begin_read().await?;
        let found = stored_dispute(&mut tx, dispute_id).await?;
        tx.commit().await?;
        let borrower = found
            .as_ref()
            .and_then(|r| r[0].text())
            .and_then(|b| BorrowerId::parse("borrower_id", b).ok())
            .ok_or_else(not_found)?;
        let mut tx = self.locked(Lock::Borrower(&borrower)).await?;
        // Read again under the lock: the resolution may have been recorded meanwhile.
        let r = stored_dispute(&mut tx, dispute_id)
            .await?
            .ok_or_else(not_found)?;
        let a = resolve_in(&mut tx, dispute_id, r[2].text(), r[3].text(), at).await?;
        settle(tx, a, "credit dispute", dispute_id).await
    }

    /// Records a person linked to a borrower. A stored person given again with `refused`
    /// set is recorded as having refused (true).
    pub async fn record_contact_person(
        &self,
        p: &ContactPersonFact,
    ) -> Result<bool, LifecycleError> {
        self.record_contact_person_named(p, None, None).await
    }

    /// [`Store::record_contact_person`] with the person's name and relation to the borrower
    /// (kept for people; the rules do not read them).
    pub async fn record_contact_person_named(
        &self,
        p: &ContactPersonFact,
        name: Option<&str>,
        relation: Option<&str>,
    ) -> Result<bool, LifecycleError> {
        let mut tx = self.locked(Lock::Borrower(&p.borrower_id)).await?;
        let a = apply_person(&mut tx, p, name, relation).await?;
        settle(tx, a, "contact person", &p.person_id).await
    }

    /// Imports lifecycle records in one transaction (all or nothing on a failure of the
    /// store), after locking every borrower they are about. Idempotent: a record whose id is
    /// stored with the same content is skipped; one that moved on (see [`Tally::updated`])
    /// is appended; one with other content is a conflict and not applied; a record about an
    /// unknown borrower or loan, or with a value outside the vocabulary, is rejected.
    /// Preferences are appended unless the same row is stored. Plans, placements and legal
    /// cases go into the work tables with actor `import` (a placement or case without the
    /// API's extra fields: no commission, court, case number or claimed amount).
    pub async fn import_lifecycle(&self, l: &Lifecycle) -> Result<LifecycleCounts, StoreError> {
        let mut tx = self.begin().await?;
        lock_all(&mut tx, l).await?;
        let mut c = LifecycleCounts::default();
        for n in &l.notices {
            let a = apply_notice(&mut tx, n, IMPORT_SOURCE).await?;
            c.note("notices", n.notice_id.to_string(), a);
        }
        for p in &l.preferences {
            let a =
                write_preference(&mut tx, p, IMPORT_SOURCE, PreferenceWrite::UnlessStored).await?;
            let id = format!(
                "{}/{}/{}",
                p.borrower_id.as_str(),
                p.channel,
                ts_text(p.updated_at)
            );
            c.note("preferences", id, a);
        }
        for p in &l.plans {
            let a = apply_plan(&mut tx, p).await?;
            c.note("payment_plans", p.plan_id.to_string(), a);
        }
        for p in &l.placements {
            let a = apply_placement(&mut tx, p).await?;
            c.note("placements", p.placement_id.to_string(), a);
        }
        for s in &l.sales {
            let a = apply_sale(&mut tx, s, None, false).await?;
            c.note("sales", s.sale_id.to_string(), a);
        }
        for d in &l.credit_disputes {
            let a = apply_dispute(&mut tx, d).await?;
            c.note("credit_disputes", d.dispute_id.to_string(), a);
        }
        for k in &l.legal_cases {
            let a = apply_case(&mut tx, k).await?;
            c.note("legal_cases", k.case_id.to_string(), a);
        }
        for p in &l.contact_persons {
            let a = apply_person(&mut tx, p, None, None).await?;
            c.note("contact_persons", p.person_id.to_string(), a);
        }
        tx.commit().await?;
        Ok(c)
    }

    /// Every lifecycle record of these borrowers and their loans, in one statement: notices,
    /// the latest preference per channel, plans (instalments by seq, the status and
    /// `status_at` of the latest status row), placements (`recalled_at` from the recalls),
    /// sales, credit disputes (`resolved_at` from the resolutions), legal cases (the latest
    /// update's status, `updated_on` its UTC date) and contact persons (refused if they were
    /// when recorded or refused since). Each list is ordered by its time then id (contact
    /// persons and cases by id, preferences by borrower then channel).
    pub async fn lifecycle_of(&self, borrower_ids: &[&str]) -> Result<Lifecycle, StoreError> {
        let d = self.dialect();
        let (sql, tys) = lifecycle_statement(d, &Scope::Json);
        let ids = json_array(borrower_ids.iter().copied());
        let rows = self
            .fetch_once("reading lifecycle records", &sql, &[text(&ids)], &tys)
            .await?;
        let mut parts = LifecycleParts::default();
        for r in &rows {
            parts.take(
                r.first().and_then(Cell::int).unwrap_or_default(),
                r.get(2..).unwrap_or_default(),
            )?;
        }
        parts.finish()
    }

    /// [`Store::lifecycle_of`] every borrower (one statement, read as it streams).
    pub async fn all_lifecycle(&self) -> Result<Lifecycle, StoreError> {
        let mut tx = self.begin_read().await?;
        let (sql, tys) = lifecycle_statement(tx.dialect(), &Scope::All);
        let mut parts = LifecycleParts::default();
        tx.fetch("reading every lifecycle record", &sql, &[], &tys, |r| {
            parts.take(
                r.first().and_then(Cell::int).unwrap_or_default(),
                r.get(2..).unwrap_or_default(),
            )
        })
        .await?;
        tx.commit().await?;
        parts.finish()
    }
}

/// The generic text columns of a lifecycle row.
pub(crate) const G: usize = 7;

/// Which borrowers a read is about.
pub(crate) enum Scope {
    /// `$1`.
    One,
    /// The text array `$1` (PostgreSQL).
    ManyPg,
    /// The JSON array of text `$1`.
    Json,
    All,
}

impl Scope {
    /// The condition that the borrower id `col` is in scope.
    pub(crate) fn filter(&self, d: Dialect, col: &str) -> String {
        match self {
            Scope::One => format!("{col} = $1"),
            Scope::ManyPg => format!("{col} = ANY(CAST($1 AS TEXT[]))"),
            Scope::Json => format!("{col} IN {}", d.json_set(1)),
            Scope::All => "1 = 1".to_owned(),
        }
    }
}

/// One part of the lifecycle's UNION ALL: its tag, the borrower it belongs to, its `G` text
/// columns, and its `FROM … WHERE …`.
pub(crate) struct Part {
    pub tag: i64,
    pub lead: String,
    pub cols: Vec<String>,
    pub from: String,
}

const T_NOTICE: i64 = 10;
const T_PREFERENCE: i64 = 11;
const T_PLAN: i64 = 12;
const T_PLAN_STATUS: i64 = 13;
const T_PLAN_INSTALLMENT: i64 = 14;
const T_PLACEMENT: i64 = 15;
const T_SALE: i64 = 16;
const T_DISPUTE: i64 = 17;
const T_CASE: i64 = 18;
const T_CASE_UPDATE: i64 = 19;
const T_PERSON: i64 = 20;

/// The parts of every lifecycle record of the borrowers in `scope` (tags 10 and up; every
/// column text).
pub(crate) fn lifecycle_parts(d: Dialect, scope: &Scope) -> Vec<Part> {
    let at = |c: &str| d.select(c, Ty::Ts);
    let day = |c: &str| d.select(c, Ty::Date);
    let num = |c: &str| format!("CAST({c} AS TEXT)");
    let yes = |c: &str| format!("CASE WHEN {c} THEN '1' ELSE '0' END");
    let by_loan = |from: &str, alias: &str| {
        format!(
            "{from} JOIN loans l ON l.loan_id = {alias}.loan_id WHERE {}",
            scope.filter(d, "l.borrower_id")
        )
    };
    let part = |tag: i64, lead: &str, cols: Vec<String>, from: String| {
        let mut cols = cols;
        cols.resize(G, "NULL".to_owned());
        Part {
            tag,
            lead: lead.to_owned(),
            cols,
            from,
        }
    };
    let s = |v: &str| v.to_owned();
    vec![
        part(
            T_NOTICE,
            "n.borrower_id",
            vec![
                s("n.notice_id"),
                s("n.borrower_id"),
                s("n.loan_id"),
                s("n.kind"),
                at("n.sent_at"),
                s("n.channel"),
            ],
            format!("notices n WHERE {}", scope.filter(d, "n.borrower_id")),
        ),
        part(
            T_PREFERENCE,
            "p.borrower_id",
            vec![
                s("p.borrower_id"),
                s("p.channel"),
                yes("p.opted_out"),
                s("p.contact_from"),
                s("p.contact_to"),
                at("p.updated_at"),
                num("p.preference_id"),
            ],
            format!("preferences p WHERE {}", scope.filter(d, "p.borrower_id")),
        ),
        part(
            T_PLAN,
            "l.borrower_id",
            vec![s("p.plan_id"), s("p.loan_id"), at("p.created_at")],
            by_loan("payment_plans p", "p"),
        ),
        part(
            T_PLAN_STATUS,
            "l.borrower_id",
            vec![
                s("s.plan_id"),
                num("s.change_id"),
                s("s.status"),
                at("s.at"),
            ],
            by_loan(
                "payment_plan_statuses s JOIN payment_plans p ON p.plan_id = s.plan_id",
                "p",
            ),
        ),
        part(
            T_PLAN_INSTALLMENT,
            "l.borrower_id",
            vec![
                s("i.plan_id"),
                num("i.seq"),
                day("i.due_date"),
                num("i.amount_minor"),
            ],
            by_loan(
                "payment_plan_installments i JOIN payment_plans p ON p.plan_id = i.plan_id",
                "p",
            ),
        ),
        part(
            T_PLACEMENT,
            "l.borrower_id",
            vec![
                s("p.placement_id"),
                s("p.loan_id"),
                s("p.agency_id"),
                at("p.placed_at"),
                at("r.recalled_at"),
            ],
            by_loan(
                "placements p LEFT JOIN placement_recalls r ON r.placement_id = p.placement_id",
                "p",
            ),
        ),
        part(
            T_SALE,
            "l.borrower_id",
            vec![
                s("s.sale_id"),
                s("s.loan_id"),
                s("s.buyer"),
                at("s.sold_at"),
            ],
            by_loan("sales s", "s"),
        ),
        part(
            T_DISPUTE,
            "c.borrower_id",
            vec![
                s("c.dispute_id"),
                s("c.borrower_id"),
                s("c.loan_id"),
                at("c.opened_at"),
                at("r.resolved_at"),
            ],
            format!(
                "credit_disputes c LEFT JOIN credit_dispute_resolutions r \
                 ON r.dispute_id = c.dispute_id WHERE {}",
                scope.filter(d, "c.borrower_id")
            ),
        ),
        part(
            T_CASE,
            "l.borrower_id",
            vec![s("c.case_id"), s("c.loan_id")],
            by_loan("legal_cases c", "c"),
        ),
        part(
            T_CASE_UPDATE,
            "l.borrower_id",
            vec![
                s("u.case_id"),
                num("u.update_id"),
                s("u.status"),
                at("u.at"),
            ],
            by_loan(
                "legal_case_updates u JOIN legal_cases c ON c.case_id = u.case_id",
                "c",
            ),
        ),
        part(
            T_PERSON,
            "p.borrower_id",
            vec![
                s("p.person_id"),
                s("p.borrower_id"),
                s("p.phone"),
                s("p.email"),
                s("p.source"),
                yes("p.refused OR r.person_id IS NOT NULL"),
            ],
            format!(
                "contact_persons p LEFT JOIN contact_person_refusals r \
                 ON r.person_id = p.person_id WHERE {}",
                scope.filter(d, "p.borrower_id")
            ),
        ),
    ]
}

/// The lifecycle records of `scope` in one statement: rows of (tag, borrower, `G` texts).
pub(crate) fn lifecycle_statement(d: Dialect, scope: &Scope) -> (String, Vec<Ty>) {
    let sql = lifecycle_parts(d, scope)
        .into_iter()
        .map(|p| {
            format!(
                "SELECT CAST({} AS BIGINT), {}, {} FROM {}",
                p.tag,
                p.lead,
                p.cols.join(", "),
                p.from
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let mut tys = vec![Ty::Int, Ty::Text];
    tys.extend(std::iter::repeat_n(Ty::Text, G));
    (sql, tys)
}

/// A borrower's latest preference per channel, read in `tx`.
pub(crate) async fn latest_preferences_in(
    tx: &mut Tx,
    borrower_id: &str,
) -> Result<Vec<PreferenceRow>, StoreError> {
    let d = tx.dialect();
    let Some(p) = lifecycle_parts(d, &Scope::One)
        .into_iter()
        .find(|p| p.tag == T_PREFERENCE)
    else {
        return Err(StoreError::Internal("no preference part".into()));
    };
    let rows = tx
        .fetch_all(
            "reading preferences",
            &format!("SELECT {} FROM {}", p.cols.join(", "), p.from),
            &[text(borrower_id)],
            &[Ty::Text; G],
        )
        .await?;
    let mut parts = LifecycleParts::default();
    for r in &rows {
        parts.take(T_PREFERENCE, r)?;
    }
    Ok(parts.finish()?.preferences)
}

/// A plan status or case update row: the plan or case, the row's id (its order), the
/// status, and when (if known).
type Stage = (Box<str>, i64, Box<str>, Option<Timestamp>);

/// The lifecycle rows of a read, gathered by kind, until [`LifecycleParts::finish`] puts
/// them together.
#[derive(Debug, Default)]
pub(crate) struct LifecycleParts {
    notices: Vec<NoticeRow>,
    preferences: Vec<(i64, PreferenceRow)>,
    plans: Vec<PaymentPlanRow>,
    plan_statuses: Vec<Stage>,
    plan_installments: Vec<(Box<str>, PlanInstallment)>,
    placements: Vec<PlacementRow>,
    sales: Vec<SaleRow>,
    disputes: Vec<CreditDisputeRow>,
    cases: Vec<(Box<str>, LoanId)>,
    case_updates: Vec<Stage>,
    persons: Vec<ContactPersonFact>,
}

/// Reads the `G` text columns of one lifecycle row.
struct Row<'a> {
    table: &'static str,
    g: &'a [Cell],
}

impl Row<'_> {
    fn key(&self) -> String {
        self.opt(0).unwrap_or("?").to_owned()
    }
    fn bad(&self, column: &'static str, detail: String) -> StoreError {
        StoreError::Corrupt {
            table: self.table,
            key: self.key(),
            column,
            detail,
        }
    }
    fn opt(&self, i: usize) -> Option<&str> {
        self.g.get(i).and_then(Cell::text)
    }
    fn need(&self, i: usize, column: &'static str) -> Result<&str, StoreError> {
        self.opt(i).ok_or_else(|| self.bad(column, "empty".into()))
    }
    fn boxed(&self, i: usize, column: &'static str) -> Result<Box<str>, StoreError> {
        self.need(i, column).map(Into::into)
    }
    fn borrower(&self, i: usize) -> Result<BorrowerId, StoreError> {
        BorrowerId::parse("borrower_id", self.need(i, "borrower_id")?)
            .map_err(|e| self.bad("borrower_id", e.detail))
    }
    fn loan(&self, i: usize) -> Result<LoanId, StoreError> {
        self.opt_loan(i)?
            .ok_or_else(|| self.bad("loan_id", "empty".into()))
    }
    fn opt_loan(&self, i: usize) -> Result<Option<LoanId>, StoreError> {
        self.opt(i)
            .map(|l| LoanId::parse("loan_id", l).map_err(|e| self.bad("loan_id", e.detail)))
            .transpose()
    }
    fn at(&self, i: usize, column: &'static str) -> Result<Timestamp, StoreError> {
        self.opt_at(i, column)?
            .ok_or_else(|| self.bad(column, "empty".into()))
    }
    fn opt_at(&self, i: usize, column: &'static str) -> Result<Option<Timestamp>, StoreError> {
        self.opt(i)
            .map(|t| {
                t.parse::<Timestamp>()
                    .map_err(|e| self.bad(column, format!("{t:?}: {e}")))
            })
            .transpose()
    }
    fn int(&self, i: usize, column: &'static str) -> Result<i64, StoreError> {
        let t = self.need(i, column)?;
        t.parse()
            .map_err(|e| self.bad(column, format!("{t:?}: {e}")))
    }
    fn time(&self, i: usize, column: &'static str) -> Result<Option<Time>, StoreError> {
        self.opt(i)
            .map(|t| parse_hhmm(t).ok_or_else(|| self.bad(column, format!("{t:?}"))))
            .transpose()
    }
    fn yes(&self, i: usize) -> bool {
        self.opt(i) == Some("1")
    }
}

impl LifecycleParts {
    /// Takes one row of the lifecycle part `tag` (its `G` text columns).
    pub(crate) fn take(&mut self, tag: i64, g: &[Cell]) -> Result<(), StoreError> {
        let row = |table| Row { table, g };
        match tag {
            T_NOTICE => {
                let r = row("notices");
                self.notices.push(NoticeRow {
                    notice_id: r.boxed(0, "notice_id")?,
                    borrower_id: r.borrower(1)?,
                    loan_id: r.opt_loan(2)?,
                    kind: r.boxed(3, "kind")?,
                    sent_at: r.at(4, "sent_at")?,
                    channel: r.boxed(5, "channel")?,
                });
            }
            T_PREFERENCE => {
                let r = row("preferences");
                let (contact_from, contact_to) =
                    (r.time(3, "contact_from")?, r.time(4, "contact_to")?);
                self.preferences.push((
                    r.int(6, "preference_id")?,
                    PreferenceRow {
                        borrower_id: r.borrower(0)?,
                        channel: r.boxed(1, "channel")?,
                        opted_out: r.yes(2),
                        contact_from,
                        contact_to,
                        updated_at: r.at(5, "updated_at")?,
                    },
                ));
            }
            T_PLAN => {
                let r = row("payment_plans");
                self.plans.push(PaymentPlanRow {
                    plan_id: r.boxed(0, "plan_id")?,
                    loan_id: r.loan(1)?,
                    status: "".into(),
                    created_at: r.at(2, "created_at")?,
                    status_at: None,
                    installments: Vec::new(),
                });
            }
            T_PLAN_STATUS => {
                let r = row("payment_plan_statuses");
                self.plan_statuses.push((
                    r.boxed(0, "plan_id")?,
                    r.int(1, "change_id")?,
                    r.boxed(2, "status")?,
                    r.opt_at(3, "at")?,
                ));
            }
            T_PLAN_INSTALLMENT => {
                let r = row("payment_plan_installments");
                let seq = r.int(1, "seq")?;
                let due = r.need(2, "due_date")?;
                self.plan_installments.push((
                    r.boxed(0, "plan_id")?,
                    PlanInstallment {
                        seq: u32::try_from(seq).map_err(|e| r.bad("seq", e.to_string()))?,
                        due_date: due
                            .parse()
                            .map_err(|e| r.bad("due_date", format!("{due:?}: {e}")))?,
                        amount_minor: r.int(3, "amount_minor")?,
                    },
                ));
            }
            T_PLACEMENT => {
                let r = row("placements");
                self.placements.push(PlacementRow {
                    placement_id: r.boxed(0, "placement_id")?,
                    loan_id: r.loan(1)?,
                    agency_id: r.boxed(2, "agency_id")?,
                    placed_at: r.at(3, "placed_at")?,
                    recalled_at: r.opt_at(4, "recalled_at")?,
                });
            }
            T_SALE => {
                let r = row("sales");
                self.sales.push(SaleRow {
                    sale_id: r.boxed(0, "sale_id")?,
                    loan_id: r.loan(1)?,
                    buyer: r.boxed(2, "buyer")?,
                    sold_at: r.at(3, "sold_at")?,
                });
            }
            T_DISPUTE => {
                let r = row("credit_disputes");
                self.disputes.push(CreditDisputeRow {
                    dispute_id: r.boxed(0, "dispute_id")?,
                    borrower_id: r.borrower(1)?,
                    loan_id: r.opt_loan(2)?,
                    opened_at: r.at(3, "opened_at")?,
                    resolved_at: r.opt_at(4, "resolved_at")?,
                });
            }
            T_CASE => {
                let r = row("legal_cases");
                self.cases.push((r.boxed(0, "case_id")?, r.loan(1)?));
            }
            T_CASE_UPDATE => {
                let r = row("legal_case_updates");
                self.case_updates.push((
                    r.boxed(0, "case_id")?,
                    r.int(1, "update_id")?,
                    r.boxed(2, "status")?,
                    r.opt_at(3, "at")?,
                ));
            }
            T_PERSON => {
                let r = row("contact_persons");
                self.persons.push(ContactPersonFact {
                    person_id: r.boxed(0, "person_id")?,
                    borrower_id: r.borrower(1)?,
                    phone: r.opt(2).map(Into::into),
                    email: r.opt(3).map(Into::into),
                    source: r.boxed(4, "source")?,
                    refused: r.yes(5),
                });
            }
            _ => {
                return Err(StoreError::Internal(format!(
                    "an unknown part {tag} in lifecycle records"
                )));
            }
        }
        Ok(())
    }

    /// The records put together and in order (see `Store::lifecycle_of`).
    pub(crate) fn finish(self) -> Result<Lifecycle, StoreError> {
        let mut notices = self.notices;
        notices.sort_by(|a, b| (a.sent_at, &a.notice_id).cmp(&(b.sent_at, &b.notice_id)));

        // The latest row per (borrower, channel): by updated_at, then the order recorded.
        let mut latest: HashMap<(BorrowerId, Box<str>), (Timestamp, i64, PreferenceRow)> =
            HashMap::new();
        for (id, p) in self.preferences {
            let key = (p.borrower_id.clone(), p.channel.clone());
            let newer = latest
                .get(&key)
                .is_none_or(|(at, i, _)| (p.updated_at, id) > (*at, *i));
            if newer {
                latest.insert(key, (p.updated_at, id, p));
            }
        }
        let rank = |c: &str| PREFERENCE_CHANNELS.iter().position(|x| *x == c);
        let mut preferences: Vec<PreferenceRow> = latest.into_values().map(|v| v.2).collect();
        preferences.sort_by(|a, b| {
            (a.borrower_id.as_str(), rank(&a.channel), &a.channel).cmp(&(
                b.borrower_id.as_str(),
                rank(&b.channel),
                &b.channel,
            ))
        });

        let mut status: HashMap<Box<str>, (i64, Box<str>, Option<Timestamp>)> = HashMap::new();
        for (plan, change, s, at) in self.plan_statuses {
            if status.get(&plan).is_none_or(|(c, _, _)| change > *c) {
                status.insert(plan, (change, s, at));
            }
        }
        let mut installments: HashMap<Box<str>, Vec<PlanInstallment>> = HashMap::new();
        for (plan, i) in self.plan_installments {
            installments.entry(plan).or_default().push(i);
        }
        let mut plans = self.plans;
        for p in &mut plans {
            let Some((_, s, at)) = status.remove(&p.plan_id) else {
                return Err(StoreError::Corrupt {
                    table: "payment_plan_statuses",
                    key: p.plan_id.to_string(),
                    column: "status",
                    detail: "a plan without a status".into(),
                });
            };
            p.status = s;
            p.status_at = at;
            let mut inst = installments.remove(&p.plan_id).unwrap_or_default();
            inst.sort_by_key(|i| i.seq);
            p.installments = inst;
        }
        plans.sort_by(|a, b| (a.created_at, &a.plan_id).cmp(&(b.created_at, &b.plan_id)));

        let mut placements = self.placements;
        placements
            .sort_by(|a, b| (a.placed_at, &a.placement_id).cmp(&(b.placed_at, &b.placement_id)));
        let mut sales = self.sales;
        sales.sort_by(|a, b| (a.sold_at, &a.sale_id).cmp(&(b.sold_at, &b.sale_id)));
        let mut credit_disputes = self.disputes;
        credit_disputes
            .sort_by(|a, b| (a.opened_at, &a.dispute_id).cmp(&(b.opened_at, &b.dispute_id)));

        let mut case_status: HashMap<Box<str>, (i64, Box<str>, Option<Timestamp>)> = HashMap::new();
        for (case, update, s, at) in self.case_updates {
            if case_status.get(&case).is_none_or(|(u, _, _)| update > *u) {
                case_status.insert(case, (update, s, at));
            }
        }
        let mut legal_cases = Vec::with_capacity(self.cases.len());
        for (case_id, loan_id) in self.cases {
            let Some((_, s, at)) = case_status.remove(&case_id) else {
                return Err(StoreError::Corrupt {
                    table: "legal_case_updates",
                    key: case_id.to_string(),
                    column: "status",
                    detail: "a case without an update".into(),
                });
            };
            legal_cases.push(LegalCaseFact {
                case_id,
                loan_id,
                status: s,
                updated_on: at.map(utc_date),
            });
        }
        legal_cases.sort_by(|a, b| a.case_id.cmp(&b.case_id));
        let mut contact_persons = self.persons;
        contact_persons.sort_by(|a, b| a.person_id.cmp(&b.person_id));
        Ok(Lifecycle {
            notices,
            preferences,
            plans,
            placements,
            sales,
            credit_disputes,
            legal_cases,
            contact_persons,
        })
    }
}
