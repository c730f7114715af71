//! Issue 16's findings, each tried as an attacker would (docs/security.md says what each
//! test proves): a token used outside its scopes, the OpenAPI document's scopes, a slowloris
//! client, a connection flood, 100,000 invented methods and usernames, and more password
//! checks at once than the limit. The router runs in process over a fresh SQLite store;
//! the timeouts and the connection limit are tried over real sockets.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use arrears_server::auth::{self, Scope};
use arrears_server::{AppState, Limits, app};
use arrears_store::{DbTarget, Store};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode, header};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    state: AppState,
}

async fn fixture(limits: Limits) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&DbTarget::Sqlite(dir.path().join("a.db")))
        .await
        .unwrap();
    let state = AppState::with_token_cache(
        store.clone(),
        None,
        auth::TokenCache::with_ttl(Duration::ZERO),
    )
    .unwrap()
    .with_limits(limits);
    Fixture {
        _dir: dir,
        store,
        state,
    }
}

impl Fixture {
    async fn token(&self, name: &str, scopes: &[&str]) -> String {
        let (token, hash) = auth::new_token().unwrap();
        self.store
            .create_token(name, &hash, scopes, "2026-11-28T00:00:00Z".parse().unwrap())
            .await
            .unwrap();
        token
    }

    async fn send(&self, req: Request<Body>) -> (StatusCode, serde_json::Value, String) {
        let res = app(self.state.clone()).oneshot(req).await.unwrap();
        answer(res).await
    }
}

async fn answer(res: axum::response::Response) -> (StatusCode, serde_json::Value, String) {
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 22)
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    (status, json, text)
}

fn call(method: &str, path: &str, token: Option<&str>, body: &serde_json::Value) -> Request<Body> {
    let mut r = Request::builder()
        .method(method)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(t) = token {
        r = r.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let body = if method == "GET" {
        Body::empty()
    } else {
        Body::from(body.to_string())
    };
    r.body(body).unwrap()
}

fn from(addr: &str, mut r: Request<Body>) -> Request<Body> {
    r.extensions_mut()
        .insert(ConnectInfo(addr.parse::<SocketAddr>().unwrap()));
    r
}

fn assert_missing(got: &(StatusCode, serde_json::Value, String), scope: &str) {
    assert_eq!(got.0, StatusCode::FORBIDDEN, "{}", got.2);
    assert_eq!(got.1["error"]["code"], "missing_scope", "{}", got.2);
    assert_eq!(got.1["error"]["missing_scope"], scope, "{}", got.2);
}

#[tokio::test]
async fn a_token_is_refused_outside_its_scopes_and_accepted_inside() {
    let f = fixture(Limits::default()).await;
    let dialer = f.token("dialer", &["contacts"]).await;
    let reader = f.token("reader", &["read"]).await;
    let feed = f.token("feed", &["events"]).await;
    let worker = f.token("worker", &["work"]).await;
    let nothing = f.token("nothing", &[]).await;
    let check =
        serde_json::json!({"borrower_id": "B1", "channel": "call", "at": "2026-11-28T15:00:00Z"});
    let payment = serde_json::json!({"event_id": "E1", "type": "payment", "payment_id": "P1",
        "loan_id": "L1", "received_at": "2026-11-28T10:00:00Z", "amount_minor": 100});
    let contact_event = serde_json::json!({"event_id": "E2", "type": "contact", "contact_id": "C1",
        "borrower_id": "B1", "channel": "call", "at": "2026-11-28T15:00:00Z", "outcome": "no_answer"});
    let none = serde_json::Value::Null;

    // Inside its scope the dialer's check reaches the handler (no such borrower here).
    let r = f
        .send(call("POST", "/v1/contacts/check", Some(&dialer), &check))
        .await;
    assert_eq!(r.0, StatusCode::NOT_FOUND, "{}", r.2);
    assert_eq!(r.1["error"]["code"], "unknown_borrower");
    // Outside it: events, work, reads.
    assert_missing(
        &f.send(call("POST", "/v1/events", Some(&dialer), &payment))
            .await,
        "events",
    );
    assert_missing(
        &f.send(call(
            "GET",
            "/v1/plan?as_of=2026-11-28",
            Some(&dialer),
            &none,
        ))
        .await,
        "read",
    );
    assert_missing(
        &f.send(call("GET", "/v1/accounts/L1", Some(&dialer), &none))
            .await,
        "read",
    );
    assert_missing(
        &f.send(call(
            "GET",
            "/v1/borrowers/B1/audit-export",
            Some(&dialer),
            &none,
        ))
        .await,
        "read",
    );
    let write_off = serde_json::json!({"write_off_id": "W1", "loan_id": "L1", "amount_minor": 5,
        "reason": "uncollectable"});
    assert_missing(
        &f.send(call("POST", "/v1/write-offs", Some(&dialer), &write_off))
            .await,
        "work",
    );
    // The reader reads and does nothing else.
    let r = f
        .send(call("GET", "/v1/accounts/L1", Some(&reader), &none))
        .await;
    assert_eq!(r.0, StatusCode::NOT_FOUND, "{}", r.2);
    assert_missing(
        &f.send(call("POST", "/v1/contacts/check", Some(&reader), &check))
            .await,
        "contacts",
    );
    // The feed posts events, but a contact through the event route needs `contacts` too.
    let r = f
        .send(call("POST", "/v1/events", Some(&feed), &payment))
        .await;
    assert_eq!(r.0, StatusCode::NOT_FOUND, "{}", r.2);
    assert_eq!(r.1["error"]["code"], "unknown_loan");
    assert_missing(
        &f.send(call("POST", "/v1/events", Some(&feed), &contact_event))
            .await,
        "contacts",
    );
    // A write names the caller: another approver is refused, none is the token.
    let mut other = write_off.clone();
    other["approved_by"] = "the-ceo".into();
    let r = f
        .send(call("POST", "/v1/write-offs", Some(&worker), &other))
        .await;
    assert_eq!(r.0, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.2);
    assert_eq!(r.1["error"]["code"], "principal_mismatch");
    let r = f
        .send(call("POST", "/v1/write-offs", Some(&worker), &write_off))
        .await;
    assert_eq!(r.1["error"]["code"], "unknown_loan", "{}", r.2);
    // A token without scopes may do nothing.
    for (m, p, b, s) in [
        ("POST", "/v1/contacts/check", &check, "contacts"),
        ("POST", "/v1/events", &payment, "events"),
        ("GET", "/v1/queues/early?as_of=2026-11-28", &none, "read"),
        ("POST", "/v1/write-offs", &write_off, "work"),
    ] {
        assert_missing(&f.send(call(m, p, Some(&nothing), b)).await, s);
    }
    // No token at all is still 401, before any scope is looked at.
    let r = f
        .send(call("GET", "/v1/plan?as_of=2026-11-28", None, &none))
        .await;
    assert_eq!(r.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_openapi_document_names_every_protected_operations_scope() {
    let f = fixture(Limits::default()).await;
    let (s, doc, raw) = f
        .send(call(
            "GET",
            "/v1/openapi.json",
            None,
            &serde_json::Value::Null,
        ))
        .await;
    assert_eq!(s, StatusCode::OK);
    let paths = doc["paths"].as_object().unwrap();
    let mut seen = 0;
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let Some(scope) = auth::route_scope(&method.to_ascii_uppercase(), path) else {
                assert!(
                    op.get("security").is_none(),
                    "{method} {path} needs a token but names no scope: {raw}"
                );
                continue;
            };
            seen += 1;
            assert_eq!(
                op["security"],
                serde_json::json!([{"bearer": [scope.code()]}]),
                "{method} {path}"
            );
            assert_eq!(
                op["x-scopes"],
                serde_json::json!([scope.code()]),
                "{method} {path}"
            );
            assert!(op["responses"]["403"].is_object(), "{method} {path}");
        }
    }
    assert_eq!(
        seen,
        auth::ROUTE_SCOPES.len(),
        "every scoped route is documented"
    );
    assert_eq!(
        doc["paths"]["/v1/write-offs"]["post"]["x-scopes"],
        serde_json::json!(["work"])
    );
    // A debt sale is the one administrative route: no working token records one.
    assert_eq!(
        doc["paths"]["/v1/sales"]["post"]["x-scopes"],
        serde_json::json!(["admin"])
    );
    // Every scope guards some route.
    for s in Scope::ALL {
        let used = auth::ROUTE_SCOPES.iter().any(|(_, _, x)| *x == s);
        assert!(used, "{s:?} guards no route");
    }
}

/// Serves the app on a real socket with these limits; the sender stops it.
async fn serve(state: AppState) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(arrears_server::serve(listener, state, async {
        let _ = rx.await;
    }));
    (addr, tx)
}

/// Reads until the server closes the connection (or `limit` passes): what it sent.
async fn read_until_closed(s: &mut tokio::net::TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let end = Instant::now() + limit;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(got),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slowloris_client_is_cut_off_by_the_header_timeout() {
    let limits = Limits {
        header_read_timeout: Duration::from_millis(600),
        ..Limits::default()
    };
    let f = fixture(limits).await;
    let (addr, _stop) = serve(f.state.clone()).await;
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // One header byte every 100 ms: never a whole header.
    let mut cut = None;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if slow.write_all(b"X").await.is_err() {
            cut = Some(started.elapsed());
            break;
        }
        let mut probe = [0u8; 512];
        match tokio::time::timeout(Duration::from_millis(1), slow.read(&mut probe)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                cut = Some(started.elapsed());
                break;
            }
            Ok(Ok(_)) | Err(_) => {}
        }
    }
    let cut = cut.expect("the server kept a slow header open for 5 s");
    assert!(
        cut >= Duration::from_millis(500) && cut < Duration::from_millis(2500),
        "cut after {cut:?}"
    );
    // An idle connection that never sends a byte is closed the same way.
    let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    let t = Instant::now();
    assert!(
        read_until_closed(&mut idle, Duration::from_secs(3))
            .await
            .is_some()
    );
    assert!(
        t.elapsed() >= Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
    // A client that sends its header at once is answered.
    let mut ok = tokio::net::TcpStream::connect(addr).await.unwrap();
    ok.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let got = read_until_closed(&mut ok, Duration::from_secs(3))
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_limit_wait_for_a_free_slot() {
    let limits = Limits {
        max_connections: 2,
        header_read_timeout: Duration::from_secs(30),
        ..Limits::default()
    };
    let f = fixture(limits).await;
    let (addr, _stop) = serve(f.state.clone()).await;
    let a = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _b = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(f.state.open_connections(), 2);
    let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    assert!(
        read_until_closed(&mut c, Duration::from_millis(400))
            .await
            .is_none(),
        "a third connection was served beyond the limit of 2"
    );
    assert_eq!(f.state.open_connections(), 2);
    drop(a);
    let got = read_until_closed(&mut c, Duration::from_secs(3))
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&got).starts_with("HTTP/1.1 200"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_request_is_answered_503_at_the_request_timeout() {
    let limits = Limits {
        request_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let f = fixture(limits).await;
    let (addr, _stop) = serve(f.state.clone()).await;
    let token = f.token("dialer", &["contacts"]).await;
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    // The header says 100 bytes of body; 10 arrive.
    let head = format!(
        "POST /v1/contacts/check HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"borrowe"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let t = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("\"timeout\"") {
        match tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.contains("\"timeout\""), "{text}");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
}

#[tokio::test]
async fn a_hundred_thousand_invented_methods_add_no_metrics_labels() {
    let f = fixture(Limits::default()).await;
    let router = app(f.state.clone());
    for i in 0..100_000 {
        let m = Method::from_bytes(format!("M{i}").as_bytes()).unwrap();
        let res = router
            .clone()
            .oneshot(
                Request::builder()
                    .method(m)
                    .uri("/healthz")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    }
    let (requests, latency) = f.state.metrics().label_sets();
    assert_eq!(
        (requests, latency),
        (1, 1),
        "one label set: other, /healthz, 405"
    );
    let (_, _, text) = f
        .send(call("GET", "/metrics", None, &serde_json::Value::Null))
        .await;
    assert!(
        text.contains(
            "arrears_http_requests_total{method=\"other\",route=\"/healthz\",status=\"405\"} 100000"
        ),
        "{text}"
    );
    assert!(!text.contains("M99999"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_usernames_leave_the_login_limiter_bounded() {
    let f = fixture(Limits::default()).await;
    let router = app(f.state.clone());
    let mut refused = 0;
    for i in 0..100_000u32 {
        let body = serde_json::json!({"username": format!("u{i}"), "password": "guess"});
        let res = router
            .clone()
            .oneshot(from(
                "198.51.100.7:4000",
                call("POST", "/v1/login", None, &body),
            ))
            .await
            .unwrap();
        match res.status() {
            StatusCode::UNAUTHORIZED => assert!(i < auth::CLIENT_FAILURES_ALLOWED, "{i}"),
            StatusCode::TOO_MANY_REQUESTS => {
                assert!(res.headers().contains_key(header::RETRY_AFTER));
                refused += 1;
            }
            s => panic!("{s} at {i}"),
        }
    }
    assert_eq!(refused, 100_000 - auth::CLIENT_FAILURES_ALLOWED);
    let (keys, clients) = f.state.logins().sizes();
    assert_eq!(clients, 1);
    assert!(keys <= auth::CLIENT_FAILURES_ALLOWED as usize, "{keys}");

    // Many addresses behind a trusted proxy: each is its own client, and the limiter keeps
    // at most its capacity of them.
    let limits = Limits {
        login_keys: 40,
        trusted_proxies: vec!["10.0.0.1".parse().unwrap()],
        password_checks: 64,
        ..Limits::default()
    };
    let f = fixture(limits).await;
    let router = app(f.state.clone());
    let mut tasks = Vec::new();
    for i in 0..200u32 {
        let router = router.clone();
        tasks.push(tokio::spawn(async move {
            let body = serde_json::json!({"username": format!("v{i}"), "password": "guess"});
            let mut req = from("10.0.0.1:5000", call("POST", "/v1/login", None, &body));
            req.headers_mut().insert(
                "x-forwarded-for",
                format!("203.0.{}.{}", i / 250, i % 250 + 1)
                    .parse()
                    .unwrap(),
            );
            router.oneshot(req).await.unwrap().status()
        }));
        if tasks.len() == 8 {
            for t in tasks.drain(..) {
                assert_eq!(t.await.unwrap(), StatusCode::UNAUTHORIZED);
            }
            let (keys, clients) = f.state.logins().sizes();
            assert!(keys <= 40 && clients <= 40, "{keys} {clients}");
        }
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::UNAUTHORIZED);
    }
    let (keys, clients) = f.state.logins().sizes();
    assert!(keys <= 40 && clients <= 40 && keys > 0, "{keys} {clients}");
    // The proxy itself was never taken for the client.
    assert_eq!(
        f.state
            .logins()
            .locked_until("v0", "10.0.0.1".parse().unwrap(), Instant::now()),
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn password_checks_over_the_limit_are_answered_503() {
    let limits = Limits {
        password_checks: 2,
        ..Limits::default()
    };
    let f = fixture(limits).await;
    let router = app(f.state.clone());
    let login = |user: &str| {
        from(
            "192.0.2.1:1000",
            call(
                "POST",
                "/v1/login",
                None,
                &serde_json::json!({"username": user, "password": "wrong password"}),
            ),
        )
    };
    // Every slot taken: refused at once, with Retry-After, for the API and the page.
    let held = f.state.password_checks().occupy_all().await.unwrap();
    let res = router.clone().oneshot(login("ann")).await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()[header::RETRY_AFTER], "1");
    let (_, e, _) = answer(res).await;
    assert_eq!(e["error"]["code"], "busy");
    let page = Request::post("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("username=ann&password=whatever"))
        .unwrap();
    let res = router
        .clone()
        .oneshot(from("192.0.2.1:1000", page))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()[header::RETRY_AFTER], "1");
    drop(held);
    let res = router.clone().oneshot(login("ann")).await.unwrap();
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "a free slot checks the password"
    );
    // Sixteen at once: never more than two checks run, the rest are 503.
    let mut tasks = Vec::new();
    for i in 0..16 {
        let r = router.clone();
        let req = login(&format!("user{i}"));
        tasks.push(tokio::spawn(async move {
            r.oneshot(req).await.unwrap().status()
        }));
    }
    let mut busy = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::SERVICE_UNAVAILABLE => busy += 1,
            StatusCode::UNAUTHORIZED => {}
            s => panic!("{s}"),
        }
    }
    assert!(busy >= 1, "no login was refused");
    assert!(f.state.password_checks().peak() <= 2);
    assert!(f.state.password_checks().refused() >= 3);
}
