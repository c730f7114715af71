//! Issue 16, "bounded per-borrower lists": every /v1 route that lists a loan's or a
//! borrower's records answers a page of at most 200 items (`limit`, `offset`, `total`,
//! `next_offset`), and the OpenAPI document says so. The router runs in process over a
//! fresh SQLite store holding one loan with 250 promises.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use arrears_server::auth;
use arrears_server::{AppState, app};
use arrears_store::{DbTarget, Store};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use std::fmt::Write as _;
use std::time::Duration;
use tower::ServiceExt;

const PROMISES: usize = 250;

struct Fixture {
    _dir: tempfile::TempDir,
    state: AppState,
    token: String,
}

/// B1 with loan L1, overdue since 10-01, and `PROMISES` promises PR0001… made in November.
async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("portfolio");
    std::fs::create_dir(&p).unwrap();
    let mut promises = String::from("promise_id,loan_id,created_at,amount_minor,due_date\n");
    for i in 0..PROMISES {
        writeln!(
            promises,
            "PR{i:04},L1,2026-11-{:02}T15:00:00Z,{},2026-12-15",
            1 + i % 20,
            100 + i
        )
        .unwrap();
    }
    for (name, text) in [
        (
            "borrowers.csv",
            "borrower_id,name,phone,email,timezone,jurisdiction,deceased\n\
             B1,Mary,+12125550100,m@example.com,America/New_York,US-NY,false\n",
        ),
        (
            "loans.csv",
            "loan_id,borrower_id,product,currency,principal_minor,annual_rate_bps,penalty_rate_bps,disbursed_on\n\
             L1,B1,x,USD,100000,0,0,2026-01-01\n",
        ),
        (
            "installments.csv",
            "loan_id,seq,due_date,principal_minor,interest_minor,fee_minor\n\
             L1,1,2026-10-01,100000,0,0\n",
        ),
        (
            "payments.csv",
            "payment_id,loan_id,received_at,amount_minor\n",
        ),
        ("promises.csv", promises.as_str()),
    ] {
        std::fs::write(p.join(name), text).unwrap();
    }
    let store = Store::open(&DbTarget::Sqlite(dir.path().join("a.db")))
        .await
        .unwrap();
    let feed = arrears_store::read_feed(
        &store,
        &p,
        std::sync::Arc::new(|_: arrears_domain::Table, _: u64| {}),
    )
    .await
    .unwrap();
    store.import(&feed, "test", &|_, _| {}).await.unwrap();
    let (token, hash) = auth::new_token().unwrap();
    store
        .create_token(
            "reader",
            &hash,
            &["read"],
            "2026-11-28T00:00:00Z".parse().unwrap(),
        )
        .await
        .unwrap();
    let state = AppState::with_token_cache(store, None, auth::TokenCache::with_ttl(Duration::ZERO))
        .unwrap();
    Fixture {
        _dir: dir,
        state,
        token,
    }
}

impl Fixture {
    async fn get(&self, path: &str) -> (StatusCode, serde_json::Value, String) {
        let req = Request::builder()
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .body(Body::empty())
            .unwrap();
        let res = app(self.state.clone()).oneshot(req).await.unwrap();
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 24)
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
        (status, json, text)
    }
}

fn ids(v: &serde_json::Value) -> Vec<String> {
    v["promises"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["promise_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_loans_promises_come_a_bounded_page_at_a_time() {
    let f = fixture().await;
    // No limit: the first 200, and where the next page starts.
    let (s, first, raw) = f.get("/v1/loans/L1/promises?as_of=2026-11-28").await;
    assert_eq!(s, StatusCode::OK, "{raw}");
    assert_eq!(ids(&first).len(), 200, "{raw}");
    assert_eq!(first["total"], PROMISES, "{raw}");
    assert_eq!(first["next_offset"], 200, "{raw}");
    // The rest, then nothing more.
    let (s, rest, raw) = f
        .get("/v1/loans/L1/promises?as_of=2026-11-28&offset=200")
        .await;
    assert_eq!(s, StatusCode::OK, "{raw}");
    assert_eq!(ids(&rest).len(), PROMISES - 200, "{raw}");
    assert!(rest["next_offset"].is_null(), "{raw}");
    // Every promise exactly once over the pages.
    let mut all: Vec<String> = ids(&first).into_iter().chain(ids(&rest)).collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), PROMISES);
    // A smaller page in the middle.
    let (s, mid, raw) = f.get("/v1/loans/L1/promises?limit=7&offset=100").await;
    assert_eq!(s, StatusCode::OK, "{raw}");
    assert_eq!(ids(&mid), ids(&first)[100..107].to_vec(), "{raw}");
    assert_eq!(mid["next_offset"], 107, "{raw}");
    // Past the end: an empty page.
    let (s, past, raw) = f.get("/v1/loans/L1/promises?offset=100000").await;
    assert_eq!(s, StatusCode::OK, "{raw}");
    assert!(
        ids(&past).is_empty() && past["next_offset"].is_null(),
        "{raw}"
    );
}

#[tokio::test]
async fn a_page_larger_than_the_maximum_or_a_bad_offset_is_refused() {
    let f = fixture().await;
    for route in [
        "/v1/loans/L1/promises",
        "/v1/loans/L1/payment-plans",
        "/v1/loans/L1/placements",
        "/v1/loans/L1/legal-cases",
        "/v1/loans/L1/write-offs",
        "/v1/accounts/L1",
        "/v1/borrowers/B1/audit-export",
    ] {
        for q in ["limit=201", "limit=0", "limit=-1", "limit=x", "offset=-3"] {
            let (s, body, raw) = f.get(&format!("{route}?{q}")).await;
            assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{route}?{q}: {raw}");
            assert_eq!(body["error"]["code"], "invalid_field", "{route}?{q}: {raw}");
        }
    }
    // Within the bounds each list route answers a page (the audit export needs a log: 503).
    for route in [
        "/v1/loans/L1/payment-plans",
        "/v1/loans/L1/placements",
        "/v1/loans/L1/legal-cases",
        "/v1/loans/L1/write-offs",
    ] {
        let (s, body, raw) = f.get(&format!("{route}?limit=200&offset=0")).await;
        assert_eq!(s, StatusCode::OK, "{route}: {raw}");
        assert_eq!(body["total"], 0, "{route}: {raw}");
        assert!(body["next_offset"].is_null(), "{route}: {raw}");
    }
    let (s, acct, raw) = f.get("/v1/accounts/L1?limit=1").await;
    assert_eq!(s, StatusCode::OK, "{raw}");
    assert_eq!(acct["total_events"], 0, "{raw}");
    assert_eq!(acct["total_snapshot_dates"], 0, "{raw}");
    assert!(acct["next_offset"].is_null(), "{raw}");
}

#[test]
fn the_openapi_document_states_each_lists_page_bounds() {
    let doc = arrears_server::openapi();
    for (route, body) in [
        ("/v1/loans/{loan_id}/promises", Some("LoanPromises")),
        ("/v1/loans/{loan_id}/payment-plans", Some("LoanPlans")),
        ("/v1/loans/{loan_id}/placements", Some("LoanPlacements")),
        ("/v1/loans/{loan_id}/legal-cases", Some("LoanLegalCases")),
        ("/v1/loans/{loan_id}/write-offs", Some("LoanWriteOffs")),
        ("/v1/accounts/{loan_id}", Some("Account")),
        ("/v1/borrowers/{borrower_id}/audit-export", None),
    ] {
        let params = doc["paths"][route]["get"]["parameters"]
            .as_array()
            .unwrap_or_else(|| panic!("{route} has no parameters"));
        let param = |name: &str| {
            params
                .iter()
                .find(|p| p["name"] == name && p["in"] == "query")
                .unwrap_or_else(|| panic!("{route} has no query parameter {name}"))
        };
        assert_eq!(param("limit")["schema"]["maximum"], 200, "{route}");
        assert_eq!(param("limit")["schema"]["minimum"], 1, "{route}");
        assert_eq!(param("offset")["schema"]["minimum"], 0, "{route}");
        assert_eq!(arrears_server::work::MAX_LIST_ITEMS, 200);
        if let Some(body) = body {
            let props = &doc["components"]["schemas"][body]["properties"];
            assert!(props["next_offset"].is_object(), "{body}: {props}");
        }
    }
}
