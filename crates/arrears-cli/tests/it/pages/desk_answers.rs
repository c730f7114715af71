//! The agent's desk, continued (issue 19, items 1 and 2): notes on a call kept with the
//! contact, a borrower's plan proposal accepted, countered or declined (and the portal
//! saying so in plain words), a promise cancelled with a reason (then neither kept nor
//! broken), forms that come back as typed with what to fix; every time in the viewer's zone
//! with the borrower's beside it, and every amount in its currency. Browser tests in
//! headless Chromium: a dialled-but-forbidden call kept as a violation and a dispute
//! resolved, a plan proposal countered and another accepted, a promise cancelled.

use super::{
    PASSWORD, assign, attorney_loan, click, cmd, csrf, css_text_until, element, get, in_browser,
    login, on_both, portal_link, portal_session, post, propose_plan, set_date, setup, sign_in,
    type_in,
};
use crate::server::{Server, store_of};
use crate::store::Backend;
use crate::text;
use std::io::Write;

/// B3 (Chicago, represented by an attorney) with L3 (1,240.70 USD due 2026-10-01, unpaid,
/// with a penalty rate), assigned to `agent`, and the daily run of 2026-11-27 over it.
fn chicago_feed(s: &Server, agent: &str) {
    attorney_loan(s, 124_070, 1000);
    super::run_day(s);
    assign(s, "L3", agent);
}

/// `arrears users add` with `--zone`.
fn add_user_in(s: &Server, user: &str, role: &str, zone: &str) -> std::process::Output {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_arrears"))
        .args([
            "users",
            "add",
            "--username",
            user,
            "--role",
            role,
            "--password-stdin",
            "--zone",
            zone,
            "--db",
            &s.db.target,
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let _ = c
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{PASSWORD}\n").as_bytes());
    c.wait_with_output().unwrap()
}

/// The text of a page without its tags (and with the common entities decoded).
fn visible(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for ch in html.chars() {
        match ch {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&#43;", "+")
        .replace("&#x2B;", "+")
        .replace("&amp;", "&")
}

/// Every `YYYY-MM-DD HH:MM` in `text` with what follows it (up to 40 characters).
fn times(text: &str) -> Vec<String> {
    let b = text.as_bytes();
    let d = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    let mut out = Vec::new();
    for i in 0..b.len() {
        let shape = (0..4).all(|k| d(i + k))
            && b.get(i + 4) == Some(&b'-')
            && d(i + 5)
            && d(i + 6)
            && b.get(i + 7) == Some(&b'-')
            && d(i + 8)
            && d(i + 9)
            && matches!(b.get(i + 10), Some(b' ' | b'T'))
            && d(i + 11)
            && d(i + 12)
            && b.get(i + 13) == Some(&b':')
            && d(i + 14)
            && d(i + 15);
        if shape && (i == 0 || !d(i - 1)) {
            let end = text[i..]
                .char_indices()
                .nth(60)
                .map_or(text.len(), |(k, _)| i + k);
            out.push(text[i..end].to_owned());
        }
    }
    out
}

/// Asserts that every time on a page names its zone (`… HH:MM ABBR (Area/City)`), never
/// UTC alone, and that no amount of `minors` shows as bare minor units.
fn assert_for_people(what: &str, html: &str, minors: &[i64]) {
    let text = visible(html);
    let found = times(&text);
    for t in &found {
        let rest = &t[16..];
        let named = rest
            .trim_start_matches(':')
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .trim_start();
        let zone_ok = named.split_once(" (").is_some_and(|(abbr, tail)| {
            !abbr.is_empty()
                && abbr.len() <= 6
                && !abbr.contains(' ')
                && tail.split_once(')').is_some_and(|(z, _)| z.contains('/'))
        });
        assert!(zone_ok, "{what}: a time without its zone: {t:?}");
        assert!(
            !named.starts_with("UTC") && !t.contains("(UTC)"),
            "{what}: a time only in UTC: {t:?}"
        );
    }
    for m in minors {
        let bare = m.to_string();
        let mut from = 0;
        while let Some(i) = text[from..].find(&bare) {
            let at = from + i;
            let before = text[..at].chars().next_back();
            let after = text[at + bare.len()..].chars().next();
            let glued = |c: Option<char>| c.is_some_and(|c| c.is_ascii_digit() || c == '.');
            assert!(
                glued(before) || glued(after),
                "{what}: the bare minor units {bare} near {:?}",
                &text[at.saturating_sub(60)..(at + 60).min(text.len())]
            );
            from = at + bare.len();
        }
    }
}

#[test]
fn the_time_finder_and_the_checks_can_fail() {
    let html = "<td>2026-12-07 09:30 CST (America/Chicago)</td><td>12407</td>";
    assert_eq!(times(&visible(html)).len(), 1);
    assert!(
        std::panic::catch_unwind(|| assert_for_people("t", html, &[12407])).is_err(),
        "a bare 12407 must fail"
    );
    assert!(
        std::panic::catch_unwind(|| assert_for_people("t", "<td>2026-12-07 09:30</td>", &[]))
            .is_err(),
        "a time without a zone must fail"
    );
    assert!(
        std::panic::catch_unwind(|| assert_for_people(
            "t",
            "<td>2026-12-07 09:30 UTC (Etc/UTC)</td>",
            &[]
        ))
        .is_err(),
        "a time in UTC must fail"
    );
    assert_for_people(
        "t",
        "<td>2026-12-07 09:30 CST (America/Chicago) · their time 2026-12-07 10:30 EST (America/New_York)</td><td>124.07 USD</td>",
        &[12407],
    );
}

/// A viewer in Tokyo works a borrower in Chicago: every time on the queue, the account page
/// (with a call, its notes, a promise and a proposal on it), the answer pages and the portal
/// names its zone (the viewer's, with the borrower's beside it on the contact history,
/// promises and next allowed moments), and no amount shows in minor units, errors included.
#[test]
fn times_are_in_the_viewers_zone_and_amounts_in_the_currency() {
    on_both(|s| {
        let o = add_user_in(s, "kenji", "agent", "Asia/Tokyo");
        assert!(o.status.success(), "{}", text(&o.stderr));
        assert!(
            text(&o.stdout).contains("Asia/Tokyo"),
            "{}",
            text(&o.stdout)
        );
        let bad = add_user_in(s, "nozone", "agent", "Mars/Olympus");
        assert_eq!(bad.status.code(), Some(2), "{}", text(&bad.stderr));
        chicago_feed(s, "kenji");
        let (rt, store) = store_of(s);
        let snap = rt
            .block_on(store.loan_snapshots("L3"))
            .unwrap()
            .pop()
            .expect("a snapshot of L3");
        let penalty = snap.penalty_accrued_minor - snap.penalty_paid_minor;
        assert!(penalty > 0, "{snap:?}");
        let minors = [
            124_070,
            snap.overdue_minor,
            snap.overdue_minor + penalty,
            penalty,
        ];
        // The borrower proposes a plan on the portal.
        let b3 = portal_session(s, "B3");
        let p = propose_plan(s, &b3, "B3", "L3", "2", "100.00", "2099-01-15");
        assert_eq!(p.status, 303, "{}", p.body);

        let kenji = login(s, "kenji");
        let account = get(s, "/accounts/L3", Some(&kenji));
        assert_eq!(account.status, 200, "{}", account.body);
        let token = csrf(&account);
        // A call (forbidden: the attorney only; kept as a violation) with notes.
        let p = post(
            s,
            "/accounts/L3/calls",
            Some(&kenji),
            &[
                ("csrf", &token),
                ("outcome", "no_answer"),
                ("notes", "Rang once, nobody answered."),
            ],
        );
        assert_eq!(p.status, 200, "{}", p.body);
        // A promise (through a second, inbound call, which no rule forbids).
        let p = post(
            s,
            "/accounts/L3/calls",
            Some(&kenji),
            &[
                ("csrf", &token),
                ("direction", "inbound"),
                ("outcome", "promise"),
                ("promise_amount", "200.00"),
                ("promise_due", "2099-01-20"),
            ],
        );
        assert_eq!(p.status, 303, "{}", p.body);
        let account = get(s, "/accounts/L3", Some(&kenji));
        assert_eq!(account.status, 200);
        assert!(account.body.contains("(Asia/Tokyo)"), "{}", account.body);
        assert!(
            account.body.contains("JST (Asia/Tokyo)"),
            "{}",
            account.body
        );
        assert!(
            account.body.contains("CST (America/Chicago)"),
            "{}",
            account.body
        );
        // The contact history: each time in Tokyo with Chicago's beside it.
        let contacts = element(&account.body, "table", "contacts");
        assert!(
            contacts.contains("JST (Asia/Tokyo) · their time")
                && contacts.contains("CST (America/Chicago)"),
            "{contacts}"
        );
        let promises = element(&account.body, "table", "promises");
        assert!(
            promises.contains("JST (Asia/Tokyo) · their time"),
            "{promises}"
        );
        assert!(promises.contains("200.00 USD"), "{promises}");
        let proposals = element(&account.body, "ul", "proposals");
        assert!(proposals.contains("100.00 USD"), "{proposals}");
        assert!(
            proposals.contains("JST (Asia/Tokyo) · their time"),
            "{proposals}"
        );
        // The next allowed moments: the borrower's and the viewer's.
        let allowed = element(&account.body, "table", "allowed");
        assert!(!allowed.contains("UTC"), "{allowed}");
        assert_for_people("account page", &account.body, &minors);
        // Nothing on a Tokyo viewer's pages is in UTC, headers included.
        assert!(!visible(&account.body).contains("UTC"), "{}", account.body);
        let queue = get(s, "/?date=2026-11-27", Some(&kenji));
        assert_eq!(queue.status, 200);
        assert!(queue.body.contains("(Asia/Tokyo)"), "{}", queue.body);
        assert_for_people("queue", &queue.body, &minors);
        assert!(!visible(&queue.body).contains("UTC"), "{}", queue.body);
        // Errors: amounts in the currency, the form kept.
        let p = post(
            s,
            "/accounts/L3/payment-plans",
            Some(&kenji),
            &[
                ("csrf", &token),
                ("count", "1"),
                ("amount", "10.00"),
                ("first_due", "2099-01-01"),
                ("every", "month"),
            ],
        );
        assert_eq!(p.status, 422, "{}", p.body);
        assert!(
            p.body.contains(&format!(
                "less than the {}.{:02} USD overdue",
                (snap.overdue_minor + penalty) / 100,
                (snap.overdue_minor + penalty) % 100
            )),
            "{}",
            p.body
        );
        assert!(
            p.body.contains("value=\"10.00\"") && p.body.contains("value=\"2099-01-01\""),
            "{}",
            p.body
        );
        assert_for_people("plan error", &p.body, &minors);
        let p = post(
            s,
            "/accounts/L3/calls",
            Some(&kenji),
            &[
                ("csrf", &token),
                ("direction", "inbound"),
                ("outcome", "promise"),
                ("promise_amount", "5000.00"),
                ("promise_due", "2099-01-20"),
            ],
        );
        assert_eq!(p.status, 422, "{}", p.body);
        assert!(p.body.contains("1240.70 USD"), "{}", p.body);
        assert_for_people("promise above the balance", &p.body, &minors);
        // The portal: the borrower's own zone.
        let portal = get(s, "/portal/b/B3", Some(&b3));
        assert_eq!(portal.status, 200);
        assert!(
            portal.body.contains("CST (America/Chicago)"),
            "{}",
            portal.body
        );
        assert!(!portal.body.contains("Asia/Tokyo"), "{}", portal.body);
        assert_for_people("portal", &portal.body, &minors);
        assert!(!visible(&portal.body).contains("UTC"), "{}", portal.body);
        // A viewer without a zone of their own reads the business zone (UTC here), named.
        let sue = login(s, "sue");
        let p = get(s, "/accounts/L3", Some(&sue));
        assert!(
            p.body.contains("(UTC)") || p.body.contains("UTC (UTC)"),
            "{}",
            p.body
        );
    });
}

/// The desk's call notes: kept with the contact, shown (escaped) in the history, bounded.
#[test]
fn call_notes_are_kept_with_the_contact_and_bounded() {
    on_both(|s| {
        let alice = login(s, "alice");
        let account = get(s, "/accounts/L1", Some(&alice));
        let token = csrf(&account);
        let (rt, store) = store_of(s);
        let contacts = || {
            rt.block_on(store.borrower_contacts("B1"))
                .unwrap()
                .unwrap()
                .own_contacts()
                .count()
        };
        let before = contacts();
        // Over 2,000 characters: nothing recorded, the form back with the notes.
        let long = "n".repeat(2001);
        let p = post(
            s,
            "/accounts/L1/calls",
            Some(&alice),
            &[
                ("csrf", &token),
                ("direction", "inbound"),
                ("outcome", "right_party"),
                ("notes", &long),
            ],
        );
        assert_eq!(p.status, 422, "{}", p.body);
        assert!(
            p.body.contains("2001 characters, at most 2,000"),
            "{}",
            p.body
        );
        assert!(p.body.contains(&long), "the notes are kept");
        assert!(p.body.contains("value=\"inbound\""), "{}", p.body);
        assert_eq!(contacts(), before);
        let p = post(
            s,
            "/accounts/L1/calls",
            Some(&alice),
            &[
                ("csrf", &token),
                ("direction", "inbound"),
                ("outcome", "right_party"),
                ("notes", "Will pay <b>Friday</b>; call after 5pm."),
            ],
        );
        assert_eq!(p.status, 303, "{}", p.body);
        assert_eq!(contacts(), before + 1);
        let notes = rt.block_on(store.contact_notes("B1")).unwrap();
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(
            notes
                .values()
                .any(|n| n == "Will pay <b>Friday</b>; call after 5pm."),
            "{notes:?}"
        );
        let account = get(s, "/accounts/L1", Some(&alice));
        let history = element(&account.body, "table", "contacts");
        assert!(
            history.contains("Will pay &lt;b&gt;Friday&lt;/b&gt;; call after 5pm.")
                || history.contains("Will pay &#60;b&#62;Friday&#60;/b&#62;; call after 5pm."),
            "{history}"
        );
        assert!(!history.contains("<b>Friday"), "{history}");
        // The borrower does not read the agent's notes.
        let b1 = portal_session(s, "B1");
        let portal = get(s, "/portal/b/B1", Some(&b1));
        assert!(!portal.body.contains("Friday"), "{}", portal.body);
    });
}

/// The id of the newest proposal on the desk.
fn newest_proposal(body: &str) -> String {
    let list = element(body, "ul", "proposals");
    let i = list.find("id=\"proposal-").expect("a proposal") + "id=\"proposal-".len();
    list[i..i + list[i..].find('"').unwrap()].to_owned()
}

/// A proposal declined (a reason required, the form kept), one countered (the schedule
/// checked, the form kept) and one accepted (the payment plan recorded by the desk's plan
/// path); each answer logged; the portal says each in plain words, in English and Chinese.
#[test]
fn a_plan_proposal_is_declined_countered_or_accepted_and_the_portal_says_so() {
    on_both(|s| {
        let b1 = portal_session(s, "B1");
        let propose = |n: &str, amount: &str| {
            let p = propose_plan(s, &b1, "B1", "L1", n, amount, "2099-02-01");
            assert_eq!(p.status, 303, "{}", p.body);
        };
        let alice = login(s, "alice");
        // Declined.
        propose("10", "5.00");
        let account = get(s, "/accounts/L1", Some(&alice));
        let token = csrf(&account);
        let first = newest_proposal(&account.body);
        assert!(
            account.body.contains(&format!("id=\"decline-{first}\"")),
            "{}",
            account.body
        );
        let path = format!("/accounts/L1/proposals/{first}");
        let p = post(
            s,
            &path,
            Some(&alice),
            &[("csrf", &token), ("answer", "decline"), ("reason", "  ")],
        );
        assert_eq!(p.status, 422, "{}", p.body);
        assert!(p.body.contains("Give a reason"), "{}", p.body);
        assert!(
            p.body.contains("name=\"answer\" value=\"decline\""),
            "{}",
            p.body
        );
        let p = post(
            s,
            &path,
            Some(&alice),
            &[
                ("csrf", &token),
                ("answer", "decline"),
                ("reason", "Too little each month for the arrears."),
            ],
        );
        assert_eq!(p.status, 303, "{}", p.body);
        // Answered once.
        let p = post(
            s,
            &path,
            Some(&alice),
            &[("csrf", &token), ("answer", "decline"), ("reason", "again")],
        );
        assert_eq!(p.status, 409, "{}", p.body);
        // Countered: a bad schedule comes back as typed.
        propose("20", "10.00");
        let account = get(s, "/accounts/L1", Some(&alice));
        let second = newest_proposal(&account.body);
        assert_ne!(first, second);
        let path = format!("/accounts/L1/proposals/{second}");
        let p = post(
            s,
            &path,
            Some(&alice),
            &[
                ("csrf", &token),
                ("answer", "counter"),
                ("count", "0"),
                ("amount", "250.00"),
                ("first_due", "2099-02-01"),
                ("every", "month"),
                ("reason", "We can do four months."),
            ],
        );
        assert_eq!(p.status, 422, "{}", p.body);
        assert!(p.body.contains("value=\"250.00\""), "{}", p.body);
        assert!(p.body.contains("We can do four months."), "{}", p.body);
        let p = post(
            s,
            &path,
            Some(&alice),
            &[
                ("csrf", &token),
                ("answer", "counter"),
                ("count", "4"),
                ("amount", "250.00"),
                ("first_due", "2099-02-01"),
                ("every", "month"),
                ("reason", "We can do four months."),
            ],
        );
        assert_eq!(p.status, 303, "{}", p.body);
        // Accepted: 1 × 1,000.00 USD covers what is overdue.
        propose("1", "1000.00");
        let account = get(s, "/accounts/L1", Some(&alice));
        let third = newest_proposal(&account.body);
        let p = post(
            s,
            &format!("/accounts/L1/proposals/{third}"),
            Some(&alice),
            &[("csrf", &token), ("answer", "accept")],
        );
        assert_eq!(p.status, 303, "{}", p.body);
        let (rt, store) = store_of(s);
        let today = jiff::civil::date(2026, 11, 27);
        let plans = rt
            .block_on(store.loan_plans("L1", today, &arrears_domain::TimeZoneName::utc()))
            .unwrap();
        let plan = plans
            .iter()
            .find(|p| p.plan_id == format!("page-proposal-{third}"))
            .unwrap_or_else(|| panic!("the accepted plan: {plans:?}"));
        assert_eq!(plan.status, "active");
        assert_eq!(plan.installments.len(), 1);
        assert_eq!(plan.installments[0].amount_minor, 100_000);
        let answers = rt.block_on(store.plan_proposals("L1")).unwrap();
        let status: Vec<_> = answers
            .iter()
            .map(|p| p.answer.as_ref().map(|a| a.by.clone()))
            .collect();
        assert_eq!(
            status,
            vec![Some("user:alice".to_owned()); 3],
            "{answers:?}"
        );
        let log = rt.block_on(store.access_log("B1")).unwrap();
        for action in [
            "pages.proposal_declined",
            "pages.proposal_countered",
            "pages.proposal_accepted",
        ] {
            assert!(
                log.iter()
                    .any(|a| a.action == action && a.actor == "user:alice"),
                "{action}: {log:?}"
            );
        }
        // The desk shows the answers.
        let account = get(s, "/accounts/L1", Some(&alice));
        let list = element(&account.body, "ul", "proposals");
        assert!(list.contains("Declined: Too little each month"), "{list}");
        assert!(
            list.contains("Countered: 4 × 250.00 USD every month from 2099-02-01"),
            "{list}"
        );
        assert!(
            list.contains(&format!("Accepted: plan page-proposal-{third}")),
            "{list}"
        );
        assert!(
            !list.contains("id=\"accept-"),
            "no open proposal left: {list}"
        );
        // The portal, in plain words.
        let portal = get(s, "/portal/b/B1", Some(&b1));
        let mine = element(&portal.body, "ul", "your-proposals");
        assert!(
            mine.contains("Not accepted. The reason we gave: Too little each month"),
            "{mine}"
        );
        assert!(
            mine.contains("we can offer you: 4 × 250.00 USD every month from 2099-02-01"),
            "{mine}"
        );
        assert!(mine.contains("We can do four months."), "{mine}");
        assert!(
            mine.contains("Accepted: this is now your payment plan."),
            "{mine}"
        );
        let zh = get(s, "/portal/b/B1?lang=zh-CN", Some(&b1));
        let mine = element(&zh.body, "ul", "your-proposals");
        assert!(mine.contains("未被接受。原因："), "{mine}");
        assert!(
            mine.contains("4 期 × 250.00 USD，每月，自 2099-02-01 起"),
            "{mine}"
        );
        assert!(mine.contains("已接受"), "{mine}");
    });
}

/// A promise cancelled with a reason (required; the form kept) shows as cancelled, is no
/// longer the loan's promise for the API, the dashboard or the plan, and cannot be
/// cancelled twice.
#[test]
fn a_cancelled_promise_is_neither_kept_nor_broken() {
    on_both(|s| {
        let alice = login(s, "alice");
        let token = csrf(&get(s, "/accounts/L1", Some(&alice)));
        let p = post(
            s,
            "/accounts/L1/calls",
            Some(&alice),
            &[
                ("csrf", &token),
                ("direction", "inbound"),
                ("outcome", "promise"),
                ("promise_amount", "300.00"),
                ("promise_due", "2099-03-01"),
            ],
        );
        assert_eq!(p.status, 303, "{}", p.body);
        let (rt, store) = store_of(s);
        let book = rt.block_on(store.loan_book("L1")).unwrap().unwrap();
        let promise = book
            .promises
            .last()
            .expect("the promise")
            .promise_id
            .clone();
        let today = jiff::civil::date(2026, 11, 27);
        let utc = arrears_domain::TimeZoneName::utc();
        let api_promises = || rt.block_on(store.loan_promises("L1", today, &utc)).unwrap();
        assert_eq!(api_promises().len(), 1);
        let path = format!("/accounts/L1/promises/{promise}/cancel");
        let p = post(s, &path, Some(&alice), &[("csrf", &token), ("reason", "")]);
        assert_eq!(p.status, 422, "{}", p.body);
        assert!(p.body.contains("Give a reason"), "{}", p.body);
        assert!(p.body.contains(&format!("action=\"{path}\"")), "{}", p.body);
        let p = post(
            s,
            &path,
            Some(&alice),
            &[("csrf", &token), ("reason", "Recorded on the wrong loan.")],
        );
        assert_eq!(p.status, 303, "{}", p.body);
        let p = post(
            s,
            &path,
            Some(&alice),
            &[("csrf", &token), ("reason", "again")],
        );
        assert_eq!(p.status, 409, "{}", p.body);
        // Another agent's loan: refused.
        let bob = login(s, "bob");
        let p = post(
            s,
            &path,
            Some(&bob),
            &[("csrf", &csrf(&get(s, "/", Some(&bob)))), ("reason", "x")],
        );
        assert_eq!(p.status, 403, "{}", p.body);
        let account = get(s, "/accounts/L1", Some(&alice));
        let at = account
            .body
            .find(&format!("id=\"promise-{promise}\""))
            .expect("the promise's row");
        let start = account.body[..at].rfind("<tr").unwrap();
        let row = &account.body[start..at + account.body[at..].find("</tr>").unwrap()];
        assert!(row.contains("class=\"promise cancelled\""), "{row}");
        assert!(row.contains("Recorded on the wrong loan."), "{row}");
        assert!(row.contains("user:alice"), "{row}");
        assert!(!row.contains("cancel-promise"), "{row}");
        // Neither kept nor broken: out of the API's promises, the dashboard's books and
        // the stored portfolio the planner reads.
        assert!(api_promises().is_empty());
        let books = rt.block_on(store.promise_books()).unwrap();
        assert!(
            books
                .iter()
                .all(|b| b.promises.iter().all(|p| p.promise_id != promise)),
            "{books:?}"
        );
        let portfolio = rt.block_on(store.load_portfolio()).unwrap();
        assert_eq!(portfolio.promises.len(), 0);
        let log = rt.block_on(store.access_log("B1")).unwrap();
        assert!(
            log.iter().any(|a| a.action == "pages.promise_cancelled"),
            "{log:?}"
        );
    });
}

/// Headless Chromium: the agent records a call the rules forbid (the borrower has an
/// attorney) with notes; the page says it is kept as a violation and the history shows it
/// with its rule id and the notes. Then the borrower's dispute is resolved from the desk.
#[test]
fn browser_a_forbidden_call_is_kept_as_a_violation_and_a_dispute_is_resolved() {
    let s = setup(Backend::Sqlite, &[]).unwrap();
    chicago_feed(&s, "alice");
    // B1 disputes on the portal.
    let b1 = portal_session(&s, "B1");
    let portal = get(&s, "/portal/b/B1", Some(&b1));
    let p = post(
        &s,
        "/portal/b/B1/dispute",
        Some(&b1),
        &[
            ("csrf", &csrf(&portal)),
            ("text", "I paid this in October."),
        ],
    );
    assert_eq!(p.status, 303, "{}", p.body);
    in_browser(&s, |c, s| {
        Box::pin(async move {
            sign_in(c, s, "alice").await?;
            c.goto(&format!("{}/accounts/L3", s.base))
                .await
                .map_err(cmd)?;
            css_text_until(c, "h1", |t| t.contains("Account L3")).await?;
            click(c, "#outcome option[value=no_answer]").await?;
            type_in(c, "#call-notes", "Dialled the own number by mistake.").await?;
            click(c, "#log-call").await?;
            css_text_until(c, "main", |t| t.contains("ALL-ONLY-DEBTOR")).await?;
            c.goto(&format!("{}/accounts/L3", s.base))
                .await
                .map_err(cmd)?;
            let row = css_text_until(c, "#contacts tr.violation", |t| {
                t.contains("ALL-ONLY-DEBTOR") && t.contains("Dialled the own number by mistake.")
            })
            .await?;
            if !row.contains("America/Chicago") {
                return Err(format!("no local time in the history: {row}"));
            }
            // The dispute: held, then resolved with a reason.
            c.goto(&format!("{}/accounts/L1", s.base))
                .await
                .map_err(cmd)?;
            css_text_until(c, "#holds", |t| t.contains("ispute")).await?;
            type_in(c, "#resolve-reason", "Payment of October found.").await?;
            click(c, "#resolve-dispute button").await?;
            css_text_until(c, "#holds", |t| !t.contains("ispute")).await?;
            if c.find(fantoccini::Locator::Id("resolve-dispute"))
                .await
                .is_ok()
            {
                return Err("the resolve form is still there".into());
            }
            Ok(())
        })
    });
    let (rt, store) = store_of(&s);
    let bc = rt.block_on(store.borrower_contacts("B3")).unwrap().unwrap();
    let v: Vec<_> = bc
        .own_contacts()
        .filter(|c| c.violation.is_some())
        .collect();
    if std::path::Path::new("/usr/bin/chromium").exists() {
        assert_eq!(v.len(), 1, "the dialled call is stored as a violation");
        let b1 = rt.block_on(store.borrower_contacts("B1")).unwrap().unwrap();
        assert!(!b1.borrower.dispute_open);
    }
}

/// Headless Chromium: the borrower proposes two plans on the portal; the agent counters the
/// first and accepts the second on the desk; the portal then shows both answers.
#[test]
fn browser_a_plan_proposal_is_countered_and_another_accepted() {
    let s = setup(Backend::Sqlite, &[]).unwrap();
    let (link, _) = portal_link(&s, "B1");
    let (link2, _) = portal_link(&s, "B1");
    in_browser(&s, move |c, s| {
        Box::pin(async move {
            c.goto(&link).await.map_err(cmd)?;
            click(c, "#continue").await?;
            css_text_until(c, "h1", |_| true).await?;
            for (n, amount) in [("10", "20.00"), ("1", "1000.00")] {
                type_in(c, "#plan-n", n).await?;
                type_in(c, "#plan-amount", amount).await?;
                set_date(c, "plan-first", "2099-02-01").await?;
                click(c, "#propose-plan").await?;
                css_text_until(c, "#notice", |t| !t.is_empty()).await?;
            }
            sign_in(c, s, "alice").await?;
            c.goto(&format!("{}/accounts/L1", s.base))
                .await
                .map_err(cmd)?;
            let list = css_text_until(c, "#proposals", |t| {
                t.matches("Waiting for an answer").count() == 2
            })
            .await?;
            // The older one (20.00 USD a month) is countered with four months of 250.00 USD.
            let items = c
                .find_all(fantoccini::Locator::Css("#proposals li.proposal"))
                .await
                .map_err(cmd)?;
            let mut ids = Vec::new();
            for li in items {
                let id = li.attr("id").await.map_err(cmd)?.unwrap_or_default();
                let text = li.text().await.map_err(cmd)?;
                ids.push((id.trim_start_matches("proposal-").to_owned(), text));
            }
            let small = ids
                .iter()
                .find(|(_, t)| t.contains("20.00 USD"))
                .ok_or_else(|| format!("the 20.00 USD proposal: {list}"))?
                .0
                .clone();
            let large = ids
                .iter()
                .find(|(_, t)| t.contains("1000.00 USD"))
                .ok_or_else(|| format!("the 1000.00 USD proposal: {list}"))?
                .0
                .clone();
            let count = format!("#counter-count-{small}");
            c.find(fantoccini::Locator::Css(&count))
                .await
                .map_err(cmd)?
                .clear()
                .await
                .map_err(cmd)?;
            type_in(c, &count, "4").await?;
            let amount = format!("#counter-amount-{small}");
            c.find(fantoccini::Locator::Css(&amount))
                .await
                .map_err(cmd)?
                .clear()
                .await
                .map_err(cmd)?;
            type_in(c, &amount, "250.00").await?;
            type_in(
                c,
                &format!("#counter-words-{small}"),
                "Four months works for us.",
            )
            .await?;
            click(c, &format!("#counter-{small}")).await?;
            css_text_until(c, &format!("#proposal-{small}"), |t| {
                t.contains("Countered: 4 × 250.00 USD every month")
            })
            .await?;
            click(c, &format!("#accept-{large}")).await?;
            css_text_until(c, &format!("#proposal-{large}"), |t| {
                t.contains("Accepted: plan")
            })
            .await?;
            css_text_until(c, "#plans", |t| t.contains("1000.00 USD")).await?;
            // The borrower reads the answers.
            c.goto(&link2).await.map_err(cmd)?;
            click(c, "#continue").await?;
            css_text_until(c, "#your-proposals", |t| {
                t.contains("we can offer you: 4 × 250.00 USD every month from 2099-02-01")
                    && t.contains("Four months works for us.")
                    && t.contains("Accepted: this is now your payment plan.")
            })
            .await?;
            Ok(())
        })
    });
}

/// Headless Chromium: the agent records a promise on a call and cancels it with a reason;
/// the desk shows it cancelled, without the cancel form.
#[test]
fn browser_a_promise_is_cancelled() {
    let s = setup(Backend::Sqlite, &[]).unwrap();
    in_browser(&s, |c, s| {
        Box::pin(async move {
            sign_in(c, s, "alice").await?;
            c.goto(&format!("{}/accounts/L1", s.base))
                .await
                .map_err(cmd)?;
            click(c, "#direction option[value=inbound]").await?;
            click(c, "#outcome option[value=promise]").await?;
            type_in(c, "#promise-amount", "150.00").await?;
            set_date(c, "promise-due", "2099-01-15").await?;
            click(c, "#log-call").await?;
            css_text_until(c, "#promises", |t| {
                t.contains("150.00 USD") && t.contains("Pending")
            })
            .await?;
            type_in(
                c,
                ".cancel-promise input[name=reason]",
                "The borrower withdrew it.",
            )
            .await?;
            click(c, ".cancel-promise button").await?;
            css_text_until(c, "#promises", |t| {
                t.contains("Cancelled") && t.contains("The borrower withdrew it.")
            })
            .await?;
            if c.find(fantoccini::Locator::Css(".cancel-promise"))
                .await
                .is_ok()
            {
                return Err("a cancelled promise still offers the cancel form".into());
            }
            Ok(())
        })
    });
}
