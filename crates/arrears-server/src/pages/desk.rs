//! The agent's answers on the account page (issue 19, item 1): a borrower's plan proposal
//! accepted (the payment plan is recorded by the same store call as the desk's plan form),
//! countered with another schedule, or declined with a reason; a promise cancelled with a
//! reason. Every answer is written to the access log (`pages.proposal_accepted`,
//! `pages.proposal_countered`, `pages.proposal_declined`, `pages.promise_cancelled`; actor
//! `user:NAME`). A form that does not pass comes back as typed, with what to fix
//! ([`RetryPage`]); amounts are always in the loan's currency.

use super::agent::{above_balance, outstanding, save_plan, staff_form};
use super::shared::{
    Chrome, Ctx, format_minor, internal, log_access, message, not_found, redirect, render,
};
use super::texts::Lang;
use crate::{AppState, now};
use arrears_domain::types::Currency;
use arrears_store::{CounterOffer, PlanProposal, ProposalAnswer};
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

/// The longest reason or answer text (characters).
pub(super) const REASON_MAX: usize = 1000;

/// The desk's own words (English and Chinese) for notes, proposal answers and cancelled
/// promises.
pub(super) struct DeskWords {
    pub(super) notes: &'static str,
    pub(super) notes_help: &'static str,
    pub(super) notes_too_long: fn(usize) -> String,
    pub(super) proposal_open: &'static str,
    pub(super) accept: &'static str,
    pub(super) counter: &'static str,
    pub(super) decline: &'static str,
    pub(super) counter_help: &'static str,
    pub(super) answer_words: &'static str,
    pub(super) decline_reason: &'static str,
    pub(super) answer_title: &'static str,
    pub(super) already_answered: &'static str,
    pub(super) reason_needed: &'static str,
    pub(super) schedule_needed: &'static str,
    pub(super) not_covering: fn(&str, &str, &str) -> String,
    pub(super) cancel_promise: &'static str,
    pub(super) cancelled_note: &'static str,
    pub(super) promise_gone: &'static str,
    pub(super) every: fn(&str) -> &'static str,
}

pub(super) const DESK_EN: DeskWords = DeskWords {
    notes: "Notes",
    notes_help: "What was said (up to 2,000 characters).",
    notes_too_long: |n| {
        format!(
            "The notes are too long: {n} characters, at most 2,000. Shorten them and save again."
        )
    },
    proposal_open: "Waiting for an answer",
    accept: "Accept",
    counter: "Offer another schedule",
    decline: "Decline",
    counter_help: "Another schedule for the borrower:",
    answer_words: "Words to the borrower (optional)",
    decline_reason: "Reason for declining (the borrower reads it)",
    answer_title: "Answer a plan proposal",
    already_answered: "This proposal has been answered already.",
    reason_needed: "Give a reason of 1 to 1,000 characters.",
    schedule_needed: "Give 1 to 60 payments, an amount above zero in the loan's currency and a first date from today on.",
    not_covering: |total, owed, on| {
        format!(
            "The payments add up to {total}, less than the {owed} overdue (with the unpaid penalty) on {on}: a plan must cover what is overdue."
        )
    },
    cancel_promise: "Cancel promise",
    cancelled_note: "Cancelled",
    promise_gone: "There is no such promise on this loan, or it is cancelled already.",
    every: |e| match e {
        "two_weeks" => "every two weeks",
        "week" => "every week",
        _ => "every month",
    },
};

pub(super) const DESK_ZH: DeskWords = DeskWords {
    notes: "备注",
    notes_help: "通话内容（最多 2000 字）。",
    notes_too_long: |n| format!("备注过长：{n} 字，最多 2000 字。请删减后再保存。"),
    proposal_open: "等待答复",
    accept: "接受",
    counter: "提出其他还款安排",
    decline: "拒绝",
    counter_help: "给借款人的其他还款安排：",
    answer_words: "给借款人的说明（可选）",
    decline_reason: "拒绝原因（借款人可见）",
    answer_title: "答复还款计划申请",
    already_answered: "该申请已经答复过了。",
    reason_needed: "请填写原因（1 至 1000 字）。",
    schedule_needed: "请填写 1 至 60 期、大于零的金额（贷款币种）以及不早于今天的首期日期。",
    not_covering: |total, owed, on| {
        format!(
            "各期合计 {total}，少于 {on} 的逾期金额 {owed}（含未付罚息）：还款计划必须覆盖逾期欠款。请改为提出其他还款安排。"
        )
    },
    cancel_promise: "取消承诺",
    cancelled_note: "已取消",
    promise_gone: "该贷款没有这项承诺，或已取消。",
    every: |e| match e {
        "two_weeks" => "每两周",
        "week" => "每周",
        _ => "每月",
    },
};

pub(super) fn desk_words(lang: Lang) -> &'static DeskWords {
    match lang {
        Lang::En => &DESK_EN,
        Lang::Zh => &DESK_ZH,
    }
}

/// A proposal's schedule in words: `3 × 50.00 USD every month from 2026-12-15`.
pub(super) fn schedule_words(
    lang: Lang,
    n: u32,
    amount_minor: i64,
    currency: &str,
    every: &str,
    first: jiff::civil::Date,
) -> String {
    let w = desk_words(lang);
    match lang {
        Lang::En => format!(
            "{n} × {} {} from {first}",
            format_minor(amount_minor, currency),
            (w.every)(every)
        ),
        Lang::Zh => format!(
            "{n} 期 × {}，{}，自 {first} 起",
            format_minor(amount_minor, currency),
            (w.every)(every)
        ),
    }
}

/// A proposal's answer as the borrower reads it on the portal, in plain words.
pub(super) fn answer_for_borrower(lang: Lang, p: &PlanProposal, currency: &str) -> String {
    let Some(a) = &p.answer else {
        return match lang {
            Lang::En => "We have your proposal and will answer it soon.".to_owned(),
            Lang::Zh => "我们已收到您的申请，将尽快答复。".to_owned(),
        };
    };
    match (&a.answer, lang) {
        (ProposalAnswer::Accepted { .. }, Lang::En) => {
            "Accepted: this is now your payment plan.".to_owned()
        }
        (ProposalAnswer::Accepted { .. }, Lang::Zh) => "已接受：这已成为您的还款计划。".to_owned(),
        (ProposalAnswer::Declined { reason }, Lang::En) => {
            format!("Not accepted. The reason we gave: {reason}")
        }
        (ProposalAnswer::Declined { reason }, Lang::Zh) => format!("未被接受。原因：{reason}"),
        (ProposalAnswer::Countered { offer, text }, lang) => {
            let s = schedule_words(
                lang,
                offer.installments,
                offer.amount_minor,
                currency,
                &offer.every,
                offer.first_due,
            );
            let mut out = match lang {
                Lang::En => format!(
                    "We cannot accept this one, but we can offer you: {s}. To agree, reply to us or call us."
                ),
                Lang::Zh => {
                    format!("我们无法接受此申请，但可以为您提供：{s}。如同意，请回复或致电我们。")
                }
            };
            if !text.is_empty() {
                out.push(' ');
                out.push_str(text);
            }
            out
        }
    }
}

/// A proposal's answer as the desk shows it.
pub(super) fn answer_for_staff(
    lang: Lang,
    p: &PlanProposal,
    currency: &str,
    zone: &arrears_domain::TimeZoneName,
) -> String {
    let Some(a) = &p.answer else {
        return desk_words(lang).proposal_open.to_owned();
    };
    let when = super::shared::time_for(zone, a.at);
    let what = match (&a.answer, lang) {
        (ProposalAnswer::Accepted { plan_id }, Lang::En) => format!("Accepted: plan {plan_id}"),
        (ProposalAnswer::Accepted { plan_id }, Lang::Zh) => format!("已接受：计划 {plan_id}"),
        (ProposalAnswer::Declined { reason }, Lang::En) => format!("Declined: {reason}"),
        (ProposalAnswer::Declined { reason }, Lang::Zh) => format!("已拒绝：{reason}"),
        (ProposalAnswer::Countered { offer, text }, lang) => {
            let s = schedule_words(
                lang,
                offer.installments,
                offer.amount_minor,
                currency,
                &offer.every,
                offer.first_due,
            );
            let head = match lang {
                Lang::En => format!("Countered: {s}"),
                Lang::Zh => format!("已提出其他安排：{s}"),
            };
            if text.is_empty() {
                head
            } else {
                format!("{head} — {text}")
            }
        }
    };
    format!("{what} ({}, {when})", a.by)
}

/// The schedule fields of a form, as typed.
#[derive(Default)]
pub(super) struct ScheduleFields {
    pub(super) count: String,
    pub(super) amount: String,
    pub(super) first_due: String,
    pub(super) every: String,
}

/// A desk form sent back as it was typed, with what to fix (or what to confirm).
#[derive(Template)]
#[template(path = "desk_form.html")]
pub(super) struct RetryPage {
    pub(super) chrome: Chrome,
    pub(super) loan_id: String,
    pub(super) title: &'static str,
    pub(super) text: String,
    pub(super) action: String,
    /// Hidden fields sent again (name, value).
    pub(super) hidden: Vec<(&'static str, String)>,
    pub(super) schedule: Option<ScheduleFields>,
    pub(super) reason: String,
    pub(super) reason_label: &'static str,
    pub(super) reason_required: bool,
    pub(super) ask_confirm: bool,
    pub(super) every_month: &'static str,
    pub(super) every_two_weeks: &'static str,
    pub(super) every_week: &'static str,
}

impl RetryPage {
    /// A reason-only form (resolve a dispute, cancel a plan or a promise, decline).
    pub(super) fn reason(
        ctx: &Ctx,
        loan_id: &str,
        title: &'static str,
        text: impl Into<String>,
        action: String,
        reason: &str,
    ) -> RetryPage {
        let t = ctx.t();
        RetryPage {
            chrome: ctx.chrome(),
            loan_id: loan_id.to_owned(),
            title,
            text: text.into(),
            action,
            hidden: Vec::new(),
            schedule: None,
            reason: reason.chars().take(REASON_MAX + 100).collect(),
            reason_label: t.why,
            reason_required: true,
            ask_confirm: false,
            every_month: t.every_month,
            every_two_weeks: t.every_two_weeks,
            every_week: t.every_week,
        }
    }

    /// A reason-only form again (422), as typed, with what to fix.
    pub(super) fn reason_again(
        ctx: &Ctx,
        loan_id: &str,
        title: &'static str,
        text: impl Into<String>,
        action: String,
        typed: Option<&str>,
    ) -> Response {
        let page = RetryPage::reason(ctx, loan_id, title, text, action, typed.unwrap_or_default());
        render(ctx, StatusCode::UNPROCESSABLE_ENTITY, &page)
    }
}

/// A reason from a form: trimmed, 1 to [`REASON_MAX`] characters, no NUL.
pub(super) fn reason_of(r: Option<&str>) -> Option<&str> {
    let r = r.map(str::trim).unwrap_or_default();
    (!r.is_empty() && r.chars().count() <= REASON_MAX && !r.contains('\0')).then_some(r)
}

#[derive(Deserialize)]
pub(super) struct AnswerForm {
    /// `accept`, `counter` or `decline`.
    answer: Option<String>,
    reason: Option<String>,
    count: Option<String>,
    amount: Option<String>,
    first_due: Option<String>,
    every: Option<String>,
    confirm: Option<String>,
}

/// The instalments a proposal asks for: its count of equal payments a month apart (the
/// portal's proposal form has no other spacing).
fn proposal_instalments(p: &PlanProposal) -> Option<Vec<(jiff::civil::Date, i64)>> {
    (0..i64::from(p.installments))
        .map(|i| {
            let d = p
                .first_due
                .checked_add(jiff::Span::new().months(1).checked_mul(i).ok()?)
                .ok()?;
            Some((d, p.amount_minor))
        })
        .collect()
}

/// What a loan's latest snapshot shows overdue with the unpaid penalty, and its date.
async fn overdue_of(
    state: &AppState,
    loan_id: &str,
) -> Result<Option<(i64, jiff::civil::Date)>, arrears_store::StoreError> {
    let snaps = state.store().loan_snapshots(loan_id).await?;
    Ok(snaps.last().map(|s| {
        (
            s.overdue_minor
                .saturating_add(s.penalty_accrued_minor.saturating_sub(s.penalty_paid_minor)),
            s.as_of,
        )
    }))
}

/// Why a plan of `total` does not cure the loan's arrears, in the currency; `None` when it
/// does (or the loan has no snapshot yet). The store checks the same again.
pub(super) async fn plan_shortfall(
    state: &AppState,
    lang: Lang,
    loan_id: &str,
    currency: &str,
    total: i128,
) -> Result<Option<String>, arrears_store::StoreError> {
    Ok(match overdue_of(state, loan_id).await? {
        Some((owed, on)) if total < i128::from(owed) => Some((desk_words(lang).not_covering)(
            &format_minor(i64::try_from(total).unwrap_or(i64::MAX), currency),
            &format_minor(owed, currency),
            &on.to_string(),
        )),
        _ => None,
    })
}

/// Answers a borrower's plan proposal: `answer=accept` records the payment plan it asks
/// for (through [`save_plan`], the desk's plan path) and marks it accepted; `counter` keeps
/// another schedule for the borrower to read on the portal; `decline` keeps the reason.
pub(super) async fn answer_proposal(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((loan_id, proposal_id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let (username, loan, borrower_id, f) =
        match staff_form::<AnswerForm>(&state, &ctx, &loan_id, &body).await {
            Ok(x) => x,
            Err(refused) => return refused,
        };
    let w = desk_words(ctx.lang);
    let back = Some(format!("/accounts/{}", loan.as_str()));
    let Ok(pid) = proposal_id.parse::<i64>() else {
        return not_found(&ctx);
    };
    let (proposals, book) = match (
        state.store().plan_proposals(loan.as_str()).await,
        state.store().loan_book(loan.as_str()).await,
    ) {
        (Ok(p), Ok(Some(b))) => (p, b),
        (Ok(_), Ok(None)) => return not_found(&ctx),
        (Err(e), _) | (_, Err(e)) => return internal(&ctx, e),
    };
    let Some(p) = proposals.into_iter().find(|p| p.proposal_id == pid) else {
        return not_found(&ctx);
    };
    if p.answer.is_some() {
        return message(
            &ctx,
            StatusCode::CONFLICT,
            w.answer_title,
            w.already_answered,
            back,
        );
    }
    let action = format!("/accounts/{}/proposals/{pid}", loan.as_str());
    let actor = format!("user:{username}");
    let at = now();
    let typed = ScheduleFields {
        count: f.count.clone().unwrap_or_default(),
        amount: f.amount.clone().unwrap_or_default(),
        first_due: f.first_due.clone().unwrap_or_default(),
        every: f.every.clone().unwrap_or_default(),
    };
    // The counter form, as typed (or the proposal's own schedule), with what to fix.
    let counter_again = |text: String, schedule: ScheduleFields, reason: &str| {
        let mut page = RetryPage::reason(
            &ctx,
            loan.as_str(),
            w.answer_title,
            text,
            action.clone(),
            reason,
        );
        page.hidden = vec![("answer", "counter".to_owned())];
        page.schedule = Some(schedule);
        page.reason_label = w.answer_words;
        page.reason_required = false;
        render(&ctx, StatusCode::UNPROCESSABLE_ENTITY, &page)
    };
    let (answer, action_name) = match f.answer.as_deref() {
        Some("decline") => {
            let Some(reason) = reason_of(f.reason.as_deref()) else {
                let mut page = RetryPage::reason(
                    &ctx,
                    loan.as_str(),
                    w.answer_title,
                    w.reason_needed,
                    action.clone(),
                    f.reason.as_deref().unwrap_or_default(),
                );
                page.hidden = vec![("answer", "decline".to_owned())];
                page.reason_label = w.decline_reason;
                return render(&ctx, StatusCode::UNPROCESSABLE_ENTITY, &page);
            };
            (
                ProposalAnswer::Declined {
                    reason: reason.to_owned(),
                },
                "pages.proposal_declined",
            )
        }
        Some("counter") => {
            let words = f.reason.as_deref().map(str::trim).unwrap_or_default();
            let today = state.config().business_tz.date_of(at);
            let form = super::agent::PaymentPlanForm {
                count: f.count.clone(),
                amount: f.amount.clone(),
                first_due: f.first_due.clone(),
                every: f.every.clone(),
                confirm: None,
            };
            let schedule = super::agent::plan_instalments(&form, &book.currency, today);
            let (Some(rows), true) = (
                schedule,
                words.chars().count() <= REASON_MAX && !words.contains('\0'),
            ) else {
                return counter_again(w.schedule_needed.to_owned(), typed, words);
            };
            let (Some((first, amount)), Ok(n)) = (rows.first().copied(), u32::try_from(rows.len()))
            else {
                return counter_again(w.schedule_needed.to_owned(), typed, words);
            };
            (
                ProposalAnswer::Countered {
                    offer: CounterOffer {
                        installments: n,
                        amount_minor: amount,
                        first_due: first,
                        every: match f.every.as_deref() {
                            Some("two_weeks") => "two_weeks",
                            Some("week") => "week",
                            _ => "month",
                        }
                        .to_owned(),
                    },
                    text: words.to_owned(),
                },
                "pages.proposal_countered",
            )
        }
        Some("accept") => {
            let Some(rows) = proposal_instalments(&p) else {
                return not_found(&ctx);
            };
            let digits =
                Currency::parse("currency", &book.currency).map_or(2, |c| c.minor_digits());
            let proposal_schedule = || ScheduleFields {
                count: p.installments.to_string(),
                amount: major(p.amount_minor, digits),
                first_due: p.first_due.to_string(),
                every: "month".to_owned(),
            };
            let total: i128 = rows.iter().map(|r| i128::from(r.1)).sum();
            // A plan that does not cure the arrears cannot be accepted: the counter form,
            // filled with the proposal's schedule, says why in the currency.
            match plan_shortfall(&state, ctx.lang, loan.as_str(), &book.currency, total).await {
                Ok(Some(why)) => return counter_again(why, proposal_schedule(), ""),
                Ok(None) => {}
                Err(e) => return internal(&ctx, e),
            }
            let owed = outstanding(&book);
            if total > owed && f.confirm.as_deref() != Some("yes") {
                let mut page = RetryPage::reason(
                    &ctx,
                    loan.as_str(),
                    w.answer_title,
                    above_balance(&ctx, total, owed, &book.currency),
                    action.clone(),
                    "",
                );
                page.hidden = vec![("answer", "accept".to_owned())];
                page.reason_required = false;
                page.reason_label = "";
                page.ask_confirm = true;
                return render(&ctx, StatusCode::UNPROCESSABLE_ENTITY, &page);
            }
            let plan_id = format!("page-proposal-{pid}");
            if let Err(r) =
                save_plan(&state, &ctx, &username, &loan, rows, &plan_id, back.clone()).await
            {
                return r;
            }
            (
                ProposalAnswer::Accepted { plan_id },
                "pages.proposal_accepted",
            )
        }
        _ => {
            return message(
                &ctx,
                StatusCode::UNPROCESSABLE_ENTITY,
                w.answer_title,
                w.schedule_needed,
                back,
            );
        }
    };
    match state
        .store()
        .answer_plan_proposal(pid, loan.as_str(), &answer, &actor, at)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            return message(
                &ctx,
                StatusCode::CONFLICT,
                w.answer_title,
                w.already_answered,
                back,
            );
        }
        Err(e) => return internal(&ctx, e),
    }
    logged_back(
        &state,
        &ctx,
        actor,
        action_name,
        &borrower_id,
        loan.as_str(),
        "proposals",
    )
    .await
}

/// Minor units written back as the major-unit text a form takes (`124.07`).
fn major(minor: i64, digits: u32) -> String {
    if digits == 0 {
        return minor.to_string();
    }
    let scale = 10i64.saturating_pow(digits);
    format!(
        "{}.{:0w$}",
        minor / scale,
        minor % scale,
        w = usize::try_from(digits).unwrap_or(2)
    )
}

#[derive(Deserialize)]
pub(super) struct ReasonForm {
    pub(super) reason: Option<String>,
}

/// Cancels a promise of the loan with the agent's reason: kept in
/// `promise_cancellations`, after which the promise is neither kept nor broken.
pub(super) async fn cancel_promise(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((loan_id, promise_id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let (username, loan, borrower_id, f) =
        match staff_form::<ReasonForm>(&state, &ctx, &loan_id, &body).await {
            Ok(x) => x,
            Err(refused) => return refused,
        };
    let w = desk_words(ctx.lang);
    let action = format!("/accounts/{}/promises/{promise_id}/cancel", loan.as_str());
    let Some(reason) = reason_of(f.reason.as_deref()) else {
        return RetryPage::reason_again(
            &ctx,
            loan.as_str(),
            w.cancel_promise,
            w.reason_needed,
            action,
            f.reason.as_deref(),
        );
    };
    let actor = format!("user:{username}");
    match state
        .store()
        .cancel_promise(&promise_id, loan.as_str(), &actor, reason, now())
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            return message(
                &ctx,
                StatusCode::CONFLICT,
                w.cancel_promise,
                w.promise_gone,
                Some(format!("/accounts/{}", loan.as_str())),
            );
        }
        Err(e) => return internal(&ctx, e),
    }
    logged_back(
        &state,
        &ctx,
        actor,
        "pages.promise_cancelled",
        &borrower_id,
        loan.as_str(),
        "promises",
    )
    .await
}

/// An answer done: written to the access log as `action`, then back to the account page's
/// `section`.
async fn logged_back(
    state: &AppState,
    ctx: &Ctx,
    actor: String,
    action: &str,
    borrower_id: &str,
    loan_id: &str,
    section: &str,
) -> Response {
    if let Err(e) = log_access(state, actor, action, borrower_id, Some(loan_id)).await {
        return internal(ctx, e);
    }
    redirect(&format!("/accounts/{loan_id}#{section}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_go_back_to_the_form_in_major_units() {
        assert_eq!(major(12_407, 2), "124.07");
        assert_eq!(major(5, 2), "0.05");
        assert_eq!(major(1500, 0), "1500");
        assert_eq!(major(1, 3), "0.001");
    }

    #[test]
    fn reasons_are_bounded() {
        assert_eq!(reason_of(Some("  moved  ")), Some("moved"));
        assert_eq!(reason_of(Some("   ")), None);
        assert_eq!(reason_of(None), None);
        assert_eq!(reason_of(Some(&"x".repeat(1001))), None);
        assert!(reason_of(Some(&"x".repeat(1000))).is_some());
    }
}
