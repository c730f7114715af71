//! The web pages against the real `arrears serve` (SQLite and PostgreSQL): staff login with
//! sessions, CSRF, agent assignment, the borrower portal's one-time codes and its borrower
//! binding, escaping of a borrower's text; and one end-to-end run in headless Chromium
//! through chromedriver (fantoccini).

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
fn setup(b: Backend, extra: &[&str]) -> Option<Server> {
    let db = fresh(b)?;
    let s = spawn_app(db, extra);
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
    for (user, role) in [("alice", "agent"), ("bob", "agent"), ("sue", "supervisor")] {
        let o = add_user(&s.db.target, user, role, PASSWORD);
        assert!(o.status.success(), "{}", text(&o.stderr));
    }
    ok(&[
        "assign",
        "--loan",
        "L1",
        "--agent",
        "alice",
        "--db",
        &s.db.target,
    ]);
    ok(&[
        "assign",
        "--loan",
        "L2",
        "--agent",
        "bob",
        "--db",
        &s.db.target,
    ]);
    Some(s)
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

/// A portal link from `arrears portal link`, and the path and code in it.
fn portal_link(s: &Server, borrower: &str) -> (String, String) {
    let link = ok(&[
        "portal",
        "link",
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
        let i = p.body.find("/portal/enter?code=").unwrap() + "/portal/enter?code=".len();
        let code = &p.body[i..i + 64];
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
        // Logging a call is refused with the rule.
        let p = post(
            s,
            "/accounts/L1/calls",
            Some(&alice),
            &[("csrf", &csrf(&account)), ("outcome", "right_party")],
        );
        assert_eq!(p.status, 422, "{}", p.body);
        assert!(p.body.contains("ALL-HOLD-DISPUTE"), "{}", p.body);
        let (rt, store) = store_of(s);
        let bc = rt.block_on(store.borrower_contacts("B1")).unwrap().unwrap();
        assert_eq!(bc.contacts.len(), 1, "the refused call was not recorded");
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
    let s = setup(Backend::Sqlite, &["--keys", k, "--audit-log", l]).unwrap();
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
    for code in [&own, &other] {
        let p = get(&s, &format!("/portal/b/B1/verify?code={code}"), Some(&b1));
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
    let code = ok(&[
        "sign",
        "--keys",
        k,
        "--log",
        l,
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
    .trim()
    .to_owned();
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
        c.goto(&format!("{}/login", s.base)).await.map_err(e)?;
        c.find(Locator::Id("username"))
            .await
            .map_err(e)?
            .send_keys("alice")
            .await
            .map_err(e)?;
        c.find(Locator::Id("password"))
            .await
            .map_err(e)?
            .send_keys(PASSWORD)
            .await
            .map_err(e)?;
        c.find(Locator::Id("sign-in"))
            .await
            .map_err(e)?
            .click()
            .await
            .map_err(e)?;
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
        text_until("message", |t| t.contains("deny")).await?;
        text_until("rule-ids", |t| t.contains("ALL-HOLD-DISPUTE")).await?;
        Ok::<(), String>(())
    };
    let out = run.await;
    let _ = c.close().await;
    out
}
