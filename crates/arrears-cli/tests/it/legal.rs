//! The court path (issue 15 item 1, docs/legal.md) through the binary, on SQLite and
//! PostgreSQL:
//! - `arrears plan --db` records the plan's `legal_review` actions as referral proposals with
//!   the amount claimed from the latest snapshot;
//! - a supervisor (signed in with their password) approves or rejects with a reason; the
//!   approval runs the compliance check again, so US-TIMEBAR refuses a debt that became
//!   time-barred after it was proposed; an agent cannot decide;
//! - an approved referral is filed as a case; judgment, enforcement, measures, costs and
//!   closing with an outcome; every illegal step is refused with a clear sentence;
//! - the legal letters, data-driven in en and zh-CN: each request names the letter, the loan
//!   and whether it may go; a refusal names ALL-CONTENT and queues nothing; what is queued is
//!   sent by the dispatcher only while its record still matches (refused at send time with
//!   ALL-CONTENT otherwise).

use crate::channels::{Receiver, last_error, rows, send};
use crate::server::add_user;
use crate::store::{Backend, TestDb, fresh};
use crate::{arrears, portfolio, text};
use std::io::Write;
use std::process::{Command, Stdio};

fn ok(args: &[&str]) -> String {
    let o = arrears(args);
    assert!(
        o.status.success(),
        "arrears {}\nstdout: {}\nstderr: {}",
        args.join(" "),
        text(&o.stdout),
        text(&o.stderr)
    );
    text(&o.stdout)
}

// B1 (US-NY, English) L1 100000 and B2 (US-NY, Chinese) L2 200000 fell due on 2026-07-01;
// B3 (US-CA) L3 50000 fell due on 2020-01-01. The lender's limitation periods: New York 30
// years, California 3 years, so L3 is time-barred from 2023-01-01 and L1, L2 are not.
const BORROWERS: &str = "borrower_id,name,phone,email,timezone,jurisdiction,language
B1,Mary,+12125550100,,America/New_York,US-NY,en
B2,Li,+12125550101,,America/New_York,US-NY,zh-CN
B3,Tom,+13105550102,,America/Los_Angeles,US-CA,en
";
const LOANS: &str = "loan_id,borrower_id,product,currency,principal_minor,annual_rate_bps,penalty_rate_bps,disbursed_on
L1,B1,cash,USD,100000,0,0,2026-01-01
L2,B2,cash,USD,200000,0,0,2026-01-01
L3,B3,cash,USD,50000,0,0,2019-06-01
";
const INSTALLMENTS: &str = "loan_id,seq,due_date,principal_minor,interest_minor,fee_minor
L1,1,2026-07-01,100000,0,0
L2,1,2026-07-01,200000,0,0
L3,1,2020-01-01,50000,0,0
";
const NOTICES: &str = "notice_id,borrower_id,loan_id,kind,sent_at,channel
N1,B1,L1,validation,2026-07-05T15:00:00Z,letter
N2,B2,L2,validation,2026-07-05T15:00:00Z,letter
N3,B3,L3,validation,2020-01-05T15:00:00Z,letter
";
const POLICY: &str =
    "[policy]\nname = \"legal-tests\"\n[limitation_years]\n\"US-NY\" = 30\n\"US-CA\" = 3\n";

/// A store with the portfolio, the lender's policy, a supervisor `sup` and an agent `agent`.
fn setup(db: &TestDb) -> tempfile::TempDir {
    let p = portfolio(&[
        ("borrowers.csv", BORROWERS),
        ("loans.csv", LOANS),
        ("installments.csv", INSTALLMENTS),
        (
            "payments.csv",
            "payment_id,loan_id,received_at,amount_minor\n",
        ),
        ("notices.csv", NOTICES),
        ("policy.toml", POLICY),
    ]);
    let dir = p.path().to_str().unwrap().to_owned();
    ok(&[
        "import",
        "--portfolio",
        &dir,
        "--db",
        &db.target,
        "--quiet",
        "--rejects",
        "/dev/null",
    ]);
    ok(&[
        "policy",
        "set",
        &format!("{dir}/policy.toml"),
        "--effective-from",
        "2019-01-01",
        "--db",
        &db.target,
    ]);
    for (u, role) in [("sup", "supervisor"), ("agent", "agent")] {
        let o = add_user(&db.target, u, role, "correct horse battery staple");
        assert!(o.status.success(), "{}", text(&o.stderr));
    }
    ok(&["keys", "init", "--dir", &format!("{dir}/keys")]);
    p
}

/// The daily run of `on`, then the plans of the day before and of `on` with the lender's key
/// and one audit log: the strategy's first due rule for a late loan is its final notice
/// letter, planned (and logged) the day before, so `on`'s plan comes to the legal review.
fn run_and_plan(db: &TestDb, p: &tempfile::TempDir, on: &str) -> String {
    ok(&["run", "--as-of", on, "--db", &db.target, "--quiet"]);
    let day: jiff::civil::Date = on.parse().unwrap();
    let before = day.yesterday().unwrap().to_string();
    let dir = p.path().to_str().unwrap();
    let plan = |d: &str| {
        ok(&[
            "plan",
            "--as-of",
            d,
            "--db",
            &db.target,
            "--keys",
            &format!("{dir}/keys"),
            "--log",
            &format!("{dir}/audit.jsonl"),
            "--out",
            &format!("{dir}/plan-{d}"),
        ])
    };
    plan(&before);
    plan(on)
}

/// `arrears legal approve|reject REF --reason R --user U --password-stdin`.
fn decide(
    db: &TestDb,
    verb: &str,
    referral: &str,
    reason: &str,
    user: &str,
    password: &str,
) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_arrears"))
        .args([
            "legal",
            verb,
            referral,
            "--reason",
            reason,
            "--user",
            user,
            "--password-stdin",
            "--db",
            &db.target,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = c
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes());
    c.wait_with_output().unwrap()
}

const PASSWORD: &str = "correct horse battery staple";

/// The referrals `legal referrals --status all` lists: id → (loan, amount, status, by, reason).
fn referrals(db: &TestDb) -> Vec<Vec<String>> {
    ok(&["legal", "referrals", "--status", "all", "--db", &db.target])
        .lines()
        .skip(1)
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect()
}

/// Asks for a letter; Ok(the queued line) or Err(the refusal).
fn letter(db: &TestDb, p: &tempfile::TempDir, loan: &str, kind: &str) -> Result<String, String> {
    let dir = p.path().to_str().unwrap();
    let o = arrears(&[
        "legal",
        "letter",
        "--loan",
        loan,
        "--kind",
        kind,
        "--keys",
        &format!("{dir}/keys"),
        "--audit-log",
        &format!("{dir}/audit.jsonl"),
        "--reply-by",
        "2026-12-31",
        // 10:00 in New York.
        "--now",
        "2026-12-07T15:00:00Z",
        "--db",
        &db.target,
    ]);
    match o.status.code() {
        Some(0) => Ok(text(&o.stdout)),
        Some(2) => Err(text(&o.stderr)),
        _ => panic!("legal letter: {}{}", text(&o.stdout), text(&o.stderr)),
    }
}

/// A letter request and what must come of it: `Some(subject)` queued bound to that record,
/// `None` refused under ALL-CONTENT.
type LetterCase = (&'static str, &'static str, Option<&'static str>);

fn check_letters(db: &TestDb, p: &tempfile::TempDir, when: &str, cases: &[LetterCase]) {
    for (loan, kind, want) in cases {
        let got = letter(db, p, loan, kind);
        match (want, &got) {
            (Some(subject), Ok(out)) => assert!(
                out.contains(&format!("bound to {subject}")),
                "{when}: {kind} of {loan}: {out}"
            ),
            (None, Err(e)) => assert!(
                e.contains("ALL-CONTENT"),
                "{when}: {kind} of {loan} must be refused under ALL-CONTENT: {e}"
            ),
            _ => panic!("{when}: {kind} of {loan}: wanted {want:?}, got {got:?}"),
        }
    }
}

/// The state of the outbox row of a key.
fn outbox_row(db: &TestDb, key: &str) -> Option<String> {
    rows(db)
        .into_iter()
        .find(|(k, _, _)| k == key)
        .map(|(_, state, _)| state)
}

fn court_path(db: &TestDb) {
    let p = setup(db);
    let t = &db.target;
    // 2020: L3 is late and not yet time-barred: proposed, claiming the snapshot's 50000.
    let out = run_and_plan(db, &p, "2020-06-01");
    assert!(out.contains("legal referrals: 1 proposed"), "{out}");
    // 2026: L1 and L2 are proposed; L3 is time-barred now, so the plan itself blocks it.
    let out = run_and_plan(db, &p, "2026-12-01");
    assert!(out.contains("legal referrals: 2 proposed"), "{out}");
    // The same day's plan again records nothing twice.
    let out = run_and_plan(db, &p, "2026-12-01");
    assert!(!out.contains("proposed for"), "{out}");
    let rs = referrals(db);
    let got: Vec<(&str, &str, &str, &str)> = rs
        .iter()
        .map(|r| (r[0].as_str(), r[1].as_str(), r[4].as_str(), r[6].as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("LR-2020-06-01-L3", "L3", "50000", "proposed"),
            ("LR-2026-12-01-L1", "L1", "100000", "proposed"),
            ("LR-2026-12-01-L2", "L2", "200000", "proposed"),
        ]
    );

    // US-TIMEBAR at approval: proposed in 2020, time-barred since 2023, refused now.
    let o = decide(db, "approve", "LR-2020-06-01-L3", "sue", "sup", PASSWORD);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stdout));
    assert!(
        text(&o.stderr).contains("US-TIMEBAR"),
        "{}",
        text(&o.stderr)
    );
    // Nobody but a signed-in supervisor decides; a reason is required.
    let o = decide(db, "approve", "LR-2026-12-01-L1", "sue", "agent", PASSWORD);
    assert!(
        text(&o.stderr).contains("only a supervisor"),
        "{}",
        text(&o.stderr)
    );
    let o = decide(db, "approve", "LR-2026-12-01-L1", "sue", "sup", "wrong");
    assert!(
        text(&o.stderr).contains("password is wrong"),
        "{}",
        text(&o.stderr)
    );
    let o = decide(db, "reject", "LR-2026-12-01-L1", "  ", "sup", PASSWORD);
    assert!(text(&o.stderr).contains("reason"), "{}", text(&o.stderr));
    assert!(referrals(db).iter().all(|r| r[6] == "proposed"));

    let o = decide(
        db,
        "reject",
        "LR-2020-06-01-L3",
        "time-barred",
        "sup",
        PASSWORD,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = decide(
        db,
        "approve",
        "LR-2026-12-01-L1",
        "no answer to 5 letters",
        "sup",
        PASSWORD,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    // The same decision again changes nothing; another one is refused.
    let o = decide(
        db,
        "approve",
        "LR-2026-12-01-L1",
        "no answer to 5 letters",
        "sup",
        PASSWORD,
    );
    assert!(
        text(&o.stdout).contains("recorded before"),
        "{}",
        text(&o.stdout)
    );
    let o = decide(
        db,
        "reject",
        "LR-2026-12-01-L1",
        "changed my mind",
        "sup",
        PASSWORD,
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stdout));
    let rs = referrals(db);
    let by_id = |id: &str| rs.iter().find(|r| r[0] == id).unwrap().clone();
    assert_eq!(
        by_id("LR-2020-06-01-L3")[6..9],
        ["rejected", "sup", "time-barred"]
    );
    assert_eq!(
        by_id("LR-2026-12-01-L1")[6..9],
        ["approved", "sup", "no answer to 5 letters"]
    );

    // Letters before anything is filed: a letter before action only for the approved
    // referral; no notice of suit without a case.
    check_letters(
        db,
        &p,
        "approved, not filed",
        &[
            ("L1", "letter_before_action", Some("LR-2026-12-01-L1")),
            ("L1", "notice_of_suit", None),
            ("L2", "letter_before_action", None),
            ("L2", "notice_of_suit", None),
            ("L3", "letter_before_action", None),
            ("L3", "notice_of_suit", None),
        ],
    );
    let lba_key = "legal_letter:letter_before_action:LR-2026-12-01-L1";
    assert_eq!(outbox_row(db, lba_key).as_deref(), Some("pending"));

    // Filing: only an approved referral, once.
    let file = |referral: &str, case: &str| {
        arrears(&[
            "legal",
            "file",
            "--referral",
            referral,
            "--case",
            case,
            "--court",
            "New York County Civil Court",
            "--case-number",
            "CV-2026-001",
            "--by",
            "sup",
            "--db",
            t,
        ])
    };
    let o = file("LR-2026-12-01-L2", "C2");
    assert!(
        text(&o.stderr).contains("only an approved referral"),
        "{}",
        text(&o.stderr)
    );
    let o = file("LR-2026-12-01-L1", "C1");
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = file("LR-2026-12-01-L1", "C1b");
    assert!(
        text(&o.stderr).contains("filed already"),
        "{}",
        text(&o.stderr)
    );

    check_letters(
        db,
        &p,
        "filed",
        &[
            ("L1", "letter_before_action", None),
            ("L1", "notice_of_suit", Some("C1")),
        ],
    );
    // The dispatcher: the letter before action queued before the filing no longer matches
    // and is refused at send time; the notice of suit goes.
    let gw = Receiver::start(&[]);
    let out = send(db, "2026-12-07T15:30:00Z", None, Some(&gw.url));
    assert!(out.contains("sent 1"), "{out}");
    assert_eq!(outbox_row(db, lba_key).as_deref(), Some("blocked"));
    let why = last_error(db, lba_key);
    assert!(why.contains("ALL-CONTENT"), "{why}");
    assert_eq!(
        gw.delivered_keys(),
        ["legal_letter:notice_of_suit:C1".to_owned()]
    );

    // The case's life: forward only, measures at the right stage, costs, an outcome.
    let step = |args: &[&str]| {
        let mut a = vec!["legal"];
        a.extend_from_slice(args);
        a.extend_from_slice(&["--db", t]);
        arrears(&a)
    };
    let must = |args: &[&str]| {
        let o = step(args);
        assert!(o.status.success(), "{args:?}: {}", text(&o.stderr));
    };
    let must_not = |args: &[&str], why: &str| {
        let o = step(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o.stdout));
        assert!(
            text(&o.stderr).contains(why),
            "{args:?}: {}",
            text(&o.stderr)
        );
    };
    must_not(
        &[
            "measure",
            "--case",
            "C1",
            "--measure",
            "M0",
            "--kind",
            "wage_garnishment",
            "--on",
            "2026-12-10",
            "--authority",
            "Sheriff",
        ],
        "only in enforcement",
    );
    must(&[
        "measure",
        "--case",
        "C1",
        "--measure",
        "M1",
        "--kind",
        "account_freeze",
        "--on",
        "2026-12-10",
        "--authority",
        "NY County Court",
        "--status",
        "in_force",
    ]);
    must(&[
        "judgment",
        "--case",
        "C1",
        "--amount-awarded-minor",
        "90000",
        "--on",
        "2026-12-20",
    ]);
    // A step is entered once: the same step with other values changes nothing.
    must_not(
        &[
            "judgment",
            "--case",
            "C1",
            "--amount-awarded-minor",
            "1",
            "--on",
            "2026-12-21",
        ],
        "recorded before with other values",
    );
    must(&["enforcement", "--case", "C1"]);
    must(&[
        "measure",
        "--case",
        "C1",
        "--measure",
        "M2",
        "--kind",
        "wage_garnishment",
        "--on",
        "2027-01-05",
        "--authority",
        "NYC Marshal",
    ]);
    must(&[
        "measure-status",
        "--measure",
        "M2",
        "--status",
        "in_force",
        "--on",
        "2027-01-10",
    ]);
    must_not(
        &[
            "measure-status",
            "--measure",
            "M2",
            "--status",
            "applied",
            "--on",
            "2027-01-11",
        ],
        "cannot become applied",
    );
    must(&[
        "measure-status",
        "--measure",
        "M1",
        "--status",
        "lifted",
        "--on",
        "2027-02-01",
    ]);
    must_not(
        &[
            "measure",
            "--case",
            "C1",
            "--measure",
            "M3",
            "--kind",
            "jail",
            "--on",
            "2027-01-05",
            "--authority",
            "x",
        ],
        "is not one of",
    );
    must(&[
        "cost",
        "--case",
        "C1",
        "--cost",
        "K1",
        "--kind",
        "court_fee",
        "--amount-minor",
        "4500",
        "--on",
        "2026-12-07",
    ]);
    must(&[
        "cost",
        "--case",
        "C1",
        "--cost",
        "K2",
        "--kind",
        "lawyer_fee",
        "--amount-minor",
        "20000",
        "--on",
        "2027-01-05",
    ]);
    must_not(
        &[
            "cost",
            "--case",
            "C1",
            "--cost",
            "K3",
            "--kind",
            "court_fee",
            "--amount-minor",
            "0",
            "--on",
            "2027-01-05",
        ],
        "not more than zero",
    );
    must_not(
        &["close", "--case", "C1", "--outcome", "won"],
        "is not one of",
    );
    must(&[
        "close",
        "--case",
        "C1",
        "--outcome",
        "satisfied",
        "--note",
        "paid by garnishment",
    ]);
    let show = ok(&["legal", "show", "--case", "C1", "--db", t]);
    for want in [
        "closed at New York County Civil Court, case number CV-2026-001",
        "claimed 100000 USD; awarded 90000; judgment on 2026-12-20; outcome satisfied; referral LR-2026-12-01-L1",
        "measure M1 account_freeze ordered 2026-12-10 by NY County Court: lifted",
        "measure M2 wage_garnishment ordered 2027-01-05 by NYC Marshal: in_force",
        "cost K1 court_fee 4500 on 2026-12-07",
        "costs in all: 24500 USD",
    ] {
        assert!(show.contains(want), "{want:?} not in\n{show}");
    }
    check_letters(
        db,
        &p,
        "closed",
        &[
            ("L1", "notice_of_suit", None),
            ("L1", "letter_before_action", None),
        ],
    );

    // In Chinese: B2's referral approved, letter before action queued in zh-CN; the case
    // filed, the notice of suit queued; the case withdrawn before the dispatcher runs: the
    // notice is refused at send time.
    let o = decide(
        db,
        "approve",
        "LR-2026-12-01-L2",
        "无还款意愿",
        "sup",
        PASSWORD,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    check_letters(
        db,
        &p,
        "zh-CN approved",
        &[
            ("L2", "letter_before_action", Some("LR-2026-12-01-L2")),
            ("L2", "notice_of_suit", None),
        ],
    );
    let o = arrears(&[
        "legal",
        "file",
        "--referral",
        "LR-2026-12-01-L2",
        "--case",
        "C2",
        "--court",
        "纽约县民事法院",
        "--case-number",
        "(2026)纽民初88号",
        "--db",
        t,
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    check_letters(
        db,
        &p,
        "zh-CN filed",
        &[
            ("L2", "notice_of_suit", Some("C2")),
            ("L2", "letter_before_action", None),
        ],
    );
    must(&["close", "--case", "C2", "--outcome", "withdrawn"]);
    // Nothing leaves closed: an illegal step is refused with both statuses named.
    must_not(
        &[
            "judgment",
            "--case",
            "C2",
            "--amount-awarded-minor",
            "1",
            "--on",
            "2026-12-30",
        ],
        "Legal case \"C2\" is at closed; it cannot go to judgment.",
    );
    let out = send(db, "2026-12-07T16:00:00Z", None, Some(&gw.url));
    assert!(out.contains("sent 0"), "{out}");
    for key in [
        "legal_letter:letter_before_action:LR-2026-12-01-L2",
        "legal_letter:notice_of_suit:C2",
    ] {
        assert_eq!(outbox_row(db, key).as_deref(), Some("blocked"), "{key}");
        assert!(last_error(db, key).contains("ALL-CONTENT"), "{key}");
    }
    assert_eq!(gw.delivered_keys().len(), 1);
}

#[test]
fn the_court_path_from_referral_to_closed_with_letters_bound_to_the_real_case() {
    for b in [Backend::Sqlite, Backend::Postgres] {
        if let Some(db) = fresh(b) {
            court_path(&db);
        }
    }
}

// ---------------------------------------------------------------------------------------
// The API
// ---------------------------------------------------------------------------------------

struct Srv {
    child: std::process::Child,
    base: String,
    token: String,
}

impl Drop for Srv {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(db: &TestDb) -> Srv {
    use std::io::BufRead;
    let token = ok(&[
        "tokens",
        "create",
        "--name",
        "legal-desk",
        "--scope",
        "work",
        "--scope",
        "read",
        "--db",
        &db.target,
    ])
    .trim()
    .to_owned();
    let mut child = Command::new(env!("CARGO_BIN_EXE_arrears"))
        .args(["serve", "--db", &db.target, "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("arrears serve starts");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line {line:?}"))
        .to_owned();
    Srv { child, base, token }
}

struct Res {
    status: u16,
    body: serde_json::Value,
    raw: String,
}

impl Srv {
    fn call(&self, method: &str, path: &str, body: Option<&serde_json::Value>) -> Res {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let url = format!("{}{path}", self.base);
        let auth = format!("Bearer {}", self.token);
        let r = match body {
            Some(b) => agent
                .post(&url)
                .header("Authorization", &auth)
                .header("Content-Type", "application/json")
                .send(&b.to_string()),
            None if method == "GET" => agent.get(&url).header("Authorization", &auth).call(),
            None => panic!("{method} without a body"),
        };
        let mut r = r.expect("answered");
        let status = r.status().as_u16();
        let raw = r.body_mut().read_to_string().unwrap();
        let body = serde_json::from_str(&raw).unwrap_or(serde_json::Value::Null);
        Res { status, body, raw }
    }

    fn post(&self, path: &str, body: serde_json::Value) -> Res {
        self.call("POST", path, Some(&body))
    }

    fn get(&self, path: &str) -> Res {
        self.call("GET", path, None)
    }
}

fn is(r: &Res, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", r.raw);
    if !code.is_empty() {
        assert_eq!(r.body["error"]["code"], code, "{}", r.raw);
    }
}

fn api_path(db: &TestDb) {
    use serde_json::json;
    let p = setup(db);
    run_and_plan(db, &p, "2020-06-01");
    run_and_plan(db, &p, "2026-12-01");
    let s = serve(db);
    let r = s.get("/v1/legal-referrals");
    is(&r, 200, "");
    assert_eq!(r.body["total"], 3, "{}", r.raw);
    assert_eq!(
        r.body["referrals"][0]["amount_claimed_minor"], 50000,
        "{}",
        r.raw
    );
    // US-TIMEBAR at approval, through the API: 422 with the rule id; nothing recorded.
    let r = s.post(
        "/v1/legal-referrals/LR-2020-06-01-L3/decision",
        json!({"decision": "approve", "reason": "sue"}),
    );
    is(&r, 422, "legal_referral_denied");
    assert!(r.raw.contains("US-TIMEBAR"), "{}", r.raw);
    is(
        &s.post(
            "/v1/legal-referrals/LR-2026-12-01-L1/decision",
            json!({"decision": "maybe", "reason": "x"}),
        ),
        422,
        "invalid_field",
    );
    is(
        &s.post(
            "/v1/legal-referrals/LR-2026-12-01-L1/decision",
            json!({"decision": "approve", "reason": " "}),
        ),
        422,
        "invalid_field",
    );
    is(
        &s.post(
            "/v1/legal-referrals/NOPE/decision",
            json!({"decision": "reject", "reason": "x"}),
        ),
        404,
        "unknown_referral",
    );
    let approve = json!({"decision": "approve", "reason": "no answer"});
    is(
        &s.post(
            "/v1/legal-referrals/LR-2026-12-01-L1/decision",
            approve.clone(),
        ),
        201,
        "",
    );
    let r = s.post("/v1/legal-referrals/LR-2026-12-01-L1/decision", approve);
    is(&r, 200, "");
    assert_eq!(r.body["status"], "already_recorded", "{}", r.raw);
    is(
        &s.post(
            "/v1/legal-referrals/LR-2026-12-01-L1/decision",
            json!({"decision": "reject", "reason": "other"}),
        ),
        409,
        "request_conflict",
    );
    let r = s.get("/v1/legal-referrals?status=approved");
    assert_eq!(
        r.body["referrals"][0]["decided_by"], "legal-desk",
        "{}",
        r.raw
    );
    let file = json!({"case_id": "C1", "court": "NY Civil Court", "case_number": "CV-1"});
    is(
        &s.post("/v1/legal-referrals/LR-2026-12-01-L2/case", file.clone()),
        409,
        "not_approved",
    );
    is(
        &s.post("/v1/legal-referrals/LR-2026-12-01-L1/case", file),
        201,
        "",
    );
    is(
        &s.post(
            "/v1/legal-referrals/LR-2026-12-01-L1/case",
            json!({"case_id": "C9", "court": "NY Civil Court", "case_number": "CV-9"}),
        ),
        409,
        "already_filed",
    );
    // Steps on the status route (extended), measures, costs.
    let judgment = json!({"status": "judgment", "at": "2026-12-20T15:00:00Z",
                          "amount_awarded_minor": 90000, "judgment_on": "2026-12-20"});
    is(&s.post("/v1/legal-cases/C1/status", judgment), 201, "");
    is(
        &s.post(
            "/v1/legal-cases/C1/status",
            json!({"status": "filed", "at": "2026-12-21T15:00:00Z"}),
        ),
        409,
        "illegal_transition",
    );
    is(
        &s.post(
            "/v1/legal-cases/C1/measures",
            json!({"measure_id": "M1", "kind": "spending_restriction", "ordered_on": "2026-12-22", "authority": "Court"}),
        ),
        409,
        "illegal_transition",
    );
    is(
        &s.post(
            "/v1/legal-cases/C1/status",
            json!({"status": "enforcement", "at": "2026-12-23T15:00:00Z"}),
        ),
        201,
        "",
    );
    is(
        &s.post(
            "/v1/legal-cases/C1/measures",
            json!({"measure_id": "M1", "kind": "spending_restriction", "ordered_on": "2026-12-24", "authority": "Court"}),
        ),
        201,
        "",
    );
    is(
        &s.post(
            "/v1/legal-measures/M1/status",
            json!({"status": "in_force", "on": "2026-12-25"}),
        ),
        201,
        "",
    );
    is(
        &s.post(
            "/v1/legal-measures/M1/status",
            json!({"status": "applied", "on": "2026-12-26"}),
        ),
        409,
        "illegal_transition",
    );
    is(
        &s.post(
            "/v1/legal-cases/C1/costs",
            json!({"cost_id": "K1", "kind": "court_fee", "amount_minor": 2500, "incurred_on": "2026-12-20"}),
        ),
        201,
        "",
    );
    is(
        &s.post(
            "/v1/legal-cases/C1/costs",
            json!({"cost_id": "K2", "kind": "bribe", "amount_minor": 2500, "incurred_on": "2026-12-20"}),
        ),
        422,
        "invalid_field",
    );
    is(
        &s.post(
            "/v1/legal-cases/C1/status",
            json!({"status": "closed", "at": "2027-01-05T15:00:00Z", "outcome": "won"}),
        ),
        422,
        "invalid_field",
    );
    is(
        &s.post(
            "/v1/legal-cases/C1/status",
            json!({"status": "closed", "at": "2027-01-05T15:00:00Z", "outcome": "terminated"}),
        ),
        201,
        "",
    );
    let r = s.get("/v1/legal-cases/C1");
    is(&r, 200, "");
    let c = &r.body;
    assert_eq!(
        (
            c["status"].as_str(),
            c["outcome"].as_str(),
            c["judgment_on"].as_str(),
            c["amount_awarded_minor"].as_i64(),
            c["amount_claimed_minor"].as_i64(),
            c["referral_id"].as_str(),
            c["costs_total_minor"].as_str(),
            c["measures"][0]["status"].as_str(),
        ),
        (
            Some("closed"),
            Some("terminated"),
            Some("2026-12-20"),
            Some(90000),
            Some(100000),
            Some("LR-2026-12-01-L1"),
            Some("2500"),
            Some("in_force"),
        ),
        "{}",
        r.raw
    );
    is(&s.get("/v1/legal-cases/NOPE"), 404, "unknown_case");
    // The older route still lists the case.
    let r = s.get("/v1/loans/L1/legal-cases");
    assert_eq!(r.body["cases"][0]["status"], "closed", "{}", r.raw);
}

#[test]
fn the_court_path_over_the_api() {
    for b in [Backend::Sqlite, Backend::Postgres] {
        if let Some(db) = fresh(b) {
            api_path(&db);
        }
    }
}
