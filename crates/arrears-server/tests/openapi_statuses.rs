//! What schemathesis found (issue 16, docs/security.md "Attacks tried in CI: schemathesis"):
//! answers the OpenAPI document did not list. Every JSON-body route answers a body sent
//! without `Content-Type: application/json` with 415 and an unreadable body with 400, and the
//! plan and queue routes answer an unreadable query with 400; each test sends the request and
//! checks both the answer and that the document lists its status for the route.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use arrears_server::auth;
use arrears_server::{AppState, app};
use arrears_store::{DbTarget, Store};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use std::time::Duration;
use tower::ServiceExt;

async fn state() -> (tempfile::TempDir, AppState, String) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&DbTarget::Sqlite(dir.path().join("a.db")))
        .await
        .unwrap();
    let (token, hash) = auth::new_token().unwrap();
    store
        .create_token(
            "all",
            &hash,
            &["contacts", "events", "work", "read", "admin"],
            "2026-11-28T00:00:00Z".parse().unwrap(),
        )
        .await
        .unwrap();
    let state = AppState::with_token_cache(store, None, auth::TokenCache::with_ttl(Duration::ZERO))
        .unwrap();
    (dir, state, token)
}

async fn status(state: &AppState, req: Request<Body>) -> (StatusCode, serde_json::Value) {
    let res = app(state.clone()).oneshot(req).await.unwrap();
    let s = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    (s, serde_json::from_slice(&bytes).unwrap_or_default())
}

/// Each documented route that takes a JSON body, with a concrete path.
fn body_routes(doc: &serde_json::Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if op.get("requestBody").is_some() {
                let concrete = path
                    .split('/')
                    .map(|s| if s.starts_with('{') { "X1" } else { s })
                    .collect::<Vec<_>>()
                    .join("/");
                out.push((method.to_ascii_uppercase(), concrete));
                assert!(
                    op["responses"]["415"].is_object()
                        && op["responses"]["400"].is_object()
                        && op["responses"]["413"].is_object(),
                    "{method} {path} does not document 400, 413 and 415"
                );
            }
        }
    }
    out
}

#[tokio::test]
async fn a_body_that_is_not_json_is_answered_with_a_documented_status() {
    let (_dir, state, token) = state().await;
    let doc = arrears_server::openapi();
    let routes = body_routes(&doc);
    assert!(routes.len() >= 11, "{routes:?}");
    for (method, path) in routes {
        // No content type (what schemathesis sent): 415.
        let req = Request::builder()
            .method(method.as_str())
            .uri(&path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::from("{}"))
            .unwrap();
        let (s, body) = status(&state, req).await;
        assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{method} {path}");
        assert_eq!(
            body["error"]["code"], "unsupported_media_type",
            "{method} {path}"
        );
        // A NUL byte as JSON: 400.
        let req = Request::builder()
            .method(method.as_str())
            .uri(&path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("\0"))
            .unwrap();
        let (s, body) = status(&state, req).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{method} {path}");
        assert_eq!(body["error"]["code"], "malformed_json", "{method} {path}");
    }
}

#[tokio::test]
async fn an_unreadable_plan_or_queue_query_is_a_documented_400() {
    let (_dir, state, token) = state().await;
    let doc = arrears_server::openapi();
    for (route, path) in [
        ("/v1/plan", "/v1/plan?limit=null&limit=null"),
        (
            "/v1/queues/{queue}",
            "/v1/queues/q?as_of=2026-11-28&limit=x",
        ),
    ] {
        let req = Request::builder()
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        let (s, body) = status(&state, req).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(body["error"]["code"], "bad_query", "{path}");
        assert!(
            doc["paths"][route]["get"]["responses"]["400"].is_object(),
            "{route} does not document 400"
        );
    }
}

#[tokio::test]
async fn a_login_body_of_the_wrong_shape_is_a_documented_422() {
    let (_dir, state, _token) = state().await;
    let req = Request::builder()
        .method("POST")
        .uri("/v1/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("[null, null]"))
        .unwrap();
    let (s, body) = status(&state, req).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "invalid_body");
    let doc = arrears_server::openapi();
    assert!(doc["paths"]["/v1/login"]["post"]["responses"]["422"].is_object());
}
