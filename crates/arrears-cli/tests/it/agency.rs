//! Collection agencies end to end through the binary (docs/agency.md), on a fresh SQLite file
//! and a fresh PostgreSQL database: agencies approved by the lender's policy, placements
//! refused without CN-AGENCY's notice, agency tokens and users that see and work only the
//! loans placed with their agency (403 otherwise, on the API and on the pages), a recall that
//! ends access at its instant, the agencies' contacts counted in the borrower's one budget with
//! the lender's (CN-FREQ-CONNECTED across agencies), the placement, recall and remittance
//! files, and an activity file with bad rows rejected by line and field.

use crate::server::ok;
use crate::store::{Backend, fresh};
use crate::{arrears, portfolio, text};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};

const PASSWORD: &str = "correct horse battery";

/// B1 (two loans, L1 and L4), B2 (L2) and B3 (L3), all in China, each loan's CN-AGENCY notice
/// on record but L3's; B1 had a conversation with the lender on 2026-11-28 and names a
/// contact person (who must never reach an agency's file).
fn cn_portfolio() -> tempfile::TempDir {
    portfolio(&[
        (
            "borrowers.csv",
            "borrower_id,name,phone,email,timezone,jurisdiction,deceased\n\
             B1,Li Lei,+8613800000001,li@example.com,Asia/Shanghai,CN,false\n\
             B2,Han Mei,+8613800000002,,Asia/Shanghai,CN-11,false\n\
             B3,Wang Fang,+8613800000003,,Asia/Shanghai,CN,false\n",
        ),
        (
            "loans.csv",
            "loan_id,borrower_id,product,currency,principal_minor,annual_rate_bps,penalty_rate_bps,disbursed_on\n\
             L1,B1,x,CNY,100000,0,0,2026-01-01\n\
             L2,B2,x,CNY,100000,0,0,2026-01-01\n\
             L3,B3,x,CNY,100000,0,0,2026-01-01\n\
             L4,B1,x,CNY,50000,0,0,2026-01-01\n",
        ),
        (
            "installments.csv",
            "loan_id,seq,due_date,principal_minor,interest_minor,fee_minor\n\
             L1,1,2026-09-01,100000,0,0\n\
             L2,1,2026-09-01,100000,0,0\n\
             L3,1,2026-09-01,100000,0,0\n\
             L4,1,2026-09-01,50000,0,0\n",
        ),
        (
            "payments.csv",
            "payment_id,loan_id,received_at,amount_minor\n",
        ),
        (
            "contacts.csv",
            "contact_id,borrower_id,loan_id,channel,direction,at,outcome,target,party\n\
             C0,B1,,call,outbound,2026-11-28T02:00:00Z,right_party,+8613800000001,borrower\n",
        ),
        (
            "notices.csv",
            "notice_id,borrower_id,loan_id,kind,sent_at,channel\n\
             N1,B1,L1,agency_placement,2026-11-20T00:00:00Z,sms\n\
             N2,B2,L2,agency_placement,2026-11-20T00:00:00Z,sms\n\
             N4,B1,L4,agency_placement,2026-11-20T00:00:00Z,sms\n",
        ),
        (
            "contact_persons.csv",
            "person_id,borrower_id,name,phone,relation,source,refused\n\
             P9,B1,Uncle Zhang,+8613900000009,uncle,designated,false\n",
        ),
    ])
}

fn fails(args: &[&str]) -> String {
    let o = arrears(args);
    assert!(
        !o.status.success(),
        "arrears {} should fail: {}",
        args.join(" "),
        text(&o.stdout)
    );
    format!("{}{}", text(&o.stdout), text(&o.stderr))
}

struct Serve {
    child: Child,
    base: String,
    _logs: tempfile::TempDir,
}

impl Drop for Serve {
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

fn serve(db: &str, clock_from: &str) -> Serve {
    let logs = tempfile::tempdir().unwrap();
    let err = std::fs::File::create(logs.path().join("stderr.log")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_arrears"))
        .args(["serve", "--db", db, "--listen", "127.0.0.1:0"])
        .args(["--clock-from", clock_from])
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
        .unwrap_or_else(|| panic!("first line {line:?}"))
        .to_owned();
    Serve {
        child,
        base,
        _logs: logs,
    }
}

fn client() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

/// (status, body as JSON, or as a string, and the raw text, Set-Cookie values)
fn answer(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> (u16, Value, Vec<String>) {
    let mut r = r.expect("answered");
    let status = r.status().as_u16();
    let cookies = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    let raw = r.body_mut().read_to_string().unwrap_or_default();
    let body = serde_json::from_str(&raw).unwrap_or(Value::String(raw));
    (status, body, cookies)
}

fn api_get(s: &Serve, token: &str, path: &str) -> (u16, Value) {
    let (st, b, _) = answer(
        client()
            .get(format!("{}{path}", s.base))
            .header("Authorization", &format!("Bearer {token}"))
            .call(),
    );
    (st, b)
}

fn api_post(s: &Serve, token: &str, path: &str, body: &Value) -> (u16, Value) {
    let (st, b, _) = answer(
        client()
            .post(format!("{}{path}", s.base))
            .header("Authorization", &format!("Bearer {token}"))
            .header("Content-Type", "application/json")
            .send(body.to_string()),
    );
    (st, b)
}

fn code(b: &Value) -> &str {
    b["error"]["code"].as_str().unwrap_or("")
}

fn page(s: &Serve, path: &str, cookie: &str) -> u16 {
    answer(
        client()
            .get(format!("{}{path}", s.base))
            .header("Cookie", cookie)
            .call(),
    )
    .0
}

fn login(s: &Serve, user: &str) -> String {
    let (st, body, cookies) = answer(
        client()
            .post(format!("{}/login", s.base))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .send(format!(
                "username={user}&password={}",
                PASSWORD.replace(' ', "+")
            )),
    );
    assert_eq!(st, 303, "{body}");
    cookies
        .iter()
        .find(|c| c.starts_with("arrears_session=") && !c.starts_with("arrears_session=;"))
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_owned()
}

fn read_csv(path: &Path) -> Vec<BTreeMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let h = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            h.iter()
                .zip(rec.iter())
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

fn token(db: &str, name: &str, agency: Option<&str>, scopes: &[&str]) -> String {
    let mut args = vec!["tokens", "create", "--name", name, "--db", db];
    if let Some(a) = agency {
        args.extend(["--agency", a]);
    }
    for s in scopes {
        args.extend(["--scope", s]);
    }
    ok(&args).trim().to_owned()
}

fn add_user(db: &str, user: &str, agency: Option<&str>) {
    let mut args = vec![
        "users",
        "add",
        "--username",
        user,
        "--role",
        "agent",
        "--password-stdin",
        "--db",
        db,
    ];
    if let Some(a) = agency {
        args.extend(["--agency", a]);
    }
    let mut c = Command::new(env!("CARGO_BIN_EXE_arrears"))
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(c.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    let o = c.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
}

#[test]
fn agencies_end_to_end_sqlite() {
    agencies_end_to_end(Backend::Sqlite);
}

#[test]
fn agencies_end_to_end_postgres() {
    agencies_end_to_end(Backend::Postgres);
}

#[allow(clippy::too_many_lines)]
fn agencies_end_to_end(b: Backend) {
    let Some(tdb) = fresh(b) else { return };
    let db = tdb.target.as_str();
    let p = cn_portfolio();
    let dir = p.path();
    ok(&[
        "import",
        "--portfolio",
        dir.to_str().unwrap(),
        "--db",
        db,
        "--quiet",
        "--rejects",
        "/dev/null",
    ]);
    ok(&["run", "--as-of", "2026-11-27", "--db", db, "--quiet"]);
    let policy = dir.join("policy.toml");
    std::fs::write(
        &policy,
        "[policy]\nname = \"acme\"\napproved_agencies = [\"AG1\", \"AG2\"]\n",
    )
    .unwrap();
    ok(&[
        "policy",
        "set",
        policy.to_str().unwrap(),
        "--effective-from",
        "2026-01-01",
        "--db",
        db,
    ]);

    // Agencies: only those the lender's policy approves.
    ok(&[
        "agency",
        "add",
        "--id",
        "AG1",
        "--name",
        "East Recovery",
        "--jurisdiction",
        "CN",
        "--commission-bps",
        "1250",
        "--term-days",
        "60",
        "--db",
        db,
    ]);
    ok(&[
        "agency",
        "add",
        "--id",
        "AG2",
        "--name",
        "Beijing Collect",
        "--jurisdiction",
        "CN",
        "--commission-bps",
        "2000",
        "--term-days",
        "30",
        "--db",
        db,
    ]);
    let e = fails(&[
        "agency",
        "add",
        "--id",
        "AG3",
        "--name",
        "Rogue",
        "--jurisdiction",
        "CN",
        "--commission-bps",
        "2000",
        "--term-days",
        "30",
        "--db",
        db,
    ]);
    assert!(e.contains("CN-AGENCY"), "{e}");
    let e = fails(&[
        "agency",
        "add",
        "--id",
        "AG1",
        "--name",
        "East Recovery",
        "--jurisdiction",
        "CN",
        "--commission-bps",
        "1300",
        "--term-days",
        "60",
        "--db",
        db,
    ]);
    assert!(e.contains("never changed"), "{e}");
    let list = ok(&["agency", "list", "--db", db]);
    assert_eq!(list.lines().count(), 2, "{list}");
    assert!(
        list.contains("AG1\tEast Recovery\tCN\t1250 bps\t60 days"),
        "{list}"
    );

    // Placements: CN-AGENCY's notice on record (L3 has none), a registered agency.
    let place = |id: &str, loan: &str, agency: &str| {
        arrears(&[
            "agency",
            "place",
            "--placement",
            id,
            "--loan",
            loan,
            "--agency",
            agency,
            "--at",
            "2026-11-25T00:00:00Z",
            "--db",
            db,
        ])
    };
    for (id, loan, agency) in [
        ("P1", "L1", "AG1"),
        ("P2", "L2", "AG2"),
        ("P4", "L4", "AG2"),
    ] {
        let o = place(id, loan, agency);
        assert!(o.status.success(), "{}", text(&o.stderr));
    }
    let o = place("P3", "L3", "AG1");
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("CN-AGENCY"), "{}", text(&o.stderr));
    let o = place("P5", "L3", "AG9");
    assert!(text(&o.stderr).contains("no agency"), "{}", text(&o.stderr));
    // The same placement again changes nothing.
    assert!(place("P1", "L1", "AG1").status.success());

    let ag1 = token(db, "ag1", Some("AG1"), &["contacts", "events", "read"]);
    let ag2 = token(db, "ag2", Some("AG2"), &["contacts", "events", "read"]);
    let core = token(db, "core", None, &["contacts", "events", "read", "work"]);
    let tokens = ok(&["tokens", "list", "--db", db]);
    assert!(tokens.contains("agency:AG1"), "{tokens}");
    add_user(db, "ag1user", Some("AG1"));

    // 12:00 in Beijing on 2026-11-28.
    let s = serve(db, "2026-11-28T04:00:00Z");

    // What an agency token may read: its placed loans only.
    let cases: [(&str, &str, u16, &str); 6] = [
        (&ag1, "/v1/accounts/L1", 200, ""),
        (&ag1, "/v1/accounts/L2", 403, "not_placed_with_agency"),
        (&ag1, "/v1/accounts/L3", 403, "not_placed_with_agency"),
        (&ag2, "/v1/accounts/L1", 403, "not_placed_with_agency"),
        (&ag1, "/v1/loans/L2/promises", 403, "not_placed_with_agency"),
        (
            &ag1,
            "/v1/plan?as_of=2026-11-28",
            403,
            "agency_route_forbidden",
        ),
    ];
    for (t, path, status, c) in cases {
        let (st, body) = api_get(&s, t, path);
        assert_eq!(st, status, "{path}: {body}");
        assert_eq!(code(&body), c, "{path}: {body}");
    }
    let (st, body) = api_get(&s, &ag2, "/v1/agency/loans");
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["loan_ids"], json!(["L2", "L4"]));
    assert_eq!(
        code(&api_get(&s, &core, "/v1/agency/loans").1),
        "not_an_agency"
    );

    // What it may write: only about its loans, only contacts and promises.
    let contact = |id: &str, loan: &str, at: &str| {
        json!({"contact_id": id, "borrower_id": "B1", "loan_id": loan, "channel": "call",
               "target": "+8613800000001", "at": at, "outcome": "right_party"})
    };
    let writes: [(&str, &str, Value, &str); 6] = [
        (
            &ag1,
            "/v1/contacts",
            contact("X1", "L4", "2026-11-28T03:00:00Z"),
            "not_placed_with_agency",
        ),
        (
            &ag2,
            "/v1/contacts/check",
            json!({"borrower_id": "B1", "loan_id": "L1", "channel": "call", "at": "2026-11-28T03:00:00Z"}),
            "not_placed_with_agency",
        ),
        (
            &ag1,
            "/v1/contacts/check",
            json!({"borrower_id": "B1", "channel": "call", "at": "2026-11-28T03:00:00Z"}),
            "agency_loan_required",
        ),
        (
            &ag1,
            "/v1/events",
            json!({"event_id": "E1", "type": "payment", "payment_id": "PX", "loan_id": "L1", "received_at": "2026-11-28T03:00:00Z", "amount_minor": 5}),
            "agency_event_forbidden",
        ),
        (
            &ag1,
            "/v1/events",
            json!({"event_id": "E2", "type": "promise_to_pay", "promise_id": "PR", "loan_id": "L2", "created_at": "2026-11-28T03:00:00Z", "amount_minor": 5, "due_date": "2026-12-01"}),
            "not_placed_with_agency",
        ),
        (
            &ag1,
            "/v1/contacts",
            json!({"contact_id": "X2", "borrower_id": "B1", "loan_id": "L1", "channel": "call", "target": "+8613800000001", "at": "2026-11-28T03:00:00Z", "outcome": "right_party", "agency_id": "AG2"}),
            "agency_mismatch",
        ),
    ];
    for (t, path, body, c) in writes {
        let (st, got) = api_post(&s, t, path, &body);
        assert_eq!((st, code(&got)), (403, c), "{path} {body}: {got}");
    }

    // CN-FREQ-CONNECTED across agencies: the lender's conversation of the day (C0) and one by
    // each agency make 3; a fourth is refused to either agency.
    let check = |t: &str, loan: &str| {
        let (st, b) = api_post(
            &s,
            t,
            "/v1/contacts/check",
            &json!({"borrower_id": "B1", "loan_id": loan, "channel": "call",
                    "target": "+8613800000001", "at": "2026-11-28T04:30:00Z"}),
        );
        assert_eq!(st, 200, "{b}");
        b
    };
    assert_eq!(
        check(&ag1, "L1")["decision"],
        "allow",
        "the agency's own contact, not the lender's (ALL-PLACED)"
    );
    let (st, b) = api_post(
        &s,
        &ag1,
        "/v1/contacts",
        &contact("A1", "L1", "2026-11-28T03:00:00Z"),
    );
    assert_eq!((st, b["status"].as_str()), (201, Some("recorded")), "{b}");
    let (st, b) = api_post(
        &s,
        &ag2,
        "/v1/contacts",
        &contact("A2", "L4", "2026-11-28T03:10:00Z"),
    );
    assert_eq!((st, b["status"].as_str()), (201, Some("recorded")), "{b}");
    for (t, loan) in [(&ag1, "L1"), (&ag2, "L4")] {
        let d = check(t, loan);
        assert_eq!(d["decision"], "deny", "{d}");
        assert!(
            d["rule_ids"]
                .as_array()
                .unwrap()
                .contains(&json!("CN-FREQ-CONNECTED")),
            "{d}"
        );
    }
    // The lender's own check of the borrower sees the same budget spent.
    let (_, d) = api_post(
        &s,
        &core,
        "/v1/contacts/check",
        &json!({"borrower_id": "B1", "channel": "call", "target": "+8613800000001", "at": "2026-11-28T04:30:00Z"}),
    );
    assert!(
        d["rule_ids"]
            .as_array()
            .unwrap()
            .contains(&json!("CN-FREQ-CONNECTED")),
        "{d}"
    );
    // The stored contacts are the agencies'.
    {
        let (rt, store) = crate::store::open_store(db);
        let bc = rt.block_on(store.borrower_contacts("B1")).unwrap().unwrap();
        let agencies: BTreeMap<String, Option<String>> = bc
            .contacts
            .iter()
            .map(|c| {
                (
                    c.row.id.to_string(),
                    c.row.agency_id.as_deref().map(str::to_owned),
                )
            })
            .collect();
        assert_eq!(
            agencies.get("A1"),
            Some(&Some("AG1".to_owned())),
            "{agencies:?}"
        );
        assert_eq!(
            agencies.get("A2"),
            Some(&Some("AG2".to_owned())),
            "{agencies:?}"
        );
    }

    // Activity over the API: a promise and a payment collected on its own loan.
    let (st, b) = api_post(
        &s,
        &ag1,
        "/v1/agency/activity",
        &json!({"activity_id": "ACT1", "loan_id": "L1", "kind": "promise", "at": "2026-11-28T03:30:00Z", "amount_minor": 20000, "due_date": "2026-12-05"}),
    );
    assert_eq!((st, b["status"].as_str()), (201, Some("recorded")), "{b}");
    let (st, b) = api_post(
        &s,
        &ag1,
        "/v1/agency/activity",
        &json!({"activity_id": "ACT2", "loan_id": "L2", "kind": "payment", "at": "2026-11-28T03:30:00Z", "amount_minor": 100}),
    );
    assert_eq!((st, code(&b)), (403, "not_placed_with_agency"), "{b}");
    // The lender's books: a payment on L1 while it is placed (the remittance's recovered).
    let (st, b) = api_post(
        &s,
        &core,
        "/v1/events",
        &json!({"event_id": "PAY1", "type": "payment", "payment_id": "PAY1", "loan_id": "L1", "received_at": "2026-11-27T01:00:00Z", "amount_minor": 10004}),
    );
    assert_eq!(st, 201, "{b}");

    // The pages: the agency's user opens its placed loan, never another.
    let cookie = login(&s, "ag1user");
    assert_eq!(page(&s, "/accounts/L1", &cookie), 200);
    assert_eq!(page(&s, "/accounts/L2", &cookie), 403);
    assert_eq!(page(&s, "/accounts/L3", &cookie), 403);

    // A recall at an instant already past ends access; one in the future does not yet.
    let out = tempfile::tempdir().unwrap();
    let o = out.path().to_str().unwrap();
    ok(&[
        "agency",
        "recall",
        "--placement",
        "P1",
        "--at",
        "2026-11-28T04:00:00Z",
        "--reason",
        "by hand",
        "--out",
        o,
        "--db",
        db,
    ]);
    ok(&[
        "agency",
        "recall",
        "--placement",
        "P4",
        "--at",
        "2026-12-01T00:00:00Z",
        "--reason",
        "borrower moved",
        "--out",
        o,
        "--db",
        db,
    ]);
    let (st, body) = api_get(&s, &ag1, "/v1/accounts/L1");
    assert_eq!((st, code(&body)), (403, "not_placed_with_agency"), "{body}");
    let (st, body) = api_post(
        &s,
        &ag1,
        "/v1/contacts/check",
        &json!({"borrower_id": "B1", "loan_id": "L1", "channel": "call", "at": "2026-11-28T04:30:00Z"}),
    );
    assert_eq!((st, code(&body)), (403, "not_placed_with_agency"), "{body}");
    assert_eq!(page(&s, "/accounts/L1", &cookie), 403);
    assert_eq!(
        api_get(&s, &ag2, "/v1/accounts/L4").0,
        200,
        "recalled only from 12-01"
    );
    let recall = read_csv(&out.path().join("recall_AG1_2026-11-28.csv"));
    assert_eq!(recall.len(), 1);
    assert_eq!(recall[0]["loan_id"], "L1");
    assert_eq!(recall[0]["recalled_at"], "2026-11-28T04:00:00Z");
    drop(s);

    // The daily placement file: AG2's live loans with balances, the borrower's own details.
    ok(&[
        "agency",
        "placement-file",
        "--agency",
        "AG2",
        "--date",
        "2026-11-28",
        "--out",
        o,
        "--db",
        db,
    ]);
    let csv_path = out.path().join("placement_AG2_2026-11-28.csv");
    let rows = read_csv(&csv_path);
    let loans: Vec<&str> = rows.iter().map(|r| r["loan_id"].as_str()).collect();
    assert_eq!(loans, ["L2", "L4"]);
    assert_eq!(rows[1]["principal_minor"], "50000");
    assert_eq!(rows[1]["outstanding_minor"], "50000");
    assert_eq!(rows[1]["borrower_phone"], "+8613800000001");
    assert!(rows[1]["dpd"].parse::<i64>().unwrap() > 80, "{:?}", rows[1]);
    let raw = std::fs::read_to_string(&csv_path).unwrap();
    assert!(
        !raw.contains("+8613900000009") && !raw.contains("Uncle"),
        "never a contact person"
    );
    let parquet = std::fs::File::open(out.path().join("placement_AG2_2026-11-28.parquet")).unwrap();
    let n: i64 = parquet::file::reader::SerializedFileReader::new(parquet)
        .map(|r| {
            use parquet::file::reader::FileReader;
            r.metadata().file_metadata().num_rows()
        })
        .unwrap();
    assert_eq!(n, 2);

    // Recall at the end of the term: P2 (30 days from 11-25), once.
    ok(&[
        "agency",
        "recall-expired",
        "--as-of",
        "2026-12-31",
        "--out",
        o,
        "--db",
        db,
    ]);
    let recall = read_csv(&out.path().join("recall_AG2_2026-12-31.csv"));
    assert_eq!(recall.len(), 1, "{recall:?}");
    assert_eq!(recall[0]["placement_id"], "P2");
    assert_eq!(recall[0]["recalled_at"], "2026-12-25T00:00:00Z");
    let again = ok(&[
        "agency",
        "recall-expired",
        "--as-of",
        "2026-12-31",
        "--out",
        o,
        "--db",
        db,
    ]);
    assert!(again.contains("no placement"), "{again}");

    // An activity file: good rows recorded, bad ones rejected with line and field.
    let act = out.path().join("activity.csv");
    std::fs::write(
        &act,
        "activity_id,loan_id,kind,at,channel,target,outcome,amount_minor,due_date,direction\n\
         F1,L1,payment,2026-11-27T02:00:00Z,,,,500,,\n\
         F2,L1,visit,2026-11-27T02:00:00Z,,,,,,\n\
         F3,L2,payment,2026-11-27T02:00:00Z,,,,700,,\n\
         F4,L1,payment,2026-11-29T02:00:00Z,,,,800,,\n",
    )
    .unwrap();
    let rejects = out.path().join("rejects.csv");
    let said = ok(&[
        "agency",
        "import",
        "--agency",
        "AG1",
        "--file",
        act.to_str().unwrap(),
        "--rejects",
        rejects.to_str().unwrap(),
        "--db",
        db,
    ]);
    assert!(
        said.contains("1 rows recorded") && said.contains("3 rejected"),
        "{said}"
    );
    let bad = read_csv(&rejects);
    let got: Vec<(&str, &str)> = bad
        .iter()
        .map(|r| (r["line"].as_str(), r["field"].as_str()))
        .collect();
    assert_eq!(
        got,
        [("3", "kind"), ("4", "loan_id"), ("5", "loan_id")],
        "{bad:?}"
    );
    assert!(bad[0]["file"].ends_with("activity.csv"));
    // Again: nothing twice.
    let said = ok(&[
        "agency",
        "import",
        "--agency",
        "AG1",
        "--file",
        act.to_str().unwrap(),
        "--rejects",
        rejects.to_str().unwrap(),
        "--db",
        db,
    ]);
    assert!(
        said.contains("0 rows recorded, 1 recorded before"),
        "{said}"
    );

    // Remittance: 10004 recovered on P1 at 1250 bps = 1250.5, rounded half-to-even to 1250.
    ok(&[
        "agency",
        "remittance",
        "--agency",
        "AG1",
        "--from",
        "2026-11-01",
        "--to",
        "2026-11-30",
        "--out",
        o,
        "--db",
        db,
    ]);
    let st = read_csv(&out.path().join("remittance_AG1_2026-11-01_2026-11-30.csv"));
    assert_eq!(st.len(), 2, "{st:?}");
    assert_eq!(st[0]["placement_id"], "P1");
    assert_eq!(st[0]["recovered_minor"], "10004");
    assert_eq!(st[0]["commission_minor"], "1250");
    assert_eq!(st[0]["reported_collected_minor"], "500");
    assert_eq!(st[1]["placement_id"], "TOTAL");
    assert_eq!(st[1]["commission_minor"], "1250");
}
