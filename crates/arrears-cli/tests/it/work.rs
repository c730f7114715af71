//! The collections-work routes (docs/work.md) against a real `arrears serve` on a fresh
//! SQLite file and a fresh PostgreSQL database: promises kept and broken, payment plans,
//! placements and recalls, legal cases, write-offs, the day's plan and queues (compared with
//! `arrears plan --db`), the audit export (compared with `arrears audit export`), and bad
//! input answered 4xx with a JSON error.

use crate::server::ok;
use crate::store::{Backend, TestDb, fresh};
use crate::{arrears, portfolio, text};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// B1 (L1) and B2 (L2) live in New York; both loans are 100000 overdue since 10-01; L1 has a
/// promise PR1 of 5000 made on 11-20, due 11-25.
fn work_portfolio() -> tempfile::TempDir {
    portfolio(&[
        (
            "borrowers.csv",
            "borrower_id,name,phone,email,timezone,jurisdiction,deceased\n\
             B1,Mary,+12125550100,m@example.com,America/New_York,US-NY,false\n\
             B2,Tom,+12125550101,,America/New_York,US-NY,false\n",
        ),
        (
            "loans.csv",
            "loan_id,borrower_id,product,currency,principal_minor,annual_rate_bps,penalty_rate_bps,disbursed_on\n\
             L1,B1,x,USD,100000,0,0,2026-01-01\n\
             L2,B2,x,USD,100000,0,0,2026-01-01\n",
        ),
        (
            "installments.csv",
            "loan_id,seq,due_date,principal_minor,interest_minor,fee_minor\n\
             L1,1,2026-10-01,100000,0,0\n\
             L2,1,2026-10-01,100000,0,0\n",
        ),
        (
            "payments.csv",
            "payment_id,loan_id,received_at,amount_minor\n",
        ),
        (
            "contacts.csv",
            "contact_id,borrower_id,loan_id,channel,direction,at,outcome,target,party\n\
             C1,B1,L1,call,outbound,2026-11-20T15:00:00Z,right_party,+12125550100,borrower\n",
        ),
        (
            "promises.csv",
            "promise_id,loan_id,created_at,amount_minor,due_date\n\
             PR1,L1,2026-11-20T15:00:00Z,5000,2026-11-25\n",
        ),
        (
            "notices.csv",
            "notice_id,borrower_id,loan_id,kind,sent_at,channel\n\
             N1,B1,L1,validation,2026-11-21T15:00:00Z,letter\n\
             N2,B2,L2,validation,2026-11-21T15:00:00Z,letter\n",
        ),
    ])
}

struct Srv {
    child: Option<Child>,
    base: String,
    token: String,
    db: TestDb,
    _portfolio: tempfile::TempDir,
    _logs: tempfile::TempDir,
}

impl Drop for Srv {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            for _ in 0..100 {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn import(db: &TestDb) -> tempfile::TempDir {
    let p = work_portfolio();
    ok(&[
        "import",
        "--portfolio",
        p.path().to_str().unwrap(),
        "--db",
        &db.target,
        "--quiet",
        "--rejects",
        "/dev/null",
    ]);
    // The lender's statute of limitations, so US-TIMEBAR can clear a legal referral (the
    // debts fell due in 2026).
    let policy = p.path().join("policy.toml");
    std::fs::write(
        &policy,
        "[policy]\nname = \"work-tests\"\n[limitation_years]\nUS = 6\n",
    )
    .unwrap();
    ok(&[
        "policy",
        "set",
        policy.to_str().unwrap(),
        "--effective-from",
        "2020-01-01",
        "--db",
        &db.target,
    ]);
    p
}

/// Starts `arrears serve` over a store `import` has filled.
fn serve(db: TestDb, p: tempfile::TempDir, extra: &[&str]) -> Srv {
    let token = ok(&[
        "tokens", "create", "--name", "work", "--scope", "contacts", "--scope", "events",
        "--scope", "work", "--scope", "read", "--db", &db.target,
    ])
    .trim()
    .to_owned();
    let logs = tempfile::tempdir().unwrap();
    let err = std::fs::File::create(logs.path().join("stderr.log")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_arrears"))
        .args(["serve", "--db", &db.target, "--listen", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(err)
        .spawn()
        .expect("arrears serve starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let Some(base) = line.trim().strip_prefix("listening on ").map(str::to_owned) else {
        let _ = child.kill();
        panic!(
            "first line {line:?}; stderr: {}",
            std::fs::read_to_string(logs.path().join("stderr.log")).unwrap_or_default()
        );
    };
    Srv {
        child: Some(child),
        base,
        token,
        db,
        _portfolio: p,
        _logs: logs,
    }
}

fn on_both(f: impl Fn(&Srv, Backend)) {
    for b in [Backend::Sqlite, Backend::Postgres] {
        if let Some(db) = fresh(b) {
            let p = import(&db);
            let s = serve(db, p, &[]);
            f(&s, b);
        }
    }
}

struct Res {
    status: u16,
    body: Value,
    raw: String,
    content_type: String,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

fn finish(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Res {
    let mut r = r.expect("the request is answered");
    let status = r.status().as_u16();
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let raw = r
        .body_mut()
        .with_config()
        .limit(10 << 20)
        .read_to_string()
        .unwrap();
    let body = serde_json::from_str(&raw).unwrap_or(Value::String(raw.clone()));
    Res {
        status,
        body,
        raw,
        content_type,
    }
}

impl Srv {
    fn post_raw(&self, path: &str, body: &str) -> Res {
        finish(
            agent()
                .post(format!("{}{path}", self.base))
                .header("Authorization", &format!("Bearer {}", self.token))
                .header("Content-Type", "application/json")
                .send(body),
        )
    }

    fn post(&self, path: &str, body: &Value) -> Res {
        self.post_raw(path, &body.to_string())
    }

    fn get(&self, path: &str) -> Res {
        finish(
            agent()
                .get(format!("{}{path}", self.base))
                .header("Authorization", &format!("Bearer {}", self.token))
                .call(),
        )
    }

    fn event(&self, body: Value) {
        let r = self.post("/v1/events", &body);
        assert_eq!(r.status, 201, "{}", r.raw);
    }

    fn created(&self, path: &str, body: &Value) {
        let r = self.post(path, body);
        assert_eq!(r.status, 201, "{path} {body}: {}", r.raw);
        assert_eq!(r.body["status"], "recorded", "{}", r.raw);
    }
}

/// The error shape every 4xx has.
fn assert_error(r: &Res, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", r.raw);
    assert!(
        r.content_type.starts_with("application/json"),
        "{}",
        r.content_type
    );
    assert_eq!(r.body["error"]["code"], code, "{}", r.raw);
    let msg = r.body["error"]["message"].as_str().unwrap_or("");
    assert!(msg.len() > 10 && msg.ends_with('.'), "a sentence: {msg:?}");
}

fn promise<'a>(list: &'a Value, id: &str) -> &'a Value {
    list["promises"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["promise_id"] == id)
        .unwrap_or_else(|| panic!("{id} in {list}"))
}

fn access_actions(s: &Srv, borrower: &str) -> Vec<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let target = arrears_store::DbTarget::parse(&s.db.target).unwrap();
    rt.block_on(async {
        let store = arrears_store::Store::open(&target).await.unwrap();
        let log = store.access_log(borrower).await.unwrap();
        store.close().await;
        log.into_iter().map(|a| a.action).collect()
    })
}

#[test]
fn promises_are_kept_by_payments_and_broken_after_their_due_date() {
    on_both(|s, _| {
        let r = s.get("/v1/loans/L1/promises?as_of=2026-11-24");
        assert_eq!(r.status, 200, "{}", r.raw);
        assert_eq!(promise(&r.body, "PR1")["status"], "pending", "{}", r.raw);
        s.event(json!({
            "event_id": "E-PAY1", "type": "payment", "payment_id": "PAY1", "loan_id": "L1",
            "received_at": "2026-11-22T16:00:00Z", "amount_minor": 6000
        }));
        let r = s.get("/v1/loans/L1/promises?as_of=2026-11-30");
        let p = promise(&r.body, "PR1");
        assert_eq!(p["status"], "kept", "{}", r.raw);
        assert_eq!(p["kept_on"], "2026-11-22", "{}", r.raw);
        // A promise made through the API, not paid by its due date.
        s.event(json!({
            "event_id": "E-PR2", "type": "promise_to_pay", "promise_id": "PR2", "loan_id": "L1",
            "created_at": "2026-11-26T10:00:00Z", "amount_minor": 1000, "due_date": "2026-11-28"
        }));
        let r = s.get("/v1/loans/L1/promises?as_of=2026-11-27");
        assert_eq!(promise(&r.body, "PR2")["status"], "pending", "{}", r.raw);
        let r = s.get("/v1/loans/L1/promises?as_of=2026-11-29");
        let p = promise(&r.body, "PR2");
        assert_eq!(p["status"], "broken", "{}", r.raw);
        assert_eq!(p["broken_on"], "2026-11-29", "{}", r.raw);
        assert_eq!(promise(&r.body, "PR1")["status"], "kept", "{}", r.raw);
        assert!(
            access_actions(s, "B1").contains(&"promises.list".to_owned()),
            "the read is logged"
        );
        assert_error(&s.get("/v1/loans/NOPE/promises"), 404, "unknown_loan");
        assert_error(
            &s.get("/v1/loans/L1/promises?as_of=2026-13-01"),
            422,
            "invalid_field",
        );
    });
}

fn plan_body(status: &str) -> Value {
    json!({
        "plan_id": "PP1", "loan_id": "L1", "created_at": "2026-11-21T10:00:00Z",
        "created_by": "work", "status": status,
        "installments": [
            {"due_date": "2026-11-25", "amount_minor": 3000},
            {"due_date": "2026-12-25", "amount_minor": 3000}
        ]
    })
}

#[test]
fn payment_plan_instalments_are_paid_from_payments_and_transitions_are_checked() {
    on_both(|s, _| {
        s.created("/v1/payment-plans", &plan_body("active"));
        let r = s.post("/v1/payment-plans", &plan_body("active"));
        assert_eq!(r.status, 200, "{}", r.raw);
        assert_eq!(r.body["status"], "already_recorded");
        assert_error(
            &s.post("/v1/payment-plans", &plan_body("proposed")),
            409,
            "request_conflict",
        );
        s.event(json!({
            "event_id": "E-PAY2", "type": "payment", "payment_id": "PAY2", "loan_id": "L1",
            "received_at": "2026-11-23T16:00:00Z", "amount_minor": 4000
        }));
        let r = s.get("/v1/loans/L1/payment-plans?as_of=2026-11-30");
        assert_eq!(r.status, 200, "{}", r.raw);
        let plan = &r.body["plans"][0];
        assert_eq!(plan["status"], "active", "{}", r.raw);
        assert_eq!(plan["installments"][0]["state"], "paid", "{}", r.raw);
        assert_eq!(
            plan["installments"][0]["paid_on"], "2026-11-23",
            "{}",
            r.raw
        );
        assert_eq!(plan["installments"][1]["state"], "unpaid", "{}", r.raw);
        assert_eq!(plan["installments"][1]["paid_minor"], 1000, "{}", r.raw);
        assert_eq!(plan["installments"][1]["overdue"], false, "{}", r.raw);
        // Transitions: active -> completed, then nothing leaves completed.
        let done = json!({"status": "completed", "at": "2026-12-26T10:00:00Z"});
        s.created("/v1/payment-plans/PP1/status", &done);
        let r = s.post("/v1/payment-plans/PP1/status", &done);
        assert_eq!(r.status, 200, "a replay: {}", r.raw);
        assert_error(
            &s.post(
                "/v1/payment-plans/PP1/status",
                &json!({"status": "active", "at": "2026-12-27T10:00:00Z"}),
            ),
            409,
            "illegal_transition",
        );
        assert_error(
            &s.post(
                "/v1/payment-plans/NOPE/status",
                &json!({"status": "active", "at": "2026-12-27T10:00:00Z"}),
            ),
            404,
            "unknown_plan",
        );
        let r = s.get("/v1/loans/L1/payment-plans?as_of=2026-12-30");
        assert_eq!(r.body["plans"][0]["status"], "completed", "{}", r.raw);
        assert_eq!(
            r.body["plans"][0]["history"].as_array().unwrap().len(),
            2,
            "{}",
            r.raw
        );
        // Bad plans.
        for (body, why) in [
            (
                json!({"plan_id": "PP2", "loan_id": "L1", "created_at": "2026-11-21T10:00:00Z", "created_by": "work",
                       "installments": [{"due_date": "2026-12-25", "amount_minor": 1}, {"due_date": "2026-12-01", "amount_minor": 1}]}),
                "dates not increasing",
            ),
            (
                json!({"plan_id": "PP2", "loan_id": "L1", "created_at": "2026-11-21T10:00:00Z", "created_by": "work",
                       "installments": [{"due_date": "2026-12-25", "amount_minor": 0}]}),
                "a zero amount",
            ),
            (
                json!({"plan_id": "PP2", "loan_id": "L1", "created_at": "2026-11-21T10:00:00Z", "created_by": "work",
                       "installments": []}),
                "no instalments",
            ),
            (
                json!({"plan_id": "PP2", "loan_id": "L1", "created_at": "2026-11-21T10:00:00Z", "created_by": "work",
                       "status": "completed", "installments": [{"due_date": "2026-12-25", "amount_minor": 5}]}),
                "a new plan that is completed",
            ),
        ] {
            let r = s.post("/v1/payment-plans", &body);
            assert_eq!(r.status, 422, "{why}: {}", r.raw);
        }
    });
}

fn placement(id: &str, loan: &str) -> Value {
    json!({"placement_id": id, "loan_id": loan, "agency_id": "AG1",
           "placed_at": "2026-11-30T15:00:00Z", "commission_bps": 2500})
}

#[test]
fn placements_are_checked_and_a_loan_has_one_live_placement() {
    on_both(|s, _| {
        s.event(json!({
            "event_id": "E-DISPUTE", "type": "dispute_opened", "borrower_id": "B2",
            "at": "2026-11-29T10:00:00Z"
        }));
        let r = s.post("/v1/placements", &placement("P2", "L2"));
        assert_error(&r, 422, "placement_denied");
        let rules = r.body["error"]["rule_ids"].as_array().unwrap();
        assert!(
            rules.iter().any(|x| x == "ALL-HOLD-DISPUTE"),
            "the dispute hold: {}",
            r.raw
        );
        let r = s.get("/v1/loans/L2/placements");
        assert_eq!(r.body["placements"], json!([]), "{}", r.raw);

        s.created("/v1/placements", &placement("P1", "L1"));
        let r = s.post("/v1/placements", &placement("P1", "L1"));
        assert_eq!(r.status, 200, "a replay: {}", r.raw);
        assert_error(
            &s.post("/v1/placements", &placement("P1b", "L1")),
            409,
            "placement_live",
        );
        let recall = json!({"recalled_at": "2026-12-10T15:00:00Z", "reason": "no progress"});
        s.created("/v1/placements/P1/recall", &recall);
        assert_eq!(s.post("/v1/placements/P1/recall", &recall).status, 200);
        assert_error(
            &s.post(
                "/v1/placements/P1/recall",
                &json!({"recalled_at": "2026-12-11T15:00:00Z", "reason": "again"}),
            ),
            409,
            "request_conflict",
        );
        s.created("/v1/placements", &placement("P3", "L1"));
        let r = s.get("/v1/loans/L1/placements");
        let ps = r.body["placements"].as_array().unwrap();
        assert_eq!(ps.len(), 2, "{}", r.raw);
        assert_eq!(ps[0]["placement_id"], "P1");
        assert_eq!(ps[0]["state"], "recalled");
        assert_eq!(ps[0]["recall_reason"], "no progress");
        assert_eq!(ps[1]["placement_id"], "P3");
        assert_eq!(ps[1]["state"], "live");
        assert_eq!(ps[1]["commission_bps"], 2500);
        let mut bad = placement("P4", "L2");
        bad["commission_bps"] = json!(20000);
        assert_error(&s.post("/v1/placements", &bad), 422, "invalid_field");
        assert_error(
            &s.post("/v1/placements/NOPE/recall", &recall),
            404,
            "unknown_placement",
        );
    });
}

#[test]
fn legal_cases_are_checked_and_move_forward() {
    on_both(|s, _| {
        let case = |id: &str, loan: &str| {
            json!({"case_id": id, "loan_id": loan, "court": "NY Civil Court",
                   "case_number": "CV-2026-1", "amount_claimed_minor": 100000,
                   "filed_at": "2026-11-30T15:00:00Z"})
        };
        s.event(json!({
            "event_id": "E-DISPUTE", "type": "dispute_opened", "borrower_id": "B2",
            "at": "2026-11-29T10:00:00Z"
        }));
        let r = s.post("/v1/legal-cases", &case("LC2", "L2"));
        assert_error(&r, 422, "legal_referral_denied");
        assert!(r.raw.contains("ALL-HOLD-DISPUTE"), "{}", r.raw);
        s.created("/v1/legal-cases", &case("LC1", "L1"));
        s.created(
            "/v1/legal-cases/LC1/status",
            &json!({"status": "judgment", "at": "2026-12-15T10:00:00Z", "amount_awarded_minor": 90000}),
        );
        assert_error(
            &s.post(
                "/v1/legal-cases/LC1/status",
                &json!({"status": "filed", "at": "2026-12-16T10:00:00Z"}),
            ),
            409,
            "illegal_transition",
        );
        s.created(
            "/v1/legal-cases/LC1/status",
            &json!({"status": "closed", "at": "2026-12-20T10:00:00Z", "note": "settled"}),
        );
        let r = s.get("/v1/loans/L1/legal-cases");
        let c = &r.body["cases"][0];
        assert_eq!(c["status"], "closed", "{}", r.raw);
        assert_eq!(c["amount_awarded_minor"], 90000, "{}", r.raw);
        assert_eq!(c["history"].as_array().unwrap().len(), 3, "{}", r.raw);
        assert_error(
            &s.post(
                "/v1/legal-cases/LC1/status",
                &json!({"status": "enforcement", "at": "2026-12-21T10:00:00Z", "amount_awarded_minor": 5}),
            ),
            422,
            "invalid_field",
        );
    });
}

#[test]
fn write_offs_need_a_snapshot_and_stay_within_the_outstanding_total() {
    on_both(|s, _| {
        let w = |id: &str, amount: i64| {
            json!({"write_off_id": id, "loan_id": "L1", "amount_minor": amount,
                   "reason": "uncollectable", "approved_by": "work"})
        };
        assert_error(
            &s.post("/v1/write-offs", &w("W1", 1000)),
            409,
            "no_snapshot",
        );
        let out = tempfile::tempdir().unwrap();
        ok(&[
            "run",
            "--as-of",
            "2026-11-30",
            "--db",
            &s.db.target,
            "--out",
            out.path().to_str().unwrap(),
            "--format",
            "csv",
        ]);
        // Outstanding: principal 100000, no interest, fees or penalty.
        assert_error(
            &s.post("/v1/write-offs", &w("W1", 100_001)),
            422,
            "invalid_field",
        );
        s.created("/v1/write-offs", &w("W1", 60_000));
        assert_eq!(s.post("/v1/write-offs", &w("W1", 60_000)).status, 200);
        assert_error(
            &s.post("/v1/write-offs", &w("W2", 50_000)),
            422,
            "invalid_field",
        );
        s.created("/v1/write-offs", &w("W2", 40_000));
        let r = s.get("/v1/loans/L1/write-offs");
        let ws = r.body["write_offs"].as_array().unwrap();
        assert_eq!(ws.len(), 2, "{}", r.raw);
        assert_eq!(ws[0]["outstanding_minor"], 100_000, "{}", r.raw);
        assert_eq!(ws[0]["snapshot_as_of"], "2026-11-30", "{}", r.raw);
        // A plan must now cover the arrears the snapshot shows (100000 overdue).
        let mut small = plan_body("proposed");
        small["plan_id"] = json!("PP9");
        assert_error(&s.post("/v1/payment-plans", &small), 422, "invalid_field");
        // The recorded write-off sets the loan's status: the next daily run over the store
        // writes L1 off, and the plan no longer works it.
        let out = tempfile::tempdir().unwrap();
        ok(&[
            "run",
            "--as-of",
            "2026-12-01",
            "--db",
            &s.db.target,
            "--export",
            out.path().to_str().unwrap(),
            "--quiet",
        ]);
        let accounts = std::fs::read_to_string(out.path().join("accounts.csv")).unwrap();
        let l1 = accounts.lines().find(|l| l.starts_with("L1,")).unwrap();
        assert_eq!(l1.split(',').nth(3), Some("written_off"), "{accounts}");
        let l2 = accounts.lines().find(|l| l.starts_with("L2,")).unwrap();
        assert_eq!(l2.split(',').nth(3), Some("delinquent"), "{accounts}");
    });
}

#[test]
fn bad_input_is_a_4xx_json_error_never_a_500() {
    on_both(|s, _| {
        let posts = [
            "/v1/payment-plans",
            "/v1/payment-plans/PP1/status",
            "/v1/placements",
            "/v1/placements/P1/recall",
            "/v1/legal-cases",
            "/v1/legal-cases/LC1/status",
            "/v1/write-offs",
        ];
        let bodies = [
            "{not json",
            "[]",
            "{}",
            r#"{"plan_id": 5}"#,
            r#"{"placement_id": "P", "loan_id": "L1'; DROP TABLE loans; --", "agency_id": "A", "placed_at": "2026-11-30T15:00:00Z"}"#,
            r#"{"write_off_id": "W", "loan_id": "L1", "amount_minor": -5, "reason": "r", "approved_by": "work"}"#,
            r#"{"case_id": "C", "loan_id": "L1", "court": "", "case_number": "1", "amount_claimed_minor": 1, "filed_at": "2026-11-30T15:00:00Z"}"#,
            r#"{"status": "lottery", "at": "2026-11-30T15:00:00Z"}"#,
            r#"{"recalled_at": "yesterday", "reason": "r"}"#,
        ];
        for p in posts {
            for b in bodies {
                let r = s.post_raw(p, b);
                assert!(
                    (400..500).contains(&r.status),
                    "POST {p} {b}: {} {}",
                    r.status,
                    r.raw
                );
                assert!(r.body["error"]["code"].is_string(), "{p} {b}: {}", r.raw);
            }
        }
        for g in [
            "/v1/loans/L1'--/promises",
            "/v1/loans/L1/promises?as_of=yesterday",
            "/v1/loans/%00/payment-plans",
            "/v1/loans/NOPE/placements",
            "/v1/loans/NOPE/legal-cases",
            "/v1/loans/NOPE/write-offs",
            "/v1/plan",
            "/v1/plan?as_of=2026-02-30",
            "/v1/queues/early?as_of=bad",
        ] {
            let r = s.get(g);
            assert!((400..500).contains(&r.status), "GET {g}: {}", r.raw);
            assert!(r.body["error"]["code"].is_string(), "{g}: {}", r.raw);
        }
        assert_error(
            &s.get("/v1/borrowers/B1/audit-export"),
            503,
            "audit_log_unavailable",
        );
        // SQL metacharacters in an id are data: stored and read back as sent.
        let odd = "x'; DROP TABLE loans; --";
        s.created(
            "/v1/placements",
            &json!({"placement_id": odd, "loan_id": "L1", "agency_id": "A\"'",
                    "placed_at": "2026-11-30T15:00:00Z"}),
        );
        let r = s.get("/v1/loans/L1/placements");
        assert_eq!(r.body["placements"][0]["placement_id"], odd, "{}", r.raw);
        assert_eq!(r.body["placements"][0]["agency_id"], "A\"'", "{}", r.raw);
        assert_eq!(s.get("/v1/loans/L2/promises").status, 200);
    });
}

fn csv_rows(path: &std::path::Path) -> Vec<std::collections::HashMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let headers = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            headers
                .iter()
                .zip(rec.iter())
                .map(|(h, v)| (h.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

fn opt(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[test]
fn the_plan_and_queues_are_what_arrears_plan_over_the_store_writes() {
    on_both(|s, _| {
        let out = tempfile::tempdir().unwrap();
        ok(&[
            "plan",
            "--as-of",
            "2026-11-30",
            "--db",
            &s.db.target,
            "--out",
            out.path().to_str().unwrap(),
            "--quiet",
        ]);
        let actions = csv_rows(&out.path().join("actions.csv"));
        let blocked = csv_rows(&out.path().join("blocked.csv"));
        assert!(
            !actions.is_empty() || !blocked.is_empty(),
            "the plan decides something"
        );
        let r = s.get("/v1/plan?as_of=2026-11-30");
        assert_eq!(r.status, 200, "{}", r.raw);
        let api = r.body["actions"].as_array().unwrap();
        assert_eq!(api.len(), actions.len(), "{}", r.raw);
        for (a, c) in api.iter().zip(&actions) {
            for col in [
                "action_id",
                "loan_id",
                "borrower_id",
                "kind",
                "channel",
                "party",
                "target",
                "template",
                "language",
                "not_before",
                "not_after",
                "queue",
                "priority",
                "rule_id",
                "arm",
                "verification_code",
            ] {
                assert_eq!(opt(&a[col]), c[col], "{col} of {a}");
            }
        }
        let api_blocked = r.body["blocked"].as_array().unwrap();
        assert_eq!(api_blocked.len(), blocked.len(), "{}", r.raw);
        for (a, c) in api_blocked.iter().zip(&blocked) {
            assert_eq!(opt(&a["action_id"]), c["action_id"]);
            let ids: Vec<String> = a["rule_ids"].as_array().unwrap().iter().map(opt).collect();
            assert_eq!(ids.join(";"), c["rule_ids"], "{a}");
            assert_eq!(opt(&a["earliest_allowed"]), c["earliest_allowed"], "{a}");
        }
        let mut queues: Vec<&str> = actions
            .iter()
            .map(|a| a["queue"].as_str())
            .filter(|q| !q.is_empty())
            .collect();
        queues.sort_unstable();
        queues.dedup();
        for q in queues {
            let r = s.get(&format!("/v1/queues/{q}?as_of=2026-11-30"));
            assert_eq!(r.status, 200, "{}", r.raw);
            let got: Vec<String> = r.body["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| opt(&t["action_id"]))
                .collect();
            let mut want: Vec<(u16, String)> = actions
                .iter()
                .filter(|a| a["queue"] == q)
                .map(|a| {
                    (
                        a["priority"].parse().unwrap_or(u16::MAX),
                        a["action_id"].clone(),
                    )
                })
                .collect();
            want.sort();
            let want: Vec<String> = want.into_iter().map(|w| w.1).collect();
            assert_eq!(got, want, "queue {q}");
        }
        let r = s.get("/v1/queues/no_such_queue?as_of=2026-11-30");
        assert_eq!(r.status, 200, "{}", r.raw);
        assert_eq!(r.body["tasks"], json!([]));
    });
}

#[test]
fn the_audit_export_is_what_arrears_audit_export_writes() {
    for b in [Backend::Sqlite, Backend::Postgres] {
        let Some(db) = fresh(b) else { continue };
        let p = import(&db);
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        ok(&["keys", "init", "--dir", keys.to_str().unwrap()]);
        let log = dir.path().join("audit.jsonl");
        let out = dir.path().join("plan");
        ok(&[
            "plan",
            "--as-of",
            "2026-11-30",
            "--db",
            &db.target,
            "--out",
            out.to_str().unwrap(),
            "--log",
            log.to_str().unwrap(),
            "--keys",
            keys.to_str().unwrap(),
            "--quiet",
        ]);
        let export = dir.path().join("export");
        let cli = arrears(&[
            "audit",
            "export",
            "--borrower",
            "B1",
            "--log",
            log.to_str().unwrap(),
            "--out",
            export.to_str().unwrap(),
        ]);
        let s = serve(
            db,
            p,
            &[
                "--keys",
                keys.to_str().unwrap(),
                "--audit-log",
                log.to_str().unwrap(),
            ],
        );
        let r = s.get("/v1/borrowers/B1/audit-export");
        if cli.status.success() {
            assert_eq!(r.status, 200, "{}", r.raw);
            let want: Value =
                serde_json::from_str(&std::fs::read_to_string(export.join("B1.json")).unwrap())
                    .unwrap();
            assert_eq!(r.body, want);
            assert_eq!(r.body["chain"], "intact");
            assert!(access_actions(&s, "B1").contains(&"audit.export".to_owned()));
            assert!(r.body.get("redacted").is_none(), "{}", r.raw);
            // Once B1's records are deleted after their retention, both exports say so, in
            // the same words.
            ok(&[
                "audit",
                "delete",
                "--log",
                log.to_str().unwrap(),
                "--keys",
                keys.to_str().unwrap(),
                "--borrower",
                "B1",
                "--at",
                "2040-01-01T00:00:00Z",
            ]);
            let again = dir.path().join("export-after");
            let cli = arrears(&[
                "audit",
                "export",
                "--borrower",
                "B1",
                "--log",
                log.to_str().unwrap(),
                "--out",
                again.to_str().unwrap(),
            ]);
            let r = s.get("/v1/borrowers/B1/audit-export");
            if cli.status.success() {
                assert_eq!(r.status, 200, "{}", r.raw);
                let want: Value =
                    serde_json::from_str(&std::fs::read_to_string(again.join("B1.json")).unwrap())
                        .unwrap();
                assert_eq!(r.body, want);
                let note = r.body["redacted"]["note"].as_str().unwrap_or_default();
                assert!(note.contains("were deleted on"), "{}", r.raw);
            } else {
                assert_error(&r, 404, "no_record");
                let msg = r.body["error"]["message"].as_str().unwrap_or_default();
                assert!(msg.contains("were deleted on"), "{}", r.raw);
                assert!(text(&cli.stderr).contains("were deleted on"));
            }
        } else {
            assert_error(&r, 404, "no_record");
            eprintln!("no record of B1: {}", text(&cli.stderr));
        }
        assert_error(
            &s.get("/v1/borrowers/NOBODY/audit-export"),
            404,
            "no_record",
        );
    }
}

/// Every row of a paginated answer, page by page (`limit`, then each `next_cursor`): the ids
/// of `rows` keys, and how many pages it took.
fn all_pages(s: &Srv, path: &str, limit: usize, rows: &[&str]) -> (Vec<String>, usize) {
    let mut ids = Vec::new();
    let mut pages = 0;
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{path}&limit={limit}");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let r = s.get(&url);
        assert_eq!(r.status, 200, "{url}: {}", r.raw);
        pages += 1;
        let mut on_page = 0;
        for key in rows {
            for row in r.body[key].as_array().unwrap() {
                ids.push(format!("{key}:{}", opt(&row["action_id"])));
                on_page += 1;
            }
        }
        assert!(on_page <= limit, "{on_page} rows on a page of {limit}");
        match r.body["next_cursor"].as_str() {
            Some(c) => {
                assert_eq!(on_page, limit, "only the last page is short");
                cursor = Some(c.to_owned());
            }
            None => return (ids, pages),
        }
        assert!(pages < 10_000, "the pages never end");
    }
}

#[test]
fn the_plan_and_queues_are_paginated_and_every_row_comes_exactly_once() {
    on_both(|s, _| {
        let whole = s.get("/v1/plan?as_of=2026-11-30&limit=5000");
        assert_eq!(whole.status, 200, "{}", whole.raw);
        assert_eq!(whole.body["next_cursor"], Value::Null);
        let mut want: Vec<String> = Vec::new();
        for key in ["actions", "blocked"] {
            for row in whole.body[key].as_array().unwrap() {
                want.push(format!("{key}:{}", opt(&row["action_id"])));
            }
        }
        let total = want.len();
        assert!(total >= 2, "the plan has rows to page: {}", whole.raw);
        assert_eq!(
            whole.body["total_actions"].as_u64().unwrap()
                + whole.body["total_blocked"].as_u64().unwrap(),
            total as u64
        );
        let limits: std::collections::BTreeSet<usize> = [1, 2, total - 1, total].into();
        for limit in limits {
            let (got, pages) = all_pages(
                s,
                "/v1/plan?as_of=2026-11-30",
                limit,
                &["actions", "blocked"],
            );
            assert_eq!(got, want, "limit {limit}: every row once, in order");
            assert_eq!(pages, total.div_ceil(limit), "limit {limit}");
        }
        // A queue, one task a page.
        let queue = whole.body["actions"]
            .as_array()
            .unwrap()
            .iter()
            .find_map(|a| a["queue"].as_str())
            .map(str::to_owned);
        if let Some(q) = queue {
            let full = s.get(&format!("/v1/queues/{q}?as_of=2026-11-30&limit=5000"));
            let want: Vec<String> = full.body["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| format!("tasks:{}", opt(&t["action_id"])))
                .collect();
            assert_eq!(full.body["total"].as_u64().unwrap(), want.len() as u64);
            let (got, _) = all_pages(
                s,
                &format!("/v1/queues/{q}?as_of=2026-11-30"),
                1,
                &["tasks"],
            );
            assert_eq!(got, want);
        }
        // Bad pages are 4xx: a limit out of range, a cursor not given by the route, a cursor
        // of another making of the plan.
        for bad in ["limit=0", "limit=5001", "cursor=abc", "cursor=1-999999"] {
            assert_error(
                &s.get(&format!("/v1/plan?as_of=2026-11-30&{bad}")),
                422,
                "invalid_field",
            );
        }
        assert_error(
            &s.get("/v1/plan?as_of=2026-11-30&cursor=999999-1"),
            409,
            "stale_cursor",
        );
        // All of that planned the day once.
        let m = s.get("/metrics");
        assert!(
            m.raw.contains("arrears_api_plans_made_total 1\n"),
            "{}",
            m.raw
        );
    });
}
