//! Write-off proposals and settlements on the API (`docs/settlement.md`), through the one
//! door `arrears_app::settle`:
//!
//! - `GET /v1/write-off-proposals` (scope `read`): the plan's proposals and their decisions.
//!   Deciding one is a person's act under their own login: the supervisor's page
//!   `/write-offs` or `arrears write-off approve|reject --user U --password-stdin`, never a
//!   token.
//! - `POST /v1/settlements` (scope `work`): an offer within the lender's policy limit, made
//!   in the token's name; `POST /v1/settlements/{settlement_id}/accept` (scope `work`) records
//!   the borrower's acceptance; `GET /v1/loans/{loan_id}/settlements` (scope `read`).

use crate::auth::Actor;
use crate::error::{ApiError, ApiJson, ErrorBody};
use crate::work::read_loan;
use crate::{AppState, now};
use arrears_app::settle::{self, Acceptor, OfferTerms, SettleError, Staff};
use arrears_store::{SettlementsOf, StoredSettlement, WorkError};
use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

fn settle_error(e: SettleError) -> ApiError {
    match e {
        SettleError::NotAllowed(m) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", m),
        SettleError::Invalid(m) | SettleError::Work(WorkError::Invalid(m)) => {
            ApiError::invalid("invalid_value", m)
        }
        SettleError::Work(WorkError::NotFound { what, id }) => {
            ApiError::not_found("not_found", format!("There is no {what} {id:?}."))
        }
        SettleError::Work(WorkError::State { code, message }) => ApiError::conflict(code, message),
        other => ApiError::internal(other),
    }
}

/// A write-off proposal and its decision.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WriteOffProposalJson {
    pub proposal_id: String,
    pub loan_id: String,
    pub borrower_id: String,
    pub proposed_on: String,
    pub rule_id: String,
    pub pack_rule: Option<String>,
    pub stage: String,
    /// The latest snapshot's date and balances by component (minor units, decimal strings).
    pub snapshot_as_of: Option<String>,
    pub currency: String,
    pub principal_minor: Option<String>,
    pub interest_minor: Option<String>,
    pub fee_minor: Option<String>,
    pub penalty_minor: Option<String>,
    /// `approved`, `rejected`, or absent while undecided.
    pub decision: Option<String>,
    pub decided_by: Option<String>,
    pub reason: Option<String>,
    pub write_off_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WriteOffProposalsJson {
    pub proposals: Vec<WriteOffProposalJson>,
}

/// The plan's write-off proposals, oldest first, with their decisions.
#[utoipa::path(
    get,
    path = "/v1/write-off-proposals",
    tag = "work",
    responses(
        (status = 200, description = "Every proposal", body = WriteOffProposalsJson),
        (status = 401, description = "No or unknown token", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn write_off_proposals(
    State(state): State<AppState>,
) -> Result<axum::Json<WriteOffProposalsJson>, ApiError> {
    let list = settle::write_off_proposals(state.store(), false)
        .await
        .map_err(settle_error)?;
    let s = |v: i64| Some(v.to_string());
    Ok(axum::Json(WriteOffProposalsJson {
        proposals: list
            .into_iter()
            .map(|p| {
                let snap = p.snapshot.as_ref();
                WriteOffProposalJson {
                    proposal_id: p.proposal_id,
                    loan_id: p.loan_id,
                    borrower_id: p.borrower_id,
                    proposed_on: p.proposed_on.to_string(),
                    rule_id: p.rule_id,
                    pack_rule: p.pack_rule,
                    stage: p.stage,
                    snapshot_as_of: snap.map(|x| x.0.to_string()),
                    currency: p.currency,
                    principal_minor: snap.and_then(|x| s(x.2.principal_minor)),
                    interest_minor: snap.and_then(|x| s(x.2.interest_minor)),
                    fee_minor: snap.and_then(|x| s(x.2.fee_minor)),
                    penalty_minor: snap.and_then(|x| s(x.2.penalty_minor)),
                    decision: p.decision.as_ref().map(|d| d.decision.clone()),
                    decided_by: p.decision.as_ref().map(|d| d.decided_by.clone()),
                    reason: p.decision.as_ref().map(|d| d.reason.clone()),
                    write_off_id: p.decision.and_then(|d| d.write_off_id),
                }
            })
            .collect(),
    }))
}

/// A settlement offer.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettlementRequest {
    pub settlement_id: String,
    pub loan_id: String,
    /// Basis points off the outstanding balance, at most the policy's limit for the loan's
    /// stage and dpd.
    pub discount_bps: u32,
    /// 1 for a lump sum; more for monthly payments (at most the policy's limit).
    pub instalments: u32,
    /// The first (or only) payment's due date (YYYY-MM-DD).
    pub first_due: String,
    /// The last business date the borrower may accept (YYYY-MM-DD, at most `first_due`).
    pub accept_by: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SettlementInstalmentJson {
    pub due_date: String,
    pub amount_minor: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SettlementEventJson {
    pub event: String,
    pub on_date: String,
    pub actor: String,
    pub write_off_id: Option<String>,
}

/// A settlement: amounts are decimal strings of minor units.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SettlementJson {
    pub settlement_id: String,
    pub loan_id: String,
    pub borrower_id: String,
    pub currency: String,
    /// `offered`, `accepted`, `paid`, `lapsed` or `withdrawn`.
    pub status: String,
    pub offered_by: String,
    pub snapshot_as_of: String,
    pub stage: String,
    pub dpd: i64,
    pub outstanding_minor: String,
    pub limit_bps: i64,
    pub discount_bps: i64,
    pub discount_minor: String,
    pub amount_minor: String,
    pub accept_by: String,
    pub instalments: Vec<SettlementInstalmentJson>,
    pub events: Vec<SettlementEventJson>,
}

fn json(s: &StoredSettlement) -> SettlementJson {
    SettlementJson {
        settlement_id: s.settlement_id.clone(),
        loan_id: s.loan_id.clone(),
        borrower_id: s.borrower_id.clone(),
        currency: s.currency.clone(),
        status: s.status().to_owned(),
        offered_by: s.offered_by.clone(),
        snapshot_as_of: s.snapshot_as_of.to_string(),
        stage: s.stage.clone(),
        dpd: s.dpd,
        outstanding_minor: s.outstanding_minor.to_string(),
        limit_bps: s.limit_bps,
        discount_bps: s.discount_bps,
        discount_minor: s.discount_minor.to_string(),
        amount_minor: s.amount_minor.to_string(),
        accept_by: s.accept_by.to_string(),
        instalments: s
            .instalments
            .iter()
            .map(|(d, a)| SettlementInstalmentJson {
                due_date: d.to_string(),
                amount_minor: a.to_string(),
            })
            .collect(),
        events: s
            .events
            .iter()
            .map(|e| SettlementEventJson {
                event: e.event.clone(),
                on_date: e.on_date.to_string(),
                actor: e.actor.clone(),
                write_off_id: e.write_off_id.clone(),
            })
            .collect(),
    }
}

/// Offers a settlement in the token's name.
#[utoipa::path(
    post,
    path = "/v1/settlements",
    tag = "work",
    request_body = SettlementRequest,
    responses(
        (status = 201, description = "Offered", body = SettlementJson),
        (status = 400, description = "Malformed JSON (`malformed_json`)", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "The token may not offer on this loan", body = ErrorBody),
        (status = 413, description = "A body larger than the service accepts (`body_too_large`)", body = ErrorBody),
        (status = 415, description = "A body not sent as `Content-Type: application/json` (`unsupported_media_type`)", body = ErrorBody),
        (status = 404, description = "Unknown loan (`unknown_loan`)", body = ErrorBody),
        (status = 409, description = "Another settlement is live, the id is taken, or the loan is not open", body = ErrorBody),
        (status = 422, description = "Outside the lender's limits or a bad value (`invalid_value`, `invalid_body`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn offer_settlement(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    ApiJson(raw): ApiJson<serde_json::Value>,
) -> Result<Response, ApiError> {
    let req: SettlementRequest = serde_json::from_value(raw).map_err(|e| {
        ApiError::invalid(
            "invalid_body",
            format!("The body is not a settlement: {e}."),
        )
    })?;
    if req.settlement_id.trim().is_empty() || req.settlement_id.len() > 128 {
        return Err(ApiError::invalid(
            "invalid_value",
            "settlement_id: 1 to 128 characters.",
        ));
    }
    let loan_id = read_loan(&state, &actor, "settlements.offer", &req.loan_id).await?;
    let terms = OfferTerms {
        settlement_id: req.settlement_id.trim().to_owned(),
        loan_id,
        discount_bps: req.discount_bps,
        instalments: req.instalments,
        first_due: crate::api::date("first_due", &req.first_due)?,
        accept_by: crate::api::date("accept_by", &req.accept_by)?,
    };
    let at = now();
    let today = state.config().business_tz.date_of(at);
    let who = format!("token:{}", actor.0);
    let s = settle::offer_settlement(
        state.store(),
        &state.policy_at(at),
        Staff {
            username: &who,
            role: "agent",
        },
        &terms,
        today,
        at,
    )
    .await
    .map_err(settle_error)?;
    Ok((StatusCode::CREATED, axum::Json(json(&s))).into_response())
}

/// Records the borrower's acceptance of an offer, today.
#[utoipa::path(
    post,
    path = "/v1/settlements/{settlement_id}/accept",
    tag = "work",
    params(("settlement_id" = String, Path)),
    responses(
        (status = 200, description = "Accepted", body = SettlementJson),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 404, description = "No such settlement", body = ErrorBody),
        (status = 409, description = "Not an open offer, or past its last day (`illegal_transition`, `offer_expired`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn accept_settlement(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(settlement_id): Path<String>,
) -> Result<axum::Json<SettlementJson>, ApiError> {
    let s = state
        .store()
        .settlement(&settlement_id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| {
            ApiError::not_found(
                "not_found",
                format!("There is no settlement {settlement_id:?}."),
            )
        })?;
    read_loan(&state, &actor, "settlements.accept", &s.loan_id).await?;
    let at = now();
    let today = state.config().business_tz.date_of(at);
    let who = format!("token:{}", actor.0);
    let s = settle::accept_settlement(
        state.store(),
        &settlement_id,
        Acceptor::Staff(Staff {
            username: &who,
            role: "agent",
        }),
        today,
        at,
    )
    .await
    .map_err(settle_error)?;
    Ok(axum::Json(json(&s)))
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LoanSettlementsJson {
    pub loan_id: String,
    pub settlements: Vec<SettlementJson>,
}

/// A loan's settlements, oldest first.
#[utoipa::path(
    get,
    path = "/v1/loans/{loan_id}/settlements",
    tag = "work",
    params(("loan_id" = String, Path)),
    responses(
        (status = 200, description = "The loan's settlements", body = LoanSettlementsJson),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 404, description = "Unknown loan (`unknown_loan`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn loan_settlements(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(loan_id): Path<String>,
) -> Result<axum::Json<LoanSettlementsJson>, ApiError> {
    let loan_id = read_loan(&state, &actor, "settlements.list", &loan_id).await?;
    let list = settle::settlements_of(state.store(), SettlementsOf::Loan(&loan_id))
        .await
        .map_err(settle_error)?;
    Ok(axum::Json(LoanSettlementsJson {
        settlements: list.iter().map(json).collect(),
        loan_id,
    }))
}
