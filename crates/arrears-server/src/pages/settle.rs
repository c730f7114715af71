//! Write-off approvals and settlements on the staff pages, and a settlement on the portal
//! (`docs/settlement.md`). Every answer goes through `arrears_app::settle`:
//!
//! - `GET /write-offs`: the plan's write-off proposals waiting for a decision, and the decided
//!   ones; `POST /write-offs/{proposal_id}` approves or rejects one with a reason, as the
//!   signed-in supervisor or admin (their session's username, never a typed name).
//! - `GET /accounts/{loan_id}/settlement`: the loan's settlements, the lender's limit for its
//!   stage and dpd, and the offer form; `POST /accounts/{loan_id}/settlements` offers one;
//!   `POST /settlements/{id}/accept` records the borrower's acceptance (said on a call),
//!   `POST /settlements/{id}/withdraw` withdraws an offer. Agents only for their own loans.
//! - `POST /portal/b/{borrower_id}/settlements/{id}/accept`: the borrower accepts an offer on
//!   their own loan (the portal lists it, `view_for_borrower`).
//!
//! Every state-changing form carries the session's CSRF token; every view and answer is
//! written to the access log.

use super::agent::{staff_form, staff_loan};
use super::portal::portal_form;
use super::shared::{
    Chrome, CsrfOnly, Ctx, forbidden, form, format_minor, internal, is_manager, log_access,
    message, not_found, redirect, render,
};
use super::texts::Lang;
use crate::{AppState, now};
use arrears_app::settle::{self, Acceptor, OfferTerms, SettleError, Staff};
use arrears_store::{SettlementsOf, StoredSettlement};
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

/// The words of these pages (English and Chinese).
pub(super) struct Words {
    title: &'static str,
    help: &'static str,
    open: &'static str,
    none_open: &'static str,
    proposal: &'static str,
    loan: &'static str,
    proposed_on: &'static str,
    balances: &'static str,
    decide: &'static str,
    reason: &'static str,
    approve: &'static str,
    reject: &'static str,
    only_supervisors: &'static str,
    decided: &'static str,
    none_decided: &'static str,
    decision: &'static str,
    approved: &'static str,
    rejected: &'static str,
    no_snapshot: &'static str,
    s_title: &'static str,
    on_record: &'static str,
    none: &'static str,
    id: &'static str,
    status: &'static str,
    amount: &'static str,
    schedule: &'static str,
    accept_by: &'static str,
    record_acceptance: &'static str,
    withdraw: &'static str,
    offer: &'static str,
    discount_bps: &'static str,
    instalments: &'static str,
    first_due: &'static str,
    no_limit: &'static str,
    limit: &'static str,
    refused: &'static str,
    done: &'static str,
    offered: &'static str,
    accepted: &'static str,
    paid: &'static str,
    lapsed: &'static str,
    withdrawn: &'static str,
    portal_title: &'static str,
    portal_help: &'static str,
    portal_accept: &'static str,
    portal_accepted: &'static str,
}

const EN: Words = Words {
    title: "Write-off proposals",
    help: "The daily plan proposes loans for write-off. Approve or reject each with a reason: an approval writes off the balances of the loan's latest daily run by component (principal, interest, fees, penalty) and the loan becomes written off.",
    open: "Waiting for a decision",
    none_open: "No proposal waits for a decision.",
    proposal: "Proposal",
    loan: "Loan",
    proposed_on: "Proposed on",
    balances: "Balances to write off",
    decide: "Decision",
    reason: "Reason",
    approve: "Approve",
    reject: "Reject",
    only_supervisors: "Only a supervisor or an admin decides.",
    decided: "Decided",
    none_decided: "Nothing decided yet.",
    decision: "Decision",
    approved: "Approved",
    rejected: "Rejected",
    no_snapshot: "No daily run yet",
    s_title: "Settlement",
    on_record: "Settlements on record",
    none: "No settlement on record.",
    id: "Settlement",
    status: "Status",
    amount: "Pay instead of the balance",
    schedule: "Payments",
    accept_by: "Accept by",
    record_acceptance: "Record the borrower's acceptance",
    withdraw: "Withdraw",
    offer: "Offer a settlement",
    discount_bps: "Discount (basis points)",
    instalments: "Payments (1 = lump sum)",
    first_due: "First payment due",
    no_limit: "The lender's policy allows no settlement of this loan at its stage and days past due.",
    limit: "The lender's policy allows at most",
    refused: "Not done",
    done: "Done",
    offered: "Offered",
    accepted: "Accepted",
    paid: "Paid: the rest was forgiven",
    lapsed: "Lapsed: nothing forgiven",
    withdrawn: "Withdrawn",
    portal_title: "Settlement offers",
    portal_help: "If you accept an offer and pay it in full by the dates shown, we forgive the rest of the loan. If a payment is missed, the offer lapses and the full balance stays owed.",
    portal_accept: "Accept this offer",
    portal_accepted: "You accepted the settlement offer. Pay it by the dates shown.",
};

const ZH: Words = Words {
    title: "核销提议",
    help: "每日计划会提议核销贷款。请逐条批准或驳回并填写理由：批准后按最近一次日终结果分项（本金、利息、费用、罚息）核销余额，贷款状态变为已核销。",
    open: "待决定",
    none_open: "没有待决定的提议。",
    proposal: "提议",
    loan: "贷款",
    proposed_on: "提议日期",
    balances: "拟核销余额",
    decide: "决定",
    reason: "理由",
    approve: "批准",
    reject: "驳回",
    only_supervisors: "仅主管或管理员可以决定。",
    decided: "已决定",
    none_decided: "尚无决定。",
    decision: "决定",
    approved: "已批准",
    rejected: "已驳回",
    no_snapshot: "尚无日终结果",
    s_title: "和解",
    on_record: "和解记录",
    none: "没有和解记录。",
    id: "和解",
    status: "状态",
    amount: "以此金额结清",
    schedule: "还款安排",
    accept_by: "接受截止",
    record_acceptance: "记录借款人已接受",
    withdraw: "撤回",
    offer: "提出和解",
    discount_bps: "减免（基点）",
    instalments: "期数（1 = 一次付清）",
    first_due: "首期到期日",
    no_limit: "出借人政策不允许在该阶段和逾期天数下和解此贷款。",
    limit: "出借人政策允许的上限",
    refused: "未完成",
    done: "已完成",
    offered: "已提出",
    accepted: "已接受",
    paid: "已付清：其余部分已减免",
    lapsed: "已失效：未减免任何金额",
    withdrawn: "已撤回",
    portal_title: "和解方案",
    portal_help: "如您接受方案并按所示日期全额付款，我们将减免贷款的其余部分。如有一期未付，方案失效，全部余额仍需偿还。",
    portal_accept: "接受此方案",
    portal_accepted: "您已接受和解方案，请按所示日期付款。",
};

fn words(lang: Lang) -> &'static Words {
    match lang {
        Lang::En => &EN,
        Lang::Zh => &ZH,
    }
}

fn status_words(w: &Words, code: &str) -> &'static str {
    match code {
        "accepted" => w.accepted,
        "paid" => w.paid,
        "lapsed" => w.lapsed,
        "withdrawn" => w.withdrawn,
        _ => w.offered,
    }
}

/// The answer to a refused request: 403, 404, 409 or 422 with the reason in words.
fn refused(ctx: &Ctx, e: SettleError, back: String) -> Response {
    use arrears_store::WorkError;
    let w = words(ctx.lang);
    let status = match &e {
        SettleError::NotAllowed(_) => StatusCode::FORBIDDEN,
        SettleError::Invalid(_) | SettleError::Work(WorkError::Invalid(_)) => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        SettleError::Work(WorkError::NotFound { .. }) => StatusCode::NOT_FOUND,
        SettleError::Work(WorkError::State { .. }) => StatusCode::CONFLICT,
        _ => return internal(ctx, e),
    };
    message(ctx, status, w.refused, e.to_string(), Some(back))
}

struct ProposalRow {
    id: String,
    loan: String,
    rule: String,
    stage: String,
    dpd: String,
    proposed_on: String,
    balances: String,
    decision: String,
    decision_code: String,
    reason: String,
}

#[derive(Template)]
#[template(path = "write_offs.html")]
struct WriteOffsPage {
    chrome: Chrome,
    w: &'static Words,
    notice: Option<String>,
    open: Vec<ProposalRow>,
    decided: Vec<ProposalRow>,
    can_decide: bool,
    csrf: String,
}

#[derive(Deserialize, Default)]
pub(super) struct DoneQuery {
    done: Option<String>,
}

/// `GET /write-offs`: managers only.
pub(super) async fn write_offs_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<DoneQuery>,
) -> Response {
    let Some((username, role)) = ctx.staff() else {
        return if ctx.borrower().is_some() {
            forbidden(&ctx)
        } else {
            redirect("/login")
        };
    };
    if !is_manager(role) {
        return forbidden(&ctx);
    }
    let w = words(ctx.lang);
    let list = match settle::write_off_proposals(state.store(), false).await {
        Ok(l) => l,
        Err(e) => return internal(&ctx, e),
    };
    if let Err(e) = log_access(
        &state,
        format!("user:{username}"),
        "pages.write_offs",
        "*",
        None,
    )
    .await
    {
        return internal(&ctx, e);
    }
    let (mut open, mut decided) = (Vec::new(), Vec::new());
    for p in list {
        let (dpd, balances) = match &p.snapshot {
            Some((on, dpd, c)) => (
                dpd.to_string(),
                format!(
                    "{} ({on}): {} + {} + {} + {}",
                    format_minor(c.total().unwrap_or(0), &p.currency),
                    format_minor(c.principal_minor, &p.currency),
                    format_minor(c.interest_minor, &p.currency),
                    format_minor(c.fee_minor, &p.currency),
                    format_minor(c.penalty_minor, &p.currency)
                ),
            ),
            None => (String::new(), w.no_snapshot.to_owned()),
        };
        let row = ProposalRow {
            id: p.proposal_id.clone(),
            loan: p.loan_id.clone(),
            rule: match &p.pack_rule {
                Some(r) => format!("{} ({r})", p.rule_id),
                None => p.rule_id.clone(),
            },
            stage: p.stage.clone(),
            dpd,
            proposed_on: p.proposed_on.to_string(),
            balances,
            decision: match p.decision.as_ref().map(|d| d.decision.as_str()) {
                Some("approved") => format!(
                    "{} · {}",
                    w.approved,
                    p.decision
                        .as_ref()
                        .map(|d| d.decided_by.as_str())
                        .unwrap_or("")
                ),
                Some(_) => format!(
                    "{} · {}",
                    w.rejected,
                    p.decision
                        .as_ref()
                        .map(|d| d.decided_by.as_str())
                        .unwrap_or("")
                ),
                None => String::new(),
            },
            decision_code: p
                .decision
                .as_ref()
                .map(|d| d.decision.clone())
                .unwrap_or_default(),
            reason: p
                .decision
                .as_ref()
                .map(|d| d.reason.clone())
                .unwrap_or_default(),
        };
        if p.decision.is_some() {
            decided.push(row);
        } else {
            open.push(row);
        }
    }
    decided.reverse();
    let page = WriteOffsPage {
        chrome: ctx.chrome(),
        w,
        notice: q.done.map(|d| format!("{}: {d}", w.done)),
        open,
        decided,
        can_decide: settle::may_decide_write_offs(role),
        csrf: ctx.chrome().csrf.unwrap_or_default(),
    };
    render(&ctx, StatusCode::OK, &page)
}

#[derive(Deserialize)]
pub(super) struct DecideForm {
    decision: Option<String>,
    reason: Option<String>,
}

/// `POST /write-offs/{proposal_id}`: approve or reject, as the signed-in user.
pub(super) async fn decide_write_off(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(proposal_id): Path<String>,
    body: Bytes,
) -> Response {
    let csrf = form::<CsrfOnly>(&body).and_then(|f| f.csrf);
    if !ctx.csrf_ok(csrf.as_deref()) {
        return super::shared::csrf_refused(&ctx);
    }
    let Some((username, role)) = ctx.staff() else {
        return forbidden(&ctx);
    };
    let Some(f) = form::<DecideForm>(&body) else {
        return super::shared::csrf_refused(&ctx);
    };
    let approve = match f.decision.as_deref() {
        Some("approve") => true,
        Some("reject") => false,
        _ => {
            return message(
                &ctx,
                StatusCode::UNPROCESSABLE_ENTITY,
                words(ctx.lang).refused,
                "decision must be approve or reject",
                Some("/write-offs".into()),
            );
        }
    };
    let r = settle::decide_write_off(
        state.store(),
        Staff { username, role },
        &proposal_id,
        approve,
        f.reason.as_deref().unwrap_or(""),
        now(),
    )
    .await;
    match r {
        Ok(written) => {
            let (kind, borrower_loan) = match &written {
                Some(w) => ("pages.write_off_approved", Some(w.loan_id.clone())),
                None => ("pages.write_off_rejected", None),
            };
            let borrower = match &borrower_loan {
                Some(l) => state
                    .store()
                    .loan_borrower(l)
                    .await
                    .ok()
                    .flatten()
                    .unwrap_or_else(|| "*".into()),
                None => "*".into(),
            };
            if let Err(e) = log_access(
                &state,
                format!("user:{username}"),
                kind,
                &borrower,
                borrower_loan.as_deref(),
            )
            .await
            {
                return internal(&ctx, e);
            }
            redirect(&format!("/write-offs?done={proposal_id}"))
        }
        Err(e) => refused(&ctx, e, "/write-offs".into()),
    }
}

/// What a settlement asks instead of what is owed: `750.00 USD / 1,000.00 USD`.
fn amount_words(s: &StoredSettlement) -> String {
    format!(
        "{} / {}",
        format_minor(s.amount_minor, &s.currency),
        format_minor(s.outstanding_minor, &s.currency)
    )
}

/// Its payments: `750.00 USD · 2099-06-15; …`.
fn schedule_words(s: &StoredSettlement) -> String {
    s.instalments
        .iter()
        .map(|(d, a)| format!("{} · {d}", format_minor(*a, &s.currency)))
        .collect::<Vec<_>>()
        .join("; ")
}

struct SettlementRow {
    id: String,
    status_code: String,
    status: &'static str,
    amount: String,
    schedule: String,
    accept_by: String,
    open: bool,
}

fn rows(w: &'static Words, list: &[StoredSettlement]) -> Vec<SettlementRow> {
    list.iter()
        .map(|s| SettlementRow {
            id: s.settlement_id.clone(),
            status_code: s.status().to_owned(),
            status: status_words(w, s.status()),
            amount: amount_words(s),
            schedule: schedule_words(s),
            accept_by: s.accept_by.to_string(),
            open: s.status() == "offered",
        })
        .collect()
}

#[derive(Template)]
#[template(path = "settlement.html")]
struct SettlementPage {
    chrome: Chrome,
    w: &'static Words,
    loan_id: String,
    notice: Option<String>,
    limit: String,
    settlements: Vec<SettlementRow>,
    can_offer: bool,
    csrf: String,
}

/// `GET /accounts/{loan_id}/settlement`.
pub(super) async fn settlement_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(loan_id): Path<String>,
    Query(q): Query<DoneQuery>,
) -> Response {
    let (username, loan, borrower_id) = match staff_loan(&state, &ctx, &loan_id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let role = ctx.staff().map(|s| s.1).unwrap_or("");
    let w = words(ctx.lang);
    let store = state.store();
    let (list, bal) = match (
        settle::settlements_of(store, SettlementsOf::Loan(loan.as_str())).await,
        store.latest_balances(loan.as_str()).await,
    ) {
        (Ok(l), Ok(b)) => (l, b),
        (Err(e), _) => return internal(&ctx, e),
        (_, Err(e)) => return internal(&ctx, e),
    };
    if let Err(e) = log_access(
        &state,
        format!("user:{username}"),
        "pages.settlement",
        &borrower_id,
        Some(loan.as_str()),
    )
    .await
    {
        return internal(&ctx, e);
    }
    let policy = state.policy_at(now());
    let limit = match &bal {
        Some((on, currency, stage, dpd, c)) => {
            match arrears_policy::settlement_limit_for(
                &policy.settlement,
                stage,
                u32::try_from((*dpd).max(0)).unwrap_or(u32::MAX),
            ) {
                Some(l) => format!(
                    "{} {} bps, {} × — {} {} ({on}, {stage}, {dpd})",
                    w.limit,
                    l.max_discount_bps,
                    l.max_instalments,
                    w.balances,
                    format_minor(c.total().unwrap_or(0), currency)
                ),
                None => w.no_limit.to_owned(),
            }
        }
        None => w.no_snapshot.to_owned(),
    };
    let page = SettlementPage {
        chrome: ctx.chrome(),
        w,
        loan_id: loan.as_str().to_owned(),
        notice: q.done.map(|d| format!("{}: {d}", w.done)),
        limit,
        settlements: rows(w, &list),
        can_offer: settle::may_offer(role),
        csrf: ctx.chrome().csrf.unwrap_or_default(),
    };
    render(&ctx, StatusCode::OK, &page)
}

#[derive(Deserialize)]
pub(super) struct OfferForm {
    discount_bps: Option<String>,
    instalments: Option<String>,
    first_due: Option<String>,
    accept_by: Option<String>,
}

/// `POST /accounts/{loan_id}/settlements`: an offer within the lender's limit.
pub(super) async fn offer(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(loan_id): Path<String>,
    body: Bytes,
) -> Response {
    let (username, loan, borrower_id, f) =
        match staff_form::<OfferForm>(&state, &ctx, &loan_id, &body).await {
            Ok(x) => x,
            Err(r) => return r,
        };
    let role = ctx.staff().map(|s| s.1).unwrap_or("");
    let back = format!("/accounts/{}/settlement", loan.as_str());
    let w = words(ctx.lang);
    let bad = |what: &str| {
        message(
            &ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            w.refused,
            format!("{what}: not a valid value"),
            Some(back.clone()),
        )
    };
    let num = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .and_then(|s| s.parse::<u32>().ok())
    };
    let day = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .and_then(|s| s.parse::<jiff::civil::Date>().ok())
    };
    let Some(discount_bps) = num(&f.discount_bps) else {
        return bad(w.discount_bps);
    };
    let Some(instalments) = num(&f.instalments) else {
        return bad(w.instalments);
    };
    let Some(first_due) = day(&f.first_due) else {
        return bad(w.first_due);
    };
    let Some(accept_by) = day(&f.accept_by) else {
        return bad(w.accept_by);
    };
    let at = now();
    let today = state.config().business_tz.date_of(at);
    let Ok(rand) = super::shared::random_hex() else {
        return internal(&ctx, "no randomness");
    };
    let terms = OfferTerms {
        settlement_id: format!("stl-{}", &rand[..20]),
        loan_id: loan.as_str().to_owned(),
        discount_bps,
        instalments,
        first_due,
        accept_by,
    };
    let policy = state.policy_at(at);
    match settle::offer_settlement(
        state.store(),
        &policy,
        Staff {
            username: &username,
            role,
        },
        &terms,
        today,
        at,
    )
    .await
    {
        Ok(s) => {
            if let Err(e) = log_access(
                &state,
                format!("user:{username}"),
                "pages.settlement_offered",
                &borrower_id,
                Some(loan.as_str()),
            )
            .await
            {
                return internal(&ctx, e);
            }
            redirect(&format!("{back}?done={}", s.settlement_id))
        }
        Err(e) => refused(&ctx, e, back),
    }
}

/// The settlement's loan, when the staff user may work it.
async fn staff_settlement(
    state: &AppState,
    ctx: &Ctx,
    id: &str,
    body: &Bytes,
) -> Result<(String, String, StoredSettlement), Response> {
    let s = match state.store().settlement(id).await {
        Ok(Some(s)) => s,
        Ok(None) => return Err(not_found(ctx)),
        Err(e) => return Err(internal(ctx, e)),
    };
    let (username, _, _, _) = staff_form::<CsrfOnly>(state, ctx, &s.loan_id, body).await?;
    let role = ctx.staff().map(|x| x.1).unwrap_or("").to_owned();
    Ok((username, role, s))
}

/// `POST /settlements/{id}/accept` (staff, on the borrower's word) and
/// `POST /settlements/{id}/withdraw`.
async fn staff_event(state: AppState, ctx: Ctx, id: String, body: Bytes, accept: bool) -> Response {
    let (username, role, s) = match staff_settlement(&state, &ctx, &id, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let back = format!("/accounts/{}/settlement", s.loan_id);
    let at = now();
    let today = state.config().business_tz.date_of(at);
    let staff = Staff {
        username: &username,
        role: &role,
    };
    let r = if accept {
        settle::accept_settlement(state.store(), &id, Acceptor::Staff(staff), today, at).await
    } else {
        settle::withdraw_settlement(state.store(), staff, &id, today, at).await
    };
    match r {
        Ok(_) => {
            if let Err(e) = log_access(
                &state,
                format!("user:{username}"),
                if accept {
                    "pages.settlement_accepted"
                } else {
                    "pages.settlement_withdrawn"
                },
                &s.borrower_id,
                Some(&s.loan_id),
            )
            .await
            {
                return internal(&ctx, e);
            }
            redirect(&format!("{back}?done={id}"))
        }
        Err(e) => refused(&ctx, e, back),
    }
}

pub(super) async fn staff_accept(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    staff_event(state, ctx, id, body, true).await
}

pub(super) async fn staff_withdraw(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    staff_event(state, ctx, id, body, false).await
}

/// One offer as the borrower reads it.
pub(super) struct PortalSettlement {
    pub id: String,
    pub loan: String,
    pub status_code: String,
    pub status: &'static str,
    pub amount: String,
    pub schedule: String,
    pub accept_by: String,
    pub open: bool,
}

/// The portal's settlement section.
pub(super) struct PortalSettlements {
    pub title: &'static str,
    pub help: &'static str,
    pub accept: &'static str,
    pub amount: &'static str,
    pub schedule: &'static str,
    pub accept_by: &'static str,
    pub status: &'static str,
    pub offers: Vec<PortalSettlement>,
}

/// The borrower's settlements (withdrawn ones are not shown).
pub(super) async fn view_for_borrower(
    state: &AppState,
    lang: Lang,
    borrower_id: &str,
) -> Result<PortalSettlements, SettleError> {
    let w = words(lang);
    let list = settle::settlements_of(state.store(), SettlementsOf::Borrower(borrower_id)).await?;
    let offers = list
        .iter()
        .filter(|s| s.status() != "withdrawn")
        .map(|s| PortalSettlement {
            id: s.settlement_id.clone(),
            loan: s.loan_id.clone(),
            status_code: s.status().to_owned(),
            status: status_words(w, s.status()),
            amount: amount_words(s),
            schedule: schedule_words(s),
            accept_by: s.accept_by.to_string(),
            open: s.status() == "offered",
        })
        .collect();
    Ok(PortalSettlements {
        title: w.portal_title,
        help: w.portal_help,
        accept: w.portal_accept,
        amount: w.amount,
        schedule: w.schedule,
        accept_by: w.accept_by,
        status: w.status,
        offers,
    })
}

/// The notice after the borrower accepted.
pub(super) fn accepted_notice(lang: Lang) -> &'static str {
    words(lang).portal_accepted
}

/// `POST /portal/b/{borrower_id}/settlements/{id}/accept`: the borrower accepts an offer on
/// their own loan.
pub(super) async fn portal_accept(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((borrower_id, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let (b, _) = match portal_form::<CsrfOnly>(&ctx, &borrower_id, &body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let at = now();
    let today = state.config().business_tz.date_of(at);
    let back = format!("/portal/b/{b}");
    match settle::accept_settlement(state.store(), &id, Acceptor::Borrower(&b), today, at).await {
        Ok(s) => {
            if let Err(e) = log_access(
                &state,
                format!("portal:{b}"),
                "portal.settlement_accepted",
                &b,
                Some(&s.loan_id),
            )
            .await
            {
                return internal(&ctx, e);
            }
            redirect(&format!("{back}?done=settlement#settlements-title"))
        }
        Err(SettleError::NotAllowed(_))
        | Err(SettleError::Work(arrears_store::WorkError::NotFound { .. })) => forbidden(&ctx),
        Err(e) => refused(&ctx, e, back),
    }
}

/// A status row as shown: status, currency, count, four amounts in words.
pub(super) type ShownRow = (String, String, u64, String, String, String, String);
/// A league row as shown.
pub(super) type ShownLeague = (String, String, u64, String, String, u64, u64);

/// The dashboard's late-stage panel (issues 14 and 15): settlements and the legal pipeline by
/// status, recovery by route and the agency league of the 30 UTC days to the business date,
/// from the same facts and tables as `report.html` (`arrears_app::late`).
pub(super) struct LateView {
    pub period: String,
    pub settlement_chart: String,
    pub legal_chart: String,
    pub route_chart: String,
    pub league_chart: String,
    /// (status, currency, count, amount, discount) of the settlements.
    pub settlements: Vec<(String, String, u64, String, String)>,
    /// (status, currency, cases, claimed, awarded, recovered, costs).
    pub legal: Vec<ShownRow>,
    /// (route, currency, loans, recovered).
    pub routes: Vec<(String, String, u64, String)>,
    /// (agency, currency, placed, recovered, commission, complaints, violations).
    pub league: Vec<ShownLeague>,
}

/// The late-stage panel for the 30 days to `as_of`.
pub(super) async fn late_view(
    state: &AppState,
    as_of: jiff::civil::Date,
) -> Result<LateView, String> {
    let from = as_of
        .checked_sub(jiff::Span::new().days(29))
        .unwrap_or(as_of);
    let facts = arrears_app::late::late_facts(state.store(), from, as_of)
        .await
        .map_err(|e| e.to_string())?;
    let late = arrears_report::build_late(&facts).map_err(|e| e.to_string())?;
    let money_bars = |rows: Vec<(String, i64, String)>| -> Vec<arrears_report::Bar> {
        rows.into_iter()
            .map(|(label, v, shown)| arrears_report::Bar {
                label,
                value: u128::try_from(v).ok(),
                shown,
            })
            .collect()
    };
    Ok(LateView {
        period: format!("{from} → {as_of}"),
        settlement_chart: arrears_report::titled_bars(
            "late_settlements",
            "Settlements by status",
            "settlements",
            &arrears_report::status_bars(&late.settlements),
            1,
        ),
        legal_chart: arrears_report::titled_bars(
            "late_legal",
            "Legal pipeline by status",
            "cases",
            &arrears_report::status_bars(&late.legal),
            1,
        ),
        route_chart: arrears_report::hbars(
            "late_routes",
            "Recovered by route",
            "recovered",
            &money_bars(
                late.routes
                    .iter()
                    .map(|r| (format!("{} {}", r.0, r.1), r.3, format_minor(r.3, &r.1)))
                    .collect(),
            ),
            1,
        ),
        league_chart: arrears_report::hbars(
            "late_league",
            "Recovered per agency",
            "recovered",
            &money_bars(
                late.league
                    .iter()
                    .map(|r| (format!("{} {}", r.0, r.1), r.3, format_minor(r.3, &r.1)))
                    .collect(),
            ),
            1,
        ),
        settlements: late
            .settlements
            .iter()
            .map(|r| {
                (
                    r.0.clone(),
                    r.1.clone(),
                    r.2,
                    format_minor(r.4, &r.1),
                    format_minor(r.5, &r.1),
                )
            })
            .collect(),
        legal: late
            .legal
            .iter()
            .map(|r| {
                (
                    r.0.clone(),
                    r.1.clone(),
                    r.2,
                    format_minor(r.3, &r.1),
                    format_minor(r.4, &r.1),
                    format_minor(r.5, &r.1),
                    format_minor(r.6, &r.1),
                )
            })
            .collect(),
        routes: late
            .routes
            .iter()
            .map(|r| (r.0.clone(), r.1.clone(), r.2, format_minor(r.3, &r.1)))
            .collect(),
        league: late
            .league
            .iter()
            .map(|r| {
                (
                    r.0.clone(),
                    r.1.clone(),
                    r.2,
                    format_minor(r.3, &r.1),
                    format_minor(r.4, &r.1),
                    r.5,
                    r.6,
                )
            })
            .collect(),
    })
}
