//! `arrears rules show` and `arrears check` through the real binary.

use crate::{arrears, portfolio, text};

fn us_portfolio() -> tempfile::TempDir {
    portfolio(&[
        (
            "borrowers.csv",
            "borrower_id,name,phone,email,timezone,jurisdiction,deceased\nB1,Mary,+12125550100,m@example.com,America/New_York,US-NY,false\nB2,Tom,+12125550101,,America/New_York,US-NY,true\n",
        ),
        (
            "loans.csv",
            "loan_id,borrower_id,product,currency,principal_minor,annual_rate_bps,penalty_rate_bps,disbursed_on\nL1,B1,x,USD,1000,0,0,2026-01-01\nL2,B2,x,USD,1000,0,0,2026-01-01\n",
        ),
        (
            "installments.csv",
            "loan_id,seq,due_date,principal_minor,interest_minor,fee_minor\nL1,1,2026-10-01,1000,0,0\nL2,1,2026-10-01,1000,0,0\n",
        ),
        (
            "payments.csv",
            "payment_id,loan_id,received_at,amount_minor\n",
        ),
        (
            "contacts.csv",
            "contact_id,borrower_id,loan_id,channel,direction,at,outcome,target,party\nC1,B1,L1,call,outbound,2026-11-20T15:00:00Z,right_party,+12125550100,borrower\n",
        ),
        // The validation notice followed the first call (US-VALIDATION).
        (
            "notices.csv",
            "notice_id,borrower_id,loan_id,kind,sent_at,channel\nN1,B1,L1,validation,2026-11-20T16:00:00Z,letter\n",
        ),
    ])
}

fn check(p: &tempfile::TempDir, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["check", "--portfolio", p.path().to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = arrears(&args);
    assert!(o.status.success(), "{}", text(&o.stderr));
    serde_json::from_str(&text(&o.stdout)).unwrap()
}

#[test]
fn check_answers_with_rule_ids_and_the_earliest_instant() {
    let p = us_portfolio();
    let call = |at: &str| {
        check(
            &p,
            &[
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
            ],
        )
    };
    // 20:59 EST is allowed, 21:00 is not, and 08:00 EST the next morning is the earliest.
    assert_eq!(call("2026-11-28T01:59:00Z")["decision"], "allow");
    let denied = call("2026-11-28T02:00:00Z");
    assert_eq!(denied["decision"], "deny");
    assert_eq!(denied["rule_ids"], serde_json::json!(["US-HOURS"]));
    assert_eq!(denied["earliest_allowed"], "2026-11-28T13:00:00Z");
    // The conversation on 11-20 blocks calls about that debt for 7 days (11-20 is day 1).
    let quiet = call("2026-11-24T15:00:00Z");
    assert_eq!(quiet["decision"], "deny");
    assert!(
        quiet["rule_ids"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "US-7IN7"),
        "{quiet}"
    );
    assert_eq!(quiet["earliest_allowed"], "2026-11-27T13:00:00Z");
    // An address-book number is never contactable; waiting does not help.
    let third = check(
        &p,
        &[
            "--borrower",
            "B1",
            "--channel",
            "call",
            "--target",
            "+12125550199",
            "--party",
            "address_book",
            "--at",
            "2026-11-30T15:00:00Z",
        ],
    );
    assert_eq!(third["decision"], "deny");
    assert!(
        third["rule_ids"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "ALL-ONLY-DEBTOR")
    );
    assert_eq!(third["earliest_allowed"], serde_json::Value::Null);
    // A deceased borrower gets no collection contact.
    let dead = check(
        &p,
        &[
            "--borrower",
            "B2",
            "--channel",
            "call",
            "--target",
            "+12125550101",
            "--at",
            "2026-11-30T15:00:00Z",
        ],
    );
    assert_eq!(dead["decision"], "deny");
    assert!(
        dead["rule_ids"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "ALL-HOLD-DECEASED")
    );
}

#[test]
fn check_refuses_bad_input_with_exit_2() {
    let p = us_portfolio();
    let o = arrears(&[
        "check",
        "--portfolio",
        p.path().to_str().unwrap(),
        "--borrower",
        "B9",
        "--channel",
        "call",
        "--at",
        "2026-11-30T15:00:00Z",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("B9"));
    let o = arrears(&[
        "check",
        "--portfolio",
        p.path().to_str().unwrap(),
        "--borrower",
        "B1",
        "--channel",
        "pigeon",
        "--at",
        "2026-11-30T15:00:00Z",
    ]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn rules_show_lists_every_rule_with_its_source() {
    for (j, must) in [
        ("CN", "CN-FREQ-CONNECTED"),
        ("US-NY", "US-7IN7"),
        ("GB", "GB-BREATHING-SPACE"),
    ] {
        let o = arrears(&["rules", "show", j]);
        assert!(o.status.success(), "{}", text(&o.stderr));
        let t = text(&o.stdout);
        assert!(
            t.contains(must) && t.contains("ALL-CONTENT") && t.contains("source:"),
            "{j}: {t}"
        );
    }
    let o = arrears(&["rules", "show", "CN", "--toml"]);
    assert!(text(&o.stdout).contains("2400"));
    assert_eq!(arrears(&["rules", "show", "XX"]).status.code(), Some(2));
}

/// An outcome word the vocabulary does not know never makes a call count less: seven calls
/// logged as `busy` are seven attempts, so an eighth in the same 7 days is denied (US-7IN7).
#[test]
fn calls_with_unknown_outcomes_count_as_attempts() {
    let mut contacts =
        String::from("contact_id,borrower_id,loan_id,channel,direction,at,outcome,target,party\n");
    for d in 22..=28 {
        contacts.push_str(&format!(
            "C{d},B1,L1,call,outbound,2026-11-{d}T15:00:00Z,busy,+12125550100,borrower\n"
        ));
    }
    let base = us_portfolio();
    let p = portfolio(&[
        (
            "borrowers.csv",
            &std::fs::read_to_string(base.path().join("borrowers.csv")).unwrap(),
        ),
        (
            "loans.csv",
            &std::fs::read_to_string(base.path().join("loans.csv")).unwrap(),
        ),
        (
            "installments.csv",
            &std::fs::read_to_string(base.path().join("installments.csv")).unwrap(),
        ),
        (
            "payments.csv",
            "payment_id,loan_id,received_at,amount_minor\n",
        ),
        ("contacts.csv", &contacts),
        (
            "notices.csv",
            &std::fs::read_to_string(base.path().join("notices.csv")).unwrap(),
        ),
    ]);
    let at = |t: &str| {
        check(
            &p,
            &[
                "--borrower",
                "B1",
                "--loan",
                "L1",
                "--channel",
                "call",
                "--target",
                "+12125550100",
                "--at",
                t,
            ],
        )
    };
    let eighth = at("2026-11-28T16:00:00Z");
    assert_eq!(eighth["decision"], "deny", "{eighth}");
    assert!(
        eighth["rule_ids"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "US-7IN7"),
        "{eighth}"
    );
    // The window slides: once the 11-22 attempt is 7 days old, a call is allowed again.
    assert_eq!(
        eighth["earliest_allowed"], "2026-11-29T15:00:00Z",
        "{eighth}"
    );
}

/// The lender's policy is set once in file mode, by `--policy` or by arrears.toml's `policy`,
/// and a policy that would loosen a pack is refused wherever it is used.
#[test]
fn the_policy_of_arrears_toml_decides_and_a_looser_one_is_refused() {
    let p = portfolio(&[
        (
            "borrowers.csv",
            "borrower_id,name,phone,timezone,jurisdiction\nB1,Li,+8613800138000,Asia/Shanghai,CN\n",
        ),
        (
            "loans.csv",
            "loan_id,borrower_id,product,currency,principal_minor,annual_rate_bps,penalty_rate_bps,disbursed_on\nL1,B1,x,CNY,100000,1000,3000,2026-01-01\n",
        ),
        (
            "installments.csv",
            "loan_id,seq,due_date,principal_minor,interest_minor,fee_minor\nL1,1,2026-10-01,100000,0,0\n",
        ),
        (
            "payments.csv",
            "payment_id,loan_id,received_at,amount_minor\n",
        ),
    ]);
    let dir = p.path();
    std::fs::write(
        dir.join("lender.toml"),
        "[policy]\nname = \"acme\"\n[rules.\"CN-HOURS\"]\nend = \"21:00\"\n[rules.\"CN-COST\"]\nmax_annual_cost_bps = 1800\n",
    )
    .unwrap();
    std::fs::write(dir.join("arrears.toml"), "policy = \"lender.toml\"\n").unwrap();
    let at_2130 = [
        "--borrower",
        "B1",
        "--loan",
        "L1",
        "--channel",
        "call",
        "--target",
        "+8613800138000",
        "--at",
        "2026-11-20T21:30:00+08:00",
    ];
    assert_eq!(
        check(&p, &at_2130)["decision"],
        "allow",
        "the floor is 22:00"
    );
    let config = dir.join("arrears.toml");
    let mut with_config = at_2130.to_vec();
    with_config.extend(["--config", config.to_str().unwrap()]);
    let d = check(&p, &with_config);
    assert_eq!(d["rule_ids"], serde_json::json!(["CN-HOURS"]), "{d}");
    // The daily run caps the penalty at the policy's 1800 bps (1000 contractual + 800).
    let out = tempfile::tempdir().unwrap();
    let o = arrears(&[
        "run",
        "--portfolio",
        dir.to_str().unwrap(),
        "--as-of",
        "2026-11-30",
        "--out",
        out.path().to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let accounts = std::fs::read_to_string(out.path().join("accounts.csv")).unwrap();
    // 100000 overdue from 10-02 to 11-30 (60 days) at 800 bps: 100000*60*800/3650000 = 1315.07 -> 1315.
    let l1: Vec<&str> = accounts.lines().nth(1).unwrap().split(',').collect();
    assert_eq!((l1[14], l1[16]), ("1315", "true"), "{accounts}");
    // A policy that loosens CN-HOURS is refused, naming the rule and the values.
    std::fs::write(
        dir.join("lender.toml"),
        "[policy]\nname = \"loose\"\n[rules.\"CN-HOURS\"]\nend = \"23:00\"\n",
    )
    .unwrap();
    let mut args = vec!["check", "--portfolio", dir.to_str().unwrap()];
    args.extend_from_slice(&with_config);
    let o = arrears(&args);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stdout));
    let err = text(&o.stderr);
    assert!(
        err.contains("CN-HOURS") && err.contains("23:00") && err.contains("22:00"),
        "{err}"
    );
}
