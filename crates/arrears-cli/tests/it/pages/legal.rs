//! The court path on the pages (docs/legal.md), both backends: the plan's referral proposals
//! on the supervisor's `/referrals` page (agents refused, CSRF required, a reason required),
//! approved and rejected there as the signed-in supervisor (the decision names them); the
//! approved referral filed and judged with a measure; the borrower's portal then shows the
//! real case (court, case number, status, amount awarded, the measure) in English and Chinese,
//! and a borrower without a case sees no court section.

use super::{get, login, on_both, portal_session, post, run_on};
use crate::server::ok;

fn referral_row<'a>(body: &'a str, id: &str) -> &'a str {
    let marker = format!("data-referral=\"{id}\"");
    let i = body
        .find(&marker)
        .unwrap_or_else(|| panic!("{id} in {body}"));
    let end = body[i..].find("</tr>").map_or(body.len(), |e| i + e);
    &body[i..end]
}

#[test]
fn a_supervisor_decides_referrals_on_the_page_and_the_borrower_sees_the_real_case() {
    on_both(|s| {
        let t = &s.db.target;
        let dir = tempfile::tempdir().unwrap();
        let policy = dir.path().join("policy.toml");
        std::fs::write(
            &policy,
            "[policy]\nname = \"pages-legal\"\n[limitation_years]\nUS = 6\n",
        )
        .unwrap();
        ok(&[
            "policy",
            "set",
            policy.to_str().unwrap(),
            "--effective-from",
            "2020-01-01",
            "--db",
            t,
        ]);
        // 2027-02-01: both loans 123 days past due, late. The strategy's first rule for a late
        // loan is the final notice letter, planned (signed, logged) the day before; then the
        // plan comes to the legal review of both.
        run_on(s, "2027-02-01");
        let d = dir.path().to_str().unwrap();
        ok(&["keys", "init", "--dir", &format!("{d}/keys")]);
        let plan = |on: &str| {
            ok(&[
                "plan",
                "--as-of",
                on,
                "--db",
                t,
                "--keys",
                &format!("{d}/keys"),
                "--log",
                &format!("{d}/audit.jsonl"),
                "--out",
                &format!("{d}/plan-{on}"),
            ])
        };
        plan("2027-01-31");
        let out = plan("2027-02-01");
        assert!(out.contains("legal referrals: 2 proposed"), "{out}");
        // The server reloads the lender's policy every 5 seconds (POLICY_REFRESH): the
        // limitation period set above must be in force there before an approval is checked.
        std::thread::sleep(std::time::Duration::from_secs(6));

        let alice = login(s, "alice");
        assert_eq!(get(s, "/referrals", Some(&alice)).status, 403);
        let sue = login(s, "sue");
        let p = get(s, "/referrals", Some(&sue));
        assert_eq!(p.status, 200, "{}", p.body);
        let row = referral_row(&p.body, "LR-2027-02-01-L1");
        assert!(row.contains("1,000.00") || row.contains("1000.00"), "{row}");
        let token = super::csrf(&p);
        let path = "/referrals/LR-2027-02-01-L1";
        // No CSRF token, no reason: nothing recorded.
        let r = post(
            s,
            path,
            Some(&sue),
            &[("decision", "approve"), ("reason", "x")],
        );
        assert_eq!(r.status, 403, "{}", r.body);
        let r = post(
            s,
            path,
            Some(&sue),
            &[("csrf", &token), ("decision", "approve"), ("reason", "  ")],
        );
        assert_eq!(r.status, 422, "{}", r.body);
        let r = post(
            s,
            path,
            Some(&alice),
            &[("csrf", &token), ("decision", "approve"), ("reason", "x")],
        );
        assert_eq!(r.status, 403, "another session's token: {}", r.body);
        let r = post(
            s,
            path,
            Some(&sue),
            &[
                ("csrf", &token),
                ("decision", "approve"),
                ("reason", "no contact for 4 months"),
            ],
        );
        assert_eq!(r.status, 303, "{}", r.body);
        let r = post(
            s,
            "/referrals/LR-2027-02-01-L2",
            Some(&sue),
            &[
                ("csrf", &token),
                ("decision", "reject"),
                ("reason", "hardship call booked"),
            ],
        );
        assert_eq!(r.status, 303, "{}", r.body);
        let p = get(s, "/referrals", Some(&sue));
        assert!(p.body.contains("id=\"no-referrals\""), "{}", p.body);
        let row = referral_row(&p.body, "LR-2027-02-01-L1");
        assert!(
            row.contains("Approved · sue") && row.contains("no contact for 4 months"),
            "{row}"
        );
        let row = referral_row(&p.body, "LR-2027-02-01-L2");
        assert!(row.contains("Rejected · sue"), "{row}");
        let zh = get(s, "/referrals?lang=zh-CN", Some(&sue));
        assert!(
            zh.body.contains("诉讼移交") && zh.body.contains("已批准 · sue"),
            "{}",
            zh.body
        );
        let listed = ok(&["legal", "referrals", "--status", "approved", "--db", t]);
        assert!(
            listed.contains("LR-2027-02-01-L1\tL1\tB1\t2027-02-01\t100000\tUSD\tapproved\tsue"),
            "{listed}"
        );

        // Filed, judged, a measure: the borrower's portal shows the real case.
        ok(&[
            "legal",
            "file",
            "--referral",
            "LR-2027-02-01-L1",
            "--case",
            "C1",
            "--court",
            "New York County Civil Court",
            "--case-number",
            "CV-2027-0042",
            "--db",
            t,
        ]);
        ok(&[
            "legal",
            "judgment",
            "--case",
            "C1",
            "--amount-awarded-minor",
            "95000",
            "--on",
            "2027-03-01",
            "--db",
            t,
        ]);
        ok(&[
            "legal",
            "measure",
            "--case",
            "C1",
            "--measure",
            "M1",
            "--kind",
            "account_freeze",
            "--on",
            "2027-03-02",
            "--authority",
            "NYC Marshal",
            "--status",
            "in_force",
            "--db",
            t,
        ]);
        let b1 = portal_session(s, "B1");
        let p = get(s, "/portal/b/B1", Some(&b1));
        assert_eq!(p.status, 200, "{}", p.body);
        for want in [
            "id=\"legal-cases\"",
            "New York County Civil Court",
            "CV-2027-0042",
            "Judgment given",
            "950.00",
            "2027-03-01",
            "Bank account frozen · 2027-03-02 · NYC Marshal · In force",
        ] {
            assert!(
                p.body.contains(want),
                "{want:?} not on the portal:\n{}",
                p.body
            );
        }
        let p = get(s, "/portal/b/B1?lang=zh-CN", Some(&b1));
        assert!(
            p.body.contains("已判决") && p.body.contains("冻结银行账户"),
            "{}",
            p.body
        );
        let b2 = portal_session(s, "B2");
        let p = get(s, "/portal/b/B2", Some(&b2));
        assert_eq!(p.status, 200);
        assert!(
            !p.body.contains("id=\"legal-cases\""),
            "no case, no court section"
        );
    });
}
