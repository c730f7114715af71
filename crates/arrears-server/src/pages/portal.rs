//! The borrower portal: the one-time link's page and its exchange for a session, the
//! borrower's page, message verification, and the dispute, cease-contact, preferences and
//! plan-proposal forms.

use super::shared::{
    Chrome, ContactView, CsrfOnly, Ctx, LifecycleView, csrf_refused, forbidden, form, format_minor,
    holds, internal, is_hex64, lifecycle_view, loan_currencies, log_access, message, not_found,
    parse_major, random_hex, redirect, render, session_cookie, time_for,
};
use super::texts::{Lang, label};
use super::{DISPUTE_TEXT_MAX, PORTAL_SESSION};
use crate::api;
use crate::auth::{Actor, sha256_hex};
use crate::{AppState, now};
use arrears_domain::types::{BorrowerId, Currency};
use arrears_store::{BorrowerFlag, NewSession, ServiceEvent};
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use serde::Deserialize;

#[derive(Deserialize)]
pub(super) struct CodeQuery {
    code: Option<String>,
}

#[derive(Template)]
#[template(path = "portal_enter.html")]
struct EnterPage {
    chrome: Chrome,
    code: String,
}

/// The link's page: a button that exchanges the code (a GET never uses it up, so a link
/// preview cannot spend it).
pub(super) async fn portal_enter(ctx: Ctx, Query(q): Query<CodeQuery>) -> Response {
    match q.code.filter(|c| is_hex64(c)) {
        Some(code) => render(
            &ctx,
            StatusCode::OK,
            &EnterPage {
                chrome: ctx.chrome(),
                code,
            },
        ),
        None => message(
            &ctx,
            StatusCode::FORBIDDEN,
            ctx.t().forbidden,
            ctx.t().link_used,
            None,
        ),
    }
}

/// Exchanges the one-time code for a borrower session (once).
pub(super) async fn portal_exchange(
    State(state): State<AppState>,
    ctx: Ctx,
    body: Bytes,
) -> Response {
    let code = form::<CodeQuery>(&body)
        .and_then(|f| f.code)
        .filter(|c| is_hex64(c));
    let used = || {
        message(
            &ctx,
            StatusCode::FORBIDDEN,
            ctx.t().forbidden,
            ctx.t().link_used,
            None,
        )
    };
    let Some(code) = code else { return used() };
    let (Ok(id), Ok(csrf)) = (random_hex(), random_hex()) else {
        return internal(&ctx, "no randomness");
    };
    let at = now();
    let new = NewSession {
        session_sha256: &sha256_hex(id.as_bytes()),
        csrf_token: &csrf,
        created_at: at,
        expires_at: at.saturating_add(PORTAL_SESSION).unwrap_or(at),
    };
    match state
        .store()
        .redeem_portal_code(&sha256_hex(code.as_bytes()), &new)
        .await
    {
        Ok(Some(borrower)) => {
            let mut res = redirect(&format!("/portal/b/{borrower}"));
            if let Some(c) = session_cookie(&id, PORTAL_SESSION, ctx.secure) {
                res.headers_mut().append(header::SET_COOKIE, c);
            }
            res
        }
        Ok(None) => used(),
        Err(e) => internal(&ctx, e),
    }
}

struct VerifyView {
    text: &'static str,
    lender: String,
    issued_at: String,
    channel: String,
    message: String,
}

struct LoanView {
    loan_id: String,
    debt: Option<PortalDebt>,
    /// Who owns the debt since when, once it is sold (the latest sale on record): the
    /// buyer and the sale's business date (the date of `sold_at` in the business zone).
    owner: Option<(String, String)>,
}

/// What the borrower owes on one loan, in the loan's currency and in plain words.
struct PortalDebt {
    as_of: String,
    /// How late the loan is, in words ("12 days overdue"), never a bucket code.
    lateness: String,
    /// The principal not yet repaid, the overdue interest and fees, and the penalty.
    total_outstanding: String,
    /// What is overdue now, the penalty included.
    overdue_total: String,
    overdue_principal: String,
    overdue_interest: String,
    overdue_fee: String,
    penalty: String,
}

fn portal_debt(w: &Words, s: &arrears_store::SnapshotRow) -> PortalDebt {
    let m = |v: i64| format_minor(v, &s.currency);
    let penalty = s.penalty_accrued_minor.saturating_sub(s.penalty_paid_minor);
    PortalDebt {
        as_of: s.as_of.to_string(),
        lateness: (w.lateness)(s.dpd),
        total_outstanding: m(s
            .outstanding_principal_minor
            .saturating_add(s.overdue_interest_minor)
            .saturating_add(s.overdue_fee_minor)
            .saturating_add(penalty)),
        overdue_total: m(s.overdue_minor.saturating_add(penalty)),
        overdue_principal: m(s.overdue_principal_minor),
        overdue_interest: m(s.overdue_interest_minor),
        overdue_fee: m(s.overdue_fee_minor),
        penalty: m(penalty),
    }
}

/// The portal's own words (English and Chinese): what a borrower reads instead of the staff
/// pages' codes, the lender and payment sections and the stop-contact confirmation.
pub(super) struct Words {
    pub(super) lender_title: &'static str,
    pub(super) lender_is: &'static str,
    pub(super) contact_lender: &'static str,
    pub(super) complaints_at: &'static str,
    pub(super) pay_title: &'static str,
    pub(super) pay_reference: &'static str,
    pub(super) pay_quote: &'static str,
    pub(super) total_outstanding: &'static str,
    pub(super) total_outstanding_help: &'static str,
    pub(super) overdue_total: &'static str,
    pub(super) breakdown: &'static str,
    pub(super) lateness: fn(u32) -> String,
    pub(super) confirm_title: &'static str,
    pub(super) confirm_help: &'static str,
    pub(super) confirm_yes: &'static str,
    pub(super) confirm_no: &'static str,
    pub(super) complain_link: &'static str,
    /// Labels of the lender's own contact details (the policy's `[lender]`).
    pub(super) phone: &'static str,
    pub(super) email: &'static str,
    pub(super) hours: &'static str,
    pub(super) pay_online: &'static str,
}

pub(super) const WORDS_EN: Words = Words {
    lender_title: "Who you owe",
    lender_is: "Your lender:",
    contact_lender: "To reach your lender, reply to any message from them or use the complaint channel below.",
    complaints_at: "Complaints:",
    pay_title: "How to pay",
    pay_reference: "Payment reference:",
    pay_quote: "When you pay, quote your loan number as the reference so the payment is credited to this loan.",
    total_outstanding: "Total you owe",
    total_outstanding_help: "the principal not yet repaid, plus the overdue interest, fees and penalty",
    overdue_total: "Overdue now (penalty included)",
    breakdown: "Of which overdue:",
    lateness: |d| match d {
        0 => "Not overdue".to_owned(),
        1 => "1 day overdue".to_owned(),
        d => format!("{d} days overdue"),
    },
    confirm_title: "Are you sure you want us to stop contacting you?",
    confirm_help: "If you confirm, we stop calling, texting and e-mailing you to collect this debt. We will still send what the law requires (for example notices about your account). The debt is still owed: interest and penalty may keep growing, and the lender may still use other lawful means, such as going to court. You can still pay and use this page.",
    confirm_yes: "Yes, stop contacting me",
    confirm_no: "No, go back",
    complain_link: "Make a complaint",
    phone: "Phone:",
    email: "E-mail:",
    hours: "Opening hours:",
    pay_online: "Pay online",
};

pub(super) const WORDS_ZH: Words = Words {
    lender_title: "您的债权人",
    lender_is: "贷款机构：",
    contact_lender: "如需联系贷款机构，可回复其发给您的任何信息，或使用下方的投诉渠道。",
    complaints_at: "投诉：",
    pay_title: "如何还款",
    pay_reference: "还款备注：",
    pay_quote: "还款时请在备注中填写您的贷款编号，以便款项计入此笔贷款。",
    total_outstanding: "您的欠款总额",
    total_outstanding_help: "尚未归还的本金，加上逾期利息、费用和罚息",
    overdue_total: "当前逾期金额（含罚息）",
    breakdown: "其中逾期：",
    lateness: |d| match d {
        0 => "未逾期".to_owned(),
        d => format!("已逾期 {d} 天"),
    },
    confirm_title: "您确定要我们停止联系您吗？",
    confirm_help: "确认后，我们将不再通过电话、短信和电子邮件就此欠款向您催收。我们仍会发送法律要求的通知（例如账户相关通知）。欠款仍需归还：利息和罚息可能继续增加，贷款机构仍可能采取其他合法方式，例如提起诉讼。您仍可还款并使用本页面。",
    confirm_yes: "是的，停止联系我",
    confirm_no: "不，返回",
    complain_link: "我要投诉",
    phone: "电话：",
    email: "电子邮箱：",
    hours: "服务时间：",
    pay_online: "在线还款",
};

pub(super) fn words(lang: Lang) -> &'static Words {
    match lang {
        Lang::En => &WORDS_EN,
        Lang::Zh => &WORDS_ZH,
    }
}

/// A contact's outcome in words addressed to the borrower ("We spoke with you"), not the
/// staff's ("Spoke with the borrower").
fn outcome_words(lang: Lang, code: &str) -> String {
    let (en, zh) = match code {
        "right_party" => ("We spoke with you", "我们与您通了电话"),
        "promise" => ("You promised to pay", "您承诺了还款"),
        "refused" => ("You said you would not pay", "您表示不还款"),
        "dispute" => ("You disputed the debt", "您对欠款提出了异议"),
        "no_answer" => (
            "We could not reach you (no answer)",
            "未能联系到您（无人接听）",
        ),
        "wrong_party" => ("Someone else answered", "由他人接听"),
        "busy" => ("Your line was busy", "您的电话占线"),
        "voicemail" => ("We left you a voicemail", "我们给您留了语音留言"),
        "sent" => ("Sent to you", "已发送给您"),
        "delivered" => ("Delivered to you", "已送达给您"),
        "bounced" => ("Could not be delivered", "未能送达"),
        "failed" => ("Could not be sent", "未能发送"),
        other => return label(lang, other),
    };
    match lang {
        Lang::En => en.to_owned(),
        Lang::Zh => zh.to_owned(),
    }
}

/// The borrower's own contacts, newest first, in the borrower's words.
fn portal_contacts(
    lang: Lang,
    bc: &arrears_store::BorrowerContacts,
    t: &super::texts::Texts,
) -> Vec<ContactView> {
    let own: Vec<&arrears_store::StoredContact> = bc.own_contacts().collect();
    own.into_iter()
        .rev()
        .map(|c| ContactView {
            // The borrower reads times on their own wall clock.
            at: time_for(&bc.borrower.timezone, c.row.at),
            channel: label(lang, &c.row.channel),
            direction: if &*c.row.direction == "inbound" {
                t.inbound.to_owned()
            } else {
                t.outbound.to_owned()
            },
            outcome: outcome_words(lang, &c.row.outcome),
            violation: String::new(),
            notes: String::new(),
        })
        .collect()
}

/// Where to complain, as a link: the pack's hotline (CN-COMPLAINT) as `tel:`, else the
/// regulator's complaint page, else none.
fn complaint_link(pack_hotline: Option<&str>, country: &str) -> Option<(String, String)> {
    let tel = |h: &str| {
        let dial: String = h
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == '+')
            .collect();
        (!dial.is_empty()).then(|| (format!("tel:{dial}"), h.trim().to_owned()))
    };
    if let Some(l) = pack_hotline.and_then(tel) {
        return Some(l);
    }
    match country {
        "CN" => tel("12378"),
        "US" => Some((
            "https://www.consumerfinance.gov/complaint/".to_owned(),
            "consumerfinance.gov/complaint".to_owned(),
        )),
        "GB" => Some((
            "https://www.financial-ombudsman.org.uk/contact-us/complain-online".to_owned(),
            "financial-ombudsman.org.uk".to_owned(),
        )),
        _ => None,
    }
}

#[derive(Template)]
#[template(path = "portal.html")]
struct PortalPage {
    chrome: Chrome,
    w: &'static Words,
    lender: String,
    /// How to reach and pay the lender, as its policy states (`[lender]`), with the phone
    /// number as a `tel:` target (spaces and dashes left out).
    lender_contact: Option<arrears_policy::LenderContact>,
    lender_tel: Option<String>,
    /// The complaint channel as a link: its `href` and its text.
    complaint: Option<(String, String)>,
    cease_confirm: bool,
    borrower_id: String,
    loans: Vec<LoanView>,
    contacts: Vec<ContactView>,
    holds: Vec<&'static str>,
    verify: Option<VerifyView>,
    verify_message: Option<&'static str>,
    code: String,
    notice: Option<&'static str>,
    dispute_text: String,
    complain_regulator: &'static str,
    /// The channels offered, with whether the borrower accepts each.
    pref_channels: Vec<(&'static str, String, bool)>,
    hours_from: String,
    hours_to: String,
    cease_requested: bool,
    today: String,
    /// What is on record about the borrower: preferences, plans, a sale, open credit
    /// disputes, notices.
    lifecycle: LifecycleView,
    /// The payment plans they proposed, newest first, each with our answer in words.
    proposals: Vec<PortalProposal>,
    proposals_title: &'static str,
    /// What the bureau files said about the borrower.
    bureau: super::portal_bureau::BureauView,
    /// The borrower's court cases (docs/legal.md).
    legal: super::portal_legal::LegalView,
    /// Settlement offers on their loans (docs/settlement.md).
    settlements: super::settle::PortalSettlements,
}

/// A plan the borrower proposed, and what we answered.
struct PortalProposal {
    id: i64,
    loan: String,
    sent: String,
    schedule: String,
    status_code: &'static str,
    answer: String,
}

/// The borrower of the session when it is the one in the URL (else the page is 403).
/// A portal form posted for the session's own borrower: that borrower and the form (`None`
/// when it does not parse), or the page that refuses it (no or a wrong CSRF token, or
/// another borrower's path). The refusal is the handler's answer at once, so its size does
/// not matter.
#[allow(clippy::result_large_err)]
pub(super) fn portal_form<T: serde::de::DeserializeOwned>(
    ctx: &Ctx,
    borrower_id: &str,
    body: &Bytes,
) -> Result<(String, Option<T>), Response> {
    let csrf = form::<CsrfOnly>(body).and_then(|f| f.csrf);
    if !ctx.csrf_ok(csrf.as_deref()) {
        return Err(csrf_refused(ctx));
    }
    let Some(b) = own_borrower(ctx, borrower_id) else {
        return Err(forbidden(ctx));
    };
    Ok((b, form::<T>(body)))
}

fn own_borrower(ctx: &Ctx, borrower_id: &str) -> Option<String> {
    ctx.borrower()
        .filter(|b| *b == borrower_id)
        .map(str::to_owned)
}

#[derive(Default)]
struct PortalExtra {
    verify: Option<VerifyView>,
    verify_message: Option<&'static str>,
    code: String,
    notice: Option<&'static str>,
    dispute_text: String,
    /// The stop-contact form was sent without its confirmation: ask "are you sure?".
    cease_confirm: bool,
}

async fn portal(
    state: &AppState,
    ctx: &Ctx,
    borrower_id: &str,
    action: &str,
    status: StatusCode,
    extra: PortalExtra,
) -> Response {
    let store = state.store();
    if let Err(e) = log_access(
        state,
        format!("portal:{borrower_id}"),
        action,
        borrower_id,
        None,
    )
    .await
    {
        return internal(ctx, e);
    }
    let bc = match store.borrower_contacts(borrower_id).await {
        Ok(Some(bc)) => bc,
        Ok(None) => return not_found(ctx),
        Err(e) => return internal(ctx, e),
    };
    let w = words(ctx.lang);
    let mut loans = Vec::new();
    for l in &bc.loan_ids {
        match store.loan_snapshots(l.as_str()).await {
            Ok(s) => loans.push(LoanView {
                loan_id: l.as_str().to_owned(),
                debt: s.last().map(|s| portal_debt(w, s)),
                owner: bc
                    .lifecycle
                    .sales
                    .iter()
                    .filter(|x| x.loan_id == *l)
                    .max_by_key(|x| x.sold_at)
                    .map(|x| {
                        let day = state.config().business_tz.date_of(x.sold_at);
                        (x.buyer.to_string(), day.to_string())
                    }),
            }),
            Err(e) => return internal(ctx, e),
        }
    }
    let currencies = match loan_currencies(
        state,
        bc.lifecycle
            .plans
            .iter()
            .map(|p| p.loan_id.as_str())
            .chain(bc.loan_ids.iter().map(|l| l.as_str())),
    )
    .await
    {
        Ok(c) => c,
        Err(e) => return internal(ctx, e),
    };
    let zone = &bc.borrower.timezone;
    let mut proposals = Vec::new();
    for l in &bc.loan_ids {
        let currency = currencies.get(l.as_str()).map_or("", String::as_str);
        match store.plan_proposals(l.as_str()).await {
            Ok(ps) => proposals.extend(ps.iter().map(|p| PortalProposal {
                id: p.proposal_id,
                loan: p.loan_id.clone(),
                sent: time_for(zone, p.created_at),
                schedule: super::desk::schedule_words(
                    ctx.lang,
                    p.installments,
                    p.amount_minor,
                    currency,
                    "month",
                    p.first_due,
                ),
                status_code: match p.answer.as_ref().map(|a| &a.answer) {
                    None => "open",
                    Some(arrears_store::ProposalAnswer::Accepted { .. }) => "accepted",
                    Some(arrears_store::ProposalAnswer::Countered { .. }) => "countered",
                    Some(arrears_store::ProposalAnswer::Declined { .. }) => "declined",
                },
                answer: super::desk::answer_for_borrower(ctx.lang, p, currency),
            })),
            Err(e) => return internal(ctx, e),
        }
    }
    proposals.sort_by_key(|p| std::cmp::Reverse(p.id));
    let t = ctx.t();
    let complain_regulator = match bc.borrower.jurisdiction.country() {
        "CN" => t.complain_cn,
        "US" => t.complain_us,
        "GB" => t.complain_gb,
        _ => t.complain_lender,
    };
    let prefs = bc.preferences.as_ref();
    let hm = |f: fn(&(jiff::civil::Time, jiff::civil::Time)) -> jiff::civil::Time| {
        prefs
            .and_then(|p| p.hours.as_ref())
            .map(|h| f(h).strftime("%H:%M").to_string())
            .unwrap_or_default()
    };
    let policy = state.policy();
    let hotline = policy
        .packs
        .get(&bc.borrower.jurisdiction)
        .and_then(|p| p.complaint())
        .map(|c| c.hotline.as_str());
    let complaint = complaint_link(hotline, bc.borrower.jurisdiction.country());
    let lender_contact = policy.lender.clone();
    let lender = arrears_app::rules::lender_name(&policy);
    let lender_tel = lender_contact
        .as_ref()
        .and_then(|c| c.phone.as_deref())
        .map(|p| {
            p.chars()
                .filter(|c| c.is_ascii_digit() || *c == '+')
                .collect::<String>()
        })
        .filter(|t| !t.is_empty());
    let bureau = match super::portal_bureau::view(state, ctx.lang, &bc).await {
        Ok(v) => v,
        Err(e) => return internal(ctx, e),
    };
    let legal = match super::portal_legal::view(state, ctx.lang, borrower_id).await {
        Ok(v) => v,
        Err(e) => return internal(ctx, e),
    };
    let settlements = match super::settle::view_for_borrower(state, ctx.lang, borrower_id).await {
        Ok(v) => v,
        Err(e) => return internal(ctx, e),
    };
    let page = PortalPage {
        bureau,
        legal,
        settlements,
        chrome: ctx.chrome(),
        w,
        lender,
        lender_contact,
        lender_tel,
        complaint,
        cease_confirm: extra.cease_confirm,
        borrower_id: borrower_id.to_owned(),
        loans,
        contacts: portal_contacts(ctx.lang, &bc, t),
        proposals,
        proposals_title: match ctx.lang {
            Lang::En => "Your plan proposals and our answers",
            Lang::Zh => "您的还款计划申请及我们的答复",
        },
        holds: holds(&bc, t),
        verify: extra.verify,
        verify_message: extra.verify_message,
        code: extra.code,
        notice: extra.notice,
        dispute_text: extra.dispute_text,
        complain_regulator,
        pref_channels: arrears_store::PREFERENCE_CHANNELS
            .iter()
            .map(|c| {
                (
                    *c,
                    label(ctx.lang, c),
                    prefs.is_none_or(|p| p.channels.iter().any(|x| x == c)),
                )
            })
            .collect(),
        hours_from: hm(|h| h.0),
        hours_to: hm(|h| h.1),
        cease_requested: bc.borrower.cease_contact,
        today: state.config().business_tz.date_of(now()).to_string(),
        lifecycle: lifecycle_view(ctx.lang, &bc, &currencies, &bc.borrower.timezone),
    };
    render(ctx, status, &page)
}

#[derive(Deserialize)]
pub(super) struct PortalQuery {
    done: Option<String>,
}

pub(super) async fn portal_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(borrower_id): Path<String>,
    Query(q): Query<PortalQuery>,
) -> Response {
    let Some(b) = own_borrower(&ctx, &borrower_id) else {
        return forbidden(&ctx);
    };
    let t = ctx.t();
    let notice = match q.done.as_deref() {
        Some("dispute") => Some(t.dispute_recorded),
        Some("cease") => Some(t.cease_recorded),
        Some("preferences") => Some(t.prefs_saved),
        Some("plan") => Some(t.proposal_recorded),
        Some("credit_dispute") => Some(super::portal_bureau::recorded(ctx.lang)),
        Some("settlement") => Some(super::settle::accepted_notice(ctx.lang)),
        _ => None,
    };
    portal(
        &state,
        &ctx,
        &b,
        "portal.view",
        StatusCode::OK,
        PortalExtra {
            notice,
            ..PortalExtra::default()
        },
    )
    .await
}

/// What verifying a code found: the message and whether its signature holds.
enum Verified {
    Genuine(Box<arrears_store::IndexedMessage>),
    NotGenuine,
    NotIssued,
    Unavailable,
}

/// Looks a code up in the store's index of issued messages (as `GET /v1/verify/{code}` and
/// the public `/verify` page do; no request reads the audit log) and checks its signature.
async fn verify_message(state: &AppState, code: &str) -> Result<Verified, String> {
    use arrears_evidence::signing::normalize_code;
    let Some(ev) = state.evidence() else {
        return Ok(Verified::Unavailable);
    };
    let code = normalize_code(code);
    let found = state
        .store()
        .issued_message(&code)
        .await
        .map_err(|e| e.to_string())?;
    Ok(match found {
        None => Verified::NotIssued,
        Some(f) if crate::message_index::verified(&ev.public_key_hex, &f.message) => {
            Verified::Genuine(Box::new(f.message))
        }
        Some(_) => Verified::NotGenuine,
    })
}

pub(super) async fn portal_verify(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(borrower_id): Path<String>,
    Query(q): Query<CodeQuery>,
) -> Response {
    let Some(b) = own_borrower(&ctx, &borrower_id) else {
        return forbidden(&ctx);
    };
    let t = ctx.t();
    let code: String = q.code.unwrap_or_default().trim().chars().take(64).collect();
    let mut extra = PortalExtra {
        code: code.clone(),
        ..PortalExtra::default()
    };
    match verify_message(&state, &code).await {
        Ok(Verified::Genuine(m)) if m.borrower_id != b => {
            // Another borrower's message: say only that it is genuine, not what it says.
            extra.verify = Some(VerifyView {
                text: t.genuine,
                lender: m.lender,
                issued_at: String::new(),
                channel: String::new(),
                message: String::new(),
            });
        }
        Ok(Verified::Genuine(m)) => {
            extra.verify = Some(VerifyView {
                text: t.genuine,
                lender: m.lender,
                issued_at: m.issued_at,
                channel: label(ctx.lang, &m.channel),
                message: m.text,
            })
        }
        Ok(Verified::NotGenuine) => extra.verify_message = Some(t.not_genuine),
        Ok(Verified::NotIssued) => extra.verify_message = Some(t.not_issued),
        Ok(Verified::Unavailable) => extra.verify_message = Some(t.verify_unavailable),
        Err(e) => return internal(&ctx, e),
    }
    portal(&state, &ctx, &b, "portal.verify", StatusCode::OK, extra).await
}

#[derive(Deserialize)]
struct DisputeForm {
    text: Option<String>,
}

/// Opens a dispute: the `dispute_opened` event of `POST /v1/events` (so checks deny with
/// ALL-HOLD-DISPUTE), and the borrower's text kept beside it.
pub(super) async fn portal_dispute(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(borrower_id): Path<String>,
    body: Bytes,
) -> Response {
    let (b, f) = match portal_form::<DisputeForm>(&ctx, &borrower_id, &body) {
        Ok(x) => x,
        Err(refused) => return refused,
    };
    let text = f
        .and_then(|f| f.text)
        .map(|t| t.trim().to_owned())
        .unwrap_or_default();
    if text.is_empty() || text.chars().count() > DISPUTE_TEXT_MAX || text.contains('\0') {
        return portal(
            &state,
            &ctx,
            &b,
            "portal.view",
            StatusCode::UNPROCESSABLE_ENTITY,
            PortalExtra {
                notice: Some(ctx.t().dispute_empty),
                dispute_text: text.chars().take(DISPUTE_TEXT_MAX).collect(),
                ..PortalExtra::default()
            },
        )
        .await;
    }
    let Ok(rand) = random_hex() else {
        return internal(&ctx, "no randomness");
    };
    let event_id = format!("portal-dispute-{}", &rand[..32]);
    let at = now();
    let Ok(bid) = BorrowerId::parse("borrower_id", &b) else {
        return not_found(&ctx);
    };
    let raw = serde_json::json!({
        "event_id": event_id,
        "type": "dispute_opened",
        "borrower_id": b,
        "at": at.to_string(),
    });
    let actor = Actor(format!("portal:{b}"));
    let event = ServiceEvent::Flag {
        borrower_id: bid,
        flag: BorrowerFlag::DisputeOpen,
        value: true,
        at,
    };
    if let Err(e) = api::ingest(
        &state,
        &actor,
        &event_id,
        "dispute_opened",
        &raw,
        event,
        None,
    )
    .await
    {
        return internal(&ctx, e.message);
    }
    if let Err(e) = state
        .store()
        .add_dispute_note(&b, &event_id, &text, at)
        .await
    {
        return internal(&ctx, e);
    }
    redirect(&format!("/portal/b/{b}?done=dispute"))
}

#[derive(Deserialize)]
struct CeaseForm {
    confirm: Option<String>,
}

/// The borrower asks to stop contact: the `cease_contact` event of `POST /v1/events`, so
/// every check after it denies collection contact. It takes two steps: the form without
/// `confirm=yes` only shows the page again with the consequences and a confirm button.
pub(super) async fn portal_cease(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(borrower_id): Path<String>,
    body: Bytes,
) -> Response {
    let (b, f) = match portal_form::<CeaseForm>(&ctx, &borrower_id, &body) {
        Ok(x) => x,
        Err(refused) => return refused,
    };
    if f.and_then(|f| f.confirm).as_deref() != Some("yes") {
        return portal(
            &state,
            &ctx,
            &b,
            "portal.view",
            StatusCode::OK,
            PortalExtra {
                cease_confirm: true,
                ..PortalExtra::default()
            },
        )
        .await;
    }
    let Ok(bid) = BorrowerId::parse("borrower_id", &b) else {
        return not_found(&ctx);
    };
    let Ok(rand) = random_hex() else {
        return internal(&ctx, "no randomness");
    };
    let event_id = format!("portal-cease-{}", &rand[..32]);
    let at = now();
    let raw = serde_json::json!({
        "event_id": event_id,
        "type": "cease_contact",
        "borrower_id": b,
        "at": at.to_string(),
    });
    let event = ServiceEvent::Flag {
        borrower_id: bid,
        flag: BorrowerFlag::CeaseContact,
        value: true,
        at,
    };
    if let Err(e) = api::ingest(
        &state,
        &Actor(format!("portal:{b}")),
        &event_id,
        "cease_contact",
        &raw,
        event,
        None,
    )
    .await
    {
        return internal(&ctx, e.message);
    }
    redirect(&format!("/portal/b/{b}?done=cease"))
}

#[derive(Deserialize)]
struct PreferencesForm {
    ch_call: Option<String>,
    ch_sms: Option<String>,
    ch_email: Option<String>,
    hours_from: Option<String>,
    hours_to: Option<String>,
}

/// `HH:MM` (or `H:MM`) as a time of day.
fn parse_hhmm(s: &str) -> Option<jiff::civil::Time> {
    let (h, m) = s.trim().split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    jiff::civil::Time::new(h.parse().ok()?, m.parse().ok()?, 0, 0).ok()
}

/// The borrower chooses the channels and local hours they accept.
pub(super) async fn portal_preferences(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(borrower_id): Path<String>,
    body: Bytes,
) -> Response {
    let (b, f) = match portal_form::<PreferencesForm>(&ctx, &borrower_id, &body) {
        Ok(x) => x,
        Err(refused) => return refused,
    };
    let Some(f) = f else {
        return csrf_refused(&ctx);
    };
    let channels: Vec<String> = [
        ("call", &f.ch_call),
        ("sms", &f.ch_sms),
        ("email", &f.ch_email),
    ]
    .into_iter()
    .filter(|(_, v)| v.is_some())
    .map(|(c, _)| c.to_owned())
    .collect();
    let blank = |v: &Option<String>| v.as_deref().is_none_or(|s| s.trim().is_empty());
    let hours = if blank(&f.hours_from) && blank(&f.hours_to) {
        Ok(None)
    } else {
        match (
            f.hours_from.as_deref().and_then(parse_hhmm),
            f.hours_to.as_deref().and_then(parse_hhmm),
        ) {
            (Some(a), Some(z)) if a < z => Ok(Some((a, z))),
            _ => Err(()),
        }
    };
    let Ok(hours) = hours else {
        return portal(
            &state,
            &ctx,
            &b,
            "portal.view",
            StatusCode::UNPROCESSABLE_ENTITY,
            PortalExtra {
                notice: Some(ctx.t().prefs_bad),
                ..PortalExtra::default()
            },
        )
        .await;
    };
    let prefs = arrears_store::ContactPreferences {
        channels,
        hours,
        updated_at: now(),
    };
    let saved = state.store().set_contact_preferences(&b, &prefs).await;
    state.facts().invalidate(&b);
    match saved {
        Ok(true) => {
            // A portal change is on record (the `preferences` rows, source `portal`) and in
            // the access log.
            if let Err(e) = log_access(
                &state,
                format!("portal:{b}"),
                "portal.preferences_set",
                &b,
                None,
            )
            .await
            {
                return internal(&ctx, e);
            }
            redirect(&format!("/portal/b/{b}?done=preferences"))
        }
        Ok(false) => not_found(&ctx),
        Err(e) => internal(&ctx, e),
    }
}

#[derive(Deserialize)]
struct PlanForm {
    loan_id: Option<String>,
    installments: Option<String>,
    amount: Option<String>,
    first_due: Option<String>,
    note: Option<String>,
}

/// The longest note on a proposed plan (characters).
pub const PLAN_NOTE_MAX: usize = 1000;

/// The borrower proposes a payment plan for one of their loans; it is kept for the agent.
pub(super) async fn portal_plan(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(borrower_id): Path<String>,
    body: Bytes,
) -> Response {
    let (b, f) = match portal_form::<PlanForm>(&ctx, &borrower_id, &body) {
        Ok(x) => x,
        Err(refused) => return refused,
    };
    let Some(f) = f else {
        return csrf_refused(&ctx);
    };
    let bad = || {
        portal(
            &state,
            &ctx,
            &b,
            "portal.view",
            StatusCode::UNPROCESSABLE_ENTITY,
            PortalExtra {
                notice: Some(ctx.t().proposal_bad),
                ..PortalExtra::default()
            },
        )
    };
    let loan_id = f.loan_id.as_deref().unwrap_or_default().trim().to_owned();
    // Only the borrower's own loan (the store checks it again).
    let owner = match state.store().loan_borrower(&loan_id).await {
        Ok(o) => o,
        Err(e) => return internal(&ctx, e),
    };
    if owner.as_deref() != Some(b.as_str()) {
        return bad().await;
    }
    let book = match state.store().loan_book(&loan_id).await {
        Ok(Some(book)) => book,
        Ok(None) => return bad().await,
        Err(e) => return internal(&ctx, e),
    };
    let digits = Currency::parse("currency", &book.currency).map_or(2, |c| c.minor_digits());
    let today = state.config().business_tz.date_of(now());
    let note: String = f.note.as_deref().unwrap_or_default().trim().to_owned();
    let parsed = (
        f.installments
            .as_deref()
            .and_then(|n| n.trim().parse::<u32>().ok())
            .filter(|n| (1..=60).contains(n)),
        f.amount.as_deref().and_then(|a| parse_major(a, digits)),
        f.first_due
            .as_deref()
            .and_then(|d| d.trim().parse::<jiff::civil::Date>().ok())
            .filter(|d| *d >= today),
    );
    let (Some(installments), Some(amount_minor), Some(first_due)) = parsed else {
        return bad().await;
    };
    if note.chars().count() > PLAN_NOTE_MAX || note.contains('\0') {
        return bad().await;
    }
    let new = arrears_store::NewPlanProposal {
        borrower_id: &b,
        loan_id: &loan_id,
        installments,
        amount_minor,
        first_due,
        note: &note,
        created_at: now(),
    };
    match state.store().add_plan_proposal(&new).await {
        Ok(true) => {
            if let Err(e) = log_access(
                &state,
                format!("portal:{b}"),
                "portal.plan_proposed",
                &b,
                Some(&loan_id),
            )
            .await
            {
                return internal(&ctx, e);
            }
            redirect(&format!("/portal/b/{b}?done=plan"))
        }
        Ok(false) => bad().await,
        Err(e) => internal(&ctx, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_complaint_channel_is_a_link() {
        // China: the CN-COMPLAINT hotline of the embedded pack, to dial.
        let packs = arrears_policy::PackSet::embedded().unwrap();
        let cn = arrears_domain::types::Jurisdiction::parse("jurisdiction", "CN").unwrap();
        let hotline = packs
            .get(&cn)
            .and_then(|p| p.complaint())
            .map(|c| c.hotline.as_str());
        let (href, text) = complaint_link(hotline, "CN").unwrap();
        assert_eq!(href, "tel:12378");
        assert!(text.contains("12378"));
        assert_eq!(complaint_link(None, "CN").unwrap().0, "tel:12378");
        assert!(
            complaint_link(None, "US")
                .unwrap()
                .0
                .starts_with("https://")
        );
        assert!(
            complaint_link(None, "GB")
                .unwrap()
                .0
                .starts_with("https://")
        );
        assert_eq!(complaint_link(None, "FR"), None);
    }

    #[test]
    fn the_borrower_reads_words_not_codes() {
        assert_eq!(outcome_words(Lang::En, "right_party"), "We spoke with you");
        assert_eq!(outcome_words(Lang::Zh, "right_party"), "我们与您通了电话");
        assert_eq!(outcome_words(Lang::En, "sms"), "SMS");
        assert_eq!((WORDS_EN.lateness)(0), "Not overdue");
        assert_eq!((WORDS_EN.lateness)(1), "1 day overdue");
        assert_eq!((WORDS_EN.lateness)(45), "45 days overdue");
        assert_eq!((WORDS_ZH.lateness)(45), "已逾期 45 天");
    }

    #[test]
    fn hours_parse() {
        assert_eq!(
            parse_hhmm("09:30"),
            jiff::civil::Time::new(9, 30, 0, 0).ok()
        );
        assert_eq!(parse_hhmm("9:05"), jiff::civil::Time::new(9, 5, 0, 0).ok());
        assert_eq!(parse_hhmm("24:00"), None);
        assert_eq!(parse_hhmm("0930"), None);
    }
}
