//! The court path over `/v1` (`docs/legal.md`), through the one door `arrears_app::legal`:
//! the plan's referral proposals, a decision on one (approve or reject, with a reason; the
//! token's name is who decided; an approval is checked again by the compliance engine now),
//! filing an approved referral as a case, a case's file, enforcement measures and their
//! statuses, case costs. Judgment, enforcement and closing stay on
//! `POST /v1/legal-cases/{case_id}/status` (`work.rs`), which takes `judgment_on` and
//! `outcome` too. The legal letters are signed, so they are queued by `arrears legal letter`
//! (the server holds no signing key).

use crate::api::Denied;
use crate::auth::Actor;
use crate::error::{ApiError, ApiJson, ErrorBody};
use crate::work::{list_page, list_window, read_loan};
use crate::{AppState, now};
use arrears_app::legal::{self, Author, LegalError, Refusal};
use arrears_store::{FiledCase, Ingested, NewCost, NewMeasure, StoredReferral};
use axum::Extension;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/legal-referrals/{referral_id}/decision`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReferralDecisionRequest {
    /// approve or reject.
    pub decision: String,
    /// Why, 1 to 2000 characters (required both ways).
    pub reason: String,
}

/// `POST /v1/legal-referrals/{referral_id}/case`: files the case now.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FileCaseRequest {
    pub case_id: String,
    pub court: String,
    pub case_number: String,
    #[serde(default)]
    pub note: Option<String>,
}

/// `POST /v1/legal-cases/{case_id}/measures`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MeasureRequest {
    pub measure_id: String,
    /// asset_freeze, account_freeze (in any open case), wage_garnishment,
    /// dishonest_debtor_listing, spending_restriction (in enforcement).
    pub kind: String,
    /// YYYY-MM-DD.
    pub ordered_on: String,
    /// The court or enforcement authority.
    pub authority: String,
    /// applied (default) or in_force.
    #[serde(default)]
    pub status: Option<String>,
}

/// `POST /v1/legal-measures/{measure_id}/status`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MeasureStatusRequest {
    /// in_force (from applied), refused (from applied), lifted (from in_force).
    pub status: String,
    /// YYYY-MM-DD.
    pub on: String,
}

/// `POST /v1/legal-cases/{case_id}/costs`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CostRequest {
    pub cost_id: String,
    /// court_fee, lawyer_fee, enforcement_fee or other.
    pub kind: String,
    /// Integer minor units of the loan's currency, more than zero.
    pub amount_minor: i64,
    /// YYYY-MM-DD.
    pub incurred_on: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReferralJson {
    pub referral_id: String,
    pub loan_id: String,
    pub borrower_id: String,
    pub proposed_on: String,
    /// The outstanding total of the loan's latest snapshot when proposed.
    pub amount_claimed_minor: i64,
    pub currency: String,
    /// proposed, approved or rejected.
    pub status: String,
    pub reason: Option<String>,
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
    /// The case filed from it.
    pub case_id: Option<String>,
    pub case_status: Option<String>,
    /// The plan's action and strategy rule that proposed it.
    pub action_id: String,
    pub rule_id: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReferralList {
    pub referrals: Vec<ReferralJson>,
    pub total: usize,
    pub next_offset: Option<usize>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MeasureJson {
    pub measure_id: String,
    pub kind: String,
    pub ordered_on: String,
    pub authority: String,
    pub status: String,
    /// [status, date, actor] oldest first.
    pub history: Vec<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CostJson {
    pub cost_id: String,
    pub kind: String,
    pub amount_minor: i64,
    pub incurred_on: String,
    pub actor: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CaseFileJson {
    pub case_id: String,
    pub loan_id: String,
    pub borrower_id: String,
    pub court: String,
    pub case_number: String,
    pub currency: String,
    pub status: String,
    pub amount_claimed_minor: i64,
    pub amount_awarded_minor: Option<i64>,
    pub judgment_on: Option<String>,
    /// satisfied, withdrawn or terminated, for a closed case.
    pub outcome: Option<String>,
    pub referral_id: Option<String>,
    pub measures: Vec<MeasureJson>,
    pub costs: Vec<CostJson>,
    /// The sum of the costs, minor units (a decimal string: it may exceed 2^53).
    pub costs_total_minor: String,
}

fn referral_json(r: StoredReferral) -> ReferralJson {
    ReferralJson {
        referral_id: r.referral_id,
        loan_id: r.loan_id,
        borrower_id: r.borrower_id,
        proposed_on: r.proposed_on.to_string(),
        amount_claimed_minor: r.amount_claimed_minor,
        currency: r.currency,
        status: r.status,
        reason: r.reason,
        decided_by: r.decided_by,
        decided_at: r.decided_at.map(|t| t.to_string()),
        case_id: r.case_id,
        case_status: r.case_status,
        action_id: r.action_id,
        rule_id: r.rule_id,
    }
}

/// A court-path error as an API error: a bad value 422, an unknown id 404, a state that
/// forbids the step 409 with its code.
pub(crate) fn legal_error(e: LegalError) -> ApiError {
    match e {
        LegalError::Invalid(why) => ApiError::invalid("invalid_field", format!("{why}.")),
        LegalError::Work(arrears_store::WorkError::NotFound { what, id }) => ApiError::not_found(
            match what {
                "legal referral" => "unknown_referral",
                "legal case" => "unknown_case",
                "measure" => "unknown_measure",
                "loan" => "unknown_loan",
                _ => "not_found",
            },
            format!("There is no {what} {id:?}."),
        ),
        LegalError::Work(arrears_store::WorkError::Invalid(why)) => {
            ApiError::invalid("invalid_field", format!("{why}."))
        }
        LegalError::Work(arrears_store::WorkError::State { code, message }) => {
            ApiError::conflict(code, message)
        }
        other => ApiError::internal(other),
    }
}

fn denied(r: Refusal) -> Denied {
    Denied(
        r.rule_ids.iter().map(|s| (*s).to_owned()).collect(),
        r.earliest_allowed.map(|t| t.to_string()),
    )
}

fn answer<E>(
    out: Ingested<E>,
    id: &str,
    denied_code: &'static str,
    what: &str,
    refusal: impl FnOnce(E) -> Denied,
) -> Result<Response, ApiError> {
    crate::work::answer(out.map_refused(refusal), id, denied_code, what)
}

fn parse<T: serde::de::DeserializeOwned>(
    raw: serde_json::Value,
    what: &str,
) -> Result<T, ApiError> {
    serde_json::from_value(raw)
        .map_err(|e| ApiError::invalid("invalid_body", format!("The body is not {what}: {e}.")))
}

fn day(field: &str, s: &str) -> Result<Date, ApiError> {
    s.parse().map_err(|_| {
        ApiError::invalid(
            "invalid_field",
            format!("Field {field}: {s:?} is not a date (YYYY-MM-DD)."),
        )
    })
}

/// `?status=proposed|approved|rejected|all&limit=&offset=`.
#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReferralQuery {
    /// proposed (default), approved, rejected or all.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub limit: Option<usize>,
    #[serde(default)]
    pub offset: Option<usize>,
}

/// The referrals by status, oldest first.
#[utoipa::path(
    get,
    path = "/v1/legal-referrals",
    tag = "legal",
    params(ReferralQuery),
    responses(
        (status = 200, description = "A page of referrals", body = ReferralList),
        (status = 400, description = "A query string that cannot be read", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "The token lacks the `read` scope", body = ErrorBody),
        (status = 422, description = "A bad status, limit or offset", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list_referrals(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    RawQuery(q): RawQuery,
) -> Result<axum::Json<ReferralList>, ApiError> {
    let window = list_window(q.as_deref())?;
    let status = crate::work::query_value(q.as_deref(), "status")?;
    let status = match status.as_deref() {
        None | Some("") | Some("proposed") => Some("proposed"),
        Some("all") => None,
        Some(s @ ("approved" | "rejected")) => Some(s),
        Some(other) => {
            return Err(ApiError::invalid(
                "invalid_field",
                format!("Field status: {other:?} is not proposed, approved, rejected or all."),
            ));
        }
    };
    let rs = state
        .store()
        .legal_referrals(status, 100_000)
        .await
        .map_err(ApiError::internal)?;
    let (page, total, next_offset) = list_page(rs, window);
    // Each referral shown is a read of its borrower's data.
    for r in &page {
        crate::api::log_access(
            &state,
            &actor,
            "legal_referrals.list",
            &r.borrower_id,
            Some(&r.loan_id),
        )
        .await?;
    }
    Ok(axum::Json(ReferralList {
        referrals: page.into_iter().map(referral_json).collect(),
        total,
        next_offset,
    }))
}

/// Approves or rejects a proposed referral, with a reason; the token's name decides.
#[utoipa::path(
    post,
    path = "/v1/legal-referrals/{referral_id}/decision",
    tag = "legal",
    params(("referral_id" = String, Path, description = "The referral")),
    request_body = ReferralDecisionRequest,
    responses(
        (status = 201, description = "Recorded", body = crate::api::Recorded),
        (status = 200, description = "The same decision was recorded before", body = crate::api::Recorded),
        (status = 400, description = "Malformed JSON (`malformed_json`)", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "The token lacks the `work` scope", body = ErrorBody),
        (status = 404, description = "Unknown referral (`unknown_referral`)", body = ErrorBody),
        (status = 409, description = "Decided already (`already_decided`), or recorded with another body (`request_conflict`)", body = ErrorBody),
        (status = 413, description = "A body larger than the service accepts (`body_too_large`)", body = ErrorBody),
        (status = 415, description = "A body not sent as `Content-Type: application/json` (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "A bad value, or an approval the rules deny now (`legal_referral_denied`, with rule_ids: US-TIMEBAR, holds, …)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn decide_referral(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(referral_id): Path<String>,
    ApiJson(raw): ApiJson<serde_json::Value>,
) -> Result<Response, ApiError> {
    let req: ReferralDecisionRequest = parse(raw, "a referral decision")?;
    let approve = match req.decision.as_str() {
        "approve" => true,
        "reject" => false,
        other => {
            return Err(ApiError::invalid(
                "invalid_field",
                format!("Field decision: {other:?} is not approve or reject."),
            ));
        }
    };
    let at = now();
    let policy = state.policy_at(at);
    let out = legal::decide_referral(
        state.store(),
        &policy.packs,
        &referral_id,
        approve,
        &req.reason,
        at,
        Author {
            actor: &actor.0,
            now: at,
        },
    )
    .await
    .map_err(legal_error)?;
    answer(
        out,
        &referral_id,
        "legal_referral_denied",
        "legal referral",
        denied,
    )
}

/// Files the case of an approved referral now (checked again as a legal referral).
#[utoipa::path(
    post,
    path = "/v1/legal-referrals/{referral_id}/case",
    tag = "legal",
    params(("referral_id" = String, Path, description = "The approved referral")),
    request_body = FileCaseRequest,
    responses(
        (status = 201, description = "Filed", body = crate::api::Recorded),
        (status = 200, description = "The same filing was recorded before", body = crate::api::Recorded),
        (status = 400, description = "Malformed JSON (`malformed_json`)", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "The token lacks the `work` scope", body = ErrorBody),
        (status = 404, description = "Unknown referral", body = ErrorBody),
        (status = 409, description = "Not approved (`not_approved`), filed already (`already_filed`), a case id in use (`duplicate_id`), or another body (`request_conflict`)", body = ErrorBody),
        (status = 413, description = "A body larger than the service accepts (`body_too_large`)", body = ErrorBody),
        (status = 415, description = "A body not sent as `Content-Type: application/json` (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "A bad value, or a referral the rules deny now (`legal_referral_denied`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn file_case(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(referral_id): Path<String>,
    ApiJson(raw): ApiJson<serde_json::Value>,
) -> Result<Response, ApiError> {
    let req: FileCaseRequest = parse(raw, "a case to file")?;
    let at = now();
    let policy = state.policy_at(at);
    let case = FiledCase {
        case_id: req.case_id.clone(),
        court: req.court,
        case_number: req.case_number,
        filed_at: at,
        note: req.note,
    };
    let out = legal::file_case(
        state.store(),
        &policy.packs,
        &referral_id,
        &case,
        Author {
            actor: &actor.0,
            now: at,
        },
    )
    .await
    .map_err(legal_error)?;
    answer(
        out,
        &req.case_id,
        "legal_referral_denied",
        "legal referral",
        denied,
    )
}

/// A case with its referral, judgment date, outcome, measures and costs.
#[utoipa::path(
    get,
    path = "/v1/legal-cases/{case_id}",
    tag = "legal",
    params(("case_id" = String, Path, description = "The case")),
    responses(
        (status = 200, description = "The case file", body = CaseFileJson),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "The token lacks the `read` scope", body = ErrorBody),
        (status = 404, description = "Unknown case (`unknown_case`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn case_file(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(case_id): Path<String>,
) -> Result<axum::Json<CaseFileJson>, ApiError> {
    let f = state
        .store()
        .case_file(&case_id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| {
            ApiError::not_found(
                "unknown_case",
                format!("There is no legal case {case_id:?}."),
            )
        })?;
    read_loan(&state, &actor, "legal_cases.get", &f.case.loan_id).await?;
    let total: i128 = f.costs.iter().map(|c| i128::from(c.amount_minor)).sum();
    Ok(axum::Json(CaseFileJson {
        case_id: f.case.case_id,
        loan_id: f.case.loan_id,
        borrower_id: f.borrower_id,
        court: f.case.court,
        case_number: f.case.case_number,
        currency: f.currency,
        status: f.case.status,
        amount_claimed_minor: f.case.amount_claimed_minor,
        amount_awarded_minor: f.case.amount_awarded_minor,
        judgment_on: f.judgment_on.map(|d| d.to_string()),
        outcome: f.outcome,
        referral_id: f.referral_id,
        measures: f
            .measures
            .into_iter()
            .map(|m| MeasureJson {
                measure_id: m.measure_id,
                kind: m.kind,
                ordered_on: m.ordered_on.to_string(),
                authority: m.authority,
                status: m.status,
                history: m
                    .history
                    .into_iter()
                    .map(|h| vec![h.status, h.on.to_string(), h.actor])
                    .collect(),
            })
            .collect(),
        costs: f
            .costs
            .into_iter()
            .map(|c| CostJson {
                cost_id: c.cost_id,
                kind: c.kind,
                amount_minor: c.amount_minor,
                incurred_on: c.incurred_on.to_string(),
                actor: c.actor,
            })
            .collect(),
        costs_total_minor: total.to_string(),
    }))
}

/// Records an enforcement measure of a case.
#[utoipa::path(
    post,
    path = "/v1/legal-cases/{case_id}/measures",
    tag = "legal",
    params(("case_id" = String, Path, description = "The case")),
    request_body = MeasureRequest,
    responses(
        (status = 201, description = "Recorded", body = crate::api::Recorded),
        (status = 200, description = "The same measure was recorded before", body = crate::api::Recorded),
        (status = 400, description = "Malformed JSON (`malformed_json`)", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "The token lacks the `work` scope", body = ErrorBody),
        (status = 404, description = "Unknown case", body = ErrorBody),
        (status = 409, description = "Not at this case's status (`illegal_transition`), an id in use (`duplicate_id`), or another body (`request_conflict`)", body = ErrorBody),
        (status = 413, description = "A body larger than the service accepts (`body_too_large`)", body = ErrorBody),
        (status = 415, description = "A body not sent as `Content-Type: application/json` (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "A bad value", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn record_measure(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(case_id): Path<String>,
    ApiJson(raw): ApiJson<serde_json::Value>,
) -> Result<Response, ApiError> {
    let req: MeasureRequest = parse(raw, "a measure")?;
    let m = NewMeasure {
        measure_id: req.measure_id.clone(),
        case_id,
        kind: req.kind,
        ordered_on: day("ordered_on", &req.ordered_on)?,
        authority: req.authority,
        status: req.status.unwrap_or_else(|| "applied".to_owned()),
    };
    let out = legal::record_measure(
        state.store(),
        &m,
        Author {
            actor: &actor.0,
            now: now(),
        },
    )
    .await
    .map_err(legal_error)?;
    answer(out, &req.measure_id, "denied", "measure", |()| {
        Denied(Vec::new(), None)
    })
}

/// Moves a measure to in_force, refused or lifted.
#[utoipa::path(
    post,
    path = "/v1/legal-measures/{measure_id}/status",
    tag = "legal",
    params(("measure_id" = String, Path, description = "The measure")),
    request_body = MeasureStatusRequest,
    responses(
        (status = 201, description = "Recorded", body = crate::api::Recorded),
        (status = 200, description = "The same change was recorded before", body = crate::api::Recorded),
        (status = 400, description = "Malformed JSON (`malformed_json`)", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "The token lacks the `work` scope", body = ErrorBody),
        (status = 404, description = "Unknown measure (`unknown_measure`)", body = ErrorBody),
        (status = 409, description = "An illegal change (`illegal_transition`), or another body (`request_conflict`)", body = ErrorBody),
        (status = 413, description = "A body larger than the service accepts (`body_too_large`)", body = ErrorBody),
        (status = 415, description = "A body not sent as `Content-Type: application/json` (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "A bad value", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn update_measure(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(measure_id): Path<String>,
    ApiJson(raw): ApiJson<serde_json::Value>,
) -> Result<Response, ApiError> {
    let req: MeasureStatusRequest = parse(raw, "a measure's status")?;
    let on = day("on", &req.on)?;
    let out = legal::update_measure(
        state.store(),
        &measure_id,
        &req.status,
        on,
        Author {
            actor: &actor.0,
            now: now(),
        },
    )
    .await
    .map_err(legal_error)?;
    answer(out, &measure_id, "denied", "measure", |()| {
        Denied(Vec::new(), None)
    })
}

/// Records a cost of a case.
#[utoipa::path(
    post,
    path = "/v1/legal-cases/{case_id}/costs",
    tag = "legal",
    params(("case_id" = String, Path, description = "The case")),
    request_body = CostRequest,
    responses(
        (status = 201, description = "Recorded", body = crate::api::Recorded),
        (status = 200, description = "The same cost was recorded before", body = crate::api::Recorded),
        (status = 400, description = "Malformed JSON (`malformed_json`)", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "The token lacks the `work` scope", body = ErrorBody),
        (status = 404, description = "Unknown case", body = ErrorBody),
        (status = 409, description = "An id in use (`duplicate_id`), or another body (`request_conflict`)", body = ErrorBody),
        (status = 413, description = "A body larger than the service accepts (`body_too_large`)", body = ErrorBody),
        (status = 415, description = "A body not sent as `Content-Type: application/json` (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "A bad value", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn record_cost(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(case_id): Path<String>,
    ApiJson(raw): ApiJson<serde_json::Value>,
) -> Result<Response, ApiError> {
    let req: CostRequest = parse(raw, "a cost")?;
    let c = NewCost {
        cost_id: req.cost_id.clone(),
        case_id,
        kind: req.kind,
        amount_minor: req.amount_minor,
        incurred_on: day("incurred_on", &req.incurred_on)?,
    };
    let out = legal::record_cost(
        state.store(),
        &c,
        Author {
            actor: &actor.0,
            now: now(),
        },
    )
    .await
    .map_err(legal_error)?;
    answer(out, &req.cost_id, "denied", "cost", |()| {
        Denied(Vec::new(), None)
    })
}
