//! `arrears plan`, `arrears strategy` and `arrears audit export / delete` through the real
//! binary. Expectations are derived from the inputs (column lists from the issue, local hours
//! from the borrowers' zones, counts from the files), never copied from a run.

use crate::{arrears, portfolio, text};
use std::collections::HashMap;
use std::path::Path;

const COLUMNS: &str = "action_id,as_of,loan_id,borrower_id,kind,channel,party,target,template,language,not_before,not_after,queue,priority,rule_id,arm,verification_code";

fn generate(dir: &Path, loans: &str) {
    let o = arrears(&[
        "generate",
        "--loans",
        loans,
        "--seed",
        "5",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
}

fn rows(path: &Path) -> (Vec<String>, Vec<HashMap<String, String>>) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_owned).collect();
    let rows = r
        .records()
        .map(|rec| {
            header
                .iter()
                .cloned()
                .zip(rec.unwrap().iter().map(str::to_owned))
                .collect()
        })
        .collect();
    (header, rows)
}

fn keys(dir: &Path) -> String {
    let k = dir.join("keys");
    let o = arrears(&["keys", "init", "--dir", k.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    k.to_str().unwrap().to_owned()
}

#[test]
fn a_signed_plan_is_complete_within_hours_verifiable_and_logged() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("p");
    let out = d.path().join("out");
    generate(&p, "3000");
    let k = keys(d.path());
    let o = arrears(&[
        "plan",
        "--as-of",
        "2026-11-28",
        "--portfolio",
        p.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--keys",
        &k,
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let stdout = text(&o.stdout);
    assert!(
        stdout.contains("actions by kind")
            && stdout.contains("blocked by rule")
            && stdout.contains("0 violations"),
        "{stdout}"
    );

    let (header, actions) = rows(&out.join("actions.csv"));
    assert_eq!(header.join(","), COLUMNS);
    let (bheader, blocked) = rows(&out.join("blocked.csv"));
    assert_eq!(
        bheader.join(","),
        format!("{COLUMNS},rule_ids,earliest_allowed")
    );
    assert!(
        actions.len() > 100 && !blocked.is_empty(),
        "{} actions, {} blocked",
        actions.len(),
        blocked.len()
    );

    // The summary counts what the files hold.
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("plan_summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["actions"].as_u64().unwrap() as usize, actions.len());
    assert_eq!(summary["blocked"].as_u64().unwrap() as usize, blocked.len());
    let by_kind: u64 = summary["actions_by_kind"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(by_kind as usize, actions.len());

    // Hours, re-derived here from the borrowers' zones: CN 08:00-22:00, US and GB 08:00-21:00
    // for calls and texts; both ends on the plan's local day.
    let (_, borrowers) = rows(&p.join("borrowers.csv"));
    let zone: HashMap<&str, (&str, &str)> = borrowers
        .iter()
        .map(|b| {
            (
                b["borrower_id"].as_str(),
                (b["timezone"].as_str(), b["jurisdiction"].as_str()),
            )
        })
        .collect();
    let mut checked = 0;
    for a in &actions {
        let (tz, j) = zone[a["borrower_id"].as_str()];
        let tz = jiff::tz::TimeZone::get(tz).unwrap();
        let end = if j.starts_with("CN") { 22 } else { 21 };
        for col in ["not_before", "not_after"] {
            let t: jiff::Timestamp = a[col]
                .parse()
                .unwrap_or_else(|e| panic!("{col} {:?}: {e}", a[col]));
            let local = t.to_zoned(tz.clone());
            assert_eq!(local.date().to_string(), "2026-11-28", "{a:?}");
            assert_eq!(
                a[col],
                local
                    .timestamp()
                    .display_with_offset(local.offset())
                    .to_string(),
                "RFC 3339 with the borrower's offset"
            );
            if matches!(a["channel"].as_str(), "call" | "sms") {
                assert!(
                    (8..end).contains(&local.hour()),
                    "{col} outside hours: {a:?}"
                );
                checked += 1;
            }
        }
        if matches!(a["channel"].as_str(), "sms" | "email" | "push" | "letter") {
            assert!(!a["verification_code"].is_empty(), "{a:?}");
            assert!(["zh-CN", "en"].contains(&a["language"].as_str()));
        }
        if a["kind"] == "call_task" {
            assert!(!a["queue"].is_empty() && !a["priority"].is_empty(), "{a:?}");
        }
        assert_eq!(a["as_of"], "2026-11-28");
    }
    assert!(checked > 50);
    for b in &blocked {
        assert!(!b["rule_ids"].is_empty(), "{b:?}");
        for id in b["rule_ids"].split(';') {
            assert!(
                id.len() > 3
                    && id
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-'),
                "{id}"
            );
        }
    }
    // Every loan appears at most once among actions and blocks (write-off proposals aside).
    let mut seen = std::collections::HashSet::new();
    for r in actions
        .iter()
        .filter(|a| a["kind"] != "write_off_proposal")
        .chain(&blocked)
    {
        assert!(
            seen.insert(r["loan_id"].clone()),
            "loan {} twice",
            r["loan_id"]
        );
    }

    // A message's code verifies as genuine, with its text; the chain is intact and holds one
    // entry per decision and per message.
    let log = out.join("audit.jsonl");
    let sms = actions.iter().find(|a| a["channel"] == "sms").unwrap();
    let o = arrears(&[
        "verify",
        &sms["verification_code"],
        "--keys",
        &k,
        "--log",
        log.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).starts_with("GENUINE")
            && text(&o.stdout).contains(&sms["verification_code"])
    );
    let o = arrears(&[
        "audit",
        "verify",
        "--log",
        log.to_str().unwrap(),
        "--keys",
        &k,
    ]);
    assert!(o.status.success(), "{}", text(&o.stdout));
    let messages = actions
        .iter()
        .filter(|a| !a["verification_code"].is_empty())
        .count();
    let lines = std::fs::read_to_string(&log).unwrap().lines().count();
    assert_eq!(lines, actions.len() + blocked.len() + messages);

    // A second plan of the next day appends to the same log and sees yesterday's actions.
    let out2 = d.path().join("out2");
    let o = arrears(&[
        "plan",
        "--as-of",
        "2026-11-29",
        "--portfolio",
        p.to_str().unwrap(),
        "--out",
        out2.to_str().unwrap(),
        "--keys",
        &k,
        "--log",
        log.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).is_empty());
    let o = arrears(&[
        "audit",
        "verify",
        "--log",
        log.to_str().unwrap(),
        "--keys",
        &k,
    ]);
    assert!(o.status.success(), "{}", text(&o.stdout));
}

#[test]
fn without_keys_messages_are_blocked_under_all_identity() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("p");
    let out = d.path().join("out");
    generate(&p, "800");
    let o = arrears(&[
        "plan",
        "--as-of",
        "2026-11-28",
        "--portfolio",
        p.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("no --keys"), "{}", text(&o.stdout));
    let (_, actions) = rows(&out.join("actions.csv"));
    assert!(actions.iter().all(|a| a["verification_code"].is_empty()
        && !matches!(a["channel"].as_str(), "sms" | "email" | "push" | "letter")));
    let (_, blocked) = rows(&out.join("blocked.csv"));
    let sms: Vec<_> = blocked.iter().filter(|b| b["channel"] == "sms").collect();
    assert!(!sms.is_empty());
    assert!(
        sms.iter()
            .all(|b| b["rule_ids"].split(';').any(|r| r == "ALL-IDENTITY")
                || b["rule_ids"].starts_with("ALL-HOLD")
                || b["rule_ids"].contains("CEASE"))
    );
}

#[test]
fn strategy_check_names_rule_and_field_and_proves_the_cadence() {
    let o = arrears(&["strategy", "show-default"]);
    assert!(o.status.success());
    let default = text(&o.stdout);
    let d = tempfile::tempdir().unwrap();
    let write = |name: &str, body: &str| {
        let f = d.path().join(name);
        std::fs::write(&f, body).unwrap();
        f.to_str().unwrap().to_owned()
    };
    let o = arrears(&["strategy", "check", &write("ok.toml", &default)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(text(&o.stdout).starts_with("ok:"));

    let bad = default
        .replacen("dpd = { min = 2 }", "dpd = { min = 9, max = 3 }", 1)
        .replacen("kind = \"push\"", "kind = \"pager\"", 1);
    let o = arrears(&["strategy", "check", &write("bad.toml", &bad)]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(
        err.contains("rule early-push: when.dpd: min 9 is above max 3"),
        "{err}"
    );
    assert!(err.contains("rule early-push: action.kind"), "{err}");

    // Calls every day could make 8 calls about one debt in a rolling 7 days: US-7IN7.
    let daily = default.replace("every_days = 2 # call", "every_days = 1 # call");
    let o = arrears(&["strategy", "check", &write("daily.toml", &daily)]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(
        err.contains("US-7IN7") && err.contains("cadence.every_days"),
        "{err}"
    );
    // ... and `plan` refuses such a strategy too.
    let p = d.path().join("p");
    generate(&p, "50");
    let o = arrears(&[
        "plan",
        "--as-of",
        "2026-11-28",
        "--portfolio",
        p.to_str().unwrap(),
        "--out",
        d.path().join("o").to_str().unwrap(),
        "--strategy",
        &write("daily2.toml", &daily),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!d.path().join("o/actions.csv").exists());

    // A lender policy allowing two calls a day in CN... the strategy's three would exceed it.
    let three = default.replace(
        "max_calls_per_borrower_per_day = 1",
        "max_calls_per_borrower_per_day = 3",
    );
    let policy = write(
        "policy.toml",
        "[policy]\nname = \"tight\"\n[rules.\"CN-FREQ-CONNECTED\"]\nmax_per_local_day = 2\n",
    );
    let f = write("three.toml", &three);
    assert_eq!(arrears(&["strategy", "check", &f]).status.code(), Some(0));
    let o = arrears(&["strategy", "check", &f, "--policy", &policy]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("CN-FREQ-CONNECTED"),
        "{}",
        text(&o.stderr)
    );
}

const BORROWERS: &str = "borrower_id,name,phone,email,timezone,jurisdiction,language\n\
B1,<script>alert(1)</script> Lee,+12125550100,b1@example.com,America/New_York,US-NY,en-US\n\
B2,Wu Fang,+8613800138000,,Asia/Shanghai,CN,zh-CN\n";
const LOANS: &str = "loan_id,borrower_id,product,currency,principal_minor,annual_rate_bps,penalty_rate_bps,disbursed_on\n\
L1,B1,p,USD,100000,1000,0,2026-01-01\nL2,B2,p,CNY,100000,1000,0,2026-01-01\n";
const INSTALLMENTS: &str = "loan_id,seq,due_date,principal_minor,interest_minor,fee_minor\n\
L1,1,2026-11-25,100000,0,0\nL2,1,2026-11-25,100000,0,0\n";
const PAYMENTS: &str = "payment_id,loan_id,received_at,amount_minor\n";

#[test]
fn audit_export_writes_the_borrowers_record_escaped_and_delete_keeps_the_retention() {
    let dir = portfolio(&[
        ("borrowers.csv", BORROWERS),
        ("loans.csv", LOANS),
        ("installments.csv", INSTALLMENTS),
        ("payments.csv", PAYMENTS),
    ]);
    let d = tempfile::tempdir().unwrap();
    let k = keys(d.path());
    let out = d.path().join("out");
    let o = arrears(&[
        "plan",
        "--as-of",
        "2026-11-28",
        "--portfolio",
        dir.path().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--keys",
        &k,
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let log = out.join("audit.jsonl");
    let ex = d.path().join("export");
    let o = arrears(&[
        "audit",
        "export",
        "--borrower",
        "B1",
        "--log",
        log.to_str().unwrap(),
        "--out",
        ex.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ex.join("B1.json")).unwrap()).unwrap();
    let entries = json["entries"].as_array().unwrap();
    assert!(!entries.is_empty());
    assert!(entries.iter().all(|e| e["borrower_id"] == "B1"));
    // Both the decision and the signed message with its text are in the record.
    assert!(entries.iter().any(|e| e["kind"] == "plan.action"));
    let msg = json["messages"]
        .as_array()
        .unwrap()
        .first()
        .expect("a signed message")
        .clone();
    assert!(
        msg["text"]
            .as_str()
            .unwrap()
            .contains("<script>alert(1)</script> Lee")
    );
    assert_eq!(json["chain"], "intact");
    let html = std::fs::read_to_string(ex.join("B1.html")).unwrap();
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt; Lee"),
        "{html}"
    );
    assert!(!html.contains("<script>"), "unescaped markup in the page");
    assert!(html.contains(msg["code"].as_str().unwrap()));
    // Nothing of borrower B2 leaks into B1's record.
    assert!(
        !std::fs::read_to_string(ex.join("B1.json"))
            .unwrap()
            .contains("\"B2\"")
    );
    let o = arrears(&[
        "audit",
        "export",
        "--borrower",
        "B9",
        "--log",
        log.to_str().unwrap(),
        "--out",
        ex.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));

    // Deleting records younger than the retention is refused, naming the rule; the log is
    // untouched. B2 is CN (5 years from the record), B1 US (3 years from the last activity).
    let before = std::fs::read_to_string(&log).unwrap();
    for (who, rule) in [("B2", "CN-RECORDS"), ("B1", "US-RECORDS")] {
        let o = arrears(&[
            "audit",
            "delete",
            "--log",
            log.to_str().unwrap(),
            "--keys",
            &k,
            "--borrower",
            who,
            "--at",
            "2029-06-01T00:00:00Z",
        ]);
        assert_eq!(o.status.code(), Some(2), "{who}");
        assert!(text(&o.stderr).contains(rule), "{}", text(&o.stderr));
    }
    // US-RECORDS: 3 years after 2026-11-28 have passed by 2030 for B1, CN's 5 have not for
    // B2. All or nothing: a selection that holds B2's records deletes none of B1's either.
    let o = arrears(&[
        "audit",
        "delete",
        "--log",
        log.to_str().unwrap(),
        "--keys",
        &k,
        "--before",
        "2027-01-01T00:00:00Z",
        "--at",
        "2030-01-01T00:00:00Z",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("CN-RECORDS"));
    assert_eq!(std::fs::read_to_string(&log).unwrap(), before);
    // B1's alone are redacted: their content leaves the log, B2's stays, the chain verifies.
    let o = arrears(&[
        "audit",
        "delete",
        "--log",
        log.to_str().unwrap(),
        "--keys",
        &k,
        "--borrower",
        "B1",
        "--at",
        "2030-01-01T00:00:00Z",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("redacted"), "{}", text(&o.stdout));
    let after = std::fs::read_to_string(&log).unwrap();
    assert!(
        !after.contains("alert(1)") && !after.contains("\"L1\""),
        "{after}"
    );
    assert!(after.contains("\"L2\""));
    assert!(after.contains("US-RECORDS"));
    assert_eq!(before.lines().count() + 1, after.lines().count());
    let o = arrears(&[
        "audit",
        "verify",
        "--log",
        log.to_str().unwrap(),
        "--keys",
        &k,
    ]);
    assert!(o.status.success(), "{}", text(&o.stdout));
}

#[test]
fn extension_tables_are_read_and_their_bad_rows_reported() {
    let dir = portfolio(&[
        ("borrowers.csv", BORROWERS),
        ("loans.csv", LOANS),
        ("installments.csv", INSTALLMENTS),
        ("payments.csv", PAYMENTS),
        (
            "contact_persons.csv",
            "person_id,borrower_id,name,phone,relation,source,refused\nP1,B2,Li,+8613900139000,sister,designated,false\nP2,B9,Wu,,friend,address_book,\n",
        ),
        (
            "legal_cases.csv",
            "case_id,loan_id,court,case_number,status,updated_on\nK1,L2,Court,1,pending,\n",
        ),
    ]);
    let d = tempfile::tempdir().unwrap();
    let o = arrears(&[
        "plan",
        "--as-of",
        "2026-11-28",
        "--portfolio",
        dir.path().to_str().unwrap(),
        "--out",
        d.path().to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let s = text(&o.stdout);
    assert!(s.contains("2 lifecycle rows were rejected"), "{s}");
    assert!(
        s.contains("contact_persons.csv line 3, column borrower_id"),
        "{s}"
    );
    assert!(s.contains("legal_cases.csv line 2, column status"), "{s}");
    let o = arrears(&[
        "plan",
        "--as-of",
        "2026-11-28",
        "--portfolio",
        "/nonexistent",
        "--out",
        d.path().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
}
