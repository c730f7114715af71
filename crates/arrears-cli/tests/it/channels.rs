//! The outbox and the channels through the real binary, on SQLite and PostgreSQL: messages
//! are queued with `arrears outbox enqueue` and sent with `arrears outbox send --once` (with
//! a fixed `--now`) to an SMTP sink and a webhook receiver started here, on loopback:
//! plaintext ones (the loopback escape) and TLS ones with a self-signed certificate
//! (STARTTLS, implicit TLS and AUTH for SMTP; HTTPS for the webhook).

use crate::store::{Backend, TestDb, fresh};
use crate::{arrears, portfolio, text};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The webhook's HMAC secret: at least 32 bytes, or `send` refuses it.
const SECRET: &str = "gateway-secret-of-thirty-two-bytes-or-more";
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

pub(crate) fn send(db: &TestDb, now: &str, smtp: Option<&str>, webhook: Option<&str>) -> String {
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
        // The plaintext sink is on loopback: the local-relay escape.
        args.extend(["--smtp", s, "--smtp-tls", "none"]);
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
pub(crate) fn rows(db: &TestDb) -> Vec<(String, String, u32)> {
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
pub(crate) struct Receiver {
    pub(crate) url: String,
    hits: Arc<Mutex<Vec<Hit>>>,
}

impl Receiver {
    pub(crate) fn start(script: &[u16]) -> Receiver {
        Receiver::start_on(script, None)
    }

    /// The same over HTTPS with `cert`: a request arrives only over a handshake the client
    /// accepted.
    fn start_tls(script: &[u16], cert: &TestCert) -> Receiver {
        Receiver::start_on(script, Some(cert.server.clone()))
    }

    fn start_on(script: &[u16], tls: Option<Arc<rustls::ServerConfig>>) -> Receiver {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let url = format!("{scheme}://{}/sms", l.local_addr().unwrap());
        let hits = Arc::new(Mutex::new(Vec::new()));
        let h = hits.clone();
        let script = script.to_vec();
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                let n = h.lock().unwrap().len();
                let status = script.get(n).copied().unwrap_or(200);
                let hit = match &tls {
                    None => http_exchange(s, status),
                    Some(cfg) => {
                        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                        rustls::ServerConnection::new(cfg.clone())
                            .ok()
                            .and_then(|c| http_exchange(rustls::StreamOwned::new(c, s), status))
                    }
                };
                if let Some(hit) = hit {
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
    pub(crate) fn delivered_keys(&self) -> Vec<String> {
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

fn http_exchange<S: Read + Write>(s: S, status: u16) -> Option<Hit> {
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
    let _ = r.get_mut().write_all(
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

// ---------------------------------------------------------------------------------------------
// Transport: TLS, AUTH, the loopback escape and the secrets
// ---------------------------------------------------------------------------------------------

const SMTP_USER: &str = "mailer";
const SMTP_PASSWORD: &str = "correct horse battery staple";

/// A self-signed certificate for `localhost` and `127.0.0.1`: the sinks' identity, and the
/// PEM file that `--smtp-ca-file` / `--webhook-ca-file` trust.
struct TestCert {
    server: Arc<rustls::ServerConfig>,
    ca_file: String,
    _dir: tempfile::TempDir,
}

fn test_cert() -> TestCert {
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    let c =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, c.cert.pem()).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(c.signing_key.serialize_der()));
    // ring, the provider the channels use (deprecated in rustls 0.23.48 for lacking
    // post-quantum key exchange, which these tests do not need).
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![c.cert.der().clone()], key)
        .unwrap();
    TestCert {
        server: Arc::new(server),
        ca_file: ca.to_str().unwrap().to_owned(),
        _dir: dir,
    }
}

/// A file holding `content` and a line break, as `echo` writes it.
fn secret_file(dir: &tempfile::TempDir, name: &str, content: &str) -> String {
    let p = dir.path().join(name);
    std::fs::write(&p, format!("{content}\n")).unwrap();
    p.to_str().unwrap().to_owned()
}

/// `arrears outbox send --once` at `now` with `extra` arguments and only the secrets of
/// `env` in its environment.
fn send_with(db: &TestDb, now: &str, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_arrears"));
    c.args([
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
    ])
    .args(extra)
    .env_remove("ARREARS_WEBHOOK_SECRET")
    .env_remove("ARREARS_SMTP_PASSWORD")
    .env_remove("ARREARS_SMTP_USER");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn send_ok(db: &TestDb, now: &str, extra: &[&str], env: &[(&str, &str)]) -> String {
    let o = send_with(db, now, extra, env);
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    text(&o.stdout)
}

/// The `last_error` of the row `key`.
pub(crate) fn last_error(db: &TestDb, key: &str) -> String {
    ok(&["outbox", "status", "--db", &db.target, "--rows"])
        .lines()
        .map(|l| l.split('\t').map(str::to_owned).collect::<Vec<_>>())
        .find(|c| c.get(1).map(String::as_str) == Some(key))
        .and_then(|c| c.get(6).cloned())
        .unwrap_or_default()
}

/// How the TLS mail sink starts a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SinkTls {
    /// Plaintext greeting, `STARTTLS` offered (and required before AUTH and MAIL).
    StartTls,
    /// TLS from the first byte.
    Implicit,
}

/// One e-mail the TLS sink accepted: over TLS, after AUTH as `user`.
#[derive(Debug, Clone)]
struct TlsMail {
    rcpt: Vec<String>,
    data: String,
    user: String,
    tls: bool,
}

/// An SMTP server on a loopback port that takes mail only over TLS and only after AUTH
/// PLAIN with `SMTP_USER` and `SMTP_PASSWORD` (535 otherwise).
struct TlsSmtpSink {
    addr: String,
    mails: Arc<Mutex<Vec<TlsMail>>>,
    /// The AUTH attempts: (user, accepted).
    auths: Arc<Mutex<Vec<(String, bool)>>>,
}

impl TlsSmtpSink {
    fn start(mode: SinkTls, cert: &TestCert) -> TlsSmtpSink {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let auths = Arc::new(Mutex::new(Vec::new()));
        let (m, a, cfg) = (mails.clone(), auths.clone(), cert.server.clone());
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                let (m, a, cfg) = (m.clone(), a.clone(), cfg.clone());
                std::thread::spawn(move || tls_smtp_session(s, mode, cfg, &m, &a));
            }
        });
        TlsSmtpSink { addr, mails, auths }
    }

    fn mails(&self) -> Vec<TlsMail> {
        self.mails.lock().unwrap().clone()
    }

    fn auths(&self) -> Vec<(String, bool)> {
        self.auths.lock().unwrap().clone()
    }
}

/// The sink's connection: plaintext until STARTTLS, or TLS.
enum Wire {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>),
}

impl Wire {
    fn tls(cfg: &Arc<rustls::ServerConfig>, s: TcpStream) -> Option<Wire> {
        let c = rustls::ServerConnection::new(cfg.clone()).ok()?;
        Some(Wire::Tls(Box::new(rustls::StreamOwned::new(c, s))))
    }

    fn say(&mut self, t: &str) -> bool {
        let b = format!("{t}\r\n");
        match self {
            Wire::Plain(s) => s.write_all(b.as_bytes()).and_then(|()| s.flush()).is_ok(),
            Wire::Tls(s) => s.write_all(b.as_bytes()).and_then(|()| s.flush()).is_ok(),
        }
    }

    /// One line without its line break; `None` at the end or on an error (a refused
    /// handshake). Byte by byte, so nothing past STARTTLS is read in plaintext.
    fn line(&mut self) -> Option<String> {
        let mut out = Vec::new();
        let mut b = [0u8; 1];
        loop {
            let n = match self {
                Wire::Plain(s) => s.read(&mut b).ok()?,
                Wire::Tls(s) => s.read(&mut b).ok()?,
            };
            if n == 0 {
                return None;
            }
            if b[0] == b'\n' {
                if out.last() == Some(&b'\r') {
                    out.pop();
                }
                return String::from_utf8(out).ok();
            }
            out.push(b[0]);
        }
    }
}

fn tls_smtp_session(
    s: TcpStream,
    mode: SinkTls,
    cfg: Arc<rustls::ServerConfig>,
    mails: &Mutex<Vec<TlsMail>>,
    auths: &Mutex<Vec<(String, bool)>>,
) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let mut w = match mode {
        SinkTls::StartTls => Wire::Plain(s),
        SinkTls::Implicit => match Wire::tls(&cfg, s) {
            Some(w) => w,
            None => return,
        },
    };
    // Over implicit TLS this write drives the handshake: a client that refuses the
    // certificate ends the session here.
    if !w.say("220 tls-sink ESMTP") {
        return;
    }
    let mut user: Option<String> = None;
    let mut rcpt = Vec::new();
    while let Some(cmd) = w.line() {
        let up = cmd.to_ascii_uppercase();
        let tls = matches!(w, Wire::Tls(_));
        if up.starts_with("EHLO") || up.starts_with("HELO") {
            w.say(if tls {
                "250-tls-sink\r\n250 AUTH PLAIN"
            } else {
                "250-tls-sink\r\n250 STARTTLS"
            });
        } else if up == "STARTTLS" && !tls {
            w.say("220 go ahead");
            let Wire::Plain(s) = w else { return };
            w = match Wire::tls(&cfg, s) {
                Some(w) => w,
                None => return,
            };
            user = None;
        } else if let Some(resp) = up.strip_prefix("AUTH PLAIN ") {
            if !tls {
                w.say("538 5.7.11 encryption required");
                continue;
            }
            let decoded = data_encoding::BASE64
                .decode(cmd[cmd.len() - resp.len()..].trim().as_bytes())
                .unwrap_or_default();
            let parts: Vec<&[u8]> = decoded.split(|b| *b == 0).collect();
            let (u, p) = match parts.as_slice() {
                [_, u, p] => (String::from_utf8_lossy(u).into_owned(), *p),
                _ => (String::new(), &b""[..]),
            };
            let good = u == SMTP_USER && p == SMTP_PASSWORD.as_bytes();
            auths.lock().unwrap().push((u.clone(), good));
            if good {
                user = Some(u);
                w.say("235 2.7.0 authenticated");
            } else {
                w.say("535 5.7.8 bad credentials");
            }
        } else if up.starts_with("MAIL FROM:") {
            if !tls {
                w.say("530 5.7.0 issue STARTTLS first");
            } else if user.is_none() {
                w.say("530 5.7.0 authentication required");
            } else {
                rcpt.clear();
                w.say("250 ok");
            }
        } else if up.starts_with("RCPT TO:") {
            rcpt.push(cmd[8..].trim().to_owned());
            w.say("250 ok");
        } else if up == "DATA" {
            w.say("354 go on");
            let mut data = String::new();
            loop {
                let Some(l) = w.line() else { return };
                if l == "." {
                    break;
                }
                data.push_str(l.strip_prefix('.').unwrap_or(&l));
                data.push('\n');
            }
            mails.lock().unwrap().push(TlsMail {
                rcpt: rcpt.clone(),
                data,
                user: user.clone().unwrap_or_default(),
                tls,
            });
            w.say("250 queued");
        } else if up == "QUIT" {
            w.say("221 bye");
            return;
        } else {
            w.say("250 ok");
        }
    }
}

#[test]
fn email_goes_through_starttls_and_implicit_tls_after_auth() {
    let Some(db) = store(Backend::Sqlite) else {
        return;
    };
    let cert = test_cert();
    let dir = tempfile::tempdir().unwrap();

    // STARTTLS (the submission port), the password from the environment.
    enqueue(&db, "k-starttls", "email", "m@example.com", MAIL_TEXT);
    let sink = TlsSmtpSink::start(SinkTls::StartTls, &cert);
    let out = send_ok(
        &db,
        "2026-11-28T15:01:00Z",
        &[
            "--smtp",
            &sink.addr,
            "--smtp-tls",
            "starttls",
            "--smtp-user",
            SMTP_USER,
            "--smtp-ca-file",
            &cert.ca_file,
        ],
        &[("ARREARS_SMTP_PASSWORD", SMTP_PASSWORD)],
    );
    assert!(out.contains("sent 1,"), "{out}");
    let mails = sink.mails();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert!(mails[0].tls, "the message went over TLS");
    assert_eq!(mails[0].user, SMTP_USER);
    assert_eq!(mails[0].rcpt, ["<m@example.com>"]);
    assert!(
        mails[0].data.contains("Idempotency-Key: k-starttls"),
        "{mails:?}"
    );
    assert_eq!(sink.auths(), [(SMTP_USER.to_owned(), true)]);

    // Implicit TLS (SMTPS), the password from a file (its line break dropped), the user
    // from the environment.
    enqueue(&db, "k-smtps", "email", "m@example.com", MAIL_TEXT);
    let smtps = TlsSmtpSink::start(SinkTls::Implicit, &cert);
    let pw = secret_file(&dir, "smtp-password", SMTP_PASSWORD);
    let out = send_ok(
        &db,
        "2026-11-28T15:02:00Z",
        &[
            "--smtp",
            &smtps.addr,
            "--smtp-tls",
            "tls",
            "--smtp-password-file",
            &pw,
            "--smtp-ca-file",
            &cert.ca_file,
        ],
        &[("ARREARS_SMTP_USER", SMTP_USER)],
    );
    assert!(out.contains("sent 1,"), "{out}");
    let mails = smtps.mails();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert!(mails[0].tls && mails[0].user == SMTP_USER, "{mails:?}");
    assert!(
        mails[0].data.contains("Idempotency-Key: k-smtps"),
        "{mails:?}"
    );
    assert!(
        rows(&db).iter().all(|r| r.1 == "sent" && r.2 == 1),
        "{:?}",
        rows(&db)
    );
}

/// A server without STARTTLS, a certificate no configured root vouches for, and a refused
/// password: each attempt fails before the message is handed over, the row is retried
/// (not sent, not dead), and once the configuration is right it goes out.
#[test]
fn smtp_that_is_not_secured_or_not_authenticated_is_retried_and_never_sent_in_plaintext() {
    let Some(db) = store(Backend::Sqlite) else {
        return;
    };
    let cert = test_cert();
    enqueue(&db, "k-sec", "email", "m@example.com", MAIL_TEXT);
    let failed = |n: u32| {
        assert_eq!(rows(&db), [("k-sec".to_owned(), "failed".to_owned(), n)]);
    };

    // STARTTLS is required: a server that does not offer it gets nothing.
    let plain = SmtpSink::start(None);
    let out = send_ok(
        &db,
        "2026-11-28T15:01:00Z",
        &["--smtp", &plain.addr, "--smtp-tls", "starttls"],
        &[],
    );
    assert!(out.contains("sent 0, retry later 1"), "{out}");
    assert!(plain.mails().is_empty(), "nothing in plaintext");
    failed(1);
    assert!(
        last_error(&db, "k-sec").contains("STARTTLS"),
        "{}",
        last_error(&db, "k-sec")
    );

    // The sink's self-signed certificate without --smtp-ca-file: not trusted.
    let smtps = TlsSmtpSink::start(SinkTls::Implicit, &cert);
    let auth = ["--smtp-user", SMTP_USER];
    let right = [("ARREARS_SMTP_PASSWORD", SMTP_PASSWORD)];
    let out = send_ok(
        &db,
        "2026-11-28T15:01:10Z",
        &[&["--smtp", &smtps.addr, "--smtp-tls", "tls"][..], &auth].concat(),
        &right,
    );
    assert!(out.contains("sent 0, retry later 1"), "{out}");
    failed(2);
    let e = last_error(&db, "k-sec");
    assert!(e.to_lowercase().contains("certificate"), "{e}");
    assert!(
        smtps.auths().is_empty(),
        "no password over an untrusted connection"
    );

    // Trusted, but the wrong password: 535 on AUTH, nothing sent.
    let trusted = [
        "--smtp",
        &smtps.addr,
        "--smtp-tls",
        "tls",
        "--smtp-ca-file",
        &cert.ca_file,
    ];
    let out = send_ok(
        &db,
        "2026-11-28T15:01:30Z",
        &[&trusted[..], &auth].concat(),
        &[("ARREARS_SMTP_PASSWORD", "wrong password")],
    );
    assert!(out.contains("sent 0, retry later 1"), "{out}");
    failed(3);
    let e = last_error(&db, "k-sec");
    assert!(e.contains("AUTH") && e.contains("535"), "{e}");
    assert_eq!(smtps.auths(), [(SMTP_USER.to_owned(), false)]);
    assert!(smtps.mails().is_empty());

    // Fixed: the same row goes out.
    let out = send_ok(
        &db,
        "2026-11-28T15:02:10Z",
        &[&trusted[..], &auth].concat(),
        &right,
    );
    assert!(out.contains("sent 1,"), "{out}");
    assert_eq!(rows(&db), [("k-sec".to_owned(), "sent".to_owned(), 4)]);
    assert_eq!(smtps.mails().len(), 1);
}

#[test]
fn a_webhook_over_https_is_signed_and_an_untrusted_certificate_gets_nothing() {
    let Some(db) = store(Backend::Sqlite) else {
        return;
    };
    let cert = test_cert();
    let dir = tempfile::tempdir().unwrap();
    let secret = secret_file(&dir, "webhook-secret", SECRET);
    enqueue(&db, "k-https", "sms", "+12125550100", SMS_TEXT);
    let gw = Receiver::start_tls(&[], &cert);
    assert!(gw.url.starts_with("https://"), "{}", gw.url);

    // Without --webhook-ca-file the self-signed certificate is refused: retried, not sent.
    let out = send_ok(
        &db,
        "2026-11-28T15:01:00Z",
        &["--webhook", &gw.url, "--webhook-secret-file", &secret],
        &[],
    );
    assert!(out.contains("sent 0, retry later 1"), "{out}");
    assert_eq!(rows(&db), [("k-https".to_owned(), "failed".to_owned(), 1)]);
    let e = last_error(&db, "k-https");
    assert!(e.to_lowercase().contains("certificate"), "{e}");
    assert!(gw.hits().is_empty(), "{:?}", gw.hits());

    // Trusted: delivered once, signed under the file's secret (without its line break).
    let out = send_ok(
        &db,
        "2026-11-28T15:01:10Z",
        &[
            "--webhook",
            &gw.url,
            "--webhook-secret-file",
            &secret,
            "--webhook-ca-file",
            &cert.ca_file,
        ],
        &[],
    );
    assert!(out.contains("sent 1,"), "{out}");
    let hits = gw.hits();
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].key.as_deref(), Some("k-https"));
    assert_eq!(
        hits[0].signature.as_deref(),
        Some(arrears_channels::signature(SECRET.as_bytes(), &hits[0].body).as_str())
    );
    let v: serde_json::Value = serde_json::from_slice(&hits[0].body).unwrap();
    assert_eq!(v["text"], SMS_TEXT);
    assert_eq!(rows(&db), [("k-https".to_owned(), "sent".to_owned(), 2)]);
}

/// Plaintext beyond loopback, a missing, empty or short webhook secret, a secret from two
/// places, a password without a user: refused before anything is claimed, with a message
/// naming the fix; and there is no flag that would put a secret on the command line.
#[test]
fn plaintext_off_loopback_and_weak_or_missing_secrets_are_refused_before_any_claim() {
    let Some(db) = store(Backend::Sqlite) else {
        return;
    };
    enqueue(&db, "k-mail", "email", "m@example.com", MAIL_TEXT);
    enqueue(&db, "k-sms", "sms", "+12125550100", SMS_TEXT);
    let dir = tempfile::tempdir().unwrap();
    let good = secret_file(&dir, "good", SECRET);
    let short = secret_file(&dir, "short", &SECRET[..31]);
    // (arguments, environment, what the error says)
    type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec!["--smtp", "mail.example.com:25", "--smtp-tls", "none"],
            vec![],
            "plaintext to \"mail.example.com\" is refused",
        ),
        (
            vec!["--smtp", "10.0.0.1:25", "--smtp-tls", "none"],
            vec![],
            "only a loopback host",
        ),
        (
            vec!["--webhook", "http://gw.example/sms"],
            vec![("ARREARS_WEBHOOK_SECRET", SECRET)],
            "use an https:// URL",
        ),
        (
            vec!["--webhook", "https://gw.example/sms"],
            vec![],
            "needs its HMAC secret",
        ),
        (
            vec!["--webhook", "https://gw.example/sms"],
            vec![("ARREARS_WEBHOOK_SECRET", "")],
            "needs its HMAC secret",
        ),
        (
            vec!["--webhook", "https://gw.example/sms"],
            vec![("ARREARS_WEBHOOK_SECRET", &SECRET[..31])],
            "is 31 bytes; at least 32",
        ),
        (
            vec![
                "--webhook",
                "https://gw.example/sms",
                "--webhook-secret-file",
                &short,
            ],
            vec![],
            "is 31 bytes; at least 32",
        ),
        (
            vec![
                "--webhook",
                "https://gw.example/sms",
                "--webhook-secret-file",
                &good,
            ],
            vec![("ARREARS_WEBHOOK_SECRET", SECRET)],
            "keep one",
        ),
        (
            vec![
                "--webhook",
                "https://gw.example/sms",
                "--webhook-secret",
                SECRET,
            ],
            vec![],
            "unexpected argument '--webhook-secret'",
        ),
        (
            vec!["--smtp", "127.0.0.1:25", "--smtp-password", SMTP_PASSWORD],
            vec![],
            "unexpected argument '--smtp-password'",
        ),
        (
            vec![
                "--smtp",
                "127.0.0.1:25",
                "--smtp-tls",
                "none",
                "--smtp-user",
                "u",
            ],
            vec![],
            "needs a password",
        ),
        (
            vec!["--smtp", "127.0.0.1:25", "--smtp-tls", "none"],
            vec![("ARREARS_SMTP_PASSWORD", SMTP_PASSWORD)],
            "--smtp-user is not",
        ),
    ];
    for (args, env, want) in &cases {
        let o = send_with(&db, "2026-11-28T15:01:00Z", args, env);
        let err = text(&o.stderr);
        assert!(!o.status.success(), "{args:?} {env:?} was accepted");
        assert!(err.contains(want), "{args:?}: wanted {want:?} in {err}");
        assert!(
            !err.contains(SECRET) && !err.contains(SMTP_PASSWORD),
            "{err}"
        );
    }
    assert!(
        rows(&db).iter().all(|r| r.1 == "pending" && r.2 == 0),
        "nothing was claimed: {:?}",
        rows(&db)
    );
}

/// A portal sign-in code and a staff-issued portal link go through the outbox like any
/// message, but as what they are: sent at 03:00 in the borrower's zone (the hours rule is for
/// collection contacts, and the borrower asked), to the borrower's own phone and e-mail with
/// the fixed text, not recorded as contacts, and their codes not kept once sent.
#[test]
fn portal_sign_in_messages_are_sent_to_the_borrower_and_not_kept() {
    on_both(|db| {
        // 03:00 in New York: a collection SMS would be refused (US-HOURS).
        let night: jiff::Timestamp = "2026-11-28T08:00:00Z".parse().unwrap();
        let (rt, store) = crate::store::open_store(&db.target);
        let asked = rt
            .block_on(arrears_app::access::request_sign_in_code(
                &store,
                "212 555 0100",
                "482913",
                &"ab".repeat(32),
                "Acme Lending",
                night,
            ))
            .unwrap();
        assert!(
            matches!(asked, arrears_app::access::SignInRequest::Queued { .. }),
            "{asked:?}"
        );
        // A staff link through `arrears portal link` (no --print): queued, never printed.
        let out = ok(&[
            "portal",
            "link",
            "--borrower",
            "B1",
            "--base-url",
            "https://collect.example.com",
            "--lender",
            "Acme Lending",
            "--db",
            &db.target,
        ]);
        assert!(out.contains("queued in the outbox"), "{out}");
        assert!(out.contains("m•••@example.com"), "{out}");
        assert!(!out.contains("code="), "{out}");
        let before = contacts(db);

        let sink = SmtpSink::start(None);
        let gw = Receiver::start(&[]);
        let out = send(db, "2026-11-28T08:01:00Z", Some(&sink.addr), Some(&gw.url));
        assert!(out.contains("sent 1,"), "the code goes at night: {out}");
        let hits = gw.hits();
        assert_eq!(hits.len(), 1, "{hits:?}");
        let v: serde_json::Value = serde_json::from_slice(&hits[0].body).unwrap();
        assert_eq!(v["to"], "+12125550100");
        assert_eq!(v["kind"], "portal_sign_in");
        let sms = v["text"].as_str().unwrap();
        assert!(
            sms.contains("482913") && sms.starts_with("Acme Lending:"),
            "{sms}"
        );
        assert_eq!(
            hits[0].signature.as_deref(),
            Some(arrears_channels::signature(SECRET.as_bytes(), &hits[0].body).as_str())
        );

        // The link was queued on the wall clock: send after it.
        #[allow(clippy::disallowed_methods)]
        let later = jiff::Timestamp::now()
            .saturating_add(jiff::SignedDuration::from_mins(1))
            .unwrap()
            .to_string();
        let out = send(db, &later, Some(&sink.addr), Some(&gw.url));
        assert!(out.contains("sent 1,"), "{out}");
        let mails = sink.mails();
        assert_eq!(mails.len(), 1, "{mails:?}");
        assert_eq!(mails[0].rcpt, ["<m@example.com>"]);
        // Undo quoted-printable: soft line breaks and the `=` of `code=`.
        let data = mails[0]
            .data
            .replace("=\r\n", "")
            .replace("=3D", "=")
            .replace("\r\n", "\n");
        assert!(
            data.contains("https://collect.example.com/portal/enter?code="),
            "{data}"
        );
        assert!(!data.contains("X-Verification-Code"), "{data}");

        // Not contacts, and the codes are gone from the outbox.
        assert_eq!(contacts(db), before, "sign-in messages are not contacts");
        let rows = rt.block_on(store.outbox_rows()).unwrap();
        assert_eq!(rows.len(), 2);
        for r in &rows {
            assert_eq!(r.state, arrears_store::OutboxState::Sent, "{r:?}");
            assert_eq!(r.message.body, arrears_store::WITHHELD);
            assert_eq!(r.message.verification_code, "");
        }
    });
}
