//! Debt sale over HTTP (docs/sale.md): `POST /v1/sales` needs scope `admin` (403 without),
//! records a sale once (201, then 200 `recorded_before`), refuses an unknown loan (404), a
//! price above face value (422) and a loan sold already (422 `not_for_sale`); the borrower's
//! portal then names the new owner and the date and no longer tells them to pay the lender.

use super::{get, portal_session};
use crate::server::{ok, spawn_app};
use crate::store::{Backend, fresh};
use serde_json::{Value, json};

fn post_json(base: &str, token: &str, body: &Value) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = agent
        .post(format!("{base}/v1/sales"))
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .expect("answered");
    let status = r.status().as_u16();
    let raw = r.body_mut().read_to_string().unwrap();
    (
        status,
        serde_json::from_str(&raw).unwrap_or(Value::String(raw)),
    )
}

#[test]
fn a_supervisor_token_records_a_sale_and_the_portal_names_the_new_owner() {
    for b in [Backend::Sqlite, Backend::Postgres] {
        let Some(db) = fresh(b) else { continue };
        let s = spawn_app(db, &[]);
        let token = |name: &str, scope: &str| {
            ok(&[
                "tokens",
                "create",
                "--name",
                name,
                "--scope",
                scope,
                "--db",
                &s.db.target,
            ])
            .trim()
            .to_owned()
        };
        let admin = token("seller", "admin");
        let worker = token("worker", "work");
        let sale = json!({
            "buyer": "Recovery Partners Ltd",
            "price_bps": 1500,
            "sold_on": "2026-11-29",
            "loan_ids": ["L1"],
        });
        let (st, body) = post_json(&s.base, &worker, &sale);
        assert_eq!(st, 403, "{b:?} {body}");
        assert_eq!(body["error"]["code"], "missing_scope", "{body}");
        let (st, body) = post_json(&s.base, &admin, &sale);
        assert_eq!(st, 201, "{b:?} {body}");
        assert_eq!(body["outcome"], "recorded");
        // L1 owes 100000 principal (no rate, no fee, no penalty): 15% is 15000.
        assert_eq!(body["totals"][0]["face_minor"], "100000", "{body}");
        assert_eq!(body["totals"][0]["price_minor"], "15000", "{body}");
        assert_eq!(body["totals"][0]["loss_minor"], "85000", "{body}");
        assert!(
            body["next"].as_str().unwrap().contains("sale notices"),
            "{body}"
        );
        let (st, again) = post_json(&s.base, &admin, &sale);
        assert_eq!(st, 200, "{again}");
        assert_eq!(again["outcome"], "recorded_before");
        assert_eq!(again["sale_id"], body["sale_id"]);
        let (st, e) = post_json(
            &s.base,
            &admin,
            &json!({"buyer": "X", "price_bps": 100, "sold_on": "2026-11-29", "loan_ids": ["L404"]}),
        );
        assert_eq!(st, 404, "{e}");
        let (st, e) = post_json(
            &s.base,
            &admin,
            &json!({"buyer": "X", "price_bps": 10001, "sold_on": "2026-11-29", "loan_ids": ["L2"]}),
        );
        assert_eq!(st, 422, "{e}");
        let (st, e) = post_json(
            &s.base,
            &admin,
            &json!({"buyer": "Other", "price_bps": 100, "sold_on": "2026-11-30", "loan_ids": ["L1"]}),
        );
        assert_eq!(st, 422, "{e}");
        assert_eq!(e["error"]["code"], "not_for_sale", "{e}");
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .contains("already_sold"),
            "{e}"
        );
        // The portal of B1 names the buyer and the date, and drops the lender's pay block on L1.
        let cookie = portal_session(&s, "B1");
        let p = get(&s, "/portal/b/B1", Some(&cookie));
        assert_eq!(p.status, 200, "{}", p.body);
        assert!(p.body.contains("This debt now belongs to"), "{}", p.body);
        assert!(
            p.body
                .contains(r#"<span class="owner-buyer">Recovery Partners Ltd</span>"#),
            "{}",
            p.body
        );
        assert!(
            p.body
                .contains(r#"<span class="owner-since">2026-11-29</span>"#),
            "{}",
            p.body
        );
        let l1 = p
            .body
            .split(r#"data-loan="L1""#)
            .nth(1)
            .unwrap()
            .split("</section>")
            .next()
            .unwrap();
        assert!(!l1.contains("pay-reference"), "{l1}");
        // B2's loan was not sold: no owner line on their page.
        let cookie2 = portal_session(&s, "B2");
        let p2 = get(&s, "/portal/b/B2", Some(&cookie2));
        assert!(!p2.body.contains("This debt now belongs to"), "{}", p2.body);
        assert!(p2.body.contains("pay-reference"), "{}", p2.body);
    }
}
