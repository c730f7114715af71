//! Write-off approvals and settlements on the pages, against the real server (SQLite and
//! PostgreSQL; docs/settlement.md): the plan of the store proposes write-offs; the page
//! `/write-offs` is for managers (an agent gets 403), a decision needs the session's CSRF
//! token and a reason, and an approval is recorded as the signed-in supervisor; an agent
//! offers a settlement of their own loan within the policy's limit (beyond it 422, another
//! agent's loan 403); the borrower sees the offer on the portal and accepts it (another
//! borrower cannot); the API lists it.

use super::{PASSWORD, csrf, element, get, login, portal_session, post, run_on};
use crate::server::{add_user, ok, spawn_app};
use crate::store::{Backend, fresh};
use crate::text;

/// `GET path` with a bearer token; the JSON answer (200 asserted).
fn get_json(base: &str, token: &str, path: &str) -> serde_json::Value {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = agent
        .get(format!("{base}{path}"))
        .header("Authorization", &format!("Bearer {token}"))
        .call()
        .expect("answered");
    let status = r.status().as_u16();
    let raw = r.body_mut().read_to_string().unwrap();
    assert_eq!(status, 200, "{path}: {raw}");
    serde_json::from_str(&raw).unwrap()
}

const POLICY: &str = "[policy]
name = \"acme-pages\"
[[settlement]]
min_dpd = 30
max_discount_bps = 3000
max_instalments = 3
";

#[test]
fn a_supervisor_approves_a_write_off_and_a_borrower_accepts_a_settlement() {
    for b in [Backend::Sqlite, Backend::Postgres] {
        let Some(db) = fresh(b) else { continue };
        let work = tempfile::tempdir().unwrap();
        let policy = work.path().join("policy.toml");
        std::fs::write(&policy, POLICY).unwrap();
        ok(&[
            "policy",
            "set",
            policy.to_str().unwrap(),
            "--effective-from",
            "2026-01-01",
            "--db",
            &db.target,
        ]);
        let s = spawn_app(db, &[]);
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
        // L1 and L2 (100000 USD due 2026-10-01, US-NY) are past the US charge-off threshold
        // of 120 days on 2027-03-01: the plan with the store proposes both for write-off.
        run_on(&s, "2027-03-01");
        ok(&[
            "plan",
            "--as-of",
            "2027-03-01",
            "--db",
            &s.db.target,
            "--out",
            work.path().join("plan").to_str().unwrap(),
            "--log",
            work.path().join("plan.jsonl").to_str().unwrap(),
        ]);

        let alice = login(&s, "alice");
        assert_eq!(get(&s, "/write-offs", Some(&alice)).status, 403);
        let sue = login(&s, "sue");
        let page = get(&s, "/write-offs", Some(&sue));
        assert_eq!(page.status, 200, "{}", page.body);
        let open = element(&page.body, "table", "open-proposals");
        let row_of = |table: &str, loan: &str| -> String {
            table
                .split("<tr")
                .find(|r| r.contains(&format!("data-loan=\"{loan}\"")))
                .unwrap_or_else(|| panic!("{loan} in {table}"))
                .to_owned()
        };
        let l2 = row_of(open, "L2");
        assert!(
            l2.contains("$1,000.00") || l2.contains("1,000.00") || l2.contains("1000.00"),
            "{l2}"
        );
        let proposal = l2
            .split("data-proposal=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_owned();
        let path = format!("/write-offs/{proposal}");
        // No CSRF token: refused; no reason: refused; an agent's session: refused.
        let p = post(
            &s,
            &path,
            Some(&sue),
            &[("decision", "approve"), ("reason", "x")],
        );
        assert_eq!(p.status, 403, "{}", p.body);
        let p = post(
            &s,
            &path,
            Some(&sue),
            &[
                ("csrf", &csrf(&page)),
                ("decision", "approve"),
                ("reason", " "),
            ],
        );
        assert_eq!(p.status, 422, "{}", p.body);
        let alice_page = get(&s, "/", Some(&alice));
        let p = post(
            &s,
            &path,
            Some(&alice),
            &[
                ("csrf", &csrf(&alice_page)),
                ("decision", "approve"),
                ("reason", "x"),
            ],
        );
        assert_eq!(p.status, 403, "{}", p.body);
        let p = post(
            &s,
            &path,
            Some(&sue),
            &[
                ("csrf", &csrf(&page)),
                ("decision", "approve"),
                ("reason", "no contact for 150 days"),
            ],
        );
        assert_eq!(p.status, 303, "{}", p.body);
        let after = get(&s, "/write-offs", Some(&sue));
        let decided = element(&after.body, "table", "decided-proposals");
        assert!(
            decided.contains("Approved · sue") && decided.contains("no contact for 150 days"),
            "{decided}"
        );
        let p = post(
            &s,
            &path,
            Some(&sue),
            &[
                ("csrf", &csrf(&page)),
                ("decision", "reject"),
                ("reason", "again"),
            ],
        );
        assert_eq!(p.status, 409, "decided once: {}", p.body);
        // The API lists the decision, written off by component.
        let reader = ok(&[
            "tokens",
            "create",
            "--name",
            "reader",
            "--scope",
            "read",
            "--db",
            &s.db.target,
        ])
        .trim()
        .to_owned();
        let api = get_json(&s.base, &reader, "/v1/write-off-proposals");
        let mine = api["proposals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["proposal_id"] == proposal.as_str())
            .unwrap()
            .clone();
        assert_eq!(mine["decision"], "approved", "{api}");
        assert_eq!(mine["decided_by"], "sue");
        assert_eq!(mine["principal_minor"], "100000");

        // A settlement of L1: the limit is shown; beyond it 422; bob may not touch L1.
        let sp = get(&s, "/accounts/L1/settlement", Some(&alice));
        assert_eq!(sp.status, 200, "{}", sp.body);
        assert!(sp.body.contains("3000 bps"), "{}", sp.body);
        let offer = |cookie: &str, page: &super::Page, bps: &str| {
            post(
                &s,
                "/accounts/L1/settlements",
                Some(cookie),
                &[
                    ("csrf", &csrf(page)),
                    ("discount_bps", bps),
                    ("instalments", "1"),
                    ("first_due", "2099-06-15"),
                    ("accept_by", "2099-06-01"),
                ],
            )
        };
        assert_eq!(offer(&alice, &sp, "3500").status, 422);
        let bob = login(&s, "bob");
        let bob_page = get(&s, "/", Some(&bob));
        assert_eq!(offer(&bob, &bob_page, "1000").status, 403);
        let p = offer(&alice, &sp, "2500");
        assert_eq!(p.status, 303, "{}", p.body);
        let listed = get(&s, "/accounts/L1/settlement", Some(&alice));
        let table = element(&listed.body, "table", "settlements");
        assert!(
            table.contains("$750.00") || table.contains("750.00"),
            "{table}"
        );
        let id = table
            .split("data-settlement=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_owned();

        // The borrower sees it and accepts it; another borrower cannot.
        let b2 = portal_session(&s, "B2");
        let b2_page = get(&s, "/portal/b/B2", Some(&b2));
        let p = post(
            &s,
            &format!("/portal/b/B2/settlements/{id}/accept"),
            Some(&b2),
            &[("csrf", &csrf(&b2_page))],
        );
        assert_eq!(p.status, 403, "{}", p.body);
        let b1 = portal_session(&s, "B1");
        let portal = get(&s, "/portal/b/B1", Some(&b1));
        let offers = element(&portal.body, "table", "portal-settlements");
        assert!(
            offers.contains("Accept this offer") && offers.contains("750.00"),
            "{offers}"
        );
        let p = post(
            &s,
            &format!("/portal/b/B1/settlements/{id}/accept"),
            Some(&b1),
            &[("csrf", &csrf(&portal))],
        );
        assert_eq!(p.status, 303, "{}", p.body);
        let portal = get(&s, "/portal/b/B1?done=settlement", Some(&b1));
        let offers = element(&portal.body, "table", "portal-settlements");
        assert!(
            offers.contains("Accepted") && !offers.contains("Accept this offer"),
            "{offers}"
        );
        let api = get_json(&s.base, &reader, "/v1/loans/L1/settlements");
        assert_eq!(api["settlements"][0]["status"], "accepted", "{api}");
        assert_eq!(api["settlements"][0]["amount_minor"], "75000", "{api}");
        assert_eq!(
            api["settlements"][0]["events"][0]["actor"], "borrower:B1",
            "{api}"
        );
        // The dashboard's late stage counts the accepted settlement.
        let dash = get(&s, "/dashboard", Some(&sue));
        assert_eq!(dash.status, 200, "{}", dash.body);
        let late = element(&dash.body, "table", "late-settlements");
        let row = late
            .split("<tr")
            .find(|r| r.contains("data-status=\"accepted\""))
            .unwrap_or_else(|| panic!("{late}"));
        assert!(
            row.contains("<td class=\"count\">1</td>") && row.contains("750.00"),
            "{row}"
        );
        assert!(dash.body.contains("late_settlements"), "the chart is drawn");
    }
}

/// Headless Chromium (issue 15's browser acceptance): a supervisor approves a referral and a
/// write-off on their pages; the borrower, in the portal, accepts a settlement offer and sees
/// the lines the month's credit-bureau file said about them.
#[test]
fn browser_a_supervisor_approves_a_referral_and_a_write_off_and_a_borrower_settles() {
    let Some(s) = super::setup(Backend::Sqlite, &[]) else {
        return;
    };
    let t = s.db.target.clone();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap().to_owned();
    std::fs::write(
        dir.path().join("policy.toml"),
        "[policy]\nname = \"browser-late\"\n[limitation_years]\nUS = 6\n\
         [[settlement]]\nmin_dpd = 91\nmax_discount_bps = 2000\n",
    )
    .unwrap();
    ok(&[
        "policy",
        "set",
        &format!("{d}/policy.toml"),
        "--effective-from",
        "2020-01-01",
        "--db",
        &t,
    ]);
    // B1 was told their loans are reported to credit bureaus.
    let feed = crate::portfolio(&[
        (
            "payments.csv",
            "payment_id,loan_id,received_at,amount_minor\n",
        ),
        (
            "notices.csv",
            "notice_id,borrower_id,loan_id,kind,sent_at,channel\n\
             NB1,B1,,credit_reporting,2026-09-01T15:00:00Z,letter\n",
        ),
    ]);
    super::import_feed(&s, feed.path());
    // 2027-02-01: L1 and L2 are 123 days past due: the plans propose both for legal review
    // (after the final notice the day before) and, past US-CHARGEOFF, for write-off.
    run_on(&s, "2027-02-01");
    ok(&["keys", "init", "--dir", &format!("{d}/keys")]);
    for on in ["2027-01-31", "2027-02-01"] {
        ok(&[
            "plan",
            "--as-of",
            on,
            "--db",
            &t,
            "--keys",
            &format!("{d}/keys"),
            "--log",
            &format!("{d}/audit.jsonl"),
            "--out",
            &format!("{d}/plan-{on}"),
        ]);
    }
    let proposals = ok(&["write-off", "proposals", "--db", &t]);
    let wo = proposals
        .lines()
        .find(|l| l.contains("loan L2 "))
        .unwrap_or_else(|| panic!("{proposals}"))
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    // The month's bureau file, and an agent's settlement offer on L1 (20% off).
    ok(&[
        "bureau",
        "report",
        "--month",
        "2027-01",
        "--db",
        &t,
        "--out",
        &format!("{d}/bureau"),
    ]);
    let (done, _, err) = crate::arrears_with_stdin(
        &[
            "settlement",
            "offer",
            "--loan",
            "L1",
            "--discount-bps",
            "2000",
            "--first-due",
            "2099-03-01",
            "--accept-by",
            "2099-02-20",
            "--id",
            "S-L1",
            "--user",
            "alice",
            "--password-stdin",
            "--db",
            &t,
        ],
        PASSWORD,
    );
    assert!(done, "{err}");
    // The server reloads the lender's policy every 5 seconds.
    std::thread::sleep(std::time::Duration::from_secs(6));
    let (link, _) = super::portal_link(&s, "B1");
    let wo2 = wo.clone();
    super::in_browser(&s, move |c, s| {
        Box::pin(async move {
            use super::{click, cmd, css_text_until, sign_in, type_in};
            sign_in(c, s, "sue").await?;
            // The referral of L1: approved with a reason.
            c.goto(&format!("{}/referrals", s.base))
                .await
                .map_err(cmd)?;
            let row = "tr[data-referral=\"LR-2027-02-01-L1\"]";
            type_in(
                c,
                &format!("{row} input.reason"),
                "judgment likely, assets known",
            )
            .await?;
            click(c, &format!("{row} button.approve")).await?;
            css_text_until(c, "#decided-referrals", |t| {
                t.contains("judgment likely, assets known")
            })
            .await?;
            // The write-off of L2: approved with a reason.
            c.goto(&format!("{}/write-offs", s.base))
                .await
                .map_err(cmd)?;
            let row = format!("tr[data-proposal=\"{wo2}\"]");
            type_in(c, &format!("{row} input.reason"), "uncollectable, 123 days").await?;
            click(c, &format!("{row} button.approve")).await?;
            css_text_until(c, "#decided-proposals", |t| {
                t.contains("Approved · sue") && t.contains("uncollectable, 123 days")
            })
            .await?;
            // The borrower accepts the settlement and reads their credit report lines.
            c.goto(&link).await.map_err(cmd)?;
            click(c, "#continue").await?;
            css_text_until(c, "#portal-settlements", |t| {
                t.contains("Accept this offer")
            })
            .await?;
            click(c, "tr[data-settlement=\"S-L1\"] button.accept-settlement").await?;
            css_text_until(c, "#portal-settlements", |t| {
                t.contains("Accepted") && !t.contains("Accept this offer")
            })
            .await?;
            css_text_until(c, "#bureau-lines", |t| {
                t.contains("2027-01") && t.contains("L1")
            })
            .await?;
            Ok(())
        })
    });
    // What the browser did is on record.
    let all = ok(&["write-off", "proposals", "--all", "--db", &t]);
    assert!(
        all.contains("approved by sue: uncollectable, 123 days"),
        "{all}"
    );
    let list = ok(&["settlement", "list", "--loan", "L1", "--db", &t]);
    assert!(
        list.contains("accepted on") && list.contains("borrower:B1"),
        "{list}"
    );
}
