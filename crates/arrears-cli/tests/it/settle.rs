//! Write-off with approval and settlement (issue 15 items 3 and 4, docs/settlement.md)
//! through the binary, on SQLite and PostgreSQL: the daily run and the plan with the store
//! feed the proposals; a supervisor signed in with their own password decides them (an agent
//! or a wrong password is refused); an approval writes off by component and the next run
//! reports the loan written off; a rejected loan is not proposed again the next day; a
//! settlement is offered within the policy's limits (beyond them refused), accepted, and the
//! daily run closes it paid (remainder written off by component, money conserved to the
//! minor unit) or lets it lapse (nothing forgiven).

use crate::server::{add_user, ok};
use crate::store::{Backend, fresh};
use crate::{portfolio, text};

/// `arrears ARGS` with `password` on standard input: (success, stdout, stderr).
fn as_user(args: &[&str], password: &str) -> (bool, String, String) {
    crate::arrears_with_stdin(args, password)
}

// Four CN loans of 10000 principal + 500 interest + 100 fee, no penalty. On 2026-12-01:
// L1 and L4 due 2026-05-01 (214 dpd, bad_debt: proposed for write-off); L2 and L3 due
// 2026-08-01 (122 dpd, late: settlement candidates).
const BORROWERS: &str = "borrower_id,name,phone,email,timezone,jurisdiction
B1,A,+8613800000001,,Asia/Shanghai,CN-11
B2,B,+8613800000002,,Asia/Shanghai,CN
B3,C,+8613800000003,,Asia/Shanghai,CN
B4,D,+8613800000004,,Asia/Shanghai,CN
";
const LOANS: &str = "loan_id,borrower_id,product,currency,principal_minor,annual_rate_bps,penalty_rate_bps,disbursed_on
L1,B1,cash,CNY,10000,0,0,2026-04-01
L2,B2,cash,CNY,10000,0,0,2026-06-01
L3,B3,cash,CNY,10000,0,0,2026-06-01
L4,B4,cash,CNY,10000,0,0,2026-04-01
";
const INSTALLMENTS: &str = "loan_id,seq,due_date,principal_minor,interest_minor,fee_minor
L1,1,2026-05-01,10000,500,100
L2,1,2026-08-01,10000,500,100
L3,1,2026-08-01,10000,500,100
L4,1,2026-05-01,10000,500,100
";
const POLICY: &str = "[policy]
name = \"acme-settlements\"
[[settlement]]
min_dpd = 91
max_discount_bps = 2000
[[settlement]]
stage = \"bad_debt\"
min_dpd = 181
max_discount_bps = 5000
max_instalments = 6
";
const SUP: (&str, &str) = ("sam", "supervisor secret 1");
const AGENT: (&str, &str) = ("alice", "agent secret 12345");

#[test]
fn write_offs_and_settlements_end_to_end_sqlite() {
    end_to_end(Backend::Sqlite);
}

#[test]
fn write_offs_and_settlements_end_to_end_postgres() {
    end_to_end(Backend::Postgres);
}

fn end_to_end(b: Backend) {
    let Some(db) = fresh(b) else {
        return;
    };
    let db = db.target.clone();
    let work = tempfile::tempdir().unwrap();
    let w = |s: &str| work.path().join(s).to_str().unwrap().to_owned();
    let base = portfolio(&[
        ("borrowers.csv", BORROWERS),
        ("loans.csv", LOANS),
        ("installments.csv", INSTALLMENTS),
    ]);
    let import = |dir: &std::path::Path| {
        ok(&[
            "import",
            "--portfolio",
            dir.to_str().unwrap(),
            "--db",
            &db,
            "--quiet",
            "--rejects",
            "/dev/null",
        ])
    };
    import(base.path());
    std::fs::write(w("policy.toml"), POLICY).unwrap();
    ok(&[
        "policy",
        "set",
        &w("policy.toml"),
        "--effective-from",
        "2026-01-01",
        "--db",
        &db,
    ]);
    for (u, role, p) in [(SUP.0, "supervisor", SUP.1), (AGENT.0, "agent", AGENT.1)] {
        let o = add_user(&db, u, role, p);
        assert!(o.status.success(), "{}", text(&o.stderr));
    }
    let run = |d: &str| ok(&["run", "--as-of", d, "--db", &db, "--quiet"]);
    let plan = |d: &str| {
        ok(&[
            "plan",
            "--as-of",
            d,
            "--db",
            &db,
            "--out",
            &w(&format!("plan-{d}")),
            "--log",
            &w("plan.jsonl"),
        ])
    };
    run("2026-12-01");
    plan("2026-12-01");

    // The plan's proposals wait for a decision: L1 and L4 (bad debt), not L2/L3 (late).
    let listed = ok(&["write-off", "proposals", "--db", &db]);
    let proposal_of = |loan: &str| -> String {
        listed
            .lines()
            .find(|l| l.contains(&format!("loan {loan} ")))
            .unwrap_or_else(|| panic!("no proposal of {loan}: {listed}"))
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned()
    };
    let (p1, p4) = (proposal_of("L1"), proposal_of("L4"));
    assert!(
        !listed.contains("loan L2 ") && !listed.contains("loan L3 "),
        "{listed}"
    );
    assert!(
        listed.contains("CNY 106.00") || listed.contains("106.00"),
        "{listed}"
    );

    let decide = |verb: &str, p: &str, who: (&str, &str), reason: &str| {
        as_user(
            &[
                "write-off",
                verb,
                p,
                "--reason",
                reason,
                "--user",
                who.0,
                "--password-stdin",
                "--db",
                &db,
            ],
            who.1,
        )
    };
    // An agent may not decide; a wrong password is refused; a blank reason is refused.
    let (done, _, err) = decide("approve", &p1, AGENT, "uncollectable");
    assert!(!done && err.contains("only a supervisor"), "{err}");
    let (done, _, err) = decide("approve", &p1, (SUP.0, "not the password"), "x");
    assert!(!done && err.contains("password is wrong"), "{err}");
    let (done, _, err) = decide("approve", &p1, SUP, "   ");
    assert!(!done && err.contains("needs a reason"), "{err}");
    // The supervisor approves L1: written off by component, all of it.
    let (done, out, err) = decide("approve", &p1, SUP, "deceased, no estate");
    assert!(done, "{err}");
    assert!(
        out.contains("approved by sam")
            && out.contains("10600 minor units")
            && out.contains("principal 10000, interest 500, fees 100, penalty 0"),
        "{out}"
    );
    let (done, _, err) = decide("reject", &p1, SUP, "again");
    assert!(!done && err.contains("already"), "{err}");
    let (done, out, err) = decide("reject", &p4, SUP, "borrower is paying again");
    assert!(done && out.contains("rejected by sam"), "{out}{err}");
    let all = ok(&["write-off", "proposals", "--all", "--db", &db]);
    assert!(
        all.contains("approved by sam: deceased, no estate")
            && all.contains("rejected by sam: borrower is paying again"),
        "{all}"
    );

    // The next day's run reports L1 written off; neither L1 nor L4 is proposed again.
    run("2026-12-02");
    plan("2026-12-02");
    let open = ok(&["write-off", "proposals", "--db", &db]);
    assert!(open.contains("No write-off proposals"), "{open}");
    let hist = ok(&["history", "--loan", "L1", "--db", &db]);
    assert!(
        hist.lines()
            .any(|l| l.contains("2026-12-02") && l.contains("written_off")),
        "{hist}"
    );

    // Settlements: within the limit (late, 122 dpd: 2000 bps, lump sum only).
    let offer = |loan: &str, bps: &str, n: &str, id: &str, who: (&str, &str)| {
        as_user(
            &[
                "settlement",
                "offer",
                "--loan",
                loan,
                "--discount-bps",
                bps,
                "--instalments",
                n,
                "--first-due",
                "2026-12-10",
                "--accept-by",
                "2026-12-05",
                "--id",
                id,
                "--on",
                "2026-12-02",
                "--user",
                who.0,
                "--password-stdin",
                "--db",
                &db,
            ],
            who.1,
        )
    };
    let (done, _, err) = offer("L2", "2500", "1", "S-too-much", AGENT);
    assert!(
        !done && err.contains("discount_bps") && err.contains("1..=2000"),
        "{err}"
    );
    let (done, _, err) = offer("L2", "2000", "2", "S-too-long", AGENT);
    assert!(
        !done && err.contains("instalments") && err.contains("1..=1"),
        "{err}"
    );
    let (done, _, err) = offer("L1", "1000", "1", "S-written-off", AGENT);
    assert!(!done && err.contains("written_off"), "{err}");
    // 10600 × 2000 / 10000 = 2120 off: pay 8480.
    let (done, out, err) = offer("L2", "2000", "1", "S2", AGENT);
    assert!(done, "{err}");
    assert!(
        out.contains("S2") && out.contains("offered") && out.contains("84.80"),
        "{out}"
    );
    let (done, _, err) = offer("L2", "1000", "1", "S2b", AGENT);
    assert!(
        !done && err.contains("S2"),
        "one live offer per loan: {err}"
    );
    // 10600 × 1000 / 10000 = 1060 off: pay 9540.
    let (done, _, err) = offer("L3", "1000", "1", "S3", AGENT);
    assert!(done, "{err}");
    let event = |verb: &str, id: &str, on: &str| {
        as_user(
            &[
                "settlement",
                verb,
                id,
                "--on",
                on,
                "--user",
                AGENT.0,
                "--password-stdin",
                "--db",
                &db,
            ],
            AGENT.1,
        )
    };
    for id in ["S2", "S3"] {
        let (done, out, err) = event("accept", id, "2026-12-03");
        assert!(
            done && out.contains("accepted on 2026-12-03 by alice"),
            "{out}{err}"
        );
    }
    let (done, _, err) = event("withdraw", "S2", "2026-12-03");
    assert!(!done && err.contains("accepted"), "{err}");

    // L2 pays the settlement on 2026-12-08; L3 pays only part of it.
    let feed = portfolio(&[(
        "payments.csv",
        "payment_id,loan_id,received_at,amount_minor\n\
         PS2,L2,2026-12-08T10:00:00+08:00,8480\n\
         PS3,L3,2026-12-08T10:00:00+08:00,5000\n",
    )]);
    import(feed.path());
    let out = ok(&["run", "--as-of", "2026-12-10", "--db", &db]);
    assert!(
        out.contains(
            "settlement S2 paid on 2026-12-08; the loan is closed, 2120 minor units written off"
        ),
        "{out}"
    );
    assert!(
        !out.contains("settlement S3"),
        "S3 is due on 12-10 itself: {out}"
    );
    let out = ok(&["run", "--as-of", "2026-12-11", "--db", &db]);
    assert!(
        out.contains("settlement S3 lapsed on 2026-12-11; nothing was forgiven"),
        "{out}"
    );
    let list = ok(&["settlement", "list", "--db", &db]);
    assert!(
        list.lines().any(|l| l
            .contains("paid on 2026-12-08 by daily-run (remainder written off: wo-settlement-S2)")),
        "{list}"
    );
    // Money: L2's payments + its write-off = its exposure; L3 keeps owing the rest.
    let hist = ok(&["history", "--loan", "L2", "--db", &db]);
    assert!(
        hist.lines()
            .any(|l| l.contains("2026-12-11") && l.contains("closed")),
        "{hist}"
    );
    let hist3 = ok(&["history", "--loan", "L3", "--db", &db]);
    let last3 = hist3
        .lines()
        .find(|l| l.contains("2026-12-11"))
        .unwrap_or_else(|| panic!("{hist3}"));
    assert!(
        last3.contains("delinquent") && last3.contains("56.00"),
        "10600 - 5000 still owed: {last3}"
    );
    // The report's late stage: settlements by status, the period's recoveries by route.
    let rep = work.path().join("report");
    ok(&[
        "report",
        "--from",
        "2026-12-01",
        "--to",
        "2026-12-11",
        "--db",
        &db,
        "--out",
        rep.to_str().unwrap(),
    ]);
    let csv = |f: &str| std::fs::read_to_string(rep.join(f)).unwrap();
    let st = csv("settlements.csv");
    assert!(
        st.lines().any(|l| l == "paid,CNY,1,10600,8480,2120,2120")
            && st.lines().any(|l| l == "lapsed,CNY,1,10600,9540,1060,0"),
        "{st}"
    );
    let routes = csv("recovery_by_route.csv");
    assert!(
        routes.lines().any(|l| l == "in_house,CNY,2,13480"),
        "{routes}"
    );
    let html = csv("report.html");
    assert!(
        html.contains("Settlements by status") && html.contains("Recovery by route"),
        "the late-stage sections"
    );
    // A second review changes nothing.
    let again = ok(&["settlement", "review", "--as-of", "2026-12-11", "--db", &db]);
    assert!(again.starts_with("0 settlements decided"), "{again}");
}
