//! The router in process (no socket) over a fresh SQLite store: the public routes, the error
//! shape of routing and body failures, and the token gate. The API itself is tested through
//! the real `arrears serve` in `crates/arrears-cli/tests/it/server.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use arrears_server::{AppState, MAX_BODY_BYTES, app, auth};
use arrears_store::{DbTarget, Store};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt;

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    router: axum::Router,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let target = DbTarget::Sqlite(dir.path().join("a.db"));
    let store = Store::open(&target).await.unwrap();
    // No token caching here, so a revocation below is seen by the very next request (the
    // 5-second cache of live tokens is covered by the unit tests in auth.rs).
    let router = app(AppState::with_token_cache(
        store.clone(),
        None,
        arrears_server::auth::TokenCache::with_ttl(std::time::Duration::ZERO),
    )
    .unwrap());
    Fixture {
        _dir: dir,
        store,
        router,
    }
}

async fn send(f: &Fixture, req: Request<Body>) -> (StatusCode, serde_json::Value, String) {
    let res = f.router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    (status, json, text)
}

fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

#[tokio::test]
async fn public_routes_answer_without_a_token() {
    let f = fixture().await;
    let (s, _, t) = send(&f, get("/healthz")).await;
    assert_eq!((s, t.as_str()), (StatusCode::OK, "ok"));
    let (s, _, t) = send(&f, get("/readyz")).await;
    assert_eq!((s, t.as_str()), (StatusCode::OK, "ready"));
    let (s, doc, _) = send(&f, get("/v1/openapi.json")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(doc["paths"]["/v1/contacts/check"]["post"].is_object());
    assert_eq!(
        doc["paths"]["/v1/contacts/check"]["post"]["security"][0]["bearer"],
        serde_json::json!(["contacts"])
    );
    let (s, _, t) = send(&f, get("/metrics")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        t.contains(
            "arrears_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 1"
        ),
        "{t}"
    );
}

#[tokio::test]
async fn routing_failures_are_json_errors() {
    let f = fixture().await;
    let (s, e, _) = send(&f, get("/nope")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(e["error"]["code"], "not_found");
    let (s, e, _) = send(&f, Request::delete("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(e["error"]["code"], "method_not_allowed");
}

#[tokio::test]
async fn protected_routes_need_a_live_token_and_bodies_are_limited() {
    let f = fixture().await;
    let check = |auth: Option<String>, body: Vec<u8>| {
        let mut r =
            Request::post("/v1/contacts/check").header(header::CONTENT_TYPE, "application/json");
        if let Some(a) = auth {
            r = r.header(header::AUTHORIZATION, a);
        }
        r.body(Body::from(body)).unwrap()
    };
    let (s, e, _) = send(&f, check(None, b"{}".to_vec())).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(e["error"]["code"], "unauthorized");
    let (token, hash) = auth::new_token().unwrap();
    let (s, _, _) = send(&f, check(Some(format!("Bearer {token}")), b"{}".to_vec())).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "not stored yet");
    f.store
        .create_token(
            "t",
            &hash,
            &["contacts"],
            "2026-11-28T00:00:00Z".parse().unwrap(),
        )
        .await
        .unwrap();
    let bearer = Some(format!("Bearer {token}"));
    let (s, e, _) = send(&f, check(bearer.clone(), b"{".to_vec())).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["code"], "malformed_json");
    let (s, e, _) = send(&f, check(bearer.clone(), b"{}".to_vec())).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(e["error"]["code"], "invalid_body");
    let mut big =
        br#"{"borrower_id":"B1","channel":"call","at":"2026-11-28T15:00:00Z","text":""#.to_vec();
    big.extend(std::iter::repeat_n(b'x', MAX_BODY_BYTES));
    big.extend(br#""}"#);
    let (s, e, _) = send(&f, check(bearer.clone(), big)).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(e["error"]["code"], "body_too_large");
    let body = br#"{"borrower_id":"B1","channel":"call","at":"2026-11-28T15:00:00Z"}"#.to_vec();
    let (s, e, _) = send(&f, check(bearer, body)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(e["error"]["code"], "unknown_borrower");
    // Revoked: refused again.
    assert!(
        f.store
            .revoke_token("t", "2026-11-28T01:00:00Z".parse().unwrap())
            .await
            .unwrap()
    );
    let (s, _, _) = send(&f, check(Some(format!("Bearer {token}")), b"{}".to_vec())).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}
