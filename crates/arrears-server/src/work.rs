//! The `/v1` routes of the collections work (docs/work.md): promises and whether they were
//! kept, payment plans, agency placements and recalls, legal cases, write-offs, the day's
//! plan and its call queues, and a borrower's audit export.
//!
//! Writes are idempotent: each has a key made of its kind and the id of what it creates (a
//! status change: the plan or case and the status it enters, which a forward-only life
//! cycle enters once), and the store answers a replay with the same canonical body as
//! `already_recorded` (200) and another body as a conflict (409). Placements and legal
//! cases are checked by the compliance engine (`agency_placement`, `legal_referral`) over the
//! borrower's facts read inside the write, exactly as `POST /v1/contacts/check` would answer;
//! a denial is 422 with the rule ids. Every read of a borrower's data is in the access log.
//!
//! The business zone is UTC and the strategy the default one: the server takes no
//! configuration or strategy file yet, so `GET /v1/plan` equals `arrears plan --db` run
//! without `--config`, `--strategy`, `--policy` or `--keys` (messages are then blocked
//! under ALL-IDENTITY, as there).

use crate::api::{Denied, Recorded, canonical_json, date, field, instant, log_access, plain_id};
use crate::auth::{Actor, sha256_hex};
use crate::error::{ApiError, ApiJson, ErrorBody};
use crate::{AppState, now};
use arrears_domain::types::{BorrowerId, LoanId};
use arrears_domain::{Config, Minor};
use arrears_policy::{Channel, Party, ProposedContact};
use arrears_store::{
    Access, BorrowerContacts, CaseUpdate, Ingested, NewCase, NewPlacement, NewPlan, NewWriteOff,
    Recall, StatusChange, WorkError, WorkMeta,
};
use axum::Extension;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

// ---------------------------------------------------------------------------------------
// Shapes
// ---------------------------------------------------------------------------------------

/// `?as_of=YYYY-MM-DD` (default: today in the business zone, UTC).
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AsOf {
    #[serde(default)]
    pub as_of: Option<String>,
}

/// `?as_of=YYYY-MM-DD`, required.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AsOfRequired {
    #[serde(default)]
    pub as_of: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PromiseJson {
    pub promise_id: String,
    pub created_at: String,
    pub amount_minor: i64,
    pub due_date: String,
    /// pending, kept or broken.
    pub status: String,
    /// For a kept promise: the booking day its amount was reached.
    pub kept_on: Option<String>,
    /// For a broken promise: the day after its due date.
    pub broken_on: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LoanPromises {
    pub loan_id: String,
    pub as_of: String,
    pub promises: Vec<PromiseJson>,
    /// Promises of the loan in all; this page holds at most `limit` (200 at most) of them.
    pub total: usize,
    /// Pass as `offset` for the next page; null on the last page.
    pub next_offset: Option<usize>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct InstallmentRequest {
    /// YYYY-MM-DD; strictly after the previous instalment's.
    pub due_date: String,
    /// Integer minor units, more than zero.
    pub amount_minor: i64,
}

/// `POST /v1/payment-plans`: idempotent by `plan_id`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct PlanRequest {
    pub plan_id: String,
    pub loan_id: String,
    /// When the plan was agreed, RFC 3339; payments count towards it from then on.
    pub created_at: String,
    /// Who agreed it: the token's name, which is also what is recorded when it is absent
    /// (another name is refused: a write names a real user or token, never free text).
    #[serde(default)]
    pub created_by: Option<String>,
    /// proposed (default) or active.
    #[serde(default)]
    pub status: Option<String>,
    /// 1 to 120 instalments, due dates increasing, none before `created_at`'s date; together
    /// not less than the overdue amount and unpaid penalty of the latest snapshot.
    pub installments: Vec<InstallmentRequest>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InstallmentJson {
    pub seq: i64,
    pub due_date: String,
    pub amount_minor: i64,
    /// What the plan's payments put towards this instalment.
    pub paid_minor: i64,
    /// paid, or unpaid (overdue when its due date is before `as_of`).
    pub state: String,
    pub paid_on: Option<String>,
    pub overdue: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatusChangeJson {
    pub status: String,
    pub at: String,
    pub reason: Option<String>,
    pub actor: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlanJson {
    pub plan_id: String,
    pub loan_id: String,
    pub created_at: String,
    pub created_by: String,
    /// proposed, active, completed, broken or cancelled.
    pub status: String,
    pub total_minor: i64,
    pub paid_minor: i64,
    pub installments: Vec<InstallmentJson>,
    pub history: Vec<StatusChangeJson>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LoanPlans {
    pub loan_id: String,
    pub as_of: String,
    pub plans: Vec<PlanJson>,
    /// Payment plans of the loan in all; this page holds at most `limit` (200 at most) of them.
    pub total: usize,
    /// Pass as `offset` for the next page; null on the last page.
    pub next_offset: Option<usize>,
}

/// `POST /v1/payment-plans/{plan_id}/status`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct PlanStatusRequest {
    /// active, completed, broken or cancelled (proposed → active | cancelled; active →
    /// completed | broken | cancelled).
    pub status: String,
    /// When it changed, RFC 3339.
    pub at: String,
    #[serde(default)]
    pub reason: Option<String>,
}

/// `POST /v1/placements`: idempotent by `placement_id`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct PlacementRequest {
    pub placement_id: String,
    pub loan_id: String,
    pub agency_id: String,
    /// RFC 3339; the instant the compliance check is made for.
    pub placed_at: String,
    /// The agency's commission in basis points (0 to 10000), or none.
    #[serde(default)]
    pub commission_bps: Option<i64>,
}

/// `POST /v1/placements/{placement_id}/recall`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct RecallRequest {
    pub recalled_at: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlacementJson {
    pub placement_id: String,
    pub loan_id: String,
    pub agency_id: String,
    pub placed_at: String,
    pub commission_bps: Option<i64>,
    pub placed_by: String,
    /// live, or recalled.
    pub state: String,
    pub recalled_at: Option<String>,
    pub recall_reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LoanPlacements {
    pub loan_id: String,
    pub placements: Vec<PlacementJson>,
    /// Placements of the loan in all; this page holds at most `limit` (200 at most) of them.
    pub total: usize,
    /// Pass as `offset` for the next page; null on the last page.
    pub next_offset: Option<usize>,
}

/// `POST /v1/legal-cases`: opens a case as `filed`; idempotent by `case_id`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct LegalCaseRequest {
    pub case_id: String,
    pub loan_id: String,
    pub court: String,
    pub case_number: String,
    pub amount_claimed_minor: i64,
    /// RFC 3339; the instant the `legal_referral` check is made for.
    pub filed_at: String,
    #[serde(default)]
    pub note: Option<String>,
}

/// `POST /v1/legal-cases/{case_id}/status`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct LegalStatusRequest {
    /// judgment, enforcement or closed (forward only; any open case may be closed).
    pub status: String,
    pub at: String,
    /// With a judgment: what the court awarded, minor units.
    #[serde(default)]
    pub amount_awarded_minor: Option<i64>,
    /// With a judgment: its date (YYYY-MM-DD; needs `amount_awarded_minor`).
    #[serde(default)]
    pub judgment_on: Option<String>,
    /// With closed: how the case ended, satisfied, withdrawn or terminated (docs/legal.md).
    #[serde(default)]
    pub outcome: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CaseUpdateJson {
    pub status: String,
    pub at: String,
    pub amount_awarded_minor: Option<i64>,
    pub note: Option<String>,
    pub actor: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LegalCaseJson {
    pub case_id: String,
    pub loan_id: String,
    pub court: String,
    pub case_number: String,
    pub amount_claimed_minor: i64,
    pub amount_awarded_minor: Option<i64>,
    pub status: String,
    pub history: Vec<CaseUpdateJson>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LoanLegalCases {
    pub loan_id: String,
    pub cases: Vec<LegalCaseJson>,
    /// Legal cases of the loan in all; this page holds at most `limit` (200 at most) of them.
    pub total: usize,
    /// Pass as `offset` for the next page; null on the last page.
    pub next_offset: Option<usize>,
}

/// `POST /v1/write-offs`: idempotent by `write_off_id`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct WriteOffRequest {
    pub write_off_id: String,
    pub loan_id: String,
    /// More than zero; with the loan's earlier write-offs, not above the outstanding total
    /// of its latest snapshot.
    pub amount_minor: i64,
    pub reason: String,
    /// Who approved it: the token's name, which is also what is recorded when it is absent
    /// (another name is refused: a write names a real user or token, never free text).
    #[serde(default)]
    pub approved_by: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WriteOffJson {
    pub write_off_id: String,
    pub loan_id: String,
    pub amount_minor: i64,
    pub reason: String,
    pub approved_by: String,
    /// The snapshot the amount was checked against, and its outstanding total.
    pub snapshot_as_of: String,
    pub outstanding_minor: i64,
    pub recorded_at: String,
    pub recorded_by: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LoanWriteOffs {
    pub loan_id: String,
    pub write_offs: Vec<WriteOffJson>,
    /// Write-offs of the loan in all; this page holds at most `limit` (200 at most) of them.
    pub total: usize,
    /// Pass as `offset` for the next page; null on the last page.
    pub next_offset: Option<usize>,
}

/// One planned action, with the columns of `actions.csv` (instants in the borrower's zone).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ActionJson {
    pub action_id: String,
    pub loan_id: String,
    pub borrower_id: String,
    pub kind: String,
    pub channel: String,
    pub party: String,
    pub target: Option<String>,
    pub template: Option<String>,
    pub language: Option<String>,
    pub not_before: String,
    pub not_after: String,
    pub queue: Option<String>,
    pub priority: Option<u8>,
    /// The strategy rule that proposed it.
    pub rule_id: String,
    pub arm: String,
    pub stage: Option<String>,
    pub verification_code: Option<String>,
}

/// A decision the engine refused, with the columns of `blocked.csv`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BlockedJson {
    pub action_id: String,
    pub loan_id: String,
    pub borrower_id: String,
    pub kind: String,
    pub channel: String,
    pub party: String,
    pub proposed_at: String,
    pub queue: Option<String>,
    pub priority: Option<u8>,
    pub rule_id: String,
    pub arm: String,
    pub stage: String,
    /// The pack rules that refused it.
    pub rule_ids: Vec<String>,
    pub earliest_allowed: Option<String>,
    pub note: Option<String>,
}

/// `GET /v1/plan`: one page of the day's plan. The rows are the actions, then the blocked
/// decisions; a page holds up to `limit` of them, in that order.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlanResponse {
    pub as_of: String,
    pub strategy: String,
    pub actions: Vec<ActionJson>,
    pub blocked: Vec<BlockedJson>,
    /// Actions and blocked decisions in the whole plan.
    pub total_actions: usize,
    pub total_blocked: usize,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// `GET /v1/queues/{queue}`: one page of the queue's call tasks, by priority.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QueueResponse {
    pub queue: String,
    pub as_of: String,
    pub tasks: Vec<ActionJson>,
    /// Call tasks in the whole queue.
    pub total: usize,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// `?as_of=YYYY-MM-DD&limit=N&cursor=C`: the business date (required) and the page.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PlanPage {
    #[serde(default)]
    pub as_of: Option<String>,
    /// Rows per page: 1 to 5000 (default 1000).
    #[serde(default)]
    pub limit: Option<usize>,
    /// The `next_cursor` of the page before (absent: the first page).
    #[serde(default)]
    pub cursor: Option<String>,
}

/// Rows per page of the plan and the queues, by default and at most.
pub const DEFAULT_PAGE_ROWS: usize = 1000;
pub const MAX_PAGE_ROWS: usize = 5000;

/// Items per page of a loan's or a borrower's list (promises, payment plans, placements,
/// legal cases, write-offs, an account's snapshot dates and lifecycle events, the entries
/// of an audit export), by default and at most: no answer grows with a borrower's history.
pub const MAX_LIST_ITEMS: usize = 200;

/// `?limit=N&offset=K`: one page of a loan's or a borrower's list, oldest first.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListPage {
    /// Items per page: 1 to 200 (default 200).
    #[param(minimum = 1, maximum = 200)]
    #[serde(default)]
    pub limit: Option<usize>,
    /// Items to skip: the `next_offset` of the page before (default 0).
    #[param(minimum = 0)]
    #[serde(default)]
    pub offset: Option<usize>,
}

/// The window a list query asks for: (first item, items), from `limit` and `offset` in the
/// query string (the first of each; 422 `invalid_field` when out of range, 400 `bad_query`
/// when the query cannot be read).
pub(crate) fn list_window(q: Option<&str>) -> Result<(usize, usize), ApiError> {
    let number = |name: &str, min: usize, max: usize, default: usize| match query_value(q, name)?
        .as_deref()
    {
        None | Some("") => Ok(default),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| {
                ApiError::invalid(
                    "invalid_field",
                    format!("Field {name}: give a whole number from {min} to {max}."),
                )
            }),
    };
    let limit = number("limit", 1, MAX_LIST_ITEMS, MAX_LIST_ITEMS)?;
    let offset = number("offset", 0, usize::MAX, 0)?;
    Ok((offset, limit))
}

/// One page of `items` for a [`list_window`]: the page, the whole list's length, and the
/// offset of the next page (none on the last).
pub(crate) fn list_page<T>(
    items: Vec<T>,
    (first, limit): (usize, usize),
) -> (Vec<T>, usize, Option<usize>) {
    let total = items.len();
    let end = first.saturating_add(limit).min(total);
    let page = items.into_iter().skip(first).take(limit).collect();
    (page, total, (end < total).then_some(end))
}

/// The day's plan as shared by every caller: the whole plan, and each queue's call tasks
/// (indices into `plan.actions`, by priority, then action id).
#[derive(Debug)]
pub struct SharedPlan {
    plan: PlanResponse,
    queues: std::collections::HashMap<String, Vec<usize>>,
}

impl SharedPlan {
    fn new(plan: PlanResponse) -> SharedPlan {
        let mut queues: std::collections::HashMap<String, Vec<usize>> =
            std::collections::HashMap::new();
        for (i, a) in plan.actions.iter().enumerate() {
            if let Some(q) = &a.queue {
                queues.entry(q.clone()).or_default().push(i);
            }
        }
        for v in queues.values_mut() {
            v.sort_by(|&x, &y| {
                let (a, b) = (&plan.actions[x], &plan.actions[y]);
                (a.priority.unwrap_or(u8::MAX), &a.action_id)
                    .cmp(&(b.priority.unwrap_or(u8::MAX), &b.action_id))
            });
        }
        SharedPlan { plan, queues }
    }
}

/// The day's plan of `as_of`, made once and shared ([`crate::day_plans`]).
async fn shared_plan(
    state: &AppState,
    as_of: Date,
) -> Result<Arc<crate::day_plans::Made<SharedPlan>>, ApiError> {
    state
        .api_plans()
        .get_or_make(as_of, || async {
            Ok::<_, ApiError>(SharedPlan::new(run_plan(state, as_of).await?))
        })
        .await
}

/// The page a query asks for: (first row, rows), from `limit` and `cursor` (`TAG-ROW`, the
/// tag of the plan it came from: a cursor of a plan made earlier is 409 `stale_cursor`).
fn page_of(q: &PlanPage, tag: u64, total: usize) -> Result<(usize, usize), ApiError> {
    let limit = q.limit.unwrap_or(DEFAULT_PAGE_ROWS);
    if !(1..=MAX_PAGE_ROWS).contains(&limit) {
        return Err(ApiError::invalid(
            "invalid_field",
            format!("Field limit: give 1 to {MAX_PAGE_ROWS}."),
        ));
    }
    let Some(c) = q.cursor.as_deref().filter(|c| !c.is_empty()) else {
        return Ok((0, limit));
    };
    let parsed = c
        .split_once('-')
        .and_then(|(t, r)| Some((t.parse::<u64>().ok()?, r.parse::<usize>().ok()?)));
    let Some((t, row)) = parsed.filter(|&(_, row)| row <= total) else {
        return Err(ApiError::invalid(
            "invalid_field",
            "Field cursor: not a cursor this route gave.",
        ));
    };
    if t != tag {
        return Err(ApiError::conflict(
            "stale_cursor",
            "The day's plan was made again since this cursor was given; start from the first page.",
        ));
    }
    Ok((row, limit))
}

/// The query of the plan and queue routes (parsed here, so that a bad query is JSON too).
fn plan_query(q: Option<&str>) -> Result<PlanPage, ApiError> {
    serde_urlencoded::from_str::<PlanPage>(q.unwrap_or_default()).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_query",
            format!("The query string could not be read: {e}."),
        )
    })
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn business_config() -> Config {
    Config::default()
}

fn today() -> Date {
    business_config().business_tz.date_of(now())
}

/// The `as_of` of a query string (parsed here, so that a bad query is a JSON error too).
fn query_as_of(q: Option<&str>) -> Result<Option<String>, ApiError> {
    query_value(q, "as_of")
}

/// The first value of `name` in a query string (400 `bad_query` when it cannot be read).
pub(crate) fn query_value(q: Option<&str>, name: &str) -> Result<Option<String>, ApiError> {
    let Some(q) = q else { return Ok(None) };
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(q).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_query",
            format!("The query string could not be read: {e}."),
        )
    })?;
    Ok(pairs.into_iter().find(|(k, _)| k == name).map(|(_, v)| v))
}

fn as_of_param(q: Option<&str>) -> Result<Date, ApiError> {
    match q {
        None | Some("") => Ok(today()),
        Some(s) => date("as_of", s),
    }
}

fn required_as_of(q: Option<&str>) -> Result<Date, ApiError> {
    match q {
        None | Some("") => Err(ApiError::invalid(
            "invalid_field",
            "Field as_of: the business date is required (?as_of=YYYY-MM-DD).",
        )),
        Some(s) => date("as_of", s),
    }
}

/// A free-text field: 1 to `max` characters, no control characters but newlines.
fn words(column: &str, s: &str, max: usize) -> Result<String, ApiError> {
    let t = s.trim();
    if t.is_empty() || t.chars().count() > max {
        return Err(ApiError::invalid(
            "invalid_field",
            format!("Field {column}: give 1 to {max} characters."),
        ));
    }
    if t.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ApiError::invalid(
            "invalid_field",
            format!("Field {column}: control characters are not accepted."),
        ));
    }
    Ok(t.to_owned())
}

/// Who a write names: the authenticated principal (the token's name). A body field naming
/// anyone else is refused (422 `principal_mismatch`): every write names a real user or
/// token, never free text.
fn principal(actor: &Actor, column: &str, given: Option<&str>) -> Result<String, ApiError> {
    match given.map(str::trim) {
        None => Ok(actor.0.clone()),
        Some(g) if g == actor.0 => Ok(actor.0.clone()),
        Some(g) => Err(ApiError::invalid(
            "principal_mismatch",
            format!(
                "Field {column}: {g:?} is not the caller; it is taken from the token ({:?}), so leave it out or send that.",
                actor.0
            ),
        )),
    }
}

fn opt_words(column: &str, s: Option<&str>, max: usize) -> Result<Option<String>, ApiError> {
    s.map(|s| words(column, s, max)).transpose()
}

fn positive(column: &'static str, v: i64) -> Result<i64, ApiError> {
    Minor::positive(column, v).map(|m| m.get()).map_err(field)
}

fn loan(s: &str) -> Result<String, ApiError> {
    Ok(LoanId::parse("loan_id", s)
        .map_err(field)?
        .as_str()
        .to_owned())
}

fn parse_body<T: serde::de::DeserializeOwned>(
    raw: &serde_json::Value,
    what: &str,
) -> Result<T, ApiError> {
    serde_json::from_value(raw.clone())
        .map_err(|e| ApiError::invalid("invalid_body", format!("The body is not {what}: {e}.")))
}

fn work_error(e: WorkError) -> ApiError {
    match e {
        WorkError::NotFound { what, id } => ApiError::not_found(
            match what {
                "loan" => "unknown_loan",
                "borrower" => "unknown_borrower",
                "payment plan" => "unknown_plan",
                "placement" => "unknown_placement",
                "legal case" => "unknown_case",
                _ => "not_found",
            },
            format!("There is no {what} {id:?}."),
        ),
        WorkError::Invalid(why) => ApiError::invalid("invalid_field", format!("{why}.")),
        WorkError::State { code, message } => ApiError::conflict(code, message),
        WorkError::Store(e) => ApiError::internal(e),
        other => ApiError::internal(other),
    }
}

fn decide_escalation(
    state: &AppState,
    channel: Channel,
    loan_id: &str,
    agency_id: Option<&str>,
    at: Timestamp,
    bc: &BorrowerContacts,
) -> Result<(), Denied> {
    let mut p = ProposedContact::new(bc.borrower.id.clone(), channel, Party::Borrower, None);
    p.loan_id = LoanId::parse("loan_id", loan_id).ok();
    p.agency_id = agency_id.map(str::to_owned);
    let d = crate::api::decide(state, &p, bc, at);
    let allowed = d.is_allowed();
    let out = Denied::unless_allowed(d);
    let rules: Vec<String> = match &out {
        Ok(()) => Vec::new(),
        Err(Denied(r, _)) => r.clone(),
    };
    let r: Vec<&str> = rules.iter().map(String::as_str).collect();
    state.metrics().decision(allowed, &r);
    out
}

/// Answers what the store made of a write.
pub(crate) fn answer(
    outcome: Ingested<Denied>,
    id: &str,
    denied_code: &'static str,
    what: &str,
) -> Result<Response, ApiError> {
    let recorded = |status: StatusCode, s: &str| Recorded::answer(status, id, s, None);
    match outcome {
        Ingested::Recorded => Ok(recorded(StatusCode::CREATED, "recorded")),
        Ingested::AlreadyRecorded => Ok(recorded(StatusCode::OK, "already_recorded")),
        Ingested::Conflict => Err(ApiError::conflict(
            "request_conflict",
            format!("{id:?} was already recorded with a different body; nothing was changed."),
        )),
        Ingested::Refused(Denied(rules, earliest)) => {
            let mut e = ApiError::invalid(
                denied_code,
                format!(
                    "The conduct rules deny this {what} ({}); it was not recorded.",
                    rules.join(", ")
                ),
            );
            e.denial = Some((rules, earliest));
            Err(e)
        }
    }
}

fn never(o: Ingested<()>) -> Ingested<Denied> {
    match o {
        Ingested::Recorded => Ingested::Recorded,
        Ingested::AlreadyRecorded => Ingested::AlreadyRecorded,
        Ingested::Conflict => Ingested::Conflict,
        Ingested::Refused(()) => Ingested::Conflict,
    }
}

pub(crate) struct Body {
    body: String,
    hash: String,
}

pub(crate) fn body_of(raw: &serde_json::Value) -> Body {
    let body = canonical_json(raw);
    let hash = sha256_hex(body.as_bytes());
    Body { body, hash }
}

pub(crate) fn meta<'a>(key: &'a str, kind: &'a str, b: &'a Body, actor: &'a Actor) -> WorkMeta<'a> {
    WorkMeta {
        key,
        kind,
        body: &b.body,
        body_sha256: &b.hash,
        received_at: now(),
        actor: &actor.0,
    }
}

/// The loan's borrower (404 when there is no such loan), with the read logged.
pub(crate) async fn read_loan(
    state: &AppState,
    actor: &Actor,
    action: &str,
    loan_id: &str,
) -> Result<String, ApiError> {
    let loan_id = loan(loan_id)?;
    let borrower = state
        .store()
        .loan_borrower(&loan_id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| {
            ApiError::not_found("unknown_loan", format!("There is no loan {loan_id:?}."))
        })?;
    log_access(state, actor, action, &borrower, Some(&loan_id)).await?;
    Ok(loan_id)
}

fn ts(t: Timestamp) -> String {
    t.to_string()
}

// ---------------------------------------------------------------------------------------
// Promises
// ---------------------------------------------------------------------------------------

/// A loan's promises (imported and ingested) with their status as of a date.
#[utoipa::path(
    get,
    path = "/v1/loans/{loan_id}/promises",
    tag = "work",
    params(("loan_id" = String, Path, description = "The loan"), AsOf, ListPage),
    responses(
        (status = 200, description = "A page of the promises, oldest first", body = LoanPromises),
        (status = 400, description = "A query string that cannot be read", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 404, description = "Unknown loan", body = ErrorBody),
        (status = 422, description = "A bad as_of, limit or offset", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn loan_promises(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(loan_id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<axum::Json<LoanPromises>, ApiError> {
    let as_of = as_of_param(query_as_of(q.as_deref())?.as_deref())?;
    let window = list_window(q.as_deref())?;
    let loan_id = read_loan(&state, &actor, "promises.list", &loan_id).await?;
    let zone = business_config().business_tz;
    let ps = state
        .store()
        .loan_promises(&loan_id, as_of, &zone)
        .await
        .map_err(ApiError::internal)?;
    let (ps, total, next_offset) = list_page(ps, window);
    Ok(axum::Json(LoanPromises {
        loan_id,
        as_of: as_of.to_string(),
        total,
        next_offset,
        promises: ps
            .into_iter()
            .map(|p| {
                use arrears_engine::PromiseOutcome as O;
                let (kept_on, broken_on) = match p.outcome {
                    O::Kept { on } => (Some(on.to_string()), None),
                    O::Broken { on } => (None, Some(on.to_string())),
                    O::Pending => (None, None),
                };
                PromiseJson {
                    promise_id: p.promise_id,
                    created_at: ts(p.created_at),
                    amount_minor: p.amount_minor,
                    due_date: p.due_date.to_string(),
                    status: p.outcome.code().to_owned(),
                    kept_on,
                    broken_on,
                }
            })
            .collect(),
    }))
}

// ---------------------------------------------------------------------------------------
// Payment plans
// ---------------------------------------------------------------------------------------

/// The most instalments a plan may have.
pub const MAX_INSTALLMENTS: usize = 120;

/// Records a payment plan, idempotently by `plan_id`.
#[utoipa::path(
    post,
    path = "/v1/payment-plans",
    tag = "work",
    request_body = PlanRequest,
    responses(
        (status = 413, description = "A body larger than the service accepts (`body_too_large`)", body = ErrorBody),
        (status = 415, description = "A body not sent as `Content-Type: application/json` (`unsupported_media_type`)", body = ErrorBody),
        (status = 201, description = "Recorded", body = Recorded),
        (status = 200, description = "The same plan was recorded before", body = Recorded),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 404, description = "Unknown loan", body = ErrorBody),
        (status = 409, description = "The id was recorded with another body", body = ErrorBody),
        (status = 422, description = "A bad value, or instalments that do not cover the arrears", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create_plan(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    ApiJson(raw): ApiJson<serde_json::Value>,
) -> Result<Response, ApiError> {
    let req: PlanRequest = parse_body(&raw, "a payment plan")?;
    let plan_id = plain_id("plan_id", &req.plan_id)?;
    let loan_id = loan(&req.loan_id)?;
    let created_at = instant("created_at", &req.created_at)?;
    let created_by = principal(&actor, "created_by", req.created_by.as_deref())?;
    let status = req.status.as_deref().unwrap_or("proposed");
    if !matches!(status, "proposed" | "active") {
        return Err(ApiError::invalid(
            "invalid_field",
            format!("Field status: a new plan is proposed or active, not {status:?}."),
        ));
    }
    if req.installments.is_empty() || req.installments.len() > MAX_INSTALLMENTS {
        return Err(ApiError::invalid(
            "invalid_field",
            format!("Field installments: give 1 to {MAX_INSTALLMENTS} instalments."),
        ));
    }
    let start = business_config().business_tz.date_of(created_at);
    let mut installments = Vec::with_capacity(req.installments.len());
    let mut prev: Option<Date> = None;
    let mut total: i128 = 0;
    for (i, it) in req.installments.iter().enumerate() {
        let due = date("installments.due_date", &it.due_date)?;
        let amount = positive("installments.amount_minor", it.amount_minor)?;
        if prev.is_some_and(|p| due <= p) {
            return Err(ApiError::invalid(
                "invalid_field",
                format!(
                    "Field installments[{i}].due_date: {due} is not after the previous instalment's."
                ),
            ));
        }
        if due < start {
            return Err(ApiError::invalid(
                "invalid_field",
                format!("Field installments[{i}].due_date: {due} is before the plan was made."),
            ));
        }
        total += i128::from(amount);
        prev = Some(due);
        installments.push((due, amount));
    }
    if total > i128::from(arrears_domain::types::MAX_AMOUNT_MINOR) {
        return Err(ApiError::invalid(
            "invalid_field",
            "Field installments: the instalments add up to more than an amount can be.",
        ));
    }
    let plan = NewPlan {
        plan_id: plan_id.clone(),
        loan_id,
        created_at,
        created_by,
        installments,
        status: status.to_owned(),
    };
    let b = body_of(&raw);
    let key = format!("payment_plan:{plan_id}");
    let out = state
        .store()
        .record_plan(&meta(&key, "payment_plan", &b, &actor), &plan)
        .await
        .map_err(work_error)?;
    answer(never(out), &plan_id, "denied", "plan")
}

/// Moves a payment plan to another status (only legal transitions).
#[utoipa::path(
    post,
    path = "/v1/payment-plans/{plan_id}/status",
    tag = "work",
    params(("plan_id" = String, Path, description = "The plan")),
    request_body = PlanStatusRequest,
    responses(
        (status = 400, description = "Malformed JSON (`malformed_json`)", body = ErrorBody),
        (status = 413, description = "A body larger than the service accepts (`body_too_large`)", body = ErrorBody),
        (status = 415, description = "A body not sent as `Content-Type: application/json` (`unsupported_media_type`)", body = ErrorBody),
        (status = 201, description = "Recorded", body = Recorded),
        (status = 200, description = "The same change was recorded before", body = Recorded),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 404, description = "Unknown plan", body = ErrorBody),
        (status = 409, description = "An illegal transition, or the change was recorded with another body", body = ErrorBody),
        (status = 422, description = "A bad value", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn change_plan_status(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(plan_id): Path<String>,
    ApiJson(raw): ApiJson<serde_json::Value>,
) -> Result<Response, ApiError> {
    let req: PlanStatusRequest = parse_body(&raw, "a status change")?;
    let plan_id = plain_id("plan_id", &plan_id)?;
    if !arrears_store::PLAN_STATUSES.contains(&req.status.as_str()) {
        return Err(ApiError::invalid(
            "invalid_field",
            format!(
                "Field status: {:?} is not one of {}.",
                req.status,
                arrears_store::PLAN_STATUSES.join(", ")
            ),
        ));
    }
    let change = StatusChange {
        status: req.status.clone(),
        at: instant("at", &req.at)?,
        reason: opt_words("reason", req.reason.as_deref(), 1000)?,
        actor: actor.0.clone(),
    };
    let b = body_of(&raw);
    let key = format!("plan_status:{plan_id}:{}", req.status);
    let out = state
        .store()
        .change_plan_status(&meta(&key, "plan_status", &b, &actor), &plan_id, &change)
        .await
        .map_err(work_error)?;
    answer(never(out), &plan_id, "denied", "change")
}

/// A loan's payment plans, each instalment paid or not as of a date.
#[utoipa::path(
    get,
    path = "/v1/loans/{loan_id}/payment-plans",
    tag = "work",
    params(("loan_id" = String, Path, description = "The loan"), AsOf, ListPage),
    responses(
        (status = 200, description = "A page of the plans, oldest first", body = LoanPlans),
        (status = 400, description = "A query string that cannot be read", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 404, description = "Unknown loan", body = ErrorBody),
        (status = 422, description = "A bad as_of, limit or offset", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn loan_plans(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(loan_id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<axum::Json<LoanPlans>, ApiError> {
    let as_of = as_of_param(query_as_of(q.as_deref())?.as_deref())?;
    let window = list_window(q.as_deref())?;
    let loan_id = read_loan(&state, &actor, "payment_plans.list", &loan_id).await?;
    let zone = business_config().business_tz;
    let plans = state
        .store()
        .loan_plans(&loan_id, as_of, &zone)
        .await
        .map_err(ApiError::internal)?;
    let (plans, total, next_offset) = list_page(plans, window);
    Ok(axum::Json(LoanPlans {
        loan_id,
        as_of: as_of.to_string(),
        total,
        next_offset,
        plans: plans
            .into_iter()
            .map(|p| PlanJson {
                total_minor: p.installments.iter().map(|i| i.amount_minor).sum(),
                paid_minor: p.installments.iter().map(|i| i.progress.paid_minor).sum(),
                installments: p
                    .installments
                    .iter()
                    .map(|i| InstallmentJson {
                        seq: i.seq,
                        due_date: i.due_date.to_string(),
                        amount_minor: i.amount_minor,
                        paid_minor: i.progress.paid_minor,
                        state: if i.progress.paid_on.is_some() {
                            "paid"
                        } else {
                            "unpaid"
                        }
                        .to_owned(),
                        paid_on: i.progress.paid_on.map(|d| d.to_string()),
                        overdue: i.progress.paid_on.is_none() && i.due_date < as_of,
                    })
                    .collect(),
                history: p
                    .history
                    .into_iter()
                    .map(|h| StatusChangeJson {
                        status: h.status,
                        at: ts(h.at),
                        reason: h.reason,
                        actor: h.actor,
                    })
                    .collect(),
                plan_id: p.plan_id,
                loan_id: p.loan_id,
                created_at: ts(p.created_at),
                created_by: p.created_by,
                status: p.status,
            })
            .collect(),
    }))
}

// ---------------------------------------------------------------------------------------
// Placements
// ---------------------------------------------------------------------------------------

/// Places a loan with a collection agency: refused when the loan has a live placement (409)
/// or the `agency_placement` check denies it (422 with the rule ids).
#[utoipa::path(
    post,
    path = "/v1/placements",
    tag = "work",
    request_body = PlacementRequest,
    responses(
        (status = 400, description = "Malformed JSON (`malformed_json`)", body = ErrorBody),
        (status = 413, description = "A body larger than the service accepts (`body_too_large`)", body = ErrorBody),
        (status = 415, description = "A body not sent as `Content-Type: application/json` (`unsupported_media_type`)", body = ErrorBody),
        (status = 201, description = "Recorded", body = Recorded),
        (status = 200, description = "The same placement was recorded before", body = Recorded),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 404, description = "Unknown loan", body = ErrorBody),
        (status = 409, description = "A live placement exists, or the id was recorded with another body", body = ErrorBody),
        (status = 422, description = "A bad value, or a placement the rules deny (with rule_ids)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create_placement(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    ApiJson(raw): ApiJson<serde_json::Value>,
) -> Result<Response, ApiError> {
    let req: PlacementRequest = parse_body(&raw, "a placement")?;
    let placement_id = plain_id("placement_id", &req.placement_id)?;
    let p = NewPlacement {
        placement_id: placement_id.clone(),
        loan_id: loan(&req.loan_id)?,
        agency_id: plain_id("agency_id", &req.agency_id)?,
        placed_at: instant("placed_at", &req.placed_at)?,
        commission_bps: match req.commission_bps {
            Some(c) if !(0..=10_000).contains(&c) => {
                return Err(ApiError::invalid(
                    "invalid_field",
                    format!("Field commission_bps: {c} is not between 0 and 10000."),
                ));
            }
            c => c,
        },
    };
    let b = body_of(&raw);
    let key = format!("placement:{placement_id}");
    let out = state
        .store()
        .record_placement(&meta(&key, "placement", &b, &actor), &p, |bc| {
            decide_escalation(
                &state,
                Channel::AgencyPlacement,
                &p.loan_id,
                Some(p.agency_id.as_str()),
                p.placed_at,
                bc,
            )
        })
        .await
        .map_err(work_error)?;
    answer(out, &placement_id, "placement_denied", "placement")
}

/// Recalls a live placement.
#[utoipa::path(
    post,
    path = "/v1/placements/{placement_id}/recall",
    tag = "work",
    params(("placement_id" = String, Path, description = "The placement")),
    request_body = RecallRequest,
    responses(
        (status = 400, description = "Malformed JSON (`malformed_json`)", body = ErrorBody),
        (status = 413, description = "A body larger than the service accepts (`body_too_large`)", body = ErrorBody),
        (status = 415, description = "A body not sent as `Content-Type: application/json` (`unsupported_media_type`)", body = ErrorBody),
        (status = 201, description = "Recorded", body = Recorded),
        (status = 200, description = "The same recall was recorded before", body = Recorded),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 404, description = "Unknown placement", body = ErrorBody),
        (status = 409, description = "Already recalled with another body", body = ErrorBody),
        (status = 422, description = "A bad value", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn recall_placement(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(placement_id): Path<String>,
    ApiJson(raw): ApiJson<serde_json::Value>,
) -> Result<Response, ApiError> {
    let req: RecallRequest = parse_body(&raw, "a recall")?;
    let placement_id = plain_id("placement_id", &placement_id)?;
    let recall = Recall {
        recalled_at: instant("recalled_at", &req.recalled_at)?,
        reason: words("reason", &req.reason, 1000)?,
        actor: actor.0.clone(),
    };
    let b = body_of(&raw);
    let key = format!("recall:{placement_id}");
    let out = state
        .store()
        .recall_placement(&meta(&key, "recall", &b, &actor), &placement_id, &recall)
        .await
        .map_err(work_error)?;
    answer(never(out), &placement_id, "denied", "recall")
}

/// A loan's placements, live and recalled.
#[utoipa::path(
    get,
    path = "/v1/loans/{loan_id}/placements",
    tag = "work",
    params(("loan_id" = String, Path, description = "The loan"), ListPage),
    responses(
        (status = 200, description = "A page of the placements, oldest first", body = LoanPlacements),
        (status = 400, description = "A query string that cannot be read", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 404, description = "Unknown loan", body = ErrorBody),
        (status = 422, description = "A bad limit or offset", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn loan_placements(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(loan_id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<axum::Json<LoanPlacements>, ApiError> {
    let window = list_window(q.as_deref())?;
    let loan_id = read_loan(&state, &actor, "placements.list", &loan_id).await?;
    let ps = state
        .store()
        .loan_placements(&loan_id)
        .await
        .map_err(ApiError::internal)?;
    let (ps, total, next_offset) = list_page(ps, window);
    Ok(axum::Json(LoanPlacements {
        loan_id,
        total,
        next_offset,
        placements: ps
            .into_iter()
            .map(|p| PlacementJson {
                state: if p.recall.is_some() {
                    "recalled"
                } else {
                    "live"
                }
                .to_owned(),
                recalled_at: p.recall.as_ref().map(|r| ts(r.recalled_at)),
                recall_reason: p.recall.map(|r| r.reason),
                placement_id: p.placement_id,
                loan_id: p.loan_id,
                agency_id: p.agency_id,
                placed_at: ts(p.placed_at),
                commission_bps: p.commission_bps,
                placed_by: p.placed_by,
            })
            .collect(),
    }))
}

// ---------------------------------------------------------------------------------------
// Legal cases
// ---------------------------------------------------------------------------------------

/// Opens a legal case (status `filed`) after the `legal_referral` check.
#[utoipa::path(
    post,
    path = "/v1/legal-cases",
    tag = "work",
    request_body = LegalCaseRequest,
    responses(
        (status = 400, description = "Malformed JSON (`malformed_json`)", body = ErrorBody),
        (status = 413, description = "A body larger than the service accepts (`body_too_large`)", body = ErrorBody),
        (status = 415, description = "A body not sent as `Content-Type: application/json` (`unsupported_media_type`)", body = ErrorBody),
        (status = 201, description = "Recorded", body = Recorded),
        (status = 200, description = "The same case was recorded before", body = Recorded),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 404, description = "Unknown loan", body = ErrorBody),
        (status = 409, description = "The id was recorded with another body", body = ErrorBody),
        (status = 422, description = "A bad value, or a referral the rules deny (with rule_ids)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create_legal_case(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    ApiJson(raw): ApiJson<serde_json::Value>,
) -> Result<Response, ApiError> {
    let req: LegalCaseRequest = parse_body(&raw, "a legal case")?;
    let case_id = plain_id("case_id", &req.case_id)?;
    let c = NewCase {
        case_id: case_id.clone(),
        loan_id: loan(&req.loan_id)?,
        court: words("court", &req.court, 200)?,
        case_number: words("case_number", &req.case_number, 100)?,
        amount_claimed_minor: positive("amount_claimed_minor", req.amount_claimed_minor)?,
        filed_at: instant("filed_at", &req.filed_at)?,
        note: opt_words("note", req.note.as_deref(), 2000)?,
    };
    let b = body_of(&raw);
    let key = format!("legal_case:{case_id}");
    let out = state
        .store()
        .open_legal_case(&meta(&key, "legal_case", &b, &actor), &c, |bc| {
            decide_escalation(
                &state,
                Channel::LegalReferral,
                &c.loan_id,
                None,
                c.filed_at,
                bc,
            )
        })
        .await
        .map_err(work_error)?;
    answer(out, &case_id, "legal_referral_denied", "legal referral")
}

/// Moves a legal case forward: judgment, enforcement, closed.
#[utoipa::path(
    post,
    path = "/v1/legal-cases/{case_id}/status",
    tag = "work",
    params(("case_id" = String, Path, description = "The case")),
    request_body = LegalStatusRequest,
    responses(
        (status = 400, description = "Malformed JSON (`malformed_json`)", body = ErrorBody),
        (status = 413, description = "A body larger than the service accepts (`body_too_large`)", body = ErrorBody),
        (status = 415, description = "A body not sent as `Content-Type: application/json` (`unsupported_media_type`)", body = ErrorBody),
        (status = 201, description = "Recorded", body = Recorded),
        (status = 200, description = "The same update was recorded before", body = Recorded),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 404, description = "Unknown case", body = ErrorBody),
        (status = 409, description = "An illegal transition, or the update was recorded with another body", body = ErrorBody),
        (status = 422, description = "A bad value", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn update_legal_case(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(case_id): Path<String>,
    ApiJson(raw): ApiJson<serde_json::Value>,
) -> Result<Response, ApiError> {
    let req: LegalStatusRequest = parse_body(&raw, "a legal case update")?;
    let case_id = plain_id("case_id", &case_id)?;
    if !arrears_store::CASE_STATUSES.contains(&req.status.as_str()) {
        return Err(ApiError::invalid(
            "invalid_field",
            format!(
                "Field status: {:?} is not one of {}.",
                req.status,
                arrears_store::CASE_STATUSES.join(", ")
            ),
        ));
    }
    let awarded = match req.amount_awarded_minor {
        Some(a) if a < 0 => {
            return Err(ApiError::invalid(
                "invalid_field",
                format!("Field amount_awarded_minor: {a} is negative."),
            ));
        }
        Some(_) if req.status != "judgment" => {
            return Err(ApiError::invalid(
                "invalid_field",
                "Field amount_awarded_minor: an amount is awarded with a judgment.",
            ));
        }
        a => a,
    };
    let u = CaseUpdate {
        status: req.status.clone(),
        at: instant("at", &req.at)?,
        amount_awarded_minor: awarded,
        note: opt_words("note", req.note.as_deref(), 2000)?,
        actor: actor.0.clone(),
    };
    let b = body_of(&raw);
    let key = format!("legal_status:{case_id}:{}", req.status);
    // A judgment with its date, or a closing with its outcome, is the court path's step
    // (`arrears_store::CaseStep`, docs/legal.md); the rest as before.
    let step = match (req.status.as_str(), &req.judgment_on, &req.outcome) {
        ("judgment", Some(on), None) => Some(arrears_store::CaseStep::Judgment {
            amount_awarded_minor: awarded.ok_or_else(|| {
                ApiError::invalid(
                    "invalid_field",
                    "Field amount_awarded_minor: a judgment with its date names the amount awarded.",
                )
            })?,
            judgment_on: date("judgment_on", on)?,
        }),
        ("closed", None, Some(o)) => {
            if !arrears_store::CASE_OUTCOMES.contains(&o.as_str()) {
                return Err(ApiError::invalid(
                    "invalid_field",
                    format!(
                        "Field outcome: {o:?} is not one of {}.",
                        arrears_store::CASE_OUTCOMES.join(", ")
                    ),
                ));
            }
            Some(arrears_store::CaseStep::Closed {
                outcome: Some(o.clone()),
            })
        }
        (_, None, None) => None,
        _ => {
            return Err(ApiError::invalid(
                "invalid_field",
                "Field judgment_on goes with a judgment, outcome with closed.",
            ));
        }
    };
    let m = meta(&key, "legal_status", &b, &actor);
    let out = match step {
        Some(step) => state
            .store()
            .advance_case(&m, &case_id, &step, u.at, u.note.as_deref())
            .await
            .map_err(work_error)?,
        None => state
            .store()
            .update_legal_case(&m, &case_id, &u)
            .await
            .map_err(work_error)?,
    };
    answer(never(out), &case_id, "denied", "update")
}

/// A loan's legal cases with their history.
#[utoipa::path(
    get,
    path = "/v1/loans/{loan_id}/legal-cases",
    tag = "work",
    params(("loan_id" = String, Path, description = "The loan"), ListPage),
    responses(
        (status = 200, description = "A page of the cases", body = LoanLegalCases),
        (status = 400, description = "A query string that cannot be read", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 404, description = "Unknown loan", body = ErrorBody),
        (status = 422, description = "A bad limit or offset", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn loan_legal_cases(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(loan_id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<axum::Json<LoanLegalCases>, ApiError> {
    let window = list_window(q.as_deref())?;
    let loan_id = read_loan(&state, &actor, "legal_cases.list", &loan_id).await?;
    let cs = state
        .store()
        .loan_legal_cases(&loan_id)
        .await
        .map_err(ApiError::internal)?;
    let (cs, total, next_offset) = list_page(cs, window);
    Ok(axum::Json(LoanLegalCases {
        loan_id,
        total,
        next_offset,
        cases: cs
            .into_iter()
            .map(|c| LegalCaseJson {
                case_id: c.case_id,
                loan_id: c.loan_id,
                court: c.court,
                case_number: c.case_number,
                amount_claimed_minor: c.amount_claimed_minor,
                amount_awarded_minor: c.amount_awarded_minor,
                status: c.status,
                history: c
                    .history
                    .into_iter()
                    .map(|h| CaseUpdateJson {
                        status: h.status,
                        at: ts(h.at),
                        amount_awarded_minor: h.amount_awarded_minor,
                        note: h.note,
                        actor: h.actor,
                    })
                    .collect(),
            })
            .collect(),
    }))
}

// ---------------------------------------------------------------------------------------
// Write-offs
// ---------------------------------------------------------------------------------------

/// Records a write-off, checked against the loan's latest snapshot.
#[utoipa::path(
    post,
    path = "/v1/write-offs",
    tag = "work",
    request_body = WriteOffRequest,
    responses(
        (status = 400, description = "Malformed JSON (`malformed_json`)", body = ErrorBody),
        (status = 413, description = "A body larger than the service accepts (`body_too_large`)", body = ErrorBody),
        (status = 415, description = "A body not sent as `Content-Type: application/json` (`unsupported_media_type`)", body = ErrorBody),
        (status = 201, description = "Recorded", body = Recorded),
        (status = 200, description = "The same write-off was recorded before", body = Recorded),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 404, description = "Unknown loan", body = ErrorBody),
        (status = 409, description = "No snapshot yet, or the id was recorded with another body", body = ErrorBody),
        (status = 422, description = "A bad value, or more than is outstanding", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create_write_off(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    ApiJson(raw): ApiJson<serde_json::Value>,
) -> Result<Response, ApiError> {
    let req: WriteOffRequest = parse_body(&raw, "a write-off")?;
    let id = plain_id("write_off_id", &req.write_off_id)?;
    let w = NewWriteOff {
        write_off_id: id.clone(),
        loan_id: loan(&req.loan_id)?,
        amount_minor: positive("amount_minor", req.amount_minor)?,
        reason: words("reason", &req.reason, 1000)?,
        approved_by: principal(&actor, "approved_by", req.approved_by.as_deref())?,
    };
    let b = body_of(&raw);
    let key = format!("write_off:{id}");
    let out = state
        .store()
        .record_write_off(&meta(&key, "write_off", &b, &actor), &w)
        .await
        .map_err(work_error)?;
    answer(never(out), &id, "denied", "write-off")
}

/// A loan's write-offs.
#[utoipa::path(
    get,
    path = "/v1/loans/{loan_id}/write-offs",
    tag = "work",
    params(("loan_id" = String, Path, description = "The loan"), ListPage),
    responses(
        (status = 200, description = "A page of the write-offs, oldest first", body = LoanWriteOffs),
        (status = 400, description = "A query string that cannot be read", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 404, description = "Unknown loan", body = ErrorBody),
        (status = 422, description = "A bad limit or offset", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn loan_write_offs(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(loan_id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<axum::Json<LoanWriteOffs>, ApiError> {
    let window = list_window(q.as_deref())?;
    let loan_id = read_loan(&state, &actor, "write_offs.list", &loan_id).await?;
    let ws = state
        .store()
        .loan_write_offs(&loan_id)
        .await
        .map_err(ApiError::internal)?;
    let (ws, total, next_offset) = list_page(ws, window);
    Ok(axum::Json(LoanWriteOffs {
        loan_id,
        total,
        next_offset,
        write_offs: ws
            .into_iter()
            .map(|w| WriteOffJson {
                write_off_id: w.write_off_id,
                loan_id: w.loan_id,
                amount_minor: w.amount_minor,
                reason: w.reason,
                approved_by: w.approved_by,
                snapshot_as_of: w.snapshot_as_of.to_string(),
                outstanding_minor: w.outstanding_minor,
                recorded_at: ts(w.recorded_at),
                recorded_by: w.actor,
            })
            .collect(),
    }))
}

// ---------------------------------------------------------------------------------------
// The day's plan and queues
// ---------------------------------------------------------------------------------------

fn local(t: Timestamp, tz: &jiff::tz::TimeZone) -> String {
    let z = t.to_zoned(tz.clone());
    z.timestamp().display_with_offset(z.offset()).to_string()
}

fn default_strategy() -> Result<&'static arrears_strategy::Strategy, ApiError> {
    crate::workbench::default_strategy().map_err(ApiError::internal)
}

/// No key on the server: no verification code can be issued (as `arrears plan` without
/// `--keys`).
/// Runs the daily run and the planner over the stored portfolio (what `arrears plan --db`
/// does, without writing files or the audit log), and checks the plan independently.
async fn run_plan(state: &AppState, as_of: Date) -> Result<PlanResponse, ApiError> {
    let portfolio = state
        .store()
        .load_portfolio()
        .await
        .map_err(ApiError::internal)?;
    let lifecycle = state
        .store()
        .all_lifecycle()
        .await
        .map_err(ApiError::internal)?;
    let strategy = default_strategy()?;
    let policies = state.policies_for_day(as_of);
    tokio::task::spawn_blocking(move || {
        plan_over(&portfolio, &lifecycle, as_of, strategy, &policies)
    })
    .await
    .map_err(ApiError::internal)?
}

fn plan_over(
    p: &arrears_domain::Portfolio,
    lifecycle: &arrears_domain::Lifecycle,
    as_of: Date,
    strategy: &arrears_strategy::Strategy,
    policies: &crate::DayPolicies,
) -> Result<PlanResponse, ApiError> {
    use arrears_strategy::ActionKind;
    let (planned, _) = crate::workbench::plan_portfolio(
        p,
        lifecycle,
        as_of,
        &business_config(),
        strategy,
        policies,
    )
    .map_err(ApiError::internal)?;
    let zones: std::collections::HashMap<&str, &jiff::tz::TimeZone> = p
        .borrowers
        .iter()
        .map(|b| (b.id.as_str(), b.timezone.tz()))
        .collect();
    let utc = jiff::tz::TimeZone::UTC;
    let zone = |b: &str| zones.get(b).copied().unwrap_or(&utc);
    let mut actions: Vec<ActionJson> = planned
        .actions
        .iter()
        .map(|x| {
            let tz = zone(x.borrower_id.as_str());
            ActionJson {
                action_id: x.action_id.clone(),
                loan_id: x.loan_id.as_str().to_owned(),
                borrower_id: x.borrower_id.as_str().to_owned(),
                kind: x.kind.code().to_owned(),
                channel: x.channel.code().to_owned(),
                party: x.party.code().to_owned(),
                target: x.target.as_ref().map(|t| t.as_str().to_owned()),
                template: x.template.clone(),
                language: Some(x.language.tag().to_owned()),
                not_before: local(x.not_before, tz),
                not_after: local(x.not_after, tz),
                queue: x.queue.clone(),
                priority: x.priority,
                rule_id: x.rule_id.clone(),
                arm: x.arm.clone(),
                stage: Some(x.stage.clone()),
                verification_code: x.verification_code.clone(),
            }
        })
        .collect();
    actions.extend(planned.proposals.iter().map(|x| {
        let at = local(x.at, zone(x.borrower_id.as_str()));
        ActionJson {
            action_id: x.action_id.clone(),
            loan_id: x.loan_id.as_str().to_owned(),
            borrower_id: x.borrower_id.as_str().to_owned(),
            kind: ActionKind::WriteOffProposal.code().to_owned(),
            channel: "internal".to_owned(),
            party: String::new(),
            target: None,
            template: None,
            language: None,
            not_before: at.clone(),
            not_after: at,
            queue: None,
            priority: None,
            rule_id: x.rule_id.clone(),
            arm: x.arm.clone(),
            stage: Some(x.stage.clone()),
            verification_code: None,
        }
    }));
    let blocked: Vec<BlockedJson> = planned
        .blocked
        .iter()
        .map(|x| {
            let tz = zone(x.borrower_id.as_str());
            BlockedJson {
                action_id: x.action_id.clone(),
                loan_id: x.loan_id.as_str().to_owned(),
                borrower_id: x.borrower_id.as_str().to_owned(),
                kind: x.kind.code().to_owned(),
                channel: x.channel.code().to_owned(),
                party: x.party.code().to_owned(),
                proposed_at: local(x.proposed_at, tz),
                queue: x.queue.clone(),
                priority: x.priority,
                rule_id: x.rule_id.clone(),
                arm: x.arm.clone(),
                stage: x.stage.clone(),
                rule_ids: x.rule_ids.iter().map(|r| r.as_str().to_owned()).collect(),
                earliest_allowed: x.earliest_allowed.map(|t| local(t, tz)),
                note: x.note.clone(),
            }
        })
        .collect();
    Ok(PlanResponse {
        as_of: as_of.to_string(),
        strategy: format!("{} {}", strategy.name, strategy.version),
        total_actions: actions.len(),
        total_blocked: blocked.len(),
        next_cursor: None,
        actions,
        blocked,
    })
}

/// Logs one read per borrower a plan or queue answer shows.
async fn log_borrowers<'a>(
    state: &AppState,
    actor: &Actor,
    action: &str,
    borrowers: impl Iterator<Item = &'a str>,
) -> Result<(), ApiError> {
    let mut seen: Vec<&str> = borrowers.collect();
    seen.sort_unstable();
    seen.dedup();
    let at = now();
    let all: Vec<Access> = seen
        .into_iter()
        .map(|b| Access {
            at,
            actor: actor.0.clone(),
            action: action.to_owned(),
            borrower_id: Some(b.to_owned()),
            loan_id: None,
        })
        .collect();
    state
        .store()
        .log_accesses(&all)
        .await
        .map_err(ApiError::internal)
}

/// One page of the day's plan over the store: the actions, then every blocked decision. The
/// plan of a business date is made once and shared by every caller ([`crate::day_plans`]).
#[utoipa::path(
    get,
    path = "/v1/plan",
    tag = "work",
    params(PlanPage),
    responses(
        (status = 400, description = "A query string that cannot be read (`bad_query`)", body = ErrorBody),
        (status = 200, description = "A page of the plan", body = PlanResponse),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 409, description = "A cursor of a plan made earlier (`stale_cursor`)", body = ErrorBody),
        (status = 422, description = "A missing or bad as_of, limit or cursor", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn get_plan(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    RawQuery(q): RawQuery,
) -> Result<axum::Json<PlanResponse>, ApiError> {
    let query = plan_query(q.as_deref())?;
    let as_of = required_as_of(query.as_of.as_deref())?;
    let made = shared_plan(&state, as_of).await?;
    let all = &made.value.plan;
    let (a, b) = (all.actions.len(), all.blocked.len());
    let (first, limit) = page_of(&query, made.tag, a + b)?;
    let end = first.saturating_add(limit).min(a + b);
    let page = PlanResponse {
        as_of: all.as_of.clone(),
        strategy: all.strategy.clone(),
        actions: all.actions[first.min(a)..end.min(a)].to_vec(),
        blocked: all.blocked[first.saturating_sub(a)..end.saturating_sub(a)].to_vec(),
        total_actions: a,
        total_blocked: b,
        next_cursor: (end < a + b).then(|| format!("{}-{end}", made.tag)),
    };
    log_borrowers(
        &state,
        &actor,
        "plan.get",
        page.actions
            .iter()
            .map(|a| a.borrower_id.as_str())
            .chain(page.blocked.iter().map(|b| b.borrower_id.as_str())),
    )
    .await?;
    Ok(axum::Json(page))
}

/// One page of a queue's call tasks for the day, by priority (1 first), then action id.
#[utoipa::path(
    get,
    path = "/v1/queues/{queue}",
    tag = "work",
    params(("queue" = String, Path, description = "The queue, as the strategy names it"), PlanPage),
    responses(
        (status = 400, description = "A query string that cannot be read (`bad_query`)", body = ErrorBody),
        (status = 200, description = "A page of the call tasks of the queue", body = QueueResponse),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 409, description = "A cursor of a plan made earlier (`stale_cursor`)", body = ErrorBody),
        (status = 422, description = "A missing or bad as_of, limit or cursor, or a bad queue name", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn get_queue(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(queue): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<axum::Json<QueueResponse>, ApiError> {
    let queue = plain_id("queue", &queue)?;
    let query = plan_query(q.as_deref())?;
    let as_of = required_as_of(query.as_of.as_deref())?;
    let made = shared_plan(&state, as_of).await?;
    let rows: &[usize] = made
        .value
        .queues
        .get(&queue)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let (first, limit) = page_of(&query, made.tag, rows.len())?;
    let end = first.saturating_add(limit).min(rows.len());
    let tasks: Vec<ActionJson> = rows[first..end]
        .iter()
        .filter_map(|&i| made.value.plan.actions.get(i).cloned())
        .collect();
    log_borrowers(
        &state,
        &actor,
        "queues.get",
        tasks.iter().map(|a| a.borrower_id.as_str()),
    )
    .await?;
    Ok(axum::Json(QueueResponse {
        queue,
        as_of: as_of.to_string(),
        tasks,
        total: rows.len(),
        next_cursor: (end < rows.len()).then(|| format!("{}-{end}", made.tag)),
    }))
}

// ---------------------------------------------------------------------------------------
// Audit export
// ---------------------------------------------------------------------------------------

/// A borrower's record from the audit log: what `arrears audit export --borrower` writes as
/// BORROWER.json, its `entries` (and the `messages` among them) a page at a time. `counts`
/// are the whole record's; a page that is not the whole record also carries `total_entries`
/// and `next_offset` (the next page's `offset`, null on the last page). Needs `--audit-log`
/// (with `--keys`).
#[utoipa::path(
    get,
    path = "/v1/borrowers/{borrower_id}/audit-export",
    tag = "work",
    params(("borrower_id" = String, Path, description = "The borrower"), ListPage),
    responses(
        (status = 200, description = "A page of the record", body = Object),
        (status = 400, description = "A query string that cannot be read", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 404, description = "No record of the borrower", body = ErrorBody),
        (status = 422, description = "A bad borrower id, limit or offset", body = ErrorBody),
        (status = 503, description = "No audit log is configured on this server", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn audit_export(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(borrower_id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    use arrears_evidence::chain::{Entry, Head, verify};
    let bid = BorrowerId::parse("borrower_id", &borrower_id).map_err(field)?;
    let window = list_window(q.as_deref())?;
    let borrower = bid.as_str().to_owned();
    let Some(ev) = state.evidence() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "audit_log_unavailable",
            "No audit log is configured on this server (start it with --keys and --audit-log).",
        ));
    };
    let log = ev.audit_log.clone();
    let read = tokio::task::spawn_blocking(move || {
        let text = match std::fs::read_to_string(&log) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(format!("reading {}: {e}", log.display())),
        };
        let mut head_path = log.as_os_str().to_owned();
        head_path.push(".head");
        let head: Option<Head> = match std::fs::read_to_string(std::path::PathBuf::from(head_path))
        {
            Ok(h) => serde_json::from_str(&h).ok(),
            Err(_) => None,
        };
        let entries: Result<Vec<Entry>, String> = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("line {}: {e}", i + 1)))
            .collect();
        Ok((entries?, head, log.display().to_string()))
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    let (entries, head, log_name) = read;
    let chain = verify(&entries, head.as_ref());
    let mine: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.borrower_id.as_deref() == Some(borrower.as_str()))
        .collect();
    // What was deleted after its retention is said, so an empty or short record is not
    // mistaken for a complete one.
    let redacted = arrears_evidence::chain::redaction_note(&entries, &mine);
    if mine.is_empty() {
        return Err(ApiError::not_found(
            "no_record",
            format!(
                "The audit log holds no record of borrower {borrower:?}{}.",
                match &redacted {
                    Some((_, text)) => format!(" ({text})"),
                    None => String::new(),
                }
            ),
        ));
    }
    log_access(&state, &actor, "audit.export", &borrower, None).await?;
    let counts = serde_json::json!({
        "decisions": mine.iter().filter(|e| e.kind.starts_with("plan.")).count(),
        "messages": mine.iter().filter(|e| e.kind == "message").count(),
        "contacts": mine.iter().filter(|e| e.kind == "contact").count(),
    });
    let whole = window.0 == 0 && mine.len() <= window.1;
    let (page, total_entries, next_offset) = list_page(mine, window);
    let messages: Vec<&serde_json::Value> = page
        .iter()
        .filter(|e| e.kind == "message")
        .map(|e| &e.data)
        .collect();
    let mut record = serde_json::json!({
        "borrower_id": borrower,
        "log": log_name,
        "chain": match &chain { Ok(()) => "intact".to_owned(), Err(e) => format!("TAMPERED: {e}") },
        "entries": page,
        "messages": messages,
        "counts": counts,
    });
    if let (false, Some(o)) = (whole, record.as_object_mut()) {
        o.insert("total_entries".into(), total_entries.into());
        o.insert("next_offset".into(), next_offset.into());
    }
    if let (Some((v, _)), Some(o)) = (redacted, record.as_object_mut()) {
        o.insert("redacted".into(), v);
    }
    Ok(axum::Json(record))
}
