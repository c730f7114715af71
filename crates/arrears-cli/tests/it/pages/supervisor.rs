//! The supervisor's views (issue 19, item 3): the whole queue with paging, filters and the
//! agent column; allocation in bulk, by rule and by rebalancing an absent agent (supervisors
//! only, one transaction with an access-log entry per loan); the dashboard's labelled
//! promise line, chart titles and units, words for category codes, the strategy comparison
//! saying what it needs; the compliance view by business date; and in headless Chromium,
//! chart labels that do not overlap and a bulk assignment through the form.

use super::{
    PASSWORD, click, client, contacts_token, csrf, css_text_until, element, get, import_feed,
    in_browser, login, on_both, post, run_on, setup, sign_in,
};
use crate::portfolio;
use crate::server::{Server, add_user, store_of};
use crate::store::Backend;
use crate::text;

const DAY: &str = "2026-11-28";

/// Five more borrowers and loans like L1 and L2 (USD 1,000.00 due on 2026-10-01, unpaid,
/// validation notice sent): L3 and L4 of borrowers in Texas, L5–L7 in New York. None is
/// assigned.
fn more_loans(s: &Server) {
    let mut borrowers =
        String::from("borrower_id,name,phone,email,timezone,jurisdiction,deceased\n");
    let mut loans = String::from(
        "loan_id,borrower_id,product,currency,principal_minor,annual_rate_bps,penalty_rate_bps,disbursed_on\n",
    );
    let mut installments =
        String::from("loan_id,seq,due_date,principal_minor,interest_minor,fee_minor\n");
    let mut notices = String::from("notice_id,borrower_id,loan_id,kind,sent_at,channel\n");
    for i in 3..=7 {
        let (tz, j) = if i <= 4 {
            ("America/Chicago", "US-TX")
        } else {
            ("America/New_York", "US-NY")
        };
        borrowers.push_str(&format!("B{i},P{i},+1212555010{i},,{tz},{j},false\n"));
        loans.push_str(&format!("L{i},B{i},x,USD,100000,0,0,2026-01-01\n"));
        installments.push_str(&format!("L{i},1,2026-10-01,100000,0,0\n"));
        notices.push_str(&format!(
            "N{i},B{i},L{i},validation,2026-11-21T15:00:00Z,letter\n"
        ));
    }
    let feed = portfolio(&[
        ("borrowers.csv", &borrowers),
        ("loans.csv", &loans),
        ("installments.csv", &installments),
        (
            "payments.csv",
            "payment_id,loan_id,received_at,amount_minor\n",
        ),
        ("notices.csv", &notices),
    ]);
    import_feed(s, feed.path());
}

/// The loans of the queue table's rows, in order.
fn queue_loans(body: &str) -> Vec<String> {
    body.split("<tr class=\"task\" data-loan=\"")
        .skip(1)
        .filter_map(|r| r.split_once('"').map(|(l, _)| l.to_owned()))
        .collect()
}

/// The agent cell of a loan's row.
fn agent_of(body: &str, loan: &str) -> String {
    let marker = format!("data-loan=\"{loan}\"");
    let i = body
        .find(&marker)
        .unwrap_or_else(|| panic!("no row {loan}"));
    let row = &body[i..i + body[i..].find("</tr>").unwrap()];
    let cell = row.split("<td class=\"agent\">").nth(1).unwrap();
    cell.split("</td>").next().unwrap().to_owned()
}

fn assignee(s: &Server, loan: &str) -> Option<String> {
    let (rt, store) = store_of(s);
    rt.block_on(store.assignee(loan)).unwrap()
}

/// The (actor, action) entries of the access log of a borrower whose action starts with
/// `assign.`.
fn allocations_logged(s: &Server, borrower: &str) -> Vec<(String, String)> {
    let (rt, store) = store_of(s);
    rt.block_on(store.access_log(borrower))
        .unwrap()
        .into_iter()
        .filter(|a| a.action.starts_with("assign."))
        .map(|a| (a.actor, a.action))
        .collect()
}

#[test]
fn the_whole_queue_pages_filters_and_names_the_agent() {
    on_both(|s| {
        more_loans(s);
        let sue = login(s, "sue");
        let all = get(s, &format!("/queue?date={DAY}&per=500"), Some(&sue));
        assert_eq!(all.status, 200, "{}", all.body);
        let every = queue_loans(&all.body);
        for l in ["L1", "L2", "L3", "L4", "L5", "L6", "L7"] {
            assert!(every.iter().any(|x| x == l), "{l} in {every:?}");
        }
        let n = every.len();
        assert!(
            all.body.contains(&format!("rows 1–{n} of {n}")),
            "{}",
            element(&all.body, "p", "row-range")
        );
        // The agent column, from the assignments.
        assert!(agent_of(&all.body, "L1").contains("alice"));
        assert!(agent_of(&all.body, "L2").contains("bob"));
        assert!(agent_of(&all.body, "L5").contains("unassigned"));
        // Paging: two rows a page, the same rows in the same order, none twice, none lost.
        let mut paged = Vec::new();
        let mut path = format!("/queue?date={DAY}&per=2");
        for page in 1.. {
            let p = get(s, &path, Some(&sue));
            assert_eq!(p.status, 200, "{}", p.body);
            let rows = queue_loans(&p.body);
            let first = (page - 1) * 2 + 1;
            let range = format!("rows {first}–{} of {n}", first + rows.len() - 1);
            assert!(
                p.body.contains(&range),
                "{range} at {path}: {}",
                element(&p.body, "p", "row-range")
            );
            assert!(rows.len() <= 2);
            paged.extend(rows);
            let Some(i) = p.body.find("id=\"next-page\"") else {
                break;
            };
            let href = p.body[..i].rsplit_once("href=\"").unwrap().1;
            path = href
                .split('"')
                .next()
                .unwrap()
                .replace("&amp;", "&")
                .replace("&#38;", "&")
                .replace("&#x2f;", "/")
                .replace("&#47;", "/");
            assert!(path.contains(&format!("page={}", page + 1)), "{path}");
            assert!(page < 10, "paging does not end");
        }
        assert_eq!(paged, every);
        // A page past the end shows the last page, not nothing.
        let past = get(s, &format!("/queue?date={DAY}&per=2&page=99"), Some(&sue));
        assert!(!queue_loans(&past.body).is_empty());
        // Filters: agent, unassigned, jurisdiction, stage, queue.
        let alice = get(s, &format!("/queue?date={DAY}&agent=alice"), Some(&sue));
        assert_eq!(queue_loans(&alice.body), ["L1"]);
        assert!(alice.body.contains("rows 1–1 of 1"));
        let free = queue_loans(&get(s, &format!("/queue?date={DAY}&agent=-"), Some(&sue)).body);
        assert!(!free.contains(&"L1".to_owned()) && !free.contains(&"L2".to_owned()));
        assert_eq!(free.len(), n - 2, "{free:?}");
        let tx = queue_loans(
            &get(
                s,
                &format!("/queue?date={DAY}&jurisdiction=US-TX"),
                Some(&sue),
            )
            .body,
        );
        assert_eq!(tx, ["L3", "L4"]);
        let none = get(s, &format!("/queue?date={DAY}&stage=bad_debt"), Some(&sue));
        assert!(queue_loans(&none.body).is_empty());
        assert!(
            none.body.contains("No call task of this plan matches"),
            "{}",
            none.body
        );
        let mid = queue_loans(&get(s, &format!("/queue?date={DAY}&stage=mid"), Some(&sue)).body);
        assert_eq!(mid, every, "every loan is 58 days late: stage mid");
        // Stage names in words, in both languages.
        assert!(
            all.body.contains("<td class=\"stage\">Mid</td>"),
            "{}",
            all.body
        );
        let zh = get(s, &format!("/queue?date={DAY}&lang=zh-CN"), Some(&sue));
        assert!(
            zh.body.contains("<td class=\"stage\">中期</td>"),
            "{}",
            zh.body
        );
        // The staff home page leads managers to the whole queue, and says nothing is cut
        // when nothing is.
        let home = get(s, &format!("/?date={DAY}"), Some(&sue));
        assert!(
            home.body.contains("id=\"whole-queue-link\""),
            "{}",
            home.body
        );
        assert!(!home.body.contains("id=\"queue-cut\""));
        // Agents see neither the queue nor allocation.
        let a = login(s, "alice");
        assert_eq!(get(s, "/queue", Some(&a)).status, 403);
        assert_eq!(get(s, "/allocation", Some(&a)).status, 403);
    });
}

#[test]
fn a_supervisor_assigns_rows_in_bulk_and_an_agent_cannot() {
    on_both(|s| {
        more_loans(s);
        let sue = login(s, "sue");
        let q = get(s, &format!("/queue?date={DAY}"), Some(&sue));
        let token = csrf(&q);
        // An agent with a valid session and token is refused, and nothing moves.
        let alice = login(s, "alice");
        let aq = get(s, "/", Some(&alice));
        let p = post(
            s,
            "/queue/assign",
            Some(&alice),
            &[
                ("csrf", &csrf(&aq)),
                ("to", "alice"),
                ("scope", "selected"),
                ("loan", "L3"),
            ],
        );
        assert_eq!(p.status, 403, "{}", p.body);
        assert_eq!(assignee(s, "L3"), None);
        // Without the token: refused.
        let p = post(
            s,
            "/queue/assign",
            Some(&sue),
            &[("to", "alice"), ("loan", "L3")],
        );
        assert_eq!(p.status, 403);
        // The selected rows.
        let p = post(
            s,
            "/queue/assign",
            Some(&sue),
            &[
                ("csrf", &token),
                ("date", DAY),
                ("to", "alice"),
                ("scope", "selected"),
                ("loan", "L3"),
                ("loan", "L5"),
            ],
        );
        assert_eq!(p.status, 200, "{}", p.body);
        assert!(
            p.body.contains("2 accounts assigned to alice"),
            "{}",
            p.body
        );
        assert_eq!(assignee(s, "L3").as_deref(), Some("alice"));
        assert_eq!(assignee(s, "L5").as_deref(), Some("alice"));
        assert_eq!(assignee(s, "L4"), None);
        assert_eq!(
            allocations_logged(s, "B3"),
            [("user:sue".to_owned(), "assign.bulk".to_owned())]
        );
        let q = get(s, &format!("/queue?date={DAY}"), Some(&sue));
        assert!(agent_of(&q.body, "L3").contains("alice"));
        // A loan that does not exist: nothing of the allocation is kept.
        let p = post(
            s,
            "/queue/assign",
            Some(&sue),
            &[
                ("csrf", &token),
                ("to", "bob"),
                ("scope", "selected"),
                ("loan", "L4"),
                ("loan", "NOPE"),
            ],
        );
        assert_eq!(p.status, 422, "{}", p.body);
        assert_eq!(assignee(s, "L4"), None);
        // To a supervisor: refused (only agents take loans).
        let p = post(
            s,
            "/queue/assign",
            Some(&sue),
            &[
                ("csrf", &token),
                ("to", "sue"),
                ("scope", "selected"),
                ("loan", "L4"),
            ],
        );
        assert_eq!(p.status, 422, "{}", p.body);
        // Every row matching the filter (the unassigned ones) to bob.
        let free = queue_loans(&get(s, &format!("/queue?date={DAY}&agent=-"), Some(&sue)).body);
        assert!(free.contains(&"L4".to_owned()), "{free:?}");
        let p = post(
            s,
            "/queue/assign",
            Some(&sue),
            &[
                ("csrf", &token),
                ("date", DAY),
                ("agent", "-"),
                ("to", "bob"),
                ("scope", "matching"),
            ],
        );
        assert_eq!(p.status, 200, "{}", p.body);
        assert!(
            p.body
                .contains(&format!("{} accounts assigned to bob", free.len())),
            "{}",
            p.body
        );
        for l in &free {
            assert_eq!(assignee(s, l).as_deref(), Some("bob"), "{l}");
        }
        assert_eq!(
            assignee(s, "L3").as_deref(),
            Some("alice"),
            "not in the filter"
        );
        let left = get(s, &format!("/queue?date={DAY}&agent=-"), Some(&sue));
        assert!(queue_loans(&left.body).is_empty(), "{}", left.body);
        // Compliance looks but does not allocate.
        let o = add_user(&s.db.target, "carol", "compliance", PASSWORD);
        assert!(o.status.success(), "{}", text(&o.stderr));
        let carol = login(s, "carol");
        let cq = get(s, &format!("/queue?date={DAY}"), Some(&carol));
        assert_eq!(cq.status, 200);
        assert!(!cq.body.contains("id=\"assign-form\"") || !cq.body.contains("name=\"loan\""));
        let p = post(
            s,
            "/queue/assign",
            Some(&carol),
            &[
                ("csrf", &csrf(&cq)),
                ("to", "alice"),
                ("scope", "selected"),
                ("loan", "L4"),
            ],
        );
        assert_eq!(p.status, 403, "{}", p.body);
        assert_eq!(assignee(s, "L4").as_deref(), Some("bob"));
    });
}

#[test]
fn assignment_by_rule_and_rebalancing_an_absent_agent() {
    on_both(|s| {
        more_loans(s);
        let o = add_user(&s.db.target, "dan", "agent", PASSWORD);
        assert!(o.status.success(), "{}", text(&o.stderr));
        let sue = login(s, "sue");
        let page = get(s, &format!("/allocation?date={DAY}"), Some(&sue));
        assert_eq!(page.status, 200, "{}", page.body);
        let token = csrf(&page);
        // By rule: the Texas tasks of the day to alice.
        let p = post(
            s,
            "/allocation/rule",
            Some(&sue),
            &[
                ("csrf", &token),
                ("date", DAY),
                ("jurisdiction", "US-TX"),
                ("queue", ""),
                ("stage", ""),
                ("language", ""),
                ("to", "alice"),
            ],
        );
        assert_eq!(p.status, 200, "{}", p.body);
        assert!(
            p.body.contains("2 accounts assigned to alice"),
            "{}",
            p.body
        );
        for l in ["L3", "L4"] {
            assert_eq!(assignee(s, l).as_deref(), Some("alice"));
        }
        assert_eq!(assignee(s, "L5"), None);
        assert_eq!(
            allocations_logged(s, "B4"),
            [("user:sue".to_owned(), "assign.rule".to_owned())]
        );
        // A rule that matches nothing moves nothing.
        let p = post(
            s,
            "/allocation/rule",
            Some(&sue),
            &[
                ("csrf", &token),
                ("date", DAY),
                ("stage", "bad_debt"),
                ("to", "bob"),
            ],
        );
        assert_eq!(p.status, 422, "{}", p.body);
        // alice has L1, L3, L4; bob L2; dan none. alice is away: each of her three goes to
        // the least loaded of the others (L1 to dan; bob and dan tie at one, L3 to bob by
        // name; L4 to dan), so the loads end even: bob 2, dan 2.
        let p = post(
            s,
            "/allocation/rebalance",
            Some(&sue),
            &[("csrf", &token), ("from", "alice")],
        );
        assert_eq!(p.status, 200, "{}", p.body);
        let (rt, store) = store_of(s);
        assert!(
            rt.block_on(store.assigned_loans("alice"))
                .unwrap()
                .is_empty()
        );
        let bob = rt.block_on(store.assigned_loans("bob")).unwrap().len();
        let dan = rt.block_on(store.assigned_loans("dan")).unwrap().len();
        assert_eq!((bob, dan), (2, 2), "an even spread");
        assert_eq!(
            allocations_logged(s, "B1"),
            [("user:sue".to_owned(), "assign.rebalance".to_owned())]
        );
        let loads = element(
            &get(s, "/allocation", Some(&sue)).body,
            "table",
            "agent-loads",
        )
        .to_owned();
        assert!(
            loads.contains("data-agent=\"alice\"><td>alice</td><td class=\"load\">0</td>"),
            "{loads}"
        );
        assert!(
            loads.contains("data-agent=\"dan\"><td>dan</td><td class=\"load\">2</td>"),
            "{loads}"
        );
        // An agent may not rebalance.
        let a = login(s, "dan");
        let home = get(s, "/", Some(&a));
        let p = post(
            s,
            "/allocation/rebalance",
            Some(&a),
            &[("csrf", &csrf(&home)), ("from", "bob")],
        );
        assert_eq!(p.status, 403, "{}", p.body);
        assert_eq!(rt.block_on(store.assigned_loans("bob")).unwrap().len(), 2);
        // The command line does the same: bob's two go to alice (none) rather than dan (2).
        let out = crate::server::ok(&["assign", "--rebalance-from", "bob", "--db", &s.db.target]);
        assert!(out.contains("2 loans of \"bob\""), "{out}");
        assert!(rt.block_on(store.assigned_loans("bob")).unwrap().is_empty());
        assert_eq!(rt.block_on(store.assigned_loans("alice")).unwrap().len(), 2);
        assert_eq!(rt.block_on(store.assigned_loans("dan")).unwrap().len(), 2);
    });
}

#[test]
fn the_dashboard_labels_its_figures_and_says_what_the_comparison_needs() {
    on_both(|s| {
        let sue = login(s, "sue");
        // Only 2026-11-27 has been run.
        let d = get(s, "/dashboard?date=2026-11-27", Some(&sue));
        assert_eq!(d.status, 200, "{}", d.body);
        let note = element(&d.body, "p", "arms-note");
        assert!(
            note.contains("need daily runs of at least two business dates")
                && note.contains("Snapshot dates in the store: 2026-11-27"),
            "{note}"
        );
        let line = element(&d.body, "p", "promise-states");
        assert!(line.contains("Kept 0 · Broken 0 · Pending 0"), "{line}");
        // Every chart has its title drawn on it and its unit on an axis.
        for (chart, title, unit) in [
            ("buckets", "Loans by bucket on 2026-11-27", "loans"),
            ("stages", "Loans by stage on 2026-11-27", "loans"),
            ("promises", "Promises by state", "promises"),
            (
                "blocked",
                "Contacts blocked by rule in the plan of 2026-11-27",
                "blocked contacts",
            ),
            ("arms", "Loans per strategy rule and arm", "loans"),
        ] {
            let Some(i) = d.body.find(&format!("data-chart=\"{chart}\"")) else {
                if chart == "blocked" {
                    continue; // nothing blocked that day
                }
                panic!("no chart {chart}");
            };
            let svg = &d.body[i..i + d.body[i..].find("</svg>").unwrap()];
            let texts: Vec<&str> = svg
                .split("<text")
                .skip(1)
                .filter_map(|t| Some(t.split_once('>')?.1.split_once("</text>")?.0.trim()))
                .collect();
            assert!(texts.contains(&title), "{chart}: {texts:?}");
            assert!(texts.contains(&unit), "{chart}: {texts:?}");
        }
        // Stage codes in words, on the chart.
        let i = d.body.find("data-chart=\"stages\"").unwrap();
        let svg = &d.body[i..i + d.body[i..].find("</svg>").unwrap()];
        assert!(
            svg.contains("\nBad debt\n") && !svg.contains("bad_debt"),
            "{svg}"
        );
        let zh = get(s, "/dashboard?date=2026-11-27&lang=zh-CN", Some(&sue));
        assert!(zh.body.contains("\n坏账\n"), "{}", zh.body);
        assert!(element(&zh.body, "p", "arms-note").contains("2026-11-27"));
        // After a second run, the note says what is compared.
        run_on(s, DAY);
        let d = get(s, &format!("/dashboard?date={DAY}"), Some(&sue));
        let note = element(&d.body, "p", "arms-note");
        assert!(
            note.contains("Delinquent on 2026-11-27, cured by 2026-11-28"),
            "{note}"
        );
        // The blocks table of the compliance view lists the plan's blocks by date and rule.
        let view = element(&d.body, "section", "compliance");
        assert!(
            view.contains("Contacts blocked by rule, per business date planned"),
            "{view}"
        );
    });
}

#[test]
fn the_compliance_view_counts_a_stored_violation_by_business_date() {
    on_both(|s| {
        let sue = login(s, "sue");
        let before = get(s, &format!("/dashboard?date={DAY}"), Some(&sue));
        assert!(element(&before.body, "section", "compliance").contains("id=\"no-violations\""));
        let token = contacts_token(s, "dialer2");
        let r = client()
            .post(format!("{}/v1/contacts", s.base))
            .header("Authorization", &format!("Bearer {token}"))
            .header("Content-Type", "application/json")
            .send(
                serde_json::json!({"contact_id": "V-1", "borrower_id": "B2", "loan_id": "L2",
                    "channel": "call", "direction": "outbound", "target": "+12125550101",
                    "at": "2026-11-28T08:00:00Z", "outcome": "no_answer"})
                .to_string(),
            )
            .unwrap();
        // A call dialled at 03:00 in New York, reported after the fact: kept as a violation.
        assert_eq!(r.status().as_u16(), 201);
        let d = get(s, &format!("/dashboard?date={DAY}"), Some(&sue));
        let view = element(&d.body, "section", "compliance");
        let days = element(view, "table", "violation-days");
        assert!(
            days.contains("data-day=\"2026-11-28\" data-rule=\"US-HOURS\"><td>2026-11-28</td><td>US-HOURS</td><td class=\"count\">1</td>"),
            "{days}"
        );
        assert!(view.contains("Business date"), "{view}");
        let i = view
            .find("data-chart=\"violations-by-day-and-rule\"")
            .expect("the chart by date and rule");
        let svg = &view[i..i + view[i..].find("</svg>").unwrap()];
        assert!(svg.contains("\n2026-11-28 · US-HOURS\n"), "{svg}");
        assert!(view.contains("data-chart=\"violations\""));
        let i = view.find("data-chart=\"violations\"").unwrap();
        let svg = &view[i..i + view[i..].find("</svg>").unwrap()];
        assert!(svg.contains("\nUS-HOURS\n"), "{svg}");
        assert!(
            svg.contains("Contacts recorded as violations, by rule"),
            "{svg}"
        );
    });
}

/// `arrears plan --db` records the day's blocked actions by rule in the store; the compliance
/// view lists them for that business date, as the plan's summary counts them, also on a
/// server that never planned that date itself.
#[test]
fn the_compliance_view_lists_the_blocks_a_stored_plan_recorded() {
    on_both(|s| {
        let out = tempfile::tempdir().unwrap();
        let plan = || {
            crate::server::ok(&[
                "plan",
                "--db",
                &s.db.target,
                "--as-of",
                "2026-11-25",
                "--out",
                out.path().to_str().unwrap(),
                "--quiet",
            ])
        };
        plan();
        let summary: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out.path().join("plan_summary.json")).unwrap(),
        )
        .unwrap();
        let by_rule = summary["blocked_by_rule"].as_object().unwrap();
        assert!(
            !by_rule.is_empty(),
            "the sample plan blocks something: {summary}"
        );
        let sue = login(s, "sue");
        let d = get(s, &format!("/dashboard?date={DAY}"), Some(&sue));
        let table = element(&d.body, "table", "blocks-by-day");
        for (rule, n) in by_rule {
            let row = format!(
                "data-day=\"2026-11-25\" data-rule=\"{rule}\"><td>2026-11-25</td><td>{rule}</td><td class=\"count\">{n}</td>"
            );
            assert!(table.contains(&row), "{row} in {table}");
        }
        // A second plan of the date replaces its counts rather than adding to them.
        plan();
        let again = get(s, &format!("/dashboard?date={DAY}"), Some(&sue));
        let table2 = element(&again.body, "table", "blocks-by-day");
        assert_eq!(
            table2.matches("data-day=\"2026-11-25\"").count(),
            by_rule.len(),
            "{table2}"
        );
        for (rule, n) in by_rule {
            assert!(
                table2.contains(&format!("<td>{rule}</td><td class=\"count\">{n}</td>")),
                "{table2}"
            );
        }
    });
}

/// A supervisor in Tokyo reads the queue's call windows, the plan's time and the latest
/// violations on her own clock, each with its zone.
#[test]
fn the_supervisors_times_are_on_the_viewers_clock() {
    on_both(|s| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_arrears"))
            .args([
                "users",
                "add",
                "--username",
                "tomo",
                "--role",
                "supervisor",
                "--password-stdin",
                "--zone",
                "Asia/Tokyo",
                "--db",
                &s.db.target,
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write as _;
        c.stdin
            .take()
            .unwrap()
            .write_all(format!("{PASSWORD}\n").as_bytes())
            .unwrap();
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", text(&o.stderr));
        let tomo = login(s, "tomo");
        let q = get(s, &format!("/queue?date={DAY}"), Some(&tomo));
        assert_eq!(q.status, 200, "{}", q.body);
        let table = element(&q.body, "table", "queue");
        assert!(table.contains("JST (Asia/Tokyo)"), "{table}");
        assert!(!table.contains("(UTC)"), "{table}");
        assert!(element(&q.body, "small", "plan-note").contains("JST (Asia/Tokyo)"));
        // The business zone's reader (sue, no zone of her own) reads UTC.
        let sue = login(s, "sue");
        let q = get(s, &format!("/queue?date={DAY}"), Some(&sue));
        assert!(element(&q.body, "table", "queue").contains("UTC (UTC)"));
        let d = get(s, &format!("/dashboard?date={DAY}"), Some(&tomo));
        assert!(element(&d.body, "small", "plan-note").contains("JST (Asia/Tokyo)"));
    });
}

/// Headless Chromium: the labels of the dashboard's blocked-by-rule and strategy-arm charts
/// do not overlap (their boxes on screen), and a supervisor assigns a row through the
/// queue's form.
#[test]
fn browser_chart_labels_do_not_overlap_and_a_bulk_assignment_works() {
    let s = setup(Backend::Sqlite, &[]).unwrap();
    more_loans(&s);
    let ran = in_browser(&s, |c, s| {
        Box::pin(async move {
            let e = |e: fantoccini::error::CmdError| e.to_string();
            sign_in(c, s, "sue").await?;
            c.goto(&format!("{}/dashboard?date={DAY}", s.base))
                .await
                .map_err(e)?;
            css_text_until(c, "h1", |t| t.contains("Manager dashboard")).await?;
            // Every pair of text boxes of a chart: none intersects another.
            let script = r#"
                const out = {};
                for (const name of arguments[0]) {
                    const svg = document.querySelector(`svg.chart[data-chart="${name}"]`);
                    if (!svg) { out[name] = null; continue; }
                    const boxes = [...svg.querySelectorAll('text')]
                        .filter(t => t.textContent.trim() !== '')
                        .map(t => { const r = t.getBoundingClientRect();
                                    return {t: t.textContent.trim(), l: r.left, r: r.right, top: r.top, b: r.bottom}; });
                    const hits = [];
                    for (let i = 0; i < boxes.length; i++)
                        for (let j = i + 1; j < boxes.length; j++) {
                            const a = boxes[i], b = boxes[j];
                            if (a.l < b.r - 0.5 && b.l < a.r - 0.5 && a.top < b.b - 0.5 && b.top < a.b - 0.5)
                                hits.push(a.t + ' / ' + b.t);
                        }
                    out[name] = {labels: boxes.length, hits};
                }
                return out;
            "#;
            let v = c
                .execute(
                    script,
                    vec![serde_json::json!([
                        "blocked", "arms", "buckets", "stages", "promises"
                    ])],
                )
                .await
                .map_err(e)?;
            for name in ["arms", "buckets", "stages", "promises", "blocked"] {
                let chart = &v[name];
                if chart.is_null() {
                    if name == "blocked" {
                        continue;
                    }
                    return Err(format!("no chart {name}"));
                }
                if chart["labels"].as_u64().unwrap_or(0) < 3 {
                    return Err(format!("{name}: too few labels: {chart}"));
                }
                if !chart["hits"].as_array().is_some_and(|h| h.is_empty()) {
                    return Err(format!("{name}: labels overlap: {chart}"));
                }
            }
            // A bulk assignment through the queue's form: L6 and L7 to alice.
            c.goto(&format!("{}/queue?date={DAY}&agent=-", s.base))
                .await
                .map_err(e)?;
            css_text_until(c, "#row-range", |t| t.contains("of")).await?;
            for l in ["L6", "L7"] {
                click(c, &format!("#pick-{l}")).await?;
            }
            click(c, "#assign-to option[value=alice]").await?;
            click(c, "#assign-selected").await?;
            css_text_until(c, "#message", |t| {
                t.contains("2 accounts assigned to alice")
            })
            .await?;
            click(c, "#back").await?;
            css_text_until(c, "#row-range", |t| t.contains("of")).await?;
            c.goto(&format!("{}/queue?date={DAY}&agent=alice", s.base))
                .await
                .map_err(e)?;
            css_text_until(c, "#queue", |t| {
                t.contains("L6") && t.contains("L7") && t.contains("L1")
            })
            .await?;
            Ok::<(), String>(())
        })
    });
    if !ran {
        return;
    }
    assert_eq!(assignee(&s, "L6").as_deref(), Some("alice"));
}
