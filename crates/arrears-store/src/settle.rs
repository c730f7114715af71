//! Write-offs with approval and settlements (migrations 0021 and 0022, `docs/settlement.md`).
//!
//! - The plan's write-off proposals are kept (`write_off_proposals`); a supervisor decides
//!   each once (`write_off_decisions`, the username of their own login, never free text). An
//!   approval writes the loan's balances of its latest snapshot off by component and sets the
//!   loan's status to `written_off`, in the same transaction.
//! - A settlement (`settlements`, `settlement_instalments`) discounts the latest snapshot's
//!   balances within the lender's limit; its events (`settlement_events`) move it from
//!   offered to accepted, paid (the remainder written off by component and the loan closed,
//!   in one transaction), lapsed or withdrawn. Each event happens once; illegal transitions are
//!   refused (`WorkError::State`).
//!
//! Every write locks the loan's borrower first, like the rest of the work records. The
//! figures are the caller's (`arrears_engine::settlement`); the database checks that the
//! components add up.

use crate::schema::{date_text, int, opt_text, text, ts};
use crate::sql::{Tx, Ty};
use crate::work::{WorkError, get_date, get_text, get_ts, lock, not_found, payment_moves};
use crate::{Store, StoreError};
use arrears_engine::PaymentMove;
use arrears_engine::settlement::Components;
use jiff::Timestamp;
use jiff::civil::Date;

/// A rejected proposal keeps a loan off the proposals for this many days after its decision
/// (else the plan would put it back the next morning).
pub const REJECTION_QUIET_DAYS: i64 = 30;

/// A write-off proposal of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWriteOffProposal {
    pub proposal_id: String,
    pub loan_id: String,
    pub proposed_on: Date,
    pub rule_id: String,
    pub pack_rule: Option<String>,
    pub stage: String,
}

/// A proposal as the supervisor sees it: the loan, its latest snapshot's balances, and the
/// decision if there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOffProposalView {
    pub proposal_id: String,
    pub loan_id: String,
    pub borrower_id: String,
    pub currency: String,
    pub proposed_on: Date,
    pub rule_id: String,
    pub pack_rule: Option<String>,
    pub stage: String,
    /// The latest snapshot's date and balances (what an approval would write off).
    pub snapshot: Option<(Date, i64, Components)>,
    pub decision: Option<WriteOffDecisionView>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOffDecisionView {
    pub decision: String,
    pub reason: String,
    pub decided_by: String,
    pub decided_at: Timestamp,
    pub write_off_id: Option<String>,
}

/// A supervisor's decision on a proposal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOffDecision {
    pub proposal_id: String,
    pub approve: bool,
    pub reason: String,
    /// The staff user, signed in with their own password, and their role.
    pub decided_by: String,
    pub role: String,
    pub at: Timestamp,
}

/// What an approval wrote off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenOff {
    pub write_off_id: String,
    pub loan_id: String,
    pub snapshot_as_of: Date,
    pub components: Components,
    pub amount_minor: i64,
}

/// A settlement to record (figures from `arrears_engine::settlement`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSettlement {
    pub settlement_id: String,
    pub loan_id: String,
    pub offered_at: Timestamp,
    pub offered_by: String,
    pub snapshot_as_of: Date,
    pub stage: String,
    pub dpd: i64,
    pub components: Components,
    pub outstanding_minor: i64,
    pub limit_bps: u32,
    pub discount_bps: u32,
    pub discount_minor: i64,
    pub amount_minor: i64,
    pub accept_by: Date,
    pub instalments: Vec<(Date, i64)>,
}

/// One event of a settlement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettlementEvent {
    pub event: String,
    pub on_date: Date,
    pub at: Timestamp,
    pub actor: String,
    pub write_off_id: Option<String>,
}

/// A stored settlement with its instalments, events and state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSettlement {
    pub settlement_id: String,
    pub loan_id: String,
    pub borrower_id: String,
    pub currency: String,
    pub offered_at: Timestamp,
    pub offered_by: String,
    pub snapshot_as_of: Date,
    pub stage: String,
    pub dpd: i64,
    pub components: Components,
    pub outstanding_minor: i64,
    pub limit_bps: i64,
    pub discount_bps: i64,
    pub discount_minor: i64,
    pub amount_minor: i64,
    pub accept_by: Date,
    pub instalments: Vec<(Date, i64)>,
    pub events: Vec<SettlementEvent>,
}

impl StoredSettlement {
    /// `offered`, `accepted`, `paid`, `lapsed` or `withdrawn`: the latest event's.
    pub fn status(&self) -> &str {
        settlement_status(self.events.iter().map(|e| e.event.as_str()))
    }

    /// When it was accepted, if it was.
    pub fn accepted_at(&self) -> Option<Timestamp> {
        self.events
            .iter()
            .find(|e| e.event == "accepted")
            .map(|e| e.at)
    }
}

/// The state a settlement's events leave it in.
fn settlement_status<'a>(events: impl Iterator<Item = &'a str>) -> &'static str {
    let mut s = "offered";
    for e in events {
        s = match e {
            "accepted" => "accepted",
            "paid" => "paid",
            "lapsed" => "lapsed",
            "withdrawn" => "withdrawn",
            _ => s,
        };
    }
    s
}

/// Whether a settlement in `from` may take `event`: offered → accepted, withdrawn or lapsed;
/// accepted → paid or lapsed; nothing leaves paid, lapsed or withdrawn.
pub fn settlement_transition_allowed(from: &str, event: &str) -> bool {
    matches!(
        (from, event),
        ("offered", "accepted" | "withdrawn" | "lapsed") | ("accepted", "paid" | "lapsed")
    )
}

/// The latest snapshot of a loan: its date, currency, stage, dpd and balances by component.
async fn latest_components(
    tx: &mut Tx,
    loan_id: &str,
) -> Result<Option<(Date, String, String, i64, Components)>, StoreError> {
    components_of(tx, loan_id, None).await
}

/// The loan's snapshot of `on` (the latest when `None`).
async fn components_of(
    tx: &mut Tx,
    loan_id: &str,
    on: Option<Date>,
) -> Result<Option<(Date, String, String, i64, Components)>, StoreError> {
    let d = tx.dialect();
    let mut args = vec![text(loan_id)];
    let on_cond = match on {
        Some(day) => {
            args.push(text(&date_text(day)));
            format!("AND s.as_of = {}", d.param(2, Ty::Date))
        }
        None => String::new(),
    };
    let rows = tx
        .fetch_all(
            "reading the latest snapshot",
            &format!(
                "SELECT {}, l.currency, s.stage, {}, {}, {}, {}, {}, {} \
                 FROM snapshots s JOIN loans l ON l.loan_id = s.loan_id \
                 WHERE s.loan_id = $1 {on_cond} ORDER BY s.as_of DESC LIMIT 1",
                d.select("s.as_of", Ty::Date),
                d.select("s.dpd", Ty::Int),
                d.select("s.outstanding_principal_minor", Ty::Int),
                d.select("s.overdue_interest_minor", Ty::Int),
                d.select("s.overdue_fee_minor", Ty::Int),
                d.select("s.penalty_accrued_minor", Ty::Int),
                d.select("s.penalty_paid_minor", Ty::Int),
            ),
            &args,
            &[
                Ty::Date,
                Ty::Text,
                Ty::Text,
                Ty::Int,
                Ty::Int,
                Ty::Int,
                Ty::Int,
                Ty::Int,
                Ty::Int,
            ],
        )
        .await?;
    let Some(r) = rows.first() else {
        return Ok(None);
    };
    let i = |k: usize| r[k].int().unwrap_or(0);
    Ok(Some((
        get_date("snapshots", "as_of", &r[0])?,
        get_text(&r[1]),
        get_text(&r[2]),
        i(3),
        Components {
            principal_minor: i(4).max(0),
            interest_minor: i(5).max(0),
            fee_minor: i(6).max(0),
            penalty_minor: (i(7) - i(8)).max(0),
        },
    )))
}

/// Inserts a write-off by component (amount = their sum, > 0).
#[allow(clippy::too_many_arguments)]
async fn insert_component_write_off(
    tx: &mut Tx,
    write_off_id: &str,
    loan_id: &str,
    c: &Components,
    amount: i64,
    reason: &str,
    approved_by: &str,
    snapshot_as_of: Date,
    actor: &str,
    at: Timestamp,
) -> Result<(), StoreError> {
    let d = tx.dialect();
    tx.exec(
        "recording a write-off by component",
        &format!(
            "INSERT INTO write_offs (write_off_id, loan_id, amount_minor, reason, approved_by, \
             snapshot_as_of, outstanding_minor, actor, recorded_at, principal_minor, \
             interest_minor, fee_minor, penalty_minor) \
             VALUES ($1, $2, $3, $4, $5, {}, $7, $8, {}, $10, $11, $12, $13)",
            d.param(6, Ty::Date),
            d.param(9, Ty::Ts)
        ),
        &[
            text(write_off_id),
            text(loan_id),
            int(amount),
            text(reason),
            text(approved_by),
            text(&date_text(snapshot_as_of)),
            int(amount),
            text(actor),
            ts(at),
            int(c.principal_minor),
            int(c.interest_minor),
            int(c.fee_minor),
            int(c.penalty_minor),
        ],
    )
    .await?;
    Ok(())
}

async fn set_loan_status(tx: &mut Tx, loan_id: &str, status: &str) -> Result<(), StoreError> {
    tx.exec(
        "setting a loan's status",
        "UPDATE loans SET status = $2 WHERE loan_id = $1",
        &[text(loan_id), text(status)],
    )
    .await?;
    Ok(())
}

async fn loan_status(tx: &mut Tx, loan_id: &str) -> Result<Option<String>, StoreError> {
    let rows = tx
        .fetch_all(
            "reading a loan's status",
            "SELECT status FROM loans WHERE loan_id = $1",
            &[text(loan_id)],
            &[Ty::Text],
        )
        .await?;
    Ok(rows.first().map(|r| get_text(&r[0])))
}

async fn write_off_count(tx: &mut Tx, loan_id: &str) -> Result<i64, StoreError> {
    let d = tx.dialect();
    Ok(tx
        .fetch_all(
            "counting a loan's write-offs",
            &format!(
                "SELECT {} FROM write_offs WHERE loan_id = $1",
                d.select("COUNT(*)", Ty::Int)
            ),
            &[text(loan_id)],
            &[Ty::Int],
        )
        .await?
        .first()
        .and_then(|r| r[0].int())
        .unwrap_or(0))
}

impl Store {
    /// Keeps the plan's write-off proposals of a business date, in one transaction. A loan
    /// gets no new proposal while one is undecided, once it was approved or written off, or
    /// within [`REJECTION_QUIET_DAYS`] of a rejection; an id stored already is skipped.
    /// Returns how many were kept.
    pub async fn record_write_off_proposals(
        &self,
        proposals: &[NewWriteOffProposal],
        at: Timestamp,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin().await?;
        let d = tx.dialect();
        let mut kept = 0u64;
        for p in proposals {
            let quiet_from = p
                .proposed_on
                .checked_sub(jiff::Span::new().days(REJECTION_QUIET_DAYS))
                .unwrap_or(p.proposed_on);
            let blocking = tx
                .fetch_all(
                    "looking for a loan's proposals",
                    &format!(
                        "SELECT {} FROM (SELECT \
                         (SELECT COUNT(*) FROM write_off_proposals p \
                          LEFT JOIN write_off_decisions w ON w.proposal_id = p.proposal_id \
                          WHERE p.proposal_id = $1 OR (p.loan_id = $2 AND (w.decision IS NULL \
                          OR w.decision = 'approved' OR w.decided_at >= {}))) \
                         + (SELECT COUNT(*) FROM write_offs o WHERE o.loan_id = $2) \
                         + (CASE WHEN EXISTS (SELECT 1 FROM loans l WHERE l.loan_id = $2) \
                            THEN 0 ELSE 1 END) AS n) t",
                        d.select("t.n", Ty::Int),
                        d.param(3, Ty::Ts)
                    ),
                    &[
                        text(&p.proposal_id),
                        text(&p.loan_id),
                        ts(quiet_from
                            .to_zoned(jiff::tz::TimeZone::UTC)
                            .map(|z| z.timestamp())
                            .unwrap_or(at)),
                    ],
                    &[Ty::Int],
                )
                .await?;
            if blocking.first().and_then(|r| r[0].int()).unwrap_or(0) > 0 {
                continue;
            }
            tx.exec(
                "keeping a write-off proposal",
                &format!(
                    "INSERT INTO write_off_proposals (proposal_id, loan_id, proposed_on, rule_id, \
                     pack_rule, stage, recorded_at) VALUES ($1, $2, {}, $4, $5, $6, {})",
                    d.param(3, Ty::Date),
                    d.param(7, Ty::Ts)
                ),
                &[
                    text(&p.proposal_id),
                    text(&p.loan_id),
                    text(&date_text(p.proposed_on)),
                    text(&p.rule_id),
                    opt_text(p.pack_rule.as_deref()),
                    text(&p.stage),
                    ts(at),
                ],
            )
            .await?;
            kept += 1;
        }
        tx.commit().await?;
        Ok(kept)
    }

    /// The write-off proposals (only the undecided ones when `open_only`), oldest first, with
    /// each loan's latest snapshot.
    pub async fn write_off_proposals(
        &self,
        open_only: bool,
    ) -> Result<Vec<WriteOffProposalView>, StoreError> {
        let mut tx = self.begin_read().await?;
        let d = tx.dialect();
        let rows = tx
            .fetch_all(
                "reading write-off proposals",
                &format!(
                    "SELECT p.proposal_id, p.loan_id, l.borrower_id, {}, p.rule_id, p.pack_rule, \
                     p.stage, w.decision, w.reason, w.decided_by, {}, w.write_off_id \
                     FROM write_off_proposals p JOIN loans l ON l.loan_id = p.loan_id \
                     LEFT JOIN write_off_decisions w ON w.proposal_id = p.proposal_id \
                     {} ORDER BY p.proposed_on, p.proposal_id",
                    d.select("p.proposed_on", Ty::Date),
                    d.select("w.decided_at", Ty::Ts),
                    if open_only {
                        "WHERE w.decision IS NULL"
                    } else {
                        ""
                    }
                ),
                &[],
                &[
                    Ty::Text,
                    Ty::Text,
                    Ty::Text,
                    Ty::Date,
                    Ty::Text,
                    Ty::Text,
                    Ty::Text,
                    Ty::Text,
                    Ty::Text,
                    Ty::Text,
                    Ty::Ts,
                    Ty::Text,
                ],
            )
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let loan_id = get_text(&r[1]);
            let snap = latest_components(&mut tx, &loan_id).await?;
            let decision = match r[7].text() {
                None => None,
                Some(dec) => Some(WriteOffDecisionView {
                    decision: dec.to_owned(),
                    reason: get_text(&r[8]),
                    decided_by: get_text(&r[9]),
                    decided_at: get_ts("write_off_decisions", "decided_at", &r[10])?,
                    write_off_id: r[11].text().map(str::to_owned),
                }),
            };
            out.push(WriteOffProposalView {
                proposal_id: get_text(&r[0]),
                borrower_id: get_text(&r[2]),
                currency: snap.as_ref().map(|s| s.1.clone()).unwrap_or_default(),
                proposed_on: get_date("write_off_proposals", "proposed_on", &r[3])?,
                rule_id: get_text(&r[4]),
                pack_rule: r[5].text().map(str::to_owned),
                stage: get_text(&r[6]),
                snapshot: snap.map(|(on, _, _, dpd, c)| (on, dpd, c)),
                decision,
                loan_id,
            });
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Decides a proposal once. An approval writes off the loan's latest snapshot balances
    /// by component (write-off id `wo-<proposal id>`) and sets its status to `written_off`.
    pub async fn decide_write_off(
        &self,
        dec: &WriteOffDecision,
    ) -> Result<Option<WrittenOff>, WorkError> {
        let mut tx = self.begin().await?;
        let d = tx.dialect();
        let found = tx
            .fetch_all(
                "reading a write-off proposal",
                "SELECT loan_id FROM write_off_proposals WHERE proposal_id = $1",
                &[text(&dec.proposal_id)],
                &[Ty::Text],
            )
            .await?;
        let Some(loan_id) = found.first().map(|r| get_text(&r[0])) else {
            return Err(not_found("write-off proposal", &dec.proposal_id));
        };
        lock(&mut tx, &loan_id).await?;
        let decided = tx
            .fetch_all(
                "reading a proposal's decision",
                "SELECT decision, decided_by FROM write_off_decisions WHERE proposal_id = $1",
                &[text(&dec.proposal_id)],
                &[Ty::Text, Ty::Text],
            )
            .await?;
        if let Some(r) = decided.first() {
            return Err(WorkError::State {
                code: "already_decided",
                message: format!(
                    "Proposal {:?} was {} by {} already.",
                    dec.proposal_id,
                    get_text(&r[0]),
                    get_text(&r[1])
                ),
            });
        }
        let mut written = None;
        if dec.approve {
            match loan_status(&mut tx, &loan_id).await?.as_deref() {
                Some("sold") | Some("closed") | Some("written_off") => {
                    return Err(WorkError::State {
                        code: "loan_not_open",
                        message: format!(
                            "Loan {loan_id:?} is sold, closed or written off already; there is nothing to write off."
                        ),
                    });
                }
                _ => {}
            }
            if write_off_count(&mut tx, &loan_id).await? > 0 {
                return Err(WorkError::State {
                    code: "already_written_off",
                    message: format!("Loan {loan_id:?} has a write-off on record already."),
                });
            }
            let Some((as_of, _, _, _, c)) = latest_components(&mut tx, &loan_id).await? else {
                return Err(WorkError::State {
                    code: "no_snapshot",
                    message: format!(
                        "Loan {loan_id:?} has no daily-run snapshot yet; run `arrears run --db` first."
                    ),
                });
            };
            let amount = c.total().ok_or_else(|| {
                WorkError::Invalid(format!("loan {loan_id:?}: balances overflow"))
            })?;
            if amount <= 0 {
                return Err(WorkError::State {
                    code: "nothing_to_write_off",
                    message: format!("Loan {loan_id:?} owes nothing on {as_of}."),
                });
            }
            let write_off_id = format!("wo-{}", dec.proposal_id);
            insert_component_write_off(
                &mut tx,
                &write_off_id,
                &loan_id,
                &c,
                amount,
                &dec.reason,
                &dec.decided_by,
                as_of,
                &dec.decided_by,
                dec.at,
            )
            .await?;
            set_loan_status(&mut tx, &loan_id, "written_off").await?;
            written = Some(WrittenOff {
                write_off_id,
                loan_id: loan_id.clone(),
                snapshot_as_of: as_of,
                components: c,
                amount_minor: amount,
            });
        }
        tx.exec(
            "recording a write-off decision",
            &format!(
                "INSERT INTO write_off_decisions (proposal_id, decision, reason, decided_by, role, \
                 decided_at, write_off_id) VALUES ($1, $2, $3, $4, $5, {}, $7)",
                d.param(6, Ty::Ts)
            ),
            &[
                text(&dec.proposal_id),
                text(if dec.approve { "approved" } else { "rejected" }),
                text(&dec.reason),
                text(&dec.decided_by),
                text(&dec.role),
                ts(dec.at),
                opt_text(written.as_ref().map(|w| w.write_off_id.as_str())),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(written)
    }

    /// The latest snapshot of a loan: (date, currency, stage, dpd, balances), if any.
    pub async fn latest_balances(
        &self,
        loan_id: &str,
    ) -> Result<Option<(Date, String, String, i64, Components)>, StoreError> {
        let mut tx = self.begin_read().await?;
        let r = latest_components(&mut tx, loan_id).await?;
        tx.commit().await?;
        Ok(r)
    }

    /// Records an offered settlement. Refused when the loan has another settlement offered or
    /// accepted, or is sold, closed or written off.
    pub async fn offer_settlement(&self, s: &NewSettlement) -> Result<(), WorkError> {
        let mut tx = self.begin().await?;
        let d = tx.dialect();
        lock(&mut tx, &s.loan_id).await?;
        if let Some(st) = loan_status(&mut tx, &s.loan_id).await?
            && matches!(st.as_str(), "sold" | "closed" | "written_off")
        {
            return Err(WorkError::State {
                code: "loan_not_open",
                message: format!("Loan {:?} is {st}; it cannot be settled.", s.loan_id),
            });
        }
        let ids = tx
            .fetch_all(
                "reading a loan's settlements",
                "SELECT settlement_id FROM settlements WHERE loan_id = $1 OR settlement_id = $2",
                &[text(&s.loan_id), text(&s.settlement_id)],
                &[Ty::Text],
            )
            .await?;
        for r in &ids {
            let id = get_text(&r[0]);
            if id == s.settlement_id {
                return Err(WorkError::State {
                    code: "duplicate_id",
                    message: format!("A settlement {id:?} is stored already."),
                });
            }
            let st = events_of(&mut tx, &id).await?;
            let status = settlement_status(st.iter().map(|e| e.event.as_str()));
            if matches!(status, "offered" | "accepted") {
                return Err(WorkError::State {
                    code: "settlement_open",
                    message: format!(
                        "Loan {:?} has settlement {id:?} {status} already; withdraw it or let it end first.",
                        s.loan_id
                    ),
                });
            }
        }
        let c = &s.components;
        tx.exec(
            "recording a settlement",
            &format!(
                "INSERT INTO settlements (settlement_id, loan_id, borrower_id, currency, offered_at, \
                 offered_by, snapshot_as_of, stage, dpd, principal_minor, interest_minor, fee_minor, \
                 penalty_minor, outstanding_minor, limit_bps, discount_bps, discount_minor, \
                 amount_minor, accept_by) \
                 SELECT $1, l.loan_id, l.borrower_id, l.currency, {}, $3, {}, $5, $6, $7, $8, $9, \
                 $10, $11, $12, $13, $14, $15, {} FROM loans l WHERE l.loan_id = $2",
                d.param(16, Ty::Ts),
                d.param(4, Ty::Date),
                d.param(17, Ty::Date)
            ),
            &[
                text(&s.settlement_id),
                text(&s.loan_id),
                text(&s.offered_by),
                text(&date_text(s.snapshot_as_of)),
                text(&s.stage),
                int(s.dpd),
                int(c.principal_minor),
                int(c.interest_minor),
                int(c.fee_minor),
                int(c.penalty_minor),
                int(s.outstanding_minor),
                int(i64::from(s.limit_bps)),
                int(i64::from(s.discount_bps)),
                int(s.discount_minor),
                int(s.amount_minor),
                ts(s.offered_at),
                text(&date_text(s.accept_by)),
            ],
        )
        .await?;
        for (k, (due, amount)) in s.instalments.iter().enumerate() {
            tx.exec(
                "recording a settlement instalment",
                &format!(
                    "INSERT INTO settlement_instalments (settlement_id, seq, due_date, amount_minor) \
                     VALUES ($1, $2, {}, $4)",
                    d.param(3, Ty::Date)
                ),
                &[
                    text(&s.settlement_id),
                    int(i64::try_from(k + 1).unwrap_or(i64::MAX)),
                    text(&date_text(*due)),
                    int(*amount),
                ],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records an event of a settlement (`accepted`, `lapsed`, `withdrawn`) when its state
    /// allows it; `paid` goes through [`Store::settlement_paid`].
    pub async fn settlement_event(
        &self,
        settlement_id: &str,
        event: &str,
        on_date: Date,
        at: Timestamp,
        actor: &str,
    ) -> Result<StoredSettlement, WorkError> {
        let mut tx = self.begin().await?;
        let s = locked_settlement(&mut tx, settlement_id).await?;
        check_transition(&s, event)?;
        if event == "accepted" && on_date > s.accept_by {
            return Err(WorkError::State {
                code: "offer_expired",
                message: format!(
                    "Settlement {settlement_id:?} could be accepted until {}; it is {on_date}.",
                    s.accept_by
                ),
            });
        }
        insert_event(&mut tx, settlement_id, event, on_date, at, actor, None).await?;
        let out = read_settlement(&mut tx, settlement_id)
            .await?
            .ok_or_else(|| not_found("settlement", settlement_id))?;
        tx.commit().await?;
        Ok(out)
    }

    /// Records that an accepted settlement was paid on `on_date`: the loan's balances left in
    /// its snapshot of `snapshot_on` (the run of the review's date) are written off by
    /// component (id `wo-settlement-<id>`, none when nothing is left) and the loan is closed,
    /// in one transaction.
    pub async fn settlement_paid(
        &self,
        settlement_id: &str,
        on_date: Date,
        snapshot_on: Date,
        at: Timestamp,
        actor: &str,
    ) -> Result<Option<WrittenOff>, WorkError> {
        let mut tx = self.begin().await?;
        let s = locked_settlement(&mut tx, settlement_id).await?;
        check_transition(&s, "paid")?;
        let Some((as_of, _, _, _, left)) =
            components_of(&mut tx, &s.loan_id, Some(snapshot_on)).await?
        else {
            return Err(WorkError::State {
                code: "no_snapshot",
                message: format!(
                    "Loan {:?} has no snapshot of {snapshot_on}; run that date first.",
                    s.loan_id
                ),
            });
        };
        let amount = left.total().ok_or_else(|| {
            WorkError::Invalid(format!("loan {:?}: balances overflow", s.loan_id))
        })?;
        let mut written = None;
        if amount > 0 {
            let id = format!("wo-settlement-{settlement_id}");
            insert_component_write_off(
                &mut tx,
                &id,
                &s.loan_id,
                &left,
                amount,
                &format!("settlement {settlement_id} paid on {on_date}"),
                &s.offered_by,
                as_of,
                actor,
                at,
            )
            .await?;
            written = Some(WrittenOff {
                write_off_id: id,
                loan_id: s.loan_id.clone(),
                snapshot_as_of: as_of,
                components: left,
                amount_minor: amount,
            });
        }
        insert_event(
            &mut tx,
            settlement_id,
            "paid",
            on_date,
            at,
            actor,
            written.as_ref().map(|w| w.write_off_id.as_str()),
        )
        .await?;
        set_loan_status(&mut tx, &s.loan_id, "closed").await?;
        tx.commit().await?;
        Ok(written)
    }

    /// One settlement, if stored.
    pub async fn settlement(&self, id: &str) -> Result<Option<StoredSettlement>, StoreError> {
        let mut tx = self.begin_read().await?;
        let s = read_settlement(&mut tx, id).await?;
        tx.commit().await?;
        Ok(s)
    }

    /// The settlements of a loan (`by = "loan"`), of a borrower (`"borrower"`), or all
    /// (`"all"`), oldest first.
    pub async fn settlements(
        &self,
        by: SettlementsOf<'_>,
    ) -> Result<Vec<StoredSettlement>, StoreError> {
        let mut tx = self.begin_read().await?;
        let (cond, args) = match by {
            SettlementsOf::Loan(l) => ("WHERE loan_id = $1", vec![text(l)]),
            SettlementsOf::Borrower(b) => ("WHERE borrower_id = $1", vec![text(b)]),
            SettlementsOf::All => ("", Vec::new()),
        };
        let ids = tx
            .fetch_all(
                "listing settlements",
                &format!(
                    "SELECT settlement_id FROM settlements {cond} ORDER BY offered_at, settlement_id"
                ),
                &args,
                &[Ty::Text],
            )
            .await?;
        let mut out = Vec::with_capacity(ids.len());
        for r in ids {
            if let Some(s) = read_settlement(&mut tx, &get_text(&r[0])).await? {
                out.push(s);
            }
        }
        tx.commit().await?;
        Ok(out)
    }

    /// A loan's payments with their reversal instants (what a settlement's progress counts).
    pub async fn loan_payment_moves(&self, loan_id: &str) -> Result<Vec<PaymentMove>, StoreError> {
        let mut tx = self.begin_read().await?;
        let m = payment_moves(&mut tx, loan_id).await?;
        tx.commit().await?;
        Ok(m)
    }
}

/// Which settlements [`Store::settlements`] lists.
#[derive(Debug, Clone, Copy)]
pub enum SettlementsOf<'a> {
    Loan(&'a str),
    Borrower(&'a str),
    All,
}

fn check_transition(s: &StoredSettlement, event: &str) -> Result<(), WorkError> {
    let from = s.status();
    if settlement_transition_allowed(from, event) {
        Ok(())
    } else {
        Err(WorkError::State {
            code: "illegal_transition",
            message: format!(
                "Settlement {:?} is {from}; it cannot become {event}.",
                s.settlement_id
            ),
        })
    }
}

async fn locked_settlement(tx: &mut Tx, id: &str) -> Result<StoredSettlement, WorkError> {
    let loan = tx
        .fetch_all(
            "reading a settlement's loan",
            "SELECT loan_id FROM settlements WHERE settlement_id = $1",
            &[text(id)],
            &[Ty::Text],
        )
        .await?;
    let Some(loan_id) = loan.first().map(|r| get_text(&r[0])) else {
        return Err(not_found("settlement", id));
    };
    lock(tx, &loan_id).await?;
    read_settlement(tx, id)
        .await?
        .ok_or_else(|| not_found("settlement", id))
}

async fn insert_event(
    tx: &mut Tx,
    id: &str,
    event: &str,
    on_date: Date,
    at: Timestamp,
    actor: &str,
    write_off_id: Option<&str>,
) -> Result<(), StoreError> {
    let d = tx.dialect();
    tx.exec(
        "recording a settlement event",
        &format!(
            "INSERT INTO settlement_events (settlement_id, event, on_date, at, actor, write_off_id) \
             VALUES ($1, $2, {}, {}, $5, $6)",
            d.param(3, Ty::Date),
            d.param(4, Ty::Ts)
        ),
        &[
            text(id),
            text(event),
            text(&date_text(on_date)),
            ts(at),
            text(actor),
            opt_text(write_off_id),
        ],
    )
    .await?;
    Ok(())
}

async fn events_of(tx: &mut Tx, id: &str) -> Result<Vec<SettlementEvent>, StoreError> {
    let d = tx.dialect();
    let rows = tx
        .fetch_all(
            "reading a settlement's events",
            &format!(
                "SELECT event, {}, {}, actor, write_off_id FROM settlement_events \
                 WHERE settlement_id = $1 ORDER BY at, event",
                d.select("on_date", Ty::Date),
                d.select("at", Ty::Ts)
            ),
            &[text(id)],
            &[Ty::Text, Ty::Date, Ty::Ts, Ty::Text, Ty::Text],
        )
        .await?;
    let mut out: Vec<SettlementEvent> = rows
        .iter()
        .map(|r| {
            Ok(SettlementEvent {
                event: get_text(&r[0]),
                on_date: get_date("settlement_events", "on_date", &r[1])?,
                at: get_ts("settlement_events", "at", &r[2])?,
                actor: get_text(&r[3]),
                write_off_id: r[4].text().map(str::to_owned),
            })
        })
        .collect::<Result<_, StoreError>>()?;
    // Events of one instant in the order they can happen.
    let rank = |e: &str| match e {
        "accepted" => 0,
        _ => 1,
    };
    out.sort_by_key(|e| (e.at, rank(&e.event)));
    Ok(out)
}

async fn read_settlement(tx: &mut Tx, id: &str) -> Result<Option<StoredSettlement>, StoreError> {
    let d = tx.dialect();
    let rows = tx
        .fetch_all(
            "reading a settlement",
            &format!(
                "SELECT loan_id, borrower_id, currency, {}, offered_by, {}, stage, {}, {}, {}, {}, \
                 {}, {}, {}, {}, {}, {}, {} FROM settlements WHERE settlement_id = $1",
                d.select("offered_at", Ty::Ts),
                d.select("snapshot_as_of", Ty::Date),
                d.select("dpd", Ty::Int),
                d.select("principal_minor", Ty::Int),
                d.select("interest_minor", Ty::Int),
                d.select("fee_minor", Ty::Int),
                d.select("penalty_minor", Ty::Int),
                d.select("outstanding_minor", Ty::Int),
                d.select("limit_bps", Ty::Int),
                d.select("discount_bps", Ty::Int),
                d.select("discount_minor", Ty::Int),
                d.select("amount_minor", Ty::Int),
                d.select("accept_by", Ty::Date),
            ),
            &[text(id)],
            &[
                Ty::Text,
                Ty::Text,
                Ty::Text,
                Ty::Ts,
                Ty::Text,
                Ty::Date,
                Ty::Text,
                Ty::Int,
                Ty::Int,
                Ty::Int,
                Ty::Int,
                Ty::Int,
                Ty::Int,
                Ty::Int,
                Ty::Int,
                Ty::Int,
                Ty::Int,
                Ty::Date,
            ],
        )
        .await?;
    let Some(r) = rows.first() else {
        return Ok(None);
    };
    let i = |k: usize| r[k].int().unwrap_or(0);
    let inst = tx
        .fetch_all(
            "reading a settlement's instalments",
            &format!(
                "SELECT {}, {} FROM settlement_instalments WHERE settlement_id = $1 ORDER BY seq",
                d.select("due_date", Ty::Date),
                d.select("amount_minor", Ty::Int)
            ),
            &[text(id)],
            &[Ty::Date, Ty::Int],
        )
        .await?;
    let instalments = inst
        .iter()
        .map(|x| {
            Ok((
                get_date("settlement_instalments", "due_date", &x[0])?,
                x[1].int().unwrap_or(0),
            ))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let events = events_of(tx, id).await?;
    Ok(Some(StoredSettlement {
        settlement_id: id.to_owned(),
        loan_id: get_text(&r[0]),
        borrower_id: get_text(&r[1]),
        currency: get_text(&r[2]),
        offered_at: get_ts("settlements", "offered_at", &r[3])?,
        offered_by: get_text(&r[4]),
        snapshot_as_of: get_date("settlements", "snapshot_as_of", &r[5])?,
        stage: get_text(&r[6]),
        dpd: i(7),
        components: Components {
            principal_minor: i(8),
            interest_minor: i(9),
            fee_minor: i(10),
            penalty_minor: i(11),
        },
        outstanding_minor: i(12),
        limit_bps: i(13),
        discount_bps: i(14),
        discount_minor: i(15),
        amount_minor: i(16),
        accept_by: get_date("settlements", "accept_by", &r[17])?,
        instalments,
        events,
    }))
}
