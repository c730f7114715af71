//! The web pages against the real `arrears serve` (SQLite and PostgreSQL): staff login with
//! sessions, CSRF, agent assignment, the borrower portal's one-time codes and its borrower
//! binding, escaping of a borrower's text; and one end-to-end run in headless Chromium
//! through chromedriver (fantoccini).

mod agent_desk;
mod bureau;
mod desk_answers;
mod legal;
mod lifecycle;
mod portal;
mod sale;
mod settle;
mod sign_in;
mod supervisor;
mod verify;

use crate::server::{Server, add_user, ok, spawn_app, store_of};
use crate::store::{Backend, fresh};
use crate::text;
use serde_json::json;

const PASSWORD: &str = "a long enough secret";

/// A page's answer: status, body, redirect target and the cookies it set.
struct Page {
    status: u16,
    body: String,
    location: Option<String>,
    set_cookies: Vec<String>,
}

fn client() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

fn page(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Page {
    let mut r = r.expect("the request is answered");
    let h = |name: &str| {
        r.headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let location = h("location").into_iter().next();
    let set_cookies = h("set-cookie");
    let status = r.status().as_u16();
    let body = r.body_mut().read_to_string().unwrap();
    Page {
        status,
        body,
        location,
        set_cookies,
    }
}

fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn form(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn get(s: &Server, path: &str, cookie: Option<&str>) -> Page {
    let mut r = client().get(format!("{}{path}", s.base));
    if let Some(c) = cookie {
        r = r.header("Cookie", c);
    }
    page(r.call())
}

fn post(s: &Server, path: &str, cookie: Option<&str>, fields: &[(&str, &str)]) -> Page {
    let mut r = client()
        .post(format!("{}{path}", s.base))
        .header("Content-Type", "application/x-www-form-urlencoded");
    if let Some(c) = cookie {
        r = r.header("Cookie", c);
    }
    page(r.send(form(fields)))
}

/// The `name=value` of the session cookie a page set.
fn session_cookie(p: &Page) -> Option<String> {
    p.set_cookies
        .iter()
        .find(|c| c.starts_with("arrears_session=") && !c.starts_with("arrears_session=;"))
        .and_then(|c| c.split(';').next())
        .map(str::to_owned)
}

/// The CSRF token in a page's forms.
fn csrf(p: &Page) -> String {
    let marker = "name=\"csrf\" value=\"";
    let i = p.body.find(marker).expect("a form with a CSRF token") + marker.len();
    p.body[i..i + 64].to_owned()
}

/// A server over the US portfolio, run once (snapshots of 2026-11-27), with agents alice
/// (L1 of B1) and bob (L2 of B2) and supervisor sue.
/// Pages that log a call log it "now", which US-HOURS allows only from 08:00 to 21:00 in the
/// borrowers' New York: outside 09:00–20:00 there the server's clock is set back to the last
/// 19:00 in New York (at most 13 hours back), so the tests pass at any hour of the day.
#[allow(clippy::disallowed_methods)] // the test reads the wall clock the server would read
fn office_hours_clock() -> Option<String> {
    let tz = jiff::tz::TimeZone::get("America/New_York").unwrap();
    let here = jiff::Timestamp::now().to_zoned(tz.clone());
    if (9..20).contains(&here.hour()) {
        return None;
    }
    let day = if here.hour() >= 20 {
        here.date()
    } else {
        here.date().yesterday().unwrap()
    };
    let at = day.at(19, 0, 0, 0).to_zoned(tz).unwrap().timestamp();
    Some(at.to_string())
}

fn setup(b: Backend, extra: &[&str]) -> Option<Server> {
    let db = fresh(b)?;
    let clock = office_hours_clock();
    let mut args = extra.to_vec();
    if let Some(at) = &clock {
        args.extend(["--clock-from", at.as_str()]);
    }
    let s = spawn_app(db, &args);
    run_day(&s);
    for (user, role) in [("alice", "agent"), ("bob", "agent"), ("sue", "supervisor")] {
        let o = add_user(&s.db.target, user, role, PASSWORD);
        assert!(o.status.success(), "{}", text(&o.stderr));
    }
    assign(&s, "L1", "alice");
    assign(&s, "L2", "bob");
    Some(s)
}

/// `arrears assign`: the loan to the agent.
fn assign(s: &Server, loan: &str, agent: &str) {
    ok(&[
        "assign",
        "--loan",
        loan,
        "--agent",
        agent,
        "--db",
        &s.db.target,
    ]);
}

/// B3 (Chicago, represented by an attorney) with L3: `principal` minor units of USD due on
/// 2026-10-01, unpaid, at a penalty rate of `penalty_bps`; imported into the server's store.
fn attorney_loan(s: &Server, principal: i64, penalty_bps: u32) {
    let loans = format!(
        "loan_id,borrower_id,product,currency,principal_minor,annual_rate_bps,penalty_rate_bps,disbursed_on\n\
         L3,B3,x,USD,{principal},0,{penalty_bps},2026-01-01\n"
    );
    let installments = format!(
        "loan_id,seq,due_date,principal_minor,interest_minor,fee_minor\n\
         L3,1,2026-10-01,{principal},0,0\n"
    );
    let dir = crate::portfolio(&[
        (
            "borrowers.csv",
            "borrower_id,name,phone,email,timezone,jurisdiction,deceased,attorney_phone,attorney_email\n\
             B3,Ann Lee,+13125550103,ann@example.com,America/Chicago,US-NY,false,+13125550199,law@example.com\n",
        ),
        ("loans.csv", &loans),
        ("installments.csv", &installments),
        (
            "payments.csv",
            "payment_id,loan_id,received_at,amount_minor\n",
        ),
    ]);
    import_feed(s, dir.path());
}

fn login(s: &Server, user: &str) -> String {
    let p = post(
        s,
        "/login",
        None,
        &[("username", user), ("password", PASSWORD)],
    );
    assert_eq!(p.status, 303, "{}", p.body);
    session_cookie(&p).expect("a session cookie")
}

/// A portal link from `arrears portal link --print` (an operator's), and the code in it.
fn portal_link(s: &Server, borrower: &str) -> (String, String) {
    let link = ok(&[
        "portal",
        "link",
        "--print",
        "--borrower",
        borrower,
        "--base-url",
        &s.base,
        "--db",
        &s.db.target,
    ])
    .trim()
    .to_owned();
    let code = link.rsplit_once("code=").unwrap().1.to_owned();
    (link, code)
}

/// Exchanges a borrower's fresh portal code; the session cookie.
fn portal_session(s: &Server, borrower: &str) -> String {
    let (_, code) = portal_link(s, borrower);
    let p = post(s, "/portal/enter", None, &[("code", &code)]);
    assert_eq!(p.status, 303, "{}", p.body);
    assert_eq!(
        p.location.as_deref(),
        Some(&*format!("/portal/b/{borrower}"))
    );
    session_cookie(&p).unwrap()
}

/// The borrower (portal session `cookie`) proposes a plan for `loan` on the portal: the
/// portal page first, for its CSRF token, then the plan form; the form's answer.
fn propose_plan(
    s: &Server,
    cookie: &str,
    borrower: &str,
    loan: &str,
    installments: &str,
    amount: &str,
    first_due: &str,
) -> Page {
    let portal = get(s, &format!("/portal/b/{borrower}"), Some(cookie));
    post(
        s,
        &format!("/portal/b/{borrower}/plan"),
        Some(cookie),
        &[
            ("csrf", &csrf(&portal)),
            ("loan_id", loan),
            ("installments", installments),
            ("amount", amount),
            ("first_due", first_due),
        ],
    )
}

/// A new API token with the `contacts` scope (`arrears tokens create`).
fn contacts_token(s: &Server, name: &str) -> String {
    ok(&[
        "tokens",
        "create",
        "--name",
        name,
        "--scope",
        "contacts",
        "--db",
        &s.db.target,
    ])
    .trim()
    .to_owned()
}

/// Imports a feed folder into the server's store (`arrears import`); its output.
fn import_feed(s: &Server, dir: &std::path::Path) -> String {
    ok(&[
        "import",
        "--portfolio",
        dir.to_str().unwrap(),
        "--db",
        &s.db.target,
        "--rejects",
        dir.join("rejects.csv").to_str().unwrap(),
    ])
}

/// The daily run of 2026-11-27 over the server's store (the snapshot the pages show).
fn run_day(s: &Server) {
    run_on(s, "2026-11-27");
}

/// The daily run of `date` over the server's store.
fn run_on(s: &Server, date: &str) {
    let out = tempfile::tempdir().unwrap();
    ok(&[
        "run",
        "--as-of",
        date,
        "--db",
        &s.db.target,
        "--out",
        out.path().to_str().unwrap(),
        "--format",
        "csv",
    ]);
}

fn on_both(f: impl Fn(&Server)) {
    for b in [Backend::Sqlite, Backend::Postgres] {
        if let Some(s) = setup(b, &[]) {
            f(&s);
        }
    }
}

#[test]
fn staff_login_works_and_a_wrong_password_does_not() {
    on_both(|s| {
        let p = get(s, "/", None);
        assert_eq!((p.status, p.location.as_deref()), (303, Some("/login")));
        let p = get(s, "/login", None);
        assert_eq!(p.status, 200);
        assert!(p.body.contains("name=\"password\""), "{}", p.body);
        let p = post(
            s,
            "/login",
            None,
            &[("username", "alice"), ("password", "not the password")],
        );
        assert_eq!(p.status, 401, "{}", p.body);
        assert!(session_cookie(&p).is_none(), "{:?}", p.set_cookies);
        assert!(p.body.contains("The username or the password is wrong."));
        let p = post(
            s,
            "/login",
            None,
            &[("username", "alice"), ("password", PASSWORD)],
        );
        assert_eq!((p.status, p.location.as_deref()), (303, Some("/")));
        let raw = p
            .set_cookies
            .iter()
            .find(|c| c.starts_with("arrears_session="))
            .unwrap();
        assert!(
            raw.contains("HttpOnly") && raw.contains("SameSite=Lax"),
            "{raw}"
        );
        let cookie = session_cookie(&p).unwrap();
        let id = cookie.strip_prefix("arrears_session=").unwrap();
        assert_eq!(id.len(), 64, "256 bits as hex: {id}");
        let home = get(s, "/", Some(&cookie));
        assert_eq!(home.status, 200, "{}", home.body);
        assert!(home.body.contains("alice (agent)"), "{}", home.body);
        assert!(
            home.body.contains("/accounts/L1"),
            "the assigned loan is listed"
        );
        // The failed-login limit of POST /v1/login holds here too.
        for _ in 0..5 {
            let p = post(
                s,
                "/login",
                None,
                &[("username", "bob"), ("password", "wrong!")],
            );
            assert_eq!(p.status, 401);
        }
        let p = post(
            s,
            "/login",
            None,
            &[("username", "bob"), ("password", PASSWORD)],
        );
        assert_eq!(p.status, 429, "{}", p.body);
        assert!(session_cookie(&p).is_none());
        // A made-up session id is no session.
        let fake = format!("arrears_session={}", "ab".repeat(32));
        assert_eq!(get(s, "/", Some(&fake)).status, 303);
        // The login page and its answers in Chinese.
        let zh = get(s, "/login?lang=zh-CN", None);
        assert!(zh.body.contains("员工登录"), "{}", zh.body);
        assert!(zh.set_cookies.iter().any(|c| c.starts_with("lang=zh-CN")));
        let zh = get(s, "/", Some(&format!("{cookie}; lang=zh-CN")));
        assert!(zh.body.contains("分配给您的账户"), "{}", zh.body);
    });
}

#[test]
fn posts_without_the_sessions_csrf_token_are_refused() {
    on_both(|s| {
        let alice = login(s, "alice");
        let bob = login(s, "bob");
        let account = get(s, "/accounts/L1", Some(&alice));
        assert_eq!(account.status, 200, "{}", account.body);
        let token = csrf(&account);
        let bobs = csrf(&get(s, "/", Some(&bob)));
        assert_ne!(token, bobs);
        for fields in [
            vec![("outcome", "no_answer")],
            vec![("outcome", "no_answer"), ("csrf", "0000")],
            vec![("outcome", "no_answer"), ("csrf", bobs.as_str())],
        ] {
            let p = post(s, "/accounts/L1/calls", Some(&alice), &fields);
            assert_eq!(p.status, 403, "{fields:?}: {}", p.body);
        }
        assert_eq!(post(s, "/logout", Some(&alice), &[]).status, 403);
        assert_eq!(
            post(
                s,
                "/accounts/L1/portal-link",
                Some(&alice),
                &[("csrf", &bobs)]
            )
            .status,
            403
        );
        // Nothing was recorded, and the session still works.
        let (rt, store) = store_of(s);
        let bc = rt.block_on(store.borrower_contacts("B1")).unwrap().unwrap();
        assert_eq!(bc.contacts.len(), 1, "only the imported contact");
        assert_eq!(get(s, "/", Some(&alice)).status, 200);
        // With the token: signed out, and the session is gone.
        let p = post(s, "/logout", Some(&alice), &[("csrf", &token)]);
        assert_eq!((p.status, p.location.as_deref()), (303, Some("/login")));
        assert_eq!(get(s, "/", Some(&alice)).status, 303);
        // A borrower's form needs the portal session's token too.
        let portal = portal_session(s, "B1");
        let p = post(
            s,
            "/portal/b/B1/dispute",
            Some(&portal),
            &[("text", "no token")],
        );
        assert_eq!(p.status, 403);
        let bc = rt.block_on(store.borrower_contacts("B1")).unwrap().unwrap();
        assert!(!bc.borrower.dispute_open);
    });
}

#[test]
fn an_agent_cannot_open_another_agents_account() {
    on_both(|s| {
        let alice = login(s, "alice");
        let p = get(s, "/accounts/L2", Some(&alice));
        assert_eq!(p.status, 403, "{}", p.body);
        assert!(!p.body.contains("B2"), "nothing of the account shows");
        assert_eq!(
            post(
                s,
                "/accounts/L2/calls",
                Some(&alice),
                &[("csrf", &csrf(&p)), ("outcome", "busy")]
            )
            .status,
            403
        );
        let own = get(s, "/accounts/L1", Some(&alice));
        assert_eq!(own.status, 200);
        assert!(
            own.body.contains("1000.00 USD"),
            "overdue principal: {}",
            own.body
        );
        assert!(own.body.contains("ALL-") || own.body.contains("allowed"));
        // The agent issues the borrower a portal link from the account page.
        let p = post(
            s,
            "/accounts/L1/portal-link",
            Some(&alice),
            &[("csrf", &csrf(&own))],
        );
        assert_eq!(p.status, 200, "{}", p.body);
        assert!(!p.body.contains("/portal/enter?code="), "{}", p.body);
        // It went to the borrower through the outbox (the sign-in tests say more).
        let (rt, store) = store_of(s);
        let sent = rt.block_on(store.outbox_rows()).unwrap();
        let link = sent
            .iter()
            .rev()
            .find(|r| r.message.purpose == "access_link" && r.message.borrower_id == "B1")
            .map(|r| r.message.verification_code.clone())
            .expect("the link in the outbox");
        let code = link.rsplit_once("code=").unwrap().1;
        let p = post(s, "/portal/enter", None, &[("code", code)]);
        assert_eq!(p.location.as_deref(), Some("/portal/b/B1"));
        // A supervisor sees every account; nobody signed in sees none.
        let sue = login(s, "sue");
        assert_eq!(get(s, "/accounts/L2", Some(&sue)).status, 200);
        let anon = get(s, "/accounts/L1", None);
        assert_eq!(
            (anon.status, anon.location.as_deref()),
            (303, Some("/login"))
        );
        assert_eq!(get(s, "/accounts/L404", Some(&sue)).status, 404);
        // Reassigned: alice loses L1.
        ok(&[
            "assign",
            "--loan",
            "L1",
            "--agent",
            "bob",
            "--db",
            &s.db.target,
        ]);
        assert_eq!(get(s, "/accounts/L1", Some(&alice)).status, 403);
        // Every view was logged.
        let (rt, store) = store_of(s);
        let log = rt.block_on(store.access_log("B1")).unwrap();
        assert!(
            log.iter()
                .any(|a| a.actor == "user:alice" && a.action == "pages.account"),
            "{log:?}"
        );
        let o = crate::arrears(&[
            "assign",
            "--loan",
            "L404",
            "--agent",
            "bob",
            "--db",
            &s.db.target,
        ]);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    });
}

#[test]
fn a_portal_session_reads_only_its_borrower_and_a_code_works_once() {
    on_both(|s| {
        let (link, code) = portal_link(s, "B1");
        assert!(
            link.starts_with(&format!("{}/portal/enter?code=", s.base)),
            "{link}"
        );
        assert_eq!(code.len(), 64);
        // Opening the link does not use the code; continuing does, once.
        let path = link.strip_prefix(&s.base).unwrap();
        let enter = get(s, path, None);
        assert_eq!(enter.status, 200);
        // The language switch keeps the code.
        assert!(
            enter
                .body
                .contains(&format!("/portal/enter?code={code}&#38;lang=zh-CN")),
            "{}",
            enter.body
        );
        let zh = get(s, &format!("{path}&lang=zh-CN"), None);
        assert!(
            zh.body.contains("继续") && zh.body.contains(&code),
            "{}",
            zh.body
        );
        assert_eq!(get(s, path, None).status, 200);
        let first = post(s, "/portal/enter", None, &[("code", &code)]);
        assert_eq!(first.status, 303, "{}", first.body);
        let b1 = session_cookie(&first).unwrap();
        let again = post(s, "/portal/enter", None, &[("code", &code)]);
        assert_eq!(again.status, 403, "{}", again.body);
        assert!(session_cookie(&again).is_none());
        assert_eq!(
            post(s, "/portal/enter", None, &[("code", &"0".repeat(64))]).status,
            403
        );
        let own = get(s, "/portal/b/B1", Some(&b1));
        assert_eq!(own.status, 200, "{}", own.body);
        assert!(own.body.contains("1000.00 USD"), "{}", own.body);
        assert!(own.body.contains("Consumer Financial Protection Bureau"));
        for other in [
            "/portal/b/B2",
            "/portal/b/B2/verify?code=AAAAA-BBBBB",
            "/accounts/L2",
            "/accounts/L1",
        ] {
            let p = get(s, other, Some(&b1));
            assert_eq!(p.status, 403, "{other}: {}", p.body);
            assert!(!p.body.contains("Tom"), "{other}");
        }
        let p = post(
            s,
            "/portal/b/B2/dispute",
            Some(&b1),
            &[("csrf", &csrf(&own)), ("text", "not mine")],
        );
        assert_eq!(p.status, 403);
        let (rt, store) = store_of(s);
        let b2 = rt.block_on(store.borrower_contacts("B2")).unwrap().unwrap();
        assert!(!b2.borrower.dispute_open);
        // The Chinese page says every label in Chinese.
        let zh = get(s, "/portal/b/B1?lang=zh-CN", Some(&b1));
        assert!(
            zh.body.contains("您的欠款") && zh.body.contains("如何投诉"),
            "{}",
            zh.body
        );
        let o = crate::arrears(&["portal", "link", "--borrower", "B404", "--db", &s.db.target]);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    });
}

#[test]
fn a_disputes_html_is_escaped_on_the_agent_page_and_holds_contact() {
    on_both(|s| {
        let b1 = portal_session(s, "B1");
        let portal = get(s, "/portal/b/B1", Some(&b1));
        let evil = "<script>alert('x')</script> & <b>bold</b>";
        let p = post(
            s,
            "/portal/b/B1/dispute",
            Some(&b1),
            &[("csrf", &csrf(&portal)), ("text", evil)],
        );
        assert_eq!(p.status, 303, "{}", p.body);
        assert_eq!(p.location.as_deref(), Some("/portal/b/B1?done=dispute"));
        // The same path as the API's dispute_opened event: checks deny.
        let c = s.check(
            json!({"borrower_id": "B1", "loan_id": "L1", "channel": "sms",
                               "target": "+12125550100", "at": "2026-11-28T15:00:00Z"}),
        );
        assert_eq!(c["decision"], "deny");
        assert!(
            c["rule_ids"]
                .as_array()
                .unwrap()
                .contains(&json!("ALL-HOLD-DISPUTE")),
            "{c}"
        );
        let alice = login(s, "alice");
        let account = get(s, "/accounts/L1", Some(&alice));
        assert_eq!(account.status, 200);
        assert!(!account.body.contains("<script>alert"), "{}", account.body);
        assert!(!account.body.contains("<b>bold"));
        assert!(
            account.body.contains(
                "&#60;script&#62;alert(&#39;x&#39;)&#60;/script&#62; &#38; &#60;b&#62;bold"
            ) || account
                .body
                .contains("&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &lt;b&gt;bold"),
            "{}",
            account.body
        );
        assert!(account.body.contains("Dispute open"));
        assert!(account.body.contains("ALL-HOLD-DISPUTE"));
        // A call the rules forbid that the agent logs is kept as a violation, with the rule.
        let p = post(
            s,
            "/accounts/L1/calls",
            Some(&alice),
            &[("csrf", &csrf(&account)), ("outcome", "right_party")],
        );
        assert_eq!(p.status, 200, "{}", p.body);
        assert!(p.body.contains("ALL-HOLD-DISPUTE"), "{}", p.body);
        assert!(p.body.contains("logged as a violation"), "{}", p.body);
        let (rt, store) = store_of(s);
        let bc = rt.block_on(store.borrower_contacts("B1")).unwrap().unwrap();
        assert_eq!(bc.contacts.len(), 2, "the forbidden call is on record");
        assert!(
            bc.contacts
                .iter()
                .any(|c| c.violation.as_deref() == Some(&["ALL-HOLD-DISPUTE".to_owned()][..])),
            "as a violation of ALL-HOLD-DISPUTE"
        );
        let notes = rt.block_on(store.dispute_notes("B1")).unwrap();
        assert_eq!(notes.len(), 1);
        assert_eq!(notes[0].body, evil);
    });
}

#[test]
fn verifying_another_borrowers_code_tells_only_that_it_is_genuine() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let log = dir.path().join("audit.jsonl");
    let (k, l) = (keys.to_str().unwrap(), log.to_str().unwrap());
    ok(&["keys", "init", "--dir", k]);
    let sign = |borrower: &str, text: &str| {
        ok(&[
            "sign",
            "--keys",
            k,
            "--log",
            l,
            "--lender",
            "Acme Lending",
            "--borrower",
            borrower,
            "--channel",
            "sms",
            "--text",
            text,
            "--at",
            "2026-11-28T15:00:00Z",
        ])
        .trim()
        .to_owned()
    };
    let own = sign("B1", "Mary, your payment is due. Code {code}");
    let other = sign("B2", "Tom, your payment is due. Code {code}");
    let s = setup(
        Backend::Sqlite,
        &["--keys", k, "--audit-log", l, "--reindex-ms", "200"],
    )
    .unwrap();
    let b1 = portal_session(&s, "B1");
    let p = get(&s, &format!("/portal/b/B1/verify?code={own}"), Some(&b1));
    assert_eq!(p.status, 200);
    assert!(
        p.body.contains("Genuine") && p.body.contains("Mary, your payment"),
        "{}",
        p.body
    );
    let p = get(&s, &format!("/portal/b/B1/verify?code={other}"), Some(&b1));
    assert!(p.body.contains("Genuine"), "{}", p.body);
    assert!(
        !p.body.contains("Tom"),
        "another borrower's message is not shown: {}",
        p.body
    );
    let p = get(&s, "/portal/b/B1/verify?code=AAAAA-BBBBB", Some(&b1));
    assert!(p.body.contains("Not issued"), "{}", p.body);
    // A record edited after signing fails its check, for its own borrower and another.
    let edited = std::fs::read_to_string(&log)
        .unwrap()
        .replace("payment is due", "pay to 123");
    std::fs::write(&log, edited).unwrap();
    // The portal answers from the store's index (never by reading the log), which the server
    // rebuilds when the log changes (every 200 ms here).
    for code in [&own, &other] {
        let mut p = get(&s, &format!("/portal/b/B1/verify?code={code}"), Some(&b1));
        for _ in 0..100 {
            if p.body.contains("Not genuine") {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
            p = get(&s, &format!("/portal/b/B1/verify?code={code}"), Some(&b1));
        }
        assert!(p.body.contains("Not genuine"), "{}", p.body);
        assert!(!p.body.contains("pay to 123"), "{}", p.body);
    }
    let (rt, store) = store_of(&s);
    let log = rt.block_on(store.access_log("B1")).unwrap();
    assert!(
        log.iter()
            .any(|a| a.actor == "portal:B1" && a.action == "portal.verify")
    );
}

/// The body of the element with `id`, from its opening tag to the next `</tag>`.
fn element<'a>(body: &'a str, tag: &str, id: &str) -> &'a str {
    let open = format!("<{tag} id=\"{id}\"");
    let i = body
        .find(&open)
        .unwrap_or_else(|| panic!("no #{id} in {body}"));
    let end = body[i..]
        .find(&format!("</{tag}>"))
        .map_or(body.len(), |e| i + e);
    &body[i..end]
}

#[test]
fn the_queue_lists_the_days_calls_and_a_promise_shows_on_the_account() {
    on_both(|s| {
        let alice = login(s, "alice");
        let home = get(s, "/?date=2026-11-28", Some(&alice));
        assert_eq!(home.status, 200, "{}", home.body);
        let queue = element(&home.body, "table", "queue");
        assert!(queue.contains("data-loan=\"L1\""), "{queue}");
        assert!(
            !queue.contains("data-loan=\"L2\""),
            "only alice's loans: {queue}"
        );
        // The reason: the strategy rule, the stage and the days past due.
        assert!(
            queue.contains("mid-call") && queue.contains("mid") && queue.contains("58"),
            "{queue}"
        );
        assert!(queue.contains("/accounts/L1"));
        assert!(queue.contains("not worked yet"));
        // A supervisor's queue holds every agent's calls, by priority.
        let sue = login(s, "sue");
        let all = get(s, "/?date=2026-11-28", Some(&sue));
        let queue = element(&all.body, "table", "queue");
        assert!(queue.contains("data-loan=\"L1\"") && queue.contains("data-loan=\"L2\""));
        assert!(all.body.contains("/dashboard"));
        // In Chinese.
        let zh = get(s, "/?date=2026-11-28&lang=zh-CN", Some(&alice));
        assert!(zh.body.contains("今日待办队列"), "{}", zh.body);

        // The account page: schedule with the waterfall, no payments, no promises yet.
        let account = get(s, "/accounts/L1", Some(&alice));
        assert_eq!(account.status, 200);
        let inst = element(&account.body, "table", "installments");
        assert!(
            inst.contains("2026-10-01") && inst.contains("1000.00 USD"),
            "{inst}"
        );
        assert!(account.body.contains("No payments are recorded."));
        assert!(account.body.contains("No promises are recorded."));
        // A promise needs the promise outcome, an amount and a date from today on.
        let token = csrf(&account);
        for fields in [
            vec![("outcome", "promise")],
            vec![
                ("outcome", "right_party"),
                ("promise_amount", "250"),
                ("promise_due", "2099-01-15"),
            ],
            vec![
                ("outcome", "promise"),
                ("promise_amount", "-5"),
                ("promise_due", "2099-01-15"),
            ],
            vec![
                ("outcome", "promise"),
                ("promise_amount", "250"),
                ("promise_due", "2020-01-01"),
            ],
            vec![
                ("outcome", "promise"),
                ("promise_amount", "1.234"),
                ("promise_due", "2099-01-15"),
            ],
            vec![
                ("outcome", "promise"),
                ("promise_amount", "250'; DROP TABLE promises; --"),
                ("promise_due", "2099-01-15"),
            ],
        ] {
            let mut f = fields.clone();
            f.push(("csrf", &token));
            let p = post(s, "/accounts/L1/calls", Some(&alice), &f);
            assert_eq!(p.status, 422, "{fields:?}: {}", p.body);
        }
        let (rt, store) = store_of(s);
        let bc = rt.block_on(store.borrower_contacts("B1")).unwrap().unwrap();
        assert_eq!(bc.contacts.len(), 1, "nothing was logged");
        // Without the token: refused.
        let p = post(
            s,
            "/accounts/L1/calls",
            Some(&alice),
            &[
                ("outcome", "promise"),
                ("promise_amount", "250"),
                ("promise_due", "2099-01-15"),
            ],
        );
        assert_eq!(p.status, 403);
        let p = post(
            s,
            "/accounts/L1/calls",
            Some(&alice),
            &[
                ("csrf", &token),
                ("outcome", "promise"),
                ("promise_amount", "250.00"),
                ("promise_due", "2099-01-15"),
            ],
        );
        assert_eq!(
            (p.status, p.location.as_deref()),
            (303, Some("/accounts/L1")),
            "{}",
            p.body
        );
        let account = get(s, "/accounts/L1", Some(&alice));
        let promises = element(&account.body, "table", "promises");
        assert!(
            promises.contains("250.00 USD")
                && promises.contains("2099-01-15")
                && promises.contains("Pending"),
            "{promises}"
        );
        assert!(element(&account.body, "table", "contacts").contains("Promise to pay"));
        // The promise went through the event path of the API: stored, and in the event log.
        let book = rt.block_on(store.loan_book("L1")).unwrap().unwrap();
        assert_eq!(book.promises.len(), 1);
        assert_eq!(book.promises[0].amount_minor, 25_000);
        assert!(book.promises[0].promise_id.starts_with("page-promise-"));
        let activity = rt
            .block_on(store.activity_since("2026-01-01T00:00:00Z".parse().unwrap()))
            .unwrap();
        assert_eq!(activity.len(), 1, "{activity:?}");
        assert_eq!(
            (
                activity[0].actor.as_str(),
                activity[0].contacts,
                activity[0].right_party,
                activity[0].promises
            ),
            ("user:alice", 1, 1, 1)
        );
        // The queue shows the promise next to the task.
        let home = get(s, "/?date=2026-11-28", Some(&alice));
        let queue = element(&home.body, "table", "queue");
        assert!(
            queue.contains("250.00 USD") && queue.contains("Pending"),
            "{queue}"
        );
    });
}

#[test]
fn an_agent_records_a_payment_plan_and_sees_its_instalments() {
    on_both(|s| {
        let alice = login(s, "alice");
        let account = get(s, "/accounts/L1", Some(&alice));
        assert!(account.body.contains("No payment plan is recorded."));
        let token = csrf(&account);
        // Each bad form is refused and records nothing.
        for fields in [
            vec![
                ("count", "0"),
                ("amount", "100.00"),
                ("first_due", "2099-01-31"),
            ],
            vec![
                ("count", "61"),
                ("amount", "100.00"),
                ("first_due", "2099-01-31"),
            ],
            vec![("count", "3"), ("amount", "0"), ("first_due", "2099-01-31")],
            vec![
                ("count", "3"),
                ("amount", "1.234"),
                ("first_due", "2099-01-31"),
            ],
            vec![
                ("count", "3"),
                ("amount", "100.00"),
                ("first_due", "2020-01-01"),
            ],
            vec![
                ("count", "3"),
                ("amount", "100.00"),
                ("first_due", "2099-02-30"),
            ],
            vec![
                ("count", "3"),
                ("amount", "100.00"),
                ("first_due", "2099-01-31"),
                ("every", "fortnight'; DROP TABLE payment_plans; --"),
            ],
            vec![("amount", "100.00"), ("first_due", "2099-01-31")],
        ] {
            let mut f = fields.clone();
            f.push(("csrf", &token));
            let p = post(s, "/accounts/L1/payment-plans", Some(&alice), &f);
            assert_eq!(p.status, 422, "{fields:?}: {}", p.body);
        }
        // Too little to cover the arrears: refused with the reason.
        let p = post(
            s,
            "/accounts/L1/payment-plans",
            Some(&alice),
            &[
                ("csrf", &token),
                ("count", "2"),
                ("amount", "0.01"),
                ("first_due", "2099-01-31"),
            ],
        );
        assert_eq!(p.status, 422, "{}", p.body);
        assert!(p.body.contains("must cover what is overdue"), "{}", p.body);
        // A total above the balance (12000.00 USD for 1000.00 USD owed): confirmed.
        let ok_fields = [
            ("confirm", "yes"),
            ("count", "3"),
            ("amount", "4000.00"),
            ("first_due", "2099-01-31"),
            ("every", "month"),
        ];
        // Without the CSRF token: refused.
        let p = post(s, "/accounts/L1/payment-plans", Some(&alice), &ok_fields);
        assert_eq!(p.status, 403);
        // Another agent's loan: refused.
        let mut f = ok_fields.to_vec();
        f.push(("csrf", &token));
        let p = post(s, "/accounts/L2/payment-plans", Some(&alice), &f);
        assert_eq!(p.status, 403, "{}", p.body);
        let (rt, store) = store_of(s);
        let zone = arrears_domain::TimeZoneName::utc();
        let today: jiff::civil::Date = "2026-12-01".parse().unwrap();
        assert!(
            rt.block_on(store.loan_plans("L1", today, &zone))
                .unwrap()
                .is_empty()
        );
        assert!(
            rt.block_on(store.loan_plans("L2", today, &zone))
                .unwrap()
                .is_empty()
        );
        let p = post(s, "/accounts/L1/payment-plans", Some(&alice), &f);
        assert_eq!(
            (p.status, p.location.as_deref()),
            (303, Some("/accounts/L1")),
            "{}",
            p.body
        );
        // Monthly from 31 January: the end of February, then 31 March.
        let plans = rt.block_on(store.loan_plans("L1", today, &zone)).unwrap();
        assert_eq!(plans.len(), 1);
        assert_eq!(plans[0].status, "active");
        assert_eq!(plans[0].created_by, "user:alice");
        let due: Vec<(String, i64)> = plans[0]
            .installments
            .iter()
            .map(|i| (i.due_date.to_string(), i.amount_minor))
            .collect();
        assert_eq!(
            due,
            [
                ("2099-01-31".to_owned(), 400_000),
                ("2099-02-28".to_owned(), 400_000),
                ("2099-03-31".to_owned(), 400_000)
            ]
        );
        let account = get(s, "/accounts/L1", Some(&alice));
        let shown = element(&account.body, "div", "plans");
        assert!(
            shown.contains("2099-02-28")
                && shown.contains("4000.00 USD")
                && shown.contains("Active"),
            "{shown}"
        );
        assert_eq!(
            shown.matches("class=\"instalment due\"").count(),
            3,
            "{shown}"
        );
    });
}

#[test]
fn the_dashboard_is_for_managers_and_draws_its_numbers() {
    on_both(|s| {
        run_on(s, "2026-11-28");
        let alice = login(s, "alice");
        let p = get(s, "/dashboard", Some(&alice));
        assert_eq!(p.status, 403, "an agent: {}", p.body);
        assert!(!p.body.contains("<svg"));
        let anon = get(s, "/dashboard", None);
        assert_eq!(
            (anon.status, anon.location.as_deref()),
            (303, Some("/login"))
        );
        let b1 = portal_session(s, "B1");
        assert_eq!(get(s, "/dashboard", Some(&b1)).status, 403);
        // Alice logs a right-party call so the agent table has a row.
        let account = get(s, "/accounts/L1", Some(&alice));
        let p = post(
            s,
            "/accounts/L1/calls",
            Some(&alice),
            &[("csrf", &csrf(&account)), ("outcome", "right_party")],
        );
        assert_eq!(p.status, 303, "{}", p.body);
        let c = login(s, "sue");
        // Today's dashboard: the latest snapshots (11-27 and 11-28) and today's activity.
        let d = get(s, "/dashboard", Some(&c));
        assert_eq!(d.status, 200, "{}", d.body);
        for chart in [
            "buckets",
            "stages",
            "cure-rate",
            "promises",
            "agents",
            "arms",
        ] {
            assert!(
                d.body.contains(&format!("data-chart=\"{chart}\"")),
                "chart {chart}: {}",
                d.body
            );
        }
        assert!(d.body.contains("2026-11-27 → 2026-11-28"), "{}", d.body);
        let agents = element(&d.body, "table", "agent-table");
        assert!(agents.contains("data-agent=\"alice\""), "{agents}");
        assert!(agents.contains("<td class=\"contacts\">1</td>"), "{agents}");
        assert!(
            agents.contains("<td class=\"right-party\">1</td>"),
            "{agents}"
        );
        // Both loans are in one bucket (M2) on 11-28: the bars' value labels (the texts above
        // the bars, in bucket order) say 2 there and 0 elsewhere.
        let i = d.body.find("data-chart=\"buckets\"").unwrap();
        let svg = &d.body[i..i + d.body[i..].find("</svg>").unwrap()];
        let values: Vec<&str> = svg
            .split("<text")
            .skip(1)
            .filter(|t| t.contains("dy=\"-0.5ex\""))
            .filter_map(|t| Some(t.split_once('>')?.1.split_once("</text>")?.0.trim()))
            .collect();
        assert_eq!(values, ["0", "0", "2", "0", "0", "0", "0", "0"], "{svg}");
        let zh = get(s, "/dashboard?lang=zh-CN", Some(&c));
        assert!(
            zh.body.contains("管理看板") && zh.body.contains("迁徙率"),
            "{}",
            zh.body
        );
        for user in ["carol", "connie"] {
            let role = if user == "carol" {
                "compliance"
            } else {
                "admin"
            };
            let o = add_user(&s.db.target, user, role, PASSWORD);
            assert!(o.status.success(), "{}", text(&o.stderr));
            let c = login(s, user);
            assert_eq!(get(s, "/dashboard", Some(&c)).status, 200);
        }
    });
}

#[test]
fn the_portal_takes_cease_preferences_and_a_plan_only_for_its_borrower() {
    on_both(|s| {
        let b1 = portal_session(s, "B1");
        let portal = get(s, "/portal/b/B1", Some(&b1));
        assert_eq!(portal.status, 200);
        let token = csrf(&portal);
        let b2 = portal_session(s, "B2");
        let b2_token = csrf(&get(s, "/portal/b/B2", Some(&b2)));
        let plan = [
            ("loan_id", "L1"),
            ("installments", "3"),
            ("amount", "100.00"),
            ("first_due", "2099-01-15"),
        ];
        // Without the session's token, nothing is taken.
        for (path, fields) in [
            ("/portal/b/B1/cease", vec![]),
            ("/portal/b/B1/preferences", vec![("ch_call", "on")]),
            ("/portal/b/B1/plan", plan.to_vec()),
        ] {
            for bad in [None, Some("0000"), Some(b2_token.as_str())] {
                let mut f = fields.clone();
                if let Some(t) = bad {
                    f.push(("csrf", t));
                }
                let p = post(s, path, Some(&b1), &f);
                assert_eq!(p.status, 403, "{path} {bad:?}: {}", p.body);
            }
        }
        // Nor for another borrower, with this session's own token.
        for (path, fields) in [
            ("/portal/b/B2/cease", vec![("csrf", token.as_str())]),
            (
                "/portal/b/B2/preferences",
                vec![("csrf", token.as_str()), ("ch_call", "on")],
            ),
            (
                "/portal/b/B2/plan",
                vec![
                    ("csrf", token.as_str()),
                    ("loan_id", "L2"),
                    ("installments", "3"),
                    ("amount", "1"),
                    ("first_due", "2099-01-15"),
                ],
            ),
        ] {
            let p = post(s, path, Some(&b1), &fields);
            assert_eq!(p.status, 403, "{path}: {}", p.body);
        }
        // B1 cannot propose a plan for B2's loan through its own URL either.
        let mut other = plan.to_vec();
        other[0] = ("loan_id", "L2");
        other.push(("csrf", &token));
        assert_eq!(post(s, "/portal/b/B1/plan", Some(&b1), &other).status, 422);
        let (rt, store) = store_of(s);
        assert!(
            rt.block_on(store.contact_preferences("B1"))
                .unwrap()
                .is_none()
        );
        assert!(
            rt.block_on(store.contact_preferences("B2"))
                .unwrap()
                .is_none()
        );
        assert!(rt.block_on(store.plan_proposals("L2")).unwrap().is_empty());
        let b2row = rt.block_on(store.borrower_contacts("B2")).unwrap().unwrap();
        assert!(!b2row.borrower.cease_contact);

        let sms = json!({"borrower_id": "B1", "loan_id": "L1", "channel": "sms",
                         "target": "+12125550100", "at": "2026-11-28T15:00:00Z"});
        let before = s.check(sms.clone());
        // Calls only, 09:00 to 17:00.
        let bad = post(
            s,
            "/portal/b/B1/preferences",
            Some(&b1),
            &[
                ("csrf", &token),
                ("ch_call", "on"),
                ("hours_from", "17:00"),
                ("hours_to", "09:00"),
            ],
        );
        assert_eq!(bad.status, 422, "{}", bad.body);
        let p = post(
            s,
            "/portal/b/B1/preferences",
            Some(&b1),
            &[
                ("csrf", &token),
                ("ch_call", "on"),
                ("hours_from", "09:00"),
                ("hours_to", "17:00"),
            ],
        );
        assert_eq!(
            (p.status, p.location.as_deref()),
            (303, Some("/portal/b/B1?done=preferences"))
        );
        let prefs = rt
            .block_on(store.contact_preferences("B1"))
            .unwrap()
            .unwrap();
        assert_eq!(prefs.channels, vec!["call".to_owned()]);
        // SMS is now opted out: the borrower's preference (ALL-PREFERENCE), and the packs'
        // opt-out of the phone number (ALL-IDENTITY).
        let after = s.check(sms.clone());
        assert_eq!(after["decision"], "deny", "{after}");
        for rule in ["ALL-PREFERENCE", "ALL-IDENTITY"] {
            assert!(
                after["rule_ids"].as_array().unwrap().contains(&json!(rule)),
                "{rule}: {before} -> {after}"
            );
        }
        let page = get(s, "/portal/b/B1", Some(&b1));
        assert!(
            page.body.contains("id=\"ch-call\" value=\"on\" checked"),
            "{}",
            page.body
        );
        assert!(page.body.contains("value=\"09:00\""));
        // A proposed plan, with HTML in its note.
        let evil = "<img src=x onerror=alert(1)> & more";
        let mut f = plan.to_vec();
        f.push(("note", evil));
        f.push(("csrf", &token));
        let p = post(s, "/portal/b/B1/plan", Some(&b1), &f);
        assert_eq!(
            (p.status, p.location.as_deref()),
            (303, Some("/portal/b/B1?done=plan")),
            "{}",
            p.body
        );
        for bad in [
            ("installments", "0"),
            ("installments", "61"),
            ("amount", "0"),
            ("first_due", "2020-01-01"),
        ] {
            let mut f: Vec<(&str, &str)> =
                plan.iter().filter(|(k, _)| *k != bad.0).copied().collect();
            f.push(bad);
            f.push(("csrf", &token));
            assert_eq!(
                post(s, "/portal/b/B1/plan", Some(&b1), &f).status,
                422,
                "{bad:?}"
            );
        }
        let proposals = rt.block_on(store.plan_proposals("L1")).unwrap();
        assert_eq!(proposals.len(), 1);
        assert_eq!(
            (proposals[0].installments, proposals[0].amount_minor),
            (3, 10_000)
        );
        assert_eq!(proposals[0].note, evil);
        // The agent sees the choices and the proposal, escaped.
        let alice = login(s, "alice");
        let account = get(s, "/accounts/L1", Some(&alice));
        assert!(
            !account.body.contains("id=\"calls-declined\""),
            "calls are accepted"
        );
        let prefs_table = element(&account.body, "table", "preferences");
        assert!(
            prefs_table.contains("Call") && prefs_table.contains("09:00 – 17:00"),
            "{prefs_table}"
        );
        let list = element(&account.body, "ul", "proposals");
        assert!(
            list.contains("3 × 100.00 USD") && list.contains("2099-01-15"),
            "{list}"
        );
        assert!(!account.body.contains("<img src=x"), "{}", account.body);
        assert!(
            list.contains("&#60;img") || list.contains("&lt;img"),
            "{list}"
        );
        // Stop contact (confirmed): the cease_contact event; every collection contact is
        // denied after.
        let p = post(
            s,
            "/portal/b/B1/cease",
            Some(&b1),
            &[("csrf", &token), ("confirm", "yes")],
        );
        assert_eq!(
            (p.status, p.location.as_deref()),
            (303, Some("/portal/b/B1?done=cease"))
        );
        let call = s.check(
            json!({"borrower_id": "B1", "loan_id": "L1", "channel": "call",
                                  "target": "+12125550100", "at": "2026-11-28T15:00:00Z"}),
        );
        assert_eq!(call["decision"], "deny");
        assert!(
            call["rule_ids"]
                .as_array()
                .unwrap()
                .contains(&json!("ALL-CEASE")),
            "{call}"
        );
        let page = get(s, "/portal/b/B1", Some(&b1));
        assert!(page.body.contains("id=\"cease-state\""), "{}", page.body);
        let account = get(s, "/accounts/L1", Some(&alice));
        assert!(account.body.contains("Cease contact requested"));
        // A borrower who declines calls is flagged to the agent.
        let p = post(
            s,
            "/portal/b/B1/preferences",
            Some(&b1),
            &[("csrf", &token), ("ch_sms", "on")],
        );
        assert_eq!(p.status, 303);
        let account = get(s, "/accounts/L1", Some(&alice));
        assert!(
            account.body.contains("id=\"calls-declined\""),
            "{}",
            account.body
        );
    });
}

/// Headless Chromium through chromedriver: a borrower verifies a genuine and a forged code
/// and opens a dispute; an agent then sees the hold and cannot log a call.
#[test]
fn browser_borrower_disputes_and_the_agent_sees_the_hold() {
    let (chromium, driver) = ("/usr/bin/chromium", "/usr/bin/chromedriver");
    if !std::path::Path::new(chromium).exists() || !std::path::Path::new(driver).exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs {chromium} and {driver} (Debian chromium, chromium-driver)"
        );
        eprintln!(
            "skipped: {chromium} or {driver} is missing (apt-get install chromium chromium-driver)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let log = dir.path().join("audit.jsonl");
    let (k, l) = (keys.to_str().unwrap(), log.to_str().unwrap());
    ok(&["keys", "init", "--dir", k]);
    let code = crate::server::sign_sms(k, l).trim().to_owned();
    let s = setup(Backend::Sqlite, &["--keys", k, "--audit-log", l]).unwrap();
    let (link, _) = portal_link(&s, "B1");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut chromedriver = std::process::Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let profile = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let result = rt.block_on(browse(
        port,
        chromium,
        profile.path().to_str().unwrap(),
        &s,
        &link,
        &code,
    ));
    let _ = chromedriver.kill();
    let _ = chromedriver.wait();
    result.unwrap();
}

async fn browse(
    port: u16,
    chromium: &str,
    profile: &str,
    s: &Server,
    link: &str,
    code: &str,
) -> Result<(), String> {
    use fantoccini::{ClientBuilder, Locator};
    let url = format!("http://127.0.0.1:{port}");
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"binary": chromium, "args": [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            format!("--user-data-dir={profile}")
        ]}),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let mut c = None;
    for _ in 0..100 {
        match ClientBuilder::new(connector.clone())
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(client) => {
                c = Some(client);
                break;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
    let c = c.ok_or("chromedriver did not answer")?;
    let e = |e: fantoccini::error::CmdError| e.to_string();
    let run = async {
        // Waits until the element `id` shows text that `ok` accepts. A click that submits a
        // form returns before the next page replaces this one, so the element found first
        // may belong to the old page (its text is the old answer, or it goes stale while
        // being read): poll until the new page's text is there, for at most 20 seconds.
        let text_until = |id: &'static str, ok: fn(&str) -> bool| {
            let c = &c;
            async move {
                let mut last = String::from("(element never found)");
                for _ in 0..200 {
                    if let Ok(el) = c.find(Locator::Id(id)).await
                        && let Ok(text) = el.text().await
                    {
                        if ok(&text) {
                            return Ok(text);
                        }
                        last = text;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(format!(
                    "#{id} never showed the expected text; last: {last}"
                ))
            }
        };
        // The borrower opens the link and continues into the portal.
        c.goto(link).await.map_err(e)?;
        c.find(Locator::Id("continue"))
            .await
            .map_err(e)?
            .click()
            .await
            .map_err(e)?;
        text_until("regulator", |t| {
            t.contains("Consumer Financial Protection Bureau")
        })
        .await?;
        let source = c.source().await.map_err(e)?;
        if !source.contains("1000.00 USD") {
            return Err("the portal shows the overdue amount".into());
        }
        let genuine: fn(&str) -> bool = |t| t.starts_with("Genuine");
        let not_issued: fn(&str) -> bool = |t| t.starts_with("Not issued");
        for (typed, expect) in [(code, genuine), ("AAAAA-BBBBB", not_issued)] {
            let field = c.find(Locator::Id("code")).await.map_err(e)?;
            field.clear().await.map_err(e)?;
            field.send_keys(typed).await.map_err(e)?;
            c.find(Locator::Id("verify"))
                .await
                .map_err(e)?
                .click()
                .await
                .map_err(e)?;
            text_until("verify-result", expect)
                .await
                .map_err(|m| format!("verifying {typed}: {m}"))?;
        }
        c.find(Locator::Id("dispute-text"))
            .await
            .map_err(e)?
            .send_keys("I never took this loan <script>alert(1)</script>")
            .await
            .map_err(e)?;
        c.find(Locator::Id("dispute"))
            .await
            .map_err(e)?
            .click()
            .await
            .map_err(e)?;
        text_until("notice", |t| t.contains("Your dispute was recorded")).await?;
        // The agent signs in (the portal session cookie is replaced) and opens the account.
        sign_in(&c, s, "alice").await?;
        text_until("whoami", |t| t.contains("alice (agent)")).await?;
        c.goto(&format!("{}/accounts/L1", s.base))
            .await
            .map_err(e)?;
        text_until("holds", |t| t.contains("Dispute open")).await?;
        text_until("allowed", |t| t.contains("ALL-HOLD-DISPUTE")).await?;
        // The borrower's text is shown as text, not run as a script.
        text_until("dispute-notes", |t| t.contains("<script>alert(1)</script>")).await?;
        c.find(Locator::Id("log-call"))
            .await
            .map_err(e)?
            .click()
            .await
            .map_err(e)?;
        // The call the rules forbid was dialled: it is logged as a violation, not lost.
        text_until("message", |t| t.contains("logged as a violation")).await?;
        text_until("rule-ids", |t| t.contains("ALL-HOLD-DISPUTE")).await?;
        Ok::<(), String>(())
    };
    let out = run.await;
    let _ = c.close().await;
    out
}

/// Runs `f` in headless Chromium (a fresh profile) against `s`, then closes the browser and
/// chromedriver and panics with `f`'s error. `false` (skipped) without Chromium.
fn in_browser<F>(s: &Server, f: F) -> bool
where
    F: for<'a> FnOnce(
        &'a fantoccini::Client,
        &'a Server,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<(), String>> + 'a>,
    >,
{
    let Some((mut driver, port)) = chromedriver() else {
        return false;
    };
    let profile = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let result = rt.block_on(async {
        let c = headless(port, profile.path().to_str().unwrap()).await?;
        let out = f(&c, s).await;
        let _ = c.close().await;
        out
    });
    let _ = driver.kill();
    let _ = driver.wait();
    result.unwrap();
    true
}

fn cmd(e: fantoccini::error::CmdError) -> String {
    e.to_string()
}

async fn click(c: &fantoccini::Client, css: &str) -> Result<(), String> {
    c.find(fantoccini::Locator::Css(css))
        .await
        .map_err(|e| format!("{css}: {e}"))?
        .click()
        .await
        .map_err(cmd)
}

async fn type_in(c: &fantoccini::Client, css: &str, text: &str) -> Result<(), String> {
    c.find(fantoccini::Locator::Css(css))
        .await
        .map_err(|e| format!("{css}: {e}"))?
        .send_keys(text)
        .await
        .map_err(cmd)
}

/// Sets a date field's value (typing depends on the browser's locale).
async fn set_date(c: &fantoccini::Client, id: &str, date: &str) -> Result<(), String> {
    c.execute(
        &format!("document.getElementById('{id}').value = '{date}';"),
        vec![],
    )
    .await
    .map(|_| ())
    .map_err(cmd)
}

/// Starts chromedriver on a free port; None (skipped) when Chromium is not installed outside CI.
pub(crate) fn chromedriver() -> Option<(std::process::Child, u16)> {
    let (chromium, driver) = ("/usr/bin/chromium", "/usr/bin/chromedriver");
    if !std::path::Path::new(chromium).exists() || !std::path::Path::new(driver).exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs {chromium} and {driver} (Debian chromium, chromium-driver)"
        );
        eprintln!("skipped: {chromium} or {driver} is missing");
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    Some((child, port))
}

pub(crate) async fn headless(port: u16, profile: &str) -> Result<fantoccini::Client, String> {
    use fantoccini::ClientBuilder;
    let url = format!("http://127.0.0.1:{port}");
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"binary": "/usr/bin/chromium", "args": [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            format!("--user-data-dir={profile}")
        ]}),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    for _ in 0..100 {
        if let Ok(c) = ClientBuilder::new(connector.clone())
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            return Ok(c);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Err("chromedriver did not answer".into())
}

/// Waits until the element matched by `css` shows text that `ok` accepts (a click that
/// submits a form returns before the next page replaces this one: poll, at most 20 s).
pub(crate) async fn css_text_until(
    c: &fantoccini::Client,
    css: &str,
    ok: impl Fn(&str) -> bool,
) -> Result<String, String> {
    let mut last = String::from("(element never found)");
    for _ in 0..200 {
        if let Ok(el) = c.find(fantoccini::Locator::Css(css)).await
            && let Ok(text) = el.text().await
        {
            if ok(&text) {
                return Ok(text);
            }
            last = text;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Err(format!(
        "{css} never showed the expected text; last: {last}"
    ))
}

async fn sign_in(c: &fantoccini::Client, s: &Server, user: &str) -> Result<(), String> {
    sign_in_at(c, &format!("{}/login", s.base), user, PASSWORD).await
}

/// Signs in through the login form at `login` (a URL) and waits for the name in the header.
pub(crate) async fn sign_in_at(
    c: &fantoccini::Client,
    login: &str,
    user: &str,
    password: &str,
) -> Result<(), String> {
    use fantoccini::Locator;
    let e = |e: fantoccini::error::CmdError| e.to_string();
    c.goto(login).await.map_err(e)?;
    c.find(Locator::Id("username"))
        .await
        .map_err(e)?
        .send_keys(user)
        .await
        .map_err(e)?;
    c.find(Locator::Id("password"))
        .await
        .map_err(e)?
        .send_keys(password)
        .await
        .map_err(e)?;
    c.find(Locator::Id("sign-in"))
        .await
        .map_err(e)?
        .click()
        .await
        .map_err(e)?;
    css_text_until(c, "#whoami", |t| t.contains(user))
        .await
        .map(|_| ())
}

/// Headless Chromium: an agent opens the queue, logs a call with a promise on the account
/// page and sees the promise there and on the queue; a manager opens the dashboard and sees
/// the charts with their numbers.
#[test]
fn browser_agent_logs_a_promise_and_a_manager_sees_the_dashboard() {
    let s = setup(Backend::Sqlite, &[]).unwrap();
    run_on(&s, "2026-11-28");
    in_browser(&s, |c, s| {
        Box::pin(async move {
            use fantoccini::Locator;
            let e = |e: fantoccini::error::CmdError| e.to_string();
            sign_in(c, s, "alice").await?;
            c.goto(&format!("{}/?date=2026-11-28", s.base))
                .await
                .map_err(e)?;
            css_text_until(c, "tr[data-loan=L1] .reason", |t| t.contains("mid-call")).await?;
            css_text_until(c, "tr[data-loan=L1] .worked", |t| {
                t.contains("not worked yet")
            })
            .await?;
            c.find(Locator::LinkText("L1"))
                .await
                .map_err(e)?
                .click()
                .await
                .map_err(e)?;
            css_text_until(c, "h1", |t| t.contains("Account L1")).await?;
            click(c, "#outcome option[value=promise]").await?;
            type_in(c, "#promise-amount", "250.00").await?;
            // A date input takes the date as typed in the browser's locale (en-US: MMDDYYYY).
            let due = c.find(Locator::Id("promise-due")).await.map_err(e)?;
            due.send_keys("01152099").await.map_err(e)?;
            if due.prop("value").await.map_err(e)?.as_deref() != Some("2099-01-15") {
                // Another locale's field order: set the value the form will send.
                c.execute(
                    "document.getElementById('promise-due').value = '2099-01-15';",
                    vec![],
                )
                .await
                .map_err(e)?;
            }
            click(c, "#log-call").await?;
            css_text_until(c, "#promises", |t| {
                t.contains("250.00 USD") && t.contains("2099-01-15") && t.contains("Pending")
            })
            .await?;
            css_text_until(c, "#contacts", |t| t.contains("Promise to pay")).await?;
            click(c, "#to-queue").await?;
            c.goto(&format!("{}/?date=2026-11-28", s.base))
                .await
                .map_err(e)?;
            css_text_until(c, "tr[data-loan=L1] .promise", |t| {
                t.contains("250.00 USD") && t.contains("Pending")
            })
            .await?;
            // The manager.
            click(c, "#sign-out").await?;
            css_text_until(c, "h1", |t| t.contains("Staff sign-in")).await?;
            sign_in(c, s, "sue").await?;
            click(c, "#dashboard-link").await?;
            css_text_until(c, "h1", |t| t.contains("Manager dashboard")).await?;
            css_text_until(c, "#agent-table", |t| t.contains("alice")).await?;
            for chart in [
                "buckets",
                "stages",
                "cure-rate",
                "promises",
                "agents",
                "arms",
            ] {
                let svg = c
                    .find(Locator::Css(&format!("svg.chart[data-chart={chart}]")))
                    .await
                    .map_err(|err| format!("chart {chart}: {err}"))?;
                let rects = svg.find_all(Locator::Css("rect")).await.map_err(e)?;
                if rects.is_empty() {
                    return Err(format!("chart {chart} has no bars"));
                }
            }
            // The numbers are drawn: both loans in one bucket, one promise pending, alice's call.
            let texts = |chart: &'static str| {
                let c = &c;
                async move {
                    let svg = c
                        .find(Locator::Css(&format!("svg.chart[data-chart={chart}]")))
                        .await
                        .map_err(|err| err.to_string())?;
                    let mut all = Vec::new();
                    for t in svg
                        .find_all(Locator::Css("text"))
                        .await
                        .map_err(|err| err.to_string())?
                    {
                        all.push(t.html(true).await.map_err(|err| err.to_string())?);
                    }
                    Ok::<Vec<String>, String>(all)
                }
            };
            let b = texts("buckets").await?;
            if !b.iter().any(|t| t.trim() == "2") {
                return Err(format!("the buckets chart does not say 2: {b:?}"));
            }
            let p = texts("promises").await?;
            if !p.iter().any(|t| t.trim() == "1") || !p.iter().any(|t| t.contains("Pending")) {
                return Err(format!("the promises chart: {p:?}"));
            }
            let a = texts("agents").await?;
            if !a.iter().any(|t| t.contains("alice")) {
                return Err(format!("the agents chart: {a:?}"));
            }
            Ok::<(), String>(())
        })
    });
}
