//! The outbox and the channels through the real binary, on SQLite and PostgreSQL: messages
//! are queued with `arrears outbox enqueue` and sent with `arrears outbox send --once` (with
//! a fixed `--now`) to an SMTP sink and a webhook receiver started here, on loopback.
//!

use crate::store::{Backend, TestDb, fresh};
use crate::{arrears, portfolio, text};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

const SECRET: &str = "gateway-secret";
const T0: &str = "2026-11-28T15:00:00Z";
/// Pass the US pack for B1 (New York) at T0: they name the lender, carry the code and the
/// opt-out.
const MAIL_TEXT: &str = "Acme Lending: your payment of $1,000.00 was due on Oct 1. If you have already paid, please ignore this message. Questions? Call 800-555-0100. Ref K7Q1. Reply STOP to opt out.";
const SMS_TEXT: &str = "Acme Lending: your payment is past due. Questions? Call 800-555-0100. Ref K7Q2. Reply STOP to opt out.";

fn us_portfolio() -> tempfile::TempDir {
    portfolio(&[
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
        (
            "contacts.csv",
            "contact_id,borrower_id,loan_id,channel,direction,at,outcome,target,party\n",
        ),
    ])
}

fn ok(args: &[&str]) -> String {
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

/// A fresh store with B1 imported.
fn store(b: Backend) -> Option<TestDb> {
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
    Some(db)
}

fn on_both(f: impl Fn(&TestDb)) {
    for b in [Backend::Sqlite, Backend::Postgres] {
        if let Some(db) = store(b) {
            f(&db);
        }
    }
}

fn enqueue(db: &TestDb, key: &str, channel: &str, target: &str, body: &str) -> String {
    ok(&[
        "outbox",
        "enqueue",
        "--db",
        &db.target,
        "--borrower",
        "B1",
        "--loan",
        "L1",
        "--channel",
        channel,
        "--target",
        target,
        "--text",
        body,
        "--lender",
        "Acme Lending",
        "--code",
        if channel == "email" { "K7Q1" } else { "K7Q2" },
        "--subject",
        "Your account",
        "--key",
        key,
        "--at",
        T0,
    ])
}

fn send(db: &TestDb, now: &str, smtp: Option<&str>, webhook: Option<&str>) -> String {
    let mut args = vec![
        "outbox",
        "send",
        "--db",
        &db.target,
        "--once",
        "--now",
        now,
        "--backoff-secs",
        "10",
        "--from",
        "collections@lender.example",
    ];
    if let Some(s) = smtp {
        args.extend(["--smtp", s]);
    }
    if let Some(w) = webhook {
        args.extend(["--webhook", w]);
    }
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_arrears"))
        .args(&args)
        .env("ARREARS_WEBHOOK_SECRET", SECRET)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    text(&o.stdout)
}

/// `outbox status --rows`: (key, state, attempts) per row.
fn rows(db: &TestDb) -> Vec<(String, String, u32)> {
    ok(&["outbox", "status", "--db", &db.target, "--rows"])
        .lines()
        .skip_while(|l| !l.starts_with("outbox_id\t"))
        .skip(1)
        .map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            (c[1].to_owned(), c[3].to_owned(), c[4].parse().unwrap())
        })
        .collect()
}

fn contacts(db: &TestDb) -> i64 {
    ok(&["db", "status", "--db", &db.target])
        .lines()
        .find_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("contacts"))
                .then(|| w.next().and_then(|n| n.parse().ok()))
                .flatten()
        })
        .unwrap_or(-1)
}

/// One e-mail the sink accepted.
#[derive(Debug, Clone)]
struct Mail {
    rcpt: Vec<String>,
    data: String,
}

/// A minimal SMTP server on a free loopback port: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP,
/// QUIT. `fail_rcpt` answers every RCPT with that reply instead of 250.
struct SmtpSink {
    addr: String,
    mails: Arc<Mutex<Vec<Mail>>>,
}

impl SmtpSink {
    fn start(fail_rcpt: Option<&'static str>) -> SmtpSink {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let m = mails.clone();
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                let m = m.clone();
                std::thread::spawn(move || smtp_session(s, &m, fail_rcpt));
            }
        });
        SmtpSink { addr, mails }
    }

    fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }
}

fn smtp_session(s: TcpStream, mails: &Mutex<Vec<Mail>>, fail_rcpt: Option<&str>) {
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    let mut say = |t: &str| w.write_all(format!("{t}\r\n").as_bytes());
    let _ = say("220 sink ESMTP");
    let mut rcpt = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let cmd = line.trim_end().to_owned();
        let up = cmd.to_ascii_uppercase();
        if up.starts_with("EHLO") || up.starts_with("HELO") {
            let _ = say("250 sink");
        } else if up.starts_with("MAIL FROM:") {
            rcpt.clear();
            let _ = say("250 ok");
        } else if up.starts_with("RCPT TO:") {
            match fail_rcpt {
                Some(reply) => {
                    let _ = say(reply);
                }
                None => {
                    rcpt.push(cmd[8..].trim().to_owned());
                    let _ = say("250 ok");
                }
            }
        } else if up == "DATA" {
            let _ = say("354 go on");
            let mut data = String::new();
            loop {
                let mut l = String::new();
                if r.read_line(&mut l).unwrap_or(0) == 0 {
                    return;
                }
                if l == ".\r\n" {
                    break;
                }
                // RFC 5321 4.5.2: a line the client began with a dot arrives with one more.
                data.push_str(l.strip_prefix('.').unwrap_or(&l));
            }
            mails.lock().unwrap().push(Mail {
                rcpt: rcpt.clone(),
                data,
            });
            let _ = say("250 queued");
        } else if up == "QUIT" {
            let _ = say("221 bye");
            return;
        } else {
            let _ = say("250 ok");
        }
    }
}

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Hit {
    status: u16,
    key: Option<String>,
    signature: Option<String>,
    body: Vec<u8>,
}

/// An HTTP receiver on a free loopback port that answers the statuses of `script` in order,
/// then 200, and keeps every request; a real gateway would drop a repeated key.
struct Receiver {
    url: String,
    hits: Arc<Mutex<Vec<Hit>>>,
}

impl Receiver {
    fn start(script: &[u16]) -> Receiver {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/sms", l.local_addr().unwrap());
        let hits = Arc::new(Mutex::new(Vec::new()));
        let h = hits.clone();
        let script = script.to_vec();
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                let n = h.lock().unwrap().len();
                let status = script.get(n).copied().unwrap_or(200);
                if let Some(hit) = http_exchange(s, status) {
                    h.lock().unwrap().push(hit);
                }
            }
        });
        Receiver { url, hits }
    }

    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    /// The keys the gateway delivered (2xx), each once: what dedupe by key leaves.
    fn delivered_keys(&self) -> Vec<String> {
        let mut k: Vec<String> = self
            .hits()
            .into_iter()
            .filter(|h| h.status < 300)
            .filter_map(|h| h.key)
            .collect();
        k.sort();
        k.dedup();
        k
    }
}

fn http_exchange(s: TcpStream, status: u16) -> Option<Hit> {
    let mut w = s.try_clone().ok()?;
    let mut r = BufReader::new(s);
    let mut headers = Vec::new();
    loop {
        let mut l = String::new();
        if r.read_line(&mut l).ok()? == 0 {
            return None;
        }
        if l == "\r\n" {
            break;
        }
        headers.push(l.trim_end().to_owned());
    }
    let header = |name: &str| {
        headers.iter().find_map(|h| {
            let (k, v) = h.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    };
    let len: usize = header("content-length")?.parse().ok()?;
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    let answer = if status < 300 {
        "{\"ok\":true}"
    } else {
        "{\"error\":\"no\"}"
    };
    let _ = w.write_all(
        format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
            answer.len()
        )
        .as_bytes(),
    );
    Some(Hit {
        status,
        key: header("idempotency-key"),
        signature: header("x-arrears-signature"),
        body,
    })
}

#[test]
fn email_and_sms_arrive_once_with_recipient_text_and_headers() {
    on_both(|db| {
        let out = enqueue(db, "k-mail", "email", "m@example.com", MAIL_TEXT);
        assert!(out.contains("queued k-mail as outbox row"), "{out}");
        let again = enqueue(db, "k-mail", "email", "m@example.com", MAIL_TEXT);
        assert!(again.contains("was queued before"), "{again}");
        enqueue(db, "k-sms", "sms", "+12125550100", SMS_TEXT);
        assert_eq!(rows(db).len(), 2, "the same key twice stores one row");
        let before = contacts(db);

        let sink = SmtpSink::start(None);
        let gw = Receiver::start(&[]);
        let out = send(db, "2026-11-28T15:01:00Z", Some(&sink.addr), Some(&gw.url));
        assert!(out.contains("sent 2,"), "{out}");

        let mails = sink.mails();
        assert_eq!(mails.len(), 1, "{mails:?}");
        let m = &mails[0];
        assert_eq!(m.rcpt, ["<m@example.com>"]);
        let id = rows(db).iter().position(|r| r.0 == "k-mail").unwrap() + 1;
        let data = m.data.replace("\r\n", "\n");
        assert!(
            data.contains(&format!("Message-ID: <outbox-{id}@lender.example>")),
            "{data}"
        );
        assert!(data.contains("Idempotency-Key: k-mail"), "{data}");
        assert!(data.contains("Subject: Your account"), "{data}");
        assert!(
            data.contains("From: \"Acme Lending\" <collections@lender.example>")
                || data.contains("From: Acme Lending <collections@lender.example>"),
            "{data}"
        );
        // The body, undoing quoted-printable soft line breaks (the text has no `=`).
        let (_, body) = data.split_once("\n\n").unwrap();
        assert_eq!(body.replace("=\n", "").trim_end(), MAIL_TEXT, "{data}");

        let hits = gw.hits();
        assert_eq!(hits.len(), 1, "{hits:?}");
        let h = &hits[0];
        assert_eq!(h.key.as_deref(), Some("k-sms"));
        assert_eq!(
            h.signature.as_deref(),
            Some(arrears_channels::signature(SECRET.as_bytes(), &h.body).as_str())
        );
        let v: serde_json::Value = serde_json::from_slice(&h.body).unwrap();
        assert_eq!(v["to"], "+12125550100");
        assert_eq!(v["text"], SMS_TEXT);
        assert_eq!(v["idempotency_key"], "k-sms");
        assert_eq!(v["channel"], "sms");

        assert!(
            rows(db).iter().all(|r| r.1 == "sent" && r.2 == 1),
            "{:?}",
            rows(db)
        );
        assert_eq!(
            contacts(db),
            before + 2,
            "each sent message is a recorded contact"
        );

        // Nothing is due any more: a second pass sends nothing.
        let out = send(db, "2026-11-28T15:05:00Z", Some(&sink.addr), Some(&gw.url));
        assert!(out.contains("sent 0,"), "{out}");
        assert_eq!(sink.mails().len(), 1);
        assert_eq!(gw.hits().len(), 1);
    });
}

#[test]
fn a_gateway_failing_twice_gets_the_same_key_until_it_succeeds() {
    on_both(|db| {
        enqueue(db, "k-retry", "sms", "+12125550100", SMS_TEXT);
        let gw = Receiver::start(&[503, 503]);
        let out = send(db, "2026-11-28T15:01:00Z", None, Some(&gw.url));
        assert!(out.contains("retry later 1"), "{out}");
        assert_eq!(rows(db), [("k-retry".to_owned(), "failed".to_owned(), 1)]);
        // Backoff 10 s after the first failure: not due 5 s later.
        let out = send(db, "2026-11-28T15:01:05Z", None, Some(&gw.url));
        assert!(out.contains("sent 0, retry later 0"), "{out}");
        send(db, "2026-11-28T15:01:10Z", None, Some(&gw.url));
        assert_eq!(rows(db)[0].1, "failed");
        // 20 s after the second.
        let out = send(db, "2026-11-28T15:01:30Z", None, Some(&gw.url));
        assert!(out.contains("sent 1"), "{out}");
        assert_eq!(rows(db), [("k-retry".to_owned(), "sent".to_owned(), 3)]);
        let hits = gw.hits();
        assert_eq!(
            hits.iter().map(|h| h.status).collect::<Vec<_>>(),
            [503, 503, 200]
        );
        assert!(hits.iter().all(|h| h.key.as_deref() == Some("k-retry")));
        assert!(
            hits.iter().all(|h| h.body == hits[0].body),
            "the same bytes each time"
        );
        assert_eq!(gw.delivered_keys(), ["k-retry"]);
    });
}

#[test]
fn a_gateway_refusal_is_dead_without_retries() {
    on_both(|db| {
        enqueue(db, "k-400", "sms", "+12125550100", SMS_TEXT);
        let gw = Receiver::start(&[400]);
        let out = send(db, "2026-11-28T15:01:00Z", None, Some(&gw.url));
        assert!(out.contains("dead 1"), "{out}");
        for now in ["2026-11-28T15:02:00Z", "2026-11-28T17:00:00Z"] {
            send(db, now, None, Some(&gw.url));
        }
        assert_eq!(gw.hits().len(), 1, "no retry storm");
        assert_eq!(rows(db), [("k-400".to_owned(), "dead".to_owned(), 1)]);
        let st = ok(&["outbox", "status", "--db", &db.target, "--rows"]);
        assert!(st.contains("400"), "the last error is kept: {st}");
    });
}

#[test]
fn an_smtp_5xx_is_dead_and_a_4xx_is_retried() {
    on_both(|db| {
        enqueue(db, "k-550", "email", "m@example.com", MAIL_TEXT);
        let sink = SmtpSink::start(Some("550 no such user"));
        send(db, "2026-11-28T15:01:00Z", Some(&sink.addr), None);
        assert_eq!(rows(db)[0].1, "dead");
        enqueue(db, "k-450", "email", "m@example.com", MAIL_TEXT);
        let busy = SmtpSink::start(Some("450 mailbox busy"));
        send(db, "2026-11-28T15:01:00Z", Some(&busy.addr), None);
        assert_eq!(rows(db)[1].1, "failed");
        let fine = SmtpSink::start(None);
        send(db, "2026-11-28T15:02:00Z", Some(&fine.addr), None);
        assert_eq!(rows(db)[1], ("k-450".to_owned(), "sent".to_owned(), 2));
        assert_eq!(fine.mails().len(), 1);
    });
}

#[test]
fn a_worker_killed_after_its_claim_is_taken_over_and_the_message_sent_once() {
    on_both(|db| {
        enqueue(db, "k-crash", "sms", "+12125550100", SMS_TEXT);
        let (rt, store) = crate::store::open_store(&db.target);
        let t = |s: &str| s.parse::<jiff::Timestamp>().unwrap();
        // The dead worker claimed the row for 60 s and never sent it.
        let claimed = rt
            .block_on(store.claim_outbox(
                "dead-worker",
                &["sms"],
                t("2026-11-28T15:00:00Z"),
                t("2026-11-28T15:01:00Z"),
                10,
            ))
            .unwrap();
        assert_eq!(claimed.len(), 1);
        let gw = Receiver::start(&[]);
        let out = send(db, "2026-11-28T15:00:30Z", None, Some(&gw.url));
        assert!(out.contains("sent 0"), "a live lease is respected: {out}");
        assert!(gw.hits().is_empty());
        let out = send(db, "2026-11-28T15:01:00Z", None, Some(&gw.url));
        assert!(
            out.contains("sent 1"),
            "an expired lease is taken over: {out}"
        );
        assert_eq!(rows(db), [("k-crash".to_owned(), "sent".to_owned(), 2)]);
        // The dead worker waking up cannot mark the row any more.
        let late = rt
            .block_on(store.release_outbox(
                claimed[0].outbox_id,
                "dead-worker",
                &arrears_store::Release::Sent {
                    at: t("2026-11-28T15:02:00Z"),
                },
            ))
            .unwrap();
        assert!(!late);
        rt.block_on(store.close());
        send(db, "2026-11-28T15:05:00Z", None, Some(&gw.url));
        assert_eq!(gw.hits().len(), 1);
        assert_eq!(gw.delivered_keys(), ["k-crash"]);
    });
}

#[test]
fn the_rules_are_checked_again_at_send_time() {
    on_both(|db| {
        enqueue(db, "k-night", "sms", "+12125550100", SMS_TEXT);
        let gw = Receiver::start(&[]);
        // 22:00 in New York: deferred to 08:00, not an attempt.
        let out = send(db, "2026-11-29T03:00:00Z", None, Some(&gw.url));
        assert!(out.contains("deferred by the rules 1"), "{out}");
        assert_eq!(rows(db), [("k-night".to_owned(), "pending".to_owned(), 0)]);
        let st = ok(&["outbox", "status", "--db", &db.target]);
        assert!(st.contains("next due: 2026-11-29T13:00:00Z"), "{st}");
        assert!(gw.hits().is_empty());
        let out = send(db, "2026-11-29T13:00:00Z", None, Some(&gw.url));
        assert!(out.contains("sent 1"), "{out}");
    });
}

#[test]
fn a_refused_message_is_not_queued() {
    let Some(db) = store(Backend::Sqlite) else {
        return;
    };
    // 03:00 in New York.
    let o = arrears(&[
        "outbox",
        "enqueue",
        "--db",
        &db.target,
        "--borrower",
        "B1",
        "--channel",
        "sms",
        "--target",
        "+12125550100",
        "--text",
        SMS_TEXT,
        "--lender",
        "Acme Lending",
        "--code",
        "K7Q2",
        "--key",
        "k-no",
        "--at",
        "2026-11-28T08:00:00Z",
    ]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("US-HOURS") || text(&o.stdout).contains("refused"),
        "{}",
        text(&o.stderr)
    );
    assert!(rows(&db).is_empty());
}

/// The plan's SMS, e-mail and push actions are queued once however often the plan is
/// queued, every one allowed again over the store.
#[test]
fn a_plan_is_queued_once() {
    let Some(db) = fresh(Backend::Sqlite) else {
        return;
    };
    let p = tempfile::tempdir().unwrap();
    let dir = p.path().to_str().unwrap();
    ok(&["generate", "--loans", "400", "--seed", "17", "--out", dir]);
    ok(&[
        "import",
        "--portfolio",
        dir,
        "--db",
        &db.target,
        "--quiet",
        "--rejects",
        "/dev/null",
    ]);
    let plan = tempfile::tempdir().unwrap();
    let plan_dir = plan.path().to_str().unwrap();
    // Messages are planned only when they can be signed (otherwise ALL-IDENTITY blocks them).
    let keys = plan.path().join("keys");
    let keys = keys.to_str().unwrap();
    ok(&["keys", "init", "--dir", keys]);
    ok(&[
        "plan",
        "--as-of",
        "2026-11-28",
        "--quiet",
        "--db",
        &db.target,
        "--keys",
        keys,
        "--out",
        plan_dir,
    ]);
    let written = std::fs::read_to_string(plan.path().join("actions.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .filter(|l| {
            let c: Vec<&str> = l.split(',').collect();
            matches!(c.get(5), Some(&"sms") | Some(&"email") | Some(&"push"))
        })
        .count();
    assert!(written > 0, "the plan has written actions");
    let first = ok(&[
        "outbox",
        "enqueue",
        "--plan-dir",
        plan_dir,
        "--db",
        &db.target,
    ]);
    assert!(
        first.contains(&format!("queued {written}, already queued 0, refused 0")),
        "{first}"
    );
    let again = ok(&[
        "outbox",
        "enqueue",
        "--plan-dir",
        plan_dir,
        "--db",
        &db.target,
    ]);
    assert!(
        again.contains(&format!("queued 0, already queued {written}, refused 0")),
        "{again}"
    );
    assert_eq!(rows(&db).len(), written);
}
