//! `arrears serve` as a real process on port 0, over a fresh SQLite file and a fresh
//! PostgreSQL database (`crate::store::fresh`), with a small US portfolio imported through
//! `arrears import` and a token from `arrears tokens create`; requests go over loopback with
//! a plain HTTP client.

use crate::store::{Backend, TestDb, fresh};
use crate::{arrears, portfolio, text};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

/// B1 lives in New York (UTC-5 in November) and had a conversation about L1 on 11-20; the
/// validation notice of each debt went out the next day (US-VALIDATION).
pub(crate) fn us_portfolio() -> tempfile::TempDir {
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
            "notices.csv",
            "notice_id,borrower_id,loan_id,kind,sent_at,channel\n\
             N1,B1,L1,validation,2026-11-21T15:00:00Z,letter\n\
             N2,B2,L2,validation,2026-11-21T15:00:00Z,letter\n",
        ),
    ])
}

/// A running `arrears serve`; stopped with SIGTERM (a graceful shutdown) when dropped.
pub struct Server {
    child: Option<Child>,
    pub base: String,
    token: String,
    pub db: TestDb,
    portfolio: tempfile::TempDir,
    _logs: tempfile::TempDir,
}

pub fn ok(args: &[&str]) -> String {
    let o = arrears(args);
    assert!(
        o.status.success(),
        "arrears {}: {}{}",
        args.join(" "),
        text(&o.stdout),
        text(&o.stderr)
    );
    text(&o.stdout)
}

/// Imports the portfolio, creates a token and starts the server on a free port.
pub fn spawn_app(db: TestDb, extra: &[&str]) -> Server {
    let p = us_portfolio();
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
    let token = ok(&[
        "tokens", "create", "--name", "dialer", "--scope", "contacts", "--scope", "events",
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
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| {
            let _ = child.kill();
            panic!(
                "first line {line:?}; stderr: {}",
                std::fs::read_to_string(logs.path().join("stderr.log")).unwrap_or_default()
            )
        })
        .to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    assert!(!base.ends_with(":0"), "the real port is printed: {base}");
    Server {
        child: Some(child),
        base,
        token,
        db,
        portfolio: p,
        _logs: logs,
    }
}

impl Server {
    /// Sends SIGTERM and waits; true when the server exited successfully.
    fn stop(&mut self) -> bool {
        let Some(mut c) = self.child.take() else {
            return true;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        for _ in 0..100 {
            if let Ok(Some(s)) = c.try_wait() {
                return s.success();
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = c.kill();
        let _ = c.wait();
        false
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn on_both(f: impl Fn(&Server, Backend)) {
    for b in [Backend::Sqlite, Backend::Postgres] {
        if let Some(db) = fresh(b) {
            let s = spawn_app(db, &[]);
            f(&s, b);
        }
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// A response's status and body (JSON when it parses, else a JSON string).
struct Res {
    status: u16,
    body: Value,
    raw: String,
    content_type: String,
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

impl Server {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POST raw text with the token and a JSON content type.
    fn post_raw(&self, path: &str, body: &str) -> Res {
        finish(
            agent()
                .post(self.url(path))
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
                .get(self.url(path))
                .header("Authorization", &format!("Bearer {}", self.token))
                .call(),
        )
    }

    fn get_anon(&self, path: &str) -> Res {
        finish(agent().get(self.url(path)).call())
    }

    pub fn check(&self, body: Value) -> Value {
        let r = self.post("/v1/contacts/check", &body);
        assert_eq!(r.status, 200, "{}", r.raw);
        r.body
    }

    fn call_check(&self, at: &str) -> Value {
        self.check(json!({
            "borrower_id": "B1", "loan_id": "L1", "channel": "call",
            "target": "+12125550100", "at": at
        }))
    }

    fn metrics(&self) -> String {
        let r = self.get_anon("/metrics");
        assert_eq!(r.status, 200);
        r.raw
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

pub fn store_of(s: &Server) -> (tokio::runtime::Runtime, arrears_store::Store) {
    crate::store::open_store(&s.db.target)
}

#[test]
fn checks_answer_exactly_as_arrears_check_does() {
    on_both(|s, _| {
        // 20:59 EST is allowed; 21:00 is not, and 08:00 EST the next morning is the earliest.
        for (at, decision) in [
            ("2026-11-28T01:59:00Z", "allow"),
            ("2026-11-28T02:00:00Z", "deny"),
            ("2026-11-24T15:00:00Z", "deny"),
        ] {
            let api = s.call_check(at);
            assert_eq!(api["decision"], decision, "{at}: {api}");
            let cli = ok(&[
                "check",
                "--portfolio",
                s.portfolio.path().to_str().unwrap(),
                "--borrower",
                "B1",
                "--loan",
                "L1",
                "--channel",
                "call",
                "--target",
                "+12125550100",
                "--at",
                at,
            ]);
            let cli: Value = serde_json::from_str(&cli).unwrap();
            assert_eq!(api, cli, "the API and `arrears check` agree at {at}");
            let over_store = ok(&[
                "check",
                "--db",
                &s.db.target,
                "--borrower",
                "B1",
                "--loan",
                "L1",
                "--channel",
                "call",
                "--target",
                "+12125550100",
                "--at",
                at,
            ]);
            let over_store: Value = serde_json::from_str(&over_store).unwrap();
            assert_eq!(api, over_store, "`arrears check --db` agrees at {at}");
        }
        let denied = s.call_check("2026-11-28T02:00:00Z");
        assert_eq!(denied["rule_ids"], json!(["US-HOURS"]));
        assert_eq!(denied["earliest_allowed"], "2026-11-28T13:00:00Z");
        let allowed = s.call_check("2026-11-28T01:59:00Z");
        assert_eq!(
            allowed,
            json!({"decision": "allow", "rule_ids": [], "earliest_allowed": null})
        );
        // The conversation of 11-20 (day 1) blocks calls about L1 until day 8, 08:00 local.
        let quiet = s.call_check("2026-11-24T15:00:00Z");
        assert_eq!(quiet["rule_ids"], json!(["US-7IN7"]), "{quiet}");
        assert_eq!(quiet["earliest_allowed"], "2026-11-27T13:00:00Z");
        // An address-book party is never contactable: no earliest instant.
        let third = s.check(json!({
            "borrower_id": "B1", "channel": "call", "target": "+12125559999",
            "party": "address_book", "at": "2026-11-28T15:00:00Z"
        }));
        assert_eq!(third["decision"], "deny");
        assert_eq!(third["earliest_allowed"], Value::Null);
        // Decisions are counted by rule id.
        let m = s.metrics();
        assert!(
            m.contains("arrears_contact_denials_total{rule_id=\"US-HOURS\"} 2"),
            "{m}"
        );
        assert!(
            m.contains("arrears_contact_checks_total{decision=\"allow\"} 2"),
            "{m}"
        );
        assert!(
            m.contains("arrears_http_requests_total{method=\"POST\",route=\"/v1/contacts/check\",status=\"200\"}"),
            "{m}"
        );
        assert!(m.contains(
            "arrears_http_request_duration_seconds_bucket{route=\"/v1/contacts/check\",le=\"+Inf\"}"
        ));
        // Every check read the borrower's data: each is in the access log, by token name.
        let (rt, store) = store_of(s);
        let log = rt.block_on(store.access_log("B1")).unwrap();
        assert_eq!(log.len(), 7, "{log:?}");
        assert!(
            log.iter()
                .all(|a| a.actor == "dialer" && a.action == "contacts.check")
        );
        assert_eq!(log[0].loan_id.as_deref(), Some("L1"));
    });
}

#[test]
fn a_dispute_event_holds_contact_until_resolved_and_replays_are_idempotent() {
    on_both(|s, _| {
        let at = "2026-11-28T15:00:00Z";
        assert_eq!(s.call_check(at)["decision"], "allow");
        let opened = json!({
            "event_id": "EV-1", "type": "dispute_opened",
            "borrower_id": "B1", "at": "2026-11-28T14:00:00Z"
        });
        let r = s.post("/v1/events", &opened);
        assert_eq!(r.status, 201, "{}", r.raw);
        assert_eq!(r.body["status"], "recorded");
        let held = s.call_check(at);
        assert_eq!(held["decision"], "deny");
        assert_eq!(held["rule_ids"], json!(["ALL-HOLD-DISPUTE"]));
        assert_eq!(
            held["earliest_allowed"],
            Value::Null,
            "waiting does not help"
        );
        // The same event again (keys in another order): nothing changes.
        let r = s.post_raw(
            "/v1/events",
            r#"{"at": "2026-11-28T14:00:00Z", "borrower_id": "B1", "type": "dispute_opened", "event_id": "EV-1"}"#,
        );
        assert_eq!(r.status, 200, "{}", r.raw);
        assert_eq!(r.body["status"], "already_recorded");
        // The same id with another body is a conflict, and changes nothing either.
        let mut changed = opened.clone();
        changed["type"] = json!("dispute_resolved");
        assert_error(&s.post("/v1/events", &changed), 409, "event_conflict");
        assert_eq!(s.call_check(at)["rule_ids"], json!(["ALL-HOLD-DISPUTE"]));
        let (rt, store) = store_of(s);
        assert_eq!(rt.block_on(store.count_state_changes("B1")).unwrap(), 1);
        // Resolved: contact is allowed again.
        let r = s.post(
            "/v1/events",
            &json!({"event_id": "EV-2", "type": "dispute_resolved", "borrower_id": "B1",
                    "at": "2026-11-28T14:30:00Z"}),
        );
        assert_eq!(r.status, 201, "{}", r.raw);
        assert_eq!(s.call_check(at)["decision"], "allow");
        assert_eq!(rt.block_on(store.count_state_changes("B1")).unwrap(), 2);
        // Cease-contact, deceased and bankrupt stop calls too.
        for (i, kind, rule) in [
            (3, "cease_contact", "ALL-CEASE"),
            (4, "bankrupt", "ALL-HOLD-BANKRUPT"),
            (5, "deceased", "ALL-HOLD-DECEASED"),
        ] {
            let r = s.post(
                "/v1/events",
                &json!({"event_id": format!("EV-{i}"), "type": kind, "borrower_id": "B1",
                        "at": "2026-11-28T14:40:00Z"}),
            );
            assert_eq!(r.status, 201, "{}", r.raw);
            let d = s.call_check(at);
            assert!(
                d["rule_ids"].as_array().unwrap().iter().any(|r| r == rule),
                "{kind}: {d}"
            );
        }
        // An event about an unknown borrower is a 404 and records nothing.
        let r = s.post(
            "/v1/events",
            &json!({"event_id": "EV-9", "type": "hardship", "borrower_id": "NOPE",
                    "at": "2026-11-28T14:00:00Z"}),
        );
        assert_error(&r, 404, "unknown_borrower");
        let r = s.post(
            "/v1/events",
            &json!({"event_id": "EV-9", "type": "hardship", "borrower_id": "B2",
                    "at": "2026-11-28T14:00:00Z"}),
        );
        assert_eq!(r.status, 201, "the failed attempt left no trace: {}", r.raw);
    });
}

/// The value of a metric line `name value` (0 when absent).
fn metric(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn the_checks_facts_cache_sees_changes_made_by_other_writers() {
    // PostgreSQL only: the cache is kept true by the store's notifications (on SQLite it is
    // off, which the second half checks).
    let Some(db) = fresh(Backend::Postgres) else {
        return;
    };
    let s = spawn_app(db, &["--preload-facts"]);
    let at = "2026-11-28T15:00:00Z";
    let wait_enabled = || {
        for _ in 0..100 {
            if metric(&s.metrics(), "arrears_facts_cache_enabled") == 1 {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("the cache never came up: {}", s.metrics());
    };
    wait_enabled();
    // The preload holds every borrower; its answers are those of a read from the store.
    let o = Command::new("psql")
        .args([
            s.db.target.as_str(),
            "-qAtc",
            "SELECT count(*) FROM borrowers",
        ])
        .output()
        .unwrap();
    let borrowers: u64 = String::from_utf8_lossy(&o.stdout).trim().parse().unwrap();
    for _ in 0..100 {
        if metric(&s.metrics(), "arrears_facts_cache_borrowers") == borrowers {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(
        metric(&s.metrics(), "arrears_facts_cache_borrowers"),
        borrowers
    );
    assert_eq!(s.call_check(at)["decision"], "allow");
    assert_eq!(s.call_check(at)["decision"], "allow");
    let m = s.metrics();
    assert!(
        metric(&m, "arrears_facts_cache_lookups_total{result=\"hit\"}") >= 1,
        "the second check was answered from the cache: {m}"
    );
    // Another writer (not this server) sets cease-contact straight in the database.
    let psql = |sql: &str| {
        let o = Command::new("psql")
            .args([s.db.target.as_str(), "-qAtc", sql])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    psql("UPDATE borrowers SET cease_contact = TRUE WHERE borrower_id = 'B1'");
    let mut last = Value::Null;
    for _ in 0..100 {
        last = s.call_check(at);
        if last["decision"] == "deny" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(last["rule_ids"], json!(["ALL-CEASE"]), "{last}");
    // Cached again, then a contact recorded elsewhere counts at once it is heard of: lift
    // the cease, and the next check allows again.
    psql("UPDATE borrowers SET cease_contact = FALSE WHERE borrower_id = 'B1'");
    for _ in 0..100 {
        last = s.call_check(at);
        if last["decision"] == "allow" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(last["decision"], "allow", "{last}");
    assert!(metric(&s.metrics(), "arrears_facts_cache_invalidations_total") >= 2);
    // A truncate-like reset (a lost listener is handled the same way) drops everything.
    psql("NOTIFY arrears_facts, '*'");
    wait_enabled();
    assert_eq!(s.call_check(at)["decision"], "allow");
    assert!(metric(&s.metrics(), "arrears_facts_cache_clears_total") >= 2);
    // On SQLite the cache stays off and checks read the store.
    if let Some(db) = fresh(Backend::Sqlite) {
        let s = spawn_app(db, &[]);
        assert_eq!(s.call_check(at)["decision"], "allow");
        let m = s.metrics();
        assert_eq!(metric(&m, "arrears_facts_cache_enabled"), 0, "{m}");
        assert_eq!(
            metric(&m, "arrears_facts_cache_lookups_total{result=\"hit\"}"),
            0
        );
    }
}

#[test]
fn a_forbidden_contact_is_kept_as_a_violation_and_recorded_ones_count() {
    on_both(|s, _| {
        let contact = |id: &str, at: &str| {
            json!({"contact_id": id, "borrower_id": "B1", "loan_id": "L1", "channel": "call",
                   "target": "+12125550100", "at": at, "outcome": "right_party"})
        };
        // A dialer reports an unanswered call at 21:30 in New York: US-HOURS forbade it. It
        // happened, so it is kept as a violation with its rule ids, not lost.
        let mut late = contact("C-late", "2026-11-28T02:30:00Z");
        late["outcome"] = json!("no_answer");
        let r = s.post("/v1/contacts", &late);
        assert_eq!(r.status, 201, "{}", r.raw);
        assert_eq!(r.body["status"], "recorded_violation", "{}", r.raw);
        assert_eq!(r.body["rule_ids"], json!(["US-HOURS"]), "{}", r.raw);
        let m = s.metrics();
        assert!(
            m.contains("arrears_contacts_refused_total{rule_id=\"US-HOURS\"} 1"),
            "{m}"
        );
        {
            let (rt, store) = store_of(s);
            let v = rt
                .block_on(store.violations(
                    "2026-11-01T00:00:00Z".parse().unwrap(),
                    "2026-12-01T00:00:00Z".parse().unwrap(),
                ))
                .unwrap();
            assert_eq!(v.len(), 1, "{v:?}");
            assert_eq!(v[0].rule_ids, vec!["US-HOURS".to_owned()]);
            assert_eq!(v[0].contact.row.id.as_ref(), "C-late");
            // It counts like any other contact: the borrower's history holds it.
            let bc = rt.block_on(store.borrower_contacts("B1")).unwrap().unwrap();
            assert!(bc.contacts.iter().any(|c| c.row.id.as_ref() == "C-late"
                && c.violation.as_deref() == Some(&["US-HOURS".to_owned()][..])));
            rt.block_on(store.close());
        }
        // Retried at an allowed time: recorded; replayed: already recorded; changed: 409.
        let good = contact("C-ok", "2026-11-28T15:00:00Z");
        let r = s.post("/v1/contacts", &good);
        assert_eq!(r.status, 201, "{}", r.raw);
        let r = s.post("/v1/contacts", &good);
        assert_eq!(r.status, 200, "{}", r.raw);
        assert_eq!(r.body["status"], "already_recorded");
        let mut changed = good.clone();
        changed["outcome"] = json!("no_answer");
        assert_error(&s.post("/v1/contacts", &changed), 409, "event_conflict");
        // The recorded conversation now blocks calls about L1 for 7 days (US-7IN7) ...
        let next = s.call_check("2026-11-30T15:00:00Z");
        assert_eq!(next["rule_ids"], json!(["US-7IN7"]), "{next}");
        // ... and so a second call reported the same day is a violation of it.
        let r = s.post("/v1/contacts", &contact("C-again", "2026-11-28T16:00:00Z"));
        assert_eq!(r.body["status"], "recorded_violation", "{}", r.raw);
        assert_eq!(r.body["rule_ids"], json!(["US-7IN7"]), "{}", r.raw);
        // An inbound call (the borrower called) is not a contact the rules restrict.
        let mut inbound = contact("C-in", "2026-11-28T03:00:00Z");
        inbound["direction"] = json!("inbound");
        assert_eq!(s.post("/v1/contacts", &inbound).status, 201);
        // The contact event of the feed goes through the same check.
        let mut ev = contact("C-ev", "2026-11-28T02:30:00Z");
        ev["event_id"] = json!("EV-C");
        ev["type"] = json!("contact");
        let r = s.post("/v1/events", &ev);
        assert_eq!(r.status, 201, "{}", r.raw);
        assert_eq!(r.body["status"], "recorded_violation", "{}", r.raw);
        // A loan of another borrower is refused.
        let mut other = contact("C-x", "2026-11-28T15:00:00Z");
        other["loan_id"] = json!("L2");
        assert_error(
            &s.post("/v1/contacts", &other),
            422,
            "loan_of_another_borrower",
        );
    });
}

/// Contacts recorded at once for one borrower are decided one after the other: after the
/// first conversation, US-7IN7 forbids every other call about the debt to that borrower,
/// however the requests interleave, so exactly one is compliant and the others are kept as
/// violations.
#[test]
fn concurrent_contacts_cannot_race_past_a_rule() {
    on_both(|s, _| {
        let statuses: Vec<(&str, String)> = std::thread::scope(|scope| {
            // Eight calls to each of two borrowers, interleaved (on PostgreSQL the calls to
            // different borrowers are decided together, each under its own lock).
            let handles: Vec<_> = (0..16)
                .map(|i| {
                    let (b, l, phone) = if i % 2 == 0 {
                        ("B1", "L1", "+12125550100")
                    } else {
                        ("B2", "L2", "+12125550101")
                    };
                    scope.spawn(move || {
                        let r = s.post(
                            "/v1/contacts",
                            &json!({"contact_id": format!("C-race-{i}"), "borrower_id": b,
                                    "loan_id": l, "channel": "call",
                                    "target": phone, "at": "2026-11-28T15:00:00Z",
                                    "outcome": "right_party"}),
                        );
                        assert_eq!(r.status, 201, "{}", r.raw);
                        (b, r.body["status"].as_str().unwrap_or("").to_owned())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for b in ["B1", "B2"] {
            let of_b: Vec<&str> = statuses
                .iter()
                .filter(|(x, _)| *x == b)
                .map(|(_, c)| c.as_str())
                .collect();
            assert_eq!(
                of_b.iter().filter(|&&c| c == "recorded").count(),
                1,
                "{b}: {of_b:?}"
            );
            assert_eq!(
                of_b.iter().filter(|&&c| c == "recorded_violation").count(),
                7,
                "{b}: {of_b:?}"
            );
        }
        // Payments of one loan at once: each booked once, none failing.
        let statuses: Vec<u16> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    scope.spawn(move || {
                        s.post(
                            "/v1/events",
                            &json!({"event_id": format!("EV-race-{}", i % 4), "type": "payment",
                                    "payment_id": format!("P-race-{}", i % 4), "loan_id": "L1",
                                    "received_at": "2026-11-02T10:00:00Z", "amount_minor": 100}),
                        )
                        .status
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(
            statuses.iter().filter(|&&c| c == 201).count(),
            4,
            "{statuses:?}"
        );
        assert_eq!(
            statuses.iter().filter(|&&c| c == 200).count(),
            4,
            "{statuses:?}"
        );
    });
}

/// Inbound and outbound contacts take different paths on PostgreSQL (one statement, or a
/// decision under the lock): each refuses the same bad input in the same way, and replays of
/// one contact sent at once are recorded once.
#[test]
fn contacts_of_both_directions_refuse_bad_ids_and_replay_at_once() {
    on_both(|s, _| {
        for (n, direction) in ["inbound", "outbound"].into_iter().enumerate() {
            let contact = |id: &str| {
                json!({"contact_id": format!("{id}-{n}"), "borrower_id": "B1", "loan_id": "L1",
                       "channel": "call", "direction": direction, "target": "+12125550100",
                       "at": format!("2026-11-0{}T15:00:00Z", 2 + n), "outcome": "no_answer"})
            };
            let mut r = contact("C-unknown-borrower");
            r["borrower_id"] = json!("B-nobody");
            assert_error(&s.post("/v1/contacts", &r), 404, "unknown_borrower");
            let mut r = contact("C-unknown-loan");
            r["loan_id"] = json!("L-nothing");
            assert_error(&s.post("/v1/contacts", &r), 404, "unknown_loan");
            let mut r = contact("C-other-loan");
            r["loan_id"] = json!("L2");
            assert_error(&s.post("/v1/contacts", &r), 422, "loan_of_another_borrower");
            // The contact recorded once; the same contact id under another event id is a
            // duplicate, not a second contact.
            let first = contact("C-first");
            assert_eq!(s.post("/v1/contacts", &first).status, 201);
            let mut ev = first.clone();
            ev["event_id"] = json!(format!("EV-dup-{n}"));
            ev["type"] = json!("contact");
            assert_error(&s.post("/v1/events", &ev), 409, "duplicate_id");
            // Eight requests at once: for four new inbound contacts (four recorded, four
            // replays), or for one outbound call (further calls at the same moment would be
            // decided by the rules: one recorded, seven replays).
            let ids = if direction == "inbound" { 4 } else { 1 };
            let statuses: Vec<u16> = std::thread::scope(|scope| {
                let handles: Vec<_> = (0..8)
                    .map(|i| {
                        let c = contact(&format!("C-burst-{}", i % ids));
                        scope.spawn(move || s.post("/v1/contacts", &c).status)
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            let count = |code: u16| statuses.iter().filter(|&&c| c == code).count();
            assert_eq!(
                (count(201), count(200)),
                (ids, 8 - ids),
                "{direction}: {statuses:?}"
            );
        }
        // Nothing refused was stored: the first contact and the burst's, of both directions.
        let (rt, store) = store_of(s);
        let facts = rt.block_on(store.borrower_contacts("B1")).unwrap().unwrap();
        let mine = facts
            .contacts
            .iter()
            .filter(|c| c.row.id.starts_with("C-first") || c.row.id.starts_with("C-burst"))
            .count();
        assert_eq!(mine, 7);
        assert!(
            !facts
                .contacts
                .iter()
                .any(|c| c.row.id.contains("unknown") || c.row.id.contains("other-loan"))
        );
    });
}

/// The event writer's shared statements (PostgreSQL) answer every event as recording it by
/// itself would: one mixed batch (new, replayed and conflicting events, unknown ids, ids
/// taken before and ids twice in the batch, and events of kinds that are never shared)
/// against one store, the same events one at a time against another: the same outcomes and
/// the same rows, and the shared ones written by one transaction.
#[test]
fn a_batch_of_events_is_recorded_as_one_at_a_time_would_be() {
    use arrears_domain::types::{BorrowerId, LoanId};
    use arrears_store::{BorrowerFlag, NewContact, QueuedEvent, ServiceEvent};
    let (Some(one), Some(other)) = (fresh(Backend::Postgres), fresh(Backend::Postgres)) else {
        return;
    };
    let at: jiff::Timestamp = "2026-11-30T10:00:00Z".parse().unwrap();
    let ev = |id: &str, tag: &str, event: ServiceEvent| QueuedEvent {
        event_id: id.to_owned(),
        kind: match &event {
            ServiceEvent::Payment { .. } => "payment",
            ServiceEvent::Contact(_) => "contact",
            _ => "hardship_started",
        }
        .to_owned(),
        body: format!("{{\"tag\":\"{tag}\"}}"),
        // Any 64 hex digits; the same tag is the same body.
        body_sha256: format!(
            "{:0>64}",
            tag.bytes().map(|b| format!("{b:02x}")).collect::<String>()
        ),
        received_at: at,
        actor: "test".to_owned(),
        event,
    };
    let pay = |id: &str, tag: &str, payment: &str, loan: &str| {
        ev(
            id,
            tag,
            ServiceEvent::Payment {
                payment_id: payment.to_owned(),
                loan_id: LoanId::parse("loan_id", loan).unwrap(),
                received_at: at,
                amount_minor: 100,
            },
        )
    };
    let contact = |id: &str, tag: &str, cid: &str, b: &str, loan: Option<&str>, dir: &str| {
        ev(
            id,
            tag,
            ServiceEvent::Contact(NewContact {
                contact_id: cid.to_owned(),
                borrower_id: BorrowerId::parse("borrower_id", b).unwrap(),
                loan_id: loan.map(|l| LoanId::parse("loan_id", l).unwrap()),
                channel: "call".to_owned(),
                direction: dir.to_owned(),
                at,
                outcome: "right_party".to_owned(),
                target: None,
                party: Some("borrower".to_owned()),
                agency_id: None,
            }),
        )
    };
    let earlier = vec![
        pay("EV-old", "a", "P-old", "L1"),
        contact("EVC-old", "b", "C-old", "B1", None, "inbound"),
    ];
    let batch = vec![
        pay("EV-1", "c", "P-1", "L1"),
        pay("EV-2", "d", "P-2", "L2"),
        pay("EV-old", "a", "P-old", "L1"),
        pay("EV-old", "changed", "P-old", "L1"),
        pay("EV-3", "e", "P-3", "L-none"),
        pay("EV-4", "f", "P-old", "L1"),
        pay("EV-5", "g", "P-1", "L1"),
        contact("EVC-1", "h", "C-1", "B1", Some("L1"), "inbound"),
        contact("EVC-2", "i", "C-2", "B1", Some("L2"), "inbound"),
        contact("EVC-3", "j", "C-3", "B-none", None, "inbound"),
        contact("EVC-4", "k", "C-old", "B2", None, "inbound"),
        contact("EVC-old", "b", "C-old", "B1", None, "inbound"),
        contact("EVC-5", "l", "C-5", "B2", None, "outbound"),
        contact("EVC-6", "m", "C-6", "B2", None, "inbound"),
        ev(
            "EVF-1",
            "n",
            ServiceEvent::Flag {
                borrower_id: BorrowerId::parse("borrower_id", "B2").unwrap(),
                flag: BorrowerFlag::Hardship,
                value: true,
                at,
            },
        ),
    ];
    let shared = spawn_app(one, &[]);
    let alone = spawn_app(other, &[]);
    let (rt, store) = store_of(&shared);
    let (rt2, store2) = store_of(&alone);
    for (rt, s) in [(&rt, &store), (&rt2, &store2)] {
        for e in &earlier {
            let o = rt.block_on(s.ingest_batch(std::slice::from_ref(e)));
            assert!(
                matches!(o[..], [Ok(arrears_store::Ingested::Recorded)]),
                "{o:?}"
            );
        }
    }
    let together: Vec<String> = rt
        .block_on(store.ingest_batch(&batch))
        .iter()
        .map(|o| format!("{o:?}"))
        .collect();
    let one_by_one: Vec<String> = batch
        .iter()
        .map(|e| {
            format!(
                "{:?}",
                rt2.block_on(store2.ingest_batch(std::slice::from_ref(e)))[0]
            )
        })
        .collect();
    assert_eq!(together, one_by_one);
    // What each came to, spelled out (so that both paths being wrong the same way fails).
    let recorded = together
        .iter()
        .filter(|o| o.as_str() == "Ok(Recorded)")
        .count();
    assert_eq!(recorded, 6, "{together:#?}");
    assert_eq!(together[2], "Ok(AlreadyRecorded)");
    assert_eq!(together[3], "Ok(Conflict)");
    assert!(together[4].contains("UnknownLoan"), "{}", together[4]);
    assert!(together[5].contains("Duplicate") && together[5].contains("P-old"));
    assert!(together[6].contains("Duplicate") && together[6].contains("P-1"));
    assert!(
        together[8].contains("LoanOfAnotherBorrower"),
        "{}",
        together[8]
    );
    assert!(together[9].contains("UnknownBorrower"), "{}", together[9]);
    assert!(together[10].contains("Duplicate") && together[10].contains("C-old"));
    assert_eq!(together[11], "Ok(AlreadyRecorded)");
    let psql = |target: &str, sql: &str| {
        let o = Command::new("psql")
            .args([target, "-qAtc", sql])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o.stderr));
        text(&o.stdout)
    };
    for sql in [
        "SELECT payment_id, loan_id, received_at, amount_minor, kind FROM payments ORDER BY 1",
        "SELECT contact_id, borrower_id, loan_id, channel, direction, at, outcome, party FROM contacts ORDER BY 1",
        "SELECT event_id, kind, body_sha256, body, actor FROM ingested_events ORDER BY 1",
        "SELECT borrower_id, hardship FROM borrowers ORDER BY 1",
    ] {
        assert_eq!(
            psql(&shared.db.target, sql),
            psql(&alone.db.target, sql),
            "{sql}"
        );
    }
    // The shared statements really were shared: one transaction wrote P-1 and P-2, one C-1
    // and C-6 (each written by itself, by one transaction each).
    let writers = |target: &str, sql: &str| psql(target, sql).trim().to_owned();
    let payments =
        "SELECT count(DISTINCT xmin::text) FROM payments WHERE payment_id IN ('P-1', 'P-2')";
    let contacts =
        "SELECT count(DISTINCT xmin::text) FROM contacts WHERE contact_id IN ('C-1', 'C-6')";
    assert_eq!(writers(&shared.db.target, payments), "1");
    assert_eq!(writers(&shared.db.target, contacts), "1");
    assert_eq!(writers(&alone.db.target, payments), "2");
    assert_eq!(writers(&alone.db.target, contacts), "2");
}

/// Outbound contacts of different borrowers that arrive together are decided together, each
/// over its own borrower's facts under that borrower's lock (PostgreSQL): three batches
/// against one store, the same events one at a time against another, with a decision that
/// refuses a borrower's fourth outbound contact. The same outcomes and rows; the contacts
/// decided together were written by one transaction.
#[test]
fn outbound_contacts_decided_together_are_decided_as_one_at_a_time_would_be() {
    use arrears_domain::types::{BorrowerId, LoanId};
    use arrears_store::{BorrowerContacts, NewContact, QueuedEvent, ServiceEvent};
    let (Some(one), Some(other)) = (fresh(Backend::Postgres), fresh(Backend::Postgres)) else {
        return;
    };
    let at: jiff::Timestamp = "2026-11-30T10:00:00Z".parse().unwrap();
    let call = |id: &str, tag: &str, cid: &str, b: &str, loan: Option<&str>| QueuedEvent {
        event_id: id.to_owned(),
        kind: "contact".to_owned(),
        body: format!("{{\"tag\":\"{tag}\"}}"),
        body_sha256: format!(
            "{:0>64}",
            tag.bytes().map(|b| format!("{b:02x}")).collect::<String>()
        ),
        received_at: at,
        actor: "test".to_owned(),
        event: ServiceEvent::Contact(NewContact {
            contact_id: cid.to_owned(),
            borrower_id: BorrowerId::parse("borrower_id", b).unwrap(),
            loan_id: loan.map(|l| LoanId::parse("loan_id", l).unwrap()),
            channel: "call".to_owned(),
            direction: "outbound".to_owned(),
            at,
            outcome: "no_answer".to_owned(),
            target: None,
            party: None,
            agency_id: None,
        }),
    };
    // A cap of three outbound contacts per borrower (B1 starts with one, C1).
    let cap = |_: usize, bc: &BorrowerContacts| {
        let made = bc
            .contacts
            .iter()
            .filter(|c| &*c.row.direction == "outbound")
            .count();
        if made >= 3 {
            Err(format!("cap: {made} made"))
        } else {
            Ok(())
        }
    };
    let earlier = call("EVO-old", "a", "C-old", "B2", None);
    let batches = vec![
        vec![
            call("EVO-1", "b", "C-o1", "B1", Some("L1")),
            call("EVO-2", "c", "C-o2", "B2", None),
            // B2's second in this batch: by itself, after the others (and sees C-o2).
            call("EVO-old", "a", "C-old", "B2", None),
            call("EVO-old", "changed", "C-old", "B2", None),
            call("EVO-3", "d", "C-o3", "B1", None),
            call("EVO-4", "e", "C-o4", "B-none", None),
            call("EVO-5", "f", "C-o5", "B-gone", Some("L1")),
        ],
        vec![
            // A replay decided with the others, a refusal, and a taken id by itself.
            call("EVO-old", "a", "C-old", "B2", None),
            call("EVO-6", "g", "C-o6", "B1", None),
            call("EVO-7", "h", "C-o1", "B2", None),
        ],
        vec![
            call("EVO-8", "i", "C-o2", "B1", None),
            call("EVO-9", "j", "C-o9", "B2", Some("L1")),
            call("EVO-10", "k", "C-o10", "B2", None),
            call("EVO-11", "l", "C-o11", "B2", None),
        ],
    ];
    let shared = spawn_app(one, &[]);
    let alone = spawn_app(other, &[]);
    let (rt, store) = store_of(&shared);
    let (rt2, store2) = store_of(&alone);
    for (rt, s) in [(&rt, &store), (&rt2, &store2)] {
        let o = rt.block_on(s.ingest_batch_deciding(std::slice::from_ref(&earlier), &cap));
        assert!(
            matches!(o[..], [Ok(arrears_store::Ingested::Recorded)]),
            "{o:?}"
        );
    }
    let mut together = Vec::new();
    let mut one_by_one = Vec::new();
    for batch in &batches {
        together.extend(
            rt.block_on(store.ingest_batch_deciding(batch, &cap))
                .iter()
                .map(|o| format!("{o:?}")),
        );
        one_by_one.extend(batch.iter().map(|e| {
            format!(
                "{:?}",
                rt2.block_on(store2.ingest_batch_deciding(std::slice::from_ref(e), &cap))[0]
            )
        }));
    }
    assert_eq!(together, one_by_one);
    // What each came to, spelled out (so that both paths being wrong the same way fails).
    let expected = [
        "Ok(Recorded)",
        "Ok(Recorded)",
        "Ok(AlreadyRecorded)",
        "Ok(Conflict)",
        "Ok(Recorded)",
        "UnknownBorrower",
        "UnknownBorrower",
        "Ok(AlreadyRecorded)",
        "Ok(Refused(\"cap: 3 made\"))",
        "Duplicate",
        "Duplicate",
        "LoanOfAnotherBorrower",
        "Ok(Recorded)",
        "Ok(Refused(\"cap: 3 made\"))",
    ];
    assert_eq!(together.len(), expected.len());
    for (got, want) in together.iter().zip(expected) {
        assert!(got.contains(want), "{got} is not {want}: {together:#?}");
    }
    let psql = |target: &str, sql: &str| {
        let o = Command::new("psql")
            .args([target, "-qAtc", sql])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o.stderr));
        text(&o.stdout).trim().to_owned()
    };
    for sql in [
        "SELECT contact_id, borrower_id, loan_id, channel, direction, at, outcome FROM contacts ORDER BY 1",
        "SELECT event_id, kind, body_sha256, body, actor FROM ingested_events ORDER BY 1",
    ] {
        assert_eq!(
            psql(&shared.db.target, sql),
            psql(&alone.db.target, sql),
            "{sql}"
        );
    }
    let writers =
        "SELECT count(DISTINCT xmin::text) FROM contacts WHERE contact_id IN ('C-o1', 'C-o2')";
    assert_eq!(psql(&shared.db.target, writers), "1");
    assert_eq!(psql(&alone.db.target, writers), "2");
}

#[test]
fn payments_and_promises_reach_the_store_and_the_next_daily_run() {
    on_both(|s, _| {
        let pay = json!({"event_id": "EV-P1", "type": "payment", "payment_id": "P-1",
                         "loan_id": "L1", "received_at": "2026-11-02T10:00:00Z",
                         "amount_minor": 2500});
        assert_eq!(s.post("/v1/events", &pay).status, 201);
        assert_eq!(s.post("/v1/events", &pay).status, 200);
        // The payment id is taken: another event cannot book it again.
        let mut again = pay.clone();
        again["event_id"] = json!("EV-P2");
        assert_error(&s.post("/v1/events", &again), 409, "duplicate_id");
        // The same event id with another body (and another payment id) changes nothing.
        let mut changed = pay.clone();
        changed["payment_id"] = json!("P-1b");
        changed["amount_minor"] = json!(1);
        assert_error(&s.post("/v1/events", &changed), 409, "event_conflict");
        // An unknown loan records neither the payment nor the event.
        let mut lost = pay.clone();
        lost["event_id"] = json!("EV-P9");
        lost["payment_id"] = json!("P-9");
        lost["loan_id"] = json!("L404");
        assert_error(&s.post("/v1/events", &lost), 404, "unknown_loan");
        // Nothing was left of it: the same event again is not a replay.
        assert_error(&s.post("/v1/events", &lost), 404, "unknown_loan");
        // A reversal of a different amount contradicts the store.
        let bad_rev = json!({"event_id": "EV-R0", "type": "reversal", "payment_id": "P-R",
                             "loan_id": "L1", "reverses": "P-1",
                             "received_at": "2026-11-03T10:00:00Z", "amount_minor": 100});
        assert_error(&s.post("/v1/events", &bad_rev), 422, "invalid_event");
        let promise = json!({"event_id": "EV-PR", "type": "promise_to_pay",
                             "promise_id": "PR-1", "loan_id": "L1",
                             "created_at": "2026-11-02T10:00:00Z", "amount_minor": 5000,
                             "due_date": "2026-11-20"});
        assert_eq!(s.post("/v1/events", &promise).status, 201);
        let unknown = json!({"event_id": "EV-P3", "type": "payment", "payment_id": "P-3",
                             "loan_id": "L404", "received_at": "2026-11-02T10:00:00Z",
                             "amount_minor": 1});
        assert_error(&s.post("/v1/events", &unknown), 404, "unknown_loan");

        let acct = s.get("/v1/accounts/L1");
        assert_eq!(acct.status, 200, "{}", acct.raw);
        assert_eq!(acct.body["latest"], Value::Null, "no daily run yet");
        let out = tempfile::tempdir().unwrap();
        ok(&[
            "run",
            "--as-of",
            "2026-11-27",
            "--db",
            &s.db.target,
            "--out",
            out.path().to_str().unwrap(),
            "--format",
            "csv",
        ]);
        let acct = s.get("/v1/accounts/L1");
        assert_eq!(acct.status, 200, "{}", acct.raw);
        let latest = &acct.body["latest"];
        assert_eq!(latest["as_of"], "2026-11-27");
        assert_eq!(latest["paid_minor"], 2500, "{latest}");
        assert_eq!(latest["overdue_minor"], 97500, "{latest}");
        assert_eq!(latest["currency"], "USD");
        assert_eq!(acct.body["borrower_id"], "B1");
        assert_eq!(acct.body["snapshot_dates"], json!(["2026-11-27"]));
        // The store's first snapshot date is the starting point: no lifecycle events yet.
        assert_eq!(acct.body["events"], json!([]), "{}", acct.raw);
        // A valid reversal: the next run sees the payment cancelled.
        let rev = json!({"event_id": "EV-R1", "type": "reversal", "payment_id": "P-R",
                         "loan_id": "L1", "reverses": "P-1",
                         "received_at": "2026-11-03T10:00:00Z", "amount_minor": 2500});
        assert_eq!(s.post("/v1/events", &rev).status, 201);
        ok(&[
            "run",
            "--as-of",
            "2026-11-28",
            "--db",
            &s.db.target,
            "--out",
            out.path().to_str().unwrap(),
            "--format",
            "csv",
        ]);
        let acct = s.get("/v1/accounts/L1");
        assert_eq!(acct.body["latest"]["paid_minor"], 0, "{}", acct.raw);
        assert_eq!(
            acct.body["snapshot_dates"],
            json!(["2026-11-27", "2026-11-28"]),
            "{}",
            acct.raw
        );
        assert_error(&s.get("/v1/accounts/L404"), 404, "unknown_loan");
        let (rt, store) = store_of(s);
        let log = rt.block_on(store.access_log("B1")).unwrap();
        assert_eq!(
            log.iter().filter(|a| a.action == "accounts.get").count(),
            3,
            "{log:?}"
        );
    });
}

#[test]
fn every_v1_route_but_the_document_needs_a_live_token() {
    on_both(|s, _| {
        let body = json!({"borrower_id": "B1", "channel": "call", "at": "2026-11-28T15:00:00Z"})
            .to_string();
        for (method, path) in [
            ("POST", "/v1/contacts/check"),
            ("POST", "/v1/contacts"),
            ("POST", "/v1/events"),
            ("GET", "/v1/accounts/L1"),
            ("GET", "/v1/verify/ABCDE-FGHJK"),
        ] {
            for auth in [
                None,
                Some("Bearer nope".to_owned()),
                Some(format!("Basic {}", s.token)),
                Some(format!("Bearer {}x", s.token)),
            ] {
                let a = agent();
                let r = match method {
                    "POST" => {
                        let mut q = a
                            .post(s.url(path))
                            .header("Content-Type", "application/json");
                        if let Some(h) = &auth {
                            q = q.header("Authorization", h);
                        }
                        finish(q.send(&body))
                    }
                    _ => {
                        let mut q = a.get(s.url(path));
                        if let Some(h) = &auth {
                            q = q.header("Authorization", h);
                        }
                        finish(q.call())
                    }
                };
                assert_error(&r, 401, "unauthorized");
            }
        }
        assert_eq!(s.get_anon("/v1/openapi.json").status, 200);
        assert_eq!(s.get_anon("/healthz").status, 200);
        let ready = s.get_anon("/readyz");
        assert_eq!(ready.status, 200, "{}", ready.raw);
        // A revoked token stops working at once.
        ok(&["tokens", "revoke", "--name", "dialer", "--db", &s.db.target]);
        assert_error(&s.get("/v1/accounts/L1"), 401, "unauthorized");
    });
}

#[test]
fn bad_input_is_a_4xx_json_error_never_a_500() {
    on_both(|s, _| {
        let r = s.post_raw("/v1/contacts/check", "{\"borrower_id\": \"B1\",");
        assert_error(&r, 400, "malformed_json");
        let r = s.post_raw("/v1/events", "not json at all");
        assert_error(&r, 400, "malformed_json");
        let r = s.post_raw(
            "/v1/contacts/check",
            r#"{"borrower_id": 7, "channel": "call", "at": "2026-11-28T15:00:00Z"}"#,
        );
        assert_error(&r, 422, "invalid_body");
        let r = s.post_raw("/v1/contacts/check", r#"{"borrower_id": "B1"}"#);
        assert_error(&r, 422, "invalid_body");
        let r = s.post_raw("/v1/events", r#"{"event_id": "E", "type": "lottery_win"}"#);
        assert_error(&r, 422, "invalid_body");
        let r = s.post_raw(
            "/v1/events",
            r#"{"event_id": "E", "type": "payment", "payment_id": "P", "loan_id": "L1", "received_at": "2026-11-02T10:00:00Z", "amount_minor": 12.5}"#,
        );
        assert_error(&r, 422, "invalid_body");
        for (field, value) in [
            ("at", "2026-11-28 15:00"),
            ("at", "yesterday"),
            ("at", "0000-01-01T00:00:00Z"),
            ("at", "0000-01-01T00:30:00+01:00"),
            ("channel", "pigeon"),
            ("target", "not-a-phone"),
            ("party", "neighbour"),
            ("borrower_id", ""),
        ] {
            let mut b = json!({"borrower_id": "B1", "channel": "call",
                               "target": "+12125550100", "at": "2026-11-28T15:00:00Z"});
            b[field] = json!(value);
            let r = s.post("/v1/contacts/check", &b);
            assert_error(&r, 422, "invalid_field");
        }
        // Instants and dates PostgreSQL cannot hold are refused before the store sees them.
        for (field, value) in [("at", "0000-06-01T00:00:00Z"), ("due_date", "0000-01-01")] {
            let mut ev = json!({"event_id": "EV-y0", "type": "promise_to_pay",
                                "promise_id": "PR-y0", "loan_id": "L1",
                                "created_at": "2026-11-02T10:00:00Z", "amount_minor": 1,
                                "due_date": "2026-12-01"});
            if field == "at" {
                ev["created_at"] = json!(value);
            } else {
                ev[field] = json!(value);
            }
            assert_error(&s.post("/v1/events", &ev), 422, "invalid_field");
        }
        let r = s.post(
            "/v1/contacts/check",
            &json!({"borrower_id": "NOPE", "channel": "call", "at": "2026-11-28T15:00:00Z"}),
        );
        assert_error(&r, 404, "unknown_borrower");
        let r = s.post(
            "/v1/contacts/check",
            &json!({"borrower_id": "B1", "loan_id": "L404", "channel": "call",
                    "at": "2026-11-28T15:00:00Z"}),
        );
        assert_error(&r, 404, "unknown_loan");
        // Not JSON by content type.
        let r = finish(
            agent()
                .post(s.url("/v1/contacts/check"))
                .header("Authorization", &format!("Bearer {}", s.token))
                .header("Content-Type", "text/plain")
                .send("{}"),
        );
        assert_error(&r, 415, "unsupported_media_type");
        // Oversized.
        let big = format!(
            r#"{{"borrower_id": "B1", "channel": "call", "at": "2026-11-28T15:00:00Z", "text": "{}"}}"#,
            "x".repeat(100_000)
        );
        assert_error(
            &s.post_raw("/v1/contacts/check", &big),
            413,
            "body_too_large",
        );
        // A NUL (which PostgreSQL text cannot hold) in a path id.
        assert_error(&s.get("/v1/accounts/L%001"), 422, "invalid_field");
        // Unknown routes and methods.
        assert_error(&s.get("/v1/nothing"), 404, "not_found");
        assert_error(&s.get("/v1/contacts/check"), 405, "method_not_allowed");
        // Random bytes as a body.
        let junk: String = (0..2000u32)
            .map(|i| char::from_u32(0x20 + (i * 7919) % 0x5e).unwrap())
            .collect();
        for path in ["/v1/contacts/check", "/v1/contacts", "/v1/events"] {
            let r = s.post_raw(path, &junk);
            assert!(
                (400..500).contains(&r.status),
                "{path}: {} {}",
                r.status,
                r.raw
            );
        }
        let m = s.metrics();
        assert!(!m.contains("status=\"5"), "no 5xx answered: {m}");
    });
}

#[test]
fn sql_metacharacters_in_every_field_are_harmless() {
    on_both(|s, _| {
        let evil = "'; DROP TABLE loans; --";
        let evil2 = "\" OR 1=1; DELETE FROM borrowers WHERE '1'='1";
        // A NUL is not SQL, but PostgreSQL text cannot hold one: refused before the store.
        let nul = "nul\u{0}byte";
        for e in [evil, evil2, nul] {
            for field in [
                "borrower_id",
                "loan_id",
                "channel",
                "target",
                "party",
                "at",
                "text",
            ] {
                let mut b = json!({"borrower_id": "B1", "loan_id": "L1", "channel": "call",
                                   "target": "+12125550100", "at": "2026-11-28T15:00:00Z"});
                b[field] = json!(e);
                let r = s.post("/v1/contacts/check", &b);
                assert!(r.status < 500, "check {field}: {} {}", r.status, r.raw);
            }
            for field in [
                "contact_id",
                "borrower_id",
                "loan_id",
                "channel",
                "direction",
                "target",
                "party",
                "at",
                "outcome",
                "agency_id",
            ] {
                let mut b = json!({"contact_id": "C-sql", "borrower_id": "B2", "channel": "sms",
                                   "target": "+12125550101", "at": "2026-11-28T03:00:00Z",
                                   "outcome": "sent", "direction": "inbound"});
                b[field] = json!(e);
                let r = s.post("/v1/contacts", &b);
                assert!(r.status < 500, "contact {field}: {} {}", r.status, r.raw);
            }
            for (kind, fields) in [
                ("dispute_opened", vec!["event_id", "borrower_id", "at"]),
                (
                    "payment",
                    vec!["event_id", "payment_id", "loan_id", "received_at"],
                ),
                (
                    "promise_to_pay",
                    vec![
                        "event_id",
                        "promise_id",
                        "loan_id",
                        "created_at",
                        "due_date",
                    ],
                ),
            ] {
                for field in fields {
                    let mut b = json!({"event_id": "EV-sql", "type": kind, "borrower_id": "B2",
                                       "at": "2026-11-28T03:00:00Z", "payment_id": "P-sql",
                                       "promise_id": "PR-sql", "loan_id": "L2",
                                       "received_at": "2026-11-02T10:00:00Z",
                                       "created_at": "2026-11-02T10:00:00Z",
                                       "due_date": "2026-12-01", "amount_minor": 1});
                    b[field] = json!(e);
                    let r = s.post("/v1/events", &b);
                    assert!(r.status < 500, "{kind} {field}: {} {}", r.status, r.raw);
                }
            }
            let enc = e
                .replace('\u{0}', "%00")
                .replace(' ', "%20")
                .replace('"', "%22")
                .replace('\'', "%27");
            assert!(s.get(&format!("/v1/accounts/{enc}")).status < 500);
            // Not configured here: a 503 answer, never a failure.
            assert_error(
                &s.get(&format!("/v1/verify/{enc}")),
                503,
                "verification_unavailable",
            );
        }
        // An id full of metacharacters was stored verbatim, as a value: the exact event
        // again is a replay.
        let r = s.post(
            "/v1/events",
            &json!({"event_id": "EV-sql", "type": "payment", "borrower_id": "B2",
                    "at": "2026-11-28T03:00:00Z", "payment_id": evil,
                    "promise_id": "PR-sql", "loan_id": "L2",
                    "received_at": "2026-11-02T10:00:00Z",
                    "created_at": "2026-11-02T10:00:00Z",
                    "due_date": "2026-12-01", "amount_minor": 1}),
        );
        assert_eq!(r.status, 200, "{}", r.raw);
        assert_eq!(r.body["status"], "already_recorded");
        // Nothing was dropped or deleted.
        let acct = s.get("/v1/accounts/L1");
        assert_eq!(acct.status, 200, "{}", acct.raw);
        assert_eq!(s.call_check("2026-11-28T15:00:00Z")["decision"], "allow");
        let status = ok(&["db", "status", "--db", &s.db.target]);
        assert!(
            status
                .lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["loans", "2"]),
            "{status}"
        );
        assert!(
            status
                .lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["borrowers", "2"]),
            "{status}"
        );
        let m = s.metrics();
        assert!(!m.contains("status=\"500\""), "{m}");
    });
}

#[test]
fn the_openapi_document_lists_every_route() {
    on_both(|s, _| {
        let r = s.get_anon("/v1/openapi.json");
        assert_eq!(r.status, 200);
        assert!(r.content_type.starts_with("application/json"));
        let doc = &r.body;
        assert!(
            doc["openapi"].as_str().unwrap().starts_with("3."),
            "{}",
            r.raw
        );
        let paths = doc["paths"].as_object().unwrap();
        for (path, method) in [
            ("/v1/contacts/check", "post"),
            ("/v1/contacts", "post"),
            ("/v1/events", "post"),
            ("/v1/accounts/{loan_id}", "get"),
            ("/v1/verify/{code}", "get"),
            ("/v1/loans/{loan_id}/promises", "get"),
            ("/v1/payment-plans", "post"),
            ("/v1/payment-plans/{plan_id}/status", "post"),
            ("/v1/loans/{loan_id}/payment-plans", "get"),
            ("/v1/placements", "post"),
            ("/v1/placements/{placement_id}/recall", "post"),
            ("/v1/loans/{loan_id}/placements", "get"),
            ("/v1/legal-cases", "post"),
            ("/v1/legal-cases/{case_id}/status", "post"),
            ("/v1/loans/{loan_id}/legal-cases", "get"),
            ("/v1/write-offs", "post"),
            ("/v1/loans/{loan_id}/write-offs", "get"),
            ("/v1/plan", "get"),
            ("/v1/queues/{queue}", "get"),
            ("/v1/borrowers/{borrower_id}/audit-export", "get"),
            ("/v1/openapi.json", "get"),
            ("/v1/login", "post"),
            ("/healthz", "get"),
            ("/readyz", "get"),
            ("/metrics", "get"),
        ] {
            assert!(
                paths.get(path).and_then(|p| p.get(method)).is_some(),
                "{method} {path} missing from {}",
                r.raw
            );
        }
        assert!(
            doc["components"]["securitySchemes"]["bearer"].is_object(),
            "{}",
            r.raw
        );
        assert!(doc["components"]["schemas"]["CheckRequest"].is_object());
        assert!(doc["components"]["schemas"]["EventRequest"].is_object());
    });
}

/// `arrears sign` of B1's payment reminder (SMS) into `log`: what it prints (the code).
pub fn sign_sms(keys: &str, log: &str) -> String {
    ok(&[
        "sign",
        "--keys",
        keys,
        "--log",
        log,
        "--lender",
        "Acme Lending",
        "--borrower",
        "B1",
        "--channel",
        "sms",
        "--text",
        "Your payment is due. Code {code}",
        "--at",
        "2026-11-28T15:00:00Z",
    ])
}

#[test]
fn verification_reports_genuine_forged_and_unconfigured() {
    let Some(db) = fresh(Backend::Sqlite) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let log = dir.path().join("audit.jsonl");
    let (k, l) = (keys.to_str().unwrap(), log.to_str().unwrap());
    ok(&["keys", "init", "--dir", k]);
    let signed = sign_sms(k, l);
    let code = signed.trim().to_owned();
    assert_eq!(code.len(), 11, "{signed:?}");
    // The index is built at start; changes to the log are looked for only hourly here.
    let s = spawn_app(
        db,
        &["--keys", k, "--audit-log", l, "--reindex-ms", "3600000"],
    );
    let r = s.get(&format!("/v1/verify/{}", code.to_lowercase()));
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(r.body["status"], "genuine");
    assert_eq!(r.body["lender"], "Acme Lending");
    assert!(r.body["text"].as_str().unwrap().contains(&code));
    assert_error(&s.get("/v1/verify/AAAAA-BBBBB"), 404, "not_issued");
    assert_error(
        &s.get("/v1/verify/%27%3B%20DROP%20TABLE%20loans%3B%20--"),
        404,
        "not_issued",
    );
    // A record whose text was edited fails its signature. The running server answers from
    // its index (it does not read the log per request), so the edit is seen once the log is
    // indexed again: here by the next server, which indexes the edited record at start.
    let edited = std::fs::read_to_string(&log)
        .unwrap()
        .replace("Your payment is due", "Pay into account 123");
    std::fs::write(&log, edited).unwrap();
    let r = s.get(&format!("/v1/verify/{code}"));
    assert_eq!(r.body["status"], "genuine", "{}", r.raw);
    drop(s);
    let s = spawn_app(
        fresh(Backend::Sqlite).unwrap(),
        &["--keys", k, "--audit-log", l],
    );
    let r = s.get(&format!("/v1/verify/{code}"));
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(r.body["status"], "not_genuine");
    assert!(
        r.body["text"]
            .as_str()
            .unwrap()
            .contains("Pay into account 123")
    );
    drop(s);
    // Once old message records are deleted after their retention, an unknown code is "not on
    // record" (it may be an old genuine one), not "not issued".
    let log2 = dir.path().join("audit2.jsonl");
    let l2 = log2.to_str().unwrap();
    let old_code = sign_sms(k, l2).trim().to_owned();
    ok(&[
        "audit",
        "delete",
        "--log",
        l2,
        "--keys",
        k,
        "--borrower",
        "B1",
        "--at",
        "2040-01-01T00:00:00Z",
    ]);
    let db = fresh(Backend::Sqlite).unwrap();
    let s = spawn_app(db, &["--keys", k, "--audit-log", l2]);
    assert_error(
        &s.get(&format!("/v1/verify/{old_code}")),
        404,
        "not_on_record",
    );
    drop(s);
    // Without keys and log, verification says it is not configured.
    let db = fresh(Backend::Sqlite).unwrap();
    let s = spawn_app(db, &[]);
    assert_error(
        &s.get(&format!("/v1/verify/{code}")),
        503,
        "verification_unavailable",
    );
}

/// `arrears users add` with the password on standard input.
pub fn add_user(target: &str, user: &str, role: &str, password: &str) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_arrears"))
        .args([
            "users",
            "add",
            "--username",
            user,
            "--role",
            role,
            "--password-stdin",
            "--db",
            target,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A refused argument ends the command before it reads: the pipe may be closed.
    let _ = c
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes());
    c.wait_with_output().unwrap()
}

#[test]
fn login_checks_passwords_and_limits_failed_attempts() {
    on_both(|s, _| {
        let o = add_user(&s.db.target, "ann", "supervisor", "a long enough secret");
        assert!(o.status.success(), "{}", text(&o.stderr));
        let login = |user: &str, password: &str| {
            finish(
                agent()
                    .post(s.url("/v1/login"))
                    .header("Content-Type", "application/json")
                    .send(&json!({"username": user, "password": password}).to_string()),
            )
        };
        let r = login("ann", "a long enough secret");
        assert_eq!(r.status, 200, "{}", r.raw);
        assert_eq!(r.body, json!({"username": "ann", "role": "supervisor"}));
        for _ in 0..5 {
            assert_error(&login("ann", "wrong password!"), 401, "invalid_credentials");
        }
        // Locked out now, even with the right password, until the window ends.
        assert_error(
            &login("ann", "a long enough secret"),
            429,
            "too_many_attempts",
        );
        // Another username from the same address is not.
        assert_error(
            &login("nobody", "a long enough secret"),
            401,
            "invalid_credentials",
        );
        assert_error(
            &login("ann' OR '1'='1", "x' OR '1'='1"),
            401,
            "invalid_credentials",
        );
        assert_error(&login("nul\u{0}name", "x"), 401, "invalid_credentials");
        assert_error(&login(&"long".repeat(100), "x"), 401, "invalid_credentials");
    });
}

#[test]
fn tokens_and_users_are_created_once_and_stored_hashed() {
    let db = fresh(Backend::Sqlite).unwrap();
    let t = &db.target;
    let token = ok(&[
        "tokens", "create", "--name", "gateway", "--scope", "read", "--db", t,
    ]);
    let token = token.trim();
    assert!(token.starts_with("arr_") && token.len() == 68, "{token}");
    let again = arrears(&[
        "tokens", "create", "--name", "gateway", "--scope", "read", "--db", t,
    ]);
    assert_eq!(again.status.code(), Some(2), "{}", text(&again.stderr));
    let add = |user: &str, role: &str, password: &str| add_user(t, user, role, password);
    let o = add("ann", "agent", "a long enough secret");
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(
        add("ann", "admin", "another long secret").status.code(),
        Some(2)
    );
    assert_eq!(add("bob", "agent", "short").status.code(), Some(2));
    assert_eq!(
        add("bob", "owner", "a long enough secret").status.code(),
        Some(2)
    );
    let (rt, store) = crate::store::open_store(t);
    let ann = rt.block_on(store.user("ann")).unwrap().unwrap();
    assert_eq!(ann.role, "agent");
    assert!(ann.password_hash.starts_with("$argon2id$"));
    assert!(!ann.password_hash.contains("secret"));
    assert!(arrears_server::auth::verify_password(
        "a long enough secret",
        &ann.password_hash
    ));
    // Only the token's hash is stored.
    let hash = arrears_server::auth::sha256_hex(token.as_bytes());
    assert_eq!(
        rt.block_on(store.token_name(&hash)).unwrap().as_deref(),
        Some("gateway")
    );
    assert_eq!(rt.block_on(store.token_name(token)).unwrap(), None);
}

#[test]
fn tokens_are_issued_with_explicit_scopes_and_refused_outside_them() {
    on_both(|s, _| {
        let t = &s.db.target;
        // No scope, or an unknown one: refused, nothing stored.
        let none = arrears(&["tokens", "create", "--name", "feed", "--db", t]);
        assert_eq!(none.status.code(), Some(2), "{}", text(&none.stderr));
        let bad = arrears(&[
            "tokens", "create", "--name", "feed", "--scope", "all", "--db", t,
        ]);
        assert_eq!(bad.status.code(), Some(2), "{}", text(&bad.stderr));
        let feed = ok(&[
            "tokens", "create", "--name", "feed", "--scope", "events", "--scope", "events", "--db",
            t,
        ]);
        let feed = feed.trim();
        let list = ok(&["tokens", "list", "--db", t]);
        assert!(list.contains("feed\tevents\tcli\n"), "{list}");
        assert!(
            list.contains("dialer\tcontacts,events,read,work\tcli\n"),
            "{list}"
        );
        let as_feed = |path: &str, body: &Value| {
            finish(
                agent()
                    .post(s.url(path))
                    .header("Authorization", &format!("Bearer {feed}"))
                    .header("Content-Type", "application/json")
                    .send(&body.to_string()),
            )
        };
        let r = as_feed(
            "/v1/contacts/check",
            &json!({"borrower_id": "B1", "channel": "call", "at": "2026-11-28T15:00:00Z"}),
        );
        assert_error(&r, 403, "missing_scope");
        assert_eq!(r.body["error"]["missing_scope"], "contacts", "{}", r.raw);
        let r = as_feed(
            "/v1/events",
            &json!({"event_id": "SCOPE-1", "type": "dispute_opened", "borrower_id": "B1",
                    "at": "2026-11-28T14:00:00Z"}),
        );
        assert_eq!(r.status, 201, "inside its scope: {}", r.raw);
    });
}

#[test]
fn logs_are_json_lines_with_the_route_and_status() {
    let db = fresh(Backend::Sqlite).unwrap();
    let mut s = spawn_app(db, &["--log-json"]);
    assert_eq!(s.get("/v1/accounts/L1").status, 200);
    assert!(s.stop());
    let logs = std::fs::read_to_string(s._logs.path().join("stderr.log")).unwrap();
    let lines: Vec<Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["route"] == "/v1/accounts/{loan_id}"
                && l["fields"]["status"] == 200),
        "{logs}"
    );
    assert!(!logs.contains("Mary"), "no personal data in the logs");
}

#[test]
fn sigterm_stops_the_server_gracefully() {
    let db = fresh(Backend::Sqlite).unwrap();
    let mut s = spawn_app(db, &[]);
    assert_eq!(s.get_anon("/healthz").status, 200);
    assert!(s.stop(), "exit status 0 after SIGTERM");
    let r = agent().get(s.url("/healthz")).call();
    assert!(r.is_err(), "nothing listens any more");
}

/// `--clock-from` takes an RFC 3339 instant; anything else is a usage error before the
/// server opens its store or its port.
#[test]
fn a_bad_clock_from_is_refused() {
    let o = arrears(&[
        "serve",
        "--db",
        "/nonexistent/x.db",
        "--clock-from",
        "tomorrow noon",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("--clock-from"),
        "{}",
        text(&o.stderr)
    );
}

/// The lifecycle records posted as events feed the same decision the check makes: a
/// preference opts a channel out (ALL-PREFERENCE), a credit dispute freezes credit reports
/// until it is resolved, and a call whose outcome is `dispute` opens the dispute hold.
#[test]
fn lifecycle_events_feed_the_check() {
    on_both(|s, b| {
        let event = |body: Value| {
            let r = s.post("/v1/events", &body);
            assert!(r.status == 201 || r.status == 200, "{b:?}: {}", r.raw);
            r
        };
        let sms = json!({
            "borrower_id": "B1", "loan_id": "L1", "channel": "sms", "target": "+12125550100",
            "at": "2026-11-28T15:00:00Z", "lender": "Acme Finance", "code": "7F3K",
            "text": "Acme Finance: your payment of $1,000.00 is overdue. Pay in the Acme app. Code 7F3K. Reply STOP to opt out."
        });
        assert_eq!(s.check(sms.clone())["decision"], "allow", "{b:?}");
        let pref = json!({"event_id": "EV-P1", "type": "preference", "borrower_id": "B1",
                          "channel": "sms", "opted_out": true,
                          "updated_at": "2026-11-27T10:00:00Z"});
        assert_eq!(event(pref.clone()).status, 201);
        assert_eq!(event(pref).body["status"], "already_recorded");
        let denied = s.check(sms);
        assert_eq!(
            denied["rule_ids"],
            json!(["ALL-PREFERENCE", "US-EOPT"]),
            "{b:?}: {denied}"
        );
        // Credit reporting: the notice on record opens it after 14 days; an open dispute
        // freezes it until the dispute is resolved.
        let report = json!({"borrower_id": "B1", "loan_id": "L1", "channel": "credit_report",
                            "at": "2026-11-28T15:00:00Z"});
        assert_eq!(s.check(report.clone())["rule_ids"], json!(["US-CREDIT"]));
        event(
            json!({"event_id": "EV-N1", "type": "notice", "notice_id": "N-CR1",
                     "borrower_id": "B1", "kind": "credit_reporting",
                     "sent_at": "2026-11-01T10:00:00Z", "channel": "letter"}),
        );
        assert_eq!(s.check(report.clone())["decision"], "allow", "{b:?}");
        event(json!({"event_id": "EV-D1", "type": "credit_dispute_opened",
                     "dispute_id": "CD1", "borrower_id": "B1", "loan_id": "L1",
                     "opened_at": "2026-11-27T10:00:00Z"}));
        assert_eq!(s.check(report.clone())["rule_ids"], json!(["US-CREDIT"]));
        event(
            json!({"event_id": "EV-D2", "type": "credit_dispute_resolved",
                     "dispute_id": "CD1", "resolved_at": "2026-11-28T10:00:00Z"}),
        );
        assert_eq!(s.check(report)["decision"], "allow", "{b:?}");
        // A bad kind is a 422 naming the field; an unknown borrower a 404.
        let r = s.post(
            "/v1/events",
            &json!({"event_id": "EV-N2", "type": "notice", "notice_id": "N-X",
                    "borrower_id": "B1", "kind": "threat",
                    "sent_at": "2026-11-01T10:00:00Z", "channel": "letter"}),
        );
        assert_error(&r, 422, "invalid_field");
        let r = s.post(
            "/v1/events",
            &json!({"event_id": "EV-N3", "type": "notice", "notice_id": "N-Y",
                    "borrower_id": "B9", "kind": "validation",
                    "sent_at": "2026-11-01T10:00:00Z", "channel": "letter"}),
        );
        assert_error(&r, 404, "unknown_borrower");
        // A call logged with the outcome `dispute` opens the dispute hold.
        let call = json!({"borrower_id": "B2", "loan_id": "L2", "channel": "call",
                          "target": "+12125550101", "at": "2026-11-30T15:00:00Z"});
        assert_eq!(s.check(call.clone())["decision"], "allow", "{b:?}");
        let r = s.post(
            "/v1/contacts",
            &json!({"contact_id": "C-disp", "borrower_id": "B2", "loan_id": "L2",
                    "channel": "call", "target": "+12125550101",
                    "at": "2026-11-28T15:00:00Z", "outcome": "dispute"}),
        );
        assert_eq!(r.status, 201, "{}", r.raw);
        let held = s.check(call);
        assert!(
            held["rule_ids"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r == "ALL-HOLD-DISPUTE"),
            "{b:?}: {held}"
        );
    });
}
