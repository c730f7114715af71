//! `POST /v1/sales`: record a debt sale (`docs/sale.md`), through the one door
//! `arrears_app::sale`: the loans are priced on the sale date over the store's portfolio and
//! lifecycle records (each must still be for sale that day), and recorded with their `sales`
//! records. The server holds no signing key, so the signed assignment notices are queued by
//! `arrears sale notices --sale ID --keys DIR` (the answer says so). Scope `admin`: a sale is
//! not a working token's business.

use crate::AppState;
use crate::api::{date, field};
use crate::auth::Actor;
use crate::error::{ApiError, ApiJson, ErrorBody};
use arrears_app::sale::{SaleError, SaleTerms};
use arrears_engine::sale::PriceBps;
use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// At most this many loans in one request.
pub const MAX_SALE_LOANS: usize = 100_000;

/// A sale to record.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaleRequest {
    /// Who buys the loans (named in the assignment notice and on the borrower's portal).
    pub buyer: String,
    /// Price in basis points of face value (the outstanding balance on the sale date), 0..=10000.
    pub price_bps: i64,
    /// The sale date (YYYY-MM-DD): the loans are the buyer's from its first instant in the
    /// business time zone.
    pub sold_on: String,
    /// The loans sold (a tape's `loan_id` column), 1 to 100000, each once.
    pub loan_ids: Vec<String>,
}

/// A currency's totals: sums of the per-loan figures (price rounded half-to-even once per
/// loan; the total price is the sum of the loans' prices). Decimal strings of minor units.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SaleTotalJson {
    pub currency: String,
    pub loans: u64,
    pub face_minor: String,
    pub price_minor: String,
    pub loss_minor: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SaleRecordedJson {
    pub sale_id: String,
    pub buyer: String,
    pub sold_on: String,
    pub sold_at: String,
    pub price_bps: u16,
    pub loans: usize,
    pub totals: Vec<SaleTotalJson>,
    /// `recorded`, or `recorded_before` (the same sale again).
    pub outcome: String,
    /// What is left to do: the signed assignment notices are queued by the CLI.
    pub next: String,
}

fn sale_error(e: SaleError) -> ApiError {
    match e {
        SaleError::UnknownLoan(l) => {
            ApiError::not_found("unknown_loan", format!("There is no loan {l:?}."))
        }
        SaleError::NotForSale { .. } | SaleError::Empty | SaleError::NoBuyer => {
            ApiError::invalid("not_for_sale", e.to_string())
        }
        SaleError::Lifecycle(arrears_store::LifecycleError::Conflict { .. }) => {
            ApiError::conflict("conflict", e.to_string())
        }
        SaleError::Lifecycle(
            arrears_store::LifecycleError::Invalid(_)
            | arrears_store::LifecycleError::UnknownLoan(_)
            | arrears_store::LifecycleError::UnknownBorrower(_)
            | arrears_store::LifecycleError::LoanOfAnotherBorrower { .. },
        ) => ApiError::invalid("not_for_sale", e.to_string()),
        other => ApiError::internal(other),
    }
}

/// Records a debt sale of the given loans.
#[utoipa::path(
    post,
    path = "/v1/sales",
    tag = "work",
    request_body = SaleRequest,
    responses(
        (status = 201, description = "Recorded", body = SaleRecordedJson),
        (status = 200, description = "The same sale was recorded before", body = SaleRecordedJson),
        (status = 400, description = "Malformed JSON (`malformed_json`)", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 404, description = "Unknown loan (`unknown_loan`)", body = ErrorBody),
        (status = 409, description = "A sale of the same id with other content (`conflict`)", body = ErrorBody),
        (status = 413, description = "A body larger than the service accepts (`body_too_large`)", body = ErrorBody),
        (status = 415, description = "A body not sent as `Content-Type: application/json` (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "A bad value (`invalid_body`, `invalid_value`, …) or a loan not for sale on that date (`not_for_sale`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn record_sale(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    ApiJson(raw): ApiJson<serde_json::Value>,
) -> Result<Response, ApiError> {
    let req: SaleRequest = serde_json::from_value(raw)
        .map_err(|e| ApiError::invalid("invalid_body", format!("The body is not a sale: {e}.")))?;
    let price_bps = PriceBps::new(req.price_bps)
        .map_err(|e| ApiError::invalid("invalid_value", format!("price_bps: {e}.")))?;
    let sold_on = date("sold_on", &req.sold_on)?;
    if req.buyer.trim().is_empty() || req.buyer.chars().count() > 200 {
        return Err(ApiError::invalid(
            "invalid_value",
            "buyer: a name of 1 to 200 characters.",
        ));
    }
    if req.loan_ids.is_empty() || req.loan_ids.len() > MAX_SALE_LOANS {
        return Err(ApiError::invalid(
            "invalid_value",
            format!("loan_ids: 1 to {MAX_SALE_LOANS} loans."),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for l in &req.loan_ids {
        arrears_domain::types::LoanId::parse("loan_ids", l).map_err(field)?;
        if !seen.insert(l.as_str()) {
            return Err(ApiError::invalid(
                "invalid_value",
                format!("loan_ids: {l:?} is given twice."),
            ));
        }
    }
    let terms = SaleTerms {
        buyer: req.buyer.trim().to_owned(),
        price_bps,
        sold_on,
        recorded_by: actor.0.clone(),
    };
    let store = state.store();
    let id = arrears_app::sale::sale_id(&terms, &req.loan_ids);
    if let Some(sale) = arrears_app::sale::stored(store, &id)
        .await
        .map_err(sale_error)?
    {
        return Ok((StatusCode::OK, axum::Json(answer(&sale, "recorded_before"))).into_response());
    }
    let portfolio = store.load_portfolio().await.map_err(ApiError::internal)?;
    let lifecycle = store.all_lifecycle().await.map_err(ApiError::internal)?;
    let config = state.config().clone();
    let ids = req.loan_ids.clone();
    let sale = tokio::task::spawn_blocking(move || {
        arrears_app::sale::price_sale(&portfolio, &lifecycle, &config, &ids, &terms)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(sale_error)?;
    let outcome = arrears_app::sale::record(store, &sale)
        .await
        .map_err(sale_error)?;
    let (status, word) = match outcome {
        arrears_store::SaleRecorded::Recorded => (StatusCode::CREATED, "recorded"),
        arrears_store::SaleRecorded::AlreadyRecorded => (StatusCode::OK, "recorded_before"),
    };
    let body = answer(&sale, word);
    Ok((status, axum::Json(body)).into_response())
}

/// The answer about a recorded sale.
fn answer(sale: &arrears_store::NewDebtSale, word: &str) -> SaleRecordedJson {
    SaleRecordedJson {
        sale_id: sale.sale_id.clone(),
        buyer: sale.buyer.clone(),
        sold_on: sale.sold_on.to_string(),
        sold_at: sale.sold_at.to_string(),
        price_bps: sale.price_bps,
        loans: sale.loans.len(),
        totals: arrears_app::sale::totals(sale)
            .into_iter()
            .map(|(currency, t)| SaleTotalJson {
                currency,
                loans: t.loans,
                face_minor: t.face_minor.to_string(),
                price_minor: t.price_minor.to_string(),
                loss_minor: t.loss_minor.to_string(),
            })
            .collect(),
        outcome: word.to_owned(),
        next: format!(
            "queue the signed assignment notices: arrears sale notices --db … --sale {} --keys DIR --audit-log FILE",
            sale.sale_id
        ),
    }
}
