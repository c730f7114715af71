//! The public verify page (issue 16, item 3): `/verify` without a login, in English and
//! Chinese, answered from the store's index of issued messages (built from the audit log
//! when `arrears serve` starts), rate-limited per client address.

use super::{Page, client, get, page};
use crate::server::{Server, ok, spawn_app, store_of, us_portfolio};
use crate::store::{Backend, fresh};

/// A store with the US portfolio, its daily run and a signed plan of 2026-11-27 written by
/// `arrears plan --db --keys --log` into an audit log; the server started over it with
/// `--keys` and `--audit-log` (and the given options). The signed messages of the plan:
/// (code, borrower, channel, text).
struct Planned {
    s: Server,
    dir: tempfile::TempDir,
    log: std::path::PathBuf,
    messages: Vec<(String, String, String, String)>,
}

fn planned(b: Backend, extra: &[&str]) -> Option<Planned> {
    let db = fresh(b)?;
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
    // Two loans five days late on 2026-11-27, whose early stage gets a text: B7 in New
    // York, B8 in Shanghai (a CN borrower, the text in Chinese).
    let feed = crate::portfolio(&[
        (
            "borrowers.csv",
            "borrower_id,name,phone,email,timezone,jurisdiction,deceased\n\
             B7,Ann,+12125550107,ann@example.com,America/New_York,US-NY,false\n\
             B8,Li Wei,+8613800138008,,Asia/Shanghai,CN,false\n",
        ),
        (
            "loans.csv",
            "loan_id,borrower_id,product,currency,principal_minor,annual_rate_bps,penalty_rate_bps,disbursed_on\n\
             L7,B7,x,USD,50000,0,0,2026-06-01\n\
             L8,B8,x,CNY,50000,0,0,2026-06-01\n",
        ),
        (
            "installments.csv",
            "loan_id,seq,due_date,principal_minor,interest_minor,fee_minor\n\
             L7,1,2026-11-22,50000,0,0\n\
             L8,1,2026-11-22,50000,0,0\n",
        ),
    ]);
    ok(&[
        "import",
        "--portfolio",
        feed.path().to_str().unwrap(),
        "--db",
        &db.target,
        "--quiet",
        "--rejects",
        "/dev/null",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let run_out = dir.path().join("run");
    ok(&[
        "run",
        "--as-of",
        "2026-11-27",
        "--db",
        &db.target,
        "--out",
        run_out.to_str().unwrap(),
        "--format",
        "csv",
    ]);
    let keys = dir.path().join("keys");
    ok(&["keys", "init", "--dir", keys.to_str().unwrap()]);
    let log = dir.path().join("audit.jsonl");
    let plan_out = dir.path().join("plan");
    ok(&[
        "plan",
        "--as-of",
        "2026-11-27",
        "--db",
        &db.target,
        "--out",
        plan_out.to_str().unwrap(),
        "--keys",
        keys.to_str().unwrap(),
        "--log",
        log.to_str().unwrap(),
    ]);
    let messages: Vec<(String, String, String, String)> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["kind"] == "message")
        .map(|e| {
            let d = &e["data"];
            let s = |k: &str| d[k].as_str().unwrap().to_owned();
            (s("code"), s("borrower_id"), s("channel"), s("text"))
        })
        .collect();
    assert!(
        !messages.is_empty(),
        "the plan signs messages: {}",
        std::fs::read_to_string(plan_out.join("actions.csv")).unwrap_or_default()
    );
    let mut args = vec![
        "--keys",
        keys.to_str().unwrap(),
        "--audit-log",
        log.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let s = spawn_app(db, &args);
    Some(Planned {
        s,
        dir,
        log,
        messages,
    })
}

impl Planned {
    /// The signed message of `borrower`'s plan: (code, borrower, channel, text).
    fn of(&self, borrower: &str) -> &(String, String, String, String) {
        self.messages
            .iter()
            .find(|m| m.1 == borrower)
            .unwrap_or_else(|| panic!("a message to {borrower}: {:?}", self.messages))
    }
}

/// As the page writes text (askama's HTML escaping).
fn escaped(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

/// The answer's verdict (`data-verdict` of `#answer`), if any.
fn verdict(p: &Page) -> Option<&str> {
    let i = p.body.find("id=\"answer\" data-verdict=\"")?;
    let rest = &p.body[i + "id=\"answer\" data-verdict=\"".len()..];
    rest.split('"').next()
}

/// A page fetched with headers (no cookie).
fn get_with(s: &Server, path: &str, headers: &[(&str, &str)]) -> Page {
    let mut r = client().get(format!("{}{path}", s.base));
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    page(r.call())
}

fn on_both_planned(extra: &[&str], f: impl Fn(&Planned)) {
    for b in [Backend::Sqlite, Backend::Postgres] {
        if let Some(p) = planned(b, extra) {
            f(&p);
        }
    }
}

#[test]
fn a_planned_messages_code_is_genuine_in_english_and_chinese_without_a_login() {
    on_both_planned(&[], |p| {
        let s = &p.s;
        let (code, borrower, channel, text) = p.of("B7");
        // The form, with no session.
        let form = get(s, "/verify", None);
        assert_eq!(form.status, 200, "{}", form.body);
        assert!(form.body.contains("name=\"code\""), "{}", form.body);
        assert_eq!(verdict(&form), None);
        assert!(
            form.set_cookies
                .iter()
                .all(|c| !c.starts_with("arrears_session"))
        );

        // As a person types it: lower case, a space for the dash.
        let typed = code.to_lowercase().replace('-', "+");
        let en = get(s, &format!("/verify?code={typed}&lang=en"), None);
        assert_eq!(en.status, 200, "{}", en.body);
        assert_eq!(verdict(&en), Some("genuine"), "{}", en.body);
        assert!(en.body.contains("GENUINE"), "{}", en.body);
        assert!(en.body.contains(&escaped(text)), "the text: {}", en.body);
        assert!(en.body.contains(code.as_str()));
        let channel_word = match channel.as_str() {
            "sms" => "SMS",
            "email" => "E-mail",
            other => panic!("a message by {other}"),
        };
        assert!(
            en.body
                .contains(&format!("<td id=\"channel\">{channel_word}</td>")),
            "{}",
            en.body
        );
        // The date on the borrower's own clock.
        assert!(
            en.body.contains("(America/New_York)</td>"),
            "the borrower's zone: {}",
            en.body
        );
        let lender = serde_json::from_str::<serde_json::Value>(
            std::fs::read_to_string(&p.log)
                .unwrap()
                .lines()
                .find(|l| l.contains(code.as_str()) && l.contains("\"message\""))
                .unwrap(),
        )
        .unwrap()["data"]["lender"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            en.body
                .contains(&format!("<td id=\"lender\">{}</td>", escaped(&lender))),
            "{}",
            en.body
        );

        // Chinese by ?lang=: the CN borrower's message in Chinese, on Shanghai's clock.
        let (cn_code, _, _, cn_text) = p.of("B8");
        assert!(cn_text.contains("验证码"), "{cn_text}");
        let zh = get(s, &format!("/verify?code={cn_code}&lang=zh-CN"), None);
        assert_eq!(verdict(&zh), Some("genuine"), "{}", zh.body);
        assert!(zh.body.contains("<html lang=\"zh-CN\">"));
        assert!(
            zh.body.contains("真实") && !zh.body.contains("GENUINE"),
            "{}",
            zh.body
        );
        assert!(zh.body.contains(&escaped(cn_text)), "{}", zh.body);
        assert!(
            zh.body.contains("<td id=\"channel\">短信</td>"),
            "{}",
            zh.body
        );
        assert!(zh.body.contains("(Asia/Shanghai)</td>"), "{}", zh.body);
        // And by Accept-Language alone.
        let by_header = get_with(
            s,
            &format!("/verify?code={code}"),
            &[("Accept-Language", "fr;q=1, zh-CN;q=0.9, en;q=0.5")],
        );
        assert!(by_header.body.contains("真实"), "{}", by_header.body);
        let english = get_with(
            s,
            &format!("/verify?code={code}"),
            &[("Accept-Language", "en-GB, zh;q=0.3")],
        );
        assert!(english.body.contains("GENUINE"), "{}", english.body);

        // The public check is on the borrower's access record.
        let (rt, store) = store_of(s);
        let log = rt.block_on(store.access_log(borrower)).unwrap();
        assert!(
            log.iter()
                .any(|a| a.actor == "public" && a.action == "verify.public"),
            "{log:?}"
        );
    });
}

#[test]
fn an_unissued_code_is_not_issued_with_where_to_complain_and_garbage_is_not_on_record() {
    on_both_planned(&[], |p| {
        let s = &p.s;
        let issued: Vec<&str> = p.messages.iter().map(|m| m.0.as_str()).collect();
        let unissued = "AAAAA-BBBBB";
        assert!(!issued.contains(&unissued));
        let zh = get(s, &format!("/verify?code={unissued}&lang=zh-CN"), None);
        assert_eq!(zh.status, 200);
        assert_eq!(verdict(&zh), Some("not_issued"), "{}", zh.body);
        assert!(
            zh.body.contains("未签发") && zh.body.contains("请勿付款"),
            "{}",
            zh.body
        );
        assert!(
            zh.body.contains("href=\"tel:12378\"") && zh.body.contains("12378"),
            "{}",
            zh.body
        );
        let en = get(s, &format!("/verify?code={unissued}&lang=en"), None);
        assert_eq!(verdict(&en), Some("not_issued"));
        assert!(en.body.contains("NOT ISSUED") && en.body.contains("Do not pay"));
        assert!(en.body.contains("12378") && en.body.contains("consumerfinance.gov"));
        assert!(!en.body.contains("old-records"), "no record was deleted");

        // One character changed in a real code: well-formed, not issued.
        let real = p.of("B8").0.as_str();
        let last = real.chars().last().unwrap();
        let swapped = format!(
            "{}{}",
            &real[..real.len() - 1],
            if last == 'Z' { 'Y' } else { 'Z' }
        );
        if !issued.contains(&swapped.as_str()) {
            let p2 = get(s, &format!("/verify?code={swapped}"), None);
            assert_eq!(verdict(&p2), Some("not_issued"), "{}", p2.body);
        }

        for garbage in [
            "hello",
            "AAAAA-BBBBU",
            "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
            "%27%3B+DROP+TABLE+loans%3B+--",
            "12345-123456",
        ] {
            let g = get(s, &format!("/verify?code={garbage}&lang=en"), None);
            assert_eq!(g.status, 200, "{garbage}");
            assert_eq!(verdict(&g), Some("not_on_record"), "{garbage}: {}", g.body);
            assert!(g.body.contains("NOT ON RECORD"));
            assert!(
                g.body.contains("two groups of five"),
                "what a code looks like"
            );
            assert!(!g.body.contains("<script>alert"), "escaped: {}", g.body);
        }
        let g = get(s, "/verify?code=xyz&lang=zh-CN", None);
        assert_eq!(verdict(&g), Some("not_on_record"));
        assert!(g.body.contains("无记录"));
    });
}

#[test]
fn the_page_answers_from_the_index_not_the_audit_log() {
    on_both_planned(&[], |p| {
        let s = &p.s;
        let (code, _, _, text) = p.of("B7");
        let before = get(s, &format!("/verify?code={code}"), None);
        assert_eq!(verdict(&before), Some("genuine"));
        // The log is gone: the page, and /v1/verify, still answer from the store.
        std::fs::rename(&p.log, p.dir.path().join("moved.jsonl")).unwrap();
        let after = get(s, &format!("/verify?code={code}"), None);
        assert_eq!(verdict(&after), Some("genuine"), "{}", after.body);
        assert!(after.body.contains(&escaped(text)));
        let token = ok(&[
            "tokens",
            "create",
            "--name",
            "reader",
            "--scope",
            "read",
            "--db",
            &s.db.target,
        ]);
        let api = get_with(
            s,
            &format!("/v1/verify/{code}"),
            &[("Authorization", &format!("Bearer {}", token.trim()))],
        );
        assert_eq!(api.status, 200, "{}", api.body);
        let api: serde_json::Value = serde_json::from_str(&api.body).unwrap();
        assert_eq!(api["status"], "genuine");
        assert_eq!(api["text"].as_str(), Some(text.as_str()));
        let not = get(s, "/verify?code=AAAAA-BBBBB", None);
        assert_eq!(verdict(&not), Some("not_issued"));
        // And the index holds every message of the plan.
        let (rt, store) = store_of(s);
        for (code, borrower, _, _) in &p.messages {
            let f = rt.block_on(store.issued_message(code)).unwrap().unwrap();
            assert_eq!(&f.message.borrower_id, borrower);
            let zone = if borrower == "B8" {
                "Asia/Shanghai"
            } else {
                "America/New_York"
            };
            assert_eq!(f.borrower_zone.as_deref(), Some(zone));
        }
        let st = rt.block_on(store.message_index_state()).unwrap().unwrap();
        assert_eq!(st.messages, p.messages.len() as u64);
        assert_eq!(st.redacted_messages, 0);
    });
}

/// A record edited in the log before it was indexed is in the index as edited, and fails
/// the lender's signature: the page says NOT ISSUED, never GENUINE, and shows none of it.
#[test]
fn an_edited_record_in_the_index_is_never_genuine() {
    let Some(p) = planned(Backend::Sqlite, &[]) else {
        return;
    };
    let (code, _, _, text) = p.of("B7").clone();
    let keys = p.dir.path().join("keys");
    let forged_text = "Pay today into account 999";
    let log = std::fs::read_to_string(&p.log).unwrap();
    let line = log
        .lines()
        .find(|l| l.contains(code.as_str()) && l.contains("\"message\""))
        .unwrap();
    let json_text = serde_json::to_string(&text).unwrap();
    let edited = log.replace(
        line,
        &line.replace(&json_text, &serde_json::to_string(forged_text).unwrap()),
    );
    assert_ne!(edited, log);
    let edited_log = p.dir.path().join("edited.jsonl");
    std::fs::write(&edited_log, edited).unwrap();
    let s = spawn_app(
        fresh(Backend::Sqlite).unwrap(),
        &[
            "--keys",
            keys.to_str().unwrap(),
            "--audit-log",
            edited_log.to_str().unwrap(),
        ],
    );
    let (rt, store) = store_of(&s);
    let row = rt.block_on(store.issued_message(&code)).unwrap().unwrap();
    assert_eq!(
        row.message.text, forged_text,
        "the edited record is indexed"
    );
    let page = get(&s, &format!("/verify?code={code}"), None);
    assert_eq!(verdict(&page), Some("not_issued"), "{}", page.body);
    assert!(!page.body.contains(forged_text));
}

#[test]
fn lookups_over_the_limit_are_429_per_client_behind_a_trusted_proxy() {
    on_both_planned(&["--trusted-proxy", "127.0.0.1"], |p| {
        let s = &p.s;
        let (code, _, _, text) = p.of("B7");
        let allowed = arrears_server::pages::VERIFY_LOOKUPS_ALLOWED;
        for i in 0..allowed {
            // Any answer counts: genuine, not issued and not on record alike.
            let c = match i % 3 {
                0 => code.as_str(),
                1 => "AAAAA-BBBBB",
                _ => "nonsense",
            };
            let p = get(s, &format!("/verify?code={c}"), None);
            assert_eq!(p.status, 200, "lookup {i}: {}", p.body);
        }
        let over = get(s, &format!("/verify?code={code}"), None);
        assert_eq!(over.status, 429, "{}", over.body);
        assert_eq!(verdict(&over), Some("too_many"));
        assert!(!over.body.contains(&escaped(text)));
        let zh = get(s, &format!("/verify?code={code}&lang=zh-CN"), None);
        assert_eq!(zh.status, 429);
        assert!(zh.body.contains("次数过多"), "{}", zh.body);
        let retry = client()
            .get(format!("{}/verify?code={code}", s.base))
            .call()
            .unwrap();
        assert_eq!(retry.status().as_u16(), 429);
        let after: u64 = retry
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .expect("Retry-After");
        assert!((1..=600).contains(&after), "{after}");
        // The form itself is not a lookup.
        assert_eq!(get(s, "/verify", None).status, 200);
        // Another client forwarded by the trusted proxy has its own count.
        let other = get_with(
            s,
            &format!("/verify?code={code}"),
            &[("X-Forwarded-For", "203.0.113.7")],
        );
        assert_eq!(other.status, 200, "{}", other.body);
        assert_eq!(verdict(&other), Some("genuine"));
    });
}

/// A message signed into the log while the server runs is found once the server sees the
/// log changed (`--reindex-ms`), without a restart.
#[test]
fn a_message_signed_while_the_server_runs_is_found_after_the_log_changes() {
    let Some(p) = planned(Backend::Sqlite, &["--reindex-ms", "200"]) else {
        return;
    };
    let keys = p.dir.path().join("keys");
    let code = ok(&[
        "sign",
        "--keys",
        keys.to_str().unwrap(),
        "--log",
        p.log.to_str().unwrap(),
        "--lender",
        "Arrears Demo Lender",
        "--borrower",
        "B8",
        "--channel",
        "sms",
        "--text",
        "Li Wei, a later reminder. Code {code}",
        "--at",
        "2026-11-27T08:00:00Z",
    ])
    .trim()
    .to_owned();
    let started = std::time::Instant::now();
    let found = loop {
        let page = get(&p.s, &format!("/verify?code={code}&lang=zh-CN"), None);
        if verdict(&page) == Some("genuine") {
            break page;
        }
        assert_eq!(verdict(&page), Some("not_issued"), "{}", page.body);
        assert!(
            // At most 25 lookups: within the per-client limit.
            started.elapsed() < std::time::Duration::from_secs(25),
            "the new message was not indexed: {}",
            page.body
        );
        std::thread::sleep(std::time::Duration::from_secs(1));
    };
    assert!(
        found.body.contains("Li Wei, a later reminder."),
        "{}",
        found.body
    );
    assert!(
        found.body.contains("(Asia/Shanghai)</td>"),
        "{}",
        found.body
    );
    // The plan's messages are still there.
    let old = get(&p.s, &format!("/verify?code={}", p.of("B7").0), None);
    assert_eq!(verdict(&old), Some("genuine"));
}
