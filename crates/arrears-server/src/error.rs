//! The one shape of every error the service answers: `{"error": {"code": "stable_code",
//! "message": "a sentence"}}`, with 4xx for anything about the request (malformed JSON,
//! wrong types, unknown ids, oversized bodies, a contact the rules deny) and 5xx only for the
//! server's own failures, whose details go to the log, not to the client. A refused contact
//! also carries `rule_ids` and `earliest_allowed`.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// For a refused contact: the rules that failed and when it would pass.
    pub denial: Option<(Vec<String>, Option<String>)>,
    /// For a 403 `missing_scope`: the scope the token lacks.
    pub missing_scope: Option<&'static str>,
    /// Seconds to wait before trying again (`Retry-After`), for a 429 or a 503 of a
    /// saturated limit.
    pub retry_after_secs: Option<u32>,
}

/// `{"error": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable, machine-readable code (`malformed_json`, `unknown_borrower`, …).
    pub code: String,
    /// One sentence for a person.
    pub message: String,
    /// Set when a contact was refused: every failing rule id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_ids: Option<Vec<String>>,
    /// Set when a contact was refused: the first instant it would be allowed (RFC 3339), or
    /// null when waiting cannot help.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub earliest_allowed: Option<Option<String>>,
    /// Set on a 403 `missing_scope`: the scope the route needs and the token lacks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing_scope: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            denial: None,
            missing_scope: None,
            retry_after_secs: None,
        }
    }

    /// 403: the token is live but was not issued the scope this route needs.
    pub fn missing_scope(scope: &'static str) -> ApiError {
        let mut e = ApiError::new(
            StatusCode::FORBIDDEN,
            "missing_scope",
            format!(
                "This token was not issued scope `{scope}`, which this route needs (arrears tokens create --scope {scope})."
            ),
        );
        e.missing_scope = Some(scope);
        e
    }

    /// 503 with `Retry-After`: a bounded resource (password checks, …) is saturated.
    pub fn busy(code: &'static str, message: impl Into<String>, retry_after_secs: u32) -> ApiError {
        let mut e = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, message);
        e.retry_after_secs = Some(retry_after_secs);
        e
    }

    /// 422: a field whose value is not acceptable.
    pub fn invalid(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, code, message)
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "This route needs an API token: send `Authorization: Bearer TOKEN` (arrears tokens create).",
        )
    }

    /// A failure of the server itself: logged with its detail, answered without it.
    pub fn internal(detail: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %detail, "request failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "The server failed to answer; the request can be retried.",
        )
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message.clone(),
                rule_ids: self.denial.as_ref().map(|(r, _)| r.clone()),
                earliest_allowed: self.denial.as_ref().map(|(_, e)| e.clone()),
                missing_scope: self.missing_scope.map(str::to_owned),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, axum::Json(self.body())).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        if let Some(secs) = self.retry_after_secs {
            r.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
        }
        r
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> ApiError {
        let (status, code, what) = match &r {
            JsonRejection::JsonSyntaxError(_) => (
                StatusCode::BAD_REQUEST,
                "malformed_json",
                "The body is not valid JSON",
            ),
            JsonRejection::JsonDataError(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
                "The body does not have the fields and types this route takes",
            ),
            JsonRejection::MissingJsonContentType(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "The body must be JSON, sent with `Content-Type: application/json`",
            ),
            _ if r.status() == StatusCode::PAYLOAD_TOO_LARGE => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "The body is larger than this service accepts",
            ),
            _ => (
                StatusCode::BAD_REQUEST,
                "bad_body",
                "The body could not be read",
            ),
        };
        ApiError::new(status, code, format!("{what}: {}.", r.body_text()))
    }
}

/// `axum::Json` whose rejections are [`ApiError`]s.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    axum::Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(v) = axum::Json::<T>::from_request(req, state).await?;
        Ok(ApiJson(v))
    }
}

/// Answers a route that does not exist.
pub async fn not_found() -> ApiError {
    ApiError::not_found("not_found", "There is no such route; see /v1/openapi.json.")
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "This route does not take that method; see /v1/openapi.json.",
    )
}
