//! Agencies on the API (`docs/agency.md`): the gate every request of a token bound to an
//! agency passes, and the agency routes, through the one door `arrears_app::agency`.
//!
//! **The gate.** A token bound to an agency (`arrears tokens create --agency A`) may call only
//! the routes in [`AGENCY_ROUTES`], and only about a loan with a live placement with its agency
//! at the instant of the request (`arrears_app::agency::may_work`): a loan in the path, or the
//! `loan_id` of the body (which an agency must give). Anything else is 403 with a stable code:
//! `agency_route_forbidden` (a route not open to agencies), `agency_loan_required` (a body
//! without `loan_id`), `not_placed_with_agency` (no live placement with the agency now: never
//! placed, placed with another agency, or recalled — a recall ends access at its instant),
//! `agency_event_forbidden` (an event type an agency may not write), `agency_mismatch` (a body
//! naming another agency). A contact an agency checks or records is the agency's: the gate
//! writes its `agency_id` into the body, so the engine decides it as the agency's (ALL-PLACED
//! does not stop it) and it counts in the borrower's one budget (CN-FREQ across agencies).

use crate::AppState;
use crate::auth::Actor;
use crate::error::{ApiError, ApiJson, ErrorBody};
use arrears_app::agency::ActivityRow;
use arrears_app::agency::{AgencyError, AgencySpec};
use axum::Extension;
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The agency a request's token is bound to (in the request's extensions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgencyBound(pub String);

/// The routes an agency's token may call (method, route template).
pub const AGENCY_ROUTES: &[(&str, &str)] = &[
    ("GET", "/v1/accounts/{loan_id}"),
    ("GET", "/v1/loans/{loan_id}/promises"),
    ("POST", "/v1/contacts/check"),
    ("POST", "/v1/contacts"),
    ("POST", "/v1/events"),
    ("GET", "/v1/agency/loans"),
    ("POST", "/v1/agency/activity"),
];

/// The event types an agency may post to `/v1/events`.
pub const AGENCY_EVENTS: &[&str] = &["contact", "promise_to_pay"];

fn forbidden(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, code, message)
}

fn not_placed(agency: &str, loan: &str) -> ApiError {
    forbidden(
        "not_placed_with_agency",
        format!("Loan {loan:?} has no live placement with agency {agency:?}."),
    )
}

/// The path segment at the route template's `{name}`.
fn path_param<'a>(template: &str, path: &'a str, name: &str) -> Option<&'a str> {
    let want = format!("{{{name}}}");
    template
        .split('/')
        .zip(path.split('/'))
        .find(|(t, _)| *t == want)
        .map(|(_, p)| p)
}

/// Lets an agency's request through (its body rewritten for a contact), or refuses it.
pub async fn gate(state: &AppState, agency: &str, req: Request) -> Result<Request, ApiError> {
    let method = match req.method().as_str() {
        "HEAD" => "GET".to_owned(),
        m => m.to_owned(),
    };
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    if !AGENCY_ROUTES
        .iter()
        .any(|(m, r)| *m == method && *r == route)
    {
        return Err(forbidden(
            "agency_route_forbidden",
            format!("An agency's token may not call {method} {route}."),
        ));
    }
    let now = crate::now();
    let store = state.store();
    let may = |loan: String| async move {
        match arrears_app::agency::may_work(store, agency, &loan, now).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(not_placed(agency, &loan)),
            Err(e) => Err(ApiError::internal(e)),
        }
    };
    if let Some(loan) = path_param(&route, req.uri().path(), "loan_id") {
        may(loan.to_owned()).await?;
        return Ok(req);
    }
    if method != "POST" || route == "/v1/agency/activity" {
        // The activity route checks each row's loan itself (at the row's instant too).
        return Ok(req);
    }
    // A body route: read the body (bounded by the body limit), check its loan, and give the
    // handler the body back (with the agency's id on a contact).
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, crate::MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "The body is larger than the service accepts.",
            )
        })?;
    let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        // Not JSON: the handler answers it as it answers anyone.
        return Ok(Request::from_parts(parts, Body::from(bytes)));
    };
    let Some(obj) = v.as_object_mut() else {
        return Ok(Request::from_parts(parts, Body::from(bytes)));
    };
    let is_contact = match route.as_str() {
        "/v1/events" => {
            let kind = obj.get("type").and_then(|t| t.as_str()).unwrap_or_default();
            if !AGENCY_EVENTS.contains(&kind) {
                return Err(forbidden(
                    "agency_event_forbidden",
                    format!(
                        "An agency may post events of type {} only, not {kind:?}.",
                        AGENCY_EVENTS.join(", ")
                    ),
                ));
            }
            kind == "contact"
        }
        _ => true,
    };
    let Some(loan) = obj
        .get("loan_id")
        .and_then(|l| l.as_str())
        .map(str::to_owned)
    else {
        return Err(forbidden(
            "agency_loan_required",
            "An agency must name the loan (`loan_id`) it works.",
        ));
    };
    may(loan).await?;
    if is_contact {
        match obj.get("agency_id") {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::String(a)) if a == agency => {}
            Some(_) => {
                return Err(forbidden(
                    "agency_mismatch",
                    format!("This token works for agency {agency:?} only."),
                ));
            }
        }
        obj.insert(
            "agency_id".into(),
            serde_json::Value::String(agency.to_owned()),
        );
    }
    let body = serde_json::to_vec(&v).map_err(ApiError::internal)?;
    let mut parts = parts;
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    Ok(Request::from_parts(parts, Body::from(body)))
}

/// The loans a page user works: an agency's user, the loans placed with the agency now; the
/// lender's staff, the loans assigned to them.
pub(crate) async fn page_loans(
    state: &AppState,
    username: &str,
) -> Result<Vec<String>, AgencyError> {
    let store = state.store();
    match store.user_agency(username).await? {
        Some(agency) => arrears_app::agency::live_loans(store, &agency, crate::now()).await,
        None => Ok(store.assigned_loans(username).await?),
    }
}

/// For an agency's user, whether they may work the loan now (a live placement with their
/// agency); `None` for the lender's own staff (assignments decide).
pub(crate) async fn page_may_work(
    state: &AppState,
    username: &str,
    loan_id: &str,
) -> Result<Option<bool>, AgencyError> {
    let store = state.store();
    match store.user_agency(username).await? {
        Some(agency) => Ok(Some(
            arrears_app::agency::may_work(store, &agency, loan_id, crate::now()).await?,
        )),
        None => Ok(None),
    }
}

fn agency_error(e: AgencyError) -> ApiError {
    let code = e.code();
    match e {
        AgencyError::Invalid { .. } | AgencyError::Jurisdiction { .. } => {
            ApiError::invalid(code, e.to_string())
        }
        AgencyError::NotApproved { .. } | AgencyError::Denied(_) => {
            ApiError::invalid(code, e.to_string())
        }
        AgencyError::Conflict(..) => ApiError::conflict(code, e.to_string()),
        AgencyError::UnknownAgency(_) | AgencyError::UnknownLoan(_) => {
            ApiError::not_found(code, e.to_string())
        }
        other => ApiError::internal(other),
    }
}

/// An agency as the API gives and shows it.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgencyJson {
    pub agency_id: String,
    pub name: String,
    /// Jurisdiction codes it works (`CN` takes its subdivisions); each must approve the agency
    /// in the lender's policy (`approved_agencies`).
    pub jurisdictions: Vec<String>,
    /// Its commission on recovered amounts, 0..=10000 basis points.
    pub commission_bps: i64,
    /// How long a placement lasts before it is recalled automatically, 1..=3650 days.
    pub term_days: i64,
}

/// The agencies on record.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AgencyList {
    pub agencies: Vec<AgencyJson>,
}

/// Adds a collection agency (it must be on the lender policy's approved list).
#[utoipa::path(
    post,
    path = "/v1/agencies",
    tag = "agencies",
    request_body = AgencyJson,
    responses(
        (status = 201, description = "Added", body = AgencyJson),
        (status = 200, description = "The same agency is on record", body = AgencyJson),
        (status = 400, description = "Malformed JSON (`malformed_json`)", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 409, description = "Another agency under this id (`agency_conflict`)", body = ErrorBody),
        (status = 413, description = "A body larger than the service accepts (`body_too_large`)", body = ErrorBody),
        (status = 415, description = "A body not sent as `Content-Type: application/json` (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "A bad value (`invalid_body`, `invalid_field`) or an agency the lender's policy does not approve (`agency_not_approved`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn add_agency(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    ApiJson(raw): ApiJson<serde_json::Value>,
) -> Result<Response, ApiError> {
    let req: AgencyJson = serde_json::from_value(raw).map_err(|e| {
        ApiError::invalid("invalid_body", format!("The body is not an agency: {e}."))
    })?;
    let now = crate::now();
    let policy = state.policy_at(now);
    let spec = AgencySpec {
        agency_id: &req.agency_id,
        name: &req.name,
        jurisdictions: &req.jurisdictions,
        commission_bps: req.commission_bps,
        term_days: req.term_days,
        by: &actor.0,
    };
    let done = arrears_app::agency::add(state.store(), &policy, &spec, now)
        .await
        .map_err(agency_error)?;
    let status = match done {
        arrears_store::AgencyAdded::Added => StatusCode::CREATED,
        _ => StatusCode::OK,
    };
    Ok((status, axum::Json(req)).into_response())
}

/// The agencies on record.
#[utoipa::path(
    get,
    path = "/v1/agencies",
    tag = "agencies",
    responses(
        (status = 200, description = "The agencies, by id", body = AgencyList),
        (status = 401, description = "No or unknown token", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list_agencies(
    State(state): State<AppState>,
) -> Result<axum::Json<AgencyList>, ApiError> {
    let all = state.store().agencies().await.map_err(ApiError::internal)?;
    Ok(axum::Json(AgencyList {
        agencies: all
            .into_iter()
            .map(|a| AgencyJson {
                agency_id: a.agency_id,
                name: a.name,
                jurisdictions: a.jurisdictions,
                commission_bps: a.commission_bps,
                term_days: a.term_days,
            })
            .collect(),
    }))
}

/// The loans an agency holds now.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AgencyLoans {
    pub agency_id: String,
    pub loan_ids: Vec<String>,
}

/// The loans placed with the token's agency and live now (an agency's token only).
#[utoipa::path(
    get,
    path = "/v1/agency/loans",
    tag = "agencies",
    responses(
        (status = 200, description = "The agency's live loans", body = AgencyLoans),
        (status = 401, description = "No or unknown token", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn agency_loans(
    State(state): State<AppState>,
    agency: Option<Extension<AgencyBound>>,
) -> Result<axum::Json<AgencyLoans>, ApiError> {
    let Some(Extension(AgencyBound(agency))) = agency else {
        return Err(forbidden(
            "not_an_agency",
            "Only a token bound to an agency has placed loans.",
        ));
    };
    let loan_ids = arrears_app::agency::live_loans(state.store(), &agency, crate::now())
        .await
        .map_err(ApiError::internal)?;
    Ok(axum::Json(AgencyLoans {
        agency_id: agency,
        loan_ids,
    }))
}

/// One row of agency activity: a contact, a promise, or a payment collected (the columns of
/// the activity file).
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivityJson {
    /// Unique per agency activity: a replay with the same row changes nothing.
    pub activity_id: String,
    pub loan_id: String,
    /// `contact`, `promise` or `payment`.
    pub kind: String,
    /// RFC 3339.
    pub at: String,
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub outcome: Option<String>,
    #[serde(default)]
    pub amount_minor: Option<i64>,
    /// YYYY-MM-DD (a promise's).
    #[serde(default)]
    pub due_date: Option<String>,
    /// `outbound` (default) or `inbound` (a contact's).
    #[serde(default)]
    pub direction: Option<String>,
}

/// What became of a reported activity row.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ActivityOutcome {
    pub activity_id: String,
    /// `recorded`, `already_recorded` or `recorded_violation` (a contact the rules forbid,
    /// kept with its rule ids; it counts in the caps).
    pub status: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rule_ids: Vec<String>,
}

/// Reports one row of the token's agency's activity (an agency's token only).
#[utoipa::path(
    post,
    path = "/v1/agency/activity",
    tag = "agencies",
    request_body = ActivityJson,
    responses(
        (status = 201, description = "Recorded (`recorded` or `recorded_violation`)", body = ActivityOutcome),
        (status = 200, description = "The same row was recorded before", body = ActivityOutcome),
        (status = 400, description = "Malformed JSON (`malformed_json`)", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 413, description = "A body larger than the service accepts (`body_too_large`)", body = ErrorBody),
        (status = 415, description = "A body not sent as `Content-Type: application/json` (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "A bad value, or a row refused (`activity_rejected`, naming its field and reason)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn report_activity(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    agency: Option<Extension<AgencyBound>>,
    ApiJson(raw): ApiJson<serde_json::Value>,
) -> Result<Response, ApiError> {
    let Some(Extension(AgencyBound(agency))) = agency else {
        return Err(forbidden(
            "not_an_agency",
            "Only a token bound to an agency reports agency activity.",
        ));
    };
    let req: ActivityJson = serde_json::from_value(raw).map_err(|e| {
        ApiError::invalid(
            "invalid_body",
            format!("The body is not an activity row: {e}."),
        )
    })?;
    let row = activity_row(&req)?;
    let now = crate::now();
    if !arrears_app::agency::may_work(state.store(), &agency, &row.loan_id, now)
        .await
        .map_err(ApiError::internal)?
    {
        return Err(not_placed(&agency, &row.loan_id));
    }
    let packs = state.policy_at(row.at).packs.clone();
    let report = arrears_app::agency::record_activity(
        state.store(),
        &packs,
        &agency,
        "api",
        std::slice::from_ref(&row),
        &actor.0,
        now,
    )
    .await
    .map_err(ApiError::internal)?;
    if let Some(b) = state
        .store()
        .loan_borrower(&row.loan_id)
        .await
        .ok()
        .flatten()
    {
        state.facts().invalidate(&b);
    }
    if let Some(r) = report.rejected.first() {
        return Err(ApiError::invalid(
            "activity_rejected",
            format!("Field {}: {}.", r.field, r.reason),
        ));
    }
    let (status, s, rules) = match (report.violations.first(), report.already) {
        (Some((_, rules)), _) => (StatusCode::CREATED, "recorded_violation", rules.clone()),
        (None, 0) => (StatusCode::CREATED, "recorded", Vec::new()),
        (None, _) => (StatusCode::OK, "already_recorded", Vec::new()),
    };
    Ok((
        status,
        axum::Json(ActivityOutcome {
            activity_id: req.activity_id,
            status: s.into(),
            rule_ids: rules,
        }),
    )
        .into_response())
}

fn activity_row(r: &ActivityJson) -> Result<ActivityRow, ApiError> {
    let bad = |field: &str, why: String| {
        ApiError::invalid("invalid_field", format!("Field {field}: {why}."))
    };
    if !matches!(r.kind.as_str(), "contact" | "promise" | "payment") {
        return Err(bad(
            "kind",
            format!("{:?} is not contact, promise or payment", r.kind),
        ));
    }
    if r.activity_id.is_empty()
        || r.activity_id.len() > 48
        || r.activity_id.chars().any(char::is_control)
    {
        return Err(bad(
            "activity_id",
            "must be 1-48 bytes without control characters".into(),
        ));
    }
    let at = crate::api::instant("at", &r.at)?;
    let due_date = r
        .due_date
        .as_deref()
        .map(|d| crate::api::date("due_date", d))
        .transpose()?;
    if let Some(a) = r.amount_minor
        && !(1..=1_000_000_000_000_000).contains(&a)
    {
        return Err(bad("amount_minor", format!("{a} is not a positive amount")));
    }
    let need = |ok: bool, field: &str, why: &str| {
        if ok {
            Ok(())
        } else {
            Err(bad(field, why.into()))
        }
    };
    match r.kind.as_str() {
        "contact" => {
            need(
                r.channel.is_some(),
                "channel",
                "a contact needs its channel",
            )?;
            need(
                r.outcome.is_some(),
                "outcome",
                "a contact needs its outcome",
            )?;
        }
        "promise" => {
            need(
                r.amount_minor.is_some(),
                "amount_minor",
                "a promise needs its amount",
            )?;
            need(
                due_date.is_some(),
                "due_date",
                "a promise needs its due date",
            )?;
        }
        _ => need(
            r.amount_minor.is_some(),
            "amount_minor",
            "a payment needs its amount",
        )?,
    }
    Ok(ActivityRow {
        line: 1,
        activity_id: r.activity_id.clone(),
        loan_id: r.loan_id.clone(),
        kind: r.kind.clone(),
        at,
        channel: r.channel.clone(),
        target: r.target.clone(),
        outcome: r.outcome.clone(),
        amount_minor: r.amount_minor,
        due_date,
        direction: r.direction.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loan_is_read_from_the_path_by_the_template() {
        assert_eq!(
            path_param("/v1/accounts/{loan_id}", "/v1/accounts/L7", "loan_id"),
            Some("L7")
        );
        assert_eq!(
            path_param(
                "/v1/loans/{loan_id}/promises",
                "/v1/loans/L8/promises",
                "loan_id"
            ),
            Some("L8")
        );
        assert_eq!(path_param("/v1/contacts", "/v1/contacts", "loan_id"), None);
    }

    #[test]
    fn every_agency_route_has_a_scope() {
        for (m, r) in AGENCY_ROUTES {
            assert!(crate::auth::route_scope(m, r).is_some(), "{m} {r}");
        }
    }
}
