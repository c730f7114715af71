//! The agent's pages: the home page with the day's call queue (an agent's own loans; every
//! agent's for supervisors, compliance and admins), and the account page of a loan with its
//! forms: log a call with its notes (and the promise made on it), record a payment plan,
//! resolve a dispute, cancel a plan, issue a portal link (the answers to plan proposals and
//! promise cancellations are in `desk`). Every time is shown in the viewer's zone
//! ([`Ctx::viewer_zone`]) with the borrower's local time beside it where it matters.

use super::desk::{DeskWords, RetryPage, answer_for_staff, desk_words, plan_shortfall, reason_of};
use super::shared::{
    Chrome, ContactView, CsrfOnly, Ctx, DateQuery, DebtView, LifecycleView, MessagePage,
    book_payments, business_date, contact_views, csrf_refused, debt_view, failed, forbidden, form,
    format_minor, holds, internal, is_manager, lifecycle_view, loan_currencies, log_access,
    message, not_found, parse_major, random_hex, redirect, render, time_beside, time_for,
};
use super::texts::{Lang, Texts, label, rule_words};
use crate::api::{self, ContactRequest};
use crate::auth::Actor;
use crate::error::ApiError;
use crate::{AppState, now, workbench};
use arrears_domain::types::{Currency, LoanId};
use arrears_policy::{Channel, Decision, Party, ProposedContact, Target};
use arrears_store::{BorrowerContacts, ServiceEvent};
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;

/// The outcomes an agent can log for a call.
const CALL_OUTCOMES: [&str; 8] = [
    "right_party",
    "promise",
    "refused",
    "dispute",
    "no_answer",
    "wrong_party",
    "busy",
    "voicemail",
];

// ---------------------------------------------------------------------------------------
// The staff home page: the day's call queue.

struct QueueRow {
    loan_id: String,
    borrower_id: String,
    priority: String,
    queue: String,
    rule_id: String,
    stage: String,
    bucket: String,
    dpd: u32,
    window: String,
    /// What was recorded on the loan on the business date: the last outcome, and the latest
    /// promise with its state.
    worked: String,
    promise: String,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    chrome: Chrome,
    username: String,
    role: String,
    loans: Vec<String>,
    /// An agent's own queue, or every agent's for other roles.
    own_queue: bool,
    manager: bool,
    plan_date: String,
    plan_note: String,
    queue: Vec<QueueRow>,
}

/// The most rows the queue shows.
const QUEUE_ROWS: usize = 500;

/// The latest promise of a loan with its state on `as_of`, written for the page.
fn latest_promise(
    lang: Lang,
    book: &arrears_store::LoanBook,
    as_of: jiff::civil::Date,
    zone: &arrears_domain::TimeZoneName,
) -> Option<(String, &'static str)> {
    let p = book
        .promises
        .iter()
        .filter(|p| p.cancelled.is_none())
        .max_by_key(|p| p.created_at)?;
    let st = workbench::promise_state(
        p.created_at,
        p.amount_minor,
        p.due_date,
        &book_payments(book),
        as_of,
        zone,
    );
    Some((
        format!(
            "{} {} {} — {}",
            format_minor(p.amount_minor, &book.currency),
            lang.texts().due_date,
            p.due_date,
            label(lang, st)
        ),
        st,
    ))
}

pub(super) async fn home(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<DateQuery>,
) -> Response {
    if let Some(b) = ctx.borrower() {
        return redirect(&format!("/portal/b/{b}"));
    }
    let Some((username, role)) = ctx.staff() else {
        return redirect("/login");
    };
    let store = state.store();
    // An agency's user: the loans placed with the agency now; staff: those assigned.
    let loans = match crate::agency::page_loans(&state, username).await {
        Ok(l) => l,
        Err(e) => return internal(&ctx, e),
    };
    let as_of = business_date(&state, &q);
    let plan = match workbench::day_plan(&state, as_of).await {
        Ok(p) => p,
        Err(e) => return internal(&ctx, e),
    };
    let manager = is_manager(role);
    let mine: std::collections::HashSet<&str> = loans.iter().map(String::as_str).collect();
    let zone = state.config().business_tz.clone();
    let viewer = ctx.viewer_zone(&state);
    let t = ctx.t();
    let mut queue = Vec::new();
    for task in plan
        .calls
        .iter()
        .filter(|c| manager || mine.contains(c.loan_id.as_str()))
        .take(QUEUE_ROWS)
    {
        let (bc, book) = match (
            store.borrower_contacts(&task.borrower_id).await,
            store.loan_book(&task.loan_id).await,
        ) {
            (Ok(bc), Ok(book)) => (bc, book),
            (Err(e), _) | (_, Err(e)) => return internal(&ctx, e),
        };
        let worked = bc
            .as_ref()
            .and_then(|bc| {
                let own: Vec<&arrears_store::StoredContact> = bc.own_contacts().collect();
                own.into_iter().rev().find(|c| {
                    c.loan_id.as_ref().map(|l| l.as_str()) == Some(task.loan_id.as_str())
                        && zone.date_of(c.row.at) == as_of
                })
            })
            .map_or_else(
                || t.not_worked.to_owned(),
                |c| {
                    format!(
                        "{} {}: {}",
                        label(ctx.lang, &c.row.channel),
                        time_for(&viewer, c.row.at),
                        label(ctx.lang, &c.row.outcome)
                    )
                },
            );
        let promise = book
            .as_ref()
            .and_then(|b| latest_promise(ctx.lang, b, as_of, &zone))
            .map(|p| p.0)
            .unwrap_or_default();
        queue.push(QueueRow {
            loan_id: task.loan_id.clone(),
            borrower_id: task.borrower_id.clone(),
            priority: task.priority.map(|p| p.to_string()).unwrap_or_default(),
            queue: task.queue.clone().unwrap_or_default(),
            rule_id: task.rule_id.clone(),
            stage: task.stage.clone(),
            bucket: task.bucket.clone(),
            dpd: task.dpd,
            window: {
                let mut w = format!(
                    "{} – {}",
                    time_for(&viewer, task.not_before),
                    time_for(&viewer, task.not_after)
                );
                if let Some(bc) = bc
                    .as_ref()
                    .filter(|b| b.borrower.timezone.name() != viewer.name())
                {
                    let theirs = &bc.borrower.timezone;
                    w.push_str(&format!(
                        " · {} {} – {}",
                        t.their_time,
                        time_for(theirs, task.not_before),
                        time_for(theirs, task.not_after)
                    ));
                }
                w
            },
            worked,
            promise,
        });
    }
    render(
        &ctx,
        StatusCode::OK,
        &HomePage {
            chrome: ctx.chrome(),
            username: username.to_owned(),
            role: role.to_owned(),
            loans,
            own_queue: !manager,
            manager,
            plan_date: as_of.to_string(),
            plan_note: format!(
                "{} {} ({} ms, {} loans)",
                t.plan_made,
                time_for(&viewer, plan.made_at),
                plan.millis,
                plan.loans
            ),
            queue,
        },
    )
}

#[derive(Deserialize)]
pub(super) struct OpenQuery {
    loan_id: Option<String>,
}

pub(super) async fn open_account(ctx: Ctx, Query(q): Query<OpenQuery>) -> Response {
    match q
        .loan_id
        .as_deref()
        .map(|l| LoanId::parse("loan_id", l.trim()))
    {
        Some(Ok(l)) => redirect(&format!("/accounts/{}", l.as_str())),
        _ => not_found(&ctx),
    }
}

// ---------------------------------------------------------------------------------------
// The agent's account page.

struct ChannelView {
    channel: String,
    code: &'static str,
    allowed: bool,
    /// For an allowed channel: when it stops being allowed (or "the next 24 hours").
    until: String,
    /// For a denied one: the earliest instant, or that waiting does not help.
    not_before: String,
    rule_ids: String,
}

struct OutcomeView {
    code: &'static str,
    label: String,
}

struct InstallmentView {
    seq: i64,
    due_date: String,
    fee: String,
    interest: String,
    principal: String,
    total: String,
    covered: String,
}

struct PaymentView {
    id: String,
    received: String,
    amount: String,
    kind: String,
}

struct PromiseView {
    id: String,
    made: String,
    amount: String,
    due: String,
    state: String,
    state_code: &'static str,
    /// Who cancelled it, when and why (empty unless cancelled).
    cancelled: String,
    /// Whether the agent may still cancel it (not cancelled, not kept).
    cancellable: bool,
}

struct PlanView {
    id: String,
    status: String,
    status_code: String,
    made: String,
    rows: Vec<PlanRowView>,
}

struct PlanRowView {
    due: String,
    amount: String,
    paid: String,
    state: String,
    state_code: &'static str,
}

/// A loan's payment plans with each instalment's progress from the payments.
fn plan_views(
    lang: Lang,
    plans: &[arrears_store::StoredPlan],
    currency: &str,
    today: jiff::civil::Date,
    viewer: &arrears_domain::TimeZoneName,
) -> Vec<PlanView> {
    plans
        .iter()
        .map(|p| PlanView {
            id: p.plan_id.clone(),
            status: label(lang, &p.status),
            status_code: p.status.clone(),
            made: time_for(viewer, p.created_at),
            rows: p
                .installments
                .iter()
                .map(|i| {
                    let state = if i.progress.paid_on.is_some() {
                        "paid"
                    } else if i.due_date < today {
                        "missed"
                    } else {
                        "due"
                    };
                    PlanRowView {
                        due: i.due_date.to_string(),
                        amount: format_minor(i.amount_minor, currency),
                        paid: format_minor(i.progress.paid_minor, currency),
                        state: label(lang, state),
                        state_code: state,
                    }
                })
                .collect(),
        })
        .collect()
}

/// Who the borrower is, for the agent's desk.
struct WhoView {
    name: String,
    phone: String,
    email: String,
    /// Their wall clock now, with the zone's name.
    local_now: String,
    /// The attorney's or representative's phone and e-mail, when the borrower has one.
    attorney: Option<String>,
}

fn who_view(b: &arrears_domain::portfolio::BorrowerRow, t: &Texts, at: Timestamp) -> WhoView {
    let or_none = |v: Option<&str>| v.map_or_else(|| t.none_given.to_owned(), str::to_owned);
    let attorney: Vec<&str> = [b.attorney_phone.as_deref(), b.attorney_email.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    WhoView {
        name: b.name.to_string(),
        phone: or_none(b.phone.as_deref()),
        email: or_none(b.email.as_deref()),
        local_now: time_for(&b.timezone, at),
        attorney: (!attorney.is_empty()).then(|| attorney.join(" · ")),
    }
}

/// A rule that stops or delays contact now, in words, with the channels it holds and until
/// when (when the decision knows).
struct RestrictionView {
    rule_id: String,
    words: String,
    channels: String,
    until: String,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    chrome: Chrome,
    loan_id: String,
    borrower_id: String,
    who: WhoView,
    restrictions: Vec<RestrictionView>,
    dispute_open: bool,
    debt: Option<DebtView>,
    contacts: Vec<ContactView>,
    holds: Vec<&'static str>,
    notes: Vec<(String, String)>,
    channels: Vec<ChannelView>,
    outcomes: Vec<OutcomeView>,
    installments: Vec<InstallmentView>,
    payments: Vec<PaymentView>,
    promises: Vec<PromiseView>,
    plans: Vec<PlanView>,
    lifecycle: LifecycleView,
    proposals: Vec<ProposalView>,
    today: String,
    dw: &'static DeskWords,
    /// The zone the page's times are in.
    viewer_zone: String,
}

/// A borrower's plan proposal on the desk, with its answer or the three actions.
struct ProposalView {
    id: i64,
    line: String,
    open: bool,
    status_code: &'static str,
    answer: String,
    /// The proposal's schedule for the counter form (count, amount in major units, date).
    count: String,
    amount: String,
    first_due: String,
}

/// The schedule with what the payments cover, by the engine's waterfall: installments in
/// order, within each the fee, then the interest, then the principal.
fn installment_views(book: &arrears_store::LoanBook) -> Vec<InstallmentView> {
    let m = |v: i64| format_minor(v, &book.currency);
    let mut left: i128 = book_payments(book)
        .iter()
        .filter(|p| p.2.is_none())
        .map(|p| i128::from(p.1))
        .sum();
    book.installments
        .iter()
        .map(|i| {
            let total = i128::from(i.fee_minor)
                + i128::from(i.interest_minor)
                + i128::from(i.principal_minor);
            let covered = left.clamp(0, total);
            left -= covered;
            InstallmentView {
                seq: i.seq,
                due_date: i.due_date.to_string(),
                fee: m(i.fee_minor),
                interest: m(i.interest_minor),
                principal: m(i.principal_minor),
                total: m(i64::try_from(total).unwrap_or(i64::MAX)),
                covered: m(i64::try_from(covered).unwrap_or(i64::MAX)),
            }
        })
        .collect()
}

fn payment_views(
    lang: Lang,
    book: &arrears_store::LoanBook,
    viewer: &arrears_domain::TimeZoneName,
) -> Vec<PaymentView> {
    book.payments
        .iter()
        .rev()
        .map(|p| PaymentView {
            id: p.payment_id.clone(),
            received: time_for(viewer, p.received_at),
            amount: format_minor(p.amount_minor, &book.currency),
            kind: match &p.reverses {
                Some(r) => format!("{} {r}", lang.texts().reversal_of),
                None => label(lang, &p.kind),
            },
        })
        .collect()
}

fn promise_views(
    lang: Lang,
    book: &arrears_store::LoanBook,
    as_of: jiff::civil::Date,
    zone: &arrears_domain::TimeZoneName,
    viewer: &arrears_domain::TimeZoneName,
    theirs: &arrears_domain::TimeZoneName,
) -> Vec<PromiseView> {
    let t = lang.texts();
    let pays = book_payments(book);
    book.promises
        .iter()
        .rev()
        .map(|p| {
            // A cancelled promise is neither kept nor broken.
            let st = if p.cancelled.is_some() {
                "cancelled"
            } else {
                workbench::promise_state(
                    p.created_at,
                    p.amount_minor,
                    p.due_date,
                    &pays,
                    as_of,
                    zone,
                )
            };
            PromiseView {
                id: p.promise_id.clone(),
                made: time_beside(viewer, theirs, t.their_time, p.created_at),
                amount: format_minor(p.amount_minor, &book.currency),
                due: p.due_date.to_string(),
                state: label(lang, st),
                state_code: st,
                cancelled: p
                    .cancelled
                    .as_ref()
                    .map(|c| format!("{}, {}: {}", c.by, time_for(viewer, c.at), c.reason))
                    .unwrap_or_default(),
                cancellable: st != "cancelled" && st != "kept",
            }
        })
        .collect()
}

/// A contact on `channel` to the borrower's own number or address about `loan`.
fn proposal(bc: &BorrowerContacts, loan: &LoanId, channel: Channel) -> ProposedContact {
    let b = &bc.borrower;
    let target = match channel {
        Channel::Email => b.email.as_deref().and_then(|e| Target::email(e).ok()),
        _ => b.phone.as_deref().and_then(|p| Target::phone(p).ok()),
    };
    let mut p = ProposedContact::new(b.id.clone(), channel, Party::Borrower, target);
    p.loan_id = Some(loan.clone());
    p
}

/// What each channel allows at `at`, by the same `check` as `POST /v1/contacts/check`; an
/// allowed channel is probed every 15 minutes over the next day for when it stops. A denied
/// one shows its next allowed moment (the decision's `earliest_allowed`) in the borrower's
/// local time and in the viewer's (business) zone. The rules that denied a channel are
/// also returned in words, each once with the channels it holds: the page restates the
/// decisions, it does not evaluate any rule itself.
fn channel_views(
    state: &AppState,
    lang: Lang,
    bc: &BorrowerContacts,
    loan: &LoanId,
    at: Timestamp,
    viewer: &arrears_domain::TimeZoneName,
) -> (Vec<ChannelView>, Vec<RestrictionView>) {
    let t = lang.texts();
    // One decision context and policy for every probe (the same as the API's check).
    let ctx = arrears_app::from_store(bc);
    let decide = |p: &ProposedContact, at: Timestamp| {
        arrears_app::decide(p, &ctx, at, &state.policy_at(at).packs)
    };
    let theirs = &bc.borrower.timezone;
    let both = |e: Timestamp| {
        format!(
            "{} {} · {} {}",
            t.their_time,
            time_for(theirs, e),
            t.your_time,
            time_for(viewer, e)
        )
    };
    let mut restrictions: Vec<RestrictionView> = Vec::new();
    let channels = [Channel::Call, Channel::Sms, Channel::Email]
        .into_iter()
        .map(|ch| {
            let p = proposal(bc, loan, ch);
            match decide(&p, at) {
                Decision::Allow(_) => {
                    let step = SignedDuration::from_mins(15);
                    let stop = (1..=96).find_map(|i| {
                        let when_ = at.saturating_add(step * i).ok()?;
                        (!decide(&p, when_).is_allowed()).then_some(when_)
                    });
                    ChannelView {
                        channel: label(lang, ch.code()),
                        code: ch.code(),
                        allowed: true,
                        until: stop.map_or_else(
                            || format!("{}, {}", t.allowed_now_words, t.next_24h),
                            |s| format!("{}, {} {}", t.allowed_now_words, t.until, both(s)),
                        ),
                        not_before: String::new(),
                        rule_ids: String::new(),
                    }
                }
                Decision::Deny {
                    rule_ids,
                    earliest_allowed,
                } => {
                    let until = earliest_allowed.map(both).unwrap_or_default();
                    for r in &rule_ids {
                        let name = label(lang, ch.code());
                        match restrictions.iter_mut().find(|x| x.rule_id == r.as_str()) {
                            Some(x) => {
                                x.channels.push_str(", ");
                                x.channels.push_str(&name);
                            }
                            None => restrictions.push(RestrictionView {
                                rule_id: r.as_str().to_owned(),
                                words: rule_words(lang, r.as_str())
                                    .unwrap_or(r.as_str())
                                    .to_owned(),
                                channels: name,
                                until: until.clone(),
                            }),
                        }
                    }
                    ChannelView {
                        channel: label(lang, ch.code()),
                        code: ch.code(),
                        allowed: false,
                        until: String::new(),
                        not_before: earliest_allowed.map_or_else(
                            || t.never_by_waiting.to_owned(),
                            |e| format!("{} {}", t.next_allowed, both(e)),
                        ),
                        rule_ids: rule_ids
                            .iter()
                            .map(|r| r.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    }
                }
            }
        })
        .collect();
    (channels, restrictions)
}

/// The loan and its borrower when the staff user may work it: 404 for no such loan, 403 for
/// an agent's unassigned loan, a redirect to the login page without a staff session.
pub(super) async fn staff_loan(
    state: &AppState,
    ctx: &Ctx,
    loan_id: &str,
) -> Result<(String, LoanId, String), Response> {
    let Some((username, role)) = ctx.staff() else {
        return Err(if ctx.borrower().is_some() {
            forbidden(ctx)
        } else {
            redirect("/login")
        });
    };
    let Ok(loan) = LoanId::parse("loan_id", loan_id) else {
        return Err(not_found(ctx));
    };
    let borrower = match state.store().loan_borrower(loan.as_str()).await {
        Ok(Some(b)) => b,
        Ok(None) => return Err(not_found(ctx)),
        Err(e) => return Err(internal(ctx, e)),
    };
    if role == "agent" {
        // An agency's user works only the loans placed with the agency, at this instant.
        match crate::agency::page_may_work(state, username, loan.as_str()).await {
            Ok(Some(true)) => return Ok((username.to_owned(), loan, borrower)),
            Ok(Some(false)) => return Err(forbidden(ctx)),
            Ok(None) => {}
            Err(e) => return Err(internal(ctx, e)),
        }
        match state.store().assignee(loan.as_str()).await {
            Ok(Some(a)) if a == username => {}
            Ok(_) => return Err(forbidden(ctx)),
            Err(e) => return Err(internal(ctx, e)),
        }
    }
    Ok((username.to_owned(), loan, borrower))
}

pub(super) async fn account_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(loan_id): Path<String>,
) -> Response {
    let (username, loan, borrower_id) = match staff_loan(&state, &ctx, &loan_id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let store = state.store();
    if let Err(e) = log_access(
        &state,
        format!("user:{username}"),
        "pages.account",
        &borrower_id,
        Some(loan.as_str()),
    )
    .await
    {
        return internal(&ctx, e);
    }
    let (bc, snaps, notes) = match (
        store.borrower_contacts(&borrower_id).await,
        store.loan_snapshots(loan.as_str()).await,
        store.dispute_notes(&borrower_id).await,
    ) {
        (Ok(Some(bc)), Ok(s), Ok(n)) => (bc, s, n),
        (Ok(None), _, _) => return not_found(&ctx),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return internal(&ctx, e),
    };
    let zone = state.config().business_tz.clone();
    let today = zone.date_of(now());
    let (book, proposals, plans) = match (
        store.loan_book(loan.as_str()).await,
        store.plan_proposals(loan.as_str()).await,
        store.loan_plans(loan.as_str(), today, &zone).await,
    ) {
        (Ok(Some(b)), Ok(p), Ok(l)) => (b, p, l),
        (Ok(None), _, _) => return not_found(&ctx),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return internal(&ctx, e),
    };
    let currencies = match loan_currencies(
        &state,
        bc.lifecycle
            .plans
            .iter()
            .map(|p| p.loan_id.as_str())
            .filter(|l| *l != loan.as_str()),
    )
    .await
    {
        Ok(mut c) => {
            c.insert(loan.as_str().to_owned(), book.currency.clone());
            c
        }
        Err(e) => return internal(&ctx, e),
    };
    let call_notes = match store.contact_notes(&borrower_id).await {
        Ok(n) => n,
        Err(e) => return internal(&ctx, e),
    };
    let t = ctx.t();
    let at = now();
    let viewer = ctx.viewer_zone(&state);
    let theirs = bc.borrower.timezone.clone();
    let (channels, restrictions) = channel_views(&state, ctx.lang, &bc, &loan, at, &viewer);
    let page = AccountPage {
        chrome: ctx.chrome(),
        loan_id: loan.as_str().to_owned(),
        borrower_id: borrower_id.clone(),
        debt: snaps.last().map(debt_view),
        contacts: contact_views(ctx.lang, &bc, t, &viewer, Some(&call_notes)),
        holds: holds(&bc, t),
        notes: notes
            .into_iter()
            .map(|n| (time_for(&viewer, n.at), n.body))
            .collect(),
        channels,
        restrictions,
        who: who_view(&bc.borrower, t, at),
        dispute_open: bc.borrower.dispute_open,
        outcomes: CALL_OUTCOMES
            .iter()
            .map(|c| OutcomeView {
                code: c,
                label: label(ctx.lang, c),
            })
            .collect(),
        installments: installment_views(&book),
        payments: payment_views(ctx.lang, &book, &viewer),
        promises: promise_views(ctx.lang, &book, today, &zone, &viewer, &theirs),
        plans: plan_views(ctx.lang, &plans, &book.currency, today, &viewer),
        lifecycle: lifecycle_view(ctx.lang, &bc, &currencies, &viewer),
        proposals: proposals
            .iter()
            .rev()
            .map(|p| {
                let mut line = format!(
                    "{}: {} × {} {} {}",
                    time_beside(&viewer, &theirs, t.their_time, p.created_at),
                    p.installments,
                    format_minor(p.amount_minor, &book.currency),
                    t.from_date,
                    p.first_due
                );
                if !p.note.is_empty() {
                    line.push_str(" — ");
                    line.push_str(&p.note);
                }
                ProposalView {
                    id: p.proposal_id,
                    line,
                    open: p.answer.is_none(),
                    status_code: match p.answer.as_ref().map(|a| &a.answer) {
                        None => "open",
                        Some(arrears_store::ProposalAnswer::Accepted { .. }) => "accepted",
                        Some(arrears_store::ProposalAnswer::Countered { .. }) => "countered",
                        Some(arrears_store::ProposalAnswer::Declined { .. }) => "declined",
                    },
                    answer: answer_for_staff(ctx.lang, p, &book.currency, &viewer),
                    count: p.installments.to_string(),
                    amount: format_minor(p.amount_minor, &book.currency)
                        .trim_end_matches(book.currency.as_str())
                        .trim()
                        .to_owned(),
                    first_due: p.first_due.to_string(),
                }
            })
            .collect(),
        today: today.to_string(),
        dw: desk_words(ctx.lang),
        viewer_zone: viewer.name().to_owned(),
    };

    render(&ctx, StatusCode::OK, &page)
}

#[derive(Deserialize)]
struct CallForm {
    outcome: Option<String>,
    /// `outbound` (the default) or `inbound`.
    direction: Option<String>,
    promise_amount: Option<String>,
    promise_due: Option<String>,
    /// Free text on what was said (up to [`arrears_store::CALL_NOTE_MAX`] characters).
    notes: Option<String>,
    /// Set on the second submit of a promise above the balance.
    confirm: Option<String>,
}

/// What is still owed on a loan by its book: the schedule less the payments not reversed
/// (never below zero).
/// Why an amount of `total` above the `owed` balance waits for the agent to confirm it, in
/// the currency.
pub(super) fn above_balance(ctx: &Ctx, total: i128, owed: i128, currency: &str) -> String {
    let t = ctx.t();
    let m = |v: i128| format_minor(i64::try_from(v).unwrap_or(i64::MAX), currency);
    format!(
        "{} ({} > {}). {}",
        t.above_balance,
        m(total),
        m(owed),
        t.confirm_above
    )
}

pub(super) fn outstanding(book: &arrears_store::LoanBook) -> i128 {
    let due: i128 = book
        .installments
        .iter()
        .map(|i| {
            i128::from(i.fee_minor) + i128::from(i.interest_minor) + i128::from(i.principal_minor)
        })
        .sum();
    let paid: i128 = book_payments(book)
        .iter()
        .filter(|p| p.2.is_none())
        .map(|p| i128::from(p.1))
        .sum();
    (due - paid).max(0)
}

/// The call form again, as the agent filled it, asking to confirm a promise above the
/// balance (the amounts in the loan's currency).
#[derive(Template)]
#[template(path = "confirm_call.html")]
struct ConfirmCallPage {
    chrome: Chrome,
    loan_id: String,
    text: String,
    /// Whether the form asks to confirm an amount (else it only repeats an error).
    ask_confirm: bool,
    outcome: String,
    direction: String,
    promise_amount: String,
    promise_due: String,
    notes: String,
    notes_label: &'static str,
}

/// A promise from the call form: `Ok(None)` when its fields are empty, an error when they
/// are given but do not make a promise (outcome, amount, date from `today` on).
fn promise_fields(
    outcome: &str,
    amount: Option<&str>,
    due: Option<&str>,
    currency: &str,
    today: jiff::civil::Date,
) -> Result<Option<(i64, jiff::civil::Date)>, ()> {
    let amount = amount.map(str::trim).filter(|a| !a.is_empty());
    let due = due.map(str::trim).filter(|d| !d.is_empty());
    if amount.is_none() && due.is_none() && outcome != "promise" {
        return Ok(None);
    }
    let digits = Currency::parse("currency", currency).map_or(2, |c| c.minor_digits());
    let (Some(a), Some(d)) = (
        amount.and_then(|a| parse_major(a, digits)),
        due.and_then(|d| d.parse::<jiff::civil::Date>().ok()),
    ) else {
        return Err(());
    };
    if outcome != "promise" || d < today {
        return Err(());
    }
    Ok(Some((a, d)))
}

#[derive(Deserialize)]
pub(super) struct PaymentPlanForm {
    pub(super) count: Option<String>,
    pub(super) amount: Option<String>,
    pub(super) first_due: Option<String>,
    pub(super) every: Option<String>,
    /// Set on the second submit of a plan whose total is above the balance.
    pub(super) confirm: Option<String>,
}

/// The plan form again, as the agent filled it, asking to confirm a total above the
/// balance (the amounts in the loan's currency).
#[derive(Template)]
#[template(path = "confirm_plan.html")]
struct ConfirmPlanPage {
    chrome: Chrome,
    loan_id: String,
    text: String,
    /// Whether the form asks to confirm an amount (else it only repeats an error).
    ask_confirm: bool,
    count: String,
    amount: String,
    first_due: String,
    every: String,
}

/// The instalments of a plan form: `count` equal amounts from `first_due` on, a month, two
/// weeks or a week apart (a monthly date past the month's end falls on its last day).
/// `None` when a field is missing or out of range.
pub(super) fn plan_instalments(
    f: &PaymentPlanForm,
    currency: &str,
    today: jiff::civil::Date,
) -> Option<Vec<(jiff::civil::Date, i64)>> {
    let count: i64 = f.count.as_deref()?.trim().parse().ok()?;
    if !(1..=60).contains(&count) {
        return None;
    }
    let digits = Currency::parse("currency", currency).map_or(2, |c| c.minor_digits());
    let amount = parse_major(f.amount.as_deref()?.trim(), digits)?;
    if amount <= 0
        || i128::from(amount) * i128::from(count)
            > i128::from(arrears_domain::types::MAX_AMOUNT_MINOR)
    {
        return None;
    }
    let first: jiff::civil::Date = f.first_due.as_deref()?.trim().parse().ok()?;
    if first < today {
        return None;
    }
    let step = match f.every.as_deref().unwrap_or("month") {
        "month" => jiff::Span::new().months(1),
        "two_weeks" => jiff::Span::new().weeks(2),
        "week" => jiff::Span::new().weeks(1),
        _ => return None,
    };
    (0..count)
        .map(|i| Some((first.checked_add(step.checked_mul(i).ok()?).ok()?, amount)))
        .collect()
}

/// A staff form posted for a loan the user may work: the user, the loan, its borrower and
/// the form, or the page that refuses it (no or a wrong CSRF token, a form that does not
/// parse, a loan that is not theirs).
#[allow(clippy::result_large_err)]
pub(super) async fn staff_form<T: serde::de::DeserializeOwned>(
    state: &AppState,
    ctx: &Ctx,
    loan_id: &str,
    body: &Bytes,
) -> Result<(String, LoanId, String, T), Response> {
    let csrf = form::<CsrfOnly>(body).and_then(|f| f.csrf);
    if !ctx.csrf_ok(csrf.as_deref()) {
        return Err(csrf_refused(ctx));
    }
    let (username, loan, borrower_id) = staff_loan(state, ctx, loan_id).await?;
    let f = form::<T>(body).ok_or_else(|| csrf_refused(ctx))?;
    Ok((username, loan, borrower_id, f))
}

/// Records a payment plan agreed with the borrower (active at once), through the store call
/// of `POST /v1/payment-plans`; its instalments are then followed from the payments.
pub(super) async fn record_payment_plan(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(loan_id): Path<String>,
    body: Bytes,
) -> Response {
    let (username, loan, _, f) =
        match staff_form::<PaymentPlanForm>(&state, &ctx, &loan_id, &body).await {
            Ok(x) => x,
            Err(refused) => return refused,
        };
    let back = Some(format!("/accounts/{}", loan.as_str()));
    let book = match state.store().loan_book(loan.as_str()).await {
        Ok(Some(b)) => b,
        Ok(None) => return not_found(&ctx),
        Err(e) => return internal(&ctx, e),
    };
    let at = now();
    let today = state.config().business_tz.date_of(at);
    // The form again, as typed, with what to fix (with `ask_confirm`, a box to confirm it).
    let again = |text: String, ask_confirm: bool| {
        render(
            &ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            &ConfirmPlanPage {
                chrome: ctx.chrome(),
                loan_id: loan.as_str().to_owned(),
                text,
                ask_confirm,
                count: f.count.clone().unwrap_or_default(),
                amount: f.amount.clone().unwrap_or_default(),
                first_due: f.first_due.clone().unwrap_or_default(),
                every: f.every.clone().unwrap_or_default(),
            },
        )
    };
    let Some(installments) = plan_instalments(&f, &book.currency, today) else {
        return again(ctx.t().plan_needed.to_owned(), false);
    };
    // A plan above what is owed is kept only once the agent confirms it.
    let total: i128 = installments.iter().map(|(_, a)| i128::from(*a)).sum();
    let owed = outstanding(&book);
    if total > owed && f.confirm.as_deref() != Some("yes") {
        return again(above_balance(&ctx, total, owed, &book.currency), true);
    }
    // A plan that does not cure the arrears comes back as typed, with the amounts in the
    // currency (the store checks the same again).
    match plan_shortfall(&state, ctx.lang, loan.as_str(), &book.currency, total).await {
        Ok(Some(why)) => return again(why, false),
        Ok(None) => {}
        Err(e) => return internal(&ctx, e),
    }
    let Ok(rand) = random_hex() else {
        return internal(&ctx, "no randomness");
    };
    let plan_id = format!("page-plan-{}", &rand[..32]);
    match save_plan(&state, &ctx, &username, &loan, installments, &plan_id, back).await {
        Ok(()) => redirect(&format!("/accounts/{}", loan.as_str())),
        Err(refused) => refused,
    }
}

/// Records a payment plan of the loan, active at once, through the store call of
/// `POST /v1/payment-plans` (idempotent by `plan_id`; actor `user:NAME`): the desk's plan
/// form and an accepted plan proposal both come here. `Err` is the page that says why not.
#[allow(clippy::result_large_err)]
pub(super) async fn save_plan(
    state: &AppState,
    ctx: &Ctx,
    username: &str,
    loan: &LoanId,
    installments: Vec<(jiff::civil::Date, i64)>,
    plan_id: &str,
    back: Option<String>,
) -> Result<(), Response> {
    let at = now();
    let actor = format!("user:{username}");
    let plan = arrears_store::NewPlan {
        plan_id: plan_id.to_owned(),
        loan_id: loan.as_str().to_owned(),
        created_at: at,
        created_by: actor.clone(),
        installments,
        status: "active".to_owned(),
    };
    let raw = serde_json::json!({
        "plan_id": plan_id,
        "loan_id": loan.as_str(),
        "created_at": at.to_string(),
        "created_by": actor,
        "status": "active",
        "installments": plan
            .installments
            .iter()
            .map(|(d, a)| serde_json::json!({"due_date": d.to_string(), "amount_minor": a}))
            .collect::<Vec<_>>(),
    });
    let b = crate::work::body_of(&raw);
    let key = format!("payment_plan:{plan_id}");
    let actor = Actor(actor);
    let meta = crate::work::meta(&key, "payment_plan", &b, &actor);
    match state.store().record_plan(&meta, &plan).await {
        Ok(_) => Ok(()),
        // A plan that does not cover the arrears, or one the loan's state refuses.
        Err(arrears_store::WorkError::Invalid(why)) => Err(message(
            ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            ctx.t().record_plan,
            format!("{} {why}.", ctx.t().plan_too_small),
            back,
        )),
        Err(arrears_store::WorkError::State { message: why, .. }) => Err(message(
            ctx,
            StatusCode::CONFLICT,
            ctx.t().record_plan,
            why,
            back,
        )),
        Err(e) => Err(internal(ctx, e)),
    }
}

/// Logs a call made now (outbound or inbound), through the path of `POST /v1/contacts`: a
/// call the engine forbids was already dialled, so it is kept as a violation with its rule
/// ids and the agent is told.
pub(super) async fn log_call(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(loan_id): Path<String>,
    body: Bytes,
) -> Response {
    let (username, loan, borrower_id, f) =
        match staff_form::<CallForm>(&state, &ctx, &loan_id, &body).await {
            Ok(x) => x,
            Err(refused) => return refused,
        };
    let back = Some(format!("/accounts/{}", loan.as_str()));
    let outcome = f
        .outcome
        .clone()
        .filter(|o| CALL_OUTCOMES.contains(&o.as_str()));
    let Some(outcome) = outcome else {
        return message(
            &ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            ctx.t().log_call,
            ctx.t().choose_outcome,
            back,
        );
    };
    let (phone, book) = match (
        state.store().borrower_contacts(&borrower_id).await,
        state.store().loan_book(loan.as_str()).await,
    ) {
        (Ok(Some(bc)), Ok(Some(book))) => (bc.borrower.phone.map(|p| p.to_string()), book),
        (Ok(_), Ok(_)) => return not_found(&ctx),
        (Err(e), _) | (_, Err(e)) => return internal(&ctx, e),
    };
    let direction = match f.direction.as_deref().map(str::trim) {
        None | Some("" | "outbound") => "outbound",
        Some("inbound") => "inbound",
        Some(_) => {
            return message(
                &ctx,
                StatusCode::UNPROCESSABLE_ENTITY,
                ctx.t().log_call,
                ctx.t().choose_outcome,
                back,
            );
        }
    };
    let today = state.config().business_tz.date_of(now());
    let dw = desk_words(ctx.lang);
    let notes = f
        .notes
        .as_deref()
        .map(str::trim)
        .unwrap_or_default()
        .to_owned();
    let again = |text: String, ask_confirm: bool| ConfirmCallPage {
        chrome: ctx.chrome(),
        loan_id: loan.as_str().to_owned(),
        text,
        ask_confirm,
        outcome: outcome.clone(),
        direction: direction.to_owned(),
        promise_amount: f.promise_amount.clone().unwrap_or_default(),
        promise_due: f.promise_due.clone().unwrap_or_default(),
        notes: notes.clone(),
        notes_label: dw.notes,
    };
    let notes_chars = notes.chars().count();
    if notes_chars > arrears_store::CALL_NOTE_MAX || notes.contains('\0') {
        return render(
            &ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            &again((dw.notes_too_long)(notes_chars), false),
        );
    }
    let promise = match promise_fields(
        &outcome,
        f.promise_amount.as_deref(),
        f.promise_due.as_deref(),
        &book.currency,
        today,
    ) {
        Ok(p) => p,
        Err(()) => {
            // The form again with what the agent typed.
            return render(
                &ctx,
                StatusCode::UNPROCESSABLE_ENTITY,
                &again(ctx.t().promise_needed.to_owned(), false),
            );
        }
    };
    // A promise above what is owed is kept only once the agent confirms it.
    if let Some((amount_minor, _)) = promise {
        let owed = outstanding(&book);
        if i128::from(amount_minor) > owed && f.confirm.as_deref() != Some("yes") {
            return render(
                &ctx,
                StatusCode::UNPROCESSABLE_ENTITY,
                &again(
                    above_balance(&ctx, i128::from(amount_minor), owed, &book.currency),
                    true,
                ),
            );
        }
    }
    let Ok(id) = random_hex() else {
        return internal(&ctx, "no randomness");
    };
    let req = ContactRequest {
        contact_id: format!("page-{}", &id[..32]),
        borrower_id,
        loan_id: Some(loan.as_str().to_owned()),
        channel: "call".into(),
        direction: Some(direction.to_owned()),
        target: phone,
        party: None,
        at: now().to_string(),
        outcome: outcome.clone(),
        // An agency's user calls as the agency: the contact counts as the agency's.
        agency_id: state.store().user_agency(&username).await.ok().flatten(),
        text: None,
        lender: None,
        code: None,
    };
    let contact_id = req.contact_id.clone();
    let actor = format!("user:{username}");
    // The notes are kept beside the contact once it is stored (a violation included).
    let keep_notes = || keep_call_notes(&state, &contact_id, &notes, &actor);
    let raw = match serde_json::to_value(&req) {
        Ok(v) => v,
        Err(e) => return internal(&ctx, e),
    };
    let result = match api::contact_event(&req) {
        Ok((contact, proposed)) => {
            let id = contact.contact_id.clone();
            match api::ingest_reporting(
                &state,
                &Actor(format!("user:{username}")),
                &id,
                "contact",
                &raw,
                ServiceEvent::Contact(contact),
                proposed,
            )
            .await
            {
                Ok((_, Some(rule_ids))) => {
                    // Dialled, and forbidden: kept as a violation; the agent is told.
                    if let Err(e) = keep_notes().await {
                        return internal(&ctx, e);
                    }
                    let t = ctx.t();
                    return render(
                        &ctx,
                        StatusCode::OK,
                        &MessagePage {
                            chrome: ctx.chrome(),
                            title: t.log_call,
                            text: t.call_violation.to_owned(),
                            rule_ids,
                            link: None,
                            back,
                        },
                    );
                }
                Ok((r, None)) => Ok(r),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    };
    if result.is_ok()
        && let Err(e) = keep_notes().await
    {
        return internal(&ctx, e);
    }
    let result = match (result, promise) {
        (Ok(_), Some((amount_minor, due_date))) => {
            record_promise(&state, &username, &loan, amount_minor, due_date, &id).await
        }
        (r, _) => r,
    };
    match result {
        Ok(_) => redirect(&format!("/accounts/{}", loan.as_str())),
        Err(e) => {
            let t = ctx.t();
            let (text, rule_ids) = match e.denial {
                Some((rules, _)) => (t.call_refused.to_owned(), rules),
                None if e.status.is_server_error() => return failed(ctx.lang),
                None => (e.message, Vec::new()),
            };
            render(
                &ctx,
                e.status,
                &MessagePage {
                    chrome: ctx.chrome(),
                    title: t.log_call,
                    text,
                    rule_ids,
                    link: None,
                    back,
                },
            )
        }
    }
}

/// Keeps the notes written on a recorded call (nothing when there are none).
async fn keep_call_notes(
    state: &AppState,
    contact_id: &str,
    notes: &str,
    actor: &str,
) -> Result<bool, arrears_store::StoreError> {
    if notes.is_empty() {
        return Ok(true);
    }
    state
        .store()
        .add_contact_note(contact_id, notes, actor, now())
        .await
}

/// The promise made on a logged call: the `promise_to_pay` event of `POST /v1/events`, by
/// the same ingest path (idempotent by its id, derived from the call's).
async fn record_promise(
    state: &AppState,
    username: &str,
    loan: &LoanId,
    amount_minor: i64,
    due_date: jiff::civil::Date,
    call_id: &str,
) -> Result<Response, ApiError> {
    let promise_id = format!("page-promise-{}", &call_id[..32]);
    let at = now();
    let raw = serde_json::json!({
        "event_id": promise_id,
        "type": "promise_to_pay",
        "promise_id": promise_id,
        "loan_id": loan.as_str(),
        "created_at": at.to_string(),
        "amount_minor": amount_minor,
        "due_date": due_date.to_string(),
    });
    let event = ServiceEvent::Promise {
        promise_id: promise_id.clone(),
        loan_id: loan.clone(),
        created_at: at,
        amount_minor,
        due_date,
    };
    api::ingest(
        state,
        &Actor(format!("user:{username}")),
        &promise_id,
        "promise_to_pay",
        &raw,
        event,
        None,
    )
    .await
}

/// A staff user sends the loan's borrower a one-time portal link: it goes through the
/// outbox to the borrower's own e-mail or phone; the page says where (masked), never the link.
pub(super) async fn issue_link(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(loan_id): Path<String>,
    body: Bytes,
) -> Response {
    let f = form::<CsrfOnly>(&body);
    if !ctx.csrf_ok(f.as_ref().and_then(|f| f.csrf.as_deref())) {
        return csrf_refused(&ctx);
    }
    let (username, loan, borrower_id) = match staff_loan(&state, &ctx, &loan_id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let said =
        match super::sign_in::send_link(&state, &ctx, &borrower_id, &format!("user:{username}"))
            .await
        {
            Ok(s) => s,
            Err(refused) => return refused,
        };
    render(
        &ctx,
        StatusCode::OK,
        &MessagePage {
            chrome: ctx.chrome(),
            title: ctx.t().portal_link,
            text: said,
            rule_ids: Vec::new(),
            link: None,
            back: Some(format!("/accounts/{}", loan.as_str())),
        },
    )
}

use super::desk::ReasonForm;

/// Resolves the borrower's dispute: the `dispute_resolved` event of `POST /v1/events`, by
/// the same ingest path, with the agent's reason in the event's recorded body.
pub(super) async fn resolve_dispute(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(loan_id): Path<String>,
    body: Bytes,
) -> Response {
    let (username, loan, borrower_id, f) =
        match staff_form::<ReasonForm>(&state, &ctx, &loan_id, &body).await {
            Ok(x) => x,
            Err(refused) => return refused,
        };
    let back = Some(format!("/accounts/{}", loan.as_str()));
    let t = ctx.t();
    let Some(reason) = reason_of(f.reason.as_deref()) else {
        return RetryPage::reason_again(
            &ctx,
            loan.as_str(),
            t.resolve_dispute,
            t.reason_needed,
            format!("/accounts/{}/dispute-resolved", loan.as_str()),
            f.reason.as_deref(),
        );
    };
    let Ok(borrower) = arrears_domain::types::BorrowerId::parse("borrower_id", &borrower_id) else {
        return not_found(&ctx);
    };
    let Ok(rand) = random_hex() else {
        return internal(&ctx, "no randomness");
    };
    let event_id = format!("page-resolve-{}", &rand[..32]);
    let at = now();
    let raw = serde_json::json!({
        "event_id": event_id,
        "type": "dispute_resolved",
        "borrower_id": borrower_id,
        "at": at.to_string(),
        "reason": reason,
    });
    let event = ServiceEvent::Flag {
        borrower_id: borrower,
        flag: arrears_store::BorrowerFlag::DisputeOpen,
        value: false,
        at,
    };
    match api::ingest(
        &state,
        &Actor(format!("user:{username}")),
        &event_id,
        "dispute_resolved",
        &raw,
        event,
        None,
    )
    .await
    {
        Ok(_) => redirect(&format!(
            "/accounts/{}?done=dispute_resolved",
            loan.as_str()
        )),
        Err(e) if e.status.is_server_error() => failed(ctx.lang),
        Err(e) => message(&ctx, e.status, t.resolve_dispute, e.message, back),
    }
}

/// Cancels one of the loan's payment plans with the agent's reason, through the store call
/// of `POST /v1/payment-plans/{plan_id}/status` (only a legal transition is recorded).
pub(super) async fn cancel_plan(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((loan_id, plan_id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let (username, loan, _, f) = match staff_form::<ReasonForm>(&state, &ctx, &loan_id, &body).await
    {
        Ok(x) => x,
        Err(refused) => return refused,
    };
    let back = Some(format!("/accounts/{}", loan.as_str()));
    let t = ctx.t();
    let Some(reason) = reason_of(f.reason.as_deref()) else {
        return RetryPage::reason_again(
            &ctx,
            loan.as_str(),
            t.cancel_plan,
            t.reason_needed,
            format!("/accounts/{}/plans/{plan_id}/cancel", loan.as_str()),
            f.reason.as_deref(),
        );
    };
    // Only a plan of this loan.
    let today = state.config().business_tz.date_of(now());
    match state
        .store()
        .loan_plans(loan.as_str(), today, &state.config().business_tz)
        .await
    {
        Ok(plans) if plans.iter().any(|p| p.plan_id == plan_id) => {}
        Ok(_) => return not_found(&ctx),
        Err(e) => return internal(&ctx, e),
    }
    let at = now();
    let actor = Actor(format!("user:{username}"));
    let raw = serde_json::json!({
        "status": "cancelled",
        "at": at.to_string(),
        "reason": reason,
    });
    let change = arrears_store::StatusChange {
        status: "cancelled".to_owned(),
        at,
        reason: Some(reason.to_owned()),
        actor: actor.0.clone(),
    };
    let b = crate::work::body_of(&raw);
    let key = format!("plan_status:{plan_id}:cancelled");
    let meta = crate::work::meta(&key, "plan_status", &b, &actor);
    match state
        .store()
        .change_plan_status(&meta, &plan_id, &change)
        .await
    {
        Ok(_) => redirect(&format!("/accounts/{}", loan.as_str())),
        Err(arrears_store::WorkError::State { message: why, .. }) => {
            message(&ctx, StatusCode::CONFLICT, t.cancel_plan, why, back)
        }
        Err(arrears_store::WorkError::Invalid(why)) => message(
            &ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            t.cancel_plan,
            why,
            back,
        ),
        Err(e) => internal(&ctx, e),
    }
}
