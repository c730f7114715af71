//! The supervisor's legal referrals (`docs/legal.md`): `GET /referrals` lists the plan's
//! referral proposals waiting for a decision (loan, amount claimed, the strategy rule) and the
//! latest decided ones; `POST /referrals/{referral_id}` approves or rejects one with a
//! reason, as the signed-in supervisor or admin (their session's username, never a typed
//! name), through `arrears_app::legal::decide_referral`, which runs the compliance check of a
//! legal referral again now: a refusal (US-TIMEBAR, a hold) is shown with its rule ids and
//! nothing is recorded. Every form carries the session's CSRF token; every view and decision
//! is in the access log. English and Chinese.

use super::super::shared::{
    Chrome, CsrfOnly, Ctx, csrf_refused, forbidden, form, format_minor, internal, log_access,
    message, redirect, render,
};
use super::super::texts::Lang;
use crate::{AppState, now};
use arrears_app::legal::{Author, LegalError};
use arrears_store::{Ingested, StoredReferral};
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

/// The page's words.
pub(in crate::pages) struct Words {
    title: &'static str,
    help: &'static str,
    open: &'static str,
    none_open: &'static str,
    referral: &'static str,
    loan: &'static str,
    proposed_on: &'static str,
    claimed: &'static str,
    reason: &'static str,
    approve: &'static str,
    reject: &'static str,
    decided: &'static str,
    none_decided: &'static str,
    decision: &'static str,
    approved: &'static str,
    rejected: &'static str,
    case: &'static str,
    refused: &'static str,
    denied: &'static str,
    done: &'static str,
    only_supervisors: &'static str,
}

const EN: Words = Words {
    title: "Legal referrals",
    help: "The daily plan proposes loans for legal action. Approve or reject each with a reason. An approval is checked against the conduct rules again now: a time-barred debt (US-TIMEBAR), an open dispute or any other hold refuses it. An approved referral can then be filed as a case.",
    open: "Waiting for a decision",
    none_open: "No referral waits for a decision.",
    referral: "Referral",
    loan: "Loan",
    proposed_on: "Proposed on",
    claimed: "Amount claimed",
    reason: "Reason",
    approve: "Approve",
    reject: "Reject",
    decided: "Decided",
    none_decided: "Nothing decided yet.",
    decision: "Decision",
    approved: "Approved",
    rejected: "Rejected",
    case: "Case",
    refused: "Not done",
    denied: "The conduct rules refuse this referral now; nothing was recorded:",
    done: "Recorded",
    only_supervisors: "Only a supervisor or an admin decides a referral.",
};

const ZH: Words = Words {
    title: "诉讼移交",
    help: "每日计划会提议将贷款移交诉讼。请逐条批准或驳回并填写理由。批准时会再次按合规规则检查：已过诉讼时效的债务（US-TIMEBAR）、未解决的异议或其他暂停情形都会拒绝批准。批准后可立案。",
    open: "待决定",
    none_open: "没有待决定的移交。",
    referral: "移交",
    loan: "贷款",
    proposed_on: "提议日期",
    claimed: "请求金额",
    reason: "理由",
    approve: "批准",
    reject: "驳回",
    decided: "已决定",
    none_decided: "尚无决定。",
    decision: "决定",
    approved: "已批准",
    rejected: "已驳回",
    case: "案件",
    refused: "未完成",
    denied: "合规规则现在不允许此移交，未作任何记录：",
    done: "已记录",
    only_supervisors: "仅主管或管理员可以决定移交。",
};

fn words(lang: Lang) -> &'static Words {
    match lang {
        Lang::En => &EN,
        Lang::Zh => &ZH,
    }
}

/// Who decides referrals.
fn may_decide(role: &str) -> bool {
    matches!(role, "supervisor" | "admin")
}

struct Row {
    id: String,
    loan: String,
    rule: String,
    proposed_on: String,
    claimed: String,
    decision: String,
    decision_code: String,
    reason: String,
    case: String,
}

#[derive(Template)]
#[template(path = "referrals.html")]
struct ReferralsPage {
    chrome: Chrome,
    w: &'static Words,
    notice: Option<String>,
    open: Vec<Row>,
    decided: Vec<Row>,
    csrf: String,
}

#[derive(Deserialize, Default)]
pub(in crate::pages) struct DoneQuery {
    done: Option<String>,
}

fn row(w: &Words, r: StoredReferral) -> Row {
    Row {
        claimed: format_minor(r.amount_claimed_minor, &r.currency),
        decision: match (r.status.as_str(), &r.decided_by) {
            ("approved", Some(by)) => format!("{} · {by}", w.approved),
            ("rejected", Some(by)) => format!("{} · {by}", w.rejected),
            _ => String::new(),
        },
        decision_code: r.status,
        reason: r.reason.unwrap_or_default(),
        case: r.case_id.unwrap_or_default(),
        id: r.referral_id,
        loan: r.loan_id,
        rule: r.rule_id,
        proposed_on: r.proposed_on.to_string(),
    }
}

/// `GET /referrals`: supervisors and admins.
pub(in crate::pages) async fn referrals_page(
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
    if !may_decide(role) {
        return forbidden(&ctx);
    }
    let w = words(ctx.lang);
    let (open, mut decided) = match (
        state.store().legal_referrals(Some("proposed"), 500).await,
        state.store().legal_referrals(None, 100_000).await,
    ) {
        (Ok(o), Ok(all)) => (o, all),
        (Err(e), _) | (_, Err(e)) => return internal(&ctx, e),
    };
    decided.retain(|r| r.status != "proposed");
    decided.sort_by_key(|r| std::cmp::Reverse(r.decided_at));
    decided.truncate(100);
    if let Err(e) = log_access(
        &state,
        format!("user:{username}"),
        "pages.legal_referrals",
        "*",
        None,
    )
    .await
    {
        return internal(&ctx, e);
    }
    let page = ReferralsPage {
        chrome: ctx.chrome(),
        w,
        notice: q.done.map(|d| format!("{}: {d}", w.done)),
        open: open.into_iter().map(|r| row(w, r)).collect(),
        decided: decided.into_iter().map(|r| row(w, r)).collect(),
        csrf: ctx.chrome().csrf.unwrap_or_default(),
    };
    render(&ctx, StatusCode::OK, &page)
}

#[derive(Deserialize)]
pub(in crate::pages) struct DecideForm {
    decision: Option<String>,
    reason: Option<String>,
}

/// `POST /referrals/{referral_id}`: approve or reject, as the signed-in supervisor.
pub(in crate::pages) async fn decide_referral(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(referral_id): Path<String>,
    body: Bytes,
) -> Response {
    let csrf = form::<CsrfOnly>(&body).and_then(|f| f.csrf);
    if !ctx.csrf_ok(csrf.as_deref()) {
        return csrf_refused(&ctx);
    }
    let Some((username, role)) = ctx.staff() else {
        return forbidden(&ctx);
    };
    let w = words(ctx.lang);
    if !may_decide(role) {
        return message(
            &ctx,
            StatusCode::FORBIDDEN,
            w.refused,
            w.only_supervisors,
            Some("/referrals".into()),
        );
    }
    let Some(f) = form::<DecideForm>(&body) else {
        return csrf_refused(&ctx);
    };
    let back = Some("/referrals".to_owned());
    let approve = match f.decision.as_deref() {
        Some("approve") => true,
        Some("reject") => false,
        _ => {
            return message(
                &ctx,
                StatusCode::UNPROCESSABLE_ENTITY,
                w.refused,
                "decision: approve or reject",
                back,
            );
        }
    };
    let at = now();
    let policy = state.policy_at(at);
    let out = arrears_app::legal::decide_referral(
        state.store(),
        &policy.packs,
        &referral_id,
        approve,
        f.reason.as_deref().unwrap_or(""),
        at,
        Author {
            actor: username,
            now: at,
        },
    )
    .await;
    let (status, text) = match out {
        Ok(Ingested::Recorded | Ingested::AlreadyRecorded) => {
            let borrower = match state.store().legal_referral(&referral_id).await {
                Ok(Some(r)) => r.borrower_id,
                Ok(None) => "*".into(),
                Err(e) => return internal(&ctx, e),
            };
            if let Err(e) = log_access(
                &state,
                format!("user:{username}"),
                if approve {
                    "pages.legal_referral_approved"
                } else {
                    "pages.legal_referral_rejected"
                },
                &borrower,
                None,
            )
            .await
            {
                return internal(&ctx, e);
            }
            return redirect(&format!("/referrals?done={referral_id}"));
        }
        Ok(Ingested::Refused(r)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("{} {}", w.denied, r.rule_ids.join(", ")),
        ),
        Ok(Ingested::Conflict) => (
            StatusCode::CONFLICT,
            format!("{referral_id}: decided already with another decision or reason"),
        ),
        Err(LegalError::Invalid(why)) => (StatusCode::UNPROCESSABLE_ENTITY, why),
        Err(LegalError::Work(arrears_store::WorkError::NotFound { what, id })) => {
            (StatusCode::NOT_FOUND, format!("no {what} {id}"))
        }
        Err(LegalError::Work(arrears_store::WorkError::State { message, .. })) => {
            (StatusCode::CONFLICT, message)
        }
        Err(LegalError::Work(arrears_store::WorkError::Invalid(why))) => {
            (StatusCode::UNPROCESSABLE_ENTITY, why)
        }
        Err(e) => return internal(&ctx, e),
    };
    message(&ctx, status, w.refused, text, back)
}
