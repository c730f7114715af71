//! The supervisor's whole queue and allocation.
//!
//! `GET /queue`: every call task of the day's plan, filtered by agent (or unassigned),
//! queue, stage and jurisdiction (GET parameters), a page at a time ("rows X–Y of N"), with
//! the agent of each row (the `assignments` table). The plan is computed and kept in memory
//! (`workbench`), so the filters run over it there; the store is asked only for the page's
//! assignments (and, for an agent filter, that agent's loans).
//!
//! Allocation, for supervisors and admins (others: 403): assign the selected rows, or every
//! row matching the filters, to an agent (`POST /queue/assign`); assign by rule, every task
//! of the day's plan with the queue, stage, jurisdiction and language given
//! (`POST /allocation/rule`); spread an absent agent's accounts evenly over the other agents
//! (`POST /allocation/rebalance`). Each is one `Store::allocate`/`Store::rebalance`: one
//! transaction with an access-log entry per loan moved.

use super::super::shared::{Chrome, Ctx, csrf_refused, internal, message, render};
use super::super::texts::Lang;
use super::words::{Words, category, words};
use super::{manager, shown_at, staff_or_login, time_zone_note};
use crate::workbench::{DayPlan, QueueTask};
use crate::{AppState, now, workbench};
use arrears_store::{Move, ServiceError};
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use jiff::civil::Date;
use serde::Deserialize;
use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

/// Rows per page unless `per` says otherwise, and the most a page shows.
const PER_PAGE: usize = 100;
const MAX_PER_PAGE: usize = 500;

/// The queue's filters and page, as GET parameters (empty means any).
#[derive(Debug, Default, Deserialize)]
pub(in crate::pages) struct QueueQuery {
    date: Option<String>,
    /// A username, or `-` for tasks of loans no agent has.
    agent: Option<String>,
    queue: Option<String>,
    stage: Option<String>,
    jurisdiction: Option<String>,
    language: Option<String>,
    page: Option<String>,
    per: Option<String>,
}

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl QueueQuery {
    fn from_pairs(pairs: &[(String, String)]) -> QueueQuery {
        let get = |k: &str| {
            pairs
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        QueueQuery {
            date: get("date"),
            agent: get("agent"),
            queue: get("queue"),
            stage: get("stage"),
            jurisdiction: get("jurisdiction"),
            language: get("language"),
            page: get("page"),
            per: get("per"),
        }
    }

    fn as_of(&self, state: &AppState) -> jiff::civil::Date {
        given(&self.date)
            .and_then(|d| d.parse::<jiff::civil::Date>().ok())
            .unwrap_or_else(|| state.config().business_tz.date_of(now()))
    }

    fn per(&self) -> usize {
        given(&self.per)
            .and_then(|p| p.parse::<usize>().ok())
            .unwrap_or(PER_PAGE)
            .clamp(1, MAX_PER_PAGE)
    }

    /// The page asked for (1 when none or not a number).
    fn page(&self) -> usize {
        given(&self.page)
            .and_then(|p| p.parse::<usize>().ok())
            .unwrap_or(1)
    }

    /// The query string of these filters (without the page), for links and forms.
    fn filters(&self, as_of: jiff::civil::Date) -> Vec<(&'static str, String)> {
        let mut out = vec![("date", as_of.to_string())];
        for (k, v) in [
            ("agent", &self.agent),
            ("queue", &self.queue),
            ("stage", &self.stage),
            ("jurisdiction", &self.jurisdiction),
            ("language", &self.language),
        ] {
            if let Some(v) = given(v) {
                out.push((k, v.to_owned()));
            }
        }
        out
    }

    fn link(&self, as_of: jiff::civil::Date, page: usize) -> String {
        let mut q = self.filters(as_of);
        q.push(("per", self.per().to_string()));
        q.push(("page", page.to_string()));
        format!(
            "/queue?{}",
            serde_urlencoded::to_string(&q).unwrap_or_default()
        )
    }
}

/// The tasks of `plan` that pass the filters, in queue order.
async fn matching<'p>(
    state: &AppState,
    plan: &'p DayPlan,
    q: &QueueQuery,
) -> Result<Vec<&'p QueueTask>, arrears_store::StoreError> {
    let store = state.store();
    let (only, except): (Option<HashSet<String>>, Option<HashSet<String>>) = match given(&q.agent) {
        None => (None, None),
        Some("-") => (None, Some(store.assigned_loan_ids().await?)),
        Some(agent) => (
            Some(store.assigned_loans(agent).await?.into_iter().collect()),
            None,
        ),
    };
    let is = |want: Option<&str>, have: &str| want.is_none_or(|w| w == have);
    Ok(plan
        .calls
        .iter()
        .filter(|t| {
            is(given(&q.queue), t.queue.as_deref().unwrap_or_default())
                && is(given(&q.stage), &t.stage)
                && is(given(&q.jurisdiction), &t.jurisdiction)
                && is(given(&q.language), &t.language)
                && only.as_ref().is_none_or(|s| s.contains(&t.loan_id))
                && except.as_ref().is_none_or(|s| !s.contains(&t.loan_id))
        })
        .collect())
}

struct RowView {
    loan_id: String,
    borrower_id: String,
    priority: String,
    rule_id: String,
    queue: String,
    stage: String,
    bucket: String,
    dpd: u32,
    jurisdiction: String,
    language: String,
    window: String,
    agent: String,
}

/// A filter's choices: (value, shown), the first being "any".
struct Choice {
    value: String,
    shown: String,
    chosen: bool,
}

fn choices(
    w: &Words,
    values: impl IntoIterator<Item = (String, String)>,
    current: Option<&str>,
) -> Vec<Choice> {
    let mut out = vec![Choice {
        value: String::new(),
        shown: w.any.to_owned(),
        chosen: current.is_none(),
    }];
    out.extend(values.into_iter().map(|(value, shown)| Choice {
        chosen: current == Some(value.as_str()),
        value,
        shown,
    }));
    out
}

#[derive(Template)]
#[template(path = "queue.html")]
struct QueuePage {
    chrome: Chrome,
    w: &'static Words,
    plan_date: String,
    plan_note: String,
    times: String,
    agents: Vec<Choice>,
    queues: Vec<Choice>,
    stages: Vec<Choice>,
    jurisdictions: Vec<Choice>,
    per: usize,
    first: usize,
    last: usize,
    total: usize,
    rows: Vec<RowView>,
    previous: Option<String>,
    next: Option<String>,
    /// The filters, as hidden fields of the assignment form.
    hidden: Vec<(&'static str, String)>,
    can_assign: bool,
    assignable: Vec<String>,
    csrf: String,
}

/// Supervisors and admins move accounts; compliance only looks.
fn allocates(role: &str) -> bool {
    matches!(role, "supervisor" | "admin")
}

/// The distinct values of a task field, for a filter's choices.
fn distinct(plan: &DayPlan, f: impl Fn(&QueueTask) -> &str) -> BTreeSet<String> {
    plan.calls
        .iter()
        .map(|t| f(t).to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

fn queue_of(t: &QueueTask) -> &str {
    t.queue.as_deref().unwrap_or_default()
}

/// A filter's choices: the distinct values of a task field, shown as they are.
fn plain_choices(
    w: &Words,
    plan: &DayPlan,
    f: impl Fn(&QueueTask) -> &str,
    selected: Option<&str>,
) -> Vec<Choice> {
    choices(
        w,
        distinct(plan, f).into_iter().map(|v| (v.clone(), v)),
        selected,
    )
}

/// The stage filter's choices, each stage in the viewer's language.
fn stage_choices(w: &Words, lang: Lang, plan: &DayPlan, selected: Option<&str>) -> Vec<Choice> {
    choices(
        w,
        distinct(plan, |t| &t.stage)
            .into_iter()
            .map(|v| (v.clone(), category(lang, &v))),
        selected,
    )
}

/// 422 with "choose an agent", back to `back`.
fn choose_agent(ctx: &Ctx, back: String) -> Response {
    let w = words(ctx.lang);
    message(
        ctx,
        StatusCode::UNPROCESSABLE_ENTITY,
        w.refused,
        w.choose_agent,
        Some(back),
    )
}

/// A manager's role, the date asked for and that day's plan; else the answer.
async fn manager_plan<'c>(
    state: &AppState,
    ctx: &'c Ctx,
    q: &QueueQuery,
) -> Result<(&'c str, Date, Arc<DayPlan>), Box<Response>> {
    let role = manager(ctx)?;
    let as_of = q.as_of(state);
    let plan = workbench::day_plan(state, as_of)
        .await
        .map_err(|e| Box::new(internal(ctx, e)))?;
    Ok((role, as_of, plan))
}

/// The loans of the day's tasks that match the filters `q`.
async fn matching_loans(
    state: &AppState,
    ctx: &Ctx,
    q: &QueueQuery,
    as_of: Date,
) -> Result<Vec<String>, Box<Response>> {
    let plan = workbench::day_plan(state, as_of)
        .await
        .map_err(|e| Box::new(internal(ctx, e)))?;
    match matching(state, &plan, q).await {
        Ok(t) => Ok(t.iter().map(|t| t.loan_id.clone()).collect()),
        Err(e) => Err(Box::new(internal(ctx, e))),
    }
}

/// Each loan to `agent`.
fn moves_to(loans: Vec<String>, agent: &str) -> Vec<Move> {
    loans
        .into_iter()
        .map(|loan_id| Move {
            loan_id,
            agent: agent.to_owned(),
        })
        .collect()
}

pub(in crate::pages) async fn queue_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<QueueQuery>,
) -> Response {
    let (role, as_of, plan) = match manager_plan(&state, &ctx, &q).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let w = words(ctx.lang);
    let store = state.store();
    let tasks = match matching(&state, &plan, &q).await {
        Ok(t) => t,
        Err(e) => return internal(&ctx, e),
    };
    let total = tasks.len();
    let per = q.per();
    let pages = total.div_ceil(per).max(1);
    let page = q.page().clamp(1, pages);
    let start = (page - 1) * per;
    let shown: Vec<&QueueTask> = tasks.iter().skip(start).take(per).copied().collect();
    let ids: Vec<String> = shown.iter().map(|t| t.loan_id.clone()).collect();
    let agents_of = match store.assignments_of(&ids).await {
        Ok(a) => a,
        Err(e) => return internal(&ctx, e),
    };
    let loads = match store.agent_loads().await {
        Ok(l) => l,
        Err(e) => return internal(&ctx, e),
    };
    let zone = &ctx.viewer_zone(&state);
    let rows = shown
        .iter()
        .map(|t| RowView {
            loan_id: t.loan_id.clone(),
            borrower_id: t.borrower_id.clone(),
            priority: t.priority.map(|p| p.to_string()).unwrap_or_default(),
            rule_id: t.rule_id.clone(),
            queue: t.queue.clone().unwrap_or_default(),
            stage: category(ctx.lang, &t.stage),
            bucket: category(ctx.lang, &t.bucket),
            dpd: t.dpd,
            jurisdiction: t.jurisdiction.clone(),
            language: t.language.clone(),
            window: format!(
                "{} – {}",
                shown_at(t.not_before, zone),
                shown_at(t.not_after, zone)
            ),
            agent: agents_of.get(&t.loan_id).cloned().unwrap_or_default(),
        })
        .collect();
    let mut agent_values: Vec<(String, String)> = vec![("-".to_owned(), w.unassigned.to_owned())];
    agent_values.extend(
        loads
            .iter()
            .map(|a| (a.username.clone(), a.username.clone())),
    );
    let page_view = QueuePage {
        chrome: ctx.chrome(),
        w,
        plan_date: as_of.to_string(),
        plan_note: format!(
            "{} {} ({} ms, {} loans)",
            ctx.t().plan_made,
            shown_at(plan.made_at, zone),
            plan.millis,
            plan.loans
        ),
        times: time_zone_note(w, zone),
        agents: choices(w, agent_values, given(&q.agent)),
        queues: plain_choices(w, &plan, queue_of, given(&q.queue)),
        stages: stage_choices(w, ctx.lang, &plan, given(&q.stage)),
        jurisdictions: plain_choices(w, &plan, |t| &t.jurisdiction, given(&q.jurisdiction)),
        per,
        first: if total == 0 { 0 } else { start + 1 },
        last: start + shown.len(),
        total,
        rows,
        previous: (page > 1).then(|| q.link(as_of, page - 1)),
        next: (page < pages).then(|| q.link(as_of, page + 1)),
        hidden: q.filters(as_of),
        can_assign: allocates(role),
        assignable: loads.into_iter().map(|a| a.username).collect(),
        csrf: ctx.chrome().csrf.unwrap_or_default(),
    };
    render(&ctx, StatusCode::OK, &page_view)
}

/// The checks every allocation form passes: a supervisor or admin, the session's CSRF
/// token. The form's fields as pairs (a field may repeat: `loan`).
/// An allocation form that passed: the actor (`user:NAME`) and the fields.
type AllocationForm = (String, Vec<(String, String)>);

fn allocation_form(ctx: &Ctx, body: &Bytes) -> Result<AllocationForm, Box<Response>> {
    let (username, role) = staff_or_login(ctx)?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    let csrf = pairs
        .iter()
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.as_str());
    if !ctx.csrf_ok(csrf) {
        return Err(Box::new(csrf_refused(ctx)));
    }
    if !allocates(role) {
        let w = words(ctx.lang);
        return Err(Box::new(message(
            ctx,
            StatusCode::FORBIDDEN,
            w.refused,
            w.only_supervisors,
            None,
        )));
    }
    Ok((format!("user:{username}"), pairs))
}

fn field<'a>(pairs: &'a [(String, String)], k: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(key, _)| key == k)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// Records `moves` as one allocation and answers with what was done.
async fn record(
    state: &AppState,
    ctx: &Ctx,
    moves: &[Move],
    actor: &str,
    action: &str,
    agent: &str,
    back: String,
) -> Response {
    let w = words(ctx.lang);
    if moves.is_empty() {
        return message(
            ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            w.refused,
            w.nothing_selected,
            Some(back),
        );
    }
    match state.store().allocate(moves, actor, action, now()).await {
        Ok(n) => message(
            ctx,
            StatusCode::OK,
            w.done_title,
            format!("{n} {} {agent}.", w.assigned_n),
            Some(back),
        ),
        Err(e) => refused(ctx, e, back),
    }
}

fn refused(ctx: &Ctx, e: ServiceError, back: String) -> Response {
    match e {
        ServiceError::Store(e) => internal(ctx, e),
        other => message(
            ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            words(ctx.lang).refused,
            other.to_string(),
            Some(back),
        ),
    }
}

/// `POST /queue/assign`: the selected rows (`loan`, repeated) or, with `scope=matching`,
/// every row matching the filters sent with the form, to the agent `to`.
pub(in crate::pages) async fn bulk_assign(
    State(state): State<AppState>,
    ctx: Ctx,
    body: Bytes,
) -> Response {
    let (actor, pairs) = match allocation_form(&ctx, &body) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let q = QueueQuery::from_pairs(&pairs);
    let as_of = q.as_of(&state);
    let back = q.link(as_of, q.page());
    let Some(agent) = field(&pairs, "to") else {
        return choose_agent(&ctx, back);
    };
    let loans: Vec<String> = if field(&pairs, "scope") == Some("matching") {
        match matching_loans(&state, &ctx, &q, as_of).await {
            Ok(loans) => loans,
            Err(r) => return *r,
        }
    } else {
        pairs
            .iter()
            .filter(|(k, v)| k == "loan" && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_owned())
            .collect()
    };
    let moves = moves_to(loans, agent);
    record(&state, &ctx, &moves, &actor, "assign.bulk", agent, back).await
}

#[derive(Template)]
#[template(path = "allocation.html")]
struct AllocationPage {
    chrome: Chrome,
    w: &'static Words,
    plan_date: String,
    loads: Vec<(String, u64)>,
    queues: Vec<Choice>,
    stages: Vec<Choice>,
    jurisdictions: Vec<Choice>,
    languages: Vec<Choice>,
    can_assign: bool,
    csrf: String,
}

/// `GET /allocation`: the agents' loads, and the rule and rebalance forms.
pub(in crate::pages) async fn allocation_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<QueueQuery>,
) -> Response {
    let (role, as_of, plan) = match manager_plan(&state, &ctx, &q).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let w = words(ctx.lang);
    let loads = match state.store().agent_loads().await {
        Ok(l) => l,
        Err(e) => return internal(&ctx, e),
    };
    let page = AllocationPage {
        chrome: ctx.chrome(),
        w,
        plan_date: as_of.to_string(),
        loads: loads.into_iter().map(|a| (a.username, a.loans)).collect(),
        queues: plain_choices(w, &plan, queue_of, None),
        stages: stage_choices(w, ctx.lang, &plan, None),
        jurisdictions: plain_choices(w, &plan, |t| &t.jurisdiction, None),
        languages: plain_choices(w, &plan, |t| &t.language, None),
        can_assign: allocates(role),
        csrf: ctx.chrome().csrf.unwrap_or_default(),
    };
    render(&ctx, StatusCode::OK, &page)
}

/// `POST /allocation/rule`: every task of the day's plan with the given queue, stage,
/// jurisdiction and language (each optional) to the agent `to`.
pub(in crate::pages) async fn assign_by_rule(
    State(state): State<AppState>,
    ctx: Ctx,
    body: Bytes,
) -> Response {
    let (actor, pairs) = match allocation_form(&ctx, &body) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let mut q = QueueQuery::from_pairs(&pairs);
    // A rule names the work, not who has it now.
    q.agent = None;
    let as_of = q.as_of(&state);
    let back = format!("/allocation?date={as_of}");
    let Some(agent) = field(&pairs, "to") else {
        return choose_agent(&ctx, back);
    };
    let moves = match matching_loans(&state, &ctx, &q, as_of).await {
        Ok(loans) => moves_to(loans, agent),
        Err(r) => return *r,
    };
    record(&state, &ctx, &moves, &actor, "assign.rule", agent, back).await
}

/// `POST /allocation/rebalance`: the accounts of the absent agent `from`, spread evenly
/// over the other active agents.
pub(in crate::pages) async fn rebalance(
    State(state): State<AppState>,
    ctx: Ctx,
    body: Bytes,
) -> Response {
    let (actor, pairs) = match allocation_form(&ctx, &body) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let w = words(ctx.lang);
    let back = "/allocation".to_owned();
    let Some(from) = field(&pairs, "from") else {
        return choose_agent(&ctx, back);
    };
    match state.store().rebalance(from, &actor, now()).await {
        Ok(moves) => {
            let mut per: std::collections::BTreeMap<&str, usize> =
                std::collections::BTreeMap::new();
            for m in &moves {
                *per.entry(m.agent.as_str()).or_default() += 1;
            }
            let spread = per
                .iter()
                .map(|(a, n)| format!("{a} {n}"))
                .collect::<Vec<_>>()
                .join(", ");
            message(
                &ctx,
                StatusCode::OK,
                w.done_title,
                format!("{} {} {spread}", moves.len(), w.rebalanced_n),
                Some(back),
            )
        }
        Err(e) => refused(&ctx, e, back),
    }
}
